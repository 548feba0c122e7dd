//! Verified writes: no command writes bytes it cannot read back.
//!
//! Every operation that produces a file (or standard output) hands its bytes to this module
//! before returning them, and gets a [`Verified`] back only when the bytes, read again in memory
//! with the same store that will read them later, give the intended tree: the same documents,
//! keys, order, values and types, and (for encrypted output) the same `sops` metadata, every
//! encrypted value decrypting under the file's data key and the MAC verifying. The command line
//! writes only [`Verified`] values and only this module builds them, so no command can skip the
//! check. A mismatch is [`Error::VerifyFailed`]: nothing is written, and the message names the key
//! path, never a value.
//!
//! What "the same" means depends on what the output format can hold ([`Fidelity`]): JSON and
//! binary files cannot hold comments, INI keeps at most one comment per key, dotenv and INI hold
//! text only (a converted number reads back as its text), JSON has no timestamp type. Those
//! losses are the format's, not bugs, and are the only differences accepted.
//!
//! The one-pass paths ([`crate::stores::Streamed`]) build no tree, so they keep a [`LeafLog`]: a
//! 64-bit hash of every leaf (path, kind, type, value) in walk order. Their output is read back
//! with the same one-pass reader and every leaf must hash the same, with the same metadata and
//! (encrypting) a verifying MAC; that costs one more scan of the output, not a tree.

use std::hash::{Hash, Hasher};

use crate::cipher::{Cipher, DataKey};
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stores::{Format, Store};
use crate::tree::{Document, Leaf, LeafCtx, MapItem, Mapping, Node, Scalar, SeqItem, Sequence, Value};

/// Output bytes that were read back and found to hold the intended tree. Only this module makes
/// them, so holding one proves the check ran; the command line writes nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified(Vec<u8>);

impl Verified {
    /// The bytes, to write.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// A string value printed raw (`decrypt --extract` of a string): the bytes are the value
    /// itself, with no format to read them back with.
    pub(crate) fn raw_value(bytes: Vec<u8>) -> Verified {
        Verified(bytes)
    }
}

impl std::ops::Deref for Verified {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Verified {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// How comments must read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comments {
    /// Each comment in its place (the layout-keeping stores writing their own format).
    Placed,
    /// The same comment texts in the same order, wherever they sit: a format writing another
    /// format's tree fresh may attach a comment to a neighbouring level.
    InOrder,
    /// Not compared: the format cannot hold them (JSON, binary) or merges them (INI keeps one
    /// comment per key and drops comments outside sections).
    Ignored,
}

/// How scalars must read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalars {
    /// Same type and value (YAML).
    Typed,
    /// As `Typed`, but a timestamp may read back as its text (JSON has no timestamp type), and
    /// an integral float as the int of the same value (JSON writes 1.0 as `1`, as Go's encoder
    /// and so sops do; the MAC, over the value's text, is the same).
    Json,
    /// A value that is not a string may read back as its text (dotenv, INI hold text only).
    Text,
}

/// What an output format can hold, so the comparison accepts only the format's own losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fidelity {
    pub comments: Comments,
    pub scalars: Scalars,
}

impl Fidelity {
    /// Exact comparison (used by tests, and for a store reading its own layout-kept output).
    pub const EXACT: Fidelity = Fidelity { comments: Comments::Placed, scalars: Scalars::Typed };

    /// What writing in `out` can keep; `converted` when the tree came from another format (a
    /// fresh rendering, not a splice into the file's own text).
    pub fn of(out: Format, converted: bool) -> Fidelity {
        let comments = match out {
            Format::Dotenv if !converted => Comments::Placed,
            // A YAML comment line between the end of a nested block and the next key belongs to
            // whichever level its reader gives it: the text keeps its order, not its level (sops
            // itself moves such comments when it writes a file).
            Format::Yaml | Format::Dotenv => Comments::InOrder,
            Format::Json | Format::Binary | Format::Ini => Comments::Ignored,
        };
        let scalars = match out {
            Format::Yaml => Scalars::Typed,
            Format::Json | Format::Binary => Scalars::Json,
            Format::Dotenv | Format::Ini => Scalars::Text,
        };
        Fidelity { comments, scalars }
    }
}

/// A fault for the command-line tests, in debug builds only: `KVSOPS_DEBUG_CORRUPT_OUTPUT=FROM=>TO`
/// replaces the first `FROM` in the output before it is read back, as a store bug would, so a
/// test can watch the whole command refuse to write. Release builds have no such hook.
#[cfg(debug_assertions)]
fn injected_fault(mut out: Vec<u8>) -> Vec<u8> {
    let Some(spec) = std::env::var_os("KVSOPS_DEBUG_CORRUPT_OUTPUT") else {
        return out;
    };
    let spec = spec.to_string_lossy().into_owned();
    if let Some((from, to)) = spec.split_once("=>") {
        if let Some(at) = out.windows(from.len().max(1)).position(|w| w == from.as_bytes()) {
            out.splice(at..at + from.len(), to.bytes());
        }
    }
    out
}

#[cfg(not(debug_assertions))]
fn injected_fault(out: Vec<u8>) -> Vec<u8> {
    out
}

/// Where the first difference is and what it is (types only, never values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The key path, `["a"]["b"][0]`; empty for the top level or the metadata.
    pub key_path: String,
    pub detail: String,
    /// Not a bug but what the output format cannot hold: said as such, without "report it".
    pub format_limit: bool,
}

impl Mismatch {
    fn new(path: &[Step<'_>], detail: impl Into<String>) -> Self {
        Mismatch { key_path: render_path(path), detail: detail.into(), format_limit: false }
    }

    fn into_error(self) -> Error {
        if self.format_limit {
            return Error::OutputCannotHold { key_path: self.key_path, detail: self.detail };
        }
        Error::VerifyFailed { key_path: self.key_path, detail: self.detail }
    }
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Doc(usize),
    Key(&'a str),
    Index(usize),
}

fn render_path(path: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            // The document number only matters when there are several; shown as sops's
            // `--extract` cannot address documents, in words.
            Step::Doc(0) => {}
            Step::Doc(i) => s.push_str(&format!("(document {}) ", i + 1)),
            Step::Key(k) => s.push_str(&format!("[{k:?}]")),
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s.trim_end().to_string()
}

/// Compares two lists of documents: `read` (what the output gave) against `intended`.
pub fn compare_documents(
    read: &[Document],
    intended: &[Document],
    fidelity: Fidelity,
) -> std::result::Result<(), Mismatch> {
    if read.len() != intended.len() {
        return Err(Mismatch::new(
            &[],
            format!("the output holds {} document(s), {} intended", read.len(), intended.len()),
        ));
    }
    for (i, (r, w)) in read.iter().zip(intended).enumerate() {
        let mut path = vec![Step::Doc(i)];
        compare_map(&r.root, &w.root, fidelity, &mut path)?;
        if fidelity.comments == Comments::InOrder {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            comments_of_map(&r.root, &mut a);
            comments_of_map(&w.root, &mut b);
            if a != b {
                return Err(Mismatch::new(
                    &path,
                    format!("the comments differ ({} read back, {} intended)", a.len(), b.len()),
                ));
            }
        }
    }
    Ok(())
}

fn comments_of_map<'a>(m: &'a Mapping, out: &mut Vec<&'a str>) {
    for item in &m.items {
        match item {
            MapItem::Comment(c) => out.push(&c.text),
            MapItem::Entry(e) => comments_of_node(&e.value, out),
        }
    }
}

fn comments_of_node<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
    match n {
        Node::Map(m) => comments_of_map(m, out),
        Node::Seq(s) => {
            for item in &s.items {
                match item {
                    SeqItem::Comment(c) => out.push(&c.text),
                    SeqItem::Node(n) => comments_of_node(n, out),
                }
            }
        }
        Node::Scalar(_) => {}
    }
}

fn kind(n: &Node) -> &'static str {
    match n {
        Node::Map(_) => "mapping",
        Node::Seq(_) => "sequence",
        Node::Scalar(s) => s.value.type_name(),
    }
}

fn compare_node<'a>(
    read: &'a Node,
    intended: &'a Node,
    f: Fidelity,
    path: &mut Vec<Step<'a>>,
) -> std::result::Result<(), Mismatch> {
    match (read, intended) {
        (Node::Map(r), Node::Map(w)) => compare_map(r, w, f, path),
        (Node::Seq(r), Node::Seq(w)) => compare_seq(r, w, f, path),
        (Node::Scalar(r), Node::Scalar(w)) => compare_scalar(r, w, f, path),
        (r, w) => Err(Mismatch::new(path, format!("a {} reads back as a {}", kind(w), kind(r)))),
    }
}

/// The items of a container that the comparison looks at: comments drop out unless placed.
fn keep_map_item(item: &MapItem, f: Fidelity) -> bool {
    f.comments == Comments::Placed || matches!(item, MapItem::Entry(_))
}

fn compare_map<'a>(
    read: &'a Mapping,
    intended: &'a Mapping,
    f: Fidelity,
    path: &mut Vec<Step<'a>>,
) -> std::result::Result<(), Mismatch> {
    let mut r = read.items.iter().filter(|i| keep_map_item(i, f));
    let mut w = intended.items.iter().filter(|i| keep_map_item(i, f));
    loop {
        match (r.next(), w.next()) {
            (None, None) => return Ok(()),
            (Some(MapItem::Entry(e)), None) => {
                path.push(Step::Key(&e.key));
                return Err(Mismatch::new(path, "a key that was not intended reads back"));
            }
            (Some(MapItem::Comment(_)), None) => {
                return Err(Mismatch::new(path, "a comment that was not intended reads back"))
            }
            (None, Some(MapItem::Entry(e))) => {
                path.push(Step::Key(&e.key));
                return Err(Mismatch::new(path, "the key is missing from the output"));
            }
            (None, Some(MapItem::Comment(_))) => {
                return Err(Mismatch::new(path, "a comment is missing from the output"))
            }
            (Some(MapItem::Entry(a)), Some(MapItem::Entry(b))) => {
                if a.key != b.key {
                    path.push(Step::Key(&b.key));
                    let detail = if intended.get(&a.key).is_some() {
                        "the keys read back in another order".to_string()
                    } else {
                        "another key reads back in its place".to_string()
                    };
                    return Err(Mismatch::new(path, detail));
                }
                path.push(Step::Key(&b.key));
                compare_node(&a.value, &b.value, f, path)?;
                path.pop();
            }
            (Some(MapItem::Comment(a)), Some(MapItem::Comment(b))) => {
                if a.text != b.text {
                    return Err(Mismatch::new(path, "a comment reads back changed"));
                }
            }
            (Some(MapItem::Comment(_)), Some(MapItem::Entry(b))) => {
                path.push(Step::Key(&b.key));
                return Err(Mismatch::new(path, "a comment reads back where this key was intended"));
            }
            (Some(MapItem::Entry(a)), Some(MapItem::Comment(_))) => {
                path.push(Step::Key(&a.key));
                return Err(Mismatch::new(path, "the key reads back where a comment was intended"));
            }
        }
    }
}

fn compare_seq<'a>(
    read: &'a Sequence,
    intended: &'a Sequence,
    f: Fidelity,
    path: &mut Vec<Step<'a>>,
) -> std::result::Result<(), Mismatch> {
    let keep = |i: &&SeqItem| f.comments == Comments::Placed || matches!(i, SeqItem::Node(_));
    let r: Vec<&SeqItem> = read.items.iter().filter(keep).collect();
    let w: Vec<&SeqItem> = intended.items.iter().filter(keep).collect();
    if r.len() != w.len() {
        return Err(Mismatch::new(path, format!("the sequence has {} item(s), {} intended", r.len(), w.len())));
    }
    for (i, (a, b)) in r.into_iter().zip(w).enumerate() {
        path.push(Step::Index(i));
        match (a, b) {
            (SeqItem::Node(a), SeqItem::Node(b)) => compare_node(a, b, f, path)?,
            (SeqItem::Comment(a), SeqItem::Comment(b)) if a.text == b.text => {}
            (SeqItem::Comment(_), SeqItem::Comment(_)) => {
                return Err(Mismatch::new(path, "a comment reads back changed"))
            }
            (SeqItem::Comment(_), SeqItem::Node(b)) => {
                return Err(Mismatch::new(path, format!("a {} reads back as a comment", kind(b))))
            }
            (SeqItem::Node(a), SeqItem::Comment(_)) => {
                return Err(Mismatch::new(path, format!("a comment reads back as a {}", kind(a))))
            }
        }
        path.pop();
    }
    Ok(())
}

fn compare_scalar(
    read: &Scalar,
    intended: &Scalar,
    f: Fidelity,
    path: &[Step<'_>],
) -> std::result::Result<(), Mismatch> {
    let (r, w) = (&read.value, &intended.value);
    if r.same(w) {
        return Ok(());
    }
    let lossy_ok = match (f.scalars, r, w) {
        (Scalars::Json, Value::Str(s), Value::Time(t)) => s == t,
        (Scalars::Json, Value::Int(i), Value::Float(f)) => {
            f.fract() == 0.0 && (*i as f64) == *f && crate::cipher::value_bytes(r) == crate::cipher::value_bytes(w)
        }
        // dotenv and INI write every value as text (sops's ValToString) and read text back.
        (Scalars::Text, Value::Str(s), other) if !matches!(other, Value::Str(_) | Value::Bytes(_)) => {
            s.as_bytes() == &*crate::gofmt::val_to_string(other)
        }
        _ => false,
    };
    if lossy_ok {
        return Ok(());
    }
    if let (Value::Bytes(_), false) = (w, f.scalars == Scalars::Typed) {
        // A `!!binary` value that is not UTF-8: JSON, dotenv and INI hold only text (sops writes
        // U+FFFD in place of the bytes it cannot hold, and so loses them).
        let mut m = Mismatch::new(path, "it is binary data (not UTF-8), which this output format cannot hold (sops would write U+FFFD in place of its bytes); decrypt to YAML");
        m.format_limit = true;
        return Err(m);
    }
    let detail = if r.type_name() == w.type_name() && std::mem::discriminant(r) == std::mem::discriminant(w) {
        format!("the {} value reads back changed", w.type_name())
    } else {
        format!("a {} value reads back as a {}", w.type_name(), r.type_name())
    };
    Err(Mismatch::new(path, detail))
}

/// Compares documents already read back (by a caller that needed them anyway, e.g. the layout
/// of an edit's temporary file) with the intended ones.
pub fn same_documents(read: &[Document], intended: &[Document], fidelity: Fidelity) -> Result<()> {
    compare_documents(read, intended, fidelity).map_err(Mismatch::into_error)
}

/// Checks plaintext output: `store` reads `out` back to `intended`.
pub fn plaintext(out: Vec<u8>, store: &dyn Store, intended: &[Document], fidelity: Fidelity) -> Result<Verified> {
    let out = injected_fault(out);
    let mut read = store.read_back_plain(&out).map_err(|e| unreadable(&e))?;
    drop_implied_ini_default(store.format(), &mut read, intended);
    compare_documents(&read, intended, fidelity).map_err(Mismatch::into_error)?;
    Ok(Verified(out))
}

/// An INI file always has its `DEFAULT` section (as ini.v1 reads it, and so sops): written from
/// a tree without one (an empty dotenv file converted to INI), it reads back with an empty one.
/// That is the format's, not a difference.
fn drop_implied_ini_default(format: Format, read: &mut [Document], intended: &[Document]) {
    if format != Format::Ini {
        return;
    }
    for (r, w) in read.iter_mut().zip(intended) {
        let implied = matches!(r.root.items.first(), Some(MapItem::Entry(e))
            if e.key == crate::stores::ini::DEFAULT_SECTION && matches!(&e.value, Node::Map(m) if m.items.is_empty()));
        if implied && w.root.get(crate::stores::ini::DEFAULT_SECTION).is_none() {
            r.root.items.remove(0);
        }
    }
}

/// What an encrypted output must read back to.
pub struct EncryptedIntent<'a> {
    /// The plaintext documents that were encrypted.
    pub plaintext: &'a [Document],
    /// The metadata written, MAC sealed.
    pub metadata: &'a Metadata,
    /// The file's data key (already in memory; no key service is asked again).
    pub key: &'a DataKey,
    pub fidelity: Fidelity,
}

/// Checks encrypted output: `store` reads `out` back to the same metadata, every value that the
/// file's rule says is encrypted decrypts under the data key, the MAC verifies, and the
/// decrypted documents are the intended plaintext.
pub fn encrypted(out: Vec<u8>, store: &dyn Store, intent: &EncryptedIntent<'_>) -> Result<Verified> {
    let out = injected_fault(out);
    let file = store.read_back_encrypted(&out).map_err(|e| unreadable(&e))?;
    compare_metadata(&file.metadata, intent.metadata, store.format())?;
    let mut documents = file.documents;
    drop_implied_ini_default(store.format(), &mut documents, intent.plaintext);
    let mut cipher = Cipher::without_iv_reuse(intent.key.clone());
    let computed = super::decrypt_documents(&mut documents, &file.metadata, &mut cipher).map_err(|e| unreadable(&e))?;
    // The trees first: a difference there names its key path, the MAC only says "somewhere".
    compare_documents(&documents, intent.plaintext, intent.fidelity).map_err(Mismatch::into_error)?;
    super::verify_mac(&file.metadata, &mut cipher, &computed).map_err(|_| Error::VerifyFailed {
        key_path: String::new(),
        detail: "the MAC of the output does not verify".into(),
    })?;
    Ok(Verified(out))
}

/// Checks encrypted output against the encrypted documents it was written from: the same
/// metadata (MAC included) and the same documents, ENC strings included. Nothing is decrypted,
/// and nothing needs to be: an ENC string that reads back identical, at the same key path,
/// decrypts to what was encrypted into it (AES-GCM under one data key is a function of the IV,
/// the AAD, which is that path, and the plaintext, all recorded in the string and its place), and
/// the MAC is itself such a string. So encrypt checks its output this way, at the cost of one
/// read; updatekeys and groups, which carry values over still encrypted and (as sops) do not
/// check the MAC, too.
pub fn encrypted_as_is(
    out: Vec<u8>,
    store: &dyn Store,
    documents: &[Document],
    metadata: &Metadata,
    fidelity: Fidelity,
) -> Result<Verified> {
    let out = injected_fault(out);
    let mut file = store.read_back_encrypted(&out).map_err(|e| unreadable(&e))?;
    compare_metadata(&file.metadata, metadata, store.format())?;
    drop_implied_ini_default(store.format(), &mut file.documents, documents);
    compare_documents(&file.documents, documents, fidelity).map_err(Mismatch::into_error)?;
    Ok(Verified(out))
}

/// The metadata read back against the metadata written. The rule compares by effect: no rule
/// is written as sops's default suffix and reads back as it. The binary store records no rule
/// and no `mac_only_encrypted` (as sops 3.11), so for binary output those are not compared
/// ([`Format::records_rule`]).
fn compare_metadata(read: &Metadata, intended: &Metadata, out: Format) -> Result<()> {
    let records_rule = out.records_rule();
    let field = if !same_key_groups(&read.key_groups, &intended.key_groups) {
        "set of master keys"
    } else if read.shamir_threshold != intended.shamir_threshold {
        "shamir_threshold"
    } else if read.lastmodified != intended.lastmodified {
        "lastmodified"
    } else if read.mac != intended.mac {
        "mac"
    } else if records_rule && read.effective_rule() != intended.effective_rule() {
        "encryption rule"
    } else if records_rule && read.mac_only_encrypted != intended.mac_only_encrypted {
        "mac_only_encrypted"
    } else if read.version != intended.version {
        "version"
    } else {
        return Ok(());
    };
    Err(Error::VerifyFailed {
        key_path: "[\"sops\"]".into(),
        detail: format!("the sops metadata reads back with another {field}"),
    })
}

/// Key groups compare in order, the keys of a group as a set: the metadata lists a group's keys
/// by type (`azure_kv` before `age`, as sops), whatever order they were given in.
fn same_key_groups(read: &[crate::keys::KeyGroup], intended: &[crate::keys::KeyGroup]) -> bool {
    read.len() == intended.len()
        && read
            .iter()
            .zip(intended)
            .all(|(r, w)| r.len() == w.len() && r.iter().all(|k| w.contains(k)) && w.iter().all(|k| r.contains(k)))
}

/// The output does not even parse or decrypt: say why without the reader's text, which may quote
/// the output (and so a value).
fn unreadable(e: &Error) -> Error {
    let what = match e {
        Error::Parse { format, .. } => format!("it does not parse as {format}"),
        Error::DecryptValue { path, .. } => {
            return Error::VerifyFailed { key_path: path.clone(), detail: "the value does not decrypt".into() }
        }
        Error::MetadataNotFound => "its sops metadata is missing".to_string(),
        Error::InvalidMetadata(_) => "its sops metadata is invalid".to_string(),
        other => format!("it cannot be read back (exit code {})", other.exit_code()),
    };
    Error::VerifyFailed { key_path: String::new(), detail: what }
}

/// The leaves of a one-pass rewrite, for checking its output without a tree: one 64-bit hash per
/// leaf (path, comment or scalar, type, value bytes) in walk order. A chance collision is one in
/// 2^64 per leaf; this is a check against bugs, not against an adversary (the MAC is that).
pub struct LeafLog {
    hashes: Vec<u64>,
    scalars: Scalars,
}

fn leaf_hash(ctx: &LeafCtx<'_>, leaf: &Leaf, scalars: Scalars) -> u64 {
    // foldhash (quality variant, fixed seed): a few times faster than SipHash on the long ENC
    // strings of a large file, and as good a check against bugs.
    let mut h = std::hash::BuildHasher::build_hasher(&foldhash::quality::FixedState::with_seed(0x6b76_736f_7073));
    ctx.path.hash(&mut h);
    match leaf {
        Leaf::Comment(c) => {
            0u8.hash(&mut h);
            c.text.hash(&mut h);
        }
        Leaf::Scalar(s) => {
            1u8.hash(&mut h);
            match &s.value {
                // JSON's own loss (see [`Scalars::Json`]): an integral float hashes as its int.
                Value::Float(f) if scalars == Scalars::Json && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    hash_value(&Value::Int(*f as i64), &mut h)
                }
                v => hash_value(v, &mut h),
            }
        }
    }
    h.finish()
}

fn hash_value(v: &Value, h: &mut impl Hasher) {
    v.type_name().hash(h);
    match v {
        Value::Float(f) if f.is_nan() => u64::MAX.hash(h),
        Value::Float(f) => f.to_bits().hash(h),
        other => crate::cipher::value_bytes(other).hash(h),
    }
    // Int 1 and str "1" have the same bytes but not the same type name; bool and its text too.
}

impl LeafLog {
    /// An empty log for output in `format` (written in the file's own layout).
    pub fn new(format: Format) -> Self {
        LeafLog { hashes: Vec::new(), scalars: Fidelity::of(format, false).scalars }
    }

    /// Records a leaf as intended.
    pub fn record(&mut self, ctx: &LeafCtx<'_>, leaf: &Leaf) {
        self.hashes.push(leaf_hash(ctx, leaf, self.scalars));
    }

    /// A checker that visits the leaves read back, in order.
    pub fn checker(&self) -> LeafCheck<'_> {
        LeafCheck { log: self, next: 0, first: None }
    }
}

/// Compares leaves read back with a [`LeafLog`], remembering the first difference.
pub struct LeafCheck<'a> {
    log: &'a LeafLog,
    next: usize,
    first: Option<Mismatch>,
}

impl LeafCheck<'_> {
    /// Checks one leaf read back.
    pub fn check(&mut self, ctx: &LeafCtx<'_>, leaf: &Leaf) {
        let i = self.next;
        self.next += 1;
        if self.first.is_some() {
            return;
        }
        let what = match self.log.hashes.get(i) {
            None => "a value that was not intended reads back",
            Some(h) if *h != leaf_hash(ctx, leaf, self.log.scalars) => {
                "a value reads back changed (or with another type or key)"
            }
            Some(_) => return,
        };
        let path: Vec<Step<'_>> = ctx.path.iter().map(|k| Step::Key(k)).collect();
        self.first = Some(Mismatch::new(&path, what));
    }

    /// The verdict once every leaf was visited.
    pub fn finish(self) -> Result<()> {
        if let Some(m) = self.first {
            return Err(m.into_error());
        }
        if self.next != self.log.hashes.len() {
            return Err(Error::VerifyFailed {
                key_path: String::new(),
                detail: format!("{} value(s) read back, {} intended", self.next, self.log.hashes.len()),
            });
        }
        Ok(())
    }
}

/// The verdict of a one-pass check.
pub enum StreamCheck {
    /// The output was read back with the one-pass reader.
    Checked(Result<Verified>),
    /// The one-pass reader does not take the output (a leaf came back in a shape only the tree
    /// path writes): the caller checks these bytes on a tree.
    OnTree(Vec<u8>),
}

/// Checks the output of a one-pass decryption: the one-pass reader accepts the plaintext, finds
/// no metadata in it, and visits the logged leaves, in order, with the same paths and values.
pub fn streamed_plaintext(out: Vec<u8>, store: &dyn Store, log: &LeafLog) -> StreamCheck {
    let out = injected_fault(out);
    let verdict = match store.streamed(&out) {
        None => None,
        Some(file) => match file.metadata() {
            Ok(None) => {
                let mut check = log.checker();
                let pass = file.rewrite(&mut |ctx, leaf| {
                    check.check(ctx, &leaf);
                    Ok(leaf)
                });
                match pass {
                    Ok(Some(_)) => Some(check.finish()),
                    Ok(None) => None,
                    Err(e) => Some(Err(unreadable(&e))),
                }
            }
            _ => Some(Err(Error::VerifyFailed {
                key_path: String::new(),
                detail: "the plaintext output still holds sops metadata".into(),
            })),
        },
    };
    match verdict {
        Some(v) => StreamCheck::Checked(v.map(|_| Verified(out))),
        None => StreamCheck::OnTree(out),
    }
}

/// Checks the output of a one-pass encryption: the one-pass reader accepts it, its metadata (MAC
/// included) reads back equal, and every leaf, encrypted, is the logged one (as
/// [`encrypted_as_is`] argues, identical ENC strings at the same paths need no decryption).
pub fn streamed_encrypted(out: Vec<u8>, store: &dyn Store, log: &LeafLog, metadata: &Metadata) -> StreamCheck {
    let out = injected_fault(out);
    let verdict = match store.streamed(&out) {
        None => None,
        Some(file) => check_streamed_encrypted(file.as_ref(), store.format(), log, metadata).transpose(),
    };
    match verdict {
        Some(v) => StreamCheck::Checked(v.map(|_| Verified(out))),
        None => StreamCheck::OnTree(out),
    }
}

fn check_streamed_encrypted(
    file: &dyn crate::stores::Streamed,
    format: Format,
    log: &LeafLog,
    metadata: &Metadata,
) -> Result<Option<()>> {
    let read = match file.metadata() {
        Ok(Some(m)) => Metadata::from_mapping(&m).map_err(|e| unreadable(&e))?,
        Ok(None) => return Err(unreadable(&Error::MetadataNotFound)),
        Err(e) => return Err(unreadable(&e)),
    };
    compare_metadata(&read, metadata, format)?;
    let mut check = log.checker();
    let pass = file.rewrite(&mut |ctx, leaf| {
        check.check(ctx, &leaf);
        Ok(leaf)
    });
    match pass {
        Ok(Some(_)) => check.finish().map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(unreadable(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testkit::*;
    use crate::stores::StoreSettings;
    use crate::tree::{walk_leaves, Comment};

    fn yaml() -> Box<dyn Store> {
        Format::Yaml.store(&StoreSettings::default())
    }

    fn docs(text: &str) -> Vec<Document> {
        yaml().load_plain(text.as_bytes()).unwrap()
    }

    fn mismatch(read: &str, intended: &str) -> Mismatch {
        compare_documents(&docs(read), &docs(intended), Fidelity::EXACT).expect_err("a mismatch")
    }

    #[test]
    fn equal_trees_pass_whatever_their_layout() {
        let a = docs("a: {b: 1, c: [x, 2.5]}\n# note\nd: true\n");
        let b = docs("a:\n  b: 1\n  c:\n    - x\n    - 2.5\n# note\nd: true\n");
        assert_eq!(compare_documents(&a, &b, Fidelity::EXACT), Ok(()));
    }

    #[test]
    fn a_changed_value_is_named_by_its_key_path_never_its_value() {
        let m = mismatch("a:\n  b: hunter3\n", "a:\n  b: hunter2\n");
        assert_eq!(m.key_path, r#"["a"]["b"]"#);
        let e = m.into_error();
        let text = e.to_string();
        assert!(
            text.contains(r#"at key path ["a"]["b"]"#)
                && text.contains("kvsops bug")
                && text.contains("nothing was written"),
            "{text}"
        );
        assert!(!text.contains("hunter"), "{text}");
        assert_eq!(e.exit_code(), crate::error::exit::VERIFY_FAILED);
    }

    #[test]
    fn a_changed_type_is_a_mismatch() {
        let m = mismatch("a: \"1\"\n", "a: 1\n");
        assert_eq!((m.key_path.as_str(), m.detail.as_str()), (r#"["a"]"#, "a int value reads back as a str"));
        assert_eq!(mismatch("a: [1]\n", "a: {x: 1}\n").detail, "a mapping reads back as a sequence");
        assert!(mismatch("a: 1.0\n", "a: 1\n").detail.contains("int value reads back as a float"));
    }

    #[test]
    fn key_order_missing_and_extra_keys_are_mismatches() {
        assert_eq!(mismatch("b: 1\na: 2\n", "a: 2\nb: 1\n").detail, "the keys read back in another order");
        let m = mismatch("a: 1\n", "a: 1\nb: 2\n");
        assert_eq!((m.key_path.as_str(), m.detail.as_str()), (r#"["b"]"#, "the key is missing from the output"));
        assert_eq!(mismatch("a: 1\nz: 2\n", "a: 1\n").detail, "a key that was not intended reads back");
        assert_eq!(mismatch("l: [1, 2]\n", "l: [1, 2, 3]\n").detail, "the sequence has 2 item(s), 3 intended");
        assert_eq!(mismatch("l: [1, 3]\n", "l: [1, 2]\n").key_path, r#"["l"][1]"#);
    }

    #[test]
    fn document_count_and_comments_are_compared() {
        assert!(mismatch("a: 1\n---\nb: 2\n", "a: 1\n").detail.contains("2 document(s), 1 intended"));
        let m = mismatch("a: 1\n---\nb: 3\n", "a: 1\n---\nb: 2\n");
        assert_eq!(m.key_path, r#"(document 2) ["b"]"#);
        assert_eq!(mismatch("# x\na: 1\n", "# y\na: 1\n").detail, "a comment reads back changed");
        assert!(mismatch("a: 1\n", "# y\na: 1\n").detail.contains("comment"));
        // Where the format keeps comments only in order, a moved comment passes, a lost one not.
        let in_order = Fidelity { comments: Comments::InOrder, scalars: Scalars::Typed };
        let mut moved = docs("a:\n  b: 1\n");
        if let Some(Node::Map(a)) = moved[0].root.get_mut("a") {
            a.items.push(MapItem::Comment(Comment::new(" c")));
        }
        let mut intended = docs("a:\n  b: 1\n");
        intended[0].root.items.push(MapItem::Comment(Comment::new(" c")));
        assert_eq!(compare_documents(&moved, &intended, in_order), Ok(()));
        assert!(compare_documents(&moved, &intended, Fidelity::EXACT).is_err());
        assert!(compare_documents(&docs("a:\n  b: 1\n"), &intended, in_order).is_err());
    }

    #[test]
    fn only_the_output_formats_own_losses_are_accepted() {
        let one = |v: Value| {
            vec![Document::new({
                let mut m = Mapping::new();
                m.push("n", Node::Scalar(Scalar::new(v)));
                m
            })]
        };
        let text = Fidelity::of(Format::Dotenv, true);
        assert_eq!(compare_documents(&one(Value::Str("1".into())), &one(Value::Int(1)), text), Ok(()));
        assert!(compare_documents(&one(Value::Str("2".into())), &one(Value::Int(1)), text).is_err());
        let json = Fidelity::of(Format::Json, true);
        assert_eq!(compare_documents(&one(Value::Int(2)), &one(Value::Float(2.0)), json), Ok(()));
        assert!(compare_documents(&one(Value::Int(2)), &one(Value::Float(2.5)), json).is_err());
        assert!(compare_documents(&one(Value::Str("1".into())), &one(Value::Int(1)), json).is_err());
        assert!(
            compare_documents(&one(Value::Int(2)), &one(Value::Float(2.0)), Fidelity::of(Format::Yaml, false)).is_err()
        );
    }

    /// An encrypted output and what it was meant to be, from the test store.
    fn encrypted_sample() -> (Vec<u8>, Vec<Document>, Metadata, DataKey) {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "hunter2", "b_unencrypted": "two"}"#, &kr);
        let file = TestStore.load_encrypted(&enc).unwrap();
        let key = crate::ops::get_data_key(&file.metadata, &kr).unwrap();
        let plain = TestStore.load_plain(br#"{"a": "hunter2", "b_unencrypted": "two"}"#).unwrap();
        (enc, plain, file.metadata, key)
    }

    fn check(out: &[u8], plain: &[Document], md: &Metadata, key: &DataKey) -> Result<Verified> {
        let intent =
            EncryptedIntent { plaintext: plain, metadata: md, key, fidelity: Fidelity::of(Format::Json, false) };
        encrypted(out.to_vec(), &TestStore, &intent)
    }

    #[test]
    fn encrypted_output_is_decrypted_and_its_mac_checked() {
        let (enc, plain, md, key) = encrypted_sample();
        assert_eq!(check(&enc, &plain, &md, &key).unwrap().into_bytes(), enc);
        // The intended plaintext differs: found after decryption, at its path.
        let mut other = plain.clone();
        if let Some(n) = other[0].root.get_mut("a") {
            *n = Node::str("hunter3");
        }
        let e = check(&enc, &other, &md, &key).unwrap_err();
        assert!(matches!(&e, Error::VerifyFailed { key_path, .. } if key_path == r#"["a"]"#), "{e}");
        // An unencrypted value changed in the output (and in the intent): the MAC catches it.
        let text = String::from_utf8(enc.clone()).unwrap().replace("\"two\"", "\"TWO\"");
        let mut changed = plain.clone();
        if let Some(n) = changed[0].root.get_mut("b_unencrypted") {
            *n = Node::str("TWO");
        }
        let e = check(text.as_bytes(), &changed, &md, &key).unwrap_err();
        assert!(e.to_string().contains("the MAC of the output does not verify"), "{e}");
        // Another data key: the values do not decrypt.
        let e = check(&enc, &plain, &md, &DataKey::generate()).unwrap_err();
        assert!(matches!(&e, Error::VerifyFailed { detail, .. } if detail.contains("does not decrypt")), "{e}");
        // Metadata that does not read back as written.
        let mut md2 = md.clone();
        md2.version = "9.9.9".into();
        let e = check(&enc, &plain, &md2, &key).unwrap_err();
        assert!(
            e.to_string().contains(r#"at key path ["sops"]: the sops metadata reads back with another version"#),
            "{e}"
        );
        // Not parsable at all.
        let e = check(b"{not json", &plain, &md, &key).unwrap_err();
        assert!(e.to_string().contains("does not parse as json"), "{e}");
    }

    #[test]
    fn plaintext_output_is_read_back_with_the_store() {
        let intended = docs("a: 1\nb: [x]\n");
        assert!(plaintext(b"a: 1\nb: [x]\n".to_vec(), yaml().as_ref(), &intended, Fidelity::EXACT).is_ok());
        let e = plaintext(b"a: 1\nb: [y]\n".to_vec(), yaml().as_ref(), &intended, Fidelity::EXACT).unwrap_err();
        assert!(matches!(&e, Error::VerifyFailed { key_path, .. } if key_path == r#"["b"][0]"#), "{e}");
        let e = plaintext(b"a: [".to_vec(), yaml().as_ref(), &intended, Fidelity::EXACT).unwrap_err();
        assert!(e.to_string().contains("does not parse as yaml"), "{e}");
    }

    fn log_of(store: &dyn Store, text: &str) -> LeafLog {
        let mut log = LeafLog::new(store.format());
        for mut d in store.load_plain(text.as_bytes()).unwrap() {
            walk_leaves::<Error, _>(&mut d.root, &mut |ctx, leaf| {
                log.record(ctx, &leaf);
                Ok(leaf)
            })
            .unwrap();
        }
        log
    }

    #[test]
    fn one_pass_output_is_checked_leaf_by_leaf() {
        for format in [Format::Yaml, Format::Json] {
            let store = format.store(&StoreSettings::default());
            let (good, changed, retyped, shorter) = match format {
                Format::Yaml => ("a: x\nb: 1\n", "a: y\nb: 1\n", "a: x\nb: true\n", "a: x\n"),
                _ => (
                    "{\"a\": \"x\", \"b\": 1}",
                    "{\"a\": \"y\", \"b\": 1}",
                    "{\"a\": \"x\", \"b\": \"1\"}",
                    "{\"a\": \"x\"}",
                ),
            };
            let log = log_of(store.as_ref(), good);
            let verdict = |text: &str| match streamed_plaintext(text.as_bytes().to_vec(), store.as_ref(), &log) {
                StreamCheck::Checked(v) => v,
                StreamCheck::OnTree(_) => {
                    panic!("{format:?}: the one-pass reader should take {text:?}")
                }
            };
            assert!(verdict(good).is_ok(), "{format:?}");
            let e = verdict(changed).unwrap_err();
            assert!(matches!(&e, Error::VerifyFailed { key_path, .. } if key_path == r#"["a"]"#), "{format:?}: {e}");
            let e = verdict(retyped).unwrap_err();
            assert!(matches!(&e, Error::VerifyFailed { key_path, .. } if key_path == r#"["b"]"#), "{format:?}: {e}");
            assert!(
                verdict(shorter).unwrap_err().to_string().contains("1 value(s) read back, 2 intended"),
                "{format:?}"
            );
        }
    }

    #[test]
    fn one_pass_encrypted_output_is_checked_against_its_enc_strings() {
        let kr = keyring1();
        let store = yaml();
        let plain = "stringData:\n    password: hunter2\n    user: admin\n";
        let enc = crate::ops::encrypt::encrypt_bytes(
            plain.as_bytes(),
            store.as_ref(),
            store.as_ref(),
            &params_key1(None, false),
            &kr,
        )
        .unwrap();
        let enc_text = String::from_utf8(enc.clone()).unwrap();
        let file = store.load_encrypted(&enc).unwrap();
        // The log of what the encryption wrote: the ENC leaves.
        let mut log = LeafLog::new(store.format());
        for mut d in file.documents.clone() {
            walk_leaves::<Error, _>(&mut d.root, &mut |ctx, leaf| {
                log.record(ctx, &leaf);
                Ok(leaf)
            })
            .unwrap();
        }
        let verdict = |out: Vec<u8>| match streamed_encrypted(out, store.as_ref(), &log, &file.metadata) {
            StreamCheck::Checked(v) => v,
            StreamCheck::OnTree(_) => panic!("the one-pass reader should take it"),
        };
        assert!(verdict(enc.clone()).is_ok());
        // Another ciphertext for the password (one base64 character changed).
        let at = enc_text.find("password: ENC[AES256_GCM,data:").unwrap() + "password: ENC[AES256_GCM,data:".len();
        let mut tampered = enc_text.clone().into_bytes();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        match verdict(tampered) {
            Err(Error::VerifyFailed { key_path, .. }) => assert_eq!(key_path, r#"["stringData"]["password"]"#),
            other => panic!("a mismatch at the password, not {other:?}"),
        }
        // Another MAC.
        let mac_at = enc_text.find("mac: ENC[AES256_GCM,data:").unwrap() + "mac: ENC[AES256_GCM,data:".len();
        let mut other_mac = enc_text.into_bytes();
        other_mac[mac_at] = if other_mac[mac_at] == b'A' { b'B' } else { b'A' };
        let err = verdict(other_mac).unwrap_err().to_string();
        assert!(err.contains("mac"), "{err}");
    }
}
