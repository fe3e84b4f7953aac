//! `port-advisor view`: a run's HTML report, written again from its profile, opened in a
//! browser (or its path printed).

use std::path::Path;

use anyhow::Result;

use super::input::{load_recorded, profile_file, run_name};
use super::{analysis_of, browser, load_rules};
use crate::advise::{self, AdviseOptions};
use crate::cli::ViewArgs;
use crate::error::ExitStatus;
use crate::profile::write_atomic;
use crate::report::{self, folded::FoldOptions, html::HtmlOptions};

/// Writes the run's report.html, then opens it. The page is always written again: a page that
/// came with a run folder from elsewhere could hold anything, and is never opened as it is.
pub fn run(args: ViewArgs) -> Result<ExitStatus> {
    let path = profile_file(&args.run)?;
    let folder = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let page = folder.join("report.html");
    let rules = load_rules(None)?;
    let profile = load_recorded(&path, args.trust)?;
    let analysis = analysis_of(&profile, &rules, false);
    let advice = advise::advise(&profile, &analysis, &rules, &AdviseOptions::default());
    let html = HtmlOptions {
        fold: FoldOptions::default(),
        run: Some(run_name(&path)),
    };
    write_atomic(&page, |w| {
        report::html::write(&profile, &analysis, &advice, &html, w)
    })?;
    crate::ui::note(format_args!("Wrote {}", page.display()));
    let page = page.canonicalize().unwrap_or(page);
    if !args.print_path {
        if let Some(browser) = browser::open(&page) {
            crate::ui::note(format_args!("Opened {} with {browser}", page.display()));
            return Ok(ExitStatus::Success);
        }
        crate::ui::note("No browser to open it here (set $BROWSER to choose one); the page is:");
    }
    println!("{}", page.display());
    Ok(ExitStatus::Success)
}
