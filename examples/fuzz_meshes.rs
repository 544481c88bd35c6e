//! Fuzzes the mesh loaders (STL binary and ASCII, OBJ, GLB, glTF): see
//! `unseen::product::import::fuzz`, and `examples/fuzz.rs` for the other loaders.
//!
//! `cargo run --example fuzz_meshes -- [--target NAME|all] [--iterations N] [--seed S]
//! [--out DIR]`; inputs that break a property are written to `--out` (default
//! `fuzz-findings/`).

#[path = "common/flags.rs"]
mod flags;

use std::path::PathBuf;
use std::time::Instant;

use unseen::product::import::fuzz::{MeshTarget, fuzz_mesh};

fn main() -> anyhow::Result<()> {
    let mut targets = MeshTarget::ALL.to_vec();
    let mut iterations = 20_000u64;
    let mut seed = 1u64;
    let mut out = PathBuf::from("fuzz-findings");
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--target" if value == "all" => targets = MeshTarget::ALL.to_vec(),
            "--target" => targets = vec![value.parse().map_err(anyhow::Error::msg)?],
            "--iterations" => iterations = value.parse()?,
            "--seed" => seed = value.parse()?,
            "--out" => out = value.into(),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let scratch = tempfile::tempdir()?;
    let mut total_findings = 0;
    println!("target        executions   accepted    refused  findings  execs/s");
    for target in targets {
        let started = Instant::now();
        let stats = fuzz_mesh(target, iterations, seed, scratch.path());
        let rate = stats.executions as f64 / started.elapsed().as_secs_f64();
        println!(
            "{:<12} {:>11} {:>10} {:>10} {:>9} {:>8.0}",
            target.name(),
            stats.executions,
            stats.accepted,
            stats.refused,
            stats.findings_total,
            rate
        );
        for (i, finding) in stats.findings.iter().enumerate() {
            std::fs::create_dir_all(&out)?;
            let path = out.join(format!("{}-{i:02}.bin", target.name()));
            std::fs::write(&path, &finding.input)?;
            println!("  {}: {}", path.display(), finding.message);
        }
        total_findings += stats.findings_total;
    }
    if total_findings > 0 {
        anyhow::bail!("{total_findings} inputs broke a property");
    }
    Ok(())
}
