//! Exact anomaly-detection metrics: ROC / AUROC (image and pixel level), AUPRO, best F1,
//! confusion counts and quantiles. Calibration (fitting thresholds on the validation split)
//! and evaluation (measuring on the test split) both count with these.
//!
//! Conventions shared by every function here: defective is the positive class, a score
//! `>= threshold` is predicted defective, and a NaN score counts as `+inf` — an image (or
//! pixel) that could not be scored is always flagged, never passed. Equal scores are grouped,
//! so a tie between classes gives one diagonal ROC step (ties count half in AUROC). Every
//! curve is computed from a single sort (`O(n log n)`).

use serde::{Deserialize, Deserializer, Serialize};

/// A float type's NaN, for [`nan_from_null`].
pub trait Nan {
    const NAN: Self;
}

impl Nan for f32 {
    const NAN: Self = f32::NAN;
}

impl Nan for f64 {
    const NAN: Self = f64::NAN;
}

/// Deserialises `null` as NaN. JSON has no NaN: serde_json writes it as `null`. Undefined
/// metrics (an empty class) and unscorable images are NaN, so every such float of a report or
/// a [`Confusion`] reads `null` back as NaN.
pub fn nan_from_null<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Nan,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or(T::NAN))
}

/// Counts at one threshold (`score >= threshold` is called defective).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Confusion {
    #[serde(deserialize_with = "nan_from_null")]
    pub threshold: f32,
    pub true_positive: usize,
    pub false_positive: usize,
    pub true_negative: usize,
    pub false_negative: usize,
}

/// One point of a ROC curve: the rates when every score `>= threshold` is flagged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    pub fpr: f64,
    pub tpr: f64,
    pub threshold: f32,
}

/// NaN becomes `+inf` (`min` ignores NaN) and `-0.0` becomes `0.0`.
fn normalize(score: f32) -> f32 {
    f32::INFINITY.min(score) + 0.0
}

/// A key whose ascending order is the normalized score's descending order: the magnitude bits
/// of non-negative scores are flipped. The sign bit is kept, so this is its own inverse.
fn flip(bits: u32) -> u32 {
    bits ^ (!((bits as i32 >> 31) as u32) & 0x7fff_ffff)
}

fn desc_key(score: f32) -> u32 {
    flip(normalize(score).to_bits())
}

fn key_score(key: u32) -> f32 {
    f32::from_bits(flip(key))
}

/// Labelled scores packed as `desc_key << 1 | positive`, sorted by descending score.
fn sorted_labelled(items: impl Iterator<Item = (f32, bool)>) -> Vec<u64> {
    let mut keys: Vec<u64> = items
        .map(|(s, p)| (u64::from(desc_key(s)) << 1) | u64::from(p))
        .collect();
    keys.sort_unstable();
    keys
}

fn labelled_pair(good: &[f32], defective: &[f32]) -> Vec<u64> {
    let good = good.iter().map(|&s| (s, false));
    sorted_labelled(good.chain(defective.iter().map(|&s| (s, true))))
}

/// For each group of equal scores, highest first: `(threshold, tp, fp)` counted cumulatively.
fn cumulative(sorted: &[u64]) -> impl Iterator<Item = (f32, usize, usize)> + '_ {
    let (mut tp, mut fp) = (0, 0);
    sorted.chunk_by(|a, b| a >> 1 == b >> 1).map(move |group| {
        let positives = group.iter().filter(|&&v| v & 1 == 1).count();
        tp += positives;
        fp += group.len() - positives;
        (key_score((group[0] >> 1) as u32), tp, fp)
    })
}

/// The ROC curve of `defective` (positive) against `good` scores: starts at `(0, 0)` with
/// threshold `+inf` (nothing flagged), then one point per distinct score, highest first, ending
/// at `(1, 1)`. NaN scores are reported as `+inf` (so with infinite or NaN scores the first two
/// points share threshold `+inf`; the first still means nothing flagged). Empty if either set
/// is empty.
pub fn roc_curve(good: &[f32], defective: &[f32]) -> Vec<RocPoint> {
    if good.is_empty() || defective.is_empty() {
        return Vec::new();
    }
    let (n, p) = (good.len() as f64, defective.len() as f64);
    let sorted = labelled_pair(good, defective);
    let start = std::iter::once((f32::INFINITY, 0, 0));
    let to_point = |(threshold, tp, fp)| RocPoint {
        fpr: fp as f64 / n,
        tpr: tp as f64 / p,
        threshold,
    };
    start.chain(cumulative(&sorted)).map(to_point).collect()
}

/// Trapezoid area under the ROC curve of sorted labelled scores, in exact integer arithmetic.
fn auroc_sorted(sorted: &[u64], positives: usize, negatives: usize) -> f64 {
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    let (mut twice_area, mut prev_tp, mut prev_fp) = (0u128, 0usize, 0usize);
    for (_, tp, fp) in cumulative(sorted) {
        twice_area += (fp - prev_fp) as u128 * (prev_tp + tp) as u128;
        (prev_tp, prev_fp) = (tp, fp);
    }
    twice_area as f64 / (2 * positives as u128 * negatives as u128) as f64
}

/// Area under [`roc_curve`]: the probability that a defective score beats a good one, ties
/// counting half (Mann–Whitney U). NaN if either set is empty.
pub fn auroc(good: &[f32], defective: &[f32]) -> f64 {
    auroc_sorted(&labelled_pair(good, defective), defective.len(), good.len())
}

/// [`auroc`] over pixels: `scores[i]` is defective iff `labels[i]`. One sort of the packed
/// values, fine for tens of millions of pixels. NaN if either class is absent.
///
/// # Panics
/// If `scores` and `labels` differ in length.
pub fn pixel_auroc(scores: &[f32], labels: &[bool]) -> f64 {
    assert_eq!(scores.len(), labels.len(), "pixel_auroc: length mismatch");
    let positives = labels.iter().filter(|&&l| l).count();
    let sorted = sorted_labelled(scores.iter().copied().zip(labels.iter().copied()));
    auroc_sorted(&sorted, positives, scores.len() - positives)
}

/// Marks pixels outside any region.
const BACKGROUND: u32 = u32::MAX;

/// Labels the 8-connected components of nonzero pixels of a `width`×`width` mask, numbering
/// them from `sizes.len()` on and pushing each component's size onto `sizes`.
fn label_regions(mask: &[u8], width: usize, sizes: &mut Vec<usize>) -> Vec<u32> {
    let mut labels = vec![BACKGROUND; mask.len()];
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if mask[start] == 0 || labels[start] != BACKGROUND {
            continue;
        }
        assert!(sizes.len() < BACKGROUND as usize, "aupro: too many regions");
        let id = sizes.len() as u32;
        let mut size = 0;
        labels[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % width, i / width);
            for ny in y.saturating_sub(1)..=(y + 1).min(width - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let j = ny * width + nx;
                    if mask[j] != 0 && labels[j] == BACKGROUND {
                        labels[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        sizes.push(size);
    }
    labels
}

/// Neumaier-compensated `sum += x`.
fn add_compensated(sum: &mut f64, compensation: &mut f64, x: f64) {
    let t = *sum + x;
    *compensation += if sum.abs() >= x.abs() {
        (*sum - t) + x
    } else {
        (x - t) + *sum
    };
    *sum = t;
}

/// Normalised area under the per-region-overlap curve (MVTec AD, Bergmann et al.).
///
/// Ground-truth regions are the 8-connected components of nonzero `masks` pixels, per image.
/// At threshold `t`, PRO is the mean over all regions of the fraction of the region's pixels
/// with `map >= t`, and FPR the fraction of background (`mask == 0`) pixels with `map >= t`.
/// PRO is integrated over FPR from 0 to `max_fpr` (trapezoids; the last one is cut exactly at
/// `max_fpr` by linear interpolation) and divided by `max_fpr`, so a perfect map scores 1.
/// Exact: one sort of all pixels, equal scores grouped; NaN scores count as `+inf`.
///
/// Returns NaN if there is no region, no background pixel, or `max_fpr` is not in `(0, 1]`.
///
/// # Panics
/// If `maps` and `masks` differ in count, or any map or mask is not `width * width` long.
pub fn aupro(maps: &[&[f32]], masks: &[&[u8]], width: usize, max_fpr: f64) -> f64 {
    assert_eq!(maps.len(), masks.len(), "aupro: count mismatch");
    let mut sizes = Vec::new();
    let mut keys = Vec::with_capacity(maps.iter().map(|m| m.len()).sum());
    for (map, mask) in maps.iter().zip(masks) {
        assert!(
            map.len() == width * width && mask.len() == width * width,
            "aupro: a map or mask is not width × width"
        );
        let labels = label_regions(mask, width, &mut sizes);
        keys.extend(
            map.iter()
                .zip(&labels)
                .map(|(&s, &r)| (u64::from(desc_key(s)) << 32) | u64::from(r)),
        );
    }
    let background = keys.iter().filter(|&&k| k as u32 == BACKGROUND).count();
    if sizes.is_empty() || background == 0 || !(max_fpr > 0.0 && max_fpr <= 1.0) {
        return f64::NAN;
    }
    keys.sort_unstable();
    let inverse_sizes: Vec<f64> = sizes.iter().map(|&s| 1.0 / s as f64).collect();
    let (regions, background) = (sizes.len() as f64, background as f64);
    let (mut fp, mut pro_sum, mut compensation) = (0usize, 0.0, 0.0);
    let (mut area, mut fpr0, mut pro0) = (0.0, 0.0, 0.0);
    for group in keys.chunk_by(|a, b| a >> 32 == b >> 32) {
        for &k in group {
            match k as u32 {
                BACKGROUND => fp += 1,
                r => add_compensated(&mut pro_sum, &mut compensation, inverse_sizes[r as usize]),
            }
        }
        let fpr1 = fp as f64 / background;
        let pro1 = (pro_sum + compensation) / regions;
        if fpr1 >= max_fpr {
            // Here fpr0 < max_fpr <= fpr1, so the segment has nonzero width.
            let pro_cut = pro0 + (pro1 - pro0) * (max_fpr - fpr0) / (fpr1 - fpr0);
            area += (max_fpr - fpr0) * (pro0 + pro_cut) / 2.0;
            break;
        }
        area += (fpr1 - fpr0) * (pro0 + pro1) / 2.0;
        (fpr0, pro0) = (fpr1, pro1);
    }
    area / max_fpr
}

/// The best F1 over the thresholds at every distinct score, with the threshold reaching it
/// (the highest such threshold on ties; NaN scores count and report as `+inf`). Compared
/// exactly as fractions. `(NaN, NaN)` if `defective` is empty.
pub fn f1_max(good: &[f32], defective: &[f32]) -> (f64, f32) {
    let positives = defective.len();
    if positives == 0 {
        return (f64::NAN, f32::NAN);
    }
    // F1 = 2tp / (2tp + fp + fn) = 2tp / (tp + fp + positives).
    let mut best: Option<(u128, u128, f32)> = None;
    for (threshold, tp, fp) in cumulative(&labelled_pair(good, defective)) {
        let (num, den) = (2 * tp as u128, (tp + fp + positives) as u128);
        if best.is_none_or(|(bn, bd, _)| num * bd > bn * den) {
            best = Some((num, den, threshold));
        }
    }
    best.map_or((f64::NAN, f32::NAN), |(n, d, t)| (n as f64 / d as f64, t))
}

/// The counts when every score `>= threshold` is flagged defective. NaN scores are always
/// flagged; a NaN threshold acts as `+inf`.
pub fn confusion(good: &[f32], defective: &[f32], threshold: f32) -> Confusion {
    let threshold_n = normalize(threshold);
    let flagged = |s: &&f32| normalize(**s) >= threshold_n;
    let false_positive = good.iter().filter(flagged).count();
    let true_positive = defective.iter().filter(flagged).count();
    Confusion {
        threshold,
        true_positive,
        false_positive,
        true_negative: good.len() - false_positive,
        false_negative: defective.len() - true_positive,
    }
}

/// Linear-interpolated quantile `q` in `[0, 1]` of non-empty `values`.
pub fn quantile(values: &[f32], q: f32) -> f32 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f32;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f32)
}

/// `num / den` where `num <= den`, so `den == 0` gives `0 / 0`, NaN.
fn ratio(num: usize, den: usize) -> f64 {
    num as f64 / den as f64
}

impl Confusion {
    /// `tp / (tp + fp)`; NaN when nothing is flagged.
    pub fn precision(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }

    /// `tp / (tp + fn)`; NaN without defective samples.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }

    /// `2tp / (2tp + fp + fn)`; NaN when tp, fp and fn are all 0.
    pub fn f1(&self) -> f64 {
        let tp = self.true_positive;
        ratio(2 * tp, 2 * tp + self.false_positive + self.false_negative)
    }

    /// `fp / (fp + tn)`; NaN without good samples.
    pub fn false_positive_rate(&self) -> f64 {
        let fp = self.false_positive;
        ratio(fp, fp + self.true_negative)
    }

    /// `(tp + tn) / total`; NaN without samples.
    pub fn accuracy(&self) -> f64 {
        let correct = self.true_positive + self.true_negative;
        ratio(correct, correct + self.false_positive + self.false_negative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-12, "{a} != {b}");
    }

    fn counts(c: &Confusion) -> [usize; 4] {
        [
            c.true_positive,
            c.false_positive,
            c.true_negative,
            c.false_negative,
        ]
    }

    /// Deterministic pseudo-random scores on a grid of `levels` values, so ties are common.
    fn lcg(seed: u64, n: usize, levels: u64) -> Vec<f32> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % levels) as f32 / levels as f32
        };
        (0..n).map(|_| next()).collect()
    }

    const GOOD: [f32; 4] = [0.1, 0.4, 0.35, 0.8];
    const DEFECTIVE: [f32; 3] = [0.9, 0.4, 0.7];

    #[test]
    fn auroc_known_answers() {
        close(auroc(&[0.1, 0.2], &[0.3, 0.9]), 1.0);
        close(auroc(&[0.3, 0.9], &[0.1, 0.2]), 0.0);
        close(auroc(&[0.5; 3], &[0.5; 4]), 0.5);
        // Pairs (defective beats good, ties half) out of 3 × 4 = 12:
        // 0.9 beats all 4 → 4; 0.4 beats 0.1, 0.35 and ties 0.4 → 2.5; 0.7 beats 3 → 3.
        // Total 9.5 / 12 = 19/24.
        close(auroc(&GOOD, &DEFECTIVE), 19.0 / 24.0);
        assert!(auroc(&[], &[1.0]).is_nan() && auroc(&[1.0], &[]).is_nan());
    }

    #[test]
    fn roc_curve_points() {
        // Descending: 0.9 D, 0.8 G, 0.7 D, 0.4 D+G (one diagonal step), 0.35 G, 0.1 G.
        let roc: Vec<_> = roc_curve(&GOOD, &DEFECTIVE)
            .iter()
            .map(|p| (p.fpr, p.tpr, p.threshold))
            .collect();
        let third = 1.0 / 3.0;
        let expect = [
            (0.0, 0.0, f32::INFINITY),
            (0.0, third, 0.9),
            (0.25, third, 0.8),
            (0.25, 2.0 / 3.0, 0.7),
            (0.5, 1.0, 0.4),
            (0.75, 1.0, 0.35),
            (1.0, 1.0, 0.1),
        ];
        assert_eq!(roc, expect);
        assert!(roc_curve(&[], &[1.0]).is_empty());
    }

    #[test]
    fn auroc_matches_pair_counting_and_pixel_auroc() {
        for seed in 0..20 {
            let good = lcg(seed, 57, 9);
            let defective: Vec<f32> = lcg(seed + 100, 31, 9).iter().map(|s| s + 0.2).collect();
            let pair =
                |d: f32, g: f32| f64::from(u8::from(d > g)) + 0.5 * f64::from(u8::from(d == g));
            let wins: f64 = defective
                .iter()
                .flat_map(|&d| good.iter().map(move |&g| pair(d, g)))
                .sum();
            let expected = wins / (good.len() * defective.len()) as f64;
            close(auroc(&good, &defective), expected);
            let scores: Vec<f32> = good.iter().chain(&defective).copied().collect();
            let labels: Vec<bool> = (0..scores.len()).map(|i| i >= good.len()).collect();
            close(pixel_auroc(&scores, &labels), expected);
        }
        assert!(pixel_auroc(&[0.1, 0.2], &[false, false]).is_nan());
    }

    #[test]
    fn nan_scores_count_as_infinite() {
        // A NaN good score beats every defective one; a NaN defective ties +inf.
        close(auroc(&[f32::NAN], &[1.0, 5.0]), 0.0);
        close(auroc(&[f32::INFINITY, 0.0], &[f32::NAN]), 0.75);
        close(pixel_auroc(&[f32::NAN, 1.0], &[true, false]), 1.0);
        let roc = roc_curve(&[0.0], &[f32::NAN]);
        assert_eq!(
            (roc[1].fpr, roc[1].tpr, roc[1].threshold),
            (0.0, 1.0, f32::INFINITY)
        );
        assert_eq!(f1_max(&[0.0], &[f32::NAN]), (1.0, f32::INFINITY));
        let c = confusion(&[f32::NAN, 0.0], &[f32::NAN, 0.0], 0.5);
        assert_eq!(counts(&c), [1, 1, 1, 1]);
        // -0.0 and 0.0 are one score: a tie.
        close(auroc(&[-0.0], &[0.0]), 0.5);
    }

    #[test]
    fn f1_max_known_answers() {
        // P = 3. t=0.9: tp1 fp0 fn2 → 2/4; t=0.8: tp1 fp1 → 2/5; t=0.7: tp2 fp1 fn1 → 4/6;
        // t=0.4: tp3 fp2 fn0 → 6/8 (best); t=0.35: 6/9; t=0.1: 6/10.
        assert_eq!(f1_max(&GOOD, &DEFECTIVE), (0.75, 0.4));
        // t=0.9: 2/3; t=0.5: 2/4; t=0.3: 2/5; t=0.2: 4/6 = 2/3 ties → the higher threshold.
        assert_eq!(f1_max(&[0.5, 0.3], &[0.9, 0.2]), (2.0 / 3.0, 0.9));
        assert_eq!(f1_max(&[], &[0.3, 0.7]), (1.0, 0.3));
        let (f1, t) = f1_max(&[0.3], &[]);
        assert!(f1.is_nan() && t.is_nan());
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.95), 9.5);
        assert_eq!(quantile(&[4.0, 1.0], 1.0), 4.0);
    }

    #[test]
    fn confusion_counts_and_rates() {
        let c = confusion(&GOOD, &DEFECTIVE, 0.4);
        assert_eq!((c.threshold, counts(&c)), (0.4, [3, 2, 2, 0]));
        close(c.precision(), 0.6);
        close(c.recall(), 1.0);
        close(c.f1(), 0.75);
        close(c.false_positive_rate(), 0.5);
        close(c.accuracy(), 5.0 / 7.0);
        let none = confusion(&GOOD, &DEFECTIVE, 2.0);
        assert_eq!(counts(&none), [0, 0, 4, 3]);
        assert!(none.precision().is_nan());
        close(none.recall(), 0.0);
        close(none.f1(), 0.0);
        let empty = confusion(&[], &[], 0.0);
        assert!(empty.recall().is_nan() && empty.false_positive_rate().is_nan());
        assert!(empty.f1().is_nan() && empty.accuracy().is_nan());
    }

    #[test]
    fn aupro_hand_worked() {
        // Two 4×4 images. A: pixels 0 and 5 are diagonal neighbours, one region R1 of 2.
        // B: pixels 3 (x=3, y=0) and 4 (x=0, y=1) are not neighbours, regions R2 and R3 of 1.
        // 28 background pixels. Scores: R1 0.9 and 0.5, R2 0.7, R3 0.2; background A[15] 0.8,
        // B[10] 0.6, B[12] 0.5, the rest 0.
        let (mut map_a, mut map_b, mut mask_a, mut mask_b) =
            ([0.0; 16], [0.0; 16], [0; 16], [0; 16]);
        (mask_a[0], mask_a[5], mask_b[3], mask_b[4]) = (1, 255, 1, 1);
        (map_a[0], map_a[5], map_b[3], map_b[4]) = (0.9, 0.5, 0.7, 0.2);
        (map_a[15], map_b[10], map_b[12]) = (0.8, 0.6, 0.5);
        let (maps, masks): ([&[f32]; 2], [&[u8]; 2]) = ([&map_a, &map_b], [&mask_a, &mask_b]);
        // (FPR, PRO) after each score group: 0.9 → (0, 1/6); 0.8 → (1/28, 1/6);
        // 0.7 → (1/28, 1/2); 0.6 → (2/28, 1/2); 0.5 → (3/28, 2/3); 0.2 → (3/28, 1); 0 → (1, 1).
        // Area to 1: 1/168 + 1/56 + (1/28)(7/12) + 25/28 = (2 + 6 + 7 + 300)/336 = 15/16.
        close(aupro(&maps, &masks, 4, 1.0), 15.0 / 16.0);
        // To 3/28 (a curve point): (2 + 6 + 7)/336 = 5/112, divided by 3/28 → 5/12.
        close(aupro(&maps, &masks, 4, 3.0 / 28.0), 5.0 / 12.0);
        // To 0.1 = 2.8/28, 0.8 of the way through the 0.5 segment: PRO there is
        // 1/2 + 0.8 · 1/6 = 19/30; area 1/42 + (0.8/28)(1/2 + 19/30)/2 = 1/42 + 17/1050 = 1/25,
        // divided by 0.1 → 0.4.
        close(aupro(&maps, &masks, 4, 0.1), 0.4);
    }

    #[test]
    fn aupro_perfect_and_degenerate() {
        let mask: Vec<u8> = (0..25).map(|i| u8::from(i % 7 == 0)).collect();
        let map: Vec<f32> = mask.iter().map(|&m| f32::from(m) * 3.0).collect();
        for max_fpr in [0.3, 0.05, 1.0] {
            close(aupro(&[&map], &[&mask], 5, max_fpr), 1.0);
        }
        let inverted: Vec<f32> = map.iter().map(|s| -s).collect();
        close(aupro(&[&inverted], &[&mask], 5, 0.3), 0.0);
        assert!(aupro(&[&map], &[&[0u8; 25][..]], 5, 0.3).is_nan());
        assert!(aupro(&[&map], &[&[1u8; 25][..]], 5, 0.3).is_nan());
        assert!(aupro(&[&map], &[&mask], 5, 0.0).is_nan());
        assert!(aupro(&[], &[], 5, 0.3).is_nan());
    }

    /// The definition, directly: regions by label propagation between pixels at Chebyshev
    /// distance 1, PRO and FPR counted afresh at every distinct score, trapezoids cut at
    /// `max_fpr`.
    fn direct(maps: &[&[f32]], masks: &[&[u8]], width: usize, max_fpr: f64) -> f64 {
        let mut regions = std::collections::BTreeMap::<_, Vec<f32>>::new();
        for (img, mask) in masks.iter().enumerate() {
            let on: Vec<usize> = (0..mask.len()).filter(|&i| mask[i] != 0).collect();
            let near = |i: usize, j: usize| {
                (i % width).abs_diff(j % width) <= 1 && (i / width).abs_diff(j / width) <= 1
            };
            let mut label: Vec<usize> = (0..mask.len()).collect();
            let mut changed = true;
            while changed {
                changed = false;
                for (&i, &j) in on.iter().flat_map(|i| on.iter().map(move |j| (i, j))) {
                    if near(i, j) && label[j] < label[i] {
                        (label[i], changed) = (label[j], true);
                    }
                }
            }
            for &i in &on {
                let region = regions.entry((img, label[i])).or_default();
                region.push(maps[img][i]);
            }
        }
        let scores = maps.concat();
        let background: Vec<bool> = masks.concat().iter().map(|&m| m == 0).collect();
        let mut thresholds = scores.clone();
        thresholds.sort_by(|a, b| b.total_cmp(a));
        thresholds.dedup();
        let n_background = background.iter().filter(|&&b| b).count() as f64;
        let (mut area, mut f0, mut p0) = (0.0, 0.0, 0.0);
        for t in thresholds {
            let fp = scores
                .iter()
                .zip(&background)
                .filter(|&(&s, &b)| b && s >= t);
            let f1 = fp.count() as f64 / n_background;
            let hit = |r: &Vec<f32>| r.iter().filter(|&&s| s >= t).count() as f64 / r.len() as f64;
            let p1 = regions.values().map(hit).sum::<f64>() / regions.len() as f64;
            if f1 > max_fpr {
                let p_cut = p0 + (p1 - p0) * (max_fpr - f0) / (f1 - f0);
                return (area + (max_fpr - f0) * (p0 + p_cut) / 2.0) / max_fpr;
            }
            area += (f1 - f0) * (p0 + p1) / 2.0;
            (f0, p0) = (f1, p1);
        }
        area / max_fpr
    }

    #[test]
    fn aupro_matches_direct_definition() {
        for seed in 0..12 {
            // Three 7×7 images; 2 pixels in 5 are in some region.
            let map_flat = lcg(seed, 3 * 49, 11);
            let mask_flat: Vec<u8> = lcg(seed + 500, 3 * 49, 5)
                .iter()
                .map(|&s| u8::from(s >= 0.6))
                .collect();
            let maps: Vec<&[f32]> = map_flat.chunks(49).collect();
            let masks: Vec<&[u8]> = mask_flat.chunks(49).collect();
            for f in [0.3, 0.07, 1.0] {
                close(aupro(&maps, &masks, 7, f), direct(&maps, &masks, 7, f));
            }
        }
    }
}
