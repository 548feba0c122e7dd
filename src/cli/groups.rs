//! `kvsops groups add` / `kvsops groups delete`: change a file's key groups (stdout, or `-i`).

use std::path::Path;

use super::args::{GroupsCommand, IoArgs, KeyArgs};
use super::{at, Failure};
use crate::error::{Error, Result};
use crate::platform::fsio::{self, Sensitivity};
use crate::stores::Format;

fn joined(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(","))
}

/// Runs a `groups` subcommand.
pub(super) fn run(cmd: &GroupsCommand) -> std::result::Result<i32, Failure> {
    let (global, file, in_place, decryption_order) = match cmd {
        GroupsCommand::Add { global, file, in_place, decryption_order, .. }
        | GroupsCommand::Delete { global, file, in_place, decryption_order, .. } => {
            (global, file, *in_place, decryption_order)
        }
    };
    let result = (|| -> Result<()> {
        let cfg = super::load_config(global)?;
        let settings = super::store_settings(cfg.as_ref(), &IoArgs::default());
        let store = Format::from_path(file).store(&settings);
        let keyring = super::keyring(
            global,
            Some(&super::args::DecryptArgs { decryption_order: decryption_order.clone(), ..Default::default() }),
        )?;
        let input = super::read_existing(file)?;
        if in_place {
            fsio::check_writable(Path::new(file))?;
        }
        let out = match cmd {
            GroupsCommand::Add {
                age,
                pgp,
                azure_kv,
                kms,
                gcp_kms,
                hc_vault_transit,
                hckms,
                encryption_context,
                shamir_threshold,
                ..
            } => {
                let group = super::flag_keys(&KeyArgs {
                    age: joined(age),
                    pgp: joined(pgp),
                    azure_kv: joined(azure_kv),
                    kms: joined(kms),
                    aws_profile: None,
                    gcp_kms: joined(gcp_kms),
                    hc_vault_transit: joined(hc_vault_transit),
                    hckms: joined(hckms),
                    encryption_context: super::usable_kms_context(encryption_context.as_deref()).map(str::to_string),
                })?;
                if group.is_empty() {
                    return Err(Error::Conflict(
                        "the new group has no keys: give --age, --pgp, --azure-kv, ...".into(),
                    ));
                }
                crate::ops::groups::add(&input, store.as_ref(), store.as_ref(), &keyring, group, *shamir_threshold)?
            }
            GroupsCommand::Delete { index, shamir_threshold, .. } => {
                crate::ops::groups::delete(&input, store.as_ref(), store.as_ref(), &keyring, *index, *shamir_threshold)?
            }
        };
        if in_place {
            super::write_verified(file, &out, Sensitivity::Encrypted)
        } else {
            super::deliver(&super::Sink::Stdout, Some(Path::new(file)), &out, Sensitivity::Encrypted)
        }
    })();
    result.map(|_| 0).map_err(at(Some(file)))
}
