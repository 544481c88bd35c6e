//! Writes an evaluation's report into a directory: `report.json` (the numbers), `report.md` (a
//! summary), a self-contained `report.html` (tables, inlined plots and a gallery of the worst
//! misses) and the SVG plots under `plots/`.
//!
//! Every file is written atomically, so an interrupted run never leaves a half-written report.

use std::error::Error as StdError;
use std::fs;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use plotters::backend::{DrawingBackend, SVGBackend};
use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::combinators::BindKeyPoints;
use plotters::coord::{CoordTranslate, Shift};
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{Circle, ComposedElement, EmptyElement, PathElement, Rectangle};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::{Color, RGBColor, WHITE};

use super::types::{
    CLASS_COLUMNS, ClassMetrics, Confusion, EvalReport, ImageResult, ModelEval, SweepPoint,
};
use crate::fsio::write_atomic;
use crate::metrics::{RocPoint, auroc, roc_curve};

/// The class name of defect-free images.
const GOOD: &str = crate::dataset::GOOD;
/// The class name of every defect class together.
const ALL: &str = "all";
/// Pixel size of every plot.
const PLOT_SIZE: (u32, u32) = (720, 440);
const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 22;
const LABEL_SIZE: u32 = 14;
const AXIS_DESC_SIZE: u32 = 16;
/// Images per gallery row (worst false positives, worst false negatives).
const GALLERY_SIZE: usize = 8;
const HISTOGRAM_BINS: usize = 30;
/// Horizontal spacing of the iteration axis: budgets sit at multiples of this, so the axis can
/// use integer coordinates with a little padding at either end.
const ITERATION_STEP: i32 = 10;
/// Printed for a value that is undefined (no data, division by zero, NaN).
const MISSING: &str = "–";

const GREY: RGBColor = RGBColor(140, 140, 140);
const LIGHT_GRID: RGBColor = RGBColor(242, 242, 242);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const RED: RGBColor = RGBColor(214, 39, 40);
/// Tableau-like colours, distinguishable on white.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The files [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    pub json: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub plots: Vec<PathBuf>,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot draw plot {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    #[error("cannot serialise the report for {}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Writes `report.json`, `report.md`, `report.html` and `plots/*.svg` into `dir` (created if
/// missing). Overlay images named by the report are read relative to `dir` and embedded in the
/// HTML.
pub fn write_report(report: &EvalReport, dir: &Path) -> Result<ReportFiles, ReportError> {
    let plots_dir = dir.join("plots");
    fs::create_dir_all(&plots_dir).map_err(|source| ReportError::Write {
        path: plots_dir.clone(),
        source,
    })?;
    let json = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|source| ReportError::Json {
        path: json.clone(),
        source,
    })?;
    write_file(&json, text.as_bytes())?;
    let plots = render_plots(report, &plots_dir)?;
    let mut plot_paths = Vec::new();
    for plot in plots.all() {
        let path = plots_dir.join(&plot.file);
        write_file(&path, plot.svg.as_bytes())?;
        plot_paths.push(path);
    }
    let markdown = dir.join("report.md");
    write_file(&markdown, render_markdown(report, &plots).as_bytes())?;
    let html = dir.join("report.html");
    write_file(&html, render_html(report, &plots, dir).as_bytes())?;
    Ok(ReportFiles {
        json,
        markdown,
        html,
        plots: plot_paths,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

// ---------------------------------------------------------------------------------------------
// Selecting data from the report
// ---------------------------------------------------------------------------------------------

/// The sweep point at the model's main budget (the last one if none matches).
fn main_point(model: &ModelEval) -> Option<&SweepPoint> {
    model
        .sweep
        .iter()
        .find(|p| p.iterations == model.main_iterations)
        .or_else(|| model.sweep.last())
}

fn class_metrics<'a>(point: &'a SweepPoint, class: &str) -> Option<&'a ClassMetrics> {
    point.classes.iter().find(|c| c.class == class)
}

/// Metrics of every defect class together (`all`, or the first listed).
fn all_metrics(point: &SweepPoint) -> Option<&ClassMetrics> {
    class_metrics(point, ALL).or_else(|| point.classes.first())
}

/// Pushes `name` unless it is already listed.
fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|c| c == name) {
        list.push(name.to_string());
    }
}

/// The model's defect classes: as the main sweep point lists them, then any others its images
/// name.
fn defect_classes(model: &ModelEval) -> Vec<String> {
    let listed = main_point(model)
        .into_iter()
        .flat_map(|p| p.classes.iter().map(|c| c.class.as_str()));
    let seen = model.images.iter().map(|i| i.class.as_str());
    let mut out = Vec::new();
    for name in listed.chain(seen) {
        if name != GOOD && name != ALL {
            push_unique(&mut out, name);
        }
    }
    out
}

/// Every class any model's sweep lists (`all` first when present), in first-seen order.
fn sweep_classes(models: &[ModelEval]) -> Vec<String> {
    let mut out = Vec::new();
    let names = models
        .iter()
        .flat_map(|m| m.sweep.iter())
        .flat_map(|p| p.classes.iter());
    for metrics in names {
        push_unique(&mut out, &metrics.class);
    }
    if let Some(pos) = out.iter().position(|c| c == ALL) {
        let all = out.remove(pos);
        out.insert(0, all);
    }
    out
}

/// Main-budget scores of the images of `class`.
fn scores_of(model: &ModelEval, class: &str) -> Vec<f32> {
    model
        .images
        .iter()
        .filter(|i| i.class == class)
        .map(|i| i.score)
        .collect()
}

/// Every iteration budget any model swept, ascending.
fn sweep_iterations(models: &[ModelEval]) -> Vec<usize> {
    let mut out: Vec<usize> = models
        .iter()
        .flat_map(|m| m.sweep.iter().map(|p| p.iterations))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// File-name-safe, unique stems for the models' plots.
fn model_stems(models: &[ModelEval]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let mut stem: String = model
            .name
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        if stem.is_empty() {
            stem = "model".to_string();
        }
        if out.contains(&stem) {
            stem = format!("{stem}-{}", i + 1);
        }
        out.push(stem);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

fn fmt3(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.3}")
    } else {
        MISSING.to_string()
    }
}

fn fmt1(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1}")
    } else {
        MISSING.to_string()
    }
}

fn fmt_opt3(value: Option<f64>) -> String {
    value.map_or_else(|| MISSING.to_string(), fmt3)
}

/// `num / den` to three decimals, or [`MISSING`] when `den` is zero.
fn ratio(num: usize, den: usize) -> String {
    if den == 0 {
        MISSING.to_string()
    } else {
        fmt3(num as f64 / den as f64)
    }
}

fn precision(c: &Confusion) -> String {
    ratio(c.true_positive, c.true_positive + c.false_positive)
}

fn recall(c: &Confusion) -> String {
    ratio(c.true_positive, c.true_positive + c.false_negative)
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Makes text safe inside a Markdown table cell or heading.
fn md_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = ((n >> shift) & 0x3f) as usize;
                out.push(char::from(ALPHABET[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tables (shared by the Markdown and the HTML)
// ---------------------------------------------------------------------------------------------

/// A table of already formatted cells; the first column is text, the others numbers.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn markdown(&self) -> String {
        let row = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| md_text(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let rule: Vec<&str> = (0..self.header.len())
            .map(|i| if i == 0 { ":---" } else { "---:" })
            .collect();
        let mut out = row(&self.header);
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for cells in &self.rows {
            out.push_str(&row(cells));
        }
        out
    }

    fn html(&self) -> String {
        let row = |cells: &[String], tag: &str| {
            let cells: String = cells
                .iter()
                .map(|c| format!("<{tag}>{}</{tag}>", escape_html(c)))
                .collect();
            format!("<tr>{cells}</tr>\n")
        };
        let body: String = self.rows.iter().map(|r| row(r, "td")).collect();
        format!(
            "<table>\n<thead>{}</thead>\n<tbody>\n{body}</tbody>\n</table>\n",
            row(&self.header, "th")
        )
    }
}

/// Per-class metrics at the main budget.
fn class_table(model: &ModelEval) -> Table {
    let mut table = Table::new(&CLASS_COLUMNS);
    let classes = main_point(model).map_or(&[][..], |p| p.classes.as_slice());
    for c in classes {
        table.rows.push(vec![
            c.class.clone(),
            c.defective.to_string(),
            fmt3(c.image_auroc),
            fmt_opt3(c.pixel_auroc),
            fmt_opt3(c.aupro),
            fmt3(c.f1_max),
            precision(&c.at_calibrated),
            recall(&c.at_calibrated),
        ]);
    }
    table
}

/// The `all` metrics and latencies at every budget.
fn sweep_table(model: &ModelEval) -> Table {
    let mut table = Table::new(&[
        "iterations",
        "AUROC all",
        "pixel AUROC all",
        "ms good",
        "ms defective",
        "mean iterations good / defective",
    ]);
    for point in &model.sweep {
        let all = all_metrics(point);
        table.rows.push(vec![
            point.iterations.to_string(),
            fmt_opt3(all.map(|c| c.image_auroc)),
            fmt_opt3(all.and_then(|c| c.pixel_auroc)),
            fmt1(point.mean_ms_good),
            fmt1(point.mean_ms_defective),
            format!(
                "{} / {}",
                fmt1(point.mean_iterations_good),
                fmt1(point.mean_iterations_defective)
            ),
        ]);
    }
    table
}

/// Image AUROC per class at each model's main budget, side by side.
fn comparison_table(models: &[ModelEval]) -> Table {
    let mut header = vec!["class".to_string()];
    header.extend(models.iter().map(|m| m.name.clone()));
    let mut table = Table {
        header,
        rows: Vec::new(),
    };
    for class in sweep_classes(models) {
        let mut row = vec![class.clone()];
        for model in models {
            let metrics = main_point(model).and_then(|p| class_metrics(p, &class));
            row.push(fmt_opt3(metrics.map(|c| c.image_auroc)));
        }
        table.rows.push(row);
    }
    table
}

/// One line describing how a model was evaluated.
fn model_summary(model: &ModelEval) -> String {
    format!(
        "{} model, checkpoint step {}, score {}; review threshold {}, defect threshold {}; \
         run {}",
        model.model_kind,
        model.checkpoint_step,
        model.score_kind,
        fmt3(f64::from(model.review_threshold)),
        fmt3(f64::from(model.defect_threshold)),
        model.run_dir.display()
    )
}

/// `, RULE` after a threshold, or nothing for a report written before rules were recorded.
fn rule_suffix(model: &ModelEval) -> String {
    if model.defect_rule.is_empty() {
        String::new()
    } else {
        format!(", {}", model.defect_rule)
    }
}

fn good_count(model: &ModelEval) -> usize {
    model.images.iter().filter(|i| i.class == GOOD).count()
}

// ---------------------------------------------------------------------------------------------
// Plots
// ---------------------------------------------------------------------------------------------

type Root<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn StdError>>;

/// One rendered plot.
struct Plot {
    /// File name inside `plots/`.
    file: String,
    title: String,
    svg: String,
}

struct ModelPlots {
    roc: Plot,
    histogram: Plot,
}

struct Plots {
    models: Vec<ModelPlots>,
    auroc: Plot,
    latency: Plot,
}

impl Plots {
    fn all(&self) -> impl Iterator<Item = &Plot> {
        self.models
            .iter()
            .flat_map(|m| [&m.roc, &m.histogram])
            .chain([&self.auroc, &self.latency])
    }
}

fn render_plots(report: &EvalReport, plots_dir: &Path) -> Result<Plots, ReportError> {
    let stems = model_stems(&report.models);
    let mut models = Vec::new();
    for (model, stem) in report.models.iter().zip(&stems) {
        let roc = plot(
            plots_dir,
            format!("roc-{stem}.svg"),
            format!("ROC per defect class: {}", model.name),
            |root| draw_roc(root, model),
        )?;
        let histogram = plot(
            plots_dir,
            format!("scores-{stem}.svg"),
            format!("Score distribution: {}", model.name),
            |root| draw_histogram(root, model),
        )?;
        models.push(ModelPlots { roc, histogram });
    }
    let auroc = plot(
        plots_dir,
        "auroc-vs-iterations.svg".to_string(),
        "Image AUROC vs descent iterations".to_string(),
        |root| draw_auroc_sweep(root, &report.models),
    )?;
    let latency = plot(
        plots_dir,
        "latency-vs-iterations.svg".to_string(),
        "Mean latency vs descent iterations".to_string(),
        |root| draw_latency_sweep(root, &report.models),
    )?;
    Ok(Plots {
        models,
        auroc,
        latency,
    })
}

/// Renders one plot into an SVG string; `title` becomes the chart's caption.
fn plot(
    plots_dir: &Path,
    file: String,
    title: String,
    draw: impl FnOnce(&Root<'_>) -> DrawResult,
) -> Result<Plot, ReportError> {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE).into_drawing_area();
        draw_on(&root, draw)
    };
    match drawn {
        Ok(()) => Ok(Plot { file, title, svg }),
        Err(e) => Err(ReportError::Plot {
            path: plots_dir.join(&file),
            message: e.to_string(),
        }),
    }
}

fn draw_on(root: &Root<'_>, draw: impl FnOnce(&Root<'_>) -> DrawResult) -> DrawResult {
    root.fill(&WHITE)?;
    draw(root)?;
    root.present()?;
    Ok(())
}

fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A polyline, optionally labelled in the legend.
struct Line<X> {
    label: Option<String>,
    color: RGBColor,
    width: u32,
    dashed: bool,
    markers: bool,
    points: Vec<(X, f64)>,
}

impl<X> Line<X> {
    fn new(label: Option<String>, color: RGBColor, points: Vec<(X, f64)>) -> Self {
        Self {
            label,
            color,
            width: 2,
            dashed: false,
            markers: false,
            points,
        }
    }
}

/// A pixel-space path segment.
type Segment = PathElement<(i32, i32)>;
/// Two segments anchored at a legend slot.
type LegendMark<DB> = ComposedElement<(i32, i32), DB, Segment, Segment>;

/// A short legend sample: solid, or two dashes.
fn legend_mark<DB: DrawingBackend>(
    (x, y): (i32, i32),
    color: RGBColor,
    width: u32,
    dashed: bool,
) -> LegendMark<DB> {
    let style = color.stroke_width(width);
    let (end, start) = if dashed { (8, 13) } else { (11, 10) };
    EmptyElement::at((x, y))
        + PathElement::new(vec![(0, 0), (end, 0)], style)
        + PathElement::new(vec![(start, 0), (21, 0)], style)
}

fn draw_line<'a, 'b: 'a, X, CT>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    line: &Line<X>,
) -> DrawResult
where
    X: Copy + 'static,
    CT: CoordTranslate<From = (X, f64)>,
{
    let points: Vec<(X, f64)> = line
        .points
        .iter()
        .copied()
        .filter(|p| p.1.is_finite())
        .collect();
    if points.is_empty() {
        return Ok(());
    }
    let style = line.color.stroke_width(line.width);
    let anno = if line.dashed {
        chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))?
    } else {
        chart.draw_series(LineSeries::new(points.clone(), style))?
    };
    if let Some(label) = &line.label {
        let (color, width, dashed) = (line.color, line.width, line.dashed);
        anno.label(label.clone())
            .legend(move |at| legend_mark(at, color, width, dashed));
    }
    if line.markers {
        let fill = line.color.filled();
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, fill)))?;
    }
    Ok(())
}

fn draw_legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .margin(10)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font((FONT, LABEL_SIZE))
        .draw()?;
    Ok(())
}

/// (a) ROC curve of each defect class against the good images, at the main budget.
fn draw_roc(root: &Root<'_>, model: &ModelEval) -> DrawResult {
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("ROC per defect class: {}", model.name),
            (FONT, TITLE_SIZE),
        )
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate")
        .y_desc("true-positive rate")
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .light_line_style(LIGHT_GRID)
        .draw()?;
    let mut chance = Line::new(
        Some("chance".to_string()),
        GREY,
        vec![(0.0, 0.0), (1.0, 1.0)],
    );
    chance.width = 1;
    chance.dashed = true;
    draw_line(&mut chart, &chance)?;
    let good = scores_of(model, GOOD);
    for (i, class) in defect_classes(model).iter().enumerate() {
        let defective = scores_of(model, class);
        if good.is_empty() || defective.is_empty() {
            continue;
        }
        let label = format!("{class} (AUROC {})", fmt3(auroc(&good, &defective)));
        let points = roc_points(&roc_curve(&good, &defective));
        draw_line(&mut chart, &Line::new(Some(label), palette(i), points))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// ROC points as (FPR, TPR), finite and in drawing order.
fn roc_points(curve: &[RocPoint]) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = curve
        .iter()
        .map(|p| (p.fpr, p.tpr))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    points
}

/// One class's share of images per score bin.
struct ScoreHistogram {
    label: String,
    color: RGBColor,
    fractions: Vec<f64>,
}

/// The score axis: every finite score and both thresholds, a little padded.
fn score_range(model: &ModelEval) -> (f64, f64) {
    let thresholds = [model.review_threshold, model.defect_threshold];
    let values = model.images.iter().map(|i| i.score).chain(thresholds);
    let finite = values.map(f64::from).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.03;
    (lo - pad, hi + pad)
}

/// Fractions of `scores` per bin of `width` from `lo`; out-of-range scores go to the end bins.
fn bin_fractions(scores: &[f32], lo: f64, width: f64, bins: usize) -> Vec<f64> {
    let mut counts = vec![0usize; bins];
    let finite = scores
        .iter()
        .map(|&s| f64::from(s))
        .filter(|s| s.is_finite());
    for score in finite {
        let bin = ((score - lo) / width).floor().max(0.0) as usize;
        if let Some(count) = counts.get_mut(bin.min(bins.saturating_sub(1))) {
            *count += 1;
        }
    }
    let total = counts.iter().sum::<usize>().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / total).collect()
}

fn score_histograms(model: &ModelEval, lo: f64, width: f64) -> Vec<ScoreHistogram> {
    let mut classes = vec![GOOD.to_string()];
    classes.extend(defect_classes(model));
    classes
        .into_iter()
        .enumerate()
        .filter_map(|(i, class)| {
            let scores = scores_of(model, &class);
            (!scores.is_empty()).then(|| ScoreHistogram {
                label: format!("{class} (n={})", scores.len()),
                color: palette(i),
                fractions: bin_fractions(&scores, lo, width, HISTOGRAM_BINS),
            })
        })
        .collect()
}

/// The outline of a histogram as a step line.
fn step_outline(fractions: &[f64], lo: f64, width: f64) -> Vec<(f64, f64)> {
    let mut points = vec![(lo, 0.0)];
    for (i, &f) in fractions.iter().enumerate() {
        let x0 = lo + width * i as f64;
        points.push((x0, f));
        points.push((x0 + width, f));
    }
    points.push((lo + width * fractions.len() as f64, 0.0));
    points
}

/// (b) Score distributions of good and each defect class, with the two thresholds.
fn draw_histogram(root: &Root<'_>, model: &ModelEval) -> DrawResult {
    let (lo, hi) = score_range(model);
    let width = (hi - lo) / HISTOGRAM_BINS as f64;
    let histograms = score_histograms(model, lo, width);
    let peak = histograms
        .iter()
        .flat_map(|h| h.fractions.iter().copied())
        .fold(0.05, f64::max);
    // Headroom for the legend above the tallest bar.
    let top = peak * 1.6;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Score distribution: {}", model.name),
            (FONT, TITLE_SIZE),
        )
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc(format!("anomaly score ({})", model.score_kind))
        .y_desc("fraction of the class's images")
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .light_line_style(LIGHT_GRID)
        .draw()?;
    for h in &histograms {
        let fill = h.color.mix(0.2).filled();
        let bars = h.fractions.iter().enumerate().filter(|(_, f)| **f > 0.0);
        chart.draw_series(bars.map(|(i, &f)| {
            let x0 = lo + width * i as f64;
            Rectangle::new([(x0, 0.0), (x0 + width, f)], fill)
        }))?;
        let outline = step_outline(&h.fractions, lo, width);
        draw_line(
            &mut chart,
            &Line::new(Some(h.label.clone()), h.color, outline),
        )?;
    }
    draw_threshold(
        &mut chart,
        "review threshold",
        model.review_threshold,
        top,
        ORANGE,
        true,
    )?;
    draw_threshold(
        &mut chart,
        "defect threshold",
        model.defect_threshold,
        top,
        RED,
        false,
    )?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn draw_threshold<'a, 'b: 'a, CT>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    name: &str,
    threshold: f32,
    top: f64,
    color: RGBColor,
    dashed: bool,
) -> DrawResult
where
    CT: CoordTranslate<From = (f64, f64)>,
{
    let x = f64::from(threshold);
    if !x.is_finite() {
        return Ok(());
    }
    let label = format!("{name} {}", fmt3(x));
    let mut line = Line::new(Some(label), color, vec![(x, 0.0), (x, top)]);
    line.dashed = dashed;
    draw_line(chart, &line)
}

/// The x coordinate of a budget on the iteration axis.
fn iteration_x(iterations: &[usize], budget: usize) -> Option<i32> {
    let index = iterations.iter().position(|&i| i == budget)?;
    i32::try_from(index).ok().map(|i| i * ITERATION_STEP)
}

/// The tick label at `x`: the budget sitting there, or nothing.
fn iteration_label(iterations: &[usize], x: i32) -> String {
    if x % ITERATION_STEP != 0 {
        return String::new();
    }
    usize::try_from(x / ITERATION_STEP)
        .ok()
        .and_then(|i| iterations.get(i))
        .map_or_else(String::new, ToString::to_string)
}

/// One series of a sweep plot: `value` of each sweep point.
fn sweep_line(
    model: &ModelEval,
    iterations: &[usize],
    value: impl Fn(&SweepPoint) -> Option<f64>,
) -> Vec<(i32, f64)> {
    let mut points: Vec<(i32, f64)> = model
        .sweep
        .iter()
        .filter_map(|p| Some((iteration_x(iterations, p.iterations)?, value(p)?)))
        .collect();
    points.sort_by_key(|p| p.0);
    points
}

/// A legend label naming the model only when several are compared.
fn series_label(model: &ModelEval, what: &str, several: bool) -> String {
    if several {
        format!("{} · {what}", model.name)
    } else {
        what.to_string()
    }
}

fn auroc_lines(models: &[ModelEval], iterations: &[usize]) -> Vec<Line<i32>> {
    let classes = sweep_classes(models);
    let several = models.len() > 1;
    let mut lines = Vec::new();
    for (m, model) in models.iter().enumerate() {
        for (c, class) in classes.iter().enumerate() {
            let points = sweep_line(model, iterations, |p| {
                class_metrics(p, class).map(|cm| cm.image_auroc)
            });
            if points.is_empty() {
                continue;
            }
            let mut line = Line::new(
                Some(series_label(model, class, several)),
                palette(c),
                points,
            );
            line.width = if class == ALL { 3 } else { 2 };
            line.dashed = m % 2 == 1;
            line.markers = true;
            lines.push(line);
        }
    }
    lines
}

fn latency_lines(models: &[ModelEval], iterations: &[usize]) -> Vec<Line<i32>> {
    let several = models.len() > 1;
    let mut lines = Vec::new();
    for (m, model) in models.iter().enumerate() {
        let good = sweep_line(model, iterations, |p| Some(p.mean_ms_good));
        let defective = sweep_line(model, iterations, |p| Some(p.mean_ms_defective));
        for (what, color, points) in [(GOOD, palette(0), good), ("defective", RED, defective)] {
            let mut line = Line::new(Some(series_label(model, what, several)), color, points);
            line.dashed = m % 2 == 1;
            line.markers = true;
            lines.push(line);
        }
    }
    lines
}

/// (c) Image AUROC of `all` and each class vs the iteration budget.
fn draw_auroc_sweep(root: &Root<'_>, models: &[ModelEval]) -> DrawResult {
    let iterations = sweep_iterations(models);
    let lines = auroc_lines(models, &iterations);
    let low = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(1.0, f64::min);
    let bottom = ((low - 0.05) * 10.0).floor().clamp(0.0, 9.0) / 10.0;
    let chart = SweepChart {
        title: "Image AUROC vs descent iterations",
        y_desc: "image AUROC",
        y_range: bottom..1.02,
        legend: SeriesLabelPosition::LowerRight,
    };
    chart.draw(root, &iterations, &lines)
}

/// (d) Mean latency of good and defective images vs the iteration budget.
fn draw_latency_sweep(root: &Root<'_>, models: &[ModelEval]) -> DrawResult {
    let iterations = sweep_iterations(models);
    let lines = latency_lines(models, &iterations);
    let peak = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = if peak > 0.0 { peak * 1.15 } else { 1.0 };
    let chart = SweepChart {
        title: "Mean latency vs descent iterations",
        y_desc: "mean time per image (ms)",
        y_range: 0.0..top,
        legend: SeriesLabelPosition::UpperLeft,
    };
    chart.draw(root, &iterations, &lines)
}

/// A chart against the iteration budget: budgets are evenly spaced and labelled by value, so
/// 0, 1, 2, 5, 10, 20, 50, 100 are all readable.
struct SweepChart<'t> {
    title: &'t str,
    y_desc: &'t str,
    y_range: Range<f64>,
    legend: SeriesLabelPosition,
}

impl SweepChart<'_> {
    fn draw(self, root: &Root<'_>, iterations: &[usize], lines: &[Line<i32>]) -> DrawResult {
        let count = i32::try_from(iterations.len().max(1))?;
        let last = (count - 1) * ITERATION_STEP;
        let pad = ITERATION_STEP * 2 / 5;
        let ticks: Vec<i32> = (0..count).map(|i| i * ITERATION_STEP).collect();
        let x_range = (-pad..last + pad).with_key_points(ticks);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, TITLE_SIZE))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range, self.y_range)?;
        let label = |x: &i32| iteration_label(iterations, *x);
        chart
            .configure_mesh()
            .x_label_formatter(&label)
            .x_desc("descent iterations")
            .y_desc(self.y_desc)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, AXIS_DESC_SIZE))
            .light_line_style(LIGHT_GRID)
            .draw()?;
        for line in lines {
            draw_line(&mut chart, line)?;
        }
        if lines.is_empty() {
            return Ok(());
        }
        draw_legend(&mut chart, self.legend)
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

fn render_markdown(report: &EvalReport, plots: &Plots) -> String {
    let mut out = String::from("# Evaluation report\n\n");
    out.push_str(&format!(
        "Data: `{}` · created (unix time) {} · format {}\n\n",
        report.data_dir.display(),
        report.created_unix,
        report.format
    ));
    for (model, model_plots) in report.models.iter().zip(&plots.models) {
        out.push_str(&markdown_model(model, model_plots));
    }
    if report.models.len() > 1 {
        out.push_str("## Comparison: image AUROC per class\n\n");
        out.push_str(&comparison_table(&report.models).markdown());
        out.push('\n');
    }
    out.push_str("## Across iteration budgets\n\n");
    for plot in [&plots.auroc, &plots.latency] {
        out.push_str(&markdown_plot(plot));
    }
    out
}

fn markdown_model(model: &ModelEval, plots: &ModelPlots) -> String {
    let mut out = format!(
        "## Model {}\n\n{}\n\n",
        md_text(&model.name),
        md_text(&model_summary(model))
    );
    out.push_str(&format!(
        "### At {} descent iterations\n\n{} good test images; n counts each class's defective \
         images. Precision and recall at the calibrated defect threshold ({}{}).\n\n",
        model.main_iterations,
        good_count(model),
        fmt3(f64::from(model.defect_threshold)),
        rule_suffix(model)
    ));
    out.push_str(&class_table(model).markdown());
    out.push_str("\n### Iteration sweep\n\n");
    out.push_str(&sweep_table(model).markdown());
    out.push_str("\n### Plots\n\n");
    for plot in [&plots.roc, &plots.histogram] {
        out.push_str(&markdown_plot(plot));
    }
    out
}

fn markdown_plot(plot: &Plot) -> String {
    let title = md_text(&plot.title).replace(['[', ']'], "");
    format!(
        "- [{title}](plots/{0})\n\n  ![{title}](plots/{0})\n\n",
        plot.file
    )
}

// ---------------------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------------------

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#222;\
background:#f7f7f8;max-width:1120px;margin:0 auto;padding:1.5rem 1.2rem 4rem;line-height:1.45}
h1{font-weight:600;margin-bottom:.2rem}
h2{font-weight:600;border-bottom:2px solid #ddd;padding-bottom:.3rem;margin-top:2.6rem}
h3{font-weight:600;margin-top:1.6rem}
.meta{color:#555;font-size:.92rem}
table{border-collapse:collapse;background:#fff;margin:.6rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #ddd;padding:.3rem .65rem}
th{background:#eef0f3;text-align:left}
td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}
figure.plot{display:inline-block;margin:.5rem .5rem .5rem 0;background:#fff;border:1px solid #ddd}
figure.plot svg{display:block;max-width:100%;height:auto}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.7rem}
.card{margin:0;background:#fff;border:1px solid #ddd;border-radius:4px;padding:.4rem}
.card img{display:block;width:100%;height:auto}
.card .none{display:flex;align-items:center;justify-content:center;aspect-ratio:1;\
background:#eee;color:#888;font-size:.85rem}
.card figcaption{font-size:.78rem;margin-top:.3rem;overflow-wrap:anywhere}
.empty{color:#888}
";

fn render_html(report: &EvalReport, plots: &Plots, dir: &Path) -> String {
    let mut body = format!(
        "<h1>Evaluation report</h1>\n<p class=\"meta\">Data: <code>{}</code> · created (unix \
         time) {} · format {}</p>\n",
        escape_html(&report.data_dir.display().to_string()),
        report.created_unix,
        report.format
    );
    for (model, model_plots) in report.models.iter().zip(&plots.models) {
        body.push_str(&html_model(model, model_plots, dir));
    }
    if report.models.len() > 1 {
        body.push_str("<h2>Comparison: image AUROC per class</h2>\n");
        body.push_str(&comparison_table(&report.models).html());
    }
    body.push_str("<h2>Across iteration budgets</h2>\n");
    body.push_str(&html_plot(&plots.auroc));
    body.push_str(&html_plot(&plots.latency));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta \
         name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Evaluation \
         report</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

fn html_model(model: &ModelEval, plots: &ModelPlots, dir: &Path) -> String {
    let mut out = format!(
        "<section>\n<h2>Model {}</h2>\n<p class=\"meta\">{}</p>\n",
        escape_html(&model.name),
        escape_html(&model_summary(model))
    );
    out.push_str(&format!(
        "<h3>At {} descent iterations</h3>\n<p class=\"meta\">{} good test images; n counts each \
         class's defective images. Precision and recall at the calibrated defect threshold \
         ({}{}).</p>\n",
        model.main_iterations,
        good_count(model),
        fmt3(f64::from(model.defect_threshold)),
        escape_html(&rule_suffix(model))
    ));
    out.push_str(&class_table(model).html());
    out.push_str("<h3>Iteration sweep</h3>\n");
    out.push_str(&sweep_table(model).html());
    out.push_str(&html_plot(&plots.roc));
    out.push_str(&html_plot(&plots.histogram));
    out.push_str(&html_gallery(model, dir));
    out.push_str("</section>\n");
    out
}

/// The plot's SVG inlined (it carries its own caption as the chart title).
fn html_plot(plot: &Plot) -> String {
    format!(
        "<figure class=\"plot\" title=\"{}\">\n{}</figure>\n",
        escape_html(&plot.title),
        plot.svg
    )
}

/// Good images with the highest scores, and defective images with the lowest.
fn worst_images(model: &ModelEval) -> (Vec<&ImageResult>, Vec<&ImageResult>) {
    let (mut good, mut defective): (Vec<&ImageResult>, Vec<&ImageResult>) =
        model.images.iter().partition(|i| i.class == GOOD);
    good.sort_by(|a, b| b.score.total_cmp(&a.score));
    defective.sort_by(|a, b| a.score.total_cmp(&b.score));
    good.truncate(GALLERY_SIZE);
    defective.truncate(GALLERY_SIZE);
    (good, defective)
}

fn html_gallery(model: &ModelEval, dir: &Path) -> String {
    let (false_positives, false_negatives) = worst_images(model);
    let mut out = String::new();
    let rows = [
        (
            "Worst false positives (good images, highest scores)",
            false_positives,
        ),
        (
            "Worst false negatives (defective images, lowest scores)",
            false_negatives,
        ),
    ];
    for (heading, images) in rows {
        out.push_str(&format!("<h3>{}</h3>\n", escape_html(heading)));
        if images.is_empty() {
            out.push_str("<p class=\"empty\">No images.</p>\n");
            continue;
        }
        out.push_str("<div class=\"gallery\">\n");
        for image in images {
            out.push_str(&gallery_card(image, dir));
        }
        out.push_str("</div>\n");
    }
    out
}

fn gallery_card(image: &ImageResult, dir: &Path) -> String {
    let path = image.path.display().to_string();
    let picture = match image.overlay.as_deref().and_then(|o| overlay_uri(dir, o)) {
        Some(uri) => format!("<img src=\"{uri}\" alt=\"{}\">", escape_html(&path)),
        None => "<div class=\"none\">no overlay</div>".to_string(),
    };
    let part = image.part.as_deref().unwrap_or(MISSING);
    format!(
        "<figure class=\"card\">{picture}<figcaption><code>{}</code><br>{} · score {} · {} · \
         part {}</figcaption></figure>\n",
        escape_html(&path),
        escape_html(&image.class),
        fmt3(f64::from(image.score)),
        escape_html(&image.verdict),
        escape_html(part)
    )
}

/// The overlay as a `data:` URI, when it is a plain relative path to a readable file in `dir`.
fn overlay_uri(dir: &Path, overlay: &Path) -> Option<String> {
    let plain = overlay
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return None;
    }
    let path = dir.join(overlay);
    if !path.is_file() {
        return None;
    }
    let bytes = fs::read(&path).ok()?;
    let extension = overlay
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let mime = match extension.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "image/png",
    };
    Some(format!("data:{mime};base64,{}", base64(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected, "input {input:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn escape_html_escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain – text"), "plain – text");
        assert_eq!(escape_html(""), "");
    }

    #[test]
    fn precision_and_recall_are_undefined_without_positives() {
        let empty = Confusion::default();
        assert_eq!(precision(&empty), MISSING);
        assert_eq!(recall(&empty), MISSING);
        let c = Confusion {
            threshold: 0.5,
            true_positive: 3,
            false_positive: 1,
            true_negative: 4,
            false_negative: 1,
        };
        assert_eq!(precision(&c), "0.750");
        assert_eq!(recall(&c), "0.750");
    }

    #[test]
    fn iteration_axis_labels_every_budget() {
        let iterations = [0, 1, 2, 5, 10, 20, 50, 100];
        let labels: Vec<String> = (0..8)
            .map(|i| iteration_label(&iterations, i * ITERATION_STEP))
            .collect();
        assert_eq!(labels, ["0", "1", "2", "5", "10", "20", "50", "100"]);
        assert_eq!(iteration_label(&iterations, 3), "");
        assert_eq!(iteration_label(&iterations, 8 * ITERATION_STEP), "");
        assert_eq!(iteration_x(&iterations, 50), Some(6 * ITERATION_STEP));
        assert_eq!(iteration_x(&iterations, 3), None);
    }

    #[test]
    fn overlay_paths_must_stay_inside_the_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("a.png"), b"png").expect("write");
        assert_eq!(
            overlay_uri(dir.path(), Path::new("a.png")).as_deref(),
            Some("data:image/png;base64,cG5n")
        );
        assert_eq!(overlay_uri(dir.path(), Path::new("../a.png")), None);
        assert_eq!(overlay_uri(dir.path(), Path::new("missing.png")), None);
    }

    fn metrics(class: &str, image_auroc: f64) -> ClassMetrics {
        ClassMetrics {
            class: class.to_string(),
            defective: 3,
            good: 6,
            image_auroc,
            pixel_auroc: Some(image_auroc - 0.0625),
            aupro: (class == ALL).then_some(0.5),
            f1_max: 0.75,
            f1_max_threshold: 0.5,
            at_calibrated: Confusion {
                threshold: 0.5,
                true_positive: 2,
                false_positive: 1,
                true_negative: 5,
                false_negative: 1,
            },
        }
    }

    fn sweep_point(iterations: usize, auroc: f64) -> SweepPoint {
        SweepPoint {
            iterations,
            classes: vec![
                metrics(ALL, auroc),
                metrics("scratch", auroc + 0.0625),
                metrics("dent", auroc - 0.0625),
            ],
            mean_ms_good: 1.5 + iterations as f64 * 0.25,
            mean_ms_defective: 2.0 + iterations as f64 * 0.5,
            mean_iterations_good: iterations as f64 * 0.5,
            mean_iterations_defective: iterations as f64 * 0.75,
        }
    }

    fn image(index: usize, class: &str, score: f32) -> ImageResult {
        ImageResult {
            path: PathBuf::from(format!("test/{class}/{index:03}.png")),
            class: class.to_string(),
            score,
            verdict: if score >= 0.5 { "defect" } else { "pass" }.to_string(),
            iterations: 20,
            time_ms: 4.5,
            part: (class != GOOD).then(|| "lid".to_string()),
            overlay: Some(PathBuf::from(format!("overlays/{class}-{index}.png"))),
        }
    }

    fn model(name: &str, shift: f32) -> ModelEval {
        let mut images: Vec<ImageResult> = (0..6)
            .map(|i| image(i, GOOD, i as f32 / 16.0 + shift))
            .collect();
        images.extend((0..3).map(|i| image(i, "scratch", 0.5 + i as f32 / 8.0 - shift)));
        images.extend((0..3).map(|i| image(i, "dent", 0.25 + i as f32 / 4.0)));
        ModelEval {
            name: name.to_string(),
            run_dir: PathBuf::from(format!("runs/{name}")),
            model_kind: "gan".to_string(),
            checkpoint_step: 1200,
            score_kind: "residual".to_string(),
            review_threshold: 0.375,
            defect_threshold: 0.5,
            defect_rule: "best F1 on validation".to_string(),
            main_iterations: 20,
            sweep: vec![
                sweep_point(0, 0.625),
                sweep_point(5, 0.75),
                sweep_point(20, 0.875),
            ],
            images,
        }
    }

    fn synthetic_report() -> EvalReport {
        EvalReport {
            format: 1,
            data_dir: PathBuf::from("data/widget"),
            created_unix: 1_700_000_000,
            models: vec![model("gan", 0.0), model("ae <b>som</b>", 0.125)],
        }
    }

    #[test]
    fn writes_every_file_of_a_synthetic_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("report");
        fs::create_dir_all(out.join("overlays")).expect("overlay dir");
        fs::write(out.join("overlays/good-5.png"), b"\x89PNG\r\n\x1a\nfake").expect("overlay");
        let report = synthetic_report();

        let files = write_report(&report, &out).expect("write report");

        for path in [&files.json, &files.markdown, &files.html] {
            assert!(path.is_file(), "missing {}", path.display());
        }
        assert_eq!(files.plots.len(), 6);
        for path in &files.plots {
            let svg = fs::read_to_string(path).expect("read plot");
            assert!(svg.starts_with("<svg"), "{}", path.display());
            assert!(svg.trim_end().ends_with("</svg>"), "{}", path.display());
        }

        let json = fs::read_to_string(&files.json).expect("read json");
        let parsed: EvalReport = serde_json::from_str(&json).expect("parse json");
        assert_eq!(parsed, report);

        let html = fs::read_to_string(&files.html).expect("read html");
        assert!(html.matches("<svg").count() >= 4);
        assert!(!html.contains("src=\"http"));
        assert!(!html.contains("<b>"), "model name not escaped");
        assert!(html.contains("data:image/png;base64,iVBORw0KGgpmYWtl"));
        assert!(html.contains("no overlay"));

        let markdown = fs::read_to_string(&files.markdown).expect("read markdown");
        for class in ["scratch", "dent", ALL] {
            assert!(markdown.contains(class), "markdown lacks {class}");
        }
        assert!(markdown.contains("Comparison"));
        assert!(markdown.contains("plots/auroc-vs-iterations.svg"));
    }

    #[test]
    fn writes_a_report_without_models_or_images() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut report = synthetic_report();
        report.models.truncate(1);
        report.models[0].images.clear();
        let files = write_report(&report, dir.path()).expect("write report");
        assert_eq!(files.plots.len(), 4);
        report.models.clear();
        let files = write_report(&report, dir.path()).expect("write empty report");
        assert_eq!(files.plots.len(), 2);
    }
}
