//! Reading YAML into the tree, with exact byte spans and sops 3.11's comment placement.
//!
//! `saphyr-parser` gives the structure (events, scalar values and styles); its spans count
//! characters and are loose around quotes, properties and block scalars, so every span is
//! re-measured here on the bytes. Comments are not events: they are found in the text outside
//! scalars and placed where go-yaml v3 + sops put them (a line comment becomes an item before the
//! entry or list item it follows, a full-line comment belongs to the innermost open block whose
//! indentation it reaches, or else heads the next item), because their tree position decides their
//! AAD (the path of the enclosing mapping) and the comment-regex rules.

use std::collections::{HashMap, HashSet};

use libyaml_safer::ScalarStyle;

use super::resolve::{resolve_plain, Resolved};
use super::{style, ALIAS, FLOW, STR_TAG};
use crate::error::{Error, Result};
use crate::tree::{Comment, DocLayout, Document, Entry, MapItem, Mapping, Node, Scalar, SeqItem, Sequence, Src, Value};

/// A parsed document before typing: its root node and byte regions.
pub(crate) struct RawDoc {
    pub root: Option<YNode>,
    /// Where the document's content begins (after a `---` line) and ends (before the next
    /// document's `---`, or the end of the text).
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct YNode {
    pub kind: YKind,
    pub start: usize,
    pub end: usize,
    /// Indentation column (bytes from the line start) of a block container's items.
    pub col: usize,
    /// Copied from an alias: it has no place of its own in the text.
    pub copied: bool,
    /// The root of such a copy: `start..end` is the alias (`*name`) it stands for.
    pub alias: bool,
    /// For the root of a copy: where the anchored node it copies starts.
    pub origin: usize,
}

#[derive(Clone, Debug)]
pub(crate) enum YKind {
    Scalar(YScalar),
    Map { items: Vec<MItem>, flow: bool },
    Seq { items: Vec<SItem>, flow: bool },
}

#[derive(Clone, Debug)]
pub(crate) struct YScalar {
    pub value: String,
    pub style: u8,
    /// Block scalars: length of the `|-`/`>2` header and the content indentation.
    pub header_len: usize,
    pub content_indent: usize,
    /// The tag, as go-yaml names it (`!!str`, `!!int`, `!custom`), if any.
    pub tag: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum MItem {
    Pair(YNode, YNode),
    Comment(YComment),
}

#[derive(Clone, Debug)]
pub(crate) enum SItem {
    Node(YNode, Option<usize>),
    Comment(YComment),
}

#[derive(Clone, Debug)]
pub(crate) struct YComment {
    /// Position of `#` and end of the line (before the line break).
    pub start: usize,
    pub end: usize,
    pub trailing: bool,
}

impl YNode {
    /// The empty root mapping that holds the comments of a document without content.
    fn comments_only(at: usize) -> YNode {
        YNode {
            kind: YKind::Map { items: Vec::new(), flow: false },
            start: at,
            end: at,
            col: 0,
            copied: false,
            alias: false,
            origin: 0,
        }
    }

    fn clone_shallow(&self) -> YNode {
        YNode {
            kind: YKind::Seq { items: Vec::new(), flow: false },
            start: self.start,
            end: self.end,
            col: self.col,
            copied: self.copied,
            alias: self.alias,
            origin: self.origin,
        }
    }
}

impl MItem {
    fn start(&self) -> usize {
        match self {
            MItem::Pair(k, _) => k.start,
            MItem::Comment(c) => c.start,
        }
    }
}

impl SItem {
    fn start(&self) -> usize {
        match self {
            SItem::Node(n, dash) => dash.unwrap_or(n.start),
            SItem::Comment(c) => c.start,
        }
    }
}

fn perr(msg: impl Into<String>) -> Error {
    Error::parse("yaml", msg)
}

/// Line/column lookups on the source.
pub(crate) struct Text<'a> {
    pub s: &'a str,
    pub b: &'a [u8],
    line_starts: Vec<usize>,
}

impl<'a> Text<'a> {
    pub fn new(s: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', s.as_bytes()).map(|i| i + 1));
        Text { s, b: s.as_bytes(), line_starts }
    }
    pub fn line_of(&self, pos: usize) -> usize {
        match self.line_starts.binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }
    pub fn line_start(&self, pos: usize) -> usize {
        self.line_starts[self.line_of(pos)]
    }
    pub fn col(&self, pos: usize) -> usize {
        pos - self.line_start(pos)
    }
    /// End of the line holding `pos`, before its `\r\n` or `\n`.
    pub fn line_end(&self, pos: usize) -> usize {
        let mut i = pos;
        while i < self.b.len() && self.b[i] != b'\n' {
            i += 1;
        }
        if i > pos && self.b[i - 1] == b'\r' {
            i - 1
        } else {
            i
        }
    }
    /// Indentation (leading spaces) of the line holding `pos`.
    pub fn indent_of_line(&self, pos: usize) -> usize {
        let ls = self.line_start(pos);
        let mut i = ls;
        while i < self.b.len() && self.b[i] == b' ' {
            i += 1;
        }
        i - ls
    }
}

enum Frame {
    Map { node: YNode, pending_key: Option<YNode>, keys: HashSet<String> },
    Seq { node: YNode, pending_dash: Option<usize> },
}

/// go-yaml v3's limit on nesting ("exceeded max depth of 10000"): deeper documents are refused
/// before anything recurses over them.
pub(crate) const MAX_DEPTH: usize = 10_000;

struct Builder<'a> {
    t: &'a Text<'a>,
    prev_end: usize,
    /// Anchored nodes by name (a later anchor of the same name replaces an earlier one, as in
    /// go-yaml), each with its weight: how many nodes go-yaml's decoder visits for it.
    anchors: HashMap<String, (YNode, u64)>,
    /// Anchors of the open collections: (name, stack depth).
    anchor_stack: Vec<(String, usize)>,
    stack: Vec<Frame>,
    /// Weights of the open collections, parallel to `stack`.
    weights: Vec<u64>,
    flow_depth: usize,
    scalars: Vec<(usize, usize)>,
    aliasing: AliasBudget,
    /// The parser reads the text with a line break added at its end (see `parse`).
    line_break_added: bool,
}

/// go-yaml v3's defence against alias bombs ("document contains excessive aliasing"): the share
/// of decoded nodes that come from alias expansions may not exceed a ratio that falls from 0.99
/// (up to 400,000 nodes) to 0.10 (from 4,000,000 nodes).
#[derive(Default)]
struct AliasBudget {
    decoded: u64,
    aliased: u64,
}

impl AliasBudget {
    fn node(&mut self) {
        self.decoded = self.decoded.saturating_add(1);
    }

    /// Counts an alias expanding to `weight` nodes; refuses it when go-yaml would.
    fn alias(&mut self, weight: u64) -> Result<()> {
        self.decoded = self.decoded.saturating_add(1).saturating_add(weight);
        self.aliased = self.aliased.saturating_add(weight);
        let allowed = match self.decoded {
            d if d <= 400_000 => 0.99,
            d if d >= 4_000_000 => 0.10,
            d => 0.99 - 0.89 * ((d - 400_000) as f64 / 3_600_000.0),
        };
        if self.aliased > 100 && self.decoded > 1000 && self.aliased as f64 / self.decoded as f64 > allowed {
            return Err(perr("document contains excessive aliasing (an alias expands to too many nodes)"));
        }
        Ok(())
    }
}

/// A libyaml error as go-yaml words it: `line L, column C: problem (context)`.
fn parse_error(e: &libyaml_safer::Error) -> Error {
    let at = e.problem_mark().or_else(|| e.context_mark());
    let mut msg = String::new();
    if let Some(m) = at {
        msg.push_str(&format!("line {}, column {}: ", m.line + 1, m.column + 1));
    }
    msg.push_str(e.problem());
    if let Some(ctx) = e.context() {
        msg.push_str(&format!(" ({ctx}"));
        match e.context_mark() {
            Some(m) if at != Some(m) => {
                msg.push_str(&format!(" that starts at line {}, column {})", m.line + 1, m.column + 1))
            }
            _ => msg.push(')'),
        }
    }
    perr(msg)
}

/// Where go-yaml v3 refuses what libyaml accepts: the `\/` escape in a double-quoted scalar.
fn check_double_quoted(t: &Text<'_>, start: usize, end: usize) -> Result<()> {
    let b = &t.b[start..end.min(t.b.len())];
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\\', &b[i..]) {
        let at = i + p;
        if b.get(at + 1) == Some(&b'/') {
            let pos = start + at;
            return Err(perr(format!(
                "line {}, column {}: found unknown escape character (\\/ is not a YAML 1.1 escape)",
                t.line_of(pos) + 1,
                t.col(pos) + 2
            )));
        }
        i = at + 2;
        if i >= b.len() {
            break;
        }
    }
    Ok(())
}

/// Parses the text into raw documents with comments placed.
///
/// libyaml-safer is a safe-Rust port of libyaml, the C library go-yaml v3 was ported from: it
/// accepts and refuses what go-yaml does but for the few cases patched here (see
/// docs/architecture.md). A few of its code paths still panic instead of returning an error; a
/// panic is caught and reported as a parse error, and the one known to hit valid YAML (blanks
/// after the last line break of the file) is retried with a line break added, the value that
/// reaches the end of the file then set back to what it is without it (see `parse_events`).
pub(crate) fn parse(t: &Text<'_>) -> Result<Vec<RawDoc>> {
    let failed =
        || perr("the YAML parser stopped on a construct it cannot read (an internal parser failure; please report it)");
    match parse_guarded(t, None) {
        Some(r) => r,
        None if t.b.last().is_some_and(|c| *c != b'\n') => {
            parse_guarded(t, Some(b"\n")).unwrap_or_else(|| Err(failed()))
        }
        None => Err(failed()),
    }
}

thread_local! {
    /// Set while the parser runs, so that the panic hook stays quiet about a panic we catch.
    static PARSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Parses `t.b`, followed by `extra` when given; `None` when the parser panicked.
fn parse_guarded(t: &Text<'_>, extra: Option<&[u8]>) -> Option<Result<Vec<RawDoc>>> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PARSING.with(|p| p.get()) {
                previous(info);
            }
        }));
    });
    PARSING.with(|p| p.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_events(t, extra)));
    PARSING.with(|p| p.set(false));
    r.ok()
}

/// With `extra` (a line break the file lacks), a block scalar that runs to the end of the file
/// gets back the value it has without that line break.
fn parse_events(t: &Text<'_>, extra: Option<&[u8]>) -> Result<Vec<RawDoc>> {
    use libyaml_safer::{EventData, MappingStyle, SequenceStyle};
    let mut b = Builder {
        t,
        prev_end: 0,
        anchors: HashMap::new(),
        anchor_stack: Vec::new(),
        stack: Vec::new(),
        weights: Vec::new(),
        flow_depth: 0,
        scalars: Vec::new(),
        aliasing: AliasBudget::default(),
        line_break_added: extra.is_some(),
    };
    let owned: Vec<u8>;
    let mut input: &[u8] = match extra {
        Some(extra) => {
            owned = [t.b, extra].concat();
            &owned
        }
        None => t.b,
    };
    let mut parser = libyaml_safer::Parser::new();
    parser.set_input_string(&mut input);
    let mut docs: Vec<RawDoc> = Vec::new();
    let mut cur_root: Option<YNode> = None;
    let mut doc_start = 0usize;
    loop {
        let ev = parser.parse().map_err(|e| parse_error(&e))?;
        let sp_start = (ev.start_mark.index as usize).min(t.b.len());
        let sp_end = (ev.end_mark.index as usize).min(t.b.len());
        match ev.data {
            EventData::StreamStart { .. } => {}
            EventData::StreamEnd => break,
            EventData::DocumentStart { version_directive, implicit, .. } => {
                if let Some(v) = version_directive {
                    if v.major != 1 || v.minor != 1 {
                        return Err(perr(format!(
                            "line {}: found incompatible YAML document (%YAML {}.{}; go-yaml reads only %YAML 1.1)",
                            t.line_of(sp_start) + 1,
                            v.major,
                            v.minor
                        )));
                    }
                }
                cur_root = None;
                b.anchors.clear();
                doc_start = if !implicit {
                    // Content begins after the `---` line.
                    let le = t.line_end(sp_end.saturating_sub(1));
                    if le < t.b.len() {
                        le + if t.b[le] == b'\r' { 2 } else { 1 }
                    } else {
                        le
                    }
                } else {
                    docs.last().map_or(0, |d| d.end)
                };
                if !implicit {
                    b.prev_end = b.prev_end.max(sp_end);
                }
            }
            EventData::DocumentEnd { implicit } => {
                // The region ends where the `...` line or the next document's `---` line begins.
                let marker = t.b.get(sp_start..).is_some_and(|r| r.starts_with(b"---") || r.starts_with(b"..."));
                let end = if !implicit || marker { t.line_start(sp_start) } else { t.b.len() };
                docs.push(RawDoc { root: cur_root.take(), start: doc_start, end });
                if !implicit {
                    b.prev_end = b.prev_end.max(sp_end);
                }
            }
            EventData::Alias { anchor } => {
                let (mut node, weight) = b.anchors.get(&anchor).cloned().ok_or_else(|| {
                    perr(format!("line {}: unknown anchor '{anchor}' referenced", t.line_of(sp_start) + 1))
                })?;
                b.aliasing.alias(weight)?;
                b.count(1 + weight);
                mark_copied(&mut node);
                node.alias = true;
                node.origin = node.start;
                node.start = sp_start;
                node.end = sp_end;
                node.col = t.col(sp_start);
                b.take_dash(sp_start);
                b.prev_end = b.prev_end.max(sp_end);
                if let Some(root) = b.add(node)? {
                    cur_root = Some(root);
                }
            }
            EventData::Scalar { anchor, tag, value, style: sstyle, .. } => {
                b.aliasing.node();
                b.take_dash(sp_start);
                let node = b.scalar(&value, sstyle, tag.as_deref(), sp_start, sp_end)?;
                b.count(1);
                if let Some(anchor) = anchor {
                    b.anchors.insert(anchor, (node.clone(), 1));
                }
                if let Some(root) = b.add(node)? {
                    cur_root = Some(root);
                }
            }
            EventData::SequenceStart { anchor, style: seq_style, .. } => {
                let flow = seq_style == SequenceStyle::Flow;
                // Block: the event ends at the first `-` (after it for an indentless sequence).
                let content = if flow {
                    sp_end.saturating_sub(1)
                } else if t.b.get(sp_end.saturating_sub(1)) == Some(&b'-') && sp_end > sp_start {
                    sp_end - 1
                } else {
                    sp_end
                };
                b.open(false, flow, content, anchor, sp_start)?;
            }
            EventData::MappingStart { anchor, style: map_style, .. } => {
                let flow = map_style == MappingStyle::Flow;
                // Block: the event ends at the first key; flow: just after the `{`.
                let content = if flow { sp_end.saturating_sub(1) } else { sp_end };
                b.open(true, flow, content, anchor, sp_start)?;
            }
            EventData::SequenceEnd | EventData::MappingEnd => {
                let frame = b.stack.pop().ok_or_else(|| perr("unbalanced collection"))?;
                let weight = b.weights.pop().unwrap_or(1);
                let mut node = match frame {
                    Frame::Map { node, pending_key, .. } => {
                        if pending_key.is_some() {
                            return Err(perr("a mapping key has no value"));
                        }
                        node
                    }
                    Frame::Seq { node, .. } => node,
                };
                let flow = matches!(node.kind, YKind::Map { flow: true, .. } | YKind::Seq { flow: true, .. });
                if flow {
                    b.flow_depth = b.flow_depth.saturating_sub(1);
                    // The end event starts at the closing bracket.
                    let close = if is_close(t.b.get(sp_start)) { sp_start } else { find_close(t.b, sp_start) };
                    node.end = close + 1;
                    b.prev_end = b.prev_end.max(node.end);
                } else {
                    node.end = last_end(&node).max(node.start);
                }
                if let Some((anchor, depth)) = b.anchor_stack.last() {
                    if *depth == b.stack.len() {
                        let anchor = anchor.clone();
                        b.anchor_stack.pop();
                        b.anchors.insert(anchor, (node.clone(), weight));
                    }
                }
                b.count(weight);
                if let Some(root) = b.add(node)? {
                    cur_root = Some(root);
                }
            }
        }
    }
    if docs.is_empty() {
        if t.s.trim().is_empty() {
            return Err(Error::NoDocuments);
        }
        return Err(perr("no YAML document found (the file holds only comments)"));
    }
    let comments = find_comments(t, &b.scalars);
    place_comments(t, &mut docs, comments);
    Ok(docs)
}

fn is_close(c: Option<&u8>) -> bool {
    matches!(c, Some(b']') | Some(b'}'))
}

fn find_close(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() && b[i] != b']' && b[i] != b'}' {
        i += 1;
    }
    i.min(b.len().saturating_sub(1))
}

fn last_end(node: &YNode) -> usize {
    match &node.kind {
        YKind::Map { items, .. } => items
            .iter()
            .filter_map(|i| match i {
                MItem::Pair(k, v) => Some(k.end.max(v.end)),
                MItem::Comment(_) => None,
            })
            .max()
            .unwrap_or(node.start),
        YKind::Seq { items, .. } => items
            .iter()
            .filter_map(|i| match i {
                SItem::Node(n, _) => Some(n.end),
                SItem::Comment(_) => None,
            })
            .max()
            .unwrap_or(node.start),
        YKind::Scalar(_) => node.end,
    }
}

fn mark_copied(node: &mut YNode) {
    node.copied = true;
    match &mut node.kind {
        YKind::Scalar(_) => {}
        YKind::Map { items, .. } => {
            for it in items {
                if let MItem::Pair(k, v) = it {
                    mark_copied(k);
                    mark_copied(v);
                }
            }
        }
        YKind::Seq { items, .. } => {
            for it in items {
                if let SItem::Node(n, _) = it {
                    mark_copied(n);
                }
            }
        }
    }
}

impl Builder<'_> {
    /// Opens a collection whose content (first key, first `-`, or bracket) starts at `start`.
    fn open(
        &mut self,
        is_map: bool,
        flow: bool,
        start: usize,
        anchor: Option<String>,
        event_start: usize,
    ) -> Result<()> {
        let t = self.t;
        if self.stack.len() >= MAX_DEPTH {
            return Err(perr(format!("line {}: exceeded max depth of {MAX_DEPTH}", t.line_of(event_start) + 1)));
        }
        self.aliasing.node();
        self.take_dash(start);
        if flow {
            self.flow_depth += 1;
            self.prev_end = self.prev_end.max(start + 1);
        }
        let col = t.col(start);
        let kind = if is_map { YKind::Map { items: Vec::new(), flow } } else { YKind::Seq { items: Vec::new(), flow } };
        let node = YNode { kind, start, end: start, col, copied: false, alias: false, origin: 0 };
        if let Some(anchor) = anchor {
            self.anchor_stack.push((anchor, self.stack.len()));
        }
        self.stack.push(if is_map {
            Frame::Map { node, pending_key: None, keys: HashSet::new() }
        } else {
            Frame::Seq { node, pending_dash: None }
        });
        self.weights.push(1);
        Ok(())
    }

    /// Adds a finished node's weight to the collection that holds it.
    fn count(&mut self, weight: u64) {
        if let Some(w) = self.weights.last_mut() {
            *w = w.saturating_add(weight);
        }
    }

    /// For an item of a block sequence starting at `node_start`: finds its `-`.
    fn take_dash(&mut self, node_start: usize) -> Option<usize> {
        let in_block_seq = matches!(
            self.stack.last(),
            Some(Frame::Seq { node: YNode { kind: YKind::Seq { flow: false, .. }, .. }, .. })
        );
        if !in_block_seq {
            return None;
        }
        let b = self.t.b;
        let mut i = self.prev_end;
        let mut found = None;
        while i < node_start && i < b.len() {
            match b[i] {
                b'-' if i + 1 >= b.len() || matches!(b[i + 1], b' ' | b'\t' | b'\r' | b'\n') => {
                    found = Some(i);
                    break;
                }
                b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n') => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        if let Some(d) = found {
            self.prev_end = self.prev_end.max(d + 1);
            if let Some(Frame::Seq { pending_dash, .. }) = self.stack.last_mut() {
                *pending_dash = Some(d);
            }
        }
        found
    }

    fn scalar(
        &mut self,
        value: &str,
        sstyle: ScalarStyle,
        tag: Option<&str>,
        sp_start: usize,
        sp_end: usize,
    ) -> Result<YNode> {
        let t = self.t;
        let b = t.b;
        let tag_name = tag.map(go_tag);
        let in_flow = self.flow_depth > 0;
        let (mut start, mut end, mut header_len, mut content_indent) = (sp_start, sp_end, 0, 0);
        let mut owned_value: Option<String> = None;
        let st = match sstyle {
            ScalarStyle::SingleQuoted => style::SINGLE,
            ScalarStyle::DoubleQuoted => style::DOUBLE,
            ScalarStyle::Literal => style::LITERAL,
            ScalarStyle::Folded => style::FOLDED,
            // Plain (and the emitter-only `Any`).
            _ => style::PLAIN,
        };
        match st {
            style::LITERAL | style::FOLDED => {
                // The header is the first `|`/`>` after the node's properties.
                let mut i = skip_properties(b, self.prev_end.max(sp_start));
                while i < b.len() && b[i] != b'|' && b[i] != b'>' {
                    if b[i] == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n')) {
                        while i < b.len() && b[i] != b'\n' {
                            i += 1;
                        }
                        continue;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err(perr("could not locate a block scalar header"));
                }
                start = i;
                let mut h = i + 1;
                while h < b.len() && (b[h].is_ascii_digit() || b[h] == b'+' || b[h] == b'-') {
                    h += 1;
                }
                header_len = h - i;
                let explicit: Option<usize> =
                    b[i + 1..h].iter().find(|c| c.is_ascii_digit()).map(|c| (c - b'0') as usize);
                // Content lines follow the header line.
                let le = t.line_end(h);
                let first_line = if le < b.len() { le + if b[le] == b'\r' { 2 } else { 1 } } else { b.len() };
                let mut line = first_line;
                // An indentation indicator counts from the enclosing block collection's
                // indentation (libyaml's `parser->indent`), not from the header's line.
                let parent_indent = self
                    .stack
                    .iter()
                    .rev()
                    .find_map(|f| match f {
                        Frame::Map { node, .. } | Frame::Seq { node, .. } => match node.kind {
                            YKind::Map { flow: false, .. } | YKind::Seq { flow: false, .. } => Some(node.col),
                            _ => None,
                        },
                    })
                    .unwrap_or_else(|| t.indent_of_line(start));
                let mut indent = explicit.map(|d| parent_indent + d);
                let mut last_content_end = None;
                while line < b.len() {
                    let lend = t.line_end(line);
                    let text = &b[line..lend];
                    let spaces = text.iter().take_while(|c| **c == b' ').count();
                    // A line of blanks is empty unless it runs past the block's indentation:
                    // then what is past it is content (`  x\n   ` holds "x\n ").
                    let blank =
                        text.iter().all(|c| *c == b' ' || *c == b'\t') && indent.is_none_or(|i| text.len() <= i);
                    if blank {
                        line = if lend < b.len() { lend + if b[lend] == b'\r' { 2 } else { 1 } } else { b.len() };
                        continue;
                    }
                    if indent.is_none() && spaces <= parent_indent {
                        break;
                    }
                    let need = *indent.get_or_insert(spaces);
                    if spaces < need || need == 0 && (text.starts_with(b"---") || text.starts_with(b"...")) {
                        break;
                    }
                    last_content_end = Some(lend);
                    line = if lend < b.len() { lend + if b[lend] == b'\r' { 2 } else { 1 } } else { b.len() };
                }
                content_indent = indent.unwrap_or(0);
                end = last_content_end.unwrap_or(h);
                let at_eof = b[end..].iter().all(u8::is_ascii_whitespace);
                if self.line_break_added && at_eof && !b[i + 1..h].contains(&b'-') {
                    // The file ends without a line break: neither does this value.
                    owned_value = value.strip_suffix('\n').map(str::to_string);
                }
                if let Some(e) = last_content_end {
                    self.scalars.push((first_line, e));
                }
                self.scalars.push((start, h));
            }
            _ => {
                start = skip_properties(b, start);
                match st {
                    style::SINGLE => {
                        let mut j = start + 1;
                        loop {
                            if j >= b.len() {
                                return Err(perr("unterminated single-quoted scalar"));
                            }
                            if b[j] == b'\'' {
                                if j + 1 < b.len() && b[j + 1] == b'\'' {
                                    j += 2;
                                    continue;
                                }
                                break;
                            }
                            j += 1;
                        }
                        end = j + 1;
                    }
                    style::DOUBLE => {
                        let mut j = start + 1;
                        loop {
                            if j >= b.len() {
                                return Err(perr("unterminated double-quoted scalar"));
                            }
                            match b[j] {
                                b'\\' => j += 2,
                                b'"' => break,
                                _ => j += 1,
                            }
                        }
                        end = j + 1;
                        check_double_quoted(t, start, end)?;
                    }
                    _ => {
                        if value.is_empty() {
                            // An empty plain scalar: a zero-width span after the indicator.
                            let mut p = sp_start.min(b.len());
                            if p < b.len() && matches!(b[p], b':' | b'-' | b'?') {
                                p += 1;
                            }
                            start = p;
                            end = p;
                        } else {
                            end = end.max(start);
                            while end > start && matches!(b[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
                                end -= 1;
                            }
                        }
                    }
                }
                self.scalars.push((start, end));
            }
        }
        // Include a core type tag in the span: rewriting the value must drop it.
        let mut stbits = st;
        if in_flow {
            stbits |= FLOW;
        }
        match tag_name.as_deref() {
            None => {}
            Some("!!str") | Some("!") => stbits |= STR_TAG,
            Some(t) if t.starts_with("!!") => {
                // `!!int 1`, `!!binary ...`: the tag becomes part of the span.
                if let Some(tpos) = find_tag_before(b, self.prev_end, start) {
                    start = tpos;
                }
            }
            Some(_) => stbits |= STR_TAG,
        }
        self.prev_end = self.prev_end.max(end);
        let col = t.col(start);
        Ok(YNode {
            kind: YKind::Scalar(YScalar {
                value: owned_value.unwrap_or_else(|| value.to_string()),
                style: stbits,
                header_len,
                content_indent,
                tag: tag_name,
            }),
            start,
            end,
            col,
            copied: false,
            alias: false,
            origin: 0,
        })
    }

    /// Adds a finished node to the open collection; returns it when it is a document root.
    fn add(&mut self, node: YNode) -> Result<Option<YNode>> {
        let t = self.t;
        match self.stack.last_mut() {
            None => Ok(Some(node)),
            Some(Frame::Seq { node: seq, pending_dash }) => {
                let dash = pending_dash.take();
                if let YKind::Seq { items, .. } = &mut seq.kind {
                    if items.is_empty() && !matches!(seq.kind, YKind::Seq { flow: true, .. }) {
                        if let Some(d) = dash {
                            seq.start = seq.start.min(d);
                            seq.col = t.col(seq.start);
                        }
                    }
                }
                if let YKind::Seq { items, .. } = &mut seq.kind {
                    items.push(SItem::Node(node, dash));
                }
                Ok(None)
            }
            Some(Frame::Map { node: map, pending_key, keys }) => {
                match pending_key.take() {
                    None => {
                        // A key: it must be a string, as sops requires.
                        let key = match &node.kind {
                            YKind::Scalar(s) => key_string(s).ok_or_else(|| {
                                Error::Unencryptable(format!(
                                    "the YAML key at line {} is not a string; sops supports only string keys",
                                    t.line_of(node.start) + 1
                                ))
                            })?,
                            // go-yaml fails unmarshalling such a key (sops: exit 2).
                            _ => {
                                return Err(Error::parse(
                                    "yaml",
                                    format!(
                                        "the YAML key at line {} is a collection; sops supports only string keys",
                                        t.line_of(node.start) + 1
                                    ),
                                ))
                            }
                        };
                        if !keys.insert(key.clone()) {
                            return Err(Error::DuplicateKey {
                                key,
                                where_: format!("line {}", t.line_of(node.start) + 1),
                            });
                        }
                        *pending_key = Some(node);
                    }
                    Some(key) => {
                        if let YKind::Map { items, .. } = &mut map.kind {
                            items.push(MItem::Pair(key, node));
                        }
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The position after a node's properties (anchor, tag) and the blanks, line breaks and comments
/// that follow them. An anchor name is what libyaml scans as one: letters, digits, `_` and `-`
/// (`&an:chor x` is the anchor `an` on the scalar `:chor x`); a tag runs to the next blank.
fn skip_properties(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i] == b'&' || b[i] == b'!') {
        if b[i] == b'&' {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
                i += 1;
            }
        } else {
            while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
        }
        loop {
            match b.get(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                Some(b'#') if matches!(b[i - 1], b' ' | b'\t' | b'\r' | b'\n') => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => break,
            }
        }
    }
    i
}

/// The `!!tag` token just before a scalar.
fn find_tag_before(b: &[u8], from: usize, start: usize) -> Option<usize> {
    let mut i = start;
    while i > from {
        i -= 1;
        if b[i] == b'!' && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b':' | b'-' | b'[' | b'{' | b',')) {
            return Some(i);
        }
    }
    None
}

/// go-yaml's short name of a tag.
fn go_tag(t: &str) -> String {
    match t.strip_prefix("tag:yaml.org,2002:") {
        Some(suffix) => format!("!!{suffix}"),
        None => t.to_string(),
    }
}

/// A key as sops sees it, or `None` when go-yaml would decode it as a non-string.
fn key_string(s: &YScalar) -> Option<String> {
    if s.style & 7 != style::PLAIN || s.style & STR_TAG != 0 {
        return Some(s.value.clone());
    }
    if s.tag.as_deref() == Some("!!merge") && s.value == "<<" {
        // sops writes a merge key as `!!merge <<` and reads it back as the key `<<`.
        return Some(s.value.clone());
    }
    if s.tag.as_deref().is_some_and(|t| t != "!!str") {
        return None;
    }
    if s.value == "<<" {
        return Some(s.value.clone());
    }
    match resolve_plain(&s.value) {
        Resolved::Value(Value::Str(v)) => Some(v),
        _ => None,
    }
}

// ------------------------------------------------------------------------------------------
// Comments

/// Every `#` comment outside scalars: `(start of '#', end of line, trailing)`.
fn find_comments(t: &Text<'_>, scalars: &[(usize, usize)]) -> Vec<YComment> {
    let mut spans: Vec<(usize, usize)> = scalars.iter().copied().filter(|(a, b)| b > a).collect();
    spans.sort();
    let b = t.b;
    let mut out = Vec::new();
    let mut i = 0;
    let mut si = 0;
    while i < b.len() {
        while si < spans.len() && spans[si].1 <= i {
            si += 1;
        }
        if si < spans.len() && spans[si].0 <= i {
            i = spans[si].1;
            continue;
        }
        if b[i] == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r')) {
            let end = t.line_end(i);
            let ls = t.line_start(i);
            let trailing = b[ls..i].iter().any(|c| !matches!(c, b' ' | b'\t'));
            out.push(YComment { start: i, end, trailing });
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

/// For each full-line comment that go-yaml makes the head comment of the next token, where that
/// token starts. Those are the comments of a group (comment lines with only blank lines between
/// them) that come after a blank line following an earlier comment of the group: the lines before
/// it are feet of the blocks the group closes (placed by column, see [`place_full`]), the blank
/// line ends them (unless the group follows a key without a value, a dash or a bracket). `None`
/// for other comments, and at the end of the text or before a `---`/`...` line or a top-level
/// `sops:` key.
fn next_tokens(t: &Text<'_>, comments: &[YComment], trailing_at: &HashMap<usize, usize>) -> Vec<Option<usize>> {
    let mut out = vec![None; comments.len()];
    // Forward: which comments follow a blank line after an earlier comment of their group.
    let mut heads = vec![false; comments.len()];
    let mut prev: Option<usize> = None;
    let mut in_tail = false;
    let mut eligible = false;
    for (i, c) in comments.iter().enumerate() {
        if c.trailing {
            prev = None;
            continue;
        }
        match prev {
            Some(j) if t.b[comments[j].end..c.start].iter().all(u8::is_ascii_whitespace) => {
                in_tail |= eligible && t.line_of(c.start) > t.line_of(comments[j].start) + 1;
            }
            _ => {
                in_tail = false;
                eligible = ends_a_value(t, token_end_before(t, trailing_at, c.start));
            }
        }
        heads[i] = in_tail;
        prev = Some(i);
    }
    // Backward: the token after each group.
    let mut next: Option<usize> = None;
    for i in (0..comments.len()).rev() {
        let c = &comments[i];
        if c.trailing {
            continue;
        }
        // The first byte after this comment that is neither blank nor the next comment line.
        let mut n = c.end;
        while n < t.b.len() && t.b[n].is_ascii_whitespace() {
            n += 1;
        }
        let follows_comment = comments.get(i + 1).is_some_and(|d| d.start == n && !d.trailing);
        if !follows_comment {
            // A document's `sops` block counts as its end too: the comments before it read back
            // from an encrypted file where they were read from the plaintext.
            let marker = t.col(n) == 0
                && (t.b[n..].starts_with(b"---") || t.b[n..].starts_with(b"...") || t.b[n..].starts_with(b"sops:"));
            next = (n < t.b.len() && !marker).then_some(n);
        }
        if heads[i] {
            out[i] = next;
        }
    }
    out
}

fn place_comments(t: &Text<'_>, docs: &mut [RawDoc], comments: Vec<YComment>) {
    // Each line comment by its line, to step over it when looking for the token before a group.
    let trailing_at: HashMap<usize, usize> =
        comments.iter().filter(|c| c.trailing).map(|c| (t.line_of(c.start), c.start)).collect();
    let innermost = innermost_feet(t, docs, &comments, &trailing_at);
    let next_tokens = next_tokens(t, &comments, &trailing_at);
    // Where a line comment can attach, per document: built once (comments do not move scalars).
    let mut targets: Vec<Option<Vec<(usize, Target)>>> = vec![None; docs.len()];
    for (c, next) in comments.into_iter().zip(next_tokens) {
        let di = docs
            .iter()
            .position(|d| c.start >= d.start && c.start < d.end)
            .or_else(|| docs.iter().position(|d| c.start < d.start))
            .unwrap_or(docs.len().saturating_sub(1));
        if docs.is_empty() {
            continue;
        }
        let doc = &mut docs[di];
        let root = doc.root.get_or_insert_with(|| YNode::comments_only(c.start));
        // A document whose root is a null scalar keeps its comments in an empty mapping.
        if let YKind::Scalar(s) = &root.kind {
            if s.value.is_empty() || resolve_plain(&s.value) == Resolved::Value(Value::Null) {
                *root = YNode::comments_only(c.start);
            } else {
                continue;
            }
        }
        if c.trailing {
            let index = targets[di].get_or_insert_with(|| trailing_targets(root));
            if let Some(target) = trailing_target(t, index, &c) {
                let Target::Scalar(end) = target else {
                    insert_trailing(root, target, c.clone());
                    continue;
                };
                if !after_value_properties(t, end, c.start) || !insert_collection_head(root, end, c.clone()) {
                    insert_trailing(root, target, c.clone());
                }
                continue;
            }
        }
        if let Some(&cin) = innermost.get(&c.start) {
            if insert_at_end(root, cin, c.clone()) {
                continue;
            }
        }
        let col = t.col(c.start);
        let next = next.filter(|&n| n < root.end);
        place_full(t, root, c, col, next);
    }
}

/// Where the token before the comment line holding `comment` ends (0: none before it), past
/// blank lines and the line comment that may follow that token on its line (`trailing_at`: each
/// line comment by its line).
fn token_end_before(t: &Text<'_>, trailing_at: &HashMap<usize, usize>, comment: usize) -> usize {
    let mut p = t.line_start(comment);
    loop {
        while p > 0 && t.b[p - 1].is_ascii_whitespace() {
            p -= 1;
        }
        if p == 0 {
            return 0;
        }
        match trailing_at.get(&t.line_of(p - 1)) {
            Some(&cs) if cs < p => p = cs,
            _ => return p,
        }
    }
}

/// Whether the token ending at `p` completes a value. After a key with no value (`key:`), a dash,
/// `?`, an opening bracket or a comma, go-yaml gives the comments that follow no feet.
fn ends_a_value(t: &Text<'_>, p: usize) -> bool {
    p > 0 && !matches!(t.b[p - 1], b':' | b'-' | b'?' | b'[' | b'{' | b',')
}

/// go-yaml makes the first lines of a comment group a foot of the token before them (so they
/// land at the end of the innermost block holding that token, whatever their column) when the
/// group is cut by a line, or the next token, that is less indented than that block and than the
/// comment: `a:\n  b:\n    c: 1\n  # X\nd: 1` puts `# X` under `b`. Returns, for each such
/// comment, the start of that innermost block.
fn innermost_feet(
    t: &Text<'_>,
    docs: &[RawDoc],
    comments: &[YComment],
    trailing_at: &HashMap<usize, usize>,
) -> HashMap<usize, usize> {
    let mut out = HashMap::new();
    let full: Vec<&YComment> = comments.iter().filter(|c| !c.trailing).collect();
    let mut i = 0;
    while i < full.len() {
        // A group: comment lines with only blank lines between them.
        let mut j = i + 1;
        while j < full.len() && t.b[full[j - 1].end..full[j].start].iter().all(|c| c.is_ascii_whitespace()) {
            j += 1;
        }
        let group = &full[i..j];
        i = j;
        // The token before the group.
        let first = group[0];
        let p = token_end_before(t, trailing_at, first.start);
        if !ends_a_value(t, p) {
            continue;
        }
        let pos = p - 1;
        let Some(doc) =
            docs.iter().find(|d| d.root.as_ref().is_some_and(|r| r.start <= pos && pos < r.end.max(r.start + 1)))
        else {
            continue;
        };
        let Some(root) = &doc.root else { continue };
        let Some((cin, next_indent)) = block_container_at(root, pos) else { continue };
        // The next token after the group, if any, and its column (`---`/`...` count as column 0).
        let mut n = group[group.len() - 1].end;
        while n < t.b.len() && t.b[n].is_ascii_whitespace() {
            n += 1;
        }
        let next_col = if n < t.b.len() { Some(t.col(n)) } else { None };
        let p_line = t.line_of(pos);
        let mut first_empty = t.line_of(first.start) == p_line + 1;
        let mut seg: Vec<usize> = vec![first.start];
        let mut seg_col = t.col(first.start);
        let mut seg_line = t.line_of(first.start);
        let mut prior = true;
        let close = |seg: &mut Vec<usize>, innermost: bool, out: &mut HashMap<usize, usize>| {
            if innermost {
                for s in seg.iter() {
                    out.insert(*s, cin);
                }
            }
            seg.clear();
        };
        let mut prev_line = seg_line;
        for c in &group[1..] {
            let line = t.line_of(c.start);
            let col = t.col(c.start);
            if line > prev_line + 1 && first_empty {
                first_empty = false;
                if seg_line == p_line + 1 || seg_col < next_indent {
                    close(&mut seg, seg_col >= next_indent && prior, &mut out);
                    prior = false;
                    seg_col = col;
                    seg_line = line;
                }
            } else if line > prev_line + 1 {
                first_empty = false;
            }
            if !seg.is_empty() && col < next_indent && col != seg_col {
                close(&mut seg, prior, &mut out);
                prior = false;
                seg_col = col;
                seg_line = line;
            }
            if seg.is_empty() {
                seg_col = col;
                seg_line = line;
            }
            seg.push(c.start);
            prev_line = line;
        }
        if let Some(nc) = next_col {
            let nline = t.line_of(n);
            if nline > prev_line + 1 && first_empty && (seg_line == p_line + 1 || seg_col < next_indent) {
                close(&mut seg, seg_col >= next_indent && prior, &mut out);
            } else if nc < next_indent && nc != seg_col {
                close(&mut seg, prior, &mut out);
            }
        }
    }
    out
}

/// The deepest block collection holding `pos`: its start and the column of its items.
fn block_container_at(node: &YNode, pos: usize) -> Option<(usize, usize)> {
    if node.copied || pos < node.start || pos >= node.end {
        return None;
    }
    let (flow, children): (bool, Vec<&YNode>) = match &node.kind {
        YKind::Scalar(_) => return None,
        YKind::Map { items, flow } => (
            *flow,
            items
                .iter()
                .filter_map(|i| match i {
                    MItem::Pair(_, v) => Some(v),
                    MItem::Comment(_) => None,
                })
                .collect(),
        ),
        YKind::Seq { items, flow } => (
            *flow,
            items
                .iter()
                .filter_map(|i| match i {
                    SItem::Node(n, _) => Some(n),
                    SItem::Comment(_) => None,
                })
                .collect(),
        ),
    };
    for c in children {
        if let Some(found) = block_container_at(c, pos) {
            return Some(found);
        }
    }
    if flow {
        None
    } else {
        Some((node.start, node.col))
    }
}

/// Inserts a comment, by position, into the collection that starts at `start`. (The items of a
/// collection, comments placed so far included, are in source order: positions are found by
/// binary search, so that placing every comment of a large mapping stays linear.)
fn insert_at_end(node: &mut YNode, start: usize, c: YComment) -> bool {
    if node.copied {
        return false;
    }
    if node.start == start && !matches!(node.kind, YKind::Scalar(_)) {
        match &mut node.kind {
            YKind::Map { items, .. } => {
                let idx = items.partition_point(|it| it.start() <= c.start);
                items.insert(idx, MItem::Comment(c));
                return true;
            }
            YKind::Seq { items, .. } => {
                let idx = items.partition_point(|it| it.start() <= c.start);
                items.insert(idx, SItem::Comment(c));
                return true;
            }
            YKind::Scalar(_) => {}
        }
    }
    // Down the item that holds `start`.
    match &mut node.kind {
        YKind::Scalar(_) => false,
        YKind::Map { items, .. } => match last_item_at(items, start, pair_start).map(|i| &mut items[i]) {
            Some(MItem::Pair(_, v)) => insert_at_end(v, start, c),
            _ => false,
        },
        YKind::Seq { items, .. } => match last_item_at(items, start, seq_item_start).map(|i| &mut items[i]) {
            Some(SItem::Node(n, _)) => insert_at_end(n, start, c),
            _ => false,
        },
    }
}

/// Whether only `:` and an anchor or tag stand between a key ending at `end` and a line comment
/// at `comment`: `key: &a  # c` (go-yaml then gives the comment to the value, not the key).
fn after_value_properties(t: &Text<'_>, end: usize, comment: usize) -> bool {
    let Some(between) = t.b.get(end..comment) else { return false };
    let Some(rest) = between.trim_ascii_start().strip_prefix(b":") else { return false };
    let rest = rest.trim_ascii();
    !rest.is_empty()
        && rest.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).all(|w| w[0] == b'&' || w[0] == b'!')
}

/// Puts a line comment that follows a value's properties first in that value, when it is a block
/// collection of the pair whose key ends at `key_end`: go-yaml makes it the collection's line
/// comment, which sops reads into the collection (and writes as its first head comment).
fn insert_collection_head(node: &mut YNode, key_end: usize, c: YComment) -> bool {
    if node.copied {
        return false;
    }
    let pos = key_end.saturating_sub(1);
    match &mut node.kind {
        YKind::Scalar(_) => false,
        YKind::Map { items, .. } => {
            let Some(i) = last_item_at(items, pos, pair_start) else { return false };
            let MItem::Pair(k, v) = &mut items[i] else { return false };
            if k.end == key_end && !k.copied {
                if v.copied || v.start < key_end {
                    return false;
                }
                return match &mut v.kind {
                    YKind::Map { items, flow: false } => {
                        items.insert(0, MItem::Comment(c));
                        true
                    }
                    YKind::Seq { items, flow: false } => {
                        items.insert(0, SItem::Comment(c));
                        true
                    }
                    _ => false,
                };
            }
            insert_collection_head(v, key_end, c)
        }
        YKind::Seq { items, .. } => {
            let Some(i) = last_item_at(items, pos, seq_item_start) else { return false };
            let SItem::Node(n, _) = &mut items[i] else { return false };
            insert_collection_head(n, key_end, c)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// Before the item whose scalar (key, value or item) ends here.
    Scalar(usize),
    /// First in the flow collection that closes here.
    FlowEnd(usize),
}

/// Every place a line comment can follow, in source order: the end of each scalar (keys
/// included) and of each flow collection, aliases' copies aside.
fn trailing_targets(root: &YNode) -> Vec<(usize, Target)> {
    fn visit(n: &YNode, out: &mut Vec<(usize, Target)>) {
        if n.copied {
            return;
        }
        match &n.kind {
            YKind::Scalar(_) => out.push((n.end, Target::Scalar(n.end))),
            YKind::Map { items, flow } => {
                for it in items {
                    if let MItem::Pair(k, v) = it {
                        visit(k, out);
                        visit(v, out);
                    }
                }
                if *flow {
                    out.push((n.end, Target::FlowEnd(n.end)));
                }
            }
            YKind::Seq { items, flow } => {
                for it in items {
                    if let SItem::Node(x, _) = it {
                        visit(x, out);
                    }
                }
                if *flow {
                    out.push((n.end, Target::FlowEnd(n.end)));
                }
            }
        }
    }
    let mut out = Vec::new();
    visit(root, &mut out);
    // Stable: of two places ending at the same byte, the later visited (the enclosing flow
    // collection) is the one found last.
    out.sort_by_key(|(end, _)| *end);
    out
}

/// The token a line comment follows: the last scalar or flow end before it on its line.
fn trailing_target(t: &Text<'_>, targets: &[(usize, Target)], c: &YComment) -> Option<Target> {
    let ls = t.line_start(c.start);
    let i = targets.partition_point(|(end, _)| *end <= c.start);
    let (end, target) = *targets.get(i.checked_sub(1)?)?;
    (end >= ls).then_some(target)
}

/// The index of the last item, comments aside, that starts at or before `pos`. Items other than
/// comments are in source order; comments placed among them so far are skipped over.
fn last_item_at<T>(items: &[T], pos: usize, start: impl Fn(&T) -> Option<usize>) -> Option<usize> {
    let (mut lo, mut hi) = (0, items.len());
    let mut found = None;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let mut m = mid;
        while m < hi && start(&items[m]).is_none() {
            m += 1;
        }
        match (m < hi).then(|| start(&items[m])).flatten() {
            Some(st) if st <= pos => {
                found = Some(m);
                lo = m + 1;
            }
            _ => hi = mid,
        }
    }
    found
}

fn pair_start(it: &MItem) -> Option<usize> {
    match it {
        MItem::Pair(k, _) => Some(k.start),
        MItem::Comment(_) => None,
    }
}

fn seq_item_start(it: &SItem) -> Option<usize> {
    match it {
        SItem::Node(..) => Some(it.start()),
        SItem::Comment(_) => None,
    }
}

fn insert_trailing(node: &mut YNode, target: Target, c: YComment) -> bool {
    let flow = matches!(node.kind, YKind::Map { flow: true, .. } | YKind::Seq { flow: true, .. });
    if flow && target == Target::FlowEnd(node.end) && !node.copied {
        match &mut node.kind {
            YKind::Map { items, .. } => items.insert(0, MItem::Comment(c)),
            YKind::Seq { items, .. } => items.insert(0, SItem::Comment(c)),
            YKind::Scalar(_) => {}
        }
        return true;
    }
    // The item holding the byte before the target's end.
    let (Target::Scalar(end) | Target::FlowEnd(end)) = target;
    let pos = end.saturating_sub(1);
    let direct = |n: &YNode| !n.copied && matches!(n.kind, YKind::Scalar(_)) && target == Target::Scalar(n.end);
    match &mut node.kind {
        YKind::Scalar(_) => false,
        YKind::Map { items, .. } => {
            let Some(i) = last_item_at(items, pos, pair_start) else { return false };
            let MItem::Pair(k, v) = &mut items[i] else { return false };
            if direct(k) || direct(v) {
                items.insert(i, MItem::Comment(c));
                return true;
            }
            insert_trailing(v, target, c)
        }
        YKind::Seq { items, .. } => {
            let Some(i) = last_item_at(items, pos, seq_item_start) else { return false };
            let SItem::Node(n, _) = &mut items[i] else { return false };
            if direct(n) {
                items.insert(i, SItem::Comment(c));
                return true;
            }
            insert_trailing(n, target, c)
        }
    }
}

/// Places a full-line comment that is not a foot (see [`innermost_feet`]). go-yaml makes it the
/// head comment of the next token, so it goes into the collection holding that token: inside the
/// item before it when the token lies within that item's value. At the end of a document (no
/// next token), it goes inside the item before it when it is indented at least as deep as the
/// value's block.
fn place_full(t: &Text<'_>, node: &mut YNode, c: YComment, col: usize, next: Option<usize>) {
    let p = c.start;
    let inside = |v: &YNode| match next {
        Some(n) => !v.copied && !matches!(v.kind, YKind::Scalar(_)) && n < v.end,
        None => descend(v, p, col),
    };
    match &mut node.kind {
        YKind::Scalar(_) => {}
        YKind::Map { items, .. } => {
            let idx = items.partition_point(|it| it.start() <= p);
            let sibling_follows = items[idx..].iter().any(|it| matches!(it, MItem::Pair(..)));
            let prev = items[..idx].iter_mut().rev().find_map(|it| match it {
                MItem::Pair(k, v) => Some((k.start, v)),
                MItem::Comment(_) => None,
            });
            if let Some((key_start, v)) = prev {
                if next.is_none() && sibling_follows && p >= v.end && is_indentless_seq(t, v, key_start) {
                    if let Some(last) = last_block_item(v) {
                        if descend(last, p, col) {
                            place_full(t, last, c, col, next);
                            return;
                        }
                    }
                } else if inside(v) {
                    place_full(t, v, c, col, next);
                    return;
                }
            }
            items.insert(idx, MItem::Comment(c));
        }
        YKind::Seq { items, .. } => {
            let idx = items.partition_point(|it| it.start() <= p);
            let prev = items[..idx].iter_mut().rev().find_map(|it| match it {
                SItem::Node(n, _) => Some(n),
                SItem::Comment(_) => None,
            });
            if let Some(v) = prev {
                if inside(v) {
                    place_full(t, v, c, col, next);
                    return;
                }
            }
            items.insert(idx, SItem::Comment(c));
        }
    }
}

/// A block sequence written at the column of the key it is the value of.
fn is_indentless_seq(t: &Text<'_>, v: &YNode, key_start: usize) -> bool {
    matches!(v.kind, YKind::Seq { flow: false, .. }) && !v.copied && v.end > v.start && v.col == t.col(key_start)
}

/// The last item of a sequence, when it is a block collection of its own.
fn last_block_item(v: &mut YNode) -> Option<&mut YNode> {
    let YKind::Seq { items, .. } = &mut v.kind else { return None };
    let last = items.iter_mut().rev().find_map(|it| match it {
        SItem::Node(n, _) => Some(n),
        SItem::Comment(_) => None,
    })?;
    matches!(last.kind, YKind::Map { flow: false, .. } | YKind::Seq { flow: false, .. }).then_some(last)
}

fn descend(v: &YNode, p: usize, col: usize) -> bool {
    if v.copied {
        return false;
    }
    match &v.kind {
        YKind::Scalar(_) => false,
        YKind::Map { flow, .. } | YKind::Seq { flow, .. } => p < v.end || (!flow && col >= v.col && v.end > v.start),
    }
}

// ------------------------------------------------------------------------------------------
// Typing

/// Converts raw documents into the tree (types resolved as go-yaml v3 does for sops).
pub(crate) fn to_documents(t: &Text<'_>, raw: Vec<RawDoc>) -> Result<Vec<Document>> {
    let mut out = Vec::with_capacity(raw.len());
    for d in raw {
        let layout = Some(DocLayout { start: d.start, end: d.end, metadata: None });
        let root = match d.root {
            None => Mapping::new(),
            Some(n) => match n.kind {
                YKind::Map { .. } => match convert(t, n)? {
                    Node::Map(m) => m,
                    _ => Mapping::new(),
                },
                // sops refuses these while unmarshalling the file (exit 2), as a parse error.
                YKind::Seq { .. } => return Err(perr("YAML documents that are sequences are not supported")),
                YKind::Scalar(ref s) => {
                    let is_null = s.style & 7 == style::PLAIN
                        && match s.tag.as_deref() {
                            None => resolve_plain(&s.value) == Resolved::Value(Value::Null),
                            Some("!!null") => true,
                            Some("!") => s.value.is_empty(),
                            Some(_) => false,
                        };
                    if !is_null {
                        return Err(perr("YAML documents that are values are not supported"));
                    }
                    Mapping::new()
                }
            },
        };
        out.push(Document { root, layout });
    }
    Ok(out)
}

fn src_of(n: &YNode, style: u8, aux: u32) -> Option<Src> {
    if n.alias {
        // `aux`: where the anchored node starts (the splicer keeps the alias only while that
        // node still holds what the alias's copy holds); `u32::MAX` when out of range.
        Some(Src { start: n.start, end: n.end, style: ALIAS, aux: u32::try_from(n.origin).unwrap_or(u32::MAX) })
    } else if n.copied {
        None
    } else {
        Some(Src { start: n.start, end: n.end, style, aux })
    }
}

fn comment_of(t: &Text<'_>, c: &YComment) -> Comment {
    let text = t.s.get(c.start + 1..c.end).unwrap_or("").to_string();
    Comment {
        text,
        src: Some(Src { start: c.start, end: c.end, style: if c.trailing { super::TRAILING } else { 0 }, aux: 0 }),
    }
}

fn convert(t: &Text<'_>, n: YNode) -> Result<Node> {
    let line = t.line_of(n.start) + 1;
    let shell = n.clone_shallow();
    Ok(match n.kind {
        YKind::Scalar(ref s) => {
            let value = scalar_value(s, line)?;
            let aux = if s.style & 7 >= style::LITERAL {
                (s.header_len as u32) | ((s.content_indent as u32) << 8)
            } else {
                0
            };
            Node::Scalar(Scalar { value, src: src_of(&n, s.style, aux) })
        }
        YKind::Map { items, flow } => {
            let src = src_of(&shell, if flow { 1 } else { 0 }, shell.col as u32);
            let mut m = Mapping { items: Vec::with_capacity(items.len()), src };
            for it in items {
                match it {
                    MItem::Comment(c) => m.items.push(MapItem::Comment(comment_of(t, &c))),
                    MItem::Pair(k, v) => {
                        let key = match &k.kind {
                            YKind::Scalar(s) => key_string(s).unwrap_or_default(),
                            _ => String::new(),
                        };
                        let key_src = match &k.kind {
                            YKind::Scalar(s) => src_of(&k, s.style, 0),
                            _ => None,
                        };
                        let value = convert(t, v)?;
                        m.items.push(MapItem::Entry(Entry { key, value, key_src }));
                    }
                }
            }
            Node::Map(m)
        }
        YKind::Seq { items, flow } => {
            let src = src_of(&shell, if flow { 1 } else { 0 }, shell.col as u32);
            let mut s = Sequence { items: Vec::with_capacity(items.len()), src };
            for it in items {
                match it {
                    SItem::Comment(c) => s.items.push(SeqItem::Comment(comment_of(t, &c))),
                    SItem::Node(x, dash) => {
                        let mut node = convert(t, x)?;
                        if let (Node::Scalar(Scalar { src: Some(src), .. }), Some(d)) = (&mut node, dash) {
                            if src.style & 7 < style::LITERAL {
                                src.aux = d as u32 + 1;
                            }
                        }
                        s.items.push(SeqItem::Node(node));
                    }
                }
            }
            Node::Seq(s)
        }
    })
}

fn scalar_value(s: &YScalar, line: usize) -> Result<Value> {
    let quoted_or_block = s.style & 7 != style::PLAIN;
    match s.tag.as_deref() {
        Some("!!binary") => {
            use base64::Engine;
            let cleaned: String = s.value.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .map_err(|_| perr(format!("!!binary value at line {line} contains invalid base64 data")))?;
            return Ok(match String::from_utf8(bytes) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            });
        }
        Some("!!str") | Some("!") => return Ok(Value::Str(s.value.clone())),
        Some(tag) if tag.starts_with("!!") => {
            let r = resolve_plain(&s.value);
            let ok = |v: Value| Ok(v);
            return match (tag, r) {
                ("!!int", Resolved::Value(Value::Int(i))) => ok(Value::Int(i)),
                ("!!float", Resolved::Value(Value::Float(f))) => ok(Value::Float(f)),
                ("!!float", Resolved::Value(Value::Int(i))) => ok(Value::Float(i as f64)),
                ("!!bool", Resolved::Value(Value::Bool(b))) => ok(Value::Bool(b)),
                ("!!null", Resolved::Value(Value::Null)) => ok(Value::Null),
                ("!!timestamp", Resolved::Value(Value::Time(x))) => ok(Value::Time(x)),
                ("!!map", _) | ("!!seq", _) | ("!!merge", _) => ok(Value::Str(s.value.clone())),
                _ => Err(perr(format!("cannot decode the value at line {line} as a {tag}"))),
            };
        }
        Some(_) => return Ok(Value::Str(s.value.clone())),
        None => {}
    }
    if quoted_or_block {
        return Ok(Value::Str(s.value.clone()));
    }
    match resolve_plain(&s.value) {
        Resolved::Value(v) => Ok(v),
        Resolved::Uint => Err(Error::Unencryptable(format!(
            "the integer at line {line} does not fit in a signed 64-bit integer; sops cannot encrypt it (quote it to keep it a string)"
        ))),
    }
}
