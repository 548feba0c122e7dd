//! The splicing JSON writer: rewrites only what changed in the source's bytes, re-renders a
//! container whose items changed in place, and removes or inserts the `sops` member with exactly
//! the bytes the other direction takes out.

use super::reader::parse_root;
use super::writer::{render, render_map, scalar_json, write_str, Layout};
use crate::error::Result;
use crate::stores::splice::{line_indent, Edits};
use crate::tree::{Entry, Mapping, Node};

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

pub(super) fn value_end(e: &Entry) -> usize {
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
pub(super) fn sops_removal(root: &Mapping) -> Option<(usize, usize)> {
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
pub(super) fn splice(
    root: &Mapping,
    source: &[u8],
    metadata: Option<&Mapping>,
    cfg_unit: &str,
) -> Result<Option<Vec<u8>>> {
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
