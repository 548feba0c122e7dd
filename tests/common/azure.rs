//! Helpers of the tests that run kvsops and the real sops against the Key Vault emulator.

use std::path::PathBuf;
use std::process::Command;

use kv_emulator::Emulator;

use super::{ok, Sandbox};

/// The emulator's environment without its App Service managed identity endpoint (`IDENTITY_*`),
/// so that the credential under test is what answers.
pub fn emu_env(mut c: Command, emu: &Emulator) -> Command {
    for (k, v) in emu.env() {
        if !k.starts_with("IDENTITY_") {
            c.env(k, v);
        }
    }
    c.env("KVSOPS_AZURE_TIMEOUT", "10");
    c
}

/// The two programs a handover goes between.
#[derive(Clone, Copy, Debug)]
pub enum Tool {
    Kvsops,
    Sops,
}

impl Tool {
    fn command(self, sb: &Sandbox) -> Command {
        match self {
            Tool::Kvsops => sb.kvsops(),
            Tool::Sops => sb.sops(),
        }
    }
}

/// `from` encrypts a fresh file `name` holding `secret` to `key_url`, `to` decrypts it, both under
/// the emulator's environment and `set`'s credential variables; returns the file.
pub fn handover(
    sb: &Sandbox,
    emu: &Emulator,
    (from, to): (Tool, Tool),
    key_url: &str,
    (name, secret): (&str, &str),
    set: &dyn Fn(&mut Command),
) -> PathBuf {
    let f = sb.write(name, secret);
    let mut c = emu_env(from.command(sb), emu);
    set(&mut c);
    c.args(["encrypt", "-i", "--azure-kv", key_url]).arg(&f);
    ok(c);
    let mut c = emu_env(to.command(sb), emu);
    set(&mut c);
    c.arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8(ok(c)).unwrap(), secret, "{to:?} decrypts what {from:?} encrypted ({name})");
    f
}
