//! Fail closed: once the store is gone, every login step, every
//! authenticated call and `/healthz` answer 503 `unavailable` — never a 200,
//! never a session or a cookie, never internal detail.

use axum::http::header;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_closed_store_refuses_everything() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let vendor = api.create_user(&admin.token, "tanaka", "vendor").await;
        api.get("/healthz", None).await.expect(200, &name);
        // Prepared while the store still works: a live challenge and a code.
        api.advance(time::Duration::minutes(1));
        let challenge = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        let code = api.totp(&admin.secret, 0);
        let enrol = api
            .post("/api/v1/login", json!({"username": "tanaka", "password": USER_PASSWORD}), None)
            .await
            .json["challenge"]
            .as_str()
            .unwrap()
            .to_owned();

        api.t.store.close().await;

        let t = Some(admin.token.as_str());
        let calls: Vec<(&str, Req)> = vec![
            ("healthz", Req::new("GET", "/healthz")),
            (
                "login, right password",
                Req::new("POST", "/api/v1/login")
                    .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
            ),
            (
                "login from an address",
                Req::new("POST", "/api/v1/login")
                    .client_ip(ip(9))
                    .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
            ),
            (
                "login, wrong password",
                Req::new("POST", "/api/v1/login")
                    .json(&json!({"username": ADMIN, "password": "wrong-password-1"})),
            ),
            (
                "login/mfa, right code",
                Req::new("POST", "/api/v1/login/mfa")
                    .json(&json!({"challenge": challenge, "code": code})),
            ),
            (
                "login/enrol",
                Req::new("POST", "/api/v1/login/enrol")
                    .json(&json!({"challenge": enrol, "code": "123456"})),
            ),
            (
                "setup",
                Req::new("POST", "/api/v1/setup").json(
                    &json!({"setup_code": SETUP_CODE, "username": "x", "password": ADMIN_PASSWORD}),
                ),
            ),
            ("me", Req::new("GET", "/api/v1/me").bearer(t)),
            ("users", Req::new("GET", "/api/v1/users").bearer(t)),
            (
                "create user",
                Req::new("POST", "/api/v1/users").bearer(t).json(
                    &json!({"username": "sato", "role": "auditor", "password": USER_PASSWORD}),
                ),
            ),
            ("lock", Req::new("POST", &format!("/api/v1/users/{vendor}/lock")).bearer(t)),
            ("assets", Req::new("GET", "/api/v1/assets").bearer(t)),
            (
                "create zone",
                Req::new("POST", "/api/v1/zones").bearer(t).json(&json!({"name": "icu"})),
            ),
            ("audit", Req::new("GET", "/api/v1/audit").bearer(t)),
            ("audit verify", Req::new("GET", "/api/v1/audit/verify").bearer(t)),
            ("logout", Req::new("POST", "/api/v1/logout").bearer(t)),
        ];
        for (what, req) in calls {
            let ctx = format!("{name}: closed store, {what}");
            let r = api.send(req).await;
            r.expect_error(503, "unavailable", &ctx);
            r.expect_error_shape(&ctx);
            assert!(r.header(header::SET_COOKIE).is_none(), "{ctx}: a cookie");
            assert!(r.json.get("token").is_none() && r.json.get("challenge").is_none(), "{ctx}");
        }
    }
}
