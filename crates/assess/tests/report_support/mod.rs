//! A fixed report and checklist evidence for the snapshot and browser tests.

#![allow(dead_code, reason = "each test binary uses part of the fixture")]

use sekimori_assess::checklist::{AuditEvidence, Evidence, FindingsEvidence};
use sekimori_assess::matching::{AssetRef, Confidence, Finding, MatchStatus, MatchedBy};
use sekimori_assess::model::Severity;
use sekimori_assess::priority;
use sekimori_assess::report::{FeedCount, FeedSummary, InventorySummary, Lang, Report};
use sekimori_assess::version::Scheme;

pub const GENERATED_AT: &str = "2026-03-02T09:30:00+09:00";

struct F<'a> {
    id: &'a str,
    name: &'a str,
    vendor: Option<&'a str>,
    product: Option<&'a str>,
    version: Option<&'a str>,
    ips: &'a [&'a str],
    cve: &'a str,
    status: MatchStatus,
    confidence: Confidence,
    matched_by: MatchedBy,
    severity: Severity,
    cvss: Option<f32>,
    kev: bool,
    ransomware: bool,
    remote: bool,
    internet: bool,
}

fn finding(f: F<'_>) -> Finding {
    let s = |o: Option<&str>| o.map(str::to_owned);
    Finding {
        asset: f.name.to_owned(),
        asset_ref: AssetRef {
            id: f.id.to_owned(),
            name: f.name.to_owned(),
            vendor: s(f.vendor),
            product: s(f.product),
            version: s(f.version),
            ips: f.ips.iter().map(|i| (*i).to_owned()).collect(),
            source: "ledger.csv".to_owned(),
        },
        cve: f.cve.to_owned(),
        title: None,
        sources: if f.kev { vec!["nvd".into(), "kev".into()] } else { vec!["nvd".into()] },
        status: f.status,
        confidence: f.confidence,
        matched_by: f.matched_by,
        range: None,
        scheme: None,
        why: String::new(),
        why_ja: String::new(),
        known_exploited: f.kev,
        ransomware: f.ransomware,
        kev_due_date: f.kev.then(|| "2024-02-16".to_owned()),
        kev_required_action: f.kev.then(|| "Apply mitigations per vendor instructions.".to_owned()),
        severity: f.severity,
        cvss: f.cvss,
        cvss_vector: None,
        epss: None,
        fix: None,
        remote_path: f.remote,
        internet_facing: f.internet,
        priority: 0,
        priority_reason: String::new(),
        priority_reason_ja: String::new(),
    }
}

/// Six findings: a known-exploited FortiGate VPN (affected), a NetScaler
/// with a ransomware KEV entry but no version (possibly affected, low
/// confidence), a patched Ivanti VPN (not affected), a domain controller
/// with Zerologon (KEV, ransomware), OpenSSL on a PACS viewer, and an ECG
/// matched by name words (possibly affected).
pub fn findings() -> Vec<Finding> {
    let mut v = Vec::new();

    let mut f = finding(F {
        id: "A-001",
        name: "vpn-gw-1",
        vendor: Some("Fortinet"),
        product: Some("FortiOS"),
        version: Some("7.0.12"),
        ips: &["203.0.113.10", "10.0.0.1"],
        cve: "CVE-2024-21762",
        status: MatchStatus::Affected,
        confidence: Confidence::High,
        matched_by: MatchedBy::Name,
        severity: Severity::Critical,
        cvss: Some(9.8),
        kev: true,
        ransomware: false,
        remote: true,
        internet: true,
    });
    f.title = Some("FortiOS out-of-bound write in sslvpnd".into());
    f.range = Some("version 7.0.0 lessThan 7.0.14".into());
    f.scheme = Some(Scheme::FortiOs);
    f.why = "vendor and product match (Fortinet FortiOS); 7.0.12 is in 7.0.0 <= v < 7.0.14".into();
    f.why_ja =
        "ベンダー名と製品名が一致（Fortinet FortiOS）。7.0.12 は 7.0.0 以上 7.0.14 未満の範囲内"
            .into();
    f.fix = Some("7.0.14".into());
    f.epss = Some(0.9437);
    f.cvss_vector = Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into());
    v.push(f);

    let mut f = finding(F {
        id: "A-002",
        name: "mail-gw",
        vendor: Some("Citrix"),
        product: Some("NetScaler ADC"),
        version: None,
        ips: &["203.0.113.25"],
        cve: "CVE-2023-4966",
        status: MatchStatus::PossiblyAffected,
        confidence: Confidence::Low,
        matched_by: MatchedBy::KevProduct,
        severity: Severity::Critical,
        cvss: Some(9.4),
        kev: true,
        ransomware: true,
        remote: true,
        internet: true,
    });
    f.sources = vec!["kev".into()];
    f.why = "the KEV catalogue's vendor and product (no version data imported); the inventory gives no version".into();
    f.why_ja =
        "KEVカタログのベンダー名・製品名（バージョン情報なし）。台帳にバージョンの記載なし".into();
    v.push(f);

    let mut f = finding(F {
        id: "A-003",
        name: "vpn-gw-2",
        vendor: Some("Ivanti"),
        product: Some("Connect Secure"),
        version: Some("22.7R2.3"),
        ips: &["203.0.113.11"],
        cve: "CVE-2024-21887",
        status: MatchStatus::NotAffected,
        confidence: Confidence::High,
        matched_by: MatchedBy::Name,
        severity: Severity::Critical,
        cvss: Some(9.1),
        kev: true,
        ransomware: true,
        remote: true,
        internet: true,
    });
    f.scheme = Some(Scheme::Ivanti);
    f.range = Some("version 9.0 lessThan 22.7R2".into());
    f.why = "vendor and product match (Ivanti Connect Secure); 22.7R2.3 is not below 22.7R2".into();
    f.why_ja =
        "ベンダー名と製品名が一致（Ivanti Connect Secure）。22.7R2.3 は 22.7R2 未満ではない".into();
    f.fix = Some("22.7R2".into());
    v.push(f);

    let mut f = finding(F {
        id: "S-101",
        name: "dc-01",
        vendor: Some("Microsoft"),
        product: Some("Windows Server 2019"),
        version: Some("10.0.17763.1282"),
        ips: &["10.1.0.10"],
        cve: "CVE-2020-1472",
        status: MatchStatus::Affected,
        confidence: Confidence::High,
        matched_by: MatchedBy::Cpe,
        severity: Severity::Critical,
        cvss: Some(10.0),
        kev: true,
        ransomware: true,
        remote: false,
        internet: false,
    });
    f.scheme = Some(Scheme::Windows);
    f.range = Some("version 10.0.17763.0 lessThan 10.0.17763.1397".into());
    f.why = "CPE match (microsoft windows_server_2019); 10.0.17763.1282 < 10.0.17763.1397".into();
    f.why_ja =
        "CPE が一致（microsoft windows_server_2019）。10.0.17763.1282 は 10.0.17763.1397 未満"
            .into();
    f.fix = Some("10.0.17763.1397".into());
    f.epss = Some(0.9736);
    v.push(f);

    let mut f = finding(F {
        id: "S-230",
        name: "pacs-viewer-3",
        vendor: Some("OpenSSL"),
        product: Some("OpenSSL"),
        version: Some("3.0.7"),
        ips: &["10.2.3.40"],
        cve: "CVE-2023-0286",
        status: MatchStatus::Affected,
        confidence: Confidence::Medium,
        matched_by: MatchedBy::Purl,
        severity: Severity::High,
        cvss: Some(7.4),
        kev: false,
        ransomware: false,
        remote: false,
        internet: false,
    });
    f.scheme = Some(Scheme::Semver);
    f.range = Some(">= 3.0.0, < 3.0.8".into());
    f.why = "package URL match (pkg:generic/openssl); 3.0.7 is in 3.0.0 <= v < 3.0.8".into();
    f.why_ja = "パッケージURLが一致（pkg:generic/openssl）。3.0.7 は 3.0.0 以上 3.0.8 未満".into();
    f.fix = Some("3.0.8".into());
    v.push(f);

    let mut f = finding(F {
        id: "M-007",
        name: "ECG cart, 3F ward",
        vendor: Some("Welch Allyn"),
        product: Some("ELI 280"),
        version: Some("see label"),
        ips: &[],
        cve: "CVE-2022-26388",
        status: MatchStatus::PossiblyAffected,
        confidence: Confidence::Medium,
        matched_by: MatchedBy::NameWords,
        severity: Severity::High,
        cvss: Some(7.2),
        kev: false,
        ransomware: false,
        remote: false,
        internet: false,
    });
    f.sources = vec!["csaf:ICSMA-22-167-01".into()];
    f.why = "product name words (not the exact name): ELI 280 in \"ELI 280/BUR280 Electrocardiograph\"; version \"see label\" cannot be compared".into();
    f.why_ja =
        "製品名の語の一致（完全一致ではない）: ELI 280。バージョン「see label」は比較できない"
            .into();
    f.fix = Some("Contact Baxter for the firmware update".into());
    v.push(f);

    priority::rank(&mut v);
    v
}

pub fn report(lang: Lang) -> Report {
    Report {
        generated_at: GENERATED_AT.to_owned(),
        lang,
        inventory: InventorySummary {
            items_read: 42,
            sources: vec!["ledger.csv".into(), "sensor".into(), "pacs-viewer.cdx.json".into()],
        },
        feeds: FeedSummary {
            sources: vec![
                FeedCount {
                    source: "nvd".into(),
                    vulnerabilities: 1830,
                    kev_entries: 0,
                    epss_scores: 0,
                },
                FeedCount {
                    source: "csaf".into(),
                    vulnerabilities: 12,
                    kev_entries: 0,
                    epss_scores: 0,
                },
                FeedCount {
                    source: "kev".into(),
                    vulnerabilities: 0,
                    kev_entries: 1239,
                    epss_scores: 0,
                },
                FeedCount {
                    source: "epss".into(),
                    vulnerabilities: 0,
                    kev_entries: 0,
                    epss_scores: 250_000,
                },
            ],
        },
        findings: findings(),
    }
}

/// Evidence with a bit of everything: ledger gaps, a clean broker,
/// unpatched findings, a verified audit log.
pub fn evidence() -> Evidence {
    Evidence {
        ledger_items: Some(120),
        observed_assets: Some(131),
        observed_not_in_ledger: Some(vec![
            "ws-3f-17".into(),
            "printer-2f".into(),
            "<unknown 10.9.9.9>".into(),
        ]),
        remote_maintenance_assets: Some(vec!["ct-scanner-1".into(), "pacs-srv".into()]),
        unmanaged_remote_access: Some(vec![]),
        mfa_required_for_all_users: Some(true),
        users_without_mfa: Some(2),
        remote_access_via_broker_only: Some(true),
        audit_log: Some(AuditEvidence {
            records: 18_204,
            chain_verified: true,
            oldest: Some("2025-04-01T00:00:00+09:00".into()),
        }),
        findings: Some(FindingsEvidence::from_findings(&findings())),
        source_restriction_policy: None,
        inactive_accounts: Some(0),
        unneeded_ports: None,
    }
}
