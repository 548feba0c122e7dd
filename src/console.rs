//! Standard output and standard error without panics, and the `--verbose` switch.
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe returns `EPIPE` and `println!`/`eprintln!`
//! panic on it (exit 101). sops, a Go program, dies of SIGPIPE when it writes to a closed
//! standard output or error (`sops decrypt f | head -1` exits 141 in a shell) and gets `EPIPE`
//! on every other descriptor. kvsops does the same: [`write_stdout`] and [`write_stderr`] (and
//! the [`outln!`](crate::outln), [`out!`](crate::out) and [`errln!`](crate::errln) macros that
//! replace the standard ones) turn `EPIPE` on descriptors 1 and 2 into death by SIGPIPE; pipes
//! to children (gpg, git, a FIFO) keep getting `EPIPE` as an error.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns `--verbose` messages on or off for the process.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Whether `--verbose` was given.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Ends the process as a Go program does when it writes to a closed standard output or error:
/// killed by SIGPIPE (the default action), or exit 141 where there are no signals.
#[allow(unsafe_code)]
pub fn die_of_sigpipe() -> ! {
    #[cfg(unix)]
    // SAFETY: restoring the default action of SIGPIPE and raising it; nothing else is touched.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + 13)
}

fn broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => die_of_sigpipe(),
        other => other,
    }
}

/// Writes and flushes `data` to standard output; a closed pipe ends the process (SIGPIPE), other
/// errors are returned.
pub fn write_stdout(data: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    broken_pipe(out.write_all(data).and_then(|_| out.flush()))
}

/// Writes `data` to standard error; a closed pipe ends the process (SIGPIPE), other errors are
/// ignored (there is nowhere left to report them).
pub fn write_stderr(data: &[u8]) {
    let mut err = io::stderr().lock();
    let _ = broken_pipe(err.write_all(data).and_then(|_| err.flush()));
}

#[doc(hidden)]
pub fn stdout_fmt(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut s = args.to_string();
    if newline {
        s.push('\n');
    }
    let _ = write_stdout(s.as_bytes());
}

#[doc(hidden)]
pub fn stderr_fmt(args: std::fmt::Arguments<'_>) {
    let mut s = args.to_string();
    s.push('\n');
    write_stderr(s.as_bytes());
}

/// `println!` that never panics (see the module documentation).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::stdout_fmt(format_args!($($arg)*), true) };
}

/// `print!` that never panics (see the module documentation).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::stdout_fmt(format_args!($($arg)*), false) };
}

/// `eprintln!` that never panics (see the module documentation).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::stderr_fmt(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn verbose_switch() {
        super::set_verbose(true);
        assert!(super::verbose());
        super::set_verbose(false);
        assert!(!super::verbose());
    }
}
