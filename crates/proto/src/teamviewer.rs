//! TeamViewer: its own framing on tcp/5938 (also tunnelled over 80/443 when
//! 5938 is blocked) and its UDP transport, after nDPI's signatures.
//!
//! - TCP: every message starts with the magic `17 24` (the client's
//!   commands) or `11 30` (the master/router protocol's answers). The
//!   client's first bytes `17 24` decide with the port hint 5938; without
//!   it the server must answer `17 24` or `11 30` as well.
//! - UDP: bytes 11-12 are `17 24`. nDPI counts four such datagrams (or
//!   wants the port); a stateless probe instead asks for the start of a
//!   session: byte 0 (a counter) and bytes 1-7 zero, which with the magic
//!   is 80 fixed bits. Later datagrams (counter advanced) need the port hint
//!   or a flow already identified.

use crate::facts::{App, Verdict};
use crate::identify::{Ctx, Side};

const MAGIC_CMD: [u8; 2] = [0x17, 0x24];
const MAGIC_MASTER: [u8; 2] = [0x11, 0x30];
const PORT: u16 = 5938;

/// Whether `bytes` starts (or could start) with one of `magics`:
/// `Some(true)` whole match, `Some(false)` a prefix of one, `None` no.
fn starts_with_magic(bytes: &[u8], magics: &[[u8; 2]]) -> Option<bool> {
    let n = bytes.len().min(2);
    let head = bytes.get(..n)?;
    magics.iter().any(|m| m.get(..n) == Some(head)).then_some(n == 2)
}

/// TCP probe.
pub fn probe_stream(ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    match starts_with_magic(client, &[MAGIC_CMD]) {
        None => return Verdict::No,
        Some(false) => return Verdict::NeedMore,
        Some(true) => {}
    }
    if ctx.either_port(&[PORT]) {
        return Verdict::bare(App::TeamViewer);
    }
    match starts_with_magic(server, &[MAGIC_CMD, MAGIC_MASTER]) {
        None => Verdict::No,
        Some(true) if !server.is_empty() => Verdict::bare(App::TeamViewer),
        Some(_) => Verdict::NeedMore,
    }
}

/// UDP probe.
pub fn probe_datagram(ctx: &Ctx, _side: Side, payload: &[u8]) -> Verdict {
    if payload.len() <= 13 || payload.get(11..13) != Some(&MAGIC_CMD[..]) {
        return Verdict::No;
    }
    let session_start = payload.get(..8).is_some_and(|h| h.iter().all(|&b| b == 0));
    if session_start || ctx.either_port(&[PORT]) {
        Verdict::bare(App::TeamViewer)
    } else {
        Verdict::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_prefixes() {
        assert_eq!(starts_with_magic(b"", &[MAGIC_CMD]), Some(false));
        assert_eq!(starts_with_magic(&[0x17], &[MAGIC_CMD]), Some(false));
        assert_eq!(starts_with_magic(&[0x17, 0x24, 9], &[MAGIC_CMD]), Some(true));
        assert_eq!(starts_with_magic(&[0x16, 0x03], &[MAGIC_CMD]), None);
    }
}
