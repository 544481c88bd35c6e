//! Encoder E: image → latent code z.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

use super::config::{BOTTOM_SIZE, ModelConfig};

/// Slope of the LeakyReLU used throughout E and D (DCGAN's value).
pub const LEAKY_SLOPE: f64 = 0.2;

/// 5×5 stride-2 convolutions, BatchNorm (all but the first stage, as in DCGAN) and
/// LeakyReLU(0.2) from the image down to 4×4, then a linear map to z.
///
/// z is left unbounded; the trainer keeps it near the generator's N(0, I) prior with a small
/// penalty instead of squashing it with tanh, which would saturate and slow the encoder.
#[derive(Module, Debug)]
pub struct Encoder {
    pub convs: Vec<Conv2d>,
    /// `norms[i]` follows `convs[i + 1]`.
    pub norms: Vec<BatchNorm>,
    pub to_latent: Linear,
}

impl Encoder {
    /// Builds E for a [validated](ModelConfig::validate) config. Weights are placeholders until
    /// [`seeded_init`](super::init::seeded_init) runs.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let stages = config.stage_channels();
        let mut convs = Vec::with_capacity(stages.len());
        let mut norms = Vec::with_capacity(stages.len().saturating_sub(1));
        let mut channels_in = config.channels;
        for (i, &channels_out) in stages.iter().enumerate() {
            convs.push(stride2_conv(channels_in, channels_out, device));
            if i > 0 {
                norms.push(BatchNormConfig::new(channels_out).init(device));
            }
            channels_in = channels_out;
        }
        let flat = config.bottom_channels() * BOTTOM_SIZE * BOTTOM_SIZE;
        Self {
            convs,
            norms,
            to_latent: LinearConfig::new(flat, config.latent_dim).init(device),
        }
    }

    /// `[batch, channels, size, size]` → `[batch, latent_dim]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if i > 0 {
                x = self.norms[i - 1].forward(x);
            }
            x = leaky_relu(x, LEAKY_SLOPE);
        }
        let [batch, c, h, w] = x.dims();
        self.to_latent.forward(x.reshape([batch, c * h * w]))
    }
}

/// 5×5, stride 2, padding 2: halves an even side exactly.
pub(crate) fn stride2_conv(channels_in: usize, channels_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([channels_in, channels_out], [5, 5])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
        .init(device)
}
