//! How the workspaces ask for something outside themselves: they push an [`Action`] while they
//! draw, and the workbench applies every action of the frame in one place
//! (`Workbench::apply_actions`) once the frame is drawn. No workspace writes into another's
//! state.

use std::path::PathBuf;

use super::Workspace;
use crate::eval::EvalReport;

/// Something one part of the workbench asks of another.
#[derive(Debug, Clone)]
pub enum Action {
    /// Show a workspace.
    Show(Workspace),
    /// Point Train at a run folder (and the dataset it trains on) and show its past training.
    OpenRun { run: PathBuf, data: Option<PathBuf> },
    /// Load a run or checkpoint in Inspect, with the dataset that calibrates it and names its
    /// parts; then inspect `image`, when one is given.
    OpenModel {
        run: PathBuf,
        data: Option<PathBuf>,
        image: Option<PathBuf>,
    },
    /// Inspect an image in Inspect with the model loaded there, or with the model of `run`
    /// (loaded first) when none is.
    InspectImage {
        image: PathBuf,
        run: Option<PathBuf>,
    },
    /// Show a report in Evaluate; `dir` is where it was written (its overlays are there).
    ShowReport {
        report: Box<EvalReport>,
        dir: PathBuf,
    },
    /// Read a `report.json` and show it in Evaluate.
    OpenReport(PathBuf),
    /// Point Evaluate's next evaluation at a run (and one to compare), test data and a report
    /// folder.
    PointEvaluation {
        run: PathBuf,
        compare: Option<PathBuf>,
        data: PathBuf,
        out: PathBuf,
    },
    /// Start the quick demo.
    StartQuickDemo,
}
