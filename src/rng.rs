//! The crate's one pseudo-random generator (SplitMix64), and how seeds are derived.
//!
//! Datasets must be regenerable bit-exactly from the seeds in their manifest, and a training run
//! must be a pure function of its seed, across releases of this program; so the generator is
//! our own instead of a crate whose stream may change between versions. burn's `Device::seed`
//! seeds a *process-global* generator on the flex backend, so two trainings side by side (tests,
//! or the GUI next to a CLI run) would interleave their draws: every random number the models
//! and the trainer use (weight init, latent samples, batch order) comes from here instead.
//!
//! Dataset sampling draws `f64`s (poses, lighting, defects); the models draw `f32`s
//! ([`Rng::next_f32`], [`Rng::normal_f32`]). Both read the same 64-bit stream.

/// SplitMix64: 64 bits of state, passes BigCrush, trivially seedable from any u64.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for the named sub-stream `stream` of `seed`, so adding draws to one stream
    /// never shifts another (the models' streams: `init`, `latent`, `batch-order`, …).
    pub fn for_stream(seed: u64, stream: &str) -> Self {
        let mut rng = Self::new(seed ^ fnv1a(stream));
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi]; returns `lo` when the range is empty or inverted.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        if hi <= lo {
            return lo;
        }
        lo + (hi - lo) * self.next_f64()
    }

    pub fn uniform_range(&mut self, range: [f64; 2]) -> f64 {
        self.uniform(range[0], range[1])
    }

    /// Standard normal sample (Box–Muller; one of the pair is discarded to keep the stream simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A direction drawn uniformly on the unit sphere.
    pub fn unit_vector(&mut self) -> [f64; 3] {
        let z = self.uniform(-1.0, 1.0);
        let phi = self.uniform(0.0, std::f64::consts::TAU);
        let r = (1.0 - z * z).max(0.0).sqrt();
        [r * phi.cos(), r * phi.sin(), z]
    }

    /// Uniform in `[0, 1)` as an `f32`.
    pub fn next_f32(&mut self) -> f32 {
        // 24 random mantissa bits give every representable step of an f32 in [0, 1).
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[low, high)` as an `f32`.
    pub fn uniform_f32(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.next_f32()
    }

    /// Standard normal sample as an `f32` (Box–Muller in single precision).
    pub fn normal_f32(&mut self) -> f32 {
        let u1 = self.next_f32().max(f32::MIN_POSITIVE);
        let u2 = self.next_f32();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// `n` standard normal `f32` samples.
    pub fn normals_f32(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal_f32()).collect()
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn index(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

/// The SplitMix64 finaliser: a bijective mix of 64 bits.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over a label: a hash independent of std's hasher, which may change between releases.
fn fnv1a(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// Derives an independent seed from a parent seed and a label (e.g. split/class/index).
pub fn derive_seed(parent: u64, label: &str, index: u64) -> u64 {
    mix64(mix64(parent ^ fnv1a(label)).wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_stable() {
        // Reference values of SplitMix64 seeded with 0 (published with the algorithm).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn model_draws_are_those_of_the_former_model_generator() {
        // Values the models' own generator (`model::rng::SeededRng`, merged into this one) gave
        // for these seeds and streams: trained weights and batch orders must not change.
        let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let normals = Rng::for_stream(7, "init").normals_f32(3);
        assert_eq!(bits(normals), [3196635806, 1055858681, 1036687014]);
        let mut r = Rng::new(1);
        let uniform: Vec<f32> = (0..3).map(|_| r.next_f32()).collect();
        assert_eq!(bits(uniform), [1058081325, 1061088141, 1064866722]);
        let ranged: Vec<f32> = (0..2).map(|_| r.uniform_f32(-0.5, 0.25)).collect();
        assert_eq!(bits(ranged), [3190471534, 3190476292]);
        let mut order: Vec<usize> = (0..10).collect();
        let mut r = Rng::for_stream(3, "batch-order");
        r.shuffle(&mut order);
        assert_eq!(order, [7, 4, 6, 8, 2, 0, 5, 3, 1, 9]);
        assert_eq!(r.index(1000), 554);
        assert_eq!(
            Rng::for_stream(0, "latent").next_u64(),
            0x2ce7_a901_edf7_2660
        );
    }

    #[test]
    fn uniform_stays_in_range_and_normal_is_centred() {
        let mut r = Rng::new(7);
        let mut sum = 0.0;
        let mut sum_sq = 0.0;
        for _ in 0..20_000 {
            let u = r.uniform(2.0, 3.0);
            assert!((2.0..=3.0).contains(&u));
            let n = r.normal();
            sum += n;
            sum_sq += n * n;
        }
        let mean = sum / 20_000.0;
        let var = sum_sq / 20_000.0 - mean * mean;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }

    #[test]
    fn f32_normals_have_unit_moments() {
        let samples = Rng::new(1).normals_f32(20_000);
        let mean = samples.iter().sum::<f32>() / samples.len() as f32;
        let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / samples.len() as f32;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let a: Vec<u64> = (0..5).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = Rng::for_stream(7, "init");
        let mut y = Rng::for_stream(7, "latent");
        assert_ne!(x.next_u64(), y.next_u64());
    }

    #[test]
    fn derived_seeds_differ_by_label_and_index() {
        let a = derive_seed(1, "train/good", 0);
        assert_ne!(a, derive_seed(1, "train/good", 1));
        assert_ne!(a, derive_seed(1, "test/good", 0));
        assert_ne!(a, derive_seed(2, "train/good", 0));
        assert_eq!(a, derive_seed(1, "train/good", 0));
    }
}
