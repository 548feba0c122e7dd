//! kvsops's integration tests, one module per concern, linked into one test binary (as ripgrep
//! does) instead of one per file: each test binary carries the whole library and its dependencies
//! (about 220 MB of debug information) and its own link, so twenty of them cost most of a test
//! build. Run one module with `cargo test --test integration yaml_interop::`, one test with
//! `cargo test --test integration -- --exact cli::NAME`.
//!
//! All tests share one process: a test must not change process-global state (environment
//! variables, the current directory, the umask, signal dispositions). Pass environment variables
//! to the child commands instead; a test that must set them for the library in-process runs itself
//! in a child process of this binary with `common::in_own_process()` (see azure_keys).

mod common;

mod age_ssh_plugins;
mod azure_cli;
mod azure_credentials;
mod azure_doctor;
mod azure_keys;
mod azure_password_arc;
mod cli;
mod error_messages;
mod exit_codes;
mod flux_scenario;
mod formats_cli;
mod guard;
mod inplace;
mod keyservice;
mod lifecycle;
mod no_panic;
mod pgp_keys;
mod stores_interop;
mod trees;
mod verified_writes;
mod yaml_interop;
mod yaml_spec_suite;

#[test]
fn every_test_file_is_a_module_of_this_binary() {
    common::testing::assert_every_test_file_is_a_module(&common::root().join("tests"), "integration.rs");
}
