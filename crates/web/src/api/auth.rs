//! Who is calling: the session extractor and role checks.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use sekimori_audit::Actor;
use sekimori_store::{AuditCtx, Session, SessionRepo, StoreError, UserRepo};
use sekimori_types::{Role, User, UserStatus};

use super::{ApiError, AppState, client_ip, store_error};

/// The cookie browsers carry; APIs may use `Authorization: Bearer` instead.
pub const SESSION_COOKIE: &str = "sekimori_session";

/// A request from a logged-in user with a live session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub session: Session,
    pub ctx: AuditCtx,
}

impl Authenticated {
    /// Refuses unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.user.role) { Ok(()) } else { Err(ApiError::forbidden()) }
    }
}

/// The presented session token (bearer first, then cookie), unparsed.
fn presented_token(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(str::trim);
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

impl<S> FromRequestParts<S> for Authenticated
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let hash = presented_token(parts)
            .and_then(|t| {
                sekimori_authn::token::parse_presented_as(
                    sekimori_authn::token::TokenKind::Session,
                    t,
                )
            })
            .ok_or_else(ApiError::unauthorized)?;
        let now = state.clock.now();
        let session = state
            .store
            .session_by_token_hash(&hash)
            .await
            .map_err(store_error)?
            .filter(|s| s.revoked_at.is_none())
            .ok_or_else(ApiError::unauthorized)?;
        if sekimori_authn::session::check_session(
            &state.authn.session,
            session.created_at,
            session.last_seen_at,
            now,
        )
        .is_err()
        {
            return Err(ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "session_expired"));
        }
        if !session.is_live(now) {
            return Err(ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "session_expired"));
        }
        let user = match state.store.user(session.user).await {
            Ok(u) => u,
            Err(StoreError::NotFound { .. }) => return Err(ApiError::unauthorized()),
            Err(e) => return Err(store_error(e)),
        };
        if user.status != UserStatus::Active {
            return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "account_locked"));
        }
        state
            .store
            .touch_session(&session, time::Duration::seconds(30))
            .await
            .map_err(store_error)?;
        let ctx = AuditCtx {
            actor: Actor::User { id: user.id, username: user.username.to_string() },
            source: client_ip(parts),
        };
        Ok(Authenticated { user, session, ctx })
    }
}
