//! age master keys, through the `age` crate.
//!
//! The data key is encrypted to each recipient as an ASCII-armored age file (64-column lines and a
//! trailing newline, as sops stores it). Identities come from where sops looks, in its order:
//! `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, then `$XDG_CONFIG_HOME/sops/age/keys.txt`
//! (`~/.config/sops/age/keys.txt`). They are read lazily, once, on the first decryption.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyKind, KeySource, KeySpec, MasterKeyEntry};

/// age key source: recipients for encryption, the user's identities for decryption.
pub struct AgeSource {
    identities: OnceLock<std::result::Result<Vec<age::x25519::Identity>, String>>,
    env: AgeEnv,
}

/// Where identities come from; captured from the environment at start so behaviour is predictable.
#[derive(Clone, Debug, Default)]
pub struct AgeEnv {
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    pub key_cmd: Option<String>,
    pub default_file: Option<PathBuf>,
}

impl AgeEnv {
    /// Reads the sops age variables.
    pub fn from_env() -> Self {
        let non_empty = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let config_dir = non_empty("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".config")));
        AgeEnv {
            key: non_empty("SOPS_AGE_KEY"),
            key_file: non_empty("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            key_cmd: non_empty("SOPS_AGE_KEY_CMD"),
            default_file: config_dir.map(|d| d.join("sops").join("age").join("keys.txt")),
        }
    }
}

impl AgeSource {
    /// Configured from the sops environment variables.
    pub fn from_env() -> Self {
        AgeSource::with_env(AgeEnv::from_env())
    }

    /// Configured explicitly (tests).
    pub fn with_env(env: AgeEnv) -> Self {
        AgeSource { identities: OnceLock::new(), env }
    }

    fn identities(&self) -> Result<&Vec<age::x25519::Identity>> {
        self.identities
            .get_or_init(|| load_identities(&self.env))
            .as_ref()
            .map_err(|e| Error::Key { key_type: "age", message: e.clone() })
    }
}

/// Parses every `AGE-SECRET-KEY-1…` line of a key file's text; comments and blank lines are skipped.
pub fn parse_identities(text: &str, origin: &str) -> std::result::Result<Vec<age::x25519::Identity>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // SOPS_AGE_KEY may hold public keys since sops 3.13; they are not identities.
        if line.starts_with("age1") {
            continue;
        }
        match line.parse::<age::x25519::Identity>() {
            Ok(id) => out.push(id),
            Err(_) => return Err(format!("{origin}, line {}: not an age identity (AGE-SECRET-KEY-1…)", n + 1)),
        }
    }
    Ok(out)
}

fn load_identities(env: &AgeEnv) -> std::result::Result<Vec<age::x25519::Identity>, String> {
    let mut ids = Vec::new();
    let mut looked = Vec::new();
    if let Some(k) = &env.key {
        ids.extend(parse_identities(k, "SOPS_AGE_KEY")?);
        looked.push("SOPS_AGE_KEY".to_string());
    }
    if let Some(f) = &env.key_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(f).map_err(|e| format!("SOPS_AGE_KEY_FILE {}: {e}", f.display()))?,
        );
        ids.extend(parse_identities(&text, &f.display().to_string())?);
        looked.push(format!("SOPS_AGE_KEY_FILE ({})", f.display()));
    }
    if let Some(cmd) = &env.key_cmd {
        let argv = shlex::split(cmd).ok_or_else(|| "SOPS_AGE_KEY_CMD: cannot split the command".to_string())?;
        let (prog, args) = argv.split_first().ok_or_else(|| "SOPS_AGE_KEY_CMD is empty".to_string())?;
        let out = Command::new(prog)
            .args(args)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("SOPS_AGE_KEY_CMD: could not run {prog}: {e}"))?;
        if !out.status.success() {
            return Err(format!("SOPS_AGE_KEY_CMD: {prog} failed with {}", out.status));
        }
        let text = Zeroizing::new(String::from_utf8_lossy(&out.stdout).into_owned());
        ids.extend(parse_identities(&text, "SOPS_AGE_KEY_CMD output")?);
        looked.push("SOPS_AGE_KEY_CMD".to_string());
    }
    if let Some(f) = &env.default_file {
        // The default location is a convenience: one that cannot be read (EACCES, a directory...)
        // is skipped, never fatal while another source may hold the key; it is named in the error
        // when no identity was found at all.
        match std::fs::read_to_string(f) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                ids.extend(parse_identities(&text, &f.display().to_string())?);
                looked.push(f.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => looked.push(f.display().to_string()),
            Err(e) => {
                if crate::console::verbose() {
                    crate::errln!("kvsops: skipping the age key file {}: {e}", f.display());
                }
                looked.push(format!("{} (skipped: {e})", f.display()));
            }
        }
    }
    if ids.is_empty() {
        return Err(format!(
            "no age identity found (looked in {}); set SOPS_AGE_KEY_FILE to your key file",
            if looked.is_empty() { "nothing".to_string() } else { looked.join(", ") }
        ));
    }
    Ok(ids)
}

/// Parses a recipient as sops accepts it (`age1…`).
pub fn parse_recipient(r: &str) -> Result<age::x25519::Recipient> {
    r.trim().parse::<age::x25519::Recipient>().map_err(|e| Error::Key {
        key_type: "age",
        message: format!("{r:?} is not an age recipient (age1…): {e}"),
    })
}

/// Encrypts `secret` to one recipient as an armored age file.
pub fn encrypt_armored(recipient: &age::x25519::Recipient, secret: &[u8]) -> Result<String> {
    let fail = |e: &dyn std::fmt::Display| Error::Key { key_type: "age", message: format!("could not encrypt: {e}") };
    let recipients: Vec<&dyn age::Recipient> = vec![recipient];
    let encryptor = age::Encryptor::with_recipients(recipients.into_iter()).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| fail(&e))?;
    let mut w = encryptor.wrap_output(armored).map_err(|e| fail(&e))?;
    w.write_all(secret).map_err(|e| fail(&e))?;
    w.finish().and_then(|a| a.finish()).map_err(|e| fail(&e))?;
    let mut s = String::from_utf8(out).map_err(|e| fail(&e))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Decrypts an armored age file with any of the identities.
pub fn decrypt_armored(enc: &str, identities: &[age::x25519::Identity]) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let reader = age::armor::ArmoredReader::new(enc.trim_start().as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(|e| format!("the enc field is not an age file: {e}"))?;
    let ids = identities.iter().map(|i| i as &dyn age::Identity);
    let mut r = decryptor.decrypt(ids).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => "none of the available age identities can open it".to_string(),
        other => other.to_string(),
    })?;
    let mut out = Zeroizing::new(Vec::new());
    r.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

impl KeySource for AgeSource {
    fn handles(&self, kind: KeyKind) -> bool {
        kind == KeyKind::Age
    }

    fn wrap(&self, spec: &KeySpec, secret: &[u8]) -> Result<MasterKeyEntry> {
        let KeySpec::Age(r) = spec else {
            return Err(Error::Unsupported(format!("{} is not an age key", spec.describe())));
        };
        let recipient = parse_recipient(r)?;
        Ok(MasterKeyEntry::Age { recipient: r.trim().to_string(), enc: encrypt_armored(&recipient, secret)? })
    }

    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
        let MasterKeyEntry::Age { enc, .. } = entry else {
            return Err(Error::Unsupported("not an age entry".into()));
        };
        let ids = self.identities()?;
        decrypt_armored(enc, ids).map_err(|message| Error::Key { key_type: "age", message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_unwraps_with_armor_as_sops_stores_it() {
        let id: age::x25519::Identity = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let src = AgeSource::with_env(AgeEnv { key: Some(secrecy_text(&id)), ..Default::default() });
        let entry = src.wrap(&KeySpec::Age(recipient.clone()), &[7u8; 32]).unwrap();
        let MasterKeyEntry::Age { enc, recipient: r } = &entry else { panic!() };
        assert_eq!(r, &recipient);
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        assert!(enc.lines().all(|l| l.len() <= 64));
        assert_eq!(&src.unwrap(&entry).unwrap()[..], &[7u8; 32]);
    }

    fn secrecy_text(id: &age::x25519::Identity) -> String {
        use age::secrecy::ExposeSecret;
        id.to_string().expose_secret().to_string()
    }

    #[test]
    fn missing_identity_is_a_clear_error() {
        let id = age::x25519::Identity::generate();
        let entry = AgeSource::with_env(AgeEnv::default())
            .wrap(&KeySpec::Age(id.to_public().to_string()), b"k")
            .unwrap();
        let err = AgeSource::with_env(AgeEnv::default()).unwrap(&entry).unwrap_err().to_string();
        assert!(err.contains("no age identity found"), "{err}");
        let stranger = age::x25519::Identity::generate();
        let other = AgeSource::with_env(AgeEnv { key: Some(secrecy_text(&stranger)), ..Default::default() });
        let err = other.unwrap(&entry).unwrap_err().to_string();
        assert!(err.contains("none of the available age identities"), "{err}");
    }

    #[test]
    fn an_unreadable_default_key_file_is_skipped() {
        let id = age::x25519::Identity::generate();
        let d = tempfile::tempdir().unwrap();
        let key_file = d.path().join("key.txt");
        std::fs::write(&key_file, format!("{}\n", secrecy_text(&id))).unwrap();
        // A directory cannot be read as a file, for root too (a 0000 file can).
        let unreadable = d.path().join("keys.txt");
        std::fs::create_dir(&unreadable).unwrap();
        let env = AgeEnv { key_file: Some(key_file), default_file: Some(unreadable.clone()), ..Default::default() };
        let entry = AgeSource::with_env(AgeEnv::default()).wrap(&KeySpec::Age(id.to_public().to_string()), b"k").unwrap();
        assert_eq!(&AgeSource::with_env(env).unwrap(&entry).unwrap()[..], b"k");
        let alone = AgeSource::with_env(AgeEnv { default_file: Some(unreadable), ..Default::default() });
        let err = alone.unwrap(&entry).unwrap_err().to_string();
        assert!(err.contains("no age identity found") && err.contains("skipped"), "{err}");
    }

    #[test]
    fn bad_recipient_and_bad_key_file_are_refused() {
        assert!(parse_recipient("age1nope").is_err());
        assert!(parse_identities("AGE-SECRET-KEY-1XYZ\n", "f").is_err());
        assert!(parse_identities("# comment\n\n", "f").unwrap().is_empty());
    }
}
