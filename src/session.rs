//! The session file: a header line, then one event per line (JSON Lines). Written append-only and
//! flushed at every stage boundary, so a crash loses at most the stage in flight.

use crate::config::Config;
use crate::event::Event;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "recnet-session";
/// Major.minor: a reader refuses a newer major version.
pub const VERSION_MAJOR: u32 = 1;
pub const VERSION_MINOR: u32 = 0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    /// "scenario" or "dataset".
    pub kind: String,
    pub name: String,
    /// `builtin:demo`, a scenario path, or a dataset folder.
    pub path: String,
    #[serde(default)]
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentRef {
    pub path: String,
    /// The branch shares the parent's events before this step.
    pub fork_step: u64,
    pub edit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: String,
    pub recnet: String,
    pub source: SourceRef,
    pub seed: u64,
    pub rounds: u32,
    pub config: Config,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRef>,
}

impl Header {
    pub fn new(source: SourceRef, seed: u64, rounds: u32, config: Config) -> Header {
        Header {
            format: FORMAT.into(),
            version: format!("{VERSION_MAJOR}.{VERSION_MINOR}"),
            recnet: env!("CARGO_PKG_VERSION").into(),
            source,
            seed,
            rounds,
            config,
            parent: None,
        }
    }
}

pub struct SessionWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pub events_written: u64,
}

impl SessionWriter {
    pub fn create(path: &Path, header: &Header) -> Result<SessionWriter> {
        let file = File::create(path).with_context(|| format!("{}: cannot create session file", path.display()))?;
        let mut w = SessionWriter { path: path.to_path_buf(), out: BufWriter::with_capacity(1 << 16, file), events_written: 0 };
        serde_json::to_writer(&mut w.out, header)?;
        w.out.write_all(b"\n").and_then(|_| w.out.flush()).with_context(|| w.place())?;
        Ok(w)
    }

    fn place(&self) -> String {
        format!("{}: write failed", self.path.display())
    }

    pub fn write(&mut self, ev: &Event) -> Result<()> {
        serde_json::to_writer(&mut self.out, ev).with_context(|| self.place())?;
        self.out.write_all(b"\n").with_context(|| self.place())?;
        self.events_written += 1;
        Ok(())
    }

    /// Called at stage boundaries.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().with_context(|| self.place())
    }
}
