//! Latency from `submit` to the syslog line read by a TCP receiver on
//! 127.0.0.1: the queue's fsync, the wake-up, formatting done at submit,
//! the octet-counted write and the receiver's read.
//!
//! `cargo bench -p sekimori-forward --bench forward` prints p50/p90/p99/max
//! over `SEKIMORI_BENCH_N` (default 1000) sequential alerts, then runs the
//! same round trip under criterion. The queue lives in a temporary
//! directory on the default temporary file system (`TMPDIR`): its fsync is
//! most of the figure, so run it on the disk the data directory will use.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark binary reports on the terminal"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use criterion::Criterion;
use sekimori_forward::{DestinationKind, ForwardConfig, Forwarder, ForwarderHandle, Transport};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

type Frames = mpsc::UnboundedReceiver<Result<String, String>>;

async fn round(h: &ForwarderHandle, rx: &mut Frames, n: u64) -> Duration {
    let a = common::alert(n);
    let start = Instant::now();
    h.submit(&a).await.expect("queued");
    rx.recv().await.expect("receiver up").expect("well-formed frame");
    start.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index from a fraction of a small length"
    )]
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn main() {
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (recv, h) = rt.block_on(async {
        let recv = common::Receiver::start(0, None, tx).await;
        let d = common::syslog_dest("siem", DestinationKind::Syslog, Transport::Tcp, recv.port);
        let config = ForwardConfig {
            destinations: vec![d],
            hostname: Some("bench".into()),
            ..ForwardConfig::default()
        };
        let h = Forwarder::start(config, dir.path()).await.expect("forwarder");
        (recv, h)
    });

    let n: u64 =
        std::env::var("SEKIMORI_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let mut lat: Vec<Duration> = rt.block_on(async {
        for i in 0..50 {
            round(&h, &mut rx, i).await;
        }
        let mut lat = Vec::with_capacity(n as usize);
        for i in 0..n {
            lat.push(round(&h, &mut rx, i).await);
        }
        lat
    });
    lat.sort_unstable();
    println!(
        "submit → syslog line (TCP, 127.0.0.1, queue in {}): n={n} p50={:.3} ms p90={:.3} ms p99={:.3} ms max={:.3} ms",
        dir.path().display(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );

    let mut c = Criterion::default().configure_from_args().sample_size(50);
    let mut i = 0u64;
    c.bench_function("submit_to_tcp_syslog_line", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(round(&h, &mut rx, i))
        });
    });
    c.final_summary();
    rt.block_on(async {
        h.shutdown().await;
        recv.stop().await;
    });
}
