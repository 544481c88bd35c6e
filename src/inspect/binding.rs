//! What a calibration was fitted for: the exact checkpoint (its hash, not its step) and the
//! dataset whose validation split it was fitted on. Stored in `calibration.json` as `model`;
//! [`super::open`] refits a calibration whose binding does not match the model it is opened
//! with (or refuses, without a dataset to refit on), and says which part differs.

use serde::{Deserialize, Serialize};

use super::model::InspectModel;

/// The model and data a calibration belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelBinding {
    /// SHA-256 of the checkpoint's `meta.json`, which lists the hash of every file of it: two
    /// trainings to the same step have different hashes.
    pub checkpoint_sha256: String,
    /// The checkpoint's step, for people to read (never compared on its own).
    pub step: u64,
    pub image_size: usize,
    pub channels: usize,
    pub latent_dim: usize,
    /// SHA-256 of the manifest of the dataset the thresholds were fitted on.
    pub dataset_manifest_sha256: String,
}

impl ModelBinding {
    /// The binding of a calibration fitted for `model` on the dataset whose manifest hashes to
    /// `dataset_manifest_sha256`.
    pub fn of(model: &InspectModel, dataset_manifest_sha256: &str) -> Self {
        Self {
            checkpoint_sha256: model.checkpoint_sha256.clone(),
            step: model.step,
            image_size: model.image_size(),
            channels: model.channels(),
            latent_dim: model.latent_dim(),
            dataset_manifest_sha256: dataset_manifest_sha256.to_string(),
        }
    }

    /// Why this binding does not hold for `model` with the dataset whose manifest hashes to
    /// `dataset` (when known), in words; empty when it holds.
    pub fn mismatches(&self, model: &InspectModel, dataset: Option<&str>) -> Vec<String> {
        let mut why = Vec::new();
        if self.checkpoint_sha256 != model.checkpoint_sha256 {
            why.push(format!(
                "it was fitted for another checkpoint (step {}, SHA-256 {}…), the model is step \
                 {} (SHA-256 {}…)",
                self.step,
                short(&self.checkpoint_sha256),
                model.step,
                short(&model.checkpoint_sha256)
            ));
        }
        if (self.image_size, self.channels, self.latent_dim)
            != (model.image_size(), model.channels(), model.latent_dim())
        {
            why.push("it was fitted for a model of another shape".into());
        }
        if let Some(dataset) = dataset
            && dataset != self.dataset_manifest_sha256
        {
            why.push(format!(
                "it was fitted on another dataset (manifest SHA-256 {}…, the dataset's is {}…)",
                short(&self.dataset_manifest_sha256),
                short(dataset)
            ));
        }
        why
    }

    /// Checks the hashes are hex SHA-256 values.
    pub fn validate(&self) -> Result<(), String> {
        for (name, hash) in [
            ("checkpoint_sha256", &self.checkpoint_sha256),
            ("dataset_manifest_sha256", &self.dataset_manifest_sha256),
        ] {
            let hex = hash.len() == 64
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex {
                return Err(format!("model.{name} is not a SHA-256"));
            }
        }
        Ok(())
    }
}

/// The first twelve hex digits of a hash.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
