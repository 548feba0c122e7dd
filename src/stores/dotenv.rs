//! The dotenv store, to sops's rules exactly (`stores/dotenv`), with the user's layout kept.
//!
//! **Reading.** The input is split on `\n`; empty lines are skipped; a line starting with `#` is a
//! comment (the text after `#`); any other line is `KEY=VALUE`, split at the first `=` with no
//! trimming and no quote handling (`export A=1` has the key `export A`, `B="q"` keeps its quotes,
//! a `\r` stays in the value). A literal `\n` in a value is turned into a newline, and back on
//! output. Every value is a string (`type:str`); a value that is not UTF-8 is kept as raw bytes.
//! A line without `=` is an error naming its line number (never its content).
//!
//! **Metadata** is flattened (`metadata::flatten`) and written after the data as sorted
//! `sops_<key>=<value>` lines with newlines escaped; reading takes every `sops_` key
//! (`metadata::unflatten`; an old float `shamir_threshold` is accepted).
//!
//! **`sops_` keys in a plaintext.** [`DotenvStore::load_plain`] keeps `sops_*` keys as ordinary
//! entries, so the caller sees them and refuses the file as already encrypted (exit 203, as sops's
//! `HasSopsTopLevelKey` does for dotenv): check with [`has_metadata_keys`].
//!
//! **Layout.** Given the source, values are spliced in place and everything else (blank lines
//! included, which sops would drop) keeps its bytes; the `sops_` lines are removed on decrypt and
//! appended on encrypt, exactly the bytes the other direction takes out, so
//! `decrypt(encrypt(x)) == x`. sops reads such files fine (it skips blank lines). When the items no
//! longer match the source (a key added or removed), the file is written fresh as sops would.

use crate::error::{Error, Result};
use crate::metadata::{flatten, has_sops_key, unflatten, Metadata};
use crate::stores::splice::Edits;
use crate::stores::{contains, EncryptedFile, Format, Store};
use crate::tree::{Comment, DocLayout, Document, Entry, MapItem, Mapping, Node, Scalar, Src, Value};

/// The prefix of metadata keys in dotenv files.
pub const SOPS_PREFIX: &str = "sops_";

/// The Flux detection marker of dotenv files.
pub const MARKER: &[u8] = b"sops_mac=ENC[";

/// The dotenv store.
pub struct DotenvStore;

/// True when a loaded plaintext holds `sops_*` keys, i.e. is already encrypted (sops exits 203).
pub fn has_metadata_keys(root: &Mapping) -> bool {
    root.entries().any(|e| e.key.starts_with(SOPS_PREFIX))
}

fn perr(message: String) -> Error {
    Error::parse("dotenv", message)
}

/// Replaces every `from` byte sequence with `to`.
fn replace_bytes(input: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn decode_value(raw: &[u8]) -> Value {
    let bytes = replace_bytes(raw, b"\\n", b"\n");
    match String::from_utf8(bytes) {
        Ok(s) => Value::Str(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}

/// Reads every line into items with spans: entries (key span, value span after `=`) and comments
/// (span of the text after `#`). `sops_` keys are included.
fn scan(input: &[u8]) -> Result<Mapping> {
    let mut items = Vec::new();
    let mut start = 0;
    for (n, line) in input.split(|b| *b == b'\n').enumerate() {
        let line_start = start;
        start += line.len() + 1;
        if line.is_empty() {
            continue;
        }
        let line_end = line_start + line.len();
        if line[0] == b'#' {
            let text = String::from_utf8(line[1..].to_vec())
                .map_err(|_| perr(format!("the comment on line {} is not UTF-8", n + 1)))?;
            items.push(MapItem::Comment(Comment { text, src: Some(Src::new(line_start + 1, line_end)) }));
            continue;
        }
        let pos = line
            .iter()
            .position(|b| *b == b'=')
            .ok_or_else(|| perr(format!("invalid line {}: expected KEY=VALUE", n + 1)))?;
        let key = String::from_utf8(line[..pos].to_vec())
            .map_err(|_| perr(format!("the key on line {} is not UTF-8", n + 1)))?;
        items.push(MapItem::Entry(Entry {
            key,
            value: Node::Scalar(Scalar {
                value: decode_value(&line[pos + 1..]),
                src: Some(Src::new(line_start + pos + 1, line_end)),
            }),
            key_src: Some(Src::new(line_start, line_start + pos)),
        }));
    }
    let aux = items.len() as u32;
    Ok(Mapping { items, src: Some(Src { start: 0, end: input.len(), style: 0, aux }) })
}

/// The text of a value on a dotenv line.
fn render_value(key: &str, node: &Node) -> Result<Vec<u8>> {
    match node {
        Node::Scalar(Scalar { value: Value::Str(s), .. }) => Ok(s.replace('\n', "\\n").into_bytes()),
        Node::Scalar(Scalar { value: Value::Bytes(b), .. }) => Ok(replace_bytes(b, b"\n", b"\\n")),
        Node::Scalar(s) => Ok(crate::gofmt::val_to_string(&s.value).into_owned()),
        _ => Err(Error::DumpTree(format!("cannot use complex value in dotenv file; offending key {key}"))),
    }
}

fn render_fresh(root: &Mapping) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for item in &root.items {
        match item {
            MapItem::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.text.as_bytes());
            }
            MapItem::Entry(e) => {
                out.extend_from_slice(e.key.as_bytes());
                out.push(b'=');
                out.extend_from_slice(&render_value(&e.key, &e.value)?);
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

fn metadata_lines(metadata: &Metadata) -> Vec<String> {
    flatten(&metadata.to_mapping())
        .into_iter()
        .map(|(k, v)| format!("{SOPS_PREFIX}{k}={}", v.replace('\n', "\\n")))
        .collect()
}

fn item_start(item: &MapItem) -> Option<usize> {
    match item {
        MapItem::Entry(e) => e.key_src.map(|s| s.start),
        MapItem::Comment(c) => c.src.map(|s| s.start.saturating_sub(1)),
    }
}

fn is_meta(item: &MapItem) -> bool {
    matches!(item, MapItem::Entry(e) if e.key.starts_with(SOPS_PREFIX))
}

/// The end of an item's line, its newline included when there is one.
fn line_end(item: &MapItem, source: &[u8]) -> usize {
    let end = match item {
        MapItem::Entry(e) => match &e.value {
            Node::Scalar(s) => s.src.map_or(0, |s| s.end),
            _ => 0,
        },
        MapItem::Comment(c) => c.src.map_or(0, |s| s.end),
    };
    if source.get(end) == Some(&b'\n') {
        end + 1
    } else {
        end
    }
}

/// The byte ranges the `sops_` lines take, one per run of adjacent lines. A run at the end of a
/// file without a final newline takes the newline before it instead, so that appending
/// `"\n" + lines` to such a file is undone exactly.
fn metadata_ranges(src_root: &Mapping, source: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for item in src_root.items.iter().filter(|i| is_meta(i)) {
        let start = item_start(item).unwrap_or(0);
        let end = line_end(item, source);
        match ranges.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => ranges.push((start, end)),
        }
    }
    for r in ranges.iter_mut() {
        if r.1 == source.len() && source.last() != Some(&b'\n') && r.0 > 0 {
            r.0 -= 1;
        }
    }
    ranges
}

/// Writes the data over `source`, keeping its layout; `None` when the items no longer match.
fn splice(root: &Mapping, source: &[u8]) -> Result<Option<Vec<u8>>> {
    let Ok(src_root) = scan(source) else { return Ok(None) };
    let src_items: Vec<&MapItem> = src_root.items.iter().filter(|i| !is_meta(i)).collect();
    let aligned = src_items.len() == root.items.len()
        && root.items.iter().zip(&src_items).all(|(a, b)| {
            item_start(a).is_some()
                && item_start(a) == item_start(b)
                && matches!((a, b), (MapItem::Entry(_), MapItem::Entry(_)) | (MapItem::Comment(_), MapItem::Comment(_)))
        });
    if !aligned {
        return Ok(None);
    }
    let mut edits = Edits::default();
    for (a, b) in root.items.iter().zip(src_items) {
        match (a, b) {
            (MapItem::Entry(d), MapItem::Entry(s)) => {
                if d.key != s.key {
                    if let Some(k) = s.key_src {
                        edits.replace(k.start, k.end, d.key.as_bytes().to_vec());
                    }
                }
                if let (Node::Scalar(ds), Node::Scalar(ss)) = (&d.value, &s.value) {
                    if !ds.value.same(&ss.value) {
                        let sp = ss.src.unwrap_or_default();
                        edits.replace(sp.start, sp.end, render_value(&d.key, &d.value)?);
                    }
                } else {
                    return Ok(None);
                }
            }
            (MapItem::Comment(d), MapItem::Comment(s)) => {
                if d.text != s.text {
                    let sp = s.src.unwrap_or_default();
                    edits.replace(sp.start, sp.end, d.text.as_bytes().to_vec());
                }
            }
            _ => return Ok(None),
        }
    }
    for (start, end) in metadata_ranges(&src_root, source) {
        edits.replace(start, end, Vec::new());
    }
    Ok(Some(edits.apply(source)?))
}

impl Store for DotenvStore {
    fn format(&self) -> Format {
        Format::Dotenv
    }

    fn holds_metadata(&self, root: &Mapping) -> bool {
        has_sops_key(root) || has_metadata_keys(root)
    }

    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        let root = scan(input)?;
        Ok(vec![Document { root, layout: Some(DocLayout { start: 0, end: input.len(), metadata: None }) }])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        let all = scan(input)?;
        let ranges = metadata_ranges(&all, input);
        let mut pairs = Vec::new();
        let mut items = Vec::new();
        for item in all.items {
            match item {
                MapItem::Entry(e) if e.key.starts_with(SOPS_PREFIX) => {
                    let value = match &e.value {
                        Node::Scalar(Scalar { value: Value::Str(s), .. }) => s.clone(),
                        Node::Scalar(Scalar { value: Value::Bytes(b), .. }) => String::from_utf8_lossy(b).into_owned(),
                        _ => String::new(),
                    };
                    pairs.push((e.key[SOPS_PREFIX.len()..].to_string(), value));
                }
                other => items.push(other),
            }
        }
        if pairs.is_empty() {
            return Err(Error::MetadataNotFound);
        }
        let metadata = Metadata::from_mapping(&unflatten(&pairs)?)?;
        let root = Mapping { items, src: all.src };
        let layout = DocLayout { start: 0, end: input.len(), metadata: ranges.first().copied() };
        Ok(EncryptedFile { documents: vec![Document { root, layout: Some(layout) }], metadata })
    }

    fn emit_plain(&self, documents: &[Document], source: Option<&[u8]>) -> Result<Vec<u8>> {
        let doc = single(documents)?;
        if let Some(src) = source {
            if let Some(out) = splice(&doc.root, src)? {
                return Ok(out);
            }
        }
        render_fresh(&doc.root)
    }

    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, source: Option<&[u8]>) -> Result<Vec<u8>> {
        let doc = single(documents)?;
        let lines = metadata_lines(metadata);
        if let Some(src) = source {
            if let Some(mut out) = splice(&doc.root, src)? {
                if out.is_empty() || out.ends_with(b"\n") {
                    for l in &lines {
                        out.extend_from_slice(l.as_bytes());
                        out.push(b'\n');
                    }
                } else {
                    for l in &lines {
                        out.push(b'\n');
                        out.extend_from_slice(l.as_bytes());
                    }
                }
                return Ok(out);
            }
        }
        let mut out = render_fresh(&doc.root)?;
        for l in &lines {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        Ok(out)
    }

    fn emit_value(&self, node: &Node) -> Result<Vec<u8>> {
        match node {
            Node::Scalar(Scalar { value: Value::Str(s), .. }) => Ok(s.as_bytes().to_vec()),
            _ => Err(Error::Unsupported("the dotenv store only supports emitting strings".into())),
        }
    }

    fn has_marker(&self, input: &[u8]) -> bool {
        contains(input, MARKER)
    }
}

fn single(documents: &[Document]) -> Result<&Document> {
    match documents {
        [d] => Ok(d),
        [] => Err(Error::NoDocuments),
        _ => Err(Error::Unsupported("dotenv files hold exactly one document".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKeyEntry;

    fn meta() -> Metadata {
        let mut md = Metadata::new(
            vec![vec![MasterKeyEntry::Age {
                recipient: "age1x".into(),
                enc: "-----BEGIN-----\nAB\n-----END-----\n".into(),
            }]],
            None,
            None,
            false,
        );
        md.mac = "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]".into();
        md
    }

    fn entries(m: &Mapping) -> Vec<(String, Value)> {
        m.entries()
            .map(|e| match &e.value {
                Node::Scalar(s) => (e.key.clone(), s.value.clone()),
                _ => panic!(),
            })
            .collect()
    }

    #[test]
    fn reads_lines_exactly_as_sops() {
        let src = b"# c\n\nexport A=1\nB=\"q\"=x\nC=\nD=a\\nb\nE=x\r\n#\n";
        let docs = DotenvStore.load_plain(src).unwrap();
        let root = &docs[0].root;
        assert!(matches!(&root.items[0], MapItem::Comment(c) if c.text == " c"));
        assert!(matches!(&root.items[6], MapItem::Comment(c) if c.text.is_empty()));
        assert_eq!(
            entries(root),
            vec![
                ("export A".into(), Value::Str("1".into())),
                ("B".into(), Value::Str("\"q\"=x".into())),
                ("C".into(), Value::Str("".into())),
                ("D".into(), Value::Str("a\nb".into())),
                ("E".into(), Value::Str("x\r".into())),
            ]
        );
        let err = DotenvStore.load_plain(b"A=1\nsecret-without-equals\n").unwrap_err();
        assert!(err.to_string().contains("line 2") && !err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn sops_keys_in_a_plaintext_are_kept_for_the_caller() {
        let docs = DotenvStore.load_plain(b"A=1\nsops_mac=x\n").unwrap();
        assert!(has_metadata_keys(&docs[0].root));
        assert!(!has_metadata_keys(&DotenvStore.load_plain(b"A=1\n").unwrap()[0].root));
    }

    #[test]
    fn fresh_output_escapes_newlines_and_sorts_metadata() {
        let mut root = Mapping::new();
        root.items.push(MapItem::Comment(Comment::new(" hi")));
        root.push("K", Node::str("a\nb"));
        root.push("N", Node::Scalar(Scalar::new(Value::Float(1.0))));
        let out = DotenvStore.emit_encrypted(&[Document::new(root)], &meta(), None).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("# hi\nK=a\\nb\nN=1.0\nsops_age__list_0__map_enc=-----BEGIN-----\\nAB\\n-----END-----\\n\nsops_age__list_0__map_recipient=age1x\nsops_lastmodified="), "{text}");
        assert!(text.ends_with("sops_unencrypted_suffix=_unencrypted\nsops_version=3.11.0\n"));
        assert!(DotenvStore.has_marker(&out));
        let back = DotenvStore.load_encrypted(&out).unwrap();
        assert_eq!(back.metadata.key_groups, meta().key_groups);
        assert_eq!(entries(&back.documents[0].root).len(), 2);
    }

    #[test]
    fn layout_round_trip_keeps_blank_lines_and_missing_final_newline() {
        for src in ["A=1\n\n# c\nB=2\n", "A=1\n\nB=2", "", "\n\nA=x=y"] {
            let docs = DotenvStore.load_plain(src.as_bytes()).unwrap();
            let enc = DotenvStore.emit_encrypted(&docs, &meta(), Some(src.as_bytes())).unwrap();
            let back = DotenvStore.load_encrypted(&enc).unwrap();
            let plain = DotenvStore.emit_plain(&back.documents, Some(&enc)).unwrap();
            assert_eq!(String::from_utf8(plain).unwrap(), src);
        }
    }

    #[test]
    fn changed_values_are_spliced_and_new_keys_fall_back_to_fresh() {
        let src = b"A=1\n\nB=2\n";
        let mut docs = DotenvStore.load_plain(src).unwrap();
        if let Some(Node::Scalar(s)) = docs[0].root.get_mut("B") {
            s.value = Value::Str("x\ny".into());
        }
        assert_eq!(DotenvStore.emit_plain(&docs, Some(src)).unwrap(), b"A=1\n\nB=x\\ny\n");
        docs[0].root.push("C", Node::str("3"));
        assert_eq!(DotenvStore.emit_plain(&docs, Some(src)).unwrap(), b"A=1\nB=x\\ny\nC=3\n");
    }

    #[test]
    fn complex_values_are_refused() {
        let mut root = Mapping::new();
        root.push("m", Node::Map(Mapping::new()));
        assert!(DotenvStore.emit_plain(&[Document::new(root)], None).is_err());
    }
}
