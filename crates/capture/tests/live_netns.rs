//! Live capture across a veth pair between two network namespaces this
//! test creates (and always deletes): UDP and TCP sent from namespace A are
//! captured with libpcap on B's end, decoded, and found with the right
//! addresses, ports and payloads.
//!
//! Needs root and `ip` (iproute2); without them the test says why and
//! passes. The three roles (capture, server, client) are this test binary
//! run again inside a namespace with `ip netns exec`, selected by the
//! `SEKIMORI_LIVE_ROLE` variable.
#![cfg(feature = "live")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use sekimori_capture::live::{LiveCapture, LiveConfig};
use sekimori_proto::packet::{Layer3, Transport, decode};

const ROLE: &str = "SEKIMORI_LIVE_ROLE";
const A_IP: &str = "198.18.0.1";
const B_IP: &str = "198.18.0.2";
const UDP_PORT: u16 = 5514;
const TCP_PORT: u16 = 5515;
const UDP_SRC: u16 = 40001;
const UDP_PAYLOAD: &[u8] = b"sekimori-udp";
const TCP_PAYLOAD: &[u8] = b"sekimori-tcp";

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "LIVE {line}");
    let _ = out.flush();
}

/// The roles, run inside a namespace by [`live_capture_across_namespaces`];
/// a no-op as a test of its own.
#[test]
fn live_role() {
    match std::env::var(ROLE).as_deref() {
        Ok("capture") => capture_role(),
        Ok("server") => server_role(),
        Ok("client") => client_role(),
        _ => {}
    }
}

fn capture_role() {
    let iface = std::env::var("SEKIMORI_LIVE_IFACE").unwrap();
    let mut cfg = LiveConfig::new(iface);
    cfg.filter = Some(format!("host {A_IP} and (udp port {UDP_PORT} or tcp port {TCP_PORT})"));
    cfg.immediate = true;
    cfg.timeout = Duration::from_millis(50);
    cfg.buffer_size = None;
    let mut cap = LiveCapture::open(&cfg).unwrap();
    say("READY");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut udp, mut tcp) = (false, false);
    while !(udp && tcp) && Instant::now() < deadline {
        let Some(p) = cap.next_packet().unwrap() else { continue };
        let d = decode(p.link, p.data).unwrap();
        let Layer3::Ip { ip, transport } = d.l3 else { continue };
        match transport {
            Transport::Udp { sport, dport, payload } if payload == UDP_PAYLOAD => {
                say(&format!("udp {}:{sport} {}:{dport}", ip.src, ip.dst));
                udp = true;
            }
            Transport::Tcp { sport, dport, payload, .. } if payload == TCP_PAYLOAD => {
                say(&format!("tcp {}:{sport} {}:{dport}", ip.src, ip.dst));
                tcp = true;
            }
            Transport::Tcp { flags, sport, dport, .. } if flags.0 == 0x02 => {
                say(&format!("syn {}:{sport} {}:{dport}", ip.src, ip.dst));
            }
            _ => {}
        }
    }
    let s = cap.stats().unwrap();
    say(&format!("stats {} {}", s.received, s.dropped));
    // Once the connection's last packets are read, nothing matches the
    // filter: a read ends at the timeout.
    // A watchdog ends this process if a read hangs instead.
    let (done, wait) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if wait.recv_timeout(Duration::from_secs(10)).is_err() {
            say("read-timeout-broken");
            std::process::exit(3);
        }
    });
    let quiet = (0..50).any(|_| cap.next_packet().unwrap().is_none());
    let _ = done.send(());
    say(&format!("quiet {quiet}"));
}

fn server_role() {
    let udp = UdpSocket::bind((B_IP, UDP_PORT)).unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let tcp = TcpListener::bind((B_IP, TCP_PORT)).unwrap();
    say("READY");
    let (mut conn, _) = tcp.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    let mut buf = [0u8; 64];
    let n = udp.recv(&mut buf).unwrap_or(0);
    say(&format!("server tcp={} udp={}", got.len(), n));
}

fn client_role() {
    let udp = UdpSocket::bind((A_IP, UDP_SRC)).unwrap();
    udp.send_to(UDP_PAYLOAD, (B_IP, UDP_PORT)).unwrap();
    let addr: SocketAddr = format!("{B_IP}:{TCP_PORT}").parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.write_all(TCP_PAYLOAD).unwrap();
    say(&format!("tcp-port {}", s.local_addr().unwrap().port()));
    s.shutdown(std::net::Shutdown::Both).unwrap();
}

/// Deletes the namespaces (and so the veth pair) and stops the children,
/// however the test ends.
struct Netns {
    names: [String; 2],
    children: Vec<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// This binary, run as `role` inside namespace `ns`.
fn spawn_role(ns: &str, role: &str, iface: &str) -> Child {
    let exe = std::env::current_exe().unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args(["--exact", "live_role", "--nocapture", "--test-threads", "1"])
        .env(ROLE, role)
        .env("SEKIMORI_LIVE_IFACE", iface)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The child's `LIVE` lines until one equal to `until` (or the end).
fn lines_until(out: &mut BufReader<ChildStdout>, until: Option<&str>) -> Vec<String> {
    let mut got = Vec::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap_or(0) > 0 {
        // libtest may print "test live_role ... " on the same line first.
        if let Some((_, l)) = line.trim_end().split_once("LIVE ") {
            got.push(l.to_owned());
            if Some(l) == until {
                break;
            }
        }
        line.clear();
    }
    got
}

fn skip_reason() -> Option<String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref() != Some("0") {
        return Some(format!("not root (uid {uid:?})"));
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => {
            Some(format!("`ip netns list` failed: {}", String::from_utf8_lossy(&o.stderr).trim()))
        }
        Err(e) => Some(format!("no `ip` command: {e}")),
    }
}

#[test]
fn live_capture_across_namespaces() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    if let Some(why) = skip_reason() {
        let _ = writeln!(std::io::stderr(), "live_capture_across_namespaces skipped: {why}");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("skm-a-{pid}"), format!("skm-b-{pid}"));
    let mut ns = Netns { names: [a.clone(), b.clone()], children: Vec::new() };
    ip(&["netns", "add", &a]);
    ip(&["netns", "add", &b]);
    ip(&["link", "add", "vA", "netns", &a, "type", "veth", "peer", "name", "vB", "netns", &b]);
    ip(&["-n", &a, "addr", "add", &format!("{A_IP}/24"), "dev", "vA"]);
    ip(&["-n", &b, "addr", "add", &format!("{B_IP}/24"), "dev", "vB"]);
    for (n, dev) in [(&a, "vA"), (&b, "vB")] {
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&["-n", n, "link", "set", dev, "up"]);
    }

    ns.children.push(spawn_role(&b, "capture", "vB"));
    let mut cap_out = BufReader::new(ns.children.last_mut().unwrap().stdout.take().unwrap());
    assert_eq!(lines_until(&mut cap_out, Some("READY")).last().map(String::as_str), Some("READY"));
    ns.children.push(spawn_role(&b, "server", "vB"));
    let mut srv_out = BufReader::new(ns.children.last_mut().unwrap().stdout.take().unwrap());
    assert_eq!(lines_until(&mut srv_out, Some("READY")).last().map(String::as_str), Some("READY"));

    let client = spawn_role(&a, "client", "vA").wait_with_output().unwrap();
    assert!(client.status.success(), "client failed");
    let client_lines = String::from_utf8_lossy(&client.stdout);
    let tcp_port: u16 = client_lines
        .lines()
        .find_map(|l| l.split_once("LIVE tcp-port ").map(|(_, p)| p))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("client said: {client_lines}"));

    let seen = lines_until(&mut cap_out, None);
    let server = lines_until(&mut srv_out, None);
    assert!(
        seen.contains(&format!("udp {A_IP}:{UDP_SRC} {B_IP}:{UDP_PORT}")),
        "captured: {seen:?}"
    );
    assert!(
        seen.contains(&format!("syn {A_IP}:{tcp_port} {B_IP}:{TCP_PORT}")),
        "captured: {seen:?}"
    );
    assert!(
        seen.contains(&format!("tcp {A_IP}:{tcp_port} {B_IP}:{TCP_PORT}")),
        "captured: {seen:?}"
    );
    let stats = seen.iter().find_map(|l| l.strip_prefix("stats ")).unwrap_or_default();
    let received: u32 = stats.split(' ').next().and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!(received >= 3, "kernel stats: {stats:?}");
    assert!(seen.contains(&"quiet true".to_owned()), "captured: {seen:?}");
    assert_eq!(server, vec![format!("server tcp={} udp={}", TCP_PAYLOAD.len(), UDP_PAYLOAD.len())]);
    drop(ns);
}
