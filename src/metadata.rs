//! The `sops` metadata block: master keys, `lastmodified`, the encrypted MAC, the crypt rule and the
//! version.
//!
//! It is converted to and from a format-neutral [`Mapping`] in the field order of sops 3.11's
//! `stores.Metadata` struct, so the YAML and JSON stores emit it with their ordinary writers and
//! dotenv/INI flatten it ([`flatten`] / [`unflatten`]) the way sops does. Reading accepts the 3.7.3
//! layout too (`kms: []` / `null` lists, float `shamir_threshold`).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::keys::{KeyGroup, MasterKeyEntry};
use crate::rules::{CryptRule, RuleKind};
use crate::timefmt::{format_rfc3339, parse_rfc3339};
use crate::tree::{MapItem, Mapping, Node, Scalar, SeqItem, Sequence, Value};

/// The version kvsops writes: the sops file-format version it matches (strict semver, as sops
/// requires when reading).
pub const FORMAT_VERSION: &str = "3.11.0";

/// The metadata of an encrypted file.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// Key groups; one group is written as top-level key lists, several as `key_groups`.
    pub key_groups: Vec<KeyGroup>,
    /// Shamir threshold, when configured or when there are several groups.
    pub shamir_threshold: Option<u32>,
    pub lastmodified: OffsetDateTime,
    /// The encrypted MAC (an ENC string).
    pub mac: String,
    /// The crypt rule recorded in the file; `None` means sops's default `_unencrypted` suffix.
    pub rule: Option<CryptRule>,
    pub mac_only_encrypted: bool,
    pub version: String,
}

impl Metadata {
    /// Fresh metadata for a file about to be encrypted.
    pub fn new(
        key_groups: Vec<KeyGroup>,
        shamir_threshold: Option<u32>,
        rule: Option<CryptRule>,
        mac_only_encrypted: bool,
    ) -> Self {
        Metadata {
            key_groups,
            shamir_threshold,
            lastmodified: crate::timefmt::now_utc(),
            mac: String::new(),
            rule,
            mac_only_encrypted,
            version: FORMAT_VERSION.to_string(),
        }
    }

    /// The rule that decides what is encrypted (the default suffix when none is recorded).
    pub fn effective_rule(&self) -> CryptRule {
        crate::rules::effective(self.rule.as_ref())
    }

    /// The metadata as a tree, in sops 3.11's field order, omitting empty lists.
    pub fn to_mapping(&self) -> Mapping {
        let mut m = Mapping::new();
        let several = self.key_groups.len() > 1;
        if let Some(t) = self.shamir_threshold {
            m.push("shamir_threshold", int(t as i64));
        }
        if several {
            let groups = self.key_groups.iter().map(|g| SeqItem::Node(Node::Map(group_mapping(g, true)))).collect();
            m.push("key_groups", Node::Seq(Sequence { items: groups, src: None }));
        }
        let empty = KeyGroup::new();
        let group = if several { &empty } else { self.key_groups.first().unwrap_or(&empty) };
        let g = group_mapping(group, false);
        // Top-level order: kms, gcp_kms, azure_kv, hc_vault, age, lastmodified, mac, pgp, ...
        for name in ["kms", "gcp_kms", "azure_kv", "hc_vault", "age"] {
            if let Some(v) = g.get(name) {
                m.push(name, v.clone());
            }
        }
        m.push("lastmodified", Node::str(format_rfc3339(self.lastmodified)));
        m.push("mac", Node::str(self.mac.clone()));
        if let Some(v) = g.get("pgp") {
            m.push("pgp", v.clone());
        }
        let rule = self.rule.clone().unwrap_or_else(CryptRule::default_rule);
        m.push(rule.kind.key(), Node::str(rule.text.clone()));
        if self.mac_only_encrypted {
            m.push("mac_only_encrypted", Node::Scalar(Scalar::new(Value::Bool(true))));
        }
        m.push("version", Node::str(self.version.clone()));
        m
    }

    /// Like [`Metadata::to_mapping`] but without any rule (the binary store records none).
    pub fn to_mapping_without_rule(&self) -> Mapping {
        let mut m = self.to_mapping();
        for kind in RuleKind::ALL {
            m.remove(kind.key());
        }
        m.remove("mac_only_encrypted");
        m
    }

    /// Reads metadata from its tree form, as any sops from 3.7.3 to 3.13 wrote it.
    pub fn from_mapping(m: &Mapping) -> Result<Self> {
        let lastmodified_text = get_str(m, "lastmodified")?.ok_or_else(|| bad("no lastmodified"))?;
        let lastmodified = parse_rfc3339(&lastmodified_text)
            .ok_or_else(|| bad(&format!("lastmodified {lastmodified_text:?} is not an RFC 3339 time")))?;
        let mac = get_str(m, "mac")?.unwrap_or_default();
        let version = get_str(m, "version")?.unwrap_or_default();
        let shamir_threshold = match m.get("shamir_threshold") {
            None => None,
            Some(Node::Scalar(s)) => match &s.value {
                Value::Null => None,
                Value::Int(i) if *i >= 0 => Some(*i as u32),
                Value::Float(f) if *f >= 0.0 && f.fract() == 0.0 => Some(*f as u32),
                Value::Str(s) => Some(
                    s.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                        .map(|f| f as u32)
                        .ok_or_else(|| bad("shamir_threshold is not a number"))?,
                ),
                _ => return Err(bad("shamir_threshold is not a number")),
            },
            Some(_) => return Err(bad("shamir_threshold is not a number")),
        };
        let mut candidates = Vec::new();
        for kind in RuleKind::ALL {
            candidates.push((kind, get_str(m, kind.key())?));
        }
        let refs: Vec<(RuleKind, Option<&str>)> = candidates.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        let rule = CryptRule::choose(&refs).map_err(|e| bad(&e.to_string()))?;
        let mac_only_encrypted = match m.get("mac_only_encrypted") {
            None => false,
            Some(Node::Scalar(Scalar { value: Value::Bool(b), .. })) => *b,
            Some(Node::Scalar(Scalar { value: Value::Str(s), .. })) => s == "true" || s == "True",
            Some(Node::Scalar(Scalar { value: Value::Null, .. })) => false,
            Some(_) => return Err(bad("mac_only_encrypted is not a boolean")),
        };
        // Top-level lists form one group if any is non-empty; otherwise key_groups.
        let top = read_group(m)?;
        let key_groups = if !top.is_empty() {
            vec![top]
        } else {
            match m.get("key_groups") {
                Some(Node::Seq(seq)) => {
                    let mut groups = Vec::new();
                    for node in seq.nodes() {
                        match node {
                            Node::Map(gm) => groups.push(read_group(gm)?),
                            _ => return Err(bad("a key group is not a mapping")),
                        }
                    }
                    groups
                }
                _ => Vec::new(),
            }
        };
        if key_groups.is_empty() || key_groups.iter().all(|g| g.is_empty()) {
            return Err(bad("no keys found in file"));
        }
        Ok(Metadata { key_groups, shamir_threshold, lastmodified, mac, rule, mac_only_encrypted, version })
    }

    /// The number of groups that must be opened to get the data key.
    pub fn required_groups(&self) -> usize {
        if self.key_groups.len() <= 1 {
            1
        } else {
            match self.shamir_threshold {
                Some(t) if t > 0 => t as usize,
                // No threshold with several groups: sops combines whatever parts it has (at least 2).
                _ => 2.min(self.key_groups.len()),
            }
        }
    }
}

fn bad(msg: &str) -> Error {
    Error::InvalidMetadata(msg.to_string())
}

fn int(i: i64) -> Node {
    Node::Scalar(Scalar::new(Value::Int(i)))
}

fn get_str(m: &Mapping, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(Node::Scalar(s)) => Ok(match &s.value {
            Value::Null => None,
            Value::Str(s) => Some(s.clone()),
            Value::Time(t) => Some(t.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(crate::gofmt::format_f(*f)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Bytes(_) => return Err(bad(&format!("{key} is not text"))),
        }),
        Some(_) => Err(bad(&format!("{key} is not a string"))),
    }
}

fn str_field(m: &Mapping, key: &str) -> Result<String> {
    Ok(get_str(m, key)?.unwrap_or_default())
}

/// `created_at` must parse (sops refuses the file otherwise); kept as written.
fn created_at(m: &Mapping) -> Result<String> {
    let s = str_field(m, "created_at")?;
    if parse_rfc3339(&s).is_none() {
        return Err(bad(&format!("created_at {s:?} is not an RFC 3339 time")));
    }
    Ok(s)
}

fn list<'a>(m: &'a Mapping, key: &str) -> Result<Vec<&'a Mapping>> {
    match m.get(key) {
        None | Some(Node::Scalar(Scalar { value: Value::Null, .. })) => Ok(Vec::new()),
        Some(Node::Seq(seq)) => seq
            .nodes()
            .map(|n| match n {
                Node::Map(m) => Ok(m),
                _ => Err(bad(&format!("an entry of {key} is not a mapping"))),
            })
            .collect(),
        Some(_) => Err(bad(&format!("{key} is not a list"))),
    }
}

/// Reads one group's keys, in sops's read order: kms, gcp_kms, azure_kv, hc_vault, pgp, age.
fn read_group(m: &Mapping) -> Result<KeyGroup> {
    let mut g = KeyGroup::new();
    for e in list(m, "kms")? {
        let mut context = BTreeMap::new();
        if let Some(Node::Map(c)) = e.get("context") {
            for entry in c.entries() {
                if let Node::Scalar(s) = &entry.value {
                    context.insert(
                        entry.key.clone(),
                        crate::cipher::value_bytes(&s.value).iter().map(|b| *b as char).collect(),
                    );
                }
            }
        }
        g.push(MasterKeyEntry::Kms {
            arn: str_field(e, "arn")?,
            role: get_str(e, "role")?.filter(|s| !s.is_empty()),
            context,
            created_at: created_at(e)?,
            enc: str_field(e, "enc")?,
            aws_profile: str_field(e, "aws_profile")?,
        });
    }
    for e in list(m, "gcp_kms")? {
        g.push(MasterKeyEntry::GcpKms {
            resource_id: str_field(e, "resource_id")?,
            created_at: created_at(e)?,
            enc: str_field(e, "enc")?,
        });
    }
    for e in list(m, "azure_kv")? {
        g.push(MasterKeyEntry::AzureKv {
            vault_url: str_field(e, "vault_url")?,
            name: str_field(e, "name")?,
            version: str_field(e, "version")?,
            created_at: created_at(e)?,
            enc: str_field(e, "enc")?,
        });
    }
    for e in list(m, "hc_vault")? {
        g.push(MasterKeyEntry::HcVault {
            vault_address: str_field(e, "vault_address")?,
            engine_path: str_field(e, "engine_path")?,
            key_name: str_field(e, "key_name")?,
            created_at: created_at(e)?,
            enc: str_field(e, "enc")?,
        });
    }
    for e in list(m, "pgp")? {
        g.push(MasterKeyEntry::Pgp { fp: str_field(e, "fp")?, created_at: created_at(e)?, enc: str_field(e, "enc")? });
    }
    for e in list(m, "age")? {
        g.push(MasterKeyEntry::Age { recipient: str_field(e, "recipient")?, enc: str_field(e, "enc")? });
    }
    Ok(g)
}

/// One group as a mapping. Inside `key_groups` sops 3.11 orders a group `pgp, kms, gcp_kms,
/// azure_kv, hc_vault, age` and always writes `hc_vault` and `age` (empty lists included).
fn group_mapping(group: &KeyGroup, in_key_groups: bool) -> Mapping {
    let mut lists: BTreeMap<&'static str, Vec<SeqItem>> = BTreeMap::new();
    for entry in group {
        let (name, m) = entry_mapping(entry);
        lists.entry(name).or_default().push(SeqItem::Node(Node::Map(m)));
    }
    let mut out = Mapping::new();
    let order: &[&str] = if in_key_groups {
        &["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "age"]
    } else {
        &["kms", "gcp_kms", "azure_kv", "hc_vault", "age", "pgp"]
    };
    for name in order {
        let items = lists.remove(name).unwrap_or_default();
        let always = in_key_groups && (*name == "hc_vault" || *name == "age");
        if !items.is_empty() || always {
            out.push(*name, Node::Seq(Sequence { items, src: None }));
        }
    }
    out
}

fn entry_mapping(entry: &MasterKeyEntry) -> (&'static str, Mapping) {
    let mut m = Mapping::new();
    let name = match entry {
        MasterKeyEntry::Age { recipient, enc } => {
            m.push("recipient", Node::str(recipient.clone()));
            m.push("enc", Node::str(enc.clone()));
            "age"
        }
        MasterKeyEntry::Pgp { fp, created_at, enc } => {
            m.push("created_at", Node::str(created_at.clone()));
            m.push("enc", Node::str(enc.clone()));
            m.push("fp", Node::str(fp.clone()));
            "pgp"
        }
        MasterKeyEntry::AzureKv { vault_url, name, version, created_at, enc } => {
            m.push("vault_url", Node::str(vault_url.clone()));
            m.push("name", Node::str(name.clone()));
            m.push("version", Node::str(version.clone()));
            m.push("created_at", Node::str(created_at.clone()));
            m.push("enc", Node::str(enc.clone()));
            "azure_kv"
        }
        MasterKeyEntry::Kms { arn, role, context, created_at, enc, aws_profile } => {
            m.push("arn", Node::str(arn.clone()));
            if let Some(r) = role {
                m.push("role", Node::str(r.clone()));
            }
            if !context.is_empty() {
                let mut c = Mapping::new();
                for (k, v) in context {
                    c.push(k.clone(), Node::str(v.clone()));
                }
                m.push("context", Node::Map(c));
            }
            m.push("created_at", Node::str(created_at.clone()));
            m.push("enc", Node::str(enc.clone()));
            m.push("aws_profile", Node::str(aws_profile.clone()));
            "kms"
        }
        MasterKeyEntry::GcpKms { resource_id, created_at, enc } => {
            m.push("resource_id", Node::str(resource_id.clone()));
            m.push("created_at", Node::str(created_at.clone()));
            m.push("enc", Node::str(enc.clone()));
            "gcp_kms"
        }
        MasterKeyEntry::HcVault { vault_address, engine_path, key_name, created_at, enc } => {
            m.push("vault_address", Node::str(vault_address.clone()));
            m.push("engine_path", Node::str(engine_path.clone()));
            m.push("key_name", Node::str(key_name.clone()));
            m.push("created_at", Node::str(created_at.clone()));
            m.push("enc", Node::str(enc.clone()));
            "hc_vault"
        }
    };
    (name, m)
}

/// sops's `FlattenMetadata` for dotenv and INI: nested keys joined with `__map_`, list items with
/// `__list_N`; non-strings written as text (`shamir_threshold` as `2`, booleans as `true`); nulls
/// skipped. The result is sorted, as the dotenv store writes it.
pub fn flatten(m: &Mapping) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten_into(&mut out, "", m);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn flatten_into(out: &mut Vec<(String, String)>, prefix: &str, m: &Mapping) {
    for e in m.entries() {
        let key = format!("{prefix}{}", e.key);
        flatten_node(out, &key, &e.value);
    }
}

fn flatten_node(out: &mut Vec<(String, String)>, key: &str, node: &Node) {
    match node {
        Node::Map(m) => flatten_into(out, &format!("{key}__map_"), m),
        Node::Seq(s) => {
            for (i, n) in s.nodes().enumerate() {
                flatten_node(out, &format!("{key}__list_{i}"), n);
            }
        }
        Node::Scalar(s) => {
            let text = match &s.value {
                Value::Null => return,
                Value::Bool(b) => b.to_string(),
                other => String::from_utf8_lossy(&crate::cipher::value_bytes(other)).into_owned(),
            };
            out.push((key.to_string(), text));
        }
    }
}

/// The inverse of [`flatten`]: rebuilds nested maps and lists from flattened keys, so the result
/// can be read by [`Metadata::from_mapping`].
pub fn unflatten(pairs: &[(String, String)]) -> Result<Mapping> {
    let mut root = Mapping::new();
    for (key, value) in pairs {
        let parts = split_flat_key(key);
        insert_flat(&mut root, &parts, value.clone())?;
    }
    Ok(root)
}

#[derive(Debug)]
enum FlatPart {
    Key(String),
    Index(usize),
}

fn split_flat_key(key: &str) -> Vec<FlatPart> {
    // Keys look like `age__list_0__map_enc`: a name, then `__list_N` / `__map_NAME` segments.
    let mut parts = Vec::new();
    let mut rest = key;
    let first_end = find_sep(rest).unwrap_or(rest.len());
    parts.push(FlatPart::Key(rest[..first_end].to_string()));
    rest = &rest[first_end..];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("__list_") {
            let end = find_sep(r).unwrap_or(r.len());
            match r[..end].parse::<usize>() {
                Ok(i) => parts.push(FlatPart::Index(i)),
                Err(_) => parts.push(FlatPart::Key(r[..end].to_string())),
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("__map_") {
            let end = find_sep(r).unwrap_or(r.len());
            parts.push(FlatPart::Key(r[..end].to_string()));
            rest = &r[end..];
        } else {
            break;
        }
    }
    parts
}

fn find_sep(s: &str) -> Option<usize> {
    match (s.find("__list_"), s.find("__map_")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn insert_flat(map: &mut Mapping, parts: &[FlatPart], value: String) -> Result<()> {
    let Some(FlatPart::Key(k)) = parts.first() else {
        return Err(bad("a flattened metadata key starts with a list index"));
    };
    if parts.len() == 1 {
        map.push(k.clone(), Node::str(value));
        return Ok(());
    }
    let next_is_index = matches!(parts[1], FlatPart::Index(_));
    if map.get(k).is_none() {
        map.push(k.clone(), if next_is_index { Node::Seq(Sequence::default()) } else { Node::Map(Mapping::new()) });
    }
    let node = map.get_mut(k).ok_or_else(|| bad("flattened metadata"))?;
    insert_flat_node(node, &parts[1..], value)
}

fn insert_flat_node(node: &mut Node, parts: &[FlatPart], value: String) -> Result<()> {
    match (node, &parts[0]) {
        (Node::Map(m), FlatPart::Key(_)) => insert_flat(m, parts, value),
        (Node::Seq(s), FlatPart::Index(i)) => {
            while s.items.len() <= *i {
                let placeholder = if parts.len() > 1 && matches!(parts[1], FlatPart::Index(_)) {
                    Node::Seq(Sequence::default())
                } else if parts.len() > 1 {
                    Node::Map(Mapping::new())
                } else {
                    Node::Scalar(Scalar::new(Value::Null))
                };
                s.items.push(SeqItem::Node(placeholder));
            }
            match &mut s.items[*i] {
                SeqItem::Node(n) => {
                    if parts.len() == 1 {
                        *n = Node::str(value);
                        Ok(())
                    } else {
                        insert_flat_node(n, &parts[1..], value)
                    }
                }
                SeqItem::Comment(_) => Err(bad("flattened metadata")),
            }
        }
        _ => Err(bad("flattened metadata keys disagree on a value's shape")),
    }
}

/// True when a mapping item list holds a top-level `sops` key (the file is already encrypted).
pub fn has_sops_key(m: &Mapping) -> bool {
    m.items.iter().any(|i| matches!(i, MapItem::Entry(e) if e.key == "sops"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(groups: usize) -> Metadata {
        let g = |r: &str| {
            vec![MasterKeyEntry::Age {
                recipient: r.into(),
                enc: "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n".into(),
            }]
        };
        let mut md = Metadata::new((0..groups).map(|i| g(&format!("age1r{i}"))).collect(), None, None, false);
        md.mac = "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]".into();
        if groups > 1 {
            md.shamir_threshold = Some(2);
        }
        md
    }

    fn keys(m: &Mapping) -> Vec<String> {
        m.entries().map(|e| e.key.clone()).collect()
    }

    #[test]
    fn one_group_is_written_flat_in_sops_order() {
        let md = sample(1);
        let m = md.to_mapping();
        assert_eq!(keys(&m), ["age", "lastmodified", "mac", "unencrypted_suffix", "version"]);
        assert_eq!(Metadata::from_mapping(&m).unwrap(), Metadata { rule: None, ..md.clone() }.with_default_rule_read());
    }

    impl Metadata {
        fn with_default_rule_read(mut self) -> Self {
            self.rule = Some(CryptRule::default_rule());
            self
        }
    }

    #[test]
    fn several_groups_use_key_groups_with_empty_lists() {
        let md = sample(3);
        let m = md.to_mapping();
        assert_eq!(
            keys(&m),
            ["shamir_threshold", "key_groups", "lastmodified", "mac", "unencrypted_suffix", "version"]
        );
        let Some(Node::Seq(groups)) = m.get("key_groups") else { panic!() };
        let Some(Node::Map(g0)) = groups.nodes().next() else { panic!() };
        assert_eq!(keys(g0), ["hc_vault", "age"]);
        let back = Metadata::from_mapping(&m).unwrap();
        assert_eq!(back.key_groups.len(), 3);
        assert_eq!(back.shamir_threshold, Some(2));
    }

    #[test]
    fn flatten_round_trips_like_sops_dotenv() {
        let md = sample(2);
        let flat = flatten(&md.to_mapping());
        let names: Vec<_> = flat.iter().map(|p| p.0.as_str()).collect();
        assert!(names.contains(&"key_groups__list_1__map_age__list_0__map_recipient"));
        assert!(names.contains(&"shamir_threshold"));
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let back = Metadata::from_mapping(&unflatten(&flat).unwrap()).unwrap();
        assert_eq!(back.key_groups, md.key_groups);
        assert_eq!(back.shamir_threshold, Some(2));
    }

    #[test]
    fn old_layout_with_empty_lists_and_float_threshold_reads() {
        let mut m = sample(1).to_mapping();
        m.push("kms", Node::Seq(Sequence::default()));
        m.push("pgp", Node::Scalar(Scalar::new(Value::Null)));
        m.items.insert(
            0,
            MapItem::Entry(crate::tree::Entry {
                key: "shamir_threshold".into(),
                value: Node::str("2.0"),
                key_src: None,
            }),
        );
        let md = Metadata::from_mapping(&m).unwrap();
        assert_eq!(md.shamir_threshold, Some(2));
    }

    #[test]
    fn bad_metadata_is_refused() {
        let mut m = sample(1).to_mapping();
        m.remove("lastmodified");
        assert!(Metadata::from_mapping(&m).is_err());
        let mut m = sample(1).to_mapping();
        m.remove("age");
        assert!(Metadata::from_mapping(&m).unwrap_err().to_string().contains("no keys"));
        let mut m = sample(1).to_mapping();
        m.push("encrypted_regex", Node::str("x"));
        assert!(Metadata::from_mapping(&m).is_err());
    }
}
