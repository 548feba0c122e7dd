//! The Azure credentials sops 3.11 (azidentity 1.13) has and kvsops lacked (issue 15), against the
//! Key Vault emulator and judged by the real sops:
//! - a service principal with a client certificate (PEM, PKCS#12 with a password): the emulator's
//!   token endpoint verifies the client assertion's signature against the registered certificate,
//!   and refuses one signed by another key; an unusable certificate is an error naming the
//!   variable, not a silent fallthrough to `az`;
//! - the Azure CLI: the vault's tenant goes to `az --tenant` (a fake `az` on PATH records its
//!   arguments, and sops's must be the same); CLIs older than 2.54 (`expiresOn` only) work;
//! - Azure PowerShell (`pwsh` with `Get-AzAccessToken`), by name and in `dev`;
//! - managed identity on Cloud Shell and Azure Machine Learning;
//! - `AZURE_REGIONAL_AUTHORITY_NAME` (the regional Entra ID endpoint);
//! - a service principal (`AZURE_TENANT_ID`) and a vault in another tenant: refused unless
//!   `AZURE_ADDITIONALLY_ALLOWED_TENANTS` allows it.
//!
//! Each time, what kvsops encrypted the real sops decrypts with the same credential.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::azure::{emu_env, handover, Tool};
use common::*;
use kv_emulator::{CredentialKind, Emulator};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};

const SECRET: &str = "password: pw-cred-1\n";
const APP: &str = "0c0c0c0c-1111-4222-8333-c3c3c3c3c3c3";

/// A self-signed certificate and its RSA key: (certificate DER, certificate PEM, PKCS#8 key DER and PEM).
fn certificate(cn: &str) -> (Vec<u8>, String, Vec<u8>, String) {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("rsa key");
    let der = key.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec();
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pkcs8 pem").to_string();
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).expect("rcgen key");
    let cert =
        rcgen::CertificateParams::new(vec![cn.to_string()]).expect("params").self_signed(&kp).expect("self-signed");
    (cert.der().to_vec(), cert.pem(), der, pem)
}

/// A PKCS#12 file with 3DES and a SHA-1 MAC (what Go's pkcs12 package, and so sops, can open).
fn pkcs12(cert_der: &[u8], key_der: &[u8], password: &str) -> Vec<u8> {
    let cert = p12_keystore::Certificate::from_der(cert_der).expect("certificate");
    let chain = p12_keystore::PrivateKeyChain::new(key_der, [1u8, 2, 3, 4], [cert]);
    let mut ks = p12_keystore::KeyStore::new();
    ks.add_entry("kvsops", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    ks.writer(password)
        .encryption_algorithm(p12_keystore::EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha1)
        .write()
        .expect("write pkcs12")
}

fn cert_env(c: &mut Command, emu: &Emulator, path: &Path, password: Option<&str>) {
    c.env("AZURE_TENANT_ID", emu.tenant()).env("AZURE_CLIENT_ID", APP).env("AZURE_CLIENT_CERTIFICATE_PATH", path);
    if let Some(p) = password {
        c.env("AZURE_CLIENT_CERTIFICATE_PASSWORD", p);
    }
}

/// kvsops encrypts a fresh file under `set`'s credential, sops decrypts it; returns the file.
fn round_trip(sb: &Sandbox, emu: &Emulator, name: &str, set: &dyn Fn(&mut Command)) -> PathBuf {
    handover(sb, emu, (Tool::Kvsops, Tool::Sops), &emu.key_url("team", "cred"), (name, SECRET), set)
}

#[test]
fn client_certificates_pem_and_pkcs12_verified_by_the_emulator_and_sops() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "cred").unwrap();
    let sb = Sandbox::new();
    let (cert_der, cert_pem, key_der, key_pem) = certificate("kvsops-sp");
    emu.register_client_certificate(APP, &cert_der);
    let pem = sb.write("sp.pem", format!("{cert_pem}{key_pem}"));
    let pfx = sb.write("sp.pfx", pkcs12(&cert_der, &key_der, "pfx pass"));

    // PEM: kvsops encrypts, sops decrypts, both with the certificate.
    let before = emu.tokens().len();
    let f = round_trip(&sb, &emu, "pem.yaml", &|c| cert_env(c, &emu, &pem, None));
    let tokens = emu.tokens();
    assert!(tokens.len() >= before + 2);
    let kvsops_token = &tokens[before];
    assert_eq!((kvsops_token.identity.as_str(), kvsops_token.credential), (APP, CredentialKind::ClientCertificate));
    assert_eq!(kvsops_token.tenant.as_deref(), Some(emu.tenant()));
    // And kvsops decrypts with it too.
    let mut c = emu_env(sb.kvsops(), &emu);
    cert_env(&mut c, &emu, &pem, None);
    c.arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);

    // PKCS#12 with a password, and the chain sent along (subject name / issuer authentication).
    round_trip(&sb, &emu, "pfx.yaml", &|c| {
        cert_env(c, &emu, &pfx, Some("pfx pass"));
        c.env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true");
    });
    assert_eq!(emu.tokens().last().unwrap().credential, CredentialKind::ClientCertificate);

    // sops encrypts with the certificate, kvsops decrypts with the PKCS#12 file.
    let g = sb.write("by-sops.yaml", SECRET);
    let mut c = emu_env(sb.sops(), &emu);
    cert_env(&mut c, &emu, &pem, None);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "cred")]).arg(&g);
    ok(c);
    let mut c = emu_env(sb.kvsops(), &emu);
    cert_env(&mut c, &emu, &pfx, Some("pfx pass"));
    c.arg("decrypt").arg(&g);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);

    // PKCS#12 protected with AES-256 (PBES2, OpenSSL 3's default): kvsops opens it too.
    let aes = {
        let cert = p12_keystore::Certificate::from_der(&cert_der).expect("certificate");
        let chain = p12_keystore::PrivateKeyChain::new(&key_der, [9u8; 4], [cert]);
        let mut ks = p12_keystore::KeyStore::new();
        ks.add_entry("kvsops", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
        let bytes = ks
            .writer("aes pass")
            .encryption_algorithm(p12_keystore::EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha256)
            .write()
            .expect("write pkcs12");
        sb.write("aes.pfx", bytes)
    };
    let mut c = emu_env(sb.kvsops(), &emu);
    cert_env(&mut c, &emu, &aes, Some("aes pass"));
    c.arg("decrypt").arg(&g);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);

    // A certificate the application does not have: the emulator refuses the assertion, for
    // kvsops as for sops.
    let (_, other_pem, _, other_key) = certificate("intruder");
    let intruder = sb.write("intruder.pem", format!("{other_pem}{other_key}"));
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = emu_env(tool, &emu);
        cert_env(&mut c, &emu, &intruder, None);
        c.arg("decrypt").arg(&f);
        let out = fails(c);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("AADSTS700027"), "{err}");
    }
    // The right certificate with another key is refused too (the signature is checked, not only
    // the thumbprint).
    let forged = sb.write("forged.pem", format!("{cert_pem}{other_key}"));
    let mut c = emu_env(sb.kvsops(), &emu);
    cert_env(&mut c, &emu, &forged, None);
    c.arg("decrypt").arg(&f);
    let err = String::from_utf8_lossy(&fails(c).stderr).to_string();
    assert!(err.contains("no certificate matches the private key"), "{err}");
}

/// A directory with fake `az` and `pwsh` programs that append their arguments to `<dir>/<tool>.log`
/// and print a token when the arguments name `FAKE_TENANT` (as a tenant-bound login would).
fn fake_tools(sb: &Sandbox) -> PathBuf {
    let bin = sb.path().join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let az = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_LOG_DIR/az.log"
case " $* " in
  *" --tenant $FAKE_TENANT "*) ;;
  *) echo "ERROR: AADSTS700016: the signed-in account's tenant has no access to this resource (use --tenant)" >&2; exit 1 ;;
esac
if [ -n "$FAKE_OLD_CLI" ]; then
  printf '{"accessToken":"%s","expiresOn":"%s","subscription":"s","tenant":"%s","tokenType":"Bearer"}\n' "$FAKE_TOKEN" "$(date -d '+1 hour' '+%Y-%m-%d %H:%M:%S.000000')" "$FAKE_TENANT"
else
  printf '{"accessToken":"%s","expiresOn":"%s","expires_on":%s,"subscription":"s","tenant":"%s","tokenType":"Bearer"}\n' "$FAKE_TOKEN" "$(date -d '+1 hour' '+%Y-%m-%d %H:%M:%S.000000')" "$(date -d '+1 hour' +%s)" "$FAKE_TENANT"
fi
"#;
    let pwsh = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_LOG_DIR/pwsh.log"
printf '{\n  "Token": "%s",\n  "ExpiresOn": %s\n}\n' "$FAKE_TOKEN" "$(date -d '+1 hour' +%s)"
"#;
    for (name, script) in [("az", az), ("pwsh", pwsh)] {
        let p = bin.join(name);
        std::fs::write(&p, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

fn tool_env(c: &mut Command, sb: &Sandbox, bin: &Path, emu: &Emulator, token: &str) {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    c.env("PATH", path).env("FAKE_LOG_DIR", sb.path()).env("FAKE_TENANT", emu.tenant()).env("FAKE_TOKEN", token);
}

fn log_lines(sb: &Sandbox, tool: &str) -> Vec<String> {
    std::fs::read_to_string(sb.path().join(format!("{tool}.log")))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn clear_logs(sb: &Sandbox) {
    for t in ["az", "pwsh"] {
        let _ = std::fs::remove_file(sb.path().join(format!("{t}.log")));
    }
}

#[test]
fn azure_cli_gets_the_vault_tenant_like_sops_and_old_clis_work() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "cred").unwrap();
    let sb = Sandbox::new();
    let bin = fake_tools(&sb);
    let token = emu.issue_token("az-user", "https://vault.azure.net", Some(emu.tenant()));
    let want = format!("account get-access-token -o json --resource https://vault.azure.net --tenant {}", emu.tenant());

    // `dev` (the developer tools): the CLI answers, asked for the vault's tenant; sops runs it
    // with the same arguments.
    let f = round_trip(&sb, &emu, "cli.yaml", &|c| {
        tool_env(c, &sb, &bin, &emu, &token);
        c.env("AZURE_TOKEN_CREDENTIALS", "dev");
    });
    assert_eq!(log_lines(&sb, "az"), vec![want.clone(), want.clone()], "kvsops and sops ask az the same");
    assert_eq!(emu.tokens().iter().filter(|t| t.identity == "az-user").count(), 1);
    clear_logs(&sb);
    // The whole default chain (kvsops only: where IMDS answers with an error, as behind some
    // proxies, Go's chain stops at the managed identity): the CLI answers, with the tenant.
    let mut c = emu_env(sb.kvsops(), &emu);
    tool_env(&mut c, &sb, &bin, &emu, &token);
    c.arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
    assert_eq!(log_lines(&sb, "az"), vec![want.clone()]);
    clear_logs(&sb);

    // A CLI older than 2.54 prints only expiresOn (local time): kvsops reads it, as sops does.
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = emu_env(tool, &emu);
        tool_env(&mut c, &sb, &bin, &emu, &token);
        c.env("FAKE_OLD_CLI", "1").env("TZ", "America/New_York").env("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential");
        c.arg("decrypt").arg(&f);
        assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
    }

    // AZURE_TENANT_ID is the service principal's: the developer tools still ask for the vault's
    // tenant (azidentity's default chain gives them no tenant of their own).
    clear_logs(&sb);
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = emu_env(tool, &emu);
        tool_env(&mut c, &sb, &bin, &emu, &token);
        c.env("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential").env("AZURE_TENANT_ID", "other-tenant");
        c.arg("decrypt").arg(&f);
        assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
    }
    assert_eq!(log_lines(&sb, "az"), vec![want.clone(), want.clone()]);

    // Not logged in to the vault's tenant (the fake refuses other tenants): kvsops lists why.
    let mut c = emu_env(sb.kvsops(), &emu);
    tool_env(&mut c, &sb, &bin, &emu, &token);
    c.env("FAKE_TENANT", "someone-else").env("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential");
    c.arg("decrypt").arg(&f);
    let err = String::from_utf8_lossy(&fails(c).stderr).to_string();
    assert!(err.contains("AzureCLICredential") && err.contains("AADSTS700016"), "{err}");
}

/// The script of a `pwsh ... -EncodedCommand <base64 UTF-16LE>` command line.
fn encoded_script(args: &str) -> String {
    let b64 = args.rsplit(' ').next().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let units: Vec<u16> = bytes.chunks(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
    String::from_utf16(&units).expect("utf-16")
}

#[test]
fn azure_powershell_by_name_and_in_dev() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "cred").unwrap();
    let sb = Sandbox::new();
    let bin = fake_tools(&sb);
    std::fs::remove_file(bin.join("az")).unwrap(); // only PowerShell is logged in
    let token = emu.issue_token("pwsh-user", "https://vault.azure.net", Some(emu.tenant()));
    let f = round_trip(&sb, &emu, "pwsh.yaml", &|c| {
        tool_env(c, &sb, &bin, &emu, &token);
        c.env("AZURE_TOKEN_CREDENTIALS", "AzurePowerShellCredential");
    });
    let lines = log_lines(&sb, "pwsh");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let options = |l: &str| l.split("-EncodedCommand").next().unwrap_or_default().to_string();
    assert_eq!(options(&lines[0]), options(&lines[1]), "kvsops and sops run pwsh with the same options");
    for l in &lines {
        assert!(l.starts_with("-NoProfile -NonInteractive "), "{l}");
        assert!(l.contains("-EncodedCommand "), "{l}");
        let script = encoded_script(l);
        assert!(script.contains("Get-AzAccessToken @params"), "{script}");
        assert!(script.contains("ResourceUrl   = 'https://vault.azure.net'"), "{script}");
        assert!(script.contains(&format!("$params['TenantId'] = '{}'", emu.tenant())), "{script}");
    }
    // `dev`: the CLI and azd are not installed here, PowerShell answers (for sops too).
    clear_logs(&sb);
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = emu_env(tool, &emu);
        tool_env(&mut c, &sb, &bin, &emu, &token);
        c.env("AZURE_TOKEN_CREDENTIALS", "dev").arg("decrypt").arg(&f);
        assert_eq!(String::from_utf8(ok(c)).unwrap(), SECRET);
    }
    assert_eq!(log_lines(&sb, "pwsh").len(), 2);
}

#[test]
fn an_unusable_certificate_is_an_error_not_a_fallthrough_to_az() {
    let emu = Emulator::start();
    emu.create_key_version("team", "cred").unwrap();
    let sb = Sandbox::new();
    let bin = fake_tools(&sb);
    let token = emu.issue_token("az-user", "https://vault.azure.net", Some(emu.tenant()));
    let (cert_der, _, key_der, _) = certificate("kvsops-sp");
    emu.register_client_certificate(APP, &cert_der);
    let pfx = sb.write("sp.pfx", pkcs12(&cert_der, &key_der, "right"));
    let f = sb.write("s.yaml", SECRET);
    let mut c = emu_env(sb.kvsops(), &emu);
    tool_env(&mut c, &sb, &bin, &emu, &token);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "cred")]).arg(&f);
    ok(c);
    clear_logs(&sb);
    for (path, password, needle) in [
        (sb.path().join("missing.pem"), None, "cannot read AZURE_CLIENT_CERTIFICATE_PATH"),
        (pfx.clone(), Some("wrong"), "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
        (
            sb.write("garbage.pem", "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"),
            None,
            "AZURE_CLIENT_CERTIFICATE_PATH",
        ),
    ] {
        let mut c = emu_env(sb.kvsops(), &emu);
        tool_env(&mut c, &sb, &bin, &emu, &token);
        cert_env(&mut c, &emu, &path, password);
        c.arg("decrypt").arg(&f);
        let out = fails(c);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(128), "{err}");
        assert!(err.contains(needle) && err.contains("EnvironmentCredential"), "{needle}: {err}");
        assert!(!err.contains("right"), "no password in messages: {err}");
    }
    assert!(log_lines(&sb, "az").is_empty(), "az was never run");
}

#[test]
fn a_service_principal_of_another_tenant_needs_additionally_allowed_tenants() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "cred").unwrap();
    let sb = Sandbox::new();
    let sp = |c: &mut Command| {
        c.env("AZURE_TENANT_ID", "11111111-0000-4000-8000-000000000000")
            .env("AZURE_CLIENT_ID", APP)
            .env("AZURE_CLIENT_SECRET", "s3cret");
    };
    let f = sb.write("s.yaml", SECRET);
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = emu_env(tool, &emu);
        sp(&mut c);
        c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "cred")]).arg(&f);
        let out = fails(c);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), SECRET);
        let _ = out;
    }
    let mut c = emu_env(sb.kvsops(), &emu);
    sp(&mut c);
    c.args(["encrypt", "-i", "--azure-kv", &emu.key_url("team", "cred")]).arg(&f);
    let err = String::from_utf8_lossy(&fails(c).stderr).to_string();
    assert!(err.contains("AZURE_ADDITIONALLY_ALLOWED_TENANTS") && err.contains(emu.tenant()), "{err}");
    round_trip(&sb, &emu, "allowed.yaml", &|c| {
        sp(c);
        c.env("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "*");
    });
    let t = emu.tokens();
    assert!(t.iter().all(|t| t.tenant.as_deref() == Some(emu.tenant())), "tokens come from the vault's tenant");
}

#[test]
fn a_regional_authority_is_used_like_sops_does() {
    if !have("sops") {
        return;
    }
    let region_host = "westeurope.login.microsoft.com";
    let config = kv_emulator::Config { authority_hosts: vec![region_host.into()], ..Default::default() };
    let emu = Emulator::start_with(config).unwrap();
    emu.create_key_version("team", "cred").unwrap();
    let sb = Sandbox::new();
    let (cert_der, cert_pem, _, key_pem) = certificate("kvsops-regional");
    emu.register_client_certificate(APP, &cert_der);
    let pem = sb.write("sp.pem", format!("{cert_pem}{key_pem}"));
    // A secret, and a certificate (whose assertion's audience is the regional endpoint).
    round_trip(&sb, &emu, "secret.yaml", &|c| {
        c.env("AZURE_TENANT_ID", emu.tenant()).env("AZURE_CLIENT_ID", APP).env("AZURE_CLIENT_SECRET", "s3cret");
        c.env("AZURE_REGIONAL_AUTHORITY_NAME", "westeurope");
    });
    round_trip(&sb, &emu, "cert.yaml", &|c| {
        cert_env(c, &emu, &pem, None);
        c.env("AZURE_REGIONAL_AUTHORITY_NAME", "westeurope");
    });
    let token_hosts: Vec<String> = emu
        .log()
        .into_iter()
        .filter(|l| l.op == Some(kv_emulator::Op::Token) && l.status == 200)
        .map(|l| l.host)
        .collect();
    assert_eq!(token_hosts.len(), 4, "{token_hosts:?}");
    assert!(token_hosts.iter().all(|h| h == region_host), "{token_hosts:?}");
}

#[test]
fn managed_identity_on_cloud_shell_and_azure_ml() {
    if !have("sops") {
        return;
    }
    let emu = Emulator::start();
    emu.create_key_version("team", "cred").unwrap();
    let sb = Sandbox::new();
    let base = emu.admin_url();
    let secret = emu.env_var("IDENTITY_HEADER").unwrap().to_string();
    round_trip(&sb, &emu, "cloudshell.yaml", &|c| {
        c.env("MSI_ENDPOINT", format!("{base}/cloudshell/token"));
    });
    let issued: Vec<_> = emu.tokens().into_iter().map(|t| (t.identity, t.credential)).collect();
    assert_eq!(issued, vec![("managed-identity".to_string(), CredentialKind::ManagedIdentity); 2], "kvsops and sops");
    let before = emu.tokens().len();
    round_trip(&sb, &emu, "azureml.yaml", &|c| {
        c.env("MSI_ENDPOINT", format!("{base}/azureml/token"))
            .env("MSI_SECRET", &secret)
            .env("DEFAULT_IDENTITY_CLIENT_ID", "ml-compute");
    });
    let issued: Vec<_> = emu.tokens().into_iter().skip(before).map(|t| t.identity).collect();
    assert_eq!(issued, vec!["managed-identity:ml-compute".to_string(); 2], "kvsops and sops");
    // A wrong secret: refused, and the reason is shown.
    let f = sb.path().join("azureml.yaml");
    let mut c = emu_env(sb.kvsops(), &emu);
    c.env("MSI_ENDPOINT", format!("{base}/azureml/token"))
        .env("MSI_SECRET", "not-the-msi-s3cret")
        .env("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential");
    c.arg("decrypt").arg(&f);
    let err = String::from_utf8_lossy(&fails(c).stderr).to_string();
    assert!(err.contains("HTTP 401") && !err.contains("not-the-msi-s3cret"), "{err}");
}
