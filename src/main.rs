//! `unseen`: the command line (see `unseen::cli`); with no command, the workbench.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // wgpu's and burn's warnings reach the user; RUST_LOG chooses otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    // A command line clap refuses exits here, with its usage code.
    let cli = unseen::cli::Cli::parse();
    let outcome = unseen::cli::run(cli);
    if let Err(e) = &outcome {
        eprintln!("Error: {e:?}");
    }
    ExitCode::from(unseen::cli::exit_code(&outcome))
}
