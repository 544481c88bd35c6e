//! One optimisation step of each model, and the divergence guard.
//!
//! # Why a non-saturating GAN with spectral norm, not WGAN-GP
//! f-AnoGAN trains a WGAN-GP, whose gradient penalty differentiates ‖∇ₓD(x̂)‖ with respect to
//! D's weights: a gradient of a gradient. burn 0.22's autodiff is first-order only (gradients
//! come back without an autodiff association; `Device::autodiff` documents that calling it
//! twice does not enable higher-order derivatives), so the penalty cannot be built. The
//! discriminator therefore uses spectral normalisation (Miyato et al. 2018), which bounds its
//! Lipschitz constant by construction, with the non-saturating logistic loss and DCGAN's Adam
//! settings (β₁ = 0.5), a combination that is stable on small grey images and needs one D step
//! per G step instead of WGAN's five, a 3× saving on a CPU.
//!
//! # Why E is trained jointly with G
//! f-AnoGAN trains G and D first, then E against the frozen G with the izi_f loss. On a 2-core
//! CPU the staged schedule spends most of its budget on a G that E then cannot invert well: a
//! G trained only from random z has no reason to cover every pose in the data, and E cannot
//! reconstruct what G cannot draw. Training E and G together on
//! `MSE(x, G(E(x))) + κ·MSE(f(x), f(G(E(x)))) + λ_adv·adv + λ_z·mean(z²)`
//! makes G cover the training poses from the first step (the reconstruction term), while the
//! adversarial term on G(z), z ~ N(0, I), and on G(E(x)) keeps G's whole latent space on the
//! manifold of good products, which is what the latent descent at inspection relies on. The
//! feature term (izi_f's second half) sharpens edges that pixel MSE alone blurs.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor};

use super::config::TrainConfig;
use super::optim::{Adam, AdamSettings};
use crate::model::{AutoEncoder, Discriminator, ModelConfig, ModelConfigError, ModelKind};

/// Loss values of one step, by name, in a fixed order per model kind.
pub type Losses = Vec<(&'static str, f32)>;

/// A loss left the finite, bounded range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("loss {loss} is {value}")]
pub struct Divergence {
    pub loss: &'static str,
    pub value: f32,
}

/// The trainable networks of a run and their optimisers.
#[derive(Debug, Clone)]
pub struct Models {
    pub kind: ModelKind,
    pub autoencoder: AutoEncoder,
    pub discriminator: Option<Discriminator>,
    pub opt_autoencoder: Adam,
    pub opt_discriminator: Option<Adam>,
}

/// Adam settings for E + G.
pub fn autoencoder_adam(config: &TrainConfig) -> AdamSettings {
    AdamSettings {
        learning_rate: config.lr_autoencoder,
        beta1: config.adam_beta1,
        beta2: config.adam_beta2,
        epsilon: 1e-8,
    }
}

/// Adam settings for D.
pub fn discriminator_adam(config: &TrainConfig) -> AdamSettings {
    AdamSettings {
        learning_rate: config.lr_discriminator,
        ..autoencoder_adam(config)
    }
}

/// Mean squared difference between the pixel differences (right minus left, lower minus
/// upper) of `a` and `b`, both `[batch, c, s, s]`.
fn edge_mse(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    let diff = a - b;
    let [_, _, h, w] = diff.dims();
    let dx = diff.clone().narrow(3, 1, w - 1) - diff.clone().narrow(3, 0, w - 1);
    let dy = diff.clone().narrow(2, 1, h - 1) - diff.narrow(2, 0, h - 1);
    (dx.square().mean() + dy.square().mean()).mul_scalar(0.5)
}

/// The terms that compare G(E(x)) with x: pixel MSE and, when weighted, the edge term.
struct ReconstructionLoss {
    pixels: Tensor<1>,
    edges: Option<Tensor<1>>,
}

impl ReconstructionLoss {
    fn new(reconstruction: Tensor<4>, images: Tensor<4>, config: &TrainConfig) -> Self {
        let edges =
            (config.edge_weight > 0.0).then(|| edge_mse(reconstruction.clone(), images.clone()));
        Self {
            pixels: (reconstruction - images).square().mean(),
            edges,
        }
    }

    /// Their contribution to E + G's loss.
    fn weighted(&self, config: &TrainConfig) -> Tensor<1> {
        match &self.edges {
            Some(edges) => self.pixels.clone() + edges.clone().mul_scalar(config.edge_weight),
            None => self.pixels.clone(),
        }
    }

    /// Logs the edge term after the step's other losses when it is computed.
    fn log_edges(&self, losses: &mut Losses) {
        if let Some(edges) = &self.edges {
            losses.push(("edges", scalar(edges)));
        }
    }
}

impl Models {
    /// Sets both optimisers' learning rates to the configured ones times `factor`.
    pub fn set_learning_rates(&mut self, config: &TrainConfig, factor: f64) {
        self.opt_autoencoder.settings.learning_rate = config.lr_autoencoder * factor;
        if let Some(opt) = self.opt_discriminator.as_mut() {
            opt.settings.learning_rate = config.lr_discriminator * factor;
        }
    }

    /// Fresh, seeded networks on `device` (an autodiff device for training).
    pub fn new(
        kind: ModelKind,
        model_config: &ModelConfig,
        train_config: &TrainConfig,
        device: &Device,
    ) -> Result<Self, ModelConfigError> {
        let autoencoder = AutoEncoder::new(model_config, train_config.seed, device)?;
        let (discriminator, opt_discriminator) = match kind {
            ModelKind::Gan => (
                Some(crate::model::new_discriminator(
                    model_config,
                    train_config.seed,
                    device,
                )?),
                Some(Adam::new(discriminator_adam(train_config))),
            ),
            ModelKind::AeSom => (None, None),
        };
        Ok(Self {
            kind,
            autoencoder,
            discriminator,
            opt_autoencoder: Adam::new(autoencoder_adam(train_config)),
            opt_discriminator,
        })
    }

    /// One step on `images` (`[batch, c, s, s]` in `[0, 1]`) with latent samples `z_prior`
    /// (`[batch, latent_dim]`, used by the GAN only). Nothing is updated when a loss diverges.
    pub fn step(
        &mut self,
        images: Tensor<4>,
        z_prior: Tensor<2>,
        config: &TrainConfig,
    ) -> Result<Losses, Divergence> {
        match (&self.discriminator, &self.opt_discriminator) {
            (Some(_), Some(_)) => self.gan_step(images, z_prior, config),
            _ => self.autoencoder_step(images, config),
        }
    }

    fn autoencoder_step(
        &mut self,
        images: Tensor<4>,
        config: &TrainConfig,
    ) -> Result<Losses, Divergence> {
        let z = self.autoencoder.encoder.forward(images.clone());
        let reconstruction = self.autoencoder.generator.forward(z.clone());
        let rec = ReconstructionLoss::new(reconstruction, images, config);
        let latent = z.square().mean();
        let total = rec.weighted(config) + latent.clone().mul_scalar(config.latent_weight);
        let mut losses = vec![
            ("total", scalar(&total)),
            ("reconstruction", scalar(&rec.pixels)),
            ("latent", scalar(&latent)),
        ];
        rec.log_edges(&mut losses);
        check(&losses, config.divergence_limit)?;
        let grads = GradientsParams::from_grads(total.backward(), &self.autoencoder);
        self.autoencoder = self.opt_autoencoder.step(self.autoencoder.clone(), grads);
        Ok(losses)
    }

    fn gan_step(
        &mut self,
        images: Tensor<4>,
        z_prior: Tensor<2>,
        config: &TrainConfig,
    ) -> Result<Losses, Divergence> {
        let (Some(discriminator), Some(opt_discriminator)) =
            (self.discriminator.as_mut(), self.opt_discriminator.as_mut())
        else {
            // `step` only calls this with both present.
            return Ok(Vec::new());
        };
        let batch = images.dims()[0];

        // One generator pass for the reconstructions G(E(x)) and the samples G(z).
        let z_code = self.autoencoder.encoder.forward(images.clone());
        let generated = self
            .autoencoder
            .generator
            .forward(Tensor::cat(vec![z_code.clone(), z_prior], 0));
        let reconstruction = generated.clone().narrow(0, 0, batch);
        let sampled = generated.narrow(0, batch, batch);

        // D: real images against detached reconstructions and samples.
        let d_out = discriminator.forward(Tensor::cat(
            vec![
                images.clone(),
                reconstruction.clone().detach(),
                sampled.clone().detach(),
            ],
            0,
        ));
        let real_logit = d_out.logit.clone().narrow(0, 0, batch);
        let fake_logit = d_out.logit.narrow(0, batch, 2 * batch);
        let real_features = d_out.features.narrow(0, 0, batch).detach();
        let d_loss = softplus(real_logit.neg(), 1.0).mean() + softplus(fake_logit, 1.0).mean();

        // E + G, judged by the same D through a copy whose weights take no gradient: one
        // backward of `d_loss + total` then gives D the gradient of `d_loss` only (its inputs
        // are detached) and E + G the gradient of `total` only (the copy's weights are constants).
        let judge = discriminator.clone().no_grad();
        let out = judge.forward(Tensor::cat(vec![reconstruction.clone(), sampled], 0));
        let recon_features = out.features.narrow(0, 0, batch);
        let rec = ReconstructionLoss::new(reconstruction, images, config);
        let features = (recon_features - real_features).square().mean();
        let adversarial = softplus(out.logit.neg(), 1.0).mean();
        let latent = z_code.square().mean();
        let total = rec.weighted(config)
            + features.clone().mul_scalar(config.kappa)
            + adversarial.clone().mul_scalar(config.adversarial_weight)
            + latent.clone().mul_scalar(config.latent_weight);
        let mut losses = vec![
            ("total", scalar(&total)),
            ("reconstruction", scalar(&rec.pixels)),
            ("features", scalar(&features)),
            ("adversarial", scalar(&adversarial)),
            ("latent", scalar(&latent)),
            ("discriminator", scalar(&d_loss)),
        ];
        rec.log_edges(&mut losses);
        // Apply the updates only once every loss is known to be sound.
        check(&losses, config.divergence_limit)?;

        let mut grads = (d_loss + total).backward();
        let d_grads = GradientsParams::from_module(&mut grads, &*discriminator);
        let ae_grads = GradientsParams::from_module(&mut grads, &self.autoencoder);
        *discriminator = opt_discriminator.step(discriminator.clone(), d_grads);
        self.autoencoder = self
            .opt_autoencoder
            .step(self.autoencoder.clone(), ae_grads);
        Ok(losses)
    }
}

fn scalar(t: &Tensor<1>) -> f32 {
    t.clone().into_scalar::<f32>()
}

/// Divergence guard: every loss must be finite and at most `limit`.
pub fn check(losses: &[(&'static str, f32)], limit: f64) -> Result<(), Divergence> {
    for &(loss, value) in losses {
        if !value.is_finite() || f64::from(value) > limit {
            return Err(Divergence { loss, value });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::edge_mse;

    fn image(values: Vec<f32>, size: usize) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, [1, 1, size, size]), &Device::flex())
    }

    #[test]
    fn edge_term_sees_outlines_not_brightness() {
        let size = 8;
        // A bright 2×2 square on black, the same square one pixel to the right, and the first
        // image made uniformly brighter.
        let square = |left: usize| {
            (0..size * size)
                .map(|i| {
                    let (y, x) = (i / size, i % size);
                    if (3..5).contains(&y) && (left..left + 2).contains(&x) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect::<Vec<f32>>()
        };
        let a = square(2);
        let shifted = square(3);
        let brighter: Vec<f32> = a.iter().map(|v| v + 0.25).collect();
        let value = |x: Vec<f32>, y: Vec<f32>| {
            edge_mse(image(x, size), image(y, size)).into_scalar::<f32>()
        };
        assert_eq!(value(a.clone(), a.clone()), 0.0);
        assert!(value(a.clone(), brighter).abs() < 1e-6);
        assert!(value(a, shifted) > 0.05);
    }
}
