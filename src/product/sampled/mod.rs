//! An imported product as a signed distance grid: trilinear distance between samples, and at
//! each sample the part of its nearest triangle.
//!
//! # How the grid is built
//! The sign comes from the generalised winding number ([`super::winding`]), the distance from
//! the nearest triangle ([`super::bvh`]). Computing both at every sample of a fine grid costs
//! too much, and only samples near the surface need them: meshing interpolates the field
//! there, defects blend with it there. So the grid is built in two levels. A coarse grid
//! (every [`COARSE`]th sample along each axis) is computed exactly everywhere. A fine sample
//! is computed exactly when it may lie within [`BAND_CELLS`] cells of the surface; the
//! distance being 1-Lipschitz, `|d(p)| ≥ |d(c)| − |p − c|` for every coarse corner `c` of its
//! cell, and a sample whose bound exceeds the band is provably off it. Such a sample takes
//! its sign from a corner whose empty ball contains it (so the sign is exact everywhere) and
//! its magnitude from the coarse grid's interpolation, never below the bound.
//!
//! # Cache
//! The exact samples (coarse grid and band) are what the build computes; the rest follows
//! from them by [`assemble`]. They are cached in `.unseen-cache/` beside the product file,
//! keyed by the SHA-256 of the mesh file's bytes (and the files it refers to), the import
//! settings and this format's version, and written atomically. A cache file is checked in full
//! (its own SHA-256, its key, every size) before it is used; one that fails is ignored and
//! rebuilt.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use glam::DVec3;
use sha2::{Digest, Sha256};

use super::bvh::{Bvh, PartFilter};
use super::geometry::Field;
use super::import::{self, ImportError, ImportSpec, ImportedMesh, MeshReport, Placement};
use super::surface::SurfaceSamples;
use super::{PartTable, ProductSpec};

mod build;
mod cache;
#[cfg(test)]
mod tests;

use build::{Exact, assemble, build};
use cache::{CacheMiss, cache_key, read_cache, write_cache};

/// Coarse samples are every `COARSE`th fine sample along each axis.
pub const COARSE: usize = 4;
/// Fine samples within this many cells of the surface are computed exactly.
pub const BAND_CELLS: f64 = 3.0;
/// Room around the product, in render units, where the field is kept (defects that add
/// material blend within it).
pub const PAD: f64 = 0.3;
/// The most fine samples a grid may have (5 bytes each).
pub const MAX_GRID_SAMPLES: usize = 64 << 20;
/// Distance given to a sample inside the solid that lies exactly on a triangle (an internal
/// face of overlapping bodies), so it still reads as inside.
pub(crate) const INSIDE_ON_FACE: f64 = 1e-7;

/// Bump when the grid's construction or the cache layout changes.
pub(crate) const CACHE_FORMAT: u32 = 1;
pub(crate) const CACHE_MAGIC: &[u8; 12] = b"unseen-sdf-g";
pub const CACHE_DIR: &str = ".unseen-cache";

/// A regular grid of distances and parts.
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceGrid {
    pub origin: DVec3,
    pub cell: f64,
    pub dims: [usize; 3],
    pub values: Vec<f32>,
    pub parts: Vec<u8>,
}

impl DistanceGrid {
    fn index(&self, i: usize, j: usize, k: usize) -> usize {
        (k * self.dims[1] + j) * self.dims[0] + i
    }

    /// The cell containing `p` (clamped into the grid), the position within it, and how far
    /// `p` lies outside the grid.
    fn locate(&self, p: DVec3) -> ([usize; 3], DVec3, f64) {
        let g = (p - self.origin) / self.cell;
        let max = DVec3::new(
            (self.dims[0] - 1) as f64,
            (self.dims[1] - 1) as f64,
            (self.dims[2] - 1) as f64,
        );
        let clamped = g.clamp(DVec3::ZERO, max);
        let outside = ((g - clamped) * self.cell).length();
        let base = clamped.floor().min(max - DVec3::ONE).max(DVec3::ZERO);
        let i = [base.x as usize, base.y as usize, base.z as usize];
        (i, clamped - base, outside)
    }

    /// Trilinear distance; outside the grid, the border's value plus the distance to it.
    pub fn value(&self, p: DVec3) -> f64 {
        let ([i, j, k], t, outside) = self.locate(p);
        let v =
            |a: usize, b: usize, c: usize| f64::from(self.values[self.index(i + a, j + b, k + c)]);
        let x00 = v(0, 0, 0) + (v(1, 0, 0) - v(0, 0, 0)) * t.x;
        let x10 = v(0, 1, 0) + (v(1, 1, 0) - v(0, 1, 0)) * t.x;
        let x01 = v(0, 0, 1) + (v(1, 0, 1) - v(0, 0, 1)) * t.x;
        let x11 = v(0, 1, 1) + (v(1, 1, 1) - v(0, 1, 1)) * t.x;
        let y0 = x00 + (x10 - x00) * t.y;
        let y1 = x01 + (x11 - x01) * t.y;
        y0 + (y1 - y0) * t.z + outside
    }

    /// The part at the sample nearest to `p`, and whether all eight samples around `p` agree.
    pub fn part(&self, p: DVec3) -> (u8, bool) {
        let ([i, j, k], t, _) = self.locate(p);
        let corners = [0usize, 1].map(|c| {
            [0usize, 1].map(|b| [0usize, 1].map(|a| self.parts[self.index(i + a, j + b, k + c)]))
        });
        let near =
            corners[usize::from(t.z >= 0.5)][usize::from(t.y >= 0.5)][usize::from(t.x >= 0.5)];
        let uniform = corners.iter().flatten().flatten().all(|q| *q == near);
        (near, uniform)
    }
}

/// An imported product: its distance grid, its triangles (for exact part lookups near part
/// borders and for defects acting on one part's faces) and how it was imported.
pub struct SampledShape {
    key: [u8; 32],
    grid: DistanceGrid,
    parts: PartTable,
    placement: Placement,
    report: MeshReport,
    bounds: (DVec3, DVec3),
    triangles: Vec<[DVec3; 3]>,
    triangle_parts: Vec<u8>,
    bvh: OnceLock<Bvh>,
    surface: OnceLock<Arc<SurfaceSamples>>,
    cache: CacheOutcome,
}

/// What happened with the grid cache when the product was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Read from this file.
    Hit(PathBuf),
    /// Built, and written to this file.
    Written(PathBuf),
    /// Built; the cache file could not be written (the reason).
    NotWritten(String),
    /// Built; a cache file was there but failed its checks, and was replaced.
    Rebuilt(PathBuf, String),
    /// Built without a cache (no product folder known).
    None,
}

impl std::fmt::Debug for SampledShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampledShape")
            .field("key", &hex(&self.key[..8]))
            .field("dims", &self.grid.dims)
            .field("cell", &self.grid.cell)
            .field("parts", &self.parts)
            .field("triangles", &self.triangles.len())
            .finish()
    }
}

impl PartialEq for SampledShape {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.grid == other.grid
    }
}

impl SampledShape {
    /// Opens an imported product: reads and checks its mesh, then takes its grid from the
    /// cache beside the product file or builds it (and caches it).
    pub fn open(spec: &ProductSpec, import: &ImportSpec) -> Result<Self, ImportError> {
        let (raw, sources) = import::load(import, import.source_dir.as_deref())?;
        let mesh = import::prepare(raw, import, &spec.parts, &sources.path)?;
        let shown = sources.path.display().to_string();
        spec.check_defect_parts(&mesh.parts)
            .map_err(|message| ImportError::Parts {
                path: shown.clone(),
                message,
            })?;
        let key = cache_key(&sources, import, &spec.parts);
        let cache_file = import.source_dir.as_ref().map(|dir| {
            dir.join(CACHE_DIR).join(format!(
                "{}-{}.sdfgrid",
                file_safe(&spec.name),
                hex(&key[..8])
            ))
        });
        let mut outcome = CacheOutcome::None;
        let mut cached = None;
        if let Some(file) = &cache_file {
            match read_cache(file, &key) {
                Ok(exact) => cached = Some(exact),
                Err(CacheMiss::Absent) => {}
                Err(CacheMiss::Invalid(why)) => outcome = CacheOutcome::Rebuilt(file.clone(), why),
            }
        }
        let exact = match cached {
            Some(exact) => {
                outcome = CacheOutcome::Hit(cache_file.clone().unwrap_or_default());
                exact
            }
            None => {
                let exact = build(&mesh, import.grid_cell(), &shown)?;
                if let Some(file) = &cache_file {
                    let written = write_cache(file, &key, &exact);
                    outcome = match (written, outcome) {
                        (Err(e), _) => CacheOutcome::NotWritten(e),
                        (Ok(()), CacheOutcome::Rebuilt(f, why)) => CacheOutcome::Rebuilt(f, why),
                        (Ok(()), _) => CacheOutcome::Written(file.clone()),
                    };
                }
                exact
            }
        };
        Self::from_parts(key, &exact, mesh, outcome, &shown)
    }

    /// Builds without a cache, from a mesh already placed (tests, benchmarks).
    pub fn from_mesh(mesh: ImportedMesh, cell: f64, name: &str) -> Result<Self, ImportError> {
        let exact = build(&mesh, cell, name)?;
        let mut hasher = Sha256::new();
        for (t, p) in mesh.triangles.iter().zip(&mesh.triangle_parts) {
            for v in t {
                for x in mesh.positions[*v as usize].to_array() {
                    hasher.update(x.to_le_bytes());
                }
            }
            hasher.update([*p]);
        }
        hasher.update(cell.to_le_bytes());
        let key = hasher.finalize().into();
        Self::from_parts(key, &exact, mesh, CacheOutcome::None, name)
    }

    fn from_parts(
        key: [u8; 32],
        exact: &Exact,
        mesh: ImportedMesh,
        cache: CacheOutcome,
        shown: &str,
    ) -> Result<Self, ImportError> {
        let grid = assemble(exact);
        if !grid.values.iter().any(|v| *v < 0.0) {
            return Err(ImportError::NoVolume {
                path: shown.to_string(),
            });
        }
        let triangles: Vec<[DVec3; 3]> = mesh
            .triangles
            .iter()
            .map(|t| t.map(|v| mesh.positions[v as usize]))
            .collect();
        let bounds = crate::product::geometry::bounds_of(triangles.iter().flatten().copied());
        Ok(Self {
            key,
            grid,
            parts: mesh.parts,
            placement: mesh.placement,
            report: mesh.report,
            bounds,
            triangles,
            triangle_parts: mesh.triangle_parts,
            bvh: OnceLock::new(),
            surface: OnceLock::new(),
            cache,
        })
    }

    pub fn grid_cell(&self) -> f64 {
        self.grid.cell
    }

    pub fn grid(&self) -> &DistanceGrid {
        &self.grid
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    pub fn report(&self) -> &MeshReport {
        &self.report
    }

    pub fn cache(&self) -> &CacheOutcome {
        &self.cache
    }

    /// Hex SHA-256 of the mesh and import settings (the cache key).
    pub fn key_hex(&self) -> String {
        hex(&self.key)
    }

    /// The product's bounding box in render units.
    pub fn bounds(&self) -> (DVec3, DVec3) {
        self.bounds
    }

    pub fn triangle_count(&self) -> usize {
        self.triangles.len()
    }

    fn bvh(&self) -> &Bvh {
        self.bvh
            .get_or_init(|| Bvh::new(self.triangles.clone(), self.triangle_parts.clone()))
    }

    /// Unsigned distances from `p` to the faces of `part` and to all other faces.
    pub fn part_distances(&self, p: DVec3, part: u8) -> (f64, f64) {
        let bvh = self.bvh();
        (
            bvh.distance(p, PartFilter::Only(part)),
            bvh.distance(p, PartFilter::Except(part)),
        )
    }

    /// Points spread over the surface, for placing defects (computed once).
    pub fn surface(&self) -> Arc<SurfaceSamples> {
        self.surface
            .get_or_init(|| Arc::new(SurfaceSamples::of(self, surface_spacing(self))))
            .clone()
    }
}

/// Spacing of the surface points defects are placed at: fine enough to find every face and
/// edge of a 2-unit product, coarse enough to compute in a fraction of a second.
pub fn surface_spacing(field: &(impl Field + ?Sized)) -> f64 {
    let (lo, hi) = field.mesh_box(0.0);
    ((hi - lo).max_element() / 80.0).max(0.01)
}

impl Field for SampledShape {
    fn sdf(&self, p: DVec3) -> f64 {
        self.grid.value(p)
    }

    fn part_at(&self, p: DVec3) -> u8 {
        match self.grid.part(p) {
            (part, true) => part,
            // Near a part border the grid's nearest sample may belong to the other part: ask
            // the triangles.
            (part, false) => self
                .bvh()
                .nearest(p, f64::INFINITY, PartFilter::All)
                .map_or(part, |n| self.triangle_parts[n.triangle as usize]),
        }
    }

    fn centre(&self) -> DVec3 {
        (self.bounds.0 + self.bounds.1) / 2.0
    }

    fn mesh_box(&self, cell: f64) -> (DVec3, DVec3) {
        // Room for defects that add material (bulges stand up to ~0.2 proud) and a margin of
        // two cells so the surface never touches the grid's border.
        let margin = DVec3::splat(0.25 + 2.0 * cell + 0.05);
        (self.bounds.0 - margin, self.bounds.1 + margin)
    }

    fn parts(&self) -> PartTable {
        self.parts.clone()
    }

    fn sampled(&self) -> Option<&SampledShape> {
        Some(self)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
