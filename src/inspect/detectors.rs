//! Every detector a calibration measured, scored on the same images: what evaluation
//! reports per detector, and what the calibration on a line's photos chooses between.

use super::calibration::Calibration;
use super::descent::descend;
use super::pipeline::Inspector;
use super::score::{ScoreSettings, image_score};
use super::synthesis::References;
use crate::refine::Synthesis;

/// Per detector of [`Calibration::detectors`]: each image's score and (first) map, and for a
/// fused detector each image's two scores before fusion.
pub struct DetectorScores {
    pub scores: Vec<Vec<f32>>,
    pub maps: Vec<Vec<Vec<f32>>>,
    pub components: Vec<Option<[Vec<f32>; 2]>>,
}

impl Inspector {
    /// Scores `count` flat images with every detector `calibration` measured, each as it was
    /// calibrated (the descent budget, the refinement's rounds and retries). `known` are the
    /// images' references when they were already rendered that way (one per image). A
    /// detector whose references could not be made scores NaN.
    pub fn detector_scores(
        &self,
        images: &[f32],
        count: usize,
        calibration: &Calibration,
        known: Option<&[Synthesis]>,
    ) -> DetectorScores {
        let detectors = &calibration.detectors;
        let results = calibration
            .detectors_need(ScoreSettings::needs_model)
            .then(|| descend(&self.model, images, count, &calibration.descent, None));
        let made;
        let synthesized = match known {
            Some(k) if k.len() == count => Some(k),
            _ if calibration.detectors_need_synthesis() => {
                let (rounds, retry) = calibration.refine_for(self.settings.refine_rounds);
                let tolerance = calibration.pose_tolerance_deg(true);
                made = self
                    .synthesize(images, count, rounds, retry, None, tolerance)
                    .ok();
                made.as_deref()
            }
            _ => None,
        };
        let references: Vec<References<'_>> = (0..count)
            .map(|i| References {
                reconstruction: results.as_ref().map(|r| r[i].reconstruction.as_slice()),
                synthesis: synthesized.as_ref().map(|s| &s[i]),
            })
            .collect();
        let loss = |i: usize| results.as_ref().map_or(f32::NAN, |r| r[i].loss);
        let mut out = DetectorScores {
            scores: Vec::with_capacity(detectors.len()),
            maps: Vec::with_capacity(detectors.len()),
            components: Vec::with_capacity(detectors.len()),
        };
        for detector in detectors {
            let maps = self.maps_against(images, &references, &detector.score);
            let second = detector
                .fusion
                .map(|f| (f, self.maps_against(images, &references, &f.second)));
            let first: Vec<f32> = maps
                .iter()
                .enumerate()
                .map(|(i, map)| image_score(detector.score_kind, loss(i), map, &detector.score))
                .collect();
            match &second {
                Some((f, maps)) => {
                    let second: Vec<f32> = maps
                        .iter()
                        .enumerate()
                        .map(|(i, map)| image_score(f.second_kind, loss(i), map, &f.second))
                        .collect();
                    out.scores.push(
                        first
                            .iter()
                            .zip(&second)
                            .map(|(a, b)| f.fuse(*a, *b))
                            .collect(),
                    );
                    out.components.push(Some([first, second]));
                }
                None => {
                    out.scores.push(first);
                    out.components.push(None);
                }
            }
            out.maps.push(maps);
        }
        out
    }
}
