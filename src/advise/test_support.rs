//! Builders for unit tests: a Python frame, a candidate with one boundary option, and the
//! advice for a profile built in a test, so that tests state only what they are about.
//!
//! Test code only; it may not be used by the advice itself.

use super::report::{BoundaryOption, Candidate, Exclusion, FunctionRef, Reason, Verdict};
use super::{advise, Advice, AdviseOptions};
use crate::analyze::{analyze, AnalyzeOptions};
use crate::profile::{
    Frame, FrameId, FrameKind, Meta, ProbeResults, ProbedFunction, Profile, ProfileBuilder,
    Provenance,
};
use crate::rules::Rules;

/// Numbers below `n` drawn from `seed` by a fixed linear congruential generator: the same
/// "random" test data on every run and machine.
pub(crate) fn draws(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut seed = seed;
    move |n| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    }
}

/// A frame of Python code in `file`, at line 3, with no source line recorded.
pub(crate) fn python_frame(name: &str, file: &str, module: &str) -> Frame {
    Frame {
        name: name.into(),
        qualname: None,
        file: file.into(),
        first_line: None,
        line: Some(3),
        module: Some(module.into()),
        kind: FrameKind::Python,
        code: None,
    }
}

/// The profile of `app.py` (holding `source`) recorded here, so that the source is read, with
/// the stacks `stacks` adds given the file's path.
pub(crate) fn local_app(
    source: &str,
    stacks: impl FnOnce(&mut ProfileBuilder, &str),
) -> (tempfile::TempDir, Profile) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.py");
    std::fs::write(&file, source).unwrap();
    let file = file.display().to_string();
    let mut b = ProfileBuilder::default();
    stacks(&mut b, &file);
    let mut p = b.to_profile(Meta {
        command: vec!["python".into(), file],
        cwd: Some(dir.path().display().to_string()),
        wall_seconds: 1.0,
        ..Meta::default()
    });
    p.provenance = Provenance::Local;
    (dir, p)
}

/// The frame of `name` (defined at `first`) of `app.py` (`file`) at `line`.
pub(crate) fn line_frame(
    b: &mut ProfileBuilder,
    file: &str,
    name: &str,
    first: u32,
    line: u32,
) -> FrameId {
    b.intern_frame(Frame {
        first_line: Some(first),
        line: Some(line),
        ..python_frame(name, file, "app")
    })
}

/// `main` calling `work`, both of `/home/me/app.py`, in every one of 200 samples of one thread:
/// a profile whose whole run is one function.
pub(crate) fn main_calling_work() -> ProfileBuilder {
    let mut b = ProfileBuilder::default();
    let t = b.intern_thread(1, 1, None);
    let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
    let work = b.intern_frame(python_frame("work", "/home/me/app.py", "app"));
    for _ in 0..200 {
        b.add_stack(t, vec![main, work], false, true, false);
    }
    b
}

/// What `sys.monitoring` counted: exact call counts of functions of `file`, by qualified name.
pub(crate) fn counted_calls(file: &str, calls: &[(&str, u64)]) -> ProbeResults {
    ProbeResults {
        method: "sys.monitoring".into(),
        functions: calls
            .iter()
            .map(|&(qualname, calls)| ProbedFunction {
                file: file.into(),
                name: qualname.rsplit('.').next().unwrap_or(qualname).into(),
                qualname: qualname.into(),
                calls,
                calls_exact: true,
                ..ProbedFunction::default()
            })
            .collect(),
        ..ProbeResults::default()
    }
}

/// The advice for `profile` with the built-in rules and default options.
pub(crate) fn advice_of(profile: &Profile) -> Advice {
    let rules = Rules::load(None).unwrap();
    let analysis = analyze(profile, &AnalyzeOptions::default());
    advise(profile, &analysis, &rules, &AdviseOptions::default())
}

/// The boundary option of function `name`, in whichever candidate considered it.
pub(crate) fn option_named<'a>(advice: &'a Advice, name: &str) -> &'a BoundaryOption {
    advice
        .candidates
        .iter()
        .flat_map(|c| &c.alternatives)
        .find(|o| o.function.name == name)
        .unwrap_or_else(|| panic!("no option of {name}: {:#?}", advice.candidates))
}

/// A function of `app.py`, as reports name it.
pub(crate) fn function(name: &str) -> FunctionRef {
    FunctionRef {
        name: name.into(),
        module: None,
        file: "app.py".into(),
        first_line: None,
    }
}

/// A leave-it for the hot function `name` (5% of the run, 4% its own), whose only boundary
/// considered is `top`, excluded for its size.
pub(crate) fn leave_it(name: &str, reason: Reason, top: &str) -> Candidate {
    let option = BoundaryOption {
        function: function(top),
        time_share: 0.9,
        native_share: 0.0,
        portable_share: 0.9,
        portable_error: 0.0,
        teardown_share: 0.0,
        native_math_share: 0.0,
        functions: 20,
        calls: None,
        crossing_ns: None,
        crossing_share: None,
        data: Vec::new(),
        code_kind: "object".into(),
        factor: [1.5, 4.0],
        saved: [0.0, 0.0],
        expected: 0.0,
        speedup: [1.0, 1.0],
        excluded: Some("too big".into()),
        exclusion: Some(Exclusion::Scope),
        chosen: false,
        gil: None,
        size: None,
        operations: Vec::new(),
        priced_share: 0.0,
        chain_floor: 0.0,
        executed: Vec::new(),
        executed_bytecodes: 0,
    };
    let summary = format!("{name} alone");
    let mut c =
        Candidate::new(Verdict::LeaveIt, reason, summary, function(name), 0.04).judged_on(&option);
    c.time_share = 0.05;
    c
}
