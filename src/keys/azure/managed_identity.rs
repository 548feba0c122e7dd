//! Managed identity on the hosts `azure_identity` 1.0 does not know, chosen from the environment
//! as azidentity does: Cloud Shell (`MSI_ENDPOINT` alone: `POST` with `Metadata: true` and the
//! resource in a form) and Azure Machine Learning (`MSI_ENDPOINT` + `MSI_SECRET`: `GET` with
//! `api-version=2017-09-01`, the `secret` header and `clientid`, from `AZURE_CLIENT_ID` or
//! `DEFAULT_IDENTITY_CLIENT_ID`). App Service and IMDS stay with `azure_identity`.

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
        let pipeline = Pipeline::new(
            option_env!("CARGO_PKG_NAME"),
            option_env!("CARGO_PKG_VERSION"),
            options,
            Vec::new(),
            Vec::new(),
            None,
        );
        Ok(HostedIdentity { host, endpoint, secret, client_id, pipeline })
    }

    fn request(&self, resource: &str) -> Request {
        match self.host {
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
        let res = self
            .pipeline
            .send(&Context::new(), &mut req, Some(PipelineSendOptions { skip_checks: true, ..Default::default() }))
            .await?;
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
}
