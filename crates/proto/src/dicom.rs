//! DICOM Upper Layer (PS3.8 section 9): the A-ASSOCIATE-RQ a client opens an
//! association with and the server's A-ASSOCIATE-AC.
//!
//! Only association metadata is read: AE titles, the application context,
//! presentation contexts (abstract syntax = SOP class, transfer syntaxes),
//! and the user information's maximum PDU length, implementation class UID
//! and version name. P-DATA (which carries the datasets, patients included)
//! is never parsed, and no type here has a field that could hold a dataset
//! attribute.

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::Ctx;
use crate::reader::{Incomplete, Reader};

/// PDU type of an A-ASSOCIATE-RQ.
const ASSOCIATE_RQ: u8 = 0x01;
/// PDU type of an A-ASSOCIATE-AC.
const ASSOCIATE_AC: u8 = 0x02;
/// PDU type of an A-ASSOCIATE-RJ.
const ASSOCIATE_RJ: u8 = 0x03;
/// The fixed part of an A-ASSOCIATE-RQ/AC after the 6-byte PDU header.
const FIXED: usize = 68;
/// The largest association PDU accepted (real ones are a few KiB).
pub const MAX_ASSOCIATE_LEN: u32 = 1 << 20;
/// The most presentation contexts kept (the standard allows 128).
const MAX_CONTEXTS: usize = 128;

/// Why bytes are not a well-formed association PDU.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    /// More bytes are needed.
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// A header field holds a value no DICOM peer sends.
    #[error("invalid DICOM {field} {value:#x} at offset {offset}")]
    Invalid { field: &'static str, offset: usize, value: u32 },
}

/// Which association PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssociateKind {
    /// A-ASSOCIATE-RQ, sent by the association requestor (the SCU).
    Request,
    /// A-ASSOCIATE-AC, the acceptor's answer.
    Accept,
}

/// One presentation context: in a request, the proposed abstract syntax and
/// transfer syntaxes; in an accept, the result and the chosen transfer
/// syntax (the abstract syntax is only in the request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresentationContext {
    pub id: u8,
    /// SOP class UID (requests only).
    pub abstract_syntax: Option<String>,
    /// 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax not
    /// supported, 4 transfer syntaxes not supported (accepts only).
    pub result: Option<u8>,
    pub transfer_syntaxes: Vec<String>,
}

/// An A-ASSOCIATE-RQ or -AC: the association's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Associate {
    pub kind: AssociateKind,
    pub protocol_version: u16,
    /// The acceptor's AE title, as the requestor addressed it.
    pub called_ae: String,
    /// The requestor's AE title.
    pub calling_ae: String,
    pub application_context: Option<String>,
    pub presentation_contexts: Vec<PresentationContext>,
    pub max_pdu_length: Option<u32>,
    pub implementation_class_uid: Option<String>,
    pub implementation_version: Option<String>,
}

/// Parses one A-ASSOCIATE-RQ or -AC at the start of `input`.
///
/// `Ok(None)`: a complete PDU header of another type (P-DATA, release,
/// abort, reject). `Err(Error::Incomplete)`: the PDU is not all there yet.
/// Trailing bytes after the PDU (the next PDU) are ignored.
pub fn parse_associate(input: &[u8]) -> Result<Option<Associate>, Error> {
    let (kind, body) = match header(input)? {
        Some(h) => h,
        None => return Ok(None),
    };
    let mut r = Reader::new(body);
    let a = parse_body(kind, &mut r, true)?;
    Ok(Some(a))
}

/// The PDU type and body of a complete association PDU, `None` for another
/// PDU type.
fn header(input: &[u8]) -> Result<Option<(AssociateKind, &[u8])>, Error> {
    let mut r = Reader::new(input);
    let kind = r.u8()?;
    let reserved = r.u8()?;
    let len = r.u32_be()?;
    let kind = match kind {
        ASSOCIATE_RQ => AssociateKind::Request,
        ASSOCIATE_AC => AssociateKind::Accept,
        0x03..=0x07 => {
            // A complete other PDU: say so once it is all there.
            r.take(len_usize(len)?)?;
            return Ok(None);
        }
        _ => {
            return Err(Error::Invalid { field: "PDU type", offset: 0, value: kind.into() });
        }
    };
    if reserved != 0 {
        return Err(Error::Invalid { field: "reserved byte", offset: 1, value: reserved.into() });
    }
    if !(FIXED as u32..=MAX_ASSOCIATE_LEN).contains(&len) {
        return Err(Error::Invalid { field: "PDU length", offset: 2, value: len });
    }
    Ok(Some((kind, r.take(len_usize(len)?)?)))
}

fn len_usize(len: u32) -> Result<usize, Error> {
    usize::try_from(len).map_err(|_| Error::Invalid { field: "PDU length", offset: 2, value: len })
}

/// Parses the body (after the 6-byte PDU header). With `strict` false, stops
/// quietly at the first incomplete item and returns what was read (for the
/// probe, which may see only a prefix of a large request).
fn parse_body(kind: AssociateKind, r: &mut Reader<'_>, strict: bool) -> Result<Associate, Error> {
    let protocol_version = r.u16_be()?;
    if protocol_version & 1 == 0 {
        return Err(Error::Invalid {
            field: "protocol version",
            offset: 6,
            value: protocol_version.into(),
        });
    }
    r.skip(2)?;
    let called_ae = ae_title(r.take(16)?, 10)?;
    let calling_ae = ae_title(r.take(16)?, 26)?;
    r.skip(32)?;
    let mut a = Associate {
        kind,
        protocol_version,
        called_ae,
        calling_ae,
        application_context: None,
        presentation_contexts: Vec::new(),
        max_pdu_length: None,
        implementation_class_uid: None,
        implementation_version: None,
    };
    while !r.is_empty() {
        match item(r, &mut a) {
            Ok(()) => {}
            Err(Error::Incomplete(_)) if !strict => break,
            Err(e) => return Err(e),
        }
    }
    Ok(a)
}

/// Reads one variable item into `a`.
fn item(r: &mut Reader<'_>, a: &mut Associate) -> Result<(), Error> {
    let off = r.offset() + 6;
    let kind = r.u8()?;
    r.skip(1)?;
    let body = r.vec_u16()?;
    let mut b = Reader::new(body);
    match kind {
        0x10 => a.application_context = Some(uid(body)),
        0x20 | 0x21 => {
            let id = b.u8()?;
            b.skip(1)?;
            let result = b.u8()?;
            b.skip(1)?;
            let mut pc = PresentationContext {
                id,
                abstract_syntax: None,
                result: (kind == 0x21).then_some(result),
                transfer_syntaxes: Vec::new(),
            };
            while !b.is_empty() {
                let sub = b.u8()?;
                b.skip(1)?;
                let v = b.vec_u16()?;
                match sub {
                    0x30 => pc.abstract_syntax = Some(uid(v)),
                    0x40 if pc.transfer_syntaxes.len() < 16 => pc.transfer_syntaxes.push(uid(v)),
                    _ => {}
                }
            }
            if a.presentation_contexts.len() < MAX_CONTEXTS {
                a.presentation_contexts.push(pc);
            }
        }
        0x50 => {
            while !b.is_empty() {
                let sub = b.u8()?;
                b.skip(1)?;
                let v = b.vec_u16()?;
                let mut vr = Reader::new(v);
                match sub {
                    0x51 => a.max_pdu_length = vr.u32_be().ok(),
                    0x52 => a.implementation_class_uid = Some(uid(v)),
                    0x55 => a.implementation_version = Some(text(v)),
                    _ => {}
                }
            }
        }
        _ => {
            return Err(Error::Invalid { field: "item type", offset: off, value: kind.into() });
        }
    }
    Ok(())
}

/// An AE title: 16 bytes of the default character repertoire, padded with
/// spaces; leading and trailing spaces are not significant.
fn ae_title(raw: &[u8], offset: usize) -> Result<String, Error> {
    if let Some(bad) = raw.iter().position(|b| !(0x20..0x7f).contains(b) && *b != 0) {
        let value = raw.get(bad).copied().unwrap_or_default();
        return Err(Error::Invalid {
            field: "AE title",
            offset: offset + bad,
            value: value.into(),
        });
    }
    let t = text(raw);
    if t.is_empty() {
        return Err(Error::Invalid { field: "AE title", offset, value: 0x20 });
    }
    Ok(t)
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).trim_matches(|c: char| c == ' ' || c == '\0').to_owned()
}

/// A UID: digits and dots, padded with a NUL to an even length.
fn uid(raw: &[u8]) -> String {
    text(raw)
}

/// A SOP class's name for the common ones (PS3.6 annex A), `None` otherwise.
pub fn sop_class_name(uid: &str) -> Option<&'static str> {
    Some(match uid {
        "1.2.840.10008.1.1" => "Verification",
        "1.2.840.10008.1.20.1" => "Storage Commitment Push Model",
        "1.2.840.10008.3.1.2.3.3" => "Modality Performed Procedure Step",
        "1.2.840.10008.5.1.1.9" => "Basic Grayscale Print Management Meta",
        "1.2.840.10008.5.1.1.18" => "Basic Color Print Management Meta",
        "1.2.840.10008.5.1.4.1.1.1" => "Computed Radiography Image Storage",
        "1.2.840.10008.5.1.4.1.1.1.1" => "Digital X-Ray Image Storage - For Presentation",
        "1.2.840.10008.5.1.4.1.1.1.1.1" => "Digital X-Ray Image Storage - For Processing",
        "1.2.840.10008.5.1.4.1.1.1.2" => {
            "Digital Mammography X-Ray Image Storage - For Presentation"
        }
        "1.2.840.10008.5.1.4.1.1.2" => "CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.2.1" => "Enhanced CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.3.1" => "Ultrasound Multi-frame Image Storage",
        "1.2.840.10008.5.1.4.1.1.4" => "MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.4.1" => "Enhanced MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.6.1" => "Ultrasound Image Storage",
        "1.2.840.10008.5.1.4.1.1.7" => "Secondary Capture Image Storage",
        "1.2.840.10008.5.1.4.1.1.9.1.1" => "12-lead ECG Waveform Storage",
        "1.2.840.10008.5.1.4.1.1.11.1" => "Grayscale Softcopy Presentation State Storage",
        "1.2.840.10008.5.1.4.1.1.12.1" => "X-Ray Angiographic Image Storage",
        "1.2.840.10008.5.1.4.1.1.12.2" => "X-Ray Radiofluoroscopic Image Storage",
        "1.2.840.10008.5.1.4.1.1.13.1.3" => "Breast Tomosynthesis Image Storage",
        "1.2.840.10008.5.1.4.1.1.20" => "Nuclear Medicine Image Storage",
        "1.2.840.10008.5.1.4.1.1.66" => "Raw Data Storage",
        "1.2.840.10008.5.1.4.1.1.77.1.4" => "VL Photographic Image Storage",
        "1.2.840.10008.5.1.4.1.1.77.1.5.1" => "Ophthalmic Photography 8 Bit Image Storage",
        "1.2.840.10008.5.1.4.1.1.88.11" => "Basic Text SR Storage",
        "1.2.840.10008.5.1.4.1.1.88.22" => "Enhanced SR Storage",
        "1.2.840.10008.5.1.4.1.1.88.33" => "Comprehensive SR Storage",
        "1.2.840.10008.5.1.4.1.1.104.1" => "Encapsulated PDF Storage",
        "1.2.840.10008.5.1.4.1.1.128" => "Positron Emission Tomography Image Storage",
        "1.2.840.10008.5.1.4.1.1.481.1" => "RT Image Storage",
        "1.2.840.10008.5.1.4.1.1.481.2" => "RT Dose Storage",
        "1.2.840.10008.5.1.4.1.1.481.3" => "RT Structure Set Storage",
        "1.2.840.10008.5.1.4.1.1.481.5" => "RT Plan Storage",
        "1.2.840.10008.5.1.4.1.2.1.1" => "Patient Root Query/Retrieve Information Model - FIND",
        "1.2.840.10008.5.1.4.1.2.1.2" => "Patient Root Query/Retrieve Information Model - MOVE",
        "1.2.840.10008.5.1.4.1.2.1.3" => "Patient Root Query/Retrieve Information Model - GET",
        "1.2.840.10008.5.1.4.1.2.2.1" => "Study Root Query/Retrieve Information Model - FIND",
        "1.2.840.10008.5.1.4.1.2.2.2" => "Study Root Query/Retrieve Information Model - MOVE",
        "1.2.840.10008.5.1.4.1.2.2.3" => "Study Root Query/Retrieve Information Model - GET",
        "1.2.840.10008.5.1.4.31" => "Modality Worklist Information Model - FIND",
        _ => return None,
    })
}

/// A SOP class as a fact value: "Name (UID)" for known classes, else the UID.
pub fn sop_class_label(uid: &str) -> String {
    match sop_class_name(uid) {
        Some(name) => format!("{name} ({uid})"),
        None => uid.to_owned(),
    }
}

/// What the client's bytes say so far.
enum Request {
    No,
    NeedMore,
    /// The request as far as it was read, and whether all of it was.
    Seen(Associate, bool),
}

fn request(client: &[u8]) -> Request {
    let mut r = Reader::new(client);
    let head = (|| -> Result<(u8, u8, u32), Incomplete> { Ok((r.u8()?, r.u8()?, r.u32_be()?)) })();
    let (kind, reserved, len) = match head {
        Ok(h) => h,
        Err(_) => {
            let plausible = match client {
                [] => true,
                [t] => *t == ASSOCIATE_RQ,
                [t, z, ..] => *t == ASSOCIATE_RQ && *z == 0,
            };
            return if plausible { Request::NeedMore } else { Request::No };
        }
    };
    if kind != ASSOCIATE_RQ || reserved != 0 || !(FIXED as u32..=MAX_ASSOCIATE_LEN).contains(&len) {
        return Request::No;
    }
    let Ok(len) = usize::try_from(len) else {
        return Request::No;
    };
    let available = r.rest();
    let complete = available.len() >= len;
    let body = available.get(..len).unwrap_or(available);
    let mut b = Reader::new(body);
    match parse_body(AssociateKind::Request, &mut b, false) {
        Ok(a) if a.application_context.is_some() => Request::Seen(a, complete),
        // The fixed part is there but not the first item: wait.
        Ok(_) if !complete => Request::NeedMore,
        Ok(_) => Request::No,
        Err(Error::Incomplete(_)) => {
            // Check what is present of the fixed part before asking for more.
            match ae_prefix_plausible(body) {
                true => Request::NeedMore,
                false => Request::No,
            }
        }
        Err(Error::Invalid { .. }) => Request::No,
    }
}

/// Whether a fixed part cut short is still consistent with a request.
fn ae_prefix_plausible(body: &[u8]) -> bool {
    let version_ok = match body {
        [_, v, ..] => v & 1 == 1,
        _ => true,
    };
    let ae = body.get(4..36).unwrap_or_else(|| body.get(4..).unwrap_or_default());
    version_ok && ae.iter().all(|b| (0x20..0x7f).contains(b) || *b == 0)
}

fn push(facts: &mut Vec<Fact>, subject: Subject, key: FactKey, value: &str) {
    if let Some(f) = Fact::new(subject, key, value)
        && !facts.contains(&f)
    {
        facts.push(f);
    }
}

/// Identifies a DICOM association from the client's A-ASSOCIATE-RQ, and
/// reads the server's A-ASSOCIATE-AC when it arrives.
///
/// Facts: calling AE title, proposed SOP classes and implementation of the
/// client; called AE title, accepted SOP classes and implementation of the
/// server. `more` until the server has answered.
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let (rq, rq_complete) = match request(client) {
        Request::No => return Verdict::No,
        Request::NeedMore => return Verdict::NeedMore,
        Request::Seen(a, complete) => (a, complete),
    };
    let mut facts = Vec::new();
    push(&mut facts, Subject::Client, FactKey::DicomCallingAe, &rq.calling_ae);
    push(&mut facts, Subject::Client, FactKey::DicomAeTitle, &rq.calling_ae);
    push(&mut facts, Subject::Server, FactKey::DicomCalledAe, &rq.called_ae);
    push(&mut facts, Subject::Server, FactKey::DicomAeTitle, &rq.called_ae);
    implementation(&mut facts, Subject::Client, &rq);
    for pc in &rq.presentation_contexts {
        if let Some(uid) = &pc.abstract_syntax {
            push(&mut facts, Subject::Client, FactKey::DicomSopClass, &sop_class_label(uid));
        }
    }
    let answered = match parse_associate(server) {
        Ok(Some(ac)) if ac.kind == AssociateKind::Accept => {
            implementation(&mut facts, Subject::Server, &ac);
            for pc in ac.presentation_contexts.iter().filter(|pc| pc.result == Some(0)) {
                let proposed = rq.presentation_contexts.iter().find(|p| p.id == pc.id);
                if let Some(uid) = proposed.and_then(|p| p.abstract_syntax.as_deref()) {
                    push(
                        &mut facts,
                        Subject::Server,
                        FactKey::DicomSopClass,
                        &sop_class_label(uid),
                    );
                }
            }
            true
        }
        // A reject, abort or anything unparseable: nothing more to learn.
        Ok(_) | Err(Error::Invalid { .. }) => true,
        Err(Error::Incomplete(_)) => {
            server.first().is_some_and(|t| *t != ASSOCIATE_AC && *t != ASSOCIATE_RJ)
        }
    };
    Verdict::Yes { app: App::Dicom, facts, more: !(answered && rq_complete) }
}

fn implementation(facts: &mut Vec<Fact>, subject: Subject, a: &Associate) {
    if let Some(uid) = &a.implementation_class_uid {
        push(facts, subject, FactKey::DicomImplClassUid, uid);
    }
    if let Some(v) = &a.implementation_version {
        push(facts, subject, FactKey::DicomImplVersion, v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn ctx() -> Ctx {
        Ctx { client_port: 40000, server_port: 11112 }
    }

    /// A minimal request built by hand: called ANY-SCP, calling ECHOSCU,
    /// one Verification context, user info with implementation version.
    fn small_rq() -> Vec<u8> {
        let mut body = vec![0, 1, 0, 0];
        body.extend_from_slice(b"ANY-SCP         ");
        body.extend_from_slice(b"ECHOSCU         ");
        body.extend_from_slice(&[0; 32]);
        let ctx_name = b"1.2.840.10008.3.1.1.1";
        body.extend_from_slice(&[0x10, 0, 0, ctx_name.len() as u8]);
        body.extend_from_slice(ctx_name);
        let ver = b"1.2.840.10008.1.1\0";
        let ts = b"1.2.840.10008.1.2\0";
        let pc_len = 4 + 4 + ver.len() + 4 + ts.len();
        body.extend_from_slice(&[0x20, 0, 0, pc_len as u8, 1, 0, 0, 0]);
        body.extend_from_slice(&[0x30, 0, 0, ver.len() as u8]);
        body.extend_from_slice(ver);
        body.extend_from_slice(&[0x40, 0, 0, ts.len() as u8]);
        body.extend_from_slice(ts);
        body.extend_from_slice(&[0x50, 0, 0, 16, 0x51, 0, 0, 4, 0, 0, 0x40, 0, 0x55, 0, 0, 4]);
        body.extend_from_slice(b"X_10");
        let mut pdu = vec![1, 0];
        pdu.extend_from_slice(&(body.len() as u32).to_be_bytes());
        pdu.extend(body);
        pdu
    }

    #[test]
    fn parses_a_request() {
        let a = parse_associate(&small_rq()).unwrap().unwrap();
        assert_eq!(a.kind, AssociateKind::Request);
        assert_eq!((a.called_ae.as_str(), a.calling_ae.as_str()), ("ANY-SCP", "ECHOSCU"));
        assert_eq!(a.application_context.as_deref(), Some("1.2.840.10008.3.1.1.1"));
        assert_eq!(a.presentation_contexts.len(), 1);
        assert_eq!(
            a.presentation_contexts[0].abstract_syntax.as_deref(),
            Some("1.2.840.10008.1.1")
        );
        assert_eq!(a.presentation_contexts[0].transfer_syntaxes, vec!["1.2.840.10008.1.2"]);
        assert_eq!(a.max_pdu_length, Some(0x4000));
        assert_eq!(a.implementation_version.as_deref(), Some("X_10"));
    }

    #[test]
    fn every_prefix_needs_more_then_identifies() {
        let rq = small_rq();
        for n in 0..rq.len() {
            assert!(matches!(parse_associate(&rq[..n]), Err(Error::Incomplete(_))), "prefix {n}");
            let v = probe_stream(&ctx(), &rq[..n], b"");
            // Identified once the application context item is in.
            if n < 74 + 4 + 21 {
                assert_eq!(v, Verdict::NeedMore, "prefix {n}");
            } else {
                assert!(matches!(v, Verdict::Yes { more: true, .. }), "prefix {n}");
            }
        }
    }

    #[test]
    fn not_dicom() {
        assert_eq!(probe_stream(&ctx(), b"GET / HTTP/1.1\r\n", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx(), &[1, 0, 0, 0, 0, 10], b""), Verdict::No, "too short");
        let mut rq = small_rq();
        rq[12] = 0x07; // control character in the called AE title
        assert_eq!(probe_stream(&ctx(), &rq, b""), Verdict::No);
        assert!(matches!(
            parse_associate(&rq),
            Err(Error::Invalid { field: "AE title", offset: 12, value: 7 })
        ));
        // P-DATA is recognised as another PDU and never parsed.
        assert_eq!(parse_associate(&[4, 0, 0, 0, 0, 2, 0xaa, 0xbb]), Ok(None));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(c in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
                                       s in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_associate(&c);
            let _ = probe_stream(&ctx(), &c, &s);
            let mut rq = small_rq();
            rq.extend_from_slice(&c);
            let _ = probe_stream(&ctx(), &rq, &s);
            let _ = probe_stream(&ctx(), &rq[..rq.len().min(c.len())], &s);
        }
    }
}
