//! Pose refinement on real renders: it recovers the pose an image was rendered at from a
//! perturbed start, a defect does not pull it away, the batched and one-by-one paths agree,
//! and a refinement cut off by its deadline is an error.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use glam::{DQuat, DVec3};
use tempfile::TempDir;
use train_common::*;
use unseen::dataset::{Manifest, SampleRecord, Split};
use unseen::imaging::read_image;
use unseen::refine::solve::Level;
use unseen::refine::{
    RefineInput, RefineSettings, Refinement, Scene, ScenePose, Synthesizer, refine,
};
use unseen::render::{Gpu, Renderer};

const SIZE: u32 = 64;

/// A small cap dataset at 64 px with good and bulge test images, rendered once.
fn data() -> &'static TempDir {
    static DATA: OnceLock<TempDir> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_dataset_with_defects(
            dir.path(),
            SIZE,
            32,
            &[],
            &[("good", 4), ("bulge", 4)],
            "",
            cap_with_obvious_defects(),
        );
        dir
    })
}

/// The test images of `class` with the poses they were rendered at.
fn test_images(dir: &Path, class: &str) -> Vec<(Vec<f32>, ScenePose)> {
    let manifest = Manifest::load(&dir.join("manifest.json")).unwrap();
    let records: Vec<&SampleRecord> = manifest
        .samples_of(Split::Test)
        .filter(|r| r.id.class == class)
        .collect();
    assert!(!records.is_empty(), "no {class} test images");
    records.into_iter().map(|r| with_pose(dir, r)).collect()
}

/// A sample's image and the pose it was rendered at.
fn with_pose(dir: &Path, r: &SampleRecord) -> (Vec<f32>, ScenePose) {
    let image = read_image(&dir.join(&r.image), SIZE as usize, 1).unwrap();
    let axis = DVec3::from(r.view.axis).normalize_or(DVec3::Y);
    let pose =
        ScenePose::from_rotation(DQuat::from_axis_angle(axis, r.view.angle_deg.to_radians()));
    (image, pose)
}

/// The good training renders of the dataset with their poses.
fn data_train_good(dir: &Path) -> Vec<(Vec<f32>, ScenePose)> {
    let manifest = Manifest::load(&dir.join("manifest.json")).unwrap();
    manifest
        .samples_of(Split::Train)
        .map(|r| with_pose(dir, r))
        .collect()
}

/// The part id of the cap's notch in the dataset's manifest.
fn notch_id(dir: &Path) -> u8 {
    Manifest::load(&dir.join("manifest.json"))
        .unwrap()
        .parts
        .into_iter()
        .find(|(_, name)| name == "notch")
        .map(|(id, _)| id)
        .unwrap()
}

fn scene(dir: &Path) -> (Scene, Renderer) {
    let manifest = Manifest::load(&dir.join("manifest.json")).unwrap();
    let renderer = Renderer::new(Gpu::headless().unwrap());
    let scene = Scene::for_recipe(&renderer, &manifest.recipe, &manifest.product).unwrap();
    (scene, renderer)
}

/// Refinement as inspection runs it on renders (centred, one exposure), from the given
/// starts only: no retries, no lookup.
fn settings() -> RefineSettings {
    RefineSettings {
        search_offset_scale: false,
        fit_exposure: false,
        retry_above: None,
        max_tries: 1,
        ..RefineSettings::default()
    }
}

/// `pose` turned by `deg` about an axis that depends on `seed`, off the product's own axis.
fn perturbed(pose: ScenePose, deg: f64, seed: usize) -> ScenePose {
    let axes = [
        DVec3::new(1.0, 0.3, 0.2),
        DVec3::new(-0.2, 0.4, 1.0),
        DVec3::new(0.7, -0.5, 0.5),
        DVec3::new(0.1, 1.0, -0.6),
    ];
    let turn = DQuat::from_axis_angle(axes[seed % axes.len()].normalize(), deg.to_radians());
    ScenePose {
        rotation: turn * pose.rotation,
        ..pose
    }
}

/// Mean absolute grey difference, in grey levels (of 255), between the good product rendered
/// at `a` and at `b`: the pose error as the image sees it (the cap's turn about its own axis
/// is invisible away from the notch).
fn grey_levels_apart(scene: &Scene, renderer: &mut Renderer, a: ScenePose, b: ScenePose) -> f32 {
    let frames = scene.render_references(renderer, &[a, b]).unwrap();
    let (x, y) = (
        unseen::refine::scene::shade_of(&frames[0]),
        unseen::refine::scene::shade_of(&frames[1]),
    );
    let sum: f32 = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).sum();
    255.0 * sum / x.len() as f32
}

fn refine_from(
    scene: &Scene,
    renderer: &mut Renderer,
    images: &[(Vec<f32>, ScenePose)],
    deg: f64,
) -> Vec<Refinement> {
    let inputs = perturbed_inputs(images, deg);
    refine(scene, renderer, &inputs, &settings(), None).unwrap()
}

/// The scene, the cap's own axis, and up to `n` good images (test, then training) whose
/// true render shows the notch clearly (40 pixels or more), with their true poses.
#[allow(clippy::type_complexity)]
fn notch_scene(n: usize) -> (Scene, Renderer, DVec3, Vec<(Vec<f32>, ScenePose)>) {
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let axis = scene
        .symmetry_axis
        .expect("the cap is a body of revolution");
    let notch = notch_id(dir);
    let images = test_images(dir, "good")
        .into_iter()
        .chain(data_train_good(dir))
        .filter(|(_, truth)| {
            let frame = &scene.render_references(&mut renderer, &[*truth]).unwrap()[0];
            frame.part.iter().filter(|&&p| p == notch).count() >= 40
        })
        .take(n)
        .collect();
    (scene, renderer, axis, images)
}

/// `pose` turned `deg` degrees about the product's own `axis` (model frame).
fn turned_about(pose: ScenePose, axis: DVec3, deg: f64) -> ScenePose {
    ScenePose {
        rotation: (pose.rotation * DQuat::from_axis_angle(axis, deg.to_radians())).normalize(),
        ..pose
    }
}

/// The good test images and eight good training images, with their true poses.
fn good_images(dir: &Path) -> Vec<(Vec<f32>, ScenePose)> {
    test_images(dir, "good")
        .into_iter()
        .chain(data_train_good(dir).into_iter().take(8))
        .collect()
}

/// Refines `images` from their true poses turned `deg`, with `settings` but without the
/// turns about the symmetry axis (neither the sweep nor the small turns): each image's grey
/// levels off the truth (see [`grey_levels_apart`]) and the renders all of them took.
fn errors_without_turns(
    scene: &Scene,
    renderer: &mut Renderer,
    images: &[(Vec<f32>, ScenePose)],
    deg: f64,
    settings: RefineSettings,
) -> (Vec<f32>, usize) {
    let inputs = perturbed_inputs(images, deg);
    let settings = RefineSettings {
        axis_polishes: 0,
        symmetry_turns: 0,
        ..settings
    };
    let out = refine(scene, renderer, &inputs, &settings, None).unwrap();
    let renders = out.iter().map(|r| r.renders).sum();
    let errors = out
        .iter()
        .zip(images)
        .map(|(r, (_, truth))| grey_levels_apart(scene, renderer, *truth, r.pose))
        .collect();
    (errors, renders)
}

/// [`errors_without_turns`] with `level` alone, for as many rounds as it allows.
fn errors_at_one_level(
    scene: &Scene,
    renderer: &mut Renderer,
    images: &[(Vec<f32>, ScenePose)],
    deg: f64,
    level: Level,
) -> Vec<f32> {
    let settings = RefineSettings {
        levels: vec![level],
        max_rounds: level.max_rounds,
        ..settings()
    };
    errors_without_turns(scene, renderer, images, deg, settings).0
}

fn median(v: &[f32]) -> f32 {
    let mut v = v.to_vec();
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// Each image to refine from its true pose turned `deg` (see [`perturbed`]).
fn perturbed_inputs(images: &[(Vec<f32>, ScenePose)], deg: f64) -> Vec<RefineInput<'_>> {
    images
        .iter()
        .enumerate()
        .map(|(i, (image, pose))| RefineInput {
            image,
            starts: vec![perturbed(*pose, deg, i)],
        })
        .collect()
}

#[test]
fn refinement_recovers_the_pose_of_a_render_from_a_perturbed_start() {
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let images = test_images(dir, "good");
    let refined = refine_from(&scene, &mut renderer, &images, 6.0);
    for (i, ((_, truth), r)) in images.iter().zip(&refined).enumerate() {
        let start = perturbed(*truth, 6.0, i);
        let before = grey_levels_apart(&scene, &mut renderer, *truth, start);
        let after = grey_levels_apart(&scene, &mut renderer, *truth, r.pose);
        eprintln!(
            "good {i}: {before:.2} → {after:.2} grey levels, {:.2}° from the truth, {} rounds",
            r.pose.angle_to_deg(truth),
            r.rounds
        );
        // The start is visibly off; the refined pose renders the image's own product.
        assert!(
            before > 1.0,
            "image {i}: the start is already right ({before})"
        );
        assert!(
            after < 1.0 && after * 4.0 < before,
            "image {i}: {before} → {after} grey levels off"
        );
        assert!(r.loss.is_finite() && r.rounds > 0);
    }
}

#[test]
fn a_bulge_does_not_pull_the_pose_away() {
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let good = test_images(dir, "good");
    let bulge = test_images(dir, "bulge");
    let error = |images: &[(Vec<f32>, ScenePose)], renderer: &mut Renderer| -> Vec<f32> {
        refine_from(&scene, renderer, images, 6.0)
            .iter()
            .zip(images)
            .map(|(r, (_, truth))| grey_levels_apart(&scene, renderer, *truth, r.pose))
            .collect()
    };
    let on_good = error(&good, &mut renderer);
    let on_bulge = error(&bulge, &mut renderer);
    eprintln!("grey levels off: good {on_good:?}, bulge {on_bulge:?}");
    // The good product rendered at the pose refined on a defective image matches the one at
    // its true pose about as well as on good images: the defect is left in the residual.
    let worst_good = on_good.iter().copied().fold(0.0, f32::max);
    for (i, e) in on_bulge.iter().enumerate() {
        assert!(
            *e < 1.5 && *e < worst_good + 1.0,
            "bulge {i}: {e} grey levels off (good at worst {worst_good})"
        );
    }
}

/// The blurred first level alone, from starts 10° off: with the Jacobian measured by 3° turns
/// it ends nearer the truth, in the same rounds, than with 0.5° turns, whose slope is too
/// steep for a blurred render and cuts every step short.
#[test]
fn a_wide_jacobian_turn_brings_the_blurred_level_nearer() {
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let images = good_images(dir);
    let first = RefineSettings::default().levels[0];
    assert_eq!(first.rotation_step_deg, Some(3.0), "the default changed");
    let errors = |turn: f64, renderer: &mut Renderer| -> Vec<f32> {
        let level = Level {
            rotation_step_deg: Some(turn),
            ..first
        };
        errors_at_one_level(&scene, renderer, &images, 10.0, level)
    };
    let wide = errors(3.0, &mut renderer);
    let narrow = errors(0.5, &mut renderer);
    eprintln!("grey levels off after the blurred level: 3° turns {wide:?}, 0.5° turns {narrow:?}");
    assert!(
        median(&wide) < 0.75 * median(&narrow),
        "3° turns left {:.3} grey levels (median), 0.5° turns {:.3}",
        median(&wide),
        median(&narrow)
    );
}

/// Rounds at the sharp level that render only the proposal and carry the Jacobian over the
/// step (Broyden's update) end as near the true pose as rounds that render the turns every
/// time, with fewer renders.
#[test]
fn the_full_mesh_brings_the_blurred_level_nearer() {
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let images = good_images(dir);
    let first = RefineSettings::default().levels[0];
    assert!(first.full_mesh, "the default changed");
    let mut errors = |full_mesh: bool| -> Vec<f32> {
        let level = Level { full_mesh, ..first };
        errors_at_one_level(&scene, &mut renderer, &images, 4.0, level)
    };
    let full = errors(true);
    let decimated = errors(false);
    eprintln!(
        "grey levels off after the blurred level: full mesh {full:?}, decimated {decimated:?}"
    );
    assert!(
        median(&full) < 0.7 * median(&decimated),
        "the full mesh left {:.3} grey levels (median), the decimated one {:.3}",
        median(&full),
        median(&decimated)
    );
}

#[test]
fn carried_jacobians_reach_the_pose_with_fewer_renders() {
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let images = good_images(dir);
    let mut run = |secant: bool| -> (Vec<f32>, usize) {
        let mut settings = settings();
        // At the sharp level, every round after its first.
        let sharp = settings.levels.len() - 1;
        settings.levels[sharp].secant_rounds = if secant { 6 } else { 0 };
        errors_without_turns(&scene, &mut renderer, &images, 4.0, settings)
    };
    let (carried, carried_renders) = run(true);
    let (measured, measured_renders) = run(false);
    eprintln!(
        "grey levels off: carried {carried:?} ({carried_renders} renders), measured \
         {measured:?} ({measured_renders} renders)"
    );
    assert!(
        carried_renders * 20 < measured_renders * 19,
        "{carried_renders} renders against {measured_renders}"
    );
    assert!(
        median(&carried) < 1.0 && median(&carried) <= 1.25 * median(&measured) + 0.02,
        "carried {:.3} grey levels (median), measured {:.3}",
        median(&carried),
        median(&measured)
    );
}

/// The cap's notch set a few degrees off about the cap's own axis: with a narrow Jacobian
/// turn at every level, the robust loss treats the misplaced notch as an outlier, so no
/// Gauss–Newton step turns it back; the small turns compared at the end of the try do. The
/// blurred level's 3° turn turns it back by itself.
#[test]
fn a_notch_a_few_degrees_off_about_the_axis_is_turned_back() {
    let (scene, mut renderer, axis, images) = notch_scene(6);
    assert!(images.len() >= 3, "too few images show the notch");
    let turned = |pose: ScenePose, deg: f64| turned_about(pose, axis, deg);
    let errors = |polishes: usize, levels: Vec<Level>, renderer: &mut Renderer| -> Vec<f64> {
        let inputs: Vec<RefineInput<'_>> = images
            .iter()
            .enumerate()
            .map(|(i, (image, truth))| RefineInput {
                image,
                starts: vec![turned(*truth, if i % 2 == 0 { 12.0 } else { -12.0 })],
            })
            .collect();
        let settings = RefineSettings {
            axis_polishes: polishes,
            levels,
            ..settings()
        };
        refine(&scene, renderer, &inputs, &settings, None)
            .unwrap()
            .iter()
            .zip(&images)
            .map(|(r, (_, truth))| r.pose.angle_to_deg(truth))
            .collect()
    };
    // With the Jacobian measured by 0.5° turns at every level, as photos are refined, the
    // steps leave the notch where it is.
    let without = errors(0, RefineSettings::photo_levels(), &mut renderer);
    let with = errors(1, RefineSettings::photo_levels(), &mut renderer);
    eprintln!("degrees from the truth: without the small turns {without:?}, with {with:?}");
    for (i, e) in with.iter().enumerate() {
        assert!(
            *e < 1.5,
            "image {i}: {e:.2}° from the truth after the small turns"
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&with) < 0.5 * mean(&without),
        "the small turns did not help: {with:?} against {without:?}"
    );
    // With 3° turns at the blurred level (renders' default), the steps turn the notch back
    // on their own.
    let wide = errors(0, RefineSettings::default().levels, &mut renderer);
    eprintln!("degrees from the truth with 3° turns at the blurred level: {wide:?}");
    for (i, e) in wide.iter().enumerate() {
        assert!(*e < 1.5, "image {i}: {e:.2}° from the truth with 3° turns");
    }
}

#[test]
fn a_try_with_its_notch_in_place_is_pinned_and_one_without_it_sweeps_the_turns() {
    // Every try counts as above the retry threshold, as a defective image's does. Where the
    // notch shows and sits where the image has it, the small turns all raise the loss: the
    // try is pinned and ends without the sweep of turns about the axis. Where no notch
    // shows, the small turns change next to nothing, and the sweep still runs.
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let notch = notch_id(dir);
    let mut shown = Vec::new();
    let mut hidden = Vec::new();
    for (image, truth) in test_images(dir, "bulge")
        .into_iter()
        .chain(test_images(dir, "good"))
        .chain(data_train_good(dir))
    {
        let frame = &scene.render_references(&mut renderer, &[truth]).unwrap()[0];
        match frame.part.iter().filter(|&&p| p == notch).count() {
            0 => hidden.push((image, truth)),
            40.. => shown.push((image, truth)),
            _ => {}
        }
    }
    shown.truncate(4);
    hidden.truncate(2);
    assert!(
        shown.len() >= 2 && !hidden.is_empty(),
        "too few images: {} show the notch, {} hide it",
        shown.len(),
        hidden.len()
    );
    let run = |images: &[(Vec<f32>, ScenePose)], rise: Option<f32>, renderer: &mut Renderer| {
        let inputs = perturbed_inputs(images, 2.0);
        let settings = RefineSettings {
            retry_above: Some(0.0),
            axis_pinned_rise: rise,
            ..settings()
        };
        refine(&scene, renderer, &inputs, &settings, None).unwrap()
    };
    let turns = RefineSettings::default().symmetry_turns;
    let pinned = run(&shown, Some(0.3), &mut renderer);
    let unpinned = run(&shown, None, &mut renderer);
    for (i, ((p, u), (_, truth))) in pinned.iter().zip(&unpinned).zip(&shown).enumerate() {
        eprintln!(
            "notch shown {i}: {} renders pinned, {} not; {:.2}° from the truth",
            p.renders,
            u.renders,
            p.pose.angle_to_deg(truth)
        );
        assert!(
            p.renders + turns <= u.renders,
            "image {i} showing its notch was not pinned: {} renders against {}",
            p.renders,
            u.renders
        );
        assert!(
            p.pose.angle_to_deg(truth) < 1.5,
            "image {i} ended {:.2}° from the truth",
            p.pose.angle_to_deg(truth)
        );
    }
    let pinned = run(&hidden, Some(0.3), &mut renderer);
    let unpinned = run(&hidden, None, &mut renderer);
    for (i, (p, u)) in pinned.iter().zip(&unpinned).enumerate() {
        eprintln!(
            "notch hidden {i}: {} renders pinned, {} not",
            p.renders, u.renders
        );
        assert!(
            p.renders >= turns && p.renders == u.renders,
            "image {i} hiding its notch did not sweep the turns: {} renders against {}",
            p.renders,
            u.renders
        );
    }
}

#[test]
fn a_start_turned_far_about_the_axis_is_swept_back_and_refined_to_the_truth() {
    // Images showing the notch, each started 150° about the cap's own axis from its true
    // pose and tilted 4° off it: the sweep of turns about the axis finds the notch again,
    // up to half its step, and the refinement from there must close the rest.
    let (scene, mut renderer, axis, images) = notch_scene(3);
    assert!(images.len() >= 2, "too few images show the notch");
    let starts: Vec<ScenePose> = images
        .iter()
        .enumerate()
        .map(|(i, (_, truth))| perturbed(turned_about(*truth, axis, 150.0), 4.0, i))
        .collect();
    let inputs: Vec<RefineInput<'_>> = images
        .iter()
        .zip(&starts)
        .map(|((image, _), start)| RefineInput {
            image,
            starts: vec![*start],
        })
        .collect();
    let settings = RefineSettings {
        retry_above: Some(0.0),
        ..settings()
    };
    let refined = refine(&scene, &mut renderer, &inputs, &settings, None).unwrap();
    for (i, ((_, truth), (r, start))) in images.iter().zip(refined.iter().zip(&starts)).enumerate()
    {
        let error = r.pose.angle_to_deg(truth);
        eprintln!(
            "image {i}: {:.1}° from the truth at the start, {error:.3}° after {} rounds",
            start.angle_to_deg(truth),
            r.rounds
        );
        assert!(error < 0.5, "image {i} ended {error:.2}° from the truth");
    }
}

#[test]
fn batched_and_one_by_one_refinements_agree() {
    let dir = data().path();
    let (scene, mut renderer) = scene(dir);
    let mut images = test_images(dir, "good");
    images.extend(test_images(dir, "bulge"));
    let together = refine_from(&scene, &mut renderer, &images, 6.0);
    for (i, image) in images.iter().enumerate() {
        let inputs = [RefineInput {
            image: &image.0,
            starts: vec![perturbed(image.1, 6.0, i)],
        }];
        let alone = refine(&scene, &mut renderer, &inputs, &settings(), None).unwrap();
        let (a, b) = (&together[i], &alone[0]);
        assert_eq!(a.rounds, b.rounds, "image {i}");
        assert!(
            a.pose.angle_to_deg(&b.pose) < 1e-3,
            "image {i}: {}° apart",
            a.pose.angle_to_deg(&b.pose)
        );
        assert!(
            (a.loss - b.loss).abs() <= 1e-6 * a.loss.abs().max(1.0),
            "image {i}"
        );
    }
}

#[test]
fn a_refinement_past_its_deadline_is_an_error() {
    let dir = data().path();
    let synthesizer = Synthesizer::open(dir, Gpu::headless().unwrap()).unwrap();
    let images = test_images(dir, "good");
    let refs: Vec<&[f32]> = images.iter().map(|(im, _)| im.as_slice()).collect();
    let past = Instant::now();
    let cut = synthesizer.synthesize(&refs, 40, None, Some(past), 0.0);
    assert!(
        cut.is_err(),
        "a refinement past its deadline returned poses"
    );
    // Without the deadline the same call completes, with the lookup's starts.
    // With a pose tolerance, each reference comes with six turned renders: each differs
    // from the reference, a little (the product moved a fraction of a pixel).
    let made = synthesizer.synthesize(&refs, 40, None, None, 0.3).unwrap();
    assert_eq!(made.len(), refs.len());
    for (s, (_, truth)) in made.iter().zip(&images) {
        assert_eq!(s.reference.len(), (SIZE * SIZE) as usize);
        assert!(s.part.iter().any(|&p| p != 0));
        assert_eq!(s.around.len(), 6);
        for turned in &s.around {
            assert_eq!(turned.len(), s.reference.len());
            let apart = turned
                .iter()
                .zip(&s.reference)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / turned.len() as f32;
            assert!(
                apart > 0.0 && apart < 0.02,
                "a render turned 0.3° is {apart} apart from the reference"
            );
        }
        eprintln!(
            "from the lookup: {:.2}° from the truth",
            s.refinement.pose.angle_to_deg(truth)
        );
    }
}
