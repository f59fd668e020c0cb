//! SMB over NetBIOS session service (tcp/139) or direct TCP (tcp/445):
//! NBSS framing, the NetBIOS session request's names, SMB1 and SMB2
//! NEGOTIATE (the dialect chosen), and the NTLMSSP messages inside SESSION
//! SETUP ([`ntlm`]): the server's NetBIOS/DNS names from the CHALLENGE, the
//! client's workstation, domain and user from the AUTHENTICATE. Passwords
//! and hashes are never read.

pub mod ntlm;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::Ctx;
use crate::reader::Reader;

/// NBSS message types.
const NBSS_SESSION_MESSAGE: u8 = 0x00;
const NBSS_SESSION_REQUEST: u8 = 0x81;
const NBSS_POSITIVE_RESPONSE: u8 = 0x82;
const NBSS_NEGATIVE_RESPONSE: u8 = 0x83;
const NBSS_KEEPALIVE: u8 = 0x85;
/// NBSS lengths are 17 bits.
const NBSS_MAX: usize = 0x1_ffff;
/// Messages read per direction (negotiate, session setup rounds).
const MAX_MESSAGES: usize = 8;

const SMB1_NEGOTIATE: u8 = 0x72;
const SMB2_NEGOTIATE: u16 = 0x0000;
const SMB2_SESSION_SETUP: u16 = 0x0001;

/// An SMB message's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `\xffSMB`.
    Smb1,
    /// `\xfeSMB`.
    Smb2,
    /// `\xfdSMB`: SMB 3 encrypted (transform header).
    Smb3Encrypted,
    /// `\xfcSMB`: SMB 3.1.1 compressed.
    Smb3Compressed,
}

impl Protocol {
    fn of(msg: &[u8]) -> Option<Protocol> {
        match msg.get(..4)? {
            b"\xffSMB" => Some(Protocol::Smb1),
            b"\xfeSMB" => Some(Protocol::Smb2),
            b"\xfdSMB" => Some(Protocol::Smb3Encrypted),
            b"\xfcSMB" => Some(Protocol::Smb3Compressed),
            _ => None,
        }
    }
}

/// The name of an SMB2 dialect revision.
pub fn dialect_name(d: u16) -> Option<&'static str> {
    Some(match d {
        0x0202 => "SMB 2.0.2",
        0x0210 => "SMB 2.1",
        0x02ff => "SMB 2.???",
        0x0300 => "SMB 3.0",
        0x0302 => "SMB 3.0.2",
        0x0311 => "SMB 3.1.1",
        _ => return None,
    })
}

/// One NBSS frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: u8,
    pub body: &'a [u8],
}

/// Splits a direction into complete NBSS frames (at most `max`). The
/// second value says whether the bytes stayed NBSS-shaped (a partial
/// trailing frame is fine).
pub fn frames(bytes: &[u8], max: usize) -> (Vec<Frame<'_>>, bool) {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while out.len() < max {
        let Ok(header) = r.peek(4) else {
            let kind_ok = r.rest().first().is_none_or(|k| is_nbss_kind(*k));
            let flags_ok = r.rest().get(1).is_none_or(|f| f & 0xfe == 0);
            return (out, kind_ok && flags_ok);
        };
        let [kind, flags, l0, l1] = <[u8; 4]>::try_from(header).unwrap_or([0xff; 4]);
        if !is_nbss_kind(kind) || flags & 0xfe != 0 {
            return (out, false);
        }
        let len = usize::from(flags & 1) << 16 | usize::from(u16::from_be_bytes([l0, l1]));
        if len > NBSS_MAX {
            return (out, false);
        }
        if r.remaining() < 4 + len {
            break;
        }
        let _ = r.skip(4);
        let Ok(body) = r.take(len) else { break };
        out.push(Frame { kind, body });
    }
    (out, true)
}

fn is_nbss_kind(k: u8) -> bool {
    matches!(
        k,
        NBSS_SESSION_MESSAGE
            | NBSS_SESSION_REQUEST
            | NBSS_POSITIVE_RESPONSE
            | NBSS_NEGATIVE_RESPONSE
            | NBSS_KEEPALIVE
            | 0x84
    )
}

/// Decodes a first-level encoded NetBIOS name (RFC 1001 14.1): 32
/// half-byte letters, trailing spaces and the suffix byte dropped.
fn netbios_name(encoded: &[u8]) -> Option<String> {
    if encoded.len() != 32 {
        return None;
    }
    let bytes: Option<Vec<u8>> = encoded
        .chunks_exact(2)
        .map(|p| match p {
            [a @ b'A'..=b'P', b @ b'A'..=b'P'] => Some(((a - b'A') << 4) | (b - b'A')),
            _ => None,
        })
        .collect();
    let bytes = bytes?;
    let name = bytes.get(..15)?;
    Some(String::from_utf8_lossy(name).trim_end().to_owned())
}

/// The called (server) and calling (client) names of a session request.
pub fn session_request_names(body: &[u8]) -> Option<(String, String)> {
    let mut r = Reader::new(body);
    let mut name = || -> Option<String> {
        if r.u8().ok()? != 0x20 {
            return None;
        }
        let n = netbios_name(r.take(32).ok()?)?;
        // Scope: labels until a zero length.
        loop {
            let l = r.u8().ok()?;
            if l == 0 {
                break;
            }
            r.skip(usize::from(l)).ok()?;
        }
        Some(n)
    };
    let called = name()?;
    let calling = name()?;
    Some((called, calling))
}

/// SMB1 NEGOTIATE request: the dialect strings offered.
fn smb1_dialects(msg: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader::new(msg.get(32..)?);
    let wc = r.u8().ok()?;
    r.skip(usize::from(wc) * 2).ok()?;
    let bc = usize::from(r.u16_le().ok()?);
    let bytes = r.take(bc).ok()?;
    Some(
        bytes
            .split(|&b| b == 0)
            .filter_map(|d| d.strip_prefix(&[0x02]))
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect(),
    )
}

/// The SMB2 security buffer of a NEGOTIATE or SESSION_SETUP message
/// (offsets from the SMB2 header).
fn smb2_security_buffer(msg: &[u8], command: u16, response: bool) -> Option<&[u8]> {
    let at = match (command, response) {
        (SMB2_NEGOTIATE, true) => 64 + 56,
        (SMB2_SESSION_SETUP, false) => 64 + 12,
        (SMB2_SESSION_SETUP, true) => 64 + 4,
        _ => return None,
    };
    let mut r = Reader::new(msg.get(at..)?);
    let off = usize::from(r.u16_le().ok()?);
    let len = usize::from(r.u16_le().ok()?);
    msg.get(off..off.checked_add(len)?)
}

/// Facts from one side's messages. `done` once an NTLM AUTHENTICATE (client)
/// or a session setup answer after a CHALLENGE (server) has been read.
#[derive(Default)]
struct SideState {
    facts: Vec<Fact>,
    smb: bool,
    offered_smb1: Vec<String>,
    done: bool,
}

fn ntlm_facts(m: &ntlm::Message, out: &mut Vec<Fact>) -> bool {
    match m {
        ntlm::Message::Negotiate { .. } => false,
        ntlm::Message::Challenge(c) => {
            let s = Subject::Server;
            if let Some(n) = &c.nb_computer {
                out.extend(Fact::new(s, FactKey::NetbiosName, n));
            }
            if let Some(n) = &c.dns_computer {
                out.extend(Fact::new(s, FactKey::DnsName, n));
            }
            for d in [&c.nb_domain, &c.dns_domain].into_iter().flatten() {
                out.extend(Fact::new(s, FactKey::Domain, d));
            }
            if let Some((major, minor, build)) = c.os_version {
                out.extend(Fact::new(s, FactKey::OsVersion, &format!("{major}.{minor}.{build}")));
            }
            true
        }
        ntlm::Message::Authenticate(a) => {
            let s = Subject::Client;
            if let Some(w) = &a.workstation {
                out.extend(Fact::new(s, FactKey::NtlmHost, w));
                out.extend(Fact::new(s, FactKey::Hostname, w));
            }
            if let Some(d) = &a.domain {
                out.extend(Fact::new(s, FactKey::NtlmDomain, d));
            }
            if let Some(u) = &a.user {
                out.extend(Fact::new(s, FactKey::NtlmUser, u));
            }
            true
        }
    }
}

fn read_side(bytes: &[u8], is_server: bool, offered: &[String]) -> Option<SideState> {
    let (frames, shaped) = frames(bytes, MAX_MESSAGES);
    if !shaped {
        return None;
    }
    let mut st = SideState::default();
    for f in frames {
        match f.kind {
            NBSS_SESSION_REQUEST if !is_server => {
                let (called, calling) = session_request_names(f.body)?;
                st.facts.extend(Fact::new(Subject::Server, FactKey::NetbiosName, &called));
                st.facts.extend(Fact::new(Subject::Client, FactKey::NetbiosName, &calling));
                continue;
            }
            NBSS_SESSION_MESSAGE => {}
            _ => continue,
        }
        let msg = f.body;
        match Protocol::of(msg)? {
            Protocol::Smb1 => {
                st.smb = true;
                let command = *msg.get(4)?;
                let response = msg.get(9).is_some_and(|f| f & 0x80 != 0);
                if command == SMB1_NEGOTIATE && !response {
                    st.offered_smb1 = smb1_dialects(msg).unwrap_or_default();
                } else if command == SMB1_NEGOTIATE && response {
                    let idx = msg
                        .get(33..35)
                        .and_then(|b| <[u8; 2]>::try_from(b).ok())
                        .map(u16::from_le_bytes);
                    if let Some(d) = idx.and_then(|i| offered.get(usize::from(i))) {
                        st.facts.extend(Fact::new(Subject::Server, FactKey::SmbDialect, d));
                    }
                }
                if let Some(m) = ntlm::find(msg.get(32..).unwrap_or_default()) {
                    st.done |= ntlm_facts(&m, &mut st.facts);
                }
            }
            Protocol::Smb2 => {
                st.smb = true;
                let mut r = Reader::new(msg);
                r.skip(12).ok()?;
                let command = r.u16_le().ok()?;
                r.skip(2).ok()?;
                let flags = r.u32_le().ok()?;
                let response = flags & 1 != 0;
                if command == SMB2_NEGOTIATE && response {
                    let d = msg
                        .get(64 + 4..64 + 6)
                        .and_then(|b| <[u8; 2]>::try_from(b).ok())
                        .map(u16::from_le_bytes);
                    if let Some(d) = d {
                        let name =
                            dialect_name(d).map_or_else(|| format!("SMB2 {d:#06x}"), str::to_owned);
                        st.facts.extend(Fact::new(Subject::Server, FactKey::SmbDialect, &name));
                    }
                }
                if let Some(m) = smb2_security_buffer(msg, command, response).and_then(ntlm::find) {
                    st.done |= ntlm_facts(&m, &mut st.facts);
                }
            }
            // Encrypted or compressed: nothing more in clear.
            Protocol::Smb3Encrypted | Protocol::Smb3Compressed => {
                st.smb = true;
                st.done = true;
            }
        }
    }
    Some(st)
}

/// TCP probe: SMB from the client's first NBSS frame (a session request,
/// or a session message carrying an SMB1/SMB2 header). `more` until the
/// client's NTLM AUTHENTICATE has been read.
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let Some(c) = read_side(client, false, &[]) else { return Verdict::No };
    // The first message must be visible and SMB (or a session request).
    let first_kind = client.first().copied();
    if !c.smb && first_kind != Some(NBSS_SESSION_REQUEST) {
        // Judge a partial first message's protocol as soon as it shows.
        if let Some(p) = client.get(4..client.len().min(8)) {
            let ok = [&b"\xffSMB"[..], b"\xfeSMB", b"\xfdSMB", b"\xfcSMB"]
                .iter()
                .any(|s| s.starts_with(p));
            if !ok || first_kind != Some(NBSS_SESSION_MESSAGE) {
                return Verdict::No;
            }
        }
        if c.facts.is_empty() {
            return Verdict::NeedMore;
        }
    }
    let s = read_side(server, true, &c.offered_smb1);
    let mut facts = c.facts;
    if let Some(s) = s {
        facts.extend(s.facts);
    }
    Verdict::Yes { app: App::Smb, facts, more: !c.done }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netbios_names_decode() {
        assert_eq!(netbios_name(b"EGFCEFEECACACACACACACACACACACAAA").as_deref(), Some("FRED"));
        assert_eq!(netbios_name(b"EGFC"), None);
    }

    #[test]
    fn non_smb_is_refused() {
        let ctx = Ctx { client_port: 40000, server_port: 445 };
        assert_eq!(probe_stream(&ctx, b"\x00\x00\x00\x10\xfeSM", b""), Verdict::NeedMore);
        assert_eq!(probe_stream(&ctx, b"\x00\x00\x00\x10GET ", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, b"GET / HTTP/1.1", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, b"", b""), Verdict::NeedMore);
    }
}
