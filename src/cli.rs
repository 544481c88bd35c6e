//! Command-line front end (the headless side of the workbench).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::dataset::{GenerateControl, Recipe, generate};
use crate::render::{Gpu, Renderer};

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
    Render(RenderArgs),
    /// Train a model (the GAN, or the autoencoder + SOM baseline) on a rendered dataset.
    Train(crate::train::cli::TrainArgs),
    /// Inspect images: descend in the generator's latent space to the nearest good product,
    /// then score, map and localise the difference.
    Inspect(crate::inspect::cli::InspectArgs),
    /// Draw a contact sheet of a rendered dataset (one row per class, masks outlined in red).
    Sheet(SheetArgs),
    /// Evaluate trained models on a test split (AUROC, AUPRO, F1, per class and per descent
    /// budget) and write an HTML/Markdown/JSON report.
    Eval(crate::eval::cli::EvalArgs),
    /// The main job headless on the built-in cap: render, train the GAN and the baseline,
    /// evaluate both and print where the report is.
    Demo(crate::eval::cli::DemoArgs),
    /// Open the workbench (the default when no command is given).
    Gui(crate::gui::GuiArgs),
}

#[derive(Args, Debug)]
pub struct SheetArgs {
    /// Dataset folder (holding manifest.json).
    #[arg(long)]
    pub data: PathBuf,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Split to show: train, validation or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Samples per class.
    #[arg(long, default_value_t = 8)]
    pub per_class: usize,
    /// Pixel magnification.
    #[arg(long, default_value_t = 3)]
    pub scale: u32,
}

pub fn run_sheet(args: SheetArgs) -> anyhow::Result<()> {
    let manifest = crate::dataset::Manifest::load(&args.data.join("manifest.json"))?;
    let sheet = crate::dataset::sheet::contact_sheet(
        &manifest,
        &args.data,
        &args.split,
        args.per_class,
        args.scale.clamp(1, 16),
    )?;
    let mut bytes = Vec::new();
    sheet
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("encoding the contact sheet")?;
    crate::io::write_atomic(&args.out, &bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// Dataset recipe (TOML), e.g. assets/datasets/cap-default.toml.
    #[arg(long)]
    pub recipe: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Override the recipe's master seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the image size (pixels, square).
    #[arg(long)]
    pub size: Option<u32>,
    /// Override the number of good training images.
    #[arg(long)]
    pub count_train: Option<usize>,
    /// Override the number of good validation images.
    #[arg(long)]
    pub count_val_good: Option<usize>,
    /// Override the number of validation images of every defect class in the recipe.
    #[arg(long)]
    pub count_val_defect: Option<usize>,
    /// Override the number of good test images.
    #[arg(long)]
    pub count_test_good: Option<usize>,
    /// Override the number of test images of every defect class in the recipe.
    #[arg(long)]
    pub count_test_defect: Option<usize>,
}

impl RenderArgs {
    /// Applies the command-line overrides to a loaded recipe.
    pub fn apply(&self, recipe: &mut Recipe) {
        if let Some(seed) = self.seed {
            recipe.seed = seed;
        }
        if let Some(size) = self.size {
            recipe.image.size = size;
        }
        let mut set = |split: &str, good: bool, n: Option<usize>| {
            let Some(n) = n else { return };
            let classes = recipe.counts.entry(split.to_string()).or_default();
            if good {
                classes.insert("good".into(), n);
            } else {
                for (class, count) in classes.iter_mut() {
                    if class != "good" {
                        *count = n;
                    }
                }
            }
        };
        set("train", true, self.count_train);
        set("validation", true, self.count_val_good);
        set("validation", false, self.count_val_defect);
        set("test", true, self.count_test_good);
        set("test", false, self.count_test_defect);
    }
}

pub fn run_render(args: RenderArgs) -> anyhow::Result<()> {
    let (mut recipe, product) = Recipe::load(&args.recipe)?;
    args.apply(&mut recipe);
    recipe
        .validate()
        .and_then(|()| recipe.validate_against(&product))
        .map_err(|m| anyhow::anyhow!("recipe {} after overrides: {m}", args.recipe.display()))?;
    let gpu = Gpu::headless()?;
    eprintln!("rendering on {}", gpu.describe());
    let mut renderer = Renderer::new(gpu);
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} samples  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating output folder {}", args.out.display()))?;
    let started = std::time::Instant::now();
    let manifest = generate(
        &mut renderer,
        recipe,
        product,
        &args.out,
        &GenerateControl::default(),
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {} samples to {} in {:.1} s ({:.0} samples/s); manifest: {}",
        manifest.samples.len(),
        args.out.display(),
        secs,
        manifest.samples.len() as f64 / secs,
        args.out.join("manifest.json").display()
    );
    Ok(())
}
