//! The JSON webhook against a real HTTPS server on 127.0.0.1: bearer token,
//! outage, non-2xx answers, and the token never in a log line or a Debug.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Webhook, alert, pki, quick, recv_n};
use sekimori_forward::{
    DestinationConfig, DestinationKind, ForwardConfig, Forwarder, ForwarderHandle,
};
use tokio::sync::mpsc;

const CANARY: &str = "canary-token-7f3a9c1e-do-not-log";

/// Every log line of this test binary, at every level.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Capture(writer.clone()))
            .init();
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);
impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    queue: std::path::PathBuf,
    config: ForwardConfig,
}

fn setup(port: u16, ca_pem: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{CANARY}\n")).unwrap();
    let mut d = DestinationConfig::new("soc", DestinationKind::Webhook);
    d.url = Some(format!("https://localhost:{port}/hooks/secret-path-part"));
    d.ca_file = Some(ca);
    d.token_file = Some(token);
    quick(&mut d);
    let config = ForwardConfig {
        destinations: vec![d],
        hostname: Some("sekimori-test".into()),
        segment_bytes: 4096,
    };
    Setup { queue: dir.path().join("queue"), _dir: dir, config }
}

fn counts(got: Vec<(Option<String>, Vec<u8>)>) -> Vec<u64> {
    got.into_iter()
        .map(|(auth, body)| {
            assert_eq!(auth.as_deref(), Some(format!("Bearer {CANARY}").as_str()));
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["source"], "sekimori");
            assert_eq!(v["hostname"], "sekimori-test");
            assert_eq!(v["alert"]["kind"], "exfiltration");
            v["alert"]["count"].as_u64().unwrap()
        })
        .collect()
}

async fn until_failed(h: &ForwarderHandle) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.status()[0].failed_attempts == 0 {
        assert!(Instant::now() < deadline, "{:?}", h.status());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn webhook_outage_loses_nothing_and_the_token_is_never_logged() {
    let logs = logs();
    let pki = pki();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hook = Webhook::start(0, pki.server.clone(), 0, tx.clone()).await;
    let port = hook.port;
    let s = setup(port, &pki.ca_pem);
    let h = Forwarder::start(s.config.clone(), &s.queue).await.unwrap();
    for n in 1..=4 {
        h.submit(&alert(n)).await.unwrap();
    }
    let mut got = recv_n(&mut rx, 4, 10).await;
    hook.stop().await;
    for n in 5..=8 {
        h.submit(&alert(n)).await.unwrap();
    }
    until_failed(&h).await;
    // And a restart of the forwarder while the webhook is down.
    h.shutdown().await;
    let h = Forwarder::start(s.config.clone(), &s.queue).await.unwrap();
    assert_eq!(h.status()[0].queued, 4);
    let hook = Webhook::start(port, pki.server.clone(), 0, tx).await;
    got.extend(recv_n(&mut rx, 4, 10).await);
    common::assert_quiet(&mut rx, 200).await;
    assert_eq!(counts(got), (1..=8).collect::<Vec<_>>());

    let debug = format!("{h:?} {:?} {:?}", s.config, h.status());
    assert!(!debug.contains(CANARY), "token in a Debug output");
    h.shutdown().await;
    hook.stop().await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("Delivery failed"), "the outage was logged: {text}");
    assert!(!text.contains(CANARY), "token in the logs");
    assert!(!text.contains("secret-path-part"), "URL path in the logs");
}

#[tokio::test]
async fn a_non_2xx_answer_is_retried_and_order_is_kept() {
    let _ = logs();
    let pki = pki();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hook = Webhook::start(0, pki.server.clone(), 3, tx).await;
    let s = setup(hook.port, &pki.ca_pem);
    let h = Forwarder::start(s.config.clone(), &s.queue).await.unwrap();
    for n in 1..=3 {
        h.submit(&alert(n)).await.unwrap();
    }
    let got = recv_n(&mut rx, 3, 10).await;
    assert_eq!(counts(got), [1, 2, 3]);
    common::wait_until(5, || h.status()[0].delivered == 3).await;
    let st = &h.status()[0];
    assert_eq!(st.failed_attempts, 3);
    assert_eq!(st.delivered, 3);
    h.shutdown().await;
    hook.stop().await;
}

#[tokio::test]
async fn a_missing_or_empty_token_file_is_a_configuration_error() {
    let pki = pki();
    let s = setup(1, &pki.ca_pem);
    let mut c = s.config.clone();
    c.destinations[0].token_file = Some(s.queue.join("nope"));
    let e = Forwarder::start(c.clone(), &s.queue).await.unwrap_err();
    assert!(e.to_string().contains("token file"), "{e}");
    let empty = s._dir.path().join("empty");
    std::fs::write(&empty, "  \n").unwrap();
    c.destinations[0].token_file = Some(empty);
    let e = Forwarder::start(c, &s.queue).await.unwrap_err();
    assert!(e.to_string().contains("destinations[0].token_file: empty_token"), "{e}");
}
