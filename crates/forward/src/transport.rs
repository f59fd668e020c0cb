//! Getting records to a destination: syslog over UDP, TCP (octet
//! counting) or TLS, and HTTPS POSTs for webhooks. Every step has a
//! timeout; nothing here retries (the delivery loop does).

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use rustls_pki_types::ServerName;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{DestinationConfig, Transport, split_address};
use crate::error::ForwardError;
use crate::format::{VERSION, octet_counted};
use crate::queue::Record;
use crate::tls::{Presented, client_config, normalise_fingerprint, read_capped};

/// Largest token file read.
const TOKEN_FILE_CAP: u64 = 4096;

/// An open connection to a syslog destination.
#[derive(Debug)]
pub(crate) enum Link {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Link {
    /// True when the destination has closed the connection (or broken it).
    /// A syslog receiver never sends, so a readable end of stream is the
    /// only news there can be; data it sends anyway is discarded. Checked
    /// before each write, so records are not written into a connection
    /// the peer has already closed (where the kernel would accept them and
    /// they would be lost).
    pub(crate) fn peer_closed(&mut self) -> bool {
        match self {
            Link::Udp(_) => false,
            Link::Tcp(s) => stream_closed(s),
            Link::Tls(s) => stream_closed(s.as_mut()),
        }
    }
}

fn stream_closed<S: AsyncRead + Unpin>(s: &mut S) -> bool {
    let mut buf = [0u8; 1024];
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut *s).poll_read(&mut cx, &mut rb) {
            Poll::Pending => return false,
            Poll::Ready(Ok(())) if rb.filled().is_empty() => return true,
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return true,
        }
    }
    false
}

struct TlsSettings {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    presented: Arc<Presented>,
    pin: Option<String>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("server_name", &self.server_name)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// A syslog or CEF destination.
#[derive(Debug)]
pub(crate) struct SyslogTarget {
    pub(crate) address: String,
    transport: Transport,
    connect_timeout: Duration,
    write_timeout: Duration,
    tls: Option<TlsSettings>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl SyslogTarget {
    pub(crate) fn new(field: &str, c: &DestinationConfig) -> Result<Self, ForwardError> {
        let address = c.address.clone().unwrap_or_default();
        let transport = c.transport.unwrap_or(Transport::Tcp);
        let tls = if transport == Transport::Tls {
            let (config, presented) =
                client_config(field, c.ca_file.as_deref(), c.fingerprint.as_deref(), &[])?;
            let host = match &c.server_name {
                Some(n) => n.clone(),
                None => split_address(&address).map(|(h, _)| h.to_owned()).unwrap_or_default(),
            };
            let server_name = ServerName::try_from(host).map_err(|_| {
                ForwardError::config(format!("{field}.server_name"), "bad_server_name")
            })?;
            Some(TlsSettings {
                connector: TlsConnector::from(Arc::new(config)),
                server_name,
                presented,
                pin: c.fingerprint.as_deref().and_then(normalise_fingerprint),
            })
        } else {
            None
        };
        Ok(SyslogTarget {
            address,
            transport,
            connect_timeout: Duration::from_millis(c.connect_timeout_ms),
            write_timeout: Duration::from_millis(c.write_timeout_ms),
            tls,
        })
    }

    pub(crate) fn transport(&self) -> Transport {
        self.transport
    }

    /// Resolves and connects (and shakes hands), all within the connect
    /// timeout.
    pub(crate) async fn connect(&self) -> Result<Link, ForwardError> {
        match tokio::time::timeout(self.connect_timeout, self.connect_inner()).await {
            Ok(r) => r,
            Err(_) => Err(ForwardError::Timeout {
                address: self.address.clone(),
                op: "connect",
                after_ms: ms(self.connect_timeout),
            }),
        }
    }

    async fn connect_inner(&self) -> Result<Link, ForwardError> {
        let addrs: Vec<_> = tokio::net::lookup_host(&self.address)
            .await
            .map_err(|source| ForwardError::Resolve { address: self.address.clone(), source })?
            .collect();
        let connect_err = |source| ForwardError::Connect { address: self.address.clone(), source };
        if self.transport == Transport::Udp {
            let Some(addr) = addrs.first() else {
                return Err(connect_err(std::io::Error::other("no address")));
            };
            let local = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let socket = UdpSocket::bind(local).await.map_err(connect_err)?;
            socket.connect(addr).await.map_err(connect_err)?;
            return Ok(Link::Udp(socket));
        }
        let mut last = std::io::Error::other("no address");
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or_else(|| connect_err(last))?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Link::Tcp(tcp));
        };
        let _ = tls.presented.take();
        match tls.connector.connect(tls.server_name.clone(), tcp).await {
            Ok(s) => Ok(Link::Tls(Box::new(s))),
            Err(e) => {
                let presented = tls.presented.take();
                match (&tls.pin, presented) {
                    (Some(expected), Some(presented)) if *expected != presented => {
                        Err(ForwardError::PinMismatch {
                            address: self.address.clone(),
                            expected: expected.clone(),
                            presented,
                        })
                    }
                    _ => Err(ForwardError::Tls {
                        address: self.address.clone(),
                        message: e.to_string(),
                    }),
                }
            }
        }
    }

    /// Sends `records` (UDP: one datagram each; TCP/TLS: octet-counted
    /// frames written and flushed) within the write timeout.
    pub(crate) async fn send(
        &self,
        link: &mut Link,
        records: &[Record],
    ) -> Result<(), ForwardError> {
        let send_err = |source| ForwardError::Send { address: self.address.clone(), source };
        let work = async {
            match link {
                Link::Udp(socket) => {
                    for r in records {
                        let n = socket.send(&r.payload).await.map_err(send_err)?;
                        if n != r.payload.len() {
                            return Err(send_err(std::io::Error::other("datagram cut short")));
                        }
                    }
                    Ok(())
                }
                Link::Tcp(s) => {
                    let buf = frames(records);
                    s.write_all(&buf).await.map_err(send_err)?;
                    s.flush().await.map_err(send_err)
                }
                Link::Tls(s) => {
                    let buf = frames(records);
                    s.write_all(&buf).await.map_err(send_err)?;
                    s.flush().await.map_err(send_err)
                }
            }
        };
        match tokio::time::timeout(self.write_timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(ForwardError::Timeout {
                address: self.address.clone(),
                op: "write",
                after_ms: ms(self.write_timeout),
            }),
        }
    }

    /// Ends a connection politely (TLS close_notify, TCP FIN), briefly.
    pub(crate) async fn close(&self, link: Link) {
        let wait = self.write_timeout.min(Duration::from_secs(1));
        match link {
            Link::Udp(_) => {}
            Link::Tcp(mut s) => {
                let _ = tokio::time::timeout(wait, s.shutdown()).await;
            }
            Link::Tls(mut s) => {
                let _ = tokio::time::timeout(wait, s.shutdown()).await;
            }
        }
    }
}

fn frames(records: &[Record]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(records.iter().map(|r| r.payload.len() + 8).sum());
    for r in records {
        octet_counted(&r.payload, &mut buf);
    }
    buf
}

/// A webhook destination.
pub(crate) struct WebhookTarget {
    client: reqwest::Client,
    url: reqwest::Url,
    /// Scheme, host and port: what errors and logs name.
    pub(crate) origin: String,
    token: Option<SecretString>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("origin", &self.origin)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Reads a bearer token file: at most 4 KiB, surrounding white space
/// dropped, visible ASCII only (what an HTTP header carries).
pub(crate) fn read_token(field: &str, path: &Path) -> Result<SecretString, ForwardError> {
    let bytes = read_capped("token file", path, TOKEN_FILE_CAP)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ForwardError::config(format!("{field}.token_file"), "bad_token"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ForwardError::config(format!("{field}.token_file"), "empty_token"));
    }
    if !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ForwardError::config(format!("{field}.token_file"), "bad_token"));
    }
    Ok(SecretString::from(token.to_owned()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}

impl WebhookTarget {
    pub(crate) fn new(field: &str, c: &DestinationConfig) -> Result<Self, ForwardError> {
        let url = reqwest::Url::parse(c.url.as_deref().unwrap_or_default())
            .map_err(|_| ForwardError::config(format!("{field}.url"), "bad_url"))?;
        let origin = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let token = match &c.token_file {
            Some(p) => Some(read_token(field, p)?),
            None => None,
        };
        let connect = Duration::from_millis(c.connect_timeout_ms);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(connect + Duration::from_millis(c.write_timeout_ms))
            // A redirect could carry the token elsewhere: a 3xx is a failure.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(format!("sekimori/{VERSION}"));
        if c.ca_file.is_some() || c.fingerprint.is_some() {
            let (config, _) = client_config(
                field,
                c.ca_file.as_deref(),
                c.fingerprint.as_deref(),
                &[b"h2", b"http/1.1"],
            )?;
            builder = builder.tls_backend_preconfigured(config);
        }
        let client = builder
            .build()
            .map_err(|e| ForwardError::Http { origin: origin.clone(), message: error_chain(&e) })?;
        Ok(WebhookTarget { client, url, origin, token })
    }

    /// POSTs one JSON body; delivered only on a 2xx answer.
    pub(crate) async fn post(&self, body: Vec<u8>) -> Result<(), ForwardError> {
        let mut req = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| ForwardError::Http {
                    origin: self.origin.clone(),
                    message: "the token cannot be sent in a header".into(),
                })?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        let resp = req.send().await.map_err(|e| ForwardError::Http {
            origin: self.origin.clone(),
            message: error_chain(&e.without_url()),
        })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(ForwardError::HttpStatus { origin: self.origin.clone(), status: status.as_u16() })
        }
    }
}
