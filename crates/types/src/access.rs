//! The access broker's domain: access requests (which become grants once
//! approved), tunnel credentials and tunnel sessions.
//!
//! A request is stored with a [`RequestState`]; whether an approved request
//! is scheduled, active or past its window is a function of the time
//! ([`AccessRequest::status_at`]), so "active now" never depends on a
//! background job having run. Expiry is still written back (and audited) by
//! housekeeping.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    AccessRequestId, Asset, AssetId, InvalidValue, Label, Role, SessionId, TunnelCredentialId,
    TunnelSessionId, User, UserId, UserStatus, Username,
};

/// Longest reason text of a request, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Most ports one request may name.
pub const MAX_REQUEST_PORTS: usize = 16;

/// The stored state of an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for approval.
    Pending,
    /// Approved: a grant (scheduled, active or past its window by time).
    Approved,
    /// An approver said no.
    Denied,
    /// The requester withdrew it.
    Cancelled,
    /// An approver or admin withdrew the grant.
    Revoked,
    /// The window ended (approved) or passed unanswered (pending).
    Expired,
}

impl RequestState {
    pub const ALL: [RequestState; 6] = [
        RequestState::Pending,
        RequestState::Approved,
        RequestState::Denied,
        RequestState::Cancelled,
        RequestState::Revoked,
        RequestState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Cancelled => "cancelled",
            RequestState::Revoked => "revoked",
            RequestState::Expired => "expired",
        }
    }

    /// No transition leaves this state.
    pub fn is_final(self) -> bool {
        !matches!(self, RequestState::Pending | RequestState::Approved)
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestState {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestState::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(InvalidValue::new("state", "unknown_state"))
    }
}

/// What a request is at a given moment: the stored state with `approved`
/// split by the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessStatus {
    Pending,
    /// Approved, window not started yet.
    Scheduled,
    /// Approved and inside its window: connections are allowed.
    Active,
    Expired,
    Denied,
    Cancelled,
    Revoked,
}

impl AccessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessStatus::Pending => "pending",
            AccessStatus::Scheduled => "scheduled",
            AccessStatus::Active => "active",
            AccessStatus::Expired => "expired",
            AccessStatus::Denied => "denied",
            AccessStatus::Cancelled => "cancelled",
            AccessStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for AccessStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approver's approval of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approver: UserId,
    pub approver_username: Username,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a vendor asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    pub asset: AssetId,
    /// Registered maintenance ports of the asset.
    pub ports: Vec<u16>,
    /// Why, with the ticket reference.
    pub reason: String,
    /// When the window should start; `None`: as soon as it is approved.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    /// Length of the window, at most the asset's ceiling.
    pub duration_minutes: u32,
}

impl NewAccessRequest {
    /// Checks what can be checked without the asset (see
    /// [`Self::validate_for`]).
    pub fn validate(&self) -> Result<(), InvalidValue> {
        if self.ports.is_empty() || self.ports.len() > MAX_REQUEST_PORTS {
            return Err(InvalidValue::new("ports", "count"));
        }
        let mut ports = self.ports.clone();
        ports.sort_unstable();
        if ports.windows(2).any(|w| w[0] == w[1]) {
            return Err(InvalidValue::new("ports", "duplicate_port"));
        }
        let reason = self.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(InvalidValue::new("reason", "length"));
        }
        if reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(InvalidValue::new("reason", "control_characters"));
        }
        if self.duration_minutes == 0 || self.duration_minutes > crate::MAX_SESSION_CEILING_MINUTES
        {
            return Err(InvalidValue::new("duration_minutes", "out_of_range"));
        }
        Ok(())
    }

    /// [`Self::validate`] plus the asset's rules: every port is one of its
    /// maintenance ports, and the duration is within its ceiling.
    pub fn validate_for(&self, asset: &Asset) -> Result<(), InvalidValue> {
        self.validate()?;
        if asset.id != self.asset {
            return Err(InvalidValue::new("asset", "mismatch"));
        }
        if !self.ports.iter().all(|p| asset.maintenance_ports.iter().any(|m| m.port == *p)) {
            return Err(InvalidValue::new("ports", "not_a_maintenance_port"));
        }
        if self.duration_minutes > asset.max_session_minutes {
            return Err(InvalidValue::new("duration_minutes", "over_asset_ceiling"));
        }
        Ok(())
    }
}

/// An access request and, once approved, the grant it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub id: AccessRequestId,
    pub requester: UserId,
    pub requester_username: Username,
    /// The requester's company at the time of the request.
    pub company: Option<Label>,
    pub asset: AssetId,
    pub asset_name: Label,
    pub ports: Vec<u16>,
    pub reason: String,
    /// Requested start; `None`: on approval.
    #[serde(with = "time::serde::rfc3339::option")]
    pub requested_start: Option<OffsetDateTime>,
    pub duration_minutes: u32,
    pub state: RequestState,
    /// Distinct approvals needed (copied from the asset at request time).
    pub approvals_required: u8,
    pub approvals: Vec<Approval>,
    /// The approved window (set on final approval).
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_end: Option<OffsetDateTime>,
    /// Who denied, cancelled or revoked it, with their note.
    pub decided_by: Option<UserId>,
    pub decision_note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl AccessRequest {
    /// The status at `now`.
    pub fn status_at(&self, now: OffsetDateTime) -> AccessStatus {
        match self.state {
            RequestState::Pending => match self.requested_start {
                // A request whose whole window passed unanswered is dead.
                Some(s) if s + time::Duration::minutes(i64::from(self.duration_minutes)) <= now => {
                    AccessStatus::Expired
                }
                _ => AccessStatus::Pending,
            },
            RequestState::Approved => match (self.window_start, self.window_end) {
                (Some(s), Some(_)) if now < s => AccessStatus::Scheduled,
                (Some(_), Some(e)) if now < e => AccessStatus::Active,
                // Approved without a window cannot happen; treat it as over
                // (fail closed).
                _ => AccessStatus::Expired,
            },
            RequestState::Denied => AccessStatus::Denied,
            RequestState::Cancelled => AccessStatus::Cancelled,
            RequestState::Revoked => AccessStatus::Revoked,
            RequestState::Expired => AccessStatus::Expired,
        }
    }

    /// Whether connections to `port` are allowed at `now`.
    pub fn allows(&self, port: u16, now: OffsetDateTime) -> bool {
        self.status_at(now) == AccessStatus::Active && self.ports.contains(&port)
    }

    /// The window an approval at `now` gives: from the requested start (or
    /// now, if that is later or none was asked for) for the duration.
    pub fn window_if_approved_at(&self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        let start = match self.requested_start {
            Some(s) if s > now => s,
            _ => now,
        };
        (start, start + time::Duration::minutes(i64::from(self.duration_minutes)))
    }
}

/// Whether `user` may approve (or deny, or revoke) requests for `asset`:
/// admins always; approvers when the asset's approver department (default:
/// its owner department) is theirs, compared ignoring case, or when the
/// asset names no department at all.
pub fn may_approve(user: &User, asset: &Asset) -> bool {
    if user.status != UserStatus::Active {
        return false;
    }
    match user.role {
        Role::Admin => true,
        Role::Approver => {
            let group = asset.approver_department.as_ref().or(asset.owner_department.as_ref());
            match (group, &user.department) {
                (None, _) => true,
                (Some(g), Some(d)) => g.eq_ignore_case(d),
                (Some(_), None) => false,
            }
        }
        Role::Auditor | Role::Vendor => false,
    }
}

/// Whether `asset` is maintained by `user`'s company (ignoring case): the
/// devices a vendor may see and ask access to.
pub fn maintained_by_company_of(asset: &Asset, user: &User) -> bool {
    match (&asset.vendor_company, &user.company) {
        (Some(a), Some(c)) => a.eq_ignore_case(c),
        _ => false,
    }
}

/// A tunnel credential: the public half of a key pair generated on the
/// vendor's machine, bound to the login session that registered it. It is
/// valid while the session is not revoked, the user is active and it has
/// not expired; it never outlives the session's absolute lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelCredential {
    pub id: TunnelCredentialId,
    pub user: UserId,
    pub session: SessionId,
    /// Ed25519 public key, 32 bytes.
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(b.len() * 2);
        for byte in b {
            out.push_str(&format!("{byte:02x}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 || !s.is_ascii() {
            return Err(serde::de::Error::custom("not hex"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Why a tunnelled connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The vendor's side closed it.
    Client,
    /// The device closed it.
    Target,
    /// The grant was revoked.
    Revoked,
    /// The grant's window ended.
    Expired,
    /// The user was locked or disabled, or their login session revoked.
    UserLocked,
    /// Someone killed this session (API or CLI).
    Killed,
    /// The gateway stopped.
    Shutdown,
    /// The recording could not be written (fail closed).
    RecordingFailed,
    /// An I/O or protocol error on either side.
    Error,
    /// The gateway was not running when the session's end came (crash):
    /// found open at the next start.
    Interrupted,
}

impl CloseReason {
    pub const ALL: [CloseReason; 10] = [
        CloseReason::Client,
        CloseReason::Target,
        CloseReason::Revoked,
        CloseReason::Expired,
        CloseReason::UserLocked,
        CloseReason::Killed,
        CloseReason::Shutdown,
        CloseReason::RecordingFailed,
        CloseReason::Error,
        CloseReason::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Client => "client",
            CloseReason::Target => "target",
            CloseReason::Revoked => "revoked",
            CloseReason::Expired => "expired",
            CloseReason::UserLocked => "user_locked",
            CloseReason::Killed => "killed",
            CloseReason::Shutdown => "shutdown",
            CloseReason::RecordingFailed => "recording_failed",
            CloseReason::Error => "error",
            CloseReason::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CloseReason {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CloseReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(InvalidValue::new("close_reason", "unknown_reason"))
    }
}

/// A finished recording of a session's byte streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// File name inside the data directory's `recordings/` folder.
    pub file: String,
    /// Size of the recording file in bytes.
    pub file_bytes: u64,
    /// SHA-256 of the recording file, lowercase hex.
    pub sha256: String,
    /// Payload bytes recorded (both directions).
    pub recorded_bytes: u64,
    /// The per-session cap was reached: payload after `recorded_bytes` was
    /// forwarded but not recorded.
    pub truncated: bool,
}

/// One tunnelled TCP connection and its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelSession {
    pub id: TunnelSessionId,
    pub request: AccessRequestId,
    pub user: UserId,
    pub username: Username,
    pub company: Option<Label>,
    pub credential: TunnelCredentialId,
    pub asset: AssetId,
    pub asset_name: Label,
    pub port: u16,
    /// The vendor's address as the gateway saw it.
    pub client_addr: SocketAddr,
    /// The device address the gateway connected to.
    pub target_addr: SocketAddr,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Bytes from the vendor to the device.
    pub bytes_up: u64,
    /// Bytes from the device to the vendor.
    pub bytes_down: u64,
    pub close_reason: Option<CloseReason>,
    /// Whether the byte streams are being recorded (asset setting).
    pub recorded: bool,
    /// The finished recording, once the session ended.
    pub recording: Option<RecordingInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Criticality, MaintenancePort};

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn asset() -> Asset {
        Asset {
            id: AssetId::new(),
            name: Label::parse("name", "nurse-call-1").unwrap(),
            addresses: vec![],
            zone: None,
            owner_department: Some(Label::parse("d", "Clinical Engineering").unwrap()),
            vendor_company: None,
            criticality: Criticality::High,
            maintenance_ports: vec![MaintenancePort::new(22, "ssh").unwrap()],
            max_session_minutes: 240,
            record_sessions: true,
            approvals_required: 1,
            approver_department: None,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn request(state: RequestState) -> AccessRequest {
        AccessRequest {
            id: AccessRequestId::new(),
            requester: UserId::new(),
            requester_username: Username::parse("v").unwrap(),
            company: None,
            asset: AssetId::new(),
            asset_name: Label::parse("n", "x").unwrap(),
            ports: vec![22],
            reason: "ticket 1".into(),
            requested_start: None,
            duration_minutes: 60,
            state,
            approvals_required: 1,
            approvals: vec![],
            window_start: Some(at(100)),
            window_end: Some(at(200)),
            decided_by: None,
            decision_note: None,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    #[test]
    fn approved_requests_are_active_only_inside_their_window() {
        let r = request(RequestState::Approved);
        assert_eq!(r.status_at(at(99)), AccessStatus::Scheduled);
        assert_eq!(r.status_at(at(100)), AccessStatus::Active);
        assert_eq!(r.status_at(at(199)), AccessStatus::Active);
        assert_eq!(r.status_at(at(200)), AccessStatus::Expired);
        assert!(r.allows(22, at(150)));
        assert!(!r.allows(23, at(150)));
        assert!(!r.allows(22, at(200)));
        for s in [RequestState::Pending, RequestState::Denied, RequestState::Revoked] {
            assert!(!request(s).allows(22, at(150)), "{s}");
        }
        let mut broken = request(RequestState::Approved);
        broken.window_end = None;
        assert!(!broken.allows(22, at(150)), "no window fails closed");
    }

    #[test]
    fn window_starts_at_approval_or_the_requested_start() {
        let mut r = request(RequestState::Pending);
        assert_eq!(r.window_if_approved_at(at(10)), (at(10), at(10 + 3600)));
        r.requested_start = Some(at(50));
        assert_eq!(r.window_if_approved_at(at(10)), (at(50), at(50 + 3600)));
        assert_eq!(r.window_if_approved_at(at(60)), (at(60), at(60 + 3600)));
        r.requested_start = Some(at(0));
        assert_eq!(r.status_at(at(3600)), AccessStatus::Expired, "unanswered past window");
    }

    #[test]
    fn requests_are_checked_against_the_asset() {
        let a = asset();
        let mut n = NewAccessRequest {
            asset: a.id,
            ports: vec![22],
            reason: "INC-1234 firmware update".into(),
            start: None,
            duration_minutes: 240,
        };
        assert_eq!(n.validate_for(&a), Ok(()));
        n.ports = vec![23];
        assert_eq!(n.validate_for(&a).unwrap_err().reason, "not_a_maintenance_port");
        n.ports = vec![22, 22];
        assert_eq!(n.validate_for(&a).unwrap_err().reason, "duplicate_port");
        n.ports = vec![22];
        n.duration_minutes = 241;
        assert_eq!(n.validate_for(&a).unwrap_err().reason, "over_asset_ceiling");
        n.duration_minutes = 10;
        n.reason = "  ".into();
        assert_eq!(n.validate_for(&a).unwrap_err().field, "reason");
    }

    #[test]
    fn approvers_are_the_assets_department_or_admins() {
        let a = asset();
        let user = |role, dept: Option<&str>| User {
            id: UserId::new(),
            username: Username::parse("u").unwrap(),
            display_name: Label::parse("n", "U").unwrap(),
            role,
            company: None,
            department: dept.map(|d| Label::parse("d", d).unwrap()),
            status: UserStatus::Active,
            mfa_enrolled: true,
            created_at: at(0),
            updated_at: at(0),
        };
        assert!(may_approve(&user(Role::Admin, None), &a));
        assert!(may_approve(&user(Role::Approver, Some("clinical engineering")), &a));
        assert!(!may_approve(&user(Role::Approver, Some("IT")), &a));
        assert!(!may_approve(&user(Role::Approver, None), &a));
        assert!(!may_approve(&user(Role::Vendor, Some("Clinical Engineering")), &a));
        let mut it = a.clone();
        it.approver_department = Some(Label::parse("d", "IT").unwrap());
        assert!(may_approve(&user(Role::Approver, Some("it")), &it));
        let mut locked = user(Role::Admin, None);
        locked.status = UserStatus::Locked;
        assert!(!may_approve(&locked, &a));
    }
}
