//! ENC value parsing and decryption, and metadata-bearing MAC parsing, must never panic.
#![no_main]
use kvsops::cipher::{Cipher, DataKey, EncValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = EncValue::parse(s);
        if let Some(key) = DataKey::from_slice(&[7u8; 32]) {
            let mut c = Cipher::new(key);
            let _ = c.decrypt_str(s, "a:b:");
        }
        let _ = kvsops::timefmt::parse_rfc3339(s);
    }
});
