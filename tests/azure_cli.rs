//! Azure Key Vault through the command line, against the emulator, judged by the real sops (issue 4),
//! and batches sharing one token (issue 7):
//! - kvsops encrypts with a Key Vault key (with and without a version in the URL) and `sops decrypt`
//!   reads it; sops encrypts and kvsops decrypts;
//! - Azure and age keys in one file: either opens it;
//! - the credential kinds that run locally (managed identity, service principal with a secret,
//!   workload identity);
//! - every fault (403, 404, persistent 500, throttling) gives a clear error and leaves the file untouched;
//! - a batch of files is decrypted with one token.

use crate::common;

use std::process::Command;

use common::*;
use kv_emulator::{Emulator, Op};

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: pw-azure-1 # comment kept\n  user: app\n";

fn emu_env(mut c: Command, emu: &Emulator) -> Command {
    for (k, v) in emu.env() {
        c.env(k, v);
    }
    c.env("KVSOPS_AZURE_TIMEOUT", "5");
    c
}

#[test]
fn kvsops_and_sops_read_each_others_key_vault_files() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    let sb = Sandbox::new();
    for url in [
        emu.key_url("team", "sops-key"),
        format!("{}/{}", emu.key_url("team", "pinned"), {
            let kid = emu.create_key_version("team", "pinned").unwrap();
            kid.rsplit('/').next().unwrap().to_string()
        }),
    ] {
        let f = sb.write("s.yaml", SECRET);
        let mut c = emu_env(sb.kvsops(), &emu);
        c.args(["encrypt", "-i", "--encrypted-regex", "^(data|stringData)$", "--azure-kv", &url]).arg(&f);
        ok(c);
        let enc = std::fs::read_to_string(&f).unwrap();
        assert!(enc.contains("azure_kv:") && !enc.contains("pw-azure-1"), "{enc}");
        let name = if url.contains("pinned") { "pinned" } else { "sops-key" };
        let versions = emu.key_versions("team", name);
        assert!(enc.contains(&format!("version: {}", versions.last().unwrap())), "the version is recorded:\n{enc}");
        let mut c = emu_env(sb.sops(), &emu);
        c.arg("decrypt").arg(&f);
        assert!(String::from_utf8(ok(c)).unwrap().contains("password: pw-azure-1"));
        let mut c = emu_env(sb.kvsops(), &emu);
        c.arg("decrypt").arg(&f);
        assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
    }
    // The other way round.
    let f = sb.write("t.yaml", SECRET);
    let mut c = emu_env(sb.sops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "sops-key")]).arg(&f);
    ok(c);
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["decrypt", "--extract", r#"["stringData"]["password"]"#]).arg(&f);
    assert_eq!(ok(c), b"pw-azure-1");
}

#[test]
fn azure_and_age_keys_in_one_file_each_open_it() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "k"), "--age", KEY1_RECIPIENT]).arg(&f);
    ok(c);
    // age alone (no Azure credentials at all): sops and kvsops.
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = tool;
        c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&f);
        assert!(String::from_utf8(ok(c)).unwrap().contains("pw-azure-1"));
    }
    // Azure alone (no age key).
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = emu_env(tool, &emu);
        c.arg("decrypt").arg(&f);
        assert!(String::from_utf8(ok(c)).unwrap().contains("pw-azure-1"));
    }
}

#[test]
fn service_principal_and_workload_identity_credentials_work() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let token_file = sb.write("federated-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJrdnNvcHMifQ.");
    let f = sb.write("s.yaml", SECRET);
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "k")]).arg(&f);
    ok(c);
    for (kind, vars) in [
        ("client secret", vec![("AZURE_CLIENT_ID", "sp-client"), ("AZURE_CLIENT_SECRET", "s3cret")]),
        (
            "workload identity",
            vec![("AZURE_CLIENT_ID", "wi-client"), ("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap())],
        ),
    ] {
        let before = emu.tokens().len();
        let mut c = emu_env(sb.kvsops(), &emu);
        c.env_remove("IDENTITY_ENDPOINT").env_remove("IDENTITY_HEADER").env("AZURE_TENANT_ID", emu.tenant());
        for (k, v) in &vars {
            c.env(k, v);
        }
        c.arg("decrypt").arg(&f);
        assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET, "{kind}");
        let tokens = emu.tokens();
        assert_eq!(tokens.len(), before + 1, "{kind}: one token");
        assert_eq!(tokens.last().unwrap().identity, vars[0].1, "{kind}: the right identity");
    }
}

#[test]
fn faults_give_clear_errors_and_leave_the_file_untouched() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "k")]).arg(&f);
    ok(c);
    let encrypted = std::fs::read(&f).unwrap();

    // 403: names the permission and the role.
    emu.fail_next(403, 10, Some(Op::Decrypt));
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["decrypt", "-i"]).arg(&f);
    let out = fails(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{err}");
    assert!(err.contains("Key Vault Crypto User") && err.contains("s.yaml"), "{err}");
    assert!(!err.contains("pw-azure-1"));
    assert_eq!(std::fs::read(&f).unwrap(), encrypted);
    emu.reset();

    // Persistent 500: retried, then fails within the budget.
    emu.fail_next(500, 1000, Some(Op::Decrypt));
    let mut c = emu_env(sb.kvsops(), &emu);
    c.env("KVSOPS_AZURE_TIMEOUT", "2").args(["decrypt", "-i"]).arg(&f);
    let start = std::time::Instant::now();
    let out = fails(c);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("team.vault.azure.net"));
    assert_eq!(std::fs::read(&f).unwrap(), encrypted);
    emu.reset();

    // Throttling a few times: retried and succeeds.
    emu.fail_next(429, 2, Some(Op::Decrypt));
    let mut c = emu_env(sb.kvsops(), &emu);
    c.arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
    emu.reset();

    // A key version that does not exist: 404 names vault, key and version; encrypt leaves the plaintext.
    let plain = sb.write("p.yaml", SECRET);
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", &format!("{}/00000000000000000000000000000000", emu.key_url("team", "k"))])
        .arg(&plain);
    let out = fails(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("00000000000000000000000000000000") && err.contains("team.vault.azure.net"), "{err}");
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), SECRET);

    // A malformed URL is refused with the expected form.
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", "https://team.vault.azure.net/secrets/x"]).arg(&plain);
    let out = fails(c);
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://<vault>.vault.azure.net/keys/<name>"));
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), SECRET);
}

#[test]
fn a_batch_shares_one_token_and_reports_each_failure() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let mut files = Vec::new();
    for i in 0..12 {
        files.push(sb.write(&format!("f{i}.yaml"), format!("password: pw-{i}\n")));
    }
    // The key exists, as in a real vault (the emulator's on-demand RSA key generation is slow in
    // debug builds when many first requests race).
    emu.create_key_version("team", "batch").unwrap();
    let mut c = emu_env(sb.kvsops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "batch")]).args(&files);
    ok(c);
    let tokens_after_encrypt = emu.tokens().len();
    assert_eq!(tokens_after_encrypt, 1, "one token for the whole encrypt batch");
    // One file broken: the others still decrypt, the summary names it, the exit code is non-zero.
    std::fs::write(&files[3], "password: not encrypted\n").unwrap();
    let out_dir = sb.path().join("out");
    let mut c = emu_env(sb.kvsops(), &emu);
    c.arg("decrypt").arg("--output-dir").arg(&out_dir).args(&files);
    let out = fails(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("f3.yaml") && err.contains("1 of 12 files failed"), "{err}");
    for (i, _) in files.iter().enumerate().filter(|(i, _)| *i != 3) {
        assert_eq!(std::fs::read_to_string(out_dir.join(format!("f{i}.yaml"))).unwrap(), format!("password: pw-{i}\n"));
    }
    assert_eq!(emu.tokens().len(), tokens_after_encrypt + 1, "one token for the whole decrypt batch");
}
