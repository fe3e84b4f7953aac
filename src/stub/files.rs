//! The files of a generated crate: `Cargo.toml`, `pyproject.toml`, `src/lib.rs` (from `syn`
//! items, printed by `prettyplease`), the `.pyi` stub, the parity test with its recorded
//! examples, the benchmark and a README.

use std::path::{Path, PathBuf};

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

/// The crate's files: (path inside the crate, text), for a crate written to `dir` (the
/// tests import the originals from folders named relative to it).
pub fn render(name: &str, dir: &Path, functions: &[StubFunction]) -> Result<Vec<(String, String)>> {
    let numpy = functions.iter().any(uses_numpy);
    let roots = source_roots(dir, functions);
    Ok(vec![
        ("Cargo.toml".into(), cargo_toml(name, functions, numpy)),
        ("pyproject.toml".into(), pyproject(name, numpy)),
        ("src/lib.rs".into(), lib_rs(name, functions)?),
        (format!("{name}.pyi"), pyi(functions)),
        ("tests/examples.json".into(), examples_json(functions)?),
        (
            "tests/test_parity.py".into(),
            parity_test(name, functions, &roots),
        ),
        ("bench.py".into(), bench(name, functions, &roots)),
        ("README.md".into(), readme(name, functions, &roots)),
        (".gitignore".into(), GITIGNORE.into()),
    ])
}

/// What a crate's git repository leaves out: builds, virtualenvs, caches.
const GITIGNORE: &str = "/target\n.venv/\n__pycache__/\n.pytest_cache/\n*.so\n*.pyd\n";

pub fn write_crate(dir: &Path, name: &str, functions: &[StubFunction]) -> Result<()> {
    for (file, text) in render(name, dir, functions)? {
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

/// The folders the originals are imported from, each relative to the crate folder `dir`
/// (`..` when the crate sits in the program's folder), without repeats.
fn source_roots(dir: &Path, functions: &[StubFunction]) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for f in functions {
        let root = relative(&f.source_root, dir).display().to_string();
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots
}

/// `target` as a path from `base`. Both relative: compared as written, so that the same
/// arguments give the same text on every machine; else both made absolute first.
fn relative(target: &Path, base: &Path) -> PathBuf {
    use std::path::Component;
    fn parts(p: &Path) -> Vec<Component<'_>> {
        let mut out: Vec<Component<'_>> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out
    }
    let (target, base) = if target.is_absolute() == base.is_absolute() {
        (target.to_path_buf(), base.to_path_buf())
    } else {
        (
            std::path::absolute(target).unwrap_or_else(|_| target.to_path_buf()),
            std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()),
        )
    };
    let (t, b) = (parts(&target), parts(&base));
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Where a function's file is, from the folder it is imported from: what the comments and
/// the README name, the same on every machine.
fn shown_file(f: &StubFunction) -> String {
    f.file
        .strip_prefix(&f.source_root)
        .unwrap_or(&f.file)
        .display()
        .to_string()
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
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         [lib]\n\
         name = \"{name}\"\n\
         crate-type = [\"cdylib\"]\n\
         \n\
         [dependencies]\n\
         {deps}\
         # One wheel for every CPython from 3.10 on (the stable ABI) instead of one per version:\n\
         # use this line for pyo3's above, and requires-python = \">=3.10\" in pyproject.toml.\n\
         # pyo3 = {{ version = \"{PYO3}\", features = [\"abi3-py310\"] }}\n\
         {analogues}\n\
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
         # pyo3 {PYO3} supports CPython 3.9 and newer.\n\
         requires-python = \">=3.9\"\n\
         classifiers = [\n    \"Programming Language :: Rust\",\n    \
         \"Programming Language :: Python :: Implementation :: CPython\",\n]\n\
         {deps}\
         # The version is Cargo.toml's.\n\
         dynamic = [\"version\"]\n\
         \n\
         [project.optional-dependencies]\n\
         # The parity test: `maturin develop --release --extras tests`, then `pytest tests`.\n\
         tests = [\"pytest\"]\n\
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
    // Reserved from edition 2024 on, which syn does not know of.
    if name == "gen" {
        return Ident::new_raw(name, Span::call_site());
    }
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
            Some(format!("\"{}\"", &d[1..d.len() - 1]))
        }
        _ => None,
    }
}

/// The `/` or `*` marker that goes before each parameter, as Python writes them: `/` after the
/// last positional-only parameter (before the next one), `*` before the first keyword-only
/// one when no `*args` stands there.
fn markers(params: &[&StubParam]) -> Vec<Option<&'static str>> {
    let mut out = Vec::with_capacity(params.len());
    let mut seen_star = false;
    for (i, p) in params.iter().enumerate() {
        let after_positional_only = i > 0
            && params[i - 1].kind == ParamKind::PositionalOnly
            && p.kind != ParamKind::PositionalOnly;
        let marker = if after_positional_only {
            Some("/")
        } else if p.kind == ParamKind::KeywordOnly && !seen_star {
            Some("*")
        } else {
            None
        };
        // `/` then `*` can both be due before one parameter: `f(a, /, *, b)`.
        if after_positional_only && p.kind == ParamKind::KeywordOnly && !seen_star {
            out.push(Some("/, *"));
            seen_star = true;
            continue;
        }
        seen_star |= matches!(p.kind, ParamKind::VarArgs | ParamKind::KeywordOnly);
        out.push(marker);
    }
    out
}

/// Whether the parameters end with a positional-only one: `/` then closes the list.
fn trailing_slash(params: &[&StubParam]) -> bool {
    params
        .last()
        .is_some_and(|p| p.kind == ParamKind::PositionalOnly)
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
        for (p, marker) in params.iter().zip(markers(&params)) {
            if let Some(marker) = marker {
                signature.push(marker.to_owned());
            }
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
        if trailing_slash(&params) {
            signature.push("/".to_owned());
        }
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
            None => items.push(function),
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
    let doc = format!(
        " The Rust port of `{name}`: every `#[pyfunction]` and `#[pyclass]` in it is exported."
    );
    let file = quote! {
        use pyo3::prelude::*;

        #[doc = #doc]
        #[pymodule]
        mod #module {
            #(#uses)*

            #(#items)*
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
    let text = spaced(&text);
    let header = format!(
        "//! `{name}`: a Rust port of the functions port-advisor found worth porting.\n\
         //!\n\
         //! Each function raises NotImplementedError until its body is written; the Python\n\
         //! original is beside it. `maturin develop --release`, then `pytest tests` compares\n\
         //! the port with the original on recorded real calls, and `python bench.py` times both.\n\n"
    );
    Ok(header + &text)
}

/// prettyplease's text with a blank line after each item and each block of `use`s, as
/// rustfmt leaves a file a person wrote.
fn spaced(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() + lines.len());
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        let next = lines.get(i + 1).map(|l| l.trim_start()).unwrap_or("");
        let trimmed = line.trim_start();
        let ends_item = trimmed == "}"
            || trimmed.ends_with("{}")
            || (trimmed.starts_with("use ") && !next.starts_with("use "));
        if ends_item && !next.is_empty() && !next.starts_with('}') {
            out.push('\n');
        }
    }
    out
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
    // A function that returns nothing may work by changing its arguments: a Vec or HashMap
    // parameter is a copy, and changing it changes nothing on the Python side.
    if matches!(f.returns, PyType::None) {
        let copied: Vec<String> = f
            .params
            .iter()
            .filter(|p| matches!(p.ty, PyType::List(_) | PyType::Dict(..) | PyType::Set(_)))
            .map(|p| format!("`{}`", p.name))
            .collect();
        if !copied.is_empty() {
            lines.push(format!(
                " Mind: the original returns None: if it changes {} in place, the Rust \
                 parameter is a copy; take `&Bound<'py, PyList>` (or `PyDict`, `PySet`) and \
                 write back. The parity test compares the arguments after the call.",
                copied.join(", ")
            ));
        }
    }
    lines
}

/// The Python original, and the program functions it calls, for the comment beside the body.
fn python_comment(f: &StubFunction) -> String {
    let mut out = format!(
        "Python original ({}:{}):\n",
        shown_file(f),
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
        let all: Vec<&StubParam> = f.params.iter().collect();
        let mut params: Vec<String> = Vec::new();
        for (p, marker) in all.iter().zip(markers(&all)) {
            if let Some(marker) = marker {
                params.push(marker.to_owned());
            }
            let star = match p.kind {
                ParamKind::VarArgs => "*",
                ParamKind::VarKeywords => "**",
                _ => "",
            };
            if p.name == "self" || p.name == "cls" {
                params.push(p.name.clone());
                continue;
            }
            let default = if p.default.is_some() { " = ..." } else { "" };
            params.push(format!("{star}{}: {}{default}", p.name, p.ty.pyi()));
        }
        if trailing_slash(&all) {
            params.push("/".to_owned());
        }
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

/// The functions, for the Python files: (qualname, module, the advice's estimate).
fn originals(functions: &[StubFunction]) -> String {
    let rows: Vec<String> = functions
        .iter()
        .map(|f| {
            format!(
                "    ({:?}, {:?}, {:?}),",
                f.source.qualname,
                f.module,
                f.estimate
                    .map(|e| format!("{:.1}x-{:.1}x", e[0], e[1]))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!("FUNCTIONS = [\n{}\n]\n", rows.join("\n"))
}

/// The Python both the parity test and the benchmark start with; `crate_dir` is the crate's
/// folder as an expression of the file's own.
fn py_common(crate_dir: &str, roots: &[String]) -> String {
    let roots: Vec<String> = roots.iter().map(|r| format!("{r:?}")).collect();
    format!(
        r#"import base64
import importlib
import inspect
import io
import json
import os
import pickle
import reprlib
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = {crate_dir}

# The folders the program's modules are imported from (each module's top-level package is in
# one), relative to this crate, so that the crate can move with the program. To import them
# from elsewhere, set PORT_ADVISOR_SOURCE_ROOT (folders separated by os.pathsep).
SOURCE_ROOTS = [{roots}]
{COMMON_BODY}"#,
        roots = roots.join(", ")
    )
}

const COMMON_BODY: &str = r#"

def source_roots():
    configured = os.environ.get("PORT_ADVISOR_SOURCE_ROOT")
    if configured:
        return [os.path.abspath(p) for p in configured.split(os.pathsep) if p]
    return [os.path.normpath(os.path.join(CRATE, p)) for p in SOURCE_ROOTS]


def load_original(module):
    """The Python original, imported by its module name from the source roots, as the program
    imports it: its relative imports work, and its `if __name__ == "__main__"` part does not
    run."""
    for root in reversed(source_roots()):
        if root not in sys.path:
            sys.path.insert(0, root)
    return importlib.import_module(module)


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
    """The calls recorded while the program ran: [(pickled arguments by name, pickled result
    or None)]. Each use unpickles its own copy of the arguments, so that a function that
    changes them in place changes only its own."""
    with open(os.path.join(EXAMPLES_DIR, "examples.json")) as f:
        data = json.load(f).get(qualname, [])
    return [(call["args"], call.get("result")) for call in data]


def arguments(fn, kwargs):
    """The recorded arguments (by name) as `fn` takes them: positional-only ones (before `/`)
    by position, keyword-only ones (after `*`) by name, *args and **kwargs spread."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [], dict(kwargs)
    args, kw, by_position = [], {}, True
    for p in params:
        if p.name not in kwargs:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                by_position = False
            continue
        value = kwargs[p.name]
        if p.kind is p.VAR_POSITIONAL:
            args.extend(value)
        elif p.kind is p.VAR_KEYWORD:
            kw.update(value)
        elif p.kind is p.KEYWORD_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and not by_position):
            kw[p.name] = value
        else:
            args.append(value)
    return args, kw


def short(value):
    return reprlib.repr(value)
"#;

fn parity_test(name: &str, functions: &[StubFunction], roots: &[String]) -> String {
    format!(
        r#""""Parity of the Rust port with the Python original, on calls recorded from a real run.

Run with `pytest tests` after `maturin develop --release`. A function whose Rust body is not
written yet is reported as skipped: "not ported yet".

Each side gets its own copy of the recorded arguments, and both the results and the arguments
after the call must match: a port of a function that works in place (and returns None) passes
only if it changes its arguments as the original does.
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
    (qualname, module, i)
    for qualname, module, _ in FUNCTIONS
    for i in range(max(1, len(recorded_calls(qualname))))
]


@pytest.mark.parametrize("qualname,module,index", CASES)
def test_parity(qualname, module, index):
    calls = recorded_calls(qualname)
    if not calls:
        pytest.skip("%s: no recorded call (run port-advisor profile without --no-examples)"
                    % qualname)
    if "." in qualname:
        pytest.skip("%s is a method: build the pyclass from the recorded object by hand"
                    % qualname)
    recorded, _ = calls[index]
    original = lookup(load_original(module), qualname)
    port = lookup({name}, qualname)
    python_args = plain_loads(recorded)
    rust_args = plain_loads(recorded)
    args, kwargs = arguments(original, python_args)
    expected = original(*args, **kwargs)
    args, kwargs = arguments(original, rust_args)
    try:
        actual = port(*args, **kwargs)
    except NotImplementedError:
        pytest.skip("%s: not ported yet" % qualname)
    assert same(actual, expected), "%s: Rust returned %s, Python %s" % (
        qualname, short(actual), short(expected))
    for arg in python_args:
        assert same(rust_args[arg], python_args[arg]), (
            "%s: argument `%s` after the call: Rust left %s, Python %s (the original "
            "changes it in place; the port must too)"
            % (qualname, arg, short(rust_args[arg]), short(python_args[arg])))
"#,
        common = py_common("os.path.dirname(HERE)", roots),
        originals = originals(functions),
    )
}

fn bench(name: &str, functions: &[StubFunction], roots: &[String]) -> String {
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
    """Seconds per pass over the calls, best of several passes within the budget."""
    best = None
    spent = 0.0
    while spent < budget or best is None:
        start = time.perf_counter()
        for args, kwargs in calls:
            fn(*args, **kwargs)
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    print("%-32s %12s %12s %9s  %s" % ("function", "python", "rust", "speedup",
                                         "port-advisor's estimate (whole program)"))
    for qualname, module, estimate in FUNCTIONS:
        recorded = [blob for blob, _ in recorded_calls(qualname)]
        if not recorded or "." in qualname:
            print("%-32s no recorded call to time" % qualname)
            continue
        original = lookup(load_original(module), qualname)
        port = lookup({name}, qualname)
        # Each side times its own copies of the arguments.
        python_calls = [arguments(original, plain_loads(blob)) for blob in recorded]
        rust_calls = [arguments(original, plain_loads(blob)) for blob in recorded]
        try:
            port(*rust_calls[0][0], **rust_calls[0][1])
        except NotImplementedError:
            print("%-32s not ported yet" % qualname)
            continue
        python = per_call(original, python_calls)
        rust = per_call(port, rust_calls)
        print("%-32s %10.1f us %10.1f us %8.1fx  %s" % (
            qualname, python * 1e6 / len(recorded), rust * 1e6 / len(recorded), python / rust,
            estimate or "-"))


if __name__ == "__main__":
    main()
"#,
        common = py_common("HERE", roots),
        originals = originals(functions),
    )
}

fn readme(name: &str, functions: &[StubFunction], roots: &[String]) -> String {
    let list: String = functions
        .iter()
        .map(|f| {
            format!(
                "- `{}.{}` ({}:{}){}\n",
                f.module,
                f.source.qualname,
                shown_file(f),
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
    let roots: Vec<String> = roots.iter().map(|r| format!("`{r}`")).collect();
    format!(
        "# {name}\n\n\
         A Rust port, with PyO3, of:\n\n{list}\n\
         Each function raises `NotImplementedError` until its body is written in `src/lib.rs`,\n\
         where the Python original sits beside it as a comment.\n\n\
         ## Build, test, benchmark\n\n\
         ```console\n\
         python -m venv .venv && . .venv/bin/activate\n\
         pip install maturin\n\
         maturin develop --release --extras tests\n\
         pytest tests        # parity with the original on recorded real calls\n\
         python bench.py     # measured speedup next to port-advisor's estimate\n\
         ```\n\n\
         `tests/examples.json` holds calls recorded while the program ran (pickled arguments\n\
         and results). Each side of a parity test gets its own copy of the arguments, and the\n\
         arguments after the call are compared as well as the results, so a port of a function\n\
         that works in place must change them as the original does. Add your own cases to\n\
         `tests/test_parity.py` as the port grows.\n\n\
         The originals are imported by module name from {roots} (relative to this folder), as\n\
         the program imports them. To test against a copy of the program elsewhere, set\n\
         `PORT_ADVISOR_SOURCE_ROOT` to the folder that holds its modules.\n\n\
         ## Switch the call site\n\n\
         ```python\n\
         try:\n    from {name} import {f}\n\
         except ImportError:  # the Rust port is not built here\n    from {module} import {f}\n\
         ```\n",
        f = first.source.name,
        module = first.module,
        roots = roots.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_read_from_the_crate_folder() {
        let rel = |t: &str, b: &str| relative(Path::new(t), Path::new(b));
        assert_eq!(rel("/w/prog", "/w/crate"), Path::new("../prog"));
        assert_eq!(rel("/w", "/w/fl_rs"), Path::new(".."));
        assert_eq!(rel("/w/fl_rs/src", "/w/fl_rs"), Path::new("src"));
        assert_eq!(rel("/w", "/w"), Path::new("."));
        assert_eq!(
            rel("fixtures/stubs", "kinds_rs"),
            Path::new("../fixtures/stubs")
        );
        assert_eq!(rel("./a/../b", "c"), Path::new("../b"));
    }

    #[test]
    fn slash_and_star_stand_where_python_writes_them() {
        let param = |name: &str, kind| StubParam {
            name: name.into(),
            kind,
            ty: PyType::Int,
            source: "annotation",
            default: None,
        };
        let signature = |params: &[StubParam]| {
            let refs: Vec<&StubParam> = params.iter().collect();
            let mut out = Vec::new();
            for (p, m) in refs.iter().zip(markers(&refs)) {
                out.extend(m.map(str::to_owned));
                out.push(p.name.clone());
            }
            if trailing_slash(&refs) {
                out.push("/".into());
            }
            out.join(", ")
        };
        use ParamKind::*;
        assert_eq!(
            signature(&[param("a", PositionalOnly), param("b", KeywordOnly)]),
            "a, /, *, b"
        );
        assert_eq!(
            signature(&[
                param("a", Positional),
                param("b", VarArgs),
                param("c", KeywordOnly)
            ]),
            "a, b, c"
        );
        assert_eq!(
            signature(&[param("a", PositionalOnly), param("b", PositionalOnly)]),
            "a, b, /"
        );
        assert_eq!(
            signature(&[param("a", KeywordOnly), param("b", KeywordOnly)]),
            "*, a, b"
        );
    }
}
