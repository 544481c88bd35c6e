//! Fuzzes the loaders of everything unseen reads (the fuzzer is `fuzzer.rs` beside this file,
//! which `tests/fuzz.rs` also runs; the mesh loaders' targets are in `meshes.rs`, run by
//! `tests/import_fuzz.rs`).
//!
//! `cargo run --example fuzz -- [--target NAME|all] [--iterations N] [--seed S]
//! [--corpus DIR] [--out DIR]`, NAME one of the loaders' targets or a mesh format
//! (`stl-binary`, `stl-ascii`, `obj`, `glb`, `gltf`)
//!
//! `--corpus` adds valid files found under DIR (a dataset or run folder) to the built-in
//! seeds; inputs that break a property are written to `--out` (default `fuzz-findings/`).

#[path = "../common/flags.rs"]
mod flags;
mod fuzzer;
mod meshes;

use std::path::{Path, PathBuf};
use std::time::Instant;

use fuzzer::{FuzzStats, Target, fuzz, seeds_from_dir};
use meshes::{MeshTarget, fuzz_mesh};

fn main() -> anyhow::Result<()> {
    let mut targets = Target::ALL.to_vec();
    let mut mesh_targets = MeshTarget::ALL.to_vec();
    let mut iterations = 100_000u64;
    let mut seed = 1u64;
    let mut corpus: Option<PathBuf> = None;
    let mut out = PathBuf::from("fuzz-findings");
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--target" if value == "all" => {
                targets = Target::ALL.to_vec();
                mesh_targets = MeshTarget::ALL.to_vec();
            }
            "--target" => match value.parse::<MeshTarget>() {
                Ok(mesh) => (targets, mesh_targets) = (Vec::new(), vec![mesh]),
                Err(_) => {
                    targets = vec![value.parse().map_err(anyhow::Error::msg)?];
                    mesh_targets.clear();
                }
            },
            "--iterations" => iterations = value.parse()?,
            "--seed" => seed = value.parse()?,
            "--corpus" => corpus = Some(value.into()),
            "--out" => out = value.into(),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let scratch = tempfile::tempdir()?;
    let mut total_findings = 0;
    println!("target        executions   accepted    refused  findings  execs/s");
    for target in targets {
        let mut seeds = target.builtin_seeds();
        if let Some(dir) = &corpus {
            seeds.extend(seeds_from_dir(target, dir, 64));
        }
        let started = Instant::now();
        let stats = fuzz(target, &seeds, iterations, seed, scratch.path());
        total_findings += report(target.name(), &stats, started, &out)?;
    }
    for target in mesh_targets {
        let started = Instant::now();
        let stats = fuzz_mesh(target, iterations, seed, scratch.path());
        total_findings += report(target.name(), &stats, started, &out)?;
    }
    if total_findings > 0 {
        anyhow::bail!("{total_findings} inputs broke a property");
    }
    Ok(())
}

/// Prints a target's row and writes its findings to `out`; returns how many there were.
fn report(name: &str, stats: &FuzzStats, started: Instant, out: &Path) -> anyhow::Result<u64> {
    let rate = stats.executions as f64 / started.elapsed().as_secs_f64();
    println!(
        "{:<12} {:>11} {:>10} {:>10} {:>9} {:>8.0}",
        name, stats.executions, stats.accepted, stats.refused, stats.findings_total, rate
    );
    for (i, finding) in stats.findings.iter().enumerate() {
        std::fs::create_dir_all(out)?;
        let path = out.join(format!("{name}-{i:02}.bin"));
        std::fs::write(&path, &finding.input)?;
        let kind = if finding.panicked {
            "panic"
        } else {
            "unnamed file"
        };
        println!("  {} ({kind}): {}", path.display(), finding.message);
    }
    Ok(stats.findings_total)
}
