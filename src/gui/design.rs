//! Design workspace: the product under the recipe's camera and light, orbit view, defect
//! preview with its mask, a live grid of random samples, and dataset generation. Renders,
//! generation and every file opened or saved run on workers.

use std::path::{Path, PathBuf};
use std::time::Instant;

use eframe::egui::{self, Color32, ColorImage, TextureHandle};
use glam::DVec3;

use super::util::{image_from_bytes, path_row_ui, set_texture};
use crate::dataset::recipe::{CAP_DEFAULT_RECIPE, PoseMode};
use crate::dataset::{GOOD, Recipe, Split};
use crate::product::ProductSpec;
use crate::render::Gpu;
use crate::worker::files::{read_product, read_recipe, write_toml};
use crate::worker::generate::{GenerateEvent, GenerateJob, spawn_generation};
use crate::worker::preview::{
    PreviewEvent, PreviewJob, PreviewService, SampleImage, VIEW_SIZE, ViewImage, ViewJob,
};
use crate::worker::{Waker, Worker, spawn_call};

/// Samples in the live grid.
pub const GRID_SAMPLES: usize = 10;

/// A dataset being generated.
struct Generation {
    worker: Worker<GenerateEvent>,
    done: usize,
    total: usize,
    started: Instant,
}

/// What a file worker of the workspace did.
enum FileDone {
    RecipeOpened {
        path: PathBuf,
        recipe: Box<Recipe>,
        product: Box<ProductSpec>,
    },
    ProductOpened {
        path: PathBuf,
        product: Box<ProductSpec>,
    },
    ProductSaved(PathBuf),
    RecipeSaved(PathBuf),
}

pub struct Design {
    pub(super) recipe: Recipe,
    pub(super) product: ProductSpec,
    pub(super) recipe_path: String,
    pub(super) out_dir: String,
    yaw_deg: f32,
    pitch_deg: f32,
    pub(super) defect: Option<String>,
    defect_seed: u64,
    show_mask: bool,
    /// Tint the orbit view by part.
    show_parts: bool,
    /// A click on the orbit view not yet answered: the pixel, for the defect shown.
    click: Option<[f32; 2]>,
    /// Where a click placed the defect, and which defect (class, instance) it placed.
    placed: Option<((String, u64), [f64; 3])>,
    shuffle: u64,
    /// Orbit views received from the renderer thread.
    views_received: u64,
    sample_sets_received: u64,
    message: Option<String>,
    previews: Option<PreviewService>,
    gpu: Option<Gpu>,
    waker: Waker,
    last_view_job: Option<ViewJob>,
    last_samples: Option<(Recipe, u64)>,
    view_texture: Option<TextureHandle>,
    /// The newest orbit view, kept so a mask toggle recolours it without a new render.
    view: Option<Box<ViewImage>>,
    samples: Vec<(TextureHandle, String)>,
    generation: Option<Generation>,
    /// Files being opened or saved, in the order asked; `true` when a failure goes unsaid.
    files: Vec<(Worker<Result<FileDone, String>>, bool)>,
    /// The fit of the scene to a line's photos.
    pub(super) photo_fit: super::photo_fit::PhotoFit,
}

impl Design {
    pub fn new(gpu: Option<Gpu>, waker: Waker) -> Self {
        let product = ProductSpec::builtin_cap();
        let recipe = Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "<built-in cap-default>")
            .unwrap_or_else(|_| unreachable_recipe());
        let (previews, message) = match &gpu {
            Some(gpu) => match PreviewService::spawn(gpu.clone(), waker.clone()) {
                Ok(w) => (Some(w), None),
                Err(e) => (None, Some(format!("cannot start the renderer thread: {e}"))),
            },
            None => (
                None,
                Some("no wgpu device: previews and dataset generation are unavailable".into()),
            ),
        };
        Self {
            recipe,
            product,
            recipe_path: String::new(),
            out_dir: "datasets/cap".into(),
            yaw_deg: 30.0,
            pitch_deg: 20.0,
            defect: None,
            defect_seed: 1,
            show_mask: true,
            show_parts: true,
            click: None,
            placed: None,
            shuffle: 0,
            views_received: 0,
            sample_sets_received: 0,
            message,
            previews,
            gpu,
            last_view_job: None,
            last_samples: None,
            view_texture: None,
            view: None,
            samples: Vec::new(),
            generation: None,
            files: Vec::new(),
            photo_fit: super::photo_fit::PhotoFit::new(waker.clone()),
            waker,
        }
    }

    /// The recipe being edited.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    /// The product the recipe renders (with its edited defect ranges).
    pub fn product(&self) -> &ProductSpec {
        &self.product
    }

    /// Shows a defect class in the orbit view (or none).
    pub fn set_defect(&mut self, class: Option<String>) {
        self.defect = class;
    }

    /// Orbit views received from the renderer so far.
    pub fn views_received(&self) -> u64 {
        self.views_received
    }

    /// Sample grids received from the renderer so far.
    pub fn sample_sets_received(&self) -> u64 {
        self.sample_sets_received
    }

    /// The workspace's last word to the user.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    pub fn generating(&self) -> bool {
        self.generation.is_some()
    }

    /// The fit of the scene to a line's photos.
    pub fn photo_fit(&self) -> &super::photo_fit::PhotoFit {
        &self.photo_fit
    }

    /// Fits the recipe's scene to the good photos in `folder` (on a worker), with `settings`.
    pub fn fit_photos(&mut self, folder: &Path, settings: Option<crate::refine::fit::FitSettings>) {
        self.photo_fit.folder = folder.display().to_string();
        if let Some(settings) = settings {
            self.photo_fit.settings = settings;
        }
        self.photo_fit
            .start(&self.recipe, &self.product, self.gpu.clone());
    }

    /// Whether a file is being opened or saved.
    pub fn files_busy(&self) -> bool {
        !self.files.is_empty()
    }

    fn view_job(&self) -> ViewJob {
        ViewJob {
            recipe: self.recipe.clone(),
            product: self.product.clone(),
            yaw_deg: self.yaw_deg,
            pitch_deg: self.pitch_deg,
            defect: self.defect.clone().map(|c| (c, self.defect_seed)),
            click: self.click,
            placed: self.placed_here(),
        }
    }

    /// Where a click placed the defect shown, if it was placed for this class and instance.
    fn placed_here(&self) -> Option<[f64; 3]> {
        let shown = (self.defect.clone()?, self.defect_seed);
        self.placed
            .as_ref()
            .filter(|(what, _)| *what == shown)
            .map(|(_, p)| *p)
    }

    /// Places the defect shown at the surface seen at pixel (`x`, `y`) of the orbit view (from
    /// its top-left corner); nothing without a defect class shown.
    pub fn click_view(&mut self, x: f32, y: f32) {
        if self.defect.is_some() {
            self.click = Some([x, y]);
        }
    }

    /// Where the newest orbit view's defect was placed by a click.
    pub fn placed(&self) -> Option<[f64; 3]> {
        self.view.as_ref().and_then(|v| v.placed)
    }

    /// Sends changed requests and takes finished images and files; called every frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        self.poll_files();
        self.poll_generation();
        self.photo_fit.poll();
        let Some(previews) = &self.previews else {
            return;
        };
        let job = self.view_job();
        // A full queue takes the request on a later frame.
        if self.last_view_job.as_ref() != Some(&job)
            && previews.request(PreviewJob::View(Box::new(job.clone())))
        {
            self.last_view_job = Some(job);
        }
        let key = (self.recipe.clone(), self.shuffle);
        if self.last_samples.as_ref() != Some(&key)
            && previews.request(PreviewJob::Samples {
                recipe: Box::new(self.recipe.clone()),
                product: Box::new(self.product.clone()),
                shuffle: self.shuffle,
                count: GRID_SAMPLES,
            })
        {
            self.last_samples = Some(key);
        }
        let events: Vec<PreviewEvent> = previews.try_iter().collect();
        for event in events {
            match event {
                PreviewEvent::View(view) => {
                    // The click is answered: the defect stays where it landed (a click that
                    // missed the product changes nothing).
                    if view.clicked {
                        if let (Some(p), Some(class)) = (view.placed, self.defect.clone()) {
                            self.placed = Some(((class, self.defect_seed), p));
                        }
                        self.click = None;
                    }
                    self.view = Some(view);
                    self.views_received += 1;
                    self.paint_view(ctx);
                }
                PreviewEvent::Samples(samples) => self.take_samples(ctx, samples),
                PreviewEvent::Error(e) => self.message = Some(format!("preview: {e}")),
                PreviewEvent::Stopped(why) => {
                    self.message = Some(why.unwrap_or_else(|| "the renderer stopped".into()));
                    self.previews = None;
                }
            }
        }
    }

    /// Takes what the file workers finished, in the order they were asked.
    fn poll_files(&mut self) {
        while let Some((worker, quiet)) = self.files.first() {
            let Ok(done) = worker.events().try_recv() else {
                return;
            };
            let quiet = *quiet;
            self.files.remove(0);
            match done {
                Ok(FileDone::RecipeOpened {
                    path,
                    recipe,
                    product,
                }) => {
                    self.recipe = *recipe;
                    self.product = *product;
                    self.recipe_path = path.display().to_string();
                    self.defect = None;
                    self.message = Some(format!("opened {}", path.display()));
                }
                Ok(FileDone::ProductOpened { path, product }) => {
                    self.product = *product;
                    self.recipe.product = path.display().to_string();
                    self.defect = None;
                    self.message = Some(format!("opened {}", path.display()));
                }
                Ok(FileDone::ProductSaved(path)) => {
                    self.recipe.product = path.display().to_string();
                    self.message =
                        Some(format!("saved {}; the recipe now uses it", path.display()));
                }
                Ok(FileDone::RecipeSaved(path)) => {
                    self.recipe_path = path.display().to_string();
                    self.message = Some(format!("saved {}", path.display()));
                }
                Err(e) if !quiet => self.message = Some(e),
                Err(_) => {}
            }
        }
    }

    /// Runs a file job on a worker; its result is taken by [`Design::poll`].
    fn file_job(
        &mut self,
        name: &str,
        quiet: bool,
        job: impl FnOnce() -> Result<FileDone, String> + Send + 'static,
    ) {
        match spawn_call(name, self.waker.clone(), job) {
            Ok(worker) => self.files.push((worker, quiet)),
            Err(e) => self.message = Some(format!("cannot start a worker: {e}")),
        }
    }

    /// The newest orbit view's grey pixels (empty before the first).
    pub fn view_pixels(&self) -> &[u8] {
        self.view.as_ref().map_or(&[], |v| v.shade.as_slice())
    }

    /// The newest orbit view's part id per pixel and its defect mask (empty before the
    /// first view; no mask without a defect).
    pub fn view_part_map(&self) -> (&[u8], Option<&[u8]>) {
        self.view
            .as_ref()
            .map_or((&[], None), |v| (v.part.as_slice(), v.mask.as_deref()))
    }

    /// The parts of the product in the newest orbit view, (id, name) in id order.
    pub fn view_parts(&self) -> &[(u8, String)] {
        self.view.as_ref().map_or(&[], |v| v.parts.as_slice())
    }

    /// Uploads the orbit view, with the defect's mask in red when asked.
    fn paint_view(&mut self, ctx: &egui::Context) {
        let Some(view) = &self.view else { return };
        let size = VIEW_SIZE as usize;
        let mut rgb = Vec::with_capacity(size * size * 3);
        for (i, &g) in view.shade.iter().enumerate() {
            let masked = self.show_mask && view.mask.as_ref().is_some_and(|m| m[i] > 0);
            let part = view.part.get(i).copied().unwrap_or(0);
            if masked {
                rgb.extend([g.saturating_add(90), g / 2, g / 2]);
            } else if self.show_parts && part != 0 {
                // Half the grey, half the grey tinted by the part's colour.
                let c = part_colour(part);
                let tint = |c: u8| ((u32::from(g) * (255 + u32::from(c))) / 510) as u8;
                rgb.extend([tint(c.r()), tint(c.g()), tint(c.b())]);
            } else {
                rgb.extend([g, g, g]);
            }
        }
        set_texture(
            ctx,
            &mut self.view_texture,
            "design-view",
            image_from_bytes(&rgb, size, size, 3),
        );
    }

    fn take_samples(&mut self, ctx: &egui::Context, samples: Vec<SampleImage>) {
        self.samples = samples
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let image = image_from_bytes(&s.pixels, s.size, s.size, s.channels);
                let image = outline_mask(image, s.mask.as_deref());
                let texture =
                    ctx.load_texture(format!("sample-{i}"), image, egui::TextureOptions::NEAREST);
                (texture, s.label)
            })
            .collect();
        self.sample_sets_received += 1;
    }

    fn poll_generation(&mut self) {
        let Some(g) = &mut self.generation else {
            return;
        };
        let mut ended = None;
        for event in g.worker.try_iter() {
            match event {
                GenerateEvent::Started { total, .. } => g.total = total,
                GenerateEvent::Progress { done, total } => (g.done, g.total) = (done, total),
                GenerateEvent::Finished {
                    samples,
                    elapsed_secs,
                    notes,
                } => {
                    let mut message = format!(
                        "wrote {samples} samples to {} in {elapsed_secs:.1} s",
                        self.out_dir
                    );
                    for note in notes {
                        message.push_str("; ");
                        message.push_str(&note);
                    }
                    ended = Some(message);
                }
                GenerateEvent::Failed(e) => ended = Some(format!("generation stopped: {e}")),
            }
        }
        if ended.is_some() {
            self.message = ended;
            self.generation = None;
        }
    }

    pub fn start_generation(&mut self) {
        let Some(gpu) = self.gpu.clone() else {
            self.message = Some("no wgpu device to render with".into());
            return;
        };
        let out = PathBuf::from(self.out_dir.trim());
        if out.as_os_str().is_empty() {
            self.message = Some("choose an output folder first".into());
            return;
        }
        if let Err(e) = self.recipe.validate() {
            self.message = Some(format!("the recipe is not valid: {e}"));
            return;
        }
        let total: usize = self.recipe.groups().iter().map(|g| g.2).sum();
        let job = GenerateJob {
            gpu: Some(gpu),
            recipe: self.recipe.clone(),
            product: self.product.clone(),
            out,
            // Another dataset in the folder is refused, and the message says so.
            replace: false,
        };
        match spawn_generation(job, self.waker.clone()) {
            Ok(worker) => {
                self.generation = Some(Generation {
                    worker,
                    done: 0,
                    total,
                    started: Instant::now(),
                });
            }
            Err(e) => self.message = Some(format!("cannot start generation: {e}")),
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("design-controls")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui));
            });
        egui::CentralPanel::default().show(ui, |ui| self.views_ui(ui));
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Recipe");
        ui.horizontal(|ui| {
            let name = ui.label("Name");
            ui.text_edit_singleline(&mut self.recipe.name)
                .labelled_by(name.id);
        });
        ui.horizontal(|ui| {
            if ui.button("Open recipe…").clicked()
                && let Some(path) = rfd::FileDialog::new()
                    .add_filter("recipe", &["toml"])
                    .pick_file()
            {
                self.open_recipe(&path, false);
            }
            if ui.button("Save recipe…").clicked()
                && let Some(path) = rfd::FileDialog::new()
                    .add_filter("recipe", &["toml"])
                    .set_file_name(format!("{}.toml", self.recipe.name))
                    .save_file()
            {
                self.save_recipe(&path);
            }
        });
        ui.horizontal(|ui| {
            ui.label(format!(
                "Product: {} ({})",
                self.product.name, self.recipe.product
            ));
            if ui
                .button("Open product…")
                .on_hover_text(
                    "A product file, or a CAD mesh (STL, OBJ, glTF, GLB): a bare mesh is read \
                     in millimetres with +y up and gets bulge, dent and chip classes; save the \
                     product to change them",
                )
                .clicked()
                && let Some(path) = rfd::FileDialog::new()
                    .add_filter("product or mesh", &["toml", "stl", "obj", "gltf", "glb"])
                    .pick_file()
            {
                self.open_product(&path);
            }
            if ui
                .button("Save product…")
                .on_hover_text("Write the product, with its defect ranges, and use that file")
                .clicked()
                && let Some(path) = rfd::FileDialog::new()
                    .add_filter("product", &["toml"])
                    .set_file_name(format!("{}.toml", self.product.name))
                    .save_file()
            {
                self.save_product(&path);
            }
        });
        ui.separator();

        ui.heading("Light");
        let (mut azimuth, mut elevation) = light_angles(self.recipe.lighting.direction);
        let mut moved = ui
            .add(egui::Slider::new(&mut azimuth, -180.0..=180.0).text("Azimuth °"))
            .changed();
        moved |= ui
            .add(egui::Slider::new(&mut elevation, -10.0..=90.0).text("Elevation °"))
            .changed();
        if moved {
            self.recipe.lighting.direction = light_direction(azimuth, elevation);
        }
        let l = &mut self.recipe.lighting;
        ui.add(egui::Slider::new(&mut l.intensity, 0.0..=2.0).text("Intensity"));
        ui.add(egui::Slider::new(&mut l.ambient, 0.0..=1.0).text("Ambient"));
        ui.add(egui::Slider::new(&mut l.albedo, 0.05..=1.0).text("Albedo"));
        ui.add(egui::Slider::new(&mut l.specular, 0.0..=1.0).text("Specular"));
        ui.add(egui::Slider::new(&mut l.shadow, 0.0..=1.0).text("Shadows"))
            .on_hover_text("How much direct light the product's own shadows take away (0: none)");
        ui.add(
            egui::Slider::new(&mut self.recipe.randomize.light_jitter_deg, 0.0..=45.0)
                .text("Light jitter °"),
        );
        ui.separator();

        ui.heading("Camera and pose");
        ui.add(egui::Slider::new(&mut self.recipe.camera.distance, 3.0..=20.0).text("Distance"));
        ui.add(
            egui::Slider::new(&mut self.recipe.camera.fov_y_deg, 5.0..=90.0)
                .text("Field of view °"),
        );
        let pose = &mut self.recipe.pose;
        egui::ComboBox::from_label("Pose")
            .selected_text(format!("{:?}", pose.mode))
            .show_ui(ui, |ui| {
                for mode in [
                    PoseMode::RandomAxis,
                    PoseMode::Upright,
                    PoseMode::Tilt,
                    PoseMode::Uniform,
                ] {
                    ui.selectable_value(&mut pose.mode, mode, format!("{mode:?}"));
                }
            });
        match pose.mode {
            PoseMode::RandomAxis => range_row_ui(ui, "Angle °", &mut pose.angle_deg, 0.0..=360.0),
            PoseMode::Upright | PoseMode::Tilt => {
                range_row_ui(ui, "Yaw °", &mut pose.yaw_deg, -360.0..=360.0);
                if pose.mode == PoseMode::Tilt {
                    ui.add(egui::Slider::new(&mut pose.tilt_deg, 0.0..=90.0).text("Tilt °"));
                }
            }
            PoseMode::Uniform => {}
        }
        ui.separator();

        ui.heading("Image");
        ui.add(egui::Slider::new(&mut self.recipe.image.size, 16..=512).text("Size px"));
        ui.add(egui::Slider::new(&mut self.recipe.image.supersample, 1..=4).text("Supersampling"));
        // The camera's response, as `unseen fit` sets it from a line's photos.
        let sensor = &mut self.recipe.sensor;
        ui.add(egui::Slider::new(&mut sensor.gamma, 0.25..=4.0).text("Gamma"))
            .on_hover_text("The camera's response curve: output = linear^(1/gamma)");
        ui.add(
            egui::Slider::new(&mut sensor.black_level, 0.0..=0.2)
                .text("Black level")
                .custom_formatter(|v, _| format!("{:.1}", v * 255.0)),
        )
        .on_hover_text("Grey level added to every pixel, background included (0–255)");
        ui.add(egui::Slider::new(&mut sensor.blur_px, 0.0..=3.0).text("Optics blur px"));
        let mut noise = self.recipe.randomize.noise_sigma.is_some();
        if ui.checkbox(&mut noise, "Sensor noise").changed() {
            self.recipe.randomize.noise_sigma = noise.then_some([0.0, 3.0]);
        }
        if let Some(range) = &mut self.recipe.randomize.noise_sigma {
            range_row_ui(ui, "σ grey levels", range, 0.0..=20.0);
        }
        let mut blur = self.recipe.randomize.blur_sigma.is_some();
        if ui.checkbox(&mut blur, "Blur").changed() {
            self.recipe.randomize.blur_sigma = blur.then_some([0.0, 0.8]);
        }
        if let Some(range) = &mut self.recipe.randomize.blur_sigma {
            range_row_ui(ui, "σ px", range, 0.0..=4.0);
        }
        ui.separator();

        ui.heading("Defects");
        let classes: Vec<String> = self.product.defects.keys().cloned().collect();
        egui::ComboBox::from_label("Show defect")
            .selected_text(self.defect.clone().unwrap_or_else(|| "none".into()))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.defect, None, "none");
                for c in &classes {
                    ui.selectable_value(&mut self.defect, Some(c.clone()), c);
                }
            });
        if self.defect.is_some() {
            ui.horizontal(|ui| {
                ui.add(egui::DragValue::new(&mut self.defect_seed).prefix("instance "))
                    .on_hover_text("Defect instance");
                if ui.button("Another").clicked() {
                    self.defect_seed = self.defect_seed.wrapping_add(1);
                }
            });
            if ui
                .checkbox(&mut self.show_mask, "Overlay the mask")
                .changed()
            {
                let ctx = ui.ctx().clone();
                self.paint_view(&ctx);
            }
            if let Some(class) = self.defect.clone() {
                self.defect_ranges_ui(ui, &class);
            }
            if let Some(parts) = self.view.as_ref().and_then(|v| v.affected_parts.as_ref()) {
                ui.label(format!("affects the {parts}"));
            }
        }
        ui.label("Samples per split:");
        egui::Grid::new("counts").striped(true).show(ui, |ui| {
            ui.label("class");
            for split in Split::ALL {
                ui.label(split.as_str());
            }
            ui.end_row();
            let mut rows = vec![GOOD.to_string()];
            rows.extend(classes.iter().cloned());
            for class in rows {
                ui.label(&class);
                for split in Split::ALL {
                    if split == Split::Train && class != GOOD {
                        ui.label("–");
                        continue;
                    }
                    let counts = self.recipe.counts.entry(split.to_string()).or_default();
                    let n = counts.entry(class.clone()).or_insert(0);
                    ui.add(egui::DragValue::new(n).range(0..=100_000))
                        .on_hover_text(format!("{class} samples in {split}"));
                }
                ui.end_row();
            }
        });
        ui.separator();

        ui.heading("Generate");
        path_row_ui(ui, "Output", &mut self.out_dir, true);
        match &self.generation {
            None => {
                let total: usize = self.recipe.groups().iter().map(|g| g.2).sum();
                if ui
                    .add_enabled(self.gpu.is_some(), egui::Button::new("Generate dataset"))
                    .on_hover_text(format!("{total} samples"))
                    .clicked()
                {
                    self.start_generation();
                }
            }
            Some(g) => {
                let (done, total) = (g.done, g.total.max(1));
                let secs = g.started.elapsed().as_secs_f64();
                let rate = done as f64 / secs.max(1e-3);
                ui.add(
                    egui::ProgressBar::new(done as f32 / total as f32)
                        .text(format!("{done}/{total} · {rate:.0}/s")),
                );
                if ui.button("Cancel").clicked() {
                    g.worker.cancel();
                }
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100));
            }
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
    }

    fn views_ui(&mut self, ui: &mut egui::Ui) {
        let side = (ui.available_height() * 0.58)
            .min(ui.available_width() * 0.6)
            .max(160.0);
        ui.horizontal(|ui| {
            let (rect, response) =
                ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::click_and_drag());
            match &self.view_texture {
                Some(t) => {
                    ui.painter().image(
                        t.id(),
                        rect,
                        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        Color32::WHITE,
                    );
                }
                None => {
                    ui.painter().rect_filled(rect, 4.0, Color32::from_gray(20));
                }
            }
            if response.clicked()
                && let Some(pos) = response.interact_pointer_pos()
            {
                let at = (pos - rect.min) / rect.size() * VIEW_SIZE as f32;
                self.click_view(at.x, at.y);
            }
            if response.dragged() {
                let d = response.drag_delta();
                self.yaw_deg = (self.yaw_deg + d.x * 0.5).rem_euclid(360.0);
                self.pitch_deg = (self.pitch_deg + d.y * 0.5).clamp(-89.0, 89.0);
            }
            if response.hovered() {
                let scroll = ui.input(|i| i.smooth_scroll_delta.y);
                if scroll != 0.0 {
                    self.recipe.camera.distance = (self.recipe.camera.distance
                        * f64::from((-scroll * 0.002).exp()))
                    .clamp(3.0, 20.0);
                }
            }
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("Orbit view").strong());
                ui.label("Drag to turn the product, scroll to move the camera.");
                ui.label(format!(
                    "yaw {:.0}°, pitch {:.0}°",
                    self.yaw_deg, self.pitch_deg
                ));
                if ui.button("Reset view").clicked() {
                    self.yaw_deg = 30.0;
                    self.pitch_deg = 20.0;
                }
                if let Some(view) = &self.view {
                    ui.label(format!("rendered in {:.0} ms", view.millis));
                }
                if self.defect.is_some() && self.show_mask {
                    ui.colored_label(Color32::from_rgb(230, 110, 110), "red: the defect's mask");
                }
                if self.defect.is_some() {
                    match self.placed_here() {
                        Some([x, y, z]) => {
                            ui.label(format!("placed by a click at ({x:.2}, {y:.2}, {z:.2})"));
                        }
                        None => {
                            ui.label("Click the product to place the defect there.");
                        }
                    }
                }
                let mut repaint = false;
                if let Some(view) = &self.view {
                    ui.separator();
                    repaint = ui
                        .checkbox(&mut self.show_parts, "Colour the parts")
                        .changed();
                    for (id, name) in &view.parts {
                        ui.horizontal(|ui| {
                            let (swatch, _) = ui
                                .allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                            ui.painter().rect_filled(swatch, 2.0, part_colour(*id));
                            ui.label(format!("{name} (id {id})"));
                        });
                    }
                }
                if repaint {
                    let ctx = ui.ctx().clone();
                    self.paint_view(&ctx);
                }
                // The fit to a line's photos, beside the orbit view: its photo, render and
                // difference stay in sight while the recipe is edited.
                ui.separator();
                let gpu = self.gpu.clone();
                egui::ScrollArea::vertical()
                    .id_salt("photo-fit")
                    .show(ui, |ui| {
                        self.photo_fit
                            .ui(ui, &mut self.recipe, &self.product, gpu.as_ref());
                    });
            });
        });
        ui.separator();
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Random samples of the recipe").strong());
            if ui.button("Shuffle").clicked() {
                self.shuffle += 1;
            }
            ui.label("(defects outlined in red)");
        });
        // Two rows of tiles with their captions must fit below the orbit view.
        let by_width =
            (ui.available_width() - 8.0 * GRID_SAMPLES as f32 / 2.0) / (GRID_SAMPLES as f32 / 2.0);
        let by_height = (ui.available_height() - 2.0 * 24.0) / 2.0;
        let tile = by_width.min(by_height).clamp(64.0, 160.0);
        egui::Grid::new("samples")
            .spacing([6.0, 6.0])
            .show(ui, |ui| {
                for (i, (texture, label)) in self.samples.iter().enumerate() {
                    ui.vertical(|ui| {
                        ui.add(egui::Image::new((texture.id(), egui::vec2(tile, tile))));
                        ui.small(label);
                    });
                    if i % (GRID_SAMPLES / 2) == GRID_SAMPLES / 2 - 1 {
                        ui.end_row();
                    }
                }
            });
    }

    /// Editable parameter ranges of one defect class of the product; an edit that the product's
    /// validation refuses is shown and not applied.
    fn defect_ranges_ui(&mut self, ui: &mut egui::Ui, class: &str) {
        let Some(spec) = self.product.defects.get(class) else {
            return;
        };
        let Ok(serde_json::Value::Object(mut fields)) = serde_json::to_value(spec) else {
            return;
        };
        let mut changed = false;
        egui::Grid::new("defect-ranges")
            .num_columns(3)
            .show(ui, |ui| {
                for (name, value) in fields.iter_mut().filter(|(k, _)| *k != "kind") {
                    let mut edit = |ui: &mut egui::Ui, v: &mut serde_json::Value, what: String| {
                        let Some(mut x) = v.as_f64() else { return };
                        if ui
                            .add(egui::DragValue::new(&mut x).speed(0.005).max_decimals(3))
                            .on_hover_text(what)
                            .changed()
                        {
                            *v = serde_json::json!(x);
                            changed = true;
                        }
                    };
                    ui.label(name.as_str());
                    match value {
                        serde_json::Value::Array(pair) if pair.len() == 2 => {
                            let (lo, hi) = pair.split_at_mut(1);
                            edit(ui, &mut lo[0], format!("{class} {name} from"));
                            edit(ui, &mut hi[0], format!("{class} {name} to"));
                        }
                        v => {
                            edit(ui, v, format!("{class} {name}"));
                            ui.label("");
                        }
                    }
                    ui.end_row();
                }
            });
        if !changed {
            return;
        }
        let edited =
            serde_json::from_value::<crate::product::DefectSpec>(serde_json::Value::Object(fields))
                .map_err(|e| e.to_string())
                .and_then(|spec| spec.validate(&self.product).map(|()| spec));
        match edited {
            Ok(spec) => {
                self.product.defects.insert(class.to_string(), spec);
                self.message = None;
            }
            Err(e) => self.message = Some(format!("{class}: {e}")),
        }
    }

    /// Loads a product file (on a worker) and points the recipe at it, when the recipe fits
    /// the product.
    pub fn open_product(&mut self, path: &Path) {
        let (path, recipe) = (path.to_path_buf(), self.recipe.clone());
        self.file_job("unseen-open-product", false, move || {
            let product = read_product(&path, &recipe)?;
            Ok(FileDone::ProductOpened {
                path,
                product: Box::new(product),
            })
        });
    }

    /// Writes the product (with edited defect ranges, on a worker) and points the recipe at
    /// the file.
    pub fn save_product(&mut self, path: &Path) {
        let (path, product) = (path.to_path_buf(), self.product.clone());
        self.file_job("unseen-save-product", false, move || {
            write_toml(&path, &product)?;
            Ok(FileDone::ProductSaved(path))
        });
    }

    /// Loads a recipe and its product (on a worker); `quiet` leaves a failure unsaid (the
    /// recipe remembered from the last session may be gone).
    pub fn open_recipe(&mut self, path: &Path, quiet: bool) {
        let path = path.to_path_buf();
        self.file_job("unseen-open-recipe", quiet, move || {
            let (recipe, product) = read_recipe(&path)?;
            Ok(FileDone::RecipeOpened {
                path,
                recipe: Box::new(recipe),
                product: Box::new(product),
            })
        });
    }

    fn save_recipe(&mut self, path: &Path) {
        let (path, recipe) = (path.to_path_buf(), self.recipe.clone());
        self.file_job("unseen-save-recipe", false, move || {
            write_toml(&path, &recipe)?;
            Ok(FileDone::RecipeSaved(path))
        });
    }
}

fn range_row_ui(
    ui: &mut egui::Ui,
    label: &str,
    range: &mut [f64; 2],
    limits: std::ops::RangeInclusive<f64>,
) {
    ui.horizontal(|ui| {
        ui.label(label);
        let (lo, hi) = (range[0], range[1]);
        ui.add(
            egui::DragValue::new(&mut range[0])
                .range(*limits.start()..=hi)
                .speed(0.1),
        )
        .on_hover_text(format!("{label} from"));
        ui.label("to");
        ui.add(
            egui::DragValue::new(&mut range[1])
                .range(lo..=*limits.end())
                .speed(0.1),
        )
        .on_hover_text(format!("{label} to"));
    });
}

/// The colour a part is shown in: a fixed palette by id, red left out for masks.
fn part_colour(id: u8) -> Color32 {
    const PALETTE: [Color32; 8] = [
        Color32::from_rgb(90, 160, 230),
        Color32::from_rgb(110, 200, 120),
        Color32::from_rgb(230, 190, 70),
        Color32::from_rgb(170, 120, 220),
        Color32::from_rgb(70, 200, 200),
        Color32::from_rgb(230, 140, 60),
        Color32::from_rgb(200, 200, 200),
        Color32::from_rgb(150, 180, 90),
    ];
    PALETTE[usize::from(id.saturating_sub(1)) % PALETTE.len()]
}

/// Marks mask borders in red on a sample image.
fn outline_mask(image: ColorImage, mask: Option<&[u8]>) -> ColorImage {
    let Some(mask) = mask else { return image };
    let [w, h] = image.size;
    let mut out = image;
    let inside = |x: usize, y: usize| mask.get(y * w + x).is_some_and(|&m| m > 0);
    for y in 0..h {
        for x in 0..w {
            if !inside(x, y) {
                continue;
            }
            let edge = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || !inside(x - 1, y)
                || !inside(x + 1, y)
                || !inside(x, y - 1)
                || !inside(x, y + 1);
            if edge {
                out.pixels[y * w + x] = Color32::from_rgb(255, 40, 40);
            }
        }
    }
    out
}

/// The built-in recipe is part of the source tree and parsed in tests.
fn unreachable_recipe() -> Recipe {
    panic!("the built-in cap-default recipe is invalid; this is a build defect")
}

/// The light direction from azimuth (about the view axis, 0 = from the right) and elevation
/// (towards the viewer), in degrees.
pub fn light_direction(azimuth_deg: f32, elevation_deg: f32) -> [f32; 3] {
    let (a, e) = (azimuth_deg.to_radians(), elevation_deg.to_radians());
    let v = DVec3::new(
        f64::from(e.cos() * a.cos()),
        f64::from(e.cos() * a.sin()),
        f64::from(e.sin()),
    );
    [v.x as f32, v.y as f32, v.z as f32]
}

/// Azimuth and elevation of a light direction, in degrees (inverse of [`light_direction`]).
pub fn light_angles(direction: [f32; 3]) -> (f32, f32) {
    let [x, y, z] = direction;
    let len = (x * x + y * y + z * z).sqrt().max(1e-6);
    let elevation = (z / len).clamp(-1.0, 1.0).asin().to_degrees();
    let azimuth = y.atan2(x).to_degrees();
    (azimuth, elevation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_angles_round_trip() {
        for (a, e) in [(0.0, 45.0), (123.0, 10.0), (-60.0, 80.0)] {
            let (a2, e2) = light_angles(light_direction(a, e));
            assert!(
                (a - a2).abs() < 1e-3 && (e - e2).abs() < 1e-3,
                "{a},{e} → {a2},{e2}"
            );
        }
    }
}
