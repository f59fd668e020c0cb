//! `/inventory`: the sensor's observed devices and conversations through the
//! API — staff roles read them, vendors are refused, filters narrow them,
//! bad parameters are localized `invalid_value` errors, unknown IDs 404.

use serde_json::{Value, json};
use time::Duration;

use sekimori_store::{ConversationBucket, InventoryRepo, ObservedAsset};

use crate::common::*;

fn observed(
    key: &str,
    ip: &str,
    names: &[&str],
    server: &[&str],
    client: &[&str],
) -> ObservedAsset {
    let at = sekimori_test_support::test_epoch();
    ObservedAsset {
        key: key.into(),
        mac: key.strip_prefix("mac:").map(str::to_owned),
        ips: vec![ip.parse().unwrap()],
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        vendor: None,
        product: None,
        version: None,
        mac_vendor: None,
        protocols_as_client: client.iter().map(|s| (*s).to_owned()).collect(),
        protocols_as_server: server.iter().map(|s| (*s).to_owned()).collect(),
        protocols_link: vec![],
        role: if server.contains(&"dicom") {
            Some("pacs-or-modality".into())
        } else if client.contains(&"dicom") {
            Some("modality-or-workstation".into())
        } else {
            None
        },
        role_basis: None,
        local: true,
        first_seen: at,
        last_seen: at + Duration::minutes(names.len() as i64),
    }
}

/// A PACS, a CT and a workstation, and two minutes of DICOM between the
/// CT and the PACS.
async fn seed(api: &Api) {
    let s = &api.t.store;
    s.upsert_observed(&[
        observed("ip:10.20.1.10", "10.20.1.10", &["PACS_MAIN", "pacs.local"], &["dicom"], &[]),
        observed("mac:02:00:0a:14:05:1f", "10.20.5.31", &["CT_SCANNER_01"], &[], &["dicom"]),
        observed("ip:10.20.9.9", "10.20.9.9", &[], &[], &["tls"]),
    ])
    .await
    .unwrap();
    let at = sekimori_test_support::test_epoch();
    let b = |min: i64, n: u64| ConversationBucket {
        client: "mac:02:00:0a:14:05:1f".into(),
        server: "ip:10.20.1.10".into(),
        service: "dicom".into(),
        start: at + Duration::minutes(min),
        packets_out: n,
        packets_in: n,
        bytes_out: 100 * n,
        bytes_in: 10 * n,
        flows: 1,
    };
    s.add_conversations(&[b(0, 5), b(1, 7)]).await.unwrap();
}

fn keys(v: &Value) -> Vec<&str> {
    v["assets"].as_array().unwrap().iter().map(|a| a["key"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn staff_read_the_inventory_and_vendors_are_refused() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        seed(&api).await;
        let approver = api.user(&admin.token, "appr", "approver").await;
        let auditor = api.user(&admin.token, "aud", "auditor").await;
        let vendor = api.user(&admin.token, "vend", "vendor").await;

        for (who, token) in [("admin", &admin), ("approver", &approver), ("auditor", &auditor)] {
            let r = api.get("/api/v1/inventory/assets", Some(&token.token)).await;
            r.expect(200, &format!("{name}: {who}"));
            assert_eq!(
                keys(&r.json),
                vec!["ip:10.20.1.10", "mac:02:00:0a:14:05:1f", "ip:10.20.9.9"],
                "{name}: {who}: most recently seen first"
            );
            let r = api.get("/api/v1/inventory/conversations", Some(&token.token)).await;
            r.expect(200, &format!("{name}: {who}"));
            assert_eq!(r.json["conversations"].as_array().unwrap().len(), 2);
        }

        let some_id = {
            let r = api.get("/api/v1/inventory/assets", Some(&admin.token)).await;
            r.json["assets"][0]["id"].as_str().unwrap().to_owned()
        };
        for path in [
            "/api/v1/inventory/assets".to_owned(),
            format!("/api/v1/inventory/assets/{some_id}"),
            "/api/v1/inventory/conversations".to_owned(),
            format!("/api/v1/inventory/conversations?asset={some_id}"),
        ] {
            let r = api.get(&path, Some(&vendor.token)).await;
            r.expect_error(403, "forbidden", &format!("{name}: vendor {path}"));
            assert!(r.json.get("assets").is_none() && r.json.get("asset").is_none());
            let r = api.get(&path, None).await;
            r.expect_error(401, "unauthenticated", &format!("{name}: anonymous {path}"));
        }
    }
}

#[tokio::test]
async fn filters_show_and_errors() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        seed(&api).await;
        let t = Some(admin.token.as_str());
        let get = |p: &str| {
            let p = p.to_owned();
            let api = &api;
            async move { api.get(&p, t).await }
        };

        let r = get("/api/v1/inventory/assets?q=ct_scanner").await;
        r.expect(200, &name);
        assert_eq!(keys(&r.json), vec!["mac:02:00:0a:14:05:1f"], "{name}");
        let ct = r.json["assets"][0].clone();
        assert_eq!(ct["names"], json!(["CT_SCANNER_01"]));
        assert_eq!(ct["mac"], "02:00:0a:14:05:1f");
        assert_eq!(ct["ip"], "10.20.5.31");
        assert_eq!(ct["ips"], json!(["10.20.5.31"]));
        assert_eq!(ct["protocols_as_client"], json!(["dicom"]));
        assert_eq!(ct["role"], "modality-or-workstation");
        assert_eq!(ct["first_seen"], "2026-04-01T09:00:00Z");
        assert_eq!(ct["last_seen"], "2026-04-01T09:01:00Z");
        assert_eq!(ct["registered_assets"], json!([]));
        assert_eq!(ct["vendor"], Value::Null);

        let r = get("/api/v1/inventory/assets?app=dicom&role=pacs-or-modality").await;
        assert_eq!(keys(&r.json), vec!["ip:10.20.1.10"], "{name}");
        let pacs = r.json["assets"][0]["id"].as_str().unwrap().to_owned();
        let r = get("/api/v1/inventory/assets?app=tls").await;
        assert_eq!(keys(&r.json), vec!["ip:10.20.9.9"], "{name}");
        let r = get("/api/v1/inventory/assets?limit=1").await;
        assert_eq!(keys(&r.json), vec!["ip:10.20.1.10"], "{name}");
        let r = get("/api/v1/inventory/assets?q=").await;
        assert_eq!(keys(&r.json).len(), 3, "{name}: an empty q is no filter");

        let r = get(&format!("/api/v1/inventory/assets/{pacs}")).await;
        r.expect(200, &name);
        assert_eq!(r.json["asset"]["names"], json!(["PACS_MAIN", "pacs.local"]));
        assert_eq!(r.json["asset"]["protocols_as_server"], json!(["dicom"]));

        let r = get(&format!("/api/v1/inventory/conversations?asset={pacs}")).await;
        r.expect(200, &name);
        let conv = r.json["conversations"].as_array().unwrap();
        assert_eq!(conv.len(), 2, "{name}");
        assert_eq!(conv[0]["start"], "2026-04-01T09:01:00Z", "{name}: newest first");
        assert_eq!(conv[0]["client"], "mac:02:00:0a:14:05:1f");
        assert_eq!(conv[0]["server"], "ip:10.20.1.10");
        assert_eq!(conv[0]["server_asset"], pacs.as_str());
        assert_eq!(conv[0]["service"], "dicom");
        assert_eq!(
            (
                &conv[0]["packets_out"],
                &conv[0]["bytes_out"],
                &conv[0]["bytes_in"],
                &conv[0]["flows"]
            ),
            (&json!(7), &json!(700), &json!(70), &json!(1))
        );
        let r = get("/api/v1/inventory/conversations?since=2026-04-01T09:01:00Z").await;
        assert_eq!(r.json["conversations"].as_array().unwrap().len(), 1, "{name}");
        let r = get("/api/v1/inventory/conversations?until=2026-04-01T09:01:00%2B00:00").await;
        assert_eq!(r.json["conversations"].as_array().unwrap().len(), 1, "{name}");
        let r = get("/api/v1/inventory/conversations?limit=1").await;
        assert_eq!(r.json["conversations"].as_array().unwrap().len(), 1, "{name}");

        // Refusals: stable codes, the field named, no internals.
        for (path, field) in [
            ("/api/v1/inventory/assets?limit=0", "limit"),
            ("/api/v1/inventory/assets?limit=5001", "limit"),
            ("/api/v1/inventory/assets/not-an-id", "id"),
            ("/api/v1/inventory/conversations?since=yesterday", "since"),
            ("/api/v1/inventory/conversations?until=2026-13-01T00:00:00Z", "until"),
            ("/api/v1/inventory/conversations?asset=42", "asset"),
        ] {
            let r = get(path).await;
            r.expect_error(422, "invalid_value", &format!("{name}: {path}"));
            assert_eq!(r.json["field"], field, "{name}: {path}");
            r.expect_clean_error(path);
        }
        let long = "x".repeat(201);
        let r = get(&format!("/api/v1/inventory/assets?q={long}")).await;
        r.expect_error(422, "invalid_value", &name);
        let r = get("/api/v1/inventory/assets?colour=red").await;
        r.expect_error(400, "bad_request", &name);
        let unknown = uuid::Uuid::now_v7();
        for path in [
            format!("/api/v1/inventory/assets/{unknown}"),
            format!("/api/v1/inventory/conversations?asset={unknown}"),
        ] {
            get(&path).await.expect_error(404, "not_found", &format!("{name}: {path}"));
        }
        // In Japanese too.
        let r = api
            .send(
                Req::new("GET", "/api/v1/inventory/conversations?since=yesterday")
                    .bearer(t)
                    .lang("ja"),
            )
            .await;
        r.expect_error(422, "invalid_value", &name);
        assert!(has_japanese(r.message()), "{name}: {}", r.message());
    }
}
