//! Identification: feeding a flow's first bytes to the protocol probes
//! (`sekimori_proto::identify`) and keeping what they say.
//!
//! TCP: each direction's in-order byte prefix is rebuilt from sequence
//! numbers (a retransmission adds only bytes past what is held; a segment
//! after a gap waits for the missing bytes, which a retransmission brings)
//! up to [`MAX_PREFIX`] per side, and the probes are asked again whenever
//! new bytes arrive. Identification ends — and the buffers are freed — when
//! the dispatcher has nothing more to learn, when a side's prefix reaches
//! the cap, or after [`MAX_SEGMENTS`] payload segments.
//!
//! UDP: each of the first [`MAX_DATAGRAMS`] datagrams of each side is shown
//! to the probes — except on flows of protocols whose every datagram is a
//! message naming hosts (DHCP, the DNS family, SSDP, syslog: see
//! [`names_per_datagram`]): one broadcast flow (0.0.0.0:68 →
//! 255.255.255.255:67) carries every booting client of a network, so all its
//! datagrams are read (they are few and small).

use sekimori_proto::identify::{Ctx, Side};
use sekimori_proto::packet::TcpFlags;
use sekimori_proto::{Fact, Verdict};

use crate::flow::{Flow, FlowKey};

/// Bytes of each direction's prefix kept for the probes.
pub const MAX_PREFIX: usize = 8 * 1024;
/// Payload-carrying TCP segments shown to the probes per flow.
pub const MAX_SEGMENTS: u16 = 48;
/// Datagrams of each side shown to the probes per UDP flow.
pub const MAX_DATAGRAMS: u8 = 8;

/// The in-order prefixes of a TCP flow's two directions, by key endpoint.
#[derive(Debug, Default)]
pub struct Reassembly {
    buf: [Vec<u8>; 2],
    next: [u32; 2],
    known: [bool; 2],
    segments: u16,
    /// Hashes of a flow's facts once it holds many (see
    /// `Flow::add_facts`): a broadcast DHCP flow collects thousands.
    pub(crate) seen: hashbrown::HashSet<u64, foldhash::fast::FixedState>,
}

impl Reassembly {
    /// Takes the bytes of a segment from endpoint `side` that extend its
    /// prefix; returns how many were added.
    fn segment(&mut self, side: usize, seq: u32, syn: bool, payload: &[u8]) -> usize {
        let side = side.min(1);
        // Data in a SYN starts after the SYN's own sequence number.
        let seq = if syn { seq.wrapping_add(1) } else { seq };
        if !self.known[side] {
            self.next[side] = seq;
            self.known[side] = true;
        }
        if payload.is_empty() {
            return 0;
        }
        // Signed distance from the segment's start to the next byte we need.
        let skip = self.next[side].wrapping_sub(seq) as i32;
        if skip < 0 {
            return 0; // after a gap
        }
        let Some(new) = payload.get(skip as usize..) else { return 0 };
        if new.is_empty() {
            return 0;
        }
        let buf = &mut self.buf[side];
        let room = MAX_PREFIX.saturating_sub(buf.len());
        let take = new.len().min(room);
        if let Some(part) = new.get(..take) {
            if buf.capacity() == 0 {
                buf.reserve_exact(part.len().clamp(512, MAX_PREFIX));
            }
            buf.extend_from_slice(part);
        }
        self.next[side] = self.next[side].wrapping_add(new.len() as u32);
        take
    }

    fn full(&self) -> bool {
        self.buf.iter().any(|b| b.len() >= MAX_PREFIX)
    }
}

fn ctx(key: &FlowKey, flow: &Flow) -> Ctx {
    Ctx { client_port: key.port(flow.client()), server_port: key.port(flow.server()) }
}

/// Keeps what a probe said. The latest `Yes` names the app: a probe that
/// keeps reading may refine its first answer (TLS becomes FortiGate
/// SSL-VPN or AnyDesk once the server's certificate is seen).
fn take(flow: &mut Flow, v: Verdict) {
    if let Verdict::Yes { app, facts, .. } = v {
        flow.app = Some(app);
        flow.add_facts(facts);
    }
}

/// Shows a TCP segment from endpoint `dir` to the probes.
pub fn tcp(flow: &mut Flow, key: &FlowKey, dir: usize, seq: u32, flags: TcpFlags, payload: &[u8]) {
    if flow.ident_done() {
        return;
    }
    let syn = flags.has(TcpFlags::SYN);
    if payload.is_empty() && !syn {
        return;
    }
    let r = flow.ident.get_or_insert_with(Box::default);
    let added = r.segment(dir, seq, syn, payload);
    if !payload.is_empty() {
        r.segments = r.segments.saturating_add(1);
    }
    if added == 0 {
        if r.segments >= MAX_SEGMENTS {
            flow.set_ident_done();
        }
        return;
    }
    let c = ctx(key, flow);
    let client = flow.client();
    let Some(r) = flow.ident.as_deref() else { return };
    let [a, b] = &r.buf;
    let (cb, sb) = if client == 0 { (a, b) } else { (b, a) };
    let v = flow.probe.stream(&c, cb, sb);
    let done = r.full() || r.segments >= MAX_SEGMENTS;
    take(flow, v);
    if done || flow.probe.finished() {
        flow.set_ident_done();
    }
}

/// Protocols whose every datagram names hosts, read whole on their flows.
pub fn names_per_datagram(app: Option<sekimori_proto::App>) -> bool {
    use sekimori_proto::App;
    matches!(
        app,
        Some(
            App::Dhcp
                | App::Dns
                | App::Mdns
                | App::Nbns
                | App::NetbiosDgm
                | App::Llmnr
                | App::Ssdp
                | App::Syslog
        )
    )
}

/// Shows a UDP datagram from endpoint `dir` to the probes.
pub fn udp(flow: &mut Flow, key: &FlowKey, dir: usize, payload: &[u8]) {
    if flow.ident_done() || payload.is_empty() {
        return;
    }
    let d = dir.min(1);
    if names_per_datagram(flow.app) {
        let side = if d == flow.client() { Side::Client } else { Side::Server };
        let c = ctx(key, flow);
        flow.datagrams[d] = flow.datagrams[d].saturating_add(1);
        let v = flow.probe.datagram(&c, side, payload);
        take(flow, v);
        if flow.probe.finished() {
            flow.set_ident_done();
        }
        return;
    }
    if flow.datagrams[d] >= MAX_DATAGRAMS {
        if flow.datagrams[1 - d] >= MAX_DATAGRAMS {
            flow.set_ident_done();
        }
        return;
    }
    flow.datagrams[d] += 1;
    let side = if d == flow.client() { Side::Client } else { Side::Server };
    let c = ctx(key, flow);
    let v = flow.probe.datagram(&c, side, payload);
    take(flow, v);
    if flow.probe.finished() || flow.datagrams.iter().all(|&n| n >= MAX_DATAGRAMS) {
        flow.set_ident_done();
    }
}

/// Facts from a link-layer frame (LLDP, CDP), if a probe recognised it.
pub fn frame(src_mac: [u8; 6], pdu: &[u8]) -> Option<(sekimori_proto::App, Vec<Fact>)> {
    match sekimori_proto::identify::frame(src_mac, pdu) {
        Verdict::Yes { app, facts, .. } => Some((app, facts)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_bytes_are_appended_once() {
        let mut r = Reassembly::default();
        assert_eq!(r.segment(0, 1000, true, b""), 0); // SYN: next = 1001
        assert_eq!(r.segment(0, 1001, false, b"hello "), 6);
        // A retransmission of the same bytes adds nothing.
        assert_eq!(r.segment(0, 1001, false, b"hello "), 0);
        // Overlapping retransmission with new bytes adds the new ones.
        assert_eq!(r.segment(0, 1004, false, b"lo world"), 5);
        // A segment after a gap waits.
        assert_eq!(r.segment(0, 1020, false, b"later"), 0);
        assert_eq!(r.buf[0], b"hello world");
        // The other side starts where its first data starts (no SYN seen).
        assert_eq!(r.segment(1, 77, false, b"ok"), 2);
        assert_eq!(r.buf[1], b"ok");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembly::default();
        r.segment(0, u32::MAX - 2, false, b"abc");
        assert_eq!(r.segment(0, 0, false, b"def"), 3);
        assert_eq!(r.buf[0], b"abcdef");
    }

    #[test]
    fn prefix_is_capped() {
        let mut r = Reassembly::default();
        let big = vec![7u8; 5000];
        assert_eq!(r.segment(0, 0, false, &big), 5000);
        assert_eq!(r.segment(0, 5000, false, &big), MAX_PREFIX - 5000);
        assert!(r.full());
        assert_eq!(r.buf[0].len(), MAX_PREFIX);
    }
}
