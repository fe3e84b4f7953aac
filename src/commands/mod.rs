//! The subcommands, one file each: every one a short pipeline over the stages (record ->
//! profile -> analyze -> advise -> report, or stub), returning how the run ends.
//!
//! [`input`] finds and reads the profiles a command is given (run folders, profile.json,
//! other tools' files) and decides which of them may be acted on; [`browser`] opens a page.
//! Here the parsed arguments of [`crate::cli`] become the plain option structs the stages
//! take; what a stage decides stays in that stage.

pub mod diff;
pub mod flamegraph;
pub mod merge;
pub mod profile;
pub mod report;
pub mod stub;
pub mod view;

mod browser;
mod input;

use std::path::Path;

use anyhow::Result;

use crate::analyze::{self, Analysis, AnalyzeOptions};
use crate::error::UserError;
use crate::profile::Profile;
use crate::rules::Rules;

/// The built-in rules, with the files of `dir` (`--rules`) added.
fn load_rules(dir: Option<&Path>) -> Result<Rules> {
    match dir {
        Some(dir) => crate::ui::detail(format_args!(
            "rules: the built-in ones, with {}",
            dir.display()
        )),
        None => crate::ui::detail("rules: the built-in ones"),
    }
    Rules::load(dir).map_err(|e| {
        UserError::Usage(format!(
            "{e:#} (fix the rules file, or leave out --rules to use the built-in rules)"
        ))
        .into()
    })
}

/// The analysis of a profile under the given rules.
fn analysis_of(profile: &Profile, rules: &Rules, include_idle: bool) -> Analysis {
    crate::ui::timed("analysis", || {
        analyze::analyze(
            profile,
            &AnalyzeOptions {
                include_idle,
                rules: rules.clone(),
            },
        )
    })
}
