//! Shamir secret sharing over GF(2^8), byte-compatible with sops (placeholder until it lands).

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Splits a secret into `parts` shares, any `threshold` of which rebuild it.
pub fn split(_secret: &[u8], _parts: usize, _threshold: usize) -> Result<Vec<Vec<u8>>> {
    Err(Error::Unsupported("key groups with Shamir are not implemented yet".into()))
}

/// Rebuilds a secret from shares.
pub fn combine(_shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>> {
    Err(Error::Unsupported("key groups with Shamir are not implemented yet".into()))
}
