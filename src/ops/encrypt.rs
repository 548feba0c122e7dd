//! Encrypting a plaintext file.

use crate::cipher::{Cipher, DataKey};
use crate::error::{Error, Result};
use crate::keys::{KeySpecGroup, Keyring};
use crate::metadata::{has_sops_key, Metadata};
use crate::rules::CryptRule;
use crate::stores::{Format, Store};
use crate::tree::{Document, MapItem};

/// What to encrypt with: the keys and rule of the matching creation rule or of the flags.
#[derive(Clone, Debug, Default)]
pub struct EncryptParams {
    pub key_groups: Vec<KeySpecGroup>,
    pub shamir_threshold: Option<u32>,
    /// `None` means sops's default (`_unencrypted` suffix); the binary store records no rule.
    pub crypt_rule: Option<CryptRule>,
    pub mac_only_encrypted: bool,
}

/// Refuses a plaintext that already carries sops metadata (exit 203), in each format's spelling:
/// a top-level `sops` key (YAML/JSON), `sops_*` keys (dotenv), a `[sops]` section (INI).
pub fn ensure_no_metadata(documents: &[Document], format: Format) -> Result<()> {
    for doc in documents {
        if has_sops_key(&doc.root) {
            return Err(Error::AlreadyEncrypted);
        }
        if format == Format::Dotenv {
            let found = doc.root.items.iter().any(|i| matches!(i, MapItem::Entry(e) if e.key.starts_with("sops_")));
            if found {
                return Err(Error::AlreadyEncrypted);
            }
        }
    }
    Ok(())
}

/// Encrypts `input` (in `in_store`'s format) and writes it in `out_store`'s format. When both are the
/// same format the user's layout is kept and only the encrypted values change.
pub fn encrypt_bytes(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    params: &EncryptParams,
    keyring: &Keyring,
) -> Result<Vec<u8>> {
    let mut documents = in_store.load_plain(input)?;
    ensure_no_metadata(&documents, in_store.format())?;
    let binary = in_store.format() == Format::Binary;
    let rule = if binary { None } else { params.crypt_rule.clone() };
    let effective = crate::rules::effective(rule.as_ref());
    let mac_only = params.mac_only_encrypted && !binary;

    let key = DataKey::generate();
    let (key_groups, threshold) = super::wrap_data_key(&key, &params.key_groups, params.shamir_threshold, keyring)?;
    let mut cipher = Cipher::new(key);
    let mac = super::encrypt_documents(&mut documents, &effective, mac_only, &mut cipher)?;
    let mut metadata = Metadata::new(key_groups, threshold, rule, mac_only);
    super::seal_mac(&mut metadata, &mut cipher, &mac);
    let source = (in_store.format() == out_store.format()).then_some(input);
    out_store.emit_encrypted(&documents, &metadata, source)
}
