//! Slow work off the UI thread, as gitui's asyncgit jobs do it: a key press starts a job on a
//! thread of its own, with its own handle on the data it reads; the job reports how far it got
//! and stops when asked; the timer polls it and takes its result into the app. Drawing only ever
//! sees the progress line.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

/// What a running job reads and writes besides its result: progress, and the cancel flag.
#[derive(Clone, Default)]
pub struct JobCtl {
    done: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
    /// The part of the work under way, when a job has several ("diffing").
    stage: Arc<Mutex<String>>,
}

impl JobCtl {
    /// A new part of the work: its progress starts over.
    pub fn stage(&self, name: &str) {
        if let Ok(mut s) = self.stage.lock() {
            *s = name.to_string();
        }
        self.progress(0, 0);
    }

    pub fn progress(&self, done: u64, total: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Raised by Esc: the job stops at its next check and its result is dropped.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The cancel flag itself, for work that checks a flag of its own (a timeline's replay).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }
}

/// Jobs are numbered as they start, so "the most recent one" (Esc's target) is well defined.
static STARTED: AtomicU64 = AtomicU64::new(0);

/// A job running on its own thread, producing one `T`.
pub struct Job<T> {
    /// What it does, for the progress line ("re-running the fork at step 40").
    pub label: String,
    /// Its place in the order jobs started (later: larger).
    seq: u64,
    ctl: JobCtl,
    result: Receiver<T>,
    /// A result `wait_end` received, kept for the next `poll`.
    kept: Mutex<Option<T>>,
    /// The message of the panic that ended the job, if one did.
    lost: Arc<Mutex<Option<String>>>,
}

/// A job nobody waits for any more (replaced by a newer search, its app gone) stops at its next
/// check instead of reading on to the end.
impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        self.ctl.cancel.store(true, Ordering::Relaxed);
    }
}

/// Where a job stands when polled.
pub enum Poll<T> {
    Running,
    Done(T),
    /// The thread ended without a result (it panicked).
    Lost,
}

impl<T: Send + 'static> Job<T> {
    pub fn spawn(label: String, work: impl FnOnce(&JobCtl) -> T + Send + 'static) -> Job<T> {
        let ctl = JobCtl::default();
        let (tx, result) = std::sync::mpsc::channel();
        let theirs = ctl.clone();
        // Detached: a cancelled job finishes its current piece on its own and its result is
        // dropped with the channel.
        let lost = Arc::new(Mutex::new(None));
        let why = lost.clone();
        std::thread::spawn(move || match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&theirs))) {
            Ok(t) => {
                let _ = tx.send(t);
            }
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                if let Ok(mut w) = why.lock() {
                    *w = Some(msg.unwrap_or_else(|| "a panic".into()));
                }
            }
        });
        Job { label, seq: STARTED.fetch_add(1, Ordering::Relaxed), ctl, result, kept: Mutex::new(None), lost }
    }

    /// Its place in the order jobs started: the larger, the more recent.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Why the job ended without a result (its panic's message), once `poll` says `Lost`.
    pub fn lost_because(&self) -> String {
        self.lost.lock().ok().and_then(|w| w.clone()).unwrap_or_else(|| "it stopped without a result".into())
    }

    pub fn poll(&self) -> Poll<T> {
        if let Some(t) = self.kept.lock().ok().and_then(|mut k| k.take()) {
            return Poll::Done(t);
        }
        match self.result.try_recv() {
            Ok(t) => Poll::Done(t),
            Err(TryRecvError::Empty) => Poll::Running,
            Err(TryRecvError::Disconnected) => Poll::Lost,
        }
    }

    /// Block until the job ends (scripted tests, and a quit that must not lose its result).
    pub fn wait(&self) -> Option<T> {
        if let Some(t) = self.kept.lock().ok().and_then(|mut k| k.take()) {
            return Some(t);
        }
        self.result.recv().ok()
    }

    /// Block until the job ends, leaving its result for `poll` (scripted tests).
    pub fn wait_end(&self) {
        if let (Ok(t), Ok(mut k)) = (self.result.recv(), self.kept.lock()) {
            *k = Some(t);
        }
    }

    /// How far the job says it got.
    pub fn done(&self) -> u64 {
        self.ctl.done.load(Ordering::Relaxed)
    }

    pub fn cancel(&self) {
        self.ctl.cancel.store(true, Ordering::Relaxed);
    }

    /// "label: stage 45%…", or without a percentage while the job cannot tell (the footer adds
    /// which job Esc cancels).
    pub fn line(&self) -> String {
        let (done, total) = (self.ctl.done.load(Ordering::Relaxed), self.ctl.total.load(Ordering::Relaxed));
        let stage = self.ctl.stage.lock().map(|s| s.clone()).unwrap_or_default();
        let stage = if stage.is_empty() { String::new() } else { format!(": {stage}") };
        let pct = (100 * done).checked_div(total).map(|p| format!(" {}%", p.min(100))).unwrap_or_default();
        format!("{}{stage}{pct}…", self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job hands back its result, says how far it got, and a cancelled one stops at its
    /// next check.
    #[test]
    fn a_job_reports_progress_and_stops_when_cancelled() {
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let job = Job::spawn("counting".into(), move |ctl| {
            ctl.progress(1, 4);
            wait.recv().unwrap();
            ctl.stage("checking");
            if ctl.cancelled() {
                return None;
            }
            Some(42)
        });
        // The progress line shows once the job has reported (it may not have yet).
        while job.ctl.done.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        assert!(matches!(job.poll(), Poll::Running));
        assert_eq!(job.line(), "counting 25%…");
        job.cancel();
        go.send(()).unwrap();
        assert_eq!(job.wait(), Some(None));
        let job = Job::spawn("x".into(), |_| 7);
        assert_eq!(job.wait(), Some(7));
        assert!(Job::spawn("later".into(), |_| 0).seq() > job.seq(), "a later job has a larger number");
        // A job that panics hands back nothing, and says so rather than hanging.
        let job = Job::spawn("p".into(), |_| -> i32 { panic!("a job's panic") });
        assert_eq!(job.wait(), None);
        assert!(matches!(job.poll(), Poll::Lost));
        assert_eq!(job.lost_because(), "a job's panic", "its message is kept for the status line");
        // A job nobody holds any more is told to stop.
        let (seen_tx, seen) = std::sync::mpsc::channel();
        let job = Job::spawn("orphan".into(), move |ctl| {
            while !ctl.cancelled() {
                std::thread::yield_now();
            }
            let _ = seen_tx.send(());
        });
        drop(job);
        seen.recv_timeout(std::time::Duration::from_secs(10)).expect("a dropped job went on running");
    }
}
