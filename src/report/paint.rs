//! How flame graphs paint functions: by the verdict on the region each belongs to, so that
//! what to port stands out. Used by the HTML report and the standalone `flame.svg`.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::flamegraph::{self, FramePaint, Shape};
use super::folded::{self, FoldOptions};
use crate::advise::{Advice, Verdict};
use crate::analyze::Analysis;
use crate::profile::{FrameKind, Profile};

/// How a function is painted in the flame graph: by the verdict on the region it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Paint {
    /// The chosen boundary of a `port` candidate.
    Port,
    /// Program code under a `port` boundary: it moves with it.
    PortInside,
    /// A function a native library would replace.
    Library,
    /// A region the advice says to leave.
    Leave,
    /// Time that already runs as machine code.
    Native,
    Other,
}

impl Paint {
    pub const ALL: [Paint; 6] = [
        Paint::Port,
        Paint::PortInside,
        Paint::Library,
        Paint::Leave,
        Paint::Native,
        Paint::Other,
    ];

    pub fn rgb(self) -> (u8, u8, u8) {
        match self {
            Paint::Port => (0xd9, 0x48, 0x0f),
            Paint::PortInside => (0xff, 0xa9, 0x4d),
            Paint::Library => (0x4d, 0xab, 0xf7),
            Paint::Leave => (0xad, 0xb5, 0xbd),
            Paint::Native => (0x8c, 0xe9, 0x9a),
            Paint::Other => (0xdc, 0xcd, 0xab),
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Paint::Port => "pa-port",
            Paint::PortInside => "pa-port-inside",
            Paint::Library => "pa-library",
            Paint::Leave => "pa-leave",
            Paint::Native => "pa-native",
            Paint::Other => "pa-other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Paint::Port => "port: the chosen boundary",
            Paint::PortInside => "port: moves with its boundary",
            Paint::Library => "use a library",
            Paint::Leave => "leave it",
            Paint::Native => "already native",
            Paint::Other => "not a candidate",
        }
    }
}

/// Each function's paint, and the candidate it belongs to.
pub fn paint_functions(
    profile: &Profile,
    analysis: &Analysis,
    advice: &Advice,
    fold: &FoldOptions,
) -> (Vec<Paint>, Vec<Option<usize>>) {
    let n = analysis.functions.len();
    let mut paints = vec![Paint::Other; n];
    let mut membership: Vec<Option<usize>> = vec![None; n];
    let mut rank = vec![u8::MAX; n];
    // Lower ranks win when a function belongs to several regions.
    let mut set = |f: usize, paint: Paint, order: u8, candidate: Option<usize>| {
        if order < rank[f] {
            rank[f] = order;
            paints[f] = paint;
            if candidate.is_some() {
                membership[f] = candidate;
            }
        }
    };
    for (i, f) in analysis.functions.iter().enumerate() {
        if f.kind == FrameKind::Native || f.native_share() >= 0.5 {
            set(i, Paint::Native, 1, None);
        }
    }
    let boundaries: Vec<(usize, usize)> = advice
        .candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.verdict == Verdict::Port)
        .filter_map(|(ci, c)| Some((c.function.index_in(analysis)?, ci)))
        .collect();
    for &(b, ci) in &boundaries {
        set(b, Paint::Port, 0, Some(ci));
    }
    if !boundaries.is_empty() {
        let mut inside: HashMap<usize, usize> = HashMap::new();
        for stack in &profile.stacks {
            if stack.idle && !fold.include_idle {
                continue;
            }
            let fns: Vec<Option<usize>> = stack
                .frames
                .iter()
                .map(|&fr| analysis.frame_function[fr as usize])
                .collect();
            for &(b, ci) in &boundaries {
                if let Some(at) = fns.iter().position(|&f| f == Some(b)) {
                    for f in fns[at + 1..].iter().flatten() {
                        inside.entry(*f).or_insert(ci);
                    }
                }
            }
        }
        for (f, ci) in inside {
            if analysis.functions[f].kind == FrameKind::Python {
                set(f, Paint::PortInside, 2, Some(ci));
            }
        }
    }
    for (ci, c) in advice.candidates.iter().enumerate() {
        let (paint, order) = match c.verdict {
            Verdict::Port => continue,
            Verdict::UseLibrary => (Paint::Library, 3),
            Verdict::LeaveIt => (Paint::Leave, 4),
        };
        if let Some(f) = c.function.index_in(analysis) {
            set(f, paint, order, Some(ci));
        }
        for name in &c.hot_functions {
            if let Some(f) = analysis.functions.iter().position(|s| &s.name == name) {
                set(f, paint, order, Some(ci));
            }
        }
    }
    (paints, membership)
}

pub fn frame_paints(profile: &Profile, analysis: &Analysis, paints: &[Paint]) -> Vec<FramePaint> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (frame, f) in profile.frames.iter().zip(&analysis.frame_function) {
        let Some(f) = *f else { continue };
        let label = folded::frame_label(frame);
        if !seen.insert(label.clone()) {
            continue;
        }
        out.push(FramePaint {
            label,
            rgb: paints[f].rgb(),
            class: paints[f].class(),
            data: Some(f),
        });
    }
    out
}

/// A flame graph painted by the advice.
pub fn write_flame(
    profile: &Profile,
    analysis: &Analysis,
    advice: &Advice,
    fold: &FoldOptions,
    shape: Shape,
    w: &mut dyn Write,
) -> Result<()> {
    let (paints, _) = paint_functions(profile, analysis, advice, fold);
    let frames = frame_paints(profile, analysis, &paints);
    flamegraph::write_painted(profile, fold, &frames, shape, w).map(|_| ())
}
