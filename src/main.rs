//! `unseen`: the command line (see `unseen::cli`); with no command, the workbench.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    unseen::cli::run(unseen::cli::Cli::parse())
}
