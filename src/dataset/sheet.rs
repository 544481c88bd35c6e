//! Contact sheets: a grid of samples per class, with the defect mask outlined, for looking at a
//! dataset at a glance.

use image::{Rgb, RgbImage};

use super::check::{CheckError, Dataset};
use super::layout::{GOOD, Split};

#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error(transparent)]
    Dataset(#[from] CheckError),
    #[error("split {0} has no samples")]
    Empty(Split),
    #[error(
        "a sheet of {columns} columns and {rows} rows of {tile}-pixel tiles would be \
         {width}x{height} pixels, more than the {MAX_SHEET_PIXELS} a sheet may have: show \
         fewer samples per class or scale them less"
    )]
    TooLarge {
        columns: usize,
        rows: usize,
        tile: u64,
        width: u64,
        height: u64,
    },
}

/// Most pixels a contact sheet may have (an 8,192 × 8,192 RGB sheet is 192 MiB).
pub const MAX_SHEET_PIXELS: u64 = 1 << 26;

/// One row per class of `split` (good first), `per_row` samples each, scaled up `scale` times;
/// defect masks are outlined in red.
pub fn contact_sheet(
    dataset: &Dataset,
    split: Split,
    per_row: usize,
    scale: u32,
) -> Result<RgbImage, SheetError> {
    let manifest = &dataset.manifest;
    let mut classes: Vec<&str> = Vec::new();
    let mut most = 0usize;
    for s in manifest.samples_of(split) {
        if !classes.contains(&s.id.class.as_str()) {
            classes.push(&s.id.class);
            let n = manifest
                .samples_of(split)
                .filter(|t| t.id.class == s.id.class)
                .count();
            most = most.max(n);
        }
    }
    classes.sort_by_key(|c| (*c != GOOD, c.to_string()));
    if classes.is_empty() {
        return Err(SheetError::Empty(split));
    }
    // No column is wider than the class with the most samples fills; the size is counted
    // without overflow and bounded before the sheet is allocated.
    let columns = per_row.min(most).max(1);
    let gap = 2u64;
    let tile = u64::from(manifest.image.size) * u64::from(scale.max(1));
    let side = |n: usize| (n as u64).saturating_mul(tile + gap).saturating_add(gap);
    let (width, height) = (side(columns), side(classes.len()));
    if width.saturating_mul(height) > MAX_SHEET_PIXELS {
        return Err(SheetError::TooLarge {
            columns,
            rows: classes.len(),
            tile,
            width,
            height,
        });
    }
    let (tile, gap) = (tile as u32, gap as u32);
    let scale = scale.max(1);
    let mut sheet = RgbImage::from_pixel(width as u32, height as u32, Rgb([40, 40, 48]));
    for (row, class) in classes.iter().enumerate() {
        let samples = manifest
            .samples_of(split)
            .filter(|s| s.id.class == *class)
            .take(columns);
        for (col, s) in samples.enumerate() {
            let img = dataset.image(s)?.0.to_luma8();
            let mask = dataset.mask(s)?.map(|(m, _)| m.to_luma8());
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
