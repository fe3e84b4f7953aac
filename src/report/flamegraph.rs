//! Flame graphs, drawn by inferno from the folded lines: the plain one, one painted by the
//! advice (for the HTML report), and the differential one of `port-advisor diff`. The only
//! module that knows inferno.

use std::io::Write;

use anyhow::{Context, Result};
use inferno::flamegraph::color::{Color, PaletteMap};
use inferno::flamegraph::{Direction, FuncFrameAttrsMap, Options};

use super::folded::{self, FoldOptions};
use crate::profile::Profile;

/// How one function's frames are painted.
#[derive(Debug, Clone)]
pub struct FramePaint {
    /// The frame label, as in the folded lines ([`folded::frame_label`]).
    pub label: String,
    pub rgb: (u8, u8, u8),
    /// A CSS class put on the frame's `<g>` element.
    pub class: &'static str,
    /// A number put in the `data-f` attribute of the frame's `<g>` element, for the page's
    /// script to look the function up.
    pub data: Option<usize>,
}

pub fn write(profile: &Profile, opts: &FoldOptions, w: &mut dyn Write) -> Result<()> {
    write_painted(profile, opts, &[], Shape::Flame, w).map(|_| ())
}

/// Which way a flame graph grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Roots at the bottom, as flame graphs usually are.
    Flame,
    /// Roots at the top, where the wide frames are seen first without scrolling.
    Icicle,
}

/// At most about this many frames are drawn: a browser takes about a second per 10,000 of
/// inferno's frames to open and lay out the picture, so narrower frames are left out beyond it.
pub const FRAME_BUDGET: usize = 15_000;

/// What a flame graph left out to stay quick to open.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Drawn {
    /// Frames drawn.
    pub frames: usize,
    /// Frames left out for being narrower than `min_width` percent of the samples.
    pub hidden: usize,
    pub min_width: f64,
}

/// A flame graph with the given functions painted; the others get colours from their names.
pub fn write_painted(
    profile: &Profile,
    opts: &FoldOptions,
    paint: &[FramePaint],
    shape: Shape,
    w: &mut dyn Write,
) -> Result<Drawn> {
    let lines = folded::lines(profile, opts);
    let drawn = budget(&lines, FRAME_BUDGET);
    let mut options = Options::default();
    options.min_width = drawn.min_width;
    options.title = title(profile);
    options.subtitle = Some(subtitle(profile));
    options.count_name = "samples".into();
    if shape == Shape::Icicle {
        options.direction = Direction::Inverted;
    }
    // Frames outside the paint (the root) get colours from their names, not at random.
    options.hash = true;
    if paint.is_empty() {
        draw(&mut options, &lines, w)?;
        return Ok(drawn);
    }
    if shape == Shape::Flame {
        // A standalone picture has no page around it to hold a legend.
        let m = &profile.meta;
        options.subtitle = Some(format!(
            "{} samples, {:.1} s · {LEGEND}",
            m.samples, m.wall_seconds
        ));
    }
    let mut palette = PaletteMap::default();
    for p in paint {
        let (r, g, b) = p.rgb;
        palette.insert(&p.label, Color { r, g, b });
    }
    options.func_frameattrs = frame_attributes(paint);
    options.palette_map = Some(&mut palette);
    let mut svg = Vec::new();
    draw(&mut options, &lines, &mut svg)?;
    let svg = String::from_utf8_lossy(&svg);
    let style = format!("<style type=\"text/css\"><![CDATA[\n{BOUNDARY_CSS}]]></style>\n");
    let end = svg.rfind("</svg>").unwrap_or(svg.len());
    w.write_all(svg[..end].as_bytes())?;
    w.write_all(style.as_bytes())?;
    w.write_all(svg[end..].as_bytes())?;
    Ok(drawn)
}

/// The narrowest frame width (percent of the samples) that keeps the drawing within about
/// `budget` frames, and what that leaves out. The lines come sorted, root first, as inferno
/// merges them: the frames of one prefix are on consecutive lines.
fn budget(lines: &[String], budget: usize) -> Drawn {
    let mut widths: Vec<u64> = Vec::new();
    let mut open: Vec<(&str, u64)> = Vec::new();
    let mut total = 0u64;
    for line in lines {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let count: u64 = count.parse().unwrap_or(0);
        total += count;
        let frames: Vec<&str> = stack.split(';').collect();
        let common = open
            .iter()
            .zip(&frames)
            .take_while(|((a, _), b)| a == *b)
            .count();
        widths.extend(open.drain(common..).map(|(_, w)| w));
        open.extend(frames[common..].iter().map(|f| (*f, 0)));
        for node in &mut open {
            node.1 += count;
        }
    }
    widths.extend(open.into_iter().map(|(_, w)| w));
    let default = Options::default().min_width;
    let all = widths.len();
    if all <= budget || total == 0 {
        return Drawn {
            frames: all,
            hidden: 0,
            min_width: default,
        };
    }
    // The budget-th widest frame sets the width; frames narrower than it are left out, and
    // when many are as wide as it (a profile of single samples), those too.
    let (_, &mut nth, _) = widths.select_nth_unstable_by(budget - 1, |a, b| b.cmp(a));
    let as_wide = widths.iter().filter(|&&w| w >= nth).count();
    let cut = if as_wide > budget { nth + 1 } else { nth };
    // A hair under the cut, so that rounding never drops a frame exactly at it.
    let min_width = (100.0 * (cut as f64 - 0.5) / total as f64).max(default);
    let kept = widths.iter().filter(|&&w| w >= cut).count();
    Drawn {
        frames: kept,
        hidden: all - kept,
        min_width,
    }
}

/// The colours of a painted flame graph, for a standalone SVG's subtitle.
const LEGEND: &str = "dark orange, outlined: port here · light orange: moves with it · \
                      blue: use a library · grey: leave it · green: native";

/// The chosen boundaries stand out: outlined, their names in bold.
const BOUNDARY_CSS: &str = "g.pa-port > rect { stroke: #1f2328; stroke-width: 1.5px; }\n\
                            g.pa-port > text { font-weight: bold; }\n";

/// The differential flame graph of two folded profiles: drawn with the widths of `before`,
/// coloured by the change (blue: less time after, red: more), counts normalized so that runs
/// of different lengths compare.
pub fn write_differential(
    before: &[String],
    after: &[String],
    title: &str,
    subtitle: &str,
    w: &mut dyn Write,
) -> Result<()> {
    // inferno draws the second column's widths: give it `before` there, and flip the hues.
    let mut both = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: true,
            strip_hex: false,
        },
        after.join("\n").as_bytes(),
        before.join("\n").as_bytes(),
        &mut both,
    )
    .context("cannot compare the two profiles")?;
    let both = String::from_utf8_lossy(&both).into_owned();
    let lines: Vec<String> = both.lines().map(str::to_owned).collect();
    let mut options = Options::default();
    options.title = title.to_owned();
    options.subtitle = Some(subtitle.to_owned());
    options.count_name = "samples".into();
    options.negate_differentials = true;
    draw(&mut options, &lines, w)
}

fn draw(options: &mut Options<'_>, lines: &[String], w: &mut dyn Write) -> Result<()> {
    if lines.is_empty() {
        // inferno refuses empty input; an empty profile still gets a valid, explicit picture.
        let empty = ["no samples were recorded 1".to_owned()];
        return inferno::flamegraph::from_lines(options, empty.iter().map(String::as_str), w)
            .context("cannot draw the flame graph");
    }
    inferno::flamegraph::from_lines(options, lines.iter().map(String::as_str), w)
        .context("cannot draw the flame graph")
}

/// inferno reads frame attributes as `label<TAB>name=value...` lines; labels holding a tab
/// cannot be written that way and keep the default attributes (their colour still applies).
fn frame_attributes(paint: &[FramePaint]) -> FuncFrameAttrsMap {
    let mut text = String::new();
    for p in paint.iter().filter(|p| !p.label.contains('\t')) {
        text.push_str(&p.label);
        text.push_str("\tclass=");
        text.push_str(p.class);
        if let Some(n) = p.data {
            text.push_str(&format!("\tg_extra=data-f=\"{n}\""));
        }
        text.push('\n');
    }
    FuncFrameAttrsMap::from_reader(text.as_bytes()).unwrap_or_default()
}

fn title(profile: &Profile) -> String {
    let command = profile.meta.command.join(" ");
    let command: String = command.chars().take(120).collect();
    format!("port-advisor: {command}")
}

fn subtitle(profile: &Profile) -> String {
    let m = &profile.meta;
    format!(
        "{} samples over {:.1} s at {} Hz ({:?} sampling){}",
        m.samples,
        m.wall_seconds,
        m.sampling.rate_hz,
        m.sampling.mode,
        m.python_version
            .as_ref()
            .map(|v| format!(", Python {v}"))
            .unwrap_or_default()
    )
    .replace("Nonblocking", "non-blocking")
    .replace("Blocking", "blocking")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_out_the_narrowest_frames() {
        let lines: Vec<String> = ["a;b;c 5", "a;b;d 3", "a;e 1", "f 1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Frames: a(9) b(8) c(5) d(3) e(1) f(1).
        let all = budget(&lines, 10);
        assert_eq!((all.frames, all.hidden), (6, 0));
        let four = budget(&lines, 4);
        assert_eq!((four.frames, four.hidden), (4, 2));
        assert!((four.min_width - 25.0).abs() < 1e-9, "{four:?}");
        // Ties at the cut are all left out rather than overrun the budget.
        let five = budget(&lines, 5);
        assert_eq!((five.frames, five.hidden), (4, 2));
    }
}
