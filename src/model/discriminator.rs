//! Discriminator D: image → realness logit, plus the feature map f(x) used for feature matching
//! (f-AnoGAN's izi_f loss and the anomaly score).

use burn::module::Module;
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

use super::config::{BOTTOM_SIZE, ModelConfig};
use super::encoder::LEAKY_SLOPE;
use super::spectral::{SnConv2d, SnLinear};

/// The same 5×5 stride-2 stages as the encoder, spectrally normalised instead of batch
/// normalised (BatchNorm would couple the samples of a batch, which the discriminator of a
/// GAN should not see), then a linear map from the 4×4 features to one logit.
#[derive(Module, Debug)]
pub struct Discriminator {
    pub convs: Vec<SnConv2d>,
    pub to_logit: SnLinear,
}

/// What D says about a batch.
#[derive(Debug, Clone)]
pub struct DiscriminatorOutput {
    /// `[batch, 1]`; positive means "looks real".
    pub logit: Tensor<2>,
    /// f(x): the last 4×4 feature map, `[batch, bottom_channels, 4, 4]`.
    pub features: Tensor<4>,
}

impl Discriminator {
    /// Builds D for a [validated](ModelConfig::validate) config. Weights are placeholders until
    /// [`seeded_init`](super::init::seeded_init) runs.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let mut convs = Vec::new();
        let mut channels_in = config.channels;
        for channels_out in config.stage_channels() {
            convs.push(SnConv2d::new(channels_in, channels_out, 5, 2, 2, device));
            channels_in = channels_out;
        }
        let flat = config.bottom_channels() * BOTTOM_SIZE * BOTTOM_SIZE;
        Self {
            convs,
            to_logit: SnLinear::new(flat, 1, device),
        }
    }

    pub fn forward(&self, images: Tensor<4>) -> DiscriminatorOutput {
        let mut x = images;
        for conv in &self.convs {
            x = leaky_relu(conv.forward(x), LEAKY_SLOPE);
        }
        let [batch, c, h, w] = x.dims();
        let logit = self.to_logit.forward(x.clone().reshape([batch, c * h * w]));
        DiscriminatorOutput { logit, features: x }
    }
}
