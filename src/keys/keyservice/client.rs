//! The client side: a [`KeySource`] that asks a key service (`--keyservice URI`) to wrap and unwrap.
//!
//! The connection is made on first use, as sops's is, so a service that is down costs nothing
//! until a key is sent to it, and then fails that key with the reason (the keyring goes on with
//! the next service). The synchronous [`KeySource`] calls block on a small runtime of their own.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint as ChannelEndpoint};
use zeroize::Zeroizing;

use super::proto::key_service_client::KeyServiceClient;
use super::proto::{DecryptRequest, EncryptRequest};
use super::Endpoint;
use crate::error::{Error, Result};
use crate::keys::{KeyKind, KeySource, KeySpec, MasterKeyEntry};

/// How long connecting to a key service may take before the key fails (an address that never
/// answers would otherwise hang the command). Calls themselves have no limit: a `--prompt` server
/// waits for its user.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A remote key service; it handles every kind of key (the server decides what it can do).
pub struct RemoteSource {
    endpoint: Endpoint,
    client: KeyServiceClient<Channel>,
    runtime: tokio::runtime::Runtime,
}

impl RemoteSource {
    /// A client of the service at `endpoint`; nothing is sent until a key is used.
    pub fn new(endpoint: Endpoint) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kvsops-keyservice")
            .enable_all()
            .build()
            .map_err(|e| Error::Generic(format!("key service {endpoint}: could not start its runtime: {e}")))?;
        let channel = {
            let _in_runtime = runtime.enter();
            match &endpoint {
                Endpoint::Tcp(address) => ChannelEndpoint::from_shared(format!("http://{address}"))
                    .map_err(|e| Error::Config(format!("key service {endpoint}: invalid address: {e}")))?
                    .connect_timeout(CONNECT_TIMEOUT)
                    .connect_lazy(),
                Endpoint::Unix(path) => {
                    let path = path.clone();
                    // The URI is only the HTTP/2 authority; the connector dials the socket.
                    ChannelEndpoint::from_static("http://localhost")
                        .connect_timeout(CONNECT_TIMEOUT)
                        .connect_with_connector_lazy(tower::service_fn(move |_: tonic::transport::Uri| {
                            let path = path.clone();
                            async move { tokio::net::UnixStream::connect(path).await.map(TokioIo::new) }
                        }))
                }
            }
        };
        Ok(RemoteSource { endpoint, client: KeyServiceClient::new(channel), runtime })
    }

    /// Runs one call on this source's runtime (from a thread of its own when the caller is
    /// already inside a runtime, where blocking on another is not allowed).
    fn block_on<T: Send, Fut: Future<Output = T>>(&self, make: impl FnOnce() -> Fut + Send) -> T {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(|| self.runtime.block_on(make())).join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            self.runtime.block_on(make())
        }
    }

    /// A failed call as a key error that names the service and gRPC's reason.
    fn failure(&self, spec: Option<&KeySpec>, status: &tonic::Status) -> Error {
        let key = spec.map(|s| format!("{}: ", s.describe())).unwrap_or_default();
        Error::KeyService(format!("key service {}: {key}{}", self.endpoint, describe_status(status)))
    }
}

/// gRPC's message and code, with the transport's cause when the call never reached the server.
fn describe_status(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut cause = std::error::Error::source(status);
    while let Some(e) = cause {
        let s = e.to_string();
        if s != "transport error" && !text.contains(&s) {
            text = if text.is_empty() { s } else { format!("{text}: {s}") };
        }
        cause = e.source();
    }
    match status.code() {
        tonic::Code::Unavailable => format!("cannot reach it: {text}"),
        code => format!("{text} (gRPC code {code:?})"),
    }
}

impl KeySource for RemoteSource {
    fn handles(&self, _kind: KeyKind) -> bool {
        true
    }

    fn wrap(&self, spec: &KeySpec, secret: &[u8]) -> Result<MasterKeyEntry> {
        let key = super::key_of_spec(spec).map_err(Error::KeyService)?;
        let request = EncryptRequest { key: Some(key), plaintext: secret.to_vec() };
        let mut client = self.client.clone();
        let response = self.block_on(|| async move { client.encrypt(request).await });
        let ciphertext = response.map_err(|s| self.failure(Some(spec), &s))?.into_inner().ciphertext;
        let enc = String::from_utf8(ciphertext).map_err(|_| {
            Error::KeyService(format!(
                "key service {}: {}: the wrapped key it returned is not text",
                self.endpoint,
                spec.describe()
            ))
        })?;
        super::entry_of(spec, enc).map_err(Error::KeyService)
    }

    fn unwrap(&self, entry: &MasterKeyEntry) -> Result<Zeroizing<Vec<u8>>> {
        let key = super::key_of_entry(entry).map_err(Error::KeyService)?;
        let request = DecryptRequest { key: Some(key), ciphertext: entry.enc().as_bytes().to_vec() };
        let mut client = self.client.clone();
        let response = self.block_on(|| async move { client.decrypt(request).await });
        Ok(Zeroizing::new(response.map_err(|s| self.failure(None, &s))?.into_inner().plaintext))
    }
}
