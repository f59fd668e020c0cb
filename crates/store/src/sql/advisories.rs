//! [`AdvisoryRepo`] for [`Store`]: imported advisory records.
//!
//! An import of 300,000 records arrives in batches; each batch is one write
//! job that reads the stored digests of its keys and then inserts the new
//! records and replaces the changed ones with multi-row statements, so the
//! write lock is held for milliseconds at a time and a login or an
//! authorisation never waits behind an import.

use std::collections::{HashMap, HashSet};

use sqlx::AssertSqlSafe;

use crate::repo::{
    AdvisoryCounts, AdvisoryFiling, AdvisoryRepo, AdvisoryRow, AdvisoryWrite, FiledProduct, Result,
};
use crate::row::Cols;
use crate::writer::WriteTx;
use crate::{Backend, Store, StoreError};

/// Records per write job.
const ROWS_PER_JOB: usize = 2000;
/// Parameters per statement. SQLite looks a numbered parameter's name up
/// by walking the statement's parameter list, so binding costs grow with
/// the square of their count: many small statements beat a few big ones
/// (with 800 parameters, binding alone was a tenth of an import).
const PARAMS: usize = 128;
/// Rows per multi-row `INSERT` of records (8 parameters each).
const ROWS_PER_INSERT: usize = PARAMS / 8;
/// Rows per multi-row `INSERT` of filings (4 parameters each).
const FILINGS_PER_INSERT: usize = PARAMS / 4;
/// Keys per `IN (…)` lookup.
const KEYS_PER_SELECT: usize = PARAMS;
const MAX_PAGE: u32 = 5000;

fn placeholders(start: usize, count: usize) -> String {
    (start..start + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The source of a record: its key's prefix (`cve5` of `cve5:CVE-…`).
fn source_of(key: &str) -> &str {
    key.split(':').next().unwrap_or(key)
}

/// Deletes the filings of `keys`.
async fn unfile(conn: &mut sqlx::AnyConnection, keys: &[&str]) -> Result<()> {
    for keys in keys.chunks(KEYS_PER_SELECT) {
        let sql = format!(
            "DELETE FROM advisory_products WHERE record_key IN ({})",
            placeholders(1, keys.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for k in keys {
            q = q.bind(k.to_string());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes the filings of records (their old filings must be gone).
async fn file(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    rows: &[(&str, &AdvisoryFiling)],
) -> Result<()> {
    let mut products: Vec<(&str, &FiledProduct)> = Vec::new();
    for (key, filing) in rows {
        products.extend(filing.products.iter().map(|p| (*key, p)));
    }
    for chunk in products.chunks(FILINGS_PER_INSERT) {
        let values = (0..chunk.len())
            .map(|i| {
                let b = i * 4;
                format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "{} INTO advisory_products (record_key, vendor, product, name) VALUES {values}",
            backend.bulk_insert()
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (key, p) in chunk {
            q = q.bind(*key).bind(p.vendor.as_str()).bind(p.product.as_str()).bind(p.name.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Sets `keyed_with` of records already filed again.
async fn mark_filed(
    conn: &mut sqlx::AnyConnection,
    rows: &[(&str, &AdvisoryFiling)],
) -> Result<()> {
    for (key, filing) in rows {
        sqlx::query("UPDATE advisory_records SET keyed_with = $1 WHERE key = $2")
            .bind(filing.keyed_with.clone())
            .bind(key.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn write_chunk(tx: &mut WriteTx<'_>, chunk: &[AdvisoryRow]) -> Result<AdvisoryWrite> {
    let now = tx.now_micros();
    let backend = tx.backend();
    let conn = tx.conn();
    // key → (digest, keyed_with)
    let mut stored: HashMap<String, (String, Option<String>)> = HashMap::new();
    for keys in chunk.chunks(KEYS_PER_SELECT) {
        let sql = format!(
            "SELECT key, digest, keyed_with FROM advisory_records WHERE key IN ({})",
            placeholders(1, keys.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in keys {
            q = q.bind(r.key.as_str());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let c = Cols::new(&row, "advisory_records");
            stored.insert(c.string("key")?, (c.string("digest")?, c.opt_string("keyed_with")?));
        }
    }
    let mut out = AdvisoryWrite::default();
    let mut fresh: Vec<&AdvisoryRow> = Vec::new();
    let mut changed: Vec<&AdvisoryRow> = Vec::new();
    // Unchanged records filed with another alias table: filed again.
    let mut refile: Vec<(&str, &AdvisoryFiling)> = Vec::new();
    for r in chunk {
        match stored.get(&r.key) {
            None => fresh.push(r),
            Some((d, keyed)) if *d == r.digest => {
                out.unchanged += 1;
                if let Some(f) = &r.filing
                    && keyed.as_deref() != Some(f.keyed_with.as_str())
                {
                    refile.push((r.key.as_str(), f));
                }
            }
            Some(_) => changed.push(r),
        }
    }
    // A changed record is deleted and inserted again: one portable statement.
    let changed_keys: Vec<&str> = changed.iter().map(|r| r.key.as_str()).collect();
    for keys in changed_keys.chunks(KEYS_PER_SELECT) {
        let sql =
            format!("DELETE FROM advisory_records WHERE key IN ({})", placeholders(1, keys.len()));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for k in keys {
            q = q.bind(k.to_string());
        }
        q.execute(&mut *conn).await?;
    }
    let refile_keys: Vec<&str> = refile.iter().map(|(k, _)| *k).collect();
    unfile(conn, &changed_keys).await?;
    unfile(conn, &refile_keys).await?;
    out.added = fresh.len() as u64;
    out.updated = changed.len() as u64;
    let all: Vec<&AdvisoryRow> = fresh.into_iter().chain(changed).collect();
    for rows in all.chunks(ROWS_PER_INSERT) {
        let values = (0..rows.len())
            .map(|i| {
                let b = i * 8;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "{} INTO advisory_records \
             (key, kind, cve, digest, body, imported_at, source, keyed_with) VALUES {values}",
            backend.bulk_insert()
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in rows {
            q = q
                .bind(r.key.as_str())
                .bind(r.kind.as_str())
                .bind(r.cve.as_str())
                .bind(r.digest.as_str())
                .bind(r.body.as_str())
                .bind(now)
                .bind(source_of(&r.key))
                .bind(r.filing.as_ref().map(|f| f.keyed_with.as_str()));
        }
        q.execute(&mut *conn).await?;
    }
    let filed: Vec<(&str, &AdvisoryFiling)> =
        all.iter().filter_map(|r| r.filing.as_ref().map(|f| (r.key.as_str(), f))).collect();
    file(conn, backend, &filed).await?;
    file(conn, backend, &refile).await?;
    mark_filed(conn, &refile).await?;
    Ok(out)
}

fn advisory_row(row: &sqlx::any::AnyRow) -> Result<AdvisoryRow> {
    let c = Cols::new(row, "advisory_records");
    Ok(AdvisoryRow {
        key: c.string("key")?,
        kind: c.string("kind")?,
        cve: c.string("cve")?,
        digest: c.string("digest")?,
        body: c.string("body")?,
        filing: None,
    })
}

/// Statements a read runs at once (the read pool has more connections).
const READ_CONCURRENCY: usize = 4;
/// Most items in one JSON list parameter: a list is split into
/// [`READ_CONCURRENCY`] parts, each at most this long.
const JSON_LIST: usize = 8192;

/// `items` as one JSON array parameter.
fn json_param<T: serde::Serialize + ?Sized>(items: &T) -> String {
    // Strings and arrays of strings always encode.
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// Runs `sql` (whose one parameter, `$1`, is a JSON list made by `encode`)
/// over `items` in parts, on several read connections at once, and maps
/// each row with `row`.
async fn in_parts<I, T, E, R>(
    store: &Store,
    items: &[I],
    encode: E,
    sql: &str,
    row: R,
) -> Result<Vec<Vec<T>>>
where
    I: Sync,
    T: Send,
    E: Fn(&[I]) -> String,
    R: Fn(&sqlx::any::AnyRow) -> Result<T> + Sync,
{
    use futures::stream::{StreamExt, TryStreamExt};
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let per = items.len().div_ceil(READ_CONCURRENCY).clamp(1, JSON_LIST);
    let lists: Vec<String> = items.chunks(per).map(encode).collect();
    let pool = store.reader().clone();
    let row = &row;
    futures::stream::iter(lists)
        .map(|list| {
            let pool = pool.clone();
            async move {
                let rows =
                    sqlx::query(AssertSqlSafe(sql.to_owned())).bind(list).fetch_all(&pool).await?;
                rows.iter().map(row).collect::<Result<Vec<T>>>()
            }
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await
}

impl Store {
    /// The keys of vulnerability records not filed with `keyed_with` (their
    /// filings, if any, do not count); none in the usual case, found
    /// through an index.
    async fn stale_filings(&self, keyed_with: &str) -> Result<HashSet<String>> {
        if self.advisories_not_filed_count(keyed_with).await? == 0 {
            return Ok(HashSet::new());
        }
        let rows = sqlx::query(
            "SELECT key FROM advisory_records \
             WHERE kind = 'vulnerability' AND (keyed_with IS NULL OR keyed_with <> $1)",
        )
        .bind(keyed_with.to_owned())
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Cols::new(r, "advisory_records").string("key")).collect()
    }
}

impl AdvisoryRepo for Store {
    async fn upsert_advisories(&self, rows: &[AdvisoryRow]) -> Result<AdvisoryWrite> {
        let mut keys = HashSet::with_capacity(rows.len());
        for r in rows {
            if r.key.is_empty() || r.kind.is_empty() {
                return Err(StoreError::invalid("key", "empty advisory key or kind"));
            }
            if !keys.insert(r.key.as_str()) {
                return Err(StoreError::invalid("key", "the same advisory key twice in one call"));
            }
        }
        let mut total = AdvisoryWrite::default();
        for chunk in rows.chunks(ROWS_PER_JOB) {
            let chunk = chunk.to_vec();
            let w = self
                .write(move |tx| Box::pin(async move { write_chunk(tx, &chunk).await }))
                .await?;
            total.added += w.added;
            total.updated += w.updated;
            total.unchanged += w.unchanged;
        }
        Ok(total)
    }

    async fn advisories_page(
        &self,
        kind: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AdvisoryRow>> {
        let limit = if limit == 0 { MAX_PAGE } else { limit.min(MAX_PAGE) };
        let mut sql = String::from("SELECT key, kind, cve, digest, body FROM advisory_records");
        let mut binds: Vec<String> = Vec::new();
        for (column, value) in [("kind =", kind), ("key >", after)] {
            if let Some(v) = value {
                sql.push_str(if binds.is_empty() { " WHERE " } else { " AND " });
                binds.push(v.to_owned());
                sql.push_str(&format!("{column} ${}", binds.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY key LIMIT {limit}"));
        let mut conn = self.reader().acquire().await?;
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&mut *conn).await?;
        rows.iter().map(advisory_row).collect()
    }

    async fn advisory_counts(&self) -> Result<AdvisoryCounts> {
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) AS n, MAX(imported_at) AS newest FROM advisory_records \
             GROUP BY kind ORDER BY kind",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut counts = Vec::new();
        let mut newest: Option<i64> = None;
        for row in &rows {
            let c = Cols::new(row, "advisory_records");
            counts.push((c.string("kind")?, c.u64("n")?));
            if let Some(t) = c.opt_i64("newest")? {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
        }
        Ok(AdvisoryCounts { per_kind: counts, newest: newest.map(sekimori_types::from_micros) })
    }

    async fn advisory_sources(&self) -> Result<Vec<(String, String, u64)>> {
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(
            "SELECT kind, source, COUNT(*) AS n FROM advisory_records \
             GROUP BY kind, source ORDER BY kind, source",
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, "advisory_records");
                Ok((c.string("kind")?, c.opt_string("source")?.unwrap_or_default(), c.u64("n")?))
            })
            .collect()
    }

    async fn advisories_filed_under(
        &self,
        identities: &[(String, String)],
        keyed_with: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let stale = self.stale_filings(keyed_with).await?;
        // Index only (vendor, product, record_key): no visit of the records
        // themselves, whose rows are large and scattered. The identities
        // travel as one JSON parameter per statement, the list drives the
        // join (`CROSS JOIN` keeps SQLite's order), and the statements run
        // on several read connections at once.
        let backend = self.backend();
        let sql = format!(
            "SELECT p.vendor, p.product, p.record_key FROM ({}) AS j \
             CROSS JOIN advisory_products AS p WHERE p.vendor = j.a AND p.product = j.b",
            backend.json_pairs(1)
        );
        let mut parts: Vec<Vec<(String, String, String)>> = in_parts(
            self,
            identities,
            |chunk: &[(String, String)]| {
                let pairs: Vec<[&str; 2]> =
                    chunk.iter().map(|(v, p)| [v.as_str(), p.as_str()]).collect();
                json_param(&pairs)
            },
            &sql,
            |row| {
                let c = Cols::new(row, "advisory_products");
                Ok((c.string("vendor")?, c.string("product")?, c.string("record_key")?))
            },
        )
        .await?;
        let mut out: Vec<(String, String, String)> = parts
            .iter_mut()
            .flat_map(std::mem::take)
            .filter(|(_, _, key)| !stale.contains(key))
            .collect();
        // A record filed under one identity with two names: once.
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    async fn advisory_names_under(
        &self,
        probes: &[(String, Vec<String>)],
        keyed_with: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let stale = self.stale_filings(keyed_with).await?;
        let mut conn = self.reader().acquire().await?;
        let mut out = Vec::new();
        for (vendor, words) in probes {
            let ascii = words.iter().all(|w| w.is_ascii() && !w.is_empty());
            // Each statement: the vendor and up to PARAMS - 1 words.
            let groups: Vec<&[String]> = if ascii && !words.is_empty() {
                words.chunks(PARAMS - 1).collect()
            } else {
                vec![&[]]
            };
            for group in groups {
                let cond = if group.is_empty() {
                    String::new()
                } else {
                    let likes = (0..group.len())
                        .map(|i| format!("LOWER(name) LIKE ${}", i + 2))
                        .collect::<Vec<_>>()
                        .join(" OR ");
                    format!(" AND ({likes})")
                };
                let sql = format!(
                    "SELECT vendor, product, name, record_key FROM advisory_products \
                     WHERE vendor = $1{cond}"
                );
                let mut q = sqlx::query(AssertSqlSafe(sql)).bind(vendor.as_str());
                for w in group {
                    // Words are letters and digits: nothing to escape.
                    q = q.bind(format!("%{w}%"));
                }
                for row in q.fetch_all(&mut *conn).await? {
                    let c = Cols::new(&row, "advisory_products");
                    if !stale.contains(&c.string("record_key")?) {
                        out.push((c.string("vendor")?, c.string("product")?, c.string("name")?));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn advisories_by_key(&self, keys: &[String]) -> Result<Vec<AdvisoryRow>> {
        let sql = format!(
            "SELECT key, kind, cve, digest, body FROM advisory_records WHERE key IN ({})",
            self.backend().json_strings(1)
        );
        let parts =
            in_parts(self, keys, |chunk: &[String]| json_param(chunk), &sql, advisory_row).await?;
        let mut out: Vec<AdvisoryRow> = parts.into_iter().flatten().collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    async fn advisories_by_cve(&self, kind: &str, cves: &[String]) -> Result<Vec<AdvisoryRow>> {
        let mut conn = self.reader().acquire().await?;
        let mut out = Vec::new();
        for chunk in cves.chunks(KEYS_PER_SELECT) {
            // By CVE alone (its index), the kind checked here: with `kind =`
            // in the statement a planner without statistics may walk the
            // kind index instead, every record of the kind per statement.
            let sql = format!(
                "SELECT key, kind, cve, digest, body FROM advisory_records WHERE cve IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.clone());
            }
            for row in q.fetch_all(&mut *conn).await? {
                let row = advisory_row(&row)?;
                if row.kind == kind {
                    out.push(row);
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    async fn advisory_keys_by_cve(&self, cves: &[String]) -> Result<Vec<(String, String)>> {
        // Key and kind only: a record's body (often in overflow pages) is
        // not read.
        let sql = format!(
            "SELECT key, kind FROM advisory_records WHERE cve IN ({})",
            self.backend().json_strings(1)
        );
        let parts = in_parts(
            self,
            cves,
            |chunk: &[String]| json_param(chunk),
            &sql,
            |row| {
                let c = Cols::new(row, "advisory_records");
                Ok((c.string("key")?, c.string("kind")?))
            },
        )
        .await?;
        let mut out: Vec<(String, String)> = parts.into_iter().flatten().collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn advisories_not_filed(
        &self,
        keyed_with: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AdvisoryRow>> {
        let limit = if limit == 0 { MAX_PAGE } else { limit.min(MAX_PAGE) };
        let mut conn = self.reader().acquire().await?;
        let sql = format!(
            "SELECT key, kind, cve, digest, body FROM advisory_records \
             WHERE kind = 'vulnerability' AND (keyed_with IS NULL OR keyed_with <> $1) \
             AND key > $2 ORDER BY key LIMIT {limit}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(keyed_with.to_owned())
            .bind(after.unwrap_or("").to_owned())
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(advisory_row).collect()
    }

    async fn advisories_not_filed_count(&self, keyed_with: &str) -> Result<u64> {
        let mut conn = self.reader().acquire().await?;
        // Usually none: three probes of the (kind, keyed_with) index say so
        // without counting anything.
        let mut any = false;
        for cond in ["keyed_with IS NULL", "keyed_with < $1", "keyed_with > $1"] {
            let sql = format!(
                "SELECT key FROM advisory_records WHERE kind = 'vulnerability' AND {cond} LIMIT 1"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            if cond.contains("$1") {
                q = q.bind(keyed_with.to_owned());
            }
            if q.fetch_optional(&mut *conn).await?.is_some() {
                any = true;
                break;
            }
        }
        if !any {
            return Ok(0);
        }
        // Two counts by equality, each answered from an index alone (a
        // condition with `<>` or `IS NULL … OR` made SQLite visit every
        // record: a second on 300,000).
        let all =
            sqlx::query("SELECT COUNT(*) AS n FROM advisory_records WHERE kind = 'vulnerability'")
                .fetch_one(&mut *conn)
                .await?;
        let filed = sqlx::query(
            "SELECT COUNT(*) AS n FROM advisory_records \
             WHERE kind = 'vulnerability' AND keyed_with = $1",
        )
        .bind(keyed_with.to_owned())
        .fetch_one(&mut *conn)
        .await?;
        let all = Cols::new(&all, "advisory_records").u64("n")?;
        let filed = Cols::new(&filed, "advisory_records").u64("n")?;
        Ok(all.saturating_sub(filed))
    }

    async fn file_advisories(&self, filings: &[(String, AdvisoryFiling)]) -> Result<()> {
        for chunk in filings.chunks(ROWS_PER_JOB) {
            let chunk = chunk.to_vec();
            self.write(move |tx| {
                Box::pin(async move {
                    let backend = tx.backend();
                    let conn = tx.conn();
                    let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
                    // Only records that exist are filed.
                    let mut present: HashSet<String> = HashSet::new();
                    for part in keys.chunks(KEYS_PER_SELECT) {
                        let sql = format!(
                            "SELECT key FROM advisory_records WHERE key IN ({})",
                            placeholders(1, part.len())
                        );
                        let mut q = sqlx::query(AssertSqlSafe(sql));
                        for k in part {
                            q = q.bind(k.to_string());
                        }
                        for row in q.fetch_all(&mut *conn).await? {
                            present.insert(Cols::new(&row, "advisory_records").string("key")?);
                        }
                    }
                    let rows: Vec<(&str, &AdvisoryFiling)> = chunk
                        .iter()
                        .filter(|(k, _)| present.contains(k))
                        .map(|(k, f)| (k.as_str(), f))
                        .collect();
                    let keys: Vec<&str> = rows.iter().map(|(k, _)| *k).collect();
                    unfile(conn, &keys).await?;
                    file(conn, backend, &rows).await?;
                    mark_filed(conn, &rows).await?;
                    Ok(())
                })
            })
            .await?;
        }
        Ok(())
    }
}
