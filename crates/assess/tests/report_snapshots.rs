//! Snapshots of the report (JSON, CSV, HTML) and checklist (JSON, HTML)
//! for a fixed input, plus the escaping and formula-injection guards.

mod report_support;

use report_support::{GENERATED_AT, evidence, report};
use sekimori_assess::checklist::{self, Verdict};
use sekimori_assess::report::{self, Lang, Summary, csv, html, json};

#[test]
fn the_vpn_appliance_ranks_first() {
    let r = report(Lang::Ja);
    assert_eq!(r.findings[0].asset, "vpn-gw-1");
    assert_eq!(r.findings[0].priority, 1);
    let order: Vec<_> = r.findings.iter().map(|f| f.asset.as_str()).collect();
    assert_eq!(
        order,
        ["vpn-gw-1", "mail-gw", "dc-01", "pacs-viewer-3", "ECG cart, 3F ward", "vpn-gw-2"]
    );
}

#[test]
fn summary_counts() {
    let s = Summary::of(&report(Lang::Ja));
    insta::assert_json_snapshot!("summary", s);
    assert_eq!(s.by_status.affected, 3);
    assert_eq!(s.by_status.possibly_affected, 2);
    assert_eq!(s.by_status.not_affected, 1);
    assert_eq!(s.known_exploited, 3, "the patched Ivanti is not counted");
    assert_eq!(s.ransomware, 2);
    assert_eq!(s.assets_with_findings, 5);
}

#[test]
fn json_report() {
    let out = json::render(&report(Lang::Ja));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    // serde_json without preserve_order sorts object keys when parsing, so
    // check the writer's own order on the text.
    let pos = |k: &str| out.find(&format!("\"{k}\":")).unwrap();
    assert!(pos("generated_at") < pos("summary") && pos("summary") < pos("findings"), "{keys:?}");
    for f in v["findings"].as_array().unwrap() {
        for k in ["asset", "cve", "known_exploited", "severity", "why", "why_ja", "status", "fix"] {
            assert!(f.get(k).is_some(), "finding lacks {k}: {f}");
        }
    }
    insta::assert_snapshot!("report_json", out);
}

#[test]
fn csv_report() {
    let out = csv::render(&report(Lang::Ja));
    assert!(out.starts_with(csv::BOM), "UTF-8 BOM first");
    let body = &out[csv::BOM.len()..];
    assert!(body.starts_with(&csv::COLUMNS.join(",")));
    // RFC 4180: every record ends in CRLF.
    assert!(body.ends_with("\r\n"));
    assert_eq!(body.matches("\r\n").count(), body.matches('\n').count());
    assert_eq!(body.matches("\r\n").count(), 1 + 6);
    // A field with a comma is quoted.
    assert!(body.contains(",\"ECG cart, 3F ward\","), "{body}");
    insta::assert_snapshot!("report_csv", body.replace("\r\n", "\n"));
}

#[test]
fn csv_defuses_formula_injection() {
    let mut r = report(Lang::Ja);
    r.findings[0].asset = "=HYPERLINK(\"http://evil.example\",\"x\")".into();
    r.findings[1].asset = "+cmd|' /C calc'!A0".into();
    r.findings[2].asset = "-1+2".into();
    r.findings[3].asset = "@SUM(A1:A2)".into();
    r.findings[4].asset = "\tlooks empty".into();
    r.findings[5].fix = Some("\r=1".into());
    let out = csv::render(&r);
    let mut rd = ::csv::Reader::from_reader(&out.as_bytes()[csv::BOM.len()..]);
    let rows: Vec<::csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][1], "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(&rows[1][1], "'+cmd|' /C calc'!A0");
    assert_eq!(&rows[2][1], "'-1+2");
    assert_eq!(&rows[3][1], "'@SUM(A1:A2)");
    assert_eq!(&rows[4][1], "'\tlooks empty");
    assert_eq!(&rows[5][16], "'\r=1");
    for row in &rows {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "undefused cell {cell:?}");
        }
    }
}

#[test]
fn html_report_ja() {
    let out = html::render(&report(Lang::Ja));
    assert!(out.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
    assert!(!out.contains("<script"), "no script");
    assert!(!out.contains("http://") && !out.contains("https://"), "no external resources");
    assert!(out.contains("@media print"));
    // The summary comes before the details.
    assert!(out.find("id=\"summary\"").unwrap() < out.find("id=\"details\"").unwrap());
    assert!(out.contains(
        "「vpn-gw-1」（Fortinet FortiOS 7.0.12）は悪用が確認されている CVE-2024-21762 の影響を受けます。更新してください（修正版: 7.0.14）。"
    ));
    assert!(out.contains(
        "Update &#39;vpn-gw-1&#39; (Fortinet FortiOS 7.0.12): known-exploited CVE-2024-21762; fixed in 7.0.14."
    ));
    insta::assert_snapshot!("report_html_ja", out);
}

#[test]
fn html_report_en_puts_english_first() {
    let out = html::render(&report(Lang::En));
    assert!(out.contains("<html lang=\"en\">"));
    assert!(out.contains("<h2>Summary <span class=\"alt\">概要</span></h2>"));
    insta::assert_snapshot!("report_html_en", out);
}

#[test]
fn html_escapes_hostile_input() {
    let mut r = report(Lang::Ja);
    r.findings[0].asset = "<script>alert(1)</script>".into();
    r.findings[0].asset_ref.name = r.findings[0].asset.clone();
    r.findings[0].why = "\"><img src=x onerror=alert(2)>".into();
    r.findings[0].fix = Some("</td></tr></table><script>alert(3)</script>".into());
    r.generated_at = "<b>now</b>".into();
    r.inventory.sources = vec!["<iframe src=//evil>".into()];
    let out = html::render(&r);
    assert!(!out.contains("<script"), "{out}");
    assert!(!out.contains("<img"));
    assert!(!out.contains("<iframe"));
    assert!(!out.contains("<b>now"));
    assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(out.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(out.contains("<title>脆弱性評価レポート / Vulnerability assessment report (&lt;b&gt;now&lt;/b&gt;)</title>"));
}

#[test]
fn html_without_findings() {
    let mut r = report(Lang::Ja);
    r.findings.clear();
    let out = html::render(&r);
    assert!(out.contains("対応が必要な所見はありません。"));
    assert!(out.contains("所見はありません。"));
    assert!(report::top_actions(&r, 5).is_empty());
}

#[test]
fn top_actions_are_the_first_five_needing_action() {
    let a = report::top_actions(&report(Lang::Ja), 5);
    let prios: Vec<u32> = a.iter().map(|a| a.priority).collect();
    assert_eq!(prios, [1, 2, 3, 4, 5], "the not-affected Ivanti ranks last (6)");
    assert_eq!(
        a[1].en,
        "Check the version of 'mail-gw' (Citrix NetScaler ADC): known-exploited CVE-2023-4966 (used by ransomware), possibly affected; no fix recorded, ask the vendor."
    );
}

#[test]
fn checklist_json_and_html() {
    let answers = checklist::answer(&checklist::builtin(), &evidence());
    let c = checklist::counts(&answers);
    assert_eq!((c.yes, c.no, c.review), (1, 3, answers.len() - 4), "{answers:#?}");
    let by_id = |id: &str| answers.iter().find(|a| a.id == id).unwrap();
    assert_eq!(by_id("r6-2-1").answer, Verdict::No, "3 devices missing from the ledger");
    assert_eq!(by_id("r6-2-2").answer, Verdict::Yes);
    assert_eq!(by_id("r6-2-7").answer, Verdict::No, "unpatched known-exploited");
    assert_eq!(by_id("r7-2-mfa").answer, Verdict::No, "users without MFA");
    assert_eq!(by_id("r6-2-6").answer, Verdict::NeedsReview);
    assert_eq!(by_id("r6-2-7").answer_ja, "いいえ");
    insta::assert_snapshot!("checklist_json", checklist::to_json(&answers));
    let page = checklist::to_html(&answers, GENERATED_AT, Lang::Ja);
    assert!(!page.contains("<script") && page.contains("&lt;unknown 10.9.9.9&gt;"));
    insta::assert_snapshot!("checklist_html", page);
}
