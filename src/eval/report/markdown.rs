//! `report.md`: a summary with the tables and links to the plots.

use super::charts::{ModelPlots, Plot, Plots};
use super::tables::{
    Table, class_table, comparison_table, detectors_table, fmt3, good_count, model_summary,
    rule_suffix, sweep_table,
};
use crate::eval::types::{EvalReport, ModelEval};

/// Makes text safe inside a Markdown table cell or heading.
fn md_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

impl Table {
    pub(super) fn markdown(&self) -> String {
        let row = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| md_text(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let rule: Vec<&str> = (0..self.header.len())
            .map(|i| if i == 0 { ":---" } else { "---:" })
            .collect();
        let mut out = row(&self.header);
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for cells in &self.rows {
            out.push_str(&row(cells));
        }
        out
    }
}

pub(super) fn render_markdown(report: &EvalReport, plots: &Plots) -> String {
    let mut out = String::from("# Evaluation report\n\n");
    out.push_str(&format!(
        "Data: `{}` · created (unix time) {} · format {}\n\n",
        report.data_dir.display(),
        report.created_unix,
        report.format
    ));
    for note in &report.notes {
        out.push_str(&format!("- {note}\n"));
    }
    if !report.notes.is_empty() {
        out.push('\n');
    }
    for (model, model_plots) in report.models.iter().zip(&plots.models) {
        out.push_str(&markdown_model(model, model_plots));
    }
    if report.models.len() > 1 {
        out.push_str("## Comparison: image AUROC per class\n\n");
        out.push_str(&comparison_table(&report.models).markdown());
        out.push('\n');
    }
    out.push_str("## Across iteration budgets\n\n");
    for plot in [&plots.auroc, &plots.latency] {
        out.push_str(&markdown_plot(plot));
    }
    out
}

fn markdown_model(model: &ModelEval, plots: &ModelPlots) -> String {
    let mut out = format!(
        "## Model {}\n\n{}\n\n",
        md_text(&model.name),
        md_text(&model_summary(model))
    );
    out.push_str(&format!(
        "### At {} {}\n\n{} good test images; n counts each class's defective \
         images. Precision and recall at the calibrated defect threshold ({}{}).\n\n",
        model.main_iterations,
        model.budget_label(),
        good_count(model),
        fmt3(f64::from(model.defect_threshold)),
        rule_suffix(model)
    ));
    out.push_str(&class_table(model).markdown());
    if let Some(table) = detectors_table(model) {
        out.push_str(
            "\n### Each detector on its own\n\nImage AUROC, then pixel AUROC, on the same test \
             images; * marks the one calibration chose on the validation split.\n\n",
        );
        out.push_str(&table.markdown());
    }
    out.push_str("\n### Budget sweep\n\n");
    out.push_str(&sweep_table(model).markdown());
    out.push_str("\n### Plots\n\n");
    for plot in [&plots.roc, &plots.histogram] {
        out.push_str(&markdown_plot(plot));
    }
    out
}

fn markdown_plot(plot: &Plot) -> String {
    let title = md_text(&plot.title).replace(['[', ']'], "");
    format!(
        "- [{title}](plots/{0})\n\n  ![{title}](plots/{0})\n\n",
        plot.file
    )
}
