//! The profiles a command is given: run folders, profile.json files, other tools' files, or
//! folders of them. Finds the files, reads each by its format, merges several, and decides
//! whether each may be acted on (sealed here, or vouched for with `--trust`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::advise::thousands;
use crate::cli::{InputArgs, InputFormatArg};
use crate::error::UserError;
use crate::import;
use crate::profile::{Profile, Provenance, TargetKind};
use crate::python;
use crate::trust;

/// A profile path, or a run folder holding `profile.json`.
pub(super) fn profile_file(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let inner = path.join("profile.json");
        if !inner.exists() {
            return Err(UserError::Usage(format!(
                "{} holds no profile.json: name a run folder made by `port-advisor profile`",
                path.display()
            ))
            .into());
        }
        return Ok(inner);
    }
    if !path.exists() {
        return Err(UserError::Usage(format!("profile not found: {}", path.display())).into());
    }
    Ok(path.to_path_buf())
}

/// How a run is named in commands the reports suggest: its folder, or the profile's path when
/// it is not called profile.json.
pub(super) fn run_name(profile: &Path) -> String {
    match (profile.file_name(), profile.parent()) {
        (Some(name), Some(folder)) if name == "profile.json" && !folder.as_os_str().is_empty() => {
            folder.display().to_string()
        }
        _ => profile.display().to_string(),
    }
}

/// A port-advisor profile.json, acted on as recorded here when it is sealed or `trust`ed.
pub(super) fn load_recorded(path: &Path, trust: bool) -> Result<Profile> {
    crate::ui::detail(format_args!("reading {}", path.display()));
    let mut profile = Profile::load(path).map_err(|e| UserError::Usage(format!("{e:#}")))?;
    profile.provenance = trust::provenance_of(path, trust);
    Ok(profile)
}

/// One profile from a path: a run folder, a profile.json, or another tool's file. Returns
/// it with the file it came from.
pub(super) fn load_one(path: &Path, input: &InputArgs) -> Result<(Profile, PathBuf)> {
    let file = profile_file(path)?;
    crate::ui::detail(format_args!("reading {}", file.display()));
    let mut profile = crate::ui::timed("reading", || {
        import::read(&file, input_format(input), &import_options(input))
    })
    .map_err(import_error)?;
    vouch(&mut profile, &file, input);
    Ok((profile, file))
}

/// Profiles from paths (folders expanded), merged when there are several; a single
/// port-advisor profile comes back whole, probe data included. Returns the first file too.
pub(super) fn load_many(
    paths: &[PathBuf],
    input: &InputArgs,
    progress: bool,
) -> Result<(Profile, PathBuf)> {
    let files = expand_inputs(paths)?;
    if let [only] = files.as_slice() {
        return load_one(only, input);
    }
    let (merge, _) = merge_files(&files, input, progress)?;
    let mut profile = merge.finish();
    if input.trust {
        profile.provenance = Provenance::Local;
    }
    profile
        .check_weights()
        .map_err(|e| UserError::Usage(format!("the merged profile: {e}")))?;
    Ok((profile, files[0].clone()))
}

/// Reads and folds in each file, one at a time. Returns the merge and how many files it holds.
pub(super) fn merge_files(
    files: &[PathBuf],
    input: &InputArgs,
    progress: bool,
) -> Result<(import::Merge, usize)> {
    let bar = (progress && std::io::stderr().is_terminal() && files.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} profiles, {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let opts = import_options(input);
    let mut merge = import::Merge::default();
    for file in files {
        let mut profile = import::read(file, input_format(input), &opts).map_err(import_error)?;
        vouch(&mut profile, file, input);
        merge.add(&file.display().to_string(), profile);
        if let Some(bar) = &bar {
            bar.inc(1);
            bar.set_message(format!(
                "{} unique stacks",
                thousands(merge.stacks() as u64)
            ));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok((merge, files.len()))
}

/// Decides whether a profile read from `file` may be acted on (sealed here, or `--trust`);
/// a vouched-for import gets what its sources tell, which the other tool left out.
fn vouch(profile: &mut Profile, file: &Path, input: &InputArgs) {
    profile.provenance = trust::provenance_of(file, input.trust);
    if profile.provenance == Provenance::Local && profile.meta.target == TargetKind::Imported {
        let readable = trust::source_roots(profile);
        python::blocks::enrich(profile, &readable);
    }
}

/// Paths as files: a run folder gives its profile.json, another folder every file under it
/// (hidden ones left out, sorted), a file itself.
pub(super) fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() && !path.join("profile.json").is_file() {
            let before = files.len();
            collect_files(path, &mut files)
                .map_err(|e| UserError::Usage(format!("cannot read {}: {e}", path.display())))?;
            if files.len() == before {
                return Err(UserError::Usage(format!(
                    "{} holds no profile: name files, a folder of them, or a run folder",
                    path.display()
                ))
                .into());
            }
        } else {
            files.push(profile_file(path)?);
        }
    }
    Ok(files)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| is_profile_name(&n.to_string_lossy()))
        })
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if entry.is_file() {
            out.push(entry);
        }
    }
    Ok(())
}

/// Whether a file in a folder of profiles may be one: hidden files and notes are not.
fn is_profile_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.')
        && !lower.starts_with("readme")
        && ![".md", ".rst", ".html", ".svg", ".py"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

fn input_format(input: &InputArgs) -> Option<import::InputFormat> {
    input.input_format.map(|f| match f {
        InputFormatArg::PortAdvisor => import::InputFormat::PortAdvisor,
        InputFormatArg::Folded => import::InputFormat::Folded,
        InputFormatArg::Speedscope => import::InputFormat::Speedscope,
        InputFormatArg::Pprof => import::InputFormat::Pprof,
    })
}

fn import_options(input: &InputArgs) -> import::ImportOptions {
    import::ImportOptions {
        default_rate_hz: input.input_rate,
    }
}

fn import_error(e: import::ImportError) -> anyhow::Error {
    UserError::Usage(format!(
        "{e} (if the format was judged wrong, name it with --input-format)"
    ))
    .into()
}
