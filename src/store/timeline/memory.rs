//! A log of events held in memory (a live run, a fork), in chunks shared between handles: a job's
//! handle on the log costs a pointer per chunk instead of a copy of every event, made on the UI
//! thread. Only the last chunk grows; a handle sharing it makes the owner copy that one chunk.

use crate::world::event::Event;
use std::sync::Arc;

/// Events a chunk holds; every chunk but the last is full, so an index finds its chunk at once.
const CHUNK: usize = 4096;

#[derive(Clone, Default)]
pub struct MemoryLog {
    chunks: Vec<Arc<Vec<Event>>>,
    len: usize,
}

impl MemoryLog {
    pub fn new(events: Vec<Event>) -> MemoryLog {
        let mut log = MemoryLog { chunks: Vec::with_capacity(events.len().div_ceil(CHUNK)), len: events.len() };
        let mut rest = events.into_iter();
        loop {
            let chunk: Vec<Event> = rest.by_ref().take(CHUNK).collect();
            if chunk.is_empty() {
                return log;
            }
            log.chunks.push(Arc::new(chunk));
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, i: usize) -> Option<&Event> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// Events `from..to` (clamped to the log).
    pub fn range(&self, from: usize, to: usize) -> Vec<Event> {
        let to = to.min(self.len);
        let mut out = Vec::with_capacity(to.saturating_sub(from));
        let mut i = from;
        while i < to {
            let chunk = &self.chunks[i / CHUNK];
            let (start, end) = (i % CHUNK, (to - i + i % CHUNK).min(chunk.len()));
            out.extend_from_slice(&chunk[start..end]);
            i += end - start;
        }
        out
    }

    pub fn extend(&mut self, events: &[Event]) {
        let mut rest = events;
        while !rest.is_empty() {
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
            }
            let last = self.chunks.last_mut().expect("pushed above");
            let n = (CHUNK - last.len()).min(rest.len());
            // Copied first if a handle shares it (the handle keeps what it saw).
            Arc::make_mut(last).extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            self.len += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::event::EventBody;

    fn ev(step: u64) -> Event {
        Event { step, round: 0, tick: 0, body: EventBody::TickStarted { index: step, interactions: 0 } }
    }

    /// Ranges across chunk borders read what a plain vector holds; a handle keeps the log as it
    /// was when taken while the owner grows it, and shares its chunks rather than copying them.
    #[test]
    fn chunks_read_like_a_vector_and_handles_share_them() {
        let all: Vec<Event> = (0..(2 * CHUNK as u64 + 10)).map(ev).collect();
        let mut log = MemoryLog::new(all[..CHUNK + 3].to_vec());
        let handle = log.clone();
        log.extend(&all[CHUNK + 3..]);
        assert_eq!(log.len(), all.len());
        for (a, b) in [(0, 5), (CHUNK - 2, CHUNK + 7), (10, 2 * CHUNK + 10), (2 * CHUNK + 5, 9 * CHUNK)] {
            let steps: Vec<u64> = log.range(a, b).iter().map(|e| e.step).collect();
            assert_eq!(steps, (a as u64..(b.min(all.len()) as u64)).collect::<Vec<_>>(), "{a}..{b}");
        }
        assert_eq!(log.get(CHUNK).map(|e| e.step), Some(CHUNK as u64));
        assert!(log.get(all.len()).is_none());
        assert_eq!(handle.len(), CHUNK + 3);
        assert_eq!(handle.range(0, usize::MAX).len(), CHUNK + 3);
        assert!(Arc::ptr_eq(&handle.chunks[0], &log.chunks[0]), "the full chunk was copied");
    }
}
