//! Reports: the ranked findings as JSON, CSV and a printable HTML page.
//!
//! A [`Report`] is plain data the caller assembles: when it was made
//! (`generated_at`, injected so that the same input gives the same bytes —
//! the library never reads the clock), what was read, and the findings
//! already in priority order ([`crate::priority::rank`]). Each writer turns
//! it into one format:
//!
//! * [`json::render`] — `{"generated_at", "inventory", "feeds", "summary",
//!   "findings"}`, pretty-printed, keys in a fixed order.
//! * [`csv::render`] — one row per finding, for spreadsheets (UTF-8 with a
//!   byte-order mark so Japanese Excel opens it as UTF-8; cells that a
//!   spreadsheet would read as a formula are defused).
//! * [`html::render`] — one self-contained page (inline CSS, no script, no
//!   external resources) for the hospital director: a one-page summary with
//!   the top actions in plain words, then every finding.

pub mod csv;
pub mod html;
pub mod json;

use serde::Serialize;

use crate::matching::{AssetRef, Finding, MatchStatus};
use crate::model::Severity;

/// The language a page is written in first; the other appears alongside
/// headings where that helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Japanese first, English alongside (the default).
    #[default]
    Ja,
    /// English first, Japanese alongside.
    En,
}

impl Lang {
    /// The HTML `lang` attribute value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// What was read from the hospital's side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InventorySummary {
    /// Inventory items read (devices and software components) and assessed.
    pub items_read: usize,
    /// The files or systems they came from (`ledger.csv`, `sensor`, …).
    pub sources: Vec<String>,
}

/// What one advisory source contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedCount {
    /// The source (`nvd`, `cve5`, `csaf`, `kev`, `epss`, or a file name).
    pub source: String,
    /// Vulnerability records read.
    pub vulnerabilities: usize,
    /// KEV catalogue entries read.
    pub kev_entries: usize,
    /// EPSS scores read.
    pub epss_scores: usize,
}

/// What was read from the advisory side, per source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedSummary {
    /// One entry per source, in the caller's order.
    pub sources: Vec<FeedCount>,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// When the assessment ran, RFC 3339 (`2026-03-01T09:00:00+09:00`),
    /// given by the caller.
    pub generated_at: String,
    /// The language the HTML page is written in first.
    pub lang: Lang,
    /// The inventory read.
    pub inventory: InventorySummary,
    /// The advisories read.
    pub feeds: FeedSummary,
    /// The findings, already ranked (priority 1 first).
    pub findings: Vec<Finding>,
}

/// Findings by match status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// The version is in an affected range.
    pub affected: usize,
    /// The product matches; the version could not decide.
    pub possibly_affected: usize,
    /// Checked and outside every affected range.
    pub not_affected: usize,
}

/// Findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// CVSS 9.0–10.0.
    pub critical: usize,
    /// CVSS 7.0–8.9.
    pub high: usize,
    /// CVSS 4.0–6.9.
    pub medium: usize,
    /// CVSS 0.1–3.9.
    pub low: usize,
    /// CVSS 0.0.
    pub none: usize,
    /// No score known.
    pub unknown: usize,
}

/// The counts at the top of every report.
///
/// `by_status` counts every finding; the other counts leave out findings
/// that are *not affected* (they need no action), so "known exploited: 2"
/// means two findings that need action and are in the KEV catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Inventory items assessed.
    pub assets_assessed: usize,
    /// Findings in the report (every status).
    pub findings: usize,
    /// Findings by status.
    pub by_status: StatusCounts,
    /// Distinct assets with at least one affected or possibly affected finding.
    pub assets_with_findings: usize,
    /// Affected or possibly affected findings in CISA's KEV catalogue.
    pub known_exploited: usize,
    /// Of those, the ones KEV says are used by ransomware.
    pub ransomware: usize,
    /// Affected or possibly affected findings on remote-access or
    /// internet-facing assets.
    pub exposed: usize,
    /// Affected or possibly affected findings by severity.
    pub by_severity: SeverityCounts,
}

impl Summary {
    /// Count `report`'s findings.
    pub fn of(report: &Report) -> Self {
        let mut s = Summary {
            assets_assessed: report.inventory.items_read,
            findings: report.findings.len(),
            ..Summary::default()
        };
        let mut assets: Vec<&str> = Vec::new();
        for f in &report.findings {
            match f.status {
                MatchStatus::Affected => s.by_status.affected += 1,
                MatchStatus::PossiblyAffected => s.by_status.possibly_affected += 1,
                MatchStatus::NotAffected => {
                    s.by_status.not_affected += 1;
                    continue;
                }
            }
            assets.push(&f.asset_ref.id);
            s.known_exploited += usize::from(f.known_exploited);
            s.ransomware += usize::from(f.known_exploited && f.ransomware);
            s.exposed += usize::from(f.remote_path || f.internet_facing);
            let slot = match f.severity {
                Severity::Critical => &mut s.by_severity.critical,
                Severity::High => &mut s.by_severity.high,
                Severity::Medium => &mut s.by_severity.medium,
                Severity::Low => &mut s.by_severity.low,
                Severity::None => &mut s.by_severity.none,
                Severity::Unknown => &mut s.by_severity.unknown,
            };
            *slot += 1;
        }
        assets.sort_unstable();
        assets.dedup();
        s.assets_with_findings = assets.len();
        s
    }
}

/// One thing to do, in plain words, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// The finding's priority.
    pub priority: u32,
    /// English (`Update 'vpn-gw-1' (Fortinet FortiOS 7.0.12): known-exploited
    /// CVE-2024-21762; fixed in 7.0.14.`).
    pub en: String,
    /// Japanese.
    pub ja: String,
}

/// The first `n` actions: the highest-ranked findings that are affected or
/// possibly affected, each said as an instruction.
pub fn top_actions(report: &Report, n: usize) -> Vec<Action> {
    report
        .findings
        .iter()
        .filter(|f| f.status != MatchStatus::NotAffected)
        .take(n)
        .map(action)
        .collect()
}

/// Vendor, product and version as one phrase, without repeating a vendor
/// the product name already starts with (`OpenSSL 3.0.7`, not
/// `OpenSSL OpenSSL 3.0.7`).
pub(crate) fn describe(a: &AssetRef) -> String {
    let product = a.product.as_deref().unwrap_or("");
    let vendor = a
        .vendor
        .as_deref()
        .filter(|v| !product.to_lowercase().starts_with(&v.to_lowercase()) || product.is_empty());
    [vendor, a.product.as_deref(), a.version.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn action(f: &Finding) -> Action {
    let what = describe(&f.asset_ref);
    let what_en = if what.is_empty() { String::new() } else { format!(" ({what})") };
    let what_ja = if what.is_empty() { String::new() } else { format!("（{what}）") };
    let affected = f.status == MatchStatus::Affected;

    let mut en = format!(
        "{} '{}'{}: ",
        if affected { "Update" } else { "Check the version of" },
        f.asset,
        what_en
    );
    let mut ja = format!("「{}」{}", f.asset, what_ja);
    ja.push_str(if affected { "は" } else { "に" });
    if f.known_exploited {
        en.push_str("known-exploited ");
        ja.push_str("悪用が確認されている");
    }
    ja.push(' ');
    en.push_str(&f.cve);
    ja.push_str(&f.cve);
    if f.ransomware {
        en.push_str(" (used by ransomware)");
        ja.push_str("（ランサムウェアで使用）");
    }
    if affected {
        ja.push_str(" の影響を受けます。更新してください");
    } else {
        en.push_str(", possibly affected");
        ja.push_str(" の影響の可能性があります。バージョンを確認してください");
    }
    match f.fix.as_deref() {
        // A version ("7.0.14", "v2.4") reads "fixed in"; vendor text reads "fix:".
        Some(fix)
            if fix.trim_start_matches(['v', 'V']).starts_with(|c: char| c.is_ascii_digit()) =>
        {
            en.push_str(&format!("; fixed in {fix}."));
            ja.push_str(&format!("（修正版: {fix}）。"));
        }
        Some(fix) => {
            en.push_str(&format!("; fix: {fix}."));
            ja.push_str(&format!("（対処: {fix}）。"));
        }
        None => {
            en.push_str("; no fix recorded, ask the vendor.");
            ja.push_str("（修正情報なし、ベンダーに確認）。");
        }
    }
    Action { priority: f.priority, en, ja }
}

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references,
/// safe inside HTML text and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_html_escapes_the_five() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape_html("医療 ok"), "医療 ok");
    }
}
