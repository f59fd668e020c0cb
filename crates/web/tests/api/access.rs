use serde_json::json;

use crate::common::*;
use crate::malformed::tunnel_session;

#[tokio::test]
async fn access_roles_as_documented() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let at = Some(admin.token.as_str());
        // Approvers: one of clinical engineering, one of IT.
        let mk = |u: &'static str, role: &'static str, dept: Option<&'static str>| {
            let api = &api;
            let t = admin.token.clone();
            async move {
                let mut body = json!({"username": u, "role": role, "password": USER_PASSWORD});
                if role == "vendor" {
                    body["company"] = json!("Acme Medical");
                }
                if let Some(d) = dept {
                    body["department"] = json!(d);
                }
                api.post("/api/v1/users", body, Some(&t)).await.expect(201, u);
                api.first_login(u, USER_PASSWORD).await
            }
        };
        let ce = mk("ce1", "approver", Some("Clinical Engineering")).await;
        let ce2 = mk("ce2", "approver", Some("clinical engineering")).await;
        let it = mk("it1", "approver", Some("IT")).await;
        let aud = mk("aud1", "auditor", None).await;
        let v1 = mk("v1", "vendor", None).await;
        let v2 = mk("v2", "vendor", None).await;
        let other_co = {
            let body = json!({"username": "x1", "role": "vendor", "company": "Other Devices KK", "password": USER_PASSWORD});
            api.post("/api/v1/users", body, at).await.expect(201, "x1");
            api.first_login("x1", USER_PASSWORD).await
        };
        let a = api.post("/api/v1/assets", json!({"name": "ct-1", "criticality": "high", "max_session_minutes": 120,
            "owner_department": "clinical engineering", "vendor_company": "Acme Medical", "addresses": ["10.0.0.5"],
            "maintenance_ports": [{"port": 22, "protocol": "ssh"}], "approvals_required": 2}), at).await;
        a.expect(201, &name);
        assert_eq!(a.json["asset"]["approvals_required"], 2);
        assert_eq!(a.json["asset"]["record_sessions"], true);
        let asset = a.json["asset"]["id"].as_str().unwrap().to_owned();
        let body =
            json!({"asset": asset, "ports": [22], "reason": "INC-1", "duration_minutes": 60});
        // Auditors may not ask.
        api.post("/api/v1/requests", body.clone(), Some(&aud.token)).await.expect_error(
            403,
            "forbidden",
            "aud ask",
        );
        // A vendor of another company cannot ask for this device: it
        // answers as if it did not exist.
        api.post("/api/v1/requests", body.clone(), Some(&other_co.token)).await.expect_error(
            404,
            "not_found",
            "other company asks",
        );
        // Port not maintenance.
        let mut b2 = body.clone();
        b2["ports"] = json!([23]);
        let r = api.post("/api/v1/requests", b2, Some(&v1.token)).await;
        r.expect_error(422, "invalid_value", "port");
        assert_eq!(r.json["reason"], "not_a_maintenance_port");
        let r = api.post("/api/v1/requests", body.clone(), Some(&v1.token)).await;
        r.expect(201, "v1 ask");
        let req = r.json["request"]["id"].as_str().unwrap().to_owned();
        assert_eq!(r.json["request"]["status"], "pending");
        // v2 cannot see it; v1 can; auditor can.
        api.get(&format!("/api/v1/requests/{req}"), Some(&v2.token)).await.expect_error(
            404,
            "not_found",
            "v2 sees",
        );
        api.get(&format!("/api/v1/requests/{req}"), Some(&aud.token)).await.expect(200, "aud sees");
        let l = api.get("/api/v1/requests", Some(&v2.token)).await;
        assert_eq!(l.json["requests"].as_array().unwrap().len(), 0);
        let l = api.get("/api/v1/requests?state=pending", Some(&aud.token)).await;
        assert_eq!(l.json["requests"].as_array().unwrap().len(), 1);
        api.get("/api/v1/requests?state=active", Some(&aud.token)).await.expect_error(
            422,
            "invalid_value",
            "state active",
        );
        api.get("/api/v1/requests?bogus=1", Some(&aud.token)).await.expect_clean_error("bogus q");
        // Approvals.
        let ap = async |t: &str| {
            api.post(&format!("/api/v1/requests/{req}/approve"), json!({}), Some(t)).await
        };
        ap(&v1.token).await.expect_error(403, "forbidden", "vendor approves");
        ap(&aud.token).await.expect_error(403, "forbidden", "aud approves");
        ap(&it.token).await.expect_error(403, "not_an_approver_for_asset", "it approves");
        let r = ap(&ce.token).await;
        r.expect(200, "ce approves");
        assert_eq!(r.json["request"]["status"], "pending");
        ap(&ce.token).await.expect_error(409, "already_approved", "ce twice");
        api.advance(time::Duration::minutes(6));
        ap(&ce2.token).await.expect_error(403, "step_up_required", "stale");
        let code = api.totp(&ce2.secret, 0);
        api.post("/api/v1/me/step-up", json!({"code": code}), Some(&ce2.token))
            .await
            .expect(200, "stepup");
        let r = ap(&ce2.token).await;
        r.expect(200, "ce2 approves");
        assert_eq!(r.json["request"]["status"], "active");
        ap(&admin.token).await.expect_clean_error("third");
        // Deny now wrong state.
        let r = api
            .post(&format!("/api/v1/requests/{req}/deny"), json!({"note": "x"}), Some(&ce.token))
            .await;
        r.expect_error(409, "wrong_state", "deny approved");
        assert_eq!(r.json["reason"], "not_pending");
        // Cancel by non requester.
        api.post(&format!("/api/v1/requests/{req}/cancel"), json!({}), Some(&ce.token))
            .await
            .expect_error(403, "forbidden", "cancel other");
        api.post(&format!("/api/v1/requests/{req}/cancel"), json!({}), Some(&v2.token))
            .await
            .expect_error(404, "not_found", "cancel v2");
        // Tunnel session of v1.
        let ts = tunnel_session(&api, &v1, &req, &asset, false).await;
        api.get(&format!("/api/v1/tunnel-sessions/{ts}"), Some(&v2.token)).await.expect_error(
            404,
            "not_found",
            "v2 ts",
        );
        let l = api.get("/api/v1/tunnel-sessions", Some(&v2.token)).await;
        assert_eq!(l.json["sessions"].as_array().unwrap().len(), 0);
        let l = api
            .get(&format!("/api/v1/tunnel-sessions?live=true&request={req}"), Some(&aud.token))
            .await;
        assert_eq!(l.json["sessions"].as_array().unwrap().len(), 1);
        api.get(&format!("/api/v1/tunnel-sessions/{ts}/pcap"), Some(&ce.token)).await.expect_error(
            403,
            "forbidden",
            "pcap approver",
        );
        api.get(&format!("/api/v1/tunnel-sessions/{ts}/pcap"), Some(&v1.token)).await.expect_error(
            403,
            "forbidden",
            "pcap vendor",
        );
        api.get(&format!("/api/v1/tunnel-sessions/{ts}/pcap"), Some(&aud.token))
            .await
            .expect_error(404, "not_recorded", "pcap unrecorded");
        api.post(&format!("/api/v1/tunnel-sessions/{ts}/kill"), json!({}), Some(&aud.token))
            .await
            .expect_error(403, "forbidden", "kill aud");
        api.post(&format!("/api/v1/tunnel-sessions/{ts}/kill"), json!({}), Some(&v1.token))
            .await
            .expect(200, "kill own");
        // Recorded but file missing.
        let ts2 = tunnel_session(&api, &v1, &req, &asset, true).await;
        std::fs::remove_file(api.gateway.recordings_dir().join(format!("{ts2}.skrec"))).unwrap();
        api.get(&format!("/api/v1/tunnel-sessions/{ts2}/pcap"), Some(&aud.token))
            .await
            .expect_error(404, "recording_unavailable", "pcap missing");
        // Revoke by IT → not approver; by ce → ok.
        api.post(&format!("/api/v1/requests/{req}/revoke"), json!({}), Some(&it.token))
            .await
            .expect_error(403, "not_an_approver_for_asset", "it revoke");
        let r = api
            .send(
                Req::new("POST", &format!("/api/v1/requests/{req}/revoke")).bearer(Some(&ce.token)),
            )
            .await;
        r.expect(200, "revoke no body");
        assert_eq!(r.json["request"]["status"], "revoked");
        assert_eq!(r.json["connections_closed"], 0);
        let r =
            api.post(&format!("/api/v1/requests/{req}/cancel"), json!({}), Some(&v1.token)).await;
        r.expect_error(409, "wrong_state", "cancel revoked");
        assert_eq!(r.json["reason"], "final");
        // Deny with note cleaned.
        let r = api.post("/api/v1/requests", body.clone(), Some(&v1.token)).await;
        let req2 = r.json["request"]["id"].as_str().unwrap().to_owned();
        let r = api
            .post(
                &format!("/api/v1/requests/{req2}/deny"),
                json!({"note": "no\u{7}pe\nline"}),
                Some(&ce.token),
            )
            .await;
        r.expect(200, "deny");
        assert_eq!(r.json["request"]["decision_note"], "nope\nline");
        assert_eq!(r.json["request"]["status"], "denied");
        // Vendor lists assets.
        let r = api.get("/api/v1/assets", Some(&v1.token)).await;
        assert_eq!(r.json["assets"].as_array().unwrap().len(), 1);
        api.get(&format!("/api/v1/assets/{asset}"), Some(&v1.token)).await.expect_error(
            403,
            "forbidden",
            "v show asset",
        );
        // Tunnel credential: bad key, stale MFA.
        let r = api
            .post("/api/v1/tunnel-credentials", json!({"public_key": "abcd"}), Some(&v1.token))
            .await;
        // Stale MFA is refused before the key is even looked at.
        r.expect_error(403, "step_up_required", "cred with stale mfa");
        api.advance(time::Duration::minutes(1));
        let code = api.totp(&v1.secret, 0);
        api.post("/api/v1/me/step-up", json!({"code": code}), Some(&v1.token))
            .await
            .expect(200, "stepup v1");
        let r = api
            .post("/api/v1/tunnel-credentials", json!({"public_key": "abcd"}), Some(&v1.token))
            .await;
        r.expect_error(422, "invalid_value", "bad key");
        assert_eq!(r.json["reason"], "not_an_ed25519_key");
        let r = api.post("/api/v1/tunnel-credentials", json!({"public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"}), Some(&v1.token)).await;
        r.expect(201, "cred");
    }
}
