//! The flame graph, drawn by inferno from the folded lines.

use std::io::Write;

use anyhow::{Context, Result};

use super::folded::{self, FoldOptions};
use crate::profile::Profile;

pub fn write(profile: &Profile, opts: &FoldOptions, w: &mut dyn Write) -> Result<()> {
    let lines = folded::lines(profile, opts);
    let mut options = inferno::flamegraph::Options::default();
    options.title = title(profile);
    options.subtitle = Some(subtitle(profile));
    options.count_name = "samples".into();
    if lines.is_empty() {
        // inferno refuses empty input; an empty profile still gets a valid, explicit picture.
        let empty = ["no samples were recorded 1".to_owned()];
        return inferno::flamegraph::from_lines(&mut options, empty.iter().map(String::as_str), w)
            .context("cannot draw the flame graph");
    }
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), w)
        .context("cannot draw the flame graph")
}

fn title(profile: &Profile) -> String {
    let command = profile.meta.command.join(" ");
    let command: String = command.chars().take(120).collect();
    format!("port-advisor: {command}")
}

fn subtitle(profile: &Profile) -> String {
    let m = &profile.meta;
    format!(
        "{} samples over {:.1} s at {} Hz ({:?} sampling){}",
        m.samples,
        m.wall_seconds,
        m.sampling.rate_hz,
        m.sampling.mode,
        m.python_version
            .as_ref()
            .map(|v| format!(", Python {v}"))
            .unwrap_or_default()
    )
    .replace("Nonblocking", "non-blocking")
    .replace("Blocking", "blocking")
}
