//! PGP master keys through GnuPG, and interop with the real sops 3.11 both ways: sops wraps a data
//! key with `--pgp` and kvsops unwraps it; kvsops wraps one (also as Shamir shares over several
//! groups) and `sops decrypt` opens the file.
//!
//! Each test makes its own throwaway GNUPGHOME with a passphrase-less key. Without `gpg` (or
//! `sops` for the interop tests) a test is skipped with a notice, unless KVSOPS_REQUIRE_INTEROP is
//! set, in which case a missing tool fails it.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use kvsops::cipher::{Cipher, DataKey};
use kvsops::keys::pgp::PgpSource;
use kvsops::keys::{shamir, KeySource, KeySpec, Keyring, MasterKeyEntry};
use kvsops::mac::{encrypt_mac, MacHasher};
use kvsops::metadata::Metadata;
use kvsops::tree::{Leaf, Mapping, Node, Scalar, SeqItem, Value};

use common::{have, Sandbox};

/// A throwaway GnuPG home; its gpg-agent is stopped and the directory removed on drop.
struct GpgHome {
    dir: tempfile::TempDir,
}

impl GpgHome {
    fn new() -> Self {
        // Short path under /tmp: gpg-agent's socket path has a length limit.
        let dir = tempfile::Builder::new().prefix("kvsops-gpg").tempdir_in("/tmp").unwrap();
        // gpg warns about a home others can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        GpgHome { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn gpg(&self, args: &[&str]) -> Output {
        let out = Command::new("gpg").env("GNUPGHOME", self.path()).args(args).output().unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Generates a passphrase-less ed25519/cv25519 key and returns its fingerprint.
    fn generate_key(&self, email: &str) -> String {
        let uid = format!("kvsops test <{email}>");
        self.gpg(&["--batch", "--quick-gen-key", "--passphrase", "", &uid, "future-default", "default", "never"]);
        let out = self.gpg(&["--batch", "--with-colons", "--list-keys", email]);
        let text = String::from_utf8(out.stdout).unwrap();
        let fp = text.lines().find_map(|l| l.strip_prefix("fpr:")).unwrap();
        fp.trim_matches(':').to_string()
    }

    fn delete_secret_key(&self, fp: &str) {
        self.gpg(&["--batch", "--yes", "--delete-secret-keys", fp]);
    }

    fn source(&self) -> PgpSource {
        PgpSource::new("gpg", Some(self.path().to_path_buf()))
    }

    /// Runs the real sops in the sandbox `sb` with this keyring.
    fn sops(&self, sb: &Sandbox, args: &[&str]) -> Output {
        sb.sops().env("GNUPGHOME", self.path()).args(args).output().unwrap()
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").env("GNUPGHOME", self.path()).args(["--kill", "gpg-agent"]).output();
    }
}

/// Groups a fingerprint in blocks of four, as users paste it from `gpg --fingerprint`.
fn spaced(fp: &str) -> String {
    fp.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
}

const SECRET: &[u8; 32] = b"kvsops-test-data-key-0123456789!";

#[test]
fn wraps_and_unwraps_through_gpg() {
    if !have("gpg") {
        return;
    }
    let home = GpgHome::new();
    let fp = home.generate_key("t@example.invalid");
    let src = home.source();
    let entry = src.wrap(&KeySpec::Pgp(spaced(&fp)), SECRET).unwrap();
    let MasterKeyEntry::Pgp { fp: stored_fp, created_at, enc } = &entry else { panic!("not a pgp entry") };
    assert_eq!(stored_fp, &fp, "spaces are removed from the fingerprint");
    let t = kvsops::timefmt::parse_rfc3339(created_at).unwrap();
    assert_eq!(created_at, &kvsops::timefmt::format_rfc3339(t));
    assert!(created_at.ends_with('Z'));
    assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n"), "{enc}");
    assert!(enc.ends_with("-----END PGP MESSAGE-----"), "trimmed like sops: {enc:?}");
    assert!(!enc.contains("kvsops-test-data-key"));
    assert_eq!(&src.unwrap(&entry).unwrap()[..], SECRET);

    // Through the keyring, as the operations use it.
    let keyring = Keyring::with_sources(vec![Box::new(home.source())]);
    assert_eq!(&keyring.open_group(std::slice::from_ref(&entry)).unwrap()[..], SECRET);
}

#[test]
fn errors_name_the_key_and_never_the_secret() {
    if !have("gpg") {
        return;
    }
    let home = GpgHome::new();
    let fp = home.generate_key("t@example.invalid");
    let src = home.source();

    let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
    let err = src.wrap(&KeySpec::Pgp(unknown.into()), SECRET).unwrap_err().to_string();
    assert!(err.contains(unknown) && err.contains("not found in the GnuPG keyring"), "{err}");

    let entry = src.wrap(&KeySpec::Pgp(fp.clone()), SECRET).unwrap();
    // Another keyring, without the secret key.
    let other = GpgHome::new();
    other.generate_key("other@example.invalid");
    let err = other.source().unwrap(&entry).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&fp) && msg.contains("no secret key"), "{msg}");
    assert!(!msg.contains("kvsops-test-data-key"), "{msg}");
    assert_eq!(err.exit_code(), kvsops::error::exit::COULD_NOT_RETRIEVE_KEY);

    // The public key alone (imported) encrypts but cannot decrypt.
    let public = home.gpg(&["--batch", "--armor", "--export", &fp]).stdout;
    let exported = other.path().join("public.asc");
    std::fs::write(&exported, public).unwrap();
    other.gpg(&["--batch", "--quiet", "--import", exported.to_str().unwrap()]);
    let entry2 = other.source().wrap(&KeySpec::Pgp(fp.clone()), SECRET).unwrap();
    assert!(other.source().unwrap(&entry2).unwrap_err().to_string().contains("no secret key"));
    assert_eq!(&src.unwrap(&entry2).unwrap()[..], SECRET);

    let garbage =
        MasterKeyEntry::Pgp { fp: fp.clone(), created_at: "2024-01-01T00:00:00Z".into(), enc: "garbage".into() };
    let err = src.unwrap(&garbage).unwrap_err().to_string();
    assert!(err.contains("not an armored PGP message"), "{err}");
}

// --- Interop with the real sops ---

/// The armored PGP messages of a sops YAML file, by a line scan (the blank line after the armor
/// header is an empty line inside the literal block).
fn pgp_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        let t = line.trim();
        if t == "-----BEGIN PGP MESSAGE-----" {
            current = Some(Vec::new());
        }
        if let Some(lines) = current.as_mut() {
            lines.push(t);
        }
        if t == "-----END PGP MESSAGE-----" {
            blocks.extend(current.take().map(|l| l.join("\n")));
        }
    }
    blocks
}

/// The value after `prefix` on the first line that starts with it.
fn value_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in {text}")).trim()
}

#[test]
fn unwraps_what_sops_wrapped() {
    if !have("gpg") || !have("sops") {
        return;
    }
    let home = GpgHome::new();
    let fp = home.generate_key("t@example.invalid");
    let work = Sandbox::new();
    std::fs::write(work.path().join("plain.yaml"), "hello: world\ncount: 3\n").unwrap();
    let out = home.sops(&work, &["encrypt", "--pgp", &fp, "plain.yaml"]);
    assert!(out.status.success(), "sops encrypt: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();

    let blocks = pgp_blocks(&text);
    assert_eq!(blocks.len(), 1, "{text}");
    let entry = MasterKeyEntry::Pgp {
        fp: value_after(&text, "          fp: ").to_string(),
        created_at: value_after(&text, "        - created_at: ").trim_matches('"').to_string(),
        enc: blocks[0].clone(),
    };
    let MasterKeyEntry::Pgp { fp: file_fp, .. } = &entry else { unreachable!() };
    assert_eq!(file_fp, &fp);
    let key = home.source().unwrap(&entry).unwrap();
    let mut cipher = Cipher::new(DataKey::from_slice(&key).expect("a 32-byte data key"));
    assert_eq!(
        cipher.decrypt_str(value_after(&text, "hello: "), "hello:").unwrap(),
        Leaf::Scalar(Scalar::str("world"))
    );
    assert_eq!(
        cipher.decrypt_str(value_after(&text, "count: "), "count:").unwrap(),
        Leaf::Scalar(Scalar::new(Value::Int(3)))
    );

    // A keyring without the secret key cannot.
    let stranger = GpgHome::new();
    stranger.generate_key("s@example.invalid");
    assert!(stranger.source().unwrap(&entry).is_err());
}

/// A minimal YAML writer for the test files, in sops's block layout (indent 4, `|-` literal
/// blocks, quoted timestamps). Only what the metadata and the test values need.
fn emit_map(m: &Mapping, indent: usize, first_inline: bool, out: &mut String) {
    for (n, e) in m.entries().enumerate() {
        if !(first_inline && n == 0) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&e.key);
        out.push(':');
        match &e.value {
            Node::Scalar(s) => emit_scalar(&s.value, indent, out),
            Node::Map(inner) => {
                out.push('\n');
                emit_map(inner, indent + 4, false, out);
            }
            Node::Seq(seq) if seq.items.is_empty() => out.push_str(" []\n"),
            Node::Seq(seq) => {
                out.push('\n');
                for item in &seq.items {
                    let SeqItem::Node(node) = item else { continue };
                    out.push_str(&" ".repeat(indent + 4));
                    out.push_str("- ");
                    match node {
                        Node::Map(im) => emit_map(im, indent + 6, true, out),
                        Node::Scalar(s) => {
                            let mut v = String::new();
                            emit_scalar(&s.value, indent + 6, &mut v);
                            out.push_str(v.trim_start());
                        }
                        Node::Seq(_) => unimplemented!("nested sequences"),
                    }
                }
            }
        }
    }
}

fn emit_scalar(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Str(s) if s.contains('\n') => {
            let body = s.strip_suffix('\n');
            out.push_str(if body.is_some() { " |\n" } else { " |-\n" });
            for line in body.unwrap_or(s).split('\n') {
                if !line.is_empty() {
                    out.push_str(&" ".repeat(indent + 4));
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        Value::Str(s) if kvsops::timefmt::parse_rfc3339(s).is_some() => out.push_str(&format!(" \"{s}\"\n")),
        Value::Str(s) => out.push_str(&format!(" {s}\n")),
        Value::Int(i) => out.push_str(&format!(" {i}\n")),
        Value::Bool(b) => out.push_str(&format!(" {b}\n")),
        other => unimplemented!("{other:?}"),
    }
}

/// Encrypts the test document under `key`, computes the MAC, and writes a sops YAML file with
/// the given key groups (one group: top-level lists; several: Shamir `key_groups`).
fn write_sops_file(path: &Path, key: &DataKey, groups: Vec<Vec<MasterKeyEntry>>, threshold: Option<u32>) {
    let mut cipher = Cipher::new(key.clone());
    let mut mac = MacHasher::new(false);
    let mut doc = Mapping::new();
    // (key path, value, encrypted?) in document order.
    let leaves = [
        (vec!["hello"], Value::Str("world".into()), true),
        (vec!["count"], Value::Int(3), true),
        (vec!["nested", "flag"], Value::Bool(true), true),
        (vec!["note_unencrypted"], Value::Str("plain".into()), false),
    ];
    let mut nested = Mapping::new();
    for (path, value, encrypted) in leaves {
        let leaf = Leaf::Scalar(Scalar::new(value.clone()));
        mac.add(&leaf, encrypted);
        let node = if encrypted {
            Node::str(cipher.encrypt_leaf(&leaf, &format!("{}:", path.join(":"))))
        } else {
            Node::Scalar(Scalar::new(value))
        };
        match path.as_slice() {
            [k] => doc.push(*k, node),
            [_, k] => nested.push(*k, node),
            _ => unreachable!(),
        }
        if path == ["nested", "flag"] {
            doc.push("nested", Node::Map(std::mem::take(&mut nested)));
        }
    }
    let mut md = Metadata::new(groups, threshold, None, false);
    md.mac = encrypt_mac(&mut cipher, &mac.finish(), md.lastmodified);
    doc.push("sops", Node::Map(md.to_mapping()));
    let mut text = String::new();
    emit_map(&doc, 0, false, &mut text);
    std::fs::write(path, text).unwrap();
}

const PLAIN: &str = "hello: world\ncount: 3\nnested:\n    flag: true\nnote_unencrypted: plain\n";

#[test]
fn sops_decrypts_what_kvsops_wrapped() {
    if !have("gpg") || !have("sops") {
        return;
    }
    let home = GpgHome::new();
    let fp = home.generate_key("t@example.invalid");
    let work = Sandbox::new();
    let key = DataKey::generate();
    let entry = home.source().wrap(&KeySpec::Pgp(fp.clone()), key.as_bytes()).unwrap();
    let file = work.path().join("kv.enc.yaml");
    write_sops_file(&file, &key, vec![vec![entry]], None);

    let out = home.sops(&work, &["decrypt", "kv.enc.yaml"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(out.status.success(), "sops decrypt: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), PLAIN, "{text}");

    // Without the secret key sops cannot get the data key (exit 128).
    assert_eq!(value_after(&text, "          fp: "), fp);
    home.delete_secret_key(&fp);
    let out = home.sops(&work, &["decrypt", "kv.enc.yaml"]);
    assert_eq!(out.status.code(), Some(128), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sops_combines_shamir_shares_that_kvsops_split_and_wrapped() {
    if !have("gpg") || !have("sops") {
        return;
    }
    let home = GpgHome::new();
    let fps: Vec<String> = (1..=3).map(|i| home.generate_key(&format!("g{i}@example.invalid"))).collect();
    let key = DataKey::generate();
    let shares = shamir::split(key.as_bytes(), 3, 2).unwrap();
    let src = home.source();
    let groups: Vec<Vec<MasterKeyEntry>> =
        fps.iter().zip(&shares).map(|(fp, share)| vec![src.wrap(&KeySpec::Pgp(fp.clone()), share).unwrap()]).collect();
    let work = Sandbox::new();
    let file = work.path().join("sh.enc.yaml");
    write_sops_file(&file, &key, groups, Some(2));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("    shamir_threshold: 2\n    key_groups:\n"), "{text}");

    let decrypt = || home.sops(&work, &["decrypt", "sh.enc.yaml"]);
    let out = decrypt();
    assert!(out.status.success(), "sops decrypt: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), PLAIN);

    // Any two groups are enough: drop the first key, then sops still decrypts.
    home.delete_secret_key(&fps[0]);
    let out = decrypt();
    assert!(out.status.success(), "two of three groups: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), PLAIN);
    // One group alone is not.
    home.delete_secret_key(&fps[2]);
    let out = decrypt();
    assert_eq!(out.status.code(), Some(128), "{}", String::from_utf8_lossy(&out.stderr));

    // And kvsops itself recombines what it can open: only group 2 now, which is not enough.
    let opened: Vec<_> = pgp_blocks(&text).into_iter().filter_map(|enc| src.decrypt(&enc).ok()).collect();
    assert_eq!(opened.len(), 1);
    assert!(shamir::combine(&[&opened[0]]).is_err());
}

#[test]
fn shamir_shares_sops_wrapped_for_pgp_groups_combine() {
    if !have("gpg") || !have("sops") {
        return;
    }
    let home = GpgHome::new();
    let fps: Vec<String> = (1..=3).map(|i| home.generate_key(&format!("g{i}@example.invalid"))).collect();
    let work = Sandbox::new();
    let config = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n{}",
        fps.iter().map(|fp| format!("      - pgp:\n          - {fp}\n")).collect::<String>()
    );
    std::fs::write(work.path().join(".sops.yaml"), config).unwrap();
    std::fs::write(work.path().join("plain.yaml"), "hello: world\n").unwrap();
    let out = home.sops(&work, &["encrypt", "plain.yaml"]);
    assert!(out.status.success(), "sops encrypt: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let blocks = pgp_blocks(&text);
    assert_eq!(blocks.len(), 3, "{text}");

    let src = home.source();
    let shares: Vec<_> = blocks.iter().map(|b| src.decrypt(b).unwrap()).collect();
    for (i, share) in shares.iter().enumerate() {
        assert_eq!(share.len(), 33);
        assert_eq!(share[32] as usize, i + 1);
    }
    let hello = value_after(&text, "hello: ");
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        let key = shamir::combine(&[&shares[i], &shares[j]]).unwrap();
        let mut cipher = Cipher::new(DataKey::from_slice(&key).unwrap());
        assert_eq!(cipher.decrypt_str(hello, "hello:").unwrap(), Leaf::Scalar(Scalar::str("world")), "groups {i}, {j}");
    }
    let mut cipher = Cipher::new(DataKey::from_slice(&shares[1][..32]).unwrap());
    assert!(cipher.decrypt_str(hello, "hello:").is_err(), "one share is not the key");
}
