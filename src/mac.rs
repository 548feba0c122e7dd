//! The SOPS message authentication code: SHA-512 over the plaintext bytes of every non-null,
//! non-comment leaf of every document in order (only the encrypted ones, after a fixed prefix, with
//! `mac_only_encrypted`), as 128 uppercase hex digits, itself stored encrypted with the
//! `lastmodified` time as AAD. It is what makes a changed or reordered value fail to decrypt.

use sha2::{Digest, Sha512};
use time::OffsetDateTime;

use crate::cipher::{Cipher, CipherError};
use crate::timefmt::format_rfc3339;
use crate::tree::{Leaf, Scalar, Value};

/// SHA-256("sops"): hashed first when only encrypted values are authenticated, so the two MAC
/// modes never collide.
pub const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b,
    0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Accumulates the MAC while a tree is walked.
pub struct MacHasher {
    hash: Sha512,
    mac_only_encrypted: bool,
}

impl MacHasher {
    /// A hasher for one file.
    pub fn new(mac_only_encrypted: bool) -> Self {
        let mut hash = Sha512::new();
        if mac_only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        MacHasher { hash, mac_only_encrypted }
    }

    /// Adds a leaf (its plaintext) to the MAC if sops would: comments never, and with
    /// `mac_only_encrypted` only values that are encrypted.
    pub fn add(&mut self, leaf: &Leaf, encrypted: bool) {
        if self.mac_only_encrypted && !encrypted {
            return;
        }
        if let Leaf::Scalar(Scalar { value, .. }) = leaf {
            if !matches!(value, Value::Null) {
                self.hash.update(crate::cipher::value_bytes(value));
            }
        }
    }

    /// The MAC as sops prints it (`%X`).
    pub fn finish(self) -> String {
        hex::encode_upper(self.hash.finalize())
    }
}

/// Encrypts the MAC for storage, with the formatted `lastmodified` as AAD.
pub fn encrypt_mac(cipher: &mut Cipher, mac_hex: &str, lastmodified: OffsetDateTime) -> String {
    cipher.encrypt_bytes(mac_hex.as_bytes(), &format_rfc3339(lastmodified), "str")
}

/// Decrypts a stored MAC. The AAD is the parsed `lastmodified` reformatted, as sops does, so
/// `...57.000Z` and `...57+00:00` both verify.
pub fn decrypt_mac(cipher: &mut Cipher, stored: &str, lastmodified: OffsetDateTime) -> Result<String, CipherError> {
    match cipher.decrypt_str(stored, &format_rfc3339(lastmodified))? {
        Leaf::Scalar(Scalar { value: Value::Str(s), .. }) => Ok(s),
        _ => Err(CipherError::BadPlaintext("MAC")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Sha256;

    #[test]
    fn init_bytes_are_sha256_of_sops() {
        assert_eq!(Sha256::digest(b"sops").as_slice(), &MAC_ONLY_ENCRYPTED_INIT);
    }

    #[test]
    fn hashes_plaintext_bytes_without_separators() {
        let mut m = MacHasher::new(false);
        m.add(&Leaf::Scalar(Scalar::str("ab")), true);
        m.add(&Leaf::Scalar(Scalar::new(Value::Int(1))), false);
        m.add(&Leaf::Comment(crate::tree::Comment::new("ignored")), true);
        m.add(&Leaf::Scalar(Scalar::new(Value::Null)), true);
        assert_eq!(m.finish(), hex::encode_upper(Sha512::digest(b"ab1")));

        let mut only = MacHasher::new(true);
        only.add(&Leaf::Scalar(Scalar::str("ab")), true);
        only.add(&Leaf::Scalar(Scalar::new(Value::Int(1))), false);
        let mut expect = Sha512::new();
        expect.update(MAC_ONLY_ENCRYPTED_INIT);
        expect.update(b"ab");
        assert_eq!(only.finish(), hex::encode_upper(expect.finalize()));
    }
}
