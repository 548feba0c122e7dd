//! PGP master keys, through the GnuPG binary.
//!
//! sops encrypts with ProtonMail's go-crypto when it can read an old-style `pubring.gpg`, and
//! falls back to running `gpg`; modern GnuPG keeps keys in `pubring.kbx`, so in practice sops
//! runs gpg, and so does Flux's kustomize-controller (`DisableOpenPGP`). kvsops only runs gpg:
//! whatever keys, agents, smartcards and pinentry setups work for the user's gpg work here, and
//! no OpenPGP implementation has to be carried along.
//!
//! - **Binary**: `SOPS_GPG_EXEC` (a program name or path, not split), default `gpg`.
//! - **Keyring**: gpg's own choice, so `GNUPGHOME` (or `~/.gnupg`).
//! - **Wrap**: `gpg --encrypt --armor -r <fp>` with the secret on stdin, trusting the named key
//!   for this call (`--trust-model always`: naming the fingerprint is the trust decision, as
//!   sops's `--trusted-key` is), ignoring `default-recipient`/`encrypt-to` from gpg.conf. The
//!   armored message, trimmed of surrounding whitespace as sops trims gpg's output, is `enc`.
//! - **Unwrap**: `gpg --decrypt` with `enc` on stdin; gpg finds the secret key. `--batch` means
//!   gpg itself never prompts; a passphrase-protected key still goes through gpg-agent's
//!   pinentry, as with sops.
//!
//! Secrets only travel through pipes, never temporary files. gpg's status lines
//! (`--status-fd 2`, locale-independent) tell "key not found" and "no secret key" apart for
//! clear errors; gpg's own messages are quoted in errors, and never contain the secret.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyKind, KeySource, KeySpec, MasterKeyEntry};

/// The environment variable naming the GnuPG binary (as in sops).
pub const GPG_EXEC_ENV: &str = "SOPS_GPG_EXEC";

const ARMOR_BEGIN: &str = "-----BEGIN PGP MESSAGE-----";

/// PGP key source: runs GnuPG to wrap secrets for fingerprints and to unwrap them with the
/// user's secret keys.
#[derive(Clone, Debug)]
pub struct PgpSource {
    gpg: OsString,
    gnupg_home: Option<PathBuf>,
}

impl PgpSource {
    /// Configured from `SOPS_GPG_EXEC`; the keyring is gpg's default (`GNUPGHOME` or `~/.gnupg`).
    pub fn from_env() -> Self {
        let gpg = std::env::var_os(GPG_EXEC_ENV).filter(|v| !v.is_empty()).unwrap_or_else(|| "gpg".into());
        PgpSource { gpg, gnupg_home: None }
    }

    /// Configured explicitly: the gpg binary, and a GnuPG home to use instead of the inherited
    /// one (`None`: gpg's default).
    pub fn new(gpg: impl Into<OsString>, gnupg_home: Option<PathBuf>) -> Self {
        PgpSource { gpg: gpg.into(), gnupg_home }
    }

    /// Encrypts `secret` for the key with this fingerprint and returns the armored PGP message
    /// (trimmed, as sops stores gpg's output).
    pub fn encrypt(&self, fingerprint: &str, secret: &[u8]) -> Result<String> {
        let fp = normalize_fingerprint(fingerprint);
        if fp.is_empty() {
            return Err(key_error("empty PGP fingerprint".into()));
        }
        let args = [
            "--batch",
            "--no-tty",
            "--yes",
            "--status-fd",
            "2",
            "--trust-model",
            "always",
            "--no-default-recipient",
            "--no-encrypt-to",
            "--armor",
            "--encrypt",
            "--recipient",
            &fp,
        ];
        let out = self.run(&args, secret)?;
        if !out.success {
            let reason = if let Some(code) = out.status_arg("INV_RECP") {
                match code.split_whitespace().next() {
                    Some("1") => format!("the key was not found in the GnuPG keyring{}", self.home_note()),
                    _ => "the key cannot be used for encryption (expired, revoked, or no encryption subkey)".into(),
                }
            } else {
                "gpg could not encrypt".into()
            };
            return Err(key_error(format!("PGP key {fp}: {reason}{}", out.messages_suffix())));
        }
        let text = String::from_utf8(out.stdout.to_vec())
            .map_err(|_| key_error(format!("PGP key {fp}: gpg's output is not text")))?;
        let enc = text.trim();
        if !enc.starts_with(ARMOR_BEGIN) {
            return Err(key_error(format!("PGP key {fp}: gpg did not return an armored PGP message")));
        }
        Ok(enc.to_string())
    }

    /// Decrypts an armored PGP message with whatever secret key the keyring holds for it.
    pub fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>> {
        let args = ["--batch", "--no-tty", "--status-fd", "2", "--decrypt"];
        let out = self.run(&args, enc.as_bytes())?;
        if !out.success {
            let reason = if out.has_status("NODATA") && !out.has_status("BEGIN_DECRYPTION") {
                "the enc field is not an armored PGP message".to_string()
            } else if out.has_status("NO_SECKEY") && !out.has_status("DECRYPTION_OKAY") {
                let ids: Vec<&str> = out.status_args("NO_SECKEY").filter_map(|a| a.split_whitespace().next()).collect();
                format!(
                    "no secret key for this PGP message in the GnuPG keyring{} (encrypted for key ID {})",
                    self.home_note(),
                    ids.join(", ")
                )
            } else {
                "gpg could not decrypt the data key".to_string()
            };
            return Err(key_error(format!("{reason}{}", out.messages_suffix())));
        }
        if out.stdout.is_empty() {
            // Old gpg versions drop AEAD packets they do not know and succeed with no output.
            return Err(key_error("gpg decrypted the message to zero bytes (is your GnuPG too old for it?)".into()));
        }
        Ok(out.stdout)
    }

    fn home_note(&self) -> String {
        match &self.gnupg_home {
            Some(h) => format!(" {}", h.display()),
            None => match std::env::var_os("GNUPGHOME").filter(|v| !v.is_empty()) {
                Some(h) => format!(" {}", PathBuf::from(h).display()),
                None => String::new(),
            },
        }
    }

    /// Runs gpg with `input` on stdin, collecting stdout (kept in wiped memory) and stderr.
    fn run(&self, args: &[&str], input: &[u8]) -> Result<GpgOutput> {
        let mut cmd = Command::new(&self.gpg);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(home) = &self.gnupg_home {
            cmd.env("GNUPGHOME", home);
        }
        let gpg_name = PathBuf::from(&self.gpg).display().to_string();
        let mut child = cmd.spawn().map_err(|e| {
            key_error(if e.kind() == std::io::ErrorKind::NotFound {
                format!("GnuPG binary {gpg_name:?} not found: install GnuPG, or set {GPG_EXEC_ENV} to its path")
            } else {
                format!("could not run GnuPG binary {gpg_name:?}: {e}")
            })
        })?;
        let stdin = child.stdin.take();
        // Feed stdin from another thread while this one drains stdout and stderr, so neither
        // side can block on a full pipe. A write error (gpg exited early) shows in its status.
        let output = std::thread::scope(|scope| {
            if let Some(mut stdin) = stdin {
                scope.spawn(move || {
                    let _ = stdin.write_all(input);
                });
            }
            child.wait_with_output()
        })
        .map_err(|e| key_error(format!("running {gpg_name:?} failed: {e}")))?;
        Ok(GpgOutput {
            success: output.status.success(),
            stdout: Zeroizing::new(output.stdout),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// A fingerprint as sops stores it: the configured text with spaces removed (case is kept).
pub fn normalize_fingerprint(fp: &str) -> String {
    fp.trim().chars().filter(|c| *c != ' ').collect()
}

fn key_error(message: String) -> Error {
    Error::Key { key_type: "pgp", message }
}

/// What one gpg run produced; stderr interleaves gpg's messages and its `[GNUPG:]` status lines.
struct GpgOutput {
    success: bool,
    stdout: Zeroizing<Vec<u8>>,
    stderr: String,
}

impl GpgOutput {
    /// The arguments of every status line with this keyword.
    fn status_args<'a>(&'a self, keyword: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        self.stderr.lines().filter_map(move |l| {
            let rest = l.strip_prefix("[GNUPG:] ")?;
            match rest.split_once(' ') {
                Some((k, args)) if k == keyword => Some(args),
                None if rest == keyword => Some(""),
                _ => None,
            }
        })
    }

    fn status_arg(&self, keyword: &'static str) -> Option<&str> {
        self.status_args(keyword).next()
    }

    fn has_status(&self, keyword: &'static str) -> bool {
        self.status_arg(keyword).is_some()
    }

    /// gpg's human-readable messages (status lines removed) as `; gpg said: ...`, or nothing.
    fn messages_suffix(&self) -> String {
        let msgs: Vec<&str> =
            self.stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("[GNUPG:]")).collect();
        if msgs.is_empty() {
            String::new()
        } else {
            format!("; gpg said: {}", msgs.join(" / "))
        }
    }
}

impl KeySource for PgpSource {
    fn handles(&self, kind: KeyKind) -> bool {
        kind == KeyKind::Pgp
    }

    fn wrap(&self, spec: &KeySpec, secret: &[u8]) -> Result<MasterKeyEntry> {
        let KeySpec::Pgp(fp) = spec else {
            return Err(Error::Unsupported(format!("{} is not a PGP key", spec.describe())));
        };
        let fp = normalize_fingerprint(fp);
        let enc = self.encrypt(&fp, secret)?;
        let created_at = crate::timefmt::format_rfc3339(crate::timefmt::now_utc());
        Ok(MasterKeyEntry::Pgp { fp, created_at, enc })
    }

    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
        let MasterKeyEntry::Pgp { fp, enc, .. } = entry else {
            return Err(Error::Unsupported("not a PGP entry".into()));
        };
        self.decrypt(enc).map_err(|e| match e {
            Error::Key { key_type, message } => Error::Key { key_type, message: format!("PGP key {fp}: {message}") },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_lose_spaces_and_keep_case() {
        assert_eq!(
            normalize_fingerprint(" FBC7 B9E2 A4F9 289A C0C1  D484 3D16 CEE4 A273 81B4 "),
            "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"
        );
        assert_eq!(normalize_fingerprint("fbc7b9e2"), "fbc7b9e2");
    }

    #[test]
    fn missing_binary_is_named() {
        let src = PgpSource::new("/nonexistent/kvsops-no-gpg", None);
        let err = src.encrypt("ABCD", b"secret").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/kvsops-no-gpg") && msg.contains("SOPS_GPG_EXEC"), "{msg}");
        assert_eq!(err.exit_code(), crate::error::exit::COULD_NOT_RETRIEVE_KEY);
        assert!(src.decrypt("x").unwrap_err().to_string().contains("not found"));
        assert!(src.encrypt("   ", b"s").unwrap_err().to_string().contains("empty PGP fingerprint"));
    }

    #[test]
    fn status_lines_are_parsed_and_kept_out_of_messages() {
        let out = GpgOutput {
            success: false,
            stdout: Zeroizing::new(Vec::new()),
            stderr: "gpg: encrypted with RSA key, ID 3EC7F93583731D0D\n[GNUPG:] NO_SECKEY 3EC7F93583731D0D\n\
                     [GNUPG:] NO_SECKEY 1111111111111111\n[GNUPG:] DECRYPTION_FAILED\ngpg: decryption failed: No secret key\n"
                .into(),
        };
        assert_eq!(out.status_args("NO_SECKEY").collect::<Vec<_>>(), ["3EC7F93583731D0D", "1111111111111111"]);
        assert!(out.has_status("DECRYPTION_FAILED"));
        assert!(!out.has_status("DECRYPTION"));
        assert_eq!(
            out.messages_suffix(),
            "; gpg said: gpg: encrypted with RSA key, ID 3EC7F93583731D0D / gpg: decryption failed: No secret key"
        );
    }

    #[test]
    fn a_non_gpg_program_that_fails_gives_a_clear_error() {
        // `false` exits 1 without output: no status lines, a generic but non-empty reason.
        let src = PgpSource::new("false", None);
        let err = src.encrypt("ABCD", b"secret").unwrap_err().to_string();
        assert!(err.contains("PGP key ABCD: gpg could not encrypt"), "{err}");
        let err = src.decrypt("x").unwrap_err().to_string();
        assert!(err.contains("could not decrypt"), "{err}");
        // `true` succeeds with no output: decryption must not return an empty secret.
        let err = PgpSource::new("true", None).decrypt("x").unwrap_err().to_string();
        assert!(err.contains("zero bytes"), "{err}");
        let err = PgpSource::new("true", None).encrypt("ABCD", b"s").unwrap_err().to_string();
        assert!(err.contains("did not return an armored PGP message"), "{err}");
    }
}
