//! `unseen demo`: the main job headless on the built-in cap, each stage resumable: render the
//! default dataset and a held-out evaluation set, train the baseline and the GAN, evaluate and
//! compare them.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::eval::{print_summary, run_with_progress};
use super::train::follow_training;
use crate::compute::{ComputeDevice, select_device};
use crate::dataset::layout::{self, GOOD, Split};
use crate::dataset::recipe::{CAP_DEFAULT_RECIPE, CAP_EVAL_RECIPE};
use crate::dataset::{GenerateControl, Manifest, Recipe, generate};
use crate::eval::EvalOptions;
use crate::inspect::DefectRule;
use crate::model::ModelKind;
use crate::product::ProductSpec;
use crate::render::{Gpu, Renderer};
use crate::train::TrainJob;
use crate::train::config::TrainConfig;
use crate::worker::Waker;
use crate::worker::train::spawn_training;

/// Run the main job headless on the built-in cap: render the default dataset and a held-out
/// evaluation set, train the GAN and the autoencoder + SOM baseline, evaluate and compare them.
/// Every stage resumes: rerunning with the same `--out` skips what is done.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "unseen-demo", value_name = "DIR")]
    pub out: PathBuf,
    /// About two minutes instead of about forty: small datasets, short training, a weak but
    /// real model and report.
    #[arg(long)]
    pub quick: bool,
    /// GAN steps after starting from the trained autoencoder (default 400; 100 with --quick).
    #[arg(long)]
    pub gan_steps: Option<u64>,
    /// Autoencoder training steps (default 6000; 300 with --quick).
    #[arg(long)]
    pub ae_steps: Option<u64>,
    /// Where to compute.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ComputeDevice::Auto)]
    pub device: ComputeDevice,
}

/// Sizes of a demo run.
struct DemoPlan {
    train_good: usize,
    val_good: usize,
    val_defect: usize,
    /// Test split of the training dataset (the MVTec export); the evaluation uses the
    /// held-out set.
    test_good: usize,
    test_defect: usize,
    eval_good: usize,
    eval_defect: usize,
    width: usize,
    gan_steps: u64,
    ae_steps: u64,
    iterations: Vec<usize>,
    latency_samples: usize,
}

impl DemoPlan {
    fn new(args: &DemoArgs) -> Self {
        let mut plan = if args.quick {
            Self {
                train_good: 600,
                val_good: 60,
                val_defect: 15,
                test_good: 20,
                test_defect: 5,
                eval_good: 80,
                eval_defect: 30,
                width: 8,
                gan_steps: 100,
                ae_steps: 300,
                iterations: vec![0, 2, 10, 20],
                latency_samples: 4,
            }
        } else {
            Self {
                train_good: 16000,
                val_good: 300,
                val_defect: 50,
                test_good: 300,
                test_defect: 200,
                eval_good: 200,
                eval_defect: 100,
                width: 16,
                gan_steps: 400,
                ae_steps: 6000,
                iterations: vec![0, 1, 2, 5, 10, 20, 50],
                latency_samples: 8,
            }
        };
        plan.gan_steps = args.gan_steps.unwrap_or(plan.gan_steps);
        plan.ae_steps = args.ae_steps.unwrap_or(plan.ae_steps);
        plan
    }
}

/// Sets every count of `split` (good and each defect class) in `recipe`.
fn set_counts(recipe: &mut Recipe, split: Split, good: usize, defect: usize) {
    if let Some(classes) = recipe.counts.get_mut(split.as_str()) {
        for (class, n) in classes.iter_mut() {
            *n = if class == GOOD { good } else { defect };
        }
    }
}

pub fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let plan = DemoPlan::new(&args);
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let product = ProductSpec::builtin_cap();

    let mut train_recipe = Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "<built-in cap-default>")?;
    train_recipe
        .counts
        .entry(Split::Train.to_string())
        .or_default()
        .insert(GOOD.into(), plan.train_good);
    set_counts(
        &mut train_recipe,
        Split::Validation,
        plan.val_good,
        plan.val_defect,
    );
    set_counts(
        &mut train_recipe,
        Split::Test,
        plan.test_good,
        plan.test_defect,
    );
    let mut eval_recipe = Recipe::from_toml_str(CAP_EVAL_RECIPE, "<built-in cap-eval>")?;
    set_counts(
        &mut eval_recipe,
        Split::Test,
        plan.eval_good,
        plan.eval_defect,
    );

    let data = args.out.join("data");
    let eval_data = args.out.join("eval-data");
    let gpu = Gpu::headless()?;
    eprintln!("[1/5] rendering on {}", gpu.describe());
    let mut renderer = Renderer::new(gpu);
    render_once(&mut renderer, train_recipe, &product, &data)?;
    eprintln!("[2/5] rendering the held-out evaluation set");
    render_once(&mut renderer, eval_recipe, &product, &eval_data)?;
    drop(renderer);

    let device = select_device(args.device)?;
    let dataset = data.clone();
    // The baseline first; the GAN then starts from its encoder and generator and is trained
    // adversarially (staged training: the autoencoder runs four times faster per step than
    // E + G + D on the CPU, so it learns the poses cheaply, and the GAN steps refine what it
    // draws). The two models share E and G up to the GAN stage, so the comparison measures
    // what the adversarial stage adds.
    let ae_run = args.out.join("runs").join("ae-som");
    let runs = [
        (ModelKind::AeSom, plan.ae_steps, ae_run.clone(), None),
        (
            ModelKind::Gan,
            plan.gan_steps,
            args.out.join("runs").join("gan"),
            Some(ae_run),
        ),
    ];
    for (stage, (kind, steps, run_dir, init_from)) in runs.iter().enumerate() {
        eprintln!(
            "[{}/5] training {kind} for {steps} steps on {} into {}",
            stage + 3,
            device.description,
            run_dir.display()
        );
        let config = TrainConfig {
            model: *kind,
            width: plan.width,
            steps: *steps,
            epochs: None,
            init_from: init_from.clone(),
            ..TrainConfig::default()
        };
        config.validate()?;
        let resume = run_dir.join("latest.json").exists();
        let handle = spawn_training(
            TrainJob {
                data_dir: dataset.clone(),
                run_dir: run_dir.clone(),
                config,
                device: device.clone(),
                resume,
            },
            Waker::none(),
        )?;
        follow_training(handle)?;
    }

    eprintln!("[5/5] evaluating both models on the held-out set");
    let options = EvalOptions {
        // The GAN first: the report's main model, the baseline beside it.
        runs: runs.iter().rev().map(|r| r.2.clone()).collect(),
        data: eval_data.clone(),
        calibration_data: Some(dataset),
        iterations: plan.iterations.clone(),
        out: args.out.join("report"),
        latency_samples: plan.latency_samples,
        gallery: 8,
        defect_rule: DefectRule::F1Max,
    };
    let report = run_with_progress(&options, &device)?;
    print_summary(&report);
    eprintln!(
        "demo finished in {:.1} min; open {}",
        started.elapsed().as_secs_f64() / 60.0,
        options.out.join("report.html").display()
    );
    Ok(())
}

/// Renders `recipe` into `out` unless a dataset of exactly that recipe is already there.
fn render_once(
    renderer: &mut Renderer,
    recipe: Recipe,
    product: &ProductSpec,
    out: &Path,
) -> anyhow::Result<()> {
    let manifest_path = layout::manifest_path(out);
    if let Ok(existing) = Manifest::load(&manifest_path)
        && existing.recipe == recipe
        && existing.product == *product
    {
        eprintln!("      {} is up to date", manifest_path.display());
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let t = std::time::Instant::now();
    let manifest = generate(
        renderer,
        recipe,
        product.clone(),
        out,
        &GenerateControl::default(),
        &mut |_, _| {},
    )?;
    eprintln!(
        "      {} samples in {:.1} s",
        manifest.samples.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
