//! Charts with plotters, each rendered twice from the same drawing code: SVG (inlined in the HTML
//! report) and PNG (for the README and anything that shows images). Text is drawn with DejaVu Sans
//! embedded in the binary (`assets/fonts/`, registered with plotters' `ab_glyph` support), so a PNG
//! looks the same on a machine without any system font; its glyphs are placed by the `glyphs`
//! module below (plotters' bitmap text spaces them unevenly). SVG text names the font family and
//! is laid out with DejaVu's metrics; a viewer without it substitutes a similar sans-serif.
//!
//! The charts:
//! - `latency`: median latency per variant with its 95 % CI as a whisker, one panel per
//!   model (models differ by orders of magnitude, one axis would flatten the small ones);
//! - `tradeoff-*`: quality against latency, one point per case, circle area ∝ size on disk, the
//!   Pareto front (no other case is both faster and better) drawn as a line; one chart per
//!   dataset (its primary accuracy metric) and one for fidelity (the lowest output cosine to the
//!   reference variant, which is 1 for the reference itself);
//! - `size`: size on disk and parameters per variant, stacked by element type (float32 vs int8);
//! - `profile`: where the time of a run goes, one bar per variant stacked by op family (GEMM,
//!   attention, layout and copies, ...) from ONNX Runtime's profiler, one panel per model;
//! - `distribution`: a histogram of every case's latency samples with p50 and p99 marked, on a log
//!   axis when the tail is heavy (p99 over 3× the median).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::view;
use crate::results::{CaseResult, Results, Status};
use crate::util;

/// One rendered chart.
pub struct Chart {
    /// File stem: `latency`, `tradeoff-stsb-dev`, `size`, `distribution`.
    pub name: String,
    pub title: String,
    pub svg: String,
    pub png: Vec<u8>,
}

const FONT: &str = "sans-serif";
static DEJAVU: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

const WIDTH: u32 = 1100;
const TITLE: u32 = 26;
const CAPTION: u32 = 19;
const LABEL: u32 = 15;
const DESC: u32 = 16;

/// Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(225, 87, 89),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(156, 117, 95),
    RGBColor(255, 157, 167),
    RGBColor(186, 176, 172),
];
const GRID: RGBColor = RGBColor(225, 225, 225);
const INK: RGBColor = RGBColor(40, 40, 40);
const P99: RGBColor = RGBColor(150, 30, 150);

type DrawResult = Result<(), String>;

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse (the chart tests render text with it).
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU);
    });
}

mod glyphs {
    //! The bitmap backend with text drawn correctly. plotters 0.3.7 rasterizes each glyph at the caret
    //! without its left side bearing (`px_bounds().min.x` is dropped) and truncates every glyph's
    //! vertical offset on its own, so in a PNG narrow glyphs slide left and short ones drop a pixel:
    //! "squ eezeb ert", "0 .1", "fp 32". Here each glyph is placed at the caret (advances and kerning
    //! in float, as plotters measures the text) on one baseline, with its bearing. Everything else,
    //! including the text layout box that anchors and sizes depend on, is the inner backend's.

    use plotters::prelude::DrawingBackend;
    use plotters::style::text_anchor::{HPos, VPos};
    use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

    use super::DEJAVU;

    pub(super) struct Glyphs<B>(pub B);

    fn dejavu() -> Option<&'static ab_glyph::FontRef<'static>> {
        static FONT_REF: std::sync::OnceLock<Option<ab_glyph::FontRef<'static>>> = std::sync::OnceLock::new();
        FONT_REF.get_or_init(|| ab_glyph::FontRef::try_from_slice(DEJAVU).ok()).as_ref()
    }

    impl<B: DrawingBackend> DrawingBackend for Glyphs<B> {
        type ErrorType = B::ErrorType;

        fn get_size(&self) -> (u32, u32) {
            self.0.get_size()
        }
        fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.ensure_prepared()
        }
        fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.present()
        }
        fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.draw_pixel(point, color)
        }
        fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.draw_line(from, to, style)
        }
        fn draw_rect<S: BackendStyle>(&mut self, ul: BackendCoord, br: BackendCoord, style: &S, fill: bool) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.draw_rect(ul, br, style, fill)
        }
        fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.draw_path(path, style)
        }
        fn draw_circle<S: BackendStyle>(&mut self, c: BackendCoord, r: u32, style: &S, fill: bool) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.draw_circle(c, r, style, fill)
        }
        fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, vert: I, style: &S) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.fill_polygon(vert, style)
        }
        fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            self.0.blit_bitmap(pos, size, src)
        }
        fn estimate_text_size<S: BackendTextStyle>(&self, text: &str, style: &S) -> Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
            self.0.estimate_text_size(text, style)
        }

        fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> Result<(), DrawingErrorKind<B::ErrorType>> {
            use ab_glyph::{Font as _, ScaleFont as _};
            let color = style.color();
            if color.alpha == 0.0 {
                return Ok(());
            }
            // The font is compiled in and parses (the chart tests draw with it); were it not to,
            // plotters' own drawing is the fallback.
            let Some(font) = dejavu() else { return self.0.draw_text(text, style, pos) };
            // The box and anchoring exactly as plotters computes them, so layouts do not move.
            let ((min_x, min_y), (max_x, max_y)) = style.layout_box(text).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
            let (width, height) = (max_x - min_x, max_y - min_y);
            let dx = match style.anchor().h_pos {
                HPos::Left => 0,
                HPos::Right => -width,
                HPos::Center => -width / 2,
            };
            let dy = match style.anchor().v_pos {
                VPos::Top => 0,
                VPos::Center => -height / 2,
                VPos::Bottom => -height,
            };
            let trans = style.transform();
            let (w, h) = self.get_size();
            let font = font.as_scaled(style.size() as f32);
            // plotters puts the baseline half the font size below the top of the box.
            let baseline = style.size() as f32 / 2.0;
            let (mut caret, mut prev) = (0f32, None);
            let mut pixels = Vec::new();
            for c in text.chars() {
                let id = font.glyph_id(c);
                if let Some(p) = prev {
                    caret += font.kern(p, id);
                }
                prev = Some(id);
                let glyph = id.with_scale_and_position(font.scale(), ab_glyph::point(caret, baseline));
                caret += font.h_advance(id);
                let Some(outline) = font.outline_glyph(glyph) else { continue };
                let b = outline.px_bounds();
                outline.draw(|x, y, coverage| {
                    if coverage > 0.0 {
                        pixels.push((b.min.x as i32 + x as i32, b.min.y as i32 + y as i32, coverage));
                    }
                });
            }
            for (x, y, coverage) in pixels {
                let (x, y) = trans.transform(x + dx - min_x, y + dy - min_y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                    self.0.draw_pixel((x, y), color.mix(f64::from(coverage)))?;
                }
            }
            Ok(())
        }
    }
}
use glyphs::Glyphs;

/// A figure draws itself on any backend; [`render`] runs it on the SVG and the bitmap backend.
trait Figure {
    fn height(&self) -> u32;
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

fn render(name: String, title: String, fig: &impl Figure) -> Result<Chart, String> {
    register_font();
    let size = (WIDTH, fig.height());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        fig.draw(&root)?;
        root.present().map_err(e)?;
    }
    let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = Glyphs(BitMapBackend::with_buffer(&mut rgb, size)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        fig.draw(&root)?;
        root.present().map_err(e)?;
    }
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let mut w = enc.write_header().map_err(e)?;
        w.write_image_data(&rgb).map_err(e)?;
        w.finish().map_err(e)?;
    }
    Ok(Chart { name, title, svg, png })
}

/// Every chart the results allow (a chart with nothing to show is left out).
pub fn render_all(results: &Results) -> Result<Vec<Chart>, String> {
    let colors = variant_colors(results);
    let mut out = Vec::new();
    let lat = LatencyFig::new(results, &colors);
    if !lat.panels.is_empty() {
        out.push(render("latency".into(), LatencyFig::TITLE.into(), &lat)?);
    }
    for fig in TradeoffFig::all(results) {
        out.push(render(fig.name.clone(), fig.title.clone(), &fig)?);
    }
    let size = SizeFig::new(results);
    if !size.panels.is_empty() {
        out.push(render("size".into(), SizeFig::TITLE.into(), &size)?);
    }
    if let Some(fig) = ProfileFig::new(results) {
        out.push(render("profile".into(), ProfileFig::TITLE.into(), &fig)?);
    }
    let dist = DistributionFig::new(results, &colors);
    if !dist.cases.is_empty() {
        out.push(render("distribution".into(), DistributionFig::TITLE.into(), &dist)?);
    }
    Ok(out)
}

/// One colour per variant name, in order of first appearance, shared by all charts.
fn variant_colors(results: &Results) -> BTreeMap<String, RGBColor> {
    let mut map = BTreeMap::new();
    for c in &results.cases {
        let n = map.len();
        map.entry(c.variant.clone()).or_insert(PALETTE[n % PALETTE.len()]);
    }
    map
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&INK)
}

/// The chart title, centred, and the area below it.
fn titled<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> Result<DrawingArea<DB, Shift>, String> {
    let (_, below) = root.split_vertically(8);
    below.titled(title, font(TITLE)).map_err(e)
}

/// How a legend entry is drawn.
enum Mark {
    Box(RGBColor),
    Whisker,
    Line(RGBColor),
    Ring,
}

/// A row of legend entries across the top of `area`, returning the area below it.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(Mark, String)]) -> Result<DrawingArea<DB, Shift>, String> {
    let (top, rest) = area.split_vertically(34);
    let style = font(LABEL).pos(Pos::new(HPos::Left, VPos::Center));
    let widths: Vec<i32> =
        items.iter().map(|(_, t)| top.estimate_text_size(t, &style).map(|s| s.0 as i32).unwrap_or(100)).collect();
    let total: i32 = widths.iter().map(|w| w + 28 + 26).sum::<i32>() - 26;
    let mut x = ((WIDTH as i32 - total) / 2).max(10);
    let y = 16;
    for ((mark, text), w) in items.iter().zip(widths) {
        match mark {
            Mark::Box(c) => top.draw(&Rectangle::new([(x, y - 7), (x + 20, y + 7)], c.filled())).map_err(e)?,
            Mark::Whisker => {
                let s = INK.stroke_width(2);
                top.draw(&PathElement::new(vec![(x, y), (x + 20, y)], s)).map_err(e)?;
                top.draw(&PathElement::new(vec![(x, y - 6), (x, y + 6)], s)).map_err(e)?;
                top.draw(&PathElement::new(vec![(x + 20, y - 6), (x + 20, y + 6)], s)).map_err(e)?;
            }
            Mark::Line(c) => top.draw(&PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))).map_err(e)?,
            Mark::Ring => top.draw(&Circle::new((x + 10, y), 7, INK.stroke_width(2))).map_err(e)?,
        }
        top.draw(&Text::new(text.clone(), (x + 28, y), style.clone())).map_err(e)?;
        x += w + 28 + 26;
    }
    Ok(rest)
}

/// Widest text among `labels` at `size`, in pixels.
fn widest<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, labels: &[String], size: u32) -> u32 {
    labels.iter().filter_map(|l| area.estimate_text_size(l, &font(size)).ok()).map(|s| s.0).max().unwrap_or(0)
}

/// Splits `area` into vertical slices of the given heights (the last takes the rest).
fn stack<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, heights: &[u32]) -> Vec<DrawingArea<DB, Shift>> {
    let mut out = Vec::new();
    let mut rest = area.clone();
    for h in heights {
        let (a, b) = rest.split_vertically(*h);
        out.push(a);
        rest = b;
    }
    out
}

/// A number for an axis tick: no trailing zeros, at most `decimals`.
fn tick(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

// ---------------------------------------------------------------------------------------------
// Horizontal bar panels (latency, size)

/// One bar: a label on the axis, stacked segments, an optional whisker and a value label.
struct Bar {
    label: String,
    segments: Vec<(f64, RGBColor)>,
    whisker: Option<[f64; 2]>,
    text: String,
}

struct BarPanel {
    caption: String,
    x_desc: String,
    bars: Vec<Bar>,
}

const ROW: u32 = 34;

impl BarPanel {
    fn height(&self) -> u32 {
        40 + 55 + ROW * self.bars.len() as u32
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, label_width: u32) -> DrawResult {
        let n = self.bars.len();
        let end = |b: &Bar| b.whisker.map(|w| w[1]).unwrap_or(0.0).max(b.segments.iter().map(|s| s.0).sum());
        let max = self.bars.iter().map(end).fold(0.0, f64::max);
        let xmax = if max > 0.0 { max * 1.25 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(&self.caption, font(CAPTION))
            .margin_left(10)
            .margin_right(25)
            .margin_top(12)
            .x_label_area_size(40)
            .y_label_area_size(label_width + 22)
            .build_cartesian_2d(0f64..xmax, -0.6f64..n as f64 - 0.4)
            .map_err(e)?;
        let labels: Vec<&str> = self.bars.iter().map(|b| b.label.as_str()).collect();
        let y_of = |i: usize| (n - 1 - i) as f64;
        let label_of = |y: &f64| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n { labels[n - 1 - i as usize].to_string() } else { String::new() }
        };
        let decimals = if xmax < 2.0 { 2 } else if xmax < 20.0 { 1 } else { 0 };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_label_formatter(&|x| tick(*x, decimals))
            .x_desc(self.x_desc.as_str())
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC))
            .x_labels(8)
            .draw()
            .map_err(e)?;
        for (i, b) in self.bars.iter().enumerate() {
            let y = y_of(i);
            let mut x0 = 0.0;
            for (v, c) in &b.segments {
                chart.draw_series(std::iter::once(Rectangle::new([(x0, y - 0.32), (x0 + v, y + 0.32)], c.filled()))).map_err(e)?;
                x0 += v;
            }
            if let Some([lo, hi]) = b.whisker {
                let s = INK.stroke_width(2);
                chart
                    .draw_series([
                        PathElement::new(vec![(lo, y), (hi, y)], s),
                        PathElement::new(vec![(lo, y - 0.2), (lo, y + 0.2)], s),
                        PathElement::new(vec![(hi, y - 0.2), (hi, y + 0.2)], s),
                    ])
                    .map_err(e)?;
            }
            let style = font(LABEL - 1).pos(Pos::new(HPos::Left, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(b.text.clone(), (end(b) + xmax * 0.012, y), style))).map_err(e)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Latency per variant

struct LatencyFig {
    panels: Vec<BarPanel>,
    labels: Vec<String>,
}

impl LatencyFig {
    const TITLE: &'static str = "Latency per variant (median of timed runs)";

    fn new(results: &Results, colors: &BTreeMap<String, RGBColor>) -> LatencyFig {
        let mut panels = Vec::new();
        let mut labels = Vec::new();
        for g in view::groups(results) {
            let several = several_workloads(g.rows.iter().map(|r| r.case));
            let bars: Vec<Bar> = g
                .rows
                .iter()
                .filter(|r| r.case.status == Status::Ok)
                .filter_map(|r| {
                    // A time that is not finite and positive has no place on the axis (and an
                    // infinite one would make it endless).
                    let l = r.case.latency.as_ref().filter(|l| positive_ms(l.p50_ms))?;
                    let speed = match r.speedup {
                        Some(s) if !r.case.reference => format!("  ({s:.2}× vs ref)"),
                        _ if r.case.reference => "  (ref)".into(),
                        _ => String::new(),
                    };
                    Some(Bar {
                        label: case_label(r.case, several),
                        segments: vec![(l.p50_ms, colors[&r.case.variant])],
                        // An interval of the median holds the median; anything else would be
                        // drawn far off the axis (pixel arithmetic overflows).
                        whisker: Some(l.p50_ci_ms).filter(|&[lo, hi]| positive_ms(lo) && positive_ms(hi) && lo <= l.p50_ms && l.p50_ms <= hi),
                        text: format!("{} ms{speed}", util::ms(l.p50_ms)),
                    })
                })
                .collect();
            if bars.is_empty() {
                continue;
            }
            labels.extend(bars.iter().map(|b| b.label.clone()));
            panels.push(BarPanel { caption: g.model.to_string(), x_desc: "median latency per run (ms)".into(), bars });
        }
        LatencyFig { panels, labels }
    }
}

/// A time a chart can place: above 0 and below 10^12 ms (30 years; an axis up to ~10^308 ms
/// overflows the pixel arithmetic). A results file may hold anything.
fn positive_ms(v: f64) -> bool {
    v > 0.0 && v < 1e12
}

fn several_workloads<'a>(cases: impl Iterator<Item = &'a CaseResult>) -> bool {
    let mut first = None;
    for c in cases {
        match first {
            None => first = Some(&c.workload),
            Some(w) if *w != c.workload => return true,
            _ => {}
        }
    }
    false
}

fn case_label(c: &CaseResult, with_workload: bool) -> String {
    if with_workload { format!("{} ({})", c.variant, view::workload(c)) } else { c.variant.clone() }
}

impl Figure for LatencyFig {
    fn height(&self) -> u32 {
        60 + 34 + self.panels.iter().map(BarPanel::height).sum::<u32>()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let area = titled(root, Self::TITLE)?;
        let area = legend(
            &area,
            &[
                (Mark::Box(PALETTE[0]), "median (p50), colour = variant".into()),
                (Mark::Whisker, "95 % confidence interval of the median".into()),
            ],
        )?;
        let w = widest(root, &self.labels, LABEL);
        let heights: Vec<u32> = self.panels.iter().map(BarPanel::height).collect();
        for (p, a) in self.panels.iter().zip(stack(&area, &heights)) {
            p.draw(&a, w)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Size and parameters, stacked by element type

struct SizeRow {
    label: String,
    size: Vec<(String, f64)>,
    /// Parameters by element type (counts).
    params: Vec<(String, f64)>,
    size_total: u64,
    params_total: u64,
}

struct SizePanel {
    model: String,
    rows: Vec<SizeRow>,
}

struct SizeFig {
    panels: Vec<SizePanel>,
    dtypes: Vec<String>,
}

const OTHER: &str = "graph and other bytes";

impl SizeFig {
    const TITLE: &'static str = "Model size on disk and parameters per variant, by element type";

    fn new(results: &Results) -> SizeFig {
        let mut panels = Vec::new();
        let mut dtypes: Vec<String> = Vec::new();
        for g in view::groups(results) {
            let mut rows: Vec<SizeRow> = Vec::new();
            for r in &g.rows {
                let c = r.case;
                let (Some(p), Some(m)) = (&c.params, &c.memory) else { continue };
                if rows.iter().any(|x| x.label == c.variant) {
                    continue; // one bar per variant: size does not depend on the workload
                }
                let mut size: Vec<(String, f64)> =
                    m.weight_bytes_by_dtype.iter().map(|(d, b)| (d.clone(), *b as f64 / 1048576.0)).collect();
                let weights: u64 = m.weight_bytes_by_dtype.values().sum();
                if m.model_file_bytes > weights {
                    size.push((OTHER.into(), (m.model_file_bytes - weights) as f64 / 1048576.0));
                }
                let params = p.parameters_by_dtype.iter().map(|(d, n)| (d.clone(), *n as f64)).collect();
                for (d, _) in size.iter().filter(|(d, _)| d != OTHER) {
                    if !dtypes.contains(d) {
                        dtypes.push(d.clone());
                    }
                }
                rows.push(SizeRow {
                    label: c.variant.clone(),
                    size,
                    params,
                    size_total: m.model_file_bytes,
                    params_total: p.parameters,
                });
            }
            if !rows.is_empty() {
                panels.push(SizePanel { model: g.model.to_string(), rows });
            }
        }
        dtypes.sort_by_key(|d| (d != "float32", d.clone()));
        SizeFig { panels, dtypes }
    }

    fn color(&self, dtype: &str) -> RGBColor {
        if dtype == OTHER {
            return PALETTE[9];
        }
        let i = self.dtypes.iter().position(|d| d == dtype).unwrap_or(0);
        [PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[4], PALETTE[5]][i % 5]
    }
}

impl Figure for SizeFig {
    fn height(&self) -> u32 {
        60 + 34 + self.panels.iter().map(|p| 40 + 55 + ROW * p.rows.len() as u32).sum::<u32>()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let area = titled(root, Self::TITLE)?;
        let mut items: Vec<(Mark, String)> = self.dtypes.iter().map(|d| (Mark::Box(self.color(d)), d.clone())).collect();
        items.push((Mark::Box(self.color(OTHER)), OTHER.into()));
        let area = legend(&area, &items)?;
        let labels: Vec<String> = self.panels.iter().flat_map(|p| p.rows.iter().map(|r| r.label.clone())).collect();
        let w = widest(root, &labels, LABEL);
        let heights: Vec<u32> = self.panels.iter().map(|p| 40 + 55 + ROW * p.rows.len() as u32).collect();
        for (p, a) in self.panels.iter().zip(stack(&area, &heights)) {
            let (left, right) = a.split_horizontally(WIDTH / 2);
            // Parameters in thousands for small models, so the axis reads like the bar labels.
            let most = p.rows.iter().map(|r| r.params_total).max().unwrap_or(0);
            let (per, unit) = if most < 1_000_000 { (1e3, "thousands of parameters") } else { (1e6, "millions of parameters") };
            let bars = |sizes: bool| {
                p.rows
                    .iter()
                    .map(|r| Bar {
                        label: r.label.clone(),
                        segments: if sizes {
                            r.size.iter().map(|(d, v)| (*v, self.color(d))).collect()
                        } else {
                            r.params.iter().map(|(d, n)| (n / per, self.color(d))).collect()
                        },
                        whisker: None,
                        text: if sizes { util::human_bytes(r.size_total) } else { view::count(r.params_total) },
                    })
                    .collect::<Vec<_>>()
            };
            BarPanel { caption: format!("{}: size on disk", p.model), x_desc: "size on disk (MiB)".into(), bars: bars(true) }.draw(&left, w)?;
            BarPanel { caption: format!("{}: parameters", p.model), x_desc: unit.into(), bars: bars(false) }
                .draw(&right, w)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Where the time goes, stacked by op family

struct ProfileFig {
    families: Vec<crate::profile::Family>,
    panels: Vec<BarPanel>,
    labels: Vec<String>,
}

const BETWEEN: &str = "between kernels";

impl ProfileFig {
    const TITLE: &'static str = "Where the time goes: one profiled run per variant, by op family";

    fn color(f: crate::profile::Family) -> RGBColor {
        use crate::profile::Family::*;
        match f {
            Gemm => PALETTE[0],
            Attention => PALETTE[1],
            Normalization => PALETTE[2],
            Activation => PALETTE[3],
            Layout => PALETTE[4],
            Quantize => PALETTE[6],
            Other => PALETTE[5],
        }
    }

    fn new(results: &Results) -> Option<ProfileFig> {
        let table = view::profile_table(results)?;
        let several = several_workloads(table.rows.iter().map(|r| r.case));
        let mut panels: Vec<BarPanel> = Vec::new();
        let mut labels = Vec::new();
        for r in &table.rows {
            let mut segments: Vec<(f64, RGBColor)> = table.families.iter().zip(&r.family_ms).map(|(f, ms)| (*ms, Self::color(*f))).collect();
            segments.push((r.between_ms, PALETTE[9]));
            let gemm = table.families.iter().position(|f| *f == crate::profile::Family::Gemm).map(|i| r.family_ms[i]).unwrap_or(0.0);
            let bar = Bar {
                label: case_label(r.case, several),
                segments,
                whisker: None,
                text: format!("{} ms · GEMM {}", util::ms(r.run_ms), view::percent(gemm, r.run_ms)),
            };
            labels.push(bar.label.clone());
            match panels.iter_mut().find(|p| p.caption == r.case.model) {
                Some(p) => p.bars.push(bar),
                None => panels.push(BarPanel { caption: r.case.model.clone(), x_desc: "ms per run with the profiler on".into(), bars: vec![bar] }),
            }
        }
        Some(ProfileFig { families: table.families, panels, labels })
    }
}

impl Figure for ProfileFig {
    fn height(&self) -> u32 {
        60 + 34 + self.panels.iter().map(BarPanel::height).sum::<u32>()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let area = titled(root, Self::TITLE)?;
        let mut items: Vec<(Mark, String)> = self.families.iter().map(|f| (Mark::Box(Self::color(*f)), f.label().to_string())).collect();
        items.push((Mark::Box(PALETTE[9]), BETWEEN.into()));
        let area = legend(&area, &items)?;
        let w = widest(root, &self.labels, LABEL);
        let heights: Vec<u32> = self.panels.iter().map(BarPanel::height).collect();
        for (p, a) in self.panels.iter().zip(stack(&area, &heights)) {
            p.draw(&a, w)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Quality vs latency

#[derive(Clone)]
struct Point {
    model: String,
    label: String,
    latency_ms: f64,
    quality: f64,
    size_bytes: u64,
}

struct TradeoffFig {
    name: String,
    title: String,
    y_desc: String,
    points: Vec<Point>,
    models: Vec<String>,
    per_model_front: bool,
    /// The largest value the quality can take (a cosine's 1): no tick is labelled above it, though
    /// the axis runs past it to leave room for the circles.
    quality_max: Option<f64>,
}

impl TradeoffFig {
    fn all(results: &Results) -> Vec<TradeoffFig> {
        // A log axis places only finite positive latencies (a results file may say 0 or worse).
        let ok: Vec<&CaseResult> = results
            .cases
            .iter()
            .filter(|c| c.status == Status::Ok && c.latency.as_ref().is_some_and(|l| positive_ms(l.p50_ms)))
            .collect();
        let several = several_workloads(ok.iter().copied());
        let point = |c: &CaseResult, quality: f64| Point {
            model: c.model.clone(),
            label: case_label(c, several),
            latency_ms: c.latency.as_ref().map(|l| l.p50_ms).unwrap_or(0.0),
            quality,
            size_bytes: c.memory.as_ref().map(|m| m.model_file_bytes).unwrap_or(0),
        };
        let mut datasets: Vec<(String, String)> = Vec::new();
        for a in ok.iter().flat_map(|c| &c.accuracy) {
            if !datasets.iter().any(|(d, _)| *d == a.dataset) {
                datasets.push((a.dataset.clone(), a.primary.clone()));
            }
        }
        let mut figs = Vec::new();
        for (d, metric) in datasets {
            let points: Vec<Point> =
                ok.iter().filter_map(|c| c.primary_accuracy(&d).map(|q| point(c, q))).collect();
            figs.push(TradeoffFig::new(
                format!("tradeoff-{}", file_safe(&d)),
                format!("Accuracy vs latency: {metric} on {d}"),
                format!("{metric} on {d} (0–100)"),
                points,
            ));
        }
        {
            // Fidelity: the reference variant agrees with itself (cosine 1).
            let points: Vec<Point> = ok
                .iter()
                .filter_map(|c| match (&c.fidelity, c.reference) {
                    (Some(f), _) => Some(point(c, f.cosine)),
                    (None, true) => Some(point(c, 1.0)),
                    _ => None,
                })
                .collect();
            if points.iter().any(|p| p.quality < 1.0) {
                let mut fig = TradeoffFig::new(
                    "tradeoff-fidelity".into(),
                    "Fidelity vs latency: lowest output cosine to the reference variant".into(),
                    "cosine similarity to the reference (1 = identical)".into(),
                    points,
                );
                fig.per_model_front = true;
                fig.quality_max = Some(1.0);
                figs.push(fig);
            }
        }
        figs.retain(|f| !f.points.is_empty());
        figs
    }

    fn new(name: String, title: String, y_desc: String, points: Vec<Point>) -> TradeoffFig {
        let mut models = Vec::new();
        for p in &points {
            if !models.contains(&p.model) {
                models.push(p.model.clone());
            }
        }
        TradeoffFig { name, title, y_desc, points, models, per_model_front: false, quality_max: None }
    }

    /// Indexes of the points (of `model`, or all) no other such point dominates (at most as slow and
    /// at least as good, one of them strictly), sorted by latency.
    fn pareto(&self, model: Option<&str>) -> Vec<usize> {
        let p = &self.points;
        let within = |i: usize| model.is_none_or(|m| p[i].model == m);
        let mut front: Vec<usize> = (0..p.len())
            .filter(|&i| within(i))
            .filter(|&i| {
                !p.iter().enumerate().any(|(j, q)| {
                    j != i
                        && within(j)
                        && q.latency_ms <= p[i].latency_ms
                        && q.quality >= p[i].quality
                        && (q.latency_ms < p[i].latency_ms || q.quality > p[i].quality)
                })
            })
            .collect();
        front.sort_by(|&a, &b| p[a].latency_ms.total_cmp(&p[b].latency_ms));
        front
    }

    fn radius(&self, size: u64) -> i32 {
        let max = self.points.iter().map(|p| p.size_bytes).max().unwrap_or(1).max(1) as f64;
        (5.0 + 23.0 * (size as f64 / max).sqrt()).round() as i32
    }
}

/// Tick values for a log axis over `[lo, hi]`: 1, 2, 5 × 10^k, or 1, 1.5, 2, 3, 4, 5, 6, 8 × 10^k
/// when that gives fewer than four.
/// Only a finite, positive range has decades to step through: anything else (a latency of 0,
/// NaN or infinity read from a results file) gives no ticks rather than a loop over 2^31 decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
        return Vec::new();
    }
    let pick = |mantissas: &[f64]| {
        let mut out = Vec::new();
        let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        for k in k0..=k1 {
            for m in mantissas {
                let v = m * 10f64.powi(k);
                if v >= lo && v <= hi {
                    out.push(v);
                }
            }
        }
        out
    };
    let coarse = pick(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 4 { coarse } else { pick(&[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0]) }
}

/// Draws the ticks of a log x axis by hand at `ticks`: a grid line over the plot (`ys`: its top and
/// bottom backend pixel), a tick mark and the value below it. `x_px` maps a value to its backend
/// pixel column.
fn log_x_ticks<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, ticks: &[f64], x_px: impl Fn(f64) -> i32, ys: (i32, i32), size: u32) -> DrawResult {
    let base = area.get_base_pixel();
    let (yt, yb) = (ys.0 - base.1, ys.1 - base.1);
    for &t in ticks {
        let px = x_px(t) - base.0;
        area.draw(&PathElement::new(vec![(px, yt), (px, yb)], GRID.stroke_width(1))).map_err(e)?;
        area.draw(&PathElement::new(vec![(px, yb), (px, yb + 5)], INK.stroke_width(1))).map_err(e)?;
        let label = tick(t, if t < 1.0 { 3 } else if t < 10.0 { 2 } else { 1 });
        area.draw(&Text::new(label, (px, yb + 9), font(size).pos(Pos::new(HPos::Center, VPos::Top)))).map_err(e)?;
    }
    Ok(())
}

fn file_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

impl Figure for TradeoffFig {
    fn height(&self) -> u32 {
        700
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let area = titled(root, &self.title)?;
        let mut items: Vec<(Mark, String)> =
            self.models.iter().enumerate().map(|(i, m)| (Mark::Box(PALETTE[i % PALETTE.len()]), m.clone())).collect();
        items.push((Mark::Line(INK), if self.per_model_front { "Pareto front per model" } else { "Pareto front" }.into()));
        items.push((Mark::Ring, "circle area ∝ size on disk".into()));
        let area = legend(&area, &items)?;
        let lat = self.points.iter().map(|p| p.latency_ms);
        let (lo, hi) = (lat.clone().fold(f64::INFINITY, f64::min), lat.fold(0.0, f64::max));
        let (xlo, xhi) = (lo / 1.3, hi * 1.3);
        let q = self.points.iter().map(|p| p.quality);
        let (qlo, qhi) = (q.clone().fold(f64::INFINITY, f64::min), q.fold(f64::NEG_INFINITY, f64::max));
        let pad = ((qhi - qlo) * 0.15).max(qhi.abs() * 1e-4).max(1e-6);
        let (ylo, yhi) = (qlo - pad, qhi + pad);
        let decimals = (-(yhi - ylo).log10()).ceil().max(0.0) as usize + 1;
        let mut chart = ChartBuilder::on(&area)
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d((xlo..xhi).log_scale(), ylo..yhi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .x_desc("median latency per run (ms, log scale)")
            .y_desc(self.y_desc.as_str())
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|y| if self.quality_max.is_some_and(|m| *y > m + 1e-12) { String::new() } else { tick(*y, decimals) })
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC))
            .draw()
            .map_err(e)?;
        // plotters puts log-axis labels on powers of ten only; a suite's latencies often span less
        // than one decade, so the ticks are placed here: 1-2-5 steps, or finer when those are few.
        let (_, ytop) = chart.backend_coord(&(xlo, yhi));
        let (_, ybottom) = chart.backend_coord(&(xlo, ylo));
        log_x_ticks(root, &log_ticks(xlo, xhi), |t| chart.backend_coord(&(t, ylo)).0, (ytop, ybottom), LABEL)?;
        // Fidelity is measured against each model's own reference, so its fronts are per model;
        // accuracy on one dataset compares across models.
        let fronts: Vec<Vec<usize>> = if self.per_model_front {
            self.models.iter().map(|m| self.pareto(Some(m))).collect()
        } else {
            vec![self.pareto(None)]
        };
        for f in &fronts {
            chart
                .draw_series(LineSeries::new(
                    f.iter().map(|&i| (self.points[i].latency_ms, self.points[i].quality)),
                    INK.stroke_width(2),
                ))
                .map_err(e)?;
        }
        let front: Vec<usize> = fronts.concat();
        // Largest circles first so small ones stay visible on top.
        let mut order: Vec<usize> = (0..self.points.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.points[i].size_bytes));
        for &i in &order {
            let p = &self.points[i];
            let c = PALETTE[self.models.iter().position(|m| *m == p.model).unwrap_or(0) % PALETTE.len()];
            let r = self.radius(p.size_bytes);
            chart.draw_series([Circle::new((p.latency_ms, p.quality), r, c.mix(0.55).filled())]).map_err(e)?;
            let ring = if front.contains(&i) { INK.stroke_width(2) } else { c.stroke_width(1) };
            chart.draw_series([Circle::new((p.latency_ms, p.quality), r, ring)]).map_err(e)?;
        }
        // Labels beside their circle: right if it fits, else left, moved down or up in steps until
        // they overlap no circle and no other label (a leader line then points to the circle).
        let style = font(LABEL - 1).pos(Pos::new(HPos::Left, VPos::Center));
        let base = root.get_base_pixel();
        let centre = |p: &Point| {
            let (x, y) = chart.backend_coord(&(p.latency_ms, p.quality));
            (x - base.0, y - base.1)
        };
        let (plot_x0, _) = centre(&Point { latency_ms: xlo, ..self.points[0].clone() });
        let mut taken: Vec<(i32, i32, i32, i32)> = self
            .points
            .iter()
            .map(|p| {
                let ((x, y), r) = (centre(p), self.radius(p.size_bytes));
                (x - r, y - r, x + r, y + r)
            })
            .collect();
        let mut by_y: Vec<usize> = (0..self.points.len()).collect();
        by_y.sort_by(|&a, &b| self.points[b].quality.total_cmp(&self.points[a].quality));
        for i in by_y {
            let p = &self.points[i];
            let (px, py) = centre(p);
            let text = format!("{}: {}", p.model, p.label);
            let (tw, th) = root.estimate_text_size(&text, &style).map_err(e)?;
            let (tw, th) = (tw as i32, th as i32 + 4);
            let r = self.radius(p.size_bytes);
            let sides = [px + r + 6, px - r - 6 - tw];
            let free = |x: i32, y: i32, taken: &[(i32, i32, i32, i32)]| {
                x >= plot_x0 + 4
                    && x + tw <= WIDTH as i32 - 8
                    && !taken.iter().enumerate().any(|(j, &(x0, y0, x1, y1))| {
                        j != i && x < x1 && x + tw > x0 && y - th / 2 < y1 && y + th / 2 > y0
                    })
            };
            let mut chosen = (sides[0], py);
            'search: for k in 0..30 {
                let dy = if k % 2 == 0 { (k / 2) * th } else { -((k + 1) / 2) * th };
                for x in sides {
                    if free(x, py + dy, &taken) {
                        chosen = (x, py + dy);
                        break 'search;
                    }
                }
            }
            let (x, y) = chosen;
            taken.push((x, y - th / 2, x + tw, y + th / 2));
            if y != py {
                let end = if x > px { x - 2 } else { x + tw + 2 };
                root.draw(&PathElement::new(vec![(px, py), (end, y)], INK.mix(0.6).stroke_width(1))).map_err(e)?;
            }
            root.draw(&Text::new(text, (x, y), style.clone())).map_err(e)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Latency distribution per case

struct DistCase {
    id: String,
    samples: Vec<f64>,
    p50: f64,
    p99: f64,
    color: RGBColor,
}

struct DistributionFig {
    cases: Vec<DistCase>,
}

const COLS: u32 = 2;
const CELL_H: u32 = 300;

impl DistributionFig {
    const TITLE: &'static str = "Latency distribution per case (histogram of timed runs)";

    fn new(results: &Results, colors: &BTreeMap<String, RGBColor>) -> DistributionFig {
        let cases = view::groups(results)
            .iter()
            .flat_map(|g| &g.rows)
            .filter_map(|r| {
                let l = r.case.latency.as_ref()?;
                // Bins need finite, non-negative times (and p99 one of them).
                let placeable = |x: f64| x == 0.0 || positive_ms(x);
                let samples: Vec<f64> = l.samples_ms.iter().copied().filter(|&x| placeable(x)).collect();
                if samples.is_empty() || !(placeable(l.p50_ms) && placeable(l.p99_ms)) {
                    return None;
                }
                Some(DistCase {
                    id: r.case.id.clone(),
                    samples,
                    p50: l.p50_ms,
                    p99: l.p99_ms,
                    color: colors[&r.case.variant],
                })
            })
            .collect();
        DistributionFig { cases }
    }
}

impl Figure for DistributionFig {
    fn height(&self) -> u32 {
        60 + 34 + CELL_H * (self.cases.len() as u32).div_ceil(COLS)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let area = titled(root, Self::TITLE)?;
        let area = legend(
            &area,
            &[
                (Mark::Box(PALETTE[0]), "runs per bin, colour = variant".into()),
                (Mark::Line(INK), "median (p50)".into()),
                (Mark::Line(P99), "99th percentile (p99)".into()),
            ],
        )?;
        let rows = (self.cases.len() as u32).div_ceil(COLS) as usize;
        let cells = area.split_evenly((rows, COLS as usize));
        for (c, cell) in self.cases.iter().zip(cells.iter()) {
            let mut s = c.samples.clone();
            s.sort_by(f64::total_cmp);
            // The axis ends a little past p99 so one slow outlier does not squash the histogram;
            // runs beyond it are counted in the caption.
            let lo = s[0];
            let hi = (c.p99 + (c.p99 - lo) * 0.15).max(lo * 1.0001 + 1e-9).min(s[s.len() - 1].max(lo * 1.0001 + 1e-9));
            let beyond = s.iter().filter(|&&x| x > hi).count();
            // A heavy tail (p99 over 3× the median: scheduler stalls on a busy machine) on a linear
            // axis puts nearly every run into one or two bins; bins equal on a log axis show both the
            // body and the tail.
            let log = lo > 0.0 && c.p99 > 3.0 * c.p50;
            let u = |x: f64| if log { x.ln() } else { x };
            let (ulo, uhi) = (u(lo), u(hi));
            let bins = 30usize;
            let width = (uhi - ulo) / bins as f64;
            let mut counts = vec![0u32; bins];
            for &x in s.iter().filter(|&&x| x <= hi) {
                counts[(((u(x) - ulo) / width) as usize).min(bins - 1)] += 1;
            }
            let ymax = *counts.iter().max().unwrap_or(&1) as f64 * 1.15;
            let caption = if beyond > 0 {
                format!("{}  ({} runs, {beyond} beyond axis)", c.id, s.len())
            } else {
                format!("{}  ({} runs)", c.id, s.len())
            };
            let decimals = if hi - lo < 0.05 { 3 } else if hi - lo < 0.5 { 2 } else { 1 };
            let mut chart = ChartBuilder::on(cell)
                .caption(caption, font(LABEL))
                .margin(12)
                .x_label_area_size(42)
                .y_label_area_size(52)
                .build_cartesian_2d(ulo - width..uhi + width, 0f64..ymax)
                .map_err(e)?;
            let mut mesh = chart.configure_mesh();
            mesh.light_line_style(GRID.mix(0.0))
                .bold_line_style(GRID)
                .x_desc(if log { "latency per run (ms, log scale)" } else { "latency per run (ms)" })
                .y_desc("runs")
                .y_labels(5)
                .y_label_formatter(&|y| tick(*y, 0))
                .label_style(font(LABEL - 2))
                .axis_desc_style(font(LABEL - 1));
            let linear_ticks = |x: &f64| tick(*x, decimals);
            if log {
                mesh.x_labels(0).disable_x_mesh();
            } else {
                mesh.x_labels(5).x_label_formatter(&linear_ticks);
            }
            mesh.draw().map_err(e)?;
            if log {
                let (_, ytop) = chart.backend_coord(&(ulo, ymax));
                let (_, ybottom) = chart.backend_coord(&(ulo, 0.0));
                log_x_ticks(cell, &log_ticks(lo, hi), |t| chart.backend_coord(&(t.ln(), 0.0)).0, (ytop, ybottom), LABEL - 2)?;
            }
            chart
                .draw_series(counts.iter().enumerate().map(|(i, &k)| {
                    let x0 = ulo + i as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width, k as f64)], c.color.filled())
                }))
                .map_err(e)?;
            for (x, color) in [(c.p50, INK), (c.p99, P99)] {
                if u(x) <= uhi + width {
                    chart.draw_series([PathElement::new(vec![(u(x), 0.0), (u(x), ymax)], color.stroke_width(2))]).map_err(e)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(model: &str, latency_ms: f64, quality: f64) -> Point {
        Point { model: model.into(), label: String::new(), latency_ms, quality, size_bytes: 1 }
    }

    /// A point is on the front unless another is at least as fast and at least as good (one of them
    /// strictly); ties are both kept; per-model fronts ignore other models' points.
    #[test]
    fn pareto_front() {
        let points = vec![
            pt("a", 10.0, 90.0), // front: the best quality
            pt("a", 5.0, 89.0),  // front: faster, a little worse
            pt("a", 6.0, 88.0),  // dominated by the 5 ms point
            pt("a", 2.0, 80.0),  // front: fastest
            pt("b", 1.0, 95.0),  // dominates every "a" point
        ];
        let fig = TradeoffFig::new("t".into(), "t".into(), "q".into(), points);
        assert_eq!(fig.pareto(Some("a")), [3, 1, 0]);
        assert_eq!(fig.pareto(None), [4]);
    }

    /// PNG text keeps each glyph's left side bearing: "1.1" drawn at x = 0 starts inking where the
    /// font puts the "1" (about 4 px in at 40 px), and the "." starts one advance plus its own
    /// bearing later. plotters 0.3.7's own drawing starts every glyph at its caret (column 0 here).
    #[test]
    fn bitmap_text_keeps_side_bearings() {
        use ab_glyph::{Font as _, ScaleFont as _};
        register_font();
        let (w, h) = (120u32, 60u32);
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        {
            let root = Glyphs(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
            root.draw(&Text::new("1.1", (0, 10), font(40))).unwrap();
        }
        let inked = |x: u32| (0..h).any(|y| rgb[((y * w + x) * 3) as usize] < 160);
        let columns: Vec<u32> = (0..w).filter(|&x| inked(x)).collect();
        let font = ab_glyph::FontRef::try_from_slice(DEJAVU).unwrap();
        let f = font.as_scaled(40.0);
        let (one, dot) = (f.glyph_id('1'), f.glyph_id('.'));
        let lsb = f.h_side_bearing(one);
        assert!(lsb > 2.0, "the test needs a visible bearing: {lsb}");
        assert!((columns[0] as f32 - lsb).abs() <= 1.0, "first ink at {} for a bearing of {lsb}", columns[0]);
        // The dot: the first inked column after the gap that follows the "1".
        let gap = columns.windows(2).find(|p| p[1] > p[0] + 1).map(|p| p[1]).unwrap();
        let dot_x = f.h_advance(one) + f.kern(one, dot) + f.h_side_bearing(dot);
        assert!((gap as f32 - dot_x).abs() <= 1.0, "the dot starts at {gap}, the font says {dot_x}");
    }

    #[test]
    fn log_ticks_are_round_and_enough() {
        assert_eq!(log_ticks(0.5, 300.0), [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]);
        let narrow = log_ticks(18.0, 70.0);
        assert_eq!(narrow, [20.0, 30.0, 40.0, 50.0, 60.0]);
        // Why: log10(0) = -inf made the decade loop run 2^31 times (3.3 GB, then abort).
        for (lo, hi) in [(0.0, 10.0), (-1.0, 10.0), (f64::NAN, 1.0), (1.0, f64::INFINITY), (0.0, 0.0), (5.0, 1.0)] {
            assert!(log_ticks(lo, hi).is_empty(), "{lo}..{hi}");
        }
    }
}
