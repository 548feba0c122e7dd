//! Whole trees: a directory given to `encrypt -i`, `decrypt -i`, `rotate -i`, `updatekeys` and
//! `check` stands for every file under it that a creation rule governs (git-ignored paths
//! skipped); one broken file does not stop the others, and the summary counts them. Interop: the
//! real sops decrypts every file kvsops encrypted in a tree, and kvsops decrypts a tree sops
//! encrypted.

use crate::common;

use std::process::Command;

use common::*;

const A_YAML: &str = "db:\n    user: admin\n    password: hunter2\n";
const B_JSON: &str = "{\n  \"token\": \"abc123\",\n  \"n\": 5\n}\n";
const C_ENV: &str = "API_KEY=s3cr3t\nMODE=prod\n";
const IGNORED: &str = "ignored: plaintext-by-choice\n";
const README: &str = "not a secret\n";
const BROKEN: &str = "a: [unclosed\n";

fn config(recipients: &str) -> String {
    format!("creation_rules:\n  - path_regex: secrets/.*\\.(yaml|json|env)$\n    age: {recipients}\n")
}

/// A git work tree with a config, three secret files in two directories, a git-ignored file the
/// rule would match, a file no rule matches, and (when `broken`) a file that does not parse; `None`
/// (the test skips) without `git`, see `common::have`.
fn tree(broken: bool) -> Option<Sandbox> {
    if !have("git") {
        return None;
    }
    let sb = Sandbox::new();
    sb.write(".sops.yaml", config(KEY1_RECIPIENT));
    sb.write(".gitignore", "secrets/local.yaml\n");
    sb.write("secrets/a.yaml", A_YAML);
    sb.write("secrets/sub/b.json", B_JSON);
    sb.write("secrets/c.env", C_ENV);
    sb.write("secrets/local.yaml", IGNORED);
    sb.write("secrets/README.md", README);
    if broken {
        sb.write("secrets/sub/broken.yaml", BROKEN);
    }
    let mut git = Command::new("git");
    git.current_dir(sb.path()).args(["init", "-q"]);
    ok(git);
    Some(sb)
}

fn read(sb: &Sandbox, rel: &str) -> String {
    std::fs::read_to_string(sb.path().join(rel)).expect("read")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn kvsops_with_key(sb: &Sandbox) -> Command {
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_KEY_FILE", key1_file());
    c
}

/// The real sops's decryption of a file, as JSON values compared (sops re-formats YAML and JSON).
fn sops_decrypts(sb: &Sandbox, rel: &str, output_type: &str) -> String {
    let mut c = sb.sops();
    c.env("SOPS_AGE_KEY_FILE", key1_file()).args(["decrypt", "--output-type", output_type, rel]);
    String::from_utf8(ok(c)).expect("utf-8")
}

#[test]
fn encrypt_in_place_on_a_tree_encrypts_what_the_rules_match_and_reports_the_broken_file() {
    let Some(sb) = tree(true) else { return };
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "secrets"]);
    let out = c.output().expect("spawn");
    let err = stderr(&out);
    // The broken file fails with its own exit code (YAML syntax: 2), the others are done.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("secrets/sub/broken.yaml: could not parse"), "{err}");
    assert!(err.contains("kvsops: 5 files: 3 done, 1 skipped (1 not matched by a creation rule), 1 failed"), "{err}");
    assert!(err.contains("1 of 4 files failed: secrets/sub/broken.yaml"), "{err}");
    for rel in ["secrets/a.yaml", "secrets/sub/b.json", "secrets/c.env"] {
        let enc = read(&sb, rel);
        assert!(
            enc.contains("ENC[AES256_GCM")
                && !enc.contains("hunter2")
                && !enc.contains("abc123")
                && !enc.contains("s3cr3t"),
            "{rel}: {enc}"
        );
    }
    assert_eq!(read(&sb, "secrets/local.yaml"), IGNORED, "git-ignored: left alone");
    assert_eq!(read(&sb, "secrets/README.md"), README, "no rule: left alone");
    assert_eq!(read(&sb, "secrets/sub/broken.yaml"), BROKEN);

    if have("sops") {
        assert_eq!(sops_decrypts(&sb, "secrets/a.yaml", "yaml"), A_YAML);
        let json: serde_json::Value = serde_json::from_str(&sops_decrypts(&sb, "secrets/sub/b.json", "json")).unwrap();
        assert_eq!(json, serde_json::from_str::<serde_json::Value>(B_JSON).unwrap());
        assert_eq!(sops_decrypts(&sb, "secrets/c.env", "dotenv"), C_ENV);
    }

    // A second run is idempotent: encrypted files are skipped, not failed; the tree is `.`.
    std::fs::remove_file(sb.path().join("secrets/sub/broken.yaml")).unwrap();
    let before = read(&sb, "secrets/a.yaml");
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "."]);
    let out = c.output().expect("spawn");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("0 done, ") && err.contains("3 already encrypted") && err.contains(", 0 failed"), "{err}");
    assert_eq!(read(&sb, "secrets/a.yaml"), before);

    // The guard agrees: nothing in the tree is plaintext where a rule wants ENC.
    let mut c = sb.kvsops();
    c.args(["check", "secrets"]);
    ok(c);

    // Rotate the tree: new data keys, still readable by sops.
    let mut c = kvsops_with_key(&sb);
    c.args(["rotate", "-i", "secrets"]);
    let out = c.output().expect("spawn");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(read(&sb, "secrets/a.yaml"), before, "a new data key");
    if have("sops") {
        assert_eq!(sops_decrypts(&sb, "secrets/a.yaml", "yaml"), A_YAML);
    }

    // Decrypt the tree in place: the original bytes come back.
    let mut c = kvsops_with_key(&sb);
    c.args(["decrypt", "-i", "secrets"]);
    let out = c.output().expect("spawn");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read(&sb, "secrets/a.yaml"), A_YAML);
    assert_eq!(read(&sb, "secrets/sub/b.json"), B_JSON);
    assert_eq!(read(&sb, "secrets/c.env"), C_ENV);
    assert_eq!(read(&sb, "secrets/local.yaml"), IGNORED);
}

#[test]
fn updatekeys_on_a_tree_rewraps_every_governed_file() {
    let Some(sb) = tree(false) else { return };
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "secrets"]);
    ok(c);
    let demo = testdata("DEMO-ONLY-age-key.txt");
    sb.write(".sops.yaml", config(&format!("{KEY1_RECIPIENT},{}", recipient_of(&demo))));
    let mut c = kvsops_with_key(&sb);
    c.args(["updatekeys", "-y", "secrets"]);
    let out = c.output().expect("spawn");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("3 done") && err.contains(", 0 failed"), "{err}");
    // The added key alone now opens every file, in sops too.
    for rel in ["secrets/a.yaml", "secrets/sub/b.json", "secrets/c.env"] {
        let mut c = sb.kvsops();
        c.env("SOPS_AGE_KEY_FILE", &demo).args(["decrypt", rel]);
        ok(c);
        if have("sops") {
            let mut c = sb.sops();
            c.env("SOPS_AGE_KEY_FILE", &demo).args(["decrypt", rel]);
            ok(c);
        }
    }
    assert_eq!(read(&sb, "secrets/local.yaml"), IGNORED);
}

#[test]
fn decrypt_in_place_on_a_tree_sops_encrypted() {
    if !have("sops") {
        return;
    }
    let Some(sb) = tree(false) else { return };
    for rel in ["secrets/a.yaml", "secrets/sub/b.json", "secrets/c.env"] {
        let mut c = sb.sops();
        c.args(["encrypt", "-i", rel]);
        ok(c);
    }
    // Named by its absolute path, from a working directory outside the repository.
    let mut c = kvsops_with_key(&sb);
    c.current_dir(std::env::temp_dir()).arg("decrypt").arg("-i").arg(sb.path().join("secrets"));
    c.arg("--config").arg(sb.path().join(".sops.yaml"));
    let out = c.output().expect("spawn");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("3 done") && err.contains("1 not matched by a creation rule"), "{err}");
    assert_eq!(read(&sb, "secrets/a.yaml"), A_YAML);
    let json: serde_json::Value = serde_json::from_str(&read(&sb, "secrets/sub/b.json")).unwrap();
    assert_eq!(json, serde_json::from_str::<serde_json::Value>(B_JSON).unwrap());
    assert_eq!(read(&sb, "secrets/c.env"), C_ENV);
    // Decrypting again: every file is plaintext now, so each is skipped, none fails.
    let mut c = kvsops_with_key(&sb);
    c.args(["decrypt", "-i", "secrets"]);
    let out = c.output().expect("spawn");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("3 not encrypted"), "{}", stderr(&out));
}

#[test]
fn a_tree_outside_git_is_walked_and_a_directory_needs_in_place_and_a_rule() {
    let sb = Sandbox::new();
    sb.write(".sops.yaml", config(KEY1_RECIPIENT));
    sb.write("secrets/a.yaml", A_YAML);
    sb.write("secrets/README.md", README);
    let mut c = sb.kvsops();
    c.args(["encrypt", "secrets"]);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("needs --in-place"), "{}", stderr(&out));
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--config", "/dev/null", "--age", KEY1_RECIPIENT, "secrets"]);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("path_regex"), "{}", stderr(&out));
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "secrets"]);
    ok(c);
    assert!(read(&sb, "secrets/a.yaml").contains("ENC["));
    assert_eq!(read(&sb, "secrets/README.md"), README);
}

/// On a terminal a progress line is drawn (and cleared); through a pipe it never is.
#[test]
fn a_progress_line_only_on_a_terminal() {
    let Some(sb) = tree(false) else { return };
    let bin = env!("CARGO_BIN_EXE_kvsops");
    if !have("script") {
        return;
    }
    // `script` gives kvsops a terminal for standard error and copies what it draws to stdout.
    let mut c = sb.kvsops();
    let cmd = format!("'{bin}' encrypt -i secrets");
    c = {
        let mut s = Command::new("script");
        s.current_dir(sb.path()).args(["-qec", &cmd, "/dev/null"]);
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => s.env(k, v),
                None => s.env_remove(k),
            };
        }
        s
    };
    let out = c.output().expect("spawn script");
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{drawn}");
    assert!(drawn.contains("/3 files"), "progress line: {drawn:?}");
    // Through a pipe: only the summary.
    let Some(sb) = tree(false) else { return };
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "secrets"]);
    let out = c.output().expect("spawn");
    assert!(!stderr(&out).contains("/3 files"), "{}", stderr(&out));
}

/// Runs `kvsops ARGS` in the sandbox with a terminal for standard error (`script` copies what is
/// drawn there to its standard output).
fn on_terminal(sb: &Sandbox, args: &str) -> (bool, String) {
    let template = sb.kvsops();
    let mut s = Command::new("script");
    s.current_dir(sb.path()).args(["-qec", &format!("'{}' {args}", env!("CARGO_BIN_EXE_kvsops")), "/dev/null"]);
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    s.env("SOPS_AGE_KEY_FILE", key1_file());
    let out = s.output().expect("spawn script");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `check DIR` goes with the other whole-tree commands: the same listing, a progress line on a
/// terminal, and a summary even when every file is fine.
#[test]
fn check_on_a_tree_reports_a_summary_and_draws_progress_on_a_terminal() {
    let Some(sb) = tree(false) else { return };
    // `check` guards what commits hold: the tracked files.
    let mut git = Command::new("git");
    git.current_dir(sb.path()).args(["add", "-A"]);
    ok(git);
    let mut c = kvsops_with_key(&sb);
    c.args(["check", "secrets"]);
    let out = c.output().expect("spawn");
    assert_eq!(out.status.code(), Some(1), "plaintext secrets are reported: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("secrets/a.yaml"), "{out:?}");
    let mut c = kvsops_with_key(&sb);
    c.args(["encrypt", "-i", "secrets"]);
    ok(c);
    let mut c = kvsops_with_key(&sb);
    c.args(["check", "secrets"]);
    let out = c.output().expect("spawn");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("file(s) checked, no plaintext secrets"), "summary: {}", stderr(&out));
    assert!(!stderr(&out).contains(" files ("), "no progress line through a pipe: {}", stderr(&out));
    if !have("script") {
        return;
    }
    let (success, drawn) = on_terminal(&sb, "check secrets");
    assert!(success, "{drawn}");
    assert!(drawn.contains("kvsops: [") && drawn.contains(" files"), "progress line: {drawn:?}");
}
