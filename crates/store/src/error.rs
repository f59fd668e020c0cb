//! The one error type of this crate.

use std::sync::Arc;

use sekimori_types::InvalidValue;

/// Why a store operation failed. Variants carry facts, never SQL text or
/// secret values; the web crate maps them to stable API codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation is about does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// Kind of row: `user`, `asset`, `zone`, `session`, …
        what: &'static str,
        /// The identifier that was looked up.
        id: String,
    },
    /// A unique constraint refused the write (e.g. a username already taken).
    #[error("a {what} with this {field} already exists")]
    Conflict {
        /// Kind of row.
        what: &'static str,
        /// The field whose value must be unique.
        field: &'static str,
    },
    /// The row is still referenced (e.g. a zone that assets belong to).
    #[error("{what} {id} is still in use by {by}")]
    InUse {
        /// Kind of row that could not be removed.
        what: &'static str,
        /// Its identifier.
        id: String,
        /// What still refers to it.
        by: &'static str,
    },
    /// An input value or a state precondition was refused.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    /// The database cannot be reached or refused to commit: nothing of the
    /// operation was stored, and callers must fail closed.
    #[error("database unavailable")]
    Unavailable(#[source] Option<Arc<StoreError>>),
    /// A stored value could not be decoded into its domain type.
    #[error("corrupt value in {table}.{column}: {detail}")]
    Corrupt {
        /// Table of the value.
        table: &'static str,
        /// Column of the value.
        column: &'static str,
        /// What is wrong with it (never the value itself).
        detail: String,
    },
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("schema migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database URL names no supported backend (`sqlite:` or `postgres:`).
    #[error("unsupported database URL: expected sqlite://… or postgres://…")]
    UnsupportedUrl,
}

impl StoreError {
    /// Whether this error means "the database could not be used" (as opposed
    /// to "the request was refused"): callers fail closed and may retry.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound { what, id: id.to_string() }
    }

    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        StoreError::Invalid(InvalidValue::new(field, reason))
    }

    pub(crate) fn corrupt(
        table: &'static str,
        column: &'static str,
        detail: impl ToString,
    ) -> Self {
        StoreError::Corrupt { table, column, detail: detail.to_string() }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            e if is_unavailable(&e) => {
                StoreError::Unavailable(Some(Arc::new(StoreError::Database(e))))
            }
            // A value the driver cannot even represent (invalid UTF-8 in a
            // SQLite TEXT column): the row is corrupt, table unknown here.
            sqlx::Error::Decode(e) => StoreError::corrupt("?", "?", e),
            sqlx::Error::ColumnDecode { index, source } => {
                StoreError::corrupt("?", "?", format!("column {index}: {source}"))
            }
            e => StoreError::Database(e),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) if is_unavailable(&e) => e.into(),
            e => StoreError::Migrate(e),
        }
    }
}

/// Connection-level failures, and SQLite's "busy" after the busy timeout.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            // SQLITE_BUSY (5) / SQLITE_LOCKED (6) and their extended codes;
            // PostgreSQL class 08 (connection exception), 57P (operator
            // intervention: shutdown), 53 (insufficient resources).
            let code = d.code();
            let code = code.as_deref().unwrap_or("");
            if code.len() == 5 {
                code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
            } else {
                code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

/// Maps a unique violation to [`StoreError::Conflict`] and a foreign-key
/// violation to [`StoreError::NotFound`] of the referenced row.
pub(crate) fn on_write(
    what: &'static str,
    field: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict { what, field },
        _ => e.into(),
    }
}
