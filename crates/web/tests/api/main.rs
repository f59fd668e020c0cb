//! In-process tests of the JSON API (`sekimori_web::api::router`), driven
//! with `tower::ServiceExt::oneshot` over a fresh store on every backend
//! (SQLite always, PostgreSQL when `SEKIMORI_TEST_POSTGRES_URL` is set).
//! Time is the store's `ManualClock`; no test sleeps. One test binary, so
//! the suite links once and its tests run in parallel.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod alerts;
mod fail_closed;
mod fuzz;
mod inventory;
mod japanese;
mod malformed;
mod roles;
mod sessions;
mod throttling;
mod totp;
