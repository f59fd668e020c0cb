//! The bidirectional flow table.
//!
//! A flow is keyed by its VLAN tags, its IP protocol and its two endpoints
//! (address and port), normalised so that both directions find the same
//! entry: endpoint `a` is the lower (address, port) pair, `b` the higher.
//! Counters are kept per endpoint (what `a` sent, what `b` sent); which of
//! the two is the client is a separate decision:
//!
//! - TCP: the sender of a SYN (without ACK) is the client, the sender of a
//!   SYN-ACK the server, whichever of the two is seen first. A flow picked
//!   up mid-stream is guessed: a service port against a non-service port,
//!   else the lower port, is the server; the flow is marked
//!   `direction_guessed`, and a handshake seen later overrides the guess.
//! - UDP: the first sender is the client, unless its source port is a
//!   service port and the destination port is not (a reply seen first);
//!   then the direction is flipped and marked guessed.
//! - ICMP and other protocols: the first sender is the client.
//!
//! Time is the packets' time (a capture replays hours in seconds): idle
//! timeouts per kind of flow, an active timeout that exports a long flow in
//! segments, and a bounded table that evicts the least recently seen flow
//! when full (counted). Expiry keeps one list per timeout class ordered by
//! when each flow was last moved to its tail; a flow is moved at most once
//! per second of packet time ([`RELINK`]), so the order is exact to a
//! second, and a list head that turns out to be still live is moved back
//! instead of expired.
//!
//! Memory: a tracked flow costs one [`Slot`] in a dense vector plus four
//! bytes and a control byte in the hash table (see
//! [`FlowTable::bytes_per_flow`]); payload buffers for identification live
//! behind a pointer that is empty except while identification runs.

use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use sekimori_proto::identify::{DATAGRAM, ProbeState, STREAM};
use sekimori_proto::packet::TcpFlags;
use sekimori_proto::{App, Fact, Subject};

use crate::conversation::ConvMark;
use crate::ident::Reassembly;

/// A packet's time: nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From seconds and nanoseconds since the epoch.
    pub const fn from_parts(secs: u64, nanos: u32) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos as u64))
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos(d)))
    }

    /// Nanoseconds from `earlier` to `self` (0 when `earlier` is later).
    pub const fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with fractional seconds: six digits, or nine when
    /// the time has sub-microsecond precision
    /// (`2013-05-14T21:07:54.518143Z`).
    pub fn rfc3339(self) -> String {
        let secs = i64::try_from(self.secs()).unwrap_or(i64::MAX);
        let sub = self.0 % 1_000_000_000;
        let t = time::OffsetDateTime::from_unix_timestamp(secs)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
        let (h, mi, s) = (t.hour(), t.minute(), t.second());
        if sub.is_multiple_of(1000) {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z", sub / 1000)
        } else {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{sub:09}Z")
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// IP protocol numbers the table treats specially.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// The stable name of an IP protocol in output (`"tcp"`, `"udp"`,
/// `"icmp"`, `"esp"`, …; `"ip-proto-N"` for the rest).
pub fn transport_name(p: u8) -> &'static str {
    match p {
        proto::ICMP => "icmp",
        2 => "igmp",
        proto::TCP => "tcp",
        proto::UDP => "udp",
        proto::GRE => "gre",
        proto::ESP => "esp",
        proto::AH => "ah",
        proto::ICMPV6 => "icmpv6",
        88 => "eigrp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        proto::SCTP => "sctp",
        _ => {
            // Made once, so naming a protocol never formats per packet.
            static NAMES: OnceLock<Vec<String>> = OnceLock::new();
            let names = NAMES.get_or_init(|| (0..=255).map(|n| format!("ip-proto-{n}")).collect());
            names.get(usize::from(p)).map_or("ip-proto", String::as_str)
        }
    }
}

/// Whether `port` is a service port: below 1024, or one a probe is hinted
/// by (DICOM 104/11112, HL7 2575, OpenVPN 1194, BACnet 47808, …), or a
/// common registered service port. Used only to orient flows whose
/// handshake was not seen.
pub fn is_service_port(port: u16) -> bool {
    static MAP: OnceLock<Box<[u64; 1024]>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        let mut m = Box::new([0u64; 1024]);
        let mut set = |p: u16| {
            if let Some(w) = m.get_mut(usize::from(p / 64)) {
                *w |= 1 << (p % 64);
            }
        };
        for p in 1..1024 {
            set(p);
        }
        for p in STREAM.iter().flat_map(|p| p.ports).chain(DATAGRAM.iter().flat_map(|p| p.ports)) {
            set(*p);
        }
        const MORE: &[u16] = &[
            1433, 1521, 1812, 1813, 2049, 3260, 3306, 3478, 5060, 5061, 5432, 5671, 5672, 6379,
            6514, 8883, 1883, 9200, 11211, 27017, 6343, 2404, 502, 20000, 44818, 47809,
        ];
        for p in MORE {
            set(*p);
        }
        m
    });
    map.get(usize::from(port / 64)).is_some_and(|w| w & (1 << (port % 64)) != 0)
}

/// A flow's identity: VLAN tags, IP protocol, and the two endpoints in
/// normalised order (`a` < `b` by address, then port).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    addr: [[u8; 16]; 2],
    port: [u16; 2],
    vlan: [u16; 2],
    proto: u8,
    v6: bool,
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}:{} <-> {}:{} vlan {:?}",
            transport_name(self.proto),
            self.addr(0),
            self.port(0),
            self.addr(1),
            self.port(1),
            self.vlan
        )
    }
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let [a, b] = self.addr;
        h.write_u128(u128::from_ne_bytes(a));
        h.write_u128(u128::from_ne_bytes(b));
        let [pa, pb] = self.port;
        let [v0, v1] = self.vlan;
        h.write_u64(
            u64::from(pa)
                | u64::from(pb) << 16
                | u64::from(v0) << 32
                | u64::from(v1 & 0x0fff) << 48
                | u64::from(self.proto) << 56
                | u64::from(self.v6) << 60,
        );
    }
}

fn addr_bytes(ip: IpAddr) -> ([u8; 16], bool) {
    match ip {
        IpAddr::V4(v4) => (v4.to_ipv6_mapped().octets(), false),
        IpAddr::V6(v6) => (v6.octets(), true),
    }
}

impl FlowKey {
    /// The key of a packet from `src:sport` to `dst:dport`, and which
    /// endpoint (0 = `a`, 1 = `b`) sent it.
    pub fn new(
        vlan: [u16; 2],
        proto: u8,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
    ) -> (FlowKey, usize) {
        let (s, v6) = addr_bytes(src);
        let (d, _) = addr_bytes(dst);
        // Big-endian numbers order as the bytes do (one compare, no memcmp).
        if (u128::from_be_bytes(s), sport) <= (u128::from_be_bytes(d), dport) {
            (FlowKey { addr: [s, d], port: [sport, dport], vlan, proto, v6 }, 0)
        } else {
            (FlowKey { addr: [d, s], port: [dport, sport], vlan, proto, v6 }, 1)
        }
    }

    /// Endpoint `i`'s address (0 = `a`, 1 = `b`).
    pub fn addr(&self, i: usize) -> IpAddr {
        let b = if i == 0 { self.addr[0] } else { self.addr[1] };
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            let v6 = Ipv6Addr::from(b);
            IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED))
        }
    }

    /// Endpoint `i`'s port (0 for protocols without ports).
    pub fn port(&self, i: usize) -> u16 {
        if i == 0 { self.port[0] } else { self.port[1] }
    }

    /// The IP protocol number.
    pub fn protocol(&self) -> u8 {
        self.proto
    }

    /// Outer and inner VLAN IDs (0 = none).
    pub fn vlan(&self) -> [u16; 2] {
        self.vlan
    }
}

/// Per-flow state bits.
mod bit {
    pub const SYN_A: u16 = 1 << 0; // SYN (no ACK) sent by a; << 1 for b
    pub const SYNACK_A: u16 = 1 << 2; // SYN-ACK sent by a; << 1 for b
    pub const FIN_A: u16 = 1 << 4; // FIN sent by a; << 1 for b
    pub const RST: u16 = 1 << 6;
    pub const ESTABLISHED: u16 = 1 << 7;
    pub const DECIDED: u16 = 1 << 8; // direction decided by a handshake packet
    pub const GUESSED: u16 = 1 << 9; // direction guessed from ports
    pub const MAC_A: u16 = 1 << 10; // a's MAC known; << 1 for b
    pub const IDENT_DONE: u16 = 1 << 12;
    pub const CONTINUED: u16 = 1 << 13; // a later segment of an active-timeout split
    pub const TO_GROUP: u16 = 1 << 14; // first packet sent to a group (broadcast/multicast) MAC
    pub const DIRTY: u16 = 1 << 15; // counted since its progress was last taken
}

/// How a flow's record came to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No packet for the idle timeout of its kind.
    Idle,
    /// Longer than the active timeout: this segment is written, the flow
    /// goes on in a new record.
    ActiveTimeout,
    /// The table was full and this was the least recently seen flow.
    Evicted,
    /// A new TCP handshake reused the ports of this closed connection.
    Reused,
    /// Still open when the input ended.
    End,
    /// A flow record imported from another source (Zeek, NetFlow).
    Imported,
}

/// One tracked flow. Counters are per endpoint of the key (`[a, b]`); the
/// client is [`Flow::client`].
#[derive(Debug, Default)]
pub struct Flow {
    /// First packet of this record (of this segment after an active
    /// timeout).
    pub first: Timestamp,
    /// Latest packet time seen.
    pub last: Timestamp,
    /// Packets sent by endpoint a, b.
    pub packets: [u64; 2],
    /// Frame (wire) bytes sent by endpoint a, b: the captured packet's
    /// original length, as tshark's conversation table counts.
    pub bytes: [u64; 2],
    /// Of `bytes`, what progress reports have already counted
    /// ([`FlowTable::take_progress`]).
    pub reported: [u64; 2],
    /// IP fragments among the packets.
    pub fragments: u32,
    flags: u16,
    client: u8,
    /// The protocol a probe said yes to (ESP by IP protocol).
    pub app: Option<App>,
    /// The identification dispatcher's state.
    pub probe: ProbeState,
    /// Datagrams each endpoint has shown the probes (UDP).
    pub datagrams: [u8; 2],
    /// Source MACs of endpoint a, b (valid where [`Flow::mac`] says so).
    macs: [[u8; 6]; 2],
    /// ICMP type and code of the first packet.
    pub icmp: [u8; 2],
    /// Payload prefixes while identification runs.
    pub(crate) ident: Option<Box<Reassembly>>,
    /// Identity facts from the probes (deduplicated, capped).
    pub facts: Vec<Fact>,
    pub(crate) conv: ConvMark,
}

/// Most steps back from a list's tail to link a flow at its place by time
/// (see `FlowTable::link_ordered`).
const MAX_LINK_WALK: u32 = 256;

/// Facts deduplicated by a linear scan; beyond, by hash.
const FACTS_SCANNED: usize = 64;
const FACT_HASH_SEED: u64 = 0x5e4b_1a0f_f4c7_5eed;

/// The most facts kept per flow.
pub const MAX_FACTS_PER_FLOW: usize = 64;
/// Most distinct facts kept on a flow of a protocol whose every datagram
/// names hosts (a broadcast DHCP flow carries every booting client).
pub const MAX_FACTS_PER_NAMING_FLOW: usize = 4_096;

impl Flow {
    /// Index (0 = a, 1 = b) of the client endpoint.
    pub fn client(&self) -> usize {
        usize::from(self.client)
    }

    /// Index of the server endpoint.
    pub fn server(&self) -> usize {
        1 - usize::from(self.client)
    }

    /// Whether the client/server direction is a guess from ports.
    pub fn direction_guessed(&self) -> bool {
        self.flags & bit::GUESSED != 0
    }

    /// Whether this record continues an earlier one (active timeout).
    pub fn continued(&self) -> bool {
        self.flags & bit::CONTINUED != 0
    }

    /// Endpoint `i`'s source MAC, if a frame from it carried one.
    pub fn mac(&self, i: usize) -> Option<[u8; 6]> {
        let i = i.min(1);
        (self.flags & (bit::MAC_A << i) != 0).then(|| self.macs[i])
    }

    /// Whether the flow's first packet went to a broadcast or multicast
    /// MAC (an IP directed broadcast such as 10.0.0.255 when its IP
    /// destination is unicast-looking).
    pub fn to_group_mac(&self) -> bool {
        self.flags & bit::TO_GROUP != 0
    }

    /// Whether identification has ended for this flow.
    pub fn ident_done(&self) -> bool {
        self.flags & bit::IDENT_DONE != 0
    }

    pub(crate) fn set_ident_done(&mut self) {
        self.flags |= bit::IDENT_DONE;
        self.ident = None;
    }

    /// The TCP state in words: `reset`, `closed` (FIN both ways),
    /// `closing` (FIN one way), `established`, `syn_ack` (handshake not
    /// completed), `syn_sent` (no answer), `midstream` (no handshake seen).
    pub fn tcp_state(&self) -> &'static str {
        let f = self.flags;
        let fins = f & (bit::FIN_A | bit::FIN_A << 1);
        if f & bit::RST != 0 {
            "reset"
        } else if fins == (bit::FIN_A | bit::FIN_A << 1) {
            "closed"
        } else if fins != 0 {
            "closing"
        } else if f & bit::ESTABLISHED != 0 {
            "established"
        } else if f & (bit::SYNACK_A | bit::SYNACK_A << 1) != 0 {
            "syn_ack"
        } else if f & (bit::SYN_A | bit::SYN_A << 1) != 0 {
            "syn_sent"
        } else {
            "midstream"
        }
    }

    fn tcp_closed(&self) -> bool {
        let f = self.flags;
        f & bit::RST != 0 || f & (bit::FIN_A | bit::FIN_A << 1) == (bit::FIN_A | bit::FIN_A << 1)
    }

    /// Adds facts, skipping ones already known, up to
    /// [`MAX_FACTS_PER_FLOW`].
    pub fn add_facts(&mut self, facts: impl IntoIterator<Item = Fact>) {
        let cap = if crate::ident::names_per_datagram(self.app) {
            MAX_FACTS_PER_NAMING_FLOW
        } else {
            MAX_FACTS_PER_FLOW
        };
        for f in facts {
            if self.facts.len() >= cap {
                break;
            }
            if self.facts.len() < FACTS_SCANNED {
                if !self.facts.contains(&f) {
                    self.facts.push(f);
                }
                continue;
            }
            // Many facts (a broadcast flow naming every client): a linear
            // scan per fact would be quadratic; dedupe by 64-bit hash (a
            // collision could drop one distinct fact: ~2^-40 at the cap).
            let (facts, ident) = (&mut self.facts, &mut self.ident);
            let r = ident.get_or_insert_with(Box::default);
            let hasher = foldhash::fast::FixedState::with_seed(FACT_HASH_SEED);
            if r.seen.is_empty() {
                r.seen.extend(facts.iter().map(|g| hasher.hash_one(g)));
            }
            if r.seen.insert(hasher.hash_one(&f)) {
                facts.push(f);
            }
        }
    }

    fn set_client(&mut self, client: usize, decided: bool) {
        let client = u8::from(client != 0);
        if client != self.client && self.packets != [0, 0] {
            // The handshake contradicts an earlier guess: what the probes
            // were told about client and server was backwards.
            self.probe = ProbeState::new();
            self.flags &= !bit::IDENT_DONE;
            for f in &mut self.facts {
                f.subject = match f.subject {
                    Subject::Client => Subject::Server,
                    Subject::Server => Subject::Client,
                    s => s,
                };
            }
        }
        self.client = client;
        if decided {
            self.flags = (self.flags | bit::DECIDED) & !bit::GUESSED;
        }
    }

    /// The timeout class of this flow.
    fn class(&self, proto: u8) -> Class {
        match proto {
            proto::TCP if self.flags & bit::ESTABLISHED != 0 && !self.tcp_closed() => {
                Class::TcpOpen
            }
            proto::TCP if self.tcp_state() == "midstream" => Class::TcpOpen,
            proto::TCP => Class::TcpOther,
            proto::UDP => Class::Udp,
            proto::ICMP | proto::ICMPV6 => Class::Icmp,
            _ => Class::Other,
        }
    }
}

/// What the table needs to know of a packet beyond its key.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketMeta {
    /// Frame (wire) length.
    pub wire_len: u32,
    /// TCP flags (TCP only).
    pub tcp_flags: Option<TcpFlags>,
    /// An IP fragment.
    pub fragment: bool,
    /// The source MAC, when the link layer carried one.
    pub src_mac: Option<[u8; 6]>,
    /// The destination MAC is a group (broadcast or multicast) address.
    pub dst_group: bool,
    /// ICMP type and code.
    pub icmp: [u8; 2],
}

/// Flow table limits and timeouts. Defaults follow Zeek where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most flows tracked at once; when full the least recently seen is
    /// written out and counted as evicted.
    pub max_flows: usize,
    /// Idle timeout of an established (or mid-stream) TCP connection.
    pub tcp_idle: Duration,
    /// Idle timeout of a TCP connection not (yet) established, or closed.
    pub tcp_closed_idle: Duration,
    /// Idle timeout of a UDP flow.
    pub udp_idle: Duration,
    /// Idle timeout of ICMP and ICMPv6.
    pub icmp_idle: Duration,
    /// Idle timeout of other IP protocols (ESP, GRE, …).
    pub other_idle: Duration,
    /// Flows longer than this are written out in segments.
    pub active_timeout: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 500_000,
            tcp_idle: Duration::from_secs(3600),
            tcp_closed_idle: Duration::from_secs(300),
            udp_idle: Duration::from_secs(60),
            icmp_idle: Duration::from_secs(30),
            other_idle: Duration::from_secs(60),
            active_timeout: Duration::from_secs(1800),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Class {
    TcpOpen = 0,
    TcpOther = 1,
    Udp = 2,
    Icmp = 3,
    Other = 4,
}

const CLASSES: usize = 5;
const FREE: u8 = u8::MAX;
const NIL: u32 = u32::MAX;
/// A flow is moved to the tail of its expiry list at most this often (in
/// packet time).
pub const RELINK: Duration = Duration::from_secs(1);

/// One entry of the dense flow vector.
#[derive(Debug)]
pub struct Slot {
    key: FlowKey,
    hash: u64,
    prev: u32,
    next: u32,
    /// When the flow was last moved to its list's tail.
    linked: Timestamp,
    class: u8,
    flow: Flow,
}

#[derive(Clone, Copy, Debug)]
struct Ends {
    head: u32,
    tail: u32,
}

/// A flow that left the table, with why.
#[derive(Debug)]
pub struct Ended {
    pub key: FlowKey,
    pub flow: Flow,
    pub reason: EndReason,
}

/// Where a packet's flow is in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The slot index, for [`FlowTable::flow_mut`] and [`FlowTable::count`].
    pub idx: u32,
    /// The sender endpoint (0 = a, 1 = b).
    pub dir: usize,
    /// The packet started this flow.
    pub new: bool,
}

/// Counters of the table's own events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableStats {
    /// Flows created.
    pub created: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
    /// Flows ended by an idle timeout.
    pub idle: u64,
    /// Segments written by the active timeout.
    pub active_splits: u64,
    /// Most flows tracked at once.
    pub peak: u64,
}

/// The flow table: a dense slot vector, a hash table of slot indices, and
/// one expiry list per timeout class threaded through the slots.
pub struct FlowTable {
    cfg: FlowConfig,
    timeouts: [u64; CLASSES],
    active: u64,
    slots: Vec<Slot>,
    free: u32,
    index: HashTable<u32>,
    hasher: RandomState,
    lists: [Ends; CLASSES],
    live: usize,
    /// Flows that left the table since the caller last drained this.
    pub ended: Vec<Ended>,
    /// Event counters.
    pub stats: TableStats,
    /// Whether counting marks flows for [`FlowTable::take_progress`].
    progress: bool,
    /// Slots counted since progress was last taken (may repeat, may be
    /// stale: the `DIRTY` flag decides).
    dirty: Vec<u32>,
}

impl fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowTable")
            .field("live", &self.live)
            .field("slots", &self.slots.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: FlowConfig) -> FlowTable {
        let timeouts = [
            nanos(cfg.tcp_idle),
            nanos(cfg.tcp_closed_idle),
            nanos(cfg.udp_idle),
            nanos(cfg.icmp_idle),
            nanos(cfg.other_idle),
        ];
        FlowTable {
            active: nanos(cfg.active_timeout),
            cfg,
            timeouts,
            slots: Vec::new(),
            free: NIL,
            index: HashTable::new(),
            hasher: RandomState::default(),
            lists: [Ends { head: NIL, tail: NIL }; CLASSES],
            live: 0,
            ended: Vec::new(),
            stats: TableStats::default(),
            progress: false,
            dirty: Vec::new(),
        }
    }

    /// Marks counted flows for [`FlowTable::take_progress`] (off by
    /// default: it costs a flag test per packet and a list of slots).
    pub fn track_progress(&mut self, on: bool) {
        self.progress = on;
    }

    /// Calls `f` for every live flow counted since the last call, with the
    /// bytes each endpoint (a, b) sent since then, and marks them reported.
    /// What a flow counted but never reported before it ended is
    /// `bytes - reported` of its [`Ended`] record.
    pub fn take_progress(&mut self, mut f: impl FnMut(&FlowKey, &Flow, [u64; 2])) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for idx in dirty.drain(..) {
            let Some(slot) = self.slots.get_mut(idx as usize) else { continue };
            let flow = &mut slot.flow;
            if slot.class == FREE || flow.flags & bit::DIRTY == 0 {
                continue;
            }
            flow.flags &= !bit::DIRTY;
            let delta = [
                flow.bytes[0].saturating_sub(flow.reported[0]),
                flow.bytes[1].saturating_sub(flow.reported[1]),
            ];
            flow.reported = flow.bytes;
            f(&slot.key, flow, delta);
        }
        self.dirty = dirty;
    }

    /// The table's configuration.
    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes one tracked flow costs in the table, without payload buffers
    /// and facts: its slot, plus the hash table's index entry and control
    /// byte at the table's worst load factor (7/8 full right after it
    /// doubled: ×16/7).
    pub const fn bytes_per_flow() -> usize {
        std::mem::size_of::<Slot>() + (std::mem::size_of::<u32>() + 1) * 16 / 7
    }

    /// The flow in slot `idx`.
    ///
    /// # Panics
    /// Never for an index from [`FlowTable::lookup`] of the current packet;
    /// other indices may panic.
    #[allow(clippy::indexing_slicing, reason = "indices come from lookup; a bad one is a bug")]
    pub fn flow_mut(&mut self, idx: u32) -> &mut Flow {
        &mut self.slots[idx as usize].flow
    }

    /// The key of slot `idx` (see [`FlowTable::flow_mut`]).
    #[allow(clippy::indexing_slicing, reason = "indices come from lookup; a bad one is a bug")]
    pub fn key(&self, idx: u32) -> &FlowKey {
        &self.slots[idx as usize].key
    }

    /// Finds the packet's flow or starts one (evicting the least recently
    /// seen flow when full, ending a closed TCP connection whose ports a
    /// new SYN reuses, and splitting a flow past the active timeout).
    /// Flows that end go to [`FlowTable::ended`]. The packet is not counted
    /// yet: call [`FlowTable::count`] after.
    pub fn lookup(&mut self, key: &FlowKey, dir: usize, ts: Timestamp, m: &PacketMeta) -> Found {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        if let Some(&idx) =
            self.index.find(hash, |&i| slots.get(i as usize).is_some_and(|s| s.key == *key))
        {
            let i = idx as usize;
            let Some(slot) = self.slots.get_mut(i) else {
                return self.insert(*key, hash, dir, ts, m);
            };
            let syn = m.tcp_flags.is_some_and(|f| f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK));
            if syn && slot.flow.tcp_closed() {
                self.remove(idx, EndReason::Reused);
                return self.insert(*key, hash, dir, ts, m);
            }
            if ts.since(slot.flow.first) >= self.active {
                let seg = split_segment(&mut slot.flow, ts);
                self.ended.push(Ended { key: *key, flow: seg, reason: EndReason::ActiveTimeout });
                self.stats.active_splits += 1;
            }
            return Found { idx, dir, new: false };
        }
        self.insert(*key, hash, dir, ts, m)
    }

    fn insert(
        &mut self,
        key: FlowKey,
        hash: u64,
        dir: usize,
        ts: Timestamp,
        m: &PacketMeta,
    ) -> Found {
        if self.live >= self.cfg.max_flows.max(1) {
            self.evict_one();
        }
        let mut flow = Flow { first: ts, last: ts, ..Flow::default() };
        orient_new(&mut flow, &key, dir, m);
        if m.dst_group {
            flow.flags |= bit::TO_GROUP;
        }
        if key.proto == proto::ESP {
            flow.app = Some(App::Esp);
            flow.flags |= bit::IDENT_DONE;
        } else if !matches!(key.proto, proto::TCP | proto::UDP) {
            flow.flags |= bit::IDENT_DONE;
        }
        let class = flow.class(key.proto) as u8;
        let slot = Slot { key, hash, prev: NIL, next: NIL, linked: ts, class, flow };
        let idx = if self.free != NIL {
            let idx = self.free;
            let Some(s) = self.slots.get_mut(idx as usize) else {
                self.free = NIL;
                return self.insert(key, hash, dir, ts, m);
            };
            self.free = s.next;
            *s = slot;
            idx
        } else {
            let idx = u32::try_from(self.slots.len()).unwrap_or(NIL - 1);
            self.slots.push(slot);
            idx
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, idx, |&i| slots.get(i as usize).map_or(0, |s| s.hash));
        self.link_ordered(idx, class, ts);
        self.live += 1;
        self.stats.created += 1;
        self.stats.peak = self.stats.peak.max(self.live as u64);
        Found { idx, dir, new: true }
    }

    /// Counts a packet into the flow found by [`FlowTable::lookup`]:
    /// packets, bytes, fragments, MACs and TCP state; keeps the flow in
    /// the right expiry list.
    pub fn count(&mut self, found: Found, ts: Timestamp, m: &PacketMeta) {
        let Some(slot) = self.slots.get_mut(found.idx as usize) else { return };
        let f = &mut slot.flow;
        let d = found.dir.min(1);
        if ts > f.last {
            f.last = ts;
        }
        f.packets[d] += 1;
        f.bytes[d] += u64::from(m.wire_len);
        if self.progress && f.flags & bit::DIRTY == 0 {
            f.flags |= bit::DIRTY;
            self.dirty.push(found.idx);
        }
        if m.fragment {
            f.fragments += 1;
        }
        if let Some(mac) = m.src_mac
            && f.flags & (bit::MAC_A << d) == 0
            && is_unicast_mac(mac)
        {
            f.macs[d] = mac;
            f.flags |= bit::MAC_A << d;
        }
        if let Some(fl) = m.tcp_flags {
            let was = f.flags;
            tcp_update(f, d, fl);
            // State changes (handshake, close) are rare: only then can the
            // timeout class change.
            if f.flags != was {
                let class = f.class(slot.key.proto) as u8;
                if class != slot.class {
                    self.unlink(found.idx);
                    self.link_ordered(found.idx, class, ts);
                    return;
                }
            }
        }
        self.touch(found.idx, ts);
    }

    /// Moves the flow to its list's tail if it has not been moved for
    /// [`RELINK`].
    fn touch(&mut self, idx: u32, ts: Timestamp) {
        let Some(s) = self.slots.get(idx as usize) else { return };
        if ts.since(s.linked) < nanos(RELINK) {
            return;
        }
        let class = s.class;
        self.unlink(idx);
        self.link_ordered(idx, class, ts);
    }

    /// Ends every flow idle for longer than its class's timeout at `now`.
    pub fn expire(&mut self, now: Timestamp) {
        for class in 0..CLASSES {
            let timeout = self.timeouts.get(class).copied().unwrap_or(u64::MAX);
            // Each head is either ended or moved behind fresher ones; bound
            // the moves so a sweep never loops over a whole list twice.
            let mut budget = self.live + 1;
            while budget > 0 {
                budget -= 1;
                let head = self.lists.get(class).map_or(NIL, |l| l.head);
                let Some(s) = self.slots.get(head as usize) else { break };
                if now.since(s.linked) < timeout {
                    break;
                }
                if now.since(s.flow.last) >= timeout {
                    self.stats.idle += 1;
                    self.remove(head, EndReason::Idle);
                } else {
                    // Seen since it was linked: move it to the tail.
                    let last = s.flow.last;
                    self.unlink(head);
                    self.link_ordered(head, class as u8, last);
                }
            }
        }
    }

    /// Ends every flow (the input is over).
    pub fn drain(&mut self, reason: EndReason) {
        for class in 0..CLASSES {
            loop {
                let head = self.lists.get(class).map_or(NIL, |l| l.head);
                if head == NIL {
                    break;
                }
                self.remove(head, reason);
            }
        }
    }

    /// Evicts the least recently seen flow.
    fn evict_one(&mut self) {
        // The oldest list head by link time; a head seen since it was
        // linked moves to its tail and the search repeats (bounded).
        for _ in 0..16 {
            let mut best: Option<(Timestamp, u32)> = None;
            for l in &self.lists {
                if let Some(s) = self.slots.get(l.head as usize)
                    && best.is_none_or(|(t, _)| s.linked < t)
                {
                    best = Some((s.linked, l.head));
                }
            }
            let Some((_, idx)) = best else { return };
            let Some(s) = self.slots.get(idx as usize) else { return };
            if s.flow.last.since(s.linked) < nanos(RELINK) {
                self.stats.evicted += 1;
                self.remove(idx, EndReason::Evicted);
                return;
            }
            let (class, last) = (s.class, s.flow.last);
            self.unlink(idx);
            self.link_ordered(idx, class, last);
        }
        // Give up on precision: evict the oldest head as it is.
        if let Some(idx) = self.lists.iter().map(|l| l.head).find(|&h| h != NIL) {
            self.stats.evicted += 1;
            self.remove(idx, EndReason::Evicted);
        }
    }

    fn remove(&mut self, idx: u32, reason: EndReason) {
        let Some(s) = self.slots.get(idx as usize) else { return };
        if s.class == FREE {
            return;
        }
        let hash = s.hash;
        if let Ok(e) = self.index.find_entry(hash, |&i| i == idx) {
            e.remove();
        }
        self.unlink(idx);
        let free = self.free;
        let Some(s) = self.slots.get_mut(idx as usize) else { return };
        let flow = std::mem::take(&mut s.flow);
        let key = s.key;
        s.class = FREE;
        s.next = free;
        s.prev = NIL;
        self.free = idx;
        self.live -= 1;
        self.ended.push(Ended { key, flow, reason });
    }

    /// Links `idx` into `class`'s list at its place by link time `linked`,
    /// so that every list stays sorted by link time, head oldest: that is
    /// what lets an idle sweep stop at the first head that is not due, and
    /// makes which flows a sweep ends independent of the other flows in the
    /// table. Packet time mostly moves forward, so the place is the tail
    /// itself almost always; a packet older than the newest links (time
    /// going back between files, reordered captures) walks back from the
    /// tail, at most [`MAX_LINK_WALK`] steps, and past that is linked there
    /// with its link time raised to its neighbour's (order kept; it can
    /// only make that flow end later, never earlier).
    fn link_ordered(&mut self, idx: u32, class: u8, linked: Timestamp) {
        let Some(list) = self.lists.get(class as usize) else { return };
        let mut after = list.tail;
        let mut linked = linked;
        let mut steps = 0;
        while let Some(s) = self.slots.get(after as usize) {
            if s.linked <= linked {
                break;
            }
            if steps == MAX_LINK_WALK {
                linked = s.linked;
                break;
            }
            steps += 1;
            after = s.prev;
        }
        let next = match self.slots.get(after as usize) {
            Some(a) => a.next,
            None => list.head,
        };
        match self.slots.get_mut(after as usize) {
            Some(a) => a.next = idx,
            None => {
                if let Some(l) = self.lists.get_mut(class as usize) {
                    l.head = idx;
                }
            }
        }
        match self.slots.get_mut(next as usize) {
            Some(n) => n.prev = idx,
            None => {
                if let Some(l) = self.lists.get_mut(class as usize) {
                    l.tail = idx;
                }
            }
        }
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.prev = after;
            s.next = next;
            s.class = class;
            s.linked = linked;
        }
    }

    fn unlink(&mut self, idx: u32) {
        let Some(s) = self.slots.get(idx as usize) else { return };
        let (prev, next, class) = (s.prev, s.next, s.class);
        match self.slots.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => {
                if let Some(l) = self.lists.get_mut(class as usize) {
                    l.head = next;
                }
            }
        }
        match self.slots.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => {
                if let Some(l) = self.lists.get_mut(class as usize) {
                    l.tail = prev;
                }
            }
        }
        if let Some(s) = self.slots.get_mut(idx as usize) {
            s.prev = NIL;
            s.next = NIL;
        }
    }
}

/// A unicast MAC that names one interface (not all-zero, not group).
pub fn is_unicast_mac(mac: [u8; 6]) -> bool {
    mac[0] & 1 == 0 && mac != [0; 6]
}

/// Decides the direction of a flow from its first packet.
fn orient_new(f: &mut Flow, key: &FlowKey, dir: usize, m: &PacketMeta) {
    let other = 1 - dir;
    let (sport, dport) = (key.port(dir), key.port(other));
    match key.proto {
        proto::TCP => {
            let fl = m.tcp_flags.unwrap_or_default();
            if fl.has(TcpFlags::SYN) && !fl.has(TcpFlags::ACK) {
                f.set_client(dir, true);
            } else if fl.has(TcpFlags::SYN) {
                f.set_client(other, true);
            } else {
                let server = match (is_service_port(sport), is_service_port(dport)) {
                    (true, false) => dir,
                    (false, true) => other,
                    _ if sport < dport => dir,
                    _ if dport < sport => other,
                    _ => other,
                };
                f.set_client(1 - server, false);
                f.flags |= bit::GUESSED;
            }
        }
        proto::UDP => {
            // Request/response port pairs where the server's port is the
            // higher one or both are service ports: DHCP (68 → 67) and
            // DHCPv6 (546 → 547).
            let reply = matches!((sport, dport), (67, 68) | (547, 546));
            if reply || (is_service_port(sport) && !is_service_port(dport)) {
                f.set_client(other, false);
                f.flags |= bit::GUESSED;
            } else {
                f.set_client(dir, false);
            }
        }
        _ => {
            f.set_client(dir, false);
            f.icmp = m.icmp;
        }
    }
}

fn tcp_update(f: &mut Flow, d: usize, fl: TcpFlags) {
    let syn = fl.has(TcpFlags::SYN);
    let ack = fl.has(TcpFlags::ACK);
    if syn && !ack {
        f.flags |= bit::SYN_A << d;
        if f.flags & bit::DECIDED == 0 {
            f.set_client(d, true);
        }
    } else if syn {
        f.flags |= bit::SYNACK_A << d;
        if f.flags & bit::DECIDED == 0 {
            f.set_client(1 - d, true);
        }
    } else if ack && d == f.client() && f.flags & (bit::SYNACK_A << f.server()) != 0 {
        f.flags |= bit::ESTABLISHED;
    }
    if fl.has(TcpFlags::FIN) {
        f.flags |= bit::FIN_A << d;
    }
    if fl.has(TcpFlags::RST) {
        f.flags |= bit::RST;
    }
}

/// Writes the flow's current segment out and starts a new one at `ts`,
/// keeping direction, TCP state, app and identification.
fn split_segment(f: &mut Flow, ts: Timestamp) -> Flow {
    let seg = Flow {
        first: f.first,
        last: f.last,
        packets: f.packets,
        bytes: f.bytes,
        reported: f.reported,
        fragments: f.fragments,
        flags: f.flags,
        client: f.client,
        app: f.app,
        probe: f.probe,
        datagrams: f.datagrams,
        macs: f.macs,
        icmp: f.icmp,
        ident: None,
        facts: std::mem::take(&mut f.facts),
        conv: f.conv.take_for_split(),
    };
    f.first = ts;
    f.last = ts;
    f.packets = [0, 0];
    f.bytes = [0, 0];
    f.reported = [0, 0];
    f.fragments = 0;
    f.flags |= bit::CONTINUED;
    seg
}

#[cfg(test)]
mod tests;
