//! `report.html`: self-contained (plots inlined as SVG, overlays as `data:` URIs), with the
//! tables and a gallery of the worst misses.

use std::path::{Component, Path};

use super::GOOD;
use super::charts::{ModelPlots, Plot, Plots};
use super::tables::{
    MISSING, Table, class_table, comparison_table, fmt3, good_count, model_summary, rule_suffix,
    sweep_table,
};
use crate::eval::types::{EvalReport, ImageResult, ModelEval};
use crate::fsio::{FileKind, read_bounded};

/// Images per gallery row (worst false positives, worst false negatives).
const GALLERY_SIZE: usize = 8;

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = ((n >> shift) & 0x3f) as usize;
                out.push(char::from(ALPHABET[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Table {
    pub(super) fn html(&self) -> String {
        let row = |cells: &[String], tag: &str| {
            let cells: String = cells
                .iter()
                .map(|c| format!("<{tag}>{}</{tag}>", escape_html(c)))
                .collect();
            format!("<tr>{cells}</tr>\n")
        };
        let body: String = self.rows.iter().map(|r| row(r, "td")).collect();
        format!(
            "<table>\n<thead>{}</thead>\n<tbody>\n{body}</tbody>\n</table>\n",
            row(&self.header, "th")
        )
    }
}

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#222;\
background:#f7f7f8;max-width:1120px;margin:0 auto;padding:1.5rem 1.2rem 4rem;line-height:1.45}
h1{font-weight:600;margin-bottom:.2rem}
h2{font-weight:600;border-bottom:2px solid #ddd;padding-bottom:.3rem;margin-top:2.6rem}
h3{font-weight:600;margin-top:1.6rem}
.meta{color:#555;font-size:.92rem}
table{border-collapse:collapse;background:#fff;margin:.6rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #ddd;padding:.3rem .65rem}
th{background:#eef0f3;text-align:left}
td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}
figure.plot{display:inline-block;margin:.5rem .5rem .5rem 0;background:#fff;border:1px solid #ddd}
figure.plot svg{display:block;max-width:100%;height:auto}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.7rem}
.card{margin:0;background:#fff;border:1px solid #ddd;border-radius:4px;padding:.4rem}
.card img{display:block;width:100%;height:auto}
.card .none{display:flex;align-items:center;justify-content:center;aspect-ratio:1;\
background:#eee;color:#888;font-size:.85rem}
.card figcaption{font-size:.78rem;margin-top:.3rem;overflow-wrap:anywhere}
.empty{color:#888}
";

pub(super) fn render_html(report: &EvalReport, plots: &Plots, dir: &Path) -> String {
    let mut body = format!(
        "<h1>Evaluation report</h1>\n<p class=\"meta\">Data: <code>{}</code> · created (unix \
         time) {} · format {}</p>\n",
        escape_html(&report.data_dir.display().to_string()),
        report.created_unix,
        report.format
    );
    for (model, model_plots) in report.models.iter().zip(&plots.models) {
        body.push_str(&html_model(model, model_plots, dir));
    }
    if report.models.len() > 1 {
        body.push_str("<h2>Comparison: image AUROC per class</h2>\n");
        body.push_str(&comparison_table(&report.models).html());
    }
    body.push_str("<h2>Across iteration budgets</h2>\n");
    body.push_str(&html_plot(&plots.auroc));
    body.push_str(&html_plot(&plots.latency));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta \
         name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Evaluation \
         report</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

fn html_model(model: &ModelEval, plots: &ModelPlots, dir: &Path) -> String {
    let mut out = format!(
        "<section>\n<h2>Model {}</h2>\n<p class=\"meta\">{}</p>\n",
        escape_html(&model.name),
        escape_html(&model_summary(model))
    );
    out.push_str(&format!(
        "<h3>At {} descent iterations</h3>\n<p class=\"meta\">{} good test images; n counts each \
         class's defective images. Precision and recall at the calibrated defect threshold \
         ({}{}).</p>\n",
        model.main_iterations,
        good_count(model),
        fmt3(f64::from(model.defect_threshold)),
        escape_html(&rule_suffix(model))
    ));
    out.push_str(&class_table(model).html());
    out.push_str("<h3>Iteration sweep</h3>\n");
    out.push_str(&sweep_table(model).html());
    out.push_str(&html_plot(&plots.roc));
    out.push_str(&html_plot(&plots.histogram));
    out.push_str(&html_gallery(model, dir));
    out.push_str("</section>\n");
    out
}

/// The plot's SVG inlined (it carries its own caption as the chart title).
fn html_plot(plot: &Plot) -> String {
    format!(
        "<figure class=\"plot\" title=\"{}\">\n{}</figure>\n",
        escape_html(&plot.title),
        plot.svg
    )
}

/// Good images with the highest scores, and defective images with the lowest.
fn worst_images(model: &ModelEval) -> (Vec<&ImageResult>, Vec<&ImageResult>) {
    let (mut good, mut defective): (Vec<&ImageResult>, Vec<&ImageResult>) =
        model.images.iter().partition(|i| i.class == GOOD);
    good.sort_by(|a, b| b.score.total_cmp(&a.score));
    defective.sort_by(|a, b| a.score.total_cmp(&b.score));
    good.truncate(GALLERY_SIZE);
    defective.truncate(GALLERY_SIZE);
    (good, defective)
}

fn html_gallery(model: &ModelEval, dir: &Path) -> String {
    let (false_positives, false_negatives) = worst_images(model);
    let mut out = String::new();
    let rows = [
        (
            "Worst false positives (good images, highest scores)",
            false_positives,
        ),
        (
            "Worst false negatives (defective images, lowest scores)",
            false_negatives,
        ),
    ];
    for (heading, images) in rows {
        out.push_str(&format!("<h3>{}</h3>\n", escape_html(heading)));
        if images.is_empty() {
            out.push_str("<p class=\"empty\">No images.</p>\n");
            continue;
        }
        out.push_str("<div class=\"gallery\">\n");
        for image in images {
            out.push_str(&gallery_card(image, dir));
        }
        out.push_str("</div>\n");
    }
    out
}

fn gallery_card(image: &ImageResult, dir: &Path) -> String {
    let path = image.path.display().to_string();
    let picture = match image.overlay.as_deref().and_then(|o| overlay_uri(dir, o)) {
        Some(uri) => format!("<img src=\"{uri}\" alt=\"{}\">", escape_html(&path)),
        None => "<div class=\"none\">no overlay</div>".to_string(),
    };
    let part = image.part.as_deref().unwrap_or(MISSING);
    format!(
        "<figure class=\"card\">{picture}<figcaption><code>{}</code><br>{} · score {} · {} · \
         part {}</figcaption></figure>\n",
        escape_html(&path),
        escape_html(&image.class),
        fmt3(f64::from(image.score)),
        escape_html(&image.verdict),
        escape_html(part)
    )
}

/// The overlay as a `data:` URI, when it is a plain relative path to a readable file in `dir`.
fn overlay_uri(dir: &Path, overlay: &Path) -> Option<String> {
    let plain = overlay
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return None;
    }
    let path = dir.join(overlay);
    let bytes = read_bounded(&path, FileKind::Image).ok()?;
    let extension = overlay
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let mime = match extension.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "image/png",
    };
    Some(format!("data:{mime};base64,{}", base64(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected, "input {input:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn escape_html_escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain – text"), "plain – text");
        assert_eq!(escape_html(""), "");
    }

    #[test]
    fn overlay_paths_must_stay_inside_the_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.png"), b"png").expect("write");
        assert_eq!(
            overlay_uri(dir.path(), Path::new("a.png")).as_deref(),
            Some("data:image/png;base64,cG5n")
        );
        assert_eq!(overlay_uri(dir.path(), Path::new("../a.png")), None);
        assert_eq!(overlay_uri(dir.path(), Path::new("missing.png")), None);
    }
}
