//! The rest of issue 15's Azure credentials, against the Key Vault emulator and judged by the
//! real sops 3.11 (azidentity 1.13):
//! - the Environment credential's user name and password (`AZURE_USERNAME` / `AZURE_PASSWORD`):
//!   the emulator's token endpoint takes the password grant only with the registered user's
//!   password; a wrong one is an error naming the credential, with no fallthrough to the next
//!   credential, and the password is never printed;
//! - managed identity on Azure Arc (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`): the emulator answers
//!   the first request with a 401 naming a key file it wrote to `/var/opt/azcmagent/tokens`, and
//!   issues the token only for that file's contents (needs root to write there);
//! - managed identity on Service Fabric (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` +
//!   `IDENTITY_SERVER_THUMBPRINT`): the `Secret` header, refused when wrong.
//!
//! Each time, what kvsops encrypts the real sops decrypts with the same variables, and the reverse.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::azure::{emu_env, handover, Tool};
use common::*;
use kv_emulator::{CredentialKind, Emulator};

const SECRET: &str = "password: pw-mi-1\n";
const APP: &str = "0d0d0d0d-1111-4222-8333-d3d3d3d3d3d3";
const USER: &str = "alice@kv-emulator.test";
const PASSWORD: &str = "c0rrect h0rse&battery";

fn user_env(c: &mut Command, emu: &Emulator, password: &str) {
    c.env("AZURE_TENANT_ID", emu.tenant())
        .env("AZURE_CLIENT_ID", APP)
        .env("AZURE_USERNAME", USER)
        .env("AZURE_PASSWORD", password);
}

/// kvsops encrypts a fresh file with `set`'s variables, sops decrypts it; then sops encrypts one
/// and kvsops decrypts it. Returns the files.
fn both_ways(sb: &Sandbox, emu: &Emulator, name: &str, set: &dyn Fn(&mut Command)) -> (PathBuf, PathBuf) {
    let url = emu.key_url("team", "mi");
    let f = handover(sb, emu, (Tool::Kvsops, Tool::Sops), &url, (&format!("kvsops-{name}"), SECRET), set);
    let g = handover(sb, emu, (Tool::Sops, Tool::Kvsops), &url, (&format!("sops-{name}"), SECRET), set);
    (f, g)
}

#[test]
fn username_and_password_with_sops_and_a_wrong_password_refused() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "mi").unwrap();
    emu.register_user(USER, PASSWORD);
    let sb = Sandbox::new();

    // kvsops alone: one token per process, the user's, for the vault's tenant.
    let lone = sb.write("lone.yaml", SECRET);
    let mut c = emu_env(sb.kvsops(), &emu);
    user_env(&mut c, &emu, PASSWORD);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "mi")]).arg(&lone);
    ok(c);
    assert_eq!(emu.tokens().len(), 1);
    let before = emu.tokens().len();
    let (f, _) = both_ways(&sb, &emu, "user.yaml", &|c| user_env(c, &emu, PASSWORD));
    let issued: Vec<_> = emu.tokens().into_iter().skip(before).map(|t| (t.identity, t.credential, t.tenant)).collect();
    assert!(issued.len() >= 4, "a token for each process: {issued:?}");
    for t in &issued {
        assert_eq!(t, &(USER.to_string(), CredentialKind::UsernamePassword, Some(emu.tenant().to_string())));
    }

    // A client secret, when set, wins over the user (azidentity's order): the token is the app's.
    let before = emu.tokens().len();
    let mut c = emu_env(sb.kvsops(), &emu);
    user_env(&mut c, &emu, "not the password");
    c.env("AZURE_CLIENT_SECRET", "app-secret").arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
    let kinds: Vec<_> = emu.tokens().into_iter().skip(before).map(|t| t.credential).collect();
    assert_eq!(kinds, vec![CredentialKind::ClientSecret]);

    // A wrong password: refused by the token endpoint, reported as the Environment credential's
    // failure, the chain stops there (no Azure CLI attempt), and the password is never printed.
    let wrong = "wr0ng-pa55word-xyz";
    let issued_before = emu.tokens().len();
    let mut c = emu_env(sb.kvsops(), &emu);
    user_env(&mut c, &emu, wrong);
    c.arg("decrypt").arg(&f);
    let out = fails(c);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("EnvironmentCredential") && err.contains("UsernamePasswordCredential"), "{err}");
    assert!(err.contains("invalid_grant") && err.contains(USER), "{err}");
    assert!(!err.contains("AzureCLICredential:"), "no fallthrough to az: {err}");
    assert!(!err.contains(wrong) && !String::from_utf8_lossy(&out.stdout).contains(wrong), "{err}");
    // With the verbose log too.
    let mut c = emu_env(sb.kvsops(), &emu);
    user_env(&mut c, &emu, wrong);
    c.args(["--verbose", "decrypt"]).arg(&f);
    let out = fails(c);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("UsernamePasswordCredential") && !err.contains(wrong), "{err}");
    // The real sops refuses it as well.
    let mut c = emu_env(sb.sops(), &emu);
    user_env(&mut c, &emu, wrong);
    c.arg("decrypt").arg(&f);
    fails(c);
    assert_eq!(emu.tokens().len(), issued_before, "no token for a wrong password");
}

#[cfg(unix)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(unix)]
#[test]
fn managed_identity_on_azure_arc_with_sops() {
    if !have("sops") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: the Azure Arc test writes key files to /var/opt/azcmagent/tokens, which needs root");
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "mi").unwrap();
    let sb = Sandbox::new();
    let arc = emu.arc_endpoint();
    let set = |c: &mut Command| {
        c.env("IDENTITY_ENDPOINT", &arc).env("IMDS_ENDPOINT", "http://127.0.0.1:1/").env_remove("AZURE_CLIENT_ID");
    };
    let before = emu.tokens().len();
    both_ways(&sb, &emu, "arc.yaml", &set);
    let issued: Vec<_> = emu.tokens().into_iter().skip(before).map(|t| (t.identity, t.credential)).collect();
    assert_eq!(
        issued,
        vec![("managed-identity:arc".to_string(), CredentialKind::ManagedIdentity); 4],
        "kvsops and sops"
    );
    // Each token needed the challenge first: one 401 per process before its token.
    let arc_statuses: Vec<u16> =
        emu.log().into_iter().filter(|l| l.path.starts_with("/arc/token")).map(|l| l.status).collect();
    assert_eq!(arc_statuses, vec![401, 200, 401, 200, 401, 200, 401, 200], "{arc_statuses:?}");

    // A user-assigned identity is not possible on Arc: pinned to managed identity, that is the error.
    let f = sb.path().join("kvsops-arc.yaml");
    let mut c = emu_env(sb.kvsops(), &emu);
    set(&mut c);
    c.env("AZURE_CLIENT_ID", APP).env("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential").arg("decrypt").arg(&f);
    let err = String::from_utf8_lossy(&fails(c).stderr).to_string();
    assert!(err.contains("Azure Arc") && err.contains("user-assigned"), "{err}");
}

#[test]
fn managed_identity_on_service_fabric_with_sops() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "mi").unwrap();
    let sb = Sandbox::new();
    let endpoint = format!("{}/servicefabric/token", emu.admin_url());
    let secret = emu.env_var("IDENTITY_HEADER").unwrap().to_string();
    let set = |c: &mut Command| {
        c.env("IDENTITY_ENDPOINT", &endpoint)
            .env("IDENTITY_HEADER", &secret)
            .env("IDENTITY_SERVER_THUMBPRINT", "0123456789ABCDEF0123456789ABCDEF01234567")
            .env_remove("AZURE_CLIENT_ID");
    };
    let before = emu.tokens().len();
    let (f, _) = both_ways(&sb, &emu, "sf.yaml", &set);
    let issued: Vec<_> = emu.tokens().into_iter().skip(before).map(|t| (t.identity, t.credential)).collect();
    assert_eq!(
        issued,
        vec![("managed-identity:servicefabric".to_string(), CredentialKind::ManagedIdentity); 4],
        "kvsops and sops"
    );

    // A wrong secret: refused, the reason shown, the secret not.
    let mut c = emu_env(sb.kvsops(), &emu);
    set(&mut c);
    c.env("IDENTITY_HEADER", "not-the-sf-s3cret")
        .env("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
        .arg("decrypt")
        .arg(&f);
    let err = String::from_utf8_lossy(&fails(c).stderr).to_string();
    assert!(err.contains("HTTP 401") && err.contains("ServiceFabric") && !err.contains("not-the-sf-s3cret"), "{err}");
}

/// MSAL for Go has regions for confidential clients only: sops sends the password grant to the
/// global authority even with `AZURE_REGIONAL_AUTHORITY_NAME`, and kvsops does the same.
#[test]
fn the_password_grant_ignores_a_regional_authority_like_sops() {
    if !have("sops") {
        return;
    }
    let region_host = "westeurope.login.microsoft.com";
    let config = kv_emulator::Config { authority_hosts: vec![region_host.into()], ..Default::default() };
    let emu = Emulator::start_with(config).unwrap();
    emu.create_key_version("team", "mi").unwrap();
    emu.register_user(USER, PASSWORD);
    let sb = Sandbox::new();
    both_ways(&sb, &emu, "regional.yaml", &|c| {
        user_env(c, &emu, PASSWORD);
        c.env("AZURE_REGIONAL_AUTHORITY_NAME", "westeurope");
    });
    let token_hosts: Vec<String> = emu
        .log()
        .into_iter()
        .filter(|l| l.op == Some(kv_emulator::Op::Token) && l.status == 200)
        .map(|l| l.host)
        .collect();
    assert!(token_hosts.len() >= 4, "{token_hosts:?}");
    assert!(token_hosts.iter().all(|h| h == "login.microsoftonline.com"), "{token_hosts:?}");
}

/// A user configured for another tenant than the vault's: refused by both tools unless
/// `AZURE_ADDITIONALLY_ALLOWED_TENANTS` allows the vault's tenant (the secret's rule).
#[test]
fn a_user_of_another_tenant_needs_additionally_allowed_tenants() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "mi").unwrap();
    emu.register_user(USER, PASSWORD);
    let sb = Sandbox::new();
    let other = |c: &mut Command| {
        user_env(c, &emu, PASSWORD);
        c.env("AZURE_TENANT_ID", "22222222-0000-4000-8000-000000000000");
    };
    let f = sb.write("t.yaml", SECRET);
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = emu_env(tool, &emu);
        other(&mut c);
        c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "mi")]).arg(&f);
        fails(c);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), SECRET);
    }
    let mut c = emu_env(sb.kvsops(), &emu);
    other(&mut c);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "mi")]).arg(&f);
    let err = String::from_utf8_lossy(&fails(c).stderr).to_string();
    assert!(err.contains("AZURE_ADDITIONALLY_ALLOWED_TENANTS") && !err.contains(PASSWORD), "{err}");
    assert!(emu.tokens().is_empty());
    both_ways(&sb, &emu, "allowed.yaml", &|c| {
        other(c);
        c.env("AZURE_ADDITIONALLY_ALLOWED_TENANTS", emu.tenant());
    });
    let t = emu.tokens();
    assert!(t.len() >= 4 && t.iter().all(|t| t.tenant.as_deref() == Some(emu.tenant())), "{t:?}");
}
