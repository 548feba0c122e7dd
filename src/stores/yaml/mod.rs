//! The YAML store: reads YAML as sops 3.11 does (go-yaml v3 typing, comments as tree items, one
//! `sops` block per document) and writes it back by splicing, so that only the bytes of changed
//! values move and `decrypt(encrypt(file)) == file`.
//!
//! Reading (`load`) records a [`Src`](crate::tree::Src) on every scalar, comment and collection. Writing with the
//! source (`splice`) rewrites each changed scalar in place in a style that keeps the original
//! quoting recoverable (`'x'` becomes `'ENC[...]'`, a literal block becomes `|-` plus one ENC line
//! at the block's indentation, ...), turns comments into `#ENC[...]`, and appends or removes the
//! `sops:` block of each document. Anything that cannot be spliced (new nodes, flow roots, aliases)
//! is written fresh by [`emit`], in go-yaml v3's style, as sops itself would.
//!
//! `Src.style` of a scalar: bits 0-2 the scalar style ([`style`]), [`FLOW`] when inside a flow
//! collection, [`STR_TAG`] when a `!!str` or custom tag makes it a string whatever it looks like.
//! `Src.aux`: for block scalars the header length (bits 0-7) and content indentation (bits 8-31);
//! for other scalars of a block sequence, the offset of the item's `-` plus one. Comments carry
//! [`TRAILING`] when they follow content on their line. Collections: style 1 = flow, aux = column.

pub mod emit;
mod load;
pub(crate) mod resolve;
mod splice;
mod stream;

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::{contains, EncryptedFile, Format, Store, Streamed};
use crate::tree::{Document, MapItem, Node};

/// Scalar styles stored in the low bits of `Src.style`.
pub mod style {
    pub const PLAIN: u8 = 0;
    pub const SINGLE: u8 = 1;
    pub const DOUBLE: u8 = 2;
    pub const LITERAL: u8 = 3;
    pub const FOLDED: u8 = 4;
}

/// `Src.style` bit: the scalar stands inside a flow collection (`[...]`, `{...}`).
pub const FLOW: u8 = 0x08;
/// `Src.style` bit: a `!!str` or custom tag keeps the scalar a string.
pub const STR_TAG: u8 = 0x10;
/// `Src.style` bit of a comment that follows content on its line.
pub const TRAILING: u8 = 0x40;
/// `Src.style` of a node copied from an alias: its span is the `*name` it stands for (the nodes
/// inside the copy have no span).
pub const ALIAS: u8 = 0x80;

/// The Flux marker of an encrypted YAML file.
const MARKER: &[u8] = b"mac: ENC[";

/// The YAML store.
pub struct YamlStore {
    indent: usize,
}

impl YamlStore {
    /// A store writing fresh YAML with `indent` spaces per level (sops's default is 4).
    pub fn new(indent: usize) -> Self {
        YamlStore { indent: if indent == 0 { 4 } else { indent } }
    }

    fn text(input: &[u8]) -> Result<&str> {
        std::str::from_utf8(input)
            .map_err(|e| Error::parse("yaml", format!("the file is not UTF-8 (byte {})", e.valid_up_to())))
    }
}

/// The last text loaded on this thread with its documents as loaded (before the caller changed
/// them). Writing a file back compares the new tree with the source's, and a file is written by the
/// same thread that read it: this spares a second parse of the same text.
struct LastParse {
    text: String,
    split: bool,
    documents: Vec<Document>,
}

thread_local! {
    static LAST_PARSE: std::cell::RefCell<Option<LastParse>> = const { std::cell::RefCell::new(None) };
}

fn remember_parse(text: &str, split: bool, documents: &[Document]) {
    LAST_PARSE.with(|c| {
        *c.borrow_mut() = Some(LastParse { text: text.to_string(), split, documents: documents.to_vec() });
    });
}

/// The documents of `text` as loaded, with the `sops` entries split off when `split`: from the
/// thread's last load when it was of the same text, otherwise parsed again.
pub(crate) fn original_documents(text: &str, split: bool) -> Result<Vec<Document>> {
    let cached = LAST_PARSE.with(|c| {
        let mut slot = c.borrow_mut();
        match slot.as_ref() {
            Some(last) if last.split == split && last.text == text => slot.take().map(|l| l.documents),
            _ => None,
        }
    });
    if let Some(docs) = cached {
        return Ok(docs);
    }
    let mut docs = parse_documents(text)?;
    if split {
        split_metadata(text, &mut docs);
    }
    Ok(docs)
}

/// Parses YAML text into documents (the `sops` key, if any, still in place).
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Document>> {
    let t = load::Text::new(text);
    let raw = load::parse(&t)?;
    load::to_documents(&t, raw)
}

/// Removes the top-level `sops` entry of each document, recording its byte range; returns the
/// first document's metadata mapping.
pub(crate) fn split_metadata(text: &str, docs: &mut [Document]) -> Option<crate::tree::Mapping> {
    let t = load::Text::new(text);
    let mut first = None;
    for (i, doc) in docs.iter_mut().enumerate() {
        let mut range = None;
        let mut kept = Vec::with_capacity(doc.root.items.len());
        for item in doc.root.items.drain(..) {
            match item {
                MapItem::Entry(e) if e.key == "sops" => {
                    if i == 0 && first.is_none() {
                        if let Node::Map(m) = &e.value {
                            first = Some(m.clone());
                        } else {
                            first = Some(crate::tree::Mapping::new());
                        }
                    }
                    if range.is_none() {
                        range = entry_range(&t, &e);
                    }
                }
                other => kept.push(other),
            }
        }
        doc.root.items = kept;
        // Drop the blank line written before the block to keep a final indented comment in place.
        if let Some((a, b)) = range {
            if a >= 1 && t.b[a - 1] == b'\n' && a >= 2 && t.b[a - 2] == b'\n' && ends_with_indented_comment(&t, a - 1) {
                range = Some((a - 1, b));
            }
        }
        if let Some(l) = doc.layout.as_mut() {
            l.metadata = range;
        }
    }
    first
}

/// True when the last non-blank line before `at` is a full-line comment that is indented.
pub(crate) fn ends_with_indented_comment(t: &load::Text<'_>, at: usize) -> bool {
    let mut p = at;
    while p > 0 && t.b[p - 1].is_ascii_whitespace() {
        p -= 1;
    }
    if p == 0 {
        return false;
    }
    let ls = t.line_start(p - 1);
    let line = &t.b[ls..p];
    let indent = line.iter().take_while(|c| **c == b' ').count();
    indent > 0 && line.get(indent) == Some(&b'#')
}

/// The whole lines of an entry: from its key's line start through the line break after its value.
fn entry_range(t: &load::Text<'_>, e: &crate::tree::Entry) -> Option<(usize, usize)> {
    let k = e.key_src?;
    let ls = t.line_start(k.start);
    if !t.b[ls..k.start].iter().all(|c| *c == b' ') {
        return None;
    }
    let vend = match &e.value {
        Node::Map(m) => m.src.map(|s| s.end),
        Node::Seq(s) => s.src.map(|s| s.end),
        Node::Scalar(s) => s.src.map(|s| s.end),
    }?
    .max(k.end);
    let le = t.line_end(vend);
    let mut end = le;
    if end < t.b.len() && t.b[end] == b'\r' {
        end += 1;
    }
    if end < t.b.len() && t.b[end] == b'\n' {
        end += 1;
        Some((ls, end))
    } else if ls > 0 && t.b[ls - 1] == b'\n' {
        // The block ends the file without a line break: take the one before it instead.
        Some((ls - 1, end))
    } else {
        Some((ls, end))
    }
}

/// The value of a one-key document `value: ...` written with indent 4, as a bare YAML value:
/// the inline text after `value: `, or the block below `value:` moved 4 columns left.
fn unwrap_value(doc: &[u8]) -> Vec<u8> {
    if let Some(inline) = doc.strip_prefix(b"value: ") {
        return inline.to_vec();
    }
    let Some(block) = doc.strip_prefix(b"value:\n") else { return doc.to_vec() };
    let mut out = Vec::with_capacity(block.len());
    for line in block.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b"    ").unwrap_or(line));
    }
    out
}

/// The inverse of `unwrap_value`: a bare value (from `--extract`) as the document
/// `value: ...`, so it can be read back by the document reader.
pub fn wrap_value(bare: &[u8]) -> Vec<u8> {
    if !bare.starts_with(b"-") {
        return [b"value: ".as_slice(), bare].concat();
    }
    let mut out = b"value:\n".to_vec();
    for line in bare.split_inclusive(|b| *b == b'\n') {
        if line != b"\n" {
            out.extend_from_slice(b"    ");
        }
        out.extend_from_slice(line);
    }
    out
}

impl Store for YamlStore {
    fn format(&self) -> Format {
        Format::Yaml
    }

    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        let documents = self.read_back_plain(input)?;
        remember_parse(Self::text(input)?, false, &documents);
        Ok(documents)
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        let file = self.read_back_encrypted(input)?;
        remember_parse(Self::text(input)?, true, &file.documents);
        Ok(file)
    }

    fn read_back_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        parse_documents(Self::text(input)?)
    }

    fn read_back_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        let text = Self::text(input)?;
        let mut documents = parse_documents(text)?;
        let meta = split_metadata(text, &mut documents).ok_or(Error::MetadataNotFound)?;
        let metadata = Metadata::from_mapping(&meta)?;
        Ok(EncryptedFile { documents, metadata })
    }

    fn emit_plain(&self, documents: &[Document], source: Option<&[u8]>) -> Result<Vec<u8>> {
        splice::emit(documents, None, source, self.indent)
    }

    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, source: Option<&[u8]>) -> Result<Vec<u8>> {
        splice::emit(documents, Some(metadata), source, self.indent)
    }

    fn value_as_document(&self, node: &Node, emitted: &[u8]) -> Option<Vec<u8>> {
        // go-yaml's bare list (`- 1`) is read back as the document `value:` + the list.
        matches!(node, Node::Seq(_)).then(|| wrap_value(emitted))
    }

    fn emit_value(&self, node: &Node) -> Result<Vec<u8>> {
        // sops's EmitValue is go-yaml's Marshal of the bare value (indent 4 whatever the
        // configured indent; `- 1` at the margin for a list): written here under a `value` key,
        // then taken out of it.
        let mut m = crate::tree::Mapping::new();
        m.push("value", node.clone());
        let wrapped = splice::emit(&[Document::new(m)], None, None, 4)?;
        Ok(unwrap_value(&wrapped))
    }

    fn has_marker(&self, input: &[u8]) -> bool {
        contains(input, MARKER)
    }

    fn streamed<'a>(&'a self, input: &'a [u8]) -> Option<Box<dyn Streamed + 'a>> {
        let text = std::str::from_utf8(input).ok()?;
        stream::recognise(text, self.indent).map(|s| Box::new(s) as Box<dyn Streamed + 'a>)
    }
}

#[cfg(test)]
mod tests;
