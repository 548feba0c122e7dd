//! `kvsops edit FILE` and the legacy `kvsops FILE`: runs [`crate::ops::edit`] with the user's
//! editor (`$SOPS_EDITOR`, `$EDITOR`, else vim/nano/vi) and writes the result in place.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::args::{ChangeArgs, GlobalArgs, KeyArgs, LegacyArgs, RuleArgs};
use super::{at, Failure};
use crate::error::{Error, Result};
use crate::ops::edit::{EditOptions, EditorUi, Start};
use crate::platform::fsio::{self, Sensitivity};

/// The change flags of the legacy form.
pub(super) fn legacy_change(l: &LegacyArgs) -> ChangeArgs {
    ChangeArgs {
        input_type: l.io.input_type.clone(),
        output_type: l.io.output_type.clone(),
        ignore_mac: l.dec.ignore_mac,
        decryption_order: l.dec.decryption_order.clone(),
    }
}

/// The IoArgs equivalent of the change flags (for the shared format helpers).
pub(super) fn io_of(change: &ChangeArgs) -> super::args::IoArgs {
    super::args::IoArgs {
        input_type: change.input_type.clone(),
        output_type: change.output_type.clone(),
        ..Default::default()
    }
}

/// The keyring with the change flags' decryption order.
pub(super) fn keyring_of(global: &super::args::GlobalArgs, change: &ChangeArgs) -> Result<crate::keys::Keyring> {
    super::keyring(
        global,
        Some(&super::args::DecryptArgs { decryption_order: change.decryption_order.clone(), ..Default::default() }),
    )
}

/// `kvsops FILE` (no mode flag).
pub(super) fn legacy(l: &LegacyArgs, file: &Path) -> std::result::Result<i32, Failure> {
    run(&l.global, &l.keys, &l.rules, &legacy_change(l), l.show_master_keys, file)
}

/// `kvsops edit`.
pub(super) fn run(
    global: &GlobalArgs,
    keys: &KeyArgs,
    rules: &RuleArgs,
    change: &ChangeArgs,
    show_master_keys: bool,
    file: &Path,
) -> std::result::Result<i32, Failure> {
    let result = (|| -> Result<crate::ops::verify::Verified> {
        let cfg = super::load_config(global)?;
        let io = io_of(change);
        let settings = super::store_settings(cfg.as_ref(), &io);
        let (in_fmt, out_fmt) = super::formats(Some(file), &io)?;
        let (in_store, out_store) = (in_fmt.store(&settings), out_fmt.store(&settings));
        let keyring = keyring_of(global, change)?;
        let opts = EditOptions { ignore_mac: change.ignore_mac, show_master_keys };
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
        let mut ui = SystemEditor;
        fsio::check_writable(file)?;
        if file.exists() {
            let input = fsio::read_file(file)?;
            crate::ops::edit::edit(
                &name,
                Start::Existing(&input),
                in_store.as_ref(),
                out_store.as_ref(),
                &keyring,
                opts,
                &mut ui,
            )
        } else {
            let params = super::encrypt_params(cfg.as_ref(), Some(file), keys, rules).map_err(|e| match e {
                // sops's edit reports a key it cannot wrap a new data key for as a data-key
                // failure (128), where encrypt says exit 1.
                Error::Unsupported(m) if keys.hckms.is_some() => Error::DataKey(m),
                e => e,
            })?;
            crate::ops::edit::edit(
                &name,
                Start::New(&params),
                in_store.as_ref(),
                out_store.as_ref(),
                &keyring,
                opts,
                &mut ui,
            )
        }
    })();
    match result {
        Ok(out) => {
            super::write_verified(file, &out, Sensitivity::Encrypted).map_err(at(Some(file)))?;
            Ok(0)
        }
        Err(Error::NotModified) => {
            crate::errln!("File has not changed, exiting.");
            Ok(crate::error::exit::FILE_HAS_NOT_BEEN_MODIFIED)
        }
        Err(e) => Err(at(Some(file))(e)),
    }
}

/// The user's editor on the terminal.
struct SystemEditor;

impl EditorUi for SystemEditor {
    fn edit(&mut self, path: &Path) -> Result<()> {
        let (program, args) = editor_command()?;
        let mut child = Command::new(&program)
            .args(&args)
            .arg(path)
            .spawn()
            .map_err(|source| Error::EditorRun { program: program.clone(), source })?;
        let status = {
            let _tracked = crate::platform::signals::track_child(child.id());
            child.wait().map_err(|source| Error::EditorRun { program: program.clone(), source })?
        };
        if !status.success() {
            return Err(Error::Editor(format!("{} {status}; nothing was written", program.display())));
        }
        Ok(())
    }

    fn reopen(&mut self, problem: &str) -> Result<bool> {
        crate::errln!("kvsops: the edited file cannot be used: {problem}");
        crate::errln!("Press Enter to return to the editor, or Ctrl+C to exit without saving.");
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(n) if n > 0 => Ok(true),
            _ => {
                crate::errln!("kvsops: no answer (standard input is closed); nothing was written");
                Ok(false)
            }
        }
    }
}

/// `$SOPS_EDITOR` or `$EDITOR` split like a shell would, else the first of vim, nano, vi on PATH.
fn editor_command() -> Result<(PathBuf, Vec<String>)> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else { continue };
        let value = value.to_string_lossy().into_owned();
        let mut parts = shlex::split(&value)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::Editor(format!("${var} cannot be split into a command (check its quotes)")))?;
        let program = PathBuf::from(parts.remove(0));
        return Ok((program, parts));
    }
    for name in ["vim", "nano", "vi"] {
        if let Some(p) = find_in_path(name) {
            return Ok((p, Vec::new()));
        }
    }
    Err(Error::NoEditor)
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}
