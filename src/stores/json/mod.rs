//! The JSON store: sops's `stores/json` reading and writing rules, with the user's layout kept.
//!
//! **Reading.** An own scanner (serde_json would reformat numbers and lose spans) builds the tree
//! with a [`Src`] on every key, scalar and container, in file order. Duplicate keys are kept as
//! two items, as sops does; the top level must be an object, and only whitespace may follow it.
//! Strings are decoded as Go's decoder does (invalid UTF-8 and lone surrogates become U+FFFD).
//!
//! **Numbers.** sops 3.11 reads every JSON number as a float64 (`type:float`); 3.13.2 reads an
//! integer that fits in an int64 as `int`. kvsops reads an integer literal that fits in an `i64`
//! (except `-0`) as [`Value::Int`] and everything else as [`Value::Float`]. Why:
//! - the MAC hashes sops's `ToBytes` of the value *as sops parses it back*. An encrypted `int`
//!   is `strconv.Atoi`'d and re-printed by both sops versions to the same digits, so kvsops's MAC
//!   matches and the value is exact; an encrypted `float` is what sops 3.11 writes itself and is
//!   re-printed with Go's shortest float format, which is what [`crate::cipher::value_bytes`] gives;
//! - typing integers as floats (sops 3.11's way) would silently change every integer above 2^53
//!   (`12345678901234567` decrypts to `12345678901234568`); as `int` they come back exact;
//! - encrypting a big integer as `float` with its exact digits instead would break the MAC: sops
//!   parses it to a float64 and hashes the shortened digits.
//!
//! The trade-offs: an integer beyond the i64 range can only be a float (neither sops version can
//! parse it as an int), so its low digits are lost exactly as in sops when it is *encrypted* (it
//! stays exact when it is left unencrypted and unchanged, because the layout is kept); and an
//! *unencrypted* integer between 2^53 and 2^63 is hashed by kvsops (and sops 3.13.2) as its exact
//! digits but by sops 3.11 as the rounded float, so sops 3.11 reports a MAC mismatch on such a file
//! (Flux does not check the MAC). Integers up to 2^53, all floats, and every encrypted number in
//! the i64 range are interchangeable with both sops versions.
//!
//! **Writing fresh** (no source, and the `sops` block) is byte-for-byte what sops writes:
//! `json.Marshal` escaping (`\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`, `\b`, `\f`, `\u00XX`),
//! Go's float format (`1e+21`, `1.5e-7`, `1` for 1.0), `json.Indent` with a tab or N spaces,
//! `": "`, `{}`/`[]`, a trailing newline; empty key lists inside `key_groups` are `null` as in
//! 3.11's struct marshalling. JSON has no comments: comment items are skipped.
//!
//! **Writing with a source** splices: only scalars whose value differs from what the source holds
//! at their span are rewritten; a container whose items changed (a key added or removed) is
//! re-rendered in place, indented like its line; the `"sops"` member is removed (decrypt) or
//! inserted after the last member (encrypt) with exactly the bytes the other direction removes, so
//! `decrypt(encrypt(x)) == x`. Encrypted values that come back non-canonical (`1.0` becomes `1`,
//! `"\u00e9"` becomes `"é"`) are the exception: their source text is gone with the encryption.
//!
//! Modules: `reader` (the scanner), `writer` (fresh output), `splicer` (layout-kept output and the
//! `sops` member's bytes), `stream` (the one-pass path); this module holds the [`Store`] glue.
//!
//! [`Src`]: crate::tree::Src
//! [`Value::Int`]: crate::tree::Value::Int
//! [`Value::Float`]: crate::tree::Value::Float

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::{contains, EncryptedFile, Format, Store, Streamed};
use crate::tree::{DocLayout, Document, Node};

mod reader;
mod splicer;
mod stream;
mod writer;

pub(crate) use reader::parse_root;
use splicer::{sops_removal, splice};
pub(crate) use writer::render_fresh;
use writer::{render, Layout};

/// The Flux detection marker of JSON (and binary) files.
pub const MARKER: &[u8] = b"\"mac\": \"ENC[";

/// `Src.style` of a scalar read from JSON: what kind of token it was.
pub const STYLE_STRING: u8 = 1;
/// `Src.style` of a number token.
pub const STYLE_NUMBER: u8 = 2;
/// `Src.style` of `true`, `false` or `null`.
pub const STYLE_LITERAL: u8 = 3;

/// The JSON store.
pub struct JsonStore {
    indent: Option<usize>,
}

impl JsonStore {
    /// A store writing with `indent` spaces (`stores.json.indent`), or a tab when `None`.
    pub fn new(indent: Option<usize>) -> Self {
        JsonStore { indent }
    }

    fn unit(&self) -> String {
        unit_for(self.indent)
    }
}

/// The indentation unit for a `stores.json*.indent` setting: a tab for `None` (sops's -1).
pub(crate) fn unit_for(indent: Option<usize>) -> String {
    match indent {
        None => "\t".to_string(),
        Some(n) => " ".repeat(n),
    }
}

fn single_doc(documents: &[Document]) -> Result<&Document> {
    match documents {
        [d] => Ok(d),
        [] => Err(Error::NoDocuments),
        _ => Err(Error::Unsupported("JSON files hold exactly one document".into())),
    }
}

/// Reads an encrypted JSON text: the data root (without `sops`) and the metadata.
pub(crate) fn load_encrypted_json(input: &[u8]) -> Result<EncryptedFile> {
    let mut root = parse_root(input)?;
    let removal = sops_removal(&root);
    // Go's json.Unmarshal: the last `sops` member wins.
    let meta_node =
        root.entries().filter(|e| e.key == "sops").last().map(|e| e.value.clone()).ok_or(Error::MetadataNotFound)?;
    let Node::Map(meta) = meta_node else {
        return Err(Error::InvalidMetadata("the sops member is not an object".into()));
    };
    let metadata = Metadata::from_mapping(&meta)?;
    root.remove("sops");
    let rs = root.src.unwrap_or_default();
    let layout = DocLayout { start: rs.start, end: rs.end, metadata: removal };
    Ok(EncryptedFile { documents: vec![Document { root, layout: Some(layout) }], metadata })
}

impl Store for JsonStore {
    fn format(&self) -> Format {
        Format::Json
    }

    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        let root = parse_root(input)?;
        let rs = root.src.unwrap_or_default();
        Ok(vec![Document { root, layout: Some(DocLayout { start: rs.start, end: rs.end, metadata: None }) }])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        load_encrypted_json(input)
    }

    fn emit_plain(&self, documents: &[Document], source: Option<&[u8]>) -> Result<Vec<u8>> {
        let doc = single_doc(documents)?;
        if let Some(src) = source {
            if let Some(out) = splice(&doc.root, src, None, &self.unit())? {
                return Ok(out);
            }
        }
        render_fresh(&doc.root, None, &self.unit())
    }

    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, source: Option<&[u8]>) -> Result<Vec<u8>> {
        let doc = single_doc(documents)?;
        let meta = metadata.to_mapping();
        if let Some(src) = source {
            if let Some(out) = splice(&doc.root, src, Some(&meta), &self.unit())? {
                return Ok(out);
            }
        }
        render_fresh(&doc.root, Some(&meta), &self.unit())
    }

    fn emit_value(&self, node: &Node) -> Result<Vec<u8>> {
        // sops's EmitValue: the value re-indented, without a trailing newline.
        let mut out = Vec::new();
        let unit = self.unit();
        render(&mut out, node, &Layout { base: "", unit: &unit, null_empty_seqs: false }, 0)?;
        Ok(out)
    }

    fn value_ends_with_newline(&self) -> bool {
        false
    }

    fn value_as_document(&self, node: &Node, emitted: &[u8]) -> Option<Vec<u8>> {
        // sops's JSON EmitValue writes a list or scalar bare, which no JSON document reader
        // takes: it is read back as the value of a member, which is how the JSON reader reads
        // every non-root value.
        matches!(node, Node::Seq(_) | Node::Scalar(_)).then(|| [b"{\"value\": ".as_slice(), emitted, b"}"].concat())
    }

    fn has_marker(&self, input: &[u8]) -> bool {
        contains(input, MARKER)
    }

    fn streamed<'a>(&'a self, input: &'a [u8]) -> Option<Box<dyn Streamed + 'a>> {
        stream::recognise(input, self.unit()).map(|s| Box::new(s) as Box<dyn Streamed + 'a>)
    }
}

#[cfg(test)]
mod tests {
    use super::splicer::{sops_removal, splice};
    use super::writer::{render_fresh, write_str};
    use super::*;
    use crate::tree::{Mapping, SeqItem, Sequence, Value};

    fn store() -> JsonStore {
        JsonStore::new(None)
    }

    fn root(input: &str) -> Mapping {
        store().load_plain(input.as_bytes()).unwrap().remove(0).root
    }

    fn val(m: &Mapping, k: &str) -> Value {
        match m.get(k) {
            Some(Node::Scalar(s)) => s.value.clone(),
            other => panic!("{k}: {other:?}"),
        }
    }

    #[test]
    fn numbers_are_typed_int_within_i64_and_float_otherwise() {
        let m = root(r#"{"i":1,"neg":-7,"z":-0,"f":1.5,"e":1e3,"big":12345678901234567890,"i63":9007199254740993}"#);
        assert_eq!(val(&m, "i"), Value::Int(1));
        assert_eq!(val(&m, "neg"), Value::Int(-7));
        assert!(matches!(val(&m, "z"), Value::Float(f) if f == 0.0 && f.is_sign_negative()));
        assert_eq!(val(&m, "f"), Value::Float(1.5));
        assert_eq!(val(&m, "e"), Value::Float(1000.0));
        assert_eq!(val(&m, "big"), Value::Float(12345678901234567890.0));
        assert_eq!(val(&m, "i63"), Value::Int(9007199254740993));
        assert!(store().load_plain(b"{\"x\": 1e400}").is_err());
    }

    #[test]
    fn keeps_order_duplicates_and_spans() {
        let src = "{\"b\": 1, \"a\": [true, null, {\"k\": \"v\"}], \"b\": \"x\"}";
        let m = root(src);
        let keys: Vec<_> = m.entries().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        let e = m.entries().nth(2).unwrap();
        let Node::Scalar(s) = &e.value else { panic!() };
        let sp = s.src.unwrap();
        assert_eq!(&src[sp.start..sp.end], "\"x\"");
        assert_eq!(sp.style, STYLE_STRING);
    }

    #[test]
    fn strings_decode_like_go() {
        let m = root(r#"{"s":"a\u00e9\ud83d\ude00\ud800x\/\b"}"#);
        assert_eq!(val(&m, "s"), Value::Str("aé😀\u{FFFD}x/\u{8}".into()));
        let m = store().load_plain(b"{\"s\":\"a\xffb\"}").unwrap().remove(0).root;
        assert_eq!(val(&m, "s"), Value::Str("a\u{FFFD}b".into()));
    }

    #[test]
    fn refuses_bad_input_without_echoing_it() {
        for bad in
            ["", "[1]", "\"s\"", "{\"a\":}", "{\"a\":1,}", "{\"a\":\"secret\u{1}\"}", "{\"a\":1} x", "{\"a\":01}"]
        {
            let err = store().load_plain(bad.as_bytes()).unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
        // As deep as sops accepts, then deeper: refused, without overflowing the stack.
        crate::stack::run(|| {
            let open = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
            assert!(store().load_plain(open(9_990).as_bytes()).is_ok());
            let err = store().load_plain(open(10_001).as_bytes()).unwrap_err().to_string();
            assert!(err.contains("exceeded max depth of 10000"), "{err}");
            assert!(store().load_plain(format!("{{\"a\":{}", "[".repeat(5000)).as_bytes()).is_err());
        });
    }

    #[test]
    fn go_escaping() {
        let mut out = Vec::new();
        write_str(&mut out, "a<b>&c\u{2028}\u{2029}\"\\\n\t\u{1}\u{8}\u{c}\u{7f}é");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(r#""a\u003cb\u003e\u0026c\u2028\u2029\"\\\n\t\u0001\b\f"#, "\u{7f}é\"")
        );
    }

    #[test]
    fn fresh_output_matches_json_indent() {
        let m = root(r#"{"a":{"b":[1,"x",[],{}],"c":{}},"d":[]}"#);
        let out = render_fresh(&m, None, "\t").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\n\t\"a\": {\n\t\t\"b\": [\n\t\t\t1,\n\t\t\t\"x\",\n\t\t\t[],\n\t\t\t{}\n\t\t],\n\t\t\"c\": {}\n\t},\n\t\"d\": []\n}\n");
        let out = JsonStore::new(Some(2)).emit_plain(&[Document::new(root(r#"{"a":[1]}"#))], None).unwrap();
        assert_eq!(out, b"{\n  \"a\": [\n    1\n  ]\n}\n");
        let out = JsonStore::new(Some(0)).emit_plain(&[Document::new(root(r#"{"a":[1]}"#))], None).unwrap();
        assert_eq!(out, b"{\n\"a\": [\n1\n]\n}\n");
    }

    #[test]
    fn splicing_changes_only_changed_values() {
        let src = "{\n  \"a\": 1.0,\n  \"b\" :\"x\",  \"c\": [ 1 ,2 ]\n}";
        let mut m = root(src);
        // Unchanged: identical bytes.
        let out = store().emit_plain(&[Document::new(m.clone())], Some(src.as_bytes())).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), src);
        if let Some(Node::Scalar(s)) = m.get_mut("b") {
            s.value = Value::Str("<y>".into());
        }
        let out = store().emit_plain(&[Document::new(m.clone())], Some(src.as_bytes())).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"a\": 1.0,\n  \"b\" :\"\\u003cy\\u003e\",  \"c\": [ 1 ,2 ]\n}"
        );
        // A new key re-renders its container in place.
        if let Some(Node::Seq(s)) = m.get_mut("c") {
            s.items.push(SeqItem::Node(Node::str("n")));
        }
        let out = store().emit_plain(&[Document::new(m)], Some(src.as_bytes())).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"a\": 1.0,\n  \"b\" :\"\\u003cy\\u003e\",  \"c\": [\n    1,\n    2,\n    \"n\"\n  ]\n}"
        );
    }

    #[test]
    fn metadata_member_is_removed_exactly_as_inserted() {
        for src in ["{\n\t\"a\": \"x\"\n}\n", "{\"a\":1}", "{}", "{\n  \"k\": {\"n\": null}\n}"] {
            let doc = store().load_plain(src.as_bytes()).unwrap();
            let mut meta = Mapping::new();
            meta.push("mac", Node::str("ENC[x]"));
            meta.push("kg", Node::Seq(Sequence::default()));
            let rendered = splice(&doc[0].root, src.as_bytes(), Some(&meta), "\t").unwrap().unwrap();
            let text = String::from_utf8(rendered.clone()).unwrap();
            assert!(text.contains("\"mac\": \"ENC[x]\""), "{text}");
            assert!(text.contains("\"kg\": null"), "{text}");
            let reparsed = parse_root(&rendered).unwrap();
            let (s, e) = sops_removal(&reparsed).unwrap();
            let mut back = rendered[..s].to_vec();
            back.extend_from_slice(&rendered[e..]);
            assert_eq!(String::from_utf8(back).unwrap(), src);
        }
    }
}
