//! `kvsops exec-env` / `kvsops exec-file`: run a command with the decrypted values; the exit code
//! is the command's.

use std::path::Path;

use super::args::{ChangeArgs, GlobalArgs};
use super::{at, Failure};
use crate::error::{Error, Result};
use crate::fsio;
use crate::ops::decrypt::DecryptOptions;
use crate::ops::exec::{EnvOptions, FileOptions};

fn refuse_user(user: Option<&str>) -> Result<()> {
    match user {
        Some(_) => Err(Error::Unsupported(
            "--user is not supported by kvsops (it would need root to switch users); run kvsops as that user instead, e.g. with sudo -u".into(),
        )),
        None => Ok(()),
    }
}

/// `kvsops exec-env`.
pub(super) fn run_env(
    global: &GlobalArgs,
    change: &ChangeArgs,
    user: Option<&str>,
    opts: EnvOptions,
    file: &Path,
    command: &str,
) -> std::result::Result<i32, Failure> {
    let result = (|| -> Result<i32> {
        refuse_user(user)?;
        let cfg = super::load_config(global)?;
        let io = super::edit::io_of(change);
        let settings = super::store_settings(cfg.as_ref(), &io);
        let (in_fmt, _) = super::formats(Some(file), &io)?;
        let keyring = super::edit::keyring_of(change)?;
        let input = fsio::read_file(file)?;
        let d = crate::ops::decrypt::decrypt_file(
            &input,
            in_fmt.store(&settings).as_ref(),
            &keyring,
            DecryptOptions { ignore_mac: change.ignore_mac },
        )?;
        let pairs = crate::ops::exec::env_pairs(&d.documents)?;
        drop(d);
        crate::ops::exec::run_with_env(command, &pairs, opts)
    })();
    result.map_err(at(Some(file)))
}

/// `kvsops exec-file`.
pub(super) fn run_file(
    global: &GlobalArgs,
    change: &ChangeArgs,
    user: Option<&str>,
    opts: &FileOptions,
    file: &Path,
    command: &str,
) -> std::result::Result<i32, Failure> {
    let result = (|| -> Result<i32> {
        refuse_user(user)?;
        let cfg = super::load_config(global)?;
        let io = super::edit::io_of(change);
        let settings = super::store_settings(cfg.as_ref(), &io);
        let (in_fmt, out_fmt) = super::formats(Some(file), &io)?;
        let keyring = super::edit::keyring_of(change)?;
        let input = fsio::read_file(file)?;
        let plaintext = crate::ops::decrypt::decrypt_bytes(
            &input,
            in_fmt.store(&settings).as_ref(),
            out_fmt.store(&settings).as_ref(),
            &keyring,
            DecryptOptions { ignore_mac: change.ignore_mac },
        )?;
        crate::ops::exec::run_with_file(command, plaintext, opts)
    })();
    result.map_err(at(Some(file)))
}
