//! The session file: a header line, then one event per line (JSON Lines). Written append-only and
//! flushed at every stage boundary, so a crash loses at most the stage in flight.

use super::{io, StoreError};
use crate::engine::config::Config;
use crate::world::event::Event;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "recnet-session";
/// Major.minor: a reader refuses a newer major version.
pub const VERSION_MAJOR: u32 = 1;
pub const VERSION_MINOR: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    /// "scenario" or "dataset".
    pub kind: String,
    pub name: String,
    /// `builtin:demo`, a scenario path, or a dataset folder.
    pub path: String,
    #[serde(default)]
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentRef {
    pub path: String,
    /// The branch shares the parent's events before this step.
    pub fork_step: u64,
    pub edit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: String,
    pub recnet: String,
    pub source: SourceRef,
    pub seed: u64,
    pub rounds: u32,
    pub config: Config,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRef>,
}

impl Header {
    pub fn new(source: SourceRef, seed: u64, rounds: u32, config: Config) -> Header {
        Header {
            format: FORMAT.into(),
            version: format!("{VERSION_MAJOR}.{VERSION_MINOR}"),
            recnet: env!("CARGO_PKG_VERSION").into(),
            source,
            seed,
            rounds,
            config,
            parent: None,
        }
    }
}

pub struct SessionWriter {
    path: PathBuf,
    out: BufWriter<Box<dyn Write + Send>>,
    pub events_written: u64,
    /// Set by `create_atomic`: the file appears at `path` only on `finish`.
    pending: Option<crate::util::atomic::Pending>,
    /// A write or flush failed: what was written is not a whole prefix to keep.
    pub failed: bool,
}

impl SessionWriter {
    /// A session file written in place: every flush is visible at `path` at once.
    pub fn create(path: &Path, header: &Header) -> Result<SessionWriter, StoreError> {
        let file = File::create(path).map_err(io(format!("{}: cannot create session file", path.display())))?;
        SessionWriter::to_writer(path, Box::new(file), header)
    }

    /// A session file that replaces `path` only when `finish`ed; dropped before, it vanishes and
    /// whatever was at `path` stays.
    pub fn create_atomic(path: &Path, header: &Header) -> Result<SessionWriter, StoreError> {
        let (file, pending) = crate::util::atomic::create(path)
            .map_err(|e| StoreError::Other(format!("{}: cannot create session file: {e}{}", path.display(), crate::util::atomic::hint(&e))))?;
        let mut w = SessionWriter::to_writer(path, Box::new(file), header)?;
        w.pending = Some(pending);
        Ok(w)
    }

    /// A session written to any byte sink (standard output, a pipe); `name` is what errors call it.
    pub fn to_writer(name: &Path, out: Box<dyn Write + Send>, header: &Header) -> Result<SessionWriter, StoreError> {
        let mut w = SessionWriter { path: name.to_path_buf(), out: BufWriter::with_capacity(1 << 16, out), events_written: 0, pending: None, failed: false };
        serde_json::to_writer(&mut w.out, header)?;
        let r = w.out.write_all(b"\n").and_then(|_| w.out.flush());
        w.check(r)?;
        Ok(w)
    }

    fn check(&mut self, r: std::io::Result<()>) -> Result<(), StoreError> {
        r.map_err(|e| {
            self.failed = true;
            let what = format!("{}: write failed{}", self.path.display(), crate::util::atomic::hint(&e));
            StoreError::Io { what, source: e }
        })
    }

    pub fn write(&mut self, ev: &Event) -> Result<(), StoreError> {
        if let Err(source) = serde_json::to_writer(&mut self.out, ev) {
            self.failed = true;
            let what = match source.io_error_kind() {
                Some(k) => format!("{}: write failed{}", self.path.display(), crate::util::atomic::hint(&std::io::Error::from(k))),
                None => format!("{}: write failed", self.path.display()),
            };
            return Err(StoreError::JsonWrite { what, source });
        }
        let r = self.out.write_all(b"\n");
        self.check(r)?;
        self.events_written += 1;
        Ok(())
    }

    /// Whether the file appears only on `finish` (see `create_atomic`).
    pub fn is_atomic(&self) -> bool {
        self.pending.is_some()
    }

    /// What errors call the output.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Called at stage boundaries.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let r = self.out.flush();
        self.check(r)
    }

    /// Flush, and put an atomic file (`create_atomic`) in place under the first of `names` where
    /// no file is: an existing file is never replaced. Returns where the session now is.
    pub fn finish_new(mut self, names: impl IntoIterator<Item = PathBuf>) -> Result<PathBuf, StoreError> {
        self.flush()?;
        let Some(p) = self.pending.as_mut() else { return Ok(self.path.clone()) };
        for dest in names {
            match p.commit_new(&dest) {
                Ok(()) => return Ok(dest),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(format!("{}: cannot put the session in place", dest.display()))(e)),
            }
        }
        Err(StoreError::Other(format!("{}: no free name to save under", self.path.display())))
    }

    /// Flush, and put an atomic file in place. Returns where the session now is (`None` for a
    /// sink that is not a file of ours).
    pub fn finish(mut self) -> Result<Option<PathBuf>, StoreError> {
        self.flush()?;
        match self.pending.take() {
            None => Ok(None),
            Some(p) => {
                let dest = p.dest().to_path_buf();
                p.commit().map_err(io(format!("{}: cannot put the session in place", dest.display())))?;
                Ok(Some(dest))
            }
        }
    }
}

/// The longest header line read (a config and a source: a few kilobytes in practice).
pub const HEADER_LINE_LIMIT: usize = 1 << 20;
/// The longest event line read: far past any real event, short of exhausting memory on a file
/// with no newlines (`/dev/zero`).
pub const EVENT_LINE_LIMIT: usize = 256 << 20;

/// `read_until(b'\n')` that stops with an error past `limit` bytes instead of growing `buf`
/// without bound.
pub fn read_line_bounded(r: &mut impl std::io::BufRead, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<usize> {
    let start = buf.len();
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(buf.len() - start);
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() - start + take > limit {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("line longer than {} MiB (not a session?)", limit >> 20)));
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        if done {
            return Ok(buf.len() - start);
        }
    }
}

/// A problem at a line of a session file (1-based; line 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

/// Why one line of a session cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("header is not JSON: {0}")]
    HeaderNotJson(String),
    #[error("not a recnet session (header lacks \"format\": \"{}\")", FORMAT)]
    NotASession,
    #[error("bad version {0:?}")]
    BadVersion(String),
    #[error("session format {version} is newer than this recnet reads ({major}.x): upgrade recnet", major = VERSION_MAJOR)]
    TooNew { version: String },
    #[error("bad header: {0}")]
    BadHeader(String),
    /// The serde message, sanitised.
    #[error("{0}")]
    BadEvent(String),
    #[error("step {found} where step {expected} was expected")]
    WrongStep { found: u64, expected: u64 },
}

pub fn parse_header(line: &[u8]) -> Result<Header, SessionError> {
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| SessionError::HeaderNotJson(e.to_string()))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(SessionError::NotASession);
    }
    let version = v.get("version").and_then(|f| f.as_str()).unwrap_or("");
    let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).ok_or_else(|| SessionError::BadVersion(version.to_string()))?;
    if major > VERSION_MAJOR {
        return Err(SessionError::TooNew { version: version.to_string() });
    }
    // A non-finite number was written as `null` by older versions: name its key, which serde's
    // "invalid type: null" would not.
    if let Some(serde_json::Value::Object(sections)) = v.get("config") {
        for (section, knobs) in sections {
            if let serde_json::Value::Object(knobs) = knobs {
                if let Some((key, _)) = knobs.iter().find(|(_, x)| x.is_null()) {
                    return Err(SessionError::BadHeader(crate::util::text::sanitize(&format!("config {section}.{key} is null, not a number"), 200)));
                }
            }
        }
    }
    let header: Header = serde_json::from_value(v).map_err(|e| SessionError::BadHeader(e.to_string()))?;
    // The config re-runs forks: one an engine could not run with is refused here, by name.
    header.config.validate().map_err(|e| SessionError::BadHeader(crate::util::text::sanitize(&e.to_string(), 200)))?;
    Ok(header)
}

pub fn parse_event(line: &[u8], expect_step: u64) -> Result<Event, SessionError> {
    // A line checked as UTF-8 once is read without checking each of its strings again; one
    // that is not reads as bytes, for serde's own message.
    let ev = match std::str::from_utf8(line) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(line),
    };
    checked(ev, line, expect_step)
}

/// `parse_event` for a first pass, which only applies events: the strings `World::apply` never
/// reads are left empty (`Event::from_line_lean`); a bad line is the same error.
pub fn parse_event_lean(line: &[u8], expect_step: u64) -> Result<Event, SessionError> {
    checked(Event::from_line_lean(line), line, expect_step)
}

fn checked(ev: Result<Event, serde_json::Error>, line: &[u8], expect_step: u64) -> Result<Event, SessionError> {
    let ev = ev.map_err(|e| {
        if line.iter().all(u8::is_ascii_whitespace) {
            return SessionError::BadEvent("an empty line (a session holds one event per line)".into());
        }
        // serde counts lines within the one it was given: "at line 1 column 9" read as a second
        // line number beside the file's own.
        let said = e.to_string();
        let said = said.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).map(|m| format!("{m} (column {})", e.column())).unwrap_or(said);
        SessionError::BadEvent(crate::util::text::sanitize(&said, 200))
    })?;
    if ev.step != expect_step {
        return Err(SessionError::WrongStep { found: ev.step, expected: expect_step });
    }
    Ok(ev)
}

/// A session file opened for random access: the header and the byte offset of every event line,
/// found in one streaming pass without parsing the events.
pub struct SessionFile {
    pub path: PathBuf,
    pub header: Header,
    /// Shared with the handles `reopen` makes (a 10M-event index is 80 MB).
    offsets: std::sync::Arc<Vec<u64>>,
    /// Bytes after the last complete line (a crash mid-write); not an event.
    pub torn_tail: bool,
    /// Where the last complete event line ends.
    events_end: u64,
    file: std::cell::RefCell<std::io::BufReader<File>>,
    /// The bytes of the last range read, kept for the next: a fresh buffer a chunk costs the
    /// kernel zeroing new pages, a tenth of a first pass.
    scratch: std::cell::RefCell<Vec<u8>>,
}

impl SessionFile {
    pub fn open(path: &Path) -> Result<SessionFile, StoreError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(io(format!("{name}: cannot open")))?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        read_line_bounded(&mut r, &mut line, HEADER_LINE_LIMIT).map_err(io(format!("{name}:1: read failed")))?;
        if line.is_empty() {
            return Err(StoreError::Other(format!("{name}:1: empty file, no header")));
        }
        let header = parse_header(line.strip_suffix(b"\n").unwrap_or(&line)).map_err(|error| StoreError::Line { file: name.clone(), line: 1, error })?;
        let file_len = r.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
        let index::Index { offsets, events_end, torn_tail } = index::index(path, r, line.len() as u64, file_len)?;
        let file = File::open(path).map_err(io(format!("{name}: cannot open")))?;
        Ok(SessionFile {
            path: path.to_path_buf(),
            header,
            offsets: std::sync::Arc::new(offsets),
            torn_tail,
            events_end,
            file: std::cell::RefCell::new(std::io::BufReader::new(file)),
            scratch: Default::default(),
        })
    }

    /// The line number of a last line cut short, which is not read (`None`: the file ends whole).
    pub fn torn_line(&self) -> Option<u64> {
        self.torn_tail.then(|| self.offsets.len() as u64 + 2)
    }

    /// Another handle on the same session, with its own file position (for a thread of its own),
    /// sharing the index.
    pub fn reopen(&self) -> Result<SessionFile, StoreError> {
        let file = File::open(&self.path).map_err(io(format!("{}: cannot open", self.path.display())))?;
        Ok(SessionFile {
            path: self.path.clone(),
            header: self.header.clone(),
            offsets: self.offsets.clone(),
            torn_tail: self.torn_tail,
            events_end: self.events_end,
            file: std::cell::RefCell::new(std::io::BufReader::new(file)),
            scratch: Default::default(),
        })
    }

    pub fn len(&self) -> u64 {
        self.offsets.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Event `i` (0-based), read from disk.
    pub fn event(&self, i: u64) -> Result<Event, StoreError> {
        use std::io::{BufRead, Seek, SeekFrom};
        let off = *self.offsets.get(i as usize).ok_or_else(|| StoreError::Other(format!("{}: no event {i}", self.path.display())))?;
        let mut f = self.file.borrow_mut();
        f.seek(SeekFrom::Start(off))?;
        let mut line = Vec::new();
        f.read_until(b'\n', &mut line)?;
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        parse_event(line, i).map_err(|error| StoreError::Line { file: self.path.display().to_string(), line: i + 2, error })
    }

    /// Events `from..to`: their bytes read at once, and long ranges parsed on two threads
    /// (parsing JSON is most of what replaying a session costs).
    pub fn events(&self, from: u64, to: u64) -> Result<Vec<Event>, StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let to = to.min(self.len());
        if from >= to {
            return Ok(Vec::new());
        }
        let (from, to) = (from as usize, to as usize);
        let start = self.offsets[from];
        let end = self.offsets.get(to).copied().unwrap_or(self.events_end);
        let mut bytes = std::mem::take(&mut *self.scratch.borrow_mut());
        bytes.resize((end - start) as usize, 0);
        {
            let mut f = self.file.borrow_mut();
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut bytes).map_err(io(format!("{}: read failed", self.path.display())))?;
        }
        let parsed = parse_lines(&self.offsets, &self.path, &bytes, start, from, to);
        // Chunk-sized buffers are kept; a whole session read at once is not held on to.
        if bytes.capacity() <= 16 << 20 {
            *self.scratch.borrow_mut() = bytes;
        }
        parsed
    }
}

/// Parse events `from..to` of a session whose event lines start at `offsets`, from `bytes` (read
/// from offset `start`); long ranges on two threads.
fn parse_lines(offsets: &[u64], path: &Path, bytes: &[u8], start: u64, from: usize, to: usize) -> Result<Vec<Event>, StoreError> {
    let line = |i: usize| -> &[u8] {
        let a = (offsets[i] - start) as usize;
        let b = offsets.get(i + 1).map_or(bytes.len(), |o| (o - start) as usize);
        let l = &bytes[a..b];
        l.strip_suffix(b"\n").unwrap_or(l)
    };
    let parse_range = |lo: usize, hi: usize| -> Result<Vec<Event>, StoreError> {
        (lo..hi)
            .map(|i| parse_event(line(i), i as u64).map_err(|error| StoreError::Line { file: path.display().to_string(), line: i as u64 + 2, error }))
            .collect()
    };
    const PARALLEL_FROM: usize = 512;
    if to - from < PARALLEL_FROM {
        return parse_range(from, to);
    }
    let mid = from + (to - from) / 2;
    let (first, second) = std::thread::scope(|s| {
        let later = s.spawn(|| parse_range(mid, to));
        let first = parse_range(from, mid);
        (first, later.join())
    });
    let mut out = first?;
    out.extend(second.map_err(|_| StoreError::Other(format!("{}: a parser thread panicked", path.display())))??);
    Ok(out)
}

/// Read a whole session; a torn last line (crash mid-write) is dropped, any other bad line is an
/// error naming it.
pub fn read_session(path: &Path) -> Result<(Header, Vec<Event>), StoreError> {
    let f = SessionFile::open(path)?;
    let events = f.events(0, f.len())?;
    Ok((f.header.clone(), events))
}

/// Validate a session: each line parses, steps are in order, and every event applies to the world
/// the ones before it built. Returns the number of valid events, or the first bad line.
pub fn check_session(path: &Path) -> Result<u64, LineError> {
    let file = File::open(path).map_err(|e| LineError { line: 0, reason: format!("cannot open: {e}") })?;
    // Opening a directory succeeds on Unix; reading it is what fails. Not a session at all.
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(LineError { line: 0, reason: "is a directory, not a session".into() });
    }
    check_reader(std::io::BufReader::with_capacity(1 << 20, file))
}

/// `check_session` over any reader (standard input, a pipe).
pub fn check_reader(mut r: impl std::io::BufRead) -> Result<u64, LineError> {
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut world = crate::world::World::new();
    let mut valid = 0u64;
    loop {
        line.clear();
        let limit = if line_no == 0 { HEADER_LINE_LIMIT } else { EVENT_LINE_LIMIT };
        let n = read_line_bounded(&mut r, &mut line, limit).map_err(|e| LineError { line: line_no + 1, reason: format!("read failed: {e}") })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = line.ends_with(b"\n");
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if line_no == 1 {
            parse_header(body).map_err(|e| LineError { line: 1, reason: e.to_string() })?;
            if !complete {
                return Err(LineError { line: 1, reason: "header line is cut short (no newline)".into() });
            }
            continue;
        }
        let ev = parse_event(body, valid).map_err(|reason| LineError {
            line: line_no,
            reason: if complete { reason.to_string() } else { format!("last line is cut short (truncated file?): {reason}") },
        })?;
        if !complete {
            return Err(LineError { line: line_no, reason: "last line has no newline (truncated file?)".into() });
        }
        world.apply(&ev).map_err(|e| LineError { line: line_no, reason: e.0 })?;
        valid += 1;
    }
    if line_no == 0 {
        return Err(LineError { line: 1, reason: "empty file, no header".into() });
    }
    Ok(valid)
}

/// A session read front to back in constant memory: the header, then each event in order. Works
/// on any reader (a pipe too); a torn last line (a crash mid-write) ends it, as in `SessionFile`.
pub struct EventReader<R> {
    name: String,
    r: R,
    line: Vec<u8>,
    next_step: u64,
    /// The line number of a torn last line, once met.
    torn: Option<u64>,
}

impl<R: std::io::BufRead> EventReader<R> {
    /// Reads the header; `name` is what errors call the input.
    pub fn new(name: &str, mut r: R) -> Result<(Header, EventReader<R>), StoreError> {
        let mut line = Vec::new();
        read_line_bounded(&mut r, &mut line, HEADER_LINE_LIMIT).map_err(io(format!("{name}:1: read failed")))?;
        if line.is_empty() {
            return Err(StoreError::Other(format!("{name}:1: empty file, no header")));
        }
        let header = parse_header(line.strip_suffix(b"\n").unwrap_or(&line)).map_err(|error| StoreError::Line { file: name.to_string(), line: 1, error })?;
        Ok((header, EventReader { name: name.to_string(), r, line, next_step: 0, torn: None }))
    }

    /// The line number of a last line cut short (a write that did not finish), once the reading
    /// has reached it: what callers warn of, since it is not read.
    pub fn torn_line(&self) -> Option<u64> {
        self.torn
    }

    /// The next event with its line as written (without the newline), or `None` at the end.
    pub fn next_raw(&mut self) -> Option<Result<(Event, &[u8]), StoreError>> {
        self.line.clear();
        match read_line_bounded(&mut self.r, &mut self.line, EVENT_LINE_LIMIT) {
            Err(e) => return Some(Err(StoreError::Io { what: format!("{}:{}: read failed", self.name, self.next_step + 2), source: e })),
            Ok(0) => return None,
            Ok(_) if !self.line.ends_with(b"\n") => {
                self.torn = Some(self.next_step + 2);
                return None;
            }
            Ok(_) => {}
        }
        let body = &self.line[..self.line.len() - 1];
        let step = self.next_step;
        match parse_event(body, step) {
            Ok(ev) => {
                self.next_step += 1;
                Some(Ok((ev, body)))
            }
            Err(error) => Some(Err(StoreError::Line { file: self.name.clone(), line: step + 2, error })),
        }
    }
}

impl<R: std::io::BufRead> Iterator for EventReader<R> {
    type Item = Result<Event, StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw().map(|r| r.map(|(ev, _)| ev))
    }
}

mod index;
mod pass;

#[cfg(test)]
mod tests;
