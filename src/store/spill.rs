//! Keyframes on disk. A long session's keyframes cannot all stay in memory at a fixed spacing;
//! rather than spacing them further apart (which makes seeks slower the longer the session), the
//! timeline writes them to an anonymous temporary file, which the system removes when the
//! timeline is dropped. A keyframe is a world in MessagePack (fields in order, not by name: half
//! the bytes and a third faster to decode), LZ4-compressed; loading one rebuilds the derived
//! indexes from a donor world.

use crate::world::World;
use super::{io, StoreError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

pub struct DiskKeyframes {
    file: File,
    /// Bytes written so far (where the next keyframe goes).
    end: u64,
    /// Step → where its keyframe lies in the file (offset, length).
    index: BTreeMap<u64, (u64, u32)>,
}

impl DiskKeyframes {
    /// A store in `dir`, or in the system's temporary directory (`TMPDIR`).
    pub fn create(dir: Option<&std::path::Path>) -> Result<DiskKeyframes, StoreError> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d),
            None => tempfile::tempfile(),
        }
        .map_err(io("creating a temporary file for keyframes"))?;
        Ok(DiskKeyframes { file, end: 0, index: BTreeMap::new() })
    }

    pub fn contains(&self, step: u64) -> bool {
        self.index.contains_key(&step)
    }

    /// The step of the last keyframe at or before `n`.
    pub fn floor(&self, n: u64) -> Option<u64> {
        self.index.range(..=n).next_back().map(|(k, _)| *k)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes the file takes.
    pub fn bytes(&self) -> u64 {
        self.end
    }

    /// Store `world` as the keyframe for its step. A failed write leaves the store as it was
    /// (the index only learns of a keyframe once all of it is written).
    pub fn put(&mut self, world: &World) -> Result<(), StoreError> {
        let packed = rmp_serde::to_vec(world).map_err(|source| StoreError::Encode { what: "encoding a keyframe".into(), source })?;
        let bytes = lz4_flex::compress_prepend_size(&packed);
        let len = u32::try_from(bytes.len()).map_err(|_| StoreError::Other(format!("a keyframe of {} bytes is too large", bytes.len())))?;
        self.file.seek(SeekFrom::Start(self.end)).map_err(io("writing a keyframe"))?;
        self.file.write_all(&bytes).map_err(io("writing a keyframe"))?;
        self.index.insert(world.steps(), (self.end, len));
        self.end += len as u64;
        Ok(())
    }

    /// The keyframe at `step`, with its derived state rebuilt from `donor` (a world of the same
    /// session at `step` or later).
    pub fn get(&mut self, step: u64, donor: &World) -> Result<World, StoreError> {
        let (offset, len) = *self.index.get(&step).ok_or_else(|| StoreError::Other(format!("no keyframe on disk at step {step}")))?;
        let mut bytes = vec![0u8; len as usize];
        self.file.seek(SeekFrom::Start(offset)).map_err(io("reading a keyframe"))?;
        self.file.read_exact(&mut bytes).map_err(io("reading a keyframe"))?;
        let packed = lz4_flex::decompress_size_prepended(&bytes).map_err(|e| StoreError::Other(format!("keyframe at step {step}: {e}")))?;
        let mut world: World = rmp_serde::from_slice(&packed).map_err(|source| StoreError::Decode { what: format!("decoding the keyframe at step {step}"), source })?;
        if world.steps() != step {
            return Err(StoreError::Other(format!("the keyframe filed at step {step} holds step {}", world.steps())));
        }
        world.rebuild_derived(donor).map_err(|e| StoreError::Other(format!("keyframe at step {step}: {e}")))?;
        Ok(world)
    }
}
