//! The fresh JSON writer: Go's `json.Marshal` escaping and float format laid out as `json.Indent`
//! lays it out, byte for byte what sops writes.

use super::reader::push_go_utf8;
use crate::error::{Error, Result};
use crate::tree::{Entry, Mapping, Node, Value};

/// Appends a string as Go's `json.Marshal` writes it (HTML-safe escaping). Runs of bytes that
/// need no escape are copied whole: ENC values and binary files are megabytes of base64.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (escape, width): (&[u8], usize) = match c {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            b'<' | b'>' | b'&' | 0..=0x1f => (b"", 1),
            // U+2028 and U+2029 (E2 80 A8/A9 in UTF-8).
            0xE2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xA8) => (b"\\u2028", 3),
            0xE2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xA9) => (b"\\u2029", 3),
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&b[run..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xF) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        i += width;
        run = i;
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

/// The JSON text of a scalar, as sops's `json.Marshal` writes it.
pub(crate) fn scalar_json(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(
            crate::gofmt::json_float(*f)
                .ok_or_else(|| Error::Unsupported("JSON cannot hold NaN or infinite numbers".into()))?
                .as_bytes(),
        ),
        Value::Str(s) | Value::Time(s) => write_str(&mut out, s),
        Value::Bytes(b) => {
            let mut s = String::new();
            push_go_utf8(&mut s, b);
            write_str(&mut out, &s);
        }
    }
    Ok(out)
}

/// How a fresh rendering is laid out.
pub(crate) struct Layout<'a> {
    /// Leading whitespace of the line the rendering starts on.
    pub base: &'a str,
    /// One indentation step.
    pub unit: &'a str,
    /// Write empty sequences as `null` (Go's nil slices in the metadata struct).
    pub null_empty_seqs: bool,
}

fn newline_indent(out: &mut Vec<u8>, l: &Layout<'_>, depth: usize) {
    out.push(b'\n');
    out.extend_from_slice(l.base.as_bytes());
    for _ in 0..depth {
        out.extend_from_slice(l.unit.as_bytes());
    }
}

/// Writes a node as `json.Indent` would lay out sops's compact encoding, at `depth` steps.
pub(crate) fn render(out: &mut Vec<u8>, node: &Node, l: &Layout<'_>, depth: usize) -> Result<()> {
    match node {
        Node::Scalar(s) => out.extend_from_slice(&scalar_json(&s.value)?),
        Node::Map(m) => render_map(out, m, l, depth, None)?,
        Node::Seq(seq) => {
            let nodes: Vec<&Node> = seq.nodes().collect();
            if nodes.is_empty() {
                out.extend_from_slice(if l.null_empty_seqs { b"null" } else { b"[]" });
                return Ok(());
            }
            out.push(b'[');
            for (i, n) in nodes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline_indent(out, l, depth + 1);
                render(out, n, l, depth + 1)?;
            }
            newline_indent(out, l, depth);
            out.push(b']');
        }
    }
    Ok(())
}

/// Writes a mapping; `extra` is a last member (the `sops` metadata) rendered with its own layout.
pub(super) fn render_map(
    out: &mut Vec<u8>,
    m: &Mapping,
    l: &Layout<'_>,
    depth: usize,
    extra: Option<(&str, &Mapping)>,
) -> Result<()> {
    let entries: Vec<&Entry> = m.entries().collect();
    if entries.is_empty() && extra.is_none() {
        out.extend_from_slice(b"{}");
        return Ok(());
    }
    out.push(b'{');
    let mut first = true;
    for e in entries {
        if !first {
            out.push(b',');
        }
        first = false;
        newline_indent(out, l, depth + 1);
        write_str(out, &e.key);
        out.extend_from_slice(b": ");
        render(out, &e.value, l, depth + 1)?;
    }
    if let Some((key, meta)) = extra {
        if !first {
            out.push(b',');
        }
        newline_indent(out, l, depth + 1);
        write_str(out, key);
        out.extend_from_slice(b": ");
        let ml = Layout { base: l.base, unit: l.unit, null_empty_seqs: true };
        render_map(out, meta, &ml, depth + 1, None)?;
    }
    newline_indent(out, l, depth);
    out.push(b'}');
    Ok(())
}

/// A whole file as sops writes it: the root object (plus the metadata member) and a newline.
pub(crate) fn render_fresh(root: &Mapping, metadata: Option<&Mapping>, unit: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let l = Layout { base: "", unit, null_empty_seqs: false };
    render_map(&mut out, root, &l, 0, metadata.map(|m| ("sops", m)))?;
    out.push(b'\n');
    Ok(out)
}
