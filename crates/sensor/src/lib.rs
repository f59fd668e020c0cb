//! The passive sensor: packets in; flows, identified applications, an
//! inventory of devices and aggregated conversations out.
//!
//! - [`flow`]: the bidirectional flow table (direction by handshake,
//!   TCP state, idle and active timeouts, bounded memory with counted
//!   eviction).
//! - [`ident`]: feeds each flow's first bytes to the protocol probes of
//!   `sekimori_proto::identify` and keeps the app and facts they report.
//! - [`inventory`]: assets merged by MAC and IP, with names, vendor,
//!   product, version, protocols and a role guess.
//! - [`conversation`]: traffic per asset pair, service and time bucket.
//! - [`record`]: the flow records `sekimori analyze` prints.
//!
//! [`Analyzer`] ties them together for one analysis; [`analyze_files`]
//! runs it over capture files. Everything is driven by packet time, so a
//! capture analyses the same however fast it is read.
//!
//! Hot path: a packet is decoded without allocation
//! (`sekimori_proto::packet::decode`), its flow found with one hash
//! lookup, counted, and — only while a flow is being identified — its
//! payload shown to the probes. No per-packet allocation or formatting.

use std::path::Path;
use std::time::Duration;

use sekimori_capture::zeek::{ConnReader, ZeekError, ZeekProblem};
use sekimori_capture::{CaptureFile, ExternalFlow};
use sekimori_proto::App;
use sekimori_proto::packet::{Layer3, LinkType, NonIp, Packet, Transport};
use thiserror::Error;

pub mod conversation;
pub mod exports;
pub mod feed;
pub mod flow;
pub mod ident;
pub mod inventory;
pub mod oui;
pub mod parallel;
pub mod record;

pub use conversation::{Conversation, Conversations, Service};
pub use flow::{EndReason, FlowConfig, FlowKey, FlowTable, Timestamp};
pub use inventory::{Asset, Inventory};
pub use record::{FlowRecord, FlowUpdate, Mac};
pub use sekimori_capture::zeek::ZeekError as ConnLogError;
pub use sekimori_capture::{CaptureError, Problem};

use flow::{PacketMeta, proto};

/// What an analysis is run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Flow table limits and timeouts.
    pub flows: FlowConfig,
    /// Length of a conversation bucket.
    pub conversation_bucket: Duration,
    /// Show payloads to the protocol probes (off: flows and counters only).
    pub identify: bool,
    /// Flow-table workers for capture files ([`parallel`]; 1: all on the
    /// calling thread).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flows: FlowConfig::default(),
            conversation_bucket: Duration::from_secs(60),
            identify: true,
            threads: 1,
        }
    }
}

/// Why an analysis stopped early.
#[derive(Debug, Error)]
pub enum Error {
    /// A capture file could not be opened or read past some point; the
    /// error names the file and the byte offset.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A Zeek conn.log line could not be read; the error names the file,
    /// the line and the field.
    #[error(transparent)]
    ConnLog(#[from] ZeekError),
}

/// Counters of one analysis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Files read (completely or up to an error).
    pub files: u64,
    /// Frames read.
    pub packets: u64,
    /// Their frame (wire) bytes.
    pub bytes: u64,
    /// Frames the decoder rejected (counted, not in any flow).
    pub undecodable: u64,
    /// Frames skipped by the capture reader (unknown interface or link
    /// type).
    pub skipped: u64,
    /// Non-IP frames (ARP, LLDP, CDP, others).
    pub non_ip: u64,
    /// IP fragments.
    pub fragments: u64,
    /// Flow records imported from other sources (Zeek, NetFlow/IPFIX;
    /// those decoded from export datagrams in the packets included).
    pub imported_flows: u64,
    /// NetFlow/IPFIX export datagrams that did not decode (whole or in
    /// part).
    pub export_errors: u64,
    /// The flow table's counters (created, evicted, …).
    pub table: flow::TableStats,
}

/// The result of an analysis: what `sekimori analyze --format json`
/// prints (`flows`, `assets`, `alerts`), plus conversations and counters
/// for callers that want them.
#[derive(Debug, serde::Serialize)]
pub struct Analysis {
    /// Flow records, by first packet time, then endpoints.
    pub flows: Vec<FlowRecord>,
    /// Assets, by IP address (assets without one last).
    pub assets: Vec<Asset>,
    /// Alerts (the policy engine fills these; always empty here).
    pub alerts: Vec<serde_json::Value>,
    /// Conversations per asset pair, service and bucket.
    #[serde(skip)]
    pub conversations: Vec<Conversation>,
    #[serde(skip)]
    pub stats: Stats,
}

/// What an analysis tells a progress sink ([`Analyzer::on_progress`]).
#[derive(Debug)]
pub enum Progress<'a> {
    /// A flow counted bytes (about once a second of packet time while it
    /// carries traffic), or ended. Imported flow records (NetFlow, Zeek)
    /// arrive as one ended update each.
    Flow(&'a FlowUpdate<'a>),
    /// Time passed: the analysis reached this packet (or wall-clock) time.
    Tick(Timestamp),
}

/// Where progress goes: detections, typically.
pub type ProgressSink = Box<dyn FnMut(Progress<'_>) + Send>;

struct Sink(ProgressSink);

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// One analysis in progress: feed it frames, packets or flow records in
/// time order (per source), then [`Analyzer::finish`].
#[derive(Debug)]
pub struct Analyzer {
    identify: bool,
    table: FlowTable,
    inventory: Inventory,
    conversations: Conversations,
    flows: Vec<FlowRecord>,
    stats: Stats,
    next_sweep: Timestamp,
    /// Decoder of NetFlow/IPFIX export datagrams seen in the packets.
    exports: Option<Box<exports::Exports>>,
    /// Idle sweeps follow the packets (false: a [`parallel`] worker, swept
    /// by its reader).
    sweeps: bool,
    /// A [`parallel`] worker logs what would reach the inventory, tagged
    /// with the index of the current packet (`batch`).
    log: Option<Vec<parallel::Logged>>,
    batch: u64,
    /// Told of flow progress and time (detections).
    progress: Option<Sink>,
}

/// A transport header's part of the flow key: protocol, ports (0 without
/// ports) and, for ICMP, type and code.
#[inline]
pub(crate) fn transport_key(t: &Transport<'_>) -> (u8, u16, u16, [u8; 2]) {
    match *t {
        Transport::Tcp { sport, dport, .. } => (proto::TCP, sport, dport, [0, 0]),
        Transport::Udp { sport, dport, .. } => (proto::UDP, sport, dport, [0, 0]),
        Transport::Icmp { kind, code } => (proto::ICMP, 0, 0, [kind, code]),
        Transport::Icmpv6 { kind, code } => (proto::ICMPV6, 0, 0, [kind, code]),
        Transport::Other { protocol } => (protocol, 0, 0, [0, 0]),
    }
}

/// How often (in packet time) idle flows are looked for.
const SWEEP: Duration = Duration::from_secs(1);

/// Whether a packet at `ts` sweeps idle flows first: once a second of
/// packet time; when time jumps back (the next file is older), the sweeps
/// follow the new timeline.
#[inline]
pub(crate) fn sweep_due(next: &mut Timestamp, ts: Timestamp) -> bool {
    if ts >= *next || ts.plus(SWEEP * 2) < *next {
        *next = ts.plus(SWEEP);
        return true;
    }
    false
}

impl Analyzer {
    /// A new analysis.
    pub fn new(opts: &Options) -> Analyzer {
        Analyzer {
            identify: opts.identify,
            table: FlowTable::new(opts.flows.clone()),
            inventory: Inventory::new(),
            conversations: Conversations::new(opts.conversation_bucket),
            flows: Vec::new(),
            stats: Stats::default(),
            next_sweep: Timestamp(0),
            exports: None,
            sweeps: true,
            log: None,
            batch: 0,
            progress: None,
        }
    }

    /// Reports flow progress and time to `sink` from now on: each second
    /// of packet time, the bytes of every flow counted since the previous
    /// second, then a tick; each flow once more when it ends. Single
    /// thread only (a [`parallel`] analysis has no sink).
    pub fn on_progress(&mut self, sink: ProgressSink) {
        self.table.track_progress(true);
        self.progress = Some(Sink(sink));
    }

    /// Time passed without packets (a quiet interface, live): ends the
    /// flows idle at `now`, reports progress and a tick.
    pub fn advance(&mut self, now: Timestamp) {
        self.table.expire(now);
        self.report_progress(now);
        if !self.table.ended.is_empty() {
            self.drain_ended();
        }
    }

    fn report_progress(&mut self, now: Timestamp) {
        let Some(Sink(sink)) = self.progress.as_mut() else { return };
        self.table.take_progress(|key, flow, delta| {
            sink(Progress::Flow(&FlowUpdate::of(key, flow, delta, false)));
        });
        sink(Progress::Tick(now));
    }

    /// One captured frame of link type `link`, `wire_len` bytes long on the
    /// wire. A frame that does not decode is counted and skipped.
    #[inline]
    pub fn frame(&mut self, ts: Timestamp, link: LinkType, wire_len: u32, data: &[u8]) {
        self.tick(ts);
        match sekimori_proto::packet::decode(link, data) {
            Ok(p) => self.decoded(ts, wire_len, &p),
            Err(_) => {
                self.stats.packets += 1;
                self.stats.bytes += u64::from(wire_len);
                self.stats.undecodable += 1;
                // What the sweep ended leaves now (after a packet, it
                // leaves with what the packet ended).
                if !self.table.ended.is_empty() {
                    self.drain_ended();
                }
            }
        }
    }

    /// One decoded packet.
    #[inline]
    pub fn packet(&mut self, ts: Timestamp, wire_len: u32, pkt: &Packet<'_>) {
        self.tick(ts);
        self.decoded(ts, wire_len, pkt);
    }

    /// A frame at `ts`, whether it decodes or not: idle flows are swept
    /// once a second of packet time; when time jumps back (the next file
    /// is older), the sweeps follow the new timeline. (Every frame, so that
    /// a [`parallel`] reader places the sweeps from the record headers
    /// alone, before decoding.)
    #[inline]
    fn tick(&mut self, ts: Timestamp) {
        if self.sweeps && sweep_due(&mut self.next_sweep, ts) {
            self.table.expire(ts);
            if self.progress.is_some() {
                self.report_progress(ts);
            }
        }
    }

    /// One decoded packet, after its [`Analyzer::tick`].
    #[inline]
    fn decoded(&mut self, ts: Timestamp, wire_len: u32, pkt: &Packet<'_>) {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(wire_len);
        match &pkt.l3 {
            Layer3::Ip { ip, transport } => {
                let (protocol, sport, dport, icmp) = transport_key(transport);
                let (key, dir) = FlowKey::new(pkt.vlan, protocol, ip.src, sport, ip.dst, dport);
                let meta = PacketMeta {
                    wire_len,
                    tcp_flags: match transport {
                        Transport::Tcp { flags, .. } => Some(*flags),
                        _ => None,
                    },
                    fragment: ip.fragment,
                    src_mac: pkt.src_mac,
                    dst_group: pkt.dst_mac.is_some_and(|m| m[0] & 1 != 0),
                    icmp,
                };
                if ip.fragment {
                    self.stats.fragments += 1;
                }
                let found = self.table.lookup(&key, dir, ts, &meta);
                self.conversations.before_packet(&key, self.table.flow_mut(found.idx), ts);
                self.table.count(found, ts, &meta);
                if self.identify {
                    let flow = self.table.flow_mut(found.idx);
                    if !flow.ident_done() {
                        match *transport {
                            Transport::Tcp { seq, flags, payload, .. } => {
                                ident::tcp(flow, &key, dir, seq, flags, payload);
                            }
                            Transport::Udp { payload, .. } => ident::udp(flow, &key, dir, payload),
                            _ => {}
                        }
                    }
                    if let Transport::Udp { sport, payload, .. } = *transport
                        && exports::is_export(self.table.flow_mut(found.idx).app)
                    {
                        self.export_datagram(ts, std::net::SocketAddr::new(ip.src, sport), payload);
                    }
                }
            }
            Layer3::NonIp(n) => {
                self.stats.non_ip += 1;
                self.non_ip(ts, pkt.src_mac, n);
            }
        }
        if !self.table.ended.is_empty() {
            self.drain_ended();
        }
    }

    fn non_ip(&mut self, ts: Timestamp, src_mac: Option<[u8; 6]>, n: &NonIp<'_>) {
        let event = match *n {
            NonIp::Arp { sender_mac, sender_ip, .. } => {
                parallel::Event::Arp { mac: sender_mac, ip: sender_ip.into(), ts }
            }
            NonIp::Lldp(pdu) | NonIp::Cdp(pdu) if self.identify => {
                let Some(mac) = src_mac else { return };
                let Some((app, facts)) = ident::frame(mac, pdu) else { return };
                parallel::Event::Frame { mac, app, facts, ts }
            }
            _ => return,
        };
        if let Some(log) = &mut self.log {
            let (batch, seq) = (self.batch, log.len() as u32);
            log.push(parallel::Logged { batch, phase: 0, seq, event });
            return;
        }
        self.replay(event);
    }

    /// Applies what reaches the inventory: now (single-threaded), or
    /// when a [`parallel`] analysis replays its workers' logs.
    fn replay(&mut self, event: parallel::Event) {
        match event {
            parallel::Event::Ended(rec) | parallel::Event::Imported(rec) => {
                self.inventory.flow(&rec);
                self.flows.push(rec);
            }
            parallel::Event::Arp { mac, ip, ts } => self.inventory.arp(mac, ip, ts),
            parallel::Event::Frame { mac, app, facts, ts } => {
                self.inventory.frame(mac, app, &facts, ts);
            }
        }
    }

    fn drain_ended(&mut self) {
        let mut recs: Vec<FlowRecord> = std::mem::take(&mut self.table.ended)
            .into_iter()
            .map(|e| {
                let flow::Ended { key, mut flow, reason } = e;
                if let Some(Sink(sink)) = self.progress.as_mut() {
                    let delta = [
                        flow.bytes[0].saturating_sub(flow.reported[0]),
                        flow.bytes[1].saturating_sub(flow.reported[1]),
                    ];
                    let ended = reason != EndReason::ActiveTimeout;
                    sink(Progress::Flow(&FlowUpdate::of(&key, &flow, delta, ended)));
                }
                self.conversations.flush(&key, &mut flow);
                FlowRecord::from_flow(&key, flow, reason)
            })
            .collect();
        // Flows ending together reach the inventory in a fixed order
        // (not the table's internal one), so a parallel analysis can
        // reproduce it.
        if recs.len() > 1 {
            recs.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        }
        for rec in recs {
            if let Some(log) = &mut self.log {
                let (batch, seq) = (self.batch, 0);
                log.push(parallel::Logged {
                    batch,
                    phase: 1,
                    seq,
                    event: parallel::Event::Ended(rec),
                });
                continue;
            }
            self.inventory.flow(&rec);
            self.flows.push(rec);
        }
    }

    /// The flow records in a NetFlow/IPFIX export datagram of a UDP flow
    /// identified as one ([`exports`]).
    #[cold]
    fn export_datagram(&mut self, ts: Timestamp, exporter: std::net::SocketAddr, payload: &[u8]) {
        let ex = self.exports.get_or_insert_with(Box::default);
        let records = ex.decode(ts, exporter, payload);
        self.stats.export_errors = ex.errors;
        for (x, source) in &records {
            self.import(x, source);
        }
    }

    /// A flow measured elsewhere (Zeek `conn.log`, NetFlow/IPFIX): added
    /// to the flows, the inventory and the conversations as it is. Its
    /// bytes are what the source counted (IP bytes), its app is unknown
    /// (the source's service name becomes the `port_hint`).
    pub fn external_flow(&mut self, x: &ExternalFlow) {
        let source = match x.source {
            sekimori_capture::FlowSource::ZeekConn => "zeek",
            sekimori_capture::FlowSource::Netflow => "netflow",
        };
        self.import(x, source);
    }

    /// [`Analyzer::external_flow`] with the record's `source` named.
    fn import(&mut self, x: &ExternalFlow, source: &'static str) {
        let ts =
            |t: sekimori_capture::Timestamp| Timestamp(u64::try_from(t.as_nanos()).unwrap_or(0));
        let hint = x.app_hint.as_deref().and_then(|h| h.split(',').next()).and_then(|h| {
            App::from_name(h).map(App::as_str).or(match h {
                "ssl" => Some("tls"),
                _ => None,
            })
        });
        let rec = FlowRecord {
            src: x.src,
            dst: x.dst,
            sport: x.sport,
            dport: x.dport,
            transport: flow::transport_name(x.protocol),
            app: None,
            port_hint: hint.or_else(|| record::port_hint(x.protocol, x.dport)),
            packets_out: x.packets_out,
            packets_in: x.packets_in,
            bytes_out: x.bytes_out,
            bytes_in: x.bytes_in,
            first: ts(x.first),
            last: ts(x.last),
            vlan: None,
            vlan_inner: None,
            tcp_state: None,
            direction_guessed: false,
            fragments: 0,
            src_mac: x.src_mac.map(Mac),
            dst_mac: x.dst_mac.map(Mac),
            to_group_mac: false,
            end: EndReason::Imported,
            continued: false,
            source,
            facts: Vec::new(),
        };
        let service = Service::Port { transport: x.protocol, port: x.dport };
        let counts = conversation::Counts {
            packets_out: x.packets_out,
            packets_in: x.packets_in,
            bytes_out: x.bytes_out,
            bytes_in: x.bytes_in,
            flows: 1,
        };
        self.conversations.add_record(rec.src, rec.dst, service, rec.first, counts);
        self.stats.imported_flows += 1;
        if let Some(Sink(sink)) = self.progress.as_mut() {
            sink(Progress::Flow(&rec.as_update()));
        }
        if let Some(log) = &mut self.log {
            let (batch, seq) = (self.batch, log.len() as u32);
            log.push(parallel::Logged {
                batch,
                phase: 0,
                seq,
                event: parallel::Event::Imported(rec),
            });
            return;
        }
        self.inventory.flow(&rec);
        self.flows.push(rec);
    }

    /// Flows tracked now.
    pub fn live_flows(&self) -> usize {
        self.table.len()
    }

    /// Ends every open flow and builds the result.
    pub fn finish(mut self) -> Analysis {
        self.table.drain(EndReason::End);
        self.drain_ended();
        let linked = record::link_anyconnect(&mut self.flows);
        let assets = self.inventory.assets();
        let mut asset_of = std::collections::HashMap::new();
        for a in &assets {
            for ip in &a.ips {
                asset_of.insert(*ip, a.id.clone());
            }
        }
        let id = |ip| asset_of.get(&ip).cloned().unwrap_or_else(|| format!("ip:{ip}"));
        let mut conversations = self.conversations.into_sorted(id);
        let linked = linked.into_iter().map(|(c, s)| (id(c), id(s))).collect();
        record::relabel_conversations(&mut conversations, &linked);
        let mut flows = self.flows;
        flows.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut stats = self.stats;
        stats.table = self.table.stats;
        Analysis { flows, assets, alerts: Vec::new(), conversations, stats }
    }
}

/// An analysis and, if reading stopped early, why. Everything read before
/// the error is in `analysis`.
#[derive(Debug)]
pub struct Outcome {
    pub analysis: Analysis,
    pub error: Option<Error>,
}

/// Analyses capture files as one: packets are taken in file order and
/// within a file in the order recorded (not re-sorted by time), so flows
/// spanning files join up when the files follow each other in time.
/// Reading stops at the first file that cannot be read on; the result
/// holds everything read before.
///
/// A file that is not a pcap/pcapng capture is read as a Zeek `conn.log`
/// (TSV or JSON lines), whose records enter as flow records
/// ([`Analyzer::external_flow`]); other flow-record inputs (NetFlow/IPFIX
/// export captures) plug in the same way in `read_file`.
///
/// With `opts.threads` above 1, capture files are analysed by
/// [`parallel::analyze_files`], with the same result.
pub fn analyze_files<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Outcome {
    if opts.threads > 1 {
        return parallel::analyze_files(paths, opts);
    }
    analyze_serial(paths, opts)
}

/// [`analyze_files`] on the calling thread.
pub(crate) fn analyze_serial<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Outcome {
    let mut an = Analyzer::new(opts);
    let mut error = None;
    for p in paths {
        if let Err(e) = read_file(&mut an, p.as_ref()) {
            error = Some(e);
            break;
        }
    }
    Outcome { analysis: an.finish(), error }
}

/// [`analyze_files`] on the calling thread, with `sink` told of the flows'
/// progress and of time as the files are read ([`Analyzer::on_progress`]).
pub fn analyze_files_with_progress<P: AsRef<Path>>(
    paths: &[P],
    opts: &Options,
    sink: ProgressSink,
) -> Outcome {
    let mut an = Analyzer::new(opts);
    an.on_progress(sink);
    let mut error = None;
    for p in paths {
        if let Err(e) = read_file(&mut an, p.as_ref()) {
            error = Some(e);
            break;
        }
    }
    Outcome { analysis: an.finish(), error }
}

/// One file, for tests: the whole analysis, or the error.
pub fn analyze_file(path: impl AsRef<Path>, opts: &Options) -> Result<Analysis, Error> {
    let out = analyze_files(&[path], opts);
    match out.error {
        Some(e) => Err(e),
        None => Ok(out.analysis),
    }
}

/// Reads one input file into the analysis: a capture, else a conn.log.
fn read_file(an: &mut Analyzer, path: &Path) -> Result<(), Error> {
    match CaptureFile::open(path) {
        Ok(file) => read_capture(an, file),
        Err(e) if matches!(e.what, Problem::BadMagic(_)) => read_conn_log(an, path, e),
        Err(e) => Err(e.into()),
    }
}

/// Reads a pcap/pcapng file. Problems that concern one packet only (an
/// unknown interface) skip that packet; any other problem ends the file
/// with an error naming its offset.
fn read_capture(an: &mut Analyzer, mut file: CaptureFile) -> Result<(), Error> {
    an.stats.files += 1;
    loop {
        match file.next_packet() {
            Ok(Some(p)) => {
                let ts = Timestamp(u64::try_from(p.ts.as_nanos()).unwrap_or(0));
                an.frame(ts, p.link, p.origlen.max(p.caplen), p.data);
            }
            Ok(None) => return Ok(()),
            Err(e) if !e.what.is_fatal() => an.stats.skipped += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads a Zeek conn.log; stops at the first line that cannot be read. A
/// file that is neither (no conn.log header or JSON on its first line) is
/// reported as not being a capture.
fn read_conn_log(an: &mut Analyzer, path: &Path, not_capture: CaptureError) -> Result<(), Error> {
    let reader = ConnReader::open(path)?;
    an.stats.files += 1;
    let mut read = 0u64;
    for r in reader {
        match r {
            Ok(c) => {
                an.external_flow(&ExternalFlow::from(&c));
                read += 1;
            }
            Err(e)
                if read == 0
                    && matches!(e.what, ZeekProblem::NoFieldsHeader | ZeekProblem::Json(_)) =>
            {
                an.stats.files -= 1;
                return Err(not_capture.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
