//! Managed identity on the hosts `azure_identity` 1.0 does not know, chosen from the environment
//! as azidentity does: Cloud Shell (`MSI_ENDPOINT` alone: `POST` with `Metadata: true` and the
//! resource in a form) and Azure Machine Learning (`MSI_ENDPOINT` + `MSI_SECRET`: `GET` with
//! `api-version=2017-09-01`, the `secret` header and `clientid`, from `AZURE_CLIENT_ID` or
//! `DEFAULT_IDENTITY_CLIENT_ID`) and Azure Arc (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the Arc
//! agent installed: a challenge naming a key file the agent wrote, whose contents prove the caller
//! may read it; see [`arc_key`]) and Service Fabric (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` +
//! `IDENTITY_SERVER_THUMBPRINT`: `GET` with `api-version=2019-07-01-preview` and the `Secret`
//! header). App Service and IMDS stay with `azure_identity`.
//!
//! Service Fabric's endpoint usually has a self-signed certificate whose thumbprint is in
//! `IDENTITY_SERVER_THUMBPRINT`. azidentity 1.13 (through MSAL for Go 1.6) uses that variable only
//! to recognise Service Fabric and verifies the endpoint's TLS certificate like any other (system
//! roots, `SSL_CERT_FILE`); kvsops does the same, so both accept and refuse the same endpoints.

use std::fmt;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, Url};
use azure_core::time::OffsetDateTime;

/// Which host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    CloudShell,
    AzureMl,
    AzureArc,
    ServiceFabric,
}

/// The Arc agent's endpoint when `IDENTITY_ENDPOINT` is not set (azidentity's default).
pub const ARC_DEFAULT_ENDPOINT: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";

/// Where the Arc agent is installed on Linux: its presence alone selects Arc (as in MSAL, Go).
pub const ARC_HIMDS_LINUX: &str = "/opt/azcmagent/bin/himds";

/// The largest key file accepted from the Arc challenge.
const ARC_MAX_KEY_BYTES: u64 = 4096;

/// The only directory the Arc challenge may point into: `/var/opt/azcmagent/tokens` on Linux,
/// `%ProgramData%\AzureConnectedMachineAgent\Tokens` on Windows, none elsewhere. So a process
/// answering on the endpoint cannot make kvsops send the contents of an arbitrary file.
pub fn arc_key_dir() -> Result<std::path::PathBuf, String> {
    if cfg!(target_os = "linux") {
        Ok("/var/opt/azcmagent/tokens".into())
    } else if cfg!(windows) {
        let pd = std::env::var_os("ProgramData").ok_or("ProgramData is not set")?;
        Ok(std::path::Path::new(&pd).join("AzureConnectedMachineAgent").join("Tokens"))
    } else {
        Err("Azure Arc managed identity is supported on Linux and Windows only".into())
    }
}

/// The secret of an Arc challenge (`WWW-Authenticate: Basic realm=<key file>`), with azidentity's
/// rules: the file must be directly in `dir`, end in `.key` and hold at most 4096 bytes. The
/// returned secret is never put in a message.
pub fn arc_key(www_authenticate: Option<&str>, dir: &std::path::Path) -> Result<String, String> {
    let header =
        www_authenticate.filter(|h| !h.is_empty()).ok_or("the Arc endpoint's 401 has no WWW-Authenticate header")?;
    let (_, path) = header
        .split_once("Basic realm=")
        .ok_or_else(|| format!("\"Basic realm=\" not found in the WWW-Authenticate header {header:?}"))?;
    let path = std::path::Path::new(path);
    if !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".key")) {
        return Err(format!("the Arc key file {} does not end in .key", path.display()));
    }
    if path.parent() != Some(dir) {
        return Err(format!("the Arc key file {} is not in {}", path.display(), dir.display()));
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot stat the Arc key file {}: {e}", path.display()))?;
    if meta.len() > ARC_MAX_KEY_BYTES {
        return Err(format!(
            "the Arc key file {} has {} bytes; at most {ARC_MAX_KEY_BYTES} are accepted",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the Arc key file {}: {e}", path.display()))
}

/// A managed identity token from a Cloud Shell or Azure ML endpoint.
pub struct HostedIdentity {
    host: Host,
    endpoint: Url,
    /// `MSI_SECRET` (Azure ML).
    secret: Option<String>,
    /// `clientid` (Azure ML).
    client_id: Option<String>,
    pipeline: Pipeline,
}

impl fmt::Debug for HostedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("HostedIdentity")
            .field("host", &self.host)
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl HostedIdentity {
    /// `endpoint`: `MSI_ENDPOINT`. Cloud Shell has no user-assigned identities: `AZURE_CLIENT_ID`
    /// is then an error, as in azidentity.
    pub fn new(
        host: Host,
        endpoint: &str,
        secret: Option<String>,
        client_id: Option<String>,
        options: ClientOptions,
    ) -> Result<Self, String> {
        let endpoint = Url::parse(endpoint).map_err(|e| format!("MSI_ENDPOINT {endpoint:?} is not a URL: {e}"))?;
        if host == Host::CloudShell && client_id.is_some() {
            return Err(
                "Cloud Shell managed identity does not support user-assigned identities (AZURE_CLIENT_ID)".into()
            );
        }
        if host == Host::ServiceFabric && client_id.is_some() {
            return Err(
                "Service Fabric managed identity does not support user-assigned identities (AZURE_CLIENT_ID): \
                        the cluster's configuration decides the identity"
                    .into(),
            );
        }
        if host == Host::AzureArc && client_id.is_some() {
            return Err("Azure Arc managed identity does not support user-assigned identities (AZURE_CLIENT_ID)".into());
        }
        let pipeline = token_pipeline(options);
        Ok(HostedIdentity { host, endpoint, secret, client_id, pipeline })
    }

    fn request(&self, resource: &str) -> Request {
        match self.host {
            Host::ServiceFabric => {
                let mut url = self.endpoint.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", "2019-07-01-preview")
                    .append_pair("resource", resource);
                let mut req = Request::new(url, Method::Get);
                req.insert_header(HeaderName::from_static("accept"), "application/json");
                req.insert_header(HeaderName::from_static("secret"), self.secret.clone().unwrap_or_default());
                req
            }
            Host::AzureArc => {
                let mut url = self.endpoint.clone();
                url.query_pairs_mut().append_pair("api-version", "2020-06-01").append_pair("resource", resource);
                let mut req = Request::new(url, Method::Get);
                req.insert_header(HeaderName::from_static("metadata"), "true");
                req
            }
            Host::CloudShell => {
                let mut req = Request::new(self.endpoint.clone(), Method::Post);
                req.insert_header(HeaderName::from_static("metadata"), "true");
                req.insert_header(HeaderName::from_static("content-type"), "application/x-www-form-urlencoded");
                // The form body, encoded by the URL type's query serializer.
                let mut form = Url::parse("http://form.invalid/").unwrap_or_else(|_| self.endpoint.clone());
                form.query_pairs_mut().clear().append_pair("resource", resource);
                req.set_body(form.query().unwrap_or_default().to_string());
                req
            }
            Host::AzureMl => {
                let mut url = self.endpoint.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", "2017-09-01")
                    .append_pair("resource", resource)
                    .append_pair("clientid", self.client_id.as_deref().unwrap_or(""));
                let mut req = Request::new(url, Method::Get);
                req.insert_header(HeaderName::from_static("secret"), self.secret.clone().unwrap_or_default());
                req
            }
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for HostedIdentity {
    async fn get_token(&self, scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let fail = |m: String| azure_core::Error::with_message(ErrorKind::Credential, m);
        let [scope] = scopes else {
            return Err(fail("ManagedIdentityCredential: exactly one scope is needed".into()));
        };
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let mut req = self.request(resource);
        let send = |mut req: Request| async move {
            self.pipeline
                .send(&Context::new(), &mut req, Some(PipelineSendOptions { skip_checks: true, ..Default::default() }))
                .await
        };
        if self.host == Host::AzureArc {
            // First ask without a secret: the agent answers 401 naming a key file only a
            // privileged local user can read; then ask again with its contents.
            let challenge = send(req).await?;
            let status = u16::from(challenge.status());
            if status != 401 {
                return Err(fail(format!(
                    "ManagedIdentityCredential (AzureArc): expected a 401 challenge from {}, got HTTP {status}",
                    self.endpoint
                )));
            }
            let header = challenge.headers().get_optional_str(&HeaderName::from_static("www-authenticate"));
            let dir = arc_key_dir().map_err(|e| fail(format!("ManagedIdentityCredential (AzureArc): {e}")))?;
            let key = arc_key(header, &dir).map_err(|e| fail(format!("ManagedIdentityCredential (AzureArc): {e}")))?;
            req = self.request(resource);
            req.insert_header(
                HeaderName::from_static("authorization"),
                format!("Basic {}", key.trim_end_matches(['\r', '\n'])),
            );
        }
        let res = send(req).await?;
        let status = u16::from(res.status());
        let body: &[u8] = res.body().as_ref();
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(body);
            return Err(fail(format!(
                "ManagedIdentityCredential ({:?}): HTTP {status} from {}: {}",
                self.host,
                self.endpoint,
                super::credential::one_line(&text).chars().take(300).collect::<String>()
            )));
        }
        parse_token(body).map_err(|e| fail(format!("ManagedIdentityCredential ({:?}): {e}", self.host)))
    }
}

/// `access_token` with `expires_on` (Unix seconds, number or string) or `expires_in`.
pub fn parse_token(body: &[u8]) -> Result<AccessToken, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the endpoint answered no token JSON ({e})"))?;
    let token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or("no access_token in the answer")?;
    let number = |k: &str| match v.get(k) {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let expires = match (number("expires_on"), number("expires_in")) {
        (Some(on), _) => OffsetDateTime::from_unix_timestamp(on).map_err(|_| format!("invalid expires_on {on}"))?,
        (None, Some(secs)) => OffsetDateTime::now_utc() + time::Duration::seconds(secs),
        (None, None) => return Err("no expires_on or expires_in in the answer".into()),
    };
    Ok(AccessToken::new(token.to_string(), expires))
}

/// The HTTP pipeline of a token endpoint client: the SDK's defaults (retries, logging policy,
/// user agent) and no policies of its own, shared by the hand-written credentials.
pub(super) fn token_pipeline(options: ClientOptions) -> Pipeline {
    Pipeline::new(
        option_env!("CARGO_PKG_NAME"),
        option_env!("CARGO_PKG_VERSION"),
        options,
        Vec::new(),
        Vec::new(),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_with_string_or_number_expiry() {
        assert_eq!(
            parse_token(br#"{"access_token":"a","expires_on":"1893553445"}"#).unwrap().expires_on.unix_timestamp(),
            1893553445
        );
        assert_eq!(
            parse_token(br#"{"access_token":"a","expires_on":1893553445}"#).unwrap().expires_on.unix_timestamp(),
            1893553445
        );
        assert!(parse_token(br#"{"access_token":"a","expires_in":"3600"}"#).is_ok());
        assert!(parse_token(br#"{"access_token":"a"}"#).is_err());
        assert!(parse_token(b"<html>").is_err());
    }

    #[test]
    fn cloud_shell_has_no_user_assigned_identities() {
        let e = HostedIdentity::new(
            Host::CloudShell,
            "http://localhost:50342/oauth2/token",
            None,
            Some("c".into()),
            ClientOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("AZURE_CLIENT_ID"), "{e}");
        assert!(HostedIdentity::new(Host::AzureMl, "not a url", None, None, ClientOptions::default()).is_err());
    }

    #[test]
    fn arc_key_files_follow_azidentity_rules() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let good = dir.path().join("abc.key");
        std::fs::write(&good, "s3cret").unwrap();
        let realm = |p: &std::path::Path| format!("Basic realm={}", p.display());
        assert_eq!(arc_key(Some(&realm(&good)), dir.path()).unwrap(), "s3cret");
        // Not under the agent's directory, not a .key file, too large, missing header or realm.
        let elsewhere = other.path().join("abc.key");
        std::fs::write(&elsewhere, "x").unwrap();
        let e = arc_key(Some(&realm(&elsewhere)), dir.path()).unwrap_err();
        assert!(e.contains("is not in"), "{e}");
        let txt = dir.path().join("abc.txt");
        std::fs::write(&txt, "x").unwrap();
        assert!(arc_key(Some(&realm(&txt)), dir.path()).unwrap_err().contains(".key"));
        let big = dir.path().join("big.key");
        std::fs::write(&big, vec![b'a'; 4097]).unwrap();
        assert!(arc_key(Some(&realm(&big)), dir.path()).unwrap_err().contains("4097 bytes"));
        std::fs::write(&big, vec![b'a'; 4096]).unwrap();
        assert_eq!(arc_key(Some(&realm(&big)), dir.path()).unwrap().len(), 4096);
        assert!(arc_key(None, dir.path()).is_err());
        assert!(arc_key(Some("Bearer x"), dir.path()).unwrap_err().contains("Basic realm="));
        let missing = dir.path().join("gone.key");
        assert!(arc_key(Some(&realm(&missing)), dir.path()).unwrap_err().contains("cannot stat"));
        // The secret is never in a message.
        assert!(!e.contains("s3cret"));
    }

    #[test]
    fn service_fabric_requests_carry_the_secret_header() {
        let sf = HostedIdentity::new(
            Host::ServiceFabric,
            "https://10.0.0.4:2377/metadata/identity/oauth2/token",
            Some("hdr".into()),
            None,
            ClientOptions::default(),
        )
        .unwrap();
        let req = sf.request("https://vault.azure.net");
        assert_eq!(req.url().query(), Some("api-version=2019-07-01-preview&resource=https%3A%2F%2Fvault.azure.net"));
        assert_eq!(req.headers().get_optional_str(&HeaderName::from_static("secret")), Some("hdr"));
        assert!(!format!("{sf:?}").contains("hdr"));
        assert!(HostedIdentity::new(
            Host::ServiceFabric,
            "https://x/",
            None,
            Some("c".into()),
            ClientOptions::default()
        )
        .is_err());
    }

    #[test]
    fn arc_has_no_user_assigned_identities() {
        let e =
            HostedIdentity::new(Host::AzureArc, ARC_DEFAULT_ENDPOINT, None, Some("c".into()), ClientOptions::default())
                .unwrap_err();
        assert!(e.contains("Azure Arc") && e.contains("AZURE_CLIENT_ID"), "{e}");
    }
}
