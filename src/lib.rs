//! kvsops: encrypts secrets the way SOPS does, so that everything it writes is decrypted by the real
//! `sops` and by Flux's kustomize-controller, and everything they write is decrypted by kvsops.
//!
//! The layers, bottom up:
//! - [`tree`]: the format-neutral tree (ordered maps, sequences, typed scalars, comments), with the
//!   source positions that let stores keep the user's layout;
//! - [`cipher`], [`mac`], [`rules`], [`metadata`]: the SOPS format itself;
//! - [`stores`]: one module per file format; [`keys`]: one module per master-key type;
//! - [`config`]: `.sops.yaml`; [`ops`]: what the commands do; [`platform`]: the OS plumbing
//!   (atomic writes and private temp files, git, signals); [`stack`]: threads with room for deeply
//!   nested files; [`cli`]: the thin command-line layer.

// Unsafe code is refused everywhere but in the few functions that call the OS through `libc`
// (platform::fsio, platform::signals, console, exec, the Azure CLI's local times), each allowed
// where it stands with a SAFETY comment.
#![deny(unsafe_code)]

pub mod cipher;
pub mod cli;
pub mod config;
pub mod console;
pub mod error;
pub mod gofmt;
pub mod keys;
pub mod mac;
pub mod metadata;
pub mod ops;
pub mod platform;
pub mod rules;
pub mod stack;
pub mod stores;
/// Test-only: the one rule for tests that need a real tool (not part of the library).
#[cfg(test)]
pub(crate) mod testing;
pub mod timefmt;
pub mod tree;

pub use error::{Error, Result};
