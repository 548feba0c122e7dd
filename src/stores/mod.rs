//! File formats. Each store turns bytes into the format-neutral tree and back, for plaintext and
//! for encrypted files (whose `sops` metadata it separates from the data).
//!
//! Stores that keep the user's layout (YAML, JSON, dotenv) record a [`crate::tree::Src`] on every
//! node they read; given the same source bytes back when writing, they rewrite only the values
//! that changed, so `decrypt(encrypt(file)) == file` byte for byte and diffs stay small. Nodes
//! without a `Src` (new keys, converted formats) are written fresh in sops's style.

pub mod binary;
pub mod dotenv;
pub(crate) mod example;
pub mod ini;
pub mod json;
mod splice;
pub mod yaml;

use std::path::Path;

use crate::error::Result;
use crate::metadata::{has_sops_key, Metadata};
use crate::tree::{Document, Leaf, LeafCtx, Mapping, Node};

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// The format sops picks from a path's extension; anything unknown is binary.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") | Some("yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }

    /// Parses `--input-type` / `--output-type`.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// The name used in flags and messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// Whether files of this format record an encryption rule and `mac_only_encrypted`: all but
    /// binary, whose one value is always encrypted (sops 3.11 writes neither for it).
    pub fn records_rule(self) -> bool {
        self != Format::Binary
    }

    /// The store for this format with the given settings.
    pub fn store(self, settings: &StoreSettings) -> Box<dyn Store> {
        match self {
            Format::Yaml => Box::new(yaml::YamlStore::new(settings.yaml_indent)),
            Format::Json => Box::new(json::JsonStore::new(settings.json_indent)),
            Format::Dotenv => Box::new(dotenv::DotenvStore),
            Format::Ini => Box::new(ini::IniStore),
            Format::Binary => Box::new(binary::BinaryStore::new(settings.json_binary_indent)),
        }
    }
}

/// The `stores:` settings of `.sops.yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    /// `stores.yaml.indent` (sops's default is 4).
    pub yaml_indent: usize,
    /// `stores.json.indent`: `None` means a tab (sops's -1).
    pub json_indent: Option<usize>,
    /// `stores.json_binary.indent`.
    pub json_binary_indent: Option<usize>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings { yaml_indent: 4, json_indent: None, json_binary_indent: None }
    }
}

/// An encrypted file as read: its documents (values still ENC strings) and its metadata.
#[derive(Debug)]
pub struct EncryptedFile {
    pub documents: Vec<Document>,
    pub metadata: Metadata,
}

/// One file format.
///
/// `source` arguments are the exact bytes the tree was loaded from (or `None` when the tree came
/// from elsewhere, e.g. another format); a store that keeps layouts splices new values into them.
pub trait Store: Send + Sync {
    /// The format this store handles.
    fn format(&self) -> Format;

    /// Reads a plaintext file. A file that already carries sops metadata still loads; the caller
    /// refuses it (exit 203).
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>>;

    /// Reads an encrypted file and separates its metadata.
    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile>;

    /// Reads back plaintext output just produced, to check it (verified writes): as `load_plain`,
    /// but nothing will be written from this parse, so a store that keeps one for writing back
    /// (YAML) need not.
    fn read_back_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        self.load_plain(input)
    }

    /// Reads back encrypted output just produced, to check it: as `load_encrypted`, uncached.
    fn read_back_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        self.load_encrypted(input)
    }

    /// Writes a plaintext file.
    fn emit_plain(&self, documents: &[Document], source: Option<&[u8]>) -> Result<Vec<u8>>;

    /// Writes an encrypted file: the documents (values are ENC strings) and the metadata.
    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, source: Option<&[u8]>) -> Result<Vec<u8>>;

    /// Writes one extracted value (`decrypt --extract`): a subtree as a document of this format.
    /// String leaves are printed raw by the caller and never reach this.
    fn emit_value(&self, node: &Node) -> Result<Vec<u8>> {
        let root = match node {
            Node::Map(m) => m.clone(),
            other => {
                let mut m = Mapping::new();
                m.push("value", other.clone());
                m
            }
        };
        self.emit_plain(&[Document::new(root)], None)
    }

    /// Whether a scalar printed by `decrypt --extract` ends with a newline: sops's EmitValue for
    /// YAML (go-yaml) ends the value with one, encoding/json does not.
    fn value_ends_with_newline(&self) -> bool {
        true
    }

    /// The bytes of [`Store::emit_value`]'s `emitted` for `node` as a document of this format
    /// (`value: <node>`), when the emitted text is not one by itself, so it can be read back and
    /// checked; `None` when it is (a mapping, or a store that writes whole documents).
    fn value_as_document(&self, _node: &Node, _emitted: &[u8]) -> Option<Vec<u8>> {
        None
    }

    /// True when a plaintext root already carries sops metadata in this format's spelling (a
    /// top-level `sops` key; a `[sops]` section in INI), so encrypting it is refused (exit 203).
    fn holds_metadata(&self, root: &Mapping) -> bool {
        has_sops_key(root)
    }

    /// sops's example content for a new file of this format (`EmitExample`), which `edit` opens
    /// when the file does not exist.
    fn example(&self) -> Vec<Document> {
        example::example(self.format())
    }

    /// True when the bytes hold this format's Flux detection marker (the file is encrypted).
    fn has_marker(&self, input: &[u8]) -> bool;

    /// The one-pass fast path for this file, when the store offers one and the file is simple
    /// enough for it; `None` means load a tree.
    fn streamed<'a>(&'a self, _input: &'a [u8]) -> Option<Box<dyn Streamed + 'a>> {
        None
    }
}

/// A file a store rewrites in one pass over its text, without building a tree: the fast path for
/// large, simple files (a Secret with 100,000 keys). The result is byte for byte what loading,
/// walking and emitting with the source would give; a store offers it only where it can promise
/// that, and the tree path handles everything else.
pub trait Streamed {
    /// The file's `sops` metadata mapping, or `None` when it has none (a plaintext).
    fn metadata(&self) -> Result<Option<Mapping>>;

    /// Calls `visit` on every leaf, in the order and with the paths and comment stacks
    /// [`crate::tree::walk_leaves`] would give, and writes each leaf it returns in place, up to
    /// where the `sops` block goes (encrypting) or without it (decrypting). `Ok(None)`: a leaf
    /// came back in a shape only the tree path can write; start over on the tree.
    fn rewrite(&self, visit: &mut dyn FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf>) -> Result<Option<Rewritten>>;

    /// Completes a rewritten file: the `sops` block (when encrypting), then the rest of the source.
    fn finish(&self, rewritten: Rewritten, metadata: Option<&Metadata>) -> Result<Vec<u8>>;
}

/// A file rewritten up to the place of its `sops` block: `out` holds the new text of the source up
/// to `stop`; a `sops` block takes the place of `stop..resume`.
pub struct Rewritten {
    pub out: Vec<u8>,
    pub stop: usize,
    pub resume: usize,
}

/// Searches for a byte string (markers, metadata keys).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
