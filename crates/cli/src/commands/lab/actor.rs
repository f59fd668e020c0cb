//! The parts `sekimori lab incident` plays inside its namespaces: hosts'
//! services and the attacker's, vendor's and VPN box's traffic. Each is
//! this binary run with `ip netns exec NS sekimori lab actor …`.
//!
//! One-shot parts print one JSON line with what happened. Long-running
//! parts (services, the HL7 feed, the capture) print `{"ready":true}` once
//! they listen and stop when their standard input closes, so they never
//! outlive the lab that started them.

#![allow(
    clippy::disallowed_methods,
    reason = "the lab plays real traffic between real processes on the wall clock"
)]

use std::io::{BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use sekimori_lab::msgs;
use sekimori_lab::rng::Rng;

use crate::args::{ActorCmd, ActorServeArgs, ActorSprayArgs};

pub fn actor(cmd: &ActorCmd, lang: sekimori_types::Lang) -> ExitCode {
    let result = match cmd {
        ActorCmd::Serve(a) => serve(a),
        ActorCmd::Hl7 { to, every_ms } => hl7_feed(*to, Duration::from_millis(*every_ms)),
        ActorCmd::Fanout { to } => Ok(fanout(to)),
        ActorCmd::Exfil { to, bytes } => exfil(*to, *bytes),
        ActorCmd::Vpn { to } => vpn(*to),
        ActorCmd::Spray(a) => runtime().and_then(|rt| rt.block_on(spray(a, lang))),
        ActorCmd::Echo { to } => echo(*to),
        ActorCmd::Tamper { request, port } => {
            runtime().and_then(|rt| rt.block_on(tamper(request, *port, lang)))
        }
        ActorCmd::Capture { interface, write } => capture(interface, write),
        ActorCmd::Syslog { port } => syslog(*port),
    };
    match result {
        Ok(v) => {
            say(&v);
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(&json!({"error": format!("{e:#}")}));
            ExitCode::from(2)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// One JSON line on standard output, flushed at once (the lab reads it).
fn say(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Set when standard input closes: the lab is done with this part.
fn stop_on_stdin_close() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        s.store(true, Ordering::SeqCst);
    });
    stop
}

fn now_hl7() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

// ---------------------------------------------------------------- services

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Discard,
    Echo,
    Hl7,
    Smb,
}

fn serve(a: &ActorServeArgs) -> Result<Value> {
    let stop = stop_on_stdin_close();
    let mut ports: Vec<(u16, Service)> = Vec::new();
    ports.extend(a.tcp.iter().map(|&p| (p, Service::Discard)));
    ports.extend(a.echo.iter().map(|&p| (p, Service::Echo)));
    ports.extend(a.hl7.iter().map(|&p| (p, Service::Hl7)));
    if a.smb {
        ports.push((445, Service::Smb));
    }
    for (port, service) in ports {
        let l = TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("tcp/{port}"))?;
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = handle(conn, service);
                });
            }
        });
    }
    if a.vpn {
        for port in [500u16, 1194] {
            let s = UdpSocket::bind(("0.0.0.0", port)).with_context(|| format!("udp/{port}"))?;
            std::thread::spawn(move || vpn_responder(&s, port));
        }
    }
    say(&json!({"ready": true}));
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(json!({"stopped": true}))
}

fn handle(mut c: TcpStream, service: Service) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut rng = Rng::new(seed());
    loop {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        match service {
            Service::Discard => {}
            Service::Echo => c.write_all(&buf[..n])?,
            Service::Hl7 => {
                pending.extend_from_slice(&buf[..n]);
                // One acknowledgement per complete message (… FS CR).
                while let Some(end) = pending.windows(2).position(|w| w == [0x1c, 0x0d]) {
                    let control = msh_control(&pending[..end]).unwrap_or(0);
                    pending.drain(..end + 2);
                    let mut ack = Vec::new();
                    msgs::hl7_ack(
                        "NURSESTATION",
                        "WARD5",
                        "NURSECALL",
                        "WARD5",
                        &now_hl7(),
                        control,
                        &mut ack,
                    );
                    c.write_all(&ack)?;
                }
            }
            Service::Smb => {
                if pending.is_empty() {
                    pending.push(1);
                    let mut guid = [0u8; 16];
                    rng.fill(&mut guid);
                    let mut out = Vec::new();
                    msgs::smb2_negotiate_response(guid, 0x01DC_5A00_0000_0000, &mut out);
                    c.write_all(&out)?;
                }
            }
        }
    }
}

/// The number in MSH-10 (`SYN00000042`), to acknowledge it.
fn msh_control(msg: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(msg.get(1..)?).ok()?;
    let msh = text.split('\r').next()?;
    let id = msh.split('|').nth(9)?;
    id.trim_start_matches(|c: char| !c.is_ascii_digit()).parse().ok()
}

fn vpn_responder(s: &UdpSocket, port: u16) {
    let mut buf = [0u8; 4096];
    let mut rng = Rng::new(seed() ^ u64::from(port));
    while let Ok((n, peer)) = s.recv_from(&mut buf) {
        let mut out = Vec::new();
        if port == 500 && n >= 8 {
            let mut spi = [0u8; 8];
            spi.copy_from_slice(&buf[..8]);
            let spi_r = rng.next_u64();
            msgs::ike_sa_init(&mut rng, u64::from_be_bytes(spi), spi_r, true, &mut out);
        } else if port == 1194 && n >= 9 {
            let mut client = [0u8; 8];
            client.copy_from_slice(&buf[1..9]);
            msgs::openvpn_server_reset(rng.next_u64().to_be_bytes(), client, &mut out);
        } else {
            continue;
        }
        let _ = s.send_to(&out, peer);
    }
}

// ---------------------------------------------------------------- traffic

/// The nurse-call server's usual traffic: an HL7 message to the nurse
/// station every `every`, acknowledged, until the lab stops it.
fn hl7_feed(to: SocketAddr, every: Duration) -> Result<Value> {
    let stop = stop_on_stdin_close();
    let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(5))
        .with_context(|| format!("connecting to {to}"))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    say(&json!({"ready": true}));
    let mut sent = 0u32;
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let mut m = Vec::new();
        msgs::hl7(
            "NURSECALL",
            "WARD5",
            "NURSESTATION",
            "WARD5",
            &now_hl7(),
            "ORU^R01",
            sent + 1,
            &mut m,
        );
        c.write_all(&m)?;
        sent += 1;
        let _ = c.read(&mut buf);
        std::thread::sleep(every);
    }
    Ok(json!({"messages": sent}))
}

fn fanout(targets: &[IpAddr]) -> Value {
    let mut reached = 0u32;
    let mut rng = Rng::new(seed());
    for ip in targets {
        let Ok(mut c) =
            TcpStream::connect_timeout(&SocketAddr::new(*ip, 445), Duration::from_secs(1))
        else {
            continue;
        };
        let mut guid = [0u8; 16];
        rng.fill(&mut guid);
        let mut m = Vec::new();
        msgs::smb2_negotiate_request(guid, &mut m);
        let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
        if c.write_all(&m).is_ok() {
            let mut buf = [0u8; 1024];
            if matches!(c.read(&mut buf), Ok(n) if n > 0) {
                reached += 1;
            }
        }
    }
    json!({"targets": targets.len(), "negotiated": reached})
}

fn exfil(to: SocketAddr, bytes: u64) -> Result<Value> {
    let started = Instant::now();
    let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(5))
        .with_context(|| format!("connecting to {to}"))?;
    let mut rng = Rng::new(seed());
    let mut hello = Vec::new();
    msgs::client_hello(&mut rng, Some("files.drop-example.net"), &["http/1.1"], &mut hello);
    c.write_all(&hello)?;
    let mut chunk = vec![0u8; 64 * 1024];
    rng.fill(&mut chunk);
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
        c.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    c.shutdown(std::net::Shutdown::Write)?;
    let mut rest = [0u8; 64];
    let _ = c.read(&mut rest);
    Ok(json!({"bytes": bytes, "seconds": started.elapsed().as_secs_f64()}))
}

fn vpn(to: IpAddr) -> Result<Value> {
    let s = UdpSocket::bind(("0.0.0.0", 0))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut rng = Rng::new(seed());
    let (mut ike, mut openvpn) = (0u32, 0u32);
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        let mut m = Vec::new();
        let spi = rng.next_u64();
        msgs::ike_sa_init(&mut rng, spi, 0, false, &mut m);
        s.send_to(&m, SocketAddr::new(to, 500))?;
        if s.recv_from(&mut buf).is_ok() {
            ike += 1;
        }
        let mut m = Vec::new();
        msgs::openvpn_client_reset(rng.next_u64().to_be_bytes(), &mut m);
        s.send_to(&m, SocketAddr::new(to, 1194))?;
        if s.recv_from(&mut buf).is_ok() {
            openvpn += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(json!({"ike_answers": ike, "openvpn_answers": openvpn}))
}

fn echo(to: SocketAddr) -> Result<Value> {
    let started = Instant::now();
    let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(5))
        .with_context(|| format!("connecting to {to}"))?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let msg = b"sekimori lab: maintenance check";
    c.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    c.read_exact(&mut back).context("reading the echo")?;
    Ok(json!({"echoed": back == msg, "ms": started.elapsed().as_secs_f64() * 1e3}))
}

// ---------------------------------------------------------------- gateway

/// Guesses `a.guesses` passwords on one account, then sprays each password
/// over the other names; waits out short delays the gateway asks for (a
/// patient attacker) and stops once the source is blocked.
async fn spray(a: &ActorSprayArgs, lang: sekimori_types::Lang) -> Result<Value> {
    use sekimori_gateway::client::Pin;
    let mut attempts: Vec<(String, String)> = Vec::new();
    for i in 0..a.guesses as usize {
        attempts.push((a.guess.clone(), a.passwords[i % a.passwords.len()].clone()));
    }
    for p in &a.passwords {
        for u in &a.spray {
            attempts.push((u.clone(), p.clone()));
        }
    }
    let (mut api, _) = super::super::remote::Api::connect(&a.server, &Pin::FirstUse, lang).await?;
    let (mut tried, mut rejected, mut waits, mut admitted, mut blocked) = (0u32, 0u32, 0u32, 0, 0);
    let mut locked_seen = false;
    let mut blocked_at = None;
    'next: for (user, password) in &attempts {
        for _ in 0..3 {
            let body = json!({"username": user, "password": password});
            let (status, bytes) = match api.call_raw("POST", "/login", Some(&body)).await {
                Ok(r) => r,
                Err(_) => {
                    // The server closed the connection: a new one.
                    api = super::super::remote::Api::connect(&a.server, &Pin::FirstUse, lang)
                        .await?
                        .0;
                    continue;
                }
            };
            tried += 1;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match status {
                200 if v["token"].is_string() => admitted += 1,
                200 | 401 => rejected += 1,
                403 if v["error"] == "account_locked" => {
                    locked_seen = true;
                    rejected += 1;
                }
                429 => {
                    let retry = v["retry_after"].as_u64().unwrap_or(u64::MAX);
                    if retry <= 3 {
                        waits += 1;
                        tokio::time::sleep(Duration::from_secs(retry.max(1))).await;
                        continue;
                    }
                    blocked += 1;
                    blocked_at.get_or_insert(tried);
                    if blocked >= 2 {
                        break 'next;
                    }
                }
                _ => rejected += 1,
            }
            continue 'next;
        }
    }
    Ok(json!({
        "attempts": tried,
        "rejected": rejected,
        "throttled_waits": waits,
        "blocked_answers": blocked,
        "blocked_after": blocked_at,
        "locked_answer_seen": locked_seen,
        "admitted": admitted,
    }))
}

/// A client that skips `sekimori connect`'s own check and asks the gateway
/// to carry a connection on a port of its choosing.
async fn tamper(request: &str, port: u16, lang: sekimori_types::Lang) -> Result<Value> {
    use sekimori_gateway::client::{ClientError, Counters, Pin, Tunnel};
    let request = request.parse().map_err(|_| anyhow::anyhow!("{request}: not a request ID"))?;
    let profile = super::super::remote::load_profile()?;
    let key = super::super::remote::load_key()?;
    let pin = Pin::Fingerprint(profile.fingerprint.clone());
    let tunnel = Tunnel::open(&profile.server, &pin, profile.credential, &key, lang)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let local = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = local.local_addr()?;
    let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), local.accept());
    let (_client, (sock, _)) = (client?, accepted?);
    let counters = Counters::default();
    Ok(match tunnel.carry(request, port, sock, &counters).await {
        Err(ClientError::Refused(r)) => json!({"refused": true, "reason": r.to_string()}),
        Err(e) => json!({"refused": true, "reason": e.to_string()}),
        Ok(_) => json!({"refused": false}),
    })
}

/// The SIEM: every message of every connection, one JSON line each, as it
/// arrives.
fn syslog(port: u16) -> Result<Value> {
    let stop = stop_on_stdin_close();
    let l = TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("tcp/{port}"))?;
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || frames(conn));
        }
    });
    say(&json!({"ready": true}));
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(json!({"stopped": true}))
}

/// RFC 6587 octet-counted frames (`LEN SP MSG`) until the peer closes or
/// sends something else.
fn frames(mut conn: TcpStream) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = conn.read(&mut chunk) {
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match sekimori_forward::format::take_octet_counted(&mut buf) {
                Ok(Some(msg)) => say(&json!({"syslog": String::from_utf8_lossy(&msg)})),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

// ---------------------------------------------------------------- capture

fn capture(interface: &str, write: &Path) -> Result<Value> {
    use sekimori_capture::live::{LiveCapture, LiveConfig};
    let stop = stop_on_stdin_close();
    let mut cfg = LiveConfig::new(interface);
    cfg.immediate = true;
    let mut cap = LiveCapture::open(&cfg)?;
    let file =
        std::fs::File::create(write).with_context(|| format!("creating {}", write.display()))?;
    let mut out = sekimori_lab::wire::PcapWriter::with_snaplen(BufWriter::new(file), cfg.snaplen)?;
    say(&json!({"ready": true}));
    let mut flushed = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if let Some(p) = cap.next_packet()? {
            let ts = u64::try_from(p.ts.0).unwrap_or(0);
            out.record_captured(ts, p.data, p.origlen)?;
        }
        if flushed.elapsed() >= Duration::from_millis(500) {
            out.flush()?;
            flushed = Instant::now();
        }
    }
    let (packets, bytes) = (out.packets, out.bytes);
    out.finish()?;
    Ok(json!({"packets": packets, "bytes": bytes}))
}
