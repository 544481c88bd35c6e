//! Defect regions of an anomaly map, and the product part each lies on.
//!
//! # How the part is named
//! The reconstruction G(z*) is the good product closest to the image, in the same pose. The
//! training renders nearest to it (the lookup [`PartAtlas::nearest_k_shortlisted`] that the
//! maps made with the renders share) are therefore good products in nearly that pose; of
//! those, the four that look most like the image around the region
//! ([`PartAtlas::best_local_matches`]) stand for its pose, and their part-id maps
//! (the part maps of the training split, rendered with the images) say which part sits under
//! each pixel. Each region takes the part whose anomaly is densest: its anomaly mass under the
//! region (map values summed per part id over the four renders) divided by the pixels it covers
//! in a window around the region (the region's box grown by an eighth of the image side, at
//! least 4 px). Plain mass would let a large part outvote a thin one the region cuts through: a
//! shortened notch lights up the wall it was filled with as much as the notch itself. Four
//! renders rather than one smooth out a pose that is slightly off. Background is ignored while
//! any product pixel is covered; a region entirely off the good silhouette (material where the
//! good product has none, e.g. a bulge seen edge-on) takes the part nearest to it: the region is
//! dilated pixel by pixel until it touches the product, and the parts touched first vote. Only a
//! region with no product within a quarter of the image is named `background`.
//!
//! Measured with `scripts/part_naming.py` on the demo GAN's 400 held-out defective images, the
//! strongest region named after the injected part: 243 (bulge 84, short notch 52, chip 44,
//! dent 63), against 206 (81, 20, 48, 57) for the per-region window search over all renders with
//! plain mass that this replaced.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::model::InspectError;
use crate::dataset::layout::Split;
use crate::train::data::{DataError, DatasetInfo};

/// One connected area of the map above the pixel threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Region {
    /// `[x_min, y_min, x_max, y_max]`, inclusive, in pixels.
    pub bbox: [usize; 4],
    /// Pixels.
    pub area: usize,
    /// Largest map value inside.
    pub peak: f32,
    /// Part id under most of the anomaly, when a part atlas was available.
    pub part_id: Option<u8>,
    /// Its name (`dome`, `notch`, …, or `background`).
    pub part: Option<String>,
    /// With the product rendered at the image's pose: `material added`, `material missing`
    /// or `surface changed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

impl Region {
    /// One line for people and tables: `dome [10,4-18,9] 31px peak 0.420`.
    pub fn summary(&self) -> String {
        let [x0, y0, x1, y1] = self.bbox;
        let change = self
            .change
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        format!(
            "{}{change} [{x0},{y0}-{x1},{y1}] {}px peak {:.3}",
            self.part.as_deref().unwrap_or("?"),
            self.area,
            self.peak
        )
    }
}

/// Regions of `map` (`size × size`) at or above `threshold` with at least `min_area` pixels,
/// 8-connected, largest peak first; plus the binary mask of the kept regions (0 or 1).
pub fn regions(
    map: &[f32],
    size: usize,
    threshold: f32,
    min_area: usize,
) -> (Vec<Region>, Vec<Vec<usize>>, Vec<u8>) {
    let mut label = vec![usize::MAX; map.len()];
    let mut found = Vec::new();
    let mut members = Vec::new();
    let mut mask = vec![0u8; map.len()];
    for start in 0..map.len() {
        if map[start] < threshold || label[start] != usize::MAX {
            continue;
        }
        let id = members.len();
        let mut stack = vec![start];
        label[start] = id;
        let mut pixels = Vec::new();
        while let Some(p) = stack.pop() {
            pixels.push(p);
            let (x, y) = ((p % size) as isize, (p / size) as isize);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= size as isize || ny >= size as isize {
                        continue;
                    }
                    let q = ny as usize * size + nx as usize;
                    if label[q] == usize::MAX && map[q] >= threshold {
                        label[q] = id;
                        stack.push(q);
                    }
                }
            }
        }
        members.push(pixels);
    }
    let mut kept = Vec::new();
    for pixels in members.into_iter().filter(|p| p.len() >= min_area.max(1)) {
        let mut bbox = [usize::MAX, usize::MAX, 0, 0];
        let mut peak = f32::NEG_INFINITY;
        for &p in &pixels {
            let (x, y) = (p % size, p / size);
            bbox = [
                bbox[0].min(x),
                bbox[1].min(y),
                bbox[2].max(x),
                bbox[3].max(y),
            ];
            peak = peak.max(map[p]);
            mask[p] = 1;
        }
        found.push(Region {
            bbox,
            area: pixels.len(),
            peak,
            part_id: None,
            part: None,
            change: None,
        });
        kept.push(pixels);
    }
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by(|&a, &b| found[b].peak.total_cmp(&found[a].peak));
    let regions = order.iter().map(|&i| found[i].clone()).collect();
    let pixels = order.iter().map(|&i| kept[i].clone()).collect();
    (regions, pixels, mask)
}

/// Σ (a − b)² over two equally long rows, in eight independent partial sums (one long chain
/// of dependent additions would run at a quarter of the speed).
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (head_a, tail_a) = a.split_at(a.len() - a.len() % 8);
    let (head_b, tail_b) = b.split_at(head_a.len());
    for (ca, cb) in head_a.chunks_exact(8).zip(head_b.chunks_exact(8)) {
        for k in 0..8 {
            let t = ca[k] - cb[k];
            lanes[k] += t * t;
        }
    }
    let tail: f32 = tail_a
        .iter()
        .zip(tail_b)
        .map(|(p, q)| (p - q) * (p - q))
        .sum();
    lanes.iter().sum::<f32>() + tail
}

/// Means of `block`×`block` pixel blocks of a `channels · size²` image.
fn block_means(image: &[f32], channels: usize, size: usize, block: usize) -> Vec<f32> {
    let t = size / block;
    let mut out = vec![0.0f32; channels * t * t];
    let scale = 1.0 / (block * block) as f32;
    for c in 0..channels {
        for y in 0..size {
            for x in 0..size {
                out[c * t * t + (y / block) * t + x / block] +=
                    image[c * size * size + y * size + x] * scale;
            }
        }
    }
    out
}

/// The window a region's part is named in: its box grown by an eighth of the image side (at
/// least 4 px), inclusive `[x0, y0, x1, y1]`, within the image.
pub fn naming_window(bbox: [usize; 4], size: usize) -> [usize; 4] {
    let margin = (size / 8).max(4);
    let last = size.saturating_sub(1);
    let [x0, y0, x1, y1] = bbox.map(|v| v.min(last));
    [
        x0.saturating_sub(margin),
        y0.saturating_sub(margin),
        x1.saturating_add(margin).min(last),
        y1.saturating_add(margin).min(last),
    ]
}

/// Adds the pixels of each part id inside `window` (inclusive `[x0, y0, x1, y1]`, clamped to
/// the image) of a `size` × `size` part map to `area`.
pub(crate) fn add_part_area(
    area: &mut BTreeMap<u8, f32>,
    parts: &[u8],
    size: usize,
    window: [usize; 4],
) {
    let last = size.saturating_sub(1);
    let [x0, y0, x1, y1] = window.map(|v| v.min(last));
    for y in y0..=y1 {
        for &part in parts.get(y * size + x0..=y * size + x1).unwrap_or(&[]) {
            *area.entry(part).or_default() += 1.0;
        }
    }
}

/// The part, background left out, whose anomaly `mass` is densest over the pixels it covers
/// (`area`, at least one); None when no part has any mass.
pub(crate) fn densest(mass: &BTreeMap<u8, f32>, area: &BTreeMap<u8, f32>) -> Option<u8> {
    mass.iter()
        .filter(|(id, _)| **id != 0)
        .map(|(&id, &m)| (id, m / area.get(&id).copied().unwrap_or(1.0).max(1.0)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

/// Training images and their part maps, for naming parts.
#[derive(Debug, Clone)]
pub struct PartAtlas {
    pub size: usize,
    pub channels: usize,
    images: Vec<f32>,
    part_maps: Vec<u8>,
    pub names: BTreeMap<u8, String>,
    /// 4×4-pixel block means of every image (when the size allows), made on first use.
    thumbnails: std::sync::OnceLock<Vec<f32>>,
    /// 8×8-pixel block means of every image, for atlases of more than [`COARSE_FROM`].
    coarse_thumbnails: std::sync::OnceLock<Vec<f32>>,
}

/// Atlas size above which the pose lookup first narrows by 8×8-block means.
pub const COARSE_FROM: usize = 6000;

impl PartAtlas {
    /// Reads the training images of the dataset in `dir` and their part maps, each checked
    /// against the hash its manifest records.
    pub fn load(dir: &Path) -> Result<Self, InspectError> {
        let info = DatasetInfo::open(dir)?;
        let train = info.load_train()?;
        let manifest = &info.dataset().manifest;
        let mut part_maps = Vec::with_capacity(train.len() * info.image_size * info.image_size);
        for sample in manifest.samples_of(Split::Train).filter(|s| s.id.is_good()) {
            let (map, part_path) = info.dataset().part_map(sample).map_err(DataError::from)?;
            let map = map.to_luma8();
            if map.width() as usize != info.image_size || map.height() as usize != info.image_size {
                return Err(InspectError::Invalid {
                    path: part_path,
                    message: "part map size differs from the image size".into(),
                });
            }
            part_maps.extend_from_slice(map.as_raw());
        }
        let all: Vec<usize> = (0..train.len()).collect();
        Ok(Self {
            size: info.image_size,
            channels: train.channels,
            images: train.gather(&all),
            part_maps,
            names: manifest.parts.clone(),
            thumbnails: std::sync::OnceLock::new(),
            coarse_thumbnails: std::sync::OnceLock::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.part_maps.len() / (self.size * self.size).max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` training images nearest to `reconstruction` in squared pixel distance, nearest
    /// first (ties keep the earlier image). Partial-distance pruning against the k-th best so
    /// far keeps the answer a plain scan's.
    pub fn nearest_k(&self, reconstruction: &[f32], k: usize) -> Vec<usize> {
        let len = self.channels * self.size * self.size;
        if reconstruction.len() != len || k == 0 {
            return Vec::new();
        }
        let row = self.size;
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        for i in 0..self.len() {
            let image = &self.images[i * len..(i + 1) * len];
            let bound = if best.len() == k {
                best[k - 1].0
            } else {
                f32::INFINITY
            };
            let mut d = 0.0f32;
            let mut pruned = false;
            for (a, b) in image.chunks(row).zip(reconstruction.chunks(row)) {
                d += squared_distance(a, b);
                if d >= bound {
                    pruned = true;
                    break;
                }
            }
            if pruned {
                continue;
            }
            let at = best.partition_point(|&(e, _)| e <= d);
            best.insert(at, (d, i));
            best.truncate(k);
        }
        best.into_iter().map(|(_, i)| i).collect()
    }

    /// Like [`Self::nearest_k`], through a shortlist: the `8k` (at least 32) images nearest
    /// in 4×4-block means, then exact distances among those. About ten times cheaper on
    /// 64×64 images; it can miss a neighbour the block means do not see, which for a pose
    /// lookup on smooth renders is rare (measured in the tests on real renders). An atlas of
    /// more than [`COARSE_FROM`] images is first narrowed to the `32k` (at least 512) nearest
    /// in 8×8-block means, so the scan over every image reads a quarter as much.
    pub fn nearest_k_shortlisted(&self, reconstruction: &[f32], k: usize) -> Vec<usize> {
        let len = self.channels * self.size * self.size;
        if reconstruction.len() != len || k == 0 {
            return Vec::new();
        }
        let order = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        // The `keep` nearest of `among` in block means at `block`, all images when `among`
        // is None.
        let narrow = |cache: &std::sync::OnceLock<Vec<f32>>,
                      block: usize,
                      among: Option<Vec<usize>>,
                      keep: usize|
         -> Vec<usize> {
            let thumbnails = cache.get_or_init(|| {
                (0..self.len())
                    .flat_map(|i| block_means(self.image(i), self.channels, self.size, block))
                    .collect()
            });
            let query = block_means(reconstruction, self.channels, self.size, block);
            let t = query.len();
            let among = among.unwrap_or_else(|| (0..self.len()).collect());
            let mut scored: Vec<(f32, usize)> = among
                .into_iter()
                .map(|i| (squared_distance(&thumbnails[i * t..(i + 1) * t], &query), i))
                .collect();
            if keep < scored.len() {
                scored.select_nth_unstable_by(keep - 1, order);
                scored.truncate(keep);
            }
            scored.into_iter().map(|(_, i)| i).collect()
        };
        let keep = (8 * k).max(32).min(self.len());
        let among = (self.len() > COARSE_FROM && self.size.is_multiple_of(8)).then(|| {
            let wide = (32 * k).max(512).min(self.len());
            narrow(&self.coarse_thumbnails, 8, None, wide)
        });
        let block = if self.size.is_multiple_of(4) { 4 } else { 1 };
        let shortlist = narrow(&self.thumbnails, block, among, keep);
        let mut exact: Vec<(f32, usize)> = shortlist
            .into_iter()
            .map(|i| (squared_distance(self.image(i), reconstruction), i))
            .collect();
        exact.sort_by(order);
        exact.into_iter().take(k).map(|(_, i)| i).collect()
    }

    /// The pixels of training image `index`, `channels · size²` values.
    pub fn image(&self, index: usize) -> &[f32] {
        let n = self.channels * self.size * self.size;
        &self.images[index * n..(index + 1) * n]
    }

    /// The part map of training image `index`.
    pub fn part_map(&self, index: usize) -> &[u8] {
        let n = self.size * self.size;
        &self.part_maps[index * n..(index + 1) * n]
    }

    /// The `k` of `candidates` (training render indices) closest to `image` in squared pixel
    /// difference over `window` (inclusive `[x0, y0, x1, y1]`) outside `pixels` grown by one
    /// pixel: the renders that agree with the image around a region, whatever the region
    /// holds. Ties keep the candidates' order.
    pub fn best_local_matches(
        &self,
        candidates: &[usize],
        image: &[f32],
        pixels: &[usize],
        window: [usize; 4],
        k: usize,
    ) -> Vec<usize> {
        let size = self.size;
        let plane = size * size;
        if image.len() != self.channels * plane || size == 0 {
            return candidates.iter().copied().take(k).collect();
        }
        let last = size - 1;
        let mut left_out = vec![false; plane];
        for &p in pixels.iter().filter(|&&p| p < plane) {
            let (x, y) = (p % size, p / size);
            for yy in y.saturating_sub(1)..=(y + 1).min(last) {
                for xx in x.saturating_sub(1)..=(x + 1).min(last) {
                    left_out[yy * size + xx] = true;
                }
            }
        }
        let [x0, y0] = [window[0].min(last), window[1].min(last)];
        let [x1, y1] = [window[2].min(last), window[3].min(last)];
        let compared: Vec<usize> = (y0..=y1)
            .flat_map(|y| (x0..=x1).map(move |x| y * size + x))
            .filter(|&p| !left_out[p])
            .collect();
        let mut ranked: Vec<(f32, usize)> = candidates
            .iter()
            .filter(|&&i| i < self.len())
            .map(|&i| {
                let render = self.image(i);
                let mut d = 0.0f32;
                for c in 0..self.channels {
                    for &p in &compared {
                        let t = render[c * plane + p] - image[c * plane + p];
                        d += t * t;
                    }
                }
                (d, i)
            })
            .collect();
        // Stable: equal distances keep the candidates' (nearest-first) order.
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        ranked.into_iter().take(k).map(|(_, i)| i).collect()
    }

    /// Names the part under `pixels` of `map`, as the training renders `indices` (good products
    /// in nearly the image's pose) lay their parts out: each part's anomaly mass under the
    /// region, summed over the renders, divided by the pixels that part covers in `window`
    /// (inclusive `[x0, y0, x1, y1]`) over the same renders. The part with the densest anomaly
    /// wins, so a thin feature the region cuts through (the cap's notch) is not outvoted by the
    /// large part around it. Background is ignored while any product pixel is under the region;
    /// a region entirely off the product takes the part nearest to it.
    pub fn name_part(
        &self,
        indices: &[usize],
        pixels: &[usize],
        map: &[f32],
        window: [usize; 4],
    ) -> (u8, String) {
        let mut mass: BTreeMap<u8, f32> = BTreeMap::new();
        let mut area: BTreeMap<u8, f32> = BTreeMap::new();
        for &index in indices.iter().filter(|&&i| i < self.len()) {
            let parts = self.part_map(index);
            for &p in pixels {
                *mass.entry(parts[p]).or_default() += map[p].max(0.0) + 1e-6;
            }
            add_part_area(&mut area, parts, self.size, window);
        }
        let mut best = densest(&mass, &area).unwrap_or(0);
        if best == 0
            && let Some(&first) = indices.iter().find(|&&i| i < self.len())
        {
            best = self.nearest_part(self.part_map(first), pixels);
        }
        let name = if best == 0 {
            "background".to_string()
        } else {
            self.names
                .get(&best)
                .cloned()
                .unwrap_or_else(|| format!("part {best}"))
        };
        (best, name)
    }
}

impl PartAtlas {
    /// The part first reached by growing `pixels` (8-neighbour dilation), by majority of the
    /// product pixels reached in that step; 0 when none is within `size / 4` steps.
    fn nearest_part(&self, parts: &[u8], pixels: &[usize]) -> u8 {
        let size = self.size;
        let mut inside = vec![false; size * size];
        for &p in pixels {
            inside[p] = true;
        }
        let mut frontier: Vec<usize> = pixels.to_vec();
        for _ in 0..(size / 4).max(1) {
            let mut next = Vec::new();
            let mut votes: BTreeMap<u8, usize> = BTreeMap::new();
            for &p in &frontier {
                let (x, y) = ((p % size) as isize, (p / size) as isize);
                for (dx, dy) in [
                    (-1, -1),
                    (0, -1),
                    (1, -1),
                    (-1, 0),
                    (1, 0),
                    (-1, 1),
                    (0, 1),
                    (1, 1),
                ] {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= size as isize || ny >= size as isize {
                        continue;
                    }
                    let q = ny as usize * size + nx as usize;
                    if !inside[q] {
                        inside[q] = true;
                        next.push(q);
                        if parts[q] != 0 {
                            *votes.entry(parts[q]).or_default() += 1;
                        }
                    }
                }
            }
            if let Some((id, _)) = votes.iter().max_by_key(|(_, n)| **n) {
                return *id;
            }
            frontier = next;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_blobs_one_too_small() {
        let size = 6;
        let mut map = vec![0.0; 36];
        for p in [0, 1, 6, 7] {
            map[p] = 1.0;
        }
        map[35] = 2.0;
        let (found, pixels, mask) = regions(&map, size, 0.5, 2);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bbox, [0, 0, 1, 1]);
        assert_eq!(found[0].area, 4);
        assert_eq!(pixels[0].len(), 4);
        assert_eq!(mask.iter().map(|&m| m as usize).sum::<usize>(), 4);
        let (all, _, _) = regions(&map, size, 0.5, 1);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].peak, 2.0);
    }

    /// An atlas of grey `size`² images with blank part maps.
    fn grey_atlas(size: usize, images: Vec<f32>) -> PartAtlas {
        let count = images.len() / (size * size);
        PartAtlas {
            size,
            channels: 1,
            images,
            part_maps: vec![0; count * size * size],
            names: BTreeMap::new(),
            thumbnails: std::sync::OnceLock::new(),
            coarse_thumbnails: std::sync::OnceLock::new(),
        }
    }

    #[test]
    fn local_matches_follow_the_image_around_the_region_not_inside_it() {
        // Three renders of a bar two pixels wide, at x = 3, 5 and 9.
        let bar = |at: usize| -> Vec<f32> {
            (0..256)
                .map(|p| {
                    if (at..at + 2).contains(&(p % 16)) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let atlas = grey_atlas(16, [bar(3), bar(5), bar(9)].concat());
        // The image has the bar at x = 5, and over its top a region that looks like the bar
        // at x = 3 (what differs there must not decide).
        let mut image = bar(5);
        let mut region = Vec::new();
        for y in 0..6 {
            for x in 3..7 {
                image[y * 16 + x] = if x < 5 { 1.0 } else { 0.0 };
                region.push(y * 16 + x);
            }
        }
        let window = [0, 0, 15, 15];
        assert_eq!(
            atlas.best_local_matches(&[0, 2, 1], &image, &region, window, 1),
            [1]
        );
        // Two of them, nearest first; a window away from every bar ties all three, and ties
        // keep the candidates' order.
        assert_eq!(
            atlas.best_local_matches(&[0, 2, 1], &image, &region, window, 2)[0],
            1
        );
        let empty = [12, 0, 15, 15];
        assert_eq!(
            atlas.best_local_matches(&[2, 0, 1], &image, &region, empty, 3),
            [2, 0, 1]
        );
    }

    /// Uniform values in [0, 1) from a 64-bit linear congruential generator.
    fn uniform(seed: u64) -> impl FnMut() -> f32 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    #[test]
    fn a_thin_part_cut_through_is_named_over_the_large_one_around_it() {
        // A 16×16 render: dome (1) above row 6, wall (2) below, a notch (3) two columns wide
        // at x 7..9 from row 10 down; background (0) in the first column.
        let size = 16;
        let mut parts = vec![0u8; size * size];
        for y in 0..size {
            for x in 1..size {
                parts[y * size + x] = if y < 6 {
                    1
                } else if y >= 10 && (7..9).contains(&x) {
                    3
                } else {
                    2
                };
            }
        }
        let mut atlas = grey_atlas(size, vec![0.0; 2 * size * size]);
        atlas.part_maps = [parts.clone(), parts].concat();
        atlas.names = BTreeMap::from([
            (1, "dome".to_string()),
            (2, "wall".to_string()),
            (3, "notch".to_string()),
        ]);
        let map = vec![1.0f32; size * size];
        let window = |x0: usize, y0: usize, x1: usize, y1: usize| {
            let pixels: Vec<usize> = (y0..=y1)
                .flat_map(|y| (x0..=x1).map(move |x| y * size + x))
                .collect();
            (
                pixels,
                [x0.saturating_sub(4), y0.saturating_sub(4), x1 + 4, y1 + 4],
            )
        };
        // Rows 10..13, x 4..11: 8 notch pixels and 24 wall ones; the window holds 12 of the
        // notch's 12 pixels in rows 6..15 and 132 wall pixels: the notch is far denser.
        let (pixels, w) = window(4, 10, 11, 13);
        assert_eq!(atlas.name_part(&[0, 1], &pixels, &map, w).1, "notch");
        // A region beside the notch, on the wall only, stays the wall's though the notch is
        // in its window.
        let (beside, w) = window(1, 11, 5, 13);
        assert_eq!(
            atlas.name_part(&[0, 1], &beside, &map, w),
            (2, "wall".to_string())
        );
        let (pixels, w) = window(3, 0, 12, 3);
        assert_eq!(
            atlas.name_part(&[1], &pixels, &map, w),
            (1, "dome".to_string())
        );
        // Entirely on the background column: the nearest part, the dome at the top.
        let off: Vec<usize> = (0..3).map(|y| y * size).collect();
        assert_eq!(atlas.name_part(&[0], &off, &map, [0, 0, 4, 6]).1, "dome");
        // No render to ask: nothing is invented.
        assert_eq!(atlas.name_part(&[], &pixels, &map, w).1, "background");
        assert_eq!(atlas.name_part(&[7], &pixels, &map, w).1, "background");
    }

    #[test]
    fn a_large_atlas_narrowed_twice_still_finds_the_nearest_poses() {
        // Smooth images that vary with a "pose" (a blob's centre), more than COARSE_FROM.
        let size = 32;
        let blob = |cx: f32, cy: f32| -> Vec<f32> {
            (0..size * size)
                .map(|p| {
                    let (x, y) = ((p % size) as f32 - cx, (p / size) as f32 - cy);
                    (-(x * x + y * y) / 18.0).exp()
                })
                .collect()
        };
        let mut next = uniform(99);
        let count = COARSE_FROM + 1000;
        let images: Vec<f32> = (0..count)
            .flat_map(|_| blob(4.0 + 24.0 * next(), 4.0 + 24.0 * next()))
            .collect();
        let atlas = grey_atlas(size, images);
        let (mut hits, mut total) = (0, 0);
        for _ in 0..20 {
            let query = blob(4.0 + 24.0 * next(), 4.0 + 24.0 * next());
            let exact = atlas.nearest_k(&query, 4);
            let fast = atlas.nearest_k_shortlisted(&query, 4);
            assert_eq!(fast.len(), 4);
            hits += fast.iter().filter(|i| exact.contains(i)).count();
            total += 4;
        }
        assert!(
            atlas.coarse_thumbnails.get().is_some(),
            "the 8×8 stage was not used"
        );
        assert!(hits * 10 >= total * 9, "{hits} of {total}");
    }

    #[test]
    fn pruned_k_nearest_search_finds_what_a_sort_finds() {
        let (size, count) = (12, 80);
        let mut next = uniform(777);
        let mut images: Vec<f32> = (0..count * size * size).map(|_| next()).collect();
        // Image 40 repeats image 7: equal distances keep the earlier image first.
        let seventh = images[7 * size * size..8 * size * size].to_vec();
        images[40 * size * size..41 * size * size].copy_from_slice(&seventh);
        let atlas = grey_atlas(size, images.clone());
        for k in [1, 4, 16] {
            for trial in 0..10 {
                let query: Vec<f32> = (0..size * size).map(|_| next()).collect();
                let mut plain: Vec<(f32, usize)> = (0..count)
                    .map(|i| {
                        let d: f32 = images[i * size * size..(i + 1) * size * size]
                            .iter()
                            .zip(&query)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum();
                        (d, i)
                    })
                    .collect();
                plain.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let expected: Vec<usize> = plain[..k].iter().map(|&(_, i)| i).collect();
                assert_eq!(atlas.nearest_k(&query, k), expected, "k {k}, trial {trial}");
            }
        }
        assert_eq!(atlas.nearest_k(&seventh, 2), vec![7, 40]);
        assert!(atlas.nearest_k(&seventh, 0).is_empty());
        assert!(atlas.nearest_k(&seventh[1..], 3).is_empty());
    }
}
