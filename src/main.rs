use clap::Parser;
use unseen::cli::{Cli, Command, run_render, run_sheet};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Render(args)) => run_render(args),
        Some(Command::Sheet(args)) => run_sheet(args),
        Some(Command::Train(args)) => unseen::train::cli::run_train_cli(args),
        Some(Command::Inspect(args)) => unseen::inspect::cli::run_inspect_cli(args),
        Some(Command::Eval(args)) => unseen::eval::cli::run_eval_cli(args),
        Some(Command::Demo(args)) => unseen::eval::cli::run_demo(args),
        Some(Command::Gui(args)) => unseen::gui::run_gui(args),
        None => unseen::gui::run_gui(unseen::gui::GuiArgs::default()),
    }
}
