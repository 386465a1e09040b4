//! Per time step statistics for the metrics view and the model's accounting, computed up to the
//! current step and cached. A long stretch (a first look at the metrics deep into a long
//! session) is counted by a job; the view shows what was counted until it is done.

use super::jobs::{Job, JobCtl, Poll};
use super::*;
use crate::reasoner::accounting::Accounting;
use crate::store::timeline::EventStore;
use crate::world::event::EventBody;

/// The statistics up to a step: what the cache holds, and what a job hands back.
#[derive(Clone, Default)]
pub struct Stats {
    pub ticks: Vec<TickStats>,
    pub accounting: Accounting,
    pub upto: u64,
}

/// A count under way: of which branch, and up to where.
pub struct StatsJob {
    pub(super) job: Job<Option<Stats>>,
    branch: usize,
    upto: u64,
}

impl Stats {
    /// Count events `self.upto..to` of `store` in, a chunk at a time; `None` if cancelled.
    fn extend(mut self, store: &EventStore, to: u64, ctl: Option<&JobCtl>) -> Option<Self> {
        let from = self.upto;
        while self.upto < to {
            if ctl.is_some_and(|c| c.cancelled()) {
                return None;
            }
            // Up to a line that cannot be read: the count ends there.
            let evs = super::nav::readable_range(store, self.upto, (self.upto + 4096).min(to)).0;
            if evs.is_empty() {
                break;
            }
            for e in &evs {
                self.observe(e);
            }
            self.upto += evs.len() as u64;
            if let Some(c) = ctl {
                c.progress(self.upto - from, to - from);
            }
        }
        Some(self)
    }

    fn observe(&mut self, e: &Event) {
        if self.ticks.last().is_none_or(|s| s.tick != e.tick) {
            self.ticks.push(TickStats { tick: e.tick, ..TickStats::default() });
        }
        self.accounting.observe(&e.body);
        let s = self.ticks.last_mut().expect("pushed");
        match &e.body {
            EventBody::FilterDecision { decision, .. } => match decision {
                crate::world::event::Decision::Accept => s.accepted += 1,
                crate::world::event::Decision::Hold => s.held += 1,
                crate::world::event::Decision::Reject => s.rejected += 1,
            },
            EventBody::CreditAssigned { shares, .. } => s.credit += shares.iter().map(|x| x.amount).sum::<f64>(),
            _ => {}
        }
    }
}

impl App {
    /// The per-tick statistics last prepared by `prepare_stats`.
    pub fn stats(&self) -> &[TickStats] {
        &self.stats.ticks
    }

    /// The model's calls per stage up to the step last prepared (as `recnet run` summarises them).
    pub fn accounting(&self) -> &Accounting {
        &self.stats.accounting
    }

    /// Per-tick decision counts and credit, and the model's accounting, up to the current step
    /// (counted incrementally; a long stretch by a job, which `poll_stats` takes in).
    pub fn prepare_stats(&mut self) -> &[TickStats] {
        if self.stats.upto > self.cursor.pos || self.stats_branch != self.branches.current {
            self.stats = Stats::default();
            self.stats_branch = self.branches.current;
            self.drop_stats_job();
        }
        let (pos, current) = (self.cursor.pos, self.branches.current);
        if self.stats_lost == Some((current, pos)) {
            return &self.stats.ticks;
        }
        if self.stats_job.as_ref().is_some_and(|j| j.branch == current && j.upto <= pos) {
            // Counting toward here already: the rest is counted when it is in.
            return &self.stats.ticks;
        }
        // A count toward a step behind us (or of another branch) is of no use now.
        self.drop_stats_job();
        let store = &self.branches[current].timeline.store;
        if pos - self.stats.upto <= self.scan_at_once {
            let counted = std::mem::take(&mut self.stats).extend(store, pos, None).expect("not cancellable");
            self.stats = counted;
            return &self.stats.ticks;
        }
        if let Ok(store) = store.handle() {
            let start = self.stats.clone();
            let job = Job::spawn(format!("counting the metrics up to step {}", pos.saturating_sub(1)), move |ctl| start.extend(&store, pos, Some(ctl)));
            self.stats_job = Some(StatsJob { job, branch: current, upto: pos });
        }
        &self.stats.ticks
    }

    fn drop_stats_job(&mut self) {
        if let Some(j) = self.stats_job.take() {
            j.job.cancel();
        }
    }

    /// The timer's look at a count under way: takes it in when done. Whether one runs.
    pub(super) fn poll_stats(&mut self) -> bool {
        let Some(j) = &self.stats_job else { return false };
        match j.job.poll() {
            Poll::Running => {
                self.dirty = true;
                return true;
            }
            Poll::Done(Some(stats)) if j.branch == self.branches.current && j.upto <= self.cursor.pos => {
                self.stats = stats;
                self.stats_branch = j.branch;
            }
            Poll::Lost => {
                self.status = crate::util::text::sanitize(&format!("counting the metrics stopped: {}", j.job.lost_because()), 200);
                self.stats_lost = Some((j.branch, j.upto));
            }
            Poll::Done(_) => {}
        }
        self.stats_job = None;
        self.dirty = true;
        false
    }

    /// Esc during a count: it stops; the metrics show what was counted before.
    pub(super) fn stop_stats(&mut self) -> bool {
        let Some(j) = self.stats_job.take() else { return false };
        j.job.cancel();
        self.status = format!("stopped counting; the metrics go up to step {}", self.stats.upto.saturating_sub(1));
        true
    }

    pub(super) fn stats_running(&self) -> bool {
        self.stats_job.is_some()
    }

    /// Block until the count under way ends (scripted use: `finish_jobs`).
    pub(super) fn wait_stats(&self) {
        if let Some(j) = &self.stats_job {
            j.job.wait_end();
        }
    }
}
