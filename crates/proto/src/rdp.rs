//! RDP: TPKT (RFC 1006) and the X.224 Connection Request with its cookie
//! (`Cookie: mstshash=<user>`) and RDP negotiation request (MS-RDPBCGR
//! 2.2.1.1), the server's Connection Confirm (selected protocol or
//! failure), and, with standard RDP security (no TLS), the MCS Connect
//! Initial's GCC Client Core Data (2.2.1.3.2): client name, build and
//! keyboard layout.

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::Ctx;
use crate::reader::{Incomplete, Reader};

const TPKT_VERSION: u8 = 3;
const X224_CONNECTION_REQUEST: u8 = 0xe0;
const X224_CONNECTION_CONFIRM: u8 = 0xd0;
const X224_DATA: u8 = 0xf0;
const NEG_REQ: u8 = 1;
const NEG_RSP: u8 = 2;
const NEG_FAILURE: u8 = 3;
/// GCC user data block type of the Client Core Data.
const CS_CORE: u16 = 0xc001;
/// TPKT's length field is 16 bits; a Connection Request is small.
const MAX_CR: usize = 1024;

/// An RDP decoding failure.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// Not a TPKT header (version 3, reserved 0, length ≥ 7).
    #[error("not a TPKT header at offset {offset}")]
    NotTpkt { offset: usize },
    /// The TPDU is not the one expected.
    #[error("X.224 TPDU code {code:#04x} at offset {offset}, expected {expected:#04x}")]
    UnexpectedTpdu { offset: usize, code: u8, expected: u8 },
    /// A field that contradicts its framing.
    #[error("malformed {field} at offset {offset}")]
    Malformed { field: &'static str, offset: usize },
}

/// Security protocols of the negotiation (bit flags, MS-RDPBCGR 2.2.1.1.1).
pub mod protocol {
    pub const RDP: u32 = 0;
    pub const SSL: u32 = 1;
    pub const HYBRID: u32 = 2;
    pub const RDSTLS: u32 = 4;
    pub const HYBRID_EX: u32 = 8;
    pub const RDSAAD: u32 = 16;
}

/// The client's X.224 Connection Request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionRequest {
    /// The user name of `Cookie: mstshash=<user>` (as typed, often cut to
    /// 9 characters by the client), or the whole token after `Cookie: `
    /// for other cookies (load-balancer routing tokens).
    pub cookie: Option<String>,
    /// RDP_NEG_REQ requestedProtocols, if present.
    pub requested_protocols: Option<u32>,
}

/// The server's X.224 Connection Confirm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionConfirm {
    /// No negotiation response: standard RDP security.
    Legacy,
    /// RDP_NEG_RSP: the protocol chosen.
    Selected(u32),
    /// RDP_NEG_FAILURE: the failure code.
    Failure(u32),
}

/// GCC Client Core Data fields kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCore {
    /// `versionMajor` in the high 16 bits, minor in the low (0x00080004 is
    /// RDP 5.0 and later).
    pub version: u32,
    pub desktop_width: u16,
    pub desktop_height: u16,
    /// Windows keyboard layout (1033 = en-US).
    pub keyboard_layout: u32,
    pub client_build: u32,
    pub client_name: String,
}

/// One TPKT packet: the TPDU inside it. `Ok(None)` while incomplete.
fn tpkt<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, Error> {
    let offset = r.offset();
    let Ok(header) = r.peek(4) else {
        // Judge what is there already.
        let b = r.rest();
        if b.first().is_some_and(|&v| v != TPKT_VERSION) || b.get(1).is_some_and(|&v| v != 0) {
            return Err(Error::NotTpkt { offset });
        }
        return Ok(None);
    };
    let [v, reserved, l0, l1] = <[u8; 4]>::try_from(header).unwrap_or([0; 4]);
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if v != TPKT_VERSION || reserved != 0 || len < 7 {
        return Err(Error::NotTpkt { offset });
    }
    if r.remaining() < len {
        return Ok(None);
    }
    r.skip(4)?;
    Ok(Some(r.take(len - 4)?))
}

/// Parses the Connection Request at the start of the client's bytes.
/// `Ok(None)` while incomplete.
pub fn parse_connection_request(
    client: &[u8],
) -> Result<Option<(ConnectionRequest, usize)>, Error> {
    let mut r = Reader::new(client);
    // Reject early on the TPDU code when it is visible.
    if let Some(&code) = client.get(5).filter(|&&c| c != X224_CONNECTION_REQUEST) {
        return Err(Error::UnexpectedTpdu { offset: 5, code, expected: X224_CONNECTION_REQUEST });
    }
    if client
        .get(2..4)
        .and_then(|l| <[u8; 2]>::try_from(l).ok())
        .is_some_and(|l| usize::from(u16::from_be_bytes(l)) > MAX_CR)
    {
        return Err(Error::Malformed { field: "TPKT length", offset: 2 });
    }
    let Some(tpdu) = tpkt(&mut r)? else { return Ok(None) };
    let mut t = Reader::new(tpdu);
    let li = usize::from(t.u8()?);
    if li + 1 != tpdu.len() || li < 6 {
        return Err(Error::Malformed { field: "X.224 length indicator", offset: 4 });
    }
    t.skip(1)?; // code, checked above
    t.skip(5)?; // dst-ref, src-ref, class
    let mut rest = t.rest();
    let mut cr = ConnectionRequest::default();
    if let Some(after) = rest.strip_prefix(b"Cookie: ") {
        let end = after
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(Error::Malformed { field: "cookie", offset: 11 })?;
        let token = after.get(..end).unwrap_or_default();
        let token = String::from_utf8_lossy(token);
        cr.cookie = Some(token.strip_prefix("mstshash=").unwrap_or(&token).to_owned());
        rest = after.get(end + 2..).unwrap_or_default();
    }
    let mut n = Reader::new(rest);
    if n.peek(1) == Ok(&[NEG_REQ]) && n.remaining() >= 8 {
        n.skip(2)?;
        let len = n.u16_le()?;
        if len != 8 {
            return Err(Error::Malformed {
                field: "RDP_NEG_REQ length",
                offset: client.len() - rest.len() + 2,
            });
        }
        cr.requested_protocols = Some(n.u32_le()?);
    }
    Ok(Some((cr, r.offset())))
}

/// Parses the server's Connection Confirm. `Ok(None)` while incomplete.
pub fn parse_connection_confirm(server: &[u8]) -> Result<Option<ConnectionConfirm>, Error> {
    let mut r = Reader::new(server);
    let Some(tpdu) = tpkt(&mut r)? else { return Ok(None) };
    let mut t = Reader::new(tpdu);
    t.u8()?;
    let code = t.u8()?;
    if code & 0xf0 != X224_CONNECTION_CONFIRM {
        return Err(Error::UnexpectedTpdu { offset: 5, code, expected: X224_CONNECTION_CONFIRM });
    }
    t.skip(5)?;
    if t.remaining() < 8 {
        return Ok(Some(ConnectionConfirm::Legacy));
    }
    let ty = t.u8()?;
    t.skip(3)?; // flags, length
    let value = t.u32_le()?;
    Ok(Some(match ty {
        NEG_RSP => ConnectionConfirm::Selected(value),
        NEG_FAILURE => ConnectionConfirm::Failure(value),
        _ => return Err(Error::Malformed { field: "negotiation response type", offset: 11 }),
    }))
}

/// Finds the GCC Client Core Data in an MCS Connect Initial TPDU (X.224
/// data). The BER/PER wrapping is skipped by looking for the block header
/// (`0xc001`, a length of at least 132, a known version) inside it.
pub fn find_client_core(tpdu: &[u8]) -> Option<ClientCore> {
    let data = tpdu.strip_prefix(&[0x02, X224_DATA, 0x80])?;
    // MCS Connect-Initial is BER application tag 101: 0x7f 0x65.
    if !data.starts_with(&[0x7f, 0x65]) {
        return None;
    }
    let header = CS_CORE.to_le_bytes();
    let mut from = 0;
    while let Some(pos) = data.get(from..)?.windows(2).position(|w| w == header) {
        let at = from + pos;
        from = at + 1;
        let block = data.get(at..)?;
        let mut r = Reader::new(block);
        r.skip(2).ok()?;
        let len = usize::from(r.u16_le().ok()?);
        if len < 132 || len > block.len() {
            continue;
        }
        let version = r.u32_le().ok()?;
        if version >> 16 != 8 {
            continue;
        }
        let desktop_width = r.u16_le().ok()?;
        let desktop_height = r.u16_le().ok()?;
        r.skip(4).ok()?; // colorDepth, SASSequence
        let keyboard_layout = r.u32_le().ok()?;
        let client_build = r.u32_le().ok()?;
        let name = r.take(32).ok()?;
        let units: Vec<u16> = name
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .take_while(|&u| u != 0)
            .collect();
        let client_name = String::from_utf16_lossy(&units);
        return Some(ClientCore {
            version,
            desktop_width,
            desktop_height,
            keyboard_layout,
            client_build,
            client_name,
        });
    }
    None
}

/// TCP probe: the client's Connection Request says yes (TPKT, X.224 CR);
/// the cookie and the Client Core Data (standard security only) give
/// facts. `more` until the core data is read or the server chose TLS or
/// CredSSP (then it is encrypted), or refused.
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let (cr, cr_end) = match parse_connection_request(client) {
        Ok(Some(x)) => x,
        Ok(None) => return Verdict::NeedMore,
        Err(_) => return Verdict::No,
    };
    let mut facts = Vec::new();
    if let Some(cookie) = &cr.cookie {
        facts.extend(Fact::new(Subject::Client, FactKey::RdpCookie, cookie));
    }
    let mut more = true;
    match parse_connection_confirm(server) {
        Ok(Some(ConnectionConfirm::Selected(p))) if p != protocol::RDP => more = false,
        Ok(Some(ConnectionConfirm::Failure(_))) | Err(_) => more = false,
        _ => {}
    }
    let mut r = Reader::new(client.get(cr_end..).unwrap_or_default());
    if let Ok(Some(tpdu)) = tpkt(&mut r) {
        if let Some(core) = find_client_core(tpdu) {
            facts.extend(Fact::new(Subject::Client, FactKey::RdpClientName, &core.client_name));
            facts.extend(Fact::new(Subject::Client, FactKey::Hostname, &core.client_name));
            facts.extend(Fact::new(
                Subject::Client,
                FactKey::RdpClientBuild,
                &core.client_build.to_string(),
            ));
        }
        // The client's second packet is the MCS Connect Initial or nothing
        // in clear.
        more = false;
    }
    Verdict::Yes { app: App::Rdp, facts, more }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_rdp_is_refused_early() {
        let ctx = Ctx { client_port: 40000, server_port: 3389 };
        assert_eq!(probe_stream(&ctx, b"\x16\x03\x01", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, b"\x03\x00\x00\x13\x0e\xd0", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, b"\x03\x00", b""), Verdict::NeedMore);
        assert_eq!(probe_stream(&ctx, b"\x03\x00\xff\xff", b""), Verdict::No);
    }
}
