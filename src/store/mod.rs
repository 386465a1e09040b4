//! Layer: store. Owns the recorded log: the session file (`session`), time travel over it with
//! keyframes (`timeline`) and keyframes on disk (`spill`). May import `engine` (its config, for the
//! header), `world`, `rules` and `util`; never the reasoners or the terminal.

pub mod session;
pub mod spill;
pub mod timeline;

use crate::world::ApplyError;
use session::SessionError;

/// Why the store could not read, write or rebuild something. Each message says what was being
/// done and where; the underlying error, if any, is its source.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    UnnamedIo(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("{what}")]
    JsonWrite { what: String, source: serde_json::Error },
    #[error("{what}")]
    Encode { what: String, source: rmp_serde::encode::Error },
    #[error("{what}")]
    Decode { what: String, source: rmp_serde::decode::Error },
    /// A line of a session file that cannot be read: `FILE:LINE: reason`.
    #[error("{file}:{line}: {error}")]
    Line { file: String, line: u64, error: SessionError },
    #[error("step {step}: {error}")]
    Apply { step: u64, error: ApplyError },
    #[error("{0}")]
    Other(String),
}

/// `io_result.map_err(io(what))`: an I/O failure, saying what was being done.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}
