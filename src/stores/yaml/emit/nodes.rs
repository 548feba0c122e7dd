//! Stage 1 of the YAML emitter: the tree as go-yaml `Node`s, the way sops builds them (comments
//! placed as `appendTreeBranch`/`appendSequence` place them, each scalar's style as `Node.Encode`
//! leaves it).

use base64::Engine as _;

use super::emitter::{analyze_scalar, select_style};
use super::plain_in_yaml_1_1;
use crate::tree::{MapItem, Mapping, Node, SeqItem, Sequence, Value};

/// A go-yaml `Node` as sops builds it: only what the emitter looks at.
#[derive(Debug)]
pub(super) struct YNode {
    pub(super) kind: YKind,
    pub(super) head: Vec<u8>,
    pub(super) foot: Vec<u8>,
}

#[derive(Debug)]
pub(super) enum YKind {
    Map(Vec<(YNode, YNode)>),
    Seq(Vec<YNode>),
    Scalar(YScalar),
}

/// A scalar as `Node.Encode` leaves it: its text, the explicit tag it keeps (`!!binary` for
/// invalid UTF-8, `!!merge` for a plain `<<`), and the style the root-context emission chose
/// (which the parse back records).
#[derive(Debug)]
pub(super) struct YScalar {
    pub(super) value: Vec<u8>,
    pub(super) tag: Option<&'static str>,
    pub(super) style: Style,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl YNode {
    pub(super) fn new(kind: YKind) -> Self {
        YNode { kind, head: Vec::new(), foot: Vec::new() }
    }
}

/// sops's `addCommentsHead`: the comments go before any head comment already there.
pub(super) fn add_head(node: &mut YNode, comments: &mut Vec<&str>) {
    if comments.is_empty() {
        return;
    }
    let mut c = join_comments(comments);
    if !node.head.is_empty() {
        c.push(b'\n');
        c.extend_from_slice(&node.head);
    }
    node.head = c;
    comments.clear();
}

/// sops's `addCommentsFoot`: the comments go after any foot comment already there.
pub(super) fn add_foot(node: &mut YNode, comments: &mut Vec<&str>) {
    if comments.is_empty() {
        return;
    }
    let c = join_comments(comments);
    if !node.foot.is_empty() {
        node.foot.push(b'\n');
    }
    node.foot.extend_from_slice(&c);
    comments.clear();
}

pub(super) fn join_comments(comments: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in comments.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.push(b'#');
        out.extend_from_slice(c.as_bytes());
    }
    out
}

/// sops's `appendTreeBranch`: comments before the first entry become the mapping's head comment,
/// comments before a later entry its key's head comment, trailing ones the last key's foot comment.
pub(super) fn mapping_node(m: &Mapping) -> YNode {
    let mut node = YNode::new(YKind::Map(Vec::new()));
    let mut pairs: Vec<(YNode, YNode)> = Vec::new();
    let mut comments: Vec<&str> = Vec::new();
    let mut beginning = true;
    for item in &m.items {
        match item {
            MapItem::Comment(c) => comments.push(&c.text),
            MapItem::Entry(e) => {
                if beginning {
                    add_head(&mut node, &mut comments);
                    beginning = false;
                }
                let mut key = YNode::new(YKind::Scalar(string_scalar(&e.key)));
                add_head(&mut key, &mut comments);
                pairs.push((key, value_node(&e.value)));
            }
        }
    }
    if !comments.is_empty() {
        match pairs.last_mut() {
            Some((key, _)) => add_foot(key, &mut comments),
            None => add_head(&mut node, &mut comments),
        }
    }
    node.kind = YKind::Map(pairs);
    node
}

/// sops's `appendSequence`: the same placement rules, with the items in place of the keys.
pub(super) fn sequence_node(s: &Sequence) -> YNode {
    let mut node = YNode::new(YKind::Seq(Vec::new()));
    let mut items: Vec<YNode> = Vec::new();
    let mut comments: Vec<&str> = Vec::new();
    let mut beginning = true;
    for item in &s.items {
        match item {
            SeqItem::Comment(c) => comments.push(&c.text),
            SeqItem::Node(n) => {
                if beginning {
                    add_head(&mut node, &mut comments);
                    beginning = false;
                }
                let mut child = value_node(n);
                add_head(&mut child, &mut comments);
                items.push(child);
            }
        }
    }
    if !comments.is_empty() {
        match items.last_mut() {
            Some(last) => add_foot(last, &mut comments),
            None => add_head(&mut node, &mut comments),
        }
    }
    node.kind = YKind::Seq(items);
    node
}

pub(super) fn value_node(n: &Node) -> YNode {
    match n {
        Node::Map(m) => mapping_node(m),
        Node::Seq(s) => sequence_node(s),
        Node::Scalar(s) => YNode::new(YKind::Scalar(value_scalar(&s.value))),
    }
}

/// A typed value as `Node.Encode` turns it into a scalar node.
pub(super) fn value_scalar(v: &Value) -> YScalar {
    let plain = |s: String| YScalar { value: s.into_bytes(), tag: None, style: Style::Plain };
    match v {
        Value::Null => plain("null".to_string()),
        Value::Bool(b) => plain(b.to_string()),
        Value::Int(i) => plain(i.to_string()),
        // go-yaml writes 1.0 as `1`, which reads back as an int (and verified writes refuse it):
        // an integral float keeps a `.0`.
        Value::Float(f) => plain(crate::stores::yaml::resolve::float_text(*f)),
        Value::Time(t) => plain(t.clone()),
        Value::Str(s) => string_scalar(s),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => string_scalar(s),
            Err(_) => binary_scalar(b),
        },
    }
}

/// go-yaml's `stringv` (the requested style) followed by the root-context style selection of the
/// emitter, which is what the parse back inside `Node.Encode` records.
pub(super) fn string_scalar(s: &str) -> YScalar {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if crate::stores::yaml::resolve::resolves_to_str(s) && plain_in_yaml_1_1(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze_scalar(s.as_bytes());
    let mut style = select_style(requested, &a, false, s.is_empty());
    // sops 3.11 turns such a string into `null`: the literal block go-yaml writes for it starts
    // with a tab where the parse back inside `Node.Encode` wants indentation, the error is ignored
    // and the empty node is written as null. Losing the value is not an option here, so it is
    // written double-quoted, as go-yaml does whenever a block scalar is not possible.
    if style == Style::Literal && s.starts_with('\t') {
        style = Style::Double;
    }
    // The parse back tags a plain `<<` as a merge key, and the tag is then written out.
    let tag = (style == Style::Plain && s == "<<").then_some("merge");
    YScalar { value: s.as_bytes().to_vec(), tag, style }
}

/// Invalid UTF-8: go-yaml writes `!!binary` base64 in lines of 70 characters (a literal block
/// when there is more than one line).
pub(super) fn binary_scalar(b: &[u8]) -> YScalar {
    let enc = base64::engine::general_purpose::STANDARD.encode(b);
    const LINE: usize = 70;
    let multi = enc.len() / LINE + 1 > 1;
    let mut value = Vec::with_capacity(enc.len() + enc.len() / LINE + 1);
    for chunk in enc.as_bytes().chunks(LINE) {
        value.extend_from_slice(chunk);
        if multi {
            value.push(b'\n');
        }
    }
    let style = if multi { Style::Literal } else { Style::Plain };
    YScalar { value, tag: Some("binary"), style }
}
