//! `kvsops rotate FILE` and the legacy `-r`: a new data key, optionally with keys added/removed.

use std::path::{Path, PathBuf};

use super::args::{ChangeArgs, GlobalArgs, IoArgs, KeyArgs, LegacyArgs, RotateKeyArgs};
use super::{at, Failure};
use crate::error::Result;
use crate::keys::KeySpecGroup;
use crate::ops::rotate::RotateOptions;
use crate::platform::fsio::Sensitivity;

/// The keys of the `--add-*` (`add == true`) or `--rm-*` flags; `context` goes with the KMS keys.
/// A HuaweiCloud KMS key to add is refused (kvsops cannot wrap for it); one to remove is
/// accepted and, as kvsops keeps no such keys, changes nothing.
fn keys_of(r: &RotateKeyArgs, add: bool, context: Option<&str>) -> Result<KeySpecGroup> {
    let pick = |a: &Option<String>, b: &Option<String>| if add { a.clone() } else { b.clone() };
    super::flag_keys(&KeyArgs {
        hckms: if add { r.add_hckms.clone() } else { None },
        encryption_context: context.map(str::to_string),
        age: pick(&r.add_age, &r.rm_age),
        pgp: pick(&r.add_pgp, &r.rm_pgp),
        azure_kv: pick(&r.add_azure_kv, &r.rm_azure_kv),
        kms: pick(&r.add_kms, &r.rm_kms),
        aws_profile: None,
        gcp_kms: pick(&r.add_gcp_kms, &r.rm_gcp_kms),
        hc_vault_transit: pick(&r.add_hc_vault_transit, &r.rm_hc_vault_transit),
    })
}

/// `kvsops -r FILE`.
pub(super) fn legacy(l: &LegacyArgs, file: &Path) -> std::result::Result<i32, Failure> {
    let change = super::edit::legacy_change(l);
    let io = IoArgs {
        in_place: l.io.in_place,
        output: l.io.output.clone(),
        filename_override: l.io.filename_override.clone(),
        ..super::edit::io_of(&change)
    };
    run(&l.global, &l.rotate_keys, l.keys.encryption_context.as_deref(), &change, &io, &[file.to_path_buf()])
}

/// `kvsops rotate FILE...`: several files run concurrently with one keyring, so Key Vault
/// credentials and connections are shared; one failing file does not stop the others.
pub(super) fn run(
    global: &GlobalArgs,
    rotate_keys: &RotateKeyArgs,
    encryption_context: Option<&str>,
    change: &ChangeArgs,
    io: &IoArgs,
    files: &[PathBuf],
) -> std::result::Result<i32, Failure> {
    let context = super::usable_kms_context(encryption_context);
    let add = keys_of(rotate_keys, true, context).map_err(at(None))?;
    let remove = keys_of(rotate_keys, false, context).map_err(at(None))?;
    let changes_keys = !add.is_empty() || !remove.is_empty();
    if changes_keys {
        if let Some(missing) = files.iter().find(|f| !f.exists()) {
            crate::errln!(
                "kvsops: {}: cannot add or remove keys on a file that does not exist; use `kvsops edit` to create it",
                missing.display()
            );
            return Ok(crate::error::exit::CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE);
        }
    }
    let sink = super::sink(io, files).map_err(at(None))?;
    let cfg = super::load_config(global).map_err(at(None))?;
    let settings = super::store_settings(cfg.as_ref(), io);
    let keyring = super::edit::keyring_of(global, change).map_err(at(None))?;
    let batch = super::batch::Batch::expand(files, cfg.as_ref(), io.in_place, "rotate").map_err(at(None))?;
    super::batch::for_each_file(&batch, io.jobs, |path| {
        let file = path.ok_or_else(|| crate::error::Error::Conflict("rotate needs a file".into()))?;
        let (in_fmt, out_fmt) = super::formats(Some(file), io)?;
        let input = super::read_existing(file)?;
        super::check_sink(&sink, Some(file))?;
        let opts = RotateOptions { ignore_mac: change.ignore_mac, add: &add, remove: &remove };
        let out = crate::ops::rotate::rotate(
            &input,
            in_fmt.store(&settings).as_ref(),
            out_fmt.store(&settings).as_ref(),
            &keyring,
            opts,
        )?;
        super::deliver(&sink, Some(file), &out, Sensitivity::Encrypted)
    })
}
