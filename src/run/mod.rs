//! Layer: run. Owns running an engine for real: resolving a source (scenario or dataset), driving
//! it with a reasoner while recording the session (`driver`), and forks of a recorded session
//! (`branch`), termination signals (`signals`), and the session written on a thread of its own (`writer`). May import `store`, `inputs`, `reasoner`, `engine`, `world`, `rules` and `util`.

pub mod branch;
pub mod driver;
pub mod signals;
mod writer;

use crate::engine::config::ConfigError;
use crate::engine::DriveError;
use crate::inputs::dataset::DatasetError;
use crate::inputs::scenario::ScenarioError;
use crate::store::StoreError;

/// Why a run, a recording or a fork stopped: the layers' own errors, passed through, and the
/// run's refusals, each naming the flag, the step or the agent at fault.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Drive(#[from] DriveError),
    /// A sink's own write (standard output, for one).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Refused: the message says what and where (`fork: no agent u1 in the session at step 40`).
    #[error("{0}")]
    Refused(String),
    /// A signal stopped the run at a stage boundary.
    #[error("{0}")]
    Interrupted(String),
    /// The config could not be turned back into a table to layer edits on.
    #[error("config")]
    ConfigTable(#[source] toml::ser::Error),
    /// A fork's re-run needs the session's source again.
    #[error("fork needs the session's source {path} to re-run")]
    Source { path: String, source: Box<RunError> },
    /// A recording stopped early, and what became of its session file: the error's chain, then
    /// the note on its own line.
    #[error("{}\n({note})", crate::util::text::chain(error.as_ref()))]
    Stopped { error: Box<RunError>, note: String },
}
