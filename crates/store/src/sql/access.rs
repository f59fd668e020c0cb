//! [`AccessRepo`] for [`Store`]: access requests, their approvals, and the
//! state machine between them.
//!
//! Only the stored [`RequestState`] is written; whether an approved request
//! is scheduled, active or over is [`AccessRequest::status_at`] of the job's
//! time, so every transition checks the status at that time, not the stored
//! state alone (a pending request whose requested window passed is not
//! pending any more, even before `expire_requests` marks it).

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use sekimori_audit::AuditEvent;
use sekimori_types::{
    AccessRequest, AccessRequestId, AccessStatus, Approval, NewAccessRequest, RequestState, User,
    UserId, Username, from_micros,
};

use crate::error::on_write;
use crate::repo::{AccessRepo, Result};
use crate::row::{Cols, micros};
use crate::sql::assets::fetch_asset;
use crate::sql::users::load_user;
use crate::writer::WriteTx;
use crate::{AuditCtx, RequestFilter, Store, StoreError};

/// Rows listed when a filter names no limit.
pub(crate) const DEFAULT_LIST_LIMIT: u32 = 500;

/// Longest decision note, in characters (as a request's reason).
const MAX_NOTE_CHARS: usize = 500;

/// Request IDs per `IN (…)` list when loading approvals, well under both
/// backends' bind-parameter limits.
const IN_CHUNK: usize = 500;

const REQUEST_SELECT: &str = "SELECT r.id, r.requester_id, u.username AS requester_username, \
     r.company, r.asset_id, r.asset_name, r.ports, r.reason, r.requested_start, \
     r.duration_minutes, r.state, r.approvals_required, r.window_start, r.window_end, \
     r.decided_by, r.decision_note, r.created_at, r.updated_at \
     FROM access_requests r JOIN users u ON u.id = r.requester_id";

const APPROVAL_SELECT: &str = "SELECT a.request_id, a.approver_id, u.username, a.approved_at \
     FROM access_approvals a JOIN users u ON u.id = a.approver_id";

/// Ports as stored: a comma list in the order asked for.
fn encode_ports(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

fn decode_ports(s: &str) -> Result<Vec<u16>> {
    s.split(',')
        .map(|p| p.parse::<u16>().ok().filter(|p| *p != 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| StoreError::corrupt("access_requests", "ports", "not a port list"))
}

/// A request row, without its approvals.
fn decode_request(row: &AnyRow) -> Result<AccessRequest> {
    let c = Cols::new(row, "access_requests");
    let approvals_required = u8::try_from(c.i64("approvals_required")?)
        .ok()
        .filter(|n| (1..=2).contains(n))
        .ok_or_else(|| {
            StoreError::corrupt("access_requests", "approvals_required", "not 1 or 2")
        })?;
    Ok(AccessRequest {
        id: c.parse("id")?,
        requester: c.parse("requester_id")?,
        requester_username: Username::parse(&c.string("requester_username")?)
            .map_err(|e| StoreError::corrupt("users", "username", e.reason))?,
        company: c.opt_label("company")?,
        asset: c.parse("asset_id")?,
        asset_name: c.label("asset_name")?,
        ports: decode_ports(&c.string("ports")?)?,
        reason: c.string("reason")?,
        requested_start: c.opt_time("requested_start")?,
        duration_minutes: c.u32("duration_minutes")?,
        state: c.parse("state")?,
        approvals_required,
        approvals: Vec::new(),
        window_start: c.opt_time("window_start")?,
        window_end: c.opt_time("window_end")?,
        decided_by: c.opt_parse("decided_by")?,
        decision_note: c.opt_string("decision_note")?,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
    })
}

/// The approvals of some requests, by request ID, oldest first.
async fn fetch_approvals(
    conn: &mut AnyConnection,
    ids: &[AccessRequestId],
) -> Result<HashMap<AccessRequestId, Vec<Approval>>> {
    let mut out: HashMap<AccessRequestId, Vec<Approval>> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let placeholders =
            (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "{APPROVAL_SELECT} WHERE a.request_id IN ({placeholders}) \
             ORDER BY a.approved_at, a.approver_id"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.to_string());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let c = Cols::new(&row, "access_approvals");
            let approval = Approval {
                approver: c.parse("approver_id")?,
                approver_username: Username::parse(&c.string("username")?)
                    .map_err(|e| StoreError::corrupt("users", "username", e.reason))?,
                at: c.time("approved_at")?,
            };
            out.entry(c.parse("request_id")?).or_default().push(approval);
        }
    }
    Ok(out)
}

/// The request with this ID and its approvals, if it exists.
pub(crate) async fn fetch_request(
    conn: &mut AnyConnection,
    id: AccessRequestId,
) -> Result<Option<AccessRequest>> {
    let sql = format!("{REQUEST_SELECT} WHERE r.id = $1");
    let row =
        sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Ok(None) };
    let mut request = decode_request(&row)?;
    request.approvals = fetch_approvals(conn, &[id]).await?.remove(&id).unwrap_or_default();
    Ok(Some(request))
}

async fn load_request(tx: &mut WriteTx<'_>, id: AccessRequestId) -> Result<AccessRequest> {
    fetch_request(tx.conn(), id).await?.ok_or_else(|| StoreError::not_found("request", id))
}

/// The job's time as stored (whole microseconds), so that what is compared,
/// stored, returned and audited is the same instant.
fn stored_now(tx: &WriteTx<'_>) -> OffsetDateTime {
    from_micros(tx.now_micros())
}

/// RFC 3339 in UTC, as audit events carry times. Fails only for years
/// outside 0–9999.
pub(crate) fn rfc3339(field: &'static str, t: OffsetDateTime) -> Result<String> {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|_| StoreError::invalid(field, "out_of_range"))
}

/// A decision note: trimmed, empty means none, same limits as a reason (it
/// lands in the audit log).
fn clean_note(note: Option<&str>) -> Result<Option<String>> {
    let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(StoreError::invalid("note", "length"));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(StoreError::invalid("note", "control_characters"));
    }
    Ok(Some(note.to_owned()))
}

/// Moves a request from `from` to `to`, recording who decided and why.
/// `refusal` is the reason reported if the row is no longer in `from`
/// (cannot happen while writes are serialised; checked regardless).
async fn set_state(
    tx: &mut WriteTx<'_>,
    id: AccessRequestId,
    from: RequestState,
    to: RequestState,
    by: UserId,
    note: Option<&str>,
    refusal: &'static str,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE access_requests SET state = $3, decided_by = $4, decision_note = $5, \
         updated_at = $6 WHERE id = $1 AND state = $2",
    )
    .bind(id.to_string())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(by.to_string())
    .bind(note)
    .bind(tx.now_micros())
    .execute(tx.conn())
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::invalid("state", refusal));
    }
    Ok(())
}

impl AccessRepo for Store {
    async fn create_request(
        &self,
        ctx: &AuditCtx,
        requester: &User,
        new: &NewAccessRequest,
    ) -> Result<AccessRequest> {
        new.validate()?;
        let start = match new.start {
            None => None,
            Some(s) => {
                // The whole requested window must be expressible in the log.
                let end = s.checked_add(time::Duration::minutes(i64::from(new.duration_minutes)));
                rfc3339("start", end.ok_or_else(|| StoreError::invalid("start", "out_of_range"))?)?;
                Some(from_micros(micros(s)))
            }
        };
        let start_text = start.map(|s| rfc3339("start", s)).transpose()?;
        let (ctx, new, requester) = (ctx.clone(), new.clone(), requester.id);
        self.write(move |tx| {
            Box::pin(async move {
                let asset = fetch_asset(tx.conn(), new.asset)
                    .await?
                    .ok_or_else(|| StoreError::not_found("asset", new.asset))?;
                new.validate_for(&asset)?;
                // The stored user, not the caller's copy: its company now.
                let user = load_user(tx, requester).await?;
                let id = AccessRequestId::new();
                let reason = new.reason.trim().to_owned();
                sqlx::query(
                    "INSERT INTO access_requests (id, requester_id, company, asset_id, \
                     asset_name, ports, reason, requested_start, duration_minutes, state, \
                     approvals_required, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                )
                .bind(id.to_string())
                .bind(user.id.to_string())
                .bind(user.company.as_ref().map(|l| l.as_str()))
                .bind(asset.id.to_string())
                .bind(asset.name.as_str())
                .bind(encode_ports(&new.ports))
                .bind(reason.as_str())
                .bind(start.map(micros))
                .bind(i64::from(new.duration_minutes))
                .bind(RequestState::Pending.as_str())
                .bind(i64::from(asset.approvals_required))
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await
                .map_err(on_write("request", "id"))?;
                tx.audit(
                    &ctx,
                    AuditEvent::AccessRequested {
                        request: id,
                        user: user.id,
                        asset: asset.id,
                        asset_name: asset.name.to_string(),
                        ports: new.ports.clone(),
                        start: start_text,
                        duration_minutes: new.duration_minutes,
                        reason,
                    },
                );
                load_request(tx, id).await
            })
        })
        .await
    }

    async fn request(&self, id: AccessRequestId) -> Result<AccessRequest> {
        let mut conn = self.reader().acquire().await?;
        // One snapshot for the request and its approvals.
        let mut tx =
            sqlx::Connection::begin_with(&mut *conn, self.backend().begin_snapshot_sql()).await?;
        let request = fetch_request(&mut tx, id).await?;
        tx.commit().await?;
        request.ok_or_else(|| StoreError::not_found("request", id))
    }

    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<AccessRequest>> {
        // Only the conditions asked for, so each can use its index.
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        if let Some(u) = filter.requester {
            binds.push(u.to_string());
            conditions.push(format!("r.requester_id = ${}", binds.len()));
        }
        if let Some(a) = filter.asset {
            binds.push(a.to_string());
            conditions.push(format!("r.asset_id = ${}", binds.len()));
        }
        if !filter.states.is_empty() {
            let mut list = Vec::new();
            for s in &filter.states {
                binds.push(s.as_str().to_owned());
                list.push(format!("${}", binds.len()));
            }
            conditions.push(format!("r.state IN ({})", list.join(", ")));
        }
        let mut sql = REQUEST_SELECT.to_owned();
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        let limit = if filter.limit == 0 { DEFAULT_LIST_LIMIT } else { filter.limit };
        sql.push_str(&format!(" ORDER BY r.created_at DESC, r.id DESC LIMIT ${}", binds.len() + 1));

        let mut conn = self.reader().acquire().await?;
        let mut tx =
            sqlx::Connection::begin_with(&mut *conn, self.backend().begin_snapshot_sql()).await?;
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.bind(i64::from(limit)).fetch_all(&mut *tx).await?;
        let mut requests = rows.iter().map(decode_request).collect::<Result<Vec<_>>>()?;
        let ids: Vec<_> = requests.iter().map(|r| r.id).collect();
        let mut approvals = fetch_approvals(&mut tx, &ids).await?;
        tx.commit().await?;
        for r in &mut requests {
            r.approvals = approvals.remove(&r.id).unwrap_or_default();
        }
        Ok(requests)
    }

    async fn approve_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        approver: UserId,
    ) -> Result<AccessRequest> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let r = load_request(tx, id).await?;
                load_user(tx, approver).await?;
                if r.requester == approver {
                    return Err(StoreError::invalid("approver", "own_request"));
                }
                let now = stored_now(tx);
                if r.status_at(now) != AccessStatus::Pending {
                    return Err(StoreError::invalid("state", "not_pending"));
                }
                if r.approvals.iter().any(|a| a.approver == approver) {
                    return Err(StoreError::Conflict { what: "approval", field: "approver" });
                }
                sqlx::query(
                    "INSERT INTO access_approvals (request_id, approver_id, approved_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(id.to_string())
                .bind(approver.to_string())
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await
                .map_err(on_write("approval", "approver"))?;
                let approvals = u8::try_from(r.approvals.len() + 1).unwrap_or(u8::MAX);
                let window = if approvals >= r.approvals_required {
                    let (start, end) = r.window_if_approved_at(now);
                    let text = (rfc3339("window_start", start)?, rfc3339("window_end", end)?);
                    let done = sqlx::query(
                        "UPDATE access_requests SET state = $2, window_start = $3, \
                         window_end = $4, updated_at = $5 WHERE id = $1 AND state = $6",
                    )
                    .bind(id.to_string())
                    .bind(RequestState::Approved.as_str())
                    .bind(micros(start))
                    .bind(micros(end))
                    .bind(tx.now_micros())
                    .bind(RequestState::Pending.as_str())
                    .execute(tx.conn())
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::invalid("state", "not_pending"));
                    }
                    Some(text)
                } else {
                    sqlx::query("UPDATE access_requests SET updated_at = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(tx.now_micros())
                        .execute(tx.conn())
                        .await?;
                    None
                };
                let (window_start, window_end) = window.unzip();
                tx.audit(
                    &ctx,
                    AuditEvent::AccessApproved {
                        request: id,
                        approver,
                        approvals,
                        required: r.approvals_required,
                        window_start,
                        window_end,
                    },
                );
                load_request(tx, id).await
            })
        })
        .await
    }

    async fn deny_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        by: UserId,
        note: Option<&str>,
    ) -> Result<AccessRequest> {
        let (ctx, note) = (ctx.clone(), clean_note(note)?);
        self.write(move |tx| {
            Box::pin(async move {
                let r = load_request(tx, id).await?;
                load_user(tx, by).await?;
                if r.status_at(stored_now(tx)) != AccessStatus::Pending {
                    return Err(StoreError::invalid("state", "not_pending"));
                }
                let (from, to) = (r.state, RequestState::Denied);
                set_state(tx, id, from, to, by, note.as_deref(), "not_pending").await?;
                tx.audit(&ctx, AuditEvent::AccessDenied { request: id, by, note });
                load_request(tx, id).await
            })
        })
        .await
    }

    async fn cancel_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        by: UserId,
    ) -> Result<AccessRequest> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let r = load_request(tx, id).await?;
                load_user(tx, by).await?;
                match r.status_at(stored_now(tx)) {
                    AccessStatus::Pending | AccessStatus::Scheduled | AccessStatus::Active => {}
                    _ => return Err(StoreError::invalid("state", "final")),
                }
                set_state(tx, id, r.state, RequestState::Cancelled, by, None, "final").await?;
                tx.audit(&ctx, AuditEvent::AccessCancelled { request: id, by });
                load_request(tx, id).await
            })
        })
        .await
    }

    async fn revoke_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        by: UserId,
        note: Option<&str>,
    ) -> Result<AccessRequest> {
        let (ctx, note) = (ctx.clone(), clean_note(note)?);
        self.write(move |tx| {
            Box::pin(async move {
                let r = load_request(tx, id).await?;
                load_user(tx, by).await?;
                match r.status_at(stored_now(tx)) {
                    AccessStatus::Scheduled | AccessStatus::Active => {}
                    _ => return Err(StoreError::invalid("state", "not_approved")),
                }
                let (from, to) = (r.state, RequestState::Revoked);
                set_state(tx, id, from, to, by, note.as_deref(), "not_approved").await?;
                tx.audit(&ctx, AuditEvent::AccessRevoked { request: id, by, note });
                load_request(tx, id).await
            })
        })
        .await
    }

    async fn expire_requests(&self, ctx: &AuditCtx) -> Result<Vec<AccessRequestId>> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            Box::pin(async move {
                // The same conditions as `AccessRequest::status_at` returning
                // `Expired` for a stored `pending` or `approved`; an approved
                // row without a window counts as over (fail closed).
                let rows = sqlx::query(
                    "SELECT id, state FROM access_requests \
                     WHERE (state = 'approved' AND (window_end IS NULL OR window_end <= $1)) \
                     OR (state = 'pending' AND requested_start IS NOT NULL \
                         AND requested_start + duration_minutes * 60000000 <= $1) \
                     ORDER BY created_at, id",
                )
                .bind(tx.now_micros())
                .fetch_all(tx.conn())
                .await?;
                let mut expired = Vec::with_capacity(rows.len());
                for row in &rows {
                    let c = Cols::new(row, "access_requests");
                    let id: AccessRequestId = c.parse("id")?;
                    let from: RequestState = c.parse("state")?;
                    sqlx::query(
                        "UPDATE access_requests SET state = $3, updated_at = $4 \
                         WHERE id = $1 AND state = $2",
                    )
                    .bind(id.to_string())
                    .bind(from.as_str())
                    .bind(RequestState::Expired.as_str())
                    .bind(tx.now_micros())
                    .execute(tx.conn())
                    .await?;
                    tx.audit(
                        &ctx,
                        AuditEvent::AccessExpired { request: id, from: from.as_str().to_owned() },
                    );
                    expired.push(id);
                }
                Ok(expired)
            })
        })
        .await
    }
}
