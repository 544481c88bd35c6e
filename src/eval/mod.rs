//! Evaluation: how well a trained model separates good from defective test images, per
//! defect class and per descent-iteration budget, written as a report (JSON, Markdown, HTML).
//!
//! [`run`] drives inspection over a test split and counts with [`crate::metrics`], [`types`]
//! holds the numbers as `report.json` stores them, [`report`] writes the files. [`demo`] is the
//! whole job on the built-in cap, stage by stage (render, train, calibrate and evaluate).

pub mod ablate;
pub mod demo;
pub mod report;
pub mod run;
pub mod types;

pub use run::{EvalError, EvalOptions, EvalProgress, evaluate};
pub use types::{
    ClassMetrics, Confusion, DetectorEval, EvalReport, ImageResult, ModelEval, SweepPoint,
};
