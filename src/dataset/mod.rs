//! Datasets: recipes, per-sample parameters, generation, the manifest, and where the files go.
//!
//! [`recipe`] says what to render → [`sample`] draws each sample's parameters from its seed →
//! [`generate`] renders and writes them where [`layout`] says, and [`manifest`] records them;
//! [`sheet`] draws a contact sheet of a finished dataset.

pub mod generate;
pub mod layout;
pub mod manifest;
pub mod recipe;
pub mod sample;
pub mod sheet;

pub use generate::{DatasetContext, DatasetError, GenerateControl, RenderedSample, generate};
pub use layout::{GOOD, SamplePaths, Split};
pub use manifest::{Manifest, SampleRecord};
pub use recipe::{Channels, Recipe};
