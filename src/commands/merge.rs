//! `port-advisor merge`: many profiles, of any accepted format, folded into one
//! port-advisor profile.

use anyhow::Result;

use super::input::{expand_inputs, merge_files};
use crate::advise::thousands;
use crate::cli::MergeArgs;
use crate::error::{ExitStatus, UserError};

/// Merges the inputs into `-o`, whose folder must exist.
pub fn run(args: MergeArgs) -> Result<ExitStatus> {
    let files = expand_inputs(&args.profiles)?;
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            let cause = format!("{} is not a folder", dir.display());
            return Err(UserError::cannot_write(&args.output, cause).into());
        }
    }
    let (merge, files) = merge_files(&files, &args.input, !crate::ui::quiet())?;
    let stacks = merge.stacks();
    let profile = merge.finish();
    profile
        .check_weights()
        .map_err(|e| UserError::Usage(format!("the merged profile: {e}")))?;
    profile.save(&args.output)?;
    crate::ui::note(format_args!(
        "Merged {files} profile{} ({} samples at {} Hz, {stacks} unique stacks) into {}",
        if files == 1 { "" } else { "s" },
        thousands(profile.meta.samples),
        profile.meta.sampling.rate_hz,
        args.output.display()
    ));
    Ok(ExitStatus::Success)
}
