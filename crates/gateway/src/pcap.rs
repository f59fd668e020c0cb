//! `sekimori session export ID --pcap FILE`: a recording as a classic pcap
//! file (LINKTYPE_ETHERNET) that Wireshark and tshark open and follow as one
//! TCP stream.
//!
//! The recording holds the payload only, so the packets around it are
//! synthesised: Ethernet between two locally administered MACs
//! (`02:00:00:00:00:01` client, `…:02` device); IPv4, or IPv6 when either
//! address is IPv6 (an IPv4 address then becomes IPv4-mapped IPv6); TCP
//! between the header's client and target ports with a three-way handshake
//! at the start time (MSS 65495, window scaling 14, so the window never fills), one
//! segment per 32 KiB of each chunk at the chunk's time, a pure ACK from the
//! receiver after each chunk, and a FIN/ACK exchange at the end time (the end
//! record's, or the last chunk's if the recording was cut). Sequence and
//! acknowledgement numbers are consistent and IP and TCP checksums correct
//! (computed by `etherparse`). Times never go backwards: a chunk recorded
//! with an earlier time than the previous packet takes the previous time.

use std::io::{BufWriter, Read, Write};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use etherparse::{IpHeaders, Ipv4Header, Ipv6Header, PacketBuilder, TcpHeader, TcpOptionElement};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};
use time::OffsetDateTime;

use crate::recording::{Direction, Ending, RecordingError, RecordingReader};

/// Largest TCP payload per synthesised segment.
pub const MAX_SEGMENT_BYTES: usize = 32 * 1024;

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DEVICE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const CLIENT_ISN: u32 = 0x1000_0000;
const DEVICE_ISN: u32 = 0x2000_0000;
const WINDOW: u16 = u16::MAX;
const WINDOW_SHIFT: u8 = 14;
const TTL: u8 = 64;
/// Announced in the SYNs; above every segment written (like loopback's).
const MSS: u16 = 65495;
/// Larger than any packet written (headers + one segment).
const SNAPLEN: u32 = 256 * 1024;

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapSummary {
    /// Packets written, handshakes and ACKs included.
    pub packets: u64,
    /// Payload bytes client → device.
    pub up_bytes: u64,
    /// Payload bytes device → client.
    pub down_bytes: u64,
    /// The recording had its end record (it was not cut).
    pub ended_cleanly: bool,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The recording could not be read.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// Writing the pcap failed.
    #[error("pcap: writing failed: {0}")]
    Write(#[from] pcap_file::PcapError),
    /// Writing the pcap failed.
    #[error("pcap: writing failed: {0}")]
    Io(#[from] std::io::Error),
    /// A packet could not be built (should not happen: segments are small).
    #[error("pcap: building a packet failed: {0}")]
    Build(String),
}

/// Writes `reader`'s recording to `out` as a pcap file (buffered internally).
/// A cut recording is exported up to its last complete chunk; a malformed one
/// stops the export with an error (the output is then incomplete).
pub fn export_pcap<R: Read>(
    mut reader: RecordingReader<R>,
    out: impl Write,
) -> Result<PcapSummary, PcapError> {
    let header = reader.header().clone();
    let (client_ip, device_ip) = match (header.client.ip(), header.target.ip()) {
        (IpAddr::V4(c), IpAddr::V4(d)) => (IpAddr::V4(c), IpAddr::V4(d)),
        (c, d) => (IpAddr::V6(to_v6(c)), IpAddr::V6(to_v6(d))),
    };
    let pcap_header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    let mut stream = Stream {
        out: PcapWriter::with_header(BufWriter::new(out), pcap_header)?,
        client: (client_ip, header.client.port()),
        device: (device_ip, header.target.port()),
        client_seq: CLIENT_ISN,
        device_seq: DEVICE_ISN,
        ip_ids: [0, 0],
        last_ts: Duration::ZERO,
        packet: Vec::with_capacity(MAX_SEGMENT_BYTES + 128),
        summary: PcapSummary { packets: 0, up_bytes: 0, down_bytes: 0, ended_cleanly: false },
    };

    // Three-way handshake.
    let start = header.started_at;
    let syn_opts = [
        TcpOptionElement::MaximumSegmentSize(MSS),
        TcpOptionElement::Noop,
        TcpOptionElement::WindowScale(WINDOW_SHIFT),
    ];
    stream.segment(Direction::Up, start, Flags::SYN, &syn_opts, &[])?;
    stream.segment(Direction::Down, start, Flags::SYN_ACK, &syn_opts, &[])?;
    stream.segment(Direction::Up, start, Flags::ACK, &[], &[])?;

    let mut last = start;
    while let Some(chunk) = reader.next_chunk()? {
        last = chunk.at;
        for (i, part) in chunk.data.chunks(MAX_SEGMENT_BYTES).enumerate() {
            let is_last = (i + 1) * MAX_SEGMENT_BYTES >= chunk.data.len();
            let flags = if is_last { Flags::PSH_ACK } else { Flags::ACK };
            stream.segment(chunk.direction, chunk.at, flags, &[], part)?;
        }
        let receiver = match chunk.direction {
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
        };
        if !chunk.data.is_empty() {
            stream.segment(receiver, chunk.at, Flags::ACK, &[], &[])?;
        }
    }
    let end = match reader.ending() {
        Some(Ending::Clean { ended_at, .. }) => {
            stream.summary.ended_cleanly = true;
            *ended_at
        }
        _ => last,
    };
    // The client closes; the device answers.
    stream.segment(Direction::Up, end, Flags::FIN_ACK, &[], &[])?;
    stream.segment(Direction::Down, end, Flags::FIN_ACK, &[], &[])?;
    stream.segment(Direction::Up, end, Flags::ACK, &[], &[])?;

    let mut out = stream.out.into_writer();
    out.flush()?;
    Ok(stream.summary)
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[derive(Debug, Clone, Copy)]
struct Flags {
    syn: bool,
    ack: bool,
    psh: bool,
    fin: bool,
}

impl Flags {
    const SYN: Flags = Flags { syn: true, ack: false, psh: false, fin: false };
    const SYN_ACK: Flags = Flags { syn: true, ack: true, psh: false, fin: false };
    const ACK: Flags = Flags { syn: false, ack: true, psh: false, fin: false };
    const PSH_ACK: Flags = Flags { syn: false, ack: true, psh: true, fin: false };
    const FIN_ACK: Flags = Flags { syn: false, ack: true, psh: false, fin: true };
}

struct Stream<W: Write> {
    out: PcapWriter<W>,
    client: (IpAddr, u16),
    device: (IpAddr, u16),
    /// Next sequence number each side sends.
    client_seq: u32,
    device_seq: u32,
    /// IPv4 identification per side (client, device).
    ip_ids: [u16; 2],
    last_ts: Duration,
    packet: Vec<u8>,
    summary: PcapSummary,
}

impl<W: Write> Stream<W> {
    fn segment(
        &mut self,
        from: Direction,
        at: OffsetDateTime,
        flags: Flags,
        options: &[TcpOptionElement],
        payload: &[u8],
    ) -> Result<(), PcapError> {
        let (src, dst, src_mac, dst_mac, seq, ack, side) = match from {
            Direction::Up => (
                self.client,
                self.device,
                CLIENT_MAC,
                DEVICE_MAC,
                self.client_seq,
                self.device_seq,
                0,
            ),
            Direction::Down => (
                self.device,
                self.client,
                DEVICE_MAC,
                CLIENT_MAC,
                self.device_seq,
                self.client_seq,
                1,
            ),
        };
        let ip = match (src.0, dst.0) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let id = self.ip_ids[side];
                self.ip_ids[side] = id.wrapping_add(1);
                IpHeaders::Ipv4(
                    Ipv4Header {
                        source: s.octets(),
                        destination: d.octets(),
                        time_to_live: TTL,
                        identification: id,
                        dont_fragment: true,
                        ..Ipv4Header::default()
                    },
                    Default::default(),
                )
            }
            (s, d) => IpHeaders::Ipv6(
                Ipv6Header {
                    source: to_v6(s).octets(),
                    destination: to_v6(d).octets(),
                    hop_limit: TTL,
                    ..Ipv6Header::default()
                },
                Default::default(),
            ),
        };
        let mut tcp = TcpHeader::new(src.1, dst.1, seq, WINDOW);
        tcp.syn = flags.syn;
        tcp.psh = flags.psh;
        tcp.fin = flags.fin;
        if flags.ack {
            tcp.ack = true;
            tcp.acknowledgment_number = ack;
        }
        tcp.set_options(options).map_err(|e| PcapError::Build(e.to_string()))?;
        self.packet.clear();
        PacketBuilder::ethernet2(src_mac, dst_mac)
            .ip(ip)
            .tcp_header(tcp)
            .write_to_vec(&mut self.packet, payload)
            .map_err(|e| PcapError::Build(e.to_string()))?;

        // SYN and FIN take one sequence number each.
        let advance = payload.len() as u64 + u64::from(flags.syn) + u64::from(flags.fin);
        let next = seq.wrapping_add(advance as u32);
        match from {
            Direction::Up => {
                self.client_seq = next;
                self.summary.up_bytes += payload.len() as u64;
            }
            Direction::Down => {
                self.device_seq = next;
                self.summary.down_bytes += payload.len() as u64;
            }
        }

        let ts = timestamp(at).max(self.last_ts);
        self.last_ts = ts;
        let len = self.packet.len() as u32;
        self.out.write_packet(&PcapPacket::new(ts, len, &self.packet))?;
        self.summary.packets += 1;
        Ok(())
    }
}

/// Time since the Unix epoch, clamped to what classic pcap can hold
/// (1970 to 2106: unsigned 32-bit seconds).
fn timestamp(at: OffsetDateTime) -> Duration {
    match u32::try_from(at.unix_timestamp()) {
        Ok(secs) => Duration::new(u64::from(secs), at.nanosecond()),
        Err(_) if at.unix_timestamp() < 0 => Duration::ZERO,
        Err(_) => Duration::from_secs(u64::from(u32::MAX)),
    }
}
