//! [`ZoneRepo`] for [`Store`].

use sqlx::any::AnyRow;
use sqlx::{Any, Executor};

use sekimori_audit::AuditEvent;
use sekimori_types::{Zone, ZoneId, ZoneSpec};

use crate::error::on_write;
use crate::repo::{Result, ZoneRepo};
use crate::row::Cols;
use crate::writer::WriteTx;
use crate::{AuditCtx, Store, StoreError};

const ZONE_SELECT: &str =
    "SELECT id, name, description, critical, created_at, updated_at FROM zones";

/// The case-folded form names are unique in (`ICU` and `icu` are one zone).
pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn decode_zone(row: &AnyRow) -> Result<Zone> {
    let c = Cols::new(row, "zones");
    Ok(Zone {
        id: c.parse("id")?,
        name: c.label("name")?,
        description: c.opt_string("description")?,
        critical: c.bool("critical")?,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
    })
}

async fn fetch_zone<'c, E>(e: E, id: ZoneId) -> Result<Option<Zone>>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT id, name, description, critical, created_at, updated_at FROM zones WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(e)
    .await?;
    row.as_ref().map(decode_zone).transpose()
}

async fn load_zone(tx: &mut WriteTx<'_>, id: ZoneId) -> Result<Zone> {
    fetch_zone(tx.conn(), id).await?.ok_or_else(|| StoreError::not_found("zone", id))
}

impl ZoneRepo for Store {
    async fn create_zone(&self, ctx: &AuditCtx, spec: &ZoneSpec) -> Result<Zone> {
        spec.validate()?;
        let (ctx, spec) = (ctx.clone(), spec.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let id = ZoneId::new();
                sqlx::query(
                    "INSERT INTO zones (id, name, name_key, description, critical, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(id.to_string())
                .bind(spec.name.as_str())
                .bind(name_key(spec.name.as_str()))
                .bind(spec.description.as_deref())
                .bind(i64::from(spec.critical))
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await
                .map_err(on_write("zone", "name"))?;
                tx.audit(&ctx, AuditEvent::ZoneCreated { zone: id, name: spec.name.to_string() });
                Ok(Zone {
                    id,
                    name: spec.name,
                    description: spec.description,
                    critical: spec.critical,
                    created_at: tx.now(),
                    updated_at: tx.now(),
                })
            })
        })
        .await
    }

    async fn zone(&self, id: ZoneId) -> Result<Zone> {
        fetch_zone(self.reader(), id).await?.ok_or_else(|| StoreError::not_found("zone", id))
    }

    async fn list_zones(&self) -> Result<Vec<Zone>> {
        let sql = format!("{ZONE_SELECT} ORDER BY name_key");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.reader()).await?;
        rows.iter().map(decode_zone).collect()
    }

    async fn update_zone(&self, ctx: &AuditCtx, id: ZoneId, spec: &ZoneSpec) -> Result<Zone> {
        spec.validate()?;
        let (ctx, spec) = (ctx.clone(), spec.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let old = load_zone(tx, id).await?;
                let mut changes = Vec::new();
                if old.name != spec.name {
                    changes.push("name".to_owned());
                }
                if old.description != spec.description {
                    changes.push("description".to_owned());
                }
                if old.critical != spec.critical {
                    changes.push("critical".to_owned());
                }
                if changes.is_empty() {
                    return Ok(old);
                }
                sqlx::query(
                    "UPDATE zones SET name = $2, name_key = $3, description = $4, critical = $5, \
                     updated_at = $6 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(spec.name.as_str())
                .bind(name_key(spec.name.as_str()))
                .bind(spec.description.as_deref())
                .bind(i64::from(spec.critical))
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await
                .map_err(on_write("zone", "name"))?;
                tx.audit(
                    &ctx,
                    AuditEvent::ZoneUpdated { zone: id, name: spec.name.to_string(), changes },
                );
                Ok(Zone {
                    name: spec.name,
                    description: spec.description,
                    critical: spec.critical,
                    updated_at: tx.now(),
                    ..old
                })
            })
        })
        .await
    }

    async fn delete_zone(&self, ctx: &AuditCtx, id: ZoneId) -> Result<()> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let old = load_zone(tx, id).await?;
                let used: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM assets WHERE zone_id = $1")
                        .bind(id.to_string())
                        .fetch_one(tx.conn())
                        .await?;
                if used > 0 {
                    return Err(StoreError::InUse {
                        what: "zone",
                        id: id.to_string(),
                        by: "assets",
                    });
                }
                sqlx::query("DELETE FROM zones WHERE id = $1")
                    .bind(id.to_string())
                    .execute(tx.conn())
                    .await?;
                tx.audit(&ctx, AuditEvent::ZoneDeleted { zone: id, name: old.name.to_string() });
                Ok(())
            })
        })
        .await
    }
}
