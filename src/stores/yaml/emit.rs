//! Fresh YAML output in go-yaml v3's style (not yet implemented).

use crate::tree::{Document, Mapping};

/// Writes documents as go-yaml v3 (as used by sops 3.11) would: `indent` spaces per level,
/// documents separated by `---\n`.
pub fn emit_documents(documents: &[Document], indent: usize) -> String {
    let _ = (documents, indent);
    String::new()
}

/// Writes one mapping as the block content of a mapping nested `base` columns deep (each line
/// prefixed by `base` spaces), ending with a newline: used to append the `sops:` block to a
/// document whose own layout is kept.
pub fn emit_block_mapping(mapping: &Mapping, indent: usize, base: usize) -> String {
    let _ = (mapping, indent, base);
    String::new()
}
