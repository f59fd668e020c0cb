//! OpenVPN: the control channel's first packets, over UDP and over TCP
//! (where each packet has a two-byte length prefix).
//!
//! A packet starts with `opcode << 3 | key_id`, then the sender's 8-byte
//! session ID. A control packet then carries, when `tls-auth` is on, an
//! HMAC (16, 20, 32 or 64 bytes) with a replay packet ID and time; then the
//! ACK array (count, packet IDs, and the peer's session ID when the count is
//! not zero), and its own packet ID. The handshake starts with the client's
//! `P_CONTROL_HARD_RESET_CLIENT_V2/V3` (no ACK, packet ID 0) and the server's
//! `P_CONTROL_HARD_RESET_SERVER_V2`, which ACKs packet 0 **and echoes the
//! client's session ID** (nDPI's robust check). With `tls-crypt` everything
//! after the session ID and replay header is encrypted; then the opcode
//! pair alone (client reset, then server reset) identifies the flow.

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::Reader;

/// Opcodes (RFC-less; OpenVPN's `ssl_pkt.h`).
pub const P_CONTROL_HARD_RESET_CLIENT_V1: u8 = 1;
pub const P_CONTROL_HARD_RESET_SERVER_V1: u8 = 2;
pub const P_CONTROL_SOFT_RESET_V1: u8 = 3;
pub const P_CONTROL_V1: u8 = 4;
pub const P_ACK_V1: u8 = 5;
pub const P_DATA_V1: u8 = 6;
pub const P_CONTROL_HARD_RESET_CLIENT_V2: u8 = 7;
pub const P_CONTROL_HARD_RESET_SERVER_V2: u8 = 8;
pub const P_DATA_V2: u8 = 9;
pub const P_CONTROL_HARD_RESET_CLIENT_V3: u8 = 10;
pub const P_CONTROL_WKC_V1: u8 = 11;

/// HMAC sizes tried for `tls-auth` (none, MD5, SHA-1, SHA-256, SHA-512).
const HMAC_SIZES: [usize; 5] = [0, 16, 20, 32, 64];
/// tls-crypt: session ID, replay packet ID and time, 32-byte tag.
const TLS_CRYPT_MIN: usize = 1 + 8 + 8 + 32;
/// ACK arrays hold at most 8 packet IDs (`RELIABLE_ACK_SIZE`).
const MAX_ACKS: u8 = 8;
/// The largest control packet a TCP frame may claim.
const MAX_TCP_FRAME: usize = 1600;

/// The name of an opcode.
pub fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        P_CONTROL_HARD_RESET_CLIENT_V1 => "P_CONTROL_HARD_RESET_CLIENT_V1",
        P_CONTROL_HARD_RESET_SERVER_V1 => "P_CONTROL_HARD_RESET_SERVER_V1",
        P_CONTROL_SOFT_RESET_V1 => "P_CONTROL_SOFT_RESET_V1",
        P_CONTROL_V1 => "P_CONTROL_V1",
        P_ACK_V1 => "P_ACK_V1",
        P_DATA_V1 => "P_DATA_V1",
        P_CONTROL_HARD_RESET_CLIENT_V2 => "P_CONTROL_HARD_RESET_CLIENT_V2",
        P_CONTROL_HARD_RESET_SERVER_V2 => "P_CONTROL_HARD_RESET_SERVER_V2",
        P_DATA_V2 => "P_DATA_V2",
        P_CONTROL_HARD_RESET_CLIENT_V3 => "P_CONTROL_HARD_RESET_CLIENT_V3",
        P_CONTROL_WKC_V1 => "P_CONTROL_WKC_V1",
        _ => return None,
    })
}

/// A decoded control packet header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    pub opcode: u8,
    pub key_id: u8,
    pub session_id: [u8; 8],
    /// The `tls-auth` HMAC size found (0: none).
    pub hmac_len: usize,
    /// Packet IDs acknowledged.
    pub acks: Vec<u32>,
    /// The peer's session ID, present with ACKs.
    pub remote_session_id: Option<[u8; 8]>,
    /// This packet's ID.
    pub packet_id: u32,
}

fn parse_with_hmac(packet: &[u8], hmac_len: usize) -> Option<Control> {
    let mut r = Reader::new(packet);
    let first = r.u8().ok()?;
    let session_id: [u8; 8] = r.array().ok()?;
    if hmac_len > 0 {
        r.skip(hmac_len).ok()?;
        let replay_id = r.u32_be().ok()?;
        let _time = r.u32_be().ok()?;
        // Replay IDs start at 1 and a handshake is young.
        if replay_id == 0 || replay_id > 0x1000 {
            return None;
        }
    }
    let n = r.u8().ok()?;
    if n > MAX_ACKS {
        return None;
    }
    let acks = (0..n).map(|_| r.u32_be().ok()).collect::<Option<Vec<u32>>>()?;
    let remote_session_id = if n > 0 { Some(r.array::<8>().ok()?) } else { None };
    let opcode = first >> 3;
    let packet_id = if opcode == P_ACK_V1 { 0 } else { r.u32_be().ok()? };
    Some(Control {
        opcode,
        key_id: first & 7,
        session_id,
        hmac_len,
        acks,
        remote_session_id,
        packet_id,
    })
}

/// Parses a control packet, trying each `tls-auth` HMAC size and keeping
/// the first layout that makes sense for a handshake's first packets
/// (resets carry packet ID 0; a server reset ACKs packet 0 of a session
/// ID that is not its own).
pub fn parse_reset(packet: &[u8]) -> Option<Control> {
    let op = packet.first()? >> 3;
    let key_id = packet.first()? & 7;
    if key_id != 0 {
        return None;
    }
    HMAC_SIZES.iter().find_map(|&h| {
        let c = parse_with_hmac(packet, h)?;
        let ok = match op {
            P_CONTROL_HARD_RESET_CLIENT_V1
            | P_CONTROL_HARD_RESET_CLIENT_V2
            | P_CONTROL_HARD_RESET_CLIENT_V3 => c.acks.is_empty() && c.packet_id == 0,
            P_CONTROL_HARD_RESET_SERVER_V1 | P_CONTROL_HARD_RESET_SERVER_V2 => {
                c.acks == [0]
                    && c.packet_id == 0
                    && c.remote_session_id.is_some_and(|r| r != c.session_id && r != [0; 8])
            }
            _ => false,
        };
        ok.then_some(c)
    })
}

fn is_client_reset(op: u8) -> bool {
    matches!(
        op,
        P_CONTROL_HARD_RESET_CLIENT_V1
            | P_CONTROL_HARD_RESET_CLIENT_V2
            | P_CONTROL_HARD_RESET_CLIENT_V3
    )
}

fn is_server_reset(op: u8) -> bool {
    matches!(op, P_CONTROL_HARD_RESET_SERVER_V1 | P_CONTROL_HARD_RESET_SERVER_V2)
}

/// How the first packets of a flow read.
fn judge(client: Option<&[u8]>, server: Option<&[u8]>) -> Verdict {
    let mut facts = Vec::new();
    let c = client.and_then(|p| Some((p, *p.first()? >> 3, *p.first()? & 7)));
    let s = server.and_then(|p| Some((p, *p.first()? >> 3, *p.first()? & 7)));
    let client_reset = match c {
        Some((p, op, 0)) if is_client_reset(op) => {
            if let Some(name) = opcode_name(op) {
                facts.extend(Fact::new(Subject::Client, FactKey::OpenVpnOpcode, name));
            }
            Some((parse_reset(p), p, op))
        }
        Some(_) => return Verdict::No,
        None => None,
    };
    let server_reset = match s {
        Some((p, op, 0)) if is_server_reset(op) => Some(parse_reset(p)),
        Some(_) => return Verdict::No,
        None => None,
    };
    let yes = |facts| Verdict::Yes { app: App::OpenVpn, facts, more: false };
    match (client_reset, server_reset) {
        // The server echoes the client's session ID: certain.
        (Some((Some(c), _, _)), Some(Some(s))) if s.remote_session_id == Some(c.session_id) => {
            yes(facts)
        }
        (Some((Some(_), _, _)), Some(Some(_))) => Verdict::No,
        // A clear reset from the client: the layout itself is the signature.
        (Some((Some(_), _, _)), None) => yes(facts),
        // tls-crypt: opaque after the header; wait for the server's reset.
        (Some((None, p, _)), None) if p.len() >= TLS_CRYPT_MIN => Verdict::NeedMore,
        (Some((None, p, _)), Some(_)) if p.len() >= TLS_CRYPT_MIN => yes(facts),
        // A server reset seen alone (the client's packet was missed).
        (None, Some(Some(_))) => yes(facts),
        (None, None) => Verdict::NeedMore,
        _ => Verdict::No,
    }
}

/// UDP probe. The client's hard reset (clear layout) says yes; a
/// `tls-crypt` reset waits for the server's. Each datagram stands alone,
/// so the session-ID echo is checked within the server's reset (its ACK
/// names the client's session). The opcode, not `side`, says which reset
/// a datagram is (a capture may hold only the server's half of a flow).
pub fn probe_datagram(_ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let Some(&first) = payload.first() else { return Verdict::NeedMore };
    let op = first >> 3;
    if is_client_reset(op) {
        let v = judge(Some(payload), None);
        return match (v, side) {
            // The fact is about whoever sent it.
            (Verdict::Yes { app, facts, more }, Side::Server) => Verdict::Yes {
                app,
                facts: facts.into_iter().map(|f| Fact { subject: Subject::Server, ..f }).collect(),
                more,
            },
            (v, _) => v,
        };
    }
    match judge(None, Some(payload)) {
        // An opaque server reset after an opaque client reset (tls-crypt):
        // the probe only hears it because the client's said "need more".
        Verdict::No
            if first == P_CONTROL_HARD_RESET_SERVER_V2 << 3 && payload.len() >= TLS_CRYPT_MIN =>
        {
            Verdict::Yes { app: App::OpenVpn, facts: Vec::new(), more: false }
        }
        v => v,
    }
}

/// The first length-prefixed packet of a TCP stream: `Ok(None)` while
/// incomplete, `Err(())` when the length cannot be OpenVPN's.
fn first_frame(stream: &[u8]) -> Result<Option<&[u8]>, ()> {
    let mut r = Reader::new(stream);
    let Ok(len) = r.u16_be() else {
        return Ok(None);
    };
    let len = usize::from(len);
    if !(1 + 8 + 1 + 4..=MAX_TCP_FRAME).contains(&len) {
        return Err(());
    }
    // Judge the opcode as soon as it is visible.
    if stream
        .get(2)
        .is_some_and(|&b| b & 7 != 0 || !(is_client_reset(b >> 3) || is_server_reset(b >> 3)))
    {
        return Err(());
    }
    Ok(r.take(len).ok())
}

/// TCP probe: the same resets, each behind a two-byte length.
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let Ok(c) = first_frame(client) else { return Verdict::No };
    let s = match first_frame(server) {
        Ok(s) => s,
        Err(()) if !server.is_empty() => return Verdict::No,
        Err(()) => None,
    };
    if c.is_none() {
        return if client.len() >= 3 || server.is_empty() {
            Verdict::NeedMore
        } else {
            Verdict::No
        };
    }
    match judge(c, s) {
        // tls-crypt over TCP: the server's reset opcode completes the pair.
        Verdict::No
            if s.and_then(|s| s.first())
                .is_some_and(|b| b >> 3 == P_CONTROL_HARD_RESET_SERVER_V2)
                && c.is_some_and(|c| c.len() >= TLS_CRYPT_MIN) =>
        {
            Verdict::Yes { app: App::OpenVpn, facts: Vec::new(), more: false }
        }
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_names() {
        assert_eq!(opcode_name(7), Some("P_CONTROL_HARD_RESET_CLIENT_V2"));
        assert_eq!(opcode_name(12), None);
    }

    #[test]
    fn data_packets_alone_are_not_openvpn() {
        let ctx = Ctx { client_port: 40000, server_port: 1194 };
        assert_eq!(probe_datagram(&ctx, Side::Client, &[0x48, 0, 0, 1, 9, 9, 9, 9]), Verdict::No);
        assert_eq!(
            probe_datagram(&ctx, Side::Client, &[0x39, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0]),
            Verdict::No
        );
    }
}
