//! Spectrally normalised layers for the discriminator (Miyato et al. 2018).
//!
//! burn 0.22 has no spectral norm, and its autodiff is first-order only, so WGAN-GP's gradient
//! penalty (a gradient of a gradient) cannot be built. Dividing each weight matrix by its largest
//! singular value bounds D's Lipschitz constant without a second backward pass. σ is estimated by
//! one power iteration per training forward pass, carrying the left singular vector `u` across
//! steps as running state (saved in checkpoints, never trained).

use burn::module::{Module, Param, RunningState};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

/// Small constant that keeps normalisations finite when a vector is (near) zero.
const EPS: f64 = 1e-12;

/// A 2-D convolution whose kernel is divided by its spectral norm.
#[derive(Module, Debug)]
pub struct SnConv2d {
    /// Kernel `[out, in, k, k]`.
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    /// Power-iteration estimate of the leading left singular vector, `[out]`.
    pub u: RunningState<Tensor<1>>,
    pub stride: usize,
    pub padding: usize,
}

impl SnConv2d {
    /// A `kernel`×`kernel` convolution; the seeded initialiser sets the values afterwards.
    pub fn new(
        channels_in: usize,
        channels_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        device: &Device,
    ) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::zeros(
                [channels_out, channels_in, kernel, kernel],
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([channels_out], device)),
            u: RunningState::new(Tensor::ones([channels_out], device)),
            stride,
            padding,
        }
    }

    /// `[batch, in, h, w]` → `[batch, out, h', w']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let weight = self.weight.val();
        let [out, cin, kh, kw] = weight.dims();
        let sigma = spectral_norm(weight.clone().reshape([out, cin * kh * kw]), &self.u);
        let weight = weight.div(sigma.reshape([1, 1, 1, 1]));
        conv2d(
            x,
            weight,
            Some(self.bias.val()),
            ConvOptions::new(
                [self.stride, self.stride],
                [self.padding, self.padding],
                [1, 1],
                1,
            ),
        )
    }
}

/// A linear layer whose weight is divided by its spectral norm.
#[derive(Module, Debug)]
pub struct SnLinear {
    /// Weight `[out, in]`.
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    /// Power-iteration estimate of the leading left singular vector, `[out]`.
    pub u: RunningState<Tensor<1>>,
}

impl SnLinear {
    pub fn new(d_in: usize, d_out: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::zeros([d_out, d_in], device)),
            bias: Param::from_tensor(Tensor::zeros([d_out], device)),
            u: RunningState::new(Tensor::ones([d_out], device)),
        }
    }

    /// `[batch, in]` → `[batch, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let weight = self.weight.val();
        let [out, _] = weight.dims();
        let sigma = spectral_norm(weight.clone(), &self.u);
        let weight = weight.div(sigma);
        x.matmul(weight.transpose()) + self.bias.val().reshape([1, out])
    }
}

/// σ(W) as a `[1, 1]` tensor, differentiable in `w` (`[out, n]`); `u` and `v` are constants.
///
/// On an autodiff device one power-iteration step refines `u` and stores it; in inference the
/// stored `u` is used as is, so a saved and reloaded model gives identical outputs.
fn spectral_norm(w: Tensor<2>, u_state: &RunningState<Tensor<1>>) -> Tensor<2> {
    let [out, _] = w.dims();
    let device = w.device();
    let training = device.is_autodiff();
    let w_const = w.clone().detach();
    let u = if training {
        u_state.value_sync()
    } else {
        u_state.value()
    }
    .to_device(&device)
    .reshape([out, 1]);
    let v = unit(w_const.clone().transpose().matmul(u.clone()));
    let u = if training {
        let refined = unit(w_const.matmul(v.clone()));
        u_state.update(refined.clone().reshape([out]).detach());
        refined
    } else {
        u
    };
    u.transpose().matmul(w.matmul(v))
}

/// `t / ‖t‖` for a column vector `[n, 1]`.
fn unit(t: Tensor<2>) -> Tensor<2> {
    let norm = t.clone().square().sum().sqrt().add_scalar(EPS);
    t.div(norm.reshape([1, 1]))
}
