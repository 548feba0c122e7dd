//! azure master keys (not yet implemented).

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyKind, KeySource, KeySpec, MasterKeyEntry};

/// azure key source.
pub struct AzureSource;

impl AzureSource {
    /// Configured from the environment.
    pub fn from_env() -> Self { AzureSource }
}

impl KeySource for AzureSource {
    fn kind(&self) -> KeyKind { KeyKind::AzureKv }
    fn wrap(&self, spec: &KeySpec, _secret: &[u8]) -> Result<MasterKeyEntry> { Err(Error::Unsupported(format!("{}: not implemented yet", spec.describe()))) }
    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> { Err(Error::Unsupported(format!("{}: not implemented yet", entry.spec().describe()))) }
}

/// Parses `https://<vault>.vault.azure.net/keys/<name>[/<version>]` (placeholder until the Azure
/// source lands).
pub fn parse_key_url(s: &str) -> Result<KeySpec> {
    let t = s.trim();
    let rest = t.strip_prefix("https://").ok_or_else(|| bad_url(t))?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [host, "keys", name] if !host.is_empty() && !name.is_empty() => Ok(KeySpec::AzureKv {
            vault_url: format!("https://{host}"),
            name: name.to_string(),
            version: None,
        }),
        [host, "keys", name, version] if !host.is_empty() && !name.is_empty() => Ok(KeySpec::AzureKv {
            vault_url: format!("https://{host}"),
            name: name.to_string(),
            version: Some(version.to_string()).filter(|v| !v.is_empty()),
        }),
        _ => Err(bad_url(t)),
    }
}

fn bad_url(s: &str) -> Error {
    Error::Config(format!("invalid Azure Key Vault key URL {s:?}: expected https://<vault>.vault.azure.net/keys/<name>[/<version>]"))
}
