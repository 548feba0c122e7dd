//! The command line, flag for flag with sops 3.11 (subcommands and the legacy `-e`/`-d` form),
//! with the same environment variables.
//!
//! A subcommand's flags are declared only when that subcommand runs or help is shown
//! (`#[command(defer = true)]`): declaring every subcommand's flags on each run took a quarter of a
//! small `encrypt`'s instructions and most of its heap. Two consequences:
//! - the flag groups below are flattened into several subcommands, and `groups` and `hook` have
//!   subcommands of their own, so the descriptions of those types are
//!   `#[cfg_attr(doc, doc = ...)]`: clap turns their doc comment into an `about`, which would
//!   replace the deferred subcommand's own description;
//! - no flag is `global`: clap would copy it into each subcommand before the subcommand declares
//!   its own copy. Flags before a subcommand (`kvsops --config X encrypt`) are handled in
//!   `cli::parse` instead.

// The doc comments below are clap's --help text, written for a terminal (`'["data"]'`,
// `<vault>`), not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kvsops: encrypt secrets the way SOPS does. A drop-in for `sops`.
#[derive(Parser, Debug)]
#[command(name = "kvsops", about, disable_version_flag = true, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Print the version; the first line is `sops 3.11.0 (kvsops X.Y.Z)`, for scripts that check
    /// which sops they run.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    /// With --version, as sops takes it. kvsops never asks the network for updates.
    #[arg(long = "check-for-updates", requires = "version")]
    pub check_for_updates: bool,

    #[command(flatten)]
    pub legacy: LegacyArgs,
}

#[cfg_attr(doc, doc = "Flags every command accepts.")]
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Path to the config file (default: .sops.yaml found walking up from the working directory).
    #[arg(long, env = "SOPS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log more (never secrets).
    #[arg(long)]
    pub verbose: bool,
    /// Accepted as sops takes it; kvsops never checks for updates.
    #[arg(long, hide = true)]
    pub disable_version_check: bool,
    #[command(flatten)]
    pub keyservice: KeyServiceArgs,
}

#[cfg_attr(doc, doc = "Which key services wrap and unwrap data keys (sops's `--keyservice` flags).")]
#[derive(Args, Debug, Clone, Default)]
pub struct KeyServiceArgs {
    /// Use kvsops's own key sources (default true; `--enable-local-keyservice=false` to send every
    /// key to the --keyservice servers only).
    #[arg(
        long = "enable-local-keyservice",
        env = "SOPS_ENABLE_LOCAL_KEYSERVICE",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_go_bool,
    )]
    pub enable_local_keyservice: Option<bool>,
    /// A key service to use after the local one: tcp://host:port or unix:///path/to/socket
    /// (repeatable; SOPS_KEYSERVICE takes a comma-separated list).
    #[arg(long = "keyservice", env = "SOPS_KEYSERVICE", value_name = "URI", value_delimiter = ',')]
    pub keyservice: Vec<String>,
}

impl KeyServiceArgs {
    /// Whether kvsops's own key sources are used (sops's default: yes).
    pub fn local(&self) -> bool {
        self.enable_local_keyservice.unwrap_or(true)
    }
}

/// A boolean as Go's strconv.ParseBool reads it (what sops's flag and variable accept).
fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean (true or false)")),
    }
}

#[cfg_attr(doc, doc = "Master-key flags; each also reads sops's environment variable.")]
#[derive(Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Comma-separated age recipients.
    #[arg(short = 'a', long = "age", env = "SOPS_AGE_RECIPIENTS", value_name = "RECIPIENTS")]
    pub age: Option<String>,
    /// Comma-separated PGP fingerprints.
    #[arg(short = 'p', long = "pgp", env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pub pgp: Option<String>,
    /// Comma-separated Azure Key Vault key URLs (https://<vault>.vault.azure.net/keys/<name>[/<version>]).
    #[arg(long = "azure-kv", env = "SOPS_AZURE_KEYVAULT_URLS", value_name = "URLS")]
    pub azure_kv: Option<String>,
    /// Comma-separated AWS KMS ARNs (recorded only: kvsops cannot call AWS KMS).
    #[arg(short = 'k', long = "kms", env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,
    /// AWS profile for KMS keys.
    #[arg(long = "aws-profile", value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// Comma-separated GCP KMS resource ids (not supported by kvsops).
    #[arg(long = "gcp-kms", env = "SOPS_GCP_KMS_IDS", value_name = "IDS")]
    pub gcp_kms: Option<String>,
    /// Comma-separated Vault transit URIs (not supported by kvsops).
    #[arg(long = "hc-vault-transit", env = "SOPS_VAULT_URIS", value_name = "URIS")]
    pub hc_vault_transit: Option<String>,
    /// Comma-separated HuaweiCloud KMS key ids, region:key-uuid (accepted as sops takes them;
    /// kvsops cannot call HuaweiCloud KMS, so using one is an error).
    #[arg(long = "hckms", env = "SOPS_HUAWEICLOUD_KMS_IDS", value_name = "IDS")]
    pub hckms: Option<String>,
    /// Comma-separated KMS encryption context key:value pairs, recorded with the --kms keys.
    #[arg(long = "encryption-context", value_name = "PAIRS")]
    pub encryption_context: Option<String>,
}

#[cfg_attr(doc, doc = "The six crypt-rule flags and the MAC mode.")]
#[derive(Args, Debug, Clone, Default)]
pub struct RuleArgs {
    /// Do not encrypt values whose key (or a parent's) ends with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values whose key (or a parent's) ends with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Do not encrypt values whose key (or a parent's) matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values whose key (or a parent's) matches this regex, e.g. '^(data|stringData)$'.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Do not encrypt values after a comment matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values after a comment matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Authenticate only the encrypted values with the MAC.
    #[arg(long)]
    pub mac_only_encrypted: bool,
    /// Number of key groups needed to decrypt (Shamir).
    #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
    pub shamir_threshold: Option<u32>,
}

#[cfg_attr(doc, doc = "Input/output flags shared by encrypt and decrypt.")]
#[derive(Args, Debug, Clone, Default)]
pub struct IoArgs {
    /// Write the result back to the file (atomically).
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// With several files: write each result into this directory under its own name.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Input format (yaml, json, dotenv, ini, binary); default from the extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Output format; default from the extension of the file (or --filename-override).
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    /// Use this path for creation rules and format detection (useful with stdin).
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
    /// Indentation for YAML/JSON output.
    #[arg(long, value_name = "N")]
    pub indent: Option<usize>,
    /// Parallel file operations for batches (default: 8).
    #[arg(long, value_name = "N", env = "KVSOPS_JOBS")]
    pub jobs: Option<usize>,
}

#[cfg_attr(doc, doc = "Decryption flags.")]
#[derive(Args, Debug, Clone, Default)]
pub struct DecryptArgs {
    /// Print only this part of the tree, e.g. '["data"]["password"]'.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Do not check the MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Order in which key types are tried, e.g. 'age,pgp'.
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

#[cfg_attr(doc, doc = "The legacy flag-driven mode: `kvsops -e FILE`, `kvsops -d FILE`, `kvsops FILE` (edit).")]
#[derive(Args, Debug, Clone, Default)]
pub struct LegacyArgs {
    /// Encrypt the file.
    #[arg(short = 'e', long = "encrypt")]
    pub encrypt: bool,
    /// Decrypt the file.
    #[arg(short = 'd', long = "decrypt")]
    pub decrypt: bool,
    /// Rotate the data key.
    #[arg(short = 'r', long = "rotate")]
    pub rotate: bool,
    /// Set a value: '["key"] json-value'.
    #[arg(long = "set", value_name = "PATH VALUE")]
    pub set: Option<String>,
    /// Show master keys in the editor (edit mode).
    #[arg(short = 's', long = "show-master-keys")]
    pub show_master_keys: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub dec: DecryptArgs,
    #[command(flatten)]
    pub rotate_keys: RotateKeyArgs,
    /// The file to work on.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Ignored (sops warns about arguments after the file).
    #[arg(value_name = "IGNORED", hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub extra: Vec<String>,
}

#[cfg_attr(doc, doc = "`--add-*` / `--rm-*` master keys of a rotation (comma-separated lists).")]
#[derive(Args, Debug, Clone, Default)]
pub struct RotateKeyArgs {
    /// Add these age recipients to the file's first key group.
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    /// Remove these age recipients.
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    /// Add these PGP fingerprints.
    #[arg(long, value_name = "FINGERPRINTS")]
    pub add_pgp: Option<String>,
    /// Remove these PGP fingerprints.
    #[arg(long, value_name = "FINGERPRINTS")]
    pub rm_pgp: Option<String>,
    /// Add these Azure Key Vault key URLs.
    #[arg(long, value_name = "URLS")]
    pub add_azure_kv: Option<String>,
    /// Remove these Azure Key Vault key URLs.
    #[arg(long, value_name = "URLS")]
    pub rm_azure_kv: Option<String>,
    /// Add these AWS KMS ARNs (kvsops cannot wrap with them).
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    /// Remove these AWS KMS ARNs.
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    /// Add these GCP KMS resource ids (kvsops cannot wrap with them).
    #[arg(long, value_name = "IDS")]
    pub add_gcp_kms: Option<String>,
    /// Remove these GCP KMS resource ids.
    #[arg(long, value_name = "IDS")]
    pub rm_gcp_kms: Option<String>,
    /// Add these Vault transit URIs (kvsops cannot wrap with them).
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Option<String>,
    /// Remove these Vault transit URIs.
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Option<String>,
    /// Add these HuaweiCloud KMS key ids (kvsops cannot wrap with them).
    #[arg(long, value_name = "IDS")]
    pub add_hckms: Option<String>,
    /// Remove these HuaweiCloud KMS key ids.
    #[arg(long, value_name = "IDS")]
    pub rm_hckms: Option<String>,
}

#[cfg_attr(doc, doc = "Flags of the commands that change an encrypted file (edit, set, unset).")]
#[derive(Args, Debug, Clone, Default)]
pub struct ChangeArgs {
    /// Input format (yaml, json, dotenv, ini, binary); default from the extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_type: Option<String>,
    /// Output format; default from the extension.
    #[arg(long, value_name = "FORMAT")]
    pub output_type: Option<String>,
    /// Do not check the MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Order in which key types are tried, e.g. 'age,pgp'.
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

#[cfg_attr(doc, doc = "The `groups` subcommands.")]
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum GroupsCommand {
    /// Add a key group (the data key is split again into Shamir shares).
    Add {
        #[command(flatten)]
        global: GlobalArgs,
        /// The encrypted file.
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
        /// age recipients of the new group (repeatable, or comma-separated).
        #[arg(long, value_name = "RECIPIENT")]
        age: Vec<String>,
        /// PGP fingerprints of the new group.
        #[arg(long, value_name = "FINGERPRINT")]
        pgp: Vec<String>,
        /// Azure Key Vault key URLs of the new group.
        #[arg(long, value_name = "URL")]
        azure_kv: Vec<String>,
        /// AWS KMS ARNs of the new group (kvsops cannot wrap with them).
        #[arg(long, value_name = "ARN")]
        kms: Vec<String>,
        /// GCP KMS resource ids of the new group (kvsops cannot wrap with them).
        #[arg(long, value_name = "ID")]
        gcp_kms: Vec<String>,
        /// Vault transit URIs of the new group (kvsops cannot wrap with them).
        #[arg(long, value_name = "URI")]
        hc_vault_transit: Vec<String>,
        /// HuaweiCloud KMS key ids of the new group (accepted as sops takes them; kvsops cannot
        /// wrap with them, so giving one is an error).
        #[arg(long, value_name = "ID")]
        hckms: Vec<String>,
        /// Comma-separated KMS encryption context key:value pairs for the --kms keys (an invalid
        /// one is ignored with a warning, as sops does).
        #[arg(long = "encryption-context", value_name = "PAIRS")]
        encryption_context: Option<String>,
        /// Number of groups needed to decrypt.
        #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
        shamir_threshold: Option<u32>,
        /// Write the result back to the file instead of standard output.
        #[arg(short = 'i', long = "in-place")]
        in_place: bool,
        /// Order in which key types are tried, e.g. 'age,pgp'.
        #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
        decryption_order: Option<String>,
    },
    /// Delete the key group at INDEX (counted from 0).
    Delete {
        #[command(flatten)]
        global: GlobalArgs,
        /// The encrypted file.
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
        /// Number of groups needed to decrypt.
        #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
        shamir_threshold: Option<u32>,
        /// Write the result back to the file instead of standard output.
        #[arg(short = 'i', long = "in-place")]
        in_place: bool,
        /// Order in which key types are tried, e.g. 'age,pgp'.
        #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
        decryption_order: Option<String>,
        /// The group's index.
        #[arg(value_name = "INDEX")]
        index: usize,
    },
}

/// The subcommands. Each one's flags are declared only when it is the one being run or its help
/// is shown (see the module documentation).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Encrypt files (stdin when no file is given).
    Encrypt {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        io: IoArgs,
        /// Files to encrypt, or directories (with --in-place: every file under one that a
        /// creation rule's path_regex matches, git-ignored paths skipped).
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Decrypt files (stdin when no file is given).
    Decrypt {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        io: IoArgs,
        #[command(flatten)]
        dec: DecryptArgs,
        /// Files to decrypt, or directories (with --in-place: every file under one that a
        /// creation rule's path_regex matches, git-ignored paths skipped).
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check that every value .sops.yaml wants encrypted is encrypted (no keys needed; for hooks and CI).
    Check {
        #[command(flatten)]
        global: GlobalArgs,
        /// Check the staged blobs (what the next commit would contain) instead of the working tree.
        #[arg(long)]
        staged: bool,
        /// Also flag plaintext Kubernetes Secrets outside every creation rule.
        #[arg(long)]
        all: bool,
        /// Files or directories (default: every file git tracks, or the current directory tree outside git).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Manage the git pre-commit hook.
    Hook {
        #[command(subcommand)]
        action: HookAction,
    },
    /// For `git diff` (diff.sops.textconv): print the file decrypted, or unchanged when it cannot be.
    DiffTextconv {
        #[command(flatten)]
        global: GlobalArgs,
        /// Input format; default from the extension.
        #[arg(long, value_name = "FORMAT")]
        input_type: Option<String>,
        /// The file git hands over.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Git merge driver (merge.sops.driver = "kvsops merge-driver %O %A %B %P"): merges values, not lines.
    MergeDriver {
        #[command(flatten)]
        global: GlobalArgs,
        /// The common ancestor (%O).
        #[arg(value_name = "BASE")]
        base: PathBuf,
        /// Our version (%A); receives the result.
        #[arg(value_name = "OURS")]
        ours: PathBuf,
        /// Their version (%B).
        #[arg(value_name = "THEIRS")]
        theirs: PathBuf,
        /// The file's path in the repository (%P), for its format and messages.
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
    },
    /// Print {"encrypted":true|false} for a file.
    Filestatus {
        #[command(flatten)]
        global: GlobalArgs,
        /// Input format; default from the extension.
        #[arg(long, value_name = "FORMAT")]
        input_type: Option<String>,
        /// The file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Edit an encrypted file in $SOPS_EDITOR / $EDITOR (a missing file starts from an example).
    Edit {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        change: ChangeArgs,
        /// Show the sops metadata (master keys) in the editor.
        #[arg(short = 's', long)]
        show_master_keys: bool,
        /// The file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Generate a new data key and re-encrypt every value (optionally adding or removing keys).
    Rotate {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        rotate_keys: RotateKeyArgs,
        #[command(flatten)]
        change: ChangeArgs,
        /// Write the result back to the file.
        #[arg(short = 'i', long = "in-place")]
        in_place: bool,
        /// Write the result to this file instead of standard output.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// With several files: write each result into this directory under its own name.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// Use this path for format detection.
        #[arg(long, value_name = "PATH")]
        filename_override: Option<PathBuf>,
        /// Comma-separated KMS encryption context key:value pairs for --add-kms keys (an invalid
        /// one is ignored with a warning, as sops does).
        #[arg(long = "encryption-context", value_name = "PAIRS")]
        encryption_context: Option<String>,
        /// Parallel file operations for batches (default: 8).
        #[arg(long, value_name = "N", env = "KVSOPS_JOBS")]
        jobs: Option<usize>,
        /// The files, or directories (every file under one that a creation rule governs; needs
        /// --in-place). Several need --in-place or --output-dir.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Re-wrap files' data keys for the keys their creation rule lists now.
    Updatekeys {
        #[command(flatten)]
        global: GlobalArgs,
        /// Apply without asking.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Input format; default from the extension.
        #[arg(long, value_name = "FORMAT")]
        input_type: Option<String>,
        /// Number of groups needed to decrypt (default: the rule's, else the file's).
        #[arg(long = "shamir-secret-sharing-threshold", value_name = "N")]
        shamir_threshold: Option<u32>,
        /// Order in which key types are tried, e.g. 'age,pgp'.
        #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
        decryption_order: Option<String>,
        /// The files, or directories (every file under one that a creation rule's path_regex
        /// matches, git-ignored paths skipped).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Set one value: kvsops set FILE '["key"][0]' '"json value"'.
    Set {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        change: ChangeArgs,
        /// Read the value from the file named by VALUE (keeps it out of process listings).
        #[arg(long, conflicts_with = "value_stdin")]
        value_file: bool,
        /// Read the value from standard input (VALUE is then omitted).
        #[arg(long)]
        value_stdin: bool,
        /// Do not write the file when the value is already set.
        #[arg(long)]
        idempotent: bool,
        /// The file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The path, e.g. '["data"]["password"]'.
        #[arg(value_name = "INDEX")]
        index: String,
        /// The value as JSON (or a file name with --value-file).
        #[arg(value_name = "VALUE")]
        value: Option<String>,
    },
    /// Remove one value: kvsops unset FILE '["key"]'.
    Unset {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        change: ChangeArgs,
        /// Succeed without writing when the path does not exist.
        #[arg(long)]
        idempotent: bool,
        /// The file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The path, e.g. '["data"]["password"]'.
        #[arg(value_name = "INDEX")]
        index: String,
    },
    /// Run a command with the file's top-level values in its environment.
    ExecEnv {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        change: ChangeArgs,
        /// Only the decrypted values, without the current environment.
        #[arg(long)]
        pristine: bool,
        /// Run the command as this user (not supported by kvsops).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Replace kvsops with the command instead of running a child.
        #[arg(long)]
        same_process: bool,
        /// Do not wait for the command (deprecated in sops).
        #[arg(long)]
        background: bool,
        /// The encrypted file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The command, run with /bin/sh -c.
        #[arg(value_name = "COMMAND")]
        command: String,
    },
    /// Run a command with the decrypted file readable at a temporary path ({} in COMMAND).
    ExecFile {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        change: ChangeArgs,
        /// Use a regular (0600) file instead of a FIFO.
        #[arg(long)]
        no_fifo: bool,
        /// Name of the temporary file (default tmp-file).
        #[arg(long, value_name = "NAME")]
        filename: Option<String>,
        /// Run the command as this user (not supported by kvsops).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Do not wait for the command (deprecated in sops).
        #[arg(long)]
        background: bool,
        /// The encrypted file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The command, run with /bin/sh -c.
        #[arg(value_name = "COMMAND")]
        command: String,
    },
    /// Diagnose Azure Key Vault access (credential, network, key, permissions; not in sops).
    Doctor {
        #[command(flatten)]
        global: GlobalArgs,
        /// Encrypted files (their keys), other files (the keys of their creation rule) or key URLs;
        /// none: every Azure key of .sops.yaml's creation rules and SOPS_AZURE_KEYVAULT_URLS.
        #[arg(value_name = "FILE|KEY-URL")]
        targets: Vec<String>,
    },
    /// Add or delete key groups.
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Serve sops's key service (gRPC) with kvsops's key sources, for `--keyservice` clients.
    Keyservice {
        /// Network to listen on: tcp (also tcp4, tcp6) or unix.
        #[arg(long = "network", visible_alias = "net", value_name = "NETWORK", default_value = "tcp")]
        network: String,
        /// Address to listen on, e.g. 127.0.0.1:5000 or /tmp/sops.sock.
        #[arg(long = "address", visible_alias = "addr", value_name = "ADDRESS", default_value = "127.0.0.1:5000")]
        address: String,
        /// Ask on the terminal (y/n) before answering each request.
        #[arg(long)]
        prompt: bool,
        /// Log each request: its key and outcome (never the data key).
        #[arg(long)]
        verbose: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completion {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Not supported: sops's publish uploads files to S3, GCS or Vault, which kvsops does not reach.
    Publish {
        /// Whatever sops's publish takes.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
        args: Vec<std::ffi::OsString>,
    },
}

#[cfg_attr(doc, doc = "What `kvsops hook` does.")]
#[derive(Subcommand, Debug)]
pub enum HookAction {
    /// Install the pre-commit hook (`kvsops check --staged`) in this repository's hooks directory.
    Install {
        /// Replace a different existing pre-commit hook (it is kept as pre-commit.kvsops-backup).
        #[arg(long)]
        force: bool,
    },
}

impl Command {
    /// The flags every subcommand shares, so flags given before the subcommand
    /// (`kvsops --config X encrypt F`, as sops allows) can be applied to it.
    pub fn global_mut(&mut self) -> Option<&mut GlobalArgs> {
        match self {
            Command::Encrypt { global, .. }
            | Command::Decrypt { global, .. }
            | Command::Check { global, .. }
            | Command::DiffTextconv { global, .. }
            | Command::MergeDriver { global, .. }
            | Command::Filestatus { global, .. }
            | Command::Edit { global, .. }
            | Command::Rotate { global, .. }
            | Command::Updatekeys { global, .. }
            | Command::Set { global, .. }
            | Command::Unset { global, .. }
            | Command::ExecEnv { global, .. }
            | Command::ExecFile { global, .. }
            | Command::Doctor { global, .. } => Some(global),
            Command::Groups { command: GroupsCommand::Add { global, .. } | GroupsCommand::Delete { global, .. } } => {
                Some(global)
            }
            Command::Hook { .. }
            | Command::Completion { .. }
            | Command::Publish { .. }
            | Command::Keyservice { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own consistency checks, over every subcommand (deferred ones included).
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// With deferred subcommands a flattened struct's (or a nested subcommand enum's) doc comment
    /// would replace a subcommand's description: every subcommand's help must start with the
    /// description its variant declares (read before anything is deferred-built).
    #[test]
    fn every_subcommand_help_starts_with_its_own_description() {
        let declared = Cli::command();
        let mut checked = 0;
        for sub in declared.get_subcommands() {
            let about = sub.get_about().expect("every subcommand is described").to_string();
            let help = Cli::command()
                .try_get_matches_from(["kvsops", sub.get_name(), "--help"])
                .expect_err("--help ends the parse")
                .to_string();
            assert!(
                help.starts_with(&about),
                "`kvsops {} --help` starts with {:?}, not {about:?}",
                sub.get_name(),
                help.lines().next()
            );
            checked += 1;
        }
        assert!(checked >= 15, "{checked} subcommands");
    }
}
