//! Files on disk: atomic replacement and private temporary files.
//!
//! An in-place write never leaves a half-written file: the new content goes to a temporary file
//! in the same directory, is flushed to disk, takes the old file's permissions and is renamed over
//! the target. Plaintext only ever lands in a private temporary directory (mode 0700, file 0600)
//! that is removed when its guard is dropped.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Reads a whole file, naming it in the error (exit 100 when it does not exist, as sops).
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads all of standard input.
pub fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::stdin().read_to_end(&mut buf).map_err(|e| Error::io("<stdin>", e))?;
    Ok(buf)
}

/// Whether the content is plaintext (mode 0600 for new files) or encrypted (0644 minus umask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    Plaintext,
    Encrypted,
}

/// Writes `data` to `path` atomically: temp file in the same directory, fsync, the existing file's
/// mode (or one suited to the content for a new file), rename, fsync of the directory.
pub fn write_atomic(path: &Path, data: &[u8], sensitivity: Sensitivity) -> Result<()> {
    let fail = |e: io::Error| Error::Write { path: path.to_path_buf(), source: e };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Follow a symlinked target so the link stays a link and the file it names is replaced.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target.parent().map(Path::to_path_buf).unwrap_or(dir);
    let existing_mode = file_mode(&target);
    let mut tmp = tempfile::Builder::new()
        .prefix(".kvsops-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(fail)?;
    tmp.write_all(data).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    set_mode(tmp.path(), existing_mode.unwrap_or(match sensitivity {
        Sensitivity::Plaintext => 0o600,
        Sensitivity::Encrypted => 0o644 & !current_umask(),
    }))
    .map_err(fail)?;
    tmp.persist(&target).map_err(|e| fail(e.error))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn current_umask() -> u32 {
    // The umask can only be read by setting it; read it from /proc when possible instead.
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("Umask:") {
                if let Ok(m) = u32::from_str_radix(v.trim(), 8) {
                    return m;
                }
            }
        }
    }
    0o022
}

#[cfg(not(unix))]
fn current_umask() -> u32 {
    0o022
}

/// A private temporary directory (0700) holding one plaintext file (0600) named like the target,
/// so editors pick the right syntax. Both are removed when this guard is dropped, on every path.
pub struct PrivateTempFile {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl PrivateTempFile {
    /// Creates the directory and the file with `contents`.
    pub fn create(file_name: &str, contents: &[u8]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("kvsops-").tempdir().map_err(|e| Error::io("<temp dir>", e))?;
        set_mode(dir.path(), 0o700).map_err(|e| Error::io(dir.path(), e))?;
        let name = Path::new(file_name).file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "file".into());
        let path = dir.path().join(name);
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&path).map_err(|e| Error::io(&path, e))?;
        f.write_all(contents).map_err(|e| Error::io(&path, e))?;
        f.sync_all().map_err(|e| Error::io(&path, e))?;
        Ok(PrivateTempFile { dir, path })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The private directory's path.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_keeps_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.yaml");
        fs::write(&p, b"old").unwrap();
        set_mode(&p, 0o640).unwrap();
        write_atomic(&p, b"new", Sensitivity::Plaintext).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(file_mode(&p), Some(0o640));
        // No temp files left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        let q = d.path().join("plain.yaml");
        write_atomic(&q, b"x", Sensitivity::Plaintext).unwrap();
        assert_eq!(file_mode(&q), Some(0o600));
    }

    #[test]
    fn private_temp_file_is_private_and_removed() {
        let dir;
        {
            let t = PrivateTempFile::create("secret.yaml", b"pw: 1").unwrap();
            dir = t.dir().to_path_buf();
            assert_eq!(t.path().file_name().unwrap(), "secret.yaml");
            assert_eq!(file_mode(t.path()), Some(0o600));
            assert_eq!(file_mode(&dir), Some(0o700));
        }
        assert!(!dir.exists());
    }
}
