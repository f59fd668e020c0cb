//! Alerts: what the detections raise, the store keeps, the console shows
//! and the forwarders send to a SIEM.
//!
//! An [`Alert`] is the unit of attention. Detections produce
//! [`AlertDraft`]s; drafts with the same [`AlertDraft::dedup_key`] that
//! arrive while an alert with that key is still open are aggregated into
//! it (its `count` grows, `last` moves, the evidence is refreshed) rather
//! than raised again — one alert with a count, not ten thousand.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AlertId, InvalidValue, Lang, Localized};

/// What was detected. The string forms (`as_str`) are stable: they are the
/// `kind` of the `analyze` JSON contract, the syslog message ID and the CEF
/// signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A flow the policy does not allow.
    SegmentationViolation,
    /// Bytes from an internal zone to the internet above a threshold or far
    /// above the asset's baseline.
    Exfiltration,
    /// VPN or remote-desktop/remote-support traffic that bypasses the broker.
    UnmanagedRemoteAccess,
    /// A device not seen before.
    NewDevice,
    /// A known asset talking to a peer it has not talked to before.
    NewTalker,
    /// A known asset using a protocol it has not used before.
    NewProtocol,
    /// A critical asset stopped its usual traffic for longer than its window.
    Silence,
    /// One host fanning out over SMB/RDP/SSH to many hosts in a short time.
    LateralMovement,
    /// Traffic to an address or name on an imported indicator list.
    IndicatorMatch,
    /// Password spraying or guessing against the gateway's login.
    AuthenticationAttack,
}

impl AlertKind {
    /// Every kind, in a stable order.
    pub const ALL: [AlertKind; 10] = [
        AlertKind::SegmentationViolation,
        AlertKind::Exfiltration,
        AlertKind::UnmanagedRemoteAccess,
        AlertKind::NewDevice,
        AlertKind::NewTalker,
        AlertKind::NewProtocol,
        AlertKind::Silence,
        AlertKind::LateralMovement,
        AlertKind::IndicatorMatch,
        AlertKind::AuthenticationAttack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SegmentationViolation => "segmentation_violation",
            AlertKind::Exfiltration => "exfiltration",
            AlertKind::UnmanagedRemoteAccess => "unmanaged_remote_access",
            AlertKind::NewDevice => "new_device",
            AlertKind::NewTalker => "new_talker",
            AlertKind::NewProtocol => "new_protocol",
            AlertKind::Silence => "silence",
            AlertKind::LateralMovement => "lateral_movement",
            AlertKind::IndicatorMatch => "indicator_match",
            AlertKind::AuthenticationAttack => "authentication_attack",
        }
    }
}

impl Localized for AlertKind {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self {
            AlertKind::SegmentationViolation => ("セグメント違反", "Segmentation violation"),
            AlertKind::Exfiltration => ("外部へのデータ持ち出し", "Exfiltration"),
            AlertKind::UnmanagedRemoteAccess => {
                ("管理外のリモートアクセス", "Unmanaged remote access")
            }
            AlertKind::NewDevice => ("新しい機器", "New device"),
            AlertKind::NewTalker => ("新しい通信相手", "New talker"),
            AlertKind::NewProtocol => ("新しいプロトコル", "New protocol"),
            AlertKind::Silence => ("重要機器の通信停止", "Silence of a critical system"),
            AlertKind::LateralMovement => ("横展開", "Lateral movement"),
            AlertKind::IndicatorMatch => ("脅威情報との一致", "Indicator match"),
            AlertKind::AuthenticationAttack => ("ログインへの攻撃", "Attack on the login"),
        };
        lang.pick(ja, en).to_owned()
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertKind {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(InvalidValue::new("kind", "unknown_alert_kind"))
    }
}

/// How urgent an alert is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    Low,
    Medium,
    High,
    Critical,
}

impl AlertSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Low => "low",
            AlertSeverity::Medium => "medium",
            AlertSeverity::High => "high",
            AlertSeverity::Critical => "critical",
        }
    }

    /// Syslog severity (RFC 5424 section 6.2.1): critical 2, high 3 (error),
    /// medium 4 (warning), low 5 (notice).
    pub fn syslog(self) -> u8 {
        match self {
            AlertSeverity::Critical => 2,
            AlertSeverity::High => 3,
            AlertSeverity::Medium => 4,
            AlertSeverity::Low => 5,
        }
    }

    /// CEF severity (0–10): low 3, medium 5, high 8, critical 10.
    pub fn cef(self) -> u8 {
        match self {
            AlertSeverity::Low => 3,
            AlertSeverity::Medium => 5,
            AlertSeverity::High => 8,
            AlertSeverity::Critical => 10,
        }
    }
}

impl Localized for AlertSeverity {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self {
            AlertSeverity::Low => ("低", "low"),
            AlertSeverity::Medium => ("中", "medium"),
            AlertSeverity::High => ("高", "high"),
            AlertSeverity::Critical => ("緊急", "critical"),
        };
        lang.pick(ja, en).to_owned()
    }
}

impl fmt::Display for AlertSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertSeverity {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(AlertSeverity::Low),
            "medium" => Ok(AlertSeverity::Medium),
            "high" => Ok(AlertSeverity::High),
            "critical" => Ok(AlertSeverity::Critical),
            _ => Err(InvalidValue::new("severity", "unknown_severity")),
        }
    }
}

/// Where an alert stands. `Open` → `Acknowledged` → `Closed` (or `Open` →
/// `Closed`); each change is audited with the actor and a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    Acknowledged,
    Closed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Closed => "closed",
        }
    }
}

impl Localized for AlertState {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self {
            AlertState::Open => ("未対応", "open"),
            AlertState::Acknowledged => ("確認済み", "acknowledged"),
            AlertState::Closed => ("完了", "closed"),
        };
        lang.pick(ja, en).to_owned()
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertState {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(AlertState::Open),
            "acknowledged" => Ok(AlertState::Acknowledged),
            "closed" => Ok(AlertState::Closed),
            _ => Err(InvalidValue::new("state", "unknown_alert_state")),
        }
    }
}

/// An endpoint named in an alert's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceAsset {
    pub ip: IpAddr,
    /// The asset's best name (registered name, DHCP/DNS name), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The policy zone it belongs to (`internet` outside the hospital).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// A flow named in an alert's evidence (the `analyze` flow fields that
/// matter to a person reading the alert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFlow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub transport: String,
    /// The identified application, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub first: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
}

/// Most assets an alert's evidence keeps.
pub const MAX_EVIDENCE_ASSETS: usize = 50;

/// Most flows an alert's evidence keeps (the count says how many there
/// were in all).
pub const MAX_EVIDENCE_FLOWS: usize = 20;

/// What an alert rests on: the assets, some flows, the byte total and the
/// time span, plus named details (threshold, rule, indicator, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default)]
    pub assets: Vec<EvidenceAsset>,
    /// Up to [`MAX_EVIDENCE_FLOWS`] flows.
    #[serde(default)]
    pub flows: Vec<EvidenceFlow>,
    /// Bytes involved (e.g. sent to the internet in the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Named details, e.g. `threshold_bytes`, `window_seconds`, `rule`,
    /// `indicator`, `peers`. Values are plain text.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub details: std::collections::BTreeMap<String, String>,
}

impl Evidence {
    /// Adds a flow unless [`MAX_EVIDENCE_FLOWS`] are already kept.
    pub fn push_flow(&mut self, flow: EvidenceFlow) {
        if self.flows.len() < MAX_EVIDENCE_FLOWS {
            self.flows.push(flow);
        }
    }

    /// Sets a named detail.
    pub fn detail(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        self.details.insert(key.to_owned(), value.to_string());
        self
    }
}

/// A detection's output, before the store gives it an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDraft {
    pub kind: AlertKind,
    pub severity: AlertSeverity,
    /// Drafts with the same key aggregate into one open alert. Built from
    /// the kind and what makes the situation the same (e.g. source asset
    /// and destination zone); never contains secrets or patient data.
    pub dedup_key: String,
    /// One line in English.
    pub summary: String,
    /// The same line in Japanese.
    pub summary_ja: String,
    pub evidence: Evidence,
    /// When the detected activity started and was last seen (packet time
    /// for captures, wall time live).
    #[serde(with = "time::serde::rfc3339")]
    pub first: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
    /// How many occurrences this draft stands for (≥ 1).
    pub count: u64,
}

impl AlertDraft {
    /// The summary in `lang`.
    pub fn summary_in(&self, lang: Lang) -> &str {
        lang.pick(&self.summary_ja, &self.summary)
    }

    /// Folds a later draft with the same key into this one: counts add up,
    /// the span widens, the later evidence's byte total and details win,
    /// flows are appended up to the cap, and severity never drops.
    pub fn absorb(&mut self, later: AlertDraft) {
        self.count = self.count.saturating_add(later.count);
        self.first = self.first.min(later.first);
        self.last = self.last.max(later.last);
        self.severity = self.severity.max(later.severity);
        self.summary = later.summary;
        self.summary_ja = later.summary_ja;
        for a in later.evidence.assets {
            if self.evidence.assets.len() < MAX_EVIDENCE_ASSETS
                && !self.evidence.assets.iter().any(|b| b.ip == a.ip)
            {
                self.evidence.assets.push(a);
            }
        }
        for f in later.evidence.flows {
            self.evidence.push_flow(f);
        }
        if later.evidence.bytes.is_some() {
            self.evidence.bytes = later.evidence.bytes;
        }
        self.evidence.details.extend(later.evidence.details);
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub kind: AlertKind,
    pub severity: AlertSeverity,
    pub state: AlertState,
    pub dedup_key: String,
    pub summary: String,
    pub summary_ja: String,
    pub evidence: Evidence,
    #[serde(with = "time::serde::rfc3339")]
    pub first: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
    pub count: u64,
    /// When the store first recorded it.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Who acknowledged or closed it last, and their comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in AlertKind::ALL {
            assert_eq!(k.as_str().parse::<AlertKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert!(!k.localized(Lang::Ja).is_ascii(), "{k} has no Japanese name");
        }
        assert!("exfil".parse::<AlertKind>().is_err());
    }

    #[test]
    fn absorb_adds_counts_and_keeps_the_worst_severity() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let t1 = t0 + time::Duration::seconds(10);
        let mut a = AlertDraft {
            kind: AlertKind::Exfiltration,
            severity: AlertSeverity::High,
            dedup_key: "exfiltration|10.0.0.5".into(),
            summary: "a".into(),
            summary_ja: "あ".into(),
            evidence: Evidence { bytes: Some(5), ..Evidence::default() },
            first: t1,
            last: t1,
            count: 1,
        };
        let mut b = a.clone();
        b.severity = AlertSeverity::Medium;
        b.first = t0;
        b.count = 2;
        b.evidence.bytes = Some(9);
        a.absorb(b);
        assert_eq!(a.count, 3);
        assert_eq!((a.first, a.last), (t0, t1));
        assert_eq!(a.severity, AlertSeverity::High);
        assert_eq!(a.evidence.bytes, Some(9));
    }
}
