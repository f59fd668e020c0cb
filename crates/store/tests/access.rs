//! The access broker's repositories on every backend: the request state
//! machine and its audit records, tunnel credentials, the authorisation
//! snapshot, and tunnel session records.

mod common;

use std::net::SocketAddr;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use common::*;
use sekimori_audit::AuditEvent;
use sekimori_store::{
    AccessRepo, AssetRepo, AuditCtx, NewSession, NewTunnelSession, RequestFilter, SessionRepo,
    Store, StoreError, TunnelRecord, TunnelRepo, TunnelSessionEnd, TunnelSessionFilter, UserRepo,
};
use sekimori_test_support::{TestStore, each_backend, test_epoch};
use sekimori_types::{
    AccessRequest, AccessRequestId, AccessStatus, Asset, AssetId, Clock, CloseReason, Label,
    NewAccessRequest, RecordingInfo, RequestState, Role, SessionId, TunnelCredentialId,
    TunnelSessionId, User, UserId,
};

/// SHA-256 of 32 zero bytes.
const ZERO_KEY_SHA256: &str = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";

/// The people and the device most tests need.
struct World {
    vendor: User,
    other_vendor: User,
    approver: User,
    second_approver: User,
    admin: User,
    asset: Asset,
}

async fn world(s: &Store) -> World {
    let mk = |name: &'static str, role| async move {
        s.create_user(&admin_ctx(), &new_user(name, role), PHC).await.unwrap()
    };
    World {
        vendor: mk("vendor1", Role::Vendor).await,
        other_vendor: mk("vendor2", Role::Vendor).await,
        approver: mk("approver1", Role::Approver).await,
        second_approver: mk("approver2", Role::Approver).await,
        admin: mk("admin1", Role::Admin).await,
        asset: s.create_asset(&admin_ctx(), &asset_spec("CT-1")).await.unwrap(),
    }
}

fn ctx(u: &User) -> AuditCtx {
    AuditCtx::user(u.id, u.username.to_string(), None)
}

fn ask(asset: AssetId, start: Option<OffsetDateTime>, minutes: u32) -> NewAccessRequest {
    NewAccessRequest {
        asset,
        ports: vec![22],
        reason: "INC-1234 firmware update".into(),
        start,
        duration_minutes: minutes,
    }
}

fn rfc(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn assert_invalid<T: std::fmt::Debug>(
    r: Result<T, StoreError>,
    field: &str,
    reason: &str,
    b: sekimori_store::Backend,
) {
    match r {
        Err(StoreError::Invalid(v)) => {
            assert_eq!((v.field, v.reason), (field, reason), "{b:?}");
        }
        other => panic!("{b:?}: expected Invalid {field}/{reason}, got {other:?}"),
    }
}

/// The events appended since `from_seq` (exclusive).
async fn events_after(s: &Store, from_seq: u64) -> Vec<AuditEvent> {
    events(s).await.into_iter().skip(usize::try_from(from_seq).unwrap()).collect()
}

async fn request(
    t: &TestStore,
    w: &World,
    start: Option<OffsetDateTime>,
    minutes: u32,
) -> AccessRequest {
    t.store
        .create_request(&ctx(&w.vendor), &w.vendor, &ask(w.asset.id, start, minutes))
        .await
        .unwrap()
}

async fn approved(t: &TestStore, w: &World, minutes: u32) -> AccessRequest {
    let r = request(t, w, None, minutes).await;
    t.store.approve_request(&ctx(&w.approver), r.id, w.approver.id).await.unwrap()
}

fn new_session(user: UserId, token_hash: &[u8]) -> NewSession {
    NewSession {
        user,
        token_hash: token_hash.to_vec(),
        expires_at: test_epoch() + Duration::hours(12),
        mfa_method: "totp".into(),
        user_agent: None,
    }
}

fn new_tunnel(
    r: &AccessRequest,
    credential: TunnelCredentialId,
    recorded: bool,
) -> NewTunnelSession {
    NewTunnelSession {
        id: TunnelSessionId::new(),
        request: r.id,
        user: r.requester,
        credential,
        asset: r.asset,
        port: 22,
        client_addr: "203.0.113.9:50123".parse::<SocketAddr>().unwrap(),
        target_addr: "10.1.2.3:22".parse::<SocketAddr>().unwrap(),
        recorded,
    }
}

#[tokio::test]
async fn requests_are_checked_against_the_asset_and_audited() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let before = head_seq(s).await;

        let mut bad = ask(w.asset.id, None, 60);
        bad.ports = vec![23];
        assert_invalid(
            s.create_request(&ctx(&w.vendor), &w.vendor, &bad).await,
            "ports",
            "not_a_maintenance_port",
            b,
        );
        assert_invalid(
            s.create_request(&ctx(&w.vendor), &w.vendor, &ask(w.asset.id, None, 121)).await,
            "duration_minutes",
            "over_asset_ceiling",
            b,
        );
        let mut empty = ask(w.asset.id, None, 60);
        empty.reason = " ".into();
        assert_invalid(
            s.create_request(&ctx(&w.vendor), &w.vendor, &empty).await,
            "reason",
            "length",
            b,
        );
        let err = s
            .create_request(&ctx(&w.vendor), &w.vendor, &ask(AssetId::new(), None, 60))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "asset", .. }), "{b:?}: {err:?}");
        assert_eq!(head_seq(s).await, before, "{b:?}: refusals write nothing");

        let start = t.clock.now() + Duration::hours(2);
        let mut n = ask(w.asset.id, Some(start), 120);
        n.ports = vec![104, 22];
        n.reason = "  INC-77 replace detector  ".into();
        let r = s.create_request(&ctx(&w.vendor), &w.vendor, &n).await.unwrap();
        assert_eq!(s.request(r.id).await.unwrap(), r, "{b:?}");
        assert_eq!(r.state, RequestState::Pending);
        assert_eq!(r.requester, w.vendor.id);
        assert_eq!(r.requester_username, w.vendor.username);
        assert_eq!(r.company.as_ref().map(Label::as_str), Some("Acme Medical"));
        assert_eq!(r.asset_name.as_str(), "CT-1");
        assert_eq!(r.ports, [104, 22], "{b:?}: order kept");
        assert_eq!(r.reason, "INC-77 replace detector");
        assert_eq!(r.requested_start, Some(start));
        assert_eq!(r.approvals_required, 1);
        assert!(r.approvals.is_empty() && r.window_start.is_none() && r.window_end.is_none());
        assert_eq!((r.created_at, r.updated_at), (t.clock.now(), t.clock.now()));
        assert_eq!(r.status_at(t.clock.now()), AccessStatus::Pending);

        let ev = events_after(s, before).await;
        assert_eq!(ev.len(), 1, "{b:?}: {ev:?}");
        assert_eq!(
            ev[0],
            AuditEvent::AccessRequested {
                request: r.id,
                user: w.vendor.id,
                asset: w.asset.id,
                asset_name: "CT-1".into(),
                ports: vec![104, 22],
                start: Some(rfc(start)),
                duration_minutes: 120,
                reason: "INC-77 replace detector".into(),
            },
            "{b:?}"
        );
        assert!(matches!(
            s.request(AccessRequestId::new()).await,
            Err(StoreError::NotFound { what: "request", .. })
        ));
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn approval_opens_the_window_and_refuses_self_and_repeats() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let r = request(&t, &w, None, 60).await;
        t.clock.advance(Duration::minutes(5));
        let before = head_seq(s).await;

        assert_invalid(
            s.approve_request(&ctx(&w.vendor), r.id, w.vendor.id).await,
            "approver",
            "own_request",
            b,
        );
        let err = s.approve_request(&ctx(&w.admin), r.id, UserId::new()).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "user", .. }), "{b:?}: {err:?}");
        let err = s
            .approve_request(&ctx(&w.admin), AccessRequestId::new(), w.admin.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "request", .. }), "{b:?}: {err:?}");
        assert_eq!(head_seq(s).await, before);

        let now = t.clock.now();
        let a = s.approve_request(&ctx(&w.approver), r.id, w.approver.id).await.unwrap();
        assert_eq!(s.request(r.id).await.unwrap(), a, "{b:?}");
        assert_eq!(a.state, RequestState::Approved);
        assert_eq!(a.window_start, Some(now));
        assert_eq!(a.window_end, Some(now + Duration::minutes(60)));
        assert_eq!(a.updated_at, now);
        assert_eq!(a.approvals.len(), 1);
        assert_eq!(a.approvals[0].approver, w.approver.id);
        assert_eq!(a.approvals[0].approver_username, w.approver.username);
        assert_eq!(a.approvals[0].at, now);
        assert_eq!(a.status_at(now), AccessStatus::Active);
        assert!(a.allows(22, now));

        // Already a grant: no more approvals, by anyone.
        for who in [&w.approver, &w.second_approver] {
            assert_invalid(
                s.approve_request(&ctx(who), r.id, who.id).await,
                "state",
                "not_pending",
                b,
            );
        }

        let ev = events_after(s, before).await;
        assert_eq!(
            ev,
            [AuditEvent::AccessApproved {
                request: r.id,
                approver: w.approver.id,
                approvals: 1,
                required: 1,
                window_start: Some(rfc(now)),
                window_end: Some(rfc(now + Duration::minutes(60))),
            }],
            "{b:?}"
        );
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn two_person_rule_needs_two_distinct_approvers() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let mut spec = asset_spec("Infusion-1");
        spec.approvals_required = 2;
        let asset = s.create_asset(&admin_ctx(), &spec).await.unwrap();
        let start = t.clock.now() + Duration::hours(1);
        let r = s
            .create_request(&ctx(&w.vendor), &w.vendor, &ask(asset.id, Some(start), 30))
            .await
            .unwrap();
        assert_eq!(r.approvals_required, 2, "{b:?}: copied from the asset");
        let before = head_seq(s).await;

        t.clock.advance(Duration::minutes(1));
        let first = s.approve_request(&ctx(&w.approver), r.id, w.approver.id).await.unwrap();
        assert_eq!(first.state, RequestState::Pending, "{b:?}");
        assert_eq!(first.approvals.len(), 1);
        assert!(first.window_start.is_none());
        assert_eq!(first.updated_at, t.clock.now());

        let err = s.approve_request(&ctx(&w.approver), r.id, w.approver.id).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { what: "approval", field: "approver" }),
            "{b:?}: {err:?}"
        );
        assert_invalid(
            s.approve_request(&ctx(&w.vendor), r.id, w.vendor.id).await,
            "approver",
            "own_request",
            b,
        );

        // Changing the asset later does not change what the request needs.
        spec.approvals_required = 1;
        s.update_asset(&admin_ctx(), asset.id, &spec).await.unwrap();

        t.clock.advance(Duration::minutes(1));
        let second =
            s.approve_request(&ctx(&w.second_approver), r.id, w.second_approver.id).await.unwrap();
        assert_eq!(second.state, RequestState::Approved, "{b:?}");
        assert_eq!(second.approvals.len(), 2);
        let approvers: Vec<_> = second.approvals.iter().map(|a| a.approver).collect();
        assert_eq!(approvers, [w.approver.id, w.second_approver.id], "{b:?}: oldest first");
        // Requested start still ahead: the window starts there.
        assert_eq!(second.window_start, Some(start));
        assert_eq!(second.window_end, Some(start + Duration::minutes(30)));
        assert_eq!(second.status_at(t.clock.now()), AccessStatus::Scheduled);
        assert_eq!(s.request(r.id).await.unwrap(), second);

        let ev = events_after(s, before).await;
        assert_eq!(ev.len(), 3, "{b:?}: {ev:?}");
        assert_eq!(
            ev[0],
            AuditEvent::AccessApproved {
                request: r.id,
                approver: w.approver.id,
                approvals: 1,
                required: 2,
                window_start: None,
                window_end: None,
            }
        );
        assert!(matches!(ev[1], AuditEvent::AssetUpdated { .. }));
        assert_eq!(
            ev[2],
            AuditEvent::AccessApproved {
                request: r.id,
                approver: w.second_approver.id,
                approvals: 2,
                required: 2,
                window_start: Some(rfc(start)),
                window_end: Some(rfc(start + Duration::minutes(30))),
            }
        );
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn deny_cancel_and_revoke_follow_the_state_machine() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let (appr, vend, admin) = (ctx(&w.approver), ctx(&w.vendor), ctx(&w.admin));

        // Denied: final.
        let r1 = request(&t, &w, None, 60).await;
        let before = head_seq(s).await;
        t.clock.advance(Duration::minutes(1));
        let d = s.deny_request(&appr, r1.id, w.approver.id, Some("  no ticket \n")).await.unwrap();
        assert_eq!(d.state, RequestState::Denied);
        assert_eq!(d.decided_by, Some(w.approver.id));
        assert_eq!(d.decision_note.as_deref(), Some("no ticket"));
        assert_eq!(d.updated_at, t.clock.now());
        assert_eq!(s.request(r1.id).await.unwrap(), d, "{b:?}");
        assert_invalid(
            s.deny_request(&appr, r1.id, w.approver.id, None).await,
            "state",
            "not_pending",
            b,
        );
        assert_invalid(
            s.approve_request(&appr, r1.id, w.approver.id).await,
            "state",
            "not_pending",
            b,
        );
        assert_invalid(s.cancel_request(&vend, r1.id, w.vendor.id).await, "state", "final", b);
        assert_invalid(
            s.revoke_request(&admin, r1.id, w.admin.id, None).await,
            "state",
            "not_approved",
            b,
        );
        assert_invalid(
            s.deny_request(&appr, r1.id, w.approver.id, Some("bad\u{7}")).await,
            "note",
            "control_characters",
            b,
        );
        assert_eq!(
            events_after(s, before).await,
            [AuditEvent::AccessDenied {
                request: r1.id,
                by: w.approver.id,
                note: Some("no ticket".into())
            }],
            "{b:?}"
        );

        // Pending, cancelled by the requester: final.
        let r2 = request(&t, &w, None, 60).await;
        assert_invalid(
            s.revoke_request(&admin, r2.id, w.admin.id, None).await,
            "state",
            "not_approved",
            b,
        );
        let before = head_seq(s).await;
        let c = s.cancel_request(&vend, r2.id, w.vendor.id).await.unwrap();
        assert_eq!(
            (c.state, c.decided_by, c.decision_note.clone()),
            (RequestState::Cancelled, Some(w.vendor.id), None)
        );
        assert_invalid(s.cancel_request(&vend, r2.id, w.vendor.id).await, "state", "final", b);
        assert_invalid(
            s.approve_request(&appr, r2.id, w.approver.id).await,
            "state",
            "not_pending",
            b,
        );
        assert_eq!(
            events_after(s, before).await,
            [AuditEvent::AccessCancelled { request: r2.id, by: w.vendor.id }]
        );

        // Active grant, revoked: final.
        let r3 = approved(&t, &w, 60).await;
        let before = head_seq(s).await;
        let v = s.revoke_request(&admin, r3.id, w.admin.id, Some("device in use")).await.unwrap();
        assert_eq!(v.state, RequestState::Revoked);
        assert_eq!(v.status_at(t.clock.now()), AccessStatus::Revoked);
        assert_eq!(v.decided_by, Some(w.admin.id));
        assert_eq!(v.decision_note.as_deref(), Some("device in use"));
        assert_eq!(v.window_end, r3.window_end, "{b:?}: the window is kept as history");
        assert_invalid(
            s.revoke_request(&admin, r3.id, w.admin.id, None).await,
            "state",
            "not_approved",
            b,
        );
        assert_invalid(s.cancel_request(&vend, r3.id, w.vendor.id).await, "state", "final", b);
        assert_eq!(
            events_after(s, before).await,
            [AuditEvent::AccessRevoked {
                request: r3.id,
                by: w.admin.id,
                note: Some("device in use".into())
            }]
        );

        // A scheduled grant can be cancelled by its requester.
        let r4 = request(&t, &w, Some(t.clock.now() + Duration::hours(3)), 60).await;
        let r4 = s.approve_request(&appr, r4.id, w.approver.id).await.unwrap();
        assert_eq!(r4.status_at(t.clock.now()), AccessStatus::Scheduled);
        let c4 = s.cancel_request(&vend, r4.id, w.vendor.id).await.unwrap();
        assert_eq!(c4.state, RequestState::Cancelled, "{b:?}");

        // A grant whose window ended can be neither revoked nor cancelled,
        // nor can a pending request whose requested window passed be decided.
        let r5 = approved(&t, &w, 30).await;
        let r6 = request(&t, &w, Some(t.clock.now()), 10).await;
        t.clock.advance(Duration::minutes(30));
        let before = head_seq(s).await;
        assert_invalid(
            s.revoke_request(&admin, r5.id, w.admin.id, None).await,
            "state",
            "not_approved",
            b,
        );
        assert_invalid(s.cancel_request(&vend, r5.id, w.vendor.id).await, "state", "final", b);
        assert_invalid(
            s.approve_request(&appr, r6.id, w.approver.id).await,
            "state",
            "not_pending",
            b,
        );
        assert_invalid(
            s.deny_request(&appr, r6.id, w.approver.id, None).await,
            "state",
            "not_pending",
            b,
        );
        assert_invalid(s.cancel_request(&vend, r6.id, w.vendor.id).await, "state", "final", b);
        assert_eq!(head_seq(s).await, before, "{b:?}: refusals write nothing");
        assert_eq!(s.request(r6.id).await.unwrap().state, RequestState::Pending);
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn expiry_marks_passed_windows_and_audits_each() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let now = t.clock.now();
        let grant_over = approved(&t, &w, 30).await;
        let grant_on = approved(&t, &w, 120).await;
        let pending_over = request(&t, &w, Some(now), 30).await;
        let pending_open = request(&t, &w, None, 30).await;
        let pending_later = request(&t, &w, Some(now + Duration::hours(1)), 30).await;
        let denied = request(&t, &w, Some(now), 10).await;
        s.deny_request(&ctx(&w.approver), denied.id, w.approver.id, None).await.unwrap();

        t.clock.advance(Duration::minutes(29));
        assert!(s.expire_requests(&AuditCtx::system()).await.unwrap().is_empty(), "{b:?}");

        // Exactly at the end of the windows.
        t.clock.advance(Duration::minutes(1));
        let before = head_seq(s).await;
        let mut ids = s.expire_requests(&AuditCtx::system()).await.unwrap();
        ids.sort();
        let mut want = vec![grant_over.id, pending_over.id];
        want.sort();
        assert_eq!(ids, want, "{b:?}");
        for id in &want {
            let r = s.request(*id).await.unwrap();
            assert_eq!(r.state, RequestState::Expired, "{b:?}");
            assert_eq!(r.updated_at, t.clock.now());
            assert_eq!(r.decided_by, None);
        }
        for r in [&grant_on, &pending_open, &pending_later] {
            assert_eq!(s.request(r.id).await.unwrap().state, r.state, "{b:?}");
        }
        let expired_id = |e: &AuditEvent| match e {
            AuditEvent::AccessExpired { request, .. } => Some(*request),
            _ => None,
        };
        let mut ev = events_after(s, before).await;
        ev.sort_by_key(expired_id);
        let mut expect = vec![
            AuditEvent::AccessExpired { request: grant_over.id, from: "approved".into() },
            AuditEvent::AccessExpired { request: pending_over.id, from: "pending".into() },
        ];
        expect.sort_by_key(expired_id);
        assert_eq!(ev, expect, "{b:?}");

        // Nothing left to do: no writes.
        let before = head_seq(s).await;
        assert!(s.expire_requests(&AuditCtx::system()).await.unwrap().is_empty());
        assert_eq!(head_seq(s).await, before);
        assert_invalid(
            s.approve_request(&ctx(&w.approver), pending_over.id, w.approver.id).await,
            "state",
            "not_pending",
            b,
        );
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn tunnel_credentials_are_bound_to_live_sessions() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let vend = ctx(&w.vendor);
        let session = s.create_session(&vend, &new_session(w.vendor.id, b"tok-v")).await.unwrap();
        let key = [0u8; 32];
        let before = head_seq(s).await;

        assert_invalid(
            s.create_tunnel_credential(
                &vend,
                w.vendor.id,
                session.id,
                &key[..31],
                session.expires_at,
            )
            .await,
            "public_key",
            "length",
            b,
        );
        let far = t.clock.now() + Duration::days(30);
        for (user, sess) in [(w.vendor.id, SessionId::new()), (w.other_vendor.id, session.id)] {
            let err = s.create_tunnel_credential(&vend, user, sess, &key, far).await.unwrap_err();
            assert!(matches!(err, StoreError::NotFound { what: "session", .. }), "{b:?}: {err:?}");
        }
        assert_invalid(
            s.create_tunnel_credential(&vend, w.vendor.id, session.id, &key, t.clock.now()).await,
            "expires_at",
            "in_past",
            b,
        );
        assert_eq!(head_seq(s).await, before, "{b:?}");

        // Clamped to the session's absolute expiry.
        let c =
            s.create_tunnel_credential(&vend, w.vendor.id, session.id, &key, far).await.unwrap();
        assert_eq!(c.expires_at, session.expires_at, "{b:?}");
        assert_eq!((c.user, c.session, c.created_at), (w.vendor.id, session.id, t.clock.now()));
        assert_eq!(c.public_key, key);
        let soon = t.clock.now() + Duration::hours(1);
        let c2 =
            s.create_tunnel_credential(&vend, w.vendor.id, session.id, &key, soon).await.unwrap();
        assert_eq!(c2.expires_at, soon);
        let ev = events_after(s, before).await;
        assert_eq!(
            ev[0],
            AuditEvent::TunnelCredentialIssued {
                credential: c.id,
                user: w.vendor.id,
                session: session.id,
                expires_at: rfc(session.expires_at),
                key_sha256: ZERO_KEY_SHA256.into(),
            },
            "{b:?}"
        );
        assert_eq!(ev.len(), 2);
        let authz = s.tunnel_authz(c.id, None).await.unwrap();
        assert_eq!(authz.credential, Some(c));

        // A revoked or expired session registers nothing.
        let revoked = s.create_session(&vend, &new_session(w.vendor.id, b"tok-r")).await.unwrap();
        s.revoke_session(&vend, revoked.id, sekimori_audit::SessionEnd::Logout).await.unwrap();
        let err = s
            .create_tunnel_credential(&vend, w.vendor.id, revoked.id, &key, far)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "session", .. }), "{b:?}: {err:?}");
        t.clock.advance(Duration::hours(12));
        let err = s
            .create_tunnel_credential(&vend, w.vendor.id, session.id, &key, far)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "session", .. }), "{b:?}: {err:?}");
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn tunnel_authz_reads_each_piece_or_none() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let vend = ctx(&w.vendor);
        let session = s.create_session(&vend, &new_session(w.vendor.id, b"tok-v")).await.unwrap();
        let far = t.clock.now() + Duration::days(1);
        let cred = s
            .create_tunnel_credential(&vend, w.vendor.id, session.id, &[7u8; 32], far)
            .await
            .unwrap();
        let grant = approved(&t, &w, 60).await;

        let a = s.tunnel_authz(cred.id, Some(grant.id)).await.unwrap();
        assert_eq!(a.credential.as_ref(), Some(&cred), "{b:?}");
        assert_eq!(a.session.as_ref(), Some(&s.session(session.id).await.unwrap()));
        assert_eq!(a.user.as_ref(), Some(&s.user(w.vendor.id).await.unwrap()));
        assert_eq!(a.request.as_ref(), Some(&grant));
        assert_eq!(a.asset.as_ref(), Some(&s.asset(w.asset.id).await.unwrap()));
        assert!(a.request.as_ref().unwrap().allows(22, t.clock.now()));

        let a = s.tunnel_authz(cred.id, None).await.unwrap();
        assert!(a.credential.is_some() && a.session.is_some() && a.user.is_some());
        assert!(a.request.is_none() && a.asset.is_none(), "{b:?}");

        let a = s.tunnel_authz(TunnelCredentialId::new(), Some(grant.id)).await.unwrap();
        assert!(a.credential.is_none() && a.session.is_none() && a.user.is_none(), "{b:?}");
        assert_eq!(a.request.as_ref(), Some(&grant));
        assert!(a.asset.is_some());

        let a = s.tunnel_authz(cred.id, Some(AccessRequestId::new())).await.unwrap();
        assert!(a.request.is_none() && a.asset.is_none(), "{b:?}");

        // The asset goes; the grant stays, naming it.
        s.delete_asset(&admin_ctx(), w.asset.id).await.unwrap();
        let a = s.tunnel_authz(cred.id, Some(grant.id)).await.unwrap();
        assert_eq!(a.request.as_ref(), Some(&grant), "{b:?}");
        assert!(a.asset.is_none());

        // A revoked session is seen as revoked; purged, its credentials go too.
        s.revoke_session(&vend, session.id, sekimori_audit::SessionEnd::Logout).await.unwrap();
        let a = s.tunnel_authz(cred.id, None).await.unwrap();
        assert!(a.session.unwrap().revoked_at.is_some(), "{b:?}");
        t.clock.advance(Duration::minutes(1));
        s.purge_sessions(t.clock.now()).await.unwrap();
        let a = s.tunnel_authz(cred.id, None).await.unwrap();
        assert!(a.credential.is_none() && a.session.is_none(), "{b:?}");
    }
}

#[tokio::test]
async fn tunnel_sessions_open_and_close_once() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let gw = AuditCtx::system();
        let grant = approved(&t, &w, 60).await;
        let cred = TunnelCredentialId::new();
        let before = head_seq(s).await;

        // Refusals: unknown grant, someone else's, another asset, port 0.
        let mut n = new_tunnel(&grant, cred, true);
        n.request = AccessRequestId::new();
        let err = s.open_tunnel_session(&gw, &n).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "request", .. }), "{b:?}: {err:?}");
        let mut n = new_tunnel(&grant, cred, true);
        n.user = w.other_vendor.id;
        assert_invalid(s.open_tunnel_session(&gw, &n).await, "user", "mismatch", b);
        let mut n = new_tunnel(&grant, cred, true);
        n.asset = AssetId::new();
        assert_invalid(s.open_tunnel_session(&gw, &n).await, "asset", "mismatch", b);
        let mut n = new_tunnel(&grant, cred, true);
        n.port = 0;
        assert_invalid(s.open_tunnel_session(&gw, &n).await, "port", "out_of_range", b);
        assert_eq!(head_seq(s).await, before, "{b:?}");

        let n = new_tunnel(&grant, cred, true);
        let open = s.open_tunnel_session(&gw, &n).await.unwrap();
        assert_eq!(s.tunnel_session(n.id).await.unwrap(), open, "{b:?}");
        assert_eq!(open.username, w.vendor.username);
        assert_eq!(open.company.as_ref().map(Label::as_str), Some("Acme Medical"));
        assert_eq!(open.asset_name.as_str(), "CT-1");
        assert_eq!(open.started_at, t.clock.now());
        assert!(open.ended_at.is_none() && open.close_reason.is_none() && open.recording.is_none());
        assert!(open.recorded);
        let err = s.open_tunnel_session(&gw, &n).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { what: "tunnel_session", field: "id" }),
            "{b:?}: {err:?}"
        );

        // Renaming the asset later leaves the record as it was.
        let mut spec = asset_spec("CT-1b");
        spec.record_sessions = false;
        s.update_asset(&admin_ctx(), w.asset.id, &spec).await.unwrap();
        let plain = s.open_tunnel_session(&gw, &new_tunnel(&grant, cred, false)).await.unwrap();
        assert_eq!(plain.asset_name.as_str(), "CT-1b");
        assert_eq!(s.tunnel_session(n.id).await.unwrap().asset_name.as_str(), "CT-1");

        t.clock.advance(Duration::minutes(7));
        let rec = RecordingInfo {
            file: format!("{}.rec", n.id),
            file_bytes: 4096,
            sha256: "ab".repeat(32),
            recorded_bytes: 3000,
            truncated: true,
        };
        let end = TunnelSessionEnd {
            bytes_up: 1000,
            bytes_down: 2000,
            reason: CloseReason::Client,
            recording: Some(rec.clone()),
        };
        let closed = s.close_tunnel_session(&gw, n.id, &end).await.unwrap();
        assert_eq!(s.tunnel_session(n.id).await.unwrap(), closed, "{b:?}");
        assert_eq!(closed.ended_at, Some(t.clock.now()));
        assert_eq!((closed.bytes_up, closed.bytes_down), (1000, 2000));
        assert_eq!(closed.close_reason, Some(CloseReason::Client));
        assert_eq!(closed.recording, Some(rec));
        assert_invalid(s.close_tunnel_session(&gw, n.id, &end).await, "state", "ended", b);
        let err = s.close_tunnel_session(&gw, TunnelSessionId::new(), &end).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "tunnel_session", .. }), "{b:?}");

        let plain_end = TunnelSessionEnd {
            bytes_up: 1,
            bytes_down: 0,
            reason: CloseReason::Revoked,
            recording: None,
        };
        let plain = s.close_tunnel_session(&gw, plain.id, &plain_end).await.unwrap();
        assert_eq!(s.tunnel_session(plain.id).await.unwrap(), plain);

        let ev: Vec<_> = events_after(s, before)
            .await
            .into_iter()
            .filter(|e| !matches!(e, AuditEvent::AssetUpdated { .. }))
            .collect();
        assert_eq!(
            ev,
            [
                AuditEvent::TunnelOpened {
                    tunnel_session: n.id,
                    request: grant.id,
                    user: w.vendor.id,
                    asset: w.asset.id,
                    port: 22,
                    client: "203.0.113.9:50123".into(),
                    target: "10.1.2.3:22".into(),
                    recorded: true,
                },
                AuditEvent::TunnelOpened {
                    tunnel_session: plain.id,
                    request: grant.id,
                    user: w.vendor.id,
                    asset: w.asset.id,
                    port: 22,
                    client: "203.0.113.9:50123".into(),
                    target: "10.1.2.3:22".into(),
                    recorded: false,
                },
                AuditEvent::TunnelClosed {
                    tunnel_session: n.id,
                    request: grant.id,
                    bytes_up: 1000,
                    bytes_down: 2000,
                    reason: CloseReason::Client,
                    recording_sha256: Some("ab".repeat(32)),
                    recorded_bytes: Some(3000),
                    recording_truncated: Some(true),
                },
                AuditEvent::TunnelClosed {
                    tunnel_session: plain.id,
                    request: grant.id,
                    bytes_up: 1,
                    bytes_down: 0,
                    reason: CloseReason::Revoked,
                    recording_sha256: None,
                    recorded_bytes: None,
                    recording_truncated: None,
                },
            ],
            "{b:?}"
        );
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn tunnel_records_written_together_fail_alone_and_keep_their_order() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let gw = AuditCtx::system();
        let grant = approved(&t, &w, 60).await;
        let cred = TunnelCredentialId::new();
        let earlier = s.open_tunnel_session(&gw, &new_tunnel(&grant, cred, false)).await.unwrap();
        let before = head_seq(s).await;
        let t0 = t.clock.now();
        let at = |secs: i64| t0 + Duration::seconds(secs);
        let end = |up: u64, reason: CloseReason| TunnelSessionEnd {
            bytes_up: up,
            bytes_down: 2 * up,
            reason,
            recording: None,
        };

        let opened = new_tunnel(&grant, cred, false);
        let whole = new_tunnel(&grant, cred, true);
        let backwards = new_tunnel(&grant, cred, false);
        let mut stranger = new_tunnel(&grant, cred, false);
        stranger.user = w.other_vendor.id;
        let rec = RecordingInfo {
            file: format!("{}.rec", whole.id),
            file_bytes: 100,
            sha256: "cd".repeat(32),
            recorded_bytes: 30,
            truncated: false,
        };
        let whole_end =
            TunnelSessionEnd { recording: Some(rec.clone()), ..end(10, CloseReason::Target) };
        let records = vec![
            TunnelRecord::Opened { new: opened.clone(), at: at(1) },
            TunnelRecord::Ended { id: earlier.id, end: end(5, CloseReason::Client), at: at(2) },
            TunnelRecord::OpenedAndEnded {
                new: whole.clone(),
                opened_at: at(3),
                end: whole_end.clone(),
                ended_at: at(4),
            },
            // Each of these fails alone, and writes nothing.
            TunnelRecord::Ended {
                id: TunnelSessionId::new(),
                end: end(1, CloseReason::Client),
                at: at(5),
            },
            TunnelRecord::Opened { new: stranger.clone(), at: at(5) },
            TunnelRecord::Ended { id: earlier.id, end: end(7, CloseReason::Killed), at: at(6) },
            // An end stamped before its start is clamped to the start.
            TunnelRecord::OpenedAndEnded {
                new: backwards.clone(),
                opened_at: at(8),
                end: end(0, CloseReason::Revoked),
                ended_at: at(7),
            },
        ];
        let results = s.record_tunnel_sessions(&gw, records).await.unwrap();
        assert_eq!(results.len(), 7, "{b:?}");
        assert!(
            results[0].is_ok() && results[1].is_ok() && results[2].is_ok(),
            "{b:?}: {results:?}"
        );
        assert!(
            matches!(&results[3], Err(StoreError::NotFound { what: "tunnel_session", .. })),
            "{b:?}: {results:?}"
        );
        assert!(
            matches!(&results[4], Err(StoreError::Invalid(v)) if (v.field, v.reason) == ("user", "mismatch")),
            "{b:?}: {results:?}"
        );
        assert!(
            matches!(&results[5], Err(StoreError::Invalid(v)) if (v.field, v.reason) == ("state", "ended")),
            "{b:?}: {results:?}"
        );
        assert!(results[6].is_ok(), "{b:?}: {results:?}");

        let o = s.tunnel_session(opened.id).await.unwrap();
        assert_eq!((o.started_at, o.ended_at, o.close_reason), (at(1), None, None), "{b:?}");
        assert_eq!(o.username, w.vendor.username);
        assert_eq!(o.asset_name.as_str(), "CT-1");
        let e = s.tunnel_session(earlier.id).await.unwrap();
        assert_eq!((e.ended_at, e.bytes_up, e.bytes_down), (Some(at(2)), 5, 10), "{b:?}");
        assert_eq!(e.close_reason, Some(CloseReason::Client), "{b:?}");
        let h = s.tunnel_session(whole.id).await.unwrap();
        assert_eq!((h.started_at, h.ended_at), (at(3), Some(at(4))), "{b:?}");
        assert_eq!((h.bytes_up, h.bytes_down, h.close_reason), (10, 20, Some(CloseReason::Target)));
        assert_eq!((h.recorded, h.recording), (true, Some(rec)), "{b:?}");
        let k = s.tunnel_session(backwards.id).await.unwrap();
        assert_eq!((k.started_at, k.ended_at), (at(8), Some(at(8))), "{b:?}");
        assert!(matches!(s.tunnel_session(stranger.id).await, Err(StoreError::NotFound { .. })));

        // Audited in the order of the records, a whole one opened first.
        let kinds: Vec<_> = events_after(s, before)
            .await
            .into_iter()
            .map(|e| match e {
                AuditEvent::TunnelOpened { tunnel_session, .. } => ("opened", tunnel_session),
                AuditEvent::TunnelClosed { tunnel_session, request, .. } => {
                    assert_eq!(request, grant.id, "{b:?}");
                    ("closed", tunnel_session)
                }
                other => panic!("{b:?}: unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("opened", opened.id),
                ("closed", earlier.id),
                ("opened", whole.id),
                ("closed", whole.id),
                ("opened", backwards.id),
                ("closed", backwards.id),
            ],
            "{b:?}"
        );
        assert_eq!(s.record_tunnel_sessions(&gw, Vec::new()).await.unwrap().len(), 0);
        assert_verifies(&t).await;
    }
}

#[tokio::test]
async fn lists_filter_and_put_the_newest_first() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let w = world(s).await;
        let other_asset = s.create_asset(&admin_ctx(), &asset_spec("MRI-2")).await.unwrap();
        let mut made = Vec::new();
        for i in 0..6 {
            t.clock.advance(Duration::seconds(1));
            let (who, asset) = match i % 3 {
                0 => (&w.vendor, w.asset.id),
                1 => (&w.vendor, other_asset.id),
                _ => (&w.other_vendor, w.asset.id),
            };
            made.push(s.create_request(&ctx(who), who, &ask(asset, None, 30)).await.unwrap());
        }
        let granted =
            s.approve_request(&ctx(&w.approver), made[0].id, w.approver.id).await.unwrap();
        s.deny_request(&ctx(&w.approver), made[1].id, w.approver.id, None).await.unwrap();
        made[0] = granted;

        let ids = |v: Vec<AccessRequest>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let newest_first = |pick: &dyn Fn(usize) -> bool| {
            (0..6).rev().filter(|i| pick(*i)).map(|i| made[i].id).collect::<Vec<_>>()
        };
        let all = s.list_requests(&RequestFilter::default()).await.unwrap();
        assert_eq!(ids(all.clone()), newest_first(&|_| true), "{b:?}");
        assert_eq!(all[5], made[0], "{b:?}: approvals come with the list");
        let mine = RequestFilter { requester: Some(w.vendor.id), ..RequestFilter::default() };
        assert_eq!(
            ids(s.list_requests(&mine).await.unwrap()),
            newest_first(&|i| i % 3 != 2),
            "{b:?}"
        );
        let on_ct = RequestFilter {
            requester: Some(w.vendor.id),
            asset: Some(w.asset.id),
            ..RequestFilter::default()
        };
        assert_eq!(ids(s.list_requests(&on_ct).await.unwrap()), [made[3].id, made[0].id]);
        let open = RequestFilter {
            states: vec![RequestState::Pending, RequestState::Approved],
            ..RequestFilter::default()
        };
        assert_eq!(ids(s.list_requests(&open).await.unwrap()), newest_first(&|i| i != 1));
        let denied =
            RequestFilter { states: vec![RequestState::Denied], ..RequestFilter::default() };
        assert_eq!(ids(s.list_requests(&denied).await.unwrap()), [made[1].id]);
        let two = RequestFilter { limit: 2, ..RequestFilter::default() };
        assert_eq!(ids(s.list_requests(&two).await.unwrap()), [made[5].id, made[4].id]);

        // Tunnel sessions: two on one grant (one ended), one on another.
        let other_grant =
            s.approve_request(&ctx(&w.approver), made[2].id, w.approver.id).await.unwrap();
        let gw = AuditCtx::system();
        let cred = TunnelCredentialId::new();
        let mut opened = Vec::new();
        for g in [&made[0], &made[0], &other_grant] {
            t.clock.advance(Duration::seconds(1));
            opened.push(s.open_tunnel_session(&gw, &new_tunnel(g, cred, false)).await.unwrap().id);
        }
        let end = TunnelSessionEnd {
            bytes_up: 0,
            bytes_down: 0,
            reason: CloseReason::Target,
            recording: None,
        };
        s.close_tunnel_session(&gw, opened[0], &end).await.unwrap();
        let tids = |f: TunnelSessionFilter| async move {
            s.list_tunnel_sessions(&f).await.unwrap().into_iter().map(|x| x.id).collect::<Vec<_>>()
        };
        assert_eq!(
            tids(TunnelSessionFilter::default()).await,
            [opened[2], opened[1], opened[0]],
            "{b:?}"
        );
        let live = TunnelSessionFilter { live_only: true, ..TunnelSessionFilter::default() };
        assert_eq!(tids(live).await, [opened[2], opened[1]], "{b:?}");
        let by_user =
            TunnelSessionFilter { user: Some(w.vendor.id), ..TunnelSessionFilter::default() };
        assert_eq!(tids(by_user).await, [opened[1], opened[0]]);
        let by_grant = TunnelSessionFilter {
            request: Some(made[0].id),
            live_only: true,
            ..TunnelSessionFilter::default()
        };
        assert_eq!(tids(by_grant).await, [opened[1]]);
        let one = TunnelSessionFilter { limit: 1, ..TunnelSessionFilter::default() };
        assert_eq!(tids(one).await, [opened[2]]);
    }
}

#[tokio::test]
async fn asset_broker_settings_round_trip_and_are_named_when_changed() {
    for t in each_backend().await {
        let (s, b) = (&t.store, t.backend());
        let a = s.create_asset(&admin_ctx(), &asset_spec("Pump-3")).await.unwrap();
        assert!(a.record_sessions && a.approvals_required == 1 && a.approver_department.is_none());
        let mut spec = asset_spec("Pump-3");
        spec.record_sessions = false;
        spec.approvals_required = 2;
        spec.approver_department = Some(Label::parse("d", "IT").unwrap());
        let before = head_seq(s).await;
        let u = s.update_asset(&admin_ctx(), a.id, &spec).await.unwrap();
        assert_eq!(s.asset(a.id).await.unwrap(), u, "{b:?}");
        assert!(!u.record_sessions && u.approvals_required == 2);
        assert_eq!(u.approver_department.as_ref().map(Label::as_str), Some("IT"));
        assert_eq!(s.list_assets().await.unwrap(), vec![u]);
        let ev = events_after(s, before).await;
        assert!(
            matches!(&ev[..], [AuditEvent::AssetUpdated { changes, .. }]
                if changes == &["record_sessions", "approvals_required", "approver_department"]),
            "{b:?}: {ev:?}"
        );
        spec.approvals_required = 3;
        assert_invalid(
            s.update_asset(&admin_ctx(), a.id, &spec).await,
            "approvals_required",
            "out_of_range",
            b,
        );
    }
}
