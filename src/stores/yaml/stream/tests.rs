//! The one-pass path must write exactly what the tree path writes. These tests run both on the
//! same inputs through the public operations: a store that hides its fast path gives the tree
//! path's output, the real store the one-pass output.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::recognise;
use crate::keys::Keyring;
use crate::ops::testkit::{assert_decrypts_alike, keyring_with, params_key1, TreeOnly};
use crate::rules::{CryptRule, RuleKind};
use crate::stores::yaml::YamlStore;
use crate::stores::Store;

fn rules() -> Vec<(Option<CryptRule>, bool)> {
    let rule = |kind, text: &str| Some(CryptRule::new(kind, text).expect("rule"));
    vec![
        (None, false),
        (rule(RuleKind::EncryptedRegex, "^(data|stringData)$"), false),
        (rule(RuleKind::EncryptedRegex, "^(data|stringData)$"), true),
        (rule(RuleKind::UnencryptedRegex, "^(apiVersion|kind|name)$"), false),
        (rule(RuleKind::EncryptedSuffix, "_secret"), true),
    ]
}

/// Everything up to the metadata block, with the random part of each ENC value removed.
fn masked_body(out: &[u8]) -> String {
    let text = String::from_utf8(out.to_vec()).expect("utf-8");
    let body = match text.find("\nsops:\n") {
        Some(i) => &text[..i + 1],
        None => text.strip_prefix("sops:\n").map_or(text.as_str(), |_| ""),
    };
    let mut masked = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("ENC[") {
        masked.push_str(&rest[..i]);
        let end = rest[i..].find(']').map_or(rest.len(), |j| i + j + 1);
        let ty = rest[i..end].rsplit("type:").next().unwrap_or("");
        masked.push_str(&format!("ENC<{ty}"));
        rest = &rest[end..];
    }
    masked.push_str(rest);
    masked
}

/// Checks both paths on one plaintext: encryption writes the same bytes but for the random
/// parts, each path decrypts the other's file, and decryption writes the same bytes.
fn assert_paths_agree(name: &str, plain: &[u8], kr: &Keyring) {
    let fast = YamlStore::new(4);
    let tree = TreeOnly(YamlStore::new(4));
    assert!(fast.streamed(plain).is_some(), "{name}: expected the one-pass path to accept it");
    for (rule, mac_only) in rules() {
        let p = params_key1(rule.clone(), mac_only);
        let enc_tree = crate::ops::encrypt::encrypt_bytes(plain, &tree, &tree, &p, kr);
        let enc_fast = crate::ops::encrypt::encrypt_bytes(plain, &fast, &fast, &p, kr);
        let (enc_tree, enc_fast) = match (enc_tree, enc_fast) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{name}: different errors");
                continue;
            }
            (a, b) => panic!("{name} {rule:?}: tree {:?} vs one-pass {:?}", a.err(), b.err()),
        };
        assert_eq!(masked_body(&enc_fast), masked_body(&enc_tree), "{name} {rule:?} mac_only={mac_only}");
        for enc in [&enc_tree, &enc_fast] {
            assert!(fast.streamed(enc).is_some(), "{name}: the encrypted file should be simple too");
            let dec_tree =
                crate::ops::decrypt::decrypt_bytes(enc, &tree, &tree, kr, Default::default()).expect("tree decrypt");
            let dec_fast =
                crate::ops::decrypt::decrypt_bytes(enc, &fast, &fast, kr, Default::default()).expect("fast decrypt");
            assert_eq!(String::from_utf8_lossy(&dec_fast), String::from_utf8_lossy(&dec_tree), "{name} {rule:?}");
            // Values spelled canonically come back byte for byte (`08` comes back as `8.0` on
            // both paths: the ENC value holds the float, not its spelling).
            if !VALUES.iter().any(|v| NON_CANONICAL.contains(v) && contains_value(plain, v)) {
                assert_eq!(String::from_utf8_lossy(&dec_fast), String::from_utf8_lossy(plain), "{name}: round trip");
            }
        }
    }
}

/// A value that is a plain scalar in a simple file, of every type go-yaml resolves.
const VALUES: &[&str] = &[
    "hello",
    "hello world",
    "admin",
    "p@ss-w0rd!",
    "a:b",
    "a,b",
    "x[0]",
    "x{y}",
    "1",
    "-7",
    "+3",
    "0",
    "0x1F",
    "0o17",
    "0755",
    "08",
    "1_000",
    "1e10",
    "3.25",
    ".5",
    "-.inf",
    ".nan",
    "true",
    "false",
    "True",
    "yes",
    "on",
    "null",
    "~",
    "2024-01-02",
    "2024-01-02T03:04:05Z",
    "2024-02-30",
    "3.11.0",
    "-x",
    "é",
    "naïve ünïcode",
    "a'b",
    "a\"b",
    "50%",
    "a\\b",
    "$HOME",
    "(x)",
    "~x",
    "=",
    "/path/to",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "ENC[AES256_GCM,data:bm90IHJlYWw=,iv:x,tag:y,type:str]",
];

/// Values that read back as the same typed value but are written back in another spelling.
/// (`yes`, `on`: YAML 1.1 booleans, quoted as go-yaml writes them.)
const NON_CANONICAL: &[&str] =
    &["+3", "0x1F", "0o17", "0755", "08", "1_000", "1e10", ".5", "True", "yes", "on", "~", "2024-01-02T03:04:05Z"];

fn contains_value(text: &[u8], v: &str) -> bool {
    String::from_utf8_lossy(text).lines().any(|l| l.ends_with(&format!(": {v}")))
}

const KEYS: &[&str] = &[
    "data",
    "stringData",
    "password",
    "user_unencrypted",
    "token_secret",
    "name",
    "kind",
    "apiVersion",
    "a",
    "b.c",
    "x-y",
    "key_12",
    ".dockerconfigjson",
    "with space",
    "sops_x",
    "tls.crt",
    "k8s/app",
    "e@mail",
    "x~",
    "a+b",
];

fn gen_mapping(rng: &mut StdRng, out: &mut String, indent: usize, depth: usize) {
    let step = rng.gen_range(1..=4);
    let n = rng.gen_range(1..=6);
    let mut used = std::collections::HashSet::new();
    for _ in 0..n {
        let key = KEYS[rng.gen_range(0..KEYS.len())];
        if !used.insert(key) || (indent == 0 && key == "sops") {
            continue;
        }
        if rng.gen_bool(0.1) {
            out.push('\n');
        }
        out.push_str(&" ".repeat(indent));
        out.push_str(key);
        out.push(':');
        if depth < 3 && rng.gen_bool(0.3) {
            out.push('\n');
            gen_mapping(rng, out, indent + step, depth + 1);
        } else if rng.gen_bool(0.05) {
            out.push('\n');
        } else {
            out.push(' ');
            out.push_str(VALUES[rng.gen_range(0..VALUES.len())]);
            out.push('\n');
        }
    }
}

#[test]
fn generated_simple_files_give_the_same_bytes_on_both_paths() {
    let kr = keyring_with(&[1]);
    let mut rng = StdRng::seed_from_u64(7);
    let mut checked = 0;
    for i in 0..60 {
        let mut text = String::new();
        gen_mapping(&mut rng, &mut text, 0, 0);
        // Integers beyond i64 and non-string keys are the tree path's errors: not simple.
        if recognise(&text, 4).is_none() {
            assert!(text.contains("99999999999999999999"), "file {i} should be simple:\n{text}");
            continue;
        }
        assert_paths_agree(&format!("generated file {i}"), text.as_bytes(), &kr);
        checked += 1;
    }
    assert!(checked > 40, "only {checked} generated files were simple");
}

#[test]
fn a_large_secret_gives_the_same_bytes_on_both_paths() {
    let kr = keyring_with(&[1]);
    let mut text = String::from("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\ntype: Opaque\nstringData:\n");
    for i in 0..2000 {
        text.push_str(&format!("  key_{i:05}: value-{i}-{}\n", "x".repeat(i % 50)));
    }
    assert_paths_agree("large secret", text.as_bytes(), &kr);
}

#[test]
fn files_written_by_sops_decrypt_the_same_on_both_paths() {
    let kr = keyring_with(&[1, 2, 3]);
    let fast = YamlStore::new(4);
    let tree = TreeOnly(YamlStore::new(4));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sops-3.11");
    let mut simple = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") || !path.to_string_lossy().contains(".enc.") {
            continue;
        }
        let input = std::fs::read(&path).expect("read");
        if fast.streamed(&input).is_none() {
            continue;
        }
        simple += 1;
        assert_decrypts_alike(&path.display().to_string(), &input, &fast, &tree, &kr);
    }
    assert!(simple >= 1, "no fixture took the one-pass path");
}

#[test]
fn every_simple_file_under_testdata_gives_the_same_bytes_on_both_paths() {
    let kr = keyring_with(&[1]);
    let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")];
    let fast = YamlStore::new(4);
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("testdata") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let is_yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
            let input = std::fs::read(&path).expect("read");
            if !is_yaml || crate::stores::contains(&input, b"sops:") || fast.streamed(&input).is_none() {
                continue;
            }
            assert_paths_agree(&path.display().to_string(), &input, &kr);
        }
    }
}

#[test]
fn tampering_and_wrong_keys_fail_the_same_way_on_both_paths() {
    let kr = keyring_with(&[1]);
    let fast = YamlStore::new(4);
    let tree = TreeOnly(YamlStore::new(4));
    let plain = b"stringData:\n    password: hunter2\n    user: admin\n";
    let enc = crate::ops::encrypt::encrypt_bytes(plain, &fast, &fast, &params_key1(None, false), &kr).expect("encrypt");
    let text = String::from_utf8(enc).expect("utf-8");
    // Another value's ENC string in place of the password's: authentication fails at its path.
    let lines: Vec<&str> = text.lines().collect();
    let swapped = text.replacen(
        lines[1].trim_start().split_once(": ").expect("entry").1,
        lines[2].trim_start().split_once(": ").expect("entry").1,
        1,
    );
    // A value changed in the clear: the MAC no longer matches.
    let unencrypted = text.replacen("stringData:", "stringData_unencrypted:", 1);
    for bad in [swapped, unencrypted] {
        let a = crate::ops::decrypt::decrypt_bytes(bad.as_bytes(), &tree, &tree, &kr, Default::default())
            .expect_err("tree");
        let b = crate::ops::decrypt::decrypt_bytes(bad.as_bytes(), &fast, &fast, &kr, Default::default())
            .expect_err("fast");
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(a.exit_code(), b.exit_code());
    }
    let wrong = keyring_with(&[2]);
    let a = crate::ops::decrypt::decrypt_bytes(text.as_bytes(), &tree, &tree, &wrong, Default::default())
        .expect_err("tree");
    let b = crate::ops::decrypt::decrypt_bytes(text.as_bytes(), &fast, &fast, &wrong, Default::default())
        .expect_err("fast");
    assert_eq!(a.exit_code(), b.exit_code());
}

#[test]
fn only_simple_files_are_recognised() {
    let simple = "a: 1\nb:\n  c: x y\n\n  d: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\ne:\n";
    assert!(recognise(simple, 4).is_some());
    let not_simple = [
        ("a comment", "a: 1 # note\n"),
        ("a comment line", "# note\na: 1\n"),
        ("a sequence", "a:\n  - x\n"),
        ("a sequence at the key's indentation", "a:\n- x\n"),
        ("a flow mapping", "a: {b: 1}\n"),
        ("a flow sequence", "a: [1, 2]\n"),
        ("single quotes", "a: 'x'\n"),
        ("double quotes", "a: \"x\"\n"),
        ("a literal block", "a: |\n  x\n"),
        ("a folded block", "a: >\n  x\n"),
        ("an anchor", "a: &x 1\nb: *x\n"),
        ("a tag", "a: !!str 1\n"),
        ("a tab", "a:\t1\n"),
        ("CRLF", "a: 1\r\n"),
        ("no final line break", "a: 1"),
        ("a document marker", "---\na: 1\n"),
        ("two documents", "a: 1\n---\nb: 2\n"),
        ("a directive", "%YAML 1.2\n---\na: 1\n"),
        ("a continued plain scalar", "a: x\n  y\n"),
        ("a key without value", "a\n"),
        ("a duplicate key", "a: 1\na: 2\n"),
        ("a non-string key", "1: x\n"),
        ("a boolean key", "true: x\n"),
        ("a quoted key", "'a': x\n"),
        ("a merge key", "<<: x\n"),
        ("an indented root", "  a: 1\n"),
        ("bad indentation", "a:\n    b: 1\n  c: 2\n"),
        ("a colon in a value", "a: b: c\n"),
        ("a value ending with a colon", "a: b:\n"),
        ("trailing blanks", "a: 1 \n"),
        ("an integer beyond i64", "a: 18446744073709551615\n"),
        ("a control character", "a: x\u{7}y\n"),
        ("a line separator", "a: x\u{2028}y\n"),
        ("metadata before data", "sops:\n    version: 3.11.0\na: 1\n"),
        ("only metadata", "sops:\n    version: 3.11.0\n"),
        ("an empty file", ""),
        ("a scalar document", "hello\n"),
    ];
    for (what, text) in not_simple {
        assert!(recognise(text, 4).is_none(), "{what} should not be simple");
    }
}
