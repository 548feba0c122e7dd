//! Errors of the library, each mapped to the exit code sops uses for the same failure, so scripts
//! that branch on `sops`'s exit status work unchanged with kvsops.
//!
//! Messages name files, key paths and causes; they never contain a secret value (a value is only
//! ever described by its type).

use std::path::PathBuf;

/// sops's exit codes (`cmd/sops/codes/codes.go`).
pub mod exit {
    pub const GENERIC: i32 = 1;
    pub const COULD_NOT_READ_INPUT_FILE: i32 = 2;
    pub const COULD_NOT_WRITE_OUTPUT_FILE: i32 = 3;
    pub const ERROR_DUMPING_TREE: i32 = 4;
    pub const INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT: i32 = 6;
    pub const INVALID_SET_FORMAT: i32 = 7;
    pub const CONFLICTING_PARAMETERS: i32 = 8;
    pub const ERROR_ENCRYPTING_MAC: i32 = 21;
    pub const ERROR_ENCRYPTING_TREE: i32 = 23;
    pub const ERROR_DECRYPTING_TREE: i32 = 25;
    pub const CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE: i32 = 49;
    pub const MAC_MISMATCH: i32 = 51;
    pub const INVALID_TREE_PATH_FORMAT: i32 = 91;
    pub const NEED_AT_LEAST_ONE_DOCUMENT: i32 = 92;
    pub const NO_FILE_SPECIFIED: i32 = 100;
    pub const DUPLICATE_DECRYPTION_KEY_TYPE: i32 = 112;
    pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
    pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
    pub const NO_EDITOR_FOUND: i32 = 201;
    pub const FILE_ALREADY_ENCRYPTED: i32 = 203;
    /// kvsops's own: the output did not read back to what was intended (a kvsops bug; nothing
    /// was written). sops has no such check and no code for it; 70 is `EX_SOFTWARE` of
    /// sysexits.h ("internal software error") and is not one of sops's codes.
    pub const VERIFY_FAILED: i32 = 70;
}

/// Everything that can go wrong in the library. New variants may be added: match with a
/// wildcard arm, and use [`Error::exit_code`] rather than the variant to choose an exit status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{0}: no such file")]
    FileNotFound(PathBuf),

    #[error("could not write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },

    #[error("could not parse {format} input: {message}")]
    Parse { format: &'static str, message: String },

    #[error("duplicate key {key:?} ({where_})")]
    DuplicateKey { key: String, where_: String },

    #[error("the file has no documents")]
    NoDocuments,

    #[error("{0}")]
    Unsupported(String),

    /// A tree sops reads but refuses to encrypt ("Error encrypting tree", exit 23): a mapping key
    /// that is not a string (`1: a`, `true: b`), an integer beyond 64-bit signed.
    #[error("{0}")]
    Unencryptable(String),

    /// An encrypted file that does not parse. sops reports a file it cannot read as an encrypted
    /// file with its generic exit code (1), where plaintext input that does not parse is exit 2.
    #[error(transparent)]
    UnreadableEncrypted(Box<Error>),

    /// The tree cannot be written in the output format (a nested value for dotenv or INI).
    #[error("could not write the output: {0}")]
    DumpTree(String),

    #[error("sops metadata not found")]
    MetadataNotFound,

    #[error("invalid sops metadata: {0}")]
    InvalidMetadata(String),

    #[error("the file already has sops metadata (a top-level `sops` key); it is already encrypted")]
    AlreadyEncrypted,

    #[error("could not decrypt the value at {path}: {reason}")]
    DecryptValue { path: String, reason: String },

    #[error("could not encrypt the value at {path}: {reason}")]
    EncryptValue { path: String, reason: String },

    #[error("MAC mismatch: the file was changed without its key, or is damaged (file has {file_mac}, computed {computed_mac})")]
    MacMismatch { file_mac: String, computed_mac: String },

    #[error("the file has no MAC")]
    MacMissing,

    #[error("could not decrypt the MAC: {0}")]
    MacUndecryptable(String),

    #[error("could not retrieve the data key:\n{0}")]
    DataKey(String),

    #[error("no master keys: give keys with --age/--azure-kv/--pgp or a creation rule in .sops.yaml")]
    NoKeys,

    #[error("{0}")]
    Config(String),

    /// A key service (`--keyservice`) could not wrap a key, or there is no key service at all
    /// (sops exits 1 when no data key could be wrapped).
    #[error("{0}")]
    KeyService(String),

    #[error("{key_type} key error: {message}")]
    Key { key_type: &'static str, message: String },

    /// `--encryption-context` is not a comma-separated list of `key:value` pairs.
    #[error("invalid KMS encryption context format: expected comma-separated key:value pairs")]
    InvalidEncryptionContext,

    /// A key type named twice in `--decryption-order` (sops: exit 112).
    #[error("duplicate decryption key type: {0}")]
    DuplicateDecryptionKeyType(String),

    #[error("conflicting parameters: {0}")]
    Conflict(String),

    #[error("invalid tree path {0:?}: expected a form like [\"key\"][0]")]
    InvalidTreePath(String),

    #[error("component {0} not found")]
    PathNotFound(String),

    #[error("invalid value: {0}")]
    InvalidValue(String),

    #[error("file has not changed, exiting")]
    NotModified,

    #[error("no editor found: set SOPS_EDITOR or EDITOR")]
    NoEditor,

    #[error("could not run the editor: {0}")]
    Editor(String),

    /// The editor could not be started or waited for; the OS error is the source.
    #[error("could not run the editor: {}: {source}", program.display())]
    EditorRun { program: PathBuf, source: std::io::Error },

    #[error("{0}")]
    Generic(String),

    /// A value the output format cannot hold (binary data, not UTF-8, in JSON, dotenv or INI):
    /// a limit of the format, not a kvsops bug. `detail` names the type, never the value. The
    /// command line adds which flag helps.
    #[error("the value at {key_path}: {detail}; nothing was written")]
    OutputCannotHold { key_path: String, detail: String },

    /// A program kvsops runs could not be started (`/bin/sh` for exec-env/exec-file, `git
    /// merge-file`, the thread that feeds exec-file's FIFO). `what` says which.
    #[error("{what}: {source}")]
    Spawn { what: &'static str, source: std::io::Error },

    /// A git plumbing command (`git {command}`) failed; `cause` says how.
    #[error("git {command}: {cause}")]
    Git {
        command: String,
        #[source]
        cause: GitError,
    },

    /// One side of a three-way merge could not be decrypted (`side`: "our version", "their
    /// version"); the cause, a MAC mismatch for instance, is kept as the source. sops has no
    /// merge driver; git only tells exit 0 from the rest, so it is the generic code.
    #[error("cannot decrypt {side}: {source}")]
    MergeSide { side: &'static str, source: Box<Error> },

    /// A path handed to the OS holds a NUL byte, which no path can (`what`: which path). The name
    /// comes from a flag (exec-file's `--filename`), so it keeps the code of a bad parameter.
    #[error("conflicting parameters: the {what} path contains a NUL byte")]
    NulInPath { what: &'static str },

    /// The bytes about to be written did not read back to the intended tree
    /// ([`crate::ops::verify`]). `key_path` is empty for the whole file; `detail` names types and
    /// counts, never values.
    #[error(
        "kvsops produced output that does not read back ({}{detail}); nothing was written. This is a kvsops bug: please report it",
        if key_path.is_empty() { String::new() } else { format!("at key path {key_path}: ") }
    )]
    VerifyFailed { key_path: String, detail: String },
}

impl Error {
    /// The exit code sops uses for this failure.
    pub fn exit_code(&self) -> i32 {
        use exit::*;
        match self {
            Error::Io { .. } => COULD_NOT_READ_INPUT_FILE,
            Error::FileNotFound(_) => NO_FILE_SPECIFIED,
            Error::Write { .. } => COULD_NOT_WRITE_OUTPUT_FILE,
            Error::Parse { .. } | Error::DuplicateKey { .. } => COULD_NOT_READ_INPUT_FILE,
            Error::NoDocuments => NEED_AT_LEAST_ONE_DOCUMENT,
            Error::Unsupported(_) => GENERIC,
            Error::Unencryptable(_) => ERROR_ENCRYPTING_TREE,
            Error::UnreadableEncrypted(_) => GENERIC,
            Error::DumpTree(_) => ERROR_DUMPING_TREE,
            Error::MetadataNotFound | Error::InvalidMetadata(_) => GENERIC,
            Error::AlreadyEncrypted => FILE_ALREADY_ENCRYPTED,
            Error::DecryptValue { .. } => ERROR_DECRYPTING_TREE,
            Error::EncryptValue { .. } => ERROR_ENCRYPTING_TREE,
            Error::MacMismatch { .. } | Error::MacMissing | Error::MacUndecryptable(_) => MAC_MISMATCH,
            Error::DataKey(_) => COULD_NOT_RETRIEVE_KEY,
            Error::NoKeys => GENERIC,
            Error::Config(_) => GENERIC,
            Error::KeyService(_) => GENERIC,
            Error::Key { .. } => COULD_NOT_RETRIEVE_KEY,
            Error::Conflict(_) => CONFLICTING_PARAMETERS,
            Error::InvalidEncryptionContext => INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT,
            Error::DuplicateDecryptionKeyType(_) => DUPLICATE_DECRYPTION_KEY_TYPE,
            Error::InvalidTreePath(_) => INVALID_TREE_PATH_FORMAT,
            Error::PathNotFound(_) => GENERIC,
            Error::InvalidValue(_) => INVALID_SET_FORMAT,
            Error::NotModified => FILE_HAS_NOT_BEEN_MODIFIED,
            Error::NoEditor | Error::Editor(_) | Error::EditorRun { .. } => NO_EDITOR_FOUND,
            Error::Generic(_) => GENERIC,
            Error::Spawn { .. } | Error::Git { .. } | Error::MergeSide { .. } => GENERIC,
            Error::NulInPath { .. } => CONFLICTING_PARAMETERS,
            Error::OutputCannotHold { .. } => GENERIC,
            Error::VerifyFailed { .. } => VERIFY_FAILED,
        }
    }

    /// This error, met while reading a file as an *encrypted* file: a parse failure (or a
    /// non-string key) gets sops's exit code for that case (1) instead of the plaintext one.
    pub fn in_encrypted_file(self) -> Self {
        match self {
            Error::Parse { .. } | Error::DuplicateKey { .. } | Error::Unencryptable(_) => {
                Error::UnreadableEncrypted(Box::new(self))
            }
            other => other,
        }
    }

    /// A parse error of a store.
    pub fn parse(format: &'static str, message: impl Into<String>) -> Self {
        Error::Parse { format, message: message.into() }
    }

    /// The file a message already names (first, or as "could not write FILE"), so a caller that prefixes errors with their
    /// file does not print it twice ("x.yaml: x.yaml: no such file").
    pub fn leading_path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Io { path, .. } | Error::FileNotFound(path) | Error::Write { path, .. } => Some(path),
            Error::UnreadableEncrypted(inner) => inner.leading_path(),
            _ => None,
        }
    }

    /// An I/O error on a path (a missing file gets sops's "no file" exit code).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::FileNotFound(path)
        } else {
            Error::Io { path, source }
        }
    }
}

impl From<crate::tree::MisplacedComment> for Error {
    fn from(e: crate::tree::MisplacedComment) -> Self {
        Error::DecryptValue { path: e.path, reason: "a mapping value decrypted to a comment".into() }
    }
}

/// How a git plumbing command failed ([`Error::Git`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git: {0}")]
    Run(#[source] std::io::Error),
    /// Waiting for git failed.
    #[error("{0}")]
    Wait(#[source] std::io::Error),
    /// git reported an error (its own message) or exited unsuccessfully.
    #[error("{0}")]
    Failed(String),
    /// git's output was not what the plumbing command promises.
    #[error("{0}")]
    Output(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn typed_causes_keep_their_messages_exit_codes_and_sources() {
        let mac = Error::MacMismatch { file_mac: "a".into(), computed_mac: "b".into() };
        let merge = Error::MergeSide { side: "their version", source: Box::new(mac) };
        assert!(merge.to_string().starts_with("cannot decrypt their version: MAC mismatch"), "{merge}");
        assert_eq!(merge.exit_code(), exit::GENERIC);
        // The boxed cause is the source as it is held (a `Box<Error>`).
        let cause = merge.source().and_then(|s| s.downcast_ref::<Box<Error>>()).map(|b| &**b);
        assert!(matches!(cause, Some(Error::MacMismatch { .. })), "{cause:?}");
        assert_eq!(cause.map(Error::exit_code), Some(exit::MAC_MISMATCH));

        let gone = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such program");
        let git = Error::Git { command: "ls-files".into(), cause: GitError::Run(gone()) };
        assert_eq!(git.to_string(), "git ls-files: cannot run git: no such program");
        assert_eq!(git.exit_code(), exit::GENERIC);
        let io = git.source().and_then(|s| s.source()).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));
        let failed = Error::Git { command: "cat-file".into(), cause: GitError::Failed("failed".into()) };
        assert_eq!(failed.to_string(), "git cat-file: failed");

        let spawn = Error::Spawn { what: "could not start /bin/sh", source: gone() };
        assert_eq!(spawn.to_string(), "could not start /bin/sh: no such program");
        assert_eq!(spawn.exit_code(), exit::GENERIC);
        assert!(spawn.source().is_some());

        let editor = Error::EditorRun { program: PathBuf::from("vi"), source: gone() };
        assert_eq!(editor.to_string(), "could not run the editor: vi: no such program");
        assert_eq!(editor.exit_code(), exit::NO_EDITOR_FOUND);
        assert!(editor.source().is_some());

        let nul = Error::NulInPath { what: "FIFO" };
        assert_eq!(nul.to_string(), "conflicting parameters: the FIFO path contains a NUL byte");
        assert_eq!(nul.exit_code(), exit::CONFLICTING_PARAMETERS);
    }
}
