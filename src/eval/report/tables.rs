//! The tables the Markdown and the HTML both show, and how their numbers are formatted.

use super::{GOOD, all_metrics, class_metrics, main_point, sweep_classes};
use crate::eval::types::{CLASS_COLUMNS, ModelEval};
use crate::metrics::Confusion;

/// Printed for a value that is undefined (no data, division by zero, NaN).
pub(super) const MISSING: &str = "–";

pub(super) fn fmt3(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.3}")
    } else {
        MISSING.to_string()
    }
}

fn fmt1(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1}")
    } else {
        MISSING.to_string()
    }
}

fn fmt_opt3(value: Option<f64>) -> String {
    value.map_or_else(|| MISSING.to_string(), fmt3)
}

/// `num / den` to three decimals, or [`MISSING`] when `den` is zero.
fn ratio(num: usize, den: usize) -> String {
    if den == 0 {
        MISSING.to_string()
    } else {
        fmt3(num as f64 / den as f64)
    }
}

fn precision(c: &Confusion) -> String {
    ratio(c.true_positive, c.true_positive + c.false_positive)
}

fn recall(c: &Confusion) -> String {
    ratio(c.true_positive, c.true_positive + c.false_negative)
}

/// A table of already formatted cells; the first column is text, the others numbers.
pub(super) struct Table {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

/// Per-class metrics at the main budget.
pub(super) fn class_table(model: &ModelEval) -> Table {
    let mut table = Table::new(&CLASS_COLUMNS);
    let classes = main_point(model).map_or(&[][..], |p| p.classes.as_slice());
    for c in classes {
        table.rows.push(vec![
            c.class.clone(),
            c.defective.to_string(),
            fmt3(c.image_auroc),
            fmt_opt3(c.pixel_auroc),
            fmt_opt3(c.aupro),
            fmt3(c.f1_max),
            precision(&c.at_calibrated),
            recall(&c.at_calibrated),
            fmt_opt3(c.part_named),
        ]);
    }
    table
}

/// Each detector calibration measured, on its own: image AUROC per class at the calibrated
/// budget, then pixel AUROC per class where masks exist (the chosen one starred).
pub(super) fn detectors_table(model: &ModelEval) -> Option<Table> {
    let first = model.detectors.first()?;
    let mut header = vec!["detector".to_string()];
    header.extend(first.classes.iter().map(|(c, _)| c.clone()));
    header.extend(first.pixel.iter().map(|(c, _)| format!("pixel {c}")));
    header.push("map and score".to_string());
    header.push("validation criterion".to_string());
    let mut table = Table {
        header,
        rows: Vec::new(),
    };
    for d in &model.detectors {
        let mut row = vec![format!("{}{}", d.name, if d.chosen { " *" } else { "" })];
        row.extend(d.classes.iter().map(|(_, a)| fmt3(*a)));
        row.extend(
            first
                .pixel
                .iter()
                .map(|(c, _)| fmt_opt3(d.pixel.iter().find(|(p, _)| p == c).and_then(|p| p.1))),
        );
        row.push(d.scoring.clone());
        row.push(fmt_opt3(d.criterion.map(f64::from)));
        table.rows.push(row);
    }
    Some(table)
}

/// The `all` metrics and latencies at every budget.
pub(super) fn sweep_table(model: &ModelEval) -> Table {
    let mut table = Table::new(&[
        model.budget_label(),
        "AUROC all",
        "pixel AUROC all",
        "ms good",
        "ms defective",
        "mean used good / defective",
        "part named",
    ]);
    for point in &model.sweep {
        let all = all_metrics(point);
        table.rows.push(vec![
            point.iterations.to_string(),
            fmt_opt3(all.map(|c| c.image_auroc)),
            fmt_opt3(all.and_then(|c| c.pixel_auroc)),
            fmt1(point.mean_ms_good),
            fmt1(point.mean_ms_defective),
            format!(
                "{} / {}",
                fmt1(point.mean_iterations_good),
                fmt1(point.mean_iterations_defective)
            ),
            fmt_opt3(all.and_then(|c| c.part_named)),
        ]);
    }
    table
}

/// Image AUROC per class at each model's main budget, side by side.
pub(super) fn comparison_table(models: &[ModelEval]) -> Table {
    let mut header = vec!["class".to_string()];
    header.extend(models.iter().map(|m| m.name.clone()));
    let mut table = Table {
        header,
        rows: Vec::new(),
    };
    for class in sweep_classes(models) {
        let mut row = vec![class.clone()];
        for model in models {
            let metrics = main_point(model).and_then(|p| class_metrics(p, &class));
            row.push(fmt_opt3(metrics.map(|c| c.image_auroc)));
        }
        table.rows.push(row);
    }
    table
}

/// One line describing how a model was evaluated.
pub(super) fn model_summary(model: &ModelEval) -> String {
    format!(
        "{} model, checkpoint step {}, score {}; review threshold {}, defect threshold {}; \
         run {}",
        model.model_kind,
        model.checkpoint_step,
        model.score_kind,
        fmt3(f64::from(model.review_threshold)),
        fmt3(f64::from(model.defect_threshold)),
        model.run_dir.display()
    )
}

/// `, RULE` after a threshold, or nothing for a report written before rules were recorded.
pub(super) fn rule_suffix(model: &ModelEval) -> String {
    if model.defect_rule.is_empty() {
        String::new()
    } else {
        format!(", {}", model.defect_rule)
    }
}

pub(super) fn good_count(model: &ModelEval) -> usize {
    model.images.iter().filter(|i| i.class == GOOD).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_recall_are_undefined_without_positives() {
        let empty = Confusion::default();
        assert_eq!(precision(&empty), MISSING);
        assert_eq!(recall(&empty), MISSING);
        let c = Confusion {
            threshold: 0.5,
            true_positive: 3,
            false_positive: 1,
            true_negative: 4,
            false_negative: 1,
        };
        assert_eq!(precision(&c), "0.750");
        assert_eq!(recall(&c), "0.750");
    }
}
