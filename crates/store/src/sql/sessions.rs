//! [`SessionRepo`] for [`Store`]: sessions and login challenges.

use std::net::IpAddr;

use secrecy::SecretSlice;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::{Duration, OffsetDateTime};

use sekimori_audit::{AuditEvent, SessionEnd};
use sekimori_types::{SessionId, UserId};

use crate::error::on_write;
use crate::model::{parse_challenge_kind, parse_session_end, session_end_str};
use crate::repo::{Result, SessionRepo};
use crate::row::{Cols, micros};
use crate::writer::WriteTx;
use crate::{AuditCtx, Challenge, NewChallenge, NewSession, Session, Store, StoreError};

pub(crate) const SESSION_COLS: &str = "id, user_id, created_at, last_seen_at, expires_at, \
     mfa_at, mfa_method, source, user_agent, revoked_at, revoke_reason";

const CHALLENGE_COLS: &str =
    "user_id, kind, pending_totp_secret, source, created_at, expires_at, attempts";

pub(crate) fn decode_session(row: &AnyRow) -> Result<Session> {
    let c = Cols::new(row, "sessions");
    let revoke_reason =
        match c.opt_string("revoke_reason")? {
            None => None,
            Some(s) => Some(parse_session_end(&s).ok_or_else(|| {
                StoreError::corrupt("sessions", "revoke_reason", "unknown reason")
            })?),
        };
    Ok(Session {
        id: c.parse("id")?,
        user: c.parse("user_id")?,
        created_at: c.time("created_at")?,
        last_seen_at: c.time("last_seen_at")?,
        expires_at: c.time("expires_at")?,
        mfa_at: c.time("mfa_at")?,
        mfa_method: c.string("mfa_method")?,
        source: c.opt_parse::<IpAddr>("source")?,
        user_agent: c.opt_string("user_agent")?,
        revoked_at: c.opt_time("revoked_at")?,
        revoke_reason,
    })
}

fn decode_challenge(row: &AnyRow) -> Result<Challenge> {
    let c = Cols::new(row, "login_challenges");
    Ok(Challenge {
        user: c.opt_parse::<UserId>("user_id")?,
        kind: parse_challenge_kind(&c.string("kind")?)
            .ok_or_else(|| StoreError::corrupt("login_challenges", "kind", "unknown kind"))?,
        pending_totp_secret: c.opt_bytes("pending_totp_secret")?.map(SecretSlice::from),
        source: c.opt_parse::<IpAddr>("source")?,
        created_at: c.time("created_at")?,
        expires_at: c.time("expires_at")?,
        attempts: c.u32("attempts")?,
    })
}

/// Revokes every live session of `user` except `keep`, auditing each as
/// `SessionRevoked`; returns how many.
pub(crate) async fn revoke_live_sessions(
    tx: &mut WriteTx<'_>,
    ctx: &AuditCtx,
    user: UserId,
    reason: SessionEnd,
    keep: Option<SessionId>,
) -> Result<u64> {
    let now = tx.now_micros();
    let keep = keep.map(|k| k.to_string()).unwrap_or_default();
    let rows = sqlx::query(
        "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         AND id <> $3 ORDER BY created_at",
    )
    .bind(user.to_string())
    .bind(now)
    .bind(keep.as_str())
    .fetch_all(tx.conn())
    .await?;
    let ids = rows
        .iter()
        .map(|r| Cols::new(r, "sessions").parse::<SessionId>("id"))
        .collect::<Result<Vec<_>>>()?;
    sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE user_id = $1 \
         AND revoked_at IS NULL AND expires_at > $2 AND id <> $4",
    )
    .bind(user.to_string())
    .bind(now)
    .bind(session_end_str(reason))
    .bind(keep.as_str())
    .execute(tx.conn())
    .await?;
    for session in &ids {
        tx.audit(ctx, AuditEvent::SessionRevoked { user, session: *session, reason });
    }
    Ok(ids.len() as u64)
}

async fn fetch_session_tx(tx: &mut WriteTx<'_>, id: SessionId) -> Result<Session> {
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| StoreError::not_found("session", id))?;
    decode_session(&row)
}

impl SessionRepo for Store {
    async fn create_session(&self, ctx: &AuditCtx, new: &NewSession) -> Result<Session> {
        if new.token_hash.is_empty() {
            return Err(StoreError::invalid("token_hash", "empty"));
        }
        let ctx = ctx.clone();
        let (user, token_hash, expires_at) = (new.user, new.token_hash.clone(), new.expires_at);
        let (mfa_method, user_agent) = (new.mfa_method.clone(), new.user_agent.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let id = SessionId::new();
                let now = tx.now();
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, \
                     expires_at, mfa_at, mfa_method, source, user_agent) \
                     VALUES ($1, $2, $3, $4, $4, $5, $4, $6, $7, $8)",
                )
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(token_hash)
                .bind(micros(now))
                .bind(micros(expires_at))
                .bind(mfa_method.as_str())
                .bind(ctx.source.map(|s| s.to_string()))
                .bind(user_agent.as_deref())
                .execute(tx.conn())
                .await
                .map_err(on_write("session", "token_hash"))?;
                tx.audit(
                    &ctx,
                    AuditEvent::LoginSucceeded {
                        user,
                        session: id,
                        source: ctx.source,
                        mfa: mfa_method.clone(),
                    },
                );
                Ok(Session {
                    id,
                    user,
                    created_at: now,
                    last_seen_at: now,
                    expires_at,
                    mfa_at: now,
                    mfa_method,
                    source: ctx.source,
                    user_agent,
                    revoked_at: None,
                    revoke_reason: None,
                })
            })
        })
        .await
    }

    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash.to_vec())
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(decode_session).transpose()
    }

    async fn session(&self, id: SessionId) -> Result<Session> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("session", id))?;
        decode_session(&row)
    }

    async fn live_sessions(&self, user: Option<UserId>) -> Result<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE revoked_at IS NULL AND expires_at > $1 \
             AND ($2 = '' OR user_id = $2) ORDER BY created_at DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(self.now()))
            .bind(user.map(|u| u.to_string()).unwrap_or_default())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_session).collect()
    }

    async fn touch_session(&self, session: &Session, min_interval: Duration) -> Result<bool> {
        let now = self.now();
        if session.revoked_at.is_some() || now - session.last_seen_at < min_interval {
            return Ok(false);
        }
        let id = session.id;
        let threshold = micros(now - min_interval);
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND revoked_at IS NULL \
                     AND last_seen_at <= $3",
                )
                .bind(id.to_string())
                .bind(tx.now_micros())
                .bind(threshold)
                .execute(tx.conn())
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    async fn mark_step_up(&self, ctx: &AuditCtx, id: SessionId) -> Result<Session> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let s = fetch_session_tx(tx, id).await?;
                if !s.is_live(tx.now()) {
                    return Err(StoreError::not_found("session", id));
                }
                sqlx::query("UPDATE sessions SET mfa_at = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(tx.now_micros())
                    .execute(tx.conn())
                    .await?;
                tx.audit(&ctx, AuditEvent::StepUpSucceeded { user: s.user, session: id });
                Ok(Session { mfa_at: tx.now(), ..s })
            })
        })
        .await
    }

    async fn revoke_session(
        &self,
        ctx: &AuditCtx,
        id: SessionId,
        reason: SessionEnd,
    ) -> Result<bool> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let s = fetch_session_tx(tx, id).await?;
                if s.revoked_at.is_some() {
                    return Ok(false);
                }
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id.to_string())
                .bind(tx.now_micros())
                .bind(session_end_str(reason))
                .execute(tx.conn())
                .await?;
                let event = match reason {
                    SessionEnd::Logout => AuditEvent::Logout { user: s.user, session: id },
                    _ => AuditEvent::SessionRevoked { user: s.user, session: id, reason },
                };
                tx.audit(&ctx, event);
                Ok(true)
            })
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        reason: SessionEnd,
        keep: Option<SessionId>,
    ) -> Result<u64> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                crate::sql::users::load_user(tx, user).await?;
                revoke_live_sessions(tx, &ctx, user, reason, keep).await
            })
        })
        .await
    }

    async fn purge_sessions(&self, before: OffsetDateTime) -> Result<u64> {
        let before = micros(before);
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < $1) \
                     OR expires_at < $1",
                )
                .bind(before)
                .execute(tx.conn())
                .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    async fn create_challenge(&self, ctx: &AuditCtx, new: NewChallenge) -> Result<()> {
        use secrecy::ExposeSecret;
        if new.token_hash.is_empty() {
            return Err(StoreError::invalid("token_hash", "empty"));
        }
        let source = ctx.source.map(|s| s.to_string());
        let secret = new.pending_totp_secret.as_ref().map(|s| s.expose_secret().to_vec());
        let NewChallenge { token_hash, user, kind, expires_at, .. } = new;
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO login_challenges (token_hash, user_id, kind, pending_totp_secret, \
                     source, created_at, expires_at, attempts) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
                )
                .bind(token_hash)
                .bind(user.map(|u| u.to_string()))
                .bind(kind.as_str())
                .bind(secret)
                .bind(source)
                .bind(tx.now_micros())
                .bind(micros(expires_at))
                .execute(tx.conn())
                .await
                .map_err(on_write("challenge", "token_hash"))?;
                Ok(())
            })
        })
        .await
    }

    async fn challenge(&self, token_hash: &[u8]) -> Result<Option<Challenge>> {
        let sql = format!("SELECT {CHALLENGE_COLS} FROM login_challenges WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash.to_vec())
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(decode_challenge).transpose()
    }

    async fn take_challenge(&self, token_hash: &[u8]) -> Result<Option<Challenge>> {
        let hash = token_hash.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "DELETE FROM login_challenges WHERE token_hash = $1 RETURNING {CHALLENGE_COLS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(hash)
                    .fetch_optional(tx.conn())
                    .await?;
                row.as_ref().map(decode_challenge).transpose()
            })
        })
        .await
    }

    async fn bump_challenge_attempts(&self, token_hash: &[u8]) -> Result<Option<u32>> {
        let hash = token_hash.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "UPDATE login_challenges SET attempts = attempts + 1 WHERE token_hash = $1 \
                     RETURNING attempts",
                )
                .bind(hash)
                .fetch_optional(tx.conn())
                .await?;
                match row {
                    None => Ok(None),
                    Some(r) => {
                        let n: i64 = r
                            .try_get(0)
                            .map_err(|e| StoreError::corrupt("login_challenges", "attempts", e))?;
                        Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)))
                    }
                }
            })
        })
        .await
    }

    async fn purge_challenges(&self) -> Result<u64> {
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM login_challenges WHERE expires_at <= $1")
                    .bind(tx.now_micros())
                    .execute(tx.conn())
                    .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }
}
