//! Datasets: recipes, per-sample parameters, generation and the manifest.

pub mod generate;
pub mod manifest;
pub mod recipe;
pub mod sample;
pub mod sheet;

pub use generate::{DatasetContext, DatasetError, GenerateControl, RenderedSample, generate};
pub use manifest::{Manifest, SampleRecord};
pub use recipe::{Channels, Recipe};
