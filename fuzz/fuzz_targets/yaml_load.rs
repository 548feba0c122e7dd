//! The YAML reader must never panic: plaintext and encrypted loads, and a round trip through the
//! writers when the input loads.
#![no_main]
use kvsops::stores::{Format, StoreSettings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let store = Format::Yaml.store(&StoreSettings::default());
    if let Ok(docs) = store.load_plain(data) {
        let _ = store.emit_plain(&docs, Some(data));
        let _ = store.emit_plain(&docs, None);
    }
    let _ = store.load_encrypted(data);
});
