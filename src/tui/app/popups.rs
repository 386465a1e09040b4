//! What keys do while a popup is open (the branch list, the tour panel, the breakpoints, the
//! pick list, help and event popups); the input line and the rule editor, which take text, are
//! in `input`.

use super::*;

impl App {
    /// `action` on the open popup, if one is: whether the popup took it.
    pub(super) fn on_popup_key(&mut self, action: Action) -> bool {
        if let Popup::Branches { cursor } = &mut self.popup {
            let n = self.branches.len();
            match action {
                Action::Up => *cursor = cursor.saturating_sub(1),
                Action::Down => *cursor = (*cursor + 1).min(n - 1),
                Action::PaneTop => *cursor = 0,
                Action::PaneBottom => *cursor = n - 1,
                Action::Open => {
                    let b = *cursor;
                    self.popup = Popup::None;
                    self.switch_branch(b);
                }
                Action::SaveBranch => {
                    let b = *cursor;
                    self.save_branch(b);
                }
                Action::DeleteBranch => {
                    let b = *cursor;
                    self.request_delete(b);
                    self.popup = Popup::Branches { cursor: b.min(self.branches.len() - 1) };
                }
                Action::Close | Action::Branches => self.popup = Popup::None,
                Action::Quit => self.request_quit(),
                _ => {}
            }
            return true;
        }
        if matches!(self.popup, Popup::Tour) {
            match action {
                Action::RunPause => {
                    self.popup = Popup::None;
                    if let Some(t) = self.tour.as_mut() {
                        t.intro = false;
                        t.showing = None;
                        if t.done() {
                            self.status = "tour complete: every mechanism has been shown; the run goes on".into();
                        }
                    }
                    self.running = true;
                    self.last_run_step = Instant::now();
                }
                Action::Close => {
                    self.popup = Popup::None;
                    self.status = format!("tour paused: {} goes on", self.keymap.key_for(Action::RunPause));
                }
                Action::Quit => self.request_quit(),
                Action::Help => self.popup = Popup::Help,
                _ => self.status = format!("{} goes on · Esc closes the panel", self.keymap.key_for(Action::RunPause)),
            }
            return true;
        }
        if let Popup::Breakpoints { cursor } = &mut self.popup {
            let n = self.breakpoints.len();
            let c = *cursor;
            match action {
                Action::Up => *cursor = c.saturating_sub(1),
                Action::Down => *cursor = (c + 1).min(n.saturating_sub(1)),
                Action::PaneTop => *cursor = 0,
                Action::PaneBottom => *cursor = n.saturating_sub(1),
                Action::Open | Action::RunPause => {
                    if let Some(b) = self.breakpoints.get_mut(c) {
                        b.enabled = !b.enabled;
                        self.status = format!("breakpoint {} {}", c + 1, if b.enabled { "enabled" } else { "disabled" });
                    }
                }
                Action::DeleteBranch if c < n => {
                    let b = self.breakpoints.remove(c);
                    self.status = format!("breakpoint {} deleted: {}", c + 1, crate::util::text::sanitize(&b.expr, 60));
                    self.popup = Popup::Breakpoints { cursor: c.min(self.breakpoints.len().saturating_sub(1)) };
                }
                Action::AddBreakpoint => self.popup = Popup::Input { kind: InputKind::Breakpoint, text: String::new(), error: None },
                Action::PreviousHit => {
                    self.popup = Popup::None;
                    self.previous_hit();
                }
                Action::Close | Action::Breakpoints => self.popup = Popup::None,
                Action::Quit => self.request_quit(),
                _ => {}
            }
            if let Popup::Breakpoints { cursor } = &self.popup {
                self.scroll.popup.show(*cursor);
            }
            return true;
        }
        if let Popup::Pick { items, cursor, .. } = &mut self.popup {
            let n = items.len();
            match action {
                Action::Up => *cursor = cursor.saturating_sub(1),
                Action::Down => *cursor = (*cursor + 1).min(n.saturating_sub(1)),
                Action::PageUp => *cursor = cursor.saturating_sub(self.scroll.popup.page() as usize),
                Action::PageDown => *cursor = (*cursor + self.scroll.popup.page() as usize).min(n.saturating_sub(1)),
                Action::PaneTop => *cursor = 0,
                Action::PaneBottom => *cursor = n.saturating_sub(1),
                Action::Open => {
                    let id = items.get(*cursor).map(|x| x.0.clone());
                    self.popup = Popup::None;
                    if let Some(id) = id {
                        self.pick_agent(id);
                    }
                    return true;
                }
                Action::Close | Action::Help => {
                    // Nothing picked: the search behind the list is dropped too, its scan of
                    // the log (a job on a long one) stopped where it got to.
                    self.popup = Popup::None;
                    self.status = if self.stop_search() { format!("no agent picked · {}", self.status) } else { "no agent picked".into() };
                    return true;
                }
                Action::Quit => self.request_quit(),
                _ => {}
            }
            if let Popup::Pick { cursor, .. } = &self.popup {
                self.scroll.popup.show(*cursor);
            }
            return true;
        }
        if !matches!(self.popup, Popup::None) {
            match action {
                Action::Close | Action::Help => self.popup = Popup::None,
                Action::Quit => self.request_quit(),
                Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::PaneTop | Action::PaneBottom => self.scroll_or_select(action),
                _ => {}
            }
            return true;
        }
        false
    }
}
