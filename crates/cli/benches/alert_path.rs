//! The alert path, flow update to syslog line, on loopback: what
//! `sekimori sensor --policy` does when a flow update crosses a detection
//! threshold — the engine judges the update, the draft is stored (SQLite
//! in a temporary directory, committed with its audit record), queued on
//! disk for the destination (fsync) and sent over TCP to a syslog receiver
//! running here, which timestamps the line when it has read it whole.
//!
//! Each round is a new internal host uploading 60 MB to the internet in
//! one update (threshold 50 MB): one new exfiltration alert per round.
//! Prints p50/p90/p99/max over `SEKIMORI_BENCH_N` rounds (default 300).
//! Goal (issue 6): p99 under 100 ms.
//!
//! `cargo bench -p sekimori-cli --bench alert_path`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing)]

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sekimori_audit::InstanceKey;
use sekimori_forward::{ForwardConfig, Forwarder};
use sekimori_policy::detect::{Engine, FlowEvent};
use sekimori_policy::{AssetHints, Policy, Transport};
use sekimori_store::{AlertRepo, Store, StoreOptions};
use sekimori_types::SystemClock;
use time::OffsetDateTime;

const POLICY: &str = "[hospital]\nranges = [\"10.0.0.0/8\"]\n\n[[zone]]\nname = \"nurse-call\"\n\
ranges = [\"10.20.0.0/16\"]\n\n[detections.exfiltration]\n\
threshold = \"50 MB\"\nwindow = \"5m\"\n";

/// A TCP syslog receiver: sends the arrival time of each octet-counted frame.
fn receiver() -> (String, mpsc::Receiver<Instant>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                while let Ok(n) = conn.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(_msg) =
                        sekimori_forward::format::take_octet_counted(&mut buf).unwrap()
                    {
                        let _ = tx.send(Instant::now());
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn main() {
    let n: usize =
        std::env::var("SEKIMORI_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let (key, _) = InstanceKey::generate().unwrap();
        let store =
            Store::open(&url, StoreOptions::new(Arc::new(SystemClock), Arc::new(key))).await.unwrap();
        let (addr, lines) = receiver();
        let config: ForwardConfig = toml::from_str(&format!(
            "[[destinations]]\nname = \"siem\"\nkind = \"syslog\"\ntransport = \"tcp\"\naddress = \"{addr}\"\n"
        ))
        .unwrap();
        let fw = Forwarder::start(config, dir.path().join("forward")).await.unwrap();
        let policy = Arc::new(Policy::parse(POLICY, std::path::Path::new("bench.toml")).unwrap());
        let start = OffsetDateTime::now_utc();
        let mut engine = Engine::new(policy, start);
        let mut took = Vec::with_capacity(n);
        for i in 0..n {
            let src = IpAddr::V4(Ipv4Addr::new(10, 20, (i / 250) as u8, (i % 250 + 1) as u8));
            let at = OffsetDateTime::now_utc();
            let ev = FlowEvent {
                flow: i as u64 + 1,
                src,
                dst: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
                sport: 40_000,
                dport: 443,
                transport: Transport::Tcp,
                app: None,
                bytes_out: 60_000_000,
                bytes_in: 10_000,
                packets_out: 40_000,
                packets_in: 20_000,
                first: at,
                at,
                ended: false,
                src_hints: AssetHints::default(),
                dst_hints: AssetHints::default(),
                server_names: &[],
            };
            let t0 = Instant::now();
            engine.flow(&ev);
            let drafts = engine.take();
            assert_eq!(drafts.len(), 1, "one exfiltration alert per round");
            let raised = store.raise_alerts(&drafts).await.unwrap();
            for r in &raised {
                fw.submit(&r.alert).await.unwrap();
            }
            let got = lines.recv_timeout(Duration::from_secs(10)).expect("the syslog line");
            took.push(got.duration_since(t0));
        }
        took.sort();
        let pct = |p: f64| took[((took.len() as f64 * p).ceil() as usize).saturating_sub(1).min(took.len() - 1)];
        println!(
            "alert path (flow update → engine → store commit → queue fsync → TCP syslog line), {n} alerts: \
             p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.90).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            took[took.len() - 1].as_secs_f64() * 1e3,
        );
        fw.shutdown().await;
        store.close().await;
    });
}
