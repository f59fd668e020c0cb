//! WireGuard: its four message types, each with a fixed layout. A message
//! starts with the type byte and three zero bytes; the handshake messages
//! have exact lengths (initiation 148, response 92, cookie reply 64), and
//! transport data is a 16-byte header (receiver index, 64-bit
//! little-endian counter) followed by the payload (padded to 16 bytes,
//! except where the padding would pass the MTU) and a 16-byte tag: at least
//! 32 bytes (a keepalive).

use crate::facts::{App, Verdict};
use crate::identify::{Ctx, Side};

/// Message types.
pub const HANDSHAKE_INITIATION: u8 = 1;
pub const HANDSHAKE_RESPONSE: u8 = 2;
pub const COOKIE_REPLY: u8 = 3;
pub const TRANSPORT_DATA: u8 = 4;

/// A WireGuard message, as far as its header tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Type 1: the initiator's sender index.
    Initiation { sender: u32 },
    /// Type 2: the responder's sender index and the initiator's.
    Response { sender: u32, receiver: u32 },
    /// Type 3.
    CookieReply { receiver: u32 },
    /// Type 4.
    Transport { receiver: u32, counter: u64 },
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a datagram's WireGuard header, checking type, reserved bytes and
/// the length rule of its type.
pub fn parse(payload: &[u8]) -> Option<Message> {
    let (&ty, rest) = payload.split_first()?;
    if rest.get(..3)? != [0, 0, 0] {
        return None;
    }
    let len = payload.len();
    match ty {
        HANDSHAKE_INITIATION if len == 148 => {
            Some(Message::Initiation { sender: le32(payload, 4)? })
        }
        HANDSHAKE_RESPONSE if len == 92 => {
            Some(Message::Response { sender: le32(payload, 4)?, receiver: le32(payload, 8)? })
        }
        COOKIE_REPLY if len == 64 => Some(Message::CookieReply { receiver: le32(payload, 4)? }),
        TRANSPORT_DATA if len >= 32 => {
            let counter = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
            Some(Message::Transport { receiver: le32(payload, 4)?, counter })
        }
        _ => None,
    }
}

/// UDP probe. Handshake messages are decisive; transport data (a flow
/// seen mid-session) is accepted when its counter is young (below 2^32:
/// four more zero bytes), else only after the port hint (51820) and
/// more datagrams.
pub fn probe_datagram(ctx: &Ctx, _side: Side, payload: &[u8]) -> Verdict {
    match parse(payload) {
        Some(Message::Initiation { .. } | Message::Response { .. }) => {
            Verdict::bare(App::WireGuard)
        }
        Some(Message::CookieReply { .. }) => Verdict::bare(App::WireGuard),
        Some(Message::Transport { counter, .. }) if counter < 1 << 32 => {
            Verdict::bare(App::WireGuard)
        }
        Some(Message::Transport { .. }) if ctx.either_port(&[51820]) => {
            Verdict::bare(App::WireGuard)
        }
        Some(Message::Transport { .. }) => Verdict::NeedMore,
        None => Verdict::No,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "fixed-size test vectors")]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_reserved_bytes_decide() {
        let mut init = vec![0u8; 148];
        init[0] = 1;
        init[4] = 7;
        assert_eq!(parse(&init), Some(Message::Initiation { sender: 7 }));
        assert_eq!(parse(&init[..147]), None);
        init[2] = 1;
        assert_eq!(parse(&init), None);
        let mut data = vec![0u8; 32];
        data[0] = 4;
        assert!(parse(&data).is_some(), "a keepalive");
        assert_eq!(parse(&data[..31]), None);
        assert_eq!(parse(&[]), None);
    }
}
