//! The Key Vault keys API subset sops and kvsops use: get key, create (rotate), and the four
//! RSA-OAEP-256 operations, behind Key Vault's bearer challenge.
//!
//! Paths follow the data-plane REST API (`/keys/{name}[/{version}][/{operation}]`); any
//! `api-version` is accepted. Errors carry Key Vault's `{"error":{"code","message"}}` bodies
//! and status codes, because SDK error handling (and sops's messages) key off them.

use std::sync::Arc;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::Method;
use rsa::traits::PublicKeyParts as _;
use rsa::{Oaep, RsaPublicKey};
use sha2::Sha256;

use crate::respond::{json, kv_error, kv_fault, Outcome};
use crate::state::{self, KeyLookupError, Op, ResolvedKey, State, TokenInfo};

/// The resource (audience) Key Vault tokens must be issued for.
pub const VAULT_RESOURCE: &str = "https://vault.azure.net";

/// A recognised Key Vault request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The operation.
    pub op: Op,
    /// Key name.
    pub name: String,
    /// Key version; `None` (or empty) means the current one.
    pub version: Option<String>,
}

/// Maps method and path to a [`Route`]; `None` for anything this emulator does not serve.
pub fn parse_route(method: &Method, path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/keys/")?;
    let segs: Vec<&str> = rest.split('/').collect();
    let name = segs.first().filter(|n| !n.is_empty())?.to_string();
    let op_of = |s: &str| match s.to_ascii_lowercase().as_str() {
        "encrypt" => Some(Op::Encrypt),
        "decrypt" => Some(Op::Decrypt),
        "wrapkey" => Some(Op::WrapKey),
        "unwrapkey" => Some(Op::UnwrapKey),
        _ => None,
    };
    let version = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let route = |op, v: Option<String>| Some(Route { op, name: name.clone(), version: v });
    match (method, &segs[1..]) {
        (&Method::GET, []) | (&Method::GET, [""]) => route(Op::Get, None),
        (&Method::GET, [v]) | (&Method::GET, [v, ""]) => route(Op::Get, version(v)),
        (&Method::POST, ["create"]) => route(Op::Create, None),
        (&Method::POST, [op]) => route(op_of(op)?, None),
        (&Method::POST, [v, op]) => route(op_of(op)?, version(v)),
        _ => None,
    }
}

/// The `WWW-Authenticate` value of Key Vault's challenge.
pub fn challenge(tenant: &str) -> String {
    format!("Bearer authorization=\"https://login.microsoftonline.com/{tenant}\", resource=\"{VAULT_RESOURCE}\"")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Answers one Key Vault request for vault `host`.
pub async fn handle(
    state: &Arc<State>,
    host: &str,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let route = parse_route(method, path);
    let op = route.as_ref().map(|r| r.op);
    let Some(token) = bearer(headers).and_then(|t| state.check_token(t, VAULT_RESOURCE)) else {
        let mut r = kv_error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
        if let Ok(v) = HeaderValue::from_str(&challenge(&state.settings.tenant)) {
            r.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        return Outcome::plain(r).op(op);
    };
    let who = |o: Outcome| o.op(op).who(&token.identity, token.credential);
    let Some(route) = route else {
        return who(Outcome::plain(kv_error(404, "NotFound", "The requested resource is not served by kv-emulator.")));
    };
    if state.is_denied(&token.identity) {
        let f = state::Fault { status: 403, count: 1, op: Some(route.op), retry_after: None };
        return who(Outcome::plain(kv_fault(&f, route.op, host, &token.identity, &state.settings.tenant)));
    }
    if let Some(f) = state.take_fault(route.op) {
        let mut o = who(Outcome::plain(kv_fault(&f, route.op, host, &token.identity, &state.settings.tenant)));
        o.injected = true;
        return o;
    }
    let mut o = who(Outcome::plain(execute(state, host, &route, &token, body).await));
    if matches!(route.op, Op::Decrypt | Op::UnwrapKey) {
        // Ciphertexts are public (files carry them): a fingerprint lets tests tell which one
        // a client asked to decrypt.
        if let Ok(value) = parse_op_body(body) {
            o.note = Some(format!("ciphertext sha256 {}", ciphertext_fingerprint(&value)));
        }
    }
    o
}

/// The hex SHA-256 of a ciphertext, as the log's decrypt notes show it.
pub fn ciphertext_fingerprint(ciphertext: &[u8]) -> String {
    use sha2::Digest as _;
    Sha256::digest(ciphertext).iter().map(|b| format!("{b:02x}")).collect()
}

async fn execute(
    state: &Arc<State>,
    host: &str,
    route: &Route,
    _token: &TokenInfo,
    body: &[u8],
) -> crate::respond::Resp {
    let kid = |v: &str| format!("https://{host}/keys/{}/{v}", route.name);
    if route.op == Op::Create {
        if let Err(msg) = check_create_body(body) {
            return kv_error(400, "BadParameter", &msg);
        }
        let key = match tokio::task::spawn_blocking(state::generate_rsa).await {
            Ok(Ok(k)) => k,
            _ => return kv_error(500, "InternalServerError", "Key generation failed."),
        };
        return match state.add_key_version(host, &route.name, key) {
            Ok(k) => json(200, &key_bundle(&kid(&k.version), &k)),
            Err(_) => kv_error(500, "InternalServerError", "Could not store the new key version."),
        };
    }
    let key = match resolve(state, host, route).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let kid = kid(&key.version);
    match route.op {
        Op::Get => json(200, &key_bundle(&kid, &key)),
        Op::Encrypt | Op::WrapKey | Op::Decrypt | Op::UnwrapKey => {
            let req = match parse_op_body(body) {
                Ok(r) => r,
                Err(msg) => return kv_error(400, "BadParameter", &msg),
            };
            let result = if matches!(route.op, Op::Encrypt | Op::WrapKey) {
                let public = RsaPublicKey::from(key.key.as_ref());
                public
                    .encrypt(&mut rand::thread_rng(), Oaep::new::<Sha256>(), &req)
                    .map_err(|_| "The value is too long for this key and algorithm.")
            } else {
                key.key.decrypt(Oaep::new::<Sha256>(), &req).map_err(|_| "The parameter is incorrect.")
            };
            match result {
                Ok(out) => json(200, &serde_json::json!({ "kid": kid, "value": URL_SAFE_NO_PAD.encode(out) })),
                Err(msg) => kv_error(400, "BadParameter", msg),
            }
        }
        Op::Create | Op::Token => kv_error(404, "NotFound", "Not a key operation."),
    }
}

/// Finds the key version a route names, creating the key on first use when allowed.
async fn resolve(state: &Arc<State>, host: &str, route: &Route) -> Result<ResolvedKey, crate::respond::Resp> {
    let not_found = |what: &str| {
        kv_error(
            404,
            "KeyNotFound",
            &format!(
                "A key with (name/id) {what} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        )
    };
    let version = route.version.as_deref();
    let what = match version {
        Some(v) => format!("{}/{v}", route.name),
        None => route.name.clone(),
    };
    match state.lookup(host, &route.name, version) {
        Ok(k) => Ok(k),
        Err(KeyLookupError::NoSuchVersion) => Err(not_found(&what)),
        Err(KeyLookupError::NoSuchKey) if state.settings.auto_create && version.is_none() => {
            let key = match tokio::task::spawn_blocking(state::generate_rsa).await {
                Ok(Ok(k)) => k,
                _ => return Err(kv_error(500, "InternalServerError", "Key generation failed.")),
            };
            state
                .add_first_version(host, &route.name, key)
                .map_err(|_| kv_error(500, "InternalServerError", "Could not store the new key."))
        }
        Err(KeyLookupError::NoSuchKey) => Err(not_found(&what)),
    }
}

/// The key bundle Key Vault returns for get and create.
pub fn key_bundle(kid: &str, key: &ResolvedKey) -> serde_json::Value {
    let n = key.key.n().to_bytes_be();
    let e = key.key.e().to_bytes_be();
    serde_json::json!({
        "key": {
            "kid": kid,
            "kty": "RSA",
            "key_ops": ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
            "n": URL_SAFE_NO_PAD.encode(n),
            "e": URL_SAFE_NO_PAD.encode(e),
        },
        "attributes": {
            "enabled": true,
            "created": key.created,
            "updated": key.created,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
            "exportable": false,
        },
        "tags": {}
    })
}

fn check_create_body(body: &[u8]) -> Result<(), String> {
    if body.is_empty() {
        return Ok(());
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "The request body is not valid JSON.".to_string())?;
    match v.get("kty").and_then(|k| k.as_str()) {
        None | Some("RSA") | Some("RSA-HSM") => {}
        Some(other) => return Err(format!("kv-emulator only creates RSA keys, not {other}.")),
    }
    match v.get("key_size").and_then(|k| k.as_u64()) {
        None | Some(2048) => Ok(()),
        Some(other) => Err(format!("kv-emulator only creates 2048-bit keys, not {other}.")),
    }
}

/// Parses `{"alg":"RSA-OAEP-256","value":<base64url>}` into the raw value.
fn parse_op_body(body: &[u8]) -> Result<Vec<u8>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "The request body is not valid JSON.".to_string())?;
    match v.get("alg").and_then(|a| a.as_str()) {
        Some("RSA-OAEP-256") => {}
        Some(other) => return Err(format!("Algorithm {other} is not supported by kv-emulator (only RSA-OAEP-256).")),
        None => return Err("The alg parameter is missing.".to_string()),
    }
    let value = v.get("value").and_then(|x| x.as_str()).ok_or_else(|| "The value parameter is missing.".to_string())?;
    let trimmed = value.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE.decode(value))
        .map_err(|_| "The value parameter is not base64url.".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(op: Op, name: &str, v: Option<&str>) -> Option<Route> {
        Some(Route { op, name: name.into(), version: v.map(str::to_string) })
    }

    #[test]
    fn routes_cover_the_rest_api_spellings() {
        let v = "0123456789abcdef0123456789abcdef";
        assert_eq!(parse_route(&Method::GET, "/keys/k"), r(Op::Get, "k", None));
        assert_eq!(parse_route(&Method::GET, "/keys/k/"), r(Op::Get, "k", None));
        assert_eq!(parse_route(&Method::GET, &format!("/keys/k/{v}")), r(Op::Get, "k", Some(v)));
        assert_eq!(parse_route(&Method::POST, "/keys/k/create"), r(Op::Create, "k", None));
        assert_eq!(parse_route(&Method::POST, &format!("/keys/k/{v}/encrypt")), r(Op::Encrypt, "k", Some(v)));
        assert_eq!(parse_route(&Method::POST, "/keys/k//decrypt"), r(Op::Decrypt, "k", None));
        assert_eq!(parse_route(&Method::POST, "/keys/k/wrapkey"), r(Op::WrapKey, "k", None));
        assert_eq!(parse_route(&Method::POST, &format!("/keys/k/{v}/unwrapKey")), r(Op::UnwrapKey, "k", Some(v)));
        assert_eq!(parse_route(&Method::POST, "/keys/k/v/sign"), None);
        assert_eq!(parse_route(&Method::DELETE, "/keys/k"), None);
        assert_eq!(parse_route(&Method::GET, "/secrets/k"), None);
    }

    #[test]
    fn op_body_requires_oaep256_and_base64url() {
        assert_eq!(parse_op_body(br#"{"alg":"RSA-OAEP-256","value":"AQID"}"#), Ok(vec![1, 2, 3]));
        assert_eq!(parse_op_body(br#"{"alg":"RSA-OAEP-256","value":"_-8="}"#), Ok(vec![0xff, 0xef]));
        assert!(parse_op_body(br#"{"alg":"RSA1_5","value":"AQID"}"#).is_err());
        assert!(parse_op_body(br#"{"alg":"RSA-OAEP-256","value":"!!"}"#).is_err());
        assert!(parse_op_body(b"nope").is_err());
    }

    #[test]
    fn challenge_names_tenant_and_vault_resource() {
        assert_eq!(
            challenge("t1"),
            r#"Bearer authorization="https://login.microsoftonline.com/t1", resource="https://vault.azure.net""#
        );
    }
}
