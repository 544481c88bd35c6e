//! `unseen ablate`: what each class of synthesis buys on the line's photos.

use std::path::PathBuf;

use clap::Args;

use super::render::RenderBar;
use crate::compute::{ComputeDevice, select_device};
use crate::dataset::recipe::{CAP_DEFAULT_RECIPE, Recipe};
use crate::eval::ablate::{AblationPlan, variants};
use crate::imaging::MapInput;
use crate::model::ModelKind;
use crate::train::TrainEvent;
use crate::worker::Waker;
use crate::worker::ablate::{AblationEvent, AblationJob, spawn_ablation};

#[derive(Args, Debug)]
pub struct AblateArgs {
    /// The recipe to take apart, e.g. the recipe.toml `unseen fit` wrote.
    #[arg(long)]
    pub recipe: PathBuf,
    /// The line's photos: an MVTec AD folder (train/good refits the thresholds, test/ is
    /// what every variant is measured on).
    #[arg(long, value_name = "DIR")]
    pub photos: PathBuf,
    /// Output folder: a dataset, run and report per variant, and ablation.md/.json/.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// The recipe a class left out is put back to; the built-in cap's when left out.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Good training renders per variant.
    #[arg(long, default_value_t = AblationPlan::default().train_good)]
    pub train_good: usize,
    /// Good validation renders per variant (calibration).
    #[arg(long, default_value_t = AblationPlan::default().val_good)]
    pub val_good: usize,
    /// Validation renders per defect class and variant.
    #[arg(long, default_value_t = AblationPlan::default().val_defect)]
    pub val_defect: usize,
    /// Training steps per variant.
    #[arg(long, default_value_t = AblationPlan::default().steps)]
    pub steps: u64,
    /// Network width.
    #[arg(long, default_value_t = AblationPlan::default().width)]
    pub width: usize,
    /// Model trained per variant.
    #[arg(long, value_enum, default_value_t = AblationPlan::default().model)]
    pub model: ModelKind,
    #[arg(long, value_enum, ignore_case = true, default_value_t = ComputeDevice::Auto)]
    pub device: ComputeDevice,
    /// How photos of another size or colour reach the model (see `unseen inspect --help`).
    #[arg(long, value_name = "RULE", default_value = "fail")]
    pub map_input: MapInput,
}

pub fn run_ablate(args: AblateArgs) -> anyhow::Result<()> {
    let (recipe, product) = Recipe::load(&args.recipe)?;
    let (base, base_name) = match &args.base {
        Some(path) => (Recipe::load(path)?.0, format!("`{}`", path.display())),
        None => (
            Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "the built-in cap recipe")?,
            "the built-in cap recipe".to_string(),
        ),
    };
    let plan = AblationPlan {
        train_good: args.train_good,
        val_good: args.val_good,
        val_defect: args.val_defect,
        model: args.model,
        steps: args.steps,
        width: args.width,
    };
    let count = variants(&recipe, &base, &plan).len();
    let device = select_device(args.device)?;
    eprintln!(
        "{count} variants of {}, each {} good renders and {} {} steps on {}",
        args.recipe.display(),
        plan.train_good,
        plan.steps,
        plan.model,
        device.description
    );
    let job = AblationJob {
        recipe,
        recipe_path: args.recipe.clone(),
        product,
        base,
        base_name,
        photos: args.photos.clone(),
        out: args.out.clone(),
        plan,
        device,
        map_input: args.map_input,
    };
    let worker = spawn_ablation(job, Waker::none())?;
    let mut bar: Option<RenderBar> = None;
    let mut outcome = Err(anyhow::anyhow!("the ablation ended without a result"));
    for event in worker.events().iter() {
        match event {
            AblationEvent::Variant {
                number,
                count,
                name,
            } => {
                eprintln!("[{number}/{count}] {name}");
                bar = None;
            }
            AblationEvent::UpToDate(dir) => eprintln!("      {} is up to date", dir.display()),
            AblationEvent::Render(event) => {
                let bar = bar.get_or_insert_with(RenderBar::new);
                if let Some(Ok((samples, secs))) = bar.show(&event) {
                    eprintln!("      {samples} samples in {secs:.1} s");
                }
            }
            AblationEvent::Train(TrainEvent::Finished(report)) => {
                eprintln!(
                    "      trained to step {} in {:.0} s",
                    report.step, report.elapsed_secs
                );
            }
            AblationEvent::Train(_) | AblationEvent::Eval(_) => {}
            AblationEvent::Done(result) => {
                let classes: Vec<String> = result
                    .classes
                    .iter()
                    .map(|(c, a)| format!("{c} {a:.3}"))
                    .collect();
                eprintln!(
                    "      {}: {} ({:.0} s)",
                    result.detector,
                    classes.join(", "),
                    result.seconds
                );
            }
            AblationEvent::Finished(_) => {
                println!("wrote {}", args.out.join("ablation.md").display());
                outcome = Ok(());
            }
            AblationEvent::Cancelled => {
                outcome = Err(anyhow::anyhow!("the ablation was cancelled"))
            }
            AblationEvent::Failed(message) => outcome = Err(anyhow::anyhow!(message)),
        }
    }
    worker.join();
    outcome
}
