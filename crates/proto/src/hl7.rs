//! HL7 v2 over MLLP (`0x0b` message `0x1c 0x0d`), or bare over TCP.
//!
//! **Only the MSH segment is read**: sending and receiving application and
//! facility (MSH-3..6), message type (MSH-9) and version (MSH-12). The
//! parser stops at the end of MSH; PID, OBX and every other segment (where
//! patient data lives) are skipped without being looked at, apart from the
//! scan for the MLLP end-of-block byte that finds the next message. [`Msh`]
//! has no field that could hold a patient attribute.

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::Ctx;
use crate::reader::Incomplete;

/// MLLP start of block.
const SB: u8 = 0x0b;
/// MLLP end of block (followed by a carriage return).
const EB: u8 = 0x1c;
/// The longest MSH segment read; a longer one is cut there.
pub const MAX_MSH: usize = 2048;
/// The most messages a probe reads per side.
const MAX_MESSAGES: usize = 32;

/// Why bytes are not an HL7 v2 message header.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    /// The MSH segment has not ended yet.
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// The message does not start with `MSH` and a field separator.
    #[error("not an HL7 v2 message header at offset {offset}")]
    NotMsh { offset: usize },
}

/// The envelope of one HL7 v2 message: MSH-3..6, 9 and 12, first component
/// of each (MSH-9 as `type^trigger`). Empty fields are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msh {
    pub sending_application: Option<String>,
    pub sending_facility: Option<String>,
    pub receiving_application: Option<String>,
    pub receiving_facility: Option<String>,
    /// Message type and trigger event, e.g. `ADT^A01`, or `ACK`.
    pub message_type: Option<String>,
    /// e.g. `2.5`.
    pub version: Option<String>,
}

/// Parses the MSH segment at the start of `message` (after any MLLP start
/// byte). Reads up to the segment terminator (CR, LF, or the MLLP end
/// byte) and no further; a segment longer than [`MAX_MSH`] is cut there.
pub fn parse_msh(message: &[u8]) -> Result<Msh, Error> {
    let sep = header_sep(message)?;
    let window = message.get(..MAX_MSH).unwrap_or(message);
    let end = window.iter().position(|b| matches!(*b, b'\r' | b'\n' | EB));
    let segment = match end {
        Some(e) => window.get(..e).unwrap_or_default(),
        None if window.len() == MAX_MSH => window,
        None => {
            return Err(Incomplete { offset: message.len(), needed: 1 }.into());
        }
    };
    // fields[n] is MSH-(n+1): MSH-1 is the separator itself, so the split
    // starts at MSH-2 after the segment name.
    let mut fields: [&[u8]; 13] = [&[]; 13];
    for (slot, f) in fields.iter_mut().skip(1).zip(segment.split(|b| *b == sep).skip(1)) {
        *slot = f;
    }
    let [
        _,
        encoding,
        sending_app,
        sending_fac,
        receiving_app,
        receiving_fac,
        _time,
        _security,
        msg_type,
        _control,
        _processing,
        version,
        _,
    ] = fields;
    let component = encoding.first().copied().unwrap_or(b'^');
    let sending_application = first_component(sending_app, component);
    let sending_facility = first_component(sending_fac, component);
    let receiving_application = first_component(receiving_app, component);
    let receiving_facility = first_component(receiving_fac, component);
    let version = first_component(version, component);
    let mut parts = msg_type.split(|b| *b == component);
    let message_type = match (parts.next().map(text), parts.next().map(text)) {
        (Some(Some(t)), Some(Some(e))) => Some(format!("{t}^{e}")),
        (Some(Some(t)), _) => Some(t),
        _ => None,
    };
    Ok(Msh {
        sending_application,
        sending_facility,
        receiving_application,
        receiving_facility,
        message_type,
        version,
    })
}

/// Checks `MSH` + field separator + encoding characters + separator at the
/// start of `m` and returns the field separator. `Incomplete` while a
/// prefix is consistent with that.
fn header_sep(m: &[u8]) -> Result<u8, Error> {
    for (i, want) in b"MSH".iter().enumerate() {
        match m.get(i) {
            None => {
                return Err(Incomplete { offset: m.len(), needed: 3 - i }.into());
            }
            Some(b) if b != want => return Err(Error::NotMsh { offset: i }),
            Some(_) => {}
        }
    }
    let Some(&sep) = m.get(3) else {
        return Err(Incomplete { offset: 3, needed: 1 }.into());
    };
    if sep.is_ascii_alphanumeric() || !sep.is_ascii_graphic() {
        return Err(Error::NotMsh { offset: 3 });
    }
    // MSH-2: 2 to 5 encoding characters, then the separator again.
    for i in 4..=9 {
        match m.get(i) {
            None => {
                return Err(Incomplete { offset: i, needed: 1 }.into());
            }
            Some(&b) if b == sep && i >= 6 => return Ok(sep),
            Some(&b) if b.is_ascii_graphic() && !b.is_ascii_alphanumeric() && b != sep && i < 9 => {
            }
            Some(_) => return Err(Error::NotMsh { offset: i }),
        }
    }
    Err(Error::NotMsh { offset: 9 })
}

fn first_component(field: &[u8], component: u8) -> Option<String> {
    field.split(|b| *b == component).next().and_then(text)
}

fn text(raw: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// What one side's bytes hold.
enum Side {
    No,
    NeedMore,
    /// The headers of the messages whose MSH segment is complete.
    Hl7(Vec<Msh>),
}

/// Reads the MSH of each message in one direction's bytes.
fn side(bytes: &[u8]) -> Side {
    let mut rest = bytes;
    let mut out = Vec::new();
    for _ in 0..MAX_MESSAGES {
        // Between messages: the MLLP trailer's CR, stray line ends.
        let start = rest.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(rest.len());
        rest = rest.get(start..).unwrap_or_default();
        let (framed, msg) = match rest.split_first() {
            None => break,
            Some((&SB, m)) => (true, m),
            Some(_) => (false, rest),
        };
        match parse_msh(msg) {
            Ok(h) => out.push(h),
            Err(Error::Incomplete(_)) => {
                return if out.is_empty() { Side::NeedMore } else { Side::Hl7(out) };
            }
            Err(Error::NotMsh { .. }) => {
                return if out.is_empty() { Side::No } else { Side::Hl7(out) };
            }
        }
        // Skip the rest of the message without reading it.
        let end = if framed {
            msg.iter().position(|b| *b == EB)
        } else {
            // Bare HL7: the next message starts at the next "MSH" after a
            // segment terminator.
            msg.windows(4)
                .position(|w| matches!(w, [b'\r' | b'\n', b'M', b'S', b'H']))
                .map(|p| p + 1)
        };
        match end {
            Some(e) => rest = msg.get(e + usize::from(framed)..).unwrap_or_default(),
            None => break,
        }
    }
    if out.is_empty() { Side::NeedMore } else { Side::Hl7(out) }
}

fn push(facts: &mut Vec<Fact>, subject: Subject, key: FactKey, value: &Option<String>) {
    if let Some(f) = value.as_deref().and_then(|v| Fact::new(subject, key, v))
        && !facts.contains(&f)
    {
        facts.push(f);
    }
}

fn facts_of(facts: &mut Vec<Fact>, sender: Subject, peer: Subject, msh: &Msh) {
    push(facts, sender, FactKey::Hl7SendingApp, &msh.sending_application);
    push(facts, sender, FactKey::Hl7SendingFacility, &msh.sending_facility);
    push(facts, peer, FactKey::Hl7ReceivingApp, &msh.receiving_application);
    push(facts, peer, FactKey::Hl7ReceivingFacility, &msh.receiving_facility);
    push(facts, sender, FactKey::Hl7MessageType, &msh.message_type);
    push(facts, sender, FactKey::Hl7Version, &msh.version);
}

/// Identifies HL7 v2 (MLLP-framed or bare) from the first message's MSH
/// on either side, and reports each message's envelope as facts about its
/// sender (MSH-3/4, type, version) and its receiver (MSH-5/6). Keeps asking
/// for more: later messages may add message types.
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let c = side(client);
    let s = side(server);
    let mut facts = Vec::new();
    let mut seen = false;
    for (msgs, sender, peer) in
        [(&c, Subject::Client, Subject::Server), (&s, Subject::Server, Subject::Client)]
    {
        if let Side::Hl7(list) = msgs {
            seen = true;
            for m in list {
                facts_of(&mut facts, sender, peer, m);
            }
        }
    }
    if seen {
        return Verdict::Yes { app: App::Hl7, facts, more: true };
    }
    match (c, s, client.is_empty()) {
        (Side::NeedMore, _, false) => Verdict::NeedMore,
        (Side::NeedMore, Side::NeedMore, true) => Verdict::NeedMore,
        _ => Verdict::No,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn ctx() -> Ctx {
        Ctx { client_port: 40000, server_port: 2575 }
    }

    const ORU: &[u8] = b"\x0bMSH|^~\\&|LAB^1.2.3^ISO|MAIN|EHR|HOSP|20250101||ORU^R01^ORU_R01|1|P|2.5.1\rPID|1||12345^^^MRN||DOE^JOHN\rOBX|1|NM|HR||72\r\x1c\r";

    #[test]
    fn reads_msh_and_nothing_else() {
        let h = parse_msh(&ORU[1..]).unwrap();
        assert_eq!(
            h,
            Msh {
                sending_application: Some("LAB".into()),
                sending_facility: Some("MAIN".into()),
                receiving_application: Some("EHR".into()),
                receiving_facility: Some("HOSP".into()),
                message_type: Some("ORU^R01".into()),
                version: Some("2.5.1".into()),
            }
        );
        let Verdict::Yes { facts, .. } = probe_stream(&ctx(), ORU, b"") else { panic!() };
        let all: String = facts.iter().map(|f| f.value.as_str()).collect();
        assert!(!all.contains("DOE") && !all.contains("12345") && !all.contains("72"));
    }

    #[test]
    fn every_prefix_needs_more_until_msh_ends() {
        let msh_end = ORU.iter().position(|b| *b == b'\r').unwrap();
        for n in 0..ORU.len() {
            let v = probe_stream(&ctx(), &ORU[..n], b"");
            if n <= msh_end {
                assert_eq!(v, Verdict::NeedMore, "prefix {n}");
            } else {
                assert!(matches!(v, Verdict::Yes { app: App::Hl7, .. }), "prefix {n}");
            }
        }
    }

    #[test]
    fn bare_hl7_and_other_separators() {
        let m = b"MSH#^~\\&#APP#FAC#R#RF#2025##ACK#9#P#2.3\r";
        let h = parse_msh(m).unwrap();
        assert_eq!(h.message_type.as_deref(), Some("ACK"));
        assert_eq!(h.version.as_deref(), Some("2.3"));
        assert!(matches!(probe_stream(&ctx(), m, b""), Verdict::Yes { .. }));
    }

    #[test]
    fn not_hl7() {
        assert_eq!(probe_stream(&ctx(), b"GET / HTTP/1.1\r\n", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx(), b"\x0bMSA|AA", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx(), b"MSHA", b""), Verdict::No);
        assert_eq!(parse_msh(b"MSH|abcd|"), Err(Error::NotMsh { offset: 4 }));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(c in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                                       s in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = probe_stream(&ctx(), &c, &s);
            let _ = parse_msh(&c);
            let mut m = ORU.to_vec();
            m.extend_from_slice(&c);
            let _ = probe_stream(&ctx(), &m, &s);
        }
    }
}
