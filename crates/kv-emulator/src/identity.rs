//! Token issuers: the App Service managed identity endpoint (plain HTTP on the emulator's port)
//! and Entra ID's client-credentials token endpoint with the discovery documents MSAL (Go) reads
//! before it (served inside the `login.microsoftonline.com` tunnel).
//!
//! Tokens are opaque random strings; the emulator remembers which identity and credential kind
//! obtained each one, so tests can assert which credential a process used and how often.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hyper::header::HeaderMap;
use hyper::Method;

use crate::respond::{add_retry_after, json, Outcome};
use crate::state::{CredentialKind, Op, State};

/// Header carrying the managed identity secret (`IDENTITY_HEADER`).
pub const IDENTITY_HEADER_NAME: &str = "x-identity-header";

fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn token_fault(state: &State) -> Option<Outcome> {
    let f = state.take_fault(Op::Token)?;
    let mut r = json(
        f.status,
        &serde_json::json!({
            "error": if f.status == 429 { "temporarily_unavailable" } else { "server_error" },
            "error_description": format!("kv-emulator injected HTTP {} on the token endpoint", f.status),
            "statusCode": f.status,
        }),
    );
    add_retry_after(&mut r, &f);
    let mut o = Outcome::plain(r).op(Some(Op::Token));
    o.injected = true;
    Some(o)
}

/// `GET /msi/token?resource=...&api-version=2019-08-01` with `X-IDENTITY-HEADER`.
pub fn managed_identity(state: &Arc<State>, method: &Method, query: &str, headers: &HeaderMap) -> Outcome {
    let op = Some(Op::Token);
    if method != Method::GET {
        return Outcome::plain(json(405, &serde_json::json!({"error": "method_not_allowed"}))).op(op);
    }
    let secret_ok = headers
        .get(IDENTITY_HEADER_NAME)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == state.settings.identity_header);
    if !secret_ok {
        return Outcome::plain(json(
            401,
            &serde_json::json!({"statusCode": 401, "message": "The X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER."}),
        ))
        .op(op);
    }
    let pairs = query_pairs(query);
    let Some(resource) = param(&pairs, "resource") else {
        return Outcome::plain(json(
            400,
            &serde_json::json!({"statusCode": 400, "message": "The resource parameter is required."}),
        ))
        .op(op);
    };
    let user_assigned =
        ["client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"].iter().find_map(|k| param(&pairs, k));
    // App Service names the user-assigned identity it answered for.
    hosted_token(state, resource, user_assigned, user_assigned)
}

/// Cloud Shell's endpoint (`MSI_ENDPOINT`): `POST` with `Metadata: true` and `resource=` in a form.
pub fn cloud_shell(state: &Arc<State>, method: &Method, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let op = Some(Op::Token);
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    if method != Method::POST || !metadata {
        return Outcome::plain(json(
            400,
            &serde_json::json!({"error": "invalid_request", "error_description": "POST with Metadata: true"}),
        ))
        .op(op);
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let Some(resource) = param(&pairs, "resource") else {
        return Outcome::plain(json(400, &serde_json::json!({"error": "invalid_resource"}))).op(op);
    };
    hosted_token(state, resource, None, None)
}

/// Azure ML's endpoint (`MSI_ENDPOINT` + `MSI_SECRET`): `GET` with `api-version=2017-09-01`,
/// `resource`, `clientid` and the `secret` header (the emulator's `IDENTITY_HEADER`).
pub fn azure_ml(state: &Arc<State>, method: &Method, query: &str, headers: &HeaderMap) -> Outcome {
    let op = Some(Op::Token);
    let secret_ok =
        headers.get("secret").and_then(|v| v.to_str().ok()) == Some(state.settings.identity_header.as_str());
    if method != Method::GET || !secret_ok {
        return Outcome::plain(json(
            401,
            &serde_json::json!({"statusCode": 401, "message": "GET with the secret header"}),
        ))
        .op(op);
    }
    let pairs = query_pairs(query);
    if param(&pairs, "api-version") != Some("2017-09-01") {
        return Outcome::plain(json(
            400,
            &serde_json::json!({"statusCode": 400, "message": "api-version 2017-09-01 expected"}),
        ))
        .op(op);
    }
    let Some(resource) = param(&pairs, "resource") else {
        return Outcome::plain(json(400, &serde_json::json!({"statusCode": 400, "message": "resource is required"})))
            .op(op);
    };
    hosted_token(state, resource, param(&pairs, "clientid"), None)
}

/// Azure Arc's agent endpoint (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`): `GET` with `Metadata: true`,
/// `api-version=2020-06-01` and `resource`. Without `Authorization` it writes a fresh secret to
/// `<arc_key_dir>/<random>.key` and answers 401 with `WWW-Authenticate: Basic realm=<that file>`;
/// with `Authorization: Basic <the file's contents>` it issues the token (each secret once).
pub fn azure_arc(state: &Arc<State>, method: &Method, query: &str, headers: &HeaderMap) -> Outcome {
    let op = Some(Op::Token);
    let bad = |status: u16, message: &str| {
        Outcome::plain(json(status, &serde_json::json!({"error": "invalid_request", "error_description": message})))
            .op(op)
    };
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    if method != Method::GET || !metadata {
        return bad(400, "GET with Metadata: true");
    }
    let pairs = query_pairs(query);
    if param(&pairs, "api-version") != Some("2020-06-01") {
        return bad(400, "api-version 2020-06-01 expected");
    }
    let Some(resource) = param(&pairs, "resource") else {
        return bad(400, "resource is required");
    };
    let authorization = headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match authorization {
        None => {
            let mut b = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
            let name: String = b[..8].iter().map(|x| format!("{x:02x}")).collect();
            let secret: String = b[8..].iter().map(|x| format!("{x:02x}")).collect();
            let dir = &state.settings.arc_key_dir;
            let file = dir.join(format!("{name}.key"));
            if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, &secret)) {
                return bad(500, &format!("kv-emulator could not write the Arc key file {}: {e}", file.display()));
            }
            state.add_arc_secret(secret, file.clone());
            let mut r =
                json(401, &serde_json::json!({"error": "unauthorized", "error_description": "read the key file"}));
            if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("Basic realm={}", file.display())) {
                r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
            }
            Outcome::plain(r).op(op)
        }
        Some(value) => {
            let secret = value.strip_prefix("Basic ").unwrap_or_default();
            if secret.is_empty() || !state.take_arc_secret(secret) {
                return bad(401, "the Authorization secret is not one this endpoint handed out");
            }
            hosted_token(state, resource, Some("arc"), None)
        }
    }
}

/// Service Fabric's endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` +
/// `IDENTITY_SERVER_THUMBPRINT`): `GET` with `api-version=2019-07-01-preview`, `resource` and the
/// `Secret` header (the emulator's `IDENTITY_HEADER`).
pub fn service_fabric(state: &Arc<State>, method: &Method, query: &str, headers: &HeaderMap) -> Outcome {
    let op = Some(Op::Token);
    let secret_ok =
        headers.get("secret").and_then(|v| v.to_str().ok()) == Some(state.settings.identity_header.as_str());
    if method != Method::GET || !secret_ok {
        return Outcome::plain(json(
            401,
            &serde_json::json!({"error": {"code": "SecretHeaderNotFound", "message": "GET with the Secret header"}}),
        ))
        .op(op);
    }
    let pairs = query_pairs(query);
    if param(&pairs, "api-version") != Some("2019-07-01-preview") {
        return Outcome::plain(json(400, &serde_json::json!({"error": {"code": "InvalidApiVersion", "message": "api-version 2019-07-01-preview expected"}}))).op(op);
    }
    let Some(resource) = param(&pairs, "resource") else {
        return Outcome::plain(json(
            400,
            &serde_json::json!({"error": {"code": "MissingResource", "message": "resource is required"}}),
        ))
        .op(op);
    };
    hosted_token(state, resource, Some("servicefabric"), None)
}

/// A managed identity's token answer: for the identity `client_id` (the system-assigned one when
/// `None`), with `reported_client_id` in the body when the host names it.
fn hosted_token(
    state: &Arc<State>,
    resource: &str,
    client_id: Option<&str>,
    reported_client_id: Option<&str>,
) -> Outcome {
    let identity = match client_id {
        Some(id) => format!("managed-identity:{id}"),
        None => "managed-identity".to_string(),
    };
    if let Some(o) = token_fault(state) {
        return o.who(&identity, CredentialKind::ManagedIdentity);
    }
    let (token, expires_on) = state.issue_token(&identity, CredentialKind::ManagedIdentity, resource, None);
    let mut body = serde_json::json!({
        "access_token": token,
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    if let (Some(id), Some(obj)) = (reported_client_id, body.as_object_mut()) {
        obj.insert("client_id".into(), serde_json::Value::String(id.to_string()));
    }
    Outcome::plain(json(200, &body)).op(Some(Op::Token)).who(&identity, CredentialKind::ManagedIdentity)
}

/// Requests to an Entra ID authority host (`login.microsoftonline.com` or a custom one).
pub fn entra(
    state: &Arc<State>,
    authority_hosts: &[String],
    host: &str,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Outcome {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (&Method::GET, [_tenant, "discovery", "instance"]) | (&Method::GET, [_tenant, "discovery", "v2.0", "keys"]) => {
            Outcome::plain(json(200, &instance_discovery(authority_hosts, host, query)))
        }
        (&Method::GET, [tenant, "v2.0", ".well-known", "openid-configuration"]) => {
            Outcome::plain(json(200, &openid_configuration(host, tenant, true)))
        }
        (&Method::GET, [tenant, ".well-known", "openid-configuration"]) => {
            Outcome::plain(json(200, &openid_configuration(host, tenant, false)))
        }
        (&Method::GET, [_common, realm, user]) if realm.eq_ignore_ascii_case("userrealm") => {
            Outcome::plain(json(200, &user_realm(user)))
        }
        (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => token(state, host, tenant, body, true),
        (&Method::POST, [tenant, "oauth2", "token"]) => token(state, host, tenant, body, false),
        _ => Outcome::plain(json(
            404,
            &serde_json::json!({"error": "not_found", "error_description": "kv-emulator does not serve this Entra ID path"}),
        )),
    }
}

fn aad_error(error: &str, description: &str) -> serde_json::Value {
    serde_json::json!({
        "error": error,
        "error_description": description,
        "error_codes": [],
        "timestamp": "",
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
    })
}

/// The client-credentials grant (secret, or assertion for workload identity / certificates).
fn token(state: &Arc<State>, host: &str, tenant: &str, body: &[u8], v2: bool) -> Outcome {
    let op = Some(Op::Token);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let bad = |status: u16, error: &str, desc: &str| Outcome::plain(json(status, &aad_error(error, desc))).op(op);
    if param(&pairs, "grant_type") == Some("password") {
        return password_grant(state, tenant, &pairs, v2);
    }
    if param(&pairs, "grant_type") != Some("client_credentials") {
        return bad(
            400,
            "unsupported_grant_type",
            "AADSTS70003: kv-emulator supports only the client_credentials and password grants.",
        );
    }
    let Some(client_id) = param(&pairs, "client_id") else {
        return bad(
            400,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        );
    };
    let kind = if let Some(secret) = param(&pairs, "client_secret") {
        if let Some(expected) = &state.settings.client_secret {
            if secret != expected {
                return bad(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
                    .who(client_id, CredentialKind::ClientSecret);
            }
        }
        CredentialKind::ClientSecret
    } else if let Some(assertion) = param(&pairs, "client_assertion") {
        let kind = assertion_kind(assertion);
        if kind == CredentialKind::ClientCertificate {
            let path = if v2 { "oauth2/v2.0/token" } else { "oauth2/token" };
            let audience = format!("https://{host}/{tenant}/{path}");
            let certs = state.client_certificates(client_id);
            if let Err(why) = verify_certificate_assertion(assertion, client_id, &audience, &certs) {
                return bad(
                    401,
                    "invalid_client",
                    &format!("AADSTS700027: Client assertion failed signature validation: {why}"),
                )
                .who(client_id, kind);
            }
        }
        kind
    } else {
        return bad(401, "invalid_client", "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    };
    let resource = if v2 {
        param(&pairs, "scope").and_then(|s| s.split_whitespace().find(|s| s.contains("://"))).map(str::to_string)
    } else {
        param(&pairs, "resource").map(str::to_string)
    };
    let Some(resource) = resource else {
        return bad(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.");
    };
    if let Some(o) = token_fault(state) {
        return o.who(client_id, kind);
    }
    let (token, expires_on) = state.issue_token(client_id, kind, &resource, Some(tenant));
    let lifetime = expires_on.saturating_sub(crate::state::now_unix());
    Outcome::plain(json(
        200,
        &serde_json::json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }),
    ))
    .op(op)
    .who(client_id, kind)
}

/// The home realm document MSAL reads before a password grant: every user here is a cloud
/// ("Managed") account, so the password goes to the token endpoint.
fn user_realm(user: &str) -> serde_json::Value {
    let domain = user.rsplit_once('@').map(|(_, d)| d).unwrap_or("kv-emulator.test");
    serde_json::json!({
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": domain,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    })
}

/// The resource of a v2 `scope` (the one that is a URL) or a v1 `resource`.
fn requested_resource(pairs: &[(String, String)], v2: bool) -> Option<String> {
    if v2 {
        param(pairs, "scope").and_then(|s| s.split_whitespace().find(|s| s.contains("://"))).map(str::to_string)
    } else {
        param(pairs, "resource").map(str::to_string)
    }
}

/// The resource owner password grant: `username` must be registered with `password`.
fn password_grant(state: &Arc<State>, tenant: &str, pairs: &[(String, String)], v2: bool) -> Outcome {
    let op = Some(Op::Token);
    let kind = CredentialKind::UsernamePassword;
    let bad = |status: u16, error: &str, desc: &str| Outcome::plain(json(status, &aad_error(error, desc))).op(op);
    if param(pairs, "client_id").is_none() {
        return bad(
            400,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        );
    }
    let (Some(user), Some(password)) = (param(pairs, "username"), param(pairs, "password")) else {
        return bad(
            400,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameters: 'username', 'password'.",
        );
    };
    if !state.user_password_ok(user, password) {
        return bad(
            400,
            "invalid_grant",
            "AADSTS50126: Error validating credentials due to invalid username or password.",
        )
        .who(user, kind);
    }
    let Some(resource) = requested_resource(pairs, v2) else {
        return bad(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.");
    };
    if let Some(o) = token_fault(state) {
        return o.who(user, kind);
    }
    let (token, expires_on) = state.issue_token(user, kind, &resource, Some(tenant));
    let lifetime = expires_on.saturating_sub(crate::state::now_unix());
    let uid = crate::state::object_id(user);
    // MSAL (Go) keeps the account from `client_info` and the ID token; neither is verified there.
    let client_info = URL_SAFE_NO_PAD.encode(serde_json::json!({"uid": uid, "utid": tenant}).to_string());
    let id_claims = serde_json::json!({
        "aud": param(pairs, "client_id"), "iss": format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        "oid": uid, "sub": uid, "tid": tenant, "preferred_username": user, "name": user,
        "iat": crate::state::now_unix(), "exp": expires_on, "ver": "2.0",
    });
    let id_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(id_claims.to_string())
    );
    Outcome::plain(json(
        200,
        &serde_json::json!({
            "token_type": "Bearer",
            // Granted as asked (MSAL refuses a response that drops a requested scope).
            "scope": param(pairs, "scope").unwrap_or(&resource),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
            "id_token": id_token,
            "client_info": client_info,
        }),
    ))
    .op(op)
    .who(user, kind)
}

/// A client assertion is a JWT; certificate credentials put the thumbprint (`x5t`) in its header,
/// federated (workload identity) tokens do not.
fn assertion_kind(assertion: &str) -> CredentialKind {
    let header = assertion
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    match header {
        Some(h) if h.get("x5t").is_some() || h.get("x5t#S256").is_some() => CredentialKind::ClientCertificate,
        _ => CredentialKind::ClientAssertion,
    }
}

/// Checks a certificate client assertion as Entra ID does: the header's thumbprint (`x5t#S256`,
/// or SHA-1 `x5t`) names a certificate registered for the client, the signature (PS256 or RS256)
/// verifies with that certificate's public key, and `aud`, `iss`, `sub` and `exp` are right.
pub fn verify_certificate_assertion(
    assertion: &str,
    client_id: &str,
    audience: &str,
    registered: &[Vec<u8>],
) -> Result<(), String> {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::Verifier as _;
    use sha2::Digest as _;
    let mut parts = assertion.split('.');
    let (Some(h), Some(c), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("the assertion is not a JWT".into());
    };
    let json = |p: &str| -> Result<serde_json::Value, String> {
        let bytes =
            URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).map_err(|_| "a JWT part is not base64url".to_string())?;
        serde_json::from_slice(&bytes).map_err(|_| "a JWT part is not JSON".to_string())
    };
    let (header, claims) = (json(h)?, json(c)?);
    let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| "the signature is not base64url".to_string())?;
    if registered.is_empty() {
        return Err(format!("no certificate is registered for application {client_id}"));
    }
    // MSAL writes thumbprints in standard base64; the JWS specification says base64url.
    let decode_any = |v: &serde_json::Value| -> Option<Vec<u8>> {
        let s = v.as_str()?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .or_else(|| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
    };
    let cert = registered
        .iter()
        .find(|der| {
            let s256 = header.get("x5t#S256").and_then(decode_any);
            let s1 = header.get("x5t").and_then(decode_any);
            s256.is_some_and(|t| t == sha2::Sha256::digest(der.as_slice()).as_slice())
                || s1.is_some_and(|t| t == sha1::Sha1::digest(der.as_slice()).as_slice())
        })
        .ok_or("the thumbprint in the assertion matches no certificate registered for the application")?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|_| "a registered certificate is invalid".to_string())?;
    let public = rsa::RsaPublicKey::from_public_key_der(parsed.public_key().raw)
        .map_err(|_| "a registered certificate has no RSA key".to_string())?;
    let signed = format!("{h}.{c}");
    let ok = match header.get("alg").and_then(|a| a.as_str()) {
        Some("PS256") => rsa::pss::Signature::try_from(signature.as_slice())
            .map(|s| rsa::pss::VerifyingKey::<sha2::Sha256>::new(public).verify(signed.as_bytes(), &s).is_ok())
            .unwrap_or(false),
        Some("RS256") => rsa::pkcs1v15::Signature::try_from(signature.as_slice())
            .map(|s| rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public).verify(signed.as_bytes(), &s).is_ok())
            .unwrap_or(false),
        other => return Err(format!("unsupported signing algorithm {other:?}")),
    };
    if !ok {
        return Err("the signature does not verify with the registered certificate".into());
    }
    let claim = |k: &str| claims.get(k).and_then(|v| v.as_str());
    if claim("aud") != Some(audience) {
        return Err(format!("aud {:?} is not the token endpoint {audience:?}", claim("aud")));
    }
    if claim("iss") != Some(client_id) || claim("sub") != Some(client_id) {
        return Err("iss and sub must be the client id".into());
    }
    let exp = claims.get("exp").and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    if exp.is_none_or(|e| e <= crate::state::now_unix()) {
        return Err("the assertion has expired (exp)".into());
    }
    if claims.get("jti").and_then(|v| v.as_str()).is_none_or(str::is_empty) {
        return Err("the assertion has no jti".into());
    }
    Ok(())
}

fn instance_discovery(state_hosts: &[String], host: &str, query: &str) -> serde_json::Value {
    // `authorization_endpoint=https://<authority>/<tenant>/oauth2/v2.0/authorize` names the
    // authority the client was configured with (AZURE_AUTHORITY_HOST) and the tenant. MSAL asks
    // the well-known host about unknown authorities, so answer for the authority asked about.
    let pairs = query_pairs(query);
    let endpoint = param(&pairs, "authorization_endpoint").unwrap_or("");
    let mut parts = endpoint.strip_prefix("https://").unwrap_or("").split('/');
    let asked_host = parts.next().map(crate::config::authority_host).unwrap_or_default();
    let authority = if state_hosts.contains(&asked_host) { asked_host.as_str() } else { host };
    let tenant = parts.next().filter(|t| !t.is_empty()).unwrap_or("common");
    serde_json::json!({
        "tenant_discovery_endpoint": format!("https://{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": authority,
            "preferred_cache": authority,
            "aliases": [authority],
        }]
    })
}

fn openid_configuration(host: &str, tenant: &str, v2: bool) -> serde_json::Value {
    let base = format!("https://{host}/{tenant}");
    // A regional endpoint (`<region>.login.microsoft.com`) issues as the global authority does.
    let issuer_host = if host.ends_with(".login.microsoft.com") { "login.microsoftonline.com" } else { host };
    let (token, authorize, issuer) = if v2 {
        (
            format!("{base}/oauth2/v2.0/token"),
            format!("{base}/oauth2/v2.0/authorize"),
            format!("https://{issuer_host}/{tenant}/v2.0"),
        )
    } else {
        (
            format!("{base}/oauth2/token"),
            format!("{base}/oauth2/authorize"),
            format!("https://sts.windows.net/{tenant}/"),
        )
    };
    serde_json::json!({
        "token_endpoint": token,
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": authorize,
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid"],
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_kind_tells_certificates_from_federated_tokens() {
        let h = |json: &str| format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(json));
        assert_eq!(assertion_kind(&h(r#"{"alg":"RS256","x5t":"abc"}"#)), CredentialKind::ClientCertificate);
        assert_eq!(assertion_kind(&h(r#"{"alg":"RS256","kid":"k"}"#)), CredentialKind::ClientAssertion);
        assert_eq!(assertion_kind("not a jwt"), CredentialKind::ClientAssertion);
    }

    /// A JWT with `header` and `claims`, signed PS256 with `key`.
    fn jwt(key: &rsa::RsaPrivateKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(key.clone())
            .sign_with_rng(&mut rand::thread_rng(), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    #[test]
    fn certificate_assertions_are_verified_against_the_registered_certificate() {
        use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
        use sha2::Digest as _;
        let key = crate::state::generate_rsa().unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["app".to_string()]).unwrap().self_signed(&kp).unwrap();
        let der = cert.der().to_vec();
        let aud = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let header = serde_json::json!({"alg": "PS256", "typ": "JWT",
            "x5t#S256": base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&der))});
        let claims = |aud: &str, exp: u64| {
            serde_json::json!({"aud": aud, "iss": "app", "sub": "app", "jti": "j",
            "nbf": crate::state::now_unix(), "exp": exp})
        };
        let later = crate::state::now_unix() + 600;
        let good = jwt(&key, header.clone(), claims(aud, later));
        assert_eq!(verify_certificate_assertion(&good, "app", aud, std::slice::from_ref(&der)), Ok(()));
        // Not registered for this client.
        assert!(verify_certificate_assertion(&good, "app", aud, &[])
            .unwrap_err()
            .contains("no certificate is registered"));
        // The right thumbprint, signed by another key.
        let other = crate::state::generate_rsa().unwrap();
        let forged = jwt(&other, header.clone(), claims(aud, later));
        let e = verify_certificate_assertion(&forged, "app", aud, std::slice::from_ref(&der)).unwrap_err();
        assert!(e.contains("signature does not verify"), "{e}");
        // Another audience, an expired assertion, another client.
        let e = verify_certificate_assertion(
            &jwt(&key, header.clone(), claims("https://x/t/oauth2/v2.0/token", later)),
            "app",
            aud,
            std::slice::from_ref(&der),
        )
        .unwrap_err();
        assert!(e.contains("aud"), "{e}");
        let e = verify_certificate_assertion(
            &jwt(&key, header.clone(), claims(aud, 5)),
            "app",
            aud,
            std::slice::from_ref(&der),
        )
        .unwrap_err();
        assert!(e.contains("expired"), "{e}");
        let e = verify_certificate_assertion(&good, "other-app", aud, std::slice::from_ref(&der)).unwrap_err();
        assert!(e.contains("iss"), "{e}");
    }

    #[test]
    fn discovery_points_at_the_tenant_document() {
        let hosts = vec!["login.microsoftonline.com".to_string(), "login.example.test".to_string()];
        let v = instance_discovery(
            &hosts,
            "login.microsoftonline.com",
            "api-version=1.1&authorization_endpoint=https%3A%2F%2Flogin.microsoftonline.com%2Fmytenant%2Foauth2%2Fv2.0%2Fauthorize",
        );
        assert_eq!(
            v["tenant_discovery_endpoint"],
            "https://login.microsoftonline.com/mytenant/v2.0/.well-known/openid-configuration"
        );
        let v = instance_discovery(
            &hosts,
            "login.microsoftonline.com",
            "authorization_endpoint=https://login.example.test/t2/oauth2/v2.0/authorize",
        );
        assert_eq!(
            v["tenant_discovery_endpoint"],
            "https://login.example.test/t2/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(v["metadata"][0]["aliases"][0], "login.example.test");
        let v =
            instance_discovery(&hosts, "login.microsoftonline.com", "authorization_endpoint=https://evil.example/t/x");
        assert_eq!(v["metadata"][0]["preferred_network"], "login.microsoftonline.com");
    }
}
