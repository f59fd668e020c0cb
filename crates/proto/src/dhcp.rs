//! DHCPv4 (RFC 2131/2132) and, briefly, DHCPv6 (RFC 8415).
//!
//! A client's messages describe the host named by its hardware address
//! (`chaddr`): host name (option 12, or the FQDN option 81), vendor class
//! (60, e.g. `MSFT 5.0`), parameter request list (55, the classic DHCP
//! fingerprint, as decimal numbers joined by commas), client identifier
//! (61) and requested address (50). A server's ACK says which address the
//! host got (`yiaddr`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::{Incomplete, Reader};

/// The DHCP magic cookie after the BOOTP header.
const COOKIE: [u8; 4] = [0x63, 0x82, 0x53, 0x63];
/// BOOTP fixed header length (up to and excluding the cookie).
const BOOTP_LEN: usize = 236;

/// Why a datagram is not a DHCP message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// A header field no DHCP peer sends.
    #[error("invalid DHCP {field} {value} at offset {offset}")]
    Invalid { field: &'static str, offset: usize, value: u32 },
}

/// BOOTREQUEST (client) or BOOTREPLY (server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Request,
    Reply,
}

/// A DHCPv4 message's identity-bearing fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub op: Op,
    /// Option 53: 1 DISCOVER, 2 OFFER, 3 REQUEST, 4 DECLINE, 5 ACK, 6 NAK,
    /// 7 RELEASE, 8 INFORM.
    pub message_type: Option<u8>,
    pub xid: u32,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    /// The client's hardware address when it is Ethernet (htype 1, hlen 6).
    pub chaddr: Option<[u8; 6]>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 81's domain name.
    pub fqdn: Option<String>,
    /// Option 60.
    pub vendor_class: Option<String>,
    /// Option 55, in the client's order.
    pub param_list: Vec<u8>,
    /// Option 61, raw (type byte first).
    pub client_id: Option<Vec<u8>>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
}

/// Parses a DHCPv4 message (BOOTP header, cookie, options).
pub fn parse(datagram: &[u8]) -> Result<Message, Error> {
    let mut r = Reader::new(datagram);
    let op = match r.u8()? {
        1 => Op::Request,
        2 => Op::Reply,
        v => {
            return Err(Error::Invalid { field: "op", offset: 0, value: v.into() });
        }
    };
    let htype = r.u8()?;
    let hlen = r.u8()?;
    if hlen > 16 {
        return Err(Error::Invalid { field: "hlen", offset: 2, value: hlen.into() });
    }
    r.skip(1)?; // hops
    let xid = r.u32_be()?;
    r.skip(4)?; // secs, flags
    let ciaddr = Ipv4Addr::from(r.array::<4>()?);
    let yiaddr = Ipv4Addr::from(r.array::<4>()?);
    r.skip(4)?; // siaddr
    let giaddr = Ipv4Addr::from(r.array::<4>()?);
    let ch = r.array::<16>()?;
    let chaddr = match (htype, hlen, ch) {
        (1, 6, [a, b, c, d, e, f, ..]) => Some([a, b, c, d, e, f]),
        _ => None,
    };
    r.skip(64 + 128)?; // sname, file
    let cookie = r.array::<4>()?;
    if cookie != COOKIE {
        return Err(Error::Invalid {
            field: "magic cookie",
            offset: BOOTP_LEN,
            value: u32::from_be_bytes(cookie),
        });
    }
    let mut m = Message {
        op,
        message_type: None,
        xid,
        ciaddr,
        yiaddr,
        giaddr,
        chaddr,
        hostname: None,
        fqdn: None,
        vendor_class: None,
        param_list: Vec::new(),
        client_id: None,
        requested_ip: None,
        server_id: None,
    };
    loop {
        let code = r.u8()?;
        match code {
            0 => continue,
            255 => break,
            _ => {}
        }
        let v = r.vec_u8()?;
        // The first occurrence of an option wins.
        match code {
            53 => m.message_type = m.message_type.or(v.first().copied()),
            12 => m.hostname = m.hostname.take().or_else(|| text(v)),
            60 => m.vendor_class = m.vendor_class.take().or_else(|| text(v)),
            55 if m.param_list.is_empty() => m.param_list = v.to_vec(),
            61 => m.client_id = m.client_id.take().or_else(|| Some(v.to_vec())),
            50 => m.requested_ip = m.requested_ip.or_else(|| ipv4(v)),
            54 => m.server_id = m.server_id.or_else(|| ipv4(v)),
            81 => m.fqdn = m.fqdn.take().or_else(|| fqdn(v)),
            _ => {}
        }
    }
    Ok(m)
}

fn text(v: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(v);
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_owned())
}

fn ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

/// Option 81: flags, two deprecated rcodes, then the name, in DNS wire
/// format when flag E (0x04) is set, else ASCII.
fn fqdn(v: &[u8]) -> Option<String> {
    let (flags, name) = match v {
        [flags, _, _, name @ ..] => (*flags, name),
        _ => return None,
    };
    if flags & 0x04 == 0 {
        return text(name);
    }
    let mut out = String::new();
    let mut r = Reader::new(name);
    while let Ok(label) = r.vec_u8() {
        if label.is_empty() || label.len() > 63 {
            break;
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(label));
    }
    (!out.is_empty()).then_some(out)
}

/// Bytes as lower-case hex pairs joined by colons.
pub fn hex_colon(v: &[u8]) -> String {
    let mut s = String::with_capacity(v.len() * 3);
    for (i, b) in v.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The parameter request list as the DHCP fingerprint string ("1,3,6,15").
pub fn param_list_string(list: &[u8]) -> String {
    let mut s = String::with_capacity(list.len() * 4);
    for (i, b) in list.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{b}");
    }
    s
}

/// The facts a DHCPv4 message carries.
pub fn facts(m: &Message, sender: Subject) -> Vec<Fact> {
    let subject = m.chaddr.map(Subject::Mac).unwrap_or(sender);
    let mut facts = Vec::new();
    let mut add = |key, value: &str| facts.extend(Fact::new(subject, key, value));
    match m.op {
        Op::Request => {
            if let Some(h) = &m.hostname {
                add(FactKey::Hostname, h);
            }
            if let Some(f) = m.fqdn.as_ref().filter(|f| Some(*f) != m.hostname.as_ref()) {
                add(FactKey::Hostname, f);
            }
            if let Some(v) = &m.vendor_class {
                add(FactKey::DhcpVendorClass, v);
            }
            if !m.param_list.is_empty() {
                add(FactKey::DhcpParamList, &param_list_string(&m.param_list));
            }
            if let Some(id) = &m.client_id {
                add(FactKey::DhcpClientId, &hex_colon(id));
            }
            if let Some(ip) = m.requested_ip.filter(|ip| !ip.is_unspecified()) {
                add(FactKey::DhcpRequestedIp, &ip.to_string());
            }
        }
        Op::Reply => {
            // The address the server gave the host (an ACK; an OFFER is
            // only a proposal).
            if m.message_type == Some(5) && !m.yiaddr.is_unspecified() {
                add(FactKey::DhcpAssignedIp, &m.yiaddr.to_string());
            }
        }
    }
    if let Some(id) = m.server_id.filter(|ip| !ip.is_unspecified()) {
        add(FactKey::DhcpServerId, &id.to_string());
    }
    facts
}

/// Identifies DHCPv4 by its magic cookie (and DHCPv6 on ports 546/547 by
/// a well-formed message), with the facts the message carries.
pub fn probe_datagram(ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let sender = match side {
        Side::Client => Subject::Client,
        Side::Server => Subject::Server,
    };
    match parse(payload) {
        Ok(m) => Verdict::Yes { app: App::Dhcp, facts: facts(&m, sender), more: true },
        Err(_) if ctx.either_port(&[546, 547]) => match v6::parse(payload) {
            Ok(m) => Verdict::Yes { app: App::Dhcp, facts: v6::facts(&m, sender), more: true },
            Err(_) => Verdict::No,
        },
        Err(_) => Verdict::No,
    }
}

/// DHCPv6: the client's DUID, FQDN, vendor class and option request list.
pub mod v6 {
    use super::{Error, text};
    use crate::facts::{Fact, FactKey, Subject};
    use crate::reader::Reader;

    /// A DHCPv6 message's identity-bearing options.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Message {
        /// 1 SOLICIT, 2 ADVERTISE, 3 REQUEST, … 11 INFORMATION-REQUEST.
        pub message_type: u8,
        /// Option 1, raw.
        pub client_duid: Option<Vec<u8>>,
        /// Option 39's name (DNS wire format decoded).
        pub fqdn: Option<String>,
        /// Option 16: enterprise number and the first class string.
        pub vendor_class: Option<(u32, String)>,
        /// Option 6, the requested option codes.
        pub option_request: Vec<u16>,
    }

    /// Parses a client/server DHCPv6 message (not relay messages).
    pub fn parse(datagram: &[u8]) -> Result<Message, Error> {
        let mut r = Reader::new(datagram);
        let message_type = r.u8()?;
        if !(1..=11).contains(&message_type) {
            return Err(Error::Invalid {
                field: "msg-type",
                offset: 0,
                value: message_type.into(),
            });
        }
        r.skip(3)?;
        let mut m = Message { message_type, ..Message::default() };
        let mut any = false;
        while !r.is_empty() {
            let code = r.u16_be()?;
            let v = r.vec_u16()?;
            any = true;
            let mut o = Reader::new(v);
            match code {
                1 => m.client_duid = Some(v.to_vec()),
                6 => {
                    while let Ok(c) = o.u16_be() {
                        if m.option_request.len() < 64 {
                            m.option_request.push(c);
                        }
                    }
                }
                16 => {
                    if let (Ok(pen), Ok(class)) = (o.u32_be(), o.vec_u16()) {
                        m.vendor_class = text(class).map(|c| (pen, c));
                    }
                }
                39 => {
                    o.skip(1).ok();
                    let mut name = String::new();
                    while let Ok(l) = o.vec_u8() {
                        if l.is_empty() {
                            break;
                        }
                        if !name.is_empty() {
                            name.push('.');
                        }
                        name.push_str(&String::from_utf8_lossy(l));
                    }
                    m.fqdn = (!name.is_empty()).then_some(name);
                }
                _ => {}
            }
        }
        if !any {
            return Err(Error::Invalid { field: "options", offset: 4, value: 0 });
        }
        Ok(m)
    }

    /// The MAC inside a DUID-LLT (type 1) or DUID-LL (type 3) over Ethernet.
    pub fn duid_mac(duid: &[u8]) -> Option<[u8; 6]> {
        match duid {
            [0, 1, 0, 1, _, _, _, _, a, b, c, d, e, f] | [0, 3, 0, 1, a, b, c, d, e, f] => {
                Some([*a, *b, *c, *d, *e, *f])
            }
            _ => None,
        }
    }

    /// Facts of a client's message (servers' messages carry none).
    pub fn facts(m: &Message, sender: Subject) -> Vec<Fact> {
        let client_sent = matches!(m.message_type, 1 | 3 | 4 | 5 | 6 | 8 | 9 | 11);
        if !client_sent {
            return Vec::new();
        }
        let subject =
            m.client_duid.as_deref().and_then(duid_mac).map(Subject::Mac).unwrap_or(sender);
        let mut facts = Vec::new();
        let mut add = |key, value: &str| facts.extend(Fact::new(subject, key, value));
        if let Some(f) = &m.fqdn {
            add(FactKey::Hostname, f);
        }
        if let Some((pen, class)) = &m.vendor_class {
            add(FactKey::DhcpVendorClass, &format!("{pen}:{class}"));
        }
        if !m.option_request.is_empty() {
            let list: Vec<String> = m.option_request.iter().map(u16::to_string).collect();
            add(FactKey::DhcpParamList, &list.join(","));
        }
        if let Some(d) = &m.client_duid {
            add(FactKey::DhcpClientId, &super::hex_colon(d));
        }
        facts
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn ctx() -> Ctx {
        Ctx { client_port: 68, server_port: 67 }
    }

    fn request(options: &[u8]) -> Vec<u8> {
        let mut p = vec![1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef];
        p.resize(28, 0);
        p.extend_from_slice(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        p.resize(236, 0);
        p.extend_from_slice(&COOKIE);
        p.extend_from_slice(options);
        p
    }

    #[test]
    fn fqdn_in_wire_format_and_first_option_wins() {
        let p = request(&[
            53, 1, 1, 81, 11, 0x04, 0, 0, 3, b'p', b'c', b'1', 3, b'l', b'a', b'n', 12, 1, b'a',
            12, 1, b'b', 255,
        ]);
        let m = parse(&p).unwrap();
        assert_eq!(m.fqdn.as_deref(), Some("pc1.lan"));
        assert_eq!(m.hostname.as_deref(), Some("a"));
        assert_eq!(m.chaddr, Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]));
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let p = request(&[53, 1, 1, 12, 4, b'h', b'o', b's', b't', 255]);
        for n in 0..p.len() {
            assert!(matches!(parse(&p[..n]), Err(Error::Incomplete(_))), "prefix {n}");
            assert_eq!(probe_datagram(&ctx(), Side::Client, &p[..n]), Verdict::No, "prefix {n}");
        }
        assert!(parse(&p).is_ok());
    }

    #[test]
    fn dhcpv6_solicit() {
        // SOLICIT, client id DUID-LLT, ORO 23,24, FQDN "host.example".
        let mut p = vec![1, 0x12, 0x34, 0x56];
        p.extend_from_slice(&[
            0, 1, 0, 14, 0, 1, 0, 1, 0x2a, 0x3b, 0x4c, 0x5d, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
        ]);
        p.extend_from_slice(&[0, 6, 0, 4, 0, 23, 0, 24]);
        p.extend_from_slice(&[
            0, 39, 0, 15, 0, 4, b'h', b'o', b's', b't', 7, b'e', b'x', b'a', b'm', b'p', b'l',
            b'e', 0,
        ]);
        let v6ctx = Ctx { client_port: 546, server_port: 547 };
        let Verdict::Yes { facts, .. } = probe_datagram(&v6ctx, Side::Client, &p) else { panic!() };
        let mac = Subject::Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(
            facts,
            vec![
                Fact::new(mac, FactKey::Hostname, "host.example").unwrap(),
                Fact::new(mac, FactKey::DhcpParamList, "23,24").unwrap(),
                Fact::new(mac, FactKey::DhcpClientId, "00:01:00:01:2a:3b:4c:5d:aa:bb:cc:dd:ee:ff")
                    .unwrap(),
            ]
        );
        // Without the port hint, DHCPv6 has no signature to go by.
        assert_eq!(probe_datagram(&ctx(), Side::Client, &p), Verdict::No);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(opts in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let v6ctx = Ctx { client_port: 546, server_port: 547 };
            let _ = probe_datagram(&v6ctx, Side::Client, &opts);
            let _ = probe_datagram(&ctx(), Side::Client, &request(&opts));
        }
    }
}
