//! `unseen`: the command line (see `unseen::cli`); with no command, the workbench.

use std::process::ExitCode;

use clap::Parser;

/// wgpu's and burn's warnings reach the user; RUST_LOG chooses otherwise. wgpu's GL backend is
/// silenced: it is probed on every start and reports a missing EGL display as an error on a
/// machine that draws with Vulkan.
const LOG_FILTER: &str = "warn,wgpu_hal::gles=off";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(LOG_FILTER)).init();
    // A command line clap refuses exits here, with its usage code.
    let cli = unseen::cli::Cli::parse();
    let outcome = unseen::cli::run(cli);
    if let Err(e) = &outcome {
        eprintln!("Error: {e:?}");
    }
    ExitCode::from(unseen::cli::exit_code(&outcome))
}
