//! Azure Key Vault master keys, through the official SDK (`azure_security_keyvault_keys` 1.0).
//!
//! As sops 3.11 does (`azkv/keysource.go`), the data key (or Shamir share) is encrypted by the vault
//! with RSA-OAEP-256, and `enc` is the ciphertext in base64url without padding. The key version is
//! always resolved and recorded: Flux's kustomize-controller decrypts with the recorded version, so
//! a file written with an empty version would break at the next key rotation.
//!
//! One [`AzureSource`] serves every file of a run, from several threads: it holds one credential
//! chain with one cached token ([`credential`]), one `KeyClient` (and so one HTTP connection pool)
//! per vault, and one tokio runtime that the synchronous [`KeySource`] methods block on. All of it
//! is built on first use, so runs without Azure keys pay nothing.
//!
//! Failures are retried by this module, not by the SDK (its retries are turned off): 408, 429 and
//! 5xx answers and broken connections are retried with exponential backoff (honouring
//! `Retry-After`) within one bounded budget per operation, 30 s unless `KVSOPS_AZURE_TIMEOUT` says
//! otherwise, so an unreachable vault fails in bounded time with the vault and the cause named.
//! Everything else fails at once with a message saying what to do (permissions, names, versions).

pub mod certificate;
pub mod cli;
pub mod credential;
pub mod doctor;
pub mod managed_identity;
pub mod password;
mod reach;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientOptions, Context, ExponentialRetryOptions, Request, RetryOptions};
use azure_security_keyvault_keys::models::{
    EncryptionAlgorithm, KeyClientDecryptOptions, KeyClientEncryptOptions, KeyClientGetKeyOptions,
    KeyOperationParameters,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceExt};
use base64::Engine as _;
use regex::Regex;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyKind, KeySource, KeySpec, MasterKeyEntry};
use credential::{one_line, ChainCredential, CredentialEnv};

/// The key type name in metadata and messages.
const KEY_TYPE: &str = "azure_kv";

/// The form a key URL must have, for messages.
pub const URL_FORM: &str = "https://<vault>.vault.azure.net/keys/<name>[/<version>]";

/// The default time budget of one key operation, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The variable that overrides [`DEFAULT_TIMEOUT`] (seconds, fractions allowed).
pub const TIMEOUT_VAR: &str = "KVSOPS_AZURE_TIMEOUT";

/// Parses an Azure Key Vault key URL, `https://<vault>/keys/<name>[/<version>]`, as sops does
/// (surrounding whitespace is ignored; an empty version means "resolve the current one").
pub fn parse_key_url(s: &str) -> Result<KeySpec> {
    static RE: OnceLock<std::result::Result<Regex, regex::Error>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r"^(https://[^/]+)/keys/([^/]+)(/[^/]*)?$"))
        .as_ref()
        .map_err(|e| Error::Config(format!("internal error in the Azure Key Vault URL pattern: {e}")))?;
    let url = s.trim();
    let caps = re.captures(url).ok_or_else(|| {
        Error::Config(format!("invalid Azure Key Vault key URL {url:?}: expected the form {URL_FORM}"))
    })?;
    let part = |i: usize| caps.get(i).map(|m| m.as_str()).unwrap_or("");
    let version = part(3).trim_start_matches('/');
    Ok(KeySpec::AzureKv {
        vault_url: part(1).to_string(),
        name: part(2).to_string(),
        version: (!version.is_empty()).then(|| version.to_string()),
    })
}

/// Parses a comma-separated list of key URLs (`--azure-kv`, `SOPS_AZURE_KEYVAULT_URLS`); empty
/// items are skipped.
pub fn parse_key_urls(list: &str) -> Result<Vec<KeySpec>> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_key_url).collect()
}

/// `enc` as sops writes it: base64url without padding (Go's `base64.RawURLEncoding`).
pub fn encode_enc(ciphertext: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ciphertext)
}

/// Decodes `enc`; trailing `=` padding is tolerated.
pub fn decode_enc(enc: &str) -> std::result::Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(enc.trim().trim_end_matches('='))
        .map_err(|e| format!("enc is not base64url: {e}"))
}

/// Settings of the Azure source, captured from the environment at start.
#[derive(Clone, Debug)]
pub struct AzureConfig {
    /// The credential chain's variables.
    pub env: CredentialEnv,
    /// The budget of one operation (retries included), or why `KVSOPS_AZURE_TIMEOUT` is invalid.
    pub timeout: std::result::Result<Duration, String>,
    /// The first retry delay; it doubles on every retry, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest single wait between attempts (a longer `Retry-After` is cut to this).
    pub max_backoff: Duration,
}

impl AzureConfig {
    /// Reads the Azure variables and `KVSOPS_AZURE_TIMEOUT`.
    pub fn from_env() -> Self {
        AzureConfig {
            env: CredentialEnv::from_env(),
            timeout: parse_timeout(std::env::var(TIMEOUT_VAR).ok().as_deref()),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Parses the `KVSOPS_AZURE_TIMEOUT` value: seconds, fractions allowed; unset means 30 s.
pub fn parse_timeout(v: Option<&str>) -> std::result::Result<Duration, String> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_TIMEOUT);
    };
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{TIMEOUT_VAR}={v:?} is not a number of seconds between 0 and 3600")),
    }
}

/// Azure Key Vault key source: shared by all files of a run, safe to call from several threads.
pub struct AzureSource {
    config: AzureConfig,
    shared: OnceLock<std::result::Result<Arc<Shared>, String>>,
}

/// What is built on first use and then shared.
struct Shared {
    runtime: tokio::runtime::Runtime,
    credential: Arc<ChainCredential>,
    /// One client per vault URL; each keeps its HTTP connection pool and its auth scope.
    clients: Mutex<HashMap<String, Arc<KeyClient>>>,
    /// Current versions resolved in this run, by (vault URL, key name).
    versions: Mutex<HashMap<(String, String), String>>,
    budget: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl AzureSource {
    /// Configured from the environment (nothing is contacted until a key is used).
    pub fn from_env() -> Self {
        AzureSource::with_config(AzureConfig::from_env())
    }

    /// Configured explicitly (tests).
    pub fn with_config(config: AzureConfig) -> Self {
        AzureSource { config, shared: OnceLock::new() }
    }

    fn shared(&self) -> Result<&Arc<Shared>> {
        self.shared.get_or_init(|| build_shared(&self.config).map(Arc::new)).as_ref().map_err(|e| key_error(e.clone()))
    }
}

fn build_shared(config: &AzureConfig) -> std::result::Result<Shared, String> {
    let budget = config.timeout.clone()?;
    // Token requests get the SDK's own bounded retries; they also count against the budget of the
    // key operation that needs the token.
    let token_retry = RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: time::Duration::milliseconds(200),
        max_retries: 4,
        max_total_elapsed: time::Duration::try_from(budget / 2).unwrap_or(time::Duration::seconds(15)),
        max_delay: time::Duration::seconds(4),
    });
    let credential = ChainCredential::new(&config.env, token_retry)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kvsops-azure")
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the Azure I/O runtime: {e}"))?;
    Ok(Shared {
        runtime,
        credential: Arc::new(credential),
        clients: Mutex::new(HashMap::new()),
        versions: Mutex::new(HashMap::new()),
        budget,
        initial_backoff: config.initial_backoff,
        max_backoff: config.max_backoff,
    })
}

/// A key as addressed by one operation.
#[derive(Clone, Debug)]
struct Target<'a> {
    vault_url: &'a str,
    name: &'a str,
    /// `None` or empty: the latest version.
    version: Option<&'a str>,
}

impl Target<'_> {
    fn url(&self) -> String {
        match self.version.filter(|v| !v.is_empty()) {
            Some(v) => format!("{}/keys/{}/{v}", self.vault_url, self.name),
            None => format!("{}/keys/{} (latest version)", self.vault_url, self.name),
        }
    }
}

/// The three vault operations kvsops performs, with the permission each needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    GetKey,
    Encrypt,
    Decrypt,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::GetKey => "read the current version of",
            Op::Encrypt => "encrypt the data key with",
            Op::Decrypt => "decrypt the data key with",
        }
    }
    fn permission(self) -> &'static str {
        match self {
            Op::GetKey => "get",
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
        }
    }
}

/// How a failed attempt is handled and reported.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    /// 401/403: the identity lacks a permission, or its token is not accepted.
    Denied { status: u16, detail: String },
    /// 404: no such key or version.
    NotFound { detail: String },
    /// Worth another attempt: 408, 429, 5xx, or a broken connection. `retry_after` from the server.
    Transient { what: String, retry_after: Option<Duration> },
    /// The vault host cannot be resolved or its certificate is not trusted: retrying cannot help.
    Unreachable { cause: String },
    /// No Azure credential gave a token.
    Credential { detail: String },
    /// Anything else (400 and other statuses, unexpected answers).
    Other { detail: String },
}

/// The message of azure_core's `BearerTokenCredentialPolicy` when it finds its token cache empty
/// after filling it (see [`classify`]).
const SDK_EMPTIED_TOKEN_CACHE: &str = "The request failed due to an error while fetching the access token.";

const RETRY_AFTER_HEADERS: [&str; 3] = ["retry-after-ms", "x-ms-retry-after-ms", "retry-after"];

fn classify(e: &azure_core::Error) -> Class {
    let detail = one_line(&e.to_string());
    match e.kind() {
        ErrorKind::HttpResponse { status, error_code, raw_response } => {
            let code = u16::from(*status);
            let detail = unescape_detail(&detail);
            let detail = match error_code.as_deref() {
                Some(c) if !detail.contains(c) => format!("{c}: {detail}"),
                _ => detail,
            };
            match code {
                401 | 403 => Class::Denied { status: code, detail },
                404 => Class::NotFound { detail },
                408 | 429 | 500..=599 => {
                    let retry_after = raw_response.as_ref().and_then(|r| {
                        RETRY_AFTER_HEADERS.iter().find_map(|h| {
                            let v = r.headers().get_optional_str(&HeaderName::from_static(h))?;
                            let n = v.trim().parse::<u64>().ok()?;
                            Some(if h.ends_with("-ms") { Duration::from_millis(n) } else { Duration::from_secs(n) })
                        })
                    });
                    Class::Transient { what: format!("HTTP {code} ({detail})"), retry_after }
                }
                _ => Class::Other { detail: format!("HTTP {code}: {detail}") },
            }
        }
        // azure_core's bearer policy gives this when a concurrent request's 401 emptied the shared
        // token cache between two of its steps (a race in the SDK, not a credential failure): the
        // next attempt fills the cache again.
        ErrorKind::Credential if e.to_string() == SDK_EMPTIED_TOKEN_CACHE => {
            Class::Transient { what: "the token cache was reset by a parallel request".into(), retry_after: None }
        }
        ErrorKind::Credential => Class::Credential { detail: e.to_string() },
        ErrorKind::Io | ErrorKind::Connection => {
            let cause = cause_chain(e);
            let lower = cause.to_ascii_lowercase();
            let dns = ["dns error", "failed to lookup address", "name or service not known", "no such host"];
            let tls = ["certificate", "unknownissuer", "invalid peer", "tls handshake"];
            if dns.iter().chain(tls.iter()).any(|p| lower.contains(p)) {
                Class::Unreachable { cause }
            } else {
                Class::Transient { what: cause, retry_after: None }
            }
        }
        _ => Class::Other { detail: cause_chain(e) },
    }
}

/// Key Vault messages carry line breaks (`"...\r\nCaller: ..."`); when an SDK message shows the
/// JSON body, they appear as escape sequences. Both become single spaces.
fn unescape_detail(s: &str) -> String {
    let s = s
        .replace("\\r\\n", " ")
        .replace("\\n", " ")
        .replace("\\r", " ")
        .replace("\\t", " ")
        .replace("\\\"", "\"")
        .replace("\\u0027", "'");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The tenant named by a vault's challenge (`authorization="https://login.../<tenant>"`),
/// recorded per vault so tokens are asked for that tenant, as the Go SDK does.
#[derive(Debug, Default)]
struct ChallengeTenant(Mutex<Option<String>>);

impl ChallengeTenant {
    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

/// The tenant in a `WWW-Authenticate: Bearer authorization="..."` (or `authorization_uri`) value.
fn challenge_tenant(header: &str) -> Option<String> {
    let value = ["authorization=\"", "authorization_uri=\""].iter().find_map(|k| {
        let start = header.find(k)? + k.len();
        let end = header[start..].find('"')?;
        Some(&header[start..start + end])
    })?;
    let tenant = value.trim_end_matches('/').rsplit('/').next()?;
    (!tenant.is_empty() && !tenant.contains(':')).then(|| tenant.to_string())
}

/// Sits after the SDK's authentication policy and before the transport: it sees the vault's 401
/// challenge before the SDK answers it, and records its tenant.
#[derive(Debug)]
struct ChallengeTenantPolicy(Arc<ChallengeTenant>);

#[async_trait::async_trait]
impl Policy for ChallengeTenantPolicy {
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        let Some((first, rest)) = next.split_first() else {
            return Err(azure_core::Error::with_message(ErrorKind::Other, "internal error: empty HTTP pipeline"));
        };
        let response = first.send(ctx, request, rest).await?;
        if u16::from(response.status()) == 401 {
            let header = response.headers().get_optional_str(&HeaderName::from_static("www-authenticate"));
            if let Some(tenant) = header.and_then(challenge_tenant) {
                if let Ok(mut g) = self.0 .0.lock() {
                    *g = Some(tenant);
                }
            }
        }
        Ok(response)
    }
}

/// The chain as one vault's client sees it: tokens are asked for the tenant of that vault.
#[derive(Debug)]
struct VaultCredential {
    chain: Arc<ChainCredential>,
    tenant: Arc<ChallengeTenant>,
}

#[async_trait::async_trait]
impl TokenCredential for VaultCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.chain.get_token_for_tenant(scopes, self.tenant.get().as_deref(), options).await
    }
}

/// An error and its sources as one line, without repeats ("failed to execute request: error
/// sending request for url (...): dns error: ...").
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let msg = one_line(&err.to_string());
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// A successful operation and how it went.
#[derive(Debug)]
struct Attempted<T> {
    value: T,
    attempts: u32,
    /// The last transient error that was retried, if any.
    retried: Option<String>,
}

/// Why an operation finally failed (after retries, if any).
#[derive(Debug)]
struct Failure {
    class: Class,
    attempts: u32,
    elapsed: Duration,
    /// The budget ran out while waiting for an answer.
    timed_out: bool,
}

/// The user-facing message for a failure: the key, what was attempted, why, and what to do.
fn failure_message(op: Op, target: &Target<'_>, identity: Option<&str>, f: &Failure, budget: Duration) -> String {
    let key = target.url();
    let vault = target.vault_url;
    let who = identity
        .map(|i| format!("the identity ({i})"))
        .unwrap_or_else(|| "the identity kvsops authenticated as".into());
    let tries = if f.attempts > 1 {
        format!(" after {} attempts in {:.1} s", f.attempts, f.elapsed.as_secs_f64())
    } else {
        String::new()
    };
    if f.timed_out {
        let last = match &f.class {
            Class::Transient { what, .. } => format!("; last error: {what}"),
            _ => String::new(),
        };
        return format!(
            "could not {} {key}: vault {vault} did not answer within {:.0} s{tries}{last} \
             (check the network path to the vault; {TIMEOUT_VAR} sets this limit)",
            op.verb(),
            budget.as_secs_f64()
        );
    }
    match &f.class {
        Class::Denied { status, detail } => {
            let grant = "grant it the role \"Key Vault Crypto User\" on the vault or the key (vaults using access \
                         policies: an access policy with the key permissions get, encrypt and decrypt)";
            if *status == 401 {
                format!(
                    "could not {} {key}: Key Vault did not accept the token of {who} (HTTP 401: {detail}); check that the \
                     identity belongs to the vault's tenant (AZURE_TENANT_ID) and, once it authenticates, {grant}",
                    op.verb()
                )
            } else {
                format!(
                    "could not {} {key}: {who} lacks the keys/{} permission on key {} in vault {vault} (HTTP 403: {detail}); {grant}",
                    op.verb(),
                    op.permission(),
                    target.name
                )
            }
        }
        Class::NotFound { detail } => {
            let version = match target.version.filter(|v| !v.is_empty()) {
                Some(v) => format!("version {v} of key {}", target.name),
                None => format!("key {}", target.name),
            };
            let vault_name = vault.trim_start_matches("https://").split(['.', ':']).next().unwrap_or("<vault>");
            format!(
                "could not {} {key}: {version} was not found in vault {vault} (HTTP 404: {detail}); check the name and \
                 version (az keyvault key list-versions --vault-name {vault_name} --name {})",
                op.verb(),
                target.name
            )
        }
        Class::Transient { what, .. } => format!(
            "could not {} {key}: vault {vault} kept failing{tries}: {what} (the retry budget is {:.0} s; {TIMEOUT_VAR} sets it)",
            op.verb(),
            budget.as_secs_f64()
        ),
        Class::Unreachable { cause } => format!(
            "could not {} {key}: cannot reach vault {vault}: {cause} (check the vault URL, DNS and proxy settings, and \
             that the vault's TLS certificate is trusted)",
            op.verb()
        ),
        Class::Credential { detail } => format!(
            "could not {} {key}: no Azure credential: {detail}\n(see docs/azure-key-vault.md, \"Credentials\")",
            op.verb()
        ),
        Class::Other { detail } => format!("could not {} {key}: {detail}", op.verb()),
    }
}

fn key_error(message: String) -> Error {
    Error::Key { key_type: KEY_TYPE, message }
}

/// The delay before retry number `retry` (1-based): exponential from `initial`, capped, with a
/// little jitter so parallel callers do not retry in step.
fn backoff(retry: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32.checked_shl(retry.saturating_sub(1).min(16)).unwrap_or(u32::MAX));
    let jitter = Duration::from_millis(u64::from(rand::random::<u8>()) % 100);
    exp.saturating_add(jitter).min(max)
}

impl Shared {
    /// Runs `fut` to completion on the shared runtime from synchronous code, from any thread.
    fn block_on<T: Send, Fut: Future<Output = T>>(&self, make: impl FnOnce() -> Fut + Send) -> T {
        if tokio::runtime::Handle::try_current().is_ok() {
            // Called from inside some runtime: blocking here would panic, so use a helper thread.
            std::thread::scope(|s| {
                let h = s.spawn(|| self.runtime.block_on(make()));
                match h.join() {
                    Ok(v) => v,
                    Err(p) => std::panic::resume_unwind(p),
                }
            })
        } else {
            self.runtime.block_on(make())
        }
    }

    fn client(&self, vault_url: &str) -> Result<Arc<KeyClient>> {
        let mut clients = self.clients.lock().map_err(|_| key_error("internal error: client cache poisoned".into()))?;
        if let Some(c) = clients.get(vault_url) {
            return Ok(c.clone());
        }
        let tenant = Arc::new(ChallengeTenant::default());
        let options = KeyClientOptions {
            // Retries are ours (see the module doc); the SDK's would stack on top of them.
            client_options: ClientOptions {
                retry: RetryOptions::none(),
                per_try_policies: vec![Arc::new(ChallengeTenantPolicy(tenant.clone()))],
                ..Default::default()
            },
            ..Default::default()
        };
        let credential = Arc::new(VaultCredential { chain: self.credential.clone(), tenant });
        let client = KeyClient::new(vault_url, credential, Some(options))
            .map_err(|e| key_error(format!("invalid vault URL {vault_url}: {}", one_line(&e.to_string()))))?;
        let client = Arc::new(client);
        clients.insert(vault_url.to_string(), client.clone());
        Ok(client)
    }

    /// Runs one vault operation with bounded retries; errors are reported with the key named.
    async fn call<T, F, Fut>(&self, op: Op, target: &Target<'_>, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = azure_core::Result<T>>,
    {
        match self.call_classified(attempt).await {
            Ok(done) => Ok(done.value),
            Err(failure) => {
                let identity = self.credential.identity();
                Err(key_error(failure_message(op, target, identity.as_deref(), &failure, self.budget)))
            }
        }
    }

    /// [`Shared::call`] without the message: the classified failure, or the value with how many
    /// attempts it took (`kvsops doctor` reports both).
    async fn call_classified<T, F, Fut>(&self, mut attempt: F) -> std::result::Result<Attempted<T>, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = azure_core::Result<T>>,
    {
        let start = Instant::now();
        let deadline = start + self.budget;
        let mut attempts = 0u32;
        let mut last: Option<Class> = None;
        let failure = loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = match tokio::time::timeout(remaining, attempt()).await {
                Ok(r) => r,
                Err(_) => {
                    break Failure {
                        class: last.unwrap_or(Class::Other { detail: "no answer".into() }),
                        attempts,
                        elapsed: start.elapsed(),
                        timed_out: true,
                    }
                }
            };
            let e = match result {
                Ok(value) => {
                    let retried = last.and_then(|c| match c {
                        Class::Transient { what, .. } => Some(what),
                        _ => None,
                    });
                    return Ok(Attempted { value, attempts, retried });
                }
                Err(e) => e,
            };
            let class = classify(&e);
            let Class::Transient { retry_after, .. } = &class else {
                break Failure { class, attempts, elapsed: start.elapsed(), timed_out: false };
            };
            let delay = backoff(attempts, self.initial_backoff, self.max_backoff)
                .max(retry_after.unwrap_or_default().min(self.max_backoff));
            if Instant::now() + delay >= deadline {
                break Failure { class, attempts, elapsed: start.elapsed(), timed_out: false };
            }
            last = Some(class);
            tokio::time::sleep(delay).await;
        };
        Err(failure)
    }

    /// The key's current version: asked once per run per key.
    async fn current_version(&self, client: &KeyClient, vault_url: &str, name: &str) -> Result<String> {
        let cache_key = (vault_url.to_string(), name.to_string());
        if let Some(v) = self.versions.lock().ok().and_then(|m| m.get(&cache_key).cloned()) {
            return Ok(v);
        }
        let target = Target { vault_url, name, version: None };
        let key = self
            .call(Op::GetKey, &target, || async {
                client.get_key(name, None::<KeyClientGetKeyOptions<'_>>).await?.into_model()
            })
            .await?;
        let version =
            key.resource_id().ok().and_then(|id| id.version).filter(|v| !v.is_empty()).ok_or_else(|| {
                key_error(format!("vault {vault_url} returned key {name} without a version in its id"))
            })?;
        if let Ok(mut m) = self.versions.lock() {
            m.insert(cache_key, version.clone());
        }
        Ok(version)
    }

    async fn wrap(&self, vault_url: &str, name: &str, version: Option<&str>, secret: &[u8]) -> Result<MasterKeyEntry> {
        let client = self.client(vault_url)?;
        let version = match version.filter(|v| !v.is_empty()) {
            Some(v) => v.to_string(),
            None => self.current_version(&client, vault_url, name).await?,
        };
        let target = Target { vault_url, name, version: Some(&version) };
        let result = self
            .call(Op::Encrypt, &target, || {
                let params = KeyOperationParameters {
                    algorithm: Some(EncryptionAlgorithm::RsaOaep256),
                    value: Some(secret.to_vec()),
                    ..Default::default()
                };
                let options = KeyClientEncryptOptions { key_version: Some(version.clone()), ..Default::default() };
                let client = &client;
                async move { client.encrypt(name, params.try_into()?, Some(options)).await?.into_model() }
            })
            .await?;
        let ciphertext = result
            .result
            .filter(|r| !r.is_empty())
            .ok_or_else(|| key_error(format!("vault {vault_url} returned no ciphertext for {}", target.url())))?;
        Ok(MasterKeyEntry::AzureKv {
            vault_url: vault_url.to_string(),
            name: name.to_string(),
            version,
            created_at: crate::timefmt::format_rfc3339(crate::timefmt::now_utc()),
            enc: encode_enc(&ciphertext),
        })
    }

    async fn unwrap(&self, vault_url: &str, name: &str, version: &str, enc: &str) -> Result<Zeroizing<Vec<u8>>> {
        let target = Target { vault_url, name, version: Some(version) };
        let ciphertext = decode_enc(enc).map_err(|e| key_error(format!("{}: {e}", target.url())))?;
        let client = self.client(vault_url)?;
        let result = self
            .call(Op::Decrypt, &target, || {
                let params = KeyOperationParameters {
                    algorithm: Some(EncryptionAlgorithm::RsaOaep256),
                    value: Some(ciphertext.clone()),
                    ..Default::default()
                };
                let client = &client;
                async move {
                    client
                        .decrypt(name, version, params.try_into()?, None::<KeyClientDecryptOptions<'_>>)
                        .await?
                        .into_model()
                }
            })
            .await?;
        let plain = Zeroizing::new(result.result.unwrap_or_default());
        if plain.is_empty() {
            return Err(key_error(format!("vault {vault_url} returned an empty data key for {}", target.url())));
        }
        Ok(plain)
    }
}

impl KeySource for AzureSource {
    fn handles(&self, kind: KeyKind) -> bool {
        kind == KeyKind::AzureKv
    }

    fn wrap(&self, spec: &KeySpec, secret: &[u8]) -> Result<MasterKeyEntry> {
        let KeySpec::AzureKv { vault_url, name, version } = spec else {
            return Err(key_error(format!("{} is not an Azure Key Vault key", spec.describe())));
        };
        let shared = self.shared()?;
        shared.block_on(|| shared.wrap(vault_url, name, version.as_deref(), secret))
    }

    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
        let MasterKeyEntry::AzureKv { vault_url, name, version, enc, .. } = entry else {
            return Err(key_error(format!("{} is not an Azure Key Vault key", entry.spec().describe())));
        };
        let shared = self.shared()?;
        shared.block_on(|| shared.unwrap(vault_url, name, version, enc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::headers::Headers;
    use azure_core::http::{RawResponse, StatusCode};

    fn spec(vault: &str, name: &str, version: Option<&str>) -> KeySpec {
        KeySpec::AzureKv { vault_url: vault.into(), name: name.into(), version: version.map(Into::into) }
    }

    #[test]
    fn parses_key_urls_like_sops() {
        let v = "https://myvault.vault.azure.net";
        assert_eq!(
            parse_key_url(&format!("{v}/keys/sops-key/0123abcd")).unwrap(),
            spec(v, "sops-key", Some("0123abcd"))
        );
        assert_eq!(parse_key_url(&format!("  {v}/keys/sops-key\n")).unwrap(), spec(v, "sops-key", None));
        // A trailing slash is an empty version, resolved later.
        assert_eq!(parse_key_url(&format!("{v}/keys/sops-key/")).unwrap(), spec(v, "sops-key", None));
        // Sovereign clouds and ports are just hosts.
        assert_eq!(
            parse_key_url("https://v.vault.azure.cn:443/keys/k").unwrap(),
            spec("https://v.vault.azure.cn:443", "k", None)
        );
    }

    #[test]
    fn refuses_malformed_key_urls_with_the_expected_form() {
        for bad in [
            "http://myvault.vault.azure.net/keys/k",
            "https://myvault.vault.azure.net/secrets/k",
            "https://myvault.vault.azure.net/keys/",
            "https://myvault.vault.azure.net/keys/k/v/extra",
            "https://myvault.vault.azure.net/",
            "myvault/keys/k",
            "",
        ] {
            let e = parse_key_url(bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains(URL_FORM), "{bad}: {msg}");
        }
    }

    #[test]
    fn parses_comma_separated_lists() {
        let l = parse_key_urls("https://a.vault.azure.net/keys/k1/v1, https://b.vault.azure.net/keys/k2,").unwrap();
        assert_eq!(
            l,
            vec![spec("https://a.vault.azure.net", "k1", Some("v1")), spec("https://b.vault.azure.net", "k2", None)]
        );
        assert!(parse_key_urls("").unwrap().is_empty());
        assert!(parse_key_urls("https://a.vault.azure.net/keys/k1, nope").is_err());
    }

    #[test]
    fn enc_is_base64url_without_padding() {
        // 0xfb 0xff needs both URL-safe characters and (in standard base64) padding.
        let bytes = [0xfbu8, 0xff, 0xfe, 0x3e, 0x3f];
        let enc = encode_enc(&bytes);
        assert_eq!(enc, "-__-Pj8");
        assert!(!enc.contains('=') && !enc.contains('+') && !enc.contains('/'));
        assert_eq!(decode_enc(&enc).unwrap(), bytes);
        assert_eq!(decode_enc("-__-Pj8=").unwrap(), bytes);
        assert!(decode_enc("+//+Pj8").is_err(), "standard alphabet is not sops's");
        // A 256-byte RSA-2048 ciphertext encodes to 342 characters, as in files sops writes.
        assert_eq!(encode_enc(&[7u8; 256]).len(), 342);
    }

    #[test]
    fn timeout_values() {
        assert_eq!(parse_timeout(None).unwrap(), DEFAULT_TIMEOUT);
        assert_eq!(parse_timeout(Some("2.5")).unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_timeout(Some(" 10 ")).unwrap(), Duration::from_secs(10));
        for bad in ["0", "-1", "abc", "inf", "99999"] {
            assert!(parse_timeout(Some(bad)).unwrap_err().contains(TIMEOUT_VAR), "{bad}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let (i, m) = (Duration::from_millis(250), Duration::from_secs(8));
        let b1 = backoff(1, i, m);
        let b3 = backoff(3, i, m);
        assert!(b1 >= i && b1 < i + Duration::from_millis(100), "{b1:?}");
        assert!(b3 >= Duration::from_millis(1000) && b3 < Duration::from_millis(1100), "{b3:?}");
        assert_eq!(backoff(40, i, m), m);
    }

    fn http_error(status: u16, code: &str, message: &str, headers: &[(&'static str, &str)]) -> azure_core::Error {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.insert(HeaderName::from_static(k), v.to_string());
        }
        let status = StatusCode::from(status);
        let raw = RawResponse::from_bytes(status, h, Vec::<u8>::new());
        azure_core::Error::with_message(
            ErrorKind::HttpResponse { status, error_code: Some(code.into()), raw_response: Some(Box::new(raw)) },
            message.to_string(),
        )
    }

    #[test]
    fn classifies_service_answers() {
        assert!(matches!(classify(&http_error(403, "Forbidden", "no", &[])), Class::Denied { status: 403, .. }));
        assert!(matches!(classify(&http_error(401, "Unauthorized", "no", &[])), Class::Denied { status: 401, .. }));
        assert!(matches!(classify(&http_error(404, "KeyNotFound", "no", &[])), Class::NotFound { .. }));
        assert!(matches!(classify(&http_error(400, "BadParameter", "no", &[])), Class::Other { .. }));
        assert_eq!(
            classify(&http_error(429, "Throttled", "slow down", &[("retry-after", "3")])),
            Class::Transient {
                what: "HTTP 429 (Throttled: slow down)".into(),
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert!(matches!(
            classify(&http_error(503, "x", "y", &[("retry-after-ms", "40")])),
            Class::Transient { retry_after: Some(d), .. } if d == Duration::from_millis(40)
        ));
        assert!(matches!(classify(&http_error(500, "x", "y", &[])), Class::Transient { retry_after: None, .. }));
        let dns = azure_core::Error::with_error(
            ErrorKind::Connection,
            std::io::Error::other("dns error: failed to lookup address information"),
            "failed to execute `reqwest` request",
        );
        assert!(matches!(classify(&dns), Class::Unreachable { cause } if cause.contains("failed to lookup address")));
        let reset = azure_core::Error::with_error(
            ErrorKind::Io,
            std::io::Error::other("connection reset by peer"),
            "failed to execute",
        );
        assert!(matches!(classify(&reset), Class::Transient { .. }));
        // The SDK's emptied token cache is retried; a credential's own failure is not.
        let raced = azure_core::Error::with_message(ErrorKind::Credential, SDK_EMPTIED_TOKEN_CACHE);
        assert!(matches!(classify(&raced), Class::Transient { .. }));
        let no_credential =
            azure_core::Error::with_message(ErrorKind::Credential, "ManagedIdentityCredential: no endpoint");
        assert!(matches!(classify(&no_credential), Class::Credential { .. }));
    }

    #[test]
    fn escaped_line_breaks_in_vault_messages_become_spaces() {
        let e = http_error(
            403,
            "Forbidden",
            "Operation decrypt is not permitted on this key.\\r\\nCaller: appid=abc;\\r\\nVault: kv1;",
            &[],
        );
        let Class::Denied { detail, .. } = classify(&e) else { panic!("not denied") };
        assert!(!detail.contains('\\') && !detail.contains('\n'), "{detail}");
        assert!(detail.contains("not permitted on this key. Caller: appid=abc; Vault: kv1;"), "{detail}");
        let e = http_error(400, "BadParameter", "line one\r\nline two", &[]);
        let Class::Other { detail } = classify(&e) else { panic!("not other") };
        assert!(detail.contains("line one line two"), "{detail}");
    }

    #[test]
    fn the_challenge_names_the_tenant() {
        let h = r#"Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net""#;
        assert_eq!(challenge_tenant(h).as_deref(), Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        let h = r#"Bearer authorization_uri="https://login.windows.net/t1/", scope="https://vault.azure.net/.default""#;
        assert_eq!(challenge_tenant(h).as_deref(), Some("t1"));
        assert_eq!(challenge_tenant(r#"Bearer resource="https://vault.azure.net""#), None);
    }

    fn target() -> Target<'static> {
        Target { vault_url: "https://kv1.vault.azure.net", name: "sops-key", version: Some("0a1b2c") }
    }

    #[test]
    fn forbidden_names_identity_permission_key_and_role() {
        let f = Failure {
            class: classify(&http_error(
                403,
                "Forbidden",
                "The user, group or application 'appid=abc' does not have keys decrypt permission",
                &[],
            )),
            attempts: 1,
            elapsed: Duration::ZERO,
            timed_out: false,
        };
        let m =
            failure_message(Op::Decrypt, &target(), Some("ManagedIdentityCredential, appid abc"), &f, DEFAULT_TIMEOUT);
        for needle in [
            "https://kv1.vault.azure.net/keys/sops-key/0a1b2c",
            "ManagedIdentityCredential, appid abc",
            "keys/decrypt",
            "Key Vault Crypto User",
            "access policy",
            "HTTP 403",
        ] {
            assert!(m.contains(needle), "missing {needle:?} in {m}");
        }
        let e = key_error(m);
        assert_eq!(e.exit_code(), crate::error::exit::COULD_NOT_RETRIEVE_KEY);
        assert!(e.to_string().starts_with("azure_kv key error: "));
    }

    #[test]
    fn not_found_names_vault_key_and_version() {
        let f = Failure {
            class: classify(&http_error(404, "KeyNotFound", "A key with (name/id) sops-key/0a1b2c was not found", &[])),
            attempts: 1,
            elapsed: Duration::ZERO,
            timed_out: false,
        };
        let m = failure_message(Op::Encrypt, &target(), None, &f, DEFAULT_TIMEOUT);
        assert!(m.contains("version 0a1b2c of key sops-key was not found in vault https://kv1.vault.azure.net"), "{m}");
        assert!(m.contains("--vault-name kv1 --name sops-key"), "{m}");
        let latest = Target { version: Some(""), ..target() };
        let m = failure_message(Op::Decrypt, &latest, None, &f, DEFAULT_TIMEOUT);
        assert!(m.contains("(latest version)") && m.contains("key sops-key was not found"), "{m}");
    }

    #[test]
    fn transient_and_timeout_messages_name_the_vault_and_the_budget() {
        let f = Failure {
            class: Class::Transient { what: "HTTP 500 (boom)".into(), retry_after: None },
            attempts: 6,
            elapsed: Duration::from_millis(2900),
            timed_out: false,
        };
        let m = failure_message(Op::Decrypt, &target(), None, &f, Duration::from_secs(3));
        assert!(m.contains("vault https://kv1.vault.azure.net kept failing after 6 attempts"), "{m}");
        assert!(m.contains("HTTP 500") && m.contains(TIMEOUT_VAR), "{m}");
        let f = Failure { timed_out: true, ..f };
        let m = failure_message(Op::Encrypt, &target(), None, &f, Duration::from_secs(3));
        assert!(m.contains("did not answer within 3 s") && m.contains("last error: HTTP 500"), "{m}");
        let f = Failure {
            class: Class::Unreachable { cause: "dns error".into() },
            attempts: 1,
            elapsed: Duration::ZERO,
            timed_out: false,
        };
        let m = failure_message(Op::Encrypt, &target(), None, &f, DEFAULT_TIMEOUT);
        assert!(m.contains("cannot reach vault https://kv1.vault.azure.net: dns error"), "{m}");
    }

    #[test]
    fn an_invalid_timeout_is_reported_on_first_use_not_at_start() {
        let config = AzureConfig {
            env: CredentialEnv::default(),
            timeout: parse_timeout(Some("soon")),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        };
        let source = AzureSource::with_config(config);
        let e = source.wrap(&spec("https://kv1.vault.azure.net", "k", Some("v")), b"0123").unwrap_err();
        assert!(matches!(&e, Error::Key { key_type: "azure_kv", message } if message.contains(TIMEOUT_VAR)), "{e}");
    }

    #[test]
    fn corrupt_enc_is_reported_without_contacting_the_vault() {
        let source = AzureSource::with_config(AzureConfig {
            env: CredentialEnv { token_credentials: Some("AzureCLICredential".into()), ..Default::default() },
            timeout: Ok(Duration::from_secs(1)),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        });
        let entry = MasterKeyEntry::AzureKv {
            vault_url: "https://kv1.vault.azure.net".into(),
            name: "k".into(),
            version: "v1".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            enc: "not base64!".into(),
        };
        let e = source.unwrap(&entry).unwrap_err().to_string();
        assert!(e.contains("https://kv1.vault.azure.net/keys/k/v1") && e.contains("base64url"), "{e}");
    }
}
