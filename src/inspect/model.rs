//! The frozen networks inspection uses, loaded from a training run.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use crate::imaging::ImageError;
use crate::model::{Discriminator, Encoder, Generator, ModelConfig, ModelKind};
use crate::train::checkpoint::{CheckpointError, checkpoint_dir_of, load_checkpoint};

/// Why inspection cannot run, or one image cannot be inspected. Every variant names its file.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Data(#[from] crate::train::data::DataError),
}

/// E, G and D in inference mode (BatchNorm on running statistics, spectral norm on its stored
/// vector), on a plain (non-autodiff) device: the descent differentiates through them with
/// respect to z only, treating every weight as a constant.
#[derive(Debug, Clone)]
pub struct InspectModel {
    pub encoder: Encoder,
    pub generator: Generator,
    /// D's feature map f(x) feeds the feature term of the descent loss. The autoencoder baseline
    /// has no D; its descent uses the pixel term only.
    pub discriminator: Option<Discriminator>,
    pub config: ModelConfig,
    pub kind: ModelKind,
    /// The checkpoint the weights came from.
    pub checkpoint: PathBuf,
    /// SHA-256 of its `meta.json` (which lists every file's hash): what a calibration binds to.
    pub checkpoint_sha256: String,
    pub step: u64,
    pub device: Device,
}

impl InspectModel {
    /// Loads the checkpoint `RUN_DIR/latest.json` names, or `run_dir` itself when it is a
    /// checkpoint directory.
    pub fn load(run_dir: &Path, device: &Device) -> Result<Self, InspectError> {
        let dir = checkpoint_dir_of(run_dir)?;
        let plain = device.clone().inner();
        let loaded = load_checkpoint(&dir, None, &plain)?;
        let autoencoder = loaded.models.autoencoder.valid();
        Ok(Self {
            encoder: autoencoder.encoder,
            generator: autoencoder.generator,
            discriminator: loaded.models.discriminator.map(|d| d.valid()),
            config: loaded.model_config,
            kind: loaded.meta.model_kind,
            checkpoint: dir,
            checkpoint_sha256: loaded.sha256,
            step: loaded.meta.step,
            device: plain,
        })
    }

    pub fn image_size(&self) -> usize {
        self.config.image_size
    }

    pub fn channels(&self) -> usize {
        self.config.channels
    }

    pub fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    /// `count` flat images as a `[count, c, s, s]` tensor on `device`.
    pub fn images_tensor(&self, images: &[f32], count: usize, device: &Device) -> Tensor<4> {
        let s = self.image_size();
        Tensor::from_data(
            TensorData::new(images.to_vec(), [count, self.channels(), s, s]),
            device,
        )
    }

    /// E(x) of `count` flat images, row-major `[count, latent_dim]`.
    pub fn encode(&self, images: &[f32], count: usize) -> Vec<f32> {
        let x = self.images_tensor(images, count, &self.device);
        to_vec(self.encoder.forward(x))
    }

    /// G(z) of `count` codes, flat.
    pub fn generate(&self, z: &[f32], count: usize) -> Vec<f32> {
        let z = Tensor::<2>::from_data(
            TensorData::new(z.to_vec(), [count, self.latent_dim()]),
            &self.device,
        );
        to_vec(self.generator.forward(z))
    }
}

/// A float tensor's values; the models are f32 throughout, so the conversion cannot fail.
pub(crate) fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default()
}
