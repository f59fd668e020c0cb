//! Every repository on every backend: CRUD, uniqueness, the audit record of
//! each mutation, and the single-use guarantees.

mod common;

use std::sync::Arc;

use futures::future::join_all;
use secrecy::{ExposeSecret, SecretSlice};
use time::Duration;

use common::*;
use sekimori_audit::{Actor, AuditEvent, SessionEnd};
use sekimori_store::{
    AssetRepo, AuditCtx, AuditRepo, ChallengeKind, CredentialRepo, MetaRepo, NewChallenge,
    NewSession, SessionRepo, StoreError, ThrottleRepo, ThrottleState, UserPatch, UserRepo,
    ZoneRepo,
};
use sekimori_test_support::each_backend;
use sekimori_types::{Clock, Label, Role, UserStatus, Username};

fn label(s: &str) -> Label {
    Label::parse("l", s).unwrap()
}

#[tokio::test]
async fn users_crud_unique_and_audited() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let alice =
            s.create_user(&admin_ctx(), &new_user("alice", Role::Admin), PHC).await.unwrap();
        assert_eq!(s.user(alice.id).await.unwrap(), alice, "{b:?}");
        assert!(!alice.mfa_enrolled);
        assert_eq!(alice.created_at, t.clock.now());

        // Unique username (case-folded): refused, and leaves no audit record.
        let err =
            s.create_user(&admin_ctx(), &new_user("ALICE", Role::Auditor), PHC).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { what: "user", field: "username" }),
            "{b:?}: {err:?}"
        );
        assert_eq!(head_seq(s).await, 1, "{b:?}");

        // Invalid input never reaches the database.
        let mut vendor = new_user("v1", Role::Vendor);
        vendor.company = None;
        assert!(matches!(
            s.create_user(&admin_ctx(), &vendor, PHC).await,
            Err(StoreError::Invalid(_))
        ));

        let bob = s.create_user(&admin_ctx(), &new_user("bob", Role::Vendor), PHC).await.unwrap();
        assert_eq!(head_seq(s).await, 2, "{b:?}: a failed write leaves no gap");
        let by_name = s.user_by_username(&Username::parse("Bob").unwrap()).await.unwrap();
        assert_eq!(by_name.as_ref(), Some(&bob));
        assert_eq!(s.user_by_username(&Username::parse("nobody").unwrap()).await.unwrap(), None);
        let names: Vec<_> =
            s.list_users().await.unwrap().into_iter().map(|u| u.username.to_string()).collect();
        assert_eq!(names, ["alice", "bob"]);

        t.clock.advance(Duration::minutes(5));
        let patch = UserPatch {
            display_name: Some(label("Bob Tanaka")),
            company: Some(Some(label("Other Co"))),
            ..UserPatch::default()
        };
        let updated = s.update_user(&admin_ctx(), bob.id, &patch).await.unwrap();
        assert_eq!(updated.display_name.as_str(), "Bob Tanaka");
        assert_eq!(updated.updated_at, t.clock.now());
        assert_eq!(s.user(bob.id).await.unwrap(), updated, "{b:?}");
        // Same values again: nothing to write, nothing audited.
        s.update_user(&admin_ctx(), bob.id, &patch).await.unwrap();
        // A vendor without company is refused.
        let bad = UserPatch { company: Some(None), ..UserPatch::default() };
        assert!(matches!(
            s.update_user(&admin_ctx(), bob.id, &bad).await,
            Err(StoreError::Invalid(_))
        ));
        let missing = sekimori_types::UserId::new();
        assert!(matches!(
            s.update_user(&admin_ctx(), missing, &patch).await,
            Err(StoreError::NotFound { what: "user", .. })
        ));
        assert!(matches!(s.user(missing).await, Err(StoreError::NotFound { .. })));

        let ev = events(s).await;
        assert_eq!(ev.len(), 3, "{b:?}: {ev:?}");
        assert!(
            matches!(&ev[0], AuditEvent::UserCreated { username, role: Role::Admin, .. } if username == "alice")
        );
        assert!(
            matches!(&ev[1], AuditEvent::UserCreated { company: Some(c), .. } if c == "Acme Medical")
        );
        assert!(
            matches!(&ev[2], AuditEvent::UserUpdated { changes, .. } if changes == &["display_name", "company"])
        );
        let rec = s.audit_records(1, 1).await.unwrap();
        assert_eq!(rec[0].entry().unwrap().actor, Actor::Cli { os_user: "root".into() });
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn locking_a_user_is_audited_and_revokes_sessions() {
    for t in each_backend().await {
        let s = &t.store;
        let u = s.create_user(&admin_ctx(), &new_user("carol", Role::Approver), PHC).await.unwrap();
        let session =
            s.create_session(&web_ctx("192.0.2.1"), &new_session(u.id, b"tok-1")).await.unwrap();
        let locked = s
            .set_user_status(&AuditCtx::system(), u.id, UserStatus::Locked, "too many failures")
            .await
            .unwrap();
        assert_eq!(locked.status, UserStatus::Locked);
        assert_eq!(s.user(u.id).await.unwrap().status, UserStatus::Locked);
        assert!(s.session(session.id).await.unwrap().revoked_at.is_some());
        // Already locked: no-op.
        let before = head_seq(s).await;
        s.set_user_status(&admin_ctx(), u.id, UserStatus::Locked, "again").await.unwrap();
        assert_eq!(head_seq(s).await, before);
        s.set_user_status(&admin_ctx(), u.id, UserStatus::Active, "lifted").await.unwrap();

        let ev = events(s).await;
        let kinds: Vec<_> = ev.iter().map(AuditEvent::kind).collect();
        assert_eq!(
            kinds,
            [
                "user_created",
                "login_succeeded",
                "user_status_changed",
                "account_locked",
                "session_revoked",
                "user_status_changed",
                "account_unlocked"
            ],
            "{:?}",
            t.backend()
        );
        assert!(
            matches!(&ev[3], AuditEvent::AccountLocked { reason, .. } if reason == "too many failures")
        );
        assert!(matches!(
            &ev[4],
            AuditEvent::SessionRevoked { reason: SessionEnd::UserLocked, .. }
        ));
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn zones_and_assets_crud() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let icu = s.create_zone(&admin_ctx(), &zone_spec("ICU")).await.unwrap();
        assert_eq!(s.zone(icu.id).await.unwrap(), icu);
        let err = s.create_zone(&admin_ctx(), &zone_spec("icu")).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { what: "zone", field: "name" }),
            "{b:?}: {err:?}"
        );

        let mut spec = asset_spec("CT-1");
        spec.zone = Some(icu.id);
        let ct = s.create_asset(&admin_ctx(), &spec).await.unwrap();
        assert_eq!(s.asset(ct.id).await.unwrap(), ct, "{b:?}");
        assert_eq!(ct.addresses, spec.addresses);
        assert_eq!(ct.maintenance_ports, spec.maintenance_ports);
        assert!(matches!(
            s.create_asset(&admin_ctx(), &asset_spec("ct-1")).await,
            Err(StoreError::Conflict { what: "asset", field: "name" })
        ));
        let mut ghost = asset_spec("MRI");
        ghost.zone = Some(sekimori_types::ZoneId::new());
        assert!(matches!(
            s.create_asset(&admin_ctx(), &ghost).await,
            Err(StoreError::NotFound { what: "zone", .. })
        ));
        let mut dup = asset_spec("MRI");
        dup.addresses.push(dup.addresses[0]);
        assert!(matches!(s.create_asset(&admin_ctx(), &dup).await, Err(StoreError::Invalid(_))));
        let mri = s.create_asset(&admin_ctx(), &asset_spec("MRI")).await.unwrap();
        let names: Vec<_> =
            s.list_assets().await.unwrap().into_iter().map(|a| a.name.to_string()).collect();
        assert_eq!(names, ["CT-1", "MRI"]);
        let listed = s.list_assets().await.unwrap();
        assert_eq!(listed[0], ct);
        assert_eq!(listed[1], mri);

        // Update: changed fields are named; the stored asset is what is returned.
        t.clock.advance(Duration::hours(1));
        let mut spec2 = spec.clone();
        spec2.addresses = vec!["10.9.9.9".parse().unwrap()];
        spec2.maintenance_ports.reverse();
        spec2.max_session_minutes = 30;
        let ct2 = s.update_asset(&admin_ctx(), ct.id, &spec2).await.unwrap();
        assert_eq!(s.asset(ct.id).await.unwrap(), ct2, "{b:?}");
        assert_eq!(ct2.created_at, ct.created_at);
        assert!(matches!(
            s.update_asset(&admin_ctx(), mri.id, &spec2).await,
            Err(StoreError::Conflict { what: "asset", field: "name" })
        ));

        // A zone with assets cannot go.
        assert!(matches!(s.delete_zone(&admin_ctx(), icu.id).await, Err(StoreError::InUse { .. })));
        s.delete_asset(&admin_ctx(), ct.id).await.unwrap();
        assert!(matches!(s.asset(ct.id).await, Err(StoreError::NotFound { .. })));
        assert!(matches!(
            s.delete_asset(&admin_ctx(), ct.id).await,
            Err(StoreError::NotFound { .. })
        ));
        let z2 = s
            .update_zone(
                &admin_ctx(),
                icu.id,
                &sekimori_types::ZoneSpec {
                    name: label("ICU North"),
                    description: Some("Floor 4".into()),
                    critical: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(s.zone(icu.id).await.unwrap(), z2);
        assert_eq!(s.list_zones().await.unwrap(), vec![z2]);
        s.delete_zone(&admin_ctx(), icu.id).await.unwrap();
        assert!(s.list_zones().await.unwrap().is_empty());

        let kinds: Vec<_> = events(s).await.iter().map(AuditEvent::kind).collect();
        assert_eq!(
            kinds,
            [
                "zone_created",
                "asset_created",
                "asset_created",
                "asset_updated",
                "asset_deleted",
                "zone_updated",
                "zone_deleted"
            ],
            "{b:?}"
        );
        let ev = events(s).await;
        assert!(matches!(&ev[3], AuditEvent::AssetUpdated { changes, .. }
            if changes == &["addresses", "maintenance_ports", "max_session_minutes"]));
        assert!(matches!(&ev[5], AuditEvent::ZoneUpdated { changes, .. }
            if changes == &["name", "description", "critical"]));
        assert_verifies(&t).await;
    }
}

fn new_session(user: sekimori_types::UserId, token_hash: &[u8]) -> NewSession {
    NewSession {
        user,
        token_hash: token_hash.to_vec(),
        expires_at: sekimori_test_support::test_epoch() + Duration::hours(12),
        mfa_method: "totp".into(),
        user_agent: Some("test-agent".into()),
    }
}

#[tokio::test]
async fn sessions_lifecycle() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let u = s.create_user(&admin_ctx(), &new_user("dave", Role::Auditor), PHC).await.unwrap();
        let ctx = web_ctx("198.51.100.7");
        let s1 = s.create_session(&ctx, &new_session(u.id, b"hash-1")).await.unwrap();
        assert_eq!(s1.source, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(s.session_by_token_hash(b"hash-1").await.unwrap(), Some(s1.clone()), "{b:?}");
        assert_eq!(s.session_by_token_hash(b"other").await.unwrap(), None);
        assert!(matches!(
            s.create_session(&ctx, &new_session(u.id, b"hash-1")).await,
            Err(StoreError::Conflict { what: "session", field: "token_hash" })
        ));

        // Touch is rate-limited by the caller's interval.
        t.clock.advance(Duration::seconds(10));
        assert!(!s.touch_session(&s1, Duration::seconds(30)).await.unwrap());
        t.clock.advance(Duration::seconds(25));
        assert!(s.touch_session(&s1, Duration::seconds(30)).await.unwrap());
        let touched = s.session(s1.id).await.unwrap();
        assert_eq!(touched.last_seen_at, t.clock.now());
        // A stale copy cannot touch again within the interval.
        assert!(!s.touch_session(&s1, Duration::seconds(30)).await.unwrap());

        t.clock.advance(Duration::minutes(20));
        let stepped = s.mark_step_up(&ctx, s1.id).await.unwrap();
        assert_eq!(stepped.mfa_at, t.clock.now());
        assert_eq!(s.session(s1.id).await.unwrap().mfa_at, t.clock.now());

        let s2 = s.create_session(&ctx, &new_session(u.id, b"hash-2")).await.unwrap();
        let s3 = s.create_session(&ctx, &new_session(u.id, b"hash-3")).await.unwrap();
        let live: Vec<_> =
            s.live_sessions(Some(u.id)).await.unwrap().into_iter().map(|x| x.id).collect();
        assert_eq!(live.len(), 3);
        assert_eq!(s.live_sessions(None).await.unwrap().len(), 3);

        assert!(s.revoke_session(&ctx, s1.id, SessionEnd::Logout).await.unwrap());
        assert!(!s.revoke_session(&ctx, s1.id, SessionEnd::Logout).await.unwrap());
        let r = s.session(s1.id).await.unwrap();
        assert_eq!(r.revoke_reason, Some(SessionEnd::Logout));
        assert!(!r.is_live(t.clock.now()));
        assert!(matches!(s.mark_step_up(&ctx, s1.id).await, Err(StoreError::NotFound { .. })));

        let n = s
            .revoke_user_sessions(&admin_ctx(), u.id, SessionEnd::RevokedByAdmin, Some(s3.id))
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert!(s.session(s2.id).await.unwrap().revoked_at.is_some());
        assert!(s.session(s3.id).await.unwrap().is_live(t.clock.now()));

        // Expiry and purge.
        t.clock.advance(Duration::hours(13));
        assert!(s.live_sessions(None).await.unwrap().is_empty());
        assert_eq!(s.purge_sessions(t.clock.now()).await.unwrap(), 3);

        let kinds: Vec<_> = events(s).await.iter().map(AuditEvent::kind).collect();
        assert_eq!(
            kinds,
            [
                "user_created",
                "login_succeeded",
                "step_up_succeeded",
                "login_succeeded",
                "login_succeeded",
                "logout",
                "session_revoked"
            ],
            "{b:?}"
        );
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn challenges_are_single_use() {
    for t in each_backend().await {
        let s = &t.store;
        let u = s.create_user(&admin_ctx(), &new_user("erin", Role::Vendor), PHC).await.unwrap();
        let ctx = web_ctx("203.0.113.9");
        let before = head_seq(s).await;
        s.create_challenge(
            &ctx,
            NewChallenge {
                token_hash: b"ch-1".to_vec(),
                user: Some(u.id),
                kind: ChallengeKind::Enrol,
                pending_totp_secret: Some(SecretSlice::from(vec![7u8; 20])),
                expires_at: t.clock.now() + Duration::minutes(5),
            },
        )
        .await
        .unwrap();
        s.create_challenge(
            &ctx,
            NewChallenge {
                token_hash: b"ch-unknown".to_vec(),
                user: None,
                kind: ChallengeKind::Mfa,
                pending_totp_secret: None,
                expires_at: t.clock.now() + Duration::minutes(5),
            },
        )
        .await
        .unwrap();
        assert_eq!(head_seq(s).await, before, "challenges are not audited");
        let c = s.challenge(b"ch-1").await.unwrap().unwrap();
        assert_eq!((c.user, c.kind, c.attempts), (Some(u.id), ChallengeKind::Enrol, 0));
        assert_eq!(c.pending_totp_secret.unwrap().expose_secret(), &[7u8; 20]);
        assert_eq!(c.source, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(s.bump_challenge_attempts(b"ch-1").await.unwrap(), Some(1));
        assert_eq!(s.bump_challenge_attempts(b"ch-1").await.unwrap(), Some(2));
        assert_eq!(s.bump_challenge_attempts(b"nope").await.unwrap(), None);

        // Concurrent takers: exactly one gets it.
        let takes = join_all((0..16).map(|_| {
            let s = s.clone();
            async move { s.take_challenge(b"ch-1").await.unwrap() }
        }))
        .await;
        let won: Vec<_> = takes.into_iter().flatten().collect();
        assert_eq!(won.len(), 1, "{:?}", t.backend());
        assert_eq!(won[0].attempts, 2);
        assert!(s.challenge(b"ch-1").await.unwrap().is_none());

        let anon = s.challenge(b"ch-unknown").await.unwrap().unwrap();
        assert_eq!(anon.user, None);
        t.clock.advance(Duration::minutes(6));
        assert_eq!(s.purge_challenges().await.unwrap(), 1);
        assert!(s.challenge(b"ch-unknown").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn throttle_counts_every_failure() {
    for t in each_backend().await {
        let s = &t.store;
        assert_eq!(s.throttle_get("account:frank").await.unwrap(), None);
        let states = join_all((0..40).map(|_| {
            let s = s.clone();
            async move { s.throttle_record_failure("account:frank").await.unwrap() }
        }))
        .await;
        let mut counts: Vec<_> = states.iter().map(|st| st.failures).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=40).collect::<Vec<_>>(), "{:?}", t.backend());
        let st = s.throttle_get("account:frank").await.unwrap().unwrap();
        assert_eq!(st.failures, 40);
        assert_eq!(st.first_failure_at, Some(t.clock.now()));
        let blocked =
            ThrottleState { blocked_until: Some(t.clock.now() + Duration::minutes(15)), ..st };
        s.throttle_put("account:frank", &blocked).await.unwrap();
        assert_eq!(s.throttle_get("account:frank").await.unwrap(), Some(blocked));
        s.throttle_put("source:203.0.113.5", &ThrottleState::default()).await.unwrap();
        s.throttle_reset("account:frank").await.unwrap();
        assert_eq!(s.throttle_get("account:frank").await.unwrap(), None);
        assert_eq!(
            s.throttle_get("source:203.0.113.5").await.unwrap(),
            Some(ThrottleState::default())
        );
        assert!(matches!(s.throttle_get("").await, Err(StoreError::Invalid(_))));
        assert_eq!(head_seq(s).await, 0, "throttling is not audited");
    }
}

#[tokio::test]
async fn totp_step_is_accepted_once_even_under_races() {
    for t in each_backend().await {
        let s = &t.store;
        let u = s.create_user(&admin_ctx(), &new_user("gina", Role::Admin), PHC).await.unwrap();
        // Not enrolled: nothing to accept.
        assert!(!s.consume_totp_step(u.id, 100).await.unwrap());
        let codes = vec![vec![1u8; 32], vec![2u8; 32], vec![3u8; 32]];
        s.enrol_totp(&admin_ctx(), u.id, b"secret-secret-secret", 1000, &codes).await.unwrap();
        assert!(s.user(u.id).await.unwrap().mfa_enrolled);
        assert!(matches!(
            s.enrol_totp(&admin_ctx(), u.id, b"x", 1000, &[]).await,
            Err(StoreError::Invalid(_))
        ));
        // The enrolment code's step is spent.
        assert!(!s.consume_totp_step(u.id, 1000).await.unwrap());
        for _round in 0..3 {
            let step = 1001 + _round;
            let wins = join_all((0..24).map(|_| {
                let s = s.clone();
                async move { s.consume_totp_step(u.id, step).await.unwrap() }
            }))
            .await;
            assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{:?} step {step}", t.backend());
        }
        assert!(!s.consume_totp_step(u.id, 1001).await.unwrap(), "an earlier step is refused");
        let cred = s.credentials(u.id).await.unwrap();
        assert_eq!(cred.totp.as_ref().unwrap().last_step, Some(1003));
        assert_eq!(cred.totp.as_ref().unwrap().secret.expose_secret(), b"secret-secret-secret");
        assert_eq!(cred.recovery_codes_left, 3);
        assert_eq!(cred.password_phc.expose_secret(), PHC);
    }
}

#[tokio::test]
async fn recovery_codes_are_single_use_and_reset_mfa_clears_everything() {
    for t in each_backend().await {
        let s = &t.store;
        let u = s.create_user(&admin_ctx(), &new_user("hana", Role::Approver), PHC).await.unwrap();
        let codes = vec![vec![1u8; 32], vec![2u8; 32]];
        s.enrol_totp(&admin_ctx(), u.id, b"0123456789abcdefghij", 5, &codes).await.unwrap();
        let ctx = web_ctx("192.0.2.44");
        let results = join_all((0..8).map(|_| {
            let s = s.clone();
            let ctx = ctx.clone();
            async move { s.consume_recovery_code(&ctx, u.id, &[1u8; 32]).await.unwrap() }
        }))
        .await;
        let used: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(used, [1], "{:?}", t.backend());
        assert_eq!(s.consume_recovery_code(&ctx, u.id, &[9u8; 32]).await.unwrap(), None);
        assert_eq!(s.consume_recovery_code(&ctx, u.id, &[2u8; 32]).await.unwrap(), Some(0));
        s.replace_recovery_codes(&admin_ctx(), u.id, &[vec![5u8; 32]]).await.unwrap();
        assert_eq!(s.credentials(u.id).await.unwrap().recovery_codes_left, 1);

        let live = s.create_session(&ctx, &new_session(u.id, b"t-hana")).await.unwrap();
        s.reset_mfa(&admin_ctx(), u.id).await.unwrap();
        let cred = s.credentials(u.id).await.unwrap();
        assert!(cred.totp.is_none());
        assert_eq!(cred.recovery_codes_left, 0);
        assert!(!s.user(u.id).await.unwrap().mfa_enrolled);
        assert_eq!(s.session(live.id).await.unwrap().revoke_reason, Some(SessionEnd::MfaReset));
        // Enrolment works again after a reset.
        s.enrol_totp(&admin_ctx(), u.id, b"another-secret-bytes", 7, &[]).await.unwrap();

        s.set_password(&admin_ctx(), u.id, "$argon2id$new", None).await.unwrap();
        assert_eq!(
            s.credentials(u.id).await.unwrap().password_phc.expose_secret(),
            "$argon2id$new"
        );

        let kinds: Vec<_> = events(s).await.iter().map(AuditEvent::kind).collect();
        assert_eq!(
            kinds,
            [
                "user_created",
                "mfa_enrolled",
                "recovery_codes_regenerated",
                "recovery_code_used",
                "recovery_code_used",
                "recovery_codes_regenerated",
                "login_succeeded",
                "mfa_reset",
                "session_revoked",
                "mfa_enrolled",
                "password_changed"
            ],
            "{:?}",
            t.backend()
        );
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn setup_code_works_once() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let admin = new_user("root", Role::Admin);
        let cli = admin_ctx();
        assert!(!s.setup_pending().await.unwrap());
        assert!(matches!(
            s.complete_setup(&cli, b"code-hash", &admin, PHC).await,
            Err(StoreError::Invalid(e)) if e.reason == "not_pending"
        ));
        s.set_setup_code(&cli, b"code-hash").await.unwrap();
        assert!(s.setup_pending().await.unwrap());
        assert!(matches!(
            s.complete_setup(&cli, b"code-hasx", &admin, PHC).await,
            Err(StoreError::Invalid(e)) if e.reason == "mismatch"
        ));
        assert!(matches!(
            s.complete_setup(&cli, b"code-hash", &new_user("v", Role::Vendor), PHC).await,
            Err(StoreError::Invalid(e)) if e.field == "role"
        ));
        // Racing completions: exactly one admin is created.
        let results = join_all((0..8).map(|i| {
            let s = s.clone();
            let cli = cli.clone();
            async move {
                s.complete_setup(
                    &cli,
                    b"code-hash",
                    &new_user(&format!("root{i}"), Role::Admin),
                    PHC,
                )
                .await
            }
        }))
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{b:?}: {results:?}");
        assert!(results.iter().all(|r| match r {
            Ok(_) => true,
            Err(StoreError::Invalid(e)) => e.reason == "not_pending",
            Err(_) => false,
        }));
        assert!(!s.setup_pending().await.unwrap());
        assert!(matches!(
            s.set_setup_code(&cli, b"again").await,
            Err(StoreError::Invalid(e)) if e.reason == "admin_exists"
        ));
        let kinds: Vec<_> = events(s).await.iter().map(AuditEvent::kind).collect();
        assert_eq!(kinds, ["config_changed", "user_created", "setup_completed"], "{b:?}");
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn config_and_instance_metadata() {
    for t in each_backend().await {
        let s = &t.store;
        let cli = admin_ctx();
        assert_eq!(s.instance().await.unwrap(), None);
        let info = s.initialise_instance(&cli, "inst-1", &t.key.public_key()).await.unwrap();
        assert_eq!(info.public_key, t.key.public_key().to_hex());
        let again = s.initialise_instance(&cli, "inst-2", &t.key.public_key()).await.unwrap();
        assert_eq!(again.instance_id, "inst-1");
        assert_eq!(s.instance().await.unwrap(), Some(info));

        assert_eq!(s.config_get("session.idle_minutes").await.unwrap(), None);
        s.config_set(&cli, "session.idle_minutes", Some("60")).await.unwrap();
        s.config_set(&cli, "session.idle_minutes", Some("60")).await.unwrap();
        s.config_set(&cli, "session.idle_minutes", Some("30")).await.unwrap();
        assert_eq!(s.config_get("session.idle_minutes").await.unwrap().as_deref(), Some("30"));
        s.config_set(&cli, "session.idle_minutes", None).await.unwrap();
        assert_eq!(s.config_get("session.idle_minutes").await.unwrap(), None);
        assert!(matches!(
            s.config_set(&cli, "Bad Key", Some("x")).await,
            Err(StoreError::Invalid(_))
        ));

        let ev = events(s).await;
        assert_eq!(ev.len(), 4, "{:?}", t.backend());
        assert!(
            matches!(&ev[0], AuditEvent::InstanceInitialised { instance_id, .. } if instance_id == "inst-1")
        );
        assert_eq!(
            ev[2],
            AuditEvent::ConfigChanged {
                key: "session.idle_minutes".into(),
                old: Some("60".into()),
                new: Some("30".into())
            }
        );
    }
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let t = sekimori_test_support::sqlite().await;
    let s = &t.store;
    let u = s.create_user(&admin_ctx(), &new_user("ivan", Role::Admin), PHC).await.unwrap();
    s.enrol_totp(&admin_ctx(), u.id, b"CANARY-TOTP-SECRET", 1, &[]).await.unwrap();
    let cred = s.credentials(u.id).await.unwrap();
    let dbg = format!("{cred:?}");
    assert!(!dbg.contains("argon2id"), "{dbg}");
    assert!(!dbg.contains("67, 65, 78, 65, 82, 89"), "{dbg}"); // "CANARY" bytes
    let ns = new_session(u.id, b"CANARY-TOKEN-HASH");
    let dbg = format!("{ns:?}");
    assert!(!dbg.contains("67, 65, 78"), "{dbg}");
    let nc = NewChallenge {
        token_hash: b"CANARY".to_vec(),
        user: None,
        kind: ChallengeKind::Enrol,
        pending_totp_secret: Some(SecretSlice::from(b"CANARY".to_vec())),
        expires_at: t.clock.now(),
    };
    let dbg = format!("{nc:?}");
    assert!(!dbg.contains("67, 65, 78"), "{dbg}");
    let dbg = format!("{:?} {:?}", t.store, t.options());
    assert!(!dbg.contains("sqlite://"), "{dbg}");
    let _ = Arc::clone(&t.key);
}
