//! The quick reading of a source file: its `def` and `class` blocks with their qualified names
//! and extents, found by the statement lexer ([`super::lexer`]), and [`enrich`], which fills in
//! what a sampler cannot read cheaply: each Python frame's qualified name, the first line of
//! its definition, its module's dotted name and the text of its sampled line.
//!
//! Unlike [`super::parser`], it never fails on code it does not know (Python 2, a newer
//! syntax): it only finds less. Sources are read through [`super::source`], only under the
//! folders the caller allows.

use std::collections::HashMap;
use std::path::PathBuf;

use super::lexer::statements;
use super::paths::{module_name, script_path};
use super::source::SourceCache;
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

/// Fills `qualname`, `first_line`, `module` and `code` of every Python frame whose source may
/// be read: a regular file of bounded size under one of `readable` (the profile's folders from
/// [`crate::trust::source_roots`], none for a profile received from elsewhere). Frames whose
/// source cannot be read keep their plain names and get a module named from their path.
pub fn enrich(profile: &mut Profile, readable: &[PathBuf]) {
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
    let sources = SourceCache::new(readable.to_vec());
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
        let index = indexes
            .entry(frame.file.clone())
            .or_insert_with(|| sources.file(&path).map(|f| SourceIndex::parse(f.text())));
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
}
