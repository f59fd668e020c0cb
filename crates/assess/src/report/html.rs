//! The report as one printable HTML page, for the hospital director.
//!
//! First a one-page summary — how many assets were assessed, how many
//! findings need action, how many are known-exploited, and the top five
//! actions in plain words in Japanese and English — then, from a new
//! printed page, every finding in priority order with status, confidence,
//! why and fix.
//!
//! The page is self-contained: inline CSS only, no script, no external
//! resource (a `Content-Security-Policy` meta tag forbids them, so even a
//! mistake in escaping could not run a script); A4 with page breaks for
//! print.
//!
//! It is written by hand, not with a template engine: the page is small,
//! a hand-written writer adds no dependency or build-time macro, and every
//! value from input passes through one function,
//! [`super::escape_html`], which the tests exercise with
//! hostile input.

use std::fmt::Write as _;

use super::{Lang, Report, Summary, describe, escape_html, top_actions};
use crate::matching::{Confidence, Finding, MatchStatus};
use crate::model::Severity;

/// Shared style for the report and the checklist pages.
pub(crate) const CSS: &str = r#"
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Hiragino Sans", "Yu Gothic", "Noto Sans CJK JP", "Noto Sans JP", Meiryo, sans-serif;
  font-size: 10.5pt; line-height: 1.5; color: #111; margin: 0 auto; max-width: 190mm; padding: 8mm 0; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 13.5pt; border-bottom: 2px solid #234; padding-bottom: 1mm; margin: 6mm 0 3mm; }
h3 { font-size: 11.5pt; margin: 5mm 0 2mm; }
.alt { color: #555; font-weight: normal; font-size: 0.85em; }
.meta { color: #444; margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 1.2mm 1.6mm; vertical-align: top; text-align: left; }
th { background: #e8edf2; }
table.counts td.n { text-align: right; font-size: 14pt; font-weight: bold; width: 28mm; }
table.findings { font-size: 8.5pt; }
table.findings td.why { width: 38%; }
ol.actions li { margin-bottom: 2.5mm; }
.badge { display: inline-block; border-radius: 2px; padding: 0 1mm; font-size: 0.8em; font-weight: bold; }
.kev { background: #b00020; color: #fff; }
.rw { background: #5a0010; color: #fff; }
.st-affected { color: #b00020; font-weight: bold; }
.st-possibly_affected { color: #8a5a00; font-weight: bold; }
.st-not_affected { color: #2e6b2e; }
.ans-yes { color: #2e6b2e; font-weight: bold; }
.ans-no { color: #b00020; font-weight: bold; }
.ans-needs_review { color: #8a5a00; font-weight: bold; }
.note { color: #444; font-size: 9pt; }
table.findings .note { font-size: 0.9em; }
footer { margin-top: 6mm; color: #666; font-size: 8.5pt; }
@media print {
  body { padding: 0; max-width: none; }
  .page-break { break-before: page; page-break-before: always; }
  tr, li { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"#;

/// `ja` and `en`, escaped, the page's language first and the other
/// alongside in a quieter style.
pub(crate) fn bi(lang: Lang, ja: &str, en: &str) -> String {
    let (a, b) = match lang {
        Lang::Ja => (ja, en),
        Lang::En => (en, ja),
    };
    format!("{} <span class=\"alt\">{}</span>", escape_html(a), escape_html(b))
}

/// A whole page around `body` (already HTML). `title` is plain text.
pub(crate) fn page(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        lang = lang.code(),
        title = escape_html(title),
    )
}

/// The page title: `脆弱性評価レポート / Vulnerability assessment report (<generated_at>)`.
pub fn title(report: &Report) -> String {
    format!("脆弱性評価レポート / Vulnerability assessment report ({})", report.generated_at)
}

fn status_label(s: MatchStatus) -> (&'static str, &'static str) {
    let en = match s {
        MatchStatus::Affected => "affected",
        MatchStatus::PossiblyAffected => "possibly affected",
        MatchStatus::NotAffected => "not affected",
    };
    (s.ja(), en)
}

fn confidence_label(c: Confidence) -> (&'static str, &'static str) {
    match c {
        Confidence::High => ("高", "high"),
        Confidence::Medium => ("中", "medium"),
        Confidence::Low => ("低", "low"),
    }
}

/// Japanese severity words as JVN uses them.
fn severity_label(s: Severity) -> (&'static str, &'static str) {
    match s {
        Severity::Critical => ("緊急", "critical"),
        Severity::High => ("重要", "high"),
        Severity::Medium => ("警告", "medium"),
        Severity::Low => ("注意", "low"),
        Severity::None => ("なし", "none"),
        Severity::Unknown => ("不明", "unknown"),
    }
}

fn count_row(out: &mut String, lang: Lang, id: &str, ja: &str, en: &str, n: usize) {
    let _ =
        writeln!(out, "<tr><th>{}</th><td class=\"n\" id=\"{id}\">{n}</td></tr>", bi(lang, ja, en));
}

fn summary_section(out: &mut String, report: &Report, s: &Summary) {
    let lang = report.lang;
    let _ = writeln!(out, "<section id=\"summary\">");
    let _ = writeln!(out, "<h2>{}</h2>", bi(lang, "概要", "Summary"));
    let _ = writeln!(out, "<table class=\"counts\">");
    count_row(out, lang, "count-assets", "評価した資産", "Assets assessed", s.assets_assessed);
    count_row(
        out,
        lang,
        "count-affected",
        "影響ありの所見",
        "Affected findings",
        s.by_status.affected,
    );
    count_row(
        out,
        lang,
        "count-possibly",
        "影響の可能性がある所見",
        "Possibly affected findings",
        s.by_status.possibly_affected,
    );
    count_row(
        out,
        lang,
        "count-kev",
        "うち既知の悪用あり（CISA KEV）",
        "Of these, known exploited (CISA KEV)",
        s.known_exploited,
    );
    count_row(
        out,
        lang,
        "count-ransomware",
        "うちランサムウェアでの使用あり",
        "Of these, used by ransomware",
        s.ransomware,
    );
    count_row(
        out,
        lang,
        "count-exposed",
        "うちリモートアクセス・インターネット接続機器",
        "Of these, on remote-access or internet-facing devices",
        s.exposed,
    );
    count_row(
        out,
        lang,
        "count-assets-affected",
        "対応が必要な資産",
        "Assets needing action",
        s.assets_with_findings,
    );
    let _ = writeln!(out, "</table>");

    let actions = top_actions(report, 5);
    let _ =
        writeln!(out, "<h3>{}</h3>", bi(lang, "最優先の対応（上位5件）", "Top actions (first 5)"));
    if actions.is_empty() {
        let _ = writeln!(
            out,
            "<p id=\"actions\">{}</p>",
            bi(lang, "対応が必要な所見はありません。", "No finding needs action.")
        );
    } else {
        let _ = writeln!(out, "<ol class=\"actions\" id=\"actions\">");
        for a in &actions {
            let (first, second) = match lang {
                Lang::Ja => (&a.ja, &a.en),
                Lang::En => (&a.en, &a.ja),
            };
            let _ = writeln!(
                out,
                "<li>{}<br><span class=\"alt\">{}</span></li>",
                escape_html(first),
                escape_html(second)
            );
        }
        let _ = writeln!(out, "</ol>");
    }

    let _ = writeln!(out, "<h3>{}</h3>", bi(lang, "評価の範囲", "What was assessed"));
    let _ = writeln!(out, "<p class=\"note\">");
    let sources = if report.inventory.sources.is_empty() {
        "—".to_owned()
    } else {
        report.inventory.sources.join(", ")
    };
    let _ = writeln!(
        out,
        "{}: {}<br>",
        bi(lang, "資産の出典", "Inventory sources"),
        escape_html(&sources)
    );
    let feeds: Vec<String> = report
        .feeds
        .sources
        .iter()
        .map(|f| {
            format!(
                "{} ({} / KEV {} / EPSS {})",
                f.source, f.vulnerabilities, f.kev_entries, f.epss_scores
            )
        })
        .collect();
    let feeds = if feeds.is_empty() { "—".to_owned() } else { feeds.join(", ") };
    let _ = writeln!(
        out,
        "{}: {}",
        bi(
            lang,
            "脆弱性情報（件数: 脆弱性 / KEV / EPSS）",
            "Advisories (vulnerabilities / KEV / EPSS)"
        ),
        escape_html(&feeds)
    );
    let _ = writeln!(out, "</p>");
    let _ = writeln!(out, "</section>");
}

fn finding_row(out: &mut String, lang: Lang, f: &Finding) {
    let a = &f.asset_ref;
    let what = describe(a);
    let (st_ja, st_en) = status_label(f.status);
    let (co_ja, co_en) = confidence_label(f.confidence);
    let (sv_ja, sv_en) = severity_label(f.severity);
    let mut badges = String::new();
    if f.known_exploited {
        badges.push_str(" <span class=\"badge kev\">KEV</span>");
    }
    if f.ransomware {
        badges.push_str(" <span class=\"badge rw\">ransomware</span>");
    }
    let cvss = f.cvss.map(|v| format!(" {v}")).unwrap_or_default();
    let (why1, why2) = match lang {
        Lang::Ja => (&f.why_ja, &f.why),
        Lang::En => (&f.why, &f.why_ja),
    };
    let (pr1, pr2) = match lang {
        Lang::Ja => (&f.priority_reason_ja, &f.priority_reason),
        Lang::En => (&f.priority_reason, &f.priority_reason_ja),
    };
    let fix = f.fix.as_deref().unwrap_or("—");
    let due = f
        .kev_due_date
        .as_deref()
        .map(|d| {
            format!(
                "<br><span class=\"note\">{}: {}</span>",
                bi(lang, "KEV対応期限", "KEV due"),
                escape_html(d)
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<tr class=\"finding\"><td>{prio}</td><td><strong>{asset}</strong><br>{what}<br><span class=\"note\">{ips}</span></td>\
         <td>{cve}{badges}{due}</td><td class=\"st-{st}\">{status}</td><td>{conf}</td><td>{sev}{cvss}</td>\
         <td class=\"why\">{why1}<br><span class=\"alt\">{why2}</span><br><span class=\"note\">{pr1} / {pr2}</span></td><td>{fix}</td></tr>",
        prio = f.priority,
        asset = escape_html(&f.asset),
        what = escape_html(&what),
        ips = escape_html(&a.ips.join(", ")),
        cve = escape_html(&f.cve),
        st = f.status.as_str(),
        status = bi(lang, st_ja, st_en),
        conf = bi(lang, co_ja, co_en),
        sev = bi(lang, sv_ja, sv_en),
        cvss = escape_html(&cvss),
        why1 = escape_html(why1),
        why2 = escape_html(why2),
        pr1 = escape_html(pr1),
        pr2 = escape_html(pr2),
        fix = escape_html(fix),
    );
}

fn details_section(out: &mut String, report: &Report) {
    let lang = report.lang;
    let _ = writeln!(out, "<section id=\"details\" class=\"page-break\">");
    let _ = writeln!(
        out,
        "<h2>{}</h2>",
        bi(lang, "所見一覧（優先順）", "All findings (priority order)")
    );
    if report.findings.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", bi(lang, "所見はありません。", "No findings."));
        let _ = writeln!(out, "</section>");
        return;
    }
    let _ = writeln!(out, "<table class=\"findings\">\n<thead><tr>");
    for (ja, en) in [
        ("順位", "#"),
        ("資産", "Asset"),
        ("脆弱性", "Vulnerability"),
        ("状態", "Status"),
        ("確度", "Confidence"),
        ("深刻度", "Severity"),
        ("理由", "Why"),
        ("修正", "Fix"),
    ] {
        let _ = write!(out, "<th>{}</th>", bi(lang, ja, en));
    }
    let _ = writeln!(out, "</tr></thead>\n<tbody>");
    for f in &report.findings {
        finding_row(out, lang, f);
    }
    let _ = writeln!(out, "</tbody>\n</table>");
    let _ = writeln!(out, "</section>");
}

/// The report as one HTML page.
pub fn render(report: &Report) -> String {
    let lang = report.lang;
    let summary = Summary::of(report);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">{}: {}</p>\n</header>",
        bi(lang, "脆弱性評価レポート", "Vulnerability assessment report"),
        bi(lang, "作成日時", "Generated"),
        escape_html(&report.generated_at)
    );
    summary_section(&mut body, report, &summary);
    details_section(&mut body, report);
    let _ = writeln!(
        body,
        "<footer>sekimori — {}</footer>",
        bi(
            lang,
            "この報告は台帳・センサーの資産情報と公開脆弱性情報の照合結果です。「影響の可能性」はバージョンで判断できなかったものです。",
            "This report matches the ledger's and sensor's assets against public advisories. \"Possibly affected\" means the version could not decide."
        )
    );
    page(lang, &title(report), &body)
}
