//! Login load against a running `sekimori serve`, over real HTTPS: wrong-password
//! logins from N concurrent clients for a fixed time, while one more client
//! probes `GET /healthz` every 10 ms; the same probes are taken with the
//! server idle first. Also reads the server's memory from `/proc/PID/status`:
//! idle `VmRSS`, then the peak (`VmHWM`, reset through `/proc/PID/clear_refs`
//! after the idle phase) during the load.
//!
//! `bench/login.sh` starts the server and runs this; on its own (without
//! `SEKIMORI_BENCH_URL`) `cargo bench` skips it. Output: `key=value` lines.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SEKIMORI_BENCH_URL` | `https://127.0.0.1:PORT` | (skip) |
//! | `SEKIMORI_BENCH_CERT` | the server's `tls/cert.pem`, the only trusted root | required |
//! | `SEKIMORI_BENCH_PID` | the server's process id, for its memory | none: not measured |
//! | `SEKIMORI_BENCH_CLIENTS` | concurrent login clients | 8 |
//! | `SEKIMORI_BENCH_SECS` | measured load time | 20 |
//! | `SEKIMORI_BENCH_WARMUP_SECS` | load before measuring | 3 |

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark binary reports on the terminal"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

const PROBE_EVERY: Duration = Duration::from_millis(10);
const IDLE_PROBES: usize = 500;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Settings {
    url: String,
    cert_pem: Vec<u8>,
    pid: Option<u32>,
    clients: usize,
    secs: u64,
    warmup_secs: u64,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

fn settings() -> Option<Settings> {
    let url = std::env::var("SEKIMORI_BENCH_URL").ok()?;
    let cert = std::env::var("SEKIMORI_BENCH_CERT").expect("SEKIMORI_BENCH_CERT");
    Some(Settings {
        url: url.trim_end_matches('/').to_owned(),
        cert_pem: std::fs::read(&cert).unwrap_or_else(|e| panic!("reading {cert}: {e}")),
        pid: std::env::var("SEKIMORI_BENCH_PID").ok().map(|p| p.parse().expect("a pid")),
        clients: env_num("SEKIMORI_BENCH_CLIENTS", 8),
        secs: env_num("SEKIMORI_BENCH_SECS", 20),
        warmup_secs: env_num("SEKIMORI_BENCH_WARMUP_SECS", 3),
    })
}

/// One HTTPS client (its own connection) trusting only the server's certificate.
fn client(s: &Settings) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(&s.cert_pem).expect("certificate PEM");
    reqwest::Client::builder()
        .tls_certs_only([cert])
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTPS client")
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index from a fraction of a small length"
    )]
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// Probes `/healthz` every [`PROBE_EVERY`] until `n` probes or `until`.
async fn probe(c: &reqwest::Client, url: &str, n: usize, until: Option<Instant>) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n.min(IDLE_PROBES));
    let mut failures = 0u32;
    while out.len() < n && until.is_none_or(|u| Instant::now() < u) {
        let t = Instant::now();
        match c.get(format!("{url}/healthz")).send().await {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                out.push(t.elapsed());
            }
            other => {
                failures += 1;
                eprintln!("healthz probe failed: {other:?}");
                assert!(failures < 10, "healthz keeps failing");
            }
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    out.sort();
    out
}

#[derive(Debug, Default)]
struct WorkerTally {
    /// Latencies of wrong-password logins answered 401 `invalid_credentials`
    /// within the measured window.
    ok: Vec<Duration>,
    /// Any other answer within the window (throttled, error, timeout).
    other: Vec<String>,
}

async fn login_worker(
    s: Arc<Settings>,
    w: usize,
    measure_from: Instant,
    end: Instant,
    stop: Arc<AtomicBool>,
) -> WorkerTally {
    let c = client(&s);
    let mut tally = WorkerTally::default();
    let url = format!("{}/api/v1/login", s.url);
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) || Instant::now() >= end {
            break;
        }
        // A new user name every time: no account ever reaches its lockout.
        let body = serde_json::json!({
            "username": format!("bench-{w}-{i}"),
            "password": "not the password of anyone",
        });
        let t = Instant::now();
        let outcome = match c.post(&url).json(&body).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                if status == 401 && v["error"] == "invalid_credentials" {
                    Ok(())
                } else {
                    Err(format!("{status} {v}"))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let done = Instant::now();
        if done < measure_from || done > end {
            continue;
        }
        match outcome {
            Ok(()) => tally.ok.push(done - t),
            Err(e) => tally.other.push(e),
        }
    }
    tally
}

async fn run(s: Settings) {
    let s = Arc::new(s);
    let prober = client(&s);

    // Idle: wait until the server answers, then the idle probes.
    let ready_by = Instant::now() + Duration::from_secs(30);
    while prober.get(format!("{}/healthz", s.url)).send().await.is_err() {
        assert!(Instant::now() < ready_by, "server not answering at {}", s.url);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let idle = probe(&prober, &s.url, IDLE_PROBES, None).await;
    let idle_rss = s.pid.and_then(|p| proc_kib(p, "VmRSS"));
    // "5" resets the peak RSS (VmHWM) to the current RSS.
    let hwm_reset =
        s.pid.is_some_and(|p| std::fs::write(format!("/proc/{p}/clear_refs"), "5").is_ok());

    // Load, and the probes under load once warmed up.
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(s.warmup_secs);
    let end = measure_from + Duration::from_secs(s.secs);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..s.clients)
        .map(|w| {
            tokio::spawn(login_worker(Arc::clone(&s), w, measure_from, end, Arc::clone(&stop)))
        })
        .collect();
    tokio::time::sleep_until(measure_from).await;
    let loaded = probe(&prober, &s.url, usize::MAX, Some(end)).await;
    stop.store(true, Ordering::Relaxed);
    let mut ok = Vec::new();
    let mut other = Vec::new();
    for w in workers {
        let t = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(5), w)
            .await
            .expect("login worker did not stop")
            .expect("login worker panicked");
        ok.extend(t.ok);
        other.extend(t.other);
    }
    let peak_rss = s.pid.and_then(|p| proc_kib(p, "VmHWM"));
    ok.sort();

    #[allow(clippy::cast_precision_loss, reason = "a count of logins")]
    let rate = ok.len() as f64 / s.secs as f64;
    println!("clients={}", s.clients);
    println!("measured_secs={}", s.secs);
    println!("logins={}", ok.len());
    println!("logins_per_s={rate:.1}");
    println!("login_p50_ms={:.1}", percentile_ms(&ok, 0.50));
    println!("login_p99_ms={:.1}", percentile_ms(&ok, 0.99));
    println!("other_answers={}", other.len());
    if let Some(first) = other.first() {
        eprintln!("first unexpected answer: {first}");
    }
    println!("healthz_idle_n={}", idle.len());
    println!("healthz_idle_p50_ms={:.2}", percentile_ms(&idle, 0.50));
    println!("healthz_idle_p99_ms={:.2}", percentile_ms(&idle, 0.99));
    println!("healthz_load_n={}", loaded.len());
    println!("healthz_load_p50_ms={:.2}", percentile_ms(&loaded, 0.50));
    println!("healthz_load_p99_ms={:.2}", percentile_ms(&loaded, 0.99));
    if let (Some(i), Some(p)) = (idle_rss, peak_rss) {
        println!("idle_rss_kib={i}");
        println!("peak_rss_kib={p}");
        println!("peak_reset={hwm_reset}");
    }
}

fn main() {
    let Some(s) = settings() else {
        eprintln!("login_load: skipped; bench/login.sh starts a server and runs it");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(s));
}
