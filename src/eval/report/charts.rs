//! The report's plots, drawn with plotters as SVG: ROC curves and score histograms per model,
//! image AUROC and latency against the descent budget.

use std::error::Error as StdError;
use std::ops::Range;
use std::path::Path;

use plotters::backend::{DrawingBackend, SVGBackend};
use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::combinators::BindKeyPoints;
use plotters::coord::{CoordTranslate, Shift};
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{Circle, ComposedElement, EmptyElement, PathElement, Rectangle};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::{Color, RGBColor, WHITE};

use super::tables::fmt3;
use super::{
    ALL, GOOD, ReportError, class_metrics, defect_classes, model_stems, scores_of, sweep_classes,
    sweep_iterations,
};
use crate::eval::types::{EvalReport, ModelEval, SweepPoint};
use crate::metrics::{RocPoint, auroc, roc_curve};

/// Pixel size of every plot.
const PLOT_SIZE: (u32, u32) = (720, 440);
const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 22;
const LABEL_SIZE: u32 = 14;
const AXIS_DESC_SIZE: u32 = 16;
const HISTOGRAM_BINS: usize = 30;
/// Horizontal spacing of the iteration axis: budgets sit at multiples of this, so the axis can
/// use integer coordinates with a little padding at either end.
const ITERATION_STEP: i32 = 10;

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

type Root<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn StdError>>;

/// One rendered plot.
pub(super) struct Plot {
    /// File name inside `plots/`.
    pub(super) file: String,
    pub(super) title: String,
    pub(super) svg: String,
}

pub(super) struct ModelPlots {
    pub(super) roc: Plot,
    pub(super) histogram: Plot,
}

pub(super) struct Plots {
    pub(super) models: Vec<ModelPlots>,
    pub(super) auroc: Plot,
    pub(super) latency: Plot,
}

impl Plots {
    pub(super) fn all(&self) -> impl Iterator<Item = &Plot> {
        self.models
            .iter()
            .flat_map(|m| [&m.roc, &m.histogram])
            .chain([&self.auroc, &self.latency])
    }
}

pub(super) fn render_plots(report: &EvalReport, plots_dir: &Path) -> Result<Plots, ReportError> {
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
        "Image AUROC vs budget".to_string(),
        |root| draw_auroc_sweep(root, &report.models),
    )?;
    let latency = plot(
        plots_dir,
        "latency-vs-iterations.svg".to_string(),
        "Mean latency vs budget".to_string(),
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
        title: "Image AUROC vs budget",
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
        title: "Mean latency vs budget",
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
            .x_desc("budget: descent iterations, or refinement rounds")
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
