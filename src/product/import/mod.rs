//! Reading a CAD mesh (STL, OBJ, glTF/GLB) into a checked, placed triangle soup with part
//! labels: the first step of turning a user's own product into a distance grid
//! ([`super::sampled`]).
//!
//! Every loader returns a [`RawMesh`] in the file's own units and axes. [`prepare`] then
//! refuses what cannot be a product (no triangles, NaN or infinite coordinates, more than
//! [`MAX_TRIANGLES`], a surface more open than the product file allows, a size no product has
//! in the stated units), measures how open and how non-manifold the surface is, numbers the
//! parts and places the mesh in the renderer's frame: the stated up axis turned to +y, the
//! largest extent scaled to `size` render units (the cap's is 2), the bounding box centred on
//! the y axis and standing on y = 0. [`Placement`] records how, so results relate back to CAD
//! units.

pub mod gltf;
pub mod obj;
pub mod stl;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::PartTable;
use super::parts::MAX_PARTS;
use crate::fsio::{self, FileKind, ReadError};

/// The most triangles a mesh may have.
pub const MAX_TRIANGLES: usize = 5_000_000;
/// The largest file (mesh, material library or glTF buffer) read.
pub const MAX_FILE_BYTES: u64 = FileKind::Mesh.limit();
/// Sensible sizes for a product's largest extent, in metres.
pub const MIN_PRODUCT_M: f64 = 0.0005;
pub const MAX_PRODUCT_M: f64 = 20.0;

/// `[import]` in a product file: which mesh, in what units, which way up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    /// The mesh file, relative to the product file: `.stl`, `.obj`, `.gltf` or `.glb`.
    pub file: String,
    /// What one unit in the file is.
    pub units: Units,
    /// The file's up axis; it becomes the renderer's +y.
    #[serde(default)]
    pub up: UpAxis,
    /// Where part names come from (see [`PartsFrom`]).
    #[serde(default)]
    pub parts_from: PartsFrom,
    /// The product's largest extent in render units (the cap's is 2; the camera frames that).
    #[serde(default = "default_size")]
    pub size: f64,
    /// Render units per file unit, instead of fitting `size`: keeps a product's scale fixed
    /// across revisions of its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Where the product goes: centred on the y axis standing on y = 0 (`centre`), or where
    /// the file puts it, the file's origin at the renderer's (`file`).
    #[serde(default)]
    pub origin: Origin,
    /// Distance-grid cells along the largest extent.
    #[serde(default = "default_resolution")]
    pub resolution: u32,
    /// The largest share of edges on the surface's boundary (holes) that is still imported,
    /// with a warning; more is refused.
    #[serde(default = "default_max_open_fraction")]
    pub max_open_fraction: f64,
    /// The folder the product file was read from, which `file` is relative to. Not part of the
    /// description (a manifest records the mesh by its content's hash instead).
    #[serde(skip)]
    pub source_dir: Option<PathBuf>,
}

fn default_size() -> f64 {
    2.0
}

fn default_resolution() -> u32 {
    200
}

fn default_max_open_fraction() -> f64 {
    0.02
}

impl ImportSpec {
    pub fn validate(&self) -> Result<(), String> {
        let ext = extension(Path::new(&self.file));
        if !["stl", "obj", "gltf", "glb"].contains(&ext.as_str()) {
            return Err(format!(
                "file {:?} must end in .stl, .obj, .gltf or .glb",
                self.file
            ));
        }
        if !(self.size.is_finite() && (0.1..=4.0).contains(&self.size)) {
            return Err(format!(
                "size must be 0.1 to 4 render units (the camera frames about 2), got {}",
                self.size
            ));
        }
        if let Some(scale) = self.scale
            && !(scale.is_finite() && scale > 0.0)
        {
            return Err(format!("scale must be a positive number, got {scale}"));
        }
        if !(16..=512).contains(&self.resolution) {
            return Err(format!(
                "resolution must be 16 to 512 grid cells along the largest extent, got {}",
                self.resolution
            ));
        }
        if !(0.0..=1.0).contains(&self.max_open_fraction) {
            return Err(format!(
                "max_open_fraction must be 0 to 1, got {}",
                self.max_open_fraction
            ));
        }
        let format = MeshFormat::of(Path::new(&self.file));
        if let Some(format) = format
            && !self.parts_from.applies_to(format)
        {
            return Err(format!(
                "parts_from = {:?} does not apply to {} files",
                self.parts_from.name(),
                format.name()
            ));
        }
        Ok(())
    }

    /// Grid cell edge in render units for `mesh` placed by this spec: its largest extent over
    /// `resolution` (that is `size` when the mesh was fitted to it, and the file's extent
    /// times `scale` when a scale was given).
    pub fn grid_cell(&self, mesh: &ImportedMesh) -> f64 {
        let (lo, hi) = crate::product::geometry::bounds_of(mesh.positions.iter().copied());
        let largest = (hi - lo).max_element();
        let largest = if largest.is_finite() && largest > 0.0 {
            largest
        } else {
            self.size
        };
        largest / f64::from(self.resolution)
    }
}

/// Where an imported product is put in the renderer's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Its bounding box centred on the y axis, standing on y = 0, as the cap does.
    #[default]
    Centre,
    /// Where the file puts it: the file's origin at the renderer's.
    File,
}

/// Length units of a mesh file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    Um,
    Mm,
    Cm,
    M,
    In,
    Ft,
}

impl Units {
    pub fn metres(self) -> f64 {
        match self {
            Self::Um => 1e-6,
            Self::Mm => 1e-3,
            Self::Cm => 1e-2,
            Self::M => 1.0,
            Self::In => 0.0254,
            Self::Ft => 0.3048,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Um => "um",
            Self::Mm => "mm",
            Self::Cm => "cm",
            Self::M => "m",
            Self::In => "in",
            Self::Ft => "ft",
        }
    }
}

/// Which axis of the file points up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UpAxis {
    #[serde(rename = "+x")]
    PosX,
    #[serde(rename = "-x")]
    NegX,
    #[default]
    #[serde(rename = "+y")]
    PosY,
    #[serde(rename = "-y")]
    NegY,
    #[serde(rename = "+z")]
    PosZ,
    #[serde(rename = "-z")]
    NegZ,
}

impl UpAxis {
    /// A proper rotation (determinant +1) taking this axis to +y.
    pub fn to_y_up(self, p: DVec3) -> DVec3 {
        match self {
            Self::PosY => p,
            Self::NegY => DVec3::new(p.x, -p.y, -p.z),
            Self::PosZ => DVec3::new(p.x, p.z, -p.y),
            Self::NegZ => DVec3::new(p.x, -p.z, p.y),
            Self::PosX => DVec3::new(-p.y, p.x, p.z),
            Self::NegX => DVec3::new(p.y, -p.x, p.z),
        }
    }

    /// The inverse of [`Self::to_y_up`].
    pub fn from_y_up(self, p: DVec3) -> DVec3 {
        match self {
            Self::PosY => p,
            Self::NegY => DVec3::new(p.x, -p.y, -p.z),
            Self::PosZ => DVec3::new(p.x, -p.z, p.y),
            Self::NegZ => DVec3::new(p.x, p.z, -p.y),
            Self::PosX => DVec3::new(p.y, -p.x, p.z),
            Self::NegX => DVec3::new(-p.y, p.x, p.z),
        }
    }
}

/// Where part names come from. `auto` is `solid` for STL, `group` for OBJ and `node` for glTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartsFrom {
    #[default]
    Auto,
    /// One part for the whole mesh, named after the file.
    Single,
    /// STL: each `solid NAME … endsolid` block of an ASCII file (a binary file is one part).
    Solid,
    /// OBJ: `o` and `g` names.
    Group,
    /// OBJ (`usemtl`) and glTF: material names.
    Material,
    /// glTF: node names.
    Node,
    /// glTF: mesh names.
    Mesh,
    /// glTF: mesh name and primitive index.
    Primitive,
}

impl PartsFrom {
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Single => "single",
            Self::Solid => "solid",
            Self::Group => "group",
            Self::Material => "material",
            Self::Node => "node",
            Self::Mesh => "mesh",
            Self::Primitive => "primitive",
        }
    }

    pub fn applies_to(self, format: MeshFormat) -> bool {
        match self {
            Self::Auto | Self::Single => true,
            Self::Solid => format == MeshFormat::Stl,
            Self::Group => format == MeshFormat::Obj,
            Self::Material => format != MeshFormat::Stl,
            Self::Node | Self::Mesh | Self::Primitive => format == MeshFormat::Gltf,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshFormat {
    Stl,
    Obj,
    Gltf,
}

impl MeshFormat {
    pub fn of(path: &Path) -> Option<Self> {
        match extension(path).as_str() {
            "stl" => Some(Self::Stl),
            "obj" => Some(Self::Obj),
            "gltf" | "glb" => Some(Self::Gltf),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Stl => "STL",
            Self::Obj => "OBJ",
            Self::Gltf => "glTF",
        }
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read: missing, not a regular file, or larger than a mesh may be
    /// ([`FileKind::Mesh`]).
    #[error(transparent)]
    File(#[from] ReadError),
    #[error("{path} is not a valid {format} file: {message}")]
    Format {
        path: String,
        format: &'static str,
        message: String,
    },
    #[error("{path} holds no triangles")]
    Empty { path: String },
    #[error("{path}: {what} has a NaN or infinite coordinate")]
    NonFinite { path: String, what: String },
    #[error("{path} has {count} triangles, more than the limit of {limit}")]
    TooManyTriangles {
        path: String,
        count: usize,
        limit: usize,
    },
    #[error(
        "{path}: {boundary} of {edges} edges ({:.1} %) lie on holes in the surface, more than \
         import.max_open_fraction allows ({:.1} %); close the mesh or raise the limit",
        100.0 * *boundary as f64 / (*edges).max(1) as f64,
        100.0 * limit
    )]
    TooOpen {
        path: String,
        boundary: usize,
        edges: usize,
        limit: f64,
    },
    #[error(
        "{path}: the product would be {size} across in the stated units ({units}), outside any \
         sensible size (0.5 mm to 20 m); is import.units right?"
    )]
    Units {
        path: String,
        size: String,
        units: &'static str,
    },
    #[error("{path}: {message}")]
    Parts { path: String, message: String },
    #[error("{path}: {message}")]
    Placement { path: String, message: String },
    #[error("{path}: {message}")]
    Grid { path: String, message: String },
    #[error("{path}: the surface encloses no volume (a single sheet, or faces that cancel out)")]
    NoVolume { path: String },
}

/// Triangles as a loader found them, in the file's units and axes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMesh {
    pub positions: Vec<DVec3>,
    pub triangles: Vec<[u32; 3]>,
    /// Index into `part_names` of each triangle.
    pub triangle_parts: Vec<u32>,
    /// Part names in the order the file first names them.
    pub part_names: Vec<String>,
}

impl RawMesh {
    /// The index of part `name`, added if new.
    pub fn part_index(&mut self, name: &str) -> u32 {
        match self.part_names.iter().position(|n| n == name) {
            Some(i) => i as u32,
            None => {
                self.part_names.push(name.to_string());
                (self.part_names.len() - 1) as u32
            }
        }
    }

    /// Appends triangles of part `part`; fails (with the count) past [`MAX_TRIANGLES`].
    pub fn push_triangle(&mut self, t: [u32; 3], part: u32) -> Result<(), usize> {
        if self.triangles.len() >= MAX_TRIANGLES {
            return Err(self.triangles.len() + 1);
        }
        self.triangles.push(t);
        self.triangle_parts.push(part);
        Ok(())
    }
}

/// A triangle mesh with named parts, as the writers take it (tests, examples, exports).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartMesh {
    pub positions: Vec<DVec3>,
    pub parts: Vec<(String, Vec<[u32; 3]>)>,
}

impl PartMesh {
    /// Adds a closed, outward-facing box from `lo` to `hi` as part `name`.
    pub fn add_box(&mut self, name: &str, lo: DVec3, hi: DVec3) {
        let first = self.positions.len() as u32;
        for k in 0..8 {
            self.positions.push(DVec3::new(
                if k & 1 == 0 { lo.x } else { hi.x },
                if k & 2 == 0 { lo.y } else { hi.y },
                if k & 4 == 0 { lo.z } else { hi.z },
            ));
        }
        let quads = [
            [0, 2, 3, 1],
            [4, 5, 7, 6],
            [0, 1, 5, 4],
            [2, 6, 7, 3],
            [0, 4, 6, 2],
            [1, 3, 7, 5],
        ];
        let triangles = quads
            .iter()
            .flat_map(|q| [[q[0], q[1], q[2]], [q[0], q[2], q[3]]])
            .map(|t: [u32; 3]| t.map(|v| first + v))
            .collect();
        self.parts.push((name.to_string(), triangles));
    }

    /// A mesh of ours, its triangles grouped by part (a triangle's part is its first vertex's,
    /// as the renderer shades it).
    pub fn from_mesh(mesh: &super::Mesh, names: &PartTable) -> Self {
        let mut parts: Vec<(String, Vec<[u32; 3]>)> = Vec::new();
        for t in mesh.indices.chunks_exact(3) {
            let id = mesh.parts[t[0] as usize];
            let name = names
                .name_of(id)
                .map_or_else(|| format!("part{id}"), str::to_string);
            let k = match parts.iter().position(|(n, _)| *n == name) {
                Some(k) => k,
                None => {
                    parts.push((name, Vec::new()));
                    parts.len() - 1
                }
            };
            parts[k].1.push([t[0], t[1], t[2]]);
        }
        Self {
            positions: mesh
                .positions
                .iter()
                .map(|p| DVec3::from(p.map(f64::from)))
                .collect(),
            parts,
        }
    }
}

/// How the mesh was put into the renderer's frame: `render = to_y_up(file) · scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub units: Units,
    pub up: UpAxis,
    /// Render units per file unit.
    pub scale: f64,
    pub offset: [f64; 3],
    /// The bounding box's size in file units (after turning the up axis to +y).
    pub extent: [f64; 3],
}

impl Placement {
    pub fn to_render(&self, file: DVec3) -> DVec3 {
        self.up.to_y_up(file) * self.scale + DVec3::from(self.offset)
    }

    pub fn to_file(&self, render: DVec3) -> DVec3 {
        self.up
            .from_y_up((render - DVec3::from(self.offset)) / self.scale)
    }

    /// Render units per millimetre.
    pub fn render_units_per_mm(&self) -> f64 {
        self.scale / (self.units.metres() * 1000.0)
    }
}

/// What the checks found in a mesh that was imported anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MeshReport {
    pub triangles: usize,
    /// Vertices after joining those at the same position.
    pub vertices: usize,
    /// Triangles of zero area (dropped).
    pub degenerate: usize,
    pub edges: usize,
    /// Edges used by one triangle only: the rims of holes.
    pub boundary_edges: usize,
    /// Edges used by more than two triangles.
    pub non_manifold_edges: usize,
    /// Edges two neighbouring triangles run the same way along (one of them is flipped).
    pub misoriented_edges: usize,
}

impl MeshReport {
    pub fn open_fraction(&self) -> f64 {
        self.boundary_edges as f64 / self.edges.max(1) as f64
    }

    /// One line per finding worth telling the user.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let share = |n: usize| 100.0 * n as f64 / self.edges.max(1) as f64;
        if self.boundary_edges > 0 {
            out.push(format!(
                "the surface is open: {} of {} edges ({:.2} %) lie on holes; the inside is taken \
                 from the winding number, which bridges small holes",
                self.boundary_edges,
                self.edges,
                share(self.boundary_edges)
            ));
        }
        if self.non_manifold_edges > 0 {
            out.push(format!(
                "{} edges ({:.2} %) are shared by more than two triangles (touching or \
                 overlapping bodies)",
                self.non_manifold_edges,
                share(self.non_manifold_edges)
            ));
        }
        if self.misoriented_edges > 0 {
            out.push(format!(
                "{} edges ({:.2} %) join triangles facing opposite ways (flipped faces)",
                self.misoriented_edges,
                share(self.misoriented_edges)
            ));
        }
        if self.degenerate > 0 {
            out.push(format!(
                "{} triangles of zero area were dropped",
                self.degenerate
            ));
        }
        out
    }
}

/// What a dataset's manifest records of an imported product: which mesh exactly, how it was
/// placed (to relate results back to CAD units) and what the checks found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// SHA-256 of the mesh file (and the files it refers to) with the import settings.
    pub key_sha256: String,
    pub placement: Placement,
    pub report: MeshReport,
    pub warnings: Vec<String>,
    /// Edge of the distance grid's cells, in render units.
    pub grid_cell: f64,
    /// The folder the mesh was read from at render time (absolute), so that the scene can be
    /// opened again from the manifest (inspection renders the product at each image's pose);
    /// the hash above says whether the mesh there is still the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_dir: Option<PathBuf>,
}

impl ImportRecord {
    pub fn of(geometry: &super::Geometry) -> Option<Self> {
        use super::Field;
        let s = geometry.sampled()?;
        Some(Self {
            key_sha256: s.key_hex(),
            placement: *s.placement(),
            report: *s.report(),
            warnings: s.report().warnings(),
            grid_cell: s.grid_cell(),
            source_dir: None,
        })
    }

    /// The record of `geometry`, with the folder `spec`'s mesh is read from.
    pub fn with_source(geometry: &super::Geometry, spec: Option<&ImportSpec>) -> Option<Self> {
        let dir = spec.and_then(|i| {
            let mesh = mesh_path(i, i.source_dir.as_deref());
            let dir = mesh.parent()?.to_path_buf();
            std::path::absolute(&dir).ok()
        });
        Some(Self {
            source_dir: dir,
            ..Self::of(geometry)?
        })
    }
}

/// A mesh ready to become a distance grid: placed in render units, parts numbered.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedMesh {
    pub positions: Vec<DVec3>,
    pub triangles: Vec<[u32; 3]>,
    pub triangle_parts: Vec<u8>,
    pub parts: PartTable,
    pub placement: Placement,
    pub report: MeshReport,
}

/// The mesh file a product file names, resolved against the product file's folder.
pub fn mesh_path(spec: &ImportSpec, source_dir: Option<&Path>) -> PathBuf {
    let file = Path::new(&spec.file);
    match source_dir {
        Some(dir) if file.is_relative() => dir.join(file),
        _ => file.to_path_buf(),
    }
}

/// Reads a whole file (a mesh, a material library, a glTF buffer), refusing anything but a
/// regular file of at most [`MAX_FILE_BYTES`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, ImportError> {
    Ok(fsio::read_bounded(path, FileKind::Mesh)?)
}

/// A file a mesh file refers to (an OBJ's material library, a glTF buffer): only a relative
/// path that stays inside the mesh file's folder is followed.
pub fn referenced_file(mesh: &Path, name: &str) -> Option<PathBuf> {
    let rel = Path::new(name);
    let inside = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside || name.is_empty() {
        return None;
    }
    Some(mesh.parent().unwrap_or(Path::new(".")).join(rel))
}

/// The mesh file's bytes and those of every file it refers to, in a fixed order: what the
/// distance grid's cache key is computed from.
pub struct SourceFiles {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub referenced: Vec<(String, Vec<u8>)>,
}

/// Reads the mesh a product file names.
pub fn load(
    spec: &ImportSpec,
    source_dir: Option<&Path>,
) -> Result<(RawMesh, SourceFiles), ImportError> {
    let path = mesh_path(spec, source_dir);
    let bytes = read_bounded(&path)?;
    let shown = path.display().to_string();
    let mut referenced = Vec::new();
    let raw = match MeshFormat::of(&path) {
        Some(MeshFormat::Stl) => stl::read(&bytes, &path, spec.parts_from)?,
        Some(MeshFormat::Obj) => obj::read(&bytes, &path, spec.parts_from, &mut referenced)?,
        Some(MeshFormat::Gltf) => gltf::read(&bytes, &path, spec.parts_from, &mut referenced)?,
        None => {
            return Err(ImportError::Format {
                path: shown,
                format: "mesh",
                message: "the name must end in .stl, .obj, .gltf or .glb".into(),
            });
        }
    };
    Ok((
        raw,
        SourceFiles {
            path,
            bytes,
            referenced,
        },
    ))
}

/// Checks a loaded mesh, measures its topology, numbers its parts (`pinned` ids first) and
/// places it in the renderer's frame.
pub fn prepare(
    raw: RawMesh,
    spec: &ImportSpec,
    pinned: &PartTable,
    path: &Path,
) -> Result<ImportedMesh, ImportError> {
    let shown = path.display().to_string();
    if let Some(i) = raw.positions.iter().position(|p| !p.is_finite()) {
        return Err(ImportError::NonFinite {
            path: shown,
            what: format!("vertex {}", i + 1),
        });
    }
    if raw.triangles.len() > MAX_TRIANGLES {
        return Err(ImportError::TooManyTriangles {
            path: shown,
            count: raw.triangles.len(),
            limit: MAX_TRIANGLES,
        });
    }
    let n = raw.positions.len();
    if let Some(t) = raw
        .triangles
        .iter()
        .find(|t| t.iter().any(|&v| v as usize >= n))
    {
        return Err(ImportError::Format {
            path: shown,
            format: "mesh",
            message: format!("a triangle refers to vertex {:?} of {n}", t),
        });
    }
    // Join vertices at the same position (STL repeats them per facet) and drop triangles of
    // zero area, which carry no surface.
    let (positions, remap) = weld(&raw.positions);
    let mut triangles = Vec::with_capacity(raw.triangles.len());
    let mut triangle_parts = Vec::with_capacity(raw.triangles.len());
    let mut degenerate = 0;
    for (t, part) in raw.triangles.iter().zip(&raw.triangle_parts) {
        let t = t.map(|v| remap[v as usize]);
        let [a, b, c] = t.map(|v| positions[v as usize]);
        if t[0] == t[1]
            || t[1] == t[2]
            || t[0] == t[2]
            || (b - a).cross(c - a).length_squared() == 0.0
        {
            degenerate += 1;
            continue;
        }
        triangles.push(t);
        triangle_parts.push(*part);
    }
    if triangles.is_empty() {
        return Err(ImportError::Empty { path: shown });
    }
    let report = topology(&triangles, positions.len(), degenerate);
    if report.open_fraction() > spec.max_open_fraction {
        return Err(ImportError::TooOpen {
            path: shown,
            boundary: report.boundary_edges,
            edges: report.edges,
            limit: spec.max_open_fraction,
        });
    }
    let (parts, ids) =
        number_parts(&raw.part_names, &triangle_parts, pinned).map_err(|message| {
            ImportError::Parts {
                path: shown.clone(),
                message,
            }
        })?;
    let triangle_parts: Vec<u8> = triangle_parts.iter().map(|p| ids[*p as usize]).collect();

    // Only vertices that triangles use count towards the size.
    let mut used = vec![false; positions.len()];
    for t in &triangles {
        for v in t {
            used[*v as usize] = true;
        }
    }
    let (lo, hi) = super::geometry::bounds_of(
        positions
            .iter()
            .zip(&used)
            .filter(|(_, u)| **u)
            .map(|(p, _)| spec.up.to_y_up(*p)),
    );
    let extent = hi - lo;
    let largest = extent.max_element();
    let metres = largest * spec.units.metres();
    if !(largest > 0.0 && (MIN_PRODUCT_M..=MAX_PRODUCT_M).contains(&metres)) {
        return Err(ImportError::Units {
            path: shown,
            size: format_length(metres),
            units: spec.units.name(),
        });
    }
    let scale = spec.scale.unwrap_or(spec.size / largest);
    let size = largest * scale;
    if !(0.1..=4.0).contains(&size) {
        return Err(ImportError::Placement {
            path: shown,
            message: format!(
                "import.scale {scale} makes the product {size:.3} render units across; the \
                 camera frames about 2 (0.1 to 4 are allowed)"
            ),
        });
    }
    let centre = (lo + hi) / 2.0;
    let offset = match spec.origin {
        Origin::Centre => DVec3::new(-centre.x, -lo.y, -centre.z) * scale,
        Origin::File => DVec3::ZERO,
    };
    let placement = Placement {
        units: spec.units,
        up: spec.up,
        scale,
        offset: offset.to_array(),
        extent: extent.to_array(),
    };
    let positions = positions.iter().map(|p| placement.to_render(*p)).collect();
    Ok(ImportedMesh {
        positions,
        triangles,
        triangle_parts,
        parts,
        placement,
        report,
    })
}

fn format_length(metres: f64) -> String {
    if !metres.is_finite() {
        return format!("{metres} m");
    }
    if metres < 0.01 {
        format!("{:.3} mm", metres * 1000.0)
    } else {
        format!("{metres:.3} m")
    }
}

/// Joins vertices with identical coordinates: the joined positions and, per input vertex, its
/// index among them.
fn weld(positions: &[DVec3]) -> (Vec<DVec3>, Vec<u32>) {
    let mut index: HashMap<[u64; 3], u32> = HashMap::with_capacity(positions.len());
    let mut joined = Vec::new();
    let remap = positions
        .iter()
        .map(|p| {
            // -0.0 and 0.0 are the same place.
            let key = (*p + DVec3::ZERO).to_array().map(f64::to_bits);
            *index.entry(key).or_insert_with(|| {
                joined.push(*p);
                (joined.len() - 1) as u32
            })
        })
        .collect();
    (joined, remap)
}

/// Counts edges by how many triangles use them and in which direction.
fn topology(triangles: &[[u32; 3]], vertices: usize, degenerate: usize) -> MeshReport {
    // Per undirected edge: uses, and the balance of its two directions.
    let mut edges: HashMap<(u32, u32), (u32, i32)> = HashMap::with_capacity(triangles.len() * 2);
    for t in triangles {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            let e = edges.entry((a.min(b), a.max(b))).or_default();
            e.0 += 1;
            e.1 += if a < b { 1 } else { -1 };
        }
    }
    let mut report = MeshReport {
        triangles: triangles.len(),
        vertices,
        degenerate,
        edges: edges.len(),
        ..MeshReport::default()
    };
    for (uses, balance) in edges.values() {
        match uses {
            1 => report.boundary_edges += 1,
            2 if *balance != 0 => report.misoriented_edges += 1,
            2 => {}
            _ => report.non_manifold_edges += 1,
        }
    }
    report
}

/// Gives every part name an id: those pinned in the product file keep theirs, the rest take
/// the lowest free ids in the order the file names them. Names the triangles do not use are
/// left out.
fn number_parts(
    names: &[String],
    triangle_parts: &[u32],
    pinned: &PartTable,
) -> Result<(PartTable, Vec<u8>), String> {
    let mut used = vec![false; names.len()];
    for p in triangle_parts {
        if let Some(u) = used.get_mut(*p as usize) {
            *u = true;
        }
    }
    for (_, name) in pinned.named() {
        if !names.iter().zip(&used).any(|(n, u)| *u && n == name) {
            let found: Vec<&str> = names
                .iter()
                .zip(&used)
                .filter(|(_, u)| **u)
                .map(|(n, _)| n.as_str())
                .collect();
            return Err(format!(
                "parts.{name} is not a part of the mesh (its parts: {})",
                found.join(", ")
            ));
        }
    }
    let in_use = used.iter().filter(|u| **u).count();
    if in_use > MAX_PARTS {
        return Err(format!(
            "{in_use} parts, more than the {MAX_PARTS} a product can have; take part names \
             from fewer sources (import.parts_from)"
        ));
    }
    let mut taken: Vec<u8> = pinned.named().iter().map(|(i, _)| *i).collect();
    let mut next = 1u8;
    let mut ids = vec![0u8; names.len()];
    let mut pairs = Vec::new();
    for (k, name) in names.iter().enumerate() {
        if !used[k] {
            continue;
        }
        let id = match pinned.id_of(name) {
            Some(id) => id,
            None => {
                while taken.contains(&next) {
                    next += 1;
                }
                taken.push(next);
                next
            }
        };
        ids[k] = id;
        pairs.push((id, name.clone()));
    }
    Ok((PartTable::from_pairs(pairs), ids))
}

#[cfg(test)]
mod tests;
