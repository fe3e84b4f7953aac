//! `port-advisor stub`: a PyO3 crate for the functions worth porting, or the ones named, from
//! a recorded profile; then what to run next.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::input::{load_recorded, profile_file};
use super::{analysis_of, load_rules};
use crate::advise::{self, AdviseOptions};
use crate::cli::StubArgs;
use crate::error::ExitStatus;
use crate::profile::Profile;
use crate::stub::StubOptions;

/// Writes the crate and lists the functions in it.
pub fn run(args: StubArgs) -> Result<ExitStatus> {
    let rules = load_rules(args.rules.as_deref())?;
    let path = profile_file(&args.profile)?;
    let profile = load_recorded(&path, args.trust)?;
    let analysis = analysis_of(&profile, &rules, false);
    let advice = advise::advise(
        &profile,
        &analysis,
        &rules,
        &AdviseOptions {
            readiness: false,
            top: 50,
            min_share: Some(0.0),
        },
    );
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_crate_name(&profile));
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from(&name));
    let opts = StubOptions {
        functions: args.functions.clone(),
        top: args.top,
        output: output.clone(),
        crate_name: name.clone(),
        force: args.force,
    };
    let functions = crate::stub::stub(&profile, &analysis, &advice, &rules, &opts)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "Wrote the crate {name} to {}/:", output.display())?;
    for f in &functions {
        let examples = f.examples.iter().filter(|e| e.args.is_some()).count();
        writeln!(
            out,
            "  {}.{}  ({} recorded call{} for its parity test)",
            f.module,
            f.source.qualname,
            examples,
            if examples == 1 { "" } else { "s" }
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Next: cd {} && maturin develop --release && pytest tests && python bench.py",
        output.display()
    )?;
    out.flush()?;
    Ok(ExitStatus::Success)
}

/// `<program>_rs`, as a valid crate name.
fn default_crate_name(profile: &Profile) -> String {
    let program = profile
        .meta
        .command
        .iter()
        .find(|a| a.ends_with(".py"))
        .map(|a| {
            Path::new(a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "port".into());
    let mut name: String = program
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "py_");
    }
    format!("{name}_rs")
}
