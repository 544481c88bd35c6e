//! The training loop: batches from the batch thread, optimisation steps, sample grids, the
//! loss log and checkpoints, reported as typed events to a [`TrainDriver`] that also decides,
//! between steps, whether the run goes on. The CLI, the workbench and the tests drive it
//! through the training worker (`crate::worker::train`), which runs it on a named thread.
//!
//! Everything a run writes goes under `RUN_DIR`: `train_config.toml`, `losses.csv`,
//! `samples/step-NNNNNN.png` and `checkpoints/` (see [`super::checkpoint`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::{Tensor, TensorData};

use super::checkpoint::{
    CheckpointError, CheckpointMeta, Expectation, latest_checkpoint, load_checkpoint,
    write_checkpoint,
};
use super::config::{ConfigError, TrainConfig};
use super::data::{Batch, BatchPlan, DataError, DatasetInfo, ImageSet, spawn_batch_feeder};
use super::eval::{encode_all, reconstruction_mse, sample_grid};

pub use super::events::{FinishReport, StepReport, TrainDriver, TrainEvent};
use super::loss_log::LossLog;
use super::steps::{Divergence, Models};
use crate::compute::SelectedDevice;
use crate::model::{ModelConfigError, ModelKind, SelfOrganisingMap};
use crate::rng::Rng;

/// E and G of the run or checkpoint folder `source`, which must have the shape `expected`.
fn initial_autoencoder(
    source: &std::path::Path,
    expected: &crate::model::ModelConfig,
    device: &burn::tensor::Device,
) -> Result<crate::model::AutoEncoder, TrainError> {
    let dir = crate::train::checkpoint::checkpoint_dir_of(source)?;
    let loaded = load_checkpoint(&dir, None, device)?;
    if &loaded.model_config != expected {
        return Err(CheckpointError::Invalid {
            path: dir.join(crate::train::checkpoint::MODEL_CONFIG),
            problem: format!(
                "cannot start from this checkpoint: its model is {:?}, this run's is {:?} (match latent_dim, width and max_width_mult)",
                loaded.model_config, expected
            ),
        }
        .into());
    }
    Ok(loaded.models.autoencoder)
}

/// A training run to start.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    pub config: TrainConfig,
    pub device: SelectedDevice,
    /// Continue from `RUN_DIR/latest.json`. The checkpoint's model, seed, batch size and
    /// optimiser settings win; run length, cadence and debug fields come from `config`.
    pub resume: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("model: {0}")]
    Model(#[from] ModelConfigError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot write {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error(
        "training diverged at step {step}: {divergence}; stopped without saving, last good checkpoint: {}",
        last_checkpoint.as_ref().map_or("none written yet".to_string(), |p| p.display().to_string())
    )]
    Diverged {
        step: u64,
        divergence: Divergence,
        last_checkpoint: Option<PathBuf>,
    },
    #[error("the SOM could not be fitted: {0}")]
    Som(#[from] crate::model::som::SomError),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("training panicked: {0}")]
    Panic(String),
    #[error(transparent)]
    Lock(#[from] crate::fsio::LockError),
    #[error(
        "training would take no step ({total_steps} steps in all, from step {start_step}): ask \
         for more steps or epochs"
    )]
    NothingToDo { start_step: u64, total_steps: u64 },
}

fn output_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Where a run starts: a fresh model, or the checkpoint it resumes from.
struct Start {
    config: TrainConfig,
    model_config: crate::model::ModelConfig,
    models: Models,
    step: u64,
    last_checkpoint: Option<(u64, PathBuf)>,
}

/// The run's settings and models: fresh from `job.config` (E and G possibly from another
/// run), or those of the latest checkpoint with the job's run length, cadence and debug
/// fields.
fn starting_point(
    job: &TrainJob,
    info: &DatasetInfo,
    device: &burn::tensor::Device,
) -> Result<Start, TrainError> {
    let channels = info.channels.count();
    if !job.resume {
        let model_config = job.config.model_config(info.image_size, channels);
        let mut models = Models::new(job.config.model, &model_config, &job.config, device)?;
        if let Some(source) = &job.config.init_from {
            models.autoencoder = initial_autoencoder(source, &model_config, device)?;
        }
        return Ok(Start {
            config: job.config.clone(),
            model_config,
            models,
            step: 0,
            last_checkpoint: None,
        });
    }
    let dir = latest_checkpoint(&job.run_dir)?;
    let expect = Expectation {
        dataset_manifest_sha256: info.manifest_sha256.clone(),
        image_size: info.image_size,
        channels,
        model_kind: job.config.model,
    };
    let loaded = load_checkpoint(&dir, Some(&expect), device)?;
    let config = TrainConfig {
        steps: job.config.steps,
        epochs: job.config.epochs,
        checkpoint_every: job.config.checkpoint_every,
        sample_every: job.config.sample_every,
        sample_count: job.config.sample_count,
        divergence_limit: job.config.divergence_limit,
        debug_nan_at_step: job.config.debug_nan_at_step,
        ..loaded.train_config
    };
    let step = loaded.meta.step;
    Ok(Start {
        config,
        model_config: loaded.model_config,
        models: loaded.models,
        step,
        last_checkpoint: Some((step, loaded.dir)),
    })
}

/// The fixed held-out images whose reconstructions the sample grids show.
struct SampleImages {
    images: Vec<f32>,
    count: usize,
}

/// Progress of the loop, shared by the helpers below.
struct Run<'a> {
    job: &'a TrainJob,
    config: TrainConfig,
    meta: CheckpointMeta,
    model_config: crate::model::ModelConfig,
    models: Models,
    last_checkpoint: Option<(u64, PathBuf)>,
    driver: &'a mut dyn TrainDriver,
    /// Nobody listens to the events any more; nothing more can be reported.
    orphaned: bool,
    /// Image side and channels of the dataset.
    size: usize,
    channels: usize,
    total_steps: u64,
    /// Training throughput, smoothed over recent steps.
    images_per_sec: Option<f32>,
}

impl Run<'_> {
    fn emit(&mut self, event: TrainEvent) {
        if !self.driver.event(event) {
            self.orphaned = true;
        }
    }

    fn checkpoint(
        &mut self,
        step: u64,
        som: Option<&SelfOrganisingMap>,
    ) -> Result<PathBuf, TrainError> {
        self.meta.step = step;
        let path = write_checkpoint(
            &self.job.run_dir,
            &self.meta,
            &self.model_config,
            &self.config,
            &self.models,
            som,
        )?;
        self.last_checkpoint = Some((step, path.clone()));
        self.emit(TrainEvent::CheckpointWritten {
            step,
            path: path.clone(),
        });
        Ok(path)
    }

    /// Optimisation step `step + 1` on `batch`: its latent prior sample, the learning rates of
    /// the schedule, the models' update; logs and reports the losses.
    fn step(
        &mut self,
        batch: Batch,
        step: u64,
        device: &burn::tensor::Device,
        losses_csv: &mut LossLog,
    ) -> Result<(), TrainError> {
        let tick = Instant::now();
        let (size, channels, batch_size) = (self.size, self.channels, self.config.batch_size);
        let latent_dim = self.model_config.latent_dim;
        let mut images = Tensor::<4>::from_data(
            TensorData::new(batch.images, [batch_size, channels, size, size]),
            device,
        );
        if self.config.debug_nan_at_step == Some(step + 1) {
            images = images.mul_scalar(f32::NAN);
        }
        let mut latent_rng = Rng::for_stream(
            self.config.seed ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            "latent",
        );
        let z_prior = Tensor::<2>::from_data(
            TensorData::new(
                latent_rng.normals_f32(batch_size * latent_dim),
                [batch_size, latent_dim],
            ),
            device,
        );
        let config = self.config.clone();
        self.models
            .set_learning_rates(&config, config.lr_factor(step, self.total_steps));
        let losses = self
            .models
            .step(images, z_prior, &config)
            .map_err(|divergence| TrainError::Diverged {
                step: step + 1,
                divergence,
                last_checkpoint: self.last_checkpoint.as_ref().map(|(_, p)| p.clone()),
            })?;
        let step = step + 1;
        let rate = batch_size as f32 / tick.elapsed().as_secs_f32().max(1e-6);
        let smoothed = self.images_per_sec.map_or(rate, |r| 0.8 * r + 0.2 * rate);
        self.images_per_sec = Some(smoothed);
        losses_csv.append(step, batch.epoch, smoothed, &losses)?;
        self.emit(TrainEvent::Step(StepReport {
            step,
            total_steps: self.total_steps,
            epoch: batch.epoch,
            losses,
            images_per_sec: smoothed,
        }));
        Ok(())
    }

    /// Writes and reports the sample grid after `step`.
    fn samples(&mut self, step: u64, samples: &SampleImages) -> Result<(), TrainError> {
        let grid = sample_grid(
            &self.models.autoencoder,
            &samples.images,
            samples.count,
            self.channels,
            self.size,
            step,
            &self.job.device.device,
        );
        let path = self
            .job
            .run_dir
            .join("samples")
            .join(format!("step-{step:06}.png"));
        grid.save_png(&path).map_err(|e| output_error(&path, e))?;
        self.emit(TrainEvent::Samples(grid));
        Ok(())
    }

    /// After the last step: the SOM of an autoencoder run that was not stopped, the final
    /// checkpoint when the last one is not of this step, and the validation error.
    fn finish(
        &mut self,
        step: u64,
        stopped: bool,
        train: &ImageSet,
        validation: Option<&ImageSet>,
    ) -> Result<(Option<PathBuf>, Option<f32>), TrainError> {
        let device = &self.job.device.device;
        let som = if !stopped && self.config.model == ModelKind::AeSom {
            let codes = encode_all(&self.models.autoencoder, train, device);
            Some(SelfOrganisingMap::train(
                &self.config.som,
                &codes,
                self.model_config.latent_dim,
                self.config.seed,
            )?)
        } else {
            None
        };
        let needs_checkpoint = som.is_some()
            || self
                .last_checkpoint
                .as_ref()
                .is_none_or(|(saved, _)| *saved != step);
        let checkpoint = if needs_checkpoint && step > 0 {
            Some(self.checkpoint(step, som.as_ref())?)
        } else {
            self.last_checkpoint.as_ref().map(|(_, p)| p.clone())
        };
        let validation_mse =
            validation.map(|set| reconstruction_mse(&self.models.autoencoder, set, device));
        Ok((checkpoint, validation_mse))
    }
}

/// The good validation images, when the dataset has any.
fn load_validation(info: &DatasetInfo) -> Result<Option<ImageSet>, TrainError> {
    match info.load_validation() {
        Ok(set) => Ok(Some(set)),
        Err(DataError::Empty { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the run's settings to `RUN_DIR/train_config.toml` and opens its loss log.
fn start_run_files(job: &TrainJob, config: &TrainConfig, step: u64) -> Result<LossLog, TrainError> {
    let samples = job.run_dir.join("samples");
    std::fs::create_dir_all(&samples).map_err(|e| output_error(&samples, e))?;
    let config_path = job.run_dir.join(super::checkpoint::TRAIN_CONFIG);
    crate::fsio::write_atomic(&config_path, config.to_toml().as_bytes())
        .map_err(|e| output_error(&config_path, e))?;
    LossLog::open(&job.run_dir.join(super::loss_log::LOSS_LOG), step)
}

/// Runs `job` to its end (its step count, a stop from `driver`, or an error), reporting to
/// `driver`. A stopped run still writes its checkpoint.
pub fn run_training(
    job: &TrainJob,
    driver: &mut dyn TrainDriver,
) -> Result<FinishReport, TrainError> {
    let started = Instant::now();
    job.config.validate()?;
    std::fs::create_dir_all(&job.run_dir).map_err(|e| output_error(&job.run_dir, e))?;
    // One process writes a run folder at a time; the lock goes when this function returns.
    let _lock = crate::fsio::FolderLock::acquire(&job.run_dir, "train")?;
    let info = DatasetInfo::open(&job.data_dir)?;
    let train = Arc::new(info.load_train()?);
    let validation = load_validation(&info)?;
    let channels = info.channels.count();
    let device = job.device.device.clone().autodiff();

    let start = starting_point(job, &info, &device)?;
    if train.len() < start.config.batch_size {
        return Err(DataError::TooFew {
            dir: info.train_dir(),
            count: train.len(),
            batch_size: start.config.batch_size,
        }
        .into());
    }
    let total_steps = start.config.total_steps(train.len());
    if total_steps == 0 || (start.step == 0 && total_steps <= start.step) {
        return Err(TrainError::NothingToDo {
            start_step: start.step,
            total_steps,
        });
    }
    let mut losses_csv = start_run_files(job, &start.config, start.step)?;

    let start_step = start.step;
    let mut run = Run {
        job,
        meta: CheckpointMeta {
            format: 0,
            step: start_step,
            dataset_manifest_sha256: info.manifest_sha256.clone(),
            seed: start.config.seed,
            model_kind: start.config.model,
            image_size: info.image_size,
            channels,
            files: Default::default(),
        },
        config: start.config,
        model_config: start.model_config,
        models: start.models,
        last_checkpoint: start.last_checkpoint,
        driver,
        orphaned: false,
        size: info.image_size,
        channels,
        total_steps,
        images_per_sec: None,
    };
    run.emit(TrainEvent::Started {
        device: job.device.description.clone(),
        model: run.config.model,
        start_step,
        total_steps,
        train_images: train.len(),
        validation_images: validation.as_ref().map_or(0, ImageSet::len),
    });

    let sample_source = validation.as_ref().unwrap_or(&train);
    let sample_count = run.config.sample_count.min(sample_source.len());
    let samples = SampleImages {
        images: sample_source.gather(&(0..sample_count).collect::<Vec<_>>()),
        count: sample_count,
    };

    let plan = BatchPlan {
        seed: run.config.seed,
        batch_size: run.config.batch_size,
        num_images: train.len(),
    };
    let (batches, feeder) =
        spawn_batch_feeder(Arc::clone(&train), plan, start_step).map_err(TrainError::Thread)?;

    let mut step = start_step;
    let mut stopped = false;
    while step < total_steps {
        if !run.driver.between_steps(step) {
            stopped = true;
            break;
        }
        let Ok(batch) = batches.recv() else {
            break; // The feeder only ends when this loop drops its receiver.
        };
        run.step(batch, step, &device, &mut losses_csv)?;
        step += 1;
        if step % run.config.sample_every == 0 || step == total_steps {
            run.samples(step, &samples)?;
        }
        if step % run.config.checkpoint_every == 0 && step < total_steps {
            run.checkpoint(step, None)?;
        }
        if run.orphaned {
            stopped = true;
            break;
        }
    }
    drop(batches);
    let _ = feeder.join();

    let (checkpoint, validation_mse) = run.finish(step, stopped, &train, validation.as_ref())?;
    Ok(FinishReport {
        step,
        stopped,
        checkpoint,
        validation_mse,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}
