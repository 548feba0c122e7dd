//! Snapshot tests of the error messages users meet most: each case runs kvsops in a sandbox, and
//! its exit code and exact stderr (the sandbox's path shown as `<SANDBOX>`) must be what
//! testdata/error-messages/NAME.txt says. A change of wording is then a reviewed diff of those
//! files: `KVSOPS_BLESS=1 cargo test --test integration error_messages::` rewrites them.
//!
//! Every input holds a secret value that no message may show, and that is checked for every case.

use std::path::Path;
use std::process::Command;

use crate::common;
use common::*;

/// The secret value of every plaintext input.
const SECRET: &str = "hunter2-never-in-a-message";

/// The published demo key's recipient.
const DEMO: &str = "age1wwvum5hd6xssaj6nxluvy4w3rywkf6acryal2f30gqd2rd3xwvcqr6emd5";

/// Plaintext values of testdata/sops-3.11/t1.yaml, the fixture the key and MAC cases open.
const T1_SECRETS: &[&str] = &["hello", "deep1", "line1\nline2"];

struct Case {
    name: &'static str,
    /// Writes the case's files into the sandbox and returns the kvsops command to run.
    setup: fn(&Sandbox) -> Command,
    /// Values that must not appear on stdout or stderr (besides [`SECRET`]).
    secrets: &'static [&'static str],
}

/// kvsops in `sb` with the demo key as its only age identity.
fn kvsops(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_KEY_FILE", testdata("DEMO-ONLY-age-key.txt")).args(args);
    c
}

/// Copies a file of testdata/sops-3.11 into the sandbox.
fn fixture(sb: &Sandbox, name: &str) {
    let bytes = std::fs::read(testdata("sops-3.11").join(name)).expect("fixture");
    sb.write(name, bytes);
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "yaml_syntax_error",
            setup: |sb| {
                sb.write("bad.yaml", format!("a: 1\npassword: {SECRET}\n  b: [\n"));
                kvsops(sb, &["encrypt", "--age", DEMO, "bad.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "json_syntax_error",
            setup: |sb| {
                sb.write("bad.json", format!("{{\"a\": 1,\n \"password\": \"{SECRET}\",\n }}\n"));
                kvsops(sb, &["encrypt", "--age", DEMO, "bad.json"])
            },
            secrets: &[],
        },
        Case {
            name: "duplicate_key",
            setup: |sb| {
                sb.write("dup.yaml", format!("password: {SECRET}\npassword: {SECRET}\n"));
                kvsops(sb, &["encrypt", "--age", DEMO, "dup.yaml"])
            },
            secrets: &[],
        },
        Case { name: "missing_file", setup: |sb| kvsops(sb, &["encrypt", "--age", DEMO, "nope.yaml"]), secrets: &[] },
        Case {
            name: "no_key_decrypts_the_data_key",
            setup: |sb| {
                fixture(sb, "t1.enc.yaml");
                kvsops(sb, &["decrypt", "t1.enc.yaml"])
            },
            secrets: T1_SECRETS,
        },
        Case {
            name: "mac_mismatch",
            setup: |sb| {
                let text = std::fs::read_to_string(testdata("sops-3.11/t1.enc.yaml")).expect("fixture");
                let tampered = text.replace("b_unencrypted: plain", "b_unencrypted: changed");
                assert_ne!(tampered, text, "the fixture has the unencrypted value to change");
                sb.write("t1.enc.yaml", tampered);
                let mut c = kvsops(sb, &["decrypt", "t1.enc.yaml"]);
                c.env("SOPS_AGE_KEY_FILE", key1_file());
                c
            },
            secrets: T1_SECRETS,
        },
        Case {
            name: "tampered_value",
            setup: |sb| {
                let text = std::fs::read_to_string(testdata("sops-3.11/t1.enc.yaml")).expect("fixture");
                // Another value's ciphertext under `str`'s path: the tag check fails.
                let str_line = text.lines().find(|l| l.starts_with("str: ")).expect("str line");
                let yes_line = text.lines().find(|l| l.starts_with("yes_str: ")).expect("yes_str line");
                let tampered = text.replace(str_line, &format!("str: {}", &yes_line["yes_str: ".len()..]));
                sb.write("t1.enc.yaml", tampered);
                let mut c = kvsops(sb, &["decrypt", "t1.enc.yaml"]);
                c.env("SOPS_AGE_KEY_FILE", key1_file());
                c
            },
            secrets: T1_SECRETS,
        },
        Case {
            name: "not_encrypted",
            setup: |sb| {
                sb.write("plain.yaml", format!("password: {SECRET}\n"));
                kvsops(sb, &["decrypt", "plain.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "already_encrypted",
            setup: |sb| {
                fixture(sb, "t1.enc.yaml");
                kvsops(sb, &["encrypt", "--age", DEMO, "t1.enc.yaml"])
            },
            secrets: T1_SECRETS,
        },
        Case {
            name: "bad_sops_yaml",
            setup: |sb| {
                sb.write(".sops.yaml", "creation_rules:\n  - path_regex: [\n");
                sb.write("s.yaml", format!("password: {SECRET}\n"));
                kvsops(sb, &["encrypt", "s.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "no_matching_creation_rule",
            setup: |sb| {
                sb.write(".sops.yaml", format!("creation_rules:\n  - path_regex: \\.other$\n    age: {DEMO}\n"));
                sb.write("s.yaml", format!("password: {SECRET}\n"));
                kvsops(sb, &["encrypt", "s.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "no_master_keys",
            setup: |sb| {
                sb.write("s.yaml", format!("password: {SECRET}\n"));
                kvsops(sb, &["encrypt", "s.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "conflicting_flags",
            setup: |sb| {
                sb.write("s.yaml", format!("password: {SECRET}\n"));
                kvsops(sb, &["encrypt", "--age", DEMO, "--in-place", "--output", "o.yaml", "s.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "unsupported_format",
            setup: |sb| {
                sb.write("s.yaml", format!("password: {SECRET}\n"));
                kvsops(sb, &["encrypt", "--age", DEMO, "--input-type", "toml", "s.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "depth_limit",
            setup: |sb| {
                let depth = 20_000;
                sb.write("deep.yaml", format!("password: {SECRET}\na: {}{}\n", "[".repeat(depth), "]".repeat(depth)));
                kvsops(sb, &["encrypt", "--age", DEMO, "deep.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "alias_bomb",
            setup: |sb| {
                // Nine levels of nine aliases each: 9^9 nodes once expanded.
                let mut text = format!("password: {SECRET}\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
                let names: Vec<char> = ('a'..='j').collect();
                for w in names.windows(2) {
                    let refs = vec![format!("*{}", w[0]); 9].join(", ");
                    text.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
                }
                sb.write("bomb.yaml", text);
                kvsops(sb, &["encrypt", "--age", DEMO, "bomb.yaml"])
            },
            secrets: &[],
        },
        Case {
            name: "invalid_tree_path",
            setup: |sb| {
                fixture(sb, "t1.enc.yaml");
                let mut c = kvsops(sb, &["decrypt", "--extract", "[\"nested\"", "t1.enc.yaml"]);
                c.env("SOPS_AGE_KEY_FILE", key1_file());
                c
            },
            secrets: T1_SECRETS,
        },
    ]
}

/// The snapshot text of one run: the command line, exit code, stderr (and stdout when not empty),
/// with the sandbox's and the repository's paths replaced by placeholders.
fn render(sb: &Sandbox, cmd: &Command, out: &std::process::Output) -> String {
    let normalise = |text: &str| -> String {
        let mut t = text.to_string();
        for (path, name) in [(sb.path(), "<SANDBOX>"), (root().as_path(), "<ROOT>")] {
            if let Ok(canonical) = path.canonicalize() {
                t = t.replace(&canonical.display().to_string(), name);
            }
            t = t.replace(&path.display().to_string(), name);
        }
        t
    };
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut s = format!("$ kvsops {}\nexit code: {}\n", normalise(&args.join(" ")), out.status.code().unwrap_or(-1));
    s.push_str("--- stderr\n");
    s.push_str(&normalise(&String::from_utf8_lossy(&out.stderr)));
    if !out.stdout.is_empty() {
        s.push_str("--- stdout\n");
        s.push_str(&normalise(&String::from_utf8_lossy(&out.stdout)));
    }
    s
}

fn snapshot_dir() -> std::path::PathBuf {
    testdata("error-messages")
}

fn bless() -> bool {
    std::env::var_os("KVSOPS_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn error_messages_match_their_snapshots_and_hold_no_secret() {
    let bless = bless();
    let mut problems = Vec::new();
    let cases = cases();
    for case in &cases {
        let sb = Sandbox::new();
        let mut cmd = (case.setup)(&sb);
        let out = cmd.output().expect("run kvsops");
        let code = out.status.code();
        if out.status.success() || code == Some(101) || code.is_none() {
            problems.push(format!("{}: expected a clean failure, got {:?}", case.name, out.status));
        }
        for secret in std::iter::once(&SECRET).chain(case.secrets) {
            for (stream, bytes) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
                if String::from_utf8_lossy(bytes).contains(secret) {
                    problems.push(format!("{}: the {stream} shows the secret {secret:?}", case.name));
                }
            }
        }
        let actual = render(&sb, &cmd, &out);
        let file = snapshot_dir().join(format!("{}.txt", case.name));
        if bless {
            std::fs::create_dir_all(snapshot_dir()).expect("snapshot dir");
            std::fs::write(&file, &actual).expect("write snapshot");
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => problems.push(format!(
                "{}: differs from {}\n--- expected\n{expected}--- actual\n{actual}",
                case.name,
                file.display()
            )),
            Err(_) => problems.push(format!("{}: no snapshot {} yet; actual:\n{actual}", case.name, file.display())),
        }
    }
    // A snapshot without a case is a leftover of a renamed or removed case.
    let names: Vec<String> = cases.iter().map(|c| format!("{}.txt", c.name)).collect();
    for entry in std::fs::read_dir(snapshot_dir()).expect("snapshot dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".txt") && !names.contains(&name) {
            problems.push(format!("{}: a snapshot without a case", Path::new(&name).display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\n(review, then KVSOPS_BLESS=1 cargo test --test integration error_messages:: rewrites the snapshots)",
        problems.join("\n\n")
    );
}
