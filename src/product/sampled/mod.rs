//! An imported product as a signed distance grid: trilinear distance between samples, and at
//! each sample the part of its nearest triangle.
//!
//! # How the grid is built
//! The sign comes from the generalised winding number ([`super::winding`]), the distance from
//! the nearest triangle ([`super::bvh`]). Computing both at every sample of a fine grid costs
//! too much, and only samples near the surface need them: meshing interpolates the field
//! there, defects blend with it there. So the grid is built as a pyramid of levels, each
//! [`REFINE`] times finer along each axis than the one above, the coarsest about 0.1 units
//! apart. The coarsest is computed exactly everywhere. A sample of a finer level is computed
//! exactly when it may lie near the surface (within [`BAND_CELLS`] cells on the finest level,
//! a cell diagonal of the level above more on each coarser one): the distance being
//! 1-Lipschitz, `|d(p)| ≥ |d(c)| − |p − c|` for every corner `c` of its cell in the level
//! above, and a sample whose bound exceeds the band is provably off it. Such a sample takes
//! its sign from a corner whose ball free of triangles contains it and its magnitude from the
//! level above's interpolation, never below the bound.
//!
//! The balls free of triangles prove signs only where the surface is closed: across a hole
//! the winding number turns with no triangle there. An open mesh therefore asks the winding
//! number at every exact sample; farther from its surface than the finest band, a hole wider
//! than about six cells may still be bridged along those balls rather than exactly where the
//! winding number crosses ½.
//!
//! # Cache
//! The grid as built (the coarse level, the brick index and the bricks) is cached in
//! `.unseen-cache/` beside the product file as one flat little-endian file, keyed by the
//! SHA-256 of the mesh file's bytes (and the files it refers to), the import settings and this
//! format's version, and written atomically. A cache file is read in one go and checked in
//! full (its own SHA-256, its key, every size, every brick index and value) before it is used;
//! one that fails is ignored and rebuilt.

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
mod grid;
#[cfg(test)]
mod tests;

pub use build::REFINE;
use build::build;
use cache::{CacheMiss, cache_key, read_cache, write_cache};
pub use grid::DistanceGrid;

/// Fine samples within this many cells of the surface are computed exactly.
pub const BAND_CELLS: f64 = 3.0;
/// Room around the product, in render units, where the field is kept (defects that add
/// material blend within it).
pub const PAD: f64 = 0.3;
/// The most fine samples a grid may have (5 bytes each).
pub const MAX_GRID_SAMPLES: usize = 512 << 20;
/// Distance given to a sample inside the solid that lies exactly on a triangle (an internal
/// face of overlapping bodies), so it still reads as inside.
pub(crate) const INSIDE_ON_FACE: f64 = 1e-7;

/// Bump when the grid's construction or the cache layout changes (3: with a scale given, the
/// cell follows the placed mesh's extent instead of `size`).
pub(crate) const CACHE_FORMAT: u32 = 3;
pub(crate) const CACHE_MAGIC: &[u8; 12] = b"unseen-sdf-g";
pub const CACHE_DIR: &str = ".unseen-cache";

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
                Ok(grid) => {
                    outcome = CacheOutcome::Hit(file.clone());
                    cached = Some(grid);
                }
                Err(CacheMiss::Absent) => {}
                Err(CacheMiss::Invalid(why)) => outcome = CacheOutcome::Rebuilt(file.clone(), why),
            }
        }
        let grid = match cached {
            Some(grid) => grid,
            None => {
                let grid = build(&mesh, import.grid_cell(&mesh), &shown)?;
                if let Some(file) = &cache_file {
                    let written = write_cache(file, &key, &grid);
                    outcome = match (written, outcome) {
                        (Err(e), _) => CacheOutcome::NotWritten(e),
                        (Ok(()), CacheOutcome::Rebuilt(f, why)) => CacheOutcome::Rebuilt(f, why),
                        (Ok(()), _) => CacheOutcome::Written(file.clone()),
                    };
                }
                grid
            }
        };
        Self::from_parts(key, grid, mesh, outcome, &shown)
    }

    /// Builds without a cache, from a mesh already placed (tests, benchmarks).
    pub fn from_mesh(mesh: ImportedMesh, cell: f64, name: &str) -> Result<Self, ImportError> {
        let grid = build(&mesh, cell, name)?;
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
        Self::from_parts(key, grid, mesh, CacheOutcome::None, name)
    }

    fn from_parts(
        key: [u8; 32],
        grid: DistanceGrid,
        mesh: ImportedMesh,
        cache: CacheOutcome,
        shown: &str,
    ) -> Result<Self, ImportError> {
        if !grid.has_inside() {
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

/// A corner of the built-in cap's mesh box for every cell (two cells and 0.05 outside its box
/// from (-1, 0, -1) to (1, 2, 1)). An imported product's mesh box starts on the same points,
/// so its grid, shifted by the same fraction of a cell ([`crate::product::mesh::LATTICE_SHIFT`]),
/// is sampled on the cap's lattice.
pub(crate) const LATTICE_ANCHOR: DVec3 = DVec3::new(-1.05, -0.05, -1.05);

/// Added to the interpolated distance so that a point exactly on a face reads as outside, as
/// the analytic fields' exact zero does (rounding in the interpolation would otherwise tip such
/// ties either way, and surface nets on faces that lie in grid planes would follow).
const TIE_LIFT: f64 = 1e-9;

impl Field for SampledShape {
    fn sdf(&self, p: DVec3) -> f64 {
        self.grid.value(p) + TIE_LIFT
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
        let (lo, hi) = (self.bounds.0 - margin, self.bounds.1 + margin);
        if cell.is_nan() || cell <= 0.0 {
            return (lo, hi);
        }
        // On the built-in cap's lattice: surface nets at sharp edges depend on where the
        // samples fall, so a product placed as the cap is meshes exactly as the cap does.
        let steps = ((lo - LATTICE_ANCHOR) / cell).floor();
        (LATTICE_ANCHOR + steps * cell, hi)
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
