//! Declarative knowledge: which Python frames and which calls on a source line run as machine
//! code, which standard library code is interpreted, which libraries and crates do a job
//! natively (`analogues`), how measurements become verdicts (`scoring`) and what crossing the
//! Python/Rust boundary costs (`costs`).
//!
//! The knowledge is data, in `rules/*.toml` (compiled into the binary), so that it can be read,
//! reviewed and extended without touching code; a user adds or replaces files with a rules
//! directory. Every entry is loaded with `deny_unknown_fields` and checked, so a typo is an
//! error naming its file and line rather than a rule that silently never matches.
//!
//! This module only loads and answers lookups. It reads no profile and decides nothing about
//! candidates: the scoring stage asks it questions.

use std::cmp::Reverse;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::python::lexer::{code_of, is_name_char};

/// The built-in rule files: the name a user file replaces them by, and their text.
const BUILTIN: &[(&str, &str)] = &[
    ("native.toml", include_str!("../../rules/native.toml")),
    ("analogues.toml", include_str!("../../rules/analogues.toml")),
];

mod documents;

pub use documents::{
    CallCost, Conversion, Costs, Direction, Factors, Measured, OpPrice, Opcodes, Operations,
    ReadinessWeights, Scoring, Span, Thresholds,
};

/// A Python frame whose self time is spent in native code it calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeRule {
    /// Dotted module, exact; `pkg.*` matches `pkg` and every module below it.
    pub module: String,
    /// Qualified name inside the module, exact; `*` matches all, `Name.*` `Name` and its insides.
    pub function: String,
    /// The native code below the frame shows to the native pass: where the pass saw the
    /// frame, what it saw decides, and the rule stands in only where it saw nothing. numpy's
    /// Python functions wrap compiled work on large arrays and are mostly their own
    /// interpreted wrapper and call machinery on tiny ones, which only the pass tells apart.
    #[serde(default)]
    pub measured: bool,
    pub what: String,
    pub why: String,
    pub example: String,
}

/// How a [`NativeCallRule`]'s callee is found on a source line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    /// `.NAME(`: a method of some object.
    Method,
    /// `NAME(` not preceded by `.` or a name character: a builtin or an imported name.
    Function,
    /// The dotted name as written (`json.dumps(`), not preceded by a name character.
    Qualified,
}

/// A call to native code, recognised on a source line (such callees have no Python frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeCallRule {
    pub callee: String,
    pub kind: CallKind,
    /// The module whose object or function the callee usually is, for reports.
    #[serde(default)]
    pub module_hint: Option<String>,
    /// Native only when called with one positional argument (`min(values)` loops in C;
    /// `min(a, b)` of two scalars is mostly the interpreter's call overhead).
    #[serde(default)]
    pub single_argument: bool,
    /// The callee's C code shows to the native pass (an extension's; py-spy's unwinder hides
    /// libpython's): when the pass saw the line, its ratio decides, and the rule stands in
    /// only where it saw nothing. numpy's calls are native work on large arrays and call
    /// machinery on small ones, which only the pass can tell apart.
    #[serde(default)]
    pub measured: bool,
    /// Not native when the argument is a generator expression (`sum(x * x for x in xs)`): the
    /// C loop does one addition or comparison per item, and each item is the generator's
    /// frame resumed, which is the interpreter's work; a port makes it one loop.
    #[serde(default)]
    pub not_over_generator: bool,
    pub what: String,
    pub why: String,
    pub example: String,
}

/// Standard library code known to be interpreted Python.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurePythonRule {
    /// Matched like [`NativeRule::module`].
    pub module: String,
    /// Matched like [`NativeRule::function`].
    pub function: String,
    pub what: String,
    pub why: String,
    pub example: String,
}

/// What an [`InterpreterRule`]'s C functions do below a Python frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterpreterRole {
    /// The interpreter's own work on one object: interpreted time.
    Work,
    /// The machinery of a call: the C function called decides.
    Dispatch,
    /// A native function's per-call set-up and tear-down (its arguments parsed, its state
    /// made, its result allocated): interpreted when it is the innermost frame, and so is the
    /// C library's allocator anywhere below it; a function it calls that no entry names
    /// (the work: a regex engine's match loop, a typed loop over an array) decides for itself.
    Call,
}

/// C functions of the interpreter that execute bytecode rather than do native work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterpreterRule {
    pub role: InterpreterRole,
    /// Symbol names: exact, `prefix*` or `*suffix`.
    pub symbols: Vec<String>,
    /// The shared objects the symbols are looked for in (`prefix*` patterns, `*` optional);
    /// by default the interpreter's own.
    #[serde(default)]
    pub modules: Option<Vec<String>>,
    pub what: String,
    pub why: String,
    pub example: String,
}

impl InterpreterRule {
    fn matches(&self, symbol: &str, module: &str) -> bool {
        let in_module = match &self.modules {
            Some(prefixes) => prefixes
                .iter()
                .any(|p| module.starts_with(p.trim_end_matches('*'))),
            None => is_interpreter_module(module),
        };
        in_module && self.symbols.iter().any(|p| symbol_match(p, symbol))
    }
}

/// Whether a shared object is the interpreter itself (libpython, or the `python` executable
/// with it linked in), or unknown (a frame py-spy could not place).
pub fn is_interpreter_module(module: &str) -> bool {
    module.is_empty()
        || module == "?"
        || module.starts_with("libpython")
        || module.starts_with("python")
}

/// A symbol pattern: exact, `prefix*` or `*suffix`.
fn symbol_match(pattern: &str, symbol: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        symbol.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        symbol.ends_with(suffix)
    } else {
        pattern == symbol
    }
}

/// A library or crate that does natively what some Python code does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalogueRule {
    /// Hot code in this module (a pure-Python library; pattern as in [`NativeRule::module`]).
    #[serde(default)]
    pub module: Option<String>,
    /// Program functions of one of these names (case-insensitive) reimplement it.
    #[serde(default)]
    pub names: Vec<String>,
    /// Functions calling one of these (`itertools.permutations`, `re.*`) would use the crate.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Time inside the operators of the program's loop-free functions, far beyond what their
    /// bytecode costs: `arithmetic` (on big integers) or `sequences` (copies and compares of
    /// long sequences and strings).
    #[serde(default)]
    pub operators: Option<String>,
    /// The native Python library or builtin to use instead, without a port.
    #[serde(default, rename = "use")]
    pub use_instead: Option<String>,
    /// The Rust crate doing the same job, for a port.
    #[serde(default, rename = "crate")]
    pub rust_crate: Option<String>,
    pub what: String,
    pub why: String,
    pub example: String,
}

impl AnalogueRule {
    /// Whether a program function of this name reimplements the analogue.
    pub fn matches_name(&self, name: &str) -> bool {
        let plain = name.rsplit('.').next().unwrap_or(name);
        self.names.iter().any(|n| n.eq_ignore_ascii_case(plain))
    }

    /// Whether code of this module is the analogue's pure-Python library.
    pub fn matches_module(&self, module: &str) -> bool {
        self.module
            .as_deref()
            .is_some_and(|pattern| pattern_match(pattern, module).is_some())
    }

    /// Whether a call of this dotted name uses what the analogue replaces.
    pub fn matches_call(&self, callee: &str) -> bool {
        self.calls
            .iter()
            .any(|pattern| pattern_match(pattern, callee).is_some())
    }
}

/// One rule file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    native: Vec<NativeRule>,
    #[serde(default)]
    native_call: Vec<NativeCallRule>,
    #[serde(default)]
    pure_python: Vec<PurePythonRule>,
    #[serde(default)]
    analogue: Vec<AnalogueRule>,
    #[serde(default)]
    interpreter: Vec<InterpreterRule>,
}

/// A problem in a rules directory or file that its author can fix.
#[derive(Debug, Error)]
pub enum RuleError {
    #[error("{}: cannot read the rules directory: {source}", .dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// Not TOML, or an unknown, missing or mistyped key: the message comes from the parser.
    #[error("{file}: {message}{}", at_line(*.line))]
    Parse {
        file: String,
        message: String,
        line: Option<usize>,
    },
    /// A key whose value cannot work, with how to write it.
    #[error("{file}: [[{table}]] entry {index}{}: `{key} = {value:?}`: {fix}", at_line(*.line))]
    Invalid {
        file: String,
        table: &'static str,
        /// 1-based position of the entry in its table.
        index: usize,
        line: Option<usize>,
        key: &'static str,
        value: String,
        fix: &'static str,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// All rules in force, in load order: built-in files first, then a user's.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub native: Vec<NativeRule>,
    pub native_calls: Vec<NativeCallRule>,
    pub pure_python: Vec<PurePythonRule>,
    pub analogues: Vec<AnalogueRule>,
    pub interpreter: Vec<InterpreterRule>,
    pub scoring: Scoring,
    pub costs: Costs,
}

/// The best frame rule for a function, across both frame tables.
enum FrameRule<'a> {
    Native(&'a NativeRule),
    PurePython(&'a PurePythonRule),
}

impl Rules {
    /// The built-in rules (the files of `rules/`, compiled into the binary with `include_str!`).
    pub fn builtin() -> Rules {
        let mut rules = Rules::default();
        for (name, text) in BUILTIN {
            // The built-in files are checked by this module's tests: failing here is a bug.
            let file = parse(&format!("rules/{name}"), text)
                .unwrap_or_else(|e| panic!("built-in rules do not load: {e}"));
            rules.add(file);
        }
        rules
    }

    /// Built-in rules, then each `*.toml` file in `dir`: a file with the same name as a built-in
    /// one replaces it; other files add entries.
    pub fn load(dir: Option<&Path>) -> Result<Rules> {
        let Some(dir) = dir else {
            return Ok(Rules::builtin());
        };
        let dir_error = |source| RuleError::Dir {
            dir: dir.to_path_buf(),
            source,
        };
        let mut user: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(dir).map_err(dir_error)? {
            let path = entry.map_err(dir_error)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                user.push(path);
            }
        }
        // Sorted, so that which of two equal entries wins does not depend on the file system.
        user.sort();
        let read = |path: &Path| {
            fs::read_to_string(path).map_err(|source| RuleError::Read {
                file: path.display().to_string(),
                source,
            })
        };

        let mut rules = Rules::default();
        let mut take = |name: &str| -> Result<Option<(String, String)>, RuleError> {
            match user
                .iter()
                .position(|p| p.file_name() == Some(OsStr::new(name)))
            {
                Some(i) => {
                    let path = user.remove(i);
                    let text = read(&path)?;
                    Ok(Some((path.display().to_string(), text)))
                }
                None => Ok(None),
            }
        };
        if let Some((file, text)) = take("scoring.toml")? {
            rules.scoring = documents::load(
                "rules/scoring.toml",
                documents::SCORING,
                Some((&file, &text)),
            )?;
        }
        if let Some((file, text)) = take("costs.toml")? {
            rules.costs =
                documents::load("rules/costs.toml", documents::COSTS, Some((&file, &text)))?;
        }
        for (name, text) in BUILTIN {
            let file = match user
                .iter()
                .position(|p| p.file_name() == Some(OsStr::new(name)))
            {
                Some(i) => {
                    let path = user.remove(i);
                    parse(&path.display().to_string(), &read(&path)?)?
                }
                None => parse(&format!("rules/{name}"), text)?,
            };
            rules.add(file);
        }
        for path in &user {
            rules.add(parse(&path.display().to_string(), &read(path)?)?);
        }
        Ok(rules)
    }

    /// Whether a Python frame's self time is known to be native: by module + qualname (supports
    /// `module.*` prefixes and function `*`). A more specific `[[pure_python]]` entry wins.
    pub fn native_function(&self, module: &str, qualname: &str) -> Option<&NativeRule> {
        match self.frame_rule(module, qualname)? {
            FrameRule::Native(rule) => Some(rule),
            FrameRule::PurePython(_) => None,
        }
    }

    /// Whether a function is known pure-Python stdlib. A more specific `[[native]]` entry wins
    /// (e.g. `logging.StreamHandler.flush` is native inside an otherwise Python `logging`).
    pub fn pure_python(&self, module: &str, qualname: &str) -> Option<&PurePythonRule> {
        match self.frame_rule(module, qualname)? {
            FrameRule::PurePython(rule) => Some(rule),
            FrameRule::Native(_) => None,
        }
    }

    /// The native call on a source line, if the line calls one: the leftmost when it calls
    /// several. Text in string literals and after a `#` comment is not code and is ignored.
    pub fn native_call_on_line(&self, line: &str) -> Option<&NativeCallRule> {
        let code = code_of(line);
        // Leftmost first; at one position the longer callee (`re.split` over `.split`); among
        // equals the rule loaded last, so that a user's rule overrides a built-in one.
        self.native_calls
            .iter()
            .filter_map(|rule| call_start(&code, rule).map(|start| (start, rule)))
            .max_by_key(|(start, rule)| (Reverse(*start), rule.callee.len()))
            .map(|(_, rule)| rule)
    }

    fn add(&mut self, file: RuleFile) {
        self.native.extend(file.native);
        self.native_calls.extend(file.native_call);
        self.pure_python.extend(file.pure_python);
        self.analogues.extend(file.analogue);
        self.interpreter.extend(file.interpreter);
    }

    /// What a native frame below a Python frame does, when it is the interpreter's own C code
    /// (`None`: native work, or code no entry names).
    pub fn interpreter_role(&self, symbol: &str, module: &str) -> Option<InterpreterRole> {
        self.interpreter
            .iter()
            .rev()
            .find(|r| r.matches(symbol, module))
            .map(|r| r.role)
    }

    /// The packages whose every function a crate replaces once their caller is ported
    /// (`calls = ["numpy.*"]`): their Python code ports along with its caller.
    pub fn ported_along(&self) -> impl Iterator<Item = &str> {
        self.analogues
            .iter()
            .filter(|a| a.rust_crate.is_some())
            .flat_map(|a| &a.calls)
            .filter_map(|c| c.strip_suffix(".*"))
            .filter(|p| !p.contains('.'))
    }

    /// The library replacement for hot code in `module`, if one is known.
    pub fn analogue_for_module(&self, module: &str) -> Option<&AnalogueRule> {
        self.analogues
            .iter()
            .rev()
            .find(|a| a.use_instead.is_some() && a.matches_module(module))
    }

    /// The library to use when the time inside the operators of kind `operators` (`arithmetic`,
    /// `sequences`) is large, if one is known.
    pub fn analogue_for_operators(&self, operators: &str) -> Option<&AnalogueRule> {
        self.analogues
            .iter()
            .rev()
            .find(|a| a.use_instead.is_some() && a.operators.as_deref() == Some(operators))
    }

    /// The library a program function of this name reimplements, if one is known.
    pub fn analogue_for_name(&self, name: &str) -> Option<&AnalogueRule> {
        self.analogues
            .iter()
            .rev()
            .find(|a| a.use_instead.is_some() && a.matches_name(name))
    }

    /// Rust crates for what a function calls, with the calls that need them, in rule order.
    pub fn crates_for_calls<'a>(&'a self, callees: &[String]) -> Vec<(&'a AnalogueRule, String)> {
        let mut out: Vec<(&AnalogueRule, String)> = Vec::new();
        for rule in self.analogues.iter().filter(|a| a.rust_crate.is_some()) {
            if let Some(callee) = callees.iter().find(|c| rule.matches_call(c)) {
                if !out.iter().any(|(r, _)| r.rust_crate == rule.rust_crate) {
                    out.push((rule, callee.clone()));
                }
            }
        }
        out
    }

    fn frame_rule(&self, module: &str, qualname: &str) -> Option<FrameRule<'_>> {
        // `max_by_key` keeps the last of equals: the rule loaded last wins a tie.
        let native = self
            .native
            .iter()
            .filter_map(|r| specificity(&r.module, &r.function, module, qualname).map(|s| (s, r)))
            .max_by_key(|(s, _)| *s);
        let pure = self
            .pure_python
            .iter()
            .filter_map(|r| specificity(&r.module, &r.function, module, qualname).map(|s| (s, r)))
            .max_by_key(|(s, _)| *s);
        match (native, pure) {
            (Some((n, rule)), Some((p, _))) if n >= p => Some(FrameRule::Native(rule)),
            (_, Some((_, rule))) => Some(FrameRule::PurePython(rule)),
            (Some((_, rule)), None) => Some(FrameRule::Native(rule)),
            (None, None) => None,
        }
    }
}

/// How specifically a (module, function) pattern matches a frame, or `None` when it does not:
/// the function pattern counts first (exact > `Name.*` > `*`, longer prefixes more), then the
/// module pattern (exact > `pkg.*`, longer prefixes more).
fn specificity(
    module_pat: &str,
    function_pat: &str,
    module: &str,
    qualname: &str,
) -> Option<(u8, usize, u8, usize)> {
    let (m_rank, m_len) = pattern_match(module_pat, module)?;
    let (f_rank, f_len) = if function_pat == "*" {
        (0, 0)
    } else {
        pattern_match(function_pat, qualname)?
    };
    Some((f_rank, f_len, m_rank, m_len))
}

/// Matches a dotted pattern: exact (rank 2), or `prefix.*` matching `prefix` and `prefix.…`
/// (rank 1, with the prefix length).
fn pattern_match(pattern: &str, name: &str) -> Option<(u8, usize)> {
    match pattern.strip_suffix(".*") {
        Some(prefix) => {
            let inside = name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            inside.then_some((1, prefix.len()))
        }
        None => (pattern == name).then_some((2, pattern.len())),
    }
}

/// Where on `code` (already passed through [`code_of`]) the rule's callee is called.
fn call_start(code: &str, rule: &NativeCallRule) -> Option<usize> {
    let blank = |c: char| c == ' ' || c == '\t';
    code.match_indices(rule.callee.as_str())
        .find_map(|(i, callee)| {
            let after = code[i + callee.len()..].trim_start_matches(blank);
            if !after.starts_with('(') {
                return None;
            }
            if rule.single_argument && positional_arguments(after) > 1 {
                return None;
            }
            if rule.not_over_generator && is_generator_argument(after) {
                return None;
            }
            let before = &code[..i];
            if before.chars().next_back().is_some_and(is_name_char) {
                return None;
            }
            let before_trimmed = before.trim_end_matches(blank);
            match rule.kind {
                CallKind::Method => before_trimmed
                    .strip_suffix('.')
                    .map(|dot_before| dot_before.len()),
                CallKind::Function => {
                    // `def sorted(` defines a function; it does not call one.
                    let last_word = before_trimmed.rsplit(|c: char| !is_name_char(c)).next();
                    let is_definition = matches!(last_word, Some("def" | "class"));
                    let after_dot = before_trimmed.ends_with('.');
                    (!after_dot && !is_definition).then_some(i)
                }
                CallKind::Qualified => Some(i),
            }
        })
}

/// Whether the call whose `(` starts `args` takes a generator expression: a `for` in its own
/// parentheses, not inside a nested bracket (`sum([x for x in xs])` builds a list first, which
/// the C loop then walks).
fn is_generator_argument(args: &str) -> bool {
    let mut depth = 0usize;
    let mut word = String::new();
    for c in args.chars() {
        if is_name_char(c) {
            word.push(c);
            continue;
        }
        if depth == 1 && word == "for" {
            return true;
        }
        word.clear();
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    false
}

/// The positional arguments of the call whose `(` starts `args` (keyword arguments and a call
/// cut by the end of the line count as far as they go).
fn positional_arguments(args: &str) -> usize {
    let mut depth = 0usize;
    let mut count = 0usize;
    let mut current = String::new();
    let finish = |current: &mut String, count: &mut usize| {
        let arg = current.trim();
        let keyword = arg
            .split_once('=')
            .is_some_and(|(name, rest)| is_identifier(name.trim()) && !rest.starts_with('='));
        if !arg.is_empty() && !keyword {
            *count += 1;
        }
        current.clear();
    };
    for c in args.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    finish(&mut current, &mut count);
                    return count;
                }
            }
            ',' if depth == 1 => {
                finish(&mut current, &mut count);
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    finish(&mut current, &mut count);
    count
}

/// Parses and checks one rule file; `file` is the name its errors give.
fn parse(file: &str, text: &str) -> Result<RuleFile, RuleError> {
    let rules: RuleFile = toml::from_str(text).map_err(|e| RuleError::Parse {
        file: file.to_owned(),
        message: e.message().trim_end().to_owned(),
        line: e.span().map(|span| line_of(text, span.start)),
    })?;
    let invalid =
        |table: &'static str, index: usize, key: &'static str, value: &str, fix: &'static str| {
            RuleError::Invalid {
                file: file.to_owned(),
                table,
                index: index + 1,
                line: entry_line(text, table, index),
                key,
                value: value.to_owned(),
                fix,
            }
        };
    let frame_entries = rules
        .native
        .iter()
        .map(|r| {
            (
                "native",
                r.module.as_str(),
                r.function.as_str(),
                texts(&r.what, &r.why, &r.example),
            )
        })
        .enumerate()
        .chain(
            rules
                .pure_python
                .iter()
                .map(|r| {
                    (
                        "pure_python",
                        r.module.as_str(),
                        r.function.as_str(),
                        texts(&r.what, &r.why, &r.example),
                    )
                })
                .enumerate(),
        );
    for (index, (table, module, function, texts)) in frame_entries {
        if !valid_pattern(module) || module == "*" {
            return Err(invalid(table, index, "module", module,
                "write a dotted module like \"json.encoder\", or \"numpy.*\" for a package and everything below it"));
        }
        if !valid_pattern(function) {
            return Err(invalid(table, index, "function", function,
                "write a qualified name like \"JSONEncoder.iterencode\", \"Class.*\" for a class and its methods, or \"*\" for every function"));
        }
        check_texts(texts, |key, value| {
            invalid(
                table,
                index,
                key,
                value,
                "write it out: every entry says what, why and an example",
            )
        })?;
    }
    for (index, rule) in rules.native_call.iter().enumerate() {
        let ok = match rule.kind {
            CallKind::Method | CallKind::Function => is_identifier(&rule.callee),
            CallKind::Qualified => {
                rule.callee.contains('.') && rule.callee.split('.').all(is_identifier)
            }
        };
        if !ok {
            let fix = match rule.kind {
                CallKind::Method | CallKind::Function => {
                    "write the bare name without `.` or `(`, e.g. \"findall\""
                }
                CallKind::Qualified => "write the dotted name without `(`, e.g. \"json.dumps\"",
            };
            return Err(invalid("native_call", index, "callee", &rule.callee, fix));
        }
        check_texts(texts(&rule.what, &rule.why, &rule.example), |key, value| {
            invalid(
                "native_call",
                index,
                key,
                value,
                "write it out: every entry says what, why and an example",
            )
        })?;
    }
    for (index, rule) in rules.analogue.iter().enumerate() {
        let patterns = rule.module.iter().chain(&rule.calls);
        if let Some(bad) = patterns.into_iter().find(|p| !valid_pattern(p)) {
            return Err(invalid(
                "analogue",
                index,
                "module/calls",
                bad,
                "write a dotted name, or `pkg.*` for a package and everything below it",
            ));
        }
        if rule.module.is_none()
            && rule.names.is_empty()
            && rule.calls.is_empty()
            && rule.operators.is_none()
        {
            return Err(invalid(
                "analogue",
                index,
                "module",
                "",
                "say what it matches: `module`, `names`, `calls` or `operators`",
            ));
        }
        if let Some(bad) = rule
            .operators
            .as_ref()
            .filter(|o| !matches!(o.as_str(), "arithmetic" | "sequences"))
        {
            return Err(invalid(
                "analogue",
                index,
                "operators",
                bad,
                "write `arithmetic` or `sequences`",
            ));
        }
        if rule.use_instead.is_none() && rule.rust_crate.is_none() {
            return Err(invalid(
                "analogue",
                index,
                "use",
                "",
                "say what to use instead: `use` (a Python library) or `crate` (a Rust crate)",
            ));
        }
        check_texts(texts(&rule.what, &rule.why, &rule.example), |key, value| {
            invalid(
                "analogue",
                index,
                key,
                value,
                "write it out: every entry says what, why and an example",
            )
        })?;
    }
    for (index, rule) in rules.interpreter.iter().enumerate() {
        let bad_symbol = rule.symbols.iter().find(|p| {
            let body = p.trim_start_matches('*').trim_end_matches('*');
            body.is_empty()
                || body.contains('*')
                || (p.starts_with('*') && p.ends_with('*'))
                || body.chars().any(char::is_whitespace)
        });
        if let Some(bad) = bad_symbol.or(rule.symbols.is_empty().then_some(&String::new())) {
            return Err(invalid(
                "interpreter",
                index,
                "symbols",
                bad,
                "write C symbol names, exact or with one `*` at the start or the end, e.g. \"list_append\" or \"dict_get*\"",
            ));
        }
        if let Some(bad) = rule.modules.iter().flatten().find(|m| {
            let body = m.trim_end_matches('*');
            body.is_empty() || body.contains('*')
        }) {
            return Err(invalid(
                "interpreter",
                index,
                "modules",
                bad,
                "write the start of a shared object's name, e.g. \"libc.\" or \"libpython\"",
            ));
        }
        check_texts(texts(&rule.what, &rule.why, &rule.example), |key, value| {
            invalid(
                "interpreter",
                index,
                key,
                value,
                "write it out: every entry says what, why and an example",
            )
        })?;
    }
    Ok(rules)
}

/// The prose keys of an entry, named.
fn texts<'a>(what: &'a str, why: &'a str, example: &'a str) -> [(&'static str, &'a str); 3] {
    [("what", what), ("why", why), ("example", example)]
}

/// Every entry says what, why and an example: an empty one is as good as missing.
fn check_texts(
    texts: [(&'static str, &str); 3],
    invalid: impl Fn(&'static str, &str) -> RuleError,
) -> Result<(), RuleError> {
    for (key, value) in texts {
        if value.trim().is_empty() {
            return Err(invalid(key, value));
        }
    }
    Ok(())
}

/// A module or function pattern: non-empty, no blanks, and `*` only as a whole or a `.*` end.
fn valid_pattern(pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let body = pattern.strip_suffix(".*").unwrap_or(pattern);
    !body.is_empty()
        && !body.contains('*')
        && !body.chars().any(char::is_whitespace)
        && !body.split('.').any(str::is_empty)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(is_name_char)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// 1-based line of the `[[table]]` header that opens entry `index` of the table.
fn entry_line(text: &str, table: &str, index: usize) -> Option<usize> {
    let header = format!("[[{table}]]");
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(&header))
        .nth(index)
        .map(|(n, _)| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(rules: &'a Rules, line: &str) -> Option<&'a str> {
        rules.native_call_on_line(line).map(|r| r.callee.as_str())
    }

    #[test]
    fn min_of_scalars_is_interpreted_but_min_of_an_iterable_is_native() {
        let rules = Rules::builtin();
        assert_eq!(call(&rules, "lowest = min(values)"), Some("min"));
        assert_eq!(call(&rules, "lowest = min(values, key=len)"), Some("min"));
        assert_eq!(call(&rules, "best = min(insert, delete, replace)"), None);
        assert_eq!(call(&rules, "m = max(f(a, b), c)"), None);
        assert_eq!(call(&rules, "m = max([a, b])"), Some("max"));
    }

    #[test]
    fn sum_over_a_generator_expression_resumes_python_not_c() {
        let rules = Rules::builtin();
        // pyperformance's hexiom: each item is the generator's frame resumed.
        let hexiom = "possible = sum((1 if v in cell else 0) for cell in done.cells)";
        assert_eq!(call(&rules, hexiom), None);
        assert_eq!(call(&rules, "n = sum(x * x for x in xs)"), None);
        assert_eq!(call(&rules, "top = max(len(w) for w in words)"), None);
        // A list built first, or a sequence: the loop over it is C.
        assert_eq!(call(&rules, "n = sum([x * x for x in xs])"), Some("sum"));
        assert_eq!(call(&rules, "n = sum(values)"), Some("sum"));
        assert_eq!(call(&rules, "n = sum(forces)"), Some("sum"));
        // sorted() sorts in C whatever it takes.
        assert_eq!(call(&rules, "s = sorted(x for x in xs)"), Some("sorted"));
    }

    #[test]
    fn builtin_file_parses_and_is_not_empty() {
        let rules = Rules::builtin();
        assert!(rules.native.len() >= 30);
        assert!(rules.native_calls.len() >= 50);
        assert!(rules.pure_python.len() >= 30);
    }

    #[test]
    fn every_builtin_call_rule_matches_its_own_example() {
        for rule in &Rules::builtin().native_calls {
            let code = code_of(&rule.example);
            assert!(
                call_start(&code, rule).is_some(),
                "{:?} `{}` does not match its example `{}`",
                rule.kind,
                rule.callee,
                rule.example
            );
        }
    }

    #[test]
    fn finds_a_native_frame_by_module_and_qualname() {
        let rules = Rules::builtin();
        let rule = rules
            .native_function("json.encoder", "JSONEncoder.iterencode")
            .expect("iterencode is native");
        assert!(rule.why.contains("c_make_encoder"));
        assert!(rules
            .native_function("json.encoder", "JSONEncoder")
            .is_none());
        assert!(rules
            .native_function("myapp.json.encoder", "JSONEncoder.iterencode")
            .is_none());
    }

    #[test]
    fn module_prefix_matches_the_package_and_below_only() {
        let rules = Rules::builtin();
        for module in ["numpy", "numpy.core.fromnumeric", "numpy._core.fromnumeric"] {
            assert!(rules.native_function(module, "sum").is_some(), "{module}");
        }
        assert!(rules.native_function("numpyish", "sum").is_none());
        assert!(rules
            .pure_python("email.feedparser", "FeedParser.feed")
            .is_some());
        assert!(rules.pure_python("emailer", "send").is_none());
    }

    #[test]
    fn function_prefix_covers_nested_definitions() {
        let rules = Rules::builtin();
        let nested = "Template.substitute.<locals>.convert";
        assert!(rules.pure_python("string", nested).is_some());
        assert!(rules.pure_python("string", "Templates").is_none());
        assert!(rules
            .pure_python("ast", "literal_eval.<locals>._convert")
            .is_some());
    }

    #[test]
    fn the_most_specific_frame_rule_wins_across_tables() {
        let rules = Rules::builtin();
        // `logging.*` is pure Python, but flushing the stream is I/O.
        assert!(rules
            .native_function("logging", "StreamHandler.flush")
            .is_some());
        assert!(rules
            .pure_python("logging", "StreamHandler.flush")
            .is_none());
        assert!(rules.pure_python("logging", "Logger.handle").is_some());
        assert!(rules.native_function("logging", "Logger.handle").is_none());
        // The specific copy.deepcopy entry is chosen over copy's `*`.
        let deepcopy = rules.pure_python("copy", "deepcopy").unwrap();
        assert_eq!(deepcopy.function, "deepcopy");
    }

    #[test]
    fn finds_a_method_call_and_ignores_comments() {
        let rules = Rules::builtin();
        let line = "    return len(WORD.findall(TEXT))  # .sub( in comment";
        assert_eq!(call(&rules, line), Some("findall"));
    }

    #[test]
    fn ignores_calls_inside_string_literals() {
        let rules = Rules::builtin();
        assert_eq!(
            call(&rules, r#"    msg = "use sorted(x) or x.findall(y)""#),
            None
        );
        assert_eq!(call(&rules, r#"    msg = 'it\'s json.dumps(x)'"#), None);
        assert_eq!(call(&rules, r#"    doc = """pickle.loads(b)""""#), None);
        assert_eq!(call(&rules, r#"    return ", ".join(names)"#), Some("join"));
    }

    #[test]
    fn function_kind_needs_a_bare_name() {
        let rules = Rules::builtin();
        assert_eq!(call(&rules, "    out = obj.sorted(items)"), None);
        assert_eq!(call(&rules, "    out = my_sorted(items)"), None);
        assert_eq!(call(&rules, "def sorted(items):"), None);
        assert_eq!(call(&rules, "    out = sorted (items)"), Some("sorted"));
    }

    #[test]
    fn the_leftmost_and_most_qualified_call_wins() {
        let rules = Rules::builtin();
        assert_eq!(
            call(&rules, "    parts = re.split(r',', line)"),
            Some("re.split")
        );
        assert_eq!(call(&rules, "    parts = line.split(',')"), Some("split"));
        assert_eq!(call(&rules, "    x = sorted(text.split())"), Some("sorted"));
        assert_eq!(
            call(&rules, "    d = datetime.datetime.fromisoformat(s)"),
            Some("datetime.fromisoformat")
        );
        assert_eq!(call(&rules, "    x = pre.split(',')"), Some("split"));
    }

    #[test]
    fn an_unknown_key_names_the_file_the_key_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        fs::write(
            &path,
            "[[native]]\nmodule = \"m\"\nfunction = \"f\"\nwat = \"x\"\nwhy = \"y\"\nexample = \"z\"\n",
        )
        .unwrap();
        let err = Rules::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("unknown field `wat`"), "{err}");
        assert!(err.contains("at line 4"), "{err}");
    }

    #[test]
    fn a_value_that_cannot_work_says_how_to_write_it() {
        let text = "[[native_call]]\ncallee = \"findall(\"\nkind = \"method\"\n\
                    what = \"w\"\nwhy = \"y\"\nexample = \"e\"\n";
        let err = parse("mine.toml", text).unwrap_err().to_string();
        assert!(
            err.starts_with("mine.toml: [[native_call]] entry 1 at line 1"),
            "{err}"
        );
        assert!(err.contains("callee = \"findall(\""), "{err}");
        let text = "[[native_call]]\ncallee = \"x\"\nkind = \"methd\"\n\
                    what = \"w\"\nwhy = \"y\"\nexample = \"e\"\n";
        let err = parse("mine.toml", text).unwrap_err().to_string();
        assert!(err.contains("unknown variant `methd`"), "{err}");
    }

    #[test]
    fn interpreter_symbols_match_in_their_modules_and_bad_patterns_are_refused() {
        let rules = Rules::builtin();
        let role = |s: &str, m: &str| rules.interpreter_role(s, m);
        let lib = "libpython3.12.so.1.0";
        assert_eq!(role("unicode_compare", lib), Some(InterpreterRole::Work));
        assert_eq!(
            role("list_dealloc", "python3.14"),
            Some(InterpreterRole::Work)
        );
        assert_eq!(
            role("method_vectorcall_O", lib),
            Some(InterpreterRole::Dispatch)
        );
        // A match's set-up passes on to the match loop, which is native work.
        assert_eq!(
            role("_sre_SRE_Pattern_match", lib),
            Some(InterpreterRole::Call)
        );
        assert_eq!(role("sre_ucs1_match", lib), None);
        // One pixel through Pillow's accessors is machinery; a whole-image operation is not.
        let imaging = "_imaging.cpython-311-x86_64-linux-gnu.so";
        assert_eq!(role("_putpixel_impl", imaging), Some(InterpreterRole::Work));
        assert_eq!(role("ImagingConvert", imaging), None);
        assert_eq!(role("list_append", "_ext.cpython-312.so"), None);
        assert_eq!(
            role("0x7f2843781961", "libc.so.6"),
            Some(InterpreterRole::Work)
        );
        assert_eq!(role("0x7f2843781961", lib), None);
        assert_eq!(role("read", "libc.so.6"), None);
        for bad in ["\"*\"", "\"a*b\"", "\"*mid*\"", "\"\""] {
            let text = format!(
                "[[interpreter]]\nrole = \"work\"\nsymbols = [{bad}]\n\
                 what = \"w\"\nwhy = \"y\"\nexample = \"e\"\n"
            );
            let err = parse("mine.toml", &text).unwrap_err().to_string();
            assert!(err.contains("[[interpreter]] entry 1"), "{bad}: {err}");
            assert!(err.contains("symbols"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_user_file_named_like_a_builtin_replaces_it_and_others_add() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("native.toml"),
            "[[native]]\nmodule = \"fastlib\"\nfunction = \"*\"\n\
             what = \"fastlib\"\nwhy = \"it is Rust\"\nexample = \"fastlib.go()\"\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("extra.toml"),
            "[[native_call]]\ncallee = \"crunch\"\nkind = \"function\"\n\
             what = \"crunch\"\nwhy = \"C\"\nexample = \"crunch(x)\"\n",
        )
        .unwrap();
        fs::write(dir.path().join("notes.txt"), "not rules").unwrap();
        let rules = Rules::load(Some(dir.path())).unwrap();
        assert_eq!(rules.native.len(), 1);
        assert!(rules.native_function("fastlib", "go").is_some());
        assert!(rules
            .native_function("json.encoder", "JSONEncoder.iterencode")
            .is_none());
        assert!(rules.pure_python.is_empty());
        assert_eq!(call(&rules, "    crunch(data)"), Some("crunch"));
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let err = Rules::load(Some(Path::new("/no/such/rules")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/no/such/rules: cannot read the rules directory"),
            "{err}"
        );
    }
}
