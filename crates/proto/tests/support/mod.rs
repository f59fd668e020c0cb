//! The protocol tests' capture reader: `sekimori-capture` reads the shared
//! captures (pcap and pcapng, every link type it knows) and
//! `sekimori_proto::packet::decode` takes each frame down to TCP/UDP (or to
//! its link-layer PDU), so the probes are fed the bytes the sensor would
//! feed them. On top: TCP reassembly per connection and the first stream to
//! a port, for tests that want whole messages.
//!
//! Test-only code: panics on a capture that does not read.
#![allow(
    dead_code,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use sekimori_capture::CaptureFile;
use sekimori_proto::identify::Ctx;
use sekimori_proto::packet::{Layer3, LinkType, NonIp, Transport, decode};
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

/// A capture under `testdata/pcaps/`.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps").join(name)
}

/// One captured frame and its link type.
#[derive(Clone, Debug)]
pub struct Frame {
    pub link: LinkType,
    pub data: Vec<u8>,
}

/// Every frame of a capture, in file order.
pub fn frames(name: &str) -> Vec<Frame> {
    let p = path(name);
    let mut f = CaptureFile::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut out = Vec::new();
    while let Some(pkt) = f.next_packet().unwrap_or_else(|e| panic!("{e}")) {
        out.push(Frame { link: pkt.link, data: pkt.data.to_vec() });
    }
    out
}

/// One end of a flow.
pub type End = (IpAddr, u16);

/// A decoded TCP segment or UDP datagram.
#[derive(Clone, Debug)]
pub struct Segment {
    pub src: End,
    pub dst: End,
    pub src_mac: Option<[u8; 6]>,
    /// TCP: sequence number and flags; `None` for UDP.
    pub tcp: Option<(u32, u8)>,
    pub payload: Vec<u8>,
}

impl Segment {
    pub fn sport(&self) -> u16 {
        self.src.1
    }
    pub fn dport(&self) -> u16 {
        self.dst.1
    }
    pub fn is_tcp(&self) -> bool {
        self.tcp.is_some()
    }
}

/// A frame's TCP segment or UDP datagram (fragments skipped: their
/// transport header, if any, does not cover the payload).
pub fn segment(f: &Frame) -> Option<Segment> {
    let p = decode(f.link, &f.data).ok()?;
    let Layer3::Ip { ip, transport } = p.l3 else { return None };
    if ip.fragment {
        return None;
    }
    let (sport, dport, tcp, payload) = match transport {
        Transport::Tcp { sport, dport, seq, flags, payload, .. } => {
            (sport, dport, Some((seq, flags.0)), payload)
        }
        Transport::Udp { sport, dport, payload } => (sport, dport, None, payload),
        _ => return None,
    };
    Some(Segment {
        src: (ip.src, sport),
        dst: (ip.dst, dport),
        src_mac: p.src_mac,
        tcp,
        payload: payload.to_vec(),
    })
}

/// Every TCP/UDP segment of a capture, in file order.
pub fn segments(name: &str) -> Vec<Segment> {
    frames(name).iter().filter_map(segment).collect()
}

/// UDP datagrams of a capture, in file order.
pub fn udp_datagrams(name: &str) -> Vec<Segment> {
    segments(name).into_iter().filter(|s| !s.is_tcp()).collect()
}

/// The link-layer PDUs of a capture (LLDP, CDP): the sender's MAC, which
/// protocol (`"lldp"`, `"cdp"`), and the PDU.
pub fn link_pdus(name: &str) -> Vec<([u8; 6], &'static str, Vec<u8>)> {
    frames(name)
        .iter()
        .filter_map(|f| {
            let p = decode(f.link, &f.data).ok()?;
            let (kind, pdu) = match p.l3 {
                Layer3::NonIp(NonIp::Lldp(pdu)) => ("lldp", pdu),
                Layer3::NonIp(NonIp::Cdp(pdu)) => ("cdp", pdu),
                _ => return None,
            };
            Some((p.src_mac?, kind, pdu.to_vec()))
        })
        .collect()
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// A reassembled TCP connection: client (SYN sender, else first sender) and
/// server, and the in-order bytes each sent (up to the first gap).
#[derive(Clone, Debug)]
pub struct Stream {
    pub client: End,
    pub server: End,
    pub to_server: Vec<u8>,
    pub to_client: Vec<u8>,
}

#[derive(Default)]
struct Half {
    start: Option<u32>,
    segs: BTreeMap<u64, Vec<u8>>,
}

impl Half {
    fn add(&mut self, seq: u32, flags: u8, payload: &[u8]) {
        if flags & SYN != 0 {
            self.start = Some(seq.wrapping_add(1));
            return;
        }
        let start = *self.start.get_or_insert(seq);
        if payload.is_empty() {
            return;
        }
        let rel = u64::from(seq.wrapping_sub(start));
        if rel > 1 << 31 {
            return; // before the start: a retransmission from before the SYN
        }
        let e = self.segs.entry(rel).or_default();
        if payload.len() > e.len() {
            *e = payload.to_vec();
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        for (&rel, data) in &self.segs {
            let at = rel as usize;
            if at > out.len() {
                break;
            }
            let skip = out.len() - at;
            if skip < data.len() {
                out.extend_from_slice(&data[skip..]);
            }
        }
        out
    }
}

/// The TCP connections of a capture, in order of first packet.
pub fn tcp_streams(name: &str) -> Vec<Stream> {
    let mut order: Vec<(End, End)> = Vec::new();
    let mut halves: BTreeMap<(End, End), Half> = BTreeMap::new();
    let mut client_of: BTreeMap<(End, End), End> = BTreeMap::new();
    for s in segments(name) {
        let Some((seq, flags)) = s.tcp else { continue };
        let key = if s.src <= s.dst { (s.src, s.dst) } else { (s.dst, s.src) };
        let initial = flags & (SYN | ACK) == SYN;
        match client_of.entry(key) {
            std::collections::btree_map::Entry::Vacant(e) => {
                order.push(key);
                // A SYN-ACK's sender is the server; any other first packet's
                // sender is taken as the client.
                e.insert(if flags & SYN != 0 && !initial { s.dst } else { s.src });
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if initial {
                    e.insert(s.src);
                }
            }
        }
        halves.entry((s.src, s.dst)).or_default().add(seq, flags, &s.payload);
    }
    order
        .into_iter()
        .map(|key| {
            let client = client_of[&key];
            let server = if key.0 == client { key.1 } else { key.0 };
            let get = |a: End, b: End| halves.get(&(a, b)).map(Half::bytes).unwrap_or_default();
            Stream {
                client,
                server,
                to_server: get(client, server),
                to_client: get(server, client),
            }
        })
        .collect()
}

/// The bytes of the first TCP connection to `server_port` (client →
/// server, server → client).
pub fn first_stream_to(name: &str, server_port: u16) -> (Vec<u8>, Vec<u8>) {
    let s = tcp_streams(name)
        .into_iter()
        .find(|s| s.server.1 == server_port)
        .unwrap_or_else(|| panic!("{name}: no TCP connection to port {server_port}"));
    (s.to_server, s.to_client)
}

/// The bytes of the TCP connection between `client_port` and
/// `server_port` (client → server, server → client).
pub fn tcp_conversation(name: &str, client_port: u16, server_port: u16) -> (Vec<u8>, Vec<u8>) {
    let s = tcp_streams(name)
        .into_iter()
        .find(|s| s.client.1 == client_port && s.server.1 == server_port)
        .unwrap_or_else(|| panic!("{name}: no TCP connection {client_port} -> {server_port}"));
    (s.to_server, s.to_client)
}

/// The probe context of a reassembled stream.
pub fn ctx(s: &Stream) -> Ctx {
    Ctx { client_port: s.client.1, server_port: s.server.1 }
}

/// The parts of a `Yes`; panics on any other verdict.
pub fn yes(v: Verdict) -> (App, Vec<Fact>, bool) {
    match v {
        Verdict::Yes { app, facts, more } => (app, facts, more),
        other => panic!("expected Yes, got {other:?}"),
    }
}

/// The values of `key` facts about `subject`.
pub fn values(facts: &[Fact], subject: Subject, key: FactKey) -> Vec<&str> {
    facts
        .iter()
        .filter(|f| f.subject == subject && f.key == key)
        .map(|f| f.value.as_str())
        .collect()
}
