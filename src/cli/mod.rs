//! The command line: `unseen <command>`, one file per command, each a thin shell over the same
//! library calls the workbench makes. clap and anyhow live here (and in `main.rs` and the
//! window's glue); the library reports typed errors.
//!
//! # Exit codes
//! [`EXIT_OK`] (0) when the command did its work (and, with `inspect --fail-on-defect`, every
//! image passed or went to review); [`EXIT_FAILURE`] (1) when the tool failed (unreadable
//! model, data or files, a GPU that is not there); [`EXIT_USAGE`] (2) for a command line clap
//! refuses; with `inspect --fail-on-defect`, [`EXIT_DEFECT`] (3) when an image was judged
//! `defect` and [`EXIT_NOT_INSPECTED`] (4) when none was but an image could not be inspected
//! (`error`), an input was skipped, or no image was judged at all.

pub mod ablate;
pub mod demo;
pub mod eval;
pub mod fit;
pub mod gui;
pub mod inspect;
pub mod render;
pub mod sheet;
pub mod train;

use clap::builder::PossibleValue;
use clap::{Parser, Subcommand, ValueEnum};

use crate::compute::ComputeDevice;
use crate::dataset::Split;
use crate::model::ModelKind;

/// Every command did its work.
pub const EXIT_OK: u8 = 0;
/// The tool failed: an input could not be used, or the work could not be done.
pub const EXIT_FAILURE: u8 = 1;
/// The command line is wrong (clap's own code for usage errors).
pub const EXIT_USAGE: u8 = 2;
/// `inspect --fail-on-defect`: an image was judged `defect`.
pub const EXIT_DEFECT: u8 = 3;
/// `inspect --fail-on-defect`: no image was judged `defect`, but one could not be inspected,
/// an input was skipped, or nothing was judged.
pub const EXIT_NOT_INSPECTED: u8 = 4;

#[derive(Parser, Debug)]
#[command(
    name = "unseen",
    version,
    about = "Find defects nobody has seen before, from renders of the product's 3D model",
    after_help = "Set RUST_LOG (e.g. RUST_LOG=info) to see more than warnings."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Render a dataset (MVTec AD layout, masks, part and depth maps, manifest) from a recipe.
    Render(render::RenderArgs),
    /// Train a model (the GAN, or the autoencoder + SOM baseline) on a rendered dataset.
    Train(train::TrainArgs),
    /// Inspect images: descend in the generator's latent space to the nearest good product,
    /// then score, map and localise the difference.
    Inspect(inspect::InspectArgs),
    /// Draw a contact sheet of a rendered dataset (one row per class, masks outlined in red).
    Sheet(sheet::SheetArgs),
    /// Fit the renderer's scene (light, material, the camera's response, blur, noise and
    /// distance) to a line's good photos: writes a recipe whose renders look like them.
    Fit(fit::FitArgs),
    /// What each class of synthesis buys on the line's photos: a recipe less one class at a
    /// time, each rendered, trained, calibrated and evaluated on the photos.
    Ablate(ablate::AblateArgs),
    /// Evaluate trained models on a test split (AUROC, AUPRO, F1, per class and per descent
    /// budget) and write an HTML/Markdown/JSON report.
    Eval(eval::EvalArgs),
    /// The main job headless on the built-in cap: render, train the GAN and the baseline,
    /// evaluate both and print where the report is.
    Demo(demo::DemoArgs),
    /// Open the workbench (the default when no command is given).
    Gui(gui::GuiArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Render(args)) => render::run_render(args),
        Some(Command::Sheet(args)) => sheet::run_sheet(args),
        Some(Command::Fit(args)) => fit::run_fit(args),
        Some(Command::Ablate(args)) => ablate::run_ablate(args),
        Some(Command::Train(args)) => train::run_train_cli(args),
        Some(Command::Inspect(args)) => inspect::run_inspect_cli(args),
        Some(Command::Eval(args)) => eval::run_eval_cli(args),
        Some(Command::Demo(args)) => demo::run_demo(args),
        Some(Command::Gui(args)) => crate::gui::run_gui(args.into()),
        None => crate::gui::run_gui(crate::gui::GuiOptions::default()),
    }
}

/// The exit code of a command's outcome (see the module docs).
pub fn exit_code(outcome: &anyhow::Result<()>) -> u8 {
    match outcome {
        Ok(()) => EXIT_OK,
        Err(e) => e
            .downcast_ref::<inspect::FailedImages>()
            .map_or(EXIT_FAILURE, inspect::FailedImages::exit_code),
    }
}

// clap's view of the library's choices, so `--help` lists each value.

impl ValueEnum for ComputeDevice {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Auto, Self::Gpu, Self::Cpu]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Self::Auto => {
                PossibleValue::new("auto").help("a real GPU when there is one, else the CPU")
            }
            Self::Gpu => PossibleValue::new("gpu").help("a real GPU, or an error"),
            Self::Cpu => PossibleValue::new("cpu").help("burn's CPU backend"),
        })
    }
}

impl ValueEnum for ModelKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Gan, Self::AeSom]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Self::Gan => {
                PossibleValue::new(self.as_str()).help("encoder, generator and discriminator")
            }
            Self::AeSom => PossibleValue::new(self.as_str())
                .help("the baseline: an autoencoder and a self-organising map"),
        })
    }
}

impl ValueEnum for Split {
    fn value_variants<'a>() -> &'a [Self] {
        &Split::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn every_choice_has_one_name_that_parses_back() {
        for device in ComputeDevice::value_variants() {
            let name = device.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(name, device.to_string());
            assert_eq!(
                <ComputeDevice as ValueEnum>::from_str(&name, false),
                Ok(*device)
            );
        }
        for kind in ModelKind::value_variants() {
            let name = kind.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(name.parse::<ModelKind>(), Ok(*kind));
        }
        for split in Split::value_variants() {
            let name = split.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(name.parse::<Split>(), Ok(*split));
        }
    }

    #[test]
    fn outcomes_map_to_their_exit_codes() {
        assert_eq!(exit_code(&Ok(())), EXIT_OK);
        assert_eq!(exit_code(&Err(anyhow::anyhow!("no model"))), EXIT_FAILURE);
        let found = |defects, errors| -> anyhow::Result<()> {
            Err(inspect::FailedImages {
                defects,
                errors,
                skipped: 0,
                judged: 3,
            }
            .into())
        };
        assert_eq!(exit_code(&found(2, 1)), EXIT_DEFECT);
        assert_eq!(exit_code(&found(0, 1)), EXIT_NOT_INSPECTED);
        // Context added on the way out keeps the code.
        let wrapped = found(1, 0).context("inspecting the line's images");
        assert_eq!(exit_code(&wrapped), EXIT_DEFECT);
    }

    #[test]
    fn usage_errors_exit_with_clap_s_code() {
        let err = Cli::try_parse_from(["unseen", "train", "--device", "tpu"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(EXIT_USAGE));
    }
}
