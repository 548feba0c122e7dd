//! SSH keys and age plugins as age master keys (sops 3.10+), against the real sops 3.11 both ways:
//! `ssh-ed25519`/`ssh-rsa` public keys as recipients (in `--age` and `.sops.yaml`) with identities
//! from `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`; `age1kvtest1…`
//! recipients and `AGE-PLUGIN-KVTEST-1…` identities through the test plugin
//! (crates/age-plugin-kvtest) on PATH.
//!
//! Keys are made by `ssh-keygen` and the plugin in each test; HOME is the test's sandbox. Without
//! `sops` or `ssh-keygen` a test is skipped, or fails when KVSOPS_REQUIRE_INTEROP is set.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use kvsops::keys::age::{AgeEnv, AgeSource};
use kvsops::keys::{KeySource, KeySpec, MasterKeyEntry};

const PLAIN: &str = "stringData:\n    password: hunter2-very-secret\n";

/// The directory of the test plugin binary `age-plugin-kvtest`, built on first use when the test
/// run did not build it (`cargo test --test integration` builds only kvsops's targets).
fn plugin_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let kvsops = PathBuf::from(env!("CARGO_BIN_EXE_kvsops"));
        let dir = kvsops.parent().expect("binary directory").to_path_buf();
        if !dir.join("age-plugin-kvtest").is_file() {
            let target_dir = dir.parent().expect("target directory");
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "--quiet", "-p", "age-plugin-kvtest", "--target-dir"]).arg(target_dir);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.current_dir(root()).status().expect("run cargo build");
            assert!(status.success(), "could not build age-plugin-kvtest");
        }
        assert!(dir.join("age-plugin-kvtest").is_file(), "age-plugin-kvtest not in {}", dir.display());
        dir
    })
    .clone()
}

/// PATH with the test plugin first.
fn path_with_plugin() -> String {
    format!("{}:{}", plugin_dir().display(), std::env::var("PATH").unwrap_or_default())
}

/// True when the real sops and ssh-keygen are available (else skipped, or a failure in CI).
fn tools() -> bool {
    have("sops") && have("ssh-keygen")
}

/// Makes an SSH key pair at `path` (and `path.pub`) and returns the public key line, comment included.
fn ssh_keygen(path: &Path, kind: &str, passphrase: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-t", kind, "-N", passphrase, "-C", "tester@kvsops", "-f"]).arg(path);
    if kind == "rsa" {
        c.args(["-b", "3072"]);
    }
    ok(c);
    std::fs::read_to_string(format!("{}.pub", path.display())).unwrap().trim().to_string()
}

/// Generates a plugin identity file in the sandbox; returns (its path, the recipient).
fn plugin_key(sb: &Sandbox, name: &str) -> (PathBuf, String) {
    let mut generate = Command::new(plugin_dir().join("age-plugin-kvtest"));
    generate.arg("--generate");
    let out = ok(generate);
    let text = String::from_utf8(out).unwrap();
    let recipient = text.lines().find_map(|l| l.strip_prefix("# recipient: ")).expect("recipient line").to_string();
    assert!(recipient.starts_with("age1kvtest1"), "{recipient}");
    assert!(text.lines().any(|l| l.starts_with("AGE-PLUGIN-KVTEST-1")), "{text}");
    (sb.write(name, text), recipient)
}

/// A command with no controlling terminal (so nothing can be asked), standard input closed.
fn without_terminal(mut c: Command) -> Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe and takes no arguments; it runs in the forked child.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    c.stdin(std::process::Stdio::null());
    c
}

fn encrypt_kvsops(sb: &Sandbox, recipient: &str, out: &str) -> PathBuf {
    let f = sb.write("plain.yaml", PLAIN);
    let mut c = sb.kvsops();
    c.env("PATH", path_with_plugin()).args(["encrypt", "--age", recipient]).arg(&f);
    let enc = ok(c);
    sb.write(out, enc)
}

fn encrypt_sops(sb: &Sandbox, recipient: &str, out: &str) -> PathBuf {
    let f = sb.write("plain.yaml", PLAIN);
    let mut c = sb.sops();
    c.env("PATH", path_with_plugin()).args(["encrypt", "--age", recipient]).arg(&f);
    let enc = ok(c);
    sb.write(out, enc)
}

/// The age recipients of an encrypted YAML file's metadata, as stored.
fn stored_recipients(f: &Path) -> Vec<String> {
    std::fs::read_to_string(f)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- recipient: "))
        .map(str::to_string)
        .collect()
}

fn decrypt(mut c: Command, f: &Path) -> Output {
    c.env("PATH", path_with_plugin()).arg("decrypt").arg(f);
    without_terminal(c).output().expect("spawn")
}

fn assert_decrypts(out: Output, who: &str) {
    assert!(out.status.success(), "{who} failed ({:?}): {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), PLAIN, "{who}");
}

#[test]
fn ssh_ed25519_and_rsa_recipients_interoperate_with_sops_both_ways() {
    if !tools() {
        return;
    }
    for kind in ["ed25519", "rsa"] {
        let sb = Sandbox::new();
        let public = ssh_keygen(&sb.path().join(".ssh").join(format!("id_{kind}")), kind, "");
        assert!(public.starts_with(&format!("ssh-{kind} ")) && public.ends_with(" tester@kvsops"), "{public}");

        let by_kvsops = encrypt_kvsops(&sb, &public, "k.enc.yaml");
        // The metadata keeps the key as given, comment included, as sops stores it.
        assert_eq!(stored_recipients(&by_kvsops), vec![public.clone()], "{kind}");
        assert_decrypts(decrypt(sb.sops(), &by_kvsops), &format!("sops on kvsops's {kind} file"));
        assert_decrypts(decrypt(sb.kvsops(), &by_kvsops), &format!("kvsops on kvsops's {kind} file"));

        let by_sops = encrypt_sops(&sb, &public, "s.enc.yaml");
        assert_eq!(stored_recipients(&by_sops), vec![public.clone()], "{kind}");
        assert_decrypts(decrypt(sb.kvsops(), &by_sops), &format!("kvsops on sops's {kind} file"));

        // Without the private key, both fail alike (exit 128, as sops).
        std::fs::remove_file(sb.path().join(".ssh").join(format!("id_{kind}"))).unwrap();
        let out = decrypt(sb.kvsops(), &by_sops);
        assert_eq!(out.status.code(), Some(128), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(decrypt(sb.sops(), &by_sops).status.code(), Some(128));
    }
}

#[test]
fn ssh_recipients_in_sops_yaml_with_an_x25519_key_beside_them() {
    if !tools() {
        return;
    }
    let sb = Sandbox::new();
    let ed = ssh_keygen(&sb.path().join(".ssh/id_ed25519"), "ed25519", "");
    let rsa = ssh_keygen(&sb.path().join("keys/other_rsa"), "rsa", "");
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: >-\n      {ed},\n      {rsa},\n      {KEY1_RECIPIENT}\n"),
    );
    let f = sb.write("secret.yaml", PLAIN);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i"]).arg(&f);
    ok(c);
    assert_eq!(stored_recipients(&f), vec![ed.clone(), rsa.clone(), KEY1_RECIPIENT.to_string()]);
    // sops opens it with ~/.ssh/id_ed25519, with the RSA key named by SOPS_AGE_SSH_PRIVATE_KEY_FILE
    // alone, and with the age key alone.
    assert_decrypts(decrypt(sb.sops(), &f), "sops with ~/.ssh/id_ed25519");
    std::fs::remove_file(sb.path().join(".ssh/id_ed25519")).unwrap();
    for tool in ["sops", "kvsops"] {
        let mut c = if tool == "sops" { sb.sops() } else { sb.kvsops() };
        c.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", sb.path().join("keys/other_rsa"));
        assert_decrypts(decrypt(c, &f), &format!("{tool} with SOPS_AGE_SSH_PRIVATE_KEY_FILE"));
        let mut c = if tool == "sops" { sb.sops() } else { sb.kvsops() };
        c.env("SOPS_AGE_KEY_FILE", key1_file());
        assert_decrypts(decrypt(c, &f), &format!("{tool} with the age key"));
    }
    // updatekeys with a rule that drops the RSA key: the SSH entries are matched by their text.
    sb.write(".sops.yaml", format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {KEY1_RECIPIENT}\n"));
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_KEY_FILE", key1_file()).args(["updatekeys", "-y"]).arg(&f);
    ok(c);
    assert_eq!(stored_recipients(&f), vec![KEY1_RECIPIENT.to_string()]);
}

#[test]
fn ssh_identities_are_searched_where_sops_searches() {
    if !tools() {
        return;
    }
    let sb = Sandbox::new();
    let named = ssh_keygen(&sb.path().join("elsewhere/deploy_key"), "ed25519", "");
    let ed = ssh_keygen(&sb.path().join(".ssh/id_ed25519"), "ed25519", "");
    let rsa = ssh_keygen(&sb.path().join(".ssh/id_rsa"), "rsa", "");
    // Not a default name: never looked at unless named.
    let not_default = ssh_keygen(&sb.path().join(".ssh/id_other"), "ed25519", "");
    let files = [
        ("named", encrypt_kvsops(&sb, &named, "named.enc.yaml")),
        ("ed", encrypt_kvsops(&sb, &ed, "ed.enc.yaml")),
        ("rsa", encrypt_kvsops(&sb, &rsa, "rsa.enc.yaml")),
        ("other", encrypt_kvsops(&sb, &not_default, "other.enc.yaml")),
    ];
    // SOPS_AGE_SSH_PRIVATE_KEY_FILE adds to ~/.ssh/id_ed25519 and ~/.ssh/id_rsa: all three are used.
    for tool in ["sops", "kvsops"] {
        for (what, f) in &files {
            let mut c = if tool == "sops" { sb.sops() } else { sb.kvsops() };
            c.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", sb.path().join("elsewhere/deploy_key"));
            let out = decrypt(c, f);
            if *what == "other" {
                assert_eq!(out.status.code(), Some(128), "{tool}: ~/.ssh/id_other is not a default name");
            } else {
                assert_decrypts(out, &format!("{tool}: {what}"));
            }
        }
        // A named key file that does not exist does not stop the default ones.
        let mut c = if tool == "sops" { sb.sops() } else { sb.kvsops() };
        c.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", sb.path().join("missing_key"));
        assert_decrypts(decrypt(c, &files[2].1), &format!("{tool}: id_rsa despite a missing named key"));
    }
    // kvsops names what it tried when nothing opens the file.
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", sb.path().join("missing_key"));
    let out = decrypt(c, &files[0].1);
    assert_eq!(out.status.code(), Some(128));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing_key") && stderr.contains("No such file"), "{stderr}");

    // No key anywhere: the error lists the SSH locations too.
    let empty = Sandbox::new();
    let f = empty.write("ed.enc.yaml", std::fs::read(&files[1].1).unwrap());
    let out = decrypt(empty.kvsops(), &f);
    assert_eq!(out.status.code(), Some(128));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no age identity found")
            && stderr.contains(".ssh/id_ed25519")
            && stderr.contains(".ssh/id_rsa"),
        "{stderr}"
    );
    assert_eq!(decrypt(empty.sops(), &f).status.code(), Some(128));
}

#[test]
fn a_passphrase_protected_ssh_key_without_a_terminal_is_a_clear_error() {
    if !tools() {
        return;
    }
    for kind in ["ed25519", "rsa"] {
        let sb = Sandbox::new();
        let key = sb.path().join(".ssh").join(format!("id_{kind}"));
        let public = ssh_keygen(&key, kind, "correct horse");
        let f = encrypt_sops(&sb, &public, "s.enc.yaml");
        let out = decrypt(sb.kvsops(), &f);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(128), "{stderr}");
        assert!(
            stderr.contains("passphrase")
                && stderr.contains("no terminal")
                && stderr.contains(&key.display().to_string()),
            "{stderr}"
        );
        let sops = decrypt(sb.sops(), &f);
        assert_eq!(sops.status.code(), Some(128), "sops: {}", String::from_utf8_lossy(&sops.stderr));

        // An encrypted key that the file was not made for is never asked about: the age key opens it.
        let g = encrypt_sops(&sb, KEY1_RECIPIENT, "x.enc.yaml");
        for tool in ["sops", "kvsops"] {
            let mut c = if tool == "sops" { sb.sops() } else { sb.kvsops() };
            c.env("SOPS_AGE_KEY_FILE", key1_file());
            assert_decrypts(decrypt(c, &g), &format!("{tool}: X25519 file beside a locked {kind} key"));
        }
    }
}

static ASKED: AtomicUsize = AtomicUsize::new(0);

fn right_passphrase(prompt: &str) -> Result<age::secrecy::SecretString, String> {
    assert!(prompt.contains("id_ed25519"), "{prompt}");
    ASKED.fetch_add(1, Ordering::SeqCst);
    Ok("correct horse".to_string().into())
}

fn wrong_passphrase(_: &str) -> Result<age::secrecy::SecretString, String> {
    Ok("battery staple".to_string().into())
}

#[test]
fn a_passphrase_protected_ssh_key_is_asked_for_once_and_only_for_its_own_files() {
    if !have("ssh-keygen") {
        return;
    }
    let home = Sandbox::new();
    let public = ssh_keygen(&home.path().join(".ssh/id_ed25519"), "ed25519", "correct horse");
    let x25519 = age::x25519::Identity::generate();
    let plain_source = AgeSource::with_env(AgeEnv::default());
    let for_ssh = |n: u8| plain_source.wrap(&KeySpec::Age(public.clone()), &[n; 32]).unwrap();
    let for_x25519 = plain_source.wrap(&KeySpec::Age(x25519.to_public().to_string()), &[9; 32]).unwrap();
    let MasterKeyEntry::Age { recipient, .. } = &for_x25519 else { panic!() };
    assert!(recipient.starts_with("age1"));

    let env = AgeEnv {
        home: Some(home.path().to_path_buf()),
        key: Some(age::secrecy::ExposeSecret::expose_secret(&x25519.to_string()).to_string()),
        prompt: Some(right_passphrase),
        ..Default::default()
    };
    let source = AgeSource::with_env(env.clone());
    assert_eq!(&source.unwrap(&for_x25519).unwrap()[..], &[9; 32]);
    assert_eq!(ASKED.load(Ordering::SeqCst), 0, "a file for another key must not ask");
    assert_eq!(&source.unwrap(&for_ssh(1)).unwrap()[..], &[1; 32]);
    assert_eq!(&source.unwrap(&for_ssh(2)).unwrap()[..], &[2; 32]);
    assert_eq!(ASKED.load(Ordering::SeqCst), 1, "asked once per run");

    let wrong = AgeSource::with_env(AgeEnv { prompt: Some(wrong_passphrase), ..env });
    let err = wrong.unwrap(&for_ssh(3)).unwrap_err().to_string();
    assert!(err.contains("incorrect passphrase") && err.contains("id_ed25519"), "{err}");
}

#[test]
fn plugin_recipients_interoperate_with_sops_both_ways() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let (identity, recipient) = plugin_key(&sb, "plugin-key.txt");
    let (stranger, _) = plugin_key(&sb, "stranger-key.txt");

    let by_kvsops = encrypt_kvsops(&sb, &recipient, "k.enc.yaml");
    assert_eq!(stored_recipients(&by_kvsops), vec![recipient.clone()]);
    let by_sops = encrypt_sops(&sb, &recipient, "s.enc.yaml");
    assert_eq!(stored_recipients(&by_sops), vec![recipient.clone()]);
    for f in [&by_kvsops, &by_sops] {
        for tool in ["sops", "kvsops"] {
            let mut c = if tool == "sops" { sb.sops() } else { sb.kvsops() };
            c.env("SOPS_AGE_KEY_FILE", &identity);
            assert_decrypts(decrypt(c, f), &format!("{tool} on {}", f.display()));
        }
    }
    // The identity also works from SOPS_AGE_KEY, beside an X25519 key.
    let mut c = sb.kvsops();
    let both =
        format!("{}\n{}", std::fs::read_to_string(key1_file()).unwrap(), std::fs::read_to_string(&identity).unwrap());
    c.env("SOPS_AGE_KEY", both);
    assert_decrypts(decrypt(c, &by_sops), "kvsops with SOPS_AGE_KEY");

    // Another plugin identity cannot unwrap it: the plugin's crypto is real.
    for tool in ["sops", "kvsops"] {
        let mut c = if tool == "sops" { sb.sops() } else { sb.kvsops() };
        c.env("SOPS_AGE_KEY_FILE", &stranger);
        let out = decrypt(c, &by_kvsops);
        assert_eq!(out.status.code(), Some(128), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_missing_plugin_binary_is_named() {
    let sb = Sandbox::new();
    let (identity, recipient) = plugin_key(&sb, "plugin-key.txt");
    let f = sb.write("plain.yaml", PLAIN);
    let mut c = sb.kvsops();
    c.env("PATH", "/usr/bin:/bin").args(["encrypt", "--age", &recipient]).arg(&f);
    let out = fails(c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Could not find 'age-plugin-kvtest' on the PATH"), "{stderr}");

    let enc = encrypt_kvsops(&sb, &recipient, "k.enc.yaml");
    let mut c = sb.kvsops();
    c.env("PATH", "/usr/bin:/bin").env("SOPS_AGE_KEY_FILE", &identity).arg("decrypt").arg(&enc);
    let out = without_terminal(c).output().unwrap();
    assert_eq!(out.status.code(), Some(128));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AGE-PLUGIN-KVTEST identity: Could not find 'age-plugin-kvtest' on the PATH"), "{stderr}");
}

#[test]
fn bad_recipients_are_refused_with_the_reason() {
    let sb = Sandbox::new();
    let f = sb.write("plain.yaml", PLAIN);
    for (recipient, reason) in [
        ("ssh-ed25519 AAAAnotbase64!!", "not a usable SSH public key"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not a usable SSH public key"),
        ("age1kvtest1nope", "not an age plugin recipient"),
        ("AGE-SECRET-KEY-1QQQ", "not an age recipient"),
    ] {
        let mut c = sb.kvsops();
        c.args(["encrypt", "--age", recipient]).arg(&f);
        let out = fails(c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{recipient}: {stderr}");
    }
}
