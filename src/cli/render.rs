//! `unseen render`: a dataset from a recipe, with a progress bar.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::dataset::layout::{self, GOOD, Split};
use crate::dataset::{GenerateControl, Recipe, generate};
use crate::render::{Gpu, Renderer};

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
        let mut set = |split: Split, good: bool, n: Option<usize>| {
            let Some(n) = n else { return };
            let classes = recipe.counts.entry(split.to_string()).or_default();
            if good {
                classes.insert(GOOD.into(), n);
            } else {
                for (class, count) in classes.iter_mut() {
                    if class != GOOD {
                        *count = n;
                    }
                }
            }
        };
        set(Split::Train, true, self.count_train);
        set(Split::Validation, true, self.count_val_good);
        set(Split::Validation, false, self.count_val_defect);
        set(Split::Test, true, self.count_test_good);
        set(Split::Test, false, self.count_test_defect);
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
        layout::manifest_path(&args.out).display()
    );
    Ok(())
}
