//! `unseen render`: a dataset from a recipe on the generation worker, with a progress bar.

use std::path::PathBuf;

use clap::Args;

use crate::dataset::Recipe;
use crate::dataset::layout::{self, GOOD, Split};
use crate::worker::Waker;
use crate::worker::generate::{GenerateEvent, GenerateJob, spawn_generation};

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// Dataset recipe (TOML), e.g. assets/datasets/cap-default.toml.
    #[arg(long)]
    pub recipe: PathBuf,
    /// Output folder. It is locked while the render runs; one that holds another dataset is
    /// refused (see --replace), one that holds an interrupted render of this recipe resumes.
    #[arg(long)]
    pub out: PathBuf,
    /// Delete another dataset found in the output folder (its manifest, unfinished render and
    /// every file in its folders) instead of refusing to render there.
    #[arg(long)]
    pub replace: bool,
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
    let worker = spawn_generation(
        GenerateJob {
            gpu: None,
            recipe,
            product,
            out: args.out.clone(),
            replace: args.replace,
        },
        Waker::none(),
    )?;
    let bar = RenderBar::new();
    let mut outcome = Err(anyhow::anyhow!("the renderer ended without a result"));
    for event in worker.events().iter() {
        if let Some(end) = bar.show(&event) {
            outcome = end;
        }
    }
    worker.join();
    let (samples, secs) = outcome?;
    println!(
        "wrote {samples} samples to {} in {secs:.1} s ({:.0} samples/s); manifest: {}",
        args.out.display(),
        samples as f64 / secs,
        layout::manifest_path(&args.out).display()
    );
    Ok(())
}

/// A dataset's rendering on the terminal.
pub(super) struct RenderBar {
    bar: indicatif::ProgressBar,
}

impl RenderBar {
    pub(super) fn new() -> Self {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} samples  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self { bar }
    }

    /// Shows `event`; for the last one, the samples written and the seconds it took.
    pub(super) fn show(&self, event: &GenerateEvent) -> Option<anyhow::Result<(usize, f64)>> {
        match event {
            GenerateEvent::Started { adapter, total } => {
                eprintln!("rendering on {adapter}");
                self.bar.set_length(*total as u64);
            }
            GenerateEvent::Progress { done, total } => {
                self.bar.set_length(*total as u64);
                self.bar.set_position(*done as u64);
            }
            GenerateEvent::Finished {
                samples,
                elapsed_secs,
                notes,
            } => {
                self.bar.finish_and_clear();
                for note in notes {
                    eprintln!("{note}");
                }
                return Some(Ok((*samples, *elapsed_secs)));
            }
            GenerateEvent::Failed(message) => {
                self.bar.abandon();
                return Some(Err(anyhow::anyhow!(message.clone())));
            }
        }
        None
    }
}
