//! Acceptance for the Rust side kvsops uses: the official `azure_security_keyvault_keys` client
//! with `azure_identity`'s `ManagedIdentityCredential`, configured only by the emulator's
//! environment (no endpoint overrides, no custom transport, challenge verification on).
//!
//! It sets process environment variables, so it runs alone in a child process of the test binary
//! (`common::in_own_process`).

use crate::common::in_own_process;

use std::time::Duration;

use azure_core::http::{ClientOptions, RetryOptions};
use azure_identity::{ClientSecretCredential, ManagedIdentityCredential};
use azure_security_keyvault_keys::models::{EncryptionAlgorithm, KeyClientEncryptOptions, KeyOperationParameters};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceExt as _};
use kv_emulator::{CredentialKind, Emulator, Op};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_sdk_key_client_round_trips_through_the_emulator() {
    if !in_own_process() {
        return;
    }
    let emu = Emulator::start();
    for k in [
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "https_proxy",
        "SSL_CERT_DIR",
        "AZURE_CLIENT_ID",
        "MSI_ENDPOINT",
    ] {
        std::env::remove_var(k);
    }
    for (k, v) in emu.env() {
        std::env::set_var(k, v);
    }
    let credential = ManagedIdentityCredential::new(None).expect("App Service managed identity from the environment");
    let options = KeyClientOptions {
        client_options: ClientOptions { retry: RetryOptions::none(), ..Default::default() },
        ..Default::default()
    };
    let client = KeyClient::new("https://sdk-vault.vault.azure.net/", credential, Some(options)).unwrap();

    let work = async {
        let key = client.get_key("sdk-key", None).await.expect("get_key").into_model().unwrap();
        let version = key.resource_id().unwrap().version.expect("kid has a version");
        assert_eq!(emu.key_versions("sdk-vault", "sdk-key"), vec![version.clone()]);

        let data_key = vec![7u8; 32];
        let params = KeyOperationParameters {
            algorithm: Some(EncryptionAlgorithm::RsaOaep256),
            value: Some(data_key.clone()),
            ..Default::default()
        };
        let enc = client
            .encrypt(
                "sdk-key",
                params.clone().try_into().unwrap(),
                Some(KeyClientEncryptOptions { key_version: Some(version.clone()), ..Default::default() }),
            )
            .await
            .expect("encrypt")
            .into_model()
            .unwrap();
        let ct = enc.result.expect("ciphertext");
        assert_eq!(ct.len(), 256);
        let dec = client
            .decrypt(
                "sdk-key",
                &version,
                KeyOperationParameters { value: Some(ct.clone()), ..params.clone() }.try_into().unwrap(),
                None,
            )
            .await
            .expect("decrypt")
            .into_model()
            .unwrap();
        assert_eq!(dec.result, Some(data_key.clone()));

        let wrapped = client
            .wrap_key("sdk-key", params.clone().try_into().unwrap(), None)
            .await
            .expect("wrap")
            .into_model()
            .unwrap();
        let unwrapped = client
            .unwrap_key(
                "sdk-key",
                &version,
                KeyOperationParameters { value: wrapped.result, ..params.clone() }.try_into().unwrap(),
                None,
            )
            .await
            .expect("unwrap")
            .into_model()
            .unwrap();
        assert_eq!(unwrapped.result, Some(data_key));

        emu.fail_next(403, 1, Some(Op::Decrypt));
        let err = client
            .decrypt(
                "sdk-key",
                &version,
                KeyOperationParameters { value: Some(ct), ..params }.try_into().unwrap(),
                None,
            )
            .await
            .expect_err("an injected 403 fails the call");
        assert_eq!(err.http_status().map(u16::from), Some(403), "{err:?}");
    };
    tokio::time::timeout(Duration::from_secs(60), work).await.expect("the SDK calls finish in time");

    // The Entra ID client-secret flow of the same SDK (what kvsops uses for AZURE_CLIENT_SECRET).
    let secret_cred = ClientSecretCredential::new(emu.tenant(), "rust-app".to_string(), "s".to_string().into(), None)
        .expect("client secret credential");
    let options = KeyClientOptions {
        client_options: ClientOptions { retry: RetryOptions::none(), ..Default::default() },
        ..Default::default()
    };
    let sp_client = KeyClient::new("https://sdk-vault.vault.azure.net/", secret_cred, Some(options)).unwrap();
    let key = tokio::time::timeout(Duration::from_secs(60), sp_client.get_key("sdk-key", None))
        .await
        .expect("in time")
        .expect("get_key with a client secret");
    assert!(key.into_model().unwrap().key.is_some());
    let sp_get = emu
        .log()
        .into_iter()
        .rfind(|e| e.op == Some(Op::Get) && e.status == 200)
        .expect("a get as the service principal");
    assert_eq!(sp_get.identity.as_deref(), Some("rust-app"));
    assert_eq!(sp_get.credential, Some(CredentialKind::ClientSecret));

    let tokens = emu.tokens();
    assert_eq!(tokens.len(), 2, "each credential fetched one token and cached it: {tokens:?}");
    assert_eq!(tokens[0].credential, CredentialKind::ManagedIdentity);
    assert_eq!(tokens[0].resource, "https://vault.azure.net");
    assert!(emu.log().iter().all(|e| e.method != "TLS"), "no failed TLS handshakes");
}
