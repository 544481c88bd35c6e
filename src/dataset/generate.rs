//! Dataset generation: plan every sample from the recipe's seed, render them in large batches
//! (one GPU pass and one readback per batch), and hand finished samples to writer threads that
//! encode PNGs and write them atomically while the next batch renders.
//!
//! # One writer, one dataset per folder
//! The output folder is locked for the whole render ([`FolderLock`]): a second render into it
//! is refused at once, naming the process that holds it. A folder that holds another dataset
//! (a manifest or an unfinished render of another recipe, seed, product or program version,
//! or files in the dataset's folders that this recipe does not make) is refused too, unless
//! the caller asks to replace it ([`GenerateOptions::replace`]): then that dataset's files go
//! first, so nothing of it is left to be mistaken for part of the new one.
//!
//! # Interruption and resume
//! `manifest.json` is what makes a folder a dataset, and it is written last, with the SHA-256
//! of every file. Generation first removes any manifest already in the folder, so a run killed
//! half-way never leaves a manifest describing files that were partly replaced. While it runs,
//! each writer appends the finished sample's record, with its files' hashes, to
//! `.render-journal.jsonl` once all of the sample's files are on disk; the journal's first line
//! identifies the recipe, product and mesh cell. A later run with the same recipe reads the
//! journal (up to the first torn line) and keeps the samples whose files are there with the
//! journalled contents; a damaged or missing file is rendered again. Samples render to the
//! same bits in any batch, so a resumed dataset is byte-identical to one rendered in one go.
//! The journal is deleted once the manifest is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::check::collect_files;
use super::layout::{self, SamplePaths, Split};
use super::manifest::{
    DEPTH_SCALE, ImageInfo, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, SampleHashes, SampleRecord,
};
use super::recipe::{Channels, Recipe};
use super::sample::{
    POSES_PER_DEFECT, SampleId, ViewParams, defect_mask, draw_defect_on, draw_view, finish_image,
};
use crate::fsio::{
    FileKind, FolderLock, LockError, read_bounded, read_text, sha256_hex, write_atomic,
};
use crate::product::import::ImportRecord;
use crate::product::mesh::{Grid, MAX_GRID_POINTS, auto_cell, mesh_defective};
use crate::product::sdf::Solid;
use crate::product::{Defect, Field, Geometry, ImportError, PartTable, ProductSpec};
use crate::render::{Camera, Frame, GpuMesh, Lighting, RenderError, Renderer, Sensor, ViewRequest};

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
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(
        "sample {split}/{class}/{index}: the defect was not visible in any of {attempts} poses; \
         widen the pose range or lower mask.min_visible_fraction"
    )]
    NeverVisible {
        split: Split,
        class: String,
        index: usize,
        attempts: u32,
    },
    #[error("generation was cancelled")]
    Cancelled,
    #[error("a writer thread stopped unexpectedly")]
    WriterGone,
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(
        "{dir} {what}: rendering into it would mix two datasets; choose an empty folder, or \
         replace what is there (`unseen render --replace`, which deletes it)"
    )]
    Occupied { dir: PathBuf, what: String },
    #[error("product {product}: {message}")]
    Product { product: String, message: String },
}

/// Everything shared by the samples of one dataset.
pub struct DatasetContext {
    pub recipe: Recipe,
    pub product: ProductSpec,
    pub cell: f64,
    /// The good product: the cap, or an imported mesh's distance grid.
    pub geometry: Geometry,
    parts: PartTable,
    grid: Grid,
    good_mesh: GpuMesh,
}

impl DatasetContext {
    /// Opens the product's geometry (reading an imported mesh, or its cached grid) and meshes
    /// the good product finely enough for the recipe's closest camera (or at its own
    /// `mesh.cell`); refuses a grid too large to allocate and a mesh with nothing in it.
    pub fn new(
        renderer: &Renderer,
        recipe: Recipe,
        product: ProductSpec,
    ) -> Result<Self, DatasetError> {
        let geometry = Geometry::open(&product)?;
        Self::build(renderer, recipe, product, geometry, None)
    }

    /// The context meshed at `cell` instead of the cell the recipe's closest camera needs (the
    /// workbench's orbit view, which must stay quick to mesh); refuses a grid too large to
    /// allocate and a mesh with nothing in it.
    pub fn with_cell(
        renderer: &Renderer,
        recipe: Recipe,
        product: ProductSpec,
        cell: f64,
    ) -> Result<Self, DatasetError> {
        let geometry = Geometry::open(&product)?;
        Self::build(renderer, recipe, product, geometry, Some(cell))
    }

    /// A context for a product whose geometry is already open.
    pub fn with_geometry(
        renderer: &Renderer,
        recipe: Recipe,
        product: ProductSpec,
        geometry: Geometry,
    ) -> Result<Self, DatasetError> {
        Self::build(renderer, recipe, product, geometry, None)
    }

    fn build(
        renderer: &Renderer,
        recipe: Recipe,
        product: ProductSpec,
        geometry: Geometry,
        cell: Option<f64>,
    ) -> Result<Self, DatasetError> {
        let cell = match cell {
            Some(cell) => cell,
            None if product.mesh.cell > 0.0 => product.mesh.cell,
            None => {
                // Mesh finely enough for the closest camera the recipe allows.
                let nearest = recipe
                    .randomize
                    .camera_distance
                    .map_or(recipe.camera.distance, |r| r[0]);
                let camera = Camera::new(
                    Default::default(),
                    geometry.centre().as_vec3(),
                    nearest as f32,
                    recipe.camera.fov_y_deg as f32,
                );
                auto_cell(camera.pixels_per_unit(recipe.image.size))
            }
        };
        let fail = |message: String| DatasetError::Product {
            product: product.name.clone(),
            message,
        };
        if Grid::points_for(&geometry, cell).is_none_or(|p| p > MAX_GRID_POINTS) {
            return Err(fail(format!(
                "meshing it at a cell of {cell} needs more than {MAX_GRID_POINTS} grid points; \
                 make mesh.cell larger"
            )));
        }
        let good = Solid::good(geometry.clone());
        let grid = Grid::for_shape(&geometry, cell).sample(&good);
        let mesh = grid.surface_nets(&good);
        if mesh.triangle_count() == 0 {
            return Err(fail(format!(
                "meshed at a cell of {cell} it has no surface left; make mesh.cell smaller"
            )));
        }
        let good_mesh = renderer.upload(&mesh);
        Ok(Self {
            recipe,
            product,
            cell,
            parts: geometry.parts(),
            geometry,
            grid,
            good_mesh,
        })
    }

    /// The good product's mesh, as every image of the dataset draws it.
    pub fn good_mesh(&self) -> &GpuMesh {
        &self.good_mesh
    }

    /// The product's parts (an imported product's as its mesh names them).
    pub fn parts(&self) -> &PartTable {
        &self.parts
    }

    /// Every sample of the recipe, in generation order.
    pub fn plan(&self) -> Vec<SampleId> {
        SampleId::plan(&self.recipe)
    }

    /// The manifest record of a sample that became visible at its `attempts`-th pose: the
    /// view and defect are drawn again from the sample's seed, so a record rebuilt from the
    /// render journal is identical to the one made at render time.
    pub fn record(&self, id: &SampleId, attempts: u32, visible_defect_px: usize) -> SampleRecord {
        let attempt = attempts.saturating_sub(1);
        let defect = draw_defect_on(id, &self.product, &self.geometry, attempt);
        // The part the defect was put on comes first among those it touches.
        let touched = defect
            .as_ref()
            .map_or_else(Vec::new, |d| d.parts_touched(&self.geometry));
        let name = |p: &u8| self.parts.name_of(*p).map(str::to_string);
        SampleRecord {
            id: id.clone(),
            attempts,
            view: draw_view(id, &self.recipe, attempt),
            defect,
            visible_defect_px,
            defect_part: touched.first().and_then(name),
            defect_parts: touched.iter().filter_map(name).collect(),
            ..SampleRecord::paths_of(&self.recipe.name, id)
        }
    }

    /// Renders a batch of samples, drawing new poses for defects that are not visible.
    pub fn render_batch(
        &self,
        renderer: &mut Renderer,
        ids: &[SampleId],
    ) -> Result<Vec<RenderedSample>, DatasetError> {
        let mut defects: Vec<Option<Defect>> = ids
            .iter()
            .map(|id| draw_defect_on(id, &self.product, &self.geometry, 0))
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
                    .map(|&i| draw_defect_on(&ids[i], &self.product, &self.geometry, attempts[i]))
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
                let camera = views[k].camera(&self.recipe, &self.geometry);
                self.push_views(
                    &mut requests,
                    meshes[i].as_ref(),
                    camera,
                    views[k].lighting,
                    views[k].sensor,
                );
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
                if mask.is_some() && visible < min_px.max(1) {
                    if attempts[i] >= self.recipe.mask.max_attempts {
                        return Err(DatasetError::NeverVisible {
                            split: id.split,
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
                    record: self.record(id, attempts[i], visible),
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

    /// One view of the good product, or of `defect` with its mask against the good product at
    /// the same view: a sample's meshes and mask at a camera and light the caller chooses
    /// instead of the seed (the workbench's orbit view). Returns the view shown and the mask.
    pub fn render_view(
        &self,
        renderer: &mut Renderer,
        defect: Option<&Defect>,
        camera: Camera,
        lighting: Lighting,
        size: u32,
    ) -> Result<(Frame, Option<Vec<u8>>), DatasetError> {
        let defect_mesh = self
            .defect_meshes(renderer, &[defect.cloned()])
            .pop()
            .flatten();
        let mut requests = Vec::new();
        self.push_views(
            &mut requests,
            defect_mesh.as_ref(),
            camera,
            lighting,
            self.recipe.sensor,
        );
        let mut frames = renderer
            .render(&requests, size, self.recipe.image.supersample)?
            .into_iter();
        let shown = frames
            .next()
            .ok_or(RenderError::Readback("missing frame".into()))?;
        let mask = frames
            .next()
            .map(|good| defect_mask(&good, &shown, self.recipe.mask.depth_tolerance));
        Ok((shown, mask))
    }

    /// The views of one sample: the defective mesh (or the good one), then, for a defect, the
    /// good product at the same view, which its mask is cut against.
    fn push_views<'a>(
        &'a self,
        requests: &mut Vec<ViewRequest<'a>>,
        defect_mesh: Option<&'a GpuMesh>,
        camera: Camera,
        lighting: Lighting,
        sensor: Sensor,
    ) {
        requests.push(ViewRequest {
            mesh: defect_mesh.unwrap_or(&self.good_mesh),
            camera,
            lighting,
            sensor,
        });
        if defect_mesh.is_some() {
            requests.push(ViewRequest {
                mesh: &self.good_mesh,
                camera,
                lighting,
                sensor,
            });
        }
    }

    /// Meshes the defective samples of a batch, on all cores.
    fn defect_meshes(
        &self,
        renderer: &Renderer,
        defects: &[Option<Defect>],
    ) -> Vec<Option<GpuMesh>> {
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
                                        &Solid::with_defect(self.geometry.clone(), d.clone()),
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
                sensor: Sensor::default(),
                offset_px: [0.0, 0.0],
            },
            defect: None,
            visible_defect_px: 0,
            defect_part: None,
            defect_parts: Vec::new(),
            image: p.image,
            mask: p.mask,
            part_map: p.part_map,
            depth: p.depth,
            sha256: None,
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

/// The SHA-256 of each encoded file of `record`, from [`RenderedSample::encode`]'s output.
fn hashes_of(record: &SampleRecord, files: &[(String, Vec<u8>)]) -> Option<SampleHashes> {
    let hash = |rel: &str| {
        files
            .iter()
            .find(|(f, _)| f == rel)
            .map(|(_, bytes)| sha256_hex(bytes))
    };
    Some(SampleHashes {
        image: hash(&record.image)?,
        mask: match &record.mask {
            Some(rel) => Some(hash(rel)?),
            None => None,
        },
        part_map: hash(&record.part_map)?,
        depth: hash(&record.depth)?,
    })
}

/// Controls for a running generation.
#[derive(Clone, Default)]
pub struct GenerateControl {
    pub cancel: Arc<AtomicBool>,
}

/// How generation treats what is already in the output folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenerateOptions {
    /// Delete another dataset found in the folder (its manifest, its unfinished render, every
    /// file in the dataset folders) instead of refusing to render there.
    pub replace: bool,
}

/// What [`generate_with`] did.
#[derive(Debug, Clone)]
pub struct Generated {
    pub manifest: Manifest,
    /// Samples kept from an interrupted render of the same recipe.
    pub resumed: usize,
    /// Files of journalled samples that were missing or no longer matched their journalled
    /// hash, so their samples were rendered again.
    pub damaged: Vec<String>,
    /// Files deleted because the caller asked to replace the dataset that was there.
    pub replaced: usize,
}

/// The journal of finished samples kept while a dataset is generated.
pub const JOURNAL_FILE: &str = ".render-journal.jsonl";

/// What a dataset was rendered from, as one hash: the journal's first line holds it, and a
/// manifest in the output folder is the same dataset when its own fields hash the same. An
/// imported product is identified by its mesh's content (`mesh`, the import key), not by the
/// file's name.
fn identity(
    recipe: &Recipe,
    product: &ProductSpec,
    mesh_cell: f64,
    version: u32,
    mesh: Option<&str>,
) -> String {
    let mut identity = serde_json::json!({
        "format": MANIFEST_FORMAT,
        "version": version,
        "recipe": recipe,
        "product": product,
        "mesh_cell": mesh_cell,
    });
    if let Some(mesh) = mesh {
        identity["mesh"] = serde_json::json!(mesh);
    }
    sha256_hex(identity.to_string().as_bytes())
}

/// [`identity`] of the dataset `ctx` renders.
fn context_identity(ctx: &DatasetContext) -> String {
    let mesh = ctx.geometry.sampled().map(|s| s.key_hex());
    identity(
        &ctx.recipe,
        &ctx.product,
        ctx.cell,
        MANIFEST_VERSION,
        mesh.as_deref(),
    )
}

/// The journal's first line: what the journalled samples were rendered from.
fn journal_key(ctx: &DatasetContext) -> String {
    format!("{{\"journal\":\"{}\"}}", context_identity(ctx))
}

/// One finished sample in the journal: what its record is rebuilt from
/// ([`DatasetContext::record`]), and its files' hashes. Floats are not journalled, since a
/// JSON round trip need not give back the same bits.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalEntry {
    id: SampleId,
    attempts: u32,
    visible_defect_px: usize,
    sha256: SampleHashes,
}

impl JournalEntry {
    fn of(record: &SampleRecord, sha256: &SampleHashes) -> Self {
        Self {
            id: record.id.clone(),
            attempts: record.attempts,
            visible_defect_px: record.visible_defect_px,
            sha256: sha256.clone(),
        }
    }

    fn line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// Samples already finished by an interrupted run of the same recipe: read up to the first
/// line that does not parse (a torn write), kept only when each of their files is there with
/// the contents journalled. Returns them and the files that were not (their samples are
/// rendered again).
fn read_journal(
    path: &Path,
    key: &str,
    ctx: &DatasetContext,
    plan: &[SampleId],
    out: &Path,
) -> (Vec<SampleRecord>, Vec<String>) {
    let Ok(text) = read_text(path, FileKind::Journal) else {
        return (Vec::new(), Vec::new());
    };
    let mut lines = text.lines();
    if lines.next() != Some(key) {
        return (Vec::new(), Vec::new());
    }
    let planned: std::collections::HashSet<&SampleId> = plan.iter().collect();
    let mut entries: std::collections::HashMap<SampleId, JournalEntry> = Default::default();
    for entry in lines.map_while(|line| serde_json::from_str::<JournalEntry>(line).ok()) {
        if planned.contains(&entry.id) {
            entries.insert(entry.id.clone(), entry);
        }
    }
    let mut kept = Vec::new();
    let mut damaged = Vec::new();
    for entry in entries.into_values() {
        let mut record = ctx.record(&entry.id, entry.attempts, entry.visible_defect_px);
        record.sha256 = Some(entry.sha256);
        let Some(files) = record.files_with_hashes() else {
            continue;
        };
        let bad: Vec<String> = files
            .iter()
            .filter(|(rel, hash)| {
                read_bounded(&out.join(rel), FileKind::Image)
                    .map_or(true, |bytes| sha256_hex(&bytes) != *hash)
            })
            .map(|(rel, _)| rel.to_string())
            .collect();
        if bad.is_empty() {
            kept.push(record);
        } else {
            damaged.extend(bad);
        }
    }
    damaged.sort();
    (kept, damaged)
}

/// Appends finished samples' records to the journal, one JSON line each.
struct Journal {
    file: std::sync::Mutex<std::fs::File>,
    path: PathBuf,
}

impl Journal {
    /// Starts a journal holding `key` and the records kept from an interrupted run.
    fn start(path: &Path, key: &str, kept: &[SampleRecord]) -> Result<Self, DatasetError> {
        let io = |source| DatasetError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut text = format!("{key}\n");
        for record in kept {
            if let Some(hashes) = &record.sha256 {
                text.push_str(&JournalEntry::of(record, hashes).line());
            }
        }
        write_atomic(path, text.as_bytes()).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(Self {
            file: std::sync::Mutex::new(file),
            path: path.to_path_buf(),
        })
    }

    fn append(&self, record: &SampleRecord, hashes: &SampleHashes) -> Result<(), DatasetError> {
        use std::io::Write;
        let line = JournalEntry::of(record, hashes).line();
        let mut file = self.file.lock().map_err(|_| DatasetError::WriterGone)?;
        // One write per line: a kill leaves at most one torn line, at the end.
        file.write_all(line.as_bytes())
            .map_err(|source| DatasetError::Io {
                path: self.path.display().to_string(),
                source,
            })
    }
}

/// Generates the whole dataset into `out`; `progress(done, total)` is called after each batch.
/// Resumes an interrupted generation of the same recipe in `out`, and refuses a folder that
/// holds another dataset (see the module docs).
pub fn generate(
    renderer: &mut Renderer,
    recipe: Recipe,
    product: ProductSpec,
    out: &Path,
    control: &GenerateControl,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Manifest, DatasetError> {
    generate_with(
        renderer,
        recipe,
        product,
        out,
        GenerateOptions::default(),
        control,
        progress,
    )
    .map(|generated| generated.manifest)
}

/// [`generate`], with the choice of replacing another dataset in `out`, saying what it kept,
/// rendered again and deleted.
pub fn generate_with(
    renderer: &mut Renderer,
    recipe: Recipe,
    product: ProductSpec,
    out: &Path,
    options: GenerateOptions,
    control: &GenerateControl,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Generated, DatasetError> {
    let ctx = DatasetContext::new(renderer, recipe, product)?;
    let full_plan = ctx.plan();
    std::fs::create_dir_all(out).map_err(|source| DatasetError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let _lock = FolderLock::acquire(out, "render")?;
    let journal_path = out.join(JOURNAL_FILE);
    let key = journal_key(&ctx);
    remove_stale_temp_files(out, &ctx.recipe.name);
    let replaced = match occupant(out, &ctx, &key, &full_plan) {
        None => 0,
        Some(what) if !options.replace => {
            return Err(DatasetError::Occupied {
                dir: out.to_path_buf(),
                what,
            });
        }
        Some(_) => clear_dataset(out, &ctx.recipe.name)?,
    };
    create_folders(out, &ctx, &full_plan)?;
    // The folder stops being a dataset until the new manifest is written.
    let manifest_path = layout::manifest_path(out);
    match std::fs::remove_file(&manifest_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(DatasetError::Io {
                path: manifest_path.display().to_string(),
                source: e,
            });
        }
        _ => {}
    }
    let (resumed, damaged) = read_journal(&journal_path, &key, &ctx, &full_plan, out);
    let journal = Arc::new(Journal::start(&journal_path, &key, &resumed)?);
    let done_ids: std::collections::HashSet<&SampleId> = resumed.iter().map(|r| &r.id).collect();
    let plan: Vec<SampleId> = full_plan
        .iter()
        .filter(|id| !done_ids.contains(id))
        .cloned()
        .collect();
    let already = full_plan.len() - plan.len();
    let mut progress = |done: usize, _total: usize| progress(already + done, full_plan.len());

    let writers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let (job_tx, job_rx) = sync_channel::<RenderedSample>(256);
    let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
    let (err_tx, err_rx) = sync_channel::<DatasetError>(writers);
    let written: Written = Default::default();
    let handles: Vec<_> = (0..writers)
        .map(|n| {
            spawn_writer(
                n,
                out.to_path_buf(),
                job_rx.clone(),
                err_tx.clone(),
                journal.clone(),
                written.clone(),
            )
        })
        .collect::<Result<_, _>>()?;
    drop(err_tx);

    let result = render_all(
        renderer,
        &ctx,
        &plan,
        &job_tx,
        &err_rx,
        control,
        &mut progress,
    );
    drop(job_tx);
    for h in handles {
        let _ = h.join();
    }
    let rendered = result?;
    if let Ok(e) = err_rx.try_recv() {
        return Err(e);
    }
    let mut hashes = std::mem::take(&mut *written.lock().map_err(|_| DatasetError::WriterGone)?);
    let mut by_id: std::collections::HashMap<SampleId, SampleRecord> = resumed
        .into_iter()
        .chain(rendered.into_iter().map(|mut record| {
            record.sha256 = hashes.remove(&record.id);
            record
        }))
        .map(|r| (r.id.clone(), r))
        .collect();
    let records: Vec<SampleRecord> = full_plan.iter().filter_map(|id| by_id.remove(id)).collect();
    if records.len() != full_plan.len() || records.iter().any(|r| r.sha256.is_none()) {
        return Err(DatasetError::WriterGone);
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
            .parts
            .named()
            .into_iter()
            .map(|(id, n)| (id, n.to_string()))
            .collect(),
        import: ImportRecord::with_source(&ctx.geometry, ctx.product.import.as_deref()),
        samples: records,
    };
    write_atomic(&manifest_path, &manifest.to_json()).map_err(|source| DatasetError::Io {
        path: manifest_path.display().to_string(),
        source,
    })?;
    drop(journal);
    let _ = std::fs::remove_file(&journal_path);
    Ok(Generated {
        manifest,
        resumed: already,
        damaged,
        replaced,
    })
}

/// What in `out` belongs to another dataset than the one `ctx` renders, in words; `None` when
/// the folder is empty, holds this dataset, or an interrupted render of it.
fn occupant(out: &Path, ctx: &DatasetContext, key: &str, plan: &[SampleId]) -> Option<String> {
    let manifest_path = layout::manifest_path(out);
    if manifest_path.exists() {
        match Manifest::load(&manifest_path) {
            Ok(m) => {
                let mesh = m.import.as_ref().map(|i| i.key_sha256.as_str());
                let same = identity(&m.recipe, &m.product, m.mesh_cell, m.version, mesh)
                    == context_identity(ctx);
                if !same {
                    return Some(format!(
                        "holds another dataset ({:?}, seed {}, {} samples{})",
                        m.name,
                        m.recipe.seed,
                        m.samples.len(),
                        if m.version < MANIFEST_VERSION {
                            ", rendered by an older version"
                        } else {
                            ""
                        }
                    ));
                }
            }
            Err(e) => return Some(format!("holds a manifest that cannot be used ({e})")),
        }
    }
    let journal_path = out.join(JOURNAL_FILE);
    if journal_path.exists() {
        let first = read_text(&journal_path, FileKind::Journal)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string));
        if first.as_deref() != Some(key) {
            return Some(
                "holds an unfinished render of another recipe, seed, product or program version"
                    .into(),
            );
        }
    }
    let ours: std::collections::HashSet<String> = plan
        .iter()
        .flat_map(|id| {
            let paths = SamplePaths::of(&ctx.recipe.name, id);
            paths.files().cloned().collect::<Vec<_>>()
        })
        .collect();
    let mut found = std::collections::BTreeSet::new();
    for folder in layout::dataset_folders(&ctx.recipe.name) {
        if collect_files(out, &folder, &mut found).is_err() {
            return Some(format!("has a {folder} that cannot be listed"));
        }
    }
    let foreign: Vec<&String> = found.iter().filter(|f| !ours.contains(*f)).collect();
    foreign.first().map(|first| {
        format!(
            "holds {} file(s) in the dataset's folders that this recipe does not make (e.g. {first})",
            foreign.len()
        )
    })
}

/// Deletes the dataset in `out`: its manifest, its journal and every file in the folders of a
/// dataset named `name` or named by the manifest there. Returns how many files went.
fn clear_dataset(out: &Path, name: &str) -> Result<usize, DatasetError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| DatasetError::Io { path, source }
    };
    let mut names = vec![name.to_string()];
    if let Ok(old) = Manifest::load(&layout::manifest_path(out)) {
        names.push(old.name);
    }
    let mut files = std::collections::BTreeSet::new();
    for name in &names {
        for folder in layout::dataset_folders(name) {
            collect_files(out, &folder, &mut files).map_err(|e| DatasetError::Io {
                path: out.join(&folder).display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
    }
    let mut removed = 0;
    for rel in files
        .iter()
        .map(String::as_str)
        .chain([layout::MANIFEST_FILE, JOURNAL_FILE])
    {
        let path = out.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(removed)
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

/// The hashes of every sample the writers have put on disk.
type Written = Arc<std::sync::Mutex<std::collections::HashMap<SampleId, SampleHashes>>>;

fn spawn_writer(
    n: usize,
    out: PathBuf,
    jobs: SharedReceiver,
    errors: SyncSender<DatasetError>,
    journal: Arc<Journal>,
    written: Written,
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
                let record = &sample.record;
                let done = sample.encode().and_then(|files| {
                    let hashes = hashes_of(record, &files).ok_or(DatasetError::WriterGone)?;
                    for (rel, bytes) in files {
                        let path = out.join(&rel);
                        write_atomic(&path, &bytes).map_err(|source| DatasetError::Io {
                            path: path.display().to_string(),
                            source,
                        })?;
                    }
                    journal.append(record, &hashes)?;
                    written
                        .lock()
                        .map_err(|_| DatasetError::WriterGone)?
                        .insert(record.id.clone(), hashes);
                    Ok(())
                });
                if let Err(e) = done {
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
        for f in SamplePaths::of(&ctx.recipe.name, id).files() {
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

/// Removes what an interrupted run left mid-write (`write_atomic`'s hidden `.NAME.PID.tmp`) in
/// `out` and the dataset folders of `name`; it is called with the folder locked, so no running
/// render is writing them.
fn remove_stale_temp_files(out: &Path, name: &str) {
    let mut files = std::collections::BTreeSet::new();
    for folder in layout::dataset_folders(name) {
        let _ = collect_files(out, &folder, &mut files);
    }
    let top = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned());
    for rel in files.into_iter().chain(top) {
        let name = rel.rsplit('/').next().unwrap_or_default();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(out.join(&rel));
        }
    }
}
