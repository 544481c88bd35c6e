//! Small pieces shared by the workspaces: images to textures, path rows, durations, and the
//! waker that repaints the window when a worker has news.

use std::path::PathBuf;

use eframe::egui::{self, Color32, ColorImage, TextureHandle, TextureOptions};

use crate::worker::Waker;
use crate::worker::files::Picture;

/// A waker that repaints the window: what every worker the workbench starts is given.
pub fn repaint_waker(ctx: &egui::Context) -> Waker {
    let ctx = ctx.clone();
    Waker::new(move || ctx.request_repaint())
}

/// A decoded file as an image.
pub fn image_from_picture(picture: &Picture) -> ColorImage {
    let size = [picture.width, picture.height];
    match picture.channels {
        4 => ColorImage::from_rgba_unmultiplied(size, &picture.pixels),
        3 => ColorImage::from_rgb(size, &picture.pixels),
        _ => ColorImage::from_gray(size, &picture.pixels),
    }
}

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
pub fn square_ui(ui: &mut egui::Ui, texture: Option<&TextureHandle>, side: f32, caption: &str) {
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
pub fn path_row_ui(ui: &mut egui::Ui, label: &str, path: &mut String, folder: bool) -> bool {
    path_field_ui(ui, label, path, folder, 190.0)
}

/// [`path_row_ui`] with a field `width` points wide.
pub fn path_field_ui(
    ui: &mut egui::Ui,
    label: &str,
    path: &mut String,
    folder: bool,
    width: f32,
) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        let name = ui.label(label);
        changed |= ui
            .add(egui::TextEdit::singleline(path).desired_width(width))
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
pub fn labelled_row_ui(
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
    fn durations_read_naturally() {
        assert_eq!(duration_text(12.4), "12 s");
        assert_eq!(duration_text(185.0), "3 min 05 s");
        assert_eq!(duration_text(3720.0), "1 h 02 min");
        assert_eq!(duration_text(f64::NAN), "–");
    }
}
