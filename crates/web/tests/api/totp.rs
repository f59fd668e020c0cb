//! TOTP at the API, on the injected clock: codes one step either side are
//! accepted and two steps are not; a code is never accepted twice, also
//! when N logins race with the same code; a login challenge dies after five
//! minutes and after five attempts.

use serde_json::json;
use time::Duration;

use sekimori_authn::{AuthnConfig, ThrottleConfig};

use crate::common::*;

/// Room for many wrong codes without the account throttle joining in.
fn roomy() -> AuthnConfig {
    AuthnConfig {
        throttle: ThrottleConfig {
            account_free_failures: 20,
            account_lock_after: 40,
            ..ThrottleConfig::default()
        },
        ..config()
    }
}

/// A six-digit code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 500_000) % 1_000_000)
}

async fn mfa(api: &Api, challenge: &str, code: &str) -> Resp {
    api.post("/api/v1/login/mfa", json!({"challenge": challenge, "code": code}), None).await
}

/// The test's own generator against RFC 6238 Appendix B (SHA-1), then the
/// window: ±2 steps refused, −1, 0, +1 accepted (in increasing order, as
/// each acceptance burns its step), and a used step never again.
#[tokio::test]
async fn codes_one_step_either_side_are_accepted_two_are_not() {
    let key = b"12345678901234567890";
    for (t, want) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(hotp(key, t / 30, 8), want, "RFC 6238 vector at T={t}");
    }

    for api in apis_with(roomy()).await {
        let name = api.name();
        let admin = api.setup_admin().await;
        // Well past the step used at enrolment.
        api.advance(Duration::minutes(10));
        for offset in [-2i64, 2, -3, 3] {
            let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
            let r = mfa(&api, &c, &api.totp(&admin.secret, offset)).await;
            r.expect_error(401, "invalid_mfa_code", &format!("{name}: offset {offset}"));
            r.expect_clean_error(&name);
        }
        for offset in [-1i64, 0, 1] {
            let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
            let r = mfa(&api, &c, &api.totp(&admin.secret, offset)).await;
            r.expect(200, &format!("{name}: offset {offset}"));
            assert!(r.json["token"].as_str().unwrap().starts_with("skm_s_"), "{name}");
        }
        // The same by moving the server's clock: a code read from the app at
        // X and checked when the clock says X ± 60 s is refused, X ± 30 s
        // accepted.
        for (shift, accepted) in [(-60i64, false), (60, false), (30, true), (-30, true)] {
            api.advance(Duration::minutes(10));
            let x = api.now();
            let code = totp_at(&admin.secret, x);
            api.t.clock.set(x + Duration::seconds(shift));
            let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
            let r = mfa(&api, &c, &code).await;
            let ctx = format!("{name}: clock moved {shift} s");
            if accepted {
                r.expect(200, &ctx);
            } else {
                r.expect_error(401, "invalid_mfa_code", &ctx);
            }
            api.t.clock.set(x);
        }

        // After a login at step S, S and S−1 are spent everywhere; S+1 is
        // good once; a step-up cannot reach S+2 either.
        let me = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        let step_up =
            |code: String| api.post("/api/v1/me/step-up", json!({"code": code}), Some(&me.token));
        for offset in [-1i64, 0] {
            let code = api.totp(&admin.secret, offset);
            let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
            let ctx = format!("{name}: replay of offset {offset}");
            mfa(&api, &c, &code).await.expect_error(401, "invalid_mfa_code", &ctx);
            step_up(code).await.expect_error(401, "invalid_mfa_code", &ctx);
        }
        let ctx = format!("{name}: step-up");
        step_up(api.totp(&admin.secret, 2)).await.expect_error(401, "invalid_mfa_code", &ctx);
        step_up(api.totp(&admin.secret, 1)).await.expect(200, &ctx);
        step_up(api.totp(&admin.secret, 1)).await.expect_error(401, "invalid_mfa_code", &ctx);
        api.advance(Duration::seconds(30));
        step_up(api.totp(&admin.secret, 0)).await.expect_error(401, "invalid_mfa_code", &ctx);
        step_up(api.totp(&admin.secret, 1)).await.expect(200, &ctx);
    }
}

/// N logins race with the same code on N challenges: exactly one session.
/// Repeated over several steps; the losers get `invalid_mfa_code`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_is_accepted_once_under_concurrency() {
    const N: usize = 8;
    for api in apis_with(roomy()).await {
        let name = api.name();
        let admin = api.setup_admin().await;
        for round in 0..3 {
            api.advance(Duration::seconds(30));
            let mut challenges = Vec::new();
            for _ in 0..N {
                challenges.push(api.challenge(ADMIN, ADMIN_PASSWORD).await);
            }
            let code = api.totp(&admin.secret, 0);
            let tasks: Vec<_> = challenges
                .iter()
                .map(|c| {
                    let req = Req::new("POST", "/api/v1/login/mfa")
                        .json(&json!({"challenge": c, "code": code}))
                        .build();
                    tokio::spawn(send_on(api.app.clone(), req))
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                let r = t.await.unwrap();
                if r.status == 200 {
                    ok += 1;
                } else {
                    r.expect_error(401, "invalid_mfa_code", &format!("{name}: round {round}"));
                }
            }
            assert_eq!(ok, 1, "{name}: round {round}: exactly one login with one code");
        }
    }
}

/// A challenge lives five minutes and allows five code attempts; the
/// positive controls show the limits are exactly there.
#[tokio::test]
async fn a_challenge_expires_after_five_minutes_and_five_attempts() {
    for api in apis_with(roomy()).await {
        let name = api.name();
        let admin = api.setup_admin().await;

        // 4:59 after the password step: still good.
        api.advance(Duration::minutes(1));
        let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        api.advance(Duration::seconds(299));
        mfa(&api, &c, &api.totp(&admin.secret, 0)).await.expect(200, &format!("{name}: 4:59"));

        // 5:00: expired, and the code was not spent on it.
        api.advance(Duration::minutes(1));
        let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        api.advance(Duration::seconds(300));
        let code = api.totp(&admin.secret, 0);
        mfa(&api, &c, &code).await.expect_error(401, "challenge_expired", &format!("{name}: 5:00"));
        mfa(&api, &c, &code).await.expect_error(401, "challenge_expired", &name);
        let fresh = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        mfa(&api, &fresh, &code).await.expect(200, &format!("{name}: the code is still unused"));

        // Four wrong codes, then the right one: accepted (five attempts).
        api.advance(Duration::minutes(1));
        let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        let code = api.totp(&admin.secret, 0);
        for i in 0..4 {
            mfa(&api, &c, &wrong(&code)).await.expect_error(
                401,
                "invalid_mfa_code",
                &format!("{name}: wrong {i}"),
            );
        }
        mfa(&api, &c, &code).await.expect(200, &format!("{name}: fifth attempt"));

        // Five wrong codes: the sixth attempt finds the challenge gone, even
        // with the right code, which stays unspent.
        api.advance(Duration::minutes(1));
        let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        let code = api.totp(&admin.secret, 0);
        for i in 0..5 {
            mfa(&api, &c, &wrong(&code)).await.expect_error(
                401,
                "invalid_mfa_code",
                &format!("{name}: wrong {i}"),
            );
        }
        mfa(&api, &c, &code).await.expect_error(401, "challenge_expired", &format!("{name}: 6th"));
        let fresh = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        mfa(&api, &fresh, &code).await.expect(200, &name);

        // Wrong recovery codes count as attempts too.
        let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        for _ in 0..5 {
            api.post(
                "/api/v1/login/mfa",
                json!({"challenge": c, "recovery_code": "AAAA-BBBB-CCCC-DDDD"}),
                None,
            )
            .await
            .expect_error(401, "invalid_mfa_code", &name);
        }
        let rc = &admin.recovery_codes[0];
        api.post("/api/v1/login/mfa", json!({"challenge": c, "recovery_code": rc}), None)
            .await
            .expect_error(401, "challenge_expired", &format!("{name}: recovery after 5"));
        // An enrolment challenge is not an MFA challenge, and vice versa.
        let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
        api.post("/api/v1/login/enrol", json!({"challenge": c, "code": "123456"}), None)
            .await
            .expect_error(401, "challenge_expired", &name);
    }
}

/// Regression: `/login/mfa` did not check that it was the one to take the
/// challenge, so parallel requests with different valid second factors
/// (here recovery codes; equally TOTP codes of adjacent steps) on one
/// challenge each got a session. One challenge, one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_challenge_yields_one_session_under_concurrency() {
    const N: usize = 5;
    for api in apis_with(roomy()).await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let mut codes = admin.recovery_codes.clone().into_iter();
        for round in 0..2 {
            let c = api.challenge(ADMIN, ADMIN_PASSWORD).await;
            let tasks: Vec<_> = codes
                .by_ref()
                .take(N)
                .map(|rc| {
                    let req = Req::new("POST", "/api/v1/login/mfa")
                        .json(&json!({"challenge": c, "recovery_code": rc}))
                        .build();
                    tokio::spawn(send_on(api.app.clone(), req))
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                let r = t.await.unwrap();
                if r.status == 200 {
                    ok += 1;
                } else {
                    r.expect_error(401, "challenge_expired", &format!("{name}: round {round}"));
                }
            }
            assert_eq!(ok, 1, "{name}: round {round}: sessions from one challenge");
        }
    }
}
