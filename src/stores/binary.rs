//! The binary store: any file (the default for unknown extensions) encrypted as one value.
//!
//! As in sops's `json.BinaryStore`, the whole input is a single string under the key `data`
//! (AAD `data:`), kept as raw bytes when it is not UTF-8 ([`Value::Bytes`], still `type:str`, as
//! sops's Go strings hold any bytes). The encrypted file is JSON, `{"data": "ENC[...]", "sops": {...}}`,
//! written by the JSON writer with `stores.json_binary.indent`. Its metadata records no crypt rule
//! (sops 3.11 clears the rules for binary files). Decrypting writes the bytes back exactly, with no
//! newline added. There is no layout to keep: the output is the same with or without a source.

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::json::{load_encrypted_json, render_fresh, unit_for, MARKER};
use crate::stores::{contains, EncryptedFile, Format, Store};
use crate::tree::{Document, Mapping, Node, Scalar, Value};

/// The binary store.
pub struct BinaryStore {
    indent: Option<usize>,
}

impl BinaryStore {
    /// A store whose JSON envelope uses `indent` spaces (`stores.json_binary.indent`), or a tab.
    pub fn new(indent: Option<usize>) -> Self {
        BinaryStore { indent }
    }
}

impl Store for BinaryStore {
    fn format(&self) -> Format {
        Format::Binary
    }

    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        let value = match std::str::from_utf8(input) {
            Ok(s) => Value::Str(s.to_string()),
            Err(_) => Value::Bytes(input.to_vec()),
        };
        let mut root = Mapping::new();
        root.push("data", Node::Scalar(Scalar::new(value)));
        Ok(vec![Document::new(root)])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        load_encrypted_json(input)
    }

    fn emit_plain(&self, documents: &[Document], _source: Option<&[u8]>) -> Result<Vec<u8>> {
        let [doc] = documents else {
            return Err(Error::Unsupported("a binary file holds exactly one document".into()));
        };
        match doc.root.get("data") {
            Some(Node::Scalar(Scalar { value: Value::Str(s), .. })) => Ok(s.as_bytes().to_vec()),
            Some(Node::Scalar(Scalar { value: Value::Bytes(b), .. })) => Ok(b.clone()),
            Some(_) => Err(Error::Unsupported("the 'data' key of a binary file does not hold a string".into())),
            None => Err(Error::Unsupported("no binary data found in the tree (no 'data' key)".into())),
        }
    }

    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, _source: Option<&[u8]>) -> Result<Vec<u8>> {
        let [doc] = documents else {
            return Err(Error::Unsupported("a binary file holds exactly one document".into()));
        };
        render_fresh(&doc.root, Some(&metadata.to_mapping_without_rule()), &unit_for(self.indent))
    }

    fn emit_value(&self, _node: &Node) -> Result<Vec<u8>> {
        Err(Error::Unsupported("binary files are not structured; extracting a single value is not possible".into()))
    }

    fn has_marker(&self, input: &[u8]) -> bool {
        contains(input, MARKER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKeyEntry;

    fn meta() -> Metadata {
        let mut md = Metadata::new(
            vec![vec![MasterKeyEntry::Age { recipient: "age1x".into(), enc: "E\n".into() }]],
            None,
            None,
            false,
        );
        md.mac = "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]".into();
        md
    }

    #[test]
    fn raw_bytes_round_trip_exactly() {
        let input = b"hello\0world\xff\xfe\n";
        let store = BinaryStore::new(None);
        let docs = store.load_plain(input).unwrap();
        assert!(matches!(docs[0].root.get("data"), Some(Node::Scalar(Scalar { value: Value::Bytes(_), .. }))));
        assert_eq!(store.emit_plain(&docs, None).unwrap(), input);
        let text = store.load_plain(b"plain text").unwrap();
        assert_eq!(text[0].root.get("data"), Some(&Node::str("plain text")));
    }

    #[test]
    fn envelope_is_json_without_a_rule_and_has_the_marker() {
        let store = BinaryStore::new(None);
        let mut root = Mapping::new();
        root.push("data", Node::str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"));
        let out = store.emit_encrypted(&[Document::new(root)], &meta(), None).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with(
            "{\n\t\"data\": \"ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\",\n\t\"sops\": {\n\t\t\"age\": [\n"
        ));
        assert!(!text.contains("unencrypted_suffix"));
        assert!(text.ends_with("\t\t\"version\": \"3.11.0\"\n\t}\n}\n"));
        assert!(store.has_marker(&out));
        let back = store.load_encrypted(&out).unwrap();
        assert_eq!(back.metadata.mac, meta().mac);
        let spaced = BinaryStore::new(Some(2)).emit_encrypted(&back.documents, &meta(), None).unwrap();
        assert!(String::from_utf8(spaced).unwrap().starts_with("{\n  \"data\": "));
    }

    #[test]
    fn emit_plain_needs_a_string_data_key() {
        let store = BinaryStore::new(None);
        let mut root = Mapping::new();
        root.push("other", Node::str("x"));
        assert!(store.emit_plain(&[Document::new(root)], None).is_err());
        assert!(store.emit_value(&Node::str("x")).is_err());
    }
}
