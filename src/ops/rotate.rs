//! `rotate`: a new data key for a file, optionally with master keys added or removed.
//!
//! As sops does: decrypt (MAC checked unless told otherwise), add the `--add-*` keys to the first
//! key group and drop the `--rm-*` keys from every group, generate a new data key, wrap it for the
//! resulting groups (Shamir shares when there are several), and encrypt every value again. The
//! cipher keeps the IV stash across the key change, as sops's does, so each value keeps its IV
//! (its ciphertext changes with the key).

use super::decrypt::{decrypt_file, DecryptOptions};
use super::rewrite::{relayout, same_key, seal, spec_groups};
use crate::cipher::DataKey;
use crate::error::Result;
use crate::keys::{KeySpec, Keyring};
use crate::stores::Store;

/// What a rotation changes besides the data key.
#[derive(Clone, Copy, Debug, Default)]
pub struct RotateOptions<'a> {
    pub ignore_mac: bool,
    /// Keys to add to the first group.
    pub add: &'a [KeySpec],
    /// Keys to remove from every group.
    pub remove: &'a [KeySpec],
}

/// Rotates the data key of an encrypted file and returns the new file.
pub fn rotate(
    input: &[u8],
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    opts: RotateOptions<'_>,
) -> Result<super::verify::Verified> {
    let mut d = decrypt_file(input, in_store, keyring, DecryptOptions { ignore_mac: opts.ignore_mac })?;
    let layout = relayout(in_store, &d.documents, input)?;
    let mut groups = spec_groups(&d.metadata);
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    for key in opts.add {
        if !groups[0].iter().any(|have| same_key(key, have)) {
            groups[0].push(key.clone());
        }
    }
    for group in groups.iter_mut() {
        group.retain(|have| !opts.remove.iter().any(|rm| same_key(rm, have)));
    }
    let key = DataKey::generate();
    let (wrapped, threshold) = super::wrap_data_key(&key, &groups, d.metadata.shamir_threshold, keyring)?;
    d.metadata.key_groups = wrapped;
    d.metadata.shamir_threshold = threshold;
    d.cipher.set_key(key);
    let source = (in_store.format() == out_store.format()).then_some(layout.bytes.as_slice());
    seal(layout.documents, &mut d.metadata, &mut d.cipher, out_store, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKeyEntry;
    use crate::ops::testkit::*;

    fn recipients(bytes: &[u8]) -> Vec<String> {
        json(bytes)["sops"]["age"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["recipient"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn rotation_changes_the_data_key_and_keeps_the_values() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one", "n": 2}"#, &kr);
        let out = rotate(&enc, &TestStore, &TestStore, &kr, RotateOptions::default()).unwrap();
        assert_ne!(json(&enc)["a"], json(&out)["a"]);
        assert_ne!(json(&enc)["sops"]["age"][0]["enc"], json(&out)["sops"]["age"][0]["enc"]);
        // IVs are reused (sops's stash survives the key change).
        let iv = |b: &[u8]| {
            json(b)["a"].as_str().unwrap().split(",iv:").nth(1).unwrap().split(',').next().unwrap().to_string()
        };
        assert_eq!(iv(&enc), iv(&out));
        assert_eq!(decrypt_json(&out, &kr), serde_json::json!({"a": "one", "n": 2}));
        let old_key = crate::ops::get_data_key(&TestStore.load_encrypted(&enc).unwrap().metadata, &kr).unwrap();
        let new_key = crate::ops::get_data_key(&TestStore.load_encrypted(&out).unwrap().metadata, &kr).unwrap();
        assert_ne!(old_key.as_bytes(), new_key.as_bytes());
    }

    #[test]
    fn keys_are_added_and_removed() {
        let kr = keyring_with(&[1, 2]);
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        let add = [KeySpec::Age(recipient(2))];
        let out = rotate(&enc, &TestStore, &TestStore, &kr, RotateOptions { add: &add, ..Default::default() }).unwrap();
        assert_eq!(recipients(&out), vec![recipient(1), recipient(2)]);
        // Only key 2 can open it after removing key 1.
        let rm = [KeySpec::Age(recipient(1))];
        let out =
            rotate(&out, &TestStore, &TestStore, &kr, RotateOptions { remove: &rm, ..Default::default() }).unwrap();
        assert_eq!(recipients(&out), vec![recipient(2)]);
        assert_eq!(decrypt_json(&out, &keyring_with(&[2]))["a"], "one");
        let md = TestStore.load_encrypted(&out).unwrap().metadata;
        assert!(crate::ops::get_data_key(&md, &keyring_with(&[1])).is_err());
        assert!(matches!(&md.key_groups[0][0], MasterKeyEntry::Age { .. }));
        // Removing the last key is refused.
        let rm = [KeySpec::Age(recipient(2))];
        assert!(rotate(&out, &TestStore, &TestStore, &kr, RotateOptions { remove: &rm, ..Default::default() }).is_err());
    }
}
