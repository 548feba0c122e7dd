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

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::splice::{line_indent, Edits};
use crate::stores::{contains, EncryptedFile, Format, Store, Streamed};
use crate::tree::{DocLayout, Document, Entry, MapItem, Mapping, Node, Scalar, SeqItem, Sequence, Src, Value};

mod stream;

/// The Flux detection marker of JSON (and binary) files.
pub const MARKER: &[u8] = b"\"mac\": \"ENC[";

/// Deepest nesting accepted: Go's encoding/json limit, as sops has it. Deeper input is refused
/// before anything recurses over it; threads that handle files have the stack for this depth
/// (see `crate::stack`).
const MAX_DEPTH: usize = 10_000;

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

fn perr(message: impl Into<String>) -> Error {
    Error::parse("json", message)
}

// ---------------------------------------------------------------------------------------------
// Scanner

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn err(&self, what: &str) -> Error {
        perr(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Node> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!("exceeded max depth of {MAX_DEPTH}")));
        }
        match self.peek() {
            Some(b'{') => Ok(Node::Map(self.object(depth)?)),
            Some(b'[') => Ok(Node::Seq(self.array(depth)?)),
            Some(b'"') => {
                let start = self.pos;
                let s = self.string()?;
                Ok(Node::Scalar(Scalar {
                    value: Value::Str(s),
                    src: Some(Src { start, end: self.pos, style: STYLE_STRING, aux: 0 }),
                }))
            }
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Node> {
        if self.s[self.pos..].starts_with(word) {
            let start = self.pos;
            self.pos += word.len();
            Ok(Node::Scalar(Scalar { value, src: Some(Src { start, end: self.pos, style: STYLE_LITERAL, aux: 0 }) }))
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Node> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        // The token is ASCII by construction.
        let text = std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| self.err("invalid number"))?;
        let value = parse_number(text, integer)
            .ok_or_else(|| perr(format!("number at byte {start} is out of the float64 range (sops refuses it too)")))?;
        Ok(Node::Scalar(Scalar { value, src: Some(Src { start, end: self.pos, style: STYLE_NUMBER, aux: 0 }) }))
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self.s.get(self.pos..self.pos + 4).ok_or_else(|| self.err("truncated \\u escape"))?;
        let text = std::str::from_utf8(h).map_err(|_| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("invalid \\u escape"))?;
        if !h.iter().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err("invalid \\u escape"));
        }
        self.pos += 4;
        Ok(v)
    }

    /// A string token; `pos` is at the opening quote and ends after the closing one.
    fn string(&mut self) -> Result<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Copy the run of plain bytes up to the next quote, backslash or control character.
            let run_start = self.pos;
            while let Some(&b) = self.s.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            push_go_utf8(&mut out, &self.s[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&first) {
                                // A high surrogate must be followed by an escaped low one, else U+FFFD.
                                let save = self.pos;
                                if self.s[self.pos..].starts_with(b"\\u") {
                                    self.pos += 2;
                                    let second = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&second) {
                                        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
                                    } else {
                                        self.pos = save;
                                        None
                                    }
                                } else {
                                    None
                                }
                            } else {
                                char::from_u32(first)
                            };
                            out.push(ch.unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("invalid escape in string")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Mapping> {
        let start = self.pos;
        let mut items = Vec::new();
        self.members(|p, key, key_src| {
            let value = p.value(depth + 1)?;
            items.push(MapItem::Entry(Entry { key, value, key_src: Some(key_src) }));
            Ok(())
        })?;
        let aux = items.len() as u32;
        Ok(Mapping { items, src: Some(Src { start, end: self.pos, style: 0, aux }) })
    }

    fn array(&mut self, depth: usize) -> Result<Sequence> {
        let start = self.pos;
        let mut items = Vec::new();
        self.elements(|p| {
            items.push(SeqItem::Node(p.value(depth + 1)?));
            Ok(())
        })?;
        let aux = items.len() as u32;
        Ok(Sequence { items, src: Some(Src { start, end: self.pos, style: 0, aux }) })
    }

    /// The object grammar, shared by the tree reader and the one-pass walker: `pos` is at the
    /// `{`; `member` gets each key and its span with `pos` at the value, and must read the value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, String, Src) -> Result<()>) -> Result<()> {
        self.items(b'}', |p| {
            if p.peek() != Some(b'"') {
                return Err(p.err("expected an object key"));
            }
            let kstart = p.pos;
            let key = p.string()?;
            let key_src = Src::new(kstart, p.pos);
            p.ws();
            if p.peek() != Some(b':') {
                return Err(p.err("expected ':'"));
            }
            p.pos += 1;
            p.ws();
            member(p, key, key_src)
        })
    }

    /// The array grammar, shared like [`Parser::members`]: `element` reads each element.
    fn elements(&mut self, element: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.items(b']', element)
    }

    /// What objects and arrays share: `pos` at the opening bracket, items separated by commas
    /// up to `close`, whitespace anywhere between; `item` reads one item from its first byte.
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.pos += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err(if close == b'}' { "expected ',' or '}'" } else { "expected ',' or ']'" })),
            }
        }
    }

    /// A whole document: a top-level object, read by `object` with `pos` at its `{`, and only
    /// whitespace around it.
    fn document<T>(&mut self, object: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.ws();
        match self.peek() {
            Some(b'{') => {}
            None => return Err(perr("the input is empty")),
            Some(_) => return Err(self.err("the top level must be a JSON object")),
        }
        let out = object(self)?;
        self.ws();
        if self.pos != self.s.len() {
            return Err(self.err("unexpected data after the top-level object"));
        }
        Ok(out)
    }
}

/// Appends bytes as Go's JSON decoder does: valid UTF-8 as is, each invalid byte as U+FFFD.
fn push_go_utf8(out: &mut String, mut bytes: &[u8]) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return;
            }
            Err(e) => {
                let good = e.valid_up_to();
                // The prefix is valid by construction.
                out.push_str(std::str::from_utf8(&bytes[..good]).unwrap_or_default());
                out.push('\u{FFFD}');
                bytes = &bytes[good + 1..];
            }
        }
    }
}

/// Types a number token (see the module doc): an `i64` integer is `Int`, anything else `Float`;
/// `None` when it overflows float64 (Go's decoder refuses it).
fn parse_number(text: &str, integer: bool) -> Option<Value> {
    if integer && text != "-0" {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Int(i));
        }
    }
    crate::gofmt::parse_float(text).map(Value::Float)
}

/// Parses a JSON document whose top level is an object; only whitespace may follow it.
pub(crate) fn parse_root(input: &[u8]) -> Result<Mapping> {
    Parser { s: input, pos: 0 }.document(|p| p.object(0))
}

// ---------------------------------------------------------------------------------------------
// Fresh writer (Go's json.Marshal + json.Indent)

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
fn render_map(
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

// ---------------------------------------------------------------------------------------------
// Splicing writer

fn node_start(n: &Node) -> Option<usize> {
    match n {
        Node::Map(m) => m.src.map(|s| s.start),
        Node::Seq(s) => s.src.map(|s| s.start),
        Node::Scalar(s) => s.src.map(|s| s.start),
    }
}

fn node_span(n: &Node) -> (usize, usize) {
    let s = match n {
        Node::Map(m) => m.src,
        Node::Seq(s) => s.src,
        Node::Scalar(s) => s.src,
    }
    .unwrap_or_default();
    (s.start, s.end)
}

struct Splicer<'a> {
    source: &'a [u8],
    unit: String,
    edits: Edits,
}

impl Splicer<'_> {
    fn fresh_at(&mut self, doc: &Node, src: &Node) -> Result<()> {
        let (start, end) = node_span(src);
        let base = line_indent(self.source, start);
        let mut out = Vec::new();
        let l = Layout { base: &base, unit: &self.unit, null_empty_seqs: false };
        render(&mut out, doc, &l, 0)?;
        self.edits.replace(start, end, out);
        Ok(())
    }

    fn node(&mut self, doc: &Node, src: &Node) -> Result<()> {
        if node_start(doc) != node_start(src) {
            return self.fresh_at(doc, src);
        }
        match (doc, src) {
            (Node::Map(d), Node::Map(s)) => {
                let de: Vec<&Entry> = d.entries().collect();
                let se: Vec<&Entry> = s.entries().collect();
                if !self.entries(&de, &se)? {
                    self.fresh_at(doc, src)?;
                }
                Ok(())
            }
            (Node::Seq(d), Node::Seq(s)) => {
                let dn: Vec<&Node> = d.nodes().collect();
                let sn: Vec<&Node> = s.nodes().collect();
                let aligned = dn.len() == sn.len() && dn.iter().zip(&sn).all(|(a, b)| node_start(a) == node_start(b));
                if !aligned {
                    return self.fresh_at(doc, src);
                }
                for (a, b) in dn.iter().zip(sn) {
                    self.node(a, b)?;
                }
                Ok(())
            }
            (Node::Scalar(d), Node::Scalar(s)) => {
                if !d.value.same(&s.value) {
                    let (start, end) = node_span(src);
                    self.edits.replace(start, end, scalar_json(&d.value)?);
                }
                Ok(())
            }
            _ => self.fresh_at(doc, src),
        }
    }

    /// Matches entries one to one by key position; false when the item lists differ.
    fn entries(&mut self, de: &[&Entry], se: &[&Entry]) -> Result<bool> {
        let aligned = de.len() == se.len()
            && de
                .iter()
                .zip(se)
                .all(|(a, b)| a.key_src.is_some() && a.key_src.map(|k| k.start) == b.key_src.map(|k| k.start));
        if !aligned {
            return Ok(false);
        }
        for (a, b) in de.iter().zip(se) {
            if a.key != b.key {
                if let Some(k) = b.key_src {
                    let mut out = Vec::new();
                    write_str(&mut out, &a.key);
                    self.edits.replace(k.start, k.end, out);
                }
            }
            self.node(&a.value, &b.value)?;
        }
        Ok(true)
    }
}

fn value_end(e: &Entry) -> usize {
    node_span(&e.value).1
}

/// A member of the root object, as much as placing or removing the `sops` member needs.
pub(crate) struct Member {
    pub sops: bool,
    pub key_start: usize,
    pub value_end: usize,
}

fn members_of(root: &Mapping) -> Option<Vec<Member>> {
    root.entries()
        .map(|e| Some(Member { sops: e.key == "sops", key_start: e.key_src?.start, value_end: value_end(e) }))
        .collect()
}

/// The byte range that removing the `sops` members of a root takes out, chosen so that inserting
/// exactly these bytes after the last member restores the file: from the end of the preceding
/// kept member's value (its comma included) to the end of the last `sops` value.
fn sops_removal(root: &Mapping) -> Option<(usize, usize)> {
    let rsrc = root.src?;
    sops_removal_of(&members_of(root)?, (rsrc.start, rsrc.end))
}

/// [`sops_removal`] on the root's members and its span.
pub(crate) fn sops_removal_of(members: &[Member], root: (usize, usize)) -> Option<(usize, usize)> {
    let first = members.iter().position(|m| m.sops)?;
    let last = members.iter().rposition(|m| m.sops)?;
    let end = members[last].value_end;
    if let Some(prev) = members[..first].iter().rev().find(|m| !m.sops) {
        return Some((prev.value_end, end));
    }
    match members[last + 1..].iter().find(|m| !m.sops) {
        Some(next) => Some((members[first].key_start, next.key_start)),
        None => Some((root.0 + 1, root.1.saturating_sub(1))),
    }
}

/// The indentation of the root's members when the first one starts a line.
fn member_indent(source: &[u8], first_key: Option<usize>) -> Option<String> {
    let k = first_key?;
    let before = &source[..k];
    let nl = before.iter().rposition(|b| *b == b'\n')?;
    before[nl + 1..].iter().all(|b| *b == b' ' || *b == b'\t').then(|| line_indent(source, k))
}

/// The indentation unit of a file: its members' when they have one, else the configured one.
fn file_unit(member_indent: &Option<String>, cfg_unit: &str) -> String {
    match member_indent {
        Some(m) if !m.is_empty() => m.clone(),
        _ => cfg_unit.to_string(),
    }
}

/// Where and how the `sops` member goes into a root that has none: after the last member, or
/// filling empty braces. `(start, end, bytes)` replaces `start..end`.
pub(crate) fn sops_insertion(
    source: &[u8],
    first_key: Option<usize>,
    last_value_end: Option<usize>,
    root: (usize, usize),
    meta: &Mapping,
    cfg_unit: &str,
) -> Result<(usize, usize, Vec<u8>)> {
    let indent = member_indent(source, first_key);
    let unit = file_unit(&indent, cfg_unit);
    let mut rendered = Vec::new();
    render_map(&mut rendered, meta, &Layout { base: "", unit: &unit, null_empty_seqs: true }, 1, None)?;
    let sep_indent = indent.unwrap_or_else(|| unit.clone());
    let mut ins = Vec::new();
    match last_value_end {
        Some(at) => {
            ins.push(b',');
            ins.push(b'\n');
            ins.extend_from_slice(sep_indent.as_bytes());
            ins.extend_from_slice(b"\"sops\": ");
            ins.extend_from_slice(&rendered);
            Ok((at, at, ins))
        }
        None => {
            // `{}` (or `{ }`): the member fills the braces, and decrypting empties them.
            ins.push(b'\n');
            ins.extend_from_slice(sep_indent.as_bytes());
            ins.extend_from_slice(b"\"sops\": ");
            ins.extend_from_slice(&rendered);
            ins.push(b'\n');
            Ok((root.0 + 1, root.1.saturating_sub(1), ins))
        }
    }
}

/// Writes `root` over `source`, keeping its layout; `metadata` replaces or adds the `sops` member,
/// `None` removes it. Returns `None` when the document no longer matches the source at the top.
fn splice(root: &Mapping, source: &[u8], metadata: Option<&Mapping>, cfg_unit: &str) -> Result<Option<Vec<u8>>> {
    let Ok(src_root) = parse_root(source) else { return Ok(None) };
    let (Some(rs), Some(ds)) = (src_root.src, root.src) else { return Ok(None) };
    if rs.start != ds.start {
        return Ok(None);
    }
    let src_entries: Vec<&Entry> = src_root.entries().collect();
    let kept: Vec<&Entry> = src_entries.iter().copied().filter(|e| e.key != "sops").collect();
    let first_key = src_entries.first().and_then(|e| e.key_src).map(|k| k.start);
    let unit = file_unit(&member_indent(source, first_key), cfg_unit);
    let mut sp = Splicer { source, unit: unit.clone(), edits: Edits::default() };
    let doc_entries: Vec<&Entry> = root.entries().filter(|e| e.key != "sops").collect();
    if !sp.entries(&doc_entries, &kept)? {
        return Ok(None);
    }
    let mut rendered = Vec::new();
    if let Some(meta) = metadata {
        let ml = Layout { base: "", unit: &unit, null_empty_seqs: true };
        render_map(&mut rendered, meta, &ml, 1, None)?;
    }
    match (sops_removal(&src_root), metadata) {
        (Some((start, end)), None) => sp.edits.replace(start, end, Vec::new()),
        (Some(_), Some(_)) => {
            // Re-encrypting an encrypted source: replace the (last) sops value, drop the others.
            let sops: Vec<&&Entry> = src_entries.iter().filter(|e| e.key == "sops").collect();
            if sops.len() != 1 {
                return Ok(None);
            }
            let (start, end) = node_span(&sops[0].value);
            sp.edits.replace(start, end, rendered);
        }
        (None, Some(meta)) => {
            let (start, end, ins) = sops_insertion(
                source,
                first_key,
                kept.last().map(|e| value_end(e)),
                (rs.start, rs.end),
                meta,
                cfg_unit,
            )?;
            sp.edits.replace(start, end, ins);
        }
        (None, None) => {}
    }
    Ok(Some(sp.edits.apply(source)?))
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

    fn has_marker(&self, input: &[u8]) -> bool {
        contains(input, MARKER)
    }

    fn streamed<'a>(&'a self, input: &'a [u8]) -> Option<Box<dyn Streamed + 'a>> {
        stream::recognise(input, self.unit()).map(|s| Box::new(s) as Box<dyn Streamed + 'a>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
