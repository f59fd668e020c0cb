//! The JSON API (`/api/v1/…`). Handlers are thin: validate input into domain
//! types, check the caller, call `authn` and the store, answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use sekimori_authn::AuthnConfig;
use sekimori_authn::password::PasswordHasher;
use sekimori_store::{AuditRepo, Store, StoreError};
use sekimori_types::SharedClock;

mod access;
mod alerts;
mod assets;
pub mod auth;
mod error;
mod inventory;
mod login;
mod openapi;
mod records;
mod sessions;
mod users;

pub use error::{ApiError, ApiJson, NoBody, OptionalJson, localize};

use crate::server::ClientAddr;

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a handler needs, cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub authn: Arc<AuthnConfig>,
    pub hasher: Arc<PasswordHasher>,
    pub clock: SharedClock,
    /// Issuer shown in authenticator apps (`sekimori` or the hospital's name).
    pub totp_issuer: String,
    /// The tunnel gateway: live connections to list and kill.
    pub gateway: Arc<sekimori_gateway::Gateway>,
    /// New alerts this server raised (attacks on the login), for the
    /// forwarders; `None`: stored only.
    pub alerts: Option<tokio::sync::mpsc::UnboundedSender<sekimori_types::Alert>>,
}

/// The API router with its middleware: body cap, timeout, localized errors.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/setup", post(login::setup))
        .route("/login", post(login::login))
        .route("/login/mfa", post(login::login_mfa))
        .route("/login/enrol", post(login::login_enrol))
        .route("/logout", post(login::logout))
        .route("/me", get(login::me))
        .route("/me/step-up", post(login::step_up))
        .route("/me/password", post(login::change_password))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::show))
        .route("/users/{id}/lock", post(users::lock))
        .route("/users/{id}/unlock", post(users::unlock))
        .route("/users/{id}/reset-mfa", post(users::reset_mfa))
        .route("/assets", get(assets::list_assets).post(assets::create_asset))
        .route(
            "/assets/{id}",
            get(assets::show_asset).put(assets::update_asset).delete(assets::delete_asset),
        )
        .route("/zones", get(assets::list_zones).post(assets::create_zone))
        .route(
            "/zones/{id}",
            get(assets::show_zone).put(assets::update_zone).delete(assets::delete_zone),
        )
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}/revoke", post(sessions::revoke))
        .route("/requests", get(access::list).post(access::create))
        .route("/requests/{id}", get(access::show))
        .route("/requests/{id}/approve", post(access::approve))
        .route("/requests/{id}/deny", post(access::deny))
        .route("/requests/{id}/cancel", post(access::cancel))
        .route("/requests/{id}/revoke", post(access::revoke))
        .route("/tunnel-credentials", post(access::create_credential))
        .route("/tunnel-sessions", get(access::list_sessions))
        .route("/tunnel-sessions/{id}", get(access::show_session))
        .route("/tunnel-sessions/{id}/kill", post(access::kill_session))
        .route("/tunnel-sessions/{id}/pcap", get(access::export_pcap))
        .route("/inventory/assets", get(inventory::list_assets))
        .route("/inventory/assets/{id}", get(inventory::show_asset))
        .route("/inventory/conversations", get(inventory::conversations))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::show))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/close", post(alerts::close))
        .route("/audit", get(records::list))
        .route("/audit/verify", get(records::verify))
        .route("/audit/public-key", get(records::public_key))
        .route("/openapi.json", get(openapi::document));

    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .merge(crate::console::routes())
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn(localize))
        // A bug must cost one request a 500, never the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            tracing::error!(message = "Handler panicked.");
            axum::response::IntoResponse::into_response(ApiError::internal())
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        ))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        ))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>, _: NoBody) -> impl IntoResponse {
    match state.store.audit_head().await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response(),
        Err(_) => ApiError::unavailable().into_response(),
    }
}

/// The client's IP address as an extractor (from the TLS connection, never
/// from headers); `None` only outside the real server (in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// The client's IP address (from the TLS connection, never from headers).
pub(crate) fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<axum::extract::ConnectInfo<ClientAddr>>().map(|ci| ci.0.0.ip())
}

/// The caller's language from `Accept-Language` (English by default).
pub(crate) fn lang_of(headers: &axum::http::HeaderMap) -> sekimori_types::Lang {
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(sekimori_types::Lang::En, sekimori_types::Lang::from_accept_language)
}

/// A time as the API writes it (RFC 3339).
pub(crate) use sekimori_types::rfc3339;

/// Maps a store error to what the caller may see; details go to the log.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    match &e {
        StoreError::NotFound { .. } => ApiError::not_found(),
        StoreError::Conflict { .. } => ApiError::conflict("already_exists"),
        StoreError::InUse { .. } => ApiError::conflict("in_use"),
        StoreError::Invalid(v) => ApiError::invalid(v),
        StoreError::Unavailable(_) => {
            tracing::error!(message = "Store unavailable; refusing the request.", error = %e);
            ApiError::unavailable()
        }
        _ => {
            tracing::error!(message = "Store error.", error = %e);
            ApiError::internal()
        }
    }
}
