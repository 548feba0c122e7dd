//! `age-plugin-kvtest`: a minimal age plugin for kvsops's tests.
//!
//! Why a plugin of our own: kvsops and the real sops must both find `age-plugin-<name>` on PATH and
//! speak the plugin protocol to it; a real hardware plugin (YubiKey, TPM) cannot run in CI. The
//! crypto is real (age's X25519 recipient type, stanzas re-tagged `kvtest`), so a wrong identity
//! fails to unwrap, as with a real plugin.

use std::collections::{HashMap, HashSet};
use std::io;

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};
use age_plugin::{identity, print_new_identity, recipient, run_state_machine, Callbacks, PluginHandler};

/// The plugin's name: recipients are `age1kvtest1…`, identities `AGE-PLUGIN-KVTEST-1…`.
const NAME: &str = "kvtest";
/// The stanza tag this plugin writes and is the only one it reads.
const TAG: &str = "kvtest";
/// The stanza tag of age's X25519 type, which the wrapping borrows.
const X25519_TAG: &str = "X25519";

/// The 32 data bytes of a Bech32 string.
fn bech32_data(s: &str) -> Option<Vec<u8>> {
    bech32::decode(s).ok().map(|(_, data)| data)
}

/// Encodes `data` with `hrp` (Bech32, as age keys are).
fn bech32_encode(hrp: &str, data: &[u8]) -> Option<String> {
    let hrp = bech32::Hrp::parse(hrp).ok()?;
    bech32::encode::<bech32::Bech32>(hrp, data).ok()
}

/// The age X25519 identity whose secret is `bytes`.
fn x25519_identity(bytes: &[u8]) -> Option<age::x25519::Identity> {
    if bytes.len() != 32 {
        return None;
    }
    bech32_encode("age-secret-key-", bytes)?.to_uppercase().parse().ok()
}

/// The age X25519 recipient whose public key is `bytes`.
fn x25519_recipient(bytes: &[u8]) -> Option<age::x25519::Recipient> {
    if bytes.len() != 32 {
        return None;
    }
    bech32_encode("age", bytes)?.parse().ok()
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = RecipientPlugin;
    type IdentityV1 = IdentityPlugin;

    fn recipient_v1(self) -> io::Result<Self::RecipientV1> {
        Ok(RecipientPlugin::default())
    }

    fn identity_v1(self) -> io::Result<Self::IdentityV1> {
        Ok(IdentityPlugin::default())
    }
}

/// Wraps file keys to the recipients (and identities) it was given.
#[derive(Default)]
struct RecipientPlugin {
    recipients: Vec<age::x25519::Recipient>,
}

impl recipient::RecipientPluginV1 for RecipientPlugin {
    fn add_recipient(&mut self, index: usize, plugin_name: &str, bytes: &[u8]) -> Result<(), recipient::Error> {
        match x25519_recipient(bytes).filter(|_| plugin_name == NAME) {
            Some(r) => {
                self.recipients.push(r);
                Ok(())
            }
            None => Err(recipient::Error::Recipient { index, message: "not a kvtest recipient".into() }),
        }
    }

    fn add_identity(&mut self, index: usize, plugin_name: &str, bytes: &[u8]) -> Result<(), recipient::Error> {
        match x25519_identity(bytes).filter(|_| plugin_name == NAME) {
            Some(id) => {
                self.recipients.push(id.to_public());
                Ok(())
            }
            None => Err(recipient::Error::Identity { index, message: "not a kvtest identity".into() }),
        }
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        let mut out = Vec::with_capacity(file_keys.len());
        for file_key in &file_keys {
            let mut stanzas = Vec::new();
            for (index, r) in self.recipients.iter().enumerate() {
                let wrapped = age::Recipient::wrap_file_key(r, file_key)
                    .map_err(|e| vec![recipient::Error::Recipient { index, message: e.to_string() }]);
                match wrapped {
                    Ok((s, _labels)) => stanzas.extend(s.into_iter().map(|mut s| {
                        s.tag = TAG.to_string();
                        s
                    })),
                    Err(e) => return Ok(Err(e)),
                }
            }
            out.push(stanzas);
        }
        Ok(Ok(out))
    }
}

/// Unwraps `kvtest` stanzas with the identities it was given; ignores every other stanza.
#[derive(Default)]
struct IdentityPlugin {
    identities: Vec<age::x25519::Identity>,
}

impl identity::IdentityPluginV1 for IdentityPlugin {
    fn add_identity(&mut self, index: usize, plugin_name: &str, bytes: &[u8]) -> Result<(), identity::Error> {
        match x25519_identity(bytes).filter(|_| plugin_name == NAME) {
            Some(id) => {
                self.identities.push(id);
                Ok(())
            }
            None => Err(identity::Error::Identity { index, message: "not a kvtest identity".into() }),
        }
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        _callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut out = HashMap::new();
        for (file_index, stanzas) in files.into_iter().enumerate() {
            let mut errors = Vec::new();
            'stanzas: for (stanza_index, stanza) in stanzas.into_iter().enumerate() {
                if stanza.tag != TAG {
                    continue;
                }
                let as_x25519 = Stanza { tag: X25519_TAG.to_string(), ..stanza };
                for id in &self.identities {
                    match age::Identity::unwrap_stanza(id, &as_x25519) {
                        Some(Ok(file_key)) => {
                            out.insert(file_index, Ok(file_key));
                            errors.clear();
                            break 'stanzas;
                        }
                        Some(Err(e)) => {
                            errors.push(identity::Error::Stanza { file_index, stanza_index, message: e.to_string() })
                        }
                        None => {}
                    }
                }
            }
            if !errors.is_empty() {
                out.insert(file_index, Err(errors));
            }
        }
        Ok(out)
    }
}

/// Prints a new identity file (`# recipient: age1kvtest1…` and the `AGE-PLUGIN-KVTEST-1…` line).
fn generate() -> io::Result<()> {
    let id = age::x25519::Identity::generate();
    let secret = bech32_data(id.to_string().expose_secret());
    let public = bech32_data(&id.to_public().to_string());
    match (secret, public) {
        (Some(secret), Some(public)) => {
            print_new_identity(NAME, &secret, &public);
            Ok(())
        }
        _ => Err(io::Error::other("could not encode the new key")),
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if let Some(state_machine) = arg.strip_prefix("--age-plugin=") {
            return run_state_machine(state_machine, Handler);
        }
        if arg == "--age-plugin" {
            let state_machine = it.next().ok_or_else(|| io::Error::other("--age-plugin needs a value"))?;
            return run_state_machine(state_machine, Handler);
        }
        if arg == "--generate" {
            return generate();
        }
    }
    eprintln!("usage: age-plugin-kvtest --generate   (test-only plugin of kvsops; never for real secrets)");
    std::process::exit(2)
}
