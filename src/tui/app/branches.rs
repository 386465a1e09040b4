//! Branches: the session and its forks as a tree, switching between them at the same logical
//! position, deleting, and not losing unsaved ones on quit (saving is in `save`).

use super::*;
use std::ops::{Deref, DerefMut};

/// The session (index 0) and its forks, each knowing its parent, and which one is shown.
/// Reads as a slice of branches.
pub struct Branches {
    list: Vec<Branch>,
    pub current: usize,
}

impl Deref for Branches {
    type Target = [Branch];
    fn deref(&self) -> &[Branch] {
        &self.list
    }
}

impl DerefMut for Branches {
    fn deref_mut(&mut self) -> &mut [Branch] {
        &mut self.list
    }
}

impl Branches {
    pub fn new(main: Branch) -> Branches {
        Branches { list: vec![main], current: 0 }
    }

    /// The branch shown.
    pub fn shown(&self) -> &Branch {
        &self.list[self.current]
    }

    pub fn shown_mut(&mut self) -> &mut Branch {
        &mut self.list[self.current]
    }

    /// A new fork; returns its index.
    pub(super) fn push(&mut self, b: Branch) -> usize {
        self.list.push(b);
        self.list.len() - 1
    }

    /// Take branch `b` out; later branches (and the parent links to them) move down by one.
    fn remove(&mut self, b: usize) -> Branch {
        let gone = self.list.remove(b);
        for x in &mut self.list {
            if let Some((p, _)) = &mut x.parent {
                if *p > b {
                    *p -= 1;
                }
            }
        }
        if self.current > b {
            self.current -= 1;
        }
        gone
    }

    /// The same logical position in another branch: a fork inserts one edit event at its fork
    /// step, so later steps shift by one between a parent and its child (by the raw index,
    /// "step 300" would be a different event). Goes up to the common root, then down.
    pub fn logical_pos(&self, from: usize, to: usize, pos: u64) -> u64 {
        let chain = |mut b: usize| {
            let mut v = vec![b];
            while let Some((p, _)) = self.list[b].parent {
                b = p;
                v.push(b);
            }
            v
        };
        let (up, down) = (chain(from), chain(to));
        let common = up.iter().find(|b| down.contains(b)).copied().unwrap_or(0);
        let mut pos = pos;
        for &b in up.iter().take_while(|&&b| b != common) {
            if let Some((_, f)) = self.list[b].parent {
                // Showing the edit itself maps to the parent just before it.
                pos = if pos > f { pos - 1 } else { pos };
            }
        }
        for &b in down.iter().take_while(|&&b| b != common).collect::<Vec<_>>().iter().rev() {
            if let Some((_, f)) = self.list[*b].parent {
                pos = if pos > f { pos + 1 } else { pos };
            }
        }
        pos
    }

    pub fn unsaved(&self) -> usize {
        self.list.iter().filter(|b| b.saved.is_none() && b.parent.is_some()).count()
    }
}

impl App {
    /// Show branch `b` at the same step (the selection stays).
    pub fn switch_branch(&mut self, b: usize) {
        if b >= self.branches.len() || b == self.branches.current {
            return;
        }
        let pos = self.branches.logical_pos(self.branches.current, b, self.cursor.pos);
        self.branches.current = b;
        self.forget_log_rows();
        let pos = pos.min(self.len());
        self.cursor.pos = 0;
        self.cursor.world = World::new();
        self.cursor.tick = TickMessages::default();
        let follow = self.cursor.follow;
        // Keep the agent the user was looking at, whatever the new branch's events are about.
        self.cursor.follow = false;
        self.goto(pos);
        self.cursor.follow = follow;
        // The name says "branch N (…)" or "main" itself.
        self.status = format!("showing {}", crate::util::text::sanitize(&self.branch().name, 60));
    }

    /// Why branch `b` cannot be deleted now, if it cannot.
    fn undeletable(&self, b: usize) -> Option<&'static str> {
        if b == 0 || b >= self.branches.len() {
            return Some("the session itself cannot be deleted");
        }
        if self.fork_job.is_some() {
            // The fork opens under its parent's index, which this would shift.
            return Some("a fork is being made: wait for it (or Esc cancels it) before deleting");
        }
        if self.branches.iter().any(|x| x.parent.is_some_and(|(p, _)| p == b)) {
            return Some("this branch has forks of its own: delete those first");
        }
        None
    }

    /// `d` in the branch list: an unsaved fork would be lost, so the first `d` asks (as `q`
    /// does) and a second one deletes it; a saved one goes at once.
    pub(super) fn request_delete(&mut self, b: usize) {
        let unsaved = self.undeletable(b).is_none() && self.branches[b].saved.is_none();
        if unsaved && self.delete_armed != Some(b) {
            self.delete_armed = Some(b);
            // The question first: an 80-column footer cuts the rest.
            self.status = format!(
                "unsaved: {} again deletes {}; {} saves it",
                self.keymap.key_for(Action::DeleteBranch),
                crate::util::text::sanitize(&self.branches[b].name, 60),
                self.keymap.key_for(Action::SaveBranch)
            );
            return;
        }
        self.delete_armed = None;
        self.delete_branch(b);
    }

    /// Drop a fork that has no forks of its own (main stays); a saved file stays on disk.
    pub fn delete_branch(&mut self, b: usize) {
        if let Some(why) = self.undeletable(b) {
            self.status = why.into();
            return;
        }
        // A far jump's state is filed by branch index, which this shifts.
        self.stop_far_seek();
        if self.branches.current == b {
            let parent = self.branches[b].parent.map(|(p, _)| p).unwrap_or(0);
            self.switch_branch(parent);
        }
        let shifted = self.branches.current > b;
        self.forget_log_rows();
        let gone = self.branches.remove(b);
        // Jobs about later branches follow their index.
        self.branch_deleted(b);
        if shifted {
            // The shown messages were keyed by the old index.
            self.cursor.tick = TickMessages::default();
            self.refresh_tick_messages();
        }
        self.status = format!("deleted {}", crate::util::text::sanitize(&gone.name, 60));
    }

    pub fn unsaved_branches(&self) -> usize {
        self.branches.unsaved()
    }

    /// q: quits, unless forks would be lost; then it says so and a second q quits.
    pub(super) fn request_quit(&mut self) {
        let n = self.unsaved_branches();
        let (forking, saving) = (self.fork_job.is_some(), self.saving());
        if (n == 0 && !forking && !saving) || self.quit_armed {
            self.quit = true;
            return;
        }
        self.quit_armed = true;
        if forking {
            self.status = format!("a fork is being made and would be lost: {} again quits; Esc cancels it", self.keymap.key_for(Action::Quit));
            return;
        }
        if saving {
            self.status = format!("a branch is being saved: {} again stops it (no file is left) and quits", self.keymap.key_for(Action::Quit));
            return;
        }
        self.status = format!(
            "{n} unsaved branch(es) would be lost: {} again quits; {} lists them and {} saves one",
            self.keymap.key_for(Action::Quit),
            self.keymap.key_for(Action::Branches),
            self.keymap.key_for(Action::SaveBranch)
        );
    }
}
