//! Decrypting an encrypted file.

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::keys::Keyring;
use crate::metadata::Metadata;
use crate::stores::Store;
use crate::tree::{Document, Node, Scalar, Value};

use super::verify::{self, Fidelity, LeafLog, StreamCheck, Verified};

/// A decrypted file: its plaintext documents, its metadata, and the cipher that holds its data key
/// and the IVs of every value (so re-encrypting unchanged values reproduces their ENC strings).
pub struct Decrypted {
    pub documents: Vec<Document>,
    pub metadata: Metadata,
    pub cipher: Cipher,
}

/// Options of a decryption.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecryptOptions {
    /// Skip the MAC check (`--ignore-mac`).
    pub ignore_mac: bool,
}

/// Loads and decrypts an encrypted file, checking its MAC unless told not to.
pub fn decrypt_file(input: &[u8], store: &dyn Store, keyring: &Keyring, opts: DecryptOptions) -> Result<Decrypted> {
    decrypt_file_with(input, store, keyring, opts, true)
}

fn decrypt_file_with(
    input: &[u8],
    store: &dyn Store,
    keyring: &Keyring,
    opts: DecryptOptions,
    remember_ivs: bool,
) -> Result<Decrypted> {
    let file = store.load_encrypted(input).map_err(Error::in_encrypted_file)?;
    let mut documents = file.documents;
    let metadata = file.metadata;
    let key = super::get_data_key(&metadata, keyring)?;
    let mut cipher = if remember_ivs { Cipher::new(key) } else { Cipher::without_iv_reuse(key) };
    let computed = super::decrypt_documents(&mut documents, &metadata, &mut cipher)?;
    if !opts.ignore_mac {
        super::verify_mac(&metadata, &mut cipher, &computed)?;
    }
    Ok(Decrypted { documents, metadata, cipher })
}

/// Decrypts `input` and writes it in `out_store`'s format (the layout is kept when the formats
/// match). The result has been read back to the decrypted tree ([`super::verify`]).
pub fn decrypt_bytes(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    opts: DecryptOptions,
) -> Result<Vec<u8>> {
    decrypt_verified(input, in_store, out_store, keyring, opts).map(Verified::into_bytes)
}

/// [`decrypt_bytes`], keeping the proof that the output was read back (what the command line
/// writes).
pub fn decrypt_verified(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    opts: DecryptOptions,
) -> Result<Verified> {
    let same_format = in_store.format() == out_store.format();
    if same_format {
        if let Some(out) = decrypt_streamed(input, in_store, keyring, opts) {
            return out;
        }
    }
    let d = decrypt_file_with(input, in_store, keyring, opts, false)?;
    let out = out_store.emit_plain(&d.documents, same_format.then_some(input))?;
    verify::plaintext(out, out_store, &d.documents, Fidelity::of(out_store.format(), !same_format))
}

/// The one-pass fast path of [`decrypt_bytes`] (see [`crate::stores::Streamed`]), `None` when the
/// store does not offer it for this file. Same checks, same errors, same output as the tree path.
fn decrypt_streamed(
    input: &[u8],
    store: &dyn Store,
    keyring: &Keyring,
    opts: DecryptOptions,
) -> Option<Result<Verified>> {
    let file = store.streamed(input)?;
    let Ok(Some(meta)) = file.metadata() else { return None };
    let attempt = || -> Result<Option<Verified>> {
        let metadata = Metadata::from_mapping(&meta)?;
        let key = super::get_data_key(&metadata, keyring)?;
        let mut cipher = Cipher::without_iv_reuse(key);
        let rule = metadata.effective_rule();
        let mut log = LeafLog::new(store.format());
        let mut crypto = super::LeafCrypto::new(&rule, metadata.mac_only_encrypted, &mut cipher);
        let Some(rewritten) = file
            .rewrite(&mut |ctx, leaf| {
                let plain = crypto.decrypt(ctx, leaf)?;
                log.record(ctx, &plain);
                Ok(plain)
            })
            .map_err(Error::in_encrypted_file)?
        else {
            return Ok(None);
        };
        let mac = crypto.mac();
        if !opts.ignore_mac {
            super::verify_mac(&metadata, &mut cipher, &mac)?;
        }
        let out = file.finish(rewritten, None)?;
        match verify::streamed_plaintext(out, store, &log) {
            StreamCheck::Checked(verdict) => verdict.map(Some),
            StreamCheck::OnTree(out) => {
                // The one-pass reader does not take its own output: check it on the tree,
                // decrypting the input again with the key in hand.
                let file = store.load_encrypted(input)?;
                let mut documents = file.documents;
                super::decrypt_documents(&mut documents, &file.metadata, &mut cipher)?;
                verify::plaintext(out, store, &documents, Fidelity::of(store.format(), false)).map(Some)
            }
        }
    };
    attempt().transpose()
}

/// `--extract`: one value of the first document. A string prints raw (no newline), a subtree in the
/// output format, another scalar as its text.
pub fn extract(documents: &[Document], path: &[super::treepath::Step], out_store: &dyn Store) -> Result<Verified> {
    let doc = documents.first().ok_or(Error::NoDocuments)?;
    let node = super::treepath::get(&doc.root, path)?;
    match node {
        Node::Scalar(Scalar { value: Value::Str(s), .. }) => Ok(Verified::raw_value(s.clone().into_bytes())),
        Node::Scalar(Scalar { value: Value::Bytes(b), .. }) => Ok(Verified::raw_value(b.clone())),
        Node::Scalar(Scalar { value, .. }) => {
            let mut text = match value {
                Value::Null => "null".to_string(),
                Value::Bool(b) => b.to_string(),
                other => String::from_utf8_lossy(&crate::cipher::value_bytes(other)).into_owned(),
            };
            if out_store.value_ends_with_newline() {
                text.push('\n');
            }
            Ok(Verified::raw_value(text.into_bytes()))
        }
        other => {
            // A subtree is written as a document of the output format: it must read back as
            // that document (a mapping as itself, anything else under `value`). sops writes a
            // mapping as a whole plain file and anything else with the store's EmitValue.
            let out = match other {
                Node::Map(m) => out_store.emit_plain(&[Document::new(m.clone())], None)?,
                other => out_store.emit_value(other)?,
            };
            let root = match other {
                Node::Map(m) => m.clone(),
                other => {
                    let mut m = crate::tree::Mapping::new();
                    m.push("value", other.clone());
                    m
                }
            };
            let fidelity = Fidelity::of(out_store.format(), true);
            // A bare value (not a document of the format) is read back wrapped as one.
            match out_store.value_as_document(other, &out) {
                Some(wrapped) => {
                    verify::plaintext(wrapped, out_store, &[Document::new(root)], fidelity)?;
                    Ok(verify::Verified::raw_value(out))
                }
                None => verify::plaintext(out, out_store, &[Document::new(root)], fidelity),
            }
        }
    }
}
