//! The emulator's integration tests, linked into one test binary instead of one per file (each
//! would link the emulator, the Azure SDK and reqwest again). Run one module with
//! `cargo test -p kv-emulator --test integration sops_interop::`. The tests share one process:
//! those that set environment variables run in a child process (`common::in_own_process`).

mod common;

mod azure_sdk;
mod binary;
mod reqwest_client;
mod sops_interop;

#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    common::testing::assert_every_test_file_is_a_module(&tests, "integration.rs");
}
