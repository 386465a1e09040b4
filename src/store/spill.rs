//! Keyframes on disk. A long session's keyframes cannot all stay in memory at a fixed spacing;
//! rather than spacing them further apart (which makes seeks slower the longer the session), the
//! timeline writes them to an anonymous temporary file, which the system removes when the
//! timeline is dropped. A keyframe is a world in MessagePack (fields in order, not by name: half
//! the bytes and a third faster to decode), LZ4-compressed; loading one rebuilds the derived
//! indexes from a donor world.

use crate::world::World;
use anyhow::{anyhow, Context, Result};
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
    pub fn create(dir: Option<&std::path::Path>) -> Result<DiskKeyframes> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d),
            None => tempfile::tempfile(),
        }
        .context("creating a temporary file for keyframes")?;
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
    pub fn put(&mut self, world: &World) -> Result<()> {
        let packed = rmp_serde::to_vec(world).context("encoding a keyframe")?;
        let bytes = lz4_flex::compress_prepend_size(&packed);
        let len = u32::try_from(bytes.len()).map_err(|_| anyhow!("a keyframe of {} bytes is too large", bytes.len()))?;
        self.file.seek(SeekFrom::Start(self.end)).context("writing a keyframe")?;
        self.file.write_all(&bytes).context("writing a keyframe")?;
        self.index.insert(world.steps(), (self.end, len));
        self.end += len as u64;
        Ok(())
    }

    /// The keyframe at `step`, with its derived state rebuilt from `donor` (a world of the same
    /// session at `step` or later).
    pub fn get(&mut self, step: u64, donor: &World) -> Result<World> {
        let (offset, len) = *self.index.get(&step).ok_or_else(|| anyhow!("no keyframe on disk at step {step}"))?;
        let mut bytes = vec![0u8; len as usize];
        self.file.seek(SeekFrom::Start(offset)).context("reading a keyframe")?;
        self.file.read_exact(&mut bytes).context("reading a keyframe")?;
        let packed = lz4_flex::decompress_size_prepended(&bytes).map_err(|e| anyhow!("keyframe at step {step}: {e}"))?;
        let mut world: World = rmp_serde::from_slice(&packed).with_context(|| format!("decoding the keyframe at step {step}"))?;
        if world.steps() != step {
            return Err(anyhow!("the keyframe filed at step {step} holds step {}", world.steps()));
        }
        world.rebuild_derived(donor).map_err(|e| anyhow!("keyframe at step {step}: {e}"))?;
        Ok(world)
    }
}
