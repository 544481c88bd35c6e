//! What the training loop reports, and who it reports to.

use std::path::PathBuf;

use super::samples::SampleGrid;
use super::steps::Losses;
use crate::model::ModelKind;

/// Who runs the training loop ([`super::run::run_training`]): takes its events and decides,
/// between steps, whether the run goes on. The training worker (`crate::worker::train`) is
/// the driver the CLI, the workbench and the tests use.
pub trait TrainDriver {
    /// Takes an event; `false` when nobody listens any more, which ends the run as stopped.
    fn event(&mut self, event: TrainEvent) -> bool;

    /// Called before each step with the steps done so far; `false` ends the run as stopped
    /// (finishing with a checkpoint). A driver pauses the run by waiting here, and reports
    /// [`TrainEvent::Paused`] and [`TrainEvent::Resumed`] itself.
    fn between_steps(&mut self, step: u64) -> bool;
}

/// What the training loop reports.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    Started {
        device: String,
        model: ModelKind,
        start_step: u64,
        total_steps: u64,
        train_images: usize,
        validation_images: usize,
    },
    Step(StepReport),
    /// Inputs (top) over reconstructions (bottom) of fixed held-out images.
    Samples(SampleGrid),
    CheckpointWritten {
        step: u64,
        path: PathBuf,
    },
    Paused {
        step: u64,
    },
    Resumed {
        step: u64,
    },
    Finished(FinishReport),
    Error(String),
}

#[derive(Debug, Clone)]
pub struct StepReport {
    /// Steps completed so far.
    pub step: u64,
    pub total_steps: u64,
    pub epoch: u64,
    pub losses: Losses,
    /// Training throughput, smoothed over recent steps.
    pub images_per_sec: f32,
}

#[derive(Debug, Clone)]
pub struct FinishReport {
    pub step: u64,
    /// Ended by the driver (a stop or cancel) rather than by reaching the step count.
    pub stopped: bool,
    pub checkpoint: Option<PathBuf>,
    /// Mean per-pixel squared error of G(E(x)) on the good validation images.
    pub validation_mse: Option<f32>,
    pub elapsed_secs: f64,
}
