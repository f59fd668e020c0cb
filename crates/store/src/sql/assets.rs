//! [`AssetRepo`] for [`Store`]. Addresses and maintenance ports live in
//! child tables (`asset_addresses`, `asset_ports`) so assets can be found by
//! address; `position` keeps the order they were given in.

use std::collections::HashMap;
use std::net::IpAddr;

use sqlx::any::AnyRow;
use sqlx::{Any, Executor};

use sekimori_audit::AuditEvent;
use sekimori_types::{Asset, AssetId, AssetSpec, MaintenancePort};

use crate::error::on_write;
use crate::repo::{AssetRepo, Result};
use crate::row::Cols;
use crate::sql::zones::name_key;
use crate::writer::WriteTx;
use crate::{AuditCtx, Store, StoreError};

macro_rules! asset_select {
    () => {
        "SELECT id, name, zone_id, owner_department, vendor_company, criticality, \
         max_session_minutes, record_sessions, approvals_required, approver_department, \
         created_at, updated_at FROM assets"
    };
}

/// Addresses and ports of some assets, by asset ID.
#[derive(Default)]
struct Children {
    addresses: HashMap<String, Vec<IpAddr>>,
    ports: HashMap<String, Vec<MaintenancePort>>,
}

fn decode_asset(row: &AnyRow, children: &mut Children) -> Result<Asset> {
    let c = Cols::new(row, "assets");
    let id_text = c.string("id")?;
    let id: AssetId =
        id_text.parse().map_err(|_| StoreError::corrupt("assets", "id", "not a uuid"))?;
    let minutes = c.i64("max_session_minutes")?;
    let approvals_required = u8::try_from(c.i64("approvals_required")?)
        .ok()
        .filter(|n| (1..=2).contains(n))
        .ok_or_else(|| StoreError::corrupt("assets", "approvals_required", "not 1 or 2"))?;
    Ok(Asset {
        id,
        name: c.label("name")?,
        addresses: children.addresses.remove(&id_text).unwrap_or_default(),
        zone: c.opt_parse("zone_id")?,
        owner_department: c.opt_label("owner_department")?,
        vendor_company: c.opt_label("vendor_company")?,
        criticality: c.parse("criticality")?,
        maintenance_ports: children.ports.remove(&id_text).unwrap_or_default(),
        max_session_minutes: u32::try_from(minutes)
            .map_err(|_| StoreError::corrupt("assets", "max_session_minutes", "out of range"))?,
        record_sessions: c.bool("record_sessions")?,
        approvals_required,
        approver_department: c.opt_label("approver_department")?,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
    })
}

/// Loads the children of one asset (`Some(id)`) or of all. One asset's are
/// read with a plain `asset_id = $1` so the primary key serves it: the
/// gateway reads an asset for every tunnelled connection.
async fn fetch_children(conn: &mut sqlx::AnyConnection, id: Option<AssetId>) -> Result<Children> {
    let filter = id.map(|i| i.to_string());
    let mut out = Children::default();
    let rows = match &filter {
        Some(id) => {
            sqlx::query(
                "SELECT asset_id, address FROM asset_addresses WHERE asset_id = $1 \
                 ORDER BY position",
            )
            .bind(id.as_str())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query("SELECT asset_id, address FROM asset_addresses ORDER BY asset_id, position")
                .fetch_all(&mut *conn)
                .await?
        }
    };
    for r in &rows {
        let c = Cols::new(r, "asset_addresses");
        out.addresses.entry(c.string("asset_id")?).or_default().push(c.parse("address")?);
    }
    let rows = match &filter {
        Some(id) => {
            sqlx::query(
                "SELECT asset_id, port, protocol FROM asset_ports WHERE asset_id = $1 \
                 ORDER BY position",
            )
            .bind(id.as_str())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT asset_id, port, protocol FROM asset_ports ORDER BY asset_id, position",
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    for r in &rows {
        let c = Cols::new(r, "asset_ports");
        let port = u16::try_from(c.i64("port")?)
            .map_err(|_| StoreError::corrupt("asset_ports", "port", "out of range"))?;
        let p = MaintenancePort::new(port, &c.string("protocol")?)
            .map_err(|e| StoreError::corrupt("asset_ports", "protocol", e.reason))?;
        out.ports.entry(c.string("asset_id")?).or_default().push(p);
    }
    Ok(out)
}

/// The asset with this ID, with its children, if it exists.
pub(crate) async fn fetch_asset(
    conn: &mut sqlx::AnyConnection,
    id: AssetId,
) -> Result<Option<Asset>> {
    let row = sqlx::query(concat!(asset_select!(), " WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut children = fetch_children(conn, Some(id)).await?;
    decode_asset(&row, &mut children).map(Some)
}

async fn zone_exists<'c, E>(e: E, zone: sekimori_types::ZoneId) -> Result<bool>
where
    E: Executor<'c, Database = Any>,
{
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM zones WHERE id = $1")
        .bind(zone.to_string())
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}

fn check_spec(spec: &AssetSpec) -> Result<()> {
    spec.validate()?;
    let mut seen = std::collections::HashSet::new();
    if !spec.addresses.iter().all(|a| seen.insert(*a)) {
        return Err(StoreError::invalid("addresses", "duplicate_address"));
    }
    Ok(())
}

/// Inserts or replaces the addresses and ports of an asset.
async fn write_children(tx: &mut WriteTx<'_>, id: AssetId, spec: &AssetSpec) -> Result<()> {
    sqlx::query("DELETE FROM asset_addresses WHERE asset_id = $1")
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM asset_ports WHERE asset_id = $1")
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    for (i, a) in spec.addresses.iter().enumerate() {
        sqlx::query(
            "INSERT INTO asset_addresses (asset_id, address, position) VALUES ($1, $2, $3)",
        )
        .bind(id.to_string())
        .bind(a.to_string())
        .bind(i as i64)
        .execute(tx.conn())
        .await?;
    }
    for (i, p) in spec.maintenance_ports.iter().enumerate() {
        sqlx::query(
            "INSERT INTO asset_ports (asset_id, port, protocol, position) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(i64::from(p.port))
        .bind(p.protocol.as_str())
        .bind(i as i64)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

async fn check_zone(tx: &mut WriteTx<'_>, spec: &AssetSpec) -> Result<()> {
    if let Some(z) = spec.zone
        && !zone_exists(tx.conn(), z).await?
    {
        return Err(StoreError::not_found("zone", z));
    }
    Ok(())
}

fn asset_from_spec(
    id: AssetId,
    spec: AssetSpec,
    created_at: time::OffsetDateTime,
    now: time::OffsetDateTime,
) -> Asset {
    Asset {
        id,
        name: spec.name,
        addresses: spec.addresses,
        zone: spec.zone,
        owner_department: spec.owner_department,
        vendor_company: spec.vendor_company,
        criticality: spec.criticality,
        maintenance_ports: spec.maintenance_ports,
        max_session_minutes: spec.max_session_minutes,
        record_sessions: spec.record_sessions,
        approvals_required: spec.approvals_required,
        approver_department: spec.approver_department,
        created_at,
        updated_at: now,
    }
}

impl AssetRepo for Store {
    async fn create_asset(&self, ctx: &AuditCtx, spec: &AssetSpec) -> Result<Asset> {
        check_spec(spec)?;
        let (ctx, spec) = (ctx.clone(), spec.clone());
        self.write(move |tx| {
            Box::pin(async move {
                check_zone(tx, &spec).await?;
                let id = AssetId::new();
                sqlx::query(
                    "INSERT INTO assets (id, name, name_key, zone_id, owner_department, \
                     vendor_company, criticality, max_session_minutes, record_sessions, \
                     approvals_required, approver_department, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                )
                .bind(id.to_string())
                .bind(spec.name.as_str())
                .bind(name_key(spec.name.as_str()))
                .bind(spec.zone.map(|z| z.to_string()))
                .bind(spec.owner_department.as_ref().map(|l| l.as_str()))
                .bind(spec.vendor_company.as_ref().map(|l| l.as_str()))
                .bind(spec.criticality.as_str())
                .bind(i64::from(spec.max_session_minutes))
                .bind(i64::from(spec.record_sessions))
                .bind(i64::from(spec.approvals_required))
                .bind(spec.approver_department.as_ref().map(|l| l.as_str()))
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await
                .map_err(on_write("asset", "name"))?;
                write_children(tx, id, &spec).await?;
                tx.audit(&ctx, AuditEvent::AssetCreated { asset: id, name: spec.name.to_string() });
                Ok(asset_from_spec(id, spec, tx.now(), tx.now()))
            })
        })
        .await
    }

    async fn asset(&self, id: AssetId) -> Result<Asset> {
        let mut conn = self.reader().acquire().await?;
        fetch_asset(&mut conn, id).await?.ok_or_else(|| StoreError::not_found("asset", id))
    }

    async fn list_assets(&self) -> Result<Vec<Asset>> {
        let mut conn = self.reader().acquire().await?;
        // One snapshot for the three queries.
        let mut tx =
            sqlx::Connection::begin_with(&mut *conn, self.backend().begin_snapshot_sql()).await?;
        let rows =
            sqlx::query(concat!(asset_select!(), " ORDER BY name_key")).fetch_all(&mut *tx).await?;
        let mut children = fetch_children(&mut tx, None).await?;
        tx.commit().await?;
        rows.iter().map(|r| decode_asset(r, &mut children)).collect()
    }

    async fn update_asset(&self, ctx: &AuditCtx, id: AssetId, spec: &AssetSpec) -> Result<Asset> {
        check_spec(spec)?;
        let (ctx, spec) = (ctx.clone(), spec.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let old = fetch_asset(tx.conn(), id)
                    .await?
                    .ok_or_else(|| StoreError::not_found("asset", id))?;
                let mut changes = Vec::new();
                let mut changed = |c: bool, name: &str| {
                    if c {
                        changes.push(name.to_owned());
                    }
                };
                changed(old.name != spec.name, "name");
                changed(old.addresses != spec.addresses, "addresses");
                changed(old.zone != spec.zone, "zone");
                changed(old.owner_department != spec.owner_department, "owner_department");
                changed(old.vendor_company != spec.vendor_company, "vendor_company");
                changed(old.criticality != spec.criticality, "criticality");
                changed(old.maintenance_ports != spec.maintenance_ports, "maintenance_ports");
                changed(old.max_session_minutes != spec.max_session_minutes, "max_session_minutes");
                changed(old.record_sessions != spec.record_sessions, "record_sessions");
                changed(old.approvals_required != spec.approvals_required, "approvals_required");
                changed(old.approver_department != spec.approver_department, "approver_department");
                if changes.is_empty() {
                    return Ok(old);
                }
                check_zone(tx, &spec).await?;
                sqlx::query(
                    "UPDATE assets SET name = $2, name_key = $3, zone_id = $4, \
                     owner_department = $5, vendor_company = $6, criticality = $7, \
                     max_session_minutes = $8, record_sessions = $9, approvals_required = $10, \
                     approver_department = $11, updated_at = $12 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(spec.name.as_str())
                .bind(name_key(spec.name.as_str()))
                .bind(spec.zone.map(|z| z.to_string()))
                .bind(spec.owner_department.as_ref().map(|l| l.as_str()))
                .bind(spec.vendor_company.as_ref().map(|l| l.as_str()))
                .bind(spec.criticality.as_str())
                .bind(i64::from(spec.max_session_minutes))
                .bind(i64::from(spec.record_sessions))
                .bind(i64::from(spec.approvals_required))
                .bind(spec.approver_department.as_ref().map(|l| l.as_str()))
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await
                .map_err(on_write("asset", "name"))?;
                write_children(tx, id, &spec).await?;
                tx.audit(
                    &ctx,
                    AuditEvent::AssetUpdated { asset: id, name: spec.name.to_string(), changes },
                );
                Ok(asset_from_spec(id, spec, old.created_at, tx.now()))
            })
        })
        .await
    }

    async fn delete_asset(&self, ctx: &AuditCtx, id: AssetId) -> Result<()> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let old = fetch_asset(tx.conn(), id)
                    .await?
                    .ok_or_else(|| StoreError::not_found("asset", id))?;
                sqlx::query("DELETE FROM assets WHERE id = $1")
                    .bind(id.to_string())
                    .execute(tx.conn())
                    .await?;
                tx.audit(&ctx, AuditEvent::AssetDeleted { asset: id, name: old.name.to_string() });
                Ok(())
            })
        })
        .await
    }
}
