//! Japanese: with `Accept-Language: ja` every kind of error answers with a
//! Japanese message and `Content-Language: ja`; with English (or nothing,
//! or junk) the same code comes in English with `Content-Language: en`.

use axum::http::header;
use serde_json::json;

use sekimori_authn::{AuthnConfig, ThrottleConfig};

use crate::common::*;

#[tokio::test]
async fn errors_speak_the_callers_language() {
    let cfg = AuthnConfig {
        throttle: ThrottleConfig {
            account_free_failures: 1,
            account_lock_after: 3,
            ..ThrottleConfig::default()
        },
        ..config()
    };
    for api in apis_with(cfg).await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let vendor = api.user(&admin.token, "tanaka", "vendor").await;
        let a = Some(admin.token.as_str());
        let v = Some(vendor.token.as_str());
        let huge = format!("{{\"pad\":\"{}\"}}", "a".repeat(70 * 1024));
        // Three failures lock "gone"; then two on "slow" make it wait.
        for _ in 0..3 {
            api.post("/api/v1/login", json!({"username": "gone", "password": "x"}), None).await;
            api.advance(time::Duration::seconds(10));
        }
        for _ in 0..2 {
            api.post("/api/v1/login", json!({"username": "slow", "password": "x"}), None).await;
        }
        let make = |what: &str| -> Req {
            match what {
                "not_found" => Req::new("GET", "/api/v1/nope"),
                "method_not_allowed" => Req::new("PATCH", "/api/v1/users").bearer(a),
                "malformed_json" => Req::new("POST", "/api/v1/login").raw(Some("application/json"), "{"),
                "invalid_body" => Req::new("POST", "/api/v1/login").json(&json!({"user": "x"})),
                "unsupported_media_type" => Req::new("POST", "/api/v1/login").raw(Some("text/plain"), "{}"),
                "payload_too_large" => Req::new("POST", "/api/v1/login").raw(Some("application/json"), huge.clone()),
                "unauthenticated" => Req::new("GET", "/api/v1/me"),
                "invalid_credentials" => Req::new("POST", "/api/v1/login").json(
                    &json!({"username": format!("nobody-{}", uuid::Uuid::new_v4().simple()), "password": "x"}),
                ),
                "too_many_attempts" => Req::new("POST", "/api/v1/login").json(&json!({"username": "slow", "password": "x"})),
                "account_locked" => Req::new("POST", "/api/v1/login").json(&json!({"username": "gone", "password": "x"})),
                "forbidden" => Req::new("GET", "/api/v1/users").bearer(v),
                "challenge_expired" => Req::new("POST", "/api/v1/login/mfa").json(&json!({"challenge": "skm_c_x", "code": "123456"})),
                "invalid_value" => Req::new("GET", "/api/v1/users/not-an-id").bearer(a),
                "password_rejected" => Req::new("POST", "/api/v1/users").bearer(a).json(&json!({"username": "weak", "role": "auditor", "password": "password1234"})),
                "setup_unavailable" => Req::new("POST", "/api/v1/setup").json(&json!({"setup_code": SETUP_CODE, "username": "x", "password": ADMIN_PASSWORD})),
                "conflict" => Req::new("POST", &format!("/api/v1/users/{}/lock", admin.id())).bearer(a),
                "already_exists" => Req::new("POST", "/api/v1/users").bearer(a).json(&json!({"username": "tanaka", "role": "vendor", "company": "X", "password": USER_PASSWORD})),
                other => panic!("no case for {other}"),
            }
        };
        let codes = [
            "not_found",
            "method_not_allowed",
            "malformed_json",
            "invalid_body",
            "unsupported_media_type",
            "payload_too_large",
            "unauthenticated",
            "invalid_credentials",
            "too_many_attempts",
            "account_locked",
            "forbidden",
            "challenge_expired",
            "invalid_value",
            "password_rejected",
            "setup_unavailable",
            "conflict",
            "already_exists",
        ];
        for code in codes {
            for (accept, ja) in [
                ("ja", true),
                ("ja-JP,en;q=0.5", true),
                ("en;q=0.1, ja;q=0.9", true),
                ("en", false),
                ("fr-FR, en-GB;q=0.8", false),
                ("", false),
                ("*;q=NaN, zz,,;q=", false),
            ] {
                let ctx = format!("{name}: {code} with Accept-Language {accept:?}");
                let mut req = make(code);
                if let Ok(v) = axum::http::HeaderValue::from_str(accept) {
                    req = req.header_bytes(header::ACCEPT_LANGUAGE, v);
                }
                let r = api.send(req).await;
                assert_eq!(r.error(), code, "{ctx}: {}", String::from_utf8_lossy(&r.bytes));
                r.expect_clean_error(&ctx);
                let lang = r.header(header::CONTENT_LANGUAGE);
                if ja {
                    assert_eq!(lang, Some("ja"), "{ctx}");
                    assert!(has_japanese(r.message()), "{ctx}: not Japanese: {}", r.message());
                } else {
                    assert_eq!(lang, Some("en"), "{ctx}");
                    assert!(!has_japanese(r.message()), "{ctx}: not English: {}", r.message());
                    assert!(!r.message().is_empty(), "{ctx}");
                }
            }
        }
        // The password policy explains itself in Japanese too.
        let r = api.send(make("password_rejected").lang("ja")).await;
        assert!(r.json["reason"].is_string(), "{name}: {}", r.json);
    }
}
