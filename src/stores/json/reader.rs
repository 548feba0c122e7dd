//! The JSON reader: an own scanner that builds the tree with a [`Src`] on every key, scalar and
//! container (see the store's module doc for the rules it follows). Its grammar functions are
//! shared with the one-pass walker (`stream.rs`).

use super::{STYLE_LITERAL, STYLE_NUMBER, STYLE_STRING};
use crate::error::{Error, Result};
use crate::tree::{Entry, MapItem, Mapping, Node, Scalar, SeqItem, Sequence, Src, Value};

/// Deepest nesting accepted: Go's encoding/json limit, as sops has it. Deeper input is refused
/// before anything recurses over it; threads that handle files have the stack for this depth
/// (see `crate::stack`).
pub(super) const MAX_DEPTH: usize = 10_000;

fn perr(message: impl Into<String>) -> Error {
    Error::parse("json", message)
}

pub(super) struct Parser<'a> {
    pub(super) s: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    pub(super) fn err(&self, what: &str) -> Error {
        perr(format!("{what} at byte {}", self.pos))
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub(super) fn value(&mut self, depth: usize) -> Result<Node> {
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

    pub(super) fn literal(&mut self, word: &[u8], value: Value) -> Result<Node> {
        if self.s[self.pos..].starts_with(word) {
            let start = self.pos;
            self.pos += word.len();
            Ok(Node::Scalar(Scalar { value, src: Some(Src { start, end: self.pos, style: STYLE_LITERAL, aux: 0 }) }))
        } else {
            Err(self.err("invalid literal"))
        }
    }

    pub(super) fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    pub(super) fn number(&mut self) -> Result<Node> {
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

    pub(super) fn hex4(&mut self) -> Result<u32> {
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
    pub(super) fn string(&mut self) -> Result<String> {
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

    pub(super) fn object(&mut self, depth: usize) -> Result<Mapping> {
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

    pub(super) fn array(&mut self, depth: usize) -> Result<Sequence> {
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
    pub(super) fn members(&mut self, mut member: impl FnMut(&mut Self, String, Src) -> Result<()>) -> Result<()> {
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
    pub(super) fn elements(&mut self, element: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.items(b']', element)
    }

    /// What objects and arrays share: `pos` at the opening bracket, items separated by commas
    /// up to `close`, whitespace anywhere between; `item` reads one item from its first byte.
    pub(super) fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
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
    pub(super) fn document<T>(&mut self, object: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
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
pub(super) fn push_go_utf8(out: &mut String, mut bytes: &[u8]) {
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
