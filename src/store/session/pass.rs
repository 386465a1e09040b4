//! A first pass over a stretch of a session: its chunks read and parsed by two long-lived
//! workers, taking turns, each with a file handle and buffers of its own, while the caller
//! applies them in order. The caller's thread only applies: parsing and freeing what it parsed
//! stay on the worker that allocated it.

use super::{io, parse_event_lean, SessionFile};
use crate::store::StoreError;
use crate::world::event::Event;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};

/// One worker a core (two cores is what the pass is tuned for; more would wait on the apply).
const WORKERS: usize = 2;
/// Parsed chunks a worker may hold beyond the one it hands over: apply and parse costs vary
/// with the kinds of events, and a little slack keeps either side from waiting on the other.
const AHEAD: usize = 2;

/// What a worker needs of the session (a `SessionFile` itself stays on its thread).
#[derive(Clone, Copy)]
struct Lines<'a> {
    path: &'a Path,
    offsets: &'a [u64],
    events_end: u64,
    from: usize,
    to: usize,
    chunk: usize,
}

impl SessionFile {
    /// Events `from..to` a chunk at a time, read for `World::apply` alone (the strings it never
    /// reads are empty), handed to `f` in order, the next chunks parsing on other threads while
    /// `f` works on this one: a first pass over a long stretch costs about the larger of parsing
    /// and applying, not their sum. A bad line is the error it would be read alone, after the
    /// events before it were handed to `f`.
    pub fn each_chunk(&self, from: u64, to: u64, chunk: u64, mut f: impl FnMut(&[Event]) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let to = (to as usize).min(self.offsets.len());
        let from = (from as usize).min(to);
        let chunk = chunk.max(1) as usize;
        let count = (to - from).div_ceil(chunk);
        if count == 0 {
            return Ok(());
        }
        let lines = Lines { path: &self.path, offsets: &self.offsets, events_end: self.events_end, from, to, chunk };
        let lost = || StoreError::Other(format!("{}: a parser thread panicked", self.path.display()));
        let workers = WORKERS.min(count);
        std::thread::scope(|s| {
            let mut lanes = Vec::with_capacity(workers);
            let mut threads = Vec::with_capacity(workers);
            for lane in 0..workers {
                // Bounded, so memory holds a few chunks whatever the stretch's length.
                let (tx, rx) = sync_channel(AHEAD);
                let (back, returned) = channel();
                threads.push(s.spawn(move || work(lines, lane, workers, tx, returned)));
                lanes.push((rx, back));
            }
            let applied: Result<(), StoreError> = (0..count).try_for_each(|i| {
                let (rx, back) = &lanes[i % workers];
                let events = rx.recv().map_err(|_| lost())??;
                f(&events)?;
                // Freed (and its room reused) by the worker that allocated it.
                let _ = back.send(events);
                Ok(())
            });
            // Workers still parsing ahead stop at their next hand-over.
            drop(lanes);
            let joined = threads.into_iter().map(|t| t.join()).collect::<Vec<_>>();
            applied?;
            joined.into_iter().try_for_each(|j| j.map_err(|_| lost()))
        })
    }
}

/// A worker: chunks `lane`, `lane + lanes`, … of the stretch, parsed and handed over in turn.
fn work(at: Lines, lane: usize, lanes: usize, tx: SyncSender<Result<Vec<Event>, StoreError>>, returned: Receiver<Vec<Event>>) {
    let mut file = None;
    let mut bytes = Vec::new();
    let mut events = Vec::new();
    let mut lo = at.from + lane * at.chunk;
    while lo < at.to {
        let hi = (lo + at.chunk).min(at.to);
        for mut done in returned.try_iter() {
            done.clear();
            events = done;
        }
        let parsed = read(at, &mut file, lo, hi, &mut bytes).and_then(|start| parse_into(at, &bytes, start, lo, hi, std::mem::take(&mut events)));
        let failed = parsed.is_err();
        if tx.send(parsed).is_err() || failed {
            return;
        }
        lo += lanes * at.chunk;
    }
}

/// The bytes of lines `lo..hi` into `bytes`; returns the file offset they start at.
fn read(at: Lines, file: &mut Option<std::fs::File>, lo: usize, hi: usize, bytes: &mut Vec<u8>) -> Result<u64, StoreError> {
    use std::io::{Read, Seek, SeekFrom};
    let name = || at.path.display();
    let file = match file {
        Some(f) => f,
        None => file.insert(std::fs::File::open(at.path).map_err(io(format!("{}: cannot open", name())))?),
    };
    let start = at.offsets[lo];
    let end = at.offsets.get(hi).copied().unwrap_or(at.events_end);
    bytes.resize((end - start) as usize, 0);
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(bytes).map_err(io(format!("{}: read failed", name())))?;
    Ok(start)
}

/// Events `lo..hi` parsed from `bytes` (read from offset `start`) into `out`.
fn parse_into(at: Lines, bytes: &[u8], start: u64, lo: usize, hi: usize, mut out: Vec<Event>) -> Result<Vec<Event>, StoreError> {
    out.reserve(hi - lo);
    for i in lo..hi {
        let a = (at.offsets[i] - start) as usize;
        let b = at.offsets.get(i + 1).map_or(bytes.len(), |o| (o - start) as usize);
        let line = &bytes[a..b];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let ev = parse_event_lean(line, i as u64).map_err(|error| StoreError::Line { file: at.path.display().to_string(), line: i as u64 + 2, error })?;
        out.push(ev);
    }
    Ok(out)
}
