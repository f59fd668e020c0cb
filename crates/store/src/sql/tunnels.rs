//! [`TunnelRepo`] for [`Store`]: tunnel credentials, the authorisation
//! snapshot the gateway reads for every connection, and the records of
//! tunnelled connections.
//!
//! A record copies the user's name and company and the asset's name when it
//! opens, so it still says who reached what after either changes or goes.

use std::collections::HashMap;
use std::net::SocketAddr;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};
use time::OffsetDateTime;

use sekimori_audit::AuditEvent;
use sekimori_types::{
    AccessRequestId, RecordingInfo, SessionId, TunnelCredential, TunnelCredentialId, TunnelSession,
    TunnelSessionId, UserId, Username, from_micros,
};

use crate::error::on_write;
use crate::repo::{Result, TunnelRepo};
use crate::row::{Cols, micros};
use crate::sql::access::{DEFAULT_LIST_LIMIT, fetch_request, rfc3339};
use crate::sql::assets::fetch_asset;
use crate::sql::sessions::{SESSION_COLS, decode_session};
use crate::sql::users::{fetch_user, load_user};
use crate::writer::WriteTx;
use crate::{
    AuditCtx, NewTunnelSession, Session, Store, StoreError, TunnelAuthz, TunnelRecord,
    TunnelSessionEnd, TunnelSessionFilter,
};

/// Length of an Ed25519 public key.
const PUBLIC_KEY_LEN: usize = 32;

const CREDENTIAL_COLS: &str = "id, user_id, session_id, public_key, created_at, expires_at";

const TUNNEL_SESSION_COLS: &str = "id, request_id, user_id, username, company, credential_id, \
     asset_id, asset_name, port, client_addr, target_addr, started_at, ended_at, bytes_up, \
     bytes_down, close_reason, recorded, recording_file, recording_file_bytes, recording_sha256, \
     recording_recorded_bytes, recording_truncated";

/// Most session rows in one `INSERT` (19 parameters each).
const SESSION_INSERT_CHUNK: usize = 32;

/// Ends a session row once (`ended_at IS NULL`), never before its start;
/// completed by a `RETURNING` clause.
macro_rules! end_session_sql {
    () => {
        "UPDATE tunnel_sessions SET \
     ended_at = CASE WHEN $2 < started_at THEN started_at ELSE $2 END, bytes_up = $3, \
     bytes_down = $4, close_reason = $5, recording_file = $6, recording_file_bytes = $7, \
     recording_sha256 = $8, recording_recorded_bytes = $9, recording_truncated = $10 \
     WHERE id = $1 AND ended_at IS NULL"
    };
}

/// [`end_session_sql`] returning the request (for the audit event).
const END_SESSION_RETURNING_REQUEST: &str = concat!(end_session_sql!(), " RETURNING request_id");

fn decode_credential(row: &AnyRow) -> Result<TunnelCredential> {
    let c = Cols::new(row, "tunnel_credentials");
    Ok(TunnelCredential {
        id: c.parse("id")?,
        user: c.parse("user_id")?,
        session: c.parse("session_id")?,
        public_key: c.bytes("public_key")?,
        created_at: c.time("created_at")?,
        expires_at: c.time("expires_at")?,
    })
}

fn decode_tunnel_session(row: &AnyRow) -> Result<TunnelSession> {
    const T: &str = "tunnel_sessions";
    let c = Cols::new(row, T);
    let port = u16::try_from(c.i64("port")?)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| StoreError::corrupt(T, "port", "out of range"))?;
    // The recording columns are all set (recorded and closed) or all NULL.
    let missing = |col| StoreError::corrupt(T, col, "missing with recording_file");
    let unsigned = |col, v: Option<i64>| {
        let v = v.ok_or_else(|| missing(col))?;
        u64::try_from(v).map_err(|_| StoreError::corrupt(T, col, "negative"))
    };
    let recording = match c.opt_string("recording_file")? {
        None => None,
        Some(file) => Some(RecordingInfo {
            file,
            file_bytes: unsigned("recording_file_bytes", c.opt_i64("recording_file_bytes")?)?,
            sha256: c.opt_string("recording_sha256")?.ok_or_else(|| missing("recording_sha256"))?,
            recorded_bytes: unsigned(
                "recording_recorded_bytes",
                c.opt_i64("recording_recorded_bytes")?,
            )?,
            truncated: match c.opt_i64("recording_truncated")? {
                Some(0) => false,
                Some(1) => true,
                Some(_) => return Err(StoreError::corrupt(T, "recording_truncated", "not 0 or 1")),
                None => return Err(missing("recording_truncated")),
            },
        }),
    };
    Ok(TunnelSession {
        id: c.parse("id")?,
        request: c.parse("request_id")?,
        user: c.parse("user_id")?,
        username: Username::parse(&c.string("username")?)
            .map_err(|e| StoreError::corrupt(T, "username", e.reason))?,
        company: c.opt_label("company")?,
        credential: c.parse("credential_id")?,
        asset: c.parse("asset_id")?,
        asset_name: c.label("asset_name")?,
        port,
        client_addr: c.parse::<SocketAddr>("client_addr")?,
        target_addr: c.parse::<SocketAddr>("target_addr")?,
        started_at: c.time("started_at")?,
        ended_at: c.opt_time("ended_at")?,
        bytes_up: c.u64("bytes_up")?,
        bytes_down: c.u64("bytes_down")?,
        close_reason: c.opt_parse("close_reason")?,
        recorded: c.bool("recorded")?,
        recording,
    })
}

async fn fetch_credential(
    conn: &mut AnyConnection,
    id: TunnelCredentialId,
) -> Result<Option<TunnelCredential>> {
    let sql = format!("SELECT {CREDENTIAL_COLS} FROM tunnel_credentials WHERE id = $1");
    let row =
        sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.as_ref().map(decode_credential).transpose()
}

async fn fetch_session(conn: &mut AnyConnection, id: SessionId) -> Result<Option<Session>> {
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1");
    let row =
        sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.as_ref().map(decode_session).transpose()
}

async fn fetch_tunnel_session(
    conn: &mut AnyConnection,
    id: TunnelSessionId,
) -> Result<Option<TunnelSession>> {
    let sql = format!("SELECT {TUNNEL_SESSION_COLS} FROM tunnel_sessions WHERE id = $1");
    let row =
        sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.as_ref().map(decode_tunnel_session).transpose()
}

/// A byte count as stored (BIGINT).
fn count_to_db(field: &'static str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::invalid(field, "out_of_range"))
}

/// The stored form of a session's end, checked before it reaches the writer.
struct EndRow {
    bytes_up: i64,
    bytes_down: i64,
    recording: Option<(String, i64, String, i64, bool)>,
}

fn end_row(end: &TunnelSessionEnd) -> Result<EndRow> {
    let recording = match &end.recording {
        None => None,
        Some(r) => {
            let hex = r.sha256.len() == 64
                && r.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex {
                return Err(StoreError::invalid("recording_sha256", "format"));
            }
            // Relative to `recordings/` and inside it.
            let escapes = r.file.starts_with(['/', '\\'])
                || r.file.split(['/', '\\']).any(|part| part == "..");
            if r.file.is_empty() || escapes {
                return Err(StoreError::invalid("recording_file", "format"));
            }
            Some((
                r.file.clone(),
                count_to_db("recording_file_bytes", r.file_bytes)?,
                r.sha256.clone(),
                count_to_db("recording_recorded_bytes", r.recorded_bytes)?,
                r.truncated,
            ))
        }
    };
    Ok(EndRow {
        bytes_up: count_to_db("bytes_up", end.bytes_up)?,
        bytes_down: count_to_db("bytes_down", end.bytes_down)?,
        recording,
    })
}

impl TunnelRepo for Store {
    async fn create_tunnel_credential(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        session: SessionId,
        public_key: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<TunnelCredential> {
        if public_key.len() != PUBLIC_KEY_LEN {
            return Err(StoreError::invalid("public_key", "length"));
        }
        let key_sha256 =
            hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_key));
        let (ctx, public_key) = (ctx.clone(), public_key.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                let s = fetch_session(tx.conn(), session).await?;
                let now = from_micros(tx.now_micros());
                // Revoked, expired or another user's: as good as none.
                let Some(s) = s.filter(|s| s.user == user && s.is_live(now)) else {
                    return Err(StoreError::not_found("session", session));
                };
                let expires_at = from_micros(micros(expires_at.min(s.expires_at)));
                if expires_at <= now {
                    return Err(StoreError::invalid("expires_at", "in_past"));
                }
                let expires_text = rfc3339("expires_at", expires_at)?;
                let id = TunnelCredentialId::new();
                sqlx::query(
                    "INSERT INTO tunnel_credentials (id, user_id, session_id, public_key, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(session.to_string())
                .bind(public_key.clone())
                .bind(micros(now))
                .bind(micros(expires_at))
                .execute(tx.conn())
                .await
                .map_err(on_write("tunnel_credential", "id"))?;
                tx.audit(
                    &ctx,
                    AuditEvent::TunnelCredentialIssued {
                        credential: id,
                        user,
                        session,
                        expires_at: expires_text,
                        key_sha256,
                    },
                );
                Ok(TunnelCredential { id, user, session, public_key, created_at: now, expires_at })
            })
        })
        .await
    }

    async fn tunnel_authz(
        &self,
        credential: TunnelCredentialId,
        request: Option<AccessRequestId>,
    ) -> Result<TunnelAuthz> {
        // Two independent reads on two pooled connections, at once: this
        // runs for every tunnelled connection, so its latency is the
        // gateway's. No snapshot is needed: every condition the gateway
        // checks lives in one row (the request's state and window; the
        // session's revocation; the user's status), so any interleaving
        // with a revocation shows either the old or the new value of each,
        // and a revocation seen anywhere refuses.
        let reader = self.reader();
        let identity = async {
            let mut conn = reader.acquire().await?;
            let credential = fetch_credential(&mut conn, credential).await?;
            let (session, user) = match &credential {
                Some(c) => (
                    fetch_session(&mut conn, c.session).await?,
                    fetch_user(&mut *conn, c.user).await?,
                ),
                None => (None, None),
            };
            Ok::<_, StoreError>((credential, session, user))
        };
        let grant = async {
            let Some(id) = request else { return Ok::<_, StoreError>((None, None)) };
            let mut conn = reader.acquire().await?;
            let request = fetch_request(&mut conn, id).await?;
            let asset = match &request {
                Some(r) => fetch_asset(&mut conn, r.asset).await?,
                None => None,
            };
            Ok((request, asset))
        };
        let ((credential, session, user), (request, asset)) = futures::try_join!(identity, grant)?;
        Ok(TunnelAuthz { credential, session, user, request, asset })
    }

    async fn open_tunnel_session(
        &self,
        ctx: &AuditCtx,
        new: &NewTunnelSession,
    ) -> Result<TunnelSession> {
        if new.port == 0 {
            return Err(StoreError::invalid("port", "out_of_range"));
        }
        let (ctx, new) = (ctx.clone(), new.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let now = from_micros(tx.now_micros());
                let row = NewRow { new: &new, started_at: now, end: None };
                let Some(names) = insert_sessions(tx, &[row]).await?.remove(&new.id) else {
                    return Err(why_not_opened(tx, &new).await);
                };
                tx.audit(&ctx, opened_event(&new));
                Ok(TunnelSession {
                    id: new.id,
                    request: new.request,
                    user: new.user,
                    username: names.username,
                    company: names.company,
                    credential: new.credential,
                    asset: new.asset,
                    asset_name: names.asset_name,
                    port: new.port,
                    client_addr: new.client_addr,
                    target_addr: new.target_addr,
                    started_at: now,
                    ended_at: None,
                    bytes_up: 0,
                    bytes_down: 0,
                    close_reason: None,
                    recorded: new.recorded,
                    recording: None,
                })
            })
        })
        .await
    }

    async fn close_tunnel_session(
        &self,
        ctx: &AuditCtx,
        id: TunnelSessionId,
        end: &TunnelSessionEnd,
    ) -> Result<TunnelSession> {
        let row = end_row(end)?;
        let (ctx, end) = (ctx.clone(), end.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let now = from_micros(tx.now_micros());
                let sql = format!("{} RETURNING {TUNNEL_SESSION_COLS}", end_session_sql!());
                let Some(s) = end_session(tx, AssertSqlSafe(sql), id, &row, &end, now).await?
                else {
                    return Err(why_not_ended(tx, id).await);
                };
                let s = decode_tunnel_session(&s)?;
                tx.audit(&ctx, closed_event(id, s.request, &end));
                Ok(s)
            })
        })
        .await
    }

    async fn record_tunnel_sessions(
        &self,
        ctx: &AuditCtx,
        records: Vec<TunnelRecord>,
    ) -> Result<Vec<Result<()>>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = ctx.clone();
        self.write(move |tx| Box::pin(async move { write_records(tx, &ctx, &records).await })).await
    }

    async fn tunnel_session(&self, id: TunnelSessionId) -> Result<TunnelSession> {
        let mut conn = self.reader().acquire().await?;
        fetch_tunnel_session(&mut conn, id)
            .await?
            .ok_or_else(|| StoreError::not_found("tunnel_session", id))
    }

    async fn list_tunnel_sessions(
        &self,
        filter: &TunnelSessionFilter,
    ) -> Result<Vec<TunnelSession>> {
        // Only the conditions asked for, so each can use its index.
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        if filter.live_only {
            conditions.push("ended_at IS NULL".to_owned());
        }
        if let Some(u) = filter.user {
            binds.push(u.to_string());
            conditions.push(format!("user_id = ${}", binds.len()));
        }
        if let Some(r) = filter.request {
            binds.push(r.to_string());
            conditions.push(format!("request_id = ${}", binds.len()));
        }
        let mut sql = format!("SELECT {TUNNEL_SESSION_COLS} FROM tunnel_sessions");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        let limit = if filter.limit == 0 { DEFAULT_LIST_LIMIT } else { filter.limit };
        sql.push_str(&format!(" ORDER BY started_at DESC, id DESC LIMIT ${}", binds.len() + 1));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.bind(i64::from(limit)).fetch_all(self.reader()).await?;
        rows.iter().map(decode_tunnel_session).collect()
    }
}

/// The names a session row copied from the user's and the asset's rows.
struct SessionNames {
    username: Username,
    company: Option<sekimori_types::Label>,
    asset_name: sekimori_types::Label,
}

/// A session row to insert: the connection, when it opened, and its end
/// when it ended before the row was written.
struct NewRow<'r> {
    new: &'r NewTunnelSession,
    started_at: OffsetDateTime,
    end: Option<(&'r EndRow, &'r TunnelSessionEnd, OffsetDateTime)>,
}

/// Inserts session rows in one statement (it runs for every group of
/// tunnelled connections): a row is written only if its request is the
/// user's and names the asset; the names come from their rows. Whether the
/// grant allows the connection is the gateway's decision, made on
/// `tunnel_authz`. Returns the names of the rows written, by id.
async fn insert_sessions(
    tx: &mut WriteTx<'_>,
    rows: &[NewRow<'_>],
) -> Result<HashMap<TunnelSessionId, SessionNames>> {
    const PARAMS: usize = 19;
    let mut sql = String::from(
        "INSERT INTO tunnel_sessions (id, request_id, user_id, username, company, \
         credential_id, asset_id, asset_name, port, client_addr, target_addr, started_at, \
         recorded, bytes_up, bytes_down, ended_at, close_reason, recording_file, \
         recording_file_bytes, recording_sha256, recording_recorded_bytes, recording_truncated) \
         SELECT v.column1, r.id, u.id, u.username, u.company, v.column2, a.id, a.name, \
         v.column3, v.column4, v.column5, v.column6, v.column7, v.column11, v.column12, \
         v.column13, v.column14, v.column15, v.column16, v.column17, v.column18, v.column19 \
         FROM (VALUES ",
    );
    for i in 0..rows.len() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for p in 1..=PARAMS {
            if p > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", i * PARAMS + p));
        }
        sql.push(')');
    }
    sql.push_str(
        ") AS v JOIN access_requests r ON r.id = v.column8 AND r.requester_id = v.column9 \
         AND r.asset_id = v.column10 JOIN users u ON u.id = r.requester_id \
         JOIN assets a ON a.id = r.asset_id RETURNING id, username, company, asset_name",
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for row in rows {
        let (new, started) = (row.new, micros(row.started_at));
        let end = row.end;
        let rec = end.and_then(|e| e.0.recording.as_ref());
        q = q
            .bind(new.id.to_string())
            .bind(new.credential.to_string())
            .bind(i64::from(new.port))
            .bind(new.client_addr.to_string())
            .bind(new.target_addr.to_string())
            .bind(started)
            .bind(i64::from(new.recorded))
            .bind(new.request.to_string())
            .bind(new.user.to_string())
            .bind(new.asset.to_string())
            .bind(end.map_or(0, |e| e.0.bytes_up))
            .bind(end.map_or(0, |e| e.0.bytes_down))
            .bind(end.map(|e| micros(e.2).max(started)))
            .bind(end.map(|e| e.1.reason.as_str()))
            .bind(rec.map(|r| r.0.clone()))
            .bind(rec.map(|r| r.1))
            .bind(rec.map(|r| r.2.clone()))
            .bind(rec.map(|r| r.3))
            .bind(rec.map(|r| i64::from(r.4)));
    }
    let written = q.fetch_all(tx.conn()).await.map_err(on_write("tunnel_session", "id"))?;
    const T: &str = "tunnel_sessions";
    let mut names = HashMap::with_capacity(written.len());
    for row in &written {
        let c = Cols::new(row, T);
        let n = SessionNames {
            username: Username::parse(&c.string("username")?)
                .map_err(|e| StoreError::corrupt(T, "username", e.reason))?,
            company: c.opt_label("company")?,
            asset_name: c.label("asset_name")?,
        };
        names.insert(c.parse("id")?, n);
    }
    Ok(names)
}

/// Ends the row of `id` (`end_session_sql!`, completed by `sql`'s
/// `RETURNING`); `None` if it is not there or already ended.
async fn end_session<'q>(
    tx: &mut WriteTx<'_>,
    sql: impl sqlx::SqlSafeStr + 'q,
    id: TunnelSessionId,
    row: &EndRow,
    end: &TunnelSessionEnd,
    at: OffsetDateTime,
) -> Result<Option<AnyRow>> {
    let rec = row.recording.as_ref();
    let r = sqlx::query(sql)
        .bind(id.to_string())
        .bind(micros(at))
        .bind(row.bytes_up)
        .bind(row.bytes_down)
        .bind(end.reason.as_str())
        .bind(rec.map(|r| r.0.clone()))
        .bind(rec.map(|r| r.1))
        .bind(rec.map(|r| r.2.clone()))
        .bind(rec.map(|r| r.3))
        .bind(rec.map(|r| i64::from(r.4)))
        .fetch_optional(tx.conn())
        .await?;
    Ok(r)
}

fn opened_event(new: &NewTunnelSession) -> AuditEvent {
    AuditEvent::TunnelOpened {
        tunnel_session: new.id,
        request: new.request,
        user: new.user,
        asset: new.asset,
        port: new.port,
        client: new.client_addr.to_string(),
        target: new.target_addr.to_string(),
        recorded: new.recorded,
    }
}

fn closed_event(
    id: TunnelSessionId,
    request: AccessRequestId,
    end: &TunnelSessionEnd,
) -> AuditEvent {
    let recording = end.recording.as_ref();
    AuditEvent::TunnelClosed {
        tunnel_session: id,
        request,
        bytes_up: end.bytes_up,
        bytes_down: end.bytes_down,
        reason: end.reason,
        recording_sha256: recording.map(|r| r.sha256.clone()),
        recorded_bytes: recording.map(|r| r.recorded_bytes),
        recording_truncated: recording.map(|r| r.truncated),
    }
}

/// Writes the records of `record_tunnel_sessions`: the new rows (starts,
/// alone or with their ends) in one statement per [`SESSION_INSERT_CHUNK`],
/// then the ends of rows written before, one statement each; audited in
/// the order of `records`. A record that cannot be written gets its error
/// and writes nothing; `Err` if a statement failed (which fails the whole
/// job: on PostgreSQL the transaction is aborted).
async fn write_records(
    tx: &mut WriteTx<'_>,
    ctx: &AuditCtx,
    records: &[TunnelRecord],
) -> Result<Vec<Result<()>>> {
    // Checked before any statement.
    let mut results = Vec::with_capacity(records.len());
    let mut ends = Vec::with_capacity(records.len());
    for record in records {
        let (new, end) = match record {
            TunnelRecord::Opened { new, .. } => (Some(new), None),
            TunnelRecord::Ended { end, .. } => (None, Some(end)),
            TunnelRecord::OpenedAndEnded { new, end, .. } => (Some(new), Some(end)),
        };
        let checked = match (new, end) {
            (Some(n), _) if n.port == 0 => Err(StoreError::invalid("port", "out_of_range")),
            (_, Some(end)) => end_row(end).map(Some),
            (_, None) => Ok(None),
        };
        match checked {
            Ok(row) => {
                results.push(Ok(()));
                ends.push(row);
            }
            Err(e) => {
                results.push(Err(e));
                ends.push(None);
            }
        }
    }

    // New rows.
    let starts: Vec<usize> = (0..records.len())
        .filter(|&i| results[i].is_ok() && !matches!(records[i], TunnelRecord::Ended { .. }))
        .collect();
    for chunk in starts.chunks(SESSION_INSERT_CHUNK) {
        let mut rows = Vec::with_capacity(chunk.len());
        for &i in chunk {
            match (&records[i], &ends[i]) {
                (TunnelRecord::Opened { new, at }, _) => {
                    rows.push(NewRow { new, started_at: *at, end: None });
                }
                (TunnelRecord::OpenedAndEnded { new, opened_at, end, ended_at }, Some(row)) => {
                    rows.push(NewRow {
                        new,
                        started_at: *opened_at,
                        end: Some((row, end, *ended_at)),
                    });
                }
                _ => return Err(StoreError::Unavailable(None)),
            }
        }
        let written = insert_sessions(tx, &rows).await?;
        for (&i, row) in chunk.iter().zip(&rows) {
            if !written.contains_key(&row.new.id) {
                results[i] = Err(why_not_opened(tx, row.new).await);
            }
        }
    }

    // Ends of rows written before, in order.
    let mut requests = vec![None; records.len()];
    for (i, record) in records.iter().enumerate() {
        let (TunnelRecord::Ended { id, end, at }, Ok(()), Some(row)) =
            (record, &results[i], &ends[i])
        else {
            continue;
        };
        let sql = END_SESSION_RETURNING_REQUEST;
        match end_session(tx, sql, *id, row, end, *at).await? {
            Some(r) => requests[i] = Some(Cols::new(&r, "tunnel_sessions").parse("request_id")?),
            None => results[i] = Err(why_not_ended(tx, *id).await),
        }
    }

    for (i, record) in records.iter().enumerate() {
        if results[i].is_err() {
            continue;
        }
        match record {
            TunnelRecord::Opened { new, .. } => tx.audit(ctx, opened_event(new)),
            TunnelRecord::Ended { id, end, .. } => {
                if let Some(request) = requests[i] {
                    tx.audit(ctx, closed_event(*id, request, end));
                }
            }
            TunnelRecord::OpenedAndEnded { new, end, .. } => {
                tx.audit(ctx, opened_event(new));
                tx.audit(ctx, closed_event(new.id, new.request, end));
            }
        }
    }
    Ok(results)
}

/// Why `end_session_sql!` wrote nothing (only read on this rare path).
async fn why_not_ended(tx: &mut WriteTx<'_>, id: TunnelSessionId) -> StoreError {
    match fetch_tunnel_session(tx.conn(), id).await {
        Ok(Some(_)) => StoreError::invalid("state", "ended"),
        Ok(None) => StoreError::not_found("tunnel_session", id),
        Err(e) => e,
    }
}

/// Why `open_tunnel_session` wrote nothing: the same answers its checks
/// gave when they ran one by one (only read on this rare path).
async fn why_not_opened(tx: &mut WriteTx<'_>, new: &NewTunnelSession) -> StoreError {
    if let Err(e) = load_user(tx, new.user).await {
        return e;
    }
    let row = sqlx::query("SELECT requester_id, asset_id FROM access_requests WHERE id = $1")
        .bind(new.request.to_string())
        .fetch_optional(tx.conn())
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return StoreError::not_found("request", new.request),
        Err(e) => return e.into(),
    };
    let c = Cols::new(&row, "access_requests");
    match c.parse::<UserId>("requester_id") {
        Ok(u) if u == new.user => {}
        Ok(_) => return StoreError::invalid("user", "mismatch"),
        Err(e) => return e,
    }
    match c.parse::<sekimori_types::AssetId>("asset_id") {
        Ok(a) if a == new.asset => StoreError::not_found("asset", new.asset),
        Ok(_) => StoreError::invalid("asset", "mismatch"),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekimori_types::{CloseReason, RecordingInfo};

    fn end(sha256: &str, file: &str) -> TunnelSessionEnd {
        TunnelSessionEnd {
            bytes_up: 1,
            bytes_down: 2,
            reason: CloseReason::Client,
            recording: Some(RecordingInfo {
                file: file.into(),
                file_bytes: 10,
                sha256: sha256.into(),
                recorded_bytes: 3,
                truncated: false,
            }),
        }
    }

    #[test]
    fn ends_are_checked_before_the_writer() {
        let good = "ab".repeat(32);
        assert!(end_row(&end(&good, "x.rec")).is_ok());
        assert!(end_row(&end(&good.to_uppercase(), "x.rec")).is_err());
        assert!(end_row(&end("abc", "x.rec")).is_err());
        assert!(end_row(&end(&good, "2030/x.rec")).is_ok());
        assert!(end_row(&end(&good, "../x.rec")).is_err());
        assert!(end_row(&end(&good, "/etc/x.rec")).is_err());
        assert!(end_row(&end(&good, "")).is_err());
        let mut big = end(&good, "x.rec");
        big.bytes_up = u64::MAX;
        assert!(end_row(&big).is_err());
    }
}
