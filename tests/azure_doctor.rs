//! `kvsops doctor` against the Key Vault emulator (issue 15): every fault gives its failing line,
//! its fix and a non-zero exit code; a usable key gives 0 — and is one the real sops uses; the
//! token never appears in the output; the probe never decrypts a file's data key; the real sops
//! fails where doctor does (403, 404, an unresolvable vault) and works with a key doctor passed.

use crate::common;

use std::process::{Command, Output};

use common::*;
use kv_emulator::{Emulator, Op};

fn emu_env(mut c: Command, emu: &Emulator) -> Command {
    for (k, v) in emu.env() {
        c.env(k, v);
    }
    c.env("KVSOPS_AZURE_TIMEOUT", "3");
    c
}

fn doctor(sb: &Sandbox, emu: &Emulator, args: &[&str]) -> (i32, String) {
    let mut c = emu_env(sb.kvsops(), emu);
    c.arg("doctor").args(args);
    finish(c.output().expect("run kvsops doctor"), emu)
}

/// Exit code and stdout; asserts that no token the emulator issued (nor its signature part) and
/// no JWT-looking text appears in stdout or stderr.
fn finish(out: Output, emu: &Emulator) -> (i32, String) {
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let tokens = emu.token_values();
    assert!(!tokens.is_empty() || stdout.contains("no Azure token"), "no token was issued:\n{stdout}");
    for t in &tokens {
        let sig = t.rsplit('.').next().unwrap_or(t);
        for text in [&stdout, &stderr] {
            assert!(!text.contains(t.as_str()) && !text.contains(sig), "a token leaked:\n{text}");
        }
    }
    assert!(!stdout.contains("eyJ") && !stderr.contains("eyJ"), "JWT-like text in the output:\n{stdout}\n{stderr}");
    (out.status.code().unwrap_or(-1), stdout)
}

/// The line of check `name` in the section whose title starts with `section`.
fn line<'a>(out: &'a str, section: &str, name: &str) -> &'a str {
    let mut in_section = false;
    for l in out.lines() {
        if !l.starts_with(' ') {
            in_section = l.starts_with(section);
            continue;
        }
        let mut words = l.split_whitespace();
        if in_section && words.nth(1) == Some(name) {
            return l;
        }
    }
    panic!("no {name} line under {section:?} in:\n{out}")
}

/// The fix printed under the line of check `name` in `section`.
fn fix_of<'a>(out: &'a str, section: &str, name: &str) -> &'a str {
    let l = line(out, section, name);
    let rest = &out[out.find(l).expect("line") + l.len()..];
    rest.lines()
        .nth(1)
        .and_then(|f| f.trim().strip_prefix("fix: "))
        .unwrap_or_else(|| panic!("no fix under {l:?} in:\n{out}"))
}

fn status(l: &str) -> &str {
    l.split_whitespace().next().unwrap_or("")
}

/// The real sops cannot encrypt with `url` either (what doctor reported is what sops meets).
fn sops_cannot_use(sb: &Sandbox, emu: &Emulator, url: &str, needle: &str) {
    if !have("sops") {
        return;
    }
    let f = sb.write("sops-probe.yaml", "password: pw\n");
    let mut c = emu_env(sb.sops(), emu);
    c.args(["encrypt", "--azure-kv", url]).arg(&f);
    let o = fails(c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(needle), "sops: {err}");
}

#[test]
fn a_usable_key_passes_every_check_and_sops_uses_it() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let url = emu.key_url("team", "sops-key");
    let (code, out) = doctor(&sb, &emu, &[&url]);
    assert_eq!(code, 0, "{out}");
    for (section, name) in [
        ("Azure credential", "credential"),
        ("Azure credential", "identity"),
        ("vault", "proxy"),
        ("vault", "tunnel"),
        ("vault", "https"),
        ("vault", "tenant"),
        ("key", "get"),
        ("key", "encrypt"),
        ("key", "decrypt"),
    ] {
        assert_eq!(status(line(&out, section, name)), "ok", "{section}/{name}:\n{out}");
    }
    // Which credential, and whose identity, from the token's claims.
    assert!(line(&out, "Azure credential", "credential").contains("ManagedIdentityCredential"), "{out}");
    let identity = line(&out, "Azure credential", "identity");
    let oid = kv_emulator::state::object_id("managed-identity");
    assert!(
        identity.contains(&format!("tenant {}", emu.tenant())) && identity.contains(&format!("object id {oid}")),
        "{identity}"
    );
    assert!(identity.contains("name kv-emulator-app"), "{identity}");
    // The route: HTTPS_PROXY, the emulator's proxy.
    assert!(
        line(&out, "vault", "proxy").contains(&format!("through the proxy {} (HTTPS_PROXY)", emu.admin_url())),
        "{out}"
    );
    assert!(out.ends_with("all checks passed: 9 ok, 0 failed, 0 not checked\n"), "{out}");

    // The key doctor passed is one the real sops encrypts and decrypts with.
    if !have("sops") {
        return;
    }
    let f = sb.write("s.yaml", "password: pw-doctor\n");
    let mut c = emu_env(sb.sops(), &emu);
    c.args(["encrypt", "-i", "--azure-kv", &url]).arg(&f);
    ok(c);
    let mut c = emu_env(sb.sops(), &emu);
    c.arg("decrypt").arg(&f);
    assert_eq!(ok(c), b"password: pw-doctor\n");

    // Doctor on the file sops wrote checks the key and version the file records, and its probe
    // never asks the vault to decrypt the file's data key.
    let enc_yaml = std::fs::read_to_string(&f).unwrap();
    let field = |k: &str| {
        enc_yaml
            .lines()
            .map(|l| l.trim_start().trim_start_matches("- "))
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {enc_yaml}"))
            .trim()
            .to_string()
    };
    let version = field("version: ");
    let file_ct = kvsops::keys::azure::decode_enc(&field("enc: ")).expect("enc");
    emu.reset();
    let (code, out) = doctor(&sb, &emu, &["s.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("key {url}/{version} (s.yaml)")), "{out}");
    let decrypts: Vec<String> =
        emu.log().into_iter().filter(|l| l.op == Some(Op::Decrypt)).filter_map(|l| l.note).collect();
    assert_eq!(decrypts.len(), 1, "one probe decryption: {decrypts:?}");
    assert_ne!(decrypts[0], format!("ciphertext sha256 {}", kv_emulator::ciphertext_fingerprint(&file_ct)));

    // Without arguments: the keys of .sops.yaml's creation rules.
    sb.write(".sops.yaml", format!("creation_rules:\n  - path_regex: \\.yaml$\n    azure_keyvault: {url}\n"));
    let (code, out) = doctor(&sb, &emu, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("key {url} (creation rule 0 of ")), "{out}");
}

#[test]
fn forbidden_gives_the_role_to_grant_and_sops_is_refused_too() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let url = emu.key_url("team", "sops-key");
    emu.fail_next(403, 1, Some(Op::Decrypt));
    let (code, out) = doctor(&sb, &emu, &[&url]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(status(line(&out, "key", "get")), "ok", "{out}");
    assert_eq!(status(line(&out, "key", "encrypt")), "ok", "{out}");
    let l = line(&out, "key", "decrypt");
    assert_eq!(status(l), "FAIL", "{out}");
    assert!(l.contains("lacks the keys/decrypt permission on key sops-key") && l.contains("HTTP 403"), "{l}");
    let fix = fix_of(&out, "key", "decrypt");
    let oid = kv_emulator::state::object_id("managed-identity");
    for needle in [
        "Key Vault Crypto User",
        &format!("az role assignment create --role \"Key Vault Crypto User\" --assignee-object-id {oid} --assignee-principal-type ServicePrincipal"),
        "az keyvault show --name team",
        &format!("az keyvault set-policy --name team --object-id {oid} --key-permissions get encrypt decrypt"),
    ] {
        assert!(fix.contains(needle), "missing {needle:?} in {fix}");
    }

    // An identity denied everything: encrypt fails (decrypt cannot be probed), and sops, run
    // as the same identity, is refused as well.
    emu.deny_identity("managed-identity");
    let (code, out) = doctor(&sb, &emu, &[&url]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(status(line(&out, "key", "get")), "FAIL", "{out}");
    assert_eq!(status(line(&out, "key", "encrypt")), "FAIL", "{out}");
    assert_eq!(status(line(&out, "key", "decrypt")), "skip", "{out}");
    assert!(out.ends_with("some checks failed: 6 ok, 2 failed, 1 not checked\n"), "{out}");
    if have("sops") {
        let f = sb.write("s.yaml", "password: pw\n");
        let mut c = emu_env(sb.sops(), &emu);
        c.args(["encrypt", "-i", "--azure-kv", &url]).arg(&f);
        let o = fails(c);
        assert!(String::from_utf8_lossy(&o.stderr).contains("403"), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn a_missing_version_names_the_command_that_lists_versions() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    emu.create_key_version("team", "sops-key").unwrap();
    let url = format!("{}/0123456789abcdef0123456789abcdef", emu.key_url("team", "sops-key"));
    let (code, out) = doctor(&sb, &emu, &[&url]);
    assert_eq!(code, 1, "{out}");
    let l = line(&out, "key", "get");
    assert_eq!(status(l), "FAIL", "{out}");
    assert!(
        l.contains("version 0123456789abcdef0123456789abcdef of key sops-key was not found in vault team (HTTP 404"),
        "{l}"
    );
    assert!(
        fix_of(&out, "key", "get").contains("az keyvault key list-versions --vault-name team --name sops-key"),
        "{out}"
    );
    // The network and the credential are fine: only the key is wrong.
    assert_eq!(status(line(&out, "vault", "https")), "ok", "{out}");
    assert_eq!(status(line(&out, "Azure credential", "credential")), "ok", "{out}");
    sops_cannot_use(&sb, &emu, &url, "404");
}

#[test]
fn a_vault_that_does_not_resolve_fails_at_the_proxy_or_here() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    // Through the proxy: the proxy's DNS lookup fails (502).
    emu.make_unresolvable("nowhere");
    let (code, out) = doctor(&sb, &emu, &[&emu.key_url("nowhere", "k")]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(status(line(&out, "vault", "proxy")), "ok", "{out}");
    let l = line(&out, "vault", "tunnel");
    assert_eq!(status(l), "FAIL", "{out}");
    assert!(l.contains("could not reach nowhere.vault.azure.net (HTTP 502"), "{l}");
    assert!(fix_of(&out, "vault", "tunnel").contains("az keyvault show --name nowhere"), "{out}");
    for name in ["https", "get", "encrypt", "decrypt"] {
        let section = if name == "https" { "vault" } else { "key" };
        assert_eq!(status(line(&out, section, name)), "skip", "{out}");
    }
    sops_cannot_use(&sb, &emu, &emu.key_url("nowhere", "k"), "Bad Gateway");
    // Direct (NO_PROXY lists the host): this machine's resolver fails (.invalid never resolves).
    let mut c = emu_env(sb.kvsops(), &emu);
    c.env("NO_PROXY", "127.0.0.1,.vault.invalid").args(["doctor", "https://nowhere.vault.invalid/keys/k"]);
    let (code, out) = finish(c.output().unwrap(), &emu);
    assert_eq!(code, 1, "{out}");
    let l = line(&out, "vault", "dns");
    assert_eq!(status(l), "FAIL", "{out}");
    // "does not resolve here", or (a resolver that never answers) "took longer than".
    assert!(
        l.contains("nowhere.vault.invalid")
            && l.contains("route: direct, HTTPS_PROXY is set, but NO_PROXY lists this host"),
        "{l}"
    );
    assert!(
        fix_of(&out, "vault", "dns").contains("az keyvault show --name nowhere") || l.contains("took longer"),
        "{out}"
    );
}

#[test]
fn throttling_is_retried_and_reported_when_it_outlasts_the_budget() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let url = emu.key_url("team", "sops-key");
    // Once: retried, and the check passes with a note.
    emu.fail_next(429, 1, Some(Op::Encrypt));
    let (code, out) = doctor(&sb, &emu, &[&url]);
    assert_eq!(code, 0, "{out}");
    let l = line(&out, "key", "encrypt");
    assert!(status(l) == "ok" && l.contains("after 2 attempts; retried: HTTP 429"), "{out}");
    // Longer than the budget (3 s): the check fails with what to do.
    emu.fail_next(429, 10_000, None);
    let (code, out) = doctor(&sb, &emu, &[&url]);
    emu.reset();
    assert_eq!(code, 1, "{out}");
    let l = line(&out, "key", "get");
    assert_eq!(status(l), "FAIL", "{out}");
    assert!(l.contains("kept failing after") && l.contains("HTTP 429"), "{l}");
    let fix = fix_of(&out, "key", "get");
    assert!(fix.contains("throttling") && fix.contains("KVSOPS_AZURE_TIMEOUT"), "{fix}");
}

#[test]
fn no_credential_and_a_foreign_tenant_are_reported_with_their_fixes() {
    let emu = Emulator::start();
    let sb = Sandbox::new();
    let url = emu.key_url("team", "sops-key");
    // The Azure CLI alone, and it is not logged in here: no token.
    let mut c = emu_env(sb.kvsops(), &emu);
    c.env("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential").args(["doctor", &url]);
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(status(line(&stdout, "Azure credential", "credential")), "FAIL", "{stdout}");
    assert!(fix_of(&stdout, "Azure credential", "credential").contains("az login"), "{stdout}");
    assert_eq!(status(line(&stdout, "vault", "https")), "ok", "the network is checked all the same:\n{stdout}");
    assert_eq!(status(line(&stdout, "key", "encrypt")), "skip", "{stdout}");

    // A service principal of another tenant than the vault's.
    let mut c = emu_env(sb.kvsops(), &emu);
    c.env("AZURE_TENANT_ID", "0ther000-0000-4000-8000-000000000000")
        .env("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
        .env("AZURE_CLIENT_SECRET", "s3cret")
        .args(["doctor", &url]);
    let (code, out) = finish(c.output().unwrap(), &emu);
    assert_eq!(code, 1, "{out}");
    assert!(line(&out, "Azure credential", "credential").contains("EnvironmentCredential"), "{out}");
    assert!(
        line(&out, "Azure credential", "identity").contains("app id 11111111-2222-3333-4444-555555555555"),
        "{out}"
    );
    let l = line(&out, "vault", "tenant");
    assert_eq!(status(l), "FAIL", "{out}");
    assert!(l.contains(&format!("the vault belongs to tenant {}", emu.tenant())), "{l}");
    assert!(fix_of(&out, "vault", "tenant").contains(&format!("az login --tenant {}", emu.tenant())), "{out}");
    assert!(!out.contains("s3cret"));
}

#[test]
fn nothing_to_check_is_an_error() {
    let sb = Sandbox::new();
    let mut c = sb.kvsops();
    c.env_remove("SOPS_AZURE_KEYVAULT_URLS").arg("doctor");
    let o = fails(c);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no .sops.yaml was found"), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no Azure Key Vault key to check"), "{o:?}");
}
