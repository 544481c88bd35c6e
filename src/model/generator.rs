//! Generator G (the decoder): latent code z → image. No skip connections, so z alone must
//! describe the product.

use burn::module::Module;
use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{leaky_relu, sigmoid};
use burn::tensor::{Device, Tensor};

use super::config::{BOTTOM_SIZE, ModelConfig};
use super::encoder::LEAKY_SLOPE;

/// The encoder's mirror: a linear map to 4×4, then 5×5 stride-2 transposed convolutions with
/// BatchNorm and LeakyReLU up to the image size. The output goes through a sigmoid, so images
/// are in `[0, 1]`, the same range the data loader produces.
#[derive(Module, Debug)]
pub struct Generator {
    pub from_latent: Linear,
    pub bottom_norm: BatchNorm,
    pub deconvs: Vec<ConvTranspose2d>,
    /// `norms[i]` follows `deconvs[i]`; the last deconvolution has none.
    pub norms: Vec<BatchNorm>,
    pub bottom_channels: usize,
}

impl Generator {
    /// Builds G for a [validated](ModelConfig::validate) config. Weights are placeholders until
    /// [`seeded_init`](super::init::seeded_init) runs.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let stages = config.stage_channels();
        let bottom_channels = config.bottom_channels();
        let mut deconvs = Vec::with_capacity(stages.len());
        let mut norms = Vec::with_capacity(stages.len().saturating_sub(1));
        for i in (0..stages.len()).rev() {
            let channels_out = if i == 0 {
                config.channels
            } else {
                stages[i - 1]
            };
            deconvs.push(
                ConvTranspose2dConfig::new([stages[i], channels_out], [5, 5])
                    .with_stride([2, 2])
                    .with_padding([2, 2])
                    .with_padding_out([1, 1])
                    .init(device),
            );
            if i > 0 {
                norms.push(BatchNormConfig::new(channels_out).init(device));
            }
        }
        Self {
            from_latent: LinearConfig::new(
                config.latent_dim,
                bottom_channels * BOTTOM_SIZE * BOTTOM_SIZE,
            )
            .init(device),
            bottom_norm: BatchNormConfig::new(bottom_channels).init(device),
            deconvs,
            norms,
            bottom_channels,
        }
    }

    /// `[batch, latent_dim]` → `[batch, channels, size, size]` in `[0, 1]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [batch, _] = z.dims();
        let x = self.from_latent.forward(z).reshape([
            batch,
            self.bottom_channels,
            BOTTOM_SIZE,
            BOTTOM_SIZE,
        ]);
        let mut x = leaky_relu(self.bottom_norm.forward(x), LEAKY_SLOPE);
        let last = self.deconvs.len().saturating_sub(1);
        for (i, deconv) in self.deconvs.iter().enumerate() {
            x = deconv.forward(x);
            if i < last {
                x = leaky_relu(self.norms[i].forward(x), LEAKY_SLOPE);
            }
        }
        sigmoid(x)
    }
}
