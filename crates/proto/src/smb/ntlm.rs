//! NTLMSSP messages (MS-NLMP 2.2.1): names only. The NEGOTIATE and
//! CHALLENGE messages' target information names the server (NetBIOS and
//! DNS computer and domain names, OS version); the AUTHENTICATE message
//! names the client's workstation, domain and user. Challenge responses
//! (password hashes) are never read into any type.

use crate::reader::Reader;

/// The signature every NTLMSSP message starts with.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
const NEGOTIATE_VERSION: u32 = 0x0200_0000;

/// An NTLMSSP message's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Type 1.
    Negotiate { flags: u32 },
    /// Type 2: the server's names.
    Challenge(Challenge),
    /// Type 3: the client's names.
    Authenticate(Authenticate),
}

/// What a CHALLENGE says about the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    pub flags: u32,
    pub target_name: Option<String>,
    pub nb_computer: Option<String>,
    pub nb_domain: Option<String>,
    pub dns_computer: Option<String>,
    pub dns_domain: Option<String>,
    pub dns_tree: Option<String>,
    /// OS major, minor, build (when NEGOTIATE_VERSION is set).
    pub os_version: Option<(u8, u8, u16)>,
}

/// What an AUTHENTICATE says about the client. No response field is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authenticate {
    pub flags: u32,
    pub domain: Option<String>,
    pub user: Option<String>,
    pub workstation: Option<String>,
}

/// A (length, max length, offset) field, read from `msg` (offsets are from
/// the signature).
fn field(msg: &[u8], at: usize) -> Option<&[u8]> {
    let mut r = Reader::new(msg.get(at..)?);
    let len = usize::from(r.u16_le().ok()?);
    r.u16_le().ok()?;
    let off = usize::try_from(r.u32_le().ok()?).ok()?;
    msg.get(off..off.checked_add(len)?)
}

fn text(bytes: &[u8], unicode: bool) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let s = if unicode {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    };
    Some(s)
}

/// Parses the NTLMSSP message at the start of `msg`. `None` when it is not
/// one or its fields point outside it.
pub fn parse(msg: &[u8]) -> Option<Message> {
    let mut r = Reader::new(msg);
    if r.take(8).ok()? != SIGNATURE {
        return None;
    }
    match r.u32_le().ok()? {
        1 => Some(Message::Negotiate { flags: r.u32_le().ok()? }),
        2 => {
            let flags = u32::from_le_bytes(msg.get(20..24)?.try_into().ok()?);
            let unicode = flags & NEGOTIATE_UNICODE != 0;
            let mut c = Challenge { flags, ..Challenge::default() };
            c.target_name = field(msg, 12).and_then(|b| text(b, unicode));
            if let Some(info) = field(msg, 40) {
                let mut a = Reader::new(info);
                while let (Ok(id), Ok(len)) = (a.u16_le(), a.u16_le()) {
                    let Ok(value) = a.take(usize::from(len)) else { break };
                    let slot = match id {
                        0 => break,
                        1 => &mut c.nb_computer,
                        2 => &mut c.nb_domain,
                        3 => &mut c.dns_computer,
                        4 => &mut c.dns_domain,
                        5 => &mut c.dns_tree,
                        _ => continue,
                    };
                    *slot = text(value, true);
                }
            }
            if flags & NEGOTIATE_VERSION != 0 {
                let v = msg.get(48..52)?;
                if let [major, minor, b0, b1] = *v {
                    c.os_version = Some((major, minor, u16::from_le_bytes([b0, b1])));
                }
            }
            Some(Message::Challenge(c))
        }
        3 => {
            let flags = u32::from_le_bytes(msg.get(60..64)?.try_into().ok()?);
            let unicode = flags & NEGOTIATE_UNICODE != 0;
            Some(Message::Authenticate(Authenticate {
                flags,
                domain: field(msg, 28).and_then(|b| text(b, unicode)),
                user: field(msg, 36).and_then(|b| text(b, unicode)),
                workstation: field(msg, 44).and_then(|b| text(b, unicode)),
            }))
        }
        _ => None,
    }
}

/// Finds and parses the first NTLMSSP message inside `buf` (an SPNEGO
/// token, an SMB1 security blob, an HTTP `Authorization` value decoded).
pub fn find(buf: &[u8]) -> Option<Message> {
    let at = buf.windows(SIGNATURE.len()).position(|w| w == SIGNATURE)?;
    parse(buf.get(at..)?)
}
