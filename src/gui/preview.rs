//! The Design workspace's renderer thread: the orbit view and the sample grid are rendered
//! off the UI thread by our wgpu pipeline on the workbench's device, newest request first.

use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use eframe::egui;
use glam::{DVec3, Quat};

use crate::dataset::sample::{SampleId, defect_mask};
use crate::dataset::{DatasetContext, GOOD, Recipe};
use crate::product::mesh::{Grid, auto_cell, mesh_defective};
use crate::product::sdf::Solid;
use crate::product::{Defect, ProductSpec};
use crate::render::{Camera, Gpu, GpuMesh, Lighting, Renderer, ViewRequest};
use crate::rng::Rng;

/// Side of the orbit view, in pixels.
pub const VIEW_SIZE: u32 = 320;
/// Cell of the orbit view's mesh: finer costs seconds per product on two cores.
const VIEW_CELL: f64 = 0.02;

/// One orbit view to render.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewJob {
    pub product: ProductSpec,
    pub lighting: Lighting,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    pub distance: f32,
    pub fov_y_deg: f32,
    /// Defect class and seed of the instance to show.
    pub defect: Option<(String, u64)>,
}

#[derive(Debug, Clone)]
pub enum PreviewJob {
    View(ViewJob),
    /// `count` random samples of the recipe (good and every defect class, round robin).
    Samples {
        recipe: Box<Recipe>,
        product: Box<ProductSpec>,
        shuffle: u64,
        count: usize,
    },
}

/// A finished view: grey image, and the defect mask when a defect was shown.
pub struct ViewImage {
    pub shade: Vec<u8>,
    pub mask: Option<Vec<u8>>,
    pub defect_part: Option<String>,
    pub millis: f64,
}

pub struct SampleImage {
    pub label: String,
    pub image: egui::ColorImage,
    pub mask: Option<Vec<u8>>,
}

pub enum PreviewResult {
    View(Box<ViewImage>),
    Samples(Vec<SampleImage>),
    Error(String),
}

/// Handle of the renderer thread.
pub struct PreviewWorker {
    jobs: Sender<PreviewJob>,
    pub results: Receiver<PreviewResult>,
    _thread: JoinHandle<()>,
}

impl PreviewWorker {
    pub fn spawn(gpu: Gpu, ctx: egui::Context) -> std::io::Result<Self> {
        let (jobs, job_rx) = channel::<PreviewJob>();
        let (result_tx, results) = channel();
        let thread = std::thread::Builder::new()
            .name("unseen-preview".into())
            .spawn(move || run(gpu, &job_rx, &result_tx, &ctx))?;
        Ok(Self {
            jobs,
            results,
            _thread: thread,
        })
    }

    pub fn request(&self, job: PreviewJob) {
        let _ = self.jobs.send(job);
    }
}

/// The good product's grid and mesh for the orbit view, kept while the product is unchanged.
struct ProductMesh {
    product: ProductSpec,
    grid: Grid,
    mesh: GpuMesh,
}

fn run(
    gpu: Gpu,
    jobs: &Receiver<PreviewJob>,
    results: &Sender<PreviewResult>,
    ctx: &egui::Context,
) {
    let mut renderer = Renderer::new(gpu);
    let mut cached: Option<ProductMesh> = None;
    while let Ok(first) = jobs.recv() {
        // Only the newest request of each kind matters.
        let (mut view, mut samples) = (None, None);
        let mut take = |job: PreviewJob| match job {
            PreviewJob::View(v) => view = Some(v),
            s @ PreviewJob::Samples { .. } => samples = Some(s),
        };
        take(first);
        loop {
            match jobs.try_recv() {
                Ok(job) => take(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if let Some(job) = view {
            let out = render_view(&mut renderer, &mut cached, job)
                .map_or_else(PreviewResult::Error, |v| PreviewResult::View(Box::new(v)));
            if results.send(out).is_err() {
                return;
            }
            ctx.request_repaint();
        }
        if let Some(PreviewJob::Samples {
            recipe,
            product,
            shuffle,
            count,
        }) = samples
        {
            let out = render_samples(&mut renderer, *recipe, *product, shuffle, count)
                .map_or_else(PreviewResult::Error, PreviewResult::Samples);
            if results.send(out).is_err() {
                return;
            }
            ctx.request_repaint();
        }
    }
}

fn render_view(
    renderer: &mut Renderer,
    cached: &mut Option<ProductMesh>,
    job: ViewJob,
) -> Result<ViewImage, String> {
    let started = Instant::now();
    let shape = job.product.shape();
    if cached.as_ref().is_none_or(|c| c.product != job.product) {
        let good = Solid::good(shape);
        let cell = if job.product.mesh.cell > 0.0 {
            job.product.mesh.cell
        } else {
            VIEW_CELL.max(auto_cell(200.0))
        };
        let grid = Grid::for_shape(&shape, cell).sample(&good);
        let mesh = renderer.upload(&grid.surface_nets(&good));
        *cached = Some(ProductMesh {
            product: job.product.clone(),
            grid,
            mesh,
        });
    }
    let Some(product_mesh) = cached.as_ref() else {
        return Err("the product could not be meshed".into());
    };
    let rotation = Quat::from_rotation_x(job.pitch_deg.to_radians())
        * Quat::from_rotation_y(job.yaw_deg.to_radians());
    let camera = Camera {
        rotation,
        centre: shape.centre().as_vec3(),
        distance: job.distance,
        fov_y_deg: job.fov_y_deg,
    };
    let defect: Option<(Defect, String)> = job.defect.as_ref().and_then(|(class, seed)| {
        let spec = job.product.defects.get(class)?;
        let defect = spec.sample(&shape, &mut Rng::new(*seed));
        let id = defect.part(&shape);
        let part = job
            .product
            .parts
            .named()
            .into_iter()
            .find(|(p, _)| *p == id)
            .map_or_else(String::new, |(_, name)| name.to_string());
        Some((defect, part))
    });
    let defect_mesh = defect.as_ref().map(|(d, _)| {
        let solid = Solid::with_defect(shape, d.clone());
        renderer.upload(&mesh_defective(&product_mesh.grid, &solid))
    });
    let mut views = vec![ViewRequest {
        mesh: &product_mesh.mesh,
        camera,
        lighting: job.lighting,
    }];
    if let Some(mesh) = &defect_mesh {
        views.push(ViewRequest {
            mesh,
            camera,
            lighting: job.lighting,
        });
    }
    let frames = renderer
        .render(&views, VIEW_SIZE, 2)
        .map_err(|e| e.to_string())?;
    let (shade, mask) = match frames.as_slice() {
        [good] => (good.shade.clone(), None),
        [good, bad] => (bad.shade.clone(), Some(defect_mask(good, bad, 0.01))),
        _ => return Err("the renderer returned no image".into()),
    };
    Ok(ViewImage {
        shade,
        mask,
        defect_part: defect.map(|(_, part)| part),
        millis: started.elapsed().as_secs_f64() * 1000.0,
    })
}

fn render_samples(
    renderer: &mut Renderer,
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
    let ctx = DatasetContext::new(renderer, recipe, product);
    let rendered = ctx
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
                image: super::util::image_from_bytes(&s.image, size, size, channels),
                mask: s.mask,
            }
        })
        .collect())
}

/// The light direction from azimuth (about the view axis, 0 = from the right) and elevation
/// (towards the viewer), in degrees.
pub fn light_direction(azimuth_deg: f32, elevation_deg: f32) -> [f32; 3] {
    let (a, e) = (azimuth_deg.to_radians(), elevation_deg.to_radians());
    let v = DVec3::new(
        f64::from(e.cos() * a.cos()),
        f64::from(e.cos() * a.sin()),
        f64::from(e.sin()),
    );
    [v.x as f32, v.y as f32, v.z as f32]
}

/// Azimuth and elevation of a light direction, in degrees (inverse of [`light_direction`]).
pub fn light_angles(direction: [f32; 3]) -> (f32, f32) {
    let [x, y, z] = direction;
    let len = (x * x + y * y + z * z).sqrt().max(1e-6);
    let elevation = (z / len).clamp(-1.0, 1.0).asin().to_degrees();
    let azimuth = y.atan2(x).to_degrees();
    (azimuth, elevation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_angles_round_trip() {
        for (a, e) in [(0.0, 45.0), (123.0, 10.0), (-60.0, 80.0)] {
            let (a2, e2) = light_angles(light_direction(a, e));
            assert!(
                (a - a2).abs() < 1e-3 && (e - e2).abs() < 1e-3,
                "{a},{e} → {a2},{e2}"
            );
        }
    }
}
