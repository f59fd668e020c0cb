//! The published OpenAPI document (`/api/v1/openapi.json`). A test checks
//! that it names every route the router serves.

use axum::http::header;
use axum::response::IntoResponse;

use super::NoBody;

/// The document, as shipped.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub async fn document(_: NoBody) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
