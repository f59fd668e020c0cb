//! Link layer to transport: one captured frame decoded into addresses,
//! ports and the transport payload, borrowing from the frame. This is the
//! sensor's hot path (every packet passes through it): no allocation, no
//! copies, every read bounded by the frame.
//!
//! What [`decode`] understands:
//! - link: Ethernet II, IEEE 802.3 + LLC (SNAP: CDP, RFC 1042), 802.1Q /
//!   802.1ad / QinQ tags (0x8100, 0x88a8, 0x9100; the first two VLAN IDs
//!   kept), PPPoE session (PPP IPv4/IPv6), MPLS label stacks, Linux cooked
//!   SLL and SLL2, raw IP, BSD null/loop (either byte order);
//! - non-IP: ARP (Ethernet/IPv4), LLDP, CDP;
//! - network: IPv4 (options, fragments), IPv6 with extension headers
//!   (hop-by-hop, routing, fragment, destination options, AH, mobility),
//!   one level of IP-in-IP tunnelling (6in4, 4in4, 4in6, 6in6: the inner
//!   packet is reported, the outer addresses in [`Packet::tunnel`]);
//! - transport: TCP, UDP, ICMP, ICMPv6 headers; the payload is bounded by
//!   the lengths the headers state, so Ethernet padding is never payload.
//!
//! Lengths: the IP header's length is trusted only up to the captured
//! bytes. A frame cut inside the payload (a snap length) decodes with
//! [`Ip::truncated`] set; a frame cut inside a header, or a header whose
//! fields contradict each other, is a [`DecodeError`] naming the layer, the
//! offset into the frame and what was wrong.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// A capture's link type (pcap LINKTYPE_* values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101) / LINKTYPE_IPV4 (228) / LINKTYPE_IPV6 (229):
    /// the frame starts with the IP header.
    RawIp,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// LINKTYPE_NULL (0) / LINKTYPE_LOOP (108): BSD loopback.
    Null,
}

impl LinkType {
    /// From a pcap/pcapng link type number; `None` for ones we do not decode.
    pub fn from_pcap(n: u32) -> Option<LinkType> {
        match n {
            0 | 108 => Some(LinkType::Null),
            1 => Some(LinkType::Ethernet),
            12 | 14 | 101 | 228 | 229 => Some(LinkType::RawIp),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }

    /// The pcap LINKTYPE_* number written for this link type (the first
    /// of the numbers that map to it).
    pub fn to_pcap(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
        }
    }
}

/// TCP flags as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// The transport layer of a decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &'a [u8],
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: &'a [u8],
    },
    Icmp {
        kind: u8,
        code: u8,
    },
    Icmpv6 {
        kind: u8,
        code: u8,
    },
    /// Any other IP protocol (ESP = 50, GRE = 47, …), and non-first
    /// fragments (whose ports are not in the packet).
    Other {
        protocol: u8,
    },
}

/// An IP packet's network layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IP protocol number of the transport (after IPv6 extension
    /// headers).
    pub protocol: u8,
    /// Bytes of the IP packet (header + payload) as the header states it.
    pub len: u32,
    /// A fragment (IPv4 MF or offset ≠ 0; IPv6 fragment header).
    pub fragment: bool,
    /// The frame ended before the length the IP header states (a snap
    /// length): the transport payload is cut short.
    pub truncated: bool,
}

/// The outer header of an IP-in-IP tunnel (6in4 = protocol 41, 4in4 = 4)
/// whose inner packet is the one reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// 4 (IPv4 inside) or 41 (IPv6 inside).
    pub protocol: u8,
}

/// What a frame carried when it was not IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonIp<'a> {
    /// ARP (the sensor learns IP↔MAC from it).
    Arp { sender_mac: [u8; 6], sender_ip: std::net::Ipv4Addr, target_ip: std::net::Ipv4Addr },
    /// LLDP (ethertype 0x88cc): the LLDPDU.
    Lldp(&'a [u8]),
    /// CDP (LLC SNAP, OUI 00000c, type 0x2000): the CDP PDU.
    Cdp(&'a [u8]),
    /// Anything else: the ethertype (or 0 for other LLC frames).
    Other { ethertype: u16 },
}

/// One decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    /// Outer and inner 802.1Q VLAN IDs (0 = none).
    pub vlan: [u16; 2],
    /// The outer header when the IP packet in `l3` arrived inside an
    /// IP-in-IP tunnel.
    pub tunnel: Option<Tunnel>,
    pub l3: Layer3<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer3<'a> {
    Ip { ip: Ip, transport: Transport<'a> },
    NonIp(NonIp<'a>),
}

/// Why a frame could not be decoded: the layer, the offset into the frame,
/// and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{layer} at frame offset {offset}: {what}")]
pub struct DecodeError {
    pub layer: &'static str,
    pub offset: usize,
    pub what: &'static str,
}

// Ethertypes.
const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_LLDP: u16 = 0x88cc;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MULTICAST: u16 = 0x8848;

// IP protocols.
const IP_HOPOPTS: u8 = 0;
const IP_ICMP: u8 = 1;
const IP_IPIP: u8 = 4;
const IP_TCP: u8 = 6;
const IP_UDP: u8 = 17;
const IP_IPV6: u8 = 41;
const IP_ROUTING: u8 = 43;
const IP_FRAGMENT: u8 = 44;
const IP_AH: u8 = 51;
const IP_ICMPV6: u8 = 58;
const IP_DSTOPTS: u8 = 60;
const IP_MOBILITY: u8 = 135;

/// VLAN tags walked before giving up (a frame can stack many; we keep two).
const MAX_VLAN_TAGS: usize = 8;
/// MPLS labels walked before giving up.
const MAX_MPLS_LABELS: usize = 8;
/// IPv6 extension headers walked before giving up.
const MAX_IPV6_EXT: usize = 8;

/// `N` bytes at `at`, or `None` past the end.
#[inline(always)]
fn arr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    let s = b.get(at..at.checked_add(N)?)?;
    <[u8; N]>::try_from(s).ok()
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    arr::<2>(b, at).map(u16::from_be_bytes)
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    arr::<4>(b, at).map(u32::from_be_bytes)
}

#[inline(always)]
fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

#[cold]
fn err(layer: &'static str, offset: usize, what: &'static str) -> DecodeError {
    DecodeError { layer, offset, what }
}

/// Decodes one captured frame of link type `link`.
///
/// Never panics and never allocates; the payloads in the answer borrow from
/// `frame`.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut pkt = Packet {
        src_mac: None,
        dst_mac: None,
        vlan: [0, 0],
        tunnel: None,
        l3: Layer3::NonIp(NonIp::Other { ethertype: 0 }),
    };
    match link {
        LinkType::Ethernet => ethernet(&mut pkt, frame)?,
        LinkType::RawIp => {
            let v = byte(frame, 0).ok_or_else(|| err("raw IP", 0, "empty frame"))? >> 4;
            let d = match v {
                4 => ipv4(frame, 0, 0)?,
                6 => ipv6(frame, 0, 0)?,
                _ => return Err(err("raw IP", 0, "IP version is neither 4 nor 6")),
            };
            (pkt.l3, pkt.tunnel) = d;
        }
        LinkType::LinuxSll => {
            let h: [u8; 16] =
                arr(frame, 0).ok_or_else(|| err("Linux SLL", 0, "header truncated (16 bytes)"))?;
            let [_, _, hw0, hw1, al0, al1, a0, a1, a2, a3, a4, a5, _, _, p0, p1] = h;
            if u16::from_be_bytes([hw0, hw1]) == 1 && u16::from_be_bytes([al0, al1]) == 6 {
                pkt.src_mac = Some([a0, a1, a2, a3, a4, a5]);
            }
            ethertype(&mut pkt, frame, 16, u16::from_be_bytes([p0, p1]), frame.len())?;
        }
        LinkType::LinuxSll2 => {
            let h: [u8; 20] =
                arr(frame, 0).ok_or_else(|| err("Linux SLL2", 0, "header truncated (20 bytes)"))?;
            let [p0, p1, _, _, _, _, _, _, hw0, hw1, _, al, a0, a1, a2, a3, a4, a5, _, _] = h;
            if u16::from_be_bytes([hw0, hw1]) == 1 && al == 6 {
                pkt.src_mac = Some([a0, a1, a2, a3, a4, a5]);
            }
            ethertype(&mut pkt, frame, 20, u16::from_be_bytes([p0, p1]), frame.len())?;
        }
        LinkType::Null => {
            let h: [u8; 4] = arr(frame, 0)
                .ok_or_else(|| err("null/loopback", 0, "header truncated (4 bytes)"))?;
            // The address family in the writer's byte order (LINKTYPE_NULL)
            // or network order (LINKTYPE_LOOP): families are small numbers.
            let le = u32::from_le_bytes(h);
            let family = if le > 0xffff { le.swap_bytes() } else { le };
            (pkt.l3, pkt.tunnel) = match family {
                2 => ipv4(frame, 4, 0)?,
                10 | 24 | 28 | 30 => ipv6(frame, 4, 0)?,
                _ => (Layer3::NonIp(NonIp::Other { ethertype: 0 }), None),
            };
        }
    }
    Ok(pkt)
}

/// Ethernet II / 802.3 header, VLAN tags, then the ethertype's payload.
#[inline]
fn ethernet<'a>(pkt: &mut Packet<'a>, f: &'a [u8]) -> Result<(), DecodeError> {
    let h: [u8; 14] = arr(f, 0).ok_or_else(|| err("Ethernet", 0, "header truncated (14 bytes)"))?;
    let [d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5, t0, t1] = h;
    pkt.dst_mac = Some([d0, d1, d2, d3, d4, d5]);
    pkt.src_mac = Some([s0, s1, s2, s3, s4, s5]);
    let mut ty = u16::from_be_bytes([t0, t1]);
    let mut off = 14;
    let mut tags = 0;
    while matches!(ty, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
        if tags == MAX_VLAN_TAGS {
            return Err(err("802.1Q", off, "more than 8 VLAN tags"));
        }
        let tci = be16(f, off).ok_or_else(|| err("802.1Q", off, "tag truncated (4 bytes)"))?;
        ty = be16(f, off + 2).ok_or_else(|| err("802.1Q", off, "tag truncated (4 bytes)"))?;
        if let Some(slot) = pkt.vlan.get_mut(tags) {
            *slot = tci & 0x0fff;
        }
        tags += 1;
        off += 4;
    }
    if ty < 0x0600 {
        // IEEE 802.3: a length, then LLC.
        let end = off.saturating_add(usize::from(ty)).min(f.len());
        return llc(pkt, f, off, end);
    }
    ethertype(pkt, f, off, ty, f.len())
}

/// IEEE 802.2 LLC (and SNAP) in `f[off..end]`.
fn llc<'a>(pkt: &mut Packet<'a>, f: &'a [u8], off: usize, end: usize) -> Result<(), DecodeError> {
    let h: [u8; 3] = arr(f, off).ok_or_else(|| err("LLC", off, "header truncated (3 bytes)"))?;
    if h != [0xaa, 0xaa, 0x03] {
        pkt.l3 = Layer3::NonIp(NonIp::Other { ethertype: 0 });
        return Ok(());
    }
    let s: [u8; 5] =
        arr(f, off + 3).ok_or_else(|| err("SNAP", off + 3, "header truncated (5 bytes)"))?;
    let [o0, o1, o2, p0, p1] = s;
    let pid = u16::from_be_bytes([p0, p1]);
    let body = off + 8;
    match ([o0, o1, o2], pid) {
        ([0x00, 0x00, 0x0c], 0x2000) => {
            let pdu = f
                .get(body..end)
                .ok_or_else(|| err("CDP", body, "802.3 length shorter than the SNAP header"))?;
            pkt.l3 = Layer3::NonIp(NonIp::Cdp(pdu));
            Ok(())
        }
        // RFC 1042: an ethertype in SNAP.
        ([0x00, 0x00, 0x00], ty) if ty >= 0x0600 => ethertype(pkt, f, body, ty, end),
        _ => {
            pkt.l3 = Layer3::NonIp(NonIp::Other { ethertype: 0 });
            Ok(())
        }
    }
}

/// The payload of ethertype `ty` at `f[off..end]`.
#[inline]
fn ethertype<'a>(
    pkt: &mut Packet<'a>,
    f: &'a [u8],
    off: usize,
    ty: u16,
    end: usize,
) -> Result<(), DecodeError> {
    let f = f.get(..end).unwrap_or(f);
    (pkt.l3, pkt.tunnel) = match ty {
        ETH_IPV4 => ipv4(f, off, 0)?,
        ETH_IPV6 => ipv6(f, off, 0)?,
        ETH_ARP => (arp(f, off)?, None),
        ETH_LLDP => (Layer3::NonIp(NonIp::Lldp(f.get(off..).unwrap_or(&[]))), None),
        ETH_PPPOE_SESSION => pppoe(f, off)?,
        ETH_MPLS | ETH_MPLS_MULTICAST => mpls(f, off, ty)?,
        // Linux SLL: 802.2 LLC frames carry protocol 4.
        0x0004 => return llc(pkt, f, off, f.len()),
        _ => (Layer3::NonIp(NonIp::Other { ethertype: ty }), None),
    };
    Ok(())
}

fn arp(f: &[u8], off: usize) -> Result<Layer3<'_>, DecodeError> {
    let h: [u8; 8] = arr(f, off).ok_or_else(|| err("ARP", off, "header truncated (8 bytes)"))?;
    let [hw0, hw1, pr0, pr1, hlen, plen, _, _] = h;
    if u16::from_be_bytes([hw0, hw1]) != 1
        || u16::from_be_bytes([pr0, pr1]) != ETH_IPV4
        || hlen != 6
        || plen != 4
    {
        return Ok(Layer3::NonIp(NonIp::Other { ethertype: ETH_ARP }));
    }
    let b: [u8; 20] =
        arr(f, off + 8).ok_or_else(|| err("ARP", off + 8, "addresses truncated (20 bytes)"))?;
    let [m0, m1, m2, m3, m4, m5, s0, s1, s2, s3, _, _, _, _, _, _, t0, t1, t2, t3] = b;
    Ok(Layer3::NonIp(NonIp::Arp {
        sender_mac: [m0, m1, m2, m3, m4, m5],
        sender_ip: Ipv4Addr::new(s0, s1, s2, s3),
        target_ip: Ipv4Addr::new(t0, t1, t2, t3),
    }))
}

/// PPPoE session stage (RFC 2516) carrying PPP.
fn pppoe(f: &[u8], off: usize) -> Result<Decoded<'_>, DecodeError> {
    let h: [u8; 8] = arr(f, off)
        .ok_or_else(|| err("PPPoE", off, "header truncated (6 bytes + PPP protocol)"))?;
    let [vt, code, _, _, l0, l1, p0, p1] = h;
    if vt != 0x11 || code != 0 {
        return Err(err("PPPoE", off, "not a version 1 type 1 session packet"));
    }
    // The PPPoE length covers the PPP protocol field and its payload.
    let end = (off + 6).saturating_add(usize::from(u16::from_be_bytes([l0, l1]))).min(f.len());
    let f = f.get(..end).unwrap_or(f);
    match u16::from_be_bytes([p0, p1]) {
        0x0021 => ipv4(f, off + 8, 0),
        0x0057 => ipv6(f, off + 8, 0),
        _ => Ok((Layer3::NonIp(NonIp::Other { ethertype: ETH_PPPOE_SESSION }), None)),
    }
}

/// An MPLS label stack, then IP if the first nibble says so.
fn mpls(f: &[u8], mut off: usize, ty: u16) -> Result<Decoded<'_>, DecodeError> {
    for _ in 0..MAX_MPLS_LABELS {
        let label = be32(f, off).ok_or_else(|| err("MPLS", off, "label truncated (4 bytes)"))?;
        off += 4;
        if label & 0x100 != 0 {
            return match byte(f, off).map(|b| b >> 4) {
                Some(4) => ipv4(f, off, 0),
                Some(6) => ipv6(f, off, 0),
                _ => Ok((Layer3::NonIp(NonIp::Other { ethertype: ty }), None)),
            };
        }
    }
    Err(err("MPLS", off, "more than 8 labels"))
}

/// A decoded network layer and, when it came out of an IP-in-IP tunnel,
/// the outer header.
type Decoded<'a> = (Layer3<'a>, Option<Tunnel>);

/// An IP packet's addresses, protocol, stated length, and where its
/// transport starts and ends in the frame.
struct IpHead {
    ip: Ip,
    /// Start of the IP header.
    start: usize,
    /// Start of the transport header.
    l4: usize,
    /// End of the IP packet in the frame (stated length bounded by the
    /// captured bytes).
    end: usize,
    /// Not the first fragment: no transport header here.
    later_fragment: bool,
}

/// IPv4 at `f[off..]`. `depth` is 1 inside a tunnel (no further
/// decapsulation).
fn ipv4(f: &[u8], off: usize, depth: u8) -> Result<Decoded<'_>, DecodeError> {
    let h: [u8; 20] = arr(f, off).ok_or_else(|| err("IPv4", off, "header truncated (20 bytes)"))?;
    let [vihl, _, l0, l1, _, _, fl0, fl1, _, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = h;
    if vihl >> 4 != 4 {
        return Err(err("IPv4", off, "version is not 4"));
    }
    let hlen = usize::from(vihl & 0x0f) * 4;
    if hlen < 20 {
        return Err(err("IPv4", off, "header length (IHL) below 5"));
    }
    let total = usize::from(u16::from_be_bytes([l0, l1]));
    if total < hlen {
        return Err(err("IPv4", off + 2, "total length smaller than the header"));
    }
    let avail = f.len().saturating_sub(off);
    if avail < hlen {
        return Err(err("IPv4", off + 20, "options truncated"));
    }
    let frag = u16::from_be_bytes([fl0, fl1]);
    let mf = frag & 0x2000 != 0;
    let frag_off = frag & 0x1fff;
    let head = IpHead {
        ip: Ip {
            src: IpAddr::V4(Ipv4Addr::new(s0, s1, s2, s3)),
            dst: IpAddr::V4(Ipv4Addr::new(d0, d1, d2, d3)),
            protocol: proto,
            len: total as u32,
            fragment: mf || frag_off != 0,
            truncated: avail < total,
        },
        start: off,
        l4: off + hlen,
        end: off + total.min(avail),
        later_fragment: frag_off != 0,
    };
    transport(f, head, depth)
}

/// IPv6 at `f[off..]`, walking extension headers.
fn ipv6(f: &[u8], off: usize, depth: u8) -> Result<Decoded<'_>, DecodeError> {
    let h: [u8; 40] = arr(f, off).ok_or_else(|| err("IPv6", off, "header truncated (40 bytes)"))?;
    let (fixed, addrs) = h.split_at(8);
    let [v, _, _, _, l0, l1, next, _] = <[u8; 8]>::try_from(fixed).unwrap_or_default();
    if v >> 4 != 6 {
        return Err(err("IPv6", off, "version is not 6"));
    }
    let (s, d) = addrs.split_at(16);
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(s).unwrap_or_default());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(d).unwrap_or_default());
    let plen = usize::from(u16::from_be_bytes([l0, l1]));
    let avail = f.len().saturating_sub(off);
    // A payload length of 0 with a hop-by-hop header is a jumbogram
    // (RFC 2675): the length is in an option; trust the captured bytes.
    let total = if plen == 0 && next == IP_HOPOPTS { avail.max(40) } else { 40 + plen };
    let end = off + total.min(avail);
    let mut head = IpHead {
        ip: Ip {
            src: IpAddr::V6(src),
            dst: IpAddr::V6(dst),
            protocol: next,
            len: total as u32,
            fragment: false,
            truncated: avail < total,
        },
        start: off,
        l4: off + 40,
        end,
        later_fragment: false,
    };
    let mut next = next;
    for _ in 0..MAX_IPV6_EXT {
        let at = head.l4;
        let len = match next {
            IP_HOPOPTS | IP_ROUTING | IP_DSTOPTS | IP_MOBILITY => {
                let [_, l] = arr(f, at)
                    .filter(|_| at + 2 <= end)
                    .ok_or_else(|| err("IPv6 extension header", at, "truncated (2 bytes)"))?;
                (usize::from(l) + 1) * 8
            }
            IP_FRAGMENT => {
                let [_, _, o0, o1] = arr(f, at)
                    .filter(|_| at + 8 <= end)
                    .ok_or_else(|| err("IPv6 fragment header", at, "truncated (8 bytes)"))?;
                head.ip.fragment = true;
                head.later_fragment = u16::from_be_bytes([o0, o1]) >> 3 != 0;
                8
            }
            IP_AH => {
                let [_, l] = arr(f, at)
                    .filter(|_| at + 2 <= end)
                    .ok_or_else(|| err("IPv6 AH", at, "truncated (2 bytes)"))?;
                (usize::from(l) + 2) * 4
            }
            _ => {
                head.ip.protocol = next;
                return transport(f, head, depth);
            }
        };
        if at + len > end {
            return Err(err("IPv6 extension header", at + 1, "length runs past the packet"));
        }
        next = byte(f, at).unwrap_or_default();
        head.l4 = at + len;
        if head.later_fragment {
            // The headers after a non-first fragment header are not here.
            head.ip.protocol = next;
            return transport(f, head, depth);
        }
    }
    Err(err("IPv6", head.l4, "more than 8 extension headers"))
}

/// The transport header at `head.l4`, bounded by `head.end`.
#[inline]
fn transport(f: &[u8], head: IpHead, depth: u8) -> Result<Decoded<'_>, DecodeError> {
    let IpHead { ip, start, l4, end, later_fragment } = head;
    if later_fragment {
        return Ok((
            Layer3::Ip { ip, transport: Transport::Other { protocol: ip.protocol } },
            None,
        ));
    }
    let seg = f.get(l4..end).unwrap_or(&[]);
    // The transport bytes the IP header states (more than `seg` when the
    // frame was cut short).
    let stated = (start + ip.len as usize).saturating_sub(l4);
    let transport = match ip.protocol {
        IP_TCP => {
            let h: [u8; 20] =
                arr(seg, 0).ok_or_else(|| err("TCP", l4, "header truncated (20 bytes)"))?;
            let [sp0, sp1, dp0, dp1, q0, q1, q2, q3, a0, a1, a2, a3, doff, flags, ..] = h;
            let hlen = usize::from(doff >> 4) * 4;
            if hlen < 20 {
                return Err(err("TCP", l4 + 12, "data offset below 5"));
            }
            if hlen > stated {
                return Err(err("TCP", l4 + 12, "data offset runs past the IP packet"));
            }
            let payload =
                seg.get(hlen..).ok_or_else(|| err("TCP", l4 + 20, "options truncated"))?;
            Transport::Tcp {
                sport: u16::from_be_bytes([sp0, sp1]),
                dport: u16::from_be_bytes([dp0, dp1]),
                seq: u32::from_be_bytes([q0, q1, q2, q3]),
                ack: u32::from_be_bytes([a0, a1, a2, a3]),
                flags: TcpFlags(flags),
                payload,
            }
        }
        IP_UDP => {
            let [sp0, sp1, dp0, dp1, l0, l1, _, _] =
                arr(seg, 0).ok_or_else(|| err("UDP", l4, "header truncated (8 bytes)"))?;
            let ulen = usize::from(u16::from_be_bytes([l0, l1]));
            // Length 0 is legal only for IPv6 jumbograms: use the IP length.
            let ulen = if ulen == 0 && ip.src.is_ipv6() { stated } else { ulen };
            if ulen < 8 {
                return Err(err("UDP", l4 + 4, "length below 8"));
            }
            let payload = seg.get(8..ulen.min(seg.len())).unwrap_or(&[]);
            Transport::Udp {
                sport: u16::from_be_bytes([sp0, sp1]),
                dport: u16::from_be_bytes([dp0, dp1]),
                payload,
            }
        }
        IP_ICMP => {
            let [kind, code] =
                arr(seg, 0).ok_or_else(|| err("ICMP", l4, "header truncated (2 bytes)"))?;
            Transport::Icmp { kind, code }
        }
        IP_ICMPV6 => {
            let [kind, code] =
                arr(seg, 0).ok_or_else(|| err("ICMPv6", l4, "header truncated (2 bytes)"))?;
            Transport::Icmpv6 { kind, code }
        }
        IP_IPIP | IP_IPV6 if depth == 0 && !ip.fragment => {
            // One level of IP-in-IP: the inner packet, bounded by the outer.
            let inner = f.get(..end).unwrap_or(f);
            let (l3, _) =
                if ip.protocol == IP_IPIP { ipv4(inner, l4, 1)? } else { ipv6(inner, l4, 1)? };
            let tunnel = Tunnel { src: ip.src, dst: ip.dst, protocol: ip.protocol };
            return Ok((l3, Some(tunnel)));
        }
        protocol => Transport::Other { protocol },
    };
    Ok((Layer3::Ip { ip, transport }, None))
}
