//! Functions that each move one value across the Python/Rust boundary and do next to nothing
//! else, so that timing a call from Python measures what the crossing costs. `run.py` beside
//! this crate builds it with maturin, times every function here and fits the conversion costs
//! that port-advisor's advice uses (`rules/costs.toml`); its docstring describes the method.
//!
//! Three kinds of function:
//!
//! - `call_none()` and `call_int(x)`: the cost of a call itself.
//! - `take_*(value)`: extracts the argument into its Rust type, then returns its length (or,
//!   for a number, whether it is non-zero), which touches the value without copying it again.
//! - `give_*(n)` and `make_*(n)`: both build the same Rust value of `n` elements. `give_*`
//!   returns it, so it is converted to a Python object; `make_*` drops it and returns `None`.
//!   Timing one against the other leaves the return conversion alone, without the cost of
//!   building the value, which a ported function pays whatever it returns.
//!
//! Nothing here may do work that grows with the value beyond the conversion under test, other
//! than what a `give_*` and its `make_*` both do: it would show up in the per-element cost.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Floats per inner list in `list[list[float]]` values, as `run.py` builds them.
const ROW_LENGTH: usize = 10;

/// Whole numbers from 1,000 on: past CPython's cache of small ints (-5..=256), so that each
/// returned element is a new `int` object, as a computed one is.
fn ints(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| 1_000 + i).collect()
}

fn floats(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * 0.5).collect()
}

/// ASCII text, which Python stores one byte per character.
fn text(n: usize) -> String {
    "x".repeat(n)
}

fn words(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("item{i}")).collect()
}

fn word_counts(n: usize) -> HashMap<String, i64> {
    (0..n)
        .map(|i| (format!("key{i}"), 1_000 + i as i64))
        .collect()
}

fn word_weights(n: usize) -> HashMap<String, f64> {
    (0..n)
        .map(|i| (format!("key{i}"), i as f64 * 0.5))
        .collect()
}

fn int_set(n: usize) -> HashSet<i64> {
    ints(n).into_iter().collect()
}

/// `n` floats in rows of `ROW_LENGTH` (the last row shorter if `n` is not a multiple).
fn rows(n: usize) -> Vec<Vec<f64>> {
    floats(n).chunks(ROW_LENGTH).map(<[f64]>::to_vec).collect()
}

fn byte_string(n: usize) -> Vec<u8> {
    vec![b'x'; n]
}

/// `n` new references to `item`.
fn references(py: Python<'_>, item: &Py<PyAny>, n: usize) -> Vec<Py<PyAny>> {
    (0..n).map(|_| item.clone_ref(py)).collect()
}

// The cost of a call.

#[pyfunction]
fn call_none() {}

#[pyfunction]
fn call_int(x: i64) -> i64 {
    x
}

// The port's side of a float recurrence.

/// `n` iterations of `x = x * c + d`, each waiting for the one before: two dependent float
/// operations an iteration (rules/scoring.toml [operations].float_latency_ns is their time).
#[pyfunction]
fn float_chain(n: u64) -> f64 {
    let c = std::hint::black_box(1.000_000_1f64);
    let d = std::hint::black_box(1e-9f64);
    let mut x = std::hint::black_box(0.5f64);
    for _ in 0..n {
        x = x * c + d;
    }
    x
}

// Arguments: Python -> Rust.

#[pyfunction]
fn take_int(value: i64) -> bool {
    value != 0
}

#[pyfunction]
fn take_float(value: f64) -> bool {
    value != 0.0
}

#[pyfunction]
fn take_str(value: String) -> usize {
    value.len()
}

#[pyfunction]
fn take_str_borrowed(value: &str) -> usize {
    value.len()
}

#[pyfunction]
fn take_bytes(value: Vec<u8>) -> usize {
    value.len()
}

#[pyfunction]
fn take_bytes_borrowed(value: &[u8]) -> usize {
    value.len()
}

#[pyfunction]
fn take_list_float(value: Vec<f64>) -> usize {
    value.len()
}

#[pyfunction]
fn take_list_int(value: Vec<i64>) -> usize {
    value.len()
}

#[pyfunction]
fn take_list_str(value: Vec<String>) -> usize {
    value.len()
}

/// Extracting a `Vec` accepts any sequence, a tuple as well as a list.
#[pyfunction]
fn take_tuple_float(value: Vec<f64>) -> usize {
    value.len()
}

#[pyfunction]
fn take_dict_str_int(value: HashMap<String, i64>) -> usize {
    value.len()
}

#[pyfunction]
fn take_dict_str_float(value: HashMap<String, f64>) -> usize {
    value.len()
}

#[pyfunction]
fn take_set_int(value: HashSet<i64>) -> usize {
    value.len()
}

/// The total number of floats, so that every inner list counts as touched.
#[pyfunction]
fn take_list_list_float(value: Vec<Vec<f64>>) -> usize {
    value.iter().map(Vec::len).sum()
}

/// A view of the array's own memory: nothing is copied.
#[pyfunction]
fn take_array_float64(value: PyReadonlyArray1<'_, f64>) -> usize {
    value.as_array().len()
}

#[pyfunction]
fn take_array_int64(value: PyReadonlyArray1<'_, i64>) -> usize {
    value.as_array().len()
}

/// Any objects at all: each element is only a new reference, whatever its type.
#[pyfunction]
fn take_objects(value: Vec<Py<PyAny>>) -> usize {
    value.len()
}

// Returns: Rust -> Python. Each `give_*` has its `make_*` twin.

#[pyfunction]
fn give_int(value: i64) -> i64 {
    black_box(value)
}

#[pyfunction]
fn make_int(value: i64) {
    black_box(value);
}

#[pyfunction]
fn give_float(value: f64) -> f64 {
    black_box(value)
}

#[pyfunction]
fn make_float(value: f64) {
    black_box(value);
}

#[pyfunction]
fn give_str(n: usize) -> String {
    text(n)
}

#[pyfunction]
fn make_str(n: usize) {
    black_box(&text(n));
}

/// pyo3 turns a returned `Vec<u8>` into `bytes`, in one copy, not into a list of ints.
#[pyfunction]
fn give_bytes(n: usize) -> Vec<u8> {
    byte_string(n)
}

#[pyfunction]
fn make_bytes(n: usize) {
    black_box(&byte_string(n));
}

#[pyfunction]
fn give_list_float(n: usize) -> Vec<f64> {
    floats(n)
}

#[pyfunction]
fn make_list_float(n: usize) {
    black_box(&floats(n));
}

#[pyfunction]
fn give_list_int(n: usize) -> Vec<i64> {
    ints(n)
}

#[pyfunction]
fn make_list_int(n: usize) {
    black_box(&ints(n));
}

#[pyfunction]
fn give_list_str(n: usize) -> Vec<String> {
    words(n)
}

#[pyfunction]
fn make_list_str(n: usize) {
    black_box(&words(n));
}

#[pyfunction]
fn give_tuple_float(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(py, floats(n))
}

#[pyfunction]
fn make_tuple_float(n: usize) {
    black_box(&floats(n));
}

#[pyfunction]
fn give_dict_str_int(n: usize) -> HashMap<String, i64> {
    word_counts(n)
}

#[pyfunction]
fn make_dict_str_int(n: usize) {
    black_box(&word_counts(n));
}

#[pyfunction]
fn give_dict_str_float(n: usize) -> HashMap<String, f64> {
    word_weights(n)
}

#[pyfunction]
fn make_dict_str_float(n: usize) {
    black_box(&word_weights(n));
}

#[pyfunction]
fn give_set_int(n: usize) -> HashSet<i64> {
    int_set(n)
}

#[pyfunction]
fn make_set_int(n: usize) {
    black_box(&int_set(n));
}

#[pyfunction]
fn give_list_list_float(n: usize) -> Vec<Vec<f64>> {
    rows(n)
}

#[pyfunction]
fn make_list_list_float(n: usize) {
    black_box(&rows(n));
}

/// The array takes over the `Vec`'s memory: nothing is copied.
#[pyfunction]
fn give_array_float64(py: Python<'_>, n: usize) -> Bound<'_, PyArray1<f64>> {
    PyArray1::from_vec(py, floats(n))
}

#[pyfunction]
fn make_array_float64(n: usize) {
    black_box(&floats(n));
}

#[pyfunction]
fn give_array_int64(py: Python<'_>, n: usize) -> Bound<'_, PyArray1<i64>> {
    PyArray1::from_vec(py, ints(n))
}

#[pyfunction]
fn make_array_int64(n: usize) {
    black_box(&ints(n));
}

/// A list of `n` references to `item`: the cost of handing back objects Rust holds, not of
/// creating them.
#[pyfunction]
fn give_objects(py: Python<'_>, item: Py<PyAny>, n: usize) -> Vec<Py<PyAny>> {
    references(py, &item, n)
}

#[pyfunction]
fn make_objects(py: Python<'_>, item: Py<PyAny>, n: usize) {
    black_box(&references(py, &item, n));
}

#[pymodule]
fn pa_calibrate(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ROW_LENGTH", ROW_LENGTH)?;
    m.add_function(wrap_pyfunction!(call_none, m)?)?;
    m.add_function(wrap_pyfunction!(call_int, m)?)?;
    m.add_function(wrap_pyfunction!(float_chain, m)?)?;

    m.add_function(wrap_pyfunction!(take_int, m)?)?;
    m.add_function(wrap_pyfunction!(take_float, m)?)?;
    m.add_function(wrap_pyfunction!(take_str, m)?)?;
    m.add_function(wrap_pyfunction!(take_str_borrowed, m)?)?;
    m.add_function(wrap_pyfunction!(take_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(take_bytes_borrowed, m)?)?;
    m.add_function(wrap_pyfunction!(take_list_float, m)?)?;
    m.add_function(wrap_pyfunction!(take_list_int, m)?)?;
    m.add_function(wrap_pyfunction!(take_list_str, m)?)?;
    m.add_function(wrap_pyfunction!(take_tuple_float, m)?)?;
    m.add_function(wrap_pyfunction!(take_dict_str_int, m)?)?;
    m.add_function(wrap_pyfunction!(take_dict_str_float, m)?)?;
    m.add_function(wrap_pyfunction!(take_set_int, m)?)?;
    m.add_function(wrap_pyfunction!(take_list_list_float, m)?)?;
    m.add_function(wrap_pyfunction!(take_array_float64, m)?)?;
    m.add_function(wrap_pyfunction!(take_array_int64, m)?)?;
    m.add_function(wrap_pyfunction!(take_objects, m)?)?;

    m.add_function(wrap_pyfunction!(give_int, m)?)?;
    m.add_function(wrap_pyfunction!(make_int, m)?)?;
    m.add_function(wrap_pyfunction!(give_float, m)?)?;
    m.add_function(wrap_pyfunction!(make_float, m)?)?;
    m.add_function(wrap_pyfunction!(give_str, m)?)?;
    m.add_function(wrap_pyfunction!(make_str, m)?)?;
    m.add_function(wrap_pyfunction!(give_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(make_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(give_list_float, m)?)?;
    m.add_function(wrap_pyfunction!(make_list_float, m)?)?;
    m.add_function(wrap_pyfunction!(give_list_int, m)?)?;
    m.add_function(wrap_pyfunction!(make_list_int, m)?)?;
    m.add_function(wrap_pyfunction!(give_list_str, m)?)?;
    m.add_function(wrap_pyfunction!(make_list_str, m)?)?;
    m.add_function(wrap_pyfunction!(give_tuple_float, m)?)?;
    m.add_function(wrap_pyfunction!(make_tuple_float, m)?)?;
    m.add_function(wrap_pyfunction!(give_dict_str_int, m)?)?;
    m.add_function(wrap_pyfunction!(make_dict_str_int, m)?)?;
    m.add_function(wrap_pyfunction!(give_dict_str_float, m)?)?;
    m.add_function(wrap_pyfunction!(make_dict_str_float, m)?)?;
    m.add_function(wrap_pyfunction!(give_set_int, m)?)?;
    m.add_function(wrap_pyfunction!(make_set_int, m)?)?;
    m.add_function(wrap_pyfunction!(give_list_list_float, m)?)?;
    m.add_function(wrap_pyfunction!(make_list_list_float, m)?)?;
    m.add_function(wrap_pyfunction!(give_array_float64, m)?)?;
    m.add_function(wrap_pyfunction!(make_array_float64, m)?)?;
    m.add_function(wrap_pyfunction!(give_array_int64, m)?)?;
    m.add_function(wrap_pyfunction!(make_array_int64, m)?)?;
    m.add_function(wrap_pyfunction!(give_objects, m)?)?;
    m.add_function(wrap_pyfunction!(make_objects, m)?)?;
    Ok(())
}
