//! `port-advisor profile`: record a program, keep its run folder (the profile, the advice as
//! JSON, Markdown and a page, the flame graph), print the summary and the advice, and end as
//! the program ended.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::{analysis_of, load_rules};
use crate::advise;
use crate::cli::{ProfileFormat, ProfilePlan};
use crate::error::{ExitStatus, UserError};
use crate::profile::{write_atomic, Profile, Provenance, TargetKind};
use crate::python;
use crate::record::{self, StopReason};
use crate::report::advice::TableOptions;
use crate::report::flamegraph::Shape;
use crate::report::html::HtmlOptions;
use crate::report::{self, summary::SummaryOptions};
use crate::run_folder::RunFolder;
use crate::trust;
use crate::ui;

/// Records, keeps the profile, draws the flame graph, summarizes. A program that failed
/// passes its own exit status on.
pub fn run(mut plan: ProfilePlan) -> Result<ExitStatus> {
    // Rules are read before the program runs: a typo in them must not cost a recording.
    let rules = load_rules(plan.advice.rules.as_deref())?;
    let folder = RunFolder::create(plan.output.as_deref(), &plan.stem)?;
    ui::detail(format_args!("run folder {}", folder.path.display()));
    let profile_path = folder.file("profile.json");
    plan.record.checkpoint = Some(profile_path.clone());
    let recording = match record::record(&plan.target, &plan.python, &plan.record) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&profile_path);
            folder.discard();
            return Err(e);
        }
    };
    let mut profile = recording.profile;
    // Recorded here, by this user: its sources may be read, and later commands may act on it
    // once it is sealed.
    profile.provenance = Provenance::Local;
    let readable = trust::source_roots(&profile);
    python::blocks::enrich(&mut profile, &readable);

    save_with_fallback(&profile, &profile_path, &plan.stem)?;
    if let Err(e) = trust::seal(&profile_path) {
        eprintln!(
            "port-advisor: cannot seal {} ({e:#}): later commands will read it as a profile \
             from elsewhere (pass --trust to them)",
            profile_path.display()
        );
    }

    let analysis = analysis_of(&profile, &rules, plan.fold.include_idle);
    let advice = ui::timed("advice", || {
        advise::advise(&profile, &analysis, &rules, &plan.advice.options())
    });
    let mut written = vec!["profile.json"];
    write_atomic(&folder.file("report.json"), |w| {
        report::advice::write_json(&advice, w)
    })?;
    write_atomic(&folder.file("report.md"), |w| {
        report::advice::write_markdown(&advice, w)
    })?;
    write_atomic(&folder.file("flame.svg"), |w| {
        report::paint::write_flame(&profile, &analysis, &advice, &plan.fold, Shape::Flame, w)
    })?;
    let html = HtmlOptions {
        fold: plan.fold.clone(),
        run: Some(folder.path.display().to_string()),
    };
    write_atomic(&folder.file("report.html"), |w| {
        report::html::write(&profile, &analysis, &advice, &html, w)
    })?;
    written.extend(["report.json", "report.md", "report.html", "flame.svg"]);
    let export = match &plan.export {
        Some(export) => {
            let path = export
                .path
                .clone()
                .unwrap_or_else(|| folder.file(export.format.file_in_run_folder()));
            write_atomic(&path, |w| match export.format {
                ProfileFormat::Flamegraph => report::paint::write_flame(
                    &profile,
                    &analysis,
                    &advice,
                    &plan.fold,
                    Shape::Flame,
                    w,
                ),
                ProfileFormat::Raw => report::folded::write(&profile, &plan.fold, w),
                ProfileFormat::Speedscope => report::speedscope::write(&profile, &plan.fold, w),
            })?;
            ui::detail(format_args!("wrote {}", path.display()));
            Some((path, export.format))
        }
        None => None,
    };

    // The summary and the advice: on stdout, or on stderr (not at all with -q) when stdout
    // is kept for the run folder's path alone.
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let (mut prose, color): (Box<dyn Write>, bool) = if plan.print_run_dir {
        let sink: Box<dyn Write> = if ui::quiet() {
            Box::new(std::io::sink())
        } else {
            Box::new(stderr.lock())
        };
        (sink, ui::stderr_color())
    } else {
        (Box::new(stdout.lock()), ui::stdout_color())
    };
    report::summary::write(&profile, &analysis, &SummaryOptions::default(), &mut prose)?;
    writeln!(prose)?;
    report::advice::write_table(&advice, &TableOptions { color }, &mut prose)?;
    writeln!(prose)?;
    if let Some((path, format)) = &export {
        writeln!(prose, "Wrote {} ({})", path.display(), format.describe())?;
    }
    writeln!(prose, "See it: port-advisor view {}", folder.path.display())?;
    writeln!(prose, "Wrote {} to the run folder:", written.join(", "))?;
    prose.flush()?;
    drop(prose);
    // The run folder's path, alone, as the last line on stdout: what scripts read.
    let mut out = stdout.lock();
    writeln!(out, "{}", folder.path.display())?;
    out.flush()?;

    Ok(ending(&recording.stop, &profile, &profile_path))
}

/// How the run ends after a recording stopped for `stop`, said on stderr when it is not
/// plain success.
fn ending(stop: &StopReason, profile: &Profile, profile_path: &Path) -> ExitStatus {
    match *stop {
        StopReason::Exited(exit) if exit.code.is_none() && exit.signal.is_none() => {
            eprintln!("port-advisor: the program ended, but its exit status could not be read");
            ExitStatus::Success
        }
        StopReason::Exited(exit) if !exit.success() => {
            eprintln!("port-advisor: the program failed ({exit}); the profile of what ran is kept");
            if let Some(code) = exit
                .code
                .filter(|c| u8::try_from(*c).is_ok_and(|c| crate::error::codes::OWN.contains(&c)))
            {
                eprintln!(
                    "port-advisor: exit status {code} is the program's own, passed on: \
                     port-advisor's own failures also use 240-249"
                );
            }
            ExitStatus::ProgramFailed {
                code: exit.code,
                signal: exit.signal,
            }
        }
        StopReason::Signal(sig) => {
            eprintln!(
                "port-advisor: interrupted; {} of what ran is kept{}",
                profile_path.display(),
                if profile.meta.target == TargetKind::Attached {
                    " (the attached process was left running)"
                } else {
                    ""
                }
            );
            ExitStatus::Interrupted(sig)
        }
        _ => ExitStatus::Success,
    }
}

/// Saves the profile; if its place cannot be written (disk full, folder removed), saves it to
/// the temporary folder instead and names that path in the error, so nothing measured is lost.
fn save_with_fallback(profile: &Profile, path: &Path, stem: &str) -> Result<()> {
    let Err(first) = profile.save(path) else {
        return Ok(());
    };
    let fallback =
        std::env::temp_dir().join(format!("port-advisor-{stem}-{}.json", std::process::id()));
    match profile.save(&fallback) {
        Ok(()) => Err(UserError::Output(format!(
            "{first:#}; the profile was saved to {} instead",
            fallback.display()
        ))
        .into()),
        Err(_) => Err(first),
    }
}
