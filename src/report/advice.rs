//! The advice as a terminal table, as Markdown (`report.md`) and as JSON (`report.json`).
//!
//! Names and notes in the advice come from the profile, which may have been written anywhere:
//! the table and the Markdown print them through [`printable`], never raw.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::advise::{thousands, Advice, Candidate, DataFlow, Verdict};
use crate::text::printable;
use crate::ui::{self, styles};

/// How the terminal table looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// Verdicts in colour (as `--color` and the terminal decide: [`crate::ui::stdout_color`]).
    pub color: bool,
}

/// `report.json`: the advice, and the port-advisor version that wrote it. Its layout is
/// `schema` (see docs/report-json.md for what changes it); the JSON Schema of it,
/// [`json_schema`], is committed as docs/report.schema.json.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(
    title = "port-advisor report.json",
    description = "The advice on one profile: which functions would pay off if ported to Rust, \
                   where to cut, and what the whole program would gain, with the evidence."
)]
pub struct ReportJson<'a> {
    /// The port-advisor version that wrote this file (`port-advisor --version`).
    pub port_advisor_version: &'a str,
    #[serde(flatten)]
    pub advice: &'a Advice,
}

impl<'a> ReportJson<'a> {
    pub fn new(advice: &'a Advice) -> ReportJson<'a> {
        ReportJson {
            port_advisor_version: env!("CARGO_PKG_VERSION"),
            advice,
        }
    }
}

/// The JSON Schema (draft 2020-12) of `report.json`, generated from the types it is written
/// from.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(ReportJson<'static>);
    serde_json::to_value(&schema).expect("a schema is JSON")
}

pub fn write_json(advice: &Advice, w: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *w, &ReportJson::new(advice))?;
    writeln!(w)?;
    Ok(())
}

/// The ranked table, then each candidate's one-line verdict and the unknowns.
pub fn write_table(advice: &Advice, opts: &TableOptions, w: &mut dyn Write) -> Result<()> {
    if advice.candidates.is_empty() {
        if elsewhere_total(advice) >= 0.5 {
            writeln!(
                w,
                "No candidate in the program's own code: most of the run interprets code \
                 outside it."
            )?;
        } else {
            writeln!(
                w,
                "No candidate: no function of the program has enough of the run. Profile a \
                 longer or more representative run."
            )?;
        }
        if let Some(line) = elsewhere_line(advice) {
            writeln!(w, "{}", printable(&line))?;
        }
        write_unknowns(advice, w)?;
        return Ok(());
    }
    writeln!(w, "What to port")?;
    writeln!(
        w,
        "  {:>2}  {:<11} {:<34} {:>6} {:>6} {:>11} {:<20} {:>13}",
        "#", "verdict", "function", "time", "native", "calls", "data/call", "speedup"
    )?;
    for c in &advice.candidates {
        let verdict = paint(opts, c.verdict, &format!("{:<11}", c.label()));
        writeln!(
            w,
            "  {:>2}  {} {:<34} {:>6} {:>6} {:>11} {:<20} {:>13}",
            c.rank,
            verdict,
            clip(&printable(&c.function.name), 34),
            pct(c.time_share),
            pct(c.native_share),
            c.calls
                .map(|k| format!("{}{}", if k.exact { "" } else { "~" }, thousands(k.count)))
                .unwrap_or_else(|| "?".into()),
            clip(&printable(&data_per_call(&c.data)), 20),
            c.speedup
                .map(|s| format!("{:.1}x-{:.1}x", s[0], s[1]))
                .unwrap_or_else(|| "-".into()),
        )?;
    }
    writeln!(w)?;
    for c in &advice.candidates {
        writeln!(w, "  {:>2}. {}", c.rank, printable(&c.summary))?;
        for note in c.readiness.iter().filter(|n| n.effect < 1.0) {
            writeln!(
                w,
                "      x{:.2} {}: {}",
                note.effect,
                printable(&note.signal),
                printable(&note.note)
            )?;
        }
    }
    if let Some(s) = advice.combined_speedup {
        writeln!(w)?;
        writeln!(
            w,
            "Porting every `port` candidate: {:.1}x-{:.1}x for the whole program.",
            s[0], s[1]
        )?;
    }
    if let Some(line) = elsewhere_line(advice).filter(|_| elsewhere_total(advice) >= 0.2) {
        writeln!(w)?;
        writeln!(w, "{}", printable(&line))?;
    }
    write_unknowns(advice, w)?;
    Ok(())
}

/// The share of the run interpreting code outside the program, in the packages listed.
fn elsewhere_total(advice: &Advice) -> f64 {
    advice.elsewhere.iter().map(|p| p.share).sum()
}

/// Where the interpreted time outside the program goes, in one sentence.
pub fn elsewhere_line(advice: &Advice) -> Option<String> {
    if advice.elsewhere.is_empty() {
        return None;
    }
    let parts: Vec<String> = advice
        .elsewhere
        .iter()
        .map(|p| {
            let origin = if p.origin == "stdlib" {
                "standard library"
            } else {
                "installed package"
            };
            format!("{} {:.0}% ({origin})", p.package, 100.0 * p.share)
        })
        .collect();
    let inside: Vec<&str> = advice
        .candidates
        .iter()
        .filter(|c| c.verdict == crate::advise::Verdict::Port)
        .filter_map(|c| c.package.as_deref())
        .collect();
    let way_out = if inside.is_empty() {
        "switch to a native replacement where one exists (a `use library` verdict names it), \
         or call it less often"
            .to_owned()
    } else {
        format!(
            "a port inside {} is proposed above (vendored or upstream); elsewhere switch to a \
             native replacement where one exists, or call it less often",
            inside.join(", ")
        )
    };
    Some(format!(
        "Interpreted outside the program's code: {}. Porting the program does not make that \
         faster: {way_out}.",
        parts.join(", ")
    ))
}

fn write_unknowns(advice: &Advice, w: &mut dyn Write) -> Result<()> {
    for u in &advice.unknowns {
        writeln!(w)?;
        writeln!(w, "Unknown: {}", printable(u))?;
    }
    Ok(())
}

/// Markdown for a CI job's summary (`$GITHUB_STEP_SUMMARY`): the verdict in a sentence, the
/// table of candidates with each one's line, and the unknowns folded away. Short, since a
/// job's summary is read at a glance; `report.md` holds the evidence.
pub fn write_github(advice: &Advice, w: &mut dyn Write) -> Result<()> {
    writeln!(
        w,
        "### port-advisor: `{}`",
        md_code(&advice.command.join(" "))
    )?;
    writeln!(w)?;
    let ports = advice
        .candidates
        .iter()
        .filter(|c| c.verdict == Verdict::Port)
        .count();
    match (ports, advice.combined_speedup) {
        (0, _) => writeln!(w, "No function is worth porting to Rust in this run.")?,
        (n, Some(s)) => writeln!(
            w,
            "**{n} port candidate{}**: porting {} gains **{:.1}x-{:.1}x** for the whole program.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "every one" },
            s[0],
            s[1]
        )?,
        (n, None) => writeln!(
            w,
            "**{n} port candidate{}**.",
            if n == 1 { "" } else { "s" }
        )?,
    }
    if !advice.candidates.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "| # | verdict | function | time | native | speedup | why |"
        )?;
        writeln!(w, "|---:|---|---|---:|---:|---:|---|")?;
        for c in &advice.candidates {
            writeln!(
                w,
                "| {} | {} | `{}` | {} | {} | {} | {} |",
                c.rank,
                c.label(),
                md_code(&c.function.dotted()),
                pct(c.time_share),
                pct(c.native_share),
                c.speedup
                    .map(|s| format!("{:.1}x-{:.1}x", s[0], s[1]))
                    .unwrap_or_else(|| "-".into()),
                md_text(&c.summary)
            )?;
        }
    }
    if !advice.unknowns.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "<details><summary>What the advice could not know</summary>"
        )?;
        writeln!(w)?;
        for u in &advice.unknowns {
            writeln!(w, "- {}", md_text(u))?;
        }
        writeln!(w)?;
        writeln!(w, "</details>")?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "<sub>{:.2} s, {} samples{}; port-advisor {}, report.json schema {}.</sub>",
        advice.wall_seconds,
        advice.run_samples,
        advice
            .python_version
            .as_deref()
            .map(|v| format!(", Python {}", md_text(v)))
            .unwrap_or_default(),
        env!("CARGO_PKG_VERSION"),
        advice.schema
    )?;
    Ok(())
}

/// The `port` candidates whose whole-program speedup reaches `threshold` at the low end of
/// its range (every one without a threshold): what `report --fail-on port` fails on.
pub fn ports_reaching(advice: &Advice, threshold: Option<f64>) -> Vec<&Candidate> {
    advice
        .candidates
        .iter()
        .filter(|c| c.verdict == Verdict::Port)
        .filter(|c| threshold.is_none_or(|t| c.speedup.is_some_and(|s| s[0] >= t)))
        .collect()
}

/// `report.md`: the table, then every candidate with its evidence and alternatives.
pub fn write_markdown(advice: &Advice, w: &mut dyn Write) -> Result<()> {
    writeln!(
        w,
        "# What to port: `{}`",
        md_code(&advice.command.join(" "))
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "{:.2} s, {} samples{}. Crossing costs measured on {}.",
        advice.wall_seconds,
        advice.run_samples,
        advice
            .python_version
            .as_deref()
            .map(|v| format!(", Python {}", md_text(v)))
            .unwrap_or_default(),
        md_text(&advice.costs_measured)
    )?;
    if let Some(s) = advice.combined_speedup {
        writeln!(w)?;
        writeln!(
            w,
            "Porting every `port` candidate: **{:.1}x-{:.1}x** for the whole program.",
            s[0], s[1]
        )?;
    }
    if let Some(line) = elsewhere_line(advice) {
        writeln!(w)?;
        writeln!(w, "{}", md_text(&line))?;
    }
    for u in &advice.unknowns {
        writeln!(w)?;
        writeln!(w, "> Unknown: {}", md_text(u))?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "| # | verdict | function | time | native | calls | data/call | speedup |"
    )?;
    writeln!(w, "|---|---|---|---|---|---|---|---|")?;
    for c in &advice.candidates {
        writeln!(
            w,
            "| {} | {} | `{}` | {} | {} | {} | {} | {} |",
            c.rank,
            c.label(),
            md_code(&c.function.name),
            pct(c.time_share),
            pct(c.native_share),
            c.calls
                .map(|k| thousands(k.count))
                .unwrap_or_else(|| "?".into()),
            md_text(&data_per_call(&c.data)),
            c.speedup
                .map(|s| format!("{:.1}x-{:.1}x", s[0], s[1]))
                .unwrap_or_else(|| "-".into()),
        )?;
    }
    for c in &advice.candidates {
        write_candidate_md(c, w)?;
    }
    Ok(())
}

fn write_candidate_md(c: &Candidate, w: &mut dyn Write) -> Result<()> {
    writeln!(w)?;
    writeln!(
        w,
        "## {}. {} `{}`",
        c.rank,
        c.label(),
        md_code(&c.function.dotted())
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "{} (`{}:{}`)",
        md_text(&c.summary),
        md_code(&c.function.file),
        c.function.first_line.unwrap_or(0)
    )?;
    if !c.evidence.is_empty() {
        writeln!(w)?;
        for e in &c.evidence {
            writeln!(w, "- {}", md_text(e))?;
        }
    }
    if c.alternatives.len() > 1 {
        writeln!(w)?;
        writeln!(
            w,
            "| boundary | time | native | functions | calls | crossing | speedup | note |"
        )?;
        writeln!(w, "|---|---|---|---|---|---|---|---|")?;
        for o in &c.alternatives {
            writeln!(
                w,
                "| `{}` | {} | {} | {} | {} | {} | {:.1}x-{:.1}x | {} |",
                md_code(&o.function.name),
                pct(o.time_share),
                pct(o.native_share),
                o.functions,
                o.calls
                    .map(|k| thousands(k.count))
                    .unwrap_or_else(|| "?".into()),
                o.crossing_share.map(pct).unwrap_or_else(|| "?".into()),
                o.speedup[0],
                o.speedup[1],
                if o.chosen {
                    "**chosen**".to_string()
                } else {
                    md_text(o.excluded.as_deref().unwrap_or(""))
                }
            )?;
        }
    }
    if !c.readiness.is_empty() {
        writeln!(w)?;
        for n in &c.readiness {
            writeln!(
                w,
                "- {} (x{:.2}): {}",
                md_text(&n.signal),
                n.effect,
                md_text(&n.note)
            )?;
        }
    }
    if !c.analogues.is_empty() {
        writeln!(w)?;
        for a in &c.analogues {
            writeln!(w, "- {}", md_text(a))?;
        }
    }
    if c.verdict == Verdict::Port {
        writeln!(w)?;
        writeln!(
            w,
            "Stub crate: `port-advisor stub RUN --function {}`",
            md_code(&c.function.spec())
        )?;
    }
    Ok(())
}

fn data_per_call(data: &[DataFlow]) -> String {
    let args: Vec<String> = data
        .iter()
        .filter(|d| d.name != "self" && d.mean_size >= 2.0 && d.type_name != "int")
        .map(|d| format!("{} {:.0}", d.type_name, d.mean_size))
        .collect();
    if args.is_empty() {
        if data.is_empty() {
            "-".into()
        } else {
            "scalars".into()
        }
    } else {
        args.join(", ")
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// At most `n` characters, with `…` when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

fn paint(opts: &TableOptions, verdict: Verdict, text: &str) -> String {
    let style = match verdict {
        Verdict::Port => styles::PORT,
        Verdict::UseLibrary => styles::LIBRARY,
        Verdict::LeaveIt => styles::DIM,
    };
    ui::paint(opts.color, style, text)
}

/// Text safe inside Markdown: no table breaks, no HTML, no control characters.
fn md_text(s: &str) -> String {
    printable(&s.replace('\n', " "))
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text safe inside a Markdown code span, control characters written out.
fn md_code(s: &str) -> String {
    printable(&s.replace('\n', " "))
        .replace('`', "'")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_marks_cut_text() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    #[test]
    fn markdown_text_cannot_break_a_table_or_inject_html() {
        assert_eq!(md_text("a|b<script>"), "a\\|b&lt;script&gt;");
        assert_eq!(md_code("x`y|z"), "x'y\\|z");
        assert_eq!(md_text("two\nlines"), "two lines");
        assert_eq!(md_text("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(md_code("f\x1b[2J\u{202e}"), "f\\x1b[2J\\u{202e}");
    }
}
