//! Analysis by synthesis: find the pose at which the good product, rendered by our own
//! pipeline, looks most like an image, so the image can be compared with that render.
//!
//! [`bank`] gives start poses from the training renders, whose exact poses the manifest
//! records; [`solve`] refines them (Levenberg–Marquardt over rotation, image-plane offset and
//! zoom, with finite differences from batched renders); [`compare`] holds the robust loss and
//! the closed-form exposure fit; [`scene`] is the good product of one recipe, ready to render;
//! [`synth`] puts them together: each image's reference render, part map and depth; [`fit`]
//! fits the scene itself (light, material, the camera's response) to a line's good photos.

pub mod bank;
pub mod compare;
pub mod fit;
pub mod pose;
pub mod scene;
pub mod solve;
pub mod synth;

pub use bank::PoseBank;
pub use pose::ScenePose;
pub use scene::Scene;
pub use solve::{RefineError, RefineInput, RefineSettings, RefineStep, Refinement, refine};
pub use synth::{SynthError, Synthesis, Synthesizer};
