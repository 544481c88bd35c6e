//! The models of "good": encoder E, generator G, discriminator D, and the self-organising map
//! of the autoencoder baseline.
//!
//! Images are `[batch, channels, size, size]` tensors with values in `[0, 1]` (0 = black).

pub mod config;
pub mod discriminator;
pub mod encoder;
pub mod generator;
pub mod init;
pub mod som;
pub mod spectral;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use config::{ModelConfig, ModelConfigError};
pub use discriminator::{Discriminator, DiscriminatorOutput};
pub use encoder::Encoder;
pub use generator::Generator;
pub use som::{SelfOrganisingMap, SomConfig};

/// Which model a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// E + G trained with reconstruction, feature matching and an adversarial D.
    #[default]
    Gan,
    /// The baseline: E + G trained on reconstruction only, then a SOM over the codes E(x).
    AeSom,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gan => "gan",
            Self::AeSom => "ae-som",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gan" => Ok(Self::Gan),
            "ae-som" => Ok(Self::AeSom),
            other => Err(format!("unknown model {other:?} (use gan or ae-som)")),
        }
    }
}

/// E and G together: the "U-Net without skip connections".
#[derive(Module, Debug)]
pub struct AutoEncoder {
    pub encoder: Encoder,
    pub generator: Generator,
}

impl AutoEncoder {
    /// A freshly initialised E + G; the weights are a function of `seed` alone.
    pub fn new(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self, ModelConfigError> {
        config.validate()?;
        let model = Self {
            encoder: Encoder::new(config, device),
            generator: Generator::new(config, device),
        };
        Ok(init::seeded_init(model, seed, "autoencoder"))
    }

    /// G(E(x)).
    pub fn reconstruct(&self, images: Tensor<4>) -> Tensor<4> {
        self.generator.forward(self.encoder.forward(images))
    }
}

/// A freshly initialised D; the weights are a function of `seed` alone.
pub fn new_discriminator(
    config: &ModelConfig,
    seed: u64,
    device: &Device,
) -> Result<Discriminator, ModelConfigError> {
    config.validate()?;
    Ok(init::seeded_init(
        Discriminator::new(config, device),
        seed,
        "discriminator",
    ))
}
