//! The demo on the built-in cap, stage by stage: render the default dataset and a held-out
//! evaluation set, train the autoencoder + SOM baseline, start the GAN from it and train it
//! adversarially, then calibrate and evaluate both into one report. `unseen demo` and the
//! workbench's quick demo run these stages (on the demo worker, `crate::worker::demo`); this
//! module says what each stage makes and where.

use std::path::{Path, PathBuf};

use super::EvalOptions;
use crate::dataset::layout::{self, GOOD, Split};
use crate::dataset::manifest::MANIFEST_VERSION;
use crate::dataset::recipe::{CAP_DEFAULT_RECIPE, CAP_EVAL_RECIPE, RecipeError};
use crate::dataset::{Manifest, Recipe};
use crate::inspect::DefectRule;
use crate::model::ModelKind;
use crate::product::ProductSpec;
use crate::train::TrainConfig;

/// The demo's stages: two renders, two trainings, the evaluation.
pub const STAGES: usize = 5;

/// Sizes of a demo run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPlan {
    pub train_good: usize,
    pub val_good: usize,
    pub val_defect: usize,
    /// Test split of the training dataset (the MVTec export); the evaluation uses the
    /// held-out set.
    pub test_good: usize,
    pub test_defect: usize,
    pub eval_good: usize,
    pub eval_defect: usize,
    /// Network width of both models.
    pub width: usize,
    pub batch_size: usize,
    /// GAN steps after starting from the trained autoencoder.
    pub gan_steps: u64,
    /// Autoencoder training steps.
    pub ae_steps: u64,
    /// Descent budgets the evaluation sweeps.
    pub iterations: Vec<usize>,
    pub latency_samples: usize,
}

impl DemoPlan {
    /// The whole job: about forty minutes on two cores.
    pub fn full() -> Self {
        Self {
            train_good: 16000,
            val_good: 300,
            val_defect: 50,
            test_good: 300,
            test_defect: 200,
            eval_good: 200,
            eval_defect: 100,
            width: 16,
            batch_size: TrainConfig::default().batch_size,
            gan_steps: 400,
            ae_steps: 6000,
            iterations: vec![0, 1, 2, 5, 10, 20, 50],
            latency_samples: 8,
        }
    }

    /// About two minutes: small datasets, short training, a weak but real model and report.
    pub fn quick() -> Self {
        Self {
            train_good: 600,
            val_good: 60,
            val_defect: 15,
            test_good: 20,
            test_defect: 5,
            eval_good: 80,
            eval_defect: 30,
            width: 8,
            batch_size: TrainConfig::default().batch_size,
            gan_steps: 100,
            ae_steps: 300,
            iterations: vec![0, 2, 10, 20],
            latency_samples: 4,
        }
    }

    /// What the plan renders and trains, for the user to read.
    pub fn summary(&self) -> String {
        let total = |r: &Recipe| r.groups().iter().map(|g| g.2).sum::<usize>();
        match recipes(self) {
            Ok((train, eval)) => format!(
                "renders {} + {} images, trains {} + {} steps, evaluates both models",
                total(&train),
                total(&eval),
                self.ae_steps,
                self.gan_steps
            ),
            Err(e) => e.to_string(),
        }
    }
}

/// Where a demo writes, under one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLayout {
    pub out: PathBuf,
}

impl DemoLayout {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self { out: out.into() }
    }

    /// The training dataset (its validation split calibrates, its renders name parts).
    pub fn data(&self) -> PathBuf {
        self.out.join("data")
    }

    /// The held-out evaluation set.
    pub fn eval_data(&self) -> PathBuf {
        self.out.join("eval-data")
    }

    pub fn ae_run(&self) -> PathBuf {
        self.out.join("runs").join("ae-som")
    }

    pub fn gan_run(&self) -> PathBuf {
        self.out.join("runs").join("gan")
    }

    pub fn report_dir(&self) -> PathBuf {
        self.out.join("report")
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

/// The recipes of the training dataset and of the held-out set, at the plan's sizes.
pub fn recipes(plan: &DemoPlan) -> Result<(Recipe, Recipe), RecipeError> {
    let mut train = Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "<built-in cap-default>")?;
    train
        .counts
        .entry(Split::Train.to_string())
        .or_default()
        .insert(GOOD.into(), plan.train_good);
    set_counts(
        &mut train,
        Split::Validation,
        plan.val_good,
        plan.val_defect,
    );
    set_counts(&mut train, Split::Test, plan.test_good, plan.test_defect);
    let mut eval = Recipe::from_toml_str(CAP_EVAL_RECIPE, "<built-in cap-eval>")?;
    set_counts(&mut eval, Split::Test, plan.eval_good, plan.eval_defect);
    Ok((train, eval))
}

/// Whether `out` already holds a dataset of exactly `recipe` and `product`, rendered by this
/// version (the stage is done; an older version's dataset is rendered again, replacing it).
pub fn is_rendered(out: &Path, recipe: &Recipe, product: &ProductSpec) -> bool {
    Manifest::load(&layout::manifest_path(out)).is_ok_and(|existing| {
        existing.version == MANIFEST_VERSION
            && existing.recipe == *recipe
            && existing.product == *product
    })
}

/// One training stage.
#[derive(Debug, Clone)]
pub struct TrainingStage {
    pub run_dir: PathBuf,
    pub config: TrainConfig,
}

/// The two trainings, in order. The baseline first; the GAN then starts from its encoder and
/// generator and is trained adversarially (staged training: the autoencoder runs four times
/// faster per step than E + G + D on the CPU, so it learns the poses cheaply, and the GAN
/// steps refine what it draws). The two models share E and G up to the GAN stage, so the
/// comparison measures what the adversarial stage adds.
pub fn training_stages(plan: &DemoPlan, layout: &DemoLayout) -> [TrainingStage; 2] {
    let stage = |model, steps, run_dir, init_from| TrainingStage {
        run_dir,
        config: TrainConfig {
            model,
            width: plan.width,
            batch_size: plan.batch_size,
            steps,
            epochs: None,
            init_from,
            ..TrainConfig::default()
        },
    };
    [
        stage(ModelKind::AeSom, plan.ae_steps, layout.ae_run(), None),
        stage(
            ModelKind::Gan,
            plan.gan_steps,
            layout.gan_run(),
            Some(layout.ae_run()),
        ),
    ]
}

/// The evaluation of both models on the held-out set; thresholds are fitted on the training
/// dataset's validation split (and kept in each run for the workbench's Inspect).
pub fn eval_options(plan: &DemoPlan, layout: &DemoLayout) -> EvalOptions {
    EvalOptions {
        // The GAN first: the report's main model, the baseline beside it.
        runs: vec![layout.gan_run(), layout.ae_run()],
        data: layout.eval_data(),
        calibration_data: Some(layout.data()),
        iterations: plan.iterations.clone(),
        out: layout.report_dir(),
        latency_samples: plan.latency_samples,
        gallery: 8,
        defect_rule: DefectRule::F1Max,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_reaches_the_recipes_and_the_stages() {
        let plan = DemoPlan::quick();
        let (train, eval) = recipes(&plan).unwrap();
        let count = |r: &Recipe, split: Split, class: &str| r.counts[split.as_str()][class];
        assert_eq!(count(&train, Split::Train, GOOD), 600);
        assert_eq!(count(&train, Split::Validation, "bulge"), 15);
        assert_eq!(count(&train, Split::Test, GOOD), 20);
        assert_eq!(count(&eval, Split::Test, "chip"), 30);
        assert!(train.validate().is_ok() && eval.validate().is_ok());

        let layout = DemoLayout::new("/demo");
        let [ae, gan] = training_stages(&plan, &layout);
        assert_eq!((ae.config.model, ae.config.steps), (ModelKind::AeSom, 300));
        assert_eq!(gan.config.init_from, Some(layout.ae_run()));
        assert!(ae.config.validate().is_ok() && gan.config.validate().is_ok());
        let options = eval_options(&plan, &layout);
        assert_eq!(options.runs[0], layout.gan_run());
        assert_eq!(options.calibration_data, Some(layout.data()));
    }
}
