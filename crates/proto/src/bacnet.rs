//! BACnet/IP (ASHRAE 135 Annex J): BVLC, NPDU and the APDU's service. An
//! I-Am names the sender's device instance and vendor; everything else
//! (Who-Is, ReadProperty, network-layer messages) identifies BACnet only.

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::Reader;

/// What a BACnet/IP datagram holds, as far as the sensor cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bacnet {
    /// A BVLC message without an NPDU (results, table reads, registrations).
    Bvlc { function: u8 },
    /// A network-layer message (router discovery and the like).
    Network { message_type: u8 },
    /// An I-Am: the sender's device.
    IAm { instance: u32, max_apdu: u32, vendor_id: u16 },
    /// Any other APDU: its type (0 confirmed request, 1 unconfirmed …) and
    /// service choice where the type has one.
    Apdu { pdu_type: u8, service: Option<u8> },
}

/// Parses a BACnet/IP datagram. `None` when the BVLC header or the NPDU
/// is malformed or the BVLC length is not the datagram's.
pub fn parse(payload: &[u8]) -> Option<Bacnet> {
    let mut r = Reader::new(payload);
    if r.u8().ok()? != 0x81 {
        return None;
    }
    let function = r.u8().ok()?;
    let len = usize::from(r.u16_be().ok()?);
    if function > 0x0c || len != payload.len() {
        return None;
    }
    match function {
        0x04 => r.skip(6).ok()?, // Forwarded-NPDU: original B/IP address
        0x09..=0x0b => {}
        _ => return Some(Bacnet::Bvlc { function }),
    }
    // NPDU.
    if r.u8().ok()? != 0x01 {
        return None;
    }
    let control = r.u8().ok()?;
    if control & 0x50 != 0 {
        return None; // reserved bits
    }
    if control & 0x20 != 0 {
        r.skip(2).ok()?;
        let dlen = r.u8().ok()?;
        r.skip(usize::from(dlen)).ok()?;
    }
    if control & 0x08 != 0 {
        r.skip(2).ok()?;
        let slen = r.u8().ok()?;
        if slen == 0 {
            return None;
        }
        r.skip(usize::from(slen)).ok()?;
    }
    if control & 0x20 != 0 {
        r.skip(1).ok()?; // hop count
    }
    if control & 0x80 != 0 {
        return Some(Bacnet::Network { message_type: r.u8().ok()? });
    }
    // APDU.
    let first = r.u8().ok()?;
    let pdu_type = first >> 4;
    let service = match pdu_type {
        0 => {
            r.skip(2).ok()?; // max segments/APDU, invoke ID
            if first & 0x08 != 0 {
                r.skip(2).ok()?; // sequence number, window size
            }
            Some(r.u8().ok()?)
        }
        1 => Some(r.u8().ok()?),
        2 | 3 | 5 => {
            r.skip(1).ok()?;
            Some(r.u8().ok()?)
        }
        4 | 6 | 7 => None,
        _ => return None,
    };
    if pdu_type == 1 && service == Some(0) {
        let (tag, obj) = app_tag(&mut r)?;
        let (tag2, max_apdu) = app_tag(&mut r)?;
        let (tag3, _segmentation) = app_tag(&mut r)?;
        let (tag4, vendor) = app_tag(&mut r)?;
        if (tag, tag2, tag3, tag4) != (12, 2, 9, 2) || obj >> 22 != 8 {
            return None;
        }
        return Some(Bacnet::IAm {
            instance: obj & 0x3f_ffff,
            max_apdu,
            vendor_id: u16::try_from(vendor).ok()?,
        });
    }
    Some(Bacnet::Apdu { pdu_type, service })
}

/// An application-tagged value of at most 4 bytes: (tag number, value).
fn app_tag(r: &mut Reader<'_>) -> Option<(u8, u32)> {
    let t = r.u8().ok()?;
    if t & 0x08 != 0 {
        return None; // context tag
    }
    let len = usize::from(t & 0x07);
    if len > 4 {
        return None;
    }
    let v = r.take(len).ok()?;
    Some((t >> 4, v.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b))))
}

/// Names for a few well-known BACnet vendor IDs (ASHRAE's registry).
pub fn vendor_name(id: u16) -> Option<&'static str> {
    Some(match id {
        0 => "ASHRAE",
        2 => "Trane",
        5 => "Johnson Controls",
        7 => "Siemens",
        8 => "Delta Controls",
        10 => "Schneider Electric",
        16 => "Carrier",
        17 => "Honeywell",
        24 => "Automated Logic",
        36 => "Tridium",
        260 => "BACnet Stack at SourceForge",
        _ => return None,
    })
}

/// Identifies BACnet/IP; an I-Am names the sender's device.
pub fn probe_datagram(_ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let Some(b) = parse(payload) else {
        return Verdict::No;
    };
    let from = match side {
        Side::Client => Subject::Client,
        Side::Server => Subject::Server,
    };
    let mut facts = Vec::new();
    if let Bacnet::IAm { instance, vendor_id, .. } = b {
        facts.extend(Fact::new(from, FactKey::BacnetDeviceInstance, &instance.to_string()));
        let name = vendor_name(vendor_id);
        let id = match name {
            Some(n) => format!("{vendor_id} ({n})"),
            None => vendor_id.to_string(),
        };
        facts.extend(Fact::new(from, FactKey::BacnetVendorId, &id));
        if let Some(n) = name.filter(|_| vendor_id != 0 && vendor_id != 260) {
            facts.extend(Fact::new(from, FactKey::Vendor, n));
        }
    }
    Verdict::Yes { app: App::Bacnet, facts, more: true }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    /// I-Am from device 1234, vendor Siemens (7), as a forwarded NPDU.
    const IAM: &[u8] = &[
        0x81, 0x04, 0x00, 0x19, 192, 168, 1, 5, 0xba, 0xc0, 0x01, 0x00, 0x10, 0x00, 0xc4, 0x02,
        0x00, 0x04, 0xd2, 0x22, 0x05, 0xc4, 0x91, 0x00, 0x21, 0x07,
    ];

    #[test]
    fn i_am() {
        let mut p = IAM.to_vec();
        p[3] = p.len() as u8;
        assert_eq!(parse(&p), Some(Bacnet::IAm { instance: 1234, max_apdu: 1476, vendor_id: 7 }));
        let ctx = Ctx { client_port: 47808, server_port: 47808 };
        let Verdict::Yes { facts, .. } = probe_datagram(&ctx, Side::Client, &p) else { panic!() };
        let values: Vec<&str> = facts.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(values, vec!["1234", "7 (Siemens)", "Siemens"]);
        for n in 0..p.len() {
            assert_eq!(probe_datagram(&ctx, Side::Client, &p[..n]), Verdict::No, "prefix {n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let ctx = Ctx { client_port: 47808, server_port: 47808 };
            let _ = probe_datagram(&ctx, Side::Client, &data);
            let mut p = vec![0x81, 0x0a, 0, 0, 0x01, 0x00];
            p.extend_from_slice(&data);
            let n = p.len().min(0xffff) as u16;
            p[2..4].copy_from_slice(&n.to_be_bytes());
            let _ = probe_datagram(&ctx, Side::Client, &p);
        }
    }
}
