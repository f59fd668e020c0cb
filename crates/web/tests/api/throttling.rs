//! Login throttling through the API on the injected clock: growing delays
//! (429 `too_many_attempts` with `retry_after` and `Retry-After`), the
//! account lock (403 `account_locked`, even with the right password, lifted
//! by an admin), unknown user names treated exactly like real ones, per-source
//! blocking, and one Argon2 computation for every checked password whether
//! or not the user exists.

use axum::http::header;
use serde_json::{Value, json};
use time::Duration;

use sekimori_authn::{AuthnConfig, ThrottleConfig};

use crate::common::*;

/// Small limits, so a lock takes a handful of attempts.
fn small() -> AuthnConfig {
    AuthnConfig {
        throttle: ThrottleConfig {
            account_free_failures: 2,
            account_lock_after: 6,
            base_delay_secs: 1,
            max_delay_secs: 900,
            source_free_failures: 3,
            source_window_secs: 900,
            source_block_after: 6,
            source_block_secs: 600,
        },
        ..config()
    }
}

/// What the caller sees: status, `Retry-After`, body.
fn seen(r: &Resp) -> (u16, Option<String>, Value) {
    (r.status.as_u16(), r.header(header::RETRY_AFTER).map(str::to_owned), r.json.clone())
}

async fn attempt(api: &Api, username: &str, password: &str) -> Resp {
    api.post("/api/v1/login", json!({"username": username, "password": password}), None).await
}

/// A real account with wrong passwords and an unknown name, attempted at
/// the same instants, see the same thing at every step: free failures,
/// then growing delays (shorter waits refused, the exact wait allowed), then
/// a lock that the right password does not open and time does not lift.
/// An admin's unlock lets the real user in again.
#[tokio::test]
async fn delays_grow_then_lock_and_unknown_users_lock_identically() {
    let cfg = small();
    let t = cfg.throttle.clone();
    for api in apis_with(cfg).await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let id = api.create_user(&admin.token, "tanaka", "vendor").await;
        let both = |password: &'static str| {
            let api = &api;
            async move {
                let h0 = api.hasher.hashes_computed();
                let real = attempt(api, "tanaka", password).await;
                let h1 = api.hasher.hashes_computed();
                let ghost = attempt(api, "ghost", password).await;
                let h2 = api.hasher.hashes_computed();
                assert_eq!(seen(&real), seen(&ghost), "{}: real vs unknown user", api.name());
                assert_eq!(h1 - h0, h2 - h1, "{}: same hashing cost", api.name());
                real
            }
        };

        let mut failures = 0u32;
        let mut last_delay = 0i64;
        loop {
            // Allowed: the password is checked (and wrong).
            let r = both("wrong-password-123").await;
            r.expect_error(
                401,
                "invalid_credentials",
                &format!("{name}: failure {}", failures + 1),
            );
            failures += 1;
            if failures == t.account_lock_after {
                break;
            }
            let delay = t.account_delay(failures).whole_seconds();
            if failures <= t.account_free_failures {
                assert_eq!(delay, 0, "{name}: failure {failures} is free");
                continue;
            }
            assert!(delay > last_delay, "{name}: the delay grows ({last_delay} → {delay})");
            last_delay = delay;
            let ctx = format!("{name}: after {failures} failures");
            // Refused at once, with the wait in the body and the header.
            let r = both("wrong-password-123").await;
            r.expect_error(429, "too_many_attempts", &ctx);
            assert_eq!(r.json["retry_after"], json!(delay), "{ctx}");
            assert_eq!(r.header(header::RETRY_AFTER), Some(delay.to_string().as_str()), "{ctx}");
            // The right password does not skip the wait.
            let h = api.hasher.hashes_computed();
            attempt(&api, "tanaka", USER_PASSWORD).await.expect_error(
                429,
                "too_many_attempts",
                &ctx,
            );
            assert_eq!(api.hasher.hashes_computed(), h, "{ctx}: refused before hashing");
            // Half a second later, the wait is rounded up, never down:
            // a client that waits what it is told is let in.
            api.advance(Duration::milliseconds(500));
            let r = both("wrong-password-123").await;
            r.expect_error(429, "too_many_attempts", &ctx);
            assert_eq!(r.json["retry_after"], json!(delay), "{ctx}: rounded up");
            // One second short of it: still refused, the wait counted down.
            api.advance(Duration::seconds(delay - 1));
            let r = both("wrong-password-123").await;
            r.expect_error(429, "too_many_attempts", &ctx);
            assert_eq!(r.json["retry_after"], json!(1), "{ctx}");
            assert_eq!(r.header(header::RETRY_AFTER), Some("1"), "{ctx}");
            api.advance(Duration::seconds(1));
        }
        assert!(last_delay > 0, "{name}: delays were seen");

        // Locked: the same for both names, the right password included.
        let ctx = format!("{name}: locked after {failures}");
        let r = both("wrong-password-123").await;
        r.expect_error(403, "account_locked", &ctx);
        assert!(r.header(header::RETRY_AFTER).is_none(), "{ctx}");
        let r = attempt(&api, "tanaka", USER_PASSWORD).await;
        r.expect_error(403, "account_locked", &ctx);
        assert!(r.json.get("challenge").is_none());
        api.advance(Duration::days(30));
        attempt(&api, "tanaka", USER_PASSWORD).await.expect_error(403, "account_locked", &ctx);
        both("wrong-password-123").await.expect_error(403, "account_locked", &ctx);
        // Case and spaces do not make a new account name.
        attempt(&api, " TANAKA ", USER_PASSWORD).await.expect_error(403, "account_locked", &ctx);
        attempt(&api, "Ghost", USER_PASSWORD).await.expect_error(403, "account_locked", &ctx);

        // An admin unlocks; the real user logs in, the unknown name stays locked.
        // (The admin's session is long idle by now.)
        let admin = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        let u = api.get(&format!("/api/v1/users/{id}"), Some(&admin.token)).await;
        assert_eq!(u.json["user"]["status"], "locked", "{ctx}");
        api.post(&format!("/api/v1/users/{id}/unlock"), json!({}), Some(&admin.token))
            .await
            .expect(200, &name);
        let r = attempt(&api, "tanaka", USER_PASSWORD).await;
        r.expect(200, &name);
        assert_eq!(r.json["status"], "mfa_enrolment_required");
        attempt(&api, "ghost", USER_PASSWORD).await.expect_error(403, "account_locked", &name);

        // Each lock is an alert; the unknown name typed is never repeated in it.
        let alerts = api.get("/api/v1/alerts?kind=authentication_attack", Some(&admin.token)).await;
        let text = alerts.json.to_string();
        assert!(text.contains("Account tanaka locked"), "{name}: {text}");
        assert!(text.contains("does not exist"), "{name}: {text}");
        assert!(!text.to_lowercase().contains("ghost"), "{name}: the typed name leaked: {text}");
    }
}

/// An unknown user and a wrong password get identical answers (status,
/// headers, body) and cost exactly one Argon2 computation each; so do names
/// that cannot even be user names.
#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let vendor = api.create_user(&admin.token, "tanaka", "vendor").await;
        let long = "x".repeat(300);
        let mut answers = Vec::new();
        for (who, username, password) in [
            ("wrong password", "tanaka", "wrong-password-123"),
            ("unknown user", "nobody", "wrong-password-123"),
            ("wrong password, admin", ADMIN, "wrong-password-123"),
            ("impossible name", "!! not a name", "wrong-password-123"),
            ("over-long name", long.as_str(), "wrong-password-123"),
            ("empty password", "tanaka", ""),
            ("unknown user, real password", "nobody2", USER_PASSWORD),
        ] {
            let before = api.hasher.hashes_computed();
            let r = attempt(&api, username, password).await;
            let cost = api.hasher.hashes_computed() - before;
            assert_eq!(cost, 1, "{name}: {who}: exactly one Argon2 computation");
            r.expect_error(401, "invalid_credentials", &format!("{name}: {who}"));
            let mut headers: Vec<String> =
                r.headers.keys().map(|k| k.as_str().to_owned()).collect();
            headers.sort();
            answers.push((who, r.status, headers, r.bytes.clone()));
        }
        for a in &answers[1..] {
            assert_eq!(
                (a.1, &a.2, &a.3),
                (answers[0].1, &answers[0].2, &answers[0].3),
                "{name}: {} differs from {}",
                a.0,
                answers[0].0
            );
        }
        // A user locked by an admin, with a wrong password: the same again.
        api.post(&format!("/api/v1/users/{vendor}/lock"), json!({}), Some(&admin.token))
            .await
            .expect(200, &name);
        let before = api.hasher.hashes_computed();
        let r = attempt(&api, "tanaka", "another-wrong-password").await;
        assert_eq!(api.hasher.hashes_computed() - before, 1, "{name}");
        assert_eq!(r.bytes, answers[0].3, "{name}: locked user, wrong password");
        // …and with the right password: no oracle for a guessed password.
        let before = api.hasher.hashes_computed();
        let r = attempt(&api, "tanaka", USER_PASSWORD).await;
        assert_eq!(api.hasher.hashes_computed() - before, 1, "{name}");
        assert_eq!(
            (r.status, &r.bytes),
            (answers[0].1, &answers[0].3),
            "{name}: locked user, right password"
        );
        // Control: the right password does get further.
        let before = api.hasher.hashes_computed();
        attempt(&api, ADMIN, ADMIN_PASSWORD).await.expect(200, &name);
        assert_eq!(api.hasher.hashes_computed() - before, 1, "{name}");
    }
}

/// Per-source throttling (the address comes from `ConnectInfo`): failures
/// from one address against many names get delays, then a block that also
/// refuses the right password and the set-up endpoint; other addresses are
/// unaffected; the block ends after `source_block_secs`, and is audited.
#[tokio::test]
async fn a_source_is_delayed_then_blocked() {
    let cfg = small();
    let t = cfg.throttle.clone();
    for api in apis_with(cfg).await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let (bad, good) = (ip(7), ip(8));
        let from = |addr, username: &str, password: &str| {
            Req::new("POST", "/api/v1/login")
                .client_ip(addr)
                .json(&json!({"username": username, "password": password}))
        };
        let mut failures = 0u32;
        while failures < t.source_block_after {
            // A new name each time: no account is throttled, only the source.
            let r = api.send(from(bad, &format!("guess{failures}"), "wrong-password-1")).await;
            r.expect_error(401, "invalid_credentials", &format!("{name}: guess {failures}"));
            failures += 1;
            let delay = t.source_delay(failures).whole_seconds();
            if failures < t.source_block_after && delay > 0 {
                let ctx = format!("{name}: source after {failures}");
                let r = api.send(from(bad, &format!("new{failures}"), "wrong-password-1")).await;
                r.expect_error(429, "too_many_attempts", &ctx);
                assert_eq!(r.json["retry_after"], json!(delay), "{ctx}");
                // Another address is not slowed down.
                api.send(from(good, &format!("other{failures}"), "wrong-password-1"))
                    .await
                    .expect_error(401, "invalid_credentials", &ctx);
                api.advance(Duration::seconds(delay));
            }
        }
        // Blocked: everything from that address, for source_block_secs.
        let block = i64::try_from(t.source_block_secs).unwrap();
        let ctx = format!("{name}: blocked source");
        let r = api.send(from(bad, ADMIN, ADMIN_PASSWORD)).await;
        r.expect_error(429, "too_many_attempts", &ctx);
        assert_eq!(r.json["retry_after"], json!(block), "{ctx}");
        assert_eq!(r.header(header::RETRY_AFTER), Some(block.to_string().as_str()), "{ctx}");
        let setup = Req::new("POST", "/api/v1/setup")
            .client_ip(bad)
            .json(&json!({"setup_code": SETUP_CODE, "username": "x", "password": ADMIN_PASSWORD}));
        api.send(setup).await.expect_error(429, "too_many_attempts", &ctx);
        // The MFA step is gated by source too.
        let challenge = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        let mfa = Req::new("POST", "/api/v1/login/mfa")
            .client_ip(bad)
            .json(&json!({"challenge": challenge, "code": api.totp(&admin.secret, 0)}));
        api.send(mfa).await.expect_error(429, "too_many_attempts", &ctx);
        // Elsewhere, the admin logs in.
        api.send(from(good, ADMIN, ADMIN_PASSWORD)).await.expect(200, &ctx);
        // One second before the end: still blocked; at the end: allowed.
        api.advance(Duration::seconds(block - 1));
        let r = api.send(from(bad, ADMIN, ADMIN_PASSWORD)).await;
        r.expect_error(429, "too_many_attempts", &ctx);
        assert_eq!(r.json["retry_after"], json!(1), "{ctx}");
        api.advance(Duration::seconds(1));
        let r = api.send(from(bad, ADMIN, ADMIN_PASSWORD)).await;
        r.expect(200, &format!("{name}: block over"));
        assert_eq!(r.json["status"], "mfa_required");

        // The block is in the audit log.
        let admin = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        let audit = api.get("/api/v1/audit?limit=1000", Some(&admin.token)).await;
        audit.expect(200, &name);
        let blocked: Vec<&Value> = audit.json["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["event"]["type"] == "source_blocked")
            .collect();
        assert_eq!(blocked.len(), 1, "{name}: one source_blocked record");
        assert_eq!(blocked[0]["event"]["source"], json!(bad.to_string()), "{name}");

        // And an alert: password guessing from that address.
        let alerts = api.get("/api/v1/alerts?kind=authentication_attack", Some(&admin.token)).await;
        alerts.expect(200, &name);
        let list = alerts.json["alerts"].as_array().unwrap();
        let from_bad: Vec<&Value> = list
            .iter()
            .filter(|a| a["evidence"]["assets"][0]["ip"] == json!(bad.to_string()))
            .collect();
        assert_eq!(from_bad.len(), 1, "{name}: {list:?}");
        assert_eq!(from_bad[0]["severity"], "high");
        assert!(from_bad[0]["summary"].as_str().unwrap().contains("blocked"), "{name}");
        assert!(!from_bad[0]["summary_ja"].as_str().unwrap().is_ascii(), "{name}");
    }
}

/// Regression: the store's failure counter for a source only ever grew and
/// kept its first failure time, so once `source_window_secs` had passed
/// after an address's first failure, the address was never throttled again.
/// A new window after the old one must throttle (and block) just the same.
#[tokio::test]
async fn a_source_is_throttled_again_in_a_later_window() {
    let cfg = small();
    let t = cfg.throttle.clone();
    for api in apis_with(cfg).await {
        let name = api.name();
        api.setup_admin().await;
        let bad = ip(7);
        let fail =
            |i: u32| {
                api.send(Req::new("POST", "/api/v1/login").client_ip(bad).json(
                    &json!({"username": format!("guess{i}"), "password": "wrong-password-1"}),
                ))
            };
        // One failure in the first window, then the window passes.
        fail(0).await.expect_error(401, "invalid_credentials", &name);
        api.advance(Duration::seconds(i64::try_from(t.source_window_secs).unwrap() + 1));
        // The free failures of the new window, then a delay.
        for i in 1..=t.source_free_failures + 1 {
            fail(i).await.expect_error(401, "invalid_credentials", &format!("{name}: {i}"));
        }
        let r = fail(99).await;
        r.expect_error(429, "too_many_attempts", &format!("{name}: second window"));
        assert_eq!(
            r.json["retry_after"],
            json!(t.source_delay(t.source_free_failures + 1).whole_seconds())
        );
        // Blocked in the second window as in the first, then free again.
        let mut i = 100;
        loop {
            let r = fail(i).await;
            i += 1;
            if r.status == 429 {
                let secs = r.json["retry_after"].as_i64().unwrap();
                if secs == i64::try_from(t.source_block_secs).unwrap() {
                    break;
                }
                api.advance(Duration::seconds(secs));
                continue;
            }
            r.expect_error(401, "invalid_credentials", &name);
            assert!(i < 200, "{name}: never blocked");
        }
        api.advance(Duration::seconds(i64::try_from(t.source_block_secs).unwrap()));
        fail(i).await.expect_error(401, "invalid_credentials", &format!("{name}: block over"));
        // And the window after the block counts from scratch: free failures.
        for j in 1..t.source_free_failures {
            fail(i + j).await.expect_error(401, "invalid_credentials", &format!("{name}: after"));
        }
    }
}
