//! Inference-mode passes over image sets: reconstructions, codes, reconstruction error.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::data::ImageSet;
use super::samples::SampleGrid;
use crate::model::AutoEncoder;

/// Images per forward pass when encoding or scoring whole image sets.
const EVAL_BATCH: usize = 32;

/// G(E(x)) of `images` (`count` images, flat) in inference mode.
pub fn reconstruct(
    autoencoder: &AutoEncoder,
    images: &[f32],
    count: usize,
    channels: usize,
    size: usize,
    device: &Device,
) -> Vec<f32> {
    let model = autoencoder.valid();
    let x = Tensor::<4>::from_data(
        TensorData::new(images.to_vec(), [count, channels, size, size]),
        device,
    );
    // The model is f32 throughout, so the conversion cannot fail.
    model
        .reconstruct(x)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

pub fn sample_grid(
    autoencoder: &AutoEncoder,
    images: &[f32],
    count: usize,
    channels: usize,
    size: usize,
    step: u64,
    device: &Device,
) -> SampleGrid {
    let recon = reconstruct(autoencoder, images, count, channels, size, device);
    SampleGrid::from_pairs(step, images, &recon, count, channels, size)
}

/// Codes E(x) of every image, row-major.
pub fn encode_all(autoencoder: &AutoEncoder, set: &ImageSet, device: &Device) -> Vec<f32> {
    let model = autoencoder.valid();
    let mut codes = Vec::new();
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let x = Tensor::<4>::from_data(
            TensorData::new(
                set.gather(chunk),
                [chunk.len(), set.channels, set.size, set.size],
            ),
            device,
        );
        codes.extend(
            model
                .encoder
                .forward(x)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap_or_default(),
        );
    }
    codes
}

/// Mean per-pixel squared error of G(E(x)) over `set`.
pub fn reconstruction_mse(autoencoder: &AutoEncoder, set: &ImageSet, device: &Device) -> f32 {
    let mut total = 0.0f64;
    let mut values = 0usize;
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let images = set.gather(chunk);
        let recon = reconstruct(
            autoencoder,
            &images,
            chunk.len(),
            set.channels,
            set.size,
            device,
        );
        total += images
            .iter()
            .zip(&recon)
            .map(|(a, b)| f64::from((a - b) * (a - b)))
            .sum::<f64>();
        values += images.len();
    }
    (total / values.max(1) as f64) as f32
}
