//! `port-advisor report`: the advice on saved profiles, without running the program again,
//! in the chosen format on stdout. Several profiles are merged first.

use std::io::Write;

use anyhow::Result;

use super::input::{load_many, run_name};
use super::{analysis_of, load_rules};
use crate::advise;
use crate::cli::{FailOn, ReportArgs, ReportFormat};
use crate::error::ExitStatus;
use crate::report::advice::TableOptions;
use crate::report::html::HtmlOptions;
use crate::report::{self, folded::FoldOptions};

/// Advises on the profiles and prints the advice.
pub fn run(args: ReportArgs) -> Result<ExitStatus> {
    let rules = load_rules(args.advice.rules.as_deref())?;
    let (profile, path) = load_many(&args.profiles, &args.input, false)?;
    let analysis = analysis_of(&profile, &rules, args.idle);
    let advice = crate::ui::timed("advice", || {
        advise::advise(&profile, &analysis, &rules, &args.advice.options())
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ReportFormat::Table => {
            let table = TableOptions {
                color: crate::ui::stdout_color(),
            };
            report::advice::write_table(&advice, &table, &mut out)?
        }
        ReportFormat::Json => report::advice::write_json(&advice, &mut out)?,
        ReportFormat::Markdown => report::advice::write_markdown(&advice, &mut out)?,
        ReportFormat::Github => report::advice::write_github(&advice, &mut out)?,
        ReportFormat::Html => {
            let html = HtmlOptions {
                fold: FoldOptions {
                    include_idle: args.idle,
                    threads: false,
                },
                run: Some(run_name(&path)),
            };
            report::html::write(&profile, &analysis, &advice, &html, &mut out)?
        }
    }
    out.flush()?;
    if args.fail_on == Some(FailOn::Port) {
        let found = report::advice::ports_reaching(&advice, args.fail_threshold);
        if !found.is_empty() {
            let names: Vec<String> = found
                .iter()
                .map(|c| {
                    let speedup = c
                        .speedup
                        .map(|s| format!(" ({:.1}x-{:.1}x)", s[0], s[1]))
                        .unwrap_or_default();
                    format!("{}{speedup}", crate::text::printable(&c.function.dotted()))
                })
                .collect();
            eprintln!(
                "port-advisor: --fail-on port: {} port candidate{}{}: {}",
                found.len(),
                if found.len() == 1 { "" } else { "s" },
                args.fail_threshold
                    .map(|t| format!(" reaching {t}x"))
                    .unwrap_or_default(),
                names.join(", ")
            );
            return Ok(ExitStatus::FailOn);
        }
    }
    Ok(ExitStatus::Success)
}
