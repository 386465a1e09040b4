//! The inspector's state and what actions do to it. No drawing here (see `views`), no terminal.

mod branches;
mod cursor;
mod diffview;
mod find;
mod fork;
mod input;
mod jobs;
mod log;
mod nav;
mod popups;
mod running;
mod save;
mod search;

pub use log::{LogRows, LOG_ROWS};
pub use running::{ESC_MARK, JOB_SEPARATOR};
pub use search::{Search, SEARCH_AT_ONCE};
mod stats;
mod tick;

pub use branches::Branches;
pub use cursor::Cursor;
pub use tick::{Delivery, TickMessages};

use super::keymap::{Action, Keymap};
use super::live::{Live, LiveMsg};
use crate::analysis::breakpoint::Cond;
use crate::store::session::Header;
use crate::store::timeline::Timeline;
use crate::world::event::{Event, EventBody};
use crate::world::World;
use ratatui_textarea::TextArea;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Inspect,
    Events,
    Metrics,
    Diff,
}

/// The pane of the inspect view that the scrolling keys act on (Tab cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Agents,
    Detail,
    Buffer,
    Rules,
}

impl Focus {
    pub const ORDER: [Focus; 4] = [Focus::Agents, Focus::Detail, Focus::Buffer, Focus::Rules];

    pub fn name(self) -> &'static str {
        match self {
            Focus::Agents => "agents",
            Focus::Detail => "agent details",
            Focus::Buffer => "buffer / inbox",
            Focus::Rules => "rules / strategy",
        }
    }
}

/// A scrollable pane's offset. The view records the content and window heights each frame
/// (hence `Cell`: drawing borrows the app immutably), so keys clamp against what is on screen.
#[derive(Debug, Default)]
pub struct Scroll {
    offset: usize,
    total: Cell<usize>,
    window: Cell<usize>,
}

impl Scroll {
    fn max(&self) -> usize {
        self.total.get().saturating_sub(self.window.get())
    }

    pub fn by(&mut self, delta: i64) {
        let from = self.offset.min(self.max()) as i64;
        self.offset = (from + delta).clamp(0, self.max() as i64) as usize;
    }

    /// The first line shown.
    pub fn offset(&self) -> usize {
        self.offset.min(self.max())
    }

    pub fn page(&self) -> i64 {
        self.window.get().saturating_sub(1).max(1) as i64
    }

    pub fn top(&mut self) {
        self.offset = 0;
    }

    pub fn bottom(&mut self) {
        self.offset = self.max();
    }

    /// Scroll just enough for line `line` to be in the window (a moving cursor stays visible).
    pub fn show(&mut self, line: usize) {
        let window = self.window.get().max(1);
        if line < self.offset {
            self.offset = line;
        } else if line >= self.offset + window {
            self.offset = line + 1 - window;
        }
    }

    /// For the view: record this frame's sizes and get the offset to draw from.
    pub fn frame(&self, total: usize, window: usize) -> usize {
        self.total.set(total);
        self.window.set(window);
        self.offset.min(self.max())
    }

    /// "lines a–b of N" for a title, empty when everything fits.
    pub fn label(&self) -> String {
        let (total, window) = (self.total.get(), self.window.get());
        if total <= window {
            return String::new();
        }
        // A pane with no row inside (60×16 leaves the buffer none) shows nothing: say so, not "1–0".
        if window == 0 {
            return format!("· {total} not shown ");
        }
        let off = self.offset.min(self.max());
        format!("· {}–{} of {} ", off + 1, (off + window).min(total), total)
    }
}

/// Scroll offsets of every pane that can hold more than its window.
#[derive(Debug, Default)]
pub struct Scrolls {
    pub detail: Scroll,
    pub buffer: Scroll,
    pub rules: Scroll,
    pub diff: Scroll,
    pub help: Scroll,
    pub popup: Scroll,
    /// Only its window is used: the event log pages by what it shows.
    pub log: Scroll,
}

/// A breakpoint as typed, parsed; a disabled one stays listed but stops nothing.
pub struct Breakpoint {
    pub expr: String,
    pub cond: Cond,
    pub enabled: bool,
}

pub enum Popup {
    None,
    /// The guided tour's panel (what it shows is in `App::tour`).
    Tour,
    /// The breakpoints: toggle, delete, add.
    Breakpoints {
        cursor: usize,
    },
    Help,
    Event(u64),
    Input {
        kind: InputKind,
        text: String,
        error: Option<String>,
    },
    Rules {
        agent: String,
        editor: Box<TextArea<'static>>,
        error: Option<String>,
        /// The lines as opened: Esc asks before throwing away anything typed since.
        original: Vec<String>,
    },
    /// The branch tree: open one, or save it as a session file.
    Branches {
        cursor: usize,
    },
    /// A search that named several agents: (id, title) to choose from.
    Pick {
        query: String,
        items: Vec<(String, String)>,
        cursor: usize,
    },
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
            InputKind::Search => "ids, titles and what the events say; n/N next/previous (in the log: filters; empty clears)",
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
    /// Where the branch was saved (forks start unsaved; q asks before losing them).
    pub saved: Option<PathBuf>,
    /// The first step of a session file whose line cannot be read, once a read met it: the
    /// steps before it are browsed as usual, and the footer says where reading stops.
    pub unreadable: Cell<Option<u64>>,
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

/// A status message lasts this long, or until the next key.
pub const STATUS_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// A jump replaying more events than this goes a slice per tick (about a quarter second each).
pub const FAR_SEEK_EVENTS: u64 = 200_000;

pub struct App {
    pub keymap: Keymap,
    /// The session and its forks, and which one is shown.
    pub branches: Branches,
    /// Where in it the inspector stands, and what is selected there.
    pub cursor: Cursor,
    pub view: View,
    pub focus: Focus,
    pub scroll: Scrolls,
    /// The step diff or the branch diff, prepared when the diff view is shown or the step moves
    /// (drawing only reads it).
    pub diff_lines: Vec<String>,
    pub popup: Popup,
    pub running: bool,
    pub speed_ix: usize,
    pub last_run_step: Instant,
    pub breakpoints: Vec<Breakpoint>,
    pub bookmarks: BTreeSet<u64>,
    pub status: String,
    /// The status text last seen by the timer and since when: it expires after `STATUS_TTL`.
    status_seen: Option<(String, Instant)>,
    /// The target of a jump far from any known state, replayed a slice per tick so the inspector
    /// stays live (the shown step does not move until it arrives).
    pub far_seek: Option<u64>,
    /// `G` in a live run: keep asking the engine for more and following it until the run ends.
    pub to_the_end: bool,
    /// A far jump's state so far, and its branch (over a session file: its keyframes are laid
    /// afterwards, in the background).
    far_world: Option<(usize, World)>,
    /// Where a far jump's target time step starts (branch, target, step): found once, not at
    /// every slice.
    far_tick_start: Option<(usize, u64, u64)>,
    /// Jumps replaying more events than this go through `far_seek`.
    pub far_seek_events: u64,
    /// Scans (search, metrics) longer than this run as jobs (`SEARCH_AT_ONCE`).
    pub scan_at_once: u64,
    /// The timeline's disk keyframes failed and the user was told (once).
    disk_warned: bool,
    pub log_cursor: u64,
    /// How many characters of the event log's text column are scrolled off to the left.
    pub log_hscroll: usize,
    /// The event log shows only events whose kind or text contains this (set with / in the log).
    pub log_filter: String,
    /// The event log's rows around the cursor, prepared before drawing.
    pub log_rows: LogRows,
    /// The last search, for n/N.
    pub search: Option<Search>,
    /// A search asked to jump to its first match once its scan is done.
    search_pending: bool,
    pub quit: bool,
    /// q was pressed once with unsaved branches: a second q quits.
    pub quit_armed: bool,
    /// d was pressed once on this unsaved branch in the branch list: a second d deletes it.
    delete_armed: Option<usize>,
    pub dirty: bool,
    /// A forward step waiting for the live engine.
    pub pending_forward: u64,
    pub mono: bool,
    /// The colours (`--theme`, theme.toml); `mono` overrides them.
    pub theme: crate::tui::theme::Theme,
    /// The guided tour, when the inspector was opened with `--tour`.
    pub tour: Option<crate::tui::tour::Tour>,
    /// Run one time step a second (lecture pace) instead of `speed()` events a second.
    pub tick_pace: bool,
    pub spinner: usize,
    /// Per-tick statistics and the model's accounting up to a step, for the metrics view.
    stats: stats::Stats,
    /// The branch `stats` counts.
    stats_branch: usize,
    /// A long stretch of them being counted in the background.
    stats_job: Option<stats::StatsJob>,
    /// A count that ended in a panic (branch, position): not started again for the same place.
    stats_lost: Option<(usize, u64)>,
    /// A fork being re-run in the background (see `fork`).
    fork_job: Option<fork::ForkJob>,
    /// New branches being compared with their parents.
    compare_jobs: Vec<fork::CompareJob>,
    /// A branch being written to a session file (see `save`).
    save_job: Option<save::SaveJob>,
    pub title: String,
}

impl App {
    pub fn new(title: String, branch: Branch, keymap: Keymap, mono: bool) -> App {
        let mut app = App {
            keymap,
            branches: Branches::new(branch),
            cursor: Cursor::default(),
            view: View::Inspect,
            focus: Focus::Agents,
            scroll: Scrolls::default(),
            diff_lines: Vec::new(),
            popup: Popup::None,
            running: false,
            speed_ix: 3,
            last_run_step: Instant::now(),
            breakpoints: Vec::new(),
            bookmarks: BTreeSet::new(),
            status: String::new(),
            status_seen: None,
            far_seek: None,
            to_the_end: false,
            far_world: None,
            far_tick_start: None,
            far_seek_events: FAR_SEEK_EVENTS,
            scan_at_once: SEARCH_AT_ONCE,
            disk_warned: false,
            log_cursor: 0,
            log_hscroll: 0,
            log_filter: String::new(),
            log_rows: LogRows::default(),
            search: None,
            search_pending: false,
            quit: false,
            quit_armed: false,
            delete_armed: None,
            dirty: true,
            pending_forward: 0,
            mono,
            theme: crate::tui::theme::Theme::default(),
            tour: None,
            tick_pace: false,
            spinner: 0,
            stats: Default::default(),
            stats_branch: 0,
            stats_job: None,
            stats_lost: None,
            fork_job: None,
            compare_jobs: Vec::new(),
            save_job: None,
            title,
        };
        app.ensure_events(4096, true);
        // Open paused at the first step of the simulation: everything set up, nothing run yet.
        let start = app.find_forward(0, |e| matches!(e.body, EventBody::RoundStarted { .. })).unwrap_or(app.len());
        app.goto(start);
        // No status: the footer shows the key hint while nothing is to be reported.
        app.status.clear();
        app
    }

    /// Start the guided tour: its opening panel, then lecture pace when Space goes on.
    pub fn start_tour(&mut self) {
        self.tour = Some(crate::tui::tour::Tour::new());
        self.tick_pace = true;
        self.running = false;
        self.popup = Popup::Tour;
    }

    pub fn branch(&self) -> &Branch {
        self.branches.shown()
    }

    fn branch_mut(&mut self) -> &mut Branch {
        self.branches.shown_mut()
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
        self.cursor.pos.checked_sub(1).and_then(|i| self.event(i))
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
        let ahead = self.len().saturating_sub(self.cursor.pos);
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
        while self.len() < self.cursor.pos + n && !self.live_done() {
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

    /// One look while `G` follows a live run: show what arrived, ask for more, stop at the end.
    pub(super) fn follow_to_the_end(&mut self) {
        if self.cursor.pos < self.len() {
            self.jump(self.len());
        }
        if self.far_seek.is_some() {
            return;
        }
        if self.live_done() {
            self.to_the_end = false;
            self.status = self.end_status("at the end of the run");
        } else {
            self.ensure_events(1, false);
            self.status = format!("running to the end of the run: step {}… (Esc stops)", self.cursor.pos.saturating_sub(1));
        }
        self.dirty = true;
    }

    /// `said`, and for a session file whose last write did not finish, that its events end there.
    pub(super) fn end_status(&self, said: &str) -> String {
        match self.branch().timeline.store.torn_line() {
            Some(line) => format!("{said}: the file ends at line {line}, cut short (a write that did not finish)"),
            None => said.to_string(),
        }
    }

    /// Clear the status once it has been shown for `STATUS_TTL` (the timer calls this).
    fn expire_status(&mut self, now: Instant) {
        if self.status.is_empty() {
            self.status_seen = None;
            return;
        }
        match &self.status_seen {
            Some((text, since)) if *text == self.status => {
                if now.saturating_duration_since(*since) >= STATUS_TTL {
                    self.status.clear();
                    // The warning about unsaved branches is gone: so is its second-q promise.
                    self.quit_armed = false;
                    self.status_seen = None;
                    self.dirty = true;
                }
            }
            _ => self.status_seen = Some((self.status.clone(), now)),
        }
    }

    fn resume_pending(&mut self) {
        if self.pending_forward > 0 && self.cursor.pos < self.len() {
            let n = self.pending_forward.min(self.len() - self.cursor.pos);
            self.pending_forward = 0;
            let target = self.cursor.pos + n;
            self.goto(target);
        }
    }
}
