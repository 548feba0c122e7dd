//! The format-neutral tree every store reads into and writes from.
//!
//! It mirrors sops's `TreeBranch` closely enough that the cipher, the MAC and the encryption rules
//! see exactly what sops sees: ordered mappings whose items are entries or comments, sequences whose
//! items are nodes or comments, and typed scalars. Null scalars are kept but never walked, as in sops.
//!
//! Every scalar, comment and container may carry a [`Src`]: where it stood in the text it was read
//! from. Stores that keep the user's layout (YAML, JSON, dotenv) use it to rewrite only the bytes of
//! the values they change; a node without a `Src` is new and is written fresh.

use std::fmt;

/// Where a node stood in the source text, so a store can splice its new rendering in place.
///
/// `start..end` is a byte range in the source the tree was loaded from. `style` and `aux` are the
/// loading store's own hints (quote style, block indentation, position of a sequence dash, ...);
/// other stores ignore them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Src {
    pub start: usize,
    pub end: usize,
    pub style: u8,
    pub aux: u32,
}

impl Src {
    /// A span without store hints.
    pub fn new(start: usize, end: usize) -> Self {
        Src { start, end, style: 0, aux: 0 }
    }
}

/// One document of a file: YAML files may hold several, every other format holds one.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Document {
    pub root: Mapping,
    /// The document's byte range in its source, and (for encrypted input) the range of its
    /// `sops` metadata block, which decrypting removes.
    pub layout: Option<DocLayout>,
}

/// Byte ranges of a document and of its metadata block in the source it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DocLayout {
    pub start: usize,
    pub end: usize,
    pub metadata: Option<(usize, usize)>,
}

impl Document {
    /// A document with no source layout, as built by code rather than read from a file.
    pub fn new(root: Mapping) -> Self {
        Document { root, layout: None }
    }
}

/// An ordered mapping. Comments are items in their own right, as in sops, so their position
/// relative to entries decides the comment-regex rules.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Mapping {
    pub items: Vec<MapItem>,
    pub src: Option<Src>,
}

/// An item of a mapping: a key and its value, or a comment line.
#[derive(Clone, Debug, PartialEq)]
pub enum MapItem {
    Entry(Entry),
    Comment(Comment),
}

/// A key (always a string: sops refuses other keys) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Node,
    /// Where the key itself stood (stores that rename or re-emit keys need it).
    pub key_src: Option<Src>,
}

/// A value in the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Map(Mapping),
    Seq(Sequence),
    Scalar(Scalar),
}

/// An ordered sequence; comments inside it are items too.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Sequence {
    pub items: Vec<SeqItem>,
    pub src: Option<Src>,
}

/// An item of a sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum SeqItem {
    Node(Node),
    Comment(Comment),
}

/// A comment: the text after the comment marker, leading space included (`# x` is ` x`).
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub text: String,
    pub src: Option<Src>,
}

/// A typed scalar and where it stood.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub value: Value,
    pub src: Option<Src>,
}

/// The scalar types sops distinguishes; each maps to one `type:` of an ENC value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A UTF-8 string (`type:str`).
    Str(String),
    /// Raw bytes that are not UTF-8 (binary files); encrypted as `type:str` like sops's Go strings.
    Bytes(Vec<u8>),
    /// A timestamp, held as its RFC 3339 text with nanoseconds trimmed (Go's `time.MarshalText`).
    Time(String),
}

impl Value {
    /// Whether two values are the same to sops: same type and value, floats bit for bit (so
    /// `0.0` and `-0.0` differ) or both NaN, and a `str` held as text or as raw bytes compared by
    /// its bytes. Layout keeping, verified writes and `set` all ask this one question.
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (Value::Str(a), Value::Bytes(b)) | (Value::Bytes(b), Value::Str(a)) => a.as_bytes() == b.as_slice(),
            (a, b) => a == b,
        }
    }

    /// The name sops uses for this type in ENC values.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) | Value::Bytes(_) => "str",
            Value::Time(_) => "time",
        }
    }

    /// The string content, if this is a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl Scalar {
    /// A scalar built by code, with no source position.
    pub fn new(value: Value) -> Self {
        Scalar { value, src: None }
    }

    /// A string scalar built by code.
    pub fn str(s: impl Into<String>) -> Self {
        Scalar::new(Value::Str(s.into()))
    }
}

impl Comment {
    /// A comment built by code.
    pub fn new(text: impl Into<String>) -> Self {
        Comment { text: text.into(), src: None }
    }
}

impl Node {
    /// A string scalar node built by code.
    pub fn str(s: impl Into<String>) -> Self {
        Node::Scalar(Scalar::str(s))
    }
}

impl Mapping {
    /// An empty mapping built by code.
    pub fn new() -> Self {
        Mapping::default()
    }

    /// Appends an entry (builder style, for metadata and tests).
    pub fn push(&mut self, key: impl Into<String>, value: Node) {
        self.items.push(MapItem::Entry(Entry { key: key.into(), value, key_src: None }));
    }

    /// The value of the first entry with this key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The value of the first entry with this key, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.items.iter_mut().find_map(|i| match i {
            MapItem::Entry(e) if e.key == key => Some(&mut e.value),
            _ => None,
        })
    }

    /// Removes every entry with this key and returns the first removed value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let mut found = None;
        let mut kept = Vec::with_capacity(self.items.len());
        for item in self.items.drain(..) {
            match item {
                MapItem::Entry(e) if e.key == key => {
                    if found.is_none() {
                        found = Some(e.value);
                    }
                }
                other => kept.push(other),
            }
        }
        self.items = kept;
        found
    }

    /// The entries, skipping comments.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|i| match i {
            MapItem::Entry(e) => Some(e),
            MapItem::Comment(_) => None,
        })
    }
}

impl Sequence {
    /// The nodes, skipping comments.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.items.iter().filter_map(|i| match i {
            SeqItem::Node(n) => Some(n),
            SeqItem::Comment(_) => None,
        })
    }
}

/// A leaf handed to a walk: a non-null scalar or a comment. The walker takes it out of the tree
/// and puts back whatever the visitor returns, so a visitor can turn an encrypted string inside a
/// sequence back into the comment it was (sops 3.11 writes list comments as `- ENC[...,type:comment]`).
#[derive(Clone, Debug, PartialEq)]
pub enum Leaf {
    Scalar(Scalar),
    Comment(Comment),
}

/// What a visitor knows about the leaf it is given, exactly the inputs of sops's `shouldBeEncrypted`.
pub struct LeafCtx<'a> {
    /// Mapping keys from the root down to the leaf; sequence items add nothing.
    pub path: &'a [String],
    /// One level per enclosing mapping or sequence: the comments seen since the last non-comment item.
    pub comments: &'a [Vec<String>],
    pub is_comment: bool,
}

impl LeafCtx<'_> {
    /// The additional authenticated data of this leaf: the path joined with `:`, plus a final `:`.
    pub fn aad(&self) -> String {
        let mut s = String::with_capacity(self.path.iter().map(|p| p.len() + 1).sum::<usize>() + 1);
        for p in self.path {
            s.push_str(p);
            s.push(':');
        }
        if self.path.is_empty() {
            s.push(':');
        }
        s
    }
}

/// Why a walk could not put a leaf back (a visitor turned a mapping value into a comment).
#[derive(Debug, thiserror::Error)]
#[error("a mapping value at {path} decrypted to a comment")]
pub struct MisplacedComment {
    pub path: String,
}

/// Walks every leaf of a mapping in document order, as sops's `walkBranch` does, calling `visit`
/// with the leaf's path and comment stack and storing back what it returns.
pub fn walk_leaves<E, F>(root: &mut Mapping, visit: &mut F) -> Result<(), E>
where
    F: FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf, E>,
    E: From<MisplacedComment>,
{
    let mut walker = Walker { path: Vec::new(), stack: Vec::new() };
    walker.branch(root, visit)
}

struct Walker {
    path: Vec<String>,
    stack: Vec<Vec<String>>,
}

impl Walker {
    fn visit<E, F>(&mut self, leaf: Leaf, is_comment: bool, visit: &mut F) -> Result<Leaf, E>
    where
        F: FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf, E>,
    {
        let ctx = LeafCtx { path: &self.path, comments: &self.stack, is_comment };
        visit(&ctx, leaf)
    }

    fn branch<E, F>(&mut self, map: &mut Mapping, visit: &mut F) -> Result<(), E>
    where
        F: FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf, E>,
        E: From<MisplacedComment>,
    {
        self.stack.push(Vec::new());
        for item in map.items.iter_mut() {
            match item {
                MapItem::Comment(c) => {
                    self.top().push(c.text.clone());
                    let taken = std::mem::replace(c, Comment::new(String::new()));
                    *item = match self.visit(Leaf::Comment(taken), true, visit)? {
                        Leaf::Comment(c) => MapItem::Comment(c),
                        // A comment that became a string stays a comment, as in sops.
                        Leaf::Scalar(Scalar { value: Value::Str(s), src }) => {
                            MapItem::Comment(Comment { text: s, src })
                        }
                        Leaf::Scalar(_) => MapItem::Comment(Comment::new(String::new())),
                    };
                }
                MapItem::Entry(entry) => {
                    self.path.push(std::mem::take(&mut entry.key));
                    let res = self.node(&mut entry.value, visit);
                    entry.key = self.path.pop().unwrap_or_default();
                    res?;
                    self.top().clear();
                }
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn seq<E, F>(&mut self, seq: &mut Sequence, visit: &mut F) -> Result<(), E>
    where
        F: FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf, E>,
        E: From<MisplacedComment>,
    {
        self.stack.push(Vec::new());
        for item in seq.items.iter_mut() {
            match item {
                SeqItem::Comment(c) => {
                    self.top().push(c.text.clone());
                    let taken = std::mem::replace(c, Comment::new(String::new()));
                    *item = match self.visit(Leaf::Comment(taken), true, visit)? {
                        Leaf::Comment(c) => SeqItem::Comment(c),
                        Leaf::Scalar(s) => SeqItem::Node(Node::Scalar(s)),
                    };
                }
                SeqItem::Node(Node::Scalar(s)) => {
                    if !matches!(s.value, Value::Null) {
                        let taken = std::mem::replace(s, Scalar::new(Value::Null));
                        *item = match self.visit(Leaf::Scalar(taken), false, visit)? {
                            Leaf::Scalar(s) => SeqItem::Node(Node::Scalar(s)),
                            Leaf::Comment(c) => SeqItem::Comment(c),
                        };
                    }
                    self.top().clear();
                }
                SeqItem::Node(node) => {
                    self.node(node, visit)?;
                    self.top().clear();
                }
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn node<E, F>(&mut self, node: &mut Node, visit: &mut F) -> Result<(), E>
    where
        F: FnMut(&LeafCtx<'_>, Leaf) -> Result<Leaf, E>,
        E: From<MisplacedComment>,
    {
        match node {
            Node::Map(m) => self.branch(m, visit),
            Node::Seq(s) => self.seq(s, visit),
            Node::Scalar(s) => {
                if matches!(s.value, Value::Null) {
                    return Ok(());
                }
                let taken = std::mem::replace(s, Scalar::new(Value::Null));
                match self.visit(Leaf::Scalar(taken), false, visit)? {
                    Leaf::Scalar(new) => {
                        *s = new;
                        Ok(())
                    }
                    Leaf::Comment(_) => Err(MisplacedComment { path: self.path.join(":") }.into()),
                }
            }
        }
    }

    fn top(&mut self) -> &mut Vec<String> {
        if self.stack.is_empty() {
            self.stack.push(Vec::new());
        }
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }
}

/// True when two nodes hold the same data, ignoring where they stood in a source.
pub fn same_content(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Scalar(x), Node::Scalar(y)) => x.value.same(&y.value),
        (Node::Map(x), Node::Map(y)) => same_mapping_content(x, y),
        (Node::Seq(x), Node::Seq(y)) => {
            x.items.len() == y.items.len()
                && x.items.iter().zip(&y.items).all(|pair| match pair {
                    (SeqItem::Node(n), SeqItem::Node(m)) => same_content(n, m),
                    (SeqItem::Comment(c), SeqItem::Comment(d)) => c.text == d.text,
                    _ => false,
                })
        }
        _ => false,
    }
}

/// [`same_content`] for two mappings (a document's root, say), without wrapping them in nodes.
pub fn same_mapping_content(x: &Mapping, y: &Mapping) -> bool {
    x.items.len() == y.items.len()
        && x.items.iter().zip(&y.items).all(|pair| match pair {
            (MapItem::Entry(e), MapItem::Entry(f)) => e.key == f.key && same_content(&e.value, &f.value),
            (MapItem::Comment(c), MapItem::Comment(d)) => c.text == d.text,
            _ => false,
        })
}

impl fmt::Display for Value {
    /// A short description for messages: the type only, never the value (it may be a secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_same_bit_for_bit_or_both_nan() {
        assert!(Value::Float(f64::NAN).same(&Value::Float(-f64::NAN)));
        assert!(!Value::Float(0.0).same(&Value::Float(-0.0)));
        assert!(!Value::Float(0.1 + 0.2).same(&Value::Float(0.3)));
        assert!(Value::Str("é".into()).same(&Value::Bytes("é".as_bytes().to_vec())));
        assert!(!Value::Int(1).same(&Value::Float(1.0)));
    }

    fn sample() -> Mapping {
        // a: 1 ; # c1 ; b: {x: [s, # c2, t, {k: v}]} ; n: null
        let mut inner_map = Mapping::new();
        inner_map.push("k", Node::str("v"));
        let seq = Sequence {
            items: vec![
                SeqItem::Node(Node::str("s")),
                SeqItem::Comment(Comment::new(" c2")),
                SeqItem::Node(Node::str("t")),
                SeqItem::Node(Node::Map(inner_map)),
            ],
            src: None,
        };
        let mut b = Mapping::new();
        b.push("x", Node::Seq(seq));
        let mut root = Mapping::new();
        root.push("a", Node::Scalar(Scalar::new(Value::Int(1))));
        root.items.push(MapItem::Comment(Comment::new(" c1")));
        root.push("b", Node::Map(b));
        root.push("n", Node::Scalar(Scalar::new(Value::Null)));
        root
    }

    #[test]
    fn walk_reports_sops_paths_and_comment_stacks() {
        let mut root = sample();
        let mut seen = Vec::new();
        walk_leaves::<MisplacedComment, _>(&mut root, &mut |ctx, leaf| {
            let what = match &leaf {
                Leaf::Scalar(s) => format!("{:?}", s.value),
                Leaf::Comment(c) => format!("#{}", c.text),
            };
            seen.push((ctx.aad(), what, ctx.comments.to_vec(), ctx.is_comment));
            Ok(leaf)
        })
        .unwrap();
        let aads: Vec<_> = seen.iter().map(|s| s.0.as_str()).collect();
        // Null is never visited; list items use the owning key's path; comments the parent's.
        assert_eq!(aads, vec!["a:", ":", "b:x:", "b:x:", "b:x:", "b:x:k:"]);
        // The top-level comment is on the stack when `b`'s children are visited, and the list
        // comment when `t` is, but not when the item after `t` is.
        assert_eq!(seen[2].2, vec![vec![" c1".to_string()], vec![], vec![]]);
        assert_eq!(seen[4].2, vec![vec![" c1".to_string()], vec![], vec![" c2".to_string()]]);
        assert_eq!(seen[5].2[2], Vec::<String>::new());
        assert!(seen[1].3 && seen[3].3 && !seen[0].3);
    }

    #[test]
    fn walk_can_turn_sequence_strings_into_comments() {
        let mut root = sample();
        walk_leaves::<MisplacedComment, _>(&mut root, &mut |_, leaf| match leaf {
            Leaf::Scalar(Scalar { value: Value::Str(s), .. }) if s == "t" => Ok(Leaf::Comment(Comment::new(" was t"))),
            other => Ok(other),
        })
        .unwrap();
        let Some(Node::Map(b)) = root.get("b") else { panic!("b") };
        let Some(Node::Seq(x)) = b.get("x") else { panic!("x") };
        assert!(matches!(&x.items[2], SeqItem::Comment(c) if c.text == " was t"));
    }

    #[test]
    fn a_mapping_value_cannot_become_a_comment() {
        let mut root = sample();
        let err = walk_leaves::<MisplacedComment, _>(&mut root, &mut |_, leaf| match leaf {
            Leaf::Scalar(Scalar { value: Value::Int(_), .. }) => Ok(Leaf::Comment(Comment::new("x"))),
            other => Ok(other),
        })
        .unwrap_err();
        assert_eq!(err.path, "a");
    }
}
