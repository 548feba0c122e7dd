//! The INI store: sops's `stores/ini`, which reads and writes through gopkg.in/ini.v1 (v1.67.0
//! with `AllowNonUniqueSections`), reproduced here rule by rule.
//!
//! **Reading** (ini.v1's parser with default options):
//! - every section is a top-level key; keys before the first section belong to `DEFAULT`, which
//!   always exists; sections may repeat (each is its own item); a repeated key inside a section
//!   keeps its first position and takes the last value;
//! - `;` and `#` lines are collected and attached to the next key or section header, together
//!   with an inline comment: in a plain value anything from the first `#` or `;` on is a comment
//!   (`k = v # x` has the value `v`), as is anything after a section's `]`;
//! - a key runs to the first `=` or `:` (or is quoted with `"`, `"""` or a backquote); values are
//!   trimmed, lose one pair of surrounding `'`/`"` quotes, may be `"""…"""` or backquoted (over
//!   several lines), and a trailing `\` continues the value on the next lines; `-` is an
//!   auto-numbered key `#1`, `#2`, …; a leading BOM is skipped;
//! - in the tree (as sops builds it) a section's comment is the section's first item and a key's
//!   comment is the item *after* the key, its first `;`/`#` and spaces stripped. AADs are
//!   `section:key:` (comments `section:`). All values are strings.
//!
//! **Writing** is ini.v1's pretty format: `[section]` headers (none for a first `DEFAULT`
//! section, which is left out when empty), comments as `; text` before their key, keys padded so
//! the ` = ` signs of a section line up, quoting of keys and values that need it, and a blank line
//! between sections. The metadata is a last `[sops]` section of flattened keys *without* the
//! `sops_` prefix and with newlines escaped; sops writes those keys in random (Go map) order,
//! kvsops sorted. The input must be UTF-8.
//!
//! **Layout.** INI output is always written in this canonical form (the source is not spliced):
//! sops itself rewrites INI files this way, and a file already in that form round-trips byte for
//! byte.

use crate::error::{Error, Result};
use crate::metadata::{flatten, unflatten, Metadata};
use crate::stores::{contains, EncryptedFile, Format, Store};
use crate::tree::{Comment, Document, MapItem, Mapping, Node, Scalar, Value};

/// The Flux detection marker of INI files.
pub const MARKER: &[u8] = b"[sops]";

/// The name of the implicit first section.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// The INI store.
pub struct IniStore;

fn perr(message: impl Into<String>) -> Error {
    Error::parse("ini", message)
}

#[derive(Default)]
struct Key {
    name: String,
    value: String,
    comment: String,
}

#[derive(Default)]
struct Section {
    name: String,
    comment: String,
    keys: Vec<Key>,
}

impl Section {
    fn new(name: &str) -> Self {
        Section { name: name.to_string(), ..Default::default() }
    }

    /// ini.v1's `NewKey`: a repeated name keeps its place and takes the new value.
    fn set(&mut self, name: String, value: String) -> &mut Key {
        let idx = match self.keys.iter().position(|k| k.name == name) {
            Some(i) => {
                self.keys[i].value = value;
                i
            }
            None => {
                self.keys.push(Key { name, value, comment: String::new() });
                self.keys.len() - 1
            }
        };
        &mut self.keys[idx]
    }
}

/// Splits into lines as ini.v1's `ReadBytes('\n')` does: each line keeps its newline.
struct Lines<'a> {
    text: &'a str,
    line_no: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<&'a str> {
        if self.text.is_empty() {
            return None;
        }
        let end = self.text.find('\n').map_or(self.text.len(), |i| i + 1);
        let (line, rest) = self.text.split_at(end);
        self.text = rest;
        self.line_no += 1;
        Some(line)
    }
}

fn find_any(s: &str, chars: &[char]) -> Option<usize> {
    s.find(|c| chars.contains(&c))
}

/// ini.v1's `readKeyName`: the key and the offset of the value in `line`.
fn read_key_name(line: &str, line_no: usize) -> Result<(String, usize)> {
    let quote = if line.starts_with('"') {
        if line.len() > 6 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else {
            "\""
        }
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        let pos =
            line[start..].find(quote).ok_or_else(|| perr(format!("line {line_no}: missing closing key quote")))?
                + start;
        let i = find_any(&line[pos + start..], &['=', ':'])
            .ok_or_else(|| perr(format!("line {line_no}: key-value delimiter not found")))?;
        let end = pos + i;
        return Ok((line[start..pos].trim().to_string(), end + start + 1));
    }
    match find_any(line, &['=', ':']) {
        None => Err(perr(format!("line {line_no}: key-value delimiter not found"))),
        Some(0) => Err(perr(format!("line {line_no}: empty key name"))),
        Some(end) => Ok((line[..end].trim().to_string(), end + 1)),
    }
}

fn has_surrounded_quote(s: &str, q: char) -> bool {
    s.len() >= 2 && s.starts_with(q) && s.ends_with(q) && s[1..].find(q) == Some(s.len() - 2)
}

/// The text of a comment as ini.v1 cleans what follows a section's `]`: from the first `#`/`;`.
fn clean_comment(s: &str) -> Option<&str> {
    find_any(s, &['#', ';']).map(|i| &s[i..])
}

struct Parser<'a> {
    lines: Lines<'a>,
    comment: String,
}

impl Parser<'_> {
    /// ini.v1's `readValue` (default options).
    fn read_value(&mut self, input: &str) -> Result<String> {
        let line = input.trim_start();
        if line.is_empty() {
            return Ok(String::new());
        }
        let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        if !quote.is_empty() {
            let rest = &line[quote.len()..];
            return match rest.rfind(quote) {
                Some(pos) => Ok(rest[..pos].to_string()),
                None => self.read_multilines(rest.to_string(), quote),
            };
        }
        let line = line.trim();
        if let Some(stripped) = line.strip_suffix('\\') {
            return Ok(self.read_continuation(stripped.to_string()));
        }
        let mut line = line;
        if let Some(i) = find_any(line, &['#', ';']) {
            self.comment.push_str(&line[i..]);
            line = line[..i].trim();
        }
        if has_surrounded_quote(line, '\'') || has_surrounded_quote(line, '"') {
            line = &line[1..line.len() - 1];
        }
        Ok(line.to_string())
    }

    fn read_multilines(&mut self, mut val: String, quote: &str) -> Result<String> {
        loop {
            let Some(next) = self.lines.next() else {
                return Err(perr(format!("line {}: missing closing value quote", self.lines.line_no)));
            };
            if let Some(pos) = next.rfind(quote) {
                val.push_str(&next[..pos]);
                if let Some(c) = clean_comment(&next[pos..]) {
                    self.comment.push_str(c.trim());
                }
                return Ok(val);
            }
            val.push_str(next);
        }
    }

    fn read_continuation(&mut self, mut val: String) -> String {
        while let Some(next) = self.lines.next() {
            let next = next.trim();
            if next.is_empty() {
                break;
            }
            val.push_str(next);
            match val.strip_suffix('\\') {
                Some(v) => val = v.to_string(),
                None => break,
            }
        }
        val
    }

    fn take_comment(&mut self) -> String {
        let c = self.comment.trim().to_string();
        self.comment.clear();
        c
    }
}

/// Parses INI text into ini.v1's sections.
fn parse_sections(input: &[u8]) -> Result<Vec<Section>> {
    let text = std::str::from_utf8(input).map_err(|_| perr("the input is not UTF-8"))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut p = Parser { lines: Lines { text, line_no: 0 }, comment: String::new() };
    let mut sections = vec![Section::new(DEFAULT_SECTION)];
    let mut count = 1;
    while let Some(raw) = p.lines.next() {
        let line_no = p.lines.line_no;
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') {
            p.comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let close = line.rfind(']').ok_or_else(|| perr(format!("line {line_no}: unclosed section")))?;
            let name = &line[1..close];
            if name.is_empty() {
                return Err(perr(format!("line {line_no}: empty section name")));
            }
            let mut sec = Section::new(name);
            if let Some(c) = clean_comment(&line[close + 1..]) {
                p.comment.push_str(c);
            }
            sec.comment = p.take_comment();
            sections.push(sec);
            count = 1;
            continue;
        }
        let (mut name, offset) = read_key_name(line, line_no)?;
        if name.is_empty() {
            return Err(perr(format!("line {line_no}: empty key name")));
        }
        if name == "-" {
            name = format!("#{count}");
            count += 1;
        }
        let value = p.read_value(&line[offset..])?;
        let comment = p.take_comment();
        let sec = sections.last_mut().ok_or_else(|| perr("no section"))?;
        sec.set(name, value).comment = comment;
    }
    Ok(sections)
}

/// sops's `stripCommentChar`.
fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_string()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_string()
    } else {
        c.to_string()
    }
}

fn section_tree(sec: &Section) -> Mapping {
    let mut m = Mapping::new();
    if !sec.comment.is_empty() {
        m.items.push(MapItem::Comment(Comment::new(strip_comment_char(&sec.comment))));
    }
    for k in &sec.keys {
        m.push(k.name.clone(), Node::str(k.value.clone()));
        if !k.comment.is_empty() {
            m.items.push(MapItem::Comment(Comment::new(strip_comment_char(&k.comment))));
        }
    }
    m
}

fn tree_from_sections(sections: &[Section]) -> Mapping {
    let mut root = Mapping::new();
    for sec in sections {
        root.push(sec.name.clone(), Node::Map(section_tree(sec)));
    }
    root
}

/// sops's `encodeTree`: the tree back into sections (a comment after a key is that key's).
fn sections_from_tree(root: &Mapping) -> Result<Vec<Section>> {
    let mut out = Vec::new();
    for e in root.entries() {
        let Node::Map(items) = &e.value else {
            return Err(Error::DumpTree(format!(
                "INI section {:?} must be a mapping of keys (INI cannot hold nested values)",
                e.key
            )));
        };
        let mut sec = Section::new(&e.key);
        let mut rest = items.items.as_slice();
        if let Some(MapItem::Comment(c)) = rest.first() {
            sec.comment = c.text.clone();
            rest = &rest[1..];
        }
        let mut last: Option<usize> = None;
        for item in rest {
            match item {
                MapItem::Comment(c) => {
                    if let Some(i) = last {
                        sec.keys[i].comment = c.text.clone();
                    }
                }
                MapItem::Entry(k) => {
                    if k.key.is_empty() {
                        return Err(Error::Unsupported(format!("INI section {:?} has an empty key name", e.key)));
                    }
                    let value = match &k.value {
                        Node::Scalar(Scalar { value: Value::Bytes(b), .. }) => String::from_utf8_lossy(b).into_owned(),
                        Node::Scalar(s) => String::from_utf8_lossy(&crate::gofmt::val_to_string(&s.value)).into_owned(),
                        _ => {
                            return Err(Error::Unsupported(format!(
                                "INI key {:?} in section {:?} holds a nested value",
                                k.key, e.key
                            )))
                        }
                    };
                    sec.set(k.key.clone(), value);
                    last = sec.keys.iter().position(|x| x.name == k.key);
                }
            }
        }
        out.push(sec);
    }
    Ok(out)
}

fn write_comment(out: &mut String, comment: &str, trim_plain: bool) {
    for line in comment.split('\n') {
        match line.chars().next() {
            None => out.push(';'),
            Some('#') | Some(';') => {
                out.push_str(&line[..1]);
                out.push(' ');
                out.push_str(line[1..].trim());
            }
            Some(_) => {
                out.push_str("; ");
                out.push_str(if trim_plain { line.trim() } else { line });
            }
        }
        out.push('\n');
    }
}

fn quoted_key(name: &str) -> String {
    // A key starting like a comment (`#1`, ini.v1's name for an auto-increment `-` key) would read
    // back as a comment: quoted, it reads back as the key.
    if name.contains('"') || name.contains('=') || name.contains(':') || name.starts_with(['#', ';']) {
        format!("`{name}`")
    } else if name.contains('`') {
        format!("\"\"\"{name}\"\"\"")
    } else {
        name.to_string()
    }
}

fn quoted_value(v: &str) -> String {
    if v.contains('\n') || v.contains('`') {
        format!("\"\"\"{v}\"\"\"")
    } else if v.contains('#') || v.contains(';') {
        format!("`{v}`")
    } else if v.trim().len() != v.len() {
        format!("\"{v}\"")
    } else {
        v.to_string()
    }
}

/// ini.v1's `WriteTo` in its default pretty format.
fn write_sections(sections: &[Section]) -> Vec<u8> {
    let mut out = String::new();
    let last = sections.len().saturating_sub(1);
    for (i, sec) in sections.iter().enumerate() {
        if !sec.comment.is_empty() {
            write_comment(&mut out, &sec.comment, false);
        }
        if i > 0 || sec.name.to_uppercase() != DEFAULT_SECTION {
            out.push('[');
            out.push_str(&sec.name);
            out.push_str("]\n");
        } else if sec.keys.is_empty() {
            continue;
        }
        let names: Vec<String> = sec.keys.iter().map(|k| quoted_key(&k.name)).collect();
        let align = names.iter().map(|n| n.len()).max().unwrap_or(0);
        for (k, name) in sec.keys.iter().zip(&names) {
            if !k.comment.is_empty() {
                write_comment(&mut out, &k.comment, true);
            }
            out.push_str(name);
            out.push_str(&" ".repeat(align - name.len()));
            out.push_str(" = ");
            out.push_str(&quoted_value(&k.value));
            out.push('\n');
        }
        if i != last {
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn single(documents: &[Document]) -> Result<&Document> {
    match documents {
        [d] => Ok(d),
        [] => Err(Error::NoDocuments),
        _ => Err(Error::Unsupported("INI files hold exactly one document".into())),
    }
}

impl Store for IniStore {
    fn format(&self) -> Format {
        Format::Ini
    }

    fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
        Ok(vec![Document::new(tree_from_sections(&parse_sections(input)?))])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
        let sections = parse_sections(input)?;
        let sops = sections.iter().find(|s| s.name == "sops").ok_or(Error::MetadataNotFound)?;
        let pairs: Vec<(String, String)> =
            sops.keys.iter().map(|k| (k.name.clone(), k.value.replace("\\n", "\n"))).collect();
        let metadata = Metadata::from_mapping(&unflatten(&pairs)?)?;
        let data: Vec<Section> = sections.into_iter().filter(|s| s.name != "sops").collect();
        Ok(EncryptedFile { documents: vec![Document::new(tree_from_sections(&data))], metadata })
    }

    fn emit_plain(&self, documents: &[Document], _source: Option<&[u8]>) -> Result<Vec<u8>> {
        Ok(write_sections(&sections_from_tree(&single(documents)?.root)?))
    }

    fn emit_encrypted(&self, documents: &[Document], metadata: &Metadata, _source: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut sections = sections_from_tree(&single(documents)?.root)?;
        let mut sops = Section::new("sops");
        for (k, v) in flatten(&metadata.to_mapping()) {
            sops.set(k, v.replace('\n', "\\n"));
        }
        sections.push(sops);
        Ok(write_sections(&sections))
    }

    fn has_marker(&self, input: &[u8]) -> bool {
        contains(input, MARKER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;

    fn section<'a>(root: &'a Mapping, name: &str) -> &'a Mapping {
        match root.get(name) {
            Some(Node::Map(m)) => m,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn describe(m: &Mapping) -> Vec<String> {
        m.items
            .iter()
            .map(|i| match i {
                MapItem::Comment(c) => format!("#{}", c.text),
                MapItem::Entry(Entry { key, value: Node::Scalar(s), .. }) => {
                    format!("{key}={}", s.value.as_str().unwrap_or("?"))
                }
                MapItem::Entry(e) => format!("{}=<complex>", e.key),
            })
            .collect()
    }

    #[test]
    fn reads_like_ini_v1() {
        let src = "\u{FEFF}top = 1\n; c1\n# c2\n[sec1] ; head\nkey1 = value1\nkey2=2 # tail\nq = \"quoted\"\nb = `a#b`\nm = \"\"\"x\ny\"\"\"\ncont = a\\\n  b\n\n-: auto\nkey1 = again\n[sec1]\nk: v\n";
        let root = IniStore.load_plain(src.as_bytes()).unwrap().remove(0).root;
        let names: Vec<_> = root.entries().map(|e| e.key.as_str()).collect();
        assert_eq!(names, ["DEFAULT", "sec1", "sec1"]);
        assert_eq!(describe(section(&root, "DEFAULT")), ["top=1"]);
        let s1 = match &root.items[1] {
            MapItem::Entry(e) => match &e.value {
                Node::Map(m) => m,
                _ => panic!(),
            },
            _ => panic!(),
        };
        assert_eq!(
            describe(s1),
            ["#c1\n# c2\n; head", "key1=again", "key2=2", "#tail", "q=quoted", "b=a#b", "m=x\ny", "cont=ab", "#1=auto"]
        );
    }

    #[test]
    fn errors_name_the_line_not_the_content() {
        for bad in ["[sec\n", "a = 1\nsecretline\n", "= v\n", "[]\n"] {
            let err = IniStore.load_plain(bad.as_bytes()).unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn writes_like_ini_v1() {
        let src = "top=1\n[s]\n; about k\nk = v\nlonger_key=  x  \nhash = `a;b`\n[empty]\n";
        let docs = IniStore.load_plain(src.as_bytes()).unwrap();
        let out = String::from_utf8(IniStore.emit_plain(&docs, None).unwrap()).unwrap();
        assert_eq!(out, "top = 1\n\n[s]\n; about k\nk          = v\nlonger_key = x\nhash       = `a;b`\n\n[empty]\n");
        // Canonical files round-trip exactly.
        let again = IniStore.emit_plain(&IniStore.load_plain(out.as_bytes()).unwrap(), None).unwrap();
        assert_eq!(String::from_utf8(again).unwrap(), out);
        // Values that need quoting survive a round trip.
        let mut root = Mapping::new();
        let mut s = Mapping::new();
        for v in [" pad ", "a#b", "multi\nline", "`tick", "k=v:w"] {
            s.push(format!("k{}", s.items.len()), Node::str(v));
        }
        s.push("we=ird", Node::str("x"));
        root.push("sec", Node::Map(s.clone()));
        let out = IniStore.emit_plain(&[Document::new(root)], None).unwrap();
        let back = IniStore.load_plain(&out).unwrap().remove(0).root;
        assert_eq!(section(&back, "sec"), &s, "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn metadata_goes_in_a_sops_section_without_prefix() {
        let mut md = Metadata::new(
            vec![vec![crate::keys::MasterKeyEntry::Age { recipient: "age1x".into(), enc: "A\nB\n".into() }]],
            Some(1),
            None,
            false,
        );
        md.mac = "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]".into();
        let docs = IniStore.load_plain(b"[a]\nk = ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n").unwrap();
        let out = IniStore.emit_encrypted(&docs, &md, None).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains("\n\n[sops]\nage__list_0__map_enc       = A\\nB\\n\nage__list_0__map_recipient = age1x\n"),
            "{text}"
        );
        assert!(text.contains("\nshamir_threshold           = 1\n"));
        assert!(IniStore.has_marker(&out));
        let back = IniStore.load_encrypted(&out).unwrap();
        assert_eq!(back.metadata.key_groups, md.key_groups);
        assert_eq!(back.metadata.shamir_threshold, Some(1));
        let names: Vec<_> = back.documents[0].root.entries().map(|e| e.key.clone()).collect();
        assert_eq!(names, ["DEFAULT", "a"]);
    }
}
