//! The generation worker: a dataset rendered from a recipe ([`crate::dataset::generate`]) on
//! the thread `unseen-generate`, with progress after every batch; pausing and cancelling take
//! effect between batches (a cancelled dataset resumes where it stopped when rendered again).

use std::path::PathBuf;
use std::time::Instant;

use super::{Context, Event, Waker, Worker, spawn};
use crate::dataset::generate::Generated;
use crate::dataset::{GenerateControl, GenerateOptions, Recipe, generate_with};
use crate::product::ProductSpec;
use crate::render::{Gpu, Renderer};

/// Events buffered before the renderer waits for its reader.
const EVENT_CAPACITY: usize = 16;

/// A dataset to render.
#[derive(Debug, Clone)]
pub struct GenerateJob {
    /// The device to render on (`None`: a headless one of its own, opened on the worker).
    pub gpu: Option<Gpu>,
    pub recipe: Recipe,
    pub product: ProductSpec,
    pub out: PathBuf,
    /// Delete another dataset found in `out` instead of refusing to render there.
    pub replace: bool,
}

/// What the generation worker reports.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerateEvent {
    /// Rendering starts on `adapter`; the recipe holds `total` samples.
    Started {
        adapter: String,
        total: usize,
    },
    /// `done` of `total` samples are finished (samples kept from an interrupted run count).
    Progress {
        done: usize,
        total: usize,
    },
    Finished {
        samples: usize,
        elapsed_secs: f64,
        /// What happened to what was in the folder: a dataset replaced, samples kept from an
        /// interrupted render, damaged ones rendered again.
        notes: Vec<String>,
    },
    Failed(String),
}

impl Event for GenerateEvent {
    fn panicked(message: String) -> Self {
        Self::Failed(format!("the renderer panicked: {message}"))
    }
}

/// Renders `job` on its own thread. The last event is `Finished` or `Failed`.
pub fn spawn_generation(job: GenerateJob, waker: Waker) -> std::io::Result<Worker<GenerateEvent>> {
    spawn("unseen-generate", EVENT_CAPACITY, waker, move |ctx| {
        let started = Instant::now();
        let out = job.out.clone();
        match generate_in(ctx, job, |e| e) {
            Ok(generated) => GenerateEvent::Finished {
                samples: generated.manifest.samples.len(),
                elapsed_secs: started.elapsed().as_secs_f64(),
                notes: notes(&generated, &out),
            },
            Err(message) => GenerateEvent::Failed(message),
        }
    })
}

/// What a render did besides rendering, in words.
fn notes(generated: &Generated, out: &std::path::Path) -> Vec<String> {
    let mut notes = Vec::new();
    if generated.replaced > 0 {
        notes.push(format!(
            "replaced the dataset that was in {}: {} files deleted",
            out.display(),
            generated.replaced
        ));
    }
    if generated.resumed > 0 {
        notes.push(format!(
            "resumed an interrupted render: {} samples kept",
            generated.resumed
        ));
    }
    if let Some(first) = generated.damaged.first() {
        notes.push(format!(
            "rendered again the samples of {} file(s) that were missing or changed since the \
             interrupted render wrote them (e.g. {first})",
            generated.damaged.len()
        ));
    }
    notes
}

/// Renders `job` inside another task (the demo's stages), its events wrapped by `wrap`.
pub fn generate_in<E>(
    ctx: &mut Context<E>,
    job: GenerateJob,
    wrap: impl Fn(GenerateEvent) -> E,
) -> Result<Generated, String> {
    let gpu = match job.gpu {
        Some(gpu) => gpu,
        None => Gpu::headless().map_err(|e| e.to_string())?,
    };
    let total: usize = job.recipe.groups().iter().map(|g| g.2).sum();
    ctx.emit(wrap(GenerateEvent::Started {
        adapter: gpu.describe(),
        total,
    }))
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&job.out)
        .map_err(|e| format!("cannot create {}: {e}", job.out.display()))?;
    let mut renderer = Renderer::new(gpu);
    // `generate` stops at its next batch once the flag is set (a cancel, or a reader gone).
    let control = GenerateControl {
        cancel: ctx.cancel_flag(),
    };
    let mut progress = |done: usize, total: usize| {
        if ctx
            .emit(wrap(GenerateEvent::Progress { done, total }))
            .is_ok()
        {
            // A pause waits here, between batches; a cancel sets the flag `generate` watches.
            let _ = ctx.checkpoint();
        }
    };
    generate_with(
        &mut renderer,
        job.recipe,
        job.product,
        &job.out,
        GenerateOptions {
            replace: job.replace,
        },
        &control,
        &mut progress,
    )
    .map_err(|e| e.to_string())
}

/// A stage of a longer task (the demo, the ablation): renders `job` unless the dataset in
/// `job.out` already is its recipe's, then reports `Finished` with what the render did to the
/// folder. An up-to-date dataset is reported by `up_to_date` instead and left alone.
pub fn render_stage<E>(
    ctx: &mut Context<E>,
    job: GenerateJob,
    wrap: impl Fn(GenerateEvent) -> E,
    up_to_date: impl FnOnce(PathBuf) -> E,
) -> Result<(), String> {
    if crate::eval::demo::is_rendered(&job.out, &job.recipe, &job.product) {
        return ctx.emit(up_to_date(job.out)).map_err(|e| e.to_string());
    }
    let started = Instant::now();
    let out = job.out.clone();
    let generated = generate_in(ctx, job, &wrap)?;
    ctx.emit(wrap(GenerateEvent::Finished {
        samples: generated.manifest.samples.len(),
        elapsed_secs: started.elapsed().as_secs_f64(),
        notes: notes(&generated, &out),
    }))
    .map_err(|e| e.to_string())
}
