//! The advice: which parts of the program to port to Rust, where to cut, and what it gains.
//!
//! Works on an [`Analysis`] of any profile. For every hot function of the program it searches a
//! boundary among the function and its callers: the saving of each option is the interpreted
//! time it covers, made faster by the factor expected for that kind of code, minus what crossing
//! the boundary costs (calls times the conversion of the observed arguments and return values,
//! from `rules/costs.toml`). The smallest option within a tolerance of the best saving wins:
//! porting a loop rather than its body when the body is called millions of times.
//!
//! Every number in the result carries its inputs, so a report can show why.
//!
//! [`advise`] takes a [`Profile`], its [`Analysis`] and the [`Rules`] and gives an [`Advice`],
//! the `report.json` model every report format writes. It reads the program's source files
//! (only where the profile's trust allows), looks for its tests and asks git for its history;
//! it never writes a file, runs the program or prints, and knows nothing of the command line
//! or of report formats.
//!
//! One file per role: `report` (the types of `report.json`), `index` (the stacks by
//! function), `boundary` (the search from each hot function) with its `estimate` and
//! `exclusion`, `native` and `library` (time a port would not speed up), `readiness`,
//! `wording` and `unknowns`; `model` holds what they share.

mod boundary;
mod estimate;
mod exclusion;
mod hidden;
mod index;
mod library;
mod mix;
mod model;
mod native;
mod package;
mod readiness;
mod report;
#[cfg(test)]
pub(crate) mod test_support;
mod unknowns;
mod waiting;
mod wording;

pub use report::{
    Advice, BoundaryOption, Candidate, DataFlow, Exclusion, FunctionRef, GilShare, PackageTime,
    PortSize, ProbeState, ReadinessNote, Reason, Verdict, ADVICE_SCHEMA,
};
pub use wording::thousands;

use crate::analyze::Analysis;
use crate::profile::Profile;
use crate::rules::Rules;
use estimate::amdahl;
use model::Model;

/// What the advice may look at besides the profile.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// Look for tests and git history of the candidates (reads the program's files).
    pub readiness: bool,
    /// At most this many candidates to report, ports first.
    pub top: usize,
    /// Leave out candidates below this share of the run (`None`: the rules' `min_share`).
    pub min_share: Option<f64>,
}

impl Default for AdviseOptions {
    fn default() -> Self {
        AdviseOptions {
            readiness: true,
            top: 10,
            min_share: None,
        }
    }
}

/// Advice for `profile`, from its analysis.
pub fn advise(
    profile: &Profile,
    analysis: &Analysis,
    rules: &Rules,
    opts: &AdviseOptions,
) -> Advice {
    let model = Model::new(profile, analysis, rules);
    let mut candidates = model.find_candidates(opts);
    rank(&mut candidates, opts, &rules.scoring.thresholds.min_share);
    let run = model.index.run_samples as f64;
    let combined = if run > 0.0 {
        let ports: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.verdict == Verdict::Port)
            .collect();
        (!ports.is_empty()).then(|| {
            let lo: f64 = ports.iter().map(|c| c.saved[0]).sum();
            // Each high end carries its own two standard errors of sampling noise; added up
            // they could claim more than the ported regions hold. Together the regions hold
            // their summed share, with the noise of that one share.
            let share = ports.iter().map(|c| c.time_share).sum::<f64>().min(1.0);
            let noise = 2.0 * (share * (1.0 - share) / run).sqrt();
            let hi = ports
                .iter()
                .map(|c| c.saved[1])
                .sum::<f64>()
                .min(share + noise);
            [amdahl(lo), amdahl(hi.max(lo))]
        })
    } else {
        None
    };
    let probe = unknowns::probe_state(profile);
    let mut unknowns = unknowns::unknowns(profile, &probe, model.index.run_samples);
    unknowns.extend(unknowns::unread_sources(&model, &candidates));
    let elsewhere = model.elsewhere();
    Advice {
        schema: ADVICE_SCHEMA,
        command: profile.meta.command.clone(),
        python_version: profile.meta.python_version.clone(),
        wall_seconds: profile.meta.wall_seconds,
        run_samples: model.index.run_samples,
        probe,
        unknowns,
        combined_speedup: combined,
        elsewhere,
        candidates,
        costs_measured: format!(
            "{}, {} (CPython {}, pyo3 {})",
            rules.costs.measured.machine,
            rules.costs.measured.date,
            rules.costs.measured.python,
            rules.costs.measured.pyo3
        ),
    }
}

/// Orders candidates (ports by score, then libraries, then leave-its by time), drops small
/// and surplus ones, and numbers them.
fn rank(candidates: &mut Vec<Candidate>, opts: &AdviseOptions, default_min: &f64) {
    let min_share = opts.min_share.unwrap_or(*default_min);
    candidates.retain(|c| c.time_share >= min_share);
    candidates.sort_by(|a, b| {
        let group = |c: &Candidate| match c.verdict {
            Verdict::Port => 0,
            Verdict::UseLibrary => 1,
            Verdict::LeaveIt => 2,
        };
        group(a)
            .cmp(&group(b))
            .then(b.score.total_cmp(&a.score))
            .then(b.time_share.total_cmp(&a.time_share))
            .then(a.function.name.cmp(&b.function.name))
    });
    candidates.truncate(opts.top);
    for (i, c) in candidates.iter_mut().enumerate() {
        c.rank = i + 1;
    }
}
