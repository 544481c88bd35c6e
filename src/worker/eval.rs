//! The evaluation worker: [`evaluate`] on the thread `unseen-eval`, its progress as events;
//! pausing takes effect at the next progress report, cancelling as soon as the evaluation
//! next looks at its cancel flag.

use super::{Context, Event, Waker, Worker, spawn};
use crate::compute::SelectedDevice;
use crate::eval::report::ReportFiles;
use crate::eval::{EvalOptions, EvalProgress, EvalReport, evaluate};

/// Events buffered before the evaluation waits for its reader.
const EVENT_CAPACITY: usize = 16;

/// What the evaluation worker reports.
#[derive(Debug, Clone)]
pub enum EvalEvent {
    Progress(EvalProgress),
    /// The report, and the files written for it.
    Finished(Box<EvalReport>, ReportFiles),
    Failed(String),
}

impl Event for EvalEvent {
    fn panicked(message: String) -> Self {
        Self::Failed(format!("the evaluation panicked: {message}"))
    }
}

/// Evaluates on its own thread. The last event is `Finished` or `Failed`.
pub fn spawn_evaluation(
    options: EvalOptions,
    device: SelectedDevice,
    waker: Waker,
) -> std::io::Result<Worker<EvalEvent>> {
    spawn(
        "unseen-eval",
        EVENT_CAPACITY,
        waker,
        move |ctx| match evaluate_in(ctx, &options, &device, EvalEvent::Progress) {
            Ok((report, files)) => EvalEvent::Finished(Box::new(report), files),
            Err(message) => EvalEvent::Failed(message),
        },
    )
}

/// Evaluates inside another task (the demo's last stage), progress wrapped by `wrap`.
pub fn evaluate_in<E>(
    ctx: &mut Context<E>,
    options: &EvalOptions,
    device: &SelectedDevice,
    wrap: impl Fn(EvalProgress) -> E,
) -> Result<(EvalReport, ReportFiles), String> {
    let cancel = ctx.cancel_flag();
    let mut progress = |p: EvalProgress| {
        if ctx.emit(wrap(p)).is_ok() {
            // A pause waits here; a cancel sets the flag the evaluation watches.
            let _ = ctx.checkpoint();
        }
    };
    evaluate(options, &device.device, &mut progress, &cancel).map_err(|e| e.to_string())
}
