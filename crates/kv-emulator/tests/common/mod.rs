//! Helpers shared by the integration tests: bounded child processes, and the workspace's one rule
//! for tests that need a real tool (kvsops's src/testing.rs: skip with a notice, or fail when
//! KVSOPS_REQUIRE_INTEROP is set).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../../src/testing.rs"]
pub mod testing;
pub use testing::{have, in_own_process, sops_program};

/// What a bounded child process did.
pub struct Output {
    /// Exit status; `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Exited 0 before the deadline.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Runs `cmd` with `stdin`, killing it if it is still running after `deadline`.
pub fn run_with_deadline(mut cmd: Command, stdin: &[u8], deadline: Duration) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn child process");
    if let Some(mut si) = child.stdin.take() {
        let _ = si.write_all(stdin);
    }
    let mut so = child.stdout.take().expect("stdout pipe");
    let mut se = child.stderr.take().expect("stderr pipe");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Output { status, stdout: out_t.join().unwrap_or_default(), stderr: err_t.join().unwrap_or_default() }
}
