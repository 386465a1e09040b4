//! Where commands read and write: `-` as standard input or output, one writer for every output
//! (a reader that stopped early — `| head`, `| true` — ends the command quietly, exit 0), and the
//! secrets every printed error is cleaned of.

use anyhow::{Context, Result};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Keys given on the command line (the environment's are read where they are used): never printed.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub(crate) fn add_secret(key: &str) {
    if let Ok(mut s) = SECRETS.lock() {
        s.push(key.to_string());
    }
}

/// `text` with every known key replaced by `[redacted]`.
pub(crate) fn redact(text: &str) -> String {
    let mut out = recnet::reasoner::openai::redact(text, recnet::reasoner::openai::api_key().as_deref());
    if let Ok(s) = SECRETS.lock() {
        for k in s.iter() {
            out = recnet::reasoner::openai::redact(&out, Some(k));
        }
    }
    // Standard input held in a temporary file is still standard input to the user.
    if let Ok(spools) = STDIN_SPOOLS.lock() {
        for p in spools.iter() {
            out = out.replace(p.as_str(), "<stdin>");
        }
    }
    out
}

/// Where standard input was copied (`input_file`), to be called `<stdin>` in messages.
static STDIN_SPOOLS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// `-` names standard input or output.
pub(crate) fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A failure caused by the reader of our output going away: not an error of ours. (A session
/// written to a pipe fails inside serde_json, which keeps only the kind of the I/O error.)
pub(crate) fn is_closed_pipe(e: &anyhow::Error) -> bool {
    use recnet::run::RunError;
    use recnet::store::StoreError;
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        // A transparent variant's chain skips the error it wraps: look inside.
        let wrapped = match c.downcast_ref::<RunError>() {
            Some(RunError::Io(io) | RunError::Store(StoreError::UnnamedIo(io))) => Some(io),
            _ => c.downcast_ref::<std::io::Error>(),
        };
        wrapped.is_some_and(|io| io.kind() == BrokenPipe) || c.downcast_ref::<serde_json::Error>().is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}

/// The first failure of a report line on standard output other than a closed pipe.
static STDOUT_FAILURE: Mutex<Option<std::io::Error>> = Mutex::new(None);

pub(crate) fn stdout_failed(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return;
    }
    if let Ok(mut f) = STDOUT_FAILURE.lock() {
        f.get_or_insert(e);
    }
}

pub(crate) fn take_stdout_failure() -> Option<std::io::Error> {
    STDOUT_FAILURE.lock().ok().and_then(|mut f| f.take())
}

/// The one writer for a command's output: standard output (`None` or `-`) or a file, buffered.
/// A file is written beside its destination and put in place by `finish`: an error or a signal
/// before that leaves the destination as it was. Errors name the file.
pub(crate) fn open_out(out: Option<&Path>) -> Result<Output> {
    match out {
        None => Ok(Output {
            inner: Named { name: "<stdout>".into(), inner: std::io::BufWriter::with_capacity(1 << 16, Box::new(std::io::stdout())) },
            pending: None,
        }),
        Some(p) if is_std(p) => open_out(None),
        Some(p) => {
            let (f, pending) =
                recnet::util::atomic::create(p).map_err(|e| anyhow::anyhow!("{}: cannot create: {e}{}", p.display(), recnet::util::atomic::hint(&e)))?;
            Ok(Output { inner: Named { name: p.to_path_buf(), inner: std::io::BufWriter::with_capacity(1 << 16, Box::new(f)) }, pending: Some(pending) })
        }
    }
}

pub(crate) struct Output {
    inner: Named<std::io::BufWriter<Box<dyn Write + Send>>>,
    pending: Option<recnet::util::atomic::Pending>,
}

impl Output {
    /// Flush, and put a file in place (unless a signal came first: then nothing is written).
    pub(crate) fn finish(mut self) -> Result<()> {
        self.inner.flush()?;
        if let Some(p) = self.pending.take() {
            anyhow::ensure!(!recnet::run::signals::interrupted(), "interrupted: nothing was written to {}", p.dest().display());
            let dest = p.dest().display().to_string();
            p.commit().with_context(|| format!("{dest}: cannot put the output in place"))?;
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file writer whose errors say which file (a full disk, for one).
struct Named<W> {
    name: PathBuf,
    inner: W,
}

impl<W: Write> Write for Named<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.named(e))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.named(e))
    }
}

impl<W> Named<W> {
    fn named(&self, e: std::io::Error) -> std::io::Error {
        let hint = recnet::util::atomic::hint(&e);
        std::io::Error::new(e.kind(), format!("{}: write failed: {e}{hint}", self.name.display()))
    }
}

/// Write all of `text` to `out` (see `open_out`) and put it in place.
pub(crate) fn write_out(out: Option<&Path>, text: &str) -> Result<()> {
    let mut w = open_out(out)?;
    w.write_all(text.as_bytes())?;
    w.finish()
}

/// A streaming reader: the file, or standard input for `-`.
pub(crate) fn open_in(path: &Path) -> Result<Box<dyn BufRead>> {
    if is_std(path) {
        return Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())));
    }
    let f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

/// An input that must be a file (commands that seek in a session): the file itself, or for `-`
/// standard input copied to a temporary file that lives as long as this value.
pub(crate) struct InputFile {
    pub(crate) path: PathBuf,
    _spool: Option<tempfile::NamedTempFile>,
}

impl Drop for InputFile {
    fn drop(&mut self) {
        if let Some(s) = &self._spool {
            recnet::util::atomic::forget_scratch(s.path());
        }
    }
}

pub(crate) fn input_file(path: &Path) -> Result<InputFile> {
    if !is_std(path) {
        return Ok(InputFile { path: path.to_path_buf(), _spool: None });
    }
    let mut tmp = tempfile::NamedTempFile::new().context("standard input: cannot make a temporary file to hold it")?;
    // A signal that ends the process at once deletes it too.
    recnet::util::atomic::track_scratch(tmp.path());
    if let Ok(mut spools) = STDIN_SPOOLS.lock() {
        spools.push(tmp.path().display().to_string());
    }
    std::io::copy(&mut std::io::stdin().lock(), tmp.as_file_mut()).context("standard input: read failed")?;
    tmp.as_file_mut().flush().context("standard input: cannot hold it in a temporary file")?;
    Ok(InputFile { path: tmp.path().to_path_buf(), _spool: Some(tmp) })
}

/// What errors and reports call an input: its path (escape sequences in a file name made
/// visible, as everything from the file system is), or `<stdin>`.
pub(crate) fn display_name(path: &Path) -> String {
    if is_std(path) {
        "<stdin>".into()
    } else {
        shown(path)
    }
}

/// A path as printed: control characters and escape sequences in it made visible.
pub(crate) fn shown(path: &Path) -> String {
    recnet::util::text::sanitize(&path.display().to_string(), 0)
}
