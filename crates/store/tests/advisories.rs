//! Imported advisory records on every backend: a re-import of the same
//! records changes nothing, a changed record replaces the old one, paging
//! walks every record once in key order, counts per kind, refusals, and
//! large batches (more than one write job and one multi-row statement).

mod common;

use sekimori_store::{
    AdvisoryFiling, AdvisoryRepo, AdvisoryRow, AdvisoryWrite, AuditRepo, FiledProduct, StoreError,
};
use sekimori_test_support::each_backend;

fn row(key: &str, kind: &str, body: &str) -> AdvisoryRow {
    AdvisoryRow {
        key: key.into(),
        kind: kind.into(),
        cve: key.rsplit(':').next().unwrap().into(),
        digest: format!("d-{body}"),
        body: body.into(),
        filing: None,
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

fn filed(row: &mut AdvisoryRow, table: &str, products: &[(&str, &str, &str)]) {
    row.filing = Some(AdvisoryFiling {
        keyed_with: table.into(),
        products: products
            .iter()
            .map(|(v, p, n)| FiledProduct {
                vendor: (*v).into(),
                product: (*p).into(),
                name: (*n).into(),
            })
            .collect(),
    });
}

#[tokio::test]
async fn filings_select_records_and_follow_the_alias_table() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let mut pan = row("cve5:CVE-2024-3400", "vulnerability", "pan");
        filed(&mut pan, "t1", &[("paloaltonetworks", "pan_os", "PAN-OS")]);
        let mut forti = row("cve5:CVE-2024-21762", "vulnerability", "forti");
        filed(
            &mut forti,
            "t1",
            &[("fortinet", "fortios", "FortiOS, FortiProxy"), ("fortinet", "fortiproxy", "")],
        );
        let mut nvd = row("nvd:CVE-2024-21762", "vulnerability", "forti-nvd");
        filed(&mut nvd, "t1", &[("fortinet", "fortios", "fortios")]);
        let old = row("cve5:CVE-2021-34527", "vulnerability", "old"); // imported before filing
        let kev = row("kev:CVE-2024-21762", "kev", "k");
        let epss = row("epss:CVE-2024-21762", "epss", "e");
        s.upsert_advisories(&[pan, forti.clone(), nvd, old, kev, epss]).await.unwrap();

        let ids = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
        };
        let mut hits = s
            .advisories_filed_under(&ids(&[("fortinet", "fortios"), ("x", "y")]), "t1")
            .await
            .unwrap();
        hits.sort();
        let keys: Vec<&str> = hits.iter().map(|h| h.2.as_str()).collect();
        assert_eq!(keys, ["cve5:CVE-2024-21762", "nvd:CVE-2024-21762"], "{b:?}");
        // Filings made with another table do not count.
        assert!(
            s.advisories_filed_under(&ids(&[("fortinet", "fortios")]), "t2")
                .await
                .unwrap()
                .is_empty(),
            "{b:?}"
        );
        let all = [("fortinet".to_owned(), vec!["\u{30d5}\u{30a9}".to_owned()])];
        let mut names = s.advisory_names_under(&all, "t1").await.unwrap();
        names.sort();
        assert_eq!(names.len(), 3, "{b:?}: a word that is not ASCII reads them all: {names:?}");
        assert_eq!(names[2].2, "", "{b:?}");
        let proxy = [("fortinet".to_owned(), vec!["fortiproxy".to_owned(), "zz".to_owned()])];
        let names = s.advisory_names_under(&proxy, "t1").await.unwrap();
        assert_eq!(names.len(), 1, "{b:?}: only names containing a word, any case: {names:?}");
        assert_eq!(names[0].2, "FortiOS, FortiProxy", "{b:?}");

        assert_eq!(s.advisories_not_filed_count("t1").await.unwrap(), 1, "{b:?}");
        assert_eq!(s.advisories_not_filed_count("t2").await.unwrap(), 4, "{b:?}");
        let unfiled = s.advisories_not_filed("t1", None, 0).await.unwrap();
        assert_eq!(unfiled.len(), 1, "{b:?}");
        assert_eq!(unfiled[0].key, "cve5:CVE-2021-34527", "{b:?}");

        // Filing again replaces the old identities.
        let refiling = AdvisoryFiling {
            keyed_with: "t1".into(),
            products: vec![FiledProduct {
                vendor: "microsoft".into(),
                product: "windows".into(),
                name: "Windows".into(),
            }],
        };
        s.file_advisories(&[
            ("cve5:CVE-2021-34527".into(), refiling.clone()),
            ("cve5:CVE-1999-0001".into(), refiling), // no such record: skipped
        ])
        .await
        .unwrap();
        assert_eq!(s.advisories_not_filed_count("t1").await.unwrap(), 0, "{b:?}");
        let win = s.advisories_filed_under(&ids(&[("microsoft", "windows")]), "t1").await.unwrap();
        assert_eq!(win.len(), 1, "{b:?}");

        // A changed record's old filing goes with it; an unchanged record
        // filed with a new table is filed again.
        let mut forti2 = row("cve5:CVE-2024-21762", "vulnerability", "forti-v2");
        filed(&mut forti2, "t1", &[("fortinet", "fortiproxy", "FortiProxy")]);
        let mut pan_t2 = row("cve5:CVE-2024-3400", "vulnerability", "pan");
        filed(&mut pan_t2, "t2", &[("paloaltonetworks", "pan_os", "PAN-OS")]);
        let w = s.upsert_advisories(&[forti2, pan_t2]).await.unwrap();
        assert_eq!(w, AdvisoryWrite { added: 0, updated: 1, unchanged: 1 }, "{b:?}");
        let fos = s.advisories_filed_under(&ids(&[("fortinet", "fortios")]), "t1").await.unwrap();
        assert_eq!(fos.len(), 1, "{b:?}: only the NVD record is still FortiOS: {fos:?}");
        let pan_os = ids(&[("paloaltonetworks", "pan_os")]);
        let pan = s.advisories_filed_under(&pan_os, "t2").await.unwrap();
        assert_eq!(pan.len(), 1, "{b:?}");

        // By key and by CVE, in key order; sources counted.
        let by_cve = s.advisories_by_cve("vulnerability", &["CVE-2024-21762".into()]).await;
        let by_cve: Vec<String> = by_cve.unwrap().into_iter().map(|r| r.key).collect();
        assert_eq!(by_cve, ["cve5:CVE-2024-21762", "nvd:CVE-2024-21762"], "{b:?}");
        let by_key = s
            .advisories_by_key(&["nvd:CVE-2024-21762".into(), "kev:CVE-2024-21762".into()])
            .await
            .unwrap();
        assert_eq!(by_key[0].key, "kev:CVE-2024-21762", "{b:?}");
        assert_eq!(by_key.len(), 2, "{b:?}");
        let sources = s.advisory_sources().await.unwrap();
        let sources: Vec<(&str, &str, u64)> =
            sources.iter().map(|(k, s, n)| (k.as_str(), s.as_str(), *n)).collect();
        assert_eq!(
            sources,
            [
                ("epss", "epss", 1),
                ("kev", "kev", 1),
                ("vulnerability", "cve5", 3),
                ("vulnerability", "nvd", 1)
            ],
            "{b:?}"
        );
    }
}
