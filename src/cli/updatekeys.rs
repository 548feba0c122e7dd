//! `kvsops updatekeys FILE...`: show each file's key changes against its creation rule, ask
//! (unless `-y`), re-wrap the data key. With several files, or a directory (every file under it
//! that a creation rule governs), every file is tried and the exit code is 1 when any failed.

use std::path::{Path, PathBuf};

use super::{at, Failure};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::keys::Keyring;
use crate::platform::fsio::{self, Sensitivity};
use crate::stores::Format;

/// `kvsops updatekeys`.
pub(super) fn run(
    global: &super::args::GlobalArgs,
    yes: bool,
    input_type: Option<&str>,
    shamir_threshold: Option<u32>,
    decryption_order: Option<&str>,
    files: &[PathBuf],
) -> std::result::Result<i32, Failure> {
    let cfg = super::load_config(global).map_err(at(None))?.ok_or_else(|| Failure {
        file: None,
        error: Error::Config("config file not found: updatekeys needs a .sops.yaml with creation rules".into()),
    })?;
    let keyring = super::keyring(
        global,
        Some(&super::args::DecryptArgs {
            decryption_order: decryption_order.map(str::to_string),
            ..Default::default()
        }),
    )
    .map_err(at(None))?;
    let mut batch = super::batch::Batch::expand(files, Some(&cfg), true, "updatekeys").map_err(at(None))?;
    batch.interactive = !yes;
    // Questions are asked one file at a time; with -y the files are updated concurrently.
    let jobs = if yes { None } else { Some(1) };
    let code = super::batch::for_each_file(&batch, jobs, |file| {
        let file = file.ok_or_else(|| Error::Conflict("updatekeys needs a file".into()))?;
        update_one(&cfg, &keyring, yes, input_type, shamir_threshold, file)
    })?;
    // As sops: with several files every file is tried and any failure is exit 1.
    Ok(if code != 0 && (batch.trees || batch.targets.len() > 1) { crate::error::exit::GENERIC } else { code })
}

fn update_one(
    cfg: &Config,
    keyring: &Keyring,
    yes: bool,
    input_type: Option<&str>,
    shamir_threshold: Option<u32>,
    file: &Path,
) -> Result<()> {
    let fmt = match input_type {
        Some(t) => super::parse_format(t)?,
        None => Format::from_path(file),
    };
    let store = fmt.store(&cfg.stores);
    // sops: any failure of a single file here is its generic exit code, a missing file too.
    let input = fsio::read_file(file).map_err(|e| match e {
        Error::FileNotFound(_) => Error::Generic(e.to_string()),
        e => e,
    })?;
    fsio::check_writable(file)?;
    let rule = cfg
        .rule_for(file)
        .ok_or_else(|| Error::Config(format!("no creation rule in {} matches this file", cfg.path.display())))?;
    let plan = crate::ops::updatekeys::plan(
        &input,
        store.as_ref(),
        &rule.key_groups,
        rule.shamir_threshold,
        shamir_threshold,
    )?;
    if !plan.changes_anything() {
        crate::errln!("kvsops: {}: already up to date", file.display());
        return Ok(());
    }
    let question = if yes { "" } else { "Is this okay? [y/N] " };
    // One write per file, so concurrent files (-y) do not interleave their lines.
    crate::out!("{}:\n{}{question}", file.display(), plan.render());
    if !yes {
        let mut answer = String::new();
        match std::io::stdin().read_line(&mut answer) {
            Ok(n) if n > 0 => {}
            _ => {
                return Err(Error::Generic(
                    "no answer (standard input is closed); use -y to update without asking".into(),
                ))
            }
        }
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            crate::errln!("kvsops: {}: left unchanged", file.display());
            return Ok(());
        }
    }
    let out = plan.apply(&input, store.as_ref(), keyring)?;
    super::write_verified(file, &out, Sensitivity::Encrypted)?;
    crate::errln!("kvsops: {}: synced with new keys", file.display());
    Ok(())
}
