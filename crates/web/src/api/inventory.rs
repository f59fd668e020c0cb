//! `/inventory`: what the passive sensor saw — the devices on the network
//! (`/inventory/assets`) and who talks to whom over what
//! (`/inventory/conversations`, per asset pair, service and minute).
//! Read-only; staff (admin, approver, auditor) only: a vendor sees nothing
//! of the hospital's network beyond the devices it maintains.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use sekimori_store::{
    ConversationFilter, ConversationRecord, InventoryAsset, InventoryFilter, InventoryRepo,
    ObservedAssetId,
};
use sekimori_types::{InvalidValue, Role};

use super::auth::Authenticated;
use super::{ApiError, AppState, NoBody, rfc3339, store_error};

const STAFF: &[Role] = &[Role::Admin, Role::Auditor, Role::Approver];

/// Largest page.
const MAX_LIMIT: u32 = 5000;
/// Longest search text.
const MAX_QUERY_CHARS: usize = 200;

fn asset_view(a: &InventoryAsset) -> serde_json::Value {
    json!({
        "id": a.id.to_string(),
        "key": a.key,
        "ip": a.ip,
        "ips": a.ips,
        "mac": a.mac,
        "names": a.names,
        "vendor": a.vendor,
        "product": a.product,
        "version": a.version,
        "mac_vendor": a.mac_vendor,
        "protocols": a.protocols,
        "protocols_as_client": a.protocols_as_client,
        "protocols_as_server": a.protocols_as_server,
        "role": a.role,
        "role_basis": a.role_basis,
        "local": a.local,
        "first_seen": rfc3339(a.first_seen),
        "last_seen": rfc3339(a.last_seen),
        "updated_at": rfc3339(a.updated_at),
        "registered_assets": a.registered.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn conversation_view(c: &ConversationRecord) -> serde_json::Value {
    json!({
        "start": rfc3339(c.start),
        "client": c.client,
        "client_asset": c.client_asset.map(|i| i.to_string()),
        "server": c.server,
        "server_asset": c.server_asset.map(|i| i.to_string()),
        "service": c.service,
        "packets_out": c.packets_out,
        "packets_in": c.packets_in,
        "bytes_out": c.bytes_out,
        "bytes_in": c.bytes_in,
        "flows": c.flows,
    })
}

fn observed_id(field: &'static str, s: &str) -> Result<ObservedAssetId, ApiError> {
    s.parse().map_err(|_| ApiError::invalid(&InvalidValue::new(field, "not_a_uuid")))
}

fn time_param(field: &'static str, s: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| ApiError::invalid(&InvalidValue::new(field, "not_rfc3339")))
}

fn limit_param(l: Option<u32>) -> Result<u32, ApiError> {
    match l {
        None => Ok(0),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(&InvalidValue::new("limit", "out_of_range"))),
    }
}

/// A short filter value without control characters.
fn text_param(field: &'static str, s: Option<String>) -> Result<Option<String>, ApiError> {
    match s {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.chars().count() <= MAX_QUERY_CHARS && !s.chars().any(char::is_control) => {
            Ok(Some(s))
        }
        Some(_) => Err(ApiError::invalid(&InvalidValue::new(field, "invalid_text"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetQuery {
    /// Substring of the key, an address, a name, vendor, product or role.
    q: Option<String>,
    /// Exact role (`pacs-or-modality`, …).
    role: Option<String>,
    /// A protocol used or served (`dicom`, …).
    app: Option<String>,
    limit: Option<u32>,
}

/// `GET /inventory/assets`: most recently seen first.
pub async fn list_assets(
    State(st): State<AppState>,
    me: Authenticated,
    Query(q): Query<AssetQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let f = InventoryFilter {
        q: text_param("q", q.q)?,
        role: text_param("role", q.role)?,
        app: text_param("app", q.app)?,
        limit: limit_param(q.limit)?,
    };
    let rows = st.store.list_observed(&f).await.map_err(store_error)?;
    let out: Vec<_> = rows.iter().map(asset_view).collect();
    Ok(Json(json!({ "assets": out })).into_response())
}

/// `GET /inventory/assets/{id}`.
pub async fn show_asset(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let a = st.store.observed(observed_id("id", &id)?).await.map_err(store_error)?;
    Ok(Json(json!({ "asset": asset_view(&a) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationQuery {
    /// An inventory asset ID: only its conversations (either end).
    asset: Option<String>,
    /// RFC 3339: buckets starting at or after.
    since: Option<String>,
    /// RFC 3339: buckets starting before.
    until: Option<String>,
    limit: Option<u32>,
}

/// `GET /inventory/conversations`: newest bucket first.
pub async fn conversations(
    State(st): State<AppState>,
    me: Authenticated,
    Query(q): Query<ConversationQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let f = ConversationFilter {
        asset: q.asset.as_deref().map(|a| observed_id("asset", a)).transpose()?,
        since: q.since.as_deref().map(|t| time_param("since", t)).transpose()?,
        until: q.until.as_deref().map(|t| time_param("until", t)).transpose()?,
        limit: limit_param(q.limit)?,
    };
    let rows = st.store.conversations(&f).await.map_err(store_error)?;
    let out: Vec<_> = rows.iter().map(conversation_view).collect();
    Ok(Json(json!({ "conversations": out })).into_response())
}
