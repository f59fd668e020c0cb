//! A small capture reader for the protocol tests: classic pcap and pcapng
//! (enhanced packet blocks), Ethernet (802.1Q, PPPoE session, LLC/SNAP),
//! IPv4/IPv6, UDP and TCP. Test-only code: panics on malformed captures.

#![allow(dead_code, clippy::indexing_slicing, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// A capture under `testdata/pcaps`.
pub fn capture(name: &str) -> Vec<Vec<u8>> {
    let path: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "..", "..", "testdata", "pcaps", name].iter().collect();
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    frames(&data)
}

fn u32_at(d: &[u8], off: usize, le: bool) -> u32 {
    let b = [d[off], d[off + 1], d[off + 2], d[off + 3]];
    if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }
}

/// The frames of a pcap or pcapng file (Ethernet link type assumed).
pub fn frames(d: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let magic = u32_at(d, 0, true);
    if magic == 0x0a0d_0d0a {
        let le = u32_at(d, 8, true) == 0x1a2b_3c4d;
        let mut off = 0;
        while off + 12 <= d.len() {
            let kind = u32_at(d, off, le);
            let len = u32_at(d, off + 4, le) as usize;
            if kind == 6 {
                let cap = u32_at(d, off + 20, le) as usize;
                out.push(d[off + 28..off + 28 + cap].to_vec());
            }
            off += len;
        }
    } else {
        let le = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
        let mut off = 24;
        while off + 16 <= d.len() {
            let cap = u32_at(d, off + 8, le) as usize;
            out.push(d[off + 16..off + 16 + cap].to_vec());
            off += 16 + cap;
        }
    }
    out
}

/// A decoded transport segment or datagram.
#[derive(Clone, Debug)]
pub struct Seg {
    pub src_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub tcp: bool,
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: u8,
    pub payload: Vec<u8>,
}

/// The link-layer payload of a frame that is not IP: (source MAC,
/// ethertype or 0 for LLC, payload after the Ethernet/LLC/SNAP header).
pub fn link_payload(f: &[u8]) -> (u16, [u8; 6], Vec<u8>) {
    let mut src = [0u8; 6];
    src.copy_from_slice(&f[6..12]);
    let et = u16::from_be_bytes([f[12], f[13]]);
    if et <= 1500 {
        // 802.3 + LLC (+ SNAP when dsap = 0xaa).
        if f[14] == 0xaa {
            return (0, src, f[22..].to_vec());
        }
        return (0, src, f[17..].to_vec());
    }
    (et, src, f[14..].to_vec())
}

/// Decodes an Ethernet frame down to UDP/TCP.
pub fn seg(f: &[u8]) -> Option<Seg> {
    let mut src_mac = [0u8; 6];
    src_mac.copy_from_slice(&f[6..12]);
    let mut off = 12;
    let mut et = u16::from_be_bytes([f[off], f[off + 1]]);
    off += 2;
    while et == 0x8100 || et == 0x88a8 {
        et = u16::from_be_bytes([f[off + 2], f[off + 3]]);
        off += 4;
    }
    if et == 0x8864 {
        // PPPoE session: 6-byte header, then the PPP protocol.
        let ppp = u16::from_be_bytes([f[off + 6], f[off + 7]]);
        off += 8;
        et = match ppp {
            0x0021 => 0x0800,
            0x0057 => 0x86dd,
            _ => return None,
        };
    }
    let (src, dst, proto, l4) = match et {
        0x0800 => {
            let ihl = usize::from(f[off] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([f[off + 2], f[off + 3]]));
            let src = Ipv4Addr::new(f[off + 12], f[off + 13], f[off + 14], f[off + 15]);
            let dst = Ipv4Addr::new(f[off + 16], f[off + 17], f[off + 18], f[off + 19]);
            let end = (off + total).min(f.len());
            (IpAddr::V4(src), IpAddr::V4(dst), f[off + 9], &f[off + ihl..end])
        }
        0x86dd => {
            let plen = usize::from(u16::from_be_bytes([f[off + 4], f[off + 5]]));
            let mut s = [0u8; 16];
            s.copy_from_slice(&f[off + 8..off + 24]);
            let mut d = [0u8; 16];
            d.copy_from_slice(&f[off + 24..off + 40]);
            let end = (off + 40 + plen).min(f.len());
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                f[off + 6],
                &f[off + 40..end],
            )
        }
        _ => return None,
    };
    let port = |i: usize| u16::from_be_bytes([l4[i], l4[i + 1]]);
    match proto {
        17 => Some(Seg {
            src_mac,
            src,
            dst,
            tcp: false,
            sport: port(0),
            dport: port(2),
            tcp_flags: 0,
            payload: l4[8..].to_vec(),
        }),
        6 => {
            let doff = usize::from(l4[12] >> 4) * 4;
            Some(Seg {
                src_mac,
                src,
                dst,
                tcp: true,
                sport: port(0),
                dport: port(2),
                tcp_flags: l4[13],
                payload: l4[doff..].to_vec(),
            })
        }
        _ => None,
    }
}

/// Every UDP/TCP segment of a capture.
pub fn segs(name: &str) -> Vec<Seg> {
    capture(name).iter().filter_map(|f| seg(f)).collect()
}

/// The two byte streams of the first TCP connection to `server_port`
/// (client → server, server → client), concatenated in capture order
/// (the test captures have no retransmissions or reordering).
pub fn tcp_streams(name: &str, server_port: u16) -> (Vec<u8>, Vec<u8>) {
    let mut c = Vec::new();
    let mut s = Vec::new();
    for g in segs(name).into_iter().filter(|g| g.tcp) {
        if g.dport == server_port {
            c.extend_from_slice(&g.payload);
        } else if g.sport == server_port {
            s.extend_from_slice(&g.payload);
        }
    }
    (c, s)
}

/// The two byte streams of the TCP connection between `client_port` and
/// `server_port` (client → server, server → client).
pub fn tcp_conversation(name: &str, client_port: u16, server_port: u16) -> (Vec<u8>, Vec<u8>) {
    let mut c = Vec::new();
    let mut s = Vec::new();
    for g in segs(name).into_iter().filter(|g| g.tcp) {
        if (g.sport, g.dport) == (client_port, server_port) {
            c.extend_from_slice(&g.payload);
        } else if (g.sport, g.dport) == (server_port, client_port) {
            s.extend_from_slice(&g.payload);
        }
    }
    (c, s)
}
