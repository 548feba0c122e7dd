//! The command-line layer: turns flags, environment and `.sops.yaml` into calls of [`crate::ops`],
//! writes results, and maps errors to sops's exit codes. No format or crypto logic lives here.

pub mod args;
mod batch;
pub mod check;
mod doctor;
mod edit;
mod exec;
pub mod gitdiff;
mod groups;
mod keyservice;
mod mergedriver;
mod rotate;
mod set;
mod updatekeys;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::keys::{KeySpec, KeySpecGroup, Keyring};
use crate::ops;
use crate::ops::decrypt::DecryptOptions;
use crate::ops::encrypt::EncryptParams;
use crate::ops::verify::Verified;
use crate::platform::fsio::{self, Sensitivity};
use crate::rules::{CryptRule, RuleKind};
use crate::stores::{Format, Store, StoreSettings};

use args::{Cli, Command, DecryptArgs, GlobalArgs, IoArgs, KeyArgs, RuleArgs};

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match parse(std::env::args_os().collect()) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            crate::errln!("kvsops: {failure}");
            failure.code()
        }
    }
}

/// Parses the command line. sops accepts its top-level flags before a subcommand
/// (`sops --config X encrypt F`) and honours only `--config` there, ignoring the rest; a plain
/// clap parse would instead take the subcommand's name for the legacy mode's FILE (and open an
/// editor on a file called `encrypt`). So when a subcommand's name follows nothing but flags, the
/// command line is parsed from that name on, `--config` and `--verbose` are carried over, and any
/// other flag before it is reported as ignored.
fn parse(argv: Vec<OsString>) -> std::result::Result<Cli, clap::Error> {
    let plain = Cli::try_parse_from(&argv);
    if let Ok(cli) = &plain {
        let file_is_a_subcommand = cli.legacy.file.as_deref().and_then(Path::to_str).is_some_and(is_subcommand);
        if cli.command.is_some() || !file_is_a_subcommand {
            return plain;
        }
    }
    match flags_then_subcommand(&argv) {
        Some(before) => hoisted(&argv, before),
        None => plain,
    }
}

/// A subcommand's position in the command line and the parse of the flags before it.
struct FlagsBefore {
    at: usize,
    flags: Cli,
    matches: clap::ArgMatches,
    command: clap::Command,
}

fn is_subcommand(name: &str) -> bool {
    <Command as clap::Subcommand>::has_subcommand(name)
}

/// The position of the first subcommand name that follows only flags and their values (checked
/// by parsing what comes before it), with the parse of those flags. Never after `--`, which
/// makes `encrypt` a file name.
fn flags_then_subcommand(argv: &[OsString]) -> Option<FlagsBefore> {
    let end = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    (1..end).filter(|&i| argv[i].to_str().is_some_and(is_subcommand)).find_map(|at| {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(&argv[..at]).ok()?;
        let flags = Cli::from_arg_matches(&matches).ok()?;
        let only_flags = flags.command.is_none() && flags.legacy.file.is_none() && flags.legacy.extra.is_empty();
        only_flags.then_some(FlagsBefore { at, flags, matches, command })
    })
}

/// Parses `argv[at..]` as a subcommand line and applies the flags that came before it as sops does.
fn hoisted(
    argv: &[OsString],
    FlagsBefore { at, flags, matches, command }: FlagsBefore,
) -> std::result::Result<Cli, clap::Error> {
    let mut cli = Cli::try_parse_from(std::iter::once(argv[0].clone()).chain(argv[at..].iter().cloned()))?;
    let from_command_line = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let mut ignored: Vec<String> = matches
        .ids()
        // --disable-version-check does nothing in kvsops: not worth a warning wherever it stands.
        .filter(|id| {
            !matches!(id.as_str(), "config" | "verbose" | "disable_version_check") && from_command_line(id.as_str())
        })
        .filter_map(|id| command.get_arguments().find(|a| a.get_id() == id))
        .map(|a| match (a.get_long(), a.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => a.get_id().to_string(),
        })
        .collect();
    match cli.command.as_mut().and_then(Command::global_mut) {
        Some(global) => {
            if global.config.is_none() {
                global.config = flags.legacy.global.config;
            }
            global.verbose |= flags.legacy.global.verbose;
        }
        None if from_command_line("config") => ignored.push("--config".to_string()),
        None => {}
    }
    if !ignored.is_empty() {
        let name = argv[at].to_string_lossy();
        crate::errln!(
            "kvsops: warning: ignoring {} before `{name}` (sops ignores flags before a subcommand, except --config); put them after `{name}`",
            ignored.join(", ")
        );
    }
    Ok(cli)
}

/// An error with the file it concerns.
#[derive(Debug)]
pub struct Failure {
    pub file: Option<PathBuf>,
    pub error: Error,
}

impl Failure {
    fn code(&self) -> i32 {
        self.error.exit_code()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = worded(&self.error);
        match &self.file {
            Some(p) if self.error.leading_path() != Some(p.as_path()) => write!(f, "{}: {message}", p.display()),
            _ => write!(f, "{message}"),
        }
    }
}

/// An error as the command line says it: the library's errors say what happened, and where a
/// flag helps, it is named here (the library knows no flags).
fn worded(error: &Error) -> String {
    match error {
        Error::OutputCannotHold { key_path, detail } => {
            format!("the value at {key_path}: {detail}, or print it raw with --extract; nothing was written")
        }
        other => other.to_string(),
    }
}

fn at(file: Option<&Path>) -> impl FnOnce(Error) -> Failure + '_ {
    move |error| Failure { file: file.map(Path::to_path_buf), error }
}

fn run(mut cli: Cli) -> std::result::Result<i32, Failure> {
    let verbose = cli.command.as_mut().and_then(Command::global_mut).map_or(cli.legacy.global.verbose, |g| g.verbose);
    crate::console::set_verbose(verbose);
    match cli.command {
        Some(Command::Encrypt { global, keys, rules, io, files }) => encrypt_cmd(&global, &keys, &rules, &io, &files),
        Some(Command::Decrypt { global, io, dec, files }) => decrypt_cmd(&global, &io, &dec, &files),
        Some(Command::Filestatus { global, input_type, file }) => filestatus_cmd(&global, input_type.as_deref(), &file),
        Some(Command::Check { global, staged, all, paths }) => check::check_cmd(&global, staged, all, &paths),
        Some(Command::Hook { action: args::HookAction::Install { force } }) => check::hook_install_cmd(force),
        Some(Command::DiffTextconv { global, input_type, file }) => {
            gitdiff::textconv_cmd(&global, input_type.as_deref(), &file)
        }
        Some(Command::MergeDriver { global, base, ours, theirs, path }) => {
            mergedriver::merge_driver_cmd(&global, &base, &ours, &theirs, path.as_deref())
        }
        Some(Command::Edit { global, keys, rules, change, show_master_keys, file }) => {
            edit::run(&global, &keys, &rules, &change, show_master_keys, &file)
        }
        Some(Command::Rotate {
            global,
            rotate_keys,
            change,
            in_place,
            output,
            output_dir,
            filename_override,
            encryption_context,
            jobs,
            files,
        }) => {
            let io = IoArgs { in_place, output, output_dir, filename_override, jobs, ..edit::io_of(&change) };
            rotate::run(&global, &rotate_keys, encryption_context.as_deref(), &change, &io, &files)
        }
        Some(Command::Updatekeys { global, yes, input_type, shamir_threshold, decryption_order, files }) => {
            updatekeys::run(&global, yes, input_type.as_deref(), shamir_threshold, decryption_order.as_deref(), &files)
        }
        Some(Command::Set { global, change, value_file, value_stdin, idempotent, file, index, value }) => {
            set::run_set(&global, &change, value_file, value_stdin, idempotent, &file, &index, value.as_deref())
        }
        Some(Command::Unset { global, change, idempotent, file, index }) => {
            set::run_unset(&global, &change, idempotent, &file, &index)
        }
        Some(Command::ExecEnv { global, change, pristine, user, same_process, background, file, command }) => {
            let opts = ops::exec::EnvOptions { pristine, background, same_process };
            exec::run_env(&global, &change, user.as_deref(), opts, &file, &command)
        }
        Some(Command::ExecFile { global, change, no_fifo, filename, user, background, file, command }) => {
            let opts = ops::exec::FileOptions { no_fifo, filename, background };
            exec::run_file(&global, &change, user.as_deref(), &opts, &file, &command)
        }
        Some(Command::Doctor { global, targets }) => doctor::run(&global, &targets),
        Some(Command::Groups { command }) => groups::run(&command),
        Some(Command::Keyservice { network, address, prompt, verbose }) => {
            keyservice::serve(&network, &address, prompt, verbose)
        }
        Some(Command::Completion { shell }) => {
            // Named as invoked, so a `sops` link to kvsops completes as `sops`.
            let name = std::env::args_os()
                .next()
                .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "kvsops".into());
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), name, &mut script);
            print(&script).map_err(at(None))?;
            Ok(0)
        }
        Some(Command::Publish { .. }) => Err(at(None)(Error::Unsupported(
            "publish is not supported: it uploads files to S3, GCS or Vault, which kvsops does not reach".into(),
        ))),
        None if cli.version => {
            let mut text = format!("sops 3.11.0 (kvsops {})\n", env!("CARGO_PKG_VERSION"));
            if cli.check_for_updates {
                text.push_str("kvsops does not check for updates over the network; see its release notes\n");
            }
            print(text.as_bytes()).map_err(at(None))?;
            Ok(0)
        }
        None => legacy(cli.legacy),
    }
}

fn legacy(l: args::LegacyArgs) -> std::result::Result<i32, Failure> {
    if !l.extra.is_empty() {
        crate::errln!("kvsops: warning: ignoring arguments after the file: {}", l.extra.join(" "));
    }
    let Some(file) = l.file.clone() else {
        crate::errln!("kvsops: no file specified (see kvsops --help)");
        return Ok(crate::error::exit::NO_FILE_SPECIFIED);
    };
    let files = vec![file];
    // sops's legacy form refuses a missing file first (exit 100), except for edit, which creates it.
    if (l.rotate || l.set.is_some()) && !files[0].exists() {
        return Err(at(None)(Error::FileNotFound(files[0].clone())));
    }
    if l.encrypt {
        encrypt_cmd(&l.global, &l.keys, &l.rules, &l.io, &files)
    } else if l.decrypt {
        decrypt_cmd(&l.global, &l.io, &l.dec, &files)
    } else if l.rotate {
        rotate::legacy(&l, &files[0])
    } else if let Some(arg) = l.set.as_deref() {
        set::legacy(&l, arg, &files[0])
    } else {
        edit::legacy(&l, &files[0])
    }
}

/// The config for a run (`None` when there is no `.sops.yaml`).
fn load_config(global: &GlobalArgs) -> Result<Option<Config>> {
    match config::locate(global.config.as_deref()) {
        Some(p) => Config::load(&p).map(Some),
        None => Ok(None),
    }
}

fn store_settings(cfg: Option<&Config>, io: &IoArgs) -> StoreSettings {
    let mut s = cfg.map(|c| c.stores).unwrap_or_default();
    if let Some(i) = io.indent {
        s.yaml_indent = i;
        s.json_indent = Some(i);
        s.json_binary_indent = Some(i);
    }
    s
}

fn parse_format(name: &str) -> Result<Format> {
    Format::from_name(name)
        .ok_or_else(|| Error::Conflict(format!("unknown format {name:?}: expected yaml, json, dotenv, ini or binary")))
}

/// Input and output formats for a file, as sops picks them.
fn formats(path: Option<&Path>, io: &IoArgs) -> Result<(Format, Format)> {
    let named = io.filename_override.as_deref().or(path);
    let by_path = named.map(Format::from_path).unwrap_or(Format::Binary);
    let input = match &io.input_type {
        Some(t) => parse_format(t)?,
        None => by_path,
    };
    let output = match &io.output_type {
        Some(t) => parse_format(t)?,
        None => match named {
            Some(_) => by_path,
            None => input,
        },
    };
    Ok((input, output))
}

/// The keyring of a command: kvsops's key sources (unless `--enable-local-keyservice=false`),
/// then each `--keyservice`, with the decryption order.
fn keyring(global: &GlobalArgs, dec: Option<&DecryptArgs>) -> Result<Keyring> {
    let mut k = Keyring::from_env();
    if let Some(order) = dec.and_then(|d| d.decryption_order.as_deref()) {
        k.set_decryption_order(order)?;
    }
    let services = &global.keyservice;
    if !services.local() || !services.keyservice.is_empty() {
        k.use_key_services(services.local(), keyservice::remote_sources(&services.keyservice)?);
    }
    Ok(k)
}

/// `--encryption-context` as sops reads it: comma-separated `key:value` pairs, each with exactly
/// one colon. Empty or absent: no context. `Err` when the text is not such a list.
pub(crate) fn kms_context(text: Option<&str>) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(out) };
    for pair in text.split(',') {
        let mut parts = pair.split(':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(k), Some(v), None) => {
                out.insert(k.to_string(), v.to_string());
            }
            _ => return Err(Error::InvalidEncryptionContext),
        }
    }
    Ok(out)
}

/// `--encryption-context` where sops only warns about an invalid one and goes on without it
/// (`rotate`, `groups add`).
fn usable_kms_context(text: Option<&str>) -> Option<&str> {
    match kms_context(text) {
        Ok(_) => text,
        Err(_) => {
            crate::errln!(
                "kvsops: warning: the encryption context is not comma-separated key:value pairs; it is not used"
            );
            None
        }
    }
}

/// HuaweiCloud KMS key ids (`--hckms`, `--add-hckms`): checked as sops checks them
/// (`region:key-uuid`), then refused, since kvsops cannot call HuaweiCloud KMS to wrap a data
/// key. Both are exit 1, as sops's own failure when it cannot reach the service.
fn refuse_hckms(ids: Option<&str>) -> Result<()> {
    let ids: Vec<&str> = ids.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    for id in &ids {
        match id.split_once(':') {
            None => {
                return Err(Error::Generic(format!("invalid key ID format: expected 'region:key-uuid', got {id:?}")))
            }
            Some((region, _)) if region.trim().is_empty() => {
                return Err(Error::Generic(format!("region cannot be empty in key ID: {id:?}")))
            }
            Some((_, uuid)) if uuid.trim().is_empty() => {
                return Err(Error::Generic(format!("key UUID cannot be empty in key ID: {id:?}")))
            }
            Some(_) => {}
        }
    }
    match ids.first() {
        Some(id) => Err(Error::Unsupported(format!(
            "could not generate data key: HuaweiCloud KMS key {id}: kvsops cannot call HuaweiCloud KMS, so it cannot wrap a data key for it (use age, PGP or Azure Key Vault keys)"
        ))),
        None => Ok(()),
    }
}

/// The keys given on the command line (or by their environment variables), as one group.
/// `--encryption-context` goes with the `--kms` keys (an invalid one is exit 6, as in sops).
fn flag_keys(keys: &KeyArgs) -> Result<KeySpecGroup> {
    let context = kms_context(keys.encryption_context.as_deref())?;
    refuse_hckms(keys.hckms.as_deref())?;
    let mut g = Vec::new();
    for r in keys.age.as_deref().map(config::split_keys).unwrap_or_default() {
        g.push(KeySpec::Age(r));
    }
    for fp in keys.pgp.as_deref().map(config::split_keys).unwrap_or_default() {
        g.push(KeySpec::Pgp(config::normalize_fingerprint(&fp)));
    }
    for arn in keys.kms.as_deref().map(config::split_keys).unwrap_or_default() {
        g.push(KeySpec::Kms {
            arn,
            role: None,
            context: context.clone(),
            aws_profile: keys.aws_profile.clone().unwrap_or_default(),
        });
    }
    for id in keys.gcp_kms.as_deref().map(config::split_keys).unwrap_or_default() {
        g.push(KeySpec::GcpKms { resource_id: id });
    }
    for url in keys.azure_kv.as_deref().map(config::split_keys).unwrap_or_default() {
        g.push(crate::keys::azure::parse_key_url(&url)?);
    }
    for uri in keys.hc_vault_transit.as_deref().map(config::split_keys).unwrap_or_default() {
        g.push(KeySpec::HcVault { uri });
    }
    Ok(g)
}

fn flag_rule(rules: &RuleArgs) -> Result<Option<CryptRule>> {
    CryptRule::choose(&[
        (RuleKind::UnencryptedSuffix, rules.unencrypted_suffix.as_deref()),
        (RuleKind::EncryptedSuffix, rules.encrypted_suffix.as_deref()),
        (RuleKind::UnencryptedRegex, rules.unencrypted_regex.as_deref()),
        (RuleKind::EncryptedRegex, rules.encrypted_regex.as_deref()),
        (RuleKind::UnencryptedCommentRegex, rules.unencrypted_comment_regex.as_deref()),
        (RuleKind::EncryptedCommentRegex, rules.encrypted_comment_regex.as_deref()),
    ])
}

/// What to encrypt a file with: flag keys replace the rule's keys; flag crypt rules win.
fn encrypt_params(
    cfg: Option<&Config>,
    rule_path: Option<&Path>,
    keys: &KeyArgs,
    rules: &RuleArgs,
) -> Result<EncryptParams> {
    let from_flags = flag_keys(keys)?;
    let creation = match (cfg, rule_path) {
        (Some(c), Some(p)) => c.rule_for(p),
        _ => None,
    };
    let key_groups = if !from_flags.is_empty() {
        vec![from_flags]
    } else {
        match creation {
            Some(r) if !r.key_groups.is_empty() => r.key_groups.clone(),
            Some(_) => return Err(Error::NoKeys),
            None => return Err(Error::Config(match cfg {
                None => {
                    "config file not found, or has no creation rules, and no keys provided through command line options"
                        .into()
                }
                Some(c) => format!(
                    "no matching creation rules found in {} and no keys provided through command line options",
                    c.path.display()
                ),
            })),
        }
    };
    let crypt_rule = match flag_rule(rules)? {
        Some(r) => Some(r),
        None => creation.and_then(|r| r.crypt_rule.clone()),
    };
    Ok(EncryptParams {
        key_groups,
        shamir_threshold: rules.shamir_threshold.or(creation.and_then(|r| r.shamir_threshold)),
        crypt_rule,
        mac_only_encrypted: rules.mac_only_encrypted || creation.is_some_and(|r| r.mac_only_encrypted),
    })
}

/// Where results go.
enum Sink<'a> {
    Stdout,
    InPlace,
    File(&'a Path),
    Dir(&'a Path),
}

fn sink<'a>(io: &'a IoArgs, files: &[PathBuf]) -> Result<Sink<'a>> {
    let chosen = [io.in_place, io.output.is_some(), io.output_dir.is_some()].iter().filter(|b| **b).count();
    if chosen > 1 {
        return Err(Error::Conflict("use only one of --in-place, --output and --output-dir".into()));
    }
    if io.in_place {
        if files.is_empty() {
            return Err(Error::Conflict("--in-place needs a file, not standard input".into()));
        }
        return Ok(Sink::InPlace);
    }
    if let Some(o) = &io.output {
        if files.len() > 1 {
            return Err(Error::Conflict("--output takes one file; use --output-dir or --in-place for several".into()));
        }
        return Ok(Sink::File(o));
    }
    if let Some(d) = &io.output_dir {
        return Ok(Sink::Dir(d));
    }
    if files.len() > 1 {
        return Err(Error::Conflict("several files need --in-place or --output-dir".into()));
    }
    Ok(Sink::Stdout)
}

/// Fails early, before any key is asked for, when the output file may not be written (exit 3).
fn check_sink(sink: &Sink<'_>, input: Option<&Path>) -> Result<()> {
    match (sink, input) {
        (Sink::InPlace, Some(p)) => fsio::check_writable(p),
        (Sink::File(p), _) => fsio::check_writable(p),
        _ => Ok(()),
    }
}

/// Writes to standard output; a closed pipe ends the process by SIGPIPE, as it ends sops.
fn print(data: &[u8]) -> Result<()> {
    crate::console::write_stdout(data).map_err(|e| Error::Write { path: "<stdout>".into(), source: e })
}

/// Writes a command's result. It takes only [`Verified`] bytes: whatever reaches a file or
/// standard output was read back first ([`crate::ops::verify`]).
fn deliver(sink: &Sink<'_>, input: Option<&Path>, data: &Verified, sensitivity: Sensitivity) -> Result<()> {
    match sink {
        Sink::Stdout => print(data),
        Sink::InPlace => match input {
            Some(p) => write_verified(p, data, sensitivity),
            None => Err(Error::Conflict("--in-place needs a file".into())),
        },
        Sink::File(p) => write_verified(p, data, sensitivity),
        Sink::Dir(d) => {
            let name =
                input.and_then(|p| p.file_name()).ok_or_else(|| Error::Conflict("--output-dir needs files".into()))?;
            std::fs::create_dir_all(d).map_err(|e| Error::Write { path: d.to_path_buf(), source: e })?;
            write_verified(&d.join(name), data, sensitivity)
        }
    }
}

/// Writes verified bytes to a file atomically: the one way the command line writes a file
/// it produced.
fn write_verified(path: &Path, data: &Verified, sensitivity: Sensitivity) -> Result<()> {
    fsio::write_file(path, data, sensitivity).map(|_| ())
}

/// Reads the encrypted file of `rotate`, `set`, `unset`, `exec-env`, `exec-file` and `groups`: a
/// missing file is a read error there (exit 2, "Error reading file" in sops), where `encrypt`,
/// `decrypt`, `edit` and the legacy form check for it first (exit 100).
fn read_existing(path: &Path) -> Result<Vec<u8>> {
    fsio::read_file(path).map_err(|e| match e {
        Error::FileNotFound(path) => Error::Io { path, source: std::io::ErrorKind::NotFound.into() },
        e => e,
    })
}

fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    match path {
        Some(p) => fsio::read_file(p),
        None => fsio::read_stdin(),
    }
}

fn encrypt_cmd(
    global: &GlobalArgs,
    keys: &KeyArgs,
    rules: &RuleArgs,
    io: &IoArgs,
    files: &[PathBuf],
) -> std::result::Result<i32, Failure> {
    let cfg = load_config(global).map_err(at(None))?;
    let settings = store_settings(cfg.as_ref(), io);
    let sink = sink(io, files).map_err(at(None))?;
    let keyring = keyring(global, None).map_err(at(None))?;
    let batch = batch::Batch::expand(files, cfg.as_ref(), io.in_place, "encrypt").map_err(at(None))?;
    batch::for_each_file(&batch, io.jobs, |path| {
        let rule_path = io.filename_override.as_deref().or(path);
        let params = encrypt_params(cfg.as_ref(), rule_path, keys, rules)?;
        // sops needs a name for standard input (its creation rule and format come from it); kvsops
        // takes --input-type too, but never guesses: YAML piped in would come out a binary blob.
        if path.is_none() && io.filename_override.is_none() && io.input_type.is_none() {
            return Err(Error::Conflict(
                "must specify --filename-override (or --input-type) when reading from stdin".into(),
            ));
        }
        let (in_fmt, out_fmt) = formats(path, io)?;
        let input = read_input(path)?;
        check_sink(&sink, path)?;
        let out = ops::encrypt::encrypt_verified(
            &input,
            in_fmt.store(&settings).as_ref(),
            out_fmt.store(&settings).as_ref(),
            &params,
            &keyring,
        )?;
        deliver(&sink, path, &out, Sensitivity::Encrypted)
    })
}

fn decrypt_cmd(
    global: &GlobalArgs,
    io: &IoArgs,
    dec: &DecryptArgs,
    files: &[PathBuf],
) -> std::result::Result<i32, Failure> {
    let cfg = load_config(global).map_err(at(None))?;
    let settings = store_settings(cfg.as_ref(), io);
    let sink = sink(io, files).map_err(at(None))?;
    let keyring = keyring(global, Some(dec)).map_err(at(None))?;
    let extract = dec.extract.as_deref().map(ops::treepath::parse).transpose().map_err(at(None))?;
    let opts = DecryptOptions { ignore_mac: dec.ignore_mac };
    let batch = batch::Batch::expand(files, cfg.as_ref(), io.in_place, "decrypt").map_err(at(None))?;
    batch::for_each_file(&batch, io.jobs, |path| {
        let (in_fmt, out_fmt) = formats(path, io)?;
        let input = read_input(path)?;
        check_sink(&sink, path)?;
        let in_store = in_fmt.store(&settings);
        let out_store = out_fmt.store(&settings);
        let out = match &extract {
            Some(steps) => {
                let d = ops::decrypt::decrypt_file(&input, in_store.as_ref(), &keyring, opts)?;
                ops::decrypt::extract(&d.documents, steps, out_store.as_ref())?
            }
            None => ops::decrypt::decrypt_verified(&input, in_store.as_ref(), out_store.as_ref(), &keyring, opts)?,
        };
        deliver(&sink, path, &out, Sensitivity::Plaintext)
    })
}

fn filestatus_cmd(global: &GlobalArgs, input_type: Option<&str>, file: &Path) -> std::result::Result<i32, Failure> {
    let cfg = load_config(global).map_err(at(Some(file)))?;
    let settings = store_settings(cfg.as_ref(), &IoArgs::default());
    let fmt = match input_type {
        Some(t) => parse_format(t).map_err(at(Some(file)))?,
        None => Format::from_path(file),
    };
    // sops fails with its generic exit code (1) on a file it cannot read here.
    let input = fsio::read_file(file)
        .map_err(|e| match e {
            Error::FileNotFound(_) | Error::Io { .. } => Error::Generic(format!("cannot check file status: {e}")),
            e => e,
        })
        .map_err(at(Some(file)))?;
    let store: Box<dyn Store> = fmt.store(&settings);
    let encrypted = match store.load_encrypted(&input) {
        Ok(f) => !f.metadata.version.is_empty() && !f.metadata.mac.is_empty(),
        Err(_) => false,
    };
    crate::outln!("{{\"encrypted\":{encrypted}}}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_the_flag_the_library_does_not() {
        let error = Error::OutputCannotHold {
            key_path: r#"["a"]"#.into(),
            detail: "it is binary data; decrypt to YAML".into(),
        };
        assert_eq!(error.to_string(), r#"the value at ["a"]: it is binary data; decrypt to YAML; nothing was written"#);
        let failure = Failure { file: Some(PathBuf::from("s.yaml")), error };
        assert_eq!(
            failure.to_string(),
            r#"s.yaml: the value at ["a"]: it is binary data; decrypt to YAML, or print it raw with --extract; nothing was written"#
        );
        assert_eq!(failure.code(), 1);
    }
}
