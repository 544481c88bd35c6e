//! Inspect workspace: input | reconstruction | heatmap side by side, the latent descent played
//! live and recorded for scrubbing, regions with the part they lie on, verdicts, and a batch
//! mode over a folder with a sortable table. Opening the model, reading and inspecting images
//! all happen on the inspection workers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, TextureHandle};
use egui_plot::{Line, Plot, PlotPoints, Points, VLine};

use super::util::{image_from_values, path_row_ui, set_texture, square_ui};
use crate::compute::SelectedDevice;
use crate::imaging::{DEFAULT_OPACITY, heat_overlay, heat_scale};
use crate::inspect::descent::{DescentConfig, StartMode};
use crate::inspect::{ImageReport, InspectorSettings, OpenOptions, Region, Verdict};
use crate::worker::inspect::{
    InspectEvent, ModelInfo, RecordedFrame, SharedInspector, spawn_inspect_folder,
    spawn_inspect_image, spawn_open_model,
};
use crate::worker::{Waker, Worker};

/// Columns of the batch table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Path,
    Verdict,
    Score,
    Iterations,
    Time,
}

pub struct Inspect {
    pub(super) run_dir: String,
    pub(super) data_dir: String,
    pub(super) image_path: String,
    folder: String,
    iterations: usize,
    seed_mode: bool,
    seed: u64,
    lambda: f32,
    opacity: f32,
    model: Option<ModelInfo>,
    inspector: Option<SharedInspector>,
    /// Opening a run.
    loading: Option<Worker<InspectEvent>>,
    /// Inspecting one image.
    running: Option<Worker<InspectEvent>>,
    /// Inspecting a folder.
    batch: Option<Worker<InspectEvent>>,
    /// An image to inspect once the model being opened is there.
    pending_image: Option<PathBuf>,
    /// Recorded frames of the current descent.
    frames: Vec<RecordedFrame>,
    /// Frame shown (index into `frames`).
    cursor: usize,
    playing: bool,
    follow_live: bool,
    report: Option<ImageReport>,
    rows: Vec<ImageReport>,
    sort: (SortBy, bool),
    message: Option<String>,
    image: Vec<f32>,
    waker: Waker,
    textures: [Option<TextureHandle>; 3],
    shown: Option<(usize, usize, f32)>,
    last_advance: Instant,
    dataset_samples: Vec<(String, PathBuf)>,
}

impl Inspect {
    pub fn new(waker: Waker) -> Self {
        Self {
            run_dir: "runs/gan".into(),
            data_dir: String::new(),
            image_path: String::new(),
            folder: String::new(),
            iterations: DescentConfig::default().max_iterations,
            seed_mode: false,
            seed: 0,
            lambda: DescentConfig::default().lambda,
            opacity: DEFAULT_OPACITY,
            model: None,
            inspector: None,
            loading: None,
            running: None,
            batch: None,
            pending_image: None,
            frames: Vec::new(),
            cursor: 0,
            playing: false,
            follow_live: true,
            report: None,
            rows: Vec::new(),
            sort: (SortBy::Score, true),
            message: None,
            image: Vec::new(),
            waker,
            textures: [None, None, None],
            shown: None,
            last_advance: Instant::now(),
            dataset_samples: Vec::new(),
        }
    }

    /// The run or checkpoint folder the model is loaded from.
    pub fn run_dir(&self) -> &str {
        &self.run_dir
    }

    pub fn set_run_dir(&mut self, dir: &str) {
        self.run_dir = dir.to_string();
    }

    /// The dataset that calibrates the model and names its parts.
    pub fn data_dir(&self) -> &str {
        &self.data_dir
    }

    pub fn set_data_dir(&mut self, dir: &str) {
        self.data_dir = dir.to_string();
    }

    pub fn set_image_path(&mut self, path: &str) {
        self.image_path = path.to_string();
    }

    /// The descent budget the next inspection uses.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    pub fn set_iterations(&mut self, iterations: usize) {
        self.iterations = iterations;
    }

    /// The loaded model.
    pub fn model(&self) -> Option<&ModelInfo> {
        self.model.as_ref()
    }

    /// The last image's result.
    pub fn report(&self) -> Option<&ImageReport> {
        self.report.as_ref()
    }

    /// The recorded iterations of the last descent.
    pub fn frames(&self) -> &[RecordedFrame] {
        &self.frames
    }

    /// Shows recorded frame `n` (the last when there are fewer) and stops following the live
    /// one, as a click on the scrubber does.
    pub fn show_frame(&mut self, n: usize) {
        if self.frames.is_empty() {
            return;
        }
        let n = n.min(self.frames.len() - 1);
        if self.cursor != n {
            self.cursor = n;
            self.playing = false;
            self.follow_live = false;
        }
    }

    /// The recorded iteration shown.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The folder's results so far.
    pub fn rows(&self) -> &[ImageReport] {
        &self.rows
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Whether a model is being opened.
    pub fn loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Whether one image is being inspected.
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    pub fn busy(&self) -> bool {
        self.loading.is_some() || self.running.is_some() || self.batch.is_some()
    }

    fn descent(&self) -> DescentConfig {
        let base = self
            .model
            .as_ref()
            .and_then(|m| m.calibration.as_ref())
            .map_or_else(DescentConfig::default, |c| c.descent);
        DescentConfig {
            start: if self.seed_mode {
                StartMode::Seed { seed: self.seed }
            } else {
                StartMode::Encoder
            },
            lambda: self.lambda,
            // With a detector that renders the product, the budget is its refinement's.
            max_iterations: if self.renders() {
                base.max_iterations
            } else {
                self.iterations
            },
            ..base
        }
    }

    /// Whether the loaded calibration compares each image with the product rendered at its
    /// refined pose (the budget then counts refinement rounds, the frames its poses).
    fn renders(&self) -> bool {
        self.model
            .as_ref()
            .and_then(|m| m.calibration.as_ref())
            .is_some_and(crate::inspect::Calibration::needs_synthesis)
    }

    /// Whether the calibrated detector runs the model (alone or fused); before calibration it
    /// does.
    fn uses_model(&self) -> bool {
        self.model
            .as_ref()
            .and_then(|m| m.calibration.as_ref())
            .is_none_or(|c| c.fusion.is_some() || c.score.against == crate::inspect::Against::Model)
    }

    /// Whether the calibrated detector compares with the nearest training renders.
    fn looks_up(&self) -> bool {
        self.model
            .as_ref()
            .and_then(|m| m.calibration.as_ref())
            .is_some_and(|c| c.region_settings().against == crate::inspect::Against::Lookup)
    }

    /// The refinement budget to inspect with, when the detector renders the product.
    fn refine_rounds(&self) -> Option<usize> {
        self.renders().then_some(self.iterations)
    }

    /// Opens the run (or checkpoint) folder on a worker, fitting thresholds on the dataset
    /// when needed; an image waiting for it is inspected once it is open.
    pub fn load_model(&mut self, device: &SelectedDevice) {
        let data = self.data_dir.trim();
        let options = OpenOptions {
            run_dir: PathBuf::from(self.run_dir.trim()),
            data: (!data.is_empty()).then(|| PathBuf::from(data)),
            settings: InspectorSettings::default(),
            recalibrate: false,
            save_calibration: true,
        };
        match spawn_open_model(options, device.clone(), self.waker.clone()) {
            Ok(worker) => {
                self.loading = Some(worker);
                self.message = Some("loading the model (fitting thresholds if needed)…".into());
            }
            Err(e) => self.message = Some(format!("cannot start the inspection worker: {e}")),
        }
    }

    /// Inspects `path` once the model being opened is there (at once when one is loaded).
    pub fn inspect_when_loaded(&mut self, path: &Path) {
        self.image_path = path.display().to_string();
        if self.loading.is_some() {
            self.pending_image = Some(path.to_path_buf());
        } else {
            self.inspect_file(path);
        }
    }

    /// Reads and inspects `path` with the live trace, on a worker.
    pub fn inspect_file(&mut self, path: &Path) {
        let Some(inspector) = &self.inspector else {
            self.message = Some("load a model first".into());
            return;
        };
        if self.busy() {
            self.message = Some("wait for the inspection under way".into());
            return;
        }
        self.image_path = path.display().to_string();
        self.image.clear();
        self.frames.clear();
        self.cursor = 0;
        self.report = None;
        self.shown = None;
        self.follow_live = true;
        let descent = self.descent();
        match spawn_inspect_image(
            inspector.clone(),
            path.to_path_buf(),
            descent,
            self.refine_rounds(),
            self.waker.clone(),
        ) {
            Ok(worker) => self.running = Some(worker),
            Err(e) => self.message = Some(format!("cannot start the inspection worker: {e}")),
        }
    }

    fn start_batch(&mut self) {
        let Some(inspector) = &self.inspector else {
            self.message = Some("load a model first".into());
            return;
        };
        let descent = DescentConfig {
            batch_size: 32,
            ..self.descent()
        };
        let folder = PathBuf::from(self.folder.trim());
        match spawn_inspect_folder(
            inspector.clone(),
            folder,
            descent,
            self.refine_rounds(),
            self.waker.clone(),
        ) {
            Ok(worker) => {
                self.rows.clear();
                self.batch = Some(worker);
            }
            Err(e) => self.message = Some(format!("cannot start the inspection worker: {e}")),
        }
    }

    /// Takes the workers' events; called every frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        self.poll_loading();
        self.poll_image();
        self.poll_batch();
        if self.playing && !self.frames.is_empty() {
            if self.last_advance.elapsed() >= Duration::from_millis(120) {
                self.last_advance = Instant::now();
                if self.cursor + 1 < self.frames.len() {
                    self.cursor += 1;
                } else {
                    self.playing = false;
                }
            }
            ctx.request_repaint_after(Duration::from_millis(30));
        }
        self.update_textures(ctx);
    }

    fn poll_loading(&mut self) {
        let Some(worker) = &self.loading else { return };
        let Ok(event) = worker.events().try_recv() else {
            return;
        };
        self.loading = None;
        match event {
            InspectEvent::Loaded(loaded) => {
                let info = loaded.info;
                self.message = Some(info.notes.join("\n"));
                if let Some(data) = &info.data {
                    self.data_dir = data.display().to_string();
                }
                self.dataset_samples = loaded.test_images;
                self.iterations = info.calibration.as_ref().map_or(self.iterations, |c| {
                    match (&c.refine, c.needs_synthesis()) {
                        (Some(r), true) => r.rounds,
                        _ => c.descent.max_iterations,
                    }
                });
                self.model = Some(info);
                self.inspector = Some(loaded.inspector);
                if let Some(path) = self.pending_image.take() {
                    self.inspect_file(&path);
                }
            }
            InspectEvent::Failed(message) => {
                self.pending_image = None;
                self.message = Some(message);
            }
            other => self.message = Some(format!("unexpected {other:?}")),
        }
    }

    fn poll_image(&mut self) {
        let Some(worker) = &self.running else { return };
        let mut ended = false;
        for event in worker.try_iter() {
            match event {
                InspectEvent::Input { image, .. } => self.image = image,
                InspectEvent::Frame(frame) => {
                    self.frames.push(frame);
                    if self.follow_live {
                        self.cursor = self.frames.len() - 1;
                    }
                }
                InspectEvent::Report(report) => {
                    if let Some(e) = &report.error {
                        self.message = Some(e.clone());
                    }
                    self.report = Some(*report);
                    ended = true;
                }
                InspectEvent::Failed(message) => {
                    self.message = Some(message);
                    ended = true;
                }
                _ => {}
            }
        }
        if ended {
            self.running = None;
        }
    }

    fn poll_batch(&mut self) {
        let Some(worker) = &self.batch else { return };
        let mut ended = false;
        for event in worker.try_iter() {
            match event {
                InspectEvent::Row(report) => self.rows.push(*report),
                InspectEvent::FolderDone { .. } => ended = true,
                InspectEvent::Failed(message) => {
                    self.message = Some(message);
                    ended = true;
                }
                _ => {}
            }
        }
        if ended {
            self.batch = None;
            self.sort_rows();
        }
    }

    fn update_textures(&mut self, ctx: &egui::Context) {
        let Some(model) = &self.model else { return };
        let Some(frame) = self.frames.get(self.cursor) else {
            return;
        };
        let key = (self.cursor, self.frames.len(), self.opacity);
        if self.shown == Some(key) {
            return;
        }
        self.shown = Some(key);
        let (size, channels) = (model.size, model.channels);
        let pixel_threshold = model
            .calibration
            .as_ref()
            .map_or(f32::INFINITY, |c| c.pixel_threshold);
        let scale = heat_scale(&frame.map, pixel_threshold);
        set_texture(
            ctx,
            &mut self.textures[0],
            "inspect-input",
            image_from_values(&self.image, size, channels),
        );
        set_texture(
            ctx,
            &mut self.textures[1],
            "inspect-reconstruction",
            image_from_values(&frame.reference, size, channels),
        );
        set_texture(
            ctx,
            &mut self.textures[2],
            "inspect-heatmap",
            egui::ColorImage::from_rgb(
                [size, size],
                &heat_overlay(&self.image, &frame.map, size, channels, scale, self.opacity),
            ),
        );
    }

    fn sort_rows(&mut self) {
        let (by, descending) = self.sort;
        self.rows.sort_by(|a, b| {
            let order = match by {
                SortBy::Path => a.path.cmp(&b.path),
                SortBy::Verdict => a.verdict.as_str().cmp(b.verdict.as_str()),
                SortBy::Score => a.score.total_cmp(&b.score),
                SortBy::Iterations => a.iterations.cmp(&b.iterations),
                SortBy::Time => a.time_ms.total_cmp(&b.time_ms),
            };
            if descending { order.reverse() } else { order }
        });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, device: &SelectedDevice) {
        egui::Panel::left("inspect-controls")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui, device));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.results_ui(ui));
        });
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, device: &SelectedDevice) {
        ui.heading("Model");
        path_row_ui(ui, "Run", &mut self.run_dir, true);
        path_row_ui(ui, "Dataset", &mut self.data_dir, true);
        if ui
            .add_enabled(self.loading.is_none(), egui::Button::new("Load model"))
            .clicked()
        {
            self.load_model(device);
        }
        if let Some(m) = &self.model {
            ui.label(format!("{} {}×{} step {}", m.kind, m.size, m.size, m.step));
            if let Some(c) = &m.calibration {
                let budget = match (&c.refine, c.needs_synthesis()) {
                    (Some(r), true) => format!("{} refinement rounds", r.rounds),
                    _ => format!("{} iterations", c.descent.max_iterations),
                };
                ui.label(format!(
                    "{} detector, score {}: review ≥ {:.4}, defect ≥ {:.4} ({}; fitted at {budget})",
                    c.detector(),
                    c.scoring_name(),
                    c.review_threshold,
                    c.defect_threshold,
                    c.defect_rule,
                ));
            }
        }
        ui.separator();
        if self.renders() {
            ui.heading("Pose refinement");
            ui.add(egui::Slider::new(&mut self.iterations, 0..=60).text("Rounds"))
                .on_hover_text(
                    "Render rounds each image's pose refinement may take: the good product is \
                     rendered at a candidate pose and turned until it matches the image",
                );
        } else {
            ui.heading("Descent");
            ui.add(egui::Slider::new(&mut self.iterations, 0..=300).text("Iterations"));
        }
        // The latent descent's own settings, when the detector runs the model at all.
        if self.uses_model() {
            ui.horizontal(|ui| {
                ui.radio_value(&mut self.seed_mode, false, "Start from E(x)");
                ui.radio_value(&mut self.seed_mode, true, "Start from a seed");
            });
            if self.seed_mode {
                ui.add(egui::DragValue::new(&mut self.seed).prefix("seed "))
                    .on_hover_text("Seed of the start code");
            }
            ui.add(egui::Slider::new(&mut self.lambda, 0.0..=1.0).text("λ (feature weight)"));
        }
        ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("Heatmap opacity"));
        ui.separator();
        ui.heading("Image");
        let ready = self.model.is_some() && !self.busy();
        path_row_ui(ui, "File", &mut self.image_path, false);
        if ui
            .add_enabled(ready, egui::Button::new("Inspect image"))
            .clicked()
        {
            let path = PathBuf::from(self.image_path.trim());
            self.inspect_file(&path);
        }
        if !self.dataset_samples.is_empty() {
            let mut pick = None;
            egui::ComboBox::from_label("From the dataset")
                .selected_text("test image…")
                .height(300.0)
                .show_ui(ui, |ui| {
                    for (label, path) in &self.dataset_samples {
                        if ui.selectable_label(false, label).clicked() {
                            pick = Some(path.clone());
                        }
                    }
                });
            if let Some(path) = pick
                && ready
            {
                self.inspect_file(&path);
            }
        }
        ui.separator();
        ui.heading("Batch");
        path_row_ui(ui, "Folder", &mut self.folder, true);
        if ui
            .add_enabled(ready, egui::Button::new("Inspect every image"))
            .clicked()
        {
            self.start_batch();
        }
        if let Some(batch) = &self.batch {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("{} done", self.rows.len()));
                if ui.button("Cancel").clicked() {
                    batch.cancel();
                }
            });
        }
        if let Some(m) = &self.message {
            ui.separator();
            ui.label(m);
        }
    }

    fn results_ui(&mut self, ui: &mut egui::Ui) {
        let side = ((ui.available_width() - 40.0) / 3.0).clamp(128.0, 400.0);
        let size = self.model.as_ref().map_or(64, |m| m.size) as f32;
        ui.horizontal(|ui| {
            square_ui(ui, self.textures[0].as_ref(), side, "Input");
            square_ui(
                ui,
                self.textures[1].as_ref(),
                side,
                if self.renders() {
                    "Good product rendered at the pose (what the map compares with)"
                } else if self.looks_up() {
                    "Nearest training render (what the map compares with)"
                } else {
                    "Reconstruction (what the map compares with)"
                },
            );
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("Error heatmap").strong());
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
                match &self.textures[2] {
                    Some(t) => ui.painter().image(
                        t.id(),
                        rect,
                        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        Color32::WHITE,
                    ),
                    None => ui.painter().rect_filled(rect, 4.0, Color32::from_gray(30)),
                };
                let last = self.cursor + 1 == self.frames.len();
                if let (Some(report), true) = (&self.report, last) {
                    regions_ui(ui, rect, size, &report.regions);
                }
            });
        });
        self.playback_ui(ui);
        self.verdict_ui(ui);
        if !self.rows.is_empty() {
            ui.separator();
            self.table_ui(ui);
        }
    }

    fn playback_ui(&mut self, ui: &mut egui::Ui) {
        let n = self.frames.len();
        ui.horizontal(|ui| {
            let can = n > 0;
            if ui.add_enabled(can, egui::Button::new("First")).clicked() {
                self.cursor = 0;
                self.follow_live = false;
            }
            if ui
                .add_enabled(can && self.cursor > 0, egui::Button::new("Step back"))
                .clicked()
            {
                self.cursor -= 1;
                self.follow_live = false;
            }
            let label = if self.playing { "Pause" } else { "Play" };
            if ui.add_enabled(can, egui::Button::new(label)).clicked() {
                self.playing = !self.playing;
                self.follow_live = false;
                if self.playing && self.cursor + 1 >= n {
                    self.cursor = 0;
                }
            }
            if ui
                .add_enabled(
                    can && self.cursor + 1 < n,
                    egui::Button::new("Step forward"),
                )
                .clicked()
            {
                self.cursor += 1;
                self.follow_live = false;
            }
            if can {
                let mut c = self.cursor;
                if ui
                    .add(egui::Slider::new(&mut c, 0..=n - 1).text("frame"))
                    .changed()
                {
                    self.cursor = c;
                    self.follow_live = false;
                }
            }
            if let Some(f) = self.frames.get(self.cursor) {
                let unit = if self.renders() { "round" } else { "iteration" };
                if f.loss.is_finite() {
                    ui.label(format!("{unit} {} · loss {:.5}", f.iteration, f.loss));
                } else {
                    // The lookup computes no loss.
                    ui.label(format!("{unit} {}", f.iteration));
                }
            }
            if self.running.is_some() {
                ui.spinner();
            }
        });
        let losses: Vec<[f64; 2]> = self
            .frames
            .iter()
            .map(|f| [f.iteration as f64, f64::from(f.loss)])
            .collect();
        let marker = self.frames.get(self.cursor).map(|f| f.iteration as f64);
        // From iteration 0 and loss 0, so a descent of one frame (a budget of 0) still shows
        // its loss on a readable scale.
        let last = losses.last().map_or(1.0, |p| p[0].max(1.0));
        let top = losses
            .iter()
            .map(|p| p[1])
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        Plot::new("descent-loss")
            .height(150.0)
            .x_axis_label(if self.renders() { "round" } else { "iteration" })
            .y_axis_label(if self.renders() {
                "loss, full sharpness"
            } else {
                "descent loss"
            })
            .allow_scroll(false)
            .include_x(0.0)
            .include_x(last)
            .include_y(0.0)
            .include_y(if top > 0.0 { 1.1 * top } else { 1.0 })
            .show(ui, |plot| {
                plot.points(Points::new("losses", PlotPoints::from(losses.clone())).radius(2.5));
                plot.line(Line::new("loss", PlotPoints::from(losses)));
                if let Some(x) = marker {
                    plot.vline(VLine::new("shown", x));
                }
            });
    }

    fn verdict_ui(&self, ui: &mut egui::Ui) {
        let Some(report) = &self.report else { return };
        let colour = match report.verdict {
            Verdict::Pass => Color32::from_rgb(90, 200, 110),
            Verdict::Review => Color32::from_rgb(230, 190, 60),
            Verdict::Defect | Verdict::Error => Color32::from_rgb(235, 80, 70),
        };
        ui.horizontal(|ui| {
            ui.label(
                egui::RichText::new(report.verdict.as_str().to_uppercase())
                    .color(colour)
                    .size(22.0)
                    .strong(),
            );
            let thresholds = self
                .model
                .as_ref()
                .and_then(|m| m.calibration.as_ref())
                .map(|c| {
                    format!(
                        " (review ≥ {:.4}, defect ≥ {:.4})",
                        c.review_threshold, c.defect_threshold
                    )
                })
                .unwrap_or_default();
            ui.label(format!(
                "score {:.5} ({}){thresholds} · {} · {:.0} ms",
                report.score,
                report.score_kind.as_str(),
                match report.refine_rounds {
                    Some(rounds) => format!("{rounds} refinement rounds"),
                    None => format!("{} iterations", report.iterations),
                },
                report.time_ms
            ));
        });
        if let Some(e) = &report.error {
            ui.colored_label(colour, e);
        }
        for (i, r) in report.regions.iter().enumerate() {
            ui.label(format!("region {}: {}", i + 1, r.summary()));
        }
    }

    fn table_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(
            egui::RichText::new(format!("Batch results ({} images)", self.rows.len())).strong(),
        );
        let mut open = None;
        let mut resort = None;
        egui::Grid::new("batch-table").striped(true).show(ui, |ui| {
            for (label, by) in [
                ("file", SortBy::Path),
                ("verdict", SortBy::Verdict),
                ("score", SortBy::Score),
                ("iterations", SortBy::Iterations),
                ("ms", SortBy::Time),
            ] {
                let arrow = match self.sort {
                    (b, true) if b == by => " (desc)",
                    (b, false) if b == by => " (asc)",
                    _ => "",
                };
                if ui.button(format!("{label}{arrow}")).clicked() {
                    resort = Some(by);
                }
            }
            ui.label("part");
            ui.end_row();
            for row in self.rows.iter().take(500) {
                let name = row
                    .path
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
                if ui.link(name).clicked() {
                    open = row.path.clone();
                }
                ui.label(row.verdict.as_str());
                ui.label(format!("{:.5}", row.score));
                ui.label(row.iterations.to_string());
                ui.label(format!("{:.1}", row.time_ms));
                ui.label(
                    row.regions
                        .first()
                        .and_then(|r| r.part.clone())
                        .unwrap_or_default(),
                );
                ui.end_row();
            }
        });
        if let Some(by) = resort {
            self.sort = if self.sort.0 == by {
                (by, !self.sort.1)
            } else {
                (by, true)
            };
            self.sort_rows();
        }
        if let Some(path) = open {
            self.inspect_file(&path);
        }
    }
}

fn regions_ui(ui: &egui::Ui, rect: egui::Rect, size: f32, regions: &[Region]) {
    let scale = rect.width() / size;
    for r in regions {
        let [x0, y0, x1, y1] = r.bbox.map(|v| v as f32);
        let boxed = egui::Rect::from_min_max(
            rect.min + egui::vec2(x0 * scale, y0 * scale),
            rect.min + egui::vec2((x1 + 1.0) * scale, (y1 + 1.0) * scale),
        );
        ui.painter().rect_stroke(
            boxed,
            0.0,
            egui::Stroke::new(2.0, Color32::from_rgb(80, 230, 255)),
            egui::StrokeKind::Outside,
        );
        if let Some(part) = &r.part {
            ui.painter().text(
                boxed.left_top() - egui::vec2(0.0, 2.0),
                egui::Align2::LEFT_BOTTOM,
                part,
                egui::FontId::proportional(15.0),
                Color32::from_rgb(80, 230, 255),
            );
        }
    }
}
