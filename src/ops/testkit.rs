//! Test helpers for the ops modules: a small JSON store (no layout keeping, no comments) so the
//! operations can be tested end to end with real age keys while the real stores live elsewhere.

use crate::error::{Error, Result};
use crate::keys::age::{AgeEnv, AgeSource};
use crate::keys::{KeySpec, Keyring};
use crate::metadata::Metadata;
use crate::ops::encrypt::EncryptParams;
use crate::rules::CryptRule;
use crate::stores::{EncryptedFile, Format, Store};
use crate::tree::{Document, MapItem, Mapping, Node, SeqItem, Value};

/// A key file of the fixtures (1..=3).
pub fn key_file(n: u8) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("testdata/sops-3.11/key{n}.txt"))
}

/// The recipient of fixture key `n`.
pub fn recipient(n: u8) -> String {
    let text = std::fs::read_to_string(key_file(n)).unwrap();
    text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().trim().to_string()
}

/// A keyring holding the identities of the given fixture keys.
pub fn keyring_with(keys: &[u8]) -> Keyring {
    let text: String =
        keys.iter().map(|n| std::fs::read_to_string(key_file(*n)).unwrap()).collect::<Vec<_>>().join("\n");
    let env = AgeEnv { key: Some(text), ..Default::default() };
    Keyring::with_sources(vec![Box::new(AgeSource::with_env(env))])
}

/// A keyring with fixture key 1.
pub fn keyring1() -> Keyring {
    keyring_with(&[1])
}

/// Encrypts a JSON text for fixture key 1.
pub fn encrypt_json(text: &str, kr: &Keyring) -> Vec<u8> {
    let params = EncryptParams { key_groups: vec![vec![KeySpec::Age(recipient(1))]], ..Default::default() };
    crate::ops::encrypt::encrypt_bytes(text.as_bytes(), &TestStore, &TestStore, &params, kr).unwrap()
}

/// Parses bytes as JSON.
pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Decrypts (MAC checked) to a JSON value.
pub fn decrypt_json(bytes: &[u8], kr: &Keyring) -> serde_json::Value {
    let out = crate::ops::decrypt::decrypt_bytes(bytes, &TestStore, &TestStore, kr, Default::default()).unwrap();
    json(&out)
}

/// Tree to JSON (comments dropped).
pub fn node_to_json(n: &Node) -> serde_json::Value {
    match n {
        Node::Map(m) => map_to_json(m),
        Node::Seq(s) => serde_json::Value::Array(
            s.items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Node(n) => Some(node_to_json(n)),
                    SeqItem::Comment(_) => None,
                })
                .collect(),
        ),
        Node::Scalar(s) => match &s.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => (*f).into(),
            Value::Str(s) | Value::Time(s) => s.clone().into(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned().into(),
        },
    }
}

fn map_to_json(m: &Mapping) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for item in &m.items {
        if let MapItem::Entry(e) = item {
            o.insert(e.key.clone(), node_to_json(&e.value));
        }
    }
    serde_json::Value::Object(o)
}

/// A minimal JSON store for tests.
pub struct TestStore;

fn load(input: &[u8]) -> Result<Mapping> {
    let v: serde_json::Value = serde_json::from_slice(input).map_err(|e| Error::parse("json", e.to_string()))?;
    match crate::ops::set::json_to_node(v) {
        Node::Map(m) => Ok(m),
        _ => Err(Error::parse("json", "not an object")),
    }
}

impl Store for TestStore {
    fn format(&self) -> Format {
        Format::Json
    }
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        Ok(vec![Document::new(load(input)?)])
    }
    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        let mut root = load(input)?;
        let Some(Node::Map(md)) = root.remove("sops") else { return Err(Error::MetadataNotFound) };
        Ok(EncryptedFile { documents: vec![Document::new(root)], metadata: Metadata::from_mapping(&md)? })
    }
    fn emit_plain(&self, documents: &[Document], _source: Option<&[u8]>) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(&map_to_json(&documents[0].root)).unwrap())
    }
    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, _source: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut root = documents[0].root.clone();
        root.push("sops", Node::Map(metadata.to_mapping()));
        Ok(serde_json::to_vec_pretty(&map_to_json(&root)).unwrap())
    }
    fn value_ends_with_newline(&self) -> bool {
        false
    }
    fn has_marker(&self, input: &[u8]) -> bool {
        crate::stores::contains(input, b"\"mac\": \"ENC[")
    }
}

/// Encryption parameters for fixture key 1 with a rule.
pub fn params_key1(rule: Option<CryptRule>, mac_only_encrypted: bool) -> EncryptParams {
    EncryptParams {
        key_groups: vec![vec![KeySpec::Age(recipient(1))]],
        crypt_rule: rule,
        mac_only_encrypted,
        ..Default::default()
    }
}

/// A store with its one-pass path hidden, so the operations take the tree path: the reference
/// the one-pass paths are compared with.
pub struct TreeOnly<S>(pub S);

impl<S: Store> Store for TreeOnly<S> {
    fn format(&self) -> Format {
        self.0.format()
    }
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        self.0.load_plain(input)
    }
    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        self.0.load_encrypted(input)
    }
    fn emit_plain(&self, documents: &[Document], source: Option<&[u8]>) -> Result<Vec<u8>> {
        self.0.emit_plain(documents, source)
    }
    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, source: Option<&[u8]>) -> Result<Vec<u8>> {
        self.0.emit_encrypted(documents, metadata, source)
    }
    fn emit_value(&self, node: &Node) -> Result<Vec<u8>> {
        self.0.emit_value(node)
    }
    fn has_marker(&self, input: &[u8]) -> bool {
        self.0.has_marker(input)
    }
}

/// Decrypts `input` through both stores and requires the same bytes, or the same error.
pub fn assert_decrypts_alike(what: &str, input: &[u8], fast: &dyn Store, tree: &dyn Store, kr: &Keyring) {
    let a = crate::ops::decrypt::decrypt_bytes(input, tree, tree, kr, Default::default());
    let b = crate::ops::decrypt::decrypt_bytes(input, fast, fast, kr, Default::default());
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(String::from_utf8_lossy(&b), String::from_utf8_lossy(&a), "{what}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
        (a, b) => panic!("{what}: tree {:?} vs one-pass {:?}", a.err(), b.err()),
    }
}
