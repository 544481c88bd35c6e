//! Reading a rendered dataset: a folder holds what its manifest says, or it is refused.
//!
//! [`Dataset::open`] reads the manifest (within [`FileKind::Manifest`]'s limit, checked by
//! [`Manifest::validate`]) and compares the dataset's folders with it: a file the manifest
//! lists that is not there, or a file in the dataset's folders that it does not list (an
//! older render's leftovers), refuses the dataset. Every sample file read afterwards is
//! compared with the SHA-256 the manifest recorded when it was rendered, so a changed file is
//! refused when it is read. Training, calibration, part names, evaluation and contact sheets
//! read their samples this way, in the manifest's order, never from a folder listing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::layout;
use super::manifest::{Manifest, ManifestError, SampleRecord};
use crate::fsio::{FileKind, ReadError, read_bounded, sha256_hex};
use crate::imaging::{ImageError, decode_bytes};

/// Why a dataset folder cannot be read. Every variant names the folder or the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "dataset {dir} was rendered by an older version of unseen (manifest version 1), which \
         recorded no file hashes, so its files cannot be checked: render it again (the same \
         recipe and seed give the same images)"
    )]
    Unverifiable { dir: PathBuf },
    #[error(
        "dataset {dir} does not hold what its manifest lists: {problems}; render it again \
         (`unseen render --replace`) or restore its files"
    )]
    Mismatch { dir: PathBuf, problems: String },
    #[error("cannot list {path}: {source}")]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "{path}: its contents differ from the SHA-256 the dataset's manifest records (changed \
         or damaged since it was rendered); render the dataset again"
    )]
    Changed { path: PathBuf },
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// A dataset whose manifest was read and whose folders hold exactly the files it lists.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub manifest: Manifest,
    /// Hex SHA-256 of `manifest.json`'s bytes: what a checkpoint records of its dataset.
    pub manifest_sha256: String,
}

impl Dataset {
    /// Reads the manifest of the dataset in `dir` and checks the folders against it.
    pub fn open(dir: &Path) -> Result<Self, CheckError> {
        let path = layout::manifest_path(dir);
        let bytes = read_bounded(&path, FileKind::Manifest).map_err(ManifestError::from)?;
        let manifest = Manifest::from_json(&bytes, &path)?;
        if manifest.samples.iter().any(|s| s.sha256.is_none()) {
            return Err(CheckError::Unverifiable {
                dir: dir.to_path_buf(),
            });
        }
        check_inventory(dir, &manifest)?;
        Ok(Self {
            root: dir.to_path_buf(),
            manifest,
            manifest_sha256: sha256_hex(&bytes),
        })
    }

    /// The bytes of the sample file `rel` (relative to the dataset), which must hash to
    /// `sha256`.
    pub fn read(&self, rel: &str, sha256: &str) -> Result<Vec<u8>, CheckError> {
        let path = self.root.join(rel);
        let bytes = read_bounded(&path, FileKind::Image)?;
        if sha256_hex(&bytes) != sha256 {
            return Err(CheckError::Changed { path });
        }
        Ok(bytes)
    }

    /// The decoded image of `sample`, and its path.
    pub fn image(
        &self,
        sample: &SampleRecord,
    ) -> Result<(image::DynamicImage, PathBuf), CheckError> {
        let hash = self.hash_of(sample, &sample.image)?;
        self.decode(&sample.image, hash)
    }

    /// The decoded defect mask of `sample` (`None` for a good one), and its path.
    pub fn mask(
        &self,
        sample: &SampleRecord,
    ) -> Result<Option<(image::DynamicImage, PathBuf)>, CheckError> {
        match &sample.mask {
            Some(rel) => {
                let hash = self.hash_of(sample, rel)?;
                self.decode(rel, hash).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The decoded part map of `sample`, and its path.
    pub fn part_map(
        &self,
        sample: &SampleRecord,
    ) -> Result<(image::DynamicImage, PathBuf), CheckError> {
        let hash = self.hash_of(sample, &sample.part_map)?;
        self.decode(&sample.part_map, hash)
    }

    fn hash_of<'a>(&self, sample: &'a SampleRecord, rel: &str) -> Result<&'a str, CheckError> {
        // `open` refused records without hashes, and `Manifest::validate` checked that each
        // file of a record has one.
        sample
            .files_with_hashes()
            .and_then(|files| files.into_iter().find(|(f, _)| *f == rel))
            .map(|(_, hash)| hash)
            .ok_or_else(|| CheckError::Unverifiable {
                dir: self.root.clone(),
            })
    }

    fn decode(
        &self,
        rel: &str,
        sha256: &str,
    ) -> Result<(image::DynamicImage, PathBuf), CheckError> {
        let path = self.root.join(rel);
        let bytes = self.read(rel, sha256)?;
        let image = decode_bytes(bytes).map_err(|message| ImageError::Read {
            path: path.clone(),
            message,
        })?;
        Ok((image, path))
    }
}

/// Examples shown of each kind of difference.
const SHOWN: usize = 3;

/// Compares the files under the dataset's folders with those the manifest lists.
fn check_inventory(dir: &Path, manifest: &Manifest) -> Result<(), CheckError> {
    let listed: BTreeSet<&str> = manifest
        .samples
        .iter()
        .flat_map(|s| {
            [
                Some(&s.image),
                s.mask.as_ref(),
                Some(&s.part_map),
                Some(&s.depth),
            ]
        })
        .flatten()
        .map(String::as_str)
        .collect();
    let mut found = BTreeSet::new();
    for folder in layout::dataset_folders(&manifest.name) {
        collect_files(dir, &folder, &mut found)?;
    }
    let missing: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|f| !found.contains(*f))
        .collect();
    let extra: Vec<&String> = found
        .iter()
        .filter(|f| !listed.contains(f.as_str()))
        .collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let examples = |files: Vec<String>| {
        let shown: Vec<String> = files.iter().take(SHOWN).cloned().collect();
        let more = files.len().saturating_sub(SHOWN);
        if more > 0 {
            format!("{}, and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "{} file(s) missing ({})",
            missing.len(),
            examples(missing.iter().map(|s| s.to_string()).collect())
        ));
    }
    if !extra.is_empty() {
        problems.push(format!(
            "{} file(s) it does not list ({})",
            extra.len(),
            examples(extra.iter().map(|s| s.to_string()).collect())
        ));
    }
    Err(CheckError::Mismatch {
        dir: dir.to_path_buf(),
        problems: problems.join(", "),
    })
}

/// Every file under `root/rel` (not following links to folders), as paths relative to `root`
/// with `/` separators; nothing when the folder does not exist.
pub(super) fn collect_files(
    root: &Path,
    rel: &str,
    found: &mut BTreeSet<String>,
) -> Result<(), CheckError> {
    let mut stack = vec![rel.to_string()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(CheckError::List { path, source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| CheckError::List {
                path: path.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = format!("{rel}/{name}");
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                stack.push(child);
            } else {
                found.insert(child);
            }
        }
    }
    Ok(())
}
