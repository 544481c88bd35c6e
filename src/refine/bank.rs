//! Start poses: the training renders with their exact poses from the manifest. An image's
//! nearest renders (by pixel distance, through a shortlist of block means) say roughly how the
//! product is turned; refinement takes it from there.

use std::path::Path;

use rayon::prelude::*;

use super::pose::ScenePose;
use crate::dataset::Manifest;
use crate::imaging::read_image;

/// Edge of the block whose mean a thumbnail pixel is (a 64-pixel image gives 16×16).
const BLOCK: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum BankError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("the dataset at {0} has no training renders to start poses from")]
    Empty(String),
}

/// Grey training renders, their thumbnails and their poses.
pub struct PoseBank {
    pub size: usize,
    images: Vec<u8>,
    thumbnails: Vec<f32>,
    poses: Vec<ScenePose>,
}

impl PoseBank {
    /// Reads the good training renders listed in `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Self, BankError> {
        let manifest_path = dir.join("manifest.json");
        let manifest = Manifest::load(&manifest_path).map_err(|e| BankError::Read {
            path: manifest_path.display().to_string(),
            message: e.to_string(),
        })?;
        let size = manifest.image.size as usize;
        let records: Vec<_> = manifest
            .samples_of(crate::dataset::Split::Train)
            .filter(|s| s.id.is_good())
            .collect();
        if records.is_empty() {
            return Err(BankError::Empty(dir.display().to_string()));
        }
        let images: Vec<Vec<f32>> = records
            .par_iter()
            .map(|r| {
                let path = dir.join(&r.image);
                read_image(&path, size, 1).map_err(|e| BankError::Read {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        let poses = records
            .iter()
            .map(|r| ScenePose::of_view(&r.view))
            .collect();
        Ok(Self::from_images(size, &images, poses))
    }

    /// A bank of `images` (grey, [0, 1], `size²` each) taken at `poses`.
    pub fn from_images(size: usize, images: &[Vec<f32>], poses: Vec<ScenePose>) -> Self {
        let thumbnails = images.iter().flat_map(|im| thumbnail(im, size)).collect();
        let images = images
            .iter()
            .flat_map(|im| {
                im.iter()
                    .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            })
            .collect();
        Self {
            size,
            images,
            thumbnails,
            poses,
        }
    }

    pub fn len(&self) -> usize {
        self.poses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.poses.is_empty()
    }

    pub fn pose(&self, index: usize) -> ScenePose {
        self.poses[index]
    }

    /// The training render `index`, grey levels in [0, 1].
    pub fn image(&self, index: usize) -> Vec<f32> {
        let n = self.size * self.size;
        self.images[index * n..(index + 1) * n]
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect()
    }

    /// The `k` renders nearest to `image`: the `shortlist` nearest in thumbnails, then ranked
    /// by their full pixel distance. Nearest first.
    pub fn nearest(&self, image: &[f32], k: usize, shortlist: usize) -> Vec<usize> {
        let n = self.size * self.size;
        if image.len() != n || k == 0 || self.is_empty() {
            return Vec::new();
        }
        let query = thumbnail(image, self.size);
        let t = query.len();
        let mut scored: Vec<(f32, usize)> = (0..self.len())
            .map(|i| (squared(&self.thumbnails[i * t..(i + 1) * t], &query), i))
            .collect();
        let keep = shortlist.max(k).min(scored.len());
        let order = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if keep < scored.len() {
            scored.select_nth_unstable_by(keep - 1, order);
            scored.truncate(keep);
        }
        let mut exact: Vec<(f32, usize)> = scored
            .into_iter()
            .map(|(_, i)| {
                let d = self.images[i * n..(i + 1) * n]
                    .iter()
                    .zip(image)
                    .map(|(&a, &b)| {
                        let d = f32::from(a) / 255.0 - b;
                        d * d
                    })
                    .sum::<f32>();
                (d, i)
            })
            .collect();
        exact.sort_by(order);
        exact.into_iter().take(k).map(|(_, i)| i).collect()
    }
}

fn squared(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Means of `BLOCK × BLOCK` blocks (the whole image when it is not a multiple of the block).
fn thumbnail(image: &[f32], size: usize) -> Vec<f32> {
    let block = if size.is_multiple_of(BLOCK) { BLOCK } else { 1 };
    let t = size / block;
    let mut out = vec![0.0; t * t];
    let scale = 1.0 / (block * block) as f32;
    for y in 0..size {
        for x in 0..size {
            out[(y / block) * t + x / block] += image[y * size + x] * scale;
        }
    }
    out
}
