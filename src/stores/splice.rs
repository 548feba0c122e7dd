//! Splicing shared by the stores that keep a file's layout by replacing byte ranges of its
//! source (JSON and dotenv): the replacements and the indentation of the line a value sits on.
//! YAML has its own rules for joining replacements (anchors, line breaks) in `yaml::splice`.

use crate::error::{Error, Result};

/// Byte-range replacements on a source text.
#[derive(Default)]
pub(crate) struct Edits {
    list: Vec<(usize, usize, Vec<u8>)>,
}

impl Edits {
    /// Replaces `start..end` with `with`.
    pub fn replace(&mut self, start: usize, end: usize, with: Vec<u8>) {
        self.list.push((start, end, with));
    }

    /// Applies the edits (non-overlapping) to `source`.
    pub fn apply(mut self, source: &[u8]) -> Result<Vec<u8>> {
        self.list.sort_by_key(|e| (e.0, e.1));
        let mut out = Vec::with_capacity(source.len());
        let mut at = 0;
        for (start, end, with) in self.list {
            if start < at || end < start || end > source.len() {
                return Err(Error::Generic("internal error: overlapping source edits".into()));
            }
            out.extend_from_slice(&source[at..start]);
            out.extend_from_slice(&with);
            at = end;
        }
        out.extend_from_slice(&source[at..]);
        Ok(out)
    }
}

/// The leading whitespace of the line containing `pos`.
pub(crate) fn line_indent(source: &[u8], pos: usize) -> String {
    let line_start = source[..pos.min(source.len())].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    source[line_start..].iter().take_while(|b| **b == b' ' || **b == b'\t').map(|b| *b as char).collect()
}
