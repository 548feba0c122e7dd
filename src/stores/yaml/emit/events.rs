//! Stage 2 of the YAML emitter: the nodes as events, in the order go-yaml's `encoder.node`
//! produces them (a key's foot comment travels as the next event's tail comment).

use super::nodes::{Style, YKind, YNode, YScalar};

#[derive(Debug)]
pub(super) enum Ev {
    StreamStart,
    StreamEnd,
    DocStart,
    DocEnd,
    SeqStart,
    SeqEnd,
    MapStart,
    MapEnd,
    Scalar(YScalarRef),
}

/// A scalar event's payload (owned copy of the node's scalar).
#[derive(Debug)]
pub(super) struct YScalarRef {
    pub(super) value: Vec<u8>,
    pub(super) tag: Option<&'static str>,
    pub(super) style: Style,
}

#[derive(Debug)]
pub(super) struct Event {
    pub(super) ev: Ev,
    pub(super) head: Vec<u8>,
    pub(super) foot: Vec<u8>,
    pub(super) tail: Vec<u8>,
}

impl Event {
    pub(super) fn new(ev: Ev) -> Self {
        Event { ev, head: Vec::new(), foot: Vec::new(), tail: Vec::new() }
    }
}

pub(super) fn node_events(n: &YNode, tail: Vec<u8>, out: &mut Vec<Event>) {
    match &n.kind {
        YKind::Map(pairs) => {
            let mut start = Event::new(Ev::MapStart);
            start.head = n.head.clone();
            start.tail = tail;
            out.push(start);
            // A key's foot comment is emitted as the tail comment of the next key, or of the
            // mapping end, once the key's value has been streamed.
            let mut pending: Vec<u8> = Vec::new();
            for (k, v) in pairs {
                let foot = k.foot.clone();
                let key = YNode {
                    kind: match &k.kind {
                        YKind::Scalar(s) => {
                            YKind::Scalar(YScalar { value: s.value.clone(), tag: s.tag, style: s.style })
                        }
                        // Keys are always scalars in this tree.
                        _ => YKind::Scalar(YScalar { value: Vec::new(), tag: None, style: Style::Double }),
                    },
                    head: k.head.clone(),
                    foot: Vec::new(),
                };
                node_events(&key, std::mem::take(&mut pending), out);
                pending = foot;
                node_events(v, Vec::new(), out);
            }
            let mut end = Event::new(Ev::MapEnd);
            end.tail = pending;
            end.foot = n.foot.clone();
            out.push(end);
        }
        YKind::Seq(items) => {
            let mut start = Event::new(Ev::SeqStart);
            start.head = n.head.clone();
            out.push(start);
            for item in items {
                node_events(item, Vec::new(), out);
            }
            let mut end = Event::new(Ev::SeqEnd);
            end.foot = n.foot.clone();
            out.push(end);
        }
        YKind::Scalar(s) => {
            let mut e = Event::new(Ev::Scalar(YScalarRef { value: s.value.clone(), tag: s.tag, style: s.style }));
            e.head = n.head.clone();
            e.foot = n.foot.clone();
            e.tail = tail;
            out.push(e);
        }
    }
}
