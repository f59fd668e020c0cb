//! Crash safety: SIGKILL the server while clients are logging in; after a
//! restart every acknowledged audit record is present and the chain is
//! valid. A failed login is acknowledged (401) only after its `LoginFailed`
//! record is durable, so each 401 a client saw must be in the log.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use support::*;

/// No throttling, so every attempt reaches the audit log.
const NO_THROTTLE: &str = r#"
[authn.password]
m_cost_kib = 64
t_cost = 1
p_cost = 1
insecure_test_only_weak_params = true

[authn.throttle]
account_free_failures = 99
account_lock_after = 100
source_free_failures = 100000
source_block_after = 100001
"#;

async fn crash_once(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_new(tmp.path(), backend.clone(), NO_THROTTLE);
    let c = s.client();
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();

    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (c, url, acked) = (c.clone(), s.url("/api/v1/login"), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..10_000 {
                // Each attempt has a unique name, so its record is identifiable.
                let name = format!("crash-{worker}-{i}");
                let r = c
                    .post(&url)
                    .json(&json!({"username": name, "password": "wrong-password-123"}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 401 => {
                        acked.lock().unwrap().insert(name);
                    }
                    _ => break, // the server is gone
                }
            }
        }));
    }
    // Let them run, then kill the server mid-flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 300 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100,
        "{}: too few acknowledged logins before the kill: {}",
        backend.name(),
        acked.len()
    );

    // Restart on the same data and check.
    let out = cli(&s.data_dir, &backend, &["audit", "verify", "--json"], None);
    assert!(
        out.status.success(),
        "{}: chain invalid after SIGKILL: {}",
        backend.name(),
        String::from_utf8_lossy(&out.stdout)
    );
    let export = tmp.path().join("audit.jsonl");
    let out = cli(
        &s.data_dir,
        &backend,
        &["audit", "export", "--format", "jsonl", "-o", export.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&export).unwrap();
    let mut logged = HashSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["event"]["type"] == "login_failed" {
            logged.insert(v["event"]["username"].as_str().unwrap().to_owned());
        }
    }
    let missing: Vec<_> = acked.difference(&logged).take(5).collect();
    assert!(
        missing.is_empty(),
        "{}: acknowledged but not in the audit log: {missing:?}",
        backend.name()
    );

    // And the server starts again on it.
    let s2 = Server::start(&s.data_dir, backend.clone(), &[]);
    let (st, _) = get(&s2.client(), &s2.url("/healthz"), None).await;
    assert_eq!(st, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_loses_no_acknowledged_audit_record() {
    for b in Backend::all().await {
        crash_once(b).await;
    }
}
