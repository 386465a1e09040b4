//! Finding the next or previous event that satisfies a test, reading the session in chunks (and,
//! past a line that cannot be read, no further).

use super::nav::readable_range;
use super::*;
use crate::world::event::Event;

impl App {
    /// First index ≥ from whose event satisfies `f`.
    pub fn find_forward(&self, from: u64, f: impl Fn(&Event) -> bool) -> Option<u64> {
        self.find_forward_until(from, self.branch().timeline.store.len(), f)
    }

    /// First index in from..end whose event satisfies `f`.
    pub fn find_forward_until(&self, from: u64, end: u64, f: impl Fn(&Event) -> bool) -> Option<u64> {
        let n = self.len().min(end);
        let mut i = from;
        while i < n {
            let to = (i + 512).min(n);
            let chunk = self.readable(i, to);
            // A line that cannot be read ends the search (what follows it is out of reach).
            let whole = chunk.len() as u64 == to - i;
            for e in chunk {
                if f(&e) {
                    return Some(e.step);
                }
            }
            if !whole {
                return None;
            }
            i = to;
        }
        None
    }

    /// Last index ≤ from whose event satisfies `f`.
    pub fn find_back(&self, from: u64, f: impl Fn(&Event) -> bool) -> Option<u64> {
        self.find_back_until(from, 0, f)
    }

    /// Last index in stop..=from whose event satisfies `f`.
    pub fn find_back_until(&self, from: u64, stop: u64, f: impl Fn(&Event) -> bool) -> Option<u64> {
        let store = &self.branch().timeline.store;
        if store.is_empty() {
            return None;
        }
        let mut hi = from.min(store.len() - 1) + 1;
        while hi > stop {
            let lo = hi.saturating_sub(512).max(stop);
            let (chunk, bad) = readable_range(store, lo, hi);
            match bad {
                Some(bad) => self.note_unreadable(bad),
                None if chunk.is_empty() => return None,
                None => {}
            }
            for e in chunk.iter().rev() {
                if f(e) {
                    return Some(e.step);
                }
            }
            hi = lo;
        }
        None
    }
}
