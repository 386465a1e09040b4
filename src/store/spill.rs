//! Keyframes on disk. A long session's keyframes cannot all stay in memory at a fixed spacing;
//! rather than spacing them further apart (which makes seeks slower the longer the session), the
//! timeline writes them to an anonymous temporary file, which the system removes when the
//! timeline is dropped. A keyframe is a world in MessagePack (fields in order, not by name: half
//! the bytes and a third faster to decode), LZ4-compressed; loading one rebuilds the derived
//! indexes from a donor world.
//!
//! Encoding a keyframe of a big world costs as much as replaying tens of thousands of events, so
//! by default a writer thread does it: the replay hands it a world (a cheap copy-on-write clone)
//! and goes on, and a keyframe offered while the writer is still busy is skipped. Keyframes then
//! come as often as the writer keeps up, and a first pass runs at replay speed.

use super::{io, StoreError};
use crate::world::World;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The file and what is in it, shared with the writer thread.
struct Shelf {
    file: File,
    /// Bytes written so far (where the next keyframe goes).
    end: u64,
    /// Step → where its keyframe lies in the file (offset, length).
    index: BTreeMap<u64, (u64, u32)>,
    /// The first write that failed; nothing is written after it.
    error: Option<String>,
    /// Keyframes handed to the writer and not yet written.
    pending: usize,
}

impl Shelf {
    /// Append an encoded keyframe. A failed write leaves the store as it was (the index only
    /// learns of a keyframe once all of it is written).
    fn append(&mut self, step: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let len = u32::try_from(bytes.len()).map_err(|_| StoreError::Other(format!("a keyframe of {} bytes is too large", bytes.len())))?;
        self.file.seek(SeekFrom::Start(self.end)).map_err(io("writing a keyframe"))?;
        self.file.write_all(bytes).map_err(io("writing a keyframe"))?;
        self.index.insert(step, (self.end, len));
        self.end += len as u64;
        Ok(())
    }
}

fn encode(world: &World) -> Result<Vec<u8>, StoreError> {
    let packed = rmp_serde::to_vec(world).map_err(|source| StoreError::Encode { what: "encoding a keyframe".into(), source })?;
    Ok(lz4_flex::compress_prepend_size(&packed))
}

struct Writer {
    tx: SyncSender<World>,
    thread: std::thread::JoinHandle<()>,
}

/// The shelf, and a signal that the writer finished one.
type Shared = Arc<(Mutex<Shelf>, Condvar)>;

pub struct DiskKeyframes {
    shared: Shared,
    /// `None`: keyframes are encoded and written by the caller, in `put`.
    writer: Option<Writer>,
    /// Steps handed to the writer (written, being written, or failed).
    offered: BTreeSet<u64>,
}

impl DiskKeyframes {
    /// A store in `dir`, or in the system's temporary directory (`TMPDIR`); `background` puts a
    /// writer thread behind it.
    pub fn create(dir: Option<&std::path::Path>, background: bool) -> Result<DiskKeyframes, StoreError> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d),
            None => tempfile::tempfile(),
        }
        .map_err(io("creating a temporary file for keyframes"))?;
        let shared: Shared = Arc::new((Mutex::new(Shelf { file, end: 0, index: BTreeMap::new(), error: None, pending: 0 }), Condvar::new()));
        let writer = if background {
            // One world waits while another is encoded; more would only hold memory.
            let (tx, rx) = sync_channel::<World>(1);
            let shelf = shared.clone();
            let thread = std::thread::Builder::new()
                .name("keyframes".into())
                .spawn(move || {
                    for world in rx {
                        let step = world.steps();
                        let encoded = encode(&world);
                        drop(world);
                        let mut guard = lock(&shelf.0);
                        if guard.error.is_none() {
                            if let Err(e) = encoded.and_then(|bytes| guard.append(step, &bytes)) {
                                guard.error = Some(format!("{e:#}"));
                            }
                        }
                        guard.pending -= 1;
                        shelf.1.notify_all();
                    }
                })
                .map_err(io("starting the keyframe writer"))?;
            Some(Writer { tx, thread })
        } else {
            None
        };
        Ok(DiskKeyframes { shared, writer, offered: BTreeSet::new() })
    }

    fn shelf(&self) -> MutexGuard<'_, Shelf> {
        lock(&self.shared.0)
    }

    /// Whether a keyframe at `step` was offered (it may still be on its way to the file).
    pub fn contains(&self, step: u64) -> bool {
        self.offered.contains(&step)
    }

    /// The step of the last keyframe written at or before `n`.
    pub fn floor(&self, n: u64) -> Option<u64> {
        self.shelf().index.range(..=n).next_back().map(|(k, _)| *k)
    }

    /// Keyframes written.
    pub fn len(&self) -> usize {
        self.shelf().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the file takes.
    pub fn bytes(&self) -> u64 {
        self.shelf().end
    }

    /// Why writing stopped, if it did.
    pub fn error(&self) -> Option<String> {
        self.shelf().error.clone()
    }

    /// Store `world` as the keyframe for its step. With a writer thread, it is handed over and
    /// this returns at once; `false` when the writer was busy and the keyframe was skipped.
    pub fn put(&mut self, world: &World) -> Result<bool, StoreError> {
        let step = world.steps();
        match &self.writer {
            None => {
                let bytes = encode(world)?;
                self.shelf().append(step, &bytes)?;
            }
            Some(w) => {
                // Counted before it is sent: the writer may finish it before `try_send` returns.
                self.shelf().pending += 1;
                let sent = w.tx.try_send(world.clone());
                if sent.is_err() {
                    self.shelf().pending -= 1;
                }
                match sent {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => return Ok(false),
                    Err(TrySendError::Disconnected(_)) => return Err(StoreError::Other("the keyframe writer stopped".into())),
                }
            }
        }
        self.offered.insert(step);
        Ok(true)
    }

    /// Wait until every keyframe handed to the writer is written (or has failed).
    pub fn settle(&self) {
        let mut guard = self.shelf();
        while guard.pending > 0 {
            guard = self.shared.1.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The keyframe at `step`, with its derived state rebuilt from `donor` (a world of the same
    /// session at `step` or later).
    pub fn get(&self, step: u64, donor: &World) -> Result<World, StoreError> {
        let bytes = {
            let mut shelf = self.shelf();
            let (offset, len) = *shelf.index.get(&step).ok_or_else(|| StoreError::Other(format!("no keyframe on disk at step {step}")))?;
            let mut bytes = vec![0u8; len as usize];
            shelf.file.seek(SeekFrom::Start(offset)).map_err(io("reading a keyframe"))?;
            shelf.file.read_exact(&mut bytes).map_err(io("reading a keyframe"))?;
            bytes
        };
        let packed = lz4_flex::decompress_size_prepended(&bytes).map_err(|e| StoreError::Other(format!("keyframe at step {step}: {e}")))?;
        let mut world: World =
            rmp_serde::from_slice(&packed).map_err(|source| StoreError::Decode { what: format!("decoding the keyframe at step {step}"), source })?;
        if world.steps() != step {
            return Err(StoreError::Other(format!("the keyframe filed at step {step} holds step {}", world.steps())));
        }
        world.rebuild_derived(donor).map_err(|e| StoreError::Other(format!("keyframe at step {step}: {e}")))?;
        Ok(world)
    }
}

impl Drop for DiskKeyframes {
    fn drop(&mut self) {
        // The writer ends once the channel closes; what it holds is dropped with the file.
        if let Some(w) = self.writer.take() {
            drop(w.tx);
            let _ = w.thread.join();
        }
    }
}

/// The shelf even if a writer panicked holding it: its index only ever names whole keyframes.
fn lock(shelf: &Mutex<Shelf>) -> MutexGuard<'_, Shelf> {
    shelf.lock().unwrap_or_else(|e| e.into_inner())
}
