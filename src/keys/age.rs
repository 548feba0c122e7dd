//! age master keys, through the `age` crate.
//!
//! The data key is encrypted to each recipient as an ASCII-armored age file (64-column lines and a
//! trailing newline, as sops stores it). Recipients are what sops 3.11 accepts: X25519 (`age1…`),
//! plugin recipients (`age1<name>1…`, wrapped by the `age-plugin-<name>` binary on PATH) and SSH
//! public keys (`ssh-ed25519 …`, `ssh-rsa …`); the metadata keeps the recipient as written (an SSH
//! key's comment included), as sops does.
//!
//! Identities come from where sops looks: SSH private keys first (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
//! `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`, each used when present), then `SOPS_AGE_KEY`,
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` and `$XDG_CONFIG_HOME/sops/age/keys.txt`
//! (`~/.config/sops/age/keys.txt`), whose lines may be X25519 (`AGE-SECRET-KEY-1…`) or plugin
//! (`AGE-PLUGIN-…`) identities. They are read lazily, once, on the first decryption. A
//! passphrase-protected SSH key asks for its passphrase on the terminal only when a file was
//! encrypted to it, once per run.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use age::secrecy::SecretString;
use age_core::format::{FileKey, Stanza};
use base64::Engine;
use sha2::Digest;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyKind, KeySource, KeySpec, MasterKeyEntry};

/// Asks the user for a passphrase (the prompt names the key file); `Err` says why nobody can be asked.
pub type PassphrasePrompt = fn(&str) -> std::result::Result<SecretString, String>;

/// An identity that any thread of a batch may use.
type AnyIdentity = Box<dyn age::Identity + Send + Sync>;

/// The identities of a run, and what went wrong while loading them (told only when none opens a file).
struct Loaded {
    ids: Vec<AnyIdentity>,
    notes: Vec<String>,
}

/// age key source: recipients for encryption, the user's identities for decryption.
pub struct AgeSource {
    identities: OnceLock<std::result::Result<Loaded, String>>,
    env: AgeEnv,
}

/// Where identities come from; captured from the environment at start so behaviour is predictable.
#[derive(Clone, Debug, Default)]
pub struct AgeEnv {
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    pub key_cmd: Option<String>,
    pub default_file: Option<PathBuf>,
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`.
    pub ssh_key_file: Option<PathBuf>,
    /// The home directory whose `.ssh/id_ed25519` and `.ssh/id_rsa` are tried.
    pub home: Option<PathBuf>,
    /// How an encrypted SSH key's passphrase is asked for; `None` is the terminal (tests set one).
    pub prompt: Option<PassphrasePrompt>,
}

impl AgeEnv {
    /// Reads the sops age variables.
    pub fn from_env() -> Self {
        let non_empty = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = non_empty("HOME").map(PathBuf::from);
        let config_dir =
            non_empty("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".config")));
        AgeEnv {
            key: non_empty("SOPS_AGE_KEY"),
            key_file: non_empty("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            key_cmd: non_empty("SOPS_AGE_KEY_CMD"),
            default_file: config_dir.map(|d| d.join("sops").join("age").join("keys.txt")),
            ssh_key_file: non_empty("SOPS_AGE_SSH_PRIVATE_KEY_FILE").map(PathBuf::from),
            home,
            prompt: None,
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

    fn identities(&self) -> Result<&Loaded> {
        self.identities
            .get_or_init(|| load_identities(&self.env))
            .as_ref()
            .map_err(|e| Error::Key { key_type: "age", message: e.clone() })
    }
}

/// The identities of one key file's text (or `SOPS_AGE_KEY`, or a command's output).
#[derive(Default)]
struct KeyLines {
    x25519: Vec<age::x25519::Identity>,
    plugin: Vec<age::plugin::Identity>,
}

/// Parses every identity line: `AGE-SECRET-KEY-1…` and `AGE-PLUGIN-…`; comments, blank lines and
/// public keys (which `SOPS_AGE_KEY` may hold since sops 3.13) are skipped.
fn parse_key_lines(text: &str, origin: &str) -> std::result::Result<KeyLines, String> {
    let mut out = KeyLines::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("age1") {
            continue;
        }
        if line.starts_with("AGE-PLUGIN-") {
            match line.parse::<age::plugin::Identity>() {
                Ok(id) => out.plugin.push(id),
                Err(e) => return Err(format!("{origin}, line {}: not an age plugin identity: {e}", n + 1)),
            }
            continue;
        }
        match line.parse::<age::x25519::Identity>() {
            Ok(id) => out.x25519.push(id),
            Err(_) => {
                return Err(format!(
                    "{origin}, line {}: not an age identity (AGE-SECRET-KEY-1… or AGE-PLUGIN-…)",
                    n + 1
                ))
            }
        }
    }
    Ok(out)
}

/// Parses the X25519 identities (`AGE-SECRET-KEY-1…`) of a key file's text; plugin identities are
/// left out, comments and blank lines skipped.
pub fn parse_identities(text: &str, origin: &str) -> std::result::Result<Vec<age::x25519::Identity>, String> {
    parse_key_lines(text, origin).map(|l| l.x25519)
}

/// Adds the key lines of one source, or fails the whole load as before (a broken key file is an
/// error the user must see, not a silently missing key).
fn add_lines(lines: &mut KeyLines, text: &str, origin: &str) -> std::result::Result<(), String> {
    let more = parse_key_lines(text, origin)?;
    lines.x25519.extend(more.x25519);
    lines.plugin.extend(more.plugin);
    Ok(())
}

fn load_identities(env: &AgeEnv) -> std::result::Result<Loaded, String> {
    let mut ids: Vec<AnyIdentity> = Vec::new();
    let mut notes = Vec::new();
    let mut looked = Vec::new();
    let prompt = env.prompt.unwrap_or(terminal_passphrase);

    // SSH keys first, as sops: the named file, then the two default names, each used when present.
    if let Some(f) = &env.ssh_key_file {
        looked.push(format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE ({})", f.display()));
        match load_ssh_identity(f, prompt) {
            Ok(id) => ids.push(id),
            Err(e) => notes.push(e),
        }
    }
    if let Some(home) = &env.home {
        for name in ["id_ed25519", "id_rsa"] {
            let f = home.join(".ssh").join(name);
            looked.push(f.display().to_string());
            if std::fs::metadata(&f).is_ok() {
                match load_ssh_identity(&f, prompt) {
                    Ok(id) => ids.push(id),
                    Err(e) => notes.push(e),
                }
            }
        }
    }

    let mut lines = KeyLines::default();
    if let Some(k) = &env.key {
        add_lines(&mut lines, k, "SOPS_AGE_KEY")?;
        looked.push("SOPS_AGE_KEY".to_string());
    }
    if let Some(f) = &env.key_file {
        let text =
            Zeroizing::new(std::fs::read_to_string(f).map_err(|e| format!("SOPS_AGE_KEY_FILE {}: {e}", f.display()))?);
        add_lines(&mut lines, &text, &f.display().to_string())?;
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
        add_lines(&mut lines, &text, "SOPS_AGE_KEY_CMD output")?;
        looked.push("SOPS_AGE_KEY_CMD".to_string());
    }
    if let Some(f) = &env.default_file {
        // The default location is a convenience: one that cannot be read (EACCES, a directory...)
        // is skipped, never fatal while another source may hold the key; it is named in the error
        // when no identity was found at all.
        match std::fs::read_to_string(f) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                add_lines(&mut lines, &text, &f.display().to_string())?;
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

    ids.extend(lines.x25519.into_iter().map(|i| Box::new(i) as AnyIdentity));
    // Plugin identities last: each try starts the plugin, and a key the user holds in a file
    // should open a stanza before a hardware token is asked to.
    let mut names: Vec<String> = Vec::new();
    for id in &lines.plugin {
        if !names.iter().any(|n| n == id.plugin()) {
            names.push(id.plugin().to_string());
        }
    }
    for name in names {
        match age::plugin::IdentityPluginV1::new(&name, &lines.plugin, TerminalUi) {
            Ok(p) => ids.push(Box::new(p)),
            Err(e) => notes.push(format!("AGE-PLUGIN-{} identity: {}", name.to_uppercase(), one_line(&e.to_string()))),
        }
    }

    if ids.is_empty() {
        let mut msg = format!(
            "no age identity found (looked in {}); set SOPS_AGE_KEY_FILE to your key file",
            if looked.is_empty() { "nothing".to_string() } else { looked.join(", ") }
        );
        if !notes.is_empty() {
            msg.push_str(&format!("; errors while loading age identities: {}", notes.join("; ")));
        }
        return Err(msg);
    }
    Ok(Loaded { ids, notes })
}

/// age's messages may span lines (a reason and a hint) and wrap names in Unicode isolation marks
/// (its localisation); error lists want one plain line.
fn one_line(s: &str) -> String {
    let plain: String = s.chars().filter(|c| !matches!(c, '\u{2068}' | '\u{2069}')).collect();
    plain.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Loads one SSH private key file as an age identity; an encrypted one asks for its passphrase
/// only when a stanza for it turns up.
fn load_ssh_identity(path: &Path, prompt: PassphrasePrompt) -> std::result::Result<AnyIdentity, String> {
    let shown = path.display().to_string();
    let data = Zeroizing::new(std::fs::read(path).map_err(|e| format!("SSH key {shown}: {e}"))?);
    let identity = age::ssh::Identity::from_buffer(std::io::BufReader::new(&data[..]), Some(shown.clone()))
        .map_err(|e| format!("malformed SSH identity in {shown}: {e}"))?;
    match identity {
        age::ssh::Identity::Unencrypted(_) => Ok(Box::new(identity)),
        age::ssh::Identity::Encrypted(_) => {
            let public = age::ssh::Recipient::try_from(identity.clone())
                .map_err(|e| format!("SSH key {shown}: {}", ssh_key_error(&e)))?;
            let (stanza_tag, key_tag) =
                ssh_key_tag(&public).ok_or_else(|| format!("SSH key {shown}: unreadable public key"))?;
            Ok(Box::new(EncryptedSsh {
                path: shown,
                key: identity,
                stanza_tag,
                key_tag,
                prompt,
                opened: Mutex::new(None),
            }))
        }
        age::ssh::Identity::Unsupported(u) => {
            Err(format!("SSH key {shown}: {}", one_line(&Unsupported(&u, &shown).to_string())))
        }
    }
}

/// Shows age's explanation of an SSH key it cannot use (an encrypted PEM key, a hardware key...).
struct Unsupported<'a>(&'a age::ssh::UnsupportedKey, &'a str);

impl std::fmt::Display for Unsupported<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.display(f, Some(self.1))
    }
}

/// The stanza tag (`ssh-ed25519`/`ssh-rsa`) and key tag (the first argument: SHA-256 of the public
/// key blob, 4 bytes, base64) that a stanza for this key carries.
fn ssh_key_tag(public: &age::ssh::Recipient) -> Option<(&'static str, String)> {
    let stanza_tag = match public {
        age::ssh::Recipient::SshEd25519(..) => "ssh-ed25519",
        age::ssh::Recipient::SshRsa(..) => "ssh-rsa",
    };
    let text = public.to_string();
    let blob = base64::engine::general_purpose::STANDARD.decode(text.split(' ').nth(1)?).ok()?;
    let digest = sha2::Sha256::digest(&blob);
    Some((stanza_tag, base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..4])))
}

fn ssh_key_error(e: &age::ssh::ParseRecipientKeyError) -> String {
    use age::ssh::ParseRecipientKeyError as E;
    match e {
        E::RsaModulusTooSmall => "the RSA key is shorter than 2048 bits, which age refuses".into(),
        E::RsaModulusTooLarge => "the RSA key is longer than age supports".into(),
        E::Unsupported(t) => format!("{t} keys are not supported (age takes ssh-ed25519 and ssh-rsa)"),
        E::Invalid(m) => (*m).to_string(),
        _ => "not a usable SSH public key".into(),
    }
}

/// A passphrase-protected SSH key: the passphrase is asked for only for a stanza made for this
/// key (so a file for another key never prompts), once, and the opened key kept for the run.
struct EncryptedSsh {
    path: String,
    key: age::ssh::Identity,
    stanza_tag: &'static str,
    key_tag: String,
    prompt: PassphrasePrompt,
    opened: Mutex<Option<age::ssh::Identity>>,
}

fn stanza_error(message: String) -> age::DecryptError {
    age::DecryptError::Io(std::io::Error::other(message))
}

impl age::Identity for EncryptedSsh {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<std::result::Result<FileKey, age::DecryptError>> {
        if stanza.tag != self.stanza_tag || stanza.args.first() != Some(&self.key_tag) {
            return None;
        }
        let mut opened = self.opened.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if opened.is_none() {
            let age::ssh::Identity::Encrypted(encrypted) = &self.key else { return None };
            let passphrase = match (self.prompt)(&format!("Enter passphrase for {:?}: ", self.path)) {
                Ok(p) => p,
                Err(why) => {
                    return Some(Err(stanza_error(format!(
                        "the SSH key {} is protected by a passphrase and it could not be asked for: {why}",
                        self.path
                    ))))
                }
            };
            match encrypted.decrypt(passphrase) {
                Ok(key) => *opened = Some(age::ssh::Identity::Unencrypted(key)),
                Err(_) => {
                    return Some(Err(stanza_error(format!("incorrect passphrase for the SSH key {}", self.path))))
                }
            }
        }
        opened.as_ref().and_then(|key| age::Identity::unwrap_stanza(key, stanza))
    }
}

/// Reads a passphrase on the terminal (`/dev/tty`) without echo, as sops does.
fn terminal_passphrase(prompt: &str) -> std::result::Result<SecretString, String> {
    rpassword::prompt_password(prompt)
        .map(SecretString::from)
        .map_err(|e| format!("there is no terminal to ask on (/dev/tty: {e})"))
}

/// The terminal side of age plugins (a YubiKey PIN, "touch your key"): messages on stderr,
/// questions on `/dev/tty`.
#[derive(Clone, Copy)]
struct TerminalUi;

impl TerminalUi {
    fn ask_line(prompt: &str) -> Option<String> {
        let mut tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").ok()?;
        tty.write_all(prompt.as_bytes()).ok()?;
        let mut line = String::new();
        std::io::BufReader::new(tty).read_line(&mut line).ok()?;
        Some(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

impl age::Callbacks for TerminalUi {
    fn display_message(&self, message: &str) {
        crate::errln!("age: {message}");
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        match no_string {
            None => TerminalUi::ask_line(&format!("{message} (press enter for {yes_string:?}) ")).map(|_| true),
            Some(no) => {
                match TerminalUi::ask_line(&format!("{message} (type 1 for {yes_string:?} or 2 for {no:?}) "))?.trim() {
                    "1" => Some(true),
                    "2" => Some(false),
                    _ => None,
                }
            }
        }
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        TerminalUi::ask_line(&format!("{description} "))
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        terminal_passphrase(&format!("{description} ")).ok()
    }
}

/// A recipient as sops 3.11 sorts them: `age1<name>1…` is a plugin's, other `age1…` X25519,
/// `ssh-…` an SSH public key.
pub enum AnyRecipient {
    X25519(age::x25519::Recipient),
    Plugin(age::plugin::Recipient),
    Ssh(age::ssh::Recipient),
}

/// Parses any recipient sops accepts.
pub fn parse_any_recipient(r: &str) -> Result<AnyRecipient> {
    let r = r.trim();
    let fail = |message: String| Error::Key { key_type: "age", message };
    if r.starts_with("age1") && r.matches('1').count() > 1 {
        r.parse::<age::plugin::Recipient>()
            .map(AnyRecipient::Plugin)
            .map_err(|e| fail(format!("{r:?} is not an age plugin recipient (age1<name>1…): {e}")))
    } else if r.starts_with("age1") {
        parse_recipient(r).map(AnyRecipient::X25519)
    } else if r.starts_with("ssh-") {
        r.parse::<age::ssh::Recipient>()
            .map(AnyRecipient::Ssh)
            .map_err(|e| fail(format!("{r:?} is not a usable SSH public key: {}", ssh_key_error(&e))))
    } else {
        Err(fail(format!("{r:?} is not an age recipient (age1…, age1<plugin>1… or an ssh-ed25519/ssh-rsa public key)")))
    }
}

/// Parses an X25519 recipient (`age1…`).
pub fn parse_recipient(r: &str) -> Result<age::x25519::Recipient> {
    r.trim()
        .parse::<age::x25519::Recipient>()
        .map_err(|e| Error::Key { key_type: "age", message: format!("{r:?} is not an age recipient (age1…): {e}") })
}

/// Encrypts `secret` to one X25519 recipient as an armored age file.
pub fn encrypt_armored(recipient: &age::x25519::Recipient, secret: &[u8]) -> Result<String> {
    encrypt_armored_to(recipient, secret)
}

/// Encrypts `secret` to any recipient as an armored age file.
fn encrypt_armored_to(recipient: &dyn age::Recipient, secret: &[u8]) -> Result<String> {
    let fail = |e: &dyn std::fmt::Display| Error::Key {
        key_type: "age",
        message: format!("could not encrypt: {}", one_line(&e.to_string())),
    };
    let recipients: Vec<&dyn age::Recipient> = vec![recipient];
    let encryptor = age::Encryptor::with_recipients(recipients.into_iter()).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    let armored =
        age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| fail(&e))?;
    let mut w = encryptor.wrap_output(armored).map_err(|e| fail(&e))?;
    w.write_all(secret).map_err(|e| fail(&e))?;
    w.finish().and_then(|a| a.finish()).map_err(|e| fail(&e))?;
    let mut s = String::from_utf8(out).map_err(|e| fail(&e))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Decrypts an armored age file with any of the X25519 identities.
pub fn decrypt_armored(
    enc: &str,
    identities: &[age::x25519::Identity],
) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    decrypt_with(enc, identities.iter().map(|i| i as &dyn age::Identity))
}

fn decrypt_with<'a>(
    enc: &str,
    identities: impl Iterator<Item = &'a dyn age::Identity>,
) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let reader = age::armor::ArmoredReader::new(enc.trim_start().as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(|e| format!("the enc field is not an age file: {e}"))?;
    let mut r = decryptor.decrypt(identities).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => "none of the available age identities can open it".to_string(),
        other => one_line(&other.to_string()),
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
        let enc = match parse_any_recipient(r)? {
            AnyRecipient::X25519(x) => encrypt_armored_to(&x, secret)?,
            AnyRecipient::Ssh(s) => encrypt_armored_to(&s, secret)?,
            AnyRecipient::Plugin(p) => {
                let plugin = age::plugin::RecipientPluginV1::new(p.plugin(), std::slice::from_ref(&p), &[], TerminalUi)
                    .map_err(|e| Error::Key { key_type: "age", message: one_line(&e.to_string()) })?;
                encrypt_armored_to(&plugin, secret)?
            }
        };
        Ok(MasterKeyEntry::Age { recipient: r.trim().to_string(), enc })
    }

    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
        let MasterKeyEntry::Age { enc, .. } = entry else {
            return Err(Error::Unsupported("not an age entry".into()));
        };
        let loaded = self.identities()?;
        decrypt_with(enc, loaded.ids.iter().map(|i| i.as_ref() as &dyn age::Identity)).map_err(|mut message| {
            if !loaded.notes.is_empty() {
                message.push_str(&format!("; errors while loading age identities: {}", loaded.notes.join("; ")));
            }
            Error::Key { key_type: "age", message }
        })
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
        let entry =
            AgeSource::with_env(AgeEnv::default()).wrap(&KeySpec::Age(id.to_public().to_string()), b"k").unwrap();
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
        let entry =
            AgeSource::with_env(AgeEnv::default()).wrap(&KeySpec::Age(id.to_public().to_string()), b"k").unwrap();
        assert_eq!(&AgeSource::with_env(env).unwrap(&entry).unwrap()[..], b"k");
        let alone = AgeSource::with_env(AgeEnv { default_file: Some(unreadable), ..Default::default() });
        let err = alone.unwrap(&entry).unwrap_err().to_string();
        assert!(err.contains("no age identity found") && err.contains("skipped"), "{err}");
    }

    #[test]
    fn recipients_are_sorted_as_sops_sorts_them() {
        let x = age::x25519::Identity::generate().to_public().to_string();
        assert!(matches!(parse_any_recipient(&x), Ok(AnyRecipient::X25519(_))));
        // A plugin recipient: the HRP is age1<name>, so a second '1' follows the name.
        let plugin = "age1kvtest13ptj5xxm28ap534ap7cxdeft7r8yqrm2rqf6u7tc26uxw6cfgpcsregxac";
        assert!(matches!(parse_any_recipient(plugin), Ok(AnyRecipient::Plugin(p)) if p.plugin() == "kvtest"));
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDxYEtTuPs8TO3l1+5olvECj9yQeJvUucTgy9nn5IvdW me@host";
        assert!(matches!(parse_any_recipient(ssh), Ok(AnyRecipient::Ssh(_))));
        let err = parse_any_recipient("ssh-ed25519 AAAA").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("not a usable SSH public key"), "{err}");
        let err = parse_any_recipient("pgp:ABCD").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("not an age recipient"), "{err}");
    }

    #[test]
    fn key_files_may_hold_plugin_identities() {
        let id = age::x25519::Identity::generate();
        let text = format!(
            "# created: now\n{}\nAGE-PLUGIN-KVTEST-1RXL33EN9XJ0QSJ87EGSRZV9HMMLPRTNU9SMQ88RZGKXTR7XSYUDQ4FAN4D\n",
            secrecy_text(&id)
        );
        let lines = parse_key_lines(&text, "f").unwrap();
        assert_eq!((lines.x25519.len(), lines.plugin.len()), (1, 1));
        assert_eq!(lines.plugin[0].plugin(), "kvtest");
        assert_eq!(parse_identities(&text, "f").unwrap().len(), 1);
        let err = parse_key_lines("AGE-PLUGIN-KVTEST-1BAD\n", "f").err().unwrap_or_default();
        assert!(err.contains("line 1") && err.contains("plugin"), "{err}");
    }

    #[test]
    fn bad_recipient_and_bad_key_file_are_refused() {
        assert!(parse_recipient("age1nope").is_err());
        assert!(parse_identities("AGE-SECRET-KEY-1XYZ\n", "f").is_err());
        assert!(parse_identities("# comment\n\n", "f").unwrap().is_empty());
    }
}
