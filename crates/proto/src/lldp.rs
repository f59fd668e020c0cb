//! LLDP (IEEE 802.1AB): chassis ID, port ID, system name and description,
//! management addresses. Facts describe the chassis (its MAC when the
//! chassis ID is one, else the frame's source MAC), and name the
//! management address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::reader::Reader;

/// One LLDPDU's identity TLVs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lldpdu {
    /// Chassis ID subtype (4 = MAC address, 5 = network address, 7 = local).
    pub chassis_subtype: u8,
    pub chassis_id: Vec<u8>,
    pub port_subtype: u8,
    pub port_id: Vec<u8>,
    pub ttl: u16,
    pub port_description: Option<String>,
    pub system_name: Option<String>,
    pub system_description: Option<String>,
    pub management: Vec<IpAddr>,
}

impl Lldpdu {
    /// The chassis MAC, when the chassis ID is one.
    pub fn chassis_mac(&self) -> Option<[u8; 6]> {
        match (self.chassis_subtype, self.chassis_id.as_slice()) {
            (4, [a, b, c, d, e, f]) => Some([*a, *b, *c, *d, *e, *f]),
            _ => None,
        }
    }
}

/// Parses an LLDPDU (the frame payload after the ethertype). `None` when
/// the mandatory chassis ID, port ID and TTL TLVs are not first, in order,
/// or a TLV runs past the frame.
pub fn parse(payload: &[u8]) -> Option<Lldpdu> {
    let mut r = Reader::new(payload);
    let mut pdu = Lldpdu::default();
    let mut index = 0;
    loop {
        let head = r.u16_be().ok()?;
        let (kind, len) = (head >> 9, usize::from(head & 0x1ff));
        let value = r.take(len).ok()?;
        let mut v = Reader::new(value);
        match (index, kind) {
            (0, 1) | (1, 2) => {
                let subtype = v.u8().ok()?;
                if !(1..=7).contains(&subtype) || v.is_empty() {
                    return None;
                }
                if kind == 1 {
                    (pdu.chassis_subtype, pdu.chassis_id) = (subtype, v.rest().to_vec());
                } else {
                    (pdu.port_subtype, pdu.port_id) = (subtype, v.rest().to_vec());
                }
            }
            (2, 3) => pdu.ttl = v.u16_be().ok()?,
            (0..=2, _) => return None,
            (_, 0) => break,
            (_, 4) => pdu.port_description = text(value),
            (_, 5) => pdu.system_name = text(value),
            (_, 6) => pdu.system_description = text(value),
            (_, 8) => {
                let addr = v.vec_u8().ok()?;
                let ip = match addr {
                    [1, a, b, c, d] => Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d))),
                    [2, rest @ ..] => {
                        <[u8; 16]>::try_from(rest).ok().map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                    }
                    _ => None,
                };
                if let Some(ip) = ip
                    && pdu.management.len() < 8
                {
                    pdu.management.push(ip);
                }
            }
            _ => {}
        }
        index += 1;
        if r.is_empty() || index > 64 {
            break;
        }
    }
    (index >= 3).then_some(pdu)
}

fn text(v: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(v);
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_owned())
}

/// Vendor, product and version in a system description, where a common
/// pattern gives them ("Summit300-48 - Version 7.4e.1 (Build 5)",
/// "Cisco IOS Software, … Version 15.2(4)E7, …", "Juniper Networks, Inc.
/// ex2200 … JUNOS 12.3R6.6", "ProCurve J9280A Switch 2510G-48, revision Y.11.12").
pub fn describe(desc: &str) -> (Option<&'static str>, Option<String>, Option<String>) {
    let lower = desc.to_ascii_lowercase();
    let vendor = [
        ("cisco", "Cisco"),
        ("juniper", "Juniper Networks"),
        ("procurve", "HP"),
        ("hewlett", "HP"),
        ("aruba", "Aruba"),
        ("extreme", "Extreme Networks"),
        ("summit", "Extreme Networks"),
        ("huawei", "Huawei"),
        ("fortinet", "Fortinet"),
        ("fortiswitch", "Fortinet"),
        ("dell", "Dell"),
        ("allied telesis", "Allied Telesis"),
        ("mikrotik", "MikroTik"),
        ("ubiquiti", "Ubiquiti"),
        ("netgear", "Netgear"),
        ("brocade", "Brocade"),
        ("arista", "Arista"),
        ("yamaha", "Yamaha"),
    ]
    .iter()
    .find(|(k, _)| lower.contains(k))
    .map(|(_, v)| *v);
    let mut version = None;
    for key in ["version ", "revision ", "junos "] {
        if let Some(i) = lower.find(key) {
            let after = desc.get(i + key.len()..).unwrap_or_default();
            let token: String =
                after.chars().take_while(|c| !c.is_whitespace() && *c != ',').collect();
            if token.chars().any(|c| c.is_ascii_digit()) {
                version = Some(token);
                break;
            }
        }
    }
    let product = desc
        .split_once(" - Version ")
        .map(|(p, _)| p.trim().to_owned())
        .filter(|p| !p.is_empty() && !p.contains(' '));
    (vendor, product, version)
}

/// Identifies an LLDPDU; facts about the chassis.
pub fn probe_frame(src_mac: [u8; 6], payload: &[u8]) -> Verdict {
    let Some(pdu) = parse(payload) else {
        return Verdict::No;
    };
    let subject = Subject::Mac(pdu.chassis_mac().unwrap_or(src_mac));
    let mut facts = Vec::new();
    if let Some(name) = &pdu.system_name {
        facts.extend(Fact::new(subject, FactKey::SystemName, name));
        for ip in &pdu.management {
            facts.extend(Fact::new(Subject::Ip(*ip), FactKey::SystemName, name));
        }
    }
    if let Some(desc) = &pdu.system_description {
        facts.extend(Fact::new(subject, FactKey::Description, desc));
        let (vendor, product, version) = describe(desc);
        if let Some(v) = vendor {
            facts.extend(Fact::new(subject, FactKey::Vendor, v));
        }
        if let Some(p) = product {
            facts.extend(Fact::new(subject, FactKey::Product, &p));
        }
        if let Some(v) = version {
            facts.extend(Fact::new(subject, FactKey::Version, &v));
        }
    }
    Verdict::Yes { app: App::Lldp, facts, more: false }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(
            describe(
                "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE, RELEASE SOFTWARE (fc2)"
            ),
            (Some("Cisco"), None, Some("12.2(55)SE".into()))
        );
        assert_eq!(
            describe(
                "Juniper Networks, Inc. ex2200-24t-4g , version 12.3R6.6 Build date: 2014-03-13"
            ),
            (Some("Juniper Networks"), None, Some("12.3R6.6".into()))
        );
    }

    #[test]
    fn cdp_is_not_lldp() {
        // A CDPv2 header: version 2, TTL 180, checksum.
        assert_eq!(probe_frame([0; 6], &[2, 180, 0xab, 0xcd, 0, 1, 0, 6, b'R', b'1']), Verdict::No);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = probe_frame([0; 6], &data);
            let mut p = vec![0x02, 0x07, 4, 0, 1, 2, 3, 4, 5, 0x04, 0x02, 5, b'x', 0x06, 0x02, 0, 120];
            p.extend_from_slice(&data);
            let _ = probe_frame([0; 6], &p);
        }
    }
}
