//! Training: data loading, the worker thread, checkpoints and the settings they are made with.
//!
//! Flow: [`data`] reads the rendered dataset and feeds batches from its own thread →
//! [`worker`] runs [`steps`] on the models of [`crate::model`] with [`optim`] → events, sample
//! grids ([`samples`]), the loss log and [`checkpoint`]s; [`config`] is the settings file and
//! [`history`] reads a run folder back. `unseen train` is a shell over [`spawn_training`].

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod eval;
pub mod events;
pub mod history;
pub mod loss_log;
pub mod optim;
pub mod samples;
pub mod steps;
pub mod worker;

pub use checkpoint::{CheckpointError, LoadedCheckpoint, load_checkpoint};
pub use config::{LrSchedule, TrainConfig};
pub use worker::{
    FinishReport, StepReport, TrainCommand, TrainError, TrainEvent, TrainHandle, TrainJob,
    spawn_training,
};
