//! Response helpers shared by the Key Vault, identity and admin handlers, and the
//! [`Outcome`] they hand back so the server can log who did what.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};

use crate::state::{CredentialKind, Fault, Op};

/// Every response the emulator produces.
pub type Resp = Response<Full<Bytes>>;

/// A handler's answer plus what the request log should say about it.
pub struct Outcome {
    /// The HTTP response.
    pub response: Resp,
    /// The operation, when recognised.
    pub op: Option<Op>,
    /// Who made (or was issued a token by) the request.
    pub identity: Option<String>,
    /// How that identity authenticated.
    pub credential: Option<CredentialKind>,
    /// Whether the response was an injected fault.
    pub injected: bool,
    /// A note for the log (never secret material).
    pub note: Option<String>,
}

impl Outcome {
    /// An outcome with nothing to attribute.
    pub fn plain(response: Resp) -> Outcome {
        Outcome { response, op: None, identity: None, credential: None, injected: false, note: None }
    }

    /// Sets the operation.
    pub fn op(mut self, op: Option<Op>) -> Outcome {
        self.op = op;
        self
    }

    /// Sets the identity and credential kind.
    pub fn who(mut self, identity: &str, credential: CredentialKind) -> Outcome {
        self.identity = Some(identity.to_string());
        self.credential = Some(credential);
        self
    }
}

/// A JSON response.
pub fn json(status: u16, value: &serde_json::Value) -> Resp {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

/// A plain-text response.
pub fn text(status: u16, body: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Key Vault's error body: `{"error":{"code":...,"message":...}}`.
pub fn kv_error(status: u16, code: &str, message: &str) -> Resp {
    json(status, &serde_json::json!({ "error": { "code": code, "message": message } }))
}

/// The Key Vault response for an injected fault on `op` against `vault` by `identity`.
pub fn kv_fault(fault: &Fault, op: Op, vault: &str, identity: &str, tenant: &str) -> Resp {
    let mut r = match fault.status {
        403 => json(
            403,
            &serde_json::json!({ "error": {
                "code": "Forbidden",
                "message": forbidden_message(op, vault, identity, tenant),
                "innererror": { "code": "AccessDenied" }
            }}),
        ),
        429 => kv_error(
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
        ),
        500 => kv_error(500, "InternalServerError", "An unexpected error occurred (injected by kv-emulator)."),
        503 => kv_error(503, "ServiceUnavailable", "The service is temporarily unavailable (injected by kv-emulator)."),
        404 => kv_error(404, "KeyNotFound", "The key was not found (injected by kv-emulator)."),
        401 => kv_error(401, "Unauthorized", "AKV10032: Invalid issuer (injected by kv-emulator)."),
        s => kv_error(s, "InjectedFault", "Failure injected by kv-emulator."),
    };
    add_retry_after(&mut r, fault);
    r
}

/// Adds `Retry-After` to 429 and 503 responses.
pub fn add_retry_after(r: &mut Resp, fault: &Fault) {
    if matches!(fault.status, 429 | 503) {
        let secs = fault.retry_after.unwrap_or(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
    }
}

/// Key Vault's access-policy denial text, naming the missing permission.
pub fn forbidden_message(op: Op, vault: &str, identity: &str, tenant: &str) -> String {
    let vault_name = vault.split('.').next().unwrap_or(vault);
    let oid = crate::state::object_id(identity);
    format!(
        "The user, group or application 'appid={identity};oid={oid};iss=https://sts.windows.net/{tenant}/' \
         does not have keys {} permission on key vault '{vault_name};location=westeurope'. \
         For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
        op.permission()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_the_permission_and_throttling_sets_retry_after() {
        let f = Fault { status: 403, count: 1, op: Some(Op::Decrypt), retry_after: None };
        let m = forbidden_message(Op::Decrypt, "test-vault.vault.azure.net", "app", "t");
        assert!(m.contains("does not have keys decrypt permission on key vault 'test-vault;"));
        assert_eq!(kv_fault(&f, Op::Decrypt, "v", "i", "t").status(), 403);
        let t = Fault { status: 429, count: 1, op: None, retry_after: Some(3) };
        let r = kv_fault(&t, Op::Get, "v", "i", "t");
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers().get(RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"3"[..]));
    }
}
