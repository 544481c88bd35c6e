//! `manifest.json`: the recipe, the product and every sample's parameters, so that any sample
//! can be regenerated bit-exactly and any result traced back to what made it. Where the files
//! are is [`super::layout`]'s business; the manifest records each sample's paths.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::{self, SamplePaths, Split};
use super::recipe::{Channels, Recipe};
use super::sample::{SampleId, ViewParams};
use crate::product::import::ImportRecord;
use crate::product::{Defect, ProductSpec};

pub const MANIFEST_FORMAT: &str = "unseen-dataset";
pub const MANIFEST_VERSION: u32 = 1;
/// Depth maps store depth / DEPTH_SCALE as 16-bit integers.
pub const DEPTH_SCALE: f64 = 0.001;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub name: String,
    pub image: ImageInfo,
    pub recipe: Recipe,
    pub product: ProductSpec,
    /// Edge length of the meshing grid used.
    pub mesh_cell: f64,
    /// World units per step of the 16-bit depth maps.
    pub depth_scale: f64,
    pub parts: BTreeMap<u8, String>,
    /// How an imported product's mesh was read and placed (absent for the cap family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportRecord>,
    pub samples: Vec<SampleRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub size: u32,
    pub channels: Channels,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    #[serde(flatten)]
    pub id: SampleId,
    /// Poses drawn until the defect was visible (1 for good samples).
    pub attempts: u32,
    pub view: ViewParams,
    pub defect: Option<Defect>,
    /// Pixels in the defect mask.
    pub visible_defect_px: usize,
    /// The part of the good product the defect affects.
    pub defect_part: Option<String>,
    /// Files, relative to the dataset folder.
    pub image: String,
    pub mask: Option<String>,
    pub part_map: String,
    pub depth: String,
}

impl SampleRecord {
    /// The sample's files as recorded.
    pub fn paths(&self) -> SamplePaths {
        SamplePaths {
            image: self.image.clone(),
            mask: self.mask.clone(),
            part_map: self.part_map.clone(),
            depth: self.depth.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("manifest {path} is not a valid unseen dataset manifest: {message}")]
    Parse { path: String, message: String },
}

impl Manifest {
    /// Reads and checks a `manifest.json`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&bytes, path)
    }

    /// The manifest of the dataset in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, ManifestError> {
        Self::load(&layout::manifest_path(dir))
    }

    /// Parses and checks the bytes of a manifest read from `path` (named in errors).
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self, ManifestError> {
        let origin = path.display().to_string();
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Parse {
                path: origin.clone(),
                message: e.to_string(),
            })?;
        if manifest.format != MANIFEST_FORMAT || manifest.version != MANIFEST_VERSION {
            return Err(ManifestError::Parse {
                path: origin,
                message: format!(
                    "format {:?} version {} (expected {MANIFEST_FORMAT:?} version {MANIFEST_VERSION})",
                    manifest.format, manifest.version
                ),
            });
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).expect("manifest serialises");
        bytes.push(b'\n');
        bytes
    }

    /// The samples of `split`, in generation order.
    pub fn samples_of(&self, split: Split) -> impl Iterator<Item = &SampleRecord> + '_ {
        self.samples.iter().filter(move |s| s.id.split == split)
    }
}
