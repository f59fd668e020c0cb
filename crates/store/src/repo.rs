//! The repository traits: everything the rest of sekimori may ask of the
//! store. [`Store`](crate::Store) implements all of them over SQLite and
//! PostgreSQL alike.
//!
//! Every mutating method that changes a security-relevant row takes an
//! [`AuditCtx`] and writes the matching audit record in the same transaction;
//! when it returns `Ok`, both are durable. Bookkeeping writes (session touch,
//! throttle counters, login challenges, TOTP step consumption) are durable
//! too but not audited: the caller appends the event that explains them
//! (`LoginFailed`, `AccountLocked`, …).

use std::future::Future;

use futures::stream::BoxStream;
use time::Duration;

use sekimori_audit::{
    AuditEvent, Checkpoint, PublicKey, SessionEnd, StoredRecord, VerifyFailure, VerifyReport,
};
use sekimori_types::{
    AccessRequest, AccessRequestId, Asset, AssetId, AssetSpec, NewAccessRequest, NewUser,
    SessionId, TunnelCredential, TunnelCredentialId, TunnelSession, TunnelSessionId, User, UserId,
    UserStatus, Username, Zone, ZoneId, ZoneSpec,
};

use crate::StoreError;
use crate::model::{
    AuditCtx, Challenge, Credentials, InstanceInfo, NewChallenge, NewSession, NewTunnelSession,
    RequestFilter, Session, ThrottleState, TunnelAuthz, TunnelRecord, TunnelSessionEnd,
    TunnelSessionFilter, UserPatch,
};

/// Short alias for the results of this module.
pub type Result<T> = std::result::Result<T, StoreError>;

/// People with accounts.
pub trait UserRepo {
    /// Creates a user with an initial password (Argon2id PHC string).
    /// Audited: `UserCreated`. `Conflict { what: "user", field: "username" }`
    /// when the name is taken.
    fn create_user(
        &self,
        ctx: &AuditCtx,
        new: &NewUser,
        password_phc: &str,
    ) -> impl Future<Output = Result<User>> + Send;

    /// The user with this ID, or `NotFound`.
    fn user(&self, id: UserId) -> impl Future<Output = Result<User>> + Send;

    /// The user with this name, if any (logins look up unknown names too).
    fn user_by_username(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<Option<User>>> + Send;

    /// All users, by username.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>>> + Send;

    /// Changes attributes. Audited: `UserUpdated` with the changed field
    /// names (nothing is written when nothing changes).
    fn update_user(
        &self,
        ctx: &AuditCtx,
        id: UserId,
        patch: &UserPatch,
    ) -> impl Future<Output = Result<User>> + Send;

    /// Locks, unlocks or disables an account. Audited: `UserStatusChanged`,
    /// plus `AccountLocked { reason }` when locking and `AccountUnlocked` when
    /// a locked account becomes active. Locking or disabling revokes the
    /// user's sessions (`SessionRevoked`, reason `UserLocked`). No-op when
    /// the status is already `status`.
    fn set_user_status(
        &self,
        ctx: &AuditCtx,
        id: UserId,
        status: UserStatus,
        reason: &str,
    ) -> impl Future<Output = Result<User>> + Send;
}

/// Passwords, TOTP and recovery codes.
pub trait CredentialRepo {
    /// The user's credentials, or `NotFound`.
    fn credentials(&self, user: UserId) -> impl Future<Output = Result<Credentials>> + Send;

    /// Replaces the password. Audited: `PasswordChanged`. Revokes the user's
    /// other sessions (reason `PasswordChanged`), keeping `keep` if given.
    fn set_password(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        password_phc: &str,
        keep: Option<SessionId>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Enrols TOTP: stores the secret, marks `confirmed_step` (the step of
    /// the code that confirmed enrolment) as used, and replaces the recovery
    /// codes with `recovery_code_hashes`. Audited: `MfaEnrolled` and, when
    /// codes are given, `RecoveryCodesRegenerated`. `Invalid` if TOTP is
    /// already enrolled (reset first).
    fn enrol_totp(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        secret: &[u8],
        confirmed_step: i64,
        recovery_code_hashes: &[Vec<u8>],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Accepts TOTP time step `step` for `user` at most once, atomically:
    /// `true` only if no step at or after it was accepted before, so a code
    /// is never accepted twice even under concurrent requests.
    fn consume_totp_step(
        &self,
        user: UserId,
        step: i64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Removes TOTP and recovery codes and revokes every session of the user
    /// (and drops their pending login challenges). Audited: `MfaReset` and
    /// `SessionRevoked` (reason `MfaReset`) per live session.
    fn reset_mfa(&self, ctx: &AuditCtx, user: UserId) -> impl Future<Output = Result<()>> + Send;

    /// Replaces the recovery codes. Audited: `RecoveryCodesRegenerated`.
    fn replace_recovery_codes(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        code_hashes: &[Vec<u8>],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Uses the unused recovery code with this hash, atomically and once:
    /// `Some(remaining)` if it was valid. Audited (when valid):
    /// `RecoveryCodeUsed`.
    fn consume_recovery_code(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        code_hash: &[u8],
    ) -> impl Future<Output = Result<Option<u32>>> + Send;
}

/// Login sessions and the challenges that lead to them.
pub trait SessionRepo {
    /// Creates a session after a completed login. Audited: `LoginSucceeded`
    /// (source from `ctx`). `Conflict { field: "token_hash" }` on a reused
    /// token hash.
    fn create_session(
        &self,
        ctx: &AuditCtx,
        new: &NewSession,
    ) -> impl Future<Output = Result<Session>> + Send;

    /// The session whose token hashes to `token_hash`, revoked or expired
    /// included (the caller checks [`Session::is_live`] and the idle timeout).
    fn session_by_token_hash(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<Session>>> + Send;

    /// The session with this ID, or `NotFound`.
    fn session(&self, id: SessionId) -> impl Future<Output = Result<Session>> + Send;

    /// Sessions neither revoked nor past their absolute lifetime, newest
    /// first; all users' when `user` is `None`.
    fn live_sessions(
        &self,
        user: Option<UserId>,
    ) -> impl Future<Output = Result<Vec<Session>>> + Send;

    /// Records activity, at most once per `min_interval`: returns `false`
    /// without writing when `session.last_seen_at` is more recent than that,
    /// or the session is revoked. Not audited.
    fn touch_session(
        &self,
        session: &Session,
        min_interval: Duration,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Marks the second factor freshly proven now (step-up). Audited:
    /// `StepUpSucceeded`. `NotFound` if the session is not live.
    fn mark_step_up(
        &self,
        ctx: &AuditCtx,
        id: SessionId,
    ) -> impl Future<Output = Result<Session>> + Send;

    /// Revokes one session; `false` if it was already revoked. Audited:
    /// `Logout` for [`SessionEnd::Logout`], else `SessionRevoked`.
    fn revoke_session(
        &self,
        ctx: &AuditCtx,
        id: SessionId,
        reason: SessionEnd,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Revokes every live session of `user` except `keep`; returns how many.
    /// Audited: `SessionRevoked` per session.
    fn revoke_user_sessions(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        reason: SessionEnd,
        keep: Option<SessionId>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes sessions that ended (revoked or expired) before `before`.
    fn purge_sessions(
        &self,
        before: time::OffsetDateTime,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Stores a login challenge (source from `ctx`). Not audited.
    fn create_challenge(
        &self,
        ctx: &AuditCtx,
        new: NewChallenge,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The challenge with this token hash, without consuming it.
    fn challenge(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<Challenge>>> + Send;

    /// Removes and returns the challenge: of concurrent takers exactly one
    /// gets it (single use). Expiry is the caller's check.
    fn take_challenge(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<Challenge>>> + Send;

    /// Counts a wrong code against the challenge; the new count, or `None`
    /// if the challenge is gone.
    fn bump_challenge_attempts(
        &self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<u32>>> + Send;

    /// Deletes challenges that expired before now; returns how many.
    fn purge_challenges(&self) -> impl Future<Output = Result<u64>> + Send;
}

/// Failure counters for login throttling, by key (`account:alice`,
/// `source:203.0.113.5`). Not audited: the caller appends `LoginFailed`,
/// `AccountLocked`, `SourceBlocked`.
pub trait ThrottleRepo {
    /// The state of `key`, if any failure was recorded since the last reset.
    fn throttle_get(&self, key: &str)
    -> impl Future<Output = Result<Option<ThrottleState>>> + Send;

    /// Replaces the state of `key`.
    fn throttle_put(
        &self,
        key: &str,
        state: &ThrottleState,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Counts one failure now, atomically (concurrent failures are never
    /// lost), and returns the new state.
    fn throttle_record_failure(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<ThrottleState>> + Send;

    /// Forgets `key` (after a success, or an admin lifting a block).
    fn throttle_reset(&self, key: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Registered devices.
pub trait AssetRepo {
    /// Creates an asset. Audited: `AssetCreated`. `Conflict { field: "name" }`
    /// (names are unique ignoring case); `NotFound { what: "zone" }` for an
    /// unknown zone.
    fn create_asset(
        &self,
        ctx: &AuditCtx,
        spec: &AssetSpec,
    ) -> impl Future<Output = Result<Asset>> + Send;

    /// The asset with this ID, or `NotFound`.
    fn asset(&self, id: AssetId) -> impl Future<Output = Result<Asset>> + Send;

    /// All assets, by name.
    fn list_assets(&self) -> impl Future<Output = Result<Vec<Asset>>> + Send;

    /// Replaces an asset's attributes. Audited: `AssetUpdated` with the
    /// changed field names (nothing is written when nothing changes).
    fn update_asset(
        &self,
        ctx: &AuditCtx,
        id: AssetId,
        spec: &AssetSpec,
    ) -> impl Future<Output = Result<Asset>> + Send;

    /// Deletes an asset. Audited: `AssetDeleted`.
    fn delete_asset(&self, ctx: &AuditCtx, id: AssetId) -> impl Future<Output = Result<()>> + Send;
}

/// Named groups of assets.
pub trait ZoneRepo {
    /// Creates a zone. Audited: `ZoneCreated`. `Conflict { field: "name" }`.
    fn create_zone(
        &self,
        ctx: &AuditCtx,
        spec: &ZoneSpec,
    ) -> impl Future<Output = Result<Zone>> + Send;

    /// The zone with this ID, or `NotFound`.
    fn zone(&self, id: ZoneId) -> impl Future<Output = Result<Zone>> + Send;

    /// All zones, by name.
    fn list_zones(&self) -> impl Future<Output = Result<Vec<Zone>>> + Send;

    /// Replaces a zone's attributes. Audited: `ZoneUpdated` with the changed
    /// field names (nothing is written when nothing changes).
    fn update_zone(
        &self,
        ctx: &AuditCtx,
        id: ZoneId,
        spec: &ZoneSpec,
    ) -> impl Future<Output = Result<Zone>> + Send;

    /// Deletes a zone. Audited: `ZoneDeleted`. `InUse` while assets are in it.
    fn delete_zone(&self, ctx: &AuditCtx, id: ZoneId) -> impl Future<Output = Result<()>> + Send;
}

/// Access requests and the grants they become. The caller (web layer)
/// checks roles and [`sekimori_types::may_approve`]; the store enforces the
/// state machine atomically: transitions only from the states named, no one
/// approves their own request, one approval per approver.
pub trait AccessRepo {
    /// Records a new pending request by `requester` (whose company is
    /// copied). Checks, inside the transaction, that the asset exists
    /// (`NotFound { what: "asset" }`) and [`NewAccessRequest::validate_for`]
    /// (`Invalid`); copies the asset's `approvals_required`. Audited:
    /// `AccessRequested`.
    fn create_request(
        &self,
        ctx: &AuditCtx,
        requester: &User,
        new: &NewAccessRequest,
    ) -> impl Future<Output = Result<AccessRequest>> + Send;

    /// The request with this ID (with its approvals), or `NotFound`.
    fn request(&self, id: AccessRequestId) -> impl Future<Output = Result<AccessRequest>> + Send;

    /// Requests matching `filter`, newest first.
    fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> impl Future<Output = Result<Vec<AccessRequest>>> + Send;

    /// Adds `approver`'s approval to a pending request. `Invalid { field:
    /// "approver", reason: "own_request" }` for the requester,
    /// `Conflict { what: "approval", field: "approver" }` for a second
    /// approval by the same person, `Invalid { field: "state", reason:
    /// "not_pending" }` unless pending (an expired-by-time pending request
    /// counts as not pending). When the approvals reach the required number
    /// the request becomes `Approved` with the window
    /// [`AccessRequest::window_if_approved_at`] now. Audited: `AccessApproved`.
    fn approve_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        approver: UserId,
    ) -> impl Future<Output = Result<AccessRequest>> + Send;

    /// Denies a pending request (`Invalid { field: "state", reason:
    /// "not_pending" }` otherwise). Audited: `AccessDenied`.
    fn deny_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        by: UserId,
        note: Option<&str>,
    ) -> impl Future<Output = Result<AccessRequest>> + Send;

    /// The requester withdraws a pending or approved request whose window
    /// has not ended (`Invalid { field: "state", reason: "final" }`
    /// otherwise). Audited: `AccessCancelled`.
    fn cancel_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        by: UserId,
    ) -> impl Future<Output = Result<AccessRequest>> + Send;

    /// Withdraws an approved grant whose window has not ended (`Invalid {
    /// field: "state", reason: "not_approved" }` otherwise). Audited:
    /// `AccessRevoked`.
    fn revoke_request(
        &self,
        ctx: &AuditCtx,
        id: AccessRequestId,
        by: UserId,
        note: Option<&str>,
    ) -> impl Future<Output = Result<AccessRequest>> + Send;

    /// Marks `Expired` every approved request whose window ended and every
    /// pending one whose requested window passed, at the store clock's now;
    /// returns their IDs. Audited: `AccessExpired` each.
    fn expire_requests(
        &self,
        ctx: &AuditCtx,
    ) -> impl Future<Output = Result<Vec<AccessRequestId>>> + Send;
}

/// Tunnel credentials and the records of tunnelled connections.
pub trait TunnelRepo {
    /// Registers a client public key for `user`, bound to login session
    /// `session` (which must be live: `NotFound { what: "session" }`
    /// otherwise), expiring at `expires_at` (clamped to the session's
    /// absolute expiry). Audited: `TunnelCredentialIssued`.
    fn create_tunnel_credential(
        &self,
        ctx: &AuditCtx,
        user: UserId,
        session: SessionId,
        public_key: &[u8],
        expires_at: time::OffsetDateTime,
    ) -> impl Future<Output = Result<TunnelCredential>> + Send;

    /// Everything needed to decide whether `credential` may reach `request`
    /// now, read in one snapshot. `None` fields mean "not found".
    fn tunnel_authz(
        &self,
        credential: TunnelCredentialId,
        request: Option<AccessRequestId>,
    ) -> impl Future<Output = Result<TunnelAuthz>> + Send;

    /// Records that a tunnelled connection opened. Audited: `TunnelOpened`.
    fn open_tunnel_session(
        &self,
        ctx: &AuditCtx,
        new: &NewTunnelSession,
    ) -> impl Future<Output = Result<TunnelSession>> + Send;

    /// Records its end (once: `Invalid { field: "state", reason: "ended" }`
    /// the second time). Audited: `TunnelClosed` with the byte counts and
    /// the recording's SHA-256.
    fn close_tunnel_session(
        &self,
        ctx: &AuditCtx,
        id: TunnelSessionId,
        end: &TunnelSessionEnd,
    ) -> impl Future<Output = Result<TunnelSession>> + Send;

    /// Writes several records of tunnelled connections as one write job
    /// (the new rows first, in one multi-row statement, then the ends of
    /// rows written before, one statement each), and returns one result
    /// per record, in order: a record that cannot be written (its request
    /// or user gone, an end written twice: the errors of
    /// `open_tunnel_session` and `close_tunnel_session`) fails alone and
    /// writes nothing. `Err` if the job as a whole failed: then nothing of
    /// it was written. Audited like the single calls, in the order of
    /// `records`.
    fn record_tunnel_sessions(
        &self,
        ctx: &AuditCtx,
        records: Vec<TunnelRecord>,
    ) -> impl Future<Output = Result<Vec<Result<()>>>> + Send;

    /// The session record, or `NotFound`.
    fn tunnel_session(
        &self,
        id: TunnelSessionId,
    ) -> impl Future<Output = Result<TunnelSession>> + Send;

    /// Records matching `filter`, newest first.
    fn list_tunnel_sessions(
        &self,
        filter: &TunnelSessionFilter,
    ) -> impl Future<Output = Result<Vec<TunnelSession>>> + Send;
}

/// The audit log itself.
pub trait AuditRepo {
    /// Appends an event not tied to a row change (login failed, server
    /// start/stop, …); returns its seq once durable.
    fn append(&self, ctx: &AuditCtx, event: AuditEvent)
    -> impl Future<Output = Result<u64>> + Send;

    /// The signed head (last record), or `None` for an empty log.
    fn audit_head(&self) -> impl Future<Output = Result<Option<Checkpoint>>> + Send;

    /// Up to `limit` records from `from_seq` on, in order (a page).
    fn audit_records(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredRecord>>> + Send;

    /// The periodic checkpoints, in order.
    fn audit_checkpoints(&self) -> impl Future<Output = Result<Vec<Checkpoint>>> + Send;

    /// Checkpoints, head and a stream of every record, all read from one
    /// snapshot, in constant memory: for export of large logs.
    fn audit_snapshot(&self) -> impl Future<Output = Result<AuditSnapshot>> + Send;

    /// Verifies the whole log from one snapshot against `key`, streaming.
    /// The outer error means the log could not be read; the inner one names
    /// the first bad record.
    fn verify_audit(
        &self,
        key: &PublicKey,
    ) -> impl Future<Output = Result<std::result::Result<VerifyReport, VerifyFailure>>> + Send;
}

/// A consistent view of the audit log (see [`AuditRepo::audit_snapshot`]).
pub struct AuditSnapshot {
    /// The periodic checkpoints, in order.
    pub checkpoints: Vec<Checkpoint>,
    /// The signed head, `None` for an empty log.
    pub head: Option<Checkpoint>,
    /// Every record in seq order. Holds a read transaction until dropped.
    pub records: BoxStream<'static, Result<StoredRecord>>,
}

impl std::fmt::Debug for AuditSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSnapshot")
            .field("checkpoints", &self.checkpoints.len())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// Instance metadata, configuration values and the first-admin setup code.
pub trait MetaRepo {
    /// Records the instance ID and public key once; returns what is stored
    /// (the existing values if already initialised). Audited the first time:
    /// `InstanceInitialised`.
    fn initialise_instance(
        &self,
        ctx: &AuditCtx,
        instance_id: &str,
        public_key: &PublicKey,
    ) -> impl Future<Output = Result<InstanceInfo>> + Send;

    /// What [`Self::initialise_instance`] stored, if it ran.
    fn instance(&self) -> impl Future<Output = Result<Option<InstanceInfo>>> + Send;

    /// A configuration value.
    fn config_get(&self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Sets (or with `None` removes) a configuration value. Audited:
    /// `ConfigChanged` with old and new values, so never store secrets here.
    /// Keys starting with `sekimori.` are reserved.
    fn config_set(
        &self,
        ctx: &AuditCtx,
        key: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores the hash of a new one-time setup code, replacing any earlier
    /// one. `Invalid { field: "setup_code", reason: "admin_exists" }` once an
    /// admin exists. Audited: `ConfigChanged { key: "setup_code" }` (no values).
    fn set_setup_code(
        &self,
        ctx: &AuditCtx,
        code_hash: &[u8],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Whether a setup code is waiting to be used (and no admin exists).
    fn setup_pending(&self) -> impl Future<Output = Result<bool>> + Send;

    /// Creates the first admin, once: only while no admin exists and
    /// `code_hash` matches the stored one (constant-time), consuming it.
    /// Audited: `UserCreated`, `SetupCompleted`. Refusals are
    /// `Invalid { field: "setup_code", reason: "mismatch" | "not_pending" }`,
    /// or `Invalid { field: "role" }` when `new.role` is not admin.
    fn complete_setup(
        &self,
        ctx: &AuditCtx,
        code_hash: &[u8],
        new: &NewUser,
        password_phc: &str,
    ) -> impl Future<Output = Result<User>> + Send;
}

/// What one inventory write changed (for the sensor's per-flush counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InventoryWrite {
    /// Rows created.
    pub created: u64,
    /// Rows that existed (updated, or unchanged by an idempotent report).
    pub updated: u64,
    /// Rows merged into another and removed: an address-only row whose
    /// address turned out to belong to a device with a MAC address.
    pub merged: u64,
}

/// The sensor's view of the network: observed devices and the traffic
/// between them. Written by `sekimori sensor` (and `analyze --store`),
/// read by the inventory API. Sensor writes are bookkeeping, not security
/// actions: they are durable but not audited.
///
/// Merge rules of [`InventoryRepo::upsert_observed`], per reported device:
/// - the row is found by the sensor's key (`mac:…` / `ip:…`); an `ip:` key
///   whose address already belongs to a row joins that row;
/// - an address belongs to one row at a time: a report claiming it moves it
///   there, and an `ip:` row losing its own address to a `mac:` row is
///   merged into that row (names, protocols, first/last seen, conversations)
///   and removed;
/// - names and protocols are unioned (at most
///   [`crate::MAX_OBSERVED_NAMES`] names per row), `first_seen` only moves
///   earlier and `last_seen` only later; vendor, product, version, MAC
///   vendor and role keep the newest non-null value.
pub trait InventoryRepo {
    /// Merges reported devices into the inventory. Idempotent: the same
    /// report twice changes nothing the second time. `Invalid` (nothing
    /// written) when a report fails [`ObservedAsset::validate`].
    ///
    /// [`ObservedAsset::validate`]: crate::ObservedAsset::validate
    fn upsert_observed(
        &self,
        assets: &[crate::ObservedAsset],
    ) -> impl Future<Output = Result<InventoryWrite>> + Send;

    /// Adds traffic to the conversation buckets: counts add to what a
    /// bucket (asset pair, service, minute) already holds, so concurrent
    /// and repeated calls add up (a batch sent twice counts twice). An
    /// `ip:` endpoint whose address belongs to an inventory row is filed
    /// under that row's key. `Invalid` (nothing written) when a bucket fails
    /// [`ConversationBucket::validate`]. Returns the buckets written.
    ///
    /// [`ConversationBucket::validate`]: crate::ConversationBucket::validate
    fn add_conversations(
        &self,
        buckets: &[crate::ConversationBucket],
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Inventory rows matching `filter`, most recently seen first.
    fn list_observed(
        &self,
        filter: &crate::InventoryFilter,
    ) -> impl Future<Output = Result<Vec<crate::InventoryAsset>>> + Send;

    /// One inventory row, or `NotFound`.
    fn observed(
        &self,
        id: crate::ObservedAssetId,
    ) -> impl Future<Output = Result<crate::InventoryAsset>> + Send;

    /// Conversation buckets matching `filter`, newest first (then by
    /// client, server, service). `NotFound` for an unknown asset.
    fn conversations(
        &self,
        filter: &crate::ConversationFilter,
    ) -> impl Future<Output = Result<Vec<crate::ConversationRecord>>> + Send;

    /// Deletes conversation buckets that started before `before`; returns
    /// how many.
    fn purge_conversations(
        &self,
        before: time::OffsetDateTime,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// One imported advisory record, as the assessment stores it: the store
/// does not read `body` (normalised JSON owned by `sekimori-assess`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryRow {
    /// Source and ID (`cve5:CVE-2024-3400`): unique.
    pub key: String,
    /// `vulnerability`, `kev` or `epss`.
    pub kind: String,
    /// The CVE (or the source's ID) the record is about.
    pub cve: String,
    /// SHA-256 of `body`, hex: equal digests are the same record.
    pub digest: String,
    /// The record, JSON.
    pub body: String,
    /// Where a vulnerability record is filed (written with it; `None` when
    /// read back, and for KEV and EPSS entries).
    pub filing: Option<AdvisoryFiling>,
}

/// The product identities a vulnerability record is filed under, made
/// with the alias table whose fingerprint is `keyed_with`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdvisoryFiling {
    /// Fingerprint of the alias table the identities were made with.
    pub keyed_with: String,
    /// The identities (each once).
    pub products: Vec<FiledProduct>,
}

/// One product identity a record is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiledProduct {
    /// The vendor identity (normalised).
    pub vendor: String,
    /// The product identity (normalised).
    pub product: String,
    /// The product as the record writes it.
    pub name: String,
}

/// What one advisory import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdvisoryWrite {
    /// Records new to the store.
    pub added: u64,
    /// Records whose content changed.
    pub updated: u64,
    /// Records already stored as they are.
    pub unchanged: u64,
}

/// What the store holds of the advisory feeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdvisoryCounts {
    /// Records per kind (`epss`, `kev`, `vulnerability`), in kind order.
    pub per_kind: Vec<(String, u64)>,
    /// When the newest record was imported.
    pub newest: Option<time::OffsetDateTime>,
}

/// Imported advisory feeds, for the assessment. Re-importing the same
/// files changes nothing (`unchanged`); a changed record replaces the old.
pub trait AdvisoryRepo {
    /// Adds or replaces `rows` (keys must be unique within the call;
    /// `Invalid` otherwise, nothing written).
    fn upsert_advisories(
        &self,
        rows: &[AdvisoryRow],
    ) -> impl Future<Output = Result<AdvisoryWrite>> + Send;

    /// Up to `limit` (at most 5,000) records of `kind` (all kinds when
    /// `None`) with keys after `after`, in key order: page with the last
    /// key returned.
    fn advisories_page(
        &self,
        kind: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AdvisoryRow>>> + Send;

    /// Record counts per kind, and when the newest record was imported.
    fn advisory_counts(&self) -> impl Future<Output = Result<AdvisoryCounts>> + Send;

    /// Record counts per kind and source (`vulnerability`/`cve5`,
    /// `kev`/`kev`, …), in that order.
    fn advisory_sources(&self) -> impl Future<Output = Result<Vec<(String, String, u64)>>> + Send;

    /// The records filed (with the alias table `keyed_with`) under any of
    /// the `identities` (vendor, product): (vendor, product, record key),
    /// in no particular order.
    fn advisories_filed_under(
        &self,
        identities: &[(String, String)],
        keyed_with: &str,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>>> + Send;

    /// The distinct (vendor, product, name) filings under each vendor of
    /// `probes` whose lower-cased name contains one of its words (all of
    /// the vendor's names when a word is not ASCII, which SQL's `LOWER`
    /// does not fold), made with the alias table `keyed_with`.
    fn advisory_names_under(
        &self,
        probes: &[(String, Vec<String>)],
        keyed_with: &str,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>>> + Send;

    /// The records with these keys (unknown keys are left out), in key order.
    fn advisories_by_key(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<AdvisoryRow>>> + Send;

    /// The records of `kind` about these CVEs, in key order.
    fn advisories_by_cve(
        &self,
        kind: &str,
        cves: &[String],
    ) -> impl Future<Output = Result<Vec<AdvisoryRow>>> + Send;

    /// The (key, kind) of every record about these CVEs, sorted by key.
    fn advisory_keys_by_cve(
        &self,
        cves: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;

    /// Up to `limit` vulnerability records not filed with the alias table
    /// `keyed_with` (imported before filing existed, or filed with another
    /// table), with keys after `after`, in key order.
    fn advisories_not_filed(
        &self,
        keyed_with: &str,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AdvisoryRow>>> + Send;

    /// How many vulnerability records are not filed with `keyed_with`
    /// (cheap: reads an index).
    fn advisories_not_filed_count(
        &self,
        keyed_with: &str,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Files records again: replaces the filings of the records with these
    /// keys (records that no longer exist are skipped).
    fn file_advisories(
        &self,
        filings: &[(String, AdvisoryFiling)],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Which alerts to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Only alerts in this state.
    pub state: Option<sekimori_types::AlertState>,
    /// Only alerts of this kind.
    pub kind: Option<sekimori_types::AlertKind>,
    /// Only alerts at least this severe.
    pub min_severity: Option<sekimori_types::AlertSeverity>,
    /// Only alerts changed (raised, aggregated, handled) at or after this.
    pub updated_since: Option<time::OffsetDateTime>,
    /// At most this many (0 or more than 1,000: 1,000).
    pub limit: u32,
}

/// What [`AlertRepo::raise_alerts`] did with one draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedAlert {
    /// The alert as stored now.
    pub alert: sekimori_types::Alert,
    /// A new alert (`false`: aggregated into an open or acknowledged one).
    pub new: bool,
    /// Aggregated, and the alert's severity rose with it.
    pub escalated: bool,
}

/// Alerts raised by the detections. Durable once a call returns: the
/// writer commits before it acknowledges.
pub trait AlertRepo {
    /// Stores `drafts` in order: each aggregates into the open or
    /// acknowledged alert with its `dedup_key`, or raises a new one
    /// (audited: `AlertRaised`). `Invalid` for an empty or overlong key or
    /// summary, a zero count or evidence over 64 KiB; nothing is written then.
    fn raise_alerts(
        &self,
        drafts: &[sekimori_types::AlertDraft],
    ) -> impl Future<Output = Result<Vec<RaisedAlert>>> + Send;

    /// The alert with this ID, or `NotFound`.
    fn alert(
        &self,
        id: sekimori_types::AlertId,
    ) -> impl Future<Output = Result<sekimori_types::Alert>> + Send;

    /// Alerts matching `filter`, most recently changed first.
    fn list_alerts(
        &self,
        filter: &AlertFilter,
    ) -> impl Future<Output = Result<Vec<sekimori_types::Alert>>> + Send;

    /// Open alerts per severity (`critical`, `high`, …), for dashboards.
    fn open_alert_counts(&self) -> impl Future<Output = Result<Vec<(String, u64)>>> + Send;

    /// Acknowledges an open alert with a comment (1–2,000 characters).
    /// Audited: `AlertAcknowledged`. `Invalid { reason: "alert_not_open" }`
    /// unless it is open.
    fn acknowledge_alert(
        &self,
        ctx: &AuditCtx,
        id: sekimori_types::AlertId,
        comment: &str,
    ) -> impl Future<Output = Result<sekimori_types::Alert>> + Send;

    /// Closes an open or acknowledged alert with a comment. Audited:
    /// `AlertClosed`. `Invalid { reason: "alert_closed" }` when it already is.
    fn close_alert(
        &self,
        ctx: &AuditCtx,
        id: sekimori_types::AlertId,
        comment: &str,
    ) -> impl Future<Output = Result<sekimori_types::Alert>> + Send;
}
