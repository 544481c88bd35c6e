//! What a camera's good photos share that the renderer does not draw (light bouncing inside
//! the notch, a response curve the sensor model only approximates, edges that a sub-pixel pose
//! error moves): the residual photo − reference over good photos, modelled per cell of part,
//! edge or not, and rendered grey level. Its spread scales the difference map against the
//! rendered product: where good photos depart from the render by much and by varying amounts
//! (the notch's shading, the silhouette), a difference counts for less, so what every good
//! photo shows does not read as a defect, and elsewhere it counts for more. The median is
//! kept for the user to read; adding it to the reference was measured and not kept
//! (`examples/appearance_study.rs`).
//!
//! Fitted on good photos only (calibration), never on defects, never for training.

use serde::{Deserialize, Serialize};

/// Grey-level bins of the rendered reference.
pub const BINS: usize = 8;
/// Fewest pixels a cell needs to keep its own statistics; sparser cells take their part's
/// (edge or not), then the whole product's.
const MIN_CELL_PIXELS: usize = 200;
/// The spread never goes below this fraction of the whole product's: a cell whose good photos
/// happen to agree closely must not turn noise into defects.
const SPREAD_FLOOR: f32 = 0.5;
/// The largest factor a pixel's difference is scaled by: the product's spread over the floor.
pub const MAX_SCALE: f32 = 1.0 / SPREAD_FLOOR;
/// See [`Appearance::max_spread_ratio`].
pub const MAX_SPREAD_RATIO: f32 = 2.0;

/// Statistics of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Median residual (photo − reference), grey levels in [0, 1].
    pub bias: f32,
    /// 1.4826 × the median absolute deviation about `bias`.
    pub spread: f32,
    pub pixels: usize,
}

/// The residual model of one line: cells by part id (0 = background), edge flag and bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appearance {
    /// `parts[i]` is the part id of `cells[i]`.
    pub parts: Vec<u8>,
    /// Per part: `[edge][bin]`.
    pub cells: Vec<[[Cell; BINS]; 2]>,
    /// The whole product's spread (all pixels with a part): the unit the scaled map keeps.
    pub spread: f32,
    /// The largest cell spread the scaled map divides by, as a multiple of `spread`: where
    /// good photos vary most (the notch) a defect must still be able to show.
    pub max_spread_ratio: f32,
    pub photos: usize,
}

fn bin_of(v: f32) -> usize {
    ((v.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1)
}

/// Whether pixel `p` touches a pixel of another part (4-neighbours; the frame's border does
/// not count).
fn is_edge(part: &[u8], size: usize, p: usize) -> bool {
    let (x, y) = (p % size, p / size);
    let own = part[p];
    (x > 0 && part[p - 1] != own)
        || (x + 1 < size && part[p + 1] != own)
        || (y > 0 && part[p - size] != own)
        || (y + 1 < size && part[p + size] != own)
}

/// Median and 1.4826 × MAD of `values` (reordered).
fn robust(values: &mut [f32]) -> (f32, f32) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mid = values.len() / 2;
    let median = *values.select_nth_unstable_by(mid, f32::total_cmp).1;
    let mut dev: Vec<f32> = values.iter().map(|v| (v - median).abs()).collect();
    let mad = *dev.select_nth_unstable_by(mid, f32::total_cmp).1;
    (median, 1.4826 * mad)
}

impl Appearance {
    /// Fits the model on good images, each with the reference rendered at its refined pose
    /// and that render's part map (grey, square, all three the same size). Refuses an empty or
    /// mismatched set.
    pub fn fit(pairs: &[(&[f32], &[f32], &[u8])]) -> Result<Self, String> {
        if pairs.is_empty() {
            return Err("no good photo to fit the line's appearance on".into());
        }
        // residuals[part][edge][bin]
        let mut residuals: std::collections::BTreeMap<u8, [[Vec<f32>; BINS]; 2]> =
            std::collections::BTreeMap::new();
        for (image, reference, part) in pairs {
            let pixels = reference.len();
            let size = (pixels as f64).sqrt() as usize;
            if pixels == 0 || size * size != pixels || image.len() != pixels || part.len() != pixels
            {
                return Err(format!(
                    "an image of {} values against a reference of {pixels} and a part map of {}",
                    image.len(),
                    part.len()
                ));
            }
            for p in 0..pixels {
                let r = image[p] - reference[p];
                if !r.is_finite() {
                    continue;
                }
                let edge = usize::from(is_edge(part, size, p));
                residuals.entry(part[p]).or_default()[edge][bin_of(reference[p])].push(r);
            }
        }
        let mut product: Vec<f32> = residuals
            .iter()
            .filter(|(part, _)| **part != 0)
            .flat_map(|(_, c)| c.iter().flatten().flatten().copied())
            .collect();
        let (product_bias, product_spread) = robust(&mut product);
        if !(product_spread.is_finite() && product_spread > 0.0) {
            return Err("the good photos leave no residual spread to model".into());
        }
        let floor = SPREAD_FLOOR * product_spread;
        let mut parts = Vec::new();
        let mut cells = Vec::new();
        for (part, mut by_edge) in residuals {
            let mut own = [[Cell {
                bias: product_bias,
                spread: product_spread,
                pixels: 0,
            }; BINS]; 2];
            for (edge, bins) in by_edge.iter_mut().enumerate() {
                let mut all: Vec<f32> = bins.iter().flatten().copied().collect();
                let fallback = if all.len() >= MIN_CELL_PIXELS {
                    robust(&mut all)
                } else {
                    (product_bias, product_spread)
                };
                for (b, values) in bins.iter_mut().enumerate() {
                    let (bias, spread) = if values.len() >= MIN_CELL_PIXELS {
                        robust(values)
                    } else {
                        fallback
                    };
                    own[edge][b] = Cell {
                        bias,
                        spread: spread.max(floor),
                        pixels: values.len(),
                    };
                }
            }
            parts.push(part);
            cells.push(own);
        }
        Ok(Self {
            parts,
            cells,
            spread: product_spread,
            max_spread_ratio: MAX_SPREAD_RATIO,
            photos: pairs.len(),
        })
    }

    fn cell(&self, part: u8, edge: bool, value: f32) -> Option<&Cell> {
        let i = self.parts.iter().position(|p| *p == part)?;
        Some(&self.cells[i][usize::from(edge)][bin_of(value)])
    }

    /// Per pixel of a reference and its part map, the factor that brings the good residual to
    /// the product's spread: the product's spread over the cell's (that at most
    /// `max_spread_ratio` times the product's); 1 for a part the photos never showed.
    pub fn scale(&self, reference: &[f32], part: &[u8]) -> Vec<f32> {
        let size = (reference.len() as f64).sqrt() as usize;
        (0..reference.len())
            .map(|p| {
                self.cell(part[p], is_edge(part, size, p), reference[p])
                    .map_or(1.0, |c| {
                        self.spread / c.spread.min(self.max_spread_ratio * self.spread)
                    })
            })
            .collect()
    }

    /// Checks a model read from a file: one cell table per part, every spread positive.
    pub fn validate(&self) -> Result<(), String> {
        if self.parts.len() != self.cells.len() {
            return Err(format!(
                "{} part ids for {} cell tables",
                self.parts.len(),
                self.cells.len()
            ));
        }
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !positive(self.spread) {
            return Err("the product's spread must be positive".into());
        }
        if !(self.max_spread_ratio.is_finite() && self.max_spread_ratio >= 1.0) {
            return Err(format!(
                "max_spread_ratio must be at least 1, got {}",
                self.max_spread_ratio
            ));
        }
        let mut ids = self.parts.clone();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.parts.len() {
            return Err("a part id is listed twice".into());
        }
        // No cell may scale a difference by more than MAX_SCALE.
        let floor = SPREAD_FLOOR * self.spread * (1.0 - 1e-4);
        if self
            .cells
            .iter()
            .flatten()
            .flatten()
            .any(|c| !positive(c.spread) || c.spread < floor || !c.bias.is_finite())
        {
            return Err(format!(
                "every cell needs a finite bias and a spread of at least {SPREAD_FLOOR} times \
                 the product's"
            ));
        }
        Ok(())
    }

    /// One line for the user: how many photos, the product's spread, and the part whose good
    /// photos depart most from the render (the pixel-weighted mean spread of its cells),
    /// named from `names` where it has a name.
    pub fn summary(&self, names: &std::collections::BTreeMap<u8, String>) -> String {
        let widest = self
            .parts
            .iter()
            .zip(&self.cells)
            .filter(|(part, _)| **part != 0)
            .filter_map(|(part, cells)| {
                let cells = cells.iter().flatten().filter(|c| c.pixels > 0);
                let (sum, n) = cells.fold((0.0f64, 0usize), |(s, n), c| {
                    (s + f64::from(c.spread) * c.pixels as f64, n + c.pixels)
                });
                (n > 0).then(|| (*part, sum / n as f64))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let mut out = format!(
            "the line's appearance fitted on {} good photos (residual spread {:.1} grey levels",
            self.photos,
            255.0 * self.spread
        );
        if let Some((part, spread)) = widest {
            let name = names
                .get(&part)
                .cloned()
                .unwrap_or_else(|| format!("part {part}"));
            out += &format!(", most on the {name}: {:.1}", 255.0 * spread);
        }
        out + ")"
    }

    /// The model in a few lines, for the user to read.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "line appearance from {} good photos: product spread {:.2} grey levels",
            self.photos,
            255.0 * self.spread
        );
        for (part, cells) in self.parts.iter().zip(&self.cells) {
            for (edge, bins) in cells.iter().enumerate() {
                let line: Vec<String> = bins
                    .iter()
                    .map(|c| {
                        format!(
                            "{:+.1}±{:.1}({})",
                            255.0 * c.bias,
                            255.0 * c.spread,
                            c.pixels
                        )
                    })
                    .collect();
                out += &format!(
                    "\n  part {part} {}: {}",
                    if edge == 1 { "edge" } else { "inner" },
                    line.join(" ")
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A 32×32 reference: part 1 on the left half, part 2 on the right, background above;
    /// grey 0.6 on the parts.
    fn scene() -> (Vec<f32>, Vec<u8>) {
        let size = 32;
        let mut reference = vec![0.0; size * size];
        let mut part = vec![0u8; size * size];
        for y in 8..size {
            for x in 0..size {
                part[y * size + x] = if x < size / 2 { 1 } else { 2 };
                reference[y * size + x] = 0.6;
            }
        }
        (reference, part)
    }

    /// Good "photos": the reference plus noise of σ 0.01 on part 1 and 0.05 on part 2.
    fn photos(count: usize) -> Vec<Vec<f32>> {
        let (reference, part) = scene();
        let mut rng = Rng::new(7);
        (0..count)
            .map(|_| {
                reference
                    .iter()
                    .zip(&part)
                    .map(|(r, p)| {
                        let sigma = match p {
                            1 => 0.01,
                            2 => 0.05,
                            _ => 0.01,
                        };
                        r + sigma * rng.normal() as f32
                    })
                    .collect()
            })
            .collect()
    }

    /// The model fitted on `count` good photos of the scene.
    fn fitted(count: usize) -> Appearance {
        let (reference, part) = scene();
        let images = photos(count);
        let pairs: Vec<(&[f32], &[f32], &[u8])> = images
            .iter()
            .map(|i| (i.as_slice(), reference.as_slice(), part.as_slice()))
            .collect();
        Appearance::fit(&pairs).unwrap()
    }

    #[test]
    fn a_part_whose_good_photos_vary_more_counts_for_less() {
        let (reference, part) = scene();
        let model = fitted(20);
        model.validate().unwrap();
        let scale = model.scale(&reference, &part);
        let inner = |x: usize| scale[20 * 32 + x];
        // Part 1 (σ 0.01) is scaled up, part 2 (σ 0.05) down, and part 2's factor is bounded
        // by the largest spread ratio.
        assert!(
            inner(4) > 1.0 && inner(28) < 1.0,
            "{} {}",
            inner(4),
            inner(28)
        );
        assert!(inner(4) / inner(28) > 2.5, "{} {}", inner(4), inner(28));
        assert!(inner(28) >= 1.0 / MAX_SPREAD_RATIO - 1e-6);
        let c = model.cell(2, false, 0.6).unwrap();
        assert!((c.spread - 0.05).abs() < 0.01, "{c:?}");
        assert!(c.bias.abs() < 0.01, "{c:?}");
        // The user reads which part departs most.
        let names = std::collections::BTreeMap::from([(2u8, "wall".to_string())]);
        let summary = model.summary(&names);
        assert!(
            summary.contains("20 good photos") && summary.contains("most on the wall"),
            "{summary}"
        );
        // A part the photos never showed keeps the plain difference.
        let unseen_part = vec![9u8; reference.len()];
        assert!(
            model
                .scale(&reference, &unseen_part)
                .iter()
                .all(|k| *k == 1.0)
        );
    }

    #[test]
    fn nothing_to_fit_or_mismatched_sizes_are_refused() {
        assert!(Appearance::fit(&[]).is_err());
        let (reference, part) = scene();
        let short = vec![0.5f32; 10];
        let err = Appearance::fit(&[(&short, &reference, &part)]).unwrap_err();
        assert!(err.contains("10 values"), "{err}");
        // Photos identical to their render leave nothing to scale by.
        let same = Appearance::fit(&[(&reference, &reference, &part)]).unwrap_err();
        assert!(same.contains("no residual spread"), "{same}");
    }

    #[test]
    fn a_damaged_model_is_refused() {
        let mut model = fitted(4);
        model.parts.pop();
        assert!(model.validate().is_err());
        let mut model = fitted(4);
        model.cells[0][0][0].spread = 0.0;
        assert!(model.validate().is_err());
        // A cap under 1 would scale the noisiest cells up.
        let mut model = fitted(4);
        model.max_spread_ratio = 0.4;
        assert!(model.validate().is_err());
        let mut model = fitted(4);
        let first = model.parts[0];
        model.parts[1] = first;
        assert!(model.validate().is_err());
    }
}
