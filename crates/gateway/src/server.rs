//! The gateway side of a tunnel: the hello, then one multiplexed stream
//! (see the `mux` module) per tunnelled connection, each authorised on its
//! own, spliced to the grant's device, recorded, and watched until it ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use sekimori_audit::AuditEvent;
use sekimori_store::{
    AuditCtx, AuditRepo, NewTunnelSession, Store, TunnelAuthz, TunnelRepo, TunnelSessionEnd,
    TunnelSessionFilter,
};
use sekimori_types::{
    AccessRequestId, CloseReason, Lang, SharedClock, TunnelCredentialId, TunnelSessionId, UserId,
    rfc3339,
};

use crate::authz::{self, check_connection, check_credential, close_reason_for};
use crate::live::{LiveConn, LiveSnapshot, LiveTunnel, Registry};
use crate::protocol::{
    self, EXPORTER_LABEL, EXPORTER_LEN, FRAME_HEADER, Hello, Refusal, RefusalCode, Reply,
};
use crate::record::{self, Side, TrafficSecrets};
use crate::recording::{
    Direction, FILE_EXTENSION, Recorder, RecordingConfig, RecordingHeader, read_recording,
};
use crate::records::RecordLog;
use crate::tunnel::{self, GatewaySide};

/// How long live connections survive a store that cannot be read (their
/// permissions cannot be re-checked) before they are closed.
pub const STORE_OUTAGE_GRACE_MS: u64 = 5_000;

/// Tunables of the gateway. Defaults suit a hospital's single gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How often live connections are re-authorised against the store.
    /// Revocation made elsewhere (CLI, another server) takes at most this
    /// long, plus the store read, to close them.
    pub recheck_interval: Duration,
    /// Deadline for the client's hello.
    pub hello_timeout: Duration,
    /// Deadline for connecting to a device.
    pub connect_timeout: Duration,
    /// Most live tunnelled connections, over all tunnels.
    pub max_connections: usize,
    /// Most concurrent connections in one tunnel.
    pub max_streams_per_tunnel: u32,
    /// How long the records of connections (start, end) are gathered
    /// before they are written as one store job (see the `records`
    /// module). A connection that ends within it is written as one row.
    pub record_delay: Duration,
    /// Records a tunnel seals with one key before it updates it (a TLS 1.3
    /// `KeyUpdate`, like OpenSSH's `RekeyLimit`); the cipher suite's
    /// confidentiality limit (2^24 records for AES-GCM) caps it and is the
    /// default.
    pub rekey_after_records: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            recheck_interval: Duration::from_millis(250),
            hello_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_connections: 20_000,
            max_streams_per_tunnel: 20_000,
            record_delay: Duration::from_millis(2),
            rekey_after_records: u64::MAX,
        }
    }
}

/// The access broker's gateway. One per server; shared by the listener (which
/// hands it `sekimori/1` connections) and the API (which lists and kills).
pub struct Gateway {
    store: Store,
    clock: SharedClock,
    cfg: GatewayConfig,
    recorder: Recorder,
    /// Where the recorder writes (to salvage interrupted recordings).
    recordings_dir: std::path::PathBuf,
    live: Arc<Registry>,
    slots: Arc<Semaphore>,
    /// Consecutive failed re-check reads (store unavailable).
    recheck_failures: AtomicU64,
    /// Recent authorisation reads, reused for new connections while fresh.
    authz_cache: AuthzCache,
    /// Writes the records of connections, in groups.
    records: RecordLog,
}

/// Store reads of (credential, grant) kept for at most one re-check
/// interval, so that a burst of connections through one tunnel (a browser
/// opening six, `scp` after `ssh`) does not read the store once per
/// connection. The rules that keep this as safe as a live connection:
/// - an entry is used only if it was read less than `recheck_interval` ago
///   (a live connection is re-checked that often; a new one is never
///   allowed on older data than an open one is);
/// - every in-process change that can narrow access (revoke, cancel, lock,
///   kill, logout, password change, MFA reset, session revocation) bumps
///   `generation`, which invalidates every entry at once; an entry records
///   the generation seen **before** its read began, so a read racing with
///   a revocation is never trusted;
/// - a failed store read (re-check or connection) empties the cache: fail
///   closed at once, not after the entries age;
/// - the decision itself (window, port, user status, session lifetime) is
///   evaluated afresh for every connection from the cached rows and the
///   current time.
#[derive(Default)]
struct AuthzCache {
    generation: AtomicU64,
    /// Store reads made for new connections and grant checks (misses).
    reads: AtomicU64,
    entries: std::sync::Mutex<HashMap<(TunnelCredentialId, AccessRequestId), CachedAuthz>>,
}

struct CachedAuthz {
    authz: Arc<TunnelAuthz>,
    read_at: std::time::Instant,
    generation: u64,
}

/// Most cached reads kept (one per credential and grant in use).
const AUTHZ_CACHE_MAX: usize = 4_096;

impl AuthzCache {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(TunnelCredentialId, AccessRequestId), CachedAuthz>>
    {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A cached read younger than `max_age` and not invalidated since.
    fn get(
        &self,
        key: (TunnelCredentialId, AccessRequestId),
        max_age: Duration,
    ) -> Option<Arc<TunnelAuthz>> {
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.lock();
        let e = entries.get(&key)?;
        (e.generation == generation && e.read_at.elapsed() < max_age).then(|| e.authz.clone())
    }

    /// Keeps a read that began at `read_at` when the generation was
    /// `generation` — only if it allows access at `now` (credential and an
    /// active grant): a refusing read is not kept, so that an approval made
    /// elsewhere is seen by the very next connection.
    fn put(
        &self,
        key: (TunnelCredentialId, AccessRequestId),
        authz: Arc<TunnelAuthz>,
        read_at: std::time::Instant,
        generation: u64,
        max_age: Duration,
        now: time::OffsetDateTime,
    ) {
        let active = authz
            .request
            .as_ref()
            .is_some_and(|r| r.status_at(now) == sekimori_types::AccessStatus::Active);
        if !active || check_credential(&authz, now).is_err() {
            self.lock().remove(&key);
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= AUTHZ_CACHE_MAX {
            entries.retain(|_, e| e.read_at.elapsed() < max_age);
            if entries.len() >= AUTHZ_CACHE_MAX {
                return;
            }
        }
        entries.insert(key, CachedAuthz { authz, read_at, generation });
    }

    /// Invalidates every entry (something that narrows access happened).
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock().clear();
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

/// A refusal of a tunnelled connection, with what was known when it came.
struct Refused {
    code: RefusalCode,
    user: Option<UserId>,
    request: Option<AccessRequestId>,
    port: Option<u16>,
}

/// The authenticated side of one tunnel.
pub(crate) struct TunnelCtx {
    pub(crate) live: Arc<LiveTunnel>,
}

impl Gateway {
    /// A gateway over `store`, recording with `recording` (the recording
    /// writer thread and the session record task start here: call inside a
    /// Tokio runtime).
    pub fn new(
        store: Store,
        clock: SharedClock,
        recording: RecordingConfig,
        cfg: GatewayConfig,
    ) -> std::io::Result<Self> {
        let slots = Arc::new(Semaphore::new(cfg.max_connections));
        let recordings_dir = recording.dir.clone();
        let recorder = Recorder::start(recording)?;
        let records = RecordLog::start(store.clone(), cfg.record_delay);
        Ok(Self {
            records,
            store,
            clock,
            cfg,
            recorder,
            recordings_dir,
            live: Arc::new(Registry::default()),
            slots,
            recheck_failures: AtomicU64::new(0),
            authz_cache: AuthzCache::default(),
        })
    }

    /// The directory of recording files.
    pub fn recordings_dir(&self) -> &std::path::Path {
        &self.recordings_dir
    }

    /// Closes the records a previous run left open (it stopped without
    /// closing them: a crash or a kill -9), with reason `interrupted` and
    /// what their recordings hold. Call once at start, before serving.
    pub async fn close_interrupted(&self) -> Result<u64, sekimori_store::StoreError> {
        let open = self
            .store
            .list_tunnel_sessions(&TunnelSessionFilter {
                live_only: true,
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        let mut n = 0;
        for s in open {
            let recording = if s.recorded { salvage(&self.recordings_dir, s.id) } else { None };
            let end = TunnelSessionEnd {
                bytes_up: recording.as_ref().map_or(0, |r| r.1),
                bytes_down: recording.as_ref().map_or(0, |r| r.2),
                reason: CloseReason::Interrupted,
                recording: recording.map(|r| r.0),
            };
            self.store.close_tunnel_session(&AuditCtx::system(), s.id, &end).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Live connections with their byte counters so far.
    pub fn live_connections(&self) -> Vec<LiveSnapshot> {
        self.live.snapshot()
    }

    /// Bytes (up, down) so far of one connection live on this gateway.
    pub fn live_bytes(&self, id: TunnelSessionId) -> Option<(u64, u64)> {
        self.live.bytes(id)
    }

    /// Closes one live connection (API/CLI kill). `false` if it is not live
    /// here.
    pub fn kill_connection(&self, id: TunnelSessionId) -> bool {
        self.authz_cache.invalidate();
        self.live.kill_where(CloseReason::Killed, |c| c.id == id) > 0
    }

    /// Closes every live connection of a grant at once (revoke, cancel).
    pub fn close_request(&self, request: AccessRequestId, reason: CloseReason) -> usize {
        self.authz_cache.invalidate();
        self.live.kill_where(reason, |c| c.request == request)
    }

    /// Closes every live connection and tunnel of a user at once (lock).
    pub fn close_user(&self, user: UserId) -> usize {
        self.authz_cache.invalidate();
        let n = self.live.kill_where(CloseReason::UserLocked, |c| c.user == user);
        self.live.kill_tunnels_where(CloseReason::UserLocked, |t| t.user == user);
        n
    }

    /// Tells the gateway that something which may narrow access changed
    /// in this process (logout, password change, MFA reset, a login
    /// session revoked): cached authorisation reads are dropped, so the next
    /// connection reads the store. Live connections see the change at the
    /// next re-check.
    pub fn authz_changed(&self) {
        self.authz_cache.invalidate();
    }

    /// How many store reads new connections and grant checks have made
    /// (the rest were answered from reads younger than the re-check
    /// interval).
    pub fn authz_store_reads(&self) -> u64 {
        self.authz_cache.reads.load(Ordering::Relaxed)
    }

    /// Reads what authorises connections of `credential` under `request`:
    /// from the cache when a read younger than the re-check interval is
    /// there, else from the store (and cached). A failed read empties the
    /// cache.
    async fn grant_authz(
        &self,
        credential: TunnelCredentialId,
        request: AccessRequestId,
    ) -> Result<Arc<TunnelAuthz>, sekimori_store::StoreError> {
        let key = (credential, request);
        let max_age = self.cfg.recheck_interval;
        if let Some(a) = self.authz_cache.get(key, max_age) {
            return Ok(a);
        }
        self.authz_cache.reads.fetch_add(1, Ordering::Relaxed);
        self.read_authz(credential, request).await
    }

    /// Reads (credential, grant) from the store and keeps the read for
    /// the next connections (if it allows access); a failed read empties
    /// the cache. Used on a cache miss and by every re-check.
    async fn read_authz(
        &self,
        credential: TunnelCredentialId,
        request: AccessRequestId,
    ) -> Result<Arc<TunnelAuthz>, sekimori_store::StoreError> {
        // The generation is taken before the read: a revocation that
        // races with it makes the kept read stale at once.
        let generation = self.authz_cache.generation.load(Ordering::Acquire);
        let read_at = std::time::Instant::now();
        match self.store.tunnel_authz(credential, Some(request)).await {
            Ok(a) => {
                let a = Arc::new(a);
                let max_age = self.cfg.recheck_interval;
                let now = self.clock.now();
                let key = (credential, request);
                self.authz_cache.put(key, a.clone(), read_at, generation, max_age, now);
                Ok(a)
            }
            Err(e) => {
                self.authz_cache.invalidate();
                Err(e)
            }
        }
    }

    /// Closes everything and waits (up to `within`) until every record is
    /// written.
    pub async fn shutdown(&self, within: Duration) {
        self.live.kill_where(CloseReason::Shutdown, |_| true);
        self.live.kill_tunnels_where(CloseReason::Shutdown, |_| true);
        let _ = tokio::time::timeout(within, self.live.drained()).await;
    }

    /// Re-authorises live connections every `recheck_interval` until the
    /// task is dropped.
    pub async fn run_rechecks(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.cfg.recheck_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.recheck_once().await;
        }
    }

    /// One re-check: window ends from memory, everything else from one
    /// store read per distinct credential and grant.
    pub async fn recheck_once(&self) {
        let now = self.clock.now();
        let conns = self.live.conns();
        let mut groups: HashMap<(TunnelCredentialId, AccessRequestId), Vec<&Arc<LiveConn>>> =
            HashMap::new();
        for c in &conns {
            if now >= c.window_end {
                c.kill.kill(CloseReason::Expired);
            } else if c.kill.reason().is_none() {
                groups.entry((c.credential, c.request)).or_default().push(c);
            }
        }
        let mut failed = false;
        for ((credential, request), members) in groups {
            match self.read_authz(credential, request).await {
                Ok(a) => {
                    for c in members {
                        if let Err(code) = check_connection(&a, c.port, now) {
                            c.kill.kill(close_reason_for(code));
                        }
                    }
                }
                Err(error) => {
                    failed = true;
                    tracing::warn!(message = "Re-check could not read the store.", %error);
                }
            }
        }
        let mut creds: HashMap<TunnelCredentialId, Vec<Arc<LiveTunnel>>> = HashMap::new();
        for t in self.live.tunnels() {
            creds.entry(t.credential).or_default().push(t);
        }
        for (credential, tunnels) in creds {
            match self.store.tunnel_authz(credential, None).await {
                Ok(a) => {
                    if let Err(code) = check_credential(&a, now) {
                        for t in tunnels {
                            t.kill.kill(close_reason_for(code));
                        }
                    }
                }
                Err(_) => {
                    failed = true;
                    self.authz_cache.invalidate();
                }
            }
        }
        if failed {
            let n = self.recheck_failures.fetch_add(1, Ordering::Relaxed) + 1;
            // Fail closed for live connections too, after a grace period: a
            // store that stays unreadable means revocations cannot be seen.
            if n * (self.cfg.recheck_interval.as_millis() as u64) >= STORE_OUTAGE_GRACE_MS {
                let closed = self.live.kill_where(CloseReason::Error, |_| true);
                if closed > 0 {
                    tracing::error!(
                        message = "Store unreadable for too long; closed every tunnelled connection (fail closed).",
                        closed
                    );
                }
            }
        } else {
            self.recheck_failures.store(0, Ordering::Relaxed);
        }
    }
    /// Serves one TLS connection that negotiated ALPN `sekimori/1`: the
    /// hello, then the tunnel's driver (see the `mux` module) until it ends.
    ///
    /// `secrets` is the key log of the connection's config
    /// ([`TrafficSecrets::server_config`]): once the hello is answered, the
    /// tunnel's own record layer takes over from rustls with them.
    pub async fn serve_tunnel(
        self: Arc<Self>,
        mut tls: tokio_rustls::server::TlsStream<BufReader<TcpStream>>,
        peer: SocketAddr,
        secrets: Arc<TrafficSecrets>,
    ) {
        let hello = tokio::time::timeout(self.cfg.hello_timeout, self.hello(&mut tls, peer)).await;
        let (credential, user, lang) = match hello {
            Ok(Ok(v)) => v,
            Ok(Err(())) => return,
            Err(_) => {
                tracing::debug!(message = "Tunnel hello timed out.", %peer);
                return;
            }
        };
        // The answer is out (flushed) and the client sends nothing before
        // it has it: rustls holds nothing more, the record layer takes over.
        let (buffered, conn) = tls.into_inner();
        let leftover = buffered.buffer().to_vec();
        let sock = buffered.into_inner();
        let keys = conn
            .dangerous_extract_secrets()
            .map_err(|e| e.to_string())
            .and_then(|x| record::take_over(x, &secrets, Side::Server).map_err(|e| e.to_string()));
        let keys = match keys {
            Ok(k) => k,
            Err(error) => {
                tracing::warn!(message = "Tunnel closed: its TLS keys could not be taken over.", %peer, %error);
                return;
            }
        };
        let live = Arc::new(LiveTunnel {
            id: self.live.next_tunnel_id(),
            credential,
            user,
            client: peer,
            kill: Default::default(),
        });
        self.live.add_tunnel(live.clone());
        let ctx = Arc::new(TunnelCtx { live: live.clone() });
        let side = GatewaySide { gw: self.clone(), ctx, peer };
        let (driver, _tx) = tunnel::new_driver(
            sock,
            leftover,
            keys,
            self.cfg.max_streams_per_tunnel as usize,
            Some(side),
            lang,
        );
        driver.run().await;
        if let Some(reason) = live.kill.reason() {
            // Its connections end for the same reason, recorded as such.
            self.live.kill_where(reason, |c| c.tunnel == live.id);
        }
        self.live.remove_tunnel(live.id);
    }

    /// Records a tunnel seals per key (see [`GatewayConfig`]).
    pub(crate) fn rekey_after_records(&self) -> u64 {
        self.cfg.rekey_after_records
    }

    /// The current time of the gateway's clock.
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Reads and checks the hello; answers it. `Err` after a refusal.
    async fn hello<S>(
        &self,
        tls: &mut tokio_rustls::server::TlsStream<S>,
        peer: SocketAddr,
    ) -> Result<(TunnelCredentialId, UserId, Lang), ()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut header = [0u8; FRAME_HEADER];
        if tls.read_exact(&mut header).await.is_err() {
            return Err(());
        }
        let hello = match protocol::decode_header(&header) {
            Ok(len) => {
                let mut body = vec![0u8; len];
                if tls.read_exact(&mut body).await.is_err() {
                    return Err(());
                }
                protocol::decode_body::<Hello>(&body)
            }
            Err(e) => Err(e),
        };
        let hello = match hello {
            Ok(h) => h,
            Err(error) => {
                tracing::info!(message = "Tunnel hello refused.", %peer, %error);
                self.refuse_hello(tls, peer, error.code(), Lang::En, None, None).await;
                return Err(());
            }
        };
        let lang = hello.lang.as_deref().map_or(Lang::En, Lang::from_accept_language);
        let mut exported = [0u8; EXPORTER_LEN];
        let exported_ok = tls
            .get_ref()
            .1
            .export_keying_material(
                &mut exported,
                EXPORTER_LABEL,
                Some(hello.credential.0.as_bytes()),
            )
            .is_ok();
        let a = match self.store.tunnel_authz(hello.credential, None).await {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(message = "Tunnel refused: store unavailable.", %peer, %error);
                self.refuse_hello(
                    tls,
                    peer,
                    RefusalCode::StoreUnavailable,
                    lang,
                    None,
                    Some(hello.credential),
                )
                .await;
                return Err(());
            }
        };
        let user = a.user.as_ref().map(|u| u.id);
        let Some(credential) = a.credential.as_ref() else {
            self.refuse_hello(
                tls,
                peer,
                RefusalCode::CredentialUnknown,
                lang,
                None,
                Some(hello.credential),
            )
            .await;
            return Err(());
        };
        let signature_ok = exported_ok
            && hex::decode(&hello.signature).is_ok_and(|sig| {
                let msg = protocol::signed_message(hello.credential, &exported);
                aws_lc_rs::signature::UnparsedPublicKey::new(
                    &aws_lc_rs::signature::ED25519,
                    &credential.public_key,
                )
                .verify(&msg, &sig)
                .is_ok()
            });
        if !signature_ok {
            self.refuse_hello(
                tls,
                peer,
                RefusalCode::SignatureInvalid,
                lang,
                user,
                Some(hello.credential),
            )
            .await;
            return Err(());
        }
        let now = self.clock.now();
        let ok = match check_credential(&a, now) {
            Ok(ok) => ok,
            Err(code) => {
                self.refuse_hello(tls, peer, code, lang, user, Some(hello.credential)).await;
                return Err(());
            }
        };
        let reply = Reply::Accepted {
            username: ok.user.username.to_string(),
            credential_expires_at: rfc3339(ok.credential.expires_at),
        };
        let user = ok.user.id;
        if tls.write_all(&protocol::encode_frame(&reply)).await.is_err()
            || tls.flush().await.is_err()
        {
            return Err(());
        }
        Ok((hello.credential, user, lang))
    }

    async fn refuse_hello<S>(
        &self,
        tls: &mut tokio_rustls::server::TlsStream<S>,
        peer: SocketAddr,
        code: RefusalCode,
        lang: Lang,
        user: Option<UserId>,
        credential: Option<TunnelCredentialId>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.audit_refusal(peer, code, user, credential, None, None).await;
        let reply = Reply::Refused(Refusal::new(code, lang));
        let _ = tls.write_all(&protocol::encode_frame(&reply)).await;
        let _ = tls.shutdown().await;
    }

    async fn audit_refusal(
        &self,
        peer: SocketAddr,
        code: RefusalCode,
        user: Option<UserId>,
        credential: Option<TunnelCredentialId>,
        request: Option<AccessRequestId>,
        port: Option<u16>,
    ) {
        tracing::info!(message = "Tunnel refused.", %peer, code = code.as_str(), ?request, ?port);
        let ctx = AuditCtx { actor: sekimori_audit::Actor::System, source: Some(peer.ip()) };
        let event = AuditEvent::TunnelRefused {
            user,
            credential,
            request,
            port,
            reason: code.as_str().to_owned(),
            source: Some(peer.ip()),
        };
        if let Err(error) = self.store.append(&ctx, event).await {
            tracing::warn!(message = "Could not audit a tunnel refusal.", %error);
        }
    }

    /// Authorises an `OPEN` of a tunnel and connects it to its device; a
    /// refusal is audited here. Runs inside the tunnel's driver task (no
    /// task hop on the way to the device or back); a result the driver
    /// cannot use any more goes to [`Gateway::finish_conn`].
    pub(crate) async fn open_conn(
        self: Arc<Self>,
        ctx: Arc<TunnelCtx>,
        request: AccessRequestId,
        port: u16,
        peer: SocketAddr,
    ) -> Result<(Box<Opened>, TcpStream), RefusalCode> {
        match self.authorise(&ctx, request, port, peer).await {
            Ok(o) => Ok(o),
            Err(r) => {
                let credential = Some(ctx.live.credential);
                self.audit_refusal(peer, r.code, r.user, credential, r.request, r.port).await;
                Err(r.code)
            }
        }
    }

    /// Answers a grant check: what the grant is (JSON), or why it cannot be
    /// used.
    pub(crate) async fn answer_grant(
        &self,
        ctx: &TunnelCtx,
        request: AccessRequestId,
        peer: SocketAddr,
    ) -> Result<Vec<u8>, RefusalCode> {
        let a = self
            .grant_authz(ctx.live.credential, request)
            .await
            .map_err(|_| RefusalCode::StoreUnavailable)?;
        let now = self.clock.now();
        let port = a.request.as_ref().and_then(|r| r.ports.first().copied()).unwrap_or(0);
        match check_connection(&a, port, now) {
            Ok(ok) => {
                let Some((r, asset)) = ok.grant else {
                    return Err(RefusalCode::NoGrant);
                };
                let body = serde_json::json!({
                    "request": r.id,
                    "asset": asset.name,
                    "ports": r.ports,
                    "window_end": r.window_end.map(rfc3339),
                });
                Ok(body.to_string().into_bytes())
            }
            Err(code) => {
                let user = Some(ctx.live.user);
                let credential = Some(ctx.live.credential);
                self.audit_refusal(peer, code, user, credential, Some(request), None).await;
                Err(code)
            }
        }
    }

    /// Authorises one connection and connects it to its device; starts its
    /// recording and its record.
    async fn authorise(
        &self,
        ctx: &TunnelCtx,
        request: AccessRequestId,
        port: u16,
        peer: SocketAddr,
    ) -> Result<(Box<Opened>, TcpStream), Refused> {
        let mut refused = Refused {
            code: RefusalCode::StoreUnavailable,
            user: Some(ctx.live.user),
            request: Some(request),
            port: Some(port),
        };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            refused.code = RefusalCode::TooManyConnections;
            return Err(refused);
        };
        if let Some(reason) = ctx.live.kill.reason() {
            refused.code = refusal_for_close(reason);
            return Err(refused);
        }
        let started = std::time::Instant::now();
        let a = match self.grant_authz(ctx.live.credential, request).await {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(message = "Connection refused: store unavailable.", %error);
                return Err(refused);
            }
        };
        let authz_us = started.elapsed().as_micros() as u64;
        let now = self.clock.now();
        let ok = check_connection(&a, port, now).map_err(|code| Refused { code, ..refused })?;
        let Some((grant, asset)) = ok.grant else {
            return Err(Refused { code: RefusalCode::NoGrant, ..refused });
        };
        let Some(target) = authz::target(asset, port) else {
            return Err(Refused { code: RefusalCode::AssetUnavailable, ..refused });
        };
        let Some(window_end) = grant.window_end else {
            return Err(Refused { code: RefusalCode::GrantExpired, ..refused });
        };
        let id = TunnelSessionId::new();
        let conn = Arc::new(LiveConn {
            id,
            tunnel: ctx.live.id,
            user: ok.user.id,
            username: ok.user.username.to_string(),
            credential: ctx.live.credential,
            request,
            asset: asset.id,
            port,
            client: peer,
            target,
            started_at: now,
            window_end,
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            kill: Default::default(),
        });
        let recorded = asset.record_sessions;
        let header = RecordingHeader {
            session: id,
            request,
            user: ok.user.username.to_string(),
            asset: asset.name.to_string(),
            port,
            client: peer,
            target,
            started_at: now,
        };
        let new = NewTunnelSession {
            id,
            request,
            user: ok.user.id,
            credential: ctx.live.credential,
            asset: asset.id,
            port,
            client_addr: peer,
            target_addr: target,
            recorded,
        };
        // From here on a revocation finds this connection.
        self.live.add_conn(conn.clone());
        let guard = ConnGuard { live: self.live.clone(), id, _slot: slot };

        // Authorised: only now is the device contacted.
        let connect = tokio::time::timeout(self.cfg.connect_timeout, TcpStream::connect(target));
        let tcp = match connect.await {
            Ok(Ok(t)) => t,
            other => {
                let error = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::info!(message = "Device unreachable.", %target, %error);
                return Err(Refused { code: RefusalCode::TargetUnreachable, ..refused });
            }
        };
        let _ = tcp.set_nodelay(true);
        let recording = if recorded {
            match self.recorder.begin(header).await {
                Ok(r) => Some(Arc::new(r)),
                Err(error) => {
                    tracing::error!(message = "Connection refused: recording unavailable.", %error);
                    return Err(Refused { code: RefusalCode::RecordingUnavailable, ..refused });
                }
            }
        } else {
            None
        };
        // The "opened" record is written in the background with others
        // (within `record_delay` and a group commit) while the first bytes
        // flow; if it cannot be committed the connection is closed (fail
        // closed), and its end is written only after its start.
        self.records.opened(new, now, conn.clone());
        let o = Box::new(Opened { conn: conn.clone(), recording, guard });
        if let Some(reason) = conn.kill.reason() {
            // Revoked while connecting.
            self.finish_conn(o, reason).await;
            return Err(Refused { code: refusal_for_close(reason), ..refused });
        }
        // One line per connection at `info`, when it closes (see
        // `end_record`); this one at `debug` (two log writes per connection
        // were a measurable part of an opening's CPU).
        tracing::debug!(message = "Tunnelled connection opened.", session = %id, user = %conn.username, %target, authz_us, setup_us = started.elapsed().as_micros() as u64);
        Ok((o, tcp))
    }

    /// Ends a connection that was closed for `reason`: at once when it is
    /// not recorded, else in a task that finishes its recording first.
    pub(crate) fn end_conn(self: &Arc<Self>, o: Box<Opened>, reason: CloseReason) {
        if o.recording.is_none() {
            let Opened { conn, recording: _, guard } = *o;
            self.end_record(&conn, reason, None, guard);
        } else {
            let gw = self.clone();
            tokio::spawn(async move { gw.finish_conn(o, reason).await });
        }
    }

    /// Ends a connection's recording and record (it was closed for
    /// `reason`); it is forgotten once its end is written.
    pub(crate) async fn finish_conn(&self, o: Box<Opened>, reason: CloseReason) {
        let Opened { conn, recording, guard } = *o;
        let info = match recording.map(Arc::try_unwrap) {
            Some(Ok(r)) => match r.finish(self.clock.now()).await {
                Ok(info) => Some(info),
                Err(error) => {
                    tracing::error!(message = "Recording could not be finished.", session = %conn.id, %error);
                    None
                }
            },
            Some(Err(_)) => {
                tracing::error!(message = "Recording could not be finished: still in use.", session = %conn.id);
                None
            }
            None => None,
        };
        self.end_record(&conn, reason, info, guard);
    }

    /// Hands the end of a connection's record to the record task, which
    /// forgets the connection (drops `guard`) once it is written.
    fn end_record(
        &self,
        conn: &LiveConn,
        reason: CloseReason,
        recording: Option<sekimori_types::RecordingInfo>,
        guard: ConnGuard,
    ) {
        let end = TunnelSessionEnd {
            bytes_up: conn.bytes_up.load(Ordering::Relaxed),
            bytes_down: conn.bytes_down.load(Ordering::Relaxed),
            reason,
            recording,
        };
        tracing::info!(message = "Tunnelled connection closed.", session = %conn.id, user = %conn.username, target = %conn.target, reason = %reason, bytes_up = end.bytes_up, bytes_down = end.bytes_down);
        self.records.ended(conn.id, end, self.clock.now(), Box::new(guard));
    }
}

/// An authorised, connected tunnelled connection, as its tunnel's driver
/// keeps it.
pub(crate) struct Opened {
    pub(crate) conn: Arc<LiveConn>,
    pub(crate) recording: Option<Arc<crate::recording::SessionRecording>>,
    guard: ConnGuard,
}

/// Holds a connection slot and removes the connection from the registry
/// however it ends.
struct ConnGuard {
    live: Arc<Registry>,
    id: TunnelSessionId,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.live.remove_conn(self.id);
    }
}

fn refusal_for_close(reason: CloseReason) -> RefusalCode {
    match reason {
        CloseReason::Revoked => RefusalCode::GrantRevoked,
        CloseReason::Expired => RefusalCode::GrantExpired,
        CloseReason::UserLocked => RefusalCode::UserInactive,
        _ => RefusalCode::StoreUnavailable,
    }
}

/// What an interrupted recording holds: its info (hash of the file as it
/// is) and the payload bytes up and down. `None` if there is no readable file.
fn salvage(
    dir: &std::path::Path,
    id: TunnelSessionId,
) -> Option<(sekimori_types::RecordingInfo, u64, u64)> {
    let file = format!("{id}.{FILE_EXTENSION}");
    let path = dir.join(&file);
    let (sha256, file_bytes) = hash_file(&path).ok()?;
    let (mut up, mut down) = (0u64, 0u64);
    if let Ok(reader) = read_recording(&path) {
        for chunk in reader.flatten() {
            match chunk.direction {
                Direction::Up => up += chunk.data.len() as u64,
                Direction::Down => down += chunk.data.len() as u64,
            }
        }
    }
    let info = sekimori_types::RecordingInfo {
        file,
        file_bytes,
        sha256,
        recorded_bytes: up + down,
        truncated: false,
    };
    Some((info, up, down))
}

/// SHA-256 (hex) and length of a file, read in pieces.
fn hash_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(ctx.finish()), total))
}

/// The `[gateway]` section of `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Re-authorisation period of live connections, ms (50–1000): the
    /// longest a revocation made by another process takes to close them.
    pub recheck_interval_ms: u64,
    /// Deadline for connecting to a device, seconds.
    pub connect_timeout_secs: u64,
    /// Most live tunnelled connections.
    pub max_connections: usize,
    /// Most payload recorded per session, MiB (both directions together).
    pub recording_max_mib: u64,
    /// How long the records of connections are gathered before they are
    /// written as one store job, ms (0–100; 0: as soon as one arrives).
    pub record_delay_ms: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        let d = GatewayConfig::default();
        Self {
            recheck_interval_ms: d.recheck_interval.as_millis() as u64,
            connect_timeout_secs: d.connect_timeout.as_secs(),
            max_connections: d.max_connections,
            recording_max_mib: 4096,
            record_delay_ms: d.record_delay.as_millis() as u64,
        }
    }
}

impl GatewaySettings {
    /// Checks the ranges; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(50..=1000).contains(&self.recheck_interval_ms) {
            return Err("recheck_interval_ms: must be 50–1000 (revocation must take effect within a second)".into());
        }
        if !(1..=120).contains(&self.connect_timeout_secs) {
            return Err("connect_timeout_secs: must be 1–120".into());
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err("max_connections: must be 1–1000000".into());
        }
        if !(1..=1_048_576).contains(&self.recording_max_mib) {
            return Err("recording_max_mib: must be 1–1048576".into());
        }
        if self.record_delay_ms > 100 {
            return Err("record_delay_ms: must be 0–100".into());
        }
        Ok(())
    }

    /// The gateway's tunables and the recorder's, with recordings in `dir`.
    pub fn split(&self, dir: std::path::PathBuf) -> (GatewayConfig, RecordingConfig) {
        let cfg = GatewayConfig {
            recheck_interval: Duration::from_millis(self.recheck_interval_ms),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            max_connections: self.max_connections,
            record_delay: Duration::from_millis(self.record_delay_ms),
            ..GatewayConfig::default()
        };
        let mut rec = RecordingConfig::new(dir);
        rec.max_bytes_per_session = self.recording_max_mib * 1024 * 1024;
        (cfg, rec)
    }
}
