//! `/alerts`: staff read the alerts the detections raised, admins and
//! approvers acknowledge and close them with a comment (audited), auditors
//! only read, vendors see nothing; filters narrow; bad input is a
//! localized `invalid_value`.

use serde_json::json;
use time::Duration;

use sekimori_store::AlertRepo;
use sekimori_types::{AlertDraft, AlertKind, AlertSeverity, Evidence, EvidenceAsset};

use crate::common::*;

fn draft(key: &str, kind: AlertKind, severity: AlertSeverity) -> AlertDraft {
    let at = sekimori_test_support::test_epoch();
    let mut evidence = Evidence { bytes: Some(52_428_800), ..Evidence::default() };
    evidence.assets.push(EvidenceAsset {
        ip: "10.20.0.5".parse().unwrap(),
        name: Some("nurse-call-1".into()),
        zone: Some("nurse-call".into()),
    });
    AlertDraft {
        kind,
        severity,
        dedup_key: key.into(),
        summary: "nurse-call-1 sent 50 MiB to 203.0.113.9".into(),
        summary_ja: "nurse-call-1 が 203.0.113.9 へ 50 MiB を送信".into(),
        evidence,
        first: at,
        last: at + Duration::seconds(4),
        count: 1,
    }
}

#[tokio::test]
async fn staff_read_handlers_handle_vendors_are_refused() {
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        let approver = api.user(&admin.token, "appr", "approver").await;
        let auditor = api.user(&admin.token, "aud", "auditor").await;
        let vendor = api.user(&admin.token, "vend", "vendor").await;
        let s = &api.t.store;
        let raised = s
            .raise_alerts(&[
                draft("exfil|10.20.0.5", AlertKind::Exfiltration, AlertSeverity::Critical),
                draft("new|10.20.0.99", AlertKind::NewDevice, AlertSeverity::Low),
            ])
            .await
            .unwrap();
        let exfil = raised[0].alert.id.to_string();

        for (who, t) in [("admin", &admin), ("approver", &approver), ("auditor", &auditor)] {
            let r = api.get("/api/v1/alerts", Some(&t.token)).await;
            r.expect(200, &format!("{name}: {who}"));
            assert_eq!(r.json["alerts"].as_array().unwrap().len(), 2, "{name}: {who}");
            assert_eq!(r.json["open_by_severity"], json!({"critical": 1, "low": 1}));
        }
        let r = api.get(&format!("/api/v1/alerts/{exfil}"), Some(&auditor.token)).await;
        r.expect(200, &name);
        let a = &r.json["alert"];
        assert_eq!(a["kind"], "exfiltration");
        assert_eq!(a["severity"], "critical");
        assert_eq!(a["state"], "open");
        assert_eq!(a["evidence"]["bytes"], 52_428_800);
        assert_eq!(a["evidence"]["assets"][0]["zone"], "nurse-call");
        assert_eq!(a["first"], "2026-04-01T09:00:00Z");
        assert_eq!(a["summary_ja"], "nurse-call-1 が 203.0.113.9 へ 50 MiB を送信");

        for path in ["/api/v1/alerts".to_owned(), format!("/api/v1/alerts/{exfil}")] {
            let r = api.get(&path, Some(&vendor.token)).await;
            r.expect_error(403, "forbidden", &format!("{name}: vendor {path}"));
            let r = api.get(&path, None).await;
            r.expect_error(401, "unauthenticated", &format!("{name}: anonymous {path}"));
        }
        let ack = format!("/api/v1/alerts/{exfil}/acknowledge");
        let body = json!({"comment": "checking with the nurse-call vendor"});
        let r = api.post(&ack, body.clone(), Some(&auditor.token)).await;
        r.expect_error(403, "forbidden", &format!("{name}: auditors only read"));
        let r = api.post(&ack, body.clone(), Some(&approver.token)).await;
        r.expect(200, &name);
        assert_eq!(r.json["alert"]["state"], "acknowledged");
        assert_eq!(r.json["alert"]["handled_by"], "appr");
        let r = api.post(&ack, body, Some(&approver.token)).await;
        r.expect_error(422, "invalid_value", &format!("{name}: acknowledged twice"));

        let close = format!("/api/v1/alerts/{exfil}/close");
        let r = api.post(&close, json!({"comment": ""}), Some(&admin.token)).await;
        r.expect_error(422, "invalid_value", &format!("{name}: a comment is required"));
        assert!(r.json["message"].as_str().unwrap().contains("2000"), "{name}: {}", r.json);
        let r = api.post(&close, json!({"note": "x"}), Some(&admin.token)).await;
        r.expect_error(422, "invalid_body", &format!("{name}: unknown field"));
        let r = api
            .post(&close, json!({"comment": "blocked at the firewall"}), Some(&admin.token))
            .await;
        r.expect(200, &name);
        assert_eq!(r.json["alert"]["state"], "closed");

        // Filters.
        let r = api.get("/api/v1/alerts?state=open", Some(&admin.token)).await;
        assert_eq!(r.json["alerts"].as_array().unwrap().len(), 1, "{name}");
        assert_eq!(r.json["alerts"][0]["kind"], "new_device");
        let r = api.get("/api/v1/alerts?severity=high", Some(&admin.token)).await;
        assert_eq!(r.json["alerts"][0]["kind"], "exfiltration", "{name}");
        let r = api.get("/api/v1/alerts?kind=silence", Some(&admin.token)).await;
        assert!(r.json["alerts"].as_array().unwrap().is_empty(), "{name}");
        let r = api.get("/api/v1/alerts?severity=urgent", Some(&admin.token)).await;
        r.expect_error(422, "invalid_value", &name);
        let r = api
            .send(
                Req::new("GET", "/api/v1/alerts?kind=exfil").bearer(Some(&admin.token)).lang("ja"),
            )
            .await;
        r.expect_error(422, "invalid_value", &name);
        assert!(
            r.json["message"].as_str().unwrap().contains("不明なアラート種別"),
            "{name}: {}",
            r.json
        );
        let r = api.get("/api/v1/alerts/not-an-id", Some(&admin.token)).await;
        r.expect_error(422, "invalid_value", &name);
        let r = api.get(&format!("/api/v1/alerts/{}", uuid::Uuid::nil()), Some(&admin.token)).await;
        assert_eq!(r.status, 404, "{name}");

        // Handling is in the audit chain with the comment.
        let r = api.get("/api/v1/audit?limit=1000", Some(&auditor.token)).await;
        let text = r.json.to_string();
        assert!(
            text.contains("alert_acknowledged") && text.contains("blocked at the firewall"),
            "{name}"
        );
    }
}
