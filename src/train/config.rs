//! Training settings: a TOML file (`--config FILE`) with serde defaults for every field, written
//! beside every run and checkpoint so a result can be redone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsio::{FileKind, ReadError, read_text};
use crate::model::{ModelConfig, ModelKind, SomConfig};

/// Current layout of [`TrainConfig`]; bump when a field changes meaning. Versions only go up,
/// and a file of any version ever written loads with the meaning it was written with:
/// - 1: `lr_schedule` left out means the constant rate (the only one before it existed);
/// - 2 (written from 2026-11-30 by commits 8d29823 to 51b512e): left out means cosine, then
///   the default;
/// - 3: left out means constant again (the default since 51b512e, which wrote version 1 anew).
///
/// A file without a version is read as the current one.
pub const TRAIN_CONFIG_VERSION: u32 = 3;

/// Most images per step: a batch's images, activations and gradients must fit in memory.
pub const MAX_BATCH_SIZE: usize = 4096;
/// Bounds of the model's shape (the model itself bounds its parameter count, see
/// [`ModelConfig::validate`]).
pub const MAX_LATENT_DIM: usize = crate::model::config::MAX_LATENT_DIM;
pub const MAX_WIDTH: usize = crate::model::config::MAX_WIDTH;
pub const MAX_WIDTH_MULT: usize = crate::model::config::MAX_WIDTH_MULT;
/// Most optimisation steps (and most steps between checkpoints or sample grids).
pub const MAX_STEPS: u64 = 100_000_000;
/// Most passes over the training images.
pub const MAX_EPOCHS: u64 = 1_000_000;

/// How to train. Image size and channels are not here: they come from the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub version: u32,
    pub model: ModelKind,
    /// Length of the latent code z.
    pub latent_dim: usize,
    /// Channels of the first conv stage (doubling per stage up to `width · max_width_mult`).
    pub width: usize,
    pub max_width_mult: usize,
    pub batch_size: usize,
    /// Total optimisation steps (one batch each). Ignored when `epochs` is set.
    pub steps: u64,
    /// Train for this many passes over the training images instead of `steps`.
    pub epochs: Option<u64>,
    /// Master seed: weights, batch order and latent samples all derive from it.
    pub seed: u64,
    /// Adam learning rate of E + G.
    pub lr_autoencoder: f64,
    /// Adam learning rate of D.
    pub lr_discriminator: f64,
    /// How both learning rates change over the run's steps.
    pub lr_schedule: LrSchedule,
    /// With the cosine schedule, the learning rates' last value as a fraction of the first.
    pub lr_final_fraction: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    /// Weight of the edge term: MSE between the horizontal and vertical pixel differences of
    /// x and G(E(x)). Pixel MSE weighs a thin feature by its few pixels; the edge term weighs
    /// it by its outline, which is what makes a notch visible.
    pub edge_weight: f64,
    /// Weight of the feature-matching term MSE(f(x), f(G(E(x)))) (f-AnoGAN's κ).
    pub kappa: f64,
    /// Weight of the non-saturating adversarial term on E + G.
    pub adversarial_weight: f64,
    /// Weight of mean(z²), which keeps E's codes where G's N(0, I) samples live.
    pub latent_weight: f64,
    /// Write a checkpoint every this many steps (and always at the end).
    pub checkpoint_every: u64,
    /// Emit a reconstruction grid every this many steps.
    pub sample_every: u64,
    /// Images in each reconstruction grid.
    pub sample_count: usize,
    /// A loss above this (or NaN/Inf) stops training as diverged.
    pub divergence_limit: f64,
    /// The AE + SOM baseline's map.
    pub som: SomConfig,
    /// Testing aid: poison the batch of this step with NaN to exercise the divergence guard.
    pub debug_nan_at_step: Option<u64>,
    /// Start E and G from a trained run (its latest checkpoint) or a checkpoint folder instead
    /// of random weights, with fresh optimiser state: a GAN then fine-tunes a trained
    /// autoencoder. Latent size and widths must match. Only a fresh run reads it.
    pub init_from: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            version: TRAIN_CONFIG_VERSION,
            model: ModelKind::Gan,
            latent_dim: 128,
            width: 32,
            max_width_mult: 4,
            batch_size: 16,
            steps: 2000,
            epochs: None,
            seed: 0,
            lr_autoencoder: 5e-4,
            lr_discriminator: 2e-4,
            lr_schedule: LrSchedule::Constant,
            lr_final_fraction: 0.02,
            adam_beta1: 0.5,
            adam_beta2: 0.999,
            kappa: 1.0,
            edge_weight: 0.0,
            adversarial_weight: 0.01,
            latent_weight: 1e-3,
            checkpoint_every: 500,
            sample_every: 100,
            sample_count: 8,
            divergence_limit: 1e4,
            som: SomConfig::default(),
            debug_nan_at_step: None,
            init_from: None,
        }
    }
}

/// How the learning rates move from the first step to the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The configured rates throughout: the default, with which the demo's GAN stays ahead of
    /// the baseline (see the README's training section).
    #[default]
    Constant,
    /// Half a cosine from the configured rates down to `lr_final_fraction` of them at the
    /// last step: large steps early to find the poses, small ones late to settle thin
    /// features such as the notch, which a constant rate keeps jittering.
    Cosine,
}

/// Why training settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("training config {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("training config: {0}")]
    Invalid(String),
}

impl TrainConfig {
    /// Reads a TOML file; missing fields take their defaults (those of the file's version),
    /// unknown fields are an error. A file of an earlier version comes back as the current
    /// version with the same meaning.
    pub fn load_toml(path: &Path) -> Result<Self, ConfigError> {
        let text = read_text(path, FileKind::TrainConfig)?;
        let invalid = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let config = Self::from_toml_str(&text).map_err(invalid)?;
        config.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(config)
    }

    /// Parses the text of a settings file of any version into the current version.
    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        if !table.contains_key("lr_schedule") {
            config.lr_schedule = match config.version {
                1 | 3 => LrSchedule::Constant,
                2 => LrSchedule::Cosine,
                other => {
                    return Err(format!(
                        "version {other} is not supported (this program reads versions 1 to \
                         {TRAIN_CONFIG_VERSION})"
                    ));
                }
            };
        }
        if (1..=TRAIN_CONFIG_VERSION).contains(&config.version) {
            config.version = TRAIN_CONFIG_VERSION;
        }
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        // Serialising a plain struct of numbers, strings and options cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks every field: counts within the range the program can allocate for, rates and
    /// weights finite and in range (a NaN or an infinity fails).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let counts: [(&str, u64, u64); 11] = [
            ("batch_size", self.batch_size as u64, MAX_BATCH_SIZE as u64),
            ("latent_dim", self.latent_dim as u64, MAX_LATENT_DIM as u64),
            ("width", self.width as u64, MAX_WIDTH as u64),
            (
                "max_width_mult",
                self.max_width_mult as u64,
                MAX_WIDTH_MULT as u64,
            ),
            ("steps", self.steps, MAX_STEPS),
            ("checkpoint_every", self.checkpoint_every, MAX_STEPS),
            ("sample_every", self.sample_every, MAX_STEPS),
            ("sample_count", self.sample_count as u64, 64),
            ("som.rows", self.som.rows as u64, 256),
            ("som.cols", self.som.cols as u64, 256),
            ("som.epochs", self.som.epochs as u64, 10_000),
        ];
        for (name, value, most) in counts {
            if !(1..=most).contains(&value) {
                return invalid(format!("{name} must be 1 to {most}, got {value}"));
            }
        }
        if let Some(epochs) = self.epochs
            && !(1..=MAX_EPOCHS).contains(&epochs)
        {
            return invalid(format!("epochs must be 1 to {MAX_EPOCHS}, got {epochs}"));
        }
        let reals = [
            ("lr_autoencoder", self.lr_autoencoder, 0.0, 10.0),
            ("lr_discriminator", self.lr_discriminator, 0.0, 10.0),
            ("divergence_limit", self.divergence_limit, 0.0, 1e30),
        ];
        for (name, value, above, most) in reals {
            // Written so that NaN fails too.
            if !(value.is_finite() && value > above && value <= most) {
                return invalid(format!(
                    "{name} must be positive and at most {most}, got {value}"
                ));
            }
        }
        for (name, value) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&value) {
                return invalid(format!("{name} must be in [0, 1), got {value}"));
            }
        }
        for (name, value) in [
            ("edge_weight", self.edge_weight),
            ("kappa", self.kappa),
            ("adversarial_weight", self.adversarial_weight),
            ("latent_weight", self.latent_weight),
        ] {
            if !(value.is_finite() && (0.0..=1e6).contains(&value)) {
                return invalid(format!("{name} must be 0 to 1000000, got {value}"));
            }
        }
        if !(0.0..=1.0).contains(&self.lr_final_fraction) {
            return invalid(format!(
                "lr_final_fraction must be in [0, 1], got {}",
                self.lr_final_fraction
            ));
        }
        for (name, value) in [
            ("som.sigma_start", self.som.sigma_start),
            ("som.sigma_end", self.som.sigma_end),
        ] {
            if !(value.is_finite() && (0.0..=1e4).contains(&value)) {
                return invalid(format!("{name} must be 0 to 10000, got {value}"));
            }
        }
        if self.version != TRAIN_CONFIG_VERSION {
            return invalid(format!(
                "version {} is not supported (this program reads versions 1 to \
                 {TRAIN_CONFIG_VERSION})",
                self.version
            ));
        }
        Ok(())
    }

    /// The model shape for a dataset of `image_size`² images with `channels` channels.
    pub fn model_config(&self, image_size: usize, channels: usize) -> ModelConfig {
        ModelConfig::new(image_size, channels)
            .with_latent_dim(self.latent_dim)
            .with_width(self.width)
            .with_max_width_mult(self.max_width_mult)
    }

    /// The factor on both learning rates for the step after `done` of `total` steps.
    pub fn lr_factor(&self, done: u64, total: u64) -> f64 {
        match self.lr_schedule {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine => {
                let progress = if total <= 1 {
                    1.0
                } else {
                    (done.min(total - 1) as f64) / ((total - 1) as f64)
                };
                let f = self.lr_final_fraction;
                f + (1.0 - f) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }

    /// Total steps for a training set of `num_images` (saturating: `validate` bounds epochs,
    /// and the recipe bounds images, far below an overflow).
    pub fn total_steps(&self, num_images: usize) -> u64 {
        match self.epochs {
            Some(epochs) => epochs.saturating_mul((num_images / self.batch_size.max(1)) as u64),
            None => self.steps,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn toml_fills_defaults_and_rejects_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.toml");
        std::fs::write(&path, "steps = 7\nmodel = \"ae-som\"\n[som]\nrows = 3\n").unwrap();
        let config = TrainConfig::load_toml(&path).unwrap();
        assert_eq!(config.steps, 7);
        assert_eq!(config.model, ModelKind::AeSom);
        assert_eq!(config.som.rows, 3);
        assert_eq!(config.som.cols, 12);
        assert_eq!(config.batch_size, TrainConfig::default().batch_size);

        std::fs::write(&path, "stepz = 7\n").unwrap();
        let err = TrainConfig::load_toml(&path).unwrap_err().to_string();
        assert!(err.contains("train.toml") && err.contains("stepz"), "{err}");
    }

    #[test]
    fn cosine_schedule_runs_from_the_rate_to_its_final_fraction() {
        let constant = TrainConfig {
            lr_schedule: LrSchedule::Constant,
            ..TrainConfig::default()
        };
        assert_eq!(constant.lr_factor(0, 100), 1.0);
        assert_eq!(constant.lr_factor(99, 100), 1.0);
        let cosine = TrainConfig {
            lr_schedule: LrSchedule::Cosine,
            lr_final_fraction: 0.1,
            ..TrainConfig::default()
        };
        assert!((cosine.lr_factor(0, 101) - 1.0).abs() < 1e-12);
        assert!((cosine.lr_factor(50, 101) - 0.55).abs() < 1e-12);
        assert!((cosine.lr_factor(100, 101) - 0.1).abs() < 1e-12);
        assert!((cosine.lr_factor(500, 101) - 0.1).abs() < 1e-12);
        let factors: Vec<f64> = (0..101).map(|s| cosine.lr_factor(s, 101)).collect();
        assert!(factors.windows(2).all(|w| w[1] < w[0]), "{factors:?}");
        let bad = TrainConfig {
            lr_final_fraction: 1.5,
            ..cosine
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("lr_final_fraction")
        );
    }

    /// `train_config.toml` of the demo's GAN run as the program wrote it while the settings
    /// were version 2 (commit 8d29823: toml 0.9, the cosine schedule the default).
    const WRITTEN_AS_VERSION_2: &str = r#"version = 2
model = "gan"
latent_dim = 128
width = 16
max_width_mult = 4
batch_size = 16
steps = 400
seed = 0
lr_autoencoder = 0.0005
lr_discriminator = 0.0002
lr_schedule = "cosine"
lr_final_fraction = 0.02
adam_beta1 = 0.5
adam_beta2 = 0.999
edge_weight = 0.0
kappa = 1.0
adversarial_weight = 0.01
latent_weight = 0.001
checkpoint_every = 500
sample_every = 100
sample_count = 8
divergence_limit = 10000.0
init_from = "unseen-demo/runs/ae-som"

[som]
rows = 12
cols = 12
epochs = 30
sigma_start = 0.0
sigma_end = 0.5
"#;

    fn load(text: &str) -> Result<TrainConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train_config.toml");
        std::fs::write(&path, text).unwrap();
        TrainConfig::load_toml(&path)
    }

    #[test]
    fn a_version_2_file_loads_with_its_meaning() {
        let config = load(WRITTEN_AS_VERSION_2).unwrap();
        let expected = TrainConfig {
            version: TRAIN_CONFIG_VERSION,
            width: 16,
            steps: 400,
            lr_schedule: LrSchedule::Cosine,
            init_from: Some(PathBuf::from("unseen-demo/runs/ae-som")),
            ..TrainConfig::default()
        };
        assert_eq!(config, expected);
        // Written by hand without a schedule, version 2 meant its default: cosine.
        let bare = load("version = 2\nsteps = 7\n").unwrap();
        assert_eq!((bare.lr_schedule, bare.steps), (LrSchedule::Cosine, 7));
        assert_eq!(bare.version, TRAIN_CONFIG_VERSION);
        // Written back, it says so explicitly and loads the same.
        assert_eq!(load(&bare.to_toml()).unwrap(), bare);
    }

    #[test]
    fn a_version_1_file_keeps_its_constant_rate() {
        let old = load("version = 1\nsteps = 7\nedge_weight = 0.5\n").unwrap();
        assert_eq!(old.lr_schedule, LrSchedule::Constant);
        assert_eq!((old.steps, old.edge_weight), (7, 0.5));
        assert_eq!(old.version, TRAIN_CONFIG_VERSION);
        let named = load("version = 1\nlr_schedule = \"cosine\"\n").unwrap();
        assert_eq!(named.lr_schedule, LrSchedule::Cosine);
        // Without a version: today's meaning.
        assert_eq!(
            load("steps = 7\n").unwrap().lr_schedule,
            LrSchedule::Constant
        );
        let current = format!("version = {TRAIN_CONFIG_VERSION}\n");
        assert_eq!(load(&current).unwrap(), TrainConfig::default());
    }

    #[test]
    fn versions_this_program_does_not_know_are_refused() {
        for version in [0, TRAIN_CONFIG_VERSION + 1] {
            for text in [
                format!("version = {version}\n"),
                format!("version = {version}\nlr_schedule = \"constant\"\n"),
            ] {
                let err = load(&text).unwrap_err().to_string();
                assert!(
                    err.contains(&format!("version {version}")) && err.contains("train_config"),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn every_number_is_checked_finite_and_in_range() {
        for (text, field) in [
            ("steps = 0\n", "steps"),
            ("batch_size = 0\n", "batch_size"),
            ("batch_size = 1000000\n", "batch_size"),
            ("latent_dim = 1000000000\n", "latent_dim"),
            ("width = 100000\n", "width"),
            ("lr_autoencoder = inf\n", "lr_autoencoder"),
            ("lr_discriminator = nan\n", "lr_discriminator"),
            ("kappa = nan\n", "kappa"),
            ("adversarial_weight = -1.0\n", "adversarial_weight"),
            ("latent_weight = inf\n", "latent_weight"),
            ("divergence_limit = inf\n", "divergence_limit"),
            ("epochs = 0\n", "epochs"),
            ("epochs = 9223372036854775807\n", "epochs"),
            ("[som]\nrows = 100000\n", "som.rows"),
            ("[som]\nsigma_end = nan\n", "som.sigma_end"),
        ] {
            let err = load(text).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("train_config.toml"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let config = TrainConfig {
            debug_nan_at_step: Some(3),
            epochs: Some(2),
            lr_schedule: LrSchedule::Cosine,
            edge_weight: 0.5,
            ..TrainConfig::default()
        };
        let back: TrainConfig = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(back, config);
    }
}
