//! VNC (RFB, RFC 6143): the ProtocolVersion handshake. The server speaks
//! first with `RFB xxx.yyy\n` (12 bytes), the client answers with the
//! version it will use. Some versions name the implementation: `003.889`
//! is Apple Remote Desktop, `004.000`/`004.001`/`005.000` are RealVNC's.

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::Ctx;

/// The ProtocolVersion message's length.
pub const VERSION_LEN: usize = 12;
const TEMPLATE: &[u8; VERSION_LEN] = b"RFB 000.000\n";

/// Checks `bytes` against the ProtocolVersion template (digits where the
/// template has `0`). `Some(true)` when a whole, valid message is there,
/// `Some(false)` for a valid prefix, `None` when it cannot be one.
fn check(bytes: &[u8]) -> Option<bool> {
    for (i, &b) in bytes.iter().take(VERSION_LEN).enumerate() {
        let t = *TEMPLATE.get(i)?;
        let ok = if t == b'0' { b.is_ascii_digit() } else { b == t };
        if !ok {
            return None;
        }
    }
    Some(bytes.len() >= VERSION_LEN)
}

/// The version string (`003.008`) of a complete ProtocolVersion message.
pub fn parse_version(bytes: &[u8]) -> Option<&str> {
    if check(bytes)? { std::str::from_utf8(bytes.get(4..11)?).ok() } else { None }
}

/// The vendor a version names, if any.
pub fn vendor_of(version: &str) -> Option<&'static str> {
    match version {
        "003.889" => Some("Apple"),
        "004.000" | "004.001" | "005.000" => Some("RealVNC"),
        _ => None,
    }
}

fn side_facts(who: Subject, version: &str, out: &mut Vec<Fact>) {
    out.extend(Fact::new(who, FactKey::VncVersion, version));
    out.extend(Fact::new(who, FactKey::Product, "VNC"));
    if let Some(v) = vendor_of(version) {
        out.extend(Fact::new(who, FactKey::Vendor, v));
    }
}

/// TCP probe: the server's ProtocolVersion says yes; the client's answer
/// completes the facts (`more` until then).
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let Some(server_whole) = check(server) else { return Verdict::No };
    // The client must not speak first, and answers in the same format.
    let client_state = check(client);
    if client_state.is_none() || (!server_whole && !client.is_empty()) {
        return Verdict::No;
    }
    let Some(sv) = parse_version(server) else { return Verdict::NeedMore };
    let mut facts = Vec::new();
    side_facts(Subject::Server, sv, &mut facts);
    let cv = parse_version(client);
    if let Some(cv) = cv {
        side_facts(Subject::Client, cv, &mut facts);
    }
    Verdict::Yes { app: App::Vnc, facts, more: cv.is_none() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template() {
        assert_eq!(check(b"RFB 003.008\n"), Some(true));
        assert_eq!(check(b"RFB 00"), Some(false));
        assert_eq!(check(b"RFB 0x3"), None);
        assert_eq!(check(b"SSH-2.0"), None);
        assert_eq!(parse_version(b"RFB 003.889\n"), Some("003.889"));
        assert_eq!(vendor_of("003.889"), Some("Apple"));
    }
}
