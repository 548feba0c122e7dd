//! sops's tree paths, `["key"][0]["other"]`, used by `--extract`, `set` and `unset`.

use crate::error::{Error, Result};
use crate::tree::{Mapping, Node, SeqItem};

/// One step of a path: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses `["a"][0]` (keys double- or single-quoted, indices bare). Exit 91 on a bad path.
pub fn parse(s: &str) -> Result<Vec<Step>> {
    let bad = || Error::InvalidTreePath(s.to_string());
    let chars: Vec<char> = s.trim().chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '[' {
            return Err(bad());
        }
        i += 1;
        match chars.get(i) {
            Some(&q) if q == '"' || q == '\'' => {
                i += 1;
                let mut key = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(bad()),
                        Some('\\') if q == '"' => {
                            match chars.get(i + 1) {
                                Some(c) => key.push(*c),
                                None => return Err(bad()),
                            }
                            i += 2;
                        }
                        Some(c) if *c == q => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            key.push(*c);
                            i += 1;
                        }
                    }
                }
                steps.push(Step::Key(key));
            }
            Some(c) if c.is_ascii_digit() => {
                let start = i;
                while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
                let n: String = chars[start..i].iter().collect();
                steps.push(Step::Index(n.parse().map_err(|_| bad())?));
            }
            _ => return Err(bad()),
        }
        if chars.get(i) != Some(&']') {
            return Err(bad());
        }
        i += 1;
    }
    if steps.is_empty() {
        return Err(bad());
    }
    Ok(steps)
}

fn describe(step: &Step) -> String {
    match step {
        Step::Key(k) => format!("['{k}']"),
        Step::Index(i) => format!("[{i}]"),
    }
}

/// The node at `path` in a document root.
pub fn get<'a>(root: &'a Mapping, path: &[Step]) -> Result<&'a Node> {
    let mut current: Option<&Node> = None;
    for step in path {
        let next = match (current, step) {
            (None, Step::Key(k)) => root.get(k),
            (Some(Node::Map(m)), Step::Key(k)) => m.get(k),
            (Some(Node::Seq(s)), Step::Index(i)) => s.nodes().nth(*i),
            _ => None,
        };
        current = Some(next.ok_or_else(|| Error::PathNotFound(describe(step)))?);
    }
    current.ok_or_else(|| Error::PathNotFound(String::new()))
}

/// Sets the node at `path`, creating mappings (and appending at the end of sequences) on the way,
/// as sops's `set` does. Returns whether anything changed.
pub fn set(root: &mut Mapping, path: &[Step], value: Node) -> Result<bool> {
    let Some((first, rest)) = path.split_first() else {
        return Err(Error::InvalidTreePath(String::new()));
    };
    let Step::Key(k) = first else {
        return Err(Error::InvalidTreePath("the first step must be a key".into()));
    };
    if root.get(k).is_none() {
        root.push(k.clone(), Node::Map(Mapping::new()));
        if rest.is_empty() {
            if let Some(slot) = root.get_mut(k) {
                *slot = value;
            }
            return Ok(true);
        }
    }
    let slot = root.get_mut(k).ok_or_else(|| Error::PathNotFound(describe(first)))?;
    set_node(slot, rest, value)
}

fn set_node(node: &mut Node, path: &[Step], value: Node) -> Result<bool> {
    let Some((step, rest)) = path.split_first() else {
        let changed = !crate::tree::same_content(node, &value);
        *node = value;
        return Ok(changed);
    };
    match step {
        Step::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Mapping::new());
            }
            let Node::Map(m) = node else { unreachable!("just made a mapping") };
            if m.get(k).is_none() {
                m.push(k.clone(), Node::Map(Mapping::new()));
            }
            let child = m.get_mut(k).ok_or_else(|| Error::PathNotFound(describe(step)))?;
            set_node(child, rest, value)
        }
        Step::Index(i) => {
            if !matches!(node, Node::Seq(_)) {
                *node = Node::Seq(Default::default());
            }
            let Node::Seq(s) = node else { unreachable!("just made a sequence") };
            let positions: Vec<usize> =
                s.items.iter().enumerate().filter(|(_, it)| matches!(it, SeqItem::Node(_))).map(|(p, _)| p).collect();
            match positions.get(*i) {
                Some(&p) => match &mut s.items[p] {
                    SeqItem::Node(n) => set_node(n, rest, value),
                    SeqItem::Comment(_) => Err(Error::PathNotFound(describe(step))),
                },
                None => {
                    let mut fresh = Node::Map(Mapping::new());
                    set_node(&mut fresh, rest, value)?;
                    s.items.push(SeqItem::Node(fresh));
                    Ok(true)
                }
            }
        }
    }
}

/// Removes the node at `path`. Returns `PathNotFound` when it does not exist.
pub fn unset(root: &mut Mapping, path: &[Step]) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Error::InvalidTreePath(String::new()));
    };
    if parents.is_empty() {
        let Step::Key(k) = last else {
            return Err(Error::InvalidTreePath("the first step must be a key".into()));
        };
        return root.remove(k).map(|_| ()).ok_or_else(|| Error::PathNotFound(describe(last)));
    }
    let Some((first, mid)) = parents.split_first() else { unreachable!("parents is not empty") };
    let Step::Key(k) = first else {
        return Err(Error::InvalidTreePath("the first step must be a key".into()));
    };
    let mut node = root.get_mut(k).ok_or_else(|| Error::PathNotFound(describe(first)))?;
    for step in mid {
        node = match (node, step) {
            (Node::Map(m), Step::Key(k)) => m.get_mut(k),
            (Node::Seq(s), Step::Index(i)) => s
                .items
                .iter_mut()
                .filter_map(|it| match it {
                    SeqItem::Node(n) => Some(n),
                    SeqItem::Comment(_) => None,
                })
                .nth(*i),
            _ => None,
        }
        .ok_or_else(|| Error::PathNotFound(describe(step)))?;
    }
    match (node, last) {
        (Node::Map(m), Step::Key(k)) => m.remove(k).map(|_| ()).ok_or_else(|| Error::PathNotFound(describe(last))),
        (Node::Seq(s), Step::Index(i)) => {
            let pos = s
                .items
                .iter()
                .enumerate()
                .filter(|(_, it)| matches!(it, SeqItem::Node(_)))
                .map(|(p, _)| p)
                .nth(*i)
                .ok_or_else(|| Error::PathNotFound(describe(last)))?;
            s.items.remove(pos);
            Ok(())
        }
        _ => Err(Error::PathNotFound(describe(last))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Scalar, Value};

    #[test]
    fn parses_sops_paths() {
        assert_eq!(
            parse(r#"["a"][0]['b c']["q\"x"]"#).unwrap(),
            vec![Step::Key("a".into()), Step::Index(0), Step::Key("b c".into()), Step::Key("q\"x".into())]
        );
        for bad in ["", "a", "[a]", "[\"a\"", "[0", "[\"a\"]x"] {
            assert!(matches!(parse(bad), Err(Error::InvalidTreePath(_))), "{bad}");
        }
    }

    #[test]
    fn get_set_unset() {
        let mut root = Mapping::new();
        assert!(set(&mut root, &parse(r#"["a"]["b"]"#).unwrap(), Node::str("x")).unwrap());
        assert!(!set(&mut root, &parse(r#"["a"]["b"]"#).unwrap(), Node::str("x")).unwrap());
        assert!(set(&mut root, &parse(r#"["l"][0]"#).unwrap(), Node::Scalar(Scalar::new(Value::Int(1)))).unwrap());
        assert_eq!(get(&root, &parse(r#"["a"]["b"]"#).unwrap()).unwrap(), &Node::str("x"));
        assert!(matches!(get(&root, &parse(r#"["a"]["z"]"#).unwrap()), Err(Error::PathNotFound(_))));
        unset(&mut root, &parse(r#"["a"]["b"]"#).unwrap()).unwrap();
        assert!(get(&root, &parse(r#"["a"]["b"]"#).unwrap()).is_err());
        assert!(unset(&mut root, &parse(r#"["nope"]"#).unwrap()).is_err());
        unset(&mut root, &parse(r#"["l"][0]"#).unwrap()).unwrap();
    }
}
