//! The service-principal certificate of `EnvironmentCredential` (`AZURE_CLIENT_CERTIFICATE_PATH`),
//! without OpenSSL: the certificate and its RSA key are read from PEM or PKCS#12 in pure Rust, and
//! each token request carries a client assertion signed with the key, as azidentity (MSAL for Go)
//! builds it: a JWT signed PS256 whose header names the certificate by its SHA-256 thumbprint
//! (`x5t#S256`) and, with `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`, carries the chain (`x5c`, for
//! subject-name/issuer authentication); claims `aud` (the token endpoint), `iss` = `sub` (the
//! client id), `jti`, `nbf` and `exp` (ten minutes).
//!
//! The HTTP side (token endpoint, retries, cache) is `azure_identity`'s `ClientAssertionCredential`.

use std::fmt;

use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest as _, Sha256};

/// The variable naming the certificate file; errors name it.
pub const PATH_VAR: &str = "AZURE_CLIENT_CERTIFICATE_PATH";

/// How long a client assertion is valid (MSAL for Go uses ten minutes).
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// A certificate with its private key, ready to sign client assertions.
pub struct ClientCertificate {
    key: RsaPrivateKey,
    /// DER certificates, the one matching the key first (the order of `x5c`).
    chain: Vec<Vec<u8>>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("ClientCertificate")
            .field("thumbprint_sha256", &self.thumbprint_sha256())
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads `path`: PEM (certificates plus a `PRIVATE KEY` or `RSA PRIVATE KEY` block) or
    /// PKCS#12 (`.pfx`/`.p12`, opened with `password`, empty when unset). Errors say what is wrong
    /// with the file, never its content.
    pub fn load(path: &str, password: Option<&str>) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| format!("cannot read {PATH_VAR} {path:?}: {e}"))?;
        let (key, certs) = if looks_like_pem(&data) {
            parse_pem(&data).map_err(|e| format!("{PATH_VAR} {path:?}: {e}"))?
        } else {
            parse_pkcs12(&data, password.unwrap_or(""))
                .map_err(|e| format!("{PATH_VAR} {path:?} is neither PEM nor a PKCS#12 file kvsops can open: {e}"))?
        };
        Self::from_parts(key, certs).map_err(|e| format!("{PATH_VAR} {path:?}: {e}"))
    }

    /// Puts the certificate whose public key matches `key` first.
    fn from_parts(key: RsaPrivateKey, certs: Vec<Vec<u8>>) -> Result<Self, String> {
        if certs.is_empty() {
            return Err("no certificate found".into());
        }
        let public = key.to_public_key();
        let leaf = certs
            .iter()
            .position(|der| certificate_public_key(der).is_ok_and(|k| k == public))
            .ok_or("no certificate matches the private key")?;
        let mut chain = certs;
        let first = chain.remove(leaf);
        chain.insert(0, first);
        Ok(ClientCertificate { key, chain })
    }

    /// Base64 (standard alphabet, as MSAL writes it) of the SHA-256 of the leaf certificate.
    pub fn thumbprint_sha256(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&self.chain[0]))
    }

    /// A signed client assertion for `client_id` at `token_endpoint`.
    pub fn assertion(&self, client_id: &str, token_endpoint: &str, send_chain: bool) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header = serde_json::json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint_sha256() });
        if send_chain {
            let x5c: Vec<String> =
                self.chain.iter().map(|c| base64::engine::general_purpose::STANDARD.encode(c)).collect();
            header["x5c"] = serde_json::json!(x5c);
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = serde_json::json!({
            "aud": token_endpoint,
            "exp": now + ASSERTION_LIFETIME_SECS,
            "iss": client_id,
            "jti": uuid_v4(),
            "nbf": now,
            "sub": client_id,
        });
        let signing_input = format!("{}.{}", b64.encode(header.to_string()), b64.encode(claims.to_string()));
        let signer = rsa::pss::BlindedSigningKey::<Sha256>::new(self.key.clone());
        let signature = signer
            .try_sign_with_rng(&mut rand::rngs::OsRng, signing_input.as_bytes())
            .map_err(|e| format!("could not sign the client assertion: {e}"))?;
        Ok(format!("{signing_input}.{}", b64.encode(signature.to_bytes())))
    }
}

/// The assertion source handed to `azure_identity`'s `ClientAssertionCredential`.
#[derive(Debug)]
pub struct CertificateAssertion {
    pub certificate: ClientCertificate,
    pub client_id: String,
    /// Must equal the endpoint the credential posts to: it is the assertion's audience.
    pub token_endpoint: String,
    pub send_chain: bool,
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.certificate
            .assertion(&self.client_id, &self.token_endpoint, self.send_chain)
            .map_err(|e| azure_core::Error::with_message(ErrorKind::Credential, e))
    }
}

/// The token endpoint `azure_identity` uses for `tenant`: `AZURE_AUTHORITY_HOST` (default
/// `https://login.microsoftonline.com`) + `/<tenant>/oauth2/v2.0/token`.
pub fn token_endpoint(authority_host: Option<&str>, tenant: &str) -> String {
    let host = authority_host.map(str::trim).filter(|h| !h.is_empty()).unwrap_or("https://login.microsoftonline.com");
    format!("{}/{tenant}/oauth2/v2.0/token", host.trim_end_matches('/'))
}

/// A random (version 4) UUID for `jti`.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn looks_like_pem(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"-----BEGIN ").is_some()
}

/// The RSA public key of a DER certificate.
pub fn certificate_public_key(der: &[u8]) -> Result<RsaPublicKey, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("invalid certificate: {e}"))?;
    RsaPublicKey::from_public_key_der(cert.public_key().raw)
        .map_err(|_| "the certificate's key is not an RSA key (Entra ID certificates are RSA)".to_string())
}

/// PEM blocks: certificates, and one RSA key (PKCS#8 or PKCS#1). Encrypted PEM keys are refused
/// with a hint (azidentity does not read them either; PKCS#12 carries a password).
fn parse_pem(data: &[u8]) -> Result<(RsaPrivateKey, Vec<Vec<u8>>), String> {
    let text = std::str::from_utf8(data).map_err(|_| "the PEM file is not text".to_string())?;
    let mut certs = Vec::new();
    let mut key = None;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("a PEM header is not closed")?;
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_start.find(&end_marker).ok_or_else(|| format!("the PEM block {label} has no end line"))?;
        let body = &body_start[..body_end];
        rest = &body_start[body_end + end_marker.len()..];
        if body.contains(':') {
            return Err(format!("the PEM block {label} is encrypted; give an unencrypted key or a PKCS#12 file with AZURE_CLIENT_CERTIFICATE_PASSWORD"));
        }
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| format!("the PEM block {label} is not valid base64"))?;
        match label {
            "CERTIFICATE" => certs.push(der),
            "PRIVATE KEY" => {
                key = Some(RsaPrivateKey::from_pkcs8_der(&der).map_err(|_| "the PRIVATE KEY is not an RSA key".to_string())?)
            }
            "RSA PRIVATE KEY" => {
                key = Some(RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| "the RSA PRIVATE KEY is invalid".to_string())?)
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err("the private key is encrypted; give an unencrypted key or a PKCS#12 file with AZURE_CLIENT_CERTIFICATE_PASSWORD".into())
            }
            _ => {}
        }
    }
    let key = key.ok_or("no private key found (the PEM file needs the certificate and its unencrypted key)")?;
    Ok((key, certs))
}

fn parse_pkcs12(data: &[u8], password: &str) -> Result<(RsaPrivateKey, Vec<Vec<u8>>), String> {
    let store = p12_keystore::KeyStore::from_pkcs12(data, password).map_err(|e| {
        let e = e.to_string();
        if e.to_ascii_lowercase().contains("mac") {
            "wrong password (AZURE_CLIENT_CERTIFICATE_PASSWORD) or corrupt file".to_string()
        } else {
            e
        }
    })?;
    let (_, chain) = store.private_key_chain().ok_or("the PKCS#12 file has no private key")?;
    let key =
        RsaPrivateKey::from_pkcs8_der(chain.key()).map_err(|_| "the PKCS#12 key is not an RSA key".to_string())?;
    let certs = chain.chain().iter().map(|c| c.as_der().to_vec()).collect();
    Ok((key, certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_follows_the_authority_host() {
        assert_eq!(token_endpoint(None, "t"), "https://login.microsoftonline.com/t/oauth2/v2.0/token");
        assert_eq!(
            token_endpoint(Some("https://login.microsoftonline.us/"), "t"),
            "https://login.microsoftonline.us/t/oauth2/v2.0/token"
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(uuid_v4(), u);
    }

    #[test]
    fn assertions_name_the_certificate_are_signed_and_can_carry_the_chain() {
        use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
        use rsa::signature::Verifier as _;
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let key_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["t".to_string()]).unwrap().self_signed(&kp).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(vec!["ca".to_string()]).unwrap().self_signed(&other).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.pem");
        // The CA first: the leaf is found by its key, and goes first in x5c.
        std::fs::write(&p, format!("{}{}{key_pem}", ca.pem(), cert.pem())).unwrap();
        let c = ClientCertificate::load(p.to_str().unwrap(), None).unwrap();
        let jwt = c.assertion("app", "https://login.example/t/oauth2/v2.0/token", true).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        let std64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["x5t#S256"], std64.encode(Sha256::digest(cert.der())));
        assert_eq!(header["x5c"][0], std64.encode(cert.der()));
        assert_eq!(header["x5c"][1], std64.encode(ca.der()));
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("app"), Some("app")));
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(), ASSERTION_LIFETIME_SECS);
        let sig = rsa::pss::Signature::try_from(b64.decode(parts[2]).unwrap().as_slice()).unwrap();
        let verifier = rsa::pss::VerifyingKey::<Sha256>::new(key.to_public_key());
        verifier.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
        // Without SEND_CERTIFICATE_CHAIN: no x5c.
        let jwt = c.assertion("app", "aud", false).unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
        assert!(header.get("x5c").is_none());
        assert!(!format!("{c:?}").contains("PRIVATE"), "the key is never printed");
    }

    #[test]
    fn bad_files_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.pem");
        std::fs::write(&p, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let e = ClientCertificate::load(p.to_str().unwrap(), None).unwrap_err();
        assert!(e.contains(PATH_VAR) && e.contains("no private key"), "{e}");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = ClientCertificate::load(p.to_str().unwrap(), None).unwrap_err();
        assert!(e.contains(PATH_VAR) && e.contains("PKCS#12"), "{e}");
        let e = ClientCertificate::load(dir.path().join("missing").to_str().unwrap(), None).unwrap_err();
        assert!(e.contains(PATH_VAR) && e.contains("cannot read"), "{e}");
    }
}
