//! Two runs side by side (before and after a port): whole-program and per-function speedups.
//!
//! Functions are matched by module and qualified name, not by file, so that a program moved
//! or copied between the runs still compares. Times are a function's share of its run times
//! the run's wall time, so runs of different lengths and sampling rates compare.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::analyze::Analysis;
use crate::profile::{FrameKind, Profile};
use crate::rules::Span;

/// Version of the comparison model written by `diff --format json`.
pub const COMPARISON_SCHEMA: u32 = 1;

/// Below this share of both runs a function is noise, left out of the table.
const MIN_SHARE: f64 = 0.005;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub schema: u32,
    pub before: RunInfo,
    pub after: RunInfo,
    /// Wall time before over wall time after.
    pub speedup: f64,
    /// What the advice on the first run expected from porting its `port` candidates.
    pub estimated: Option<Span>,
    /// The functions whose time changed most (in seconds) first.
    pub functions: Vec<FunctionChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub command: Vec<String>,
    pub python_version: Option<String>,
    pub wall_seconds: f64,
    pub samples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionChange {
    /// `module.qualname`.
    pub name: String,
    pub native: bool,
    /// Seconds with the function on the stack, callees included.
    pub before_seconds: f64,
    pub after_seconds: f64,
    pub before_share: f64,
    pub after_share: f64,
    /// Before over after; `None` when it is gone from the second run.
    pub speedup: Option<f64>,
}

struct Side {
    seconds: f64,
    share: f64,
    native: bool,
}

pub fn compare(
    before: (&Profile, &Analysis),
    after: (&Profile, &Analysis),
    estimated: Option<Span>,
) -> Comparison {
    let times = |(profile, analysis): (&Profile, &Analysis)| -> HashMap<String, Side> {
        let mut out: HashMap<String, Side> = HashMap::new();
        for f in &analysis.functions {
            let share = analysis.share(f.inclusive_weight);
            let name = match &f.module {
                Some(m) if !m.is_empty() => format!("{m}.{}", f.name),
                _ => f.name.clone(),
            };
            // The same name twice (a function defined twice) adds up.
            let side = out.entry(name).or_insert(Side {
                seconds: 0.0,
                share: 0.0,
                native: f.kind == FrameKind::Native,
            });
            side.share += share;
            side.seconds += share * profile.meta.wall_seconds;
        }
        out
    };
    let b = times(before);
    let a = times(after);
    let mut functions: Vec<FunctionChange> = b
        .keys()
        .chain(a.keys().filter(|k| !b.contains_key(*k)))
        .filter_map(|name| {
            let (bs, as_) = (b.get(name), a.get(name));
            let before_share = bs.map_or(0.0, |s| s.share);
            let after_share = as_.map_or(0.0, |s| s.share);
            if before_share < MIN_SHARE && after_share < MIN_SHARE {
                return None;
            }
            let before_seconds = bs.map_or(0.0, |s| s.seconds);
            let after_seconds = as_.map_or(0.0, |s| s.seconds);
            Some(FunctionChange {
                name: name.clone(),
                native: bs.or(as_).is_some_and(|s| s.native),
                before_seconds,
                after_seconds,
                before_share,
                after_share,
                speedup: (after_seconds > 0.0).then(|| before_seconds / after_seconds),
            })
        })
        .collect();
    functions.sort_by(|x, y| {
        let dx = (x.before_seconds - x.after_seconds).abs();
        let dy = (y.before_seconds - y.after_seconds).abs();
        dy.total_cmp(&dx).then(x.name.cmp(&y.name))
    });
    let info = |p: &Profile| RunInfo {
        command: p.meta.command.clone(),
        python_version: p.meta.python_version.clone(),
        wall_seconds: p.meta.wall_seconds,
        samples: p.meta.samples,
    };
    let (bp, ap) = (before.0, after.0);
    Comparison {
        schema: COMPARISON_SCHEMA,
        speedup: if ap.meta.wall_seconds > 0.0 {
            bp.meta.wall_seconds / ap.meta.wall_seconds
        } else {
            f64::INFINITY
        },
        before: info(bp),
        after: info(ap),
        estimated,
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze, AnalyzeOptions};
    use crate::profile::{Frame, Meta, ProfileBuilder};

    fn run(wall: f64, stacks: &[(&[&str], u64)]) -> Profile {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        for (names, n) in stacks {
            let frames: Vec<_> = names
                .iter()
                .map(|name| {
                    b.intern_frame(Frame {
                        name: (*name).into(),
                        qualname: Some((*name).into()),
                        file: "app.py".into(),
                        first_line: Some(1),
                        line: Some(2),
                        module: Some("app".into()),
                        kind: FrameKind::Python,
                        code: None,
                    })
                })
                .collect();
            for _ in 0..*n {
                b.add_stack(t, frames.clone(), false, true, false);
            }
        }
        b.to_profile(Meta {
            wall_seconds: wall,
            ..Meta::default()
        })
    }

    #[test]
    fn a_ported_function_is_gone_and_the_rest_compares_in_seconds() {
        let before = run(2.0, &[(&["main", "hot"], 90), (&["main", "load"], 10)]);
        let after = run(0.4, &[(&["main"], 50), (&["main", "load"], 50)]);
        let (ba, aa) = (
            analyze(&before, &AnalyzeOptions::default()),
            analyze(&after, &AnalyzeOptions::default()),
        );
        let c = compare((&before, &ba), (&after, &aa), Some([3.0, 8.0]));
        assert!((c.speedup - 5.0).abs() < 1e-9);
        let get = |n: &str| c.functions.iter().find(|f| f.name == n).unwrap();
        let hot = get("app.hot");
        assert!((hot.before_seconds - 1.8).abs() < 1e-9);
        assert_eq!(hot.speedup, None);
        let load = get("app.load");
        assert!((load.before_seconds - 0.2).abs() < 1e-9);
        assert!((load.after_seconds - 0.2).abs() < 1e-9);
        assert!((load.speedup.unwrap() - 1.0).abs() < 1e-9);
        // Largest change first.
        assert_eq!(c.functions[0].name, "app.hot");
    }
}
