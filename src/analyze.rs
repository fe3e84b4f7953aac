//! Analysis of a profile: per-function self and inclusive time.
//!
//! Works on any profile, saved or fresh; reads only the model in [`crate::profile`].
//! A function is identified by its file and qualified name (Python) or its library and
//! symbol (native), so that the many sampled lines of one function add up.

use std::collections::HashMap;

use crate::profile::{FrameKind, Profile};

/// What the analysis counts.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Count samples of threads that were waiting, not running.
    pub include_idle: bool,
}

/// One function's share of the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStats {
    /// Qualified name when known, else the plain name.
    pub name: String,
    pub module: Option<String>,
    pub file: String,
    pub first_line: Option<u32>,
    pub kind: FrameKind,
    /// Samples in which this function was the innermost frame.
    pub self_weight: u64,
    /// Samples in which this function was anywhere on the stack (counted once per sample).
    pub inclusive_weight: u64,
}

impl FunctionStats {
    /// `file:line` or just `file`.
    pub fn location(&self) -> String {
        match self.first_line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }
}

/// Per-function results for a whole profile.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Weight of all counted samples: the denominator of every share.
    pub total_weight: u64,
    /// Every function seen, hottest (inclusive) first.
    pub functions: Vec<FunctionStats>,
}

impl Analysis {
    pub fn share(&self, weight: u64) -> f64 {
        if self.total_weight == 0 {
            0.0
        } else {
            weight as f64 / self.total_weight as f64
        }
    }

    /// Functions sorted by self time, hottest first.
    pub fn by_self(&self) -> Vec<&FunctionStats> {
        let mut v: Vec<&FunctionStats> = self.functions.iter().collect();
        v.sort_by(|a, b| b.self_weight.cmp(&a.self_weight).then(a.name.cmp(&b.name)));
        v
    }

    /// The function with this (qualified) name, when exactly one matches.
    pub fn find(&self, name: &str) -> Option<&FunctionStats> {
        let mut it = self.functions.iter().filter(|f| f.name == name);
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }
}

/// The identity of a function, shared by all its frames.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FunctionKey {
    kind: FrameKind,
    place: String,
    name: String,
}

pub fn analyze(profile: &Profile, opts: &AnalyzeOptions) -> Analysis {
    // Map each frame to its function once.
    let mut keys: HashMap<FunctionKey, usize> = HashMap::new();
    let mut functions: Vec<FunctionStats> = Vec::new();
    let frame_fn: Vec<usize> = profile
        .frames
        .iter()
        .map(|f| {
            let key = FunctionKey {
                kind: f.kind,
                place: match f.kind {
                    FrameKind::Python => f.file.clone(),
                    FrameKind::Native => f.module.clone().unwrap_or_else(|| f.file.clone()),
                },
                name: f.display_name().to_owned(),
            };
            *keys.entry(key).or_insert_with(|| {
                functions.push(FunctionStats {
                    name: f.display_name().to_owned(),
                    module: f.module.clone(),
                    file: f.file.clone(),
                    first_line: f.first_line,
                    kind: f.kind,
                    self_weight: 0,
                    inclusive_weight: 0,
                });
                functions.len() - 1
            })
        })
        .collect();

    let mut total = 0;
    let mut seen: Vec<u32> = vec![u32::MAX; functions.len()];
    for (i, stack) in profile.stacks.iter().enumerate() {
        if stack.idle && !opts.include_idle {
            continue;
        }
        total += stack.weight;
        if let Some(&leaf) = stack.frames.last() {
            functions[frame_fn[leaf as usize]].self_weight += stack.weight;
        }
        for &frame in &stack.frames {
            let f = frame_fn[frame as usize];
            if seen[f] != i as u32 {
                seen[f] = i as u32;
                functions[f].inclusive_weight += stack.weight;
            }
        }
    }
    functions.retain(|f| f.inclusive_weight > 0);
    functions.sort_by(|a, b| {
        b.inclusive_weight
            .cmp(&a.inclusive_weight)
            .then(b.self_weight.cmp(&a.self_weight))
            .then(a.name.cmp(&b.name))
    });
    Analysis {
        total_weight: total,
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Frame, Meta, ProfileBuilder};

    fn py(name: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            qualname: None,
            file: "m.py".into(),
            first_line: None,
            line: Some(line),
            module: None,
            kind: FrameKind::Python,
        }
    }

    #[test]
    fn self_and_inclusive_count_recursion_once() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(py("main", 1));
        let fib_a = b.intern_frame(py("fib", 5));
        let fib_b = b.intern_frame(py("fib", 6));
        for _ in 0..3 {
            b.add_stack(t, vec![main, fib_a, fib_b, fib_a], false, true, false);
        }
        b.add_stack(t, vec![main], false, true, false);
        b.add_stack(t, vec![main], true, false, false);
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        assert_eq!(a.total_weight, 4);
        let fib = a.find("fib").unwrap();
        assert_eq!((fib.self_weight, fib.inclusive_weight), (3, 3));
        let main = a.find("main").unwrap();
        assert_eq!((main.self_weight, main.inclusive_weight), (1, 4));
        let with_idle = analyze(&p, &AnalyzeOptions { include_idle: true });
        assert_eq!(with_idle.find("main").unwrap().inclusive_weight, 5);
    }
}
