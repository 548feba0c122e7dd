//! `kvsops check` and `kvsops hook install`: the command-line side of the pre-commit guard.
//!
//! The report goes to standard output, one `path: key.path: reason` line per problem (so CI logs
//! and editors can parse it); the summary goes to standard error. Exit 0 when clean, 1 otherwise.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ops::check::{check_staged, check_worktree, list_worktree, Checker, Report};
use crate::platform::fsio::{self, Sensitivity};
use crate::platform::git;

use super::args::GlobalArgs;
use super::{at, load_config, Failure};

/// The first lines of the hook kvsops writes; a hook containing the marker is ours to replace.
const HOOK_MARKER: &str = "# kvsops pre-commit hook";

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::io(".", e))
}

/// Runs the check and prints the report; exit 1 when anything is wrong.
pub fn check_cmd(global: &GlobalArgs, staged: bool, all: bool, paths: &[PathBuf]) -> std::result::Result<i32, Failure> {
    let cfg = load_config(global).map_err(at(None))?;
    if cfg.is_none() && !all {
        crate::errln!("kvsops check: no .sops.yaml found, so no file is governed by a creation rule (--all also looks for plaintext Kubernetes Secrets)");
    }
    let checker = Checker::new(cfg.as_ref(), all);
    let tree = paths.iter().any(|p| p.is_dir());
    let cwd = cwd().map_err(at(None))?;
    let report = if staged {
        if !paths.is_empty() {
            return Err(Failure {
                file: None,
                error: Error::Conflict("--staged checks the whole index and takes no paths".into()),
            });
        }
        let top = git::toplevel(&cwd)
            .ok_or_else(|| Error::Generic("--staged needs a git work tree".into()))
            .map_err(at(None))?;
        check_staged(&checker, &top).map_err(at(None))?
    } else {
        let candidates = list_worktree(&cwd, paths).map_err(at(None))?;
        let progress = super::batch::Progress::new(if tree { candidates.len() } else { 0 });
        let report = check_worktree(&checker, &candidates, &|| progress.step(false));
        progress.finish();
        report
    };
    // A directory was given: the summary is printed even when all is well, as for encrypt -i DIR.
    print_report(&report, staged, global.verbose || tree);
    Ok(if report.problems.is_empty() { 0 } else { 1 })
}

fn print_report(report: &Report, staged: bool, verbose: bool) {
    let lines: Vec<u8> = report.problems.iter().flat_map(|p| p.line()).collect();
    let _ = crate::console::write_stdout(&lines);
    let what = if staged { "staged file" } else { "file" };
    if report.problems.is_empty() {
        if verbose || staged {
            crate::errln!("kvsops check: {} {what}(s) checked, no plaintext secrets", report.checked);
        }
        return;
    }
    let mut files: Vec<&Path> = report.problems.iter().map(|p| p.path.as_path()).collect();
    files.dedup();
    crate::errln!(
        "kvsops check: {} problem(s) in {} {what}(s) ({} checked). Encrypt with `kvsops encrypt -i FILE`{}",
        report.problems.len(),
        files.len(),
        report.checked,
        if staged { " and `git add` it again" } else { "" }
    );
}

/// The hook script: the binary that installed it when it still exists, otherwise `kvsops` on PATH.
pub fn hook_script(exe: Option<&Path>) -> String {
    let mut s = format!("#!/bin/sh\n{HOOK_MARKER}: refuses a commit that would add a plaintext secret.\n# Installed by `kvsops hook install`; delete this file to remove it.\n");
    if let Some(p) = exe.and_then(|p| p.to_str()) {
        let quoted = format!("'{}'", p.replace('\'', r"'\''"));
        s.push_str(&format!("if [ -x {quoted} ]; then exec {quoted} check --staged; fi\n"));
    }
    s.push_str("exec kvsops check --staged\n");
    s
}

/// Installs the pre-commit hook into the directory git uses for hooks (`core.hooksPath`, linked
/// work trees included). Idempotent; refuses to replace someone else's hook without `--force`.
pub fn hook_install_cmd(force: bool) -> std::result::Result<i32, Failure> {
    let cwd = cwd().map_err(at(None))?;
    let dir = git::hooks_dir(&cwd).map_err(at(None))?;
    let hook = dir.join("pre-commit");
    let exe = std::env::current_exe().ok().and_then(|p| std::fs::canonicalize(p).ok());
    let script = hook_script(exe.as_deref());
    match std::fs::read(&hook) {
        Ok(existing) if existing == script.as_bytes() => {
            crate::errln!("kvsops: the pre-commit hook is already installed at {}", hook.display());
            return Ok(0);
        }
        Ok(existing) if String::from_utf8_lossy(&existing).contains(HOOK_MARKER) => {}
        Ok(_) if !force => {
            return Err(Failure {
                file: Some(hook.clone()),
                error: Error::Conflict(
                    "a different pre-commit hook already exists; add `kvsops check --staged` to it, or use --force to replace it (it is kept as pre-commit.kvsops-backup)".into(),
                ),
            });
        }
        Ok(_) => {
            let backup = dir.join("pre-commit.kvsops-backup");
            std::fs::rename(&hook, &backup)
                .map_err(|e| Failure { file: Some(hook.clone()), error: Error::Write { path: backup, source: e } })?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Failure { file: Some(hook.clone()), error: Error::io(&hook, e) }),
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure { file: None, error: Error::Write { path: dir.clone(), source: e } })?;
    fsio::write_file(&hook, script.as_bytes(), Sensitivity::Encrypted).map_err(at(Some(&hook)))?;
    make_executable(&hook)
        .map_err(|e| Failure { file: Some(hook.clone()), error: Error::Write { path: hook.clone(), source: e } })?;
    crate::errln!("kvsops: installed the pre-commit hook at {}", hook.display());
    Ok(0)
}

#[cfg(unix)]
fn make_executable(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_p: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_prefers_the_installing_binary_and_quotes_it() {
        let s = hook_script(Some(Path::new("/opt/it's here/kvsops")));
        assert!(s.starts_with("#!/bin/sh\n# kvsops pre-commit hook"));
        assert!(s.contains(r"exec '/opt/it'\''s here/kvsops' check --staged"), "{s}");
        assert!(s.ends_with("exec kvsops check --staged\n"));
        assert_eq!(hook_script(None).lines().last(), Some("exec kvsops check --staged"));
    }
}
