//! The speedscope file format (<https://www.speedscope.app>, schema
//! <https://www.speedscope.app/file-format-schema.json>): sampled stacks over one shared frame
//! table, which speedscope shows as a time order chart, a left-heavy graph and a sandwich table.
//!
//! The same stacks as the folded writer are kept, under the same [`FoldOptions`] and frame
//! labels, so the flame graph and speedscope agree; only the shape differs. With `threads`, each
//! thread becomes its own speedscope profile instead of a root frame. Weights are seconds
//! (samples over the sampling rate) so speedscope shows time, and identical stacks are merged
//! into one sample, since a file of a million unique stacks must still load.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;

use super::folded::{frame_label, FoldOptions, NO_FRAME};
use crate::profile::{FrameId, FrameKind, Profile, ThreadId, ThreadInfo};

const SCHEMA_URL: &str = "https://www.speedscope.app/file-format-schema.json";

/// The whole file; field names are the schema's.
#[derive(Serialize)]
struct File {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared,
    profiles: Vec<SampledProfile>,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: String,
}

#[derive(Serialize)]
struct Shared {
    frames: Vec<SharedFrame>,
}

/// A frame as speedscope shows it. Two profile frames that differ only in their sampled line
/// are the same function here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
struct SharedFrame {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// The function's first line, not the sampled one.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

impl SharedFrame {
    fn pseudo(name: String) -> SharedFrame {
        SharedFrame {
            name,
            file: None,
            line: None,
        }
    }
}

#[derive(Serialize)]
struct SampledProfile {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: f64,
    #[serde(rename = "endValue")]
    end_value: f64,
    /// Indexes into the shared frames, outermost first.
    samples: Vec<Vec<u32>>,
    weights: Vec<f64>,
}

pub fn write(profile: &Profile, opts: &FoldOptions, w: &mut dyn Write) -> Result<()> {
    let file = speedscope_file(profile, opts);
    serde_json::to_writer(&mut *w, &file).context("cannot write the speedscope profile")?;
    w.write_all(b"\n")
        .context("cannot write the speedscope profile")?;
    Ok(())
}

fn speedscope_file(profile: &Profile, opts: &FoldOptions) -> File {
    let name = match profile.meta.command.join(" ") {
        command if command.is_empty() => "port-advisor profile".to_owned(),
        command => command,
    };
    let several_processes = {
        let first = profile.threads.first().map(|t| t.pid);
        profile.threads.iter().any(|t| Some(t.pid) != first)
    };

    // Each kept stack as (its speedscope profile, shared frame ids), with its sample count.
    let mut table = FrameTable::new(profile.frames.len());
    let mut stacks: Vec<(ThreadId, Vec<u32>, u64)> = Vec::new();
    for stack in &profile.stacks {
        if stack.idle && !opts.include_idle {
            continue;
        }
        let mut ids = Vec::with_capacity(stack.frames.len() + 1);
        if several_processes && !opts.threads {
            let pid = profile.threads[stack.thread as usize].pid;
            ids.push(table.intern(SharedFrame::pseudo(format!("process {pid}"))));
        }
        ids.extend(
            stack
                .frames
                .iter()
                .map(|&f| table.profile_frame(profile, f)),
        );
        if stack.frames.is_empty() {
            // The interpreter ran with no Python frame (start-up, shutdown): still time.
            ids.push(table.intern(SharedFrame::pseudo(NO_FRAME.to_owned())));
        }
        let group = if opts.threads { stack.thread } else { 0 };
        stacks.push((group, ids, stack.weight));
    }

    // With frames numbered in name order, sorting the id lists sorts stacks by their names,
    // root first, whatever order the recording interned frames in.
    let frames = table.into_sorted(&mut stacks);
    stacks.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    // Distinct in the recording (another sampled line, GIL state), the same here.
    stacks.dedup_by(|later, kept| {
        let same = later.0 == kept.0 && later.1 == kept.1;
        if same {
            kept.2 += later.2;
        }
        same
    });

    let rate = profile.meta.sampling.rate_hz;
    let (unit, scale) = if rate > 0 {
        ("seconds", 1.0 / f64::from(rate))
    } else {
        // No known rate (e.g. an imported profile): plain sample counts.
        ("none", 1.0)
    };
    let mut profiles: Vec<SampledProfile> = Vec::new();
    let mut totals: Vec<u64> = Vec::new();
    let mut current: Option<ThreadId> = None;
    for (group, ids, weight) in stacks {
        if current != Some(group) {
            current = Some(group);
            let name = if opts.threads {
                thread_name(&profile.threads[group as usize], several_processes)
            } else {
                name.clone()
            };
            profiles.push(sampled_profile(name, unit));
            totals.push(0);
        }
        let p = profiles.last_mut().unwrap();
        p.samples.push(ids);
        p.weights.push(weight as f64 * scale);
        *totals.last_mut().unwrap() += weight;
    }
    if profiles.is_empty() {
        // Nothing was kept; speedscope still wants a profile to open.
        profiles.push(sampled_profile(name.clone(), unit));
        totals.push(0);
    }
    for (p, &total) in profiles.iter_mut().zip(&totals) {
        // From the sample count, so that rounding in the weights does not add up.
        p.end_value = total as f64 * scale;
    }
    // Open on the busiest thread, the first of equals.
    let active_profile_index = totals
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(i, _)| i);

    File {
        schema: SCHEMA_URL,
        shared: Shared { frames },
        profiles,
        name,
        active_profile_index,
        exporter: format!("port-advisor {}", env!("CARGO_PKG_VERSION")),
    }
}

fn sampled_profile(name: String, unit: &'static str) -> SampledProfile {
    SampledProfile {
        kind: "sampled",
        name,
        unit,
        start_value: 0.0,
        end_value: 0.0,
        samples: Vec::new(),
        weights: Vec::new(),
    }
}

/// The folded writer's thread label, after the process when there are several. JSON needs no
/// separator escaping, so the name is kept as it is.
fn thread_name(thread: &ThreadInfo, several_processes: bool) -> String {
    let label = match &thread.name {
        Some(n) => format!("thread {n} ({:#x})", thread.tid),
        None => format!("thread {:#x}", thread.tid),
    };
    if several_processes {
        format!("process {}, {label}", thread.pid)
    } else {
        label
    }
}

/// Shared frames, interned on first use so that frames no kept stack shows are left out.
struct FrameTable {
    frames: Vec<SharedFrame>,
    ids: HashMap<SharedFrame, u32>,
    /// The shared id of each profile frame, once seen.
    of_profile_frame: Vec<Option<u32>>,
}

impl FrameTable {
    fn new(profile_frames: usize) -> FrameTable {
        FrameTable {
            frames: Vec::new(),
            ids: HashMap::new(),
            of_profile_frame: vec![None; profile_frames],
        }
    }

    fn intern(&mut self, frame: SharedFrame) -> u32 {
        if let Some(&id) = self.ids.get(&frame) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.frames.push(frame.clone());
        self.ids.insert(frame, id);
        id
    }

    fn profile_frame(&mut self, profile: &Profile, id: FrameId) -> u32 {
        if let Some(shared) = self.of_profile_frame[id as usize] {
            return shared;
        }
        let frame = &profile.frames[id as usize];
        let shared = self.intern(match frame.kind {
            FrameKind::Python => SharedFrame {
                name: frame_label(frame),
                file: Some(frame.file.clone()),
                line: frame.first_line,
            },
            FrameKind::Native => SharedFrame::pseudo(frame_label(frame)),
        });
        self.of_profile_frame[id as usize] = Some(shared);
        shared
    }

    /// The frames in name order, with the ids in `stacks` renumbered to match.
    fn into_sorted(self, stacks: &mut [(ThreadId, Vec<u32>, u64)]) -> Vec<SharedFrame> {
        let mut order: Vec<u32> = (0..self.frames.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.frames[a as usize].cmp(&self.frames[b as usize]));
        let mut renumbered = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            renumbered[old as usize] = new as u32;
        }
        for (_, ids, _) in stacks.iter_mut() {
            for id in ids.iter_mut() {
                *id = renumbered[*id as usize];
            }
        }
        let mut frames: Vec<Option<SharedFrame>> = self.frames.into_iter().map(Some).collect();
        order
            .iter()
            .map(|&old| frames[old as usize].take().unwrap())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::profile::{Frame, Meta, ProfileBuilder, Sampling};

    fn python(name: &str, first_line: u32, line: u32) -> Frame {
        Frame {
            name: name.into(),
            qualname: None,
            file: "/app/m.py".into(),
            first_line: Some(first_line),
            line: Some(line),
            module: Some("m".into()),
            kind: FrameKind::Python,
            code: None,
        }
    }

    const ODD_NAME: &str = "odd;\"quoted\" <script>alert('x')</script> ünïcødé 🦀";

    /// Two threads of one process at 100 Hz: main runs `work` at two sampled lines (one
    /// function), recurses in `fib`, waits once (idle) and once runs no Python at all; the
    /// worker runs a function with an awkward name.
    fn two_threads() -> Profile {
        let mut b = ProfileBuilder::default();
        let main = b.intern_thread(7, 0x10, Some("MainThread"));
        let worker = b.intern_thread(7, 0x20, Some("pool;\"w\" <b> ü"));
        let m = b.intern_frame(python("<module>", 1, 30));
        let work_a = b.intern_frame(python("work", 5, 6));
        let work_b = b.intern_frame(python("work", 5, 8));
        let fib = b.intern_frame(python("fib", 12, 13));
        let wait = b.intern_frame(python("wait", 20, 21));
        let odd = b.intern_frame(python(ODD_NAME, 40, 41));
        let native = b.intern_frame(Frame {
            name: "PyList_Append".into(),
            qualname: None,
            file: "libpython3.12.so".into(),
            first_line: None,
            line: None,
            module: Some("libpython3.12.so".into()),
            kind: FrameKind::Native,
            code: None,
        });
        for (thread, frames, idle, n) in [
            (main, vec![m, work_a], false, 3),
            (main, vec![m, work_b], false, 2),
            (main, vec![m, fib, fib, fib], false, 4),
            (main, vec![m, work_a, native], false, 1),
            (main, vec![m, wait], true, 5),
            (main, vec![], false, 1),
            (worker, vec![m, odd], false, 6),
        ] {
            for _ in 0..n {
                b.add_stack(thread, frames.clone(), idle, false, false);
            }
        }
        b.to_profile(Meta {
            command: vec!["python".into(), "app;\"x\".py".into()],
            sampling: Sampling {
                rate_hz: 100,
                ..Sampling::default()
            },
            ..Meta::default()
        })
    }

    fn export(profile: &Profile, include_idle: bool, threads: bool) -> Value {
        let mut out = Vec::new();
        let opts = FoldOptions {
            include_idle,
            threads,
        };
        write(profile, &opts, &mut out).unwrap();
        serde_json::from_slice(&out).expect("the output is JSON")
    }

    fn frame_names(file: &Value) -> Vec<&str> {
        file["shared"]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect()
    }

    /// Every sample of profile `p` as its frame names, with its weight.
    fn samples(file: &Value, p: usize) -> Vec<(Vec<&str>, f64)> {
        let names = frame_names(file);
        let profile = &file["profiles"][p];
        let weights = profile["weights"].as_array().unwrap();
        let samples = profile["samples"].as_array().unwrap();
        assert_eq!(samples.len(), weights.len());
        samples
            .iter()
            .zip(weights)
            .map(|(s, w)| {
                let stack = s
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| names[i.as_u64().unwrap() as usize])
                    .collect();
                (stack, w.as_f64().unwrap())
            })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn has_the_fields_speedscope_requires() {
        let file = export(&two_threads(), false, false);
        assert_eq!(file["$schema"], SCHEMA_URL);
        assert_eq!(file["name"], "python app;\"x\".py");
        assert_eq!(file["activeProfileIndex"], 0);
        assert_eq!(
            file["exporter"],
            format!("port-advisor {}", env!("CARGO_PKG_VERSION"))
        );
        let profiles = file["profiles"].as_array().unwrap();
        assert_eq!(profiles.len(), 1);
        let p = &profiles[0];
        assert_eq!(p["type"], "sampled");
        assert_eq!(p["name"], "python app;\"x\".py");
        assert_eq!(p["unit"], "seconds");
        assert_eq!(p["startValue"], 0.0);
    }

    #[test]
    fn frames_are_shared_once_by_label_and_samples_index_them() {
        let profile = two_threads();
        let file = export(&profile, true, false);
        let names = frame_names(&file);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        // `work` sampled at two lines is one function.
        let work = frame_label(&profile.frames[1]);
        assert_eq!(names.iter().filter(|&&n| n == work).count(), 1);
        for sample in file["profiles"][0]["samples"].as_array().unwrap() {
            for i in sample.as_array().unwrap() {
                assert!((i.as_u64().unwrap() as usize) < names.len());
            }
        }
        // Python frames carry where they are; native ones only their label.
        let frames = file["shared"]["frames"].as_array().unwrap();
        let work = frames.iter().find(|f| f["name"] == work.as_str()).unwrap();
        assert_eq!(work["file"], "/app/m.py");
        assert_eq!(work["line"], 5);
        let native = frames
            .iter()
            .find(|f| f["name"] == "PyList_Append (libpython3.12.so)")
            .unwrap();
        assert!(native.get("file").is_none() && native.get("line").is_none());
    }

    #[test]
    fn identical_stacks_merge_and_come_in_name_order() {
        let file = export(&two_threads(), false, false);
        let got = samples(&file, 0);
        let stacks: Vec<Vec<&str>> = got.iter().map(|(s, _)| s.clone()).collect();
        let mut sorted = stacks.clone();
        sorted.sort();
        assert_eq!(stacks, sorted);
        let mut deduped = stacks.clone();
        deduped.dedup();
        assert_eq!(deduped, stacks);
        let work = got
            .iter()
            .find(|(s, _)| s == &["<module> (m.py:1)", "work (m.py:5)"])
            .unwrap();
        assert!(close(work.1, 0.05), "3 + 2 samples at 100 Hz: {}", work.1);
        let fib = got.iter().find(|(s, _)| s.len() == 4).unwrap();
        assert_eq!(fib.0[1..], ["fib (m.py:12)"; 3]);
        assert!(close(fib.1, 0.04));
    }

    #[test]
    fn weights_are_seconds_that_add_up_to_the_end_value() {
        let profile = two_threads();
        for include_idle in [false, true] {
            let file = export(&profile, include_idle, false);
            let total: f64 = samples(&file, 0).iter().map(|(_, w)| w).sum();
            let expected = profile.total_weight(include_idle) as f64 / 100.0;
            assert!(close(total, expected), "{total} != {expected}");
            assert!(close(
                file["profiles"][0]["endValue"].as_f64().unwrap(),
                expected
            ));
        }
    }

    #[test]
    fn idle_stacks_only_when_asked() {
        let profile = two_threads();
        let has_wait = |file: &Value| {
            samples(file, 0)
                .iter()
                .any(|(s, _)| s.contains(&"wait (m.py:20)"))
        };
        let busy = export(&profile, false, false);
        assert!(!has_wait(&busy));
        assert!(!frame_names(&busy).contains(&"wait (m.py:20)"));
        assert!(has_wait(&export(&profile, true, false)));
    }

    #[test]
    fn a_stack_without_frames_is_the_no_frame_pseudo_frame() {
        let file = export(&two_threads(), false, false);
        let empty: Vec<_> = samples(&file, 0)
            .into_iter()
            .filter(|(s, _)| s == &[NO_FRAME])
            .collect();
        assert_eq!(empty.len(), 1);
        assert!(close(empty[0].1, 0.01));
    }

    #[test]
    fn threads_become_profiles_and_the_busiest_opens() {
        let profile = two_threads();
        let file = export(&profile, true, true);
        let profiles = file["profiles"].as_array().unwrap();
        let names: Vec<&str> = profiles
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["thread MainThread (0x10)", "thread pool;\"w\" <b> ü (0x20)"]
        );
        let main: f64 = samples(&file, 0).iter().map(|(_, w)| w).sum();
        let worker: f64 = samples(&file, 1).iter().map(|(_, w)| w).sum();
        assert!(close(main, 0.16) && close(worker, 0.06), "{main} {worker}");
        assert!(close(profiles[1]["endValue"].as_f64().unwrap(), 0.06));
        assert_eq!(file["activeProfileIndex"], 0);
        // No thread frame at the root: the profile is the thread.
        assert!(samples(&file, 1)
            .iter()
            .all(|(s, _)| s[0] == "<module> (m.py:1)"));
    }

    #[test]
    fn several_processes_are_named() {
        let mut profile = two_threads();
        profile.threads[1].pid = 8;
        let merged = export(&profile, false, false);
        let roots: Vec<&str> = samples(&merged, 0).iter().map(|(s, _)| s[0]).collect();
        assert!(roots.contains(&"process 7") && roots.contains(&"process 8"));
        assert!(roots.iter().all(|r| r.starts_with("process ")));

        let split = export(&profile, false, true);
        assert_eq!(
            split["profiles"][1]["name"],
            "process 8, thread pool;\"w\" <b> ü (0x20)"
        );
        assert_eq!(samples(&split, 1)[0].0[0], "<module> (m.py:1)");
    }

    #[test]
    fn awkward_names_survive_the_json() {
        let profile = two_threads();
        let file = export(&profile, false, false);
        // The label is the flame graph's, which turns `;` into `:`; the rest is kept as is.
        let expected = frame_label(&profile.frames[5]);
        assert_eq!(
            expected,
            format!("{} (m.py:40)", ODD_NAME.replace(';', ":"))
        );
        assert!(frame_names(&file).contains(&expected.as_str()));
        let text = {
            let mut out = Vec::new();
            write(&profile, &FoldOptions::default(), &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        // serde_json escapes quotes; `<`, `>` and non-ASCII are legal JSON as they are.
        assert!(text.contains("\\\"quoted\\\""));
        assert!(text.contains("ünïcødé 🦀"));
    }

    #[test]
    fn without_a_rate_the_unit_is_samples() {
        let mut profile = two_threads();
        profile.meta.sampling.rate_hz = 0;
        let file = export(&profile, false, false);
        assert_eq!(file["profiles"][0]["unit"], "none");
        assert_eq!(file["profiles"][0]["endValue"], 17.0);
    }

    #[test]
    fn an_empty_profile_still_opens() {
        let profile = Profile::new(Meta::default());
        for threads in [false, true] {
            let file = export(&profile, false, threads);
            assert_eq!(file["name"], "port-advisor profile");
            assert_eq!(file["profiles"].as_array().unwrap().len(), 1);
            assert_eq!(file["profiles"][0]["samples"], Value::Array(vec![]));
            assert_eq!(file["profiles"][0]["endValue"], 0.0);
        }
    }
}
