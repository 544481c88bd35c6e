//! The product: its description (a TOML data file), its signed distance function, its parts, its
//! defects and its triangle mesh.

pub mod defect;
pub mod mesh;
pub mod sdf;
pub mod simplify;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsio::{FileKind, ReadError, read_text};
pub use defect::{Defect, DefectSpec};
pub use mesh::{Grid, Mesh};
pub use sdf::Shape;

/// The built-in reference product's description, compiled in so it needs no file on disk.
pub const BUILTIN_CAP_TOML: &str = include_str!("../../assets/products/cap.toml");

/// Newest product-file version this build understands.
pub const PRODUCT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("product file {path} is not valid TOML for a product: {message}")]
    Parse { path: String, message: String },
    #[error("product file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// A product description as stored in `assets/products/*.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    pub version: u32,
    pub name: String,
    pub shape: ShapeSpec,
    pub notch: NotchSpec,
    pub parts: PartIds,
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

/// Stable ids of the product's parts. 0 is reserved for the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartIds {
    pub dome: u8,
    pub wall: u8,
    pub notch: u8,
    pub base: u8,
}

impl PartIds {
    /// (id, name) of every part, in id order.
    pub fn named(&self) -> Vec<(u8, &'static str)> {
        let mut v = vec![
            (self.dome, "dome"),
            (self.wall, "wall"),
            (self.notch, "notch"),
            (self.base, "base"),
        ];
        v.sort_unstable();
        v
    }

    pub fn name_of(&self, id: u8) -> Option<&'static str> {
        self.named()
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n)
    }
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
        let text = read_text(&path, FileKind::Product)?;
        Self::from_toml_str(&text, &path.display().to_string())
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
                "version {} is not supported (this build reads version {PRODUCT_VERSION})",
                self.version
            ));
        }
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        let positive = |v: f64, what: &str| -> Result<(), String> {
            if v.is_finite() && v > 0.0 && v < 100.0 {
                Ok(())
            } else {
                Err(format!(
                    "{what} must be a positive number below 100, got {v}"
                ))
            }
        };
        positive(self.shape.radius, "shape.radius")?;
        positive(self.shape.wall_height, "shape.wall_height")?;
        positive(self.notch.width, "notch.width")?;
        positive(self.notch.height, "notch.height")?;
        positive(self.notch.depth, "notch.depth")?;
        if self.notch.width >= 2.0 * self.shape.radius {
            return Err("notch.width must be smaller than the diameter".into());
        }
        if self.notch.height >= self.shape.wall_height {
            return Err("notch.height must be smaller than shape.wall_height".into());
        }
        if self.notch.depth >= self.shape.radius {
            return Err("notch.depth must be smaller than shape.radius".into());
        }
        let ids = [
            self.parts.dome,
            self.parts.wall,
            self.parts.notch,
            self.parts.base,
        ];
        for (i, a) in ids.iter().enumerate() {
            if *a == 0 {
                return Err("part ids must be 1..=255 (0 is the background)".into());
            }
            if ids[i + 1..].contains(a) {
                return Err(format!("part id {a} is used twice"));
            }
        }
        // The finest detail the mesh must keep: a cell coarser than half of it meshes the
        // product into nothing (or nothing like it).
        let finest = [
            self.shape.radius,
            self.shape.wall_height,
            self.notch.width,
            self.notch.height,
            self.notch.depth,
        ]
        .into_iter()
        .fold(f64::INFINITY, f64::min);
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
        // Automatic cells are never finer than `mesh::auto_cell`'s 0.01.
        let cell = if self.mesh.cell > 0.0 {
            self.mesh.cell
        } else {
            mesh::FINEST_AUTO_CELL
        };
        let points = Grid::points_for(&self.shape(), cell);
        if points.is_none_or(|p| p > mesh::MAX_GRID_POINTS) {
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
        Ok(())
    }

    pub fn shape(&self) -> Shape {
        Shape::from_spec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_cap_matches_the_reference_dimensions() {
        let p = ProductSpec::builtin_cap();
        assert_eq!(p.shape.radius, 1.0);
        assert_eq!(p.shape.wall_height, 1.0);
        assert_eq!(p.notch.width, 0.40);
        assert_eq!(p.notch.height, 0.70);
        assert_eq!(p.notch.depth, 0.30);
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
}
