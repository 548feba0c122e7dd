//! An Azure Key Vault emulator for kvsops tests and for trying kvsops (or the real `sops`)
//! without an Azure subscription.
//!
//! Clients are not modified: the emulator is an HTTPS proxy on 127.0.0.1 that tunnels only to
//! itself. With `HTTPS_PROXY` pointing at it and `SSL_CERT_FILE` at its throwaway CA, requests to
//! `https://<vault>.vault.azure.net` and `https://login.microsoftonline.com` land here and are
//! answered like Azure would (bearer challenge, tokens, keys, RSA-OAEP-256). The App Service
//! managed identity endpoint (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`) hands out tokens, and an
//! admin API injects faults and latency and exposes a request log.
//!
//! [`Emulator`] runs one in-process (on its own thread and runtime) for tests; the
//! `kv-emulator` binary runs one for people.

#![forbid(unsafe_code)]

mod admin;
pub mod config;
pub mod error;
mod identity;
mod keyvault;
mod respond;
pub mod server;
pub mod state;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::Config;
pub use error::Error;
pub use keyvault::ciphertext_fingerprint;
pub use state::{CredentialKind, Fault, Latency, LogEntry, Op, TokenInfo};

/// A running emulator; dropping it stops it (and deletes its temporary state directory).
pub struct Emulator {
    port: u16,
    ca_path: PathBuf,
    shared: Arc<server::Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _temp_dir: Option<tempfile::TempDir>,
}

impl Emulator {
    /// Starts an emulator with the default [`Config`]. Test helper: panics if it cannot start.
    pub fn start() -> Emulator {
        match Emulator::start_with(Config::default()) {
            Ok(e) => e,
            Err(e) => panic!("kv-emulator failed to start: {e}"),
        }
    }

    /// Starts an emulator with `config`.
    pub fn start_with(config: Config) -> Result<Emulator, Error> {
        let prepared = server::prepare(&config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kv-emulator")
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the Tokio runtime", e))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shared = prepared.shared.clone();
        let listener = prepared.listener;
        let thread = std::thread::Builder::new()
            .name("kv-emulator".into())
            .spawn(move || {
                let _ = runtime.block_on(server::serve(listener, shared, async {
                    let _ = rx.await;
                }));
                runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            })
            .map_err(|e| Error::Start(e.to_string()))?;
        Ok(Emulator {
            port: prepared.port,
            ca_path: prepared.ca_path,
            shared: prepared.shared,
            shutdown: Some(tx),
            thread: Some(thread),
            _temp_dir: prepared.temp_dir,
        })
    }

    /// The environment a client process needs (`HTTPS_PROXY`, `SSL_CERT_FILE`,
    /// `IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, `KVSOPS_EMULATOR_ADMIN`, `KVSOPS_EMULATOR_TENANT`).
    pub fn env(&self) -> &[(String, String)] {
        &self.shared.env
    }

    /// One variable of [`Emulator::env`].
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.shared.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `http://127.0.0.1:PORT`, the base of the admin API (and the proxy).
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate file (`SSL_CERT_FILE`).
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_path
    }

    /// Tenant named in the Key Vault challenge (use as `AZURE_TENANT_ID` for Entra ID credentials).
    pub fn tenant(&self) -> &str {
        &self.shared.state.settings.tenant
    }

    /// `https://<vault>.vault.azure.net/keys/<name>` (vault given as a name or host).
    pub fn key_url(&self, vault: &str, name: &str) -> String {
        format!("https://{}/keys/{name}", state::vault_host(vault))
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        self.shared.state.add_fault(fault);
    }

    /// Makes the next `count` requests of `op` (`None`: any Key Vault operation) answer `status`.
    pub fn fail_next(&self, status: u16, count: u32, op: Option<Op>) {
        self.inject(Fault { status, count, op, retry_after: None });
    }

    /// Delays every response (`op` `None`) or those of one operation by `ms` milliseconds.
    pub fn set_latency(&self, ms: u64, op: Option<Op>) {
        self.shared.state.set_latency(Latency { ms, op });
    }

    /// Makes Key Vault deny (403) requests made with this identity's tokens.
    pub fn deny_identity(&self, identity: &str) {
        self.shared.state.deny_identity(identity);
    }

    /// Makes the proxy refuse tunnels to `vault` (name, host or URL) with 502, as a proxy whose DNS
    /// lookup of a vault that does not exist failed.
    pub fn make_unresolvable(&self, vault: &str) {
        self.shared.state.make_unresolvable(vault);
    }

    /// The values of every token issued so far: for tests asserting that a client never prints
    /// one (neither the admin API nor the log exposes them).
    pub fn token_values(&self) -> Vec<String> {
        self.shared.state.token_values()
    }

    /// Clears faults, latency, denials, unresolvable names and the request log.
    pub fn reset(&self) {
        self.shared.state.reset();
    }

    /// The request log.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.state.log()
    }

    /// Every token issued so far (who, how, for what), oldest first.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.shared.state.tokens()
    }

    /// Creates a new version of (vault, name) — the first one or a rotation — and returns its kid.
    pub fn create_key_version(&self, vault: &str, name: &str) -> Result<String, Error> {
        let k = self.shared.state.add_key_version(vault, name, state::generate_rsa()?)?;
        Ok(format!("{}/{}", self.key_url(vault, name), k.version))
    }

    /// Registers an application's certificate (DER): client-certificate assertions of
    /// `client_id` must be signed by its key and name it by thumbprint.
    pub fn register_client_certificate(&self, client_id: &str, cert_der: &[u8]) {
        self.shared.state.register_client_certificate(client_id, cert_der.to_vec());
    }

    /// Registers a user for the password grant (`AZURE_USERNAME` / `AZURE_PASSWORD`): the token
    /// endpoint refuses any other password for that user (`invalid_grant`, AADSTS50126).
    pub fn register_user(&self, username: &str, password: &str) {
        self.shared.state.register_user(username, password);
    }

    /// The Azure Arc agent endpoint (`IDENTITY_ENDPOINT` for Arc; set `IMDS_ENDPOINT` too).
    pub fn arc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/arc/token", self.port())
    }

    /// Issues a token for `identity` without any credential (kind [`CredentialKind::Issued`]), for
    /// fake developer tools (`az`, `pwsh`) to print; `resource` e.g. `https://vault.azure.net`.
    pub fn issue_token(&self, identity: &str, resource: &str, tenant: Option<&str>) -> String {
        self.shared.state.issue_token(identity, CredentialKind::Issued, resource, tenant).0
    }

    /// Versions of (vault, name), oldest first.
    pub fn key_versions(&self, vault: &str, name: &str) -> Vec<String> {
        let host = state::vault_host(vault);
        self.shared
            .state
            .list_keys()
            .into_iter()
            .find(|k| k.vault == host && k.name == name)
            .map(|k| k.versions)
            .unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `export NAME=value` lines for a POSIX shell, values quoted when needed.
pub fn shell_exports(env: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in env {
        out.push_str("export ");
        out.push_str(k);
        out.push('=');
        out.push_str(&shell_quote(v));
        out.push('\n');
    }
    out
}

fn shell_quote(v: &str) -> String {
    let safe = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "_./:@%+,=-".contains(c));
    if safe {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_quote_only_what_needs_it() {
        let env =
            vec![("A".to_string(), "http://127.0.0.1:1".to_string()), ("B".to_string(), "/tmp/a b/it's".to_string())];
        assert_eq!(shell_exports(&env), "export A=http://127.0.0.1:1\nexport B='/tmp/a b/it'\\''s'\n");
    }
}
