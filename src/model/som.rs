//! Self-organising map over latent codes: the Option-1 baseline's model of "good".
//!
//! Trained with the batch SOM algorithm (Kohonen): each epoch assigns every code to its
//! best-matching unit (BMU), then moves every unit to the neighbourhood-weighted mean of the
//! codes, with a Gaussian neighbourhood on the grid that shrinks from `sigma_start` to
//! `sigma_end`. Batch updates have no learning rate and do not depend on sample order, so the
//! result is a function of the data and the seed (which only picks the initial units).

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// SOM grid and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SomConfig {
    pub rows: usize,
    pub cols: usize,
    pub epochs: usize,
    /// Neighbourhood radius (in grid cells) in the first epoch; 0 means half the larger side.
    pub sigma_start: f32,
    /// Neighbourhood radius in the last epoch.
    pub sigma_end: f32,
}

impl Default for SomConfig {
    fn default() -> Self {
        Self {
            rows: 12,
            cols: 12,
            epochs: 30,
            sigma_start: 0.0,
            sigma_end: 0.5,
        }
    }
}

/// Why a SOM cannot be trained or used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SomError {
    #[error("SOM grid {rows}x{cols} is empty")]
    EmptyGrid { rows: usize, cols: usize },
    #[error("no samples to train the SOM on")]
    NoSamples,
    #[error("sample data of length {len} is not a multiple of the code length {dim}")]
    Ragged { len: usize, dim: usize },
    #[error("code of length {got} given to a SOM of code length {expected}")]
    Dimension { expected: usize, got: usize },
}

/// A `rows × cols` grid of units, each a point in code space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfOrganisingMap {
    pub rows: usize,
    pub cols: usize,
    pub dim: usize,
    /// Unit `r * cols + c` occupies `weights[(r * cols + c) * dim ..][..dim]`.
    pub weights: Vec<f32>,
}

/// A unit found for a code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestMatch {
    pub unit: usize,
    pub row: usize,
    pub col: usize,
    /// Squared Euclidean distance from the code to the unit.
    pub distance_sq: f32,
}

impl SelfOrganisingMap {
    /// Trains a SOM on `samples` (row-major, `dim` values per code).
    pub fn train(
        config: &SomConfig,
        samples: &[f32],
        dim: usize,
        seed: u64,
    ) -> Result<Self, SomError> {
        let units = config.rows * config.cols;
        if units == 0 {
            return Err(SomError::EmptyGrid {
                rows: config.rows,
                cols: config.cols,
            });
        }
        if dim == 0 || !samples.len().is_multiple_of(dim) {
            return Err(SomError::Ragged {
                len: samples.len(),
                dim,
            });
        }
        let count = samples.len() / dim;
        if count == 0 {
            return Err(SomError::NoSamples);
        }

        // Initial units: randomly chosen samples (plus a tiny jitter so duplicates separate).
        let mut rng = Rng::for_stream(seed, "som");
        let mut weights = Vec::with_capacity(units * dim);
        for _ in 0..units {
            let pick = rng.index(count);
            weights.extend(
                samples[pick * dim..(pick + 1) * dim]
                    .iter()
                    .map(|v| v + 1e-3 * rng.normal_f32()),
            );
        }
        let mut som = Self {
            rows: config.rows,
            cols: config.cols,
            dim,
            weights,
        };

        let sigma_start = if config.sigma_start > 0.0 {
            config.sigma_start
        } else {
            (config.rows.max(config.cols) as f32 / 2.0).max(1.0)
        };
        let sigma_end = config.sigma_end.max(1e-3).min(sigma_start);
        let epochs = config.epochs.max(1);
        let mut numerators = vec![0.0f64; units * dim];
        let mut denominators = vec![0.0f64; units];
        let mut bmus = vec![0usize; count];
        for epoch in 0..epochs {
            let t = if epochs == 1 {
                1.0
            } else {
                epoch as f32 / (epochs - 1) as f32
            };
            // Exponential decay: equal ratios per epoch, the usual SOM schedule.
            let sigma = sigma_start * (sigma_end / sigma_start).powf(t);
            for (i, bmu) in bmus.iter_mut().enumerate() {
                *bmu = som.nearest(&samples[i * dim..(i + 1) * dim]).unit;
            }
            numerators.iter_mut().for_each(|v| *v = 0.0);
            denominators.iter_mut().for_each(|v| *v = 0.0);
            for unit in 0..units {
                for (i, &bmu) in bmus.iter().enumerate() {
                    let h = f64::from(som.neighbourhood(unit, bmu, sigma));
                    if h < 1e-6 {
                        continue;
                    }
                    denominators[unit] += h;
                    let sample = &samples[i * dim..(i + 1) * dim];
                    for (n, v) in numerators[unit * dim..(unit + 1) * dim]
                        .iter_mut()
                        .zip(sample)
                    {
                        *n += h * f64::from(*v);
                    }
                }
            }
            for unit in 0..units {
                if denominators[unit] > 0.0 {
                    for k in 0..dim {
                        som.weights[unit * dim + k] =
                            (numerators[unit * dim + k] / denominators[unit]) as f32;
                    }
                }
            }
        }
        Ok(som)
    }

    /// The unit nearest to `code`.
    pub fn best_matching_unit(&self, code: &[f32]) -> Result<BestMatch, SomError> {
        if code.len() != self.dim {
            return Err(SomError::Dimension {
                expected: self.dim,
                got: code.len(),
            });
        }
        Ok(self.nearest(code))
    }

    /// The code of `unit`.
    pub fn unit(&self, unit: usize) -> &[f32] {
        &self.weights[unit * self.dim..(unit + 1) * self.dim]
    }

    pub fn num_units(&self) -> usize {
        self.rows * self.cols
    }

    /// Mean squared distance from each code to its BMU (the quantisation error).
    pub fn quantisation_error(&self, samples: &[f32]) -> Result<f32, SomError> {
        if self.dim == 0 || !samples.len().is_multiple_of(self.dim) {
            return Err(SomError::Ragged {
                len: samples.len(),
                dim: self.dim,
            });
        }
        let count = samples.len() / self.dim;
        if count == 0 {
            return Err(SomError::NoSamples);
        }
        let total: f32 = samples
            .chunks_exact(self.dim)
            .map(|code| self.nearest(code).distance_sq)
            .sum();
        Ok(total / count as f32)
    }

    fn nearest(&self, code: &[f32]) -> BestMatch {
        let mut best = (0, f32::INFINITY);
        for (unit, weights) in self.weights.chunks_exact(self.dim).enumerate() {
            let d: f32 = weights
                .iter()
                .zip(code)
                .map(|(w, c)| (w - c) * (w - c))
                .sum();
            if d < best.1 {
                best = (unit, d);
            }
        }
        BestMatch {
            unit: best.0,
            row: best.0 / self.cols,
            col: best.0 % self.cols,
            distance_sq: best.1,
        }
    }

    fn neighbourhood(&self, a: usize, b: usize, sigma: f32) -> f32 {
        let (ra, ca) = ((a / self.cols) as f32, (a % self.cols) as f32);
        let (rb, cb) = ((b / self.cols) as f32, (b % self.cols) as f32);
        let d2 = (ra - rb).powi(2) + (ca - cb).powi(2);
        (-d2 / (2.0 * sigma * sigma)).exp()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Three tight clusters far apart in 4-D.
    fn clusters() -> (Vec<f32>, Vec<usize>) {
        let centres = [
            [0.0, 0.0, 0.0, 0.0],
            [10.0, 0.0, 5.0, 0.0],
            [0.0, -8.0, 0.0, 9.0],
        ];
        let mut rng = Rng::new(3);
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for i in 0..90 {
            let c = i % 3;
            data.extend(centres[c].iter().map(|v| v + 0.1 * rng.normal_f32()));
            labels.push(c);
        }
        (data, labels)
    }

    #[test]
    fn units_settle_on_the_clusters() {
        let (data, labels) = clusters();
        let config = SomConfig {
            rows: 4,
            cols: 4,
            epochs: 25,
            ..SomConfig::default()
        };
        let som = SelfOrganisingMap::train(&config, &data, 4, 1).unwrap();
        // Every code has a unit close by (cluster spread is 0.1 per axis).
        let qe = som.quantisation_error(&data).unwrap();
        assert!(qe < 0.5, "quantisation error {qe}");
        // Codes of different clusters never share a unit.
        let bmus: Vec<usize> = data
            .chunks_exact(4)
            .map(|c| som.best_matching_unit(c).unwrap().unit)
            .collect();
        for (i, a) in bmus.iter().enumerate() {
            for (j, b) in bmus.iter().enumerate() {
                if labels[i] != labels[j] {
                    assert_ne!(
                        a, b,
                        "samples {i} and {j} of different clusters share a unit"
                    );
                }
            }
        }
        // A code off the data is far from every unit: an outlier for the baseline.
        let outlier = som.best_matching_unit(&[20.0, 20.0, 20.0, -20.0]).unwrap();
        assert!(outlier.distance_sq > 100.0, "{outlier:?}");
        // The map is ordered: grid neighbours are closer in code space than units far apart.
        let dist = |a: usize, b: usize| -> f32 {
            som.unit(a)
                .iter()
                .zip(som.unit(b))
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let (mut near, mut far) = (Vec::new(), Vec::new());
        for a in 0..som.num_units() {
            for b in 0..som.num_units() {
                let grid = (a / 4).abs_diff(b / 4) + (a % 4).abs_diff(b % 4);
                match grid {
                    1 => near.push(dist(a, b)),
                    d if d >= 4 => far.push(dist(a, b)),
                    _ => {}
                }
            }
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(
            mean(&near) < mean(&far),
            "near {} far {}",
            mean(&near),
            mean(&far)
        );
    }

    #[test]
    fn same_seed_same_map_and_errors_are_clear() {
        let (data, _) = clusters();
        let config = SomConfig {
            rows: 3,
            cols: 3,
            epochs: 5,
            ..SomConfig::default()
        };
        let a = SelfOrganisingMap::train(&config, &data, 4, 9).unwrap();
        let b = SelfOrganisingMap::train(&config, &data, 4, 9).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.best_matching_unit(&[1.0, 2.0]),
            Err(SomError::Dimension {
                expected: 4,
                got: 2
            })
        );
        assert_eq!(
            SelfOrganisingMap::train(&config, &data[..7], 4, 0),
            Err(SomError::Ragged { len: 7, dim: 4 })
        );
    }
}
