//! Format conversions and store settings through the command line, judged by the real sops 3.11:
//! - a file encrypted into another format (`--output-type`) decrypts with `sops` to the same
//!   values and types, and kvsops converts it back;
//! - kvsops's *fresh* writers (a decryption into another format, or a conversion while
//!   encrypting) give the bytes `sops` gives for the same file;
//! - `stores.{json,yaml,json_binary}.indent` in `.sops.yaml` changes fresh output as for sops;
//! - binary files (any bytes, also from stdin) and the Flux markers of every format;
//! - dotenv and INI files both ways.
//!
//! Every test runs `sops`; it is skipped with a notice when `sops` is not on PATH, unless
//! KVSOPS_REQUIRE_INTEROP=1 makes that a failure.

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;

/// A command with the test key available for decryption.
fn keyed(mut c: Command) -> Command {
    c.env("SOPS_AGE_KEY_FILE", key1_file());
    c
}

fn kv(sb: &Sandbox, args: &[&str]) -> Vec<u8> {
    let mut c = keyed(sb.kvsops());
    c.args(args);
    ok(c)
}

fn sops(sb: &Sandbox, args: &[&str]) -> Vec<u8> {
    let mut c = keyed(sb.sops());
    c.args(args);
    ok(c)
}

/// Runs a command with `input` on its standard input.
fn with_stdin(mut c: Command, input: &[u8]) -> Output {
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    assert!(out.status.success(), "{:?} failed: {}", c, String::from_utf8_lossy(&out.stderr));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("UTF-8 output")
}

/// kvsops-encrypts `file` (age key 1) with extra flags and writes the result to `out`.
fn kv_encrypt_to(sb: &Sandbox, file: &str, flags: &[&str], out: &str) -> Vec<u8> {
    let mut args = vec!["encrypt", "--age", KEY1_RECIPIENT];
    args.extend_from_slice(flags);
    args.push(file);
    let enc = kv(sb, &args);
    sb.write(out, &enc);
    enc
}

/// sops-encrypts `file` (age key 1) with extra flags and writes the result to `out`.
fn sops_encrypt_to(sb: &Sandbox, file: &str, flags: &[&str], out: &str) -> Vec<u8> {
    let mut args = vec!["encrypt", "--age", KEY1_RECIPIENT];
    args.extend_from_slice(flags);
    args.push(file);
    let enc = sops(sb, &args);
    sb.write(out, &enc);
    enc
}

/// Asserts that both tools decrypt `file` with `flags` to the same bytes and returns them.
fn both_decrypt(sb: &Sandbox, file: &str, flags: &[&str]) -> String {
    let mut args = vec!["decrypt"];
    args.extend_from_slice(flags);
    args.push(file);
    let (k, s) = (text(&kv(sb, &args)), text(&sops(sb, &args)));
    assert_eq!(k, s, "kvsops and sops disagree on `{}`", args.join(" "));
    k
}

/// Encrypted output with everything random or time-dependent blanked, to compare layouts.
fn shape(enc: &[u8]) -> String {
    let t = text(enc);
    let t = regex::Regex::new(r"ENC\[[^\]]*\]").unwrap().replace_all(&t, "ENC");
    let t = regex::Regex::new(r"(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----")
        .unwrap()
        .replace_all(&t, "AGE");
    let t = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap().replace_all(&t, "TIME");
    t.into_owned()
}

const NESTED_YAML: &str = "\
name: demo
n: 42
f: 1.5
ok: true
off: false
nothing: null
list:
  - 1
  - two
  - - nested
    - 3
map:
  inner: x
  deep:
    k: [a, b]
";

/// What sops writes for NESTED_YAML decrypted to YAML (4 spaces, indented lists, quoted keys
/// that YAML 1.1 reads as booleans).
const NESTED_YAML_SOPS: &str = "\
name: demo
\"n\": 42
f: 1.5
ok: true
\"off\": false
nothing: null
list:
    - 1
    - two
    - - nested
      - 3
map:
    inner: x
    deep:
        k:
            - a
            - b
";

#[test]
fn yaml_encrypted_to_json_decrypts_with_sops_and_converts_back_to_yaml() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("s.yaml", NESTED_YAML);
    let enc = kv_encrypt_to(&sb, "s.yaml", &["--output-type", "json"], "s.enc.json");
    let enc_text = text(&enc);
    assert!(enc_text.starts_with("{\n\t\"name\": \"ENC["), "fresh JSON with sops's tab indent:\n{enc_text}");
    assert!(enc_text.contains("\"mac\": \"ENC["));
    assert!(!enc_text.contains("demo"), "values are encrypted");

    let plain: serde_json::Value = serde_json::from_slice(&sops(&sb, &["decrypt", "s.enc.json"])).unwrap();
    assert_eq!(
        plain,
        serde_json::json!({
            "name": "demo", "n": 42, "f": 1.5, "ok": true, "off": false, "nothing": null,
            "list": [1, "two", ["nested", 3]],
            "map": {"inner": "x", "deep": {"k": ["a", "b"]}}
        })
    );
    assert!(plain["n"].is_i64(), "an int stays an int through sops: {}", plain["n"]);
    assert!(plain["list"][0].is_i64());
    assert!(plain["f"].is_f64());

    // Back to YAML: same values and types, and the bytes sops writes.
    let back = both_decrypt(&sb, "s.enc.json", &["--output-type", "yaml"]);
    assert_eq!(back, NESTED_YAML_SOPS);
    // And as JSON, byte for byte with sops.
    let json = both_decrypt(&sb, "s.enc.json", &[]);
    assert!(json.contains("\t\"n\": 42,\n"), "{json}");
}

#[test]
fn json_encrypted_to_yaml_decrypts_like_sops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    // Strings that read as other types in YAML must come back quoted, as sops writes them.
    let json = r#"{"name": "demo", "zip": "01234", "flag": "true", "count": "1", "n": 7, "ok": false,
        "items": [{"a": "x", "b": [1, 2]}, "plain"], "empty": {}, "none": []}"#;
    sb.write("p.json", json);
    let enc = kv_encrypt_to(&sb, "p.json", &["--output-type", "yaml"], "p.enc.yaml");
    assert!(text(&enc).contains("\n    mac: ENC["));
    let plain = both_decrypt(&sb, "p.enc.yaml", &[]);
    assert!(plain.contains("zip: \"01234\"\n"), "{plain}");
    assert!(plain.contains("count: \"1\"\n"), "{plain}");
    // YAML to JSON gives the original values and types.
    let as_json: serde_json::Value =
        serde_json::from_str(&both_decrypt(&sb, "p.enc.yaml", &["--output-type", "json"])).unwrap();
    assert_eq!(as_json, serde_json::from_str::<serde_json::Value>(json).unwrap());

    // sops's own YAML from the same JSON reads the same with kvsops (as JSON: sops types JSON
    // integers as floats, which a YAML output would show).
    sops_encrypt_to(&sb, "p.json", &["--output-type", "yaml"], "p.sops.yaml");
    let from_sops = both_decrypt(&sb, "p.sops.yaml", &["--output-type", "json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&from_sops).unwrap(), as_json);
}

const ENV: &str = "A=1\nB=hello world\n# a comment\nC=multi\\nline\nD=\nURL=https://x.example/?a=1&b=2#frag\n";

#[test]
fn dotenv_encrypted_to_json_and_back_matches_sops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("app.env", ENV);
    let enc = kv_encrypt_to(&sb, "app.env", &["--output-type", "json"], "app.enc.json");
    assert!(text(&enc).contains("\"mac\": \"ENC["));
    let json = both_decrypt(&sb, "app.enc.json", &[]);
    assert_eq!(
        json,
        "{\n\t\"A\": \"1\",\n\t\"B\": \"hello world\",\n\t\"C\": \"multi\\nline\",\n\t\"D\": \"\",\n\t\"URL\": \"https://x.example/?a=1\\u0026b=2#frag\"\n}\n",
        "the comment is dropped in JSON and `&` is escaped as Go's json.Marshal does"
    );
    // JSON has no comments, so the dotenv written back has none either.
    let env = both_decrypt(&sb, "app.enc.json", &["--output-type", "dotenv"]);
    assert_eq!(env, "A=1\nB=hello world\nC=multi\\nline\nD=\nURL=https://x.example/?a=1&b=2#frag\n");
    // Into YAML: the comment is kept, "1" stays a string.
    kv_encrypt_to(&sb, "app.env", &["--output-type", "yaml"], "app.enc.yaml");
    let yaml = both_decrypt(&sb, "app.enc.yaml", &[]);
    assert!(yaml.starts_with("A: \"1\"\nB: hello world\n# a comment\nC: |-\n    multi\n    line\n"), "{yaml}");
    // The same from sops's encryption.
    sops_encrypt_to(&sb, "app.env", &["--output-type", "json"], "app.sops.json");
    assert_eq!(both_decrypt(&sb, "app.sops.json", &[]), json);
    sops_encrypt_to(&sb, "app.env", &["--output-type", "yaml"], "app.sops.yaml");
    assert_eq!(both_decrypt(&sb, "app.sops.yaml", &[]), yaml);
}

/// An INI file always has its DEFAULT section: an empty dotenv file converted to INI reads back
/// with an empty one, which the verified write accepts as the format's (found by the
/// `verified_write` fuzz target); both tools decrypt the result alike, and sops's alike.
#[test]
fn an_empty_dotenv_file_converts_to_ini_like_sops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("empty.env", b"");
    kv_encrypt_to(&sb, "empty.env", &["--output-type", "ini"], "empty.enc.ini");
    let ours = both_decrypt(&sb, "empty.enc.ini", &[]);
    sops_encrypt_to(&sb, "empty.env", &["--output-type", "ini"], "empty.sops.ini");
    assert_eq!(both_decrypt(&sb, "empty.sops.ini", &[]), ours);
}

#[test]
fn flat_json_encrypted_to_dotenv_matches_sops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("flat.json", r#"{"USER": "admin", "DEBUG": true, "RATIO": 0.5, "EMPTY": "", "MULTI": "a\nb"}"#);
    let enc = kv_encrypt_to(&sb, "flat.json", &["--output-type", "dotenv"], "flat.enc.env");
    assert!(text(&enc).contains("\nsops_mac=ENC["));
    let env = both_decrypt(&sb, "flat.enc.env", &[]);
    assert_eq!(env, "USER=admin\nDEBUG=true\nRATIO=0.5\nEMPTY=\nMULTI=a\\nb\n");
    sops_encrypt_to(&sb, "flat.json", &["--output-type", "dotenv"], "flat.sops.env");
    assert_eq!(both_decrypt(&sb, "flat.sops.env", &[]), env);
    // Back to JSON: the types came through dotenv.
    let json: serde_json::Value =
        serde_json::from_str(&both_decrypt(&sb, "flat.enc.env", &["--output-type", "json"])).unwrap();
    assert_eq!(json, serde_json::json!({"USER": "admin", "DEBUG": true, "RATIO": 0.5, "EMPTY": "", "MULTI": "a\nb"}));
}

#[test]
fn complex_values_cannot_be_written_as_dotenv_or_ini_same_exit_code_as_sops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("nested.json", r#"{"a": "x", "list": [1, 2]}"#);
    for out_type in ["dotenv", "ini"] {
        let mut k = keyed(sb.kvsops());
        k.args(["encrypt", "--age", KEY1_RECIPIENT, "--output-type", out_type, "nested.json"]);
        let mut s = keyed(sb.sops());
        s.args(["encrypt", "--age", KEY1_RECIPIENT, "--output-type", out_type, "nested.json"]);
        let (k, s) = (fails(k), fails(s));
        assert!(k.stdout.is_empty(), "nothing is written");
        assert_eq!(k.status.code(), s.status.code(), "encrypt to {out_type}: exit code (sops: ErrorDumpingTree)");
    }
    // Decrypting into dotenv.
    kv_encrypt_to(&sb, "nested.json", &[], "nested.enc.json");
    let mut k = keyed(sb.kvsops());
    k.args(["decrypt", "--output-type", "dotenv", "nested.enc.json"]);
    let mut s = keyed(sb.sops());
    s.args(["decrypt", "--output-type", "dotenv", "nested.enc.json"]);
    let (k, s) = (fails(k), fails(s));
    assert!(String::from_utf8_lossy(&k.stderr).contains("offending key list"));
    assert_eq!(k.status.code(), s.status.code(), "decrypt to dotenv: exit code");
}

#[test]
fn yaml_decrypts_to_json_and_dotenv_like_sops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let yaml = "\
user: admin # inline
port: 5432
ratio: 1.25
big: 1e10
enabled: true
when: 2024-01-02
text: |
  two
  lines
html: <b>&amp;</b>
unicode: héllo ✓
# a comment
empty: ''
";
    sb.write("s.yaml", yaml);
    for (name, enc) in [
        ("k.enc.yaml", kv_encrypt_to(&sb, "s.yaml", &[], "k.enc.yaml")),
        ("s.enc.yaml", sops_encrypt_to(&sb, "s.yaml", &[], "s.enc.yaml")),
    ] {
        assert!(text(&enc).contains("\n    mac: ENC["), "{name}");
        let json = both_decrypt(&sb, name, &["--output-type", "json"]);
        assert!(json.contains("\t\"port\": 5432,\n"), "{name}: {json}");
        assert!(json.contains("\"html\": \"\\u003cb\\u003e\\u0026amp;\\u003c/b\\u003e\""), "{name}: {json}");
        let env = both_decrypt(&sb, name, &["--output-type", "dotenv"]);
        assert!(env.contains("\nport=5432\n"), "{name}: {env}");
        assert!(env.contains("\ntext=two\\nlines\\n\n"), "{name}: {env}");
        assert!(env.contains("\nwhen=2024-01-02T00:00:00Z\n"), "{name}: {env}");
        assert!(env.contains("\nbig=1E+10\n"), "{name}: {env}");
        assert!(env.contains("\n# a comment\n"), "{name}: {env}");
    }
}

#[test]
fn store_indents_in_the_config_change_fresh_output_as_for_sops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("s.yaml", NESTED_YAML);
    sb.write("p.json", "{\"map\": {\"inner\": [\"x\", {\"k\": 1}]}, \"s\": \"v\"}\n");
    sb.write("blob.bin", b"binary\x00data\xff");

    // Defaults first: tab for JSON, 4 spaces for YAML.
    let k_json = kv_encrypt_to(&sb, "s.yaml", &["--output-type", "json"], "k.enc.json");
    let s_json = sops_encrypt_to(&sb, "s.yaml", &["--output-type", "json"], "s.enc.json");
    assert_eq!(shape(&k_json), shape(&s_json), "default JSON layout");
    assert!(text(&k_json).contains("\n\t\"map\": {\n\t\t\"inner\""));
    let k_bin_default = kv_encrypt_to(&sb, "blob.bin", &[], "k.default.bin.enc");
    kv_encrypt_to(&sb, "s.yaml", &[], "k.enc.yaml");

    sb.write(
        ".sops.yaml",
        format!(
            "stores:\n  json:\n    indent: 2\n  yaml:\n    indent: 2\n  json_binary:\n    indent: 3\ncreation_rules:\n  - age: {KEY1_RECIPIENT}\n"
        ),
    );
    // Conversions while encrypting: the same layout as sops's, with the configured indent.
    let k_json = kv_encrypt_to(&sb, "s.yaml", &["--output-type", "json"], "k2.enc.json");
    let s_json = sops_encrypt_to(&sb, "s.yaml", &["--output-type", "json"], "s2.enc.json");
    assert_eq!(shape(&k_json), shape(&s_json), "JSON layout with stores.json.indent: 2");
    assert!(text(&k_json).contains("\n  \"map\": {\n    \"inner\": \"ENC["), "{}", text(&k_json));
    let k_yaml = kv_encrypt_to(&sb, "p.json", &["--output-type", "yaml"], "k2.enc.yaml");
    let s_yaml = sops_encrypt_to(&sb, "p.json", &["--output-type", "yaml"], "s2.enc.yaml");
    assert_eq!(shape(&k_yaml), shape(&s_yaml), "YAML layout with stores.yaml.indent: 2");
    assert!(text(&k_yaml).contains("map:\n  inner:\n    - ENC["), "{}", text(&k_yaml));
    assert!(text(&k_yaml).contains("\nsops:\n  age:\n"), "the metadata is indented too");

    // Conversions while decrypting. (Decrypting into the same format keeps the file's own layout
    // in kvsops, so the indent applies to fresh output only.)
    let json = both_decrypt(&sb, "k.enc.yaml", &["--output-type", "json"]);
    assert!(json.contains("\n  \"map\": {\n    \"inner\": \"x\""), "{json}");
    let yaml = both_decrypt(&sb, "k.enc.json", &["--output-type", "yaml"]);
    assert!(yaml.contains("map:\n  inner: x\n  deep:\n    k:\n      - a\n"), "{yaml}");

    // Binary files: stores.json_binary.indent.
    let k_bin = kv_encrypt_to(&sb, "blob.bin", &[], "k.bin.enc");
    let s_bin = sops_encrypt_to(&sb, "blob.bin", &[], "s.bin.enc");
    assert_eq!(shape(&k_bin), shape(&s_bin), "binary layout with stores.json_binary.indent: 3");
    assert!(text(&k_bin).starts_with("{\n   \"data\": \"ENC["), "{}", text(&k_bin));
    assert_ne!(shape(&k_bin), shape(&k_bin_default), "the indent changed the binary output");
    assert_eq!(sops(&sb, &["decrypt", "k.bin.enc"]), b"binary\x00data\xff");
}

#[test]
fn binary_files_round_trip_through_sops_byte_for_byte() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let mut data: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    data.extend_from_slice(b"\x00\x00\xc3\x28\xff\xfe\xed\xa0\x80 invalid UTF-8\r\n");
    sb.write("blob.dat", &data);
    let enc = kv_encrypt_to(&sb, "blob.dat", &[], "blob.enc");
    let v: serde_json::Value = serde_json::from_slice(&enc).expect("binary store output is JSON");
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["data", "sops"]);
    assert!(text(&enc).contains("\"mac\": \"ENC["));
    assert_eq!(sops(&sb, &["decrypt", "blob.enc"]), data, "sops gives back the exact bytes");
    assert_eq!(kv(&sb, &["decrypt", "blob.enc"]), data);
    // What sops encrypts, kvsops decrypts byte for byte.
    sops_encrypt_to(&sb, "blob.dat", &[], "blob.sops");
    assert_eq!(kv(&sb, &["decrypt", "blob.sops"]), data);
}

#[test]
fn stdin_needs_a_name_or_a_type_to_encrypt_and_decrypts_as_binary() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let yaml_looking = b"a: 1\nb: [x, y]\n";
    // Without a name or a type, sops refuses to encrypt standard input (exit 8), and so does
    // kvsops: YAML piped in must not silently come out as a binary blob.
    for tool in [sb.kvsops(), sb.sops()] {
        let mut c = keyed(tool);
        c.args(["encrypt", "--age", KEY1_RECIPIENT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        let _ = child.stdin.take().expect("stdin").write_all(yaml_looking);
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(8), "{:?}: {}", c, String::from_utf8_lossy(&out.stderr));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--filename-override"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut c = keyed(sb.kvsops());
    c.args(["encrypt", "--age", KEY1_RECIPIENT, "--input-type", "binary"]);
    let enc = with_stdin(c, yaml_looking).stdout;
    let v: serde_json::Value = serde_json::from_slice(&enc).expect("binary store output is JSON");
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["data", "sops"], "the whole input is one value");
    assert!(text(&enc).contains("\"mac\": \"ENC["));
    sb.write("from-stdin.bin", &enc);
    assert_eq!(sops(&sb, &["decrypt", "from-stdin.bin"]), yaml_looking);
    let mut c = keyed(sb.kvsops());
    c.arg("decrypt");
    assert_eq!(with_stdin(c, &enc).stdout, yaml_looking, "decrypt from stdin is binary, as with sops");
    // With --input-type it is a YAML document.
    let mut c = keyed(sb.kvsops());
    c.args(["encrypt", "--age", KEY1_RECIPIENT, "--input-type", "yaml"]);
    let enc = text(&with_stdin(c, yaml_looking).stdout);
    assert!(enc.starts_with("a: ENC["), "{enc}");
}

#[test]
fn every_flux_marker_is_in_what_kvsops_writes() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("s.yaml", "a: x\n");
    sb.write("s.json", "{\"a\": \"x\"}\n");
    sb.write("s.env", "A=x\n");
    sb.write("s.ini", "[sec]\na = x\n");
    sb.write("s.bin", "raw");
    for (file, marker, value) in [
        ("s.yaml", "mac: ENC[", "a: x"),
        ("s.json", "\"mac\": \"ENC[", "\"a\": \"x\""),
        ("s.bin", "\"mac\": \"ENC[", "raw"),
        ("s.env", "sops_mac=ENC[", "A=x"),
        ("s.ini", "[sops]", "a = x"),
    ] {
        let enc = text(&kv(&sb, &["encrypt", "--age", KEY1_RECIPIENT, file]));
        assert!(enc.contains(marker), "{file}: no {marker:?} in\n{enc}");
        let out = format!("{file}.enc");
        sb.write(&out, &enc);
        let input_type = match file.rsplit('.').next() {
            Some("yaml") => "yaml",
            Some("json") => "json",
            Some("env") => "dotenv",
            Some("ini") => "ini",
            _ => "binary",
        };
        // sops reads it (MAC checked) in the format the marker belongs to.
        let plain = sops(&sb, &["decrypt", "--input-type", input_type, "--output-type", input_type, &out]);
        assert!(text(&plain).contains(value), "{file}: {}", text(&plain));
    }
    // The INI metadata section carries the MAC as well.
    let ini = text(&kv(&sb, &["encrypt", "--age", KEY1_RECIPIENT, "s.ini"]));
    assert!(ini.contains("\nmac") && ini.contains("ENC["), "{ini}");
}

#[test]
fn dotenv_and_ini_files_decrypt_across_tools() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let env = std::fs::read(testdata("dotenv/app.env")).unwrap();
    let ini = std::fs::read(testdata("ini/app.ini")).unwrap();
    sb.write("app.env", &env);
    sb.write("app.ini", &ini);
    for file in ["app.env", "app.ini"] {
        let k = format!("k.{file}");
        let s = format!("s.{file}");
        kv_encrypt_to(&sb, file, &[], &k);
        sops_encrypt_to(&sb, file, &[], &s);
        // kvsops's file: sops decrypts it (MAC checked) to what it gives for its own file.
        let sops_own = text(&sops(&sb, &["decrypt", &s]));
        assert_eq!(text(&sops(&sb, &["decrypt", &k])), sops_own, "{file}: sops on kvsops's file");
        // sops's file: kvsops decrypts it to the same bytes as sops.
        assert_eq!(text(&kv(&sb, &["decrypt", &s])), sops_own, "{file}: kvsops on sops's file");
        // kvsops's own round trip keeps the file as it was.
        let original = text(&std::fs::read(sb.path().join(file)).unwrap());
        assert_eq!(text(&kv(&sb, &["decrypt", &k])), original, "{file}: kvsops round trip");
        // The values sops sees.
        assert!(sops_own.to_lowercase().contains("password"), "{file}: {sops_own}");
    }
    // Converting between them: a flat INI section cannot go to dotenv, but dotenv to JSON and
    // INI to JSON give what sops gives.
    both_decrypt(&sb, "k.app.env", &["--output-type", "json"]);
    both_decrypt(&sb, "k.app.ini", &["--output-type", "json"]);
    both_decrypt(&sb, "s.app.ini", &["--output-type", "yaml"]);
}

/// `testdata/go-numbers.tsv`, the vectors `src/gofmt.rs` is tested against, is what the real sops
/// writes: rebuilt here for YAML, JSON and dotenv output. kvsops then decrypts the file sops
/// encrypted (its MAC covers every float's `%f` spelling) and gives sops's JSON and dotenv bytes
/// and its YAML values, and sops decrypts the same values after kvsops encrypted them.
#[test]
fn go_number_spellings_are_the_real_sops_own() {
    if !have("sops") {
        return;
    }
    let table = std::fs::read_to_string(testdata("go-numbers.tsv")).unwrap();
    let rows: Vec<Vec<&str>> =
        table.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.split('\t').collect()).collect();
    assert!(rows.len() > 50 && rows.iter().all(|r| r.len() == 4), "the table's shape changed");
    let sb = Sandbox::new();
    let yaml: String = rows.iter().enumerate().map(|(i, r)| format!("v{i}: {}\n", r[0])).collect();
    let json_able: String =
        rows.iter().enumerate().filter(|(_, r)| r[2] != "-").map(|(i, r)| format!("v{i}: {}\n", r[0])).collect();
    sb.write("all.yaml", &yaml);
    sb.write("json.yaml", &json_able);
    let encrypt = ["encrypt", "--age", KEY1_RECIPIENT];
    sb.write("all.enc.yaml", sops(&sb, &[&encrypt[..], &["all.yaml"]].concat()));
    sb.write("json.enc.yaml", sops(&sb, &[&encrypt[..], &["json.yaml"]].concat()));
    // `key: text` lines (YAML, and JSON's `"key": text,`) or `key=text` (dotenv) by key.
    let by_key = |out: &[u8], sep: &str| -> std::collections::HashMap<String, String> {
        String::from_utf8_lossy(out)
            .lines()
            .filter_map(|l| l.split_once(sep))
            .map(|(k, v)| (k.trim().trim_matches('"').to_string(), v.trim().trim_end_matches(',').to_string()))
            .collect()
    };
    let sops_yaml = by_key(&sops(&sb, &["decrypt", "all.enc.yaml"]), ": ");
    let sops_env = by_key(&sops(&sb, &["decrypt", "--output-type", "dotenv", "all.enc.yaml"]), "=");
    let sops_json_bytes = sops(&sb, &["decrypt", "--output-type", "json", "json.enc.yaml"]);
    let sops_json = by_key(&sops_json_bytes, ": ");
    for (i, r) in rows.iter().enumerate() {
        let k = format!("v{i}");
        assert_eq!(sops_yaml[&k], r[1], "sops's YAML for {}", r[0]);
        assert_eq!(sops_env[&k], r[3], "sops's dotenv value for {}", r[0]);
        if r[2] != "-" {
            assert_eq!(sops_json[&k], r[2], "sops's JSON for {}", r[0]);
        }
    }
    // kvsops reads what sops wrote (the MAC check covers each float's `%f`) and writes its bytes.
    assert_eq!(kv(&sb, &["decrypt", "--output-type", "json", "json.enc.yaml"]), sops_json_bytes);
    assert_eq!(
        kv(&sb, &["decrypt", "--output-type", "dotenv", "all.enc.yaml"]),
        sops(&sb, &["decrypt", "--output-type", "dotenv", "all.enc.yaml"])
    );
    let ours = by_key(&kv(&sb, &["decrypt", "all.enc.yaml"]), ": ");
    for (i, r) in rows.iter().enumerate() {
        // kvsops keeps a float a float: where go-yaml's spelling reads as an integer it adds `.0`.
        let (theirs, mine) = (&r[1], &ours[&format!("v{i}")]);
        assert!(mine == theirs || *mine == format!("{theirs}.0"), "YAML for {}: kvsops {mine}, sops {theirs}", r[0]);
    }
    // And the other way: kvsops encrypts, sops verifies the MAC and gives the same values.
    sb.write("kv.enc.yaml", kv(&sb, &[&encrypt[..], &["all.yaml"]].concat()));
    assert_eq!(by_key(&sops(&sb, &["decrypt", "--output-type", "dotenv", "kv.enc.yaml"]), "="), sops_env);
}
