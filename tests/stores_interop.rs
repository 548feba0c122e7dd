//! The JSON, dotenv, INI and binary stores against the real sops 3.11: fixtures it wrote, files
//! kvsops writes that it must decrypt (MAC checked), files it writes that kvsops must decrypt,
//! byte-identical round trips of testdata/, tamper detection and the Flux markers.
//!
//! The encrypt/decrypt walk is the library's own (`ops::encrypt_documents` / `decrypt_documents`)
//! with an age key, so these tests exercise the stores without the command line.
//! Tests that run `sops` are skipped with a notice when it is not on PATH, unless
//! KVSOPS_REQUIRE_INTEROP=1 makes that a failure.

use crate::common;

use kvsops::cipher::{Cipher, DataKey};
use kvsops::error::Error;
use kvsops::keys::{age as agekeys, MasterKeyEntry};
use kvsops::mac;
use kvsops::metadata::{has_sops_key, Metadata};
use kvsops::rules::CryptRule;
use kvsops::stores::binary::BinaryStore;
use kvsops::stores::dotenv::{has_metadata_keys, DotenvStore};
use kvsops::stores::ini::IniStore;
use kvsops::stores::json::JsonStore;
use kvsops::stores::Store;
use kvsops::tree::{Leaf, MapItem, Mapping, Node, Scalar, Value};

use common::{have, key1_file, Sandbox};

/// The bytes of a fixture sops 3.11 wrote (testdata/sops-3.11/).
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::testdata("sops-3.11").join(name)).unwrap()
}

/// The bytes of a file under testdata/.
fn testdata(rel: &str) -> Vec<u8> {
    std::fs::read(common::testdata(rel)).unwrap()
}

fn recipient() -> String {
    common::recipient_of(&key1_file())
}

fn identities() -> Vec<age::x25519::Identity> {
    agekeys::parse_identities(&std::fs::read_to_string(key1_file()).unwrap(), "key1.txt").unwrap()
}

/// Encrypts like ops: load_plain, refuse metadata, walk, MAC, metadata, emit with the source.
fn encrypt_with(store: &dyn Store, input: &[u8], rule: Option<CryptRule>, key: &DataKey) -> Vec<u8> {
    let mut docs = store.load_plain(input).unwrap();
    for d in &docs {
        assert!(!has_sops_key(&d.root) && !has_metadata_keys(&d.root), "plaintext already has metadata");
    }
    let effective = kvsops::rules::effective(rule.as_ref());
    let mut cipher = Cipher::new(key.clone());
    let mac_hex = kvsops::ops::encrypt_documents(&mut docs, &effective, false, &mut cipher).unwrap();
    let r = agekeys::parse_recipient(&recipient()).unwrap();
    let entry =
        MasterKeyEntry::Age { recipient: recipient(), enc: agekeys::encrypt_armored(&r, key.as_bytes()).unwrap() };
    let mut md = Metadata::new(vec![vec![entry]], None, rule, false);
    md.mac = mac::encrypt_mac(&mut cipher, &mac_hex, md.lastmodified);
    store.emit_encrypted(&docs, &md, Some(input)).unwrap()
}

fn encrypt(store: &dyn Store, input: &[u8]) -> Vec<u8> {
    encrypt_with(store, input, None, &DataKey::generate())
}

/// Decrypts like ops: load_encrypted, open the age key, walk, check the MAC, emit with the source.
fn decrypt(store: &dyn Store, input: &[u8]) -> Result<Vec<u8>, Error> {
    let (docs, _) = decrypt_docs(store, input)?;
    store.emit_plain(&docs, Some(input))
}

fn decrypt_docs(store: &dyn Store, input: &[u8]) -> Result<(Vec<kvsops::tree::Document>, Metadata), Error> {
    let f = store.load_encrypted(input)?;
    let enc = f.metadata.key_groups[0]
        .iter()
        .find_map(|e| match e {
            MasterKeyEntry::Age { enc, .. } => Some(enc.clone()),
            _ => None,
        })
        .unwrap();
    let key = DataKey::from_slice(&agekeys::decrypt_armored(&enc, &identities()).unwrap()).unwrap();
    let mut cipher = Cipher::new(key);
    let mut docs = f.documents;
    let computed = kvsops::ops::decrypt_documents(&mut docs, &f.metadata, &mut cipher)?;
    kvsops::ops::verify_mac(&f.metadata, &mut cipher, &computed)?;
    Ok((docs, f.metadata))
}

// ---------------------------------------------------------------------------------------------
// The real sops

struct SopsRun {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// The real sops on `content` (written to `file_name` in a fresh sandbox), with key1.
fn sops(args: &[&str], content: &[u8], file_name: &str) -> SopsRun {
    let sb = Sandbox::new();
    let path = sb.write(file_name, content);
    let out = sb.sops().args(args).arg(&path).env("SOPS_AGE_KEY_FILE", key1_file()).output().unwrap();
    SopsRun {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sops_decrypt(content: &[u8], kind: &str) -> SopsRun {
    sops(&["decrypt", "--input-type", kind, "--output-type", kind], content, "f.enc")
}

fn sops_encrypt(content: &[u8], kind: &str) -> Vec<u8> {
    let r = recipient();
    let run = sops(&["encrypt", "--age", &r, "--input-type", kind, "--output-type", kind], content, "f.plain");
    assert_eq!(run.code, 0, "sops encrypt failed: {}", run.stderr);
    run.stdout
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Fixtures written by sops

fn get<'a>(m: &'a Mapping, path: &[&str]) -> &'a Node {
    let mut node = m.get(path[0]).unwrap_or_else(|| panic!("{}", path[0]));
    for p in &path[1..] {
        node = match node {
            Node::Map(m) => m.get(p).unwrap_or_else(|| panic!("{p}")),
            _ => panic!("{p}"),
        };
    }
    node
}

fn scalar(m: &Mapping, path: &[&str]) -> Value {
    match get(m, path) {
        Node::Scalar(s) => s.value.clone(),
        other => panic!("{path:?}: {other:?}"),
    }
}

#[test]
fn json_fixtures_decrypt_with_values_and_metadata() {
    let store = JsonStore::new(None);
    let (docs, md) = decrypt_docs(&store, &fixture("t2.enc.json")).unwrap();
    let root = &docs[0].root;
    assert_eq!(scalar(root, &["s"]), Value::Str("x".into()));
    assert_eq!(scalar(root, &["i"]), Value::Float(1.0)); // sops 3.11 wrote type:float
    assert_eq!(scalar(root, &["big"]), Value::Float(12345678901234567000.0));
    assert_eq!(scalar(root, &["b"]), Value::Bool(true));
    assert_eq!(scalar(root, &["n"]), Value::Null);
    assert_eq!(scalar(root, &["e"]), Value::Str("".into()));
    assert_eq!(scalar(root, &["o", "k_unencrypted"]), Value::Int(2));
    assert_eq!(md.version, "3.11.0");
    assert_eq!(md.effective_rule(), CryptRule::default_rule());
    assert_eq!(md.lastmodified, kvsops::timefmt::parse_rfc3339("2026-11-23T22:55:40Z").unwrap());
    let out = decrypt(&store, &fixture("t2.enc.json")).unwrap();
    assert_eq!(
        text(&out),
        "{\n\t\"s\": \"x\",\n\t\"i\": 1,\n\t\"f\": 1.5,\n\t\"big\": 12345678901234567000,\n\t\"b\": true,\n\t\"n\": null,\n\t\"e\": \"\",\n\t\"arr\": [\n\t\t1,\n\t\t\"two\",\n\t\t[\n\t\t\t3\n\t\t]\n\t],\n\t\"o\": {\n\t\t\"k\": \"v\",\n\t\t\"k_unencrypted\": 2\n\t},\n\t\"eo\": {},\n\t\"ea\": []\n}\n"
    );
    let out = decrypt(&store, &fixture("h.enc.json")).unwrap();
    assert_eq!(
        text(&out),
        "{\n\t\"pub_unencrypted\": \"a\\u003cb\\u0026c\\u003eé\\u2028\",\n\t\"k\": \"v\",\n\t\"n_unencrypted\": 1,\n\t\"e_unencrypted\": 1e+21,\n\t\"x_unencrypted\": 1.5e-7\n}\n"
    );
    // Fresh emission (no source) gives the same bytes as sops.
    let (docs, _) = decrypt_docs(&store, &fixture("h.enc.json")).unwrap();
    assert_eq!(store.emit_plain(&docs, None).unwrap(), out);
    assert!(store.has_marker(&fixture("t2.enc.json")) && !store.has_marker(&fixture("t2.json")));
}

#[test]
fn dotenv_ini_binary_fixtures_decrypt() {
    let out = decrypt(&DotenvStore, &fixture("t.enc.env")).unwrap();
    assert_eq!(out, fixture("t.env"));
    let (_, md) = decrypt_docs(&DotenvStore, &fixture("t.enc.env")).unwrap();
    assert_eq!(md.key_groups[0].len(), 1);
    assert!(DotenvStore.has_marker(&fixture("t.enc.env")) && !DotenvStore.has_marker(&fixture("t.env")));

    let (docs, md) = decrypt_docs(&IniStore, &fixture("t.enc.ini")).unwrap();
    assert_eq!(scalar(&docs[0].root, &["sec1", "key2"]), Value::Str("2".into()));
    assert_eq!(scalar(&docs[0].root, &["sec2", "k"]), Value::Str("v".into()));
    assert_eq!(md.version, "3.11.0");
    let out = decrypt(&IniStore, &fixture("t.enc.ini")).unwrap();
    assert_eq!(text(&out), "[sec1]\n; c1\nkey1 = value1\nkey2 = 2\n\n[sec2]\n; not a comment?\nk = v\n");
    assert!(IniStore.has_marker(&fixture("t.enc.ini")) && !IniStore.has_marker(&fixture("t.ini")));

    let store = BinaryStore::new(None);
    let (_, md) = decrypt_docs(&store, &fixture("bin.enc")).unwrap();
    assert_eq!(md.rule, None);
    assert_eq!(decrypt(&store, &fixture("bin.enc")).unwrap(), fixture("bin.dat"));
}

#[test]
fn fixture_decryptions_match_sops_byte_for_byte() {
    if !have("sops") {
        return;
    }
    let cases: [(&dyn Store, &str, &str); 5] = [
        (&JsonStore::new(None), "t2.enc.json", "json"),
        (&JsonStore::new(None), "h.enc.json", "json"),
        (&DotenvStore, "t.enc.env", "dotenv"),
        (&IniStore, "t.enc.ini", "ini"),
        (&BinaryStore::new(None), "bin.enc", "binary"),
    ];
    for (store, name, kind) in cases {
        let run = sops_decrypt(&fixture(name), kind);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(text(&decrypt(store, &fixture(name)).unwrap()), text(&run.stdout), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Layout round trips

#[test]
fn json_testdata_round_trips_byte_for_byte() {
    let store = JsonStore::new(None);
    for name in ["json/nested.json", "json/compact.json", "json/tabs.json", "json/empty.json"] {
        let plain = testdata(name);
        let enc = encrypt(&store, &plain);
        assert!(text(&enc).contains("\"mac\": \"ENC["), "{name}: marker");
        assert!(store.has_marker(&enc));
        assert_eq!(text(&decrypt(&store, &enc).unwrap()), text(&plain), "{name}");
    }
}

#[test]
fn dotenv_testdata_round_trips_byte_for_byte() {
    for name in ["dotenv/app.env", "dotenv/nonewline.env"] {
        let plain = testdata(name);
        let enc = encrypt(&DotenvStore, &plain);
        assert!(text(&enc).contains("\nsops_mac=ENC["), "{name}: marker");
        assert_eq!(text(&decrypt(&DotenvStore, &enc).unwrap()), text(&plain), "{name}");
    }
}

#[test]
fn ini_canonical_testdata_round_trips_byte_for_byte() {
    let plain = testdata("ini/app.ini");
    let enc = encrypt(&IniStore, &plain);
    assert!(text(&enc).contains("\n[sops]\n"));
    assert_eq!(text(&decrypt(&IniStore, &enc).unwrap()), text(&plain));
}

#[test]
fn binary_random_bytes_round_trip() {
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend_from_slice(b"\0\xff\xfe not utf-8 \xc3\x28");
    let store = BinaryStore::new(None);
    let enc = encrypt(&store, &data);
    assert!(text(&enc).contains("\"mac\": \"ENC["));
    assert!(!text(&enc).contains("unencrypted_suffix"));
    assert_eq!(decrypt(&store, &enc).unwrap(), data);
}

#[test]
fn old_json_layout_with_null_lists_and_no_final_newline_reads() {
    let store = JsonStore::new(None);
    let plain = testdata("json/tabs.json");
    let enc = text(&encrypt(&store, &plain));
    // Rewrite the metadata as sops 3.7.3 wrote it: every key list present (null), no newline.
    let old = enc
        .replacen("\t\t\"age\": [", "\t\t\"kms\": null,\n\t\t\"gcp_kms\": null,\n\t\t\"azure_kv\": null,\n\t\t\"hc_vault\": null,\n\t\t\"age\": [", 1)
        .replacen("\t\t\"unencrypted_suffix\"", "\t\t\"pgp\": null,\n\t\t\"unencrypted_suffix\"", 1)
        .replace("\"version\": \"3.11.0\"", "\"version\": \"3.7.3\"");
    let old = old.trim_end_matches('\n');
    assert!(old.contains("\"pgp\": null") && old.contains("\"kms\": null"));
    let (docs, md) = decrypt_docs(&store, old.as_bytes()).unwrap();
    assert_eq!(md.version, "3.7.3");
    assert_eq!(scalar(&docs[0].root, &["data", "password"]), Value::Str("hunter2".into()));
    // The layout is kept: no final newline in, none out.
    assert_eq!(text(&decrypt(&store, old.as_bytes()).unwrap()), text(&plain).trim_end_matches('\n'));
    if have("sops") {
        let run = sops_decrypt(old.as_bytes(), "json");
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(text(&run.stdout), text(&plain));
    }
}

#[test]
fn float_shamir_threshold_in_dotenv_and_ini_reads() {
    let env = text(&encrypt(&DotenvStore, b"A=1\n")) + "sops_shamir_threshold=1.0\n";
    let (_, md) = decrypt_docs(&DotenvStore, env.as_bytes()).unwrap();
    assert_eq!(md.shamir_threshold, Some(1));
    let ini = text(&encrypt(&IniStore, b"[s]\na = 1\n")).replace("[sops]\n", "[sops]\nshamir_threshold = 1.0\n");
    let (_, md) = decrypt_docs(&IniStore, ini.as_bytes()).unwrap();
    assert_eq!(md.shamir_threshold, Some(1));
}

// ---------------------------------------------------------------------------------------------
// kvsops -> sops

/// kvsops encrypts, sops decrypts with the MAC checked; the result equals `expected`.
fn sops_reads(store: &dyn Store, kind: &str, plain: &[u8], expected: &[u8]) {
    let enc = encrypt(store, plain);
    let run = sops_decrypt(&enc, kind);
    assert_eq!(run.code, 0, "sops decrypt of kvsops {kind} output failed: {}\n{}", run.stderr, text(&enc));
    assert_eq!(text(&run.stdout), text(expected), "{kind}");
}

#[test]
fn sops_decrypts_what_kvsops_writes() {
    if !have("sops") {
        return;
    }
    let json = JsonStore::new(None);
    for name in ["json/nested.json", "json/compact.json", "json/tabs.json", "json/empty.json"] {
        let plain = testdata(name);
        // sops writes JSON fresh: kvsops's fresh emission of the same tree is the expectation.
        let expected = json.emit_plain(&json.load_plain(&plain).unwrap(), None).unwrap();
        sops_reads(&json, "json", &plain, &expected);
    }
    // Integers above 2^53 survive (type:int), and sops prints them exactly.
    let enc = encrypt(&json, b"{\"id\": 9007199254740993, \"f\": 0.1}");
    assert!(text(&enc).contains("type:int]"));
    assert_eq!(text(&sops_decrypt(&enc, "json").stdout), "{\n\t\"id\": 9007199254740993,\n\t\"f\": 0.1\n}\n");

    // dotenv: sops drops blank lines, otherwise the same bytes.
    let plain = testdata("dotenv/app.env");
    let expected: Vec<u8> =
        text(&plain).split('\n').filter(|l| !l.is_empty()).flat_map(|l| format!("{l}\n").into_bytes()).collect();
    sops_reads(&DotenvStore, "dotenv", &plain, &expected);

    let plain = testdata("ini/app.ini");
    sops_reads(&IniStore, "ini", &plain, &plain);

    let mut data: Vec<u8> = (0..=255u8).rev().collect();
    data.extend_from_slice(b"\0\xc3\x28\n");
    sops_reads(&BinaryStore::new(None), "binary", &data, &data);
}

// ---------------------------------------------------------------------------------------------
// sops -> kvsops

#[test]
fn kvsops_decrypts_what_sops_writes() {
    if !have("sops") {
        return;
    }
    let cases: [(&dyn Store, &str, Vec<u8>); 6] = [
        (&JsonStore::new(None), "json", testdata("json/nested.json")),
        (&JsonStore::new(None), "json", testdata("json/compact.json")),
        (&DotenvStore, "dotenv", testdata("dotenv/app.env")),
        (&IniStore, "ini", testdata("ini/app.ini")),
        (&IniStore, "ini", fixture("t.ini")),
        (&BinaryStore::new(None), "binary", b"\0\x01\xff\xfebinary\n".to_vec()),
    ];
    for (store, kind, plain) in cases {
        let enc = sops_encrypt(&plain, kind);
        let ours = decrypt(store, &enc).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let theirs = sops_decrypt(&enc, kind);
        assert_eq!(theirs.code, 0, "{}", theirs.stderr);
        assert_eq!(text(&ours), text(&theirs.stdout), "{kind}");
        assert_eq!(ours, theirs.stdout, "{kind}");
        // Re-encrypting sops's file with kvsops (rotate-like, source kept) still reads in sops.
        let (docs, _) = decrypt_docs(store, &enc).unwrap();
        let fresh = store.emit_plain(&docs, None).unwrap();
        assert_eq!(fresh, theirs.stdout, "{kind}: fresh emission");
    }
}

// ---------------------------------------------------------------------------------------------
// Tampering

/// Replaces the ENC value at `aad` (a top-level key `key`) with one of another plaintext under the
/// same data key and path: every value still decrypts, only the MAC can tell.
fn tamper(store: &dyn Store, plain: &[u8], key_name: &str, aad: &str, kind: &str) {
    let key = DataKey::generate();
    let enc = text(&encrypt_with(store, plain, None, &key));
    let f = store.load_encrypted(enc.as_bytes()).unwrap();
    let root = &f.documents[0].root;
    let original = match key_name.split_once('.') {
        Some((a, b)) => scalar(root, &[a, b]),
        None => scalar(root, &[key_name]),
    };
    let Value::Str(original) = original else { panic!() };
    let forged = Cipher::new(key).encrypt_leaf(&Leaf::Scalar(Scalar::str("forged")), aad);
    let tampered = enc.replacen(&original, &forged, 1);
    assert_ne!(tampered, enc);
    match decrypt(store, tampered.as_bytes()) {
        Err(Error::MacMismatch { .. }) => {}
        other => panic!("{kind}: expected a MAC mismatch, got {:?}", other.map(|b| text(&b))),
    }
    if have("sops") {
        let run = sops_decrypt(tampered.as_bytes(), kind);
        assert_eq!(run.code, 51, "{kind}: {}", run.stderr);
    }
}

#[test]
fn tampering_is_detected_by_the_mac_in_every_format() {
    tamper(&JsonStore::new(None), b"{\"a\": \"x\", \"b\": 1}", "a", "a:", "json");
    tamper(&DotenvStore, b"A=x\nB=y\n", "A", "A:", "dotenv");
    tamper(&IniStore, b"[s]\na = x\n", "s.a", "s:a:", "ini");
    tamper(&BinaryStore::new(None), b"payload", "data", "data:", "binary");
}

#[test]
fn plaintexts_with_metadata_are_detectable() {
    let docs = JsonStore::new(None).load_plain(&fixture("t2.enc.json")).unwrap();
    assert!(has_sops_key(&docs[0].root));
    let docs = DotenvStore.load_plain(&fixture("t.enc.env")).unwrap();
    assert!(has_metadata_keys(&docs[0].root));
    let docs = IniStore.load_plain(&fixture("t.enc.ini")).unwrap();
    assert!(has_sops_key(&docs[0].root));
    assert!(docs[0].root.items.iter().all(|i| matches!(i, MapItem::Entry(_))));
}
