//! The audit chain on every backend: atomic with mutations, gap-free under
//! concurrency and across processes, durable across restarts, and
//! tamper-evident: any change to the stored rows makes verification fail at
//! the right record.

mod common;

use futures::future::join_all;
use futures::{FutureExt, TryStreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sqlx::AnyPool;

use common::*;
use sekimori_audit::{
    AuditEvent, CHECKPOINT_INTERVAL, Entry, FailureKind, StoredRecord, VerifyFailure,
};
use sekimori_store::{AuditCtx, AuditRepo, CredentialRepo, Store, StoreError, UserRepo, ZoneRepo};
use sekimori_test_support::{TestStore, each_backend};
use sekimori_types::Role;

/// An event whose body is unique to `i`.
fn event(i: u64) -> AuditEvent {
    AuditEvent::AuditExported { format: format!("test-{i}"), records: i }
}

async fn append_n(s: &Store, from: u64, n: u64) {
    let results = join_all((from..from + n).map(|i| {
        let s = s.clone();
        async move { s.append(&AuditCtx::system(), event(i)).await }
    }))
    .await;
    for r in results {
        r.unwrap();
    }
}

#[tokio::test]
async fn append_head_records_and_pages() {
    for t in each_backend().await {
        let s = &t.store;
        assert_eq!(s.audit_head().await.unwrap(), None);
        assert_eq!(assert_verifies(&t).await, 0, "the empty log verifies");
        for i in 1..=5 {
            assert_eq!(s.append(&AuditCtx::system(), event(i)).await.unwrap(), i);
        }
        let head = s.audit_head().await.unwrap().unwrap();
        assert_eq!(head.seq, 5);
        assert!(head.verify(&t.key.public_key()));
        let page = s.audit_records(2, 2).await.unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            page[0].entry().unwrap(),
            Entry { actor: sekimori_audit::Actor::System, event: event(2) }
        );
        assert_eq!(page[1].hash, s.audit_records(3, 1).await.unwrap()[0].hash);
        assert_eq!(page[1].prev_hash, page[0].hash);
        assert_eq!(
            s.audit_records(1, 1).await.unwrap()[0].ts_micros,
            sekimori_types::to_micros(sekimori_test_support::test_epoch())
        );

        let snap = s.audit_snapshot().await.unwrap();
        assert_eq!(snap.head, Some(head));
        let all: Vec<StoredRecord> = snap.records.try_collect().await.unwrap();
        assert_eq!(all, s.audit_records(1, 100).await.unwrap(), "{:?}", t.backend());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_checkpoints_are_written() {
    for t in each_backend().await {
        let s = &t.store;
        let n = CHECKPOINT_INTERVAL + 50;
        append_n(s, 1, n).await;
        let cps = s.audit_checkpoints().await.unwrap();
        assert_eq!(cps.len(), 1, "{:?}", t.backend());
        assert_eq!(cps[0].seq, CHECKPOINT_INTERVAL);
        assert!(cps[0].verify(&t.key.public_key()));
        let report = s.verify_audit(&t.key.public_key()).await.unwrap().unwrap();
        assert_eq!((report.records, report.checkpoints_checked), (n, 1));
        let snap = s.audit_snapshot().await.unwrap();
        assert_eq!(snap.checkpoints, cps);
        let count = snap.records.try_fold(0u64, |n, _| async move { Ok(n + 1) }).await.unwrap();
        assert_eq!(count, n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_mutations_leave_no_record_and_no_gap() {
    for t in each_backend().await {
        let s = &t.store;
        // Many creations in flight at once, so batches mix successes and
        // unique violations: each failing request is rolled back alone.
        let results = join_all((0..60).map(|i| {
            let s = s.clone();
            async move {
                let name = format!("user{}", i % 20);
                s.create_user(&admin_ctx(), &new_user(&name, Role::Auditor), PHC).await
            }
        }))
        .await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 20, "{:?}", t.backend());
        assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(StoreError::Conflict { .. }))));
        assert_eq!(assert_verifies(&t).await, 20);
        assert_eq!(s.list_users().await.unwrap().len(), 20);
        let created = events(s).await.into_iter().filter(|e| e.kind() == "user_created").count();
        assert_eq!(created, 20);
    }
}

#[tokio::test]
async fn a_failing_job_alone_in_its_batch_gets_its_own_error_and_leaves_nothing() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        // One request at a time: each is alone in its batch, so it runs
        // without a savepoint and a failure rolls back the transaction.
        s.create_user(&admin_ctx(), &new_user("alone", Role::Auditor), PHC).await.unwrap();
        let before = assert_verifies(&t).await;
        let err = s.create_user(&admin_ctx(), &new_user("alone", Role::Auditor), PHC).await;
        assert!(matches!(err, Err(StoreError::Conflict { .. })), "{b:?}: {err:?}");
        assert_eq!(assert_verifies(&t).await, before, "{b:?}");
        // The writer goes on: the next job commits and chains on.
        s.create_user(&admin_ctx(), &new_user("next", Role::Auditor), PHC).await.unwrap();
        assert_eq!(assert_verifies(&t).await, before + 1, "{b:?}");
        assert_eq!(s.list_users().await.unwrap().len(), 2, "{b:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_produce_one_gap_free_chain() {
    for t in each_backend().await {
        let s = &t.store;
        let tasks = (0..64u64).map(|task| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..10 {
                    seqs.push(s.append(&AuditCtx::system(), event(task * 100 + i)).await.unwrap());
                }
                s.create_zone(&admin_ctx(), &zone_spec(&format!("zone {task}"))).await.unwrap();
                seqs
            })
        });
        let mut seqs: Vec<u64> =
            join_all(tasks).await.into_iter().flat_map(|r| r.unwrap()).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 640, "every append got its own seq");
        assert_eq!(assert_verifies(&t).await, 704, "{:?}", t.backend());
        let all = s.audit_records(1, 10_000).await.unwrap();
        assert!(all.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_the_chain() {
    for mut t in each_backend().await {
        append_n(&t.store, 1, 10).await;
        let user =
            t.store.create_user(&admin_ctx(), &new_user("zoe", Role::Admin), PHC).await.unwrap();
        t.reopen().await;
        assert_eq!(head_seq(&t.store).await, 11);
        assert_eq!(t.store.user(user.id).await.unwrap(), user);
        append_n(&t.store, 100, 10).await;
        assert_eq!(assert_verifies(&t).await, 21, "{:?}", t.backend());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_flushes_queued_writes_then_refuses_more() {
    for t in each_backend().await {
        let s = t.store.clone();
        // Queue 50 appends whose callers stop waiting right away: queued
        // writes are committed all the same.
        for i in 0..50 {
            assert!(s.append(&AuditCtx::system(), event(i)).now_or_never().is_none());
        }
        t.store.close().await;
        assert!(matches!(
            s.append(&AuditCtx::system(), event(999)).await,
            Err(StoreError::Unavailable(_))
        ));
        let other = t.open_another().await;
        assert_eq!(head_seq(&other).await, 50, "{:?}", t.backend());
        let report = other.verify_audit(&t.key.public_key()).await.unwrap().unwrap();
        assert_eq!(report.records, 50);
        other.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_store_on_the_same_database_shares_one_chain() {
    for t in each_backend().await {
        // As the CLI would while the server runs: its own writer, same database.
        let cli = t.open_another().await;
        let u =
            t.store.create_user(&admin_ctx(), &new_user("kai", Role::Admin), PHC).await.unwrap();
        t.store.enrol_totp(&admin_ctx(), u.id, b"0123456789abcdefghij", 1, &[]).await.unwrap();
        let stores = [t.store.clone(), cli.clone()];
        let tasks = (0..32u64).map(|i| {
            let s = stores[(i % 2) as usize].clone();
            tokio::spawn(async move {
                for j in 0..8 {
                    s.append(&AuditCtx::cli("ops"), event(i * 10 + j)).await.unwrap();
                }
            })
        });
        for r in join_all(tasks).await {
            r.unwrap();
        }
        assert_eq!(assert_verifies(&t).await, 2 + 256, "{:?}", t.backend());

        // A TOTP step raced through two writers is still accepted once.
        let wins = join_all((0..16).map(|i| {
            let s = stores[i % 2].clone();
            async move { s.consume_totp_step(u.id, 99).await.unwrap() }
        }))
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{:?}", t.backend());
        cli.close().await;
    }
}

// ---------------------------------------------------------------------------
// Tampering.

/// A change made behind the store's back.
#[derive(Debug, Clone)]
enum Tamper {
    /// `UPDATE audit_records SET <column> = <value> WHERE seq = k`.
    Record { seq: u64, change: Change },
    /// Delete record `seq`.
    Delete { seq: u64 },
    /// Exchange the bodies of two records.
    SwapBodies { a: u64, b: u64 },
    /// Exchange everything but `seq` between two records (reordering).
    SwapRows { a: u64, b: u64 },
    /// Corrupt the periodic checkpoint.
    Checkpoint(CheckpointChange),
    /// Corrupt the head.
    Head(CheckpointChange),
    /// Append a correctly chained but unsigned record after the head.
    AppendForged,
}

#[derive(Debug, Clone)]
enum Change {
    TsPlus(i64),
    BodyByte(usize),
    BodyAsBlob,
    PrevHash(Vec<u8>),
    Hash(Vec<u8>),
    SeqTo(i64),
}

#[derive(Debug, Clone)]
enum CheckpointChange {
    Signature(usize),
    Hash(Vec<u8>),
    TsPlus(i64),
    Delete,
}

const N: u64 = CHECKPOINT_INTERVAL + 40;

fn tamper_strategy() -> impl Strategy<Value = Tamper> {
    let seq = 1..=N;
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 32),
        prop::collection::vec(any::<u8>(), 0..32),
        prop::collection::vec(any::<u8>(), 33..40),
    ];
    let change = prop_oneof![
        (1i64..1_000_000).prop_map(Change::TsPlus),
        (0usize..60).prop_map(Change::BodyByte),
        Just(Change::BodyAsBlob),
        bytes.clone().prop_map(Change::PrevHash),
        bytes.clone().prop_map(Change::Hash),
        prop_oneof![Just(-1i64), Just(0i64), (N as i64 + 1..N as i64 + 1000)]
            .prop_map(Change::SeqTo),
    ];
    let cp = prop_oneof![
        (0usize..64).prop_map(CheckpointChange::Signature),
        prop::collection::vec(any::<u8>(), 32).prop_map(CheckpointChange::Hash),
        (1i64..1000).prop_map(CheckpointChange::TsPlus),
        Just(CheckpointChange::Delete),
    ];
    prop_oneof![
        4 => (seq.clone(), change).prop_map(|(seq, change)| Tamper::Record { seq, change }),
        2 => seq.clone().prop_map(|seq| Tamper::Delete { seq }),
        1 => Just(Tamper::Delete { seq: N }),
        1 => (seq.clone(), seq.clone())
            .prop_filter("two records", |(a, b)| a != b)
            .prop_map(|(a, b)| Tamper::SwapBodies { a: a.min(b), b: a.max(b) }),
        1 => (seq.clone(), seq)
            .prop_filter("two records", |(a, b)| a != b)
            .prop_map(|(a, b)| Tamper::SwapRows { a: a.min(b), b: a.max(b) }),
        1 => cp.clone().prop_map(Tamper::Checkpoint),
        1 => cp.prop_map(Tamper::Head),
        1 => Just(Tamper::AppendForged),
    ]
}

async fn record(pool: &AnyPool, seq: u64) -> StoredRecord {
    let row: (i64, String, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT ts, body, prev_hash, hash FROM audit_records WHERE seq = $1")
            .bind(seq as i64)
            .fetch_one(pool)
            .await
            .unwrap();
    StoredRecord {
        seq,
        ts_micros: row.0,
        body: row.1,
        prev_hash: sekimori_audit::Hash::from_slice(&row.2).unwrap(),
        hash: sekimori_audit::Hash::from_slice(&row.3).unwrap(),
    }
}

/// Applies `tamper`; returns the seq verification must fail at, or `None`
/// if the change turned out to be no change (it must then still verify).
async fn apply(t: &TestStore, pool: &AnyPool, tamper: &Tamper) -> Option<u64> {
    let sqlite = t.backend() == sekimori_store::Backend::Sqlite;
    match tamper {
        Tamper::Record { seq, change } => {
            let before = record(pool, *seq).await;
            let q = |sql: &'static str| sqlx::query(sql);
            let k = *seq as i64;
            match change {
                Change::TsPlus(d) => {
                    q("UPDATE audit_records SET ts = ts + $1 WHERE seq = $2")
                        .bind(*d)
                        .bind(k)
                        .execute(pool)
                        .await
                        .unwrap();
                }
                Change::BodyByte(i) => {
                    let mut body = before.body.clone().into_bytes();
                    let i = i % body.len();
                    body[i] = if body[i] == b'x' { b'y' } else { b'x' };
                    let body = String::from_utf8(body).unwrap();
                    q("UPDATE audit_records SET body = $1 WHERE seq = $2")
                        .bind(body)
                        .bind(k)
                        .execute(pool)
                        .await
                        .unwrap();
                }
                Change::BodyAsBlob => {
                    if !sqlite {
                        return None; // PostgreSQL's TEXT cannot hold a blob.
                    }
                    q("UPDATE audit_records SET body = CAST(body AS BLOB) || X'ff' WHERE seq = $1")
                        .bind(k)
                        .execute(pool)
                        .await
                        .unwrap();
                }
                Change::PrevHash(v) => {
                    if v.as_slice() == before.prev_hash.0 {
                        return None;
                    }
                    q("UPDATE audit_records SET prev_hash = $1 WHERE seq = $2")
                        .bind(v.clone())
                        .bind(k)
                        .execute(pool)
                        .await
                        .unwrap();
                }
                Change::Hash(v) => {
                    if v.as_slice() == before.hash.0 {
                        return None;
                    }
                    q("UPDATE audit_records SET hash = $1 WHERE seq = $2")
                        .bind(v.clone())
                        .bind(k)
                        .execute(pool)
                        .await
                        .unwrap();
                }
                Change::SeqTo(to) => {
                    q("UPDATE audit_records SET seq = $1 WHERE seq = $2")
                        .bind(*to)
                        .bind(k)
                        .execute(pool)
                        .await
                        .unwrap();
                }
            }
            Some(*seq)
        }
        Tamper::Delete { seq } => {
            sqlx::query("DELETE FROM audit_records WHERE seq = $1")
                .bind(*seq as i64)
                .execute(pool)
                .await
                .unwrap();
            Some(*seq)
        }
        Tamper::SwapBodies { a, b } => {
            let (ra, rb) = (record(pool, *a).await, record(pool, *b).await);
            for (seq, body) in [(a, rb.body), (b, ra.body)] {
                sqlx::query("UPDATE audit_records SET body = $1 WHERE seq = $2")
                    .bind(body)
                    .bind(*seq as i64)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Some(*a)
        }
        Tamper::SwapRows { a, b } => {
            let (ra, rb) = (record(pool, *a).await, record(pool, *b).await);
            for (seq, r) in [(a, rb), (b, ra)] {
                sqlx::query("UPDATE audit_records SET ts = $1, body = $2, prev_hash = $3, hash = $4 WHERE seq = $5")
                    .bind(r.ts_micros).bind(r.body).bind(r.prev_hash.0.to_vec()).bind(r.hash.0.to_vec()).bind(*seq as i64)
                    .execute(pool).await.unwrap();
            }
            Some(*a)
        }
        Tamper::Checkpoint(c) | Tamper::Head(c) => {
            let (table, at) = match tamper {
                Tamper::Head(_) => ("audit_head", N),
                _ => ("audit_checkpoints", CHECKPOINT_INTERVAL),
            };
            let key = if table == "audit_head" { "id = 1" } else { "seq = 1024" };
            let sql =
                |set: &str| sqlx::AssertSqlSafe(format!("UPDATE {table} SET {set} WHERE {key}"));
            match c {
                CheckpointChange::Signature(i) => {
                    let sig: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT signature FROM {table} WHERE {key}"
                    )))
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    let mut sig = sig;
                    let i = i % sig.len();
                    sig[i] ^= 0x40;
                    sqlx::query(sql("signature = $1")).bind(sig).execute(pool).await.unwrap();
                }
                CheckpointChange::Hash(h) => {
                    sqlx::query(sql("hash = $1")).bind(h.clone()).execute(pool).await.unwrap();
                }
                CheckpointChange::TsPlus(d) => {
                    sqlx::query(sql("ts = ts + $1")).bind(*d).execute(pool).await.unwrap();
                }
                CheckpointChange::Delete => {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE {key}")))
                        .execute(pool)
                        .await
                        .unwrap();
                }
            }
            Some(at)
        }
        Tamper::AppendForged => {
            let last = record(pool, N).await;
            let entry = Entry { actor: sekimori_audit::Actor::System, event: event(0) };
            let forged = StoredRecord::seal(N + 1, last.ts_micros + 1, &entry, last.hash);
            sqlx::query("INSERT INTO audit_records (seq, ts, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5)")
                .bind((N + 1) as i64).bind(forged.ts_micros).bind(forged.body).bind(forged.prev_hash.0.to_vec()).bind(forged.hash.0.to_vec())
                .execute(pool).await.unwrap();
            Some(N + 1)
        }
    }
}

const TABLES: [&str; 3] = ["audit_records", "audit_checkpoints", "audit_head"];

async fn restore(t: &TestStore) {
    for table in TABLES {
        t.raw_execute(&format!(
            "DELETE FROM {table}; INSERT INTO {table} SELECT * FROM backup_{table}"
        ))
        .await;
    }
}

async fn verify(t: &TestStore) -> Result<u64, VerifyFailure> {
    t.store.verify_audit(&t.key.public_key()).await.unwrap().map(|r| r.records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_tampering_fails_verification_at_the_right_record() {
    for t in each_backend().await {
        append_n(&t.store, 1, N).await;
        assert_eq!(verify(&t).await, Ok(N), "an untouched log verifies");
        for table in TABLES {
            t.raw_execute(&format!("CREATE TABLE backup_{table} AS SELECT * FROM {table}")).await;
        }
        let pool = t.raw_pool().await;
        let backend = t.backend();
        let handle = tokio::runtime::Handle::current();
        let cases = if backend == sekimori_store::Backend::Sqlite { 96 } else { 48 };
        let mut runner =
            TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
        let result = runner.run(&tamper_strategy(), |tamper| {
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    let expected = apply(&t, &pool, &tamper).await;
                    let got = verify(&t).await;
                    restore(&t).await;
                    match expected {
                        None => prop_assert_eq!(got, Ok(N)),
                        Some(seq) => {
                            let failure = got.expect_err("tampered log verified");
                            prop_assert_eq!(failure.seq, seq, "{:?}: {:?}", backend, failure);
                            if let Tamper::Checkpoint(CheckpointChange::Delete) = tamper {
                                let missing =
                                    matches!(failure.kind, FailureKind::MissingCheckpoint { .. });
                                prop_assert!(missing, "{:?}", failure);
                            }
                        }
                    }
                    Ok::<(), TestCaseError>(())
                })
            })
        });
        if let Err(e) = result {
            panic!("{backend:?}: {e}");
        }
        assert_eq!(verify(&t).await, Ok(N), "restored");
        // A wrong key fails at the first checkpoint it meets.
        let (other, _) = sekimori_audit::InstanceKey::generate().unwrap();
        let f = t.store.verify_audit(&other.public_key()).await.unwrap().unwrap_err();
        assert!(matches!(f.kind, FailureKind::CheckpointSignatureInvalid { .. }), "{f:?}");
        pool.close().await;
    }
}
