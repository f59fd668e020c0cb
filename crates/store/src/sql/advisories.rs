//! [`AdvisoryRepo`] for [`Store`]: imported advisory records.
//!
//! An import of 300,000 records arrives in batches; each batch is one write
//! job that reads the stored digests of its keys and then inserts the new
//! records and replaces the changed ones with multi-row statements, so the
//! write lock is held for milliseconds at a time and a login or an
//! authorisation never waits behind an import.

use std::collections::{HashMap, HashSet};

use sqlx::AssertSqlSafe;

use crate::repo::{AdvisoryCounts, AdvisoryRepo, AdvisoryRow, AdvisoryWrite, Result};
use crate::row::Cols;
use crate::writer::WriteTx;
use crate::{Store, StoreError};

/// Records per write job.
const ROWS_PER_JOB: usize = 2000;
/// Rows per multi-row `INSERT` (6 parameters each).
const ROWS_PER_INSERT: usize = 100;
/// Keys per `IN (…)` lookup.
const KEYS_PER_SELECT: usize = 500;
const MAX_PAGE: u32 = 5000;

fn placeholders(start: usize, count: usize) -> String {
    (start..start + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

async fn write_chunk(tx: &mut WriteTx<'_>, chunk: &[AdvisoryRow]) -> Result<AdvisoryWrite> {
    let now = tx.now_micros();
    let conn = tx.conn();
    let mut stored: HashMap<String, String> = HashMap::new();
    for keys in chunk.chunks(KEYS_PER_SELECT) {
        let sql = format!(
            "SELECT key, digest FROM advisory_records WHERE key IN ({})",
            placeholders(1, keys.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in keys {
            q = q.bind(r.key.clone());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let c = Cols::new(&row, "advisory_records");
            stored.insert(c.string("key")?, c.string("digest")?);
        }
    }
    let mut out = AdvisoryWrite::default();
    let mut fresh: Vec<&AdvisoryRow> = Vec::new();
    let mut changed: Vec<&AdvisoryRow> = Vec::new();
    for r in chunk {
        match stored.get(&r.key) {
            None => fresh.push(r),
            Some(d) if *d == r.digest => out.unchanged += 1,
            Some(_) => changed.push(r),
        }
    }
    // A changed record is deleted and inserted again: one portable statement.
    for keys in changed.chunks(KEYS_PER_SELECT) {
        let sql =
            format!("DELETE FROM advisory_records WHERE key IN ({})", placeholders(1, keys.len()));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in keys {
            q = q.bind(r.key.clone());
        }
        q.execute(&mut *conn).await?;
    }
    out.added = fresh.len() as u64;
    out.updated = changed.len() as u64;
    let all: Vec<&AdvisoryRow> = fresh.into_iter().chain(changed).collect();
    for rows in all.chunks(ROWS_PER_INSERT) {
        let values = (0..rows.len())
            .map(|i| {
                let b = i * 6;
                format!("(${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO advisory_records (key, kind, cve, digest, body, imported_at) VALUES {values}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in rows {
            q = q
                .bind(r.key.clone())
                .bind(r.kind.clone())
                .bind(r.cve.clone())
                .bind(r.digest.clone())
                .bind(r.body.clone())
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(out)
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
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, "advisory_records");
                Ok(AdvisoryRow {
                    key: c.string("key")?,
                    kind: c.string("kind")?,
                    cve: c.string("cve")?,
                    digest: c.string("digest")?,
                    body: c.string("body")?,
                })
            })
            .collect()
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
}
