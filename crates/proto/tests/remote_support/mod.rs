//! Test helper for the `remote_*` tests: reads the shared captures (pcap and
//! pcapng, Ethernet with optional VLAN tags), and gives back reassembled TCP
//! streams and UDP datagrams so each test can feed real bytes to a probe.
//!
//! Deliberately small and strict: it is test scaffolding for known-good
//! captures, not the sensor's decoder.
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

/// A capture under `testdata/pcaps/`.
pub fn capture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One end of a flow.
pub type End = (IpAddr, u16);

/// A decoded transport segment.
#[derive(Clone, Debug)]
pub struct Segment {
    pub src: End,
    pub dst: End,
    pub tcp: Option<(u32, u8)>,
    pub payload: Vec<u8>,
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn u16be(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}
fn u32be(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Link-layer frames of a pcap or pcapng file (Ethernet only).
pub fn frames(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let magic = u32::from_le_bytes(file[0..4].try_into().unwrap());
    if magic == 0x0a0d_0d0a {
        // pcapng, little-endian sections only (all shared captures are).
        let mut i = 0;
        while i + 12 <= file.len() {
            let ty = u32::from_le_bytes(file[i..i + 4].try_into().unwrap());
            let len = u32::from_le_bytes(file[i + 4..i + 8].try_into().unwrap()) as usize;
            if ty == 6 {
                let cap = u32::from_le_bytes(file[i + 20..i + 24].try_into().unwrap()) as usize;
                out.push(file[i + 28..i + 28 + cap].to_vec());
            } else if ty == 3 {
                let cap = u32::from_le_bytes(file[i + 8..i + 12].try_into().unwrap()) as usize;
                out.push(file[i + 12..i + 12 + cap.min(len - 16)].to_vec());
            }
            i += len;
        }
    } else {
        assert!(magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d, "little-endian pcap expected");
        let mut i = 24;
        while i + 16 <= file.len() {
            let cap = u32::from_le_bytes(file[i + 8..i + 12].try_into().unwrap()) as usize;
            out.push(file[i + 16..i + 16 + cap].to_vec());
            i += 16 + cap;
        }
    }
    out
}

/// Decodes Ethernet (VLAN), IPv4/IPv6, TCP/UDP. Non-IP or other transports: `None`.
pub fn decode(frame: &[u8]) -> Option<Segment> {
    let mut et = u16be(frame, 12);
    let mut off = 14;
    while et == 0x8100 || et == 0x88a8 {
        et = u16be(frame, off + 2);
        off += 4;
    }
    let ip = &frame[off..];
    let (src, dst, proto, l4) = match et {
        0x0800 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16be(ip, 2)).min(ip.len());
            let frag = u16be(ip, 6) & 0x3fff;
            if frag != 0 {
                return None;
            }
            let s: [u8; 4] = ip[12..16].try_into().unwrap();
            let d: [u8; 4] = ip[16..20].try_into().unwrap();
            (IpAddr::from(s), IpAddr::from(d), ip[9], &ip[ihl..total])
        }
        0x86dd => {
            let plen = usize::from(u16be(ip, 4));
            let s: [u8; 16] = ip[8..24].try_into().unwrap();
            let d: [u8; 16] = ip[24..40].try_into().unwrap();
            let mut next = ip[6];
            let mut rest = &ip[40..(40 + plen).min(ip.len())];
            while matches!(next, 0 | 43 | 60) {
                next = rest[0];
                let l = (usize::from(rest[1]) + 1) * 8;
                rest = &rest[l..];
            }
            (IpAddr::from(s), IpAddr::from(d), next, rest)
        }
        _ => return None,
    };
    match proto {
        6 => {
            let doff = usize::from(l4[12] >> 4) * 4;
            Some(Segment {
                src: (src, u16be(l4, 0)),
                dst: (dst, u16be(l4, 2)),
                tcp: Some((u32be(l4, 4), l4[13])),
                payload: l4[doff..].to_vec(),
            })
        }
        17 => Some(Segment {
            src: (src, u16be(l4, 0)),
            dst: (dst, u16be(l4, 2)),
            tcp: None,
            payload: l4[8..].to_vec(),
        }),
        _ => None,
    }
}

/// Every TCP/UDP segment of a capture, in file order.
pub fn segments(name: &str) -> Vec<Segment> {
    frames(&capture(name)).iter().filter_map(|f| decode(f)).collect()
}

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
            return; // before the start: a retransmission of a lost SYN era
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

/// UDP datagrams of a capture, in file order.
pub fn udp_datagrams(name: &str) -> Vec<Segment> {
    segments(name).into_iter().filter(|s| s.tcp.is_none()).collect()
}
