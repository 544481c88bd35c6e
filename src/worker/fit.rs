//! The scene fit on a worker, for the workbench: the photos are read, the scene of the recipe
//! is fitted to them alternation by alternation (each announced), and the outcome comes back
//! with the photos it was fitted on, for showing beside their renders.

use std::path::PathBuf;

use super::{Event, Waker, Worker, spawn};
use crate::dataset::recipe::Recipe;
use crate::imaging::MapInput;
use crate::product::ProductSpec;
use crate::refine::Scene;
use crate::refine::fit::{FitError, FitOutcome, FitSettings, fit_scene, load_photos};
use crate::render::{Gpu, Renderer};

#[derive(Debug, Clone)]
pub struct FitJob {
    pub photos: PathBuf,
    pub recipe: Recipe,
    pub product: ProductSpec,
    /// The device to render on (`None`: a headless one of its own).
    pub gpu: Option<Gpu>,
    pub settings: FitSettings,
    /// Photos fitted on, spread through the folder.
    pub photos_used: usize,
    pub map_input: MapInput,
}

/// A finished fit and the photos it was fitted on (grey, [0, 1]).
#[derive(Debug, Clone)]
pub struct Fitted {
    pub outcome: FitOutcome,
    pub photos: crate::refine::fit::Photos,
    /// Good photos in the folder.
    pub found: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub enum FitEvent {
    /// The photos are read: how many are used of how many found.
    Started {
        used: usize,
        found: usize,
    },
    /// An alternation finished (its line), `done` of `total`.
    Progress {
        done: usize,
        total: usize,
        line: String,
    },
    Finished(Box<Fitted>),
    Cancelled,
    Failed(String),
}

impl Event for FitEvent {
    fn panicked(message: String) -> Self {
        Self::Failed(format!("the fit panicked: {message}"))
    }
}

pub fn spawn_fit(job: FitJob, waker: Waker) -> std::io::Result<Worker<FitEvent>> {
    spawn("unseen-fit", 16, waker, move |ctx| {
        let started = std::time::Instant::now();
        if let Err(e) = job.settings.validate() {
            return FitEvent::Failed(e);
        }
        let size = job.recipe.image.size as usize;
        let (photos, found) = match load_photos(&job.photos, size, job.photos_used, job.map_input) {
            Ok(p) => p,
            Err(e) => return FitEvent::Failed(e.to_string()),
        };
        if ctx
            .emit(FitEvent::Started {
                used: photos.len(),
                found,
            })
            .is_err()
        {
            return FitEvent::Cancelled;
        }
        let gpu = match job.gpu.clone().map_or_else(Gpu::headless, Ok) {
            Ok(gpu) => gpu,
            Err(e) => return FitEvent::Failed(e.to_string()),
        };
        let mut renderer = Renderer::new(gpu);
        let mut scene = match Scene::for_recipe(&renderer, &job.recipe, &job.product) {
            Ok(scene) => scene,
            Err(e) => return FitEvent::Failed(e.to_string()),
        };
        let total = job.settings.alternations;
        let mut done = 0;
        let result = fit_scene(
            &mut scene,
            &mut renderer,
            &job.recipe,
            &photos,
            &job.settings,
            &mut |line| {
                done += 1;
                // A pause waits here; a cancel (or a window gone) stops the fit.
                ctx.emit(FitEvent::Progress { done, total, line }).is_ok()
                    && ctx.checkpoint().is_ok()
            },
        );
        match result {
            Ok(outcome) => FitEvent::Finished(Box::new(Fitted {
                outcome,
                photos,
                found,
                seconds: started.elapsed().as_secs_f64(),
            })),
            Err(FitError::Cancelled) => FitEvent::Cancelled,
            Err(e) => FitEvent::Failed(e.to_string()),
        }
    })
}
