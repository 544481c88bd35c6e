//! Model hyper-parameters, saved as `config.json` beside every checkpoint.

use burn::config::Config;

/// Image sizes the conv stacks support: each stage halves the side down to 4×4. Recipes
/// refuse any other size at render time ([`crate::dataset::recipe::IMAGE_SIZES`]).
pub const SUPPORTED_IMAGE_SIZES: [usize; 4] = [32, 64, 128, 256];

/// Longest latent code.
pub const MAX_LATENT_DIM: usize = 4096;
/// Most channels of the first stage.
pub const MAX_WIDTH: usize = 1024;
/// Largest channel multiplier.
pub const MAX_WIDTH_MULT: usize = 64;
/// Most parameters of E, G and D together (800 MB of f32, three times that with Adam's
/// moments): a config asking for more is refused before any layer is allocated.
pub const MAX_PARAMETERS: u64 = 200_000_000;
/// Side of the convolution kernels of every stage.
const KERNEL: u64 = 5;

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
    #[error("{field} must be at most {most}, got {value}")]
    TooLarge {
        field: &'static str,
        value: usize,
        most: usize,
    },
    #[error(
        "the model would have more than {MAX_PARAMETERS} parameters; make latent_dim, width or \
         max_width_mult smaller"
    )]
    TooManyParameters,
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
        for (field, value, most) in [
            ("latent_dim", self.latent_dim, MAX_LATENT_DIM),
            ("width", self.width, MAX_WIDTH),
            ("max_width_mult", self.max_width_mult, MAX_WIDTH_MULT),
        ] {
            if value > most {
                return Err(ModelConfigError::TooLarge { field, value, most });
            }
        }
        if self.parameter_count().is_none_or(|n| n > MAX_PARAMETERS) {
            return Err(ModelConfigError::TooManyParameters);
        }
        Ok(())
    }

    /// About how many parameters E, G and D have together (their convolutions and the linear
    /// layers to and from the code), counted without overflow.
    pub fn parameter_count(&self) -> Option<u64> {
        let stages = self.stage_channels();
        let mut convs = 0u64;
        let mut channels_in = self.channels as u64;
        for &out in &stages {
            let out = out as u64;
            convs =
                convs.checked_add(channels_in.checked_mul(out)?.checked_mul(KERNEL * KERNEL)?)?;
            channels_in = out;
        }
        let flat =
            (self.bottom_channels() as u64).checked_mul((BOTTOM_SIZE * BOTTOM_SIZE) as u64)?;
        let linear = flat.checked_mul(self.latent_dim as u64)?;
        convs
            .checked_mul(3)?
            .checked_add(linear.checked_mul(2)?)?
            .checked_add(flat)
    }

    /// Number of stride-2 stages from `image_size` down to 4×4.
    pub fn num_stages(&self) -> usize {
        (self.image_size / BOTTOM_SIZE).trailing_zeros() as usize
    }

    /// Output channels of each stage, first (largest image) to last (4×4) (saturating: only
    /// a config that [`validate`](Self::validate) refuses comes near).
    pub fn stage_channels(&self) -> Vec<usize> {
        (0..self.num_stages())
            .map(|i| {
                self.width
                    .saturating_mul((1usize << i.min(30)).min(self.max_width_mult))
            })
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

    #[test]
    fn absurd_shapes_are_refused_before_anything_is_allocated() {
        let huge = ModelConfig::new(64, 1).with_latent_dim(1_000_000_000);
        assert!(matches!(
            huge.validate(),
            Err(ModelConfigError::TooLarge {
                field: "latent_dim",
                ..
            })
        ));
        let wide = ModelConfig::new(256, 3)
            .with_width(MAX_WIDTH)
            .with_max_width_mult(MAX_WIDTH_MULT);
        assert_eq!(wide.validate(), Err(ModelConfigError::TooManyParameters));
        let n = ModelConfig::new(64, 1).parameter_count().unwrap();
        assert!((1_000_000..10_000_000).contains(&n), "{n}");
    }
}
