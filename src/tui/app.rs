//! The inspector's state and what actions do to it. No drawing here (see `views`), no terminal.

use super::keymap::{Action, Keymap};
use super::live::{Live, LiveMsg};
use crate::analysis::breakpoint::{self, Cond};
use crate::world::event::{Event, EventBody, Stage};
use crate::reasoner::offline::Offline;
use crate::store::session::Header;
use crate::store::timeline::{EventStore, Timeline};
use crate::world::World;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Inspect,
    Events,
    Metrics,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Agents,
    Log,
}

pub enum Popup {
    None,
    Help,
    Event(u64),
    Input { kind: InputKind, text: String, error: Option<String> },
    Rules { agent: String, editor: Box<TextArea<'static>>, error: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Search,
    Command,
    Breakpoint,
}

impl InputKind {
    pub fn title(self) -> &'static str {
        match self {
            InputKind::Search => "search agents and events (in the event log: filter it; empty clears)",
            InputKind::Command => "command: a step number, b EXPR (breakpoint), clear",
            InputKind::Breakpoint => "breakpoint, e.g. kind == filter_decision and agent == u7 and decision == reject",
        }
    }
}

pub struct Branch {
    pub name: String,
    pub timeline: Timeline,
    pub header: Option<Header>,
    pub parent_path: PathBuf,
    /// Parent branch and the step it forked at.
    pub parent: Option<(usize, u64)>,
    pub live: Option<Live>,
    /// Rendered diff against the parent (computed once, when the branch is made).
    pub diff: Option<String>,
}

/// Accepted / held / rejected and credit per time step, for the metrics view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickStats {
    pub tick: u64,
    pub accepted: u64,
    pub held: u64,
    pub rejected: u64,
    pub credit: f64,
}

pub const SPEEDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0];

/// A jump replaying more events than this goes a slice per tick (about a quarter second each).
pub const FAR_SEEK_EVENTS: u64 = 200_000;

pub struct App {
    pub keymap: Keymap,
    pub branches: Vec<Branch>,
    pub current: usize,
    /// Events applied: the world shown is the state after events 0..pos.
    pub pos: u64,
    pub world: World,
    /// The state at the start of the current time step (to highlight what this step changed).
    pub tick_start_world: World,
    pub tick_start: u64,
    pub selected: Option<String>,
    pub follow: bool,
    pub view: View,
    pub focus: Focus,
    pub popup: Popup,
    pub running: bool,
    pub speed_ix: usize,
    pub last_run_step: Instant,
    pub breakpoints: Vec<(String, Cond)>,
    pub bookmarks: BTreeSet<u64>,
    pub status: String,
    /// The target of a jump far from any known state, replayed a slice per tick so the inspector
    /// stays live (the shown step does not move until it arrives).
    pub far_seek: Option<u64>,
    /// Jumps replaying more events than this go through `far_seek`.
    pub far_seek_events: u64,
    /// The timeline's disk keyframes failed and the user was told (once).
    disk_warned: bool,
    pub log_cursor: u64,
    /// The event log shows only events whose kind or text contains this (set with / in the log).
    pub log_filter: String,
    pub quit: bool,
    pub dirty: bool,
    /// A forward step waiting for the live engine.
    pub pending_forward: u64,
    pub mono: bool,
    pub spinner: usize,
    stats_cache: Vec<TickStats>,
    stats_upto: u64,
    /// Steps where each time step starts, learned while scanning (for metrics and navigation).
    pub title: String,
}

impl App {
    pub fn new(title: String, branch: Branch, keymap: Keymap, mono: bool) -> App {
        let mut app = App {
            keymap,
            branches: vec![branch],
            current: 0,
            pos: 0,
            world: World::new(),
            tick_start_world: World::new(),
            tick_start: 0,
            selected: None,
            follow: true,
            view: View::Inspect,
            focus: Focus::Agents,
            popup: Popup::None,
            running: false,
            speed_ix: 3,
            last_run_step: Instant::now(),
            breakpoints: Vec::new(),
            bookmarks: BTreeSet::new(),
            status: String::new(),
            far_seek: None,
            far_seek_events: FAR_SEEK_EVENTS,
            disk_warned: false,
            log_cursor: 0,
            log_filter: String::new(),
            quit: false,
            dirty: true,
            pending_forward: 0,
            mono,
            spinner: 0,
            stats_cache: Vec::new(),
            stats_upto: 0,
            title,
        };
        app.ensure_events(4096, true);
        // Open paused at the first step of the simulation: everything set up, nothing run yet.
        let start = app.find_forward(0, |e| matches!(e.body, EventBody::RoundStarted { .. })).unwrap_or(app.len());
        app.goto(start);
        app.status = format!(
            "paused · {} one event forward · {} back · {} help · {} quit",
            app.keymap.key_for(Action::StepForward),
            app.keymap.key_for(Action::StepBack),
            app.keymap.key_for(Action::Help),
            app.keymap.key_for(Action::Quit)
        );
        app
    }

    pub fn branch(&self) -> &Branch {
        &self.branches[self.current]
    }
    fn branch_mut(&mut self) -> &mut Branch {
        &mut self.branches[self.current]
    }
    pub fn len(&self) -> u64 {
        self.branch().timeline.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn live_done(&self) -> bool {
        self.branch().live.as_ref().is_none_or(|l| l.done)
    }
    pub fn waiting(&self) -> bool {
        self.branch().live.as_ref().is_some_and(|l| l.requested)
    }
    pub fn event(&self, i: u64) -> Option<Event> {
        self.branch().timeline.store.get(i).ok()
    }
    /// The event that produced the shown state.
    pub fn current_event(&self) -> Option<Event> {
        self.pos.checked_sub(1).and_then(|i| self.event(i))
    }
    pub fn speed(&self) -> f64 {
        SPEEDS[self.speed_ix.min(SPEEDS.len() - 1)]
    }

    /// Take in what the live engine produced; ask for more while the log is short ahead of us.
    pub fn pump(&mut self) {
        let mut got = false;
        let msgs = match self.branch_mut().live.as_mut() {
            Some(l) => l.try_recv(),
            None => return,
        };
        for m in msgs {
            got |= self.take(m);
        }
        if got {
            self.dirty = true;
            self.resume_pending();
        }
        let ahead = self.len().saturating_sub(self.pos);
        if ahead < 2048 {
            if let Some(l) = self.branch_mut().live.as_mut() {
                l.request(4096);
            }
        }
    }

    fn take(&mut self, m: LiveMsg) -> bool {
        match m {
            LiveMsg::Events(evs) => {
                self.branch_mut().timeline.push(&evs);
                true
            }
            LiveMsg::Done => {
                self.status = "the run is complete".into();
                true
            }
            LiveMsg::Failed(e) => {
                self.status = crate::util::text::sanitize(&format!("the engine stopped: {e}"), 200);
                true
            }
        }
    }

    /// Make sure at least `n` events exist ahead of `pos` if the live run can produce them;
    /// `block` waits (used at start-up and by scripted tests).
    pub fn ensure_events(&mut self, n: u64, block: bool) {
        while self.len() < self.pos + n && !self.live_done() {
            let Some(live) = self.branch_mut().live.as_mut() else { return };
            live.request(4096);
            if !block {
                return;
            }
            match live.recv_blocking() {
                Some(m) => {
                    self.take(m);
                }
                None => return,
            }
        }
    }

    fn resume_pending(&mut self) {
        if self.pending_forward > 0 && self.pos < self.len() {
            let n = self.pending_forward.min(self.len() - self.pos);
            self.pending_forward = 0;
            let target = self.pos + n;
            self.goto(target);
        }
    }

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
            self.far_seek = None;
            self.goto(n);
        }
    }

    /// One slice of a far jump.
    fn continue_far_seek(&mut self) {
        let Some(target) = self.far_seek else { return };
        let distance = self.branch().timeline.replay_distance(target);
        let slice = (self.far_seek_events / 2).max(1);
        if distance <= slice {
            self.far_seek = None;
            self.goto(target);
            self.status = format!("arrived at step {}", target.saturating_sub(1));
            return;
        }
        let next = target - distance + slice;
        // Replaying lays keyframes and leaves the state cached: the next slice starts here.
        if let Err(e) = self.branch_mut().timeline.state(next) {
            self.far_seek = None;
            self.status = crate::util::text::sanitize(&format!("{e}"), 200);
        } else {
            let done = 100 * next / target.max(1);
            self.status = format!("replaying toward step {}: {done}% (Esc stops)", target.saturating_sub(1));
        }
        self.dirty = true;
    }

    /// Show the state after `n` events.
    pub fn goto(&mut self, n: u64) {
        let n = n.min(self.len());
        if n == self.pos && self.world.steps == n && n != 0 {
            return;
        }
        if n > self.pos && n - self.pos <= 4096 && self.world.steps == self.pos {
            let evs = self.branch().timeline.store.range(self.pos, n).unwrap_or_default();
            for e in &evs {
                if let Err(err) = self.world.apply(e) {
                    self.status = crate::util::text::sanitize(&format!("step {}: {err}", e.step), 200);
                    break;
                }
            }
        } else {
            match self.branch_mut().timeline.state(n) {
                Ok(w) => {
                    self.world = w;
                    if let (false, Some(e)) = (self.disk_warned, self.branch().timeline.disk_error()) {
                        self.status = crate::util::text::sanitize(&format!("keyframes cannot go to disk ({e}); seeks in this long session will be slower"), 200);
                        self.disk_warned = true;
                    }
                }
                Err(e) => {
                    self.status = crate::util::text::sanitize(&format!("{e}"), 200);
                    return;
                }
            }
        }
        self.pos = self.world.steps;
        self.refresh_tick_start();
        if self.follow {
            self.selected = self.follow_target();
        }
        self.log_cursor = self.pos.saturating_sub(1);
        self.dirty = true;
    }

    fn refresh_tick_start(&mut self) {
        let start = self
            .find_back(self.pos.saturating_sub(1), |e| matches!(e.body, EventBody::TickStarted { .. } | EventBody::RoundStarted { .. }))
            .unwrap_or(0);
        if start != self.tick_start || self.tick_start_world.steps != start {
            self.tick_start = start;
            if let Ok(w) = self.branch_mut().timeline.state(start) {
                self.tick_start_world = w;
            }
        }
    }

    /// The agent the story is about at this step: the current event's, or the latest before it
    /// (so the selection depends only on the step, not on how we got there).
    fn follow_target(&self) -> Option<String> {
        let mut i = self.pos;
        let mut budget = 400;
        while i > 0 && budget > 0 {
            i -= 1;
            budget -= 1;
            let e = self.event(i)?;
            let (agent, router, _) = crate::analysis::export::event_refs(&e);
            if let Some(a) = agent.filter(|a| self.world.client(a).is_some()).or(router) {
                return Some(a.to_string());
            }
        }
        self.world.clients.first().map(|c| c.id.clone())
    }

    /// First index ≥ from whose event satisfies `f`.
    pub fn find_forward(&self, from: u64, f: impl Fn(&Event) -> bool) -> Option<u64> {
        let store = &self.branch().timeline.store;
        let n = store.len();
        let mut i = from;
        while i < n {
            let chunk = store.range(i, (i + 512).min(n)).ok()?;
            for e in chunk {
                if f(&e) {
                    return Some(e.step);
                }
            }
            i += 512;
        }
        None
    }

    /// Last index ≤ from whose event satisfies `f`.
    pub fn find_back(&self, from: u64, f: impl Fn(&Event) -> bool) -> Option<u64> {
        let store = &self.branch().timeline.store;
        if store.is_empty() {
            return None;
        }
        let mut hi = from.min(store.len() - 1) + 1;
        while hi > 0 {
            let lo = hi.saturating_sub(512);
            let chunk = store.range(lo, hi).ok()?;
            for e in chunk.iter().rev() {
                if f(e) {
                    return Some(e.step);
                }
            }
            hi = lo;
        }
        None
    }

    fn forward_to(&mut self, f: impl Fn(&Event, &Event) -> bool) {
        let Some(cur) = self.current_event() else {
            self.step(1);
            return;
        };
        self.ensure_events(4096, false);
        match self.find_forward(self.pos, |e| f(&cur, e)) {
            Some(i) => self.goto(i + 1),
            None if !self.live_done() => {
                self.status = "waiting for the engine…".into();
            }
            None => {
                self.goto(self.len());
                self.status = "at the end of the run".into();
            }
        }
    }

    /// Back to the start of the current unit, or of the previous one when already at its start.
    fn back_to(&mut self, starts: impl Fn(&Event) -> bool) {
        if self.pos <= 1 {
            return;
        }
        let here = self.find_back(self.pos - 1, &starts);
        let target = match here {
            Some(i) if i + 1 < self.pos => Some(i),
            Some(i) if i > 0 => self.find_back(i - 1, &starts),
            _ => None,
        };
        self.goto(target.map(|i| i + 1).unwrap_or(1));
    }

    pub fn step(&mut self, n: i64) {
        if n >= 0 {
            let target = self.pos + n as u64;
            if target > self.len() {
                if self.live_done() {
                    self.goto(self.len());
                    self.status = "at the end of the run".into();
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
            self.goto(self.pos.saturating_sub(n.unsigned_abs()));
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        self.dirty = true;
        match &mut self.popup {
            Popup::Input { .. } => return self.on_input_key(key),
            Popup::Rules { .. } => return self.on_rules_key(key),
            _ => {}
        }
        let Some(action) = self.keymap.action(&key) else { return };
        if !matches!(self.popup, Popup::None) {
            match action {
                Action::Close | Action::Help => self.popup = Popup::None,
                Action::Quit => self.quit = true,
                _ => {}
            }
            return;
        }
        self.update(action);
    }

    pub fn update(&mut self, action: Action) {
        self.dirty = true;
        if let Some(target) = self.far_seek {
            if action == Action::Close || is_motion(action) {
                // Stopped, or overridden by another move; the keyframes laid so far stay.
                self.far_seek = None;
                if action == Action::Close {
                    self.status = format!("stopped replaying toward step {}; still at step {}", target.saturating_sub(1), self.pos.saturating_sub(1));
                    return;
                }
            }
        }
        if !matches!(action, Action::RunPause | Action::Faster | Action::Slower) && self.running && is_motion(action) {
            self.running = false;
        }
        match action {
            Action::StepForward => self.step(1),
            Action::StepBack => self.step(-1),
            Action::StageForward => self.forward_to(|cur, e| e.body.stage() != cur.body.stage()),
            Action::StageBack => {
                let stage = self.current_event().map(|e| e.body.stage());
                self.back_stage(stage);
            }
            Action::PhaseForward => self.forward_to(|cur, e| e.body.stage().phase() != cur.body.stage().phase()),
            Action::PhaseBack => {
                let phase = self.current_event().map(|e| e.body.stage().phase());
                self.back_phase(phase);
            }
            Action::TickForward => self.forward_to(|_, e| matches!(e.body, EventBody::TickStarted { .. })),
            Action::TickBack => self.back_to(|e| matches!(e.body, EventBody::TickStarted { .. })),
            Action::RoundForward => self.forward_to(|_, e| matches!(e.body, EventBody::RoundStarted { .. })),
            Action::RoundBack => self.back_to(|e| matches!(e.body, EventBody::RoundStarted { .. })),
            Action::First => self.jump(1),
            Action::Last => {
                self.jump(self.len());
                if !self.live_done() {
                    self.status = "the run goes on: the engine is producing more".into();
                }
            }
            Action::RunPause => {
                self.running = !self.running;
                self.last_run_step = Instant::now();
                self.status = if self.running { format!("running at {} events/s", self.speed()) } else { "paused".into() };
            }
            Action::Faster => {
                self.speed_ix = (self.speed_ix + 1).min(SPEEDS.len() - 1);
                self.status = format!("speed {} events/s", self.speed());
            }
            Action::Slower => {
                self.speed_ix = self.speed_ix.saturating_sub(1);
                self.status = format!("speed {} events/s", self.speed());
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                let delta: i64 = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -10,
                    _ => 10,
                };
                self.move_selection(delta);
            }
            Action::Open => {
                if self.view == View::Events || self.focus == Focus::Log {
                    self.popup = Popup::Event(self.log_cursor);
                } else if let Some(e) = self.current_event() {
                    self.popup = Popup::Event(e.step);
                }
            }
            Action::FocusNext | Action::FocusPrev => {
                self.focus = if self.focus == Focus::Agents { Focus::Log } else { Focus::Agents };
            }
            Action::ShowInspect => self.view = View::Inspect,
            Action::ShowEvents => self.view = View::Events,
            Action::ShowMetrics => self.view = View::Metrics,
            Action::ShowDiff => self.view = View::Diff,
            Action::Search => self.popup = Popup::Input { kind: InputKind::Search, text: String::new(), error: None },
            Action::Command => self.popup = Popup::Input { kind: InputKind::Command, text: String::new(), error: None },
            Action::AddBreakpoint => {
                self.popup = Popup::Input { kind: InputKind::Breakpoint, text: String::new(), error: None }
            }
            Action::EditRules => self.open_rule_editor(),
            Action::ToggleBookmark => {
                if !self.bookmarks.remove(&self.pos) {
                    self.bookmarks.insert(self.pos);
                    self.status = format!("bookmarked step {}", self.pos.saturating_sub(1));
                } else {
                    self.status = "bookmark removed".into();
                }
            }
            Action::NextBookmark => {
                let next = self.bookmarks.range(self.pos + 1..).next().or_else(|| self.bookmarks.iter().next()).copied();
                match next {
                    Some(b) => self.jump(b),
                    None => self.status = "no bookmarks (m sets one)".into(),
                }
            }
            Action::ToggleFollow => {
                self.follow = !self.follow;
                if self.follow {
                    self.selected = self.follow_target();
                }
                self.status = if self.follow { "selection follows the events".into() } else { "selection stays put".into() };
            }
            Action::NextBranch => {
                if self.branches.len() > 1 {
                    self.current = (self.current + 1) % self.branches.len();
                    let pos = self.pos.min(self.len());
                    self.pos = 0;
                    self.world = World::new();
                    self.goto(pos);
                    self.status = format!("branch {}", self.branch().name);
                } else {
                    self.status = "only one branch: edit a rule (e) to fork one".into();
                }
            }
            Action::Help => self.popup = Popup::Help,
            Action::Close => self.popup = Popup::None,
            Action::Quit => self.quit = true,
        }
    }

    fn back_stage(&mut self, stage: Option<Stage>) {
        let Some(stage) = stage else { return };
        // Start of the current run of this stage; if we are there, the start of the previous run.
        let start_of_run = |app: &App, from: u64, st: Stage| -> u64 {
            app.find_back(from, |e| e.body.stage() != st).map(|i| i + 1).unwrap_or(0)
        };
        let cur = self.pos.saturating_sub(1);
        let mut target = start_of_run(self, cur, stage);
        if target == cur && cur > 0 {
            let prev_stage = self.event(cur - 1).map(|e| e.body.stage()).unwrap_or(stage);
            target = start_of_run(self, cur - 1, prev_stage);
        }
        self.goto(target + 1);
    }

    fn back_phase(&mut self, phase: Option<&'static str>) {
        let Some(phase) = phase else { return };
        let cur = self.pos.saturating_sub(1);
        let start = |app: &App, from: u64, ph: &str| app.find_back(from, |e| e.body.stage().phase() != ph).map(|i| i + 1).unwrap_or(0);
        let mut target = start(self, cur, phase);
        if target == cur && cur > 0 {
            let prev = self.event(cur - 1).map(|e| e.body.stage().phase()).unwrap_or(phase);
            target = start(self, cur - 1, prev);
        }
        self.goto(target + 1);
    }

    fn move_selection(&mut self, delta: i64) {
        if self.view == View::Events || self.focus == Focus::Log {
            if !self.log_filter.is_empty() {
                for _ in 0..delta.unsigned_abs() {
                    let next = if delta > 0 {
                        self.find_forward(self.log_cursor + 1, |e| self.log_matches(e))
                    } else if self.log_cursor > 0 {
                        self.find_back(self.log_cursor - 1, |e| self.log_matches(e))
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
        let cur = self.selected.as_ref().and_then(|s| ids.iter().position(|x| x == s)).unwrap_or(0) as i64;
        let next = (cur + delta).clamp(0, ids.len() as i64 - 1) as usize;
        self.selected = Some(ids[next].clone());
        self.follow = false;
    }

    /// Does an event pass the log filter (kind, ids or narration containing it)?
    pub fn log_matches(&self, e: &Event) -> bool {
        if self.log_filter.is_empty() {
            return true;
        }
        let f = &self.log_filter;
        e.body.kind().contains(f.as_str())
            || crate::analysis::narrate::narrate(e, &self.world).to_lowercase().contains(f.as_str())
    }

    pub fn agent_order(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.world.clients.iter().filter(|c| c.kind == crate::world::event::ClientKind::User).map(|c| c.id.clone()).collect();
        v.extend(self.world.routers.iter().map(|r| r.id.clone()));
        v.extend(self.world.clients.iter().filter(|c| c.kind == crate::world::event::ClientKind::Item).map(|c| c.id.clone()));
        v
    }

    fn on_input_key(&mut self, key: KeyEvent) {
        let Popup::Input { kind, text, error } = &mut self.popup else { return };
        match key.code {
            KeyCode::Esc => self.popup = Popup::None,
            KeyCode::Backspace => {
                text.pop();
                *error = None;
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => self.popup = Popup::None,
            KeyCode::Char(c) => {
                if text.chars().count() < 400 {
                    text.push(c);
                }
                *error = None;
            }
            KeyCode::Enter => {
                let (kind, input) = (*kind, text.trim().to_string());
                match self.submit(kind, &input) {
                    Ok(()) => {
                        if matches!(self.popup, Popup::Input { .. }) {
                            self.popup = Popup::None;
                        }
                    }
                    Err(e) => {
                        if let Popup::Input { error, .. } = &mut self.popup {
                            *error = Some(e);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn submit(&mut self, kind: InputKind, input: &str) -> Result<(), String> {
        match kind {
            InputKind::Breakpoint => self.add_breakpoint(input),
            InputKind::Search if self.view == View::Events => {
                self.log_filter = input.to_lowercase();
                self.status = if input.is_empty() { "log filter cleared".into() } else { format!("log filtered by {}", crate::util::text::sanitize(input, 40)) };
                Ok(())
            }
            InputKind::Search => self.search(input),
            InputKind::Command => {
                if let Ok(n) = input.parse::<u64>() {
                    if n >= self.len() && self.live_done() {
                        return Err(format!("the last step is {}", self.len().saturating_sub(1)));
                    }
                    self.ensure_events(n + 1 - self.pos.min(n + 1), false);
                    self.jump(n + 1);
                    Ok(())
                } else if let Some(expr) = input.strip_prefix("b ") {
                    self.add_breakpoint(expr.trim())
                } else if input == "clear" {
                    self.breakpoints.clear();
                    self.status = "breakpoints cleared".into();
                    Ok(())
                } else if input == "help" {
                    self.popup = Popup::Help;
                    Ok(())
                } else if input == "q" || input == "quit" {
                    self.quit = true;
                    Ok(())
                } else {
                    Err("a step number, b EXPR, clear, help or q".into())
                }
            }
        }
    }

    pub fn add_breakpoint(&mut self, expr: &str) -> Result<(), String> {
        let c = breakpoint::parse(expr).map_err(|e| e.to_string())?;
        self.breakpoints.push((expr.to_string(), c));
        self.status = format!("breakpoint {} set: {}", self.breakpoints.len(), crate::util::text::sanitize(expr, 80));
        Ok(())
    }

    fn search(&mut self, q: &str) -> Result<(), String> {
        if q.is_empty() {
            return Err("type something to find".into());
        }
        let ql = q.to_lowercase();
        if let Some(c) = self.world.clients.iter().find(|c| {
            c.id.to_lowercase() == ql || c.title.as_ref().is_some_and(|t| t.to_lowercase().contains(&ql))
        }) {
            self.selected = Some(c.id.clone());
            self.follow = false;
            self.view = View::Inspect;
            self.status = format!("selected {}", c.id);
            return Ok(());
        }
        if let Some(r) = self.world.routers.iter().find(|r| r.id.to_lowercase() == ql) {
            self.selected = Some(r.id.clone());
            self.follow = false;
            return Ok(());
        }
        let found = self.find_forward(self.pos, |e| {
            e.body.kind().contains(&ql) || serde_json::to_string(&e.body).map(|s| s.to_lowercase().contains(&ql)).unwrap_or(false)
        });
        match found {
            Some(i) => {
                self.goto(i + 1);
                self.status = format!("found at step {i}");
                Ok(())
            }
            None => Err(format!("no agent or later event matches {}", crate::util::text::sanitize(q, 40))),
        }
    }

    fn open_rule_editor(&mut self) {
        let Some(id) = self.selected.clone() else {
            self.status = "select an agent first".into();
            return;
        };
        let Some(c) = self.world.client(&id) else {
            self.status = format!("{id} is a router: routers have no filter rules");
            return;
        };
        let lines: Vec<String> = c.rules_text.lines().map(|l| l.to_string()).collect();
        let editor = TextArea::new(lines);
        self.popup = Popup::Rules { agent: id, editor: Box::new(editor), error: None };
    }

    fn on_rules_key(&mut self, key: KeyEvent) {
        let Popup::Rules { agent, editor, error } = &mut self.popup else { return };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.popup = Popup::None,
            KeyCode::Char('s') if ctrl => {
                let text = editor.lines().join("\n") + "\n";
                match crate::rules::parse_rules(&text) {
                    Err(e) => *error = Some(format!("line {}:{}: {}", e.line, e.col, e.message)),
                    Ok(_) => {
                        let agent = agent.clone();
                        self.popup = Popup::None;
                        if let Err(e) = self.fork_with_rules(&agent, &text) {
                            self.status = crate::util::text::sanitize(&e, 200);
                        }
                    }
                }
            }
            _ => {
                editor.input(key);
                *error = None;
            }
        }
    }

    /// Fork a branch at the current step with new rules for `agent`, re-run it (offline
    /// reasoner), and open the diff against the parent.
    pub fn fork_with_rules(&mut self, agent: &str, rules: &str) -> Result<(), String> {
        let header = self.branch().header.clone().ok_or("this session has no header to re-run from")?;
        if !self.live_done() {
            // The parent must be complete to compare downstream; finish it first.
            self.ensure_events(u64::MAX / 4, true);
        }
        let at = self.pos.saturating_sub(1);
        let parent_path = self.branch().parent_path.clone();
        let edit = crate::run::branch::ForkEdit::Rules { agent: agent.to_string(), rules: rules.to_string() };
        let (branch_header, events) = {
            let tl = &mut self.branches[self.current].timeline;
            crate::run::branch::fork(&header, &parent_path, tl, at, &edit, &mut Offline::new()).map_err(|e| format!("{e:#}"))?
        };
        let fork_step = branch_header.parent.as_ref().map(|p| p.fork_step).unwrap_or(0);
        let mut tl = Timeline::new(EventStore::Memory(events), crate::store::timeline::DEFAULT_KEYFRAME_EVERY);
        let parent = self.current;
        let (parent_name, branch_name) = (self.branches[parent].name.clone(), format!("branch {}", self.branches.len()));
        let diff = {
            let ptl = &mut self.branches[parent].timeline;
            crate::analysis::diff::diff_sessions(&parent_name, &branch_name, ptl, &mut tl)
                .map(|r| crate::analysis::diff::render(&r, 40))
                .ok()
        };
        let name = format!("branch {} ({} edited at step {at})", self.branches.len(), agent);
        self.branches.push(Branch {
            name: name.clone(),
            timeline: tl,
            header: Some(branch_header),
            parent_path,
            parent: Some((parent, fork_step)),
            live: None,
            diff,
        });
        self.current = self.branches.len() - 1;
        let pos = self.pos;
        self.world = World::new();
        self.pos = 0;
        self.goto(pos);
        self.view = View::Diff;
        self.status = format!("{name}: forked at step {fork_step} and re-run; n switches branches");
        Ok(())
    }

    /// Timer work: run mode steps, live events. Returns how long the loop may sleep.
    pub fn on_tick(&mut self, now: Instant) -> Option<Duration> {
        self.pump();
        if self.far_seek.is_some() {
            self.continue_far_seek();
            return Some(Duration::ZERO);
        }
        if self.waiting() || self.pending_forward > 0 {
            self.spinner = self.spinner.wrapping_add(1);
            self.dirty = true;
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

    /// Advance up to `n` events in run mode, stopping at a breakpoint or the end.
    pub fn run_steps(&mut self, n: u64) {
        for _ in 0..n {
            if self.pos >= self.len() {
                if self.live_done() {
                    self.running = false;
                    self.status = "paused at the end of the run".into();
                } else {
                    self.ensure_events(1, false);
                }
                return;
            }
            let target = self.pos + 1;
            self.goto(target);
            if let Some(hit) = self.breakpoint_hit() {
                self.running = false;
                self.status = format!("breakpoint {hit} hit at step {}", self.pos - 1);
                return;
            }
        }
    }

    fn breakpoint_hit(&self) -> Option<usize> {
        if self.breakpoints.is_empty() {
            return None;
        }
        let ev = self.current_event()?;
        let json = serde_json::to_value(&ev).ok()?;
        self.breakpoints.iter().position(|(_, c)| breakpoint::matches(c, &ev, &json, &self.world)).map(|i| i + 1)
    }

    /// The per-tick statistics last prepared by `prepare_stats`.
    pub fn stats(&self) -> &[TickStats] {
        &self.stats_cache
    }

    /// Per-tick decision counts and credit up to the current step (scanned incrementally).
    pub fn prepare_stats(&mut self) -> &[TickStats] {
        if self.stats_upto > self.pos {
            self.stats_cache.clear();
            self.stats_upto = 0;
        }
        let evs = self.branch().timeline.store.range(self.stats_upto, self.pos).unwrap_or_default();
        for e in evs {
            if self.stats_cache.last().is_none_or(|s| s.tick != e.tick) {
                self.stats_cache.push(TickStats { tick: e.tick, ..TickStats::default() });
            }
            let s = self.stats_cache.last_mut().expect("pushed");
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
        self.stats_upto = self.pos;
        &self.stats_cache
    }
}

fn is_motion(a: Action) -> bool {
    use Action::*;
    matches!(
        a,
        StepForward | StepBack | StageForward | StageBack | PhaseForward | PhaseBack | TickForward | TickBack | RoundForward
            | RoundBack | First | Last
    )
}
