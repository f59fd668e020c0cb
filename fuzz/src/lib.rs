//! The fuzzing entry points: one function per parser entry point, each
//! taking arbitrary bytes and never expected to panic. The cargo-fuzz
//! targets in `fuzz_targets/` are one-line wrappers around these, and
//! `crates/proto/tests/fuzz_corpus.rs` replays every corpus file through the
//! same functions (it includes this file), so CI runs the corpora without a
//! fuzzer.
//!
//! Where one target covers a table of probes, the first byte of the input
//! picks the probe (modulo the table's length), so the fuzzer can steer
//! towards each and the corpus seeds name theirs.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use sekimori_capture::CaptureFile;
use sekimori_capture::zeek::ConnReader;
use sekimori_proto::identify::{self, Ctx, DATAGRAM, FRAME, ProbeState, STREAM, Side};
use sekimori_proto::netflow::Decoder;
use sekimori_proto::packet::{LinkType, decode};

/// Most packets or lines read from one input (inputs are small anyway).
const MAX_ITEMS: usize = 4096;

fn link(link: LinkType, data: &[u8]) {
    let _ = decode(link, data);
}

/// `packet::decode` of an Ethernet frame.
pub fn packet_ethernet(data: &[u8]) {
    link(LinkType::Ethernet, data);
}

/// `packet::decode` of a raw IP packet.
pub fn packet_raw_ip(data: &[u8]) {
    link(LinkType::RawIp, data);
}

/// `packet::decode` of a Linux cooked (SLL) frame.
pub fn packet_linux_sll(data: &[u8]) {
    link(LinkType::LinuxSll, data);
}

/// `packet::decode` of a Linux cooked v2 (SLL2) frame.
pub fn packet_linux_sll2(data: &[u8]) {
    link(LinkType::LinuxSll2, data);
}

/// `packet::decode` of a BSD loopback (null) frame.
pub fn packet_null(data: &[u8]) {
    link(LinkType::Null, data);
}

/// The ports a table entry is hinted by (its first, else 0), so probes see
/// the context they would on their usual port.
fn ctx(ports: &[u16]) -> Ctx {
    Ctx { client_port: 50_000, server_port: ports.first().copied().unwrap_or(0) }
}

/// A TCP probe of [`STREAM`]: byte 0 picks the probe, bytes 1–2 (big
/// endian) say how many of the rest the client sent; the remainder is the
/// server's. Every prefix pair the sensor could show is not tried (too
/// slow); the whole pair is, then the dispatcher over the same bytes.
pub fn probe_stream(data: &[u8]) {
    let [pick, hi, lo, rest @ ..] = data else { return };
    let split = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (client, server) = rest.split_at(split);
    if let Some(p) = STREAM.get(usize::from(*pick) % STREAM.len()) {
        let c = ctx(p.ports);
        let _ = (p.probe)(&c, client, server);
        let _ = (p.probe)(&c, client, &[]);
        let mut state = ProbeState::new();
        let _ = state.stream(&c, client, server);
    }
}

/// A UDP probe of [`DATAGRAM`]: byte 0 picks the probe, byte 1's low bit
/// the side (client, server); the rest is the datagram.
pub fn probe_datagram(data: &[u8]) {
    let [pick, side, payload @ ..] = data else { return };
    if let Some(p) = DATAGRAM.get(usize::from(*pick) % DATAGRAM.len()) {
        let c = ctx(p.ports);
        let side = if side & 1 == 0 { Side::Client } else { Side::Server };
        let _ = (p.probe)(&c, side, payload);
        let mut state = ProbeState::new();
        let _ = state.datagram(&c, side, payload);
    }
}

/// A link-layer probe of [`FRAME`]: byte 0 picks the probe; the rest is
/// the PDU.
pub fn probe_frame(data: &[u8]) {
    let [pick, pdu @ ..] = data else { return };
    let mac = [0x00, 0x01, 0x30, 0xf9, 0xad, 0xa0];
    if let Some(p) = FRAME.get(usize::from(*pick) % FRAME.len()) {
        let _ = (p.probe)(mac, pdu);
    }
    let _ = identify::frame(mac, pdu);
}

/// `netflow::Decoder::decode` over a sequence of datagrams, each prefixed
/// by its length (2 bytes, big endian) and sent by one of two exporters
/// (the length's top bit), so templates learnt from one datagram apply to
/// the next.
pub fn netflow_decoder(data: &[u8]) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    let mut rest = data;
    for _ in 0..MAX_ITEMS {
        let [hi, lo, tail @ ..] = rest else { return };
        let n = u16::from_be_bytes([*hi & 0x7f, *lo]);
        let (dgram, next) = tail.split_at(usize::from(n).min(tail.len()));
        let host = if *hi & 0x80 == 0 { 1 } else { 2 };
        let exporter = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), 2055);
        out.clear();
        let _ = d.decode(exporter, dgram, &mut out);
        rest = next;
    }
}

/// `dicom::parse_associate` (an A-ASSOCIATE-RQ/AC PDU).
pub fn dicom_associate(data: &[u8]) {
    let _ = sekimori_proto::dicom::parse_associate(data);
}

/// `hl7::parse_msh` (an HL7 v2 message; only its MSH segment is read).
pub fn hl7_msh(data: &[u8]) {
    let _ = sekimori_proto::hl7::parse_msh(data);
}

/// `tls::ClientHello::parse` of a handshake body, as TLS and as DTLS.
pub fn tls_client_hello(data: &[u8]) {
    let _ = sekimori_proto::tls::ClientHello::parse(data, false);
    let _ = sekimori_proto::tls::ClientHello::parse(data, true);
}

/// The capture file reader over an in-memory file, each packet decoded.
pub fn capture_file(data: &[u8]) {
    let Ok(mut f) = CaptureFile::from_reader("fuzz.pcap", Cursor::new(data)) else { return };
    for _ in 0..MAX_ITEMS {
        match f.next_packet() {
            Ok(Some(p)) => {
                let _ = decode(p.link, p.data);
            }
            Ok(None) => return,
            Err(e) if !e.what.is_fatal() => {}
            Err(_) => return,
        }
    }
}

/// The Zeek conn.log reader (TSV with its header, or JSON lines).
pub fn zeek_conn(data: &[u8]) {
    let mut r = ConnReader::new("fuzz.log", Cursor::new(data));
    for _ in 0..MAX_ITEMS {
        match r.next_record() {
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return,
        }
    }
}

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// Every entry point by target name (the replay test walks the corpora
/// with it).
pub const TARGETS: &[(&str, Entry)] = &[
    ("packet_ethernet", packet_ethernet),
    ("packet_raw_ip", packet_raw_ip),
    ("packet_linux_sll", packet_linux_sll),
    ("packet_linux_sll2", packet_linux_sll2),
    ("packet_null", packet_null),
    ("probe_stream", probe_stream),
    ("probe_datagram", probe_datagram),
    ("probe_frame", probe_frame),
    ("netflow_decoder", netflow_decoder),
    ("dicom_associate", dicom_associate),
    ("hl7_msh", hl7_msh),
    ("tls_client_hello", tls_client_hello),
    ("capture_file", capture_file),
    ("zeek_conn", zeek_conn),
];
