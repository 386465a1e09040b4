//! Outputs written whole or not at all: a temporary file beside the destination, renamed into
//! place once complete. A failed or interrupted write leaves whatever was at the destination
//! untouched (and deletes the temporary file, unless the process is killed outright). A signal
//! that must end the process at once calls `discard_all`, which deletes every temporary file not
//! yet in place.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Every temporary file not yet renamed into place or deleted, with its destination (`None`: a
/// scratch file with none, such as standard input held in a file).
static LIVE: Mutex<Vec<(PathBuf, Option<PathBuf>)>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<(PathBuf, Option<PathBuf>)>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Note a scratch file for `discard_all` to delete; `forget_scratch` when it is gone.
pub fn track_scratch(path: &Path) {
    live().push((path.to_path_buf(), None));
}

pub fn forget_scratch(path: &Path) {
    live().retain(|(t, _)| t != path);
}

/// Delete every temporary file not yet in place and return their destinations, for a process
/// about to exit. The registry stays locked from here on, so no rename can put a file in place
/// between this and the exit: each destination is either wholly new or as it was.
pub fn discard_all() -> Vec<PathBuf> {
    let mut guard = live();
    let mut dests = Vec::new();
    for (tmp, dest) in guard.drain(..) {
        let _ = std::fs::remove_file(&tmp);
        dests.extend(dest);
    }
    std::mem::forget(guard);
    dests
}

/// The destination of a file being written; dropped without `commit`, the written bytes vanish.
#[derive(Debug)]
pub struct Pending {
    /// `None` for a destination that is not a regular file (`/dev/null`, a FIFO, a terminal):
    /// written in place, since renaming over it would replace the device with a file.
    tmp: Option<tempfile::TempPath>,
    dest: PathBuf,
}

/// A file to write that appears at `dest` only on `Pending::commit`.
pub fn create(dest: &Path) -> io::Result<(File, Pending)> {
    // Through a symbolic link to the file it names: the link stays, its target is replaced.
    let dest = match std::fs::metadata(dest) {
        Ok(m) if !m.is_file() => return Ok((File::create(dest)?, Pending { tmp: None, dest: dest.to_path_buf() })),
        Ok(_) => std::fs::canonicalize(dest)?,
        Err(_) => dest.to_path_buf(),
    };
    let dest = dest.as_path();
    // Same directory, so the rename is atomic (never a copy across file systems).
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let prefix = format!(".{name}.");
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix).suffix(".partial");
    // The mode a plain create would give (the umask still applies), not tempfile's private 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut live = live();
    let (file, tmp) = b.tempfile_in(dir)?.into_parts();
    live.push((tmp.to_path_buf(), Some(dest.to_path_buf())));
    Ok((file, Pending { tmp: Some(tmp), dest: dest.to_path_buf() }))
}

impl Pending {
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Rename the finished file into place (the caller has flushed it).
    pub fn commit(mut self) -> io::Result<()> {
        let Some(tmp) = self.tmp.take() else { return Ok(()) };
        // Held across the rename: `discard_all` sees the file either waiting or in place.
        let mut live = live();
        let path = tmp.to_path_buf();
        let r = tmp.persist(&self.dest).map(|_| ()).map_err(|e| e.error);
        live.retain(|(t, _)| *t != path);
        r
    }

    /// Put the finished file in place at `dest` (in the same directory) unless a file is there:
    /// then `AlreadyExists`, and the file waits for another name. Never replaces anything.
    pub fn commit_new(&mut self, dest: &Path) -> io::Result<()> {
        let Some(tmp) = self.tmp.take() else { return Ok(()) };
        let mut live = live();
        let path = tmp.to_path_buf();
        match tmp.persist_noclobber(dest) {
            Ok(()) => {
                live.retain(|(t, _)| *t != path);
                self.dest = dest.to_path_buf();
                Ok(())
            }
            Err(e) => {
                self.tmp = Some(e.path);
                Err(e.error)
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let mut live = live();
            live.retain(|(t, _)| **t != *tmp);
            drop(tmp);
        }
    }
}

/// What a failed write says beyond the system's words: the two limits users meet.
pub fn hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::FileTooLarge => " (the file-size limit, `ulimit -f`, was reached)",
        io::ErrorKind::StorageFull => " (the disk is full)",
        io::ErrorKind::QuotaExceeded => " (the disk quota is exceeded)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_destination_changes_only_on_commit() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out.txt");
        std::fs::write(&dest, "good").unwrap();
        let (mut f, pending) = create(&dest).unwrap();
        f.write_all(b"half").unwrap();
        drop(pending);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "good");
        let (mut f, pending) = create(&dest).unwrap();
        f.write_all(b"new").unwrap();
        pending.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    /// What `discard_all` would delete: a file is tracked from its creation until it is put in
    /// place or dropped, and no longer.
    #[test]
    fn temporary_files_are_tracked_until_settled() {
        let d = tempfile::tempdir().unwrap();
        // Other tests' files may be live at the same time: count only this directory's.
        let tracked = || live().iter().filter(|(t, _)| t.starts_with(d.path())).count();
        let (_, a) = create(&d.path().join("a.txt")).unwrap();
        let (_, b) = create(&d.path().join("b.txt")).unwrap();
        assert_eq!(tracked(), 2);
        a.commit().unwrap();
        assert_eq!(tracked(), 1);
        drop(b);
        assert_eq!(tracked(), 0);
        assert!(d.path().join("a.txt").exists() && !d.path().join("b.txt").exists());
    }

    /// A file committed as new takes a free name and leaves an existing file as it was.
    #[test]
    fn a_new_file_never_replaces_one() {
        let d = tempfile::tempdir().unwrap();
        let (taken, free) = (d.path().join("a.txt"), d.path().join("b.txt"));
        std::fs::write(&taken, "old").unwrap();
        let (mut f, mut pending) = create(&d.path().join("x.txt")).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(pending.commit_new(&taken).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        pending.commit_new(&free).unwrap();
        drop(pending);
        assert_eq!(std::fs::read_to_string(&taken).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(&free).unwrap(), "new");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2, "a temporary file was left");
    }

    #[test]
    fn devices_are_written_in_place_not_replaced() {
        let (mut f, pending) = create(Path::new("/dev/null")).unwrap();
        f.write_all(b"x").unwrap();
        pending.commit().unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }
}
