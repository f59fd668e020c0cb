//! The records of tunnelled connections, written in groups.
//!
//! Every connection has two records: its start (`TunnelOpened`) and its end
//! (`TunnelClosed`). Written one store job each, they cost two transactions
//! per connection, and on this machine those transactions, not the
//! gateway's decision, were most of an opening's CPU. So the gateway hands
//! them to one task, [`RecordLog`], which gathers what arrives within
//! [`crate::GatewayConfig::record_delay`] and writes it as one job
//! (`TunnelRepo::record_tunnel_sessions`: the new rows in one statement,
//! each end of a row written before in one). A
//! connection that ended before its start was written (most short ones) is
//! written as one row.
//!
//! What stays as it was with one job per record:
//! - **fail closed**: a connection whose start cannot be written is killed
//!   (`CloseReason::Error`), as soon as its job fails;
//! - **start before end**: an end is written only after its start was, in
//!   the same statement or a later job; the end of a connection whose start
//!   failed is not written;
//! - an end that failed because the store was unavailable is retried
//!   (bounded), and the connection stays in the registry (its slot held,
//!   shutdown waiting) until its end is written or given up;
//! - every record is in the audit chain, written by the store's writer.
//!
//! The task handles its messages one at a time, so the order in which the
//! gateway sent them is the order in which they are looked at: an end never
//! overtakes its start.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::Instant;

use sekimori_store::{
    AuditCtx, NewTunnelSession, Store, StoreError, TunnelRecord, TunnelRepo, TunnelSessionEnd,
};
use sekimori_types::{CloseReason, TunnelSessionId};

use crate::live::LiveConn;

/// Most records in one job (the rest wait for the next).
const MAX_RECORDS: usize = 512;

/// Attempts at writing an end while the store is unavailable.
const END_ATTEMPTS: u32 = 8;

/// First wait before retrying an end; doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What the gateway tells the record task.
enum Msg {
    /// A connection was authorised and connected at `at`.
    Opened { new: NewTunnelSession, at: OffsetDateTime, conn: Arc<LiveConn> },
    /// It ended at `at`; `done` is dropped once its end is written (or the
    /// end is given up).
    Ended { id: TunnelSessionId, end: TunnelSessionEnd, at: OffsetDateTime, done: Done },
}

/// Something to drop once a connection's end is written: the gateway's
/// registry entry and slot of the connection.
pub(crate) type Done = Box<dyn Send>;

/// The gateway's handle on the record task. Sending never waits: each
/// connection sends at most two messages, so the queue is bounded by the
/// gateway's connection limit.
#[derive(Debug, Clone)]
pub(crate) struct RecordLog {
    tx: mpsc::UnboundedSender<Msg>,
}

impl RecordLog {
    /// Starts the task writing to `store`, gathering for `delay` (zero:
    /// write what is there at once). Runs until every handle is dropped,
    /// then writes what it holds. Must be called inside a Tokio runtime.
    pub(crate) fn start(store: Store, delay: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            store,
            delay,
            rx,
            batch: Vec::new(),
            unwritten: HashMap::new(),
            written: HashSet::new(),
            retry: Vec::new(),
        };
        tokio::spawn(task.run());
        Self { tx }
    }

    /// Records that a connection opened at `at`. If that record cannot be
    /// written, `conn` is killed.
    pub(crate) fn opened(&self, new: NewTunnelSession, at: OffsetDateTime, conn: Arc<LiveConn>) {
        if let Err(mpsc::error::SendError(Msg::Opened { conn, .. })) =
            self.tx.send(Msg::Opened { new, at, conn })
        {
            tracing::error!(message = "Tunnelled connection closed: could not record it (record task gone).", session = %conn.id);
            conn.kill.kill(CloseReason::Error);
        }
    }

    /// Records that connection `id` ended at `at`; drops `done` once the
    /// end is written or given up.
    pub(crate) fn ended(
        &self,
        id: TunnelSessionId,
        end: TunnelSessionEnd,
        at: OffsetDateTime,
        done: Done,
    ) {
        if self.tx.send(Msg::Ended { id, end, at, done }).is_err() {
            tracing::error!(message = "Could not record the end of a tunnelled connection (record task gone).", session = %id);
        }
    }
}

/// One record waiting to be written, with what its outcome acts on.
struct Pending {
    record: TunnelRecord,
    /// A start's connection: killed if the start cannot be written.
    conn: Option<Arc<LiveConn>>,
    /// An end's: dropped once written or given up.
    done: Option<Done>,
    /// Failed attempts at an end so far.
    failures: u32,
}

/// An end waiting for its next attempt.
struct Retry {
    pending: Pending,
    due: Instant,
}

struct Task {
    store: Store,
    delay: Duration,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// Records gathered for the next job.
    batch: Vec<Pending>,
    /// Starts in `batch`, by connection: where its end joins it.
    unwritten: HashMap<TunnelSessionId, usize>,
    /// Connections whose start is written and whose end has not come yet.
    written: HashSet<TunnelSessionId>,
    /// Ends that failed while the store was unavailable.
    retry: Vec<Retry>,
}

impl Task {
    async fn run(mut self) {
        loop {
            // Wait for the first record, or for an end's retry to be due.
            let next_retry = self.retry.iter().map(|r| r.due).min();
            let first = match next_retry {
                Some(due) => tokio::select! {
                    m = self.rx.recv() => m.map(Some),
                    () = tokio::time::sleep_until(due) => Some(None),
                },
                None => self.rx.recv().await.map(Some),
            };
            let Some(first) = first else { break };
            if let Some(m) = first {
                self.accept(m);
                // Gather: without polling the queue, so that what arrives
                // meanwhile wakes no one.
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
            }
            while self.batch.len() < MAX_RECORDS {
                match self.rx.try_recv() {
                    Ok(m) => self.accept(m),
                    Err(_) => break,
                }
            }
            self.take_due_retries(false);
            self.write().await;
        }
        // Every handle is gone (the gateway is): write what is left, retries
        // included, once more.
        self.take_due_retries(true);
        while !self.batch.is_empty() {
            self.write().await;
        }
    }

    /// Takes one message into the batch.
    fn accept(&mut self, m: Msg) {
        match m {
            Msg::Opened { new, at, conn } => {
                self.unwritten.insert(new.id, self.batch.len());
                let record = TunnelRecord::Opened { new, at };
                self.batch.push(Pending { record, conn: Some(conn), done: None, failures: 0 });
            }
            Msg::Ended { id, end, at, done } => {
                if let Some(i) = self.unwritten.remove(&id) {
                    // Its start is not written yet: one row for both.
                    if let Some(p) = self.batch.get_mut(i)
                        && let TunnelRecord::Opened { new, at: opened_at } = &p.record
                    {
                        p.record = TunnelRecord::OpenedAndEnded {
                            new: new.clone(),
                            opened_at: *opened_at,
                            end,
                            ended_at: at,
                        };
                        // It is over: nothing left to kill.
                        p.conn = None;
                        p.done = Some(done);
                    }
                } else if self.written.remove(&id) {
                    let record = TunnelRecord::Ended { id, end, at };
                    self.batch.push(Pending { record, conn: None, done: Some(done), failures: 0 });
                } else {
                    // Its start could not be written: no end without a start.
                    tracing::debug!(message = "End of an unrecorded connection not written.", session = %id);
                }
            }
        }
    }

    /// Moves the retries that are due (or all of them) into the batch.
    fn take_due_retries(&mut self, all: bool) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.retry).into_iter().partition(|r| all || r.due <= now);
        self.retry = later;
        self.batch.extend(due.into_iter().map(|r| r.pending));
    }

    /// Writes the batch as one job and acts on each record's outcome.
    async fn write(&mut self) {
        self.unwritten.clear();
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() {
            return;
        }
        let records = batch.iter().map(|p| p.record.clone()).collect();
        match self.store.record_tunnel_sessions(&AuditCtx::system(), records).await {
            Ok(results) => {
                for (p, r) in batch.into_iter().zip(results) {
                    self.written_one(p, r);
                }
            }
            Err(error) => {
                tracing::warn!(message = "Could not write tunnel session records.", %error, records = batch.len());
                for p in batch {
                    self.failed_one(p, &error);
                }
            }
        }
    }

    /// One record of a job that committed: written, or refused alone.
    fn written_one(&mut self, p: Pending, r: Result<(), StoreError>) {
        let id = p.record.id();
        match (&p.record, r) {
            (TunnelRecord::Opened { .. }, Ok(())) => {
                self.written.insert(id);
            }
            (TunnelRecord::Opened { .. }, Err(error)) => {
                tracing::error!(message = "Tunnelled connection closed: could not record it.", session = %id, %error);
                if let Some(conn) = &p.conn {
                    conn.kill.kill(CloseReason::Error);
                }
            }
            (_, Ok(())) => {}
            // Already ended (a retry of an end that was written after all).
            (TunnelRecord::Ended { .. }, Err(StoreError::Invalid(_))) => {}
            (_, Err(error)) => {
                tracing::error!(message = "Could not record a tunnelled connection.", session = %id, %error);
            }
        }
    }

    /// One record of a job that failed as a whole.
    fn failed_one(&mut self, mut p: Pending, error: &StoreError) {
        let id = p.record.id();
        match &p.record {
            TunnelRecord::Opened { .. } => {
                tracing::error!(message = "Tunnelled connection closed: could not record it.", session = %id, %error);
                if let Some(conn) = &p.conn {
                    conn.kill.kill(CloseReason::Error);
                }
            }
            TunnelRecord::Ended { .. } => {
                p.failures += 1;
                if p.failures >= END_ATTEMPTS {
                    // After that, the next start closes it as interrupted.
                    tracing::error!(message = "Gave up recording the end of a tunnelled connection.", session = %id, %error);
                    return;
                }
                let wait = RETRY_FIRST.saturating_mul(1 << (p.failures - 1).min(16)).min(RETRY_MAX);
                self.retry.push(Retry { pending: p, due: Instant::now() + wait });
            }
            TunnelRecord::OpenedAndEnded { .. } => {
                // Over before its start could be written: as a connection
                // whose start failed, nothing of it is written.
                tracing::error!(message = "Could not record a tunnelled connection.", session = %id, %error);
            }
        }
    }
}
