//! The index of a session file: where each event line starts, found by scanning for line ends
//! without keeping the bytes. A long file is scanned in two halves at once (the scan is a tenth
//! of opening and replaying a session, and the second core is idle meanwhile).

use super::io;
use crate::store::StoreError;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// Below this, one thread scans the whole file (a second would cost more than it saves).
const SPLIT_FROM: u64 = 8 << 20;

pub(super) struct Index {
    /// Where each complete event line starts.
    pub offsets: Vec<u64>,
    /// Where the last complete event line ends.
    pub events_end: u64,
    /// Bytes after the last complete line (a crash mid-write).
    pub torn_tail: bool,
}

/// The event lines of the session at `path`; `r` stands just past its header line, at `start`,
/// and `file_len` is the file's length when opened (a file still growing is read to its end).
pub(super) fn index(path: &Path, mut r: BufReader<File>, start: u64, file_len: u64) -> Result<Index, StoreError> {
    let span = file_len.saturating_sub(start);
    let mid = if span >= SPLIT_FROM { start + span / 2 } else { u64::MAX };
    std::thread::scope(|s| {
        let later = (mid != u64::MAX).then(|| s.spawn(move || second_half(path, mid, file_len - mid)));
        let mut offsets = Vec::new();
        let mut line_start = start;
        let mut pos = start;
        scan(path, &mut r, &mut pos, mid, |end| {
            offsets.push(line_start);
            line_start = end;
            size_once(&mut offsets, line_start - start, span);
        })?;
        if let Some(later) = later {
            let (ends, end) = later.join().map_err(|_| StoreError::Other(format!("{}: the indexing thread panicked", path.display())))??;
            offsets.reserve(ends.len());
            for e in ends {
                offsets.push(line_start);
                line_start = e;
            }
            // The first half stopped early only if the file shrank; then the second read nothing.
            pos = pos.max(end);
        }
        Ok(Index { offsets, events_end: line_start, torn_tail: line_start < pos })
    })
}

/// The line ends (just past each newline) from `mid` to the end of the file, and where it ends.
fn second_half(path: &Path, mid: u64, span: u64) -> Result<(Vec<u64>, u64), StoreError> {
    let mut file = File::open(path).map_err(io(format!("{}: cannot open", path.display())))?;
    file.seek(SeekFrom::Start(mid))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let (mut ends, mut pos) = (Vec::new(), mid);
    scan(path, &mut r, &mut pos, u64::MAX, |end| {
        ends.push(end);
        size_once(&mut ends, end - mid, span);
    })?;
    Ok((ends, pos))
}

/// Read from `r` (at file offset `pos`) up to `stop` or the end, calling `line_end` with the
/// offset just past each newline.
fn scan(path: &Path, r: &mut impl BufRead, pos: &mut u64, stop: u64, mut line_end: impl FnMut(u64)) -> Result<(), StoreError> {
    while *pos < stop {
        let buf = r.fill_buf().map_err(io(format!("{}: read failed", path.display())))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min((stop - *pos).try_into().unwrap_or(usize::MAX));
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            line_end(*pos + i as u64 + 1);
        }
        *pos += n as u64;
        r.consume(n);
    }
    Ok(())
}

/// Size a list of line offsets once, from the length of its first lines over the `span` of
/// bytes it covers: growing a huge vector step by step copies it each time.
fn size_once(list: &mut Vec<u64>, covered: u64, span: u64) {
    if list.len() == 4096 && list.capacity() < 1 << 16 {
        let per_line = (covered / list.len() as u64).max(1);
        let expected = span / per_line;
        let target = (expected + expected / 16).min(1 << 32) as usize;
        list.reserve(target.saturating_sub(list.len()));
    }
}
