//! The credential chain sops gets from the Go SDK's `DefaultAzureCredential`, rebuilt on the
//! individual credentials of `azure_identity` 1.0 (which dropped `DefaultAzureCredential`).
//!
//! Order, as in azidentity 1.13 (sops 3.11): environment (service principal with a secret or a
//! certificate, else a user name and password: password.rs), workload identity (the AKS / Flux
//! case), managed identity (App Service, else IMDS; Cloud Shell, Azure ML and Azure Arc in
//! managed_identity.rs), Azure CLI, Azure Developer CLI, Azure
//! PowerShell. `AZURE_TOKEN_CREDENTIALS` narrows it:
//! `dev` (the three developer tools), `prod` (the first three) or one credential's name. As in
//! Go, a credential that is not configured is skipped, one that is configured but fails stops the
//! chain, and the first that succeeds is used for the rest of the process. The token is cached
//! here, so a batch of files asks for one token.
//!
//! Tenants, as in azidentity: a token is asked for the tenant of the vault's challenge when there
//! is one ([`ChainCredential::get_token_for_tenant`]). A credential configured for another tenant
//! (`AZURE_TENANT_ID`) refuses it unless `AZURE_ADDITIONALLY_ALLOWED_TENANTS` lists it (or `*`);
//! the developer tools pass the resolved tenant to `az --tenant` / `Get-AzAccessToken -TenantId`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RetryOptions};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureDeveloperCliCredential, AzureDeveloperCliCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use base64::Engine as _;

/// How long the first managed-identity attempt may take against IMDS before the chain moves on
/// (azidentity's `timeoutWrapper` uses one second; off Azure, IMDS may never answer).
const IMDS_PROBE: Duration = Duration::from_secs(1);

/// A token is renewed this long before it expires.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// The credential names `AZURE_TOKEN_CREDENTIALS` accepts besides `dev` and `prod` (Go's names).
pub const CREDENTIAL_NAMES: [&str; 6] = [
    "EnvironmentCredential",
    "WorkloadIdentityCredential",
    "ManagedIdentityCredential",
    "AzureCLICredential",
    "AzureDeveloperCLICredential",
    "AzurePowerShellCredential",
];

/// The Azure variables the chain reads, captured once so behaviour is predictable (and testable).
#[derive(Clone, Default)]
pub struct CredentialEnv {
    pub token_credentials: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_certificate_path: Option<String>,
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD`: opens a PKCS#12 certificate file.
    pub client_certificate_password: Option<String>,
    /// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` is `1` or `true`: the assertion carries `x5c`.
    pub send_certificate_chain: bool,
    /// `AZURE_ADDITIONALLY_ALLOWED_TENANTS`, split on `;`: tenants besides `AZURE_TENANT_ID` a
    /// vault's challenge may ask for (`*`: any).
    pub additionally_allowed_tenants: Vec<String>,
    /// `AZURE_REGIONAL_AUTHORITY_NAME`: service principals and workload identity get tokens from
    /// the regional Entra ID endpoint (`<region>.login.microsoft.com`).
    pub regional_authority_name: Option<String>,
    pub federated_token_file: Option<String>,
    /// `AZURE_USERNAME`: with `AZURE_PASSWORD`, the Environment credential's user (only when no
    /// client secret or certificate is configured).
    pub username: Option<String>,
    /// `AZURE_PASSWORD`.
    pub password: Option<String>,
    pub identity_endpoint: Option<String>,
    /// `IDENTITY_HEADER`: with `IDENTITY_ENDPOINT`, App Service (or Service Fabric).
    pub identity_header: Option<String>,
    /// `IDENTITY_SERVER_THUMBPRINT`: with the two above, Service Fabric.
    pub identity_server_thumbprint: Option<String>,
    /// `IMDS_ENDPOINT`: with `IDENTITY_ENDPOINT` (and no `IDENTITY_HEADER`), Azure Arc.
    pub imds_endpoint: Option<String>,
    pub msi_endpoint: Option<String>,
    /// `MSI_SECRET`: with `MSI_ENDPOINT`, the Azure Machine Learning managed identity.
    pub msi_secret: Option<String>,
    /// `DEFAULT_IDENTITY_CLIENT_ID`: the Azure ML compute's identity when `AZURE_CLIENT_ID` is unset.
    pub default_identity_client_id: Option<String>,
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
            .field("client_certificate_password", &self.client_certificate_password.as_ref().map(|_| "<set>"))
            .field("send_certificate_chain", &self.send_certificate_chain)
            .field("additionally_allowed_tenants", &self.additionally_allowed_tenants)
            .field("federated_token_file", &self.federated_token_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
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
            // A password may be anything, spaces included: not trimmed or dropped when blank.
            client_certificate_password: std::env::var("AZURE_CLIENT_CERTIFICATE_PASSWORD").ok(),
            send_certificate_chain: var("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            additionally_allowed_tenants: var("AZURE_ADDITIONALLY_ALLOWED_TENANTS")
                .map(|v| split_tenants(&v))
                .unwrap_or_default(),
            regional_authority_name: var("AZURE_REGIONAL_AUTHORITY_NAME"),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE"),
            username: var("AZURE_USERNAME"),
            // Like the certificate password: taken as it is (azidentity only asks that it be non-empty).
            password: std::env::var("AZURE_PASSWORD").ok().filter(|p| !p.is_empty()),
            identity_endpoint: var("IDENTITY_ENDPOINT"),
            identity_header: var("IDENTITY_HEADER"),
            identity_server_thumbprint: var("IDENTITY_SERVER_THUMBPRINT"),
            imds_endpoint: var("IMDS_ENDPOINT"),
            msi_endpoint: var("MSI_ENDPOINT"),
            msi_secret: var("MSI_SECRET"),
            default_identity_client_id: var("DEFAULT_IDENTITY_CLIENT_ID"),
        }
    }
}

/// `AZURE_ADDITIONALLY_ALLOWED_TENANTS` is `;`-separated (as azidentity splits it).
fn split_tenants(v: &str) -> Vec<String> {
    v.split(';').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

/// The members of the chain, by the Go name used in `AZURE_TOKEN_CREDENTIALS` and in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    Environment,
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
    AzureDeveloperCli,
    AzurePowerShell,
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
            Member::AzurePowerShell => CREDENTIAL_NAMES[5],
        }
    }
}

/// Which members to try, from `AZURE_TOKEN_CREDENTIALS` (case-insensitive, as in Go); `pinned` is
/// true when one credential is named, so its errors are reported as they are.
pub fn select_members(value: Option<&str>) -> Result<(Vec<Member>, bool), String> {
    use Member::*;
    let all = vec![Environment, WorkloadIdentity, ManagedIdentity, AzureCli, AzureDeveloperCli, AzurePowerShell];
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok((all, false));
    };
    let lower = v.to_ascii_lowercase();
    match lower.as_str() {
        "dev" => Ok((vec![AzureCli, AzureDeveloperCli, AzurePowerShell], false)),
        "prod" => Ok((vec![Environment, WorkloadIdentity, ManagedIdentity], false)),
        _ => {
            all.into_iter().find(|m| m.name().eq_ignore_ascii_case(&lower)).map(|m| (vec![m], true)).ok_or_else(|| {
                format!(
                    "invalid AZURE_TOKEN_CREDENTIALS value {v:?}: expected \"dev\", \"prod\" or one of {}",
                    CREDENTIAL_NAMES.join(", ")
                )
            })
        }
    }
}

/// Why a member could not be built.
#[derive(Debug, Clone)]
pub struct NotBuilt {
    /// The reason, naming the variables involved.
    pub why: String,
    /// The member is configured but its configuration is unusable (a broken certificate): the
    /// chain stops here rather than silently running as another identity.
    pub configured: bool,
}

impl From<String> for NotBuilt {
    fn from(why: String) -> Self {
        NotBuilt { why, configured: false }
    }
}

impl From<&str> for NotBuilt {
    fn from(why: &str) -> Self {
        NotBuilt { why: why.to_string(), configured: false }
    }
}

/// A built credential, or why it is not available here.
type Built = Result<Arc<dyn TokenCredential>, NotBuilt>;

/// Builds a member for a tenant (`None`: the credential's default).
type Factory = Arc<dyn Fn(Option<&str>) -> Built + Send + Sync>;

/// One member, built or not (and why not).
struct Slot {
    member: Member,
    /// Built for the configured tenant (`AZURE_TENANT_ID`, or the tool's default).
    cred: Built,
    /// Builds the member for another tenant, when a vault's challenge asks for one the
    /// configuration allows; `None` for members without tenants (managed identity) and in tests.
    factory: Option<Factory>,
    /// The tenant the member is configured for: `AZURE_TENANT_ID` for the service principal and
    /// workload identity; none for the developer tools (as in azidentity's default chain, which
    /// does not give them `AZURE_TENANT_ID`: they ask for the vault's tenant).
    default_tenant: Option<String>,
    /// Credentials built for other tenants.
    by_tenant: Mutex<HashMap<String, Built>>,
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

/// A cached token: the scopes and the requested tenant it was issued for, and the token.
type CachedToken = (Vec<String>, Option<String>, AccessToken);

/// The chain: one per process, shared by every Key Vault client.
pub struct ChainCredential {
    slots: Vec<Slot>,
    pinned: bool,
    /// `AZURE_ADDITIONALLY_ALLOWED_TENANTS`, to resolve a challenge's tenant.
    allowed_tenants: Vec<String>,
    /// The member that succeeded; used alone from then on.
    chosen: Mutex<Option<usize>>,
    /// The cached token, with the scopes and the requested tenant it was issued for.
    token: tokio::sync::Mutex<Option<CachedToken>>,
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
        let slots = members
            .into_iter()
            .map(|member| {
                let options = || ClientOptions { retry: retry.clone(), ..Default::default() };
                let default_tenant = match member {
                    Member::Environment | Member::WorkloadIdentity => env.tenant_id.clone(),
                    _ => None,
                };
                let cred = build(member, env, options(), default_tenant.as_deref());
                let factory: Option<Factory> = (member != Member::ManagedIdentity).then(|| {
                    let env = env.clone();
                    let retry = retry.clone();
                    Arc::new(move |tenant: Option<&str>| {
                        build(member, &env, ClientOptions { retry: retry.clone(), ..Default::default() }, tenant)
                    }) as Factory
                });
                let imds = managed_identity_source(env) == MiSource::Imds;
                let probe = (member == Member::ManagedIdentity && imds && !pinned).then_some(IMDS_PROBE);
                Slot {
                    member,
                    cred,
                    factory,
                    default_tenant,
                    by_tenant: Mutex::new(HashMap::new()),
                    probe: Mutex::new(probe),
                }
            })
            .collect();
        Ok(ChainCredential {
            slots,
            pinned,
            allowed_tenants: env.additionally_allowed_tenants.clone(),
            chosen: Mutex::new(None),
            token: tokio::sync::Mutex::new(None),
            identity: Mutex::new(None),
        })
    }

    /// A chain over explicit credentials (tests).
    #[cfg(test)]
    fn from_parts(parts: Vec<(Member, Built)>, pinned: bool) -> Self {
        ChainCredential {
            slots: parts
                .into_iter()
                .map(|(member, cred)| Slot {
                    member,
                    cred,
                    factory: None,
                    default_tenant: None,
                    by_tenant: Mutex::new(HashMap::new()),
                    probe: Mutex::new(None),
                })
                .collect(),
            pinned,
            allowed_tenants: Vec::new(),
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

    /// The members in the order they are tried.
    pub fn members(&self) -> Vec<Member> {
        self.slots.iter().map(|s| s.member).collect()
    }

    fn member_names(&self) -> Vec<&'static str> {
        self.slots.iter().map(|s| s.member.name()).collect()
    }

    /// A token for `scopes` in `tenant` (the tenant named by a vault's challenge; `None`: the
    /// credential's own). Cached per scopes and tenant.
    pub async fn get_token_for_tenant(
        &self,
        scopes: &[&str],
        tenant: Option<&str>,
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let tenant = tenant.map(str::trim).filter(|t| !t.is_empty());
        let mut cache = self.token.lock().await;
        if let Some((cached_scopes, cached_tenant, token)) = cache.as_ref() {
            if cached_scopes.iter().map(String::as_str).eq(scopes.iter().copied())
                && cached_tenant.as_deref() == tenant
                && token.expires_on - REFRESH_MARGIN > OffsetDateTime::now_utc()
            {
                return Ok(token.clone());
            }
        }
        let token = self.acquire(scopes, tenant, options).await?;
        *cache = Some((scopes.iter().map(|s| s.to_string()).collect(), tenant.map(String::from), token.clone()));
        Ok(token)
    }

    /// The credential of `slot` for the requested tenant, resolved as azidentity does.
    fn credential_for(&self, slot: &Slot, tenant: Option<&str>) -> Result<Arc<dyn TokenCredential>, NotBuilt> {
        let Some(factory) = &slot.factory else {
            return slot.cred.clone();
        };
        let resolved =
            resolve_tenant(slot.default_tenant.as_deref(), tenant, &self.allowed_tenants, slot.member.name())
                .map_err(|why| NotBuilt { why, configured: true })?;
        match resolved {
            Some(t) if Some(t.as_str()) != slot.default_tenant.as_deref() => {
                let mut map =
                    slot.by_tenant.lock().map_err(|_| NotBuilt::from("internal error: tenant cache poisoned"))?;
                map.entry(t.clone()).or_insert_with(|| factory(Some(&t))).clone()
            }
            _ => slot.cred.clone(),
        }
    }

    /// Tries the members in order (or the one that already succeeded).
    async fn acquire(
        &self,
        scopes: &[&str],
        tenant: Option<&str>,
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = self.chosen.lock().ok().and_then(|g| *g);
        let order: Vec<usize> = match chosen {
            Some(i) => vec![i],
            None => (0..self.slots.len()).collect(),
        };
        let mut notes = Vec::new();
        for i in order {
            let slot = &self.slots[i];
            let name = slot.member.name();
            let cred = match self.credential_for(slot, tenant) {
                Ok(c) => c,
                Err(NotBuilt { why, configured }) => {
                    notes.push(format!("{name}: {why}"));
                    let stop = configured
                        && (self.pinned
                            || chosen.is_some()
                            || matches!(slot.member, Member::Environment | Member::WorkloadIdentity));
                    if stop {
                        return Err(chain_error(&self.member_names(), &notes, self.pinned));
                    }
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
            // As in Go's DefaultAzureCredential: developer-tool problems never stop the chain.
            Member::AzureCli | Member::AzureDeveloperCli | Member::AzurePowerShell => Attempt::Unavailable(why),
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.get_token_for_tenant(scopes, None, options).await
    }
}

/// The tenant to ask, as azidentity's `resolveTenant`: the configured one unless the request
/// names another, which must be allowed (`AZURE_ADDITIONALLY_ALLOWED_TENANTS`, `*` for any), or
/// any tenant when none is configured.
pub fn resolve_tenant(
    configured: Option<&str>,
    requested: Option<&str>,
    allowed: &[String],
    credential: &str,
) -> Result<Option<String>, String> {
    let Some(requested) = requested.filter(|r| !r.is_empty()) else {
        return Ok(configured.map(String::from));
    };
    if Some(requested) == configured {
        return Ok(configured.map(String::from));
    }
    if !super::cli::valid_tenant(requested) {
        return Err(format!("invalid tenant {requested:?} in the vault's challenge"));
    }
    if allowed.iter().any(|t| t == "*" || t == requested) {
        return Ok(Some(requested.to_string()));
    }
    if allowed.is_empty() && matches!(configured, None | Some("organizations")) {
        return Ok(Some(requested.to_string()));
    }
    Err(format!(
        "{credential} is configured for tenant {} (AZURE_TENANT_ID) and may not get tokens for the vault's tenant \
         {requested:?}; add that tenant to AZURE_ADDITIONALLY_ALLOWED_TENANTS (\";\"-separated, \"*\" for any)",
        configured.unwrap_or("(none)")
    ))
}

/// The authority host of the Entra ID credentials: `AZURE_AUTHORITY_HOST` (default
/// `https://login.microsoftonline.com`), made regional by `AZURE_REGIONAL_AUTHORITY_NAME` as MSAL
/// does (`https://<region>.login.microsoft.com` for the public cloud, `https://<region>.<host>`
/// elsewhere). `None`: no region, the SDK's own default applies. `tryautodetect` (which asks IMDS
/// for the region) is not supported: the global endpoint is used, as MSAL does when detection fails.
pub fn regional_authority_host(authority_host: Option<&str>, region: Option<&str>) -> Option<String> {
    let region = region.map(str::trim).filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("tryautodetect"))?;
    if !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let base = authority_host.map(str::trim).filter(|h| !h.is_empty()).unwrap_or("https://login.microsoftonline.com");
    let host = base.trim_start_matches("https://").split('/').next().unwrap_or_default().to_ascii_lowercase();
    Some(match host.as_str() {
        "login.microsoftonline.com" | "login.microsoft.com" | "login.windows.net" | "sts.windows.net" => {
            format!("https://{region}.login.microsoft.com")
        }
        _ => format!("https://{region}.{host}"),
    })
}

/// Client options for an Entra ID credential, with the regional authority when one is asked for;
/// returns the authority host in effect when it is not the SDK's default.
fn with_region(env: &CredentialEnv, mut options: ClientOptions) -> (ClientOptions, Option<String>) {
    let configured = std::env::var("AZURE_AUTHORITY_HOST").ok();
    match regional_authority_host(configured.as_deref(), env.regional_authority_name.as_deref()) {
        Some(host) => {
            let mut custom = azure_core::cloud::CustomConfiguration::default();
            custom.authority_host = host.clone();
            options.cloud = Some(Arc::new(azure_core::cloud::CloudConfiguration::Custom(custom)));
            (options, Some(host))
        }
        None => (options, configured),
    }
}

/// Builds one member for `tenant` (the configured one, or one a vault's challenge asked for), or
/// says why it is not available.
fn build(member: Member, env: &CredentialEnv, client_options: ClientOptions, tenant: Option<&str>) -> Built {
    let missing = |names: &[(&str, Option<&str>)]| -> Option<String> {
        let absent: Vec<&str> = names.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
        (!absent.is_empty()).then(|| format!("{} not set", absent.join(", ")))
    };
    let sdk = |e: azure_core::Error| NotBuilt::from(one_line(&e.to_string()));
    match member {
        Member::Environment => {
            if let Some(why) = missing(&[("AZURE_TENANT_ID", tenant), ("AZURE_CLIENT_ID", env.client_id.as_deref())]) {
                return Err(format!(
                    "{why} (a service principal needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or \
                     AZURE_CLIENT_CERTIFICATE_PATH; a user AZURE_USERNAME and AZURE_PASSWORD instead)"
                )
                .into());
            }
            let (Some(tenant), Some(client)) = (tenant, &env.client_id) else {
                return Err("AZURE_TENANT_ID or AZURE_CLIENT_ID not set".into());
            };
            let (client_options, authority) = with_region(env, client_options);
            match (&env.client_secret, &env.client_certificate_path) {
                (Some(secret), _) => ClientSecretCredential::new(
                    tenant,
                    client.clone(),
                    secret.clone().into(),
                    Some(ClientSecretCredentialOptions { client_options }),
                )
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(sdk),
                (None, Some(path)) => {
                    // Configured: an unusable certificate is an error, never a fallthrough to the
                    // next credential (which would run as another identity).
                    let configured = |why: String| NotBuilt { why, configured: true };
                    let certificate = super::certificate::ClientCertificate::load(
                        path,
                        env.client_certificate_password.as_deref(),
                    )
                    .map_err(configured)?;
                    let assertion = super::certificate::CertificateAssertion {
                        certificate,
                        client_id: client.clone(),
                        token_endpoint: super::certificate::token_endpoint(authority.as_deref(), tenant),
                        send_chain: env.send_certificate_chain,
                    };
                    ClientAssertionCredential::new(
                        tenant.to_string(),
                        client.clone(),
                        assertion,
                        Some(ClientAssertionCredentialOptions { client_options }),
                    )
                    .map(|c| c as Arc<dyn TokenCredential>)
                    .map_err(|e| configured(format!("AZURE_CLIENT_CERTIFICATE_PATH: {}", one_line(&e.to_string()))))
                }
                (None, None) => match (&env.username, &env.password) {
                    // Configured: a bad user name or password is an error, never a fallthrough.
                    // MSAL (Go) has regions for confidential clients only: a user's password goes
                    // to the global authority whatever AZURE_REGIONAL_AUTHORITY_NAME says.
                    (Some(user), Some(password)) => super::password::UsernamePassword::new(
                        std::env::var("AZURE_AUTHORITY_HOST").ok().as_deref(),
                        tenant,
                        client,
                        user,
                        password,
                        client_options,
                    )
                    .map(|c| Arc::new(c) as Arc<dyn TokenCredential>)
                    .map_err(|why| NotBuilt { why, configured: true }),
                    _ => Err("AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH and AZURE_USERNAME with AZURE_PASSWORD not set"
                        .into()),
                },
            }
        }
        Member::WorkloadIdentity => {
            if let Some(why) = missing(&[
                ("AZURE_FEDERATED_TOKEN_FILE", env.federated_token_file.as_deref()),
                ("AZURE_TENANT_ID", tenant),
                ("AZURE_CLIENT_ID", env.client_id.as_deref()),
            ]) {
                return Err(why.into());
            }
            let mut options = WorkloadIdentityCredentialOptions {
                client_id: env.client_id.clone(),
                tenant_id: tenant.map(String::from),
                token_file_path: env.federated_token_file.clone().map(Into::into),
                ..Default::default()
            };
            options.credential_options.client_options = with_region(env, client_options).0;
            WorkloadIdentityCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>).map_err(sdk)
        }
        Member::ManagedIdentity if managed_identity_source(env) == MiSource::ServiceFabric => {
            use super::managed_identity::{Host, HostedIdentity};
            let endpoint = env.identity_endpoint.as_deref().unwrap_or_default();
            HostedIdentity::new(
                Host::ServiceFabric,
                endpoint,
                env.identity_header.clone(),
                env.client_id.clone(),
                client_options,
            )
            .map(|c| Arc::new(c) as Arc<dyn TokenCredential>)
            .map_err(NotBuilt::from)
        }
        Member::ManagedIdentity if managed_identity_source(env) == MiSource::AzureArc => {
            use super::managed_identity::{Host, HostedIdentity, ARC_DEFAULT_ENDPOINT};
            let endpoint = env.identity_endpoint.as_deref().unwrap_or(ARC_DEFAULT_ENDPOINT);
            HostedIdentity::new(Host::AzureArc, endpoint, None, env.client_id.clone(), client_options)
                .map(|c| Arc::new(c) as Arc<dyn TokenCredential>)
                .map_err(NotBuilt::from)
        }
        Member::ManagedIdentity if managed_identity_source(env) == MiSource::MsiEndpoint => {
            use super::managed_identity::{Host, HostedIdentity};
            let endpoint = env.msi_endpoint.as_deref().unwrap_or_default();
            let (host, client_id) = match &env.msi_secret {
                Some(_) => (Host::AzureMl, env.client_id.clone().or_else(|| env.default_identity_client_id.clone())),
                None => (Host::CloudShell, env.client_id.clone()),
            };
            HostedIdentity::new(host, endpoint, env.msi_secret.clone(), client_id, client_options)
                .map(|c| Arc::new(c) as Arc<dyn TokenCredential>)
                .map_err(NotBuilt::from)
        }
        Member::ManagedIdentity => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: env.client_id.clone().map(UserAssignedId::ClientId),
                client_options,
            };
            ManagedIdentityCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>).map_err(sdk)
        }
        Member::AzureCli => super::cli::ToolCredential::new(super::cli::Tool::AzureCli, tenant.map(String::from))
            .map(|c| Arc::new(c) as Arc<dyn TokenCredential>)
            .map_err(NotBuilt::from),
        Member::AzurePowerShell => {
            super::cli::ToolCredential::new(super::cli::Tool::AzurePowerShell, tenant.map(String::from))
                .map(|c| Arc::new(c) as Arc<dyn TokenCredential>)
                .map_err(NotBuilt::from)
        }
        Member::AzureDeveloperCli => AzureDeveloperCliCredential::new(Some(AzureDeveloperCliCredentialOptions {
            tenant_id: tenant.map(String::from),
            ..Default::default()
        }))
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(sdk),
    }
}

/// Where the managed identity comes from, decided as MSAL (Go) 1.6 does for azidentity 1.13.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MiSource {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` (`azure_identity`).
    AppService,
    /// The same plus `IDENTITY_SERVER_THUMBPRINT`.
    ServiceFabric,
    /// `MSI_ENDPOINT`: Azure ML with `MSI_SECRET`, else Cloud Shell.
    MsiEndpoint,
    /// `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the Arc agent installed.
    AzureArc,
    /// None of these: the instance metadata service (`azure_identity`).
    Imds,
}

/// The managed identity source for these variables (and, for Arc, the agent on disk).
pub fn managed_identity_source(env: &CredentialEnv) -> MiSource {
    if env.identity_endpoint.is_some() && env.identity_header.is_some() {
        if env.identity_server_thumbprint.is_some() {
            MiSource::ServiceFabric
        } else {
            MiSource::AppService
        }
    } else if env.msi_endpoint.is_some() {
        MiSource::MsiEndpoint
    } else if (env.identity_endpoint.is_some() && env.imds_endpoint.is_some()) || arc_agent_installed() {
        MiSource::AzureArc
    } else {
        MiSource::Imds
    }
}

/// Whether the Azure Arc agent (HIMDS) is installed here.
fn arc_agent_installed() -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(super::managed_identity::ARC_HIMDS_LINUX).exists()
    } else if cfg!(windows) {
        std::env::var_os("ProgramData")
            .is_some_and(|pd| std::path::Path::new(&pd).join("AzureConnectedMachineAgent").join("himds.exe").exists())
    } else {
        false
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
    for (label, v) in [("user", user), ("appid", map.get("appid")), ("oid", map.get("oid")), ("tenant", map.get("tid"))]
    {
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
        assert_eq!(select_members(None).unwrap().0.len(), 6);
        assert_eq!(select_members(None).unwrap().0.last(), Some(&Member::AzurePowerShell));
        assert_eq!(select_members(Some("  ")).unwrap().0.len(), 6);
        assert_eq!(
            select_members(Some("dev")).unwrap(),
            (vec![Member::AzureCli, Member::AzureDeveloperCli, Member::AzurePowerShell], false)
        );
        assert_eq!(select_members(Some("azurepowershellcredential")).unwrap(), (vec![Member::AzurePowerShell], true));
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
    fn managed_identity_sources_like_msal() {
        let env = |f: &dyn Fn(&mut CredentialEnv)| {
            let mut e = CredentialEnv::default();
            f(&mut e);
            managed_identity_source(&e)
        };
        let ep = Some("http://127.0.0.1:1/".to_string());
        assert_eq!(
            env(&|e| {
                e.identity_endpoint = ep.clone();
                e.identity_header = Some("h".into())
            }),
            MiSource::AppService
        );
        assert_eq!(
            env(&|e| {
                e.identity_endpoint = ep.clone();
                e.identity_header = Some("h".into());
                e.identity_server_thumbprint = Some("AB".into());
            }),
            MiSource::ServiceFabric
        );
        assert_eq!(
            env(&|e| {
                e.identity_endpoint = ep.clone();
                e.imds_endpoint = ep.clone()
            }),
            MiSource::AzureArc
        );
        assert_eq!(
            env(&|e| {
                e.msi_endpoint = ep.clone();
                e.identity_endpoint = ep.clone()
            }),
            MiSource::MsiEndpoint
        );
        if !std::path::Path::new(super::super::managed_identity::ARC_HIMDS_LINUX).exists() {
            assert_eq!(env(&|_| ()), MiSource::Imds);
        }
    }

    #[test]
    fn environment_credential_takes_a_user_only_without_secret_or_certificate() {
        let mut env = CredentialEnv {
            tenant_id: Some("t1".into()),
            client_id: Some("app".into()),
            username: Some("u@example.test".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let built = build(Member::Environment, &env, ClientOptions::default(), Some("t1")).unwrap();
        assert!(format!("{built:?}").contains("UsernamePassword"), "{built:?}");
        env.client_secret = Some("s".into());
        let built = build(Member::Environment, &env, ClientOptions::default(), Some("t1")).unwrap();
        assert!(!format!("{built:?}").contains("UsernamePassword"), "{built:?}");
        env.client_secret = None;
        env.password = None;
        let e = build(Member::Environment, &env, ClientOptions::default(), Some("t1")).unwrap_err();
        assert!(e.why.contains("AZURE_USERNAME with AZURE_PASSWORD") && !e.configured, "{}", e.why);
        assert!(!format!("{:?}", CredentialEnv { password: Some("pw-xyz".into()), ..Default::default() })
            .contains("pw-xyz"));
    }

    #[test]
    fn environment_credential_needs_all_three() {
        let env = CredentialEnv { tenant_id: Some("t".into()), ..Default::default() };
        let why = build(Member::Environment, &env, ClientOptions::default(), env.tenant_id.as_deref()).unwrap_err();
        assert!(why.why.contains("AZURE_CLIENT_ID not set") && !why.configured, "{why:?}");
        // A certificate that cannot be used stops the chain (configured), naming the variable.
        let env = CredentialEnv {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_certificate_path: Some("/nonexistent/x.pem".into()),
            ..Default::default()
        };
        let why = build(Member::Environment, &env, ClientOptions::default(), Some("t")).unwrap_err();
        assert!(why.why.contains("AZURE_CLIENT_CERTIFICATE_PATH") && why.configured, "{why:?}");
        let why =
            build(Member::WorkloadIdentity, &CredentialEnv::default(), ClientOptions::default(), None).unwrap_err();
        assert!(why.why.contains("AZURE_FEDERATED_TOKEN_FILE"), "{why:?}");
    }

    #[test]
    fn a_broken_certificate_stops_the_chain() {
        let cli = fake(Ok("t"));
        let chain = ChainCredential::from_parts(
            vec![
                (
                    Member::Environment,
                    Err(NotBuilt { why: "AZURE_CLIENT_CERTIFICATE_PATH: bad".into(), configured: true }),
                ),
                (Member::AzureCli, Ok(cli.clone() as Arc<dyn TokenCredential>)),
            ],
            false,
        );
        let e = block(chain.get_token(&["s/.default"], None)).unwrap_err().to_string();
        assert!(e.contains("EnvironmentCredential: AZURE_CLIENT_CERTIFICATE_PATH: bad"), "{e}");
        assert_eq!(cli.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn tenants_resolve_like_azidentity() {
        let none: Vec<String> = Vec::new();
        assert_eq!(resolve_tenant(Some("a"), None, &none, "X").unwrap().as_deref(), Some("a"));
        assert_eq!(resolve_tenant(None, Some("v"), &none, "X").unwrap().as_deref(), Some("v"));
        assert_eq!(resolve_tenant(Some("v"), Some("v"), &none, "X").unwrap().as_deref(), Some("v"));
        let e = resolve_tenant(Some("a"), Some("v"), &none, "AzureCLICredential").unwrap_err();
        assert!(e.contains("AZURE_ADDITIONALLY_ALLOWED_TENANTS") && e.contains("\"v\""), "{e}");
        assert_eq!(resolve_tenant(Some("a"), Some("v"), &["v".to_string()], "X").unwrap().as_deref(), Some("v"));
        assert_eq!(resolve_tenant(Some("a"), Some("v"), &["*".to_string()], "X").unwrap().as_deref(), Some("v"));
        assert!(resolve_tenant(None, Some("v"), &["w".to_string()], "X").is_err());
        assert!(resolve_tenant(None, Some("v w"), &none, "X").is_err());
    }

    #[test]
    fn regional_authorities_like_msal() {
        assert_eq!(regional_authority_host(None, None), None);
        assert_eq!(
            regional_authority_host(None, Some("westeurope")).as_deref(),
            Some("https://westeurope.login.microsoft.com")
        );
        assert_eq!(
            regional_authority_host(Some("https://login.microsoftonline.us/"), Some("usgovvirginia")).as_deref(),
            Some("https://usgovvirginia.login.microsoftonline.us")
        );
        assert_eq!(regional_authority_host(None, Some("TryAutoDetect")), None);
        assert_eq!(regional_authority_host(None, Some("a/b")), None);
    }

    #[test]
    fn allowed_tenants_are_semicolon_separated() {
        assert_eq!(split_tenants("a; b;;"), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(split_tenants("*"), vec!["*".to_string()]);
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
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            br#"{"appid":"11111111-aaaa","oid":"22222222-bbbb","tid":"tenant-x","aud":"https://vault.azure.net"}"#,
        );
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        let d = describe_identity("ManagedIdentityCredential", &token);
        assert_eq!(d, "ManagedIdentityCredential, appid 11111111-aaaa, oid 22222222-bbbb, tenant tenant-x");
        assert!(!d.contains(&token));
        assert_eq!(describe_identity("AzureCLICredential", "not-a-jwt"), "AzureCLICredential");
    }
}
