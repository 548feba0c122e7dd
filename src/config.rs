//! `.sops.yaml`: creation rules (which keys and which crypt rule for which paths) and store settings.
//!
//! Found as sops finds it: `--config` / `SOPS_CONFIG`, otherwise the first `.sops.yaml` walking up
//! from the current working directory (not the file's directory). A file is matched against
//! `path_regex` by its path relative to the config's directory when it lies below it, otherwise by
//! its absolute path; the first matching rule wins. Keys may be comma-separated strings or lists.

use std::path::{Component, Path, PathBuf};

use regex::Regex;

use crate::error::{Error, Result};
use crate::keys::{KeySpec, KeySpecGroup};
use crate::rules::{compile_go_regex, CryptRule, RuleKind};
use crate::stores::{Format, StoreSettings};
use crate::tree::{Mapping, Node, Scalar, Value};

/// The config file name sops looks for.
pub const CONFIG_FILE_NAME: &str = ".sops.yaml";

/// A loaded `.sops.yaml`.
#[derive(Debug, Default)]
pub struct Config {
    /// The directory of the config file; rule paths are relative to it.
    pub dir: PathBuf,
    /// The file it was read from.
    pub path: PathBuf,
    pub creation_rules: Vec<CreationRule>,
    pub stores: StoreSettings,
}

/// One creation rule.
#[derive(Debug, Default)]
pub struct CreationRule {
    /// `None` matches every file.
    pub path_regex: Option<Regex>,
    pub key_groups: Vec<KeySpecGroup>,
    pub shamir_threshold: Option<u32>,
    pub crypt_rule: Option<CryptRule>,
    pub mac_only_encrypted: bool,
}

/// Finds `.sops.yaml` by walking up from `start` (at most 100 levels, as sops).
pub fn find_config(start: &Path) -> Option<PathBuf> {
    let mut dir = start.to_path_buf();
    for _ in 0..100 {
        let candidate = dir.join(CONFIG_FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            break;
        }
    }
    None
}

/// The config path to use: explicit (`--config`, `SOPS_CONFIG`) or found from the working directory.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let cwd = std::env::current_dir().ok()?;
    find_config(&cwd)
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = crate::platform::fsio::read_file(path)?;
        let abs = absolute(path);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            // An empty file (`--config /dev/null`) is a config without rules: the flags decide.
            return Ok(Config {
                dir: abs.parent().map(Path::to_path_buf).unwrap_or_default(),
                path: abs,
                ..Default::default()
            });
        }
        let store = Format::Yaml.store(&StoreSettings::default());
        let docs = store.load_plain(&bytes).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let empty = Mapping::new();
        let root = docs.first().map(|d| &d.root).unwrap_or(&empty);
        let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::from_mapping(root, dir, abs.clone())
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), strip_config_prefix(e))))
    }

    /// Builds a config from its parsed YAML.
    pub fn from_mapping(root: &Mapping, dir: PathBuf, path: PathBuf) -> Result<Config> {
        let mut cfg = Config { dir, path, ..Default::default() };
        if let Some(stores) = root.get("stores") {
            cfg.stores = parse_stores(stores)?;
        }
        match root.get("creation_rules") {
            None | Some(Node::Scalar(Scalar { value: Value::Null, .. })) => {}
            Some(Node::Seq(seq)) => {
                for (i, node) in seq.nodes().enumerate() {
                    let Node::Map(m) = node else {
                        return Err(Error::Config(format!("creation_rules[{i}] is not a mapping")));
                    };
                    cfg.creation_rules.push(
                        parse_rule(m)
                            .map_err(|e| Error::Config(format!("creation_rules[{i}]: {}", strip_config_prefix(e))))?,
                    );
                }
            }
            Some(_) => return Err(Error::Config("creation_rules is not a list".into())),
        }
        Ok(cfg)
    }

    /// The first rule matching `file` (as sops: relative to the config directory when below it).
    pub fn rule_for(&self, file: &Path) -> Option<&CreationRule> {
        let abs = absolute(file);
        let abs_s = abs.to_string_lossy();
        let prefix = format!("{}/", self.dir.to_string_lossy().trim_end_matches('/'));
        let candidate = abs_s.strip_prefix(&prefix).unwrap_or(&abs_s);
        self.creation_rules.iter().find(|r| match &r.path_regex {
            None => true,
            Some(re) => re.is_match(candidate),
        })
    }
}

fn strip_config_prefix(e: Error) -> String {
    match e {
        Error::Config(s) => s,
        other => other.to_string(),
    }
}

/// An absolute, lexically cleaned path (without resolving symlinks, as Go's `filepath.Abs`).
pub fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn parse_stores(node: &Node) -> Result<StoreSettings> {
    let mut s = StoreSettings::default();
    let Node::Map(m) = node else {
        return Err(Error::Config("stores is not a mapping".into()));
    };
    let indent_of = |name: &str| -> Result<Option<i64>> {
        match m.get(name) {
            Some(Node::Map(sm)) => match sm.get("indent") {
                Some(Node::Scalar(Scalar { value: Value::Int(i), .. })) => Ok(Some(*i)),
                None | Some(Node::Scalar(Scalar { value: Value::Null, .. })) => Ok(None),
                Some(_) => Err(Error::Config(format!("stores.{name}.indent is not an integer"))),
            },
            _ => Ok(None),
        }
    };
    if let Some(i) = indent_of("yaml")? {
        if i < 0 {
            return Err(Error::Config("stores.yaml.indent must not be negative".into()));
        }
        s.yaml_indent = i as usize;
    }
    for (name, slot) in [("json", &mut s.json_indent), ("json_binary", &mut s.json_binary_indent)] {
        if let Some(i) = indent_of(name)? {
            *slot = match i {
                -1 => None,
                i if i >= 0 => Some(i as usize),
                _ => return Err(Error::Config(format!("stores.{name}.indent must be -1 (tab) or more"))),
            };
        }
    }
    Ok(s)
}

/// sops's `parseKeyField`: a comma-separated string (items trimmed, empties dropped) or a list.
fn key_list(node: Option<&Node>, field: &str) -> Result<Vec<String>> {
    match node {
        None => Ok(Vec::new()),
        Some(Node::Scalar(Scalar { value: Value::Null, .. })) => Ok(Vec::new()),
        Some(Node::Scalar(Scalar { value: Value::Str(s), .. })) => Ok(split_keys(s)),
        Some(Node::Seq(seq)) => {
            let mut out = Vec::new();
            for n in seq.nodes() {
                match n {
                    Node::Scalar(Scalar { value: Value::Str(s), .. }) => out.extend(split_keys(s)),
                    _ => return Err(Error::Config(format!("{field}: every key must be a string"))),
                }
            }
            Ok(out)
        }
        Some(_) => Err(Error::Config(format!("{field} must be a string or a list of strings"))),
    }
}

/// Splits a comma-separated key list as sops does.
pub fn split_keys(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect()
}

fn str_of(m: &Mapping, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Node::Scalar(Scalar { value: Value::Null, .. })) => Ok(None),
        Some(Node::Scalar(Scalar { value: Value::Str(s), .. })) => Ok(Some(s.clone())),
        Some(Node::Scalar(s)) => Ok(Some(String::from_utf8_lossy(&crate::cipher::value_bytes(&s.value)).into_owned())),
        Some(_) => Err(Error::Config(format!("{key} must be a string"))),
    }
}

fn parse_rule(m: &Mapping) -> Result<CreationRule> {
    let path_regex = match str_of(m, "path_regex")? {
        Some(p) if !p.is_empty() => {
            Some(compile_go_regex(&p).map_err(|e| Error::Config(format!("invalid path_regex {p:?}: {e}")))?)
        }
        _ => None,
    };
    let mut rule_texts = Vec::new();
    for kind in RuleKind::ALL {
        rule_texts.push((kind, str_of(m, kind.key())?));
    }
    let refs: Vec<_> = rule_texts.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    let crypt_rule = CryptRule::choose(&refs)?;
    let mac_only_encrypted =
        matches!(m.get("mac_only_encrypted"), Some(Node::Scalar(Scalar { value: Value::Bool(true), .. })));
    let shamir_threshold = match m.get("shamir_threshold") {
        None | Some(Node::Scalar(Scalar { value: Value::Null, .. })) => None,
        Some(Node::Scalar(Scalar { value: Value::Int(i), .. })) if *i >= 0 => Some(*i as u32),
        Some(_) => return Err(Error::Config("shamir_threshold must be a non-negative integer".into())),
    };
    let key_groups = match m.get("key_groups") {
        Some(Node::Seq(seq)) => {
            let mut groups = Vec::new();
            for (i, n) in seq.nodes().enumerate() {
                let Node::Map(g) = n else {
                    return Err(Error::Config(format!("key_groups[{i}] is not a mapping")));
                };
                let mut group = Vec::new();
                parse_group(g, &mut group)?;
                dedup(&mut group);
                groups.push(group);
            }
            groups
        }
        None | Some(Node::Scalar(Scalar { value: Value::Null, .. })) => {
            let group = rule_keys(m)?;
            if group.is_empty() {
                Vec::new()
            } else {
                vec![group]
            }
        }
        Some(_) => return Err(Error::Config("key_groups must be a list".into())),
    };
    Ok(CreationRule { path_regex, key_groups, shamir_threshold, crypt_rule, mac_only_encrypted })
}

/// The keys of a rule without `key_groups`, in sops's order: age, pgp, kms, gcp_kms, azure, vault.
fn rule_keys(m: &Mapping) -> Result<KeySpecGroup> {
    let mut g = Vec::new();
    for r in key_list(m.get("age"), "age")? {
        g.push(KeySpec::Age(r));
    }
    for fp in key_list(m.get("pgp"), "pgp")? {
        g.push(KeySpec::Pgp(normalize_fingerprint(&fp)));
    }
    let profile = str_of(m, "aws_profile")?.unwrap_or_default();
    for arn in key_list(m.get("kms"), "kms")? {
        g.push(kms_from_arn(&arn, &profile));
    }
    for id in key_list(m.get("gcp_kms"), "gcp_kms")? {
        g.push(KeySpec::GcpKms { resource_id: id });
    }
    for url in key_list(m.get("azure_keyvault"), "azure_keyvault")? {
        g.push(crate::keys::azure::parse_key_url(&url)?);
    }
    for uri in key_list(m.get("hc_vault_transit_uri"), "hc_vault_transit_uri")? {
        g.push(KeySpec::HcVault { uri });
    }
    Ok(g)
}

/// An AWS KMS key from sops's `arn[+role]` notation.
fn kms_from_arn(s: &str, profile: &str) -> KeySpec {
    let (arn, role) = match s.split_once('+') {
        Some((a, r)) => (a.to_string(), Some(r.to_string())),
        None => (s.to_string(), None),
    };
    KeySpec::Kms { arn, role, context: Default::default(), aws_profile: profile.to_string() }
}

/// A PGP fingerprint as sops stores it: spaces removed, case kept.
pub fn normalize_fingerprint(fp: &str) -> String {
    crate::keys::pgp::normalize_fingerprint(fp)
}

fn parse_group(g: &Mapping, group: &mut KeySpecGroup) -> Result<()> {
    if let Some(Node::Seq(merge)) = g.get("merge") {
        for n in merge.nodes() {
            if let Node::Map(inner) = n {
                parse_group(inner, group)?;
            }
        }
    }
    for r in key_list(g.get("age"), "age")? {
        group.push(KeySpec::Age(r));
    }
    for fp in key_list(g.get("pgp"), "pgp")? {
        group.push(KeySpec::Pgp(normalize_fingerprint(&fp)));
    }
    if let Some(Node::Seq(kms)) = g.get("kms") {
        for n in kms.nodes() {
            if let Node::Map(k) = n {
                let mut context = std::collections::BTreeMap::new();
                if let Some(Node::Map(c)) = k.get("context") {
                    for e in c.entries() {
                        if let Node::Scalar(s) = &e.value {
                            context.insert(
                                e.key.clone(),
                                String::from_utf8_lossy(&crate::cipher::value_bytes(&s.value)).into_owned(),
                            );
                        }
                    }
                }
                group.push(KeySpec::Kms {
                    arn: str_of(k, "arn")?.unwrap_or_default(),
                    role: str_of(k, "role")?.filter(|r| !r.is_empty()),
                    context,
                    aws_profile: str_of(k, "aws_profile")?.unwrap_or_default(),
                });
            }
        }
    }
    if let Some(Node::Seq(gcp)) = g.get("gcp_kms") {
        for n in gcp.nodes() {
            if let Node::Map(k) = n {
                group.push(KeySpec::GcpKms { resource_id: str_of(k, "resource_id")?.unwrap_or_default() });
            }
        }
    }
    if let Some(Node::Seq(az)) = g.get("azure_keyvault") {
        for n in az.nodes() {
            match n {
                Node::Map(k) => {
                    let vault_url = str_of(k, "vaultUrl")?.unwrap_or_default();
                    let name = str_of(k, "key")?.unwrap_or_default();
                    let version = str_of(k, "version")?.filter(|v| !v.is_empty());
                    let url = match &version {
                        Some(v) => format!("{}/keys/{name}/{v}", vault_url.trim().trim_end_matches('/')),
                        None => format!("{}/keys/{name}", vault_url.trim().trim_end_matches('/')),
                    };
                    group.push(crate::keys::azure::parse_key_url(&url)?);
                }
                Node::Scalar(Scalar { value: Value::Str(url), .. }) => {
                    group.push(crate::keys::azure::parse_key_url(url)?)
                }
                _ => return Err(Error::Config("azure_keyvault entries must be {vaultUrl, key, version}".into())),
            }
        }
    }
    for uri in key_list(g.get("hc_vault"), "hc_vault")? {
        group.push(KeySpec::HcVault { uri });
    }
    Ok(())
}

fn dedup(group: &mut KeySpecGroup) {
    let mut seen: Vec<KeySpec> = Vec::new();
    group.retain(|k| {
        if seen.contains(k) {
            false
        } else {
            seen.push(k.clone());
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{SeqItem, Sequence};

    fn s(v: &str) -> Node {
        Node::str(v)
    }

    fn rule(entries: Vec<(&str, Node)>) -> Node {
        let mut m = Mapping::new();
        for (k, v) in entries {
            m.push(k, v);
        }
        Node::Map(m)
    }

    fn config(rules: Vec<Node>) -> Config {
        let mut root = Mapping::new();
        root.push(
            "creation_rules",
            Node::Seq(Sequence { items: rules.into_iter().map(SeqItem::Node).collect(), src: None }),
        );
        Config::from_mapping(&root, PathBuf::from("/repo"), PathBuf::from("/repo/.sops.yaml")).unwrap()
    }

    #[test]
    fn first_matching_rule_wins_relative_to_the_config_dir() {
        let cfg = config(vec![
            rule(vec![
                ("path_regex", s(r"envs/.*/patches/.*secret.*\.yaml$")),
                ("encrypted_regex", s("^(data|stringData)$")),
                ("age", s("age1a, age1b,")),
            ]),
            rule(vec![("age", s("age1c"))]),
        ]);
        let r = cfg.rule_for(Path::new("/repo/envs/qa/patches/patch-secret.yaml")).unwrap();
        assert_eq!(r.key_groups, vec![vec![KeySpec::Age("age1a".into()), KeySpec::Age("age1b".into())]]);
        assert_eq!(r.crypt_rule.as_ref().unwrap().kind, RuleKind::EncryptedRegex);
        let other = cfg.rule_for(Path::new("/repo/apps/x.yaml")).unwrap();
        assert_eq!(other.key_groups, vec![vec![KeySpec::Age("age1c".into())]]);
    }

    #[test]
    fn anchored_regex_sees_relative_paths_only_below_the_config() {
        let cfg = config(vec![rule(vec![("path_regex", s("^envs/")), ("age", s("age1a"))])]);
        assert!(cfg.rule_for(Path::new("/repo/envs/a.yaml")).is_some());
        assert!(cfg.rule_for(Path::new("/elsewhere/envs/a.yaml")).is_none());
    }

    #[test]
    fn keys_as_lists_and_key_groups_with_merge() {
        let list = Node::Seq(Sequence { items: vec![SeqItem::Node(s("age1a")), SeqItem::Node(s("age1b"))], src: None });
        let mut g1 = Mapping::new();
        g1.push("age", list.clone());
        let mut inner = Mapping::new();
        inner.push(
            "age",
            Node::Seq(Sequence { items: vec![SeqItem::Node(s("age1a")), SeqItem::Node(s("age1z"))], src: None }),
        );
        g1.push("merge", Node::Seq(Sequence { items: vec![SeqItem::Node(Node::Map(inner))], src: None }));
        let groups = Node::Seq(Sequence { items: vec![SeqItem::Node(Node::Map(g1))], src: None });
        let cfg = config(vec![rule(vec![
            ("key_groups", groups),
            ("shamir_threshold", Node::Scalar(Scalar::new(Value::Int(1)))),
        ])]);
        let r = &cfg.creation_rules[0];
        // merge first, then the group's own keys; duplicates dropped.
        assert_eq!(
            r.key_groups,
            vec![vec![KeySpec::Age("age1a".into()), KeySpec::Age("age1z".into()), KeySpec::Age("age1b".into())]]
        );
        assert_eq!(r.shamir_threshold, Some(1));
    }

    #[test]
    fn two_crypt_rules_in_one_rule_are_refused() {
        let mut root = Mapping::new();
        root.push(
            "creation_rules",
            Node::Seq(Sequence {
                items: vec![SeqItem::Node(rule(vec![("encrypted_regex", s("a")), ("unencrypted_suffix", s("_u"))]))],
                src: None,
            }),
        );
        let err = Config::from_mapping(&root, "/r".into(), "/r/.sops.yaml".into()).unwrap_err();
        assert!(err.to_string().contains("more than one"), "{err}");
    }

    #[test]
    fn finds_config_walking_up() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".sops.yaml"), "creation_rules: []\n").unwrap();
        let deep = d.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_config(&deep).unwrap(), d.path().join(".sops.yaml"));
    }

    #[test]
    fn store_indents() {
        let mut yaml = Mapping::new();
        yaml.push("indent", Node::Scalar(Scalar::new(Value::Int(2))));
        let mut json = Mapping::new();
        json.push("indent", Node::Scalar(Scalar::new(Value::Int(-1))));
        let mut stores = Mapping::new();
        stores.push("yaml", Node::Map(yaml));
        stores.push("json", Node::Map(json));
        let st = parse_stores(&Node::Map(stores)).unwrap();
        assert_eq!(st.yaml_indent, 2);
        assert_eq!(st.json_indent, None);
    }
}
