//! What the workbench reads and writes, done on a worker ([`super::spawn_call`]) so the window
//! never waits for a disk: a run folder's training history, a report and its gallery, product
//! and recipe files. Each function is the whole job; errors are sentences naming the file.

use std::path::{Path, PathBuf};

use crate::dataset::Recipe;
use crate::eval::EvalReport;
use crate::imaging::decode_image;
use crate::product::ProductSpec;
use crate::train::checkpoint::{CheckpointError, latest_checkpoint};
use crate::train::history::{RunHistory, load_history};

/// Decoded pixels, 8 bits per channel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    /// 1 (grey), 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl Picture {
    /// Decodes `path` under the limits of [`decode_image`]; colour stays colour (RGB), grey
    /// stays grey, and `with_alpha` keeps transparency (RGBA).
    pub fn read(path: &Path, with_alpha: bool) -> Result<Self, String> {
        let decoded = decode_image(path).map_err(|e| e.to_string())?;
        let (width, height) = (decoded.width() as usize, decoded.height() as usize);
        let (channels, pixels) = if with_alpha {
            (4, decoded.to_rgba8().into_raw())
        } else if decoded.color().has_color() {
            (3, decoded.to_rgb8().into_raw())
        } else {
            (1, decoded.to_luma8().into_raw())
        };
        Ok(Self {
            width,
            height,
            channels,
            pixels,
        })
    }
}

/// A run folder's past training, as the Train workspace shows it.
#[derive(Debug)]
pub struct OpenedRun {
    pub dir: PathBuf,
    pub history: RunHistory,
    /// The newest sample grid, decoded, and its step.
    pub samples: Option<(u64, Picture)>,
    /// The run has a checkpoint to resume from.
    pub resumable: bool,
    /// What could not be read (the sample grid), for the user.
    pub notes: Vec<String>,
}

/// Reads a run folder: the loss log (which must exist), checkpoints, settings and the newest
/// sample grid.
pub fn read_run(dir: &Path) -> Result<OpenedRun, String> {
    let history = load_history(dir)?;
    let mut notes = Vec::new();
    let samples = match &history.samples {
        Some((step, path)) => match Picture::read(path, false) {
            Ok(picture) => Some((*step, picture)),
            Err(e) => {
                notes.push(e);
                None
            }
        },
        None => None,
    };
    Ok(OpenedRun {
        dir: dir.to_path_buf(),
        resumable: has_checkpoint(dir),
        history,
        samples,
        notes,
    })
}

/// Whether `run_dir` names a latest checkpoint (`latest.json`; whether it loads is for the
/// run that resumes from it to say).
pub fn has_checkpoint(run_dir: &Path) -> bool {
    !matches!(
        latest_checkpoint(run_dir),
        Err(CheckpointError::NoLatest { .. })
    )
}

/// A report read from its `report.json`.
#[derive(Debug, Clone)]
pub struct OpenedReport {
    pub report: EvalReport,
    /// The file read.
    pub path: PathBuf,
    /// Its folder: the report's overlays are relative to it.
    pub dir: PathBuf,
}

/// Reads a `report.json`.
pub fn read_report(path: &Path) -> Result<OpenedReport, String> {
    let bytes = crate::fsio::read_bounded(path, crate::fsio::FileKind::Report)
        .map_err(|e| format!("cannot open {}: {}", path.display(), e.reason()))?;
    let report = serde_json::from_slice::<EvalReport>(&bytes)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    Ok(OpenedReport {
        report,
        path: path.to_path_buf(),
        dir: path.parent().map_or_else(PathBuf::new, Path::to_path_buf),
    })
}

/// One image of a report's gallery: the overlay, what it shows and the test image it is of.
#[derive(Debug, Clone)]
pub struct GalleryImage {
    pub overlay: Picture,
    pub name: String,
    pub caption: String,
    /// The test image, to open in Inspect.
    pub image: PathBuf,
}

/// The overlays of model `model` of a report written into `dir`; overlays that cannot be read
/// are left out.
pub fn read_gallery(report: &EvalReport, dir: &Path, model: usize) -> Vec<GalleryImage> {
    let Some(model) = report.models.get(model) else {
        return Vec::new();
    };
    model
        .images
        .iter()
        .filter_map(|image| {
            let rel = image.overlay.as_ref()?;
            let overlay = Picture::read(&dir.join(rel), true).ok()?;
            Some(GalleryImage {
                overlay,
                name: rel.display().to_string(),
                caption: format!(
                    "{} · {} · score {:.4} · {}",
                    image.class,
                    image.verdict,
                    image.score,
                    image.part.clone().unwrap_or_default()
                ),
                image: report.data_dir.join(&image.path),
            })
        })
        .collect()
}

/// Loads a product file that `recipe` can use.
pub fn read_product(path: &Path, recipe: &Recipe) -> Result<ProductSpec, String> {
    ProductSpec::load(&path.display().to_string(), None)
        .map_err(|e| e.to_string())
        .and_then(|p| recipe.validate_against(&p).map(|()| p))
        .map_err(|e| format!("cannot use {}: {e}", path.display()))
}

/// Loads a recipe and the product it names.
pub fn read_recipe(path: &Path) -> Result<(Recipe, ProductSpec), String> {
    Recipe::load(path).map_err(|e| e.to_string())
}

/// Writes `value` as TOML, atomically.
pub fn write_toml(path: &Path, value: &impl serde::Serialize) -> Result<(), String> {
    let text = toml::to_string_pretty(value)
        .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    crate::fsio::write_atomic(path, text.as_bytes())
        .map_err(|e| format!("cannot save {}: {e}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pictures_keep_their_colour_and_unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let grey = dir.path().join("grey.png");
        image::GrayImage::from_pixel(3, 2, image::Luma([7]))
            .save(&grey)
            .unwrap();
        let picture = Picture::read(&grey, false).unwrap();
        assert_eq!((picture.width, picture.height, picture.channels), (3, 2, 1));
        assert_eq!(picture.pixels, vec![7; 6]);
        let rgba = Picture::read(&grey, true).unwrap();
        assert_eq!(rgba.channels, 4);
        assert_eq!(rgba.pixels[..4], [7, 7, 7, 255]);

        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not a png").unwrap();
        assert!(
            Picture::read(&junk, false)
                .unwrap_err()
                .contains("junk.png")
        );
        let err = read_report(&junk).unwrap_err();
        assert!(err.contains("junk.png"), "{err}");
        let err = read_run(dir.path()).unwrap_err();
        assert!(err.contains("losses.csv"), "{err}");
    }
}
