//! How an image is compared with a render during refinement: an exposure gain and offset
//! solved in closed form, and a robust (Cauchy) loss that a defect cannot pull far, since each
//! pixel's pull on the fit fades once its residual is well above the noise.

/// Gain and offset that map a render onto an image, and what is left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub gain: f32,
    pub bias: f32,
    /// Mean Cauchy loss per pixel (grey levels in [0, 1]).
    pub loss: f32,
}

/// Gains outside this range mean the render does not explain the image at all (an empty
/// render against a bright image): the fit keeps the gain at the nearest bound.
const GAIN_RANGE: (f32, f32) = (0.2, 5.0);
/// Reweighting rounds: the first fit weighs every pixel alike, the next ones by residual.
const REWEIGHTS: usize = 2;

/// Cauchy loss of one residual at scale `c`: ½c²·ln(1 + (r/c)²).
pub fn cauchy(residual: f32, c: f32) -> f32 {
    let u = residual / c;
    0.5 * c * c * (u * u).ln_1p()
}

/// The weight a residual keeps in the next least-squares fit: 1 / (1 + (r/c)²).
pub fn cauchy_weight(residual: f32, c: f32) -> f32 {
    let u = residual / c;
    1.0 / (1.0 + u * u)
}

/// Weighted least squares of `image ≈ gain · render + bias`.
fn weighted_gain_bias(image: &[f32], render: &[f32], weights: Option<&[f32]>) -> (f32, f32) {
    let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (i, (&y, &x)) in image.iter().zip(render).enumerate() {
        let w = f64::from(weights.map_or(1.0, |w| w[i]));
        let (x, y) = (f64::from(x), f64::from(y));
        sw += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    if sw <= 0.0 {
        return (1.0, 0.0);
    }
    let var = sxx - sx * sx / sw;
    if var <= 1e-12 * sw {
        // A flat render (nothing in view): only an offset can be told.
        return (1.0, ((sy - sx) / sw) as f32);
    }
    let gain = ((sxy - sx * sy / sw) / var) as f32;
    let gain = gain.clamp(GAIN_RANGE.0, GAIN_RANGE.1);
    let bias = ((sy - f64::from(gain) * sx) / sw) as f32;
    (gain, bias)
}

/// Fits gain and offset robustly (iteratively reweighted) and returns the fit with its loss.
/// With `fixed` the gain and offset are not fitted but taken as given.
pub fn robust_fit(image: &[f32], render: &[f32], c: f32, fixed: Option<(f32, f32)>) -> Fit {
    let (mut gain, mut bias) = fixed.unwrap_or_else(|| weighted_gain_bias(image, render, None));
    if fixed.is_none() {
        let mut weights = vec![0.0f32; image.len()];
        for _ in 0..REWEIGHTS {
            for ((w, &y), &x) in weights.iter_mut().zip(image).zip(render) {
                *w = cauchy_weight(y - (gain * x + bias), c);
            }
            (gain, bias) = weighted_gain_bias(image, render, Some(&weights));
        }
    }
    let loss = image
        .iter()
        .zip(render)
        .map(|(&y, &x)| cauchy(y - (gain * x + bias), c))
        .sum::<f32>()
        / image.len().max(1) as f32;
    Fit { gain, bias, loss }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_and_offset_are_recovered_exactly_from_a_clean_image() {
        let render: Vec<f32> = (0..100).map(|i| (i as f32 / 99.0).powi(2)).collect();
        let image: Vec<f32> = render.iter().map(|r| 1.3 * r + 0.05).collect();
        let fit = robust_fit(&image, &render, 0.03, None);
        assert!((fit.gain - 1.3).abs() < 1e-4, "{fit:?}");
        assert!((fit.bias - 0.05).abs() < 1e-4, "{fit:?}");
        assert!(fit.loss < 1e-8, "{fit:?}");
    }

    #[test]
    fn a_bright_blob_barely_moves_the_fit() {
        let render: Vec<f32> = (0..400).map(|i| (i % 20) as f32 / 19.0).collect();
        let mut image: Vec<f32> = render.iter().map(|r| 0.9 * r + 0.1).collect();
        // A tenth of the pixels carry a defect far above the noise.
        for v in image.iter_mut().take(40) {
            *v = 1.0;
        }
        let robust = robust_fit(&image, &render, 0.03, None);
        let (plain_gain, _) = weighted_gain_bias(&image, &render, None);
        assert!((robust.gain - 0.9).abs() < 0.02, "{robust:?}");
        assert!((plain_gain - 0.9).abs() > 2.0 * (robust.gain - 0.9).abs());
    }

    #[test]
    fn the_loss_grows_with_the_residual_but_flattens_far_out() {
        let c = 0.05;
        assert_eq!(cauchy(0.0, c), 0.0);
        assert!(cauchy(0.01, c) < cauchy(0.02, c));
        // Quadratic near zero, logarithmic far away.
        assert!((cauchy(0.001, c) - 0.5 * 0.001f32.powi(2)).abs() < 1e-9);
        assert!(cauchy(1.0, c) < 10.0 * cauchy(0.1, c));
    }
}
