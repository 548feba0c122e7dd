//! sops's key service: the data key wrapped and unwrapped by another process over gRPC.
//!
//! `sops keyservice` (and `kvsops keyservice`) serve two calls, Encrypt and Decrypt, each naming a
//! master key and carrying the data key (or a Shamir share) or its wrapped form. A client that is
//! given `--keyservice tcp://host:port` or `unix:///path` sends each key there instead of (or after)
//! using its own credentials, so the credentials stay with the server (a forwarded socket, a
//! machine that holds the age identity or the cloud login). Both sides speak sops's protocol
//! (`keyservice/keyservice.proto` of sops; [`proto`] is generated from it), so a kvsops client works
//! with a sops server and a sops client with a kvsops server.
//!
//! - [`client::RemoteSource`] is a [`KeySource`](super::KeySource) for every key kind: the
//!   [`Keyring`](super::Keyring) tries the local sources first, then each key service in turn.
//! - [`server`] serves the calls with kvsops's own key sources.
//!
//! What travels: the key's identity (recipient, fingerprint, key URL...) and the secret or the
//! wrapped secret as stored in the metadata (`enc`, as text bytes). The wire carries the data key in
//! clear over plain HTTP/2, as with sops: use a unix socket or a tunnel.

pub mod client;
pub mod server;

/// The Rust side of sops's `keyservice.proto`, generated once and committed (see its header).
#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
pub mod proto;

use std::fmt;
use std::path::PathBuf;

use proto::key::KeyType;

use super::{KeySpec, MasterKeyEntry};

/// Where a key service listens: `--keyservice tcp://host:port` / `unix:///path`, or
/// `kvsops keyservice --network N --address A`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port` (a name, an IPv4 address or a bracketed IPv6 address).
    Tcp(String),
    /// The path of a unix socket.
    Unix(PathBuf),
}

impl Endpoint {
    /// Parses a `--keyservice` URI as sops does: `tcp://host:port` (also `tcp4`, `tcp6`),
    /// `unix:///absolute/path` or `unix:relative/path`. The error says what is wrong with it.
    pub fn parse_uri(uri: &str) -> Result<Self, String> {
        let uri = uri.trim();
        let (scheme, rest) = uri.split_once(':').ok_or_else(|| {
            "expected protocol://address, e.g. tcp://127.0.0.1:5000 or unix:///path/to/socket".to_string()
        })?;
        match scheme {
            "tcp" | "tcp4" | "tcp6" => {
                let authority = rest.strip_prefix("//").ok_or_else(|| "expected tcp://host:port".to_string())?;
                let host_port = authority.split(['/', '?', '#']).next().unwrap_or_default();
                let has_port = host_port.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                });
                if !has_port {
                    return Err(format!("expected tcp://host:port, got {uri:?}"));
                }
                Ok(Endpoint::Tcp(host_port.to_string()))
            }
            "unix" => {
                let path = match rest.strip_prefix("//") {
                    Some(after) if after.starts_with('/') => after,
                    Some(_) => {
                        return Err(format!(
                            "expected unix:///absolute/path (a unix socket URI has no host), got {uri:?}"
                        ))
                    }
                    None => rest,
                };
                if path.is_empty() {
                    return Err("the unix socket path is empty".into());
                }
                Ok(Endpoint::Unix(PathBuf::from(path)))
            }
            other => Err(format!("unsupported protocol {other:?}: use tcp://host:port or unix:///path")),
        }
    }

    /// The endpoint of `kvsops keyservice --network N --address A` (Go's network names).
    pub fn listen(network: &str, address: &str) -> Result<Self, String> {
        match network {
            "tcp" | "tcp4" | "tcp6" => {
                // Go's ":5000" means every address of the machine.
                let address = match address.strip_prefix(':') {
                    Some(port) if network == "tcp4" => format!("0.0.0.0:{port}"),
                    Some(port) => format!("[::]:{port}"),
                    None => address.to_string(),
                };
                Ok(Endpoint::Tcp(address))
            }
            "unix" if !address.is_empty() => Ok(Endpoint::Unix(PathBuf::from(address))),
            "unix" => Err("--address must name the socket's path".into()),
            other => Err(format!("unsupported network {other:?}: use tcp or unix")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// The protocol's key for a configured key (what a client sends to wrap a secret).
pub(crate) fn key_of_spec(spec: &KeySpec) -> Result<proto::Key, String> {
    let key_type = match spec {
        KeySpec::Age(recipient) => KeyType::AgeKey(proto::AgeKey { recipient: recipient.trim().to_string() }),
        KeySpec::Pgp(fp) => KeyType::PgpKey(proto::PgpKey { fingerprint: super::pgp::normalize_fingerprint(fp) }),
        KeySpec::AzureKv { vault_url, name, version } => KeyType::AzureKeyvaultKey(proto::AzureKeyVaultKey {
            vault_url: vault_url.clone(),
            name: name.clone(),
            version: version.clone().unwrap_or_default(),
        }),
        KeySpec::Kms { arn, role, context, aws_profile } => KeyType::KmsKey(proto::KmsKey {
            arn: arn.clone(),
            role: role.clone().unwrap_or_default(),
            context: context.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            aws_profile: aws_profile.clone(),
        }),
        KeySpec::GcpKms { resource_id } => KeyType::GcpKmsKey(proto::GcpKmsKey { resource_id: resource_id.clone() }),
        KeySpec::HcVault { uri } => {
            let (vault_address, engine_path, key_name) = split_vault_uri(uri)?;
            KeyType::VaultKey(proto::VaultKey { vault_address, engine_path, key_name })
        }
    };
    Ok(proto::Key { key_type: Some(key_type) })
}

/// The protocol's key for a stored entry (what a client sends to unwrap it).
pub(crate) fn key_of_entry(entry: &MasterKeyEntry) -> Result<proto::Key, String> {
    match entry {
        // The entry holds the parts the URI is made of: send them as they are.
        MasterKeyEntry::HcVault { vault_address, engine_path, key_name, .. } => Ok(proto::Key {
            key_type: Some(KeyType::VaultKey(proto::VaultKey {
                vault_address: vault_address.clone(),
                engine_path: engine_path.clone(),
                key_name: key_name.clone(),
            })),
        }),
        other => key_of_spec(&other.spec()),
    }
}

/// The metadata entry for `spec` wrapped into `enc` (the text a key service returned).
pub(crate) fn entry_of(spec: &KeySpec, enc: String) -> Result<MasterKeyEntry, String> {
    let created_at = crate::timefmt::format_rfc3339(crate::timefmt::now_utc());
    Ok(match spec {
        KeySpec::Age(recipient) => MasterKeyEntry::Age { recipient: recipient.trim().to_string(), enc },
        KeySpec::Pgp(fp) => MasterKeyEntry::Pgp { fp: super::pgp::normalize_fingerprint(fp), created_at, enc },
        KeySpec::AzureKv { vault_url, name, version } => MasterKeyEntry::AzureKv {
            vault_url: vault_url.clone(),
            name: name.clone(),
            version: version.clone().unwrap_or_default(),
            created_at,
            enc,
        },
        KeySpec::Kms { arn, role, context, aws_profile } => MasterKeyEntry::Kms {
            arn: arn.clone(),
            role: role.clone(),
            context: context.clone(),
            created_at,
            enc,
            aws_profile: aws_profile.clone(),
        },
        KeySpec::GcpKms { resource_id } => MasterKeyEntry::GcpKms { resource_id: resource_id.clone(), created_at, enc },
        KeySpec::HcVault { uri } => {
            let (vault_address, engine_path, key_name) = split_vault_uri(uri)?;
            MasterKeyEntry::HcVault { vault_address, engine_path, key_name, created_at, enc }
        }
    })
}

/// What a request's key asks for, on the server's side. `Err` is the reason to refuse it.
pub(crate) fn spec_of_key(key: Option<&proto::Key>) -> Result<KeySpec, Refusal> {
    let key_type = key.and_then(|k| k.key_type.as_ref()).ok_or(Refusal::NoKey)?;
    Ok(match key_type {
        KeyType::AgeKey(k) => KeySpec::Age(k.recipient.clone()),
        KeyType::PgpKey(k) => KeySpec::Pgp(k.fingerprint.clone()),
        KeyType::AzureKeyvaultKey(k) => KeySpec::AzureKv {
            vault_url: k.vault_url.clone(),
            name: k.name.clone(),
            version: Some(k.version.clone()).filter(|v| !v.is_empty()),
        },
        KeyType::KmsKey(k) => KeySpec::Kms {
            arn: k.arn.clone(),
            role: Some(k.role.clone()).filter(|r| !r.is_empty()),
            context: k.context.iter().map(|(a, b)| (a.clone(), b.clone())).collect(),
            aws_profile: k.aws_profile.clone(),
        },
        KeyType::GcpKmsKey(k) => KeySpec::GcpKms { resource_id: k.resource_id.clone() },
        KeyType::VaultKey(k) => {
            KeySpec::HcVault { uri: format!("{}/v1/{}/keys/{}", k.vault_address, k.engine_path, k.key_name) }
        }
        KeyType::HckmsKey(k) => {
            return Err(Refusal::Unsupported(format!(
                "HuaweiCloud KMS key {}: kvsops does not support HuaweiCloud KMS keys",
                k.key_id
            )))
        }
    })
}

/// The stored entry a decrypt request describes, on the server's side.
pub(crate) fn entry_of_key(key: Option<&proto::Key>, enc: String) -> Result<MasterKeyEntry, Refusal> {
    if let Some(KeyType::VaultKey(k)) = key.and_then(|k| k.key_type.as_ref()) {
        return Ok(MasterKeyEntry::HcVault {
            vault_address: k.vault_address.clone(),
            engine_path: k.engine_path.clone(),
            key_name: k.key_name.clone(),
            created_at: String::new(),
            enc,
        });
    }
    let spec = spec_of_key(key)?;
    entry_of(&spec, enc).map_err(Refusal::Unsupported)
}

/// Why a server refuses a request before any key is used.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The request names no key (sops: "Must provide a key", code NotFound).
    NoKey,
    /// A key kind kvsops cannot parse or use.
    Unsupported(String),
}

/// Splits a Vault transit URI (`https://vault:8200/v1/ENGINE/keys/NAME`) into sops's three fields.
fn split_vault_uri(uri: &str) -> Result<(String, String, String), String> {
    let bad =
        || format!("Vault transit URI {uri:?} is not like https://vault.example.com:8200/v1/transit/keys/keyName");
    let (scheme, rest) = uri.split_once("://").ok_or_else(bad)?;
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    let dirs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if dirs.len() < 4 || !dirs[0].starts_with('v') || dirs[dirs.len() - 2] != "keys" {
        return Err(bad());
    }
    let key_name = dirs[dirs.len() - 1].to_string();
    let engine_path = dirs[1..dirs.len() - 2].join("/");
    Ok((format!("{scheme}://{host}"), engine_path, key_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyservice_uris_parse_as_sops_reads_them() {
        assert_eq!(Endpoint::parse_uri("tcp://127.0.0.1:5000"), Ok(Endpoint::Tcp("127.0.0.1:5000".into())));
        assert_eq!(Endpoint::parse_uri("tcp://localhost:5000/"), Ok(Endpoint::Tcp("localhost:5000".into())));
        assert_eq!(Endpoint::parse_uri("tcp://[::1]:5000"), Ok(Endpoint::Tcp("[::1]:5000".into())));
        assert_eq!(Endpoint::parse_uri("unix:///run/sops.sock"), Ok(Endpoint::Unix("/run/sops.sock".into())));
        assert_eq!(Endpoint::parse_uri("unix:sops.sock"), Ok(Endpoint::Unix("sops.sock".into())));
        for bad in ["tcp://host", "tcp://:5000", "127.0.0.1:5000", "http://h:1", "unix://host/p", "unix:", "nothing"] {
            assert!(Endpoint::parse_uri(bad).is_err(), "{bad}");
        }
        assert_eq!(Endpoint::parse_uri("unix:///a/b").unwrap().to_string(), "unix:///a/b");
        assert_eq!(Endpoint::parse_uri("tcp://h:1").unwrap().to_string(), "tcp://h:1");
    }

    #[test]
    fn listen_addresses_follow_go_network_names() {
        assert_eq!(Endpoint::listen("tcp", "127.0.0.1:5000"), Ok(Endpoint::Tcp("127.0.0.1:5000".into())));
        assert_eq!(Endpoint::listen("tcp4", ":5000"), Ok(Endpoint::Tcp("0.0.0.0:5000".into())));
        assert_eq!(Endpoint::listen("unix", "/tmp/s"), Ok(Endpoint::Unix("/tmp/s".into())));
        assert!(Endpoint::listen("udp", "x").is_err());
        assert!(Endpoint::listen("unix", "").is_err());
    }

    #[test]
    fn every_key_kind_round_trips_through_the_protocol() {
        let specs = [
            KeySpec::Age("age1abc".into()),
            KeySpec::Pgp("ABCD 1234".into()),
            KeySpec::AzureKv {
                vault_url: "https://v.vault.azure.net".into(),
                name: "k".into(),
                version: Some("1".into()),
            },
            KeySpec::Kms {
                arn: "arn:aws:kms:eu-west-1:1:key/x".into(),
                role: Some("r".into()),
                context: [("a".to_string(), "b".to_string())].into(),
                aws_profile: "p".into(),
            },
            KeySpec::GcpKms { resource_id: "projects/p/locations/l/keyRings/r/cryptoKeys/k".into() },
            KeySpec::HcVault { uri: "https://vault:8200/v1/sops/transit/keys/k".into() },
        ];
        for spec in specs {
            let key = key_of_spec(&spec).unwrap();
            let back = spec_of_key(Some(&key)).unwrap();
            let expected = match &spec {
                KeySpec::Pgp(_) => KeySpec::Pgp("ABCD1234".into()),
                other => other.clone(),
            };
            assert_eq!(back, expected);
            let entry = entry_of(&spec, "ENC".into()).unwrap();
            assert_eq!(entry.enc(), "ENC");
            assert_eq!(key_of_entry(&entry).unwrap(), key);
            assert_eq!(entry_of_key(Some(&key), "ENC".into()).unwrap().spec(), expected);
        }
    }

    #[test]
    fn refusals_name_the_reason() {
        assert!(matches!(spec_of_key(None), Err(Refusal::NoKey)));
        assert!(matches!(spec_of_key(Some(&proto::Key { key_type: None })), Err(Refusal::NoKey)));
        let hckms = proto::Key { key_type: Some(KeyType::HckmsKey(proto::HckmsKey { key_id: "tr-1:id".into() })) };
        assert!(matches!(spec_of_key(Some(&hckms)), Err(Refusal::Unsupported(m)) if m.contains("HuaweiCloud")));
        assert!(split_vault_uri("https://vault/keys/k").is_err());
        assert!(key_of_spec(&KeySpec::HcVault { uri: "vault".into() }).is_err());
    }
}
