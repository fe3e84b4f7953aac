//! Facts about the Python functions of one source file, read with a real Python parser: where
//! each function starts and ends, its qualified name as CPython spells it, its signature, and
//! what its body does (loops, arithmetic, string work, calls, and the constructs that make a
//! port to Rust harder).
//!
//! This is the precise counterpart of the block scanner in [`super::blocks`]: it fails
//! on code that is not valid Python 3 (returning the parser's [`SyntaxError`]) instead of
//! guessing. It reads text only: decoding the file is the caller's job, and it knows nothing of
//! profiles or scores.

use std::collections::{BTreeMap, HashMap, HashSet};

use rustpython_ruff_python_ast::visitor::{self, Visitor};
use rustpython_ruff_python_ast::{
    self as ast, Expr, ExprContext, Operator, Parameters, Stmt, UnaryOp,
};
use rustpython_ruff_python_parser::parse_module;
use rustpython_ruff_text_size::{Ranged, TextSize};
use serde::Serialize;
use thiserror::Error;

use super::chains::{self, LoopChain};
use super::containers::{Container, Containers};
use super::ops::{
    Op, OpCounts, BUILTIN_FUNCTIONS, CONTAINER_CONSTRUCTORS, CONTAINER_METHODS, HASHING_METHODS,
};

/// Everything found in one source file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PyModuleInfo {
    /// Every `def` (sync or async) at any depth, in source order. Lambdas are not functions here.
    pub functions: Vec<PyFunction>,
    /// Every import statement at any depth, in source order, one entry per imported name.
    pub imports: Vec<Import>,
}

/// One imported name: `import a.b as c` is `{module: "a.b", name: None, alias: Some("c")}`,
/// `from a import b as c` is `{module: "a", name: Some("b"), alias: Some("c")}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    /// The dotted module; relative imports keep their leading dots (`..pkg`, `.`).
    pub module: String,
    /// The name taken from the module by `from ... import`; `*` for a star import.
    pub name: Option<String>,
    pub alias: Option<String>,
    pub line: u32,
    /// Qualified name of the function or class whose body holds the import; `None` at module
    /// level (including inside module-level `if`/`try` blocks).
    pub scope: Option<String>,
}

/// One `def` or `async def`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PyFunction {
    pub name: String,
    /// As CPython's `co_qualname`: `Outer.method`, `outer.<locals>.inner`.
    pub qualname: String,
    /// The class whose body holds the `def`, when it is a method.
    pub class_name: Option<String>,
    /// Line of the `def` keyword (1-based).
    pub first_line: u32,
    /// Line of the first decorator, or `first_line` when undecorated. This is CPython's
    /// `co_firstlineno`, the line a sampler reports for the function.
    pub decorator_line: u32,
    /// Last line of the body.
    pub last_line: u32,
    pub is_async: bool,
    /// `yield` or `yield from` directly in the body (not in nested functions or lambdas).
    pub is_generator: bool,
    /// Each decorator's expression as written, without the `@`.
    pub decorators: Vec<String>,
    pub params: Vec<Param>,
    /// The return annotation as written.
    pub returns: Option<String>,
    /// The docstring, with its indentation removed as `inspect.cleandoc` does.
    pub docstring: Option<String>,
    /// The whole lines from `decorator_line` to `last_line`, as `inspect.getsource` gives them.
    pub source: String,
    pub features: Features,
}

/// One parameter of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    /// The annotation as written.
    pub annotation: Option<String>,
    /// The default value as written.
    pub default: Option<String>,
}

/// Where a parameter sits in the signature, as `inspect.Parameter.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Before `/`.
    PositionalOnly,
    /// Positional or keyword.
    Positional,
    /// `*args`.
    VarArgs,
    /// After `*` or `*args`.
    KeywordOnly,
    /// `**kwargs`.
    VarKeywords,
}

/// What a function's body does. Nested functions, classes and lambdas are excluded, except
/// their decorators, default values and base classes, which run in this body; comprehensions
/// are included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Features {
    /// Lines calling `eval`, `exec` or `compile`.
    pub eval_exec: Vec<u32>,
    /// `global` and `nonlocal` statements: their line and names.
    pub globals: Vec<(u32, Vec<String>)>,
    /// Calls of a parameter (`key(x)` where `key` is a parameter): calls back into Python
    /// supplied by the caller.
    pub callbacks: Vec<(u32, String)>,
    /// Lines looking attributes or variables up by name: `getattr`, `setattr`, `delattr`,
    /// `hasattr`, `vars`, `globals`, `locals`, `__dict__`, `__getattr__`, `__setattr__`,
    /// `__delattr__`, `__getattribute__`.
    pub dynamic_attrs: Vec<u32>,
    /// `yield` and `yield from` expressions.
    pub yields: u32,
    /// `await` expressions, `async for`, `async with` and async comprehensions.
    pub awaits: u32,
    /// `for` and `while` statements and the `for` clauses of comprehensions.
    pub loops: u32,
    /// Binary and unary arithmetic (`not` excluded), augmented assignments included.
    pub arithmetic: u32,
    /// Comparison operators (`a < b < c` counts two).
    pub comparisons: u32,
    pub subscripts: u32,
    pub attribute_loads: u32,
    pub calls: u32,
    /// Calls of string methods (`.split()`, `.join()`, ...), f-strings and `"..." % x`.
    pub string_methods: u32,
    /// Dotted names of called functions, first-seen order, once each: `math.sqrt`,
    /// `self.step`, `len`. Calls of anything but a (dotted) name are left out.
    pub called_names: Vec<String>,
    /// Imported modules the body refers to, resolved through the imports in force (module level,
    /// enclosing functions, the body itself): `np.dot` gives `numpy`. First-seen order, once each.
    pub modules_used: Vec<String>,
    /// The operations each line of the body executes once, by class ([`Op`]), keyed by the
    /// line of the expression or statement that performs them.
    #[serde(skip)]
    pub line_ops: BTreeMap<u32, OpCounts>,
    /// The calls of a plain name counted as [`Op::Call`], by line: the candidates for
    /// [`Op::InlinedCall`], decided once the whole module is read.
    #[serde(skip)]
    pub named_calls: Vec<(u32, String)>,
    /// The loops whose iterations wait on a chain of float operations (see [`chains`]).
    #[serde(skip)]
    pub float_chains: Vec<LoopChain>,
}

/// Source the parser rejects: not Python 3 (`print "x"`), or broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Error)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    pub line: u32,
    pub message: String,
}

impl PyModuleInfo {
    /// The function with this qualname. When several match (a name defined twice) and `line` is
    /// given, the one whose `decorator_line..=last_line` holds it or whose `first_line` or
    /// `decorator_line` equals it; without `line`, the last definition, the one Python keeps.
    pub fn find(&self, qualname: &str, line: Option<u32>) -> Option<&PyFunction> {
        let matching: Vec<&PyFunction> = self
            .functions
            .iter()
            .filter(|f| f.qualname == qualname)
            .collect();
        match (matching.as_slice(), line) {
            ([only], _) => Some(only),
            (all, None) => all.last().copied(),
            (all, Some(line)) => all
                .iter()
                .find(|f| f.first_line == line || f.decorator_line == line)
                .or_else(|| {
                    all.iter()
                        .find(|f| f.decorator_line <= line && line <= f.last_line)
                })
                .copied(),
        }
    }

    /// The innermost function whose lines (decorators included) hold `line`.
    pub fn function_at(&self, line: u32) -> Option<&PyFunction> {
        self.functions
            .iter()
            .filter(|f| f.decorator_line <= line && line <= f.last_line)
            .max_by_key(|f| (f.decorator_line, std::cmp::Reverse(f.last_line)))
    }
}

/// Parses a module's source text and describes its functions and imports.
pub fn parse_source(text: &str) -> Result<PyModuleInfo, SyntaxError> {
    // A byte-order mark is not Python; dropping it moves no line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = Lines::new(text);
    let parsed = parse_module(text).map_err(|e| SyntaxError {
        line: lines.line_of(e.location.start()),
        message: e.error.to_string(),
    })?;
    let module = parsed.syntax();
    let mut collector = Collector {
        lines: &lines,
        scopes: Vec::new(),
        imports: Vec::new(),
        defs: Vec::new(),
    };
    collector.body(&module.body);
    let Collector { imports, defs, .. } = collector;
    let methods: HashSet<&str> = defs
        .iter()
        .filter(|d| d.class_name.is_some())
        .map(|d| d.def.name.as_str())
        .collect();
    let containers = Containers::of(&module.body);
    let mut functions: Vec<PyFunction> = defs
        .iter()
        .map(|d| describe(d, text, &lines, &imports, &methods, &containers))
        .collect();
    mark_inlined_calls(&mut functions);
    Ok(PyModuleInfo { functions, imports })
}

/// The longest function, in lines from `def` to its end, whose calls count as inlined.
const INLINED_MAX_LINES: u32 = 8;

/// Moves the calls of small leaf functions from [`Op::Call`] to [`Op::InlinedCall`]. A callee
/// qualifies when it is a module-level `def`, its name defined once in the file, not
/// decorated, not a generator or a coroutine, with no loop and no call of a Python function,
/// and at most [`INLINED_MAX_LINES`] long: ported along with its caller, such a function is
/// compiled into it. A caller's own recursion never qualifies (the callee would call itself).
fn mark_inlined_calls(functions: &mut [PyFunction]) {
    // A name defined twice anywhere in the file (a method, a nested function) may not be the
    // module-level function a call of it reaches.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut defined_twice: HashSet<&str> = HashSet::new();
    for f in functions.iter() {
        if !seen.insert(f.name.as_str()) {
            defined_twice.insert(f.name.as_str());
        }
    }
    let qualifies = |f: &PyFunction| {
        f.class_name.is_none()
            && f.qualname == f.name
            && f.decorators.is_empty()
            && !f.is_async
            && !f.is_generator
            && f.features.loops == 0
            && f.last_line - f.first_line < INLINED_MAX_LINES
            && f.features
                .line_ops
                .values()
                .all(|ops| ops[Op::Call.index()] == 0)
    };
    let inlined: HashSet<String> = functions
        .iter()
        .filter(|f| qualifies(f) && !defined_twice.contains(f.name.as_str()))
        .map(|f| f.name.clone())
        .collect();
    if inlined.is_empty() {
        return;
    }
    for f in functions.iter_mut() {
        let Features {
            named_calls,
            line_ops,
            ..
        } = &mut f.features;
        for (line, name) in named_calls.iter() {
            if *name == f.name || !inlined.contains(name) {
                continue;
            }
            if let Some(ops) = line_ops
                .get_mut(line)
                .filter(|ops| ops[Op::Call.index()] > 0)
            {
                ops[Op::Call.index()] -= 1;
                ops[Op::InlinedCall.index()] += 1;
            }
        }
    }
}

/// Line starts of a text, to turn byte offsets into 1-based line numbers.
struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            // Python ends lines at `\n`, `\r\n` and a lone `\r`.
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        Lines { text, starts }
    }

    fn line_of(&self, offset: TextSize) -> u32 {
        let offset = usize::from(offset);
        self.starts.partition_point(|&s| s <= offset) as u32
    }

    /// The text of lines `first..=last`, without the final line break.
    fn span(&self, first: u32, last: u32) -> &'t str {
        let start = self.starts[(first as usize).saturating_sub(1)];
        let end = self
            .starts
            .get(last as usize)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end.max(start)].trim_end_matches(['\n', '\r'])
    }
}

/// A function or class body being walked, for qualified names and scoped imports.
struct Scope {
    name: String,
    qualname: String,
    is_class: bool,
    /// Names declared `global` so far in this body.
    globals: Vec<String>,
}

/// A `def` found by the [`Collector`], before it is described.
struct FoundDef<'a> {
    def: &'a ast::StmtFunctionDef,
    qualname: String,
    class_name: Option<String>,
}

/// Walks statements (not expressions: lambdas hold no `def`) for functions and imports.
struct Collector<'a, 't> {
    lines: &'a Lines<'t>,
    scopes: Vec<Scope>,
    imports: Vec<Import>,
    defs: Vec<FoundDef<'a>>,
}

impl<'a> Collector<'a, '_> {
    fn body(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            self.stmt(stmt);
        }
    }

    /// The qualified name of `name` defined in the current body, by CPython's rule: a name
    /// declared `global` in the enclosing body is qualified like a module-level one.
    fn qualname(&self, name: &str) -> String {
        match self.scopes.last() {
            None => name.to_owned(),
            Some(s) if s.globals.iter().any(|g| g == name) => name.to_owned(),
            Some(s) if s.is_class => format!("{}.{name}", s.qualname),
            Some(s) => format!("{}.<locals>.{name}", s.qualname),
        }
    }

    fn enter(&mut self, name: &str, is_class: bool, body: &'a [Stmt]) {
        let qualname = self.qualname(name);
        self.scopes.push(Scope {
            name: name.to_owned(),
            qualname,
            is_class,
            globals: Vec::new(),
        });
        self.body(body);
        self.scopes.pop();
    }

    fn stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                let name = def.name.as_str();
                let class_name = self
                    .scopes
                    .last()
                    .filter(|s| s.is_class)
                    .map(|s| s.name.clone());
                self.defs.push(FoundDef {
                    def,
                    qualname: self.qualname(name),
                    class_name,
                });
                self.enter(name, false, &def.body);
            }
            Stmt::ClassDef(class) => self.enter(class.name.as_str(), true, &class.body),
            Stmt::Global(global) => {
                if let Some(scope) = self.scopes.last_mut() {
                    scope
                        .globals
                        .extend(global.names.iter().map(|n| n.as_str().to_owned()));
                }
            }
            Stmt::Import(import) => {
                let line = self.lines.line_of(import.start());
                for alias in &import.names {
                    self.imports.push(Import {
                        module: alias.name.as_str().to_owned(),
                        name: None,
                        alias: alias.asname.as_ref().map(|a| a.as_str().to_owned()),
                        line,
                        scope: self.scopes.last().map(|s| s.qualname.clone()),
                    });
                }
            }
            Stmt::ImportFrom(import) => {
                let line = self.lines.line_of(import.start());
                let module = format!(
                    "{}{}",
                    ".".repeat(import.level as usize),
                    import.module.as_ref().map_or("", |m| m.as_str())
                );
                for alias in &import.names {
                    self.imports.push(Import {
                        module: module.clone(),
                        name: Some(alias.name.as_str().to_owned()),
                        alias: alias.asname.as_ref().map(|a| a.as_str().to_owned()),
                        line,
                        scope: self.scopes.last().map(|s| s.qualname.clone()),
                    });
                }
            }
            Stmt::For(s) => {
                self.body(&s.body);
                self.body(&s.orelse);
            }
            Stmt::While(s) => {
                self.body(&s.body);
                self.body(&s.orelse);
            }
            Stmt::If(s) => {
                self.body(&s.body);
                for clause in &s.elif_else_clauses {
                    self.body(&clause.body);
                }
            }
            Stmt::With(s) => self.body(&s.body),
            Stmt::Match(s) => {
                for case in &s.cases {
                    self.body(&case.body);
                }
            }
            Stmt::Try(s) => {
                self.body(&s.body);
                for handler in &s.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = handler;
                    self.body(&h.body);
                }
                self.body(&s.orelse);
                self.body(&s.finalbody);
            }
            _ => {}
        }
    }
}

/// Builds the full description of one `def`; `methods` are the names of the methods the file's
/// classes define, `containers` what the file's assignments bind.
fn describe(
    found: &FoundDef,
    text: &str,
    lines: &Lines,
    imports: &[Import],
    methods: &HashSet<&str>,
    containers: &Containers,
) -> PyFunction {
    let def = found.def;
    let src = |node: &dyn Ranged| text[node.range()].to_owned();

    // The `def` keyword precedes the name, maybe across a line continuation.
    let name_start = usize::from(def.name.start());
    let before = text[..name_start].trim_end_matches(|c: char| c.is_whitespace() || c == '\\');
    let first_line = match before.strip_suffix("def") {
        Some(rest) => lines.line_of(TextSize::new(rest.len() as u32)),
        None => lines.line_of(def.name.start()),
    };
    let decorator_line = def
        .decorator_list
        .first()
        .map_or(first_line, |d| lines.line_of(d.start()));
    let last_line = lines.line_of(def.end()).max(first_line);

    let params = params(&def.parameters, &src);
    // `cls(...)` and `self(...)` construct or call the function's own object, not the caller's.
    let parameter_names: HashSet<&str> = def
        .parameters
        .iter()
        .map(|p| p.name().as_str())
        .filter(|n| !matches!(*n, "self" | "cls"))
        .collect();
    let bindings = bindings_for(&found.qualname, imports);
    let mut scan = BodyScan {
        lines,
        parameters: &parameter_names,
        bindings: &bindings,
        methods,
        containers,
        locals: Containers::of_function(def),
        features: Features::default(),
        called: HashSet::new(),
        modules: HashSet::new(),
        method_aliases: HashMap::new(),
        loop_headers: HashSet::new(),
    };
    scan.visit_body(&def.body);
    let mut features = scan.features;
    let float_params: Vec<&str> = def
        .parameters
        .iter()
        .filter(|p| matches!(p.annotation(), Some(Expr::Name(n)) if n.id.as_str() == "float"))
        .map(|p| p.name().as_str())
        .collect();
    features.float_chains = chains::float_chains(&def.body, &float_params, &|node| {
        lines.line_of(node.start())
    });
    features.eval_exec.sort_unstable();
    features.eval_exec.dedup();
    features.dynamic_attrs.sort_unstable();
    features.dynamic_attrs.dedup();

    PyFunction {
        name: def.name.as_str().to_owned(),
        qualname: found.qualname.clone(),
        class_name: found.class_name.clone(),
        first_line,
        decorator_line,
        last_line,
        is_async: def.is_async,
        is_generator: features.yields > 0,
        decorators: def
            .decorator_list
            .iter()
            .map(|d| src(&d.expression))
            .collect(),
        params,
        returns: def.returns.as_deref().map(|r| src(r)),
        docstring: docstring(&def.body),
        source: lines.span(decorator_line, last_line).to_owned(),
        features,
    }
}

fn params(parameters: &Parameters, src: &dyn Fn(&dyn Ranged) -> String) -> Vec<Param> {
    let mut out = Vec::new();
    let mut push = |p: &ast::Parameter, kind: ParamKind, default: Option<&Expr>| {
        out.push(Param {
            name: p.name.as_str().to_owned(),
            kind,
            annotation: p.annotation.as_deref().map(|a| src(a)),
            default: default.map(|d| src(d)),
        });
    };
    for p in &parameters.posonlyargs {
        push(
            &p.parameter,
            ParamKind::PositionalOnly,
            p.default.as_deref(),
        );
    }
    for p in &parameters.args {
        push(&p.parameter, ParamKind::Positional, p.default.as_deref());
    }
    if let Some(p) = &parameters.vararg {
        push(p, ParamKind::VarArgs, None);
    }
    for p in &parameters.kwonlyargs {
        push(&p.parameter, ParamKind::KeywordOnly, p.default.as_deref());
    }
    if let Some(p) = &parameters.kwarg {
        push(p, ParamKind::VarKeywords, None);
    }
    out
}

/// The body's leading string literal, cleaned like `inspect.cleandoc`.
fn docstring(body: &[Stmt]) -> Option<String> {
    let Some(Stmt::Expr(stmt)) = body.first() else {
        return None;
    };
    let Expr::StringLiteral(literal) = stmt.value.as_ref() else {
        return None;
    };
    let raw = literal.value.to_str();
    let mut lines: Vec<&str> = raw.lines().collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    if let Some(first) = lines.first_mut() {
        *first = first.trim_start();
    }
    for line in lines.iter_mut().skip(1) {
        *line = line.get(margin..).unwrap_or_else(|| line.trim_start());
    }
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    Some(lines.join("\n"))
}

/// A name an import binds: `local` refers to `module`.
struct Binding {
    local: String,
    module: String,
    /// `import a.b.c` without `as`: binds `a`, and `a.b.c.f` reaches `a.b.c`.
    plain: bool,
}

/// The imports visible in a function's body: module level, its enclosing functions', its own.
fn bindings_for(qualname: &str, imports: &[Import]) -> Vec<Binding> {
    let visible = |scope: &Option<String>| match scope {
        None => true,
        Some(s) => s == qualname || qualname.starts_with(&format!("{s}.<locals>.")),
    };
    imports
        .iter()
        .filter(|i| visible(&i.scope))
        .filter(|i| i.name.as_deref() != Some("*"))
        .map(|i| match (&i.name, &i.alias) {
            (None, None) => Binding {
                local: i.module.split('.').next().unwrap_or_default().to_owned(),
                module: i.module.clone(),
                plain: true,
            },
            (name, alias) => Binding {
                local: alias.clone().or_else(|| name.clone()).unwrap_or_default(),
                module: i.module.clone(),
                plain: false,
            },
        })
        .collect()
}

/// Methods of `str` and `bytes` whose names other common types rarely share.
const STRING_METHODS: &[&str] = &[
    "split",
    "rsplit",
    "splitlines",
    "join",
    "strip",
    "lstrip",
    "rstrip",
    "replace",
    "lower",
    "upper",
    "casefold",
    "title",
    "capitalize",
    "swapcase",
    "startswith",
    "endswith",
    "find",
    "rfind",
    "encode",
    "decode",
    "format",
    "format_map",
    "partition",
    "rpartition",
    "center",
    "ljust",
    "rjust",
    "zfill",
    "expandtabs",
    "translate",
    "maketrans",
    "isdigit",
    "isalpha",
    "isalnum",
    "isspace",
    "isupper",
    "islower",
    "isnumeric",
    "isdecimal",
    "isidentifier",
    "removeprefix",
    "removesuffix",
];

/// Builtins that look attributes or variables up by name.
const DYNAMIC_BUILTINS: &[&str] = &[
    "getattr", "setattr", "delattr", "hasattr", "vars", "globals", "locals",
];

/// Attributes that expose or hook an object's namespace.
const DYNAMIC_DUNDERS: &[&str] = &[
    "__dict__",
    "__getattr__",
    "__setattr__",
    "__delattr__",
    "__getattribute__",
];

/// Counts what one function body does; see [`Features`] for what is in and out.
struct BodyScan<'a, 't> {
    lines: &'a Lines<'t>,
    parameters: &'a HashSet<&'a str>,
    bindings: &'a [Binding],
    /// The methods the file's own classes define: `square.find()` in a file whose `Square`
    /// defines `find` most likely calls that method, not `str.find`.
    methods: &'a HashSet<&'a str>,
    /// What the file's assignments bind, for attributes (`self.hash_set = set()`), and what
    /// the function's own bind, for its names: a method called on a builtin container is
    /// that container's, whatever classes the file defines.
    containers: &'a Containers,
    locals: Containers,
    features: Features,
    called: HashSet<String>,
    modules: HashSet<String>,
    /// Names bound to a builtin container's or string's method (`ins = perm.insert`, the
    /// idiom that saves the attribute lookup in a loop), with the class of their calls.
    method_aliases: HashMap<String, Op>,
    /// Where the calls that make a loop's sequence start (`for i in range(n)`): see
    /// [`LOOP_BUILTINS`].
    loop_headers: HashSet<TextSize>,
}

/// Builtins that make the sequence a `for` loop or a comprehension walks (`for i in
/// range(n)`, `for i, x in enumerate(xs)`): such a call is the loop's own step, which a port
/// compiles to a counter or a slice iterator ([`Op::Iterate`]), not a call that does work.
const LOOP_BUILTINS: &[&str] = &["range", "enumerate", "zip", "reversed"];

impl BodyScan<'_, '_> {
    /// Notes a loop over `iter` whose sequence is made by a [`LOOP_BUILTINS`] call.
    fn loop_over(&mut self, iter: &Expr) {
        if let Expr::Call(call) = iter {
            if matches!(call.func.as_ref(), Expr::Name(n) if LOOP_BUILTINS.contains(&n.id.as_str()))
            {
                self.loop_headers.insert(call.start());
            }
        }
    }

    fn line(&self, node: &dyn Ranged) -> u32 {
        self.lines.line_of(node.start())
    }

    /// The builtin container `receiver` holds, where the assignments say.
    fn container(&self, receiver: &Expr) -> Option<Container> {
        self.locals.held_by(self.containers, receiver)
    }

    /// Counts one operation of class `op`, performed by `node`.
    fn op(&mut self, node: &dyn Ranged, op: Op) {
        let line = self.line(node);
        self.features.line_ops.entry(line).or_default()[op.index()] += 1;
    }

    fn use_module(&mut self, module: &str) {
        if self.modules.insert(module.to_owned()) {
            self.features.modules_used.push(module.to_owned());
        }
    }

    /// Records the modules a dotted name (`np.linalg.norm`, `os.path.join`) refers to.
    fn resolve(&mut self, dotted: &str) {
        let root = dotted.split('.').next().unwrap_or(dotted);
        let mut found: Vec<String> = Vec::new();
        for b in self.bindings.iter().filter(|b| b.local == root) {
            let module = if b.plain {
                // `import os.path` binds `os`: `os.path.join` uses `os.path`, `os.sep` uses `os`.
                self.bindings
                    .iter()
                    .filter(|o| o.plain && o.local == root)
                    .map(|o| o.module.as_str())
                    .filter(|m| dotted == *m || dotted.starts_with(&format!("{m}.")))
                    .max_by_key(|m| m.len())
                    .unwrap_or(root)
                    .to_owned()
            } else {
                b.module.clone()
            };
            if !found.contains(&module) {
                found.push(module);
            }
        }
        for module in found {
            self.use_module(&module);
        }
    }

    /// Counts one attribute access: a load, maybe of a namespace hook.
    fn attribute(&mut self, attr: &ast::ExprAttribute) {
        if attr.ctx == ExprContext::Load {
            self.features.attribute_loads += 1;
        }
        self.op(attr, Op::Attribute);
        if DYNAMIC_DUNDERS.contains(&attr.attr.as_str()) {
            let line = self.line(attr);
            self.features.dynamic_attrs.push(line);
        }
    }

    fn call(&mut self, call: &ast::ExprCall) {
        self.features.calls += 1;
        let line = self.line(call);
        let op = match call.func.as_ref() {
            _ if self.loop_headers.contains(&call.start()) => Op::Iterate,
            Expr::Name(n) if CONTAINER_CONSTRUCTORS.contains(&n.id.as_str()) => Op::Build,
            Expr::Name(n) if BUILTIN_FUNCTIONS.contains(&n.id.as_str()) => Op::BuiltinCall,
            Expr::Name(n) => self
                .method_aliases
                .get(n.id.as_str())
                .copied()
                .unwrap_or(Op::Call),
            Expr::Attribute(a) if self.container(&a.value).is_some() => {
                method_class(a.attr.as_str()).unwrap_or(Op::BuiltinCall)
            }
            Expr::Attribute(a) if self.methods.contains(a.attr.as_str()) => Op::Call,
            Expr::Attribute(a) => method_class(a.attr.as_str()).unwrap_or(Op::Call),
            _ => Op::Call,
        };
        self.op(call, op);
        if let (Op::Call, Expr::Name(n)) = (op, call.func.as_ref()) {
            if !self.parameters.contains(n.id.as_str()) {
                self.features
                    .named_calls
                    .push((line, n.id.as_str().to_owned()));
            }
        }
        if let Some(name) = dotted(&call.func) {
            if self.called.insert(name.clone()) {
                self.features.called_names.push(name);
            }
        }
        match call.func.as_ref() {
            Expr::Name(n) => {
                let id = n.id.as_str();
                if matches!(id, "eval" | "exec" | "compile") {
                    self.features.eval_exec.push(line);
                }
                if DYNAMIC_BUILTINS.contains(&id) {
                    self.features.dynamic_attrs.push(line);
                }
                if self.parameters.contains(id) {
                    self.features.callbacks.push((line, id.to_owned()));
                }
            }
            Expr::Attribute(a) => {
                let attr = a.attr.as_str();
                // `os.path.join` is a module's function, not `str.join`.
                let on_module = dotted(&a.value).is_some_and(|d| {
                    let root = d.split('.').next().unwrap_or_default();
                    self.bindings.iter().any(|b| b.local == root)
                });
                if STRING_METHODS.contains(&attr) && !on_module && !self.methods.contains(attr) {
                    self.features.string_methods += 1;
                }
                if matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "builtins")
                    && matches!(attr, "eval" | "exec" | "compile")
                {
                    self.features.eval_exec.push(line);
                }
            }
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for BodyScan<'_, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            // A nested def or class runs only its decorators, defaults and bases here.
            Stmt::FunctionDef(def) => {
                for d in &def.decorator_list {
                    self.visit_decorator(d);
                }
                for p in def.parameters.iter_non_variadic_params() {
                    if let Some(d) = &p.default {
                        self.visit_expr(d);
                    }
                }
            }
            Stmt::ClassDef(class) => {
                for d in &class.decorator_list {
                    self.visit_decorator(d);
                }
                if let Some(args) = &class.arguments {
                    self.visit_arguments(args);
                }
            }
            Stmt::Global(g) => {
                let names = g.names.iter().map(|n| n.as_str().to_owned()).collect();
                let line = self.line(g);
                self.features.globals.push((line, names));
            }
            Stmt::Nonlocal(g) => {
                let names = g.names.iter().map(|n| n.as_str().to_owned()).collect();
                let line = self.line(g);
                self.features.globals.push((line, names));
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.use_module(alias.name.as_str());
                }
            }
            Stmt::ImportFrom(import) => {
                let module = format!(
                    "{}{}",
                    ".".repeat(import.level as usize),
                    import.module.as_ref().map_or("", |m| m.as_str())
                );
                self.use_module(&module);
            }
            _ => {
                match stmt {
                    Stmt::For(s) => {
                        self.features.loops += 1;
                        self.features.awaits += u32::from(s.is_async);
                        self.op(s, Op::Iterate);
                        self.loop_over(&s.iter);
                    }
                    Stmt::While(s) => {
                        self.features.loops += 1;
                        self.op(s, Op::Iterate);
                    }
                    Stmt::With(s) => self.features.awaits += u32::from(s.is_async),
                    Stmt::AugAssign(s) => {
                        self.features.arithmetic += 1;
                        self.op(s, Op::Arithmetic);
                    }
                    Stmt::Assign(s) => {
                        for _ in s.targets.iter().filter(|t| matches!(t, Expr::Name(_))) {
                            self.op(s, Op::Store);
                        }
                        if let [Expr::Name(alias)] = &s.targets[..] {
                            let class = match &*s.value {
                                Expr::Attribute(a) => method_class(a.attr.as_str()),
                                _ => None,
                            };
                            match class {
                                Some(class) => {
                                    self.method_aliases.insert(alias.id.to_string(), class)
                                }
                                None => self.method_aliases.remove(alias.id.as_str()),
                            };
                        }
                    }
                    Stmt::AnnAssign(s) if s.value.is_some() => {
                        if matches!(&*s.target, Expr::Name(_)) {
                            self.op(s, Op::Store);
                        }
                    }
                    Stmt::Return(s) => self.op(s, Op::Store),
                    _ => {}
                }
                visitor::walk_stmt(self, stmt);
            }
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => return,
            Expr::Attribute(attr) => {
                // A dotted name is resolved whole (`os.path.join` may use `os.path`) and not
                // walked further, so that its root is not resolved again on its own.
                if let Some(name) = dotted(expr) {
                    self.resolve(&name);
                    let mut link = expr;
                    while let Expr::Attribute(a) = link {
                        self.attribute(a);
                        link = &a.value;
                    }
                    return;
                }
                self.attribute(attr);
            }
            Expr::Name(n) if n.ctx == ExprContext::Load => self.resolve(n.id.as_str()),
            Expr::Call(call) => self.call(call),
            Expr::Yield(_) | Expr::YieldFrom(_) => self.features.yields += 1,
            Expr::Await(_) => self.features.awaits += 1,
            Expr::BinOp(b) => {
                if b.op == Operator::Mod && matches!(&*b.left, Expr::StringLiteral(_)) {
                    self.features.string_methods += 1;
                    self.op(b, Op::Text);
                } else if let Some(class) = sequence_operation(b) {
                    // `a[i:] + a[:i]`, `[0] * n`, `"-" * width`: a new sequence, built in C
                    // by CPython and allocated by a port alike, not arithmetic on numbers.
                    self.features.string_methods += u32::from(class == Op::Text);
                    self.op(b, class);
                } else {
                    self.features.arithmetic += 1;
                    self.op(b, Op::Arithmetic);
                }
            }
            Expr::UnaryOp(u) if u.op != UnaryOp::Not => {
                self.features.arithmetic += 1;
                self.op(u, Op::Arithmetic);
            }
            Expr::Compare(c) => {
                self.features.comparisons += c.ops.len() as u32;
                for op in c.ops.iter() {
                    let class = if matches!(op, ast::CmpOp::In | ast::CmpOp::NotIn) {
                        Op::Lookup
                    } else {
                        Op::Compare
                    };
                    self.op(c, class);
                }
            }
            // A slice copies a run of elements into a new list (or, assigned to, moves them),
            // where an index reads one element.
            Expr::Subscript(s) if matches!(&*s.slice, Expr::Slice(_)) => {
                self.features.subscripts += 1;
                self.op(s, Op::Slice);
            }
            // `counts[word]` on a dict hashes the key, as `word in counts` does.
            Expr::Subscript(s) => {
                self.features.subscripts += 1;
                let class = match self.container(&s.value) {
                    Some(Container::Mapping) => Op::Lookup,
                    _ => Op::Index,
                };
                self.op(s, class);
            }
            Expr::FString(f) => {
                self.features.string_methods += 1;
                self.op(f, Op::Text);
            }
            // A tuple or list on the left of `=` or after `for` unpacks; it builds nothing.
            Expr::Tuple(t) if t.ctx != ExprContext::Load => {}
            Expr::List(l) if l.ctx != ExprContext::Load => {}
            Expr::List(_)
            | Expr::Tuple(_)
            | Expr::Dict(_)
            | Expr::Set(_)
            | Expr::ListComp(_)
            | Expr::SetComp(_)
            | Expr::DictComp(_)
            | Expr::Generator(_) => self.op(expr, Op::Build),
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.features.loops += 1;
        self.op(comprehension, Op::Iterate);
        self.loop_over(&comprehension.iter);
        self.features.awaits += u32::from(comprehension.is_async);
        visitor::walk_comprehension(self, comprehension);
    }
}

/// The class of a call of the method `attr` of a builtin container or a string: hashing one
/// key, a container's own work, or string work; `None` for any other method.
fn method_class(attr: &str) -> Option<Op> {
    if HASHING_METHODS.contains(&attr) {
        Some(Op::Lookup)
    } else if CONTAINER_METHODS.contains(&attr) {
        Some(Op::BuiltinCall)
    } else if STRING_METHODS.contains(&attr) {
        Some(Op::Text)
    } else {
        None
    }
}

/// The class of a `+` or `*` that joins or repeats sequences, as far as the syntax shows it: an
/// operand that is a string (`Text`), or a slice, a display or a list comprehension (`Build`).
fn sequence_operation(b: &ast::ExprBinOp) -> Option<Op> {
    if !matches!(b.op, Operator::Add | Operator::Mult) {
        return None;
    }
    let operands = [&*b.left, &*b.right];
    if operands
        .iter()
        .any(|e| matches!(e, Expr::StringLiteral(_) | Expr::FString(_)))
    {
        return Some(Op::Text);
    }
    operands
        .iter()
        .any(|e| match e {
            Expr::Subscript(s) => matches!(&*s.slice, Expr::Slice(_)),
            Expr::List(_) | Expr::Tuple(_) | Expr::ListComp(_) | Expr::BytesLiteral(_) => true,
            _ => false,
        })
        .then_some(Op::Build)
}

/// `a`, `a.b`, `a.b.c`: a name or a chain of attributes on a name.
fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(n) => Some(n.id.as_str().to_owned()),
        Expr::Attribute(a) => Some(format!("{}.{}", dotted(&a.value)?, a.attr.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PyModuleInfo {
        parse_source(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// How many operations of a class each line of function `qualname` performs.
    fn ops_of<'m>(m: &'m PyModuleInfo, qualname: &str) -> impl Fn(u32, Op) -> u32 + 'm {
        let ops = &get(m, qualname).features.line_ops;
        move |line, op| ops.get(&line).map_or(0, |c| c[op.index()])
    }

    fn get<'m>(m: &'m PyModuleInfo, qualname: &str) -> &'m PyFunction {
        m.find(qualname, None)
            .unwrap_or_else(|| panic!("no {qualname}"))
    }

    const NESTED: &str = r#"import functools

def outer(n):
    """Sum of inner results.

        Indented detail.
    """
    def inner(k):
        def deepest():
            return k
        return deepest() * 2
    return sum(inner(i) for i in range(n))

class Shape:
    """A shape."""

    class Unit:
        def scale(self, x):
            return x

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def area(w: float,
             h: float = 1.0) -> float:
        return w * h  # trailing

    async def fetch(self, client, /, retries=3, *urls, timeout: int, **options):
        async with client:
            return await client.get(urls[0])

def make():
    class Local:
        def method(self):
            pass
    return Local

def declared():
    global helper
    def helper():
        pass

square = lambda x: x * x
"#;

    #[test]
    fn qualnames_follow_cpython() {
        let m = parse(NESTED);
        let names: Vec<&str> = m.functions.iter().map(|f| f.qualname.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "outer",
                "outer.<locals>.inner",
                "outer.<locals>.inner.<locals>.deepest",
                "Shape.Unit.scale",
                "Shape.area",
                "Shape.fetch",
                "make",
                "make.<locals>.Local.method",
                "declared",
                "helper",
            ]
        );
        assert_eq!(
            get(&m, "Shape.Unit.scale").class_name.as_deref(),
            Some("Unit")
        );
        assert_eq!(get(&m, "Shape.area").class_name.as_deref(), Some("Shape"));
        assert_eq!(get(&m, "outer.<locals>.inner").class_name, None);
        assert!(m.functions.iter().all(|f| !f.name.contains("lambda")));
    }

    #[test]
    fn lines_and_source_cover_decorators_and_bodies() {
        let m = parse(NESTED);
        let outer = get(&m, "outer");
        assert_eq!(
            (outer.decorator_line, outer.first_line, outer.last_line),
            (3, 3, 12)
        );
        let area = get(&m, "Shape.area");
        assert_eq!(
            (area.decorator_line, area.first_line, area.last_line),
            (21, 23, 25)
        );
        assert!(area.source.starts_with("    @staticmethod\n"));
        assert!(area.source.ends_with("return w * h  # trailing"));
        assert_eq!(
            area.decorators,
            vec!["staticmethod", "functools.lru_cache(maxsize=None)"]
        );
        assert_eq!(area.returns.as_deref(), Some("float"));
        assert_eq!(
            outer.docstring.as_deref(),
            Some("Sum of inner results.\n\nIndented detail.")
        );
        assert_eq!(get(&m, "Shape.Unit.scale").docstring, None);
    }

    #[test]
    fn signatures_keep_kinds_annotations_and_defaults() {
        let m = parse(NESTED);
        let fetch = get(&m, "Shape.fetch");
        assert!(fetch.is_async && !fetch.is_generator);
        let got: Vec<(&str, ParamKind, Option<&str>, Option<&str>)> = fetch
            .params
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.kind,
                    p.annotation.as_deref(),
                    p.default.as_deref(),
                )
            })
            .collect();
        use ParamKind::*;
        assert_eq!(
            got,
            vec![
                ("self", PositionalOnly, None, None),
                ("client", PositionalOnly, None, None),
                ("retries", Positional, None, Some("3")),
                ("urls", VarArgs, None, None),
                ("timeout", KeywordOnly, Some("int"), None),
                ("options", VarKeywords, None, None),
            ]
        );
        assert_eq!(fetch.features.awaits, 2);
        assert_eq!(fetch.features.callbacks, vec![]);
        let area = get(&m, "Shape.area");
        assert_eq!(area.params[1].annotation.as_deref(), Some("float"));
        assert_eq!(area.params[1].default.as_deref(), Some("1.0"));
    }

    #[test]
    fn lookups_by_qualname_and_line() {
        let src =
            "def f():\n    return 1\n\n@dec\ndef f():\n    def g():\n        pass\n    return 2\n";
        let m = parse(src);
        assert_eq!(m.find("f", None).unwrap().first_line, 5);
        assert_eq!(m.find("f", Some(1)).unwrap().first_line, 1);
        assert_eq!(m.find("f", Some(4)).unwrap().first_line, 5);
        assert_eq!(m.find("f", Some(8)).unwrap().first_line, 5);
        assert!(m.find("f", Some(3)).is_none());
        assert!(m.find("nope", None).is_none());
        assert_eq!(m.function_at(7).unwrap().qualname, "f.<locals>.g");
        assert_eq!(m.function_at(8).unwrap().qualname, "f");
        assert_eq!(m.function_at(4).unwrap().first_line, 5);
        assert!(m.function_at(3).is_none());
    }

    #[test]
    fn generators_count_only_their_own_yields() {
        let src = r#"
def gen(items):
    for x in items:
        yield x
    yield from items

def not_gen(items):
    def inner():
        yield 1
    f = lambda: (yield)
    return list(inner())
"#;
        let m = parse(src);
        let gen = get(&m, "gen");
        assert!(gen.is_generator);
        assert_eq!((gen.features.yields, gen.features.loops), (2, 1));
        let not_gen = get(&m, "not_gen");
        assert!(!not_gen.is_generator);
        assert!(get(&m, "not_gen.<locals>.inner").is_generator);
    }

    #[test]
    fn features_count_work_and_port_blockers() {
        let src = r#"
import numpy as np
import os.path
from math import sqrt
import re

counter = 0

class Thing:
    def run(self, data, key, *rest):
        global counter
        counter += 1
        total = 0
        for i in range(len(data)):
            if data[i] > 0 and i != 3:
                total += sqrt(data[i]) * 2 - -i
        words = "a,b".split(",")
        line = f"{total}" + ", ".join(words).strip()
        msg = "%d" % total
        key(total)
        value = getattr(self, "x") + self.__dict__["y"]
        eval("1 + 1")
        norm = np.linalg.norm(data)
        path = os.path.join("a", "b")
        n = [w.lower() for w in words if w]
        def helper(k=re.compile("x")):
            return eval(k)
        import json
        return json.dumps(self.step(n, norm, path, value, line, msg))
"#;
        let m = parse(src);
        let f = &get(&m, "Thing.run").features;
        assert_eq!(f.globals, vec![(11, vec!["counter".to_owned()])]);
        assert_eq!(f.eval_exec, vec![22]);
        assert_eq!(f.callbacks, vec![(20, "key".to_owned())]);
        assert_eq!(f.dynamic_attrs, vec![21]);
        // += twice, *, binary -, unary -, the + of getattr (the f-string's + joins strings)
        assert_eq!(f.arithmetic, 6);
        assert_eq!(f.comparisons, 2);
        // for, comprehension
        assert_eq!(f.loops, 2);
        // data[i] twice, __dict__["y"]
        assert_eq!(f.subscripts, 3);
        // split, join, strip, f-string, the + joining it, %, lower
        assert_eq!(f.string_methods, 7);
        assert_eq!(
            f.called_names,
            vec![
                "range",
                "len",
                "sqrt",
                "key",
                "getattr",
                "eval",
                "np.linalg.norm",
                "os.path.join",
                "w.lower",
                "re.compile",
                "json.dumps",
                "self.step",
            ]
        );
        assert_eq!(
            f.modules_used,
            vec!["math", "numpy", "os.path", "re", "json"]
        );
        assert_eq!(
            get(&m, "Thing.run.<locals>.helper").features.eval_exec,
            vec![27]
        );
    }

    #[test]
    fn callbacks_are_calls_of_parameters_only() {
        let src = r#"
class Point:
    @classmethod
    def parse(cls, text, convert=float):
        x, y = map(convert, text.split())
        return cls(convert(x), y)
"#;
        let m = parse(src);
        let f = &get(&m, "Point.parse").features;
        assert_eq!(f.callbacks, vec![(6, "convert".to_owned())]);
        assert_eq!(f.called_names, vec!["map", "text.split", "cls", "convert"]);
    }

    #[test]
    fn python_2_is_a_syntax_error_not_a_panic() {
        let err = parse_source("def f():\n    print \"hello\"\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let err = parse_source("x = 1\nraise ValueError, \"bad\"\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(parse_source("\n\nx = `1`\n").unwrap_err().line, 3);
        assert!(parse_source("x = 0777\n").is_err());
        assert!(parse_source("if a <> b:\n    pass\n").is_err());
        assert!(parse_source("def f(:\n").is_err());
    }

    #[test]
    fn imports_record_modules_names_aliases_and_scope() {
        let src = "import a.b as c, d\nfrom .. import e\nfrom x.y import (z as w, v)\ndef f():\n    from m import *\n";
        let m = parse(src);
        let import =
            |module: &str, name: Option<&str>, alias: Option<&str>, line, scope: Option<&str>| {
                Import {
                    module: module.into(),
                    name: name.map(Into::into),
                    alias: alias.map(Into::into),
                    line,
                    scope: scope.map(Into::into),
                }
            };
        assert_eq!(
            m.imports,
            vec![
                import("a.b", None, Some("c"), 1, None),
                import("d", None, None, 1, None),
                import("..", Some("e"), None, 2, None),
                import("x.y", Some("z"), Some("w"), 3, None),
                import("x.y", Some("v"), None, 3, None),
                import("m", Some("*"), None, 5, Some("f")),
            ]
        );
    }

    #[test]
    fn line_endings_and_byte_order_mark_do_not_move_lines() {
        let m = parse("\u{feff}# c\r\ndef f():\r\n    return 1\r\n\rdef g(): pass\r");
        assert_eq!(get(&m, "f").first_line, 2);
        assert_eq!(get(&m, "f").last_line, 3);
        assert_eq!(get(&m, "f").source, "def f():\r\n    return 1");
        assert_eq!(get(&m, "g").first_line, 5);
    }

    #[test]
    fn each_line_counts_its_operations_by_class() {
        use crate::python::ops::Op;
        let m = parse(concat!(
            "def f(xs, d, p):\n",                            // 1
            "    t = 0.0\n",                                 // 2
            "    for x in xs:\n",                            // 3
            "        t += x * x - 1\n",                      // 4
            "        if x in d and x < 3:\n",                // 5
            "            out.append(p.v[0])\n",              // 6
            "    s = f'{t}' + ', '.join(g(k) for k in d)\n", // 7
            "    return [t, s]\n",                           // 8
        ));
        let at = ops_of(&m, "f");
        assert_eq!(at(2, Op::Store), 1);
        assert_eq!(at(3, Op::Iterate), 1);
        assert_eq!(at(4, Op::Arithmetic), 3, "+=, * and -");
        assert_eq!((at(5, Op::Lookup), at(5, Op::Compare)), (1, 1));
        assert_eq!(at(6, Op::BuiltinCall), 1, "append");
        assert_eq!(
            (at(6, Op::Attribute), at(6, Op::Index)),
            (2, 1),
            "out.append, p.v; [0]"
        );
        assert_eq!(
            at(7, Op::Text),
            3,
            "the f-string, the + joining it and join"
        );
        assert_eq!(
            (at(7, Op::Call), at(7, Op::Iterate), at(7, Op::Build)),
            (1, 1, 1)
        );
        assert_eq!((at(8, Op::Build), at(8, Op::Store)), (1, 1));
    }

    #[test]
    fn the_builtin_that_makes_a_loops_sequence_is_the_loops_step() {
        use crate::python::ops::Op;
        let m = parse(concat!(
            "def f(xs, ys):\n",                                   // 1
            "    for i in range(len(xs)):\n",                     // 2
            "        for j, (x, y) in enumerate(zip(xs, ys)):\n", // 3
            "            pass\n",                                 // 4
            "    r = range(3)\n",                                 // 5
            "    return [k for k in reversed(xs)]\n",             // 6
        ));
        let at = ops_of(&m, "f");
        // `range` is the loop's step, `len` inside it still a call doing work.
        assert_eq!((at(2, Op::Iterate), at(2, Op::BuiltinCall)), (2, 1));
        // `enumerate` makes the sequence; the `zip` it walks is its argument, work of its own.
        assert_eq!((at(3, Op::Iterate), at(3, Op::BuiltinCall)), (2, 1));
        // Outside a loop's header, a builtin call.
        assert_eq!((at(5, Op::Iterate), at(5, Op::BuiltinCall)), (0, 1));
        assert_eq!((at(6, Op::Iterate), at(6, Op::BuiltinCall)), (2, 0));
    }

    #[test]
    fn calls_of_small_leaf_functions_of_the_module_count_as_inlined() {
        use crate::python::ops::Op;
        let m = parse(concat!(
            "def a(i, j):\n", // 1
            "    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)\n",
            "def looping(n):\n", // 3
            "    return sum(k for k in range(n))\n",
            "def calling(x):\n",    // 5
            "    return a(x, x)\n", // 6
            "@cache\n",             // 7
            "def decorated(x):\n",
            "    return x + 1\n",
            "def twice(x):\n", // 10
            "    return x\n",
            "class C:\n", // 12
            "    def twice(self):\n",
            "        return 2\n",
            "def f(u, key):\n",                                  // 15
            "    t = a(0, 1) * u[0] + a(1, 0)\n",                // 16
            "    t += looping(3) + calling(t) + decorated(t)\n", // 17
            "    t += twice(t) + key(t) + f(u, key)\n",          // 18
            "    return t\n",
        ));
        let at = ops_of(&m, "f");
        assert_eq!((at(16, Op::InlinedCall), at(16, Op::Call)), (2, 0));
        assert_eq!(
            (at(17, Op::InlinedCall), at(17, Op::Call)),
            (0, 3),
            "a loop, a call of a Python function, a decorator"
        );
        assert_eq!(
            (at(18, Op::InlinedCall), at(18, Op::Call)),
            (0, 3),
            "a name defined twice, a parameter, recursion"
        );
        assert_eq!(ops_of(&m, "calling")(6, Op::InlinedCall), 1);
    }

    #[test]
    fn unpacking_into_a_list_pattern_builds_nothing() {
        let m = parse(concat!(
            "def f(pairs):\n",
            "    for ([x1, y1], v1), ([x2, y2], v2) in pairs:\n", // 2
            "        [a, b] = v1\n",                              // 3
            "        v2[0] = [a, b]\n",                           // 4
        ));
        let at = ops_of(&m, "f");
        assert_eq!(at(2, Op::Build), 0, "the for target unpacks");
        assert_eq!(at(3, Op::Build), 0, "the assignment target unpacks");
        assert_eq!(
            at(4, Op::Build),
            1,
            "a list display on the right builds one"
        );
    }

    #[test]
    fn a_slice_copies_a_run_where_an_index_reads_one_element() {
        let m = parse(concat!(
            "def f(perm, k):\n",
            "    perm[:k + 1] = perm[k::-1]\n", // 2
            "    return perm[0]\n",             // 3
        ));
        let at = ops_of(&m, "f");
        assert_eq!(
            (at(2, Op::Slice), at(2, Op::Index), at(2, Op::Build)),
            (2, 0, 0)
        );
        assert_eq!((at(3, Op::Slice), at(3, Op::Index)), (0, 1));
    }

    #[test]
    fn joining_or_repeating_sequences_builds_where_numbers_are_arithmetic() {
        let m = parse(concat!(
            "def f(indices, i, n, name, a, b):\n",
            "    indices[i:] = indices[i + 1:] + indices[i:i + 1]\n", // 2
            "    row = [0] * n\n",                                    // 3
            "    label = name + \"!\" + f\"{n}\"\n",                  // 4
            "    return a + b * 2\n",                                 // 5
        ));
        let at = ops_of(&m, "f");
        assert_eq!(
            (at(2, Op::Build), at(2, Op::Arithmetic), at(2, Op::Slice)),
            (1, 2, 3),
            "the concatenation builds; i + 1 and i:i + 1 are arithmetic"
        );
        assert_eq!((at(3, Op::Build), at(3, Op::Arithmetic)), (2, 0));
        assert_eq!((at(4, Op::Text), at(4, Op::Arithmetic)), (3, 0));
        assert_eq!((at(5, Op::Arithmetic), at(5, Op::Build)), (2, 0));
    }

    #[test]
    fn a_method_the_file_defines_is_a_call_not_the_string_method_of_that_name() {
        // pyperformance's go: the union-find of `Square.find`, called on every move.
        let m = parse(concat!(
            "class Square:\n",
            "    def find(self, update=False):\n",
            "        return self.reference\n",
            "\n",
            "def f(square, text):\n",
            "    root = square.find(update=True)\n", // 6
            "    return text.strip()\n",             // 7
        ));
        let at = ops_of(&m, "f");
        assert_eq!((at(6, Op::Call), at(6, Op::Text)), (1, 0));
        assert_eq!((at(7, Op::Text), at(7, Op::Call)), (1, 0));
        assert_eq!(m.find("f", None).unwrap().features.string_methods, 1);
        // Without the class, `find` is the string method.
        let m = parse("def f(text):\n    return text.find('x')\n");
        assert_eq!(ops_of(&m, "f")(2, Op::Text), 1);
    }

    #[test]
    fn a_method_called_on_a_builtin_container_is_the_containers() {
        // pyperformance's go: the file's own classes define `add`, and a set's `add` is
        // called on an attribute only sets are assigned to.
        let m = parse(concat!(
            "class ZobristHash:\n",
            "    def __init__(self):\n",
            "        self.hash_set = set()\n",
            "    def add(self):\n",
            "        self.hash_set.add(self.hash)\n", // 5
            "class Board:\n",
            "    def __init__(self):\n",
            "        self.emptyset = ZobristHash()\n",
            "    def check(self, square):\n",
            "        self.emptyset.add()\n", // 10
            "        members = set()\n",
            "        members.add(square)\n",               // 12
            "        members.update(square.neighbours)\n", // 13
        ));
        let at = |line, op| ops_of(&m, "ZobristHash.add")(line, op);
        assert_eq!((at(5, Op::Lookup), at(5, Op::Call)), (1, 0));
        let at = ops_of(&m, "Board.check");
        assert_eq!((at(10, Op::Lookup), at(10, Op::Call)), (0, 1));
        assert_eq!((at(12, Op::Lookup), at(12, Op::Call)), (1, 0));
        assert_eq!((at(13, Op::BuiltinCall), at(13, Op::Call)), (1, 0));
    }

    #[test]
    fn a_subscript_of_a_dict_hashes_its_key() {
        let m = parse(concat!(
            "from collections import defaultdict\n",
            "def f(grid, words):\n",
            "    counts = defaultdict(int)\n",
            "    rows = [list(r) for r in grid]\n",
            "    for w in words:\n",
            "        counts[w] += 1\n",          // 6
            "    return rows[0][1] + grid[2]\n", // 7
        ));
        let at = ops_of(&m, "f");
        assert_eq!((at(6, Op::Lookup), at(6, Op::Index)), (1, 0));
        assert_eq!((at(7, Op::Lookup), at(7, Op::Index)), (0, 3));
    }

    #[test]
    fn a_name_bound_to_a_builtin_method_calls_it_as_a_builtin() {
        let m = parse(concat!(
            "def f(perm1, seen, r, helper):\n",
            "    ins, pop, mark = perm1.insert, perm1.pop, seen.add\n", // 2
            "    perm1_ins = perm1.insert\n",                           // 3
            "    see = seen.add\n",                                     // 4
            "    go = helper.run\n",                                    // 5
            "    perm1_ins(r, pop(0))\n",                               // 6
            "    see(r)\n",                                             // 7
            "    go(r)\n",                                              // 8
            "    see = helper\n",                                       // 9
            "    see(r)\n",                                             // 10
        ));
        let at = ops_of(&m, "f");
        assert_eq!(
            (at(6, Op::BuiltinCall), at(6, Op::Call)),
            (1, 1),
            "perm1_ins is list.insert; pop, bound in a tuple, is not followed"
        );
        assert_eq!((at(7, Op::Lookup), at(7, Op::Call)), (1, 0));
        assert_eq!(at(8, Op::Call), 1, "helper.run is no builtin's method");
        assert_eq!(at(10, Op::Call), 1, "see is helper now");
    }

    #[test]
    fn dict_and_set_methods_that_hash_a_key_are_lookups() {
        let m = parse(concat!(
            "def f(groups, seen, row, out):\n",
            "    acc = groups.get(row[0])\n", // 2
            "    seen.add(row[1])\n",         // 3
            "    out.append(acc)\n",          // 4
        ));
        let at = ops_of(&m, "f");
        assert_eq!((at(2, Op::Lookup), at(2, Op::BuiltinCall)), (1, 0));
        assert_eq!((at(3, Op::Lookup), at(3, Op::BuiltinCall)), (1, 0));
        assert_eq!((at(4, Op::Lookup), at(4, Op::BuiltinCall)), (0, 1));
    }

    #[test]
    fn a_container_constructor_builds_and_other_builtins_are_calls() {
        let m = parse(concat!(
            "def f(cols, vec):\n",
            "    return len(set(vec[i] + i for i in cols))\n", // 2
            "    return sorted(cols), list(range(9))\n",       // 3
        ));
        let at = ops_of(&m, "f");
        assert_eq!(
            (at(2, Op::Build), at(2, Op::BuiltinCall)),
            (2, 1),
            "set() and its generator; len()"
        );
        assert_eq!(
            (at(3, Op::Build), at(3, Op::BuiltinCall)),
            (3, 1),
            "sorted(), list() and the returned tuple; range()"
        );
    }
}
