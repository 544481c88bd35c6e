//! The generation worker: a dataset rendered from a recipe ([`crate::dataset::generate`]) on
//! the thread `unseen-generate`, with progress after every batch; pausing and cancelling take
//! effect between batches (a cancelled dataset resumes where it stopped when rendered again).

use std::path::PathBuf;
use std::time::Instant;

use super::{Context, Event, Waker, Worker, spawn};
use crate::dataset::{GenerateControl, Manifest, Recipe, generate};
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
        match generate_in(ctx, job, |e| e) {
            Ok(manifest) => GenerateEvent::Finished {
                samples: manifest.samples.len(),
                elapsed_secs: started.elapsed().as_secs_f64(),
            },
            Err(message) => GenerateEvent::Failed(message),
        }
    })
}

/// Renders `job` inside another task (the demo's stages), its events wrapped by `wrap`.
pub fn generate_in<E>(
    ctx: &mut Context<E>,
    job: GenerateJob,
    wrap: impl Fn(GenerateEvent) -> E,
) -> Result<Manifest, String> {
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
    generate(
        &mut renderer,
        job.recipe,
        job.product,
        &job.out,
        &control,
        &mut progress,
    )
    .map_err(|e| e.to_string())
}
