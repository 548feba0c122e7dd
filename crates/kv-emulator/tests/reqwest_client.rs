//! Acceptance: a plain Rust client built like the Azure SDK's (reqwest 0.13 + rustls/aws-lc-rs,
//! no code hook) reaches the emulator through `HTTPS_PROXY`, trusts it through `SSL_CERT_FILE`,
//! and does challenge → token → encrypt → decrypt.
//!
//! It sets process environment variables, so it runs alone in a child process of the test binary
//! (`common::in_own_process`).

use crate::common::in_own_process;

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kv_emulator::{CredentialKind, Emulator, Op};
use serde_json::{json, Value};

async fn body_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("response body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_via_env_does_challenge_token_encrypt_decrypt() {
    if !in_own_process() {
        return;
    }
    let emu = Emulator::start();
    for k in
        ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "https_proxy", "SSL_CERT_DIR"]
    {
        std::env::remove_var(k);
    }
    for (k, v) in emu.env() {
        std::env::set_var(k, v);
    }
    // Exactly what azure_core's reqwest transport builds (no explicit proxy or roots).
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let vault = "https://test-vault.vault.azure.net";
    let api = "api-version=7.6";

    // 1. The bearer challenge.
    let r =
        client.get(format!("{vault}/keys/rk?{api}")).send().await.expect("TLS through the proxy with SSL_CERT_FILE");
    assert_eq!(r.status().as_u16(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer authorization="https://login.microsoftonline.com/{}", resource="https://vault.azure.net""#,
            emu.tenant()
        )
    );

    // 2. A managed identity token for the challenged resource.
    let endpoint = std::env::var("IDENTITY_ENDPOINT").unwrap();
    let secret = std::env::var("IDENTITY_HEADER").unwrap();
    let (status, _) = body_json(
        client.get(format!("{endpoint}?resource=https://vault.azure.net&api-version=2019-08-01")).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 401, "the identity header is required");
    let (status, tok) = body_json(
        client
            .get(format!("{endpoint}?resource=https://vault.azure.net&api-version=2019-08-01"))
            .header("X-IDENTITY-HEADER", &secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["resource"], "https://vault.azure.net");
    let expires: u64 = tok["expires_on"].as_str().expect("expires_on is a string").parse().unwrap();
    assert!(expires > kv_emulator::state::now_unix());
    let token = tok["access_token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {token}");

    // 3. Get the key (created on first use), encrypt, decrypt, wrap, unwrap.
    let (status, key) =
        body_json(client.get(format!("{vault}/keys/rk?{api}")).header("authorization", &auth).send().await.unwrap())
            .await;
    assert_eq!(status, 200);
    let kid = key["key"]["kid"].as_str().unwrap().to_string();
    let version = kid.rsplit('/').next().unwrap().to_string();
    assert_eq!(kid, format!("{vault}/keys/rk/{version}"));
    assert_eq!(version.len(), 32);
    assert_eq!(key["key"]["kty"], "RSA");
    assert_eq!(key["key"]["e"], "AQAB");
    assert_eq!(URL_SAFE_NO_PAD.decode(key["key"]["n"].as_str().unwrap()).unwrap().len(), 256);

    let secret_bytes = b"0123456789abcdef0123456789abcdef";
    let plain = URL_SAFE_NO_PAD.encode(secret_bytes);
    let op = |name: &str, v: &str, value: &str| {
        client
            .post(format!("{vault}/keys/rk/{v}/{name}?{api}"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(json!({"alg": "RSA-OAEP-256", "value": value}).to_string())
            .send()
    };
    let (status, enc) = body_json(op("encrypt", &version, &plain).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(enc["kid"], kid.as_str());
    let ct = enc["value"].as_str().unwrap().to_string();
    assert_eq!(URL_SAFE_NO_PAD.decode(&ct).unwrap().len(), 256);
    let (status, dec) = body_json(op("decrypt", &version, &ct).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(dec["value"], plain.as_str());
    let (_, wrapped) = body_json(op("wrapkey", &version, &plain).await.unwrap()).await;
    let (status, unwrapped) =
        body_json(op("unwrapkey", &version, wrapped["value"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(unwrapped["value"], plain.as_str());

    // 4. Errors shaped like Key Vault's.
    let (status, err) = body_json(op("decrypt", "0123456789abcdef0123456789abcdef", &ct).await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "KeyNotFound");
    let (_, other) =
        body_json(client.get(format!("{vault}/keys/other?{api}")).header("authorization", &auth).send().await.unwrap())
            .await;
    let other_version = other["key"]["kid"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let wrong = client
        .post(format!("{vault}/keys/other/{other_version}/decrypt?{api}"))
        .header("authorization", &auth)
        .body(json!({"alg": "RSA-OAEP-256", "value": ct}).to_string())
        .send()
        .await
        .unwrap();
    let (status, err) = body_json(wrong).await;
    assert_eq!(status, 400, "decrypting with the wrong key is a bad request");
    assert_eq!(err["error"]["code"], "BadParameter");
    let (status, _) = body_json(op("encrypt", &version, &plain).await.unwrap()).await;
    assert_eq!(status, 200);
    let unauth = client
        .post(format!("{vault}/keys/rk/{version}/encrypt?{api}"))
        .header("authorization", "Bearer forged")
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status().as_u16(), 401);

    // 5. Faults and latency from the Rust API.
    emu.fail_next(503, 1, Some(Op::Encrypt));
    let r = op("encrypt", &version, &plain).await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    emu.set_latency(150, Some(Op::Decrypt));
    let t = std::time::Instant::now();
    assert_eq!(op("decrypt", &version, &ct).await.unwrap().status().as_u16(), 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));
    emu.set_latency(0, Some(Op::Decrypt));

    // A token-endpoint fault is targeted explicitly and carries Retry-After.
    emu.inject(kv_emulator::Fault { status: 429, count: 1, op: Some(Op::Token), retry_after: Some(2) });
    let r = client
        .get(format!("{endpoint}?resource=https://vault.azure.net&api-version=2019-08-01"))
        .header("X-IDENTITY-HEADER", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "2");

    // 6. The proxy refuses every other destination.
    assert!(client.get("https://example.com/").send().await.is_err());

    // 7. The log: one token, one reused TLS connection to the vault, the refused tunnel.
    let log = emu.log();
    let tokens = emu.tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].credential, CredentialKind::ManagedIdentity);
    assert_eq!(tokens[0].identity, "managed-identity");
    let vault_requests: Vec<_> = log.iter().filter(|e| e.tls && e.host == "test-vault.vault.azure.net").collect();
    let vault_conns: BTreeSet<u64> = vault_requests.iter().map(|e| e.connection).collect();
    // reqwest pools connections (hyper may race one extra connect while a response is being
    // returned to the pool, so "one" would be flaky): far fewer connections than requests.
    assert!(
        vault_conns.len() * 4 <= vault_requests.len(),
        "connections were reused: {} requests over {vault_conns:?}",
        vault_requests.len()
    );
    for c in &vault_conns {
        assert!(
            log.iter().any(|e| e.method == "CONNECT" && e.connection == *c && e.status == 200),
            "each TLS connection id is that of its CONNECT tunnel"
        );
    }
    assert!(log.iter().any(|e| e.method == "CONNECT" && e.host == "example.com" && e.status == 403));
    assert!(log.iter().all(|e| e.method != "TLS"), "no failed handshakes: {log:#?}");
}
