//! Flow records: what `analyze` prints for each flow, and what the
//! inventory and the store consume.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use sekimori_proto::identify::{DATAGRAM, STREAM};
use sekimori_proto::{App, Fact, FactKey, Subject};
use serde::ser::{SerializeSeq, SerializeStruct};

use crate::conversation::{Conversation, Counts, Service};
use crate::flow::{EndReason, Flow, FlowKey, Timestamp, proto, transport_name};

/// A MAC address, printed `00:1b:21:0a:bc:de`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One flow (or one segment of a long flow) as printed. `src` is the
/// client; `out` counts what the client sent, `in` what the server sent.
///
/// Bytes are frame bytes: each packet's original (on-the-wire) length as
/// the capture records it, the quantity tshark's conversation tables and
/// nfpcapd-style tools count. (Flow records imported from NetFlow or Zeek
/// carry IP bytes instead: what those sources measure.)
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FlowRecord {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Client port (ICMP: the first packet's type).
    pub sport: u16,
    /// Server port (ICMP: the first packet's code).
    pub dport: u16,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `esp`, … ([`transport_name`]).
    pub transport: &'static str,
    /// The application a probe recognised from the payload (never from
    /// the port alone); `null` when none did.
    pub app: Option<App>,
    /// When `app` is null: the probe whose usual port the server port is
    /// (`"tls"` for 443) — a hint, not an identification.
    pub port_hint: Option<&'static str>,
    pub packets_out: u64,
    pub packets_in: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Outer 802.1Q VLAN ID.
    pub vlan: Option<u16>,
    /// Inner VLAN ID (QinQ).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan_inner: Option<u16>,
    /// TCP only (see [`Flow::tcp_state`]).
    pub tcp_state: Option<&'static str>,
    /// The client/server direction was guessed from ports (no handshake).
    pub direction_guessed: bool,
    /// IP fragments among the packets.
    pub fragments: u32,
    /// The client's MAC (the source MAC of its frames; a router's MAC
    /// when the client is beyond one).
    pub src_mac: Option<Mac>,
    /// The server's MAC, likewise.
    pub dst_mac: Option<Mac>,
    /// The first packet went to a broadcast or multicast MAC: the
    /// destination is a group (an IP directed broadcast), not a host.
    /// Used by the inventory; not printed.
    #[serde(skip)]
    pub to_group_mac: bool,
    /// Why this record was written.
    pub end: EndReason,
    /// Whether this record continues an earlier one of the same flow
    /// (active timeout).
    pub continued: bool,
    /// Where the record comes from: `packets` (flows this sensor tracked
    /// from the packets it read), `zeek` (a conn.log line), or the export
    /// format of a flow record another device measured (`netflow-v5`,
    /// `netflow-v9`, `ipfix`; from a collector, or decoded from export
    /// datagrams in a capture).
    pub source: &'static str,
    /// Identity facts from the payload.
    #[serde(serialize_with = "facts_out")]
    pub facts: Vec<Fact>,
}

/// A flow's progress, for detections that must not wait for the flow to
/// end (see [`crate::Analyzer::on_progress`]): who talks to whom over what,
/// and how many bytes each side sent since this flow's previous update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowUpdate<'a> {
    /// Stable for the flow record's life: a new id is a new flow.
    pub id: u64,
    /// The client.
    pub src: IpAddr,
    /// The server.
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// The identified application, once a probe said yes.
    pub app: Option<App>,
    /// Bytes the client sent since the previous update.
    pub bytes_out: u64,
    /// Bytes the server sent since the previous update.
    pub bytes_in: u64,
    /// The flow's first packet.
    pub first: Timestamp,
    /// The latest packet counted.
    pub last: Timestamp,
    /// The flow ended (not merely split by the active timeout).
    pub ended: bool,
    /// Identity facts the probes reported so far (names: SNI, Host, DNS).
    pub facts: &'a [Fact],
}

impl<'a> FlowUpdate<'a> {
    /// The update of `flow` with `delta` bytes sent by endpoints a, b.
    pub fn of(key: &FlowKey, flow: &'a Flow, delta: [u64; 2], ended: bool) -> FlowUpdate<'a> {
        let (c, s) = (flow.client(), flow.server());
        let p = key.protocol();
        let (sport, dport) = match p {
            proto::ICMP | proto::ICMPV6 => (u16::from(flow.icmp[0]), u16::from(flow.icmp[1])),
            _ => (key.port(c), key.port(s)),
        };
        let src = key.addr(c);
        let dst = key.addr(s);
        FlowUpdate {
            id: flow_id(flow.first, src, dst, sport, dport) ^ u64::from(p),
            src,
            dst,
            sport,
            dport,
            protocol: p,
            app: flow.app,
            bytes_out: delta.get(c).copied().unwrap_or(0),
            bytes_in: delta.get(s).copied().unwrap_or(0),
            first: flow.first,
            last: flow.last,
            ended,
            facts: &flow.facts,
        }
    }
}

impl FlowRecord {
    /// A whole record as one ended update (flows measured elsewhere).
    pub fn as_update(&self) -> FlowUpdate<'_> {
        // Another seed than the packets' flows: an imported record is never
        // a segment of one this sensor tracked.
        let h =
            flow_id(self.first, self.src, self.dst, self.sport, self.dport) ^ 0x51_7cc1_b727_220a;
        let protocol = match self.transport {
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            "icmp" => proto::ICMP,
            "icmpv6" => proto::ICMPV6,
            _ => 0,
        };
        FlowUpdate {
            id: h,
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            protocol,
            app: self.app,
            bytes_out: self.bytes_out,
            bytes_in: self.bytes_in,
            first: self.first,
            last: self.last,
            ended: true,
            facts: &self.facts,
        }
    }
}

/// A flow's identity for [`FlowUpdate::id`]: its endpoints and first packet.
fn flow_id(first: Timestamp, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> u64 {
    let mut h = first.0 ^ 0x9e37_79b9_7f4a_7c15;
    for part in [ip_bits(src), ip_bits(dst), (u64::from(sport) << 16) | u64::from(dport)] {
        h = (h ^ part).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }
    h
}

fn ip_bits(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => u64::from(u32::from(v)),
        IpAddr::V6(v) => {
            let b = u128::from(v);
            (b as u64) ^ ((b >> 64) as u64)
        }
    }
}

/// [`FlowRecord::source`] of the flows tracked from packets.
pub const SOURCE_PACKETS: &str = "packets";

impl FlowRecord {
    /// The record of a flow that left the table.
    pub fn from_flow(key: &FlowKey, flow: Flow, end: EndReason) -> FlowRecord {
        let (c, s) = (flow.client(), flow.server());
        let p = key.protocol();
        let (sport, dport) = match p {
            proto::ICMP | proto::ICMPV6 => (u16::from(flow.icmp[0]), u16::from(flow.icmp[1])),
            _ => (key.port(c), key.port(s)),
        };
        let [v0, v1] = key.vlan();
        FlowRecord {
            src: key.addr(c),
            dst: key.addr(s),
            sport,
            dport,
            transport: transport_name(p),
            app: flow.app,
            port_hint: if flow.app.is_none() { port_hint(p, dport) } else { None },
            packets_out: flow.packets[c],
            packets_in: flow.packets[s],
            bytes_out: flow.bytes[c],
            bytes_in: flow.bytes[s],
            first: flow.first,
            last: flow.last,
            vlan: (v0 != 0).then_some(v0),
            vlan_inner: (v1 != 0).then_some(v1),
            tcp_state: (p == proto::TCP).then(|| flow.tcp_state()),
            direction_guessed: flow.direction_guessed(),
            fragments: flow.fragments,
            src_mac: flow.mac(c).map(Mac),
            dst_mac: flow.mac(s).map(Mac),
            to_group_mac: flow.to_group_mac(),
            end,
            continued: flow.continued(),
            source: SOURCE_PACKETS,
            facts: flow.facts,
        }
    }

    /// Ordering for output: first time, then the endpoints and transport.
    pub fn sort_key(&self) -> impl Ord + '_ {
        (
            self.first,
            self.src,
            self.sport,
            self.dst,
            self.dport,
            self.transport,
            self.vlan,
            self.last,
        )
    }
}

/// Cisco AnyConnect's TLS channel. An AnyConnect session is a TLS
/// connection (CSTP: authentication, configuration, and the tunnel when
/// DTLS is blocked) plus a DTLS channel that the TLS channel negotiates,
/// from the same client to the same head-end address and port. Only the
/// DTLS side has a signature (Cisco's pre-standard DTLS version); the TLS
/// side is plain TLS to a web server certificate. So: a TCP flow
/// identified as TLS whose client address, server address and server port
/// are those of an AnyConnect DTLS flow is relabelled AnyConnect. A TLS
/// connection to the same head-end on another port stays TLS.
///
/// Applied to all the records at the end of an analysis (the DTLS channel
/// starts after the TLS one, which may have ended by then). Returns the
/// (client, server) address pairs that had a TLS flow relabelled.
pub fn link_anyconnect(flows: &mut [FlowRecord]) -> BTreeSet<(IpAddr, IpAddr)> {
    let dtls: BTreeSet<(IpAddr, IpAddr, u16)> = flows
        .iter()
        .filter(|f| f.app == Some(App::AnyConnect) && f.transport == "udp")
        .map(|f| (f.src, f.dst, f.dport))
        .collect();
    let mut linked = BTreeSet::new();
    if dtls.is_empty() {
        return linked;
    }
    for f in flows.iter_mut() {
        if f.app == Some(App::Tls)
            && f.transport == "tcp"
            && dtls.contains(&(f.src, f.dst, f.dport))
        {
            f.app = Some(App::AnyConnect);
            linked.insert((f.src, f.dst));
        }
    }
    linked
}

/// Moves the TLS conversation buckets of the asset pairs in `pairs` to
/// AnyConnect ([`link_anyconnect`]), merging them with the DTLS buckets of
/// the same minute, and restores the order of
/// [`crate::Conversations::into_sorted`].
pub fn relabel_conversations(convs: &mut Vec<Conversation>, pairs: &BTreeSet<(String, String)>) {
    if pairs.is_empty() {
        return;
    }
    let mut merged: BTreeMap<(Timestamp, String, String, Service), Counts> = BTreeMap::new();
    for c in convs.drain(..) {
        let pair = (c.client_asset, c.server_asset);
        let service = match c.service {
            Service::App(App::Tls) if pairs.contains(&pair) => Service::App(App::AnyConnect),
            s => s,
        };
        let m = merged.entry((c.start, pair.0, pair.1, service)).or_default();
        m.packets_out += c.counts.packets_out;
        m.packets_in += c.counts.packets_in;
        m.bytes_out += c.counts.bytes_out;
        m.bytes_in += c.counts.bytes_in;
        m.flows += c.counts.flows;
    }
    convs.extend(merged.into_iter().map(
        |((start, client_asset, server_asset, service), counts)| Conversation {
            client_asset,
            server_asset,
            service,
            start,
            counts,
        },
    ));
}

/// The probe usually found on `port` of `transport`, if any.
pub fn port_hint(transport: u8, port: u16) -> Option<&'static str> {
    match transport {
        proto::TCP => STREAM.iter().find(|p| p.ports.contains(&port)).map(|p| p.name),
        proto::UDP => DATAGRAM.iter().find(|p| p.ports.contains(&port)).map(|p| p.name),
        _ => None,
    }
}

/// How a fact's subject is printed: `about` is `client`, `server`, `mac`
/// or `ip`; the last two name the host in `subject`.
pub fn about(s: &Subject) -> (&'static str, Option<String>) {
    match s {
        Subject::Client => ("client", None),
        Subject::Server => ("server", None),
        Subject::Mac(m) => ("mac", Some(Mac(*m).to_string())),
        Subject::Ip(ip) => ("ip", Some(ip.to_string())),
    }
}

struct FactOut<'a>(&'a Fact);

impl serde::Serialize for FactOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (about, subject) = about(&self.0.subject);
        let mut st = s.serialize_struct("Fact", 4)?;
        st.serialize_field("key", &self.0.key)?;
        st.serialize_field("about", about)?;
        if let Some(subject) = subject {
            st.serialize_field("subject", &subject)?;
        } else {
            st.skip_field("subject")?;
        }
        st.serialize_field("value", &self.0.value)?;
        st.end()
    }
}

fn facts_out<S: serde::Serializer>(facts: &[Fact], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(facts.len()))?;
    for f in facts {
        seq.serialize_element(&FactOut(f))?;
    }
    seq.end()
}

/// A fact's key and value, for assets (whose subject is the asset).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct KeyValue {
    pub key: FactKey,
    pub value: String,
}
