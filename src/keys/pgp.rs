//! pgp master keys (not yet implemented).

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyKind, KeySource, KeySpec, MasterKeyEntry};

/// pgp key source.
pub struct PgpSource;

impl PgpSource {
    /// Configured from the environment.
    pub fn from_env() -> Self { PgpSource }
}

impl KeySource for PgpSource {
    fn kind(&self) -> KeyKind { KeyKind::Pgp }
    fn wrap(&self, spec: &KeySpec, _secret: &[u8]) -> Result<MasterKeyEntry> { Err(Error::Unsupported(format!("{}: not implemented yet", spec.describe()))) }
    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> { Err(Error::Unsupported(format!("{}: not implemented yet", entry.spec().describe()))) }
}
