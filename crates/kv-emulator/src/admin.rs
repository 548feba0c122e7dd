//! The admin API (`/_admin/...`, plain HTTP, JSON) tests use to inject faults and latency,
//! read the request log and issued tokens, and create keys. Its own requests are not logged.

use std::sync::Arc;

use serde::Deserialize;

use crate::respond::{json, Resp};
use crate::server::Shared;
use crate::state::{self, Fault, Latency};

#[derive(Deserialize)]
struct IdentityBody {
    identity: String,
}

#[derive(Deserialize)]
struct KeyVaultBody {
    vault: String,
}

#[derive(Deserialize)]
struct KeyBody {
    vault: String,
    name: String,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad JSON body: {e}"))
}

fn bad_request(message: &str) -> Resp {
    json(400, &serde_json::json!({ "error": message }))
}

fn ok() -> Resp {
    json(200, &serde_json::json!({ "ok": true }))
}

/// Serves one admin request.
pub async fn handle(shared: &Arc<Shared>, method: &hyper::Method, path: &str, body: &[u8]) -> Resp {
    let st = &shared.state;
    let m = method.as_str();
    match (m, path.trim_end_matches('/')) {
        ("GET", "/_admin") | ("GET", "/_admin/health") => ok(),
        ("GET", "/_admin/env") => {
            let env: serde_json::Map<String, serde_json::Value> =
                shared.env.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            json(200, &serde_json::Value::Object(env))
        }
        ("GET", "/_admin/log") => json(200, &serde_json::json!({ "entries": st.log() })),
        ("DELETE", "/_admin/log") | ("POST", "/_admin/log/clear") => {
            st.clear_log();
            ok()
        }
        ("GET", "/_admin/tokens") => json(200, &serde_json::json!({ "tokens": st.tokens() })),
        ("GET", "/_admin/faults") => json(200, &serde_json::json!({ "faults": st.faults() })),
        ("POST", "/_admin/faults") => match parse::<Fault>(body) {
            Ok(f) if (400..600).contains(&f.status) => {
                st.add_fault(f);
                json(200, &serde_json::json!({ "faults": st.faults() }))
            }
            Ok(_) => json(400, &serde_json::json!({ "error": "status must be 4xx or 5xx" })),
            Err(e) => bad_request(&e),
        },
        ("GET", "/_admin/latency") => json(200, &serde_json::json!({ "latency": st.latencies() })),
        ("POST", "/_admin/latency") => match parse::<Latency>(body) {
            Ok(l) => {
                st.set_latency(l);
                json(200, &serde_json::json!({ "latency": st.latencies() }))
            }
            Err(e) => bad_request(&e),
        },
        ("POST", "/_admin/deny") => match parse::<IdentityBody>(body) {
            Ok(b) => {
                st.deny_identity(&b.identity);
                ok()
            }
            Err(e) => bad_request(&e),
        },
        ("POST", "/_admin/unresolvable") => match parse::<KeyVaultBody>(body) {
            Ok(b) => {
                st.make_unresolvable(&b.vault);
                ok()
            }
            Err(e) => bad_request(&e),
        },
        ("DELETE", "/_admin/deny") => {
            st.clear_denied();
            ok()
        }
        ("POST", "/_admin/reset") => {
            st.reset();
            ok()
        }
        ("GET", "/_admin/keys") => json(200, &serde_json::json!({ "keys": st.list_keys() })),
        ("POST", "/_admin/keys") => match parse::<KeyBody>(body) {
            Ok(b) => {
                let key = match tokio::task::spawn_blocking(state::generate_rsa).await {
                    Ok(Ok(k)) => k,
                    _ => return json(500, &serde_json::json!({ "error": "key generation failed" })),
                };
                match st.add_key_version(&b.vault, &b.name, key) {
                    Ok(k) => {
                        let host = state::vault_host(&b.vault);
                        json(
                            200,
                            &serde_json::json!({
                                "kid": format!("https://{host}/keys/{}/{}", b.name, k.version),
                                "version": k.version,
                            }),
                        )
                    }
                    Err(e) => json(500, &serde_json::json!({ "error": e.to_string() })),
                }
            }
            Err(e) => bad_request(&e),
        },
        _ => json(404, &serde_json::json!({ "error": format!("no admin endpoint {m} {path}") })),
    }
}
