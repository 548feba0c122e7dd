//! Errors the emulator reports while starting up or when driven through its Rust API.
//!
//! Request-level failures are never errors here: they become HTTP responses shaped like
//! Key Vault's or Entra ID's, because clients under test must see what Azure would send.

use std::path::PathBuf;

/// Why the emulator could not start or could not carry out an API call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Generating the test CA or the leaf certificate failed.
    #[error("cannot generate the test certificates: {0}")]
    Certificate(String),
    /// Building the TLS server configuration failed.
    #[error("cannot configure TLS: {0}")]
    Tls(String),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The state file of a `--state-dir` exists but cannot be read back.
    #[error("cannot load the key store {path}: {reason}")]
    StateFile {
        /// The file.
        path: PathBuf,
        /// Why (never contains key material).
        reason: String,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// RSA key generation failed.
    #[error("cannot generate an RSA key: {0}")]
    KeyGeneration(String),
    /// The server thread or runtime could not be started.
    #[error("the emulator did not start: {0}")]
    Start(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}
