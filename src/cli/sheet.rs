//! `unseen sheet`: a contact sheet of a rendered dataset, as PNG.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::dataset::{Manifest, Split};

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
    /// Samples per class.
    #[arg(long, default_value_t = 8)]
    pub per_class: usize,
    /// Pixel magnification.
    #[arg(long, default_value_t = 3)]
    pub scale: u32,
}

pub fn run_sheet(args: SheetArgs) -> anyhow::Result<()> {
    let manifest = Manifest::load_dir(&args.data)?;
    let sheet = crate::dataset::sheet::contact_sheet(
        &manifest,
        &args.data,
        args.split,
        args.per_class,
        args.scale.clamp(1, 16),
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
