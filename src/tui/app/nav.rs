//! Moving through the session: jumps (far ones a slice per tick), steps by event, stage, phase,
//! time step and round, running, and the selection that follows the events.

use super::*;
use crate::analysis::breakpoint::{self};
use crate::store::timeline::EventStore;
use crate::store::StoreError;
use crate::world::event::{Event, EventBody, Stage};
use std::time::{Duration, Instant};

/// Events `from..to` of `store` up to the first line that cannot be read, and that line's step:
/// one bad line in a session file leaves what comes before it readable. Another failure (the
/// file gone) reads nothing.
pub(super) fn readable_range(store: &EventStore, from: u64, to: u64) -> (Vec<Event>, Option<u64>) {
    match store.range(from, to) {
        Ok(evs) => (evs, None),
        Err(e) => match unreadable_step(&e).filter(|bad| (from..to).contains(bad)) {
            Some(bad) => (store.range(from, bad).unwrap_or_default(), Some(bad)),
            None => (Vec::new(), None),
        },
    }
}

/// The step whose line a read error names (the header is line 1), or whose event the world
/// refused: either way the steps before it are all that can be shown.
fn unreadable_step(e: &StoreError) -> Option<u64> {
    match e {
        StoreError::Line { line, .. } => line.checked_sub(2),
        StoreError::Apply { step, .. } => Some(*step),
        _ => None,
    }
}

impl App {
    /// Go to the state after `n` events like `goto`, but when that means replaying a long
    /// stretch (a first jump deep into a huge session), do it a slice per tick with progress in
    /// the status line; Esc stops it.
    pub fn jump(&mut self, n: u64) {
        let n = n.min(self.len());
        if self.branch().timeline.replay_distance(n) > self.far_seek_events {
            self.far_seek = Some(n);
            self.status = format!("replaying toward step {}… (Esc stops)", n.saturating_sub(1));
            self.dirty = true;
        } else {
            self.stop_far_seek();
            self.goto(n);
        }
    }

    /// One slice of a far jump. Over a session file, the slices only parse and apply events
    /// (as `export --at` does); once the target is shown, its keyframes are laid on a thread of
    /// their own. Over a live run's log, the slices lay keyframes as they go.
    pub(super) fn continue_far_seek(&mut self) {
        let Some(target) = self.far_seek else { return };
        let slice = (self.far_seek_events / 2).max(1);
        if !self.branch().timeline.builds_in_background() {
            let distance = self.branch().timeline.replay_distance(target);
            if distance <= slice {
                self.arrive(target);
                return;
            }
            let next = target - distance + slice;
            // Replaying lays keyframes and leaves the state cached: the next slice starts here.
            match self.branch_mut().timeline.state(next) {
                Ok(_) => self.far_progress(next, target),
                Err(e) => self.far_failed(e, None),
            }
            return;
        }
        let current = self.branches.current;
        let world = match self.far_world.take().filter(|(b, w)| *b == current && w.steps() <= target) {
            Some((_, w)) => Ok(w),
            None => self.branch_mut().timeline.closest(target),
        };
        let mut world = match world {
            Ok(w) => w,
            Err(e) => return self.far_failed(e, None),
        };
        // The target's time step starts here: the screen compares the target with that state,
        // so it is kept on the way rather than replayed again from the start. So are a few states
        // closing in on the target (256 to 2048 events before it), so that stepping back
        // from it replays little while its keyframes are still being laid.
        let tick_start = match self.far_tick_start {
            Some((b, t, start)) if b == current && t == target => start,
            _ => {
                // Read back through the target's time step once (tens of thousands of events in
                // a big session), not at every slice.
                let start =
                    self.find_back(target.saturating_sub(1), |e| matches!(e.body, EventBody::TickStarted { .. } | EventBody::RoundStarted { .. })).unwrap_or(0);
                self.far_tick_start = Some((current, target, start));
                start
            }
        };
        let mut keep: Vec<u64> =
            std::iter::successors(Some(256u64), |d| d.checked_mul(2)).map_while(|d| target.checked_sub(d).filter(|s| *s > tick_start)).take(4).collect();
        keep.push(tick_start);
        let next = (world.steps() + slice).min(target);
        let mut stops: Vec<u64> = keep.into_iter().filter(|s| *s > world.steps() && *s <= next && *s < target).collect();
        stops.sort_unstable();
        for stop in stops {
            if let Err(e) = self.branch().timeline.advance(&mut world, stop) {
                return self.far_failed(e, Some(world));
            }
            self.branch_mut().timeline.remember(world.clone());
        }
        if let Err(e) = self.branch().timeline.advance(&mut world, next) {
            return self.far_failed(e, Some(world));
        }
        if next < target {
            self.far_world = Some((current, world));
            return self.far_progress(next, target);
        }
        let timeline = &mut self.branch_mut().timeline;
        timeline.remember(world);
        timeline.build_keyframes(target);
        self.arrive(target);
    }

    fn arrive(&mut self, target: u64) {
        self.far_seek = None;
        self.goto(target);
        self.status = format!("arrived at step {}", target.saturating_sub(1));
    }

    fn far_progress(&mut self, at: u64, target: u64) {
        let done = 100 * at / target.max(1);
        self.status = format!("replaying toward step {}: {done}% (Esc stops)", target.saturating_sub(1));
        self.dirty = true;
    }

    /// A far jump stopped by `e`; `reached` is the state it got to (whole chunks applied).
    fn far_failed(&mut self, e: StoreError, reached: Option<World>) {
        self.far_seek = None;
        if let Some(w) = reached {
            // Going as far as the lines allow replays from here, not from the start.
            self.branch_mut().timeline.remember(w);
        }
        self.stop_at_unreadable(e);
    }

    /// A move met a line that cannot be read (or failed otherwise): go as far as the lines before
    /// it allow, and say which line stopped it.
    fn stop_at_unreadable(&mut self, e: StoreError) {
        let said = match (&e, &self.branch().timeline.store) {
            // An event the world refuses is named by its file and line, as a line unread is.
            (StoreError::Apply { step, .. }, EventStore::File(f)) => format!("{}:{}: {e}", f.path.display(), step + 2),
            _ => format!("{e}"),
        };
        let said = crate::util::text::sanitize(&said, 200);
        self.dirty = true;
        let Some(bad) = unreadable_step(&e) else {
            self.status = said;
            return;
        };
        self.note_unreadable(bad);
        // Reading up to the bad line meets no other: it is the first in what was read.
        if bad > self.cursor.pos {
            self.goto(bad);
        }
        self.status = match bad.checked_sub(1) {
            Some(last) => format!("{said}; step {last} is the last that can be read"),
            None => format!("{said}; no event can be read"),
        };
    }

    /// Remember that step `step`'s line cannot be read (the earliest such line counts).
    pub(super) fn note_unreadable(&self, step: u64) {
        let known = &self.branch().unreadable;
        known.set(Some(known.get().map_or(step, |s| s.min(step))));
    }

    /// Events `from..to` of the shown branch up to the first line that cannot be read (noted).
    pub(super) fn readable(&self, from: u64, to: u64) -> Vec<Event> {
        let (evs, bad) = readable_range(&self.branch().timeline.store, from, to);
        if let Some(bad) = bad {
            self.note_unreadable(bad);
        }
        evs
    }

    /// Stop a far jump where it got to: that state is kept, so the next jump goes on from it.
    pub(super) fn stop_far_seek(&mut self) {
        self.far_seek = None;
        if let Some((b, w)) = self.far_world.take() {
            if let Some(branch) = self.branches.get_mut(b) {
                branch.timeline.remember(w);
            }
        }
    }

    /// Show the state after `n` events.
    pub fn goto(&mut self, n: u64) {
        let n = n.min(self.len());
        if n == self.cursor.pos && self.cursor.world.steps() == n && n != 0 {
            return;
        }
        let mut refused = None;
        if n > self.cursor.pos && n - self.cursor.pos <= 4096 && self.cursor.world.steps() == self.cursor.pos {
            // A line that cannot be read is shown (FILE:LINE), not taken for "no events".
            let evs = match self.branch().timeline.store.range(self.cursor.pos, n) {
                Ok(evs) => evs,
                Err(e) => return self.stop_at_unreadable(e),
            };
            for e in &evs {
                if let Err(error) = self.cursor.world.apply(e) {
                    refused = Some(StoreError::Apply { step: e.step, error });
                    break;
                }
            }
        } else {
            match self.branch_mut().timeline.state(n) {
                Ok(w) => {
                    self.cursor.world = w;
                    if let (false, Some(e)) = (self.disk_warned, self.branch().timeline.disk_error()) {
                        self.status =
                            crate::util::text::sanitize(&format!("keyframes cannot go to disk ({e}); seeks in this long session will be slower"), 200);
                        self.disk_warned = true;
                    }
                }
                Err(e) => return self.stop_at_unreadable(e),
            }
        }
        self.cursor.pos = self.cursor.world.steps();
        self.refresh_tick_start();
        self.refresh_tick_messages();
        if self.cursor.follow {
            self.follow_now();
        }
        self.log_cursor = self.cursor.pos.saturating_sub(1);
        if !self.log_filter.is_empty() && self.view == View::Events {
            // A short scan: this runs at every step while running.
            self.snap_log_cursor_within(4096);
        }
        if self.view == View::Diff {
            self.prepare_diff();
        }
        self.dirty = true;
        // Shown where it stopped, like a line that cannot be read (the world kept what came before).
        if let Some(e) = refused {
            self.stop_at_unreadable(e);
        }
    }

    pub(super) fn refresh_tick_start(&mut self) {
        let start = self
            .find_back(self.cursor.pos.saturating_sub(1), |e| matches!(e.body, EventBody::TickStarted { .. } | EventBody::RoundStarted { .. }))
            .unwrap_or(0);
        if start != self.cursor.tick_start || self.cursor.tick_start_world.steps() != start {
            self.cursor.tick_start = start;
            if let Ok(w) = self.branch_mut().timeline.state(start) {
                self.cursor.tick_start_world = w;
            }
        }
    }

    /// Bring the time step's messages up to `pos`: only the new events when moving forward within
    /// the same time step, else the time step read again.
    pub(super) fn refresh_tick_messages(&mut self) {
        let (branch, start, pos) = (self.branches.current, self.cursor.tick_start, self.cursor.pos);
        let from = match self.cursor.tick.resume_from(branch, start, pos) {
            Some(from) => from,
            None => {
                self.cursor.tick.clear(branch, start);
                start
            }
        };
        if from < pos {
            let evs = self.readable(from, pos);
            self.cursor.tick.extend(&evs, pos);
        }
    }

    /// Select what the story is about at this step, and bring the rule it concerns (a decision,
    /// reward, credit, gradient or edit) into the rules pane.
    pub(super) fn follow_now(&mut self) {
        let target = self.follow_target();
        self.select(target);
        let rule = self.current_event().and_then(|e| crate::analysis::export::event_rule(&e).map(|(a, r)| (a.to_string(), r)));
        if let Some((agent, r)) = rule {
            if self.cursor.selected.as_deref() == Some(agent.as_str()) {
                // Line 0 of the pane is its header: rule r is line r.
                self.scroll.rules.show(r);
            }
        }
    }

    /// The agent the story is about at this step: the current event's, or the latest before it
    /// (so the selection depends only on the step, not on how we got there).
    pub(super) fn follow_target(&self) -> Option<String> {
        let mut i = self.cursor.pos;
        let mut budget = 400;
        while i > 0 && budget > 0 {
            i -= 1;
            budget -= 1;
            let e = self.event(i)?;
            let (agent, router, _) = crate::analysis::export::event_refs(&e);
            if let Some(a) = agent.filter(|a| self.cursor.world.client(a).is_some()).or(router) {
                return Some(a.to_string());
            }
        }
        self.cursor.world.clients().first().map(|c| c.id.clone())
    }

    /// With a log filter, put the cursor on a row the filter shows: the nearest match at or
    /// before it, else after it (scans bounded, so a rare match in a huge session stays fast).
    /// Whether the cursor is on a shown row.
    pub(super) fn snap_log_cursor(&mut self) -> bool {
        self.snap_log_cursor_within(50_000)
    }

    fn snap_log_cursor_within(&mut self, near: u64) -> bool {
        if self.is_empty() {
            return false;
        }
        self.log_cursor = self.log_cursor.min(self.len() - 1);
        if self.log_filter.is_empty() {
            return true;
        }
        let c = self.log_cursor;
        let found = self.log_match(c, false).filter(|i| c - i <= near).or_else(|| self.log_match(c, true).filter(|i| i - c <= near));
        match found {
            Some(i) => {
                self.log_cursor = i;
                true
            }
            None => false,
        }
    }

    pub(super) fn forward_to(&mut self, f: impl Fn(&Event, &Event) -> bool) {
        let Some(cur) = self.current_event() else {
            self.step(1);
            return;
        };
        self.ensure_events(4096, false);
        match self.find_forward(self.cursor.pos, |e| f(&cur, e)) {
            Some(i) => self.goto(i + 1),
            None if !self.live_done() => {
                self.status = "waiting for the engine…".into();
            }
            None => {
                self.goto(self.len());
                self.status = self.end_status("at the end of the run");
            }
        }
    }

    /// Back to the start of the current unit, or of the previous one when already at its start.
    pub(super) fn back_to(&mut self, starts: impl Fn(&Event) -> bool) {
        if self.cursor.pos <= 1 {
            return;
        }
        let here = self.find_back(self.cursor.pos - 1, &starts);
        let target = match here {
            Some(i) if i + 1 < self.cursor.pos => Some(i),
            Some(i) if i > 0 => self.find_back(i - 1, &starts),
            _ => None,
        };
        self.goto(target.map(|i| i + 1).unwrap_or(1));
    }

    pub fn step(&mut self, n: i64) {
        if n >= 0 {
            let target = self.cursor.pos + n as u64;
            if target > self.len() {
                if self.live_done() {
                    self.goto(self.len());
                    self.status = self.end_status("at the end of the run");
                } else {
                    self.pending_forward += target - self.len();
                    self.ensure_events(1, false);
                    self.status = "waiting for the engine…".into();
                    self.goto(self.len());
                }
            } else {
                self.goto(target);
            }
        } else {
            // The first event (step 0) is as far back as the story goes: the empty world before
            // it would show "step 0" a second time with nothing to say.
            let first = 1.min(self.len());
            let target = self.cursor.pos.saturating_sub(n.unsigned_abs()).max(first);
            if target == self.cursor.pos {
                self.status = "at the first event (step 0)".into();
            }
            self.goto(target);
        }
    }

    pub(super) fn back_stage(&mut self, stage: Option<Stage>) {
        let Some(stage) = stage else { return };
        // Start of the current run of this stage; if we are there, the start of the previous run.
        let start_of_run = |app: &App, from: u64, st: Stage| -> u64 { app.find_back(from, |e| e.body.stage() != st).map(|i| i + 1).unwrap_or(0) };
        let cur = self.cursor.pos.saturating_sub(1);
        let mut target = start_of_run(self, cur, stage);
        if target == cur && cur > 0 {
            let prev_stage = self.event(cur - 1).map(|e| e.body.stage()).unwrap_or(stage);
            target = start_of_run(self, cur - 1, prev_stage);
        }
        self.goto(target + 1);
    }

    pub(super) fn back_phase(&mut self, phase: Option<&'static str>) {
        let Some(phase) = phase else { return };
        let cur = self.cursor.pos.saturating_sub(1);
        let start = |app: &App, from: u64, ph: &str| app.find_back(from, |e| e.body.stage().phase() != ph).map(|i| i + 1).unwrap_or(0);
        let mut target = start(self, cur, phase);
        if target == cur && cur > 0 {
            let prev = self.event(cur - 1).map(|e| e.body.stage().phase()).unwrap_or(phase);
            target = start(self, cur - 1, prev);
        }
        self.goto(target + 1);
    }

    pub(super) fn move_selection(&mut self, delta: i64) {
        if self.view == View::Events {
            if !self.log_filter.is_empty() {
                for _ in 0..delta.unsigned_abs() {
                    let next = if delta > 0 {
                        self.log_match(self.log_cursor + 1, true)
                    } else if self.log_cursor > 0 {
                        self.log_match(self.log_cursor - 1, false)
                    } else {
                        None
                    };
                    match next {
                        Some(i) => self.log_cursor = i,
                        None => break,
                    }
                }
                return;
            }
            let max = self.len().saturating_sub(1) as i64;
            self.log_cursor = (self.log_cursor as i64 + delta).clamp(0, max) as u64;
            return;
        }
        // Agents: users, routers, items in display order.
        let ids = self.agent_order();
        if ids.is_empty() {
            return;
        }
        let cur = self.cursor.selected.as_ref().and_then(|s| ids.iter().position(|x| x == s)).unwrap_or(0) as i64;
        let next = (cur + delta).clamp(0, ids.len() as i64 - 1) as usize;
        self.select(Some(ids[next].clone()));
        self.cursor.follow = false;
    }

    /// Home/End where a selection moves: the first/last (matching) event of the log, or the
    /// first/last agent.
    pub(super) fn selection_to_end(&mut self, last: bool) {
        if self.view == View::Events {
            let len = self.len();
            if len == 0 {
                return;
            }
            let found = if last { self.log_match(len - 1, false) } else { self.log_match(0, true) };
            if let Some(i) = found {
                self.log_cursor = i;
            }
            return;
        }
        let ids = self.agent_order();
        let pick = if last { ids.last() } else { ids.first() };
        if let Some(id) = pick.cloned() {
            self.select(Some(id));
            self.cursor.follow = false;
        }
    }

    /// Change the selected agent; its panes start again at the top.
    pub(super) fn select(&mut self, id: Option<String>) {
        if id != self.cursor.selected {
            self.scroll.detail.top();
            self.scroll.buffer.top();
            self.scroll.rules.top();
            self.cursor.selected = id;
        }
    }

    /// Timer work: jobs, run mode steps, live events. Returns how long the loop may sleep.
    pub fn on_tick(&mut self, now: Instant) -> Option<Duration> {
        // A job under way: look again soon (its progress line moves, its result opens).
        const JOB_POLL: Duration = Duration::from_millis(100);
        // Comparisons before the fork: one the fork starts now is looked at from the next tick.
        let busy = self.poll_compares() | self.poll_fork() | self.poll_save() | self.poll_search() | self.poll_stats();
        let wait = self.timers(now);
        if busy {
            return Some(wait.map_or(JOB_POLL, |w| w.min(JOB_POLL)));
        }
        wait
    }

    fn timers(&mut self, now: Instant) -> Option<Duration> {
        self.pump();
        self.expire_status(now);
        if self.far_seek.is_some() {
            self.continue_far_seek();
            return Some(Duration::ZERO);
        }
        if self.to_the_end {
            self.follow_to_the_end();
            return Some(Duration::from_millis(50));
        }
        if self.waiting() || self.pending_forward > 0 {
            self.spinner = self.spinner.wrapping_add(1);
            self.dirty = true;
        }
        if self.running && self.tick_pace {
            let every = Duration::from_secs(1);
            let due = now.saturating_duration_since(self.last_run_step);
            if due >= every {
                self.last_run_step = now;
                self.run_tick();
            }
            return Some((every - due.min(every)).max(Duration::from_millis(20)));
        }
        if self.running {
            let every = Duration::from_secs_f64(1.0 / self.speed());
            let due = now.saturating_duration_since(self.last_run_step);
            if due >= every {
                let n = ((due.as_secs_f64() * self.speed()) as u64).clamp(1, 200);
                self.last_run_step = now;
                self.run_steps(n);
            }
            return Some(every.min(Duration::from_millis(100)));
        }
        if self.waiting() || self.pending_forward > 0 {
            return Some(Duration::from_millis(80));
        }
        None
    }

    /// Advance up to `n` events in run mode, stopping at a breakpoint, a tour stop or the end.
    pub fn run_steps(&mut self, n: u64) {
        for _ in 0..n {
            if !self.run_one() {
                return;
            }
        }
    }

    /// Lecture pace: run to the start of the next time step (stops as `run_steps` does).
    pub fn run_tick(&mut self) {
        while self.run_one() {
            if self.current_event().is_some_and(|e| matches!(e.body, EventBody::TickStarted { .. })) {
                return;
            }
        }
    }

    /// One event forward in run mode; false when the run stopped or must wait for the engine.
    fn run_one(&mut self) -> bool {
        if self.cursor.pos >= self.len() {
            if self.live_done() {
                self.running = false;
                self.status = self.end_status("paused at the end of the run");
                // Nothing moved, so nothing else asks for a frame: without this the screen
                // kept "▶ running" and the old message.
                self.dirty = true;
            } else {
                self.ensure_events(1, false);
            }
            return false;
        }
        let target = self.cursor.pos + 1;
        self.goto(target);
        if let Some(hit) = self.breakpoint_hit() {
            self.running = false;
            self.dirty = true;
            self.status = format!("breakpoint {hit} hit at step {}", self.cursor.pos - 1);
            return false;
        }
        !self.tour_stop()
    }

    /// With the tour on: pause with its panel at the first occurrence of a mechanism.
    pub(super) fn tour_stop(&mut self) -> bool {
        let Some(e) = self.current_event() else { return false };
        let Some(tour) = self.tour.as_mut() else { return false };
        let Some(i) = tour.stop_at(&e) else { return false };
        tour.showing = Some(i);
        // Past the opening panel, however it was left (Space, Esc, or stepping by hand).
        tour.intro = false;
        let seen = tour.seen.iter().filter(|s| **s).count();
        self.running = false;
        self.popup = Popup::Tour;
        self.status = format!("tour: {} ({seen} of {})", crate::tui::tour::STOPS[i].name, crate::tui::tour::STOPS.len());
        true
    }

    pub(super) fn breakpoint_hit(&self) -> Option<usize> {
        let ev = self.current_event()?;
        self.hit_of(&ev)
    }

    /// The first enabled breakpoint (1-based) that `ev` satisfies. Agent kinds are looked up in
    /// the shown world: an agent's kind never changes, so any step's world answers alike.
    fn hit_of(&self, ev: &Event) -> Option<usize> {
        if !self.breakpoints.iter().any(|b| b.enabled) {
            return None;
        }
        let json = serde_json::to_value(ev).ok()?;
        self.breakpoints.iter().position(|b| b.enabled && breakpoint::matches(&b.cond, ev, &json, &self.cursor.world)).map(|i| i + 1)
    }

    /// Run backward: the latest event before the shown one that an enabled breakpoint stops at.
    pub(super) fn previous_hit(&mut self) {
        if !self.breakpoints.iter().any(|b| b.enabled) {
            self.status = format!("no enabled breakpoints ({} adds one)", self.keymap.key_for(crate::tui::keymap::Action::AddBreakpoint));
            return;
        }
        self.running = false;
        let found = match self.cursor.pos.checked_sub(2) {
            Some(from) => self.find_back(from, |e| self.hit_of(e).is_some()),
            None => None,
        };
        match found.and_then(|i| Some((i, self.event(i).and_then(|e| self.hit_of(&e))?))) {
            Some((i, hit)) => {
                self.goto(i + 1);
                self.status = format!("breakpoint {hit} hit at step {i} (running backward)");
            }
            None => self.status = "no earlier breakpoint hit: still here".into(),
        }
    }
}
