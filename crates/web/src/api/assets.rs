//! `/assets` and `/zones`: the registered devices and their groups. Staff
//! may read (vendors: the assets their company maintains); admins change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use sekimori_store::{AssetRepo, ZoneRepo};
use sekimori_types::{AssetId, AssetSpec, Role, ZoneId, ZoneSpec};

use super::auth::Authenticated;
use super::{ApiError, ApiJson, AppState, NoBody, store_error};

const STAFF: &[Role] = &[Role::Admin, Role::Auditor, Role::Approver];

fn asset_id(s: &str) -> Result<AssetId, ApiError> {
    s.parse().map_err(|e| ApiError::invalid(&e))
}

fn zone_id(s: &str) -> Result<ZoneId, ApiError> {
    s.parse().map_err(|e| ApiError::invalid(&e))
}

pub async fn list_assets(
    State(st): State<AppState>,
    me: Authenticated,
    _: NoBody,
) -> Result<Response, ApiError> {
    let mut assets = st.store.list_assets().await.map_err(store_error)?;
    if me.user.role == Role::Vendor {
        // A vendor sees the devices their company maintains: what they may
        // ask access to.
        assets.retain(|a| sekimori_types::maintained_by_company_of(a, &me.user));
    } else {
        me.require(STAFF)?;
    }
    Ok(Json(json!({ "assets": assets })).into_response())
}

pub async fn show_asset(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let a = st.store.asset(asset_id(&id)?).await.map_err(store_error)?;
    Ok(Json(json!({ "asset": a })).into_response())
}

pub async fn create_asset(
    State(st): State<AppState>,
    me: Authenticated,
    ApiJson(spec): ApiJson<AssetSpec>,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    spec.validate().map_err(|e| ApiError::invalid(&e))?;
    let a = st.store.create_asset(&me.ctx, &spec).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "asset": a }))).into_response())
}

pub async fn update_asset(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<AssetSpec>,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    spec.validate().map_err(|e| ApiError::invalid(&e))?;
    let a = st.store.update_asset(&me.ctx, asset_id(&id)?, &spec).await.map_err(store_error)?;
    Ok(Json(json!({ "asset": a })).into_response())
}

pub async fn delete_asset(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    st.store.delete_asset(&me.ctx, asset_id(&id)?).await.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_zones(
    State(st): State<AppState>,
    me: Authenticated,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let zones = st.store.list_zones().await.map_err(store_error)?;
    Ok(Json(json!({ "zones": zones })).into_response())
}

pub async fn show_zone(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(STAFF)?;
    let z = st.store.zone(zone_id(&id)?).await.map_err(store_error)?;
    Ok(Json(json!({ "zone": z })).into_response())
}

pub async fn create_zone(
    State(st): State<AppState>,
    me: Authenticated,
    ApiJson(spec): ApiJson<ZoneSpec>,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    spec.validate().map_err(|e| ApiError::invalid(&e))?;
    let z = st.store.create_zone(&me.ctx, &spec).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "zone": z }))).into_response())
}

pub async fn update_zone(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<ZoneSpec>,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    spec.validate().map_err(|e| ApiError::invalid(&e))?;
    let z = st.store.update_zone(&me.ctx, zone_id(&id)?, &spec).await.map_err(store_error)?;
    Ok(Json(json!({ "zone": z })).into_response())
}

pub async fn delete_zone(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    st.store.delete_zone(&me.ctx, zone_id(&id)?).await.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
