//! What the training worker reports, and the commands it obeys.

use std::path::PathBuf;

use super::samples::SampleGrid;
use super::steps::Losses;
use crate::model::ModelKind;

/// Commands to a running worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainCommand {
    Pause,
    Resume,
    /// Finish the current step, write a checkpoint and end.
    Stop,
}

/// What the worker reports.
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
    /// Ended by [`TrainCommand::Stop`] rather than by reaching the step count.
    pub stopped: bool,
    pub checkpoint: Option<PathBuf>,
    /// Mean per-pixel squared error of G(E(x)) on the good validation images.
    pub validation_mse: Option<f32>,
    pub elapsed_secs: f64,
}
