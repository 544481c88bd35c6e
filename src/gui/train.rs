//! Train workspace: pick a dataset and a model, start / pause / resume / stop the training
//! worker, watch losses, throughput, ETA and reconstructions of held-out images; open a past
//! run's history (read on a worker).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use eframe::egui::{self, TextureHandle};
use egui_plot::{HoverPosition, Legend, Line, Plot, PlotPoints};

use super::Workspace;
use super::action::Action;
use super::util::{
    duration_text, image_from_bytes, image_from_picture, labelled_row_ui, path_row_ui, set_texture,
};
use crate::compute::SelectedDevice;
use crate::model::ModelKind;
use crate::train::config::{LrSchedule, TrainConfig};
use crate::train::{TrainEvent, TrainJob};
use crate::worker::files::{OpenedRun, read_run};
use crate::worker::train::spawn_training_resuming_if_possible;
use crate::worker::{Control, Waker, Worker, spawn_call};

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Idle,
    Running,
    Paused,
    Stopping,
}

/// A run folder being read; `quiet` leaves a failure unsaid (the start-up's look at a run).
struct Opening {
    worker: Worker<Result<OpenedRun, String>>,
    quiet: bool,
}

pub struct Train {
    pub(super) data_dir: String,
    pub(super) run_dir: String,
    config: TrainConfig,
    resume: bool,
    state: RunState,
    /// Loss name → (step, value) history.
    losses: BTreeMap<String, Vec<[f64; 2]>>,
    step: u64,
    total_steps: u64,
    images_per_sec: f32,
    checkpoints: Vec<(u64, PathBuf)>,
    message: Option<String>,
    device_text: String,
    handle: Option<Worker<TrainEvent>>,
    opening: Option<Opening>,
    waker: Waker,
    started: Option<(Instant, u64)>,
    samples: Option<TextureHandle>,
    samples_step: u64,
}

impl Train {
    pub fn new(waker: Waker) -> Self {
        Self {
            data_dir: "datasets/cap".into(),
            run_dir: "runs/gan".into(),
            config: TrainConfig {
                width: 16,
                steps: 1500,
                // Reconstructions are the first thing an engineer looks at: show them early.
                sample_every: 20,
                ..TrainConfig::default()
            },
            resume: false,
            state: RunState::Idle,
            losses: BTreeMap::new(),
            step: 0,
            total_steps: 0,
            images_per_sec: 0.0,
            checkpoints: Vec::new(),
            message: None,
            device_text: String::new(),
            handle: None,
            opening: None,
            waker,
            started: None,
            samples: None,
            samples_step: 0,
        }
    }

    pub fn set_data_dir(&mut self, dir: &str) {
        self.data_dir = dir.to_string();
    }

    pub fn set_run_dir(&mut self, dir: &str) {
        self.run_dir = dir.to_string();
    }

    /// The settings the next Start trains with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: TrainConfig) {
        self.config = config;
    }

    /// Whether Start continues the run from its checkpoint.
    pub fn resume(&self) -> bool {
        self.resume
    }

    /// Steps done by the run shown.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Loss name → (step, value) points of the run shown.
    pub fn losses(&self) -> &BTreeMap<String, Vec<[f64; 2]>> {
        &self.losses
    }

    /// Checkpoints of the run shown: (step, folder).
    pub fn checkpoints(&self) -> &[(u64, PathBuf)] {
        &self.checkpoints
    }

    /// The step of the sample grid shown.
    pub fn samples_step(&self) -> u64 {
        self.samples_step
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    pub fn running(&self) -> bool {
        self.handle.is_some()
    }

    /// Whether a run folder is being read.
    pub fn opening(&self) -> bool {
        self.opening.is_some()
    }

    pub fn start(&mut self, device: &SelectedDevice) {
        if self.handle.is_some() {
            return;
        }
        if let Err(e) = self.config.validate() {
            self.message = Some(e.to_string());
            return;
        }
        // "Resume" continues a run that has a checkpoint; the worker looks.
        let job = TrainJob {
            data_dir: PathBuf::from(self.data_dir.trim()),
            run_dir: PathBuf::from(self.run_dir.trim()),
            config: self.config.clone(),
            device: device.clone(),
            resume: self.resume,
        };
        match spawn_training_resuming_if_possible(job, self.waker.clone()) {
            Ok(handle) => {
                self.handle = Some(handle);
                self.state = RunState::Running;
                self.losses.clear();
                self.checkpoints.clear();
                self.message = Some(format!("training on {}", device.description));
                self.started = None;
            }
            Err(e) => self.message = Some(format!("cannot start the training worker: {e}")),
        }
    }

    /// Shows the run folder's past training: its loss curves, newest sample grid, checkpoints
    /// and settings, read on a worker. The controls take the run's settings with "Resume"
    /// ticked when it has a checkpoint, so that Start continues the run instead of starting
    /// over in its folder. `quiet` leaves a folder that holds no training unsaid.
    pub fn open_run(&mut self, quiet: bool) {
        if self.handle.is_some() {
            return;
        }
        let dir = PathBuf::from(self.run_dir.trim());
        match spawn_call("unseen-open-run", self.waker.clone(), move || {
            read_run(&dir)
        }) {
            Ok(worker) => self.opening = Some(Opening { worker, quiet }),
            Err(e) => self.message = Some(format!("cannot start a worker: {e}")),
        }
    }

    /// Shows what [`Train::open_run`] read.
    fn show_run(&mut self, ctx: &egui::Context, run: OpenedRun) {
        let history = run.history;
        self.losses = history.losses;
        self.step = history.last_step;
        self.checkpoints = history.checkpoints;
        self.resume = run.resumable;
        let mut note = String::new();
        match history.config {
            Ok(config) => {
                self.total_steps = config.epochs.map_or(config.steps, |_| history.last_step);
                self.config = config;
            }
            Err(e) => {
                self.total_steps = history.last_step;
                note = format!("; its settings were not read: {e}");
            }
        }
        self.images_per_sec = 0.0;
        self.started = None;
        self.samples = None;
        self.samples_step = 0;
        if let Some((step, picture)) = &run.samples {
            set_texture(
                ctx,
                &mut self.samples,
                "train-samples",
                image_from_picture(picture),
            );
            self.samples_step = *step;
        }
        for problem in &run.notes {
            note.push_str(&format!("; {problem}"));
        }
        self.message = Some(format!(
            "opened {} at step {}{note}",
            run.dir.display(),
            self.step
        ));
    }

    /// Asks the run to stop: it finishes its step and writes a checkpoint.
    fn stop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.cancel();
            self.state = RunState::Stopping;
        }
    }

    /// Takes the workers' events; called every frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if let Some(opening) = &self.opening
            && let Ok(read) = opening.worker.events().try_recv()
        {
            let quiet = opening.quiet;
            self.opening = None;
            match read {
                Ok(run) => self.show_run(ctx, run),
                Err(e) if !quiet => self.message = Some(e),
                Err(_) => {}
            }
        }
        let Some(handle) = &self.handle else { return };
        let mut ended = false;
        while let Ok(event) = handle.events().try_recv() {
            match event {
                TrainEvent::Started {
                    device,
                    start_step,
                    total_steps,
                    train_images,
                    ..
                } => {
                    self.device_text = device;
                    self.step = start_step;
                    self.total_steps = total_steps;
                    self.started = Some((Instant::now(), start_step));
                    self.message = Some(format!("{train_images} training images"));
                }
                TrainEvent::Step(report) => {
                    self.step = report.step;
                    self.total_steps = report.total_steps;
                    self.images_per_sec = report.images_per_sec;
                    for (name, value) in report.losses {
                        self.losses
                            .entry(name.to_string())
                            .or_default()
                            .push([report.step as f64, f64::from(value)]);
                    }
                }
                TrainEvent::Samples(grid) => {
                    self.samples_step = grid.step;
                    let image =
                        image_from_bytes(&grid.pixels, grid.width, grid.height, grid.channels);
                    set_texture(ctx, &mut self.samples, "train-samples", image);
                }
                TrainEvent::CheckpointWritten { step, path } => {
                    self.checkpoints.push((step, path));
                }
                TrainEvent::Paused { .. } => self.state = RunState::Paused,
                TrainEvent::Resumed { .. } => self.state = RunState::Running,
                TrainEvent::Finished(report) => {
                    self.message = Some(format!(
                        "{} at step {} after {}{}",
                        if report.stopped {
                            "stopped"
                        } else {
                            "finished"
                        },
                        report.step,
                        duration_text(report.elapsed_secs),
                        report
                            .validation_mse
                            .map(|m| format!(", validation MSE {m:.5}"))
                            .unwrap_or_default()
                    ));
                    ended = true;
                }
                TrainEvent::Error(message) => {
                    self.message = Some(format!("training failed: {message}"));
                    ended = true;
                }
            }
        }
        if ended {
            if let Some(handle) = self.handle.take() {
                handle.join();
            }
            self.state = RunState::Idle;
        } else {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn eta_secs(&self) -> f64 {
        let Some((since, first)) = self.started else {
            return f64::NAN;
        };
        let done = self.step.saturating_sub(first) as f64;
        if done < 1.0 {
            return f64::NAN;
        }
        since.elapsed().as_secs_f64() / done * self.total_steps.saturating_sub(self.step) as f64
    }

    /// Draws the workspace; "Inspect with it" on a checkpoint becomes an action.
    pub fn ui(&mut self, ui: &mut egui::Ui, device: &SelectedDevice, actions: &mut Vec<Action>) {
        egui::Panel::left("train-controls")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui, device));
            });
        egui::CentralPanel::default().show(ui, |ui| self.progress_ui(ui, actions));
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, device: &SelectedDevice) {
        let idle = self.handle.is_none();
        ui.heading("Run");
        path_row_ui(ui, "Dataset", &mut self.data_dir, true);
        path_row_ui(ui, "Run folder", &mut self.run_dir, true);
        ui.add_enabled_ui(idle, |ui| {
            let c = &mut self.config;
            egui::ComboBox::from_label("Model")
                .selected_text(match c.model {
                    ModelKind::Gan => "GAN",
                    ModelKind::AeSom => "Autoencoder + SOM",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut c.model, ModelKind::Gan, "GAN");
                    ui.selectable_value(&mut c.model, ModelKind::AeSom, "Autoencoder + SOM");
                });
            egui::Grid::new("hyper").num_columns(2).show(ui, |ui| {
                labelled_row_ui(ui, "Steps", |ui| {
                    ui.add(egui::DragValue::new(&mut c.steps).range(1..=1_000_000))
                });
                labelled_row_ui(ui, "Batch size", |ui| {
                    ui.add(egui::DragValue::new(&mut c.batch_size).range(1..=512))
                });
                labelled_row_ui(ui, "Width", |ui| {
                    ui.add(egui::DragValue::new(&mut c.width).range(4..=128))
                });
                labelled_row_ui(ui, "Latent size", |ui| {
                    ui.add(egui::DragValue::new(&mut c.latent_dim).range(2..=1024))
                });
                labelled_row_ui(ui, "Learning rate E+G", |ui| {
                    ui.add(
                        egui::DragValue::new(&mut c.lr_autoencoder)
                            .speed(1e-5)
                            .range(1e-6..=1e-1),
                    )
                });
                labelled_row_ui(ui, "Learning-rate schedule", |ui| {
                    egui::ComboBox::from_id_salt("lr-schedule")
                        .selected_text(match c.lr_schedule {
                            LrSchedule::Constant => "constant",
                            LrSchedule::Cosine => "cosine decay",
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(
                                &mut c.lr_schedule,
                                LrSchedule::Constant,
                                "constant",
                            );
                            ui.selectable_value(
                                &mut c.lr_schedule,
                                LrSchedule::Cosine,
                                "cosine decay",
                            );
                        })
                        .response
                });
                if c.lr_schedule == LrSchedule::Cosine {
                    labelled_row_ui(ui, "Final rate fraction", |ui| {
                        ui.add(
                            egui::DragValue::new(&mut c.lr_final_fraction)
                                .speed(0.005)
                                .range(0.0..=1.0),
                        )
                    });
                }
                weight_row_ui(ui, "Edge weight", &mut c.edge_weight);
                if c.model == ModelKind::Gan {
                    labelled_row_ui(ui, "Learning rate D", |ui| {
                        ui.add(
                            egui::DragValue::new(&mut c.lr_discriminator)
                                .speed(1e-5)
                                .range(1e-6..=1e-1),
                        )
                    });
                    weight_row_ui(ui, "Feature weight κ", &mut c.kappa);
                }
                labelled_row_ui(ui, "Checkpoint every", |ui| {
                    ui.add(egui::DragValue::new(&mut c.checkpoint_every).range(1..=1_000_000))
                });
                labelled_row_ui(ui, "Seed", |ui| ui.add(egui::DragValue::new(&mut c.seed)));
            });
            ui.checkbox(&mut self.resume, "Resume from the run's last checkpoint");
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.add_enabled(idle, egui::Button::new("Start")).clicked() {
                self.start(device);
            }
            if ui
                .add_enabled(
                    idle && self.opening.is_none(),
                    egui::Button::new("Open run"),
                )
                .on_hover_text("Show the run folder's loss curves, newest samples and checkpoints")
                .clicked()
            {
                self.open_run(false);
            }
            let toggle = match self.state {
                RunState::Running => Some(("Pause", Control::Pause)),
                RunState::Paused => Some(("Resume", Control::Resume)),
                RunState::Idle | RunState::Stopping => None,
            };
            if let (Some((label, command)), Some(handle)) = (toggle, &self.handle)
                && ui.button(label).clicked()
            {
                handle.send(command);
            }
            if ui
                .add_enabled(
                    matches!(self.state, RunState::Running | RunState::Paused),
                    egui::Button::new("Stop"),
                )
                .clicked()
            {
                self.stop();
            }
        });
        ui.label(format!("Compute: {}", device.description));
        if let Some(m) = &self.message {
            ui.label(m);
        }
    }

    fn progress_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let fraction = if self.total_steps > 0 {
            self.step as f32 / self.total_steps as f32
        } else {
            0.0
        };
        let text = if self.handle.is_some() {
            format!(
                "step {}/{} · {:.1} images/s · ETA {} · {:?}",
                self.step,
                self.total_steps,
                self.images_per_sec,
                duration_text(self.eta_secs()),
                self.state
            )
        } else {
            format!("step {}/{} · not training", self.step, self.total_steps)
        };
        ui.add(egui::ProgressBar::new(fraction).text(text));
        let plot_height = (ui.available_height() * 0.45).max(160.0);
        // Losses span decades (a latent penalty near 10⁻², pixel errors near 10⁻⁴): the curves
        // are drawn on a log scale so that each one's progress shows.
        Plot::new("losses")
            .height(plot_height)
            .legend(Legend::default())
            .x_axis_label("step")
            .y_axis_label("loss (log scale)")
            .y_axis_formatter(|mark, _| format!("{:.1e}", 10f64.powf(mark.value)))
            .label_formatter(|hover| {
                Some(match hover {
                    HoverPosition::NearDataPoint {
                        plot_name,
                        position,
                        ..
                    } => format!(
                        "{plot_name}\nstep {:.0}\n{:.3e}",
                        position.x,
                        10f64.powf(position.y)
                    ),
                    HoverPosition::Elsewhere { position } => {
                        format!("step {:.0}\n{:.3e}", position.x, 10f64.powf(position.y))
                    }
                })
            })
            .show(ui, |plot| {
                for (name, points) in &self.losses {
                    let logged: Vec<[f64; 2]> = points
                        .iter()
                        .map(|&[step, value]| [step, value.max(1e-12).log10()])
                        .collect();
                    plot.line(Line::new(name.as_str(), PlotPoints::from(logged)));
                }
            });
        ui.separator();
        ui.label(
            egui::RichText::new(format!(
                "Held-out images (top) and their reconstructions G(E(x)) (bottom), step {}",
                self.samples_step
            ))
            .strong(),
        );
        if let Some(texture) = &self.samples {
            let [w, h] = texture.size();
            let scale = (ui.available_width() / w as f32).clamp(1.0, 4.0);
            ui.add(egui::Image::new((
                texture.id(),
                egui::vec2(w as f32 * scale, h as f32 * scale),
            )));
        }
        ui.separator();
        ui.label(egui::RichText::new("Checkpoints").strong());
        for (step, path) in self.checkpoints.iter().rev() {
            ui.horizontal(|ui| {
                ui.label(format!("step {step}: {}", path.display()));
                if ui.button("Inspect with it").clicked() {
                    actions.push(Action::OpenModel {
                        run: path.clone(),
                        data: Some(PathBuf::from(self.data_dir.trim())),
                        image: None,
                    });
                    actions.push(Action::Show(Workspace::Inspect));
                }
            });
        }
    }
}

/// A row for a loss weight in [0, 100].
fn weight_row_ui(ui: &mut egui::Ui, label: &str, value: &mut f64) -> egui::Response {
    labelled_row_ui(ui, label, |ui| {
        ui.add(egui::DragValue::new(value).speed(0.01).range(0.0..=100.0))
    })
}
