//! Master keys: what wraps a file's data key.
//!
//! A [`KeySpec`] is a key as a user names it (a creation rule, `--age`, `--azure-kv`, ...); a
//! [`MasterKeyEntry`] is what the metadata stores after wrapping (recipient or key id plus `enc`).
//! Each key type lives in its own module behind [`KeySource`], and [`Keyring`] dispatches to them, so
//! the operations never care which kind of key they hold. Key types kvsops cannot use (AWS KMS,
//! GCP KMS, HashiCorp Vault) are still read and written back unchanged, so files that carry them
//! keep working with sops.

pub mod age;
pub mod azure;
pub mod keyservice;
pub mod pgp;
pub mod shamir;

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The kinds of master keys sops knows, in the order sops builds a group from a creation rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    Age,
    Pgp,
    Kms,
    GcpKms,
    AzureKv,
    HcVault,
}

impl KeyKind {
    /// The name used in `--decryption-order` / `SOPS_DECRYPTION_ORDER` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Age => "age",
            KeyKind::Pgp => "pgp",
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
        }
    }

    /// Parses a decryption-order name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "age" => KeyKind::Age,
            "pgp" => KeyKind::Pgp,
            "kms" => KeyKind::Kms,
            "gcp_kms" => KeyKind::GcpKms,
            "azure_kv" => KeyKind::AzureKv,
            "hc_vault" => KeyKind::HcVault,
            _ => return None,
        })
    }
}

/// A master key as configured, before it has wrapped anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// An age recipient (`age1…`, or an SSH public key).
    Age(String),
    /// A PGP fingerprint.
    Pgp(String),
    /// An Azure Key Vault key; `version` is resolved to the current one when absent.
    AzureKv { vault_url: String, name: String, version: Option<String> },
    /// AWS KMS (kept for files that carry it; kvsops cannot call it).
    Kms { arn: String, role: Option<String>, context: BTreeMap<String, String>, aws_profile: String },
    /// GCP KMS (kept, not usable).
    GcpKms { resource_id: String },
    /// HashiCorp Vault transit (kept, not usable).
    HcVault { uri: String },
}

impl KeySpec {
    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        match self {
            KeySpec::Age(_) => KeyKind::Age,
            KeySpec::Pgp(_) => KeyKind::Pgp,
            KeySpec::AzureKv { .. } => KeyKind::AzureKv,
            KeySpec::Kms { .. } => KeyKind::Kms,
            KeySpec::GcpKms { .. } => KeyKind::GcpKms,
            KeySpec::HcVault { .. } => KeyKind::HcVault,
        }
    }

    /// A short, secret-free name for messages (recipient, fingerprint or key URL).
    pub fn describe(&self) -> String {
        match self {
            KeySpec::Age(r) => format!("age recipient {r}"),
            KeySpec::Pgp(fp) => format!("PGP key {fp}"),
            KeySpec::AzureKv { vault_url, name, version } => match version {
                Some(v) => format!("Azure Key Vault key {vault_url}/keys/{name}/{v}"),
                None => format!("Azure Key Vault key {vault_url}/keys/{name}"),
            },
            KeySpec::Kms { arn, .. } => format!("AWS KMS key {arn}"),
            KeySpec::GcpKms { resource_id } => format!("GCP KMS key {resource_id}"),
            KeySpec::HcVault { uri } => format!("Vault transit key {uri}"),
        }
    }
}

/// A master key as stored in the metadata: its identity and the wrapped data key (or Shamir share).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeyEntry {
    Age {
        recipient: String,
        enc: String,
    },
    Pgp {
        fp: String,
        created_at: String,
        enc: String,
    },
    AzureKv {
        vault_url: String,
        name: String,
        version: String,
        created_at: String,
        enc: String,
    },
    Kms {
        arn: String,
        role: Option<String>,
        context: BTreeMap<String, String>,
        created_at: String,
        enc: String,
        aws_profile: String,
    },
    GcpKms {
        resource_id: String,
        created_at: String,
        enc: String,
    },
    HcVault {
        vault_address: String,
        engine_path: String,
        key_name: String,
        created_at: String,
        enc: String,
    },
}

impl MasterKeyEntry {
    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        match self {
            MasterKeyEntry::Age { .. } => KeyKind::Age,
            MasterKeyEntry::Pgp { .. } => KeyKind::Pgp,
            MasterKeyEntry::AzureKv { .. } => KeyKind::AzureKv,
            MasterKeyEntry::Kms { .. } => KeyKind::Kms,
            MasterKeyEntry::GcpKms { .. } => KeyKind::GcpKms,
            MasterKeyEntry::HcVault { .. } => KeyKind::HcVault,
        }
    }

    /// The configured identity of this entry, to compare with rules (`updatekeys`, `rotate --rm-*`).
    pub fn spec(&self) -> KeySpec {
        match self {
            MasterKeyEntry::Age { recipient, .. } => KeySpec::Age(recipient.clone()),
            MasterKeyEntry::Pgp { fp, .. } => KeySpec::Pgp(fp.clone()),
            MasterKeyEntry::AzureKv { vault_url, name, version, .. } => KeySpec::AzureKv {
                vault_url: vault_url.clone(),
                name: name.clone(),
                version: Some(version.clone()).filter(|v| !v.is_empty()),
            },
            MasterKeyEntry::Kms { arn, role, context, aws_profile, .. } => KeySpec::Kms {
                arn: arn.clone(),
                role: role.clone(),
                context: context.clone(),
                aws_profile: aws_profile.clone(),
            },
            MasterKeyEntry::GcpKms { resource_id, .. } => KeySpec::GcpKms { resource_id: resource_id.clone() },
            MasterKeyEntry::HcVault { vault_address, engine_path, key_name, .. } => {
                KeySpec::HcVault { uri: format!("{vault_address}/v1/{engine_path}/keys/{key_name}") }
            }
        }
    }

    /// The wrapped data key (or share) as stored.
    pub fn enc(&self) -> &str {
        match self {
            MasterKeyEntry::Age { enc, .. }
            | MasterKeyEntry::Pgp { enc, .. }
            | MasterKeyEntry::AzureKv { enc, .. }
            | MasterKeyEntry::Kms { enc, .. }
            | MasterKeyEntry::GcpKms { enc, .. }
            | MasterKeyEntry::HcVault { enc, .. } => enc,
        }
    }
}

/// A group of master keys: any one of them opens the group's data key or Shamir share.
pub type KeyGroup = Vec<MasterKeyEntry>;

/// A group of configured keys, before wrapping.
pub type KeySpecGroup = Vec<KeySpec>;

/// Something that wraps a secret (data key or Shamir share) for a configured key, and unwraps it
/// from a stored entry: one kind of master key with whatever credentials the user has, or a key
/// service (`--keyservice`) that takes every kind.
pub trait KeySource: Send + Sync {
    /// Whether this source takes keys of `kind`.
    fn handles(&self, kind: KeyKind) -> bool;

    /// Wraps `secret` for `spec` and returns the metadata entry.
    fn wrap(&self, spec: &KeySpec, secret: &[u8]) -> Result<MasterKeyEntry>;

    /// Unwraps the secret from `entry`; an error says which key and why, never the secret.
    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>>;
}

/// A key source for key types kvsops cannot call: it explains, rather than failing obscurely.
pub struct UnsupportedSource(pub KeyKind);

impl KeySource for UnsupportedSource {
    fn handles(&self, kind: KeyKind) -> bool {
        kind == self.0
    }
    fn wrap(&self, spec: &KeySpec, _secret: &[u8]) -> Result<MasterKeyEntry> {
        Err(Error::Unsupported(format!(
            "{}: kvsops does not support {} keys; use age, PGP or Azure Key Vault",
            spec.describe(),
            self.0.name()
        )))
    }
    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
        Err(Error::Key {
            key_type: self.0.name(),
            message: format!("{}: kvsops cannot use {} keys", entry.spec().describe(), self.0.name()),
        })
    }
}

/// All key sources of a run, one per kind, created once so credentials and connections are shared
/// by every file of a batch.
pub struct Keyring {
    sources: Vec<Box<dyn KeySource>>,
    /// The order in which key kinds are tried when decrypting (sops: age, then pgp, then the rest).
    pub decryption_order: Vec<KeyKind>,
}

impl Keyring {
    /// The keyring with every key source kvsops supports, configured from the environment.
    pub fn from_env() -> Self {
        let sources: Vec<Box<dyn KeySource>> = vec![
            Box::new(age::AgeSource::from_env()),
            Box::new(pgp::PgpSource::from_env()),
            Box::new(azure::AzureSource::from_env()),
            Box::new(UnsupportedSource(KeyKind::Kms)),
            Box::new(UnsupportedSource(KeyKind::GcpKms)),
            Box::new(UnsupportedSource(KeyKind::HcVault)),
        ];
        Keyring { sources, decryption_order: vec![KeyKind::Age, KeyKind::Pgp] }
    }

    /// A keyring with the given sources (tests, and callers that configure sources themselves).
    pub fn with_sources(sources: Vec<Box<dyn KeySource>>) -> Self {
        Keyring { sources, decryption_order: vec![KeyKind::Age, KeyKind::Pgp] }
    }

    /// Sets the decryption order from `--decryption-order` / `SOPS_DECRYPTION_ORDER` (comma list).
    pub fn set_decryption_order(&mut self, order: &str) -> Result<()> {
        let mut kinds = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for name in order.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            // sops ignores a name it does not know (and still refuses one named twice).
            let Some(kind) = KeyKind::from_name(name) else {
                if seen.contains(&name) {
                    return Err(Error::DuplicateDecryptionKeyType(name.to_string()));
                }
                seen.push(name);
                crate::errln!("kvsops: warning: unknown key type {name:?} in the decryption order is ignored");
                continue;
            };
            if kinds.contains(&kind) {
                return Err(Error::DuplicateDecryptionKeyType(name.to_string()));
            }
            kinds.push(kind);
        }
        self.decryption_order = kinds;
        Ok(())
    }

    /// Sets the key services, as sops builds them from `--enable-local-keyservice` and
    /// `--keyservice`: kvsops's own sources first unless `local` is false, then each remote
    /// service in the order given. Every key is tried with each of them in turn.
    pub fn use_key_services(&mut self, local: bool, remote: Vec<Box<dyn KeySource>>) {
        if !local {
            self.sources.clear();
        }
        self.sources.extend(remote);
    }

    /// The sources that take keys of `kind`, in the order they are tried.
    fn sources_for(&self, kind: KeyKind) -> Vec<&dyn KeySource> {
        self.sources.iter().filter(|s| s.handles(kind)).map(|s| s.as_ref()).collect()
    }

    fn no_source(kind: KeyKind) -> String {
        format!(
            "no key service for {} keys: the local one is disabled (--enable-local-keyservice=false) and no --keyservice is given",
            kind.name()
        )
    }

    /// Wraps a secret for one configured key: the first source that succeeds wins (sops: "only
    /// need to encrypt the key successfully with one service"); when none does, every error.
    pub fn wrap(&self, spec: &KeySpec, secret: &[u8]) -> Result<MasterKeyEntry> {
        let sources = self.sources_for(spec.kind());
        let mut errors = Vec::new();
        for source in &sources {
            match source.wrap(spec, secret) {
                Ok(entry) => return Ok(entry),
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Err(Error::KeyService(format!("{}: {}", spec.describe(), Self::no_source(spec.kind())))),
            1 => Err(errors.remove(0)),
            _ => Err(Error::KeyService(format!(
                "{}: no key service could wrap the data key: {}",
                spec.describe(),
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ))),
        }
    }

    /// Unwraps a secret from one stored entry: the first source that succeeds wins; when none
    /// does, every error.
    pub fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
        let sources = self.sources_for(entry.kind());
        let mut errors = Vec::new();
        for source in &sources {
            match source.unwrap(entry) {
                Ok(secret) => return Ok(secret),
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Err(Error::Key { key_type: entry.kind().name(), message: Self::no_source(entry.kind()) }),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Key {
                key_type: entry.kind().name(),
                message: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            }),
        }
    }

    /// Orders a group's entries for decryption: kinds in the decryption order first, in that order,
    /// then the rest in file order.
    pub fn decryption_sequence<'a>(&self, group: &'a [MasterKeyEntry]) -> Vec<&'a MasterKeyEntry> {
        let mut out: Vec<&MasterKeyEntry> = Vec::with_capacity(group.len());
        for kind in &self.decryption_order {
            out.extend(group.iter().filter(|e| e.kind() == *kind));
        }
        out.extend(group.iter().filter(|e| !self.decryption_order.contains(&e.kind())));
        out
    }

    /// Opens one group: the first key that unwraps wins; otherwise every key's error.
    pub fn open_group(&self, group: &[MasterKeyEntry]) -> std::result::Result<Zeroizing<Vec<u8>>, Vec<String>> {
        let mut errors = Vec::new();
        for entry in self.decryption_sequence(group) {
            match self.unwrap(entry) {
                Ok(secret) => return Ok(secret),
                Err(e) => errors.push(format!("{}: {}", entry.spec().describe(), e)),
            }
        }
        if errors.is_empty() {
            errors.push("the group has no keys".to_string());
        }
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that answers with a fixed outcome and counts its calls.
    struct Fixed {
        works: bool,
        name: &'static str,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Fixed {
        fn boxed(works: bool, name: &'static str) -> Box<dyn KeySource> {
            Box::new(Fixed { works, name, calls: Default::default() })
        }
        fn outcome<T>(&self, value: T) -> Result<T> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.works {
                Ok(value)
            } else {
                Err(Error::KeyService(format!("{} failed", self.name)))
            }
        }
    }

    impl KeySource for Fixed {
        fn handles(&self, kind: KeyKind) -> bool {
            kind == KeyKind::Age
        }
        fn wrap(&self, _spec: &KeySpec, _secret: &[u8]) -> Result<MasterKeyEntry> {
            self.outcome(MasterKeyEntry::Age { recipient: "r".into(), enc: self.name.into() })
        }
        fn unwrap(&self, _entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
            self.outcome(Zeroizing::new(self.name.as_bytes().to_vec()))
        }
    }

    fn age_entry() -> MasterKeyEntry {
        MasterKeyEntry::Age { recipient: "r".into(), enc: "x".into() }
    }

    #[test]
    fn key_services_are_tried_in_order_until_one_succeeds() {
        let mut k = Keyring::with_sources(vec![Fixed::boxed(false, "local")]);
        k.use_key_services(true, vec![Fixed::boxed(true, "first"), Fixed::boxed(true, "second")]);
        assert_eq!(k.wrap(&KeySpec::Age("r".into()), b"k").unwrap().enc(), "first");
        assert_eq!(&k.unwrap(&age_entry()).unwrap()[..], b"first");
    }

    #[test]
    fn the_local_sources_come_first_and_can_be_left_out() {
        let mut k = Keyring::with_sources(vec![Fixed::boxed(true, "local")]);
        k.use_key_services(true, vec![Fixed::boxed(true, "remote")]);
        assert_eq!(&k.unwrap(&age_entry()).unwrap()[..], b"local");
        let mut k = Keyring::with_sources(vec![Fixed::boxed(true, "local")]);
        k.use_key_services(false, vec![Fixed::boxed(true, "remote")]);
        assert_eq!(&k.unwrap(&age_entry()).unwrap()[..], b"remote");
    }

    #[test]
    fn when_every_service_fails_each_reason_is_given() {
        let mut k = Keyring::with_sources(vec![Fixed::boxed(false, "local")]);
        k.use_key_services(true, vec![Fixed::boxed(false, "remote")]);
        let wrap = k.wrap(&KeySpec::Age("r".into()), b"k").unwrap_err();
        assert_eq!(wrap.exit_code(), crate::error::exit::GENERIC, "sops exits 1 when no data key can be wrapped");
        let wrap = wrap.to_string();
        assert!(wrap.contains("local failed") && wrap.contains("remote failed"), "{wrap}");
        let unwrap = k.unwrap(&age_entry()).unwrap_err().to_string();
        assert!(unwrap.contains("local failed") && unwrap.contains("remote failed"), "{unwrap}");
    }

    #[test]
    fn no_service_at_all_says_so() {
        let mut k = Keyring::with_sources(vec![Fixed::boxed(true, "local")]);
        k.use_key_services(false, Vec::new());
        let e = k.wrap(&KeySpec::Age("r".into()), b"k").unwrap_err().to_string();
        assert!(e.contains("--enable-local-keyservice=false"), "{e}");
        let e = k.unwrap(&age_entry()).unwrap_err().to_string();
        assert!(e.contains("no key service for age keys"), "{e}");
        // A kind no source takes (the keyring of tests has no PGP source).
        let e = Keyring::with_sources(vec![]).unwrap(&MasterKeyEntry::Pgp {
            fp: "F".into(),
            created_at: String::new(),
            enc: String::new(),
        });
        assert!(e.is_err());
    }
}
