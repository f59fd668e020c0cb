//! The store: repository traits ([`repo`]) and their one SQL implementation,
//! [`Store`], over SQLite (a file in the data directory, the default) and
//! PostgreSQL (for a hospital group or high availability), through
//! `sqlx::Any`.
//!
//! Both backends share the queries; only the migrations (one folder per
//! backend under `migrations/`) and a handful of statements
//! ([`Backend`]) differ. Columns use portable types only: BIGINT for
//! integers, Unix-microsecond times and 0/1 booleans; TEXT; BLOB/BYTEA.
//!
//! # Writes
//!
//! Every mutation runs on one writer task per [`Store`] that commits queued
//! requests in groups (see `writer.rs`): one transaction per batch, one
//! savepoint per request (none for a request alone in its batch), the audit
//! records of the requests chained onto the head read under the database
//! write lock, the head re-signed once per batch, and nothing acknowledged
//! before `COMMIT` returns. SQLite runs with
//! `journal_mode=WAL` and `synchronous=FULL`, so an acknowledged write
//! survives power loss. Reads use a separate pool of read-only connections.
//!
//! # Invariants
//!
//! - A mutation and its audit records commit together or not at all.
//! - The chain has no gaps, even with several processes writing.
//! - No secret (password hash, TOTP secret, token) appears in a log line or
//!   in `Debug` output of this crate's types.

#![warn(missing_docs)]

mod backend;
mod error;
mod model;
pub mod repo;
mod row;
mod sql;
mod writer;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe, ConnectOptions, Connection, Executor};
use tokio::sync::{mpsc, oneshot};

use sekimori_audit::{Entry, InstanceKey, PublicKey};
use sekimori_types::SharedClock;

pub use backend::Backend;
pub use error::StoreError;
pub use model::{
    AuditCtx, Challenge, ChallengeKind, Credentials, InstanceInfo, NewChallenge, NewSession,
    NewTunnelSession, RequestFilter, Session, ThrottleState, TotpCredential, TunnelAuthz,
    TunnelRecord, TunnelSessionEnd, TunnelSessionFilter, UserPatch,
};
pub use model::{
    ConversationBucket, ConversationFilter, ConversationRecord, InventoryAsset, InventoryFilter,
    MAX_OBSERVED_ADDRESSES, MAX_OBSERVED_NAMES, MAX_OBSERVED_TEXT, ObservedAsset, ObservedAssetId,
};
pub use repo::{
    AccessRepo, AssetRepo, AuditRepo, AuditSnapshot, CredentialRepo, MetaRepo, SessionRepo,
    ThrottleRepo, TunnelRepo, UserRepo, ZoneRepo,
};
pub use repo::{
    AdvisoryCounts, AdvisoryFiling, AdvisoryRepo, AdvisoryRow, AdvisoryWrite, AlertFilter,
    AlertRepo, FiledProduct, InventoryRepo, InventoryWrite, RaisedAlert,
};

use writer::{AppendJob, Msg, TypedJob, WriteTx, Writer};

/// How a [`Store`] is opened.
#[derive(Clone)]
pub struct StoreOptions {
    /// Where times come from (audit timestamps, `created_at`, expiry).
    pub clock: SharedClock,
    /// Signs the audit head and periodic checkpoints.
    pub instance_key: Arc<InstanceKey>,
    /// Size of the read-only connection pool.
    pub read_connections: u32,
    /// How long to wait for a connection or for another process's write
    /// lock (SQLite `busy_timeout`) before failing with `Unavailable`.
    pub lock_timeout: Duration,
    /// Most write requests committed in one transaction.
    pub max_batch: usize,
}

impl StoreOptions {
    /// Defaults: 8 read connections, 10 s lock timeout, batches of 512.
    pub fn new(clock: SharedClock, instance_key: Arc<InstanceKey>) -> Self {
        Self {
            clock,
            instance_key,
            read_connections: 8,
            lock_timeout: Duration::from_secs(10),
            max_batch: 512,
        }
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("clock", &self.clock)
            .field("instance_key", &self.instance_key)
            .field("read_connections", &self.read_connections)
            .field("lock_timeout", &self.lock_timeout)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// A handle to the database: cheap to clone, every clone sharing the read
/// pool and the writer task. Implements every trait of [`repo`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    read: AnyPool,
    writer: mpsc::Sender<Msg>,
    clock: SharedClock,
    public_key: PublicKey,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("Store").field("backend", &self.inner.backend).finish_non_exhaustive()
    }
}

/// Queued write requests before senders wait (backpressure).
const WRITE_QUEUE: usize = 8192;

impl Store {
    /// Opens `sqlite://PATH?mode=rwc` (creating the file with `mode=rwc`) or
    /// `postgres://…`, applies pending migrations, and starts the writer
    /// task. Must be called inside a Tokio runtime.
    pub async fn open(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let connect: AnyConnectOptions = url.parse().map_err(|_| StoreError::UnsupportedUrl)?;
        let busy_ms = u64::try_from(opts.lock_timeout.as_millis()).unwrap_or(u64::MAX);

        // Schema first, on a connection of its own.
        let mut conn = connect_with_timeout(&connect, opts.lock_timeout).await?;
        if backend == Backend::Sqlite {
            let setup = backend.connection_setup_sql(false, busy_ms);
            conn.execute(sqlx::raw_sql(AssertSqlSafe(setup))).await?;
            let mode: String =
                sqlx::query_scalar("PRAGMA journal_mode = WAL").fetch_one(&mut conn).await?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::corrupt("pragma", "journal_mode", "cannot enable WAL"));
            }
        }
        backend.migrator().run(&mut conn).await?;
        conn.close().await?;

        let read =
            pool(backend, &connect, opts.read_connections.max(1), opts.lock_timeout, true, busy_ms)
                .await?;
        let write = pool(backend, &connect, 1, opts.lock_timeout, false, busy_ms).await?;

        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let writer = Writer {
            pool: write,
            backend,
            clock: Arc::clone(&opts.clock),
            key: Arc::clone(&opts.instance_key),
            max_batch: opts.max_batch.max(1),
        };
        tokio::spawn(writer.run(rx));
        tracing::info!(message = "Store opened.", backend = backend.as_str());
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                read,
                writer: tx,
                clock: opts.clock,
                public_key: opts.instance_key.public_key(),
            }),
        })
    }

    /// Commits every write queued so far, stops the writer and closes the
    /// connections. Later calls on any clone fail with `Unavailable`.
    pub async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.inner.writer.send(Msg::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
        self.inner.read.close().await;
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The public half of the instance key that signs the audit log.
    pub fn public_key(&self) -> PublicKey {
        self.inner.public_key
    }

    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.inner.clock.now()
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.inner.read
    }

    /// Runs `f` in the writer's transaction (in its own savepoint) and
    /// returns its result once the batch is committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c, 't> FnOnce(&'c mut WriteTx<'t>) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (reply, result) = oneshot::channel();
        self.send(Box::new(TypedJob::new(f, reply))).await?;
        result.await.map_err(|_| StoreError::Unavailable(None))?
    }

    /// Appends audit entries alone; returns the last one's seq.
    pub(crate) async fn append_entries(&self, entries: Vec<Entry>) -> Result<u64, StoreError> {
        let (reply, result) = oneshot::channel();
        self.send(Box::new(AppendJob::new(entries, reply))).await?;
        result.await.map_err(|_| StoreError::Unavailable(None))?
    }

    async fn send(&self, job: Box<dyn writer::Job>) -> Result<(), StoreError> {
        self.inner.writer.send(Msg::Job(job)).await.map_err(|_| StoreError::Unavailable(None))
    }
}

async fn connect_with_timeout(
    opts: &AnyConnectOptions,
    timeout: Duration,
) -> Result<sqlx::AnyConnection, StoreError> {
    match tokio::time::timeout(timeout, opts.connect()).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(StoreError::Unavailable(None)),
    }
}

async fn pool(
    backend: Backend,
    connect: &AnyConnectOptions,
    size: u32,
    timeout: Duration,
    read_only: bool,
    busy_ms: u64,
) -> Result<AnyPool, StoreError> {
    let setup: Arc<str> = backend.connection_setup_sql(read_only, busy_ms).into();
    let pool = AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        // A SQLite connection is a file handle: there is nothing to ping,
        // and a ping per acquire is a round trip to its worker thread on
        // every authorisation. PostgreSQL connections are pinged, so a
        // server restart costs no request.
        .test_before_acquire(backend == Backend::Postgres)
        .acquire_timeout(timeout)
        .after_connect(move |conn, _meta| {
            let setup = Arc::clone(&setup);
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(AssertSqlSafe(setup))).await?;
                Ok(())
            })
        })
        .connect_with(connect.clone())
        .await?;
    Ok(pool)
}
