//! `kvsops diff-textconv` and `kvsops merge-driver`: clear-text diffs and value-level merges of
//! encrypted files inside git.
//!
//! The textconv never fails a diff: whatever cannot be decrypted (no key, not a sops file, another
//! format) is printed as it is. The merge driver exits non-zero on a conflict, leaving `%A` as
//! ours, which git records as a conflicted path; files that are not encrypted on either side are
//! handed to `git merge-file` so the attribute can cover plain files too.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::ops::decrypt::{decrypt_bytes, DecryptOptions};
use crate::ops::merge::{is_sops_file, merge_encrypted, MergeOutcome};
use crate::platform::fsio::{self, Sensitivity};
use crate::stores::Format;

use super::args::{GlobalArgs, IoArgs};
use super::{at, keyring, load_config, parse_format, store_settings, Failure};

/// Prints `file` decrypted, or unchanged when it cannot be decrypted. Always exits 0 once the file
/// is read, so `git diff` keeps working without keys.
pub fn textconv_cmd(global: &GlobalArgs, input_type: Option<&str>, file: &Path) -> std::result::Result<i32, Failure> {
    let input = fsio::read_file(file).map_err(at(Some(file)))?;
    let decrypted = (|| -> Result<Vec<u8>> {
        let cfg = load_config(global).ok().flatten();
        let settings = store_settings(cfg.as_ref(), &IoArgs::default());
        let format = match input_type {
            Some(t) => parse_format(t)?,
            None => Format::from_path(file),
        };
        let store = format.store(&settings);
        let keyring = keyring(global, None)?;
        decrypt_bytes(&input, store.as_ref(), store.as_ref(), &keyring, DecryptOptions::default())
    })();
    let out = match &decrypted {
        Ok(plain) => plain.as_slice(),
        Err(e) => {
            if global.verbose {
                crate::errln!("kvsops diff-textconv: {}: shown as is: {e}", file.display());
            }
            input.as_slice()
        }
    };
    super::print(out).map_err(at(None))?;
    Ok(0)
}

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

    let ours_enc = is_sops_file(store.as_ref(), &ours_bytes);
    let theirs_enc = is_sops_file(store.as_ref(), &theirs_bytes);
    if !ours_enc && !theirs_enc {
        return line_merge(base, ours, theirs, name);
    }
    if ours_enc != theirs_enc {
        crate::errln!(
            "kvsops merge-driver: {}: conflict: only {} side is encrypted; merge by hand",
            name.display(),
            if ours_enc { "our" } else { "their" }
        );
        return Ok(1);
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

/// Plain files: git's own three-way line merge, conflict markers and all.
fn line_merge(base: &Path, ours: &Path, theirs: &Path, name: &Path) -> std::result::Result<i32, Failure> {
    let label = name.to_string_lossy();
    let status = Command::new("git")
        .arg("merge-file")
        .args(["-L", &format!("{label} (ours)"), "-L", &format!("{label} (base)"), "-L", &format!("{label} (theirs)")])
        .arg(ours)
        .arg(base)
        .arg(theirs)
        .status()
        .map_err(|e| Failure {
            file: Some(name.to_path_buf()),
            error: Error::Generic(format!("cannot run git merge-file: {e}")),
        })?;
    Ok(if status.success() { 0 } else { 1 })
}
