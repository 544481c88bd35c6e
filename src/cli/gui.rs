//! `unseen gui` (also what `unseen` runs with no command): the workbench's options on the
//! command line.

use std::path::PathBuf;

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::compute::ComputeDevice;
use crate::gui::{GuiOptions, Workspace};

/// Arguments of `unseen gui`; see [`GuiOptions`] for what each means.
#[derive(Debug, Clone, clap::Args)]
pub struct GuiArgs {
    /// Where models train and inspect: auto = the window's GPU when it is a real one, the CPU
    /// backend on a software adapter.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ComputeDevice::Auto)]
    pub device: ComputeDevice,
    /// Open on this workspace.
    #[arg(long, value_enum)]
    pub workspace: Option<Workspace>,
    /// Dataset folder for Train (and Inspect's calibration and part names).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Run folder for Train, Inspect and Evaluate.
    #[arg(long, value_name = "RUN_DIR")]
    pub run: Option<PathBuf>,
    /// An image for Inspect, inspected as soon as the model is loaded (the model of `--run`
    /// loads when the window opens on Inspect).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// A report.json for Evaluate.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// A recipe for Design (with the product it names, an imported one included).
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Start the workspace's main task at once (generate, train, inspect).
    #[arg(long)]
    pub start: bool,
    /// Save a screenshot of the window to FILE once the workspace has something to show and at
    /// least `--screenshot-after` seconds have passed, then close. A workspace with nothing to
    /// show after 10 minutes (Inspect with no image, say) is saved as it is, with a warning.
    #[arg(long, value_name = "FILE")]
    pub screenshot: Option<PathBuf>,
    #[arg(long, default_value_t = 3.0, value_parser = parse_seconds)]
    pub screenshot_after: f64,
    /// Print frame-time statistics on exit.
    #[arg(long)]
    pub frame_stats: bool,
    /// Window size in points (100 to 16384).
    #[arg(long, default_value_t = 1500.0, value_parser = parse_points)]
    pub width: f32,
    #[arg(long, default_value_t = 940.0, value_parser = parse_points)]
    pub height: f32,
    /// Run the quick demo at once, as its button in the window does (a screenshot then waits
    /// for it to finish).
    #[arg(long)]
    pub quick_demo: bool,
    /// Where the quick demo writes (default: the platform's data folder,
    /// ~/.local/share/unseen/quick-demo on Linux).
    #[arg(long, value_name = "DIR")]
    pub demo_dir: Option<PathBuf>,
    /// Once the inspection has ended, show its recorded frame N (0 = the start pose or
    /// descent step) instead of the last, e.g. for a screenshot mid-refinement.
    #[arg(long, value_name = "N")]
    pub inspect_frame: Option<usize>,
    /// Fit Design's scene to the good photos of DIR at once (a folder of photos, or an MVTec
    /// AD folder's train/good), as its "Fit the scene" button does.
    #[arg(long, value_name = "DIR")]
    pub fit_photos: Option<PathBuf>,
}

/// Parses a delay in seconds: a finite number from 0 to 3600.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds from 0 to 3600")),
    }
}

/// Parses a window side in points: a finite number from 100 to 16384.
fn parse_points(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && (100.0..=16384.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a size from 100 to 16384 points")),
    }
}

impl From<GuiArgs> for GuiOptions {
    fn from(args: GuiArgs) -> Self {
        Self {
            device: args.device,
            workspace: args.workspace,
            data: args.data,
            run: args.run,
            image: args.image,
            report: args.report,
            recipe: args.recipe,
            start: args.start,
            screenshot: args.screenshot,
            screenshot_after: args.screenshot_after,
            frame_stats: args.frame_stats,
            width: args.width,
            height: args.height,
            quick_demo: args.quick_demo,
            demo_dir: args.demo_dir,
            inspect_frame: args.inspect_frame,
            fit_photos: args.fit_photos,
        }
    }
}

impl ValueEnum for Workspace {
    fn value_variants<'a>() -> &'a [Self] {
        &Workspace::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            Self::Design => "design",
            Self::Train => "train",
            Self::Inspect => "inspect",
            Self::Evaluate => "evaluate",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: GuiArgs,
    }

    #[test]
    fn default_arguments_match_the_command_line_defaults() {
        let parsed = GuiOptions::from(Wrapper::parse_from(["unseen"]).args);
        let default = GuiOptions::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }

    #[test]
    fn workspaces_are_named_as_before() {
        let parsed = Wrapper::parse_from(["unseen", "--workspace", "evaluate"]).args;
        assert_eq!(parsed.workspace, Some(Workspace::Evaluate));
    }
}
