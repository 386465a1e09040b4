//! Saving a branch as a session file, as a job (`w`): the events go to a temporary file beside
//! the destination, which takes a fresh name only once whole, so an earlier file is never
//! overwritten, and Esc, a failure or quitting mid-way leaves no file behind.

use super::jobs::{Job, JobCtl, Poll};
use super::*;
use crate::store::session::SessionWriter;
use crate::store::timeline::EventStore;
use anyhow::Context;
use std::path::Path;

/// A save under way: of which branch (`None` once it was deleted), and its name for messages.
pub struct SaveJob {
    pub(super) job: Job<anyhow::Result<Option<PathBuf>>>,
    branch: Option<usize>,
    name: String,
}

/// Stopped and waited for when dropped (the app quits): its temporary file goes with it.
impl Drop for SaveJob {
    fn drop(&mut self) {
        self.job.cancel();
        let _ = self.job.wait();
    }
}

/// The names a save of branch `b` tries in `dir`, in order.
fn names(dir: &Path, b: usize) -> impl Iterator<Item = PathBuf> + '_ {
    (1..).map(move |k| dir.join(if k == 1 { format!("recnet-branch-{b}.jsonl") } else { format!("recnet-branch-{b}-{k}.jsonl") }))
}

/// Write `store` under `header` into `dir` a chunk at a time; `None` if cancelled (the temporary
/// file is dropped with the writer). Errors name the file.
fn write(store: &EventStore, header: &Header, dir: &Path, b: usize, ctl: &JobCtl) -> anyhow::Result<Option<PathBuf>> {
    let first = names(dir, b).find(|p| !p.exists()).context("no free file name")?;
    let saving = || format!("saving to {}", first.display());
    let mut w = SessionWriter::create_atomic(&first, header).with_context(saving)?;
    let len = store.len();
    let mut i = 0;
    while i < len {
        if ctl.cancelled() {
            return Ok(None);
        }
        let chunk = store.range(i, (i + 4096).min(len)).with_context(saving)?;
        if chunk.is_empty() {
            break;
        }
        for e in &chunk {
            w.write(e).with_context(saving)?;
        }
        i += chunk.len() as u64;
        ctl.progress(i, len);
    }
    if ctl.cancelled() {
        return Ok(None);
    }
    Ok(Some(w.finish_new(names(dir, b)).with_context(saving)?))
}

impl App {
    /// `w`: save branch `b` in the current directory, in the background.
    pub fn save_branch(&mut self, b: usize) {
        if let Err(e) = self.start_save(b, Path::new(".")) {
            self.status = crate::util::text::sanitize(&format!("{e:#}"), 200);
        }
    }

    /// Save branch `b` into `dir` and wait for it (scripted use). Returns where it went.
    pub fn save_branch_in(&mut self, b: usize, dir: &Path) -> anyhow::Result<PathBuf> {
        self.start_save(b, dir)?;
        let result = self.save_job.as_ref().and_then(|s| s.job.wait());
        self.save_job = None;
        let path = result.context("the save stopped without a result")??.context("the save was cancelled")?;
        self.branches[b].saved = Some(path.clone());
        Ok(path)
    }

    /// Start writing branch `b` as a session file (a normal session: `recnet replay`, `check`
    /// and `diff` read it) into `dir`.
    pub fn start_save(&mut self, b: usize, dir: &Path) -> anyhow::Result<()> {
        let branch = self.branches.get(b).ok_or_else(|| anyhow::anyhow!("no branch {b}"))?;
        if branch.parent.is_none() {
            anyhow::bail!("{} is the session itself ({}); only forks are saved", branch.name, branch.parent_path.display());
        }
        if let Some(s) = &self.save_job {
            anyhow::bail!("{} is being saved: wait for it, or Esc stops it", s.name);
        }
        let header = branch.header.clone().ok_or_else(|| anyhow::anyhow!("this branch has no header"))?;
        let store = branch.timeline.store.handle()?;
        let name = crate::util::text::sanitize(&branch.name, 40);
        let dir = dir.to_path_buf();
        let job = Job::spawn(format!("saving {name}"), move |ctl| write(&store, &header, &dir, b, ctl));
        self.save_job = Some(SaveJob { job, branch: Some(b), name });
        self.dirty = true;
        Ok(())
    }

    /// The timer's look at a save: marks the branch saved when done, or says why not. Whether
    /// one runs.
    pub(super) fn poll_save(&mut self) -> bool {
        let Some(s) = &self.save_job else { return false };
        match s.job.poll() {
            Poll::Running => {
                self.dirty = true;
                return true;
            }
            Poll::Done(Ok(Some(path))) => {
                if let Some(b) = s.branch {
                    self.branches[b].saved = Some(path.clone());
                }
                self.status = format!("saved {}", crate::util::text::sanitize(&path.display().to_string(), 120));
            }
            Poll::Done(Ok(None)) => {}
            Poll::Done(Err(e)) => self.status = crate::util::text::sanitize(&format!("{} was not saved: {e:#}", s.name), 200),
            Poll::Lost => self.status = crate::util::text::sanitize(&format!("{} was not saved: {}", s.name, s.job.lost_because()), 200),
        }
        self.save_job = None;
        self.dirty = true;
        false
    }

    /// Esc during a save: it stops, and its temporary file is gone before this returns (a save
    /// that had already put its file in place says so instead).
    pub(super) fn cancel_save(&mut self) -> bool {
        let Some(s) = self.save_job.take() else { return false };
        s.job.cancel();
        // It stops at its next chunk.
        match s.job.wait() {
            Some(Ok(Some(path))) => {
                if let Some(b) = s.branch {
                    self.branches[b].saved = Some(path.clone());
                }
                self.status = format!("too late to stop: saved {}", crate::util::text::sanitize(&path.display().to_string(), 120));
            }
            _ => self.status = format!("stopped saving {}: no file was written", s.name),
        }
        true
    }

    /// Wait for a save under way and take it in (scripted use: `finish_jobs`).
    pub(super) fn finish_save(&mut self) {
        if let Some(s) = &self.save_job {
            s.job.wait_end();
        }
        self.poll_save();
    }

    /// Branch `gone` was deleted: a save of a later branch follows its index down.
    pub(super) fn save_branch_deleted(&mut self, gone: usize) {
        if let Some(s) = &mut self.save_job {
            s.branch = match s.branch {
                Some(b) if b == gone => None,
                Some(b) if b > gone => Some(b - 1),
                other => other,
            };
        }
    }

    pub(super) fn saving(&self) -> bool {
        self.save_job.is_some()
    }
}
