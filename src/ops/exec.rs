//! `exec-env` and `exec-file`: run a command with the decrypted values, without writing them to
//! a regular file.
//!
//! `exec-env` puts the first document's top-level scalars in the command's environment, with
//! sops's `ValToString` spelling (booleans `true`/`false`, floats as Go's `%G`-based form, times
//! as RFC 3339); a mapping or list there is an error. `exec-file` hands the plaintext over a FIFO
//! in a private temporary directory (a regular 0600 file only with `--no-fifo`) and replaces `{}`
//! in the command with its path. Both run `/bin/sh -c COMMAND` and return the child's exit code.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::error::{Error, Result};
use crate::tree::{Document, MapItem, Node, Value};

/// The file name sops uses for `exec-file` when none is given.
pub const FALLBACK_FILENAME: &str = "tmp-file";

/// The environment pairs of `exec-env`: the first document's top-level entries.
pub fn env_pairs(documents: &[Document]) -> Result<Vec<(String, OsString)>> {
    let Some(doc) = documents.first() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for item in &doc.root.items {
        let MapItem::Entry(e) = item else { continue };
        let Node::Scalar(s) = &e.value else {
            // sops: exit 1 (its generic code), not the invalid-value code of `set`.
            return Err(Error::Generic(format!("cannot use complex value in environment; offending key {}", e.key)));
        };
        if e.key.contains('=') {
            return Err(Error::Generic(format!("cannot use keys with '=' in environment: {}", e.key)));
        }
        out.push((e.key.clone(), env_value(&s.value)));
    }
    Ok(out)
}

/// sops's `ValToString` for one scalar, as an environment value (raw bytes pass through).
pub fn env_value(v: &Value) -> OsString {
    let text = crate::gofmt::val_to_string(v);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(text.into_owned())
    }
    #[cfg(not(unix))]
    {
        String::from_utf8_lossy(&text).into_owned().into()
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    if let Some(c) = status.code() {
        return c;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    1
}

fn shell(command: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(command);
    c
}

fn spawn_error(e: std::io::Error) -> Error {
    Error::Spawn { what: "could not start /bin/sh", source: e }
}

/// How `exec-env` runs its command.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvOptions {
    /// Only the decrypted values, none of kvsops's own environment.
    pub pristine: bool,
    /// Start the command and return without waiting (deprecated in sops).
    pub background: bool,
    /// Replace kvsops with the command (`exec`) instead of running a child.
    pub same_process: bool,
}

/// Runs `command` with the pairs added to the environment; returns its exit code.
pub fn run_with_env(command: &str, pairs: &[(String, OsString)], opts: EnvOptions) -> Result<i32> {
    let mut cmd = shell(command);
    if opts.pristine {
        cmd.env_clear();
    }
    cmd.envs(pairs.iter().map(|(k, v)| (k, v)));
    if opts.same_process {
        if opts.background {
            return Err(Error::Conflict("a command cannot replace this process and run in the background".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            return Err(spawn_error(cmd.exec()));
        }
    }
    let mut child = cmd.spawn().map_err(spawn_error)?;
    if opts.background {
        return Ok(0);
    }
    let _tracked = crate::platform::signals::track_child(child.id());
    let status = child.wait().map_err(spawn_error)?;
    Ok(exit_code(status))
}

/// How `exec-file` hands over the plaintext.
#[derive(Clone, Debug, Default)]
pub struct FileOptions {
    /// A regular 0600 file instead of a FIFO.
    pub no_fifo: bool,
    /// The file's name in the private directory (default `tmp-file`).
    pub filename: Option<String>,
    /// Start the command and return without waiting (deprecated in sops).
    pub background: bool,
}

/// Runs `command` (`{}` replaced by the path) with the plaintext readable at that path; returns
/// the exit code. The private directory is removed when the command has finished.
pub fn run_with_file(command: &str, plaintext: Vec<u8>, opts: &FileOptions) -> Result<i32> {
    // 0700, registered for removal on signals before it exists, removed when dropped.
    let dir = crate::platform::fsio::PrivateDir::create("kvsops-exec-")?;
    set_private(dir.path())?;
    let name = match &opts.filename {
        Some(n) => Path::new(n)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Conflict(format!("{n:?} is not a file name")))?,
        None => FALLBACK_FILENAME.to_string(),
    };
    let path = if opts.no_fifo {
        write_private_file(dir.path(), &name, opts.filename.is_some(), &plaintext)?
    } else {
        let path = dir.path().join(&name);
        make_fifo(&path)?;
        let writer_path = path.clone();
        let data = zeroize::Zeroizing::new(plaintext);
        // Opening a FIFO for writing blocks until a reader opens it, so the write runs aside.
        std::thread::Builder::new()
            .name("kvsops-fifo".into())
            .spawn(move || {
                if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
                    let _ = f.write_all(&data);
                }
            })
            .map_err(|source| Error::Spawn { what: "could not start the FIFO writer", source })?;
        path
    };
    let placeholdered = command.replace("{}", &path.to_string_lossy());
    let mut child = shell(&placeholdered).stdin(Stdio::inherit()).spawn().map_err(spawn_error)?;
    if opts.background {
        // The directory must outlive this process's wait; leave it to the command (as sops does,
        // whose deferred removal races the background command).
        dir.keep();
        return Ok(0);
    }
    let status = {
        let _tracked = crate::platform::signals::track_child(child.id());
        child.wait().map_err(spawn_error)?
    };
    if !opts.no_fifo {
        release_fifo_writer(&path);
    }
    Ok(exit_code(status))
}

#[cfg(unix)]
fn set_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(dir, e))
}

#[cfg(not(unix))]
fn set_private(_dir: &Path) -> Result<()> {
    Ok(())
}

fn write_private_file(dir: &Path, name: &str, exact: bool, data: &[u8]) -> Result<PathBuf> {
    let (mut file, path) = if exact {
        let path = dir.join(name);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        (o.open(&path).map_err(|e| Error::io(&path, e))?, path)
    } else {
        let (f, p) = tempfile::Builder::new()
            .prefix(name)
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?
            .keep()
            .map_err(|e| Error::io(dir, e.error))?;
        (f, p)
    };
    file.write_all(data).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn make_fifo(path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::NulInPath { what: "FIFO" })?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(Error::io(path, std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_fifo(_path: &Path) -> Result<()> {
    Err(Error::Unsupported("FIFOs need a Unix system".into()))
}

/// Lets a writer still blocked on opening the FIFO (the command never read it) finish: open and
/// close the read end without blocking, so its open succeeds and its write fails.
fn release_fifo_writer(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Mapping, Scalar};

    #[test]
    fn env_pairs_take_top_level_scalars() {
        let mut m = Mapping::new();
        m.push("S", Node::str("x y"));
        m.push("B", Node::Scalar(Scalar::new(Value::Bool(true))));
        m.push("I", Node::Scalar(Scalar::new(Value::Int(-3))));
        m.push("T", Node::Scalar(Scalar::new(Value::Time("2024-01-02T03:04:05.123Z".into()))));
        m.items.push(MapItem::Comment(crate::tree::Comment::new(" c")));
        let pairs = env_pairs(&[Document::new(m.clone())]).unwrap();
        let got: Vec<(String, String)> =
            pairs.into_iter().map(|(k, v)| (k, v.to_string_lossy().into_owned())).collect();
        assert_eq!(
            got,
            vec![
                ("S".to_string(), "x y".to_string()),
                ("B".into(), "true".into()),
                ("I".into(), "-3".into()),
                ("T".into(), "2024-01-02T03:04:05Z".into()),
            ]
        );
        m.push("nested", Node::Map(Mapping::new()));
        let err = env_pairs(&[Document::new(m)]).unwrap_err();
        assert!(err.to_string().contains("offending key nested"));
    }

    #[test]
    fn exec_env_passes_values_and_exit_code() {
        let pairs = vec![("KVSOPS_T".to_string(), OsString::from("v a l"))];
        let code = run_with_env("test \"$KVSOPS_T\" = 'v a l' && exit 7", &pairs, EnvOptions::default()).unwrap();
        assert_eq!(code, 7);
        let code =
            run_with_env("test -z \"$HOME\"", &pairs, EnvOptions { pristine: true, ..Default::default() }).unwrap();
        assert_eq!(code, 0, "pristine drops the inherited environment");
    }

    #[test]
    fn exec_file_uses_a_fifo_in_a_private_dir() {
        let out = tempfile::tempdir().unwrap();
        let report = out.path().join("report");
        let cmd = format!("test -p {{}} && stat -c %a $(dirname {{}}) > {r} && cat {{}} >> {r}", r = report.display());
        let code = run_with_file(&cmd, b"secret-content".to_vec(), &FileOptions::default()).unwrap();
        assert_eq!(code, 0);
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "700\nsecret-content");
        // --no-fifo: a regular 0600 file, named as asked; the directory is gone afterwards.
        let cmd = format!(
            "test -f {{}} && stat -c %a {{}} > {r} && basename {{}} >> {r} && echo {{}} >> {r}",
            r = report.display()
        );
        let opts = FileOptions { no_fifo: true, filename: Some("x.env".into()), ..Default::default() };
        assert_eq!(run_with_file(&cmd, b"a".to_vec(), &opts).unwrap(), 0);
        let text = std::fs::read_to_string(&report).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(&lines[..2], ["600", "x.env"]);
        assert!(!Path::new(lines[2]).exists());
        // A command that never reads the FIFO still finishes.
        assert_eq!(run_with_file("exit 3", b"a".to_vec(), &FileOptions::default()).unwrap(), 3);
    }
}
