//! The workbench's renders, on the thread `unseen-preview`: the orbit view of the product (with
//! a defect instance and its mask) and a grid of random samples of the recipe. Both are made by
//! the dataset's own code ([`DatasetContext`]): the grid is a batch of preview samples, the
//! orbit view a sample's meshes and mask at the camera the user turns. Only the newest request
//! of each kind is rendered.

use std::sync::mpsc::{Receiver, SyncSender, TryIter, TryRecvError, sync_channel};
use std::time::Instant;

use glam::{DVec3, Quat};

use super::{Context, Event, Waker, Worker, spawn};
use crate::dataset::sample::{SampleId, draw_defect_on};
use crate::dataset::{DatasetContext, GOOD, Recipe};
use crate::product::geometry::first_hit;
use crate::product::mesh::auto_cell;
use crate::product::{Field, ProductSpec};
use crate::render::{Camera, Gpu, Renderer};

/// Side of the orbit view, in pixels.
pub const VIEW_SIZE: u32 = 320;
/// Cell of the orbit view's mesh: finer costs seconds per product on two cores.
const VIEW_CELL: f64 = 0.02;
/// Requests waiting before [`PreviewService::request`] says "later".
const REQUEST_CAPACITY: usize = 8;
/// Finished renders waiting for the reader.
const EVENT_CAPACITY: usize = 4;

/// One orbit view to render.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewJob {
    /// Camera distance and field of view, light, supersampling and mask tolerance come from
    /// the recipe; the defect instance is drawn from its seed.
    pub recipe: Recipe,
    pub product: ProductSpec,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    /// Defect class and instance number to show.
    pub defect: Option<(String, u64)>,
    /// A pixel of the view (x, y, from the top-left) clicked to place the defect at the
    /// surface seen there.
    pub click: Option<[f32; 2]>,
    /// Where a click placed the defect before (the product's frame).
    pub placed: Option<[f64; 3]>,
}

/// What to render.
#[derive(Debug, Clone)]
pub enum PreviewJob {
    View(Box<ViewJob>),
    /// `count` preview samples of the recipe (good and every defect class, round robin),
    /// the `shuffle`-th set of them.
    Samples {
        recipe: Box<Recipe>,
        product: Box<ProductSpec>,
        shuffle: u64,
        count: usize,
    },
}

/// A finished orbit view: grey image, and the defect mask when a defect was shown.
#[derive(Debug, Clone)]
pub struct ViewImage {
    pub shade: Vec<u8>,
    pub mask: Option<Vec<u8>>,
    /// The parts the defect changes, joined for display ("wall and base" for a chip on the
    /// rim), the part it lies on first.
    pub affected_parts: Option<String>,
    /// The part shown at each pixel (0: background).
    pub part: Vec<u8>,
    /// The product's parts, (id, name) in id order.
    pub parts: Vec<(u8, String)>,
    /// Where the defect was placed by a click (the product's frame).
    pub placed: Option<[f64; 3]>,
    /// Whether the view answers a click (`placed` is where it landed, or `None` for a miss).
    pub clicked: bool,
    pub millis: f64,
}

/// One rendered sample of the grid.
#[derive(Debug, Clone)]
pub struct SampleImage {
    pub label: String,
    pub size: usize,
    /// 1 (grey) or 3 (RGB), interleaved.
    pub channels: usize,
    pub pixels: Vec<u8>,
    pub mask: Option<Vec<u8>>,
}

/// What the preview worker reports.
#[derive(Debug, Clone)]
pub enum PreviewEvent {
    View(Box<ViewImage>),
    Samples(Vec<SampleImage>),
    /// A render failed; the worker goes on with the next request.
    Error(String),
    /// The last event: nobody sends requests any more, or the renderer failed for good.
    Stopped(Option<String>),
}

impl Event for PreviewEvent {
    fn panicked(message: String) -> Self {
        Self::Stopped(Some(format!("the renderer panicked: {message}")))
    }
}

/// The preview worker and its request queue. Dropping it ends the worker.
pub struct PreviewService {
    worker: Worker<PreviewEvent>,
    requests: SyncSender<PreviewJob>,
}

impl PreviewService {
    /// Starts the renderer thread on `gpu`.
    pub fn spawn(gpu: Gpu, waker: Waker) -> std::io::Result<Self> {
        let (requests, request_rx) = sync_channel(REQUEST_CAPACITY);
        let worker = spawn("unseen-preview", EVENT_CAPACITY, waker, move |ctx| {
            serve(ctx, gpu, &request_rx)
        })?;
        Ok(Self { worker, requests })
    }

    /// Queues a render without waiting; `false` when the queue is full (ask again later) or
    /// the worker has stopped.
    pub fn request(&self, job: PreviewJob) -> bool {
        self.requests.try_send(job).is_ok()
    }

    /// Finished renders, without waiting.
    pub fn try_iter(&self) -> TryIter<'_, PreviewEvent> {
        self.worker.try_iter()
    }
}

/// Renders requests until the queue closes, newest of each kind first.
fn serve(
    ctx: &mut Context<PreviewEvent>,
    gpu: Gpu,
    requests: &Receiver<PreviewJob>,
) -> PreviewEvent {
    let mut renderer = Renderer::new(gpu);
    let mut orbit: Option<DatasetContext> = None;
    while let Ok(first) = requests.recv() {
        let (mut view, mut samples) = (None, None);
        let mut take = |job: PreviewJob| match job {
            PreviewJob::View(v) => view = Some(v),
            s @ PreviewJob::Samples { .. } => samples = Some(s),
        };
        take(first);
        loop {
            match requests.try_recv() {
                Ok(job) => take(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return PreviewEvent::Stopped(None),
            }
        }
        if ctx.checkpoint().is_err() {
            return PreviewEvent::Stopped(None);
        }
        if let Some(job) = view {
            let out = render_view(&mut renderer, &mut orbit, &job)
                .map_or_else(PreviewEvent::Error, |v| PreviewEvent::View(Box::new(v)));
            if ctx.emit(out).is_err() {
                return PreviewEvent::Stopped(None);
            }
        }
        if let Some(PreviewJob::Samples {
            recipe,
            product,
            shuffle,
            count,
        }) = samples
        {
            let out = render_samples(
                &mut renderer,
                orbit.as_ref(),
                *recipe,
                *product,
                shuffle,
                count,
            )
            .map_or_else(PreviewEvent::Error, PreviewEvent::Samples);
            if ctx.emit(out).is_err() {
                return PreviewEvent::Stopped(None);
            }
        }
    }
    PreviewEvent::Stopped(None)
}

/// The orbit view; the good product's mesh (in `orbit`) is kept while the product is the same.
fn render_view(
    renderer: &mut Renderer,
    orbit: &mut Option<DatasetContext>,
    job: &ViewJob,
) -> Result<ViewImage, String> {
    let started = Instant::now();
    let product = &job.product;
    let context = match orbit.take() {
        Some(mut context) if context.product == *product => {
            context.recipe.clone_from(&job.recipe);
            context
        }
        _ => {
            let cell = if product.mesh.cell > 0.0 {
                product.mesh.cell
            } else {
                VIEW_CELL.max(auto_cell(200.0))
            };
            DatasetContext::with_cell(renderer, job.recipe.clone(), product.clone(), cell)
                .map_err(|e| e.to_string())?
        }
    };
    let context = orbit.insert(context);
    // The product's own geometry (an imported product's grid, not the cap family's empty
    // analytic shape) frames the view and carries the defect.
    let geometry = &context.geometry;
    let camera = Camera::new(
        Quat::from_rotation_x(job.pitch_deg.to_radians())
            * Quat::from_rotation_y(job.yaw_deg.to_radians()),
        geometry.centre().as_vec3(),
        job.recipe.camera.distance as f32,
        job.recipe.camera.fov_y_deg as f32,
    );
    // Instance `n` of a class is preview sample `n` of that class: the defect a dataset of
    // this recipe would draw for it.
    // A click places the defect at the surface it hits (a miss keeps it where it was).
    let placed = job
        .click
        .and_then(|[x, y]| {
            let (origin, dir) = camera.ray(VIEW_SIZE, x, y);
            let reach = f64::from(camera.distance) + 4.0;
            first_hit(geometry, origin.as_dvec3(), dir.as_dvec3(), reach)
        })
        .or(job.placed.map(DVec3::from));
    let defect = job.defect.as_ref().and_then(|(class, instance)| {
        let id = SampleId::preview(&job.recipe, class, *instance as usize);
        let drawn = draw_defect_on(&id, product, geometry, 0)?;
        Some(match placed {
            Some(p) => drawn.moved_to(geometry, p),
            None => drawn,
        })
    });
    let affected_parts = defect.as_ref().map(|d| {
        let names: Vec<&str> = d
            .parts_touched(geometry)
            .into_iter()
            .filter_map(|p| context.parts().name_of(p))
            .collect();
        names.join(" and ")
    });
    let (frame, mask) = context
        .render_view(
            renderer,
            defect.as_ref(),
            camera,
            job.recipe.lighting,
            VIEW_SIZE,
        )
        .map_err(|e| e.to_string())?;
    let parts = context
        .parts()
        .named()
        .into_iter()
        .map(|(id, name)| (id, name.to_string()))
        .collect();
    Ok(ViewImage {
        shade: frame.shade,
        mask,
        affected_parts,
        part: frame.part,
        parts,
        placed: placed.map(|p| p.to_array()),
        clicked: job.click.is_some(),
        millis: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// A batch of preview samples, rendered exactly as generation renders samples.
fn render_samples(
    renderer: &mut Renderer,
    orbit: Option<&DatasetContext>,
    recipe: Recipe,
    product: ProductSpec,
    shuffle: u64,
    count: usize,
) -> Result<Vec<SampleImage>, String> {
    let mut classes = vec![GOOD.to_string()];
    classes.extend(product.defects.keys().cloned());
    let ids: Vec<SampleId> = (0..count)
        .map(|i| {
            let class = &classes[i % classes.len()];
            SampleId::preview(&recipe, class, shuffle as usize * count + i)
        })
        .collect();
    // The orbit view's product is already open: its geometry is reused rather than read,
    // hashed and (for an imported mesh) checked against its cached grid again.
    let context = match orbit {
        Some(o) if o.product == product => {
            DatasetContext::with_geometry(renderer, recipe, product, o.geometry.clone())
        }
        _ => DatasetContext::new(renderer, recipe, product),
    }
    .map_err(|e| e.to_string())?;
    let rendered = context
        .render_batch(renderer, &ids)
        .map_err(|e| e.to_string())?;
    Ok(rendered
        .into_iter()
        .map(|s| {
            let size = s.size as usize;
            let channels = if s.image.len() == 3 * size * size {
                3
            } else {
                1
            };
            SampleImage {
                label: s.record.id.class.clone(),
                size,
                channels,
                pixels: s.image,
                mask: s.mask,
            }
        })
        .collect())
}
