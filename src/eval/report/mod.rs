//! Writes an evaluation's report into a directory: `report.json` (the numbers), `report.md` (a
//! summary), a self-contained `report.html` (tables, inlined plots and a gallery of the worst
//! misses) and the SVG plots under `plots/`.
//!
//! Every file is written atomically, so an interrupted run never leaves a half-written report.
//! One file per output: [`tables`] (the tables both documents show, and number formatting),
//! [`markdown`], [`html`] and [`charts`] (the plots); this file picks the data out of the report.

mod charts;
mod html;
mod markdown;
mod tables;

use std::fs;
use std::path::{Path, PathBuf};

use super::types::{ClassMetrics, EvalReport, ModelEval, SweepPoint};
use crate::fsio::write_atomic;
use charts::render_plots;
use html::render_html;
use markdown::render_markdown;

/// The class name of defect-free images.
const GOOD: &str = crate::dataset::GOOD;
/// The class name of every defect class together.
const ALL: &str = "all";

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

// Selecting data from the report, for every output.

/// The sweep point at the model's main budget (the last one if none matches).
pub(crate) fn main_point(model: &ModelEval) -> Option<&SweepPoint> {
    model
        .sweep
        .iter()
        .find(|p| p.iterations == model.main_iterations)
        .or_else(|| model.sweep.last())
}

pub(crate) fn class_metrics<'a>(point: &'a SweepPoint, class: &str) -> Option<&'a ClassMetrics> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::types::ImageResult;
    use crate::metrics::Confusion;

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
            part_named: (class != ALL).then_some(0.75),
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
            budget: "refinement rounds".to_string(),
            sweep: vec![
                sweep_point(0, 0.625),
                sweep_point(5, 0.75),
                sweep_point(20, 0.875),
            ],
            images,
            detectors: vec![
                crate::eval::DetectorEval {
                    name: "render".to_string(),
                    scoring: "absolute-render map-max".to_string(),
                    criterion: Some(1.9),
                    chosen: true,
                    classes: vec![(ALL.to_string(), 0.96), ("dent".to_string(), 0.9)],
                    pixel: vec![(ALL.to_string(), Some(0.97)), ("dent".to_string(), None)],
                },
                crate::eval::DetectorEval {
                    name: "lookup".to_string(),
                    scoring: "absolute±1-lookup map-max".to_string(),
                    criterion: Some(1.8),
                    chosen: false,
                    classes: vec![(ALL.to_string(), 0.88), ("dent".to_string(), 0.91)],
                    pixel: Vec::new(),
                },
            ],
        }
    }

    fn synthetic_report() -> EvalReport {
        EvalReport {
            format: 1,
            data_dir: PathBuf::from("data/widget"),
            created_unix: 1_700_000_000,
            models: vec![model("gan", 0.0), model("ae <b>som</b>", 0.125)],
            notes: vec!["input mapping: <bbox>".to_string()],
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
        // The notes (input mapping) and each detector's pixel AUROC are shown.
        assert!(markdown.contains("- input mapping: <bbox>"));
        assert!(html.contains("<li>input mapping: &lt;bbox&gt;</li>"));
        assert!(markdown.contains("pixel all") && markdown.contains("0.970"));
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
