//! A customer's folder of photos in the MVTec AD layout, without the project's manifest:
//!
//! ```text
//! DIR/train/good/*.png                     good photos (fit and calibrate, never train)
//! DIR/test/<class>/*.png                   the validation set: `good` and each defect class
//! DIR/ground_truth/<class>/<stem>_mask.png where each defect shows (optional per image)
//! ```
//!
//! Classes and masks are read from the folders. `test/good` has no masks; a defective image
//! without a mask counts for the image metrics only.

use std::path::{Path, PathBuf};

use super::layout::{GOOD, manifest_path};
use crate::fsio::{FileKind, read_bounded, sha256_hex};
use crate::imaging::list_images;

/// One test photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub path: PathBuf,
    /// Relative to the folder, with `/` separators (`test/bulge/000.png`).
    pub relative: String,
    pub class: String,
    /// `ground_truth/<class>/<stem>_mask.png`, when it exists (never for `good`).
    pub mask: Option<PathBuf>,
}

/// Why a photo folder cannot be used; names the folder or file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PhotoError {
    pub path: PathBuf,
    pub message: String,
}

fn error(path: &Path, message: impl Into<String>) -> PhotoError {
    PhotoError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Whether `dir` is an MVTec AD folder without the project's manifest (a `test` folder and no
/// `manifest.json`).
pub fn is_photo_folder(dir: &Path) -> bool {
    !manifest_path(dir).exists() && dir.join("test").is_dir()
}

/// The photos of `DIR/test/<class>/`, classes sorted with `good` among them, each with its
/// mask when there is one. Needs at least one good photo.
pub fn test_photos(dir: &Path) -> Result<Vec<Photo>, PhotoError> {
    let test = dir.join("test");
    let entries = std::fs::read_dir(&test).map_err(|e| {
        error(
            dir,
            format!(
                "neither a dataset ({} is missing) nor an MVTec AD folder (test/: {e})",
                super::layout::MANIFEST_FILE
            ),
        )
    })?;
    let mut classes = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| error(&test, e.to_string()))?;
        if entry.path().is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    if !classes.iter().any(|c| c == GOOD) {
        return Err(error(
            &test,
            "has no `good` folder: an MVTec AD folder keeps its good test photos in test/good",
        ));
    }
    let mut photos = Vec::new();
    for class in classes {
        let folder = test.join(&class);
        let listing = list_images(&folder).map_err(|e| error(&folder, e.to_string()))?;
        if listing.images.is_empty() {
            return Err(error(&folder, "holds no PNG or JPEG image"));
        }
        for path in listing.images {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let stem = path
                .file_stem()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let mask = dir
                .join("ground_truth")
                .join(&class)
                .join(format!("{stem}_mask.png"));
            photos.push(Photo {
                relative: format!("test/{class}/{name}"),
                mask: (class != GOOD && mask.is_file()).then_some(mask),
                class: class.clone(),
                path,
            });
        }
    }
    Ok(photos)
}

/// The good photos to calibrate on: `DIR/train/good/` of an MVTec AD folder, else the images
/// of `DIR` itself. Refuses a folder without any.
pub fn good_photos(dir: &Path) -> Result<Vec<PathBuf>, PhotoError> {
    let folder = if dir.join("train").join(GOOD).is_dir() {
        dir.join("train").join(GOOD)
    } else {
        dir.to_path_buf()
    };
    let listing = list_images(&folder).map_err(|e| error(&folder, e.to_string()))?;
    if listing.images.is_empty() {
        return Err(error(
            &folder,
            "holds no PNG or JPEG image (give a folder of good photos, or an MVTec AD folder \
             with train/good)",
        ));
    }
    Ok(listing.images)
}

/// The SHA-256 of a list of files: each one's name and contents, in order. A photo added,
/// removed, renamed or changed gives another hash.
pub fn files_sha256(paths: &[PathBuf]) -> Result<String, PhotoError> {
    let mut all = Vec::new();
    for path in paths {
        let bytes = read_bounded(path, FileKind::Image).map_err(|e| error(path, e.reason()))?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(sha256_hex(&bytes).as_bytes());
        all.push(b'\n');
    }
    Ok(sha256_hex(&all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::DynamicImage::new_luma8(4, 4).save(path).unwrap();
    }

    #[test]
    fn classes_and_masks_come_from_the_folders() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "test/good/a.png",
            "test/good/b.png",
            "test/dent/c.png",
            "test/dent/d.png",
            "ground_truth/dent/c_mask.png",
            "ground_truth/good/a_mask.png",
        ] {
            touch(&d.join(f));
        }
        assert!(is_photo_folder(d));
        let photos = test_photos(d).unwrap();
        let seen: Vec<(&str, &str, bool)> = photos
            .iter()
            .map(|p| (p.relative.as_str(), p.class.as_str(), p.mask.is_some()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("test/dent/c.png", "dent", true),
                ("test/dent/d.png", "dent", false),
                ("test/good/a.png", "good", false),
                ("test/good/b.png", "good", false),
            ]
        );
    }

    #[test]
    fn bad_folders_are_refused_naming_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = test_photos(d).unwrap_err().to_string();
        assert!(err.contains("MVTec AD folder"), "{err}");
        touch(&d.join("test/dent/c.png"));
        let err = test_photos(d).unwrap_err().to_string();
        assert!(err.contains("test/good"), "{err}");
        std::fs::create_dir_all(d.join("test/good")).unwrap();
        let err = test_photos(d).unwrap_err().to_string();
        assert!(err.contains("good") && err.contains("no PNG"), "{err}");
        let err = good_photos(&d.join("test/good")).unwrap_err().to_string();
        assert!(err.contains("no PNG"), "{err}");
    }

    #[test]
    fn the_list_hash_changes_with_any_photo() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        touch(&a);
        touch(&b);
        let both = files_sha256(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(both, files_sha256(&[a.clone(), b.clone()]).unwrap());
        assert_ne!(both, files_sha256(std::slice::from_ref(&a)).unwrap());
        image::DynamicImage::new_luma8(5, 4).save(&b).unwrap();
        assert_ne!(both, files_sha256(&[a, b]).unwrap());
    }
}
