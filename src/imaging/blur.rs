//! The separable Gaussian blur: the camera's blur in rendered datasets and the smoothing of
//! anomaly maps. Rendered datasets must stay byte-identical, so the order in which each output
//! sums its taps is fixed (a test holds it to the plain clamped sum).

/// The normalised 1-D Gaussian taps for `sigma`, out to 3σ, and their radius.
fn gaussian_kernel(sigma: f32) -> (isize, Vec<f32>) {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    (radius, kernel.iter().map(|k| k / total).collect())
}

/// Separable Gaussian blur of a `size × size` image with clamped borders.
pub fn gaussian_blur(img: &[f32], size: usize, sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 || size == 0 {
        return img.to_vec();
    }
    let (radius, kernel) = gaussian_kernel(sigma);
    // Each output sums its taps in kernel order, clamping at the border; interior pixels skip
    // the clamp. The order is the same everywhere, so the result does not depend on the path.
    let r = radius as usize;
    let last = size - 1;
    let horizontal = |src: &[f32]| -> Vec<f32> {
        let mut dst = vec![0.0; src.len()];
        for (row_in, row_out) in src.chunks_exact(size).zip(dst.chunks_exact_mut(size)) {
            for (x, out) in row_out.iter_mut().enumerate() {
                let mut acc = 0.0;
                if x >= r && x + r <= last {
                    for (w, v) in kernel.iter().zip(&row_in[x - r..=x + r]) {
                        acc += w * v;
                    }
                } else {
                    for (k, w) in kernel.iter().enumerate() {
                        let sx = (x as isize + k as isize - radius).clamp(0, last as isize);
                        acc += w * row_in[sx as usize];
                    }
                }
                *out = acc;
            }
        }
        dst
    };
    let vertical = |src: &[f32]| -> Vec<f32> {
        let mut dst = vec![0.0f32; src.len()];
        for (y, row_out) in dst.chunks_exact_mut(size).enumerate() {
            for (k, w) in kernel.iter().enumerate() {
                let sy = (y as isize + k as isize - radius).clamp(0, last as isize) as usize;
                let row_in = &src[sy * size..(sy + 1) * size];
                for (out, v) in row_out.iter_mut().zip(row_in) {
                    *out += w * v;
                }
            }
        }
        dst
    };
    vertical(&horizontal(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blur as first written: every tap clamped, taps summed in kernel order.
    fn reference_blur(img: &[f32], size: usize, sigma: f32) -> Vec<f32> {
        let (radius, kernel) = gaussian_kernel(sigma);
        let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
            let mut dst = vec![0.0; src.len()];
            for y in 0..size {
                for x in 0..size {
                    let mut acc = 0.0;
                    for (k, w) in kernel.iter().enumerate() {
                        let o = k as isize - radius;
                        let c = |v: usize| (v as isize + o).clamp(0, size as isize - 1) as usize;
                        let (sx, sy) = if horizontal { (c(x), y) } else { (x, c(y)) };
                        acc += w * src[sy * size + sx];
                    }
                    dst[y * size + x] = acc;
                }
            }
            dst
        };
        pass(&pass(img, true), false)
    }

    #[test]
    fn blur_is_bit_identical_to_the_plain_clamped_sum() {
        // Rendered datasets must not change when the blur gets faster.
        for (size, sigma) in [
            (1, 1.0),
            (3, 1.5),
            (8, 0.6),
            (17, 1.5),
            (64, 1.0),
            (64, 2.3),
        ] {
            let img: Vec<f32> = (0..size * size)
                .map(|i| ((i * 7919) % 257) as f32 / 256.0)
                .collect();
            let fast = gaussian_blur(&img, size, sigma);
            let slow = reference_blur(&img, size, sigma);
            assert!(
                fast.iter()
                    .zip(&slow)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "size {size}, sigma {sigma}"
            );
        }
    }

    #[test]
    fn blur_keeps_the_mean_and_spreads_a_point() {
        let size = 9;
        let mut img = vec![0.0; size * size];
        img[4 * size + 4] = 81.0;
        let out = gaussian_blur(&img, size, 1.0);
        let sum: f32 = out.iter().sum();
        assert!((sum - 81.0).abs() < 1e-3, "{sum}");
        assert!(out[4 * size + 4] < 81.0 && out[4 * size + 5] > 0.0);
        assert!(out[4 * size + 5] < out[4 * size + 4]);
    }
}
