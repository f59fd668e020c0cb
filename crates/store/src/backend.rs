//! The few places where SQLite and PostgreSQL differ, and the embedded
//! migrations of each.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::StoreError;

/// Which database a [`Store`](crate::Store) talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A file in the data directory (the default), in WAL mode.
    Sqlite,
    /// A PostgreSQL server, for a hospital group or high availability.
    Postgres,
}

/// `(version, description, SQL)` of every SQLite migration, in order.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, "access", include_str!("../migrations/sqlite/0002_access.sql")),
    (3, "inventory", include_str!("../migrations/sqlite/0003_inventory.sql")),
    (4, "advisories", include_str!("../migrations/sqlite/0004_advisories.sql")),
    (5, "advisory_products", include_str!("../migrations/sqlite/0005_advisory_products.sql")),
    (6, "alerts", include_str!("../migrations/sqlite/0006_alerts.sql")),
    (7, "advisory_index_only", include_str!("../migrations/sqlite/0007_advisory_index_only.sql")),
];

/// `(version, description, SQL)` of every PostgreSQL migration, in order.
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/postgres/0001_initial.sql")),
    (2, "access", include_str!("../migrations/postgres/0002_access.sql")),
    (3, "inventory", include_str!("../migrations/postgres/0003_inventory.sql")),
    (4, "advisories", include_str!("../migrations/postgres/0004_advisories.sql")),
    (5, "advisory_products", include_str!("../migrations/postgres/0005_advisory_products.sql")),
    (6, "alerts", include_str!("../migrations/postgres/0006_alerts.sql")),
    (7, "advisory_index_only", include_str!("../migrations/postgres/0007_advisory_index_only.sql")),
];

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            _ => Err(StoreError::UnsupportedUrl),
        }
    }

    /// `sqlite` or `postgres`, for logs and the `ServerStarted` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Versions and descriptions of the embedded migrations, in order.
    pub fn migrations(self) -> impl Iterator<Item = (i64, &'static str)> {
        self.migration_table().iter().map(|(v, d, _)| (*v, *d))
    }

    fn migration_table(self) -> &'static [(i64, &'static str, &'static str)] {
        match self {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// The embedded, versioned migrations of this backend. Each runs in its
    /// own transaction; sqlx records checksums so an edited migration that was
    /// already applied is refused.
    pub(crate) fn migrator(self) -> Migrator {
        let migrations = self
            .migration_table()
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
    }

    /// Starts the writer's transaction holding the database write lock, so
    /// the chain head cannot move under it (another process may write too).
    pub(crate) fn begin_write_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Reads the chain head inside the writer's transaction, locking it.
    pub(crate) fn lock_head_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
            Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        }
    }

    /// Starts a read transaction in which every statement sees one snapshot.
    pub(crate) fn begin_snapshot_sql(self) -> &'static str {
        match self {
            // A deferred transaction's snapshot is taken by its first read
            // and held until it ends (WAL mode).
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        }
    }

    /// Audit columns for verification, read so that a row tampered into any
    /// shape still decodes: SQLite columns can hold any type (and TEXT can
    /// hold invalid UTF-8), so bytes are read as BLOBs and integers only when
    /// they are integers. PostgreSQL enforces column types and encoding.
    pub(crate) fn verify_select(self, table: &str) -> String {
        match (self, table) {
            (Backend::Sqlite, "audit_records") => "SELECT seq, \
                 CASE WHEN typeof(ts) = 'integer' THEN ts END AS ts, \
                 CAST(body AS BLOB) AS body, CAST(prev_hash AS BLOB) AS prev_hash, \
                 CAST(hash AS BLOB) AS hash FROM audit_records"
                .to_owned(),
            (Backend::Sqlite, table) => format!(
                "SELECT CASE WHEN typeof(seq) = 'integer' THEN seq END AS seq, \
                 CAST(hash AS BLOB) AS hash, CASE WHEN typeof(ts) = 'integer' THEN ts END AS ts, \
                 CAST(signature AS BLOB) AS signature FROM {table}"
            ),
            (Backend::Postgres, "audit_records") => {
                "SELECT seq, ts, convert_to(body, 'UTF8') AS body, prev_hash, hash FROM audit_records"
                    .to_owned()
            }
            (Backend::Postgres, table) => format!("SELECT seq, hash, ts, signature FROM {table}"),
        }
    }

    /// The verb of a multi-row `INSERT` inside a write job. SQLite gives
    /// a statement that may stop halfway (a multi-row `INSERT` into columns
    /// with constraints) a statement journal and truncates it when the
    /// statement ends; with the journal in memory that truncation walks the
    /// whole journal of the job's savepoint, so a job of a hundred
    /// statements walked it a hundred times (a fifth of an import of
    /// 300,000 advisories). `OR FAIL` needs no statement journal: a failing
    /// statement keeps its earlier rows, and the job fails, so its savepoint
    /// is rolled back anyway.
    pub(crate) fn bulk_insert(self) -> &'static str {
        match self {
            Backend::Sqlite => "INSERT OR FAIL",
            Backend::Postgres => "INSERT",
        }
    }

    /// A subquery giving the strings of the JSON array bound as `$n` as
    /// rows of one column, `value`: a list of any length as one parameter
    /// (binding hundreds of numbered parameters costs SQLite more than the
    /// lookups they name).
    pub(crate) fn json_strings(self, n: usize) -> String {
        match self {
            Backend::Sqlite => format!("SELECT value FROM json_each(${n})"),
            Backend::Postgres => format!("SELECT jsonb_array_elements_text(${n}::jsonb) AS value"),
        }
    }

    /// A subquery giving the pairs of the JSON array of two-string arrays
    /// bound as `$n` as rows of two columns, `a` and `b`.
    pub(crate) fn json_pairs(self, n: usize) -> String {
        match self {
            Backend::Sqlite => {
                format!("SELECT value ->> 0 AS a, value ->> 1 AS b FROM json_each(${n})")
            }
            Backend::Postgres => format!(
                "SELECT e ->> 0 AS a, e ->> 1 AS b FROM jsonb_array_elements(${n}::jsonb) AS e"
            ),
        }
    }

    /// Run on every new connection of the given pool.
    pub(crate) fn connection_setup_sql(self, read_only: bool, busy_timeout_ms: u64) -> String {
        match (self, read_only) {
            // The writer's page cache holds the indexes a large write walks
            // at random (advisory filings: 128 MiB, against 2 MiB by
            // default, roughly halves an import's CPU); readers keep 8 MiB.
            // Temporary files in memory: the sub-journal of a job's
            // savepoint (the original of every page the job changes) was
            // written to and deleted from a temporary file, 5.5 GB of
            // writes on an import of 300,000 advisories.
            (Backend::Sqlite, ro) => format!(
                "PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON; PRAGMA query_only = {}; PRAGMA cache_size = {}; \
                 PRAGMA temp_store = MEMORY;",
                if ro { "ON" } else { "OFF" },
                if ro { -8192 } else { -131072 }
            ),
            (Backend::Postgres, true) => {
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY".to_owned()
            }
            (Backend::Postgres, false) => "SELECT 1".to_owned(),
        }
    }
}
