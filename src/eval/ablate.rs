//! The ablation: what each class of synthesis buys on the line's photos. A recipe (usually
//! the one `unseen fit` wrote) is compared with itself less one class at a time, each class
//! put back to a base recipe's value (the built-in cap's by default) with its randomisation
//! dropped; every variant renders, trains and calibrates on the same short budget and is
//! evaluated on the same photos.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::types::EvalReport;
use crate::dataset::Split;
use crate::dataset::layout::GOOD;
use crate::dataset::recipe::Recipe;
use crate::model::ModelKind;
use crate::train::TrainConfig;

/// One class of synthesis: a named part of the recipe, and how to leave it out (put it back
/// to `base` and stop randomising it).
pub struct SynthesisClass {
    pub name: &'static str,
    pub what: &'static str,
    leave_out: fn(&mut Recipe, &Recipe),
}

impl SynthesisClass {
    /// `recipe` without this class.
    pub fn left_out(&self, recipe: &Recipe, base: &Recipe) -> Recipe {
        let mut r = recipe.clone();
        (self.leave_out)(&mut r, base);
        r
    }
}

/// Every class of synthesis a recipe has, in the order the report lists them.
pub const CLASSES: &[SynthesisClass] = &[
    SynthesisClass {
        name: "light",
        what: "light direction, its jitter and the shadows the product casts",
        leave_out: |r, b| {
            r.lighting.direction = b.lighting.direction;
            r.lighting.shadow = b.lighting.shadow;
            r.randomize.light_jitter_deg = b.randomize.light_jitter_deg;
        },
    },
    SynthesisClass {
        name: "intensity",
        what: "light intensity and ambient, and their ranges",
        leave_out: |r, b| {
            r.lighting.intensity = b.lighting.intensity;
            r.lighting.ambient = b.lighting.ambient;
            r.randomize.intensity = b.randomize.intensity;
            r.randomize.ambient = b.randomize.ambient;
        },
    },
    SynthesisClass {
        name: "material",
        what: "albedo, highlight strength, shininess and each part's own ambient light",
        leave_out: |r, b| {
            r.lighting.part_ambient = b.lighting.part_ambient;
            r.lighting.albedo = b.lighting.albedo;
            r.lighting.specular = b.lighting.specular;
            r.lighting.shininess = b.lighting.shininess;
        },
    },
    SynthesisClass {
        name: "response",
        what: "the camera's response curve (gamma) and its range",
        leave_out: |r, b| {
            r.sensor.gamma = b.sensor.gamma;
            r.randomize.gamma = b.randomize.gamma;
        },
    },
    SynthesisClass {
        name: "background",
        what: "the black level and its range",
        leave_out: |r, b| {
            r.sensor.black_level = b.sensor.black_level;
            r.randomize.black_level = b.randomize.black_level;
        },
    },
    SynthesisClass {
        name: "blur",
        what: "the optics' blur and the blur range",
        leave_out: |r, b| {
            r.sensor.blur_px = b.sensor.blur_px;
            r.randomize.blur_sigma = b.randomize.blur_sigma;
        },
    },
    SynthesisClass {
        name: "noise",
        what: "sensor noise",
        leave_out: |r, b| r.randomize.noise_sigma = b.randomize.noise_sigma,
    },
    SynthesisClass {
        name: "distance",
        what: "camera distance and its range",
        leave_out: |r, b| {
            r.camera.distance = b.camera.distance;
            r.randomize.camera_distance = b.randomize.camera_distance;
        },
    },
    SynthesisClass {
        name: "offset",
        what: "where the picture sits (its shift in pixels)",
        leave_out: |r, b| r.randomize.offset_px = b.randomize.offset_px,
    },
    SynthesisClass {
        name: "pose",
        what: "how the product is turned",
        leave_out: |r, b| r.pose = b.pose,
    },
];

/// The same short budget for every variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationPlan {
    pub train_good: usize,
    pub val_good: usize,
    pub val_defect: usize,
    pub model: ModelKind,
    pub steps: u64,
    pub width: usize,
}

impl Default for AblationPlan {
    /// The quick demo's sizes: about two minutes a variant on two cores.
    fn default() -> Self {
        Self {
            train_good: 600,
            val_good: 60,
            val_defect: 15,
            model: ModelKind::AeSom,
            steps: 300,
            width: 8,
        }
    }
}

impl AblationPlan {
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            model: self.model,
            width: self.width,
            steps: self.steps,
            epochs: None,
            ..TrainConfig::default()
        }
    }
}

/// One recipe of the ablation.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// `all`, `without-<class>` or `base`.
    pub name: String,
    /// The class left out (`None` for all and base).
    pub left_out: Option<String>,
    pub recipe: Recipe,
}

/// The variants: the whole recipe, then one per class that differs from `base` (a class the
/// recipe shares with the base has nothing to leave out), then the base itself; each at the
/// plan's sizes with no test split (the photos are the test).
pub fn variants(recipe: &Recipe, base: &Recipe, plan: &AblationPlan) -> Vec<Variant> {
    let sized = |r: &Recipe| {
        let mut r = r.clone();
        let defects: Vec<String> = r
            .counts
            .values()
            .flat_map(|c| c.keys())
            .filter(|c| *c != GOOD)
            .cloned()
            .collect();
        r.counts.clear();
        r.counts
            .entry(Split::Train.to_string())
            .or_default()
            .insert(GOOD.into(), plan.train_good);
        let val = r.counts.entry(Split::Validation.to_string()).or_default();
        val.insert(GOOD.into(), plan.val_good);
        for d in defects {
            val.insert(d, plan.val_defect);
        }
        r
    };
    let mut out = vec![Variant {
        name: "all".into(),
        left_out: None,
        recipe: sized(recipe),
    }];
    for class in CLASSES {
        let without = class.left_out(recipe, base);
        if without != *recipe {
            out.push(Variant {
                name: format!("without-{}", class.name),
                left_out: Some(class.name.into()),
                recipe: sized(&without),
            });
        }
    }
    // The base keeps the recipe's product and name: only its synthesis is the base's.
    let mut plain = recipe.clone();
    for class in CLASSES {
        plain = class.left_out(&plain, base);
    }
    out.push(Variant {
        name: "base".into(),
        left_out: Some("every class".into()),
        recipe: sized(&plain),
    });
    out
}

/// What one variant scored on the photos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantResult {
    pub name: String,
    pub left_out: Option<String>,
    /// The detector calibration chose, and its image AUROC per class (`all` first).
    pub detector: String,
    pub classes: Vec<(String, f64)>,
    pub pixel_auroc: Option<f64>,
    /// Every detector's image AUROC over all defects.
    pub detectors: Vec<(String, f64)>,
    pub seconds: f64,
}

impl VariantResult {
    pub fn from_report(variant: &Variant, report: &EvalReport, seconds: f64) -> Option<Self> {
        let model = report.models.first()?;
        // The point the report itself leads with.
        let point = super::report::main_point(model)?;
        let detector = model
            .detectors
            .iter()
            .find(|d| d.chosen)
            .map_or_else(|| model.score_kind.clone(), |d| d.name.clone());
        Some(Self {
            name: variant.name.clone(),
            left_out: variant.left_out.clone(),
            detector,
            classes: point
                .classes
                .iter()
                .map(|c| (c.class.clone(), c.image_auroc))
                .collect(),
            pixel_auroc: super::report::class_metrics(point, "all").and_then(|c| c.pixel_auroc),
            detectors: model
                .detectors
                .iter()
                .filter_map(|d| {
                    d.classes
                        .iter()
                        .find(|(c, _)| c == "all")
                        .map(|(_, a)| (d.name.clone(), *a))
                })
                .collect(),
            seconds,
        })
    }

    fn auroc(&self, class: &str) -> Option<f64> {
        self.classes.iter().find(|(c, _)| c == class).map(|c| c.1)
    }
}

/// The whole ablation, as written to `ablation.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationReport {
    pub recipe: PathBuf,
    pub base: String,
    pub photos: PathBuf,
    pub plan: AblationPlan,
    pub results: Vec<VariantResult>,
}

impl AblationReport {
    /// The table: each variant's chosen detector and image AUROC per class, with the change
    /// against the whole recipe.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Ablation of the synthesis classes\n");
        let _ = writeln!(
            md,
            "Recipe `{}`, each class put back to {} in turn; photos `{}`. Every variant renders \
             {} good training images ({} good and {} per defect class for validation), trains \
             {} for {} steps (width {}), calibrates on its validation renders and refits its \
             thresholds on the good photos, and is evaluated on the photos' test set.\n",
            self.recipe.display(),
            self.base,
            self.photos.display(),
            self.plan.train_good,
            self.plan.val_good,
            self.plan.val_defect,
            self.plan.model,
            self.plan.steps,
            self.plan.width
        );
        let classes: Vec<String> = self
            .results
            .first()
            .map(|r| r.classes.iter().map(|c| c.0.clone()).collect())
            .unwrap_or_default();
        let all = self.results.iter().find(|r| r.name == "all");
        let _ = write!(md, "| variant | left out | chosen detector |");
        for c in &classes {
            let _ = write!(md, " {c} |");
        }
        let _ = writeln!(md, " Δ all | pixel AUROC |");
        let _ = writeln!(md, "|{}", "---|".repeat(classes.len() + 5));
        for r in &self.results {
            let _ = write!(
                md,
                "| {} | {} | {} |",
                r.name,
                r.left_out.as_deref().unwrap_or("nothing"),
                r.detector
            );
            for c in &classes {
                let _ = write!(
                    md,
                    " {} |",
                    r.auroc(c).map_or("–".into(), |a| format!("{a:.3}"))
                );
            }
            let delta = match (all.and_then(|a| a.auroc("all")), r.auroc("all")) {
                (Some(a), Some(b)) if r.name != "all" => format!("{:+.3}", b - a),
                _ => "–".into(),
            };
            let _ = writeln!(
                md,
                " {delta} | {} |",
                r.pixel_auroc.map_or("–".into(), |p| format!("{p:.3}"))
            );
        }
        let _ = writeln!(md, "\nEach detector's image AUROC over all defects:\n");
        let names: Vec<String> = self
            .results
            .first()
            .map(|r| r.detectors.iter().map(|d| d.0.clone()).collect())
            .unwrap_or_default();
        let _ = write!(md, "| variant |");
        for n in &names {
            let _ = write!(md, " {n} |");
        }
        let _ = writeln!(md, "\n|{}", "---|".repeat(names.len() + 1));
        for r in &self.results {
            let _ = write!(md, "| {} |", r.name);
            for n in &names {
                let v = r.detectors.iter().find(|d| &d.0 == n).map(|d| d.1);
                let _ = write!(md, " {} |", v.map_or("–".into(), |a| format!("{a:.3}")));
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "\nPlot: `ablation.svg`.");
        md
    }

    /// A bar per variant: its image AUROC over all defects, with the whole recipe's marked.
    pub fn svg(&self) -> String {
        let (bar, gap, left, width) = (22.0, 8.0, 170.0, 420.0);
        let height = self.results.len() as f64 * (bar + gap) + 50.0;
        let x = |a: f64| left + (a.clamp(0.5, 1.0) - 0.5) * 2.0 * width;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n",
            left + width + 60.0
        );
        let _ = writeln!(
            svg,
            "<text x=\"{left}\" y=\"14\">image AUROC on the photos (all defects), 0.5 to 1</text>"
        );
        for (i, r) in self.results.iter().enumerate() {
            let y = 24.0 + i as f64 * (bar + gap);
            let a = r.auroc("all").unwrap_or(0.5);
            let fill = if r.name == "all" {
                "#2f6fb0"
            } else {
                "#8aa9c8"
            };
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
                 <rect x=\"{left}\" y=\"{y}\" width=\"{}\" height=\"{bar}\" fill=\"{fill}\"/>\
                 <text x=\"{}\" y=\"{}\">{a:.3}</text>",
                left - 6.0,
                y + bar * 0.7,
                r.name,
                (x(a) - left).max(0.0),
                x(a) + 4.0,
                y + bar * 0.7
            );
        }
        if let Some(a) = self
            .results
            .iter()
            .find(|r| r.name == "all")
            .and_then(|r| r.auroc("all"))
        {
            let _ = writeln!(
                svg,
                "<line x1=\"{0}\" x2=\"{0}\" y1=\"20\" y2=\"{1}\" stroke=\"#c03030\" \
                 stroke-dasharray=\"4 3\"/>",
                x(a),
                height - 20.0
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// Where a variant's dataset, run and report go under the ablation's folder.
pub fn variant_dirs(out: &Path, variant: &Variant) -> (PathBuf, PathBuf, PathBuf) {
    let dir = out.join("variants").join(&variant.name);
    (dir.join("data"), dir.join("run"), dir.join("report"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dataset::recipe::CAP_DEFAULT_RECIPE;

    #[test]
    fn each_class_that_differs_is_left_out_alone_and_the_base_leaves_out_all() {
        let base = Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "cap").unwrap();
        let mut fitted = base.clone();
        fitted.sensor.gamma = 1.7;
        fitted.randomize.noise_sigma = Some([1.5, 2.5]);
        fitted.lighting.specular = 0.3;
        let plan = AblationPlan::default();
        let v = variants(&fitted, &base, &plan);
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "all",
                "without-material",
                "without-response",
                "without-noise",
                "base"
            ]
        );
        let response = &v[2].recipe;
        assert_eq!(response.sensor.gamma, 1.0);
        assert_eq!(
            response.randomize.noise_sigma,
            Some([1.5, 2.5]),
            "only one class goes"
        );
        let plain = &v[4].recipe;
        assert_eq!(plain.sensor, base.sensor);
        assert_eq!(plain.lighting, base.lighting);
        // Every variant has the plan's sizes and no test split, and is a valid recipe.
        for variant in &v {
            let r = &variant.recipe;
            assert_eq!(r.counts["train"]["good"], 600);
            assert_eq!(r.counts["validation"]["bulge"], 15);
            assert!(!r.counts.contains_key("test"));
            assert!(r.validate().is_ok(), "{}: {:?}", variant.name, r.validate());
        }
    }
}
