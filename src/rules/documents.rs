//! The two single-document rule files: `scoring.toml` (how measurements become verdicts and
//! estimates) and `costs.toml` (what crossing the Python/Rust boundary costs, as measured by
//! `benches/calibrate`).
//!
//! A user's file of the same name is merged over the built-in one key by key, so it only needs
//! the keys it changes; a key the built-in file does not have is an error naming the file, the
//! key and its line.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use super::{line_of, RuleError};

pub(super) const SCORING: &str = include_str!("../../rules/scoring.toml");
pub(super) const COSTS: &str = include_str!("../../rules/costs.toml");

/// A range `[low, high]` of a factor.
pub type Span = [f64; 2];

/// How measurements become verdicts, estimates and a ranking (`rules/scoring.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    pub factors: Factors,
    pub operations: Operations,
    #[serde(default)]
    pub opcodes: Opcodes,
    pub thresholds: Thresholds,
    pub readiness: ReadinessWeights,
}

/// How many times faster a Rust port runs the interpreted part of some kind of code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Factors {
    pub numeric: Span,
    pub text: Span,
    pub containers: Span,
    pub objects: Span,
    #[serde(default = "default_engine")]
    pub engine: Span,
    pub mixed: Span,
}

/// What each class of operations costs CPython, and how many times faster a faithful Rust
/// port runs it (`[operations]`; the classes are [`crate::python::ops::Op`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operations {
    pub arithmetic: OpPrice,
    pub compare: OpPrice,
    pub index: OpPrice,
    pub attribute: OpPrice,
    pub call: OpPrice,
    pub inlined_call: OpPrice,
    pub builtin_call: OpPrice,
    pub build: OpPrice,
    /// Defaults to the built-in price, for a scoring.toml written before slices were a class.
    #[serde(default = "default_slice")]
    pub slice: OpPrice,
    pub lookup: OpPrice,
    pub text: OpPrice,
    pub iterate: OpPrice,
    pub store: OpPrice,
    /// What one float operation waiting on the one before costs the port, in ns (the latency
    /// of a dependent add or multiply): a loop whose iterations carry a chain of them runs no
    /// faster than the chain (`python::chains`). Measured by `benches/calibrate/run.py`.
    #[serde(default = "default_float_latency")]
    pub float_latency_ns: f64,
}

fn default_float_latency() -> f64 {
    0.72
}

impl Operations {
    pub fn price(&self, op: crate::python::ops::Op) -> &OpPrice {
        use crate::python::ops::Op;
        match op {
            Op::Arithmetic => &self.arithmetic,
            Op::Compare => &self.compare,
            Op::Index => &self.index,
            Op::Attribute => &self.attribute,
            Op::Call => &self.call,
            Op::InlinedCall => &self.inlined_call,
            Op::BuiltinCall => &self.builtin_call,
            Op::Build => &self.build,
            Op::Slice => &self.slice,
            Op::Lookup => &self.lookup,
            Op::Text => &self.text,
            Op::Iterate => &self.iterate,
            Op::Store => &self.store,
        }
    }
}

/// One class of operations on both sides of a port.
/// The bytecodes of each class of operations, by their `dis` names (`[opcodes]`): how counted
/// bytecodes become an executed mix. Bytecode does not tell the kinds of call apart, so there
/// are no `inlined_call` and `builtin_call` lists: every call is a `call`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opcodes {
    #[serde(default)]
    pub arithmetic: Vec<String>,
    #[serde(default)]
    pub compare: Vec<String>,
    #[serde(default)]
    pub index: Vec<String>,
    #[serde(default)]
    pub attribute: Vec<String>,
    #[serde(default)]
    pub call: Vec<String>,
    #[serde(default)]
    pub build: Vec<String>,
    #[serde(default)]
    pub slice: Vec<String>,
    #[serde(default)]
    pub lookup: Vec<String>,
    #[serde(default)]
    pub text: Vec<String>,
    #[serde(default)]
    pub iterate: Vec<String>,
    #[serde(default)]
    pub store: Vec<String>,
}

impl Opcodes {
    /// The class of the bytecode named `opname`, if it has one.
    pub fn class_of(&self, opname: &str) -> Option<crate::python::ops::Op> {
        use crate::python::ops::Op;
        [
            (Op::Arithmetic, &self.arithmetic),
            (Op::Compare, &self.compare),
            (Op::Index, &self.index),
            (Op::Attribute, &self.attribute),
            (Op::Call, &self.call),
            (Op::Build, &self.build),
            (Op::Slice, &self.slice),
            (Op::Lookup, &self.lookup),
            (Op::Text, &self.text),
            (Op::Iterate, &self.iterate),
            (Op::Store, &self.store),
        ]
        .into_iter()
        .find(|(_, names)| names.iter().any(|n| n == opname))
        .map(|(op, _)| op)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpPrice {
    /// Nanoseconds one operation takes CPython (`benches/calibrate/operations.py`): only the
    /// ratios between classes matter, to split a line's time among its operations.
    pub cpython_ns: f64,
    /// How many times faster a port runs it, low and high.
    pub gain: Span,
    /// The gain when the program's classes move into the port whole (object engines): their
    /// objects become Rust structs, attribute access a field read, method calls direct calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_moved: Option<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub min_share: f64,
    pub seed_share: f64,
    pub already_native: f64,
    pub min_gain: f64,
    pub boundary_tolerance: f64,
    pub max_boundary_functions: usize,
    pub max_ancestors: usize,
    pub conversion_uncertainty: f64,
    pub analogue_share: f64,
    #[serde(default = "default_waiting_share")]
    pub waiting_share: f64,
    #[serde(default = "default_package_share")]
    pub package_share: f64,
    #[serde(default = "default_native_math_in_port")]
    pub native_math_in_port: f64,
}

fn default_package_share() -> f64 {
    0.2
}

fn default_native_math_in_port() -> f64 {
    0.3
}

fn default_slice() -> OpPrice {
    OpPrice {
        cpython_ns: 60.0,
        gain: [3.9, 22.9],
        gain_moved: Some([4.0, 16.2]),
    }
}

fn default_engine() -> Span {
    [4.0, 30.0]
}

fn default_waiting_share() -> f64 {
    0.5
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessWeights {
    pub untested: f64,
    pub unstable_commits: u32,
    pub unstable: f64,
    pub eval_exec: f64,
    pub callback: f64,
    pub generator: f64,
    pub coroutine: f64,
    pub dynamic_attributes: f64,
    pub global_state: f64,
}

/// Measured boundary costs (`rules/costs.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    pub measured: Measured,
    pub call: CallCost,
    pub conversion: Vec<Conversion>,
    /// Per item inside a container, by kind, for containers priced by their contents.
    pub contents: ContentCosts,
}

/// What converting one item inside a container costs, by direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentCosts {
    pub argument: ItemCosts,
    #[serde(rename = "return")]
    pub returned: ItemCosts,
}

/// Nanoseconds per item of each kind the probe counts inside a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemCosts {
    pub int: f64,
    pub float: f64,
    pub str: f64,
    /// A nested list, tuple, dict or set, beyond its own items.
    pub container: f64,
    /// An entry of a dict (hashed into a `HashMap`), beyond its key and value.
    pub entry: f64,
    /// An element of a set (hashed into a `HashSet`), beyond the element itself.
    pub member: f64,
    /// An object of any other type, kept as a Python reference.
    pub object: f64,
}

impl ItemCosts {
    /// The cost of one item of the probe's `kind`; an unknown kind costs what an object does.
    pub fn of(&self, kind: &str) -> f64 {
        match kind {
            "int" => self.int,
            "float" => self.float,
            "str" => self.str,
            "container" => self.container,
            "entry" => self.entry,
            "member" => self.member,
            _ => self.object,
        }
    }
}

impl ContentCosts {
    pub fn way(&self, direction: Direction) -> &ItemCosts {
        match direction {
            Direction::Argument => &self.argument,
            Direction::Return => &self.returned,
        }
    }
}

/// Where and when the costs were measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    pub machine: String,
    pub date: String,
    pub python: String,
    pub pyo3: String,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallCost {
    /// Calling a `#[pyfunction]` with one int argument that returns an int, from Python.
    pub overhead_ns: f64,
}

/// Which way a value crosses the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Argument,
    Return,
}

/// The cost of converting one type of value across the boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// The probe's type name (`list[float]`, `dict[str, int]`), or `*` for any other type.
    #[serde(rename = "type")]
    pub type_name: String,
    pub direction: Direction,
    /// The Rust type it converts to or from.
    pub rust: String,
    /// Cost per converted value, beyond the call's own overhead.
    pub per_call_ns: f64,
    /// Cost per element: list, dict and set length, str characters, bytes, array size.
    pub per_element_ns: f64,
}

impl Costs {
    /// The conversion of a type in one direction: its own entry, else the entry of its outer
    /// type (`list[*]` for `list[Point]`), else the fallback `*`.
    pub fn conversion(&self, type_name: &str, direction: Direction) -> Option<&Conversion> {
        let find = |name: &str| {
            self.conversion
                .iter()
                .rev()
                .find(|c| c.direction == direction && c.type_name == name)
        };
        find(type_name)
            .or_else(|| {
                let outer = type_name.split('[').next().unwrap_or(type_name);
                find(&format!("{outer}[*]"))
            })
            .or_else(|| find("*"))
    }
}

impl Default for Scoring {
    fn default() -> Self {
        // The built-in file is checked by this module's tests: failing here is a bug.
        load("rules/scoring.toml", SCORING, None)
            .unwrap_or_else(|e| panic!("built-in scoring does not load: {e}"))
    }
}

impl Default for Costs {
    fn default() -> Self {
        load("rules/costs.toml", COSTS, None)
            .unwrap_or_else(|e| panic!("built-in costs do not load: {e}"))
    }
}

/// Parses a built-in document, with a user's file `(name, text)` merged over it.
pub(super) fn load<T: DeserializeOwned>(
    builtin_name: &str,
    builtin: &str,
    user: Option<(&str, &str)>,
) -> Result<T, RuleError> {
    let mut merged = parse_table(builtin_name, builtin)?;
    let mut source = (builtin_name, builtin);
    if let Some((file, text)) = user {
        let theirs = parse_table(file, text)?;
        check_keys(&merged, &theirs, "", file, text)?;
        merge(&mut merged, theirs);
        source = (file, text);
    }
    T::deserialize(Value::Table(merged)).map_err(|e| RuleError::Parse {
        file: source.0.to_owned(),
        message: e.message().trim_end().to_owned(),
        line: None,
    })
}

fn parse_table(file: &str, text: &str) -> Result<Table, RuleError> {
    text.parse::<Table>().map_err(|e| RuleError::Parse {
        file: file.to_owned(),
        message: e.message().trim_end().to_owned(),
        line: e.span().map(|span| line_of(text, span.start)),
    })
}

/// Every key of `theirs` must exist in `ours` (for arrays of tables: in some entry of ours).
fn check_keys(
    ours: &Table,
    theirs: &Table,
    path: &str,
    file: &str,
    text: &str,
) -> Result<(), RuleError> {
    for (key, value) in theirs {
        let full = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let Some(known) = ours.get(key) else {
            return Err(RuleError::Parse {
                file: file.to_owned(),
                message: format!("unknown key `{full}`"),
                line: key_line(text, key),
            });
        };
        match (known, value) {
            (Value::Table(k), Value::Table(v)) => check_keys(k, v, &full, file, text)?,
            (Value::Array(k), Value::Array(v)) => {
                let mut keys = Table::new();
                for entry in k.iter().filter_map(Value::as_table) {
                    for (name, value) in entry {
                        keys.insert(name.clone(), value.clone());
                    }
                }
                for entry in v.iter().filter_map(Value::as_table) {
                    check_keys(&keys, entry, &full, file, text)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Tables merge key by key; anything else in `theirs` replaces ours.
fn merge(ours: &mut Table, theirs: Table) {
    for (key, value) in theirs {
        match (ours.get_mut(&key), value) {
            (Some(Value::Table(mine)), Value::Table(t)) => merge(mine, t),
            (_, value) => {
                ours.insert(key, value);
            }
        }
    }
}

/// The 1-based line where `key` is first assigned or opens a table.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let assigned = l
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            let header = l.trim_start_matches('[').trim_end().trim_end_matches(']');
            assigned || header == key || header.ends_with(&format!(".{key}"))
        })
        .map(|n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_documents_load() {
        let scoring = Scoring::default();
        assert!(scoring.factors.numeric[0] < scoring.factors.numeric[1]);
        let costs = Costs::default();
        assert!(costs.call.overhead_ns > 0.0);
        assert!(costs
            .conversion("list[float]", Direction::Argument)
            .is_some());
    }

    #[test]
    fn a_user_file_changes_only_its_keys() {
        let scoring: Scoring = load(
            "rules/scoring.toml",
            SCORING,
            Some(("mine/scoring.toml", "[thresholds]\nmin_share = 0.5\n")),
        )
        .unwrap();
        assert_eq!(scoring.thresholds.min_share, 0.5);
        assert_eq!(scoring.factors, Scoring::default().factors);
    }

    #[test]
    fn an_unknown_key_names_the_file_key_and_line() {
        let err = load::<Scoring>(
            "rules/scoring.toml",
            SCORING,
            Some((
                "mine/scoring.toml",
                "# mine\n[thresholds]\nmin_shares = 0.5\n",
            )),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mine/scoring.toml"), "{err}");
        assert!(err.contains("thresholds.min_shares"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn a_mistyped_value_names_the_file() {
        let err = load::<Scoring>(
            "rules/scoring.toml",
            SCORING,
            Some(("mine/scoring.toml", "[thresholds]\nmin_share = \"big\"\n")),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mine/scoring.toml"), "{err}");
    }

    #[test]
    fn conversions_fall_back_to_the_outer_type_then_any() {
        let costs = Costs::default();
        let exact = costs
            .conversion("list[float]", Direction::Argument)
            .unwrap();
        assert_eq!(exact.type_name, "list[float]");
        let any = costs
            .conversion("mymodule.Point", Direction::Argument)
            .unwrap();
        assert_eq!(any.type_name, "*");
    }

    /// A scoring.toml without `slice` takes the built-in price: the two must not drift apart.
    #[test]
    fn the_default_slice_price_is_the_built_in_one() {
        let rules = crate::rules::Rules::builtin();
        assert_eq!(rules.scoring.operations.slice, super::default_slice());
    }
}
