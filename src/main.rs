use clap::Parser;
use unseen::cli::{Cli, Command, run_render, run_sheet};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Render(args)) => run_render(args),
        Some(Command::Sheet(args)) => run_sheet(args),
        Some(Command::Train(args)) => unseen::train::cli::run_train_cli(args),
        Some(Command::Inspect(args)) => unseen::inspect::cli::run_inspect_cli(args),
        None => {
            // The workbench GUI is not built yet: show what the command line offers.
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
    }
}
