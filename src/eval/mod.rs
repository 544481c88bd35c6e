//! Evaluation: how well a trained model separates good from defective test images, per
//! defect class and per descent-iteration budget, written as a report (JSON, Markdown, HTML).
//!
//! [`metrics`] computes the numbers exactly, [`run`] drives inspection over a test split,
//! [`report`] writes the files, [`cli`] holds `unseen eval` and `unseen demo`.

pub mod cli;
pub mod metrics;
pub mod report;
pub mod run;
pub mod types;

pub use run::{EvalError, EvalOptions, EvalProgress, evaluate};
pub use types::{ClassMetrics, Confusion, EvalReport, ImageResult, ModelEval, SweepPoint};
