//! Everything the emulator remembers: RSA keys per (vault host, name), issued tokens, injected
//! faults and latency, and the request log.
//!
//! It is kept apart from the HTTP layer so that the Rust test-support API ([`crate::Emulator`])
//! and the admin API drive the very same state, and so it can be unit-tested without sockets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// RSA modulus size of every emulated key, as sops and Key Vault's default `RSA` keys use.
pub const RSA_BITS: usize = 2048;
/// Most log entries kept; older ones are dropped first.
const LOG_CAP: usize = 20_000;
/// Lifetime of issued tokens.
pub const TOKEN_LIFETIME_SECS: u64 = 3600;

/// A Key Vault operation (or token issuance), used to target faults and latency and in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `GET /keys/{name}[/{version}]`.
    Get,
    /// `POST /keys/{name}/create`.
    Create,
    /// `POST /keys/{name}/{version}/encrypt`.
    Encrypt,
    /// `POST /keys/{name}/{version}/decrypt`.
    Decrypt,
    /// `POST /keys/{name}/{version}/wrapkey`.
    WrapKey,
    /// `POST /keys/{name}/{version}/unwrapkey`.
    UnwrapKey,
    /// A token request (managed identity or Entra ID token endpoint).
    Token,
}

impl Op {
    /// Parses the lower-case name used by the admin API and the CLI.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s.to_ascii_lowercase().as_str() {
            "get" => Op::Get,
            "create" => Op::Create,
            "encrypt" => Op::Encrypt,
            "decrypt" => Op::Decrypt,
            "wrapkey" => Op::WrapKey,
            "unwrapkey" => Op::UnwrapKey,
            "token" => Op::Token,
            _ => return None,
        })
    }

    /// The Key Vault permission name a 403 names for this operation.
    pub fn permission(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Create => "create",
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
            Op::WrapKey => "wrapKey",
            Op::UnwrapKey => "unwrapKey",
            Op::Token => "token",
        }
    }
}

/// How a token was obtained, as far as the emulator can tell from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// App Service managed identity endpoint (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`).
    ManagedIdentity,
    /// Entra ID client credentials with `client_secret`.
    ClientSecret,
    /// Entra ID client credentials with a `client_assertion` (workload identity).
    ClientAssertion,
    /// A `client_assertion` whose JWT header carries a certificate thumbprint (`x5t` or
    /// `x5t#S256`), verified against a certificate registered for the client.
    ClientCertificate,
    /// The OAuth2 password grant (`AZURE_USERNAME` / `AZURE_PASSWORD`): the identity is the user.
    UsernamePassword,
    /// Handed out by the test-support API ([`crate::Emulator::issue_token`]), e.g. for a fake
    /// `az` or `pwsh` to print.
    Issued,
}

/// An injected failure: the next `count` matching requests get `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP status to answer with (429, 500, 503, 403, or any other 4xx/5xx).
    pub status: u16,
    /// How many responses to fail (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Limit to one operation. `None` means every Key Vault operation, but not token requests.
    #[serde(default)]
    pub op: Option<Op>,
    /// `Retry-After` seconds sent with 429 and 503 (default 1).
    #[serde(default)]
    pub retry_after: Option<u64>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// Whether this fault applies to a request of operation `op`.
    fn matches(&self, op: Op) -> bool {
        match self.op {
            Some(o) => o == op,
            None => op != Op::Token,
        }
    }
}

/// Added delay before answering requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Milliseconds to wait before each matching response.
    pub ms: u64,
    /// Limit to one operation; `None` delays every emulated request (not the admin API).
    #[serde(default)]
    pub op: Option<Op>,
}

/// One request the emulator answered (CONNECTs and failed TLS handshakes included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Monotonic sequence number.
    pub seq: u64,
    /// HTTP method (`CONNECT`, `GET`, `POST`, ...), or `TLS` for a failed handshake.
    pub method: String,
    /// Target host (`test-vault.vault.azure.net`, `login.microsoftonline.com`, `127.0.0.1`).
    pub host: String,
    /// Request path without the query string.
    pub path: String,
    /// Response status (0 when no HTTP response was possible).
    pub status: u16,
    /// The operation, when the request was one.
    pub op: Option<Op>,
    /// Who the request was made as (from its token, or the identity a token was issued to).
    pub identity: Option<String>,
    /// How that identity's token was obtained.
    pub credential: Option<CredentialKind>,
    /// Connection id: the tunnelled TLS connection for Key Vault and Entra ID requests, the
    /// plain TCP connection otherwise. Equal ids mean a reused connection.
    pub connection: u64,
    /// Whether the request came through a TLS tunnel.
    pub tls: bool,
    /// Whether the response was an injected fault.
    pub injected: bool,
    /// A short note (e.g. why a handshake failed); never secret material.
    #[serde(default)]
    pub note: Option<String>,
}

/// What the emulator knows about an issued token (its value is never exposed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Identity the token represents (`managed-identity`, `managed-identity:<id>`, or a client id).
    pub identity: String,
    /// How it was obtained.
    pub credential: CredentialKind,
    /// Resource (audience) without a `/.default` suffix, e.g. `https://vault.azure.net`.
    pub resource: String,
    /// Tenant from the token endpoint path (Entra ID flows only).
    pub tenant: Option<String>,
    /// Log sequence number at issue time.
    pub issued_seq: u64,
    /// Unix seconds when it expires.
    pub expires_on: u64,
}

/// A key version as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyListing {
    /// Vault host.
    pub vault: String,
    /// Key name.
    pub name: String,
    /// Versions, oldest first; the last is current.
    pub versions: Vec<String>,
}

/// A resolved key version ready for crypto.
#[derive(Clone)]
pub struct ResolvedKey {
    /// Key version id (32 hex chars).
    pub version: String,
    /// Unix seconds when created.
    pub created: u64,
    /// The private key.
    pub key: Arc<RsaPrivateKey>,
}

/// Why a key lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookupError {
    /// No key of that name (auto-create off).
    NoSuchKey,
    /// The key exists but not that version.
    NoSuchVersion,
}

struct KeyVersion {
    version: String,
    created: u64,
    key: Arc<RsaPrivateKey>,
}

#[derive(Default)]
struct Inner {
    keys: BTreeMap<(String, String), Vec<KeyVersion>>,
    tokens: HashMap<String, TokenInfo>,
    faults: Vec<Fault>,
    latency: Vec<Latency>,
    denied: BTreeSet<String>,
    unresolvable: BTreeSet<String>,
    log: Vec<LogEntry>,
    seq: u64,
}

/// Fixed settings of a running emulator.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Tenant named in the Key Vault challenge.
    pub tenant: String,
    /// Secret the managed identity endpoint expects in `X-IDENTITY-HEADER`.
    pub identity_header: String,
    /// When set, only this client secret is accepted.
    pub client_secret: Option<String>,
    /// Create unknown keys on first use.
    pub auto_create: bool,
    /// Where keys are persisted (`keys.json`), if anywhere.
    pub persist_dir: Option<PathBuf>,
    /// Where the Azure Arc endpoint writes its key files.
    pub arc_key_dir: PathBuf,
}

/// The emulator's shared, thread-safe state.
pub struct State {
    inner: Mutex<Inner>,
    /// DER certificates registered per client id, for client-certificate assertions.
    client_certificates: Mutex<HashMap<String, Vec<Vec<u8>>>>,
    /// Users (name → password) the password grant accepts.
    users: Mutex<HashMap<String, String>>,
    /// Azure Arc: secrets handed out in key files and not yet used (secret → file).
    arc_secrets: Mutex<HashMap<String, PathBuf>>,
    connections: AtomicU64,
    /// Fixed settings.
    pub settings: Settings,
}

/// Current unix time in seconds.
pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A stable, UUID-shaped object id for an emulated identity (the same identity always gets the
/// same one, as in Entra ID).
pub fn object_id(identity: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let h = Sha256::digest(identity.as_bytes());
    let x: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &x[0..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

/// The claims of an emulated access token (see [`State::issue_token`]).
fn token_claims(
    identity: &str,
    credential: CredentialKind,
    resource: &str,
    tenant: &str,
    expires_on: u64,
) -> serde_json::Value {
    let now = now_unix();
    let mut claims = serde_json::json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now,
        "nbf": now,
        "exp": expires_on,
        "tid": tenant,
        "oid": object_id(identity),
        "sub": object_id(identity),
        "idtyp": "app",
    });
    if let Some(obj) = claims.as_object_mut() {
        match credential {
            CredentialKind::ManagedIdentity => {
                let (appid, mirid) = match identity.strip_prefix("managed-identity:") {
                    Some(id) => (
                        id.to_string(),
                        format!("/subscriptions/00000000-0000-0000-0000-00000000e1e1/resourcegroups/kv-emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{id}"),
                    ),
                    None => (
                        object_id("kv-emulator-app-service"),
                        "/subscriptions/00000000-0000-0000-0000-00000000e1e1/resourcegroups/kv-emulator/providers/Microsoft.Web/sites/kv-emulator-app".to_string(),
                    ),
                };
                obj.insert("appid".into(), appid.into());
                obj.insert("xms_mirid".into(), mirid.into());
            }
            CredentialKind::UsernamePassword => {
                obj.insert("upn".into(), identity.into());
                obj.insert("idtyp".into(), "user".into());
            }
            _ => {
                obj.insert("appid".into(), identity.into());
                obj.insert("app_displayname".into(), format!("kv-emulator app {identity}").into());
            }
        }
    }
    claims
}

/// A fresh Key Vault-style key version: 32 lower-case hex characters.
pub fn new_version_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Generates a 2048-bit RSA key (slow-ish: call off the async threads).
pub fn generate_rsa() -> Result<RsaPrivateKey, Error> {
    RsaPrivateKey::new(&mut rand::thread_rng(), RSA_BITS).map_err(|e| Error::KeyGeneration(e.to_string()))
}

/// Normalizes a vault given as `name`, `name.vault.azure.net` or `https://name.vault.azure.net/`
/// into its lower-case host.
pub fn vault_host(vault: &str) -> String {
    let v = vault.trim();
    let v = v.strip_prefix("https://").unwrap_or(v);
    let v = v.split('/').next().unwrap_or(v);
    let v = v.split(':').next().unwrap_or(v).to_ascii_lowercase();
    if v.contains('.') {
        v
    } else {
        format!("{v}.vault.azure.net")
    }
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    vault: String,
    name: String,
    version: String,
    created: u64,
    /// PKCS#8 DER, standard base64. Test keys only.
    pkcs8: String,
}

impl State {
    /// Creates the state, loading persisted keys from `settings.persist_dir` when present.
    pub fn new(settings: Settings) -> Result<State, Error> {
        let state = State {
            inner: Mutex::new(Inner::default()),
            client_certificates: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            arc_secrets: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
            settings,
        };
        state.load()?;
        Ok(state)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for a test emulator, so recover from poisoning instead of propagating it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Allocates a connection id (shared by plain and TLS connections).
    pub fn next_connection_id(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    // ---------------------------------------------------------------- keys

    fn keys_file(&self) -> Option<PathBuf> {
        self.settings.persist_dir.as_ref().map(|d| d.join("keys.json"))
    }

    fn load(&self) -> Result<(), Error> {
        let Some(path) = self.keys_file() else {
            return Ok(());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let bad = |reason: String| Error::StateFile { path: path.clone(), reason };
        let stored: Vec<StoredKey> =
            serde_json::from_str(&text).map_err(|e| bad(format!("not the expected JSON: {e}")))?;
        let mut inner = self.lock();
        for s in stored {
            let der = STANDARD
                .decode(s.pkcs8.as_bytes())
                .map_err(|_| bad(format!("key {}/{} is not base64", s.name, s.version)))?;
            let key = RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|_| bad(format!("key {}/{} is not a PKCS#8 RSA key", s.name, s.version)))?;
            inner.keys.entry((vault_host(&s.vault), s.name)).or_default().push(KeyVersion {
                version: s.version,
                created: s.created,
                key: Arc::new(key),
            });
        }
        Ok(())
    }

    fn save(&self, inner: &Inner) -> Result<(), Error> {
        let Some(path) = self.keys_file() else {
            return Ok(());
        };
        let mut stored = Vec::new();
        for ((vault, name), versions) in &inner.keys {
            for v in versions {
                let der = v.key.to_pkcs8_der().map_err(|e| Error::KeyGeneration(format!("cannot encode key: {e}")))?;
                stored.push(StoredKey {
                    vault: vault.clone(),
                    name: name.clone(),
                    version: v.version.clone(),
                    created: v.created,
                    pkcs8: STANDARD.encode(der.as_bytes()),
                });
            }
        }
        let text =
            serde_json::to_string_pretty(&stored).map_err(|e| Error::Config(format!("cannot serialize keys: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))
    }

    /// Adds `key` as the newest version of (vault, name) and returns its version id.
    pub fn add_key_version(&self, vault: &str, name: &str, key: RsaPrivateKey) -> Result<ResolvedKey, Error> {
        let mut inner = self.lock();
        let resolved = push_version(&mut inner, vault_host(vault), name.to_string(), key);
        self.save(&inner)?;
        Ok(resolved)
    }

    /// Adds `key` as the first version of (vault, name) unless another request created the key
    /// meanwhile; returns the current version either way.
    pub fn add_first_version(&self, vault: &str, name: &str, key: RsaPrivateKey) -> Result<ResolvedKey, Error> {
        let mut inner = self.lock();
        let id = (vault_host(vault), name.to_string());
        if let Some(cur) = inner.keys.get(&id).and_then(|v| v.last()) {
            return Ok(resolved(cur));
        }
        let resolved = push_version(&mut inner, id.0, id.1, key);
        self.save(&inner)?;
        Ok(resolved)
    }

    /// Looks a key version up; `version` `None` or empty means the current one.
    pub fn lookup(&self, vault: &str, name: &str, version: Option<&str>) -> Result<ResolvedKey, KeyLookupError> {
        let inner = self.lock();
        let versions = inner
            .keys
            .get(&(vault_host(vault), name.to_string()))
            .filter(|v| !v.is_empty())
            .ok_or(KeyLookupError::NoSuchKey)?;
        match version.filter(|v| !v.is_empty()) {
            None => versions.last().map(resolved).ok_or(KeyLookupError::NoSuchKey),
            Some(ver) => versions
                .iter()
                .find(|k| k.version.eq_ignore_ascii_case(ver))
                .map(resolved)
                .ok_or(KeyLookupError::NoSuchVersion),
        }
    }

    /// Lists every key and its versions.
    pub fn list_keys(&self) -> Vec<KeyListing> {
        self.lock()
            .keys
            .iter()
            .map(|((vault, name), versions)| KeyListing {
                vault: vault.clone(),
                name: name.clone(),
                versions: versions.iter().map(|v| v.version.clone()).collect(),
            })
            .collect()
    }

    // -------------------------------------------------------------- tokens

    /// Issues a new token and remembers who got it; returns (token, expires_on).
    ///
    /// The token is shaped like Entra ID's: a JWT whose payload carries the identity claims
    /// clients read for messages (`tid`, `oid`, `appid`, `idtyp`, and `xms_mirid` for managed
    /// identities), with a random "signature" that makes every token unique. Nothing verifies
    /// the signature: the emulator recognises its tokens by their whole value.
    pub fn issue_token(
        &self,
        identity: &str,
        credential: CredentialKind,
        resource: &str,
        tenant: Option<&str>,
    ) -> (String, u64) {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        let expires_on = now_unix() + TOKEN_LIFETIME_SECS;
        let claims = token_claims(
            identity,
            credential,
            &normalize_resource(resource),
            tenant.unwrap_or(&self.settings.tenant),
            expires_on,
        );
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"RS256","kid":"kv-emulator"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b)
        );
        let mut inner = self.lock();
        let info = TokenInfo {
            identity: identity.to_string(),
            credential,
            resource: normalize_resource(resource),
            tenant: tenant.map(str::to_string),
            issued_seq: inner.seq + 1,
            expires_on,
        };
        inner.tokens.insert(token.clone(), info);
        (token, expires_on)
    }

    /// The values of every token issued so far, for tests that assert a client never prints one
    /// (the admin API never exposes them).
    pub fn token_values(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    /// The token's record if it is known, unexpired and issued for `resource`.
    pub fn check_token(&self, token: &str, resource: &str) -> Option<TokenInfo> {
        let inner = self.lock();
        let info = inner.tokens.get(token)?;
        (info.expires_on > now_unix() && info.resource == normalize_resource(resource)).then(|| info.clone())
    }

    /// Every token issued so far, in issue order.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        let mut v: Vec<TokenInfo> = self.lock().tokens.values().cloned().collect();
        v.sort_by_key(|t| t.issued_seq);
        v
    }

    // ------------------------------------------------------ faults, latency

    /// Queues a fault.
    pub fn add_fault(&self, fault: Fault) {
        if fault.count > 0 {
            self.lock().faults.push(fault);
        }
    }

    /// Faults still pending.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Consumes one pending fault matching `op`, if any.
    pub fn take_fault(&self, op: Op) -> Option<Fault> {
        let mut inner = self.lock();
        let idx = inner.faults.iter().position(|f| f.matches(op))?;
        let f = inner.faults[idx].clone();
        inner.faults[idx].count -= 1;
        if inner.faults[idx].count == 0 {
            inner.faults.remove(idx);
        }
        Some(Fault { count: 1, ..f })
    }

    /// Sets the latency for `latency.op` (replacing an earlier setting for the same scope);
    /// 0 ms removes it.
    pub fn set_latency(&self, latency: Latency) {
        let mut inner = self.lock();
        inner.latency.retain(|l| l.op != latency.op);
        if latency.ms > 0 {
            inner.latency.push(latency);
        }
    }

    /// The delay for a request of `op` (`None`: not an operation): the largest matching setting.
    pub fn latency_for(&self, op: Option<Op>) -> Duration {
        let inner = self.lock();
        let ms = inner.latency.iter().filter(|l| l.op.is_none() || l.op == op).map(|l| l.ms).max().unwrap_or(0);
        Duration::from_millis(ms)
    }

    /// Current latency settings.
    pub fn latencies(&self) -> Vec<Latency> {
        self.lock().latency.clone()
    }

    /// Makes Key Vault answer 403 to requests made with this identity's tokens.
    pub fn deny_identity(&self, identity: &str) {
        self.lock().denied.insert(identity.to_string());
    }

    /// Makes the proxy answer a tunnel to this vault (name, host or URL) as a proxy whose DNS
    /// lookup failed (502), to emulate a vault name that does not resolve.
    pub fn make_unresolvable(&self, vault: &str) {
        self.lock().unresolvable.insert(vault_host(vault));
    }

    /// Whether tunnels to `host` fail as an unresolvable name.
    pub fn is_unresolvable(&self, host: &str) -> bool {
        self.lock().unresolvable.contains(&host.to_ascii_lowercase())
    }

    /// Lifts every identity denial.
    pub fn clear_denied(&self) {
        self.lock().denied.clear();
    }

    /// Whether requests by `identity` are denied.
    pub fn is_denied(&self, identity: &str) -> bool {
        self.lock().denied.contains(identity)
    }

    /// Registers a certificate (DER) of an application: its assertions are verified against it.
    pub fn register_client_certificate(&self, client_id: &str, der: Vec<u8>) {
        let mut m = self.client_certificates.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(client_id.to_string()).or_default().push(der);
    }

    /// Registers a user for the password grant (replacing an earlier password).
    pub fn register_user(&self, username: &str, password: &str) {
        let mut m = self.users.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(username.to_ascii_lowercase(), password.to_string());
    }

    /// Whether `username` is registered with `password` (user names are case-insensitive, as UPNs).
    pub fn user_password_ok(&self, username: &str, password: &str) -> bool {
        let m = self.users.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&username.to_ascii_lowercase()).is_some_and(|p| p == password)
    }

    /// Remembers an Azure Arc secret written to `file`.
    pub fn add_arc_secret(&self, secret: String, file: PathBuf) {
        let mut m = self.arc_secrets.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(secret, file);
    }

    /// Consumes an Azure Arc secret: true when it was handed out (its key file is removed).
    pub fn take_arc_secret(&self, secret: &str) -> bool {
        let mut m = self.arc_secrets.lock().unwrap_or_else(|p| p.into_inner());
        match m.remove(secret) {
            Some(file) => {
                let _ = std::fs::remove_file(file);
                true
            }
            None => false,
        }
    }

    /// The certificates registered for `client_id`.
    pub fn client_certificates(&self, client_id: &str) -> Vec<Vec<u8>> {
        let m = self.client_certificates.lock().unwrap_or_else(|p| p.into_inner());
        m.get(client_id).cloned().unwrap_or_default()
    }

    /// Clears faults, latency, denials, unresolvable names and the request log (keys and tokens
    /// stay).
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.unresolvable.clear();
        inner.faults.clear();
        inner.latency.clear();
        inner.denied.clear();
        inner.log.clear();
    }

    // ------------------------------------------------------------------ log

    /// Appends to the request log, assigning `seq`.
    pub fn record(&self, mut entry: LogEntry) {
        let mut inner = self.lock();
        inner.seq += 1;
        entry.seq = inner.seq;
        if inner.log.len() >= LOG_CAP {
            inner.log.remove(0);
        }
        inner.log.push(entry);
    }

    /// A copy of the request log.
    pub fn log(&self) -> Vec<LogEntry> {
        self.lock().log.clone()
    }

    /// Empties the request log.
    pub fn clear_log(&self) {
        self.lock().log.clear();
    }
}

fn resolved(v: &KeyVersion) -> ResolvedKey {
    ResolvedKey { version: v.version.clone(), created: v.created, key: v.key.clone() }
}

fn push_version(inner: &mut Inner, vault: String, name: String, key: RsaPrivateKey) -> ResolvedKey {
    let v = KeyVersion { version: new_version_id(), created: now_unix(), key: Arc::new(key) };
    let r = resolved(&v);
    inner.keys.entry((vault, name)).or_default().push(v);
    r
}

/// `https://vault.azure.net/.default` and `https://vault.azure.net/` both mean
/// `https://vault.azure.net`.
pub fn normalize_resource(r: &str) -> String {
    let r = r.trim();
    let r = r.strip_suffix("/.default").unwrap_or(r);
    r.trim_end_matches('/').to_ascii_lowercase()
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    f.write_all(bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(persist: Option<PathBuf>) -> Settings {
        Settings {
            tenant: "t".into(),
            identity_header: "h".into(),
            client_secret: None,
            auto_create: true,
            persist_dir: persist,
            arc_key_dir: PathBuf::from(crate::config::ARC_KEY_DIR),
        }
    }

    #[test]
    fn versions_are_32_hex_chars_and_distinct() {
        let a = new_version_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, new_version_id());
    }

    #[test]
    fn vault_host_normalizes_the_three_spellings() {
        assert_eq!(vault_host("test-vault"), "test-vault.vault.azure.net");
        assert_eq!(vault_host("Test-Vault.vault.azure.net"), "test-vault.vault.azure.net");
        assert_eq!(vault_host("https://test-vault.vault.azure.net/"), "test-vault.vault.azure.net");
    }

    #[test]
    fn faults_are_consumed_per_op_and_untargeted_ones_skip_tokens() {
        let s = State::new(settings(None)).unwrap();
        s.add_fault(Fault { status: 503, count: 2, op: Some(Op::Decrypt), retry_after: None });
        s.add_fault(Fault { status: 500, count: 1, op: None, retry_after: None });
        assert_eq!(s.take_fault(Op::Token), None);
        assert_eq!(s.take_fault(Op::Encrypt).map(|f| f.status), Some(500));
        assert_eq!(s.take_fault(Op::Encrypt), None);
        assert_eq!(s.take_fault(Op::Decrypt).map(|f| f.status), Some(503));
        assert_eq!(s.take_fault(Op::Decrypt).map(|f| f.status), Some(503));
        assert_eq!(s.take_fault(Op::Decrypt), None);
    }

    #[test]
    fn latency_takes_the_largest_matching_setting() {
        let s = State::new(settings(None)).unwrap();
        s.set_latency(Latency { ms: 20, op: None });
        s.set_latency(Latency { ms: 50, op: Some(Op::Decrypt) });
        assert_eq!(s.latency_for(Some(Op::Decrypt)), Duration::from_millis(50));
        assert_eq!(s.latency_for(Some(Op::Get)), Duration::from_millis(20));
        s.set_latency(Latency { ms: 0, op: None });
        assert_eq!(s.latency_for(Some(Op::Get)), Duration::ZERO);
    }

    #[test]
    fn tokens_are_checked_against_resource_and_remembered() {
        let s = State::new(settings(None)).unwrap();
        let (tok, exp) = s.issue_token(
            "managed-identity",
            CredentialKind::ManagedIdentity,
            "https://vault.azure.net/.default",
            None,
        );
        assert!(exp > now_unix());
        assert!(s.check_token(&tok, "https://vault.azure.net").is_some());
        assert!(s.check_token(&tok, "https://storage.azure.com").is_none());
        assert!(s.check_token("nope", "https://vault.azure.net").is_none());
        assert_eq!(s.tokens().len(), 1);
        assert_eq!(s.tokens()[0].credential, CredentialKind::ManagedIdentity);
    }

    #[test]
    fn keys_persist_across_restarts_and_unknown_versions_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::new(settings(Some(dir.path().to_path_buf()))).unwrap();
        let k = generate_rsa().unwrap();
        let first = s.add_first_version("test-vault", "k", k).unwrap();
        assert_eq!(s.lookup("test-vault.vault.azure.net", "k", None).unwrap().version, first.version);
        assert_eq!(s.lookup("test-vault", "k", Some("0123")).err(), Some(KeyLookupError::NoSuchVersion));
        assert_eq!(s.lookup("test-vault", "other", None).err(), Some(KeyLookupError::NoSuchKey));
        drop(s);
        let again = State::new(settings(Some(dir.path().to_path_buf()))).unwrap();
        let back = again.lookup("test-vault", "k", Some(&first.version)).unwrap();
        assert_eq!(back.key.as_ref(), first.key.as_ref());
    }
}
