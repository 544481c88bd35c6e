//! Datasets: recipes, per-sample parameters, generation, the manifest, and where the files go.
//!
//! [`recipe`] says what to render → [`sample`] draws each sample's parameters from its seed →
//! [`generate`] renders and writes them where [`layout`] says, and [`manifest`] records them
//! with each file's hash; [`check`] reads a finished dataset back only when its folders hold
//! what the manifest lists; [`sheet`] draws a contact sheet of one.

pub mod check;
pub mod generate;
pub mod layout;
pub mod manifest;
pub mod recipe;
pub mod sample;
pub mod sheet;

pub use check::{CheckError, Dataset};
pub use generate::{
    DatasetContext, DatasetError, GenerateControl, GenerateOptions, RenderedSample, generate,
    generate_with,
};
pub use layout::{GOOD, SamplePaths, Split};
pub use manifest::{Manifest, SampleHashes, SampleRecord};
pub use recipe::{Channels, Recipe};
