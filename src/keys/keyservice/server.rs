//! The server side: `kvsops keyservice` answers sops's Encrypt and Decrypt calls with kvsops's own
//! key sources (age, PGP, Azure Key Vault), using the credentials of the server's environment.
//!
//! It listens only on the address it is given, until SIGINT or SIGTERM (then a unix socket file
//! is removed and the process exits 0, as sops's does). With `--prompt` every request waits for a
//! y/n answer on standard input, one request at a time; unlike sops, which asks after doing the
//! work, kvsops asks before, so a refused request never touches the key. With `--verbose` each
//! request is logged with its key and outcome, never with the secret it carried.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use super::proto::key_service_server::{KeyService, KeyServiceServer};
use super::proto::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse};
use super::{Endpoint, Refusal};
use crate::error::{Error, Result};
use crate::keys::Keyring;

/// What `kvsops keyservice` was told.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen.
    pub endpoint: Endpoint,
    /// Ask on the terminal before answering each request.
    pub prompt: bool,
    /// Log each request (key and outcome).
    pub verbose: bool,
}

/// Serves until SIGINT or SIGTERM. Fails when the address cannot be listened on.
pub fn run(opts: ServeOptions, keyring: Keyring) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kvsops-keyservice")
        .enable_all()
        .build()
        .map_err(|e| Error::Generic(format!("could not start the key service's runtime: {e}")))?;
    let result = runtime.block_on(serve(opts, keyring));
    // A prompt may still be waiting for a line on standard input: do not wait for it.
    runtime.shutdown_background();
    result
}

/// Removes the unix socket the server created when the server stops, on every path.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn serve(opts: ServeOptions, keyring: Keyring) -> Result<()> {
    let service = KeyServiceServer::new(Service {
        keyring: Arc::new(keyring),
        prompt: opts.prompt,
        verbose: opts.verbose,
        prompt_turn: Arc::new(Mutex::new(())),
    });
    let listen_error = |e: std::io::Error| Error::Generic(format!("could not listen on {}: {e}", opts.endpoint));
    let server = tonic::transport::Server::builder();
    let served = match &opts.endpoint {
        Endpoint::Tcp(address) => {
            let listener = tokio::net::TcpListener::bind(address.as_str()).await.map_err(listen_error)?;
            let bound = listener.local_addr().map_err(listen_error)?;
            crate::errln!("kvsops keyservice: listening on tcp://{bound}");
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            tokio::select! {
                r = server.serve_with_incoming(service, incoming) => r,
                () = stop_signal() => Ok(()),
            }
        }
        Endpoint::Unix(path) => {
            let listener = bind_unix(path).map_err(listen_error)?;
            let _remove = SocketFile(path.clone());
            crate::errln!("kvsops keyservice: listening on {}", opts.endpoint);
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            tokio::select! {
                r = server.serve_with_incoming(service, incoming) => r,
                () = stop_signal() => Ok(()),
            }
        }
    };
    served.map_err(|e| Error::Generic(format!("key service on {}: {e}", opts.endpoint)))
}

fn bind_unix(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    tokio::net::UnixListener::bind(path)
}

/// Resolves on SIGINT or SIGTERM (never, when the handlers cannot be installed).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    let name = tokio::select! {
        _ = int.recv() => "interrupt",
        _ = term.recv() => "terminated",
    };
    crate::errln!("kvsops keyservice: caught signal {name}: shutting down");
}

/// The gRPC service over the local key sources.
struct Service {
    keyring: Arc<Keyring>,
    prompt: bool,
    verbose: bool,
    /// One prompt on the terminal at a time.
    prompt_turn: Arc<Mutex<()>>,
}

impl Service {
    /// With `--prompt`, asks the user (y/n) whether to answer; otherwise says yes.
    async fn confirm(&self, request_type: &'static str, key: &str) -> std::result::Result<(), Status> {
        if !self.prompt {
            return Ok(());
        }
        let turn = self.prompt_turn.clone();
        let question = format!("\nReceived {request_type} request using {key}. Respond to request? (y/n): ");
        let answer = tokio::task::spawn_blocking(move || {
            let _turn = turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            ask(&question)
        })
        .await
        .map_err(|e| Status::internal(format!("the prompt failed: {e}")))?;
        match answer {
            Ok(true) => Ok(()),
            Ok(false) => Err(Status::permission_denied("Request rejected by user")),
            Err(e) => Err(Status::unknown(format!("no answer to the prompt: {e}"))),
        }
    }

    /// Logs a request's outcome with `--verbose` (the key and the error, never the secret).
    fn log<T>(&self, request_type: &str, key: &str, outcome: &std::result::Result<T, Status>) {
        if self.verbose {
            match outcome {
                Ok(_) => crate::errln!("kvsops keyservice: {request_type} request for {key}: done"),
                Err(s) => crate::errln!("kvsops keyservice: {request_type} request for {key}: failed: {}", s.message()),
            }
        }
    }
}

/// Asks until the answer is `y` or `n` (sops's prompt); the end of input is an error.
fn ask(question: &str) -> std::io::Result<bool> {
    loop {
        crate::out!("{question}");
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "standard input is closed"));
        }
        match line.trim() {
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}

fn refused(r: Refusal) -> Status {
    match r {
        Refusal::NoKey => Status::not_found("Must provide a key"),
        Refusal::Unsupported(m) => Status::unknown(m),
    }
}

/// Runs a key operation off the async workers (gpg and age are blocking, Azure blocks on its own
/// runtime).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::result::Result<T, Status> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Status::unknown(e.to_string())),
        Err(e) => Err(Status::internal(format!("the key operation failed: {e}"))),
    }
}

#[tonic::async_trait]
impl KeyService for Service {
    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> std::result::Result<Response<EncryptResponse>, Status> {
        let EncryptRequest { key, plaintext } = request.into_inner();
        let plaintext = Zeroizing::new(plaintext);
        let spec = match super::spec_of_key(key.as_ref()) {
            Ok(s) => s,
            Err(r) => {
                let outcome = Err(refused(r));
                self.log("encrypt", "no usable key", &outcome);
                return outcome;
            }
        };
        let what = spec.describe();
        let outcome = match self.confirm("encrypt", &what).await {
            Ok(()) => {
                let keyring = self.keyring.clone();
                blocking(move || keyring.wrap(&spec, &plaintext)).await
            }
            Err(s) => Err(s),
        };
        self.log("encrypt", &what, &outcome);
        outcome.map(|entry| Response::new(EncryptResponse { ciphertext: entry.enc().as_bytes().to_vec() }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> std::result::Result<Response<DecryptResponse>, Status> {
        let DecryptRequest { key, ciphertext } = request.into_inner();
        let entry = String::from_utf8(ciphertext)
            .map_err(|_| Refusal::Unsupported("the wrapped key is not text".into()))
            .and_then(|enc| super::entry_of_key(key.as_ref(), enc));
        let entry = match entry {
            Ok(e) => e,
            Err(r) => {
                let outcome = Err(refused(r));
                self.log("decrypt", "no usable key", &outcome);
                return outcome;
            }
        };
        let what = entry.spec().describe();
        let outcome = match self.confirm("decrypt", &what).await {
            Ok(()) => {
                let keyring = self.keyring.clone();
                blocking(move || keyring.unwrap(&entry)).await
            }
            Err(s) => Err(s),
        };
        self.log("decrypt", &what, &outcome);
        // The plaintext leaves kvsops's zeroized buffer only for the response message.
        outcome.map(|secret| Response::new(DecryptResponse { plaintext: secret.to_vec() }))
    }
}
