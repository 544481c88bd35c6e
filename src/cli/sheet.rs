//! `unseen sheet`: a contact sheet of a rendered dataset, as PNG.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::dataset::{Dataset, Split};

#[derive(Args, Debug)]
pub struct SheetArgs {
    /// Dataset folder (holding manifest.json).
    #[arg(long)]
    pub data: PathBuf,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Split to show.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Samples per class (1 to 1000).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub per_class: u64,
    /// Pixel magnification (1 to 16).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub scale: u32,
}

pub fn run_sheet(args: SheetArgs) -> anyhow::Result<()> {
    let dataset = Dataset::open(&args.data)?;
    let sheet = crate::dataset::sheet::contact_sheet(
        &dataset,
        args.split,
        args.per_class as usize,
        args.scale,
    )?;
    let mut bytes = Vec::new();
    sheet
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("encoding the contact sheet")?;
    crate::fsio::write_atomic(&args.out, &bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}
