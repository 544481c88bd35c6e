//! The images inspection writes for one image: the heatmap overlay (the colouring of
//! [`crate::imaging::heat`], regions boxed), the map and the mask of the kept regions, as PNG.
//! The result lines (table, JSON, CSV) are the command line's: see `cli::inspect`.

use std::path::{Path, PathBuf};

use super::model::InspectError;
use super::pipeline::ImageReport;
use crate::imaging::{DEFAULT_OPACITY, heat_overlay, heat_scale};

/// Files written for one image.
#[derive(Debug, Clone)]
pub struct WrittenImages {
    pub overlay: PathBuf,
    pub map: PathBuf,
    pub mask: PathBuf,
}

/// Writes `<stem>_overlay.png` (the image with the map in the heat palette, regions boxed in
/// yellow), `<stem>_map.png` (the map, 255 at twice the pixel threshold) and `<stem>_mask.png`
/// (0/255, the kept regions) into `out`.
pub fn write_images(
    report: &ImageReport,
    size: usize,
    channels: usize,
    pixel_threshold: f32,
    out: &Path,
    stem: &str,
) -> Result<WrittenImages, InspectError> {
    let scale = heat_scale(&report.map, pixel_threshold);
    let heat: Vec<f32> = report
        .map
        .iter()
        .map(|v| (v / scale).clamp(0.0, 1.0))
        .collect();
    let side = size as u32;
    let overlay = image::RgbImage::from_raw(
        side,
        side,
        heat_overlay(
            &report.image,
            &report.map,
            size,
            channels,
            scale,
            DEFAULT_OPACITY,
        ),
    );
    let written = WrittenImages {
        overlay: out.join(format!("{stem}_overlay.png")),
        map: out.join(format!("{stem}_map.png")),
        mask: out.join(format!("{stem}_mask.png")),
    };
    let bad_size = |path: &Path| InspectError::Write {
        path: path.to_path_buf(),
        message: "map size does not match the image size".into(),
    };
    let mut overlay = overlay.ok_or_else(|| bad_size(&written.overlay))?;
    for region in &report.regions {
        let [x0, y0, x1, y1] = region.bbox.map(|v| v as u32);
        for x in x0..=x1 {
            overlay.put_pixel(x, y0, image::Rgb([255, 255, 0]));
            overlay.put_pixel(x, y1, image::Rgb([255, 255, 0]));
        }
        for y in y0..=y1 {
            overlay.put_pixel(x0, y, image::Rgb([255, 255, 0]));
            overlay.put_pixel(x1, y, image::Rgb([255, 255, 0]));
        }
    }
    let map = image::GrayImage::from_raw(
        side,
        side,
        heat.iter().map(|h| (h * 255.0).round() as u8).collect(),
    );
    let mask = image::GrayImage::from_raw(
        side,
        side,
        report
            .mask
            .iter()
            .map(|&m| if m > 0 { 255 } else { 0 })
            .collect(),
    );
    let save = |path: &Path, result: image::ImageResult<()>| {
        result.map_err(|e| InspectError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    save(&written.overlay, overlay.save(&written.overlay))?;
    let map = map.ok_or_else(|| bad_size(&written.map))?;
    save(&written.map, map.save(&written.map))?;
    let mask = mask.ok_or_else(|| bad_size(&written.mask))?;
    save(&written.mask, mask.save(&written.mask))?;
    Ok(written)
}
