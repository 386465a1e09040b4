//! Small deterministic helpers: a seeded RNG and a stable hash, ours so that sessions do not change
//! when a dependency does.
//!
//! Layer: the bottom. Owns leaf helpers (seeded RNG, stable hash, rounding, `text` sanitising) that
//! every layer may use. Imports nothing from the crate.

pub mod atomic;
pub mod jsonschema;
pub mod text;

/// SplitMix64: tiny, fast, and the same on every platform and version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n); n must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize % n.max(1)
    }
}

/// FNV-1a, 64 bit: a stable hash for feature hashing and digests.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_extend(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a continued from `h` (a digest of something read in pieces).
pub fn fnv1a_extend(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Round to 4 decimals: weights in sessions stay readable, and the state is rebuilt from exactly
/// what the session says.
pub fn r4(x: f64) -> f64 {
    let r = (x * 10_000.0).round() / 10_000.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

pub fn clip(x: f64) -> f64 {
    x.clamp(-1.0, 1.0)
}

/// A hash map with a fast hash and a fixed seed, for hot lookups by agent id or index: lookups
/// stay deterministic, and no caller relies on its iteration order.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// The set of the same kind.
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

/// The most a settings, rules or keymap file may hold.
pub const TEXT_LIMIT: u64 = 16 << 20;
/// The most a scenario or one dataset file may hold (a generated million-user scenario is 80 MB).
pub const DATA_LIMIT: u64 = 512 << 20;

/// Everything `r` gives, refused past `limit` bytes: a mistaken `/dev/zero` or a device that
/// never ends would otherwise be read until memory runs out.
pub fn read_limited(r: impl std::io::Read, limit: u64) -> std::io::Result<Vec<u8>> {
    read_limited_sized(r, limit, 0)
}

fn read_limited_sized(r: impl std::io::Read, limit: u64, expected: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(expected.min(limit) as usize);
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        let size = if limit >= 1 << 20 { format!("{} MiB", limit >> 20) } else { format!("{limit} bytes") };
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("larger than {size}, the limit for this input")));
    }
    Ok(out)
}

/// A file's bytes, up to `limit` (see `read_limited`).
pub fn read_file_limited(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    // A regular file says its size: one too big is refused unread, one that fits read into a
    // buffer of its size. Devices and pipes are read up to the limit.
    let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len()).unwrap_or(0);
    read_limited_sized(f, limit, size + 1)
}

/// A text file, up to `limit` bytes, that must be UTF-8.
pub fn read_text_limited(path: &std::path::Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_file_limited(path, limit)?).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("line {line}: not valid UTF-8"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_seeded_and_stable() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
        for _ in 0..1000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert!(a.below(3) < 3);
        }
    }

    #[test]
    fn r4_rounds() {
        assert_eq!(r4(0.123456), 0.1235);
        assert_eq!(r4(-0.00001), 0.0);
        assert!(r4(-0.00001).is_sign_positive());
    }
}
