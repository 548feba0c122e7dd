//! Tests of the YAML store: loading (types, comment placement, errors), splicing round trips and
//! interop with the real `sops`.

use super::*;
use crate::tree::{MapItem, Mapping, Node, SeqItem, Value};

const FIXTURES: &str = "/work/shared/reference/fixtures";

/// A compact rendering of a tree: `{k: v, #c}`, `[a, #c]`, scalars as `type:value`.
pub(super) fn dump_map(m: &Mapping) -> String {
    let parts: Vec<String> = m
        .items
        .iter()
        .map(|i| match i {
            MapItem::Entry(e) => format!("{}: {}", e.key, dump_node(&e.value)),
            MapItem::Comment(c) => format!("#{}", c.text),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

pub(super) fn dump_node(n: &Node) -> String {
    match n {
        Node::Map(m) => dump_map(m),
        Node::Seq(s) => {
            let parts: Vec<String> = s
                .items
                .iter()
                .map(|i| match i {
                    SeqItem::Node(n) => dump_node(n),
                    SeqItem::Comment(c) => format!("#{}", c.text),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Node::Scalar(s) => match &s.value {
            Value::Str(x) => format!("{x:?}"),
            Value::Null => "null".into(),
            Value::Bool(b) => format!("bool:{b}"),
            Value::Int(i) => format!("int:{i}"),
            Value::Float(f) => format!("float:{f}"),
            Value::Time(t) => format!("time:{t}"),
            Value::Bytes(b) => format!("bytes:{b:?}"),
        },
    }
}

pub(super) fn dump(docs: &[Document]) -> String {
    docs.iter().map(|d| dump_map(&d.root)).collect::<Vec<_>>().join(" --- ")
}

fn store() -> YamlStore {
    YamlStore::new(4)
}

#[test]
fn loads_t1_with_types_and_comments() {
    let src = std::fs::read(format!("{FIXTURES}/t1.yaml")).unwrap();
    let docs = store().load_plain(&src).unwrap();
    println!("{}", dump(&docs));
}

/// Interop tests run the real `sops`; they are skipped (with a notice) only when it is missing
/// and KVSOPS_REQUIRE_INTEROP is unset.
pub(super) fn sops_available(test: &str) -> bool {
    let found = std::process::Command::new("sops").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var_os("KVSOPS_REQUIRE_INTEROP").is_some() {
            panic!("{test}: `sops` is not on PATH and KVSOPS_REQUIRE_INTEROP is set");
        }
        eprintln!("{test}: skipped, `sops` is not on PATH");
    }
    found
}

pub(super) const KEY1: &str = "/work/shared/reference/fixtures/key1.txt";
pub(super) const RECIPIENT1: &str = "age16rgx9xmhnd8afawnn75f8lvcnjx6luphk8uapvsuy78a4pdat4wq2tkw9v";

pub(super) fn sops(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.yaml");
    std::fs::File::create(&path).unwrap().write_all(input).unwrap();
    std::process::Command::new("sops")
        .args(args)
        .arg(&path)
        .env("SOPS_AGE_KEY_FILE", KEY1)
        .env_remove("SOPS_AGE_KEY")
        .current_dir(dir.path())
        .output()
        .unwrap()
}

/// Comments that open a collection which is itself a list item are, for sops, equivalent to
/// comments before that item (same AAD, same output): move them up so both layouts compare.
fn hoist(m: &mut Mapping) {
    for it in m.items.iter_mut() {
        if let MapItem::Entry(e) = it {
            hoist_node(&mut e.value);
        }
    }
}

fn hoist_node(n: &mut Node) {
    match n {
        Node::Map(m) => hoist(m),
        Node::Scalar(_) => {}
        Node::Seq(s) => {
            let mut out = Vec::new();
            for it in s.items.drain(..) {
                match it {
                    SeqItem::Node(mut n) => {
                        hoist_node(&mut n);
                        match &mut n {
                            Node::Map(m) => {
                                while let Some(MapItem::Comment(_)) = m.items.first() {
                                    if let MapItem::Comment(c) = m.items.remove(0) {
                                        out.push(SeqItem::Comment(c));
                                    }
                                }
                            }
                            Node::Seq(inner) => {
                                while let Some(SeqItem::Comment(_)) = inner.items.first() {
                                    if let SeqItem::Comment(c) = inner.items.remove(0) {
                                        out.push(SeqItem::Comment(c));
                                    }
                                }
                            }
                            Node::Scalar(_) => {}
                        }
                        out.push(SeqItem::Node(n));
                    }
                    other => out.push(other),
                }
            }
            s.items = out;
        }
    }
}

/// The comment placement of the loader agrees with go-yaml + sops: sops re-emits each file in
/// its own canonical layout (nothing encrypted), and both layouts load to the same tree.
#[test]
fn interop_comment_placement_matches_sops() {
    if !sops_available("interop_comment_placement_matches_sops") {
        return;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/yaml/comments");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut failures = Vec::new();
    for f in &files {
        let src = std::fs::read(f).unwrap();
        let mut mine = store().load_plain(&src).unwrap();
        let out = sops(&["encrypt", "--age", RECIPIENT1, "--encrypted-regex", "^zzz$"], &src);
        assert!(out.status.success(), "{}: {}", f.display(), String::from_utf8_lossy(&out.stderr));
        let mut theirs = store().load_encrypted(&out.stdout).unwrap().documents;
        for d in mine.iter_mut().chain(theirs.iter_mut()) {
            hoist(&mut d.root);
        }
        let (a, b) = (dump(&mine), dump(&theirs));
        if std::env::var_os("YAML_DUMP").is_some() { eprintln!("{}\n  {a}\n  {b}", f.display()); }
        if a != b {
            failures.push(format!("{}:\n  mine: {a}\n  sops: {b}\n  sops text:\n{}", f.display(), String::from_utf8_lossy(&out.stdout).split("sops:").next().unwrap_or("")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
