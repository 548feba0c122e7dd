//! `updatekeys`: make a file's master keys match what its creation rule lists now.
//!
//! The data key does not change, so the values, the MAC and `lastmodified` stay as they are; only
//! the wrapped keys in the metadata change. The plan (keys added and removed per group, the Shamir
//! threshold) is computed first so the command can show it and ask; applying it needs the data key.
//! With a single group before and after, keys that stay keep their wrapped key (a smaller diff than
//! sops, which re-wraps every key); with several groups the data key is split again and every key
//! wraps its group's new share.
//!
//! The threshold is the `--shamir-secret-sharing-threshold` flag, else the rule's
//! `shamir_threshold`, else the file's, capped at the number of groups. (sops 3.11 ignores the
//! rule's threshold here — a TODO in its code; following the rule is what users edit it for.)

use crate::error::{Error, Result};
use crate::keys::{KeySpec, KeySpecGroup, Keyring, MasterKeyEntry};
use crate::metadata::Metadata;
use crate::stores::{EncryptedFile, Store};

use super::rewrite::{emit_with_metadata, key_id, same_key, spec_groups};

/// The change of one key group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupDiff {
    pub common: Vec<KeySpec>,
    pub added: Vec<KeySpec>,
    pub removed: Vec<KeySpec>,
}

/// What `updatekeys` would do to one file.
pub struct Plan {
    pub diffs: Vec<GroupDiff>,
    pub old_threshold: Option<u32>,
    pub new_threshold: Option<u32>,
    target: Vec<KeySpecGroup>,
    file: EncryptedFile,
}

/// Compares a file's key groups with the rule's (sops's `DiffKeyGroups`, group by group).
pub fn diff_groups(ours: &[KeySpecGroup], theirs: &[KeySpecGroup]) -> Vec<GroupDiff> {
    let empty = Vec::new();
    (0..ours.len().max(theirs.len()))
        .map(|i| {
            let (o, t) = (ours.get(i).unwrap_or(&empty), theirs.get(i).unwrap_or(&empty));
            let mut d = GroupDiff::default();
            for k in t {
                if o.iter().any(|have| same_key(k, have)) {
                    d.common.push(k.clone());
                } else {
                    d.added.push(k.clone());
                }
            }
            for k in o {
                if !t.iter().any(|want| same_key(want, k)) {
                    d.removed.push(k.clone());
                }
            }
            d
        })
        .collect()
}

/// Reads a file's metadata and plans the update to `groups` / `rule_threshold` (no key needed).
pub fn plan(
    input: &[u8],
    store: &dyn Store,
    groups: &[KeySpecGroup],
    rule_threshold: Option<u32>,
    flag_threshold: Option<u32>,
) -> Result<Plan> {
    if groups.is_empty() || groups.iter().any(|g| g.is_empty()) {
        return Err(Error::NoKeys);
    }
    let file = store.load_encrypted(input).map_err(crate::error::Error::in_encrypted_file)?;
    let current = spec_groups(&file.metadata);
    let diffs = diff_groups(&current, groups);
    let old_threshold = file.metadata.shamir_threshold.filter(|t| *t > 0);
    let wanted = flag_threshold.filter(|t| *t > 0).or(rule_threshold.filter(|t| *t > 0)).or(old_threshold);
    let new_threshold = wanted.map(|t| t.min(groups.len() as u32));
    Ok(Plan { diffs, old_threshold, new_threshold, target: groups.to_vec(), file })
}

impl Plan {
    /// True when applying the plan changes the file.
    pub fn changes_anything(&self) -> bool {
        self.old_threshold != self.new_threshold
            || self.diffs.iter().any(|d| !d.added.is_empty() || !d.removed.is_empty())
    }

    /// The change as sops prints it: per group, kept keys indented, `+++` added, `---` removed.
    pub fn render(&self) -> String {
        let mut s = String::from("The following changes will be made to the file's groups:\n");
        match (self.old_threshold, self.new_threshold) {
            (Some(o), Some(n)) if o == n => s.push_str(&format!("shamir_threshold: {n}\n")),
            (o, n) => {
                if let Some(n) = n {
                    s.push_str(&format!("+++ shamir_threshold: {n}\n"));
                }
                if let Some(o) = o {
                    s.push_str(&format!("--- shamir_threshold: {o}\n"));
                }
            }
        }
        for (i, d) in self.diffs.iter().enumerate() {
            s.push_str(&format!("Group {}\n", i + 1));
            for k in &d.common {
                s.push_str(&format!("    {}\n", key_id(k)));
            }
            for k in &d.added {
                s.push_str(&format!("+++ {}\n", key_id(k)));
            }
            for k in &d.removed {
                s.push_str(&format!("--- {}\n", key_id(k)));
            }
        }
        s
    }

    /// Applies the plan: recovers the data key and wraps it (or its new shares) for the target
    /// groups. Returns the new file; `input` must be the bytes the plan was made from.
    pub fn apply(self, input: &[u8], store: &dyn Store, keyring: &Keyring) -> Result<super::verify::Verified> {
        let key = super::get_data_key(&self.file.metadata, keyring)?;
        let mut metadata: Metadata = self.file.metadata.clone();
        if self.target.len() == 1 && metadata.key_groups.len() == 1 {
            let old = &metadata.key_groups[0];
            let mut group: Vec<MasterKeyEntry> = Vec::with_capacity(self.target[0].len());
            for spec in &self.target[0] {
                match old.iter().find(|e| same_key(spec, &e.spec())) {
                    Some(kept) => group.push(kept.clone()),
                    None => group.push(keyring.wrap(spec, key.as_bytes())?),
                }
            }
            metadata.key_groups = vec![group];
            metadata.shamir_threshold = self.new_threshold;
        } else {
            let (groups, threshold) = super::wrap_data_key(&key, &self.target, self.new_threshold, keyring)?;
            metadata.key_groups = groups;
            metadata.shamir_threshold = threshold;
        }
        emit_with_metadata(store, store, &self.file.documents, &metadata, input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testkit::*;

    fn age(n: u8) -> KeySpec {
        KeySpec::Age(recipient(n))
    }

    #[test]
    fn diff_lists_added_removed_and_common() {
        let d = diff_groups(&[vec![age(1), age(2)]], &[vec![age(2), age(3)], vec![age(1)]]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0], GroupDiff { common: vec![age(2)], added: vec![age(3)], removed: vec![age(1)] });
        assert_eq!(d[1].added, vec![age(1)]);
    }

    #[test]
    fn update_rewraps_the_same_data_key_and_keeps_values_and_mac() {
        let kr = keyring_with(&[1, 2]);
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        let p = plan(&enc, &TestStore, &[vec![age(1), age(2)]], None, None).unwrap();
        assert!(p.changes_anything());
        let text = p.render();
        assert!(
            text.contains(&format!("    {}", recipient(1))) && text.contains(&format!("+++ {}", recipient(2))),
            "{text}"
        );
        let out = p.apply(&enc, &TestStore, &kr).unwrap();
        let (b, a) = (json(&enc), json(&out));
        assert_eq!(b["a"], a["a"]);
        assert_eq!(b["sops"]["mac"], a["sops"]["mac"]);
        assert_eq!(b["sops"]["lastmodified"], a["sops"]["lastmodified"]);
        assert_eq!(b["sops"]["age"][0], a["sops"]["age"][0], "a kept key keeps its wrapped key");
        assert_eq!(decrypt_json(&out, &keyring_with(&[2])), serde_json::json!({"a": "one"}));
        // Already up to date.
        assert!(!plan(&out, &TestStore, &[vec![age(1), age(2)]], None, None).unwrap().changes_anything());
    }

    #[test]
    fn update_to_key_groups_splits_the_key() {
        let kr = keyring_with(&[1, 2, 3]);
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        let p = plan(&enc, &TestStore, &[vec![age(1)], vec![age(2)], vec![age(3)]], Some(2), None).unwrap();
        assert_eq!((p.old_threshold, p.new_threshold), (None, Some(2)));
        assert!(p.render().contains("+++ shamir_threshold: 2"));
        let out = p.apply(&enc, &TestStore, &kr).unwrap();
        let md = TestStore.load_encrypted(&out).unwrap().metadata;
        assert_eq!(md.key_groups.len(), 3);
        assert_eq!(md.shamir_threshold, Some(2));
        // Any two groups open it; one does not.
        assert_eq!(decrypt_json(&out, &keyring_with(&[1, 3])), serde_json::json!({"a": "one"}));
        assert!(crate::ops::get_data_key(&md, &keyring_with(&[2])).is_err());
        assert_eq!(json(&enc)["sops"]["mac"], json(&out)["sops"]["mac"]);
    }
}
