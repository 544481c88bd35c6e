//! Reconstruction grids: inputs on the top row, G(E(x)) below, for the eye and for the GUI.

use std::path::Path;

/// Gap between tiles in pixels.
const GAP: usize = 2;
/// Gap colour (mid grey, so it separates both dark and bright images).
const GAP_VALUE: u8 = 128;

/// An 8-bit image, channel-interleaved (`L8` or `RGB8`).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleGrid {
    pub step: u64,
    pub width: usize,
    pub height: usize,
    /// 1 or 3.
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl SampleGrid {
    /// Lays out `inputs` over `reconstructions`, both `count` channel-major images in `[0, 1]`.
    pub fn from_pairs(
        step: u64,
        inputs: &[f32],
        reconstructions: &[f32],
        count: usize,
        channels: usize,
        size: usize,
    ) -> Self {
        let width = count * size + (count.saturating_sub(1)) * GAP;
        let height = 2 * size + GAP;
        let mut pixels = vec![GAP_VALUE; width * height * channels];
        let image_len = channels * size * size;
        for (row, source) in [inputs, reconstructions].into_iter().enumerate() {
            for k in 0..count {
                let Some(image) = source.get(k * image_len..(k + 1) * image_len) else {
                    continue;
                };
                let (x0, y0) = (k * (size + GAP), row * (size + GAP));
                for c in 0..channels {
                    for y in 0..size {
                        for x in 0..size {
                            let v = image[c * size * size + y * size + x];
                            pixels[((y0 + y) * width + x0 + x) * channels + c] = to_u8(v);
                        }
                    }
                }
            }
        }
        Self {
            step,
            width,
            height,
            channels,
            pixels,
        }
    }

    /// Writes the grid as a PNG.
    pub fn save_png(&self, path: &Path) -> Result<(), image::ImageError> {
        let color = if self.channels == 3 {
            image::ExtendedColorType::Rgb8
        } else {
            image::ExtendedColorType::L8
        };
        image::save_buffer(
            path,
            &self.pixels,
            self.width as u32,
            self.height as u32,
            color,
        )
    }
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inputs_on_top_reconstructions_below() {
        let size = 2;
        let inputs = vec![1.0; 2 * size * size];
        let recon = vec![0.0; 2 * size * size];
        let grid = SampleGrid::from_pairs(5, &inputs, &recon, 2, 1, size);
        assert_eq!((grid.width, grid.height), (2 * size + GAP, 2 * size + GAP));
        assert_eq!(grid.pixels[0], 255);
        assert_eq!(grid.pixels[(size + GAP) * grid.width], 0);
        assert_eq!(grid.pixels[size], GAP_VALUE);
    }
}
