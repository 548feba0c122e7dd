//! `kvsops exec-env` / `kvsops exec-file`: run a command with the decrypted values; the exit code
//! is the command's.

use std::path::Path;

use super::args::{ChangeArgs, GlobalArgs};
use super::{at, Failure};
use crate::error::{Error, Result};

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

/// What both exec commands need before decrypting: the file's bytes, its stores and the keyring.
struct Prepared {
    input: Vec<u8>,
    in_store: Box<dyn crate::stores::Store>,
    out_store: Box<dyn crate::stores::Store>,
    keyring: crate::keys::Keyring,
    options: DecryptOptions,
}

impl Prepared {
    fn new(global: &GlobalArgs, change: &ChangeArgs, user: Option<&str>, file: &Path) -> Result<Self> {
        refuse_user(user)?;
        let cfg = super::load_config(global)?;
        let io = super::edit::io_of(change);
        let settings = super::store_settings(cfg.as_ref(), &io);
        let (in_fmt, out_fmt) = super::formats(Some(file), &io)?;
        Ok(Prepared {
            keyring: super::edit::keyring_of(global, change)?,
            input: super::read_existing(file)?,
            in_store: in_fmt.store(&settings),
            out_store: out_fmt.store(&settings),
            options: DecryptOptions { ignore_mac: change.ignore_mac },
        })
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
        let p = Prepared::new(global, change, user, file)?;
        let d = crate::ops::decrypt::decrypt_file(&p.input, p.in_store.as_ref(), &p.keyring, p.options)?;
        let pairs = crate::ops::exec::env_pairs(&d.documents)?;
        drop(d);
        if opts.same_process && opts.background {
            return Err(Error::Conflict("--same-process cannot be used with --background".into()));
        }
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
        let p = Prepared::new(global, change, user, file)?;
        let plaintext = crate::ops::decrypt::decrypt_bytes(
            &p.input,
            p.in_store.as_ref(),
            p.out_store.as_ref(),
            &p.keyring,
            p.options,
        )?;
        if let Some(n) = &opts.filename {
            if Path::new(n).file_name().is_none() {
                return Err(Error::Conflict(format!("--filename {n:?} is not a file name")));
            }
        }
        #[cfg(not(unix))]
        if !opts.no_fifo {
            return Err(Error::Unsupported("FIFOs need a Unix system; use --no-fifo".into()));
        }
        crate::ops::exec::run_with_file(command, plaintext, opts)
    })();
    result.map_err(at(Some(file)))
}
