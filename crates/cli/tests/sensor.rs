//! The sensor feeding the control plane, end to end with the real binary,
//! on SQLite and PostgreSQL: `sekimori analyze CAPTURE --store` and
//! `sekimori sensor --collector` write into the store a running `serve`
//! uses, and the inventory API lists what they saw.
//!
//! Expected values are from the captures, read with tshark:
//! - `gen_dicom_echo_store_find.pcap`: A-ASSOCIATE from 10.20.5.31
//!   (calling AE `CT_SCANNER_01`) to 10.20.1.10:11112 (called AE
//!   `PACS_MAIN`); one TCP connection, 107 frames.
//! - `gen_ipfix_softflowd_export.pcap`: two IPFIX datagrams (templates, then
//!   data) whose records include 10.0.2.15:35732 → 162.250.2.170:5938 TCP,
//!   129 packets, 66191 octets (`tshark -V`: SrcAddr/DstAddr/Packets/Octets).

mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn capture(name: &str) -> String {
    format!("{}/../../testdata/pcaps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The UDP payloads of a capture of Ethernet/IPv4/UDP frames.
fn udp_payloads(path: &str) -> Vec<Vec<u8>> {
    let mut f = sekimori_capture::CaptureFile::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(p) = f.next_packet().unwrap() {
        let d = p.data;
        assert_eq!(&d[12..14], &[0x08, 0x00], "IPv4 over Ethernet");
        let ihl = usize::from(d[14] & 0x0f) * 4;
        assert_eq!(d[14 + 9], 17, "UDP");
        let udp = 14 + ihl;
        let len = usize::from(u16::from_be_bytes([d[udp + 4], d[udp + 5]]));
        out.push(d[udp + 8..udp + len].to_vec());
    }
    out
}

async fn inventory(s: &Server, token: &str, query: &str) -> Vec<Value> {
    let c = s.client();
    let (st, v) = get(&c, &s.url(&format!("/api/v1/inventory/assets{query}")), Some(token)).await;
    assert_eq!(st, 200, "{v}");
    v["assets"].as_array().unwrap().clone()
}

/// A running `sekimori sensor` and the lines it printed.
struct Sensor {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Sensor {
    fn start(s: &Server, args: &[&str]) -> Sensor {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(&s.data_dir).arg("sensor").args(args);
        cmd.env_remove("SEKIMORI_DATABASE_URL").env("SEKIMORI_LANG", "en");
        if let Backend::Postgres(url) = &s.backend {
            cmd.env("SEKIMORI_DATABASE_URL", url);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = err.read_to_end(&mut sink);
        });
        Sensor { child, lines }
    }

    /// The next line satisfying `pred` (panics after 60 s).
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(l.trim()) => return l.trim().to_owned(),
                Ok(_) => {}
                Err(e) => panic!("sensor never printed {what}: {e}"),
            }
        }
    }

    /// SIGTERM; the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "the sensor did not stop on SIGTERM");
            self.lines.recv_timeout(Duration::from_millis(50)).ok();
        }
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sensor_feeds_the_api(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_new(tmp.path(), b, FAST_CONFIG);
    let name = s.backend.name();
    let admin = setup_admin(&s, &s.client()).await;

    // Offline: a DICOM capture into the store the server runs on.
    let out = s.cli(&["analyze", &capture("gen_dicom_echo_store_find.pcap"), "--store"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["stored"]["assets"], 2, "{name}: {v}");
    assert_eq!(v["stored"]["buckets"], 1, "{name}: {v}");
    assert_eq!(v["packets"], 107);

    let all = inventory(&s, &admin.token, "").await;
    assert_eq!(all.len(), 2, "{name}: {all:?}");
    let by_ip = |ip: &str| all.iter().find(|a| a["ip"] == ip).unwrap().clone();
    let (ct, pacs) = (by_ip("10.20.5.31"), by_ip("10.20.1.10"));
    assert_eq!(ct["names"], serde_json::json!(["CT_SCANNER_01"]), "{name}");
    assert_eq!(ct["role"], "modality-or-workstation");
    assert_eq!(ct["protocols_as_client"], serde_json::json!(["dicom"]));
    assert_eq!(pacs["names"], serde_json::json!(["PACS_MAIN"]), "{name}");
    assert_eq!(pacs["role"], "pacs-or-modality");
    assert_eq!(pacs["protocols_as_server"], serde_json::json!(["dicom"]));
    let found = inventory(&s, &admin.token, "?q=pacs_main").await;
    assert_eq!(found.len(), 1, "{name}");
    let c = s.client();
    let pacs_id = pacs["id"].as_str().unwrap();
    let (st, conv) = get(
        &c,
        &s.url(&format!("/api/v1/inventory/conversations?asset={pacs_id}")),
        Some(&admin.token),
    )
    .await;
    assert_eq!(st, 200, "{conv}");
    let conv = conv["conversations"].as_array().unwrap();
    assert_eq!(conv.len(), 1, "{name}: {conv:?}");
    assert_eq!(conv[0]["service"], "dicom");
    assert_eq!(conv[0]["client_asset"], ct["id"]);
    assert_eq!(conv[0]["flows"], 1);
    let frames = conv[0]["packets_out"].as_u64().unwrap() + conv[0]["packets_in"].as_u64().unwrap();
    assert_eq!(frames, 107, "{name}: every frame of the one connection");

    // Live: a collector receives the IPFIX export, replayed over loopback.
    let sensor = Sensor::start(&s, &["--collector", "127.0.0.1:0", "--flush-secs", "1"]);
    let line =
        sensor.wait_for("the collector address", |l| l.starts_with("collector listening on: "));
    let addr = line.trim_start_matches("collector listening on: ").to_owned();
    sensor.wait_for("ready", |l| l == "ready");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagrams = udp_payloads(&capture("gen_ipfix_softflowd_export.pcap"));
    assert_eq!(datagrams.len(), 2);
    for d in &datagrams {
        udp.send_to(d, &addr).unwrap();
    }
    let flushed = sensor.wait_for("a flush of the 32 records", |l| {
        l.starts_with("flushed: ") && l.contains("32 imported flows")
    });
    assert!(flushed.contains("32 flows ended"), "{name}: {flushed}");
    let status = sensor.stop();
    assert!(status.success(), "{name}: sensor exit {status:?}");

    let host = inventory(&s, &admin.token, "?q=10.0.2.15").await;
    assert_eq!(host.len(), 1, "{name}: {host:?}");
    assert_eq!(host[0]["key"], "ip:10.0.2.15");
    let id = host[0]["id"].as_str().unwrap();
    let (st, conv) =
        get(&c, &s.url(&format!("/api/v1/inventory/conversations?asset={id}")), Some(&admin.token))
            .await;
    assert_eq!(st, 200);
    let tv = conv["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["server"] == "ip:162.250.2.170")
        .unwrap_or_else(|| panic!("{name}: {conv}"))
        .clone();
    assert_eq!(tv["client"], "ip:10.0.2.15");
    assert_eq!(tv["service"], "tcp/5938");
    assert_eq!((tv["packets_out"].as_u64(), tv["bytes_out"].as_u64()), (Some(129), Some(66191)));
    // The DICOM devices are still there.
    assert_eq!(inventory(&s, &admin.token, "?app=dicom").await.len(), 2, "{name}");

    // Start and stop are audited; the writes are not.
    let (st, audit) = get(&c, &s.url("/api/v1/audit?limit=1000"), Some(&admin.token)).await;
    assert_eq!(st, 200);
    let kinds: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["event"]["type"].as_str())
        .filter(|k| k.starts_with("sensor_"))
        .collect();
    assert_eq!(kinds, vec!["sensor_started", "sensor_stopped"], "{name}");
    let stopped = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event"]["type"] == "sensor_stopped")
        .unwrap();
    assert_eq!(stopped["event"]["imported_flows"], 32, "{name}");
    assert_eq!(stopped["event"]["reason"], "SIGTERM");

    // Without an input it refuses to start (exit 2).
    let out = s.cli(&["sensor"]);
    assert_eq!(out.status.code(), Some(2), "{name}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--interface"), "{name}");
}

#[tokio::test]
async fn sensor_and_analyze_store_feed_the_inventory_api() {
    for b in Backend::all().await {
        sensor_feeds_the_api(b).await;
    }
}

/// A TCP syslog receiver (RFC 6587 octet counting) on loopback: each
/// message with the time it arrived.
fn syslog_receiver() -> (String, mpsc::Receiver<(Instant, String)>) {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = conn.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Frames: "<len> <message>".
                    loop {
                        match sekimori_forward::format::take_octet_counted(&mut buf) {
                            Ok(Some(m)) => {
                                let msg = String::from_utf8_lossy(&m).into_owned();
                                if tx.send((Instant::now(), msg)).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(_) => return,
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// Live detections: the sensor with a policy receives the IPFIX export of
/// an upload (10.0.2.15 → 162.250.2.170:5938, 66,191 bytes) over its
/// collector; above the policy's 50 KB threshold that is exfiltration. The
/// alert is in the store (listed, acknowledged with the CLI, audited) and
/// its RFC 5424 line reaches a real TCP syslog receiver within 5 seconds of
/// the datagram that crossed the threshold.
#[tokio::test]
async fn sensor_alerts_reach_the_store_and_the_siem_within_seconds() {
    for b in Backend::all().await {
        let tmp = tempfile::tempdir().unwrap();
        let (syslog, lines) = syslog_receiver();
        let policy = tmp.path().join("policy.toml");
        std::fs::write(
            &policy,
            "[hospital]\nranges = [\"10.0.0.0/8\"]\n\n[[zone]]\nname = \"office\"\n\
             ranges = [\"10.0.2.0/24\"]\n\n[detections.exfiltration]\nthreshold = \"50 KB\"\n\
             window = \"5m\"\n\n[detections.new_activity]\ndevice = false\ntalker = false\n\
             protocol = false\n",
        )
        .unwrap();
        let config = format!(
            "{FAST_CONFIG}\n[[forward.destinations]]\nname = \"siem\"\nkind = \"syslog\"\n\
             transport = \"tcp\"\naddress = \"{syslog}\"\n"
        );
        let s = Server::start_new(tmp.path(), b, &config);
        let name = s.backend.name();
        let sensor = Sensor::start(
            &s,
            &["--collector", "127.0.0.1:0", "--policy", policy.to_str().unwrap()],
        );
        let line =
            sensor.wait_for("the collector address", |l| l.starts_with("collector listening on: "));
        let addr = line.trim_start_matches("collector listening on: ").to_owned();
        sensor.wait_for("ready", |l| l == "ready");
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let datagrams = udp_payloads(&capture("gen_ipfix_softflowd_export.pcap"));
        for d in &datagrams {
            udp.send_to(d, &addr).unwrap();
        }
        let sent = Instant::now();
        let printed = sensor.wait_for("the alert", |l| l.starts_with("alert: "));
        assert!(
            printed.contains("exfiltration") && printed.contains("10.0.2.15"),
            "{name}: {printed}"
        );
        let (at, msg) = loop {
            let (at, msg) = lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("{name}: no syslog line: {e}"));
            if msg.contains("exfiltration") {
                break (at, msg);
            }
        };
        let took = at.duration_since(sent);
        assert!(took < Duration::from_secs(5), "{name}: the syslog line came after {took:?}");
        assert!(msg.starts_with('<'), "{name}: {msg}");
        assert!(msg.contains("sekimori") && msg.contains("10.0.2.15"), "{name}: {msg}");
        let status = sensor.stop();
        assert!(status.success(), "{name}: {status:?}");

        // In the store: listed, shown, acknowledged (audited).
        let out = s.cli(&["alert", "list", "--json"]);
        assert!(out.status.success(), "{name}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let exfil: Vec<&Value> = v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "exfiltration")
            .collect();
        assert_eq!(exfil.len(), 1, "{name}: {v}");
        assert!(exfil[0]["evidence"]["bytes"].as_u64().unwrap() >= 66_191, "{name}");
        let id = exfil[0]["id"].as_str().unwrap();
        let out = s.cli(&["alert", "ack", id, "--comment", "vendor backup, checking"]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let out = s.cli(&["alert", "ack", id, "--comment", "again"]);
        assert_ne!(out.status.code(), Some(0), "{name}: acknowledged twice");
        let out = s.cli(&["alert", "show", id]);
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains("vendor backup, checking"), "{name}: {shown}");
        let export = s.cli(&["audit", "export"]);
        let text = String::from_utf8_lossy(&export.stdout);
        assert!(
            text.contains("\"alert_raised\"") && text.contains("\"alert_acknowledged\""),
            "{name}"
        );
    }
}
