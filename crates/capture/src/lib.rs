//! Where the sensor's packets and flow records come from.
//!
//! - [`file`](mod@file): pcap and pcapng files, read streaming with one bounded
//!   buffer; each packet is lent to the caller in place ([`RawPacket`]).
//! - [`live`] (feature `live`, on by default): capture from an interface
//!   through libpcap, with a BPF filter, same [`RawPacket`] shape.
//! - [`zeek`]: Zeek `conn.log` (TSV and JSON lines) as flow records.
//! - [`collector`]: a UDP socket receiving NetFlow/IPFIX export datagrams
//!   (decoding is `sekimori_proto::netflow`'s).
//!
//! Flow records from outside (Zeek, NetFlow/IPFIX) map into one neutral
//! [`ExternalFlow`] that the sensor merges like its own flows.
//!
//! Every error is typed and says where: the file and byte offset (capture
//! files), the file, line and field (conn.log), the interface (live).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

use std::net::IpAddr;

pub mod collector;
pub mod file;
#[cfg(feature = "live")]
pub mod live;
pub mod zeek;

pub use file::{CaptureError, CaptureFile, Problem, RawPacket};

/// A point in time: nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From whole seconds and nanoseconds, saturating.
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(i64::from(nanos)))
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// The nanoseconds past [`Timestamp::secs`].
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }

    /// This time plus `nanos`, saturating.
    pub fn add_nanos(self, nanos: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos))
    }
}

/// Where an [`ExternalFlow`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowSource {
    /// A Zeek `conn.log` record.
    ZeekConn,
    /// A NetFlow v5/v9 or IPFIX record.
    Netflow,
}

/// A flow somebody else measured (Zeek, a switch's NetFlow/IPFIX export),
/// in the terms the sensor's own flows use. "Out" is from `src` (the
/// originator, when the source knows it) to `dst`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalFlow {
    pub source: FlowSource,
    /// The source's own identifier (Zeek's `uid`), if any.
    pub id: Option<String>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …; 0 unknown).
    pub protocol: u8,
    pub packets_out: u64,
    pub packets_in: u64,
    /// IP-level bytes each way where the source has them (Zeek's
    /// `*_ip_bytes`, NetFlow octets), else payload bytes.
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// The application the source named (Zeek's `service`, e.g. "dns",
    /// "ssl,http"); a hint, not an identification.
    pub app_hint: Option<String>,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
}
