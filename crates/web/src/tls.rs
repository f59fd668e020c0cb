//! The gateway's TLS: a self-signed certificate made on first start, and a
//! rustls server configuration that speaks TLS 1.3 only, with ALPN.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

/// ALPN protocol IDs the gateway accepts, in preference order: the web
/// console and API, and tunnels.
pub const ALPN_ALL: [&[u8]; 3] = [b"h2", b"http/1.1", sekimori_gateway::protocol::ALPN];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{what}: no PEM {expected} found")]
    Pem { what: &'static str, expected: &'static str },
    #[error("TLS configuration rejected: {0}")]
    Config(#[from] rustls::Error),
}

/// A freshly generated certificate and its private key, both PEM.
#[derive(Clone)]
pub struct GeneratedCert {
    pub cert_pem: String,
    /// PKCS#8 private key; written 0600 and never logged.
    pub key_pem: String,
}

impl std::fmt::Debug for GeneratedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCert").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

/// Makes a self-signed ECDSA P-256 certificate for `names` (DNS names or IP
/// addresses) valid for two years. Clients pin it on first use or by its
/// fingerprint (see [`fingerprint`]).
pub fn generate_self_signed(names: &[String]) -> Result<GeneratedCert, TlsError> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "sekimori gateway");
    dn.push(rcgen::DnType::OrganizationName, "sekimori");
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(730);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(GeneratedCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// The SHA-256 fingerprint of a DER certificate, as `SHA256:AB:CD:…`, the
/// form `sekimori login --server-fingerprint` takes (one definition, shared
/// with the client that checks it).
pub use sekimori_gateway::client::fingerprint;

/// Parses the first certificate of a PEM chain.
pub fn first_cert_der(cert_pem: &[u8]) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::pem_slice_iter(cert_pem)
        .next()
        .and_then(Result::ok)
        .ok_or(TlsError::Pem { what: "certificate", expected: "CERTIFICATE" })
}

/// A TLS 1.3-only server configuration (aws-lc-rs, AES-128-GCM preferred:
/// see [`sekimori_gateway::client::tls_provider`]) for the given PEM chain
/// and key, offering `alpn` in order.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert_pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::Pem { what: "certificate", expected: "CERTIFICATE" });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| TlsError::Pem { what: "private key", expected: "PRIVATE KEY" })?;
    let mut cfg =
        ServerConfig::builder_with_provider(Arc::new(sekimori_gateway::client::tls_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cert_loads_and_has_stable_fingerprint() {
        let g = generate_self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cfg = server_config(g.cert_pem.as_bytes(), g.key_pem.as_bytes(), &ALPN_ALL).unwrap();
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"sekimori/1".to_vec()]
        );
        let der = first_cert_der(g.cert_pem.as_bytes()).unwrap();
        let fp = fingerprint(&der);
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 32 * 3 - 1, "{fp}");
        assert_eq!(fp, fingerprint(&der));
        assert!(!format!("{g:?}").contains("PRIVATE"));
    }

    #[test]
    fn garbage_pem_is_a_clear_error() {
        let e = server_config(b"junk", b"junk", &ALPN_ALL).unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
    }
}
