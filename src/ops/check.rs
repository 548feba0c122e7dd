//! `kvsops check`: proves, without any key, that no value `.sops.yaml` wants encrypted is in clear.
//!
//! A file is *governed* when the first creation rule matching its path (relative to the config's
//! directory, exactly as sops matches) has a `path_regex`. A catch-all rule without `path_regex`
//! says which keys to use for files you choose to encrypt, not that every file must be encrypted,
//! so files it alone matches are treated as outside every rule (they are checked when named
//! explicitly). A governed file must be a sops file (metadata parses, `mac` and `version` present),
//! its recorded crypt rule must be the creation rule's, and every leaf that the recorded rule
//! selects must be an ENC value. That is a structure check only: nothing is decrypted, so it runs
//! in CI without keys, and each file is read once and parsed once.
//!
//! With `--all`, plaintext YAML/JSON files outside every rule that look like a Kubernetes Secret
//! are flagged too, and sops files outside every rule are checked against their recorded rule.
//!
//! Files are checked in parallel (scoped threads over an atomic cursor); results come back in input
//! order so the report is stable.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cipher::{is_encrypted, EncValue};
use crate::config::{Config, CreationRule, CONFIG_FILE_NAME};
use crate::error::{Error, Result};
use crate::metadata::has_sops_key;
use crate::rules::{effective, CryptRule};
use crate::stores::{contains, EncryptedFile, Format, Store};
use crate::tree::{walk_leaves, Document, Leaf, Mapping, MisplacedComment, Node, Scalar, Value};

use super::display_path;
use super::listing::{self, Tracked};
use crate::platform::git;

/// At most this many plaintext key paths are listed for a file that is not encrypted at all.
const MAX_LISTED_PLAIN_KEYS: usize = 20;

/// One problem in one file: printed as `path: key.path: reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, as the user or git named it.
    pub path: PathBuf,
    /// The key path (`data.password`), `sops…` for metadata, `(file)` for the file as a whole.
    pub key: String,
    /// Why it is a problem; never contains a value.
    pub reason: String,
}

impl Problem {
    fn new(path: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem { path: path.to_path_buf(), key: key.into(), reason: reason.into() }
    }

    /// The report line, path bytes kept exactly (non-UTF-8 names included), with a newline.
    pub fn line(&self) -> Vec<u8> {
        let mut out = git::path_bytes(&self.path);
        out.extend_from_slice(format!(": {}: {}\n", self.key, self.reason).as_bytes());
        out
    }
}

/// Checks files against a config. Shared by all worker threads.
pub struct Checker<'a> {
    config: Option<&'a Config>,
    all: bool,
    stores: Vec<(Format, Box<dyn Store>)>,
}

/// A file to check: the name to report and the path used for rule matching and format detection
/// (absolute, or relative to the working directory).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub display: PathBuf,
    pub rule_path: PathBuf,
    /// Named on the command line: an unreadable file is a problem, and a catch-all rule applies.
    pub explicit: bool,
}

/// Why a file is read at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Under creation rule `i`.
    Governed(usize),
    /// Outside every rule, looked at only for `--all`.
    Outside,
    /// A temporary file an interrupted kvsops write left behind (`.kvsops-<pid>-<hex>.tmp`).
    Leftover,
}

impl<'a> Checker<'a> {
    /// A checker for `config` (`None`: no `.sops.yaml`, so only `--all` finds anything).
    pub fn new(config: Option<&'a Config>, all: bool) -> Self {
        let settings = config.map(|c| c.stores).unwrap_or_default();
        let stores = [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary]
            .into_iter()
            .map(|f| (f, f.store(&settings)))
            .collect();
        Checker { config, all, stores }
    }

    fn store(&self, format: Format) -> &dyn Store {
        self.stores
            .iter()
            .find(|(f, _)| *f == format)
            .map(|(_, s)| s.as_ref())
            .unwrap_or_else(|| self.stores[0].1.as_ref())
    }

    fn rule(&self, i: usize) -> Option<&CreationRule> {
        self.config.and_then(|c| c.creation_rules.get(i))
    }

    /// Whether (and why) a file must be read; `None` means it can be skipped unread.
    fn scope(&self, c: &Candidate) -> Option<Scope> {
        if c.rule_path.file_name().is_some_and(crate::platform::fsio::is_temp_name) {
            return Some(Scope::Leftover);
        }
        if c.rule_path.file_name().is_some_and(|n| n == CONFIG_FILE_NAME) {
            return None;
        }
        if let Some(cfg) = self.config {
            if let Some((i, _)) = listing::governing_rule(cfg, &c.rule_path) {
                return Some(Scope::Governed(i));
            }
            // A catch-all rule governs a file only when it is named explicitly.
            if c.explicit {
                if let Some(i) = cfg
                    .rule_for(&c.rule_path)
                    .and_then(|rule| cfg.creation_rules.iter().position(|r| std::ptr::eq(r, rule)))
                {
                    return Some(Scope::Governed(i));
                }
            }
        }
        let format = Format::from_path(&c.rule_path);
        (self.all && matches!(format, Format::Yaml | Format::Json)).then_some(Scope::Outside)
    }

    /// True when the candidate's content is needed (so staged blobs can be fetched selectively).
    pub fn wants(&self, c: &Candidate) -> bool {
        self.scope(c).is_some()
    }

    /// Checks one file's bytes.
    pub fn check_bytes(&self, c: &Candidate, bytes: &[u8]) -> Vec<Problem> {
        let format = Format::from_path(&c.rule_path);
        match self.scope(c) {
            None => Vec::new(),
            Some(Scope::Governed(i)) => self.check_governed(&c.display, i, format, bytes),
            Some(Scope::Outside) => self.check_outside(&c.display, format, bytes),
            Some(Scope::Leftover) => self.check_leftover(&c.display, bytes),
        }
    }

    /// A leftover temporary file is a problem when it may hold plaintext: anything but a complete
    /// sops file (an interrupted `decrypt -i`, or a write cut short).
    fn check_leftover(&self, path: &Path, bytes: &[u8]) -> Vec<Problem> {
        let is_sops_file = contains(bytes, b"sops")
            && contains(bytes, b"mac")
            && [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini].into_iter().any(|f| {
                self.store(f)
                    .load_encrypted(bytes)
                    .is_ok_and(|file| !file.metadata.mac.is_empty() && !file.metadata.version.is_empty())
            });
        if is_sops_file {
            return Vec::new();
        }
        vec![Problem::new(
            path,
            "(file)",
            "temporary file left by an interrupted kvsops write; it may hold plaintext: delete it (and never commit it)",
        )]
    }

    /// Reads a working-tree file and checks it; a file that vanished is skipped unless it was named.
    pub fn check_file(&self, c: &Candidate) -> Vec<Problem> {
        if !self.wants(c) {
            return Vec::new();
        }
        match std::fs::read(&c.rule_path) {
            Ok(bytes) => self.check_bytes(c, &bytes),
            // Deleted but still tracked, or a submodule: nothing to check.
            Err(e)
                if !c.explicit
                    && matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory) =>
            {
                Vec::new()
            }
            Err(e) => vec![Problem::new(&c.display, "(file)", format!("cannot read: {e}"))],
        }
    }

    fn describe_rule(&self, i: usize) -> String {
        match self.rule(i).and_then(|r| r.path_regex.as_ref()) {
            Some(re) => format!("creation_rules[{i}] (path_regex {:?})", re.as_str()),
            None => format!("creation_rules[{i}]"),
        }
    }

    fn check_governed(&self, path: &Path, i: usize, format: Format, bytes: &[u8]) -> Vec<Problem> {
        let store = self.store(format);
        match store.load_encrypted(bytes) {
            Ok(file) => {
                let expected = self.rule(i).map(|r| effective(r.crypt_rule.as_ref()));
                check_encrypted(path, file, expected.as_ref().map(|r| (r, self.describe_rule(i))), format)
            }
            Err(Error::InvalidMetadata(m)) => vec![Problem::new(path, "sops", format!("invalid sops metadata: {m}"))],
            Err(load_err) => {
                // No metadata (or a store that cannot tell): is it a readable plaintext file?
                match store.load_plain(bytes) {
                    Ok(mut docs) if !docs.iter().any(|d| has_sops_key(&d.root)) => {
                        let mut out = vec![Problem::new(
                            path,
                            "sops",
                            format!(
                                "not encrypted: no sops metadata, but {} requires a sops file",
                                self.describe_rule(i)
                            ),
                        )];
                        let rule = if format.records_rule() {
                            effective(self.rule(i).and_then(|r| r.crypt_rule.as_ref()))
                        } else {
                            CryptRule::default_rule()
                        };
                        out.extend(plain_leaves(path, &mut docs, &rule));
                        out
                    }
                    _ => vec![Problem::new(path, "(file)", format!("not a readable sops file: {load_err}"))],
                }
            }
        }
    }

    fn check_outside(&self, path: &Path, format: Format, bytes: &[u8]) -> Vec<Problem> {
        let store = self.store(format);
        if contains(bytes, b"sops") && contains(bytes, b"mac") {
            if let Ok(file) = store.load_encrypted(bytes) {
                return check_encrypted(path, file, None, format);
            }
        }
        if !contains(bytes, b"Secret") {
            return Vec::new();
        }
        // Outside every rule a file that does not parse (a Helm template, say) is not our business.
        let Ok(docs) = store.load_plain(bytes) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for doc in &docs {
            if has_sops_key(&doc.root) {
                continue;
            }
            if let Some(key) = kubernetes_secret_payload(&doc.root) {
                out.push(Problem::new(
                    path,
                    key,
                    "plaintext Kubernetes Secret outside every creation rule (encrypt it, or add a rule for it to .sops.yaml)",
                ));
            }
        }
        out
    }
}

/// `data` or `stringData` when the mapping is a `v1` Secret with a non-empty payload.
fn kubernetes_secret_payload(root: &Mapping) -> Option<&'static str> {
    let is =
        |k: &str, v: &str| matches!(root.get(k), Some(Node::Scalar(Scalar { value: Value::Str(s), .. })) if s == v);
    if !is("apiVersion", "v1") || !is("kind", "Secret") {
        return None;
    }
    ["stringData", "data"].into_iter().find(|k| match root.get(k) {
        Some(Node::Map(m)) => m.entries().next().is_some(),
        _ => false,
    })
}

/// Checks an encrypted file's metadata and that every leaf its recorded rule selects is an ENC value.
/// `expected` is the creation rule's crypt rule and its description, when the file is governed.
fn check_encrypted(
    path: &Path,
    file: EncryptedFile,
    expected: Option<(&CryptRule, String)>,
    format: Format,
) -> Vec<Problem> {
    let md = &file.metadata;
    let mut out = Vec::new();
    if md.mac.is_empty() {
        out.push(Problem::new(path, "sops.mac", "missing: not a complete sops file"));
    } else if EncValue::parse(&md.mac).is_err() {
        out.push(Problem::new(path, "sops.mac", "not an ENC value"));
    }
    if md.version.is_empty() {
        out.push(Problem::new(path, "sops.version", "missing: not a complete sops file"));
    }
    let recorded = if format.records_rule() { md.effective_rule() } else { CryptRule::default_rule() };
    let mut docs = file.documents;
    let mut also = None;
    if let (Some((want, which)), true) = (expected, format.records_rule()) {
        if *want != recorded {
            also = Some(want);
            out.push(Problem::new(
                path,
                format!("sops.{}", recorded.kind.key()),
                format!(
                    "the file records {}: {:?}, but {which} says {}: {:?} (re-encrypt it with the current rule)",
                    recorded.kind.key(),
                    recorded.text,
                    want.kind.key(),
                    want.text
                ),
            ));
        }
    }
    out.extend(unencrypted_leaves(path, &mut docs, &recorded));
    // With a mismatch, also name what the creation rule wants encrypted and is not.
    if let Some(want) = also {
        for p in unencrypted_leaves(path, &mut docs, want) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Every leaf `rule` selects that is not an ENC value (empty strings are fine: sops never encrypts them).
fn unencrypted_leaves(path: &Path, docs: &mut [Document], rule: &CryptRule) -> Vec<Problem> {
    let mut out = Vec::new();
    for doc in docs.iter_mut() {
        let _ = walk_leaves::<MisplacedComment, _>(&mut doc.root, &mut |ctx, leaf| {
            if !rule.should_encrypt(ctx.path, ctx.comments, ctx.is_comment) {
                return Ok(leaf);
            }
            let key = display_path(ctx.path);
            let reason = match &leaf {
                Leaf::Scalar(Scalar { value: Value::Str(s), .. }) => enc_problem(s, "string"),
                Leaf::Scalar(Scalar { value, .. }) => {
                    Some(format!("plaintext {} value where the file's rule requires encryption", value.type_name()))
                }
                Leaf::Comment(c) => enc_problem(&c.text, "comment"),
            };
            if let Some(reason) = reason {
                let key = if ctx.is_comment { format!("{key} (comment)") } else { key };
                out.push(Problem::new(path, key, reason));
            }
            Ok(leaf)
        });
    }
    out
}

fn enc_problem(s: &str, what: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else if !is_encrypted(s) {
        Some(format!("plaintext {what} where the file's rule requires encryption"))
    } else if EncValue::parse(s).is_err() {
        Some(format!("malformed ENC value ({what})"))
    } else {
        None
    }
}

/// For a file with no metadata at all: the values the creation rule would have encrypted.
fn plain_leaves(path: &Path, docs: &mut [Document], rule: &CryptRule) -> Vec<Problem> {
    let mut found = unencrypted_leaves(path, docs, rule);
    let total = found.len();
    if total > MAX_LISTED_PLAIN_KEYS {
        found.truncate(MAX_LISTED_PLAIN_KEYS);
        found.push(Problem::new(path, "…", format!("and {} more plaintext values", total - MAX_LISTED_PLAIN_KEYS)));
    }
    found
}

/// The result of a check run.
#[derive(Debug, Default)]
pub struct Report {
    /// How many files were looked at (listed), and how many were actually read and checked.
    pub listed: usize,
    pub checked: usize,
    pub problems: Vec<Problem>,
}

/// The working-tree files to check: the named ones (directories expanded through git when inside
/// a work tree, by walking otherwise; see [`listing`]), or with no names every file git tracks (the
/// whole repository), or the whole working directory tree outside git. Paths are relative to `cwd`.
pub fn list_worktree(cwd: &Path, paths: &[PathBuf]) -> Result<Vec<Candidate>> {
    let in_git = git::toplevel(cwd).is_some();
    let mut out = Vec::new();
    let plain = |p: PathBuf, explicit: bool| Candidate { display: p.clone(), rule_path: p, explicit };
    if paths.is_empty() {
        if in_git {
            out.extend(git::ls_files(cwd, &[])?.into_iter().map(|p| plain(p, false)));
            out.extend(git::ls_untracked_temp_files(cwd, &[])?.into_iter().map(|p| plain(p, false)));
        } else {
            listing::walk_dir(Path::new("."), cwd, &mut |p| out.push(plain(p, false)))?;
        }
        return Ok(out);
    }
    for p in paths {
        let full = cwd.join(p);
        if full.is_dir() {
            out.extend(listing::files_under(cwd, p, Tracked::Only)?.into_iter().map(|p| plain(p, false)));
            if in_git {
                let spec: Vec<OsString> = vec![p.clone().into_os_string()];
                out.extend(git::ls_untracked_temp_files(cwd, &spec)?.into_iter().map(|p| plain(p, false)));
            }
        } else {
            out.push(plain(p.clone(), true));
        }
    }
    Ok(out)
}

/// Checks working-tree files.
/// `on_done` is called as each file is finished (from the worker threads): the CLI's progress line.
pub fn check_worktree(checker: &Checker<'_>, candidates: &[Candidate], on_done: &(dyn Fn() + Sync)) -> Report {
    let results = crate::stack::par_map(candidates, crate::stack::cores(), 16, |c| {
        let result = (checker.wants(c), checker.check_file(c));
        on_done();
        result
    });
    Report {
        listed: candidates.len(),
        checked: results.iter().filter(|(w, _)| *w).count(),
        problems: results.into_iter().flat_map(|(_, p)| p).collect(),
    }
}

/// Checks what the next commit would contain (the blobs in the index, not the working tree):
/// additions, modifications, renames (under their new name) and copies; deletions are skipped.
/// Reported paths are relative to the top of the work tree.
pub fn check_staged(checker: &Checker<'_>, toplevel: &Path) -> Result<Report> {
    let staged = git::staged_files(toplevel)?;
    let candidates: Vec<(Candidate, String)> = staged
        .into_iter()
        .map(|s| {
            let rule_path = toplevel.join(&s.path);
            (Candidate { display: s.path, rule_path, explicit: false }, s.blob)
        })
        .filter(|(c, _)| checker.wants(c))
        .collect();
    let ids: Vec<String> = candidates.iter().map(|(_, id)| id.clone()).collect();
    let blobs = git::read_blobs(toplevel, &ids)?;
    let pairs: Vec<(&Candidate, &Vec<u8>)> = candidates.iter().map(|(c, _)| c).zip(blobs.iter()).collect();
    let results = crate::stack::par_map(&pairs, crate::stack::cores(), 16, |(c, bytes)| checker.check_bytes(c, bytes));
    Ok(Report {
        listed: candidates.len(),
        checked: candidates.len(),
        problems: results.into_iter().flatten().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKeyEntry;
    use crate::metadata::Metadata;
    use crate::rules::RuleKind;
    use crate::tree::{Comment, MapItem};

    const ENC: &str = "ENC[AES256_GCM,data:YWJj,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";

    /// A store that hands back a fixed tree: lets the checker be tested without a real parser.
    struct FakeStore {
        docs: Vec<Document>,
        metadata: Option<Metadata>,
    }

    impl Store for FakeStore {
        fn format(&self) -> Format {
            Format::Yaml
        }
        fn load_plain(&self, input: &[u8]) -> Result<Vec<Document>> {
            if input == b"garbage" {
                return Err(Error::parse("yaml", "line 1: bad"));
            }
            Ok(self.docs.clone())
        }
        fn load_encrypted(&self, input: &[u8]) -> Result<EncryptedFile> {
            if input == b"garbage" {
                return Err(Error::parse("yaml", "line 1: bad"));
            }
            match &self.metadata {
                Some(m) => Ok(EncryptedFile { documents: self.docs.clone(), metadata: m.clone() }),
                None => Err(Error::MetadataNotFound),
            }
        }
        fn emit_plain(&self, _: &[Document], _: Option<&[u8]>) -> Result<Vec<u8>> {
            Err(Error::Unsupported("fake".into()))
        }
        fn emit_encrypted(&self, _: &[Document], _: &Metadata, _: Option<&[u8]>) -> Result<Vec<u8>> {
            Err(Error::Unsupported("fake".into()))
        }
        fn has_marker(&self, _: &[u8]) -> bool {
            false
        }
    }

    fn secret(password: Node, name: &str) -> Document {
        let mut data = Mapping::new();
        data.push("password", password);
        data.items.push(MapItem::Comment(Comment::new(ENC)));
        let mut meta = Mapping::new();
        meta.push("name", Node::str(name));
        let mut root = Mapping::new();
        root.push("apiVersion", Node::str("v1"));
        root.push("kind", Node::str("Secret"));
        root.push("metadata", Node::Map(meta));
        root.push("stringData", Node::Map(data));
        Document::new(root)
    }

    fn metadata(rule: Option<CryptRule>) -> Metadata {
        let mut md = Metadata::new(
            vec![vec![MasterKeyEntry::Age { recipient: "age1x".into(), enc: "x".into() }]],
            None,
            rule,
            false,
        );
        md.mac = ENC.into();
        md
    }

    fn k8s_rule() -> CryptRule {
        CryptRule::new(RuleKind::EncryptedRegex, "^(data|stringData)$").unwrap()
    }

    fn config(path_regex: Option<&str>, rule: Option<CryptRule>) -> Config {
        Config {
            dir: "/repo".into(),
            path: "/repo/.sops.yaml".into(),
            creation_rules: vec![CreationRule {
                path_regex: path_regex.map(|p| crate::rules::compile_go_regex(p).unwrap()),
                crypt_rule: rule,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn checker_with<'a>(cfg: &'a Config, all: bool, store: FakeStore) -> Checker<'a> {
        let mut c = Checker::new(Some(cfg), all);
        c.stores.insert(0, (Format::Yaml, Box::new(store)));
        c
    }

    fn cand(p: &str) -> Candidate {
        Candidate { display: p.into(), rule_path: Path::new("/repo").join(p), explicit: false }
    }

    fn keys(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(|p| p.key.clone()).collect()
    }

    #[test]
    fn an_encrypted_file_passes_and_a_plaintext_value_is_named() {
        let cfg = config(Some(r"secrets/.*\.yaml$"), Some(k8s_rule()));
        let good = FakeStore { docs: vec![secret(Node::str(ENC), "n")], metadata: Some(metadata(Some(k8s_rule()))) };
        let c = checker_with(&cfg, false, good);
        assert_eq!(c.check_bytes(&cand("secrets/s.yaml"), b"x"), vec![]);

        let leaked =
            FakeStore { docs: vec![secret(Node::str("hunter2"), "n")], metadata: Some(metadata(Some(k8s_rule()))) };
        let c = checker_with(&cfg, false, leaked);
        let p = c.check_bytes(&cand("secrets/s.yaml"), b"x");
        assert_eq!(keys(&p), ["stringData.password"]);
        assert!(p[0].reason.contains("plaintext string"), "{p:?}");
        assert!(!String::from_utf8_lossy(&p[0].line()).contains("hunter2"));
        assert_eq!(
            String::from_utf8(p[0].line()).unwrap(),
            format!("secrets/s.yaml: stringData.password: {}\n", p[0].reason)
        );
    }

    #[test]
    fn typed_values_comments_and_malformed_enc_are_caught_empty_strings_are_not() {
        let cfg = config(Some(r"\.yaml$"), None);
        let mut root = Mapping::new();
        root.push("port", Node::Scalar(Scalar::new(Value::Int(5432))));
        root.push("empty", Node::str(""));
        root.push("broken", Node::str("ENC[AES256_GCM,data:???]"));
        root.push("ok", Node::str(ENC));
        root.push("note_unencrypted", Node::str("visible"));
        root.items.push(MapItem::Comment(Comment::new(" the password is in the vault")));
        root.push("gone", Node::Scalar(Scalar::new(Value::Null)));
        let store = FakeStore { docs: vec![Document::new(root)], metadata: Some(metadata(None)) };
        let c = checker_with(&cfg, false, store);
        let p = c.check_bytes(&cand("a.yaml"), b"x");
        assert_eq!(keys(&p), ["port", "broken", "the top level (comment)"]);
        assert!(p[0].reason.contains("plaintext int"));
        assert!(p[1].reason.contains("malformed"));
    }

    #[test]
    fn plaintext_file_under_a_rule_is_rejected_with_its_keys() {
        let cfg = config(Some(r"secrets/"), Some(k8s_rule()));
        let store = FakeStore { docs: vec![secret(Node::str("hunter2"), "n")], metadata: None };
        let c = checker_with(&cfg, false, store);
        let p = c.check_bytes(&cand("secrets/s.yaml"), b"x");
        assert_eq!(p[0].key, "sops");
        assert!(p[0].reason.contains("not encrypted") && p[0].reason.contains("creation_rules[0]"), "{p:?}");
        assert!(keys(&p).contains(&"stringData.password".to_string()), "{p:?}");
        assert!(!keys(&p).contains(&"metadata.name".to_string()));
    }

    #[test]
    fn parse_failures_are_reported_not_panics() {
        let cfg = config(Some(r"\.yaml$"), None);
        let store = FakeStore { docs: vec![], metadata: None };
        let c = checker_with(&cfg, false, store);
        let p = c.check_bytes(&cand("bad.yaml"), b"garbage");
        assert_eq!(keys(&p), ["(file)"]);
        assert!(p[0].reason.contains("line 1"), "{p:?}");
    }

    #[test]
    fn a_recorded_rule_other_than_the_creation_rule_is_reported() {
        let cfg = config(Some(r"\.yaml$"), Some(k8s_rule()));
        let narrower = || Some(metadata(Some(CryptRule::new(RuleKind::EncryptedRegex, "^data$").unwrap())));
        let store = FakeStore { docs: vec![secret(Node::str(ENC), "n")], metadata: narrower() };
        let c = checker_with(&cfg, false, store);
        let p = c.check_bytes(&cand("s.yaml"), b"x");
        assert_eq!(keys(&p), ["sops.encrypted_regex"], "{p:?}");
        assert!(p[0].reason.contains("^(data|stringData)$") && p[0].reason.contains("\"^data$\""), "{p:?}");
        // The narrower recorded rule left stringData in clear: the creation rule's view names it.
        let store = FakeStore { docs: vec![secret(Node::str("hunter2"), "n")], metadata: narrower() };
        let c = checker_with(&cfg, false, store);
        let p = c.check_bytes(&cand("s.yaml"), b"x");
        assert_eq!(keys(&p), ["sops.encrypted_regex", "stringData.password"], "{p:?}");
    }

    #[test]
    fn missing_mac_and_version_are_reported() {
        let cfg = config(Some(r"\.yaml$"), None);
        let mut md = metadata(None);
        md.mac.clear();
        md.version.clear();
        let store = FakeStore { docs: vec![], metadata: Some(md) };
        let c = checker_with(&cfg, false, store);
        assert_eq!(keys(&c.check_bytes(&cand("s.yaml"), b"x")), ["sops.mac", "sops.version"]);
    }

    #[test]
    fn files_outside_rules_and_catch_all_rules_are_ignored_unless_asked() {
        let cfg = config(Some(r"^secrets/"), None);
        let store = || FakeStore { docs: vec![secret(Node::str("hunter2"), "n")], metadata: None };
        let c = checker_with(&cfg, false, store());
        assert!(!c.wants(&cand("apps/s.yaml")));
        let c = checker_with(&cfg, true, store());
        assert!(!c.wants(&cand(".sops.yaml")), "the config itself is never checked");
        let p = c.check_bytes(&cand("apps/s.yaml"), b"kind: Secret");
        assert_eq!(keys(&p), ["stringData"]);
        assert!(p[0].reason.contains("Kubernetes Secret"));
        assert!(!c.wants(&cand("apps/readme.md")));

        let catch_all = config(None, None);
        let c = checker_with(&catch_all, false, store());
        assert!(!c.wants(&cand("anything.yaml")));
        let named = Candidate { explicit: true, ..cand("anything.yaml") };
        assert!(c.wants(&named));
    }
}
