//! Every store's readers (JSON, dotenv, INI, binary), including their metadata parsers, must never panic.
#![no_main]
use kvsops::stores::{Format, StoreSettings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
        let store = format.store(&StoreSettings::default());
        if let Ok(docs) = store.load_plain(data) {
            let _ = store.emit_plain(&docs, Some(data));
        }
        let _ = store.load_encrypted(data);
    }
});
