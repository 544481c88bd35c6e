//! A dataset recipe (`assets/datasets/*.toml`): which product, how many samples of each class in
//! each split, at what size, under which randomisation, from which master seed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::{GOOD, Split};
use crate::fsio::{FileKind, ReadError, read_text};
use crate::product::ProductSpec;
use crate::render::{Lighting, Sensor};

pub const RECIPE_VERSION: u32 = 1;

/// The image sizes a recipe may ask for: those the models train on (each stage of their conv
/// stacks halves the side down to 4×4). A render at another size could never be used.
pub const IMAGE_SIZES: [u32; 4] = [32, 64, 128, 256];

/// Most samples one recipe may ask for, all splits together: its manifest stays well within
/// the size a manifest may be read at ([`FileKind::Manifest`]).
pub const MAX_SAMPLES: usize = 1_000_000;
/// Camera distances a recipe may have, fixed or randomised: from just outside the product
/// (radius about 2 about its centre) to far enough to be nearly orthographic.
pub const CAMERA_DISTANCE: [f64; 2] = [2.6, 100.0];

/// Most bytes of 8-bit pixels one split may hold: training keeps its split in memory (and
/// inspection its training renders, as 32-bit floats).
pub const MAX_SPLIT_BYTES: u64 = 2 << 30;

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("recipe {path} is not valid TOML for a recipe: {message}")]
    Parse { path: String, message: String },
    #[error("recipe {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("recipe {path}: {source}")]
    Product {
        path: String,
        source: crate::product::ProductError,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub version: u32,
    /// Dataset name: the MVTec category folder `OUT/<name>/`.
    pub name: String,
    /// `cap` for the built-in product, or a path to a product TOML (relative to the recipe).
    #[serde(default = "default_product")]
    pub product: String,
    /// Master seed; every sample's seed derives from it.
    pub seed: u64,
    #[serde(default)]
    pub image: ImageSpec,
    /// counts[split][class] = number of samples; split `train`, `validation` or `test` (see
    /// [`Split`]; kept as text, so the file and the manifest list them in name order), class
    /// `good` or a defect class of the product.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    #[serde(default)]
    pub camera: CameraSpec,
    #[serde(default)]
    pub pose: PoseSpec,
    #[serde(default)]
    pub lighting: Lighting,
    /// The camera's response curve, black level and blur (see [`Sensor`]); none by default.
    #[serde(default)]
    pub sensor: Sensor,
    #[serde(default)]
    pub randomize: Randomize,
    #[serde(default)]
    pub mask: MaskSpec,
}

fn default_product() -> String {
    "cap".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    #[default]
    Grey,
    Rgb,
}

impl Channels {
    /// Values per pixel.
    pub fn count(self) -> usize {
        match self {
            Self::Grey => 1,
            Self::Rgb => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageSpec {
    pub size: u32,
    pub channels: Channels,
    /// Supersampling factor per axis (1 = no anti-aliasing).
    pub supersample: u32,
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self {
            size: 64,
            channels: Channels::Grey,
            supersample: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraSpec {
    pub distance: f64,
    pub fov_y_deg: f64,
}

impl Default for CameraSpec {
    fn default() -> Self {
        Self {
            distance: 7.0,
            fov_y_deg: 30.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PoseMode {
    /// Rotation by `angle_deg` about a uniformly random axis.
    #[default]
    RandomAxis,
    /// Standing upright, turned about the vertical axis by `yaw_deg`.
    Upright,
    /// Turned by `yaw_deg`, then tipped by up to `tilt_deg` in a random direction.
    Tilt,
    /// Uniformly random over all rotations (every orientation equally likely; `random_axis`
    /// favours orientations near the upright one).
    Uniform,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoseSpec {
    pub mode: PoseMode,
    #[serde(default = "full_turn")]
    pub angle_deg: [f64; 2],
    #[serde(default = "full_turn")]
    pub yaw_deg: [f64; 2],
    #[serde(default)]
    pub tilt_deg: f64,
}

fn full_turn() -> [f64; 2] {
    [0.0, 360.0]
}

impl Default for PoseSpec {
    fn default() -> Self {
        Self {
            mode: PoseMode::RandomAxis,
            angle_deg: full_turn(),
            yaw_deg: full_turn(),
            tilt_deg: 0.0,
        }
    }
}

/// Per-sample variation on top of the nominal camera and lighting. Absent ranges mean "fixed".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Randomize {
    /// The light direction is turned by up to this angle in a random direction.
    #[serde(default)]
    pub light_jitter_deg: f64,
    pub intensity: Option<[f64; 2]>,
    pub ambient: Option<[f64; 2]>,
    pub camera_distance: Option<[f64; 2]>,
    /// Standard deviation of additive Gaussian noise, in grey levels (0–255).
    pub noise_sigma: Option<[f64; 2]>,
    /// Standard deviation of a Gaussian blur, in pixels.
    pub blur_sigma: Option<[f64; 2]>,
    /// The camera's gamma, drawn per sample (replaces `sensor.gamma`).
    #[serde(default)]
    pub gamma: Option<[f64; 2]>,
    /// The black level (grey level in [0, 1]), drawn per sample (replaces
    /// `sensor.black_level`).
    #[serde(default)]
    pub black_level: Option<[f64; 2]>,
    /// Where the picture sits: a shift in pixels drawn per sample from this range, across and
    /// down alike (a line whose camera or fixture does not centre every part).
    #[serde(default)]
    pub offset_px: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskSpec {
    /// Depth difference (world units) above which a pixel counts as changed by the defect.
    pub depth_tolerance: f64,
    /// A defect covering less than this fraction of the image counts as not visible; the pose
    /// is then drawn again.
    pub min_visible_fraction: f64,
    /// How many poses to try before giving up on a sample.
    pub max_attempts: u32,
}

impl Default for MaskSpec {
    fn default() -> Self {
        Self {
            depth_tolerance: 0.01,
            min_visible_fraction: 0.001,
            max_attempts: 64,
        }
    }
}

/// The default dataset of the built-in cap (`assets/datasets/cap-default.toml`).
pub const CAP_DEFAULT_RECIPE: &str = include_str!("../../assets/datasets/cap-default.toml");
/// Its held-out evaluation set (`assets/datasets/cap-eval.toml`).
pub const CAP_EVAL_RECIPE: &str = include_str!("../../assets/datasets/cap-eval.toml");

impl Recipe {
    pub fn load(path: &Path) -> Result<(Self, ProductSpec), RecipeError> {
        let origin = path.display().to_string();
        let text = read_text(path, FileKind::Recipe)?;
        let recipe = Self::from_toml_str(&text, &origin)?;
        let product = ProductSpec::load(&recipe.product, path.parent()).map_err(|source| {
            RecipeError::Product {
                path: origin.clone(),
                source,
            }
        })?;
        recipe
            .validate_against(&product)
            .map_err(|message| RecipeError::Invalid {
                path: origin,
                message,
            })?;
        Ok((recipe, product))
    }

    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, RecipeError> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| RecipeError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        recipe.validate().map_err(|message| RecipeError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(recipe)
    }

    /// Checks that do not need the product.
    pub fn validate(&self) -> Result<(), String> {
        if self.version == 0 || self.version > RECIPE_VERSION {
            return Err(format!(
                "version {} is not supported (this build reads version {RECIPE_VERSION})",
                self.version
            ));
        }
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "name {:?} must be letters, digits, '_' or '-' (it becomes a folder name)",
                self.name
            ));
        }
        if !IMAGE_SIZES.contains(&self.image.size) {
            return Err(format!(
                "image.size must be one of {IMAGE_SIZES:?} pixels (the sizes the models train \
                 on), got {}",
                self.image.size
            ));
        }
        if !(1..=4).contains(&self.image.supersample) {
            return Err(format!(
                "image.supersample must be 1 to 4, got {}",
                self.image.supersample
            ));
        }
        let [near, far] = CAMERA_DISTANCE;
        if !(self.camera.distance.is_finite()
            && self.camera.distance >= near
            && self.camera.distance <= far)
        {
            return Err(format!(
                "camera.distance must be {near} (just outside the product) to {far}, got {}",
                self.camera.distance
            ));
        }
        if !(self.camera.fov_y_deg > 1.0 && self.camera.fov_y_deg < 120.0) {
            return Err("camera.fov_y_deg must be between 1 and 120".into());
        }
        for split in self.counts.keys() {
            if split.parse::<Split>().is_err() {
                return Err(format!(
                    "counts.{split}: unknown split (use train, validation, test)"
                ));
            }
        }
        if let Some(train) = self.counts.get(Split::Train.as_str())
            && let Some(class) = train.keys().find(|c| *c != GOOD)
        {
            return Err(format!(
                "counts.train.{class}: the training split holds good samples only"
            ));
        }
        self.check_counts()?;
        let range = |r: Option<[f64; 2]>, what: &str, lo: f64, hi: f64| -> Result<(), String> {
            match r {
                Some([a, b])
                    if !(a.is_finite() && b.is_finite() && a <= b && a >= lo && b <= hi) =>
                {
                    Err(format!(
                        "randomize.{what} must be an ordered range within [{lo}, {hi}], got [{a}, {b}]"
                    ))
                }
                _ => Ok(()),
            }
        };
        range(self.randomize.intensity, "intensity", 0.0, 10.0)?;
        range(self.randomize.ambient, "ambient", 0.0, 1.0)?;
        range(self.randomize.camera_distance, "camera_distance", near, far)?;
        range(self.randomize.noise_sigma, "noise_sigma", 0.0, 128.0)?;
        range(self.randomize.blur_sigma, "blur_sigma", 0.0, 16.0)?;
        range(self.randomize.gamma, "gamma", 0.2, 5.0)?;
        range(self.randomize.black_level, "black_level", 0.0, 0.5)?;
        range(self.randomize.offset_px, "offset_px", -16.0, 16.0)?;
        self.sensor.validate().map_err(|m| format!("sensor: {m}"))?;
        if !(0.0..=180.0).contains(&self.randomize.light_jitter_deg) {
            return Err("randomize.light_jitter_deg must be 0 to 180".into());
        }
        let l = &self.lighting;
        let within = |v: f32, lo: f32, hi: f32| v.is_finite() && (lo..=hi).contains(&v);
        if !(l.direction.iter().all(|v| within(*v, -1e3, 1e3))
            && l.direction.iter().any(|v| *v != 0.0)
            && within(l.intensity, 0.0, 10.0)
            && within(l.ambient, 0.0, 1.0)
            && within(l.albedo, 0.0, 1.0)
            && within(l.specular, 0.0, 10.0)
            && within(l.shininess, 1.0, 1e4)
            && l.part_ambient.iter().all(|v| within(*v, -1.0, 1.0))
            && within(l.shadow, 0.0, 1.0))
        {
            return Err(
                "lighting: direction must be a non-zero vector (each component within ±1000), \
                 intensity 0 to 10, ambient and albedo 0 to 1, specular 0 to 10, \
                 shininess 1 to 10000, each part_ambient within ±1 and shadow 0 to 1"
                    .into(),
            );
        }
        let turn = |[a, b]: [f64; 2]| a.is_finite() && b.is_finite() && a <= b && a >= -3600.0;
        let turn = |r: [f64; 2]| turn(r) && r[1] <= 3600.0;
        if !(turn(self.pose.angle_deg)
            && turn(self.pose.yaw_deg)
            && (0.0..=180.0).contains(&self.pose.tilt_deg))
        {
            return Err(
                "pose: angle_deg and yaw_deg must be ordered ranges within ±3600 degrees and \
                 tilt_deg 0 to 180"
                    .into(),
            );
        }
        let m = &self.mask;
        if !(m.depth_tolerance.is_finite()
            && m.depth_tolerance > 0.0
            && m.depth_tolerance <= 10.0
            && (0.0..1.0).contains(&m.min_visible_fraction)
            && (1..=10_000).contains(&m.max_attempts))
        {
            return Err("mask: depth_tolerance must be in (0, 10], min_visible_fraction in [0, 1), max_attempts 1 to 10000".into());
        }
        Ok(())
    }

    /// The sample counts: at most [`MAX_SAMPLES`] in all (added without overflow, whatever
    /// the file says) and at most [`MAX_SPLIT_BYTES`] of pixels per split.
    fn check_counts(&self) -> Result<(), String> {
        let mut total = 0usize;
        for (split, classes) in &self.counts {
            let mut in_split = 0usize;
            for (class, &n) in classes {
                in_split = in_split
                    .checked_add(n)
                    .filter(|&t| t <= MAX_SAMPLES)
                    .ok_or_else(|| {
                        format!(
                            "counts.{split}.{class}: {n} samples is more than the {MAX_SAMPLES} \
                             a recipe may ask for"
                        )
                    })?;
            }
            total = total
                .checked_add(in_split)
                .filter(|&t| t <= MAX_SAMPLES)
                .ok_or_else(|| {
                    format!("counts: more than the {MAX_SAMPLES} samples a recipe may ask for")
                })?;
            let per_image = u64::from(self.image.size).pow(2) * self.image.channels.count() as u64;
            let bytes = (in_split as u64).saturating_mul(per_image);
            if bytes > MAX_SPLIT_BYTES {
                return Err(format!(
                    "counts.{split}: {in_split} images of {size}x{size} with {c} channel(s) are \
                     {gib:.1} GiB of pixels, more than the {max} GiB a split may hold (training \
                     and inspection keep a split in memory)",
                    size = self.image.size,
                    c = self.image.channels.count(),
                    gib = bytes as f64 / f64::from(1u32 << 30),
                    max = MAX_SPLIT_BYTES >> 30,
                ));
            }
        }
        if total == 0 {
            return Err("counts: the recipe asks for no samples".into());
        }
        Ok(())
    }

    /// Checks that the classes asked for exist on the product.
    pub fn validate_against(&self, product: &ProductSpec) -> Result<(), String> {
        for (split, classes) in &self.counts {
            for class in classes.keys() {
                if class != GOOD && !product.defects.contains_key(class) {
                    let known: Vec<_> = product.defects.keys().cloned().collect();
                    return Err(format!(
                        "counts.{split}.{class}: product {:?} has no defect class {class:?} (it has {})",
                        product.name,
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every (split, class, count) in generation order.
    pub fn groups(&self) -> Vec<(Split, String, usize)> {
        let mut out = Vec::new();
        for split in Split::ALL {
            if let Some(classes) = self.counts.get(split.as_str()) {
                for (class, n) in classes {
                    if *n > 0 {
                        out.push((split, class.clone(), *n));
                    }
                }
            }
        }
        out
    }
}
