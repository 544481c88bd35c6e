//! `unseen eval` and `unseen demo`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::run::{EvalOptions, EvalProgress, evaluate};
use super::types::{CLASS_COLUMNS, EvalReport};
use crate::compute::{ComputeDevice, SelectedDevice, select_device};
use crate::dataset::recipe::{CAP_DEFAULT_RECIPE, CAP_EVAL_RECIPE};
use crate::dataset::{GenerateControl, Manifest, Recipe, generate};
use crate::inspect::DefectRule;
use crate::inspect::cli::parse_false_alarm_rate;
use crate::model::ModelKind;
use crate::product::ProductSpec;
use crate::render::{Gpu, Renderer};
use crate::train::cli::follow_training;
use crate::train::config::TrainConfig;
use crate::train::worker::{TrainJob, spawn_training};

/// Evaluate trained models on a test split: image and pixel AUROC, AUPRO, F1-max, the
/// confusion matrix at the calibrated threshold, per defect class, for each descent budget;
/// writes report.json, report.md and report.html.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The training run to evaluate.
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// A second run to compare with (e.g. the AE + SOM baseline).
    #[arg(long, value_name = "RUN_DIR2")]
    pub compare: Option<PathBuf>,
    /// Dataset whose `test` split is evaluated (e.g. rendered from assets/datasets/cap-eval.toml).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Dataset whose validation split fits thresholds for a run without a matching calibration.
    #[arg(long, value_name = "DIR")]
    pub calibrate_on: Option<PathBuf>,
    /// Descent budgets to sweep (the model's calibrated budget is always included).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,5,10,20,50,100")]
    pub iterations: Vec<usize>,
    #[arg(long, value_name = "REPORT_DIR")]
    pub out: PathBuf,
    /// Good and defective images (each) timed one by one per budget.
    #[arg(long, default_value_t = 16)]
    pub latency_samples: usize,
    /// Worst false positives and false negatives shown per model.
    #[arg(long, default_value_t = 8)]
    pub gallery: usize,
    /// Set each model's defect threshold so that at most this fraction of the good validation
    /// images reach it (e.g. 0.01), instead of the threshold of best F1.
    #[arg(long, value_name = "RATE", value_parser = parse_false_alarm_rate)]
    pub false_alarm_rate: Option<f32>,
    #[arg(long, default_value = "auto")]
    pub device: ComputeDevice,
}

pub fn run_eval_cli(args: EvalArgs) -> anyhow::Result<()> {
    let device = select_device(args.device)?;
    eprintln!("evaluating on {}", device.description);
    let mut runs = vec![args.model.clone()];
    runs.extend(args.compare.clone());
    let options = EvalOptions {
        runs,
        data: args.data.clone(),
        calibration_data: args.calibrate_on.clone(),
        iterations: args.iterations.clone(),
        out: args.out.clone(),
        latency_samples: args.latency_samples,
        gallery: args.gallery,
        defect_rule: args.false_alarm_rate.map_or(DefectRule::F1Max, |rate| {
            DefectRule::FalseAlarmRate { rate }
        }),
    };
    let report = run_with_progress(&options, &device)?;
    print_summary(&report);
    Ok(())
}

fn run_with_progress(options: &EvalOptions, device: &SelectedDevice) -> anyhow::Result<EvalReport> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let cancel = AtomicBool::new(false);
    let (report, files) = evaluate(
        options,
        &device.device,
        &mut |p| match p {
            EvalProgress::Opening { run } => {
                bar.println(format!("opening {}", run.display()));
            }
            EvalProgress::Scoring { model, done, total } => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(format!("{model}: scoring test images"));
            }
            EvalProgress::Timing { model, iterations } => {
                bar.set_message(format!("{model}: timing {iterations} iterations"));
            }
            EvalProgress::Writing => bar.set_message("writing the report"),
        },
        &cancel,
    )?;
    bar.finish_and_clear();
    eprintln!("report: {}", files.html.display());
    eprintln!("        {}", files.markdown.display());
    eprintln!("        {}", files.json.display());
    Ok(report)
}

/// The main numbers of each model at its calibrated budget, one line per class.
fn print_summary(report: &EvalReport) {
    for model in &report.models {
        let Some(point) = model
            .sweep
            .iter()
            .find(|p| p.iterations == model.main_iterations)
        else {
            continue;
        };
        println!(
            "{} ({}, step {}, {} iterations, score {}):",
            model.name,
            model.model_kind,
            model.checkpoint_step,
            model.main_iterations,
            model.score_kind
        );
        let [class, n, image, pixel, aupro, f1, precision, recall] = CLASS_COLUMNS;
        println!(
            "  {class:<12} {n:>5} {image:>11} {pixel:>11} {aupro:>7} {f1:>7} {precision:>9} {recall:>7}"
        );
        for c in &point.classes {
            let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
            println!(
                "  {:<12} {:>5} {:>11.4} {:>11} {:>7} {:>7.4} {:>9.4} {:>7.4}",
                c.class,
                c.defective,
                c.image_auroc,
                opt(c.pixel_auroc),
                opt(c.aupro),
                c.f1_max,
                c.at_calibrated.precision(),
                c.at_calibrated.recall()
            );
        }
        println!(
            "  latency {:.1} ms good, {:.1} ms defective (one image at a time)",
            point.mean_ms_good, point.mean_ms_defective
        );
    }
}

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
    #[arg(long, default_value = "auto")]
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
fn set_counts(recipe: &mut Recipe, split: &str, good: usize, defect: usize) {
    if let Some(classes) = recipe.counts.get_mut(split) {
        for (class, n) in classes.iter_mut() {
            *n = if class == "good" { good } else { defect };
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
        .entry("train".into())
        .or_default()
        .insert("good".into(), plan.train_good);
    set_counts(
        &mut train_recipe,
        "validation",
        plan.val_good,
        plan.val_defect,
    );
    set_counts(&mut train_recipe, "test", plan.test_good, plan.test_defect);
    let mut eval_recipe = Recipe::from_toml_str(CAP_EVAL_RECIPE, "<built-in cap-eval>")?;
    set_counts(&mut eval_recipe, "test", plan.eval_good, plan.eval_defect);

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
        let handle = spawn_training(TrainJob {
            data_dir: dataset.clone(),
            run_dir: run_dir.clone(),
            config,
            device: device.clone(),
            resume,
        })?;
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
    let manifest_path = out.join("manifest.json");
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
