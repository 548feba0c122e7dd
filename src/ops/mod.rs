//! What the commands do, independent of the command line: encrypting and decrypting trees,
//! getting a file's data key from its master keys, and the file-level operations built on them.
//!
//! Every operation works on bytes in and bytes out; writing files (atomically) is the caller's
//! job, so a failure anywhere leaves the input untouched.

pub mod check;
pub mod decrypt;
pub mod doctor;
pub mod edit;
pub mod encrypt;
pub mod exec;
pub mod groups;
pub mod listing;
pub mod merge;
pub mod rewrite;
pub mod rotate;
pub mod set;
#[cfg(test)]
pub(crate) mod testkit;
pub mod treepath;
pub mod updatekeys;
pub mod verify;

use zeroize::Zeroizing;

use crate::cipher::{is_encrypted, Cipher, DataKey};
use crate::error::{Error, Result};
use crate::keys::{KeyGroup, KeySpecGroup, Keyring};
use crate::mac::{self, MacHasher};
use crate::metadata::Metadata;
use crate::rules::CryptRule;
use crate::tree::{walk_leaves, Document, Leaf, LeafCtx, Scalar, Value};

/// Encrypts every leaf the rule selects, in place, and returns the MAC over the plaintext (sops's
/// `Tree.Encrypt`). Source positions are kept on the new ENC leaves so stores can splice them.
pub fn encrypt_documents(
    documents: &mut [Document],
    rule: &CryptRule,
    mac_only_encrypted: bool,
    cipher: &mut Cipher,
) -> Result<String> {
    let mut crypto = LeafCrypto::new(rule, mac_only_encrypted, cipher);
    for doc in documents.iter_mut() {
        walk_leaves::<Error, _>(&mut doc.root, &mut |ctx, leaf| crypto.encrypt(ctx, leaf))?;
    }
    Ok(crypto.mac())
}

/// Decrypts every leaf the rule selects, in place, and returns the MAC over the plaintext (sops's
/// `Tree.Decrypt`). A value that should be encrypted but is not is an error naming its path.
pub fn decrypt_documents(documents: &mut [Document], metadata: &Metadata, cipher: &mut Cipher) -> Result<String> {
    let rule = metadata.effective_rule();
    let mut crypto = LeafCrypto::new(&rule, metadata.mac_only_encrypted, cipher);
    for doc in documents.iter_mut() {
        walk_leaves::<Error, _>(&mut doc.root, &mut |ctx, leaf| crypto.decrypt(ctx, leaf))?;
    }
    Ok(crypto.mac())
}

/// What encrypting or decrypting the leaves of one file takes: its rule, its cipher and the MAC
/// being computed. The tree walks and the stores' one-pass rewrites ([`crate::stores::Streamed`])
/// share it, so both decide and hash every leaf the same way.
pub(crate) struct LeafCrypto<'a> {
    rule: &'a CryptRule,
    hasher: MacHasher,
    cipher: &'a mut Cipher,
}

impl<'a> LeafCrypto<'a> {
    /// Starts a file's walk.
    pub(crate) fn new(rule: &'a CryptRule, mac_only_encrypted: bool, cipher: &'a mut Cipher) -> Self {
        LeafCrypto { rule, hasher: MacHasher::new(mac_only_encrypted), cipher }
    }

    /// Encrypts one leaf if the rule selects it, and adds its plaintext to the MAC.
    pub(crate) fn encrypt(&mut self, ctx: &LeafCtx<'_>, leaf: Leaf) -> Result<Leaf> {
        let encrypted = self.rule.should_encrypt(ctx.path, ctx.comments, ctx.is_comment);
        self.hasher.add(&leaf, encrypted);
        if !encrypted {
            return Ok(leaf);
        }
        let aad = ctx.aad();
        let enc = self.cipher.encrypt_leaf(&leaf, &aad);
        Ok(match leaf {
            Leaf::Comment(c) => {
                if self.rule.encrypted_comment_conflicts(&enc) {
                    return Err(Error::EncryptValue {
                        path: aad,
                        reason: "an encrypted comment matches unencrypted_comment_regex; choose a regex that cannot match ENC[...]".into(),
                    });
                }
                Leaf::Comment(crate::tree::Comment { text: enc, src: c.src })
            }
            Leaf::Scalar(s) => Leaf::Scalar(Scalar { value: Value::Str(enc), src: s.src }),
        })
    }

    /// Decrypts one leaf if the rule says it is encrypted, and adds its plaintext to the MAC.
    pub(crate) fn decrypt(&mut self, ctx: &LeafCtx<'_>, leaf: Leaf) -> Result<Leaf> {
        let encrypted = self.rule.should_encrypt(ctx.path, ctx.comments, ctx.is_comment);
        let out = if !encrypted {
            leaf
        } else {
            let aad = ctx.aad();
            match leaf {
                Leaf::Comment(c) => match self.cipher.decrypt_str(&c.text, &aad) {
                    Ok(Leaf::Comment(d)) => Leaf::Comment(crate::tree::Comment { text: d.text, src: c.src }),
                    // A comment that does not decrypt was never encrypted (older sops): keep it.
                    _ => Leaf::Comment(c),
                },
                Leaf::Scalar(Scalar { value: Value::Str(s), src }) => {
                    let decrypted = self
                        .cipher
                        .decrypt_str(&s, &aad)
                        .map_err(|e| Error::DecryptValue { path: display_path(ctx.path), reason: e.to_string() })?;
                    match decrypted {
                        Leaf::Scalar(d) => Leaf::Scalar(Scalar { value: d.value, src }),
                        Leaf::Comment(d) => Leaf::Comment(crate::tree::Comment { text: d.text, src }),
                    }
                }
                Leaf::Scalar(other) => {
                    return Err(Error::DecryptValue {
                        path: display_path(ctx.path),
                        reason: format!(
                            "a plain {} value where the file's rule expects an encrypted one",
                            other.value.type_name()
                        ),
                    })
                }
            }
        };
        self.hasher.add(&out, encrypted);
        Ok(out)
    }

    /// The MAC over the leaves walked, as sops prints it.
    pub(crate) fn mac(self) -> String {
        self.hasher.finish()
    }
}

/// A key path for messages: `data.password` style, never a value.
pub fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "the top level".to_string()
    } else {
        path.join(".")
    }
}

/// Wraps a fresh data key for every configured group: with one group every key wraps the data
/// key itself; with several, each group gets a Shamir share (threshold defaults to all groups).
pub fn wrap_data_key(
    key: &DataKey,
    groups: &[KeySpecGroup],
    shamir_threshold: Option<u32>,
    keyring: &Keyring,
) -> Result<(Vec<KeyGroup>, Option<u32>)> {
    if groups.is_empty() || groups.iter().any(|g| g.is_empty()) {
        return Err(Error::NoKeys);
    }
    if groups.len() == 1 {
        let wrapped = groups[0].iter().map(|spec| keyring.wrap(spec, key.as_bytes())).collect::<Result<Vec<_>>>()?;
        return Ok((vec![wrapped], shamir_threshold.filter(|t| *t > 0)));
    }
    let threshold = match shamir_threshold {
        Some(t) if t > 0 => t as usize,
        _ => groups.len(),
    };
    if threshold > groups.len() {
        return Err(Error::Config(format!(
            "shamir_threshold {threshold} is larger than the number of key groups ({})",
            groups.len()
        )));
    }
    let shares = crate::keys::shamir::split(key.as_bytes(), groups.len(), threshold)?;
    let mut out = Vec::with_capacity(groups.len());
    for (group, share) in groups.iter().zip(shares.iter()) {
        let share = Zeroizing::new(share.clone());
        out.push(group.iter().map(|spec| keyring.wrap(spec, &share)).collect::<Result<Vec<_>>>()?);
    }
    Ok((out, Some(threshold as u32)))
}

/// Recovers a file's data key: any key of a single group, or enough groups for the Shamir
/// threshold. When that fails the error lists every group and why each key failed.
pub fn get_data_key(metadata: &Metadata, keyring: &Keyring) -> Result<DataKey> {
    let groups = &metadata.key_groups;
    if groups.len() == 1 {
        let secret = keyring.open_group(&groups[0]).map_err(|errors| {
            Error::DataKey(format!("no key could decrypt the data key:\n  {}", errors.join("\n  ")))
        })?;
        return DataKey::from_slice(&secret)
            .ok_or_else(|| Error::DataKey("the decrypted data key is not 32 bytes long".into()));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut report = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        match keyring.open_group(group) {
            Ok(s) => {
                report.push(format!("group {}: opened", i + 1));
                shares.push(s);
            }
            Err(errors) => report.push(format!("group {}: FAILED\n    {}", i + 1, errors.join("\n    "))),
        }
    }
    let needed = metadata.required_groups();
    if shares.len() < needed {
        return Err(Error::DataKey(format!(
            "{} of {} key groups opened, {} needed:\n  {}",
            shares.len(),
            groups.len(),
            needed,
            report.join("\n  ")
        )));
    }
    let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
    let secret = crate::keys::shamir::combine(&refs)?;
    DataKey::from_slice(&secret).ok_or_else(|| Error::DataKey("the combined data key is not 32 bytes long".into()))
}

/// Encrypts the MAC into the metadata with a fresh `lastmodified`.
pub fn seal_mac(metadata: &mut Metadata, cipher: &mut Cipher, mac_hex: &str) {
    metadata.lastmodified = crate::timefmt::now_utc();
    metadata.mac = mac::encrypt_mac(cipher, mac_hex, metadata.lastmodified);
}

/// Checks the computed MAC against the file's (exit 51 on mismatch).
pub fn verify_mac(metadata: &Metadata, cipher: &mut Cipher, computed: &str) -> Result<()> {
    if metadata.mac.is_empty() {
        return Err(Error::MacMissing);
    }
    if !is_encrypted(&metadata.mac) {
        return Err(Error::MacUndecryptable("the mac field is not an ENC value".into()));
    }
    let stored = mac::decrypt_mac(cipher, &metadata.mac, metadata.lastmodified)
        .map_err(|e| Error::MacUndecryptable(e.to_string()))?;
    if stored != computed {
        return Err(Error::MacMismatch { file_mac: stored, computed_mac: computed.to_string() });
    }
    Ok(())
}
