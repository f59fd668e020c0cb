//! Durable audit appends per second: 64 concurrent appenders, each awaiting
//! its append (acknowledged only after COMMIT, `synchronous=FULL` on SQLite),
//! on SQLite in a temporary file and, when `SEKIMORI_TEST_POSTGRES_URL` is
//! set, on PostgreSQL. Goal: ≥ 5,000/s on SQLite with group commit.
//!
//! `cargo bench -p sekimori-store --bench audit_append`

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;

use sekimori_audit::AuditEvent;
use sekimori_store::{AuditCtx, AuditRepo, Store};

const APPENDERS: u64 = 64;
const PER_APPENDER: u64 = 16;

async fn round(store: &Store) {
    let tasks = (0..APPENDERS).map(|a| {
        let s = store.clone();
        tokio::spawn(async move {
            for i in 0..PER_APPENDER {
                let event =
                    AuditEvent::AuditExported { format: "bench".into(), records: a * 1000 + i };
                s.append(&AuditCtx::system(), event).await.expect("append");
            }
        })
    });
    for r in join_all(tasks).await {
        r.expect("appender task");
    }
}

fn audit_append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut stores = vec![rt.block_on(sekimori_test_support::sqlite())];
    if let Some(pg) = rt.block_on(sekimori_test_support::postgres()) {
        stores.push(pg);
    }
    let mut group = c.benchmark_group("audit_append");
    group.throughput(Throughput::Elements(APPENDERS * PER_APPENDER));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for t in &stores {
        let name = t.backend().as_str();
        group.bench_function(BenchmarkId::new("durable_64_appenders", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        round(&t.store).await;
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
    drop(stores);
}

criterion_group!(benches, audit_append);
criterion_main!(benches);
