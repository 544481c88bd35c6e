//! Training: data loading, the worker thread, checkpoints and the settings they are made with.
//!
//! Flow: [`data`] reads the rendered dataset and feeds batches from its own thread →
//! [`run`] runs [`steps`] on the models of [`crate::model`] with [`optim`] → [`events`] to its
//! driver, sample grids ([`samples`]), the loss log and [`checkpoint`]s; [`config`] is the
//! settings file and [`history`] reads a run folder back. The training worker
//! (`crate::worker::train`) runs [`run_training`] on its own thread for `unseen train` and the
//! workbench.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod eval;
pub mod events;
pub mod history;
pub mod loss_log;
pub mod optim;
pub mod run;
pub mod samples;
pub mod steps;

pub use checkpoint::{CheckpointError, LoadedCheckpoint, load_checkpoint};
pub use config::{LrSchedule, TrainConfig};
pub use run::{
    FinishReport, StepReport, TrainDriver, TrainError, TrainEvent, TrainJob, run_training,
};
