//! The few git plumbing calls kvsops needs: which files git tracks, what is staged, the staged
//! blobs themselves, where the hooks live (for `check` and the hook), and `git merge-file` (for the
//! merge driver's plain files).
//!
//! Everything goes through the `git` binary's porcelain-free plumbing with `-z`, and paths are kept
//! as raw bytes turned into `OsStr`s, so names with spaces, newlines or non-UTF-8 bytes survive.
//! The environment is inherited on purpose: inside a hook git sets `GIT_INDEX_FILE` (for
//! `git commit <paths>` or `commit -a` it is a temporary index) and our calls must see that index.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, GitError, Result};

/// Turns raw path bytes from git into a path without loss (on Unix).
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The raw bytes of a path (lossless on Unix), for printing it exactly as it is named.
pub fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned().into_bytes()
    }
}

fn git_error(command: &str, cause: GitError) -> Error {
    Error::Git { command: command.to_string(), cause }
}

/// Runs `git` in `dir` and returns its standard output; a failure carries git's own message.
pub fn run_git(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| git_error(args.first().copied().unwrap_or(""), GitError::Run(e)))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(git_error(args.first().copied().unwrap_or(""), GitError::Failed(msg.trim().to_string())));
    }
    Ok(out.stdout)
}

/// The top directory of the work tree containing `dir`, or `None` when `dir` is not in a git work tree.
pub fn toplevel(dir: &Path) -> Option<PathBuf> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut bytes = out.stdout;
    while bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    (!bytes.is_empty()).then(|| path_from_bytes(&bytes))
}

fn split_z(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| *b == 0).filter(|s| !s.is_empty())
}

/// The files git tracks, as paths relative to `cwd`: the whole repository when `pathspecs` is empty,
/// otherwise the files under those pathspecs.
pub fn ls_files(cwd: &Path, pathspecs: &[OsString]) -> Result<Vec<PathBuf>> {
    let mut cmd = Command::new("git");
    cmd.current_dir(cwd).args(["ls-files", "-z", "--"]).stdin(Stdio::null());
    if pathspecs.is_empty() {
        cmd.arg(":/");
    } else {
        cmd.args(pathspecs);
    }
    let out = cmd.output().map_err(|e| git_error("ls-files", GitError::Run(e)))?;
    if !out.status.success() {
        return Err(git_error("ls-files", GitError::Failed(String::from_utf8_lossy(&out.stderr).trim().to_string())));
    }
    Ok(split_z(&out.stdout).map(path_from_bytes).collect())
}

/// The files under `pathspecs` (relative to `cwd`) that git tracks or would add with `git add -A`:
/// tracked files and untracked files that are not ignored. A tracked file deleted from the work
/// tree is still listed; callers skip what is not there.
pub fn ls_files_not_ignored(cwd: &Path, pathspecs: &[OsString]) -> Result<Vec<PathBuf>> {
    let out = Command::new("git")
        .current_dir(cwd)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"])
        .args(pathspecs)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| git_error("ls-files", GitError::Run(e)))?;
    if !out.status.success() {
        return Err(git_error("ls-files", GitError::Failed(String::from_utf8_lossy(&out.stderr).trim().to_string())));
    }
    Ok(split_z(&out.stdout).map(path_from_bytes).collect())
}

/// Untracked, not ignored files named like a kvsops temporary file (`.kvsops-*.tmp`, what
/// `git add -A` would pick up), as paths relative to `cwd`: in the whole repository when `dirs` is
/// empty, otherwise under those directories.
pub fn ls_untracked_temp_files(cwd: &Path, dirs: &[OsString]) -> Result<Vec<PathBuf>> {
    let mut cmd = Command::new("git");
    cmd.current_dir(cwd).args(["ls-files", "-z", "--others", "--exclude-standard", "--"]).stdin(Stdio::null());
    if dirs.is_empty() {
        cmd.arg(":(top,glob)**/.kvsops-*.tmp");
    } else {
        for d in dirs {
            let mut spec = OsString::from(":(glob)");
            spec.push(d);
            spec.push("/**/.kvsops-*.tmp");
            cmd.arg(spec);
        }
    }
    let out = cmd.output().map_err(|e| git_error("ls-files", GitError::Run(e)))?;
    if !out.status.success() {
        return Err(git_error("ls-files", GitError::Failed(String::from_utf8_lossy(&out.stderr).trim().to_string())));
    }
    Ok(split_z(&out.stdout)
        .map(path_from_bytes)
        .filter(|p| p.file_name().is_some_and(crate::platform::fsio::is_temp_name))
        .collect())
}

/// One staged file that a commit would add or change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedFile {
    /// Path relative to the top of the work tree (the new name of a rename).
    pub path: PathBuf,
    /// The object id of the staged blob.
    pub blob: String,
    /// The path before a rename or copy.
    pub renamed_from: Option<PathBuf>,
}

/// Modes of entries whose content is a file's bytes (not symlinks or submodules).
fn is_regular_mode(mode: &str) -> bool {
    mode == "100644" || mode == "100755"
}

/// Parses `git diff --cached --raw -z` output: the staged additions, modifications, renames, copies
/// and type changes to regular files. Deletions and unmerged entries are skipped.
pub fn parse_raw_diff(bytes: &[u8]) -> Result<Vec<StagedFile>> {
    let bad = || git_error("diff", GitError::Output("unexpected --raw output".into()));
    let mut fields = bytes.split(|b| *b == 0);
    let mut out = Vec::new();
    while let Some(header) = fields.next() {
        if header.is_empty() {
            continue;
        }
        let header = std::str::from_utf8(header).map_err(|_| bad())?;
        let header = header.strip_prefix(':').ok_or_else(bad)?;
        let parts: Vec<&str> = header.split(' ').collect();
        let [_src_mode, dst_mode, _src_blob, dst_blob, status] = parts.as_slice() else {
            return Err(bad());
        };
        let letter = status.chars().next().ok_or_else(bad)?;
        let first = fields.next().ok_or_else(bad)?;
        let (path, renamed_from) = if letter == 'R' || letter == 'C' {
            let second = fields.next().ok_or_else(bad)?;
            (path_from_bytes(second), Some(path_from_bytes(first)))
        } else {
            (path_from_bytes(first), None)
        };
        if matches!(letter, 'D' | 'U' | 'X') || !is_regular_mode(dst_mode) {
            continue;
        }
        out.push(StagedFile { path, blob: dst_blob.to_string(), renamed_from });
    }
    Ok(out)
}

/// What the next commit would add or change, read from the index (or the temporary index git
/// uses during `git commit <paths>`). Works before the first commit too.
pub fn staged_files(toplevel: &Path) -> Result<Vec<StagedFile>> {
    let out = run_git(
        toplevel,
        &[
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-abbrev",
            "--find-renames",
            "--no-relative",
            "--no-ext-diff",
            "--ignore-submodules",
        ],
    )?;
    parse_raw_diff(&out)
}

/// Reads blobs with one `git cat-file --batch`; the result is in the order of `ids`. A missing
/// object is an error.
pub fn read_blobs(toplevel: &Path, ids: &[String]) -> Result<Vec<Vec<u8>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = Command::new("git")
        .current_dir(toplevel)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_error("cat-file", GitError::Run(e)))?;
    let mut stdin = child.stdin.take().ok_or_else(|| git_error("cat-file", GitError::Output("no stdin".into())))?;
    let stdout = child.stdout.take().ok_or_else(|| git_error("cat-file", GitError::Output("no stdout".into())))?;
    let request: Vec<u8> = ids.iter().flat_map(|id| format!("{id}\n").into_bytes()).collect();
    // Write from another thread: git answers while we are still asking, and pipes are small.
    let writer = std::thread::spawn(move || {
        let r = stdin.write_all(&request);
        drop(stdin);
        r
    });
    let mut reader = BufReader::new(stdout);
    let mut blobs = Vec::with_capacity(ids.len());
    let mut result = Ok(());
    for id in ids {
        let mut header = Vec::new();
        match reader.read_until(b'\n', &mut header) {
            Ok(0) | Err(_) => {
                result = Err(git_error("cat-file", GitError::Output("output ended early".into())));
                break;
            }
            Ok(_) => {}
        }
        let header = String::from_utf8_lossy(&header).trim_end().to_string();
        let parts: Vec<&str> = header.split(' ').collect();
        let size = match parts.as_slice() {
            [_, "blob", size] => size.parse::<usize>().ok(),
            _ => None,
        };
        let Some(size) = size else {
            result = Err(git_error("cat-file", GitError::Output(format!("cannot read staged object {id}: {header}"))));
            break;
        };
        let mut data = vec![0u8; size + 1];
        if reader.read_exact(&mut data).is_err() {
            result = Err(git_error("cat-file", GitError::Output("output ended early".into())));
            break;
        }
        data.pop();
        blobs.push(data);
    }
    drop(reader);
    let _ = writer.join();
    let status = child.wait().map_err(|e| git_error("cat-file", GitError::Wait(e)))?;
    result?;
    if !status.success() {
        return Err(git_error("cat-file", GitError::Failed("failed".into())));
    }
    Ok(blobs)
}

/// The hooks directory git uses for `cwd`'s repository: honours `core.hooksPath` and linked work
/// trees (`git rev-parse --git-path hooks`), made absolute.
pub fn hooks_dir(cwd: &Path) -> Result<PathBuf> {
    let mut out = run_git(cwd, &["rev-parse", "--git-path", "hooks"])?;
    while out.last() == Some(&b'\n') {
        out.pop();
    }
    if out.is_empty() {
        return Err(git_error("rev-parse", GitError::Output("no hooks path".into())));
    }
    let p = path_from_bytes(&out);
    Ok(if p.is_absolute() { p } else { cwd.join(p) })
}

/// git's own three-way line merge of `ours`, `base` and `theirs` into `ours`, conflict markers
/// and all, each side labelled `label (ours)`/`(base)`/`(theirs)`. True when it merged cleanly.
pub fn merge_file(base: &Path, ours: &Path, theirs: &Path, label: &str) -> Result<bool> {
    let status = Command::new("git")
        .arg("merge-file")
        .args(["-L", &format!("{label} (ours)"), "-L", &format!("{label} (base)"), "-L", &format!("{label} (theirs)")])
        .arg(ours)
        .arg(base)
        .arg(theirs)
        .status()
        .map_err(|source| Error::Spawn { what: "cannot run git merge-file", source })?;
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_diff_keeps_additions_renames_and_odd_names_and_skips_deletions() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let mut raw = Vec::new();
        raw.extend_from_slice(format!(":000000 100644 {z} {a} A\0sp ace.yaml\0").as_bytes());
        raw.extend_from_slice(format!(":100644 000000 {a} {z} D\0gone.yaml\0").as_bytes());
        raw.extend_from_slice(format!(":100644 100644 {a} {b} R087\0old.yaml\0new dir/n.yaml\0").as_bytes());
        raw.extend_from_slice(format!(":000000 120000 {z} {b} A\0link.yaml\0").as_bytes());
        raw.extend_from_slice(format!(":100644 100755 {a} {b} M\0").as_bytes());
        raw.extend_from_slice(b"caf\xe9.yaml\0");
        let files = parse_raw_diff(&raw).unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(files[0].path, PathBuf::from("sp ace.yaml"));
        assert_eq!(files[0].blob, a);
        assert_eq!(files[1].path, PathBuf::from("new dir/n.yaml"));
        assert_eq!(files[1].renamed_from.as_deref(), Some(Path::new("old.yaml")));
        assert_eq!(path_bytes(&files[2].path), b"caf\xe9.yaml".to_vec());
    }

    #[test]
    fn raw_diff_refuses_garbage() {
        assert!(parse_raw_diff(b"nonsense\0x\0").is_err());
        assert!(parse_raw_diff(b"").unwrap().is_empty());
    }

    #[test]
    fn merge_file_merges_clean_changes_and_marks_conflicts() {
        let dir = crate::platform::fsio::PrivateDir::create("kvsops-merge-test-").unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let base = write("base", "a\nb\nc\n");
        let ours = write("ours", "A\nb\nc\n");
        let theirs = write("theirs", "a\nb\nC\n");
        assert!(merge_file(&base, &ours, &theirs, "f.txt").unwrap());
        assert_eq!(std::fs::read_to_string(&ours).unwrap(), "A\nb\nC\n");

        let ours = write("ours", "a\nX\nc\n");
        let theirs = write("theirs", "a\nY\nc\n");
        assert!(!merge_file(&base, &ours, &theirs, "f.txt").unwrap());
        let merged = std::fs::read_to_string(&ours).unwrap();
        assert!(merged.contains("<<<<<<< f.txt (ours)") && merged.contains(">>>>>>> f.txt (theirs)"), "{merged}");
    }
}
