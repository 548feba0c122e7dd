//! `edit`: decrypt to a private temporary file, let the user change it, encrypt it again.
//!
//! As in sops, the file keeps its data key and its master keys (their wrapped keys stay valid),
//! and the cipher that decrypted the file re-encrypts it, so every value the user did not touch
//! gets its old IV back and its ENC string stays byte-identical: a git diff shows the changed
//! values, `mac` and `lastmodified`, nothing else. The edited plaintext is the new layout; the
//! store splices ENC strings into it. The temporary directory (0700, file 0600, named after the
//! target so editors pick the syntax) is removed on every path, including signals
//! ([`crate::platform::signals`]). A file that does not exist starts from sops's example content.
//!
//! The interaction (running the editor, asking whether to reopen it) is behind [`EditorUi`] so
//! the command line supplies the real editor and tests a scripted one.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::decrypt::{decrypt_file, DecryptOptions};
use super::encrypt::{ensure_no_metadata, EncryptParams};
use super::rewrite::{relayout, seal};
use super::verify::{self, Fidelity};
use crate::cipher::{Cipher, DataKey};
use crate::error::{Error, Result};
use crate::keys::Keyring;
use crate::metadata::Metadata;
use crate::platform::fsio::PrivateTempFile;
use crate::stores::Store;

/// The user's side of an edit.
pub trait EditorUi {
    /// Opens `path` in the editor and returns when it has been closed (an error if it failed).
    fn edit(&mut self, path: &Path) -> Result<()>;
    /// Tells the user why the edited file cannot be used; `Ok(true)` reopens the editor,
    /// `Ok(false)` gives up (the target stays untouched).
    fn reopen(&mut self, problem: &str) -> Result<bool>;
}

/// Options of an edit.
#[derive(Clone, Copy, Debug, Default)]
pub struct EditOptions {
    /// Skip the MAC check when decrypting (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Show the `sops` metadata in the temporary file and take it back from there (`-s`).
    pub show_master_keys: bool,
}

/// What the edit starts from.
pub enum Start<'a> {
    /// The encrypted file's bytes.
    Existing(&'a [u8]),
    /// A new file: sops's example content, encrypted with these keys and rule.
    New(&'a EncryptParams),
}

/// Runs an edit and returns the new encrypted file. `file_name` names the temporary file (only
/// its last component is used). `Err(Error::NotModified)` when the user saved nothing new.
pub fn edit(
    file_name: &str,
    start: Start<'_>,
    in_store: &dyn Store,
    out_store: &dyn Store,
    keyring: &Keyring,
    opts: EditOptions,
    ui: &mut dyn EditorUi,
) -> Result<super::verify::Verified> {
    let (layout, mut metadata, mut cipher) = match start {
        Start::Existing(input) => {
            let d = decrypt_file(input, in_store, keyring, DecryptOptions { ignore_mac: opts.ignore_mac })?;
            let layout = relayout(in_store, &d.documents, input)?;
            // The temporary file is written too: the user must see every value there was.
            verify::same_documents(&layout.documents, &d.documents, Fidelity::of(in_store.format(), false))?;
            (layout, d.metadata, d.cipher)
        }
        Start::New(params) => {
            let documents = in_store.example();
            let bytes = in_store.emit_plain(&documents, None)?;
            let example = documents;
            let documents = in_store.load_plain(&bytes)?;
            verify::same_documents(&documents, &example, Fidelity::of(in_store.format(), true))?;
            let records_rule = in_store.format().records_rule();
            let key = DataKey::generate();
            let (groups, threshold) = super::wrap_data_key(&key, &params.key_groups, params.shamir_threshold, keyring)?;
            let rule = if records_rule { params.crypt_rule.clone() } else { None };
            let metadata = Metadata::new(groups, threshold, rule, params.mac_only_encrypted && records_rule);
            (super::rewrite::Layout { bytes, documents }, metadata, Cipher::new(key))
        }
    };
    let content = if opts.show_master_keys {
        let shown = in_store.emit_encrypted(&layout.documents, &metadata, Some(&layout.bytes))?;
        let fidelity = Fidelity::of(in_store.format(), false);
        verify::encrypted_as_is(shown, in_store, &layout.documents, &metadata, fidelity)?.into_bytes()
    } else {
        layout.bytes
    };

    // Registered for removal on signals before it exists; removed (then unregistered) when dropped.
    let tmp = PrivateTempFile::create(file_name, &content)?;
    let original = Sha256::digest(&content);
    drop(content);

    let (documents, edited) = loop {
        ui.edit(tmp.path())?;
        let edited = std::fs::read(tmp.path()).map_err(|e| Error::io(tmp.path(), e))?;
        if Sha256::digest(&edited) == original {
            return Err(Error::NotModified);
        }
        match read_edited(&edited, in_store, opts.show_master_keys) {
            Ok((layout, md)) => {
                if let Some(md) = md {
                    metadata = md;
                }
                break (layout.documents, layout.bytes);
            }
            Err(problem) => {
                if !ui.reopen(&problem.to_string())? {
                    return Err(problem);
                }
            }
        }
    };
    let source = (in_store.format() == out_store.format()).then_some(edited.as_slice());
    seal(documents, &mut metadata, &mut cipher, out_store, source)
}

/// Reads the edited file: its documents (spans into the returned bytes) and, with `-s`, the
/// metadata the user left in it.
fn read_edited(
    edited: &[u8],
    store: &dyn Store,
    with_metadata: bool,
) -> Result<(super::rewrite::Layout, Option<Metadata>)> {
    if with_metadata {
        let f = store.load_encrypted(edited)?;
        if f.metadata.key_groups.iter().all(|g| g.is_empty()) {
            return Err(Error::NoKeys);
        }
        let layout = relayout(store, &f.documents, edited)?;
        Ok((layout, Some(f.metadata)))
    } else {
        let documents = store.load_plain(edited)?;
        ensure_no_metadata(&documents, store).map_err(|_| {
            Error::InvalidValue("the file has a top-level `sops` key, which is reserved for the metadata".into())
        })?;
        Ok((super::rewrite::Layout { bytes: edited.to_vec(), documents }, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testkit::*;

    /// An editor that applies `change` to the text, `times` answers for reopening.
    struct Scripted<F: FnMut(&str) -> String> {
        change: F,
        runs: usize,
        reopen_answers: Vec<bool>,
        seen_dir: Option<std::path::PathBuf>,
    }

    impl<F: FnMut(&str) -> String> EditorUi for Scripted<F> {
        fn edit(&mut self, path: &Path) -> Result<()> {
            self.runs += 1;
            self.seen_dir = path.parent().map(Path::to_path_buf);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
            }
            let text = std::fs::read_to_string(path).unwrap();
            std::fs::write(path, (self.change)(&text)).unwrap();
            Ok(())
        }
        fn reopen(&mut self, problem: &str) -> Result<bool> {
            assert!(!problem.is_empty());
            Ok(if self.reopen_answers.is_empty() { false } else { self.reopen_answers.remove(0) })
        }
    }

    fn scripted<F: FnMut(&str) -> String>(change: F) -> Scripted<F> {
        Scripted { change, runs: 0, reopen_answers: vec![], seen_dir: None }
    }

    #[test]
    fn changing_one_value_keeps_the_other_ciphertexts() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one", "b": "two", "n": 5}"#, &kr);
        let mut ui = scripted(|t: &str| t.replace("\"two\"", "\"TWO\""));
        let out = edit("s.json", Start::Existing(&enc), &TestStore, &TestStore, &kr, EditOptions::default(), &mut ui)
            .unwrap();
        let (before, after) = (json(&enc), json(&out));
        assert_eq!(before["a"], after["a"], "unchanged value keeps its ENC string");
        assert_eq!(before["n"], after["n"]);
        assert_ne!(before["b"], after["b"]);
        assert_eq!(before["sops"]["age"], after["sops"]["age"], "the data key and its wrapping are kept");
        assert_ne!(before["sops"]["mac"], after["sops"]["mac"]);
        assert_eq!(decrypt_json(&out, &kr), serde_json::json!({"a": "one", "b": "TWO", "n": 5}));
        assert!(!ui.seen_dir.unwrap().exists(), "the temp dir is gone");
    }

    #[test]
    fn unchanged_edit_is_not_modified() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        let mut ui = scripted(|t: &str| t.to_string());
        let err = edit("s.json", Start::Existing(&enc), &TestStore, &TestStore, &kr, EditOptions::default(), &mut ui)
            .unwrap_err();
        assert!(matches!(err, Error::NotModified));
        assert_eq!(err.exit_code(), 200);
        assert!(!ui.seen_dir.unwrap().exists());
    }

    #[test]
    fn unparsable_result_reopens_or_gives_up() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        // First save is broken; the user reopens and fixes it.
        let mut n = 0;
        let mut ui = scripted(move |t: &str| {
            n += 1;
            if n == 1 {
                "{not json".to_string()
            } else {
                assert_eq!(t, "{not json");
                r#"{"a": "fixed"}"#.to_string()
            }
        });
        ui.reopen_answers = vec![true];
        let out = edit("s.json", Start::Existing(&enc), &TestStore, &TestStore, &kr, EditOptions::default(), &mut ui)
            .unwrap();
        assert_eq!(ui.runs, 2);
        assert_eq!(decrypt_json(&out, &kr), serde_json::json!({"a": "fixed"}));
        // Giving up returns the parse error.
        let mut ui = scripted(|_: &str| "{not json".to_string());
        let err = edit("s.json", Start::Existing(&enc), &TestStore, &TestStore, &kr, EditOptions::default(), &mut ui)
            .unwrap_err();
        assert!(matches!(err, Error::Parse { .. }), "{err}");
        assert!(!ui.seen_dir.unwrap().exists());
    }

    #[test]
    fn adding_a_sops_key_is_refused() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one"}"#, &kr);
        let mut ui = scripted(|_: &str| r#"{"a": "one", "sops": {}}"#.to_string());
        let err = edit("s.json", Start::Existing(&enc), &TestStore, &TestStore, &kr, EditOptions::default(), &mut ui)
            .unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn show_master_keys_round_trips_the_metadata() {
        let kr = keyring1();
        let enc = encrypt_json(r#"{"a": "one", "b": "two"}"#, &kr);
        let mut ui = scripted(|t: &str| {
            let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
            assert!(v["sops"]["age"].is_array(), "metadata shown");
            assert_eq!(v["a"], "one", "values shown in plaintext");
            v["b"] = "changed".into();
            v.to_string()
        });
        let opts = EditOptions { show_master_keys: true, ..Default::default() };
        let out = edit("s.json", Start::Existing(&enc), &TestStore, &TestStore, &kr, opts, &mut ui).unwrap();
        assert_eq!(json(&enc)["a"], json(&out)["a"]);
        assert_eq!(decrypt_json(&out, &kr), serde_json::json!({"a": "one", "b": "changed"}));
    }

    #[test]
    fn a_new_file_starts_from_the_example() {
        let kr = keyring1();
        let params =
            EncryptParams { key_groups: vec![vec![crate::keys::KeySpec::Age(recipient(1))]], ..Default::default() };
        let mut ui = scripted(|t: &str| {
            assert!(t.contains(crate::stores::example::WELCOME));
            t.replace("example_value\"", "mine\"")
        });
        let out = edit("new.json", Start::New(&params), &TestStore, &TestStore, &kr, EditOptions::default(), &mut ui)
            .unwrap();
        let plain = decrypt_json(&out, &kr);
        assert_eq!(plain["example_key"], "mine");
        assert_eq!(plain["example_number"], 1234.56789);
        assert_eq!(json(&out)["sops"]["unencrypted_suffix"], "_unencrypted");
    }
}
