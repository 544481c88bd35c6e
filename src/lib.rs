//! unseen: learns what a good product looks like from renders of its 3D model and flags
//! anything that departs from it.
//!
//! The modules follow the data flow: `product` (geometry and defects) → `render` (wgpu) →
//! `dataset` (recipes, generation, manifest) → `model` / `train` → inspection and evaluation.

pub mod cli;
pub mod compute;
pub mod dataset;
pub mod eval;
pub mod fuzz;
pub mod gui;
pub mod inspect;
pub mod io;
pub mod model;
pub mod product;
pub mod render;
pub mod rng;
pub mod train;
