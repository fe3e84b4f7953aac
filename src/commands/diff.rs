//! `port-advisor diff`: two runs compared (whole program and per function, against the
//! advice's estimate for the first), and their differential flame graph.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::input::{load_one, run_name};
use super::{analysis_of, load_rules};
use crate::advise::{self, AdviseOptions};
use crate::analyze::Analysis;
use crate::cli::{DiffArgs, DiffFormat};
use crate::compare;
use crate::error::ExitStatus;
use crate::profile::{write_atomic, Profile};
use crate::report::compare::CompareOptions;
use crate::report::{self, folded::FoldOptions};

/// Writes the differential flame graph (by default diff.svg beside AFTER) and prints the
/// comparison.
pub fn run(args: DiffArgs) -> Result<ExitStatus> {
    let rules = load_rules(None)?;
    let load = |path: &Path| -> Result<(Profile, Analysis, PathBuf)> {
        let (profile, path) = load_one(path, &args.input)?;
        let analysis = analysis_of(&profile, &rules, args.idle);
        Ok((profile, analysis, path))
    };
    let (before, before_analysis, before_path) = load(&args.before)?;
    let (after, after_analysis, after_path) = load(&args.after)?;
    let estimate = advise::advise(
        &before,
        &before_analysis,
        &rules,
        &AdviseOptions {
            readiness: false,
            ..AdviseOptions::default()
        },
    )
    .combined_speedup;
    let comparison = compare::compare(
        (&before, &before_analysis),
        (&after, &after_analysis),
        estimate,
    );
    let fold = FoldOptions {
        include_idle: args.idle,
        threads: false,
    };
    let output = args.output.clone().unwrap_or_else(|| {
        after_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("diff.svg")
    });
    let title = "port-advisor diff: widths before, colours the change (blue: less time after)";
    let subtitle = format!(
        "{} -> {}: {:.2} s -> {:.2} s",
        run_name(&before_path),
        run_name(&after_path),
        before.meta.wall_seconds,
        after.meta.wall_seconds
    );
    let (before_lines, after_lines) = (
        report::folded::lines(&before, &fold),
        report::folded::lines(&after, &fold),
    );
    write_atomic(&output, |w| {
        report::flamegraph::write_differential(&before_lines, &after_lines, title, &subtitle, w)
    })?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let opts = CompareOptions { top: args.top };
    match args.format {
        DiffFormat::Table => report::compare::write_table(&comparison, &opts, &mut out)?,
        DiffFormat::Json => report::compare::write_json(&comparison, &mut out)?,
        DiffFormat::Markdown => report::compare::write_markdown(&comparison, &opts, &mut out)?,
    }
    out.flush()?;
    crate::ui::note(format_args!("Wrote {}", output.display()));
    Ok(ExitStatus::Success)
}
