//! `/sessions`: who is logged in, and ending a session at once (admins).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use sekimori_audit::SessionEnd;
use sekimori_store::{Session, SessionRepo};
use sekimori_types::{Role, SessionId, UserId};

use super::auth::Authenticated;
use super::{ApiError, AppState, NoBody, rfc3339, store_error};

#[derive(Deserialize)]
pub struct Filter {
    user: Option<String>,
}

fn view(s: &Session, current: SessionId) -> serde_json::Value {
    let t = rfc3339;
    json!({
        "id": s.id,
        "user": s.user,
        "created_at": t(s.created_at),
        "last_seen_at": t(s.last_seen_at),
        "expires_at": t(s.expires_at),
        "mfa_at": t(s.mfa_at),
        "mfa_method": s.mfa_method,
        "source": s.source,
        "user_agent": s.user_agent,
        "current": s.id == current,
    })
}

/// `GET /sessions[?user=ID]`: live sessions, newest first. Admins and
/// auditors see everyone's; others only their own.
pub async fn list(
    State(st): State<AppState>,
    me: Authenticated,
    Query(f): Query<Filter>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let all = matches!(me.user.role, Role::Admin | Role::Auditor);
    let user = match (&f.user, all) {
        (Some(u), true) => Some(u.parse::<UserId>().map_err(|e| ApiError::invalid(&e))?),
        (None, true) => None,
        (_, false) => Some(me.user.id),
    };
    let sessions = st.store.live_sessions(user).await.map_err(store_error)?;
    let now = st.clock.now();
    let out: Vec<_> = sessions
        .iter()
        .filter(|s| {
            sekimori_authn::session::check_session(
                &st.authn.session,
                s.created_at,
                s.last_seen_at,
                now,
            )
            .is_ok()
        })
        .map(|s| view(s, me.session.id))
        .collect();
    Ok(Json(json!({ "sessions": out })).into_response())
}

/// `POST /sessions/{id}/revoke`: ends a session at once. Admins may end
/// anyone's; everyone may end their own.
pub async fn revoke(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let id: SessionId = id.parse().map_err(|e| ApiError::invalid(&e))?;
    // Someone else's session is as invisible to a non-admin as one that
    // does not exist: the answer must not confirm that an ID is real.
    let target = st.store.session(id).await.map_err(store_error)?;
    if target.user != me.user.id && me.user.role != Role::Admin {
        return Err(ApiError::not_found());
    }
    let reason =
        if target.user == me.user.id { SessionEnd::Logout } else { SessionEnd::RevokedByAdmin };
    st.store.revoke_session(&me.ctx, id, reason).await.map_err(store_error)?;
    st.gateway.authz_changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}
