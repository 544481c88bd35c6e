//! Evaluate workspace: run an evaluation in the background (or open a report), then explore it:
//! ROC curves, the score histogram with a draggable threshold and review band that update the
//! confusion matrix live, metrics against the iteration budget, a per-class table and a gallery
//! of the worst cases, each of which opens in Inspect. Evaluations, reports and their
//! galleries are read and computed on workers.

use std::path::{Path, PathBuf};

use eframe::egui::{self, Color32, TextureHandle};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, VLine};

use super::Workspace;
use super::action::Action;
use super::util::{image_from_picture, path_row_ui};
use crate::compute::SelectedDevice;
use crate::dataset::GOOD;
use crate::eval::{Confusion, EvalOptions, EvalProgress, EvalReport};
use crate::metrics::{confusion, roc_curve};
use crate::worker::eval::{EvalEvent, spawn_evaluation};
use crate::worker::files::{GalleryImage, OpenedReport, read_gallery, read_report};
use crate::worker::{Waker, Worker, spawn_call};

/// Histogram bins.
const BINS: usize = 40;

pub struct Evaluate {
    pub(super) run_dir: String,
    pub(super) compare_dir: String,
    pub(super) data_dir: String,
    pub(super) out_dir: String,
    iterations: String,
    report: Option<EvalReport>,
    report_dir: Option<PathBuf>,
    /// Model shown (index into the report's models).
    model: usize,
    /// Decision threshold being explored (`score >= threshold` is defective).
    threshold: f32,
    review_band: bool,
    review_threshold: f32,
    progress: Option<String>,
    message: Option<String>,
    /// Where the score histogram was last drawn (tests drag the threshold there).
    histogram_rect: Option<egui::Rect>,
    waker: Waker,
    evaluation: Option<Worker<EvalEvent>>,
    /// A `report.json` being read.
    opening: Option<Worker<Result<OpenedReport, String>>>,
    gallery: Vec<(TextureHandle, String, PathBuf)>,
    /// The report folder and model the gallery shows (or is being read for).
    gallery_for: Option<(PathBuf, usize)>,
    gallery_reading: Option<Worker<Result<Vec<GalleryImage>, String>>>,
    /// Scores and ROC curves of the model shown, computed when it is chosen, not every frame.
    derived: Derived,
}

/// What the views draw from the model shown, at its main budget.
#[derive(Default)]
struct Derived {
    good: Vec<f32>,
    defective: Vec<f32>,
    /// Class name and its ROC curve as (FPR, TPR) points.
    roc: Vec<(String, Vec<[f64; 2]>)>,
    /// Largest finite score (the histogram's and the threshold slider's range).
    max_score: f32,
}

impl Derived {
    fn of(model: &crate::eval::ModelEval) -> Self {
        let scores = |keep: &dyn Fn(&str) -> bool| -> Vec<f32> {
            model
                .images
                .iter()
                .filter(|i| keep(&i.class))
                .map(|i| i.score)
                .collect()
        };
        let good = scores(&|c| c == GOOD);
        let classes: Vec<String> = model
            .sweep
            .first()
            .map(|p| p.classes.iter().skip(1).map(|c| c.class.clone()).collect())
            .unwrap_or_default();
        let roc = classes
            .into_iter()
            .map(|class| {
                let bad = scores(&|c| c == class);
                let points = roc_curve(&good, &bad)
                    .iter()
                    .map(|p| [p.fpr, p.tpr])
                    .collect();
                (class, points)
            })
            .collect();
        let defective = scores(&|c| c != GOOD);
        let max_score = good
            .iter()
            .chain(&defective)
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0f32, f32::max);
        Self {
            good,
            defective,
            roc,
            max_score,
        }
    }
}

impl Evaluate {
    pub fn new(waker: Waker) -> Self {
        Self {
            run_dir: "runs/gan".into(),
            compare_dir: String::new(),
            data_dir: "datasets/cap-eval".into(),
            out_dir: "reports/cap".into(),
            iterations: "0,1,2,5,10,20,50".into(),
            report: None,
            report_dir: None,
            model: 0,
            threshold: 0.0,
            review_band: false,
            review_threshold: 0.0,
            progress: None,
            message: None,
            histogram_rect: None,
            waker,
            evaluation: None,
            opening: None,
            gallery: Vec::new(),
            gallery_for: None,
            gallery_reading: None,
            derived: Derived::default(),
        }
    }

    pub fn running(&self) -> bool {
        self.evaluation.is_some()
    }

    /// The report shown.
    pub fn report(&self) -> Option<&EvalReport> {
        self.report.as_ref()
    }

    /// Overlays of the report's gallery shown now.
    pub fn gallery_len(&self) -> usize {
        self.gallery.len()
    }

    /// Whether a report or its gallery is being read.
    pub fn reading(&self) -> bool {
        self.opening.is_some() || self.gallery_reading.is_some()
    }

    /// The threshold being explored.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Where the score histogram was last drawn.
    pub fn histogram_rect(&self) -> Option<egui::Rect> {
        self.histogram_rect
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Shows a report (loaded from disk or just computed).
    pub fn set_report(&mut self, report: EvalReport, dir: PathBuf) {
        self.report = Some(report);
        self.report_dir = Some(dir);
        self.gallery_for = None;
        self.show_model(0);
    }

    /// Shows model `index` of the report, at its calibrated thresholds.
    fn show_model(&mut self, index: usize) {
        self.model = index;
        let Some(m) = self.report.as_ref().and_then(|r| r.models.get(index)) else {
            self.derived = Derived::default();
            return;
        };
        self.threshold = m.defect_threshold;
        self.review_threshold = m.review_threshold;
        self.derived = Derived::of(m);
    }

    /// Reads a `report.json` on a worker, then shows it.
    pub fn open_report(&mut self, path: &Path) {
        let path = path.to_path_buf();
        match spawn_call("unseen-open-report", self.waker.clone(), move || {
            read_report(&path)
        }) {
            Ok(worker) => self.opening = Some(worker),
            Err(e) => self.message = Some(format!("cannot start a worker: {e}")),
        }
    }

    pub fn start(&mut self, device: &SelectedDevice) {
        let iterations: Result<Vec<usize>, _> = self
            .iterations
            .split(',')
            .map(|s| s.trim().parse::<usize>())
            .collect();
        let Ok(iterations) = iterations else {
            self.message = Some("iterations must be numbers separated by commas".into());
            return;
        };
        let mut runs = vec![PathBuf::from(self.run_dir.trim())];
        if !self.compare_dir.trim().is_empty() {
            runs.push(PathBuf::from(self.compare_dir.trim()));
        }
        let options = EvalOptions {
            runs,
            data: PathBuf::from(self.data_dir.trim()),
            calibration_data: None,
            iterations,
            out: PathBuf::from(self.out_dir.trim()),
            latency_samples: 8,
            gallery: 8,
            defect_rule: crate::inspect::DefectRule::F1Max,
            map_input: crate::imaging::MapInput::Fail,
            calibrate_good: None,
        };
        match spawn_evaluation(options, device.clone(), self.waker.clone()) {
            Ok(worker) => {
                self.evaluation = Some(worker);
                self.progress = Some("starting".into());
            }
            Err(e) => self.message = Some(format!("cannot start the evaluation: {e}")),
        }
    }

    pub fn poll(&mut self, ctx: &egui::Context) {
        if let Some(opening) = &self.opening
            && let Ok(read) = opening.events().try_recv()
        {
            self.opening = None;
            match read {
                Ok(opened) => {
                    self.message = Some(format!("opened {}", opened.path.display()));
                    self.set_report(opened.report, opened.dir);
                }
                Err(e) => self.message = Some(e),
            }
        }
        self.poll_evaluation();
        self.poll_gallery(ctx);
    }

    fn poll_evaluation(&mut self) {
        let Some(worker) = &self.evaluation else {
            return;
        };
        let mut finished = None;
        for event in worker.try_iter() {
            match event {
                EvalEvent::Progress(p) => self.progress = Some(progress_text(&p)),
                EvalEvent::Finished(report, files) => finished = Some(Ok((*report, files.html))),
                EvalEvent::Failed(e) => finished = Some(Err(e)),
            }
        }
        match finished {
            Some(Ok((report, html))) => {
                self.evaluation = None;
                self.progress = None;
                self.message = Some(format!("report written: {}", html.display()));
                let dir = html.parent().map_or_else(PathBuf::new, Path::to_path_buf);
                self.set_report(report, dir);
            }
            Some(Err(e)) => {
                self.evaluation = None;
                self.progress = None;
                self.message = Some(format!("evaluation failed: {e}"));
            }
            None => {}
        }
    }

    /// Reads the gallery of the model shown on a worker when the report or model changed, and
    /// shows it once read.
    fn poll_gallery(&mut self, ctx: &egui::Context) {
        if let Some(reading) = &self.gallery_reading
            && let Ok(read) = reading.events().try_recv()
        {
            self.gallery_reading = None;
            self.gallery = read
                .unwrap_or_default()
                .into_iter()
                .map(|g| {
                    let texture = ctx.load_texture(
                        format!("gallery-{}", g.name),
                        image_from_picture(&g.overlay),
                        egui::TextureOptions::NEAREST,
                    );
                    (texture, g.caption, g.image)
                })
                .collect();
        }
        let (Some(report), Some(dir)) = (&self.report, &self.report_dir) else {
            return;
        };
        let key = (dir.clone(), self.model);
        if self.gallery_for.as_ref() == Some(&key) {
            return;
        }
        self.gallery_for = Some(key);
        self.gallery.clear();
        let (report, dir, model) = (report.clone(), dir.clone(), self.model);
        // A newer request replaces one under way (its result is no longer wanted).
        self.gallery_reading = spawn_call("unseen-gallery", self.waker.clone(), move || {
            Ok(read_gallery(&report, &dir, model))
        })
        .ok();
    }

    /// The confusion matrix at the explored threshold.
    pub fn confusion(&self) -> Confusion {
        confusion(&self.derived.good, &self.derived.defective, self.threshold)
    }

    /// Draws the workspace; a gallery image to open in Inspect becomes an action. `budget` is
    /// Inspect's descent budget, marked on the sweep plots.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        device: &SelectedDevice,
        budget: usize,
        actions: &mut Vec<Action>,
    ) {
        egui::Panel::left("evaluate-controls")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui, device));
            });
        let mut open = None;
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| open = self.views_ui(ui, budget));
        });
        if let Some(image) = open {
            let run = PathBuf::from(self.run_dir.trim());
            actions.push(Action::InspectImage {
                image,
                run: Some(run),
            });
            actions.push(Action::Show(Workspace::Inspect));
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, device: &SelectedDevice) {
        ui.heading("Evaluation");
        path_row_ui(ui, "Model", &mut self.run_dir, true);
        path_row_ui(ui, "Compare", &mut self.compare_dir, true);
        path_row_ui(ui, "Test data", &mut self.data_dir, true);
        path_row_ui(ui, "Report", &mut self.out_dir, true);
        ui.horizontal(|ui| {
            let name = ui.label("Iterations");
            ui.text_edit_singleline(&mut self.iterations)
                .labelled_by(name.id);
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.running(), egui::Button::new("Run evaluation"))
                .clicked()
            {
                self.start(device);
            }
            if let Some(evaluation) = &self.evaluation
                && ui.button("Cancel").clicked()
            {
                evaluation.cancel();
            }
        });
        if ui.button("Open report.json…").clicked()
            && let Some(path) = rfd::FileDialog::new()
                .add_filter("report", &["json"])
                .pick_file()
        {
            self.open_report(&path);
        }
        if let Some(p) = &self.progress {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(p);
            });
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
        let Some(report) = &self.report else { return };
        ui.separator();
        let names: Vec<String> = report.models.iter().map(|m| m.name.clone()).collect();
        let mut chosen = self.model;
        egui::ComboBox::from_label("Model shown")
            .selected_text(names.get(self.model).cloned().unwrap_or_default())
            .show_ui(ui, |ui| {
                for (i, n) in names.iter().enumerate() {
                    ui.selectable_value(&mut chosen, i, n);
                }
            });
        if chosen != self.model {
            self.show_model(chosen);
        }
        ui.separator();
        ui.heading("Threshold");
        let hi = self.derived.max_score * 1.05;
        ui.add(egui::Slider::new(&mut self.threshold, 0.0..=hi.max(1e-6)).text("defect ≥"));
        ui.checkbox(&mut self.review_band, "Review band");
        if self.review_band {
            ui.add(
                egui::Slider::new(&mut self.review_threshold, 0.0..=self.threshold.max(1e-6))
                    .text("review ≥"),
            );
        }
        if ui.button("Back to the calibrated thresholds").clicked() {
            self.show_model(self.model);
        }
        let c = self.confusion();
        ui.label(egui::RichText::new("Confusion matrix").strong());
        egui::Grid::new("confusion").striped(true).show(ui, |ui| {
            ui.label("");
            ui.label("called defect");
            ui.label("called good");
            ui.end_row();
            ui.label("defective");
            ui.label(c.true_positive.to_string());
            ui.label(c.false_negative.to_string());
            ui.end_row();
            ui.label("good");
            ui.label(c.false_positive.to_string());
            ui.label(c.true_negative.to_string());
            ui.end_row();
        });
        ui.label(format!(
            "precision {:.3} · recall {:.3} · F1 {:.3} · false alarms {:.1} %",
            c.precision(),
            c.recall(),
            c.f1(),
            100.0 * c.false_positive_rate()
        ));
        if self.review_band {
            let to_review = self
                .derived
                .good
                .iter()
                .chain(&self.derived.defective)
                .filter(|&&s| s >= self.review_threshold && s < self.threshold)
                .count();
            ui.label(format!("{to_review} images would go to review"));
        }
    }

    fn views_ui(&mut self, ui: &mut egui::Ui, budget: usize) -> Option<PathBuf> {
        // Taken out for the frame (not cloned) so the histogram may change the threshold.
        let Some(report) = self.report.take() else {
            ui.label("Run an evaluation or open a report.json to see its results here.");
            return None;
        };
        let open = report
            .models
            .get(self.model)
            .and_then(|model| self.model_views_ui(ui, model, budget));
        self.report = Some(report);
        open
    }

    fn model_views_ui(
        &mut self,
        ui: &mut egui::Ui,
        model: &crate::eval::ModelEval,
        budget: usize,
    ) -> Option<PathBuf> {
        let half = (ui.available_width() / 2.0 - 8.0).max(240.0);
        let height = 260.0;
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("ROC per defect class").strong());
                Plot::new("roc")
                    .width(half)
                    .height(height)
                    .legend(Legend::default())
                    .data_aspect(1.0)
                    .x_axis_label("false-positive rate")
                    .y_axis_label("true-positive rate")
                    .show(ui, |plot| {
                        plot.line(
                            Line::new("chance", PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]))
                                .color(Color32::GRAY),
                        );
                        for (class, points) in &self.derived.roc {
                            plot.line(Line::new(class.clone(), PlotPoints::from(points.clone())));
                        }
                    });
            });
            ui.vertical(|ui| {
                ui.label(
                    egui::RichText::new("Scores: good vs defective (drag to set the threshold)")
                        .strong(),
                );
                self.histogram_ui(ui, half, height);
            });
        });
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.label(
                    egui::RichText::new(format!(
                        "Image AUROC and part naming against {}",
                        model.budget_label()
                    ))
                    .strong(),
                );
                Plot::new("sweep")
                    .width(half)
                    .height(height)
                    .legend(Legend::default())
                    .x_axis_label(model.budget_label())
                    .y_axis_label("image AUROC")
                    .show(ui, |plot| {
                        let names: Vec<String> = model
                            .sweep
                            .first()
                            .map(|p| p.classes.iter().map(|c| c.class.clone()).collect())
                            .unwrap_or_default();
                        for (k, name) in names.iter().enumerate() {
                            let points: Vec<[f64; 2]> = model
                                .sweep
                                .iter()
                                .filter_map(|p| {
                                    p.classes
                                        .get(k)
                                        .map(|c| [p.iterations as f64, c.image_auroc])
                                })
                                .collect();
                            plot.line(Line::new(name.clone(), PlotPoints::from(points)));
                        }
                        // The share of defects whose strongest region names the injected part.
                        let named: Vec<[f64; 2]> = model
                            .sweep
                            .iter()
                            .filter_map(|p| {
                                let all = p.classes.first()?;
                                Some([p.iterations as f64, all.part_named?])
                            })
                            .collect();
                        if !named.is_empty() {
                            plot.line(
                                Line::new("part named (all)", PlotPoints::from(named))
                                    .style(egui_plot::LineStyle::dashed_loose()),
                            );
                        }
                        plot.vline(VLine::new("current budget", budget as f64));
                    });
            });
            ui.vertical(|ui| {
                ui.label(
                    egui::RichText::new(format!("Latency against {}", model.budget_label()))
                        .strong(),
                );
                Plot::new("latency")
                    .width(half)
                    .height(height)
                    .legend(Legend::default())
                    .x_axis_label(model.budget_label())
                    .y_axis_label("ms per image")
                    .show(ui, |plot| {
                        let good: Vec<[f64; 2]> = model
                            .sweep
                            .iter()
                            .map(|p| [p.iterations as f64, p.mean_ms_good])
                            .collect();
                        let bad: Vec<[f64; 2]> = model
                            .sweep
                            .iter()
                            .map(|p| [p.iterations as f64, p.mean_ms_defective])
                            .collect();
                        plot.line(Line::new("good", PlotPoints::from(good)));
                        plot.line(Line::new("defective", PlotPoints::from(bad)));
                        plot.vline(VLine::new("current budget", budget as f64));
                    });
            });
        });
        ui.separator();
        self.class_table_ui(ui, model);
        ui.separator();
        ui.label(egui::RichText::new("Worst false positives and false negatives").strong());
        let mut open = None;
        ui.horizontal_wrapped(|ui| {
            for (texture, caption, path) in &self.gallery {
                ui.vertical(|ui| {
                    let response = ui.add(
                        egui::Image::new((texture.id(), egui::vec2(128.0, 128.0)))
                            .sense(egui::Sense::click()),
                    );
                    ui.small(caption);
                    if response.clicked() || ui.small_button("Open in Inspect").clicked() {
                        open = Some(path.clone());
                    }
                });
            }
        });
        open
    }

    fn histogram_ui(&mut self, ui: &mut egui::Ui, width: f32, height: f32) {
        let (good, bad) = (&self.derived.good, &self.derived.defective);
        let finite = |v: &&f32| v.is_finite();
        let hi = f64::from(self.derived.max_score.max(1e-6)) * 1.02;
        let bin = hi / BINS as f64;
        let counts = |scores: &[f32]| {
            let mut c = vec![0usize; BINS];
            for s in scores.iter().filter(finite) {
                let k = ((f64::from(*s) / bin) as usize).min(BINS - 1);
                c[k] += 1;
            }
            c
        };
        let bars = |c: Vec<usize>, total: usize| -> Vec<Bar> {
            c.into_iter()
                .enumerate()
                .map(|(k, n)| {
                    Bar::new((k as f64 + 0.5) * bin, n as f64 / total.max(1) as f64).width(bin)
                })
                .collect()
        };
        let good_bars = bars(counts(good), good.len());
        let bad_bars = bars(counts(bad), bad.len());
        let (threshold, review, band) = (self.threshold, self.review_threshold, self.review_band);
        let response = Plot::new("histogram")
            .width(width)
            .height(height)
            .legend(Legend::default())
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .x_axis_label("score")
            .y_axis_label("fraction of images")
            .show(ui, |plot| {
                plot.bar_chart(
                    BarChart::new("good", good_bars)
                        .color(Color32::from_rgba_unmultiplied(90, 200, 110, 150)),
                );
                plot.bar_chart(
                    BarChart::new("defective", bad_bars)
                        .color(Color32::from_rgba_unmultiplied(235, 80, 70, 150)),
                );
                plot.vline(
                    VLine::new("defect threshold", f64::from(threshold))
                        .color(Color32::WHITE)
                        .width(2.0),
                );
                if band {
                    plot.vline(
                        VLine::new("review threshold", f64::from(review))
                            .color(Color32::from_rgb(230, 190, 60))
                            .width(2.0),
                    );
                }
                if plot.response().dragged() || plot.response().clicked() {
                    plot.pointer_coordinate().map(|p| p.x)
                } else {
                    None
                }
            });
        self.histogram_rect = Some(response.response.rect);
        if let Some(x) = response.inner {
            self.threshold = x.max(0.0) as f32;
            if self.review_threshold > self.threshold {
                self.review_threshold = self.threshold;
            }
        }
    }

    fn class_table_ui(&self, ui: &mut egui::Ui, model: &crate::eval::ModelEval) {
        let Some(point) = model
            .sweep
            .iter()
            .find(|p| p.iterations == model.main_iterations)
        else {
            return;
        };
        ui.label(
            egui::RichText::new(format!(
                "{} at {} {} ({} score; calibrated defect threshold {:.4})",
                model.name,
                model.main_iterations,
                model.budget_label(),
                model.score_kind,
                model.defect_threshold
            ))
            .strong(),
        );
        egui::Grid::new("classes").striped(true).show(ui, |ui| {
            for h in crate::eval::types::CLASS_COLUMNS {
                ui.label(egui::RichText::new(h).strong());
            }
            ui.end_row();
            let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
            for c in &point.classes {
                ui.label(&c.class);
                ui.label(c.defective.to_string());
                ui.label(format!("{:.3}", c.image_auroc));
                ui.label(opt(c.pixel_auroc));
                ui.label(opt(c.aupro));
                ui.label(format!("{:.3}", c.f1_max));
                ui.label(format!("{:.3}", c.at_calibrated.precision()));
                ui.label(format!("{:.3}", c.at_calibrated.recall()));
                ui.label(opt(c.part_named));
                ui.end_row();
            }
        });
        if !model.detectors.is_empty() {
            ui.label(
                egui::RichText::new(
                    "Each detector on its own (image AUROC; * chosen by calibration)",
                )
                .strong(),
            );
            egui::Grid::new("detectors").striped(true).show(ui, |ui| {
                ui.label(egui::RichText::new("detector").strong());
                for (class, _) in &model.detectors[0].classes {
                    ui.label(egui::RichText::new(class).strong());
                }
                ui.end_row();
                for d in &model.detectors {
                    ui.label(format!("{}{}", if d.chosen { "* " } else { "" }, d.name))
                        .on_hover_text(&d.scoring);
                    for (_, a) in &d.classes {
                        ui.label(format!("{a:.3}"));
                    }
                    ui.end_row();
                }
            });
        }
    }
}

/// An evaluation's progress, for the user to read.
fn progress_text(progress: &EvalProgress) -> String {
    match progress {
        EvalProgress::Opening { run } => format!("opening {}", run.display()),
        EvalProgress::Scoring { model, done, total } => {
            format!("{model}: scored {done}/{total} test images")
        }
        EvalProgress::Timing { model, iterations } => {
            format!("{model}: timing {iterations} iterations")
        }
        EvalProgress::Writing => "writing the report".into(),
    }
}
