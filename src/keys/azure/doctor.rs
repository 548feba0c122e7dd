//! `kvsops doctor`: why can (or can't) this machine use its Azure Key Vault keys?
//!
//! For a list of keys it checks, and reports as structured [`Check`]s with a fix for each failure:
//! - the credential: which member of the chain produced a token, and whose token it is (tenant,
//!   object id, name — read from the token's claims; the token itself is never kept or shown);
//! - each vault: the route (direct or through the proxy in force), name resolution, the
//!   connection or the proxy's tunnel, TLS, Key Vault's challenge, and that the token's tenant is
//!   the vault's (see `super::reach`);
//! - each key: that the key (and version) exists and may be read (`get`), and that `encrypt` and
//!   `decrypt` are allowed, probed by encrypting 32 fresh random bytes and decrypting them again —
//!   never a file's data key.
//!
//! The operations go through the same client, retries and budget as encryption does, so what
//! doctor finds is what `encrypt` and `decrypt` will meet.

use std::collections::HashMap;
use std::time::Duration;

use azure_core::credentials::TokenCredential as _;
use azure_security_keyvault_keys::models::{
    EncryptionAlgorithm, KeyClientDecryptOptions, KeyClientEncryptOptions, KeyClientGetKeyOptions,
    KeyOperationParameters,
};
use azure_security_keyvault_keys::ResourceExt as _;
use base64::Engine as _;
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::credential::one_line;
use super::reach::{self, Challenge};
use super::{AzureSource, Class, Failure, Shared, TIMEOUT_VAR};

/// The scope asked for when no vault answered with its challenge.
const DEFAULT_SCOPE: &str = "https://vault.azure.net/.default";

/// How many random bytes the encrypt/decrypt probe uses (a data key's size).
const PROBE_BYTES: usize = 32;

/// A key to check, and where it came from (a file, a creation rule, the command line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoctorKey {
    pub vault_url: String,
    pub name: String,
    /// `None`: the key's current version.
    pub version: Option<String>,
    /// Where the key was found, for the report.
    pub origins: Vec<String>,
}

impl DoctorKey {
    /// The key's URL as configured.
    pub fn url(&self) -> String {
        match &self.version {
            Some(v) => format!("{}/keys/{}/{v}", self.vault_url, self.name),
            None => format!("{}/keys/{}", self.vault_url, self.name),
        }
    }
}

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Fail,
    /// Not checked, because a check it depends on failed (or it cannot be checked here).
    Skip,
}

/// One check: what was checked, how it went, and what to do when it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// A short name: credential, identity, dns, connect, proxy, tunnel, https, tenant, get, encrypt, decrypt.
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do (a role to grant, a command to run), for failures.
    pub fix: Option<String>,
}

impl Check {
    pub(super) fn ok(name: &'static str, detail: String) -> Check {
        Check { name, status: Status::Ok, detail, fix: None }
    }
    pub(super) fn fail(name: &'static str, detail: String, fix: Option<String>) -> Check {
        Check { name, status: Status::Fail, detail, fix }
    }
    pub(super) fn skip(name: &'static str, detail: String) -> Check {
        Check { name, status: Status::Skip, detail, fix: None }
    }
}

/// A titled group of checks: the credential, one vault, or one key.
#[derive(Clone, Debug)]
pub struct Section {
    pub title: String,
    pub checks: Vec<Check>,
}

/// Everything doctor found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub sections: Vec<Section>,
}

impl Report {
    /// True when something was checked and no check failed.
    pub fn passed(&self) -> bool {
        let all = || self.sections.iter().flat_map(|s| s.checks.iter());
        all().next().is_some() && all().all(|c| c.status != Status::Fail)
    }

    /// (ok, failed, not checked) counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for c in self.sections.iter().flat_map(|s| s.checks.iter()) {
            match c.status {
                Status::Ok => n.0 += 1,
                Status::Fail => n.1 += 1,
                Status::Skip => n.2 += 1,
            }
        }
        n
    }
}

/// Who a token belongs to, from its claims (not verified: for the report only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub tenant: Option<String>,
    pub object_id: Option<String>,
    pub app_id: Option<String>,
    /// A user's sign-in name, an application's display name, or a managed identity's resource name.
    pub name: Option<String>,
    /// True for users (the `az role assignment` principal type is then `User`).
    pub is_user: bool,
}

impl Identity {
    /// Reads the claims of a JWT access token; anything that is not a JWT gives `None`.
    pub fn from_token(token: &str) -> Option<Identity> {
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let serde_json::Value::Object(map) = serde_json::from_slice::<serde_json::Value>(&bytes).ok()? else {
            return None;
        };
        let claim = |k: &str| match map.get(k) {
            // Claims are identifiers; keep them short and printable all the same.
            Some(serde_json::Value::String(s)) if !s.is_empty() => {
                Some(s.chars().filter(|c| !c.is_control()).take(200).collect::<String>())
            }
            _ => None,
        };
        let user = claim("upn").or_else(|| claim("unique_name")).or_else(|| claim("preferred_username"));
        let is_user = user.is_some() || claim("idtyp").as_deref() == Some("user");
        let name = user
            .or_else(|| claim("name"))
            .or_else(|| claim("app_displayname"))
            .or_else(|| claim("xms_mirid").and_then(|r| r.rsplit('/').next().map(str::to_string)));
        Some(Identity {
            tenant: claim("tid"),
            object_id: claim("oid"),
            app_id: claim("appid").or_else(|| claim("azp")),
            name,
            is_user,
        })
    }

    /// `tenant T, object id O, name N, app id A` (what is known).
    pub fn describe(&self) -> String {
        let parts: Vec<String> =
            [("tenant", &self.tenant), ("object id", &self.object_id), ("name", &self.name), ("app id", &self.app_id)]
                .iter()
                .filter_map(|(label, v)| v.as_ref().map(|v| format!("{label} {v}")))
                .collect();
        parts.join(", ")
    }
}

impl AzureSource {
    /// Runs every check for `keys` (see the module documentation). Never fails: what goes wrong
    /// is a failed check in the report.
    pub fn doctor(&self, keys: &[DoctorKey]) -> Report {
        match self.shared() {
            Ok(shared) => shared.block_on(|| shared.doctor(keys)),
            Err(e) => Report {
                sections: vec![Section {
                    title: "Azure credential".into(),
                    checks: vec![Check::fail(
                        "credential",
                        e.to_string(),
                        Some("fix the variable named above (see docs/azure-key-vault.md, \"Credentials\")".into()),
                    )],
                }],
            },
        }
    }
}

/// The token-independent state of one vault after its network checks.
struct VaultState {
    checks: Vec<Check>,
    challenge: Option<Challenge>,
}

impl Shared {
    async fn doctor(&self, keys: &[DoctorKey]) -> Report {
        let limit = self.budget.min(Duration::from_secs(15));
        let mut vault_order: Vec<&str> = Vec::new();
        for k in keys {
            if !vault_order.contains(&k.vault_url.as_str()) {
                vault_order.push(&k.vault_url);
            }
        }
        let mut vaults: HashMap<&str, VaultState> = HashMap::new();
        for v in &vault_order {
            let (checks, challenge) = reach::check(v, limit).await;
            vaults.insert(v, VaultState { checks, challenge });
        }

        // The credential, with the scope the first answering vault asked for.
        let scope = vault_order
            .iter()
            .find_map(|v| vaults.get(v).and_then(|s| s.challenge.as_ref()).and_then(|c| c.scope.clone()))
            .unwrap_or_else(|| DEFAULT_SCOPE.to_string());
        let (cred_checks, identity, have_token) = self.check_credential(&scope).await;
        let mut sections = vec![Section { title: "Azure credential".into(), checks: cred_checks }];

        for v in &vault_order {
            let Some(state) = vaults.remove(v) else { continue };
            let mut checks = state.checks;
            let reachable = state.challenge.is_some();
            if let (Some(vault_tenant), Some(token_tenant)) = (
                state.challenge.as_ref().and_then(|c| c.tenant.clone()),
                identity.as_ref().and_then(|i| i.tenant.clone()),
            ) {
                if vault_tenant.eq_ignore_ascii_case(&token_tenant) {
                    checks.push(Check::ok("tenant", format!("the token's tenant {token_tenant} is the vault's")));
                } else {
                    checks.push(Check::fail(
                        "tenant",
                        format!("the token is for tenant {token_tenant}, but the vault belongs to tenant {vault_tenant}: Key Vault will answer 401"),
                        Some(format!(
                            "sign in to the vault's tenant: az login --tenant {vault_tenant}, or set AZURE_TENANT_ID={vault_tenant} for a service principal or workload identity"
                        )),
                    ));
                }
            }
            sections.push(Section { title: format!("vault {v}"), checks });
            for key in keys.iter().filter(|k| k.vault_url == *v) {
                let title = format!("key {} ({})", key.url(), key.origins.join("; "));
                let checks = if !have_token {
                    ["get", "encrypt", "decrypt"].map(|n| Check::skip(n, "not checked: no Azure token".into())).to_vec()
                } else if !reachable {
                    ["get", "encrypt", "decrypt"]
                        .map(|n| Check::skip(n, "not checked: the vault is not reachable".into()))
                        .to_vec()
                } else {
                    self.check_key(key, identity.as_ref()).await
                };
                sections.push(Section { title, checks });
            }
        }
        Report { sections }
    }

    /// The credential and identity lines; returns them, the identity, and whether a token came.
    async fn check_credential(&self, scope: &str) -> (Vec<Check>, Option<Identity>, bool) {
        let candidates = self.credential.candidate_names();
        let tried = candidates.join(", ");
        let got = tokio::time::timeout(self.budget, self.credential.get_token(&[scope], None)).await;
        let token = match got {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                return (
                    vec![
                        Check::fail("credential", one_line(&e.to_string()), Some(credential_fix(&candidates))),
                        Check::skip("identity", "not checked: no token".into()),
                    ],
                    None,
                    false,
                )
            }
            Err(_) => {
                return (
                    vec![
                        Check::fail(
                            "credential",
                            format!("no token within {:.0} s (tried {tried})", self.budget.as_secs_f64()),
                            Some(format!(
                                "check the network path to the token endpoint; {TIMEOUT_VAR} sets this limit"
                            )),
                        ),
                        Check::skip("identity", "not checked: no token".into()),
                    ],
                    None,
                    false,
                )
            }
        };
        let chosen = self.credential.chosen_name().unwrap_or("the credential chain");
        let how = if candidates.len() > 1 {
            format!("{chosen} (the chain tries {tried}, in that order; AZURE_TOKEN_CREDENTIALS narrows it)")
        } else {
            format!("{chosen} (the only credential tried)")
        };
        let mut checks = vec![Check::ok("credential", format!("{how}: token for {scope}"))];
        // Only the claims are kept; the token goes out of scope here.
        let identity = Identity::from_token(token.token.secret());
        drop(token);
        match &identity {
            Some(id) if id.object_id.is_some() || id.tenant.is_some() => {
                checks.push(Check::ok("identity", id.describe()));
            }
            _ => checks.push(Check::ok(
                "identity",
                "the token carries no readable claims (not a JWT); az ad signed-in-user show or az account show tells who is signed in".into(),
            )),
        }
        (checks, identity, true)
    }

    /// get, encrypt and decrypt for one key.
    async fn check_key(&self, key: &DoctorKey, identity: Option<&Identity>) -> Vec<Check> {
        let mut checks = Vec::new();
        let client = match self.client(&key.vault_url) {
            Ok(c) => c,
            Err(e) => {
                checks.push(Check::fail("get", e.to_string(), Some(format!("use the form {}", super::URL_FORM))));
                return checks;
            }
        };
        let name = key.name.as_str();
        let version = key.version.clone();
        let vault = reach::vault_name(&key.vault_url);
        let ctx = FixContext { vault: &vault, key: name, version: version.as_deref(), identity };

        // get: the key (and version) exists, is enabled, and allows encrypt and decrypt.
        let got = self
            .call_classified(|| {
                let options = KeyClientGetKeyOptions { key_version: version.clone(), ..Default::default() };
                let client = &client;
                async move { client.get_key(name, Some(options)).await?.into_model() }
            })
            .await;
        match got {
            Ok(done) => {
                let k = done.value;
                let resolved = k.resource_id().ok().and_then(|id| id.version).unwrap_or_default();
                let what = match &version {
                    Some(v) => format!("version {v} of key {name}"),
                    None => format!("key {name} (current version {resolved})"),
                };
                let enabled = k.attributes.as_ref().and_then(|a| a.enabled).unwrap_or(true);
                let ops: Vec<String> = k
                    .key
                    .as_ref()
                    .and_then(|j| j.key_ops.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|o| o.to_ascii_lowercase())
                    .collect();
                let missing: Vec<&str> = ["encrypt", "decrypt"]
                    .into_iter()
                    .filter(|o| !ops.is_empty() && !ops.iter().any(|x| x == o))
                    .collect();
                let vflag = if resolved.is_empty() { String::new() } else { format!(" --version {resolved}") };
                if !enabled {
                    checks.push(Check::fail(
                        "get",
                        format!("{what} exists but is disabled"),
                        Some(format!(
                            "az keyvault key set-attributes --vault-name {vault} --name {name}{vflag} --enabled true"
                        )),
                    ));
                } else if !missing.is_empty() {
                    checks.push(Check::fail(
                        "get",
                        format!("{what} exists but does not allow {} (its operations: {})", missing.join(" and "), ops.join(", ")),
                        Some(format!("az keyvault key set-attributes --vault-name {vault} --name {name}{vflag} --ops encrypt decrypt")),
                    ));
                } else {
                    checks.push(Check::ok(
                        "get",
                        format!("{what} exists and is enabled{}", retried_note(done.attempts, &done.retried)),
                    ));
                }
            }
            Err(f) => checks.push(failed_check("get", "get", &f, &ctx, self.budget)),
        }

        // encrypt and decrypt 32 fresh random bytes: never a file's data key.
        let mut probe = Zeroizing::new(vec![0u8; PROBE_BYTES]);
        rand::thread_rng().fill_bytes(&mut probe);
        let encrypted = self
            .call_classified(|| {
                let params = KeyOperationParameters {
                    algorithm: Some(EncryptionAlgorithm::RsaOaep256),
                    value: Some(probe.to_vec()),
                    ..Default::default()
                };
                let options = KeyClientEncryptOptions { key_version: version.clone(), ..Default::default() };
                let client = &client;
                async move { client.encrypt(name, params.try_into()?, Some(options)).await?.into_model() }
            })
            .await;
        let (ciphertext, used_version) = match encrypted {
            Ok(done) => {
                let used = done
                    .value
                    .kid
                    .as_deref()
                    .and_then(|kid| kid.trim_end_matches('/').rsplit('/').next().map(str::to_string))
                    .or_else(|| version.clone())
                    .unwrap_or_default();
                match done.value.result.filter(|r| !r.is_empty()) {
                    Some(ct) => {
                        checks.push(Check::ok(
                            "encrypt",
                            format!(
                                "{PROBE_BYTES} random bytes encrypted with RSA-OAEP-256 by version {used}{}",
                                retried_note(done.attempts, &done.retried)
                            ),
                        ));
                        (Some(ct), used)
                    }
                    None => {
                        checks.push(Check::fail("encrypt", "the vault returned no ciphertext".into(), None));
                        (None, used)
                    }
                }
            }
            Err(f) => {
                checks.push(failed_check("encrypt", "encrypt", &f, &ctx, self.budget));
                (None, String::new())
            }
        };
        let Some(ciphertext) = ciphertext else {
            checks.push(Check::skip("decrypt", "not checked: it decrypts what the encrypt probe produced".into()));
            return checks;
        };
        let decrypted = self
            .call_classified(|| {
                let params = KeyOperationParameters {
                    algorithm: Some(EncryptionAlgorithm::RsaOaep256),
                    value: Some(ciphertext.clone()),
                    ..Default::default()
                };
                let client = &client;
                let used_version = used_version.as_str();
                async move {
                    client
                        .decrypt(name, used_version, params.try_into()?, None::<KeyClientDecryptOptions<'_>>)
                        .await?
                        .into_model()
                }
            })
            .await;
        match decrypted {
            Ok(done) => {
                let plain = Zeroizing::new(done.value.result.clone().unwrap_or_default());
                if plain.as_slice() == probe.as_slice() {
                    checks.push(Check::ok(
                        "decrypt",
                        format!(
                            "the vault decrypted them back to the same bytes{}",
                            retried_note(done.attempts, &done.retried)
                        ),
                    ));
                } else {
                    checks.push(Check::fail(
                        "decrypt",
                        "the vault's decryption did not give back the random bytes it encrypted".into(),
                        Some("the key or the path to it is not what it seems (a proxy rewriting answers?)".into()),
                    ));
                }
            }
            Err(f) => {
                let ctx = FixContext { version: Some(used_version.as_str()).filter(|v| !v.is_empty()), ..ctx };
                checks.push(failed_check("decrypt", "decrypt", &f, &ctx, self.budget));
            }
        }
        checks
    }
}

/// " (after 3 attempts; retried: HTTP 429 ...)" when an operation needed retries.
fn retried_note(attempts: u32, retried: &Option<String>) -> String {
    match retried {
        Some(what) if attempts > 1 => format!(" (after {attempts} attempts; retried: {what})"),
        _ => String::new(),
    }
}

/// What the fixes name.
#[derive(Clone, Copy)]
struct FixContext<'a> {
    vault: &'a str,
    key: &'a str,
    version: Option<&'a str>,
    identity: Option<&'a Identity>,
}

/// The role assignment (and access policy) that grants `permission` to the identity.
fn grant_fix(ctx: &FixContext<'_>, permission: &str) -> String {
    let (oid, ptype) = match ctx.identity {
        Some(Identity { object_id: Some(oid), is_user, .. }) => {
            (oid.clone(), if *is_user { "User" } else { "ServicePrincipal" })
        }
        _ => ("<object id of the identity>".to_string(), "<User|ServicePrincipal>"),
    };
    format!(
        "grant the identity the role \"Key Vault Crypto User\" (it includes get, encrypt and decrypt): az role assignment create \
         --role \"Key Vault Crypto User\" --assignee-object-id {oid} --assignee-principal-type {ptype} --scope \
         \"$(az keyvault show --name {vault} --query id -o tsv)/keys/{key}\"; a vault using access policies instead of RBAC: \
         az keyvault set-policy --name {vault} --object-id {oid} --key-permissions get encrypt decrypt \
         (the missing one is {permission}); role assignments take a few minutes to apply",
        vault = ctx.vault,
        key = ctx.key
    )
}

/// A failed operation as a check line with its fix.
fn failed_check(name: &'static str, permission: &str, f: &Failure, ctx: &FixContext<'_>, budget: Duration) -> Check {
    let tries = if f.attempts > 1 {
        format!(" after {} attempts in {:.1} s", f.attempts, f.elapsed.as_secs_f64())
    } else {
        String::new()
    };
    if f.timed_out {
        return Check::fail(
            name,
            format!("the vault did not answer within {:.0} s{tries}", budget.as_secs_f64()),
            Some(format!("check the network path to the vault; {TIMEOUT_VAR} sets this limit")),
        );
    }
    match &f.class {
        Class::Denied { status: 401, detail } => Check::fail(
            name,
            format!("Key Vault did not accept the token (HTTP 401: {detail})"),
            Some(
                "the token must come from the vault's tenant (see the tenant line): az login --tenant <tenant>, or set AZURE_TENANT_ID"
                    .into(),
            ),
        ),
        Class::Denied { status, detail } => Check::fail(
            name,
            format!("the identity lacks the keys/{permission} permission on key {} (HTTP {status}: {detail})", ctx.key),
            Some(grant_fix(ctx, permission)),
        ),
        Class::NotFound { detail } => {
            let what = match ctx.version {
                Some(v) => format!("version {v} of key {}", ctx.key),
                None => format!("key {}", ctx.key),
            };
            let fix = match ctx.version {
                Some(_) => format!(
                    "list the versions that exist (az keyvault key list-versions --vault-name {} --name {} --query \"[].kid\" -o tsv); \
                     a deleted key can be recovered (az keyvault key recover --vault-name {} --name {})",
                    ctx.vault, ctx.key, ctx.vault, ctx.key
                ),
                None => format!(
                    "list the vault's keys (az keyvault key list --vault-name {} --query \"[].kid\" -o tsv), or create it \
                     (az keyvault key create --vault-name {} --name {} --kty RSA --size 3072 --ops encrypt decrypt)",
                    ctx.vault, ctx.vault, ctx.key
                ),
            };
            Check::fail(name, format!("{what} was not found in vault {} (HTTP 404: {detail})", ctx.vault), Some(fix))
        }
        Class::Transient { what, .. } => {
            let fix = if what.contains("HTTP 429") {
                format!(
                    "Key Vault is throttling requests to this vault: retry later, run fewer files at once (--jobs, KVSOPS_JOBS), \
                     or give the retries more time ({TIMEOUT_VAR}, now {:.0} s)",
                    budget.as_secs_f64()
                )
            } else {
                format!("a Key Vault outage or a failing proxy: retry later; {TIMEOUT_VAR} (now {:.0} s) bounds the retries", budget.as_secs_f64())
            };
            Check::fail(name, format!("the vault kept failing{tries}: {what}"), Some(fix))
        }
        Class::Unreachable { cause } => {
            Check::fail(name, format!("cannot reach the vault: {cause}"), Some("see the vault's lines above".into()))
        }
        Class::Credential { detail } => Check::fail(name, format!("no Azure token: {}", one_line(detail)), Some(credential_fix(&[]))),
        Class::Other { detail } => Check::fail(
            name,
            detail.clone(),
            Some(format!(
                "check the key's type and allowed operations (az keyvault key show --vault-name {} --name {})",
                ctx.vault, ctx.key
            )),
        ),
    }
}

/// What to do when no credential gave a token.
fn credential_fix(candidates: &[&str]) -> String {
    let only = |n: &str| candidates.len() == 1 && candidates[0] == n;
    if only("AzureCLICredential") {
        return "sign in with az login (az account show tells who is signed in)".into();
    }
    "sign in with az login, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal, or \
     run where a managed identity or workload identity is configured; each credential's reason is listed above, and \
     AZURE_TOKEN_CREDENTIALS=<name> pins the one you mean to use (see docs/azure-key-vault.md, \"Credentials\")"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("eyJhbGciOiJub25lIn0.{p}.c2lnbmF0dXJl")
    }

    #[test]
    fn identities_come_from_the_claims() {
        let t = jwt(
            r#"{"tid":"t1","oid":"o1","appid":"a1","xms_mirid":"/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/flux-sops","idtyp":"app"}"#,
        );
        let id = Identity::from_token(&t).unwrap();
        assert_eq!(id.name.as_deref(), Some("flux-sops"));
        assert!(!id.is_user);
        assert_eq!(id.describe(), "tenant t1, object id o1, name flux-sops, app id a1");
        let u = Identity::from_token(&jwt(r#"{"tid":"t1","oid":"o2","upn":"alice@contoso.com"}"#)).unwrap();
        assert!(u.is_user);
        assert_eq!(u.name.as_deref(), Some("alice@contoso.com"));
        assert_eq!(Identity::from_token("opaque"), None);
        assert!(!id.describe().contains(&t));
    }

    fn failure(class: Class) -> Failure {
        Failure { class, attempts: 1, elapsed: Duration::ZERO, timed_out: false }
    }

    #[test]
    fn failures_come_with_their_fix() {
        let id = Identity { object_id: Some("o-1".into()), ..Default::default() };
        let ctx = FixContext { vault: "kv1", key: "k", version: Some("v1"), identity: Some(&id) };
        let c = failed_check(
            "decrypt",
            "decrypt",
            &failure(Class::Denied { status: 403, detail: "no".into() }),
            &ctx,
            Duration::from_secs(30),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("keys/decrypt"), "{c:?}");
        let fix = c.fix.unwrap();
        assert!(
            fix.contains("Key Vault Crypto User")
                && fix.contains("--assignee-object-id o-1")
                && fix.contains("ServicePrincipal"),
            "{fix}"
        );
        assert!(fix.contains("az keyvault set-policy --name kv1 --object-id o-1"), "{fix}");
        let c = failed_check(
            "get",
            "get",
            &failure(Class::NotFound { detail: "gone".into() }),
            &ctx,
            Duration::from_secs(30),
        );
        assert!(c.detail.contains("version v1 of key k was not found"), "{c:?}");
        assert!(c.fix.unwrap().contains("az keyvault key list-versions --vault-name kv1 --name k"));
        let throttled = Failure {
            class: Class::Transient { what: "HTTP 429 (Throttled: slow down)".into(), retry_after: None },
            attempts: 4,
            elapsed: Duration::from_secs(2),
            timed_out: false,
        };
        let c = failed_check("encrypt", "encrypt", &throttled, &ctx, Duration::from_secs(2));
        assert!(
            c.detail.contains("after 4 attempts") && c.fix.as_deref().unwrap_or("").contains("throttling"),
            "{c:?}"
        );
    }

    #[test]
    fn a_report_passes_only_without_failures() {
        let mut r = Report::default();
        assert!(!r.passed(), "nothing checked is not a pass");
        r.sections.push(Section { title: "x".into(), checks: vec![Check::ok("get", "fine".into())] });
        assert!(r.passed());
        r.sections[0].checks.push(Check::fail("encrypt", "no".into(), None));
        assert!(!r.passed());
        assert_eq!(r.counts(), (1, 1, 0));
    }
}
