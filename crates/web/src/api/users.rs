//! `/users`: accounts, for admins (auditors and approvers may read).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use sekimori_authn::policy;
use sekimori_store::{CredentialRepo, ThrottleRepo, UserRepo};
use sekimori_types::{Label, Lang, Localized, NewUser, Role, UserId, UserStatus, Username};

use super::auth::Authenticated;
use super::login::require_fresh_mfa;
use super::{ApiError, ApiJson, AppState, NoBody, store_error};

const READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Approver];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    role: Role,
    display_name: Option<String>,
    company: Option<String>,
    department: Option<String>,
    password: SecretString,
}

#[derive(Deserialize, Default)]
pub struct Reason {
    reason: Option<String>,
}

fn parse_id(id: &str) -> Result<UserId, ApiError> {
    id.parse().map_err(|e| ApiError::invalid(&e))
}

fn opt_label(field: &'static str, v: Option<&str>) -> Result<Option<Label>, ApiError> {
    v.map(|s| Label::parse(field, s)).transpose().map_err(|e| ApiError::invalid(&e))
}

pub async fn list(
    State(st): State<AppState>,
    me: Authenticated,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(READERS)?;
    let users = st.store.list_users().await.map_err(store_error)?;
    Ok(Json(json!({ "users": users })).into_response())
}

pub async fn show(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(READERS)?;
    let user = st.store.user(parse_id(&id)?).await.map_err(store_error)?;
    Ok(Json(json!({ "user": user })).into_response())
}

pub async fn create(
    State(st): State<AppState>,
    me: Authenticated,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    if req.role == Role::Admin {
        require_fresh_mfa(&st, &me)?;
    }
    let username = Username::parse(&req.username).map_err(|e| ApiError::invalid(&e))?;
    let display_name =
        Label::parse("display_name", req.display_name.as_deref().unwrap_or(username.as_str()))
            .map_err(|e| ApiError::invalid(&e))?;
    let new = NewUser {
        username,
        display_name,
        role: req.role,
        company: opt_label("company", req.company.as_deref())?,
        department: opt_label("department", req.department.as_deref())?,
    };
    new.validate().map_err(|e| ApiError::invalid(&e))?;
    let mut context = vec![new.username.as_str(), new.display_name.as_str()];
    if let Some(c) = &new.company {
        context.push(c.as_str());
    }
    if let Err(r) = policy::check_password(req.password.expose_secret(), &context) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "password_rejected")
            .with_detail(r.localized(Lang::Ja), r.localized(Lang::En))
            .with_extra(json!({"reason": r.code()})));
    }
    let phc = st.hasher.hash(&req.password).await.map_err(|_| ApiError::internal())?;
    let user = st.store.create_user(&me.ctx, &new, &phc).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))).into_response())
}

async fn set_status(
    st: &AppState,
    me: &Authenticated,
    id: &str,
    to: UserStatus,
    reason: Option<String>,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    let id = parse_id(id)?;
    if id == me.user.id && to != UserStatus::Active {
        return Err(ApiError::conflict("conflict").with_detail(
            "自分自身のアカウントはロックできません。",
            "You cannot lock your own account.",
        ));
    }
    let reason = reason.unwrap_or_else(|| "by an administrator".into());
    let user = st.store.set_user_status(&me.ctx, id, to, &reason).await.map_err(store_error)?;
    if to != UserStatus::Active {
        // Tunnels close now, not at the next re-check.
        st.gateway.close_user(user.id);
    }
    if to == UserStatus::Active {
        st.store
            .throttle_reset(&sekimori_authn::throttle::account_key(user.username.as_str()))
            .await
            .map_err(store_error)?;
    }
    Ok(Json(json!({ "user": user })).into_response())
}

pub async fn lock(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    Query(q): Query<Reason>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let reason = q.reason.map(|r| r.chars().take(500).collect());
    set_status(&st, &me, &id, UserStatus::Locked, reason).await
}

pub async fn unlock(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    set_status(&st, &me, &id, UserStatus::Active, None).await
}

pub async fn reset_mfa(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin])?;
    require_fresh_mfa(&st, &me)?;
    let id = parse_id(&id)?;
    st.store.reset_mfa(&me.ctx, id).await.map_err(store_error)?;
    st.gateway.authz_changed();
    let user = st.store.user(id).await.map_err(store_error)?;
    Ok(Json(json!({ "user": user })).into_response())
}
