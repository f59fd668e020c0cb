//! The typed audit events. One variant per security-relevant action; each is
//! serialised as JSON with a `type` tag and is what the hash chain commits to.
//!
//! Events never carry secrets: no password, TOTP secret or code, recovery code
//! or session token has a field here. Session IDs (not tokens) are fine.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use sekimori_types::{
    AccessRequestId, AlertId, AlertKind, AlertSeverity, AssetId, CloseReason, Role, SessionId,
    TunnelCredentialId, TunnelSessionId, UserId, UserStatus, ZoneId,
};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A logged-in person.
    User {
        /// Their account.
        id: UserId,
        /// Their username at the time.
        username: String,
    },
    /// Someone at the server's console running the `sekimori` CLI.
    Cli {
        /// The operating-system account that ran it.
        os_user: String,
    },
    /// Not yet authenticated (a login attempt).
    Anonymous {
        /// What was typed as the username (may be anything, even a
        /// mistyped password: never copied into operational logs).
        username: Option<String>,
    },
    /// sekimori itself (start, stop, expiry, throttling).
    System,
}

impl Actor {
    /// The `kind` tag, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::Cli { .. } => "cli",
            Actor::Anonymous { .. } => "anonymous",
            Actor::System => "system",
        }
    }
}

/// Why a login step failed. Recorded, but the client sees one generic answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailure {
    /// No account has that username.
    UnknownUser,
    /// The password was wrong.
    BadPassword,
    /// The TOTP code was wrong.
    BadTotp,
    /// The TOTP code was right but already used.
    TotpReplayed,
    /// The recovery code was wrong or already used.
    BadRecoveryCode,
    /// The account is locked.
    AccountLocked,
    /// The account is disabled.
    AccountDisabled,
    /// Too many recent failures for the account or source.
    Throttled,
    /// The MFA challenge timed out.
    ChallengeExpired,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// The user logged out.
    Logout,
    /// An admin revoked it.
    RevokedByAdmin,
    /// The account was locked.
    UserLocked,
    /// The user's MFA was reset.
    MfaReset,
    /// The user's password changed.
    PasswordChanged,
}

/// A security-relevant event. Adding a variant is backward compatible;
/// renaming or removing one is not (old records must still verify and parse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    /// The server started.
    ServerStarted {
        /// sekimori's version.
        version: String,
        /// The listening address.
        listen: String,
        /// The store backend (`sqlite`, `postgres`).
        backend: String,
    },
    /// The server stopped.
    ServerStopped {
        /// Why (signal, error).
        reason: String,
    },
    /// The passive sensor started feeding the inventory.
    SensorStarted {
        /// sekimori's version.
        version: String,
        /// The interface it captures on, if any.
        interface: Option<String>,
        /// Its BPF filter, if any.
        filter: Option<String>,
        /// The addresses its flow collectors listen on.
        collectors: Vec<String>,
    },
    /// The passive sensor stopped.
    SensorStopped {
        /// Why (signal, error).
        reason: String,
        /// Packets it read from the interface.
        packets: u64,
        /// Packets the kernel dropped (buffer full or interface drops).
        dropped: u64,
        /// Flow records it took in from collectors.
        imported_flows: u64,
    },
    /// Advisory feeds were imported into the store.
    FeedsImported {
        /// Files read.
        files: u64,
        /// Records new to the store.
        added: u64,
        /// Records that changed.
        updated: u64,
        /// Records already stored as they are.
        unchanged: u64,
        /// Records (or files) skipped as malformed.
        skipped: u64,
    },
    /// The instance was initialised (data dir, keys, first setup code).
    InstanceInitialised {
        /// The new instance's identifier.
        instance_id: String,
        /// Its checkpoint public key, hex.
        public_key: String,
    },
    /// The first admin completed set-up with the one-time code.
    SetupCompleted {
        /// The admin's account.
        user: UserId,
        /// Its username.
        username: String,
    },
    /// A configuration value changed.
    ConfigChanged {
        /// The setting.
        key: String,
        /// Its previous value (never a secret: secrets live in files).
        old: Option<String>,
        /// Its new value.
        new: Option<String>,
    },

    /// Password and MFA succeeded; a session was created.
    LoginSucceeded {
        /// The account.
        user: UserId,
        /// The new session (its ID, not its token).
        session: SessionId,
        /// The client's address.
        source: Option<IpAddr>,
        /// The second factor used (`totp`, `recovery_code`).
        mfa: String,
    },
    /// A login step failed.
    LoginFailed {
        /// What was typed as the username.
        username: String,
        /// The client's address.
        source: Option<IpAddr>,
        /// Why.
        reason: LoginFailure,
    },
    /// An account was locked.
    AccountLocked {
        /// The account, when the username exists.
        user: Option<UserId>,
        /// The username.
        username: String,
        /// Why (throttling, admin).
        reason: String,
    },
    /// An admin unlocked an account.
    AccountUnlocked {
        /// The account.
        user: UserId,
        /// Its username.
        username: String,
    },
    /// A source address was blocked after repeated failures.
    SourceBlocked {
        /// The address.
        source: IpAddr,
        /// Consecutive failures from it.
        failures: u32,
    },
    /// A fresh MFA check (step-up) succeeded.
    StepUpSucceeded {
        /// The account.
        user: UserId,
        /// The session refreshed.
        session: SessionId,
    },
    /// A user logged out.
    Logout {
        /// The account.
        user: UserId,
        /// The session ended.
        session: SessionId,
    },
    /// A session was ended other than by logout.
    SessionRevoked {
        /// The account.
        user: UserId,
        /// The session ended.
        session: SessionId,
        /// Why.
        reason: SessionEnd,
    },

    /// A second factor was enrolled.
    MfaEnrolled {
        /// The account.
        user: UserId,
        /// The method (`totp`).
        method: String,
    },
    /// An admin reset a user's MFA.
    MfaReset {
        /// The account.
        user: UserId,
        /// Its username.
        username: String,
    },
    /// A recovery code was used to log in.
    RecoveryCodeUsed {
        /// The account.
        user: UserId,
        /// Unused codes left.
        remaining: u32,
    },
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated {
        /// The account.
        user: UserId,
    },
    /// A password was changed or reset.
    PasswordChanged {
        /// The account.
        user: UserId,
    },

    /// An account was created.
    UserCreated {
        /// The account.
        user: UserId,
        /// Its username.
        username: String,
        /// Its role.
        role: Role,
        /// The vendor's company.
        company: Option<String>,
    },
    /// An account's attributes changed.
    UserUpdated {
        /// The account.
        user: UserId,
        /// Its username.
        username: String,
        /// Names of the fields that changed.
        changes: Vec<String>,
    },
    /// An account's status changed.
    UserStatusChanged {
        /// The account.
        user: UserId,
        /// Its username.
        username: String,
        /// The previous status.
        from: UserStatus,
        /// The new status.
        to: UserStatus,
    },

    /// An asset was registered.
    AssetCreated {
        /// The asset.
        asset: AssetId,
        /// Its name.
        name: String,
    },
    /// An asset's attributes changed.
    AssetUpdated {
        /// The asset.
        asset: AssetId,
        /// Its name.
        name: String,
        /// Names of the fields that changed.
        changes: Vec<String>,
    },
    /// An asset was removed.
    AssetDeleted {
        /// The asset.
        asset: AssetId,
        /// Its name.
        name: String,
    },

    /// A zone was created.
    ZoneCreated {
        /// The zone.
        zone: ZoneId,
        /// Its name.
        name: String,
    },
    /// A zone's attributes changed.
    ZoneUpdated {
        /// The zone.
        zone: ZoneId,
        /// Its name.
        name: String,
        /// Names of the fields that changed.
        changes: Vec<String>,
    },
    /// A zone was removed.
    ZoneDeleted {
        /// The zone.
        zone: ZoneId,
        /// Its name.
        name: String,
    },

    /// A vendor asked for access to one asset.
    AccessRequested {
        /// The request.
        request: AccessRequestId,
        /// The requester.
        user: UserId,
        /// The asset.
        asset: AssetId,
        /// Its name.
        asset_name: String,
        /// Ports asked for.
        ports: Vec<u16>,
        /// Requested start (RFC 3339), `None` for "on approval".
        start: Option<String>,
        /// Requested length.
        duration_minutes: u32,
        /// The reason given (ticket reference).
        reason: String,
    },
    /// An approver approved a request (one of possibly two approvals).
    AccessApproved {
        /// The request.
        request: AccessRequestId,
        /// The approver.
        approver: UserId,
        /// Approvals so far, this one included.
        approvals: u8,
        /// Approvals needed.
        required: u8,
        /// Window start (RFC 3339) when this approval made it a grant.
        window_start: Option<String>,
        /// Window end (RFC 3339) when this approval made it a grant.
        window_end: Option<String>,
    },
    /// An approver denied a request.
    AccessDenied {
        /// The request.
        request: AccessRequestId,
        /// Who denied it.
        by: UserId,
        /// Their note.
        note: Option<String>,
    },
    /// The requester withdrew a request.
    AccessCancelled {
        /// The request.
        request: AccessRequestId,
        /// Who cancelled it.
        by: UserId,
    },
    /// An approver or admin withdrew a grant; its live connections close.
    AccessRevoked {
        /// The request.
        request: AccessRequestId,
        /// Who revoked it.
        by: UserId,
        /// Their note.
        note: Option<String>,
    },
    /// A grant's window ended, or a pending request's window passed.
    AccessExpired {
        /// The request.
        request: AccessRequestId,
        /// The state it expired from (`pending`, `approved`).
        from: String,
    },
    /// A tunnel credential (client public key) was registered.
    TunnelCredentialIssued {
        /// The credential.
        credential: TunnelCredentialId,
        /// Whose.
        user: UserId,
        /// The login session it is bound to.
        session: SessionId,
        /// When it expires (RFC 3339).
        expires_at: String,
        /// SHA-256 of the public key, hex (its fingerprint).
        key_sha256: String,
    },
    /// The gateway refused a tunnel or a tunnelled connection.
    TunnelRefused {
        /// The user, when the credential was recognised.
        user: Option<UserId>,
        /// The credential presented, if any.
        credential: Option<TunnelCredentialId>,
        /// The request named, if any.
        request: Option<AccessRequestId>,
        /// The port asked for, if any.
        port: Option<u16>,
        /// Stable reason code (`no_grant`, `grant_not_active`, …).
        reason: String,
        /// The client's address.
        source: Option<IpAddr>,
    },
    /// A tunnelled connection opened.
    TunnelOpened {
        /// The session record.
        tunnel_session: TunnelSessionId,
        /// The grant.
        request: AccessRequestId,
        /// The user.
        user: UserId,
        /// The asset.
        asset: AssetId,
        /// The port.
        port: u16,
        /// The client's address (ip:port).
        client: String,
        /// The device address connected to (ip:port).
        target: String,
        /// Whether the byte streams are recorded.
        recorded: bool,
    },
    /// A tunnelled connection closed.
    TunnelClosed {
        /// The session record.
        tunnel_session: TunnelSessionId,
        /// The grant.
        request: AccessRequestId,
        /// Bytes from the vendor to the device.
        bytes_up: u64,
        /// Bytes from the device to the vendor.
        bytes_down: u64,
        /// Who ended it.
        reason: CloseReason,
        /// SHA-256 of the recording file, hex, when recorded.
        recording_sha256: Option<String>,
        /// Payload bytes in the recording.
        recorded_bytes: Option<u64>,
        /// The recording hit its size cap.
        recording_truncated: Option<bool>,
    },
    /// Someone asked for a live tunnelled connection to be closed.
    TunnelKilled {
        /// The session record.
        tunnel_session: TunnelSessionId,
        /// The grant.
        request: AccessRequestId,
    },

    /// A session recording was exported (it holds what a vendor saw and
    /// typed, so reading it is itself audited).
    RecordingExported {
        /// The session record.
        tunnel_session: TunnelSessionId,
        /// The format (`pcap`).
        format: String,
    },

    /// A detection raised a new alert (recurrences aggregate into it and
    /// are not audited one by one; the alert's count says how many).
    AlertRaised {
        /// The alert.
        alert: AlertId,
        /// Its kind (`exfiltration`, …).
        alert_kind: AlertKind,
        /// Its severity.
        severity: AlertSeverity,
    },
    /// Someone acknowledged an alert ("we are on it").
    AlertAcknowledged {
        /// The alert.
        alert: AlertId,
        /// Their comment.
        comment: String,
    },
    /// Someone closed an alert (resolved, or a false positive).
    AlertClosed {
        /// The alert.
        alert: AlertId,
        /// Their comment.
        comment: String,
    },

    /// The audit log was exported.
    AuditExported {
        /// The format (`jsonl`).
        format: String,
        /// Records exported.
        records: u64,
    },
    /// The audit log was verified.
    AuditVerified {
        /// Records checked.
        records: u64,
        /// Whether it was intact.
        ok: bool,
    },
}

impl AuditEvent {
    /// The `type` tag, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::ServerStarted { .. } => "server_started",
            AuditEvent::ServerStopped { .. } => "server_stopped",
            AuditEvent::SensorStarted { .. } => "sensor_started",
            AuditEvent::SensorStopped { .. } => "sensor_stopped",
            AuditEvent::FeedsImported { .. } => "feeds_imported",
            AuditEvent::InstanceInitialised { .. } => "instance_initialised",
            AuditEvent::SetupCompleted { .. } => "setup_completed",
            AuditEvent::ConfigChanged { .. } => "config_changed",
            AuditEvent::LoginSucceeded { .. } => "login_succeeded",
            AuditEvent::LoginFailed { .. } => "login_failed",
            AuditEvent::AccountLocked { .. } => "account_locked",
            AuditEvent::AccountUnlocked { .. } => "account_unlocked",
            AuditEvent::SourceBlocked { .. } => "source_blocked",
            AuditEvent::StepUpSucceeded { .. } => "step_up_succeeded",
            AuditEvent::Logout { .. } => "logout",
            AuditEvent::SessionRevoked { .. } => "session_revoked",
            AuditEvent::MfaEnrolled { .. } => "mfa_enrolled",
            AuditEvent::MfaReset { .. } => "mfa_reset",
            AuditEvent::RecoveryCodeUsed { .. } => "recovery_code_used",
            AuditEvent::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
            AuditEvent::PasswordChanged { .. } => "password_changed",
            AuditEvent::UserCreated { .. } => "user_created",
            AuditEvent::UserUpdated { .. } => "user_updated",
            AuditEvent::UserStatusChanged { .. } => "user_status_changed",
            AuditEvent::AssetCreated { .. } => "asset_created",
            AuditEvent::AssetUpdated { .. } => "asset_updated",
            AuditEvent::AssetDeleted { .. } => "asset_deleted",
            AuditEvent::ZoneCreated { .. } => "zone_created",
            AuditEvent::ZoneUpdated { .. } => "zone_updated",
            AuditEvent::ZoneDeleted { .. } => "zone_deleted",
            AuditEvent::AccessRequested { .. } => "access_requested",
            AuditEvent::AccessApproved { .. } => "access_approved",
            AuditEvent::AccessDenied { .. } => "access_denied",
            AuditEvent::AccessCancelled { .. } => "access_cancelled",
            AuditEvent::AccessRevoked { .. } => "access_revoked",
            AuditEvent::AccessExpired { .. } => "access_expired",
            AuditEvent::TunnelCredentialIssued { .. } => "tunnel_credential_issued",
            AuditEvent::TunnelRefused { .. } => "tunnel_refused",
            AuditEvent::TunnelOpened { .. } => "tunnel_opened",
            AuditEvent::TunnelClosed { .. } => "tunnel_closed",
            AuditEvent::TunnelKilled { .. } => "tunnel_killed",
            AuditEvent::RecordingExported { .. } => "recording_exported",
            AuditEvent::AlertRaised { .. } => "alert_raised",
            AuditEvent::AlertAcknowledged { .. } => "alert_acknowledged",
            AuditEvent::AlertClosed { .. } => "alert_closed",
            AuditEvent::AuditExported { .. } => "audit_exported",
            AuditEvent::AuditVerified { .. } => "audit_verified",
        }
    }
}
