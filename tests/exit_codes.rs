//! The exit-code table of docs/cli.md, case by case: each case runs the real sops 3.11 and kvsops
//! on the same files and asserts both exit codes (sops's, so a change in sops is noticed, and
//! kvsops's, which equals it except where the table says why not). Also: `decrypt --extract`
//! prints exactly the bytes sops prints.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

const VALUES: &str = "a: b\nn:\n  c: d\nl: [1, 2]\nlm:\n  - x: 1\n    y: [a, b]\n  - - 3\n  - |\n    multi\n    line\n  - {}\nel: []\nnm:\n  deep:\n    list: [1]\nblk: |\n  line1\n  line2\nfold: >\n  x\n  y\nkeep: |+\n  kept\n\nstrip: |-\n  stripped\nnum: 42\nflt: 1.5\nbo: true\nnul: null\nempty: \"\"\n";

const HCKMS: &str = "eu-west-0:0a5e3f1a-1b2c-4d5e-8f90-123456789abc";

/// One row of the table.
struct Case {
    /// What the row is about, as docs/cli.md names it.
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    stdin: Option<&'static str>,
    sops: i32,
    kvsops: i32,
}

const fn case(name: &'static str, args: &'static [&'static str], code: i32) -> Case {
    Case { name, args, env: &[], stdin: None, sops: code, kvsops: code }
}

/// Changes the first base64 character after `marker` + `data:` (the ciphertext stays valid
/// base64, but no longer authenticates).
fn tamper(text: &str, marker: &str) -> String {
    let at = text.find(marker).expect("marker") + marker.len();
    let data = at + text[at..].find("data:").expect("data:") + "data:".len();
    let flipped = if text[data..].starts_with('A') { "B" } else { "A" };
    format!("{}{}{}", &text[..data], flipped, &text[data + 1..])
}

/// Every input the cases read, written into one sandbox.
fn fixtures(sb: &Sandbox) {
    sb.write("intkey.yaml", "1: a\n");
    sb.write("intnest.yaml", "a:\n  1: x\n");
    sb.write("collkey.yaml", "? [a]\n: b\n");
    sb.write("big.yaml", "a: 18446744073709551615\n");
    sb.write("list.yaml", "- a\n- b\n");
    sb.write("scalar.yaml", "hello\n");
    sb.write("list.json", "[1, 2]\n");
    sb.write("scalar.json", "\"s\"\n");
    sb.write("empty.yaml", "");
    sb.write("bad.yaml", "a: [\n");
    sb.write("dup.yaml", "a: 1\na: 2\n");
    sb.write("ok.yaml", "a: b\n");
    sb.write("nested.yaml", "a:\n  b: c\n");
    sb.write("cfg.yaml", format!("creation_rules:\n  - age: {KEY1_RECIPIENT}\n"));
    sb.write("dupenc.yaml", "a: b\na: c\nsops: {}\n");
    sb.write("v.yaml", VALUES);
    let mut c = sb.kvsops();
    c.args(["encrypt", "--age", KEY1_RECIPIENT, "v.yaml"]);
    let enc = String::from_utf8(ok(c)).expect("utf-8");
    sb.write("enc.yaml", &enc);
    sb.write("tampered.yaml", tamper(&enc, "a: ENC["));
    sb.write("badmac.yaml", tamper(&enc, "    mac: ENC["));
    let nomac: String = enc.lines().filter(|l| !l.trim_start().starts_with("mac:")).map(|l| format!("{l}\n")).collect();
    sb.write("nomac.yaml", nomac);
}

fn cases() -> Vec<Case> {
    vec![
        case("encrypt: a non-string key (`1: a`)", &["encrypt", "--age", KEY1_RECIPIENT, "intkey.yaml"], 23),
        case(
            "encrypt: a non-string key in a nested mapping",
            &["encrypt", "--age", KEY1_RECIPIENT, "intnest.yaml"],
            23,
        ),
        case("encrypt: a collection as a key", &["encrypt", "--age", KEY1_RECIPIENT, "collkey.yaml"], 2),
        case("encrypt: an integer beyond 64-bit signed", &["encrypt", "--age", KEY1_RECIPIENT, "big.yaml"], 23),
        case("encrypt: YAML whose root is a list", &["encrypt", "--age", KEY1_RECIPIENT, "list.yaml"], 2),
        case("encrypt: YAML whose root is a scalar", &["encrypt", "--age", KEY1_RECIPIENT, "scalar.yaml"], 2),
        case("encrypt: JSON whose root is a list", &["encrypt", "--age", KEY1_RECIPIENT, "list.json"], 2),
        case("encrypt: JSON whose root is a scalar", &["encrypt", "--age", KEY1_RECIPIENT, "scalar.json"], 2),
        case("encrypt: an empty YAML file", &["encrypt", "--age", KEY1_RECIPIENT, "empty.yaml"], 92),
        case("encrypt: a YAML syntax error", &["encrypt", "--age", KEY1_RECIPIENT, "bad.yaml"], 2),
        case("encrypt: a duplicate key", &["encrypt", "--age", KEY1_RECIPIENT, "dup.yaml"], 2),
        case("encrypt: the file does not exist", &["encrypt", "--age", KEY1_RECIPIENT, "nope.yaml"], 100),
        case("encrypt: no keys and no config", &["encrypt", "ok.yaml"], 1),
        case(
            "encrypt: a nested value to dotenv",
            &["encrypt", "--age", KEY1_RECIPIENT, "--output-type", "dotenv", "nested.yaml"],
            4,
        ),
        case("encrypt: the file is already encrypted", &["encrypt", "--age", KEY1_RECIPIENT, "enc.yaml"], 203),
        case(
            "encrypt: --in-place with --output",
            &["encrypt", "--age", KEY1_RECIPIENT, "-i", "--output", "x.yaml", "ok.yaml"],
            8,
        ),
        Case {
            stdin: Some("a: b\n"),
            ..case(
                "encrypt: standard input without --input-type or --filename-override",
                &["encrypt", "--age", KEY1_RECIPIENT],
                8,
            )
        },
        case(
            "encrypt: an invalid --encryption-context",
            &["encrypt", "--age", KEY1_RECIPIENT, "--encryption-context", "bad", "ok.yaml"],
            6,
        ),
        case(
            "encrypt: a valid --encryption-context",
            &["encrypt", "--age", KEY1_RECIPIENT, "--encryption-context", "a:b", "ok.yaml"],
            0,
        ),
        case(
            "-e: an invalid --encryption-context",
            &["-e", "--age", KEY1_RECIPIENT, "--encryption-context", "bad", "ok.yaml"],
            6,
        ),
        case(
            "encrypt: an --hckms key (no HuaweiCloud credentials / not callable)",
            &["encrypt", "--hckms", HCKMS, "ok.yaml"],
            1,
        ),
        Case {
            env: &[("SOPS_HUAWEICLOUD_KMS_IDS", HCKMS)],
            ..case("encrypt: SOPS_HUAWEICLOUD_KMS_IDS", &["encrypt", "ok.yaml"], 1)
        },
        case("encrypt: a malformed --hckms key id", &["encrypt", "--hckms", "bad", "ok.yaml"], 1),
        case("decrypt: a file without sops metadata", &["decrypt", "ok.yaml"], 1),
        case("decrypt: a tampered value", &["decrypt", "tampered.yaml"], 25),
        case("decrypt: a tampered value with --ignore-mac", &["decrypt", "--ignore-mac", "tampered.yaml"], 25),
        case("decrypt: a MAC that does not decrypt", &["decrypt", "badmac.yaml"], 51),
        case("decrypt: no MAC", &["decrypt", "nomac.yaml"], 51),
        case("decrypt: --extract with a malformed path", &["decrypt", "--extract", "bad", "enc.yaml"], 91),
        case("decrypt: --extract of a missing key", &["decrypt", "--extract", "[\"zz\"]", "enc.yaml"], 1),
        case("decrypt: --extract past the end of a list", &["decrypt", "--extract", "[\"l\"][5]", "enc.yaml"], 1),
        Case {
            kvsops: 1,
            ..case(
                "decrypt: --extract into a string (sops panics)",
                &["decrypt", "--extract", "[\"a\"][\"b\"]", "enc.yaml"],
                2,
            )
        },
        case("decrypt: a nested value to dotenv", &["decrypt", "--output-type", "dotenv", "enc.yaml"], 4),
        case(
            "decrypt: a key type twice in --decryption-order",
            &["decrypt", "--decryption-order", "age,age", "enc.yaml"],
            112,
        ),
        case("decrypt: the file does not exist", &["decrypt", "nope.yaml"], 100),
        case("decrypt: a YAML syntax error", &["decrypt", "bad.yaml"], 1),
        case("decrypt: YAML whose root is a list", &["decrypt", "list.yaml"], 1),
        Case {
            env: &[("SOPS_AGE_KEY_FILE", "/dev/null")],
            ..case("decrypt: no key opens the data key", &["decrypt", "enc.yaml"], 128)
        },
        case("decrypt: --in-place with --output", &["decrypt", "-i", "--output", "x.yaml", "enc.yaml"], 8),
        case("set: a value that is not JSON", &["set", "enc.yaml", "[\"a\"]", "notjson"], 7),
        case("set: a malformed index", &["set", "enc.yaml", "bad", "\"x\""], 7),
        case("unset: a missing key", &["unset", "enc.yaml", "[\"zz\"]"], 1),
        case("rotate: --add-age on a missing file", &["rotate", "--add-age", KEY1_RECIPIENT, "nope.yaml"], 49),
        case("rotate: a file without sops metadata", &["rotate", "ok.yaml"], 1),
        case("rotate: an --add-hckms key", &["rotate", "--add-hckms", HCKMS, "enc.yaml"], 1),
        case("rotate: an --rm-hckms key the file does not have", &["rotate", "--rm-hckms", HCKMS, "enc.yaml"], 0),
        case(
            "rotate: an invalid --encryption-context (ignored)",
            &["rotate", "--encryption-context", "bad", "enc.yaml"],
            0,
        ),
        case("-r: an --add-hckms key", &["-r", "--add-hckms", HCKMS, "enc.yaml"], 1),
        Case { env: &[("EDITOR", "true")], ..case("edit: the file has not changed", &["edit", "enc.yaml"], 200) },
        Case { env: &[("EDITOR", "false")], ..case("edit: the editor fails", &["edit", "enc.yaml"], 201) },
        Case {
            env: &[("EDITOR", "true")],
            ..case(
                "edit: a new file with an invalid --encryption-context",
                &["edit", "--age", KEY1_RECIPIENT, "--encryption-context", "bad", "new1.yaml"],
                6,
            )
        },
        Case {
            env: &[("EDITOR", "true")],
            ..case("edit: a new file with an --hckms key", &["edit", "--hckms", HCKMS, "new2.yaml"], 128)
        },
        case(
            "decrypt: an unknown key type in --decryption-order (ignored)",
            &["decrypt", "--decryption-order", "foo,age", "enc.yaml"],
            0,
        ),
        case("decrypt: a duplicate key in an encrypted file", &["decrypt", "dupenc.yaml"], 1),
        case("rotate: a YAML syntax error", &["rotate", "bad.yaml"], 1),
        case("rotate: the file does not exist", &["rotate", "nope.yaml"], 2),
        case("set: a YAML syntax error", &["set", "bad.yaml", "[\"a\"]", "\"x\""], 1),
        case("exec-env: a YAML syntax error", &["exec-env", "bad.yaml", "true"], 1),
        case("exec-env: a nested value", &["exec-env", "enc.yaml", "true"], 1),
        Case { env: &[("EDITOR", "true")], ..case("edit: a YAML syntax error", &["edit", "bad.yaml"], 1) },
        Case {
            kvsops: 1,
            ..case(
                "groups add: an --hckms key (sops drops it silently)",
                &["groups", "add", "--file", "enc.yaml", "--hckms", HCKMS],
                0,
            )
        },
        case(
            "groups add: an invalid --encryption-context (ignored)",
            &["groups", "add", "--file", "enc.yaml", "--age", KEY1_RECIPIENT, "--encryption-context", "bad"],
            0,
        ),
        case("groups delete: a YAML syntax error", &["groups", "delete", "--file", "bad.yaml", "0"], 1),
        case("updatekeys: no config", &["updatekeys", "-y", "enc.yaml"], 1),
        case("updatekeys: the file does not exist", &["--config", "cfg.yaml", "updatekeys", "-y", "nope.yaml"], 1),
        case("set: the file does not exist", &["set", "nope.yaml", "[\"a\"]", "\"x\""], 2),
        case("unset: the file does not exist", &["unset", "nope.yaml", "[\"a\"]"], 2),
        case("exec-env: the file does not exist", &["exec-env", "nope.yaml", "true"], 2),
        case("exec-file: the file does not exist", &["exec-file", "nope.yaml", "true"], 2),
        case("groups delete: the file does not exist", &["groups", "delete", "--file", "nope.yaml", "0"], 2),
        case("-r: the file does not exist", &["-r", "nope.yaml"], 100),
        case("-d: the file does not exist", &["-d", "nope.yaml"], 100),
        case("no file given", &[], 100),
        case("filestatus: the file does not exist", &["filestatus", "nope.yaml"], 1),
    ]
}

fn run(mut c: Command, case: &Case) -> i32 {
    c.args(case.args).env("SOPS_AGE_KEY_FILE", key1_file());
    for (k, v) in case.env {
        c.env(k, v);
    }
    c.stdin(if case.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("spawn");
    if let (Some(text), Some(mut pipe)) = (case.stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    child.wait().expect("wait").code().unwrap_or(-1)
}

#[test]
fn exit_codes_match_sops_case_by_case() {
    let sb = Sandbox::new();
    fixtures(&sb);
    let with_sops = have("sops");
    let mut wrong = Vec::new();
    for case in cases() {
        let k = run(sb.kvsops(), &case);
        if k != case.kvsops {
            wrong.push(format!("kvsops {:?}: exit {k}, expected {} ({})", case.args, case.kvsops, case.name));
        }
        if with_sops {
            let s = run(sb.sops(), &case);
            if s != case.sops {
                wrong.push(format!("sops {:?}: exit {s}, the table says {} ({})", case.args, case.sops, case.name));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The exact bytes `decrypt --extract` prints, against sops's, for the value kinds that differ:
/// block scalars with each chomping, a folded scalar, numbers, booleans, null, the empty string,
/// a mapping and a list (in the file's format), and a subtree converted to JSON.
#[test]
fn extract_prints_exactly_what_sops_prints() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("v.yaml", VALUES);
    let mut c = sb.sops();
    c.args(["encrypt", "--age", KEY1_RECIPIENT, "v.yaml"]);
    sb.write("enc.yaml", ok(c));
    let mut mismatches = Vec::new();
    for path in ["blk", "fold", "keep", "strip", "num", "flt", "bo", "nul", "empty", "a", "n", "l", "lm", "el", "nm"] {
        for extra in [&[][..], &["--output-type", "json"][..]] {
            let index = format!("[\"{path}\"]");
            let bytes = |mut c: Command| {
                c.env("SOPS_AGE_KEY_FILE", key1_file())
                    .args(["decrypt", "--extract", &index])
                    .args(extra)
                    .arg("enc.yaml");
                ok(c)
            };
            let (s, k) = (bytes(sb.sops()), bytes(sb.kvsops()));
            if s != k {
                mismatches.push(format!(
                    "{index} {extra:?}: sops {:?}, kvsops {:?}",
                    String::from_utf8_lossy(&s),
                    String::from_utf8_lossy(&k)
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
