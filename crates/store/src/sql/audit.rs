//! [`AuditRepo`] for [`Store`]: appends go through the writer; reads,
//! export and verification read one snapshot.

use futures::{StreamExt, TryStreamExt};
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::{mpsc, oneshot};

use sekimori_audit::{
    AuditEvent, Checkpoint, Entry, Hash, PublicKey, StoredRecord, Verifier, VerifyFailure,
    VerifyReport, record_hash,
};

use crate::repo::{AuditRepo, AuditSnapshot, Result};
use crate::row::{Cols, seq_to_db};
use crate::{AuditCtx, Store, StoreError};

const RECORD_SELECT: &str = "SELECT seq, ts, body, prev_hash, hash FROM audit_records";
const CHECKPOINT_SELECT: &str =
    "SELECT seq, hash, ts, signature FROM audit_checkpoints ORDER BY seq";
const HEAD_SELECT: &str = "SELECT seq, hash, ts, signature FROM audit_head WHERE id = 1";

/// Records streamed to an export before the reader waits for the consumer.
const STREAM_BUFFER: usize = 256;

fn hash_col(c: &Cols<'_>, table: &'static str, col: &'static str) -> Result<Hash> {
    Hash::from_slice(&c.bytes(col)?).ok_or_else(|| StoreError::corrupt(table, col, "not 32 bytes"))
}

fn decode_record(row: &AnyRow) -> Result<StoredRecord> {
    let c = Cols::new(row, "audit_records");
    Ok(StoredRecord {
        seq: c.u64("seq")?,
        ts_micros: c.i64("ts")?,
        body: c.string("body")?,
        prev_hash: hash_col(&c, "audit_records", "prev_hash")?,
        hash: hash_col(&c, "audit_records", "hash")?,
    })
}

fn decode_checkpoint(row: &AnyRow, table: &'static str) -> Result<Checkpoint> {
    let c = Cols::new(row, table);
    Ok(Checkpoint {
        seq: c.u64("seq")?,
        hash: hash_col(&c, table, "hash")?,
        ts_micros: c.i64("ts")?,
        signature: c.bytes("signature")?,
    })
}

/// The head row as a checkpoint; `None` for the empty-log sentinel (seq 0).
fn decode_head(row: Option<AnyRow>) -> Result<Option<Checkpoint>> {
    match row {
        None => Err(StoreError::corrupt("audit_head", "id", "head row missing")),
        Some(r) => {
            let cp = decode_checkpoint(&r, "audit_head")?;
            Ok((cp.seq != 0).then_some(cp))
        }
    }
}

fn flip(mut h: Hash) -> Hash {
    h.0[0] ^= 1;
    h
}

/// Verification must report a tampered row at its seq even when the row no
/// longer decodes (a hash of the wrong length, text where a number belongs).
/// Such a row becomes a record that is guaranteed to fail exactly there: an
/// undecodable `prev_hash` is replaced by one that differs from the previous
/// record's hash; any other undecodable field makes the stored hash differ
/// from the computed one.
fn lenient_record(row: &AnyRow, prev_fed: Hash) -> StoredRecord {
    let seq = row
        .try_get::<i64, _>("seq")
        .ok()
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .unwrap_or(0);
    let mut corrupt = false;
    let ts_micros = row.try_get::<i64, _>("ts").unwrap_or_else(|_| {
        corrupt = true;
        0
    });
    let body = match row.try_get::<Vec<u8>, _>("body").map(String::from_utf8) {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            corrupt = true;
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
        Err(_) => {
            corrupt = true;
            String::new()
        }
    };
    let bytes = |col: &str| row.try_get::<Vec<u8>, _>(col).ok().and_then(|b| Hash::from_slice(&b));
    let prev_hash = bytes("prev_hash").unwrap_or_else(|| flip(prev_fed));
    let hash = match bytes("hash") {
        Some(h) if !corrupt => h,
        _ => flip(record_hash(seq, ts_micros, &body, &prev_hash)),
    };
    StoredRecord { seq, ts_micros, body, prev_hash, hash }
}

/// A checkpoint row that does not decode keeps what it can; its signature
/// then fails to verify at its seq.
fn lenient_checkpoint(row: &AnyRow) -> Checkpoint {
    Checkpoint {
        seq: row
            .try_get::<i64, _>("seq")
            .ok()
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(u64::MAX),
        hash: row
            .try_get::<Vec<u8>, _>("hash")
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .unwrap_or(Hash::GENESIS),
        ts_micros: row.try_get::<i64, _>("ts").unwrap_or(0),
        signature: row.try_get::<Vec<u8>, _>("signature").unwrap_or_default(),
    }
}

impl AuditRepo for Store {
    async fn append(&self, ctx: &AuditCtx, event: AuditEvent) -> Result<u64> {
        self.append_entries(vec![Entry { actor: ctx.actor.clone(), event }]).await
    }

    async fn audit_head(&self) -> Result<Option<Checkpoint>> {
        let row = sqlx::query(HEAD_SELECT).fetch_optional(self.reader()).await?;
        decode_head(row)
    }

    async fn audit_records(&self, from_seq: u64, limit: u32) -> Result<Vec<StoredRecord>> {
        let sql = format!("{RECORD_SELECT} WHERE seq >= $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq_to_db(from_seq)?)
            .bind(i64::from(limit))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_record).collect()
    }

    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let rows = sqlx::query(CHECKPOINT_SELECT).fetch_all(self.reader()).await?;
        rows.iter().map(|r| decode_checkpoint(r, "audit_checkpoints")).collect()
    }

    async fn audit_snapshot(&self) -> Result<AuditSnapshot> {
        let pool = self.reader().clone();
        let begin = self.backend().begin_snapshot_sql();
        let (meta_tx, meta_rx) =
            oneshot::channel::<Result<(Vec<Checkpoint>, Option<Checkpoint>)>>();
        let (rec_tx, rec_rx) = mpsc::channel::<Result<StoredRecord>>(STREAM_BUFFER);
        tokio::spawn(async move {
            let mut conn = match pool.acquire().await {
                Ok(c) => c,
                Err(e) => {
                    let _ = meta_tx.send(Err(e.into()));
                    return;
                }
            };
            let mut tx = match sqlx::Connection::begin_with(&mut *conn, begin).await {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = meta_tx.send(Err(e.into()));
                    return;
                }
            };
            let meta = async {
                let head = decode_head(sqlx::query(HEAD_SELECT).fetch_optional(&mut *tx).await?)?;
                let rows = sqlx::query(CHECKPOINT_SELECT).fetch_all(&mut *tx).await?;
                let cps = rows
                    .iter()
                    .map(|r| decode_checkpoint(r, "audit_checkpoints"))
                    .collect::<Result<Vec<_>>>()?;
                Ok((cps, head))
            }
            .await;
            let failed = meta.is_err();
            if meta_tx.send(meta).is_err() || failed {
                return;
            }
            let sql = format!("{RECORD_SELECT} ORDER BY seq");
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let item = row.map_err(StoreError::from).and_then(|r| decode_record(&r));
                let stop = item.is_err();
                if rec_tx.send(item).await.is_err() || stop {
                    break;
                }
            }
            drop(rows);
            let _ = tx.rollback().await;
        });
        let (checkpoints, head) = meta_rx.await.map_err(|_| StoreError::Unavailable(None))??;
        let records =
            futures::stream::unfold(
                rec_rx,
                |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
            )
            .boxed();
        Ok(AuditSnapshot { checkpoints, head, records })
    }

    async fn verify_audit(
        &self,
        key: &PublicKey,
    ) -> Result<std::result::Result<VerifyReport, VerifyFailure>> {
        let mut conn = self.reader().acquire().await?;
        let mut tx =
            sqlx::Connection::begin_with(&mut *conn, self.backend().begin_snapshot_sql()).await?;
        let backend = self.backend();
        let head_sql = format!("{} WHERE id = 1", backend.verify_select("audit_head"));
        let head = sqlx::query(sqlx::AssertSqlSafe(head_sql))
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| lenient_checkpoint(&r))
            .filter(|h| h.seq != 0);
        let cp_sql = format!("{} ORDER BY seq", backend.verify_select("audit_checkpoints"));
        let checkpoints = sqlx::query(sqlx::AssertSqlSafe(cp_sql))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(lenient_checkpoint)
            .collect();
        let mut verifier = Verifier::new(*key, checkpoints, head);
        let mut prev = Hash::GENESIS;
        // Records in order, then any with a seq below 1 (they can only have
        // been inserted); two range scans instead of a sort of the table.
        for filter in ["WHERE seq >= 1 ORDER BY seq", "WHERE seq < 1 ORDER BY seq"] {
            let sql = format!("{} {filter}", backend.verify_select("audit_records"));
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let rec = lenient_record(&row, prev);
                prev = rec.hash;
                if let Err(failure) = verifier.push(&rec) {
                    return Ok(Err(failure));
                }
            }
        }
        tx.rollback().await?;
        Ok(verifier.finish())
    }
}
