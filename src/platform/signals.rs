//! Removing temporary files and directories when the process is interrupted.
//!
//! Two kinds of paths can hold a secret for a moment: the private directory of `edit` and
//! `exec-file` (plaintext while a child runs) and the temporary file of an in-place write
//! (plaintext for `decrypt -i`, ciphertext otherwise), see [`crate::platform::fsio`]. Drop guards remove
//! them on every normal path, but SIGINT, SIGTERM, SIGHUP or SIGQUIT would kill the process without
//! running them. While a path is registered those signals are caught: the handler only writes the
//! signal number to a pipe (async-signal-safe); a watcher thread reads it, forwards the signal to
//! the tracked child, removes every registered path and exits with 128 + signal.
//!
//! No window: a path is registered *before* it is created, and creation, registration, the final
//! rename of a temporary file over its target and its unregistration all happen inside a
//! [`critical`] section. The watcher takes the exclusive side of the same lock before it removes
//! anything, so it never runs in the middle of one of them (a signal then waits until the section
//! ends) and, once it holds the lock, no new section can start before the process exits.
//! Handlers are installed once, on first use, and are reset to the default in children by `exec`.

// This module calls the OS through `libc` for signal handlers (sigaction, write(2) from the handler, kill); each call has a SAFETY comment.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, Once, RwLock, RwLockReadGuard};

static INSTALL: Once = Once::new();
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static CHILD: AtomicI32 = AtomicI32::new(0);
static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static CRITICAL: RwLock<()> = RwLock::new(());

/// The signals that remove registered paths before the process exits.
#[cfg(unix)]
pub const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte on the stack.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
}

fn lock_paths() -> MutexGuard<'static, Vec<PathBuf>> {
    PATHS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs the handlers and the watcher thread (once); when that fails, signals keep their
/// default action.
#[cfg(not(unix))]
fn install() {}

/// Installs the handlers and the watcher thread (once); when that fails, signals keep their
/// default action.
#[cfg(unix)]
fn install() {
    INSTALL.call_once(|| {
        use std::io::Read as _;
        use std::os::fd::IntoRawFd as _;
        // std's pipe is close-on-exec on every Unix (`pipe2` is Linux and BSD only).
        let Ok((mut reader, writer)) = std::io::pipe() else { return };
        PIPE_WRITE.store(writer.into_raw_fd(), Ordering::SeqCst);
        let spawned = std::thread::Builder::new().name("kvsops-signals".into()).spawn(move || loop {
            let mut b = [0u8; 1];
            match reader.read(&mut b) {
                Ok(1) => handle(libc::c_int::from(b[0])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => return,
            }
        });
        if spawned.is_err() {
            return;
        }
        for sig in SIGNALS {
            // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid; the
            // handler only calls async-signal-safe functions.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

#[cfg(unix)]
fn handle(sig: libc::c_int) {
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: sending a signal to the child we started and are still waiting for.
        unsafe {
            libc::kill(child, sig);
        }
    }
    // Wait for a running critical section (a rename, an in-place write) to end; never released.
    let _exclusive = CRITICAL.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let paths = lock_paths();
    let had_any = !paths.is_empty();
    for p in paths.iter() {
        remove_path(p);
    }
    if had_any {
        crate::errln!("kvsops: interrupted; the temporary files were removed and nothing was written");
    }
    std::process::exit(128 + sig);
}

/// Removes a file or a directory tree (not following a symlink); a missing path is fine.
pub(crate) fn remove_path(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// A section during which a caught signal waits: hold the guard while creating and registering
/// a temporary path, while renaming it over its target and unregistering it, and while rewriting
/// a file in place. Sections must not nest (the lock is not reentrant) and must be short.
pub fn critical() -> RwLockReadGuard<'static, ()> {
    install();
    CRITICAL.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Registers `path` (a file or a directory, existing or about to be created) for removal on a
/// signal. Call inside a [`critical`] section, before creating the path.
pub fn register(path: &Path) {
    install();
    lock_paths().push(path.to_path_buf());
}

/// Forgets `path` (after it was removed or renamed). Call inside a [`critical`] section.
pub fn unregister(path: &Path) {
    let mut paths = lock_paths();
    if let Some(i) = paths.iter().rposition(|d| d == path) {
        paths.remove(i);
    }
}

/// Keeps a directory registered for removal on a signal; unregisters it when dropped (the
/// directory itself is removed by its owner before that).
pub struct DirGuard {
    path: PathBuf,
}

/// Protects `path` until the returned guard is dropped.
pub fn protect_dir(path: &Path) -> DirGuard {
    let _section = critical();
    register(path);
    DirGuard { path: path.to_path_buf() }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _section = critical();
        unregister(&self.path);
    }
}

/// Tracks the running child so a caught signal is forwarded to it; cleared when dropped.
pub struct ChildGuard(());

/// Forwards caught signals to `pid` until the returned guard is dropped.
pub fn track_child(pid: u32) -> ChildGuard {
    install();
    CHILD.store(i32::try_from(pid).unwrap_or(0), Ordering::SeqCst);
    ChildGuard(())
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        CHILD.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_register_and_unregister() {
        let d = tempfile::tempdir().unwrap();
        {
            let _g = protect_dir(d.path());
            assert!(lock_paths().iter().any(|p| p == d.path()));
            let _c = track_child(12345);
            assert_eq!(CHILD.load(Ordering::SeqCst), 12345);
        }
        assert!(!lock_paths().iter().any(|p| p == d.path()));
        assert_eq!(CHILD.load(Ordering::SeqCst), 0);
        let f = d.path().join("f");
        {
            let _s = critical();
            register(&f);
        }
        assert!(lock_paths().contains(&f));
        unregister(&f);
        assert!(!lock_paths().contains(&f));
    }

    #[test]
    fn remove_path_handles_files_dirs_and_missing_paths() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("g"), b"y").unwrap();
        remove_path(&f);
        remove_path(&sub);
        remove_path(&d.path().join("missing"));
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
