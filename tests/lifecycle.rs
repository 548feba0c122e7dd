//! The daily commands after the first encrypt (edit, rotate, updatekeys, set, unset, exec-env,
//! exec-file, groups), run as the binary on YAML files, with the real `sops` as the judge of what
//! they write.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const SECRET: &str = "\
# a comment
apiVersion: v1
kind: Secret
metadata:
    name: s
stringData:
    password: hunter2-very-secret
    user: admin
    port: 5432
";

fn key_env(c: &mut Command, files: &[&str]) {
    let sb_keys: String = files
        .iter()
        .map(|f| std::fs::read_to_string(testdata(&format!("sops-3.11/{f}"))).expect("key"))
        .collect::<Vec<_>>()
        .join("\n");
    c.env("SOPS_AGE_KEY", sb_keys);
}

fn recipient(n: u8) -> String {
    recipient_of(&testdata(&format!("sops-3.11/key{n}.txt")))
}

/// An encrypted copy of SECRET for key 1, in the sandbox.
fn encrypted(sb: &Sandbox, name: &str) -> PathBuf {
    let f = sb.write(name, SECRET);
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", &recipient(1)]).arg(&f);
    ok(c);
    f
}

/// A private TMPDIR for kvsops, to check that no plaintext is left behind.
fn tmpdir(sb: &Sandbox) -> PathBuf {
    let d = sb.path().join("tmp");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}

fn script(sb: &Sandbox, name: &str, body: &str) -> PathBuf {
    let p = sb.write(name, format!("#!/bin/sh\n{body}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

fn edit_cmd(sb: &Sandbox, editor: &Path, file: &Path) -> Command {
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.env("EDITOR", editor).env("TMPDIR", tmpdir(sb)).arg("edit").arg(file);
    c
}

/// `sops decrypt` (MAC checked) of a file, with the given keys.
fn sops_decrypt(sb: &Sandbox, file: &Path, keys: &[&str]) -> String {
    let mut c = sb.sops();
    key_env(&mut c, keys);
    c.arg("decrypt").arg(file);
    String::from_utf8(ok(c)).unwrap()
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap().lines().map(str::to_string).collect()
}

/// The keys of the lines that differ between two versions of a file with the same number of lines;
/// `lastmodified` is left out (it has seconds precision, so it may or may not change in a test).
fn changed_lines(before: &[String], after: &[String]) -> Vec<String> {
    assert_eq!(before.len(), after.len(), "line count changed:\n{}\n---\n{}", before.join("\n"), after.join("\n"));
    before
        .iter()
        .zip(after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.trim_start().split(':').next().unwrap().to_string())
        .filter(|k| k != "lastmodified")
        .collect()
}

#[test]
fn edit_changes_only_the_edited_value_and_sops_decrypts_it() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let before = lines(&f);
    let editor = script(&sb, "ed.sh", "sed -i 's/hunter2-very-secret/changed-secret/' \"$1\"");
    ok(edit_cmd(&sb, &editor, &f));
    let after = lines(&f);
    assert_eq!(changed_lines(&before, &after), vec!["password", "mac"]);
    let plain = sops_decrypt(&sb, &f, &["key1.txt"]);
    assert!(plain.contains("password: changed-secret") && plain.contains("user: admin"), "{plain}");
    assert_empty(&tmpdir(&sb));
}

#[test]
fn legacy_edit_form_works_too() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let editor = script(&sb, "ed.sh", "sed -i 's/admin/root/' \"$1\"");
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.env("SOPS_EDITOR", &editor).env("EDITOR", "/nonexistent").env("TMPDIR", tmpdir(&sb)).arg(&f);
    ok(c);
    assert!(sops_decrypt(&sb, &f, &["key1.txt"]).contains("user: root"));
}

#[test]
fn unchanged_edit_exits_200_without_writing() {
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    let editor = script(&sb, "ed.sh", "true");
    let out = fails(edit_cmd(&sb, &editor, &f));
    assert_eq!(out.status.code(), Some(200));
    assert!(String::from_utf8_lossy(&out.stderr).contains("File has not changed, exiting."));
    assert_eq!(std::fs::read(&f).unwrap(), before);
    assert_eq!(std::fs::metadata(&f).unwrap().modified().unwrap(), mtime);
    assert_empty(&tmpdir(&sb));
}

#[test]
fn failing_editor_leaves_no_plaintext_and_the_file_untouched() {
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();
    let editor = script(&sb, "ed.sh", "sed -i 's/hunter2/x/' \"$1\"; exit 1");
    let out = fails(edit_cmd(&sb, &editor, &f));
    assert_eq!(out.status.code(), Some(201));
    assert_eq!(std::fs::read(&f).unwrap(), before);
    assert_empty(&tmpdir(&sb));
}

#[test]
fn interrupted_edit_leaves_no_plaintext_and_the_file_untouched() {
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();
    // The editor changes the file, then kvsops is interrupted while the editor is still open.
    let editor = script(&sb, "ed.sh", "sed -i 's/hunter2/x/' \"$1\"; kill -INT $PPID; sleep 1");
    let out = fails(edit_cmd(&sb, &editor, &f));
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&f).unwrap(), before);
    assert_empty(&tmpdir(&sb));
}

#[test]
fn unparsable_edit_without_a_terminal_fails_and_writes_nothing() {
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let before = std::fs::read(&f).unwrap();
    let editor = script(&sb, "ed.sh", "printf 'a: [\\n  b: {\\n' > \"$1\"");
    let out = fails(edit_cmd(&sb, &editor, &f));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used"), "{err}");
    assert_eq!(std::fs::read(&f).unwrap(), before);
    assert_empty(&tmpdir(&sb));
}

#[test]
fn unparsable_edit_can_be_reopened_and_fixed() {
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    // First run breaks the file, second run (after Enter) writes a valid one.
    let editor = script(
        &sb,
        "ed.sh",
        "if [ -e \"$0.ran\" ]; then printf 'fixed: yes-it-is\\n' > \"$1\"; else touch \"$0.ran\"; printf 'a: [\\n' > \"$1\"; fi",
    );
    let mut c = edit_cmd(&sb, &editor, &f);
    c.stdin(std::process::Stdio::piped());
    let mut child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), "fixed: yes-it-is\n");
}

#[test]
fn editing_a_missing_file_starts_from_the_example_under_the_creation_rule() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write(".sops.yaml", format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {}\n", recipient(1)));
    let f = sb.path().join("new.yaml");
    let editor = script(&sb, "ed.sh", "grep -q 'Welcome to SOPS' \"$1\" && sed -i 's/example_value$/mine/' \"$1\"");
    ok(edit_cmd(&sb, &editor, &f));
    let plain = sops_decrypt(&sb, &f, &["key1.txt"]);
    assert!(plain.contains("example_key: mine") && plain.contains("example_number: 1234.56789"), "{plain}");
    assert_empty(&tmpdir(&sb));
}

#[test]
fn rotate_gives_a_new_data_key_that_sops_decrypts() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let before = std::fs::read_to_string(&f).unwrap();
    // Legacy -r prints to stdout and leaves the file alone.
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.arg("-r").arg(&f);
    let printed = String::from_utf8(ok(c)).unwrap();
    assert!(printed.contains("mac: ENC["));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before);
    // rotate -i with a key added.
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["rotate", "-i", "--add-age", &recipient(2)]).arg(&f);
    ok(c);
    let after = std::fs::read_to_string(&f).unwrap();
    assert_ne!(before, after);
    let plain = sops_decrypt(&sb, &f, &["key2.txt"]);
    assert!(plain.contains("password: hunter2-very-secret") && plain.contains("port: 5432"), "{plain}");
    // Removing key 1: only key 2 opens it.
    let mut c = sb.kvsops();
    key_env(&mut c, &["key2.txt"]);
    c.args(["rotate", "-i", "--rm-age", &recipient(1)]).arg(&f);
    ok(c);
    let mut c = sb.sops();
    key_env(&mut c, &["key1.txt"]);
    c.arg("decrypt").arg(&f);
    fails(c);
    assert!(sops_decrypt(&sb, &f, &["key2.txt"]).contains("user: admin"));
    // Adding keys to a file that does not exist: 49.
    let mut c = sb.kvsops();
    c.args(["rotate", "--add-age", &recipient(2), "nope.yaml"]);
    assert_eq!(fails(c).status.code(), Some(49));
}

#[test]
fn updatekeys_follows_the_creation_rule_and_keeps_values_and_mac() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {}\n", recipient(1)));
    let f = encrypted(&sb, "s.yaml");
    let mut c = sb.kvsops();
    c.args(["updatekeys", "-y"]).arg(&f);
    let out = c.output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already up to date"));

    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {},{}\n", recipient(1), recipient(2)));
    let before = lines(&f);
    // Without -y and without an answer: nothing changes.
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.arg("updatekeys").arg(&f);
    let out = fails(c);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("+++ {}", recipient(2))));
    assert_eq!(lines(&f), before);
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["updatekeys", "-y"]).arg(&f);
    ok(c);
    let after = lines(&f);
    let mac = |l: &[String]| l.iter().find(|l| l.trim_start().starts_with("mac:")).cloned();
    assert_eq!(mac(&before), mac(&after));
    let body = |l: &[String]| l.iter().take_while(|l| !l.starts_with("sops:")).cloned().collect::<Vec<_>>();
    assert_eq!(body(&before), body(&after), "values untouched");
    assert!(sops_decrypt(&sb, &f, &["key2.txt"]).contains("password: hunter2-very-secret"));
}

#[test]
fn set_and_unset_write_what_sops_reads() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let before = lines(&f);
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["set"]).arg(&f).args([r#"["stringData"]["password"]"#, r#""new-secret""#]);
    ok(c);
    assert_eq!(changed_lines(&before, &lines(&f)), vec!["password", "mac"]);
    let plain = sops_decrypt(&sb, &f, &["key1.txt"]);
    assert!(plain.contains("password: new-secret"), "{plain}");

    // --idempotent with the same value: no write.
    let bytes = std::fs::read(&f).unwrap();
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["set", "--idempotent"]).arg(&f).args([r#"["stringData"]["password"]"#, r#""new-secret""#]);
    ok(c);
    assert_eq!(std::fs::read(&f).unwrap(), bytes);

    // Legacy --set with a structured value; --value-stdin.
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["--set", r#"["stringData"]["extra"] {"a": [1, true]}"#]).arg(&f);
    ok(c);
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["set", "--value-stdin"]).arg(&f).arg(r#"["stringData"]["user"]"#);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(br#""from-stdin""#).unwrap();
    }
    assert!(child.wait_with_output().unwrap().status.success());
    let plain = sops_decrypt(&sb, &f, &["key1.txt"]);
    assert!(plain.contains("user: from-stdin") && plain.contains("extra:"), "{plain}");

    // A bad value is exit 7 and is not echoed.
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["set"]).arg(&f).args([r#"["a"]"#, "leaky-value"]);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(7));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("leaky-value"));

    // unset, then unset again (1), then with --idempotent (0).
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["unset"]).arg(&f).arg(r#"["stringData"]["extra"]"#);
    ok(c);
    assert!(!sops_decrypt(&sb, &f, &["key1.txt"]).contains("extra"));
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["unset"]).arg(&f).arg(r#"["stringData"]["extra"]"#);
    assert_eq!(fails(c).status.code(), Some(1));
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["unset", "--idempotent"]).arg(&f).arg(r#"["stringData"]["extra"]"#);
    ok(c);
}

#[test]
fn exec_env_and_exec_file_see_the_values() {
    let sb = Sandbox::new();
    let f = sb.write("flat.yaml", "password: hunter2\nport: 5432\nratio: 2.0\nflag: true\n");
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", &recipient(1)]).arg(&f);
    ok(c);
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["exec-env"]).arg(&f).arg("echo \"$password $port $ratio $flag\"; exit 3");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hunter2 5432 2.0 true\n");

    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.env("TMPDIR", tmpdir(&sb)).args(["exec-file"]).arg(&f).arg("test -p {} && cat {}");
    let out = String::from_utf8(ok(c)).unwrap();
    assert_eq!(out, "password: hunter2\nport: 5432\nratio: 2.0\nflag: true\n");
    assert_empty(&tmpdir(&sb));

    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["exec-file", "--no-fifo", "--output-type", "json"]).arg(&f).arg("test -f {} && cat {}");
    let out = String::from_utf8(ok(c)).unwrap();
    assert!(out.contains("\"password\": \"hunter2\""), "{out}");

    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["exec-env", "--user", "root"]).arg(&f).arg("true");
    assert!(String::from_utf8_lossy(&fails(c).stderr).contains("--user is not supported"));
}

#[test]
fn groups_add_and_delete_rewrap_shares_sops_reads() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let f = encrypted(&sb, "s.yaml");
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["groups", "add", "-i", "--file"]).arg(&f).args(["--age", &recipient(2)]);
    ok(c);
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains("key_groups:") && text.contains("shamir_threshold: 2"), "{text}");
    assert!(sops_decrypt(&sb, &f, &["key1.txt", "key2.txt"]).contains("password: hunter2-very-secret"));
    let mut c = sb.sops();
    key_env(&mut c, &["key1.txt"]);
    c.arg("decrypt").arg(&f);
    fails(c);

    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt", "key2.txt"]);
    c.args(["groups", "delete", "-i", "--shamir-secret-sharing-threshold", "1", "--file"]).arg(&f).arg("0");
    ok(c);
    assert!(sops_decrypt(&sb, &f, &["key2.txt"]).contains("user: admin"));
}

#[test]
fn json_files_edit_set_and_rotate_with_sops_as_judge() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let f = sb.write("s.json", "{\n\t\"password\": \"hunter2\",\n\t\"user\": \"admin\",\n\t\"n\": 5\n}\n");
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", &recipient(1)]).arg(&f);
    ok(c);
    let before = lines(&f);
    let editor = script(&sb, "ed.sh", "sed -i 's/hunter2/changed/' \"$1\"");
    ok(edit_cmd(&sb, &editor, &f));
    assert_eq!(changed_lines(&before, &lines(&f)), vec!["\"password\"", "\"mac\""]);
    assert_empty(&tmpdir(&sb));
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.arg("set").arg(&f).args([r#"["user"]"#, r#""root""#]);
    ok(c);
    let mut c = sb.kvsops();
    key_env(&mut c, &["key1.txt"]);
    c.args(["rotate", "-i", "--add-age", &recipient(2)]).arg(&f);
    ok(c);
    let plain: serde_json::Value = serde_json::from_str(&sops_decrypt(&sb, &f, &["key2.txt"])).unwrap();
    assert_eq!(plain, serde_json::json!({"password": "changed", "user": "root", "n": 5}));
}
