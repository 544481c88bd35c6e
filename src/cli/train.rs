//! `unseen train`: the command-line shell over the training worker ([`spawn_training`]),
//! with a progress bar.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::compute::{ComputeDevice, select_device};
use crate::model::ModelKind;
use crate::train::checkpoint::{TRAIN_CONFIG, model_config_of};
use crate::train::config::TrainConfig;
use crate::train::{TrainEvent, TrainJob};
use crate::worker::train::spawn_training;
use crate::worker::{Waker, Worker};

/// Arguments of `unseen train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Dataset directory written by `unseen render` (holds manifest.json).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Run directory for checkpoints, losses.csv and sample grids.
    #[arg(long, value_name = "RUN_DIR")]
    pub out: PathBuf,
    /// Model to train (overrides the config file).
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// Optimisation steps (overrides the config file).
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<u64>,
    /// Passes over the training images (overrides the config file and --steps).
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Where to compute.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ComputeDevice::Auto)]
    pub device: ComputeDevice,
    /// Training settings (TOML); fields left out take their defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Continue from RUN_DIR/latest.json.
    #[arg(long)]
    pub resume: bool,
    /// Images per step (overrides the config file).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Master seed (overrides the config file).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start E and G from a trained run or checkpoint folder (e.g. fine-tune an ae-som run as
    /// a GAN). Without --config the run takes the source's latent size and widths; with one
    /// they must match.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
}

impl TrainArgs {
    /// The settings file (or defaults) with the command-line overrides applied.
    pub fn train_config(&self) -> anyhow::Result<TrainConfig> {
        // A resumed run keeps its own settings unless a config file says otherwise.
        let run_config = self.out.join(TRAIN_CONFIG);
        let mut config = match &self.config {
            Some(path) => TrainConfig::load_toml(path)?,
            None if self.resume && run_config.is_file() => TrainConfig::load_toml(&run_config)?,
            None => TrainConfig::default(),
        };
        if let Some(model) = self.model {
            config.model = model;
        }
        if let Some(steps) = self.steps {
            config.steps = steps;
            config.epochs = None;
        }
        if let Some(epochs) = self.epochs {
            config.epochs = Some(epochs);
        }
        if let Some(batch_size) = self.batch_size {
            config.batch_size = batch_size;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(source) = &self.init_from {
            // Without a config file the run takes the source's shape (it must match anyway).
            if self.config.is_none() {
                let shape = model_config_of(source)?;
                config.latent_dim = shape.latent_dim;
                config.width = shape.width;
                config.max_width_mult = shape.max_width_mult;
            }
            config.init_from = Some(source.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs a training job to the end, showing losses and images/s.
pub fn run_train_cli(args: TrainArgs) -> anyhow::Result<()> {
    let config = args.train_config()?;
    let device = select_device(args.device)?;
    eprintln!("training {} on {}", config.model, device.description);
    let worker = spawn_training(
        TrainJob {
            data_dir: args.data.clone(),
            run_dir: args.out.clone(),
            config,
            device,
            resume: args.resume,
        },
        Waker::none(),
    )?;
    follow_training(worker)
}

/// Shows a running worker's progress on the terminal until it ends; an `Error` event becomes
/// the returned error.
pub fn follow_training(worker: Worker<TrainEvent>) -> anyhow::Result<()> {
    let mut progress = TrainProgress::new()?;
    let mut outcome = Ok(());
    for event in worker.events().iter() {
        if let Some(end) = progress.show(event) {
            outcome = end;
        }
    }
    worker.join();
    outcome
}

/// A training's progress on the terminal: a bar of steps with the losses and throughput,
/// checkpoints and the outcome as lines.
pub(super) struct TrainProgress {
    bar: ProgressBar,
}

impl TrainProgress {
    pub(super) fn new() -> anyhow::Result<Self> {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps, eta {eta} | {msg}",
            )
            .context("progress bar template")?
            .progress_chars("=> "),
        );
        Ok(Self { bar })
    }

    /// Shows `event`; for the last event of a run (`Finished` or `Error`), its outcome.
    pub(super) fn show(&mut self, event: TrainEvent) -> Option<anyhow::Result<()>> {
        let bar = &self.bar;
        match event {
            TrainEvent::Started {
                start_step,
                total_steps,
                train_images,
                validation_images,
                ..
            } => {
                bar.set_length(total_steps);
                bar.set_position(start_step);
                bar.println(format!(
                    "{train_images} training images, {validation_images} validation images, steps {start_step}..{total_steps}"
                ));
            }
            TrainEvent::Step(report) => {
                bar.set_position(report.step);
                let losses: Vec<String> = report
                    .losses
                    .iter()
                    .map(|(name, value)| format!("{name} {value:.4}"))
                    .collect();
                bar.set_message(format!(
                    "{:.1} img/s | {}",
                    report.images_per_sec,
                    losses.join(" ")
                ));
            }
            TrainEvent::CheckpointWritten { path, .. } => {
                bar.println(format!("checkpoint {}", path.display()));
            }
            TrainEvent::Finished(report) => {
                bar.finish();
                if let Some(mse) = report.validation_mse {
                    eprintln!("validation reconstruction MSE per pixel: {mse:.5}");
                }
                eprintln!(
                    "{} after {} steps in {:.1} s{}",
                    if report.stopped {
                        "stopped"
                    } else {
                        "finished"
                    },
                    report.step,
                    report.elapsed_secs,
                    report
                        .checkpoint
                        .map(|p| format!(", checkpoint {}", p.display()))
                        .unwrap_or_default()
                );
                return Some(Ok(()));
            }
            TrainEvent::Error(message) => {
                bar.abandon();
                return Some(Err(anyhow::anyhow!(message)));
            }
            TrainEvent::Samples(_) | TrainEvent::Paused { .. } | TrainEvent::Resumed { .. } => {}
        }
        None
    }
}
