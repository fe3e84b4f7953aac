//! Readiness notes on a candidate: blockers in its source (eval, callbacks, generators,
//! global state), whether tests refer to it, and how often its lines still change, each a
//! multiplier of its score from `rules/scoring.toml`.
//!
//! Glue over the crate's `readiness` module, which reads tests and git history; for a
//! received profile it reads nothing and says why. It may not change a candidate's verdict or
//! numbers, only its score and notes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::index::Origin;
use super::model::Model;
use super::report::{Candidate, ReadinessNote};
use crate::readiness::{self, BlockerKind};

impl Model<'_> {
    /// Tests, history and blockers of a candidate's function, as score multipliers.
    pub(super) fn add_readiness(&self, c: &mut Candidate) {
        let w = &self.rules.scoring.readiness;
        let Some(f) = c.function.index_in(self.analysis) else {
            return;
        };
        if self.index.origins[f] != Origin::Program {
            return;
        }
        if self.profile.provenance != crate::profile::Provenance::Local {
            c.readiness.push(ReadinessNote {
                signal: "source".into(),
                effect: 1.0,
                note: format!(
                    "tests, history and blockers unknown: {}",
                    crate::trust::RECEIVED_NOTE
                ),
            });
            return;
        }
        let Some(src) = self.source_of(f) else {
            c.readiness.push(ReadinessNote {
                signal: "source".into(),
                effect: 1.0,
                note: "source not found: tests, history and blockers unknown".into(),
            });
            return;
        };
        let mut notes = Vec::new();
        let mut seen = HashSet::new();
        for b in readiness::blockers(&src) {
            if !seen.insert(b.kind) {
                continue;
            }
            let effect = match b.kind {
                BlockerKind::EvalExec => w.eval_exec,
                BlockerKind::Callback => w.callback,
                BlockerKind::Generator => w.generator,
                BlockerKind::Coroutine => w.coroutine,
                BlockerKind::DynamicAttributes => w.dynamic_attributes,
                BlockerKind::GlobalState => w.global_state,
            };
            notes.push(ReadinessNote {
                signal: format!("{:?}", b.kind).to_lowercase(),
                effect,
                note: format!("line {}: {}; it {}", b.line, b.detail, b.kind.reason()),
            });
        }
        let path = self.profile.source_path(&c.function.file);
        let root = project_root(&path, self.profile.meta.cwd.as_deref(), &self.readable);
        let module = c.function.module.clone().unwrap_or_default();
        let tests = readiness::tests_for(&root, &module, src.class_name.as_deref(), &src.name);
        if tests.is_empty() {
            notes.push(ReadinessNote {
                signal: "tests".into(),
                effect: w.untested,
                note: format!(
                    "no test file under {} refers to {}: write tests before porting (the \
                     generated stub's parity test replays recorded calls)",
                    root.display(),
                    src.name
                ),
            });
        } else {
            let first = &tests[0];
            notes.push(ReadinessNote {
                signal: "tests".into(),
                effect: 1.0,
                note: format!(
                    "tested: {} reference{} (first {}:{})",
                    tests.len(),
                    if tests.len() == 1 { "" } else { "s" },
                    first.file.display(),
                    first.line
                ),
            });
        }
        if let Some(h) = readiness::history(&path, src.decorator_line, src.last_line) {
            let unstable = h.commits > w.unstable_commits;
            notes.push(ReadinessNote {
                signal: "history".into(),
                effect: if unstable { w.unstable } else { 1.0 },
                note: format!(
                    "{} commit{} by {} author{} changed it{}{}",
                    h.commits,
                    if h.commits == 1 { "" } else { "s" },
                    h.authors,
                    if h.authors == 1 { "" } else { "s" },
                    h.last_change
                        .as_deref()
                        .map(|d| format!(", last on {d}"))
                        .unwrap_or_default(),
                    if unstable { ": still changing" } else { "" }
                ),
            });
        }
        for n in &notes {
            c.score *= n.effect;
        }
        c.readiness = notes;
    }
}

/// The folder tests are looked for in: the git work tree holding `file`, else the recording's
/// working directory, else the file's folder.
fn project_root(file: &Path, cwd: Option<&str>, readable: &[PathBuf]) -> PathBuf {
    let mut dir = file.parent();
    // A repository above the folders sources may be read from is not searched for tests.
    while let Some(d) = dir.filter(|d| crate::python::source::allowed(readable, d).is_some()) {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    cwd.map(PathBuf::from)
        .or_else(|| file.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}
