//! One-pass rewriting of JSON: the fast path for large files.
//!
//! JSON has no comments and its spans are exact, so every file qualifies: the same scanner as the
//! tree path reads each scalar (same decoding, same number typing), the leaves are visited in the
//! tree walk's order with its paths, and a changed scalar is written with the splicer's own
//! [`super::writer::scalar_json`]; the `sops` member is removed or inserted with the splicer's byte ranges.
//! A first pass checks the whole file and finds the `sops` member without visiting anything, so
//! the second cannot fail half way on a syntax error. Files with more than one root `sops` member
//! take the tree path.

use super::reader::{Parser, MAX_DEPTH};
use super::splicer::{sops_insertion, sops_removal_of, Member};
use super::writer::scalar_json;
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::{Rewritten, Streamed};
use crate::tree::{Leaf, LeafCtx, Mapping, MisplacedComment, Node, Scalar, Value};

/// A JSON file checked by a first pass, ready to be rewritten in one more.
pub(crate) struct JsonStreamed<'a> {
    source: &'a [u8],
    cfg_unit: String,
    members: Vec<Member>,
    root: (usize, usize),
    /// The `sops` member's value, read by the first pass.
    metadata: Option<Mapping>,
}

/// The visitor of a rewrite pass, and what it has written so far.
struct Rewrite<'v> {
    visit: &'v mut dyn FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf>,
    out: Vec<u8>,
    /// How far the source has been copied to `out`.
    pos: usize,
    /// The `sops` member's bytes, dropped when the copy reaches them.
    removal: Option<(usize, usize)>,
    /// A leaf came back as a comment inside an array: only the tree path can write that.
    gave_up: bool,
}

impl Rewrite<'_> {
    fn copy_to(&mut self, source: &[u8], at: usize) {
        if let Some((a, b)) = self.removal {
            if at >= a {
                self.out.extend_from_slice(source.get(self.pos..a).unwrap_or_default());
                self.pos = self.pos.max(b);
                self.removal = None;
            }
        }
        if at > self.pos {
            self.out.extend_from_slice(source.get(self.pos..at).unwrap_or_default());
            self.pos = at;
        }
    }
}

/// One walk over the file: the checking pass (no visitor) or the rewriting one.
struct Walk<'r, 'v> {
    path: Vec<String>,
    members: Vec<Member>,
    metadata: Vec<Mapping>,
    root: (usize, usize),
    rewrite: Option<&'r mut Rewrite<'v>>,
}

impl Walk<'_, '_> {
    fn root(&mut self, p: &mut Parser<'_>) -> Result<()> {
        p.document(|p| self.object(p, 0, true))
    }

    fn object(&mut self, p: &mut Parser<'_>, depth: usize, is_root: bool) -> Result<()> {
        let start = p.pos;
        p.members(|p, key, key_src| {
            let is_sops = is_root && key == "sops";
            if is_sops {
                // The metadata is read, never walked (the tree path splits it off).
                let node = p.value(depth + 1)?;
                if self.rewrite.is_none() {
                    match node {
                        Node::Map(m) => self.metadata.push(m),
                        _ => return Err(Error::InvalidMetadata("the sops member is not an object".into())),
                    }
                }
            } else {
                self.path.push(key);
                self.value(p, depth + 1, false)?;
                self.path.pop();
            }
            if is_root {
                self.members.push(Member { sops: is_sops, key_start: key_src.start, value_end: p.pos });
            }
            Ok(())
        })?;
        if is_root {
            self.root = (start, p.pos);
        }
        Ok(())
    }

    fn array(&mut self, p: &mut Parser<'_>, depth: usize) -> Result<()> {
        p.elements(|p| self.value(p, depth + 1, true))
    }

    fn value(&mut self, p: &mut Parser<'_>, depth: usize, in_array: bool) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(p.err(&format!("exceeded max depth of {MAX_DEPTH}")));
        }
        match p.peek() {
            Some(b'{') => self.object(p, depth, false),
            Some(b'[') => self.array(p, depth),
            _ => match p.value(depth)? {
                Node::Scalar(s) => self.leaf(p.s, s, in_array),
                _ => Err(p.err("unexpected value")),
            },
        }
    }

    fn leaf(&mut self, source: &[u8], scalar: Scalar, in_array: bool) -> Result<()> {
        let Some(rw) = self.rewrite.as_deref_mut() else { return Ok(()) };
        if scalar.value == Value::Null || rw.gave_up {
            return Ok(());
        }
        let Some(src) = scalar.src else {
            return Err(Error::Generic("internal error: a JSON scalar without a span".into()));
        };
        // The original value, to write only what the visitor changed (as splicing does).
        let original = scalar.value.clone();
        let ctx = LeafCtx { path: &self.path, comments: &[], is_comment: false };
        match (rw.visit)(&ctx, Leaf::Scalar(scalar))? {
            Leaf::Scalar(new) => {
                if !new.value.same(&original) {
                    let bytes = scalar_json(&new.value)?;
                    rw.copy_to(source, src.start);
                    rw.out.extend_from_slice(&bytes);
                    rw.pos = src.end;
                }
                Ok(())
            }
            Leaf::Comment(_) if in_array => {
                rw.gave_up = true;
                Ok(())
            }
            Leaf::Comment(_) => Err(MisplacedComment { path: self.path.join(":") }.into()),
        }
    }
}

/// The file as a [`JsonStreamed`], or `None` when it does not parse or has several `sops`
/// members (the tree path reports or handles those).
pub(crate) fn recognise(source: &[u8], cfg_unit: String) -> Option<JsonStreamed<'_>> {
    let mut walk = Walk { path: Vec::new(), members: Vec::new(), metadata: Vec::new(), root: (0, 0), rewrite: None };
    let mut p = Parser { s: source, pos: 0 };
    walk.root(&mut p).ok()?;
    if walk.metadata.len() > 1 {
        return None;
    }
    let metadata = walk.metadata.pop();
    Some(JsonStreamed { source, cfg_unit, members: walk.members, root: walk.root, metadata })
}

impl Streamed for JsonStreamed<'_> {
    fn metadata(&self) -> Result<Option<Mapping>> {
        Ok(self.metadata.clone())
    }

    fn rewrite(&self, visit: &mut dyn FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf>) -> Result<Option<Rewritten>> {
        let removal = sops_removal_of(&self.members, self.root);
        let mut rw = Rewrite { visit, out: Vec::with_capacity(self.source.len()), pos: 0, removal, gave_up: false };
        let mut walk =
            Walk { path: Vec::new(), members: Vec::new(), metadata: Vec::new(), root: (0, 0), rewrite: Some(&mut rw) };
        walk.root(&mut Parser { s: self.source, pos: 0 })?;
        if rw.gave_up {
            return Ok(None);
        }
        // Up to where the `sops` member goes: after the last member, or inside empty braces
        // (whose contents it replaces). An encrypted file's member is already gone.
        let (stop, resume) = if self.metadata.is_some() {
            rw.copy_to(self.source, self.source.len());
            (self.source.len(), self.source.len())
        } else {
            match self.members.last() {
                Some(m) => (m.value_end, m.value_end),
                None => (self.root.0 + 1, self.root.1.saturating_sub(1)),
            }
        };
        rw.copy_to(self.source, stop);
        Ok(Some(Rewritten { out: rw.out, stop, resume }))
    }

    fn finish(&self, rewritten: Rewritten, metadata: Option<&Metadata>) -> Result<Vec<u8>> {
        let Rewritten { mut out, stop, resume } = rewritten;
        let rest = match metadata {
            Some(md) => {
                let first_key = self.members.first().map(|m| m.key_start);
                let last_value_end = self.members.last().map(|m| m.value_end);
                let (_, _, ins) = sops_insertion(
                    self.source,
                    first_key,
                    last_value_end,
                    self.root,
                    &md.to_mapping(),
                    &self.cfg_unit,
                )?;
                out.extend_from_slice(&ins);
                resume
            }
            // Nothing to insert: the source continues where the copy stopped.
            None => stop,
        };
        out.extend_from_slice(self.source.get(rest..).unwrap_or_default());
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
