//! Forking a branch with edited rules, in two jobs. The re-run takes seconds on a long session:
//! Ctrl+S starts it, the footer shows how far it got, Esc cancels it. When it is done the branch
//! opens at once, usable, and its comparison with the parent runs as a second job: Esc then
//! stops only the comparison, never the branch already made.

use super::jobs::{Job, Poll};
use super::*;
use crate::reasoner::offline::Offline;
use crate::run::branch::{fork_point, fork_streamed, ForkEdit, Piece};
use crate::run::RunError;
use crate::store::timeline::{EventStore, DEFAULT_KEYFRAME_EVERY};

/// What a re-run hands back: the branch, and what comparing it with its parent needs.
pub struct Forked {
    header: Header,
    timeline: Timeline,
    compare: Comparison,
}

/// Both sides of a comparison, each a timeline of the job's own, starting from the state at the
/// fork point (the branch's first events are the parent's).
struct Comparison {
    parent: Timeline,
    branch: Timeline,
    parent_name: String,
    branch_name: String,
    point: u64,
}

/// A fork being re-run, and what opening it needs.
pub struct ForkJob {
    pub(super) job: Job<anyhow::Result<Forked>>,
    parent: usize,
    agent: String,
    at: u64,
}

/// A branch being compared with its parent; its diff lands in `branch` when done.
pub struct CompareJob {
    pub(super) job: Job<Option<String>>,
    pub(super) branch: usize,
}

impl App {
    /// Fork a branch at the current step with new rules for `agent`, re-run it (offline
    /// reasoner) and open the diff against the parent, waiting for the job (scripted use; the
    /// rule editor starts it with `start_fork` and the timer opens it).
    pub fn fork_with_rules(&mut self, agent: &str, rules: &str) -> anyhow::Result<()> {
        self.start_fork(agent, rules)?;
        self.finish_jobs()
    }

    /// Wait for the jobs under way and take their results as the timer would (scripted use).
    pub fn finish_jobs(&mut self) -> anyhow::Result<()> {
        while self.scanning() {
            self.wait_search();
            self.poll_search();
        }
        if self.stats_running() {
            self.wait_stats();
            self.poll_stats();
        }
        self.finish_save();
        let done = self.fork_job.as_ref().map(|f| f.job.wait());
        match done {
            None => {}
            Some(Some(result)) => self.open_fork(result)?,
            Some(None) => {
                self.fork_job = None;
                anyhow::bail!("the fork job stopped without a result")
            }
        }
        for c in &self.compare_jobs {
            c.job.wait_end();
        }
        self.poll_compares();
        Ok(())
    }

    /// Start re-running a fork at the current step in the background.
    pub fn start_fork(&mut self, agent: &str, rules: &str) -> anyhow::Result<()> {
        if self.fork_job.is_some() {
            anyhow::bail!("a fork is still being made: wait for it, or Esc cancels it");
        }
        let header = self.branch().header.clone().ok_or_else(|| anyhow::anyhow!("this session has no header to re-run from"))?;
        if !self.live_done() {
            // The parent must be complete to compare downstream; finish it first.
            self.ensure_events(u64::MAX / 4, true);
        }
        let at = self.cursor.pos.saturating_sub(1);
        let parent = self.branches.current;
        let parent_path = self.branch().parent_path.clone();
        let (parent_name, branch_name) = (self.branch().name.clone(), format!("branch {}", self.branches.len()));
        let edit = ForkEdit::Rules { agent: agent.to_string(), rules: rules.to_string() };
        // The state the re-run starts from is found here, where the keyframes are (a short
        // replay); the job reads the events through a handle of its own.
        let tl = &mut self.branches[parent].timeline;
        let point = fork_point(tl, at)?;
        let world = tl.state(point)?;
        let (store, total) = (tl.store.handle()?, tl.len());
        let job = Job::spawn(format!("forking at step {point}"), move |ctl| -> anyhow::Result<Forked> {
            let mut parent_tl = Timeline::new(store, 0);
            // The branch's first `point` events are the parent's: the same state starts both
            // sides of the comparison, which then replays only what follows the fork.
            let shared = world.clone();
            parent_tl.remember(world);
            let (mut branch, mut events) = (None, Vec::new());
            ctl.stage("re-running");
            fork_streamed(&header, &parent_path, &mut parent_tl, at, &edit, false, &mut Offline::new(), &mut |piece| {
                if ctl.cancelled() {
                    return Err(RunError::Interrupted("cancelled".into()));
                }
                match piece {
                    Piece::Header(h) => branch = Some(h.clone()),
                    Piece::Events(evs) => {
                        events.extend_from_slice(evs);
                        ctl.progress(events.len() as u64, total);
                    }
                }
                Ok(())
            })?;
            let header = branch.ok_or_else(|| anyhow::anyhow!("the fork made no branch"))?;
            // The comparison reads the branch through a timeline of its own, sharing its events.
            let mut timeline = Timeline::new(EventStore::memory(events), DEFAULT_KEYFRAME_EVERY);
            let mut compared = Timeline::new(timeline.store.handle()?, DEFAULT_KEYFRAME_EVERY);
            compared.remember(shared.clone());
            timeline.remember(shared);
            let compare = Comparison { parent: parent_tl, branch: compared, parent_name, branch_name, point };
            Ok(Forked { header, timeline, compare })
        });
        self.fork_job = Some(ForkJob { job, parent, agent: agent.to_string(), at });
        self.dirty = true;
        Ok(())
    }

    /// Esc while a fork is being re-run: it stops, and nothing is added.
    pub(super) fn cancel_fork(&mut self) -> bool {
        let Some(f) = self.fork_job.take() else { return false };
        f.job.cancel();
        self.status =
            format!("the fork of {} at step {} was cancelled: no branch was added", crate::util::text::sanitize(&self.branches[f.parent].name, 60), f.at);
        true
    }

    /// Esc while branch `i`'s comparison runs: it stops; the branch stays as it is.
    pub(super) fn cancel_compare(&mut self, seq: u64) -> bool {
        let Some(k) = self.compare_jobs.iter().position(|c| c.job.seq() == seq) else { return false };
        let c = self.compare_jobs.remove(k);
        c.job.cancel();
        let name = crate::util::text::sanitize(&self.branches[c.branch].name, 60);
        // What matters first (an 80-column footer cuts the rest): the branch is kept.
        self.status = format!("comparison stopped; {name} is kept (4 shows what each step changed)");
        if self.branches.current == c.branch && self.view == View::Diff {
            self.prepare_diff();
        }
        true
    }

    /// Whether branch `b`'s comparison with its parent is under way.
    pub(super) fn comparing(&self, b: usize) -> bool {
        self.compare_jobs.iter().any(|c| c.branch == b)
    }

    /// The timer's look at the fork job: opens the branch when its re-run is done. Whether one
    /// runs.
    pub(super) fn poll_fork(&mut self) -> bool {
        let Some(f) = &self.fork_job else { return false };
        let result = match f.job.poll() {
            Poll::Running => {
                // The footer shows its progress.
                self.dirty = true;
                return true;
            }
            Poll::Done(r) => r,
            Poll::Lost => Err(anyhow::anyhow!("the fork job stopped: {}", f.job.lost_because())),
        };
        if let Err(e) = self.open_fork(result) {
            self.status = crate::util::text::sanitize(&format!("{e:#}"), 200);
        }
        self.dirty = true;
        false
    }

    /// The timer's look at the comparisons: each finished diff goes to its branch. Whether one
    /// still runs.
    pub(super) fn poll_compares(&mut self) -> bool {
        let mut k = 0;
        while k < self.compare_jobs.len() {
            let c = &self.compare_jobs[k];
            let diff = match c.job.poll() {
                Poll::Running => {
                    k += 1;
                    continue;
                }
                Poll::Done(d) => d,
                Poll::Lost => {
                    self.status = crate::util::text::sanitize(&format!("comparing with the parent stopped: {}", c.job.lost_because()), 200);
                    None
                }
            };
            let c = self.compare_jobs.remove(k);
            self.branches[c.branch].diff = diff;
            if self.branches.current == c.branch && self.view == View::Diff {
                self.prepare_diff();
            }
        }
        self.dirty |= !self.compare_jobs.is_empty();
        !self.compare_jobs.is_empty()
    }

    /// Branch `gone` was deleted: comparisons of later branches follow their index down, and
    /// one of the deleted branch stops.
    pub(super) fn branch_deleted(&mut self, gone: usize) {
        self.compare_jobs.retain(|c| c.branch != gone);
        for c in &mut self.compare_jobs {
            if c.branch > gone {
                c.branch -= 1;
            }
        }
        self.save_branch_deleted(gone);
    }

    fn open_fork(&mut self, result: anyhow::Result<Forked>) -> anyhow::Result<()> {
        let Some(ForkJob { parent, agent, at, .. }) = self.fork_job.take() else { return Ok(()) };
        let Forked { header, timeline, compare } = result?;
        let fork_step = header.parent.as_ref().map(|p| p.fork_step).unwrap_or(0);
        let parent_path = self.branches[parent].parent_path.clone();
        // A fork re-runs whole time steps: the edit takes effect from the start of the one it
        // was made in, which the name says when that is earlier.
        let from = if fork_step < at { format!(", re-run from step {fork_step}, its time step's start") } else { String::new() };
        let name = format!("branch {} ({} edited at step {at}{from})", self.branches.len(), agent);
        let branch = self.branches.push(Branch {
            name: name.clone(),
            timeline,
            header: Some(header),
            parent_path,
            parent: Some((parent, fork_step)),
            live: None,
            diff: None,
            saved: None,
            unreadable: Default::default(),
        });
        self.compare_jobs.push(CompareJob { job: spawn_compare(compare), branch });
        // The branch opens at the event the user was on when forking: the edit inserted at the
        // fork step shifts every later event by one (`logical_pos`).
        let pos = self.branches.logical_pos(parent, branch, at + 1);
        self.stop_far_seek();
        self.branches.current = branch;
        self.forget_log_rows();
        self.cursor.world = World::new();
        self.cursor.tick = TickMessages::default();
        self.cursor.pos = 0;
        self.goto(pos);
        self.view = View::Diff;
        self.scroll.diff.top();
        self.prepare_diff();
        self.status = format!(
            "{name}: forked at step {fork_step} and re-run; comparing with the parent (Esc stops only that); {} lists branches (open, save)",
            self.keymap.key_for(Action::Branches)
        );
        Ok(())
    }
}

/// The comparison of a new branch with its parent, as a job; Esc stops its replays.
fn spawn_compare(c: Comparison) -> Job<Option<String>> {
    let Comparison { mut parent, mut branch, parent_name, branch_name, point } = c;
    let label = format!("comparing {} with {}", crate::util::text::sanitize(&branch_name, 30), crate::util::text::sanitize(&parent_name, 30));
    Job::spawn(label, move |ctl| {
        parent.stop_when(ctl.cancel_flag());
        branch.stop_when(ctl.cancel_flag());
        let report = crate::analysis::diff::diff_sessions_after(&parent_name, &branch_name, &mut parent, &mut branch, point).ok()?;
        (!ctl.cancelled()).then(|| crate::analysis::diff::render(&report, 40))
    })
}
