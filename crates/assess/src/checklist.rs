//! The Ministry of Health checklist (厚生労働省「医療機関におけるサイバー
//! セキュリティ対策チェックリスト」), answered from evidence.
//!
//! The items live in `data/mhlw_checklist.toml` (built in: [`builtin`]):
//! the 令和6年度 (R6, 2024) hospital sheet and the items the 令和7年度 (R7,
//! 2025) revision added. The file's header says which wordings were seen in
//! print and where, and which are paraphrased.
//!
//! The caller fills an [`Evidence`] with what sekimori knows — `None` means
//! "no evidence", never "no" — and [`answer`] answers each item:
//!
//! * **はい (yes)** only when the evidence proves it for the item's scope
//!   (the ledger exists *and* every device the sensor saw is in it);
//! * **いいえ (no)** when the evidence disproves it (devices missing from the
//!   ledger, affected vulnerabilities unpatched, users without two-factor
//!   authentication, remote access outside the broker);
//! * **要確認 (needs review)** otherwise, saying what a person must check.
//!   Evidence that covers only part of an item's scope (sekimori's own
//!   accounts and logs, not the electronic health record's) never makes a
//!   yes. Items sekimori has no evidence for say so, in both languages.
//!
//! [`to_json`] and [`to_html`] write the answers.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::matching::{Finding, MatchStatus};
use crate::model::Severity;
use crate::report::Lang;
use crate::report::escape_html;
use crate::report::html::{bi, page};

/// The checklist data built into the crate.
pub const DATA: &str = include_str!("../data/mhlw_checklist.toml");

/// Which edition of the checklist introduced an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Revision {
    /// 令和6年度版 (May 2024).
    R6,
    /// Added by 令和7年度版 (May 2025).
    R7,
}

/// The kind of evidence that can answer an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKey {
    /// Ledger vs. devices the sensor observed.
    Ledger,
    /// Assets in the access broker with maintenance ports; remote access
    /// seen outside it.
    RemoteMaintenance,
    /// Inactive accounts.
    Accounts,
    /// The audit log.
    AccessLog,
    /// Vulnerability findings.
    Patches,
    /// Unneeded listening ports and services.
    Services,
    /// Connection source restriction policy; remote access outside the broker.
    SourceRestriction,
    /// Two-factor authentication of users and remote access.
    Mfa,
}

/// Whether an item's Japanese text was seen as printed or paraphrased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wording {
    /// Seen as printed in a source named in the data file.
    Verified,
    /// Written from descriptions of the item; the printed text was not seen.
    Paraphrased,
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// Our stable ID (`r6-2-1`).
    pub id: String,
    /// The number printed in the source (`2(1)`, `R7 ⑦`), when seen.
    #[serde(default)]
    pub official: Option<String>,
    /// The edition that introduced it.
    pub revision: Revision,
    /// Section 1, 2 or 3.
    pub section: u8,
    /// The item in Japanese.
    pub text_ja: String,
    /// Our English translation.
    pub text_en: String,
    /// The evidence that can answer it; `None`: people answer it.
    #[serde(default)]
    pub evidence: Option<EvidenceKey>,
    /// Verified or paraphrased wording.
    pub wording: Wording,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    item: Vec<ChecklistItem>,
}

/// Parse a checklist file in the format of `data/mhlw_checklist.toml`.
pub fn parse(text: &str) -> Result<Vec<ChecklistItem>, toml::de::Error> {
    Ok(toml::from_str::<File>(text)?.item)
}

/// The built-in items ([`DATA`]), in checklist order.
pub fn builtin() -> Vec<ChecklistItem> {
    // The built-in file is checked by this module's tests.
    parse(DATA).unwrap_or_default()
}

/// The section's name, Japanese and English.
pub fn section_name(section: u8) -> (&'static str, &'static str) {
    match section {
        1 => ("体制構築", "Organisation"),
        2 => ("医療情報システムの管理・運用", "Managing and operating medical information systems"),
        3 => ("インシデント発生に備えた対応", "Preparing for incidents"),
        _ => ("その他", "Other"),
    }
}

/// The audit log's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditEvidence {
    /// Records held.
    pub records: u64,
    /// The hash chain verified from the first record to the last.
    pub chain_verified: bool,
    /// The oldest record's time, RFC 3339.
    pub oldest: Option<String>,
}

/// Counts of the vulnerability findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FindingsEvidence {
    /// Findings whose version is in an affected range.
    pub affected: usize,
    /// Of those, in CISA's KEV catalogue.
    pub known_exploited_affected: usize,
    /// Of those, critical or high severity.
    pub critical_or_high_affected: usize,
    /// Findings whose version could not decide.
    pub possibly_affected: usize,
}

impl FindingsEvidence {
    /// Count `findings`.
    pub fn from_findings(findings: &[Finding]) -> Self {
        let mut e = FindingsEvidence::default();
        for f in findings {
            match f.status {
                MatchStatus::Affected => {
                    e.affected += 1;
                    e.known_exploited_affected += usize::from(f.known_exploited);
                    e.critical_or_high_affected +=
                        usize::from(matches!(f.severity, Severity::Critical | Severity::High));
                }
                MatchStatus::PossiblyAffected => e.possibly_affected += 1,
                MatchStatus::NotAffected => {}
            }
        }
        e
    }
}

/// What sekimori knows. Every field is optional: `None` means "no evidence"
/// and never counts as a no.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Devices in the hospital's ledger (`Some(0)`: a ledger with no devices).
    pub ledger_items: Option<usize>,
    /// Devices the sensor observed.
    pub observed_assets: Option<usize>,
    /// Observed devices not in the ledger, by name (`Some(vec![])`: compared,
    /// none missing).
    pub observed_not_in_ledger: Option<Vec<String>>,
    /// Assets registered in the access broker with maintenance ports.
    pub remote_maintenance_assets: Option<Vec<String>>,
    /// Remote-access or VPN traffic the sensor saw outside the broker
    /// (`Some(vec![])`: watched, none seen).
    pub unmanaged_remote_access: Option<Vec<String>>,
    /// The broker requires two-factor authentication of every user.
    pub mfa_required_for_all_users: Option<bool>,
    /// Broker users without a second factor enrolled.
    pub users_without_mfa: Option<usize>,
    /// Remote access is only possible through the broker (policy).
    pub remote_access_via_broker_only: Option<bool>,
    /// The audit log.
    pub audit_log: Option<AuditEvidence>,
    /// The vulnerability assessment.
    pub findings: Option<FindingsEvidence>,
    /// A connection source restriction policy is enforced.
    pub source_restriction_policy: Option<bool>,
    /// sekimori accounts unused beyond the inactivity limit.
    pub inactive_accounts: Option<usize>,
    /// Listening ports or services judged unneeded (`"pacs-1 tcp/23 telnet"`).
    pub unneeded_ports: Option<Vec<String>>,
}

/// An answer: はい, いいえ or 要確認.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// はい: the evidence proves it.
    Yes,
    /// いいえ: the evidence disproves it.
    No,
    /// 要確認: a person must check.
    NeedsReview,
}

impl Verdict {
    /// はい / いいえ / 要確認.
    pub fn ja(self) -> &'static str {
        match self {
            Verdict::Yes => "はい",
            Verdict::No => "いいえ",
            Verdict::NeedsReview => "要確認",
        }
    }

    /// Yes / No / Needs review.
    pub fn en(self) -> &'static str {
        match self {
            Verdict::Yes => "Yes",
            Verdict::No => "No",
            Verdict::NeedsReview => "Needs review",
        }
    }

    /// JSON spelling (`yes`, `no`, `needs_review`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::No => "no",
            Verdict::NeedsReview => "needs_review",
        }
    }
}

/// One answered item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The item's ID.
    pub id: String,
    /// The printed number, when known.
    pub official: Option<String>,
    /// The edition that introduced it.
    pub revision: Revision,
    /// Section number.
    pub section: u8,
    /// Section name, Japanese.
    pub section_ja: String,
    /// Section name, English.
    pub section_en: String,
    /// The item, Japanese.
    pub text_ja: String,
    /// The item, English.
    pub text_en: String,
    /// Verified or paraphrased wording.
    pub wording: Wording,
    /// The answer.
    pub answer: Verdict,
    /// The answer in Japanese (はい / いいえ / 要確認).
    pub answer_ja: String,
    /// The evidence named, or what a person must check, Japanese.
    pub evidence_ja: String,
    /// The same, English.
    pub evidence_en: String,
}

/// How many of each answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// はい.
    pub yes: usize,
    /// いいえ.
    pub no: usize,
    /// 要確認.
    pub review: usize,
}

/// Count `answers`.
pub fn counts(answers: &[Answer]) -> Counts {
    let mut c = Counts::default();
    for a in answers {
        match a.answer {
            Verdict::Yes => c.yes += 1,
            Verdict::No => c.no += 1,
            Verdict::NeedsReview => c.review += 1,
        }
    }
    c
}

/// At most ten names, then "and N more".
fn names(list: &[String]) -> (String, String) {
    const SHOWN: usize = 10;
    let head = list.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > SHOWN {
        let more = list.len() - SHOWN;
        (format!("{head} 他 {more} 件"), format!("{head} and {more} more"))
    } else {
        (head.clone(), head)
    }
}

struct Said {
    verdict: Verdict,
    ja: String,
    en: String,
}

fn said(verdict: Verdict, ja: impl Into<String>, en: impl Into<String>) -> Said {
    Said { verdict, ja: ja.into(), en: en.into() }
}

fn no_evidence() -> Said {
    said(
        Verdict::NeedsReview,
        "sekimori にはこの項目の証拠がありません。ご自身で確認して回答してください。",
        "sekimori has no evidence for this; answer it yourself.",
    )
}

fn ledger(ev: &Evidence) -> Said {
    let Some(ledger) = ev.ledger_items else {
        return said(
            Verdict::NeedsReview,
            "台帳が sekimori に読み込まれていません。台帳の有無と内容を確認してください。",
            "No ledger has been imported into sekimori; check that one exists and is complete.",
        );
    };
    let observed = ev.observed_assets.map(|n| n.to_string()).unwrap_or_else(|| "—".into());
    if let Some(missing) = ev.observed_not_in_ledger.as_deref().filter(|m| !m.is_empty()) {
        let (ja, en) = names(missing);
        return said(
            Verdict::No,
            format!(
                "台帳 {ledger} 件、センサー観測 {observed} 台、台帳にない機器 {} 台: {ja}",
                missing.len()
            ),
            format!(
                "Ledger {ledger} items, sensor observed {observed} devices, {} not in the ledger: {en}",
                missing.len()
            ),
        );
    }
    if ledger == 0 {
        return said(
            Verdict::No,
            "台帳に機器が 1 件もありません。",
            "The ledger lists no devices.",
        );
    }
    match (ev.observed_assets, ev.observed_not_in_ledger.as_deref()) {
        (Some(observed), Some([])) => said(
            Verdict::Yes,
            format!(
                "台帳 {ledger} 件、センサー観測 {observed} 台、観測した機器はすべて台帳に記載あり。"
            ),
            format!(
                "Ledger {ledger} items, sensor observed {observed} devices, every observed device is in the ledger."
            ),
        ),
        _ => said(
            Verdict::NeedsReview,
            format!(
                "台帳 {ledger} 件。センサーの観測と照合していないため、台帳に漏れがないか確認してください。"
            ),
            format!(
                "Ledger {ledger} items. Not compared with the sensor's observations; check the ledger is complete."
            ),
        ),
    }
}

fn unmanaged(ev: &Evidence) -> Option<(usize, String, String)> {
    ev.unmanaged_remote_access.as_deref().filter(|u| !u.is_empty()).map(|u| {
        let (ja, en) = names(u);
        (u.len(), ja, en)
    })
}

fn remote_maintenance(ev: &Evidence) -> Said {
    if let Some((n, ja, en)) = unmanaged(ev) {
        return said(
            Verdict::No,
            format!(
                "ブローカーを通らないリモートアクセス・VPN 通信を {n} 件観測: {ja}。保守事業者に確認してください。"
            ),
            format!(
                "Remote-access or VPN traffic outside the broker seen {n} times: {en}. Ask the maintenance vendors."
            ),
        );
    }
    match (&ev.remote_maintenance_assets, &ev.unmanaged_remote_access) {
        (Some(assets), Some(_)) => {
            let (ja, en) = names(assets);
            let ja = if assets.is_empty() { "なし".to_owned() } else { ja };
            let en = if assets.is_empty() { "none".to_owned() } else { en };
            said(
                Verdict::Yes,
                format!(
                    "ブローカーに登録された保守対象機器 {} 台: {ja}。ブローカー外のリモートアクセスは観測されていません。",
                    assets.len()
                ),
                format!(
                    "{} assets registered for maintenance in the broker: {en}. No remote access outside the broker was seen.",
                    assets.len()
                ),
            )
        }
        (Some(assets), None) => said(
            Verdict::NeedsReview,
            format!(
                "ブローカーに登録された保守対象機器 {} 台。センサーによる監視がないため、他にリモート保守の経路がないか事業者に確認してください。",
                assets.len()
            ),
            format!(
                "{} assets registered for maintenance in the broker. No sensor evidence; ask the vendors whether other remote maintenance paths exist.",
                assets.len()
            ),
        ),
        (None, _) => said(
            Verdict::NeedsReview,
            "ブローカーに保守対象機器が登録されていません。リモート保守を利用している機器を事業者に確認してください。",
            "No maintenance assets are registered in the broker; ask the vendors which devices use remote maintenance.",
        ),
    }
}

fn accounts(ev: &Evidence) -> Said {
    match ev.inactive_accounts {
        Some(n) if n > 0 => said(
            Verdict::No,
            format!(
                "sekimori で長期間使われていないアカウントが {n} 件あります。削除してください。"
            ),
            format!("{n} sekimori accounts have not been used for a long time; delete them."),
        ),
        Some(_) => said(
            Verdict::NeedsReview,
            "sekimori のアカウントに未使用のものはありません。電子カルテ等、他のシステムのアカウントを確認してください。",
            "No unused sekimori accounts. Check the accounts of the other systems (EHR and others).",
        ),
        None => no_evidence(),
    }
}

fn access_log(ev: &Evidence) -> Said {
    let Some(log) = &ev.audit_log else { return no_evidence() };
    let oldest = log.oldest.as_deref().unwrap_or("—");
    if !log.chain_verified {
        return said(
            Verdict::No,
            format!(
                "sekimori 監査ログ {} 件の改ざん検知チェーンを検証できませんでした。ログの欠落・改ざんを調査してください。",
                log.records
            ),
            format!(
                "The tamper-evident chain of sekimori's {} audit records did not verify; investigate missing or altered records.",
                log.records
            ),
        );
    }
    said(
        Verdict::NeedsReview,
        format!(
            "sekimori 監査ログ {} 件（最古 {oldest}）、改ざん検知チェーン検証済み。対象は sekimori 経由のアクセスのみです。サーバ・各システムのアクセスログの管理を確認してください。",
            log.records
        ),
        format!(
            "sekimori audit log: {} records (oldest {oldest}), chain verified. It covers access through sekimori only; check the access logs of the servers and other systems.",
            log.records
        ),
    )
}

fn patches(ev: &Evidence) -> Said {
    let Some(f) = ev.findings else { return no_evidence() };
    if f.affected > 0 {
        return said(
            Verdict::No,
            format!(
                "影響ありの脆弱性 {} 件（うち既知の悪用あり {} 件、緊急・重要 {} 件）が未対応です。",
                f.affected, f.known_exploited_affected, f.critical_or_high_affected
            ),
            format!(
                "{} affected vulnerabilities are unpatched ({} known exploited, {} critical or high).",
                f.affected, f.known_exploited_affected, f.critical_or_high_affected
            ),
        );
    }
    if f.possibly_affected > 0 {
        return said(
            Verdict::NeedsReview,
            format!(
                "影響ありの脆弱性はありませんが、バージョンで判断できない所見が {} 件あります。バージョンを確認してください。",
                f.possibly_affected
            ),
            format!(
                "No affected vulnerabilities, but {} findings could not be decided by version; check those versions.",
                f.possibly_affected
            ),
        );
    }
    said(
        Verdict::Yes,
        "照合した資産に影響ありの脆弱性はありません（台帳・センサーの資産と取り込んだ脆弱性情報の範囲）。",
        "No assessed asset is affected by a known vulnerability (within the imported inventory and advisories).",
    )
}

fn services(ev: &Evidence) -> Said {
    match ev.unneeded_ports.as_deref() {
        Some(ports) if !ports.is_empty() => {
            let (ja, en) = names(ports);
            said(
                Verdict::No,
                format!("不要と判断されたポート・サービス {} 件: {ja}", ports.len()),
                format!("{} ports or services judged unneeded: {en}", ports.len()),
            )
        }
        Some(_) => said(
            Verdict::NeedsReview,
            "センサーは不要なポート・サービスを観測していません。サーバ・端末上で動作しているソフトウェアとサービスを確認してください。",
            "The sensor saw no unneeded ports or services; check the software and services running on servers and PCs.",
        ),
        None => no_evidence(),
    }
}

fn source_restriction(ev: &Evidence) -> Said {
    if let Some((n, ja, en)) = unmanaged(ev) {
        return said(
            Verdict::No,
            format!("接続元を制限されていないリモートアクセスを {n} 件観測: {ja}"),
            format!("Remote access not restricted by source seen {n} times: {en}"),
        );
    }
    match (ev.source_restriction_policy, &ev.unmanaged_remote_access) {
        (Some(false), _) => said(
            Verdict::No,
            "接続元制限のポリシーが設定されていません。",
            "No connection source restriction policy is set.",
        ),
        (Some(true), Some(_)) => said(
            Verdict::Yes,
            "接続元制限のポリシーが有効で、ブローカー外のリモートアクセスは観測されていません。",
            "A source restriction policy is enforced and no remote access outside the broker was seen.",
        ),
        (Some(true), None) => said(
            Verdict::NeedsReview,
            "接続元制限のポリシーは有効です。センサーによる確認がないため、ネットワーク機器の設定を確認してください。",
            "A source restriction policy is enforced; without sensor evidence, check the network devices' settings.",
        ),
        (None, _) => no_evidence(),
    }
}

fn mfa(ev: &Evidence) -> Said {
    if let Some(n) = ev.users_without_mfa.filter(|n| *n > 0) {
        return said(
            Verdict::No,
            format!("二要素認証を設定していない利用者が {n} 人います。"),
            format!("{n} users have no second factor enrolled."),
        );
    }
    if ev.mfa_required_for_all_users == Some(false) {
        return said(
            Verdict::No,
            "sekimori で二要素認証が必須になっていません。",
            "Two-factor authentication is not required in sekimori.",
        );
    }
    if let Some((n, ja, en)) = unmanaged(ev) {
        return said(
            Verdict::No,
            format!("二要素認証を経ないリモートアクセスを {n} 件観測: {ja}"),
            format!("Remote access without two-factor authentication seen {n} times: {en}"),
        );
    }
    let broker_only = ev.remote_access_via_broker_only == Some(true)
        && ev.unmanaged_remote_access.as_deref() == Some(&[]);
    if ev.mfa_required_for_all_users == Some(true) && broker_only {
        return said(
            Verdict::NeedsReview,
            "リモートアクセスはすべて sekimori 経由で二要素認証付きです。院内の医療情報システムへのログインの二要素認証を確認してください。",
            "All remote access goes through sekimori with two-factor authentication. Check two-factor authentication for logging in to the medical information systems on site.",
        );
    }
    if ev.mfa_required_for_all_users == Some(true) {
        return said(
            Verdict::NeedsReview,
            "sekimori の利用者は二要素認証必須です。sekimori を経由しないアクセスと各システムのログインを確認してください。",
            "sekimori requires two-factor authentication of every user. Check access that bypasses sekimori and each system's login.",
        );
    }
    no_evidence()
}

/// Answer `items` from `evidence`, in item order.
pub fn answer(items: &[ChecklistItem], evidence: &Evidence) -> Vec<Answer> {
    items
        .iter()
        .map(|item| {
            let s = match item.evidence {
                None => no_evidence(),
                Some(EvidenceKey::Ledger) => ledger(evidence),
                Some(EvidenceKey::RemoteMaintenance) => remote_maintenance(evidence),
                Some(EvidenceKey::Accounts) => accounts(evidence),
                Some(EvidenceKey::AccessLog) => access_log(evidence),
                Some(EvidenceKey::Patches) => patches(evidence),
                Some(EvidenceKey::Services) => services(evidence),
                Some(EvidenceKey::SourceRestriction) => source_restriction(evidence),
                Some(EvidenceKey::Mfa) => mfa(evidence),
            };
            let (section_ja, section_en) = section_name(item.section);
            Answer {
                id: item.id.clone(),
                official: item.official.clone(),
                revision: item.revision,
                section: item.section,
                section_ja: section_ja.to_owned(),
                section_en: section_en.to_owned(),
                text_ja: item.text_ja.clone(),
                text_en: item.text_en.clone(),
                wording: item.wording,
                answer: s.verdict,
                answer_ja: s.verdict.ja().to_owned(),
                evidence_ja: s.ja,
                evidence_en: s.en,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct Doc<'a> {
    checklist: &'a [Answer],
    counts: Counts,
}

/// `{"checklist": [answers…], "counts": {"yes", "no", "review"}}`,
/// pretty-printed with a trailing newline.
pub fn to_json(answers: &[Answer]) -> String {
    let doc = Doc { checklist: answers, counts: counts(answers) };
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

/// The page title.
pub const TITLE: &str =
    "サイバーセキュリティ対策チェックリスト 回答案 / MHLW cybersecurity checklist: draft answers";

/// The answers as one printable HTML page in the report's style,
/// `lang` first. `generated_at` (RFC 3339) is given by the caller.
pub fn to_html(answers: &[Answer], generated_at: &str, lang: Lang) -> String {
    let c = counts(answers);
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">{}: {}</p>\n</header>",
        bi(
            lang,
            "医療機関におけるサイバーセキュリティ対策チェックリスト（回答案）",
            "MHLW cybersecurity checklist for medical institutions (draft answers)"
        ),
        bi(lang, "作成日時", "Generated"),
        escape_html(generated_at)
    );
    let _ = writeln!(b, "<section id=\"summary\">\n<h2>{}</h2>", bi(lang, "概要", "Summary"));
    let _ = writeln!(b, "<table class=\"counts\">");
    for (id, ja, en, n) in [
        ("count-yes", "はい（証拠あり）", "Yes (evidence proves it)", c.yes),
        ("count-no", "いいえ（証拠が否定）", "No (evidence disproves it)", c.no),
        ("count-review", "要確認", "Needs review", c.review),
    ] {
        let _ = writeln!(
            b,
            "<tr><th>{}</th><td class=\"n\" id=\"{id}\">{n}</td></tr>",
            bi(lang, ja, en)
        );
    }
    let _ = writeln!(b, "</table>");
    let _ = writeln!(
        b,
        "<p class=\"note\">{}</p>\n</section>",
        bi(
            lang,
            "sekimori が持つ証拠から作成した回答案です。立入検査に用いる回答は担当者が確認・記入してください。※は原文を確認できず要旨で記載した項目です。",
            "Draft answers from the evidence sekimori holds; the person responsible must confirm the answers used for inspection. ※ marks items whose printed wording was not seen (paraphrased)."
        )
    );
    let _ = writeln!(b, "<section id=\"items\">");
    let mut sorted: Vec<&Answer> = answers.iter().collect();
    sorted.sort_by_key(|a| a.section);
    let mut section = 0u8;
    for a in sorted {
        if a.section != section {
            if section != 0 {
                let _ = writeln!(b, "</tbody>\n</table>");
            }
            section = a.section;
            let _ = writeln!(
                b,
                "<h2>{} {}</h2>\n<table class=\"findings\">\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                a.section,
                bi(lang, &a.section_ja, &a.section_en),
                bi(lang, "番号", "No."),
                bi(lang, "項目", "Item"),
                bi(lang, "回答", "Answer"),
                bi(lang, "根拠・確認すること", "Evidence / what to check"),
            );
        }
        let (t1, t2) = match lang {
            Lang::Ja => (&a.text_ja, &a.text_en),
            Lang::En => (&a.text_en, &a.text_ja),
        };
        let (e1, e2) = match lang {
            Lang::Ja => (&a.evidence_ja, &a.evidence_en),
            Lang::En => (&a.evidence_en, &a.evidence_ja),
        };
        let mark = if a.wording == Wording::Paraphrased { "※" } else { "" };
        let rev = match a.revision {
            Revision::R6 => "R6",
            Revision::R7 => "R7",
        };
        let _ = writeln!(
            b,
            "<tr class=\"item\" id=\"{id}\"><td>{official}<br><span class=\"note\">{id} {rev}</span></td><td>{mark}{t1}<br><span class=\"alt\">{t2}</span></td><td class=\"ans-{cls}\">{ans}</td><td>{e1}<br><span class=\"alt\">{e2}</span></td></tr>",
            id = escape_html(&a.id),
            official = escape_html(a.official.as_deref().unwrap_or("—")),
            t1 = escape_html(t1),
            t2 = escape_html(t2),
            cls = a.answer.as_str(),
            ans = bi(lang, a.answer.ja(), a.answer.en()),
            e1 = escape_html(e1),
            e2 = escape_html(e2),
        );
    }
    if section != 0 {
        let _ = writeln!(b, "</tbody>\n</table>");
    }
    let _ = writeln!(b, "</section>");
    let _ = writeln!(
        b,
        "<footer>sekimori — {}</footer>",
        bi(
            lang,
            "出典: 厚生労働省「医療機関におけるサイバーセキュリティ対策チェックリスト」令和6年度版・令和7年度版。英訳は sekimori による参考訳です。",
            "Source: MHLW cybersecurity checklist for medical institutions, FY2024 and FY2025 editions. English translations are sekimori's, for reference."
        )
    );
    page(lang, TITLE, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(key: EvidenceKey, ev: &Evidence) -> Answer {
        let item = builtin().into_iter().find(|i| i.evidence == Some(key)).unwrap();
        answer(&[item], ev).remove(0)
    }

    #[test]
    fn builtin_parses_with_unique_ids_and_known_sections() {
        let items = parse(DATA).unwrap();
        assert!(items.len() >= 15, "{}", items.len());
        let mut ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), items.len(), "duplicate ids");
        assert!(items.iter().all(|i| (1..=3).contains(&i.section)));
        assert!(items.iter().any(|i| i.revision == Revision::R7));
        assert_eq!(builtin(), items);
    }

    #[test]
    fn unknown_evidence_key_is_an_error() {
        let bad = DATA.replacen("evidence = \"ledger\"", "evidence = \"crystal_ball\"", 1);
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn nothing_known_means_needs_review_never_no() {
        let answers = answer(&builtin(), &Evidence::default());
        assert!(answers.iter().all(|a| a.answer == Verdict::NeedsReview), "{answers:#?}");
        let a = answers.iter().find(|a| a.id == "r6-1-1").unwrap();
        assert_eq!(a.evidence_en, "sekimori has no evidence for this; answer it yourself.");
        assert!(a.evidence_ja.contains("ご自身で確認"));
    }

    #[test]
    fn ledger_yes_only_when_every_observed_device_is_in_it() {
        let mut ev = Evidence { ledger_items: Some(120), ..Evidence::default() };
        assert_eq!(only(EvidenceKey::Ledger, &ev).answer, Verdict::NeedsReview);
        ev.observed_assets = Some(131);
        ev.observed_not_in_ledger = Some(vec!["ws-17".into(), "cam-2".into()]);
        let a = only(EvidenceKey::Ledger, &ev);
        assert_eq!(a.answer, Verdict::No);
        assert_eq!(
            a.evidence_ja,
            "台帳 120 件、センサー観測 131 台、台帳にない機器 2 台: ws-17, cam-2"
        );
        ev.observed_not_in_ledger = Some(vec![]);
        assert_eq!(only(EvidenceKey::Ledger, &ev).answer, Verdict::Yes);
    }

    #[test]
    fn long_name_lists_are_cut() {
        let list: Vec<String> = (1..=13).map(|i| format!("d{i}")).collect();
        let (ja, en) = names(&list);
        assert!(ja.ends_with("d10 他 3 件"), "{ja}");
        assert!(en.ends_with("d10 and 3 more"), "{en}");
    }

    #[test]
    fn unmanaged_remote_access_says_no_to_three_items() {
        let ev = Evidence {
            remote_maintenance_assets: Some(vec!["ct-1".into()]),
            unmanaged_remote_access: Some(vec!["10.0.5.9 → teamviewer".into()]),
            source_restriction_policy: Some(true),
            mfa_required_for_all_users: Some(true),
            users_without_mfa: Some(0),
            remote_access_via_broker_only: Some(true),
            ..Evidence::default()
        };
        for key in
            [EvidenceKey::RemoteMaintenance, EvidenceKey::SourceRestriction, EvidenceKey::Mfa]
        {
            assert_eq!(only(key, &ev).answer, Verdict::No, "{key:?}");
        }
    }

    #[test]
    fn partial_scope_never_says_yes() {
        let ev = Evidence {
            inactive_accounts: Some(0),
            audit_log: Some(AuditEvidence { records: 10, chain_verified: true, oldest: None }),
            unneeded_ports: Some(vec![]),
            mfa_required_for_all_users: Some(true),
            users_without_mfa: Some(0),
            remote_access_via_broker_only: Some(true),
            unmanaged_remote_access: Some(vec![]),
            ..Evidence::default()
        };
        for key in
            [EvidenceKey::Accounts, EvidenceKey::AccessLog, EvidenceKey::Services, EvidenceKey::Mfa]
        {
            assert_eq!(only(key, &ev).answer, Verdict::NeedsReview, "{key:?}");
        }
    }

    #[test]
    fn patches_follow_the_findings() {
        let mut ev = Evidence {
            findings: Some(FindingsEvidence {
                affected: 2,
                known_exploited_affected: 1,
                critical_or_high_affected: 2,
                possibly_affected: 0,
            }),
            ..Evidence::default()
        };
        assert_eq!(only(EvidenceKey::Patches, &ev).answer, Verdict::No);
        ev.findings =
            Some(FindingsEvidence { possibly_affected: 1, ..FindingsEvidence::default() });
        assert_eq!(only(EvidenceKey::Patches, &ev).answer, Verdict::NeedsReview);
        ev.findings = Some(FindingsEvidence::default());
        assert_eq!(only(EvidenceKey::Patches, &ev).answer, Verdict::Yes);
    }
}
