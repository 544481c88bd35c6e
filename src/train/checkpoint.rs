//! Checkpoints: `RUN_DIR/checkpoints/step-NNNNNN/` holding the network records (burnpack),
//! the optimiser states, `config.json` (the [`ModelConfig`]), `train_config.toml` and
//! `meta.json` (step, dataset manifest hash, seed, model kind, SHA-256 of every file).
//! `RUN_DIR/latest.json` names the newest. Both are written to a temporary name first and
//! renamed, so a crash never leaves a half-written checkpoint under a real name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::optim::Adam;
use super::steps::{Models, autoencoder_adam, discriminator_adam};
use crate::fsio::{FileKind, ReadError, read_bounded, sha256_hex};
use crate::model::{ModelConfig, ModelKind, SelfOrganisingMap};

/// Layout version of a checkpoint directory.
pub const CHECKPOINT_FORMAT: u32 = 1;

pub const META: &str = "meta.json";
pub const MODEL_CONFIG: &str = "config.json";
/// The training settings, in each checkpoint and in the run directory.
pub const TRAIN_CONFIG: &str = "train_config.toml";
const AUTOENCODER: &str = "autoencoder.bpk";
const DISCRIMINATOR: &str = "discriminator.bpk";
const OPT_AUTOENCODER: &str = "optim_autoencoder.bin";
const OPT_DISCRIMINATOR: &str = "optim_discriminator.bin";
const SOM: &str = "som.json";
const LATEST: &str = "latest.json";

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format: u32,
    /// Optimisation steps completed.
    pub step: u64,
    pub dataset_manifest_sha256: String,
    pub seed: u64,
    pub model_kind: ModelKind,
    pub image_size: usize,
    pub channels: usize,
    /// SHA-256 of every other file in the directory, by file name.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Latest {
    checkpoint: String,
    step: u64,
}

/// Why a checkpoint cannot be written or used. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("no checkpoint in this run: {path} does not exist")]
    NoLatest { path: PathBuf },
    #[error(transparent)]
    Optimiser(#[from] super::optim::OptimStateError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

fn invalid(path: &Path, problem: impl Into<String>) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the data and settings of a run require of a checkpoint it resumes from.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub dataset_manifest_sha256: String,
    pub image_size: usize,
    pub channels: usize,
    pub model_kind: ModelKind,
}

/// A checkpoint read back.
#[derive(Debug, Clone)]
pub struct LoadedCheckpoint {
    pub dir: PathBuf,
    /// The SHA-256 of its `meta.json`, which lists the hash of every other file: what a
    /// calibration is bound to.
    pub sha256: String,
    pub meta: CheckpointMeta,
    pub model_config: ModelConfig,
    pub train_config: TrainConfig,
    pub models: Models,
    pub som: Option<SelfOrganisingMap>,
}

/// Directory of the checkpoint after `step` steps.
pub fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join("checkpoints").join(format!("step-{step:06}"))
}

/// Writes a checkpoint and points `latest.json` at it; returns its directory.
pub fn write_checkpoint(
    run_dir: &Path,
    meta_base: &CheckpointMeta,
    model_config: &ModelConfig,
    train_config: &TrainConfig,
    models: &Models,
    som: Option<&SelfOrganisingMap>,
) -> Result<PathBuf, CheckpointError> {
    let final_dir = checkpoint_dir(run_dir, meta_base.step);
    let parent = run_dir.join("checkpoints");
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let tmp = parent.join(format!(
        ".tmp-step-{:06}-{}",
        meta_base.step,
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;

    let save_record = |record: ModuleRecord, name: &str| {
        let path = tmp.join(name);
        record
            .save(&path)
            .map_err(|e| invalid(&path, format!("cannot save record: {e}")))
    };
    // `valid()` folds pending running-statistics updates into the saved values.
    save_record(models.autoencoder.valid().into_record(), AUTOENCODER)?;
    if let Some(discriminator) = &models.discriminator {
        save_record(discriminator.valid().into_record(), DISCRIMINATOR)?;
    }
    let save_optim = |adam: &Adam, name: &str| adam.save(&tmp.join(name));
    save_optim(&models.opt_autoencoder, OPT_AUTOENCODER)?;
    if let Some(adam) = &models.opt_discriminator {
        save_optim(adam, OPT_DISCRIMINATOR)?;
    }
    let config_path = tmp.join(MODEL_CONFIG);
    model_config.save(&config_path).map_err(io(&config_path))?;
    let train_path = tmp.join(TRAIN_CONFIG);
    std::fs::write(&train_path, train_config.to_toml()).map_err(io(&train_path))?;
    if let Some(som) = som {
        let path = tmp.join(SOM);
        let json = serde_json::to_vec(som).map_err(|e| invalid(&path, e.to_string()))?;
        std::fs::write(&path, json).map_err(io(&path))?;
    }

    let mut meta = meta_base.clone();
    meta.format = CHECKPOINT_FORMAT;
    meta.files.clear();
    for entry in std::fs::read_dir(&tmp).map_err(io(&tmp))? {
        let path = entry.map_err(io(&tmp))?.path();
        let bytes = read_bounded(&path, FileKind::Checkpoint)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        meta.files.insert(name, sha256_hex(&bytes));
    }
    let meta_path = tmp.join(META);
    write_json(&meta_path, &meta)?;

    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;

    let latest = Latest {
        checkpoint: format!("step-{:06}", meta.step),
        step: meta.step,
    };
    let latest_tmp = run_dir.join(format!(".{LATEST}.tmp"));
    write_json(&latest_tmp, &latest)?;
    let latest_path = run_dir.join(LATEST);
    std::fs::rename(&latest_tmp, &latest_path).map_err(io(&latest_path))?;
    Ok(final_dir)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), CheckpointError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| invalid(path, e.to_string()))?;
    std::fs::write(path, json).map_err(io(path))
}

fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    kind: FileKind,
) -> Result<T, CheckpointError> {
    let bytes = read_bounded(path, kind)?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(path, format!("not valid JSON: {e}")))
}

/// The model shape in a checkpoint's `config.json`, read within its limit and checked.
fn read_model_config(path: &Path) -> Result<ModelConfig, CheckpointError> {
    let bytes = read_bounded(path, FileKind::CheckpointMeta)?;
    let config = ModelConfig::load_binary(&bytes).map_err(|e| invalid(path, e.to_string()))?;
    config
        .validate()
        .map_err(|e| invalid(path, e.to_string()))?;
    Ok(config)
}

/// `source` itself when it is a checkpoint directory (holds `meta.json`), otherwise the
/// latest checkpoint of the run directory `source`.
pub fn checkpoint_dir_of(source: &Path) -> Result<PathBuf, CheckpointError> {
    if source.join(META).exists() {
        Ok(source.to_path_buf())
    } else {
        latest_checkpoint(source)
    }
}

/// The model shape of the checkpoint (or run's latest checkpoint) at `source`.
pub fn model_config_of(source: &Path) -> Result<ModelConfig, CheckpointError> {
    read_model_config(&checkpoint_dir_of(source)?.join(MODEL_CONFIG))
}

/// The checkpoint directory `RUN_DIR/latest.json` names.
pub fn latest_checkpoint(run_dir: &Path) -> Result<PathBuf, CheckpointError> {
    let path = run_dir.join(LATEST);
    if !path.exists() {
        return Err(CheckpointError::NoLatest { path });
    }
    let latest: Latest = read_json(&path, FileKind::CheckpointMeta)?;
    if latest.checkpoint.contains(['/', '\\']) || latest.checkpoint.starts_with('.') {
        return Err(invalid(&path, "names a checkpoint outside checkpoints/"));
    }
    Ok(run_dir.join("checkpoints").join(latest.checkpoint))
}

/// Reads and verifies `meta.json` of `dir`, and every file it lists.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta, CheckpointError> {
    read_meta_hashed(dir).map(|(meta, _)| meta)
}

/// [`read_meta`], and the SHA-256 of `meta.json` itself: it lists the hash of every other file,
/// so it is the hash of the whole checkpoint.
pub fn read_meta_hashed(dir: &Path) -> Result<(CheckpointMeta, String), CheckpointError> {
    let meta_path = dir.join(META);
    let bytes = read_bounded(&meta_path, FileKind::CheckpointMeta)?;
    let meta: CheckpointMeta = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(&meta_path, format!("not valid JSON: {e}")))?;
    if meta.format != CHECKPOINT_FORMAT {
        return Err(invalid(
            &meta_path,
            format!(
                "checkpoint format {} is not supported (expected {CHECKPOINT_FORMAT})",
                meta.format
            ),
        ));
    }
    for (name, expected) in &meta.files {
        // Files of the checkpoint's own folder only.
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(invalid(
                &meta_path,
                format!("lists {name:?}, which is not a file of this checkpoint"),
            ));
        }
        let path = dir.join(name);
        let bytes = read_bounded(&path, FileKind::Checkpoint)?;
        if &sha256_hex(&bytes) != expected {
            return Err(invalid(
                &path,
                "contents do not match the SHA-256 in meta.json (truncated or corrupt file)",
            ));
        }
    }
    Ok((meta, sha256_hex(&bytes)))
}

/// Loads the checkpoint in `dir` onto `device` (an autodiff device to continue training),
/// rejecting it when it does not match `expect`.
pub fn load_checkpoint(
    dir: &Path,
    expect: Option<&Expectation>,
    device: &Device,
) -> Result<LoadedCheckpoint, CheckpointError> {
    let (meta, sha256) = read_meta_hashed(dir)?;
    let meta_path = dir.join(META);
    if let Some(expect) = expect {
        if meta.dataset_manifest_sha256 != expect.dataset_manifest_sha256 {
            return Err(invalid(
                &meta_path,
                format!(
                    "checkpoint was trained on a different dataset (manifest SHA-256 {} here, {} in the dataset)",
                    meta.dataset_manifest_sha256, expect.dataset_manifest_sha256
                ),
            ));
        }
        if (meta.image_size, meta.channels) != (expect.image_size, expect.channels) {
            return Err(invalid(
                &meta_path,
                format!(
                    "checkpoint is for {}x{} images with {} channel(s), the dataset has {}x{} with {}",
                    meta.image_size,
                    meta.image_size,
                    meta.channels,
                    expect.image_size,
                    expect.image_size,
                    expect.channels
                ),
            ));
        }
        if meta.model_kind != expect.model_kind {
            return Err(invalid(
                &meta_path,
                format!(
                    "checkpoint holds a {} model, but a {} model was asked for",
                    meta.model_kind, expect.model_kind
                ),
            ));
        }
    }

    let config_path = dir.join(MODEL_CONFIG);
    let model_config = read_model_config(&config_path)?;
    if (model_config.image_size, model_config.channels) != (meta.image_size, meta.channels) {
        return Err(invalid(
            &config_path,
            "image size or channels disagree with meta.json",
        ));
    }
    let train_path = dir.join(TRAIN_CONFIG);
    let train_config =
        TrainConfig::load_toml(&train_path).map_err(|e| invalid(&train_path, e.to_string()))?;

    let mut models = Models::new(meta.model_kind, &model_config, &train_config, device)
        .map_err(|e| invalid(&config_path, e.to_string()))?;
    let load_record = |name: &str| {
        let path = dir.join(name);
        let bytes = read_bounded(&path, FileKind::Checkpoint)?;
        ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| invalid(&path, format!("cannot read record: {e}")))
            .map(|r| (r, path))
    };
    let (record, path) = load_record(AUTOENCODER)?;
    models.autoencoder = models
        .autoencoder
        .try_load_record(record)
        .map_err(|e| invalid(&path, format!("does not fit the model in config.json: {e}")))?;
    models.opt_autoencoder = Adam::load(
        autoencoder_adam(&train_config),
        &dir.join(OPT_AUTOENCODER),
        device,
    )?;
    if let Some(discriminator) = models.discriminator.take() {
        let (record, path) = load_record(DISCRIMINATOR)?;
        models.discriminator =
            Some(discriminator.try_load_record(record).map_err(|e| {
                invalid(&path, format!("does not fit the model in config.json: {e}"))
            })?);
        models.opt_discriminator = Some(Adam::load(
            discriminator_adam(&train_config),
            &dir.join(OPT_DISCRIMINATOR),
            device,
        )?);
    }
    let som_path = dir.join(SOM);
    let som = if som_path.exists() {
        Some(read_json(&som_path, FileKind::Checkpoint)?)
    } else {
        None
    };
    Ok(LoadedCheckpoint {
        dir: dir.to_path_buf(),
        sha256,
        meta,
        model_config,
        train_config,
        models,
        som,
    })
}
