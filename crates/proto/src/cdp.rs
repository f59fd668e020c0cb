//! CDP (Cisco Discovery Protocol) v1/v2: device ID, platform, software
//! version, addresses. Facts describe the sender (its MAC), and name its
//! announced addresses.

use std::net::{IpAddr, Ipv4Addr};

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::reader::Reader;

/// One CDP packet's identity TLVs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cdp {
    pub version: u8,
    pub device_id: Option<String>,
    pub addresses: Vec<IpAddr>,
    pub port_id: Option<String>,
    /// Software version, its lines joined by spaces.
    pub software: Option<String>,
    pub platform: Option<String>,
}

/// Parses a CDP packet (after the LLC/SNAP header). `None` when the header
/// or any TLV is malformed.
pub fn parse(payload: &[u8]) -> Option<Cdp> {
    let mut r = Reader::new(payload);
    let version = r.u8().ok()?;
    if !(1..=2).contains(&version) {
        return None;
    }
    r.skip(3).ok()?; // TTL, checksum
    let mut cdp = Cdp { version, ..Cdp::default() };
    let mut n = 0;
    while !r.is_empty() && n < 64 {
        let kind = r.u16_be().ok()?;
        let len = usize::from(r.u16_be().ok()?);
        let value = r.take(len.checked_sub(4)?).ok()?;
        n += 1;
        match kind {
            0x0001 => cdp.device_id = text(value),
            0x0002 => cdp.addresses = addresses(value),
            0x0003 => cdp.port_id = text(value),
            0x0005 => {
                let joined: Vec<String> = String::from_utf8_lossy(value)
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect();
                cdp.software = (!joined.is_empty()).then(|| joined.join(" "));
            }
            0x0006 => cdp.platform = text(value),
            _ => {}
        }
    }
    (n > 0 && cdp.device_id.is_some()).then_some(cdp)
}

fn addresses(v: &[u8]) -> Vec<IpAddr> {
    let mut r = Reader::new(v);
    let mut out = Vec::new();
    let Ok(count) = r.u32_be() else { return out };
    for _ in 0..count.min(16) {
        let (Ok(ptype), Ok(proto), Ok(addr)) = (r.u8(), r.vec_u8(), r.vec_u16()) else {
            break;
        };
        // NLPID 0xcc is IPv4.
        if let (1, [0xcc], [a, b, c, d]) = (ptype, proto, addr) {
            out.push(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)));
        }
    }
    out
}

fn text(v: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(v);
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_owned())
}

/// Identifies a CDP packet; facts about the sender.
pub fn probe_frame(src_mac: [u8; 6], payload: &[u8]) -> Verdict {
    let Some(cdp) = parse(payload) else {
        return Verdict::No;
    };
    let subject = Subject::Mac(src_mac);
    let mut facts = Vec::new();
    if let Some(id) = &cdp.device_id {
        facts.extend(Fact::new(subject, FactKey::SystemName, id));
        for ip in &cdp.addresses {
            facts.extend(Fact::new(Subject::Ip(*ip), FactKey::SystemName, id));
        }
    }
    if let Some(p) = &cdp.platform {
        if p.to_ascii_lowercase().starts_with("cisco") {
            facts.extend(Fact::new(subject, FactKey::Vendor, "Cisco"));
        }
        facts.extend(Fact::new(subject, FactKey::Product, p));
    }
    if let Some(sw) = &cdp.software {
        facts.extend(Fact::new(subject, FactKey::Description, sw));
        if let (_, _, Some(v)) = crate::lldp::describe(sw) {
            facts.extend(Fact::new(subject, FactKey::Version, &v));
        }
    }
    Verdict::Yes { app: App::Cdp, facts, more: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lldp_is_not_cdp() {
        let lldp = [0x02, 0x07, 4, 0, 1, 2, 3, 4, 5, 0x04, 0x02, 5, b'x', 0x06, 0x02, 0, 120, 0, 0];
        assert_eq!(probe_frame([0; 6], &lldp), Verdict::No);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = probe_frame([0; 6], &data);
            let mut p = vec![2, 180, 0, 0, 0, 1, 0, 6, b'R', b'1'];
            p.extend_from_slice(&data);
            let _ = probe_frame([0; 6], &p);
        }
    }
}
