//! The subcommands, each a short pipeline over the stages: record -> profile -> analyze -> report.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::advise::thousands;
use crate::advise::{self, AdviseOptions};
use crate::analyze::{self, Analysis, AnalyzeOptions};
use crate::cli::{
    DiffArgs, DiffFormat, FlameFormat, FlamegraphArgs, InputArgs, InputFormatArg, MergeArgs,
    ProfilePlan, ReportArgs, ReportFormat, StubArgs, ViewArgs,
};
use crate::compare;
use crate::error::{ExitStatus, UserError};
use crate::profile::{write_atomic, Profile, Provenance, TargetKind};
use crate::record::{self, import, StopReason};
use crate::report::advice::TableOptions;
use crate::report::compare::CompareOptions;
use crate::report::flamegraph::Shape;
use crate::report::html::HtmlOptions;
use crate::report::{self, folded::FoldOptions, summary::SummaryOptions};
use crate::rules::Rules;
use crate::run_folder::RunFolder;
use crate::trust;

/// `port-advisor profile`: record, keep the profile, draw the flame graph, summarize. A
/// program that failed passes its own exit status on.
pub fn profile(mut plan: ProfilePlan) -> Result<ExitStatus> {
    // Rules are read before the program runs: a typo in them must not cost a recording.
    let rules = load_rules(plan.advice.rules.as_deref())?;
    let folder = RunFolder::create(plan.output.as_deref(), &plan.stem)?;
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
    record::source::enrich(&mut profile);

    save_with_fallback(&profile, &profile_path, &plan.stem)?;
    if let Err(e) = trust::seal(&profile_path) {
        eprintln!(
            "port-advisor: cannot seal {} ({e:#}): later commands will read it as a profile \
             from elsewhere (pass --trust to them)",
            profile_path.display()
        );
    }

    let analysis = analysis_of(&profile, &rules, plan.fold.include_idle);
    let advice = advise::advise(&profile, &analysis, &rules, &plan.advice.options());
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
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    report::summary::write(&profile, &analysis, &SummaryOptions::default(), &mut out)?;
    writeln!(out)?;
    let table = TableOptions {
        color: report::advice::stdout_wants_color(),
    };
    report::advice::write_table(&advice, &table, &mut out)?;
    writeln!(out)?;
    writeln!(
        out,
        "Wrote {}/ (profile.json, report.json, report.md, report.html, flame.svg)",
        folder.path.display()
    )?;
    writeln!(out, "See it: port-advisor view {}", folder.path.display())?;
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

/// `port-advisor flamegraph`: render a saved profile again.
pub fn flamegraph(args: FlamegraphArgs) -> Result<ExitStatus> {
    let (profile, path) = load_one(&args.profile, &args.input)?;
    let opts = FoldOptions {
        include_idle: args.idle,
        threads: args.threads,
    };
    let render = |w: &mut dyn Write| match args.format {
        FlameFormat::Svg => {
            let rules = Rules::load(None)?;
            let analysis = analysis_of(&profile, &rules, args.idle);
            let advice = advise::advise(
                &profile,
                &analysis,
                &rules,
                &AdviseOptions {
                    readiness: false,
                    ..AdviseOptions::default()
                },
            );
            report::paint::write_flame(&profile, &analysis, &advice, &opts, Shape::Flame, w)
        }
        FlameFormat::Folded => report::folded::write(&profile, &opts, w),
        FlameFormat::Speedscope => report::speedscope::write(&profile, &opts, w),
        FlameFormat::Pprof => report::pprof::write(&profile, &opts, w),
    };
    let output = args.output.unwrap_or_else(|| {
        let name = match args.format {
            FlameFormat::Svg => "flame.svg",
            FlameFormat::Folded => "flame.folded",
            FlameFormat::Speedscope => "flame.speedscope.json",
            FlameFormat::Pprof => "profile.pb.gz",
        };
        path.parent().unwrap_or(Path::new(".")).join(name)
    });
    if output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        render(&mut lock)?;
        lock.flush()?;
    } else {
        write_atomic(&output, render)?;
        eprintln!("Wrote {}", output.display());
    }
    Ok(ExitStatus::Success)
}

/// `port-advisor report`: the advice on a saved profile, in the chosen format.
pub fn report(args: ReportArgs) -> Result<ExitStatus> {
    let rules = load_rules(args.advice.rules.as_deref())?;
    let (profile, path) = load_many(&args.profiles, &args.input, false)?;
    let analysis = analysis_of(&profile, &rules, args.idle);
    let advice = advise::advise(&profile, &analysis, &rules, &args.advice.options());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ReportFormat::Table => {
            let table = TableOptions {
                color: report::advice::stdout_wants_color(),
            };
            report::advice::write_table(&advice, &table, &mut out)?
        }
        ReportFormat::Json => report::advice::write_json(&advice, &mut out)?,
        ReportFormat::Markdown => report::advice::write_markdown(&advice, &mut out)?,
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
    Ok(ExitStatus::Success)
}

/// `port-advisor view`: write the run's HTML report from its profile, then open it. The page
/// is always written again: a page that came with a run folder from elsewhere could hold
/// anything, and is never opened as it is.
pub fn view(args: ViewArgs) -> Result<ExitStatus> {
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
    eprintln!("Wrote {}", page.display());
    let page = page.canonicalize().unwrap_or(page);
    if !args.print_path {
        if let Some(browser) = open_in_browser(&page) {
            eprintln!("Opened {} with {browser}", page.display());
            return Ok(ExitStatus::Success);
        }
        eprintln!("No browser to open it here (set $BROWSER to choose one); the page is:");
    }
    println!("{}", page.display());
    Ok(ExitStatus::Success)
}

/// Starts a browser on `page` without waiting for it; returns the program used.
fn open_in_browser(page: &Path) -> Option<String> {
    let mut tried: Vec<String> = Vec::new();
    if let Some(b) = std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        // $BROWSER may list several, separated by `:`, as xdg-utils reads it.
        for one in b.to_string_lossy().split(':').filter(|s| !s.is_empty()) {
            tried.push(one.to_owned());
        }
    }
    let desktop = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty());
    if cfg!(target_os = "macos") {
        tried.push("open".into());
    } else if desktop {
        tried.push("xdg-open".into());
    }
    tried.into_iter().find(|program| {
        let mut parts = program.split_whitespace();
        let Some(exe) = parts.next() else {
            return false;
        };
        std::process::Command::new(exe)
            .args(parts)
            .arg(page)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}

/// `port-advisor diff`: two runs compared, and their differential flame graph.
pub fn diff(args: DiffArgs) -> Result<ExitStatus> {
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
    eprintln!("Wrote {}", output.display());
    Ok(ExitStatus::Success)
}

/// How a run is named in commands the reports suggest: its folder, or the profile's path when
/// it is not called profile.json.
fn run_name(profile: &Path) -> String {
    match (profile.file_name(), profile.parent()) {
        (Some(name), Some(folder)) if name == "profile.json" && !folder.as_os_str().is_empty() => {
            folder.display().to_string()
        }
        _ => profile.display().to_string(),
    }
}

/// `port-advisor stub`: a PyO3 crate for the chosen functions.
pub fn stub(args: StubArgs) -> Result<ExitStatus> {
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
    let opts = crate::stub::StubOptions {
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

/// The built-in rules, with the files of `dir` (`--rules`) added.
fn load_rules(dir: Option<&Path>) -> Result<Rules> {
    Rules::load(dir).map_err(|e| {
        UserError::Usage(format!(
            "{e:#} (fix the rules file, or leave out --rules to use the built-in rules)"
        ))
        .into()
    })
}

/// The analysis of a profile under the given rules.
fn analysis_of(profile: &Profile, rules: &Rules, include_idle: bool) -> Analysis {
    analyze::analyze(
        profile,
        &AnalyzeOptions {
            include_idle,
            rules: rules.clone(),
        },
    )
}

/// `port-advisor merge`: many profiles into one, written as a port-advisor profile.
pub fn merge(args: MergeArgs) -> Result<ExitStatus> {
    let files = expand_inputs(&args.profiles)?;
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            let cause = format!("{} is not a folder", dir.display());
            return Err(UserError::cannot_write(&args.output, cause).into());
        }
    }
    let (merge, files) = merge_files(&files, &args.input, !args.quiet)?;
    let stacks = merge.stacks();
    let profile = merge.finish();
    profile
        .check_weights()
        .map_err(|e| UserError::Usage(format!("the merged profile: {e}")))?;
    profile.save(&args.output)?;
    eprintln!(
        "Merged {files} profile{} ({} samples at {} Hz, {stacks} unique stacks) into {}",
        if files == 1 { "" } else { "s" },
        thousands(profile.meta.samples),
        profile.meta.sampling.rate_hz,
        args.output.display()
    );
    Ok(ExitStatus::Success)
}

/// Decides whether a profile read from `file` may be acted on (sealed here, or `--trust`);
/// a vouched-for import gets what its sources tell, which the other tool left out.
fn vouch(profile: &mut Profile, file: &Path, input: &InputArgs) {
    profile.provenance = trust::provenance_of(file, input.trust);
    if profile.provenance == Provenance::Local && profile.meta.target == TargetKind::Imported {
        record::source::enrich(profile);
    }
}

/// A port-advisor profile.json, acted on as recorded here when it is sealed or `trust`ed.
fn load_recorded(path: &Path, trust: bool) -> Result<Profile> {
    let mut profile = Profile::load(path)?;
    profile.provenance = trust::provenance_of(path, trust);
    Ok(profile)
}

/// One profile from a path: a run folder, a profile.json, or another tool's file. Returns
/// it with the file it came from.
fn load_one(path: &Path, input: &InputArgs) -> Result<(Profile, PathBuf)> {
    let file = profile_file(path)?;
    let mut profile =
        import::read(&file, input_format(input), &import_options(input)).map_err(import_error)?;
    vouch(&mut profile, &file, input);
    Ok((profile, file))
}

/// Profiles from paths (folders expanded), merged when there are several; a single
/// port-advisor profile comes back whole, probe data included. Returns the first file too.
fn load_many(paths: &[PathBuf], input: &InputArgs, progress: bool) -> Result<(Profile, PathBuf)> {
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
fn merge_files(
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

/// Paths as files: a run folder gives its profile.json, another folder every file under it
/// (hidden ones left out, sorted), a file itself.
fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
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

/// A profile path, or a run folder holding `profile.json`.
fn profile_file(path: &Path) -> Result<PathBuf> {
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
