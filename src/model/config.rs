//! Model hyper-parameters, saved as `config.json` beside every checkpoint.

use burn::config::Config;

/// Image sizes the conv stacks support: each stage halves the side down to 4×4.
pub const SUPPORTED_IMAGE_SIZES: [usize; 4] = [32, 64, 128, 256];

/// The side of the smallest feature map, where the encoder flattens to z and the generator starts.
pub const BOTTOM_SIZE: usize = 4;

/// Shape and width of the encoder E, generator G and discriminator D.
///
/// The three networks share the same stage layout: stage `i` works at `image_size / 2^(i+1)`
/// with `width · min(2^i, max_width_mult)` channels, down to 4×4.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Side of the square input images in pixels (32, 64, 128 or 256).
    pub image_size: usize,
    /// 1 for grey, 3 for RGB.
    pub channels: usize,
    /// Length of the latent code z.
    #[config(default = 128)]
    pub latent_dim: usize,
    /// Channels of the first stage; later stages double up to `width · max_width_mult`.
    #[config(default = 32)]
    pub width: usize,
    /// Cap on the channel multiplier, which keeps deep (128, 256 px) models affordable on a CPU.
    #[config(default = 4)]
    pub max_width_mult: usize,
}

/// Why a [`ModelConfig`] cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelConfigError {
    #[error("image size {0} is not supported (use one of 32, 64, 128, 256)")]
    ImageSize(usize),
    #[error("{0} channels are not supported (use 1 for grey or 3 for RGB)")]
    Channels(usize),
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
}

impl ModelConfig {
    /// Checks the fields before any layer is built, so a bad config fails with a message
    /// instead of a shape panic deep inside burn.
    pub fn validate(&self) -> Result<(), ModelConfigError> {
        if !SUPPORTED_IMAGE_SIZES.contains(&self.image_size) {
            return Err(ModelConfigError::ImageSize(self.image_size));
        }
        if self.channels != 1 && self.channels != 3 {
            return Err(ModelConfigError::Channels(self.channels));
        }
        for (field, value) in [
            ("latent_dim", self.latent_dim),
            ("width", self.width),
            ("max_width_mult", self.max_width_mult),
        ] {
            if value == 0 {
                return Err(ModelConfigError::Zero { field });
            }
        }
        Ok(())
    }

    /// Number of stride-2 stages from `image_size` down to 4×4.
    pub fn num_stages(&self) -> usize {
        (self.image_size / BOTTOM_SIZE).trailing_zeros() as usize
    }

    /// Output channels of each stage, first (largest image) to last (4×4).
    pub fn stage_channels(&self) -> Vec<usize> {
        (0..self.num_stages())
            .map(|i| self.width * (1usize << i).min(self.max_width_mult))
            .collect()
    }

    /// Channels at the 4×4 bottom.
    pub fn bottom_channels(&self) -> usize {
        self.stage_channels().last().copied().unwrap_or(self.width)
    }

    /// Values of one image, `channels · image_size²`.
    pub fn image_len(&self) -> usize {
        self.channels * self.image_size * self.image_size
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stages_reach_four_by_four() {
        let config = ModelConfig::new(64, 1);
        assert_eq!(config.num_stages(), 4);
        assert_eq!(config.stage_channels(), vec![32, 64, 128, 128]);
        assert_eq!(ModelConfig::new(256, 3).num_stages(), 6);
        assert_eq!(ModelConfig::new(32, 1).num_stages(), 3);
    }

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(
            ModelConfig::new(48, 1).validate(),
            Err(ModelConfigError::ImageSize(48))
        );
        assert_eq!(
            ModelConfig::new(64, 2).validate(),
            Err(ModelConfigError::Channels(2))
        );
        assert!(ModelConfig::new(128, 3).validate().is_ok());
    }
}
