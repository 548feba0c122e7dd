//! Writing YAML by splicing new values into the source text.
//!
//! The source is parsed again and compared with the tree to write: where the shapes agree
//! (same items at the same places) only scalars and comments whose value differs are rewritten;
//! a document whose shape changed, or that has nodes without a source position, is written fresh.
//! Each changed scalar keeps the style its span had, so that quoting survives a round trip:
//!
//! | source            | encrypted                 | decrypted back                          |
//! |-------------------|---------------------------|-----------------------------------------|
//! | `x` (block)       | `ENC[...]`                | plain if it reads back as the same string, else quoted / a literal block |
//! | `x` (in `[...]`)  | `'ENC[...]'`              | plain if valid in flow, else `'...'`    |
//! | `'x'`             | `'ENC[...]'`              | `'...'` (double quotes if needed)       |
//! | `"x"`             | `"ENC[...]"`              | `"..."` with escapes                    |
//! | `\|`, `>-`, `\|2+` | `\|-` / `>-` / `\|2-` + one ENC line | the block, chomping from the value |
//!
//! Numbers, booleans and timestamps come back in a canonical spelling that reads back as the same
//! typed value (`1.0` stays a float, a midnight UTC time is written as a date).

use std::collections::HashMap;

use super::load::Text;
use super::resolve::{plain_text, resolve_plain, resolves_to_str, Resolved};
use super::{emit, style, ALIAS, FLOW, STR_TAG};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::tree::{Comment, Document, MapItem, Mapping, Node, SeqItem, Sequence, Src, Value};

pub(super) type Edit = (usize, usize, String);

/// The edits of one document, and what its anchored nodes now hold.
struct Edits<'a> {
    list: Vec<Edit>,
    /// Starts of the nodes an alias copies (from the source), and the new node found there.
    anchored: HashMap<usize, Option<&'a Node>>,
}

impl<'a> Edits<'a> {
    fn new(orig: &Mapping) -> Self {
        let mut anchored = HashMap::new();
        collect_alias_origins_map(orig, &mut anchored);
        Edits { list: Vec::new(), anchored }
    }

    fn push(&mut self, e: Edit) {
        self.list.push(e);
    }

    fn extend(&mut self, e: impl IntoIterator<Item = Edit>) {
        self.list.extend(e);
    }
}

/// Records where each alias's anchored node starts (recursion as deep as the reader allows; see
/// `crate::stack`).
fn collect_alias_origins_map(m: &Mapping, out: &mut HashMap<usize, Option<&Node>>) {
    for item in &m.items {
        if let MapItem::Entry(e) = item {
            collect_alias_origins(&e.value, out);
        }
    }
}

fn collect_alias_origins(n: &Node, out: &mut HashMap<usize, Option<&Node>>) {
    if let Some(src) = alias_src(n) {
        out.insert(src.aux as usize, None);
        return;
    }
    match n {
        Node::Map(m) => collect_alias_origins_map(m, out),
        Node::Seq(s) => {
            for item in &s.items {
                if let SeqItem::Node(x) = item {
                    collect_alias_origins(x, out);
                }
            }
        }
        Node::Scalar(_) => {}
    }
}

/// Writes documents, splicing into `source` where possible. `metadata` is `Some` when writing an
/// encrypted file (its `sops:` block is added to every document) and `None` for plaintext (the
/// source's `sops:` blocks are dropped).
pub(crate) fn emit(
    docs: &[Document],
    metadata: Option<&Metadata>,
    source: Option<&[u8]>,
    indent: usize,
) -> Result<Vec<u8>> {
    let fresh_all = || -> Result<Vec<u8>> {
        let docs: Vec<Document> = docs.iter().map(|d| with_metadata(d, metadata)).collect();
        Ok(emit::emit_documents(&docs, indent).into_bytes())
    };
    let Some(source) = source else { return fresh_all() };
    let Ok(text) = std::str::from_utf8(source) else { return fresh_all() };
    let Ok(orig) = super::original_documents(text, metadata.is_none()) else { return fresh_all() };
    if orig.len() != docs.len() {
        return fresh_all();
    }
    let t = Text::new(text);
    let mut edits: Vec<Edit> = Vec::new();
    for (doc, o) in docs.iter().zip(orig.iter()) {
        let (Some(ol), Some(dl)) = (o.layout, doc.layout) else { return fresh_all() };
        if ol.start != dl.start || ol.end != dl.end {
            return fresh_all();
        }
        let mut doc_edits = Edits::new(&o.root);
        let spliceable = o.root.src.is_none_or(|s| s.style == 0)
            && same_mapping(&t, &doc.root, &o.root, indent, &mut doc_edits).is_some();
        if spliceable {
            edits.extend(doc_edits.list);
            match metadata {
                Some(md) => {
                    // At the root mapping's column: an indented file keeps its `sops` key a key
                    // of that mapping.
                    let col = o.root.src.map_or(0, |s| s.aux as usize);
                    edits.push(sops_block_insertion(&t, ol.end, md, indent, col))
                }
                None => {
                    if let Some((a, b)) = ol.metadata {
                        // A document without a `---` line that held only its `sops` block
                        // decrypts, as with sops, to an empty mapping: left empty, it would not
                        // even be a document.
                        let rest_blank = t.b[ol.start..a].iter().chain(&t.b[b..ol.end]).all(u8::is_ascii_whitespace);
                        let explicit = t.s[..ol.start]
                            .trim_end_matches(['\n', '\r'])
                            .rsplit('\n')
                            .next()
                            .is_some_and(|l| l.starts_with("---"));
                        let empty = if doc.root.items.is_empty() && rest_blank && !explicit { "{}\n" } else { "" };
                        edits.push((a, b, empty.to_string()));
                    }
                }
            }
        } else {
            // Written fresh, in place of the document's region.
            let mut fresh = emit::emit_documents(&[with_metadata(doc, metadata)], indent);
            if ol.end == text.len() && !text.ends_with('\n') && fresh.ends_with('\n') {
                fresh.pop();
            }
            edits.push((ol.start, ol.end, fresh));
        }
    }
    apply(text, edits)
}

fn with_metadata(doc: &Document, metadata: Option<&Metadata>) -> Document {
    let mut d = Document::new(doc.root.clone());
    if let Some(md) = metadata {
        d.root.push("sops", Node::Map(md.to_mapping()));
    }
    d
}

/// The `sops:` block appended at the end of a document's region.
pub(super) fn sops_block_insertion(t: &Text<'_>, at: usize, md: &Metadata, indent: usize, col: usize) -> Edit {
    // An indented comment ending the document would become part of the block above it once a
    // key follows (go-yaml reads it as a foot of the last value): a blank line keeps it where
    // it is. `emit_plain` removes that line again (see `super::ends_with_indented_comment`).
    let spacer = if super::ends_with_indented_comment(t, at) { "\n" } else { "" };
    let mut block = format!("sops:\n{}", emit::emit_block_mapping(&md.to_mapping(), indent, indent));
    if col > 0 {
        let pad = " ".repeat(col);
        block =
            block.split_inclusive('\n').map(|l| if l == "\n" { l.to_string() } else { format!("{pad}{l}") }).collect();
    }
    if at > 0 && t.b[at - 1] != b'\n' {
        // The file ends without a line break: keep it that way.
        let body = block.strip_suffix('\n').unwrap_or(&block);
        (at, at, format!("\n{spacer}{body}"))
    } else {
        (at, at, format!("{spacer}{block}"))
    }
}

fn apply(text: &str, mut edits: Vec<Edit>) -> Result<Vec<u8>> {
    edits.sort_by_key(|e| (e.0, e.1));
    let mut out = String::with_capacity(text.len() + edits.iter().map(|e| e.2.len()).sum::<usize>());
    let mut pos = 0;
    for (a, b, s) in edits {
        // Two edits may both remove the line break between them (a block's last line and the
        // `sops` block after it, in a file without a final line break): it goes once.
        let a =
            if a < pos && b >= pos && text.as_bytes()[a..pos].iter().all(u8::is_ascii_whitespace) { pos } else { a };
        if a < pos || b < a || b > text.len() {
            return Err(Error::Generic("internal error: overlapping YAML edits".into()));
        }
        out.push_str(&text[pos..a]);
        // A scalar glued to its anchor (`&an:chor x` is the anchor `an` on `:chor x`) must not
        // become part of the anchor's name when its text changes.
        let glued =
            a > 0 && (text.as_bytes()[a - 1].is_ascii_alphanumeric() || matches!(text.as_bytes()[a - 1], b'_' | b'-'));
        if glued && b > a && !s.starts_with([' ', '\n']) {
            out.push(' ');
        }
        out.push_str(&s);
        pos = b;
    }
    out.push_str(&text[pos..]);
    Ok(out.into_bytes())
}

fn same_src(a: Option<Src>, b: Option<Src>) -> Option<Src> {
    match (a, b) {
        (Some(x), Some(y)) if x.start == y.start && x.end == y.end => Some(y),
        _ => None,
    }
}

fn same_mapping<'a>(
    t: &Text<'_>,
    new: &'a Mapping,
    orig: &Mapping,
    indent: usize,
    edits: &mut Edits<'a>,
) -> Option<()> {
    if orig.src.is_some() {
        same_src(new.src, orig.src)?;
    }
    if new.items.len() != orig.items.len() {
        return None;
    }
    for (n, o) in new.items.iter().zip(orig.items.iter()) {
        match (n, o) {
            (MapItem::Entry(a), MapItem::Entry(b)) => {
                if a.key != b.key {
                    return None;
                }
                // An alias as a key (`*a : v`) would name whatever its anchor now holds (an ENC
                // value): such a document is written fresh.
                if b.key_src.is_some_and(|s| s.style & ALIAS != 0) {
                    return None;
                }
                same_src(a.key_src, b.key_src)?;
                same_node(t, &a.value, &b.value, indent, edits)?;
            }
            (MapItem::Comment(a), MapItem::Comment(b)) => same_comment(t, a, b, edits)?,
            _ => return None,
        }
    }
    Some(())
}

fn same_sequence<'a>(
    t: &Text<'_>,
    new: &'a Sequence,
    orig: &Sequence,
    indent: usize,
    edits: &mut Edits<'a>,
) -> Option<()> {
    same_src(new.src, orig.src)?;
    if new.items.len() != orig.items.len() {
        return None;
    }
    // A block sequence left with comments only would read back as a null: it becomes `[]`.
    let mut empty_marker =
        !new.items.iter().any(|i| matches!(i, SeqItem::Node(_))) && orig.src.is_some_and(|s| s.style == 0);
    for (n, o) in new.items.iter().zip(orig.items.iter()) {
        match (n, o) {
            (SeqItem::Node(a), SeqItem::Node(b)) => same_node(t, a, b, indent, edits)?,
            (SeqItem::Comment(a), SeqItem::Comment(b)) => same_comment(t, a, b, edits)?,
            // `- ENC[...,type:comment]` decrypted back into a comment line (sops writes a list's
            // comments as such items).
            (SeqItem::Comment(a), SeqItem::Node(Node::Scalar(b))) => {
                let src = same_src(a.src, b.src)?;
                if src.aux == 0 {
                    return None;
                }
                let dash = src.aux as usize - 1;
                let text = comment_text(t, dash, &a.text);
                edits.push((
                    dash,
                    src.end,
                    if std::mem::take(&mut empty_marker) { format!("[] {text}") } else { text },
                ));
            }
            // A comment that became a list item.
            (SeqItem::Node(Node::Scalar(a)), SeqItem::Comment(b)) => {
                let src = same_src(a.src, b.src)?;
                if src.style & super::TRAILING != 0 {
                    return None;
                }
                let text = match &a.value {
                    Value::Str(s) if plain_ok(s, false, false) => s.clone(),
                    Value::Str(s) => double_quoted(s),
                    other => plain_text(other),
                };
                edits.push((src.start, src.end, format!("- {text}")));
            }
            _ => return None,
        }
    }
    Some(())
}

fn same_comment(t: &Text<'_>, new: &Comment, orig: &Comment, edits: &mut Edits<'_>) -> Option<()> {
    let src = same_src(new.src, orig.src)?;
    if new.text != orig.text {
        edits.push((src.start, src.end, comment_text(t, src.start, &new.text)));
    }
    Some(())
}

/// `#text`; a text with line breaks continues on comment lines at the same column.
fn comment_text(t: &Text<'_>, at: usize, text: &str) -> String {
    let pad = " ".repeat(t.col(at));
    let mut out = String::with_capacity(text.len() + 1);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&pad);
        }
        out.push('#');
        out.push_str(line.trim_end_matches('\r'));
    }
    out
}

fn same_node<'a>(t: &Text<'_>, new: &'a Node, orig: &Node, indent: usize, edits: &mut Edits<'a>) -> Option<()> {
    if let Some(alias) = alias_src(orig) {
        // An alias (`*name`) stands for a copy of its anchor's node. It stays while that node
        // still holds what the copy now holds; otherwise (encrypted: the copy's values carry their
        // own paths; or only one of the two was encrypted) the copy is written in its place,
        // inline, as sops writes aliases out expanded (in flow style, valid in block and flow
        // context alike).
        if alias_src(new).map(|s| (s.start, s.end)) != Some((alias.start, alias.end)) {
            return None;
        }
        let anchored_now = edits.anchored.get(&(alias.aux as usize)).copied().flatten();
        if new != orig || anchored_now.is_none_or(|a| !crate::tree::same_content(a, new)) {
            edits.push((alias.start, alias.end, inline(new, true)?));
        }
        return Some(());
    }
    if let Some(src) = node_src(orig) {
        if let Some(slot) = edits.anchored.get_mut(&src.start) {
            *slot = Some(new);
        }
    }
    match (new, orig) {
        (Node::Map(a), Node::Map(b)) => {
            b.src?;
            same_mapping(t, a, b, indent, edits)
        }
        (Node::Seq(a), Node::Seq(b)) => same_sequence(t, a, b, indent, edits),
        (Node::Scalar(a), Node::Scalar(b)) => {
            let src = same_src(a.src, b.src)?;
            if !a.value.same(&b.value) {
                edits.extend(render_scalar(t, &src, &a.value, indent));
            }
            Some(())
        }
        _ => None,
    }
}

fn node_src(n: &Node) -> Option<Src> {
    match n {
        Node::Map(m) => m.src,
        Node::Seq(s) => s.src,
        Node::Scalar(s) => s.src,
    }
}

fn alias_src(n: &Node) -> Option<Src> {
    let src = node_src(n)?;
    (src.style & ALIAS != 0).then_some(src)
}

/// A node on one line: a scalar, or a flow collection of them; `None` when it holds comments.
fn inline(n: &Node, in_flow: bool) -> Option<String> {
    Some(match n {
        Node::Scalar(s) => match &s.value {
            Value::Str(v) if plain_ok(v, in_flow, false) => v.clone(),
            Value::Str(v) => quoted(v),
            Value::Bytes(b) => {
                use base64::Engine;
                format!("!!binary {}", base64::engine::general_purpose::STANDARD.encode(b))
            }
            other => plain_text(other),
        },
        Node::Map(m) => {
            let mut parts = Vec::with_capacity(m.items.len());
            for item in &m.items {
                let MapItem::Entry(e) = item else { return None };
                let key = if plain_ok(&e.key, true, false) { e.key.clone() } else { double_quoted(&e.key) };
                parts.push(format!("{key}: {}", inline(&e.value, true)?));
            }
            format!("{{{}}}", parts.join(", "))
        }
        Node::Seq(q) => {
            let mut parts = Vec::with_capacity(q.items.len());
            for item in &q.items {
                let SeqItem::Node(x) = item else { return None };
                parts.push(inline(x, true)?);
            }
            format!("[{}]", parts.join(", "))
        }
    })
}

// ------------------------------------------------------------------------------------------
// Rendering one scalar in place

pub(super) fn render_scalar(t: &Text<'_>, src: &Src, v: &Value, indent: usize) -> Vec<Edit> {
    let st = src.style & 7;
    let flow = src.style & FLOW != 0;
    let strtag = src.style & STR_TAG != 0;
    let block = st == style::LITERAL || st == style::FOLDED;
    let (start, end) = (src.start, src.end);
    let text = match v {
        Value::Str(s) => {
            // A tagged block (`!!binary |`) is replaced whole, tag included: a tag must not stay in
            // front of an ENC value, which is no longer what the tag says.
            let tagged = t.b.get(start) == Some(&b'!');
            if block && !tagged {
                if let Some(edits) = block_edits(t, src, s) {
                    return edits;
                }
                quoted(s)
            } else {
                match st {
                    style::SINGLE if flow && plain_ok(s, true, strtag) => s.clone(),
                    style::SINGLE if single_ok(s) => single_quoted(s),
                    style::SINGLE | style::DOUBLE => double_quoted(s),
                    _ => {
                        if plain_ok(s, flow, strtag) {
                            s.clone()
                        } else if !strtag
                            && !s.contains('\n')
                            && (resolve_plain(s) != Resolved::Value(Value::Str(s.clone()))
                                || !emit::plain_in_yaml_1_1(s))
                        {
                            // go-yaml forces double quotes on a string that would read back as
                            // another type (`"1"`, `"true"`, `"null"`), as sops writes it.
                            double_quoted(s)
                        } else if flow {
                            if s.starts_with("ENC[") && single_ok(s) {
                                single_quoted(s)
                            } else {
                                quoted(s)
                            }
                        } else if s.contains('\n') && rest_of_line_empty(t, end) {
                            if let Some(b) = new_literal(t, start, s, indent) {
                                b
                            } else {
                                quoted(s)
                            }
                        } else {
                            quoted(s)
                        }
                    }
                }
            }
        }
        Value::Bytes(b) => {
            use base64::Engine;
            format!("!!binary {}", base64::engine::general_purpose::STANDARD.encode(b))
        }
        other => plain_text(other),
    };
    let text = if start == end && start > 0 && matches!(t.b[start - 1], b':' | b'-' | b'?') {
        format!(" {text}")
    } else {
        text
    };
    if block {
        // A block scalar replaced by a one-line scalar: the header becomes the scalar, the
        // content lines go.
        let hlen = (src.aux & 0xff) as usize;
        let hstart = block_header_start(t, src);
        let mut edits = vec![(start, hstart + hlen, text)];
        if let Some((cs, ce)) = content_range(t, src) {
            edits.push((cs, line_break_end(t, ce), String::new()));
        }
        return edits;
    }
    vec![(start, end, text)]
}

/// Where a block scalar's `|`/`>` header starts: a tag (`!!binary |`) may stand before it, and the
/// scalar's span then starts at the tag.
fn block_header_start(t: &Text<'_>, src: &Src) -> usize {
    let le = t.line_end(src.start);
    t.b[src.start..le].iter().position(|c| *c == b'|' || *c == b'>').map_or(src.start, |p| src.start + p)
}

fn rest_of_line_empty(t: &Text<'_>, end: usize) -> bool {
    let le = t.line_end(end);
    t.b[end..le].iter().all(|c| *c == b' ' || *c == b'\t')
}

fn line_break_end(t: &Text<'_>, pos: usize) -> usize {
    let mut i = pos;
    if i < t.b.len() && t.b[i] == b'\r' {
        i += 1;
    }
    if i < t.b.len() && t.b[i] == b'\n' {
        i += 1;
    }
    i
}

/// The content lines of a block scalar: from the line after the header to the end of the last
/// content line; `None` when the block is empty.
fn content_range(t: &Text<'_>, src: &Src) -> Option<(usize, usize)> {
    let hlen = (src.aux & 0xff) as usize;
    let hend = block_header_start(t, src) + hlen;
    let first = line_break_end(t, t.line_end(hend));
    if src.end > hend && first <= src.end {
        Some((first, src.end))
    } else {
        None
    }
}

/// Rewrites a block scalar as a block with the same header kind, or `None` when the value cannot
/// be written as one.
fn block_edits(t: &Text<'_>, src: &Src, s: &str) -> Option<Vec<Edit>> {
    let hlen = (src.aux & 0xff) as usize;
    let hstart = block_header_start(t, src);
    let header = t.s.get(hstart..hstart + hlen)?;
    let mut kind = header.chars().next()?;
    let digit: Option<char> = header.chars().find(|c| c.is_ascii_digit());
    let content_indent = (src.aux >> 8) as usize;
    let indent = if content_indent > 0 { content_indent } else { t.indent_of_line(src.start) + 2 };
    let body = s.trim_end_matches('\n');
    let k = s.len() - body.len();
    if body.is_empty() || !block_text_ok(body) {
        return None;
    }
    let first_line = body.split('\n').find(|l| !l.is_empty()).unwrap_or("");
    if first_line.starts_with(' ') && digit.is_none() {
        return None;
    }
    if kind == '>' && body.split('\n').any(|l| l.starts_with(' ') || l.starts_with('\t')) {
        kind = '|';
    }
    let chomp = match k {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let range = content_range(t, src);
    if k >= 2 {
        // Keep chomping: the blank lines after the block are part of the value.
        let after = range.map_or(hstart + hlen, |r| r.1);
        if blank_lines_after(t, after) != k - 1 {
            return None;
        }
    }
    let pad = " ".repeat(indent);
    let lines: Vec<String> =
        if kind == '>' { folded_lines(body) } else { body.split('\n').map(str::to_string).collect() };
    let content: Vec<String> =
        lines.iter().map(|l| if l.is_empty() { String::new() } else { format!("{pad}{l}") }).collect();
    let content = content.join("\n");
    let mut new_header = String::new();
    new_header.push(kind);
    if let Some(d) = digit {
        new_header.push(d);
    }
    new_header.push_str(chomp);
    let mut edits = vec![(hstart, hstart + hlen, new_header)];
    match range {
        Some((cs, ce)) => edits.push((cs, ce, content)),
        None => {
            let le = t.line_end(hstart + hlen);
            edits.push((le, le, format!("\n{content}")));
        }
    }
    Some(edits)
}

/// Lines of a folded block that fold back into `body` (no line is more indented).
fn folded_lines(body: &str) -> Vec<String> {
    let segs: Vec<&str> = body.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    // Leading empty segments are kept as empty lines.
    while i < segs.len() && segs[i].is_empty() {
        out.push(String::new());
        i += 1;
    }
    let mut first = true;
    while i < segs.len() {
        // segs[i] is non-empty here; count the empty segments after it.
        if !first {
            // Handled below.
        }
        out.push(segs[i].to_string());
        first = false;
        let mut m = 0;
        let mut j = i + 1;
        while j < segs.len() && segs[j].is_empty() {
            m += 1;
            j += 1;
        }
        if j < segs.len() {
            for _ in 0..=m {
                out.push(String::new());
            }
        }
        i = j;
    }
    out
}

fn blank_lines_after(t: &Text<'_>, pos: usize) -> usize {
    let mut n = 0;
    let mut line = line_break_end(t, t.line_end(pos));
    while line < t.b.len() {
        let le = t.line_end(line);
        if !t.b[line..le].iter().all(|c| *c == b' ' || *c == b'\t') {
            break;
        }
        n += 1;
        let next = line_break_end(t, le);
        if next == line {
            break;
        }
        line = next;
    }
    n
}

/// A new literal block for a multi-line string that stood as a one-line scalar.
fn new_literal(t: &Text<'_>, start: usize, s: &str, indent: usize) -> Option<String> {
    let body = s.trim_end_matches('\n');
    let k = s.len() - body.len();
    // A first content line that starts with a space would set the block's indentation (it then
    // needs an indentation indicator): such a value stays quoted.
    let first_line = body.split('\n').find(|l| !l.is_empty()).unwrap_or("");
    if body.is_empty() || !block_text_ok(body) || k > 1 || first_line.starts_with(' ') {
        return None;
    }
    let pad = " ".repeat(t.indent_of_line(start) + indent);
    let mut out = String::from(if k == 0 { "|-" } else { "|" });
    for l in body.split('\n') {
        out.push('\n');
        if !l.is_empty() {
            out.push_str(&pad);
            out.push_str(l);
        }
    }
    Some(out)
}

fn block_text_ok(body: &str) -> bool {
    body.chars().all(|c| c == '\n' || c == '\t' || !is_special(c))
        && body.split('\n').next_back().is_some_and(|l| !l.trim().is_empty())
}

/// Characters that cannot appear raw in a YAML scalar (or that readers treat specially): C0/C1
/// controls, DEL, the byte order mark, and the line and paragraph separators.
pub(super) fn is_special(c: char) -> bool {
    (c as u32) < 0x20
        || c == '\u{7f}'
        || ('\u{80}'..='\u{9f}').contains(&c)
        || c == '\u{feff}'
        || c == '\u{2028}'
        || c == '\u{2029}'
}

/// True when `s` written plain reads back as the same string.
fn plain_ok(s: &str, flow: bool, strtag: bool) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    // One pass over the bytes: controls, tabs and line breaks, `: ` and ` #`.
    let b = s.as_bytes();
    let mut ascii = true;
    for (i, &c) in b.iter().enumerate() {
        match c {
            0..=0x1f | 0x7f => return false,
            b':' if b.get(i + 1) == Some(&b' ') => return false,
            b' ' if b.get(i + 1) == Some(&b'#') => return false,
            0x80.. => ascii = false,
            _ => {}
        }
    }
    if !ascii && s.chars().any(is_special) {
        return false;
    }
    let second = s.chars().nth(1);
    match first {
        '-' | '?' | ':' => match second {
            None | Some(' ') => return false,
            Some(c) if flow && ",[]{}".contains(c) => return false,
            _ => {}
        },
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => return false,
        _ => {}
    }
    if s.ends_with(':') || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}', ':']) {
        return false;
    }
    // As go-yaml v3 writes it: a string that YAML 1.1 readers (Kubernetes, Helm) would take for
    // a boolean or a number is quoted, so `"no"` never comes back as the boolean `no`.
    strtag || resolves_to_str(s) && emit::plain_in_yaml_1_1(s)
}

fn single_ok(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c == '\n' || c == '\r' || is_special(c) && c != '\t')
}

fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Single quotes when they can hold the string, else double quotes.
fn quoted(s: &str) -> String {
    if single_ok(s) && !s.contains('\t') {
        single_quoted(s)
    } else {
        double_quoted(s)
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if is_special(c) => {
                let u = c as u32;
                if u <= 0xff {
                    out.push_str(&format!("\\x{u:02X}"));
                } else {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_safety() {
        assert!(plain_ok("hello", false, false));
        assert!(plain_ok("ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]", false, false));
        assert!(!plain_ok("ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]", true, false));
        assert!(!plain_ok("123", false, false));
        assert!(plain_ok("123", false, true));
        assert!(!plain_ok("true", false, false));
        assert!(!plain_ok("yes", false, false), "a YAML 1.1 boolean");
        assert!(!plain_ok("no", true, false));
        assert!(!plain_ok("1:20", false, false), "a YAML 1.1 base-60 number");
        assert!(plain_ok("yes", false, true), "kept a string by its tag");
        assert!(plain_ok("yesterday", false, false));
        assert!(!plain_ok("a: b", false, false));
        assert!(!plain_ok("a #b", false, false));
        assert!(!plain_ok(" a", false, false));
        assert!(!plain_ok("- a", false, false));
        assert!(plain_ok("-a", false, false));
        assert!(!plain_ok("2024-01-01", false, false));
        assert!(!plain_ok("", false, false));
        assert!(plain_ok("héllo wörld", false, false));
    }

    #[test]
    fn folding_reverses() {
        assert_eq!(folded_lines("a\nb"), vec!["a", "", "b"]);
        assert_eq!(folded_lines("a\n\nb"), vec!["a", "", "", "b"]);
        assert_eq!(folded_lines("a b"), vec!["a b"]);
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(double_quoted("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
    }
}
