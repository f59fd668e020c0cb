//! The single writer of a [`Store`](crate::Store): every mutation is a job
//! sent to one task that commits them in groups.
//!
//! A batch is one transaction that holds the database write lock (SQLite
//! `BEGIN IMMEDIATE`; PostgreSQL `SELECT … FOR UPDATE` on the chain head), so
//! another process writing to the same database (the CLI while the server
//! runs, a second server on PostgreSQL) serialises with it. Each job runs in
//! its own savepoint: a failing job (a unique violation, a refused
//! precondition) is rolled back alone and gets its own error, and its audit
//! entries are dropped with it (a job alone in its batch runs without a
//! savepoint: if it fails, the whole transaction is rolled back instead,
//! with the same effect and two statements fewer). The audit entries of the
//! jobs that succeeded are chained onto the head read inside the
//! transaction, the head is re-signed once per batch, and only after
//! `COMMIT` returns is any job acknowledged. If the batch fails, no job of it is acknowledged as done.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::AnyConnection;
use sqlx::{AnyPool, AssertSqlSafe, Connection};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use sekimori_audit::{
    AuditEvent, Entry, Hash, InstanceKey, StoredRecord, checkpoint_due, log_appended,
};
use sekimori_types::SharedClock;

use crate::row::{Cols, micros, seq_to_db};
use crate::{AuditCtx, Backend, StoreError};

/// Most rows in one multi-row `INSERT` of audit records.
const INSERT_CHUNK: usize = 64;

/// The transaction a job runs in: its connection (inside the job's
/// savepoint), the batch time, and the audit entries it appends.
pub(crate) struct WriteTx<'t> {
    conn: &'t mut AnyConnection,
    backend: Backend,
    entries: Vec<Entry>,
    now: OffsetDateTime,
}

impl<'t> WriteTx<'t> {
    fn new(conn: &'t mut AnyConnection, backend: Backend, now: OffsetDateTime) -> Self {
        Self { conn, backend, entries: Vec::new(), now }
    }

    /// Which database the transaction is on.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection, inside this job's savepoint.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.conn
    }

    /// The time of this job (from the store's clock), also the audit time.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.now
    }

    /// [`Self::now`] in stored form.
    pub(crate) fn now_micros(&self) -> i64 {
        micros(self.now)
    }

    /// Appends an audit entry, committed with this job's changes or not at all.
    pub(crate) fn audit(&mut self, ctx: &AuditCtx, event: AuditEvent) {
        self.entries.push(Entry { actor: ctx.actor.clone(), event });
    }

    fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}

/// A queued write, with its type erased.
pub(crate) trait Job: Send {
    /// Whether the job runs SQL of its own (and so needs a savepoint).
    fn uses_sql(&self) -> bool;
    /// Runs the job; `false` if it failed (its result holds the error).
    fn run<'c, 't>(&'c mut self, tx: &'c mut WriteTx<'t>) -> BoxFuture<'c, bool>
    where
        't: 'c;
    /// Acknowledges the job after the batch: `Ok(last seq appended by the
    /// job)` once committed, or the batch's error.
    fn finish(self: Box<Self>, outcome: Result<Option<u64>, &Arc<StoreError>>);
}

/// A job whose closure computes a `T`.
pub(crate) struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> TypedJob<T, F> {
    pub(crate) fn new(f: F, reply: oneshot::Sender<Result<T, StoreError>>) -> Self {
        Self { f: Some(f), result: None, reply }
    }
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: for<'c, 't> FnOnce(&'c mut WriteTx<'t>) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
{
    fn uses_sql(&self) -> bool {
        true
    }

    fn run<'c, 't>(&'c mut self, tx: &'c mut WriteTx<'t>) -> BoxFuture<'c, bool>
    where
        't: 'c,
    {
        let Some(f) = self.f.take() else {
            self.result = Some(Err(StoreError::Unavailable(None)));
            return Box::pin(async { false });
        };
        let fut = f(tx);
        Box::pin(async move {
            let r = fut.await;
            let ok = r.is_ok();
            self.result = Some(r);
            ok
        })
    }

    fn finish(self: Box<Self>, outcome: Result<Option<u64>, &Arc<StoreError>>) {
        let r = match outcome {
            Err(e) => Err(StoreError::Unavailable(Some(Arc::clone(e)))),
            Ok(_) => self.result.unwrap_or(Err(StoreError::Unavailable(None))),
        };
        // The caller may have stopped waiting; the write stands regardless.
        let _ = self.reply.send(r);
    }
}

/// A plain audit append: no SQL of its own, so no savepoint.
pub(crate) struct AppendJob {
    entries: Vec<Entry>,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

impl AppendJob {
    pub(crate) fn new(
        entries: Vec<Entry>,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    ) -> Self {
        Self { entries, reply }
    }
}

impl Job for AppendJob {
    fn uses_sql(&self) -> bool {
        false
    }

    fn run<'c, 't>(&'c mut self, tx: &'c mut WriteTx<'t>) -> BoxFuture<'c, bool>
    where
        't: 'c,
    {
        tx.entries.append(&mut self.entries);
        Box::pin(async { true })
    }

    fn finish(self: Box<Self>, outcome: Result<Option<u64>, &Arc<StoreError>>) {
        let r = match outcome {
            Ok(Some(seq)) => Ok(seq),
            Ok(None) => Err(StoreError::invalid("event", "empty")),
            Err(e) => Err(StoreError::Unavailable(Some(Arc::clone(e)))),
        };
        let _ = self.reply.send(r);
    }
}

/// What the writer task receives.
pub(crate) enum Msg {
    Job(Box<dyn Job>),
    /// Flush everything queued, stop, and acknowledge.
    Close(oneshot::Sender<()>),
}

/// The writer task's state.
pub(crate) struct Writer {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) clock: SharedClock,
    pub(crate) key: Arc<InstanceKey>,
    pub(crate) max_batch: usize,
}

/// The chain position while a batch is built.
#[derive(Clone, Copy)]
struct Head {
    seq: u64,
    hash: Hash,
}

/// A record appended by a batch, and its entry for the log line after commit.
struct Appended {
    record: StoredRecord,
    entry: Entry,
}

impl Writer {
    /// Runs until every [`crate::Store`] handle is gone or closed, then
    /// flushes what is queued and returns.
    pub(crate) async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let mut closers = Vec::new();
        let mut batch: Vec<Box<dyn Job>> = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Job(job) => batch.push(job),
                    Msg::Close(ack) => {
                        // Refuse new writes; what is already queued still runs.
                        rx.close();
                        closers.push(ack);
                    }
                }
                if batch.len() < self.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit_batch(std::mem::take(&mut batch)).await;
            }
        }
        self.pool.close().await;
        for ack in closers {
            let _ = ack.send(());
        }
    }

    async fn commit_batch(&self, mut jobs: Vec<Box<dyn Job>>) {
        let mut last_seqs = vec![None; jobs.len()];
        match self.run_batch(&mut jobs, &mut last_seqs).await {
            Ok(appended) => {
                for a in &appended {
                    log_appended(&a.record, &a.entry);
                }
                for (job, last) in jobs.into_iter().zip(last_seqs) {
                    job.finish(Ok(last));
                }
            }
            Err(error) => {
                tracing::error!(
                    message = "Write batch failed; nothing of it was committed.",
                    error = %ErrorChain(&error),
                    jobs = jobs.len(),
                );
                let error = Arc::new(error);
                for job in jobs {
                    job.finish(Err(&error));
                }
            }
        }
    }

    async fn run_batch(
        &self,
        jobs: &mut [Box<dyn Job>],
        last_seqs: &mut [Option<u64>],
    ) -> Result<Vec<Appended>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with(self.backend.begin_write_sql()).await?;

        let row = sqlx::query(self.backend.lock_head_sql())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::corrupt("audit_head", "id", "head row missing"))?;
        let cols = Cols::new(&row, "audit_head");
        let start = Head {
            seq: cols.u64("seq")?,
            hash: Hash::from_slice(&cols.bytes("hash")?)
                .ok_or_else(|| StoreError::corrupt("audit_head", "hash", "not 32 bytes"))?,
        };
        let mut head = start;
        let mut appended = Vec::new();
        // A job alone in its batch needs no savepoint (two statements
        // fewer): if it fails, the whole transaction is rolled back, which
        // undoes exactly what its savepoint would have.
        let alone = jobs.len() == 1;

        for (job, last_seq) in jobs.iter_mut().zip(last_seqs.iter_mut()) {
            let now = self.clock.now();
            let entries = if job.uses_sql() && alone {
                let mut wtx = WriteTx::new(&mut tx, self.backend, now);
                let ok = run_job(job.as_mut(), &mut wtx).await;
                let entries = wtx.into_entries();
                if !ok {
                    tx.rollback().await?;
                    return Ok(Vec::new());
                }
                entries
            } else if job.uses_sql() {
                let mut sp = Connection::begin(&mut *tx).await?;
                let mut wtx = WriteTx::new(&mut sp, self.backend, now);
                let ok = run_job(job.as_mut(), &mut wtx).await;
                let entries = wtx.into_entries();
                if ok {
                    sp.commit().await?;
                    entries
                } else {
                    sp.rollback().await?;
                    continue;
                }
            } else {
                let mut wtx = WriteTx::new(&mut tx, self.backend, now);
                if !job.run(&mut wtx).await {
                    continue;
                }
                wtx.into_entries()
            };
            let ts = micros(now);
            for entry in entries {
                let Some(seq) = head.seq.checked_add(1) else {
                    return Err(StoreError::corrupt("audit_head", "seq", "exhausted"));
                };
                let record = StoredRecord::seal(seq, ts, &entry, head.hash);
                head = Head { seq, hash: record.hash };
                *last_seq = Some(seq);
                appended.push(Appended { record, entry });
            }
        }

        if head.seq != start.seq {
            for chunk in appended.chunks(INSERT_CHUNK) {
                insert_records(&mut tx, chunk).await?;
            }
            let now = micros(self.clock.now());
            for a in &appended {
                if checkpoint_due(a.record.seq) {
                    let cp = self.key.sign_checkpoint(a.record.seq, a.record.hash, now);
                    sqlx::query(
                        "INSERT INTO audit_checkpoints (seq, hash, ts, signature) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(seq_to_db(cp.seq)?)
                    .bind(cp.hash.0.to_vec())
                    .bind(cp.ts_micros)
                    .bind(cp.signature)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let cp = self.key.sign_checkpoint(head.seq, head.hash, now);
            let done = sqlx::query(
                "UPDATE audit_head SET seq = $1, hash = $2, ts = $3, signature = $4 WHERE id = 1",
            )
            .bind(seq_to_db(cp.seq)?)
            .bind(cp.hash.0.to_vec())
            .bind(cp.ts_micros)
            .bind(cp.signature)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::corrupt("audit_head", "id", "head row missing"));
            }
        }

        tx.commit().await?;
        Ok(appended)
    }
}

/// Runs a job; `false` if it failed. A panicking job is a failed job (its
/// caller gets `Unavailable`), not a dead writer.
async fn run_job(job: &mut dyn Job, wtx: &mut WriteTx<'_>) -> bool {
    AssertUnwindSafe(job.run(wtx)).catch_unwind().await.unwrap_or_else(|_| {
        tracing::error!(message = "A write job panicked; it was rolled back.");
        false
    })
}

async fn insert_records(conn: &mut AnyConnection, chunk: &[Appended]) -> Result<(), StoreError> {
    let mut sql =
        String::from("INSERT INTO audit_records (seq, ts, body, prev_hash, hash) VALUES ");
    for i in 0..chunk.len() {
        let b = i * 5;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5));
    }
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for a in chunk {
        let r = &a.record;
        q = q
            .bind(seq_to_db(r.seq)?)
            .bind(r.ts_micros)
            .bind(r.body.clone())
            .bind(r.prev_hash.0.to_vec())
            .bind(r.hash.0.to_vec());
    }
    q.execute(conn).await?;
    Ok(())
}

/// An error and its sources on one line: `a: b: c`.
struct ErrorChain<'e>(&'e (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}
