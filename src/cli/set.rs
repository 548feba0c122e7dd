//! `kvsops set` / `kvsops unset` and the legacy `--set '["a"][0] value'`. The file is rewritten in
//! place, as with sops; the value never appears in messages.

use std::path::Path;

use super::args::{ChangeArgs, GlobalArgs, LegacyArgs};
use super::{at, Failure};
use crate::error::{Error, Result};
use crate::ops::decrypt::DecryptOptions;
use crate::ops::treepath::Step;
use crate::platform::fsio::{self, Sensitivity};
use crate::tree::Node;

fn parse_index(index: &str) -> Result<Vec<Step>> {
    crate::ops::treepath::parse(index)
        .map_err(|_| Error::InvalidValue("invalid index format: expected a path like '[\"key\"][0]'".into()))
}

/// Splits the legacy `--set '["a"][0] value'` argument at the first `] ` (as sops does).
fn parse_legacy(arg: &str) -> Result<(Vec<Step>, Node)> {
    let Some(pos) = arg.find("] ") else {
        return Err(Error::InvalidValue("invalid --set format: expected '[\"key\"] json-value'".into()));
    };
    let (path, value) = (&arg[..=pos], &arg[pos + 2..]);
    let node = crate::ops::set::parse_value(value)?;
    let steps = crate::ops::treepath::parse(path.trim_end())
        .map_err(|_| Error::InvalidValue("invalid --set format: the path must look like [\"key\"][0]".into()))?;
    Ok((steps, node))
}

/// `kvsops --set '["a"][0] value' FILE`.
pub(super) fn legacy(l: &LegacyArgs, arg: &str, file: &Path) -> std::result::Result<i32, Failure> {
    let (path, value) = parse_legacy(arg).map_err(at(Some(file)))?;
    apply_set(&l.global, &super::edit::legacy_change(l), file, &path, value, false)
}

/// `kvsops set`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_set(
    global: &GlobalArgs,
    change: &ChangeArgs,
    value_file: bool,
    value_stdin: bool,
    idempotent: bool,
    file: &Path,
    index: &str,
    value: Option<&str>,
) -> std::result::Result<i32, Failure> {
    let fail = at(Some(file));
    let parsed = (|| -> Result<(Vec<Step>, Node)> {
        let path = parse_index(index)?;
        let text = match (value_stdin, value) {
            (true, Some(_)) => {
                return Err(Error::Conflict("with --value-stdin, give only FILE and INDEX".into()));
            }
            (true, None) => String::from_utf8(fsio::read_stdin()?)
                .map_err(|_| Error::InvalidValue("the value on standard input is not UTF-8".into()))?,
            (false, None) => return Err(Error::Conflict("missing VALUE (or use --value-stdin)".into())),
            (false, Some(v)) if value_file => String::from_utf8(fsio::read_file(Path::new(v))?)
                .map_err(|_| Error::InvalidValue("the value file is not UTF-8".into()))?,
            (false, Some(v)) => v.to_string(),
        };
        let node = crate::ops::set::parse_value(&text)?;
        Ok((path, node))
    })();
    let (path, node) = parsed.map_err(fail)?;
    apply_set(global, change, file, &path, node, idempotent)
}

fn apply_set(
    global: &GlobalArgs,
    change: &ChangeArgs,
    file: &Path,
    path: &[Step],
    value: Node,
    idempotent: bool,
) -> std::result::Result<i32, Failure> {
    let result = (|| -> Result<i32> {
        let (input, in_store, out_store, keyring) = prepare(global, change, file)?;
        let opts = DecryptOptions { ignore_mac: change.ignore_mac };
        let outcome = crate::ops::set::set(&input, in_store.as_ref(), out_store.as_ref(), &keyring, opts, path, value)?;
        if idempotent && !outcome.changed {
            crate::errln!("kvsops: {}: not written: the value is already set", file.display());
            return Ok(0);
        }
        super::write_verified(file, &outcome.output, Sensitivity::Encrypted)?;
        Ok(0)
    })();
    result.map_err(at(Some(file)))
}

type Prepared = (Vec<u8>, Box<dyn crate::stores::Store>, Box<dyn crate::stores::Store>, crate::keys::Keyring);

fn prepare(global: &GlobalArgs, change: &ChangeArgs, file: &Path) -> Result<Prepared> {
    let cfg = super::load_config(global)?;
    let io = super::edit::io_of(change);
    let settings = super::store_settings(cfg.as_ref(), &io);
    let (in_fmt, out_fmt) = super::formats(Some(file), &io)?;
    let keyring = super::edit::keyring_of(global, change)?;
    let input = super::read_existing(file)?;
    fsio::check_writable(file)?;
    Ok((input, in_fmt.store(&settings), out_fmt.store(&settings), keyring))
}

/// `kvsops unset`.
pub(super) fn run_unset(
    global: &GlobalArgs,
    change: &ChangeArgs,
    idempotent: bool,
    file: &Path,
    index: &str,
) -> std::result::Result<i32, Failure> {
    let result = (|| -> Result<i32> {
        let path = parse_index(index)?;
        let (input, in_store, out_store, keyring) = prepare(global, change, file)?;
        let opts = DecryptOptions { ignore_mac: change.ignore_mac };
        match crate::ops::set::unset(&input, in_store.as_ref(), out_store.as_ref(), &keyring, opts, &path) {
            Ok(out) => {
                super::write_verified(file, &out, Sensitivity::Encrypted)?;
                Ok(0)
            }
            Err(Error::PathNotFound(_)) if idempotent => {
                crate::errln!("kvsops: {}: not written: {index} does not exist", file.display());
                Ok(0)
            }
            Err(e) => Err(e),
        }
    })();
    result.map_err(at(Some(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_set_parses_path_and_value_and_never_echoes_the_value() {
        let err = parse_legacy(r#"["a"] hunter2-secret"#).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(parse_legacy("no-path-here").is_err());
        let (steps, node) = parse_legacy(r#"["a"][0] "v w""#).unwrap();
        assert_eq!(steps, vec![Step::Key("a".into()), Step::Index(0)]);
        assert_eq!(node, Node::str("v w"));
    }
}
