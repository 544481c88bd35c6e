//! What inspection writes: heatmap overlays (the colouring of [`crate::imaging::heat`], regions
//! boxed), maps and masks as PNG, and one result line per image as a table row, a JSON object
//! (JSON Lines) or a CSV row.

use std::path::{Path, PathBuf};

use super::calibration::Verdict;
use super::localise::Region;
use super::model::InspectError;
use super::pipeline::ImageReport;
use crate::imaging::{DEFAULT_OPACITY, heat_overlay, heat_scale};

/// How result lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Csv,
}

/// The header line of `format`, if it has one.
pub fn header(format: OutputFormat) -> Option<String> {
    match format {
        OutputFormat::Table => Some(format!(
            "{:<7} {:>9} {:>5} {:>8}  {:<40} regions",
            "verdict", "score", "iters", "ms", "image"
        )),
        OutputFormat::Csv => {
            Some("image,verdict,score,score_kind,iterations,time_ms,regions,error".to_string())
        }
        OutputFormat::Json => None,
    }
}

/// The regions of a report, e.g. `dome [10,4-18,9] 31px peak 0.42; notch [..]`.
pub fn regions_text(report: &ImageReport) -> String {
    report
        .regions
        .iter()
        .map(Region::summary)
        .collect::<Vec<_>>()
        .join("; ")
}

fn path_text(report: &ImageReport) -> String {
    report
        .path
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| p.display().to_string())
}

/// One result line in `format`.
pub fn line(report: &ImageReport, format: OutputFormat) -> String {
    match format {
        OutputFormat::Table => {
            let detail = match &report.error {
                Some(e) if report.verdict == Verdict::Error => e.clone(),
                _ => regions_text(report),
            };
            format!(
                "{:<7} {:>9.5} {:>5} {:>8.1}  {:<40} {}",
                report.verdict.as_str(),
                report.score,
                report.iterations,
                report.time_ms,
                path_text(report),
                detail
            )
        }
        OutputFormat::Json => serde_json::to_string(report).unwrap_or_default(),
        OutputFormat::Csv => [
            csv_field(&path_text(report)),
            report.verdict.as_str().to_string(),
            format!("{}", report.score),
            report.score_kind.as_str().to_string(),
            report.iterations.to_string(),
            format!("{:.3}", report.time_ms),
            csv_field(&regions_text(report)),
            csv_field(report.error.as_deref().unwrap_or("")),
        ]
        .join(","),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

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
