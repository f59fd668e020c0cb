//! [`InventoryRepo`] for [`Store`]: the sensor's observed devices
//! (`observed_assets` with their addresses, names and protocols in child
//! tables) and the conversation buckets between them.
//!
//! Writes are split into jobs of a bounded size so a large first report
//! never holds the database write lock for long: the sensor's bookkeeping
//! must not delay a login or an authorisation. Every job re-reads what it
//! merges with inside its transaction, under the write lock every batch
//! takes, so two sensors (or a sensor and `analyze --store`) writing at once
//! serialise instead of losing updates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use sekimori_types::AssetId;

use crate::model::{
    ConversationBucket, ConversationFilter, ConversationRecord, InventoryAsset, InventoryFilter,
    MAX_OBSERVED_NAMES, ObservedAsset, ObservedAssetId,
};
use crate::repo::{InventoryRepo, InventoryWrite, Result};
use crate::row::{Cols, micros};
use crate::writer::WriteTx;
use crate::{Store, StoreError};

/// Devices merged per write job.
const ASSETS_PER_JOB: usize = 100;
/// Conversation buckets added per write job.
const BUCKETS_PER_JOB: usize = 1000;
/// Rows per multi-row `INSERT` of conversation buckets (9 parameters each).
const BUCKETS_PER_INSERT: usize = 50;
/// Default and largest page of a listing.
const DEFAULT_LIMIT: u32 = 500;
const MAX_LIMIT: u32 = 5000;

const ASSET_COLUMNS: &str = "o.id, o.key, o.mac, o.vendor, o.product, o.version, o.mac_vendor, \
     o.role, o.role_basis, o.local, o.first_seen, o.last_seen, o.updated_at";

/// A query parameter of a statement built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

fn db_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit_of(l: u32) -> u32 {
    if l == 0 { DEFAULT_LIMIT } else { l.min(MAX_LIMIT) }
}

/// `%text%` for `LIKE … ESCAPE '\'`, lowercased, wildcards escaped.
fn like_pattern(q: &str) -> String {
    let mut p = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `$first, $first+1, …` for `n` parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The row that holds `address`, as (id, key).
async fn owner_of(
    conn: &mut sqlx::AnyConnection,
    address: &str,
) -> Result<Option<(String, String)>> {
    let row = sqlx::query(
        "SELECT o.id, o.key FROM observed_addresses a \
         JOIN observed_assets o ON o.id = a.asset_id WHERE a.address = $1",
    )
    .bind(address)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        let c = Cols::new(&r, "observed_assets");
        Ok((c.string("id")?, c.string("key")?))
    })
    .transpose()
}

async fn id_of_key(conn: &mut sqlx::AnyConnection, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM observed_assets WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Folds the row `from` into the row `to` (names, protocols, seen times,
/// attributes `to` lacks, conversations) and deletes it.
async fn merge_into(
    conn: &mut sqlx::AnyConnection,
    (from_id, from_key): (&str, &str),
    (to_id, to_key): (&str, &str),
) -> Result<()> {
    sqlx::query(
        "INSERT INTO observed_names (asset_id, name) \
         SELECT $1, name FROM observed_names WHERE asset_id = $2 ON CONFLICT DO NOTHING",
    )
    .bind(to_id)
    .bind(from_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO observed_protocols (asset_id, app, side) \
         SELECT $1, app, side FROM observed_protocols WHERE asset_id = $2 ON CONFLICT DO NOTHING",
    )
    .bind(to_id)
    .bind(from_id)
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query(
        "SELECT vendor, product, version, role, role_basis, local, first_seen, last_seen \
         FROM observed_assets WHERE id = $1",
    )
    .bind(from_id)
    .fetch_one(&mut *conn)
    .await?;
    let c = Cols::new(&row, "observed_assets");
    sqlx::query(
        "UPDATE observed_assets SET vendor = COALESCE(vendor, $1), \
         product = COALESCE(product, $2), version = COALESCE(version, $3), \
         role = COALESCE(role, $4), \
         role_basis = CASE WHEN role IS NULL THEN $5 ELSE role_basis END, \
         local = CASE WHEN $6 = 1 THEN 1 ELSE local END, \
         first_seen = CASE WHEN $7 < first_seen THEN $7 ELSE first_seen END, \
         last_seen = CASE WHEN $8 > last_seen THEN $8 ELSE last_seen END \
         WHERE id = $9",
    )
    .bind(c.opt_string("vendor")?)
    .bind(c.opt_string("product")?)
    .bind(c.opt_string("version")?)
    .bind(c.opt_string("role")?)
    .bind(c.opt_string("role_basis")?)
    .bind(c.i64("local")?)
    .bind(c.i64("first_seen")?)
    .bind(c.i64("last_seen")?)
    .bind(to_id)
    .execute(&mut *conn)
    .await?;
    for side in ["client_key", "server_key"] {
        let cols = if side == "client_key" {
            "bucket_start, $1, server_key, service"
        } else {
            "bucket_start, client_key, $1, service"
        };
        let sql = format!(
            "INSERT INTO conversations (bucket_start, client_key, server_key, service, \
             packets_out, packets_in, bytes_out, bytes_in, flows) \
             SELECT {cols}, packets_out, packets_in, bytes_out, bytes_in, flows \
             FROM conversations WHERE {side} = $2 \
             ON CONFLICT (bucket_start, client_key, server_key, service) DO UPDATE SET \
             packets_out = conversations.packets_out + excluded.packets_out, \
             packets_in = conversations.packets_in + excluded.packets_in, \
             bytes_out = conversations.bytes_out + excluded.bytes_out, \
             bytes_in = conversations.bytes_in + excluded.bytes_in, \
             flows = conversations.flows + excluded.flows"
        );
        sqlx::query(AssertSqlSafe(sql)).bind(to_key).bind(from_key).execute(&mut *conn).await?;
        sqlx::query(AssertSqlSafe(format!("DELETE FROM conversations WHERE {side} = $1")))
            .bind(from_key)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM observed_assets WHERE id = $1")
        .bind(from_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Merges one reported device (rules on [`InventoryRepo`]).
async fn upsert_one(
    tx: &mut WriteTx<'_>,
    o: &ObservedAsset,
    out: &mut InventoryWrite,
) -> Result<()> {
    let now = tx.now_micros();
    let (first, last) = (micros(o.first_seen), micros(o.last_seen));
    let conn = tx.conn();
    let mut target = None;
    if let Some(ip) = o.key.strip_prefix("ip:") {
        target = owner_of(conn, ip).await?;
    }
    if target.is_none() {
        target = id_of_key(conn, &o.key).await?.map(|id| (id, o.key.clone()));
    }
    let (id, key) = match target {
        Some(t) => {
            sqlx::query(
                "UPDATE observed_assets SET mac = COALESCE($1, mac), \
                 vendor = COALESCE($2, vendor), product = COALESCE($3, product), \
                 version = COALESCE($4, version), mac_vendor = COALESCE($5, mac_vendor), \
                 role = COALESCE($6, role), \
                 role_basis = CASE WHEN $6 IS NULL THEN role_basis ELSE $7 END, \
                 local = CASE WHEN $8 = 1 THEN 1 ELSE local END, \
                 first_seen = CASE WHEN $9 < first_seen THEN $9 ELSE first_seen END, \
                 last_seen = CASE WHEN $10 > last_seen THEN $10 ELSE last_seen END, \
                 updated_at = $11 WHERE id = $12",
            )
            .bind(o.mac.clone())
            .bind(o.vendor.clone())
            .bind(o.product.clone())
            .bind(o.version.clone())
            .bind(o.mac_vendor.clone())
            .bind(o.role.clone())
            .bind(o.role_basis.clone())
            .bind(i64::from(o.local))
            .bind(first)
            .bind(last)
            .bind(now)
            .bind(t.0.as_str())
            .execute(&mut *conn)
            .await?;
            out.updated += 1;
            t
        }
        None => {
            let id = ObservedAssetId::new().to_string();
            sqlx::query(
                "INSERT INTO observed_assets (id, key, mac, vendor, product, version, mac_vendor, \
                 role, role_basis, local, first_seen, last_seen, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
            )
            .bind(id.as_str())
            .bind(o.key.as_str())
            .bind(o.mac.clone())
            .bind(o.vendor.clone())
            .bind(o.product.clone())
            .bind(o.version.clone())
            .bind(o.mac_vendor.clone())
            .bind(o.role.clone())
            .bind(o.role_basis.clone())
            .bind(i64::from(o.local))
            .bind(first)
            .bind(last)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            out.created += 1;
            (id, o.key.clone())
        }
    };

    for ip in &o.ips {
        let address = ip.to_string();
        match owner_of(conn, &address).await? {
            Some((owner, _)) if owner == id => continue,
            Some((owner, owner_key)) if owner_key == format!("ip:{address}") => {
                // An address-only row whose address now belongs to this
                // device: the same device, seen before its MAC was known.
                merge_into(conn, (&owner, &owner_key), (&id, &key)).await?;
                out.merged += 1;
            }
            Some(_) => {
                // Another device held the address (DHCP gave it on): it
                // moves, the other keeps its history.
                sqlx::query("UPDATE observed_addresses SET asset_id = $1 WHERE address = $2")
                    .bind(id.as_str())
                    .bind(address.as_str())
                    .execute(&mut *conn)
                    .await?;
                continue;
            }
            None => {}
        }
        sqlx::query("INSERT INTO observed_addresses (address, asset_id) VALUES ($1, $2)")
            .bind(address.as_str())
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    }

    if !o.names.is_empty() {
        let mut count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM observed_names WHERE asset_id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *conn)
                .await?;
        let names: BTreeSet<&str> = o.names.iter().map(String::as_str).collect();
        for name in names {
            if count >= MAX_OBSERVED_NAMES as i64 {
                break;
            }
            let done = sqlx::query(
                "INSERT INTO observed_names (asset_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(name)
            .execute(&mut *conn)
            .await?;
            count += i64::try_from(done.rows_affected()).unwrap_or(0);
        }
    }
    let sides = [
        ("client", &o.protocols_as_client),
        ("server", &o.protocols_as_server),
        ("link", &o.protocols_link),
    ];
    for (side, apps) in sides {
        for app in apps.iter().collect::<BTreeSet<_>>() {
            sqlx::query(
                "INSERT INTO observed_protocols (asset_id, app, side) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(app.as_str())
            .bind(side)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Counters of one bucket, in column order.
type Counts = [u64; 5];

/// A bucket's key: start (micros), client key, server key, service.
type BucketKey = (i64, String, String, String);

/// Adds merged buckets with multi-row upserts.
async fn insert_buckets(
    conn: &mut sqlx::AnyConnection,
    rows: &[(BucketKey, Counts)],
) -> Result<()> {
    for chunk in rows.chunks(BUCKETS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO conversations (bucket_start, client_key, server_key, service, \
             packets_out, packets_in, bytes_out, bytes_in, flows) VALUES ",
        );
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * 9 + 1, 9))).collect();
        sql.push_str(&values.join(", "));
        sql.push_str(
            " ON CONFLICT (bucket_start, client_key, server_key, service) DO UPDATE SET \
             packets_out = conversations.packets_out + excluded.packets_out, \
             packets_in = conversations.packets_in + excluded.packets_in, \
             bytes_out = conversations.bytes_out + excluded.bytes_out, \
             bytes_in = conversations.bytes_in + excluded.bytes_in, \
             flows = conversations.flows + excluded.flows",
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for ((start, client, server, service), c) in chunk {
            q = q.bind(*start).bind(client.clone()).bind(server.clone()).bind(service.clone());
            for n in c {
                q = q.bind(db_count(*n));
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Files an `ip:` endpoint under the inventory row that holds its address.
async fn resolve_key(
    conn: &mut sqlx::AnyConnection,
    cache: &mut HashMap<String, String>,
    key: &str,
) -> Result<String> {
    let Some(ip) = key.strip_prefix("ip:") else { return Ok(key.to_owned()) };
    if let Some(k) = cache.get(key) {
        return Ok(k.clone());
    }
    let resolved = owner_of(conn, ip).await?.map_or_else(|| key.to_owned(), |(_, k)| k);
    cache.insert(key.to_owned(), resolved.clone());
    Ok(resolved)
}

/// Children of some inventory rows, by row ID.
#[derive(Default)]
struct Children {
    ips: HashMap<String, Vec<IpAddr>>,
    names: HashMap<String, Vec<String>>,
    protocols: HashMap<String, Vec<(String, String)>>,
    registered: HashMap<String, BTreeSet<AssetId>>,
}

async fn fetch_children(conn: &mut sqlx::AnyConnection, ids: &[String]) -> Result<Children> {
    let mut out = Children::default();
    for chunk in ids.chunks(500) {
        let list = placeholders(1, chunk.len());
        let run = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.clone());
            }
            q
        };
        for r in run(format!(
            "SELECT asset_id, address FROM observed_addresses WHERE asset_id IN ({list})"
        ))
        .fetch_all(&mut *conn)
        .await?
        {
            let c = Cols::new(&r, "observed_addresses");
            out.ips.entry(c.string("asset_id")?).or_default().push(c.parse("address")?);
        }
        for r in
            run(format!("SELECT asset_id, name FROM observed_names WHERE asset_id IN ({list})"))
                .fetch_all(&mut *conn)
                .await?
        {
            let c = Cols::new(&r, "observed_names");
            out.names.entry(c.string("asset_id")?).or_default().push(c.string("name")?);
        }
        for r in run(format!(
            "SELECT asset_id, app, side FROM observed_protocols WHERE asset_id IN ({list})"
        ))
        .fetch_all(&mut *conn)
        .await?
        {
            let c = Cols::new(&r, "observed_protocols");
            out.protocols
                .entry(c.string("asset_id")?)
                .or_default()
                .push((c.string("app")?, c.string("side")?));
        }
        for r in run(format!(
            "SELECT o.asset_id, r.asset_id AS registered FROM observed_addresses o \
             JOIN asset_addresses r ON r.address = o.address WHERE o.asset_id IN ({list})"
        ))
        .fetch_all(&mut *conn)
        .await?
        {
            let c = Cols::new(&r, "asset_addresses");
            out.registered.entry(c.string("asset_id")?).or_default().insert(c.parse("registered")?);
        }
    }
    Ok(out)
}

fn decode_asset(row: &AnyRow, ch: &mut Children) -> Result<InventoryAsset> {
    let c = Cols::new(row, "observed_assets");
    let id_text = c.string("id")?;
    let mut ips = ch.ips.remove(&id_text).unwrap_or_default();
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    let mut names = ch.names.remove(&id_text).unwrap_or_default();
    names.sort();
    let protocols = ch.protocols.remove(&id_text).unwrap_or_default();
    let side = |s: &str| {
        let mut v: Vec<String> =
            protocols.iter().filter(|(_, x)| x == s).map(|(a, _)| a.clone()).collect();
        v.sort();
        v
    };
    let all: BTreeSet<String> = protocols.iter().map(|(a, _)| a.clone()).collect();
    Ok(InventoryAsset {
        id: c.parse("id")?,
        key: c.string("key")?,
        ip: ips.first().copied(),
        mac: c.opt_string("mac")?,
        names,
        vendor: c.opt_string("vendor")?,
        product: c.opt_string("product")?,
        version: c.opt_string("version")?,
        mac_vendor: c.opt_string("mac_vendor")?,
        protocols: all.into_iter().collect(),
        protocols_as_client: side("client"),
        protocols_as_server: side("server"),
        role: c.opt_string("role")?,
        role_basis: c.opt_string("role_basis")?,
        local: c.bool("local")?,
        first_seen: c.time("first_seen")?,
        last_seen: c.time("last_seen")?,
        updated_at: c.time("updated_at")?,
        registered: ch.registered.remove(&id_text).unwrap_or_default().into_iter().collect(),
        ips,
    })
}

/// Reads rows selected by `sql` (with `binds`) and their children, in one
/// snapshot.
async fn read_assets(store: &Store, sql: String, binds: Vec<Bind>) -> Result<Vec<InventoryAsset>> {
    let mut conn = store.reader().acquire().await?;
    let mut tx =
        sqlx::Connection::begin_with(&mut *conn, store.backend().begin_snapshot_sql()).await?;
    let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), binds).fetch_all(&mut *tx).await?;
    let ids = rows
        .iter()
        .map(|r| Cols::new(r, "observed_assets").string("id"))
        .collect::<Result<Vec<_>>>()?;
    let mut children = fetch_children(&mut tx, &ids).await?;
    tx.commit().await?;
    rows.iter().map(|r| decode_asset(r, &mut children)).collect()
}

fn u64_col(c: &Cols<'_>, col: &'static str) -> Result<u64> {
    c.u64(col)
}

fn decode_conversation(row: &AnyRow) -> Result<ConversationRecord> {
    let c = Cols::new(row, "conversations");
    Ok(ConversationRecord {
        start: c.time("bucket_start")?,
        client: c.string("client_key")?,
        client_asset: c.opt_parse("client_id")?,
        server: c.string("server_key")?,
        server_asset: c.opt_parse("server_id")?,
        service: c.string("service")?,
        packets_out: u64_col(&c, "packets_out")?,
        packets_in: u64_col(&c, "packets_in")?,
        bytes_out: u64_col(&c, "bytes_out")?,
        bytes_in: u64_col(&c, "bytes_in")?,
        flows: u64_col(&c, "flows")?,
    })
}

impl InventoryRepo for Store {
    async fn upsert_observed(&self, assets: &[ObservedAsset]) -> Result<InventoryWrite> {
        for a in assets {
            a.validate()?;
        }
        let mut total = InventoryWrite::default();
        for chunk in assets.chunks(ASSETS_PER_JOB) {
            let chunk = chunk.to_vec();
            let w = self
                .write(move |tx| {
                    Box::pin(async move {
                        let mut out = InventoryWrite::default();
                        for o in &chunk {
                            upsert_one(tx, o, &mut out).await?;
                        }
                        Ok(out)
                    })
                })
                .await?;
            total.created += w.created;
            total.updated += w.updated;
            total.merged += w.merged;
        }
        Ok(total)
    }

    async fn add_conversations(&self, buckets: &[ConversationBucket]) -> Result<u64> {
        for b in buckets {
            b.validate()?;
        }
        let mut written = 0;
        for chunk in buckets.chunks(BUCKETS_PER_JOB) {
            let chunk = chunk.to_vec();
            written += self
                .write(move |tx| {
                    Box::pin(async move {
                        let conn = tx.conn();
                        let mut cache = HashMap::new();
                        // Merged first: one statement must not touch a row twice.
                        let mut merged: BTreeMap<BucketKey, Counts> = BTreeMap::new();
                        for b in &chunk {
                            let client = resolve_key(conn, &mut cache, &b.client).await?;
                            let server = resolve_key(conn, &mut cache, &b.server).await?;
                            let k = (micros(b.start), client, server, b.service.clone());
                            let c = merged.entry(k).or_default();
                            let add =
                                [b.packets_out, b.packets_in, b.bytes_out, b.bytes_in, b.flows];
                            for (x, y) in c.iter_mut().zip(add) {
                                *x = x.saturating_add(y);
                            }
                        }
                        let rows: Vec<_> = merged.into_iter().collect();
                        insert_buckets(conn, &rows).await?;
                        Ok(rows.len() as u64)
                    })
                })
                .await?;
        }
        Ok(written)
    }

    async fn list_observed(&self, f: &InventoryFilter) -> Result<Vec<InventoryAsset>> {
        let mut sql = format!("SELECT {ASSET_COLUMNS} FROM observed_assets o WHERE 1 = 1");
        let mut binds = Vec::new();
        if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
            binds.push(Bind::Text(like_pattern(q)));
            let n = binds.len();
            let like = |col: &str| format!("LOWER(COALESCE({col}, '')) LIKE ${n} ESCAPE '\\'");
            sql.push_str(&format!(
                " AND ({} OR {} OR {} OR {} OR {} \
                 OR EXISTS (SELECT 1 FROM observed_names n WHERE n.asset_id = o.id AND {}) \
                 OR EXISTS (SELECT 1 FROM observed_addresses a WHERE a.asset_id = o.id AND {}))",
                like("o.key"),
                like("o.vendor"),
                like("o.product"),
                like("o.mac_vendor"),
                like("o.role"),
                like("n.name"),
                like("a.address"),
            ));
        }
        if let Some(role) = &f.role {
            binds.push(Bind::Text(role.clone()));
            sql.push_str(&format!(" AND o.role = ${}", binds.len()));
        }
        if let Some(app) = &f.app {
            binds.push(Bind::Text(app.clone()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM observed_protocols p WHERE p.asset_id = o.id \
                 AND p.app = ${})",
                binds.len()
            ));
        }
        sql.push_str(&format!(" ORDER BY o.last_seen DESC, o.key LIMIT {}", limit_of(f.limit)));
        read_assets(self, sql, binds).await
    }

    async fn observed(&self, id: ObservedAssetId) -> Result<InventoryAsset> {
        let sql = format!("SELECT {ASSET_COLUMNS} FROM observed_assets o WHERE o.id = $1");
        read_assets(self, sql, vec![Bind::Text(id.to_string())])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("observed asset", id))
    }

    async fn conversations(&self, f: &ConversationFilter) -> Result<Vec<ConversationRecord>> {
        let mut conn = self.reader().acquire().await?;
        let mut tx =
            sqlx::Connection::begin_with(&mut *conn, self.backend().begin_snapshot_sql()).await?;
        let mut sql = String::from(
            "SELECT c.bucket_start, c.client_key, c.server_key, c.service, c.packets_out, \
             c.packets_in, c.bytes_out, c.bytes_in, c.flows, ca.id AS client_id, \
             sa.id AS server_id FROM conversations c \
             LEFT JOIN observed_assets ca ON ca.key = c.client_key \
             LEFT JOIN observed_assets sa ON sa.key = c.server_key WHERE 1 = 1",
        );
        let mut binds = Vec::new();
        if let Some(id) = f.asset {
            let key: Option<String> =
                sqlx::query_scalar("SELECT key FROM observed_assets WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            let key = key.ok_or_else(|| StoreError::not_found("observed asset", id))?;
            binds.push(Bind::Text(key));
            let n = binds.len();
            sql.push_str(&format!(" AND (c.client_key = ${n} OR c.server_key = ${n})"));
        }
        if let Some(t) = f.since {
            binds.push(Bind::Int(micros(t)));
            sql.push_str(&format!(" AND c.bucket_start >= ${}", binds.len()));
        }
        if let Some(t) = f.until {
            binds.push(Bind::Int(micros(t)));
            sql.push_str(&format!(" AND c.bucket_start < ${}", binds.len()));
        }
        sql.push_str(&format!(
            " ORDER BY c.bucket_start DESC, c.client_key, c.server_key, c.service LIMIT {}",
            limit_of(f.limit)
        ));
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), binds).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter().map(decode_conversation).collect()
    }

    async fn purge_conversations(&self, before: time::OffsetDateTime) -> Result<u64> {
        let before = micros(before);
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM conversations WHERE bucket_start < $1")
                    .bind(before)
                    .execute(tx.conn())
                    .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }
}
