//! The link between the recorder and the in-process probe of a launched program: a folder
//! they share. The recorder writes there which functions are candidates (the hottest Python
//! functions by inclusive time, and their callers) and reads back what the probe measured;
//! meanwhile it tallies each candidate's samples, so that a count the probe began late in the
//! run can be placed among them.
//!
//! It tells the probe's own frames from the program's, but never reads the program itself:
//! py-spy's types stay out of it, and it only reads the profile being built.

use std::time::{Duration, Instant};

use super::launch;
use crate::profile::{Example, FrameId, ProbeResults, ProbedFunction, ProfileBuilder};

/// The file of the probe's wrappers (Python before 3.12), which sit between a caller and a
/// candidate function, named as the function: removed from stacks, unlike the probe's other
/// frames (`WRAPPER_FILE` in probe.py).
pub(super) const PROBE_WRAPPER_FILE: &str = "<port-advisor wrapper>";

/// How the recorder talks to the probe: it tells it which functions are candidates (the
/// hottest Python functions by inclusive time, and their callers) and reads its results.
pub(super) struct ProbeLink {
    folder: std::path::PathBuf,
    probe_file: String,
    started: Instant,
    last_choice: Instant,
    written: Vec<(String, String)>,
    /// Every function ever written as a candidate, with its samples.
    tallies: Vec<Tally>,
    /// For each frame id: the tally of its function, once looked up.
    tally_of_frame: Vec<Option<Option<usize>>>,
}

/// The samples of one function the probe was told to count, so that where its count began
/// can be placed among them: the probe counts calls only from then on (Python before 3.12).
struct Tally {
    file: String,
    name: String,
    /// Busy samples whose stack holds it, from the start of the run.
    total: u64,
    /// When it was first written as a candidate (monotonic clock, seconds), and its total then.
    written_at: f64,
    total_at_write: u64,
    /// `(time, total)` after each of its samples during the `TALLY_WINDOW` after that.
    timeline: Vec<(f64, u64)>,
}

/// How long after a function is written as a candidate its counting can begin: the probe
/// looks for candidates every 0.25 s, later when the program holds the GIL for long.
const TALLY_WINDOW: f64 = 5.0;

/// The system's monotonic clock, which Python's `time.monotonic()` reads too.
fn monotonic_seconds() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9)
        .unwrap_or(0.0)
}

/// How many of the hottest functions become candidates, and the least share that qualifies.
const CANDIDATES: usize = 12;
const CANDIDATE_MIN_SHARE: f64 = 0.02;
/// How often the candidate set is reconsidered, and the samples needed first. Before 3.12 a
/// function is counted only from when it is chosen, and its earlier calls are extrapolated
/// from its samples: the first seconds choose often, so that little is extrapolated.
const CHOOSE_EVERY: Duration = Duration::from_millis(250);
const CHOOSE_EVERY_EARLY: Duration = Duration::from_millis(100);
const EARLY: Duration = Duration::from_secs(2);
const CHOOSE_AFTER_SAMPLES: u64 = 10;

impl ProbeLink {
    pub(super) fn new(folder: std::path::PathBuf) -> ProbeLink {
        let probe_file = folder.join(launch::PROBE_FILE).display().to_string();
        ProbeLink {
            folder,
            probe_file,
            started: Instant::now(),
            last_choice: Instant::now(),
            written: Vec::new(),
            tallies: Vec::new(),
            tally_of_frame: Vec::new(),
        }
    }

    /// Counts one busy sample of `frames` for the functions it holds that are tallied.
    pub(super) fn tally(&mut self, builder: &ProfileBuilder, frames: &[FrameId], weight: u64) {
        if self.tallies.is_empty() {
            return;
        }
        let mut now = None;
        let mut seen: Vec<usize> = Vec::new();
        for &id in frames {
            let slot = id as usize;
            if slot >= self.tally_of_frame.len() {
                self.tally_of_frame.resize(slot + 1, None);
            }
            let t = match self.tally_of_frame[slot] {
                Some(t) => t,
                None => {
                    let f = builder.frame(id);
                    let t = self
                        .tallies
                        .iter()
                        .position(|t| t.file == f.file && t.name == f.name);
                    self.tally_of_frame[slot] = Some(t);
                    t
                }
            };
            if let Some(t) = t.filter(|t| !seen.contains(t)) {
                seen.push(t);
                let tally = &mut self.tallies[t];
                tally.total += weight;
                let now = *now.get_or_insert_with(monotonic_seconds);
                if now - tally.written_at <= TALLY_WINDOW {
                    tally.timeline.push((now, tally.total));
                }
            }
        }
    }

    /// For a function counted from late in the run: its samples before counting began and in
    /// the whole run, when the start of counting can be placed.
    fn sampled(&self, p: &ProbedFunction, probe_started: f64) -> Option<(u64, u64)> {
        let tally = self
            .tallies
            .iter()
            .find(|t| t.file == p.file && (t.name == p.qualname || t.name == p.name))?;
        let began = probe_started + p.counted_since;
        if began > tally.written_at + TALLY_WINDOW {
            return None;
        }
        let before = tally
            .timeline
            .iter()
            .take_while(|(t, _)| *t <= began)
            .last()
            .map_or(tally.total_at_write, |&(_, total)| total);
        Some((before, tally.total))
    }

    pub(super) fn is_probe_file(&self, file: &str) -> bool {
        file == self.probe_file
    }

    /// A frame of the probe's own code: its thread (imports it makes included), or a callback
    /// on top of a call; a wrapper between a caller and a candidate is the program's.
    pub(super) fn is_probe_frame(&self, file: &str) -> bool {
        self.is_probe_file(file)
    }

    /// A wrapper's frame, between a caller and the function it wraps.
    pub(super) fn is_wrapper_file(file: &str) -> bool {
        file == PROBE_WRAPPER_FILE
    }

    pub(super) fn choose_candidates(&mut self, builder: &ProfileBuilder) {
        let every = if self.started.elapsed() < EARLY {
            CHOOSE_EVERY_EARLY
        } else {
            CHOOSE_EVERY
        };
        if self.last_choice.elapsed() < every {
            return;
        }
        self.last_choice = Instant::now();
        let hot =
            builder.hot_python_functions(CANDIDATES, CANDIDATE_MIN_SHARE, CHOOSE_AFTER_SAMPLES);
        if hot.is_empty() || hot == self.written {
            return;
        }
        let text: String = hot
            .iter()
            .map(|(file, name)| format!("{file}\t{name}\n"))
            .collect();
        let path = self.folder.join("candidates");
        if crate::profile::write_private(&path, |w| Ok(w.write_all(text.as_bytes())?)).is_ok() {
            let now = monotonic_seconds();
            for (file, name) in &hot {
                if !self
                    .tallies
                    .iter()
                    .any(|t| &t.file == file && &t.name == name)
                {
                    let total = builder.inclusive_busy_weight(file, name);
                    self.tallies.push(Tally {
                        file: file.clone(),
                        name: name.clone(),
                        total,
                        written_at: now,
                        total_at_write: total,
                        timeline: Vec::new(),
                    });
                }
            }
            // Frames looked up before may belong to a function tallied now.
            self.tally_of_frame.clear();
            self.written = hot;
        }
    }

    /// What the probe wrote last; a probe that could not run says why.
    pub(super) fn results(&self, python_version: Option<&str>) -> ProbeResults {
        let too_old = python_version.is_some_and(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (3, 8)
        });
        if too_old {
            return ProbeResults {
                method: "none".into(),
                unavailable: Some(format!(
                    "the probe needs CPython 3.8+; this program ran on {}",
                    python_version.unwrap_or("an unknown version")
                )),
                ..ProbeResults::default()
            };
        }
        let path = self.folder.join("results.json");
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<ProbeResults>(&b).ok())
        {
            Some(mut results) => {
                attach_examples(&mut results, &self.folder.join("examples.json"));
                if let Some(started) = results.started_monotonic {
                    for p in results
                        .functions
                        .iter_mut()
                        .filter(|p| p.counted_since > 0.0)
                    {
                        if let Some((before, total)) = self.sampled(p, started) {
                            p.sampled_before = Some(before);
                            p.sampled = Some(total);
                        }
                    }
                }
                results
            }
            None => ProbeResults {
                method: "none".into(),
                unavailable: Some(
                    "the probe wrote no results (the program ended before its first report)".into(),
                ),
                ..ProbeResults::default()
            },
        }
    }
}

/// One function's examples, as the probe writes them to `examples.json`: apart from the
/// counts, and only when one is added or completed, since they can be large.
#[derive(serde::Deserialize)]
struct ExamplesOf {
    file: String,
    qualname: String,
    first_line: u32,
    examples: Vec<Example>,
}

/// Gives each probed function the examples the probe wrote for it.
fn attach_examples(results: &mut ProbeResults, path: &std::path::Path) {
    let Some(all) = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<ExamplesOf>>(&b).ok())
    else {
        return;
    };
    for of in all {
        if let Some(f) = results.functions.iter_mut().find(|f| {
            f.file == of.file && f.qualname == of.qualname && f.first_line == of.first_line
        }) {
            f.examples = of.examples;
        }
    }
}
