//! `kvsops merge-driver`: the command-line side of the git merge driver (reading `%O %A %B`,
//! reporting conflicts, writing `%A`); the merge itself is [`crate::ops::merge`].
//!
//! The driver exits non-zero on a conflict, leaving `%A` as ours, which git records as a
//! conflicted path; files that are not encrypted on either side are handed to `git merge-file` so
//! the attribute can cover plain files too.

use std::path::Path;

use crate::error::Error;
use crate::ops::merge::{merge_encrypted, merge_kind, MergeKind, MergeOutcome};
use crate::platform::fsio::{self, Sensitivity};
use crate::platform::git;
use crate::stores::Format;

use super::args::{GlobalArgs, IoArgs};
use super::{at, keyring, load_config, store_settings, Failure};

/// The merge driver: `kvsops merge-driver %O %A %B %P`. Writes the merge into `ours` (atomically)
/// and exits 0, or leaves `ours` untouched and exits 1 naming the conflicting key paths.
pub fn merge_driver_cmd(
    global: &GlobalArgs,
    base: &Path,
    ours: &Path,
    theirs: &Path,
    path: Option<&Path>,
) -> std::result::Result<i32, Failure> {
    let name = path.unwrap_or(ours);
    let cfg = load_config(global).map_err(at(Some(name)))?;
    let settings = store_settings(cfg.as_ref(), &IoArgs::default());
    let store = Format::from_path(name).store(&settings);
    let base_bytes = match std::fs::read(base) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Failure { file: Some(base.to_path_buf()), error: Error::io(base, e) }),
    };
    let ours_bytes = fsio::read_file(ours).map_err(at(Some(ours)))?;
    let theirs_bytes = fsio::read_file(theirs).map_err(at(Some(theirs)))?;

    match merge_kind(store.as_ref(), &ours_bytes, &theirs_bytes) {
        MergeKind::Lines => {
            let clean = git::merge_file(base, ours, theirs, &name.to_string_lossy()).map_err(at(Some(name)))?;
            return Ok(if clean { 0 } else { 1 });
        }
        MergeKind::OneSideEncrypted { ours } => {
            crate::errln!(
                "kvsops merge-driver: {}: conflict: only {} side is encrypted; merge by hand",
                name.display(),
                if ours { "our" } else { "their" }
            );
            return Ok(1);
        }
        MergeKind::Values => {}
    }
    let keyring = keyring(global, None).map_err(at(Some(name)))?;
    let report =
        merge_encrypted(&base_bytes, &ours_bytes, &theirs_bytes, store.as_ref(), &keyring).map_err(at(Some(name)))?;
    for note in &report.notes {
        crate::errln!("kvsops merge-driver: {}: note: {note}", name.display());
    }
    match report.outcome {
        MergeOutcome::Merged(None) => Ok(0),
        MergeOutcome::Merged(Some(bytes)) => {
            super::write_verified(ours, &bytes, Sensitivity::Encrypted).map_err(at(Some(name)))?;
            Ok(0)
        }
        MergeOutcome::Conflicts(conflicts) => {
            for c in &conflicts {
                crate::errln!("kvsops merge-driver: {}: conflict at {c}", name.display());
            }
            crate::errln!(
                "kvsops merge-driver: {}: left as our version; edit it with `kvsops edit` (or take a side with `git checkout --ours/--theirs`) and `git add` it",
                name.display()
            );
            Ok(1)
        }
    }
}
