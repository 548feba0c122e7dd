//! `kvsops diff-textconv`: clear-text diffs of encrypted files inside git.
//!
//! The textconv never fails a diff: whatever cannot be decrypted (no key, not a sops file, another
//! format) is printed as it is.

use std::path::Path;

use crate::error::Result;
use crate::ops::decrypt::{decrypt_bytes, DecryptOptions};
use crate::platform::fsio;
use crate::stores::Format;

use super::args::{GlobalArgs, IoArgs};
use super::{at, keyring, load_config, parse_format, store_settings, Failure};

/// Prints `file` decrypted, or unchanged when it cannot be decrypted. Always exits 0 once the file
/// is read, so `git diff` keeps working without keys.
pub fn textconv_cmd(global: &GlobalArgs, input_type: Option<&str>, file: &Path) -> std::result::Result<i32, Failure> {
    let input = fsio::read_file(file).map_err(at(Some(file)))?;
    let decrypted = (|| -> Result<Vec<u8>> {
        let cfg = load_config(global).ok().flatten();
        let settings = store_settings(cfg.as_ref(), &IoArgs::default());
        let format = match input_type {
            Some(t) => parse_format(t)?,
            None => Format::from_path(file),
        };
        let store = format.store(&settings);
        let keyring = keyring(global, None)?;
        decrypt_bytes(&input, store.as_ref(), store.as_ref(), &keyring, DecryptOptions::default())
    })();
    let out = match &decrypted {
        Ok(plain) => plain.as_slice(),
        Err(e) => {
            if global.verbose {
                crate::errln!("kvsops diff-textconv: {}: shown as is: {e}", file.display());
            }
            input.as_slice()
        }
    };
    super::print(out).map_err(at(None))?;
    Ok(0)
}
