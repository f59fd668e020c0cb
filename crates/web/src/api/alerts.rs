//! `/alerts`: what the detections raised. Staff read them; admins and
//! approvers acknowledge and close them with a comment (audited). Vendors
//! see none: an alert describes the hospital's network.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use sekimori_store::{AlertFilter, AlertRepo};
use sekimori_types::{Alert, AlertId, InvalidValue, Role};

use super::auth::Authenticated;
use super::{ApiError, ApiJson, AppState, NoBody, rfc3339, store_error};

const STAFF: &[Role] = &[Role::Admin, Role::Auditor, Role::Approver];
const HANDLERS: &[Role] = &[Role::Admin, Role::Approver];
const MAX_LIMIT: u32 = 1000;

/// An alert as the API shows it.
pub(crate) fn view(a: &Alert) -> serde_json::Value {
    json!({
        "id": a.id.to_string(),
        "kind": a.kind,
        "severity": a.severity,
        "state": a.state,
        "summary": a.summary,
        "summary_ja": a.summary_ja,
        "evidence": a.evidence,
        "first": rfc3339(a.first),
        "last": rfc3339(a.last),
        "count": a.count,
        "created_at": rfc3339(a.created_at),
        "updated_at": rfc3339(a.updated_at),
        "handled_by": a.handled_by,
        "comment": a.comment,
    })
}

fn alert_id(s: &str) -> Result<AlertId, ApiError> {
    s.parse().map_err(|_| ApiError::invalid(&InvalidValue::new("id", "not_a_uuid")))
}

fn parsed<T: std::str::FromStr<Err = InvalidValue>>(
    s: Option<&str>,
) -> Result<Option<T>, ApiError> {
    s.filter(|s| !s.is_empty()).map(str::parse).transpose().map_err(|e| ApiError::invalid(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `open`, `acknowledged` or `closed`.
    state: Option<String>,
    /// An alert kind (`exfiltration`, …).
    kind: Option<String>,
    /// Least severity (`low`, `medium`, `high`, `critical`).
    severity: Option<String>,
    /// RFC 3339: changed at or after.
    since: Option<String>,
    limit: Option<u32>,
}

/// `GET /alerts`: most recently changed first.
pub async fn list(
    State(st): State<AppState>,
    me: Authenticated,
    Query(q): Query<AlertQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let limit = match q.limit {
        None => 0,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid(&InvalidValue::new("limit", "out_of_range"))),
    };
    let f = AlertFilter {
        state: parsed(q.state.as_deref())?,
        kind: parsed(q.kind.as_deref())?,
        min_severity: parsed(q.severity.as_deref())?,
        updated_since: q
            .since
            .as_deref()
            .map(|t| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .map_err(|_| ApiError::invalid(&InvalidValue::new("since", "not_rfc3339")))
            })
            .transpose()?,
        limit,
    };
    let rows = st.store.list_alerts(&f).await.map_err(store_error)?;
    let counts = st.store.open_alert_counts().await.map_err(store_error)?;
    let open: serde_json::Map<String, serde_json::Value> =
        counts.into_iter().map(|(s, n)| (s, n.into())).collect();
    Ok(Json(json!({
        "alerts": rows.iter().map(view).collect::<Vec<_>>(),
        "open_by_severity": open,
    }))
    .into_response())
}

/// `GET /alerts/{id}`.
pub async fn show(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let a = st.store.alert(alert_id(&id)?).await.map_err(store_error)?;
    Ok(Json(json!({ "alert": view(&a) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    /// Why (1–2,000 characters).
    comment: String,
}

/// `POST /alerts/{id}/acknowledge` with `{"comment": "…"}`.
pub async fn acknowledge(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Comment>,
) -> Result<Response, ApiError> {
    me.require(HANDLERS)?;
    let a = st
        .store
        .acknowledge_alert(&me.ctx, alert_id(&id)?, &body.comment)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "alert": view(&a) })).into_response())
}

/// `POST /alerts/{id}/close` with `{"comment": "…"}`.
pub async fn close(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Comment>,
) -> Result<Response, ApiError> {
    me.require(HANDLERS)?;
    let a =
        st.store.close_alert(&me.ctx, alert_id(&id)?, &body.comment).await.map_err(store_error)?;
    Ok(Json(json!({ "alert": view(&a) })).into_response())
}
