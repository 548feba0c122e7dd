//! Shared helpers of the integration tests: running kvsops and the real tools (sops, age, gpg,
//! kubectl) in an isolated environment, and the throwaway keys of the fixtures.
#![allow(dead_code)]

pub mod azure;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under testdata/.
pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

/// Throwaway age keys that sops 3.11 used for the fixtures in testdata/sops-3.11/.
pub const KEY1_RECIPIENT: &str = "age16rgx9xmhnd8afawnn75f8lvcnjx6luphk8uapvsuy78a4pdat4wq2tkw9v";

/// The key file of [`KEY1_RECIPIENT`].
pub fn key1_file() -> PathBuf {
    testdata("sops-3.11/key1.txt")
}

/// The public key of a key file (its `# public key:` line).
pub fn recipient_of(key_file: &Path) -> String {
    let text = std::fs::read_to_string(key_file).expect("key file");
    text.lines().find_map(|l| l.strip_prefix("# public key: ")).expect("public key line").trim().to_string()
}

// The one rule for tests that need a real tool (src/testing.rs, shared with the library's unit
// tests and the emulator's tests): `have("gpg")` is false after a skip notice, or fails the test
// when KVSOPS_REQUIRE_INTEROP is set.
#[path = "../../src/testing.rs"]
pub mod testing;
#[allow(unused_imports)]
pub use testing::{available, have, in_own_process, interop_required, sops_program};

/// An isolated working directory: no user config, no user keys, no .sops.yaml above it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("kvsops-test-").tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("xdg")).expect("xdg");
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file into the sandbox and returns its path.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, data).expect("write");
        p
    }

    fn isolate(&self, cmd: &mut Command) {
        cmd.current_dir(self.path());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("SOPS_") || k.starts_with("AZURE_") || k == "EDITOR" || k.starts_with("IDENTITY_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("XDG_CONFIG_HOME", self.path().join("xdg"));
        cmd.env("HOME", self.path());
        cmd.env("SOPS_DISABLE_VERSION_CHECK", "1");
    }

    /// `kvsops` with the sandbox as working directory.
    pub fn kvsops(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kvsops"));
        self.isolate(&mut c);
        c
    }

    #[cfg(unix)]
    /// `kvsops` run as `uid`/`gid` with no supplementary groups (`setpriv`, so root is needed),
    /// with the sandbox as working directory. The sandbox directory is made world-writable.
    pub fn kvsops_as(&self, uid: u32, gid: u32) -> Command {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod sandbox");
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}")).arg(format!("--regid={gid}")).arg("--clear-groups").arg(binary_for_anyone());
        self.isolate(&mut c);
        c
    }

    /// The real `sops` with the sandbox as working directory.
    pub fn sops(&self) -> Command {
        let mut c = Command::new(sops_program());
        self.isolate(&mut c);
        c
    }
}

/// Runs a command and returns its output, panicking with stderr when it fails.
pub fn ok(mut cmd: Command) -> Vec<u8> {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed with {:?}\nstderr:\n{}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a command expected to fail and returns its output.
pub fn fails(mut cmd: Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(!out.status.success(), "{:?} unexpectedly succeeded", cmd);
    out
}

#[cfg(unix)]
/// True when the tests run as root (needed to run commands as another user); otherwise prints
/// why the calling test is skipped.
pub fn running_as_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED: {test} runs commands as another user with setpriv, which needs root");
    }
    root
}

#[cfg(unix)]
/// The kvsops binary at a path every user may execute (a copy when the build directory is private).
pub fn binary_for_anyone() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_kvsops"));
        let reachable = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "test", "-x"])
            .arg(&bin)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if reachable {
            return bin;
        }
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // One copy per build of the binary, reused by later runs (not one per test process).
        let m = std::fs::metadata(&bin).expect("kvsops binary");
        let dir = std::env::temp_dir().join(format!("kvsops-test-bin-{:x}-{:x}", m.mtime(), m.size()));
        let copy = dir.join("kvsops");
        if std::fs::metadata(&copy).is_ok_and(|c| c.size() == m.size()) {
            return copy;
        }
        std::fs::create_dir_all(&dir).expect("bin dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let part = dir.join(format!("kvsops.{}", std::process::id()));
        std::fs::copy(&bin, &part).expect("copy kvsops");
        std::fs::set_permissions(&part, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&part, &copy).expect("rename");
        copy
    })
    .clone()
}
