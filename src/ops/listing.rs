//! Which files lie under a directory, and which of them a creation rule governs: the one place
//! `check` and the whole-tree commands (`encrypt -i DIR`, `decrypt -i DIR`, `rotate -i DIR`,
//! `updatekeys DIR`) turn a directory into files, so they agree on what a tree holds.
//!
//! Inside a git work tree git lists the files, so ignored paths are skipped exactly as git skips
//! them (`.gitignore` at every level, `.git/info/exclude`, `core.excludesFile`); outside git the
//! directory is walked (symlinks not followed, `.git` skipped).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{Config, CreationRule, CONFIG_FILE_NAME};
use crate::error::{Error, Result};

use crate::platform::git;

/// Which files of a git work tree a listing includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracked {
    /// Only what git tracks (what `check` guards: the content of commits).
    Only,
    /// Tracked files and untracked files that are not ignored (what `git add -A` would add): a
    /// new secret file is meant to be encrypted before its first commit.
    AndUntracked,
}

/// The files under `dir` (relative to `cwd`, or absolute), in a stable order, as paths that start
/// with `dir`. Git-ignored files are left out inside a work tree.
pub fn files_under(cwd: &Path, dir: &Path, tracked: Tracked) -> Result<Vec<PathBuf>> {
    let full = cwd.join(dir);
    if git::toplevel(&full).is_some() {
        // git runs in the directory itself (which may be in another repository than `cwd`, or
        // `cwd` in none); its paths, relative to there, are put back under `dir`.
        let here: Vec<OsString> = vec![".".into()];
        let found = match tracked {
            Tracked::Only => git::ls_files(&full, &here)?,
            Tracked::AndUntracked => git::ls_files_not_ignored(&full, &here)?,
        };
        let mut files: Vec<PathBuf> = found.into_iter().map(|p| strip_dot(dir.join(p))).collect();
        files.sort();
        files.dedup();
        return Ok(files);
    }
    let mut out = Vec::new();
    walk_dir(dir, cwd, &mut |p| out.push(p))?;
    Ok(out)
}

/// `p` without a leading `./`.
pub fn strip_dot(p: PathBuf) -> PathBuf {
    p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p)
}

/// Every regular file under `dir` (symlinks not followed, `.git` skipped), in a stable order.
pub fn walk_dir(dir: &Path, cwd: &Path, found: &mut dyn FnMut(PathBuf)) -> Result<()> {
    let full = cwd.join(dir);
    let mut entries: Vec<_> = std::fs::read_dir(&full).map_err(|e| Error::io(dir, e))?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        let p = dir.join(e.file_name());
        if ft.is_dir() {
            if e.file_name() != ".git" {
                walk_dir(&p, cwd, found)?;
            }
        } else if ft.is_file() {
            found(strip_dot(p));
        }
    }
    Ok(())
}

/// The creation rule that governs `file` and its index: the first rule matching it, when that
/// rule has a `path_regex`. A catch-all rule (no `path_regex`) says which keys to use for files
/// you name, not that every file of a tree is a secret, so it governs none. The config file
/// itself and kvsops's temporary files are never governed.
pub fn governing_rule<'c>(cfg: &'c Config, file: &Path) -> Option<(usize, &'c CreationRule)> {
    let name = file.file_name()?;
    if name == CONFIG_FILE_NAME || crate::platform::fsio::is_temp_name(name) {
        return None;
    }
    let rule = cfg.rule_for(file)?;
    rule.path_regex.as_ref()?;
    let i = cfg.creation_rules.iter().position(|r| std::ptr::eq(r, rule))?;
    Some((i, rule))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(regex: Option<&str>) -> Config {
        Config {
            dir: "/repo".into(),
            path: "/repo/.sops.yaml".into(),
            creation_rules: vec![CreationRule {
                path_regex: regex.map(|p| crate::rules::compile_go_regex(p).unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn only_rules_with_a_path_regex_govern_files_and_never_the_config() {
        let cfg = config(Some(r"secrets/.*\.yaml$"));
        assert_eq!(governing_rule(&cfg, Path::new("/repo/secrets/a.yaml")).map(|(i, _)| i), Some(0));
        assert!(governing_rule(&cfg, Path::new("/repo/apps/a.yaml")).is_none());
        assert!(governing_rule(&config(None), Path::new("/repo/secrets/a.yaml")).is_none());
        let all = config(Some("."));
        assert!(governing_rule(&all, Path::new("/repo/.sops.yaml")).is_none());
        assert!(governing_rule(&all, Path::new("/repo/x/.kvsops-12-0123456789abcdef.tmp")).is_none());
    }

    #[test]
    fn a_walk_lists_regular_files_in_order_and_skips_dot_git() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b/2.yaml", "a.yaml", ".git/config", "b/1.yaml"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let mut found = Vec::new();
        walk_dir(Path::new("."), dir.path(), &mut |p| found.push(p)).unwrap();
        assert_eq!(found, [PathBuf::from("a.yaml"), "b/1.yaml".into(), "b/2.yaml".into()]);
    }
}
