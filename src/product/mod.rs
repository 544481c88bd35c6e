//! The product: its description (a TOML data file), its signed distance function, its parts, its
//! defects and its triangle mesh. The built-in cap is an analytic distance function; a product
//! of the user's own comes from a CAD mesh (`import`) turned into a sampled distance grid
//! (`sampled`). Both are a [`Geometry`], which is what meshing and the defects work on.

pub mod bvh;
pub mod defect;
pub mod generic_defect;
pub mod geometry;
pub mod import;
pub mod mesh;
pub mod parts;
pub mod sampled;
pub mod sdf;
pub mod simplify;
pub mod surface;
pub mod winding;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsio::{FileKind, ReadError, read_text};
pub use defect::{Defect, DefectSpec};
pub use geometry::{Field, Geometry};
pub use import::{ImportError, ImportSpec};
pub use mesh::{Grid, Mesh};
pub use parts::PartTable;
pub use sdf::{PartIds, Shape};

/// The built-in reference product's description, compiled in so it needs no file on disk.
pub const BUILTIN_CAP_TOML: &str = include_str!("../../assets/products/cap.toml");

/// Newest product-file version this build understands. Version 2 adds `[import]` (a CAD mesh)
/// and part tables with any names; version 1 files (the cap family) read as they always did.
pub const PRODUCT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("product file {path} is not valid TOML for a product: {message}")]
    Parse { path: String, message: String },
    #[error("product file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// A product description as stored in `assets/products/*.toml`: either the cap family
/// (`shape` and `notch`) or, from version 2, a CAD mesh (`import`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    pub version: u32,
    pub name: String,
    // The optional tables are boxed: the workbench passes specs by value through its channels,
    // and the cap family's and an import's tables are never both there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Box<ShapeSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notch: Option<Box<NotchSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<Box<ImportSpec>>,
    /// Part names and their stable ids. The cap family names dome, wall, notch and base; an
    /// imported product may pin some or all of its parts' ids here (the rest are numbered in
    /// the order the mesh file names them).
    #[serde(default)]
    pub parts: PartTable,
    #[serde(default)]
    pub mesh: MeshSpec,
    #[serde(default)]
    pub defects: BTreeMap<String, DefectSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeSpec {
    pub radius: f64,
    pub wall_height: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotchSpec {
    pub width: f64,
    pub height: f64,
    pub depth: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MeshSpec {
    /// Grid cell edge length; 0 (or absent) chooses one from the render resolution.
    #[serde(default)]
    pub cell: f64,
}

impl ProductSpec {
    pub fn builtin_cap() -> Self {
        // The built-in file is part of the source tree and covered by tests; failing to parse it
        // is a build defect, not a user error.
        Self::from_toml_str(BUILTIN_CAP_TOML, "<built-in cap>")
            .expect("the built-in cap description is valid (tested)")
    }

    /// Loads `builtin:cap` / `cap` as the built-in product, anything else as a file path.
    pub fn load(name_or_path: &str, base_dir: Option<&Path>) -> Result<Self, ProductError> {
        if name_or_path == "cap" || name_or_path == "builtin:cap" {
            return Ok(Self::builtin_cap());
        }
        let mut path = Path::new(name_or_path).to_path_buf();
        if path.is_relative()
            && let Some(base) = base_dir
        {
            path = base.join(path);
        }
        let mut spec = if is_mesh_file(&path) {
            Self::from_mesh(&path)?
        } else {
            let text = read_text(&path, FileKind::Product)?;
            Self::from_toml_str(&text, &path.display().to_string())?
        };
        if let Some(import) = &mut spec.import {
            import.source_dir = Some(
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
            );
        }
        Ok(spec)
    }

    /// A product made of a bare mesh file (`.stl`, `.obj`, `.gltf`, `.glb`), as opening one in
    /// the workbench or naming one as a recipe's product does: millimetres, +y up, parts as the
    /// file names them, fitted to the renderer's frame, and three generic defect classes on any
    /// part (bulge, dent, chip). Saving it writes a product file whose choices can be edited.
    /// [`ProductSpec::load`] records the folder the mesh is read from.
    fn from_mesh(path: &Path) -> Result<Self, ProductError> {
        let origin = path.display().to_string();
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ProductError::Invalid {
                path: origin.clone(),
                message: "not a file name".into(),
            })?;
        let name = path.file_stem().map_or_else(
            || "product".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        Self::from_toml_str(&mesh_product_toml(&name, &file), &origin)
    }

    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ProductError> {
        let spec: ProductSpec = toml::from_str(text).map_err(|e| ProductError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        spec.validate().map_err(|message| ProductError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(spec)
    }

    /// Checks every value a user could get wrong; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.version == 0 || self.version > PRODUCT_VERSION {
            return Err(format!(
                "version {} is not supported (this build reads versions 1 to {PRODUCT_VERSION})",
                self.version
            ));
        }
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        match (&self.shape, &self.notch, &self.import) {
            (Some(shape), Some(notch), None) => self.validate_cap(shape, notch)?,
            (None, None, Some(import)) => {
                if self.version < 2 {
                    return Err("[import] needs version = 2".into());
                }
                import.validate().map_err(|m| format!("import.{m}"))?;
            }
            (_, _, Some(_)) => {
                return Err(
                    "a product is either the cap family ([shape] and [notch]) or an imported \
                     mesh ([import]), not both"
                        .into(),
                );
            }
            _ => {
                return Err(
                    "missing [shape] and [notch] (the cap family) or [import] (a CAD mesh, \
                     version 2)"
                        .into(),
                );
            }
        }
        self.parts.validate()?;
        // The finest detail the mesh must keep: a cell coarser than half of it meshes the
        // product into nothing (or nothing like it).
        let finest = match (&self.shape, &self.notch) {
            (Some(shape), Some(notch)) => [
                shape.radius,
                shape.wall_height,
                notch.width,
                notch.height,
                notch.depth,
            ]
            .into_iter()
            .fold(f64::INFINITY, f64::min),
            // An imported product's size is known once its mesh is read (with `scale`);
            // `size` is what it is fitted to otherwise.
            _ => self.import.as_ref().map_or(2.0, |import| import.size),
        };
        let coarsest = finest / 2.0;
        if !(self.mesh.cell == 0.0
            || (self.mesh.cell.is_finite()
                && self.mesh.cell >= 0.004
                && self.mesh.cell <= coarsest))
        {
            return Err(format!(
                "mesh.cell must be 0 (automatic) or from 0.004 to {coarsest} (half the \
                 product's smallest dimension), got {}",
                self.mesh.cell
            ));
        }
        // Automatic cells are never finer than `mesh::auto_cell`'s 0.01. An imported product's
        // meshing box is known once its mesh is read; the dataset's set-up checks it then.
        let cell = if self.mesh.cell > 0.0 {
            self.mesh.cell
        } else {
            mesh::FINEST_AUTO_CELL
        };
        let points = Grid::points_for(&self.shape(), cell);
        if !self.is_imported() && points.is_none_or(|p| p > mesh::MAX_GRID_POINTS) {
            return Err(format!(
                "the product is too large to mesh at a cell of {cell}: more than {} grid \
                 points (make it smaller or mesh.cell larger)",
                mesh::MAX_GRID_POINTS
            ));
        }
        for (class, spec) in &self.defects {
            if class.is_empty()
                || class == "good"
                || !class
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "defect class name {class:?} must be letters, digits, '_' or '-', and not \"good\""
                ));
            }
            spec.validate(self)
                .map_err(|m| format!("defects.{class}: {m}"))?;
        }
        if !self.is_imported() {
            self.check_defect_parts(&self.parts)?;
        }
        Ok(())
    }

    /// Checks that every defect class that names a part names one of `parts` (an imported
    /// product's parts are known once its mesh is read).
    pub fn check_defect_parts(&self, parts: &PartTable) -> Result<(), String> {
        for (class, spec) in &self.defects {
            generic_defect::check_part(spec, parts).map_err(|m| format!("defects.{class}: {m}"))?;
        }
        Ok(())
    }

    fn validate_cap(&self, shape: &ShapeSpec, notch: &NotchSpec) -> Result<(), String> {
        let positive = |v: f64, what: &str| -> Result<(), String> {
            if v.is_finite() && v > 0.0 && v < 100.0 {
                Ok(())
            } else {
                Err(format!(
                    "{what} must be a positive number below 100, got {v}"
                ))
            }
        };
        positive(shape.radius, "shape.radius")?;
        positive(shape.wall_height, "shape.wall_height")?;
        positive(notch.width, "notch.width")?;
        positive(notch.height, "notch.height")?;
        positive(notch.depth, "notch.depth")?;
        if notch.width >= 2.0 * shape.radius {
            return Err("notch.width must be smaller than the diameter".into());
        }
        if notch.height >= shape.wall_height {
            return Err("notch.height must be smaller than shape.wall_height".into());
        }
        if notch.depth >= shape.radius {
            return Err("notch.depth must be smaller than shape.radius".into());
        }
        let names: Vec<&str> = self.parts.named().into_iter().map(|(_, n)| n).collect();
        for name in PartIds::NAMES {
            if !names.contains(&name) {
                return Err(format!(
                    "parts.{name} is missing (the cap family names dome, wall, notch and base)"
                ));
            }
        }
        if let Some(extra) = names.iter().find(|n| !PartIds::NAMES.contains(n)) {
            return Err(format!(
                "parts.{extra}: the cap family has only dome, wall, notch and base"
            ));
        }
        Ok(())
    }

    /// True for a product imported from a CAD mesh (`[import]`).
    pub fn is_imported(&self) -> bool {
        self.import.is_some()
    }

    /// The cap family's analytic shape. An imported product has no analytic shape: this gives
    /// it an empty one, which meshes to nothing; its geometry is opened with
    /// [`Geometry::open`], which reads the mesh file.
    pub fn shape(&self) -> Shape {
        Shape::from_spec(self)
    }
}

/// Whether `path` names a mesh file the import reads, by its extension.
pub fn is_mesh_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["stl", "obj", "gltf", "glb"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The product description of a bare mesh file (see [`ProductSpec::from_mesh`]).
fn mesh_product_toml(name: &str, file: &str) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        "version = 2\nname = {}\n\n[import]\nfile = {}\nunits = \"mm\"\n\n\
         [defects.bulge]\nkind = \"surface_bulge\"\nradius = [0.15, 0.25]\n\
         protrusion = [0.06, 0.10]\nblend = 0.05\n\n\
         [defects.dent]\nkind = \"surface_dent\"\nradius = [0.15, 0.25]\n\
         depth = [0.05, 0.08]\nblend = 0.04\n\n\
         [defects.chip]\nkind = \"edge_chip\"\nradius = [0.10, 0.16]\n",
        quoted(name),
        quoted(file)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::import::UpAxis;

    #[test]
    fn builtin_cap_matches_the_reference_dimensions() {
        let p = ProductSpec::builtin_cap();
        let (shape, notch) = (*p.shape.unwrap(), *p.notch.unwrap());
        assert_eq!(shape.radius, 1.0);
        assert_eq!(shape.wall_height, 1.0);
        assert_eq!(notch.width, 0.40);
        assert_eq!(notch.height, 0.70);
        assert_eq!(notch.depth, 0.30);
        let names: Vec<_> = p.parts.named().into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["dome", "wall", "notch", "base"]);
        for class in ["bulge", "short_notch", "dent", "chip"] {
            assert!(p.defects.contains_key(class), "missing defect {class}");
        }
    }

    #[test]
    fn bad_product_files_name_the_problem() {
        let good = BUILTIN_CAP_TOML;
        let cases = [
            (
                good.replace("radius = 1.0 ", "radius = -1.0 "),
                "shape.radius",
            ),
            (good.replace("notch = 3", "notch = 2"), "used twice"),
            (good.replace("version = 1", "version = 9"), "version 9"),
            (good.replace("[notch]", "[notchh]"), "unknown field"),
            ("this is not toml".to_string(), "not valid TOML"),
            (
                good.replace("height = [0.35, 0.45]", "height = [0.9, 0.95]"),
                "defects.short_notch",
            ),
            (good.replace("cell = 0.0", "cell = 100.0"), "mesh.cell"),
            (good.replace("cell = 0.0", "cell = nan"), "mesh.cell"),
            (
                good.replace("radius = 1.0 ", "radius = 99.0 ")
                    .replace("wall_height = 1.0", "wall_height = 99.0"),
                "too large to mesh",
            ),
        ];
        for (text, expected) in cases {
            let err = ProductSpec::from_toml_str(&text, "bad.toml").expect_err("must be rejected");
            let msg = err.to_string();
            assert!(msg.contains("bad.toml"), "{msg}");
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
    }

    const V2: &str = r#"version = 2
name = "part"

[import]
file = "part.stl"
units = "mm"
up = "+z"

[parts]
body = 1

[defects.bump]
kind = "surface_bulge"
part = "body"
radius = [0.1, 0.2]
protrusion = [0.05, 0.08]
blend = 0.04
"#;

    #[test]
    fn version_2_names_a_mesh_and_the_cap_reads_and_writes_as_before() {
        let spec = ProductSpec::from_toml_str(V2, "part.toml").unwrap();
        assert!(spec.is_imported());
        let import = spec.import.as_deref().unwrap();
        assert_eq!(import.up, UpAxis::PosZ);
        assert_eq!(import.resolution, 200);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ProductSpec>(&json).unwrap(), spec);
        // The cap's description serialises exactly as before version 2 (manifests compare it).
        let cap = serde_json::to_string(&ProductSpec::builtin_cap()).unwrap();
        assert!(
            cap.starts_with(
                r#"{"version":1,"name":"cap","shape":{"radius":1.0,"wall_height":1.0},"notch":"#
            ),
            "{cap}"
        );
        assert!(
            cap.contains(r#""parts":{"dome":1,"wall":2,"notch":3,"base":4},"mesh""#),
            "{cap}"
        );
    }

    #[test]
    fn bad_version_2_files_name_the_problem() {
        let cases = [
            (
                V2.replace("version = 2", "version = 1"),
                "needs version = 2",
            ),
            (
                format!("{V2}\n[shape]\nradius = 1.0\nwall_height = 1.0\n"),
                "not both",
            ),
            (
                V2.replace("units = \"mm\"", "units = \"furlong\""),
                "furlong",
            ),
            (V2.replace("up = \"+z\"", "up = \"z\""), "unknown variant"),
            (V2.replace("part.stl", "part.step"), "must end in"),
            (
                format!(
                    "{V2}\n[defects.chip]\nkind = \"chip\"\nradius = [0.1, 0.2]\nazimuth_deg = [0.0, 90.0]\n"
                ),
                "cap's own classes",
            ),
            (
                V2.replace("up = \"+z\"", "resolution = 5"),
                "resolution must be",
            ),
            (V2.replace("[import]", "[importt]"), "unknown field"),
            ("version = 2\nname = \"x\"\n".to_string(), "missing [shape]"),
            (V2.replace("body = 1", "body = 0"), "0 is the background"),
        ];
        for (text, expected) in cases {
            let err = ProductSpec::from_toml_str(&text, "bad.toml").expect_err(expected);
            let msg = err.to_string();
            assert!(msg.contains("bad.toml"), "{msg}");
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
    }
}
