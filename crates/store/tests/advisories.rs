//! Imported advisory records on every backend: a re-import of the same
//! records changes nothing, a changed record replaces the old one, paging
//! walks every record once in key order, counts per kind, refusals, and
//! large batches (more than one write job and one multi-row statement).

mod common;

use sekimori_store::{AdvisoryRepo, AdvisoryRow, AdvisoryWrite, AuditRepo, StoreError};
use sekimori_test_support::each_backend;

fn row(key: &str, kind: &str, body: &str) -> AdvisoryRow {
    AdvisoryRow {
        key: key.into(),
        kind: kind.into(),
        cve: key.rsplit(':').next().unwrap().into(),
        digest: format!("d-{body}"),
        body: body.into(),
    }
}

#[tokio::test]
async fn reimport_is_idempotent_and_changes_replace() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let audit_before = s.audit_head().await.unwrap().map(|h| h.seq);
        let first = vec![
            row("cve5:CVE-2024-3400", "vulnerability", "{\"a\":1}"),
            row("kev:CVE-2024-3400", "kev", "{\"k\":1}"),
            row("epss:CVE-2024-3400", "epss", "{\"e\":0.9}"),
        ];
        let w = s.upsert_advisories(&first).await.unwrap();
        assert_eq!(w, AdvisoryWrite { added: 3, updated: 0, unchanged: 0 }, "{b:?}");
        let again = s.upsert_advisories(&first).await.unwrap();
        assert_eq!(again, AdvisoryWrite { added: 0, updated: 0, unchanged: 3 }, "{b:?}");

        let changed = vec![
            row("cve5:CVE-2024-3400", "vulnerability", "{\"a\":2}"),
            row("cve5:CVE-2024-21762", "vulnerability", "{\"b\":1}"),
        ];
        let w = s.upsert_advisories(&changed).await.unwrap();
        assert_eq!(w, AdvisoryWrite { added: 1, updated: 1, unchanged: 0 }, "{b:?}");

        let all = s.advisories_page(None, None, 0).await.unwrap();
        let keys: Vec<&str> = all.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "cve5:CVE-2024-21762",
                "cve5:CVE-2024-3400",
                "epss:CVE-2024-3400",
                "kev:CVE-2024-3400"
            ],
            "{b:?}"
        );
        let replaced = all.iter().find(|r| r.key == "cve5:CVE-2024-3400").unwrap();
        assert_eq!(replaced.body, "{\"a\":2}", "{b:?}");
        assert_eq!(replaced.cve, "CVE-2024-3400", "{b:?}");

        let vulns = s.advisories_page(Some("vulnerability"), None, 1).await.unwrap();
        assert_eq!(vulns.len(), 1, "{b:?}");
        let next = s.advisories_page(Some("vulnerability"), Some(&vulns[0].key), 10).await.unwrap();
        assert_eq!(next.len(), 1, "{b:?}");
        assert_eq!(next[0].key, "cve5:CVE-2024-3400", "{b:?}");

        let counts = s.advisory_counts().await.unwrap();
        assert_eq!(
            counts.per_kind,
            [("epss".to_owned(), 1), ("kev".to_owned(), 1), ("vulnerability".to_owned(), 2)],
            "{b:?}"
        );
        assert!(counts.newest.is_some(), "{b:?}");
        // Imports are bookkeeping of public data: the CLI audits the import
        // as one event; the repository writes none.
        assert_eq!(s.audit_head().await.unwrap().map(|h| h.seq), audit_before, "{b:?}");
    }
}

#[tokio::test]
async fn refuses_duplicate_and_empty_keys_and_writes_nothing() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let dup = vec![row("kev:CVE-1", "kev", "1"), row("kev:CVE-1", "kev", "2")];
        assert!(matches!(s.upsert_advisories(&dup).await, Err(StoreError::Invalid(_))), "{b:?}");
        let empty = vec![row("kev:CVE-2", "kev", "1"), row("", "kev", "2")];
        assert!(matches!(s.upsert_advisories(&empty).await, Err(StoreError::Invalid(_))), "{b:?}");
        assert!(s.advisories_page(None, None, 0).await.unwrap().is_empty(), "{b:?}");
    }
}

#[tokio::test]
async fn large_imports_span_jobs_and_statements() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let rows: Vec<AdvisoryRow> = (0..4_321)
            .map(|i| row(&format!("cve5:CVE-2099-{i:05}"), "vulnerability", &format!("{i}")))
            .collect();
        let w = s.upsert_advisories(&rows).await.unwrap();
        assert_eq!(w.added, 4_321, "{b:?}");
        let mut seen = 0;
        let mut after: Option<String> = None;
        loop {
            let page = s.advisories_page(None, after.as_deref(), 1000).await.unwrap();
            if page.is_empty() {
                break;
            }
            seen += page.len();
            after = page.last().map(|r| r.key.clone());
        }
        assert_eq!(seen, 4_321, "{b:?}");
        let mut half = rows.clone();
        for r in half.iter_mut().step_by(2) {
            r.digest.push('x');
        }
        let w = s.upsert_advisories(&half).await.unwrap();
        assert_eq!(w, AdvisoryWrite { added: 0, updated: 2_161, unchanged: 2_160 }, "{b:?}");
    }
}
