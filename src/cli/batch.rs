//! Several files in one run: the files named on the command line, and whole trees (a directory
//! given to `encrypt -i`, `decrypt -i`, `rotate -i` or `updatekeys` stands for every file under it
//! that a creation rule governs, git-ignored paths skipped; see [`crate::ops::listing`]).
//!
//! Files are processed concurrently (`--jobs`) with the one keyring the caller built, so
//! credentials and connections are shared. One file failing does not stop the others. At the end
//! a summary counts the files done, skipped and failed and names each failure with its cause; the
//! exit code is the first failure's (in the order the files were listed), 0 when none failed. On
//! a terminal a progress line shows how far a run has got.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::listing::{self, Tracked};

use super::{at, Failure};

/// One file of a batch.
#[derive(Clone, Debug)]
pub(super) struct Target {
    pub path: PathBuf,
    /// Found under a directory (not named): a file that is already in the state the command
    /// produces (encrypting an encrypted file, decrypting a plain one) is skipped, not failed.
    pub from_tree: bool,
}

/// What a command works on: standard input, files, and the files of trees.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub targets: Vec<Target>,
    /// Files under the directories that no creation rule governs (left alone).
    pub unmatched: usize,
    /// A directory was given (the summary is printed even for one file).
    pub trees: bool,
    /// No progress line: the command asks questions on the terminal.
    pub interactive: bool,
}

impl Batch {
    /// The files named in `files`, each directory replaced by the files under it that a creation
    /// rule of `cfg` governs. `command` names the command in messages; directories need
    /// `in_place` (their files are written back where they are) and a config.
    pub fn expand(files: &[PathBuf], cfg: Option<&Config>, in_place: bool, command: &str) -> Result<Batch> {
        let mut batch = Batch::default();
        let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
        for f in files {
            if !f.is_dir() {
                batch.targets.push(Target { path: f.clone(), from_tree: false });
                continue;
            }
            if !in_place {
                return Err(Error::Conflict(format!(
                    "{} is a directory: `{command}` on a directory needs --in-place (each file is written back where it is)",
                    f.display()
                )));
            }
            let Some(cfg) = cfg.filter(|c| c.creation_rules.iter().any(|r| r.path_regex.is_some())) else {
                return Err(Error::Config(format!(
                    "{} is a directory: its files are chosen by the path_regex of the creation rules in .sops.yaml, and no config with such a rule was found",
                    f.display()
                )));
            };
            batch.trees = true;
            for p in listing::files_under(&cwd, f, Tracked::AndUntracked)? {
                // Tracked but deleted, a submodule, a symlink (its target is listed on its own when
                // it is in the tree): nothing to do here.
                if !std::fs::symlink_metadata(cwd.join(&p)).is_ok_and(|m| m.is_file()) {
                    continue;
                }
                if listing::governing_rule(cfg, &p).is_some() {
                    batch.targets.push(Target { path: p, from_tree: true });
                } else {
                    batch.unmatched += 1;
                }
            }
        }
        Ok(batch)
    }
}

/// How one file ended.
enum Outcome {
    Done,
    /// Left as it was, with the reason.
    Skipped(&'static str),
    Failed(Error),
}

/// For a file found in a tree, the errors that mean "already in the state this command produces".
fn skip_reason(e: &Error) -> Option<&'static str> {
    match e {
        Error::AlreadyEncrypted => Some("already encrypted"),
        Error::MetadataNotFound => Some("not encrypted"),
        _ => None,
    }
}

/// Runs `work` over the batch (concurrently with `jobs` threads, default 8; `None` for standard
/// input when the batch is empty) and prints the summary. A single named file is reported as
/// sops reports it: its error is returned, nothing else is printed.
pub(super) fn for_each_file<F>(batch: &Batch, jobs: Option<usize>, work: F) -> std::result::Result<i32, Failure>
where
    F: Fn(Option<&Path>) -> Result<()> + Sync,
{
    let targets = &batch.targets;
    if !batch.trees {
        match targets.as_slice() {
            [] => return work(None).map(|_| 0).map_err(at(None)),
            [one] => return work(Some(&one.path)).map(|_| 0).map_err(at(Some(&one.path))),
            _ => {}
        }
    }
    let progress = Progress::new(if batch.interactive { 0 } else { targets.len() });
    let jobs = jobs.unwrap_or(8).clamp(1, 64).min(targets.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Outcome>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            crate::stack::spawn_scoped(s, || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = targets.get(i) else { break };
                let outcome = match work(Some(&t.path)) {
                    Ok(()) => Outcome::Done,
                    Err(e) => match skip_reason(&e).filter(|_| t.from_tree) {
                        Some(reason) => Outcome::Skipped(reason),
                        None => Outcome::Failed(e),
                    },
                };
                progress.step(matches!(outcome, Outcome::Failed(_)));
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(outcome);
                }
            });
        }
    });
    progress.finish();
    let outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|slot| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| Outcome::Failed(Error::Generic("not processed".into())))
        })
        .collect();
    Ok(summarize(batch, outcomes))
}

/// Prints each failure and the counts; returns the exit code (the first failure's, else 0).
fn summarize(batch: &Batch, outcomes: Vec<Outcome>) -> i32 {
    let mut first_code = 0;
    let mut failed = Vec::new();
    let mut done = 0;
    let mut skipped: Vec<(&'static str, usize)> = Vec::new();
    if batch.unmatched > 0 {
        skipped.push(("not matched by a creation rule", batch.unmatched));
    }
    for (t, outcome) in batch.targets.iter().zip(outcomes) {
        match outcome {
            Outcome::Done => done += 1,
            Outcome::Skipped(reason) => {
                if crate::console::verbose() {
                    crate::errln!("kvsops: {}: skipped: {reason}", t.path.display());
                }
                match skipped.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, n)) => *n += 1,
                    None => skipped.push((reason, 1)),
                }
            }
            Outcome::Failed(e) => {
                if first_code == 0 {
                    first_code = e.exit_code();
                }
                crate::errln!("kvsops: {}", Failure { file: Some(t.path.clone()), error: e });
                failed.push(t.path.display().to_string());
            }
        }
    }
    let total_skipped: usize = skipped.iter().map(|(_, n)| n).sum();
    let total = batch.targets.len() + batch.unmatched;
    let mut line = format!("kvsops: {total} files: {done} done, {total_skipped} skipped");
    if total_skipped > 0 {
        let why: Vec<String> = skipped.iter().map(|(r, n)| format!("{n} {r}")).collect();
        line.push_str(&format!(" ({})", why.join(", ")));
    }
    line.push_str(&format!(", {} failed", failed.len()));
    crate::errln!("{line}");
    if !failed.is_empty() {
        crate::errln!("kvsops: {} of {} files failed: {}", failed.len(), batch.targets.len(), failed.join(", "));
    }
    first_code
}

/// The progress line on standard error, drawn only when standard error is a terminal.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    failed: AtomicUsize,
}

impl Progress {
    fn new(len: usize) -> Self {
        let bar = (len >= 2 && std::io::stderr().is_terminal()).then(|| {
            let bar =
                indicatif::ProgressBar::with_draw_target(Some(len as u64), indicatif::ProgressDrawTarget::stderr());
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("kvsops: [{bar:30}] {pos}/{len} files{msg} ({elapsed})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress { bar, failed: AtomicUsize::new(0) }
    }

    fn step(&self, failed: bool) {
        if let Some(bar) = &self.bar {
            if failed {
                let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!(", {n} failed"));
            }
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
