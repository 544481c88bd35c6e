//! Reads a dataset written by `unseen render` and feeds training batches from a named thread.
//!
//! The dataset is opened through [`crate::dataset::check`]: its manifest is read and checked,
//! its folders must hold exactly the files the manifest lists, and every image is compared
//! with the hash recorded when it was rendered. Training images are the good samples of the
//! train split the manifest lists, in its order, validation images the good samples of the
//! validation split; the folder is never listed for them. Pixels become `f32` in `[0, 1]`
//! (0 = black), channel-major (`[channels, size, size]` per image), the range the generator's
//! sigmoid produces.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::dataset::layout::{self, GOOD, Split};
use crate::dataset::manifest::ManifestError;
use crate::dataset::recipe::{IMAGE_SIZES, MAX_SPLIT_BYTES};
use crate::dataset::{Channels, CheckError, Dataset};
use crate::rng::Rng;

/// Batches prepared ahead of the trainer.
const PREFETCH_BATCHES: usize = 4;

/// Why a dataset cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "image {path} is {found}, but the dataset manifest says {expected} (all images must match)"
    )]
    Mismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("no PNG images in {dir}")]
    Empty { dir: PathBuf },
    #[error("{dir} holds {count} images, fewer than one batch of {batch_size}")]
    TooFew {
        dir: PathBuf,
        count: usize,
        batch_size: usize,
    },
}

/// What the trainer needs from a dataset's manifest.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    pub root: PathBuf,
    pub name: String,
    pub image_size: usize,
    pub channels: Channels,
    /// Hex SHA-256 of `manifest.json`'s bytes: ties a checkpoint to the exact dataset.
    pub manifest_sha256: String,
    dataset: Dataset,
}

impl DatasetInfo {
    /// Opens the dataset in `dir`: its manifest, checked against the folders.
    pub fn open(dir: &Path) -> Result<Self, DataError> {
        let dataset = Dataset::open(dir)?;
        let manifest = &dataset.manifest;
        if !IMAGE_SIZES.contains(&manifest.image.size) {
            return Err(DataError::Invalid {
                path: layout::manifest_path(dir),
                message: format!(
                    "image.size {} is not one the models train on ({IMAGE_SIZES:?})",
                    manifest.image.size
                ),
            });
        }
        Ok(Self {
            root: dir.to_path_buf(),
            name: manifest.name.clone(),
            image_size: manifest.image.size as usize,
            channels: manifest.image.channels,
            manifest_sha256: dataset.manifest_sha256.clone(),
            dataset,
        })
    }

    /// The dataset, checked.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The good renders of `split`.
    pub fn good_dir(&self, split: Split) -> PathBuf {
        self.root.join(layout::image_dir(&self.name, split, GOOD))
    }

    pub fn train_dir(&self) -> PathBuf {
        self.good_dir(Split::Train)
    }

    pub fn validation_dir(&self) -> PathBuf {
        self.good_dir(Split::Validation)
    }

    /// Loads the training images.
    pub fn load_train(&self) -> Result<ImageSet, DataError> {
        ImageSet::load_good(&self.dataset, Split::Train)
    }

    /// Loads the good validation images.
    pub fn load_validation(&self) -> Result<ImageSet, DataError> {
        ImageSet::load_good(&self.dataset, Split::Validation)
    }
}

/// Images of one size and colour layout, kept as 8-bit pixels (4× less memory than f32).
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub size: usize,
    pub channels: usize,
    /// Channel-major 8-bit pixels, `len()` images back to back.
    pixels: Vec<u8>,
    pub paths: Vec<PathBuf>,
}

impl ImageSet {
    /// Loads the good samples of `split` the manifest lists, in its order, each checked
    /// against its recorded hash and the manifest's size and channels.
    pub fn load_good(dataset: &Dataset, split: Split) -> Result<Self, DataError> {
        let manifest = &dataset.manifest;
        let (size, channels) = (manifest.image.size as usize, manifest.image.channels);
        let samples: Vec<_> = manifest
            .samples_of(split)
            .filter(|s| s.id.is_good())
            .collect();
        if samples.is_empty() {
            return Err(DataError::Empty {
                dir: dataset
                    .root
                    .join(layout::image_dir(&manifest.name, split, GOOD)),
            });
        }
        let channel_count = channels.count();
        // The recipe bounds a split's pixels; counted here again, without overflow.
        let bytes = samples
            .len()
            .checked_mul(channel_count * size * size)
            .filter(|&b| b as u64 <= MAX_SPLIT_BYTES)
            .ok_or_else(|| DataError::Invalid {
                path: layout::manifest_path(&dataset.root),
                message: format!(
                    "{} {split} images of {size}x{size} are more than a split may hold",
                    samples.len()
                ),
            })?;
        let mut pixels = Vec::with_capacity(bytes);
        let mut paths = Vec::with_capacity(samples.len());
        for sample in samples {
            let (image, path) = dataset.image(sample)?;
            append_image(&image, &path, size, channels, &mut pixels)?;
            paths.push(path);
        }
        Ok(Self {
            size,
            channels: channel_count,
            pixels,
            paths,
        })
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Values of one image.
    pub fn image_len(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// Image `index` as `f32` in `[0, 1]`, appended to `out`.
    pub fn push_f32(&self, index: usize, out: &mut Vec<f32>) {
        let len = self.image_len();
        out.extend(
            self.pixels[index * len..(index + 1) * len]
                .iter()
                .map(|&p| f32::from(p) / 255.0),
        );
    }

    /// Images `indices` as one flat `f32` buffer.
    pub fn gather(&self, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            self.push_f32(i, &mut out);
        }
        out
    }
}

fn append_image(
    image: &image::DynamicImage,
    path: &Path,
    size: usize,
    channels: Channels,
    out: &mut Vec<u8>,
) -> Result<(), DataError> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let found_channels = match image.color() {
        image::ColorType::L8 | image::ColorType::L16 => Channels::Grey,
        image::ColorType::Rgb8 | image::ColorType::Rgb16 => Channels::Rgb,
        other => {
            return Err(DataError::Mismatch {
                path: path.to_path_buf(),
                found: format!("{width}x{height} {other:?}"),
                expected: format!("{size}x{size} {channels:?}"),
            });
        }
    };
    if width != size || height != size || found_channels != channels {
        return Err(DataError::Mismatch {
            path: path.to_path_buf(),
            found: format!("{width}x{height} {found_channels:?}"),
            expected: format!("{size}x{size} {channels:?}"),
        });
    }
    match channels {
        Channels::Grey => out.extend_from_slice(image.to_luma8().as_raw()),
        Channels::Rgb => {
            let rgb = image.to_rgb8();
            // Interleaved RGB → channel-major planes.
            for c in 0..3 {
                out.extend(rgb.as_raw().iter().skip(c).step_by(3));
            }
        }
    }
    Ok(())
}

/// One training batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Global batch number since the start of training (0-based); equals the step it feeds.
    pub index: u64,
    pub epoch: u64,
    /// `batch_size` images, channel-major, in `[0, 1]`.
    pub images: Vec<f32>,
    pub batch_size: usize,
}

/// Batch order: each epoch is a shuffle seeded by `(seed, epoch)`, the incomplete last batch is
/// dropped. Batch `n` is therefore known without replaying earlier ones, which is what makes
/// `--resume` continue exactly.
#[derive(Debug, Clone, Copy)]
pub struct BatchPlan {
    pub seed: u64,
    pub batch_size: usize,
    pub num_images: usize,
}

impl BatchPlan {
    pub fn batches_per_epoch(&self) -> u64 {
        (self.num_images / self.batch_size.max(1)) as u64
    }

    /// Image indices of epoch `epoch`, in order.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.num_images).collect();
        Rng::for_stream(self.seed ^ epoch.wrapping_mul(0x9e37_79b9), "batch-order")
            .shuffle(&mut order);
        order
    }
}

/// Starts the named thread `unseen-train-data` that sends batches `first_batch..` over a
/// bounded channel until the receiver is dropped.
pub fn spawn_batch_feeder(
    images: std::sync::Arc<ImageSet>,
    plan: BatchPlan,
    first_batch: u64,
) -> std::io::Result<(Receiver<Batch>, JoinHandle<()>)> {
    let (sender, receiver) = sync_channel(PREFETCH_BATCHES);
    let handle = std::thread::Builder::new()
        .name("unseen-train-data".to_string())
        .spawn(move || feed(&images, plan, first_batch, &sender))?;
    Ok((receiver, handle))
}

fn feed(images: &ImageSet, plan: BatchPlan, first_batch: u64, sender: &SyncSender<Batch>) {
    let per_epoch = plan.batches_per_epoch();
    if per_epoch == 0 {
        return;
    }
    let mut index = first_batch;
    loop {
        let epoch = index / per_epoch;
        let order = plan.epoch_order(epoch);
        let mut within = (index % per_epoch) as usize;
        while (within as u64) < per_epoch {
            let picks = &order[within * plan.batch_size..(within + 1) * plan.batch_size];
            let batch = Batch {
                index,
                epoch,
                images: images.gather(picks),
                batch_size: plan.batch_size,
            };
            if sender.send(batch).is_err() {
                return; // The trainer has finished or stopped.
            }
            index += 1;
            within += 1;
        }
    }
}
