//! The HTML report: one self-contained page (no network access) with the run's summary, the
//! candidates table with each row's evidence, a flame graph painted by verdict, and a source
//! view of each candidate shaded by measured time.
//!
//! Everything taken from the profile reaches the page as JSON data read by the page's own
//! script, which puts it in the document as text only; the flame graph, inferno's SVG, runs in
//! a sandboxed frame and talks to the page by messages. Nothing from the profile is ever
//! parsed as markup or code by the page.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;

use super::flamegraph::{self, Shape};
use super::folded::FoldOptions;
use super::paint::{self, Paint};
use crate::advise::{Advice, Candidate, Verdict};
use crate::analyze::Analysis;
use crate::profile::{FrameKind, Profile};
use crate::python::source::SourceCache;
use crate::rules::Span;

const PAGE_CSS: &str = include_str!("html/page.css");
const PAGE_JS: &str = include_str!("html/page.js");
const BRIDGE_JS: &str = include_str!("html/bridge.js");

/// At most this many source lines per candidate; longer functions are cut at the end.
const MAX_SOURCE_LINES: usize = 400;

/// What the page shows besides the advice.
#[derive(Debug, Clone, Default)]
pub struct HtmlOptions {
    pub fold: FoldOptions,
    /// How the stub command names the run (its folder), `RUN` when unknown.
    pub run: Option<String>,
}

#[derive(Serialize)]
struct PageData<'a> {
    schema: u32,
    generator: String,
    run: String,
    summary: Summary<'a>,
    advice: &'a Advice,
    functions: Vec<FunctionView>,
    sources: Vec<Option<SourceView>>,
    legend: Vec<LegendEntry>,
    flame_svg: String,
    /// What the flame graph left out, when it did.
    flame_note: Option<String>,
}

#[derive(Serialize)]
struct Summary<'a> {
    command: &'a [String],
    python: Option<&'a str>,
    started_at: &'a str,
    wall_seconds: f64,
    samples: u64,
    rate_hz: u32,
    mode: &'static str,
    unreadable_samples: u64,
    interrupted: bool,
    exit: Option<String>,
    best_speedup: Option<Span>,
    verdicts: VerdictCounts,
}

#[derive(Serialize, Default)]
struct VerdictCounts {
    port: usize,
    use_library: usize,
    leave_it: usize,
}

/// A function as the flame graph's hover panel shows it.
#[derive(Serialize)]
struct FunctionView {
    name: String,
    file: String,
    line: Option<u32>,
    time: f64,
    self_time: f64,
    native: f64,
    calls: Option<u64>,
    calls_exact: bool,
    paint: Paint,
    /// The candidate (an index into `advice.candidates`) it belongs to.
    candidate: Option<usize>,
}

#[derive(Serialize)]
struct SourceView {
    file: String,
    /// Why the text shown is incomplete, when it is.
    note: Option<String>,
    lines: Vec<SourceLine>,
}

#[derive(Serialize)]
struct SourceLine {
    n: u32,
    code: String,
    /// Share of the run spent on this line, callees included.
    time: f64,
    /// Of the run, the part of that time in native code.
    native: f64,
}

#[derive(Serialize)]
struct LegendEntry {
    paint: Paint,
    label: &'static str,
    color: String,
}

pub fn write(
    profile: &Profile,
    analysis: &Analysis,
    advice: &Advice,
    opts: &HtmlOptions,
    w: &mut dyn Write,
) -> Result<()> {
    let (paints, membership) = paint::paint_functions(profile, analysis, advice, &opts.fold);
    let frame_paint = paint::frame_paints(profile, analysis, &paints);
    let mut svg = Vec::new();
    let drawn =
        flamegraph::write_painted(profile, &opts.fold, &frame_paint, Shape::Icicle, &mut svg)?;
    let svg = with_bridge(&String::from_utf8_lossy(&svg));

    let functions = analysis
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| FunctionView {
            name: match &f.module {
                Some(m) if !m.is_empty() && f.kind == FrameKind::Python => {
                    format!("{m}.{}", f.name)
                }
                _ => f.name.clone(),
            },
            file: f.file.clone(),
            line: f.first_line,
            time: analysis.share(f.inclusive_weight),
            self_time: analysis.share(f.self_weight),
            native: f.native_share(),
            calls: f.calls.map(|c| c.count),
            calls_exact: f.calls.is_some_and(|c| c.exact),
            paint: paints[i],
            candidate: membership[i],
        })
        .collect();
    let files = SourceCache::new(crate::trust::source_roots(profile));
    let sources = advice
        .candidates
        .iter()
        .map(|c| source_view(profile, &files, analysis, c, opts.fold.include_idle))
        .collect();
    let m = &profile.meta;
    let mut verdicts = VerdictCounts::default();
    for c in &advice.candidates {
        match c.verdict {
            Verdict::Port => verdicts.port += 1,
            Verdict::UseLibrary => verdicts.use_library += 1,
            Verdict::LeaveIt => verdicts.leave_it += 1,
        }
    }
    let data = PageData {
        schema: 1,
        generator: format!("port-advisor {}", env!("CARGO_PKG_VERSION")),
        run: opts.run.clone().unwrap_or_else(|| "RUN".into()),
        summary: Summary {
            command: &m.command,
            python: m.python_version.as_deref(),
            started_at: &m.started_at,
            wall_seconds: m.wall_seconds,
            samples: m.samples,
            rate_hz: m.sampling.rate_hz,
            mode: m.sampling.mode.name(),
            unreadable_samples: m.error_ticks,
            interrupted: m.interrupted,
            exit: m.exit.as_ref().map(|e| e.to_string()),
            best_speedup: advice.combined_speedup,
            verdicts,
        },
        advice,
        functions,
        sources,
        legend: Paint::ALL
            .iter()
            .map(|&p| {
                let (r, g, b) = p.rgb();
                LegendEntry {
                    paint: p,
                    label: p.label(),
                    color: format!("#{r:02x}{g:02x}{b:02x}"),
                }
            })
            .collect(),
        flame_svg: svg,
        flame_note: (drawn.hidden > 0).then(|| {
            format!(
                "{} of {} frames, each under {:.2}% of the samples, are left out so that the \
                 graph opens quickly; `port-advisor flamegraph RUN --format speedscope` keeps \
                 every frame.",
                drawn.hidden,
                drawn.hidden + drawn.frames,
                drawn.min_width
            )
        }),
    };
    let json = script_safe_json(&data)?;
    let title = html_text(&format!("port-advisor: {}", program_name(&m.command)));
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"port-advisor\">\n\
         <title>{title}</title>\n<style>\n{PAGE_CSS}</style>\n</head>\n<body>\n\
         <noscript>This report needs JavaScript; report.md beside it holds the same advice as text.</noscript>\n\
         <div id=\"app\"></div>\n\
         <script type=\"application/json\" id=\"pa-data\">{json}</script>\n\
         <script>\n{PAGE_JS}</script>\n</body>\n</html>\n"
    )
    .context("cannot write the HTML report")?;
    Ok(())
}

/// The candidate's function, line by line, shaded by measured time.
fn source_view(
    profile: &Profile,
    files: &SourceCache,
    analysis: &Analysis,
    candidate: &Candidate,
    include_idle: bool,
) -> Option<SourceView> {
    let f = candidate.function.index_in(analysis)?;
    let stats = &analysis.functions[f];
    if stats.kind != FrameKind::Python {
        return None;
    }
    let times = analysis.line_times(profile, f, include_idle);
    let file = files.file(&profile.source_path(&stats.file));
    let text = file.as_deref().map(|f| f.text());
    let span = file.as_deref().and_then(|f| {
        let found = f.function(&stats.name, stats.first_line)?;
        Some((found.decorator_line, found.last_line))
    });
    let by_line: HashMap<u32, (u64, f64)> = times
        .iter()
        .map(|t| (t.line, (t.weight, t.native_weight)))
        .collect();
    let line = |n: u32, code: String| {
        let (w, native) = by_line.get(&n).copied().unwrap_or((0, 0.0));
        SourceLine {
            n,
            code,
            time: analysis.share(w),
            native: if analysis.total_weight == 0 {
                0.0
            } else {
                native / analysis.total_weight as f64
            },
        }
    };
    match (text, span) {
        (Some(text), Some((first, last))) => {
            let wanted = (last + 1 - first) as usize;
            let lines: Vec<SourceLine> = text
                .lines()
                .enumerate()
                .skip(first as usize - 1)
                .take(wanted.min(MAX_SOURCE_LINES))
                .map(|(i, code)| line(i as u32 + 1, code.to_owned()))
                .collect();
            Some(SourceView {
                file: stats.file.clone(),
                note: (wanted > MAX_SOURCE_LINES)
                    .then(|| format!("the first {MAX_SOURCE_LINES} of its {wanted} lines")),
                lines,
            })
        }
        _ => {
            // The file is gone or changed: the sampled lines, with the text the recording kept.
            let mut code: HashMap<u32, String> = HashMap::new();
            for (frame, fun) in profile.frames.iter().zip(&analysis.frame_function) {
                if *fun == Some(f) {
                    if let (Some(n), Some(c)) = (frame.line, &frame.code) {
                        code.insert(n, c.clone());
                    }
                }
            }
            let lines = times
                .iter()
                .map(|t| line(t.line, code.remove(&t.line).unwrap_or_default()))
                .collect();
            Some(SourceView {
                file: stats.file.clone(),
                note: Some(if profile.provenance == crate::profile::Provenance::Local {
                    format!(
                        "{} could not be read as it was profiled: only the sampled lines are \
                         shown",
                        profile.source_path(&stats.file).display()
                    )
                } else {
                    format!(
                        "only the sampled lines are shown: {}",
                        crate::trust::RECEIVED_NOTE
                    )
                }),
                lines,
            })
        }
    }
}

/// The flame graph's SVG with the script that lets the page search it and hear which frame
/// is under the pointer, inserted before its end.
fn with_bridge(svg: &str) -> String {
    let script = format!("<script type=\"text/ecmascript\"><![CDATA[\n{BRIDGE_JS}]]></script>\n");
    match svg.rfind("</svg>") {
        Some(end) => format!("{}{script}{}", &svg[..end], &svg[end..]),
        None => svg.to_owned(),
    }
}

/// What a browser tab calls the run: the script's file name, else the command, short.
fn program_name(command: &[String]) -> String {
    let name = match command.iter().find(|a| a.ends_with(".py")) {
        Some(script) => script.rsplit('/').next().unwrap_or(script).to_owned(),
        None => command.join(" "),
    };
    name.chars().take(100).collect()
}

/// JSON that can sit inside a `<script>` element: no `<`, `>` or `&` survives as itself, so
/// no `</script>` or `<!--` in a name can end the element early.
fn script_safe_json<T: Serialize>(value: &T) -> Result<String> {
    let json = serde_json::to_string(value).context("cannot serialize the report's data")?;
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Text for an HTML element's content.
fn html_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_in_a_script_element_cannot_close_it() {
        let json =
            script_safe_json(&vec!["</script><script>alert(1)</script>", "a & b <!--"]).unwrap();
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: Vec<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
        assert_eq!(back[1], "a & b <!--");
    }

    #[test]
    fn title_text_is_escaped() {
        assert_eq!(
            html_text("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn names_decoded_from_bad_bytes_reach_the_page_as_data_only() {
        use crate::advise::{advise, AdviseOptions};
        use crate::analyze::{analyze, AnalyzeOptions};
        use crate::profile::{Frame, Meta, ProfileBuilder};
        use crate::rules::Rules;

        // What the recorder keeps of a name that is not UTF-8: its lossy decoding.
        let hostile = String::from_utf8_lossy(b"\xff\xfe</script><script>alert(1)</script>\xc3");
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let frame = |name: &str, line: u32| Frame {
            name: name.into(),
            qualname: Some(name.into()),
            file: format!("/nowhere/{hostile}.py"),
            first_line: Some(1),
            line: Some(line),
            module: Some(hostile.to_string()),
            kind: FrameKind::Python,
            code: Some(format!("x = '{hostile}'")),
        };
        let main = b.intern_frame(frame("main", 2));
        let hot = b.intern_frame(frame(&hostile, 5));
        for _ in 0..50 {
            b.add_stack(t, vec![main, hot], false, true, false);
        }
        let profile = b.to_profile(Meta {
            command: vec!["python3".into(), format!("{hostile}.py")],
            wall_seconds: 0.5,
            samples: 50,
            ..Meta::default()
        });
        let rules = Rules::load(None).unwrap();
        let analysis = analyze(
            &profile,
            &AnalyzeOptions {
                include_idle: false,
                rules: rules.clone(),
            },
        );
        let advice = advise(&profile, &analysis, &rules, &AdviseOptions::default());
        let mut page = Vec::new();
        write(
            &profile,
            &analysis,
            &advice,
            &HtmlOptions::default(),
            &mut page,
        )
        .unwrap();
        let page = String::from_utf8(page).unwrap();
        assert_eq!(
            page.matches("<script").count(),
            2,
            "only the page's own scripts"
        );
        assert!(!page.contains("alert(1)</script>"));
        let start = page.find("id=\"pa-data\">").unwrap() + "id=\"pa-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
        let names: Vec<&str> = data["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert!(names.iter().any(|n| n.ends_with(&*hostile)), "{names:?}");
        assert!(data["flame_svg"]
            .as_str()
            .unwrap()
            .contains("&lt;/script&gt;"));
    }

    #[test]
    fn the_bridge_goes_inside_the_svg() {
        let svg = with_bridge("<svg><g/></svg>\n");
        assert!(svg.starts_with("<svg><g/><script"));
        assert!(svg.trim_end().ends_with("]]></script>\n</svg>"));
    }
}
