//! SNMP v1, v2c and v3 over UDP (BER). The version names the agent's
//! SNMP stack; a response carrying sysDescr (1.3.6.1.2.1.1.1.0) or sysName
//! (1.3.6.1.2.1.1.5.0) describes the agent.
//!
//! **The community string is a password and is never kept**: it is
//! skipped while parsing and no type here has a field for it.

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::Reader;

/// BER-encoded OID bodies of sysDescr.0 and sysName.0.
const SYS_DESCR: &[u8] = &[0x2b, 6, 1, 2, 1, 1, 1, 0];
const SYS_NAME: &[u8] = &[0x2b, 6, 1, 2, 1, 1, 5, 0];

/// An SNMP message without its community or security parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// 0 = v1, 1 = v2c, 3 = v3.
    pub version: u8,
    /// The PDU tag (0xa0 get … 0xa2 response … 0xa7 trap v2), `None`
    /// when a v3 PDU is encrypted.
    pub pdu: Option<u8>,
    pub sys_descr: Option<String>,
    pub sys_name: Option<String>,
}

/// One TLV: tag and value. Lengths in short or long form (≤ 4 bytes).
fn tlv<'a>(r: &mut Reader<'a>) -> Option<(u8, &'a [u8])> {
    let tag = r.u8().ok()?;
    let first = r.u8().ok()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        r.take(n).ok()?.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b))
    };
    Some((tag, r.take(len).ok()?))
}

/// Parses an SNMP message. `None` when it is not one.
pub fn parse(payload: &[u8]) -> Option<Message> {
    let mut outer = Reader::new(payload);
    let (0x30, body) = tlv(&mut outer)? else {
        return None;
    };
    if !outer.is_empty() {
        return None;
    }
    let mut r = Reader::new(body);
    let (0x02, [version]) = tlv(&mut r)? else {
        return None;
    };
    let version = *version;
    let pdu = match version {
        0 | 1 => {
            let (0x04, _community) = tlv(&mut r)? else {
                return None;
            };
            tlv(&mut r)?
        }
        3 => {
            let (0x30, _global) = tlv(&mut r)? else {
                return None;
            };
            let (0x04, _usm) = tlv(&mut r)? else {
                return None;
            };
            match tlv(&mut r)? {
                // Plaintext scoped PDU: context engine ID, context name, PDU.
                (0x30, scoped) => {
                    let mut s = Reader::new(scoped);
                    tlv(&mut s)?;
                    tlv(&mut s)?;
                    tlv(&mut s)?
                }
                (0x04, _encrypted) => {
                    return Some(Message { version, pdu: None, sys_descr: None, sys_name: None });
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    let (tag, pdu_body) = pdu;
    if !(0xa0..=0xa8).contains(&tag) {
        return None;
    }
    let mut m = Message { version, pdu: Some(tag), sys_descr: None, sys_name: None };
    if tag != 0xa2 {
        return Some(m);
    }
    // Response: request ID, error status, error index, varbind list.
    let mut p = Reader::new(pdu_body);
    for _ in 0..3 {
        tlv(&mut p)?;
    }
    let (0x30, list) = tlv(&mut p)? else {
        return None;
    };
    let mut l = Reader::new(list);
    for _ in 0..64 {
        if l.is_empty() {
            break;
        }
        let (0x30, vb) = tlv(&mut l)? else {
            return None;
        };
        let mut v = Reader::new(vb);
        let (0x06, oid) = tlv(&mut v)? else {
            return None;
        };
        let (vt, value) = tlv(&mut v)?;
        if vt != 0x04 {
            continue;
        }
        let text = String::from_utf8_lossy(value).trim().to_owned();
        if oid == SYS_DESCR {
            m.sys_descr = Some(text);
        } else if oid == SYS_NAME {
            m.sys_name = Some(text);
        }
    }
    Some(m)
}

/// Identifies SNMP; facts about the agent (the side that answers or
/// sends traps).
pub fn probe_datagram(_ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let Some(m) = parse(payload) else {
        return Verdict::No;
    };
    // Requests (get, get-next, set, get-bulk) come from the manager.
    let from_manager = matches!(m.pdu, Some(0xa0 | 0xa1 | 0xa3 | 0xa5));
    let agent = match (side, from_manager) {
        (Side::Client, true) | (Side::Server, false) => Subject::Server,
        (Side::Client, false) | (Side::Server, true) => Subject::Client,
    };
    let version = match m.version {
        0 => "v1",
        1 => "v2c",
        _ => "v3",
    };
    let mut facts: Vec<Fact> =
        Fact::new(agent, FactKey::SnmpVersion, version).into_iter().collect();
    if let Some(d) = &m.sys_descr {
        facts.extend(Fact::new(agent, FactKey::Description, d));
        let (vendor, _, v) = crate::lldp::describe(d);
        if let Some(vendor) = vendor {
            facts.extend(Fact::new(agent, FactKey::Vendor, vendor));
        }
        if let Some(v) = v {
            facts.extend(Fact::new(agent, FactKey::Version, &v));
        }
    }
    if let Some(n) = &m.sys_name {
        facts.extend(Fact::new(agent, FactKey::SystemName, n));
    }
    Verdict::Yes { app: App::Snmp, facts, more: true }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    /// An SNMPv2c GetResponse, community "s3cr3t-community", sysDescr.0 =
    /// "Cisco IOS Software, C2960 Software, Version 12.2(55)SE", built by hand.
    fn response() -> Vec<u8> {
        let descr = b"Cisco IOS Software, C2960 Software, Version 12.2(55)SE";
        let mut vb = vec![0x06, 8];
        vb.extend_from_slice(SYS_DESCR);
        vb.extend_from_slice(&[0x04, descr.len() as u8]);
        vb.extend_from_slice(descr);
        let mut varbind = vec![0x30, vb.len() as u8];
        varbind.extend(vb);
        let mut list = vec![0x30, varbind.len() as u8];
        list.extend(varbind);
        let mut pdu_body = vec![0x02, 1, 7, 0x02, 1, 0, 0x02, 1, 0];
        pdu_body.extend(list);
        let mut pdu = vec![0xa2, pdu_body.len() as u8];
        pdu.extend(pdu_body);
        let mut body = vec![0x02, 1, 1, 0x04, 16];
        body.extend_from_slice(b"s3cr3t-community");
        body.extend(pdu);
        let mut msg = vec![0x30, 0x81, body.len() as u8];
        msg.extend(body);
        msg
    }

    #[test]
    fn response_names_the_agent_and_never_the_community() {
        let p = response();
        let ctx = Ctx { client_port: 50000, server_port: 161 };
        let v = probe_datagram(&ctx, Side::Server, &p);
        let f = |k, v| Fact::new(Subject::Server, k, v).unwrap();
        assert_eq!(
            v,
            Verdict::Yes {
                app: App::Snmp,
                facts: vec![
                    f(FactKey::SnmpVersion, "v2c"),
                    f(
                        FactKey::Description,
                        "Cisco IOS Software, C2960 Software, Version 12.2(55)SE"
                    ),
                    f(FactKey::Vendor, "Cisco"),
                    f(FactKey::Version, "12.2(55)SE"),
                ],
                more: true,
            }
        );
        assert!(!format!("{v:?} {:?}", parse(&p)).contains("s3cr3t"));
        for n in 0..p.len() {
            assert_eq!(probe_datagram(&ctx, Side::Server, &p[..n]), Verdict::No, "prefix {n}");
        }
    }

    #[test]
    fn v1_get_request_names_the_server_as_agent() {
        // 30 26 02 01 00 04 06 "public" a0 19 02 01 01 02 01 00 02 01 00 30 0e 30 0c 06 08 <sysDescr> 05 00
        let mut p = vec![0x30, 0x26, 0x02, 0x01, 0x00, 0x04, 0x06];
        p.extend_from_slice(b"public");
        p.extend_from_slice(&[
            0xa0, 0x19, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30,
            0x0c, 0x06, 0x08,
        ]);
        p.extend_from_slice(SYS_DESCR);
        p.extend_from_slice(&[0x05, 0x00]);
        let ctx = Ctx { client_port: 50000, server_port: 161 };
        assert_eq!(
            probe_datagram(&ctx, Side::Client, &p),
            Verdict::Yes {
                app: App::Snmp,
                facts: vec![Fact::new(Subject::Server, FactKey::SnmpVersion, "v1").unwrap()],
                more: true,
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let ctx = Ctx { client_port: 50000, server_port: 161 };
            let _ = probe_datagram(&ctx, Side::Client, &data);
            let mut p = response();
            let n = data.len().min(p.len());
            p[..n].copy_from_slice(&data[..n]);
            let _ = probe_datagram(&ctx, Side::Server, &p);
        }
    }
}
