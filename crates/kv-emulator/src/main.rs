//! `kv-emulator`: runs the Azure Key Vault emulator until killed, printing the environment
//! clients need as `export` lines (and writing them to `--env-file`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kv_emulator::{config, server, shell_exports, Config, Fault, Latency, Op};

/// Azure Key Vault emulator on 127.0.0.1 (HTTPS proxy + managed identity endpoint + admin API).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (default: an ephemeral port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Directory for ca.pem and persisted keys (keys.json); default: a temporary directory.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Also write the export lines to this file.
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// Exit when standard input reaches end of file.
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// Extra Entra ID authority host to terminate (for AZURE_AUTHORITY_HOST), repeatable.
    #[arg(long = "authority-host")]
    authority_hosts: Vec<String>,
    /// Tenant named in the Key Vault challenge.
    #[arg(long, default_value = config::DEFAULT_TENANT)]
    tenant: String,
    /// Register an application certificate, as CLIENT_ID=FILE (PEM or DER): certificate
    /// credentials of that client must sign with its key (repeatable).
    #[arg(long = "client-certificate")]
    client_certificates: Vec<String>,
    /// Accept only this client secret (default: any).
    #[arg(long)]
    client_secret: Option<String>,
    /// Register a user for the password grant (AZURE_USERNAME / AZURE_PASSWORD), as
    /// NAME:PASSWORD (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
    /// Directory the Azure Arc endpoint writes its key files to (default
    /// /var/opt/azcmagent/tokens, the only one clients accept on Linux).
    #[arg(long)]
    arc_key_dir: Option<std::path::PathBuf>,
    /// Managed identity secret (IDENTITY_HEADER; default: random).
    #[arg(long)]
    identity_header: Option<String>,
    /// Answer 403 to Key Vault requests made as this identity, repeatable.
    #[arg(long = "deny-identity")]
    deny_identities: Vec<String>,
    /// Answer tunnels to this vault (name or host) with 502, as a proxy whose DNS lookup failed (repeatable).
    #[arg(long = "unresolvable")]
    unresolvable: Vec<String>,
    /// Pre-create a key, as vault/name (repeatable).
    #[arg(long = "key")]
    keys: Vec<String>,
    /// Unknown keys are 404 KeyNotFound instead of being created on first use.
    #[arg(long)]
    no_auto_create: bool,
    /// Delay every response by this many milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Inject faults: STATUS[xCOUNT][@OP], e.g. 429x2@decrypt, 503, 403@get (repeatable).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Retry-After seconds for injected 429/503.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
}

/// Parses `STATUS[xCOUNT][@OP]`.
fn parse_fault(s: &str, retry_after: u64) -> Result<Fault, String> {
    let (rest, op) = match s.split_once('@') {
        Some((r, o)) => (r, Some(Op::parse(o).ok_or_else(|| format!("unknown operation {o:?} in --fault {s}"))?)),
        None => (s, None),
    };
    let (status, count) = match rest.split_once(['x', 'X']) {
        Some((st, c)) => (st, c.parse::<u32>().map_err(|_| format!("bad count in --fault {s}"))?),
        None => (rest, 1),
    };
    let status: u16 = status.parse().map_err(|_| format!("bad status in --fault {s}"))?;
    if !(400..600).contains(&status) {
        return Err(format!("--fault status must be 4xx or 5xx, got {status}"));
    }
    Ok(Fault { status, count, op, retry_after: Some(retry_after) })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kv-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `CLIENT_ID=FILE`: the certificate (the first PEM `CERTIFICATE` block, or DER).
fn read_client_certificate(spec: &str) -> Result<(String, Vec<u8>), String> {
    use base64::Engine as _;
    let (client, path) =
        spec.split_once('=').ok_or_else(|| format!("--client-certificate wants CLIENT_ID=FILE, got {spec:?}"))?;
    let data = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
    let der = match std::str::from_utf8(&data).ok().and_then(|t| t.split_once("-----BEGIN CERTIFICATE-----")) {
        Some((_, rest)) => {
            let body = rest.split("-----END CERTIFICATE-----").next().unwrap_or_default();
            let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| format!("{path}: the CERTIFICATE block is not base64"))?
        }
        None => data,
    };
    Ok((client.to_string(), der))
}

fn run(args: Args) -> Result<(), String> {
    let faults = args.faults.iter().map(|f| parse_fault(f, args.retry_after)).collect::<Result<Vec<_>, _>>()?;
    let config = Config {
        port: args.port,
        state_dir: args.state_dir.clone(),
        tenant: args.tenant.clone(),
        authority_hosts: args.authority_hosts.clone(),
        client_secret: args.client_secret.clone(),
        identity_header: args.identity_header.clone(),
        deny_identities: args.deny_identities.clone(),
        unresolvable: args.unresolvable.clone(),
        latency: args.latency_ms.map(|ms| Latency { ms, op: None }).into_iter().collect(),
        faults,
        keys: args.keys.clone(),
        auto_create: !args.no_auto_create,
        client_certificates: args
            .client_certificates
            .iter()
            .map(|spec| read_client_certificate(spec))
            .collect::<Result<Vec<_>, _>>()?,
        users: args
            .users
            .iter()
            .map(|spec| {
                spec.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
                    .ok_or_else(|| "--user wants NAME:PASSWORD".to_string())
            })
            .collect::<Result<Vec<_>, _>>()?,
        arc_key_dir: args.arc_key_dir.clone(),
    };
    let prepared = server::prepare(&config).map_err(|e| e.to_string())?;
    let exports = shell_exports(&prepared.shared.env);
    if let Some(path) = &args.env_file {
        std::fs::write(path, exports.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    {
        let mut out = std::io::stdout().lock();
        out.write_all(exports.as_bytes()).and_then(|_| out.flush()).map_err(|e| format!("writing to stdout: {e}"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the Tokio runtime: {e}"))?;
    let exit_on_eof = args.exit_on_stdin_eof;
    let result = runtime.block_on(server::serve(prepared.listener, prepared.shared, async move {
        stop_signal(exit_on_eof).await;
    }));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    drop(prepared.temp_dir);
    result.map_err(|e| e.to_string())
}

/// Completes on SIGINT, SIGTERM, or (when asked) end of standard input.
async fn stop_signal(exit_on_eof: bool) {
    let stdin_eof = async {
        if exit_on_eof {
            use tokio::io::AsyncReadExt as _;
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 256];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        } else {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = stdin_eof => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_flags_parse() {
        assert_eq!(
            parse_fault("429x2@decrypt", 3),
            Ok(Fault { status: 429, count: 2, op: Some(Op::Decrypt), retry_after: Some(3) })
        );
        assert_eq!(parse_fault("503", 1).map(|f| (f.count, f.op)), Ok((1, None)));
        assert!(parse_fault("200", 1).is_err());
        assert!(parse_fault("403@nope", 1).is_err());
    }
}
