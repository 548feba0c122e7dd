//! Removing plaintext temporary directories when the process is interrupted.
//!
//! `edit` and `exec-file` put decrypted content in a private temporary directory while a child
//! (the editor, the user's command) runs. Drop guards remove it on every normal path, but a
//! SIGINT, SIGTERM or SIGHUP would kill the process without running them (sops leaves its temp
//! file behind in that case). While a [`DirGuard`] is alive, those signals are caught: the handler
//! only writes the signal number to a pipe (async-signal-safe); a watcher thread reads it, forwards
//! the signal to the tracked child, removes every protected directory and exits with 128 + signal.
//! Handlers are installed once, on first use, and are reset to the default in children by `exec`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once};

static INSTALL: Once = Once::new();
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static CHILD: AtomicI32 = AtomicI32::new(0);
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

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

fn lock_dirs() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    DIRS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn install() {
    INSTALL.call_once(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        let read_fd = fds[0];
        PIPE_WRITE.store(fds[1], Ordering::SeqCst);
        let spawned = std::thread::Builder::new().name("kvsops-signals".into()).spawn(move || loop {
            let mut b = 0u8;
            // SAFETY: reading one byte into a valid stack buffer from the pipe we own.
            let n = unsafe { libc::read(read_fd, &mut b as *mut u8 as *mut libc::c_void, 1) };
            if n == 1 {
                handle(b as libc::c_int);
            } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            } else {
                return;
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

fn handle(sig: libc::c_int) {
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: sending a signal to the child we started and are still waiting for.
        unsafe {
            libc::kill(child, sig);
        }
    }
    let dirs = lock_dirs();
    let had_plaintext = !dirs.is_empty();
    for d in dirs.iter() {
        let _ = std::fs::remove_dir_all(d);
    }
    if had_plaintext {
        eprintln!("kvsops: interrupted; the temporary plaintext was removed and nothing was written");
    }
    std::process::exit(128 + sig);
}

/// Keeps a directory registered for removal on SIGINT/SIGTERM/SIGHUP; unregisters it when dropped
/// (the directory itself is removed by its owner, e.g. [`crate::fsio::PrivateTempFile`]).
pub struct DirGuard {
    path: PathBuf,
}

/// Protects `path` until the returned guard is dropped.
pub fn protect_dir(path: &Path) -> DirGuard {
    install();
    lock_dirs().push(path.to_path_buf());
    DirGuard { path: path.to_path_buf() }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        let mut dirs = lock_dirs();
        if let Some(i) = dirs.iter().position(|d| *d == self.path) {
            dirs.remove(i);
        }
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
            assert!(lock_dirs().iter().any(|p| p == d.path()));
            let _c = track_child(12345);
            assert_eq!(CHILD.load(Ordering::SeqCst), 12345);
        }
        assert!(!lock_dirs().iter().any(|p| p == d.path()));
        assert_eq!(CHILD.load(Ordering::SeqCst), 0);
    }
}
