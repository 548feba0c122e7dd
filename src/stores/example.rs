//! sops's example content for a new file (`EmitExample`), which `edit` opens when the file does
//! not exist yet: each store offers its format's through [`super::Store::example`].

use super::Format;
use crate::tree::{Comment, Document, MapItem, Mapping, Node, Scalar, SeqItem, Sequence, Value};

pub(crate) const WELCOME: &str = "Welcome to SOPS! Edit this file as you please!";

fn scalar(v: Value) -> Node {
    Node::Scalar(Scalar::new(v))
}

fn seq(values: Vec<Value>) -> Node {
    Node::Seq(Sequence { items: values.into_iter().map(|v| SeqItem::Node(scalar(v))).collect(), src: None })
}

/// sops's example content for a new file (`EmitExample`): the complex tree for YAML and JSON,
/// the simple (one section) tree for INI, the flat tree for dotenv, a sentence for binary.
pub(crate) fn example(format: Format) -> Vec<Document> {
    let mut m = Mapping::new();
    let comment = |text: &str| MapItem::Comment(Comment::new(text));
    match format {
        Format::Yaml | Format::Json => {
            m.push("hello", Node::str(WELCOME));
            m.push("example_key", Node::str("example_value"));
            m.items.push(comment(" Example comment"));
            m.push(
                "example_array",
                seq(vec![Value::Str("example_value1".into()), Value::Str("example_value2".into())]),
            );
            m.push("example_number", scalar(Value::Float(1234.56789)));
            m.push("example_booleans", seq(vec![Value::Bool(true), Value::Bool(false)]));
        }
        Format::Ini => {
            let mut section = Mapping::new();
            section.items.push(comment(" This is an example file."));
            section.push("hello", Node::str(WELCOME));
            section.push("example_key", Node::str("example_value"));
            m.push("Welcome!", Node::Map(section));
        }
        Format::Dotenv => {
            m.items.push(comment(" This is an example file."));
            m.push("hello", Node::str(WELCOME));
            m.push("example_key", Node::str("example_value"));
            m.push("example_multiline", Node::str("foo\nbar\nbaz"));
        }
        Format::Binary => {
            m.push("data", Node::str(WELCOME));
        }
    }
    vec![Document::new(m)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_match_sops() {
        let yaml = example(Format::Yaml);
        assert_eq!(yaml[0].root.items.len(), 6);
        assert!(matches!(&yaml[0].root.items[2], MapItem::Comment(c) if c.text == " Example comment"));
        let ini = example(Format::Ini);
        assert!(matches!(ini[0].root.get("Welcome!"), Some(Node::Map(_))));
        let env = example(Format::Dotenv);
        assert_eq!(env[0].root.get("example_multiline"), Some(&Node::str("foo\nbar\nbaz")));
        assert_eq!(example(Format::Binary)[0].root.get("data"), Some(&Node::str(WELCOME)));
    }
}
