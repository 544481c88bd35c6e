//! Latent descent: for each image x, search the generator's latent space for the z whose
//! G(z) is the good product closest to x.
//!
//! Loss (AnoGAN, Schlegl et al. 2017, with means instead of sums so λ does not depend on the
//! image size): `L(z) = (1−λ)·mean|x − G(z)| + λ·mean|f(x) − f(G(z))|`, f = D's last feature
//! map. Only z moves; E, G and D are frozen constants in inference mode.
//!
//! Many images descend together, each with its own z, its own Adam moments and its own
//! stopping point; a finished image leaves the batch, so the rest run on a smaller tensor.
//! An image stops when its best loss improved by less than `tolerance` (relative) over the last
//! `patience` iterations, when its best loss reaches `target_loss` (the level of a typical good
//! image, fitted by calibration: such an image is already explained, so good parts exit at
//! once), or at `max_iterations`. The result is the best z seen, not the last, with the G(z)
//! computed when it was evaluated (no extra generator pass).
//!
//! [`descend_budgets`] also returns what smaller budgets would have given, from the same run:
//! an image's path does not depend on the budget, only where it is cut.

use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::model::{InspectModel, to_vec};
use crate::rng::Rng;

/// Where the descent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum StartMode {
    /// z₀ = E(x): one encoder pass puts the search next to the answer (f-AnoGAN's start).
    #[default]
    Encoder,
    /// z₀ ~ N(0, I) drawn from `seed`, the same draw for every image (AnoGAN's start).
    Seed { seed: u64 },
}

/// How the descent runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescentConfig {
    pub start: StartMode,
    /// Weight λ of the feature term (AnoGAN's 0.1).
    pub lambda: f32,
    /// Adam step size on z.
    pub learning_rate: f32,
    pub beta1: f32,
    pub beta2: f32,
    /// Upper bound on Adam updates per image; 0 scores z₀ as is (one pass, f-AnoGAN style).
    pub max_iterations: usize,
    /// Iterations over which the loss must improve by `tolerance` to keep going.
    pub patience: usize,
    /// Relative improvement of the best loss over `patience` iterations below which an image
    /// stops.
    pub tolerance: f32,
    /// An image stops as soon as its best loss is at or below this level. Calibration fits it
    /// from the good validation images' L(z₀); `None` turns the rule off.
    #[serde(default)]
    pub target_loss: Option<f32>,
    /// Images per descent batch.
    pub batch_size: usize,
    /// Wall-clock limit of one descent batch, in milliseconds: images still descending when it
    /// passes stop and are marked [`DescentResult::timed_out`] (inspection then says `error`).
    /// A run-time guard, not a scoring setting: never stored with a calibration.
    #[serde(skip)]
    pub time_limit_ms: Option<u64>,
    /// Whether a descent that takes no step (`max_iterations` 0) still evaluates L(z₀). Off,
    /// it runs only E and G: the discriminator, half the forward passes, is skipped, and
    /// `loss` and `initial_loss` are NaN (unless a trace is asked for, whose frames show it). For callers whose score does not use the loss
    /// (inspection at a budget of 0 with a map-based score). A run-time choice, never stored.
    #[serde(skip)]
    pub loss_without_steps: bool,
}

impl Default for DescentConfig {
    fn default() -> Self {
        Self {
            start: StartMode::Encoder,
            lambda: 0.1,
            learning_rate: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            max_iterations: 50,
            patience: 4,
            tolerance: 0.02,
            target_loss: None,
            batch_size: 64,
            time_limit_ms: None,
            loss_without_steps: true,
        }
    }
}

/// Most descent iterations per image a command or a calibration may ask for.
pub const MAX_ITERATIONS: usize = 10_000;
/// Most images per descent batch.
pub const MAX_BATCH_SIZE: usize = 4096;

impl DescentConfig {
    /// Checks every setting is finite and in range (a NaN λ would otherwise turn every loss
    /// into NaN, and thresholds refit with it into nonsense).
    pub fn validate(&self) -> Result<(), String> {
        let real = |name: &str, value: f32, lo: f32, hi: f32| {
            if value.is_finite() && (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be a number from {lo} to {hi}, got {value}"
                ))
            }
        };
        real("lambda", self.lambda, 0.0, 1e4)?;
        real("learning_rate", self.learning_rate, 0.0, 100.0)?;
        real("beta1", self.beta1, 0.0, 0.9999)?;
        real("beta2", self.beta2, 0.0, 0.9999)?;
        real("tolerance", self.tolerance, 0.0, 1.0)?;
        if let Some(target) = self.target_loss {
            real("target_loss", target, 0.0, 1e9)?;
        }
        if self.max_iterations > MAX_ITERATIONS {
            return Err(format!(
                "max_iterations must be at most {MAX_ITERATIONS}, got {}",
                self.max_iterations
            ));
        }
        if self.patience > MAX_ITERATIONS {
            return Err(format!(
                "patience must be at most {MAX_ITERATIONS}, got {}",
                self.patience
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(format!(
                "batch_size must be 1 to {MAX_BATCH_SIZE}, got {}",
                self.batch_size
            ));
        }
        Ok(())
    }
}

/// The outcome for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct DescentResult {
    /// The best code found, `latent_dim` values.
    pub z: Vec<f32>,
    /// L(z*).
    pub loss: f32,
    /// L(z₀).
    pub initial_loss: f32,
    /// Adam updates taken before the image stopped.
    pub iterations: usize,
    /// G(z*), `channels · size²` values in `[0, 1]`.
    pub reconstruction: Vec<f32>,
    /// L at every evaluated point, z₀ first.
    pub losses: Vec<f32>,
    /// The time limit passed before the image finished: its result is incomplete.
    pub timed_out: bool,
}

/// One iteration of one image, for a UI to play the descent back. Only built when a trace
/// callback is given.
#[derive(Debug)]
pub struct TraceFrame<'a> {
    /// Index of the image in the slice passed to [`descend`].
    pub image: usize,
    /// 0 is z₀.
    pub iteration: usize,
    pub loss: f32,
    pub z: &'a [f32],
    /// G(z), `channels · size²` values.
    pub reconstruction: &'a [f32],
    /// Channel-mean |x − G(z)| before smoothing, `size²` values.
    pub residual: Vec<f32>,
}

/// Called once per image per iteration.
pub type TraceFn<'a> = dyn FnMut(&TraceFrame<'_>) + 'a;

/// Descends `count` flat images (`channels · size²` values each, in `[0, 1]`).
pub fn descend(
    model: &InspectModel,
    images: &[f32],
    count: usize,
    config: &DescentConfig,
    trace: Option<&mut TraceFn<'_>>,
) -> Vec<DescentResult> {
    descend_budgets(model, images, count, config, &[], trace)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// Like [`descend`], and also the results the smaller `budgets` would have given, from the same
/// run: element `j` of the answer holds the results at `budgets[j]` (capped at
/// `config.max_iterations`); the last element holds the results at `config.max_iterations`.
pub fn descend_budgets(
    model: &InspectModel,
    images: &[f32],
    count: usize,
    config: &DescentConfig,
    budgets: &[usize],
    mut trace: Option<&mut TraceFn<'_>>,
) -> Vec<Vec<DescentResult>> {
    let image_len = model.config.image_len();
    let batch = config.batch_size.max(1);
    let mut results: Vec<Vec<DescentResult>> = vec![Vec::with_capacity(count); budgets.len() + 1];
    let mut first = 0;
    while first < count {
        let n = batch.min(count - first);
        let chunk = &images[first * image_len..(first + n) * image_len];
        let parts = descend_batch(
            model,
            chunk,
            n,
            first,
            config,
            budgets,
            trace.as_deref_mut(),
        );
        for (all, part) in results.iter_mut().zip(parts) {
            all.extend(part);
        }
        first += n;
    }
    results
}

/// Per-image state of a running descent.
struct Track {
    z: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    best_z: Vec<f32>,
    best_loss: f32,
    /// G(best_z), kept from the evaluation that found it.
    best_reconstruction: Vec<f32>,
    losses: Vec<f32>,
    iterations: usize,
    timed_out: bool,
    /// The state when a smaller budget was reached, one slot per budget.
    snapshots: Vec<Option<Snapshot>>,
}

/// What an image's result would be had its budget ended at `iterations`.
struct Snapshot {
    z: Vec<f32>,
    loss: f32,
    reconstruction: Vec<f32>,
    iterations: usize,
    evaluated: usize,
}

impl Track {
    /// A descent starting at `z`, with a slot for each of `budgets` smaller budgets.
    fn new(z: Vec<f32>, budgets: usize) -> Self {
        let latent = z.len();
        Self {
            best_z: z.clone(),
            z,
            m: vec![0.0; latent],
            v: vec![0.0; latent],
            best_loss: f32::INFINITY,
            best_reconstruction: Vec::new(),
            losses: Vec::new(),
            iterations: 0,
            timed_out: false,
            snapshots: (0..budgets).map(|_| None).collect(),
        }
    }

    /// Records the evaluation of `iteration` (its loss and G(z)): keeps the best point, takes
    /// the snapshot of a smaller budget that ends here, and says whether to go on.
    fn record(
        &mut self,
        value: f32,
        reconstruction: &[f32],
        iteration: usize,
        budgets: &[usize],
        config: &DescentConfig,
    ) -> bool {
        self.losses.push(value);
        if value < self.best_loss || self.best_reconstruction.is_empty() {
            // The first evaluation is kept even when its loss is not finite, so every result
            // has a reconstruction (of z₀ then).
            if value < self.best_loss {
                self.best_loss = value;
            }
            self.best_z.clone_from(&self.z);
            self.best_reconstruction.clear();
            self.best_reconstruction.extend_from_slice(reconstruction);
        }
        self.iterations = iteration;
        for (slot, _) in self
            .snapshots
            .iter_mut()
            .zip(budgets)
            .filter(|&(_, &b)| b == iteration && b < config.max_iterations)
        {
            *slot = Some(Snapshot {
                z: self.best_z.clone(),
                loss: self.best_loss,
                reconstruction: self.best_reconstruction.clone(),
                iterations: iteration,
                evaluated: self.losses.len(),
            });
        }
        // A non-finite loss cannot be descended further; the caller sees it in `loss`.
        let stop = iteration == config.max_iterations
            || !value.is_finite()
            || config.target_loss.is_some_and(|t| self.best_loss <= t)
            || stalled(&self.losses, config.patience, config.tolerance);
        !stop
    }

    /// One Adam update of z with `gradient`, the `t`-th (from 1).
    fn adam_step(&mut self, gradient: &[f32], t: i32, config: &DescentConfig) {
        let (b1, b2) = (config.beta1, config.beta2);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let Track { z, m, v, .. } = self;
        for (((z, m), v), g) in z
            .iter_mut()
            .zip(m.iter_mut())
            .zip(v.iter_mut())
            .zip(gradient)
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *z -= config.learning_rate * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }

    fn result(&self, snapshot: Option<&Snapshot>) -> DescentResult {
        let finite = |loss: f32| if loss.is_finite() { loss } else { f32::NAN };
        let initial_loss = self.losses.first().copied().unwrap_or(f32::NAN);
        match snapshot {
            Some(s) => DescentResult {
                z: s.z.clone(),
                loss: finite(s.loss),
                initial_loss,
                iterations: s.iterations,
                reconstruction: s.reconstruction.clone(),
                losses: self.losses[..s.evaluated].to_vec(),
                timed_out: false,
            },
            None => DescentResult {
                z: self.best_z.clone(),
                loss: finite(self.best_loss),
                initial_loss,
                iterations: self.iterations,
                reconstruction: self.best_reconstruction.clone(),
                losses: self.losses.clone(),
                timed_out: self.timed_out,
            },
        }
    }
}

/// z₀ of `n` images: E(x), or the same seeded draw for every image.
fn start_codes(model: &InspectModel, images: &[f32], n: usize, start: StartMode) -> Vec<f32> {
    let latent = model.latent_dim();
    match start {
        StartMode::Encoder => model.encode(images, n),
        StartMode::Seed { seed } => {
            let draw = Rng::for_stream(seed, "descent-start").normals_f32(latent);
            draw.iter().copied().cycle().take(n * latent).collect()
        }
    }
}

/// L(z) per image (`[k, 1]`) of the `k` images `x` against their G(z) `generated`: the pixel
/// term, plus the feature term when D and f(x) are there.
fn descent_loss(
    model: &InspectModel,
    x: &Tensor<4>,
    fx: Option<&Tensor<4>>,
    generated: Tensor<4>,
    lambda: f32,
) -> Tensor<2> {
    let k = x.dims()[0];
    let image_len = model.config.image_len();
    let pixel = (x.clone() - generated.clone())
        .abs()
        .reshape([k, image_len])
        .mean_dim(1);
    match (&model.discriminator, fx) {
        (Some(d), Some(fx)) => {
            let fg = d.forward(generated).features;
            let [_, c, h, w] = fg.dims();
            let feature = (fx.clone() - fg).abs().reshape([k, c * h * w]).mean_dim(1);
            pixel.mul_scalar(1.0 - lambda) + feature.mul_scalar(lambda)
        }
        _ => pixel,
    }
}

/// Descends one batch of `n` images (`offset` is the first one's index, for the trace).
fn descend_batch(
    model: &InspectModel,
    images: &[f32],
    n: usize,
    offset: usize,
    config: &DescentConfig,
    budgets: &[usize],
    mut trace: Option<&mut TraceFn<'_>>,
) -> Vec<Vec<DescentResult>> {
    let started = std::time::Instant::now();
    let device = &model.device;
    let grad_device = device.clone().autodiff();
    let latent = model.latent_dim();
    let image_len = model.config.image_len();
    let pixels = model.image_size() * model.image_size();
    // Without a step to take and without a caller for L(z₀), only G(E(x)) is made.
    let skip_loss = config.max_iterations == 0 && !config.loss_without_steps && trace.is_none();
    let mut x = model.images_tensor(images, n, device);
    // f(x) does not depend on z: computed once.
    let mut fx = model
        .discriminator
        .as_ref()
        .filter(|_| config.lambda > 0.0 && !skip_loss)
        .map(|d| d.forward(x.clone()).features);

    let z0 = start_codes(model, images, n, config.start);
    let mut tracks: Vec<Track> = z0
        .chunks_exact(latent)
        .map(|z| Track::new(z.to_vec(), budgets.len()))
        .collect();
    let mut active: Vec<usize> = (0..n).collect();
    for iteration in 0..=config.max_iterations {
        let k = active.len();
        let z_values: Vec<f32> = active
            .iter()
            .flat_map(|&i| tracks[i].z.iter().copied())
            .collect();
        // The last evaluation takes no step: computed without autodiff, since a recorded graph
        // that is never consumed by `backward` is never freed (burn keeps it).
        let last = iteration == config.max_iterations;
        let z_data = TensorData::new(z_values, [k, latent]);
        let z = if last {
            Tensor::<2>::from_data(z_data, device)
        } else {
            Tensor::<2>::from_data(z_data, &grad_device).require_grad()
        };
        let generated = model.generator.forward(z.clone());
        if skip_loss {
            let recon = to_vec(generated.inner());
            for (row, &i) in active.iter().enumerate() {
                let track = &mut tracks[i];
                track.losses.push(f32::NAN);
                track.best_reconstruction = recon[row * image_len..(row + 1) * image_len].to_vec();
            }
            break;
        }
        let loss = descent_loss(model, &x, fx.as_ref(), generated.clone(), config.lambda);
        let loss_values = to_vec(loss.clone().inner());
        let recon = to_vec(generated.inner());

        if let Some(trace) = trace.as_deref_mut() {
            for (row, &i) in active.iter().enumerate() {
                let reconstruction = &recon[row * image_len..(row + 1) * image_len];
                let residual = super::score::residual(
                    &images[i * image_len..(i + 1) * image_len],
                    reconstruction,
                    pixels,
                );
                trace(&TraceFrame {
                    image: offset + i,
                    iteration,
                    loss: loss_values[row],
                    z: &tracks[i].z,
                    reconstruction,
                    residual,
                });
            }
        }

        let mut still_active = Vec::with_capacity(k);
        for (row, &i) in active.iter().enumerate() {
            let reconstruction = &recon[row * image_len..(row + 1) * image_len];
            if tracks[i].record(loss_values[row], reconstruction, iteration, budgets, config) {
                still_active.push(row);
            }
        }
        if config
            .time_limit_ms
            .is_some_and(|limit| started.elapsed().as_millis() >= u128::from(limit))
        {
            for &row in &still_active {
                tracks[active[row]].timed_out = true;
            }
            still_active.clear();
        }
        if still_active.is_empty() {
            if !last {
                // Every image stopped before its budget: consume the recorded graph, which
                // burn would otherwise keep for the life of the process.
                let _ = loss.sum().backward();
            }
            break;
        }

        let grads = loss.sum().backward();
        let Some(gradient) = z.grad(&grads) else {
            // Cannot happen: z requires grad and the loss depends on it. Stop rather than loop.
            break;
        };
        let gradient = to_vec(gradient);
        let t = (iteration + 1) as i32;
        for &row in &still_active {
            tracks[active[row]].adam_step(&gradient[row * latent..(row + 1) * latent], t, config);
        }
        if still_active.len() != k {
            let rows: Vec<i64> = still_active.iter().map(|&r| r as i64).collect();
            let index =
                Tensor::<1, Int>::from_data(TensorData::new(rows, [still_active.len()]), device);
            x = x.select(0, index.clone());
            fx = fx.map(|f| f.select(0, index));
            active = still_active.iter().map(|&r| active[r]).collect();
        }
    }

    // A budget the image stopped before (or the full one) gets its final result.
    let mut out: Vec<Vec<DescentResult>> = (0..budgets.len())
        .map(|j| {
            tracks
                .iter()
                .map(|t| t.result(t.snapshots[j].as_ref()))
                .collect()
        })
        .collect();
    out.push(tracks.iter().map(|t| t.result(None)).collect());
    out
}

/// Whether the best loss improved by less than `tolerance` (relative) over the last `patience`
/// evaluations.
pub fn stalled(losses: &[f32], patience: usize, tolerance: f32) -> bool {
    let patience = patience.max(1);
    if losses.len() <= patience {
        return false;
    }
    let split = losses.len() - patience;
    let before = losses[..split]
        .iter()
        .copied()
        .fold(f32::INFINITY, f32::min);
    let now = losses.iter().copied().fold(f32::INFINITY, f32::min);
    before - now < tolerance * before.abs()
}

#[cfg(test)]
mod tests {
    use super::stalled;

    #[test]
    fn stops_only_after_patience_without_progress() {
        assert!(!stalled(&[1.0, 0.999], 2, 0.01));
        assert!(stalled(&[1.0, 0.999, 0.998], 2, 0.01));
        assert!(!stalled(&[1.0, 0.9, 0.8], 2, 0.01));
        // A worse loss counts as no progress.
        assert!(stalled(&[1.0, 1.2, 1.1], 2, 0.01));
    }
}
