//! `unseen fit`: the renderer's scene fitted to a line's good photos. Writes a recipe whose
//! renders look like the photos, and a report of how well they do.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::dataset::recipe::{CAP_DEFAULT_RECIPE, Recipe};
use crate::fsio::write_atomic;
use crate::imaging::MapInput;
use crate::product::ProductSpec;
use crate::refine::Scene;
use crate::refine::fit::{FitOutcome, FitSettings, contact_sheet, fit_scene, load_photos};
use crate::render::{Gpu, Renderer};

#[derive(Args, Debug)]
pub struct FitArgs {
    /// Good photos: a folder of images, or an MVTec AD folder (its train/good is used).
    #[arg(long, value_name = "DIR")]
    pub photos: PathBuf,
    /// Recipe to start from (its product, image size, poses and counts are kept); the
    /// built-in cap's default recipe when left out.
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// Output folder: recipe.toml (the fitted recipe), fit.json, report.md and the contact
    /// sheets before and after.
    #[arg(long)]
    pub out: PathBuf,
    /// Photos fitted on, spread evenly through the folder (2 to 500).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(2..=500))]
    pub photos_used: u64,
    /// Alternations of per-photo pose refinement and the shared search.
    #[arg(long, default_value_t = 4)]
    pub alternations: usize,
    /// Evaluations of the shared search per alternation.
    #[arg(long, default_value_t = 400)]
    pub evaluations: usize,
    /// Keep the recipe's field of view instead of searching the perspective the photos show.
    #[arg(long)]
    pub keep_field_of_view: bool,
    /// How photos of another size or colour are brought to the recipe's image size (see
    /// `unseen inspect --help`).
    #[arg(long, value_name = "RULE", default_value = "fail")]
    pub map_input: MapInput,
}

pub fn run_fit(args: FitArgs) -> anyhow::Result<()> {
    // Settings first: a wrong number is refused before any photo is read.
    let settings = FitSettings {
        alternations: args.alternations,
        evaluations: args.evaluations,
        field_of_view: !args.keep_field_of_view,
        ..FitSettings::default()
    };
    settings.validate().map_err(anyhow::Error::msg)?;
    let (mut recipe, product, origin) = match &args.recipe {
        Some(path) => {
            let (recipe, product) = Recipe::load(path)?;
            (recipe, product, Some(path.clone()))
        }
        None => (
            Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "the built-in cap recipe")?,
            ProductSpec::builtin_cap(),
            None,
        ),
    };
    // The fitted recipe lives elsewhere: a product named by a relative path is named from
    // where the starting recipe was.
    if recipe.product != "cap" && recipe.product != "builtin:cap" {
        let path = Path::new(&recipe.product);
        if path.is_relative()
            && let Some(dir) = origin.as_deref().and_then(Path::parent)
        {
            let joined = dir.join(path);
            recipe.product = std::path::absolute(&joined)
                .unwrap_or(joined)
                .display()
                .to_string();
        }
    }
    let size = recipe.image.size as usize;
    let (photos, total) = load_photos(
        &args.photos,
        size,
        args.photos_used as usize,
        args.map_input,
    )?;
    let used = photos.len();
    eprintln!(
        "fitting the scene of {} to {used} of the {} good photos in {}",
        origin
            .as_ref()
            .map_or("the built-in cap recipe".into(), |p| p
                .display()
                .to_string()),
        total,
        args.photos.display()
    );
    let gpu = Gpu::headless().context("opening a GPU adapter for rendering")?;
    let mut renderer = Renderer::new(gpu);
    let mut scene = Scene::for_recipe(&renderer, &recipe, &product)?;
    let started = std::time::Instant::now();
    let outcome = fit_scene(
        &mut scene,
        &mut renderer,
        &recipe,
        &photos,
        &settings,
        &mut |line| {
            eprintln!("{line} ({:.0} s)", started.elapsed().as_secs_f64());
            true
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let path = args.out.join(name);
        write_atomic(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    let header = format!(
        "# Fitted by `unseen fit` to {used} good photos of {} ({seconds:.0} s).\n\
         # Light, material, sensor and camera distance are fitted; randomised ranges come\n\
         # from the photos' spread. Render it with `unseen render --recipe recipe.toml`.\n",
        args.photos.display()
    );
    let toml = toml::to_string_pretty(&outcome.recipe).context("writing the recipe as TOML")?;
    write("recipe.toml", format!("{header}{toml}").as_bytes())?;
    write(
        "fit.json",
        serde_json::to_string_pretty(&outcome)
            .context("writing the fit as JSON")?
            .as_bytes(),
    )?;
    let images: Vec<&[f32]> = photos.iter().map(|(_, p)| p.as_slice()).collect();
    let shown = images.len().min(8);
    for (name, renders) in [
        ("contact-before.png", &outcome.renders_before),
        ("contact-after.png", &outcome.renders_after),
    ] {
        let sheet = contact_sheet(size, &images[..shown], &renders[..shown], 3);
        let mut bytes = Vec::new();
        sheet
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .context("encoding a contact sheet")?;
        write(name, &bytes)?;
    }
    write(
        "report.md",
        report(&outcome, &args.photos, used, total, seconds).as_bytes(),
    )?;
    let mean = |f| outcome.mean_over_photos(f);
    println!(
        "mean |photo − render| over the product {:.2} → {:.2} grey levels (whole image {:.2} → \
         {:.2}); wrote {}",
        mean(|p| p.product_abs_before),
        mean(|p| p.product_abs_after),
        mean(|p| p.mean_abs_before),
        mean(|p| p.mean_abs_after),
        args.out.display()
    );
    Ok(())
}

/// The fit's report, in Markdown.
fn report(outcome: &FitOutcome, photos: &Path, used: usize, all: usize, seconds: f64) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Scene fit\n");
    let _ = writeln!(
        md,
        "{used} of the {all} good photos of `{}`, {} alternations of pose refinement and of a \
         search of the shared scene (Nelder–Mead, then Levenberg–Marquardt; {} evaluations \
         each), {seconds:.0} s.\n",
        photos.display(),
        outcome.settings.alternations,
        outcome.settings.evaluations
    );
    let mean = |f| outcome.mean_over_photos(f);
    let _ = writeln!(md, "## Residual\n");
    let _ = writeln!(
        md,
        "| | mean robust loss | mean \\|photo − render\\| (grey levels) | over the product's pixels |\n|---|---|---|---|"
    );
    let _ = writeln!(
        md,
        "| starting recipe | {:.6} | {:.2} | {:.2} |",
        mean(|p| p.loss_before),
        mean(|p| p.mean_abs_before),
        mean(|p| p.product_abs_before)
    );
    let _ = writeln!(
        md,
        "| fitted | {:.6} | {:.2} | {:.2} |\n",
        mean(|p| p.loss_after),
        mean(|p| p.mean_abs_after),
        mean(|p| p.product_abs_after)
    );
    let _ = writeln!(
        md,
        "Contact sheets (photo | render at its fitted pose | difference × 4): \
         `contact-before.png`, `contact-after.png`.\n"
    );
    let _ = writeln!(
        md,
        "## Fitted values\n\n| value | fitted | spread over photos |\n|---|---|---|"
    );
    for v in &outcome.values {
        let spread = v.spread.map_or("shared".to_string(), |s| format!("{s:.4}"));
        let _ = writeln!(md, "| {} | {:.4} {} | {spread} |", v.name, v.value, v.unit);
    }
    let _ = writeln!(
        md,
        "\n## Per photo\n\n| photo | loss before | after | \\|diff\\| on the product before | after | exposure gain |\n|---|---|---|---|---|---|"
    );
    for p in &outcome.photos {
        let _ = writeln!(
            md,
            "| {} | {:.6} | {:.6} | {:.2} | {:.2} | {:.3} |",
            p.name, p.loss_before, p.loss_after, p.product_abs_before, p.product_abs_after, p.gain
        );
    }
    let _ = writeln!(md, "\n## Search\n");
    for (i, loss) in outcome.history.iter().enumerate() {
        let _ = writeln!(md, "- alternation {}: mean robust loss {loss:.6}", i + 1);
    }
    md
}
