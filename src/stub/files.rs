//! The files of a generated crate: `Cargo.toml`, `pyproject.toml`, `src/lib.rs` (from `syn`
//! items, printed by `prettyplease`), the `.pyi` stub, the parity test with its recorded
//! examples, the benchmark and a README.

use std::path::Path;

use anyhow::{Context, Result};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use super::types::PyType;
use super::{StubFunction, StubParam};
use crate::error::UserError;
use crate::profile::write_atomic;
use crate::python::parser::ParamKind;

/// The pyo3 and rust-numpy versions generated crates use.
const PYO3: &str = "0.30";
const NUMPY: &str = "0.30";

/// The crate's files: (path inside the crate, text).
pub fn render(name: &str, functions: &[StubFunction]) -> Result<Vec<(String, String)>> {
    let numpy = functions.iter().any(uses_numpy);
    Ok(vec![
        ("Cargo.toml".into(), cargo_toml(name, functions, numpy)),
        ("pyproject.toml".into(), pyproject(name, numpy)),
        ("src/lib.rs".into(), lib_rs(name, functions)?),
        (format!("{name}.pyi"), pyi(functions)),
        ("tests/examples.json".into(), examples_json(functions)?),
        ("tests/test_parity.py".into(), parity_test(name, functions)),
        ("bench.py".into(), bench(name, functions)),
        ("README.md".into(), readme(name, functions)),
        (".gitignore".into(), "/target\n__pycache__/\n*.so\n".into()),
    ])
}

pub fn write_crate(dir: &Path, name: &str, functions: &[StubFunction]) -> Result<()> {
    for (file, text) in render(name, functions)? {
        let path = dir.join(&file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                UserError::Output(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        write_atomic(&path, |w| Ok(w.write_all(text.as_bytes())?))?;
    }
    Ok(())
}

fn uses_numpy(f: &StubFunction) -> bool {
    f.returns.needs_numpy() || f.params.iter().any(|p| p.ty.needs_numpy())
}

fn cargo_toml(name: &str, functions: &[StubFunction], numpy: bool) -> String {
    let mut deps = format!("pyo3 = \"{PYO3}\"\n");
    if numpy {
        deps.push_str(&format!("numpy = \"{NUMPY}\"\n"));
    }
    let mut analogues = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for (krate, why) in functions.iter().flat_map(|f| f.crates.iter()) {
        if krate.is_empty() || seen.contains(&krate.as_str()) || krate == "numpy" {
            continue;
        }
        seen.push(krate);
        analogues.push_str(&format!("# {krate} = \"*\"  # {why}\n"));
    }
    if !analogues.is_empty() {
        analogues = format!(
            "\n# Crates that do what the Python original uses; uncomment what the port needs.\n\
             {analogues}"
        );
    }
    format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         edition = \"2021\"\n\
         publish = false\n\
         \n\
         [lib]\n\
         name = \"{name}\"\n\
         crate-type = [\"cdylib\"]\n\
         \n\
         [dependencies]\n\
         {deps}{analogues}\n\
         [profile.release]\n\
         lto = true\n\
         codegen-units = 1\n\
         \n\
         # A crate of its own, even inside another Cargo workspace.\n\
         [workspace]\n"
    )
}

fn pyproject(name: &str, numpy: bool) -> String {
    let deps = if numpy {
        "dependencies = [\"numpy\"]\n"
    } else {
        ""
    };
    format!(
        "[build-system]\n\
         requires = [\"maturin>=1.9.4,<2.0\"]\n\
         build-backend = \"maturin\"\n\
         \n\
         [project]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         # pyo3 {PYO3} supports CPython 3.9 and newer.\n\
         requires-python = \">=3.9\"\n\
         {deps}\
         \n\
         [tool.maturin]\n\
         module-name = \"{name}\"\n"
    )
}

/// The Rust name of a class: its own, unless it would shadow a name the generated code uses
/// (a Python class `Vec` becomes `PyVec`, still `Vec` in Python).
fn class_ident(name: &str) -> Ident {
    const TAKEN: &[&str] = &[
        "Vec", "String", "Option", "Result", "Box", "Some", "None", "Ok", "Err", "HashMap",
        "HashSet", "Py", "Bound", "Python", "PyAny", "PyResult", "PyModule", "PyErr", "Self",
    ];
    if TAKEN.contains(&name) {
        format_ident!("Py{}", name)
    } else {
        ident(name)
    }
}

/// An identifier, raw when it is a Rust keyword (`type` becomes `r#type`).
fn ident(name: &str) -> Ident {
    match syn::parse_str::<Ident>(name) {
        Ok(i) => i,
        Err(_) => Ident::new_raw(name, Span::call_site()),
    }
}

fn ty(text: &str) -> Result<syn::Type> {
    syn::parse_str(text).with_context(|| format!("a Rust type from `{text}`"))
}

/// A Python default value as a Rust expression, when it has one.
fn rust_default(default: &str, ty: &PyType) -> Option<String> {
    let d = default.trim();
    match (d, ty) {
        ("None", _) => Some("None".into()),
        ("True", _) => Some("true".into()),
        ("False", _) => Some("false".into()),
        (_, PyType::Float) if d.parse::<f64>().is_ok() => Some(if d.contains(['.', 'e', 'E']) {
            d.to_owned()
        } else {
            format!("{d}.0")
        }),
        (_, PyType::Int) if d.parse::<i64>().is_ok() => Some(d.to_owned()),
        (_, PyType::Str)
            if d.len() >= 2
                && (d.starts_with('"') && d.ends_with('"')
                    || d.starts_with('\'') && d.ends_with('\''))
                && !d[1..d.len() - 1].contains(['\\', '"']) =>
        {
            Some(format!("String::from(\"{}\")", &d[1..d.len() - 1]))
        }
        _ => None,
    }
}

/// A parameter's Rust type and its `signature` entry.
fn param_parts(p: &StubParam) -> (String, String) {
    let name = ident(&p.name).to_string();
    let p = &StubParam { name, ..p.clone() };
    match p.kind {
        ParamKind::VarArgs => (
            "&Bound<'py, pyo3::types::PyTuple>".into(),
            format!("*{}", p.name),
        ),
        ParamKind::VarKeywords => (
            "Option<&Bound<'py, pyo3::types::PyDict>>".into(),
            format!("**{}", p.name),
        ),
        _ => {
            let base = p.ty.rust_arg();
            match p.default.as_deref() {
                None => (base, p.name.clone()),
                Some(d) => match rust_default(d, &p.ty) {
                    Some(expr) if expr == "None" && !matches!(p.ty, PyType::Optional(_)) => {
                        (format!("Option<{base}>"), format!("{} = None", p.name))
                    }
                    Some(expr) => (base, format!("{} = {expr}", p.name)),
                    // A default Rust cannot spell: None stands for it; the body applies it.
                    None => (format!("Option<{base}>"), format!("{} = None", p.name)),
                },
            }
        }
    }
}

/// `src/lib.rs`: a `#[pymodule]` with one `#[pyfunction]` (or `#[pymethods]` entry) per
/// function, each raising NotImplementedError until its body is written.
fn lib_rs(name: &str, functions: &[StubFunction]) -> Result<String> {
    let mut items: Vec<TokenStream> = Vec::new();
    let mut registrations: Vec<TokenStream> = Vec::new();
    let mut classes: Vec<(String, Vec<TokenStream>)> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let mut needs = (false, false, false); // HashMap, HashSet, numpy
    for (i, f) in functions.iter().enumerate() {
        let method = f.source.class_name.clone();
        let params: Vec<&StubParam> = f
            .params
            .iter()
            .filter(|p| !(method.is_some() && (p.name == "self" || p.name == "cls")))
            .collect();
        let mut args = Vec::new();
        let mut signature = Vec::new();
        let mut names = Vec::new();
        let mut lifetime = f.returns.needs_py_lifetime();
        for p in &params {
            let (rust, sig) = param_parts(p);
            lifetime |= rust.contains("'py");
            needs.0 |= rust.contains("HashMap");
            needs.1 |= rust.contains("HashSet");
            needs.2 |= rust.contains("PyReadonlyArray") || rust.contains("PyArray");
            let id = ident(&p.name);
            let t = ty(&rust)?;
            args.push(quote!(#id: #t));
            signature.push(sig);
            names.push(id);
        }
        let ret_text = match f.returns {
            PyType::None => "()".to_string(),
            ref r => r.rust_return(),
        };
        needs.0 |= ret_text.contains("HashMap");
        needs.1 |= ret_text.contains("HashSet");
        needs.2 |= ret_text.contains("PyArray");
        let ret = ty(&ret_text)?;
        let fname = ident(&f.source.name);
        let marker = format_ident!("__python_source_{}", i);
        sources.push(python_comment(f));
        let message = format!(
            "{}.{} is not ported yet: write its body in src/lib.rs (the Python original is \
             beside it)",
            f.module, f.source.qualname
        );
        let sig: TokenStream = format!("({})", signature.join(", "))
            .parse()
            .map_err(|e| anyhow::anyhow!("signature of {}: {e}", f.source.name))?;
        let docs = doc_lines(f);
        let (generics, py_arg) = if lifetime {
            (quote!(<'py>), quote!(_py: Python<'py>,))
        } else {
            (quote!(), quote!())
        };
        let self_arg = if method.is_some() {
            quote!(&self,)
        } else {
            quote!()
        };
        let body = quote! {
            {
                #marker!();
                let _ = (#(&#names,)*);
                Err(PyNotImplementedError::new_err(#message))
            }
        };
        let attrs = if method.is_some() {
            quote!(#(#[doc = #docs])* #[pyo3(signature = #sig)])
        } else {
            quote!(#(#[doc = #docs])* #[pyfunction] #[pyo3(signature = #sig)])
        };
        let function = quote! {
            #attrs
            pub fn #fname #generics (#self_arg #py_arg #(#args),*) -> PyResult<#ret> #body
        };
        match method {
            Some(class) => match classes.iter_mut().find(|(c, _)| *c == class) {
                Some((_, methods)) => methods.push(function),
                None => classes.push((class, vec![function])),
            },
            None => {
                registrations.push(quote!(m.add_function(wrap_pyfunction!(#fname, m)?)?;));
                items.push(function);
            }
        }
    }
    for (class, methods) in &classes {
        let cid = class_ident(class);
        let doc = format!(
            " `{class}` of the Python original. Add the fields its ported methods use; \
             `__new__` below builds an empty one."
        );
        items.push(quote! {
            #[doc = #doc]
            #[pyclass(name = #class)]
            pub struct #cid {}

            #[pymethods]
            impl #cid {
                #[new]
                fn new() -> Self {
                    #cid {}
                }

                #(#methods)*
            }
        });
        registrations.push(quote!(m.add_class::<#cid>()?;));
    }
    let module = ident(name);
    let mut uses = vec![
        quote!(
            use pyo3::exceptions::PyNotImplementedError;
        ),
        quote!(
            use pyo3::prelude::*;
        ),
    ];
    match needs {
        (true, true, _) => uses.push(quote!(
            use std::collections::{HashMap, HashSet};
        )),
        (true, false, _) => uses.push(quote!(
            use std::collections::HashMap;
        )),
        (false, true, _) => uses.push(quote!(
            use std::collections::HashSet;
        )),
        _ => {}
    }
    if needs.2 {
        uses.push(quote!(
            use numpy::{PyArray1, PyReadonlyArray1};
        ));
    }
    let file = quote! {
        #(#uses)*

        #(#items)*

        #[pymodule]
        fn #module(m: &Bound<'_, PyModule>) -> PyResult<()> {
            #(#registrations)*
            Ok(())
        }
    };
    let parsed: syn::File = syn::parse2(file).context("the generated module")?;
    let mut text = prettyplease::unparse(&parsed);
    for (i, source) in sources.iter().enumerate() {
        let marker = format!("__python_source_{i}!();");
        let Some(at) = text.find(&marker) else {
            continue;
        };
        let line_start = text[..at].rfind('\n').map(|n| n + 1).unwrap_or(0);
        let indent = text[line_start..at].to_owned();
        let comment: String = source
            .lines()
            .map(|l| format!("{indent}//{}{l}\n", if l.is_empty() { "" } else { " " }))
            .collect();
        let line_end = at + marker.len() + 1;
        text.replace_range(line_start..line_end.min(text.len()), &comment);
    }
    let header = format!(
        "//! `{name}`: a Rust port of the functions port-advisor found worth porting.\n\
         //!\n\
         //! Each function raises NotImplementedError until its body is written; the Python\n\
         //! original is beside it. `maturin develop --release`, then `pytest tests` compares\n\
         //! the port with the original on recorded real calls, and `python bench.py` times both.\n\n"
    );
    Ok(header + &text)
}

/// The docstring, the types' origins and the traps, as doc lines.
fn doc_lines(f: &StubFunction) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    if let Some(doc) = &f.source.docstring {
        lines.extend(doc.lines().map(|l| format!(" {l}")));
        lines.push(String::new());
    }
    let origins: Vec<String> = f
        .params
        .iter()
        .filter(|p| p.name != "self" && p.name != "cls")
        .map(|p| format!("`{}`: {} ({})", p.name, p.ty.pyi(), p.source))
        .collect();
    if !origins.is_empty() {
        lines.push(format!(" Types: {}.", origins.join(", ")));
    }
    let mut traps: Vec<&str> = f
        .params
        .iter()
        .flat_map(|p| p.ty.traps())
        .chain(f.returns.traps())
        .collect();
    traps.sort_unstable();
    traps.dedup();
    for t in traps {
        lines.push(format!(" Mind: {t}."));
    }
    lines
}

/// The Python original, and the program functions it calls, for the comment beside the body.
fn python_comment(f: &StubFunction) -> String {
    let mut out = format!(
        "Python original ({}:{}):\n",
        f.file.display(),
        f.source.decorator_line
    );
    push_dedented(&mut out, &f.source.source);
    if !f.callees.is_empty() {
        out.push_str("\nIt calls these functions of the program, to port along:\n");
        for callee in &f.callees {
            out.push('\n');
            push_dedented(&mut out, &callee.source);
        }
    }
    out.trim_end().to_owned()
}

/// Appends `source` indented by four spaces, its own common indentation removed (a method's
/// class indentation).
fn push_dedented(out: &mut String, source: &str) {
    let indent = source
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    for line in source.lines() {
        let line = line.get(indent..).unwrap_or(line.trim_start());
        out.push_str(&format!("    {line}\n"));
    }
}

/// The `.pyi` stub: what editors show for the module.
fn pyi(functions: &[StubFunction]) -> String {
    let mut out =
        String::from("# Types of the Rust port, as port-advisor generated them.\nimport typing\n");
    if functions.iter().any(uses_numpy) {
        out.push_str("import numpy\nimport numpy.typing\n");
    }
    let mut classes: Vec<(&str, Vec<String>)> = Vec::new();
    for f in functions {
        let params: Vec<String> = f
            .params
            .iter()
            .map(|p| {
                let star = match p.kind {
                    ParamKind::VarArgs => "*",
                    ParamKind::VarKeywords => "**",
                    _ => "",
                };
                if p.name == "self" || p.name == "cls" {
                    return p.name.clone();
                }
                let default = if p.default.is_some() { " = ..." } else { "" };
                format!("{star}{}: {}{default}", p.name, p.ty.pyi())
            })
            .collect();
        let def = format!(
            "def {}({}) -> {}: ...\n",
            f.source.name,
            params.join(", "),
            f.returns.pyi()
        );
        match &f.source.class_name {
            Some(class) => match classes.iter_mut().find(|(c, _)| c == class) {
                Some((_, defs)) => defs.push(def),
                None => classes.push((class, vec![def])),
            },
            None => {
                out.push('\n');
                out.push_str(&def);
            }
        }
    }
    for (class, defs) in classes {
        out.push_str(&format!(
            "\nclass {class}:\n    def __init__(self) -> None: ...\n"
        ));
        for d in defs {
            out.push_str(&format!("    {d}"));
        }
    }
    out
}

/// The recorded calls, as base64 pickles, for the parity test and the benchmark.
fn examples_json(functions: &[StubFunction]) -> Result<String> {
    let mut map = serde_json::Map::new();
    for f in functions {
        let calls: Vec<serde_json::Value> = f
            .examples
            .iter()
            .filter(|e| e.args.is_some())
            .map(|e| serde_json::json!({"args": e.args, "result": e.result}))
            .collect();
        map.insert(f.source.qualname.clone(), serde_json::Value::Array(calls));
    }
    Ok(serde_json::to_string_pretty(&serde_json::Value::Object(map))? + "\n")
}

/// Where the original lives, for the Python files: (qualname, module name, file).
fn originals(functions: &[StubFunction]) -> String {
    let rows: Vec<String> = functions
        .iter()
        .map(|f| {
            format!(
                "    ({:?}, {:?}, {:?}, {:?}),",
                f.source.qualname,
                f.module,
                f.file.display().to_string(),
                f.estimate
                    .map(|e| format!("{:.1}x-{:.1}x", e[0], e[1]))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!("FUNCTIONS = [\n{}\n]\n", rows.join("\n"))
}

const PY_COMMON: &str = r#"import base64
import importlib.util
import io
import json
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_original(module, path):
    """The Python original, imported from its file (its `if __name__ == "__main__"` part
    does not run)."""
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("original_" + module.replace(".", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def lookup(obj, qualname):
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class PlainData(pickle.Unpickler):
    """Recorded calls hold plain data only (builtins, containers, numpy arrays): a pickle that
    names anything else is refused instead of run."""

    ALLOWED = {
        ("builtins", "complex"), ("builtins", "bytearray"), ("builtins", "set"),
        ("builtins", "frozenset"), ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return pickle.Unpickler.find_class(self, module, name)
        raise pickle.UnpicklingError(
            "examples.json names %s.%s, which is not plain data: refused" % (module, name))


def plain_loads(text):
    return PlainData(io.BytesIO(base64.b64decode(text))).load()


def recorded_calls(qualname):
    """[(kwargs, result or None)] recorded while the program ran."""
    with open(os.path.join(EXAMPLES_DIR, "examples.json")) as f:
        data = json.load(f).get(qualname, [])
    calls = []
    for call in data:
        kwargs = plain_loads(call["args"])
        result = plain_loads(call["result"]) if call.get("result") else None
        calls.append((kwargs, result))
    return calls
"#;

fn parity_test(name: &str, functions: &[StubFunction]) -> String {
    format!(
        r#""""Parity of the Rust port with the Python original, on calls recorded from a real run.

Run with `pytest tests` after `maturin develop --release`. A function whose Rust body is not
written yet is reported as skipped: "not ported yet".
"""
import math

import pytest

import {name}

{common}
EXAMPLES_DIR = HERE

{originals}

def same(a, b):
    """Equal, floats within a relative 1e-9, containers deeply."""
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if hasattr(a, "tolist") and hasattr(b, "tolist"):
        return same(a.tolist(), b.tolist())
    return a == b


CASES = [
    (qualname, module, path, i)
    for qualname, module, path, _ in FUNCTIONS
    for i in range(max(1, len(recorded_calls(qualname))))
]


@pytest.mark.parametrize("qualname,module,path,index", CASES)
def test_parity(qualname, module, path, index):
    calls = recorded_calls(qualname)
    if not calls:
        pytest.skip("%s: no recorded call (run port-advisor profile without --no-examples)"
                    % qualname)
    if "." in qualname:
        pytest.skip("%s is a method: build the pyclass from the recorded object by hand"
                    % qualname)
    kwargs, _ = calls[index]
    original = lookup(load_original(module, path), qualname)
    port = lookup({name}, qualname)
    expected = original(**kwargs)
    try:
        actual = port(**kwargs)
    except NotImplementedError:
        pytest.skip("%s: not ported yet" % qualname)
    assert same(actual, expected), "%s: Rust %r != Python %r" % (qualname, actual, expected)
"#,
        common = PY_COMMON,
        originals = originals(functions),
    )
}

fn bench(name: &str, functions: &[StubFunction]) -> String {
    format!(
        r#""""Times the Rust port against the Python original on the recorded calls, and prints the
measured speedup of each function next to port-advisor's estimate for the whole program.

Run with `python bench.py` after `maturin develop --release`.
"""
import time

import {name}

{common}
EXAMPLES_DIR = os.path.join(HERE, "tests")

{originals}

def per_call(fn, calls, budget=0.5):
    """Seconds per pass over the recorded calls, best of several passes within the budget."""
    best = None
    spent = 0.0
    while spent < budget or best is None:
        start = time.perf_counter()
        for kwargs in calls:
            fn(**kwargs)
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    print("%-32s %12s %12s %9s  %s" % ("function", "python", "rust", "speedup",
                                         "port-advisor's estimate (whole program)"))
    for qualname, module, path, estimate in FUNCTIONS:
        calls = [kwargs for kwargs, _ in recorded_calls(qualname)]
        if not calls or "." in qualname:
            print("%-32s no recorded call to time" % qualname)
            continue
        original = lookup(load_original(module, path), qualname)
        port = lookup({name}, qualname)
        try:
            port(**calls[0])
        except NotImplementedError:
            print("%-32s not ported yet" % qualname)
            continue
        python = per_call(original, calls)
        rust = per_call(port, calls)
        print("%-32s %10.1f us %10.1f us %8.1fx  %s" % (
            qualname, python * 1e6 / len(calls), rust * 1e6 / len(calls), python / rust,
            estimate or "-"))


if __name__ == "__main__":
    main()
"#,
        common = PY_COMMON,
        originals = originals(functions),
    )
}

fn readme(name: &str, functions: &[StubFunction]) -> String {
    let list: String = functions
        .iter()
        .map(|f| {
            format!(
                "- `{}.{}` ({}:{}){}\n",
                f.module,
                f.source.qualname,
                f.file.display(),
                f.source.decorator_line,
                f.estimate
                    .map(|e| format!(
                        ": estimated {:.1}x-{:.1}x for the whole program",
                        e[0], e[1]
                    ))
                    .unwrap_or_default()
            )
        })
        .collect();
    let first = functions.first().expect("at least one function");
    format!(
        "# {name}\n\n\
         A Rust port, with PyO3, of:\n\n{list}\n\
         Each function raises `NotImplementedError` until its body is written in `src/lib.rs`,\n\
         where the Python original sits beside it as a comment.\n\n\
         ## Build, test, benchmark\n\n\
         ```console\n\
         python -m venv .venv && . .venv/bin/activate\n\
         pip install maturin pytest\n\
         maturin develop --release\n\
         pytest tests        # parity with the original on recorded real calls\n\
         python bench.py     # measured speedup next to port-advisor's estimate\n\
         ```\n\n\
         `tests/examples.json` holds calls recorded while the program ran (pickled arguments\n\
         and results). Add your own cases to `tests/test_parity.py` as the port grows.\n\n\
         ## Switch the call site\n\n\
         ```python\n\
         try:\n    from {name} import {f}\n\
         except ImportError:  # the Rust port is not built here\n    from {module} import {f}\n\
         ```\n",
        f = first.source.name,
        module = first.module,
    )
}
