//! `manifest.json`: the recipe, the product and every sample's parameters, so that any sample
//! can be regenerated bit-exactly and any result traced back to what made it. Where the files
//! are is [`super::layout`]'s business; the manifest records each sample's paths.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::{self, SamplePaths, Split};
use super::recipe::{Channels, Recipe};
use super::sample::{SampleId, ViewParams};
use crate::fsio::{FileKind, ReadError, read_bounded};
use crate::product::import::ImportRecord;
use crate::product::{Defect, ProductSpec};

pub const MANIFEST_FORMAT: &str = "unseen-dataset";
/// Version 2 records the SHA-256 of every file ([`SampleRecord::sha256`]), so a dataset whose
/// files were changed, removed or added to is refused. Version 1 manifests still load, but
/// their files cannot be checked, and reading a sample of one is refused
/// ([`super::check::Dataset::open`]).
pub const MANIFEST_VERSION: u32 = 2;
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
    /// Every part the defect changes a fair share of, `defect_part` first
    /// ([`crate::product::Defect::parts_touched`]): a defect on an edge touches two. Absent
    /// in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defect_parts: Vec<String>,
    /// Files, relative to the dataset folder.
    pub image: String,
    pub mask: Option<String>,
    pub part_map: String,
    pub depth: String,
    /// The SHA-256 of each file, as written (absent in version-1 manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<SampleHashes>,
}

/// The hex SHA-256 of each file of a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleHashes {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    pub part_map: String,
    pub depth: String,
}

impl SampleHashes {
    /// Each (relative path, hash) of `record`'s files, as [`SamplePaths::files`] lists them;
    /// `None` when a file has no hash.
    fn of<'a>(&'a self, record: &'a SampleRecord) -> Option<Vec<(&'a str, &'a str)>> {
        let mut out = vec![(record.image.as_str(), self.image.as_str())];
        match (&record.mask, &self.mask) {
            (Some(path), Some(hash)) => out.push((path, hash)),
            (None, None) => {}
            _ => return None,
        }
        out.push((&record.part_map, &self.part_map));
        out.push((&record.depth, &self.depth));
        Some(out)
    }
}

impl SampleRecord {
    /// The parts a region may be named after and be right: [`Self::defect_parts`], or
    /// `defect_part` alone where the manifest predates them. Empty for a good sample.
    pub fn parts_named_right(&self) -> Vec<String> {
        if self.defect_parts.is_empty() {
            self.defect_part.iter().cloned().collect()
        } else {
            self.defect_parts.clone()
        }
    }

    /// Each (relative path, recorded SHA-256) of the sample's files; `None` for a record
    /// without hashes (a version-1 manifest).
    pub fn files_with_hashes(&self) -> Option<Vec<(&str, &str)>> {
        self.sha256.as_ref()?.of(self)
    }

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
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("manifest {path} is not a valid unseen dataset manifest: {message}")]
    Parse { path: String, message: String },
}

impl Manifest {
    /// Reads and checks a `manifest.json`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let bytes = read_bounded(path, FileKind::Manifest)?;
        Self::from_json(&bytes, path)
    }

    /// The manifest of the dataset in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, ManifestError> {
        Self::load(&layout::manifest_path(dir))
    }

    /// Parses and checks the bytes of a manifest read from `path` (named in errors).
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self, ManifestError> {
        let origin = path.display().to_string();
        let invalid = |message: String| ManifestError::Parse {
            path: origin.clone(),
            message,
        };
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if manifest.format != MANIFEST_FORMAT || !(1..=MANIFEST_VERSION).contains(&manifest.version)
        {
            return Err(invalid(format!(
                "format {:?} version {} (expected {MANIFEST_FORMAT:?} version 1 to {MANIFEST_VERSION})",
                manifest.format, manifest.version
            )));
        }
        manifest.validate().map_err(invalid)?;
        Ok(manifest)
    }

    /// Checks that the manifest describes what its recipe renders: a valid recipe and product,
    /// every sample of the recipe's plan once and in order, each at the paths the layout gives
    /// it (so no path leads outside the dataset), with finite parameters and, from version 2,
    /// a well-formed hash for each file.
    pub fn validate(&self) -> Result<(), String> {
        self.recipe.validate().map_err(|m| format!("recipe: {m}"))?;
        self.product
            .validate()
            .map_err(|m| format!("product: {m}"))?;
        self.recipe.validate_against(&self.product)?;
        if self.name != self.recipe.name {
            return Err(format!(
                "name {:?} differs from the recipe's {:?}",
                self.name, self.recipe.name
            ));
        }
        if (self.image.size, self.image.channels)
            != (self.recipe.image.size, self.recipe.image.channels)
        {
            return Err("image size or channels differ from the recipe's".into());
        }
        // Counted before the plan is built: a manifest cannot make this allocate more than
        // its own samples (and the recipe's bound).
        let planned: usize = self.recipe.groups().iter().map(|g| g.2).sum();
        if planned != self.samples.len() {
            return Err(format!(
                "{} samples listed, the recipe makes {planned}",
                self.samples.len()
            ));
        }
        let plan = SampleId::plan(&self.recipe);
        for (n, (sample, id)) in self.samples.iter().zip(&plan).enumerate() {
            let at = || format!("samples[{n}] ({}/{}/{})", id.split, id.class, id.index);
            if &sample.id != id {
                return Err(format!("{}: not the sample the recipe makes there", at()));
            }
            if sample.paths() != SamplePaths::of(&self.name, id) {
                return Err(format!(
                    "{}: its files are not where the layout puts them",
                    at()
                ));
            }
            let v = &sample.view;
            let finite = v.axis.iter().all(|a| a.is_finite())
                && [v.angle_deg, v.camera_distance, v.noise_sigma, v.blur_sigma]
                    .iter()
                    .all(|x| x.is_finite());
            if !finite {
                return Err(format!("{}: a view parameter is not a finite number", at()));
            }
            if self.version >= 2 {
                let hashes = sample
                    .files_with_hashes()
                    .ok_or_else(|| format!("{}: the SHA-256 of a file is missing", at()))?;
                for (file, hash) in hashes {
                    let hex = hash.len() == 64
                        && hash
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                    if !hex {
                        return Err(format!("{}: {file} has no valid SHA-256", at()));
                    }
                }
            }
        }
        Ok(())
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
