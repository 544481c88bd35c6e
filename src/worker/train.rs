//! The training worker: [`run_training`] on the thread `unseen-train`, its events on the
//! worker's channel, pause / resume / cancel between steps (a cancelled run finishes its step
//! and writes a checkpoint; [`FinishReport::stopped`] says so).

use super::{Cancelled, Context, Event, Pausing, Waker, Worker, spawn};
use std::path::PathBuf;

use crate::compute::SelectedDevice;
use crate::train::{
    FinishReport, TrainConfig, TrainDriver, TrainError, TrainEvent, TrainJob, run_training,
};

/// Events buffered before the training loop waits for its reader.
const EVENT_CAPACITY: usize = 64;

impl Event for TrainEvent {
    fn panicked(message: String) -> Self {
        TrainEvent::Error(TrainError::Panic(message).to_string())
    }
}

/// Starts `job` on its own thread. The last event is `Finished` or `Error`.
pub fn spawn_training(job: TrainJob, waker: Waker) -> std::io::Result<Worker<TrainEvent>> {
    spawn("unseen-train", EVENT_CAPACITY, waker, move |ctx| {
        last_event(train_in(ctx, &job, |e| e))
    })
}

/// [`spawn_training`] for a job whose `resume` means "continue the run when it has a
/// checkpoint, start it otherwise" (the workbench's Resume box): the run folder is looked at
/// on the worker, not by the caller.
pub fn spawn_training_resuming_if_possible(
    mut job: TrainJob,
    waker: Waker,
) -> std::io::Result<Worker<TrainEvent>> {
    spawn("unseen-train", EVENT_CAPACITY, waker, move |ctx| {
        job.resume &= super::files::has_checkpoint(&job.run_dir);
        last_event(train_in(ctx, &job, |e| e))
    })
}

fn last_event(outcome: Result<FinishReport, String>) -> TrainEvent {
    match outcome {
        Ok(report) => TrainEvent::Finished(report),
        Err(message) => TrainEvent::Error(message),
    }
}

/// Runs `job` inside a task (the training worker's, or the demo's), its events wrapped by
/// `wrap`; the outcome is returned, not sent.
pub fn train_in<E>(
    ctx: &mut Context<E>,
    job: &TrainJob,
    wrap: impl Fn(TrainEvent) -> E,
) -> Result<FinishReport, String> {
    let mut driver = Driver { ctx, wrap: &wrap };
    run_training(job, &mut driver).map_err(|e| e.to_string())
}

/// The worker's side of the training loop.
struct Driver<'a, E, W: Fn(TrainEvent) -> E> {
    ctx: &'a mut Context<E>,
    wrap: &'a W,
}

impl<E, W: Fn(TrainEvent) -> E> TrainDriver for Driver<'_, E, W> {
    fn event(&mut self, event: TrainEvent) -> bool {
        self.ctx.emit((self.wrap)(event)).is_ok()
    }

    fn between_steps(&mut self, step: u64) -> bool {
        let wrap = self.wrap;
        let announce = |p| {
            Some(wrap(match p {
                Pausing::Paused => TrainEvent::Paused { step },
                Pausing::Resumed => TrainEvent::Resumed { step },
            }))
        };
        self.ctx.checkpoint_announcing(announce) != Err(Cancelled)
    }
}

/// A stage of a longer task (the demo, the ablation): trains `config` on `data_dir` into
/// `run_dir`, continuing the run there when it has a checkpoint, and reports `Finished`. A
/// training stopped before its budget is an error: the stages after it need the whole run.
pub fn train_stage<E>(
    ctx: &mut Context<E>,
    data_dir: PathBuf,
    run_dir: PathBuf,
    config: TrainConfig,
    device: &SelectedDevice,
    wrap: impl Fn(TrainEvent) -> E,
) -> Result<(), String> {
    config.validate().map_err(|e| e.to_string())?;
    let job = TrainJob {
        data_dir,
        resume: super::files::has_checkpoint(&run_dir),
        run_dir,
        config,
        device: device.clone(),
    };
    let report = train_in(ctx, &job, &wrap)?;
    if report.stopped {
        return Err(format!(
            "the training of {} was stopped",
            job.run_dir.display()
        ));
    }
    ctx.emit(wrap(TrainEvent::Finished(report)))
        .map_err(|e| e.to_string())
}
