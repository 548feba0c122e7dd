//! The throwaway certificate authority and the leaf certificate the CONNECT tunnels terminate with.
//!
//! Clients reach `*.vault.azure.net` and `login.microsoftonline.com` through the emulator's
//! CONNECT proxy and verify the server certificate as usual; they trust it only because
//! `SSL_CERT_FILE` points at the CA written here. A new CA is generated on every start, so
//! nothing signed by it outlives the process that trusts it.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

/// The generated CA (PEM, for clients) and the server-side TLS configuration.
pub struct TestPki {
    /// The CA certificate in PEM, to be written where `SSL_CERT_FILE` points.
    pub ca_pem: String,
    /// rustls server configuration presenting the leaf certificate (HTTP/1.1 only).
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Generates a CA and a leaf certificate valid for `*.vault.azure.net` and every name in
/// `hosts` (the Entra ID authority hosts).
pub fn generate(hosts: &[String]) -> Result<TestPki, Error> {
    let cert_err = |e: rcgen::Error| Error::Certificate(e.to_string());

    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kv-emulator test CA (not for production)");
    dn.push(DnType::OrganizationName, "kvsops");
    ca_params.distinguished_name = dn;
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec!["*.vault.azure.net".to_string()];
    for h in hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    let leaf_key = KeyPair::generate().map_err(cert_err)?;
    let mut leaf_params = CertificateParams::new(names).map_err(cert_err)?;
    let mut leaf_dn = DistinguishedName::new();
    leaf_dn.push(DnType::CommonName, "kv-emulator");
    leaf_params.distinguished_name = leaf_dn;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).map_err(cert_err)?;

    let chain = vec![CertificateDer::from(leaf_cert.der().to_vec()), CertificateDer::from(ca_cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    // Key Vault speaks HTTP/2 too, but both SDKs fall back to HTTP/1.1 cleanly, and the
    // request log's connection ids stay meaningful with one request at a time per connection.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok(TestPki { ca_pem, server_config: Arc::new(config) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_pem_is_a_certificate_and_config_speaks_http11() {
        let pki = generate(&["login.microsoftonline.com".to_string()]).unwrap();
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(pki.server_config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
