//! Encrypting a plaintext file.

use crate::cipher::{Cipher, DataKey};
use crate::error::{Error, Result};
use crate::keys::{KeySpecGroup, Keyring};
use crate::metadata::Metadata;
use crate::rules::CryptRule;
use crate::stores::Store;
use crate::tree::Document;

use super::verify::{self, Fidelity, LeafLog, StreamCheck, Verified};

/// What to encrypt with: the keys and rule of the matching creation rule or of the flags.
#[derive(Clone, Debug, Default)]
pub struct EncryptParams {
    pub key_groups: Vec<KeySpecGroup>,
    pub shamir_threshold: Option<u32>,
    /// `None` means sops's default (`_unencrypted` suffix); the binary store records no rule.
    pub crypt_rule: Option<CryptRule>,
    pub mac_only_encrypted: bool,
}

/// Refuses a plaintext that already carries sops metadata (exit 203), in the store's spelling
/// ([`Store::holds_metadata`]).
pub fn ensure_no_metadata(documents: &[Document], store: &dyn Store) -> Result<()> {
    if documents.iter().any(|doc| store.holds_metadata(&doc.root)) {
        return Err(Error::AlreadyEncrypted);
    }
    Ok(())
}

/// Encrypts `input` (in `in_store`'s format) and writes it in `out_store`'s format. When both are the
/// same format the user's layout is kept and only the encrypted values change. The result has been
/// read back and decrypted ([`super::verify`]).
pub fn encrypt_bytes(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    params: &EncryptParams,
    keyring: &Keyring,
) -> Result<Vec<u8>> {
    encrypt_verified(input, in_store, out_store, params, keyring).map(Verified::into_bytes)
}

/// [`encrypt_bytes`], keeping the proof that the output was read back (what the command line
/// writes).
pub fn encrypt_verified(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    params: &EncryptParams,
    keyring: &Keyring,
) -> Result<Verified> {
    let same_format = in_store.format() == out_store.format();
    let streamed = if same_format { in_store.streamed(input) } else { None };
    // A plaintext the store can rewrite in one pass skips the tree (and its checks: it has no
    // metadata and it parses).
    let stream = streamed.filter(|f| matches!(f.metadata(), Ok(None)));
    let documents = match &stream {
        Some(_) => None,
        None => {
            let documents = in_store.load_plain(input)?;
            ensure_no_metadata(&documents, in_store)?;
            Some(documents)
        }
    };
    let records_rule = in_store.format().records_rule();
    let rule = if records_rule { params.crypt_rule.clone() } else { None };
    let mac_only = params.mac_only_encrypted && records_rule;
    let (mut cipher, mut metadata) = new_data_key(params, rule, mac_only, keyring)?;
    let effective = metadata.effective_rule();
    if let Some(file) = &stream {
        let mut log = LeafLog::new(out_store.format());
        let mut crypto = super::LeafCrypto::new(&effective, mac_only, &mut cipher);
        let rewritten = file.rewrite(&mut |ctx, leaf| {
            let leaf = crypto.encrypt(ctx, leaf)?;
            log.record(ctx, &leaf);
            Ok(leaf)
        })?;
        if let Some(rewritten) = rewritten {
            let mac = crypto.mac();
            super::seal_mac(&mut metadata, &mut cipher, &mac);
            let out = file.finish(rewritten, Some(&metadata))?;
            match verify::streamed_encrypted(out, out_store, &log, &metadata) {
                StreamCheck::Checked(verdict) => return verdict,
                StreamCheck::OnTree(out) => {
                    let plaintext = in_store.load_plain(input)?;
                    let intent = verify_intent(&plaintext, &metadata, &cipher, out_store, false);
                    return verify::encrypted(out, out_store, &intent);
                }
            }
        }
    }
    let mut documents = match documents {
        Some(d) => d,
        None => in_store.load_plain(input)?,
    };
    let mac = super::encrypt_documents(&mut documents, &effective, mac_only, &mut cipher)?;
    super::seal_mac(&mut metadata, &mut cipher, &mac);
    let out = out_store.emit_encrypted(&documents, &metadata, same_format.then_some(input))?;
    // The ENC strings just made, read back the same at the same paths, decrypt to the plaintext
    // they were made from (see `verify::encrypted_as_is`).
    verify::encrypted_as_is(out, out_store, &documents, &metadata, Fidelity::of(out_store.format(), !same_format))
}

/// What an encrypted output must read back to.
fn verify_intent<'a>(
    plaintext: &'a [Document],
    metadata: &'a Metadata,
    cipher: &'a Cipher,
    out_store: &dyn Store,
    converted: bool,
) -> verify::EncryptedIntent<'a> {
    verify::EncryptedIntent {
        plaintext,
        metadata,
        key: cipher.key(),
        fidelity: Fidelity::of(out_store.format(), converted),
    }
}

/// A fresh data key wrapped for every configured key, and the metadata recording it (MAC still
/// to come).
fn new_data_key(
    params: &EncryptParams,
    rule: Option<CryptRule>,
    mac_only: bool,
    keyring: &Keyring,
) -> Result<(Cipher, Metadata)> {
    let key = DataKey::generate();
    let (key_groups, threshold) = super::wrap_data_key(&key, &params.key_groups, params.shamir_threshold, keyring)?;
    Ok((Cipher::new(key), Metadata::new(key_groups, threshold, rule, mac_only)))
}
