//! Time travel over an event log: the state at any step is the nearest keyframe (a full world kept
//! every K events) plus the events after it, applied forward; a few recent states are cached so
//! stepping back one event does not replay from anywhere far.

use crate::event::Event;
use crate::session::SessionFile;
use crate::world::World;
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

/// Where the events come from: a file read on demand, or a log held in memory (live runs).
pub enum EventStore {
    File(SessionFile),
    Memory(Vec<Event>),
}

impl EventStore {
    pub fn len(&self) -> u64 {
        match self {
            EventStore::File(f) => f.len(),
            EventStore::Memory(v) => v.len() as u64,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Events `from..to`.
    pub fn range(&self, from: u64, to: u64) -> Result<Vec<Event>> {
        match self {
            EventStore::File(f) => f.events(from, to),
            EventStore::Memory(v) => {
                let to = (to as usize).min(v.len());
                let from = (from as usize).min(to);
                Ok(v[from..to].to_vec())
            }
        }
    }
    pub fn get(&self, i: u64) -> Result<Event> {
        match self {
            EventStore::File(f) => f.event(i),
            EventStore::Memory(v) => v.get(i as usize).cloned().ok_or_else(|| anyhow!("no event {i}")),
        }
    }
}

pub const DEFAULT_KEYFRAME_EVERY: u64 = 256;
/// Memory the keyframes may take: past it every other keyframe is dropped and the spacing
/// doubles, so memory stays bounded whatever spacing was asked for (and small worlds keep fine
/// spacing on long sessions, so seeks stay flat).
const KEYFRAME_BUDGET_BYTES: usize = 768 << 20;
const CACHE: usize = 12;

pub struct Timeline {
    pub store: EventStore,
    /// 0 disables keyframes (every seek replays from the start, or from a cached state).
    keyframe_every: u64,
    /// State with exactly `n` events applied, for n a multiple of `keyframe_every`.
    keyframes: BTreeMap<u64, World>,
    /// Recently visited states, most recent last.
    recent: Vec<(u64, World)>,
    /// How many keyframes fit the budget (estimated from the first keyframe's size).
    max_keyframes: Option<usize>,
}

impl Timeline {
    pub fn new(store: EventStore, keyframe_every: u64) -> Timeline {
        let mut keyframes = BTreeMap::new();
        keyframes.insert(0, World::new());
        Timeline { store, keyframe_every, keyframes, recent: Vec::new(), max_keyframes: None }
    }

    pub fn len(&self) -> u64 {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Append events of a live run (memory stores only).
    pub fn push(&mut self, events: &[Event]) {
        if let EventStore::Memory(v) = &mut self.store {
            v.extend_from_slice(events);
        }
    }

    /// The world with the first `n` events applied (`n` is clamped to the log's length).
    pub fn state(&mut self, n: u64) -> Result<World> {
        let n = n.min(self.len());
        if let Some((_, w)) = self.recent.iter().rev().find(|(k, _)| *k == n) {
            return Ok(w.clone());
        }
        // Start from the closest known state at or before n.
        let key = self.keyframes.range(..=n).next_back().map(|(k, _)| *k).unwrap_or(0);
        let cached = self.recent.iter().filter(|(k, _)| *k <= n && *k >= key).max_by_key(|(k, _)| *k).map(|(k, _)| *k);
        let (mut at, mut world) = match cached {
            Some(k) => (k, self.recent.iter().find(|(c, _)| *c == k).map(|(_, w)| w.clone()).unwrap_or_default()),
            None => (key, self.keyframes.get(&key).cloned().unwrap_or_default()),
        };
        const CHUNK: u64 = 4096;
        // Moving backward (stepping back through a session) replays the same stretch again and
        // again: leave a few checkpoints along it so the next steps back start close by.
        let backward = self.recent.last().is_some_and(|(k, _)| *k > n && *k - n <= 16);
        let stride = if backward && n - at > 64 { ((n - at) / 8).max(1) } else { u64::MAX };
        let from = at;
        while at < n {
            let to = (at + CHUNK).min(n);
            for ev in self.store.range(at, to)? {
                world.apply(&ev).map_err(|e| anyhow!("step {}: {e}", ev.step))?;
                at += 1;
                if stride != u64::MAX && at < n && (at - from) % stride == 0 {
                    self.recent.push((at, world.clone()));
                }
                if self.keyframe_every > 0 && at % self.keyframe_every == 0 && !self.keyframes.contains_key(&at) {
                    self.keyframes.insert(at, world.clone());
                    // Worlds grow: re-estimate the budget's room whenever the count doubles.
                    let n = self.keyframes.len();
                    if self.max_keyframes.is_none() || n.is_power_of_two() {
                        // A world in memory takes about three times what its JSON does (measured).
                        let size = serde_json::to_vec(&world).map(|v| v.len()).unwrap_or(1 << 20) * 3;
                        self.max_keyframes = Some((KEYFRAME_BUDGET_BYTES / size.max(1)).clamp(64, 1 << 16));
                    }
                    let max = self.max_keyframes.unwrap_or(64);
                    if self.keyframes.len() > max {
                        self.keyframe_every *= 2;
                        let every = self.keyframe_every;
                        self.keyframes.retain(|k, _| k % every == 0);
                    }
                }
            }
        }
        self.recent.retain(|(k, _)| *k != n);
        self.recent.push((n, world.clone()));
        while self.recent.len() > CACHE {
            self.recent.remove(0);
        }
        Ok(world)
    }

    /// The world after event `step` (so `at(0)` has the first event applied).
    pub fn at(&mut self, step: u64) -> Result<World> {
        self.state(step + 1)
    }

    pub fn keyframe_count(&self) -> usize {
        self.keyframes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::Engine;
    use crate::reasoner::offline::Offline;
    use proptest::prelude::*;

    fn demo_events() -> Vec<Event> {
        let sc = crate::scenario::load_scenario("demo", 7).unwrap();
        let cfg = Config::from_layers(&[sc.config.clone()], &[]).unwrap();
        let mut e = Engine::new(&sc.spec, cfg, 7, 1);
        e.run_to_end(&mut Offline::new())
    }

    fn json(w: &World) -> String {
        serde_json::to_string(w).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn seek_after_any_seeks_equals_replay_from_the_start(
            k in prop_oneof![Just(0u64), 1u64..40],
            seeks in prop::collection::vec(0u64..1000, 1..6),
            target in 0u64..1000,
        ) {
            let events = demo_events();
            let n = events.len() as u64;
            let mut tl = Timeline::new(EventStore::Memory(events.clone()), k);
            for s in seeks {
                tl.state(s % (n + 1)).unwrap();
            }
            let t = target % (n + 1);
            let mut fresh = World::new();
            fresh.apply_all(&events[..t as usize]).unwrap();
            prop_assert_eq!(json(&tl.state(t).unwrap()), json(&fresh));
        }
    }

    #[test]
    fn five_forward_five_back_is_the_same_state() {
        let mut tl = Timeline::new(EventStore::Memory(demo_events()), 16);
        let start = json(&tl.state(100).unwrap());
        for i in 1..=5 {
            tl.state(100 + i).unwrap();
        }
        for i in (0..5).rev() {
            tl.state(100 + i).unwrap();
        }
        assert_eq!(json(&tl.state(100).unwrap()), start);
    }
}
