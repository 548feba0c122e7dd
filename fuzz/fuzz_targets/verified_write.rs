//! The verified-write invariant: whatever a store emits for a tree it read reads back to the same
//! tree, in its own layout and converted to every other format (within that format's own losses,
//! `ops::verify::Fidelity`). A store that refuses to write a tree (a nested value for dotenv) is
//! fine; writing bytes that read back different is the bug this target looks for.
#![no_main]
use kvsops::ops::verify::{self, Fidelity};
use kvsops::stores::{Format, StoreSettings};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 5] = [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary];

fuzz_target!(|data: &[u8]| {
    let settings = StoreSettings::default();
    for input in FORMATS {
        let in_store = input.store(&settings);
        let Ok(docs) = in_store.load_plain(data) else {
            continue;
        };
        for output in FORMATS {
            let out_store = output.store(&settings);
            let same = input == output;
            let Ok(bytes) = out_store.emit_plain(&docs, same.then_some(data)) else {
                continue;
            };
            if let Err(e) = verify::plaintext(bytes, out_store.as_ref(), &docs, Fidelity::of(output, !same)) {
                panic!("{} -> {}: {e}", input.name(), output.name());
            }
        }
    }
});
