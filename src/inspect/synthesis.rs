//! Inspection against the good product rendered at each image's own pose (analysis by
//! synthesis, [`crate::refine`]): the references a batch is compared with, the maps made
//! against them, and the regions named from the part map rendered in the same pass.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::localise::{Region, add_part_area, densest, naming_window, regions};
use super::pipeline::Inspector;
use super::score::{Against, ScoreSettings, difference_map, reference_map};
use crate::imaging::gaussian_blur;
use crate::refine::{Synthesis, Synthesizer};

/// Training renders nearest to an image that the lookup compares it with (the peer of
/// `FIELD.md`: 16, by pixel distance through a shortlist of block means).
pub const LOOKUP_RENDERS: usize = 16;
/// How far (pixels) a region outside the rendered product looks for the part it grew from.
const PART_REACH: usize = 3;

/// What one image is compared with, per kind of map: the model's reconstruction and the
/// rendered reference, where they were made.
#[derive(Debug, Clone, Copy)]
pub struct References<'a> {
    pub reconstruction: Option<&'a [f32]>,
    pub synthesis: Option<&'a Synthesis>,
}

impl Inspector {
    /// The good product of the training dataset, ready to render at any pose: maps against
    /// the rendered product become possible, and regions are named from the part map rendered
    /// with it. A scene of another size is refused (nothing changes), naming both sizes.
    pub fn set_synthesizer(&mut self, synthesizer: Option<Synthesizer>) -> Result<(), String> {
        let size = self.model.image_size();
        if let Some(s) = &synthesizer
            && s.image_size() != size
        {
            return Err(format!(
                "the training renders are {0}×{0}, the model's images {size}×{size}",
                s.image_size()
            ));
        }
        self.synthesizer = synthesizer;
        Ok(())
    }

    pub fn synthesizer(&self) -> Option<&Synthesizer> {
        self.synthesizer.as_ref()
    }

    /// The scene's renderer and refinement settings, to change how references are searched.
    pub fn synthesizer_mut(&mut self) -> Option<&mut Synthesizer> {
        self.synthesizer.as_mut()
    }

    /// Whether the images inspected are a camera's photos rather than renders of the
    /// dataset's recipe: then each image's refinement also searches where its picture sits,
    /// how large it is and its exposure (see [`Synthesizer::set_photos`]).
    pub fn set_photo_input(&mut self, photos: bool) {
        if let Some(s) = &mut self.synthesizer {
            s.set_photos(photos);
        }
    }

    /// One flat image of the model's layout as grey levels: the mean of its channels per pixel.
    pub fn grey(&self, image: &[f32]) -> Vec<f32> {
        let channels = self.model.channels().max(1);
        let pixels = image.len() / channels;
        (0..pixels)
            .map(|p| (0..channels).map(|c| image[c * pixels + p]).sum::<f32>() / channels as f32)
            .collect()
    }

    /// Refines the pose of `count` flat images for at most `rounds` rounds and renders their
    /// references (colour images are refined on their grey level), and with a positive
    /// `tolerance_deg` the product turned that far about each axis (see
    /// [`ScoreSettings::pose_tolerance_deg`]). `None` with a message when there is no scene,
    /// the renderer fails or the time limit passes: those images cannot be judged.
    pub fn synthesize(
        &self,
        images: &[f32],
        count: usize,
        rounds: usize,
        retry_above: Option<f32>,
        time_limit: Option<Duration>,
        tolerance_deg: f32,
    ) -> Result<Vec<Synthesis>, String> {
        let Some(synthesizer) = &self.synthesizer else {
            return Err(
                "the calibrated map compares with the product rendered at each image's pose: give the training dataset (--data) and a Vulkan driver".into(),
            );
        };
        let image_len = self.model.config.image_len();
        let grey: Vec<Vec<f32>> = (0..count)
            .map(|i| self.grey(&images[i * image_len..(i + 1) * image_len]))
            .collect();
        let refs: Vec<&[f32]> = grey.iter().map(Vec::as_slice).collect();
        let deadline = time_limit.map(|t| Instant::now() + t);
        synthesizer
            .synthesize(&refs, rounds, retry_above, deadline, tolerance_deg)
            .map_err(|e| e.to_string())
    }

    /// The maps of `images` made as `settings` say, against what `references` hold for each
    /// (the model's maps go through [`Inspector::maps`]). A map whose reference is missing is
    /// all NaN, so its score is not finite and the verdict is `error`.
    pub fn maps_against(
        &self,
        images: &[f32],
        references: &[References<'_>],
        settings: &ScoreSettings,
    ) -> Vec<Vec<f32>> {
        let size = self.model.image_size();
        let image_len = self.model.config.image_len();
        let nan = || vec![f32::NAN; size * size];
        match settings.against {
            Against::Model => {
                let Some(recons) = references
                    .iter()
                    .map(|r| r.reconstruction)
                    .collect::<Option<Vec<&[f32]>>>()
                else {
                    return vec![nan(); references.len()];
                };
                self.maps(images, &recons, settings)
            }
            Against::Rendered => {
                let appearance = self
                    .calibration
                    .as_ref()
                    .and_then(|c| c.appearance.as_ref());
                references
                    .par_iter()
                    .enumerate()
                    .map(|(i, r)| match r.synthesis {
                        // A pose-tolerant map without its turned renders cannot be made.
                        Some(s) if settings.pose_tolerance_deg > 0.0 && s.around.is_empty() => {
                            nan()
                        }
                        Some(s) => {
                            let image = &images[i * image_len..(i + 1) * image_len];
                            let reference = replicated(&s.reference, image_len);
                            let mut d = difference_map(image, &reference, size, settings);
                            if settings.pose_tolerance_deg > 0.0 {
                                for turned in &s.around {
                                    let turned = replicated(turned, image_len);
                                    let e = difference_map(image, &turned, size, settings);
                                    for (v, w) in d.iter_mut().zip(e) {
                                        *v = v.min(w);
                                    }
                                }
                            }
                            if let Some(a) = appearance {
                                for (v, k) in d.iter_mut().zip(a.scale(&s.reference, &s.part)) {
                                    *v *= k;
                                }
                            }
                            gaussian_blur(&d, size, settings.smoothing_sigma)
                        }
                        None => nan(),
                    })
                    .collect()
            }
            Against::Lookup => {
                let Some(atlas) = self.atlas() else {
                    return vec![nan(); references.len()];
                };
                (0..references.len())
                    .into_par_iter()
                    .map(|i| {
                        let image = &images[i * image_len..(i + 1) * image_len];
                        let near = atlas.nearest_k_shortlisted(image, LOOKUP_RENDERS);
                        let renders: Vec<&[f32]> = near.iter().map(|&j| atlas.image(j)).collect();
                        reference_map(image, &renders, size, settings)
                    })
                    .collect()
            }
        }
    }

    /// Regions of `map` at or above `threshold`, each named after the part the good product
    /// has under it at the image's refined pose (the part map rendered with the reference),
    /// weighted by the map; a region where the render shows background (material added
    /// outside the product) takes the nearest part within a few pixels. Each region also says
    /// whether material looks added (the image shows product where the render has none),
    /// missing (the other way round) or changed (a surface change inside the outline).
    pub fn localise_rendered(
        &self,
        image: &[f32],
        map: &[f32],
        threshold: f32,
        synthesis: &Synthesis,
    ) -> (Vec<Region>, Vec<u8>) {
        let size = self.model.image_size();
        let (mut found, pixels, mask) = regions(map, size, threshold, self.min_area());
        let names = self.part_names();
        let pixels_per_channel = size * size;
        for (region, members) in found.iter_mut().zip(&pixels) {
            let (mut added, mut missing) = (0usize, 0usize);
            for &p in members {
                // Background in the render is dark; the image there shows product when it is
                // clearly brighter, and background where the render has product when darker.
                let rendered = synthesis.reference.get(p).copied().unwrap_or(0.0);
                let seen = image.get(p).copied().unwrap_or(0.0)
                    + image
                        .chunks(pixels_per_channel)
                        .skip(1)
                        .map(|c| c[p])
                        .sum::<f32>();
                let seen = seen / (image.len() / pixels_per_channel).max(1) as f32;
                if synthesis.depth.get(p).is_some_and(|d| *d == 0.0) && seen > rendered + 0.1 {
                    added += 1;
                } else if synthesis.depth.get(p).is_some_and(|d| *d > 0.0)
                    && seen + 0.1 < rendered
                    && seen < 0.1
                {
                    missing += 1;
                }
            }
            let best = densest_part(map, members, &synthesis.part, size, region.bbox);
            if let Some(id) = best {
                region.part_id = Some(id);
                region.part = Some(
                    names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| format!("part {id}")),
                );
            }
            region.change = Some(
                if added * 2 > members.len() {
                    "material added"
                } else if missing * 2 > members.len() {
                    "material missing"
                } else {
                    "surface changed"
                }
                .to_string(),
            );
        }
        (found, mask)
    }

    /// Part names by id, from the training dataset (the atlas or the scene's product).
    fn part_names(&self) -> std::collections::BTreeMap<u8, String> {
        if let Some(atlas) = self.atlas() {
            return atlas.names.clone();
        }
        self.synthesizer
            .as_ref()
            .map(|s| s.part_names().clone())
            .unwrap_or_default()
    }
}

/// A grey reference repeated over the image's channels.
fn replicated(grey: &[f32], image_len: usize) -> Vec<f32> {
    let channels = (image_len / grey.len().max(1)).max(1);
    let mut out = Vec::with_capacity(image_len);
    for _ in 0..channels {
        out.extend_from_slice(grey);
    }
    out
}

/// The part under a region (`members`, with box `bbox`) of `map`, from the part map rendered
/// at the image's pose: each part's anomaly mass under the region divided by the pixels it
/// covers in the region's [`naming_window`], so the densest anomaly wins, as with the training
/// renders' part maps ([`super::localise::PartAtlas::name_part`]). Plain mass would let a
/// large part that the region's blur spills onto, or that shows through a filled hole,
/// outvote the thin part the region lies on (a hole's wall, the cap's notch). A pixel where the
/// render shows background (material added outside the product) counts for the nearest part
/// within [`PART_REACH`]. None when no part is near.
fn densest_part(
    map: &[f32],
    members: &[usize],
    parts: &[u8],
    size: usize,
    bbox: [usize; 4],
) -> Option<u8> {
    let mut weight = std::collections::BTreeMap::<u8, f32>::new();
    for &p in members {
        let part = match parts.get(p).copied().unwrap_or(0) {
            0 => nearest_part(parts, size, p, PART_REACH),
            part => part,
        };
        if part != 0 {
            *weight.entry(part).or_default() += map[p].max(0.0);
        }
    }
    let mut area = std::collections::BTreeMap::new();
    add_part_area(&mut area, parts, size, naming_window(bbox, size));
    densest(&weight, &area)
}

/// The part of the nearest non-background pixel within `reach` of pixel `p` (Chebyshev
/// rings, nearest first); 0 when there is none.
fn nearest_part(parts: &[u8], size: usize, p: usize, reach: usize) -> u8 {
    let (x, y) = ((p % size) as isize, (p / size) as isize);
    for r in 1..=reach as isize {
        for dy in -r..=r {
            for dx in -r..=r {
                if dx.abs() != r && dy.abs() != r {
                    continue;
                }
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= size as isize || ny >= size as isize {
                    continue;
                }
                let part = parts[ny as usize * size + nx as usize];
                if part != 0 {
                    return part;
                }
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_on_a_thin_part_is_named_after_it_not_after_the_large_part_around_it() {
        // A plate (part 1) with a hole whose wall (part 4) shows as a one-pixel ring, and the
        // plate again seen through the hole: a filled hole lights up the ring and what is
        // inside it. The plate holds more of the anomaly; the ring holds it more densely.
        let size = 32;
        let mut parts = vec![1u8; size * size];
        let mut members = Vec::new();
        let mut map = vec![0.0f32; size * size];
        for y in 12..=18 {
            for x in 12..=18 {
                let p = y * size + x;
                if y == 12 || y == 18 || x == 12 || x == 18 {
                    parts[p] = 4;
                }
                members.push(p);
                map[p] = 1.0;
            }
        }
        assert_eq!(
            densest_part(&map, &members, &parts, size, [12, 12, 18, 18]),
            Some(4)
        );
        // A region on the plate beside the hole, its blur touching the ring: the plate.
        let beside: Vec<usize> = (19..=24)
            .flat_map(|y| (8..=14).map(move |x| y * size + x))
            .collect();
        let mut map = vec![0.0f32; size * size];
        for &p in &beside {
            map[p] = 1.0;
        }
        map[18 * size + 13] = 0.5;
        let mut touching = beside.clone();
        touching.push(18 * size + 13);
        assert_eq!(
            densest_part(&map, &touching, &parts, size, [8, 18, 14, 24]),
            Some(1)
        );
        // Nothing near: no part.
        let empty = vec![0u8; size * size];
        assert_eq!(
            densest_part(&map, &beside, &empty, size, [8, 19, 14, 24]),
            None
        );
    }

    #[test]
    fn a_region_outside_the_product_takes_the_nearest_part() {
        let size = 8;
        let mut parts = vec![0u8; size * size];
        parts[3 * size + 3] = 2;
        parts[3 * size + 6] = 5;
        // Two pixels left of part 2 and three from part 5: part 2.
        assert_eq!(nearest_part(&parts, size, 3 * size + 1, 3), 2);
        assert_eq!(nearest_part(&parts, size, 3 * size + 7, 3), 5);
        assert_eq!(nearest_part(&parts, size, 7 * size + 7, 2), 0);
    }
}
