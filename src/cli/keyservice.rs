//! `--keyservice` clients and the `kvsops keyservice` server on the command line.

use crate::error::{Error, Result};
use crate::keys::keyservice::client::RemoteSource;
use crate::keys::keyservice::server::{self, ServeOptions};
use crate::keys::keyservice::Endpoint;
use crate::keys::{KeySource, Keyring};

use super::{at, Failure};

/// A client for each `--keyservice` URI, in order. A URI that cannot be read is skipped with a
/// warning, as sops skips it (its keys then go to the other services).
pub(super) fn remote_sources(uris: &[String]) -> Result<Vec<Box<dyn KeySource>>> {
    let mut out: Vec<Box<dyn KeySource>> = Vec::new();
    for uri in uris.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        match Endpoint::parse_uri(uri) {
            Ok(endpoint) => {
                if crate::console::verbose() {
                    crate::errln!("kvsops: using key service {endpoint}");
                }
                out.push(Box::new(RemoteSource::new(endpoint)?));
            }
            Err(why) => crate::errln!("kvsops: warning: ignoring --keyservice {uri:?}: {why}"),
        }
    }
    Ok(out)
}

/// `kvsops keyservice`: serves until SIGINT or SIGTERM.
pub(super) fn serve(network: &str, address: &str, prompt: bool, verbose: bool) -> std::result::Result<i32, Failure> {
    crate::console::set_verbose(verbose);
    let endpoint = Endpoint::listen(network, address).map_err(|m| at(None)(Error::Generic(m)))?;
    server::run(ServeOptions { endpoint, prompt, verbose }, Keyring::from_env()).map_err(at(None))?;
    Ok(0)
}
