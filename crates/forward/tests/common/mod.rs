//! Test receivers on 127.0.0.1 (syslog over TCP and TLS with strict
//! octet-counting, an HTTPS webhook), a strict RFC 5424 parser, alerts and
//! a test PKI.
#![allow(dead_code, reason = "each test binary uses part of the helpers")]

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sekimori_forward::{DestinationConfig, DestinationKind, Transport};
use sekimori_types::{
    Alert, AlertId, AlertKind, AlertSeverity, AlertState, Evidence, EvidenceAsset, EvidenceFlow,
};
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// A fixed alert: exfiltration from 10.1.2.3 to 203.0.113.9.
pub fn alert(n: u64) -> Alert {
    let t = datetime!(2026-11-05 01:02:03.456789 UTC);
    let mut evidence = Evidence {
        assets: vec![
            EvidenceAsset {
                ip: "10.1.2.3".parse().unwrap(),
                name: Some("ct-scanner-1".into()),
                zone: Some("imaging".into()),
            },
            EvidenceAsset {
                ip: "203.0.113.9".parse().unwrap(),
                name: None,
                zone: Some("internet".into()),
            },
        ],
        flows: vec![],
        bytes: Some(1_200_000_000),
        details: Default::default(),
    };
    evidence.push_flow(EvidenceFlow {
        src: "10.1.2.3".parse().unwrap(),
        dst: "203.0.113.9".parse().unwrap(),
        sport: 51123,
        dport: 443,
        transport: "tcp".into(),
        app: Some("tls".into()),
        bytes_out: 1_200_000_000,
        bytes_in: 40_000,
        first: t,
        last: t + time::Duration::minutes(5),
    });
    evidence.detail("threshold_bytes", 500_000_000).detail("window_seconds", 3600);
    Alert {
        id: "01930f4e-7a00-7000-8000-000000000001".parse::<AlertId>().unwrap(),
        kind: AlertKind::Exfiltration,
        severity: AlertSeverity::High,
        state: AlertState::Open,
        dedup_key: "exfiltration|10.1.2.3|internet".into(),
        summary: format!("alert {n}: 10.1.2.3 sent 1.2 GB to 203.0.113.9"),
        summary_ja: format!("アラート {n}：10.1.2.3 が 203.0.113.9 へ 1.2 GB を送信"),
        evidence,
        first: t,
        last: t + time::Duration::minutes(5),
        count: n,
        created_at: t,
        updated_at: t,
        handled_by: None,
        comment: None,
    }
}

pub const AT: OffsetDateTime = datetime!(2026-11-05 01:10:00.250 UTC);

/// A parsed RFC 5424 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    pub pri: u8,
    pub timestamp: String,
    pub hostname: String,
    pub app: String,
    pub procid: String,
    pub msgid: String,
    pub sd: Vec<(String, Vec<(String, String)>)>,
    pub bom: bool,
    pub msg: String,
}

impl Syslog {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.sd.iter().flat_map(|(_, ps)| ps).find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn header_field<'a>(s: &mut &'a str, max: usize, what: &str) -> Result<&'a str, String> {
    let (field, rest) = s.split_once(' ').ok_or(format!("no SP after {what}"))?;
    if field.is_empty() || field.len() > max || !field.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(format!("bad {what}: {field:?}"));
    }
    *s = rest;
    Ok(field)
}

/// Parses one message strictly by RFC 5424's ABNF (and our rules: no
/// control characters anywhere).
pub fn parse_5424(s: &str) -> Result<Syslog, String> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!("control character {c:?} in message"));
    }
    let rest = s.strip_prefix('<').ok_or("no <")?;
    let (pri, rest) = rest.split_once('>').ok_or("no >")?;
    if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad PRI {pri:?}"));
    }
    let pri: u8 = pri.parse().map_err(|_| "PRI")?;
    if pri > 191 {
        return Err("PRI > 191".into());
    }
    let mut rest = rest.strip_prefix("1 ").ok_or("VERSION is not 1")?;
    let timestamp = header_field(&mut rest, 32, "TIMESTAMP")?.to_owned();
    if timestamp != "-" {
        OffsetDateTime::parse(&timestamp, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("TIMESTAMP {timestamp}: {e}"))?;
        if let Some((_, frac)) = timestamp.split_once('.') {
            let digits = frac.trim_end_matches('Z').len();
            if digits > 6 {
                return Err("TIME-SECFRAC longer than 6".into());
            }
        }
    }
    let hostname = header_field(&mut rest, 255, "HOSTNAME")?.to_owned();
    let app = header_field(&mut rest, 48, "APP-NAME")?.to_owned();
    let procid = header_field(&mut rest, 128, "PROCID")?.to_owned();
    let msgid = header_field(&mut rest, 32, "MSGID")?.to_owned();
    let mut sd = Vec::new();
    let mut chars = rest.char_indices().peekable();
    let after_sd = if rest.starts_with('-') {
        1
    } else {
        loop {
            match chars.next() {
                Some((_, '[')) => {}
                _ => return Err("SD-ELEMENT does not start with [".into()),
            }
            let mut id = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c == ' ' || c == ']' {
                    break;
                }
                if c == '=' || c == '"' || !c.is_ascii_graphic() {
                    return Err(format!("bad SD-ID char {c:?}"));
                }
                id.push(c);
                chars.next();
            }
            if id.is_empty() || id.len() > 32 {
                return Err(format!("bad SD-ID {id:?}"));
            }
            let mut params = Vec::new();
            loop {
                match chars.next() {
                    Some((_, ']')) => break,
                    Some((_, ' ')) => {}
                    other => return Err(format!("expected SP or ] in SD, got {other:?}")),
                }
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some((_, '=')) => break,
                        Some((_, c)) if c.is_ascii_graphic() && c != ']' && c != '"' => {
                            name.push(c)
                        }
                        other => return Err(format!("bad PARAM-NAME char {other:?}")),
                    }
                }
                if name.is_empty() || name.len() > 32 {
                    return Err(format!("bad PARAM-NAME {name:?}"));
                }
                if !matches!(chars.next(), Some((_, '"'))) {
                    return Err("PARAM-VALUE not quoted".into());
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c @ ('"' | '\\' | ']'))) => value.push(c),
                            other => return Err(format!("bad escape {other:?}")),
                        },
                        Some((_, ']')) => return Err("unescaped ] in PARAM-VALUE".into()),
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated PARAM-VALUE".into()),
                    }
                }
                params.push((name, value));
            }
            sd.push((id, params));
            if !matches!(chars.peek(), Some((_, '['))) {
                break;
            }
        }
        chars.peek().map_or(rest.len(), |(i, _)| *i)
    };
    let tail = &rest[after_sd..];
    let (bom, msg) = match tail {
        "" => (false, String::new()),
        t => {
            let m = t.strip_prefix(' ').ok_or("no SP before MSG")?;
            match m.strip_prefix('\u{FEFF}') {
                Some(m) => (true, m.to_owned()),
                None => {
                    if !m.is_ascii() {
                        return Err("non-ASCII MSG without BOM".into());
                    }
                    (false, m.to_owned())
                }
            }
        }
    };
    Ok(Syslog { pri, timestamp, hostname, app, procid, msgid, sd, bom, msg })
}

/// Reads RFC 6587 octet-counting frames strictly: `LEN SP MSG`, LEN
/// without leading zero, MSG exactly LEN bytes of UTF-8.
pub async fn read_frames<S: AsyncRead + Unpin>(
    mut s: S,
    tx: mpsc::UnboundedSender<Result<String, String>>,
) {
    loop {
        let mut len = 0usize;
        let mut digits = 0;
        loop {
            let mut b = [0u8; 1];
            match s.read(&mut b).await {
                Ok(0) | Err(_) => {
                    if digits > 0 {
                        let _ = tx.send(Err("connection ended inside a frame header".into()));
                    }
                    return;
                }
                Ok(_) => {}
            }
            match b[0] {
                b' ' if digits > 0 => break,
                d @ b'0'..=b'9' if digits < 6 && !(digits == 0 && d == b'0') => {
                    len = len * 10 + usize::from(d - b'0');
                    digits += 1;
                }
                other => {
                    let _ = tx.send(Err(format!("bad frame byte {other:#x}")));
                    return;
                }
            }
        }
        let mut msg = vec![0u8; len];
        if s.read_exact(&mut msg).await.is_err() {
            let _ = tx.send(Err("connection ended inside a frame".into()));
            return;
        }
        let _ = tx.send(String::from_utf8(msg).map_err(|_| "frame is not UTF-8".to_owned()));
    }
}

/// A syslog receiver (TCP, or TLS when given a server config) on
/// 127.0.0.1.
pub struct Receiver {
    pub port: u16,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start(
        port: u16,
        tls: Option<Arc<ServerConfig>>,
        tx: mpsc::UnboundedSender<Result<String, String>>,
    ) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else { continue };
                let tx = tx.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    match tls {
                        None => read_frames(sock, tx).await,
                        Some(cfg) => {
                            if let Ok(s) = TlsAcceptor::from(cfg).accept(sock).await {
                                read_frames(s, tx).await;
                            }
                        }
                    }
                });
            }
        });
        Receiver { port, task }
    }

    /// Closes the listener and every connection.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// An HTTPS webhook receiver on 127.0.0.1: sends (authorization, body) for
/// each POST; answers `fail_first` requests with 500, then 200.
pub struct Webhook {
    pub port: u16,
    task: JoinHandle<()>,
}

impl Webhook {
    pub async fn start(
        port: u16,
        tls: Arc<ServerConfig>,
        fail_first: usize,
        tx: mpsc::UnboundedSender<(Option<String>, Vec<u8>)>,
    ) -> Webhook {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind webhook");
        let port = listener.local_addr().unwrap().port();
        let failures = Arc::new(std::sync::atomic::AtomicUsize::new(fail_first));
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else { continue };
                let tx = tx.clone();
                let tls = tls.clone();
                let failures = failures.clone();
                conns.spawn(async move {
                    let Ok(s) = TlsAcceptor::from(tls).accept(sock).await else { return };
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        let failures = failures.clone();
                        async move {
                            let auth = req
                                .headers()
                                .get(hyper::header::AUTHORIZATION)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            let body = req.into_body().collect().await?.to_bytes().to_vec();
                            let fail = failures
                                .fetch_update(
                                    std::sync::atomic::Ordering::SeqCst,
                                    std::sync::atomic::Ordering::SeqCst,
                                    |n| n.checked_sub(1),
                                )
                                .is_ok();
                            let status = if fail { 500 } else { 200 };
                            if !fail {
                                let _ = tx.send((auth, body));
                            }
                            let mut resp = Response::new(Full::new(Bytes::from_static(b"{}")));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, hyper::Error>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        Webhook { port, task }
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1.
pub struct Pki {
    pub ca_pem: String,
    pub leaf_der: CertificateDer<'static>,
    pub server: Arc<ServerConfig>,
}

pub fn pki() -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "sekimori test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let leaf_der = leaf.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let server = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf_der.clone()], key)
    .unwrap();
    Pki { ca_pem: ca.pem(), leaf_der, server: Arc::new(server) }
}

/// A syslog destination on 127.0.0.1 with short timeouts and backoffs.
pub fn syslog_dest(
    name: &str,
    kind: DestinationKind,
    transport: Transport,
    port: u16,
) -> DestinationConfig {
    let mut d = DestinationConfig::new(name, kind);
    d.transport = Some(transport);
    d.address = Some(format!("127.0.0.1:{port}"));
    quick(&mut d);
    d
}

pub fn quick(d: &mut DestinationConfig) {
    d.connect_timeout_ms = 1_000;
    d.write_timeout_ms = 1_000;
    d.backoff_initial_ms = 10;
    d.backoff_max_ms = 100;
}

/// A port nothing listens on (bound, then released).
pub async fn free_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    l.local_addr().unwrap().port()
}

/// Receives `n` items or fails after `secs`.
pub async fn recv_n<T>(rx: &mut mpsc::UnboundedReceiver<T>, n: usize, secs: u64) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while out.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(x)) => out.push(x),
            Ok(None) => break,
            Err(_) => panic!("received {} of {n} within {secs} s", out.len()),
        }
    }
    out
}

/// Nothing more arrives within `ms`.
pub async fn assert_quiet<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>, ms: u64) {
    if let Ok(Some(x)) = tokio::time::timeout(Duration::from_millis(ms), rx.recv()).await {
        panic!("unexpected extra item: {x:?}");
    }
}

/// Polls `cond` (every 5 ms, at most `secs`): for states the forwarder
/// reaches right after a receiver has seen the data (the cursor moves once
/// the transport has taken the records).
pub async fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached in {secs} s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
