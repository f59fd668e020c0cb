//! [`AlertRepo`] for [`Store`]: alerts, aggregated by their dedup key.
//!
//! A draft aggregates into the alert with its key that is open or
//! acknowledged (one per key: raising and aggregating happen in the one
//! writer, so two cannot race); otherwise it raises a new alert. Only new
//! alerts and the people who handle them are audited: a burst of ten
//! thousand recurrences is one `AlertRaised` and a count.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Executor};

use sekimori_audit::{Actor, AuditEvent};
use sekimori_types::{
    Alert, AlertDraft, AlertId, AlertSeverity, AlertState, Evidence, from_micros, to_micros,
};

use crate::repo::{AlertFilter, AlertRepo, RaisedAlert, Result};
use crate::row::Cols;
use crate::writer::WriteTx;
use crate::{AuditCtx, Store, StoreError};

const SELECT: &str = "SELECT id, kind, severity, state, dedup_key, summary, summary_ja, \
                      evidence, first_at, last_at, count, created_at, updated_at, handled_by, \
                      comment FROM alerts";
/// Longest dedup key and summary.
const MAX_KEY: usize = 512;
const MAX_SUMMARY: usize = 1000;
/// Largest evidence, as JSON.
const MAX_EVIDENCE: usize = 64 * 1024;
const MAX_COMMENT: usize = 2000;
const MAX_LIST: u32 = 1000;

fn decode(row: &AnyRow) -> Result<Alert> {
    let c = Cols::new(row, "alerts");
    let evidence: Evidence = serde_json::from_str(&c.string("evidence")?).map_err(|e| {
        StoreError::Corrupt { table: "alerts", column: "evidence", detail: e.to_string() }
    })?;
    Ok(Alert {
        id: c.parse("id")?,
        kind: c.parse("kind")?,
        severity: c.parse("severity")?,
        state: c.parse("state")?,
        dedup_key: c.string("dedup_key")?,
        summary: c.string("summary")?,
        summary_ja: c.string("summary_ja")?,
        evidence,
        first: c.time("first_at")?,
        last: c.time("last_at")?,
        count: c.u64("count")?,
        created_at: c.time("created_at")?,
        updated_at: c.time("updated_at")?,
        handled_by: c.opt_string("handled_by")?,
        comment: c.opt_string("comment")?,
    })
}

async fn fetch<'c, E>(e: E, id: AlertId) -> Result<Option<Alert>>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let sql = format!("{SELECT} WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(e).await?;
    row.as_ref().map(decode).transpose()
}

fn validate(d: &AlertDraft) -> Result<String> {
    if d.dedup_key.is_empty() || d.dedup_key.len() > MAX_KEY {
        return Err(StoreError::invalid("dedup_key", "length"));
    }
    for s in [&d.summary, &d.summary_ja] {
        if s.is_empty() || s.chars().count() > MAX_SUMMARY {
            return Err(StoreError::invalid("summary", "length"));
        }
    }
    if d.count == 0 {
        return Err(StoreError::invalid("count", "zero"));
    }
    let evidence = serde_json::to_string(&d.evidence)
        .map_err(|_| StoreError::invalid("evidence", "unencodable"))?;
    if evidence.len() > MAX_EVIDENCE {
        return Err(StoreError::invalid("evidence", "too_large"));
    }
    Ok(evidence)
}

/// Who handled an alert, as shown next to it.
fn handler(ctx: &AuditCtx) -> String {
    match &ctx.actor {
        Actor::User { username, .. } => username.clone(),
        Actor::Cli { os_user } => format!("cli:{os_user}"),
        Actor::Anonymous { .. } => "anonymous".to_owned(),
        Actor::System => "system".to_owned(),
    }
}

fn check_comment(comment: &str) -> Result<String> {
    let c = comment.trim();
    if c.is_empty() || c.chars().count() > MAX_COMMENT {
        return Err(StoreError::invalid("comment", "length_2000"));
    }
    Ok(c.to_owned())
}

async fn raise_one(tx: &mut WriteTx<'_>, draft: &AlertDraft) -> Result<RaisedAlert> {
    let now = tx.now_micros();
    let sql = format!(
        "{SELECT} WHERE dedup_key = $1 AND state IN ('open', 'acknowledged') \
         ORDER BY created_at DESC LIMIT 1"
    );
    let existing = sqlx::query(AssertSqlSafe(sql))
        .bind(draft.dedup_key.clone())
        .fetch_optional(tx.conn())
        .await?
        .as_ref()
        .map(decode)
        .transpose()?;
    if let Some(old) = existing {
        let mut merged = AlertDraft {
            kind: old.kind,
            severity: old.severity,
            dedup_key: old.dedup_key.clone(),
            summary: old.summary.clone(),
            summary_ja: old.summary_ja.clone(),
            evidence: old.evidence.clone(),
            first: old.first,
            last: old.last,
            count: old.count,
        };
        merged.absorb(draft.clone());
        // Aggregation never fails for size: the oldest detail gives way.
        let evidence = loop {
            match validate(&merged) {
                Err(StoreError::Invalid(e)) if e.field == "evidence" => {
                    let ev = &mut merged.evidence;
                    if ev.flows.pop().is_none() && ev.assets.pop().is_none() {
                        ev.details.clear();
                    }
                }
                other => break other?,
            }
        };
        sqlx::query(
            "UPDATE alerts SET severity = $2, summary = $3, summary_ja = $4, evidence = $5, \
             first_at = $6, last_at = $7, count = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(old.id.to_string())
        .bind(merged.severity.as_str())
        .bind(merged.summary.clone())
        .bind(merged.summary_ja.clone())
        .bind(evidence)
        .bind(to_micros(merged.first))
        .bind(to_micros(merged.last))
        .bind(i64::try_from(merged.count).unwrap_or(i64::MAX))
        .bind(now)
        .execute(tx.conn())
        .await?;
        let escalated = merged.severity > old.severity;
        let alert = Alert {
            severity: merged.severity,
            summary: merged.summary,
            summary_ja: merged.summary_ja,
            evidence: merged.evidence,
            first: merged.first,
            last: merged.last,
            count: merged.count,
            updated_at: from_micros(now),
            ..old
        };
        return Ok(RaisedAlert { alert, new: false, escalated });
    }
    let evidence = validate(draft)?;
    let id = AlertId::new();
    sqlx::query(
        "INSERT INTO alerts (id, kind, severity, state, dedup_key, summary, summary_ja, evidence, \
         first_at, last_at, count, created_at, updated_at) \
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(id.to_string())
    .bind(draft.kind.as_str())
    .bind(draft.severity.as_str())
    .bind(draft.dedup_key.clone())
    .bind(draft.summary.clone())
    .bind(draft.summary_ja.clone())
    .bind(evidence)
    .bind(to_micros(draft.first))
    .bind(to_micros(draft.last))
    .bind(i64::try_from(draft.count).unwrap_or(i64::MAX))
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.audit(
        &AuditCtx::system(),
        AuditEvent::AlertRaised { alert: id, alert_kind: draft.kind, severity: draft.severity },
    );
    let alert = Alert {
        id,
        kind: draft.kind,
        severity: draft.severity,
        state: AlertState::Open,
        dedup_key: draft.dedup_key.clone(),
        summary: draft.summary.clone(),
        summary_ja: draft.summary_ja.clone(),
        evidence: draft.evidence.clone(),
        first: draft.first,
        last: draft.last,
        count: draft.count,
        created_at: from_micros(now),
        updated_at: from_micros(now),
        handled_by: None,
        comment: None,
    };
    Ok(RaisedAlert { alert, new: true, escalated: false })
}

async fn handle(
    store: &Store,
    ctx: &AuditCtx,
    id: AlertId,
    comment: &str,
    to: AlertState,
) -> Result<Alert> {
    let comment = check_comment(comment)?;
    let ctx = ctx.clone();
    store
        .write(move |tx| {
            Box::pin(async move {
                let old = fetch(tx.conn(), id)
                    .await?
                    .ok_or_else(|| StoreError::not_found("alert", id))?;
                match (old.state, to) {
                    (AlertState::Open, AlertState::Acknowledged) => {}
                    (_, AlertState::Acknowledged) => {
                        return Err(StoreError::invalid("state", "alert_not_open"));
                    }
                    (AlertState::Closed, _) => {
                        return Err(StoreError::invalid("state", "alert_closed"));
                    }
                    _ => {}
                }
                let by = handler(&ctx);
                sqlx::query(
                    "UPDATE alerts SET state = $2, handled_by = $3, comment = $4, updated_at = $5 \
                     WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(to.as_str())
                .bind(by.clone())
                .bind(comment.clone())
                .bind(tx.now_micros())
                .execute(tx.conn())
                .await?;
                let event = if to == AlertState::Closed {
                    AuditEvent::AlertClosed { alert: id, comment: comment.clone() }
                } else {
                    AuditEvent::AlertAcknowledged { alert: id, comment: comment.clone() }
                };
                tx.audit(&ctx, event);
                Ok(Alert {
                    state: to,
                    handled_by: Some(by),
                    comment: Some(comment),
                    updated_at: tx.now(),
                    ..old
                })
            })
        })
        .await
}

impl AlertRepo for Store {
    async fn raise_alerts(&self, drafts: &[AlertDraft]) -> Result<Vec<RaisedAlert>> {
        for d in drafts {
            validate(d)?;
        }
        let drafts = drafts.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                let mut out = Vec::with_capacity(drafts.len());
                for d in &drafts {
                    out.push(raise_one(tx, d).await?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn alert(&self, id: AlertId) -> Result<Alert> {
        fetch(self.reader(), id).await?.ok_or_else(|| StoreError::not_found("alert", id))
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>> {
        let limit = if filter.limit == 0 { MAX_LIST } else { filter.limit.min(MAX_LIST) };
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let bind = |v: String, binds: &mut Vec<String>| {
            binds.push(v);
            format!("${}", binds.len())
        };
        if let Some(s) = filter.state {
            let p = bind(s.as_str().to_owned(), &mut binds);
            conds.push(format!("state = {p}"));
        }
        if let Some(k) = filter.kind {
            let p = bind(k.as_str().to_owned(), &mut binds);
            conds.push(format!("kind = {p}"));
        }
        if let Some(min) = filter.min_severity {
            let ok: Vec<String> = [
                AlertSeverity::Low,
                AlertSeverity::Medium,
                AlertSeverity::High,
                AlertSeverity::Critical,
            ]
            .into_iter()
            .filter(|s| *s >= min)
            .map(|s| bind(s.as_str().to_owned(), &mut binds))
            .collect();
            conds.push(format!("severity IN ({})", ok.join(", ")));
        }
        let mut since: Option<i64> = None;
        if let Some(t) = filter.updated_since {
            since = Some(to_micros(t));
            conds.push(format!("updated_at >= ${}", binds.len() + 1));
        }
        let mut sql = SELECT.to_owned();
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY updated_at DESC, id DESC LIMIT {limit}"));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        if let Some(t) = since {
            q = q.bind(t);
        }
        let rows = q.fetch_all(self.reader()).await?;
        rows.iter().map(decode).collect()
    }

    async fn open_alert_counts(&self) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT severity, COUNT(*) AS n FROM alerts WHERE state <> 'closed' \
             GROUP BY severity ORDER BY severity",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let c = Cols::new(r, "alerts");
                Ok((c.string("severity")?, c.u64("n")?))
            })
            .collect()
    }

    async fn acknowledge_alert(&self, ctx: &AuditCtx, id: AlertId, comment: &str) -> Result<Alert> {
        handle(self, ctx, id, comment, AlertState::Acknowledged).await
    }

    async fn close_alert(&self, ctx: &AuditCtx, id: AlertId, comment: &str) -> Result<Alert> {
        handle(self, ctx, id, comment, AlertState::Closed).await
    }
}
