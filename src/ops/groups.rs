//! `groups add` / `groups delete`: change a file's key groups.
//!
//! The data key stays (values, MAC and `lastmodified` are untouched, and, as in sops, the MAC is
//! not checked); it is split again into Shamir shares for the new set of groups and every key of
//! every group wraps its group's new share. One group left means no Shamir: its keys wrap the
//! data key itself.

use crate::error::{Error, Result};
use crate::keys::{KeySpecGroup, Keyring};
use crate::stores::Store;

use super::rewrite::{emit_with_metadata, spec_groups};

/// Adds a key group. `threshold` (when > 0) replaces the file's Shamir threshold.
pub fn add(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    group: KeySpecGroup,
    threshold: Option<u32>,
) -> Result<super::verify::Verified> {
    if group.is_empty() {
        return Err(Error::Conflict("the new group has no keys".into()));
    }
    regroup(input, in_store, out_store, keyring, threshold, |groups| {
        groups.push(group);
        Ok(())
    })
}

/// Deletes the key group at `index` (counted from 0, as sops). The remaining groups must still be
/// able to meet the threshold.
pub fn delete(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    index: usize,
    threshold: Option<u32>,
) -> Result<super::verify::Verified> {
    regroup(input, in_store, out_store, keyring, threshold, |groups| {
        if index >= groups.len() {
            return Err(Error::Conflict(format!(
                "there is no key group {index}: the file has {} (counted from 0)",
                groups.len()
            )));
        }
        groups.remove(index);
        Ok(())
    })
}

fn regroup(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    threshold: Option<u32>,
    change: impl FnOnce(&mut Vec<KeySpecGroup>) -> Result<()>,
) -> Result<super::verify::Verified> {
    let file = in_store.load_encrypted(input).map_err(crate::error::Error::in_encrypted_file)?;
    let key = super::get_data_key(&file.metadata, keyring)?;
    let mut groups = spec_groups(&file.metadata);
    change(&mut groups)?;
    let threshold = threshold.filter(|t| *t > 0).or(file.metadata.shamir_threshold.filter(|t| *t > 0));
    if let Some(t) = threshold {
        if groups.len() < t as usize {
            return Err(Error::Conflict(format!(
                "the Shamir threshold is {t} but only {} key groups would remain",
                groups.len()
            )));
        }
    }
    let mut metadata = file.metadata.clone();
    let (wrapped, threshold) = super::wrap_data_key(&key, &groups, threshold, keyring)?;
    metadata.key_groups = wrapped;
    metadata.shamir_threshold = threshold;
    emit_with_metadata(in_store, out_store, &file.documents, &metadata, input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySpec;
    use crate::ops::testkit::*;

    #[test]
    fn add_then_delete_groups() {
        let kr = keyring_with(&[1, 2, 3]);
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        let two = add(&enc, &TestStore, &TestStore, &kr, vec![KeySpec::Age(recipient(2))], None).unwrap();
        let md = TestStore.load_encrypted(&two).unwrap().metadata;
        assert_eq!(md.key_groups.len(), 2);
        assert_eq!(md.shamir_threshold, Some(2), "defaults to all groups");
        assert_eq!(json(&enc)["a"], json(&two)["a"], "values untouched");
        assert_eq!(json(&enc)["sops"]["mac"], json(&two)["sops"]["mac"]);
        assert_eq!(decrypt_json(&two, &keyring_with(&[1, 2])), serde_json::json!({"a": "one"}));
        assert!(crate::ops::get_data_key(&md, &keyring_with(&[1])).is_err(), "one share is not enough");

        let three = add(&two, &TestStore, &TestStore, &kr, vec![KeySpec::Age(recipient(3))], Some(2)).unwrap();
        let md = TestStore.load_encrypted(&three).unwrap().metadata;
        assert_eq!((md.key_groups.len(), md.shamir_threshold), (3, Some(2)));
        assert_eq!(decrypt_json(&three, &keyring_with(&[2, 3]))["a"], "one");

        // Deleting down to 1 group with threshold 2 is refused; with threshold 1 it works.
        let back = delete(&three, &TestStore, &TestStore, &kr, 0, None).unwrap();
        assert_eq!(decrypt_json(&back, &keyring_with(&[2, 3]))["a"], "one");
        let err = delete(&back, &TestStore, &TestStore, &kr, 0, None).unwrap_err();
        assert!(err.to_string().contains("threshold"), "{err}");
        assert!(delete(&back, &TestStore, &TestStore, &kr, 5, None).is_err());
        let one = delete(&back, &TestStore, &TestStore, &kr, 0, Some(1)).unwrap();
        let md = TestStore.load_encrypted(&one).unwrap().metadata;
        assert_eq!(md.key_groups.len(), 1);
        assert_eq!(decrypt_json(&one, &keyring_with(&[3]))["a"], "one", "one group wraps the data key itself");
        let add_empty = add(&enc, &TestStore, &TestStore, &kr, vec![], None);
        assert!(add_empty.is_err());
    }
}
