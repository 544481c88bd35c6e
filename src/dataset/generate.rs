//! Dataset generation: plan every sample from the recipe's seed, render them in large batches
//! (one GPU pass and one readback per batch), and hand finished samples to writer threads that
//! encode PNGs and write them atomically while the next batch renders.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::manifest::{
    DEPTH_SCALE, ImageInfo, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, SamplePaths, SampleRecord,
};
use super::recipe::{Channels, Recipe};
use super::sample::{
    POSES_PER_DEFECT, SampleId, ViewParams, defect_mask, draw_defect, draw_view, finish_image,
};
use crate::io::write_atomic;
use crate::product::mesh::{Grid, auto_cell, mesh_defective};
use crate::product::sdf::Solid;
use crate::product::{Defect, ProductSpec};
use crate::render::{GpuMesh, RenderError, Renderer, ViewRequest};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("encoding {path}: {message}")]
    Encode { path: String, message: String },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "sample {split}/{class}/{index}: the defect was not visible in any of {attempts} poses; \
         widen the pose range or lower mask.min_visible_fraction"
    )]
    NeverVisible {
        split: String,
        class: String,
        index: usize,
        attempts: u32,
    },
    #[error("generation was cancelled")]
    Cancelled,
    #[error("a writer thread stopped unexpectedly")]
    WriterGone,
}

/// Everything shared by the samples of one dataset.
pub struct DatasetContext {
    pub recipe: Recipe,
    pub product: ProductSpec,
    pub cell: f64,
    grid: Grid,
    good_mesh: GpuMesh,
}

impl DatasetContext {
    pub fn new(renderer: &Renderer, recipe: Recipe, product: ProductSpec) -> Self {
        let shape = product.shape();
        let cell = if product.mesh.cell > 0.0 {
            product.mesh.cell
        } else {
            // Mesh finely enough for the closest camera the recipe allows.
            let nearest = recipe
                .randomize
                .camera_distance
                .map_or(recipe.camera.distance, |r| r[0]);
            let camera = crate::render::Camera {
                rotation: Default::default(),
                centre: shape.centre().as_vec3(),
                distance: nearest as f32,
                fov_y_deg: recipe.camera.fov_y_deg as f32,
            };
            auto_cell(camera.pixels_per_unit(recipe.image.size))
        };
        let good = Solid::good(shape);
        let grid = Grid::for_shape(&shape, cell).sample(&good);
        let good_mesh = renderer.upload(&grid.surface_nets(&good));
        Self {
            recipe,
            product,
            cell,
            grid,
            good_mesh,
        }
    }

    /// Every sample of the recipe, in generation order.
    pub fn plan(&self) -> Vec<SampleId> {
        self.recipe
            .groups()
            .into_iter()
            .flat_map(|(split, class, n)| {
                (0..n)
                    .map(|i| SampleId::new(&self.recipe, split, &class, i))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Renders a batch of samples, drawing new poses for defects that are not visible.
    pub fn render_batch(
        &self,
        renderer: &mut Renderer,
        ids: &[SampleId],
    ) -> Result<Vec<RenderedSample>, DatasetError> {
        let shape = self.product.shape();
        let mut defects: Vec<Option<Defect>> = ids
            .iter()
            .map(|id| draw_defect(id, &self.product, 0))
            .collect();
        let mut meshes = self.defect_meshes(renderer, &defects);
        let size = self.recipe.image.size;
        let min_px =
            (self.recipe.mask.min_visible_fraction * f64::from(size * size)).ceil() as usize;
        let mut attempts = vec![0u32; ids.len()];
        let mut done: Vec<Option<RenderedSample>> = vec![None; ids.len()];
        let mut pending: Vec<usize> = (0..ids.len()).collect();
        while !pending.is_empty() {
            // Samples whose defect stayed hidden for a while get a new defect placement.
            let redraw: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&i| attempts[i] > 0 && attempts[i].is_multiple_of(POSES_PER_DEFECT))
                .collect();
            if !redraw.is_empty() {
                let fresh: Vec<Option<Defect>> = redraw
                    .iter()
                    .map(|&i| draw_defect(&ids[i], &self.product, attempts[i]))
                    .collect();
                for (mesh, (&i, defect)) in self
                    .defect_meshes(renderer, &fresh)
                    .into_iter()
                    .zip(redraw.iter().zip(fresh))
                {
                    meshes[i] = mesh;
                    defects[i] = defect;
                }
            }
            let views: Vec<ViewParams> = pending
                .iter()
                .map(|&i| draw_view(&ids[i], &self.recipe, attempts[i]))
                .collect();
            let mut requests = Vec::new();
            for (k, &i) in pending.iter().enumerate() {
                let camera = views[k].camera(&self.recipe, &shape);
                let lighting = views[k].lighting;
                let mesh = meshes[i].as_ref().unwrap_or(&self.good_mesh);
                requests.push(ViewRequest {
                    mesh,
                    camera,
                    lighting,
                });
                if meshes[i].is_some() {
                    requests.push(ViewRequest {
                        mesh: &self.good_mesh,
                        camera,
                        lighting,
                    });
                }
            }
            let mut frames = renderer
                .render(&requests, size, self.recipe.image.supersample)?
                .into_iter();
            let mut retry = Vec::new();
            for (k, &i) in pending.iter().enumerate() {
                let id = &ids[i];
                attempts[i] += 1;
                let frame = frames
                    .next()
                    .ok_or(RenderError::Readback("missing frame".into()))?;
                let view = views[k];
                let (mask, visible) = if meshes[i].is_some() {
                    let good = frames
                        .next()
                        .ok_or(RenderError::Readback("missing frame".into()))?;
                    let mask = defect_mask(&good, &frame, self.recipe.mask.depth_tolerance);
                    let visible = mask.iter().filter(|m| **m != 0).count();
                    (Some(mask), visible)
                } else {
                    (None, 0)
                };
                let part = defects[i].as_ref().map(|d| d.part(&shape));
                if mask.is_some() && visible < min_px.max(1) {
                    if attempts[i] >= self.recipe.mask.max_attempts {
                        return Err(DatasetError::NeverVisible {
                            split: id.split.clone(),
                            class: id.class.clone(),
                            index: id.index,
                            attempts: attempts[i],
                        });
                    }
                    retry.push(i);
                    continue;
                }
                let depth = frame
                    .depth
                    .iter()
                    .map(|d| (f64::from(*d) / DEPTH_SCALE).round().clamp(0.0, 65535.0) as u16)
                    .collect();
                done[i] = Some(RenderedSample {
                    record: SampleRecord {
                        id: id.clone(),
                        attempts: attempts[i],
                        view,
                        defect: defects[i].clone(),
                        visible_defect_px: visible,
                        defect_part: part
                            .and_then(|p| self.product.parts.name_of(p))
                            .map(str::to_string),
                        ..SampleRecord::paths_of(&self.recipe.name, id)
                    },
                    image: finish_image(&frame, &view, id.seed),
                    part: frame.part,
                    depth,
                    mask,
                    size,
                    channels: self.recipe.image.channels,
                });
            }
            pending = retry;
        }
        Ok(done.into_iter().flatten().collect())
    }

    /// Meshes the defective samples of a batch, on all cores.
    fn defect_meshes(
        &self,
        renderer: &Renderer,
        defects: &[Option<Defect>],
    ) -> Vec<Option<GpuMesh>> {
        let shape = self.product.shape();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = defects.len().div_ceil(threads).max(1);
        let meshes: Vec<Option<crate::product::Mesh>> = std::thread::scope(|s| {
            let handles: Vec<_> = defects
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|d| {
                                d.as_ref().map(|d| {
                                    mesh_defective(
                                        &self.grid,
                                        &Solid::with_defect(shape, d.clone()),
                                    )
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        meshes
            .iter()
            .map(|m| m.as_ref().map(|m| renderer.upload(m)))
            .collect()
    }
}

impl SampleRecord {
    fn paths_of(name: &str, id: &SampleId) -> Self {
        let p = SamplePaths::of(name, id);
        Self {
            id: id.clone(),
            attempts: 0,
            view: ViewParams {
                axis: [0.0, 1.0, 0.0],
                angle_deg: 0.0,
                camera_distance: 0.0,
                lighting: Default::default(),
                noise_sigma: 0.0,
                blur_sigma: 0.0,
            },
            defect: None,
            visible_defect_px: 0,
            defect_part: None,
            image: p.image,
            mask: p.mask,
            part_map: p.part_map,
            depth: p.depth,
        }
    }
}

/// A rendered sample, ready to encode.
#[derive(Debug, Clone)]
pub struct RenderedSample {
    pub record: SampleRecord,
    /// Grey levels after blur and noise.
    pub image: Vec<u8>,
    pub part: Vec<u8>,
    pub depth: Vec<u16>,
    pub mask: Option<Vec<u8>>,
    pub size: u32,
    pub channels: Channels,
}

impl RenderedSample {
    /// Every file of the sample as (relative path, PNG bytes).
    pub fn encode(&self) -> Result<Vec<(String, Vec<u8>)>, DatasetError> {
        use image::ExtendedColorType as C;
        let r = &self.record;
        let image = match self.channels {
            Channels::Grey => encode_png(&r.image, &self.image, self.size, C::L8)?,
            Channels::Rgb => {
                let rgb: Vec<u8> = self.image.iter().flat_map(|v| [*v, *v, *v]).collect();
                encode_png(&r.image, &rgb, self.size, C::Rgb8)?
            }
        };
        let depth_bytes: Vec<u8> = self.depth.iter().flat_map(|d| d.to_be_bytes()).collect();
        let mut files = vec![
            (r.image.clone(), image),
            (
                r.part_map.clone(),
                encode_png(&r.part_map, &self.part, self.size, C::L8)?,
            ),
            (
                r.depth.clone(),
                encode_png(&r.depth, &depth_bytes, self.size, C::L16)?,
            ),
        ];
        if let (Some(path), Some(mask)) = (&r.mask, &self.mask) {
            files.push((path.clone(), encode_png(path, mask, self.size, C::L8)?));
        }
        Ok(files)
    }
}

fn encode_png(
    path: &str,
    data: &[u8],
    size: u32,
    color: image::ExtendedColorType,
) -> Result<Vec<u8>, DatasetError> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::new();
    // L16 expects native-endian u16 in memory; we pass big-endian bytes, which is PNG's order,
    // so convert back to native first.
    let native;
    let data = if color == image::ExtendedColorType::L16 {
        native = data
            .chunks_exact(2)
            .flat_map(|b| u16::from_be_bytes([b[0], b[1]]).to_ne_bytes())
            .collect::<Vec<u8>>();
        &native[..]
    } else {
        data
    };
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(data, size, size, color)
        .map_err(|e| DatasetError::Encode {
            path: path.to_string(),
            message: e.to_string(),
        })?;
    Ok(out)
}

/// Controls for a running generation.
#[derive(Clone, Default)]
pub struct GenerateControl {
    pub cancel: Arc<AtomicBool>,
}

/// Generates the whole dataset into `out`; `progress(done, total)` is called after each batch.
pub fn generate(
    renderer: &mut Renderer,
    recipe: Recipe,
    product: ProductSpec,
    out: &Path,
    control: &GenerateControl,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Manifest, DatasetError> {
    let ctx = DatasetContext::new(renderer, recipe, product);
    let plan = ctx.plan();
    create_folders(out, &ctx, &plan)?;

    let writers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let (job_tx, job_rx) = sync_channel::<RenderedSample>(256);
    let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
    let (err_tx, err_rx) = sync_channel::<DatasetError>(writers);
    let handles: Vec<_> = (0..writers)
        .map(|n| spawn_writer(n, out.to_path_buf(), job_rx.clone(), err_tx.clone()))
        .collect::<Result<_, _>>()?;
    drop(err_tx);

    let result = render_all(renderer, &ctx, &plan, &job_tx, &err_rx, control, progress);
    drop(job_tx);
    for h in handles {
        let _ = h.join();
    }
    let records = result?;
    if let Ok(e) = err_rx.try_recv() {
        return Err(e);
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        version: MANIFEST_VERSION,
        name: ctx.recipe.name.clone(),
        image: ImageInfo {
            size: ctx.recipe.image.size,
            channels: ctx.recipe.image.channels,
        },
        recipe: ctx.recipe.clone(),
        product: ctx.product.clone(),
        mesh_cell: ctx.cell,
        depth_scale: DEPTH_SCALE,
        parts: ctx
            .product
            .parts
            .named()
            .into_iter()
            .map(|(id, n)| (id, n.to_string()))
            .collect(),
        samples: records,
    };
    let path = out.join("manifest.json");
    write_atomic(&path, &manifest.to_json()).map_err(|source| DatasetError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(manifest)
}

fn render_all(
    renderer: &mut Renderer,
    ctx: &DatasetContext,
    plan: &[SampleId],
    jobs: &SyncSender<RenderedSample>,
    errors: &Receiver<DatasetError>,
    control: &GenerateControl,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<SampleRecord>, DatasetError> {
    let batch = (Renderer::views_per_pass(ctx.recipe.image.size, ctx.recipe.image.supersample) / 2)
        .clamp(1, 512);
    let mut records = Vec::with_capacity(plan.len());
    for ids in plan.chunks(batch) {
        if control.cancel.load(Ordering::Relaxed) {
            return Err(DatasetError::Cancelled);
        }
        if let Ok(e) = errors.try_recv() {
            return Err(e);
        }
        for sample in ctx.render_batch(renderer, ids)? {
            records.push(sample.record.clone());
            jobs.send(sample).map_err(|_| DatasetError::WriterGone)?;
        }
        progress(records.len(), plan.len());
    }
    Ok(records)
}

type SharedReceiver = Arc<std::sync::Mutex<Receiver<RenderedSample>>>;

fn spawn_writer(
    n: usize,
    out: PathBuf,
    jobs: SharedReceiver,
    errors: SyncSender<DatasetError>,
) -> Result<std::thread::JoinHandle<()>, DatasetError> {
    std::thread::Builder::new()
        .name(format!("png-writer-{n}"))
        .spawn(move || {
            loop {
                // Hold the lock only to take one job, not while encoding it.
                let job = match jobs.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(sample) = job else { return };
                let written = sample.encode().and_then(|files| {
                    for (rel, bytes) in files {
                        let path = out.join(&rel);
                        write_atomic(&path, &bytes).map_err(|source| DatasetError::Io {
                            path: path.display().to_string(),
                            source,
                        })?;
                    }
                    Ok(())
                });
                if let Err(e) = written {
                    let _ = errors.try_send(e);
                    return;
                }
            }
        })
        .map_err(|source| DatasetError::Io {
            path: "<writer thread>".into(),
            source,
        })
}

fn create_folders(out: &Path, ctx: &DatasetContext, plan: &[SampleId]) -> Result<(), DatasetError> {
    let mut folders = std::collections::BTreeSet::new();
    for id in plan {
        let p = SamplePaths::of(&ctx.recipe.name, id);
        for f in [
            Some(&p.image),
            p.mask.as_ref(),
            Some(&p.part_map),
            Some(&p.depth),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(parent) = Path::new(f).parent() {
                folders.insert(out.join(parent));
            }
        }
    }
    for f in folders {
        std::fs::create_dir_all(&f).map_err(|source| DatasetError::Io {
            path: f.display().to_string(),
            source,
        })?;
    }
    Ok(())
}
