//! Outputs written whole or not at all: a temporary file beside the destination, renamed into
//! place once complete. A failed or interrupted write leaves whatever was at the destination
//! untouched (and deletes the temporary file, unless the process is killed outright).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

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
    let (file, tmp) = b.tempfile_in(dir)?.into_parts();
    Ok((file, Pending { tmp: Some(tmp), dest: dest.to_path_buf() }))
}

impl Pending {
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Rename the finished file into place (the caller has flushed it).
    pub fn commit(self) -> io::Result<()> {
        match self.tmp {
            Some(tmp) => tmp.persist(&self.dest).map_err(|e| e.error),
            None => Ok(()),
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

    #[test]
    fn devices_are_written_in_place_not_replaced() {
        let (mut f, pending) = create(Path::new("/dev/null")).unwrap();
        f.write_all(b"x").unwrap();
        pending.commit().unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }
}
