//! [`MetaRepo`] for [`Store`]: the `meta` key/value table holds the
//! instance identity (`sekimori.*` keys), the pending setup code's hash, and
//! configuration values (`config.*` keys).

use subtle::ConstantTimeEq;

use sekimori_audit::{AuditEvent, PublicKey};
use sekimori_types::{NewUser, Role, User};

use crate::repo::{MetaRepo, Result};
use crate::sql::users::{insert_user, user_created};
use crate::writer::WriteTx;
use crate::{AuditCtx, InstanceInfo, Store, StoreError};

const INSTANCE_ID: &str = "sekimori.instance_id";
const PUBLIC_KEY: &str = "sekimori.public_key";
const SETUP_CODE_HASH: &str = "sekimori.setup_code_hash";
const CONFIG_PREFIX: &str = "config.";

/// Configuration keys: 1–128 characters of `a-z 0-9 . _ -`.
fn config_key(key: &str) -> Result<String> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !ok {
        return Err(StoreError::invalid("key", "characters"));
    }
    Ok(format!("{CONFIG_PREFIX}{key}"))
}

async fn get<'c, E>(e: E, key: &str) -> Result<Option<String>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(e)
        .await?)
}

async fn put(tx: &mut WriteTx<'_>, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn delete(tx: &mut WriteTx<'_>, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM meta WHERE key = $1").bind(key).execute(tx.conn()).await?;
    Ok(())
}

async fn admin_exists<'c, E>(e: E) -> Result<bool>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1")
        .bind(Role::Admin.as_str())
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}

impl MetaRepo for Store {
    async fn initialise_instance(
        &self,
        ctx: &AuditCtx,
        instance_id: &str,
        public_key: &PublicKey,
    ) -> Result<InstanceInfo> {
        if instance_id.is_empty() || instance_id.len() > 128 {
            return Err(StoreError::invalid("instance_id", "length"));
        }
        let (ctx, id, key) = (ctx.clone(), instance_id.to_owned(), public_key.to_hex());
        self.write(move |tx| {
            Box::pin(async move {
                if let Some(existing) = get(tx.conn(), INSTANCE_ID).await? {
                    let public_key = get(tx.conn(), PUBLIC_KEY).await?.unwrap_or_default();
                    return Ok(InstanceInfo { instance_id: existing, public_key });
                }
                put(tx, INSTANCE_ID, &id).await?;
                put(tx, PUBLIC_KEY, &key).await?;
                tx.audit(
                    &ctx,
                    AuditEvent::InstanceInitialised {
                        instance_id: id.clone(),
                        public_key: key.clone(),
                    },
                );
                Ok(InstanceInfo { instance_id: id, public_key: key })
            })
        })
        .await
    }

    async fn instance(&self) -> Result<Option<InstanceInfo>> {
        let Some(instance_id) = get(self.reader(), INSTANCE_ID).await? else {
            return Ok(None);
        };
        let public_key = get(self.reader(), PUBLIC_KEY).await?.unwrap_or_default();
        Ok(Some(InstanceInfo { instance_id, public_key }))
    }

    async fn config_get(&self, key: &str) -> Result<Option<String>> {
        get(self.reader(), &config_key(key)?).await
    }

    async fn config_set(&self, ctx: &AuditCtx, key: &str, value: Option<&str>) -> Result<()> {
        let stored_key = config_key(key)?;
        let (ctx, key, value) = (ctx.clone(), key.to_owned(), value.map(str::to_owned));
        self.write(move |tx| {
            Box::pin(async move {
                let old = get(tx.conn(), &stored_key).await?;
                if old == value {
                    return Ok(());
                }
                match &value {
                    Some(v) => put(tx, &stored_key, v).await?,
                    None => delete(tx, &stored_key).await?,
                }
                tx.audit(&ctx, AuditEvent::ConfigChanged { key, old, new: value });
                Ok(())
            })
        })
        .await
    }

    async fn set_setup_code(&self, ctx: &AuditCtx, code_hash: &[u8]) -> Result<()> {
        if code_hash.is_empty() {
            return Err(StoreError::invalid("setup_code", "empty"));
        }
        let (ctx, hash) = (ctx.clone(), hex::encode(code_hash));
        self.write(move |tx| {
            Box::pin(async move {
                if admin_exists(tx.conn()).await? {
                    return Err(StoreError::invalid("setup_code", "admin_exists"));
                }
                put(tx, SETUP_CODE_HASH, &hash).await?;
                tx.audit(
                    &ctx,
                    AuditEvent::ConfigChanged {
                        key: "setup_code".to_owned(),
                        old: None,
                        new: None,
                    },
                );
                Ok(())
            })
        })
        .await
    }

    async fn setup_pending(&self) -> Result<bool> {
        let code = get(self.reader(), SETUP_CODE_HASH).await?;
        Ok(code.is_some() && !admin_exists(self.reader()).await?)
    }

    async fn complete_setup(
        &self,
        ctx: &AuditCtx,
        code_hash: &[u8],
        new: &NewUser,
        password_phc: &str,
    ) -> Result<User> {
        if new.role != Role::Admin {
            return Err(StoreError::invalid("role", "must_be_admin"));
        }
        new.validate()?;
        let (ctx, given, new, phc) =
            (ctx.clone(), code_hash.to_vec(), new.clone(), password_phc.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                if admin_exists(tx.conn()).await? {
                    return Err(StoreError::invalid("setup_code", "not_pending"));
                }
                let Some(stored) = get(tx.conn(), SETUP_CODE_HASH).await? else {
                    return Err(StoreError::invalid("setup_code", "not_pending"));
                };
                let stored = hex::decode(stored)
                    .map_err(|_| StoreError::corrupt("meta", "value", "setup code hash not hex"))?;
                if !bool::from(stored.ct_eq(&given)) {
                    return Err(StoreError::invalid("setup_code", "mismatch"));
                }
                delete(tx, SETUP_CODE_HASH).await?;
                let user = insert_user(tx, &new, &phc).await?;
                tx.audit(&ctx, user_created(&user));
                tx.audit(
                    &ctx,
                    AuditEvent::SetupCompleted {
                        user: user.id,
                        username: user.username.to_string(),
                    },
                );
                Ok(user)
            })
        })
        .await
    }
}
