//! Forking a branch with edited rules. The re-run and its diff against the parent take seconds
//! on a long session, so they are a job: Ctrl+S starts it, the footer shows how far it got, Esc
//! cancels it, and the branch opens when it is done.

use super::jobs::{Job, Poll};
use super::*;
use crate::reasoner::offline::Offline;
use crate::run::branch::{fork_point, fork_streamed, ForkEdit, Piece};
use crate::run::RunError;
use crate::store::timeline::{EventStore, DEFAULT_KEYFRAME_EVERY};

/// What a fork job hands back: the branch, made and diffed.
pub struct Forked {
    header: Header,
    timeline: Timeline,
    diff: Option<String>,
}

/// A fork being made, and what opening it needs.
pub struct ForkJob {
    job: Job<anyhow::Result<Forked>>,
    parent: usize,
    agent: String,
    at: u64,
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
        let done = self.fork_job.as_ref().map(|f| f.job.wait());
        match done {
            None => Ok(()),
            Some(Some(result)) => self.open_fork(result),
            Some(None) => {
                self.fork_job = None;
                anyhow::bail!("the fork job stopped without a result")
            }
        }
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
        let at = self.pos.saturating_sub(1);
        let parent = self.current;
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
            let mut timeline = Timeline::new(EventStore::Memory(events), DEFAULT_KEYFRAME_EVERY);
            timeline.remember(shared);
            ctl.stage("comparing with the parent");
            let diff = crate::analysis::diff::diff_sessions_after(&parent_name, &branch_name, &mut parent_tl, &mut timeline, point)
                .map(|r| crate::analysis::diff::render(&r, 40))
                .ok();
            Ok(Forked { header, timeline, diff })
        });
        self.fork_job = Some(ForkJob { job, parent, agent: agent.to_string(), at });
        self.dirty = true;
        Ok(())
    }

    /// Esc while a fork is being made: it stops, and nothing is added.
    pub(super) fn cancel_fork(&mut self) -> bool {
        let Some(f) = self.fork_job.take() else { return false };
        f.job.cancel();
        self.status =
            format!("the fork of {} at step {} was cancelled: no branch was added", crate::util::text::sanitize(&self.branches[f.parent].name, 60), f.at);
        true
    }

    /// The timer's look at the fork job: opens the branch when it is done. Whether one runs.
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

    /// The progress line of the job under way, if any (the footer shows it instead of the status).
    pub fn job_line(&self) -> Option<String> {
        self.fork_job.as_ref().map(|f| f.job.line()).or_else(|| self.search_line()).or_else(|| self.stats_line())
    }

    fn open_fork(&mut self, result: anyhow::Result<Forked>) -> anyhow::Result<()> {
        let Some(ForkJob { parent, agent, at, .. }) = self.fork_job.take() else { return Ok(()) };
        let Forked { header, timeline, diff } = result?;
        let fork_step = header.parent.as_ref().map(|p| p.fork_step).unwrap_or(0);
        let parent_path = self.branches[parent].parent_path.clone();
        let name = format!("branch {} ({} edited at step {at})", self.branches.len(), agent);
        self.branches.push(Branch {
            name: name.clone(),
            timeline,
            header: Some(header),
            parent_path,
            parent: Some((parent, fork_step)),
            live: None,
            diff,
            saved: None,
        });
        // The branch opens at the step the user was on when forking.
        let pos = at + 1;
        self.stop_far_seek();
        self.current = self.branches.len() - 1;
        self.world = World::new();
        self.tick = TickMessages::default();
        self.pos = 0;
        self.goto(pos);
        self.view = View::Diff;
        self.scroll.diff.top();
        self.prepare_diff();
        self.status = format!("{name}: forked at step {fork_step} and re-run; {} lists branches (open, save)", self.keymap.key_for(Action::Branches));
        Ok(())
    }
}
