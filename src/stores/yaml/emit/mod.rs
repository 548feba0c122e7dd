//! Fresh YAML output, byte for byte as sops 3.11 writes it.
//!
//! sops turns its tree into `yaml.Node`s (comments become head/foot comments, every scalar is
//! encoded by `Node.Encode`, which marshals it alone and parses it back, so its quoting style is
//! decided once in root context) and hands them to go-yaml v3 (`go.yaml.in/yaml/v3` v3.0.4), whose
//! emitter is libyaml's with Go changes: regular indentation, block sequences indented under their
//! key, a narrower step inside compact `- k: v` items, no line folding, comments written at fixed
//! places (some of them late). Matching that exactly means following the same path, so this module
//! has three stages:
//! 1. `Doc` building (`nodes.rs`): the tree becomes go-yaml-like nodes with the comments placed
//!    where sops's `appendTreeBranch`/`appendSequence` put them and each scalar's style as
//!    `Node.Encode` leaves it;
//! 2. event generation (`events.rs`), as go-yaml's `encoder.node` does (a key's foot comment
//!    travels as the next event's tail comment);
//! 3. text output (`emitter.rs`): a port of the emitter state machine, restricted to what sops can
//!    produce (block collections, `[]`/`{}` for empty ones, no anchors, only the `!!binary` tag).
//!
//! The scalar resolver is the reader's (`resolve::resolves_to_str`, go-yaml's `resolve`): a string
//! is written plain only if reading it back plain gives the same string.
//!
//! Two deliberate differences, both where sops 3.11 itself writes something wrong: a multi-line
//! string starting with a tab (sops writes `null`, losing the value), and a block scalar that
//! needs an indentation indicator inside a sequence item or a compact item's mapping when the
//! indent is not 2 (sops writes a file it cannot read back). Both are written double-quoted.
//! Everything else is byte-identical to sops (see the golden tests in `tests.rs`).

use crate::tree::{Document, Mapping, Node};

mod emitter;
mod events;
mod nodes;

use emitter::run;
use events::{node_events, Ev, Event};
use nodes::mapping_node;

/// Writes documents as go-yaml v3 (as used by sops 3.11) would: `indent` spaces per level,
/// documents separated by `---\n`, no leading `---`, no `...`; an empty document is `{}\n`.
pub fn emit_documents(documents: &[Document], indent: usize) -> String {
    let mut events = vec![Event::new(Ev::StreamStart)];
    for doc in documents {
        let root = mapping_node(&doc.root);
        events.push(Event::new(Ev::DocStart));
        node_events(&root, Vec::new(), &mut events);
        events.push(Event::new(Ev::DocEnd));
    }
    events.push(Event::new(Ev::StreamEnd));
    run(events, indent)
}

/// Writes one mapping as the block content of a mapping nested `base` columns deep (each line
/// prefixed by `base` spaces), ending with a newline: used to append the `sops:` block to a
/// document whose own layout is kept. It is what go-yaml writes under a top-level key when
/// `base == indent` (the `sops:` case), shifted by `base - indent` columns otherwise. An empty
/// mapping gives `{}` on its own line.
pub fn emit_block_mapping(mapping: &Mapping, indent: usize, base: usize) -> String {
    // Emit `k: <mapping>` as a whole document and cut the first line: the mapping then sits
    // exactly where go-yaml puts the value of a top-level key.
    let mut wrapper = Mapping::new();
    wrapper.push("k", Node::Map(mapping.clone()));
    let text = emit_documents(&[Document::new(wrapper)], indent);
    let body = match text.split_once('\n') {
        Some(("k:", rest)) => rest.to_string(),
        // `k: {}`: the empty mapping is written in flow style on the key's line.
        Some((first, rest)) => {
            let value = first.strip_prefix("k:").unwrap_or(first).trim_start();
            let mut s = String::with_capacity(base + value.len() + 1 + rest.len());
            s.push_str(&" ".repeat(base));
            s.push_str(value);
            s.push('\n');
            s.push_str(rest);
            return s;
        }
        None => return String::new(),
    };
    let step = go_indent(indent);
    if base == step {
        return body;
    }
    let mut out = String::with_capacity(body.len() + 64);
    for line in body.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        if content.is_empty() {
            out.push_str(line);
            continue;
        }
        let lead = content.len() - content.trim_start_matches(' ').len();
        let new_lead = (lead + base).saturating_sub(step);
        out.push_str(&" ".repeat(new_lead));
        out.push_str(&line[lead..]);
    }
    out
}

/// The indentation go-yaml actually uses for a requested one: sops passes its setting to
/// `SetIndent`, where 0 means 4, and the emitter falls back to 2 outside 2..=9.
fn go_indent(indent: usize) -> usize {
    let i = if indent == 0 { 4 } else { indent };
    if (2..=9).contains(&i) {
        i
    } else {
        2
    }
}

// ---------------------------------------------------------------------------------------------
// Strings that YAML 1.1 readers would take for another type.

/// Whether go-yaml v3 writes the string `s` plain as far as YAML 1.1 goes: not a YAML 1.1
/// boolean (`yes`, `no`, `on`, `y`, ...) nor a base-60 number (`1:20`), which Kubernetes, Helm
/// and other YAML 1.1 readers would read as another type.
pub(crate) fn plain_in_yaml_1_1(s: &str) -> bool {
    !is_old_bool(s) && !is_base60_float(s)
}

/// go-yaml's `isOldBool`: YAML 1.1 booleans, quoted on output for YAML 1.1 readers.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF"
    )
}

/// go-yaml's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+') | Some(b'-')) {
        i = 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        // [0-5]?[0-9]: one or two digits, the first of two at most 5.
        let d1 = b.get(i).copied();
        let d2 = b.get(i + 1).copied();
        match (d1, d2) {
            (Some(x), Some(y)) if (b'0'..=b'5').contains(&x) && y.is_ascii_digit() => i += 2,
            (Some(x), _) if x.is_ascii_digit() => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests;
