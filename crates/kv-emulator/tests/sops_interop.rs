//! Acceptance: the real `sops` 3.11 (Go SDK) encrypts and decrypts against the emulator,
//! configured only by the emulator's environment.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{have, run_with_deadline, sops_program, Output};
use kv_emulator::{Config, CredentialKind, Emulator, Fault, LogEntry, Op};

const PLAIN: &str = "greeting: hello\npassword: s3cr3t\n";
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs sops in `dir` with a clean environment: PATH, a private HOME, the emulator's variables
/// and `extra`.
fn sops(emu: &Emulator, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(sops_program());
    cmd.args(args).current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("HOME", dir);
    for (k, v) in emu.env() {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = run_with_deadline(cmd, b"", DEADLINE);
    assert!(out.status.is_some(), "sops {args:?} did not finish within {DEADLINE:?}; stderr:\n{}", out.stderr);
    out
}

fn write_plain(dir: &Path) {
    std::fs::write(dir.join("plain.yaml"), PLAIN).unwrap();
}

fn encrypt(emu: &Emulator, dir: &Path, url: &str) -> String {
    let out = sops(emu, dir, &["encrypt", "--azure-kv", url, "plain.yaml"], &[]);
    assert!(out.success(), "sops encrypt failed:\n{}", out.stderr);
    std::fs::write(dir.join("enc.yaml"), &out.stdout).unwrap();
    out.stdout
}

fn tokens_fetched(log: &[LogEntry]) -> usize {
    log.iter().filter(|e| e.op == Some(Op::Token) && e.status == 200).count()
}

#[test]
fn sops_encrypts_with_the_current_version_and_decrypts() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());

    let enc = encrypt(&emu, dir.path(), &emu.key_url("test-vault", "sops-key"));
    let versions = emu.key_versions("test-vault", "sops-key");
    assert_eq!(versions.len(), 1, "the key is created on first use");
    assert!(enc.contains("vault_url: https://test-vault.vault.azure.net"), "{enc}");
    assert!(enc.contains(&format!("version: {}", versions[0])), "sops resolved the current version:\n{enc}");
    assert!(!enc.contains("s3cr3t"));

    let log = emu.log();
    assert_eq!(tokens_fetched(&log), 1, "one token per sops process: {log:#?}");
    assert!(log.iter().any(|e| e.op == Some(Op::Get) && e.status == 200 && e.path == "/keys/sops-key/"));
    let enc_entry = log.iter().find(|e| e.op == Some(Op::Encrypt) && e.status == 200).expect("an encrypt request");
    assert_eq!(enc_entry.path, format!("/keys/sops-key/{}/encrypt", versions[0]));
    assert_eq!(enc_entry.credential, Some(CredentialKind::ManagedIdentity));
    let vault_requests: Vec<&LogEntry> =
        log.iter().filter(|e| e.tls && e.host == "test-vault.vault.azure.net").collect();
    let vault_conns: std::collections::BTreeSet<u64> = vault_requests.iter().map(|e| e.connection).collect();
    // Go pools connections; a dial may race an idle connection's return, so "exactly one" would
    // be flaky. Reuse shows as fewer connections than requests.
    assert!(vault_conns.len() < vault_requests.len(), "sops reused its TLS connection: {log:#?}");

    emu.reset();
    let out = sops(&emu, dir.path(), &["decrypt", "enc.yaml"], &[]);
    assert!(out.success(), "sops decrypt failed:\n{}", out.stderr);
    assert_eq!(out.stdout, PLAIN);
    let log = emu.log();
    assert_eq!(tokens_fetched(&log), 1);
    assert_eq!(log.iter().filter(|e| e.op == Some(Op::Decrypt) && e.status == 200).count(), 1);
}

#[test]
fn sops_encrypts_with_an_explicit_version_after_rotation() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());
    let old_kid = emu.create_key_version("test-vault", "sops-key").unwrap();
    let new_kid = emu.create_key_version("test-vault", "sops-key").unwrap();
    assert_ne!(old_kid, new_kid);
    let old_version = old_kid.rsplit('/').next().unwrap().to_string();

    let enc = encrypt(&emu, dir.path(), &old_kid);
    assert!(enc.contains(&format!("version: {old_version}")), "{enc}");
    assert!(!emu.log().iter().any(|e| e.op == Some(Op::Get)), "an explicit version needs no key lookup");

    // A further rotation does not strand files encrypted with older versions.
    emu.create_key_version("test-vault", "sops-key").unwrap();
    let out = sops(&emu, dir.path(), &["decrypt", "enc.yaml"], &[]);
    assert!(out.success(), "sops decrypt failed:\n{}", out.stderr);
    assert_eq!(out.stdout, PLAIN);
}

#[test]
fn sops_decrypt_fails_clearly_under_an_injected_403() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());
    encrypt(&emu, dir.path(), &emu.key_url("test-vault", "sops-key"));

    emu.fail_next(403, 10, Some(Op::Decrypt));
    let out = sops(&emu, dir.path(), &["decrypt", "enc.yaml"], &[]);
    assert!(!out.success(), "decrypt must fail under 403");
    assert!(out.stdout.is_empty() || !out.stdout.contains("s3cr3t"));
    assert!(
        out.stderr.contains("does not have keys decrypt permission"),
        "the Key Vault message reaches the user:\n{}",
        out.stderr
    );
    assert!(emu.log().iter().any(|e| e.status == 403 && e.injected));
}

#[test]
fn sops_rides_out_throttling() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());
    encrypt(&emu, dir.path(), &emu.key_url("test-vault", "sops-key"));

    emu.reset();
    emu.inject(Fault { status: 429, count: 2, op: Some(Op::Decrypt), retry_after: Some(1) });
    let out = sops(&emu, dir.path(), &["decrypt", "enc.yaml"], &[]);
    assert!(out.success(), "sops retries 429 with Retry-After:\n{}", out.stderr);
    assert_eq!(out.stdout, PLAIN);
    let decrypts: Vec<_> =
        emu.log().into_iter().filter(|e| e.op == Some(Op::Decrypt) && e.identity.is_some()).collect();
    assert_eq!(decrypts.iter().map(|e| e.status).collect::<Vec<_>>(), vec![429, 429, 200]);
}

#[test]
fn sops_client_secret_and_workload_identity_go_through_entra_id() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start_with(Config { client_secret: Some("right-secret".into()), ..Config::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());
    encrypt(&emu, dir.path(), &emu.key_url("test-vault", "sops-key"));
    let tenant = emu.tenant().to_string();

    emu.reset();
    let out = sops(
        &emu,
        dir.path(),
        &["decrypt", "enc.yaml"],
        &[("AZURE_TENANT_ID", &tenant), ("AZURE_CLIENT_ID", "sops-app"), ("AZURE_CLIENT_SECRET", "right-secret")],
    );
    assert!(out.success(), "client secret decrypt failed:\n{}", out.stderr);
    assert_eq!(out.stdout, PLAIN);
    let log = emu.log();
    assert!(log.iter().any(|e| e.path == "/common/discovery/instance" && e.status == 200));
    assert!(log.iter().any(|e| e.path.ends_with("/v2.0/.well-known/openid-configuration") && e.status == 200));
    let dec = log.iter().find(|e| e.op == Some(Op::Decrypt) && e.status == 200).unwrap();
    assert_eq!(dec.identity.as_deref(), Some("sops-app"));
    assert_eq!(dec.credential, Some(CredentialKind::ClientSecret));

    let bad = sops(
        &emu,
        dir.path(),
        &["decrypt", "enc.yaml"],
        &[("AZURE_TENANT_ID", &tenant), ("AZURE_CLIENT_ID", "sops-app"), ("AZURE_CLIENT_SECRET", "wrong")],
    );
    assert!(!bad.success(), "a wrong secret is refused when --client-secret is set");
    assert!(bad.stderr.contains("AADSTS7000215"), "{}", bad.stderr);

    let fed = dir.path().join("federated-token");
    // A JWT-shaped federated token (header {"alg":"RS256","kid":"k"}), as Kubernetes projects.
    std::fs::write(&fed, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.c2ln").unwrap();
    emu.reset();
    let fed_path = fed.display().to_string();
    let out = sops(
        &emu,
        dir.path(),
        &["decrypt", "enc.yaml"],
        &[("AZURE_TENANT_ID", &tenant), ("AZURE_CLIENT_ID", "wl-app"), ("AZURE_FEDERATED_TOKEN_FILE", &fed_path)],
    );
    assert!(out.success(), "workload identity decrypt failed:\n{}", out.stderr);
    let dec = emu.log().into_iter().find(|e| e.op == Some(Op::Decrypt) && e.status == 200).unwrap();
    assert_eq!(dec.identity.as_deref(), Some("wl-app"));
    assert_eq!(dec.credential, Some(CredentialKind::ClientAssertion));
}

#[test]
fn sops_is_forbidden_for_a_denied_identity() {
    if !have("sops") {
        return;
    }
    let emu =
        Emulator::start_with(Config { deny_identities: vec!["managed-identity".into()], ..Config::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());
    let out =
        sops(&emu, dir.path(), &["encrypt", "--azure-kv", &emu.key_url("test-vault", "sops-key"), "plain.yaml"], &[]);
    assert!(!out.success());
    assert!(out.stderr.contains("does not have keys get permission"), "{}", out.stderr);
}

#[test]
fn sops_honours_a_custom_authority_host() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start_with(Config { authority_hosts: vec!["login.example.test".into()], ..Config::default() })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());
    let tenant = emu.tenant().to_string();
    let url = emu.key_url("test-vault", "sops-key");
    let out = sops(
        &emu,
        dir.path(),
        &["encrypt", "--azure-kv", &url, "plain.yaml"],
        &[
            ("AZURE_AUTHORITY_HOST", "https://login.example.test"),
            ("AZURE_TENANT_ID", &tenant),
            ("AZURE_CLIENT_ID", "sops-app"),
            ("AZURE_CLIENT_SECRET", "x"),
        ],
    );
    assert!(out.success(), "{}", out.stderr);
    let log = emu.log();
    let token = log.iter().find(|e| e.op == Some(Op::Token) && e.status == 200).expect("a token request");
    assert_eq!(token.host, "login.example.test", "tokens come from the configured authority: {log:#?}");
}

#[test]
fn sops_reports_key_not_found_without_auto_create() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start_with(Config { auto_create: false, ..Config::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_plain(dir.path());
    let url = emu.key_url("test-vault", "missing");
    let out = sops(&emu, dir.path(), &["encrypt", "--azure-kv", &url, "plain.yaml"], &[]);
    assert!(!out.success());
    assert!(out.stderr.contains("KeyNotFound"), "{}", out.stderr);
    assert!(emu.key_versions("test-vault", "missing").is_empty());
}
