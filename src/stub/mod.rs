//! `port-advisor stub`: a PyO3 crate for the functions worth porting, that builds with
//! maturin before a line of Rust is written, with parity tests and a benchmark on the real
//! inputs the probe recorded.
//!
//! The Rust source is built as `syn` items and printed with `prettyplease`; the original
//! Python goes beside each body as a comment. Signatures come from the Python source's
//! annotations, else from the types the probe observed.

mod files;
pub mod types;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::advise::{Advice, Verdict};
use crate::analyze::{Analysis, FunctionStats};
use crate::error::UserError;
use crate::profile::{Example, ProbedFunction, Profile, Provenance};
use crate::python::parser::{self, ParamKind, PyFunction};
use crate::python::source::SourceCache;
use crate::rules::Rules;
use types::PyType;

/// What to generate.
#[derive(Debug, Clone)]
pub struct StubOptions {
    /// `module:qualname` of each function; empty: the advice's top `port` candidates.
    pub functions: Vec<String>,
    pub top: usize,
    pub output: PathBuf,
    pub crate_name: String,
    pub force: bool,
}

/// One function of the crate.
#[derive(Debug, Clone)]
pub struct StubFunction {
    /// The Python module it lives in (`spectral`, `pkg.mod`).
    pub module: String,
    /// Its source file, as found on this machine.
    pub file: PathBuf,
    /// The folder `module` is imported from (its top-level package's parent): where the
    /// generated tests import the original from, relative to the crate.
    pub source_root: PathBuf,
    pub source: PyFunction,
    pub params: Vec<StubParam>,
    pub returns: PyType,
    pub examples: Vec<Example>,
    /// The advice's estimate for the whole program, when it advised porting it.
    pub estimate: Option<[f64; 2]>,
    /// Crates that do what the Python uses, with why.
    pub crates: Vec<(String, String)>,
    /// Functions of the same file it calls (as sampled), which a port takes along.
    pub callees: Vec<PyFunction>,
}

/// One parameter with its type and where the type came from.
#[derive(Debug, Clone)]
pub struct StubParam {
    pub name: String,
    pub kind: ParamKind,
    pub ty: PyType,
    /// `annotation`, `observed`, or `unknown`.
    pub source: &'static str,
    /// The Python default, as written.
    pub default: Option<String>,
}

/// Chooses the functions, reads their sources and writes the crate.
pub fn stub(
    profile: &Profile,
    analysis: &Analysis,
    advice: &Advice,
    rules: &Rules,
    opts: &StubOptions,
) -> Result<Vec<StubFunction>> {
    if !valid_crate_name(&opts.crate_name) {
        return Err(UserError::Usage(format!(
            "`{}` is not a valid crate name: use lowercase letters, digits and `_`, starting \
             with a letter (e.g. `fast_parts`)",
            opts.crate_name
        ))
        .into());
    }
    if profile.provenance != Provenance::Local {
        return Err(UserError::Usage(
            "this profile was not recorded here by you: a stub reads the sources it names and \
             copies its recorded calls into tests that unpickle them. Record the program again \
             here with `port-advisor profile`, or pass --trust if you know where it came from"
                .into(),
        )
        .into());
    }
    check_output(&opts.output, opts.force)?;
    let chosen: Vec<&FunctionStats> = if opts.functions.is_empty() {
        let ports: Vec<&FunctionStats> = advice
            .candidates
            .iter()
            .filter(|c| c.verdict == Verdict::Port)
            .take(opts.top)
            .filter_map(|c| {
                analysis
                    .functions
                    .iter()
                    .find(|f| f.name == c.function.name && f.file == c.function.file)
            })
            .collect();
        if ports.is_empty() {
            return Err(UserError::Usage(
                "the advice has no `port` candidate for this profile: name functions with \
                 --function module:qualname"
                    .into(),
            )
            .into());
        }
        ports
    } else {
        opts.functions
            .iter()
            .map(|spec| find_function(analysis, spec))
            .collect::<Result<_>>()?
    };
    let sources = SourceCache::new(crate::trust::source_roots(profile));
    let mut functions = Vec::new();
    for stats in chosen {
        functions.push(describe(profile, analysis, advice, rules, &sources, stats)?);
    }
    files::write_crate(&opts.output, &opts.crate_name, &functions)?;
    Ok(functions)
}

/// A crate name maturin and Python both accept as a module name.
fn valid_crate_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_output(dir: &Path, force: bool) -> Result<()> {
    if dir.is_file() {
        return Err(UserError::Output(format!(
            "{} is a file: give a folder for the crate with -o",
            dir.display()
        ))
        .into());
    }
    let non_empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !force {
        return Err(UserError::Output(format!(
            "{} already exists and is not empty: choose another folder with -o, or pass \
             --force to overwrite the generated files",
            dir.display()
        ))
        .into());
    }
    Ok(())
}

/// The function a `module:qualname` (or a bare qualified name) names, or an error listing the
/// closest names in the profile.
fn find_function<'a>(analysis: &'a Analysis, spec: &str) -> Result<&'a FunctionStats> {
    let (module, name) = match spec.split_once(':') {
        Some((m, n)) => (Some(m), n),
        None => (None, spec),
    };
    let matches: Vec<&FunctionStats> = analysis
        .functions
        .iter()
        .filter(|f| f.name == name)
        .filter(|f| module.is_none_or(|m| m.is_empty() || f.module.as_deref() == Some(m)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let mut close: Vec<(usize, String)> = analysis
                .functions
                .iter()
                .filter(|f| f.kind == crate::profile::FrameKind::Python)
                .map(|f| {
                    let full = format!("{}:{}", f.module.as_deref().unwrap_or(""), f.name);
                    (distance(&full.to_lowercase(), &spec.to_lowercase()), full)
                })
                .collect();
            close.sort();
            close.dedup_by(|a, b| a.1 == b.1);
            let names: Vec<String> = close.into_iter().take(3).map(|(_, n)| n).collect();
            Err(UserError::Usage(format!(
                "no function `{spec}` in this profile; closest: {}",
                names.join(", ")
            ))
            .into())
        }
        several => Err(UserError::Usage(format!(
            "`{spec}` names {} functions: write it as module:qualname ({})",
            several.len(),
            several
                .iter()
                .map(|f| format!("{}:{}", f.module.as_deref().unwrap_or(""), f.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let replace = previous[j] + usize::from(ca != *cb);
            current.push(replace.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Reads one function's source and what the probe saw of it.
fn describe(
    profile: &Profile,
    analysis: &Analysis,
    advice: &Advice,
    rules: &Rules,
    sources: &SourceCache,
    stats: &FunctionStats,
) -> Result<StubFunction> {
    let path = profile.source_path(&stats.file);
    let file = sources.file(&path).ok_or_else(|| {
        UserError::Usage(format!(
            "the source of {} is not a readable file at {} under the recording's folders: run \
             port-advisor stub where the program's files are",
            stats.name,
            path.display()
        ))
    })?;
    let module = file
        .parsed()
        .map_err(|e| UserError::Usage(format!("{}: {e}", path.display())))?;
    let source = module
        .find(&stats.name, stats.first_line)
        .cloned()
        .with_context(|| format!("{} has no function {}", path.display(), stats.name))
        .map_err(|e| UserError::Usage(format!("{e:#}")))?;
    let probed = profile.probed_function(&stats.file, &stats.name);
    let (params, returns) = signature(&source, probed);
    let estimate = advice
        .candidates
        .iter()
        .find(|c| c.function.name == stats.name && c.function.file == stats.file)
        .and_then(|c| c.speedup);
    let crates = rules
        .crates_for_calls(&source.features.called_names)
        .into_iter()
        .chain(
            source
                .features
                .modules_used
                .iter()
                .flat_map(|m| rules.crates_for_calls(&[format!("{m}.x")])),
        )
        .filter_map(|(rule, callee)| {
            rule.rust_crate
                .clone()
                .map(|c| (c, format!("{} ({callee})", rule.why)))
        })
        .fold(Vec::new(), |mut acc: Vec<(String, String)>, (c, why)| {
            if !acc.iter().any(|(x, _)| *x == c) {
                acc.push((c, why));
            }
            acc
        });
    let callees = callees_in_file(profile, analysis, stats)
        .into_iter()
        .filter_map(|c| module.find(&c.name, c.first_line).cloned())
        .collect();
    let module_name = stats.module.clone().unwrap_or_else(|| file_stem(&path));
    Ok(StubFunction {
        callees,
        source_root: source_root(&path, &module_name),
        module: module_name,
        file: path,
        examples: probed.map(|p| p.examples.clone()).unwrap_or_default(),
        source,
        params,
        returns,
        estimate,
        crates,
    })
}

/// The functions of the same file under `stats` in the sampled call tree, nearest first.
fn callees_in_file<'a>(
    profile: &Profile,
    analysis: &'a Analysis,
    stats: &FunctionStats,
) -> Vec<&'a FunctionStats> {
    let Some(start) = analysis
        .functions
        .iter()
        .position(|f| f.name == stats.name && f.file == stats.file)
    else {
        return Vec::new();
    };
    // The calls within the file, gathered in one pass, heaviest first.
    let in_file = |f: usize| analysis.functions[f].file == stats.file;
    let edges = analysis.call_edges(profile, false, |caller, callee| {
        in_file(caller) && in_file(callee)
    });
    let mut seen = vec![start];
    let mut next = 0;
    while next < seen.len() && seen.len() <= 32 {
        let from = seen[next];
        for edge in edges.iter().filter(|e| e.caller == from) {
            if !seen.contains(&edge.callee) {
                seen.push(edge.callee);
            }
        }
        next += 1;
    }
    seen.into_iter()
        .skip(1)
        .map(|i| &analysis.functions[i])
        .collect()
}

/// The files of a crate for every function of a Python source (methods included, `__init__`
/// left out), typed from its annotations alone: how the generator handles each kind of
/// signature, without a profile.
pub fn crate_from_source(
    crate_name: &str,
    module: &str,
    file: &Path,
    text: &str,
) -> Result<Vec<(String, String)>> {
    let parsed = parser::parse_source(text)
        .map_err(|e| UserError::Usage(format!("{}: {e}", file.display())))?;
    let functions: Vec<StubFunction> = parsed
        .functions
        .iter()
        .filter(|f| f.name != "__init__")
        .map(|source| {
            let (params, returns) = signature(source, None);
            StubFunction {
                module: module.to_owned(),
                file: file.to_path_buf(),
                source_root: source_root(file, module),
                source: source.clone(),
                params,
                returns,
                examples: Vec::new(),
                estimate: None,
                crates: Vec::new(),
                callees: Vec::new(),
            }
        })
        .collect();
    files::render(crate_name, Path::new(crate_name), &functions)
}

/// Parameter and return types: the annotation where there is one, else the type the probe
/// observed most often, else unknown.
fn signature(source: &PyFunction, probed: Option<&ProbedFunction>) -> (Vec<StubParam>, PyType) {
    let observed = |name: &str| -> Option<PyType> {
        let obs = probed.map(|p| {
            if name == "return" {
                &p.returns
            } else {
                &p.args
            }
        })?;
        obs.iter()
            .filter(|o| o.name == name)
            .max_by_key(|o| o.count)
            .map(|o| PyType::from_observed(&o.type_name))
    };
    let params = source
        .params
        .iter()
        .map(|p| {
            let (ty, from) = match (&p.annotation, observed(&p.name)) {
                (Some(a), _) => (PyType::from_annotation(a), "annotation"),
                (None, Some(t)) => (t, "observed"),
                (None, None) => (PyType::Object("unknown".into()), "unknown"),
            };
            StubParam {
                name: p.name.clone(),
                kind: p.kind,
                ty,
                source: from,
                default: p.default.clone(),
            }
        })
        .collect();
    let returns = match (&source.returns, observed("return")) {
        (Some(a), _) => PyType::from_annotation(a),
        (None, Some(t)) => t,
        (None, None) => PyType::Object("unknown".into()),
    };
    (params, returns)
}

/// The folder `module` (`pkg.sub.mod`, file `pkg/sub/mod.py` or `pkg/sub/mod/__init__.py`)
/// is imported from: the parent of its top-level package.
fn source_root(file: &Path, module: &str) -> PathBuf {
    let mut root = file.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut up = module.split('.').count().saturating_sub(1);
    if file.file_stem().is_some_and(|s| s == "__init__") {
        up += 1;
    }
    for _ in 0..up {
        root = root.parent().unwrap_or(Path::new("")).to_path_buf();
    }
    root
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate for every function of `fixtures/stubs/kinds.py`, from its annotations alone.
    fn kinds_crate() -> Vec<(String, String)> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stubs/kinds.py");
        let text = std::fs::read_to_string(&path).unwrap();
        // A relative path, so that the snapshots read the same on every machine.
        crate_from_source(
            "kinds_rs",
            "kinds",
            Path::new("fixtures/stubs/kinds.py"),
            &text,
        )
        .unwrap()
    }

    #[test]
    fn generated_rust_covers_every_kind_of_signature() {
        let files = kinds_crate();
        let lib = &files.iter().find(|(f, _)| f == "src/lib.rs").unwrap().1;
        insta::assert_snapshot!("kinds_lib_rs", lib);
        // It is Rust that parses (pyo3's macros aside, which the maturin test builds).
        syn::parse_file(lib).expect("valid Rust");
    }

    #[test]
    fn generated_stub_files_match_their_snapshots() {
        for (file, text) in kinds_crate() {
            if file == "src/lib.rs" || file == "tests/examples.json" {
                continue;
            }
            let name = file.replace(['/', '.'], "_");
            insta::assert_snapshot!(name, text);
        }
    }

    #[test]
    fn a_module_is_imported_from_its_top_level_packages_parent() {
        let root = |file: &str, module: &str| source_root(Path::new(file), module);
        assert_eq!(root("/w/app.py", "app"), Path::new("/w"));
        assert_eq!(root("/w/pkg/sub/mod.py", "pkg.sub.mod"), Path::new("/w"));
        assert_eq!(root("/w/pkg/__init__.py", "pkg"), Path::new("/w"));
        assert_eq!(
            root("fixtures/stubs/kinds.py", "kinds"),
            Path::new("fixtures/stubs")
        );
    }

    #[test]
    fn crate_names_are_python_module_names() {
        assert!(valid_crate_name("fast_parts"));
        assert!(valid_crate_name("spectral2"));
        assert!(!valid_crate_name("Fast"));
        assert!(!valid_crate_name("fast-parts"));
        assert!(!valid_crate_name("2fast"));
        assert!(!valid_crate_name(""));
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("times_u", "times_u"), 0);
        assert_eq!(distance("time_u", "times_u"), 1);
        assert_eq!(distance("", "abc"), 3);
    }
}
