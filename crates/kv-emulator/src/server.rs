//! The listener: one 127.0.0.1 port that is both an HTTP CONNECT proxy (tunnelling only to
//! itself, terminating TLS with the test CA's leaf certificate) and a plain HTTP server for the
//! managed identity endpoint and the admin API.
//!
//! Clients need no code hook: `HTTPS_PROXY` sends their Key Vault and Entra ID traffic here,
//! `SSL_CERT_FILE` makes them trust the tunnel's certificate. Nothing is ever dialled out.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use rand::RngCore as _;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::{self, Config};
use crate::error::Error;
use crate::respond::{text, Outcome, Resp};
use crate::state::{self, LogEntry, Settings, State};
use crate::{admin, identity, keyvault};

/// Largest request body read (Key Vault operation bodies are a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// What every connection task needs.
pub struct Shared {
    /// Keys, tokens, faults and the log.
    pub state: Arc<State>,
    /// TLS acceptor with the leaf certificate.
    pub tls: TlsAcceptor,
    /// Entra ID authority hosts served (lower case).
    pub authority_hosts: Vec<String>,
    /// The environment clients need (also printed at start-up).
    pub env: Vec<(String, String)>,
}

/// A bound, ready-to-serve emulator (before any async runtime is involved).
pub struct Prepared {
    /// The listening socket (non-blocking).
    pub listener: std::net::TcpListener,
    /// The port it listens on.
    pub port: u16,
    /// Shared state for the connection tasks.
    pub shared: Arc<Shared>,
    /// Path of the CA certificate clients trust via `SSL_CERT_FILE`.
    pub ca_path: PathBuf,
    /// The temporary state directory, when none was configured (deleted on drop).
    pub temp_dir: Option<tempfile::TempDir>,
}

/// Binds 127.0.0.1, generates the PKI, writes `ca.pem`, and sets up state from `config`.
pub fn prepare(config: &Config) -> Result<Prepared, Error> {
    let (dir, temp_dir, persist) = match &config.state_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
            (d.clone(), None, true)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("kv-emulator-")
                .tempdir()
                .map_err(|e| Error::io("creating a temporary state directory", e))?;
            (t.path().to_path_buf(), Some(t), false)
        }
    };
    let mut authority_hosts = vec![config::DEFAULT_AUTHORITY_HOST.to_string()];
    for h in &config.authority_hosts {
        let h = config::authority_host(h);
        if h.is_empty() || h.ends_with(".vault.azure.net") {
            return Err(Error::Config(format!("invalid authority host {h:?}")));
        }
        if !authority_hosts.contains(&h) {
            authority_hosts.push(h);
        }
    }
    let pki = crate::tls::generate(&authority_hosts)?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, pki.ca_pem.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", ca_path.display()), e))?;

    let identity_header = config.identity_header.clone().unwrap_or_else(|| {
        let mut b = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    });
    let state = State::new(Settings {
        tenant: config.tenant.clone(),
        identity_header: identity_header.clone(),
        client_secret: config.client_secret.clone(),
        auto_create: config.auto_create,
        persist_dir: persist.then(|| dir.clone()),
        arc_key_dir: config.arc_key_dir.clone().unwrap_or_else(|| config::ARC_KEY_DIR.into()),
    })?;
    for (user, password) in &config.users {
        state.register_user(user, password);
    }
    for spec in &config.keys {
        let (vault, name) = config::split_key_spec(spec)
            .ok_or_else(|| Error::Config(format!("--key wants vault/name, got {spec:?}")))?;
        if state.lookup(&vault, &name, None).is_err() {
            state.add_first_version(&vault, &name, state::generate_rsa()?)?;
        }
    }
    for (client, der) in &config.client_certificates {
        state.register_client_certificate(client, der.clone());
    }
    for id in &config.deny_identities {
        state.deny_identity(id);
    }
    for vault in &config.unresolvable {
        state.make_unresolvable(vault);
    }
    for l in &config.latency {
        state.set_latency(l.clone());
    }
    for f in &config.faults {
        state.add_fault(f.clone());
    }

    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)))
        .map_err(|e| Error::io(format!("binding 127.0.0.1:{}", config.port), e))?;
    listener.set_nonblocking(true).map_err(|e| Error::io("configuring the listener", e))?;
    let port = listener.local_addr().map_err(|e| Error::io("reading the listener address", e))?.port();
    let base = format!("http://127.0.0.1:{port}");
    let env = vec![
        ("HTTPS_PROXY".to_string(), base.clone()),
        ("SSL_CERT_FILE".to_string(), ca_path.display().to_string()),
        ("IDENTITY_ENDPOINT".to_string(), format!("{base}/msi/token")),
        ("IDENTITY_HEADER".to_string(), identity_header),
        ("KVSOPS_EMULATOR_ADMIN".to_string(), base),
        ("KVSOPS_EMULATOR_TENANT".to_string(), config.tenant.clone()),
    ];
    Ok(Prepared {
        listener,
        port,
        shared: Arc::new(Shared {
            state: Arc::new(state),
            tls: TlsAcceptor::from(pki.server_config),
            authority_hosts,
            env,
        }),
        ca_path,
        temp_dir,
    })
}

/// Accepts connections until `shutdown` completes. Must run inside a Tokio runtime.
pub async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let listener = TcpListener::from_std(listener).map_err(|e| Error::io("registering the listener", e))?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if !peer.ip().is_loopback() {
                        continue;
                    }
                    let shared = shared.clone();
                    tokio::spawn(plain_connection(shared, stream));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

async fn plain_connection(shared: Arc<Shared>, stream: tokio::net::TcpStream) {
    let conn = shared.state.next_connection_id();
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(plain_request(shared, conn, req).await) }
    });
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).with_upgrades().await;
}

fn entry(method: &str, host: &str, path: &str, status: u16, connection: u64, tls: bool) -> LogEntry {
    LogEntry {
        seq: 0,
        method: method.to_string(),
        host: host.to_string(),
        path: path.to_string(),
        status,
        op: None,
        identity: None,
        credential: None,
        connection,
        tls,
        injected: false,
        note: None,
    }
}

async fn read_body(body: Incoming) -> Option<Bytes> {
    Limited::new(body, MAX_BODY).collect().await.ok().map(|c| c.to_bytes())
}

/// Sleeps the configured latency, then logs the outcome and returns its response.
async fn finish(shared: &Shared, mut e: LogEntry, o: Outcome) -> Resp {
    let delay = shared.state.latency_for(o.op);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    e.status = o.response.status().as_u16();
    e.op = o.op;
    e.identity = o.identity;
    e.credential = o.credential;
    e.injected = o.injected;
    if o.note.is_some() {
        e.note = o.note;
    }
    shared.state.record(e);
    o.response
}

async fn plain_request(shared: Arc<Shared>, conn: u64, req: Request<Incoming>) -> Resp {
    if req.method() == Method::CONNECT {
        return connect(shared, conn, req);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if req.uri().scheme().is_some() {
        let host = req.uri().host().unwrap_or("").to_string();
        shared.state.record(entry(method.as_str(), &host, &path, 403, conn, false));
        return closing(text(
            403,
            "kv-emulator is not a forwarding proxy; it only accepts CONNECT to Azure hosts it emulates\n",
        ));
    }
    let (parts, body) = req.into_parts();
    let Some(body) = read_body(body).await else {
        return text(413, "request body too large or unreadable\n");
    };
    let e = entry(method.as_str(), "127.0.0.1", &path, 0, conn, false);
    if path == "/msi/token" {
        let o = identity::managed_identity(&shared.state, &method, &query, &parts.headers);
        return finish(&shared, e, o).await;
    }
    if path == "/cloudshell/token" {
        let o = identity::cloud_shell(&shared.state, &method, &parts.headers, &body);
        return finish(&shared, e, o).await;
    }
    if path == "/servicefabric/token" {
        let o = identity::service_fabric(&shared.state, &method, &query, &parts.headers);
        return finish(&shared, e, o).await;
    }
    if path == "/arc/token" {
        let o = identity::azure_arc(&shared.state, &method, &query, &parts.headers);
        return finish(&shared, e, o).await;
    }
    if path == "/azureml/token" {
        let o = identity::azure_ml(&shared.state, &method, &query, &parts.headers);
        return finish(&shared, e, o).await;
    }
    if path == "/_admin" || path.starts_with("/_admin/") {
        return admin::handle(&shared, &method, &path, &body).await;
    }
    finish(&shared, e, Outcome::plain(text(404, "not found\n"))).await
}

/// Marks a refusal as the last response on its connection, as proxies do.
fn closing(mut r: Resp) -> Resp {
    r.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    r
}

/// Whether a CONNECT target is one of the hosts this emulator terminates.
fn allowed_target(shared: &Shared, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    port == 443 && (is_vault_host(&host) || shared.authority_hosts.contains(&host))
}

fn is_vault_host(host: &str) -> bool {
    host.strip_suffix(".vault.azure.net").is_some_and(|name| !name.is_empty() && !name.contains('.'))
}

fn connect(shared: Arc<Shared>, conn: u64, req: Request<Incoming>) -> Resp {
    let (host, port) = match req.uri().authority() {
        Some(a) => (a.host().to_ascii_lowercase(), a.port_u16().unwrap_or(443)),
        None => (String::new(), 0),
    };
    if !allowed_target(&shared, &host, port) {
        let mut e = entry("CONNECT", &host, "", 403, conn, false);
        e.note = Some(format!("refused tunnel to {host}:{port}"));
        shared.state.record(e);
        return closing(text(403, "kv-emulator only tunnels to *.vault.azure.net:443 and its Entra ID hosts\n"));
    }
    if shared.state.is_unresolvable(&host) {
        // What a forwarding proxy answers when its DNS lookup of the target fails.
        let mut e = entry("CONNECT", &host, "", 502, conn, false);
        e.note = Some(format!("simulated DNS failure for {host}"));
        shared.state.record(e);
        return closing(text(502, &format!("kv-emulator: DNS lookup of {host} failed (no such host; simulated)\n")));
    }
    let tls_conn = shared.state.next_connection_id();
    shared.state.record(entry("CONNECT", &host, "", 200, tls_conn, false));
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            tls_connection(shared, tls_conn, host, TokioIo::new(upgraded)).await;
        }
    });
    Response::new(Full::new(Bytes::new()))
}

async fn tls_connection(shared: Arc<Shared>, conn: u64, host: String, io: TokioIo<hyper::upgrade::Upgraded>) {
    let stream = match shared.tls.accept(io).await {
        Ok(s) => s,
        Err(err) => {
            let mut e = entry("TLS", &host, "", 0, conn, true);
            e.note = Some(format!("TLS handshake failed: {err}"));
            shared.state.record(e);
            return;
        }
    };
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        let host = host.clone();
        async move { Ok::<_, Infallible>(tls_request(shared, conn, host, req).await) }
    });
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
}

async fn tls_request(shared: Arc<Shared>, conn: u64, host: String, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let (parts, body) = req.into_parts();
    let Some(body) = read_body(body).await else {
        return text(413, "request body too large or unreadable\n");
    };
    let e = entry(method.as_str(), &host, &path, 0, conn, true);
    let o = if is_vault_host(&host) {
        keyvault::handle(&shared.state, &host, &method, &path, &parts.headers, &body).await
    } else {
        identity::entra(&shared.state, &shared.authority_hosts, &host, &method, &path, &query, &body)
    };
    finish(&shared, e, o).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_vault_hosts_with_one_label_are_vaults() {
        assert!(is_vault_host("test-vault.vault.azure.net"));
        assert!(!is_vault_host("vault.azure.net"));
        assert!(!is_vault_host("a.b.vault.azure.net"));
        assert!(!is_vault_host("evil.example"));
    }
}
