//! The Environment credential's third form, as in azidentity 1.13 (sops 3.11): a user name and
//! password (`AZURE_USERNAME` / `AZURE_PASSWORD` with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`),
//! used only when neither a client secret nor a certificate is configured. `azure_identity` 1.0
//! has no such credential, so the OAuth2 resource owner password grant is sent here:
//! `POST {authority}/{tenant}/oauth2/v2.0/token` with `grant_type=password`. Like MSAL (Go), the
//! home realm of the user is asked first: federated (ADFS) accounts need WS-Trust, which is not
//! supported, and get an error saying so instead of a confusing refusal.

use std::fmt;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, Url};

/// A user's token from Entra ID with the password grant.
pub struct UsernamePassword {
    authority: String,
    tenant: String,
    client_id: String,
    username: String,
    password: String,
    pipeline: Pipeline,
}

impl fmt::Debug for UsernamePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("UsernamePassword")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The OAuth2 scopes MSAL adds to every user token request.
const OIDC_SCOPES: &str = "openid offline_access profile";

impl UsernamePassword {
    /// `authority`: the authority host in effect (`AZURE_AUTHORITY_HOST`, made regional by
    /// `AZURE_REGIONAL_AUTHORITY_NAME`), `None` for the public cloud's.
    pub fn new(
        authority: Option<&str>,
        tenant: &str,
        client_id: &str,
        username: &str,
        password: &str,
        options: ClientOptions,
    ) -> Result<Self, String> {
        let authority = authority
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .unwrap_or("https://login.microsoftonline.com")
            .trim_end_matches('/')
            .to_string();
        Url::parse(&authority).map_err(|e| format!("authority host {authority:?} is not a URL: {e}"))?;
        if !super::cli::valid_tenant(tenant) {
            return Err(format!("invalid tenant {tenant:?} (AZURE_TENANT_ID)"));
        }
        let pipeline = super::managed_identity::token_pipeline(options);
        Ok(UsernamePassword {
            authority,
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            pipeline,
        })
    }

    async fn send(&self, mut req: Request) -> azure_core::Result<(u16, Vec<u8>)> {
        let res = self
            .pipeline
            .send(&Context::new(), &mut req, Some(PipelineSendOptions { skip_checks: true, ..Default::default() }))
            .await?;
        let status = u16::from(res.status());
        Ok((status, res.body().as_ref().to_vec()))
    }

    /// The user's home realm: `Managed` (cloud) accounts take the password grant.
    async fn check_realm(&self) -> Result<(), String> {
        let mut url = Url::parse(&format!("{}/common/UserRealm/", self.authority)).map_err(|e| e.to_string())?;
        url.path_segments_mut()
            .map_err(|()| "authority host cannot be a base URL".to_string())?
            .pop_if_empty()
            .push(&self.username);
        url.query_pairs_mut().append_pair("api-version", "1.0");
        let (status, body) =
            self.send(Request::new(url, Method::Get)).await.map_err(|e| super::credential::one_line(&e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(format!("HTTP {status} from the user realm endpoint of {}", self.authority));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("the user realm endpoint answered no JSON ({e})"))?;
        match v.get("account_type").and_then(|t| t.as_str()) {
            Some(t) if t.eq_ignore_ascii_case("managed") => Ok(()),
            Some(t) if t.eq_ignore_ascii_case("federated") => Err(format!(
                "{} is a federated account; its password grant needs WS-Trust, which kvsops does not support",
                self.username
            )),
            other => Err(format!("unexpected account type {other:?} from the user realm endpoint")),
        }
    }

    fn token_request(&self, scope: &str) -> Result<Request, String> {
        let url =
            Url::parse(&format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant)).map_err(|e| e.to_string())?;
        let mut form = Url::parse("http://form.invalid/").map_err(|e| e.to_string())?;
        form.query_pairs_mut()
            .append_pair("grant_type", "password")
            .append_pair("username", &self.username)
            .append_pair("password", &self.password)
            .append_pair("client_id", &self.client_id)
            .append_pair("client_info", "1")
            .append_pair("scope", &format!("{scope} {OIDC_SCOPES}"));
        let mut req = Request::new(url, Method::Post);
        req.insert_header(HeaderName::from_static("content-type"), "application/x-www-form-urlencoded");
        req.set_body(form.query().unwrap_or_default().to_string());
        Ok(req)
    }
}

#[async_trait::async_trait]
impl TokenCredential for UsernamePassword {
    async fn get_token(&self, scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
        let fail = |m: String| {
            azure_core::Error::with_message(ErrorKind::Credential, format!("UsernamePasswordCredential: {m}"))
        };
        let [scope] = scopes else {
            return Err(fail("exactly one scope is needed".into()));
        };
        self.check_realm().await.map_err(fail)?;
        let req = self.token_request(scope).map_err(fail)?;
        let (status, body) = self.send(req).await?;
        if !(200..300).contains(&status) {
            return Err(fail(describe_error(status, &body, &self.username)));
        }
        super::managed_identity::parse_token(&body).map_err(fail)
    }
}

/// Entra ID's `error` and `error_description` (which never carry the password), on one line.
fn describe_error(status: u16, body: &[u8], username: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |k: &str| v.get(k).and_then(|e| e.as_str()).map(super::credential::one_line);
    match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => {
            format!("authenticating {username} failed: HTTP {status} {e}: {}", d.chars().take(300).collect::<String>())
        }
        (Some(e), None) => format!("authenticating {username} failed: HTTP {status} {e}"),
        _ => format!("authenticating {username} failed: HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_not_debug_printed_and_goes_in_the_form() {
        let c = UsernamePassword::new(None, "t1", "app", "user@example.test", "s3cr3t pw&x", ClientOptions::default())
            .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let req = c.token_request("https://vault.azure.net/.default").unwrap();
        assert_eq!(req.url().as_str(), "https://login.microsoftonline.com/t1/oauth2/v2.0/token");
        let body = match req.body() {
            azure_core::http::Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        assert!(body.contains("grant_type=password"), "{body}");
        assert!(body.contains("password=s3cr3t+pw%26x"), "{body}");
        assert!(
            body.contains("scope=https%3A%2F%2Fvault.azure.net%2F.default+openid+offline_access+profile"),
            "{body}"
        );
        assert!(UsernamePassword::new(None, "bad tenant!", "app", "u", "p", ClientOptions::default()).is_err());
    }

    #[test]
    fn errors_name_the_user_and_never_the_password() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.\r\nTrace ID: x"}"#;
        let m = describe_error(400, body, "user@example.test");
        assert!(m.contains("invalid_grant") && m.contains("AADSTS50126") && m.contains("user@example.test"), "{m}");
        assert!(!m.contains('\n'));
    }
}
