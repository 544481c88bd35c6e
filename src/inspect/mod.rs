//! Inspection: find the good product closest to what the camera saw, compare, and decide.
//!
//! Flow: [`model::InspectModel`] loads E, G and D from a run → [`descent`] searches the latent
//! space of G for each image (z₀ = E(x) or a seeded draw, then Adam on z with early stopping) →
//! [`score`] turns the residual |x − G(z*)| into a smoothed pixel map and an image score; or
//! [`synthesis`] refines each image's pose ([`crate::refine`]) and compares it with the good
//! product rendered there, naming parts from the part map rendered in the same pass →
//! [`calibration`] holds the thresholds ([`calibrate`] fits them on the validation split) and
//! gives the [`Verdict`] → [`localise`] cuts the map into regions and names the part each lies
//! on. [`pipeline`] runs these over a batch of images, [`open`] loads a run with its
//! calibration (refitting one whose [`binding`] does not match the model), [`report`] writes
//! overlays, maps and masks.

pub mod appearance;
pub mod binding;
pub mod calibrate;
pub mod calibration;
pub mod descent;
pub mod detectors;
pub mod localise;
pub mod model;
pub mod open;
pub mod photos;
pub mod pipeline;
pub mod report;
pub mod score;
pub mod synthesis;

pub use binding::ModelBinding;
pub use calibrate::{BUDGET_MARGIN, REGION_MARGIN, budget_candidates, refine_budget_candidates};
pub use calibration::{Calibration, DefectRule, Verdict};
pub use descent::{DescentConfig, DescentResult, StartMode, TraceFrame, descend, descend_budgets};
pub use localise::{PartAtlas, Region};
pub use model::{InspectError, InspectModel};
pub use open::{OpenOptions, Opened, open_inspector};
pub use pipeline::{ImageReport, Inspector, InspectorSettings};
pub use score::{Against, ScoreKind, ScoreSettings};
