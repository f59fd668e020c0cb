//! Sessions on the injected clock: the idle timeout (1 h) and the absolute
//! lifetime (12 h) end them with 401 `session_expired`; logout, an admin's
//! lock and an MFA reset revoke them; sensitive actions need an MFA check
//! within the step-up window (5 min) and `POST /me/step-up` renews it.

use axum::http::header;
use serde_json::json;
use time::Duration;

use crate::common::*;

fn me(api: &Api, token: &str) -> impl Future<Output = Resp> {
    let token = token.to_owned();
    let app = api.app.clone();
    async move { send_on(app, Req::new("GET", "/api/v1/me").bearer(Some(&token)).build()).await }
}

/// Use keeps a session alive; an hour without use ends it. However busy,
/// it ends twelve hours after login.
#[tokio::test]
async fn idle_timeout_and_absolute_lifetime() {
    for api in apis().await {
        let name = api.name();
        let cfg = api.authn.session.clone();
        let idle = Duration::seconds(i64::try_from(cfg.idle_timeout_secs).unwrap());
        let absolute = Duration::seconds(i64::try_from(cfg.absolute_lifetime_secs).unwrap());
        assert_eq!((idle, absolute), (Duration::hours(1), Duration::hours(12)), "defaults");

        let admin = api.setup_admin().await;
        me(&api, &admin.token).await.expect(200, &name);
        // Just under the idle timeout, twice: each use restarts it.
        for i in 0..2 {
            api.advance(idle - Duration::seconds(1));
            me(&api, &admin.token).await.expect(200, &format!("{name}: idle round {i}"));
        }
        api.advance(idle);
        let r = me(&api, &admin.token).await;
        r.expect_error(401, "session_expired", &format!("{name}: idle"));
        r.expect_clean_error(&name);
        // It stays dead.
        me(&api, &admin.token).await.expect_error(401, "session_expired", &name);

        // A busy session still ends at the absolute lifetime.
        let s = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        let t0 = api.now();
        let r = me(&api, &s.token).await;
        assert_eq!(
            r.json["session"]["expires_at"],
            json!((t0 + absolute).format(&time::format_description::well_known::Rfc3339).unwrap()),
            "{name}"
        );
        while api.now() + Duration::minutes(50) < t0 + absolute {
            api.advance(Duration::minutes(50));
            me(&api, &s.token).await.expect(200, &format!("{name}: busy at {}", api.now() - t0));
        }
        api.advance((t0 + absolute - Duration::seconds(1)) - api.now());
        me(&api, &s.token).await.expect(200, &format!("{name}: 1 s before the end"));
        api.advance(Duration::seconds(1));
        me(&api, &s.token).await.expect_error(401, "session_expired", &format!("{name}: 12 h"));
        // Nothing works with it any more.
        api.post("/api/v1/me/step-up", json!({"code": api.totp(&s.secret, 0)}), Some(&s.token))
            .await
            .expect_error(401, "session_expired", &name);
    }
}

/// Logout ends this session only; an admin's lock ends all of the user's
/// sessions (and unlocking does not revive them); an MFA reset too.
#[tokio::test]
async fn logout_lock_and_mfa_reset_revoke_sessions() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let other = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;

        let r = api.post("/api/v1/logout", json!({}), Some(&other.token)).await;
        r.expect(204, &name);
        let cookie = r.header(header::SET_COOKIE).unwrap_or("");
        assert!(cookie.starts_with("sekimori_session=;") && cookie.contains("Max-Age=0"), "{name}");
        me(&api, &other.token).await.expect_error(401, "unauthenticated", &name);
        api.post("/api/v1/logout", json!({}), Some(&other.token)).await.expect_error(
            401,
            "unauthenticated",
            &name,
        );
        me(&api, &admin.token).await.expect(200, &format!("{name}: the other session lives"));
        // Logging out with no body at all works too.
        let third = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        api.send(Req::new("POST", "/api/v1/logout").bearer(Some(&third.token)))
            .await
            .expect(204, &name);
        me(&api, &third.token).await.expect_error(401, "unauthenticated", &name);

        // Lock by an admin.
        let v = api.user(&admin.token, "tanaka", "vendor").await;
        let v2 = api.login("tanaka", USER_PASSWORD, &v.secret).await;
        let admin = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        me(&api, &v.token).await.expect(200, &name);
        let r = api
            .post(
                &format!("/api/v1/users/{}/lock?reason=left", v.id()),
                json!({}),
                Some(&admin.token),
            )
            .await;
        r.expect(200, &name);
        assert_eq!(r.json["user"]["status"], "locked");
        for t in [&v.token, &v2.token] {
            me(&api, t).await.expect_error(401, "unauthenticated", &format!("{name}: locked"));
        }
        // Locked by an admin: refused like a wrong password, even the right one.
        api.post("/api/v1/login", json!({"username": "tanaka", "password": USER_PASSWORD}), None)
            .await
            .expect_error(401, "invalid_credentials", &name);
        api.post(&format!("/api/v1/users/{}/unlock", v.id()), json!({}), Some(&admin.token))
            .await
            .expect(200, &name);
        me(&api, &v.token).await.expect_error(401, "unauthenticated", &format!("{name}: revived"));

        // MFA reset by an admin (fresh from login) ends the sessions and
        // makes the user enrol again.
        let v3 = api.login("tanaka", USER_PASSWORD, &v.secret).await;
        me(&api, &v3.token).await.expect(200, &name);
        let r = api
            .post(&format!("/api/v1/users/{}/reset-mfa", v.id()), json!({}), Some(&admin.token))
            .await;
        r.expect(200, &name);
        assert_eq!(r.json["user"]["mfa_enrolled"], false);
        me(&api, &v3.token).await.expect_error(401, "unauthenticated", &format!("{name}: reset"));
        let again = api.first_login("tanaka", USER_PASSWORD).await;
        assert_ne!(again.secret, v.secret, "{name}: a new secret");
    }
}

/// Reset-MFA (and creating an admin) need MFA within the last five minutes:
/// six minutes after login → 403 `step_up_required`; a wrong code does not
/// step up; a fresh one does, for five minutes.
#[tokio::test]
async fn step_up_window() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let vendor = api.user(&admin.token, "tanaka", "vendor").await;
        let reset_path = format!("/api/v1/users/{}/reset-mfa", vendor.id());
        let reset = || api.post(&reset_path, json!({}), Some(&admin.token));
        let new_admin = |n: &str| {
            api.post(
                "/api/v1/users",
                json!({"username": n, "role": "admin", "password": USER_PASSWORD}),
                Some(&admin.token),
            )
        };
        let step_up = |code: String| {
            api.post("/api/v1/me/step-up", json!({"code": code}), Some(&admin.token))
        };

        api.advance(Duration::minutes(6));
        let r = me(&api, &admin.token).await;
        assert_eq!(r.json["session"]["mfa_fresh"], false, "{name}");
        let ctx = format!("{name}: 6 min after login");
        reset().await.expect_error(403, "step_up_required", &ctx).expect_clean_error(&ctx);
        new_admin("admin2").await.expect_error(403, "step_up_required", &ctx);
        // Non-sensitive actions still work.
        api.post(
            "/api/v1/users",
            json!({"username": "sato", "role": "auditor", "password": USER_PASSWORD}),
            Some(&admin.token),
        )
        .await
        .expect(201, &ctx);
        // A wrong code does not step up.
        let good = api.totp(&admin.secret, 0);
        step_up(wrong_code(&good)).await.expect_error(401, "invalid_mfa_code", &ctx);
        reset().await.expect_error(403, "step_up_required", &ctx);
        // A fresh code does.
        let r = step_up(good.clone()).await;
        r.expect(200, &ctx);
        assert!(r.json["mfa_at"].is_string());
        assert_eq!(me(&api, &admin.token).await.json["session"]["mfa_fresh"], true, "{name}");
        step_up(good).await.expect_error(401, "invalid_mfa_code", &format!("{ctx}: replay"));
        // Fresh for five minutes.
        api.advance(Duration::seconds(299));
        new_admin("admin2").await.expect(201, &format!("{name}: 4:59 after step-up"));
        reset().await.expect(200, &format!("{name}: 4:59 after step-up"));
        api.advance(Duration::seconds(1));
        new_admin("admin3").await.expect_error(403, "step_up_required", &format!("{name}: 5:00"));
    }
}

fn wrong_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// `/sessions`: everyone lists their own live sessions, admins and auditors
/// everyone's; a session is ended at once by its owner or an admin, by no
/// one else; idle-expired sessions are not listed.
#[tokio::test]
async fn sessions_are_listed_and_ended_by_owner_or_admin() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let v = api.user(&admin.token, "tanaka", "vendor").await;
        let v2 = api.login("tanaka", USER_PASSWORD, &v.secret).await;
        let w = api.user(&admin.token, "suzuki", "vendor").await;
        let aud = api.user(&admin.token, "sato", "auditor").await;
        let (v_sid, v2_sid) = (session_id(&api, &v).await, session_id(&api, &v2).await);
        let list = |t: &str, q: &str| {
            let (t, q) = (t.to_owned(), q.to_owned());
            let app = api.app.clone();
            async move {
                send_on(
                    app,
                    Req::new("GET", &format!("/api/v1/sessions{q}")).bearer(Some(&t)).build(),
                )
                .await
            }
        };
        let users_of = |r: &Resp| -> Vec<String> {
            r.json["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["user"].as_str().unwrap().to_owned())
                .collect()
        };

        // A vendor sees their own two, one of them current.
        let r = list(&v.token, "").await;
        r.expect(200, &name);
        assert_eq!(users_of(&r), vec![v.id(), v.id()], "{name}");
        let current: Vec<bool> = r.json["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["current"].as_bool().unwrap())
            .collect();
        assert_eq!(current.iter().filter(|c| **c).count(), 1, "{name}");
        // Even when asking for someone else's.
        let r = list(&v.token, &format!("?user={}", admin.id())).await;
        assert_eq!(users_of(&r), vec![v.id(), v.id()], "{name}");
        // Auditors and admins see everyone's, or one user's.
        let all = users_of(&list(&aud.token, "").await);
        for u in [admin.id(), v.id(), w.id(), aud.id()] {
            assert!(all.contains(&u), "{name}: {u} missing from {all:?}");
        }
        let r = list(&admin.token, &format!("?user={}", w.id())).await;
        assert_eq!(users_of(&r), vec![w.id()], "{name}");
        list(&admin.token, "?user=nope").await.expect_error(422, "invalid_value", &name);

        // Others' sessions: not for vendors or auditors, and as invisible
        // to them as an unknown ID (the answer does not confirm an ID).
        for t in [&w.token, &aud.token] {
            let r = api.post(&format!("/api/v1/sessions/{v_sid}/revoke"), json!({}), Some(t)).await;
            r.expect_error(404, "not_found", &name).expect_clean_error(&name);
            let unknown = sekimori_types::SessionId::new();
            let r =
                api.post(&format!("/api/v1/sessions/{unknown}/revoke"), json!({}), Some(t)).await;
            r.expect_error(404, "not_found", &name);
        }
        me(&api, &v.token).await.expect(200, &format!("{name}: still alive"));
        // One's own: yes.
        api.post(&format!("/api/v1/sessions/{v2_sid}/revoke"), json!({}), Some(&v.token))
            .await
            .expect(204, &name);
        me(&api, &v2.token).await.expect_error(401, "unauthenticated", &name);
        // An admin: anyone's.
        api.post(&format!("/api/v1/sessions/{v_sid}/revoke"), json!({}), Some(&admin.token))
            .await
            .expect(204, &name);
        me(&api, &v.token).await.expect_error(401, "unauthenticated", &name);
        let unknown = uuid::Uuid::new_v4();
        api.post(&format!("/api/v1/sessions/{unknown}/revoke"), json!({}), Some(&admin.token))
            .await
            .expect_error(404, "not_found", &name);
        let users = users_of(&list(&admin.token, "").await);
        assert!(!users.contains(&v.id()), "{name}: ended sessions are not listed: {users:?}");

        // Idle sessions drop out of the list.
        api.advance(Duration::hours(1));
        let fresh = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        let r = list(&fresh.token, "").await;
        assert_eq!(users_of(&r), vec![admin.id()], "{name}: {}", r.json);
    }
}

async fn session_id(api: &Api, l: &Login) -> String {
    me(api, &l.token).await.json["session"]["id"].as_str().unwrap().to_owned()
}
