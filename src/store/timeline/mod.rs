//! Time travel over an event log: the state at any step is the nearest keyframe (a full world kept
//! every K events) plus the events after it, applied forward; a few recent states are cached so
//! stepping back one event does not replay from anywhere far.

use super::StoreError;
use crate::store::session::SessionFile;
use crate::store::spill::DiskKeyframes;
use crate::world::event::Event;
use crate::world::World;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

mod memory;
pub use memory::MemoryLog;

/// Where the events come from: a file read on demand, or a log held in memory (live runs, forks).
#[allow(clippy::large_enum_variant)] // one per timeline
pub enum EventStore {
    File(SessionFile),
    Memory(MemoryLog),
}

impl EventStore {
    /// A log held in memory.
    pub fn memory(events: Vec<Event>) -> EventStore {
        EventStore::Memory(MemoryLog::new(events))
    }

    pub fn len(&self) -> u64 {
        match self {
            EventStore::File(f) => f.len(),
            EventStore::Memory(v) => v.len() as u64,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The line number of a session file's last line cut short, which is not read.
    pub fn torn_line(&self) -> Option<u64> {
        match self {
            EventStore::File(f) => f.torn_line(),
            EventStore::Memory(_) => None,
        }
    }
    /// Another handle on the same events, for a thread of its own: a session file reopened
    /// (sharing its index), a log in memory sharing its chunks (what it holds now).
    pub fn handle(&self) -> Result<EventStore, StoreError> {
        Ok(match self {
            EventStore::File(f) => EventStore::File(f.reopen()?),
            EventStore::Memory(v) => EventStore::Memory(v.clone()),
        })
    }

    /// Events `from..to`.
    pub fn range(&self, from: u64, to: u64) -> Result<Vec<Event>, StoreError> {
        match self {
            EventStore::File(f) => f.events(from, to),
            EventStore::Memory(v) => Ok(v.range(from.min(usize::MAX as u64) as usize, to.min(usize::MAX as u64) as usize)),
        }
    }
    pub fn get(&self, i: u64) -> Result<Event, StoreError> {
        match self {
            EventStore::File(f) => f.event(i),
            EventStore::Memory(v) => v.get(i as usize).cloned().ok_or_else(|| StoreError::Other(format!("no event {i}"))),
        }
    }
}

pub const DEFAULT_KEYFRAME_EVERY: u64 = 256;
const CACHE: usize = 12;
/// Events read from the store at a time while replaying.
const CHUNK: u64 = 4096;

/// How keyframes are kept. Memory keyframes sit at the asked spacing until they would take more
/// than `memory_budget`; then every other one is dropped (the spacing doubles), and keyframes go
/// to disk at `disk_every` instead, so a seek never replays more than about `disk_every` events
/// whatever the session's length.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_budget: usize,
    /// Memory keyframes kept past the budget (a huge world still gets some), up to twice it.
    pub min_keyframes: usize,
    /// Spacing of disk keyframes (rounded up to a multiple of the keyframe spacing); 0: none.
    pub disk_every: u64,
    /// What loading a disk keyframe costs, in events replayed; `None`: measured as seeks go.
    pub disk_load_events: Option<u64>,
    /// Where disk keyframes go; `None`: the system's temporary directory.
    pub spill_dir: Option<std::path::PathBuf>,
    /// Bytes the keyframe file may take; past it no more keyframes go to disk (later seeks
    /// replay from memory keyframes: exact, only slower).
    pub disk_budget: u64,
    /// Disk keyframes are encoded on a writer thread, and skipped while it is busy (a first pass
    /// runs at replay speed); `false` writes each one before going on (the same keyframes every
    /// time, for tests).
    pub disk_in_background: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_budget: 768 << 20,
            min_keyframes: 64,
            disk_every: 1024,
            disk_load_events: None,
            spill_dir: None,
            disk_budget: 4 << 30,
            disk_in_background: true,
        }
    }
}

/// Until measured: loading a disk keyframe costs about as much as replaying this many events
/// (a 400-agent world: ~2.5 ms to load, ~2 µs an event).
const DISK_LOAD_GUESS_EVENTS: f64 = 1200.0;

/// Running means of what a disk load and one replayed event take, to choose where to start.
#[derive(Debug, Clone, Copy, Default)]
struct Costs {
    load_nanos: Option<f64>,
    event_nanos: Option<f64>,
}

impl Costs {
    fn mix(old: Option<f64>, new: f64) -> Option<f64> {
        Some(old.map_or(new, |o| 0.8 * o + 0.2 * new))
    }
    fn load_in_events(&self) -> f64 {
        match (self.load_nanos, self.event_nanos) {
            (Some(l), Some(e)) if e > 0.0 => l / e,
            _ => DISK_LOAD_GUESS_EVENTS,
        }
    }
}

/// The known states closest at or before a step: the memory keyframe, a cached state at or after
/// it, and the disk keyframe.
struct Known {
    key: u64,
    cached: Option<u64>,
    on_disk: Option<u64>,
}

pub struct Timeline {
    pub store: EventStore,
    /// Current spacing of memory keyframes; 0 disables keyframes (every seek replays from the
    /// start, or from a cached state).
    keyframe_every: u64,
    limits: Limits,
    /// State with exactly `n` events applied, for n a multiple of `keyframe_every`.
    keyframes: BTreeMap<u64, World>,
    /// Estimated bytes the memory keyframes hold (shared agents counted once).
    keyframe_bytes: usize,
    /// Recently visited states, most recent last.
    recent: Vec<(u64, World)>,
    disk: Option<DiskKeyframes>,
    /// Why disk keyframes stopped being written (seeks still work, only slower).
    disk_error: Option<String>,
    /// The furthest state reached: lends worlds loaded from disk its embedder and attribute space.
    donor: Option<World>,
    costs: Costs,
    disk_loads: u64,
    /// Keyframes being laid on a thread of their own (see `build_keyframes`).
    build: Option<Build>,
    /// Where the next build should reach, asked for while one was running.
    build_wanted: u64,
    /// On a builder's own timeline: raised, its replay stops.
    cancel: Option<Arc<AtomicBool>>,
}

/// A builder thread: a timeline of its own over the same session, replaying to `upto` and
/// laying keyframes (in memory and on disk), handed back whole when it gets there.
struct Build {
    upto: u64,
    cancel: Arc<AtomicBool>,
    done: Receiver<Result<Timeline, StoreError>>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for Timeline {
    fn drop(&mut self) {
        if let Some(b) = self.build.take() {
            b.cancel.store(true, Ordering::Relaxed);
            let _ = b.thread.join();
        }
    }
}

/// Apply one event, naming a session file's bad event by its FILE:LINE (the header is line 1).
fn apply_one(world: &mut World, ev: &Event, file: Option<&str>) -> Result<(), StoreError> {
    world.apply(ev).map_err(|error| match file {
        Some(f) => StoreError::Other(format!("{f}:{}: {error}", ev.step + 2)),
        None => StoreError::Apply { step: ev.step, error },
    })
}

impl Timeline {
    pub fn new(store: EventStore, keyframe_every: u64) -> Timeline {
        Timeline::with_limits(store, keyframe_every, Limits::default())
    }

    pub fn with_limits(store: EventStore, keyframe_every: u64, mut limits: Limits) -> Timeline {
        if keyframe_every == 0 {
            limits.disk_every = 0;
        } else if limits.disk_every > 0 {
            limits.disk_every = limits.disk_every.div_ceil(keyframe_every) * keyframe_every;
        }
        let mut keyframes = BTreeMap::new();
        keyframes.insert(0, World::new());
        Timeline {
            store,
            keyframe_every,
            limits,
            keyframes,
            keyframe_bytes: 0,
            recent: Vec::new(),
            disk: None,
            disk_error: None,
            donor: None,
            costs: Costs::default(),
            disk_loads: 0,
            build: None,
            build_wanted: 0,
            cancel: None,
        }
    }

    fn file_name(&self) -> Option<String> {
        match &self.store {
            EventStore::File(f) => Some(f.path.display().to_string()),
            EventStore::Memory(_) => None,
        }
    }

    /// Whether `build_keyframes` lays keyframes on a thread of its own (a session file: the
    /// thread reads it through a handle of its own).
    pub fn builds_in_background(&self) -> bool {
        matches!(self.store, EventStore::File(_)) && self.keyframe_every > 0
    }

    /// Whether keyframes are being laid in the background.
    pub fn building(&self) -> bool {
        self.build.is_some()
    }

    /// Lay the keyframes up to step `upto` on a thread of its own, as `state(upto)` would have
    /// (a far jump reaches its target with `advance` first, laying none). Meanwhile this timeline
    /// answers from what it already knew, exactly, and lays no keyframes of its own; it takes the
    /// builder's on the first seek after they are ready.
    pub fn build_keyframes(&mut self, upto: u64) {
        let upto = upto.min(self.len());
        if let Some(b) = &self.build {
            if upto > b.upto {
                self.build_wanted = self.build_wanted.max(upto);
            }
            return;
        }
        let Known { key, on_disk, .. } = self.known(upto);
        // Keyframes already close by (a cached state does not count: it is no keyframe).
        if !self.builds_in_background() || upto - key.max(on_disk.unwrap_or(0)) <= self.keyframe_every {
            return;
        }
        let EventStore::File(f) = &self.store else { return };
        // Without a second handle, keyframes come as before: laid by the seeks that replay.
        let Ok(file) = f.reopen() else { return };
        let cancel = Arc::new(AtomicBool::new(false));
        let mut builder = Timeline {
            store: EventStore::File(file),
            keyframe_every: self.keyframe_every,
            // A quarter of the budget is left to the states the inspector holds meanwhile (the
            // target, its time step's start), so the peak stays that of a replay laying them.
            limits: Limits { memory_budget: self.limits.memory_budget / 4 * 3, ..self.limits.clone() },
            keyframes: self.keyframes.clone(),
            keyframe_bytes: self.keyframe_bytes,
            recent: Vec::new(),
            disk: self.disk.take(),
            disk_error: self.disk_error.clone(),
            donor: self.donor.clone(),
            costs: self.costs,
            disk_loads: 0,
            build: None,
            build_wanted: 0,
            cancel: Some(cancel.clone()),
        };
        let (tx, done) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name("keyframes-build".into()).spawn(move || {
            let built = builder.state(upto).map(|_| builder);
            let _ = tx.send(built);
        });
        if let Ok(thread) = spawned {
            self.build = Some(Build { upto, cancel, done, thread });
        }
    }

    /// Take the builder's keyframes if it has finished (and start the next build asked for).
    fn take_build(&mut self) {
        let Some(b) = &self.build else { return };
        let built = match b.done.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Err(StoreError::Other("the keyframe builder stopped".into())),
        };
        let b = self.build.take().expect("checked above");
        let _ = b.thread.join();
        // A builder that failed leaves seeks exact, only slower: a bad event it met is the one the
        // seek that replays there reports.
        if let Ok(mut built) = built {
            self.keyframes = std::mem::take(&mut built.keyframes);
            self.keyframe_every = built.keyframe_every;
            self.keyframe_bytes = built.keyframe_bytes;
            self.disk = built.disk.take();
            self.disk_error = built.disk_error.take();
            self.costs = built.costs;
            self.disk_loads += built.disk_loads;
            if let Some(d) = built.donor.take() {
                self.offer_donor(&d);
            }
        }
        let wanted = std::mem::take(&mut self.build_wanted);
        if wanted > b.upto {
            self.build_keyframes(wanted);
        }
    }

    /// The closest known state at or before `n`, to `advance` from.
    pub fn closest(&mut self, n: u64) -> Result<World, StoreError> {
        self.take_build();
        let n = n.min(self.len());
        let (_, mut world, prefetched) = self.start_for(n)?;
        let file = self.file_name();
        for ev in &prefetched {
            apply_one(&mut world, ev, file.as_deref())?;
        }
        Ok(world)
    }

    /// Apply the events from `world`'s step up to `to` onto it, laying no keyframes and caching
    /// nothing: the first pass of a far jump, as fast as events parse and apply. A bad line is
    /// an error naming its FILE:LINE, as in `state`.
    pub fn advance(&self, world: &mut World, to: u64) -> Result<(), StoreError> {
        let to = to.min(self.len());
        let file = self.file_name();
        if let EventStore::File(f) = &self.store {
            return f.each_chunk(world.steps(), to, CHUNK, |events| events.iter().try_for_each(|ev| apply_one(world, ev, file.as_deref())));
        }
        while world.steps() < to {
            let at = world.steps();
            for ev in self.store.range(at, (at + CHUNK).min(to))? {
                apply_one(world, &ev, file.as_deref())?;
            }
        }
        Ok(())
    }

    /// Keep `world` (a state reached by `advance`) among the recent states, so seeking to it
    /// costs nothing.
    pub fn remember(&mut self, world: World) {
        self.offer_donor(&world);
        self.cache(world);
    }

    /// Replays on this timeline stop (with an error) once `flag` is raised: a job's cancel.
    pub fn stop_when(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    fn cache(&mut self, world: World) {
        let n = world.steps();
        self.recent.retain(|(k, _)| *k != n);
        self.recent.push((n, world));
        while self.recent.len() > CACHE {
            self.recent.remove(0);
        }
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
            v.extend(events);
        }
    }

    /// The world with the first `n` events applied (`n` is clamped to the log's length).
    pub fn state(&mut self, n: u64) -> Result<World, StoreError> {
        self.take_build();
        let n = n.min(self.len());
        if let Some((_, w)) = self.recent.iter().rev().find(|(k, _)| *k == n) {
            return Ok(w.clone());
        }
        let (mut at, mut world, mut prefetched) = self.start_for(n)?;
        // Moving backward (stepping back through a session) replays the same stretch again and
        // again: leave a few checkpoints along it so the next steps back start close by.
        let backward = self.recent.last().is_some_and(|(k, _)| *k > n && *k - n <= 16);
        let stride = if backward && n - at > 64 { ((n - at) / 8).max(1) } else { u64::MAX };
        let from = at;
        let file = self.file_name();
        let clock = std::time::Instant::now();
        while at < n {
            if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(StoreError::Other("replay stopped (cancelled)".into()));
            }
            let events = if prefetched.is_empty() { self.store.range(at, (at + CHUNK).min(n))? } else { std::mem::take(&mut prefetched) };
            for ev in events {
                apply_one(&mut world, &ev, file.as_deref())?;
                at += 1;
                if stride != u64::MAX && at < n && (at - from) % stride == 0 {
                    self.recent.push((at, world.clone()));
                }
                self.lay_keyframe(&world);
            }
        }
        if at - from >= 64 {
            let per_event = clock.elapsed().as_nanos() as f64 / (at - from) as f64;
            self.costs.event_nanos = Costs::mix(self.costs.event_nanos, per_event);
        }
        self.offer_donor(&world);
        self.cache(world.clone());
        Ok(world)
    }

    /// The closest known state at or before `n` to replay from: a recent state, a memory
    /// keyframe, or (when that saves enough events) a disk keyframe. From disk, the events after
    /// the keyframe are read and parsed while it decodes, and come back with it.
    fn start_for(&mut self, n: u64) -> Result<(u64, World, Vec<Event>), StoreError> {
        let Known { key, cached, on_disk } = self.known(n);
        let best = cached.unwrap_or(key);
        let penalty = self.limits.disk_load_events.map_or_else(|| self.costs.load_in_events(), |e| e as f64);
        if let (Some(d), Some(donor)) = (on_disk, self.donor.as_ref()) {
            if (d - best.min(d)) as f64 > penalty && donor.steps() >= d {
                let disk = self.disk.as_ref().expect("floor came from the store");
                let store = &self.store;
                let (loaded, events) = std::thread::scope(|s| {
                    let load = s.spawn(move || {
                        let clock = std::time::Instant::now();
                        disk.get(d, donor).map(|w| (w, clock.elapsed()))
                    });
                    let events = store.range(d, (d + CHUNK).min(n));
                    (load.join(), events)
                });
                let (world, took) = loaded.map_err(|_| StoreError::Other(format!("loading the keyframe at step {d} panicked")))??;
                self.costs.load_nanos = Costs::mix(self.costs.load_nanos, took.as_nanos() as f64);
                self.disk_loads += 1;
                return Ok((d, world, events?));
            }
        }
        let world = match cached {
            Some(k) => self.recent.iter().find(|(c, _)| *c == k).map(|(_, w)| w.clone()).unwrap_or_default(),
            None => self.keyframes.get(&key).cloned().unwrap_or_default(),
        };
        Ok((best, world, Vec::new()))
    }

    /// Keep `world` as a keyframe if its step calls for one, in memory or on disk.
    fn lay_keyframe(&mut self, world: &World) {
        let at = world.steps();
        let every = self.keyframe_every;
        // While a builder lays them, this timeline's keyframes are its to replace.
        if every == 0 || self.build.is_some() {
            return;
        }
        if at.is_multiple_of(every) && !self.keyframes.contains_key(&at) {
            let before = self.keyframes.range(..at).next_back().map(|(_, w)| w);
            self.keyframe_bytes += world.marginal_bytes(before);
            self.keyframes.insert(at, world.clone());
            while self.over_budget() {
                self.thin();
            }
        } else if self.disk_active() && at.is_multiple_of(self.limits.disk_every) && !self.keyframes.contains_key(&at) {
            self.spill(world);
        }
    }

    /// Whether keyframes at `disk_every` need the disk (memory ones are spaced further apart).
    /// Past the budget, keyframes are thinned down to `min_keyframes`; past twice the budget (a
    /// world so big that `min_keyframes` copies do not fit) further, down to the first, so that
    /// memory follows the size of the world and not a multiple of it.
    fn over_budget(&self) -> bool {
        let (bytes, budget, n) = (self.keyframe_bytes, self.limits.memory_budget, self.keyframes.len());
        bytes > budget && (n > self.limits.min_keyframes || (bytes > budget.saturating_mul(2) && n > 1))
    }

    fn disk_active(&self) -> bool {
        self.limits.disk_every > 0 && self.keyframe_every > self.limits.disk_every && self.disk_error.is_none()
    }

    /// Drop every other memory keyframe (the spacing doubles); those on the disk spacing move
    /// to disk.
    fn thin(&mut self) {
        self.keyframe_every *= 2;
        let every = self.keyframe_every;
        let dropped: Vec<u64> = self.keyframes.keys().copied().filter(|k| k % every != 0).collect();
        for k in dropped {
            if let Some(w) = self.keyframes.remove(&k) {
                if self.disk_active() && k % self.limits.disk_every == 0 {
                    self.spill(&w);
                }
            }
        }
        let mut total = 0;
        let mut previous: Option<&World> = None;
        for w in self.keyframes.values() {
            total += w.marginal_bytes(previous);
            previous = Some(w);
        }
        self.keyframe_bytes = total;
    }

    fn spill(&mut self, world: &World) {
        if self.disk.as_ref().is_some_and(|d| d.contains(world.steps())) {
            return;
        }
        if self.disk.is_none() {
            match DiskKeyframes::create(self.limits.spill_dir.as_deref(), self.limits.disk_in_background) {
                Ok(d) => self.disk = Some(d),
                Err(e) => {
                    self.disk_error = Some(format!("{e:#}"));
                    return;
                }
            }
        }
        let disk = self.disk.as_mut().expect("created above");
        if let Some(e) = disk.error() {
            self.disk_error = Some(e);
            return;
        }
        if disk.bytes() >= self.limits.disk_budget {
            self.disk_error = Some(format!("the keyframe file reached its budget of {} MB at step {}", self.limits.disk_budget >> 20, world.steps()));
            return;
        }
        if let Err(e) = disk.put(world) {
            self.disk_error = Some(format!("{e:#}"));
            return;
        }
        self.offer_donor(world);
    }

    /// Keep `world` as the donor if it is the furthest state reached.
    fn offer_donor(&mut self, world: &World) {
        if self.donor.as_ref().is_none_or(|d| d.steps() < world.steps()) {
            self.donor = Some(world.clone());
        }
    }

    /// How many events reaching state `n` would replay: the distance from the closest state
    /// already known (cached, or a keyframe in memory or on disk).
    pub fn replay_distance(&self, n: u64) -> u64 {
        let n = n.min(self.len());
        let Known { key, cached, on_disk } = self.known(n);
        n - cached.unwrap_or(key).max(on_disk.unwrap_or(0))
    }

    /// The known states closest at or before `n`.
    fn known(&self, n: u64) -> Known {
        let key = self.keyframes.range(..=n).next_back().map_or(0, |(k, _)| *k);
        let cached = self.recent.iter().map(|(k, _)| *k).filter(|k| *k <= n && *k >= key).max();
        Known { key, cached, on_disk: self.disk.as_ref().and_then(|d| d.floor(n)) }
    }

    /// The world after event `step` (so `at(0)` has the first event applied).
    pub fn at(&mut self, step: u64) -> Result<World, StoreError> {
        self.state(step + 1)
    }

    pub fn keyframe_count(&self) -> usize {
        self.keyframes.len()
    }

    /// Keyframes on disk and the bytes they take (once those on their way there are written).
    pub fn disk_keyframes(&self) -> (usize, u64) {
        self.disk.as_ref().map_or((0, 0), |d| {
            d.settle();
            (d.len(), d.bytes())
        })
    }

    /// Wait until the keyframes handed to the writer thread are on disk.
    pub fn settle(&self) {
        if let Some(d) = &self.disk {
            d.settle();
        }
    }

    /// How many seeks started from a disk keyframe.
    pub fn disk_loads(&self) -> u64 {
        self.disk_loads
    }

    /// Why keyframes are no longer written to disk, if they stopped.
    pub fn disk_error(&self) -> Option<String> {
        self.disk_error.clone().or_else(|| self.disk.as_ref().and_then(|d| d.error()))
    }
}

#[cfg(test)]
mod tests;
