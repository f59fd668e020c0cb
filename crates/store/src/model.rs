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
