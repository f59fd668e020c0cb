//! Roles: only admins change users, assets and zones (403 `forbidden` for
//! the others, with nothing changed); vendors read nothing of the inventory
//! but the list of the assets their company maintains; admins and auditors read the audit log (records and a verify report);
//! an admin cannot lock themselves.

use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn only_admins_change_things() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let z = api.post("/api/v1/zones", json!({"name": "icu"}), Some(&admin.token)).await;
        z.expect(201, &name);
        let zone = z.json["zone"]["id"].as_str().unwrap().to_owned();
        let a = api
            .post(
                "/api/v1/assets",
                json!({"name": "ct-1", "zone": zone, "criticality": "life_critical",
                       "addresses": ["10.0.0.5"], "maintenance_ports": [{"port": 22, "protocol": "ssh"}],
                       "max_session_minutes": 120}),
                Some(&admin.token),
            )
            .await;
        a.expect(201, &name);
        let asset = a.json["asset"]["id"].as_str().unwrap().to_owned();
        // Maintained by the vendors' company (spelt differently).
        let a = api
            .post(
                "/api/v1/assets",
                json!({"name": "nc-1", "vendor_company": "ACME medical", "criticality": "high",
                       "max_session_minutes": 60}),
                Some(&admin.token),
            )
            .await;
        a.expect(201, &name);
        let admin_id = admin.id();
        let users_before = api.get("/api/v1/users", Some(&admin.token)).await.json;

        let asset_body = json!({"name": "x-ray", "criticality": "low", "max_session_minutes": 30});
        for role in ["vendor", "auditor", "approver"] {
            let who = api.user(&admin.token, &format!("{role}1"), role).await;
            let t = Some(who.token.as_str());
            let ctx = |what: &str| format!("{name}: {role} {what}");
            let writes: Vec<(&str, String, Value)> = vec![
                (
                    "POST",
                    "/api/v1/users".into(),
                    json!({"username": "evil", "role": "admin", "password": USER_PASSWORD}),
                ),
                (
                    "POST",
                    "/api/v1/users".into(),
                    json!({"username": "evil", "role": "vendor", "company": "X", "password": USER_PASSWORD}),
                ),
                ("POST", "/api/v1/assets".into(), asset_body.clone()),
                ("PUT", format!("/api/v1/assets/{asset}"), asset_body.clone()),
                ("DELETE", format!("/api/v1/assets/{asset}"), json!({})),
                ("POST", "/api/v1/zones".into(), json!({"name": "evil"})),
                ("PUT", format!("/api/v1/zones/{zone}"), json!({"name": "evil"})),
                ("DELETE", format!("/api/v1/zones/{zone}"), json!({})),
                ("POST", format!("/api/v1/users/{admin_id}/lock"), json!({})),
                ("POST", format!("/api/v1/users/{}/lock", who.id()), json!({})),
                ("POST", format!("/api/v1/users/{admin_id}/unlock"), json!({})),
                ("POST", format!("/api/v1/users/{admin_id}/reset-mfa"), json!({})),
            ];
            for (m, path, body) in writes {
                let r = api.send(Req::new(m, &path).bearer(t).json(&body)).await;
                r.expect_error(403, "forbidden", &ctx(&format!("{m} {path}")));
                r.expect_clean_error(&ctx(&path));
            }
            // Reads.
            let reads_ok = role != "vendor";
            for path in [
                "/api/v1/users".to_owned(),
                format!("/api/v1/users/{admin_id}"),
                "/api/v1/assets".into(),
                format!("/api/v1/assets/{asset}"),
                "/api/v1/zones".into(),
                format!("/api/v1/zones/{zone}"),
            ] {
                let r = api.get(&path, t).await;
                if reads_ok {
                    r.expect(200, &ctx(&path));
                } else if path == "/api/v1/assets" {
                    // What they may ask access to: their company's devices.
                    r.expect(200, &ctx(&path));
                    let names: Vec<&str> = r.json["assets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a["name"].as_str().unwrap())
                        .collect();
                    assert_eq!(names, ["nc-1"], "{}", ctx(&path));
                } else {
                    r.expect_error(403, "forbidden", &ctx(&path));
                }
            }
            let audit_ok = role == "auditor";
            for path in ["/api/v1/audit", "/api/v1/audit/verify", "/api/v1/audit/public-key"] {
                let r = api.get(path, t).await;
                if audit_ok {
                    r.expect(200, &ctx(path));
                } else {
                    r.expect_error(403, "forbidden", &ctx(path));
                }
            }
            // Everyone may see themselves.
            let r = api.get("/api/v1/me", t).await;
            r.expect(200, &ctx("/me"));
            assert_eq!(r.json["user"]["role"], role);
        }

        // Nothing was changed by the refused calls.
        let r = api.get(&format!("/api/v1/assets/{asset}"), Some(&admin.token)).await;
        assert_eq!(r.json["asset"]["name"], "ct-1", "{name}");
        let r = api.get(&format!("/api/v1/zones/{zone}"), Some(&admin.token)).await;
        assert_eq!(r.json["zone"]["name"], "icu", "{name}");
        let users = api.get("/api/v1/users", Some(&admin.token)).await.json;
        let names: Vec<&str> = users["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert!(!names.contains(&"evil"), "{name}: {names:?}");
        assert_eq!(names.len(), users_before["users"].as_array().unwrap().len() + 3, "{name}");
        let me = api.get("/api/v1/me", Some(&admin.token)).await;
        assert_eq!(me.json["user"]["status"], "active", "{name}");
    }
}

/// Auditors read the log: records in order with their hashes chained, a
/// page after a sequence number, a verify report, the public key.
#[tokio::test]
async fn auditors_read_the_audit_log() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let auditor = api.user(&admin.token, "sato", "auditor").await;
        let t = Some(auditor.token.as_str());

        let r = api.get("/api/v1/audit", t).await;
        r.expect(200, &name);
        let records = r.json["records"].as_array().unwrap().clone();
        assert!(records.len() >= 5, "{name}: {records:?}");
        for pair in records.windows(2) {
            assert_eq!(pair[1]["seq"], json!(pair[0]["seq"].as_u64().unwrap() + 1), "{name}");
            assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "{name}: chained");
        }
        let types: Vec<&str> = records.iter().filter_map(|r| r["event"]["type"].as_str()).collect();
        for want in ["setup_completed", "user_created", "mfa_enrolled", "login_succeeded"] {
            assert!(types.contains(&want), "{name}: no {want} in {types:?}");
        }
        // Paging.
        let first = records[0]["seq"].as_u64().unwrap();
        let r = api.get(&format!("/api/v1/audit?after={first}&limit=2"), t).await;
        let page = r.json["records"].as_array().unwrap();
        assert_eq!(page.len(), 2, "{name}");
        assert_eq!(page[0]["seq"], json!(first + 1), "{name}");
        // Bad paging parameters are the caller's error.
        for q in ["after=-1", "limit=x", "after=18446744073709551616", "after=18446744073709551615"]
        {
            let r = api.get(&format!("/api/v1/audit?{q}"), t).await;
            let ctx = format!("{name}: /audit?{q}");
            if r.status == 200 {
                assert!(r.json["records"].is_array(), "{ctx}");
            } else {
                r.expect_clean_error(&ctx);
            }
        }

        let r = api.get("/api/v1/audit/verify", t).await;
        r.expect(200, &name);
        assert_eq!(r.json["ok"], true, "{name}: {}", r.json);
        assert!(r.json["report"].is_object(), "{name}: {}", r.json);
        let r = api.get("/api/v1/audit/public-key", t).await;
        r.expect(200, &name);
        assert_eq!(r.json["public_key"], json!(api.t.store.public_key().to_hex()), "{name}");
    }
}

/// An admin cannot lock themselves out: 409 `conflict`, still active.
#[tokio::test]
async fn admins_cannot_lock_themselves() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let r = api
            .post(&format!("/api/v1/users/{}/lock", admin.id()), json!({}), Some(&admin.token))
            .await;
        r.expect_error(409, "conflict", &name).expect_clean_error(&name);
        let me = api.get("/api/v1/me", Some(&admin.token)).await;
        me.expect(200, &name);
        assert_eq!(me.json["user"]["status"], "active", "{name}");
        // Unlocking oneself is harmless; locking another admin works.
        api.post(&format!("/api/v1/users/{}/unlock", admin.id()), json!({}), Some(&admin.token))
            .await
            .expect(200, &name);
        let other = api.create_user(&admin.token, "admin2", "admin").await;
        api.post(&format!("/api/v1/users/{other}/lock"), json!({}), Some(&admin.token))
            .await
            .expect(200, &name);
        // Unknown IDs and malformed IDs.
        let r = api
            .post(
                &format!("/api/v1/users/{}/lock", uuid::Uuid::new_v4()),
                json!({}),
                Some(&admin.token),
            )
            .await;
        r.expect_error(404, "not_found", &name);
        let r = api.post("/api/v1/users/not-a-uuid/lock", json!({}), Some(&admin.token)).await;
        r.expect_error(422, "invalid_value", &name);
    }
}
