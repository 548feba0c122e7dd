//! One-pass rewriting of simple YAML: the fast path for large Secrets.
//!
//! Most files that go through sops are block mappings of one-line plain scalars: a Kubernetes
//! Secret's `data`/`stringData`, a values file, a list of credentials. For those, parsing a full
//! tree, walking it and splicing the changed values back costs far more time and memory than the
//! work itself, which is replacing each value in place. [`recognise`] accepts such files, and
//! only those (anything else, valid YAML included, takes the tree path); [`Simple::rewrite`] then
//! visits the leaves with the paths the tree walk would give and writes what the visitor returns
//! with the splicing code itself ([`super::splice::render_scalar`]), so both paths write the same
//! bytes. The tests below compare the two on every YAML file under `testdata/` and on generated
//! files.
//!
//! Simple means, line by line: blank lines, and `key: value` or `key:` lines whose key and value
//! are plain one-line scalars (no quotes, no `#`, no `: ` inside, no indicator first, no trailing
//! blanks); nesting by indentation only; one document; and, in an encrypted file, one top-level
//! `sops:` block after everything else. No comments, sequences, flow collections, block scalars,
//! anchors, tags, tabs, `\r` or document markers.

use std::collections::HashSet;

use super::load::Text;
use super::resolve::{resolve_plain, Resolved};
use super::splice::{is_special, render_scalar, sops_block_insertion};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::{Rewritten, Streamed};
use crate::tree::{Leaf, LeafCtx, Mapping, MisplacedComment, Scalar, Src, Value};

/// The keys of one mapping, to find duplicates (foldhash: several times faster than SipHash on
/// short keys, and still seeded per run).
type KeySet<'a> = HashSet<&'a str, foldhash::fast::RandomState>;

/// A simple YAML file (see the module docs), checked and ready to be rewritten in one pass.
pub(crate) struct Simple<'a> {
    t: Text<'a>,
    /// The `key:` lines before the metadata, in order.
    entries: Vec<EntryLine>,
    /// The `sops:` block when the file has one: its mapping, and the byte range the tree path
    /// removes when decrypting.
    sops: Option<(Mapping, usize, usize)>,
    /// The store's indentation, for values that become literal blocks.
    indent: usize,
}

/// A content line: `key:` or `key: value`, with byte ranges in the whole text.
struct EntryLine {
    indent: usize,
    key: (usize, usize),
    value: Option<(usize, usize)>,
}

enum LineKind {
    Blank,
    Entry(EntryLine),
    /// Anything the fast path does not handle.
    Other,
}

/// The `(start, end)` of every line of `text`, line breaks excluded.
fn lines(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= text.len() {
            return None;
        }
        let start = pos;
        let end = memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
        pos = end + 1;
        Some((start, end))
    })
}

/// Characters the tree path may read differently or refuse: the splicer's special characters
/// and the non-characters U+FFFE and U+FFFF.
fn troublesome(c: char) -> bool {
    is_special(c) || matches!(c, '\u{fffe}' | '\u{ffff}')
}

fn simple_key(k: &str) -> bool {
    let b = k.as_bytes();
    let Some(&first) = b.first() else { return false };
    let first_ok = first.is_ascii_alphanumeric()
        || first == b'_'
        || (first == b'.' && b.get(1).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_'));
    first_ok
        && b.len() <= 1000
        && !k.ends_with(' ')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b'+' | b'=' | b'@' | b'~' | b' '))
        // go-yaml reads `true`, `1`, `.5` as non-string keys, which sops refuses.
        && matches!(resolve_plain(k), Resolved::Value(Value::Str(_)))
}

fn simple_value(v: &str) -> bool {
    let b = v.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else { return false };
    let first_ok = first.is_ascii_alphanumeric()
        || matches!(first, b'_' | b'.' | b'/' | b'+' | b'=' | b'$' | b'(' | b')' | b'~' | b'^' | b';' | b'\\')
        || (first == b'-' && b.get(1).is_some_and(|c| *c != b' '))
        || first >= 0x80;
    if !first_ok || last == b' ' || last == b':' {
        return false;
    }
    // No comment, no control character, no `: `. Branch-free passes (the compiler vectorises
    // them) beat one pass with a look-ahead: an ENC value is about 130 bytes.
    if !b.iter().fold(true, |ok, &c| ok & (c >= 0x20) & (c != 0x7f) & (c != b'#')) {
        return false;
    }
    if memchr::memmem::find(b, b": ").is_some() {
        return false;
    }
    v.is_ascii() || !v.chars().any(troublesome)
}

fn parse_line(text: &str, ls: usize, le: usize) -> LineKind {
    let line = &text[ls..le];
    let indent = line.bytes().take_while(|c| *c == b' ').count();
    if indent == line.len() {
        return LineKind::Blank;
    }
    let content = &line[indent..];
    let Some(colon) = memchr::memchr(b':', content.as_bytes()) else { return LineKind::Other };
    if !simple_key(&content[..colon]) {
        return LineKind::Other;
    }
    let after = &content[colon + 1..];
    if !after.is_empty() && !after.starts_with(' ') {
        return LineKind::Other;
    }
    let v = after.trim_start_matches(' ');
    let value = if v.is_empty() {
        None
    } else if simple_value(v) {
        Some((le - v.len(), le))
    } else {
        return LineKind::Other;
    };
    let key_start = ls + indent;
    LineKind::Entry(EntryLine { indent, key: (key_start, key_start + colon), value })
}

/// The file as a [`Simple`] when it is one (see the module docs), `None` otherwise.
pub(crate) fn recognise(text: &str, indent: usize) -> Option<Simple<'_>> {
    if !text.ends_with('\n') || text.contains('\r') {
        return None;
    }
    // The keys seen in each open mapping, by indentation: duplicates are the tree path's error.
    let mut open: Vec<(usize, KeySet<'_>)> = Vec::new();
    let mut may_open = false;
    let mut sops_at = None;
    let mut entries = Vec::new();
    for (ls, le) in lines(text) {
        if sops_at.is_some() {
            // Inside the metadata block, which the tree path reads: everything is indented.
            let line = &text.as_bytes()[ls..le];
            if line.first().is_some_and(|c| *c != b' ') {
                return None;
            }
            continue;
        }
        let entry = match parse_line(text, ls, le) {
            LineKind::Blank => continue,
            LineKind::Other => return None,
            LineKind::Entry(e) => e,
        };
        match open.last() {
            None if entry.indent == 0 => open.push((0, KeySet::default())),
            None => return None,
            Some(&(top, _)) if entry.indent > top => {
                // Only the value of a `key:` line may be a more indented mapping; anything else
                // would continue a multi-line scalar.
                if !may_open {
                    return None;
                }
                open.push((entry.indent, KeySet::default()));
            }
            Some(_) => {
                while open.last().is_some_and(|(i, _)| *i > entry.indent) {
                    open.pop();
                }
                if open.last().map(|(i, _)| *i) != Some(entry.indent) {
                    return None;
                }
            }
        }
        let key = &text[entry.key.0..entry.key.1];
        if open.len() == 1 && key == "sops" {
            if entry.value.is_some() {
                return None;
            }
            sops_at = Some(ls);
            continue;
        }
        let keys = &mut open.last_mut()?.1;
        if !keys.insert(key) {
            return None;
        }
        if let Some((a, b)) = entry.value {
            let v = &text[a..b];
            // Integers beyond i64 are the tree path's error.
            if matches!(v.as_bytes()[0], b'+' | b'-' | b'0'..=b'9') && resolve_plain(v) == Resolved::Uint {
                return None;
            }
        }
        may_open = entry.value.is_none();
        entries.push(entry);
    }
    // A file of only metadata, or of nothing, is left to the tree path.
    if open.first().is_none_or(|(_, keys)| keys.is_empty()) {
        return None;
    }
    // A block the tree path's parser cannot read is the tree path's error to report.
    let sops = match sops_at {
        Some(at) => Some(sops_block(text, at)?),
        None => None,
    };
    Some(Simple { t: Text::new(text), entries, sops, indent })
}

/// The metadata mapping of the `sops:` block starting at `at`, and the byte range the tree path
/// removes when decrypting: the block is read by the tree path's own parser, on its own.
fn sops_block(text: &str, at: usize) -> Option<(Mapping, usize, usize)> {
    let sub = &text[at..];
    let mut docs = super::parse_documents(sub).ok()?;
    let meta = super::split_metadata(sub, &mut docs)?;
    let (a, b) = docs.first()?.layout?.metadata?;
    Some((meta, at + a, at + b))
}

fn internal(what: &str) -> Error {
    Error::Generic(format!("internal error in the one-pass YAML rewrite: {what}"))
}

impl Streamed for Simple<'_> {
    fn metadata(&self) -> Result<Option<Mapping>> {
        Ok(self.sops.as_ref().map(|(m, _, _)| m.clone()))
    }

    fn rewrite(&self, visit: &mut dyn FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf>) -> Result<Option<Rewritten>> {
        let text = self.t.s;
        let (body_end, tail) = match &self.sops {
            Some((_, a, b)) => (*a, *b),
            None => (text.len(), text.len()),
        };
        let mut out = String::with_capacity(text.len() + text.len() / 2);
        let mut pos = 0;
        let mut indents: Vec<usize> = Vec::new();
        let mut path: Vec<String> = Vec::new();
        let mut spare: Vec<String> = Vec::new();
        for entry in &self.entries {
            while indents.last().is_some_and(|i| *i > entry.indent) {
                indents.pop();
                spare.extend(path.pop());
            }
            if indents.last() == Some(&entry.indent) {
                spare.extend(path.pop());
            } else {
                indents.push(entry.indent);
            }
            // Reuse the popped slot's buffer: one allocation per depth, not per key.
            let key = &text[entry.key.0..entry.key.1];
            match spare.pop() {
                Some(mut buf) => {
                    buf.clear();
                    buf.push_str(key);
                    path.push(buf);
                }
                None => path.push(key.to_string()),
            }
            let Some((a, b)) = entry.value else { continue };
            let raw = &text[a..b];
            let Resolved::Value(original) = resolve_plain(raw) else { return Err(internal("an integer out of range")) };
            if original == Value::Null {
                continue;
            }
            // What the value was, to write only what the visitor changed (as splicing does).
            let was_str = matches!(original, Value::Str(_));
            let was_other = if was_str { None } else { Some(original.clone()) };
            let src = Src { start: a, end: b, style: super::style::PLAIN, aux: 0 };
            let ctx = LeafCtx { path: &path, comments: &[], is_comment: false };
            let new = match visit(&ctx, Leaf::Scalar(Scalar { value: original, src: Some(src) }))? {
                Leaf::Scalar(s) => s.value,
                Leaf::Comment(_) => return Err(MisplacedComment { path: path.join(":") }.into()),
            };
            let changed = match (&new, &was_other) {
                (Value::Str(s), None) => s != raw,
                (_, None) => true,
                (v, Some(o)) => !v.same(o),
            };
            if !changed {
                continue;
            }
            for (ea, eb, replacement) in render_scalar(&self.t, &src, &new, self.indent) {
                if ea < pos || eb < ea || eb > body_end {
                    return Err(internal("edits out of order"));
                }
                out.push_str(&text[pos..ea]);
                out.push_str(&replacement);
                pos = eb;
            }
        }
        if pos > body_end || tail < body_end {
            return Err(internal("edits out of order"));
        }
        out.push_str(&text[pos..body_end]);
        Ok(Some(Rewritten { out: out.into_bytes(), stop: body_end, resume: tail }))
    }

    fn finish(&self, rewritten: Rewritten, metadata: Option<&Metadata>) -> Result<Vec<u8>> {
        // Without metadata to write, a file's own block is dropped (stop..resume), and a
        // plaintext's rest is kept (it has no block: stop == resume).
        let Rewritten { mut out, resume, .. } = rewritten;
        if let Some(md) = metadata {
            // Only a file without metadata is encrypted: the block goes at its end.
            let (_, _, block) = sops_block_insertion(&self.t, self.t.s.len(), md, self.indent, 0);
            out.extend_from_slice(block.as_bytes());
        }
        out.extend_from_slice(self.t.b.get(resume..).unwrap_or_default());
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
