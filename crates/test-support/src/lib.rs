//! Helpers for sekimori's tests: fresh stores on every backend.
//!
//! [`each_backend`] gives a fresh SQLite store in a temporary directory,
//! always, and a fresh PostgreSQL database when [`POSTGRES_URL_VAR`]
//! (`SEKIMORI_TEST_POSTGRES_URL`) names a server, e.g.
//! `postgres://postgres@127.0.0.1:55432/postgres`: a database
//! `sekimori_test_<uuid>` is created for each store and dropped when the
//! [`TestStore`] is dropped. When `CI` is set and the variable is not,
//! [`each_backend`] panics: CI must test both backends. Otherwise it prints a
//! notice that PostgreSQL is skipped.
//!
//! ```no_run
//! # async fn t() {
//! for t in sekimori_test_support::each_backend().await {
//!     // t.store, t.clock, t.key, t.raw_execute("…")
//! }
//! # }
//! ```

#![warn(missing_docs)]

use std::sync::{Arc, Once};

use sqlx::{AnyPool, AssertSqlSafe, Connection, Executor};
use tempfile::TempDir;
use time::OffsetDateTime;

use sekimori_audit::InstanceKey;
use sekimori_store::{Backend, Store, StoreOptions};
use sekimori_types::ManualClock;

/// Names the PostgreSQL server to test against (an admin URL whose user may
/// create databases).
pub const POSTGRES_URL_VAR: &str = "SEKIMORI_TEST_POSTGRES_URL";

/// Where every test clock starts: 2026-04-01 09:00:00 UTC.
pub fn test_epoch() -> OffsetDateTime {
    time::macros::datetime!(2026-04-01 09:00:00 UTC)
}

/// A store on a fresh database, with what tests need to drive and inspect it.
#[derive(Debug)]
pub struct TestStore {
    /// The store under test.
    pub store: Store,
    /// The clock the store reads; move it, never sleep.
    pub clock: ManualClock,
    /// The instance key signing the audit log.
    pub key: Arc<InstanceKey>,
    url: String,
    admin: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl TestStore {
    /// Which backend this is (for messages: `"sqlite"` / `"postgres"`).
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// The database URL (SQLite file or PostgreSQL database).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Options that open another [`Store`] on the same database with the
    /// same clock and key.
    pub fn options(&self) -> StoreOptions {
        StoreOptions::new(Arc::new(self.clock.clone()), Arc::clone(&self.key))
    }

    /// Opens another [`Store`] on the same database, as a second process
    /// (the CLI while the server runs) would.
    pub async fn open_another(&self) -> Store {
        Store::open(&self.url, self.options()).await.expect("open a second store")
    }

    /// Closes the store and opens it again (a restart).
    pub async fn reopen(&mut self) {
        self.store.close().await;
        self.store = self.open_another().await;
    }

    /// A pool outside the store, for tests that corrupt rows behind its back.
    pub async fn raw_pool(&self) -> AnyPool {
        AnyPool::connect(&self.url).await.expect("raw connection to the test database")
    }

    /// Runs SQL outside the store (tamper tests); returns rows affected.
    pub async fn raw_execute(&self, sql: &str) -> u64 {
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("raw connection");
        let done = conn
            .execute(sqlx::raw_sql(AssertSqlSafe(sql.to_owned())))
            .await
            .unwrap_or_else(|e| panic!("raw SQL failed on {:?}: {e}\n{sql}", self.backend()));
        let _ = conn.close().await;
        done.rows_affected()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let Some((admin, db)) = self.admin.take() else { return };
        // Drop is synchronous: drop the database from a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::AnyConnection::connect(&admin).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)");
                conn.execute(sqlx::raw_sql(AssertSqlSafe(sql))).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        drop(dropped);
    }
}

/// A fresh store on every backend available (see the crate docs).
pub async fn each_backend() -> Vec<TestStore> {
    let mut out = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        out.push(pg);
    }
    out
}

/// A fresh SQLite store in a temporary directory.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("sekimori.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    open(url, None, Some(dir)).await
}

/// A fresh PostgreSQL store, or `None` when [`POSTGRES_URL_VAR`] is unset
/// (panics instead when `CI` is set).
pub async fn postgres() -> Option<TestStore> {
    let Some(admin) = std::env::var(POSTGRES_URL_VAR).ok().filter(|v| !v.is_empty()) else {
        if std::env::var("CI").is_ok_and(|v| !v.is_empty()) {
            panic!("CI is set but {POSTGRES_URL_VAR} is not: CI must test PostgreSQL too");
        }
        skip_notice();
        return None;
    };
    let (url, db) = create_database(&admin)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}: cannot create a database: {e}"));
    Some(open(url, Some((admin, db)), None).await)
}

/// Creates a uniquely named database on the cluster of `admin` (an admin
/// URL) and returns its URL, for tests that run the `sekimori` binary.
/// The cluster is throw-away (`.ci/run` starts it), so it is not dropped.
pub async fn fresh_postgres_database(admin: &str) -> Result<String, sqlx::Error> {
    create_database(admin).await.map(|(url, _)| url)
}

async fn create_database(admin: &str) -> Result<(String, String), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let db = format!("sekimori_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(admin).await?;
    conn.execute(sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))).await?;
    let _ = conn.close().await;
    Ok((with_database(admin, &db), db))
}

async fn open(url: String, admin: Option<(String, String)>, dir: Option<TempDir>) -> TestStore {
    let clock = ManualClock::new(test_epoch());
    let (key, _pkcs8) = InstanceKey::generate().expect("instance key");
    let key = Arc::new(key);
    let opts = StoreOptions::new(Arc::new(clock.clone()), Arc::clone(&key));
    let store = Store::open(&url, opts).await.unwrap_or_else(|e| panic!("open {url}: {e:?}"));
    TestStore { store, clock, key, url, admin, _dir: dir }
}

/// `admin` with its database name replaced by `db`.
fn with_database(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

#[allow(clippy::print_stderr, reason = "a test run must say that a backend was skipped")]
fn skip_notice() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        eprintln!(
            "note: {POSTGRES_URL_VAR} is not set: PostgreSQL tests are skipped \
             (e.g. {POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:55432/postgres)"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
