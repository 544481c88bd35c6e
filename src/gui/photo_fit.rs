//! Design's fit to the line's photos: pick a folder of good photos, fit the recipe's scene
//! to them on a worker (progress per alternation, cancellable), then see each photo beside
//! the render at its fitted pose and their difference, read the fitted values, and take
//! the fitted scene into the recipe.

use std::path::PathBuf;

use eframe::egui::{self, ColorImage, TextureHandle, TextureOptions};

use super::util::path_row_ui;
use crate::dataset::recipe::Recipe;
use crate::imaging::MapInput;
use crate::product::ProductSpec;
use crate::refine::fit::FitSettings;
use crate::render::Gpu;
use crate::worker::fit::{FitEvent, FitJob, Fitted, spawn_fit};
use crate::worker::{Waker, Worker};

/// Photos fitted on by default, spread through the folder.
pub const PHOTOS_USED: usize = 24;

pub struct PhotoFit {
    pub(super) folder: String,
    pub(super) settings: FitSettings,
    worker: Option<Worker<FitEvent>>,
    /// Alternations done of all, and the last one's line.
    progress: (usize, usize, String),
    fitted: Option<Box<Fitted>>,
    /// The photo shown, and its textures (photo, render, difference) once made.
    shown: usize,
    textures: Option<(usize, [TextureHandle; 3])>,
    message: Option<String>,
    waker: Waker,
}

impl PhotoFit {
    pub fn new(waker: Waker) -> Self {
        Self {
            folder: String::new(),
            settings: FitSettings::default(),
            worker: None,
            progress: (0, 0, String::new()),
            fitted: None,
            shown: 0,
            textures: None,
            message: None,
            waker,
        }
    }

    pub fn running(&self) -> bool {
        self.worker.is_some()
    }

    pub fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_deref()
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Fits `recipe`'s scene to the photos of the folder field, on a worker.
    pub fn start(&mut self, recipe: &Recipe, product: &ProductSpec, gpu: Option<Gpu>) {
        if self.worker.is_some() {
            return;
        }
        let folder = PathBuf::from(self.folder.trim());
        if self.folder.trim().is_empty() {
            self.message = Some("choose a folder of good photos first".into());
            return;
        }
        let job = FitJob {
            photos: folder,
            recipe: recipe.clone(),
            product: product.clone(),
            gpu,
            settings: self.settings.clone(),
            photos_used: PHOTOS_USED,
            map_input: MapInput::Fail,
        };
        match spawn_fit(job, self.waker.clone()) {
            Ok(worker) => {
                self.worker = Some(worker);
                self.progress = (0, self.settings.alternations, "reading the photos".into());
                self.message = None;
            }
            Err(e) => self.message = Some(format!("cannot start the fit: {e}")),
        }
    }

    /// Takes the worker's events; called every frame.
    pub fn poll(&mut self) {
        let Some(worker) = &self.worker else {
            return;
        };
        let mut ended = false;
        for event in worker.try_iter() {
            match event {
                FitEvent::Started { used, found } => {
                    self.progress.2 = format!("fitting to {used} of {found} photos");
                }
                FitEvent::Progress { done, total, line } => self.progress = (done, total, line),
                FitEvent::Finished(fitted) => {
                    self.shown = 0;
                    self.textures = None;
                    self.fitted = Some(fitted);
                    ended = true;
                }
                FitEvent::Cancelled => {
                    self.message = Some("the fit was cancelled".into());
                    ended = true;
                }
                FitEvent::Failed(e) => {
                    self.message = Some(format!("the fit failed: {e}"));
                    ended = true;
                }
            }
        }
        if ended && let Some(worker) = self.worker.take() {
            worker.join();
        }
    }

    /// The section's controls and results; "Use the fitted scene" writes the fit into
    /// `recipe`.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        recipe: &mut Recipe,
        product: &ProductSpec,
        gpu: Option<&Gpu>,
    ) {
        ui.heading("Fit to the line's photos");
        path_row_ui(ui, "Photos", &mut self.folder, true);
        match &self.worker {
            None => {
                if ui
                    .add_enabled(gpu.is_some(), egui::Button::new("Fit the scene"))
                    .on_hover_text(
                        "Fit light, material, the camera's response, blur, noise and distance \
                         to the good photos (a folder, or an MVTec AD folder's train/good)",
                    )
                    .clicked()
                {
                    self.start(recipe, product, gpu.cloned());
                }
            }
            Some(worker) => {
                let (done, total, line) = &self.progress;
                ui.add(
                    egui::ProgressBar::new(*done as f32 / (*total).max(1) as f32)
                        .text(format!("{done}/{total} alternations")),
                );
                ui.label(line.as_str());
                if ui.button("Cancel the fit").clicked() {
                    worker.cancel();
                }
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100));
            }
        }
        if let Some(m) = &self.message {
            ui.label(m.as_str());
        }
        if let Some(fitted) = self.fitted.take() {
            let (before, after) = fitted.outcome.product_abs();
            ui.label(format!(
                "mean |photo - render| on the product: {before:.1} to {after:.1} grey levels \
                 ({} of {} photos, {:.0} s)",
                fitted.photos.len(),
                fitted.found,
                fitted.seconds
            ));
            let count = fitted.photos.len();
            if count > 0 {
                self.shown = self.shown.min(count - 1);
                let name = fitted.photos[self.shown].0.clone();
                ui.add(egui::Slider::new(&mut self.shown, 0..=count - 1).text(name));
                self.strip_ui(ui, &fitted);
            }
            egui::CollapsingHeader::new("Fitted values")
                .default_open(true)
                .show(ui, |ui| {
                    egui::Grid::new("fitted-values")
                        .striped(true)
                        .show(ui, |ui| {
                            for v in &fitted.outcome.values {
                                ui.label(v.name.as_str());
                                ui.label(format!("{:.3} {}", v.value, v.unit));
                                ui.label(
                                    v.spread.map_or("shared".into(), |s| format!("+/- {s:.3}")),
                                );
                                ui.end_row();
                            }
                        });
                });
            if ui
                .button("Use the fitted scene")
                .on_hover_text("Light, material, sensor, camera distance and proposed ranges")
                .clicked()
            {
                fitted.outcome.apply_to(recipe);
            }
            self.fitted = Some(fitted);
        }
    }

    /// The photo shown, the render at its fitted pose and their difference (× 4), side by
    /// side across the panel.
    fn strip_ui(&mut self, ui: &mut egui::Ui, fitted: &Fitted) {
        let i = self.shown;
        let (Some((_, photo)), Some(render)) =
            (fitted.photos.get(i), fitted.outcome.renders_after.get(i))
        else {
            return;
        };
        if self.textures.as_ref().is_none_or(|(shown, _)| *shown != i) {
            let side = (photo.len() as f64).sqrt() as usize;
            let grey = |values: Vec<f32>| {
                let bytes: Vec<u8> = values
                    .iter()
                    .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                    .collect();
                ColorImage::from_gray([side, side], &bytes)
            };
            let difference: Vec<f32> = photo
                .iter()
                .zip(render)
                .map(|(a, b)| ((a - b).abs() * 4.0).min(1.0))
                .collect();
            let ctx = ui.ctx();
            let load = |name: &str, image| ctx.load_texture(name, image, TextureOptions::NEAREST);
            self.textures = Some((
                i,
                [
                    load("fit-photo", grey(photo.clone())),
                    load("fit-render", grey(render.clone())),
                    load("fit-difference", grey(difference)),
                ],
            ));
        }
        if let Some((_, [photo, render, difference])) = &self.textures {
            let side = ((ui.available_width() - 12.0) / 3.0).clamp(48.0, 220.0);
            ui.horizontal(|ui| {
                for (texture, caption) in [
                    (photo, "photo"),
                    (render, "render at its fitted pose"),
                    (difference, "difference x 4"),
                ] {
                    ui.vertical(|ui| {
                        ui.add(egui::Image::new(texture).fit_to_exact_size(egui::vec2(side, side)));
                        ui.small(caption);
                    });
                }
            });
        }
    }
}
