//! `port-advisor diff`: the comparison of two runs as a table, Markdown or JSON. Function
//! names and commands come from the profiles and are printed through [`printable`].

use std::io::Write;

use anyhow::Result;

use crate::compare::{Comparison, FunctionChange};
use crate::text::printable;

/// How many functions the table and Markdown list.
#[derive(Debug, Clone, Copy)]
pub struct CompareOptions {
    pub top: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions { top: 15 }
    }
}

pub fn write_json(c: &Comparison, w: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *w, c)?;
    writeln!(w)?;
    Ok(())
}

pub fn write_table(c: &Comparison, opts: &CompareOptions, w: &mut dyn Write) -> Result<()> {
    writeln!(w, "{}", headline(c))?;
    if let Some(line) = estimate_line(c) {
        writeln!(w, "{line}")?;
    }
    writeln!(w)?;
    let names: Vec<_> = c
        .functions
        .iter()
        .take(opts.top)
        .map(|f| printable(&f.name))
        .collect();
    let width = names
        .iter()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(8, 60);
    writeln!(
        w,
        "  {:<width$}  {:>9}  {:>9}  {:>12}",
        "function", "before", "after", "speedup"
    )?;
    for (f, name) in c.functions.iter().zip(&names) {
        writeln!(
            w,
            "  {:<width$}  {:>9}  {:>9}  {:>12}",
            clip(name, width),
            seconds(f.before_seconds),
            seconds(f.after_seconds),
            change(f)
        )?;
    }
    if c.functions.len() > opts.top {
        writeln!(
            w,
            "  ... {} more (--top, or --format json for all)",
            c.functions.len() - opts.top
        )?;
    }
    Ok(())
}

pub fn write_markdown(c: &Comparison, opts: &CompareOptions, w: &mut dyn Write) -> Result<()> {
    writeln!(w, "# Before and after")?;
    writeln!(w)?;
    writeln!(
        w,
        "- before: `{}`",
        printable(&c.before.command.join(" ")).replace('`', "'")
    )?;
    writeln!(
        w,
        "- after: `{}`",
        printable(&c.after.command.join(" ")).replace('`', "'")
    )?;
    writeln!(w)?;
    writeln!(w, "{}", headline(c))?;
    if let Some(line) = estimate_line(c) {
        writeln!(w)?;
        writeln!(w, "{line}")?;
    }
    writeln!(w)?;
    writeln!(w, "| function | before | after | speedup |")?;
    writeln!(w, "|---|---:|---:|---:|")?;
    for f in c.functions.iter().take(opts.top) {
        writeln!(
            w,
            "| `{}` | {} | {} | {} |",
            printable(&f.name).replace('`', "'").replace('|', "\\|"),
            seconds(f.before_seconds),
            seconds(f.after_seconds),
            change(f)
        )?;
    }
    Ok(())
}

fn headline(c: &Comparison) -> String {
    let verb = if c.speedup >= 1.0 {
        format!("{:.2}x faster", c.speedup)
    } else {
        format!("{:.2}x slower", 1.0 / c.speedup)
    };
    format!(
        "Whole program: {} -> {}, {verb}.",
        seconds(c.before.wall_seconds),
        seconds(c.after.wall_seconds)
    )
}

fn estimate_line(c: &Comparison) -> Option<String> {
    let [lo, hi] = c.estimated?;
    let verdict = if (lo..=hi).contains(&c.speedup) {
        "the measurement is inside that range"
    } else if c.speedup < lo {
        "the measurement is below that range"
    } else {
        "the measurement is above that range"
    };
    Some(format!(
        "The advice on the first run estimated {lo:.1}x-{hi:.1}x for porting its `port` \
         candidates: {verdict}."
    ))
}

fn change(f: &FunctionChange) -> String {
    match f.speedup {
        None => "gone".into(),
        Some(_) if f.before_seconds == 0.0 => "new".into(),
        Some(s) if s >= 1.0 => format!("{s:.2}x faster"),
        Some(s) => format!("{:.2}x slower", 1.0 / s),
    }
}

fn seconds(s: f64) -> String {
    if s == 0.0 {
        "-".into()
    } else if s < 0.01 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}
