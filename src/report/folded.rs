//! Collapsed ("folded") stacks: one line per distinct stack, outermost frame first, frames
//! joined by `;`, then a space and the sample count. The input of inferno and FlameGraph.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;

pub use crate::profile::NO_FRAME;
use crate::profile::{Frame, FrameKind, Profile};

/// What goes into the folded lines.
#[derive(Debug, Clone, Default)]
pub struct FoldOptions {
    /// Keep samples of waiting threads.
    pub include_idle: bool,
    /// Put a frame naming the thread at the root of each stack.
    pub threads: bool,
}

/// The label of a frame in a flame graph: the function, then where it is.
pub fn frame_label(frame: &Frame) -> String {
    let label = match frame.kind {
        FrameKind::Python => {
            let file = short_file(&frame.file);
            match frame.first_line {
                Some(line) => format!("{} ({file}:{line})", frame.display_name()),
                None => format!("{} ({file})", frame.display_name()),
            }
        }
        FrameKind::Native => match &frame.module {
            Some(m) => format!("{} ({m})", frame.name),
            None => frame.name.clone(),
        },
    };
    sanitize(&label)
}

fn short_file(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Folded lines keep `;` as the frame separator and newline as the record separator, so
/// neither may appear inside a label.
fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| match c {
            ';' => ':',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// The folded lines of a profile, merged by label and sorted, so equal input gives equal output.
pub fn lines(profile: &Profile, opts: &FoldOptions) -> Vec<String> {
    let labels: Vec<String> = profile.frames.iter().map(frame_label).collect();
    let several_processes = {
        let first = profile.threads.first().map(|t| t.pid);
        profile.threads.iter().any(|t| Some(t.pid) != first)
    };
    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    for stack in &profile.stacks {
        if stack.idle && !opts.include_idle {
            continue;
        }
        let mut parts: Vec<&str> = Vec::with_capacity(stack.frames.len() + 2);
        let thread = &profile.threads[stack.thread as usize];
        let process_label;
        if several_processes {
            process_label = format!("process {}", thread.pid);
            parts.push(&process_label);
        }
        let thread_label;
        if opts.threads {
            thread_label = sanitize(&match &thread.name {
                Some(n) => format!("thread {n} ({:#x})", thread.tid),
                None => format!("thread {:#x}", thread.tid),
            });
            parts.push(&thread_label);
        }
        parts.extend(stack.frames.iter().map(|&f| labels[f as usize].as_str()));
        if stack.frames.is_empty() {
            // The interpreter ran with no Python frame (start-up, shutdown): still time.
            parts.push(NO_FRAME);
        }
        *merged.entry(parts.join(";")).or_default() += stack.weight;
    }
    merged
        .into_iter()
        .map(|(stack, n)| format!("{stack} {n}"))
        .collect()
}

pub fn write(profile: &Profile, opts: &FoldOptions, w: &mut dyn Write) -> Result<()> {
    for line in lines(profile, opts) {
        writeln!(w, "{line}")?;
    }
    Ok(())
}
