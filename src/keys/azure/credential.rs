//! The credential chain sops gets from the Go SDK's `DefaultAzureCredential`, rebuilt on the
//! individual credentials of `azure_identity` 1.0 (which dropped `DefaultAzureCredential`).
//!
//! Order, as in azidentity 1.12 (sops 3.11): environment (service principal with a secret),
//! workload identity (the AKS / Flux case), managed identity (App Service, else IMDS), Azure CLI,
//! Azure Developer CLI. `AZURE_TOKEN_CREDENTIALS` narrows it: `dev` (the two CLIs), `prod` (the
//! first three) or one credential's name. As in Go, a credential that is not configured is skipped,
//! one that is configured but fails stops the chain, and the first that succeeds is used for the
//! rest of the process. The token is cached here, so a batch of files asks for one token.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RetryOptions};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureCliCredential, AzureDeveloperCliCredential, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use base64::Engine as _;

/// How long the first managed-identity attempt may take against IMDS before the chain moves on
/// (azidentity's `timeoutWrapper` uses one second; off Azure, IMDS may never answer).
const IMDS_PROBE: Duration = Duration::from_secs(1);

/// A token is renewed this long before it expires.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// The credential names `AZURE_TOKEN_CREDENTIALS` accepts besides `dev` and `prod` (Go's names).
pub const CREDENTIAL_NAMES: [&str; 5] = [
    "EnvironmentCredential",
    "WorkloadIdentityCredential",
    "ManagedIdentityCredential",
    "AzureCLICredential",
    "AzureDeveloperCLICredential",
];

/// The Azure variables the chain reads, captured once so behaviour is predictable (and testable).
#[derive(Clone, Default)]
pub struct CredentialEnv {
    pub token_credentials: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_certificate_path: Option<String>,
    pub federated_token_file: Option<String>,
    pub identity_endpoint: Option<String>,
    pub msi_endpoint: Option<String>,
}

impl fmt::Debug for CredentialEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the client secret.
        f.debug_struct("CredentialEnv")
            .field("token_credentials", &self.token_credentials)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<set>"))
            .field("client_certificate_path", &self.client_certificate_path)
            .field("federated_token_file", &self.federated_token_file)
            .finish_non_exhaustive()
    }
}

impl CredentialEnv {
    /// Reads the variables of the Go SDK's `DefaultAzureCredential`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        CredentialEnv {
            token_credentials: var("AZURE_TOKEN_CREDENTIALS"),
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET"),
            client_certificate_path: var("AZURE_CLIENT_CERTIFICATE_PATH"),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE"),
            identity_endpoint: var("IDENTITY_ENDPOINT"),
            msi_endpoint: var("MSI_ENDPOINT"),
        }
    }
}

/// The members of the chain, by the Go name used in `AZURE_TOKEN_CREDENTIALS` and in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    Environment,
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
    AzureDeveloperCli,
}

impl Member {
    /// The Go SDK's name of this credential.
    pub fn name(self) -> &'static str {
        match self {
            Member::Environment => CREDENTIAL_NAMES[0],
            Member::WorkloadIdentity => CREDENTIAL_NAMES[1],
            Member::ManagedIdentity => CREDENTIAL_NAMES[2],
            Member::AzureCli => CREDENTIAL_NAMES[3],
            Member::AzureDeveloperCli => CREDENTIAL_NAMES[4],
        }
    }
}

/// Which members to try, from `AZURE_TOKEN_CREDENTIALS` (case-insensitive, as in Go); `pinned` is
/// true when one credential is named, so its errors are reported as they are.
pub fn select_members(value: Option<&str>) -> Result<(Vec<Member>, bool), String> {
    use Member::*;
    let all = vec![Environment, WorkloadIdentity, ManagedIdentity, AzureCli, AzureDeveloperCli];
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok((all, false));
    };
    let lower = v.to_ascii_lowercase();
    match lower.as_str() {
        "dev" => Ok((vec![AzureCli, AzureDeveloperCli], false)),
        "prod" => Ok((vec![Environment, WorkloadIdentity, ManagedIdentity], false)),
        _ => all
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(&lower))
            .map(|m| (vec![m], true))
            .ok_or_else(|| {
                format!(
                    "invalid AZURE_TOKEN_CREDENTIALS value {v:?}: expected \"dev\", \"prod\" or one of {}",
                    CREDENTIAL_NAMES.join(", ")
                )
            }),
    }
}

/// A built credential, or why it is not available here.
type Built = Result<Arc<dyn TokenCredential>, String>;

/// One member, built or not (and why not).
struct Slot {
    member: Member,
    cred: Built,
    /// The first attempt is cut after this long and counts as "not available" (IMDS only).
    probe: Mutex<Option<Duration>>,
}

/// What a failed attempt means for the chain.
enum Attempt {
    /// Not configured or not reachable here: try the next member.
    Unavailable(String),
    /// Configured and failed: stop, as Go's chain does.
    Failed(String),
}

/// The chain: one per process, shared by every Key Vault client.
pub struct ChainCredential {
    slots: Vec<Slot>,
    pinned: bool,
    /// The member that succeeded; used alone from then on.
    chosen: Mutex<Option<usize>>,
    /// The cached token and the scopes it was issued for.
    token: tokio::sync::Mutex<Option<(Vec<String>, AccessToken)>>,
    /// Who the token belongs to (credential name and token claims), for error messages.
    identity: Mutex<Option<String>>,
}

impl fmt::Debug for ChainCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.slots.iter().map(|s| s.member.name()).collect();
        f.debug_struct("ChainCredential").field("members", &names).finish_non_exhaustive()
    }
}

impl ChainCredential {
    /// Builds the chain from captured variables; fails only on an invalid `AZURE_TOKEN_CREDENTIALS`.
    /// `retry` is given to the credentials that use an HTTP pipeline, so token requests share the
    /// key operations' bounded retry budget.
    pub fn new(env: &CredentialEnv, retry: RetryOptions) -> Result<Self, String> {
        let (members, pinned) = select_members(env.token_credentials.as_deref())?;
        let client_options = || ClientOptions { retry: retry.clone(), ..Default::default() };
        let slots = members
            .into_iter()
            .map(|member| {
                let cred = build(member, env, client_options());
                let imds = env.identity_endpoint.is_none() && env.msi_endpoint.is_none();
                let probe = (member == Member::ManagedIdentity && imds && !pinned).then_some(IMDS_PROBE);
                Slot { member, cred, probe: Mutex::new(probe) }
            })
            .collect();
        Ok(ChainCredential {
            slots,
            pinned,
            chosen: Mutex::new(None),
            token: tokio::sync::Mutex::new(None),
            identity: Mutex::new(None),
        })
    }

    /// A chain over explicit credentials (tests).
    #[cfg(test)]
    fn from_parts(parts: Vec<(Member, Built)>, pinned: bool) -> Self {
        ChainCredential {
            slots: parts.into_iter().map(|(member, cred)| Slot { member, cred, probe: Mutex::new(None) }).collect(),
            pinned,
            chosen: Mutex::new(None),
            token: tokio::sync::Mutex::new(None),
            identity: Mutex::new(None),
        }
    }

    /// Who authenticated, once a token was obtained: the credential and, when the token is a JWT,
    /// its identity claims (`upn`, `appid`, `oid`, `tid`). Never the token itself.
    pub fn identity(&self) -> Option<String> {
        self.identity.lock().ok().and_then(|g| g.clone())
    }

    /// The Go name of the member that produced the token (`None` before one did): what
    /// `kvsops doctor` reports as the credential the chain picked.
    pub fn chosen_name(&self) -> Option<&'static str> {
        let i = self.chosen.lock().ok().and_then(|g| *g)?;
        self.slots.get(i).map(|s| s.member.name())
    }

    /// The Go names of the members this chain tries, in order (after `AZURE_TOKEN_CREDENTIALS`).
    pub fn candidate_names(&self) -> Vec<&'static str> {
        self.member_names()
    }

    fn member_names(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.member.name()).collect()
    }

    /// Tries the members in order (or the one that already succeeded).
    async fn acquire(&self, scopes: &[&str], options: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let chosen = self.chosen.lock().ok().and_then(|g| *g);
        let order: Vec<usize> = match chosen {
            Some(i) => vec![i],
            None => (0..self.slots.len()).collect(),
        };
        let mut notes = Vec::new();
        for i in order {
            let slot = &self.slots[i];
            let name = slot.member.name();
            let cred = match &slot.cred {
                Ok(c) => c.clone(),
                Err(why) => {
                    notes.push(format!("{name}: {why}"));
                    continue;
                }
            };
            let probe = slot.probe.lock().ok().and_then(|g| *g);
            let result = match probe {
                Some(limit) => match tokio::time::timeout(limit, cred.get_token(scopes, options.clone())).await {
                    Ok(r) => {
                        if let Ok(mut g) = slot.probe.lock() {
                            *g = None; // something answered: no more probing
                        }
                        r
                    }
                    Err(_) => {
                        notes.push(format!(
                            "{name}: no managed identity endpoint (IMDS) answered within {} s",
                            limit.as_secs()
                        ));
                        continue;
                    }
                },
                None => cred.get_token(scopes, options.clone()).await,
            };
            match result {
                Ok(token) => {
                    if let Ok(mut g) = self.chosen.lock() {
                        *g = Some(i);
                    }
                    if let Ok(mut g) = self.identity.lock() {
                        *g = Some(describe_identity(name, token.token.secret()));
                    }
                    return Ok(token);
                }
                Err(e) => match self.classify(slot.member, chosen.is_some(), &e) {
                    Attempt::Unavailable(why) => notes.push(format!("{name}: {why}")),
                    Attempt::Failed(why) => {
                        notes.push(format!("{name}: {why}"));
                        return Err(chain_error(&self.member_names(), &notes, self.pinned));
                    }
                },
            }
        }
        Err(chain_error(&self.member_names(), &notes, self.pinned))
    }

    fn classify(&self, member: Member, was_chosen: bool, e: &azure_core::Error) -> Attempt {
        let why = one_line(&e.to_string());
        if self.pinned || was_chosen {
            return Attempt::Failed(why);
        }
        match member {
            // Configured from the environment: a failure is the user's to see.
            Member::Environment | Member::WorkloadIdentity => Attempt::Failed(why),
            // No endpoint here, no identity assigned, or something else answering for IMDS (a proxy,
            // Docker Desktop): the next credential may work, and the reason is still listed.
            Member::ManagedIdentity => Attempt::Unavailable(why),
            // As in Go's DefaultAzureCredential: CLI problems never stop the chain.
            Member::AzureCli | Member::AzureDeveloperCli => Attempt::Unavailable(why),
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(&self, scopes: &[&str], options: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let mut cache = self.token.lock().await;
        if let Some((cached_scopes, token)) = cache.as_ref() {
            if cached_scopes.iter().map(String::as_str).eq(scopes.iter().copied())
                && token.expires_on - REFRESH_MARGIN > OffsetDateTime::now_utc()
            {
                return Ok(token.clone());
            }
        }
        let token = self.acquire(scopes, options).await?;
        *cache = Some((scopes.iter().map(|s| s.to_string()).collect(), token.clone()));
        Ok(token)
    }
}

/// Builds one member from the captured variables, or says why it is not available.
fn build(member: Member, env: &CredentialEnv, client_options: ClientOptions) -> Built {
    let missing = |names: &[(&str, &Option<String>)]| -> Option<String> {
        let absent: Vec<&str> = names.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
        (!absent.is_empty()).then(|| format!("{} not set", absent.join(", ")))
    };
    match member {
        Member::Environment => {
            if let Some(why) = missing(&[("AZURE_TENANT_ID", &env.tenant_id), ("AZURE_CLIENT_ID", &env.client_id)]) {
                return Err(format!("{why} (a service principal needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET)"));
            }
            let (Some(tenant), Some(client)) = (&env.tenant_id, &env.client_id) else {
                return Err("AZURE_TENANT_ID or AZURE_CLIENT_ID not set".into());
            };
            match (&env.client_secret, &env.client_certificate_path) {
                (Some(secret), _) => ClientSecretCredential::new(
                    tenant,
                    client.clone(),
                    secret.clone().into(),
                    Some(ClientSecretCredentialOptions { client_options }),
                )
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| one_line(&e.to_string())),
                (None, Some(path)) => Err(format!(
                    "AZURE_CLIENT_CERTIFICATE_PATH ({path}) is set, but kvsops does not support certificate \
                     credentials; use AZURE_CLIENT_SECRET, workload identity or a managed identity"
                )),
                (None, None) => Err("AZURE_CLIENT_SECRET not set".into()),
            }
        }
        Member::WorkloadIdentity => {
            if let Some(why) = missing(&[
                ("AZURE_FEDERATED_TOKEN_FILE", &env.federated_token_file),
                ("AZURE_TENANT_ID", &env.tenant_id),
                ("AZURE_CLIENT_ID", &env.client_id),
            ]) {
                return Err(why);
            }
            let mut options = WorkloadIdentityCredentialOptions {
                client_id: env.client_id.clone(),
                tenant_id: env.tenant_id.clone(),
                token_file_path: env.federated_token_file.clone().map(Into::into),
                ..Default::default()
            };
            options.credential_options.client_options = client_options;
            WorkloadIdentityCredential::new(Some(options))
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| one_line(&e.to_string()))
        }
        Member::ManagedIdentity => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: env.client_id.clone().map(UserAssignedId::ClientId),
                client_options,
            };
            ManagedIdentityCredential::new(Some(options))
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| one_line(&e.to_string()))
        }
        Member::AzureCli => AzureCliCredential::new(None)
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| one_line(&e.to_string())),
        Member::AzureDeveloperCli => AzureDeveloperCliCredential::new(None)
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| one_line(&e.to_string())),
    }
}

/// The error when no member produced a token: which were tried, and every one's reason.
fn chain_error(members: &[&str], notes: &[String], pinned: bool) -> azure_core::Error {
    let head = if pinned {
        format!("could not get an Azure token with {} (AZURE_TOKEN_CREDENTIALS)", members.join(", "))
    } else {
        format!("could not get an Azure token from any credential ({})", members.join(", "))
    };
    let body = notes.iter().map(|n| format!("\n  - {n}")).collect::<String>();
    azure_core::Error::with_message(ErrorKind::Credential, format!("{head}:{body}"))
}

/// Collapses a multi-line SDK message (they append troubleshooting links) to one line.
pub fn one_line(s: &str) -> String {
    s.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The credential name plus the identity claims of a JWT access token, if it is one.
pub fn describe_identity(credential: &str, token: &str) -> String {
    let claims = jwt_identity_claims(token);
    if claims.is_empty() {
        credential.to_string()
    } else {
        format!("{credential}, {}", claims.join(", "))
    }
}

/// `upn`/`unique_name`, `appid`, `oid` and `tid` from a JWT's payload (not verified: only for
/// messages). Anything that is not a JWT gives nothing.
pub fn jwt_identity_claims(token: &str) -> Vec<String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Vec::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let user = map.get("upn").or_else(|| map.get("unique_name")).or_else(|| map.get("preferred_username"));
    for (label, v) in [("user", user), ("appid", map.get("appid")), ("oid", map.get("oid")), ("tenant", map.get("tid"))] {
        if let Some(serde_json::Value::String(s)) = v {
            // Claims are identifiers; keep them short and printable all the same.
            let clean: String = s.chars().filter(|c| !c.is_control()).take(120).collect();
            out.push(format!("{label} {clean}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct Fake {
        calls: AtomicUsize,
        result: Result<&'static str, ErrorKind>,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Fake {
        async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match &self.result {
                Ok(t) => Ok(AccessToken::new(t.to_string(), OffsetDateTime::now_utc() + time::Duration::hours(1))),
                Err(k) => Err(azure_core::Error::with_message(k.clone(), "boom")),
            }
        }
    }

    fn fake(result: Result<&'static str, ErrorKind>) -> Arc<Fake> {
        Arc::new(Fake { calls: AtomicUsize::new(0), result })
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
    }

    #[test]
    fn token_credentials_values() {
        assert_eq!(select_members(None).unwrap().0.len(), 5);
        assert_eq!(select_members(Some("  ")).unwrap().0.len(), 5);
        assert_eq!(select_members(Some("dev")).unwrap(), (vec![Member::AzureCli, Member::AzureDeveloperCli], false));
        assert_eq!(
            select_members(Some("PROD")).unwrap(),
            (vec![Member::Environment, Member::WorkloadIdentity, Member::ManagedIdentity], false)
        );
        assert_eq!(select_members(Some("managedidentitycredential")).unwrap(), (vec![Member::ManagedIdentity], true));
        assert_eq!(select_members(Some("AzureCLICredential")).unwrap(), (vec![Member::AzureCli], true));
        let err = select_members(Some("AzureCliCred")).unwrap_err();
        assert!(err.contains("AZURE_TOKEN_CREDENTIALS") && err.contains("WorkloadIdentityCredential"), "{err}");
    }

    #[test]
    fn environment_credential_needs_all_three() {
        let env = CredentialEnv { tenant_id: Some("t".into()), ..Default::default() };
        let why = build(Member::Environment, &env, ClientOptions::default()).unwrap_err();
        assert!(why.contains("AZURE_CLIENT_ID not set"), "{why}");
        let env = CredentialEnv {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_certificate_path: Some("/x.pem".into()),
            ..Default::default()
        };
        let why = build(Member::Environment, &env, ClientOptions::default()).unwrap_err();
        assert!(why.contains("certificate"), "{why}");
        let why = build(Member::WorkloadIdentity, &CredentialEnv::default(), ClientOptions::default()).unwrap_err();
        assert!(why.contains("AZURE_FEDERATED_TOKEN_FILE"), "{why}");
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let env = CredentialEnv { client_secret: Some("hunter2".into()), ..Default::default() };
        assert!(!format!("{env:?}").contains("hunter2"));
    }

    #[test]
    fn unavailable_members_are_skipped_and_the_winner_is_kept() {
        let mi = fake(Err(ErrorKind::Connection));
        let cli = fake(Ok("opaque-token"));
        let chain = ChainCredential::from_parts(
            vec![
                (Member::Environment, Err("AZURE_TENANT_ID not set".into())),
                (Member::ManagedIdentity, Ok(mi.clone() as Arc<dyn TokenCredential>)),
                (Member::AzureCli, Ok(cli.clone() as Arc<dyn TokenCredential>)),
            ],
            false,
        );
        let t = block(chain.get_token(&["https://vault.azure.net/.default"], None)).unwrap();
        assert_eq!(t.token.secret(), "opaque-token");
        // Cached: neither credential is asked again.
        block(chain.get_token(&["https://vault.azure.net/.default"], None)).unwrap();
        assert_eq!(mi.calls.load(Ordering::SeqCst), 1);
        assert_eq!(cli.calls.load(Ordering::SeqCst), 1);
        // Another scope: only the chosen credential is asked.
        block(chain.get_token(&["https://other/.default"], None)).unwrap();
        assert_eq!(mi.calls.load(Ordering::SeqCst), 1);
        assert_eq!(cli.calls.load(Ordering::SeqCst), 2);
        assert_eq!(chain.identity().as_deref(), Some("AzureCLICredential"));
    }

    #[derive(Debug)]
    struct Hang;

    #[async_trait::async_trait]
    impl TokenCredential for Hang {
        async fn get_token(&self, _: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
            std::future::pending().await
        }
    }

    #[test]
    fn a_silent_imds_is_given_up_after_the_probe_time() {
        let cli = fake(Ok("t"));
        let mut chain = ChainCredential::from_parts(
            vec![
                (Member::ManagedIdentity, Ok(Arc::new(Hang) as Arc<dyn TokenCredential>)),
                (Member::AzureCli, Ok(cli.clone() as Arc<dyn TokenCredential>)),
            ],
            false,
        );
        chain.slots[0].probe = Mutex::new(Some(Duration::from_millis(200)));
        let start = std::time::Instant::now();
        let t = block(chain.get_token(&["s/.default"], None)).unwrap();
        assert_eq!(t.token.secret(), "t");
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        assert_eq!(cli.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_configured_credential_that_fails_stops_the_chain() {
        let env = fake(Err(ErrorKind::Credential));
        let cli = fake(Ok("t"));
        let chain = ChainCredential::from_parts(
            vec![
                (Member::Environment, Ok(env as Arc<dyn TokenCredential>)),
                (Member::AzureCli, Ok(cli.clone() as Arc<dyn TokenCredential>)),
            ],
            false,
        );
        let e = block(chain.get_token(&["s/.default"], None)).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Credential));
        assert!(e.to_string().contains("EnvironmentCredential: boom"), "{e}");
        assert_eq!(cli.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn all_unavailable_lists_every_reason() {
        let chain = ChainCredential::from_parts(
            vec![
                (Member::Environment, Err("AZURE_TENANT_ID not set".into())),
                (Member::WorkloadIdentity, Err("AZURE_FEDERATED_TOKEN_FILE not set".into())),
            ],
            false,
        );
        let e = block(chain.get_token(&["s/.default"], None)).unwrap_err().to_string();
        assert!(e.contains("EnvironmentCredential: AZURE_TENANT_ID not set"), "{e}");
        assert!(e.contains("WorkloadIdentityCredential: AZURE_FEDERATED_TOKEN_FILE not set"), "{e}");
        assert!(e.contains("any credential (EnvironmentCredential, WorkloadIdentityCredential)"), "{e}");
    }

    #[test]
    fn jwt_claims_name_the_identity() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"appid":"11111111-aaaa","oid":"22222222-bbbb","tid":"tenant-x","aud":"https://vault.azure.net"}"#);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        let d = describe_identity("ManagedIdentityCredential", &token);
        assert_eq!(d, "ManagedIdentityCredential, appid 11111111-aaaa, oid 22222222-bbbb, tenant tenant-x");
        assert!(!d.contains(&token));
        assert_eq!(describe_identity("AzureCLICredential", "not-a-jwt"), "AzureCLICredential");
    }
}
