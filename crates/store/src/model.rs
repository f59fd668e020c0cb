//! Types the repositories take and return, beyond those of `sekimori-types`.
//! Secret material (password hashes, TOTP secrets) is held in `secrecy` types
//! and token hashes are redacted from `Debug`, so none of it reaches a log.

use std::fmt;
use std::net::IpAddr;

use secrecy::{SecretSlice, SecretString};
use time::OffsetDateTime;

use sekimori_audit::{Actor, SessionEnd};
use sekimori_types::{Label, Role, SessionId, UserId};

/// Who performs a mutation, and from where: every mutating repository method
/// takes one and writes the matching audit record with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCtx {
    /// Recorded as the audit entry's actor.
    pub actor: Actor,
    /// Client address, recorded in events that carry one (logins).
    pub source: Option<IpAddr>,
}

impl AuditCtx {
    /// sekimori itself (start, stop, expiry, throttling).
    pub fn system() -> Self {
        Self { actor: Actor::System, source: None }
    }

    /// An operator at the server's console running the CLI.
    pub fn cli(os_user: impl Into<String>) -> Self {
        Self { actor: Actor::Cli { os_user: os_user.into() }, source: None }
    }

    /// A logged-in person.
    pub fn user(id: UserId, username: impl Into<String>, source: Option<IpAddr>) -> Self {
        Self { actor: Actor::User { id, username: username.into() }, source }
    }

    /// A not yet authenticated client (login steps).
    pub fn anonymous(username: Option<String>, source: Option<IpAddr>) -> Self {
        Self { actor: Actor::Anonymous { username }, source }
    }
}

/// A partial update of a user's attributes; `None` leaves a field unchanged.
/// The result must still satisfy [`sekimori_types::NewUser::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New display name.
    pub display_name: Option<Label>,
    /// New role.
    pub role: Option<Role>,
    /// New company (`Some(None)` clears it).
    pub company: Option<Option<Label>>,
    /// New department (`Some(None)` clears it).
    pub department: Option<Option<Label>>,
}

/// A user's stored credentials, for `authn` only.
#[derive(Debug)]
pub struct Credentials {
    /// Whose.
    pub user: UserId,
    /// Argon2id hash in PHC string format.
    pub password_phc: SecretString,
    /// When the password was last set.
    pub password_changed_at: OffsetDateTime,
    /// The enrolled TOTP authenticator, if any.
    pub totp: Option<TotpCredential>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
}

/// An enrolled TOTP authenticator.
#[derive(Debug)]
pub struct TotpCredential {
    /// The shared secret (raw bytes, not base32).
    pub secret: SecretSlice<u8>,
    /// When enrolment completed.
    pub enrolled_at: OffsetDateTime,
    /// The last time step accepted; a code of this step or earlier is never
    /// accepted again (see `CredentialRepo::consume_totp_step`).
    pub last_step: Option<i64>,
}

/// Input for creating a session after a completed login.
pub struct NewSession {
    /// The person logged in.
    pub user: UserId,
    /// Hash of the opaque token handed to the client (never the token).
    pub token_hash: Vec<u8>,
    /// End of the absolute lifetime.
    pub expires_at: OffsetDateTime,
    /// How the second factor was proven: `totp`, `recovery_code`, …
    pub mfa_method: String,
    /// The client's `User-Agent`, truncated by the caller.
    pub user_agent: Option<String>,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("user", &self.user)
            .field("token_hash", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field("mfa_method", &self.mfa_method)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// A login session. The idle timeout is policy (config), applied by `authn`
/// to `last_seen_at`; the absolute lifetime is `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifier (not the token).
    pub id: SessionId,
    /// Whose session.
    pub user: UserId,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last activity, updated at most every `touch` interval.
    pub last_seen_at: OffsetDateTime,
    /// End of the absolute lifetime.
    pub expires_at: OffsetDateTime,
    /// Last time the second factor was proven (login or step-up).
    pub mfa_at: OffsetDateTime,
    /// How the second factor was proven at login.
    pub mfa_method: String,
    /// Client address at login.
    pub source: Option<IpAddr>,
    /// Client `User-Agent` at login.
    pub user_agent: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// Why it was revoked.
    pub revoke_reason: Option<SessionEnd>,
}

impl Session {
    /// Not revoked and within its absolute lifetime at `now` (the idle
    /// timeout is checked by the caller, which knows the configuration).
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// What a login challenge leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    /// Password accepted; a TOTP or recovery code completes the login.
    Mfa,
    /// Password accepted, no TOTP yet; confirming a code from the pending
    /// secret enrols it and completes the login.
    Enrol,
}

impl ChallengeKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Mfa => "mfa",
            ChallengeKind::Enrol => "enrol",
        }
    }
}

/// Input for creating a login challenge.
pub struct NewChallenge {
    /// Hash of the opaque challenge token handed to the client.
    pub token_hash: Vec<u8>,
    /// The account, or `None` for an unknown username or a wrong password
    /// (the client gets a challenge either way and cannot tell).
    pub user: Option<UserId>,
    /// What it leads to.
    pub kind: ChallengeKind,
    /// For [`ChallengeKind::Enrol`]: the secret being enrolled.
    pub pending_totp_secret: Option<SecretSlice<u8>>,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for NewChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewChallenge")
            .field("token_hash", &"[REDACTED]")
            .field("user", &self.user)
            .field("kind", &self.kind)
            .field("pending_totp_secret", &self.pending_totp_secret)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A stored login challenge.
#[derive(Debug)]
pub struct Challenge {
    /// The account, if the password step succeeded.
    pub user: Option<UserId>,
    /// What it leads to.
    pub kind: ChallengeKind,
    /// For [`ChallengeKind::Enrol`]: the secret being enrolled.
    pub pending_totp_secret: Option<SecretSlice<u8>>,
    /// Client address at the password step.
    pub source: Option<IpAddr>,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
    /// Wrong codes entered so far.
    pub attempts: u32,
}

/// Failure counters of one throttle key (`account:alice`,
/// `source:203.0.113.5`). The policy that reads them lives in `authn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Consecutive failures since the last reset.
    pub failures: u32,
    /// First failure since the last reset.
    pub first_failure_at: Option<OffsetDateTime>,
    /// Most recent failure.
    pub last_failure_at: Option<OffsetDateTime>,
    /// No attempt is allowed before this time.
    pub blocked_until: Option<OffsetDateTime>,
}

/// What the instance recorded about itself at initialisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Random identifier of this installation.
    pub instance_id: String,
    /// Hex Ed25519 public key that signs the audit checkpoints.
    pub public_key: String,
}

pub(crate) fn session_end_str(e: SessionEnd) -> &'static str {
    match e {
        SessionEnd::Logout => "logout",
        SessionEnd::RevokedByAdmin => "revoked_by_admin",
        SessionEnd::UserLocked => "user_locked",
        SessionEnd::MfaReset => "mfa_reset",
        SessionEnd::PasswordChanged => "password_changed",
    }
}

pub(crate) fn parse_session_end(s: &str) -> Option<SessionEnd> {
    [
        SessionEnd::Logout,
        SessionEnd::RevokedByAdmin,
        SessionEnd::UserLocked,
        SessionEnd::MfaReset,
        SessionEnd::PasswordChanged,
    ]
    .into_iter()
    .find(|e| session_end_str(*e) == s)
}

pub(crate) fn parse_challenge_kind(s: &str) -> Option<ChallengeKind> {
    [ChallengeKind::Mfa, ChallengeKind::Enrol].into_iter().find(|k| k.as_str() == s)
}

/// Which access requests to list (all conditions must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this requester's.
    pub requester: Option<sekimori_types::UserId>,
    /// Only for this asset.
    pub asset: Option<sekimori_types::AssetId>,
    /// Only in these stored states (empty: any).
    pub states: Vec<sekimori_types::RequestState>,
    /// At most this many (newest first); 0 means the default of 500.
    pub limit: u32,
}

/// What [`crate::TunnelRepo::tunnel_authz`] read, in one snapshot.
#[derive(Debug, Clone)]
pub struct TunnelAuthz {
    /// The credential, if it exists.
    pub credential: Option<sekimori_types::TunnelCredential>,
    /// Its login session, if it exists.
    pub session: Option<Session>,
    /// Its user, if it exists.
    pub user: Option<sekimori_types::User>,
    /// The request asked about, if given and it exists.
    pub request: Option<sekimori_types::AccessRequest>,
    /// The request's asset, if it exists.
    pub asset: Option<sekimori_types::Asset>,
}

/// A tunnelled connection that just opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTunnelSession {
    /// Chosen by the gateway (it names the recording file).
    pub id: sekimori_types::TunnelSessionId,
    /// The grant it runs under (its requester and asset must match).
    pub request: sekimori_types::AccessRequestId,
    /// The vendor.
    pub user: sekimori_types::UserId,
    /// The credential the tunnel was opened with.
    pub credential: sekimori_types::TunnelCredentialId,
    /// The device.
    pub asset: sekimori_types::AssetId,
    /// The device port.
    pub port: u16,
    /// The vendor's address as the gateway saw it.
    pub client_addr: std::net::SocketAddr,
    /// The device address the gateway connected to.
    pub target_addr: std::net::SocketAddr,
    /// Whether its byte streams are recorded.
    pub recorded: bool,
}

/// How a tunnelled connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSessionEnd {
    /// Bytes from the vendor to the device.
    pub bytes_up: u64,
    /// Bytes from the device to the vendor.
    pub bytes_down: u64,
    /// Why it ended.
    pub reason: sekimori_types::CloseReason,
    /// The finished recording, when the session was recorded.
    pub recording: Option<sekimori_types::RecordingInfo>,
}

/// One record of [`crate::TunnelRepo::record_tunnel_sessions`]: a
/// tunnelled connection's start, its end, or both when it ended before its
/// start was written. Times are the gateway's (when it happened), not the
/// writer's (when it was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelRecord {
    /// A connection opened at `at` (as [`crate::TunnelRepo::open_tunnel_session`]).
    Opened {
        /// The connection.
        new: NewTunnelSession,
        /// When it opened.
        at: time::OffsetDateTime,
    },
    /// A connection whose start is already written ended at `at` (as
    /// [`crate::TunnelRepo::close_tunnel_session`]).
    Ended {
        /// The record.
        id: sekimori_types::TunnelSessionId,
        /// How it ended.
        end: TunnelSessionEnd,
        /// When it ended (never before its start: clamped).
        at: time::OffsetDateTime,
    },
    /// A connection that opened and ended before either was written: one
    /// row, audited as `TunnelOpened` then `TunnelClosed`.
    OpenedAndEnded {
        /// The connection.
        new: NewTunnelSession,
        /// When it opened.
        opened_at: time::OffsetDateTime,
        /// How it ended.
        end: TunnelSessionEnd,
        /// When it ended (never before `opened_at`: clamped).
        ended_at: time::OffsetDateTime,
    },
}

impl TunnelRecord {
    /// The record's session.
    pub fn id(&self) -> sekimori_types::TunnelSessionId {
        match self {
            TunnelRecord::Opened { new, .. } | TunnelRecord::OpenedAndEnded { new, .. } => new.id,
            TunnelRecord::Ended { id, .. } => *id,
        }
    }
}

/// Which tunnel session records to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelSessionFilter {
    /// Only records not ended yet.
    pub live_only: bool,
    /// Only this user's.
    pub user: Option<sekimori_types::UserId>,
    /// Only of this grant.
    pub request: Option<sekimori_types::AccessRequestId>,
    /// At most this many (newest first); 0 means the default of 500.
    pub limit: u32,
}

/// A device the sensor observed: a row of the inventory, distinct from a
/// registered [`sekimori_types::Asset`]. A UUID v7 like the IDs of
/// `sekimori-types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservedAssetId(pub uuid::Uuid);

impl ObservedAssetId {
    /// A fresh, time-ordered identifier (UUID v7).
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl Default for ObservedAssetId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ObservedAssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ObservedAssetId {
    type Err = sekimori_types::InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| sekimori_types::InvalidValue::new("ObservedAssetId", "not_a_uuid"))
    }
}

/// Most names kept per observed asset (the first ones seen win).
pub const MAX_OBSERVED_NAMES: usize = 64;
/// Longest asset key, name, vendor, product, version or role text kept.
pub const MAX_OBSERVED_TEXT: usize = 255;
/// Most addresses one observed asset may claim in one report.
pub const MAX_OBSERVED_ADDRESSES: usize = 64;

/// A device as the sensor reports it: what
/// [`crate::InventoryRepo::upsert_observed`] merges into the inventory.
///
/// The fields are identities and protocol names only; the sensor never
/// reports payloads, so nothing here can hold patient data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAsset {
    /// The sensor's asset key: `mac:00:1b:21:0a:bc:de` for a device with a
    /// MAC address, `ip:10.20.1.10` for one known by its address only.
    pub key: String,
    /// Its MAC address (`00:1b:21:0a:bc:de`).
    pub mac: Option<String>,
    /// Its IP addresses (an `ip:` key's address among them).
    pub ips: Vec<IpAddr>,
    /// Names it is known by (DHCP/NetBIOS/DNS names, AE titles, LLDP
    /// system names).
    pub names: Vec<String>,
    /// Vendor from a banner, certificate or announcement (else the MAC's
    /// registrant).
    pub vendor: Option<String>,
    /// Product.
    pub product: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// The MAC address's IEEE registrant.
    pub mac_vendor: Option<String>,
    /// Protocols it used as a client (stable names: `dicom`, `tls`, …).
    pub protocols_as_client: Vec<String>,
    /// Protocols it served.
    pub protocols_as_server: Vec<String>,
    /// Link-layer protocols it announced itself with (LLDP, CDP).
    pub protocols_link: Vec<String>,
    /// The sensor's guess at what it is (`pacs-or-modality`, …).
    pub role: Option<String>,
    /// What the guess rests on.
    pub role_basis: Option<String>,
    /// Has a local-scope address (or only a MAC).
    pub local: bool,
    /// First seen.
    pub first_seen: OffsetDateTime,
    /// Last seen.
    pub last_seen: OffsetDateTime,
}

fn text_ok(field: &'static str, s: &str) -> Result<(), sekimori_types::InvalidValue> {
    if s.is_empty() || s.chars().count() > MAX_OBSERVED_TEXT || s.chars().any(char::is_control) {
        return Err(sekimori_types::InvalidValue::new(field, "invalid_text"));
    }
    Ok(())
}

/// A protocol or service name: short lowercase ASCII (`dicom`, `tcp/443`).
fn token_ok(field: &'static str, s: &str) -> Result<(), sekimori_types::InvalidValue> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_/.".contains(&b));
    if ok { Ok(()) } else { Err(sekimori_types::InvalidValue::new(field, "invalid_name")) }
}

/// Whether `key` is a sensor asset key: `mac:` and a lowercase MAC, or
/// `ip:` and an address in its canonical text form.
pub(crate) fn key_ok(key: &str) -> bool {
    if let Some(mac) = key.strip_prefix("mac:") {
        mac.len() == 17
            && mac.split(':').count() == 6
            && mac.split(':').all(|p| {
                p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
    } else if let Some(ip) = key.strip_prefix("ip:") {
        ip.parse::<IpAddr>().is_ok_and(|a| a.to_string() == ip)
    } else {
        false
    }
}

impl ObservedAsset {
    /// Checks the shape of every field (the store refuses the report
    /// otherwise): a valid key, a MAC that matches a `mac:` key, an `ip:`
    /// key's address among `ips`, bounded texts without control
    /// characters, protocol names as short lowercase tokens, first seen not
    /// after last seen.
    pub fn validate(&self) -> Result<(), sekimori_types::InvalidValue> {
        use sekimori_types::InvalidValue;
        if !key_ok(&self.key) {
            return Err(InvalidValue::new("key", "invalid_key"));
        }
        if let Some(mac) = &self.mac
            && !key_ok(&format!("mac:{mac}"))
        {
            return Err(InvalidValue::new("mac", "invalid_mac"));
        }
        if let Some(mac) = self.key.strip_prefix("mac:")
            && self.mac.as_deref() != Some(mac)
        {
            return Err(InvalidValue::new("mac", "key_mismatch"));
        }
        if let Some(ip) = self.key.strip_prefix("ip:")
            && !self.ips.iter().any(|a| a.to_string() == ip)
        {
            return Err(InvalidValue::new("ips", "key_mismatch"));
        }
        if self.ips.len() > MAX_OBSERVED_ADDRESSES {
            return Err(InvalidValue::new("ips", "too_many"));
        }
        for n in &self.names {
            text_ok("names", n)?;
        }
        for (field, v) in [
            ("vendor", &self.vendor),
            ("product", &self.product),
            ("version", &self.version),
            ("mac_vendor", &self.mac_vendor),
            ("role", &self.role),
            ("role_basis", &self.role_basis),
        ] {
            if let Some(v) = v {
                text_ok(field, v)?;
            }
        }
        for p in self
            .protocols_as_client
            .iter()
            .chain(&self.protocols_as_server)
            .chain(&self.protocols_link)
        {
            token_ok("protocols", p)?;
        }
        if self.first_seen > self.last_seen {
            return Err(InvalidValue::new("first_seen", "after_last_seen"));
        }
        Ok(())
    }
}

/// A device of the inventory, as stored: everything the sensor reported
/// about it over time, merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryAsset {
    /// Its identifier in the store.
    pub id: ObservedAssetId,
    /// The sensor's asset key (`mac:…` or `ip:…`).
    pub key: String,
    /// Its main address: the lowest IPv4, else the lowest IPv6.
    pub ip: Option<IpAddr>,
    /// All its addresses, IPv4 first, each in order.
    pub ips: Vec<IpAddr>,
    /// Its MAC address.
    pub mac: Option<String>,
    /// Names, sorted.
    pub names: Vec<String>,
    /// Vendor (newest reported).
    pub vendor: Option<String>,
    /// Product (newest reported).
    pub product: Option<String>,
    /// Version (newest reported).
    pub version: Option<String>,
    /// The MAC address's IEEE registrant.
    pub mac_vendor: Option<String>,
    /// Every protocol, sorted.
    pub protocols: Vec<String>,
    /// Protocols used as a client, sorted.
    pub protocols_as_client: Vec<String>,
    /// Protocols served, sorted.
    pub protocols_as_server: Vec<String>,
    /// The role guess (newest reported).
    pub role: Option<String>,
    /// What it rests on.
    pub role_basis: Option<String>,
    /// Has a local-scope address.
    pub local: bool,
    /// First seen (earliest report).
    pub first_seen: OffsetDateTime,
    /// Last seen (latest report).
    pub last_seen: OffsetDateTime,
    /// When the inventory last changed this row.
    pub updated_at: OffsetDateTime,
    /// Registered assets with one of its addresses.
    pub registered: Vec<sekimori_types::AssetId>,
}

/// Which inventory assets to list (all conditions must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryFilter {
    /// A case-insensitive substring of the key, an address, a name, the
    /// vendor, product or role.
    pub q: Option<String>,
    /// Only with this role.
    pub role: Option<String>,
    /// Only those that used or served this protocol.
    pub app: Option<String>,
    /// At most this many, most recently seen first; 0 means 500.
    pub limit: u32,
}

/// Traffic of one asset pair and service in one minute, as the sensor
/// reports it to [`crate::InventoryRepo::add_conversations`] (added to
/// what the bucket already holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationBucket {
    /// The client's asset key (`mac:…` / `ip:…`).
    pub client: String,
    /// The server's asset key.
    pub server: String,
    /// The identified application (`dicom`), or transport and server port
    /// (`tcp/443`).
    pub service: String,
    /// Start of the minute (a whole minute).
    pub start: OffsetDateTime,
    /// Client to server.
    pub packets_out: u64,
    /// Server to client.
    pub packets_in: u64,
    /// Client to server.
    pub bytes_out: u64,
    /// Server to client.
    pub bytes_in: u64,
    /// Flows that started in the bucket.
    pub flows: u64,
}

impl ConversationBucket {
    /// Checks the keys, the service name and that `start` is a whole minute.
    pub fn validate(&self) -> Result<(), sekimori_types::InvalidValue> {
        use sekimori_types::InvalidValue;
        if !key_ok(&self.client) {
            return Err(InvalidValue::new("client", "invalid_key"));
        }
        if !key_ok(&self.server) {
            return Err(InvalidValue::new("server", "invalid_key"));
        }
        token_ok("service", &self.service)?;
        if sekimori_types::to_micros(self.start).rem_euclid(60_000_000) != 0 {
            return Err(InvalidValue::new("start", "not_a_whole_minute"));
        }
        Ok(())
    }
}

/// One stored conversation bucket, with its endpoints resolved to
/// inventory assets where they are ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    /// Start of the minute.
    pub start: OffsetDateTime,
    /// The client's asset key.
    pub client: String,
    /// The client's inventory asset, if the key names one.
    pub client_asset: Option<ObservedAssetId>,
    /// The server's asset key.
    pub server: String,
    /// The server's inventory asset, if the key names one.
    pub server_asset: Option<ObservedAssetId>,
    /// Application or transport/port.
    pub service: String,
    /// Client to server.
    pub packets_out: u64,
    /// Server to client.
    pub packets_in: u64,
    /// Client to server.
    pub bytes_out: u64,
    /// Server to client.
    pub bytes_in: u64,
    /// Flows that started in the bucket.
    pub flows: u64,
}

/// Which conversation buckets to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    /// Only those with this asset at either end.
    pub asset: Option<ObservedAssetId>,
    /// Only buckets starting at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only buckets starting before this time.
    pub until: Option<OffsetDateTime>,
    /// At most this many, newest first; 0 means 500.
    pub limit: u32,
}
