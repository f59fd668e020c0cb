//! In-process tests of the `sekimori/1` tunnel protocol end to end: the real
//! listener (`sekimori_web::server::serve`, ALPN dispatch) with the real
//! gateway over a test store whose clock is a `ManualClock`, the real client
//! (`sekimori_gateway::client::Tunnel`), and local TCP servers standing in for
//! a medical device (an echo server and a "bulk" server that streams bytes
//! forever) that count every connection they accept.
//!
//! Time: grant windows and credential expiry follow the manual clock; the
//! gateway's re-check runs on real time every [`RECHECK`]. Nothing sleeps to
//! wait for a state: tests poll with a deadline or await the event, and every
//! await is bounded (by [`WAIT`]) so that a bug fails a test instead of
//! hanging it. Close latencies are measured with `tokio::time::Instant` from
//! the trigger (clock move, revocation, lock) to the moment the test's end of
//! the local socket sees EOF or a reset; run with `--nocapture` to see them.
//!
//! Random payloads and fuzz inputs come from a seeded generator: the seed is
//! in every failure message, and `TUNNEL_TEST_SEED=<n>` replays it.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_rustls::client::TlsStream;

use sekimori_audit::{AuditEvent, SessionEnd};
use sekimori_authn::{AuthnConfig, PasswordConfig, PasswordHasher};
use sekimori_gateway::client::{
    CarryEnd, ClientError, ClientKey, Connected, Counters, Pin, Tunnel, connect_tls,
};
use sekimori_gateway::protocol::{
    self, ALPN, EXPORTER_LABEL, EXPORTER_LEN, FRAME_HEADER, Hello, MAX_FRAME_BODY, RefusalCode,
    Reply,
};
use sekimori_gateway::recording::{Direction, RecordingConfig, read_recording};
use sekimori_gateway::{Gateway, GatewayConfig};
use sekimori_store::{
    AccessRepo, AssetRepo, AuditCtx, AuditRepo, NewSession, Session, SessionRepo, TunnelRepo,
    TunnelSessionFilter, UserRepo,
};
use sekimori_test_support::TestStore;
use sekimori_types::{
    AccessRequest, AccessRequestId, Asset, AssetSpec, Clock, CloseReason, Criticality, Label, Lang,
    Localized, MaintenancePort, NewAccessRequest, NewUser, Role, TunnelCredential,
    TunnelCredentialId, TunnelSession, User, UserId, UserStatus, Username,
};
use sekimori_web::api::{AppState, router};
use sekimori_web::server::{ServerLimits, serve};
use sekimori_web::tls::{
    ALPN_ALL, fingerprint, first_cert_der, generate_self_signed, server_config,
};

/// Upper bound of every await: a bug fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(20);
/// The gateway's re-check period in these tests.
const RECHECK: Duration = Duration::from_millis(100);
/// Revocation, expiry and locks must close live connections within this.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);
/// The gateway's hello deadline in these tests.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// Length of every grant.
const GRANT_MINUTES: u32 = 60;
/// What the bulk device writes per call, over and over.
const BULK_CHUNK: usize = 64 * 1024;
/// A syntactically valid Argon2id PHC string (nobody logs in here).
const PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

/// Awaits `f`, failing the test after [`WAIT`].
async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Polls `probe` until it yields a value, failing the test after [`WAIT`].
async fn eventually<T, Fut>(what: &str, mut probe: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {WAIT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[allow(clippy::print_stderr, reason = "latencies and fuzz coverage are part of the report")]
fn note(line: &str) {
    eprintln!("tunnel test: {line}");
}

fn report(what: &str, latency: Duration) {
    note(&format!("{what}: closed {:.1} ms after the trigger", latency.as_secs_f64() * 1e3));
}

/// SplitMix64: small, seeded, good enough for payloads and fuzz inputs.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    /// A generator and its seed (`TUNNEL_TEST_SEED` or the time).
    fn seeded() -> (Rng, u64) {
        let seed = std::env::var("TUNNEL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.map_or(0x5eed, |d| d.as_nanos() as u64)
            });
        (Rng(seed), seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// Where two byte strings first differ (for failure messages).
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

// ---------------------------------------------------------------------------
// Devices: local TCP servers that count the connections they accept
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Device {
    /// Sends back what it receives; closes after the peer's EOF.
    Echo,
    /// Streams bytes until the peer goes away.
    Bulk,
}

struct Target {
    port: u16,
    accepted: Arc<AtomicUsize>,
    /// Connections the test itself made (see [`Target::assert_untouched`]).
    probes: AtomicUsize,
    task: JoinHandle<()>,
}

impl Target {
    async fn start(device: Device) -> Target {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind a device");
        let port = listener.local_addr().expect("device address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(run_device(device, socket));
            }
        });
        Target { port, accepted, probes: AtomicUsize::new(0), task }
    }

    /// Connections the gateway made to this device.
    fn conns(&self) -> usize {
        self.accepted.load(Ordering::SeqCst) - self.probes.load(Ordering::SeqCst)
    }

    /// Asserts the gateway made no connection since `before` (a count from
    /// [`Target::conns`]). Without sleeping: the test connects a probe and
    /// waits until it is accepted; the kernel hands out connections in
    /// order, so any connection the gateway made earlier is counted by then.
    async fn assert_untouched(&self, before: usize, ctx: &str) {
        let probe =
            bounded("probe connection", TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)))
                .await
                .expect("probe connection");
        let probes = self.probes.fetch_add(1, Ordering::SeqCst) + 1;
        let accepted = &self.accepted;
        eventually("the probe to be accepted", move || async move {
            (accepted.load(Ordering::SeqCst) >= before + probes).then_some(())
        })
        .await;
        drop(probe);
        assert_eq!(self.conns(), before, "{ctx}: the gateway connected to the device anyway");
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_device(device: Device, mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    match device {
        Device::Echo => {
            let (mut rd, mut wr) = socket.split();
            let _ = tokio::io::copy(&mut rd, &mut wr).await;
            let _ = wr.shutdown().await;
        }
        Device::Bulk => {
            let chunk: Vec<u8> = (0..BULK_CHUNK).map(|i| (i % 251) as u8).collect();
            while socket.write_all(&chunk).await.is_ok() {}
        }
    }
}

// ---------------------------------------------------------------------------
// The harness: store, gateway, listener, people, device, grant, credential
// ---------------------------------------------------------------------------

struct Harness {
    t: TestStore,
    gateway: Arc<Gateway>,
    /// `127.0.0.1:<port>` of the listener.
    addr: String,
    pin: Pin,
    recordings: tempfile::TempDir,
    vendor: User,
    other_vendor: User,
    approver: User,
    /// The vendor's login session (the credential is bound to it).
    session: Session,
    key: ClientKey,
    /// Expires a day after the harness starts; the session lasts 30 days.
    cred: TunnelCredential,
    asset: Asset,
    echo: Target,
    bulk: Target,
    /// A maintenance port of the asset that [`Harness::grant`] leaves out.
    spare: Target,
    /// Approved at the start: echo and bulk ports, [`GRANT_MINUTES`] long.
    grant: AccessRequest,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn new_user(name: &str, role: Role) -> NewUser {
    NewUser {
        username: Username::parse(name).expect("username"),
        display_name: Label::parse("display_name", name).expect("display name"),
        role,
        company: (role == Role::Vendor)
            .then(|| Label::parse("company", "Acme Medical").expect("company")),
        department: (role != Role::Vendor)
            .then(|| Label::parse("department", "Clinical Engineering").expect("department")),
    }
}

fn user_ctx(u: &User) -> AuditCtx {
    AuditCtx::user(u.id, u.username.to_string(), Some(LOCALHOST))
}

fn admin_ctx() -> AuditCtx {
    AuditCtx::cli("tunnel-test")
}

async fn harness() -> Harness {
    Harness::on(sekimori_test_support::sqlite().await).await
}

impl Harness {
    async fn on(t: TestStore) -> Harness {
        let s = &t.store;
        let vendor = s.create_user(&admin_ctx(), &new_user("vendor1", Role::Vendor), PHC).await;
        let vendor = vendor.expect("vendor");
        let other = s.create_user(&admin_ctx(), &new_user("vendor2", Role::Vendor), PHC).await;
        let other_vendor = other.expect("other vendor");
        let approver =
            s.create_user(&admin_ctx(), &new_user("approver1", Role::Approver), PHC).await;
        let approver = approver.expect("approver");

        let echo = Target::start(Device::Echo).await;
        let bulk = Target::start(Device::Bulk).await;
        let spare = Target::start(Device::Echo).await;
        let spec = AssetSpec {
            name: Label::parse("name", "CT-1 (2F)").expect("asset name"),
            addresses: vec![LOCALHOST],
            zone: None,
            owner_department: Some(Label::parse("d", "Clinical Engineering").expect("dept")),
            vendor_company: Some(Label::parse("v", "Acme Medical").expect("company")),
            criticality: Criticality::High,
            maintenance_ports: vec![
                MaintenancePort::new(echo.port, "echo").expect("port"),
                MaintenancePort::new(bulk.port, "bulk").expect("port"),
                MaintenancePort::new(spare.port, "spare").expect("port"),
            ],
            max_session_minutes: 240,
            record_sessions: true,
            approvals_required: 1,
            approver_department: None,
        };
        let asset = s.create_asset(&admin_ctx(), &spec).await.expect("asset");

        let now = t.clock.now();
        let session = new_session(&t, &vendor, now + time::Duration::days(30)).await;
        let key = ClientKey::generate().expect("client key");
        let cred = s
            .create_tunnel_credential(
                &user_ctx(&vendor),
                vendor.id,
                session.id,
                &key.public_key(),
                now + time::Duration::days(1),
            )
            .await
            .expect("tunnel credential");

        let recordings = tempfile::tempdir().expect("recordings directory");
        let mut recording = RecordingConfig::new(recordings.path());
        recording.max_bytes_per_session = 64 << 20;
        let cfg = GatewayConfig {
            recheck_interval: RECHECK,
            hello_timeout: HELLO_TIMEOUT,
            connect_timeout: Duration::from_secs(5),
            // Every tunnel here updates its key every few records (the
            // client follows), so each test also crosses key updates.
            rekey_after_records: 5,
            ..GatewayConfig::default()
        };
        let gateway = Gateway::new(t.store.clone(), Arc::new(t.clock.clone()), recording, cfg);
        let gateway = Arc::new(gateway.expect("gateway"));
        let mut tasks = vec![tokio::spawn(gateway.clone().run_rechecks())];

        let cert = generate_self_signed(&["localhost".into(), "127.0.0.1".into()]).expect("cert");
        let tls = server_config(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes(), &ALPN_ALL)
            .expect("TLS configuration");
        let der = first_cert_der(cert.cert_pem.as_bytes()).expect("certificate");
        let pin = Pin::Fingerprint(fingerprint(&der));
        let authn =
            AuthnConfig { password: PasswordConfig::insecure_for_tests(), ..Default::default() };
        let hasher = Arc::new(PasswordHasher::new(&authn.password).expect("hasher"));
        let app = router(AppState {
            store: t.store.clone(),
            authn: Arc::new(authn),
            hasher,
            clock: Arc::new(t.clock.clone()),
            totp_issuer: "sekimori-test".into(),
            gateway: gateway.clone(),
            alerts: None,
        });
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind gateway");
        let addr = listener.local_addr().expect("gateway address").to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = serve(
            listener,
            tls,
            app,
            gateway.clone(),
            ServerLimits::default(),
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        );
        tasks.push(tokio::spawn(async move {
            let _ = server.await;
        }));

        let new = new_request(&asset, &[echo.port, bulk.port], None);
        let grant = t.store.create_request(&user_ctx(&vendor), &vendor, &new).await;
        let grant = grant.expect("create the grant");
        let approved = t.store.approve_request(&user_ctx(&approver), grant.id, approver.id).await;
        let grant = approved.expect("approve the grant");

        Harness {
            grant,
            t,
            gateway,
            addr,
            pin,
            recordings,
            vendor,
            other_vendor,
            approver,
            session,
            key,
            cred,
            asset,
            echo,
            bulk,
            spare,
            stop: Some(stop),
            tasks,
        }
    }

    fn now(&self) -> time::OffsetDateTime {
        self.t.clock.now()
    }

    /// A request by `who` for `ports` of the asset (pending).
    async fn request_as(
        &self,
        who: &User,
        ports: &[u16],
        start: Option<time::OffsetDateTime>,
    ) -> AccessRequest {
        let new = new_request(&self.asset, ports, start);
        self.t.store.create_request(&user_ctx(who), who, &new).await.expect("create request")
    }

    async fn approve(&self, r: &AccessRequest) -> AccessRequest {
        let by = &self.approver;
        self.t.store.approve_request(&user_ctx(by), r.id, by.id).await.expect("approve request")
    }

    /// A request by the vendor for `ports`, approved now (active).
    async fn granted(&self, ports: &[u16]) -> AccessRequest {
        let r = self.request_as(&self.vendor, ports, None).await;
        self.approve(&r).await
    }

    /// A new session and a credential for the vendor, with a fresh key.
    async fn second_credential(
        &self,
        expires_at: time::OffsetDateTime,
    ) -> (Session, ClientKey, TunnelCredential) {
        let session =
            new_session(&self.t, &self.vendor, self.now() + time::Duration::days(30)).await;
        let key = ClientKey::generate().expect("client key");
        let cred = self
            .t
            .store
            .create_tunnel_credential(
                &user_ctx(&self.vendor),
                self.vendor.id,
                session.id,
                &key.public_key(),
                expires_at,
            )
            .await
            .expect("tunnel credential");
        (session, key, cred)
    }

    async fn open_with(
        &self,
        cred: TunnelCredentialId,
        key: &ClientKey,
        lang: Lang,
    ) -> Result<Tunnel, ClientError> {
        bounded("Tunnel::open", Tunnel::open(&self.addr, &self.pin, cred, key, lang)).await
    }

    /// A tunnel with the harness credential.
    async fn open(&self) -> Tunnel {
        self.open_with(self.cred.id, &self.key, Lang::En).await.expect("open a tunnel")
    }

    /// `Tunnel::open` that must be refused; returns the code.
    async fn open_refused(
        &self,
        cred: TunnelCredentialId,
        key: &ClientKey,
        ctx: &str,
    ) -> RefusalCode {
        match self.open_with(cred, key, Lang::En).await {
            Err(ClientError::Refused(r)) => {
                assert!(!r.message.is_empty(), "{ctx}: refusal without a message");
                r.code
            }
            Ok(t) => panic!("{ctx}: the tunnel opened (as {})", t.username),
            Err(e) => panic!("{ctx}: expected a refusal, got {e:?}"),
        }
    }

    async fn audit_seq(&self) -> u64 {
        self.t.store.audit_head().await.expect("audit head").map_or(0, |h| h.seq)
    }

    /// Asserts that exactly one `tunnel_refused` record was appended after
    /// `since`, and that it is `want` (the source is always 127.0.0.1).
    async fn assert_refusal_audited(
        &self,
        since: u64,
        want: RefusalCode,
        fields: RefusalFields,
        ctx: &str,
    ) {
        let records = self.t.store.audit_records(since + 1, 100_000).await.expect("audit records");
        let refusals: Vec<AuditEvent> = records
            .iter()
            .map(|r| r.entry().expect("audit entry").event)
            .filter(|e| matches!(e, AuditEvent::TunnelRefused { .. }))
            .collect();
        let expected = AuditEvent::TunnelRefused {
            user: fields.user,
            credential: fields.credential,
            request: fields.request,
            port: fields.port,
            reason: want.as_str().to_owned(),
            source: Some(LOCALHOST),
        };
        assert_eq!(refusals, vec![expected], "{ctx}: tunnel_refused records appended");
    }

    /// Opens a connection that must be refused with `want`, and checks that
    /// `target` saw nothing and the refusal was audited.
    async fn assert_conn_refused(
        &self,
        tunnel: &Tunnel,
        request: AccessRequestId,
        port: u16,
        target: &Target,
        want: RefusalCode,
        ctx: &str,
    ) {
        let before = target.conns();
        let seq = self.audit_seq().await;
        let code = carry_refused(tunnel, request, port, ctx).await;
        assert_eq!(code, want, "{ctx}: refusal code");
        target.assert_untouched(before, ctx).await;
        let fields = RefusalFields {
            user: Some(self.vendor.id),
            credential: Some(self.cred.id),
            request: Some(request),
            port: Some(port),
        };
        self.assert_refusal_audited(seq, want, fields, ctx).await;
    }

    /// Checks a refused `Tunnel::open`: the code, nothing reached any device,
    /// the audit record.
    async fn assert_open_refused(
        &self,
        cred: TunnelCredentialId,
        key: &ClientKey,
        want: &[RefusalCode],
        user: Option<UserId>,
        ctx: &str,
    ) -> RefusalCode {
        let before = [self.echo.conns(), self.bulk.conns(), self.spare.conns()];
        let seq = self.audit_seq().await;
        let code = self.open_refused(cred, key, ctx).await;
        assert!(want.contains(&code), "{ctx}: refused with {code:?}, expected one of {want:?}");
        for (t, b) in [&self.echo, &self.bulk, &self.spare].into_iter().zip(before) {
            t.assert_untouched(b, ctx).await;
        }
        let fields = RefusalFields { user, credential: Some(cred), request: None, port: None };
        self.assert_refusal_audited(seq, code, fields, ctx).await;
        code
    }

    async fn records(&self, request: AccessRequestId) -> Vec<TunnelSession> {
        let filter =
            TunnelSessionFilter { request: Some(request), limit: 1000, ..Default::default() };
        self.t.store.list_tunnel_sessions(&filter).await.expect("list tunnel sessions")
    }

    /// The one record of `request` on `port`, once it has ended.
    async fn ended_record(&self, request: AccessRequestId, port: u16) -> TunnelSession {
        let h = self;
        eventually("the session record to be closed", move || async move {
            let mine: Vec<TunnelSession> =
                h.records(request).await.into_iter().filter(|s| s.port == port).collect();
            assert!(mine.len() <= 1, "more than one record: {mine:?}");
            mine.into_iter().next().filter(|s| s.ended_at.is_some())
        })
        .await
    }

    /// Waits until the gateway lists no live connection.
    async fn no_live_connections(&self) {
        let gw = &self.gateway;
        eventually("no live connections", move || async move {
            gw.live_connections().is_empty().then_some(())
        })
        .await;
    }

    /// Starts a download from the bulk device under `request` and waits
    /// until a MiB has arrived.
    async fn busy(&self, tunnel: &Tunnel, request: AccessRequestId) -> Busy {
        let before = self.bulk.conns();
        let Carried { local, task } = carry(tunnel, request, self.bulk.port).await;
        let download = Download::start(local);
        download.flowing(1 << 20).await;
        assert_eq!(self.bulk.conns(), before + 1, "one connection reached the bulk device");
        Busy { download, carry: task }
    }
}

/// The identity fields of an expected `tunnel_refused` record.
#[derive(Debug, Clone, Copy)]
struct RefusalFields {
    user: Option<UserId>,
    credential: Option<TunnelCredentialId>,
    request: Option<AccessRequestId>,
    port: Option<u16>,
}

fn new_request(
    asset: &Asset,
    ports: &[u16],
    start: Option<time::OffsetDateTime>,
) -> NewAccessRequest {
    NewAccessRequest {
        asset: asset.id,
        ports: ports.to_vec(),
        reason: "INC-4711 tunnel test".into(),
        start,
        duration_minutes: GRANT_MINUTES,
    }
}

async fn new_session(t: &TestStore, user: &User, expires_at: time::OffsetDateTime) -> Session {
    let new = NewSession {
        user: user.id,
        token_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        expires_at,
        mfa_method: "totp".into(),
        user_agent: Some("tunnel-test".into()),
    };
    t.store.create_session(&user_ctx(user), &new).await.expect("login session")
}

// ---------------------------------------------------------------------------
// Carrying local connections
// ---------------------------------------------------------------------------

/// A local connection handed to `Tunnel::carry`: the test holds `local`.
struct Carried {
    local: TcpStream,
    task: JoinHandle<Result<CarryEnd, ClientError>>,
}

/// Makes a real local TCP connection and carries its accepted side through
/// `tunnel` in a task, as `sekimori connect` does.
async fn carry(tunnel: &Tunnel, request: AccessRequestId, port: u16) -> Carried {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind local");
    let addr = listener.local_addr().expect("local address");
    let (local, accepted) = bounded("a local connection", async {
        tokio::join!(TcpStream::connect(addr), listener.accept())
    })
    .await;
    let (local, (accepted, _)) = (local.expect("connect local"), accepted.expect("accept local"));
    let tunnel = tunnel.clone();
    let task =
        tokio::spawn(
            async move { tunnel.carry(request, port, accepted, &Counters::default()).await },
        );
    Carried { local, task }
}

/// A carried connection that must be refused; returns the code.
async fn carry_refused(
    tunnel: &Tunnel,
    request: AccessRequestId,
    port: u16,
    ctx: &str,
) -> RefusalCode {
    let Carried { local, task } = carry(tunnel, request, port).await;
    // Closing our end at once: a connection accepted by mistake then ends
    // (and fails below) instead of waiting for data.
    drop(local);
    match bounded("a refused connection", task).await.expect("carry task") {
        Err(ClientError::Refused(r)) => {
            assert!(!r.message.is_empty(), "{ctx}: refusal without a message");
            r.code
        }
        other => panic!("{ctx}: expected a refusal, got {other:?}"),
    }
}

/// Sends `payload` through an echo connection, half-closes, reads until EOF.
async fn echo_through(
    tunnel: &Tunnel,
    request: AccessRequestId,
    port: u16,
    payload: Vec<u8>,
) -> (Vec<u8>, CarryEnd) {
    let Carried { local, task } = carry(tunnel, request, port).await;
    let (mut rd, mut wr) = local.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&payload).await.expect("write the payload");
        wr.shutdown().await.expect("half-close");
        wr
    });
    let mut got = Vec::new();
    rd.read_to_end(&mut got).await.expect("read the echo");
    let _wr = writer.await.expect("writer task");
    let end = task.await.expect("carry task").expect("carry");
    (got, end)
}

/// How the test's end of a download saw it end.
#[derive(Debug)]
struct Closed {
    at: Instant,
    how: String,
    received: u64,
}

/// The test's end of a connection that only receives, until it is closed.
struct Download {
    received: Arc<AtomicU64>,
    task: JoinHandle<Closed>,
}

impl Download {
    fn start(mut local: TcpStream) -> Download {
        let received = Arc::new(AtomicU64::new(0));
        let count = received.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let (how, at) = match local.read(&mut buf).await {
                    Ok(0) => ("eof".to_owned(), Instant::now()),
                    Ok(n) => {
                        count.fetch_add(n as u64, Ordering::SeqCst);
                        continue;
                    }
                    Err(e) => (format!("error: {e}"), Instant::now()),
                };
                return Closed { at, how, received: count.load(Ordering::SeqCst) };
            }
        });
        Download { received, task }
    }

    async fn flowing(&self, at_least: u64) {
        let received = &self.received;
        eventually("bytes to flow", move || async move {
            (received.load(Ordering::SeqCst) >= at_least).then_some(())
        })
        .await;
    }

    async fn closed(self) -> Closed {
        bounded("the local connection to be closed", self.task).await.expect("download task")
    }
}

/// A download from the bulk device in progress.
struct Busy {
    download: Download,
    carry: JoinHandle<Result<CarryEnd, ClientError>>,
}

impl Busy {
    /// Waits for the close, asserts it came within [`CLOSE_WITHIN`] of
    /// `trigger` and that the client saw the gateway cut it.
    async fn assert_closed_within(self, trigger: Instant, what: &str) -> Closed {
        let closed = self.download.closed().await;
        let latency = closed.at.saturating_duration_since(trigger);
        report(&format!("{what} (local socket: {})", closed.how), latency);
        assert!(
            latency < CLOSE_WITHIN,
            "{what}: the local socket closed {latency:?} after the trigger (limit {CLOSE_WITHIN:?}): {closed:?}"
        );
        let end = bounded("the carry to end", self.carry).await.expect("carry task");
        assert!(matches!(end, Ok(CarryEnd::CutByGateway)), "{what}: the client saw {end:?}");
        closed
    }
}

// ---------------------------------------------------------------------------
// 1. Happy path
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn echo_through_a_tunnel_is_exact_recorded_and_audited() {
    for t in sekimori_test_support::each_backend().await {
        let h = Harness::on(t).await;
        happy_path(&h).await;
    }
}

/// A large upload into a device that stops reading for a while (the echo
/// cannot send back: the test reads nothing yet) arrives exact: the
/// gateway's writes to the device fall short, the rest waits in the
/// stream's queue, and flow control holds the vendor back meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_into_a_device_that_stops_reading_arrives_exact() {
    let h = harness().await;
    let (mut rng, seed) = Rng::seeded();
    let tunnel = h.open().await;
    let payload = rng.bytes(24 << 20);
    let Carried { local, task } = carry(&tunnel, h.grant.id, h.echo.port).await;
    let (mut rd, mut wr) = local.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&sent).await.expect("write the payload");
        wr.shutdown().await.expect("half-close");
        wr
    });
    // Everything backs up: device, gateway, tunnel, this socket.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = Vec::new();
    bounded("the echo", rd.read_to_end(&mut got)).await.expect("read the echo");
    let _wr = writer.await.expect("writer task");
    bounded("the carry", task).await.expect("carry task").expect("carry");
    assert!(
        got == payload,
        "seed {seed}: {} bytes sent, {} came back, first difference at {:?}",
        payload.len(),
        got.len(),
        first_difference(&payload, &got)
    );
}

/// Echoes random payloads (empty to 1 MiB) over concurrent connections of
/// one tunnel under a fresh grant, then checks the bytes, the session
/// records, the recordings and the audit records.
async fn happy_path(h: &Harness) {
    let (mut rng, seed) = Rng::seeded();
    let ctx = format!("{:?}, seed {seed}", h.t.backend());
    let seq = h.audit_seq().await;
    let grant = h.granted(&[h.echo.port]).await;
    let tunnel = h.open().await;
    assert_eq!(tunnel.username, "vendor1", "{ctx}");

    // Distinct sizes (records are matched to connections by size).
    let mut sizes = BTreeSet::from([0, 1 << 20]);
    for cap in [100, 64 << 10, 1 << 20, 1 << 20] {
        while !sizes.insert(1 + rng.below(cap)) {}
    }
    let payloads: Vec<Vec<u8>> = sizes.iter().map(|n| rng.bytes(*n)).collect();
    let before = h.echo.conns();
    let echoes = payloads.iter().map(|p| echo_through(&tunnel, grant.id, h.echo.port, p.clone()));
    let results = bounded("concurrent echoes", futures::future::join_all(echoes)).await;
    for (sent, (got, end)) in payloads.iter().zip(&results) {
        assert!(
            got == sent,
            "{ctx}: {} bytes sent, {} came back, first difference at {:?}",
            sent.len(),
            got.len(),
            first_difference(sent, got)
        );
        assert_eq!(*end, CarryEnd::Closed, "{ctx}");
    }
    assert_eq!(h.echo.conns(), before + payloads.len(), "{ctx}: one device connection each");

    let n = payloads.len();
    let records = eventually("every record to be closed", move || async move {
        let r = h.records(grant.id).await;
        (r.len() == n && r.iter().all(|s| s.ended_at.is_some())).then_some(r)
    })
    .await;
    h.no_live_connections().await;
    let events: Vec<AuditEvent> =
        h.t.store
            .audit_records(seq + 1, u32::MAX)
            .await
            .expect("audit records")
            .iter()
            .map(|r| r.entry().expect("audit entry").event)
            .collect();
    let client = records[0].client_addr;
    assert_eq!(client.ip(), LOCALHOST, "{ctx}: client address");
    let target = SocketAddr::new(LOCALHOST, h.echo.port);
    for sent in &payloads {
        let len = sent.len() as u64;
        let ctx = format!("{ctx}, {len}-byte connection");
        let s = records
            .iter()
            .find(|s| s.bytes_up == len)
            .unwrap_or_else(|| panic!("{ctx}: no record with bytes_up = {len}: {records:#?}"));
        assert_eq!((s.user, s.username.as_str()), (h.vendor.id, "vendor1"), "{ctx}");
        assert_eq!((s.asset, s.asset_name.as_str()), (h.asset.id, "CT-1 (2F)"), "{ctx}");
        assert_eq!((s.request, s.credential, s.port), (grant.id, h.cred.id, h.echo.port), "{ctx}");
        assert_eq!(s.client_addr, client, "{ctx}: every connection of one tunnel has its client");
        assert_eq!(s.target_addr, target, "{ctx}");
        assert_eq!((s.bytes_up, s.bytes_down), (len, len), "{ctx}: byte counts");
        assert_eq!(s.close_reason, Some(CloseReason::Client), "{ctx}");
        assert!(s.recorded, "{ctx}: the asset records sessions");
        let info = s.recording.as_ref().unwrap_or_else(|| panic!("{ctx}: no recording info"));
        let path = h.recordings.path().join(&info.file);
        let file =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{ctx}: {}: {e}", path.display()));
        let file_sha256 = sha256_hex(&file);
        assert_eq!(info.sha256, file_sha256, "{ctx}: SHA-256 of the recording file");
        assert_eq!(info.file_bytes, file.len() as u64, "{ctx}: file size");
        assert_eq!((info.recorded_bytes, info.truncated), (2 * len, false), "{ctx}");
        let chunks = read_recording(&path)
            .unwrap_or_else(|e| panic!("{ctx}: open the recording: {e}"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{ctx}: read the recording: {e}"));
        let stream = |d: Direction| -> Vec<u8> {
            chunks.iter().filter(|c| c.direction == d).flat_map(|c| c.data.clone()).collect()
        };
        assert!(stream(Direction::Up) == *sent, "{ctx}: recorded upstream differs");
        assert!(stream(Direction::Down) == *sent, "{ctx}: recorded downstream differs");

        let of_this = |e: &&AuditEvent| match e {
            AuditEvent::TunnelOpened { tunnel_session, .. }
            | AuditEvent::TunnelClosed { tunnel_session, .. } => *tunnel_session == s.id,
            _ => false,
        };
        let mine: Vec<&AuditEvent> = events.iter().filter(of_this).collect();
        let expected = [
            AuditEvent::TunnelOpened {
                tunnel_session: s.id,
                request: grant.id,
                user: h.vendor.id,
                asset: h.asset.id,
                port: h.echo.port,
                client: client.to_string(),
                target: target.to_string(),
                recorded: true,
            },
            AuditEvent::TunnelClosed {
                tunnel_session: s.id,
                request: grant.id,
                bytes_up: len,
                bytes_down: len,
                reason: CloseReason::Client,
                recording_sha256: Some(file_sha256),
                recorded_bytes: Some(2 * len),
                recording_truncated: Some(false),
            },
        ];
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "{ctx}: audit records");
    }
    assert!(
        !events.iter().any(|e| matches!(e, AuditEvent::TunnelRefused { .. })),
        "{ctx}: nothing was refused"
    );
}

// ---------------------------------------------------------------------------
// 2. Window end under traffic
// ---------------------------------------------------------------------------

/// Both ends prefer AES-128-GCM (aws-lc-rs's default order would give
/// AES-256-GCM), over TLS 1.3 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_negotiates_tls13_with_aes_128_gcm() {
    let h = harness().await;
    let tls = raw_tls(&h).await;
    let conn = tls.get_ref().1;
    assert_eq!(conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(
        conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_window_end_closes_a_busy_connection_within_a_second() {
    let h = harness().await;
    let tunnel = h.open().await;
    let busy = h.busy(&tunnel, h.grant.id).await;
    let live = h.gateway.live_connections();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live[0].request, live[0].user), (h.grant.id, h.vendor.id));
    assert!(live[0].bytes_down > 0, "{live:?}");

    let window_end = h.grant.window_end.expect("an approved grant has a window");
    let trigger = Instant::now();
    h.t.clock.set(window_end + time::Duration::seconds(1));
    let closed = busy.assert_closed_within(trigger, "window end").await;

    let rec = h.ended_record(h.grant.id, h.bulk.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::Expired), "{rec:?}");
    assert!(rec.bytes_down >= closed.received, "{rec:?} vs {closed:?}");
    h.no_live_connections().await;
    let ctx = "a new connection after the window";
    h.assert_conn_refused(
        &tunnel,
        h.grant.id,
        h.bulk.port,
        &h.bulk,
        RefusalCode::GrantExpired,
        ctx,
    )
    .await;
    let ctx = "a new echo connection after the window";
    h.assert_conn_refused(
        &tunnel,
        h.grant.id,
        h.echo.port,
        &h.echo,
        RefusalCode::GrantExpired,
        ctx,
    )
    .await;
}

/// The byte counts of a connection the gateway cuts cover everything the
/// vendor received, and match the recording. The vendor stops reading, so
/// the gateway stalls on flow control in the middle of forwarding a chunk
/// from the device; then the connection is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_connection_is_counted_in_full() {
    let h = harness().await;
    let tunnel = h.open().await;
    let Carried { mut local, task } = carry(&tunnel, h.grant.id, h.bulk.port).await;
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    bounded("the first MiB", async {
        while received < 1 << 20 {
            let n = local.read(&mut buf).await.expect("read");
            assert!(n > 0, "EOF too early");
            received += n as u64;
        }
    })
    .await;
    // We stop reading; wait until the gateway stops forwarding.
    let gw = &h.gateway;
    let last = AtomicU64::new(u64::MAX);
    let last = &last;
    let id = eventually("the gateway to stall on flow control", move || async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let live = gw.live_connections();
        let c = live.first()?;
        let previous = last.swap(c.bytes_down, Ordering::SeqCst);
        (previous == c.bytes_down).then_some(c.id)
    })
    .await;
    assert!(h.gateway.kill_connection(id), "the connection is live");
    bounded("the rest, until the cut", async {
        loop {
            match local.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n as u64,
            }
        }
    })
    .await;
    let end = bounded("the carry to end", task).await.expect("carry task");
    assert!(matches!(end, Ok(CarryEnd::CutByGateway)), "{end:?}");

    let rec = h.ended_record(h.grant.id, h.bulk.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::Killed), "{rec:?}");
    let info = rec.recording.as_ref().expect("recording info");
    let path = h.recordings.path().join(&info.file);
    let chunks = read_recording(&path)
        .expect("open the recording")
        .collect::<Result<Vec<_>, _>>()
        .expect("read the recording");
    let recorded_down: u64 =
        chunks.iter().filter(|c| c.direction == Direction::Down).map(|c| c.data.len() as u64).sum();
    assert!(
        rec.bytes_down >= received,
        "the record says {} bytes went down, the vendor received {received} (recorded: {recorded_down})",
        rec.bytes_down
    );
    assert_eq!(rec.bytes_down, recorded_down, "the record and the recording agree");
}

// ---------------------------------------------------------------------------
// 3. Revocation under traffic
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_closes_busy_connections_within_a_second() {
    let h = harness().await;
    let tunnel = h.open().await;

    // close_request alone closes at once (the store still says approved, so
    // nothing else would).
    let busy = h.busy(&tunnel, h.grant.id).await;
    let trigger = Instant::now();
    assert_eq!(h.gateway.close_request(h.grant.id, CloseReason::Revoked), 1);
    busy.assert_closed_within(trigger, "close_request alone").await;
    let rec = h.ended_record(h.grant.id, h.bulk.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::Revoked), "{rec:?}");

    // As the API does it: the store, then the gateway.
    let grant = h.granted(&[h.bulk.port]).await;
    let busy = h.busy(&tunnel, grant.id).await;
    let trigger = Instant::now();
    let by = &h.approver;
    h.t.store.revoke_request(&user_ctx(by), grant.id, by.id, Some("test")).await.expect("revoke");
    // 0 when the re-check got there first.
    let closed_here = h.gateway.close_request(grant.id, CloseReason::Revoked);
    assert!(closed_here <= 1, "{closed_here}");
    busy.assert_closed_within(trigger, "revoke in the store + close_request").await;
    let rec = h.ended_record(grant.id, h.bulk.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::Revoked), "{rec:?}");
    let ctx = "a new connection after revocation (API)";
    h.assert_conn_refused(&tunnel, grant.id, h.bulk.port, &h.bulk, RefusalCode::GrantRevoked, ctx)
        .await;

    // Only in the store, by another process: the re-check finds it.
    let grant = h.granted(&[h.bulk.port]).await;
    let busy = h.busy(&tunnel, grant.id).await;
    let cli = h.t.open_another().await;
    let trigger = Instant::now();
    cli.revoke_request(&admin_ctx(), grant.id, h.approver.id, None).await.expect("revoke (CLI)");
    busy.assert_closed_within(trigger, "revoke by another process (re-check)").await;
    let rec = h.ended_record(grant.id, h.bulk.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::Revoked), "{rec:?}");
    let ctx = "a new connection after revocation (CLI)";
    h.assert_conn_refused(&tunnel, grant.id, h.bulk.port, &h.bulk, RefusalCode::GrantRevoked, ctx)
        .await;
    cli.close().await;

    // The first grant was never revoked in the store: still usable.
    let (got, _) = bounded(
        "echo on the first grant",
        echo_through(&tunnel, h.grant.id, h.echo.port, b"still here".to_vec()),
    )
    .await;
    assert_eq!(got, b"still here");
}

/// New connections next to a live one reuse the re-check's read (no store
/// read per connection), but never across a revocation made in this
/// process: the next connection after it is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_reuse_a_fresh_authorisation_but_never_across_a_revocation() {
    let h = harness().await;
    let tunnel = h.open().await;
    let busy = h.busy(&tunnel, h.grant.id).await;
    let before = h.gateway.authz_store_reads();
    let n = 8;
    for i in 0..n {
        let msg = format!("burst {i}").into_bytes();
        let (got, _) =
            bounded("echo in a burst", echo_through(&tunnel, h.grant.id, h.echo.port, msg.clone()))
                .await;
        assert_eq!(got, msg);
    }
    let reads = h.gateway.authz_store_reads() - before;
    // Each re-check (every 100 ms) refreshes the grant's read while the
    // busy connection lives; a miss happens only when a connection lands
    // between an entry's expiry and the next re-check's read.
    assert!(reads < n, "{reads} store reads for {n} connections: nothing was reused");

    // Revoked in the store and told to the gateway (as the API does):
    // refused at once, though the cached read said approved a moment ago.
    let by = &h.approver;
    h.t.store.revoke_request(&user_ctx(by), h.grant.id, by.id, None).await.expect("revoke");
    h.gateway.close_request(h.grant.id, CloseReason::Revoked);
    let ctx = "the first connection after a revocation";
    h.assert_conn_refused(
        &tunnel,
        h.grant.id,
        h.echo.port,
        &h.echo,
        RefusalCode::GrantRevoked,
        ctx,
    )
    .await;
    drop(busy);

    // authz_changed (logout, password change, MFA reset) drops cached
    // reads too: the next connection reads the store.
    let grant = h.granted(&[h.echo.port]).await;
    let (got, _) =
        bounded("echo", echo_through(&tunnel, grant.id, h.echo.port, b"a".to_vec())).await;
    assert_eq!(got, b"a");
    let before = h.gateway.authz_store_reads();
    h.gateway.authz_changed();
    let (got, _) =
        bounded("echo", echo_through(&tunnel, grant.id, h.echo.port, b"b".to_vec())).await;
    assert_eq!(got, b"b");
    assert_eq!(h.gateway.authz_store_reads() - before, 1, "authz_changed forces a store read");

    // A refusing read is never kept: an approval made in the store alone
    // (the CLI, another server) is seen by the very next connection.
    let pending = h.request_as(&h.vendor, &[h.echo.port], None).await;
    let ctx = "a pending grant";
    h.assert_conn_refused(
        &tunnel,
        pending.id,
        h.echo.port,
        &h.echo,
        RefusalCode::GrantPending,
        ctx,
    )
    .await;
    let approved = h.approve(&pending).await;
    let (got, _) =
        bounded("echo", echo_through(&tunnel, approved.id, h.echo.port, b"c".to_vec())).await;
    assert_eq!(got, b"c", "the first connection after the approval");
}

// ---------------------------------------------------------------------------
// 4. Locked user
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locking_the_user_closes_connections_and_tunnels_and_refuses_new_ones() {
    let h = harness().await;
    let tunnel = h.open().await;
    let busy = h.busy(&tunnel, h.grant.id).await;
    let trigger = Instant::now();
    // Only in the store: no close_user.
    h.t.store
        .set_user_status(&admin_ctx(), h.vendor.id, UserStatus::Locked, "tunnel test")
        .await
        .expect("lock");
    busy.assert_closed_within(trigger, "user locked (re-check)").await;
    let rec = h.ended_record(h.grant.id, h.bulk.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::UserLocked), "{rec:?}");

    // The tunnel itself is closed by the re-check too.
    let t = &tunnel;
    eventually("the tunnel to be closed", move || async move {
        let ready = timeout(Duration::from_millis(200), t.ready()).await;
        matches!(ready, Ok(false)).then_some(())
    })
    .await;
    report("user locked: tunnel (not only its connections)", trigger.elapsed());

    // A new tunnel: the lock also revoked the login session, and the gateway
    // checks the session before the user, so today it answers
    // session_revoked (either code is acceptable here).
    h.assert_open_refused(
        h.cred.id,
        &h.key,
        &[RefusalCode::UserInactive, RefusalCode::SessionRevoked],
        Some(h.vendor.id),
        "a new tunnel of a locked user",
    )
    .await;

    // A locked user whose session is somehow still live: user_inactive.
    h.t.store
        .set_user_status(&admin_ctx(), h.vendor.id, UserStatus::Active, "unlock")
        .await
        .expect("unlock");
    let (_, key2, cred2) = h.second_credential(h.now() + time::Duration::days(1)).await;
    let sql = format!("UPDATE users SET status = 'locked' WHERE id = '{}'", h.vendor.id);
    assert_eq!(h.t.raw_execute(&sql).await, 1);
    h.assert_open_refused(
        cred2.id,
        &key2,
        &[RefusalCode::UserInactive],
        Some(h.vendor.id),
        "a locked user with a live session",
    )
    .await;
}

/// Connections a tunnel carries when the gateway cuts the whole tunnel
/// (lock through the API, shutdown) are recorded with the reason of the
/// cut, not as closed by the client. Many idle connections per tunnel make
/// the race between "tunnel torn down" and "connection killed" likely.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_cut_with_their_tunnel_are_recorded_with_the_reason() {
    const N: usize = 16;
    let h = harness().await;

    // A lock as the API does it: the store, then close_user.
    let tunnel = h.open().await;
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(idle_echo(&tunnel, h.grant.id, h.echo.port).await);
    }
    let busy = h.busy(&tunnel, h.grant.id).await;
    let trigger = Instant::now();
    h.t.store
        .set_user_status(&admin_ctx(), h.vendor.id, UserStatus::Locked, "tunnel test")
        .await
        .expect("lock");
    h.gateway.close_user(h.vendor.id);
    busy.assert_closed_within(trigger, "user locked (API: close_user)").await;
    let reasons = closed_reasons(&h, h.grant.id, N + 1).await;
    assert_eq!(reasons, vec![Some(CloseReason::UserLocked); N + 1], "lock through the API");
    drop(held);

    // Shutdown.
    h.t.store
        .set_user_status(&admin_ctx(), h.vendor.id, UserStatus::Active, "unlock")
        .await
        .expect("unlock");
    let (_, key2, cred2) = h.second_credential(h.now() + time::Duration::days(1)).await;
    let grant = h.granted(&[h.echo.port]).await;
    let tunnel = h.open_with(cred2.id, &key2, Lang::En).await.expect("open");
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(idle_echo(&tunnel, grant.id, h.echo.port).await);
    }
    bounded("gateway shutdown", h.gateway.shutdown(Duration::from_secs(10))).await;
    let reasons = closed_reasons(&h, grant.id, N).await;
    assert_eq!(reasons, vec![Some(CloseReason::Shutdown); N], "shutdown");
    drop(held);
}

/// A client that ignores flow control (sends far past a stream's credit
/// while never reading what the device sends back) loses its tunnel: the
/// gateway holds at most a window per stream, then closes, and the
/// connection is recorded as ended by the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_ignores_flow_control_loses_its_tunnel() {
    use sekimori_gateway::mux;
    let h = harness().await;
    let mut tls = accepted_hello(&h, None).await;
    let mut open = Vec::new();
    mux::open(&mut open, 1, h.grant.id, h.echo.port, b"x");
    let frame_len = mux::MAX_DATA;
    // Far past the credit: the socket buffers between the gateway and the
    // device (and back) absorb several MiB before the gateway must hold
    // anything itself.
    let frames = 16 * (protocol::STREAM_WINDOW as usize).div_ceil(frame_len);
    let payload = vec![0x42u8; frame_len];
    let ended = bounded("the gateway to close a flooding tunnel", async {
        tls.write_all(&open).await.expect("open");
        for _ in 0..frames {
            let mut f = Vec::with_capacity(mux::HEADER + frame_len);
            mux::data_header(&mut f, 1, frame_len);
            f.extend_from_slice(&payload);
            if tls.write_all(&f).await.is_err() {
                break;
            }
        }
        let _ = tls.flush().await;
        // Never a WINDOW: the echo comes back until its credit is spent.
        read_all(&mut tls).await
    })
    .await;
    assert!(
        ended.len() <= protocol::STREAM_WINDOW as usize + (1 << 20),
        "{} bytes came back (credit is {})",
        ended.len(),
        protocol::STREAM_WINDOW
    );
    let rec = h.ended_record(h.grant.id, h.echo.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::Client), "{rec:?}");
    h.no_live_connections().await;
}

/// Records are written in groups (`GatewayConfig::record_delay`): short
/// connections, which end before their start is written, become one row
/// each, and a long one gets its start written first and its end in a later
/// group. Every record is there with its bytes, and in the audit chain each
/// connection's `tunnel_opened` comes before its `tunnel_closed`, on every
/// backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_and_long_connections_are_recorded_start_before_end() {
    for t in sekimori_test_support::each_backend().await {
        let h = Harness::on(t).await;
        let ctx = format!("{:?}", h.t.backend());
        let seq = h.audit_seq().await;
        let tunnel = h.open().await;

        // A long connection: its start is written while it lives.
        let long = idle_echo(&tunnel, h.grant.id, h.echo.port).await;
        let started = eventually("the long connection's start to be written", || async {
            let r = h.records(h.grant.id).await;
            (r.len() == 1).then(|| r.into_iter().next()).flatten()
        })
        .await;
        assert!(started.ended_at.is_none(), "{ctx}: {started:?}");

        // Short ones, one after another and some at once: sizes 1..=24.
        const SHORT: usize = 24;
        for n in 1..=SHORT / 2 {
            let (got, _) = echo_through(&tunnel, h.grant.id, h.echo.port, vec![7; n]).await;
            assert_eq!(got.len(), n, "{ctx}");
        }
        let at_once = (SHORT / 2 + 1..=SHORT).map(|n| {
            let tunnel = tunnel.clone();
            let (request, port) = (h.grant.id, h.echo.port);
            tokio::spawn(async move { echo_through(&tunnel, request, port, vec![9; n]).await })
        });
        for (i, r) in futures::future::join_all(at_once).await.into_iter().enumerate() {
            assert_eq!(r.expect("echo task").0.len(), SHORT / 2 + 1 + i, "{ctx}");
        }
        drop(long);

        let records = eventually("every record to be ended", || async {
            let r = h.records(h.grant.id).await;
            (r.len() == SHORT + 1 && r.iter().all(|s| s.ended_at.is_some())).then_some(r)
        })
        .await;
        let mut short: Vec<u64> = records
            .iter()
            .filter(|r| r.id != started.id)
            .map(|r| {
                assert_eq!(r.bytes_up, r.bytes_down, "{ctx}: {r:?}");
                assert_eq!(r.close_reason, Some(CloseReason::Client), "{ctx}: {r:?}");
                assert!(r.ended_at >= Some(r.started_at), "{ctx}: {r:?}");
                r.bytes_up
            })
            .collect();
        short.sort_unstable();
        assert_eq!(short, (1..=SHORT as u64).collect::<Vec<_>>(), "{ctx}");
        let long_rec = records.iter().find(|r| r.id == started.id).expect("the long record");
        assert_eq!((long_rec.bytes_up, long_rec.started_at), (4, started.started_at), "{ctx}");

        // Start before end, for every connection, in the chain.
        let entries = h.t.store.audit_records(seq + 1, 100_000).await.expect("audit records");
        let mut opened = std::collections::HashSet::new();
        let mut closed = 0;
        for r in &entries {
            match r.entry().expect("audit entry").event {
                AuditEvent::TunnelOpened { tunnel_session, .. } => {
                    assert!(opened.insert(tunnel_session), "{ctx}: opened twice");
                }
                AuditEvent::TunnelClosed { tunnel_session, .. } => {
                    assert!(opened.contains(&tunnel_session), "{ctx}: closed before opened");
                    closed += 1;
                }
                _ => {}
            }
        }
        assert_eq!((opened.len(), closed), (SHORT + 1, SHORT + 1), "{ctx}");
        let report = h.t.store.verify_audit(&h.t.key.public_key()).await.expect("verify");
        assert!(report.is_ok(), "{ctx}: {report:?}");
        h.no_live_connections().await;
    }
}

/// An echo connection that has carried one exchange and stays open.
async fn idle_echo(tunnel: &Tunnel, request: AccessRequestId, port: u16) -> Carried {
    let mut c = carry(tunnel, request, port).await;
    let mut pong = [0u8; 4];
    bounded("ping", async {
        c.local.write_all(b"ping").await.expect("write");
        c.local.read_exact(&mut pong).await.expect("read");
    })
    .await;
    assert_eq!(&pong, b"ping");
    c
}

/// The close reasons of the `n` records of `request`, once all have ended.
async fn closed_reasons(
    h: &Harness,
    request: AccessRequestId,
    n: usize,
) -> Vec<Option<CloseReason>> {
    let records = eventually("every record to be closed", move || async move {
        let r = h.records(request).await;
        (r.len() == n && r.iter().all(|s| s.ended_at.is_some())).then_some(r)
    })
    .await;
    records.iter().map(|s| s.close_reason).collect()
}

// ---------------------------------------------------------------------------
// 5. Refusals of new connections
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_connections_outside_an_active_grant_are_refused() {
    let h = harness().await;
    let tunnel = h.open().await;
    let echo = h.echo.port;

    h.assert_conn_refused(
        &tunnel,
        h.grant.id,
        h.spare.port,
        &h.spare,
        RefusalCode::PortNotGranted,
        "a maintenance port the grant does not name",
    )
    .await;
    h.assert_conn_refused(
        &tunnel,
        h.grant.id,
        9,
        &h.spare,
        RefusalCode::PortNotGranted,
        "a port the asset does not have",
    )
    .await;

    let pending = h.request_as(&h.vendor, &[echo], None).await;
    h.assert_conn_refused(
        &tunnel,
        pending.id,
        echo,
        &h.echo,
        RefusalCode::GrantPending,
        "a pending request",
    )
    .await;

    let denied = h.request_as(&h.vendor, &[echo], None).await;
    let by = &h.approver;
    h.t.store.deny_request(&user_ctx(by), denied.id, by.id, Some("no")).await.expect("deny");
    h.assert_conn_refused(
        &tunnel,
        denied.id,
        echo,
        &h.echo,
        RefusalCode::GrantDenied,
        "a denied request",
    )
    .await;

    let theirs = h.request_as(&h.other_vendor, &[echo], None).await;
    let theirs = h.approve(&theirs).await;
    h.assert_conn_refused(
        &tunnel,
        theirs.id,
        echo,
        &h.echo,
        RefusalCode::NoGrant,
        "someone else's active grant",
    )
    .await;

    h.assert_conn_refused(
        &tunnel,
        AccessRequestId::new(),
        echo,
        &h.echo,
        RefusalCode::NoGrant,
        "an unknown request ID",
    )
    .await;

    let later = h.request_as(&h.vendor, &[echo], Some(h.now() + time::Duration::hours(2))).await;
    let later = h.approve(&later).await;
    assert!(later.window_start.is_some_and(|s| s > h.now()), "{later:?}");
    h.assert_conn_refused(
        &tunnel,
        later.id,
        echo,
        &h.echo,
        RefusalCode::GrantScheduled,
        "a grant whose window starts later",
    )
    .await;

    let cancelled = h.granted(&[echo]).await;
    let me = &h.vendor;
    h.t.store.cancel_request(&user_ctx(me), cancelled.id, me.id).await.expect("cancel");
    h.assert_conn_refused(
        &tunnel,
        cancelled.id,
        echo,
        &h.echo,
        RefusalCode::GrantCancelled,
        "a cancelled grant",
    )
    .await;

    // None of that hurt the tunnel.
    let (got, end) = bounded(
        "echo after the refusals",
        echo_through(&tunnel, h.grant.id, echo, b"ping".to_vec()),
    )
    .await;
    assert_eq!((got.as_slice(), end), (&b"ping"[..], CarryEnd::Closed));
}

// ---------------------------------------------------------------------------
// 6. Stale credentials
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_unknown_or_forged_credentials_are_refused() {
    let h = harness().await;

    let unknown = TunnelCredentialId::new();
    h.assert_open_refused(
        unknown,
        &h.key,
        &[RefusalCode::CredentialUnknown],
        None,
        "an unknown credential",
    )
    .await;
    // Refusals speak the client's language.
    match h.open_with(unknown, &h.key, Lang::Ja).await {
        Err(ClientError::Refused(r)) => {
            assert_eq!(r.message, RefusalCode::CredentialUnknown.localized(Lang::Ja));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let stranger = ClientKey::generate().expect("another key");
    h.assert_open_refused(
        h.cred.id,
        &stranger,
        &[RefusalCode::SignatureInvalid],
        Some(h.vendor.id),
        "a valid credential signed with another key",
    )
    .await;

    let (logged_out, key2, cred2) = h.second_credential(h.now() + time::Duration::days(1)).await;
    let revoked =
        h.t.store.revoke_session(&user_ctx(&h.vendor), logged_out.id, SessionEnd::Logout).await;
    assert!(revoked.expect("logout"));
    h.assert_open_refused(
        cred2.id,
        &key2,
        &[RefusalCode::SessionRevoked],
        Some(h.vendor.id),
        "a credential whose session was revoked",
    )
    .await;

    // The harness session is untouched by all that.
    let live = h.t.store.session(h.session.id).await.expect("session");
    assert!(live.is_live(h.now()), "{live:?}");

    // A credential that expires (10 min) before its grant (60 min): a busy
    // connection is cut when it does, and it opens no more tunnels.
    let (_, key3, cred3) = h.second_credential(h.now() + time::Duration::minutes(10)).await;
    let tunnel = h.open_with(cred3.id, &key3, Lang::En).await.expect("open");
    let busy = h.busy(&tunnel, h.grant.id).await;
    let trigger = Instant::now();
    h.t.clock.set(cred3.expires_at + time::Duration::seconds(1));
    busy.assert_closed_within(trigger, "credential expiry (re-check)").await;
    let rec = h.ended_record(h.grant.id, h.bulk.port).await;
    assert_eq!(rec.close_reason, Some(CloseReason::Expired), "{rec:?}");
    h.assert_open_refused(
        cred3.id,
        &key3,
        &[RefusalCode::CredentialExpired],
        Some(h.vendor.id),
        "an expired credential",
    )
    .await;

    // The harness credential (a day) still works.
    let tunnel = h.open().await;
    let (got, _) =
        bounded("echo", echo_through(&tunnel, h.grant.id, h.echo.port, b"ok".to_vec())).await;
    assert_eq!(got, b"ok");
}

// ---------------------------------------------------------------------------
// 7. Fail closed
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_store_closed_nothing_is_authorised() {
    let h = harness().await;
    let tunnel = h.open().await;
    let seq = h.audit_seq().await;
    let before = h.echo.conns();
    h.t.store.close().await;

    let ctx = "a new connection with the store closed";
    let code = carry_refused(&tunnel, h.grant.id, h.echo.port, ctx).await;
    assert_eq!(code, RefusalCode::StoreUnavailable, "{ctx}");
    h.echo.assert_untouched(before, ctx).await;

    let ctx = "a new tunnel with the store closed";
    let devices = [h.echo.conns(), h.bulk.conns(), h.spare.conns()];
    let code = h.open_refused(h.cred.id, &h.key, ctx).await;
    assert_eq!(code, RefusalCode::StoreUnavailable, "{ctx}");
    for (t, before) in [&h.echo, &h.bulk, &h.spare].into_iter().zip(devices) {
        t.assert_untouched(before, ctx).await;
    }

    // The refusals could not be audited: the store is what is down.
    let reader = h.t.open_another().await;
    let after = reader.audit_records(seq + 1, 1000).await.expect("audit records");
    let tunnel_events: Vec<AuditEvent> = after
        .iter()
        .map(|r| r.entry().expect("audit entry").event)
        .filter(|e| {
            matches!(
                e,
                AuditEvent::TunnelRefused { .. }
                    | AuditEvent::TunnelOpened { .. }
                    | AuditEvent::TunnelClosed { .. }
            )
        })
        .collect();
    assert!(tunnel_events.is_empty(), "{tunnel_events:?}");
    reader.close().await;
}

/// The store reads fine but cannot write session records (a full disk, as
/// far as that table is concerned). Fail closed: the connection is either
/// refused before the device is contacted, or — the gateway commits the
/// "opened" record while the first bytes flow — cut within a second, with
/// nothing left live or open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_whose_opening_cannot_be_recorded_does_not_survive() {
    let h = harness().await;
    let tunnel = h.open().await;
    h.t.raw_execute(
        "CREATE TRIGGER refuse_tunnel_sessions BEFORE INSERT ON tunnel_sessions \
         BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END",
    )
    .await;
    let ctx = "a connection whose opening cannot be recorded";
    let before = h.echo.conns();
    let started = Instant::now();
    let Carried { local, task } = carry(&tunnel, h.grant.id, h.echo.port).await;
    let download = Download::start(local);
    let end = bounded("the carry to end", task).await.expect("carry task");
    match end {
        Err(ClientError::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::StoreUnavailable, "{ctx}");
            h.echo.assert_untouched(before, ctx).await;
        }
        Ok(CarryEnd::CutByGateway) => {
            let closed = download.closed().await;
            let latency = closed.at.saturating_duration_since(started);
            report(&format!("{ctx} (local socket: {})", closed.how), latency);
            assert!(latency < CLOSE_WITHIN, "{ctx}: cut after {latency:?}");
        }
        other => panic!("{ctx}: expected a refusal or a cut, got {other:?}"),
    }
    h.no_live_connections().await;
    let records = h.records(h.grant.id).await;
    assert!(records.is_empty(), "{ctx}: {records:?}");
}

// ---------------------------------------------------------------------------
// 8. Fuzzed hello frames
// ---------------------------------------------------------------------------

/// What the gateway must do with a hello stage input followed by close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Close without a reply (incomplete input).
    Silence,
    /// A `Refused` reply frame with this code, then close.
    Refused(RefusalCode),
}

/// The answer the protocol (module docs of `protocol`) prescribes, written
/// independently of the gateway's parser: magic `SKMR`, version 2, a
/// big-endian length of at most 4096, that much JSON of a `Hello`.
fn expected_answer(input: &[u8]) -> Expect {
    if input.len() < FRAME_HEADER {
        return Expect::Silence;
    }
    if &input[..4] != b"SKMR" {
        return Expect::Refused(RefusalCode::BadHello);
    }
    if input[4] != 2 {
        return Expect::Refused(RefusalCode::UnsupportedVersion);
    }
    let len = usize::from(u16::from_be_bytes([input[5], input[6]]));
    if len > MAX_FRAME_BODY {
        return Expect::Refused(RefusalCode::BadHello);
    }
    match input.get(FRAME_HEADER..FRAME_HEADER + len) {
        None => Expect::Silence,
        // The fuzz inputs name random credentials: unknown to the store.
        Some(body) => match serde_json::from_slice::<Hello>(body) {
            Ok(_) => Expect::Refused(RefusalCode::CredentialUnknown),
            Err(_) => Expect::Refused(RefusalCode::BadHello),
        },
    }
}

/// A frame around any body (the length is whatever fits in 16 bits).
fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = b"SKMR\x02".to_vec();
    v.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn hello_json(credential: TunnelCredentialId, signature: &str, lang: Option<&str>) -> Vec<u8> {
    let hello =
        Hello { credential, signature: signature.to_owned(), lang: lang.map(str::to_owned) };
    serde_json::to_vec(&hello).expect("hello JSON")
}

fn fuzz_input(rng: &mut Rng) -> Vec<u8> {
    match rng.below(5) {
        0 => {
            let n = rng.below(40);
            rng.bytes(n)
        }
        1 => {
            let n = rng.below(6000);
            rng.bytes(n)
        }
        2 => {
            let mut v = b"SKMR".to_vec();
            v.push(if rng.below(2) == 0 { 2 } else { rng.byte() });
            let len = match rng.below(3) {
                0 => rng.below(64),
                1 => rng.below(MAX_FRAME_BODY + 1),
                _ => rng.below(1 << 16),
            };
            v.extend_from_slice(&(len as u16).to_be_bytes());
            let body = match rng.below(3) {
                0 => len,
                1 => rng.below(len + 1),
                _ => len + rng.below(100),
            };
            let body = rng.bytes(body.min(8000));
            v.extend_from_slice(&body);
            v
        }
        3 => {
            let sig = hex::encode(rng.bytes(64));
            let mut v = frame(&hello_json(TunnelCredentialId::new(), &sig, Some("ja")));
            for _ in 0..=rng.below(3) {
                let i = rng.below(v.len());
                if rng.below(2) == 0 {
                    v[i] ^= 1 << rng.below(8);
                } else {
                    v[i] = rng.byte();
                }
            }
            if rng.below(3) == 0 {
                let keep = rng.below(v.len() + 1);
                v.truncate(keep);
            }
            v
        }
        _ => {
            let uuid = format!("\"{}\"", TunnelCredentialId::new());
            let pieces: [&str; 22] = [
                "{",
                "}",
                "[",
                "]",
                ":",
                ",",
                "\"credential\"",
                "\"signature\"",
                "\"lang\"",
                "\"extra\"",
                "null",
                "true",
                "1e999",
                "-0",
                "\"\\u0000\"",
                "\"\\ud800\"",
                "\"ab\"",
                uuid.as_str(),
                " ",
                "\"ja\"",
                "\u{3042}",
                "\"\\\"",
            ];
            let mut body = String::new();
            for _ in 0..rng.below(24) {
                body.push_str(pieces[rng.below(pieces.len())]);
            }
            frame(body.as_bytes())
        }
    }
}

/// Reads until EOF or an error (a reset, or a close without close_notify).
async fn read_all<R: AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A raw TLS connection with ALPN `sekimori/1`.
async fn raw_tls(h: &Harness) -> TlsStream<tokio::io::BufReader<TcpStream>> {
    let Connected { tls, .. } =
        bounded("TLS", connect_tls(&h.addr, &h.pin, &[ALPN])).await.expect("TLS to the gateway");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(ALPN));
    tls
}

/// Sends `input` at the hello stage, closes our side when `close`, and
/// returns everything the gateway sent until it closed.
async fn raw_exchange(h: &Harness, input: &[u8], close: bool) -> Vec<u8> {
    let mut tls = raw_tls(h).await;
    bounded("a raw hello exchange", async {
        // The gateway may close before it has read everything: ignore
        // write errors, what it answered is what matters.
        if tls.write_all(input).await.is_ok() && tls.flush().await.is_ok() && close {
            let _ = tls.shutdown().await;
        }
        read_all(&mut tls).await
    })
    .await
}

/// The code of the `Refused` frame that is the whole of `reply`.
fn refusal_in(reply: &[u8], ctx: &str) -> RefusalCode {
    let header: [u8; FRAME_HEADER] =
        reply.get(..FRAME_HEADER).and_then(|h| h.try_into().ok()).unwrap_or_else(|| {
            panic!("{ctx}: expected a reply frame, got {} bytes: {reply:02x?}", reply.len())
        });
    let len =
        protocol::decode_header(&header).unwrap_or_else(|e| panic!("{ctx}: reply header: {e}"));
    assert_eq!(reply.len(), FRAME_HEADER + len, "{ctx}: the reply frame is all the gateway sent");
    match protocol::decode_body::<Reply>(&reply[FRAME_HEADER..]) {
        Ok(Reply::Refused(r)) => {
            assert!(!r.message.is_empty(), "{ctx}: refusal without a message");
            r.code
        }
        other => panic!("{ctx}: expected a refusal, got {other:?}"),
    }
}

/// Checks one hello-stage input against [`expected_answer`]; returns the
/// code refused with, if any.
async fn check_hello_input(h: &Harness, input: &[u8], ctx: &str) -> Option<RefusalCode> {
    let reply = raw_exchange(h, input, true).await;
    match expected_answer(input) {
        Expect::Silence => {
            assert!(reply.is_empty(), "{ctx}: expected a silent close, got {reply:02x?}");
            None
        }
        Expect::Refused(want) => {
            assert_eq!(refusal_in(&reply, ctx), want, "{ctx}");
            Some(want)
        }
    }
}

/// A hello the gateway accepts (signed with the harness key), with `lang`.
async fn accepted_hello(
    h: &Harness,
    lang: Option<&str>,
) -> TlsStream<tokio::io::BufReader<TcpStream>> {
    let mut tls = raw_tls(h).await;
    let mut exported = [0u8; EXPORTER_LEN];
    tls.get_ref()
        .1
        .export_keying_material(&mut exported, EXPORTER_LABEL, Some(h.cred.id.0.as_bytes()))
        .expect("exporter");
    let pair = Ed25519KeyPair::from_pkcs8(h.key.pkcs8()).expect("client key");
    assert_eq!(pair.public_key().as_ref(), h.cred.public_key.as_slice());
    let signature = pair.sign(&protocol::signed_message(h.cred.id, &exported));
    let body = hello_json(h.cred.id, &hex::encode(signature.as_ref()), lang);
    assert!(body.len() <= MAX_FRAME_BODY, "{} bytes", body.len());
    bounded("an accepted hello", async {
        tls.write_all(&frame(&body)).await.expect("send hello");
        tls.flush().await.expect("flush");
        let mut header = [0u8; FRAME_HEADER];
        tls.read_exact(&mut header).await.expect("reply header");
        let len = protocol::decode_header(&header).expect("reply header");
        let mut reply = vec![0u8; len];
        tls.read_exact(&mut reply).await.expect("reply body");
        match protocol::decode_body::<Reply>(&reply) {
            Ok(Reply::Accepted { username, .. }) => assert_eq!(username, "vendor1"),
            other => panic!("expected the hello to be accepted, got {other:?}"),
        }
    })
    .await;
    tls
}

/// Panics on the fuzz test's runtime threads (the gateway's tasks).
static RUNTIME_PANICS: AtomicUsize = AtomicUsize::new(0);
const FUZZ_THREAD: &str = "tunnel-fuzz-worker";

fn count_runtime_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(FUZZ_THREAD) {
                RUNTIME_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

#[test]
fn fuzzed_hello_frames_are_refused_or_closed_and_never_hurt_the_gateway() {
    count_runtime_panics();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name(FUZZ_THREAD)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(fuzz_hellos());
    drop(rt);
    assert_eq!(
        RUNTIME_PANICS.load(Ordering::SeqCst),
        0,
        "something panicked on the gateway's runtime (see the output)"
    );
}

async fn fuzz_hellos() {
    let h = harness().await;
    let (mut rng, seed) = Rng::seeded();
    let start_seq = h.audit_seq().await;
    let mut refused: Vec<RefusalCode> = Vec::new();

    // A tunnel with a live connection, to show the fuzzing leaves it alone.
    let bystander = h.open().await;
    let Carried { local, task: bystander_carry } = carry(&bystander, h.grant.id, h.echo.port).await;
    let mut local = local;
    let mut pong = [0u8; 5];
    bounded("bystander ping", async {
        local.write_all(b"ping1").await.expect("write");
        local.read_exact(&mut pong).await.expect("read");
    })
    .await;
    assert_eq!(&pong, b"ping1");
    let device_conns = [h.echo.conns(), h.bulk.conns(), h.spare.conns()];

    // (a) random inputs, closed after sending.
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    for case in 0..300 {
        let input = fuzz_input(&mut rng);
        let ctx = format!(
            "random case {case} (seed {seed}): {} bytes {:02x?}",
            input.len(),
            &input[..input.len().min(48)]
        );
        let answer = check_hello_input(&h, &input, &ctx).await;
        *tally.entry(answer.map_or("silence", RefusalCode::as_str).to_owned()).or_default() += 1;
        refused.extend(answer);
    }
    note(&format!("fuzz (seed {seed}): 300 random hello inputs answered {tally:?}"));

    // (b) the right magic with another version; the wrong magic.
    // Version 1 is the HTTP/2 protocol of older clients.
    for version in [0u8, 1, 3, 0x7f, 0xff] {
        let mut input = frame(b"{}");
        input[4] = version;
        let ctx = format!("version {version}");
        assert_eq!(expected_answer(&input), Expect::Refused(RefusalCode::UnsupportedVersion));
        refused.extend(check_hello_input(&h, &input, &ctx).await);
    }
    for magic in [&b"SKMQ"[..], b"skmr", b"\0\0\0\0", b"GET ", b"\x16\x03\x01\x00"] {
        let mut input = frame(b"{}");
        input[..4].copy_from_slice(magic);
        refused.extend(check_hello_input(&h, &input, &format!("magic {magic:?}")).await);
    }

    // (c) lengths over the cap are refused from the header alone: no body
    // is sent and our side stays open, so only an answer ends this quickly.
    for len in [MAX_FRAME_BODY as u16 + 1, 5000, u16::MAX] {
        let mut input = b"SKMR\x02".to_vec();
        input.extend_from_slice(&len.to_be_bytes());
        let reply = raw_exchange(&h, &input, false).await;
        let code = refusal_in(&reply, &format!("length {len}"));
        assert_eq!(code, RefusalCode::BadHello, "length {len}");
        refused.push(code);
    }
    // Exactly the cap is allowed (then the garbage body is refused).
    let mut input = frame(&vec![b'x'; MAX_FRAME_BODY]);
    assert_eq!(input.len(), FRAME_HEADER + MAX_FRAME_BODY);
    refused.extend(check_hello_input(&h, &input, "length at the cap").await);
    input.truncate(FRAME_HEADER + MAX_FRAME_BODY - 1);
    assert!(check_hello_input(&h, &input, "one byte short of the cap").await.is_none());

    // (d) truncated frames then close: silence, at every cut.
    let sig = hex::encode([7u8; 64]);
    let whole = frame(&hello_json(h.cred.id, &sig, Some("en")));
    for cut in 0..whole.len() {
        let ctx = format!("hello cut at {cut} of {}", whole.len());
        assert!(check_hello_input(&h, &whole[..cut], &ctx).await.is_none(), "{ctx}");
    }
    // A truncated frame left open: closed silently at the hello deadline.
    let started = Instant::now();
    let reply = raw_exchange(&h, &whole[..whole.len() / 2], false).await;
    assert!(reply.is_empty(), "a stalled hello got {reply:02x?}");
    let waited = started.elapsed();
    assert!(waited >= HELLO_TIMEOUT - Duration::from_millis(100), "closed after {waited:?}");

    // (e) valid frames around bad JSON.
    let cred = h.cred.id.to_string();
    let good_sig = hex::encode([1u8; 64]);
    let bad_bodies: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"{not json".to_vec()),
        ("empty", Vec::new()),
        ("null", b"null".to_vec()),
        ("array", b"[]".to_vec()),
        ("string", b"\"hello\"".to_vec()),
        ("empty object", b"{}".to_vec()),
        ("missing signature", format!(r#"{{"credential":"{cred}"}}"#).into_bytes()),
        (
            "unknown field",
            format!(r#"{{"credential":"{cred}","signature":"{good_sig}","extra":1}}"#).into_bytes(),
        ),
        (
            "duplicate field",
            format!(r#"{{"credential":"{cred}","credential":"{cred}","signature":"{good_sig}"}}"#)
                .into_bytes(),
        ),
        (
            "credential as a number",
            format!(r#"{{"credential":1,"signature":"{good_sig}"}}"#).into_bytes(),
        ),
        (
            "credential not a UUID",
            format!(r#"{{"credential":"x","signature":"{good_sig}"}}"#).into_bytes(),
        ),
        (
            "signature as an array",
            format!(r#"{{"credential":"{cred}","signature":[1,2]}}"#).into_bytes(),
        ),
        (
            "lang as a number",
            format!(r#"{{"credential":"{cred}","signature":"{good_sig}","lang":5}}"#).into_bytes(),
        ),
        (
            "lone surrogate",
            format!(r#"{{"credential":"{cred}","signature":"\ud800"}}"#).into_bytes(),
        ),
        ("not UTF-8", [&b"{\"credential\":\"\xff\xfe\""[..], b"}"].concat()),
        ("trailing garbage", [hello_json(h.cred.id, &good_sig, None), b"}}".to_vec()].concat()),
        ("deep nesting", [vec![b'['; 3000], vec![b']'; 1000]].concat()),
        ("huge signature", hello_json(h.cred.id, &"ab".repeat(5000), None)),
        ("huge lang", hello_json(h.cred.id, &good_sig, Some(&"ja,".repeat(20_000)))),
    ];
    for (what, body) in &bad_bodies {
        let input = frame(body);
        let ctx = format!("bad body: {what}");
        let want = expected_answer(&input);
        assert_eq!(want, Expect::Refused(RefusalCode::BadHello), "{ctx}: the oracle");
        refused.extend(check_hello_input(&h, &input, &ctx).await);
    }
    // Well-formed hellos with long strings inside the cap are judged on the
    // credential: the real one with a wrong (but valid hex) signature.
    for (what, sig, lang) in [
        ("long signature", "ab".repeat(1900), None),
        ("long lang", good_sig.clone(), Some("ja-JP;q=0.5,".repeat(300))),
        ("Japanese lang", good_sig.clone(), Some("日本語".repeat(300))),
    ] {
        let body = hello_json(h.cred.id, &sig, lang.as_deref());
        assert!(body.len() <= MAX_FRAME_BODY, "{what}: {} bytes", body.len());
        let reply = raw_exchange(&h, &frame(&body), true).await;
        let code = refusal_in(&reply, what);
        assert_eq!(code, RefusalCode::SignatureInvalid, "{what}");
        refused.push(code);
    }
    // A correctly signed hello with a long, odd lang is accepted.
    let tls = accepted_hello(&h, Some(&"xx-YY;q=abc,".repeat(250))).await;
    drop(tls);

    // Garbage instead of frames after an accepted hello, frames the client
    // may not send, and a frame over the size limit: the gateway closes
    // that tunnel (after a GOAWAY).
    let mut unopened = Vec::new();
    sekimori_gateway::mux::data_header(&mut unopened, 1, 1000);
    unopened.extend(rng.bytes(1000));
    let mut from_gateway = Vec::new();
    sekimori_gateway::mux::accept(&mut from_gateway, 1, b"");
    let mut fin_unopened = Vec::new();
    sekimori_gateway::mux::fin(&mut fin_unopened, 1);
    let mut flood = Vec::new();
    sekimori_gateway::mux::data_header(&mut flood, 1, sekimori_gateway::mux::MAX_DATA + 1);
    flood.extend(rng.bytes(64 << 10));
    for (what, after_hello) in [
        ("random bytes instead of frames", rng.bytes(1000)),
        ("data on a stream never opened", unopened),
        ("a frame only the gateway sends", from_gateway),
        ("FIN of a stream never opened", fin_unopened),
        ("a DATA frame over the size limit", flood),
    ] {
        let mut tls = accepted_hello(&h, None).await;
        let closed = bounded(what, async {
            let _ = tls.write_all(&after_hello).await;
            let _ = tls.flush().await;
            read_all(&mut tls).await
        })
        .await;
        // Whatever the gateway said (a GOAWAY), the connection ended:
        // `bounded` would have failed otherwise.
        drop(closed);
    }

    // Every refusal was audited with its reason, nothing else was refused.
    let records = h.t.store.audit_records(start_seq + 1, u32::MAX).await.expect("audit records");
    let mut audited: Vec<String> = records
        .iter()
        .filter_map(|r| match r.entry().expect("audit entry").event {
            AuditEvent::TunnelRefused { reason, source, .. } => {
                assert_eq!(source, Some(LOCALHOST));
                Some(reason)
            }
            _ => None,
        })
        .collect();
    let mut expected: Vec<String> = refused.iter().map(|c| c.as_str().to_owned()).collect();
    audited.sort();
    expected.sort();
    assert_eq!(audited, expected, "seed {seed}: tunnel_refused records");
    assert!(
        refused.contains(&RefusalCode::BadHello)
            && refused.contains(&RefusalCode::UnsupportedVersion)
    );

    // Nothing reached a device, the bystander still works, and so does a
    // new tunnel.
    for (t, before) in [&h.echo, &h.bulk, &h.spare].into_iter().zip(device_conns) {
        t.assert_untouched(before, "fuzzing").await;
    }
    bounded("bystander ping after the fuzzing", async {
        local.write_all(b"ping2").await.expect("write");
        local.read_exact(&mut pong).await.expect("read");
        local.shutdown().await.expect("half-close");
        assert_eq!(read_all(&mut local).await, b"");
    })
    .await;
    assert_eq!(&pong, b"ping2");
    let end = bounded("bystander carry", bystander_carry).await.expect("carry task");
    assert!(matches!(end, Ok(CarryEnd::Closed)), "{end:?}");
    happy_path(&h).await;
}
