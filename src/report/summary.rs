//! The short terminal summary printed after a recording: what was measured, how well, and the
//! hottest functions by self and by inclusive time. Names, paths, messages and type names come
//! from the profile and are printed through [`printable`].

use std::io::Write;

use anyhow::Result;

use crate::analyze::{Analysis, FunctionStats};
use crate::profile::{
    FrameKind, ProbeResults, ProbedFunction, Profile, TargetKind, TypeObservation,
};
use crate::text::printable;

/// Below this many samples, shares are too noisy to act on and the summary says so.
pub const FEW_SAMPLES: u64 = 50;

#[derive(Debug, Clone)]
pub struct SummaryOptions {
    /// Rows per table.
    pub top: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions { top: 10 }
    }
}

pub fn write(
    profile: &Profile,
    analysis: &Analysis,
    opts: &SummaryOptions,
    w: &mut dyn Write,
) -> Result<()> {
    let m = &profile.meta;
    let mode = m.sampling.mode.name();
    let python = m
        .python_version
        .as_ref()
        .map(|v| format!(", Python {}", printable(v)))
        .unwrap_or_default();
    writeln!(
        w,
        "Recorded {} samples in {:.2} s at {} Hz ({mode}{python}).",
        m.samples, m.wall_seconds, m.sampling.rate_hz
    )?;
    if m.ticks > 0 && (m.error_ticks > 0 || m.late_ticks > 0) {
        let pct = |n: u64| 100.0 * n as f64 / m.ticks as f64;
        write!(
            w,
            "Sampling errors: {} of {} rounds ({:.1}%), late rounds: {} ({:.1}%)",
            m.error_ticks,
            m.ticks,
            pct(m.error_ticks),
            m.late_ticks,
            pct(m.late_ticks)
        )?;
        match profile.errors.first() {
            Some(e) => writeln!(w, "; most common error: {}", printable(&e.message))?,
            None => writeln!(w)?,
        }
        if profile
            .errors
            .iter()
            .any(|e| e.message.contains("recursion depth"))
        {
            writeln!(
                w,
                "Some stacks were deeper than the 4,096 frames py-spy reads (deep recursion): \
                 those rounds are counted as errors above and left out of every share."
            )?;
        }
        if pct(m.error_ticks) >= 20.0 {
            writeln!(
                w,
                "The shares below cover only the {:.0}% of rounds that could be read.",
                100.0 - pct(m.error_ticks)
            )?;
        }
    }
    if m.target == TargetKind::Imported {
        // What an import cut (stacks deeper than importers keep), each with how many stacks.
        for e in &profile.errors {
            writeln!(
                w,
                "Imported with a note ({} stack{}): {}.",
                e.count,
                if e.count == 1 { "" } else { "s" },
                printable(&e.message)
            )?;
        }
    }
    let idle = profile.total_weight(true) - profile.total_weight(false);
    if idle > 0 && profile.total_weight(true) > 0 {
        let idle_pct = 100.0 * idle as f64 / profile.total_weight(true) as f64;
        writeln!(
            w,
            "Threads were active in {:.1}% of samples and idle in {idle_pct:.1}% ({}).",
            100.0 - idle_pct,
            if analysis.total_weight == profile.total_weight(true) {
                "counted, --idle"
            } else {
                "not counted; --idle counts them"
            }
        )?;
    }
    if m.samples < FEW_SAMPLES {
        writeln!(
            w,
            "Too few samples ({}) for trustworthy shares: run the program longer or raise --rate.",
            m.samples
        )?;
    }
    if analysis.total_weight == 0 {
        return Ok(());
    }
    writeln!(w)?;
    let cwd = m.cwd.as_deref().unwrap_or("");
    let by_self = analysis.by_self();
    table(
        w,
        "Top functions by self time",
        analysis,
        by_self,
        cwd,
        opts.top,
    )?;
    writeln!(w)?;
    let inclusive: Vec<&FunctionStats> = analysis.functions.iter().collect();
    table(
        w,
        "Top functions by inclusive time",
        analysis,
        inclusive,
        cwd,
        opts.top,
    )?;
    writeln!(w)?;
    probe_section(w, profile, opts.top)?;
    Ok(())
}

/// Call counts and observed argument types of the probe's candidates, or why they are unknown.
fn probe_section(w: &mut dyn Write, profile: &Profile, top: usize) -> Result<()> {
    let probe = match &profile.probe {
        None => {
            let why = match profile.meta.target {
                TargetKind::Attached => {
                    "attached with --pid: the probe runs only in programs port-advisor launches"
                }
                TargetKind::Launched => "no probe ran (--no-probe, or a command after --)",
                TargetKind::Imported => "imported from another tool's profile, which holds none",
            };
            writeln!(w, "Call counts and argument data: unknown ({why}).")?;
            return Ok(());
        }
        Some(p) => p,
    };
    if let Some(why) = &probe.unavailable {
        writeln!(w, "Call counts and argument data: unknown ({why}).")?;
        return Ok(());
    }
    // A candidate seen neither called nor observed since it was wrapped (already running, like
    // `main`, or done) has nothing to show.
    let mut rows: Vec<&ProbedFunction> = probe
        .functions
        .iter()
        .filter(|f| f.candidate && (f.calls > 0 || f.observed_calls > 0))
        .collect();
    rows.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.qualname.cmp(&b.qualname)));
    if rows.is_empty() {
        let why = if probe.functions.iter().any(|f| f.candidate) {
            "the functions found hot were not called while counted: their calls ended before \
             counting began, which happens in short runs on Python before 3.12; run longer"
        } else {
            "no function of the program was hot long enough to be counted: run longer"
        };
        writeln!(w, "Call counts and argument data: unknown ({why}).")?;
        return Ok(());
    }
    writeln!(
        w,
        "Calls and arguments of the hottest functions ({})",
        probe.method
    )?;
    writeln!(
        w,
        "  {:>20}  {:<32}  arguments -> return",
        "calls", "function"
    )?;
    for f in rows.into_iter().take(top) {
        let calls = if f.calls_exact {
            crate::advise::thousands(f.calls)
        } else if f.counted_since > 0.0 && f.calls_error == 0 {
            // Counted only once the sampler named it a candidate.
            format!(
                ">={} from {:.1}s",
                crate::advise::thousands(f.calls),
                f.counted_since
            )
        } else if f.calls_error > 0 {
            format!(
                "~{} ±{}",
                crate::advise::thousands(f.calls),
                crate::advise::thousands(f.calls_error)
            )
        } else {
            format!("~{}", crate::advise::thousands(f.calls))
        };
        let args: Vec<String> = f.args.iter().map(type_text).collect();
        let returns: Vec<String> = f.returns.iter().map(type_text).collect();
        let returns = if returns.is_empty() {
            "?".to_owned()
        } else {
            returns.join(" | ")
        };
        writeln!(
            w,
            "  {:>20}  {:<32}  ({}) -> {returns}",
            calls,
            truncate(&printable(&f.qualname), 32),
            args.join(", "),
        )?;
    }
    probe_cost(w, probe, profile.meta.wall_seconds)
}

/// What the probe spent of the program's time, and what it left out to stay within budget.
fn probe_cost(w: &mut dyn Write, probe: &ProbeResults, wall_seconds: f64) -> Result<()> {
    let Some(cost) = &probe.cost else {
        return Ok(());
    };
    let spent = cost.observing_seconds + cost.thread_seconds;
    let mut left_out = Vec::new();
    let skipped = &cost.skipped;
    if skipped.over_budget > 0 {
        left_out.push(format!(
            "{} observations over its {:.0}% budget",
            skipped.over_budget,
            cost.budget_share * 100.0
        ));
    }
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    if skipped.not_plain_data > 0 {
        left_out.push(format!(
            "examples of {} function{} whose arguments are not plain data",
            skipped.not_plain_data,
            plural(skipped.not_plain_data)
        ));
    }
    if skipped.too_large > 0 {
        left_out.push(format!(
            "examples of {} function{} over the size cap",
            skipped.too_large,
            plural(skipped.too_large)
        ));
    }
    if !probe.unwatched.is_empty() {
        left_out.push(format!(
            "{} function{} not watched ({})",
            probe.unwatched.len(),
            plural(probe.unwatched.len() as u64),
            printable(&probe.unwatched[0].why)
        ));
    }
    let share = if wall_seconds > 0.0 {
        format!(" ({:.1}% of the run)", 100.0 * spent / wall_seconds)
    } else {
        String::new()
    };
    write!(w, "  The probe spent {:.0} ms{share}", spent * 1000.0)?;
    if left_out.is_empty() {
        writeln!(w, ".")?;
    } else {
        writeln!(w, "; left out: {}.", left_out.join("; "))?;
    }
    Ok(())
}

/// `values: list[float] (10000)`; the size is a length (a bit length for int).
fn type_text(t: &TypeObservation) -> String {
    let sized = !matches!(t.type_name.as_str(), "bool" | "float" | "NoneType");
    let size = if t.max_size > 0 && sized {
        if (t.mean_size - t.max_size as f64).abs() < 0.5 {
            format!(" ({})", t.max_size)
        } else {
            format!(" (~{:.0}, max {})", t.mean_size, t.max_size)
        }
    } else {
        String::new()
    };
    let type_name = printable(&t.type_name);
    if t.name == "return" {
        format!("{type_name}{size}")
    } else {
        format!("{}: {type_name}{size}", printable(&t.name))
    }
}

fn table(
    w: &mut dyn Write,
    title: &str,
    analysis: &Analysis,
    rows: Vec<&FunctionStats>,
    cwd: &str,
    top: usize,
) -> Result<()> {
    writeln!(w, "{title}")?;
    writeln!(
        w,
        "  {:>6}  {:>6}  {:>6}  {:<40}  location",
        "self", "total", "native", "function"
    )?;
    for f in rows.into_iter().take(top) {
        let function = printable(&f.name);
        let name = match (f.kind, &f.module) {
            (FrameKind::Python, Some(m)) if !f.name.starts_with('<') || f.name == "<module>" => {
                qualified(&printable(m), &function, 40)
            }
            (FrameKind::Native, _) => truncate(&format!("[native] {function}"), 40),
            _ => truncate(&function, 40),
        };
        writeln!(
            w,
            "  {:>5.1}%  {:>5.1}%  {:>5.0}%  {:<40}  {}",
            100.0 * analysis.share(f.self_weight),
            100.0 * analysis.share(f.inclusive_weight),
            100.0 * f.native_share(),
            name,
            printable(relative(&f.location(), cwd))
        )?;
    }
    Ok(())
}

/// A path relative to the target's working folder when it lies inside it.
fn relative<'a>(path: &'a str, cwd: &str) -> &'a str {
    if cwd.is_empty() {
        return path;
    }
    path.strip_prefix(cwd)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path)
}

/// `module.name` in at most `n` characters: a long module loses its head, not the function's
/// name (`…centrality.betweenness._accumulate_basic`).
fn qualified(module: &str, name: &str, n: usize) -> String {
    let full = format!("{module}.{name}");
    let name_len = name.chars().count();
    if full.chars().count() <= n || name_len + 3 > n {
        return truncate(&full, n);
    }
    let module: Vec<char> = module.chars().collect();
    let keep = n - name_len - 2;
    let tail: String = module[module.len().saturating_sub(keep)..].iter().collect();
    // Start the kept part at a whole module name when one begins inside it.
    let tail = match tail.find('.') {
        Some(dot) if dot + 1 < tail.len() => &tail[dot + 1..],
        _ => tail.as_str(),
    };
    format!("…{tail}.{name}")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_qualified_names_keep_the_function_name() {
        assert_eq!(qualified("app", "main", 40), "app.main");
        let long = qualified(
            "networkx.algorithms.centrality.betweenness",
            "_single_source_dijkstra_path_basic",
            40,
        );
        assert!(long.starts_with('…'), "{long}");
        assert!(
            long.ends_with("._single_source_dijkstra_path_basic"),
            "{long}"
        );
        assert!(long.chars().count() <= 40, "{long}");
        let mid = qualified(
            "networkx.algorithms.centrality.betweenness",
            "betweenness",
            40,
        );
        assert_eq!(mid, "…centrality.betweenness.betweenness");
        // A name too long to keep whole is cut at its end, as before.
        let huge = "f".repeat(60);
        assert_eq!(qualified("m", &huge, 40).chars().count(), 40);
    }
}
