//! The git merge driver: a three-way merge of encrypted files at the level of values.
//!
//! Line-based merging of sops files always conflicts: every edit changes `mac` and `lastmodified`,
//! and two people who touched different secrets touch the same metadata lines. Here each side is
//! decrypted with its own data key (a rotation on one branch is fine), the plaintext trees are
//! merged by key path, and the result is re-encrypted with *our* data key and metadata, reusing
//! our IVs for unchanged values so the result differs from ours only where theirs changed things.
//! A value is a conflict only when both sides changed it differently (or one changed and the other
//! deleted it). Sequences are merged as whole values. Comments follow our side.

use crate::error::{Error, Result};
use crate::keys::{KeySpec, Keyring};
use crate::metadata::Metadata;
use crate::stores::Store;
use crate::tree::{
    same_content, same_mapping_content, Comment, Document, Entry, MapItem, Mapping, Node, Scalar, SeqItem, Sequence,
};

use super::decrypt::{decrypt_file, DecryptOptions, Decrypted};
use super::display_path;
use super::verify::{self, EncryptedIntent, Fidelity, Verified};

/// What the driver should do with `%A`.
#[derive(Debug)]
pub enum MergeOutcome {
    /// Write these bytes; `None` means ours already is the merge result (leave `%A` as it is).
    Merged(Option<Verified>),
    /// Both sides changed these key paths differently: leave `%A` as ours and report them.
    Conflicts(Vec<String>),
}

/// The outcome and any notes worth telling the user (never values).
#[derive(Debug)]
pub struct MergeReport {
    pub outcome: MergeOutcome,
    pub notes: Vec<String>,
}

/// True when `input` loads as an encrypted file of this store (has sops metadata).
pub fn is_sops_file(store: &dyn Store, input: &[u8]) -> bool {
    store.load_encrypted(input).is_ok()
}

/// Which merge two sides call for: decided by which of them are encrypted files of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeKind {
    /// Neither side is encrypted: a plain file, merged line by line (`git merge-file`).
    Lines,
    /// Only one side is encrypted (`ours` tells which): a conflict to settle by hand.
    OneSideEncrypted { ours: bool },
    /// Both sides are encrypted: [`merge_encrypted`], value by value.
    Values,
}

/// The merge `ours` and `theirs` call for.
pub fn merge_kind(store: &dyn Store, ours: &[u8], theirs: &[u8]) -> MergeKind {
    match (is_sops_file(store, ours), is_sops_file(store, theirs)) {
        (false, false) => MergeKind::Lines,
        (true, true) => MergeKind::Values,
        (ours, _) => MergeKind::OneSideEncrypted { ours },
    }
}

fn key_specs(md: &Metadata) -> Vec<Vec<KeySpec>> {
    md.key_groups.iter().map(|g| g.iter().map(|e| e.spec()).collect()).collect()
}

fn same_docs(a: &[Document], b: &[Document]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_mapping_content(&x.root, &y.root))
}

/// Merges three versions of an encrypted file. `base` may be empty (no common ancestor).
pub fn merge_encrypted(
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    store: &dyn Store,
    keyring: &Keyring,
) -> Result<MergeReport> {
    let opts = DecryptOptions::default();
    let side = |side: &'static str, input: &[u8]| -> Result<Decrypted> {
        decrypt_file(input, store, keyring, opts).map_err(|e| Error::MergeSide { side, source: Box::new(e) })
    };
    let ours_d = side("our version", ours)?;
    let theirs_d = side("their version", theirs)?;
    let mut notes = Vec::new();
    let base_d = if base.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match decrypt_file(base, store, keyring, opts) {
            Ok(d) => Some(d),
            Err(e) => {
                notes.push(format!(
                    "the common ancestor could not be decrypted ({e}); every difference counts as a conflict"
                ));
                None
            }
        }
    };

    let base_docs = base_d.as_ref().map(|b| b.documents.as_slice());
    let ours_changed = base_d.as_ref().is_none_or(|b| {
        !same_docs(&b.documents, &ours_d.documents) || key_specs(&b.metadata) != key_specs(&ours_d.metadata)
    });
    let theirs_changed = base_d.as_ref().is_none_or(|b| {
        !same_docs(&b.documents, &theirs_d.documents) || key_specs(&b.metadata) != key_specs(&theirs_d.metadata)
    });
    if !theirs_changed {
        return Ok(MergeReport { outcome: MergeOutcome::Merged(None), notes });
    }
    if !ours_changed {
        // Their file as it is: it decrypted with a verifying MAC above; it is read back all the same.
        let intent = EncryptedIntent {
            plaintext: &theirs_d.documents,
            metadata: &theirs_d.metadata,
            key: theirs_d.cipher.key(),
            fidelity: Fidelity::of(store.format(), false),
        };
        let theirs = verify::encrypted(theirs.to_vec(), store, &intent)?;
        return Ok(MergeReport { outcome: MergeOutcome::Merged(Some(theirs)), notes });
    }
    if key_specs(&ours_d.metadata) != key_specs(&theirs_d.metadata) {
        let theirs_keys_changed =
            base_d.as_ref().is_none_or(|b| key_specs(&b.metadata) != key_specs(&theirs_d.metadata));
        if theirs_keys_changed {
            return Ok(MergeReport {
                outcome: MergeOutcome::Conflicts(vec![
                    "sops (master keys): the two sides use different master keys; merge by hand, then run updatekeys"
                        .into(),
                ]),
                notes,
            });
        }
    }

    let (merged, conflicts) = merge_documents(base_docs, &ours_d.documents, &theirs_d.documents);
    if !conflicts.is_empty() {
        return Ok(MergeReport { outcome: MergeOutcome::Conflicts(conflicts), notes });
    }
    if same_docs(&merged, &ours_d.documents) {
        return Ok(MergeReport { outcome: MergeOutcome::Merged(None), notes });
    }
    let Decrypted { metadata, mut cipher, .. } = ours_d;
    let mut metadata = metadata;
    let mut documents = merged;
    let rule = metadata.effective_rule();
    let plaintext = documents.clone();
    let mac = super::encrypt_documents(&mut documents, &rule, metadata.mac_only_encrypted, &mut cipher)?;
    super::seal_mac(&mut metadata, &mut cipher, &mac);
    let out = store.emit_encrypted(&documents, &metadata, Some(ours))?;
    let intent = EncryptedIntent {
        plaintext: &plaintext,
        metadata: &metadata,
        key: cipher.key(),
        fidelity: Fidelity::of(store.format(), false),
    };
    let out = verify::encrypted(out, store, &intent)?;
    Ok(MergeReport { outcome: MergeOutcome::Merged(Some(out)), notes })
}

/// Merges the plaintext documents of three versions; returns the merge (our layout and spans where
/// our nodes survive) and the conflicting key paths.
pub fn merge_documents(
    base: Option<&[Document]>,
    ours: &[Document],
    theirs: &[Document],
) -> (Vec<Document>, Vec<String>) {
    let mut conflicts = Vec::new();
    if ours.len() != theirs.len() {
        let base_len = base.map(<[Document]>::len);
        if base_len == Some(ours.len()) && base.is_some_and(|b| same_docs(b, ours)) {
            return (theirs.iter().map(|d| Document::new(strip_map(&d.root))).collect(), conflicts);
        }
        if base_len == Some(theirs.len()) && base.is_some_and(|b| same_docs(b, theirs)) {
            return (ours.to_vec(), conflicts);
        }
        conflicts.push("(documents): the two sides have different numbers of YAML documents".to_string());
        return (ours.to_vec(), conflicts);
    }
    let mut out = Vec::with_capacity(ours.len());
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let b = base.and_then(|b| b.get(i)).map(|d| &d.root);
        let mut path = Vec::new();
        let root = merge_map(b, &o.root, &t.root, &mut path, &mut conflicts);
        out.push(Document { root, layout: o.layout });
    }
    (out, conflicts)
}

fn conflict(path: &[String], why: &str) -> String {
    format!("{}: {why}", display_path(path))
}

fn merge_node(
    base: Option<&Node>,
    ours: &Node,
    theirs: &Node,
    path: &mut Vec<String>,
    conflicts: &mut Vec<String>,
) -> Node {
    if same_content(ours, theirs) {
        return ours.clone();
    }
    if let (Node::Map(o), Node::Map(t)) = (ours, theirs) {
        let b = match base {
            Some(Node::Map(b)) => Some(b),
            _ => None,
        };
        return Node::Map(merge_map(b, o, t, path, conflicts));
    }
    if let Some(b) = base {
        if same_content(b, ours) {
            return adopt(ours, theirs);
        }
        if same_content(b, theirs) {
            return ours.clone();
        }
    }
    conflicts.push(conflict(path, "both sides changed it differently"));
    ours.clone()
}

fn merge_map(
    base: Option<&Mapping>,
    ours: &Mapping,
    theirs: &Mapping,
    path: &mut Vec<String>,
    conflicts: &mut Vec<String>,
) -> Mapping {
    let mut items = Vec::with_capacity(ours.items.len());
    for item in &ours.items {
        let e = match item {
            MapItem::Comment(c) => {
                items.push(MapItem::Comment(c.clone()));
                continue;
            }
            MapItem::Entry(e) => e,
        };
        path.push(e.key.clone());
        let b = base.and_then(|b| b.get(&e.key));
        match theirs.get(&e.key) {
            Some(t) => items.push(MapItem::Entry(Entry {
                key: e.key.clone(),
                value: merge_node(b, &e.value, t, path, conflicts),
                key_src: e.key_src,
            })),
            None => match b {
                // Deleted on their side and unchanged on ours: deleted.
                Some(bv) if same_content(bv, &e.value) => {}
                Some(_) => {
                    conflicts.push(conflict(path, "changed on our side, deleted on theirs"));
                    items.push(item.clone());
                }
                None => items.push(item.clone()),
            },
        }
        path.pop();
    }
    for e in theirs.entries() {
        if ours.get(&e.key).is_some() {
            continue;
        }
        path.push(e.key.clone());
        match base.and_then(|b| b.get(&e.key)) {
            Some(bv) if same_content(bv, &e.value) => {}
            Some(_) => conflicts.push(conflict(path, "deleted on our side, changed on theirs")),
            None => items.push(MapItem::Entry(Entry { key: e.key.clone(), value: strip(&e.value), key_src: None })),
        }
        path.pop();
    }
    Mapping { items, src: ours.src }
}

/// Their node in place of ours, keeping our source positions wherever the shapes agree (so the
/// store rewrites only what changed) and dropping theirs (they point into another file).
fn adopt(ours: &Node, theirs: &Node) -> Node {
    match (ours, theirs) {
        (Node::Scalar(o), Node::Scalar(t)) if std::mem::discriminant(&o.value) == std::mem::discriminant(&t.value) => {
            Node::Scalar(Scalar { value: t.value.clone(), src: o.src })
        }
        (Node::Map(o), Node::Map(t)) => {
            let mut ignored = Vec::new();
            Node::Map(merge_map(Some(o), o, t, &mut Vec::new(), &mut ignored))
        }
        (Node::Seq(o), Node::Seq(t)) if o.items.len() == t.items.len() => Node::Seq(Sequence {
            items: o
                .items
                .iter()
                .zip(&t.items)
                .map(|pair| match pair {
                    (SeqItem::Node(a), SeqItem::Node(b)) => SeqItem::Node(adopt(a, b)),
                    (SeqItem::Comment(a), SeqItem::Comment(b)) => {
                        SeqItem::Comment(Comment { text: b.text.clone(), src: a.src })
                    }
                    (_, other) => strip_item(other),
                })
                .collect(),
            src: o.src,
        }),
        _ => strip(theirs),
    }
}

fn strip_item(item: &SeqItem) -> SeqItem {
    match item {
        SeqItem::Node(n) => SeqItem::Node(strip(n)),
        SeqItem::Comment(c) => SeqItem::Comment(Comment::new(c.text.clone())),
    }
}

fn strip_map(m: &Mapping) -> Mapping {
    Mapping {
        items: m
            .items
            .iter()
            .map(|i| match i {
                MapItem::Entry(e) => {
                    MapItem::Entry(Entry { key: e.key.clone(), value: strip(&e.value), key_src: None })
                }
                MapItem::Comment(c) => MapItem::Comment(Comment::new(c.text.clone())),
            })
            .collect(),
        src: None,
    }
}

/// A copy without source positions: a node from another file is new to ours.
fn strip(n: &Node) -> Node {
    match n {
        Node::Scalar(s) => Node::Scalar(Scalar::new(s.value.clone())),
        Node::Map(m) => Node::Map(strip_map(m)),
        Node::Seq(s) => Node::Seq(Sequence { items: s.items.iter().map(strip_item).collect(), src: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Src, Value};

    fn scalar(v: &str, at: usize) -> Node {
        Node::Scalar(Scalar { value: Value::Str(v.into()), src: Some(Src::new(at, at + v.len())) })
    }

    fn doc(entries: &[(&str, Node)]) -> Document {
        let mut root = Mapping::new();
        for (k, v) in entries {
            root.push(*k, v.clone());
        }
        Document::new(root)
    }

    fn data(pairs: &[(&str, &str)], at: usize) -> Node {
        let mut m = Mapping::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            m.push(*k, scalar(v, at + i * 100));
        }
        Node::Map(m)
    }

    fn get<'a>(d: &'a Document, outer: &str, inner: &str) -> Option<&'a Node> {
        match d.root.get(outer) {
            Some(Node::Map(m)) => m.get(inner),
            _ => None,
        }
    }

    #[test]
    fn different_keys_changed_on_each_side_merge_cleanly() {
        let base = vec![doc(&[("data", data(&[("a", "1"), ("b", "2")], 0))])];
        let ours = vec![doc(&[("data", data(&[("a", "1-ours"), ("b", "2")], 0))])];
        let theirs = vec![doc(&[("data", data(&[("a", "1"), ("b", "2-theirs"), ("c", "new")], 5000))])];
        let (merged, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert!(conflicts.is_empty(), "{conflicts:?}");
        let m = &merged[0];
        let Some(Node::Scalar(a)) = get(m, "data", "a") else { panic!() };
        let Some(Node::Scalar(b)) = get(m, "data", "b") else { panic!() };
        let Some(Node::Scalar(c)) = get(m, "data", "c") else { panic!() };
        assert_eq!(a.value, Value::Str("1-ours".into()));
        assert_eq!(b.value, Value::Str("2-theirs".into()));
        // Their value takes our position (so it is spliced in place); the new key has none.
        assert_eq!(b.src, Some(Src::new(100, 101)));
        assert_eq!(c.value, Value::Str("new".into()));
        assert_eq!(c.src, None);
    }

    #[test]
    fn the_same_value_changed_differently_conflicts_by_path() {
        let base = vec![doc(&[("data", data(&[("password", "old")], 0))])];
        let ours = vec![doc(&[("data", data(&[("password", "mine")], 0))])];
        let theirs = vec![doc(&[("data", data(&[("password", "yours")], 0))])];
        let (_, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert_eq!(conflicts, ["data.password: both sides changed it differently"]);
        // The same change on both sides is no conflict.
        let (_, none) = merge_documents(Some(&base), &ours, &ours);
        assert!(none.is_empty());
    }

    #[test]
    fn deletions_merge_unless_the_other_side_changed_the_value() {
        let base = vec![doc(&[("data", data(&[("a", "1"), ("b", "2")], 0))])];
        let ours = vec![doc(&[("data", data(&[("a", "1")], 0))])];
        let theirs = vec![doc(&[("data", data(&[("a", "1"), ("b", "2"), ("z", "9")], 0))])];
        let (merged, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert!(conflicts.is_empty());
        assert!(get(&merged[0], "data", "b").is_none(), "our deletion stands");
        assert!(get(&merged[0], "data", "z").is_some(), "their addition arrives");

        let theirs = vec![doc(&[("data", data(&[("a", "1"), ("b", "changed")], 0))])];
        let (_, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert_eq!(conflicts, ["data.b: deleted on our side, changed on theirs"]);
    }

    #[test]
    fn without_a_base_only_identical_values_agree() {
        let ours = vec![doc(&[("a", scalar("1", 0)), ("b", scalar("x", 10))])];
        let theirs = vec![doc(&[("a", scalar("1", 0)), ("b", scalar("y", 10)), ("c", scalar("z", 20))])];
        let (merged, conflicts) = merge_documents(None, &ours, &theirs);
        assert_eq!(conflicts, ["b: both sides changed it differently"]);
        assert!(merged[0].root.get("c").is_some());
    }

    #[test]
    fn sequences_are_whole_values() {
        let seq = |v: &[&str]| {
            Node::Seq(Sequence {
                items: v.iter().enumerate().map(|(i, s)| SeqItem::Node(scalar(s, i * 10))).collect(),
                src: None,
            })
        };
        let base = vec![doc(&[("l", seq(&["a", "b"]))])];
        let ours = vec![doc(&[("l", seq(&["a", "b"]))])];
        let theirs = vec![doc(&[("l", seq(&["a", "c"]))])];
        let (merged, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert!(conflicts.is_empty());
        assert!(same_content(merged[0].root.get("l").unwrap(), &seq(&["a", "c"])));
        let ours = vec![doc(&[("l", seq(&["x", "b"]))])];
        let (_, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert_eq!(conflicts, ["l: both sides changed it differently"]);
    }

    #[test]
    fn the_kind_of_merge_follows_which_sides_are_encrypted() {
        use crate::ops::testkit::{encrypt_json, keyring1, TestStore};
        let enc = encrypt_json(r#"{"a": "x"}"#, &keyring1());
        let plain = br#"{"a": "x"}"#.as_slice();
        assert_eq!(merge_kind(&TestStore, plain, plain), MergeKind::Lines);
        assert_eq!(merge_kind(&TestStore, &enc, plain), MergeKind::OneSideEncrypted { ours: true });
        assert_eq!(merge_kind(&TestStore, plain, &enc), MergeKind::OneSideEncrypted { ours: false });
        assert_eq!(merge_kind(&TestStore, &enc, &enc), MergeKind::Values);
    }
}
