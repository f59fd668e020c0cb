//! The vendor's side: TLS to the gateway with the certificate pinned, the
//! client key that proves possession of a tunnel credential, and the tunnel
//! that carries local TCP connections as multiplexed streams (see the
//! [`mux`](crate::mux) module).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::aws_lc_rs as provider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use sekimori_types::{AccessRequestId, Lang, TunnelCredentialId};

use crate::protocol::{
    self, ALPN, EXPORTER_LABEL, EXPORTER_LEN, FRAME_HEADER, Hello, Refusal, Reply,
};
use crate::record::{self, Content, Opener, Side, TrafficSecrets};
use crate::tunnel::{self, Msg};

/// The SHA-256 fingerprint of a DER certificate, `SHA256:AB:CD:…` (the form
/// the server prints at start and `--server-fingerprint` takes).
pub fn fingerprint(cert_der: &[u8]) -> String {
    sekimori_types::format_fingerprint(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der).as_ref(),
    )
}

pub use sekimori_types::normalise_fingerprint;

/// The TLS provider of both ends (the gateway's listener uses it too): aws-lc-rs
/// with the TLS 1.3 suites only, AES-128-GCM first, then AES-256-GCM, then
/// ChaCha20-Poly1305. aws-lc-rs's default order puts AES-256-GCM first: 14
/// AES rounds per block where AES-128 runs 10, on every byte a tunnel
/// carries. The server follows the client's order, so a browser still gets
/// the suite it prefers.
pub fn tls_provider() -> rustls::crypto::CryptoProvider {
    use provider::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            TLS13_AES_128_GCM_SHA256,
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256,
        ],
        ..provider::default_provider()
    }
}

/// What to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Exactly the certificate with this fingerprint.
    Fingerprint(String),
    /// Whatever the server presents (trust on first use): the caller reads
    /// [`Connected::fingerprint`] and pins it.
    FirstUse,
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {server}: {source}")]
    Connect { server: String, source: std::io::Error },
    #[error("the server's certificate does not match the pinned fingerprint")]
    PinMismatch { expected: String, presented: String },
    #[error("TLS with {server} failed: {message}")]
    Tls { server: String, message: String },
    #[error("the server does not speak the tunnel protocol (ALPN sekimori/1)")]
    NoTunnelProtocol,
    #[error("tunnel protocol: {0}")]
    Protocol(String),
    #[error("{0}")]
    Refused(Refusal),
    #[error("tunnel: {0}")]
    Tunnel(String),
}

/// Accepts exactly one certificate (or any, recording it, for first use),
/// and still checks that the server holds its key.
#[derive(Debug)]
struct PinVerifier {
    pin: Pin,
    presented: Mutex<Option<String>>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint(end_entity);
        *self.presented.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(fp.clone());
        match &self.pin {
            Pin::FirstUse => Ok(ServerCertVerified::assertion()),
            Pin::Fingerprint(want) if *want == fp => Ok(ServerCertVerified::assertion()),
            Pin::Fingerprint(_) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.2 is never offered.
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered))
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
            &provider::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// An established TLS connection to the gateway.
#[derive(Debug)]
pub struct Connected {
    pub tls: TlsStream<BufReader<TcpStream>>,
    /// The fingerprint of the certificate the server presented.
    pub fingerprint: String,
}

/// Connects to `server` (`host:port`) with TLS 1.3, offering `alpn`, and
/// trusting only what `pin` says.
pub async fn connect_tls(
    server: &str,
    pin: &Pin,
    alpn: &[&[u8]],
) -> Result<Connected, ClientError> {
    connect_tls_keyed(server, pin, alpn, None).await
}

/// [`connect_tls`]; with `secrets`, the connection's traffic secrets are
/// kept there, for the tunnel's record layer to take over.
async fn connect_tls_keyed(
    server: &str,
    pin: &Pin,
    alpn: &[&[u8]],
    secrets: Option<Arc<TrafficSecrets>>,
) -> Result<Connected, ClientError> {
    let verifier = Arc::new(PinVerifier { pin: pin.clone(), presented: Mutex::new(None) });
    let mut config = ClientConfig::builder_with_provider(Arc::new(tls_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Tls { server: server.into(), message: e.to_string() })?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    if let Some(secrets) = secrets {
        config.key_log = secrets;
        config.enable_secret_extraction = true;
    }
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ClientError::Tls { server: server.into(), message: e.to_string() })?;
    let tcp = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(server))
        .await
        .map_err(|_| ClientError::Connect {
            server: server.into(),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
        })?
        .map_err(|source| ClientError::Connect { server: server.into(), source })?;
    let _ = tcp.set_nodelay(true);
    let result = tokio::time::timeout(
        Duration::from_secs(15),
        // rustls reads at most 4 KiB per call: buffer the socket so bulk
        // transfers take one system call per 256 KiB.
        TlsConnector::from(Arc::new(config))
            .connect(name, BufReader::with_capacity(tunnel::READ_BUFFER, tcp)),
    )
    .await;
    let presented =
        verifier.presented.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    match result {
        Ok(Ok(tls)) => Ok(Connected { tls, fingerprint: presented.unwrap_or_default() }),
        Ok(Err(e)) => match (pin, presented) {
            (Pin::Fingerprint(expected), Some(p)) if *expected != p => {
                Err(ClientError::PinMismatch { expected: expected.clone(), presented: p })
            }
            _ => Err(ClientError::Tls { server: server.into(), message: e.to_string() }),
        },
        Err(_) => {
            Err(ClientError::Tls { server: server.into(), message: "handshake timed out".into() })
        }
    }
}

/// Reads the gateway's answer to the hello: one frame, alone in its
/// records (session tickets may come first). Its body, and the bytes read
/// after its last record.
async fn read_reply(
    sock: &mut TcpStream,
    opener: &mut Opener,
    mut buf: Vec<u8>,
) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
    let fail = |what: String| ClientError::Protocol(format!("hello: {what}"));
    let mut plain = Vec::new();
    loop {
        let mut pos = 0;
        while let Some((used, content)) = opener
            .open(buf.get_mut(pos..).unwrap_or_default(), pos)
            .map_err(|e| fail(e.to_string()))?
        {
            match content {
                Content::Data(r) => {
                    plain.extend_from_slice(buf.get(pos + r.start..pos + r.end).unwrap_or_default())
                }
                Content::Nothing => {}
                Content::Closed => return Err(fail("the gateway closed the connection".into())),
            }
            pos += used;
            if let Some(header) = plain.get(..FRAME_HEADER) {
                let header: [u8; FRAME_HEADER] =
                    header.try_into().map_err(|_| fail("a short frame header".into()))?;
                let len = protocol::decode_header(&header)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                if plain.len() > FRAME_HEADER + len {
                    return Err(fail("data after the answer, in its record".into()));
                }
                if plain.len() == FRAME_HEADER + len {
                    buf.drain(..pos);
                    return Ok((plain.split_off(FRAME_HEADER), buf));
                }
            }
        }
        buf.drain(..pos);
        if buf.len() > 1024 * 1024 {
            return Err(fail("the answer is too long".into()));
        }
        let n = sock.read_buf(&mut buf).await.map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            return Err(fail("the gateway closed the connection".into()));
        }
    }
}

/// The vendor's Ed25519 key, generated on their machine; only its public
/// half ever leaves it.
pub struct ClientKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey").field("public_key", &hex::encode(self.public_key())).finish()
    }
}

impl ClientKey {
    pub fn generate() -> Result<Self, ClientError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| ClientError::Protocol("key generation failed".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, ClientError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| {
            ClientError::Protocol("the client key file is not an Ed25519 PKCS#8 key".into())
        })?;
        Ok(Self { pair, pkcs8: der.to_vec() })
    }

    /// The PKCS#8 document to store (0600).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }
}

/// What a grant check returned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct GrantInfo {
    pub request: AccessRequestId,
    pub asset: String,
    pub ports: Vec<u16>,
    pub window_end: Option<String>,
}

/// An open tunnel: one authenticated TLS connection carrying connections.
/// Clones share the tunnel; its task ends when the gateway closes it, or
/// when every clone is gone and no connection is left.
#[derive(Debug, Clone)]
pub struct Tunnel {
    tx: mpsc::UnboundedSender<Msg>,
    pub username: String,
    pub credential_expires_at: String,
}

impl Tunnel {
    /// Opens a tunnel: TLS (ALPN `sekimori/1`), the signed hello, then the
    /// tunnel's task (on the current runtime).
    pub async fn open(
        server: &str,
        pin: &Pin,
        credential: TunnelCredentialId,
        key: &ClientKey,
        lang: Lang,
    ) -> Result<Tunnel, ClientError> {
        let secrets = TrafficSecrets::new();
        let Connected { mut tls, .. } =
            connect_tls_keyed(server, pin, &[ALPN], Some(secrets.clone())).await?;
        if tls.get_ref().1.alpn_protocol() != Some(ALPN) {
            return Err(ClientError::NoTunnelProtocol);
        }
        let mut exported = [0u8; EXPORTER_LEN];
        tls.get_ref()
            .1
            .export_keying_material(&mut exported, EXPORTER_LABEL, Some(credential.0.as_bytes()))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let signature = key.sign(&protocol::signed_message(credential, &exported));
        let hello =
            Hello { credential, signature: hex::encode(signature), lang: Some(lang.to_string()) };
        let io = |e: std::io::Error| ClientError::Protocol(format!("hello: {e}"));
        let tls_err = |e: String| ClientError::Protocol(format!("TLS: {e}"));
        // The record layer takes over right after the handshake (nothing
        // but the gateway's session tickets can have come since).
        tls.flush().await.map_err(io)?;
        let (buffered, conn) = tls.into_inner();
        let leftover = buffered.buffer().to_vec();
        let mut sock = buffered.into_inner();
        let extracted = conn.dangerous_extract_secrets().map_err(|e| tls_err(e.to_string()))?;
        let (mut sealer, mut opener) = record::take_over(extracted, &secrets, Side::Client)
            .map_err(|e| tls_err(e.to_string()))?;
        let mut out = Vec::new();
        sealer
            .seal_copy(&mut out, &protocol::encode_frame(&hello))
            .map_err(|e| tls_err(e.to_string()))?;
        sock.write_all(&out).await.map_err(io)?;
        let (body, rest) = tokio::time::timeout(
            Duration::from_secs(15),
            read_reply(&mut sock, &mut opener, leftover),
        )
        .await
        .map_err(|_| ClientError::Protocol("no answer to the hello".into()))??;
        let reply: Reply =
            protocol::decode_body(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let (username, credential_expires_at) = match reply {
            Reply::Accepted { username, credential_expires_at } => {
                (username, credential_expires_at)
            }
            Reply::Refused(r) => return Err(ClientError::Refused(r)),
        };
        let (driver, tx) = tunnel::new_driver(sock, rest, (sealer, opener), usize::MAX, None, lang);
        tokio::spawn(driver.run());
        Ok(Tunnel { tx, username, credential_expires_at })
    }

    /// Whether the tunnel can still carry connections.
    pub async fn ready(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Asks whether `request` is usable now, without connecting anything.
    pub async fn grant(&self, request: AccessRequestId) -> Result<GrantInfo, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Msg::Grant { request, reply }).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Carries one local connection to the grant's device:port until either
    /// side closes it. Refusals come back as [`ClientError::Refused`].
    ///
    /// The vendor's first bytes travel with the request instead of one round
    /// trip later: the gateway holds them (within the stream's flow-control
    /// window) until it has authorised the connection, and drops them if it
    /// refuses. Nothing reaches the device earlier. `counters` receive the
    /// bytes carried each way when the connection ends.
    pub async fn carry(
        &self,
        request: AccessRequestId,
        port: u16,
        local: TcpStream,
        counters: &Counters,
    ) -> Result<CarryEnd, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Msg::Carry { request, port, local, reply }).map_err(|_| closed())?;
        let (end, up, down) = answer.await.map_err(|_| closed())??;
        counters.up.fetch_add(up, std::sync::atomic::Ordering::Relaxed);
        counters.down.fetch_add(down, std::sync::atomic::Ordering::Relaxed);
        Ok(end)
    }
}

fn closed() -> ClientError {
    ClientError::Tunnel("the tunnel is closed".into())
}

/// How a carried connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarryEnd {
    /// Both sides closed normally.
    Closed,
    /// The gateway cut it (revoked, expired, killed, locked).
    CutByGateway,
    /// The local socket failed.
    LocalError(String),
}

/// Byte counters of one carried connection.
#[derive(Debug, Default)]
pub struct Counters {
    pub up: std::sync::atomic::AtomicU64,
    pub down: std::sync::atomic::AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalised_as_people_type_them() {
        let fp = fingerprint(b"certificate");
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 32 * 3 - 1, "{fp}");
        let bare: String = fp[7..].chars().filter(|c| *c != ':').collect();
        assert_eq!(normalise_fingerprint(&bare.to_lowercase()).as_deref(), Some(fp.as_str()));
        assert_eq!(normalise_fingerprint(&format!(" {fp} ")).as_deref(), Some(fp.as_str()));
        assert_eq!(normalise_fingerprint("SHA256:AB:CD"), None);
        assert_eq!(normalise_fingerprint("not hex at all"), None);
    }
}
