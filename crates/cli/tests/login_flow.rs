//! End to end through the real binary over real TLS: first-admin set-up,
//! mandatory TOTP enrolment, login, replay refusal, recovery codes, the
//! same answer for unknown users, lockout and unlock — on SQLite and
//! PostgreSQL.

mod support;

use serde_json::json;
use support::*;

async fn login_flow(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_new(tmp.path(), backend.clone(), FAST_CONFIG);
    let c = s.client();
    let name = backend.name();

    // Health over TLS 1.3.
    let (st, body) = get(&c, &s.url("/healthz"), None).await;
    assert_eq!((st, body["status"].as_str()), (200, Some("ok")), "{name}");

    // Set-up works once.
    let admin = setup_admin(&s, &c).await;
    assert_eq!(admin.recovery_codes.len(), 10, "{name}");
    let (st, body) = post(
        &c,
        &s.url("/api/v1/setup"),
        json!({"setup_code": s.setup_code.clone().unwrap(), "username": "admin2", "password": ADMIN_PASSWORD}),
        None,
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (403, Some("setup_unavailable")), "{name}");

    // The session works; /me shows fresh MFA.
    let (st, me) = get(&c, &s.url("/api/v1/me"), Some(&admin.token)).await;
    assert_eq!(st, 200, "{name}: {me}");
    assert_eq!(me["user"]["username"], "admin");
    assert_eq!(me["user"]["mfa_enrolled"], true);
    assert_eq!(me["session"]["mfa_fresh"], true);

    // A password alone never yields a session.
    let (st, step1) = post(
        &c,
        &s.url("/api/v1/login"),
        json!({"username": "admin", "password": ADMIN_PASSWORD}),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(step1["status"], "mfa_required", "{name}: {step1}");
    assert!(step1.get("token").is_none());
    // The code used at enrolment (same step) is refused: never twice.
    let used = totp_code(&admin.totp_secret, 0);
    let (st, body) = post(
        &c,
        &s.url("/api/v1/login/mfa"),
        json!({"challenge": step1["challenge"], "code": used}),
        None,
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_mfa_code")), "{name}: {body}");
    // The next step's code (clock skew +1) is accepted…
    let next = totp_code(&admin.totp_secret, 1);
    let (st, body) = post(
        &c,
        &s.url("/api/v1/login/mfa"),
        json!({"challenge": step1["challenge"], "code": next}),
        None,
    )
    .await;
    assert_eq!(st, 200, "{name}: {body}");
    assert!(body["token"].as_str().unwrap().starts_with("skm_s_"));
    // …but the challenge is single use.
    let (st, body) = post(
        &c,
        &s.url("/api/v1/login/mfa"),
        json!({"challenge": step1["challenge"], "code": next}),
        None,
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (401, Some("challenge_expired")), "{name}");

    // A recovery code works once.
    let rc = admin.recovery_codes[0].clone();
    for expect in [200u16, 401] {
        let (_, step1) = post(
            &c,
            &s.url("/api/v1/login"),
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
            None,
        )
        .await;
        let (st, body) = post(
            &c,
            &s.url("/api/v1/login/mfa"),
            json!({"challenge": step1["challenge"], "recovery_code": rc}),
            None,
        )
        .await;
        assert_eq!(st, expect, "{name}: recovery code: {body}");
    }

    // A vendor, created through the API, must enrol at first login.
    let (st, body) = post(
        &c,
        &s.url("/api/v1/users"),
        json!({"username": "tanaka", "role": "vendor", "company": "Acme Medical", "password": "vendor-Pass-phrase-2931"}),
        Some(&admin.token),
    )
    .await;
    assert_eq!(st, 201, "{name}: {body}");
    let vendor_id = body["user"]["id"].as_str().unwrap().to_owned();
    let vendor = first_login(&s, &c, "tanaka", "vendor-Pass-phrase-2931").await;
    // Vendors may not list users.
    let (st, body) = get(&c, &s.url("/api/v1/users"), Some(&vendor.token)).await;
    assert_eq!((st, body["error"].as_str()), (403, Some("forbidden")), "{name}");

    // Unknown user and wrong password: the same status and body.
    let (st_a, a) = post(
        &c,
        &s.url("/api/v1/login"),
        json!({"username": "nobody", "password": "wrong-password-123"}),
        None,
    )
    .await;
    let (st_b, b) = post(
        &c,
        &s.url("/api/v1/login"),
        json!({"username": "tanaka", "password": "wrong-password-123"}),
        None,
    )
    .await;
    assert_eq!((st_a, &a), (st_b, &b), "{name}");
    assert_eq!(a["error"], "invalid_credentials");

    // Lockout: FAST_CONFIG locks after 6 consecutive failures (1 above).
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..6 {
        last = post_patiently(
            &c,
            &s.url("/api/v1/login"),
            json!({"username": "tanaka", "password": "wrong-password-123"}),
        )
        .await;
    }
    assert_eq!(last.1["error"], "account_locked", "{name}: {last:?}");
    // Locked: even the right password is refused, and the live session ends.
    let (st, body) = post(
        &c,
        &s.url("/api/v1/login"),
        json!({"username": "tanaka", "password": "vendor-Pass-phrase-2931"}),
        None,
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (403, Some("account_locked")), "{name}");
    let (st, _) = get(&c, &s.url("/api/v1/me"), Some(&vendor.token)).await;
    assert_eq!(st, 401, "{name}: a locked user's session must end");
    // The unknown name locks the same way, with the same answer.
    let mut unknown = (0, serde_json::Value::Null);
    for _ in 0..7 {
        unknown = post_patiently(
            &c,
            &s.url("/api/v1/login"),
            json!({"username": "ghost", "password": "wrong-password-123"}),
        )
        .await;
    }
    assert_eq!(unknown.1["error"], "account_locked", "{name}");

    // An admin unlocks from the console; the vendor can log in again.
    let out = s.cli(&["user", "unlock", "tanaka", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (st, body) = post(
        &c,
        &s.url("/api/v1/login"),
        json!({"username": "tanaka", "password": "vendor-Pass-phrase-2931"}),
        None,
    )
    .await;
    assert_eq!((st, body["status"].as_str()), (200, Some("mfa_required")), "{name}: {body}");

    // Reset MFA needs a fresh step-up (the admin's is fresh from login).
    let (st, body) = post(
        &c,
        &s.url(&format!("/api/v1/users/{vendor_id}/reset-mfa")),
        json!({}),
        Some(&admin.token),
    )
    .await;
    assert_eq!(st, 200, "{name}: {body}");
    assert_eq!(body["user"]["mfa_enrolled"], false);

    // Logout ends the session.
    let (st, _) = post(&c, &s.url("/api/v1/logout"), json!({}), Some(&admin.token)).await;
    assert_eq!(st, 204);
    let (st, body) = get(&c, &s.url("/api/v1/me"), Some(&admin.token)).await;
    assert_eq!(st, 401, "{name}: {body}");

    // Every step above is in a chain that verifies.
    let out = s.cli(&["audit", "verify", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_flow_on_every_backend() {
    for b in Backend::all().await {
        login_flow(b).await;
    }
}

/// A real client: curl, trusting the generated certificate, TLS 1.3.
#[tokio::test(flavor = "multi_thread")]
async fn curl_speaks_tls13_to_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_new(tmp.path(), Backend::Sqlite, FAST_CONFIG);
    let port = s.addr.rsplit(':').next().unwrap().to_owned();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "--tlsv1.3", "--cacert"])
        .arg(s.data_dir.join("tls/cert.pem"))
        .args([
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            &format!("https://localhost:{port}/healthz"),
        ])
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\""));
    // TLS 1.2 is refused.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--tls-max", "1.2", "--cacert"])
        .arg(s.data_dir.join("tls/cert.pem"))
        .args([
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            &format!("https://localhost:{port}/healthz"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "TLS 1.2 must be refused");
}

/// An admin sees who is logged in and ends a vendor's session at once; a
/// vendor cannot end anyone else's.
#[tokio::test(flavor = "multi_thread")]
async fn admin_lists_and_ends_sessions() {
    for b in Backend::all().await {
        let tmp = tempfile::tempdir().unwrap();
        let s = Server::start_new(tmp.path(), b.clone(), FAST_CONFIG);
        let c = s.client();
        let admin = setup_admin(&s, &c).await;
        let (st, body) = post(
            &c,
            &s.url("/api/v1/users"),
            json!({"username": "suzuki", "role": "vendor", "company": "Acme Medical", "password": "vendor-Pass-phrase-2931"}),
            Some(&admin.token),
        )
        .await;
        assert_eq!(st, 201, "{body}");
        let vendor = first_login(&s, &c, "suzuki", "vendor-Pass-phrase-2931").await;

        let (st, list) = get(&c, &s.url("/api/v1/sessions"), Some(&admin.token)).await;
        assert_eq!(st, 200, "{list}");
        let sessions = list["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 2, "{}: {list}", b.name());
        let vendor_user = vendor.body["user"]["id"].as_str().unwrap();
        let vs = sessions.iter().find(|x| x["user"] == vendor_user).unwrap();
        assert_eq!(vs["mfa_method"], "totp_enrolment");
        let admin_session = sessions.iter().find(|x| x["current"] == true).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // The vendor sees only their own, and cannot end the admin's.
        let (_, own) = get(&c, &s.url("/api/v1/sessions"), Some(&vendor.token)).await;
        assert_eq!(own["sessions"].as_array().unwrap().len(), 1);
        let (st, _) = post(
            &c,
            &s.url(&format!("/api/v1/sessions/{admin_session}/revoke")),
            json!({}),
            Some(&vendor.token),
        )
        .await;
        assert_eq!(st, 404, "someone else's session is as good as unknown");

        // The admin ends the vendor's session: their next request is refused.
        let vid = vs["id"].as_str().unwrap();
        let (st, _) = post(
            &c,
            &s.url(&format!("/api/v1/sessions/{vid}/revoke")),
            json!({}),
            Some(&admin.token),
        )
        .await;
        assert_eq!(st, 204);
        let (st, _) = get(&c, &s.url("/api/v1/me"), Some(&vendor.token)).await;
        assert_eq!(st, 401, "{}", b.name());
        let out = s.cli(&["audit", "export"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("revoked_by_admin"));
    }
}
