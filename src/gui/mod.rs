//! The workbench: an eframe app on wgpu with four workspaces (Design, Train, Inspect,
//! Evaluate). The window's wgpu device draws the UI; the renderer (previews, generation) and
//! burn (on a real GPU) use devices of their own, because wgpu 30 fails a surface reconfigure
//! while another thread submits to the window's device (see [`Workbench::new`]). On a software
//! adapter burn computes on its CPU backend, which is faster there.
//!
//! Every long task and every file read or written runs on a worker ([`crate::worker`]); the UI
//! thread only takes their events. Workspaces ask for things outside themselves with an
//! [`Action`], which the workbench applies in one place once the frame is drawn. The
//! [`demo`] banner offers a new user the quick demo, so every workspace has a real model,
//! dataset and report to show within minutes.

pub mod action;
pub mod demo;
pub mod design;
pub mod evaluate;
pub mod inspect;
pub mod photo_fit;
pub mod train;
pub mod util;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eframe::egui;
use serde::{Deserialize, Serialize};

pub use action::Action;

use crate::compute::{ComputeDevice, SelectedDevice, select_device};
use crate::eval::demo::DemoPlan;
use crate::render::Gpu;

/// The four workspaces, in workflow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Workspace {
    #[default]
    Design,
    Train,
    Inspect,
    Evaluate,
}

/// Seconds a `--screenshot` waits for the workspace to have something to show before it saves
/// the window as it is.
const SCREENSHOT_DEADLINE_S: f64 = 600.0;

impl Workspace {
    pub const ALL: [Workspace; 4] = [Self::Design, Self::Train, Self::Inspect, Self::Evaluate];

    pub fn title(self) -> &'static str {
        match self {
            Self::Design => "Design",
            Self::Train => "Train",
            Self::Inspect => "Inspect",
            Self::Evaluate => "Evaluate",
        }
    }
}

/// What the workbench opens with: the options of `unseen gui` (the command line's side is
/// `cli::gui`).
#[derive(Debug, Clone)]
pub struct GuiOptions {
    /// Where models train and inspect: auto = the window's GPU when it is a real one, the CPU
    /// backend on a software adapter.
    pub device: ComputeDevice,
    /// Open on this workspace.
    pub workspace: Option<Workspace>,
    /// Dataset folder for Train (and Inspect's calibration and part names).
    pub data: Option<PathBuf>,
    /// Run folder for Train, Inspect and Evaluate.
    pub run: Option<PathBuf>,
    /// An image for Inspect (inspected as soon as the model is loaded).
    pub image: Option<PathBuf>,
    /// A report.json for Evaluate.
    pub report: Option<PathBuf>,
    /// A recipe for Design (with the product it names, an imported one included).
    pub recipe: Option<PathBuf>,
    /// Start the workspace's main task at once (generate, train, inspect).
    pub start: bool,
    /// Save a screenshot of the window to this file once the workspace has something to show
    /// and at least `screenshot_after` seconds have passed, then close.
    pub screenshot: Option<PathBuf>,
    pub screenshot_after: f64,
    /// Print frame-time statistics on exit.
    pub frame_stats: bool,
    /// Window size in points.
    pub width: f32,
    pub height: f32,
    /// Run the quick demo at once (as its button does); a screenshot then waits for it.
    pub quick_demo: bool,
    /// Where the quick demo writes (default: the platform's data folder, see
    /// [`demo::default_demo_dir`]).
    pub demo_dir: Option<PathBuf>,
    /// Once an inspection has ended, show its recorded frame N (0 = the start) instead of
    /// the last: a screenshot mid-descent or mid-refinement.
    pub inspect_frame: Option<usize>,
    /// Fit Design's scene to the good photos of this folder at once (a screenshot then waits
    /// for the fit).
    pub fit_photos: Option<PathBuf>,
}

impl Default for GuiOptions {
    /// The same values as `unseen gui` with no options.
    fn default() -> Self {
        Self {
            device: ComputeDevice::Auto,
            workspace: None,
            data: None,
            run: None,
            image: None,
            report: None,
            recipe: None,
            start: false,
            screenshot: None,
            screenshot_after: 3.0,
            frame_stats: false,
            width: 1500.0,
            height: 940.0,
            quick_demo: false,
            demo_dir: None,
            inspect_frame: None,
            fit_photos: None,
        }
    }
}

/// Opens the workbench window.
pub fn run_gui(options: GuiOptions) -> anyhow::Result<()> {
    let wgpu_setup =
        eframe::egui_wgpu::WgpuSetup::CreateNew(eframe::egui_wgpu::WgpuSetupCreateNew {
            device_descriptor: Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
                label: Some("unseen workbench device"),
                required_limits: wgpu::Limits {
                    max_texture_dimension_2d: 8192,
                    ..wgpu::Limits::default().using_resolution(adapter.limits())
                },
                ..Default::default()
            }),
            ..eframe::egui_wgpu::WgpuSetupCreateNew::without_display_handle()
        });
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("unseen workbench")
            .with_inner_size([options.width, options.height]),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            wgpu_setup,
            ..Default::default()
        },
        persist_window: options.screenshot.is_none(),
        ..Default::default()
    };
    let stats = options.frame_stats;
    let timing = Arc::new(std::sync::Mutex::new(FrameTimes::default()));
    let timing_out = timing.clone();
    eframe::run_native(
        "unseen",
        native_options,
        Box::new(move |cc| Ok(Box::new(Workbench::new(cc, options, Some(timing))))),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the workbench window: {e}. Is a display available (DISPLAY or WAYLAND_DISPLAY)? \
             The command-line tools (render, train, inspect, eval, demo) need none; under CI run the \
             window in xvfb-run."
        )
    })?;
    if stats && let Ok(t) = timing_out.lock() {
        eprintln!("{}", t.summary());
    }
    Ok(())
}

/// Frame intervals, split by whether training was running.
#[derive(Debug, Default, Clone)]
pub struct FrameTimes {
    pub idle_ms: Vec<f64>,
    pub training_ms: Vec<f64>,
}

impl FrameTimes {
    pub fn summary(&self) -> String {
        let describe = |label: &str, v: &[f64]| {
            if v.is_empty() {
                return format!("{label}: no frames");
            }
            let mut s = v.to_vec();
            s.sort_by(f64::total_cmp);
            let mean = s.iter().sum::<f64>() / s.len() as f64;
            let p95 = s[(s.len() as f64 * 0.95) as usize].min(s[s.len() - 1]);
            format!(
                "{label}: {} frames, mean {mean:.1} ms, p95 {p95:.1} ms, max {:.1} ms",
                s.len(),
                s[s.len() - 1]
            )
        };
        format!(
            "frame times (ui + paint): {}; {}",
            describe("idle", &self.idle_ms),
            describe("while training", &self.training_ms)
        )
    }
}

/// What the workbench remembers between sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Remembered {
    workspace: Workspace,
    recipe_path: String,
    dataset_out: String,
    train_data: String,
    train_run: String,
    inspect_run: String,
    inspect_data: String,
    eval_run: String,
    eval_compare: String,
    eval_data: String,
    eval_out: String,
    demo_out: String,
}

const STORAGE_KEY: &str = "unseen-workbench";

pub struct Workbench {
    workspace: Workspace,
    design: design::Design,
    train: train::Train,
    inspect: inspect::Inspect,
    evaluate: evaluate::Evaluate,
    demo: demo::QuickDemo,
    /// The renderer's device (previews, generation, the demo's renders).
    gpu: Option<Gpu>,
    compute: SelectedDevice,
    adapter_text: String,
    status: Option<String>,
    /// What the workspaces asked for this frame, applied once it is drawn.
    actions: Vec<Action>,
    options: GuiOptions,
    started: Instant,
    last_frame: Option<Instant>,
    /// The last frame interval, in milliseconds.
    frame_ms: f64,
    timing: Option<Arc<std::sync::Mutex<FrameTimes>>>,
    screenshot_requested: bool,
    screenshot_done: Arc<AtomicBool>,
    auto_started: bool,
}

impl Workbench {
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        options: GuiOptions,
        timing: Option<Arc<std::sync::Mutex<FrameTimes>>>,
    ) -> Self {
        let ctx = cc.egui_ctx.clone();
        ctx.set_visuals(egui::Visuals::dark());
        // The window's device draws the UI only. wgpu 30 refuses to reconfigure a surface
        // (on every resize) while another thread submits to the same device, and fails the
        // whole window; so previews, dataset generation and burn each get their own device.
        let window_adapter = cc.wgpu_render_state.as_ref().map(|rs| {
            Gpu::from_parts(rs.adapter.clone(), rs.device.clone(), rs.queue.clone()).describe()
        });
        let (gpu, render_note) = match Gpu::headless() {
            Ok(gpu) => (Some(gpu), None),
            Err(e) => (None, Some(format!("previews unavailable: {e}"))),
        };
        let (compute, compute_note) = choose_compute(gpu.as_ref(), options.device);
        let adapter_text = window_adapter.unwrap_or_else(|| "no wgpu adapter".to_string());
        let waker = util::repaint_waker(&ctx);
        let mut app = Self {
            workspace: Workspace::Design,
            design: design::Design::new(gpu.clone(), waker.clone()),
            train: train::Train::new(waker.clone()),
            inspect: inspect::Inspect::new(waker.clone()),
            evaluate: evaluate::Evaluate::new(waker.clone()),
            demo: demo::QuickDemo::new(waker),
            gpu,
            compute,
            adapter_text,
            status: render_note.or(compute_note),
            actions: Vec::new(),
            options: options.clone(),
            started: Instant::now(),
            last_frame: None,
            frame_ms: 0.0,
            timing,
            screenshot_requested: false,
            screenshot_done: Arc::new(AtomicBool::new(false)),
            auto_started: false,
        };
        if let Some(storage) = cc.storage
            && options.screenshot.is_none()
            && let Some(r) = eframe::get_value::<Remembered>(storage, STORAGE_KEY)
        {
            app.restore(&r);
        }
        app.apply_options(&options);
        // The banner invites the quick demo while none of the workspaces' runs is trained.
        let runs = [
            &app.train.run_dir,
            &app.inspect.run_dir,
            &app.evaluate.run_dir,
        ]
        .map(|r| PathBuf::from(r.trim()));
        app.demo.probe(runs.to_vec());
        app
    }

    /// The workspace shown.
    pub fn workspace(&self) -> Workspace {
        self.workspace
    }

    pub fn set_workspace(&mut self, workspace: Workspace) {
        self.workspace = workspace;
    }

    /// The window's adapter, as the status bar names it.
    pub fn adapter_text(&self) -> &str {
        &self.adapter_text
    }

    /// Where models train and inspect.
    pub fn compute(&self) -> &SelectedDevice {
        &self.compute
    }

    pub fn set_compute(&mut self, compute: SelectedDevice) {
        self.compute = compute;
    }

    pub fn design(&self) -> &design::Design {
        &self.design
    }

    pub fn design_mut(&mut self) -> &mut design::Design {
        &mut self.design
    }

    pub fn train(&self) -> &train::Train {
        &self.train
    }

    pub fn train_mut(&mut self) -> &mut train::Train {
        &mut self.train
    }

    pub fn inspect(&self) -> &inspect::Inspect {
        &self.inspect
    }

    pub fn inspect_mut(&mut self) -> &mut inspect::Inspect {
        &mut self.inspect
    }

    pub fn evaluate(&self) -> &evaluate::Evaluate {
        &self.evaluate
    }

    pub fn evaluate_mut(&mut self) -> &mut evaluate::Evaluate {
        &mut self.evaluate
    }

    /// The quick demo and its banner.
    pub fn quick_demo(&self) -> &demo::QuickDemo {
        &self.demo
    }

    /// The plan and folder of the quick demo the window offers (tests pass a tiny plan).
    pub fn set_quick_demo(&mut self, plan: DemoPlan, out: PathBuf) {
        self.demo.set(plan, out);
    }

    fn restore(&mut self, r: &Remembered) {
        self.workspace = r.workspace;
        let set = |target: &mut String, value: &String| {
            if !value.is_empty() {
                target.clone_from(value);
            }
        };
        set(&mut self.design.out_dir, &r.dataset_out);
        set(&mut self.train.data_dir, &r.train_data);
        set(&mut self.train.run_dir, &r.train_run);
        set(&mut self.inspect.run_dir, &r.inspect_run);
        set(&mut self.inspect.data_dir, &r.inspect_data);
        set(&mut self.evaluate.run_dir, &r.eval_run);
        set(&mut self.evaluate.compare_dir, &r.eval_compare);
        set(&mut self.evaluate.data_dir, &r.eval_data);
        set(&mut self.evaluate.out_dir, &r.eval_out);
        set(&mut self.demo.out, &r.demo_out);
        if !r.recipe_path.is_empty() {
            // A recipe that is gone since goes unsaid.
            self.design
                .open_recipe(std::path::Path::new(&r.recipe_path), true);
        }
    }

    fn remembered(&self) -> Remembered {
        Remembered {
            workspace: self.workspace,
            recipe_path: self.design.recipe_path.clone(),
            dataset_out: self.design.out_dir.clone(),
            train_data: self.train.data_dir.clone(),
            train_run: self.train.run_dir.clone(),
            inspect_run: self.inspect.run_dir.clone(),
            inspect_data: self.inspect.data_dir.clone(),
            eval_run: self.evaluate.run_dir.clone(),
            eval_compare: self.evaluate.compare_dir.clone(),
            eval_data: self.evaluate.data_dir.clone(),
            eval_out: self.evaluate.out_dir.clone(),
            demo_out: self.demo.out.clone(),
        }
    }

    fn apply_options(&mut self, options: &GuiOptions) {
        if let Some(w) = options.workspace {
            self.workspace = w;
        }
        if let Some(data) = &options.data {
            let d = data.display().to_string();
            self.train.data_dir.clone_from(&d);
            self.inspect.data_dir.clone_from(&d);
            self.design.out_dir = d;
        }
        if let Some(run) = &options.run {
            let r = run.display().to_string();
            self.train.run_dir.clone_from(&r);
            self.inspect.run_dir.clone_from(&r);
            self.evaluate.run_dir = r;
        }
        if let Some(image) = &options.image {
            self.inspect.image_path = image.display().to_string();
        }
        if let Some(report) = &options.report {
            self.evaluate.open_report(report);
        }
        if let Some(recipe) = &options.recipe {
            self.design.open_recipe(recipe, false);
        }
        if let Some(dir) = &options.demo_dir {
            self.demo.out = dir.display().to_string();
        }
        if options.quick_demo {
            self.actions.push(Action::StartQuickDemo);
        }
    }

    /// Starts the workspace's main task once, for `--start`.
    fn auto_start(&mut self) {
        if self.auto_started {
            return;
        }
        self.auto_started = true;
        if let Some(folder) = self.options.fit_photos.clone() {
            self.design.fit_photos(&folder, None);
        }
        if !self.options.start {
            // Opened on a run's Train workspace without `--start`: show its past training
            // (when the folder holds one).
            if self.workspace == Workspace::Train && self.options.run.is_some() {
                self.train.open_run(true);
            }
            // Opened on Inspect with a run: its model is loaded, and `--image` inspected once
            // it is, so the workspace shows the model instead of an empty form.
            if self.workspace == Workspace::Inspect && self.options.run.is_some() {
                self.open_inspect(self.options.image.clone());
            }
            return;
        }
        match self.workspace {
            Workspace::Design => {
                if self.design.defect.is_none() {
                    self.design.defect = Some("bulge".into());
                }
            }
            Workspace::Train => self.train.start(&self.compute),
            Workspace::Inspect => {
                let image = PathBuf::from(self.inspect.image_path.trim());
                self.open_inspect(Some(image));
            }
            Workspace::Evaluate => {}
        }
    }

    /// Loads Inspect's model unless it is loaded or loading, and inspects `image` once it is.
    fn open_inspect(&mut self, image: Option<PathBuf>) {
        if self.inspect.model().is_none() && !self.inspect.loading() {
            self.inspect.load_model(&self.compute);
        }
        if let Some(image) = image {
            self.inspect.inspect_when_loaded(&image);
        }
    }

    /// Whether the shown workspace has something worth a screenshot.
    fn ready_for_screenshot(&self) -> bool {
        if self.options.quick_demo && self.demo.outcome().is_none() {
            return false;
        }
        match self.workspace {
            Workspace::Design => {
                self.design.views_received() > 0
                    && self.design.sample_sets_received() > 0
                    && self.demo.probed()
                    && (self.options.fit_photos.is_none()
                        || (!self.design.photo_fit().running()
                            && (self.design.photo_fit().fitted().is_some()
                                || self.design.photo_fit().message().is_some())))
            }
            Workspace::Train => {
                self.train.step() > 0 && self.train.losses().values().any(|v| v.len() > 3)
            }
            Workspace::Inspect => {
                self.inspect.report().is_some()
                    && !self.inspect.running()
                    && self.options.inspect_frame.is_none_or(|n| {
                        self.inspect.cursor()
                            == n.min(self.inspect.frames().len().saturating_sub(1))
                    })
            }
            Workspace::Evaluate => self.evaluate.report().is_some() && !self.evaluate.reading(),
        }
    }

    fn screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.options.screenshot.clone() else {
            return;
        };
        if self.screenshot_done.load(Ordering::Relaxed) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        ctx.request_repaint_after(Duration::from_millis(100));
        let waited = self.started.elapsed().as_secs_f64();
        if self.screenshot_requested || waited < self.options.screenshot_after {
            return;
        }
        if !self.ready_for_screenshot() {
            if waited < SCREENSHOT_DEADLINE_S.max(self.options.screenshot_after) {
                return;
            }
            eprintln!(
                "the {} workspace had nothing to show after {SCREENSHOT_DEADLINE_S:.0} s \
                 (--start runs its main task, --image gives Inspect an image); saving the \
                 window as it is",
                self.workspace.title()
            );
        }
        self.screenshot_requested = true;
        let done = self.screenshot_done.clone();
        let ctx2 = ctx.clone();
        ctx.request_screenshot(move |image| {
            let [w, h] = image.size;
            let rgba: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_array()).collect();
            let result = image::RgbaImage::from_raw(w as u32, h as u32, rgba)
                .ok_or_else(|| "screenshot size mismatch".to_string())
                .and_then(|img| {
                    let mut bytes = Vec::new();
                    img.write_to(
                        &mut std::io::Cursor::new(&mut bytes),
                        image::ImageFormat::Png,
                    )
                    .map_err(|e| e.to_string())?;
                    crate::fsio::write_atomic(&path, &bytes).map_err(|e| e.to_string())
                });
            match result {
                Ok(()) => eprintln!("screenshot saved to {}", path.display()),
                Err(e) => eprintln!("cannot save the screenshot {}: {e}", path.display()),
            }
            done.store(true, Ordering::Relaxed);
            ctx2.request_repaint();
        });
    }

    fn record_frame(&mut self) {
        let now = Instant::now();
        if let Some(last) = self.last_frame {
            self.frame_ms = (now - last).as_secs_f64() * 1000.0;
            if let Some(t) = &self.timing
                && let Ok(mut t) = t.lock()
            {
                if self.train.running() {
                    t.training_ms.push(self.frame_ms);
                } else {
                    t.idle_ms.push(self.frame_ms);
                }
            }
        }
        self.last_frame = Some(now);
    }

    /// Everything a frame does before drawing: workers' events, automation.
    pub fn poll(&mut self, ctx: &egui::Context) {
        self.design.poll(ctx);
        self.train.poll(ctx);
        self.inspect.poll(ctx);
        self.evaluate.poll(ctx);
        self.demo.poll(&mut self.actions);
        self.auto_start();
        if let Some(n) = self.options.inspect_frame
            && self.inspect.report().is_some()
            && !self.inspect.running()
        {
            self.inspect.show_frame(n);
        }
        self.screenshot(ctx);
        if self.options.frame_stats {
            ctx.request_repaint();
        }
    }

    /// Draws the workbench into `ui`, then applies what the frame asked for.
    pub fn workbench_ui(&mut self, ui: &mut egui::Ui) {
        self.record_frame();
        egui::Panel::top("workspaces").show(ui, |ui| self.top_bar_ui(ui));
        if self.demo.banner_shown() {
            egui::Panel::top("welcome").show(ui, |ui| {
                self.demo.banner_ui(ui, &mut self.actions);
            });
        }
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        let actions = &mut self.actions;
        match self.workspace {
            Workspace::Design => self.design.ui(ui),
            Workspace::Train => self.train.ui(ui, &self.compute, actions),
            Workspace::Inspect => self.inspect.ui(ui, &self.compute),
            Workspace::Evaluate => {
                let budget = self.inspect.iterations();
                self.evaluate.ui(ui, &self.compute, budget, actions);
            }
        }
        self.apply_actions();
        if !self.actions.is_empty() {
            ui.ctx().request_repaint();
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("unseen");
            ui.separator();
            for w in Workspace::ALL {
                ui.selectable_value(
                    &mut self.workspace,
                    w,
                    egui::RichText::new(w.title()).size(16.0),
                );
            }
            ui.separator();
            ui.menu_button("Demo", |ui| {
                if ui
                    .add_enabled(
                        !self.demo.running(),
                        egui::Button::new("Run the quick demo"),
                    )
                    .on_hover_text(
                        "Render a small dataset, train for a few minutes, calibrate and write a \
                         report; then open them in Train, Inspect and Evaluate",
                    )
                    .clicked()
                {
                    self.actions.push(Action::StartQuickDemo);
                    ui.close();
                }
                if ui.button("Show the welcome banner").clicked() {
                    self.demo.show_banner();
                    ui.close();
                }
            });
        });
    }

    fn status_ui(&self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(format!("GPU: {}", self.adapter_text));
            ui.separator();
            ui.label(format!("compute: {}", self.compute.description));
            ui.separator();
            let busy = [
                (self.design.generating(), "generating"),
                (self.train.running(), "training"),
                (self.inspect.busy(), "inspecting"),
                (self.evaluate.running(), "evaluating"),
                (self.demo.running(), "quick demo"),
            ];
            for (on, label) in busy {
                if on {
                    ui.spinner();
                    ui.label(label);
                }
            }
            ui.separator();
            ui.label(format!("frame {:.0} ms", self.frame_ms));
            if let Some(s) = &self.status {
                ui.separator();
                ui.label(s);
            }
        });
    }

    /// Applies the frame's actions, in the order they were asked: the one place where one
    /// part of the workbench changes another.
    fn apply_actions(&mut self) {
        for action in std::mem::take(&mut self.actions) {
            self.apply(action);
        }
    }

    fn apply(&mut self, action: Action) {
        let path_text = |p: &std::path::Path| p.display().to_string();
        match action {
            Action::Show(workspace) => self.workspace = workspace,
            Action::OpenRun { run, data } => {
                self.train.run_dir = path_text(&run);
                if let Some(data) = data {
                    self.train.data_dir = path_text(&data);
                }
                self.train.open_run(false);
            }
            Action::OpenModel { run, data, image } => {
                self.inspect.run_dir = path_text(&run);
                if let Some(data) = data {
                    self.inspect.data_dir = path_text(&data);
                }
                self.inspect.load_model(&self.compute);
                if let Some(image) = image {
                    self.inspect.inspect_when_loaded(&image);
                }
            }
            Action::InspectImage { image, run } => {
                if self.inspect.model().is_none() && !self.inspect.loading() {
                    if let Some(run) = run {
                        self.inspect.run_dir = path_text(&run);
                    }
                    self.inspect.load_model(&self.compute);
                }
                self.inspect.inspect_when_loaded(&image);
            }
            Action::ShowReport { report, dir } => self.evaluate.set_report(*report, dir),
            Action::OpenReport(path) => self.evaluate.open_report(&path),
            Action::PointEvaluation {
                run,
                compare,
                data,
                out,
            } => {
                self.evaluate.run_dir = path_text(&run);
                self.evaluate.compare_dir = compare.as_deref().map(path_text).unwrap_or_default();
                self.evaluate.data_dir = path_text(&data);
                self.evaluate.out_dir = path_text(&out);
            }
            Action::StartQuickDemo => self.demo.start(self.gpu.clone(), &self.compute),
        }
    }
}

impl eframe::App for Workbench {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.workbench_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.options.screenshot.is_none() {
            eframe::set_value(storage, STORAGE_KEY, &self.remembered());
        }
    }
}

/// burn's device for the workbench: wgpu when the adapter is a real GPU (or when the user asks
/// for the GPU), burn's CPU backend on a software adapter, where it is about 11× faster.
fn choose_compute(gpu: Option<&Gpu>, choice: ComputeDevice) -> (SelectedDevice, Option<String>) {
    let software = gpu.is_none_or(Gpu::is_software);
    let choice = match choice {
        ComputeDevice::Auto if software => ComputeDevice::Cpu,
        other => other,
    };
    match select_device(choice) {
        Ok(device) => (
            device,
            (software && choice == ComputeDevice::Cpu)
                .then(|| "software adapter: computing on the CPU backend".into()),
        ),
        Err(e) => (
            SelectedDevice::flex(),
            Some(format!("{e}; computing on the CPU backend")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_statistics_summarise_both_phases() {
        let t = FrameTimes {
            idle_ms: vec![10.0, 20.0, 30.0],
            training_ms: Vec::new(),
        };
        let s = t.summary();
        assert!(s.contains("idle: 3 frames, mean 20.0 ms"), "{s}");
        assert!(s.contains("while training: no frames"), "{s}");
    }
}
