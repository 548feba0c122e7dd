//! SOPS value encryption: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` strings.
//!
//! AES-256-GCM with a 32-byte nonce (sops uses `NewGCMWithNonceSize(32)`), the leaf's key path as
//! additional authenticated data, standard base64 with padding. The plaintext bytes of each type are
//! those of sops's `ToBytes`, which are also the bytes fed to the MAC.
//!
//! [`Cipher`] remembers the IV of every value it decrypts, keyed by (AAD, plaintext), and reuses it
//! when the same value is encrypted again at the same path: that is what keeps unchanged values
//! byte-identical after an edit, so diffs show only what the user changed.

use std::collections::HashMap;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::tree::{Comment, Leaf, Scalar, Value};

/// The nonce size sops writes.
pub const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The per-file 32-byte data key; wiped from memory when dropped. It carries its AES-GCM key
/// schedule (for sops's 32-byte IVs), expanded once rather than for each of a file's values.
#[derive(Clone)]
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
    gcm: Gcm,
}

impl DataKey {
    fn new(bytes: Zeroizing<[u8; 32]>) -> Self {
        let gcm = Gcm::new(GenericArray::from_slice(&bytes[..]));
        DataKey { bytes, gcm }
    }

    /// A fresh random data key for a new file (or a rotation).
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        DataKey::new(k)
    }

    /// A data key recovered from a master key; anything but 32 bytes is refused.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey::new(Zeroizing::new(arr)))
    }

    /// The raw bytes, for wrapping by master keys.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Why a value could not be decrypted. Never carries plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("the value does not match sops' data format (ENC[AES256_GCM,data:…,iv:…,tag:…,type:…])")]
    NotEncrypted,
    #[error("invalid base64 in the {0} field")]
    BadBase64(&'static str),
    #[error("unsupported IV length {0}")]
    BadIv(usize),
    #[error("authentication failed: wrong data key, or the value or its key path was changed")]
    Authentication,
    #[error("unknown data type {0:?}")]
    UnknownType(String),
    #[error("the decrypted {0} is not valid")]
    BadPlaintext(&'static str),
}

/// The parts of an ENC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncValue {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub datatype: String,
}

/// True when `s` looks like an ENC value (the prefix sops's own regex requires).
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,data:")
}

impl EncValue {
    /// Parses an ENC string as sops does: `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`
    /// (anchored at the start only; the type runs to the last `]`).
    pub fn parse(s: &str) -> Result<Self, CipherError> {
        let rest = s.strip_prefix("ENC[AES256_GCM,data:").ok_or(CipherError::NotEncrypted)?;
        // The first line only: Go's `.` does not match a newline.
        let rest = rest.split('\n').next().unwrap_or(rest);
        let close = rest.rfind(']').ok_or(CipherError::NotEncrypted)?;
        let body = &rest[..close];
        let (data, iv, tag, datatype) = match split_well_formed(body) {
            Some(fields) => fields,
            None => {
                // Greedy groups: each field ends at the last occurrence of the next marker.
                let t = body.rfind(",type:").ok_or(CipherError::NotEncrypted)?;
                let datatype = &body[t + 6..];
                let body = &body[..t];
                let g = body.rfind(",tag:").ok_or(CipherError::NotEncrypted)?;
                let tag = &body[g + 5..];
                let body = &body[..g];
                let i = body.rfind(",iv:").ok_or(CipherError::NotEncrypted)?;
                (&body[..i], &body[i + 4..], tag, datatype)
            }
        };
        if data.is_empty() || iv.is_empty() || tag.is_empty() || datatype.is_empty() {
            return Err(CipherError::NotEncrypted);
        }
        Ok(EncValue {
            data: STANDARD.decode(data).map_err(|_| CipherError::BadBase64("data"))?,
            iv: STANDARD.decode(iv).map_err(|_| CipherError::BadBase64("iv"))?,
            tag: STANDARD.decode(tag).map_err(|_| CipherError::BadBase64("tag"))?,
            datatype: datatype.to_string(),
        })
    }

    /// The ENC string.
    pub fn format(&self) -> String {
        format_enc(&self.data, &self.iv, &self.tag, &self.datatype)
    }
}

/// Writes an ENC string from its parts, base64 straight into one buffer.
fn format_enc(data: &[u8], iv: &[u8], tag: &[u8], datatype: &str) -> String {
    let mut out = String::with_capacity((data.len() + iv.len() + tag.len()) * 4 / 3 + 48 + datatype.len());
    out.push_str("ENC[AES256_GCM,data:");
    STANDARD.encode_string(data, &mut out);
    out.push_str(",iv:");
    STANDARD.encode_string(iv, &mut out);
    out.push_str(",tag:");
    STANDARD.encode_string(tag, &mut out);
    out.push_str(",type:");
    out.push_str(datatype);
    out.push(']');
    out
}

/// The fields of an ENC body with exactly three commas, each starting the next marker: what the
/// greedy regex gives for every value sops or kvsops writes (base64 has no comma), found in one scan.
fn split_well_formed(body: &str) -> Option<(&str, &str, &str, &str)> {
    let mut commas = memchr::memchr_iter(b',', body.as_bytes());
    let (a, b, c) = (commas.next()?, commas.next()?, commas.next()?);
    if commas.next().is_some() {
        return None;
    }
    let iv = body[a..].strip_prefix(",iv:")?;
    let tag = body[b..].strip_prefix(",tag:")?;
    let datatype = body[c..].strip_prefix(",type:")?;
    Some((&body[..a], &iv[..b - a - 4], &tag[..c - b - 5], datatype))
}

/// sops's `ToBytes`: the bytes that are encrypted and hashed into the MAC for a value.
pub fn value_bytes(v: &Value) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    match v {
        Value::Str(s) => Cow::Borrowed(s.as_bytes()),
        Value::Bytes(b) => Cow::Borrowed(b),
        Value::Time(t) => Cow::Borrowed(t.as_bytes()),
        Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        Value::Float(f) => Cow::Owned(crate::gofmt::format_f(*f).into_bytes()),
        Value::Bool(true) => Cow::Borrowed(b"True"),
        Value::Bool(false) => Cow::Borrowed(b"False"),
        Value::Null => Cow::Borrowed(b""),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Turns decrypted bytes back into a leaf of the given sops type.
pub fn leaf_from_bytes(bytes: Vec<u8>, datatype: &str) -> Result<Leaf, CipherError> {
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|e| e.into_bytes());
    Ok(match datatype {
        "str" => Leaf::Scalar(Scalar::new(match text(bytes) {
            Ok(s) => Value::Str(s),
            Err(b) => Value::Bytes(b),
        })),
        "bytes" => Leaf::Scalar(Scalar::new(match text(bytes) {
            Ok(s) => Value::Str(s),
            Err(b) => Value::Bytes(b),
        })),
        "comment" => Leaf::Comment(Comment::new(text(bytes).map_err(|_| CipherError::BadPlaintext("comment"))?)),
        "int" => {
            let s = text(bytes).map_err(|_| CipherError::BadPlaintext("int"))?;
            Leaf::Scalar(Scalar::new(Value::Int(s.parse::<i64>().map_err(|_| CipherError::BadPlaintext("int"))?)))
        }
        "float" => {
            let s = text(bytes).map_err(|_| CipherError::BadPlaintext("float"))?;
            Leaf::Scalar(Scalar::new(Value::Float(
                crate::gofmt::parse_float(&s).ok_or(CipherError::BadPlaintext("float"))?,
            )))
        }
        "bool" => {
            let s = text(bytes).map_err(|_| CipherError::BadPlaintext("bool"))?;
            Leaf::Scalar(Scalar::new(Value::Bool(parse_go_bool(&s).ok_or(CipherError::BadPlaintext("bool"))?)))
        }
        "time" => {
            let s = text(bytes).map_err(|_| CipherError::BadPlaintext("time"))?;
            crate::timefmt::parse_rfc3339(&s).ok_or(CipherError::BadPlaintext("time"))?;
            Leaf::Scalar(Scalar::new(Value::Time(s)))
        }
        other => return Err(CipherError::UnknownType(other.to_string())),
    })
}

type Gcm = AesGcm<Aes256, U32>;

/// Seals `plaintext` and returns the ENC string.
pub fn seal(key: &DataKey, iv: &[u8; IV_LEN], plaintext: &[u8], aad: &str, datatype: &str) -> String {
    let mut data = plaintext.to_vec();
    // Encryption with a valid key and nonce size cannot fail for in-memory buffers.
    let tag = key
        .gcm
        .encrypt_in_place_detached(GenericArray::from_slice(iv), aad.as_bytes(), &mut data)
        .map(|t| t.to_vec())
        .unwrap_or_default();
    format_enc(&data, iv, &tag, datatype)
}

/// Opens a parsed ENC value; the IV may have any length sops accepts (it uses the file's).
pub fn open(key: &DataKey, enc: &EncValue, aad: &str) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    if enc.tag.len() != TAG_LEN {
        return Err(CipherError::Authentication);
    }
    let tag = GenericArray::from_slice(&enc.tag);
    let gcm = &key.gcm;
    let key = GenericArray::from_slice(key.as_bytes());
    let mut buf = Zeroizing::new(enc.data.clone());
    let aad = aad.as_bytes();
    // In place: the tag is checked before anything is decrypted.
    let res = match enc.iv.len() {
        32 => gcm.decrypt_in_place_detached(GenericArray::from_slice(&enc.iv), aad, &mut buf, tag),
        12 => aes_gcm::Aes256Gcm::new(key).decrypt_in_place_detached(
            GenericArray::from_slice(&enc.iv),
            aad,
            &mut buf,
            tag,
        ),
        16 => AesGcm::<Aes256, aes_gcm::aead::consts::U16>::new(key).decrypt_in_place_detached(
            GenericArray::from_slice(&enc.iv),
            aad,
            &mut buf,
            tag,
        ),
        n => return Err(CipherError::BadIv(n)),
    };
    res.map(|_| buf).map_err(|_| CipherError::Authentication)
}

/// Encrypts and decrypts the values of one file under its data key, remembering IVs so that
/// re-encrypting an unchanged value at the same path gives the same ENC string.
pub struct Cipher {
    key: DataKey,
    stash: HashMap<(String, Vec<u8>), [u8; IV_LEN]>,
    remember_ivs: bool,
}

impl Cipher {
    /// A cipher for one file's data key.
    pub fn new(key: DataKey) -> Self {
        Cipher { key, stash: HashMap::new(), remember_ivs: true }
    }

    /// A cipher that does not remember IVs: for a plain decryption, whose values are never
    /// re-encrypted, so a large file does not keep a second copy of every plaintext.
    pub fn without_iv_reuse(key: DataKey) -> Self {
        Cipher { key, stash: HashMap::new(), remember_ivs: false }
    }

    /// The data key this cipher uses.
    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// Replaces the data key (rotation) but keeps the IV stash, as sops does.
    pub fn set_key(&mut self, key: DataKey) {
        self.key = key;
    }

    /// Encrypts raw bytes as a value of `datatype`; empty values stay empty, as in sops.
    pub fn encrypt_bytes(&mut self, plaintext: &[u8], aad: &str, datatype: &str) -> String {
        if plaintext.is_empty() {
            return String::new();
        }
        let remembered =
            if self.stash.is_empty() { None } else { self.stash.get(&(aad.to_string(), plaintext.to_vec())) };
        let iv = match remembered {
            Some(iv) => *iv,
            None => {
                let mut iv = [0u8; IV_LEN];
                // rand's thread-local CSPRNG (ChaCha, seeded and reseeded from the OS): a system
                // call per value would be a fifth of encrypting a large file.
                rand::thread_rng().fill_bytes(&mut iv);
                iv
            }
        };
        seal(&self.key, &iv, plaintext, aad, datatype)
    }

    /// Encrypts a leaf and returns the ENC string (empty for an empty string or comment).
    pub fn encrypt_leaf(&mut self, leaf: &Leaf, aad: &str) -> String {
        match leaf {
            Leaf::Comment(c) => self.encrypt_bytes(c.text.as_bytes(), aad, "comment"),
            Leaf::Scalar(s) => {
                let bytes = value_bytes(&s.value);
                let ty = s.value.type_name();
                self.encrypt_bytes(&bytes, aad, ty)
            }
        }
    }

    /// Decrypts an ENC string to a leaf; `""` stays `""`. Records the IV for later reuse.
    pub fn decrypt_str(&mut self, s: &str, aad: &str) -> Result<Leaf, CipherError> {
        if s.is_empty() {
            return Ok(Leaf::Scalar(Scalar::str("")));
        }
        let enc = EncValue::parse(s)?;
        let mut plain = open(&self.key, &enc, aad)?;
        if self.remember_ivs {
            if let Ok(iv) = <[u8; IV_LEN]>::try_from(enc.iv.as_slice()) {
                self.stash.insert((aad.to_string(), plain.to_vec()), iv);
            }
        }
        // The plaintext moves into the leaf (which the caller owns); the emptied buffer is wiped.
        leaf_from_bytes(std::mem::take(&mut *plain), &enc.datatype)
    }
}

impl Drop for Cipher {
    fn drop(&mut self) {
        // The stash holds plaintexts; wipe them.
        for ((mut aad, mut p), _) in self.stash.drain() {
            aad.zeroize();
            p.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kat_key() -> DataKey {
        let k: Vec<u8> = (0u8..32).collect();
        DataKey::from_slice(&k).unwrap()
    }

    #[test]
    fn known_answer_vector_from_the_reference() {
        let iv: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
        let s = seal(&kat_key(), &iv, b"hello", "s:", "str");
        assert_eq!(
            s,
            "ENC[AES256_GCM,data:f6SdJOI=,iv:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=,tag:yRCrmjJSJE2byHM2JY52KQ==,type:str]"
        );
        let mut c = Cipher::new(kat_key());
        assert_eq!(c.decrypt_str(&s, "s:").unwrap(), Leaf::Scalar(Scalar::str("hello")));
    }

    #[test]
    fn wrong_aad_or_flipped_byte_fails_authentication() {
        let mut c = Cipher::new(kat_key());
        let s = c.encrypt_leaf(&Leaf::Scalar(Scalar::str("secret")), "a:b:");
        assert_eq!(c.decrypt_str(&s, "a:c:").unwrap_err(), CipherError::Authentication);
        let mut enc = EncValue::parse(&s).unwrap();
        enc.data[0] ^= 1;
        assert_eq!(c.decrypt_str(&enc.format(), "a:b:").unwrap_err(), CipherError::Authentication);
    }

    #[test]
    fn iv_is_reused_only_for_the_same_path_and_plaintext() {
        let mut c = Cipher::new(kat_key());
        let first = c.encrypt_leaf(&Leaf::Scalar(Scalar::str("v")), "a:");
        let mut d = Cipher::new(kat_key());
        d.decrypt_str(&first, "a:").unwrap();
        assert_eq!(d.encrypt_leaf(&Leaf::Scalar(Scalar::str("v")), "a:"), first);
        assert_ne!(d.encrypt_leaf(&Leaf::Scalar(Scalar::str("v")), "b:"), first);
        assert_ne!(d.encrypt_leaf(&Leaf::Scalar(Scalar::str("w")), "a:"), first);
    }

    #[test]
    fn typed_values_round_trip_with_sops_bytes() {
        let mut c = Cipher::new(kat_key());
        for (v, bytes) in [
            (Value::Int(-7), "-7"),
            (Value::Float(1e10), "10000000000"),
            (Value::Float(1.5e-7), "0.00000015"),
            (Value::Float(1.0), "1"),
            (Value::Bool(true), "True"),
            (Value::Bool(false), "False"),
            (Value::Time("2024-01-02T00:00:00Z".into()), "2024-01-02T00:00:00Z"),
        ] {
            assert_eq!(&*value_bytes(&v), bytes.as_bytes());
            let s = c.encrypt_leaf(&Leaf::Scalar(Scalar::new(v.clone())), "k:");
            assert!(s.ends_with(&format!("type:{}]", v.type_name())));
            assert_eq!(c.decrypt_str(&s, "k:").unwrap(), Leaf::Scalar(Scalar::new(v)));
        }
    }

    #[test]
    fn a_cipher_without_iv_reuse_forgets() {
        let mut c = Cipher::new(kat_key());
        let first = c.encrypt_leaf(&Leaf::Scalar(Scalar::str("v")), "a:");
        let mut d = Cipher::without_iv_reuse(kat_key());
        d.decrypt_str(&first, "a:").unwrap();
        assert_ne!(d.encrypt_leaf(&Leaf::Scalar(Scalar::str("v")), "a:"), first);
    }

    #[test]
    fn empty_values_are_never_encrypted() {
        let mut c = Cipher::new(kat_key());
        assert_eq!(c.encrypt_leaf(&Leaf::Scalar(Scalar::str("")), "k:"), "");
        assert_eq!(c.decrypt_str("", "k:").unwrap(), Leaf::Scalar(Scalar::str("")));
    }

    #[test]
    fn parse_rejects_plaintext_and_garbage_without_panicking() {
        for s in [
            "hello",
            "ENC[",
            "ENC[AES256_GCM,data:,iv:,tag:,type:]",
            "ENC[AES256_GCM,data:@@,iv:AA==,tag:AA==,type:str]",
        ] {
            assert!(EncValue::parse(s).is_err(), "{s}");
        }
        let mut c = Cipher::new(kat_key());
        assert_eq!(c.decrypt_str("plain", "k:").unwrap_err(), CipherError::NotEncrypted);
    }

    #[test]
    fn bool_and_float_parse_back_as_go_does() {
        assert_eq!(leaf_from_bytes(b"true".to_vec(), "bool").unwrap(), Leaf::Scalar(Scalar::new(Value::Bool(true))));
        assert_eq!(leaf_from_bytes(b"1e+21".to_vec(), "float").unwrap(), Leaf::Scalar(Scalar::new(Value::Float(1e21))));
        assert!(leaf_from_bytes(b"x".to_vec(), "int").is_err());
        assert!(matches!(leaf_from_bytes(b"x".to_vec(), "nope"), Err(CipherError::UnknownType(_))));
    }
}
