//! The one-pass JSON path must write exactly what the tree path writes: both run on the same
//! inputs through the public operations (a store that hides its fast path gives the tree's).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::keys::Keyring;
use crate::ops::testkit::{assert_decrypts_alike, keyring_with, params_key1, TreeOnly};
use crate::rules::{CryptRule, RuleKind};
use crate::stores::json::JsonStore;
use crate::stores::Store;

fn rules() -> Vec<(Option<CryptRule>, bool)> {
    let rule = |kind, text: &str| Some(CryptRule::new(kind, text).expect("rule"));
    vec![
        (None, false),
        (rule(RuleKind::EncryptedRegex, "^(data|secret)$"), true),
        (rule(RuleKind::UnencryptedRegex, "^(id|name)$"), false),
    ]
}

/// The text with the random part of each ENC value removed, and the `sops` member cut off.
fn masked(out: &[u8]) -> String {
    let text = String::from_utf8(out.to_vec()).expect("utf-8");
    let body = text.find("\"sops\": {").map_or(text.as_str(), |i| &text[..i]);
    let mut masked = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("ENC[") {
        masked.push_str(&rest[..i]);
        let end = rest[i..].find(']').map_or(rest.len(), |j| i + j + 1);
        masked.push_str("ENC");
        rest = &rest[end..];
    }
    masked.push_str(rest);
    masked
}

fn assert_paths_agree(name: &str, plain: &[u8], kr: &Keyring) {
    let fast = JsonStore::new(None);
    let tree = TreeOnly(JsonStore::new(None));
    assert!(fast.streamed(plain).is_some(), "{name}: expected the one-pass path to accept it");
    for (rule, mac_only) in rules() {
        let p = params_key1(rule.clone(), mac_only);
        let enc_tree = crate::ops::encrypt::encrypt_bytes(plain, &tree, &tree, &p, kr).expect("tree encrypt");
        let enc_fast = crate::ops::encrypt::encrypt_bytes(plain, &fast, &fast, &p, kr).expect("fast encrypt");
        assert_eq!(masked(&enc_fast), masked(&enc_tree), "{name} {rule:?}");
        for enc in [&enc_tree, &enc_fast] {
            let dec_tree =
                crate::ops::decrypt::decrypt_bytes(enc, &tree, &tree, kr, Default::default()).expect("tree decrypt");
            let dec_fast =
                crate::ops::decrypt::decrypt_bytes(enc, &fast, &fast, kr, Default::default()).expect("fast decrypt");
            assert_eq!(String::from_utf8_lossy(&dec_fast), String::from_utf8_lossy(&dec_tree), "{name} {rule:?}");
        }
    }
}

const SCALARS: &[&str] = &[
    "\"hello\"",
    "\"\"",
    "\"caf\\u00e9 \\\"q\\\" \\n\"",
    "\"ENC[AES256_GCM,data:eA==,iv:x,tag:y,type:str]\"",
    "0",
    "-7",
    "42",
    "1.5",
    "1e3",
    "-0",
    "1.0",
    "12345678901234567",
    "99999999999999999999",
    "true",
    "false",
    "null",
    "\"\\ud800\"",
];
const KEYS: &[&str] = &["data", "secret", "id", "name", "x", "a_unencrypted", "sops_x", "k\\u00e9y", ""];

fn gen_value(rng: &mut StdRng, out: &mut String, depth: usize, indent: &str) {
    match rng.gen_range(0..10) {
        0..=1 if depth < 4 => gen_object(rng, out, depth + 1, indent),
        2 if depth < 4 => {
            out.push('[');
            for i in 0..rng.gen_range(0..4) {
                if i > 0 {
                    out.push_str(", ");
                }
                gen_value(rng, out, depth + 1, indent);
            }
            out.push(']');
        }
        _ => out.push_str(SCALARS[rng.gen_range(0..SCALARS.len())]),
    }
}

fn gen_object(rng: &mut StdRng, out: &mut String, depth: usize, indent: &str) {
    let n = rng.gen_range(0..5);
    if n == 0 {
        out.push_str(if rng.gen_bool(0.5) { "{}" } else { "{ }" });
        return;
    }
    out.push('{');
    for i in 0..n {
        out.push_str(if i > 0 { ",\n" } else { "\n" });
        out.push_str(&indent.repeat(depth + 1));
        let key = KEYS[rng.gen_range(0..KEYS.len())];
        out.push_str(&format!("\"{key}\": "));
        gen_value(rng, out, depth, indent);
    }
    out.push('\n');
    out.push_str(&indent.repeat(depth));
    out.push('}');
}

#[test]
fn generated_files_give_the_same_bytes_on_both_paths() {
    let kr = keyring_with(&[1]);
    let mut rng = StdRng::seed_from_u64(11);
    for i in 0..60 {
        let indent = ["\t", "  ", "    ", ""][i % 4];
        let mut text = String::new();
        gen_object(&mut rng, &mut text, 0, indent);
        if i % 3 == 0 {
            text.push('\n');
        }
        assert_paths_agree(&format!("generated file {i}:\n{text}"), text.as_bytes(), &kr);
    }
}

#[test]
fn files_under_testdata_and_sops_fixtures_give_the_same_bytes_on_both_paths() {
    let kr = keyring_with(&[1, 2, 3]);
    let fast = JsonStore::new(None);
    let tree = TreeOnly(JsonStore::new(None));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut stack = vec![root];
    let (mut plain, mut encrypted) = (0, 0);
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("testdata") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let input = std::fs::read(&path).expect("read");
            if fast.streamed(&input).is_none() {
                continue;
            }
            if fast.has_marker(&input) {
                encrypted += 1;
                assert_decrypts_alike(&path.display().to_string(), &input, &fast, &tree, &kr);
            } else {
                plain += 1;
                assert_paths_agree(&path.display().to_string(), &input, &kr);
            }
        }
    }
    assert!(plain >= 1 && encrypted >= 1, "{plain} plaintext and {encrypted} encrypted JSON files checked");
}

#[test]
fn the_sops_member_is_removed_wherever_it_stands() {
    let kr = keyring_with(&[1]);
    let fast = JsonStore::new(None);
    let tree = TreeOnly(JsonStore::new(None));
    let enc = crate::ops::encrypt::encrypt_bytes(
        b"{\n\t\"a\": \"x\",\n\t\"b\": [1, \"y\"]\n}\n",
        &tree,
        &tree,
        &params_key1(None, false),
        &kr,
    )
    .expect("encrypt");
    let text = String::from_utf8(enc).expect("utf-8");
    // Move the member to the front: the removal range is then from its key to the next key.
    let at = text.find(",\n\t\"sops\": ").expect("sops member");
    let member = &text[at + 3..text.len() - 3];
    let moved = format!("{{\n\t{member},\n\t{}\n}}\n", &text[3..at]);
    for input in [text.clone(), moved] {
        let a =
            crate::ops::decrypt::decrypt_bytes(input.as_bytes(), &tree, &tree, &kr, Default::default()).expect("tree");
        let b =
            crate::ops::decrypt::decrypt_bytes(input.as_bytes(), &fast, &fast, &kr, Default::default()).expect("fast");
        assert_eq!(String::from_utf8_lossy(&b), String::from_utf8_lossy(&a));
    }
}

#[test]
fn broken_or_ambiguous_files_are_left_to_the_tree_path() {
    let fast = JsonStore::new(None);
    for bad in ["", "[1]", "{\"a\": }", "{\"a\": 1} x", "{\"sops\": {}, \"sops\": {}}", "{\"sops\": 1}"] {
        assert!(fast.streamed(bad.as_bytes()).is_none(), "{bad:?}");
    }
    assert!(fast.streamed(b"{\"a\": [1, {\"b\": null}]}").is_some());
}

#[test]
fn a_plaintext_rewritten_without_metadata_keeps_its_text() {
    // Found by the stream_matches_tree fuzz target: an empty root with blank lines inside.
    let fast = JsonStore::new(None);
    for text in ["{\n\n\n}", "{ }", "{\"a\": [1, {\"b\": true}]}\n", "{\n\t\"x\": \"y\"\n}\n"] {
        let file = fast.streamed(text.as_bytes()).expect("streamable");
        let rewritten = file.rewrite(&mut |_, leaf| Ok(leaf)).expect("rewrite").expect("not given up");
        assert_eq!(String::from_utf8(file.finish(rewritten, None).expect("finish")).expect("utf-8"), text);
    }
}
