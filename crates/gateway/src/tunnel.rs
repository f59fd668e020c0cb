//! The tunnel's I/O driver, shared by both ends: one task per tunnel owns
//! the TCP socket, the TLS record layer that took over from rustls after
//! the handshake ([`record`](crate::record)), and the sockets of every
//! stream it carries. It reads the TLS socket into one buffer, opens the
//! records where they lie, parses [`mux`](crate::mux) frames from their
//! plaintext and writes `DATA` payloads into the stream's socket; only when
//! that socket would block is the rest copied into a per-stream queue
//! (bounded by the stream's credit). In the other direction it reads a
//! readable stream socket straight into the records that will carry the
//! bytes, behind a `DATA` header, and seals them there.
//!
//! Readiness of the stream sockets is awaited by small futures in one
//! [`FuturesUnordered`], armed only while a stream has something to wait
//! for: an idle stream holds its socket and a few counters, no buffer.
//! Flow control: see the [`mux`](crate::mux) module.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::{AbortHandle, Abortable};
use futures::stream::FuturesUnordered;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use sekimori_types::{AccessRequestId, CloseReason, Lang};

use crate::client::{CarryEnd, ClientError, GrantInfo};
use crate::live::LiveTunnel;
use crate::mux::{self, Control, Event, GoAwayReason, ResetReason};
use crate::protocol::{self, Refusal, RefusalCode};
use crate::record::{Content, Opener, Outbox, Sealer};
use crate::recording::Direction;
use crate::server::{Gateway, Opened, TunnelCtx};

/// Credit is returned once this much of a stream's window was consumed.
fn stream_threshold(window: u64) -> u64 {
    (window / 4).max(1)
}

/// Most bytes moved for one stream per readiness event before others get a
/// turn (and before they are encrypted and written: one write of the TLS
/// socket per burst). Sizes here are measured (`bench/tunnel.sh`,
/// docs/PERFORMANCE.md): 512 KiB bursts of 256 KiB reads and 256 KiB
/// writes to the device cut context switches per MB carried from 14 to 5
/// and CPU per GB by about a sixth against 128/64/64 KiB; a burst is still
/// under a millisecond of a fast stream, the most another stream of the
/// tunnel waits for its turn.
const BURST: usize = 512 * 1024;
/// Most bytes read from a stream's socket at a time (one `DATA` frame).
const READ_CHUNK: usize = 256 * 1024;
/// Most received payload gathered for one write to a stream's socket: many
/// TLS records per write (one write per record wakes the reader that
/// often).
const WRITE_BATCH: usize = 256 * 1024;
const _: () = assert!(READ_CHUNK <= mux::MAX_DATA && READ_CHUNK <= BURST);
/// Most `GRANT`s answered concurrently per tunnel.
const MAX_PENDING_GRANTS: usize = 64;
/// Most plaintext waiting for the TLS socket before the peer is treated as
/// not reading (control frames it provokes would otherwise pile up).
const MAX_PENDING_OUT: usize = 8 * 1024 * 1024;

/// Where a carried connection's end goes: how it ended, bytes up and down.
type CarryReply = oneshot::Sender<Result<(CarryEnd, u64, u64), ClientError>>;

/// Messages to a tunnel's driver.
pub(crate) enum Msg {
    /// Gateway: the answer to a `GRANT` (JSON, or why not).
    GrantAnswer { stream: u32, result: Result<Vec<u8>, RefusalCode> },
    /// Client: carry a local connection.
    Carry { request: AccessRequestId, port: u16, local: TcpStream, reply: CarryReply },
    /// Client: check a grant.
    Grant { request: AccessRequestId, reply: oneshot::Sender<Result<GrantInfo, ClientError>> },
}

/// Bytes read from a tunnel's TLS socket at a time (both ends).
pub(crate) const READ_BUFFER: usize = 256 * 1024;
/// The record buffer kept for reuse once it is empty: a burst's records.
const OUTBOX_KEEP: usize = 2 * BURST;

enum Ready {
    Readable(u32),
    Writable(u32),
    Killed(u32, CloseReason),
}

type ReadyFut = Abortable<Pin<Box<dyn std::future::Future<Output = Ready> + Send>>>;

/// The outcome of an `OPEN`'s authorisation and device connect.
type OpenResult = Result<(Box<Opened>, TcpStream), RefusalCode>;
type OpeningFut = Pin<Box<dyn std::future::Future<Output = (u32, OpenResult)> + Send>>;

/// Which end of a stream ended first, cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The peer sent `FIN` (the vendor's side, on the gateway).
    Remote,
    /// Our socket reached EOF (the device, on the gateway).
    Local,
}

/// What the gateway keeps of an authorised connection.
struct GwConn {
    opened: Box<Opened>,
}

/// The client's waiter of a carried connection.
struct ClientCarry {
    reply: Option<CarryReply>,
}

enum Ext {
    /// Gateway, waiting for its authorisation; holds the first bytes.
    Pending,
    Gateway(GwConn),
    Client(ClientCarry),
}

struct Stream {
    sock: Option<Arc<TcpStream>>,
    ext: Ext,
    /// Whether data may flow (gateway: authorised; client: accepted).
    accepted: bool,
    /// What we may still send.
    send_credit: u64,
    /// What the peer may still send.
    recv_left: u64,
    /// Consumed, not yet credited back.
    unacked: u64,
    /// Bytes for the socket that it could not take yet (or that wait for
    /// the authorisation).
    queue: VecDeque<Bytes>,
    queued: usize,
    /// The peer sent `FIN`.
    remote_fin: bool,
    /// Our socket's write side is shut down.
    write_shut: bool,
    /// Our socket reached EOF and `FIN` was sent.
    local_fin: bool,
    reading: Option<AbortHandle>,
    writing: Option<AbortHandle>,
    kill: Option<AbortHandle>,
    /// Waiting for credit to read more.
    stalled: bool,
    first_end: Option<Ending>,
    /// Bytes written to the socket (received from the peer) and read from it.
    written: u64,
    read: u64,
}

impl Stream {
    fn new(ext: Ext) -> Stream {
        Stream {
            sock: None,
            ext,
            accepted: false,
            send_credit: u64::from(protocol::STREAM_WINDOW),
            recv_left: u64::from(protocol::STREAM_WINDOW),
            unacked: 0,
            queue: VecDeque::new(),
            queued: 0,
            remote_fin: false,
            write_shut: false,
            local_fin: false,
            reading: None,
            writing: None,
            kill: None,
            stalled: false,
            first_end: None,
            written: 0,
            read: 0,
        }
    }

    fn recorded(&self) -> bool {
        matches!(&self.ext, Ext::Gateway(g) if g.opened.recording.is_some())
    }

    fn done(&self) -> bool {
        self.accepted && self.local_fin && self.write_shut
    }

    fn abort_all(&mut self) {
        for h in [self.reading.take(), self.writing.take(), self.kill.take()].into_iter().flatten()
        {
            h.abort();
        }
    }
}

/// Why the driver stops.
#[derive(Debug)]
enum Fail {
    /// The peer broke the protocol.
    Protocol(GoAwayReason, String),
    /// The socket or TLS failed, or the peer closed.
    Io(String),
    /// The peer closed the tunnel (EOF, close_notify or `GOAWAY`).
    Closed,
}

impl From<mux::MuxError> for Fail {
    fn from(e: mux::MuxError) -> Self {
        Fail::Protocol(GoAwayReason::Protocol, e.to_string())
    }
}

/// The gateway's side of a driver.
pub(crate) struct GatewaySide {
    pub gw: Arc<Gateway>,
    pub ctx: Arc<TunnelCtx>,
    pub peer: std::net::SocketAddr,
}

enum Role {
    Gateway { side: GatewaySide, last_id: u32, grants: usize },
    Client { next_id: u32, grants: HashMap<u32, oneshot::Sender<Result<GrantInfo, ClientError>>> },
}

/// Everything but the TLS connection and the decoder (which the plaintext
/// being handled borrows).
struct State {
    role: Role,
    /// Most streams open at once (the gateway's limit; the client's is
    /// unbounded).
    max_streams: usize,
    streams: HashMap<u32, Stream>,
    ready: FuturesUnordered<ReadyFut>,
    /// Gateway: `OPEN`s being authorised and connected, polled by the
    /// driver itself (never aborted: a result nobody waits for any more is
    /// finished, so its record is closed).
    opening: FuturesUnordered<OpeningFut>,
    /// Control frames (and recorded data) to seal, in order, before
    /// anything else goes into `outbox`.
    out: Vec<u8>,
    /// Records for the TLS socket.
    outbox: Outbox,
    sealer: Sealer,
    /// A recorded stream's bytes, read before they are sealed.
    scratch: Vec<u8>,
    /// Sealing failed: the tunnel ends.
    broken: Option<String>,
    tunnel_send: u64,
    tunnel_recv_left: u64,
    tunnel_unacked: u64,
    /// Received payload gathered for one write to `wbuf_stream`'s socket.
    wbuf: Vec<u8>,
    wbuf_stream: u32,
    /// Streams that became readable while the TLS socket was backed up.
    deferred: Vec<u32>,
    /// Received payload of recorded streams, to record before it is
    /// written to the device.
    to_record: Vec<(u32, Bytes)>,
    /// Gateway: where its tasks answer.
    tx: Option<mpsc::UnboundedSender<Msg>>,
    gw: Option<Arc<Gateway>>,
    lang: Lang,
}

/// One tunnel's driver.
pub(crate) struct Driver {
    sock: TcpStream,
    opener: Opener,
    dec: mux::Decoder,
    /// TLS records read from the socket; `rlen` bytes of it are not
    /// processed yet (the start of a record).
    rbuf: Vec<u8>,
    rlen: usize,
    /// Bytes of the socket processed before `rbuf` (for error offsets).
    rx_offset: u64,
    st: State,
    msgs: mpsc::UnboundedReceiver<Msg>,
    kill: Option<Arc<LiveTunnel>>,
    eof: bool,
    handles_gone: bool,
}

/// A driver over a tunnel's socket whose TLS handshake rustls finished and
/// handed over ([`record::take_over`]); `leftover` are bytes read from the
/// socket and not yet processed (TLS records: they go first).
pub(crate) fn new_driver(
    sock: TcpStream,
    leftover: Vec<u8>,
    (mut sealer, opener): (Sealer, Opener),
    max_streams: usize,
    gateway: Option<GatewaySide>,
    lang: Lang,
) -> (Driver, mpsc::UnboundedSender<Msg>) {
    if let Some(g) = &gateway {
        sealer.rekey_after(g.gw.rekey_after_records());
    }
    let (tx, msgs) = mpsc::unbounded_channel();
    let kill = gateway.as_ref().map(|g| g.ctx.live.clone());
    let gw = gateway.as_ref().map(|g| g.gw.clone());
    let own_tx = gateway.as_ref().map(|_| tx.clone());
    let role = match gateway {
        Some(side) => Role::Gateway { side, last_id: 0, grants: 0 },
        None => Role::Client { next_id: 1, grants: HashMap::new() },
    };
    let st = State {
        role,
        max_streams,
        streams: HashMap::new(),
        ready: FuturesUnordered::new(),
        opening: FuturesUnordered::new(),
        out: Vec::new(),
        outbox: Outbox::default(),
        sealer,
        scratch: Vec::new(),
        broken: None,
        tunnel_send: u64::from(protocol::TUNNEL_WINDOW),
        tunnel_recv_left: u64::from(protocol::TUNNEL_WINDOW),
        tunnel_unacked: 0,
        wbuf: Vec::new(),
        wbuf_stream: 0,
        deferred: Vec::new(),
        to_record: Vec::new(),
        tx: own_tx,
        gw,
        lang,
    };
    let rlen = leftover.len();
    let mut rbuf = leftover;
    rbuf.resize(READ_BUFFER.max(rlen), 0);
    let d = Driver {
        sock,
        opener,
        dec: mux::Decoder::default(),
        rbuf,
        rlen,
        rx_offset: 0,
        st,
        msgs,
        kill,
        eof: false,
        handles_gone: false,
    };
    (d, tx)
}

impl Driver {
    /// Runs the tunnel until it ends; then closes every stream.
    pub(crate) async fn run(mut self) {
        let end = self.run_inner().await;
        let reason = match &end {
            Err(Fail::Protocol(reason, why)) => {
                tracing::info!(message = "Tunnel closed: protocol error.", error = %why);
                mux::goaway(&mut self.st.out, *reason);
                None
            }
            Err(Fail::Io(why)) => {
                tracing::debug!(message = "Tunnel ended.", error = %why);
                None
            }
            Err(Fail::Closed) | Ok(()) => None,
        };
        let killed = self.kill.as_ref().and_then(|k| k.kill.reason()).or(reason);
        let ids: Vec<u32> = self.st.streams.keys().copied().collect();
        for id in ids {
            // A connection cut with its tunnel: its own kill reason, the
            // tunnel's, or the client's going away.
            self.st.close_stream(id, killed.unwrap_or(CloseReason::Client), None);
        }
        let opening = std::mem::take(&mut self.st.opening);
        if let (false, Some(gw)) = (opening.is_empty(), self.st.gw.clone()) {
            // Connections authorised after their tunnel ended: closed and
            // recorded as such.
            let reason = killed.unwrap_or(CloseReason::Client);
            tokio::spawn(async move {
                let mut opening = opening;
                while let Some((_, result)) = opening.next().await {
                    if let Ok((o, _)) = result {
                        gw.finish_conn(o, reason).await;
                    }
                }
            });
        }
        for (_, reply) in self.st.client_grants() {
            let _ = reply.send(Err(ClientError::Protocol("the tunnel closed".into())));
        }
        if !self.eof {
            if self.st.seal_all().is_ok() {
                let _ = self.st.outbox.close_notify(&mut self.st.sealer);
            }
            let _ = self.flush_out();
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), async {
                while self.wants_write() {
                    if self.sock.writable().await.is_err() || self.flush_out().is_err() {
                        break;
                    }
                }
            })
            .await;
        }
    }

    async fn run_inner(&mut self) -> Result<(), Fail> {
        if self.rlen > 0 {
            self.on_records()?;
            self.st.record_pending().await;
        }
        loop {
            self.st.record_pending().await;
            self.flush_out()?;
            if !self.wants_write() && !self.st.deferred.is_empty() {
                for id in std::mem::take(&mut self.st.deferred) {
                    self.st.on_readable(id).await;
                }
                continue;
            }
            if self.handles_gone && self.st.streams.is_empty() {
                return Ok(());
            }
            if self.eof {
                return Err(Fail::Closed);
            }
            let want_write = self.wants_write();
            let kill = self.kill.clone();
            tokio::select! {
                r = self.sock.readable() => {
                    r.map_err(|e| Fail::Io(e.to_string()))?;
                    self.read_socket()?;
                }
                r = self.sock.writable(), if want_write => {
                    r.map_err(|e| Fail::Io(e.to_string()))?;
                }
                Some(ready) = self.st.ready.next(), if !self.st.ready.is_empty() => {
                    match ready {
                        Ok(Ready::Readable(id)) => {
                            if let Some(s) = self.st.streams.get_mut(&id) {
                                s.reading = None;
                            }
                            if self.wants_write() {
                                self.st.deferred.push(id);
                            } else {
                                self.st.on_readable(id).await;
                            }
                        }
                        Ok(Ready::Writable(id)) => {
                            if let Some(s) = self.st.streams.get_mut(&id) {
                                s.writing = None;
                            }
                            self.st.flush_queue(id);
                        }
                        Ok(Ready::Killed(id, reason)) => {
                            if let Some(s) = self.st.streams.get_mut(&id) {
                                s.kill = None;
                            }
                            self.st.close_stream(id, reason, Some(ResetReason::Closed));
                        }
                        Err(_aborted) => {}
                    }
                }
                Some((stream, result)) = self.st.opening.next(), if !self.st.opening.is_empty() => {
                    self.st.on_opened(stream, result);
                }
                msg = self.msgs.recv(), if !self.handles_gone => match msg {
                    Some(msg) => self.st.on_msg(msg),
                    None => self.handles_gone = true,
                },
                reason = async { match &kill { Some(k) => k.kill.killed().await, None => std::future::pending().await } } => {
                    tracing::info!(message = "Tunnel closed by the gateway.", reason = %reason);
                    mux::goaway(&mut self.st.out, GoAwayReason::Closed);
                    return Ok(());
                }
            }
        }
    }

    /// Whether sealed bytes wait for the socket.
    fn wants_write(&self) -> bool {
        self.st.outbox.len() > 0
    }

    /// Reads what the socket has and processes it.
    fn read_socket(&mut self) -> Result<(), Fail> {
        if self.rlen >= self.rbuf.len() {
            // Never a read into no room (it would look like EOF).
            self.rbuf.resize(self.rlen + READ_BUFFER, 0);
        }
        let free = self.rbuf.get_mut(self.rlen..).unwrap_or_default();
        match self.sock.try_read(free) {
            Ok(0) => {
                // A close without close_notify.
                self.eof = true;
                Ok(())
            }
            Ok(n) => {
                self.rlen += n;
                self.on_records()
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(Fail::Io(e.to_string())),
        }
    }

    /// Opens the whole records in `rbuf[..rlen]` in place and handles what
    /// they carry; keeps the start of a record that is not all there.
    fn on_records(&mut self) -> Result<(), Fail> {
        let mut rbuf = std::mem::take(&mut self.rbuf);
        let end = self.rlen.min(rbuf.len());
        let mut pos = 0;
        let r = loop {
            if self.eof {
                break Ok(());
            }
            let offset = usize::try_from(self.rx_offset).unwrap_or(usize::MAX).saturating_add(pos);
            let rec = rbuf.get_mut(pos..end).unwrap_or_default();
            let (used, content) = match self.opener.open(rec, offset) {
                Ok(Some(v)) => v,
                Ok(None) => break Ok(()),
                Err(e) => break Err(Fail::Io(format!("TLS: {e}"))),
            };
            let at = pos;
            pos += used;
            match content {
                Content::Data(range) => {
                    let payload = rbuf.get(at + range.start..at + range.end).unwrap_or_default();
                    if let Err(e) = self.on_plaintext(payload) {
                        break Err(e);
                    }
                }
                Content::Nothing => {}
                Content::Closed => {
                    self.st.flush_wbuf();
                    self.eof = true;
                }
            }
            // The peer updated its key and asked for ours (possibly before
            // this driver started): ours follows what is queued.
            if std::mem::take(&mut self.opener.update_requested) {
                let sealed = self.st.seal_control().and_then(|()| {
                    self.st.outbox.key_update(&mut self.st.sealer).map_err(|e| e.to_string())
                });
                if let Err(e) = sealed {
                    break Err(Fail::Io(format!("TLS: {e}")));
                }
            }
        };
        rbuf.copy_within(pos..end, 0);
        self.rlen = end - pos;
        self.rx_offset += pos as u64;
        self.rbuf = rbuf;
        self.st.flush_wbuf();
        r
    }

    /// Handles a record's application data: mux frames.
    fn on_plaintext(&mut self, chunk: &[u8]) -> Result<(), Fail> {
        let mut used = 0;
        while used < chunk.len() {
            let (n, ev) = self.dec.feed(chunk.get(used..).unwrap_or_default())?;
            used += n;
            if let Some(ev) = ev {
                self.st.on_event(ev)?;
            }
        }
        Ok(())
    }

    /// Seals pending frames and writes what the socket takes.
    fn flush_out(&mut self) -> Result<(), Fail> {
        if let Some(e) = self.st.broken.take() {
            return Err(Fail::Io(format!("TLS: {e}")));
        }
        self.st.seal_all().map_err(|e| Fail::Io(format!("TLS: {e}")))?;
        loop {
            let pending = self.st.outbox.pending();
            if pending.is_empty() {
                break;
            }
            match self.sock.try_write(pending) {
                Ok(0) => break,
                Ok(n) => self.st.outbox.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(Fail::Io(e.to_string())),
            }
        }
        if self.st.outbox.len() > MAX_PENDING_OUT {
            return Err(Fail::Io("the peer does not read: too much waits for it".into()));
        }
        self.st.outbox.shrink(OUTBOX_KEEP);
        Ok(())
    }
}

impl State {
    fn gateway(&self) -> Option<&GatewaySide> {
        match &self.role {
            Role::Gateway { side, .. } => Some(side),
            Role::Client { .. } => None,
        }
    }

    fn client_grants(&mut self) -> Vec<(u32, oneshot::Sender<Result<GrantInfo, ClientError>>)> {
        match &mut self.role {
            Role::Client { grants, .. } => grants.drain().collect(),
            Role::Gateway { .. } => Vec::new(),
        }
    }

    fn arm_read(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        let Some(sock) = s.sock.clone() else { return };
        if s.reading.is_some() || s.local_fin {
            return;
        }
        if s.send_credit == 0 || self.tunnel_send == 0 {
            s.stalled = true;
            return;
        }
        let (h, reg) = AbortHandle::new_pair();
        s.reading = Some(h);
        let fut: Pin<Box<dyn std::future::Future<Output = Ready> + Send>> = Box::pin(async move {
            // An error shows at the read that follows.
            let _ = sock.readable().await;
            Ready::Readable(id)
        });
        self.ready.push(Abortable::new(fut, reg));
    }

    fn arm_write(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        let Some(sock) = s.sock.clone() else { return };
        if s.writing.is_some() {
            return;
        }
        let (h, reg) = AbortHandle::new_pair();
        s.writing = Some(h);
        let fut: Pin<Box<dyn std::future::Future<Output = Ready> + Send>> = Box::pin(async move {
            let _ = sock.writable().await;
            Ready::Writable(id)
        });
        self.ready.push(Abortable::new(fut, reg));
    }

    fn arm_kill(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        let Ext::Gateway(g) = &s.ext else { return };
        let conn = g.opened.conn.clone();
        let (h, reg) = AbortHandle::new_pair();
        s.kill = Some(h);
        let fut: Pin<Box<dyn std::future::Future<Output = Ready> + Send>> =
            Box::pin(async move { Ready::Killed(id, conn.kill.killed().await) });
        self.ready.push(Abortable::new(fut, reg));
    }

    /// Credits `n` consumed bytes of stream `id` (and of the tunnel).
    fn credit(&mut self, id: u32, n: u64) {
        self.tunnel_unacked += n;
        if self.tunnel_unacked >= stream_threshold(u64::from(protocol::TUNNEL_WINDOW) / 2) {
            let inc = self.tunnel_unacked.min(u64::from(u32::MAX));
            mux::window(&mut self.out, 0, inc as u32);
            self.tunnel_recv_left += inc;
            self.tunnel_unacked -= inc;
        }
        let threshold = stream_threshold(u64::from(protocol::STREAM_WINDOW));
        let Some(s) = self.streams.get_mut(&id) else { return };
        s.unacked += n;
        if s.unacked >= threshold && !s.remote_fin {
            let inc = s.unacked.min(u64::from(u32::MAX));
            mux::window(&mut self.out, id, inc as u32);
            s.recv_left += inc;
            s.unacked -= inc;
        }
    }

    /// Credits back, at the tunnel level, what a removed stream still held.
    fn forget(&mut self, n: u64) {
        self.tunnel_unacked += n;
    }

    fn on_event(&mut self, ev: Event<'_>) -> Result<(), Fail> {
        match ev {
            Event::DataStart { stream, len } => {
                let len = u64::from(len);
                if len > self.tunnel_recv_left {
                    return Err(Fail::Protocol(
                        GoAwayReason::FlowControl,
                        "data beyond the tunnel's credit".into(),
                    ));
                }
                self.tunnel_recv_left -= len;
                match self.streams.get_mut(&stream) {
                    Some(s) => {
                        if len > s.recv_left || s.remote_fin {
                            return Err(Fail::Protocol(
                                GoAwayReason::FlowControl,
                                format!("stream {stream}: data beyond its credit or after FIN"),
                            ));
                        }
                        s.recv_left -= len;
                    }
                    None => {
                        if !self.known(stream) {
                            return Err(Fail::Protocol(
                                GoAwayReason::Protocol,
                                format!("data on stream {stream}, never opened"),
                            ));
                        }
                    }
                }
                Ok(())
            }
            Event::Data { stream, bytes } => {
                self.deliver(stream, bytes);
                Ok(())
            }
            Event::Control(c) => {
                // Frames of a stream apply in order: its gathered payload
                // first.
                self.flush_wbuf();
                self.on_control(c)
            }
        }
    }

    /// Whether `id` was opened at some time (it may be gone now).
    fn known(&self, id: u32) -> bool {
        match &self.role {
            Role::Gateway { last_id, .. } => id <= *last_id,
            Role::Client { next_id, .. } => id < *next_id,
        }
    }

    /// Received payload for stream `id`: straight into its socket when it
    /// takes it, else queued.
    fn deliver(&mut self, id: u32, bytes: &[u8]) {
        let n = bytes.len() as u64;
        let Some(s) = self.streams.get_mut(&id) else {
            // A stream already closed: its data is dropped, and credited.
            self.forget(n);
            return;
        };
        if let Ext::Gateway(g) = &s.ext {
            // Counted as received: a cut in the middle of a write still
            // counts what may have crossed (and what the recording holds).
            g.opened.conn.bytes_up.fetch_add(n, Ordering::Relaxed);
        }
        let direct = s.accepted && !s.recorded() && s.sock.is_some();
        if direct {
            // Gathered into one write per stream and batch: a write per
            // TLS record (16 KiB) would wake the receiver that often. (If
            // the socket is backed up, the batch joins its queue whole.)
            if self.wbuf_stream != id {
                self.flush_wbuf();
                self.wbuf_stream = id;
            }
            self.wbuf.extend_from_slice(bytes);
            if self.wbuf.len() >= WRITE_BATCH {
                self.flush_wbuf();
            }
            return;
        }
        self.enqueue(id, bytes);
    }

    /// Copies `rest` into stream `id`'s queue (its socket is not taking it
    /// now, or the bytes wait for authorisation or the recording).
    fn enqueue(&mut self, id: u32, rest: &[u8]) {
        let Some(s) = self.streams.get_mut(&id) else {
            self.forget(rest.len() as u64);
            return;
        };
        let b = Bytes::copy_from_slice(rest);
        if s.recorded() {
            self.to_record.push((id, b.clone()));
        }
        s.queued += b.len();
        s.queue.push_back(b);
        if s.accepted && !s.recorded() {
            self.arm_write(id);
        }
    }

    /// Writes the gathered payload to its stream's socket; what it does not
    /// take goes to the stream's queue.
    fn flush_wbuf(&mut self) {
        if self.wbuf.is_empty() {
            return;
        }
        let id = self.wbuf_stream;
        let wbuf = std::mem::take(&mut self.wbuf);
        let backed_up = self.streams.get(&id).is_some_and(|s| !s.queue.is_empty());
        let sock = self.streams.get(&id).and_then(|s| s.sock.clone()).filter(|_| !backed_up);
        let attempt = match sock {
            Some(sock) => Some(sock.try_write(&wbuf)),
            // Behind what is queued, or its stream is gone.
            None => self.streams.contains_key(&id).then_some(Ok(0)),
        };
        let written = match attempt {
            Some(Ok(w)) => w,
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Some(Err(_)) => {
                self.close_stream(id, CloseReason::Target, Some(ResetReason::Closed));
                self.forget(wbuf.len() as u64);
                self.wbuf = recycle(wbuf);
                return;
            }
            None => {
                self.forget(wbuf.len() as u64);
                self.wbuf = recycle(wbuf);
                return;
            }
        };
        if let Some(s) = self.streams.get_mut(&id) {
            s.written += written as u64;
        }
        self.credit(id, written as u64);
        if written == wbuf.len() {
            self.wbuf = recycle(wbuf);
            return;
        }
        // The rest waits in the stream's queue: a large rest moves there
        // without a copy (the batch gets a new buffer), a small one is
        // copied (so that a queue of small pieces does not hold whole
        // batch buffers).
        let rest = wbuf.len() - written;
        if rest >= WRITE_BATCH / 4 {
            let b = Bytes::from(wbuf).slice(written..);
            if let Some(s) = self.streams.get_mut(&id) {
                s.queued += b.len();
                s.queue.push_back(b);
            }
            self.arm_write(id);
        } else {
            self.enqueue(id, wbuf.get(written..).unwrap_or_default());
            self.wbuf = recycle(wbuf);
        }
    }

    /// Writes queued bytes while the socket takes them; shuts down its
    /// write side once the peer's `FIN` came and the queue is empty.
    fn flush_queue(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        if !s.accepted {
            return;
        }
        let Some(sock) = s.sock.clone() else { return };
        let mut written = 0u64;
        let mut failed = false;
        while !s.queue.is_empty() {
            let slices: Vec<IoSlice<'_>> =
                s.queue.iter().take(16).map(|b| IoSlice::new(b)).collect();
            match sock.try_write_vectored(&slices) {
                Ok(mut w) => {
                    written += w as u64;
                    s.queued -= w;
                    while w > 0 {
                        let Some(front) = s.queue.front_mut() else { break };
                        if w >= front.len() {
                            w -= front.len();
                            s.queue.pop_front();
                        } else {
                            let _ = front.split_to(w);
                            w = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        s.written += written;
        if s.queue.is_empty() {
            s.queue = VecDeque::new();
        }
        let empty = s.queue.is_empty();
        self.credit(id, written);
        if failed {
            self.close_stream(id, CloseReason::Target, Some(ResetReason::Closed));
            return;
        }
        if !empty {
            self.arm_write(id);
            return;
        }
        self.maybe_shut_write(id);
    }

    fn maybe_shut_write(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        if s.accepted && s.remote_fin && s.queue.is_empty() && !s.write_shut {
            s.write_shut = true;
            if let Some(sock) = &s.sock {
                let _ = socket2::SockRef::from(sock.as_ref()).shutdown(Shutdown::Write);
            }
            s.first_end.get_or_insert(Ending::Remote);
        }
        self.maybe_done(id);
    }

    fn maybe_done(&mut self, id: u32) {
        let Some(s) = self.streams.get(&id) else { return };
        if !s.done() {
            return;
        }
        let reason = match s.first_end {
            Some(Ending::Local) => CloseReason::Target,
            _ => CloseReason::Client,
        };
        self.close_stream(id, reason, None);
    }

    /// A stream socket is readable: frames what it has, within credit. Bytes
    /// of a stream that is not recorded are read straight into the records
    /// that carry them ([`Outbox::read_frame`]); a recorded stream's are
    /// recorded first, then sealed.
    async fn on_readable(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        let Some(sock) = s.sock.clone() else { return };
        let recording = match &s.ext {
            Ext::Gateway(g) => g.opened.recording.clone(),
            _ => None,
        };
        let mut moved = 0usize;
        loop {
            let Some(s) = self.streams.get_mut(&id) else { return };
            let credit = s.send_credit.min(self.tunnel_send);
            if credit == 0 {
                s.stalled = true;
                return;
            }
            let want = (credit as usize).min(READ_CHUNK);
            // Frames queued before this data go first.
            if let Err(e) = self.seal_control() {
                self.broken.get_or_insert(e);
                return;
            }
            let r = if recording.is_some() {
                self.scratch.resize(want, 0);
                sock.try_read(&mut self.scratch)
            } else {
                self.outbox.read_frame(
                    &mut self.sealer,
                    mux::HEADER,
                    want,
                    |slots| sock.try_read_vectored(slots),
                    |n, dst| {
                        let mut h = [0u8; mux::HEADER];
                        mux::put_data_header(&mut h, id, n);
                        dst.copy_from_slice(&h);
                    },
                )
            };
            let Some(s) = self.streams.get_mut(&id) else { return };
            match r {
                Ok(0) => {
                    s.local_fin = true;
                    s.first_end.get_or_insert(Ending::Local);
                    mux::fin(&mut self.out, id);
                    self.maybe_done(id);
                    return;
                }
                Ok(n) => {
                    s.send_credit -= n as u64;
                    self.tunnel_send -= n as u64;
                    s.read += n as u64;
                    if let Ext::Gateway(g) = &s.ext {
                        g.opened.conn.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    if let Some(rec) = &recording {
                        let data =
                            Bytes::copy_from_slice(self.scratch.get(..n).unwrap_or_default());
                        let ok = match &self.gw {
                            Some(gw) => rec.record(Direction::Down, gw.now(), data).await.is_ok(),
                            None => true,
                        };
                        if !ok {
                            self.close_stream(
                                id,
                                CloseReason::RecordingFailed,
                                Some(ResetReason::Closed),
                            );
                            return;
                        }
                        let mut h = [0u8; mux::HEADER];
                        mux::put_data_header(&mut h, id, n);
                        self.out.extend_from_slice(&h);
                        self.out.extend_from_slice(self.scratch.get(..n).unwrap_or_default());
                    }
                    moved += n;
                    if moved >= BURST || self.outbox.len() + self.out.len() >= MAX_PENDING_OUT / 4 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.close_stream(id, CloseReason::Target, Some(ResetReason::Closed));
                    return;
                }
            }
        }
        self.arm_read(id);
    }

    /// Seals the control frames (and recorded data) queued in `out`.
    fn seal_control(&mut self) -> Result<(), String> {
        if !self.out.is_empty() {
            self.outbox.push(&mut self.sealer, &self.out).map_err(|e| e.to_string())?;
            self.out.clear();
            self.out = recycle(std::mem::take(&mut self.out));
        }
        Ok(())
    }

    /// Seals everything queued, the open record included.
    fn seal_all(&mut self) -> Result<(), String> {
        self.seal_control()?;
        self.outbox.close(&mut self.sealer).map_err(|e| e.to_string())
    }

    /// Records the payload received for recorded streams, then lets it go
    /// to the device; a failed recording closes its connection.
    async fn record_pending(&mut self) {
        if self.to_record.is_empty() {
            return;
        }
        let Some(gw) = self.gw.clone() else {
            self.to_record.clear();
            return;
        };
        let batch = std::mem::take(&mut self.to_record);
        let mut touched = Vec::new();
        for (id, data) in batch {
            let rec = match self.streams.get(&id).map(|s| &s.ext) {
                Some(Ext::Gateway(g)) => g.opened.recording.clone(),
                _ => None,
            };
            let Some(rec) = rec else { continue };
            if rec.record(Direction::Up, gw.now(), data).await.is_err() {
                self.close_stream(id, CloseReason::RecordingFailed, Some(ResetReason::Closed));
                continue;
            }
            if !touched.contains(&id) {
                touched.push(id);
            }
        }
        for id in touched {
            self.flush_queue(id);
        }
    }

    fn on_control(&mut self, c: Control<'_>) -> Result<(), Fail> {
        match c {
            Control::Window { stream: 0, increment } => {
                let was = self.tunnel_send;
                self.tunnel_send += u64::from(increment);
                if self.tunnel_send > u64::from(u32::MAX) * 4 {
                    return Err(Fail::Protocol(
                        GoAwayReason::FlowControl,
                        "credit overflow".into(),
                    ));
                }
                if was == 0 {
                    let stalled: Vec<u32> =
                        self.streams.iter().filter(|(_, s)| s.stalled).map(|(id, _)| *id).collect();
                    for id in stalled {
                        if let Some(s) = self.streams.get_mut(&id) {
                            s.stalled = false;
                        }
                        self.arm_read(id);
                    }
                }
            }
            Control::Window { stream, increment } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.send_credit += u64::from(increment);
                    if s.send_credit > u64::from(u32::MAX) * 4 {
                        return Err(Fail::Protocol(
                            GoAwayReason::FlowControl,
                            "credit overflow".into(),
                        ));
                    }
                    if s.stalled {
                        s.stalled = false;
                        self.arm_read(stream);
                    }
                } else if !self.known(stream) {
                    return Err(Fail::Protocol(
                        GoAwayReason::Protocol,
                        format!("WINDOW on stream {stream}, never opened"),
                    ));
                }
            }
            Control::Fin { stream } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    if s.remote_fin {
                        return Err(Fail::Protocol(
                            GoAwayReason::Protocol,
                            format!("second FIN on stream {stream}"),
                        ));
                    }
                    s.remote_fin = true;
                    self.maybe_shut_write(stream);
                } else if !self.known(stream) {
                    return Err(Fail::Protocol(
                        GoAwayReason::Protocol,
                        format!("FIN on stream {stream}, never opened"),
                    ));
                }
            }
            Control::Reset { stream, reason: _ } => {
                if self.streams.contains_key(&stream) {
                    let reason = match self.role {
                        Role::Gateway { .. } => CloseReason::Client,
                        Role::Client { .. } => CloseReason::Revoked,
                    };
                    self.close_stream(stream, reason, None);
                }
            }
            Control::GoAway { .. } => return Err(Fail::Closed),
            Control::Open { stream, request, port, first } => {
                self.on_open(stream, request, port, first)?
            }
            Control::Grant { stream, request } => self.on_grant(stream, request)?,
            Control::Accept { stream, body } => self.on_accept(stream, body)?,
            Control::Refuse { stream, code, message } => {
                let refusal = Refusal { code: RefusalCode::parse(code), message: message.into() };
                self.on_refuse(stream, refusal)?
            }
        }
        Ok(())
    }

    /// Gateway: a new stream ID from the client.
    fn new_id(&mut self, stream: u32) -> Result<(), Fail> {
        match &mut self.role {
            Role::Gateway { last_id, .. } if stream > *last_id => {
                *last_id = stream;
                Ok(())
            }
            Role::Gateway { .. } => Err(Fail::Protocol(
                GoAwayReason::Protocol,
                format!("stream {stream} opened out of order"),
            )),
            Role::Client { .. } => {
                Err(Fail::Protocol(GoAwayReason::Protocol, "the gateway opened a stream".into()))
            }
        }
    }

    fn on_open(
        &mut self,
        stream: u32,
        request: AccessRequestId,
        port: u16,
        first: &[u8],
    ) -> Result<(), Fail> {
        self.new_id(stream)?;
        let n = first.len() as u64;
        if n > self.tunnel_recv_left || n > u64::from(protocol::STREAM_WINDOW) {
            return Err(Fail::Protocol(
                GoAwayReason::FlowControl,
                "first bytes beyond credit".into(),
            ));
        }
        self.tunnel_recv_left -= n;
        if self.streams.len() >= self.max_streams {
            let r = Refusal::new(RefusalCode::TooManyConnections, self.lang);
            mux::refuse(&mut self.out, stream, r.code.as_str(), &r.message);
            self.forget(n);
            return Ok(());
        }
        let mut s = Stream::new(Ext::Pending);
        s.recv_left -= n;
        if !first.is_empty() {
            s.queued = first.len();
            s.queue.push_back(Bytes::copy_from_slice(first));
        }
        self.streams.insert(stream, s);
        if let Some(side) = self.gateway() {
            let gw = side.gw.clone();
            let ctx = side.ctx.clone();
            let peer = side.peer;
            self.opening.push(Box::pin(async move {
                (stream, gw.open_conn(ctx, request, port, peer).await)
            }));
        }
        Ok(())
    }

    fn on_grant(&mut self, stream: u32, request: AccessRequestId) -> Result<(), Fail> {
        self.new_id(stream)?;
        let lang = self.lang;
        let Role::Gateway { side, grants, .. } = &mut self.role else { return Ok(()) };
        if *grants >= MAX_PENDING_GRANTS {
            let r = Refusal::new(RefusalCode::TooManyConnections, lang);
            mux::refuse(&mut self.out, stream, r.code.as_str(), &r.message);
            return Ok(());
        }
        *grants += 1;
        let gw = side.gw.clone();
        let ctx = side.ctx.clone();
        let peer = side.peer;
        let Some(tx) = self.tx.clone() else { return Ok(()) };
        tokio::spawn(async move {
            let result = gw.answer_grant(&ctx, request, peer).await;
            let _ = tx.send(Msg::GrantAnswer { stream, result });
        });
        Ok(())
    }

    fn on_accept(&mut self, stream: u32, body: &[u8]) -> Result<(), Fail> {
        if let Role::Client { grants, .. } = &mut self.role
            && let Some(reply) = grants.remove(&stream)
        {
            let info =
                serde_json::from_slice(body).map_err(|e| ClientError::Protocol(e.to_string()));
            let _ = reply.send(info);
            return Ok(());
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            return if self.known(stream) {
                Ok(())
            } else {
                Err(Fail::Protocol(GoAwayReason::Protocol, format!("ACCEPT of stream {stream}")))
            };
        };
        if s.accepted || !matches!(s.ext, Ext::Client(_)) {
            return Err(Fail::Protocol(GoAwayReason::Protocol, "ACCEPT out of place".into()));
        }
        s.accepted = true;
        self.flush_queue(stream);
        Ok(())
    }

    fn on_refuse(&mut self, stream: u32, refusal: Refusal) -> Result<(), Fail> {
        if let Role::Client { grants, .. } = &mut self.role
            && let Some(reply) = grants.remove(&stream)
        {
            let _ = reply.send(Err(ClientError::Refused(refusal)));
            return Ok(());
        }
        let Some(mut s) = self.streams.remove(&stream) else {
            return if self.known(stream) {
                Ok(())
            } else {
                Err(Fail::Protocol(GoAwayReason::Protocol, format!("REFUSE of stream {stream}")))
            };
        };
        s.abort_all();
        self.forget(s.queued as u64);
        if let Ext::Client(ClientCarry { reply: Some(reply) }) = s.ext {
            let _ = reply.send(Err(ClientError::Refused(refusal)));
        }
        Ok(())
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::GrantAnswer { stream, result } => {
                if let Role::Gateway { grants, .. } = &mut self.role {
                    *grants = grants.saturating_sub(1);
                }
                match result {
                    Ok(body) => mux::accept(&mut self.out, stream, &body),
                    Err(code) => {
                        let r = Refusal::new(code, self.lang);
                        mux::refuse(&mut self.out, stream, r.code.as_str(), &r.message);
                    }
                }
            }
            Msg::Carry { request, port, local, reply } => {
                self.carry(request, port, local, reply);
            }
            Msg::Grant { request, reply } => {
                let Role::Client { next_id, grants } = &mut self.role else { return };
                let id = *next_id;
                *next_id += 1;
                grants.insert(id, reply);
                mux::grant(&mut self.out, id, request);
            }
        }
    }

    fn on_opened(&mut self, stream: u32, result: OpenResult) {
        let Some(s) = self.streams.get_mut(&stream) else {
            // The client gave up on it meanwhile.
            if let Ok(o) = result
                && let Some(side) = self.gateway()
            {
                side.gw.end_conn(o.0, CloseReason::Client);
            }
            return;
        };
        match result {
            Err(code) => {
                let queued = s.queued as u64;
                if let Some(mut s) = self.streams.remove(&stream) {
                    s.abort_all();
                }
                // The held first bytes are dropped.
                self.forget(queued);
                let r = Refusal::new(code, self.lang);
                mux::refuse(&mut self.out, stream, r.code.as_str(), &r.message);
            }
            Ok((o, tcp)) => {
                // What it held while authorising counts as received now.
                o.conn.bytes_up.fetch_add(s.queued as u64, Ordering::Relaxed);
                s.sock = Some(Arc::new(tcp));
                s.ext = Ext::Gateway(GwConn { opened: o });
                s.accepted = true;
                mux::accept(&mut self.out, stream, b"");
                if s.recorded() {
                    let held: Vec<Bytes> = s.queue.iter().cloned().collect();
                    for b in held {
                        self.to_record.push((stream, b));
                    }
                }
                self.arm_kill(stream);
                self.arm_read(stream);
                let s = self.streams.get(&stream);
                if s.is_some_and(|s| !s.recorded() || s.queue.is_empty()) {
                    self.flush_queue(stream);
                }
            }
        }
    }

    /// Client: opens a stream for `local`, with whatever it already sent.
    fn carry(&mut self, request: AccessRequestId, port: u16, local: TcpStream, reply: CarryReply) {
        let Role::Client { next_id, .. } = &mut self.role else { return };
        let id = *next_id;
        *next_id += 1;
        let mut s = Stream::new(Ext::Client(ClientCarry { reply: Some(reply) }));
        let mut first = vec![0u8; mux::MAX_OPEN_DATA];
        let mut local_fin = false;
        let n = match local.try_read(&mut first) {
            Ok(0) => {
                local_fin = true;
                0
            }
            Ok(n) => n,
            Err(_) => 0,
        };
        first.truncate(n);
        s.send_credit -= n as u64;
        self.tunnel_send = self.tunnel_send.saturating_sub(n as u64);
        s.read = n as u64;
        s.sock = Some(Arc::new(local));
        mux::open(&mut self.out, id, request, port, &first);
        if local_fin {
            s.local_fin = true;
            s.first_end = Some(Ending::Local);
            mux::fin(&mut self.out, id);
        }
        self.streams.insert(id, s);
        self.arm_read(id);
    }

    /// Ends stream `id`: tells the peer (`reset`), closes its socket, and
    /// hands the end to whoever waits for it.
    fn close_stream(&mut self, id: u32, reason: CloseReason, reset: Option<ResetReason>) {
        let Some(mut s) = self.streams.remove(&id) else { return };
        s.abort_all();
        if self.wbuf_stream == id && !self.wbuf.is_empty() {
            self.forget(self.wbuf.len() as u64);
            self.wbuf.clear();
        }
        if let Some(r) = reset {
            mux::reset(&mut self.out, id, r);
        }
        if let Some(sock) = &s.sock {
            let _ = socket2::SockRef::from(sock.as_ref()).shutdown(Shutdown::Both);
        }
        self.forget(s.queued as u64 + s.unacked);
        let clean = s.done();
        match s.ext {
            Ext::Pending => {}
            Ext::Gateway(g) => {
                if let Some(side) = self.gateway() {
                    let reason = g.opened.conn.kill.reason().unwrap_or(reason);
                    side.gw.end_conn(g.opened, reason);
                }
            }
            Ext::Client(ClientCarry { reply: Some(reply) }) => {
                let end = if clean {
                    CarryEnd::Closed
                } else {
                    match reason {
                        CloseReason::Target => {
                            CarryEnd::LocalError("the local connection failed".into())
                        }
                        _ => CarryEnd::CutByGateway,
                    }
                };
                if !s.accepted && !clean && matches!(end, CarryEnd::CutByGateway) {
                    let _ = reply.send(Err(ClientError::Protocol("the tunnel closed".into())));
                } else {
                    let _ = reply.send(Ok((end, s.read, s.written)));
                }
            }
            Ext::Client(ClientCarry { reply: None }) => {}
        }
    }
}

/// Keeps a buffer's allocation for reuse unless it grew past a burst.
fn recycle(mut buf: Vec<u8>) -> Vec<u8> {
    buf.clear();
    if buf.capacity() > 2 * BURST + 2 * WRITE_BATCH { Vec::new() } else { buf }
}
