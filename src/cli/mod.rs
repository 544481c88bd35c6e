//! The command line: `unseen <command>`, one file per command, each a thin shell over the same
//! library calls the workbench makes. clap and anyhow live here (and in `main.rs` and the
//! window's glue); the library reports typed errors.

pub mod demo;
pub mod eval;
pub mod gui;
pub mod inspect;
pub mod render;
pub mod sheet;
pub mod train;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "unseen",
    version,
    about = "Find defects nobody has seen before, from renders of the product's 3D model"
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
        Some(Command::Train(args)) => train::run_train_cli(args),
        Some(Command::Inspect(args)) => inspect::run_inspect_cli(args),
        Some(Command::Eval(args)) => eval::run_eval_cli(args),
        Some(Command::Demo(args)) => demo::run_demo(args),
        Some(Command::Gui(args)) => crate::gui::run_gui(args.into()),
        None => crate::gui::run_gui(crate::gui::GuiOptions::default()),
    }
}
