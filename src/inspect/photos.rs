//! Calibrating on a folder of good photos: the detector, maps and descent that the dataset's
//! validation split chose are kept, and only the review and defect thresholds are refit from
//! the photos' good scores ([`Calibration::refit_on_good`]). The result is stored apart from
//! the render-fitted `calibration.json`, as `RUN_DIR/calibration-photos.json`, bound to the
//! photos (the SHA-256 of their names and contents), to the mapping rule and to the render
//! calibration it started from; given the same photos again it is loaded, not refit.
//!
//! Good photos may calibrate; they never train. Only good photos are read, so the thresholds
//! never see a defect of the test set.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::appearance::Appearance;
use super::calibration::{Calibration, GOOD_REVIEW_QUANTILE, Verdict};
use super::model::InspectError;
use super::pipeline::Inspector;
use super::score::ScoreKind;
use crate::dataset::photos::{PhotoError, files_sha256, good_photos};
use crate::fsio::{FileKind, read_bounded, sha256_hex, write_atomic};
use crate::metrics::auroc;
use crate::refine::Synthesis;

pub const PHOTO_CALIBRATION_FILE: &str = "calibration-photos.json";
/// The most good photos the line's appearance is fitted on.
const MAX_APPEARANCE_PHOTOS: usize = 1000;
/// 2: the photos' refinement searches offset, zoom and exposure (format 1's thresholds were
/// fitted without, and are refit). 3: every photo retries its turns and start poses, and the
/// line's appearance scales the maps against the render (format 2 is refit).
pub const PHOTO_CALIBRATION_FORMAT: u32 = 3;

/// `calibration-photos.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoCalibration {
    pub format: u32,
    /// The folder given (its `train/good` when it is an MVTec AD folder).
    pub photos: PathBuf,
    pub photo_count: usize,
    /// SHA-256 over each photo's name and contents, in name order.
    pub photos_sha256: String,
    /// The mapping rule the photos were read with.
    pub map_input: String,
    /// SHA-256 of the render-fitted calibration (as JSON) whose detector is kept.
    pub base_sha256: String,
    /// The render calibration with its review and defect thresholds refit on the photos, and
    /// its detector chosen on them (see [`choose_on_photos`]).
    pub calibration: Calibration,
    /// Each detector's AUROC of the good photos against the defective validation renders:
    /// what the detector was chosen by (empty when there was nothing to choose between).
    #[serde(default)]
    pub photo_criteria: Vec<(String, f32)>,
}

impl PhotoCalibration {
    pub fn path(run_dir: &Path) -> PathBuf {
        run_dir.join(PHOTO_CALIBRATION_FILE)
    }

    fn load(path: &Path) -> Result<Self, String> {
        let bytes = read_bounded(path, FileKind::Calibration).map_err(|e| e.reason())?;
        let stored: Self = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if stored.format < PHOTO_CALIBRATION_FORMAT {
            return Err(format!(
                "format {} was fitted by an older inspection of photos",
                stored.format
            ));
        }
        if stored.format != PHOTO_CALIBRATION_FORMAT {
            return Err(format!("format {} is not supported", stored.format));
        }
        stored.calibration.validate()?;
        Ok(stored)
    }
}

/// How the detector was chosen, for the user to read.
fn criteria_note(criteria: &[(String, f32)]) -> String {
    if criteria.is_empty() {
        return ", the renders' choice kept".into();
    }
    let each: Vec<String> = criteria
        .iter()
        .map(|(name, a)| format!("{name} {a:.3}"))
        .collect();
    format!(
        ", chosen by AUROC of the good photos against the defective validation renders: {}",
        each.join(", ")
    )
}

/// The detector to inspect photos with: of every detector `base` measured, the one whose
/// scores best separate the good photos from the defective validation renders (AUROC), each
/// scored as it was calibrated; on a tie the renders' own choice. Returns `base` with that
/// detector, and each detector's AUROC; `base` itself, and none, when there is nothing to
/// choose between (one detector, or no defective validation render). A fused detector's two
/// scores are put on one scale by the good photos' median and spread of each (the renders'
/// would weigh them as renders score). `references`, when given, are the good photos'
/// references already rendered as `base` refines (one per photo), reused instead of refining
/// the photos again.
pub fn choose_on_photos(
    inspector: &Inspector,
    base: &Calibration,
    photos: &[std::path::PathBuf],
    references: Option<&[Synthesis]>,
) -> Result<Chosen, InspectError> {
    let unchanged = || Chosen {
        calibration: base.clone(),
        criteria: Vec::new(),
        good_scores: None,
    };
    let Some(data) = base.data_dir.as_deref() else {
        return Ok(unchanged());
    };
    if base.detectors.len() < 2 {
        return Ok(unchanged());
    }
    let model = &inspector.model;
    let (defective, n_defective) = super::calibrate::validation_defective(data, model)?;
    if n_defective == 0 {
        return Ok(unchanged());
    }
    let good = read_photos(inspector, photos)?;
    // Each detector's scores, and a fused detector's two scores before fusion.
    type Scored = (Vec<Vec<f32>>, Vec<Option<[Vec<f32>; 2]>>);
    let score_all = |flat: &[f32], n: usize, known: Option<&[Synthesis]>| -> Scored {
        let image_len = model.config.image_len();
        let batch = inspector.settings.descent.batch_size.max(1);
        let mut all = vec![Vec::with_capacity(n); base.detectors.len()];
        let mut parts: Vec<Option<[Vec<f32>; 2]>> = vec![None; base.detectors.len()];
        let mut first = 0;
        while first < n {
            let count = batch.min(n - first);
            let scored = inspector.detector_scores(
                &flat[first * image_len..(first + count) * image_len],
                count,
                base,
                known.map(|k| &k[first..first + count]),
            );
            for (d, s) in scored.scores.into_iter().enumerate() {
                all[d].extend(s);
            }
            for (d, c) in scored.components.into_iter().enumerate() {
                if let Some([a, b]) = c {
                    let kept = parts[d].get_or_insert_with(|| [Vec::new(), Vec::new()]);
                    kept[0].extend(a);
                    kept[1].extend(b);
                }
            }
            first += count;
        }
        (all, parts)
    };
    let finite = |v: &[f32]| {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect::<Vec<_>>()
    };
    let known = references.filter(|r| r.len() == photos.len());
    let (mut good_scores, good_parts) = score_all(&good, photos.len(), known);
    let (mut bad_scores, bad_parts) = score_all(&defective, n_defective, None);
    // A fused detector puts its two scores on one scale by their good images' median and
    // spread: on photos, the good photos' (their scores sit elsewhere than the renders').
    let mut base = base.clone();
    let current = base.detector().to_string();
    for d in 0..base.detectors.len() {
        let (Some(f), Some([g1, g2]), Some([b1, b2])) =
            (base.detectors[d].fusion, &good_parts[d], &bad_parts[d])
        else {
            continue;
        };
        let (f1, f2) = (finite(g1), finite(g2));
        if f1.is_empty() || f2.is_empty() {
            continue;
        }
        let refit = super::calibration::Fusion {
            first_scale: super::calibration::Fusion::scale_of(&f1),
            second_scale: super::calibration::Fusion::scale_of(&f2),
            ..f
        };
        good_scores[d] = g1.iter().zip(g2).map(|(a, b)| refit.fuse(*a, *b)).collect();
        bad_scores[d] = b1.iter().zip(b2).map(|(a, b)| refit.fuse(*a, *b)).collect();
        if base.detectors[d].name == current && base.fusion.is_some() {
            base.fusion = Some(refit);
        }
        base.detectors[d].fusion = Some(refit);
    }
    let base = &base;
    let criteria: Vec<(String, f32)> = base
        .detectors
        .iter()
        .zip(good_scores.iter().zip(&bad_scores))
        .map(|(d, (g, b))| {
            let (g, b) = (finite(g), finite(b));
            // A detector that could not score most images cannot be chosen.
            let usable = g.len() * 2 > photos.len() && b.len() * 2 > n_defective;
            let a = if usable {
                auroc(&g, &b) as f32
            } else {
                f32::NAN
            };
            (d.name.clone(), a)
        })
        .collect();
    let best = criteria
        .iter()
        .enumerate()
        .filter(|(_, (_, a))| a.is_finite())
        .fold(None::<(usize, f32)>, |best, (i, (name, a))| match best {
            Some((_, b)) if b > *a || (b == *a && *name != current) => best,
            _ => Some((i, *a)),
        });
    let Some((index, _)) = best else {
        return Ok(Chosen {
            calibration: base.clone(),
            criteria,
            good_scores: None,
        });
    };
    let d = &base.detectors[index];
    let chosen = if d.name == current {
        base.clone()
    } else {
        // Regions and the heatmap stay on the map the validation split fitted the pixel
        // threshold on (the renders' choice), cut where that detector cut it: the new
        // detector's score lives on another scale.
        let floor = base.region_floor.or_else(|| {
            (base.region_map.is_none()
                && base.fusion.is_none()
                && base.score_kind != ScoreKind::Loss)
                .then_some(base.review_threshold)
        });
        Calibration {
            score: d.score,
            score_kind: d.score_kind,
            fusion: d.fusion,
            review_threshold: d.review_threshold,
            defect_threshold: d.defect_threshold,
            region_map: Some(base.region_settings()),
            region_floor: floor,
            ..base.clone()
        }
    };
    Ok(Chosen {
        calibration: chosen,
        criteria,
        good_scores: Some(std::mem::take(&mut good_scores[index])),
    })
}

/// What [`choose_on_photos`] chose.
pub struct Chosen {
    /// The base calibration with the chosen detector (and fused detectors rescaled on the
    /// photos).
    pub calibration: Calibration,
    /// Each detector's AUROC of the good photos against the defective validation renders.
    pub criteria: Vec<(String, f32)>,
    /// The chosen detector's score of every good photo, as inspecting them with
    /// `calibration` scores them; `None` when nothing was chosen between.
    pub good_scores: Option<Vec<f32>>,
}

/// Every good photo's score with the inspector's calibration; a photo that cannot be scored is
/// an error naming it (the thresholds cannot be fitted without it).
fn score_good_photos(inspector: &Inspector, photos: &[PathBuf]) -> Result<Vec<f32>, InspectError> {
    let batch = inspector.settings.descent.batch_size.max(1);
    let mut scores = Vec::with_capacity(photos.len());
    for chunk in photos.chunks(batch) {
        for report in inspector.inspect_paths(chunk) {
            let named = report.path.clone().unwrap_or_default();
            if report.verdict == Verdict::Error || !report.score.is_finite() {
                return Err(InspectError::Invalid {
                    path: named,
                    message: format!(
                        "this good photo could not be scored, so the thresholds cannot be fit: {}",
                        report.error.unwrap_or_else(|| "no finite score".into())
                    ),
                });
            }
            scores.push(report.score);
        }
    }
    Ok(scores)
}

/// The photos as the model's input (flat, image after image), each mapped by the inspector's
/// rule; a photo that cannot be read or mapped is an error naming it.
fn read_photos(inspector: &Inspector, photos: &[PathBuf]) -> Result<Vec<f32>, InspectError> {
    let model = &inspector.model;
    let (size, channels) = (model.image_size(), model.channels());
    let mut out = Vec::with_capacity(photos.len() * model.config.image_len());
    for path in photos {
        let image = crate::imaging::decode_image(path)?;
        let (values, _) =
            crate::imaging::map_image(&image, path, size, channels, inspector.settings.map_input)?;
        out.extend(values);
    }
    Ok(out)
}

/// What inspecting photos changes in the renders' calibration, when a detector compares
/// with the rendered product: every photo's refinement tries the product's turns about its
/// axis and the other start poses (a photo's loss never falls to the renders' floor, so the
/// renders' retry threshold would let a photo keep a pose turned away from its notch), and
/// the line's appearance (the residual of the good photos against their references, see
/// [`Appearance`]) scales the maps against the render. Returns `base` unchanged when no
/// detector renders or there is no scene; with the calibration, each photo's reference when
/// every photo was refined (for [`choose_on_photos`] to reuse). A photo that cannot be read or
/// refined is an error.
fn for_photos(
    inspector: &mut Inspector,
    base: &Calibration,
    photos: &[PathBuf],
) -> Result<(Calibration, Option<Vec<Synthesis>>), InspectError> {
    if !base.detectors_need_synthesis() || inspector.synthesizer().is_none() {
        return Ok((base.clone(), None));
    }
    let mut adapted = base.clone();
    if let Some(r) = &mut adapted.refine {
        r.retry_above = Some(0.0);
    }
    inspector.adopt(adapted.clone());
    // Refined exactly as the detectors will score them, so their references are reused.
    let (rounds, retry) = adapted.refine_for(inspector.settings.refine_rounds);
    // Evenly spaced photos, at most MAX_APPEARANCE_PHOTOS of them: a model of a few dozen
    // cells is settled long before, and memory stays bounded on a large folder.
    let stride = photos.len().div_ceil(MAX_APPEARANCE_PHOTOS).max(1);
    let fitted: Vec<PathBuf> = photos.iter().step_by(stride).cloned().collect();
    let images = read_photos(inspector, &fitted)?;
    let image_len = inspector.model.config.image_len();
    let batch = inspector.settings.descent.batch_size.max(1);
    let mut made = Vec::with_capacity(fitted.len());
    for (chunk, names) in images.chunks(batch * image_len).zip(fitted.chunks(batch)) {
        let synthesized = inspector
            .synthesize(
                chunk,
                names.len(),
                rounds,
                retry,
                None,
                adapted.pose_tolerance_deg(true),
            )
            .map_err(|message| InspectError::Invalid {
                path: names[0].clone(),
                message: format!(
                    "the good product could not be rendered at this photo's pose: {message}"
                ),
            })?;
        made.extend(synthesized);
    }
    let grey: Vec<Vec<f32>> = images
        .chunks(image_len)
        .map(|i| inspector.grey(i))
        .collect();
    let pairs: Vec<(&[f32], &[f32], &[u8])> = grey
        .iter()
        .zip(&made)
        .map(|(g, s)| (g.as_slice(), s.reference.as_slice(), s.part.as_slice()))
        .collect();
    // Photos that leave nothing to model (no residual spread at all) are inspected without.
    adapted.appearance = match Appearance::fit(&pairs) {
        Ok(a) => Some(a),
        Err(message) => {
            log::warn!("the line's appearance is not used: {message}");
            None
        }
    };
    Ok((adapted, (stride == 1).then_some(made)))
}

/// "; the line's appearance …" for a calibration that carries one, else nothing.
fn appearance_note(inspector: &Inspector, calibration: &Calibration) -> String {
    calibration
        .appearance
        .as_ref()
        .map_or_else(String::new, |a| {
            let names = inspector
                .synthesizer()
                .map(|s| s.part_names().clone())
                .unwrap_or_default();
            format!("; {}, every photo retrying its turns", a.summary(&names))
        })
}

fn photo_error(e: PhotoError) -> InspectError {
    InspectError::Invalid {
        path: e.path,
        message: e.message,
    }
}

/// The SHA-256 of a calibration as JSON: what a photo calibration is bound to.
fn calibration_sha256(c: &Calibration) -> String {
    sha256_hex(&serde_json::to_vec(c).unwrap_or_default())
}

/// Refits `inspector`'s thresholds on the good photos of `dir` (or loads the fit stored for
/// the same photos, rule and render calibration), saving it beside the run's calibration when
/// `save` is set. Returns what was done, for the user to read. A photo that cannot be read or
/// scored is an error naming it.
pub fn calibrate_on_photos(
    inspector: &mut Inspector,
    run_dir: &Path,
    dir: &Path,
    save: bool,
) -> Result<String, InspectError> {
    // A calibration that fails half way leaves the inspector with the one it started from.
    let before = inspector.calibration.clone();
    let result = fit_on_photos(inspector, run_dir, dir, save);
    if result.is_err()
        && let Some(c) = before
    {
        inspector.adopt(c);
    }
    result
}

fn fit_on_photos(
    inspector: &mut Inspector,
    run_dir: &Path,
    dir: &Path,
    save: bool,
) -> Result<String, InspectError> {
    let Some(base) = inspector.calibration.clone() else {
        return Err(InspectError::Invalid {
            path: run_dir.to_path_buf(),
            message: "calibrating on photos starts from the run's calibration, and the run has \
                      none"
                .into(),
        });
    };
    let photos = good_photos(dir).map_err(photo_error)?;
    // The thresholds are fitted on photos, so photos are what the inspector sees from now on.
    inspector.set_photo_input(true);
    let photos_sha256 = files_sha256(&photos).map_err(photo_error)?;
    let base_sha256 = calibration_sha256(&base);
    let map_input = inspector.settings.map_input.to_string();
    let path = PhotoCalibration::path(run_dir);
    let mut stale = None;
    if path.exists() {
        match PhotoCalibration::load(&path) {
            Ok(stored)
                if stored.photos_sha256 == photos_sha256
                    && stored.base_sha256 == base_sha256
                    && stored.map_input == map_input
                    && stored.calibration.defect_rule == inspector.settings.defect_rule =>
            {
                let appearance = appearance_note(inspector, &stored.calibration);
                let c = inspector.adopt(stored.calibration);
                return Ok(format!(
                    "thresholds from {} ({} good photos of {}{appearance}): review from {:.5}, \
                     defect from {:.5}",
                    path.display(),
                    stored.photo_count,
                    dir.display(),
                    c.review_threshold,
                    c.defect_threshold
                ));
            }
            Ok(_) => {
                stale = Some(
                    "it was fitted on other photos, another rule or another calibration"
                        .to_string(),
                )
            }
            Err(e) => stale = Some(e),
        }
    }
    // How photos are refined and the line's appearance, then the detector: the one that best
    // tells the good photos from the defective validation renders (the renders' own choice
    // may not carry over to a camera's pictures), each scored as photos are.
    let (base, references) = for_photos(inspector, &base, &photos)?;
    inspector.adopt(base.clone());
    let Chosen {
        calibration: chosen,
        criteria: photo_criteria,
        good_scores,
    } = choose_on_photos(inspector, &base, &photos, references.as_deref())?;
    inspector.adopt(chosen);
    // The choice scored every good photo already; they are inspected again only when it did
    // not, or when a photo's score is not finite (which inspecting names).
    let scores =
        match good_scores.filter(|s| s.len() == photos.len() && s.iter().all(|v| v.is_finite())) {
            Some(scores) => scores,
            None => score_good_photos(inspector, &photos)?,
        };
    let rule = inspector.settings.defect_rule;
    let refit = inspector
        .calibration
        .clone()
        .unwrap_or(base)
        .refit_on_good(&scores, rule)
        .ok_or_else(|| InspectError::Invalid {
            path: dir.to_path_buf(),
            message: "no good photo gave a finite score".into(),
        })?;
    refit.validate().map_err(|message| InspectError::Invalid {
        path: dir.to_path_buf(),
        message: format!("the thresholds refit on these photos are not usable: {message}"),
    })?;
    let stored = PhotoCalibration {
        format: PHOTO_CALIBRATION_FORMAT,
        photos: dir.to_path_buf(),
        photo_count: photos.len(),
        photos_sha256,
        map_input,
        base_sha256,
        calibration: refit,
        photo_criteria,
    };
    if save {
        let mut json = serde_json::to_vec_pretty(&stored).map_err(|e| InspectError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
        json.push(b'\n');
        write_atomic(&path, &json).map_err(|e| InspectError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    let appearance_note = appearance_note(inspector, &stored.calibration);
    let c = inspector.adopt(stored.calibration);
    Ok(format!(
        "{}thresholds refit on {} good photos of {} (detector {}, {}{}{}): review from {:.5} \
         (their {:.0}th percentile), defect from {:.5} ({}){}",
        stale.map_or_else(String::new, |why| format!(
            "{} not used ({why}); ",
            path.display()
        )),
        photos.len(),
        dir.display(),
        c.detector(),
        c.scoring_name(),
        criteria_note(&stored.photo_criteria),
        appearance_note,
        c.review_threshold,
        100.0 * GOOD_REVIEW_QUANTILE,
        c.defect_threshold,
        match rule {
            super::DefectRule::F1Max =>
                "no defective photo is used: the largest good score plus half the spread of \
                 their 5th to 95th percentiles"
                    .to_string(),
            other => other.to_string().replace("validation images", "photos"),
        },
        if save {
            format!("; saved to {}", path.display())
        } else {
            String::new()
        }
    ))
}
