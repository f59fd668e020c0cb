//! [`ThrottleRepo`] for [`Store`].

use sqlx::any::AnyRow;

use crate::repo::{Result, ThrottleRepo};
use crate::row::{Cols, micros};
use crate::{Store, StoreError, ThrottleState};

/// Keys are short identifiers, never free text from a request body.
const MAX_KEY_LEN: usize = 300;

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(StoreError::invalid("throttle_key", "length"));
    }
    Ok(())
}

fn decode_state(row: &AnyRow) -> Result<ThrottleState> {
    let c = Cols::new(row, "throttle");
    Ok(ThrottleState {
        failures: c.u32("failures")?,
        first_failure_at: c.opt_time("first_failure_at")?,
        last_failure_at: c.opt_time("last_failure_at")?,
        blocked_until: c.opt_time("blocked_until")?,
    })
}

impl ThrottleRepo for Store {
    async fn throttle_get(&self, key: &str) -> Result<Option<ThrottleState>> {
        check_key(key)?;
        let row = sqlx::query(
            "SELECT failures, first_failure_at, last_failure_at, blocked_until \
             FROM throttle WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(decode_state).transpose()
    }

    async fn throttle_put(&self, key: &str, state: &ThrottleState) -> Result<()> {
        check_key(key)?;
        let (key, state) = (key.to_owned(), *state);
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO throttle (key, failures, first_failure_at, last_failure_at, \
                     blocked_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
                     first_failure_at = excluded.first_failure_at, \
                     last_failure_at = excluded.last_failure_at, \
                     blocked_until = excluded.blocked_until, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(i64::from(state.failures))
                .bind(state.first_failure_at.map(micros))
                .bind(state.last_failure_at.map(micros))
                .bind(state.blocked_until.map(micros))
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn throttle_record_failure(&self, key: &str) -> Result<ThrottleState> {
        check_key(key)?;
        let key = key.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "INSERT INTO throttle (key, failures, first_failure_at, last_failure_at, \
                     blocked_until, updated_at) VALUES ($1, 1, $2, $2, NULL, $2) \
                     ON CONFLICT (key) DO UPDATE SET failures = throttle.failures + 1, \
                     first_failure_at = COALESCE(throttle.first_failure_at, excluded.first_failure_at), \
                     last_failure_at = excluded.last_failure_at, updated_at = excluded.updated_at \
                     RETURNING failures, first_failure_at, last_failure_at, blocked_until",
                )
                .bind(key)
                .bind(tx.now_micros())
                .fetch_one(tx.conn())
                .await?;
                decode_state(&row)
            })
        })
        .await
    }

    async fn throttle_reset(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let key = key.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM throttle WHERE key = $1")
                    .bind(key)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await
    }
}
