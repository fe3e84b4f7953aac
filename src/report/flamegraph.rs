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
    write_painted(profile, opts, &[], Shape::Flame, w)
}

/// Which way a flame graph grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Roots at the bottom, as flame graphs usually are.
    Flame,
    /// Roots at the top, where the wide frames are seen first without scrolling.
    Icicle,
}

/// A flame graph with the given functions painted; the others get colours from their names.
pub fn write_painted(
    profile: &Profile,
    opts: &FoldOptions,
    paint: &[FramePaint],
    shape: Shape,
    w: &mut dyn Write,
) -> Result<()> {
    let lines = folded::lines(profile, opts);
    let mut options = Options::default();
    options.title = title(profile);
    options.subtitle = Some(subtitle(profile));
    options.count_name = "samples".into();
    if shape == Shape::Icicle {
        options.direction = Direction::Inverted;
    }
    // Frames outside the paint (the root) get colours from their names, not at random.
    options.hash = true;
    if paint.is_empty() {
        return draw(&mut options, &lines, w);
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
    Ok(())
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
