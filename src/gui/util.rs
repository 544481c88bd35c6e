//! Small pieces shared by the workspaces: images to textures, the heatmap palette, path rows.

use std::path::PathBuf;

use eframe::egui::{self, Color32, ColorImage, TextureHandle, TextureOptions};

/// Channel-major `[0, 1]` values (`channels · size²`) as an image.
pub fn image_from_values(values: &[f32], size: usize, channels: usize) -> ColorImage {
    let pixels = size * size;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut rgba = Vec::with_capacity(pixels * 4);
    for p in 0..pixels {
        let at = |c: usize| values.get(c * pixels + p).copied().unwrap_or(0.0);
        let (r, g, b) = if channels == 3 {
            (at(0), at(1), at(2))
        } else {
            (at(0), at(0), at(0))
        };
        rgba.extend([byte(r), byte(g), byte(b), 255]);
    }
    ColorImage::from_rgba_unmultiplied([size, size], &rgba)
}

/// 8-bit grey or interleaved RGB as an image.
pub fn image_from_bytes(bytes: &[u8], width: usize, height: usize, channels: usize) -> ColorImage {
    if channels == 3 {
        ColorImage::from_rgb([width, height], bytes)
    } else {
        ColorImage::from_gray([width, height], bytes)
    }
}

/// A perceptually ordered dark-to-bright palette (black, purple, red, orange, yellow) for
/// anomaly maps; `t` in `[0, 1]`.
pub fn heat_colour(t: f32) -> [f32; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [0.0, 0.0, 0.02],
        [0.35, 0.05, 0.45],
        [0.8, 0.15, 0.25],
        [0.98, 0.55, 0.05],
        [1.0, 1.0, 0.6],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let x = t * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [
        a[0] + (b[0] - a[0]) * f,
        a[1] + (b[1] - a[1]) * f,
        a[2] + (b[2] - a[2]) * f,
    ]
}

/// The image with the anomaly map blended over it: `scale` maps to full heat, `opacity` is the
/// heat's weight where the map is at full scale.
pub fn heat_overlay(
    image: &[f32],
    map: &[f32],
    size: usize,
    channels: usize,
    scale: f32,
    opacity: f32,
) -> ColorImage {
    let pixels = size * size;
    let mut rgba = Vec::with_capacity(pixels * 4);
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    for p in 0..pixels {
        let grey = |c: usize| {
            image
                .get((if channels == 3 { c } else { 0 }) * pixels + p)
                .copied()
                .unwrap_or(0.0)
        };
        let t = map.get(p).copied().unwrap_or(0.0) / scale;
        let heat = heat_colour(t);
        let w = opacity * t.clamp(0.0, 1.0).sqrt();
        for (c, h) in heat.iter().enumerate() {
            let v = (1.0 - w) * grey(c) + w * h;
            rgba.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
        rgba.push(255);
    }
    ColorImage::from_rgba_unmultiplied([size, size], &rgba)
}

/// Keeps a texture up to date, creating it on first use.
pub fn set_texture(
    ctx: &egui::Context,
    slot: &mut Option<TextureHandle>,
    name: &str,
    image: ColorImage,
) {
    match slot {
        Some(texture) => texture.set(image, TextureOptions::NEAREST),
        None => *slot = Some(ctx.load_texture(name, image, TextureOptions::NEAREST)),
    }
}

/// Shows a texture scaled to `side` points square (or a placeholder of that size).
pub fn show_square(ui: &mut egui::Ui, texture: Option<&TextureHandle>, side: f32, caption: &str) {
    ui.vertical(|ui| {
        ui.label(egui::RichText::new(caption).strong());
        match texture {
            Some(t) => {
                ui.add(egui::Image::new((t.id(), egui::vec2(side, side))));
            }
            None => {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
                ui.painter().rect_filled(rect, 4.0, Color32::from_gray(30));
            }
        }
    });
}

/// A labelled path field with a Browse… button (folder or file dialog). Returns true when the
/// path changed.
pub fn path_row(ui: &mut egui::Ui, label: &str, path: &mut String, folder: bool) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        let name = ui.label(label);
        changed |= ui
            .add(egui::TextEdit::singleline(path).desired_width(190.0))
            .labelled_by(name.id)
            .changed();
        if ui.button("…").on_hover_text("Browse").clicked() {
            let dialog = rfd::FileDialog::new();
            let picked: Option<PathBuf> = if folder {
                dialog.pick_folder()
            } else {
                dialog.pick_file()
            };
            if let Some(p) = picked {
                *path = p.display().to_string();
                changed = true;
            }
        }
    });
    changed
}

/// A grid row: a label and the widget it names (so screen readers and tests find it by name).
pub fn labelled_row(
    ui: &mut egui::Ui,
    label: &str,
    add: impl FnOnce(&mut egui::Ui) -> egui::Response,
) -> egui::Response {
    let name = ui.label(label);
    let response = add(ui).labelled_by(name.id);
    ui.end_row();
    response
}

/// Formats seconds as `1 h 02 min`, `3 min 05 s` or `12 s`.
pub fn duration_text(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".into();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_runs_dark_to_bright_and_clamps() {
        let lum = |c: [f32; 3]| c[0] + c[1] + c[2];
        let mut last = -1.0;
        for i in 0..=20 {
            let l = lum(heat_colour(i as f32 / 20.0));
            assert!(l > last, "palette must brighten monotonically");
            last = l;
        }
        assert_eq!(heat_colour(-3.0), heat_colour(0.0));
        assert_eq!(heat_colour(7.0), heat_colour(1.0));
        assert_eq!(heat_colour(f32::NAN), heat_colour(1.0));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(12.4), "12 s");
        assert_eq!(duration_text(185.0), "3 min 05 s");
        assert_eq!(duration_text(3720.0), "1 h 02 min");
        assert_eq!(duration_text(f64::NAN), "–");
    }

    #[test]
    fn overlay_keeps_the_image_where_the_map_is_zero() {
        let image = vec![0.5; 4];
        let overlay = heat_overlay(&image, &[0.0; 4], 2, 1, 1.0, 0.8);
        assert!(overlay.pixels.iter().all(|p| p.r() == 128 && p.g() == 128));
        let hot = heat_overlay(&image, &[1.0; 4], 2, 1, 1.0, 0.8);
        assert!(hot.pixels.iter().all(|p| p.r() > 200));
    }
}
