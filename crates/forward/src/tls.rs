//! TLS client settings for syslog over TLS (RFC 5425) and webhooks: rustls
//! with aws-lc-rs, TLS 1.2 or 1.3 (SIEMs vary), and the server certificate
//! always verified — against a CA file, a pinned SHA-256 fingerprint, or
//! both. There is no "skip verification" setting.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs as provider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::ForwardError;

/// Largest CA file read.
const CA_FILE_CAP: u64 = 1024 * 1024;

/// The SHA-256 fingerprint of a DER certificate, `SHA256:AB:CD:…` (the form
/// the rest of sekimori prints and takes).
pub fn fingerprint(cert_der: &[u8]) -> String {
    sekimori_types::format_fingerprint(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der).as_ref(),
    )
}

pub use sekimori_types::normalise_fingerprint;

fn crypto() -> Arc<CryptoProvider> {
    Arc::new(provider::default_provider())
}

/// Reads a file of at most `cap` bytes.
pub(crate) fn read_capped(
    what: &'static str,
    path: &Path,
    cap: u64,
) -> Result<Vec<u8>, ForwardError> {
    let read_err = |source| ForwardError::ReadFile { what, path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut buf = Vec::new();
    file.take(cap + 1).read_to_end(&mut buf).map_err(read_err)?;
    if buf.len() as u64 > cap {
        return Err(ForwardError::FileTooLarge { what, path: path.to_owned(), cap });
    }
    Ok(buf)
}

/// What the client checked in the last handshake: lets a failed handshake
/// be reported as a pin mismatch with the presented fingerprint.
#[derive(Debug, Default)]
pub(crate) struct Presented(Mutex<Option<String>>);

impl Presented {
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
    fn set(&self, fp: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(fp);
    }
}

/// Verifies with the CA roots (chain, name, validity) when there are any,
/// and then the pin when there is one.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<String>,
    presented: Arc<Presented>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint(end_entity);
        self.presented.set(fp.clone());
        if let Some(webpki) = &self.webpki {
            webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        }
        match &self.pin {
            Some(want) if *want != fp => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            // A pin alone trusts exactly that certificate (chain, name and
            // dates are what the pin replaces).
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration trusting `ca_file` and/or the pinned
/// `fingerprint` (at least one must be given; `field` prefixes the names in
/// configuration errors).
pub(crate) fn client_config(
    field: &str,
    ca_file: Option<&Path>,
    fingerprint: Option<&str>,
    alpn: &[&[u8]],
) -> Result<(ClientConfig, Arc<Presented>), ForwardError> {
    let provider = crypto();
    let pin = match fingerprint {
        Some(fp) => Some(normalise_fingerprint(fp).ok_or_else(|| {
            ForwardError::config(format!("{field}.fingerprint"), "bad_fingerprint")
        })?),
        None => None,
    };
    let webpki = match ca_file {
        Some(path) => {
            let pem = read_capped("CA file", path, CA_FILE_CAP)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok) {
                roots.add(cert).map_err(|_| {
                    ForwardError::config(format!("{field}.ca_file"), "no_certificates")
                })?;
            }
            if roots.is_empty() {
                return Err(ForwardError::config(format!("{field}.ca_file"), "no_certificates"));
            }
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|_| ForwardError::config(format!("{field}.ca_file"), "no_certificates"))?;
            Some(v)
        }
        None => None,
    };
    if webpki.is_none() && pin.is_none() {
        return Err(ForwardError::config(
            format!("{field}.ca_file"),
            "tls_needs_ca_file_or_fingerprint",
        ));
    }
    let presented = Arc::new(Presented::default());
    let verifier = Arc::new(Verifier {
        webpki,
        pin,
        presented: presented.clone(),
        provider: provider.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ForwardError::Tls { address: field.to_owned(), message: e.to_string() })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((config, presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalised_as_people_type_them() {
        let fp = fingerprint(b"certificate");
        let bare: String = fp.trim_start_matches("SHA256:").replace(':', "");
        assert_eq!(normalise_fingerprint(&bare.to_lowercase()).as_deref(), Some(fp.as_str()));
        assert_eq!(normalise_fingerprint(&format!(" {fp} ")).as_deref(), Some(fp.as_str()));
        assert_eq!(normalise_fingerprint("SHA256:AB:CD"), None);
    }

    #[test]
    fn tls_without_a_trust_anchor_is_refused() {
        let e = client_config("destinations[0]", None, None, &[]).unwrap_err();
        assert!(
            matches!(e, ForwardError::Config { reason: "tls_needs_ca_file_or_fingerprint", .. }),
            "{e}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = client_config("d", Some(&p), None, &[]).unwrap_err();
        assert!(matches!(e, ForwardError::Config { reason: "no_certificates", .. }), "{e}");
    }
}
