//! Interop of YAML files with the real sops 3.11, both ways, over the corpus in testdata/yaml/:
//! - what kvsops encrypts, `sops decrypt` reads (MAC checked) to the same values, and `kvsops decrypt`
//!   gives back the original bytes;
//! - what sops encrypts, kvsops decrypts to the same values;
//! - kvsops encrypts exactly the leaves sops encrypts, for every crypt rule;
//! - tampering fails with sops's exit codes.

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use kvsops::stores::{Format, StoreSettings};
use kvsops::tree::{Document, MapItem, Mapping, Node, SeqItem, Sequence, Value};

fn yaml_store() -> Box<dyn kvsops::stores::Store> {
    Format::Yaml.store(&StoreSettings::default())
}

fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![testdata("yaml")];
    while let Some(dir) = dirs.pop() {
        for p in std::fs::read_dir(&dir).expect("testdata/yaml").filter_map(|e| e.ok().map(|e| e.path())) {
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 5, "the YAML corpus is missing");
    files
}

/// Data without comments, for comparing what two tools produced (sops moves comments).
fn strip_comments_map(m: &Mapping) -> Mapping {
    Mapping {
        items: m
            .items
            .iter()
            .filter_map(|i| match i {
                MapItem::Entry(e) => Some(MapItem::Entry(kvsops::tree::Entry {
                    key: e.key.clone(),
                    value: strip_comments(&e.value),
                    key_src: None,
                })),
                MapItem::Comment(_) => None,
            })
            .collect(),
        src: None,
    }
}

fn strip_comments(n: &Node) -> Node {
    match n {
        Node::Map(m) => Node::Map(strip_comments_map(m)),
        Node::Seq(s) => Node::Seq(Sequence {
            items: s
                .items
                .iter()
                .filter_map(|i| match i {
                    // sops 3.11 writes list comments as `- ENC[...,type:comment]` items.
                    SeqItem::Node(Node::Scalar(s)) if matches!(&s.value, Value::Str(v) if v.starts_with("ENC[") && v.ends_with(",type:comment]")) => None,
                    SeqItem::Node(n) => Some(SeqItem::Node(strip_comments(n))),
                    SeqItem::Comment(_) => None,
                })
                .collect(),
            src: None,
        }),
        Node::Scalar(s) => Node::Scalar(kvsops::tree::Scalar::new(normalize(&s.value))),
    }
}

/// sops writes an integral float as an integer (`1.0` decrypts to `1`): compare numbers by value.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Int(*f as i64),
        other => other.clone(),
    }
}

fn comments(n: &Node, out: &mut Vec<String>) {
    match n {
        Node::Map(m) => {
            for i in &m.items {
                match i {
                    MapItem::Entry(e) => comments(&e.value, out),
                    MapItem::Comment(c) => out.push(c.text.clone()),
                }
            }
        }
        Node::Seq(s) => {
            for i in &s.items {
                match i {
                    SeqItem::Node(n) => comments(n, out),
                    SeqItem::Comment(c) => out.push(c.text.clone()),
                }
            }
        }
        Node::Scalar(_) => {}
    }
}

fn data_of(docs: &[Document]) -> Vec<Node> {
    docs.iter().map(|d| strip_comments(&Node::Map(d.root.clone()))).collect()
}

fn comments_of(docs: &[Document]) -> Vec<String> {
    let mut out = Vec::new();
    for d in docs {
        comments(&Node::Map(d.root.clone()), &mut out);
    }
    out.sort();
    out
}

/// Every scalar leaf with its full path (indices included) and whether it is an ENC value.
fn leaf_states(n: &Node, path: String, out: &mut Vec<(String, bool)>) {
    match n {
        Node::Map(m) => {
            for e in m.entries() {
                leaf_states(&e.value, format!("{path}.{}", e.key), out);
            }
        }
        Node::Seq(s) => {
            for (i, n) in s.nodes().enumerate() {
                leaf_states(n, format!("{path}[{i}]"), out);
            }
        }
        Node::Scalar(s) => {
            let enc = matches!(&s.value, Value::Str(v) if v.starts_with("ENC[AES256_GCM,"));
            out.push((path, enc));
        }
    }
}

/// Each comment, in order, with the path of the branch holding it (its AAD: list items add
/// nothing to it) and whether it is encrypted; sops writes a list's comments as
/// `- ENC[...,type:comment]` items.
fn comment_states(n: &Node, path: String, out: &mut Vec<(String, bool)>) {
    let encrypted = |text: &str| text.starts_with("ENC[AES256_GCM,");
    match n {
        Node::Map(m) => {
            for item in &m.items {
                match item {
                    MapItem::Entry(e) => comment_states(&e.value, format!("{path}.{}", e.key), out),
                    MapItem::Comment(c) => out.push((path.clone(), encrypted(&c.text))),
                }
            }
        }
        Node::Seq(s) => {
            for item in &s.items {
                match item {
                    SeqItem::Node(Node::Scalar(x)) if matches!(&x.value, Value::Str(v) if v.starts_with("ENC[") && v.ends_with(",type:comment]")) => {
                        out.push((path.clone(), true))
                    }
                    SeqItem::Node(x) => comment_states(x, path.clone(), out),
                    SeqItem::Comment(c) => out.push((path.clone(), encrypted(&c.text))),
                }
            }
        }
        Node::Scalar(_) => {}
    }
}

fn comments_states_of(docs: &[Document]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        comment_states(&Node::Map(d.root.clone()), format!("doc{i}"), &mut out);
    }
    out
}

fn states_of(docs: &[Document]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        // sops writes list comments as `- ENC[...,type:comment]` items: not data.
        let data = strip_comments(&Node::Map(d.root.clone()));
        leaf_states(&data, format!("doc{i}"), &mut out);
    }
    out
}

/// The crypt-rule variants each corpus file is tested with (flags for both tools).
fn rule_variants(file: &Path) -> Vec<Vec<&'static str>> {
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let mut v: Vec<Vec<&'static str>> = vec![vec![]];
    if name.contains("secret") || name.contains("k8s") {
        v.push(vec!["--encrypted-regex", "^(data|stringData)$"]);
        v.push(vec!["--encrypted-regex", "^(data|stringData)$", "--mac-only-encrypted"]);
    }
    if name.contains("rules") {
        v.push(vec!["--unencrypted-regex", "^(public|meta)"]);
        v.push(vec!["--encrypted-regex", "(?i)^(PASSWORD|token)"]);
        v.push(vec!["--encrypted-suffix", "_secret"]);
        v.push(vec!["--unencrypted-suffix", "_plain"]);
        v.push(vec!["--encrypted-comment-regex", "sops:enc"]);
        v.push(vec!["--unencrypted-comment-regex", "sops:plain"]);
        v.push(vec!["--unencrypted-suffix", "_plain", "--mac-only-encrypted"]);
    }
    v
}

fn sops_encrypt(sb: &Sandbox, file: &Path, flags: &[&str]) -> Vec<u8> {
    // The legacy form: sops 3.11's `encrypt` subcommand lacks the comment-regex and
    // --mac-only-encrypted flags.
    let mut c = sb.sops();
    c.arg("-e").arg("--age").arg(KEY1_RECIPIENT).args(flags).arg(file);
    ok(c)
}

fn kvsops_encrypt(sb: &Sandbox, file: &Path, flags: &[&str]) -> Vec<u8> {
    let mut c = sb.kvsops();
    c.arg("encrypt").arg("--age").arg(KEY1_RECIPIENT).args(flags).arg(file);
    ok(c)
}

fn decrypt_with(mut c: std::process::Command, file: &Path) -> Vec<u8> {
    c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(file);
    ok(c)
}

/// `back` is `original` byte for byte, but for plain YAML 1.1 booleans (`y`, `yes`, `on`...)
/// that were encrypted: an ENC value cannot say whether its string was quoted, so these come back
/// quoted, as go-yaml (and sops) write them, and YAML 1.1 readers never take them for booleans.
fn same_but_requoted(original: &str, back: &str) -> bool {
    const YAML11_BOOLS: &[&str] =
        &["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"];
    let (a, b): (Vec<&str>, Vec<&str>) = (original.split('\n').collect(), back.split('\n').collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x == y
                || YAML11_BOOLS.iter().any(|t| {
                    let ends = |q: &str| {
                        x.ends_with(&format!(" {t}")) && *y == format!("{}{q}{t}{q}", &x[..x.len() - t.len()])
                    };
                    ends("\"") || x.replacen(&format!(" {t}]"), &format!(" '{t}']"), 1) == *y
                })
        })
}

#[test]
fn kvsops_output_decrypts_with_sops_and_round_trips_byte_for_byte() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let store = yaml_store();
    for file in corpus() {
        let original = std::fs::read(&file).unwrap();
        let want = store.load_plain(&original).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for flags in rule_variants(&file) {
            let what = format!("{} {:?}", file.display(), flags);
            let enc = sb.write("k.enc.yaml", kvsops_encrypt(&sb, &file, &flags));
            // Byte-identical round trip through kvsops.
            let back = decrypt_with(sb.kvsops(), &enc);
            assert!(
                same_but_requoted(&String::from_utf8_lossy(&original), &String::from_utf8_lossy(&back)),
                "round trip of {what}:\n{}",
                String::from_utf8_lossy(&back)
            );
            // The real sops decrypts it with the MAC checked, to the same data.
            let by_sops = decrypt_with(sb.sops(), &enc);
            let got = store.load_plain(&by_sops).unwrap_or_else(|e| panic!("{what}: sops output: {e}"));
            assert_eq!(data_of(&got), data_of(&want), "sops decrypt of kvsops output, {what}");
            assert_eq!(comments_of(&got), comments_of(&want), "comments after sops decrypt, {what}");
        }
    }
}

#[test]
fn sops_output_decrypts_with_kvsops() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let store = yaml_store();
    for file in corpus() {
        let original = std::fs::read(&file).unwrap();
        let want = store.load_plain(&original).unwrap();
        for flags in rule_variants(&file) {
            let what = format!("{} {:?}", file.display(), flags);
            let enc = sb.write("s.enc.yaml", sops_encrypt(&sb, &file, &flags));
            let out = decrypt_with(sb.kvsops(), &enc);
            let got = store
                .load_plain(&out)
                .unwrap_or_else(|e| panic!("{what}: kvsops output: {e}\n{}", String::from_utf8_lossy(&out)));
            assert_eq!(data_of(&got), data_of(&want), "kvsops decrypt of sops output, {what}");
            // sops 3.11 moves some comments when it writes a file and then cannot decrypt them
            // itself ("Found possibly unencrypted comment"): the reference is what sops decrypts.
            let by_sops = store.load_plain(&decrypt_with(sb.sops(), &enc)).unwrap();
            assert_eq!(comments_of(&got), comments_of(&by_sops), "comments, {what}");
        }
    }
}

/// An anchor and its aliases under different crypt rules: sops expands every alias, so each copy
/// is encrypted (or not) by its own path. kvsops keeps an alias only while the anchored node still
/// holds what the copy holds, and writes it out expanded otherwise.
#[test]
fn aliases_of_an_anchor_encrypted_alone_are_written_out() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let store = yaml_store();
    let original = b"password: &pw\n  inner: a\n  n: 1\ncopy: *pw\nlist: [*pw, 2]\nname: &n joe\nuser: *n\n";
    let file = sb.write("anchors.yaml", original);
    let want = store.load_plain(original).unwrap();
    for regex in ["^password$", "^copy$", "^(list|user)$", "^name$"] {
        let flags = ["--encrypted-regex", regex];
        let enc = sb.write("anchors.enc.yaml", kvsops_encrypt(&sb, &file, &flags));
        let ours = store.load_encrypted(&std::fs::read(&enc).unwrap()).unwrap();
        let theirs = store.load_encrypted(&sops_encrypt(&sb, &file, &flags)).unwrap();
        assert_eq!(states_of(&ours.documents), states_of(&theirs.documents), "encrypted leaves, {regex}");
        for tool in [sb.sops(), sb.kvsops()] {
            let got = store.load_plain(&decrypt_with(tool, &enc)).unwrap();
            assert_eq!(data_of(&got), data_of(&want), "decrypted data, {regex}");
        }
    }
}

/// Chart-like values files from scripts/gen-values.py (comments above and beside values,
/// commented-out blocks, indentless and flow lists closed at the key's column, block scalars with
/// indicators, anchors, aliases and merge keys, tags, every quoting style): both ways with sops,
/// every comment decryptable by sops, the same leaves and comments encrypted.
#[test]
fn generated_values_files_interoperate_with_sops() {
    if !have("sops") || !have("python3") {
        return;
    }
    let sb = Sandbox::new();
    let store = yaml_store();
    for seed in ["11", "12", "13"] {
        let mut gen = std::process::Command::new("python3");
        gen.arg(root().join("scripts/gen-values.py")).args(["--seed", seed, "--bytes", "120000"]);
        let original = ok(gen);
        let file = sb.write(&format!("values-{seed}.yaml"), &original);
        let want = store.load_plain(&original).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for flags in [vec![], vec!["--encrypted-regex", "(?i)(password|token|secret|key|tls)"]] {
            let what = format!("seed {seed} {flags:?}");
            let ours = kvsops_encrypt(&sb, &file, &flags);
            let enc = sb.write("values.enc.yaml", &ours);
            // sops decrypts every value and every comment (an undecryptable comment is only
            // warned about, and left as ENC text).
            let mut c = sb.sops();
            c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&enc);
            let out = c.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{what}: sops decrypt failed: {stderr}");
            assert!(!stderr.contains("possibly unencrypted comment"), "{what}: sops could not decrypt comments");
            let by_kvsops = store.load_plain(&decrypt_with(sb.kvsops(), &enc)).unwrap();
            assert_eq!(data_of(&by_kvsops), data_of(&want), "kvsops decrypt of its own output, {what}");
            match store.load_plain(&out.stdout) {
                Ok(by_sops) => {
                    assert_eq!(data_of(&by_sops), data_of(&want), "sops decrypt of kvsops output, {what}");
                    assert_eq!(comments_of(&by_kvsops), comments_of(&by_sops), "comments, {what}");
                }
                Err(_) => {
                    // go-yaml's emitter can write a block scalar whose first line is indented
                    // further (`|4-`) at an indentation its own reader then refuses: sops cannot
                    // read what it printed either.
                    let printed = sb.write("printed-by-sops.yaml", &out.stdout);
                    let mut c = sb.sops();
                    c.arg("-e").arg("--age").arg(KEY1_RECIPIENT).arg(&printed);
                    assert!(!c.output().unwrap().status.success(), "{what}: sops reads its output, kvsops does not");
                }
            }
            // The same leaves and comments encrypted as sops.
            let theirs_bytes = sops_encrypt(&sb, &file, &flags);
            let senc = sb.write("values.sops.yaml", &theirs_bytes);
            let Ok(theirs) = store.load_encrypted(&theirs_bytes) else {
                // go-yaml's emitter can write a block scalar whose first line is indented further
                // (`|4-`) at an indentation its own reader then refuses: sops cannot decrypt such
                // a file either. kvsops refuses it the same way, and never writes one.
                let mut c = sb.sops();
                c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&senc);
                assert!(!c.output().unwrap().status.success(), "{what}: sops reads its output, kvsops does not");
                continue;
            };
            let ours = store.load_encrypted(&ours).unwrap();
            assert_eq!(states_of(&ours.documents), states_of(&theirs.documents), "encrypted leaves, {what}");
            // The same comments left in clear (as sets: sops copies the comments of an anchored
            // node into each alias it expands, kvsops writes such an alias without them).
            let clear = |docs: &[Document]| {
                let mut all = Vec::new();
                for d in docs {
                    comments(&Node::Map(d.root.clone()), &mut all);
                }
                all.into_iter().filter(|c| !c.starts_with("ENC[")).collect::<std::collections::BTreeSet<_>>()
            };
            assert_eq!(clear(&ours.documents), clear(&theirs.documents), "comments left in clear, {what}");
            // And what sops wrote, kvsops decrypts to the same data.
            let got = store.load_plain(&decrypt_with(sb.kvsops(), &senc)).unwrap();
            assert_eq!(data_of(&got), data_of(&want), "kvsops decrypt of sops output, {what}");
        }
    }
}

#[test]
fn kvsops_encrypts_exactly_the_leaves_sops_encrypts() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let store = yaml_store();
    for file in corpus() {
        for flags in rule_variants(&file) {
            let what = format!("{} {:?}", file.display(), flags);
            let ours = store.load_encrypted(&kvsops_encrypt(&sb, &file, &flags)).unwrap();
            let theirs = store.load_encrypted(&sops_encrypt(&sb, &file, &flags)).unwrap();
            assert_eq!(states_of(&ours.documents), states_of(&theirs.documents), "encrypted leaves, {what}");
            // A comment is encrypted or not by the path of the branch go-yaml puts it in: the
            // same comments, in order, are encrypted as with sops. (Only the flags: sops writes
            // some comments where reading them back places them elsewhere.)
            let flags = |docs: &[Document]| comments_states_of(docs).into_iter().map(|(_, e)| e).collect::<Vec<_>>();
            assert_eq!(flags(&ours.documents), flags(&theirs.documents), "encrypted comments, {what}");
            assert_eq!(ours.metadata.rule, theirs.metadata.rule, "recorded rule, {what}");
        }
    }
}

#[test]
fn sops_fixtures_decrypt_with_kvsops() {
    let sb = Sandbox::new();
    for (enc, plain) in [
        ("t1.enc.yaml", "t1.yaml"),
        ("md.enc.yaml", "md.yaml"),
        ("t3.enc.yaml", "t3.yaml"),
        ("t3b.enc.yaml", "t3.yaml"),
    ] {
        let out = decrypt_with(sb.kvsops(), &testdata(&format!("sops-3.11/{enc}")));
        let store = yaml_store();
        let got = store.load_plain(&out).unwrap_or_else(|e| panic!("{enc}: {e}\n{}", String::from_utf8_lossy(&out)));
        let want = store.load_plain(&std::fs::read(testdata(&format!("sops-3.11/{plain}"))).unwrap()).unwrap();
        // sops turns a trailing empty document into `{}`.
        let mut want_data = data_of(&want);
        let mut got_data = data_of(&got);
        want_data.retain(|n| !matches!(n, Node::Map(m) if m.items.is_empty()));
        got_data.retain(|n| !matches!(n, Node::Map(m) if m.items.is_empty()));
        assert_eq!(got_data, want_data, "{enc}");
    }
    // gen.enc.yaml was written by Python with a known key and checked by sops.
    let out = decrypt_with(sb.kvsops(), &testdata("sops-3.11/gen.enc.yaml"));
    assert!(!out.is_empty());
}

#[test]
fn tampering_fails_with_sops_exit_codes() {
    let sb = Sandbox::new();
    let plain = sb.write("s.yaml", "a: secret-one\nb: secret-two\nc_unencrypted: visible\n");
    let enc = kvsops_encrypt(&sb, &plain, &[]);
    let text = String::from_utf8(enc).unwrap();

    // A changed plaintext value breaks the MAC: 51.
    let changed = sb.write("changed.enc.yaml", text.replace("c_unencrypted: visible", "c_unencrypted: changed"));
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&changed);
    assert_eq!(fails(c).status.code(), Some(51));

    // A flipped ciphertext byte fails authentication of the value: 25.
    let start = text.find("a: ENC[AES256_GCM,data:").unwrap() + "a: ENC[AES256_GCM,data:".len();
    let mut bytes = text.clone().into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    let flipped = sb.write("flipped.enc.yaml", bytes);
    let mut c = sb.kvsops();
    c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&flipped);
    let out = fails(c);
    assert_eq!(out.status.code(), Some(25), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret-one"));

    // sops agrees on both.
    if have("sops") {
        let mut c = sb.sops();
        c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&changed);
        assert_eq!(fails(c).status.code(), Some(51));
        let mut c = sb.sops();
        c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&flipped);
        assert_eq!(fails(c).status.code(), Some(25));
    }
}

#[test]
fn tagged_block_scalars_lose_their_tag_when_encrypted() {
    // A `!!binary |` block must not keep its tag in front of the ENC value: the file would no
    // longer parse (regression).
    let sb = Sandbox::new();
    let plain = sb.write("b.yaml", "bin: !!binary |\n  ////////////\n  ////\nok: hello\n");
    let enc = sb.write("b.enc.yaml", kvsops_encrypt(&sb, &plain, &[]));
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(!text.contains("!!binary"), "{text}");
    let store = yaml_store();
    let ours = store.load_plain(&decrypt_with(sb.kvsops(), &enc)).unwrap();
    let want = store.load_plain(&std::fs::read(&plain).unwrap()).unwrap();
    assert_eq!(data_of(&ours), data_of(&want));
    if have("sops") {
        let theirs = store.load_plain(&decrypt_with(sb.sops(), &enc)).unwrap();
        assert_eq!(data_of(&theirs), data_of(&want));
    }
}

/// A large Secret takes the one-pass path (`stores/yaml/stream.rs`) in both directions: sops must
/// read what it writes, and it must read what sops writes, exactly as sops does.
#[test]
fn a_large_simple_secret_interoperates_with_sops_both_ways() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let mut text = String::from("apiVersion: v1\nkind: Secret\nmetadata:\n    name: big\ntype: Opaque\nstringData:\n");
    // Typed values too (`typed_*`), in spellings sops writes back unchanged (it would write a date
    // as a full timestamp).
    let values = ["plain-text", "42", "-7", "3.5", "true", "2030-01-01", "a:b,c[d]", "naïve", "0.001", "false"];
    for i in 0..3000 {
        text.push_str(&format!("    key_{i:05}: {}-{i}\n", values[i % values.len()]));
        if i % 500 == 0 && values[i % values.len()] != "2030-01-01" {
            text.push_str(&format!("    typed_{i}: {}\n", values[i % values.len()]));
        }
    }
    let plain = sb.write("big.yaml", text.as_bytes());
    let rule = ["--encrypted-regex", "^(data|stringData)$"];
    for flags in [&[][..], &rule[..]] {
        let by_kvsops = sb.write("big.k.enc.yaml", kvsops_encrypt(&sb, &plain, flags));
        // (Compared without printing: the files are large.)
        assert!(decrypt_with(sb.kvsops(), &by_kvsops) == text.as_bytes(), "kvsops round trip {flags:?}");
        // sops writes what it decrypts in its own layout, here the same as the input's.
        assert!(decrypt_with(sb.sops(), &by_kvsops) == text.as_bytes(), "sops decrypt of kvsops output {flags:?}");
        let by_sops = sb.write("big.s.enc.yaml", sops_encrypt(&sb, &plain, flags));
        assert!(decrypt_with(sb.kvsops(), &by_sops) == text.as_bytes(), "kvsops decrypt of sops output {flags:?}");
    }
}

/// sops writes the comment of an empty list as its only item (`- ENC[...,type:comment]`): decrypted
/// back into a comment, the list must stay a list (`[]`), not become a null.
#[test]
fn an_empty_list_whose_comment_sops_made_an_item_stays_a_list() {
    if !have("sops") {
        return;
    }
    let sb = Sandbox::new();
    let plain = sb.write("p.yaml", "a:\n  l: []  # note\n  b: 1\n");
    let enc = sb.write("s.enc.yaml", sops_encrypt(&sb, &plain, &[]));
    assert!(String::from_utf8_lossy(&std::fs::read(&enc).unwrap()).contains("- ENC["), "sops's layout changed");
    let out = decrypt_with(sb.kvsops(), &enc);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("[] # note"), "{text}");
    let docs = yaml_store().load_plain(text.as_bytes()).unwrap();
    let Some(Node::Map(a)) = docs[0].root.get("a") else { panic!("{text}") };
    assert!(matches!(a.get("l"), Some(Node::Seq(_))), "{text}");
}

/// A key added (`set`) to a file whose comment sits at the end of a nested block: the document is
/// written fresh, and the comment is encrypted where go-yaml will read it (under the inner block,
/// once a less indented key follows it), so both tools decrypt it. Before, `set` refused to write
/// (verified writes), and without that check the comment stayed ENC forever.
#[test]
fn a_key_added_after_a_foot_comment_keeps_the_comment_readable() {
    let sb = Sandbox::new();
    let file = sb.write("f.yaml", "a:\n  b:\n    c: 1\n  # X\n");
    ok({
        let mut c = sb.kvsops();
        c.args(["encrypt", "-i", "--age", KEY1_RECIPIENT]).arg(&file);
        c
    });
    ok({
        let mut c = sb.kvsops();
        c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("set").arg(&file).args(["[\"new\"]", "\"v\""]);
        c
    });
    let ours = String::from_utf8(decrypt_with(sb.kvsops(), &file)).unwrap();
    assert!(ours.contains("# X") && ours.contains("new: v") && !ours.contains("ENC["), "{ours}");
    if have("sops") {
        let mut c = sb.sops();
        c.env("SOPS_AGE_KEY_FILE", key1_file()).arg("decrypt").arg(&file);
        let out = c.output().unwrap();
        let (text, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("# X") && !text.contains("ENC["), "{text}{err}");
        assert!(!err.contains("unencrypted comment"), "{err}");
    }
}
