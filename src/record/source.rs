//! Fills in what a sampler cannot read cheaply: each Python frame's qualified name, the first
//! line of its definition, and its module's dotted name, found from the source files.
//!
//! The source is read with a small block scanner that understands indentation, strings,
//! comments, brackets and line continuations: enough to find `def`/`class` blocks in real
//! code, and robust to syntax it does not know (it never fails, it only finds less).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::profile::{FrameKind, Profile};

/// A `def` or `class` block found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    pub name: String,
    pub qualname: String,
    /// Line of the `def`/`class` keyword.
    pub first_line: u32,
    /// Last line of the block's body.
    pub last_line: u32,
    pub is_class: bool,
}

/// The blocks of one source file, and its lines.
#[derive(Debug, Default)]
pub struct SourceIndex {
    defs: Vec<Def>,
    lines: Vec<String>,
}

impl SourceIndex {
    pub fn parse(text: &str) -> SourceIndex {
        let mut defs: Vec<Def> = Vec::new();
        // Open blocks: (indent of the def line, index into defs).
        let mut open: Vec<(usize, usize)> = Vec::new();
        let mut last_code_line = 0u32;
        for stmt in statements(text) {
            while let Some(&(indent, i)) = open.last() {
                if stmt.indent > indent {
                    break;
                }
                defs[i].last_line = last_code_line.max(defs[i].first_line);
                open.pop();
            }
            if let Some((is_class, name)) = def_header(&stmt.text) {
                let qualname = match open.last() {
                    Some(&(_, p)) if defs[p].is_class => format!("{}.{name}", defs[p].qualname),
                    Some(&(_, p)) => format!("{}.<locals>.{name}", defs[p].qualname),
                    None => name.clone(),
                };
                open.push((stmt.indent, defs.len()));
                defs.push(Def {
                    name,
                    qualname,
                    first_line: stmt.line,
                    last_line: stmt.last_line,
                    is_class,
                });
            }
            last_code_line = stmt.last_line;
        }
        for (_, i) in open {
            defs[i].last_line = last_code_line.max(defs[i].first_line);
        }
        let lines = text.lines().map(|l| l.trim().to_owned()).collect();
        SourceIndex { defs, lines }
    }

    /// The text of a line (1-based), trimmed.
    pub fn line(&self, line: u32) -> Option<&str> {
        let i = (line as usize).checked_sub(1)?;
        self.lines.get(i).map(String::as_str)
    }

    pub fn defs(&self) -> &[Def] {
        &self.defs
    }

    /// The innermost function named `name` whose block holds `line`.
    pub fn function_at(&self, name: &str, line: u32) -> Option<&Def> {
        let inside = |d: &&Def| d.first_line <= line && line <= d.last_line;
        if name.starts_with('<') {
            return None;
        }
        self.defs
            .iter()
            .filter(|d| !d.is_class && d.name == name)
            .filter(inside)
            .max_by_key(|d| d.first_line)
            .or_else(|| {
                // A sampled line on a decorator sits just above the def.
                self.defs
                    .iter()
                    .filter(|d| !d.is_class && d.name == name && d.first_line >= line)
                    .min_by_key(|d| d.first_line)
            })
    }

    /// The innermost block of any kind holding `line` (for lambdas and comprehensions).
    pub fn enclosing(&self, line: u32) -> Option<&Def> {
        self.defs
            .iter()
            .filter(|d| d.first_line <= line && line <= d.last_line)
            .max_by_key(|d| d.first_line)
    }
}

/// One logical statement: its first physical line, its last, its indentation, and its text
/// with strings blanked and comments removed.
struct Statement {
    line: u32,
    last_line: u32,
    indent: usize,
    text: String,
}

fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut current: Option<Statement> = None;
    let mut depth: i32 = 0;
    let mut in_triple: Option<char> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i as u32 + 1;
        let continuing = current.is_some();
        if !continuing {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = raw[..raw.len() - trimmed.len()]
                .chars()
                .map(|c| if c == '\t' { 8 } else { 1 })
                .sum();
            current = Some(Statement {
                line: lineno,
                last_line: lineno,
                indent,
                text: String::new(),
            });
        }
        let stmt = current.as_mut().expect("statement just started");
        stmt.last_line = lineno;
        let mut chars = raw.chars().peekable();
        let mut backslash = false;
        while let Some(c) = chars.next() {
            backslash = false;
            if let Some(q) = in_triple {
                if c == '\\' {
                    chars.next();
                } else if c == q && chars.peek() == Some(&q) {
                    chars.next();
                    if chars.peek() == Some(&q) {
                        chars.next();
                        in_triple = None;
                    }
                }
                continue;
            }
            match c {
                '#' => break,
                '\'' | '"' => {
                    let mut look = chars.clone();
                    if look.next() == Some(c) && look.next() == Some(c) {
                        chars.next();
                        chars.next();
                        in_triple = Some(c);
                        stmt.text.push_str("\"\"");
                        continue;
                    }
                    // A one-line string: skip to its closing quote.
                    while let Some(d) = chars.next() {
                        if d == '\\' {
                            chars.next();
                        } else if d == c {
                            break;
                        }
                    }
                    stmt.text.push_str("\"\"");
                }
                '(' | '[' | '{' => {
                    depth += 1;
                    stmt.text.push(c);
                }
                ')' | ']' | '}' => {
                    depth = (depth - 1).max(0);
                    stmt.text.push(c);
                }
                '\\' if chars.peek().is_none() => backslash = true,
                _ => stmt.text.push(c),
            }
        }
        stmt.text.push(' ');
        if in_triple.is_none() && depth == 0 && !backslash {
            out.push(current.take().expect("statement in progress"));
        }
    }
    out.extend(current);
    out
}

/// `def name`, `async def name` or `class name`, after any decorator-free prefix.
fn def_header(text: &str) -> Option<(bool, String)> {
    let t = text.trim_start();
    let t = t.strip_prefix("async").map(str::trim_start).unwrap_or(t);
    let (is_class, rest) = if let Some(r) = t.strip_prefix("def") {
        (false, r)
    } else if let Some(r) = t.strip_prefix("class") {
        (true, r)
    } else {
        return None;
    };
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some((is_class, name))
}

/// The dotted module name of a Python source file: from `site-packages` or the standard
/// library folder when it lives there, otherwise relative to the first root that holds it.
pub fn module_name(file: &Path, roots: &[PathBuf]) -> String {
    let text = file.to_string_lossy();
    // Frozen standard modules (`<frozen importlib._bootstrap>`) name themselves.
    if let Some(name) = text
        .rsplit('/')
        .next()
        .and_then(|t| t.strip_prefix("<frozen "))
        .and_then(|t| t.strip_suffix('>'))
    {
        return name.to_owned();
    }
    let mut rel: Option<String> = None;
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some(i) = text.rfind(marker) {
            rel = Some(text[i + marker.len()..].to_owned());
            break;
        }
    }
    if rel.is_none() {
        if let Some(i) = text.rfind("/lib/python") {
            let rest = &text[i + "/lib/python".len()..];
            if let Some(slash) = rest.find('/') {
                rel = Some(rest[slash + 1..].to_owned());
            }
        }
    }
    let rel = rel.unwrap_or_else(|| {
        roots
            .iter()
            .find_map(|r| file.strip_prefix(r).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
    });
    let rel = rel
        .strip_suffix(".py")
        .or_else(|| rel.strip_suffix(".pyx"))
        .unwrap_or(&rel);
    let rel = rel.strip_suffix("/__init__").unwrap_or(rel);
    rel.trim_start_matches('/').replace('/', ".")
}

/// Fills `qualname`, `first_line` and `module` of every Python frame whose source is
/// readable (see `trust::read_source`: a local profile's files under its folders). Frames whose
/// source cannot be read keep their plain names.
pub fn enrich(profile: &mut Profile) {
    let cwd = profile.meta.cwd.as_ref().map(PathBuf::from);
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(script) = script_path(&profile.meta.command) {
        let script = match &cwd {
            Some(c) => c.join(script),
            None => PathBuf::from(script),
        };
        if let Some(dir) = script.parent() {
            roots.push(dir.to_path_buf());
        }
    }
    roots.extend(cwd.clone());
    // Where sources may be read from: none for a profile received from elsewhere.
    let readable = crate::trust::source_roots(profile);
    let mut indexes: HashMap<String, Option<SourceIndex>> = HashMap::new();
    for frame in profile.frames.iter_mut() {
        if frame.kind != FrameKind::Python {
            continue;
        }
        let path = match &cwd {
            Some(c) => c.join(&frame.file),
            None => PathBuf::from(&frame.file),
        };
        if frame.module.is_none() {
            frame.module = Some(module_name(&path, &roots));
        }
        if frame.name == "<module>" {
            frame.qualname = Some("<module>".into());
            frame.first_line = Some(1);
            continue;
        }
        let index = indexes.entry(frame.file.clone()).or_insert_with(|| {
            crate::trust::read_under(&readable, &path).map(|text| SourceIndex::parse(&text))
        });
        let (Some(index), Some(line)) = (index.as_ref(), frame.line) else {
            continue;
        };
        frame.code = index
            .line(line)
            .filter(|l| !l.is_empty())
            .map(|l| l.chars().take(300).collect());
        if frame.name.starts_with('<') {
            if let Some(outer) = index.enclosing(line) {
                frame.qualname = Some(format!("{}.<locals>.{}", outer.qualname, frame.name));
            }
        } else if let Some(def) = index.function_at(&frame.name, line) {
            frame.qualname = Some(def.qualname.clone());
            frame.first_line = Some(def.first_line);
        }
    }
}

/// The script in a `python [options] script.py args` command line, if there is one.
pub fn script_path(argv: &[String]) -> Option<&str> {
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-m" | "-c" => return None,
            "-W" | "-X" => {
                args.next();
            }
            s if s.starts_with('-') => {}
            s => return Some(s),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
import os

def top(x):
    """A docstring with def fake(): inside
    def also_fake():
    """
    s = "def not_this(): ' quoted"
    return helper(x,
        2)  # def nor_this()

class Shape:
    @staticmethod
    def area(w,
             h):
        def inner():
            return w * h
        return inner()

    async def fetch(self):
        return [i for i in
                range(3)]

def last():
    pass
"#;

    #[test]
    fn finds_blocks_with_qualnames_and_extents() {
        let idx = SourceIndex::parse(SRC);
        let got: Vec<(&str, u32, u32)> = idx
            .defs()
            .iter()
            .map(|d| (d.qualname.as_str(), d.first_line, d.last_line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("top", 4, 10),
                ("Shape", 12, 22),
                ("Shape.area", 14, 18),
                ("Shape.area.<locals>.inner", 16, 17),
                ("Shape.fetch", 20, 22),
                ("last", 24, 25),
            ]
        );
    }

    #[test]
    fn resolves_sampled_lines_to_functions() {
        let idx = SourceIndex::parse(SRC);
        assert_eq!(
            idx.function_at("inner", 17).unwrap().qualname,
            "Shape.area.<locals>.inner"
        );
        assert_eq!(idx.function_at("area", 18).unwrap().qualname, "Shape.area");
        assert_eq!(idx.function_at("area", 13).unwrap().first_line, 14);
        assert!(idx.function_at("fake", 5).is_none());
        assert_eq!(idx.enclosing(21).unwrap().qualname, "Shape.fetch");
    }

    #[test]
    fn module_names_follow_python_import_rules() {
        let roots = vec![PathBuf::from("/home/u/proj")];
        let m = |p: &str| module_name(Path::new(p), &roots);
        assert_eq!(m("/usr/lib/python3.11/json/encoder.py"), "json.encoder");
        assert_eq!(
            m("/root/.pyenv/versions/3.11.7/lib/python3.11/re/__init__.py"),
            "re"
        );
        assert_eq!(
            m("/v/lib/python3.12/site-packages/numpy/core/fromnumeric.py"),
            "numpy.core.fromnumeric"
        );
        assert_eq!(m("/home/u/proj/pkg/mod.py"), "pkg.mod");
        assert_eq!(m("/elsewhere/tool.py"), "tool");
        assert_eq!(
            m("/home/u/proj/<frozen importlib._bootstrap>"),
            "importlib._bootstrap"
        );
    }
}
