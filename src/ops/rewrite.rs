//! What every command that rewrites an encrypted file shares (edit, set, unset, rotate,
//! updatekeys, groups): getting the file's own layout as a plaintext-shaped source, sealing the
//! tree again under its data key, and comparing master keys by identity.
//!
//! Stores splice changed values into a *plaintext* source (see OPS-CONTRACT.md): given the
//! documents read from an encrypted file, `emit_plain(docs, Some(encrypted))` writes the file back
//! without its `sops` blocks and with the layout kept. Reading that text again gives documents whose
//! spans point into it, so the final `emit_encrypted(docs, metadata, Some(text))` changes only the
//! values that changed and appends the new `sops` blocks. This works whether the values are
//! decrypted (edit, set, rotate) or still ENC strings (updatekeys, groups: values untouched).

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::keys::{KeySpec, KeySpecGroup};
use crate::metadata::{Metadata, FORMAT_VERSION};
use crate::stores::Store;
use crate::tree::Document;

use super::verify::{self, Fidelity, Verified};

/// A file's content without its metadata, in the file's own layout, and its documents read back
/// from that text (spans point into `bytes`).
pub struct Layout {
    pub bytes: Vec<u8>,
    pub documents: Vec<Document>,
}

/// Writes `documents` (as loaded from `source` by the same store) without their `sops` blocks and
/// reads them back, so later changes splice into the file's own layout.
pub fn relayout(store: &dyn Store, documents: &[Document], source: &[u8]) -> Result<Layout> {
    let bytes = store.emit_plain(documents, Some(source))?;
    let documents = store.load_plain(&bytes)?;
    Ok(Layout { bytes, documents })
}

/// Encrypts plaintext documents under the cipher's data key with the metadata's rule (IVs of
/// unchanged values are reused, so their ENC strings stay byte-identical), seals a new MAC and
/// `lastmodified`, raises an older `version` to ours, and writes the file, read back and
/// decrypted before it is returned ([`super::verify`]). `source` is the text the documents were
/// read from, when it is in `out_store`'s format.
pub fn seal(
    mut documents: Vec<Document>,
    metadata: &mut Metadata,
    cipher: &mut Cipher,
    out_store: &dyn Store,
    source: Option<&[u8]>,
) -> Result<Verified> {
    super::encrypt::ensure_no_metadata(&documents, out_store).map_err(|_| {
        Error::InvalidValue("a top-level `sops` key (dotenv: `sops_*`) is reserved for the metadata".into())
    })?;
    let settled;
    let mut source = source;
    if let Some(layout) = settle_comments(out_store, &documents, source)? {
        settled = layout.bytes;
        documents = layout.documents;
        source = Some(&settled);
    }
    let rule = metadata.effective_rule();
    let plaintext = documents.clone();
    let mac = super::encrypt_documents(&mut documents, &rule, metadata.mac_only_encrypted, cipher)?;
    super::seal_mac(metadata, cipher, &mac);
    raise_version(metadata);
    let out = out_store.emit_encrypted(&documents, metadata, source)?;
    drop(documents);
    let intent = verify::EncryptedIntent {
        plaintext: &plaintext,
        metadata,
        key: cipher.key(),
        fidelity: Fidelity::of(out_store.format(), source.is_none()),
    };
    verify::encrypted(out, out_store, &intent)
}

/// A YAML document that changed shape (a key added or removed) is written fresh, and where a
/// comment lands then is for the reader to say: go-yaml gives a comment line after a nested block
/// to that block when a less indented key follows it, so `a:\n  b:\n    c: 1\n  # X` with a key
/// added after it reads back with `# X` under `b`. An encrypted comment's AAD is the path of the
/// mapping that holds it, so it must be encrypted where it will be read: the plaintext is written
/// and read back first, and, when that moved only comments, the documents as read back (and that
/// text, to splice into) are what gets encrypted. `None` when nothing moved.
fn settle_comments(store: &dyn Store, documents: &[Document], source: Option<&[u8]>) -> Result<Option<Layout>> {
    if store.format() != crate::stores::Format::Yaml {
        return Ok(None);
    }
    let bytes = store.emit_plain(documents, source)?;
    let Ok(read) = store.load_plain(&bytes) else { return Ok(None) };
    let same_placement = verify::compare_documents(&read, documents, Fidelity::EXACT).is_ok();
    let same_data = verify::compare_documents(&read, documents, Fidelity::of(store.format(), true)).is_ok();
    Ok((same_data && !same_placement).then_some(Layout { bytes, documents: read }))
}

/// Writes documents whose values are still encrypted with changed metadata (keys only): values,
/// MAC and `lastmodified` stay as they are. The output is read back before it is returned.
pub fn emit_with_metadata(
    in_store: &dyn Store,
    out_store: &dyn Store,
    documents: &[Document],
    metadata: &Metadata,
    input: &[u8],
) -> Result<Verified> {
    let same_format = in_store.format() == out_store.format();
    let out = if same_format {
        let layout = relayout(in_store, documents, input)?;
        out_store.emit_encrypted(&layout.documents, metadata, Some(&layout.bytes))?
    } else {
        out_store.emit_encrypted(documents, metadata, None)?
    };
    verify::encrypted_as_is(out, out_store, documents, metadata, Fidelity::of(out_store.format(), !same_format))
}

/// Sets `version` to ours when the file's is older (or unreadable), as sops's edit does.
pub fn raise_version(metadata: &mut Metadata) {
    let ours = parse_version(FORMAT_VERSION);
    match parse_version(&metadata.version) {
        Some(theirs) if theirs >= ours.unwrap_or_default() => {}
        _ => metadata.version = FORMAT_VERSION.to_string(),
    }
}

/// `major.minor.patch` of a semver string (a pre-release sorts below its release).
fn parse_version(v: &str) -> Option<(u64, u64, u64, bool)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split('+').next()?;
    let (core, release) = match core.split_once('-') {
        Some((c, _)) => (c, false),
        None => (core, true),
    };
    let mut it = core.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((major, minor, patch, release))
}

/// The configured identities of a file's key groups (for re-wrapping).
pub fn spec_groups(metadata: &Metadata) -> Vec<KeySpecGroup> {
    metadata.key_groups.iter().map(|g| g.iter().map(|e| e.spec()).collect()).collect()
}

/// The identity of a key as sops prints it (`ToString`): recipient, fingerprint, key URL, ARN.
pub fn key_id(spec: &KeySpec) -> String {
    match spec {
        KeySpec::Age(r) => r.clone(),
        KeySpec::Pgp(fp) => fp.clone(),
        KeySpec::AzureKv { vault_url, name, version } => {
            let base = format!("{}/keys/{}", vault_url.trim_end_matches('/'), name);
            match version {
                Some(v) if !v.is_empty() => format!("{base}/{v}"),
                _ => base,
            }
        }
        KeySpec::Kms { arn, .. } => arn.clone(),
        KeySpec::GcpKms { resource_id } => resource_id.clone(),
        KeySpec::HcVault { uri } => uri.clone(),
    }
}

/// True when `wanted` (from a rule or a flag) names the same key as `have` (from a file). An Azure
/// key named without a version matches every version of it, since the version is resolved when
/// wrapping.
pub fn same_key(wanted: &KeySpec, have: &KeySpec) -> bool {
    match (wanted, have) {
        (
            KeySpec::AzureKv { vault_url: u1, name: n1, version: v1 },
            KeySpec::AzureKv { vault_url: u2, name: n2, version: v2 },
        ) => {
            u1.trim_end_matches('/').eq_ignore_ascii_case(u2.trim_end_matches('/'))
                && n1 == n2
                && (v1.as_deref().unwrap_or("").is_empty() || v1 == v2)
        }
        (KeySpec::Pgp(a), KeySpec::Pgp(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a.kind() == b.kind() && key_id(a) == key_id(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_raised_only_when_older() {
        let mut md = crate::metadata::Metadata::new(vec![], None, None, false);
        for (have, want) in [
            ("3.7.3", FORMAT_VERSION),
            ("3.11.0-rc1", FORMAT_VERSION),
            ("garbage", FORMAT_VERSION),
            ("3.11.0", "3.11.0"),
            ("3.13.2", "3.13.2"),
            ("4.0.0", "4.0.0"),
        ] {
            md.version = have.to_string();
            raise_version(&mut md);
            assert_eq!(md.version, want, "from {have}");
        }
    }

    #[test]
    fn keys_compare_by_identity() {
        let az = |v: Option<&str>| KeySpec::AzureKv {
            vault_url: "https://v.vault.azure.net".into(),
            name: "k".into(),
            version: v.map(str::to_string),
        };
        assert!(same_key(&az(None), &az(Some("abc"))));
        assert!(same_key(&az(Some("abc")), &az(Some("abc"))));
        assert!(!same_key(&az(Some("def")), &az(Some("abc"))));
        assert!(same_key(&KeySpec::Pgp("abcd".into()), &KeySpec::Pgp("ABCD".into())));
        assert!(!same_key(&KeySpec::Age("age1x".into()), &KeySpec::Age("age1y".into())));
        assert_eq!(key_id(&az(Some("abc"))), "https://v.vault.azure.net/keys/k/abc");
    }
}
