//! Contact sheets: a grid of samples per class, with the defect mask outlined, for looking at a
//! dataset at a glance.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::layout::{GOOD, Split};
use super::manifest::Manifest;
use crate::imaging::{ImageError, decode_image};

#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("split {0} has no samples")]
    Empty(Split),
}

/// One row per class of `split` (good first), `per_row` samples each, scaled up `scale` times;
/// defect masks are outlined in red.
pub fn contact_sheet(
    manifest: &Manifest,
    root: &Path,
    split: Split,
    per_row: usize,
    scale: u32,
) -> Result<RgbImage, SheetError> {
    let mut classes: Vec<&str> = Vec::new();
    for s in manifest.samples_of(split) {
        if !classes.contains(&s.id.class.as_str()) {
            classes.push(&s.id.class);
        }
    }
    classes.sort_by_key(|c| (*c != GOOD, c.to_string()));
    if classes.is_empty() {
        return Err(SheetError::Empty(split));
    }
    let tile = manifest.image.size * scale;
    let gap = 2;
    let mut sheet = RgbImage::from_pixel(
        per_row as u32 * (tile + gap) + gap,
        classes.len() as u32 * (tile + gap) + gap,
        Rgb([40, 40, 48]),
    );
    let read = |rel: &str| decode_image(&root.join(rel));
    for (row, class) in classes.iter().enumerate() {
        let samples = manifest
            .samples_of(split)
            .filter(|s| s.id.class == *class)
            .take(per_row);
        for (col, s) in samples.enumerate() {
            let img = read(&s.image)?.to_luma8();
            let mask = match &s.mask {
                Some(m) => Some(read(m)?.to_luma8()),
                None => None,
            };
            let (x0, y0) = (
                gap + col as u32 * (tile + gap),
                gap + row as u32 * (tile + gap),
            );
            let size = manifest.image.size;
            let on = |x: i64, y: i64| {
                mask.as_ref().is_some_and(|m| {
                    x >= 0
                        && y >= 0
                        && x < i64::from(size)
                        && y < i64::from(size)
                        && m.get_pixel(x as u32, y as u32).0[0] != 0
                })
            };
            for y in 0..tile {
                for x in 0..tile {
                    let (sx, sy) = (x / scale, y / scale);
                    let v = img.get_pixel(sx, sy).0[0];
                    // Outline: a masked pixel with an unmasked neighbour, drawn on its border.
                    let (ix, iy) = (i64::from(sx), i64::from(sy));
                    let edge_x = x % scale == 0 && on(ix, iy) != on(ix - 1, iy)
                        || x % scale == scale - 1 && on(ix, iy) != on(ix + 1, iy);
                    let edge_y = y % scale == 0 && on(ix, iy) != on(ix, iy - 1)
                        || y % scale == scale - 1 && on(ix, iy) != on(ix, iy + 1);
                    let px = if (edge_x || edge_y) && on(ix, iy) {
                        Rgb([255, 40, 40])
                    } else {
                        Rgb([v, v, v])
                    };
                    sheet.put_pixel(x0 + x, y0 + y, px);
                }
            }
        }
    }
    Ok(sheet)
}
