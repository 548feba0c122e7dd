//! Azure Key Vault master keys end to end, through the Key Vault emulator (crates/kv-emulator) with
//! the managed-identity (App Service) credential, and against the real `sops` where it is installed.
//!
//! The emulator is reached the way real Key Vault is (HTTPS_PROXY + SSL_CERT_FILE), which the
//! library reads from its process environment: so each test runs alone in a child process of the
//! test binary (`common::in_own_process`), where the environment is set once for the emulator of
//! that process; the emulator tests also take a lock (faults are global to the emulator).

use crate::common;

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use kv_emulator::{CredentialKind, Emulator, Op};
use kvsops::cipher::{Cipher, DataKey};
use kvsops::keys::azure::credential::CredentialEnv;
use kvsops::keys::azure::{decode_enc, AzureConfig, AzureSource};
use kvsops::keys::{KeySource, KeySpec, MasterKeyEntry};
use kvsops::mac::{encrypt_mac, MacHasher};
use kvsops::tree::{Leaf, Scalar, Value};

use common::{have, in_own_process, Sandbox};

const VAULT: &str = "kvsops-test";
const GOV_AUTHORITY: &str = "login.microsoftonline.us";

/// The shared emulator; the process environment points at it.
fn emulator() -> &'static Emulator {
    static EMU: OnceLock<Emulator> = OnceLock::new();
    EMU.get_or_init(|| {
        // A sovereign-cloud authority host is served too, for the AZURE_AUTHORITY_HOST test.
        let config = kv_emulator::Config { authority_hosts: vec![GOV_AUTHORITY.into()], ..Default::default() };
        let emu = Emulator::start_with(config).expect("start the emulator");
        for (k, v) in emu.env() {
            std::env::set_var(k, v);
        }
        // The managed identity endpoint and the "unreachable vault" test use 127.0.0.1 directly.
        std::env::set_var("NO_PROXY", "127.0.0.1,localhost");
        // Nothing of the developer's Azure setup may leak into these tests.
        for k in [
            "AZURE_AUTHORITY_HOST",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_TOKEN_CREDENTIALS",
        ] {
            std::env::remove_var(k);
        }
        emu
    })
}

/// Serializes the tests that use the emulator, and resets its faults.
fn exclusive() -> (MutexGuard<'static, ()>, &'static Emulator) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let emu = emulator();
    emu.reset();
    (guard, emu)
}

/// A fresh source with the default credential chain (which finds the App Service managed
/// identity the emulator provides) and a short budget.
fn source(timeout: Duration) -> AzureSource {
    AzureSource::with_config(AzureConfig {
        env: CredentialEnv::from_env(),
        timeout: Ok(timeout),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(800),
    })
}

fn new_key(emu: &Emulator, name: &str) -> (String, String) {
    let kid = emu.create_key_version(VAULT, name).expect("create key");
    let (url, version) = kid.rsplit_once('/').expect("kid has a version");
    (url.to_string(), version.to_string())
}

fn spec_of(url: &str) -> KeySpec {
    kvsops::keys::azure::parse_key_url(url).expect("key url")
}

fn parts(e: &MasterKeyEntry) -> (&str, &str, &str, &str) {
    match e {
        MasterKeyEntry::AzureKv { vault_url, name, version, enc, .. } => (vault_url, name, version, enc),
        other => panic!("not an azure_kv entry: {other:?}"),
    }
}

#[test]
fn wrap_without_version_records_the_current_version_and_unwraps() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _v1) = new_key(emu, "nover");
    let (_, v2) = new_key(emu, "nover"); // a rotation: v2 is current
    let src = source(Duration::from_secs(10));
    let secret = DataKey::generate();
    let entry = src.wrap(&spec_of(&url), secret.as_bytes()).expect("wrap");
    let (vault_url, name, version, enc) = parts(&entry);
    assert_eq!(vault_url, format!("https://{VAULT}.vault.azure.net"));
    assert_eq!(name, "nover");
    assert_eq!(version, v2, "the current version is recorded");
    assert!(!enc.contains('=') && !enc.contains('+') && !enc.contains('/'), "{enc}");
    assert_eq!(decode_enc(enc).expect("base64url").len(), 256, "RSA-2048 ciphertext");
    if let MasterKeyEntry::AzureKv { created_at, .. } = &entry {
        assert!(kvsops::timefmt::parse_rfc3339(created_at).is_some() && created_at.ends_with('Z'), "{created_at}");
    }
    let back = src.unwrap(&entry).expect("unwrap");
    assert_eq!(back.as_slice(), secret.as_bytes());
    // An entry with an empty version (older files) decrypts with the latest version.
    let MasterKeyEntry::AzureKv { vault_url, name, created_at, enc, .. } = entry.clone() else { unreachable!() };
    let latest = MasterKeyEntry::AzureKv { vault_url, name, version: String::new(), created_at, enc };
    assert_eq!(src.unwrap(&latest).expect("unwrap latest").as_slice(), secret.as_bytes());
}

#[test]
fn wrap_with_a_version_uses_it_after_rotation_and_one_token_serves_all_operations() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, v1) = new_key(emu, "pinned");
    new_key(emu, "pinned"); // rotated after the rule was written
    let tokens_before = emu.tokens().len();
    let src = source(Duration::from_secs(10));
    let spec = spec_of(&format!("{url}/{v1}"));
    for _ in 0..3 {
        let secret = DataKey::generate();
        let entry = src.wrap(&spec, secret.as_bytes()).expect("wrap");
        assert_eq!(parts(&entry).2, v1);
        assert_eq!(src.unwrap(&entry).expect("unwrap").as_slice(), secret.as_bytes());
    }
    assert_eq!(emu.tokens().len() - tokens_before, 1, "one token for the whole run");
}

#[test]
fn parallel_callers_share_the_source() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "parallel");
    let src = source(Duration::from_secs(20));
    let spec = spec_of(&url);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    let secret = DataKey::generate();
                    let entry = src.wrap(&spec, secret.as_bytes()).expect("wrap");
                    assert_eq!(src.unwrap(&entry).expect("unwrap").as_slice(), secret.as_bytes());
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
    });
}

#[test]
fn forbidden_names_the_identity_the_permission_and_the_role() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, v1) = new_key(emu, "denied");
    let src = source(Duration::from_secs(10));
    let entry = src.wrap(&spec_of(&url), &[7u8; 32]).expect("wrap");
    emu.fail_next(403, 1, Some(Op::Decrypt));
    let e = src.unwrap(&entry).unwrap_err();
    assert_eq!(e.exit_code(), 128);
    let m = e.to_string();
    for needle in [
        "azure_kv key error",
        &format!("{url}/{v1}"),
        &format!("vault https://{VAULT}.vault.azure.net"),
        "ManagedIdentityCredential",
        "keys/decrypt",
        "Key Vault Crypto User",
        "HTTP 403",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in: {m}");
    }
    assert!(!m.contains(&kvsops::keys::azure::encode_enc(&[7u8; 32])));
}

#[test]
fn a_missing_version_is_reported_with_vault_key_and_version() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "missing");
    let src = source(Duration::from_secs(10));
    let entry = src.wrap(&spec_of(&url), &[1u8; 32]).expect("wrap");
    let MasterKeyEntry::AzureKv { vault_url, name, created_at, enc, .. } = entry else { unreachable!() };
    let bogus = "0123456789abcdef0123456789abcdef".to_string();
    let wrong = MasterKeyEntry::AzureKv { vault_url, name, version: bogus.clone(), created_at, enc };
    let m = src.unwrap(&wrong).unwrap_err().to_string();
    assert!(m.contains("HTTP 404"), "{m}");
    assert!(
        m.contains(&format!("version {bogus} of key missing was not found in vault https://{VAULT}.vault.azure.net")),
        "{m}"
    );
}

#[test]
fn throttling_and_server_errors_are_retried() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "flaky");
    let src = source(Duration::from_secs(15));
    let secret = DataKey::generate();
    emu.fail_next(429, 2, Some(Op::Encrypt));
    let entry = src.wrap(&spec_of(&url), secret.as_bytes()).expect("wrap after 429s");
    emu.fail_next(500, 2, Some(Op::Decrypt));
    emu.fail_next(503, 1, Some(Op::Decrypt));
    assert_eq!(src.unwrap(&entry).expect("unwrap after 5xx").as_slice(), secret.as_bytes());
    let injected = emu.log().iter().filter(|l| l.injected).count();
    assert_eq!(injected, 5, "every injected fault was hit once");
}

#[test]
fn a_persistent_server_error_fails_within_the_budget() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "down");
    let src = source(Duration::from_secs(2));
    let entry = src.wrap(&spec_of(&url), &[3u8; 32]).expect("wrap");
    emu.fail_next(500, 10_000, Some(Op::Decrypt));
    let start = Instant::now();
    let e = src.unwrap(&entry).unwrap_err();
    let took = start.elapsed();
    emu.reset();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let m = e.to_string();
    assert!(m.contains(&format!("vault https://{VAULT}.vault.azure.net kept failing after")), "{m}");
    assert!(m.contains("HTTP 500") && m.contains("KVSOPS_AZURE_TIMEOUT"), "{m}");
}

#[test]
fn an_unreachable_vault_fails_within_the_budget_and_names_the_vault() {
    if !in_own_process() {
        return;
    }
    emulator(); // same process environment as the other tests
                // Nothing listens on port 1: every attempt is refused, and is retried until the budget ends.
    let src = source(Duration::from_secs(2));
    let spec = KeySpec::AzureKv {
        vault_url: "https://127.0.0.1:1".into(),
        name: "sops-key".into(),
        version: Some("v1".into()),
    };
    let start = Instant::now();
    let e = src.wrap(&spec, &[1u8; 32]).unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let m = e.to_string();
    assert!(m.starts_with("azure_kv key error:"), "{m}");
    assert!(m.contains("https://127.0.0.1:1/keys/sops-key/v1"), "{m}");
    assert!(m.contains("attempts") || m.contains("did not answer"), "{m}");
    assert_eq!(e.exit_code(), 128);
}

/// The credential kind of the last token the emulator issued.
fn last_credential(emu: &Emulator) -> Option<CredentialKind> {
    emu.tokens().last().map(|t| t.credential)
}

fn source_with(env: CredentialEnv) -> AzureSource {
    AzureSource::with_config(AzureConfig {
        env,
        timeout: Ok(Duration::from_secs(10)),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(800),
    })
}

#[test]
fn a_service_principal_in_the_environment_comes_before_managed_identity() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "sp");
    let env = CredentialEnv {
        tenant_id: Some(emu.tenant().to_string()),
        client_id: Some("11111111-2222-3333-4444-555555555555".into()),
        client_secret: Some("s3cret".into()),
        ..CredentialEnv::from_env() // the managed identity endpoint is there too
    };
    assert!(env.identity_endpoint.is_some());
    let entry = source_with(env).wrap(&spec_of(&url), &[5u8; 32]).expect("wrap");
    assert_eq!(parts(&entry).1, "sp");
    assert_eq!(last_credential(emu), Some(CredentialKind::ClientSecret));
}

#[test]
fn azure_authority_host_selects_the_sovereign_cloud_login() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "gov");
    let env = CredentialEnv {
        tenant_id: Some(emu.tenant().to_string()),
        client_id: Some("11111111-2222-3333-4444-555555555555".into()),
        client_secret: Some("s3cret".into()),
        ..CredentialEnv::from_env()
    };
    // Read by the SDK when the credential is built (on first use); tests are serialized here.
    std::env::set_var("AZURE_AUTHORITY_HOST", format!("https://{GOV_AUTHORITY}"));
    let result = source_with(env).wrap(&spec_of(&url), &[5u8; 32]);
    std::env::remove_var("AZURE_AUTHORITY_HOST");
    result.expect("wrap");
    assert_eq!(last_credential(emu), Some(CredentialKind::ClientSecret));
    let token_hosts: Vec<String> = emu.log().into_iter().filter(|l| l.op == Some(Op::Token)).map(|l| l.host).collect();
    assert_eq!(token_hosts, vec![GOV_AUTHORITY.to_string()], "the token came from the configured authority");
}

#[test]
fn workload_identity_comes_before_managed_identity() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "wi");
    let sb = Sandbox::new();
    let token_file = sb.path().join("azure-identity-token");
    // What the AKS webhook projects: a service-account JWT (its content is the emulator's to judge).
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Zmx1eC1zeXN0ZW06a3VzdG9taXplLWNvbnRyb2xsZXIifQ.c2ln")
        .expect("write token file");
    let env = CredentialEnv {
        tenant_id: Some(emu.tenant().to_string()),
        client_id: Some("66666666-7777-8888-9999-000000000000".into()),
        federated_token_file: Some(token_file.display().to_string()),
        ..CredentialEnv::from_env()
    };
    source_with(env).wrap(&spec_of(&url), &[5u8; 32]).expect("wrap");
    assert_eq!(last_credential(emu), Some(CredentialKind::ClientAssertion));
}

#[test]
fn azure_token_credentials_pins_one_credential() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "pin");
    let env = CredentialEnv {
        token_credentials: Some("ManagedIdentityCredential".into()),
        tenant_id: Some(emu.tenant().to_string()),
        client_id: None,
        client_secret: Some("s3cret".into()),
        ..CredentialEnv::from_env()
    };
    source_with(env).wrap(&spec_of(&url), &[5u8; 32]).expect("wrap");
    assert_eq!(last_credential(emu), Some(CredentialKind::ManagedIdentity));
}

#[test]
fn no_usable_credential_lists_every_reason() {
    if !in_own_process() {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "nocred");
    // `dev` = the two CLIs; neither is logged in (or installed) here.
    let env = CredentialEnv { token_credentials: Some("dev".into()), ..CredentialEnv::default() };
    let e = source_with(env).wrap(&spec_of(&url), &[5u8; 32]).unwrap_err();
    assert_eq!(e.exit_code(), 128);
    let m = e.to_string();
    assert!(m.contains("no Azure credential"), "{m}");
    assert!(m.contains("AzureCLICredential: ") && m.contains("AzureDeveloperCLICredential: "), "{m}");
    assert!(m.contains(&url), "{m}");
}

// ---- interop with the real sops ----

/// The real sops in `sb`, pointed at the emulator (its variables passed to the child, as the
/// shared environment of this binary is not the sops process's concern).
fn run_sops(sb: &Sandbox, emu: &Emulator, args: &[&str]) -> String {
    let mut c = sb.sops();
    c.envs(emu.env().iter().map(|(k, v)| (k, v))).env("NO_PROXY", "127.0.0.1,localhost").args(args);
    let out = c.output().expect("run sops");
    assert!(out.status.success(), "sops {args:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A minimal sops YAML file, `s: hello`, encrypted under `key` with one azure_kv entry.
fn sops_yaml(key: &DataKey, entry: &MasterKeyEntry) -> String {
    let MasterKeyEntry::AzureKv { vault_url, name, version, created_at, enc } = entry else { panic!("not azure_kv") };
    let mut cipher = Cipher::new(key.clone());
    let value = cipher.encrypt_bytes(b"hello", "s:", "str");
    let mut mac = MacHasher::new(false);
    mac.add(&Leaf::Scalar(Scalar::str("hello")), true);
    let lastmodified = kvsops::timefmt::now_utc();
    let mac = encrypt_mac(&mut cipher, &mac.finish(), lastmodified);
    let lm = kvsops::timefmt::format_rfc3339(lastmodified);
    format!(
        "s: {value}\nsops:\n    azure_kv:\n        - vault_url: {vault_url}\n          name: {name}\n          version: {version}\n          \
         created_at: \"{created_at}\"\n          enc: {enc}\n    lastmodified: \"{lm}\"\n    mac: {mac}\n    \
         unencrypted_suffix: _unencrypted\n    version: 3.11.0\n"
    )
}

#[test]
fn sops_decrypts_a_data_key_kvsops_wrapped() {
    if !in_own_process() {
        return;
    }
    if !have("sops") {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, _) = new_key(emu, "interop1");
    let src = source(Duration::from_secs(10));
    let key = DataKey::generate();
    let entry = src.wrap(&spec_of(&url), key.as_bytes()).expect("wrap");
    let sb = Sandbox::new();
    sb.write("s.enc.yaml", sops_yaml(&key, &entry));
    let out = run_sops(&sb, emu, &["decrypt", "s.enc.yaml"]);
    assert_eq!(out, "s: hello\n");
}

#[test]
fn kvsops_unwraps_a_data_key_sops_wrapped() {
    if !in_own_process() {
        return;
    }
    if !have("sops") {
        return;
    }
    let (_g, emu) = exclusive();
    let (url, v1) = new_key(emu, "interop2");
    let sb = Sandbox::new();
    sb.write("plain.yaml", "s: hello\n");
    let out = run_sops(&sb, emu, &["encrypt", "--azure-kv", &url, "plain.yaml"]);
    // A line scan is enough for the one entry sops writes.
    let field = |key: &str| -> String {
        out.lines()
            .map(|l| l.trim_start().trim_start_matches("- "))
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let value = field("s: ");
    let entry = MasterKeyEntry::AzureKv {
        vault_url: field("vault_url: "),
        name: field("name: "),
        version: field("version: "),
        created_at: field("created_at: "),
        enc: field("enc: "),
    };
    assert_eq!(parts(&entry).2, v1, "sops 3.11 records the resolved version too");
    let src = source(Duration::from_secs(10));
    let data_key = src.unwrap(&entry).expect("unwrap what sops wrapped");
    let mut cipher = Cipher::new(DataKey::from_slice(&data_key).expect("32-byte data key"));
    match cipher.decrypt_str(&value, "s:").expect("decrypt value") {
        Leaf::Scalar(Scalar { value: Value::Str(s), .. }) => assert_eq!(s, "hello"),
        other => panic!("unexpected leaf {other:?}"),
    }
}
