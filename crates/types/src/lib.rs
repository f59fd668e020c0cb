//! Value types shared by every part of sekimori: newtype IDs, the people and
//! assets of the domain, the injected clock, and the user's language.
//!
//! Nothing here does I/O. Constructors validate, so a value of these types is
//! always well-formed once it exists (parse, don't validate).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

mod access;
mod alert;
mod fingerprint;
mod lang;
pub use access::{
    AccessRequest, AccessStatus, Approval, CloseReason, NewAccessRequest, RecordingInfo,
    RequestState, TunnelCredential, TunnelSession, maintained_by_company_of, may_approve,
};
pub use alert::{
    Alert, AlertDraft, AlertKind, AlertSeverity, AlertState, Evidence, EvidenceAsset, EvidenceFlow,
    MAX_EVIDENCE_ASSETS, MAX_EVIDENCE_FLOWS,
};
pub use fingerprint::{format_fingerprint, normalise_fingerprint};
pub use lang::{Lang, Localized};

/// A value failed validation. `field` names the input field, `reason` is a
/// stable machine code (snake_case) that callers map to a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub reason: &'static str,
}

impl InvalidValue {
    pub const fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}

impl Localized for InvalidValue {
    fn localized(&self, lang: Lang) -> String {
        let (ja, en) = match self.reason {
            "length" if self.field == "username" => {
                ("1〜64文字にしてください", "must be 1 to 64 characters")
            }
            "length" => {
                ("長さが範囲外です（1〜200文字）", "has the wrong length (1 to 200 characters)")
            }
            "length_2000" => {
                ("長さが範囲外です（1〜2000文字）", "has the wrong length (1 to 2000 characters)")
            }
            "characters" => (
                "英小文字・数字・. _ - @ のみ使え、英数字で始めてください",
                "may use only lowercase letters, digits and . _ - @, starting with a letter or digit",
            ),
            "control_characters" => ("制御文字は使えません", "must not contain control characters"),
            "required_for_vendor" => {
                ("保守業者（vendor）には会社名が必要です", "is required for vendors")
            }
            "only_for_vendor" => {
                ("会社名は保守業者（vendor）にのみ設定できます", "is only for vendors")
            }
            "unknown_role" => (
                "admin、approver、auditor、vendor のいずれかにしてください",
                "must be admin, approver, auditor or vendor",
            ),
            "unknown_criticality" => (
                "low、medium、high、life_critical のいずれかにしてください",
                "must be low, medium, high or life_critical",
            ),
            "expected_port_slash_protocol" => (
                "「ポート/プロトコル」の形式にしてください（例：22/ssh）",
                "must be PORT/PROTOCOL, e.g. 22/ssh",
            ),
            "bad_port" => ("ポート番号は1〜65535にしてください", "must be a port from 1 to 65535"),
            "bad_protocol" => (
                "プロトコル名は英小文字・数字・- で32文字以内にしてください",
                "protocol names use lowercase letters, digits and -, at most 32",
            ),
            "duplicate_port" => ("同じポートが重複しています", "lists the same port twice"),
            "too_many" => ("数が多すぎます（64まで）", "has too many entries (at most 64)"),
            "out_of_range" => ("1〜1440分にしてください", "must be 1 to 1440 minutes"),
            "not_a_uuid" => ("ID の形式が正しくありません", "is not a valid ID"),
            "alert_not_open" => (
                "未対応のアラートだけを確認済みにできます",
                "only an open alert can be acknowledged",
            ),
            "alert_closed" => ("このアラートは完了しています", "the alert is already closed"),
            "unknown_alert_kind" => ("不明なアラート種別です", "is not a known alert kind"),
            "unknown_severity" => (
                "low、medium、high、critical のいずれかにしてください",
                "must be low, medium, high or critical",
            ),
            "unknown_alert_state" => (
                "open、acknowledged、closed のいずれかにしてください",
                "must be open, acknowledged or closed",
            ),
            _ => ("値が正しくありません", "is not valid"),
        };
        match lang {
            Lang::Ja => format!("{}：{}", self.field, ja),
            Lang::En => format!("{}: {}", self.field, en),
        }
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered identifier (UUID v7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| InvalidValue::new(stringify!($name), "not_a_uuid"))
            }
        }
    };
}

id_type!(
    /// A person with an account: staff or a vendor's engineer.
    UserId
);
id_type!(
    /// A registered device on the hospital network.
    AssetId
);
id_type!(
    /// A named group of assets or addresses.
    ZoneId
);
id_type!(
    /// A login session (the opaque token is never this ID).
    SessionId
);
id_type!(
    /// A vendor's access request (and, once approved, the grant).
    AccessRequestId
);
id_type!(
    /// A tunnel credential: a client public key bound to a login session.
    TunnelCredentialId
);
id_type!(
    /// One tunnelled TCP connection, with its record.
    TunnelSessionId
);
id_type!(
    /// A stored alert.
    AlertId
);

/// What a person may do. There is no "superuser" beyond `Admin`, and no
/// shared accounts: every human has their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Hospital IT: manages users, assets, zones and configuration.
    Admin,
    /// IT or clinical engineering: approves access requests.
    Approver,
    /// Read-only: inventory, sessions, audit.
    Auditor,
    /// An engineer of a maintenance company; always has a company.
    Vendor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Approver, Role::Auditor, Role::Vendor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Vendor => "vendor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(InvalidValue::new("role", "unknown_role"))
    }
}

/// A login name: 1–64 characters of lowercase ASCII letters, digits, `.`,
/// `_`, `-` and `@`, starting with a letter or digit. Case-folded on parse so
/// `Alice` and `alice` are the same account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() || s.len() > 64 {
            return Err(InvalidValue::new("username", "length"));
        }
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c);
        if !s.chars().all(ok_char) {
            return Err(InvalidValue::new("username", "characters"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(InvalidValue::new("username", "characters"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> Self {
        u.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short human label (display names, departments, companies, asset and zone
/// names): 1–200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 200 {
            return Err(InvalidValue::new(field, "length"));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidValue::new(field, "control_characters"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two labels name the same thing ignoring case (departments
    /// and companies are typed by people).
    pub fn eq_ignore_case(&self, other: &Label) -> bool {
        self.0.to_lowercase() == other.0.to_lowercase()
    }
}

impl TryFrom<String> for Label {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse("label", &s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> Self {
        l.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    /// Locked by throttling or by an admin; only an admin unlocks.
    Locked,
    /// Kept for the audit trail; can never log in again.
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Locked => "locked",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "locked" => Ok(Self::Locked),
            "disabled" => Ok(Self::Disabled),
            _ => Err(InvalidValue::new("status", "unknown_status")),
        }
    }
}

/// A person's account as the rest of the system sees it. Credentials (password
/// hash, TOTP secret, recovery codes) live only in the store and `authn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: Label,
    pub role: Role,
    /// The maintenance company, for vendors (required) — `None` for staff.
    pub company: Option<Label>,
    /// The hospital department, for staff (e.g. clinical engineering).
    pub department: Option<Label>,
    pub status: UserStatus,
    /// Whether TOTP is enrolled. A user without it cannot obtain a session
    /// until they enrol during login.
    pub mfa_enrolled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Input for creating a user; validated by [`NewUser::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: Username,
    pub display_name: Label,
    pub role: Role,
    pub company: Option<Label>,
    pub department: Option<Label>,
}

impl NewUser {
    /// Vendors belong to a company; staff do not.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        match (self.role, &self.company) {
            (Role::Vendor, None) => Err(InvalidValue::new("company", "required_for_vendor")),
            (Role::Vendor, Some(_)) | (_, None) => Ok(()),
            (_, Some(_)) => Err(InvalidValue::new("company", "only_for_vendor")),
        }
    }
}

/// How much patient care depends on an asset. `LifeCritical` assets (nurse
/// call, patient monitors) get silence detection and default-deny zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Low,
    Medium,
    High,
    LifeCritical,
}

impl Criticality {
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::LifeCritical => "life_critical",
        }
    }
}

impl FromStr for Criticality {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "life_critical" | "life-critical" => Ok(Self::LifeCritical),
            _ => Err(InvalidValue::new("criticality", "unknown_criticality")),
        }
    }
}

/// A port that maintenance may use on an asset, with its protocol name
/// (`22/ssh`, `3389/rdp`, `104/dicom`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MaintenancePort {
    pub port: u16,
    pub protocol: String,
}

impl MaintenancePort {
    /// Parses `PORT/PROTOCOL`, e.g. `22/ssh`. Port 0 is rejected; the protocol
    /// is 1–32 lowercase letters, digits or `-`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let (port, proto) = s
            .split_once('/')
            .ok_or(InvalidValue::new("maintenance_port", "expected_port_slash_protocol"))?;
        let port: u16 =
            port.trim().parse().map_err(|_| InvalidValue::new("maintenance_port", "bad_port"))?;
        Self::new(port, proto)
    }

    pub fn new(port: u16, protocol: &str) -> Result<Self, InvalidValue> {
        if port == 0 {
            return Err(InvalidValue::new("maintenance_port", "bad_port"));
        }
        let protocol = protocol.trim().to_ascii_lowercase();
        let ok = !protocol.is_empty()
            && protocol.len() <= 32
            && protocol.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(InvalidValue::new("maintenance_port", "bad_protocol"));
        }
        Ok(Self { port, protocol })
    }
}

impl fmt::Display for MaintenancePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// Longest maintenance window any asset may allow (24 h); assets set lower.
pub const MAX_SESSION_CEILING_MINUTES: u32 = 24 * 60;

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub id: AssetId,
    pub name: Label,
    pub addresses: Vec<IpAddr>,
    pub zone: Option<ZoneId>,
    pub owner_department: Option<Label>,
    pub vendor_company: Option<Label>,
    pub criticality: Criticality,
    pub maintenance_ports: Vec<MaintenancePort>,
    /// Ceiling for one access grant on this asset, in minutes.
    pub max_session_minutes: u32,
    /// Whether tunnelled byte streams to this asset are recorded in full.
    pub record_sessions: bool,
    /// Distinct approvers an access request needs (1 or 2).
    pub approvals_required: u8,
    /// Who approves requests for this asset; `None` means the owner department.
    pub approver_department: Option<Label>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Input for creating or replacing an asset's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetSpec {
    pub name: Label,
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    #[serde(default)]
    pub zone: Option<ZoneId>,
    #[serde(default)]
    pub owner_department: Option<Label>,
    #[serde(default)]
    pub vendor_company: Option<Label>,
    pub criticality: Criticality,
    #[serde(default)]
    pub maintenance_ports: Vec<MaintenancePort>,
    pub max_session_minutes: u32,
    /// Record tunnelled byte streams in full (default: yes).
    #[serde(default = "default_true")]
    pub record_sessions: bool,
    /// Distinct approvers an access request needs: 1 (default) or 2.
    #[serde(default = "default_one")]
    pub approvals_required: u8,
    /// Who approves requests (default: the owner department).
    #[serde(default)]
    pub approver_department: Option<Label>,
}

fn default_true() -> bool {
    true
}

fn default_one() -> u8 {
    1
}

impl AssetSpec {
    pub fn validate(&self) -> Result<(), InvalidValue> {
        if self.max_session_minutes == 0 || self.max_session_minutes > MAX_SESSION_CEILING_MINUTES {
            return Err(InvalidValue::new("max_session_minutes", "out_of_range"));
        }
        if self.addresses.len() > 64 {
            return Err(InvalidValue::new("addresses", "too_many"));
        }
        if self.maintenance_ports.len() > 64 {
            return Err(InvalidValue::new("maintenance_ports", "too_many"));
        }
        let mut ports: Vec<u16> = self.maintenance_ports.iter().map(|p| p.port).collect();
        ports.sort_unstable();
        if ports.windows(2).any(|w| w[0] == w[1]) {
            return Err(InvalidValue::new("maintenance_ports", "duplicate_port"));
        }
        for p in &self.maintenance_ports {
            MaintenancePort::new(p.port, &p.protocol)?;
        }
        if !(1..=2).contains(&self.approvals_required) {
            return Err(InvalidValue::new("approvals_required", "out_of_range"));
        }
        Ok(())
    }
}

/// A named group of assets (and, with the policy issue, address ranges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub id: ZoneId,
    pub name: Label,
    pub description: Option<String>,
    /// Critical zones are default-deny in policy.
    pub critical: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    pub name: Label,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub critical: bool,
}

impl ZoneSpec {
    pub fn validate(&self) -> Result<(), InvalidValue> {
        match &self.description {
            Some(d) if d.chars().count() > 2000 => Err(InvalidValue::new("description", "length")),
            _ => Ok(()),
        }
    }
}

/// Where time comes from. Production uses [`SystemClock`]; tests inject a
/// [`ManualClock`] and move it, never sleeping on wall time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self { micros: Arc::new(AtomicI64::new(to_micros(start))) }
    }

    pub fn advance(&self, by: time::Duration) {
        let d = i64::try_from(by.whole_microseconds()).unwrap_or(i64::MAX);
        self.micros.fetch_add(d, Ordering::SeqCst);
    }

    pub fn set(&self, to: OffsetDateTime) {
        self.micros.store(to_micros(to), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_micros(self.micros.load(Ordering::SeqCst))
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// A time as sekimori writes it for people and programs: RFC 3339.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Microseconds since the Unix epoch: how times are stored.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// Inverse of [`to_micros`]; out-of-range values clamp to the epoch.
pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_folds_case_and_rejects_junk() {
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("").is_err());
        assert!(Username::parse("-x").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("tanaka@vendor.example").is_ok());
    }

    #[test]
    fn vendor_needs_company_and_staff_has_none() {
        let mut u = NewUser {
            username: Username::parse("v1").unwrap(),
            display_name: Label::parse("name", "V One").unwrap(),
            role: Role::Vendor,
            company: None,
            department: None,
        };
        assert_eq!(u.validate().unwrap_err().reason, "required_for_vendor");
        u.company = Some(Label::parse("company", "Acme Medical").unwrap());
        assert!(u.validate().is_ok());
        u.role = Role::Admin;
        assert_eq!(u.validate().unwrap_err().reason, "only_for_vendor");
    }

    #[test]
    fn maintenance_port_parses() {
        let p = MaintenancePort::parse("22/SSH").unwrap();
        assert_eq!((p.port, p.protocol.as_str()), (22, "ssh"));
        assert!(MaintenancePort::parse("0/ssh").is_err());
        assert!(MaintenancePort::parse("70000/ssh").is_err());
        assert!(MaintenancePort::parse("22").is_err());
        assert!(MaintenancePort::parse("22/s s").is_err());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(OffsetDateTime::UNIX_EPOCH);
        let t0 = c.now();
        c.advance(time::Duration::seconds(30));
        assert_eq!(c.now() - t0, time::Duration::seconds(30));
    }

    proptest::proptest! {
        #[test]
        fn micros_round_trip(us in -62_135_596_800_000_000i64..253_402_300_799_000_000i64) {
            proptest::prop_assert_eq!(to_micros(from_micros(us)), us);
        }
    }
}
