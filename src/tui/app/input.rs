//! What keys and actions do: dispatch from the keymap (open popups: `popups`), the input line
//! (search, jump, breakpoints), and the rule editor that forks a branch with edited rules.

use super::*;
use crate::analysis::breakpoint::{self};
use crate::tui::keymap::Action;
use crate::world::event::{Event, EventBody};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;
use std::time::Instant;

impl App {
    pub fn on_key(&mut self, key: KeyEvent) {
        self.key(key);
        // What the event log shows is read here, not while drawing.
        if self.view == View::Events {
            self.prepare_log();
        }
    }

    fn key(&mut self, key: KeyEvent) {
        self.dirty = true;
        // A message is about the last action: the next key replaces it (or clears it).
        self.status.clear();
        // The question a first `d` asked is answered by the next key only.
        if self.keymap.action(&key) != Some(Action::DeleteBranch) {
            self.delete_armed = None;
        }
        // So is the one a first `q` asked, also where a popup or a prompt takes the key.
        if self.keymap.action(&key) != Some(Action::Quit) {
            self.quit_armed = false;
        }
        match &mut self.popup {
            Popup::Input { .. } => return self.on_input_key(key),
            Popup::Rules { .. } => return self.on_rules_key(key),
            _ => {}
        }
        let Some(action) = self.keymap.action(&key) else { return };
        if self.on_popup_key(action) {
            return;
        }
        self.act(action);
    }

    pub fn update(&mut self, action: Action) {
        self.act(action);
        if self.view == View::Events {
            self.prepare_log();
        }
    }

    fn act(&mut self, action: Action) {
        self.dirty = true;
        if action != Action::Quit {
            self.quit_armed = false;
        }
        if action == Action::Close && matches!(self.popup, Popup::None) && self.cancel_newest_job() {
            return;
        }
        if self.to_the_end && (action == Action::Close || is_motion(action)) {
            self.to_the_end = false;
            if action == Action::Close {
                self.status = format!("stopped running to the end; at step {}", self.cursor.pos.saturating_sub(1));
                return;
            }
        }
        if let Some(target) = self.far_seek {
            if action == Action::Close || is_motion(action) {
                // Stopped, or overridden by another move; the state reached so far stays.
                self.stop_far_seek();
                if action == Action::Close {
                    self.status = format!("stopped replaying toward step {}; still at step {}", target.saturating_sub(1), self.cursor.pos.saturating_sub(1));
                    return;
                }
            }
        }
        let stopped_run = !matches!(action, Action::RunPause | Action::Faster | Action::Slower) && self.running && is_motion(action);
        if stopped_run {
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
                    // The engine runs only as far ahead as asked: keep asking until the run ends.
                    self.to_the_end = true;
                    self.status = "running to the end of the run… (Esc stops)".into();
                }
            }
            Action::RunPause if !self.running && self.cursor.pos >= self.len() && self.live_done() => {
                self.status = format!("at the end of the run: nothing left to run ({} goes to the start)", self.keymap.key_for(Action::First));
            }
            Action::RunPause => {
                self.running = !self.running;
                self.last_run_step = Instant::now();
                self.status = match (self.running, self.tick_pace) {
                    (true, true) => "running one time step a second (lecture pace)".into(),
                    (true, false) => format!("running at {} events/s", self.speed()),
                    _ => "paused".into(),
                };
            }
            Action::LecturePace => {
                self.tick_pace = !self.tick_pace;
                self.last_run_step = Instant::now();
                self.status = if self.tick_pace { "lecture pace: one time step a second".into() } else { format!("pace: {} events/s", self.speed()) };
            }
            Action::Faster => {
                self.tick_pace = false;
                self.speed_ix = (self.speed_ix + 1).min(SPEEDS.len() - 1);
                self.status = format!("speed {} events/s", self.speed());
            }
            Action::Slower => {
                self.tick_pace = false;
                self.speed_ix = self.speed_ix.saturating_sub(1);
                self.status = format!("speed {} events/s", self.speed());
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::PaneTop | Action::PaneBottom => self.scroll_or_select(action),
            Action::Open => {
                if self.view == View::Events {
                    // The row under the cursor: with a filter, always one the filter shows.
                    if self.snap_log_cursor() {
                        self.open_event(self.log_cursor);
                    } else {
                        self.status = "no event in the log matches the filter".into();
                    }
                } else if self.view == View::Inspect && self.focus == Focus::Buffer {
                    self.open_buffered_message();
                } else if let Some(e) = self.current_event() {
                    self.open_event(e.step);
                }
            }
            Action::LogGoto => {
                if self.view != View::Events {
                    self.status = format!("{} works in the event log (2)", self.keymap.key_for(Action::LogGoto));
                } else if self.snap_log_cursor() {
                    let step = self.log_cursor;
                    self.running = false;
                    self.jump(step + 1);
                    self.status = format!("went to step {step}");
                } else {
                    self.status = "no event in the log matches the filter".into();
                }
            }
            Action::ScrollLeft | Action::ScrollRight => {
                if self.view == View::Events {
                    // A few words at a time: enough to read on, little enough to keep one's place.
                    let by = 16;
                    self.log_hscroll = if action == Action::ScrollLeft { self.log_hscroll.saturating_sub(by) } else { (self.log_hscroll + by).min(2000) };
                } else {
                    self.status = "only the event log scrolls sideways".into();
                }
            }
            Action::FocusNext | Action::FocusPrev => {
                if self.view == View::Inspect {
                    let n = Focus::ORDER.len();
                    let i = Focus::ORDER.iter().position(|f| *f == self.focus).unwrap_or(0);
                    let step = if action == Action::FocusNext { 1 } else { n - 1 };
                    self.focus = Focus::ORDER[(i + step) % n];
                    self.status = format!("focus: {} (↑↓ PageUp PageDown Home End act on it)", self.focus.name());
                } else {
                    self.status = "this view has one pane".into();
                }
            }
            Action::ShowInspect => self.view = View::Inspect,
            Action::ShowEvents => {
                self.view = View::Events;
                self.snap_log_cursor();
            }
            Action::ShowMetrics => self.view = View::Metrics,
            Action::ShowDiff => {
                self.view = View::Diff;
                self.prepare_diff();
            }
            Action::SearchNext => {
                self.search_step(true);
            }
            Action::SearchPrev => {
                self.search_step(false);
            }
            Action::Search => self.popup = Popup::Input { kind: InputKind::Search, text: String::new(), error: None },
            Action::Command => self.popup = Popup::Input { kind: InputKind::Command, text: String::new(), error: None },
            Action::AddBreakpoint => self.popup = Popup::Input { kind: InputKind::Breakpoint, text: String::new(), error: None },
            Action::EditRules => self.open_rule_editor(),
            Action::Breakpoints => {
                if self.breakpoints.is_empty() {
                    self.status = format!("no breakpoints ({} adds one)", self.keymap.key_for(Action::AddBreakpoint));
                } else {
                    self.scroll.popup.top();
                    self.popup = Popup::Breakpoints { cursor: 0 };
                }
            }
            Action::PreviousHit => self.previous_hit(),
            Action::ToggleBookmark => {
                if !self.bookmarks.remove(&self.cursor.pos) {
                    self.bookmarks.insert(self.cursor.pos);
                    self.status = format!("bookmarked step {}", self.cursor.pos.saturating_sub(1));
                } else {
                    self.status = "bookmark removed".into();
                }
            }
            Action::NextBookmark => {
                let next = self.bookmarks.range(self.cursor.pos + 1..).next().or_else(|| self.bookmarks.iter().next()).copied();
                match next {
                    Some(b) => self.jump(b),
                    None => self.status = "no bookmarks (m sets one)".into(),
                }
            }
            Action::ToggleFollow => {
                self.cursor.follow = !self.cursor.follow;
                if self.cursor.follow {
                    self.follow_now();
                }
                self.status = if self.cursor.follow { "selection follows the events".into() } else { "selection stays put".into() };
            }
            Action::NextBranch => {
                if self.branches.len() > 1 {
                    self.switch_branch((self.branches.current + 1) % self.branches.len());
                } else {
                    self.status = "only one branch: edit a rule (e) to fork one".into();
                }
            }
            Action::Help => {
                self.scroll.help.top();
                self.popup = Popup::Help;
            }
            Action::Close => self.popup = Popup::None,
            Action::Quit => self.request_quit(),
            Action::Branches => {
                self.popup = Popup::Branches { cursor: self.branches.current };
            }
            Action::SaveBranch => self.save_branch(self.branches.current),
            Action::DeleteBranch => self.popup = Popup::Branches { cursor: self.branches.current },
        }
        if self.tour.is_some()
            && matches!(action, Action::StepForward | Action::StageForward | Action::PhaseForward | Action::TickForward | Action::RoundForward)
        {
            // Stepping by hand meets the mechanisms too: the event landed on may be a stop.
            self.tour_stop();
        }
        if stopped_run {
            // The mode line says paused; the status says why.
            let why = format!("run stopped by a move at step {}; {} runs again", self.cursor.pos.saturating_sub(1), self.keymap.key_for(Action::RunPause));
            self.status = if self.status.is_empty() { why } else { format!("{why} · {}", self.status) };
        }
    }

    fn open_event(&mut self, step: u64) {
        self.scroll.popup.top();
        self.popup = Popup::Event(step);
    }

    /// The message at the top of the buffer pane, whole: the event that sent it (a buffer row
    /// is cut to its pane; this is where to read the rest).
    fn open_buffered_message(&mut self) {
        let agent = self.cursor.selected.clone().unwrap_or_default();
        let row = self.scroll.buffer.offset();
        let Some(id) = self.cursor.world.client(&agent).and_then(|c| c.buffer.get(row)).map(|b| b.message) else {
            self.status = "no message waits in this buffer".into();
            return;
        };
        let sent = |e: &Event| matches!(&e.body, EventBody::MessageSent { message, .. } if *message == id);
        match self.find_back(self.cursor.pos.saturating_sub(1), sent) {
            Some(step) => self.open_event(step),
            None => self.status = format!("message {id} was sent before the part of the session that can be read"),
        }
    }

    /// The scroll of the pane the motion keys act on: an open popup, the diff, or the focused
    /// pane of the inspect view (the agent list and the event log move a selection instead).
    fn focused_scroll(&mut self) -> Option<&mut Scroll> {
        match self.popup {
            Popup::Help => return Some(&mut self.scroll.help),
            Popup::Event(_) => return Some(&mut self.scroll.popup),
            Popup::None => {}
            _ => return None,
        }
        match (self.view, self.focus) {
            (View::Diff, _) => Some(&mut self.scroll.diff),
            (View::Inspect, Focus::Detail) => Some(&mut self.scroll.detail),
            (View::Inspect, Focus::Buffer) => Some(&mut self.scroll.buffer),
            (View::Inspect, Focus::Rules) => Some(&mut self.scroll.rules),
            _ => None,
        }
    }

    pub(super) fn scroll_or_select(&mut self, action: Action) {
        if let Some(sc) = self.focused_scroll() {
            match action {
                Action::Up => sc.by(-1),
                Action::Down => sc.by(1),
                Action::PageUp => sc.by(-sc.page()),
                Action::PageDown => sc.by(sc.page()),
                Action::PaneTop => sc.top(),
                Action::PaneBottom => sc.bottom(),
                _ => {}
            }
            return;
        }
        let page = if self.view == View::Events { self.scroll.log.page() } else { 10 };
        match action {
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::PaneTop => self.selection_to_end(false),
            Action::PaneBottom => self.selection_to_end(true),
            _ => {}
        }
    }

    /// Does an event pass the log filter (kind, ids or narration containing it)?
    pub fn log_matches(&self, e: &Event) -> bool {
        if self.log_filter.is_empty() {
            return true;
        }
        self.event_matches(e, &self.log_filter)
    }

    pub fn agent_order(&self) -> Vec<String> {
        let mut v: Vec<String> = self.cursor.world.clients().iter().filter(|c| c.kind == crate::world::event::ClientKind::User).map(|c| c.id.clone()).collect();
        v.extend(self.cursor.world.routers().iter().map(|r| r.id.clone()));
        v.extend(self.cursor.world.clients().iter().filter(|c| c.kind == crate::world::event::ClientKind::Item).map(|c| c.id.clone()));
        v
    }

    pub(super) fn on_input_key(&mut self, key: KeyEvent) {
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
                            *error = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn submit(&mut self, kind: InputKind, input: &str) -> anyhow::Result<()> {
        match kind {
            InputKind::Breakpoint => self.add_breakpoint(input),
            InputKind::Search if self.view == View::Events => {
                self.log_filter = input.to_lowercase();
                self.log_hscroll = 0;
                if input.is_empty() {
                    self.search = None;
                    self.search_pending = false;
                    self.status = "log filter cleared".into();
                } else {
                    self.search = Some(Search::new(self.log_filter.clone(), self.branches.current));
                    self.extend_matches();
                    if self.scanning() {
                        self.search_pending = true;
                    } else {
                        self.search_step(true);
                    }
                    self.status = format!("log filtered by {} · {}", crate::util::text::sanitize(input, 40), self.status);
                }
                Ok(())
            }
            InputKind::Search => self.search(input),
            InputKind::Command => {
                if let Ok(n) = input.parse::<u64>() {
                    if n >= self.len() && self.live_done() {
                        anyhow::bail!("the last step is {}", self.len().saturating_sub(1));
                    }
                    self.ensure_events(n + 1 - self.cursor.pos.min(n + 1), false);
                    self.jump(n + 1);
                    Ok(())
                } else if let Some(expr) = input.strip_prefix("b ") {
                    self.add_breakpoint(expr.trim())
                } else if input == "clear" {
                    self.breakpoints.clear();
                    if matches!(self.popup, Popup::Breakpoints { .. }) {
                        self.popup = Popup::None;
                    }
                    self.status = "breakpoints cleared".into();
                    Ok(())
                } else if input == "help" {
                    self.popup = Popup::Help;
                    Ok(())
                } else if input == "q" || input == "quit" {
                    self.request_quit();
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("a step number, b EXPR, clear, help or q"))
                }
            }
        }
    }

    pub fn add_breakpoint(&mut self, expr: &str) -> anyhow::Result<()> {
        // Checked against the event format and this world: a misspelt field, kind or id would
        // otherwise be a breakpoint that never stops.
        let cond = match breakpoint::parse_in(expr, &self.cursor.world) {
            Ok(cond) => cond,
            // Agents and routers are made during the setup: before its end, ask the world after it.
            Err(e) => match self.world_after_setup() {
                Some(after) => breakpoint::parse_in(expr, &after).map_err(|e| anyhow::anyhow!("{e}"))?,
                None => return Err(anyhow::anyhow!("{e}")),
            },
        };
        self.breakpoints.push(Breakpoint { expr: expr.to_string(), cond, enabled: true });
        self.status = format!("breakpoint {} set: {}", self.breakpoints.len(), crate::util::text::sanitize(expr, 80));
        Ok(())
    }

    /// The world once the setup's agents and routers are made, when the cursor is still before
    /// that (`None` past it, or when no event after the setup is known yet).
    fn world_after_setup(&mut self) -> Option<crate::world::World> {
        use crate::world::event::EventBody;
        let end = self.find_forward(self.cursor.pos, |e| {
            !matches!(e.body, EventBody::WorldCreated { .. } | EventBody::AgentCreated { .. } | EventBody::RouterCreated { .. })
        })?;
        (end > self.cursor.pos).then(|| self.branch_mut().timeline.state(end).ok()).flatten()
    }

    pub(super) fn open_rule_editor(&mut self) {
        let Some(id) = self.cursor.selected.clone() else {
            self.status = "select an agent first".into();
            return;
        };
        let Some(c) = self.cursor.world.client(&id) else {
            self.status = format!("{id} is a router: routers have no filter rules");
            return;
        };
        let lines: Vec<String> = c.rules_text.lines().map(|l| l.to_string()).collect();
        let editor = TextArea::new(lines);
        let original = editor.lines().to_vec();
        self.popup = Popup::Rules { agent: id, editor: Box::new(editor), error: None, original };
    }

    pub(super) fn on_rules_key(&mut self, key: KeyEvent) {
        let Popup::Rules { agent, editor, error, original } = &mut self.popup else { return };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            // Typed rules are work (a parse error does not make them worthless): the first Esc
            // says they would be lost, the second discards them.
            KeyCode::Esc if editor.lines() != original.as_slice() && error.as_deref() != Some(DISCARD_EDIT) => *error = Some(DISCARD_EDIT.into()),
            KeyCode::Esc => self.popup = Popup::None,
            KeyCode::Char('s') if ctrl => {
                let text = editor.lines().join("\n") + "\n";
                match crate::rules::parse_rules(&text) {
                    Err(e) => *error = Some(format!("line {}:{}: {}", e.line, e.col, e.message)),
                    // A warning (no rules, a rule never reached), not an error: the first Ctrl+S
                    // says what it means, the second forks.
                    Ok(rules) if lint_warning(&rules).is_some_and(|w| error.as_deref() != Some(w.as_str())) => *error = lint_warning(&rules),
                    // Said here, with the edit kept: the footer shows the running fork, not the status.
                    Ok(_) if self.fork_job.is_some() => *error = Some(FORK_RUNNING.into()),
                    Ok(_) => {
                        let agent = agent.clone();
                        self.popup = Popup::None;
                        if let Err(e) = self.start_fork(&agent, &text) {
                            self.status = crate::util::text::sanitize(&format!("{e:#}"), 200);
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
}

const DISCARD_EDIT: &str = "warning: Esc again discards your edit; Ctrl+S forks with it";
const FORK_RUNNING: &str = "a fork is still being made: Ctrl+S again once it is done";
const EMPTY_RULES: &str = "warning: no rules: every message would be rejected; Ctrl+S again forks anyway";

/// What `check-rules` would warn of first, as the editor says it.
fn lint_warning(rules: &[crate::rules::Rule]) -> Option<String> {
    if rules.is_empty() {
        return Some(EMPTY_RULES.into());
    }
    crate::rules::lint(rules).into_iter().next().map(|(_, w)| format!("warning: {w}; Ctrl+S again forks anyway"))
}

fn is_motion(a: Action) -> bool {
    use Action::*;
    matches!(a, StepForward | StepBack | StageForward | StageBack | PhaseForward | PhaseBack | TickForward | TickBack | RoundForward | RoundBack | First | Last)
}
