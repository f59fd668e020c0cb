//! [`CredentialRepo`] for [`Store`].

use secrecy::{SecretSlice, SecretString};

use sekimori_audit::{AuditEvent, SessionEnd};
use sekimori_types::{SessionId, UserId};

use crate::repo::{CredentialRepo, Result};
use crate::row::Cols;
use crate::sql::sessions::revoke_live_sessions;
use crate::sql::users::load_user;
use crate::writer::WriteTx;
use crate::{AuditCtx, Credentials, Store, StoreError, TotpCredential};

/// Replaces the recovery codes of `user`; no audit.
async fn store_recovery_codes(
    tx: &mut WriteTx<'_>,
    user: UserId,
    hashes: &[Vec<u8>],
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.to_string())
        .execute(tx.conn())
        .await?;
    let now = tx.now_micros();
    for h in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user.to_string())
        .bind(h.clone())
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(crate::error::on_write("recovery_code", "code_hash"))?;
    }
    Ok(())
}

impl CredentialRepo for Store {
    async fn credentials(&self, user: UserId) -> Result<Credentials> {
        let row = sqlx::query(
            "SELECT c.password_phc, c.password_changed_at, c.totp_secret, c.totp_enrolled_at, \
             c.totp_last_step, \
             (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = c.user_id AND r.used_at IS NULL) \
             AS codes_left \
             FROM credentials c WHERE c.user_id = $1",
        )
        .bind(user.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("user", user))?;
        let c = Cols::new(&row, "credentials");
        let totp = match c.opt_bytes("totp_secret")? {
            None => None,
            Some(secret) => Some(TotpCredential {
                secret: SecretSlice::from(secret),
                enrolled_at: c.opt_time("totp_enrolled_at")?.ok_or_else(|| {
                    StoreError::corrupt("credentials", "totp_enrolled_at", "missing")
                })?,
                last_step: c.opt_i64("totp_last_step")?,
            }),
        };
        Ok(Credentials {
            user,
            password_phc: SecretString::from(c.string("password_phc")?),
            password_changed_at: c.time("password_changed_at")?,
            totp,
            recovery_codes_left: c.u32("codes_left")?,
        })
    }

    async fn set_password(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        password_phc: &str,
        keep: Option<SessionId>,
    ) -> Result<()> {
        let (ctx, phc) = (ctx.clone(), password_phc.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                load_user(tx, user).await?;
                sqlx::query(
                    "UPDATE credentials SET password_phc = $2, password_changed_at = $3 \
                     WHERE user_id = $1",
                )
                .bind(user.to_string())
                .bind(phc)
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await?;
                tx.audit(&ctx, AuditEvent::PasswordChanged { user });
                revoke_live_sessions(tx, &ctx, user, SessionEnd::PasswordChanged, keep).await?;
                Ok(())
            })
        })
        .await
    }

    async fn enrol_totp(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        secret: &[u8],
        confirmed_step: i64,
        recovery_code_hashes: &[Vec<u8>],
    ) -> Result<()> {
        if secret.is_empty() {
            return Err(StoreError::invalid("totp_secret", "empty"));
        }
        let (ctx, secret, hashes) = (ctx.clone(), secret.to_vec(), recovery_code_hashes.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE credentials SET totp_secret = $2, totp_enrolled_at = $3, \
                     totp_last_step = $4 WHERE user_id = $1 AND totp_secret IS NULL",
                )
                .bind(user.to_string())
                .bind(secret)
                .bind(tx.now_micros())
                .bind(confirmed_step)
                .execute(tx.conn())
                .await?;
                if done.rows_affected() != 1 {
                    load_user(tx, user).await?;
                    return Err(StoreError::invalid("totp", "already_enrolled"));
                }
                tx.audit(&ctx, AuditEvent::MfaEnrolled { user, method: "totp".to_owned() });
                if !hashes.is_empty() {
                    store_recovery_codes(tx, user, &hashes).await?;
                    tx.audit(&ctx, AuditEvent::RecoveryCodesRegenerated { user });
                }
                Ok(())
            })
        })
        .await
    }

    async fn consume_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE credentials SET totp_last_step = $2 WHERE user_id = $1 \
                     AND totp_secret IS NOT NULL \
                     AND (totp_last_step IS NULL OR totp_last_step < $2)",
                )
                .bind(user.to_string())
                .bind(step)
                .execute(tx.conn())
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    async fn reset_mfa(&self, ctx: &AuditCtx, user: UserId) -> Result<()> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let u = load_user(tx, user).await?;
                sqlx::query(
                    "UPDATE credentials SET totp_secret = NULL, totp_enrolled_at = NULL, \
                     totp_last_step = NULL WHERE user_id = $1",
                )
                .bind(user.to_string())
                .execute(tx.conn())
                .await?;
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(tx.conn())
                    .await?;
                sqlx::query("DELETE FROM login_challenges WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(tx.conn())
                    .await?;
                tx.audit(&ctx, AuditEvent::MfaReset { user, username: u.username.to_string() });
                revoke_live_sessions(tx, &ctx, user, SessionEnd::MfaReset, None).await?;
                Ok(())
            })
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        code_hashes: &[Vec<u8>],
    ) -> Result<()> {
        let (ctx, hashes) = (ctx.clone(), code_hashes.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                load_user(tx, user).await?;
                store_recovery_codes(tx, user, &hashes).await?;
                tx.audit(&ctx, AuditEvent::RecoveryCodesRegenerated { user });
                Ok(())
            })
        })
        .await
    }

    async fn consume_recovery_code(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        code_hash: &[u8],
    ) -> Result<Option<u32>> {
        let (ctx, hash) = (ctx.clone(), code_hash.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(user.to_string())
                .bind(hash)
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                let left: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user.to_string())
                .fetch_one(tx.conn())
                .await?;
                let remaining = u32::try_from(left).unwrap_or(0);
                tx.audit(&ctx, AuditEvent::RecoveryCodeUsed { user, remaining });
                Ok(Some(remaining))
            })
        })
        .await
    }
}
