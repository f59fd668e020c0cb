//! Link layer to transport: one captured frame decoded into addresses,
//! ports and the transport payload, borrowing from the frame. This is the
//! sensor's hot path (every packet passes through it): no allocation, no
//! copies.
//!
//! TODO(issue 4): `decode` is being written; the types below are the
//! contract the sensor codes against.

use std::net::IpAddr;

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
