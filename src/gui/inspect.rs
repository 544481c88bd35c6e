//! Inspect workspace: input | reconstruction | heatmap side by side, the latent descent played
//! live and recorded for scrubbing, regions with the part they lie on, verdicts, and a batch
//! mode over a folder with a sortable table.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, TextureHandle};
use egui_plot::{Line, Plot, PlotPoints, Points, VLine};

use super::util::{image_from_values, path_row, set_texture};
use crate::compute::SelectedDevice;
use crate::dataset::{Manifest, Split};
use crate::imaging::{DEFAULT_OPACITY, heat_overlay, heat_scale, images_in, read_image};
use crate::inspect::descent::{DescentConfig, StartMode, TraceFrame};
use crate::inspect::{
    Calibration, ImageReport, InspectorSettings, OpenOptions, Region, Verdict, open_inspector,
};

/// One recorded iteration of a descent.
#[derive(Debug, Clone)]
pub struct RecordedFrame {
    pub iteration: usize,
    pub loss: f32,
    pub reconstruction: Vec<f32>,
    pub map: Vec<f32>,
}

/// What the loaded model is.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub size: usize,
    pub channels: usize,
    pub step: u64,
    pub kind: String,
    pub calibration: Option<Calibration>,
    pub data: Option<PathBuf>,
    pub notes: Vec<String>,
}

enum Job {
    Load(OpenOptions),
    Inspect {
        image: Vec<f32>,
        path: Option<PathBuf>,
        descent: DescentConfig,
    },
    Batch {
        paths: Vec<PathBuf>,
        descent: DescentConfig,
    },
}

enum Event {
    Loaded(Box<ModelInfo>),
    Frame(RecordedFrame),
    Done(Box<ImageReport>),
    Row(Box<ImageReport>),
    BatchDone,
    Error(String),
}

/// The thread that owns the model: inspection never runs on the UI thread.
struct Worker {
    jobs: Sender<Job>,
    events: Receiver<Event>,
}

impl Worker {
    fn spawn(device: SelectedDevice, ctx: egui::Context) -> std::io::Result<Self> {
        let (jobs, job_rx) = channel::<Job>();
        let (tx, events) = channel::<Event>();
        std::thread::Builder::new()
            .name("unseen-inspect".into())
            .spawn(move || worker_loop(&device, &job_rx, &tx, &ctx))?;
        Ok(Self { jobs, events })
    }
}

fn worker_loop(
    device: &SelectedDevice,
    jobs: &Receiver<Job>,
    tx: &Sender<Event>,
    ctx: &egui::Context,
) {
    let mut inspector = None;
    let send = |event: Event| {
        let _ = tx.send(event);
        ctx.request_repaint();
    };
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Load(options) => match open_inspector(&options, &device.device) {
                Ok(opened) => {
                    let i = &opened.inspector;
                    send(Event::Loaded(Box::new(ModelInfo {
                        size: i.model.image_size(),
                        channels: i.model.channels(),
                        step: i.model.step,
                        kind: format!("{:?}", i.model.kind),
                        calibration: i.calibration.clone(),
                        data: opened.data.clone(),
                        notes: opened.notes.clone(),
                    })));
                    inspector = Some(opened.inspector);
                }
                Err(e) => send(Event::Error(e.to_string())),
            },
            Job::Inspect {
                image,
                path,
                descent,
            } => {
                let Some(inspector) = inspector.as_mut() else {
                    send(Event::Error("load a model first".into()));
                    continue;
                };
                inspector.settings.descent = DescentConfig {
                    batch_size: 1,
                    ..descent
                };
                // The heatmap of every frame is the map the regions are cut from.
                let shown = inspector.region_settings();
                let mut trace = |frame: &TraceFrame<'_>| {
                    let map = inspector
                        .maps(&image, &[frame.reconstruction], &shown)
                        .pop()
                        .unwrap_or_default();
                    send(Event::Frame(RecordedFrame {
                        iteration: frame.iteration,
                        loss: frame.loss,
                        reconstruction: frame.reconstruction.to_vec(),
                        map,
                    }));
                };
                let mut reports = inspector.inspect_images(&image, 1, Some(&mut trace));
                match reports.pop() {
                    Some(mut report) => {
                        report.path = path;
                        send(Event::Done(Box::new(report)));
                    }
                    None => send(Event::Error("the inspection returned nothing".into())),
                }
            }
            Job::Batch { paths, descent } => {
                let Some(inspector) = inspector.as_mut() else {
                    send(Event::Error("load a model first".into()));
                    continue;
                };
                inspector.settings.descent = descent;
                for chunk in paths.chunks(descent.batch_size.max(1)) {
                    for report in inspector.inspect_paths(chunk) {
                        send(Event::Row(Box::new(report)));
                    }
                }
                send(Event::BatchDone);
            }
        }
    }
}

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
    pub run_dir: String,
    pub data_dir: String,
    pub image_path: String,
    pub folder: String,
    pub iterations: usize,
    pub seed_mode: bool,
    pub seed: u64,
    pub lambda: f32,
    pub opacity: f32,
    pub model: Option<ModelInfo>,
    pub loading: bool,
    pub running: bool,
    /// Recorded frames of the current descent.
    pub frames: Vec<RecordedFrame>,
    /// Frame shown (index into `frames`).
    pub cursor: usize,
    pub playing: bool,
    pub follow_live: bool,
    pub report: Option<ImageReport>,
    pub rows: Vec<ImageReport>,
    pub batch_running: bool,
    pub sort: (SortBy, bool),
    pub message: Option<String>,
    image: Vec<f32>,
    worker: Option<Worker>,
    textures: [Option<TextureHandle>; 3],
    shown: Option<(usize, usize, f32)>,
    last_advance: Instant,
    dataset_samples: Vec<(String, PathBuf)>,
}

impl Inspect {
    pub fn new() -> Self {
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
            loading: false,
            running: false,
            frames: Vec::new(),
            cursor: 0,
            playing: false,
            follow_live: true,
            report: None,
            rows: Vec::new(),
            batch_running: false,
            sort: (SortBy::Score, true),
            message: None,
            image: Vec::new(),
            worker: None,
            textures: [None, None, None],
            shown: None,
            last_advance: Instant::now(),
            dataset_samples: Vec::new(),
        }
    }

    pub fn busy(&self) -> bool {
        self.loading || self.running || self.batch_running
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
            max_iterations: self.iterations,
            ..base
        }
    }

    fn worker(&mut self, device: &SelectedDevice, ctx: &egui::Context) -> Option<&Worker> {
        if self.worker.is_none() {
            match Worker::spawn(device.clone(), ctx.clone()) {
                Ok(w) => self.worker = Some(w),
                Err(e) => self.message = Some(format!("cannot start the inspection thread: {e}")),
            }
        }
        self.worker.as_ref()
    }

    pub fn load_model(&mut self, device: &SelectedDevice, ctx: &egui::Context) {
        let data = self.data_dir.trim();
        let options = OpenOptions {
            run_dir: super::super::inspect::open::run_dir_of(Path::new(self.run_dir.trim())),
            data: (!data.is_empty()).then(|| PathBuf::from(data)),
            settings: InspectorSettings::default(),
            recalibrate: false,
            save_calibration: true,
        };
        if let Some(worker) = self.worker(device, ctx) {
            let _ = worker.jobs.send(Job::Load(options));
            self.loading = true;
            self.message = Some("loading the model (fitting thresholds if needed)…".into());
        }
    }

    /// Reads `path` and inspects it with the live trace.
    pub fn inspect_file(&mut self, path: &Path, device: &SelectedDevice, ctx: &egui::Context) {
        let Some(model) = &self.model else {
            self.message = Some("load a model first".into());
            return;
        };
        match read_image(path, model.size, model.channels) {
            Ok(values) => {
                self.image_path = path.display().to_string();
                self.image = values.clone();
                self.frames.clear();
                self.cursor = 0;
                self.report = None;
                self.shown = None;
                self.follow_live = true;
                let descent = self.descent();
                if let Some(worker) = self.worker(device, ctx) {
                    let _ = worker.jobs.send(Job::Inspect {
                        image: values,
                        path: Some(path.to_path_buf()),
                        descent,
                    });
                    self.running = true;
                }
            }
            Err(e) => {
                self.message = Some(e.to_string());
                self.report = Some(error_report(path, &e.to_string()));
            }
        }
    }

    fn start_batch(&mut self, device: &SelectedDevice, ctx: &egui::Context) {
        let folder = PathBuf::from(self.folder.trim());
        match images_in(&folder) {
            Ok(paths) if !paths.is_empty() => {
                let descent = DescentConfig {
                    batch_size: 32,
                    ..self.descent()
                };
                if let Some(worker) = self.worker(device, ctx) {
                    let _ = worker.jobs.send(Job::Batch { paths, descent });
                    self.rows.clear();
                    self.batch_running = true;
                }
            }
            Ok(_) => {
                self.message = Some(format!("{} holds no PNG or JPEG images", folder.display()))
            }
            Err(e) => self.message = Some(e.to_string()),
        }
    }

    /// Takes the worker's events; called every frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        let Some(worker) = &self.worker else { return };
        let mut events = Vec::new();
        while let Ok(e) = worker.events.try_recv() {
            events.push(e);
        }
        for event in events {
            match event {
                Event::Loaded(info) => {
                    self.loading = false;
                    self.message = Some(info.notes.join("\n"));
                    if let Some(data) = &info.data {
                        self.data_dir = data.display().to_string();
                        self.dataset_samples = test_samples(data);
                    }
                    self.iterations = info
                        .calibration
                        .as_ref()
                        .map_or(self.iterations, |c| c.descent.max_iterations);
                    self.model = Some(*info);
                }
                Event::Frame(frame) => {
                    self.frames.push(frame);
                    if self.follow_live {
                        self.cursor = self.frames.len() - 1;
                    }
                }
                Event::Done(report) => {
                    self.running = false;
                    self.report = Some(*report);
                }
                Event::Row(report) => self.rows.push(*report),
                Event::BatchDone => {
                    self.batch_running = false;
                    self.sort_rows();
                }
                Event::Error(message) => {
                    self.loading = false;
                    self.running = false;
                    self.batch_running = false;
                    self.message = Some(message);
                }
            }
        }
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
            image_from_values(&frame.reconstruction, size, channels),
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
                egui::ScrollArea::vertical().show(ui, |ui| self.controls(ui, device));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.results(ui, device));
        });
    }

    fn controls(&mut self, ui: &mut egui::Ui, device: &SelectedDevice) {
        let ctx = ui.ctx().clone();
        ui.heading("Model");
        path_row(ui, "Run", &mut self.run_dir, true);
        path_row(ui, "Dataset", &mut self.data_dir, true);
        if ui
            .add_enabled(!self.loading, egui::Button::new("Load model"))
            .clicked()
        {
            self.load_model(device, &ctx);
        }
        if let Some(m) = &self.model {
            ui.label(format!("{} {}×{} step {}", m.kind, m.size, m.size, m.step));
            if let Some(c) = &m.calibration {
                ui.label(format!(
                    "score {}: review ≥ {:.4}, defect ≥ {:.4} ({}; fitted at {} iterations)",
                    c.scoring_name(),
                    c.review_threshold,
                    c.defect_threshold,
                    c.defect_rule,
                    c.descent.max_iterations
                ));
            }
        }
        ui.separator();
        ui.heading("Descent");
        ui.add(egui::Slider::new(&mut self.iterations, 0..=300).text("Iterations"));
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.seed_mode, false, "Start from E(x)");
            ui.radio_value(&mut self.seed_mode, true, "Start from a seed");
        });
        if self.seed_mode {
            ui.add(egui::DragValue::new(&mut self.seed).prefix("seed "))
                .on_hover_text("Seed of the start code");
        }
        ui.add(egui::Slider::new(&mut self.lambda, 0.0..=1.0).text("λ (feature weight)"));
        ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("Heatmap opacity"));
        ui.separator();
        ui.heading("Image");
        let ready = self.model.is_some() && !self.busy();
        path_row(ui, "File", &mut self.image_path, false);
        if ui
            .add_enabled(ready, egui::Button::new("Inspect image"))
            .clicked()
        {
            let path = PathBuf::from(self.image_path.trim());
            self.inspect_file(&path, device, &ctx);
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
                self.inspect_file(&path, device, &ctx);
            }
        }
        ui.separator();
        ui.heading("Batch");
        path_row(ui, "Folder", &mut self.folder, true);
        if ui
            .add_enabled(ready, egui::Button::new("Inspect every image"))
            .clicked()
        {
            self.start_batch(device, &ctx);
        }
        if self.batch_running {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("{} done", self.rows.len()));
            });
        }
        if let Some(m) = &self.message {
            ui.separator();
            ui.label(m);
        }
    }

    fn results(&mut self, ui: &mut egui::Ui, device: &SelectedDevice) {
        let side = ((ui.available_width() - 40.0) / 3.0).clamp(128.0, 400.0);
        let size = self.model.as_ref().map_or(64, |m| m.size) as f32;
        ui.horizontal(|ui| {
            super::util::show_square(ui, self.textures[0].as_ref(), side, "Input");
            super::util::show_square(
                ui,
                self.textures[1].as_ref(),
                side,
                "Reconstruction (nearest good product)",
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
                    draw_regions(ui, rect, size, &report.regions);
                }
            });
        });
        self.playback(ui);
        self.verdict(ui);
        if !self.rows.is_empty() {
            ui.separator();
            self.table(ui, device);
        }
    }

    fn playback(&mut self, ui: &mut egui::Ui) {
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
                    .add(egui::Slider::new(&mut c, 0..=n - 1).text("iteration"))
                    .changed()
                {
                    self.cursor = c;
                    self.follow_live = false;
                }
            }
            if let Some(f) = self.frames.get(self.cursor) {
                ui.label(format!("iteration {} · loss {:.5}", f.iteration, f.loss));
            }
            if self.running {
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
            .x_axis_label("iteration")
            .y_axis_label("descent loss")
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

    fn verdict(&self, ui: &mut egui::Ui) {
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
                "score {:.5} ({}){thresholds} · {} iterations · {:.0} ms",
                report.score,
                report.score_kind.as_str(),
                report.iterations,
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

    fn table(&mut self, ui: &mut egui::Ui, device: &SelectedDevice) {
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
            let ctx = ui.ctx().clone();
            self.inspect_file(&path, device, &ctx);
        }
    }
}

impl Default for Inspect {
    fn default() -> Self {
        Self::new()
    }
}

fn draw_regions(ui: &egui::Ui, rect: egui::Rect, size: f32, regions: &[Region]) {
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

fn error_report(path: &Path, message: &str) -> ImageReport {
    ImageReport {
        path: Some(path.to_path_buf()),
        verdict: Verdict::Error,
        score: f32::NAN,
        score_kind: crate::inspect::ScoreKind::default(),
        loss: f32::NAN,
        initial_loss: f32::NAN,
        iterations: 0,
        time_ms: 0.0,
        regions: Vec::new(),
        error: Some(message.to_string()),
        image: Vec::new(),
        reconstruction: Vec::new(),
        map: Vec::new(),
        mask: Vec::new(),
    }
}

/// `(label, path)` of the test images of a dataset, for the picker.
fn test_samples(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(manifest) = Manifest::load_dir(dir) else {
        return Vec::new();
    };
    manifest
        .samples_of(Split::Test)
        .map(|s| {
            (
                format!("{} {:04}", s.id.class, s.id.index),
                dir.join(&s.image),
            )
        })
        .collect()
}
