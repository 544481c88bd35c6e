//! Where a dataset's files live on disk: the one place that knows the folder layout and the
//! split names. Generation writes through it, training and inspection read through it.
//!
//! ```text
//! DIR/manifest.json                              what the dataset is (see `manifest`)
//! DIR/<name>/{train,test}/<class>/NNNNNN.png     the MVTec AD category folder, as anomalib
//! DIR/<name>/ground_truth/<class>/NNNNNN_mask.png  reads it (train holds good samples only)
//! DIR/validation/<class>/NNNNNN.png              the validation split, kept apart from test
//! DIR/validation/ground_truth/<class>/NNNNNN_mask.png
//! DIR/parts/<split>/<class>/NNNNNN.png           part id per pixel (0 = background)
//! DIR/depth/<split>/<class>/NNNNNN.png           16-bit depth
//! ```
//!
//! Paths of sample files are relative to the dataset folder, with `/` separators, as the
//! manifest records them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::sample::SampleId;

/// The file that makes a folder a dataset.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The class of defect-free samples.
pub const GOOD: &str = "good";

/// A dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Good renders the models learn from (and inspection compares images with).
    Train,
    /// Good and defective renders thresholds are fitted on.
    Validation,
    /// Good and defective renders results are measured on.
    Test,
}

impl Split {
    /// Every split, in the order samples are generated and listed.
    pub const ALL: [Split; 3] = [Self::Train, Self::Validation, Self::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }

    /// Whether the split's images sit in the MVTec AD category folder (`DIR/<name>/…`).
    fn in_category_folder(self) -> bool {
        matches!(self, Self::Train | Self::Test)
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A split name that is none of `train`, `validation`, `test`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown split {0:?} (use train, validation, test)")]
pub struct UnknownSplit(pub String);

impl FromStr for Split {
    type Err = UnknownSplit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|split| split.as_str() == s)
            .ok_or_else(|| UnknownSplit(s.to_string()))
    }
}

/// `DIR/manifest.json`.
pub fn manifest_path(dataset: &Path) -> PathBuf {
    dataset.join(MANIFEST_FILE)
}

/// The folders (relative to the dataset folder) that hold the samples of the dataset `name`,
/// and nothing else: every file under them is one its manifest lists.
pub fn dataset_folders(name: &str) -> [String; 4] {
    [
        name.to_string(),
        Split::Validation.as_str().to_string(),
        "parts".to_string(),
        "depth".to_string(),
    ]
}

/// The folder of `split`'s images of `class` in the dataset `name`, relative to the dataset
/// folder.
pub fn image_dir(name: &str, split: Split, class: &str) -> String {
    if split.in_category_folder() {
        format!("{name}/{split}/{class}")
    } else {
        format!("{split}/{class}")
    }
}

/// The folder of `split`'s defect masks of `class`, relative to the dataset folder.
fn mask_dir(name: &str, split: Split, class: &str) -> String {
    if split.in_category_folder() {
        format!("{name}/ground_truth/{class}")
    } else {
        format!("{split}/ground_truth/{class}")
    }
}

/// The part map of the sample `stem` of `split` and `class`, relative to the dataset folder.
pub fn part_map_path(split: Split, class: &str, stem: &str) -> String {
    format!("parts/{split}/{class}/{stem}.png")
}

/// The depth map of the sample `stem` of `split` and `class`, relative to the dataset folder.
pub fn depth_path(split: Split, class: &str, stem: &str) -> String {
    format!("depth/{split}/{class}/{stem}.png")
}

/// Where each file of a sample goes, relative to the dataset folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplePaths {
    pub image: String,
    /// Defective samples only.
    pub mask: Option<String>,
    pub part_map: String,
    pub depth: String,
}

impl SamplePaths {
    /// The files of sample `id` in the dataset `name`.
    pub fn of(name: &str, id: &SampleId) -> Self {
        let (split, class, stem) = (id.split, id.class.as_str(), id.stem());
        Self {
            image: format!("{}/{stem}.png", image_dir(name, split, class)),
            mask: (!id.is_good())
                .then(|| format!("{}/{stem}_mask.png", mask_dir(name, split, class))),
            part_map: part_map_path(split, class, &stem),
            depth: depth_path(split, class, &stem),
        }
    }

    /// Every file, the mask when there is one.
    pub fn files(&self) -> impl Iterator<Item = &String> {
        [
            Some(&self.image),
            self.mask.as_ref(),
            Some(&self.part_map),
            Some(&self.depth),
        ]
        .into_iter()
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(split: Split, class: &str, index: usize) -> SampleId {
        SampleId {
            split,
            class: class.into(),
            index,
            seed: 0,
        }
    }

    #[test]
    fn splits_parse_and_print_their_names() {
        for split in Split::ALL {
            assert_eq!(split.as_str().parse::<Split>(), Ok(split));
            assert_eq!(split.to_string(), split.as_str());
        }
        let err = "preview".parse::<Split>().unwrap_err().to_string();
        assert!(
            err.contains("preview") && err.contains("validation"),
            "{err}"
        );
        assert_eq!(
            serde_json::to_string(&Split::Validation).unwrap(),
            "\"validation\""
        );
    }

    #[test]
    fn samples_land_in_the_mvtec_tree_or_beside_it() {
        let train = SamplePaths::of("cap", &id(Split::Train, GOOD, 7));
        assert_eq!(train.image, "cap/train/good/000007.png");
        assert_eq!(train.mask, None);
        assert_eq!(train.part_map, "parts/train/good/000007.png");
        assert_eq!(train.depth, "depth/train/good/000007.png");
        let test = SamplePaths::of("cap", &id(Split::Test, "bulge", 12));
        assert_eq!(test.image, "cap/test/bulge/000012.png");
        assert_eq!(
            test.mask.as_deref(),
            Some("cap/ground_truth/bulge/000012_mask.png")
        );
        let validation = SamplePaths::of("cap", &id(Split::Validation, "dent", 0));
        assert_eq!(validation.image, "validation/dent/000000.png");
        assert_eq!(
            validation.mask.as_deref(),
            Some("validation/ground_truth/dent/000000_mask.png")
        );
        assert_eq!(validation.files().count(), 4);
        assert_eq!(image_dir("cap", Split::Train, GOOD), "cap/train/good");
    }
}
