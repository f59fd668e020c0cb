//! Shared helpers for the in-process API tests: the router over a fresh
//! store on every backend, a request builder, an independent RFC 6238 code
//! generator, and the set-up → enrolment → login dance.
//!
//! Everything runs on the store's `ManualClock`: tests move it, never sleep.

#![allow(dead_code, reason = "each test module uses a different part of this")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower::ServiceExt;

use sekimori_authn::{AuthnConfig, PasswordConfig, PasswordHasher};
use sekimori_store::{AuditCtx, MetaRepo};
use sekimori_test_support::TestStore;
use sekimori_types::Clock;
use sekimori_web::api::{AppState, router};
use sekimori_web::server::ClientAddr;

/// The one-time set-up code the tests store (16 base32 characters).
pub const SETUP_CODE: &str = "ABCD-EFGH-JKLM-NPQR";
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct-Horse-battery-staple-17";
/// Password of every user the tests create.
pub const USER_PASSWORD: &str = "Ume-no-hana-7731-saku-ga";

/// The default configuration with fast (insecure) Argon2 parameters.
pub fn config() -> AuthnConfig {
    AuthnConfig { password: PasswordConfig::insecure_for_tests(), ..AuthnConfig::default() }
}

/// The API over one backend.
pub struct Api {
    pub t: TestStore,
    /// The gateway (its recordings live in `_recordings`).
    pub gateway: Arc<sekimori_gateway::Gateway>,
    pub _recordings: tempfile::TempDir,
    pub hasher: Arc<PasswordHasher>,
    pub authn: Arc<AuthnConfig>,
    pub app: Router,
}

/// The API over a fresh store on every backend, with [`config`].
pub async fn apis() -> Vec<Api> {
    apis_with(config()).await
}

/// The API over a fresh store on every backend, with `cfg`.
pub async fn apis_with(cfg: AuthnConfig) -> Vec<Api> {
    cfg.validate().expect("test configuration is valid");
    let mut out = Vec::new();
    for t in sekimori_test_support::each_backend().await {
        let hasher = Arc::new(PasswordHasher::new(&cfg.password).expect("hasher"));
        let authn = Arc::new(cfg.clone());
        let recordings = tempfile::tempdir().expect("recordings dir");
        let gateway = Arc::new(
            sekimori_gateway::Gateway::new(
                t.store.clone(),
                Arc::new(t.clock.clone()),
                sekimori_gateway::recording::RecordingConfig::new(recordings.path()),
                sekimori_gateway::GatewayConfig::default(),
            )
            .expect("gateway"),
        );
        let state = AppState {
            store: t.store.clone(),
            authn: Arc::clone(&authn),
            hasher: Arc::clone(&hasher),
            clock: Arc::new(t.clock.clone()),
            totp_issuer: "sekimori-test".into(),
            gateway: gateway.clone(),
            alerts: None,
        };
        out.push(Api { app: router(state), t, hasher, authn, gateway, _recordings: recordings });
    }
    out
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Bytes,
    /// The body as JSON, `Null` when it is not JSON.
    pub json: Value,
}

impl Resp {
    /// The `error` code, or `""`.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and error code, with `ctx` in the failure.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str, ctx: &str) -> &Self {
        assert_eq!(
            (self.status.as_u16(), self.error()),
            (status, code),
            "{ctx}: body {}",
            String::from_utf8_lossy(&self.bytes)
        );
        self
    }

    /// Asserts the status, with `ctx` in the failure.
    #[track_caller]
    pub fn expect(&self, status: u16, ctx: &str) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{ctx}: body {}",
            String::from_utf8_lossy(&self.bytes)
        );
        self
    }

    /// Asserts this is a well-formed API error: JSON with a non-empty
    /// `error` code and a `message`, no 5xx, nothing internal in the text.
    #[track_caller]
    pub fn expect_clean_error(&self, ctx: &str) {
        let body = String::from_utf8_lossy(&self.bytes);
        assert!(!self.status.is_server_error(), "{ctx}: 5xx: {} {body}", self.status);
        assert!(self.status.is_client_error(), "{ctx}: not an error: {} {body}", self.status);
        self.expect_error_shape(ctx);
    }

    /// Asserts the body is an API error (any status): JSON with a stable
    /// code and a message without internal detail.
    #[track_caller]
    pub fn expect_error_shape(&self, ctx: &str) {
        let body = String::from_utf8_lossy(&self.bytes);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/json"),
            "{ctx}: error without a JSON content type: {body}"
        );
        let code = self.error();
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{ctx}: no stable error code: {body}"
        );
        assert!(self.json["message"].is_string(), "{ctx}: no message: {body}");
        assert_no_internals(self.message(), ctx);
    }
}

/// Fails when `text` looks like it carries internal detail: SQL, file
/// paths, Rust internals, driver names.
#[track_caller]
pub fn assert_no_internals(text: &str, ctx: &str) {
    let lower = text.to_lowercase();
    for needle in [
        "select ",
        "insert into",
        "delete from",
        "sqlx",
        "sqlite",
        "postgres",
        "pg_",
        "syntax error",
        "constraint",
        "/src/",
        ".rs:",
        "/home/",
        "/tmp/",
        "/work/",
        "panicked",
        "thread '",
        "backtrace",
        "sekimori_",
        "::",
    ] {
        assert!(!lower.contains(needle), "{ctx}: message leaks internals ({needle:?}): {text}");
    }
}

/// A request under construction.
#[derive(Debug)]
pub struct Req {
    method: Method,
    uri: String,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    body: Bytes,
    ip: Option<IpAddr>,
}

impl Req {
    pub fn new(method: &str, uri: &str) -> Self {
        Req {
            method: Method::from_bytes(method.as_bytes()).expect("method"),
            uri: uri.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            ip: None,
        }
    }

    pub fn bearer(self, token: Option<&str>) -> Self {
        match token {
            Some(t) => self.header(header::AUTHORIZATION, &format!("Bearer {t}")),
            None => self,
        }
    }

    pub fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        self.headers.push((name, HeaderValue::from_str(value).expect("header value")));
        self
    }

    pub fn header_bytes(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A JSON body with `content-type: application/json`.
    pub fn json(self, v: &Value) -> Self {
        self.raw(Some("application/json"), v.to_string().into_bytes())
    }

    /// Any body, with the given content type (none when `None`).
    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<Bytes>) -> Self {
        if let Some(ct) = content_type {
            self = self.header(header::CONTENT_TYPE, ct);
        }
        self.body = body.into();
        self
    }

    /// The client address the real server would attach (`ConnectInfo`).
    pub fn client_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    pub fn lang(self, lang: &str) -> Self {
        self.header(header::ACCEPT_LANGUAGE, lang)
    }

    pub fn build(self) -> Request<Body> {
        let mut b = Request::builder().method(self.method).uri(self.uri);
        for (k, v) in self.headers {
            b = b.header(k, v);
        }
        let mut req = b.body(Body::from(self.body)).expect("request");
        if let Some(ip) = self.ip {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(ClientAddr(SocketAddr::new(ip, 40_000))));
        }
        req
    }
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    /// The TOTP secret, base32.
    pub secret: String,
    pub recovery_codes: Vec<String>,
    pub user: Value,
}

impl Login {
    pub fn id(&self) -> String {
        self.user["id"].as_str().expect("user id").to_owned()
    }
}

/// The RFC 6238 code (HMAC-SHA-1, 30 s, 6 digits) for a base32 secret at
/// `at`: an authenticator app written independently of the server's code.
pub fn totp_at(secret_b32: &str, at: OffsetDateTime) -> String {
    let secret = sekimori_authn::totp::TotpSecret::from_base32(secret_b32).expect("base32 secret");
    hotp(secret.as_bytes(), at.unix_timestamp().div_euclid(30), 6)
}

/// RFC 4226 HOTP with dynamic truncation.
pub fn hotp(key: &[u8], counter: i64, digits: u32) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let d = mac.as_ref();
    let o = usize::from(d[19] & 0x0f);
    let bin = (u32::from(d[o]) & 0x7f) << 24
        | u32::from(d[o + 1]) << 16
        | u32::from(d[o + 2]) << 8
        | u32::from(d[o + 3]);
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

/// Sends `req` through `app` and reads the whole response (for spawned tasks).
pub async fn send_on(app: Router, req: Request<Body>) -> Resp {
    let resp = app.oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("response body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status: parts.status, headers: parts.headers, bytes, json }
}

pub fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
}

impl Api {
    /// `"Sqlite"` / `"Postgres"`, for failure messages.
    pub fn name(&self) -> String {
        format!("{:?}", self.t.backend())
    }

    pub fn now(&self) -> OffsetDateTime {
        self.t.clock.now()
    }

    pub fn advance(&self, d: time::Duration) {
        self.t.clock.advance(d);
    }

    /// The code `offset` 30-second steps from the clock's now.
    pub fn totp(&self, secret: &str, offset: i64) -> String {
        totp_at(secret, self.now() + time::Duration::seconds(30 * offset))
    }

    pub async fn send(&self, req: Req) -> Resp {
        self.send_request(req.build()).await
    }

    pub async fn send_request(&self, req: Request<Body>) -> Resp {
        send_on(self.app.clone(), req).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Req::new("GET", path).bearer(token)).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Resp {
        self.send(Req::new("POST", path).bearer(token).json(&body)).await
    }

    /// Stores [`SETUP_CODE`], creates the first admin through `POST /setup`
    /// and logs in (with TOTP enrolment).
    pub async fn setup_admin(&self) -> Login {
        let hash = sekimori_authn::recovery::hash_code(SETUP_CODE).expect("setup code");
        self.t.store.set_setup_code(&AuditCtx::system(), &hash).await.expect("set setup code");
        let r = self
            .post(
                "/api/v1/setup",
                json!({"setup_code": SETUP_CODE, "username": ADMIN, "password": ADMIN_PASSWORD}),
                None,
            )
            .await;
        r.expect(201, &format!("{}: setup", self.name()));
        self.first_login(ADMIN, ADMIN_PASSWORD).await
    }

    /// Password → enrolment → session, for an account without TOTP yet.
    pub async fn first_login(&self, username: &str, password: &str) -> Login {
        let ctx = format!("{}: first login of {username}", self.name());
        let r = self
            .post("/api/v1/login", json!({"username": username, "password": password}), None)
            .await;
        r.expect(200, &ctx);
        assert_eq!(r.json["status"], "mfa_enrolment_required", "{ctx}");
        assert!(r.json.get("token").is_none(), "{ctx}: a password alone gave a token");
        let secret = r.json["secret"].as_str().expect("secret").to_owned();
        let code = self.totp(&secret, 0);
        let e = self
            .post(
                "/api/v1/login/enrol",
                json!({"challenge": r.json["challenge"], "code": code}),
                None,
            )
            .await;
        e.expect(200, &ctx);
        Login {
            token: e.json["token"].as_str().expect("token").to_owned(),
            secret,
            recovery_codes: e.json["recovery_codes"]
                .as_array()
                .expect("recovery codes")
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect(),
            user: e.json["user"].clone(),
        }
    }

    /// Step 1 only: the challenge token.
    pub async fn challenge(&self, username: &str, password: &str) -> String {
        let r = self
            .post("/api/v1/login", json!({"username": username, "password": password}), None)
            .await;
        r.expect(200, &format!("{}: password step of {username}", self.name()));
        assert_eq!(r.json["status"], "mfa_required");
        r.json["challenge"].as_str().expect("challenge").to_owned()
    }

    /// A full login of an enrolled user. Moves the clock two TOTP steps
    /// first, so the code is never one already used (even a +1 code).
    pub async fn login(&self, username: &str, password: &str, secret: &str) -> Login {
        self.advance(time::Duration::seconds(60));
        let challenge = self.challenge(username, password).await;
        let r = self
            .post(
                "/api/v1/login/mfa",
                json!({"challenge": challenge, "code": self.totp(secret, 0)}),
                None,
            )
            .await;
        r.expect(200, &format!("{}: MFA step of {username}", self.name()));
        Login {
            token: r.json["token"].as_str().expect("token").to_owned(),
            secret: secret.to_owned(),
            recovery_codes: Vec::new(),
            user: r.json["user"].clone(),
        }
    }

    /// Creates a user through the API (as `admin`) with [`USER_PASSWORD`];
    /// returns its ID.
    pub async fn create_user(&self, admin: &str, username: &str, role: &str) -> String {
        let mut body = json!({"username": username, "role": role, "password": USER_PASSWORD});
        if role == "vendor" {
            body["company"] = json!("Acme Medical");
        }
        let r = self.post("/api/v1/users", body, Some(admin)).await;
        r.expect(201, &format!("{}: create {role} {username}", self.name()));
        r.json["user"]["id"].as_str().expect("id").to_owned()
    }

    /// Creates a user and logs them in (enrolling TOTP).
    pub async fn user(&self, admin: &str, username: &str, role: &str) -> Login {
        self.create_user(admin, username, role).await;
        self.first_login(username, USER_PASSWORD).await
    }
}

/// Whether `s` contains Japanese (hiragana, katakana or CJK ideographs).
pub fn has_japanese(s: &str) -> bool {
    s.chars().any(|c| matches!(u32::from(c), 0x3040..=0x30ff | 0x4e00..=0x9fff | 0xff66..=0xff9f))
}
