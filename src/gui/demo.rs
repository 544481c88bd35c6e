//! The quick demo from the window: a new user's first trained model. A banner (shown while no
//! trained run is known) and the Demo menu start what `unseen demo --quick` runs, on the demo
//! worker, into a folder the banner shows; progress and Cancel stay in the banner. When it
//! finishes, actions point Train, Inspect and Evaluate at its run, data and report.

use std::path::PathBuf;
use std::time::Instant;

use eframe::egui::{self, Color32};

use super::Workspace;
use super::action::Action;
use super::util::{duration_text, path_field_ui};
use crate::compute::SelectedDevice;
use crate::dataset::GOOD;
use crate::eval::EvalProgress;
use crate::eval::demo::{DemoLayout, DemoPlan};
use crate::render::Gpu;
use crate::train::TrainEvent;
use crate::worker::demo::{DemoEvent, DemoJob, DemoOutcome, spawn_demo};
use crate::worker::files::has_checkpoint;
use crate::worker::generate::GenerateEvent;
use crate::worker::{Waker, Worker, spawn_call};

/// Where the quick demo writes unless told otherwise: the platform's data folder
/// (`~/.local/share/unseen/quick-demo` on Linux).
pub fn default_demo_dir() -> PathBuf {
    dirs::data_dir()
        .map(|d| d.join("unseen").join("quick-demo"))
        .unwrap_or_else(|| PathBuf::from("unseen-quick-demo"))
}

/// Where the demo is.
enum State {
    Idle,
    Running {
        worker: Worker<DemoEvent>,
        started: Instant,
    },
    Finished(Box<DemoOutcome>),
    /// Cancelled or failed, and why.
    Stopped(String),
}

/// The quick demo and its banner.
pub struct QuickDemo {
    plan: DemoPlan,
    pub(super) out: String,
    state: State,
    /// Stage number, count and title of the stage under way.
    stage: Option<(usize, usize, String)>,
    /// How far the stage under way is, in [0, 1], and what it is doing.
    stage_fraction: f32,
    stage_detail: String,
    /// Whether a trained run is known (`None` until the look at the run folders is back).
    has_run: Option<bool>,
    probe: Option<Worker<Result<bool, String>>>,
    dismissed: bool,
    waker: Waker,
}

impl QuickDemo {
    pub fn new(waker: Waker) -> Self {
        Self {
            plan: DemoPlan::quick(),
            out: default_demo_dir().display().to_string(),
            state: State::Idle,
            stage: None,
            stage_fraction: 0.0,
            stage_detail: String::new(),
            has_run: None,
            probe: None,
            dismissed: false,
            waker,
        }
    }

    /// Another plan and folder (tests and scripts; the window offers the quick plan).
    pub fn set(&mut self, plan: DemoPlan, out: PathBuf) {
        self.plan = plan;
        self.out = out.display().to_string();
    }

    /// Looks (on a worker) whether any of `runs` holds a trained model; the banner invites
    /// the demo when none does.
    pub fn probe(&mut self, runs: Vec<PathBuf>) {
        self.probe = spawn_call("unseen-probe", self.waker.clone(), move || {
            Ok(runs.iter().any(|run| has_checkpoint(run)))
        })
        .ok();
    }

    pub fn running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    /// Whether the look at the run folders is back.
    pub fn probed(&self) -> bool {
        self.has_run.is_some()
    }

    /// The stage under way (or the last one): its number from 1, and title.
    pub fn stage(&self) -> Option<(usize, &str)> {
        self.stage
            .as_ref()
            .map(|(n, _, title)| (*n, title.as_str()))
    }

    /// What the stage under way is doing.
    pub fn stage_detail(&self) -> &str {
        &self.stage_detail
    }

    /// The folder the demo writes into.
    pub fn out(&self) -> &str {
        &self.out
    }

    /// What the finished demo made.
    pub fn outcome(&self) -> Option<&DemoOutcome> {
        match &self.state {
            State::Finished(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Why the demo stopped, when it was cancelled or failed.
    pub fn stopped(&self) -> Option<&str> {
        match &self.state {
            State::Stopped(why) => Some(why),
            _ => None,
        }
    }

    /// Whether the banner is up.
    pub fn banner_shown(&self) -> bool {
        match self.state {
            State::Idle => self.has_run == Some(false) && !self.dismissed,
            _ => !self.dismissed,
        }
    }

    /// Shows the banner again (the Demo menu).
    pub fn show_banner(&mut self) {
        self.dismissed = false;
        self.has_run = Some(false);
    }

    /// Starts the demo on a worker.
    pub fn start(&mut self, gpu: Option<Gpu>, device: &SelectedDevice) {
        if self.running() {
            return;
        }
        let job = DemoJob {
            plan: self.plan.clone(),
            out: PathBuf::from(self.out.trim()),
            gpu,
            device: device.clone(),
        };
        self.dismissed = false;
        self.stage = None;
        self.stage_fraction = 0.0;
        self.stage_detail = String::new();
        self.state = match spawn_demo(job, self.waker.clone()) {
            Ok(worker) => State::Running {
                worker,
                started: Instant::now(),
            },
            Err(e) => State::Stopped(format!("cannot start the demo: {e}")),
        };
    }

    fn cancel(&self) {
        if let State::Running { worker, .. } = &self.state {
            worker.cancel();
        }
    }

    /// Takes the workers' events; when the demo finishes, the actions that point the
    /// workspaces at what it made.
    pub fn poll(&mut self, actions: &mut Vec<Action>) {
        if let Some(probe) = &self.probe
            && let Ok(found) = probe.events().try_recv()
        {
            self.has_run = Some(found.unwrap_or(false));
            self.probe = None;
        }
        let State::Running { worker, .. } = &self.state else {
            return;
        };
        let mut ended = None;
        for event in worker.try_iter() {
            match event {
                DemoEvent::Stage {
                    number,
                    count,
                    title,
                } => {
                    self.stage = Some((number, count, title));
                    self.stage_fraction = 0.0;
                    self.stage_detail.clear();
                }
                DemoEvent::UpToDate(_) => {
                    self.stage_fraction = 1.0;
                    self.stage_detail = "already rendered".into();
                }
                DemoEvent::Render(GenerateEvent::Progress { done, total }) => {
                    self.stage_fraction = done as f32 / total.max(1) as f32;
                    self.stage_detail = format!("{done}/{total} images");
                }
                DemoEvent::Train(TrainEvent::Step(report)) => {
                    self.stage_fraction = report.step as f32 / report.total_steps.max(1) as f32;
                    self.stage_detail = format!(
                        "step {}/{} · {:.0} images/s",
                        report.step, report.total_steps, report.images_per_sec
                    );
                }
                DemoEvent::Eval(EvalProgress::Scoring { model, done, total }) => {
                    self.stage_fraction = done as f32 / total.max(1) as f32;
                    self.stage_detail = format!("{model}: scored {done}/{total} test images");
                }
                DemoEvent::Eval(EvalProgress::Opening { run }) => {
                    self.stage_detail = format!(
                        "opening {} (fitting its thresholds on the validation images)",
                        run.display()
                    );
                }
                DemoEvent::Eval(EvalProgress::Timing { model, iterations }) => {
                    self.stage_detail = format!("{model}: timing {iterations} iterations");
                }
                DemoEvent::Finished(outcome) => ended = Some(State::Finished(outcome)),
                DemoEvent::Cancelled { stage } => {
                    ended = Some(State::Stopped(format!(
                        "cancelled in stage {stage}; what is done is kept, and the next run goes on from there"
                    )));
                }
                DemoEvent::Failed(message) => {
                    ended = Some(State::Stopped(format!("the quick demo failed: {message}")));
                }
                DemoEvent::Render(_) | DemoEvent::Train(_) | DemoEvent::Eval(_) => {}
            }
        }
        if let Some(state) = ended {
            if let State::Finished(outcome) = &state {
                point_workspaces(outcome, actions);
                self.has_run = Some(true);
            }
            self.state = state;
        }
    }

    /// The banner under the workspace tabs.
    pub fn banner_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let mut close = false;
        egui::Frame::group(ui.style())
            .fill(Color32::from_rgb(28, 44, 64))
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                match &self.state {
                    State::Idle => self.invitation_ui(ui, actions, &mut close),
                    State::Running { started, .. } => {
                        let started = *started;
                        self.progress_ui(ui, started);
                    }
                    State::Finished(outcome) => finished_ui(ui, outcome, actions, &mut close),
                    State::Stopped(why) => {
                        let why = why.clone();
                        ui.horizontal(|ui| {
                            ui.label(egui::RichText::new("Quick demo").strong());
                            ui.label(why);
                        });
                        self.invitation_ui(ui, actions, &mut close);
                    }
                }
            });
        if close {
            self.dismissed = true;
        }
    }

    fn invitation_ui(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>, close: &mut bool) {
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Welcome to unseen").strong().size(16.0));
            ui.label(
                "Inspect and Evaluate need a trained model. The quick demo makes one in a few \
                 minutes and opens it in every workspace:",
            );
        });
        ui.label(format!(
            "it {} (what `unseen demo --quick` runs).",
            self.plan.summary()
        ));
        ui.horizontal(|ui| {
            if ui
                .button(egui::RichText::new("Run the quick demo").strong())
                .clicked()
            {
                actions.push(Action::StartQuickDemo);
            }
            path_field_ui(ui, "into", &mut self.out, true, 420.0);
            if ui.button("Not now").clicked() {
                *close = true;
            }
        });
    }

    fn progress_ui(&self, ui: &mut egui::Ui, started: Instant) {
        let (number, count, title) =
            self.stage
                .clone()
                .unwrap_or((0, crate::eval::demo::STAGES, "starting".into()));
        let overall = (number.saturating_sub(1) as f32 + self.stage_fraction) / count as f32;
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Quick demo").strong());
            ui.label(format!("[{number}/{count}] {title}"));
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::ProgressBar::new(overall.clamp(0.0, 1.0))
                    .desired_width(ui.available_width() * 0.5)
                    .text(format!(
                        "{} · {}",
                        self.stage_detail,
                        duration_text(started.elapsed().as_secs_f64())
                    )),
            );
            if ui.button("Cancel").clicked() {
                self.cancel();
            }
            ui.label(format!("into {}", self.out));
        });
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(250));
    }
}

fn finished_ui(
    ui: &mut egui::Ui,
    outcome: &DemoOutcome,
    actions: &mut Vec<Action>,
    close: &mut bool,
) {
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new("Quick demo finished").strong());
        ui.label(format!(
            "in {}: Train shows its GAN's training, Inspect its model on a held-out image, \
             Evaluate its report. Everything is in {}",
            duration_text(outcome.elapsed_secs),
            outcome.layout.out.display()
        ));
    });
    ui.horizontal(|ui| {
        for (label, workspace) in [
            ("Show the report", Workspace::Evaluate),
            ("Inspect an image", Workspace::Inspect),
            ("See the training", Workspace::Train),
        ] {
            if ui.button(label).clicked() {
                actions.push(Action::Show(workspace));
            }
        }
        if ui.button("Close").clicked() {
            *close = true;
        }
    });
}

/// Points Train at the GAN's run, Inspect at its model (inspecting the held-out defective
/// image it scored highest) and Evaluate at the report.
fn point_workspaces(outcome: &DemoOutcome, actions: &mut Vec<Action>) {
    let layout: &DemoLayout = &outcome.layout;
    let report = &outcome.report;
    let image = report.models.first().and_then(|model| {
        model
            .images
            .iter()
            .filter(|i| i.class != GOOD && i.score.is_finite())
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .map(|i| report.data_dir.join(&i.path))
    });
    actions.push(Action::OpenRun {
        run: layout.gan_run(),
        data: Some(layout.data()),
    });
    actions.push(Action::OpenModel {
        run: layout.gan_run(),
        data: Some(layout.data()),
        image,
    });
    actions.push(Action::PointEvaluation {
        run: layout.gan_run(),
        compare: Some(layout.ae_run()),
        data: layout.eval_data(),
        out: layout.report_dir(),
    });
    actions.push(Action::ShowReport {
        report: Box::new(report.clone()),
        dir: layout.report_dir(),
    });
}
