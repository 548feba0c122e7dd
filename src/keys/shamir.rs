//! Shamir secret sharing over GF(2^8), byte-compatible with sops (not yet implemented).
