//! The demo worker: the stages of [`crate::eval::demo`] one after the other on the thread
//! `unseen-demo`, each through the same code as its own worker (generation, training,
//! evaluation), reporting their events wrapped in [`DemoEvent`]. Every stage resumes: a stage
//! whose output is already there is skipped, a training with a checkpoint continues from it.
//! `unseen demo` and the workbench's quick demo both run it.

use std::path::PathBuf;
use std::time::Instant;

use super::eval::evaluate_in;
use super::generate::{GenerateEvent, GenerateJob, render_stage};
use super::train::train_stage;
use super::{Context, Event, Waker, Worker, spawn};
use crate::compute::SelectedDevice;
use crate::eval::demo::{self, DemoLayout, DemoPlan, STAGES};
use crate::eval::report::ReportFiles;
use crate::eval::{EvalProgress, EvalReport};
use crate::product::ProductSpec;
use crate::render::Gpu;
use crate::train::TrainEvent;

/// Events buffered before the demo waits for its reader.
const EVENT_CAPACITY: usize = 64;

/// A demo to run.
#[derive(Debug, Clone)]
pub struct DemoJob {
    pub plan: DemoPlan,
    pub out: PathBuf,
    /// The device to render on (`None`: a headless one of its own).
    pub gpu: Option<Gpu>,
    /// Where the models train and inspect.
    pub device: SelectedDevice,
}

/// What the demo made.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub layout: DemoLayout,
    pub report: EvalReport,
    pub files: ReportFiles,
    pub elapsed_secs: f64,
}

/// What the demo worker reports.
#[derive(Debug, Clone)]
pub enum DemoEvent {
    /// Stage `number` (from 1) of `count` begins.
    Stage {
        number: usize,
        count: usize,
        title: String,
    },
    /// The stage's dataset is already there, made from the same recipe.
    UpToDate(PathBuf),
    Render(GenerateEvent),
    /// A training stage's events, its `Finished` included.
    Train(TrainEvent),
    Eval(EvalProgress),
    Finished(Box<DemoOutcome>),
    /// Cancelled during stage `stage`; what is done stays done, and the next run resumes.
    Cancelled {
        stage: usize,
    },
    Failed(String),
}

impl Event for DemoEvent {
    fn panicked(message: String) -> Self {
        Self::Failed(format!("the demo panicked: {message}"))
    }
}

/// Runs the demo on its own thread. The last event is `Finished`, `Cancelled` or `Failed`.
pub fn spawn_demo(job: DemoJob, waker: Waker) -> std::io::Result<Worker<DemoEvent>> {
    spawn("unseen-demo", EVENT_CAPACITY, waker, move |ctx| {
        let mut stage = 0;
        match run(ctx, job, &mut stage) {
            Ok(outcome) => DemoEvent::Finished(Box::new(outcome)),
            Err(_) if ctx.is_cancelled() => DemoEvent::Cancelled { stage },
            Err(message) => DemoEvent::Failed(message),
        }
    })
}

/// Enters the next stage: a checkpoint (pause, cancel), then its announcement.
fn begin(ctx: &mut Context<DemoEvent>, stage: &mut usize, title: String) -> Result<(), String> {
    ctx.checkpoint().map_err(|e| e.to_string())?;
    *stage += 1;
    ctx.emit(DemoEvent::Stage {
        number: *stage,
        count: STAGES,
        title,
    })
    .map_err(|e| e.to_string())
}

fn run(
    ctx: &mut Context<DemoEvent>,
    job: DemoJob,
    stage: &mut usize,
) -> Result<DemoOutcome, String> {
    let started = Instant::now();
    let layout = DemoLayout::new(&job.out);
    std::fs::create_dir_all(&job.out)
        .map_err(|e| format!("cannot create {}: {e}", job.out.display()))?;
    let product = ProductSpec::builtin_cap();
    let (train_recipe, eval_recipe) = demo::recipes(&job.plan).map_err(|e| e.to_string())?;
    let gpu = match job.gpu {
        Some(gpu) => gpu,
        None => Gpu::headless().map_err(|e| e.to_string())?,
    };

    let renders = [
        ("rendering the training set", train_recipe, layout.data()),
        (
            "rendering the held-out evaluation set",
            eval_recipe,
            layout.eval_data(),
        ),
    ];
    for (title, recipe, out) in renders {
        begin(ctx, stage, format!("{title} into {}", out.display()))?;
        // The demo's own folder: an older demo's dataset in it is replaced, not mixed with.
        let render = GenerateJob {
            gpu: Some(gpu.clone()),
            recipe,
            product: product.clone(),
            out,
            replace: true,
        };
        render_stage(ctx, render, DemoEvent::Render, DemoEvent::UpToDate)?;
    }
    drop(gpu);

    for training in demo::training_stages(&job.plan, &layout) {
        let config = training.config;
        begin(
            ctx,
            stage,
            format!(
                "training {} for {} steps on {} into {}",
                config.model,
                config.steps,
                job.device.description,
                training.run_dir.display()
            ),
        )?;
        train_stage(
            ctx,
            layout.data(),
            training.run_dir,
            config,
            &job.device,
            DemoEvent::Train,
        )?;
    }

    begin(
        ctx,
        stage,
        "calibrating and evaluating both models on the held-out set".into(),
    )?;
    let options = demo::eval_options(&job.plan, &layout);
    let (report, files) = evaluate_in(ctx, &options, &job.device, DemoEvent::Eval)?;
    Ok(DemoOutcome {
        layout,
        report,
        files,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}
