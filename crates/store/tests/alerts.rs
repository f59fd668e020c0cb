//! Alerts on every backend: recurrences aggregate into one alert with a
//! count, acknowledging keeps aggregating, closing ends it (the next
//! occurrence is a new alert), handling is audited with the comment, bad
//! drafts are refused whole, and filters select.

mod common;

use sekimori_store::{AlertFilter, AlertRepo, AuditRepo, StoreError};
use sekimori_test_support::each_backend;
use sekimori_types::{
    AlertDraft, AlertKind, AlertSeverity, AlertState, Evidence, EvidenceAsset, EvidenceFlow,
};
use time::OffsetDateTime;

fn draft(key: &str, kind: AlertKind, severity: AlertSeverity, at: i64, bytes: u64) -> AlertDraft {
    let t = OffsetDateTime::from_unix_timestamp(1_790_000_000 + at).unwrap();
    let mut evidence = Evidence { bytes: Some(bytes), ..Evidence::default() };
    evidence.assets.push(EvidenceAsset {
        ip: "10.20.0.5".parse().unwrap(),
        name: Some("nurse-call-1".into()),
        zone: Some("nurse-call".into()),
    });
    evidence.push_flow(EvidenceFlow {
        src: "10.20.0.5".parse().unwrap(),
        dst: "203.0.113.9".parse().unwrap(),
        sport: 50_000,
        dport: 443,
        transport: "tcp".into(),
        app: Some("tls".into()),
        bytes_out: bytes,
        bytes_in: 100,
        first: t,
        last: t,
    });
    evidence.detail("threshold_bytes", 1_000_000);
    AlertDraft {
        kind,
        severity,
        dedup_key: key.into(),
        summary: format!("{bytes} bytes to the internet"),
        summary_ja: format!("インターネットへ {bytes} バイト"),
        evidence,
        first: t,
        last: t,
        count: 1,
    }
}

async fn audit_kinds(s: &sekimori_store::Store) -> Vec<String> {
    s.audit_records(1, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            v["event"]["type"].as_str().unwrap_or_default().to_owned()
        })
        .filter(|k| k.starts_with("alert_"))
        .collect()
}

#[tokio::test]
async fn recurrences_aggregate_until_closed_and_handling_is_audited() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let ex = AlertKind::Exfiltration;
        let raised = s
            .raise_alerts(&[
                draft("exfil|10.20.0.5", ex, AlertSeverity::High, 0, 10),
                draft("exfil|10.20.0.5", ex, AlertSeverity::Critical, 5, 20),
                draft("exfil|10.20.0.6", ex, AlertSeverity::Medium, 1, 30),
            ])
            .await
            .unwrap();
        assert!(raised[0].new && !raised[1].new && raised[2].new, "{b:?}");
        assert!(raised[1].escalated && !raised[0].escalated, "{b:?}: high → critical");
        let a = &raised[1].alert;
        assert_eq!(a.id, raised[0].alert.id, "{b:?}");
        assert_eq!(a.count, 2, "{b:?}");
        assert_eq!(a.severity, AlertSeverity::Critical, "{b:?}: severity never drops");
        assert_eq!(a.evidence.bytes, Some(20), "{b:?}");
        assert_eq!((a.last - a.first).whole_seconds(), 5, "{b:?}");
        let stored = s.alert(a.id).await.unwrap();
        assert_eq!(&stored, a, "{b:?}: what raise returns is what is stored");

        // Acknowledged: still aggregating.
        let ctx = common::admin_ctx();
        let acked = s.acknowledge_alert(&ctx, a.id, "  looking at it  ").await.unwrap();
        assert_eq!(acked.state, AlertState::Acknowledged, "{b:?}");
        assert_eq!(acked.comment.as_deref(), Some("looking at it"), "{b:?}");
        assert_eq!(acked.handled_by.as_deref(), Some("cli:root"), "{b:?}");
        let again = s
            .raise_alerts(&[draft("exfil|10.20.0.5", ex, AlertSeverity::High, 9, 40)])
            .await
            .unwrap();
        assert!(!again[0].new, "{b:?}");
        assert_eq!(again[0].alert.count, 3, "{b:?}");
        assert_eq!(again[0].alert.state, AlertState::Acknowledged, "{b:?}");
        assert!(matches!(
            s.acknowledge_alert(&ctx, a.id, "twice").await,
            Err(StoreError::Invalid(e)) if e.reason == "alert_not_open"
        ));

        // Closed: the next occurrence is a new alert.
        let closed = s.close_alert(&ctx, a.id, "vendor upload, expected").await.unwrap();
        assert_eq!(closed.state, AlertState::Closed, "{b:?}");
        assert!(matches!(
            s.close_alert(&ctx, a.id, "again").await,
            Err(StoreError::Invalid(e)) if e.reason == "alert_closed"
        ));
        let fresh = s
            .raise_alerts(&[draft("exfil|10.20.0.5", ex, AlertSeverity::High, 20, 50)])
            .await
            .unwrap();
        assert!(fresh[0].new, "{b:?}");
        assert_ne!(fresh[0].alert.id, a.id, "{b:?}");

        assert!(matches!(
            s.close_alert(&ctx, a.id, "   ").await,
            Err(StoreError::Invalid(e)) if e.field == "comment"
        ));
        assert_eq!(
            audit_kinds(s).await,
            ["alert_raised", "alert_raised", "alert_acknowledged", "alert_closed", "alert_raised"],
            "{b:?}"
        );

        // Filters.
        let open = s
            .list_alerts(&AlertFilter { state: Some(AlertState::Open), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(open.len(), 2, "{b:?}");
        let high = s
            .list_alerts(&AlertFilter {
                min_severity: Some(AlertSeverity::High),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(high.len(), 2, "{b:?}: the closed critical one and the new high one");
        assert_eq!(high[0].id, fresh[0].alert.id, "{b:?}: most recently changed first");
        let none = s
            .list_alerts(&AlertFilter { kind: Some(AlertKind::Silence), ..Default::default() })
            .await
            .unwrap();
        assert!(none.is_empty(), "{b:?}");
        let counts = s.open_alert_counts().await.unwrap();
        assert_eq!(counts, [("high".to_owned(), 1), ("medium".to_owned(), 1)], "{b:?}");
    }
}

#[tokio::test]
async fn a_bad_draft_refuses_the_batch_and_big_evidence_is_trimmed_on_aggregation() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let ok = draft("k1", AlertKind::NewDevice, AlertSeverity::Low, 0, 1);
        let mut empty_key = ok.clone();
        empty_key.dedup_key.clear();
        assert!(matches!(
            s.raise_alerts(&[ok.clone(), empty_key]).await,
            Err(StoreError::Invalid(e)) if e.field == "dedup_key"
        ));
        let mut zero = ok.clone();
        zero.count = 0;
        assert!(s.raise_alerts(&[zero]).await.is_err(), "{b:?}");
        assert!(s.list_alerts(&AlertFilter::default()).await.unwrap().is_empty(), "{b:?}");

        // Aggregating many drafts with large details stays within the cap.
        s.raise_alerts(std::slice::from_ref(&ok)).await.unwrap();
        for i in 0..40 {
            let mut big = ok.clone();
            big.evidence.detail(&format!("note{i}"), "x".repeat(3000));
            s.raise_alerts(&[big]).await.unwrap();
        }
        let all = s.list_alerts(&AlertFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1, "{b:?}");
        assert_eq!(all[0].count, 41, "{b:?}");
        assert!(serde_json::to_string(&all[0].evidence).unwrap().len() <= 64 * 1024, "{b:?}");
    }
}
