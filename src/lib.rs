//! unseen: learns what a good product looks like from renders of its 3D model and flags
//! anything that departs from it.
//!
//! The modules follow the data flow, and each imports only from those before it (a test,
//! `tests/layout.rs`, holds the code to this order):
//!
//! - shared pieces: [`rng`] (the one seeded generator), [`fsio`] (every file read, bounded by
//!   kind; atomic writes, hashes, folder locks), [`imaging`] (decoding with limits, blur,
//!   heatmap colouring), [`metrics`] (AUROC, AUPRO, F1, quantiles);
//! - [`product`] (geometry and defects) → [`render`] (wgpu) → [`dataset`] (recipes,
//!   generation, the on-disk layout, the manifest, checking a folder against it);
//! - [`model`] (the networks) → [`compute`] (where tensors live) → [`train`];
//! - [`inspect`] (descent, maps, calibration, verdicts) → [`eval`] (reports, the demo's stages);
//! - [`worker`]: every long task on a named thread with typed events, back-pressure and
//!   pause / resume / cancel, driven alike by the shells and the tests;
//! - the shells: [`gui`] (the workbench) and [`cli`] (the commands).

pub mod rng;

pub mod fsio;

pub mod imaging;

pub mod metrics;

pub mod product;

pub mod render;

pub mod dataset;

pub mod model;

pub mod compute;

pub mod train;

pub mod inspect;

pub mod eval;

pub mod worker;

pub mod gui;

pub mod cli;
