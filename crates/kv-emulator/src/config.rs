//! Start-up settings shared by the binary's flags and the Rust test-support API.

use std::path::PathBuf;

use crate::state::{Fault, Latency};

/// Tenant named in the Key Vault challenge unless configured otherwise. Clients using Entra ID
/// client credentials (not managed identity) must set `AZURE_TENANT_ID` to it, because the Go
/// SDK refuses a challenge from a tenant its credential is not configured for.
pub const DEFAULT_TENANT: &str = "e1e1e1e1-0000-4000-8000-00000000c0de";

/// The Entra ID authority host every emulator serves.
pub const DEFAULT_AUTHORITY_HOST: &str = "login.microsoftonline.com";

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP port on 127.0.0.1; 0 picks an ephemeral one.
    pub port: u16,
    /// Where to write `ca.pem` (and persist keys in `keys.json`); a temporary directory when `None`.
    pub state_dir: Option<PathBuf>,
    /// Tenant named in the Key Vault challenge.
    pub tenant: String,
    /// Extra Entra ID authority hosts (besides `login.microsoftonline.com`), e.g. for `AZURE_AUTHORITY_HOST`.
    pub authority_hosts: Vec<String>,
    /// When set, only this client secret is accepted by the token endpoint.
    pub client_secret: Option<String>,
    /// The managed identity secret (`IDENTITY_HEADER`); random when `None`.
    pub identity_header: Option<String>,
    /// Identities whose Key Vault requests get 403.
    pub deny_identities: Vec<String>,
    /// Vaults (name, host or URL) whose tunnels fail as a DNS failure at the proxy (502).
    pub unresolvable: Vec<String>,
    /// Latency settings applied at start.
    pub latency: Vec<Latency>,
    /// Faults queued at start.
    pub faults: Vec<Fault>,
    /// Keys to create at start, as `vault/name` (vault: `name`, host or URL).
    pub keys: Vec<String>,
    /// Create unknown keys on first use (default); when false they are 404 `KeyNotFound`.
    pub auto_create: bool,
    /// Application certificates (client id, DER certificate): certificate assertions of that
    /// client must be signed by the certificate's key.
    pub client_certificates: Vec<(String, Vec<u8>)>,
    /// Users (name, password) the password grant accepts.
    pub users: Vec<(String, String)>,
    /// Where the Azure Arc endpoint writes key files; [`ARC_KEY_DIR`] when `None`.
    pub arc_key_dir: Option<PathBuf>,
}

/// The directory Azure Arc's agent (HIMDS) writes its challenge key files to on Linux: the only
/// one the Go SDK (and kvsops) read a key from.
pub const ARC_KEY_DIR: &str = "/var/opt/azcmagent/tokens";

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            state_dir: None,
            tenant: DEFAULT_TENANT.to_string(),
            authority_hosts: Vec::new(),
            client_secret: None,
            identity_header: None,
            deny_identities: Vec::new(),
            unresolvable: Vec::new(),
            latency: Vec::new(),
            faults: Vec::new(),
            keys: Vec::new(),
            auto_create: true,
            client_certificates: Vec::new(),
            users: Vec::new(),
            arc_key_dir: None,
        }
    }
}

/// Splits `vault/name` (where vault may itself be `https://host/`) into (vault, name).
pub fn split_key_spec(spec: &str) -> Option<(String, String)> {
    let s = spec.trim().trim_end_matches('/');
    let s = s.strip_prefix("https://").unwrap_or(s);
    let (vault, name) = match s.split_once("/keys/") {
        Some(parts) => parts,
        None => s.rsplit_once('/')?,
    };
    let name = name.split('/').next().unwrap_or(name);
    (!vault.is_empty() && !name.is_empty()).then(|| (vault.to_string(), name.to_string()))
}

/// Normalizes an authority host given as a host or URL (`https://login.example/`).
pub fn authority_host(h: &str) -> String {
    let h = h.trim();
    let h = h.strip_prefix("https://").unwrap_or(h);
    h.split('/').next().unwrap_or(h).split(':').next().unwrap_or(h).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_accept_short_and_url_forms() {
        assert_eq!(split_key_spec("test-vault/sops-key"), Some(("test-vault".into(), "sops-key".into())));
        assert_eq!(
            split_key_spec("https://test-vault.vault.azure.net/keys/sops-key"),
            Some(("test-vault.vault.azure.net".into(), "sops-key".into()))
        );
        assert_eq!(split_key_spec("nokey"), None);
        assert_eq!(authority_host("https://login.example.test/"), "login.example.test");
    }
}
