//! `set` and `unset`: change one value of an encrypted file without opening an editor.
//!
//! The value is JSON, as in sops (`'"text"'`, `42`, `{"a": [1, true]}`); objects keep their key
//! order. The file is decrypted (MAC checked unless told otherwise), changed in its first
//! document, and sealed again under the same data key with the decrypting cipher, so every other
//! value keeps its ENC string. Neither the value nor any decrypted content ever appears in an
//! error: messages name the path and the kind of problem only.

use super::decrypt::{decrypt_file, DecryptOptions};
use super::rewrite::{relayout, seal};
use super::treepath::{self, Step};
use crate::error::{Error, Result};
use crate::keys::Keyring;
use crate::stores::Store;
use crate::tree::{Mapping, Node, Scalar, SeqItem, Sequence, Value};

/// Converts a parsed JSON value to a tree node: objects become mappings in key order, arrays
/// sequences, integral numbers `Int` (others, and integers beyond i64, `Float`).
pub fn json_to_node(v: serde_json::Value) -> Node {
    match v {
        serde_json::Value::Null => Node::Scalar(Scalar::new(Value::Null)),
        serde_json::Value::Bool(b) => Node::Scalar(Scalar::new(Value::Bool(b))),
        serde_json::Value::Number(n) => Node::Scalar(Scalar::new(match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        })),
        serde_json::Value::String(s) => Node::str(s),
        serde_json::Value::Array(a) => {
            Node::Seq(Sequence { items: a.into_iter().map(|v| SeqItem::Node(json_to_node(v))).collect(), src: None })
        }
        serde_json::Value::Object(o) => {
            let mut m = Mapping::new();
            for (k, v) in o {
                m.push(k, json_to_node(v));
            }
            Node::Map(m)
        }
    }
}

/// Parses a `set` value. The error gives the position only, never the text (exit 7).
pub fn parse_value(text: &str) -> Result<Node> {
    serde_json::from_str::<serde_json::Value>(text).map(json_to_node).map_err(|e| {
        Error::InvalidValue(format!(
            "the value is not valid JSON (line {}, column {}); a string needs quotes, e.g. '\"text\"'",
            e.line(),
            e.column()
        ))
    })
}

/// The result of a `set`: the new file, and whether the value differed from what was there.
pub struct SetOutcome {
    pub output: super::verify::Verified,
    pub changed: bool,
}

/// Sets the value at `path` in the first document.
pub fn set(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    opts: DecryptOptions,
    path: &[Step],
    value: Node,
) -> Result<SetOutcome> {
    let mut d = decrypt_file(input, in_store, keyring, opts)?;
    let layout = relayout(in_store, &d.documents, input)?;
    let mut documents = layout.documents;
    let first = documents.first_mut().ok_or(Error::NoDocuments)?;
    let changed = treepath::set(&mut first.root, path, value)?;
    let source = (in_store.format() == out_store.format()).then_some(layout.bytes.as_slice());
    let output = seal(documents, &mut d.metadata, &mut d.cipher, out_store, source)?;
    Ok(SetOutcome { output, changed })
}

/// Removes the value at `path` from the first document; `Error::PathNotFound` when it is absent.
pub fn unset(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    opts: DecryptOptions,
    path: &[Step],
) -> Result<super::verify::Verified> {
    let mut d = decrypt_file(input, in_store, keyring, opts)?;
    let layout = relayout(in_store, &d.documents, input)?;
    let mut documents = layout.documents;
    let first = documents.first_mut().ok_or(Error::NoDocuments)?;
    treepath::unset(&mut first.root, path)?;
    let source = (in_store.format() == out_store.format()).then_some(layout.bytes.as_slice());
    seal(documents, &mut d.metadata, &mut d.cipher, out_store, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testkit::*;

    #[test]
    fn json_values_become_typed_nodes() {
        let n = parse_value(r#"{"z": 1, "a": [1.5, true, null, "s"], "big": 18446744073709551615}"#).unwrap();
        let Node::Map(m) = n else { panic!("map") };
        let keys: Vec<_> = m.entries().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "a", "big"], "key order kept");
        assert_eq!(m.get("z"), Some(&Node::Scalar(Scalar::new(Value::Int(1)))));
        assert!(matches!(m.get("big"), Some(Node::Scalar(Scalar { value: Value::Float(_), .. }))));
        let Some(Node::Seq(s)) = m.get("a") else { panic!("seq") };
        let vals: Vec<_> = s.nodes().cloned().collect();
        assert_eq!(
            vals,
            vec![
                Node::Scalar(Scalar::new(Value::Float(1.5))),
                Node::Scalar(Scalar::new(Value::Bool(true))),
                Node::Scalar(Scalar::new(Value::Null)),
                Node::str("s"),
            ]
        );
    }

    #[test]
    fn bad_values_never_echo_the_value() {
        let err = parse_value("hunter2-secret").unwrap_err();
        assert_eq!(err.exit_code(), 7);
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn set_changes_one_value_and_keeps_the_others() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one", "b": {"c": "two"}}"#, &kr);
        let path = treepath::parse(r#"["b"]["c"]"#).unwrap();
        let out = set(&enc, &TestStore, &TestStore, &kr, Default::default(), &path, Node::str("three")).unwrap();
        assert!(out.changed);
        assert_eq!(json(&enc)["a"], json(&out.output)["a"]);
        assert_eq!(decrypt_json(&out.output, &kr), serde_json::json!({"a": "one", "b": {"c": "three"}}));
        // Same value again: unchanged, and the value's ENC string is the same.
        let again =
            set(&out.output, &TestStore, &TestStore, &kr, Default::default(), &path, Node::str("three")).unwrap();
        assert!(!again.changed);
        assert_eq!(json(&out.output)["b"], json(&again.output)["b"]);
        // New keys and structures.
        let path = treepath::parse(r#"["new"]["list"]"#).unwrap();
        let out = set(
            &enc,
            &TestStore,
            &TestStore,
            &kr,
            Default::default(),
            &path,
            parse_value("[1, {\"k\": false}]").unwrap(),
        )
        .unwrap();
        assert_eq!(decrypt_json(&out.output, &kr)["new"], serde_json::json!({"list": [1, {"k": false}]}));
    }

    #[test]
    fn set_refuses_the_sops_key() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        let path = treepath::parse(r#"["sops"]"#).unwrap();
        assert!(set(&enc, &TestStore, &TestStore, &kr, Default::default(), &path, Node::str("x")).is_err());
    }

    #[test]
    fn unset_removes_or_reports_missing() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one", "b": ["x", "y"]}"#, &kr);
        let out =
            unset(&enc, &TestStore, &TestStore, &kr, Default::default(), &treepath::parse(r#"["b"][0]"#).unwrap())
                .unwrap();
        assert_eq!(decrypt_json(&out, &kr), serde_json::json!({"a": "one", "b": ["y"]}));
        assert_eq!(json(&enc)["a"], json(&out)["a"]);
        let err = unset(&enc, &TestStore, &TestStore, &kr, Default::default(), &treepath::parse(r#"["zz"]"#).unwrap())
            .unwrap_err();
        assert!(matches!(err, Error::PathNotFound(_)));
        assert_eq!(err.exit_code(), 1);
    }
}
