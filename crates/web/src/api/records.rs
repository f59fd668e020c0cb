//! `/audit`: the audit log for admins and auditors.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use sekimori_store::AuditRepo;
use sekimori_types::{Localized, Role};

use super::auth::Authenticated;
use super::{ApiError, AppState, NoBody, rfc3339, store_error};

const AUDITORS: &[Role] = &[Role::Admin, Role::Auditor];

#[derive(Deserialize)]
pub struct Page {
    after: Option<u64>,
    limit: Option<u32>,
}

pub async fn list(
    State(st): State<AppState>,
    me: Authenticated,
    Query(p): Query<Page>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(AUDITORS)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let from = p.after.unwrap_or(0).saturating_add(1);
    let records = st.store.audit_records(from, limit).await.map_err(store_error)?;
    let out: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let entry = r.entry().ok();
            json!({
                "seq": r.seq,
                "time": rfc3339(sekimori_types::from_micros(r.ts_micros)),
                "actor": entry.as_ref().map(|e| &e.actor),
                "event": entry.as_ref().map(|e| &e.event),
                "prev_hash": r.prev_hash,
                "hash": r.hash,
            })
        })
        .collect();
    Ok(Json(json!({ "records": out })).into_response())
}

pub async fn verify(
    State(st): State<AppState>,
    me: Authenticated,
    headers: axum::http::HeaderMap,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(AUDITORS)?;
    let lang = super::lang_of(&headers);
    match st.store.verify_audit(&st.store.public_key()).await.map_err(store_error)? {
        Ok(report) => Ok(Json(json!({ "ok": true, "report": report })).into_response()),
        Err(failure) => Ok(Json(json!({
            "ok": false,
            "first_bad_seq": failure.seq,
            "failure": failure.kind,
            "message": failure.localized(lang),
        }))
        .into_response()),
    }
}

pub async fn public_key(
    State(st): State<AppState>,
    me: Authenticated,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(AUDITORS)?;
    Ok(Json(json!({ "algorithm": "Ed25519", "public_key": st.store.public_key().to_hex() }))
        .into_response())
}
