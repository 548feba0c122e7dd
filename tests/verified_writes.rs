//! Verified writes: when the bytes a command produced do not read back to what it meant to write,
//! nothing is written, the exit code is 70 and the message names the file and the key path (never
//! a value). The fault is injected with `KVSOPS_DEBUG_CORRUPT_OUTPUT=FROM=>TO`, which debug builds
//! (the ones tests run) apply to the output just before it is read back, as a store bug would.

use crate::common;

use std::process::Command;

use common::*;

const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: hunter2-very-secret\n";

fn with_key(mut c: Command) -> Command {
    c.env("SOPS_AGE_KEY_FILE", key1_file());
    c
}

fn corrupt(mut c: Command, fault: &str) -> Command {
    c.env("KVSOPS_DEBUG_CORRUPT_OUTPUT", fault);
    c
}

/// `encrypt -i` of a Secret whose `metadata.name` stays in the clear.
fn encrypt_in_place(sb: &Sandbox, f: &std::path::Path) -> Command {
    let mut c = sb.kvsops();
    c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT, "--encrypted-regex", "^stringData$"]).arg(f);
    c
}

/// An encrypted Secret whose `metadata.name` stays in the clear.
fn encrypted(sb: &Sandbox) -> std::path::PathBuf {
    let f = sb.write("s.yaml", SECRET);
    ok(encrypt_in_place(sb, &f));
    f
}

/// Runs a command that must be refused by the check; returns its stderr.
fn refused(c: Command, file: &std::path::Path) -> String {
    let before = std::fs::read(file).unwrap();
    let out = fails(c);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(70), "{stderr}");
    assert_eq!(std::fs::read(file).unwrap(), before, "the file is untouched");
    assert!(out.stdout.is_empty(), "nothing on stdout either");
    assert!(
        stderr.contains(&format!("{}: kvsops produced output that does not read back", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written. This is a kvsops bug: please report it"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "no value in the message: {stderr}");
    stderr
}

#[test]
fn encrypt_in_place_refuses_output_that_reads_back_different() {
    let sb = Sandbox::new();
    let f = sb.write("s.yaml", SECRET);
    let stderr = refused(corrupt(encrypt_in_place(&sb, &f), "name: s=>name: t"), &f);
    assert!(stderr.contains(r#"at key path ["metadata"]["name"]: "#), "{stderr}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), SECRET);
}

#[test]
fn decrypt_in_place_to_stdout_and_to_another_format_refuse_too() {
    let sb = Sandbox::new();
    let f = encrypted(&sb);
    let mut c = with_key(sb.kvsops());
    c.args(["decrypt", "-i"]).arg(&f);
    let stderr = refused(corrupt(c, "hunter2-very-secret=>hunter2-very-secreT"), &f);
    assert!(stderr.contains(r#"["stringData"]["password"]"#), "{stderr}");

    let mut c = with_key(sb.kvsops());
    c.arg("decrypt").arg(&f);
    refused(corrupt(c, "hunter2-very-secret=>hunter2-very-secreT"), &f);

    let out = sb.path().join("out.json");
    let mut c = with_key(sb.kvsops());
    c.args(["decrypt", "--output-type", "json", "--output"]).arg(&out).arg(&f);
    refused(corrupt(c, "\"name\": \"s\"=>\"name\": 1"), &f);
    assert!(!out.exists(), "--output is not created");
}

#[test]
fn set_unset_and_rotate_refuse_too() {
    let sb = Sandbox::new();
    let f = encrypted(&sb);
    let mut c = with_key(sb.kvsops());
    c.args(["set"]).arg(&f).args([r#"["stringData"]["user"]"#, r#""admin""#]);
    let stderr = refused(corrupt(c, "name: s=>name: t"), &f);
    assert!(stderr.contains(r#"["metadata"]["name"]"#), "{stderr}");

    let mut c = with_key(sb.kvsops());
    c.args(["unset"]).arg(&f).arg(r#"["stringData"]["password"]"#);
    refused(corrupt(c, "kind: Secret=>kind: Secrets"), &f);

    let mut c = with_key(sb.kvsops());
    c.args(["rotate", "-i"]).arg(&f);
    refused(corrupt(c, "version: 3.11.0=>version: 3.11.1"), &f);
}

#[test]
fn without_a_fault_every_command_writes() {
    let sb = Sandbox::new();
    let f = encrypted(&sb);
    for args in [vec!["rotate", "-i"], vec!["decrypt", "-i"]] {
        let mut c = with_key(sb.kvsops());
        c.args(&args).arg(&f);
        ok(c);
    }
    assert_eq!(std::fs::read_to_string(&f).unwrap(), SECRET);
}
