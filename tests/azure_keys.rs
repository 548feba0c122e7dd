//! Azure Key Vault master keys end to end: through the Key Vault emulator (crates/kv-emulator),
//! and against the real `sops` where it is installed.

use std::time::{Duration, Instant};

use kvsops::keys::azure::{AzureConfig, AzureSource};
use kvsops::keys::azure::credential::CredentialEnv;
use kvsops::keys::{KeySource, KeySpec};

fn config(env: CredentialEnv, timeout: Duration) -> AzureConfig {
    AzureConfig {
        env,
        timeout: Ok(timeout),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(800),
    }
}

#[test]
fn an_unreachable_vault_fails_within_the_budget_and_names_the_vault() {
    // Nothing listens on port 1: every attempt is refused, and is retried until the budget ends.
    let source = AzureSource::with_config(config(CredentialEnv::default(), Duration::from_secs(2)));
    let spec = KeySpec::AzureKv { vault_url: "https://127.0.0.1:1".into(), name: "sops-key".into(), version: Some("v1".into()) };
    let start = Instant::now();
    let e = source.wrap(&spec, &[1u8; 32]).unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let m = e.to_string();
    assert!(m.starts_with("azure_kv key error:"), "{m}");
    assert!(m.contains("https://127.0.0.1:1/keys/sops-key/v1"), "{m}");
    assert!(m.contains("attempts") || m.contains("did not answer"), "{m}");
    assert_eq!(e.exit_code(), 128);
}
