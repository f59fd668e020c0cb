//! DNS (RFC 1035) and its relatives on the LAN: mDNS/DNS-SD (RFC 6762/6763,
//! udp/5353), LLMNR (RFC 4795, udp/5355), NetBIOS name service (RFC 1002,
//! udp/137) and NetBIOS datagram browser announcements (udp/138).
//!
//! One message parser serves the first four (name compression followed
//! only backwards, so loops are impossible; names capped at 255 bytes;
//! record counts capped). What each flavour says:
//! - DNS/LLMNR: a query names what the sender looked up ([`FactKey::DnsQuery`]);
//!   an A/AAAA answer names the address ([`FactKey::DnsName`] about
//!   [`Subject::Ip`]).
//! - mDNS: the same, plus the sender's own DNS-SD service instances
//!   ([`FactKey::DnsSdInstance`]: services, not host names), SRV targets
//!   (DNS names of the sender), and TXT `model=`/`ty=`/`usb_MFG=`… as
//!   product and vendor.
//! - NBNS: registrations, releases and positive answers name the address
//!   they carry: unique workstation/server names as [`FactKey::NetbiosName`],
//!   workgroup/domain names as [`FactKey::Domain`]; node status answers list
//!   the responder's names.
//! - NetBIOS datagrams: the source name, the workgroup the datagram is
//!   addressed to, and browser host/domain announcements (name, OS version).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::{Incomplete, Reader};

/// The longest name accepted (RFC 1035 section 2.3.4).
const MAX_NAME: usize = 255;
/// The most records of all sections read from one message.
const MAX_RECORDS: usize = 256;
/// The most facts reported for one datagram.
const MAX_FACTS: usize = 64;

/// Why a datagram is not a well-formed DNS-family message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// A compression pointer that does not point backwards.
    #[error("DNS name pointer at offset {offset} to {target} does not point backwards")]
    BadPointer { offset: usize, target: usize },
    /// A name longer than 255 bytes, or a reserved label type.
    #[error("invalid DNS name at offset {offset}")]
    BadName { offset: usize },
    /// More records than a real message carries, or bytes after the last one.
    #[error("implausible DNS {field} {value} at offset {offset}")]
    Implausible { field: &'static str, offset: usize, value: usize },
}

/// A question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub class: u16,
}

/// The record data the sensor uses; other types are kept as `Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(String),
    Cname(String),
    Srv {
        port: u16,
        target: String,
    },
    /// Character strings, each lossily decoded.
    Txt(Vec<String>),
    /// NetBIOS NB record: flags (bit 15 = group) and address, per entry.
    Nb(Vec<(u16, Ipv4Addr)>),
    /// NetBIOS node status: names (15 chars, suffix, flags).
    NbStat(Vec<NetbiosName>),
    Other,
}

/// A resource record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub data: Rdata,
}

/// A parsed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub questions: Vec<Question>,
    /// Answer, authority and additional records, in order.
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

/// A NetBIOS name: up to 15 characters (trailing spaces removed) and the
/// suffix byte (0x00 workstation, 0x20 server, 0x1d master browser, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetbiosName {
    pub name: String,
    pub suffix: u8,
    /// Set for group names.
    pub group: bool,
}

/// Parses a DNS-format message (DNS, mDNS, LLMNR, NBNS). The whole
/// datagram must be used: trailing bytes are an error.
pub fn parse(msg: &[u8]) -> Result<Message, Error> {
    let mut r = Reader::new(msg);
    let id = r.u16_be()?;
    let flags = r.u16_be()?;
    let qd = usize::from(r.u16_be()?);
    let an = usize::from(r.u16_be()?);
    let ns = usize::from(r.u16_be()?);
    let ar = usize::from(r.u16_be()?);
    let total = qd + an + ns + ar;
    // Each question takes at least 5 bytes, each record 11.
    if total > MAX_RECORDS || qd * 5 + (an + ns + ar) * 11 > r.remaining() {
        return Err(Error::Implausible { field: "record count", offset: 4, value: total });
    }
    let mut questions = Vec::with_capacity(qd);
    for _ in 0..qd {
        let name = name(msg, &mut r)?;
        let qtype = r.u16_be()?;
        let class = r.u16_be()?;
        questions.push(Question { name, qtype, class });
    }
    let mut sections = [Vec::with_capacity(an), Vec::with_capacity(ns), Vec::with_capacity(ar)];
    for (section, n) in sections.iter_mut().zip([an, ns, ar]) {
        for _ in 0..n {
            section.push(record(msg, &mut r)?);
        }
    }
    if !r.is_empty() {
        return Err(Error::Implausible {
            field: "trailing bytes",
            offset: r.offset(),
            value: r.remaining(),
        });
    }
    let [answers, authority, additional] = sections;
    Ok(Message {
        id,
        response: flags & 0x8000 != 0,
        opcode: u8::try_from((flags >> 11) & 0x0f).unwrap_or(0),
        rcode: u8::try_from(flags & 0x0f).unwrap_or(0),
        questions,
        answers,
        authority,
        additional,
    })
}

fn record(msg: &[u8], r: &mut Reader<'_>) -> Result<Record, Error> {
    let name = name(msg, r)?;
    let rtype = r.u16_be()?;
    let class = r.u16_be()?;
    r.skip(4)?; // TTL
    let rdata_off = r.offset() + 2;
    let rdata = r.vec_u16()?;
    let mut d = Reader::new(rdata);
    let data = match rtype {
        1 if rdata.len() == 4 => Rdata::A(Ipv4Addr::from(d.array::<4>()?)),
        28 if rdata.len() == 16 => Rdata::Aaaa(Ipv6Addr::from(d.array::<16>()?)),
        12 => Rdata::Ptr(name_at(msg, rdata_off)?),
        5 => Rdata::Cname(name_at(msg, rdata_off)?),
        // Type 33 is SRV in DNS and NBSTAT in NBNS, whose owner names are
        // encoded NetBIOS names.
        33 if netbios_of(&name).is_none() => {
            d.skip(4)?; // priority, weight
            let port = d.u16_be()?;
            Rdata::Srv { port, target: name_at(msg, rdata_off + 6)? }
        }
        16 => {
            let mut strings = Vec::new();
            while !d.is_empty() && strings.len() < 64 {
                strings.push(String::from_utf8_lossy(d.vec_u8()?).into_owned());
            }
            Rdata::Txt(strings)
        }
        // NB (0x20) in NBNS; in mDNS type 32 is unused, so no clash.
        0x20 => {
            let mut entries = Vec::new();
            while d.remaining() >= 6 && entries.len() < 32 {
                entries.push((d.u16_be()?, Ipv4Addr::from(d.array::<4>()?)));
            }
            Rdata::Nb(entries)
        }
        33 => {
            let n = d.u8()?;
            let mut names = Vec::new();
            for _ in 0..n {
                let raw = d.take(16)?;
                let flags = d.u16_be()?;
                let (text, suffix) = match raw.split_last() {
                    Some((s, t)) => (t, *s),
                    None => (raw, 0),
                };
                names.push(NetbiosName {
                    name: String::from_utf8_lossy(text).trim_end().to_owned(),
                    suffix,
                    group: flags & 0x8000 != 0,
                });
            }
            Rdata::NbStat(names)
        }
        _ => Rdata::Other,
    };
    Ok(Record { name, rtype, class, data })
}

fn name_at(msg: &[u8], offset: usize) -> Result<String, Error> {
    let mut r = Reader::new(msg);
    r.skip(offset)?;
    name(msg, &mut r)
}

/// Reads a possibly compressed name at `r`, leaving `r` after it. Labels
/// are joined by dots; a pointer must point before the label that holds
/// it (so every jump goes backwards and the walk ends).
pub fn name(msg: &[u8], r: &mut Reader<'_>) -> Result<String, Error> {
    let mut out = String::new();
    let mut raw_len = 0usize;
    // Where the current label is read from: `r` until the first pointer.
    let mut pos = r.offset();
    let mut jumped = false;
    loop {
        let mut at = Reader::new(msg);
        at.skip(pos)?;
        let len = at.u8()?;
        match len {
            0 => {
                if !jumped {
                    r.skip(1)?;
                }
                return Ok(out);
            }
            1..=63 => {
                let label = at.take(usize::from(len))?;
                raw_len += usize::from(len) + 1;
                if raw_len > MAX_NAME {
                    return Err(Error::BadName { offset: pos });
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&String::from_utf8_lossy(label));
                if !jumped {
                    r.skip(usize::from(len) + 1)?;
                }
                pos += usize::from(len) + 1;
            }
            0xc0..=0xff => {
                let low = at.u8()?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= pos {
                    return Err(Error::BadPointer { offset: pos, target });
                }
                if !jumped {
                    r.skip(2)?;
                    jumped = true;
                }
                pos = target;
            }
            _ => return Err(Error::BadName { offset: pos }),
        }
    }
}

/// Decodes a first-level encoded NetBIOS name (32 characters 'A'..'P',
/// two per byte) into its 15-character name and suffix. `None` when the
/// label is not such an encoding.
pub fn decode_netbios(label: &str) -> Option<(String, u8)> {
    let b = label.as_bytes();
    if b.len() != 32 || !b.iter().all(|c| (b'A'..=b'P').contains(c)) {
        return None;
    }
    let bytes: Vec<u8> = b
        .chunks_exact(2)
        .map(|p| match p {
            [h, l] => ((h - b'A') << 4) | (l - b'A'),
            _ => 0,
        })
        .collect();
    let (suffix, name) = bytes.split_last()?;
    let name: String = name
        .iter()
        .map(|&c| if c.is_ascii_graphic() || c == b' ' { char::from(c) } else { '?' })
        .collect();
    Some((name.trim_end().to_owned(), *suffix))
}

/// The NetBIOS name in a DNS-format name (first label encoded, optional
/// scope after it).
fn netbios_of(name: &str) -> Option<(String, u8)> {
    decode_netbios(name.split('.').next().unwrap_or_default())
}

/// Which flavour a DNS-format message is, from its ports and shape.
fn flavour(ctx: &Ctx, m: &Message) -> App {
    if ctx.either_port(&[5353]) {
        App::Mdns
    } else if ctx.either_port(&[5355]) {
        App::Llmnr
    } else if ctx.either_port(&[137]) || looks_netbios(m) {
        App::Nbns
    } else {
        App::Dns
    }
}

fn looks_netbios(m: &Message) -> bool {
    let first = m.questions.first().map(|q| (q.name.as_str(), q.qtype)).or_else(|| {
        m.answers.iter().chain(&m.additional).next().map(|r| (r.name.as_str(), r.rtype))
    });
    matches!(first, Some((n, 0x20 | 0x21)) if netbios_of(n).is_some())
}

struct Facts(Vec<Fact>);

impl Facts {
    fn add(&mut self, subject: Subject, key: FactKey, value: &str) {
        if self.0.len() < MAX_FACTS
            && let Some(f) = Fact::new(subject, key, value)
            && !self.0.contains(&f)
        {
            self.0.push(f);
        }
    }
}

fn sender(side: Side) -> Subject {
    match side {
        Side::Client => Subject::Client,
        Side::Server => Subject::Server,
    }
}

fn records(m: &Message) -> impl Iterator<Item = &Record> {
    m.answers.iter().chain(&m.authority).chain(&m.additional)
}

/// Facts of a DNS, mDNS or LLMNR message.
fn dns_facts(app: App, m: &Message, from: Subject, out: &mut Facts) {
    if !m.response {
        for q in &m.questions {
            // mDNS service browsing (PTR _svc._tcp.local) says little about
            // the sender; plain names it asks for are still lookups.
            out.add(from, FactKey::DnsQuery, &q.name);
        }
    }
    for rec in records(m) {
        match &rec.data {
            Rdata::A(a) if !a.is_unspecified() => {
                out.add(Subject::Ip(IpAddr::V4(*a)), FactKey::DnsName, &rec.name)
            }
            Rdata::Aaaa(a) if !a.is_unspecified() => {
                out.add(Subject::Ip(IpAddr::V6(*a)), FactKey::DnsName, &rec.name)
            }
            _ => {}
        }
        if app != App::Mdns || !m.response {
            continue;
        }
        // mDNS responders announce their own records.
        match &rec.data {
            Rdata::Ptr(instance) if !rec.name.ends_with(".arpa") && is_instance(instance) => {
                out.add(from, FactKey::DnsSdInstance, instance)
            }
            Rdata::Ptr(host) if rec.name.ends_with(".arpa") => {
                out.add(from, FactKey::DnsName, host)
            }
            Rdata::Srv { target, .. } => {
                if is_instance(&rec.name) {
                    out.add(from, FactKey::DnsSdInstance, &rec.name);
                }
                out.add(from, FactKey::DnsName, target);
            }
            Rdata::Txt(strings) => txt_facts(strings, from, out),
            _ => {}
        }
    }
}

/// A DNS-SD service instance name ("Name._service._tcp.local"), not a
/// service type or enumeration name.
fn is_instance(name: &str) -> bool {
    let mut labels = name.split('.');
    matches!(labels.next(), Some(first) if !first.starts_with('_'))
        && (name.contains("._tcp.") || name.contains("._udp."))
}

/// DNS-SD TXT keys that name the device's maker or model.
fn txt_facts(strings: &[String], from: Subject, out: &mut Facts) {
    for s in strings {
        let Some((k, v)) = s.split_once('=') else {
            continue;
        };
        match k.to_ascii_lowercase().as_str() {
            "model" | "md" | "ty" | "usb_mdl" | "product" => {
                out.add(from, FactKey::Product, v.trim_matches(|c| c == '(' || c == ')'))
            }
            "manufacturer" | "usb_mfg" | "mfg" => out.add(from, FactKey::Vendor, v),
            _ => {}
        }
    }
}

/// Whether a NetBIOS name names a host (unique workstation/server names)
/// or a workgroup/domain; messenger (0x03) names are often user names and
/// are not kept.
fn netbios_fact(name: &str, suffix: u8, group: bool) -> Option<FactKey> {
    if name.is_empty() || name.contains("__MSBROWSE__") || name == "*" {
        return None;
    }
    match (suffix, group) {
        (0x00 | 0x20, false) => Some(FactKey::NetbiosName),
        (0x00 | 0x1c | 0x1e, true) | (0x1b | 0x1d, false) => Some(FactKey::Domain),
        _ => None,
    }
}

/// Facts of an NBNS message.
fn nbns_facts(m: &Message, from: Subject, out: &mut Facts) {
    // Registrations (5), releases (6), refreshes (8, 9) and positive
    // answers (response, opcode 0) name the address in their NB record.
    let naming = matches!(m.opcode, 5 | 6 | 8 | 9) || (m.response && m.opcode == 0 && m.rcode == 0);
    for rec in records(m) {
        match &rec.data {
            Rdata::Nb(entries) if naming => {
                let Some((name, suffix)) = netbios_of(&rec.name) else {
                    continue;
                };
                for (flags, ip) in entries {
                    let group = flags & 0x8000 != 0;
                    let subject =
                        if ip.is_unspecified() { from } else { Subject::Ip(IpAddr::V4(*ip)) };
                    if let Some(key) = netbios_fact(&name, suffix, group) {
                        out.add(subject, key, &name);
                    }
                }
            }
            Rdata::NbStat(names) if m.response => {
                for n in names {
                    if let Some(key) = netbios_fact(&n.name, n.suffix, n.group) {
                        out.add(from, key, &n.name);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A NetBIOS datagram (RFC 1002 section 4.4) and, when it carries one, a
/// browser announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// 0x10 direct unique, 0x11 direct group, 0x12 broadcast.
    pub msg_type: u8,
    pub source_ip: Ipv4Addr,
    pub source: (String, u8),
    pub destination: (String, u8),
    pub announcement: Option<Announcement>,
}

/// A browser Host, Local Master or Domain announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// 0x01 host, 0x0c domain/workgroup, 0x0f local master.
    pub command: u8,
    /// The host name (host and local master announcements) or the
    /// workgroup (domain announcements).
    pub server_name: String,
    pub os_major: u8,
    pub os_minor: u8,
    pub server_type: u32,
}

/// Parses a NetBIOS datagram service message carrying data (types
/// 0x10..0x12), and its browser announcement if any.
pub fn parse_datagram(d: &[u8]) -> Result<Datagram, Error> {
    let mut r = Reader::new(d);
    let msg_type = r.u8()?;
    if !(0x10..=0x12).contains(&msg_type) {
        return Err(Error::Implausible {
            field: "datagram type",
            offset: 0,
            value: msg_type.into(),
        });
    }
    r.skip(3)?; // flags, datagram id
    let source_ip = Ipv4Addr::from(r.array::<4>()?);
    r.skip(2)?; // source port
    let len = usize::from(r.u16_be()?);
    r.skip(2)?; // packet offset
    if len != r.remaining() {
        return Err(Error::Implausible { field: "datagram length", offset: 10, value: len });
    }
    let src_off = r.offset();
    let source = netbios_of(&name(d, &mut r)?).ok_or(Error::BadName { offset: src_off })?;
    let dst_off = r.offset();
    let destination = netbios_of(&name(d, &mut r)?).ok_or(Error::BadName { offset: dst_off })?;
    let smb = r.rest();
    Ok(Datagram { msg_type, source_ip, source, destination, announcement: browser(smb) })
}

/// The browser announcement in an SMB Trans to \MAILSLOT\BROWSE, if any.
fn browser(smb: &[u8]) -> Option<Announcement> {
    let mut r = Reader::new(smb);
    if r.take(5).ok()? != b"\xffSMB\x25" {
        return None;
    }
    // SMB header is 32 bytes; Trans: word count then words; the data offset
    // (from the SMB header start) is word 12.
    r.skip(27).ok()?;
    let wc = r.u8().ok()?;
    let words = r.take(usize::from(wc) * 2).ok()?;
    let data_off = usize::from(u16::from_le_bytes([*words.get(24)?, *words.get(25)?]));
    let mut a = Reader::new(smb.get(data_off..)?);
    let command = a.u8().ok()?;
    if !matches!(command, 0x01 | 0x0c | 0x0f) {
        return None;
    }
    a.skip(5).ok()?; // update count, periodicity
    let raw = a.take(16).ok()?;
    let server_name = String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or_default())
        .trim()
        .to_owned();
    let os_major = a.u8().ok()?;
    let os_minor = a.u8().ok()?;
    let server_type = a.u32_le().ok()?;
    Some(Announcement { command, server_name, os_major, os_minor, server_type })
}

fn datagram_facts(dg: &Datagram, from: Subject, out: &mut Facts) {
    let (src, src_suffix) = &dg.source;
    if let Some(key) = netbios_fact(src, *src_suffix, false) {
        out.add(from, key, src);
    }
    let (dst, dst_suffix) = &dg.destination;
    if matches!(dst_suffix, 0x00 | 0x1b | 0x1d | 0x1e)
        && dg.msg_type == 0x11
        && netbios_fact(dst, *dst_suffix, true).is_some()
    {
        out.add(from, FactKey::Domain, dst);
    }
    if let Some(a) = &dg.announcement {
        match a.command {
            0x0c => out.add(from, FactKey::Domain, &a.server_name),
            _ => {
                out.add(from, FactKey::NetbiosName, &a.server_name);
                out.add(
                    from,
                    FactKey::Description,
                    &format!("Windows {}.{} (browser announcement)", a.os_major, a.os_minor),
                );
            }
        }
    }
}

/// Identifies DNS, mDNS, LLMNR, NBNS and NetBIOS datagrams, with the
/// names they carry.
pub fn probe_datagram(ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let from = sender(side);
    let mut facts = Facts(Vec::new());
    if ctx.either_port(&[138])
        && let Ok(dg) = parse_datagram(payload)
    {
        datagram_facts(&dg, from, &mut facts);
        return Verdict::Yes { app: App::NetbiosDgm, facts: facts.0, more: true };
    }
    let Ok(m) = parse(payload) else {
        return Verdict::No;
    };
    // Something a resolver would send: a question, or an answer.
    if m.questions.is_empty() && m.answers.is_empty() && m.additional.is_empty() {
        return Verdict::No;
    }
    let app = flavour(ctx, &m);
    match app {
        App::Nbns => nbns_facts(&m, from, &mut facts),
        _ => dns_facts(app, &m, from, &mut facts),
    }
    Verdict::Yes { app, facts: facts.0, more: true }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn ctx(port: u16) -> Ctx {
        Ctx { client_port: 50000, server_port: port }
    }

    /// A response for www.example.com A 93.184.216.34 with a compressed
    /// answer name.
    fn response() -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34]);
        p
    }

    #[test]
    fn answer_names_the_address() {
        let v = probe_datagram(&ctx(53), Side::Server, &response());
        let ip = Subject::Ip("93.184.216.34".parse().unwrap());
        assert_eq!(
            v,
            Verdict::Yes {
                app: App::Dns,
                facts: vec![Fact::new(ip, FactKey::DnsName, "www.example.com").unwrap()],
                more: true,
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete_and_no() {
        let p = response();
        for n in 0..p.len() {
            assert!(parse(&p[..n]).is_err(), "prefix {n}");
            assert_eq!(probe_datagram(&ctx(53), Side::Server, &p[..n]), Verdict::No, "prefix {n}");
        }
    }

    #[test]
    fn pointer_loops_are_refused() {
        // A question whose name points at itself.
        let mut p = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&p), Err(Error::BadPointer { offset: 12, target: 12 }));
        // Two labels pointing forward then back.
        let mut p = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
        // (allowed: it points backwards; the name length cap ends the walk)
        assert!(matches!(parse(&p), Err(Error::BadName { .. })));
    }

    #[test]
    fn netbios_first_level_decoding() {
        assert_eq!(decode_netbios("ENEEEKFCDJDICACACACACACACACACAAA"), Some(("MDJR98".into(), 0)));
        assert_eq!(decode_netbios("ENEEEKFCDJDICACACACACACACACACAA"), None);
    }

    #[test]
    fn mdns_txt_model_and_instances() {
        let mut p = vec![0, 0, 0x84, 0, 0, 0, 0, 2, 0, 0, 0, 0];
        // PTR _ipp._tcp.local -> Lab Printer._ipp._tcp.local
        p.extend_from_slice(
            b"\x04_ipp\x04_tcp\x05local\x00\x00\x0c\x00\x01\x00\x00\x00\x3c\x00\x0e",
        );
        p.extend_from_slice(b"\x0bLab Printer\xc0\x0c");
        // TXT at the instance: ty=HP LaserJet 400, usb_MFG=HP
        let txt: &[u8] = b"\x0fty=HP LaserJet4\x0ausb_MFG=HP";
        p.extend_from_slice(&[0xc0, 39, 0, 16, 0, 1, 0, 0, 0, 60, 0, txt.len() as u8]);
        p.extend_from_slice(txt);
        let Verdict::Yes { app, facts, .. } =
            probe_datagram(&Ctx { client_port: 5353, server_port: 5353 }, Side::Client, &p)
        else {
            panic!("{:?}", parse(&p))
        };
        assert_eq!(app, App::Mdns);
        assert_eq!(
            facts,
            vec![
                Fact::new(Subject::Client, FactKey::DnsSdInstance, "Lab Printer._ipp._tcp.local")
                    .unwrap(),
                Fact::new(Subject::Client, FactKey::Product, "HP LaserJet4").unwrap(),
                Fact::new(Subject::Client, FactKey::Vendor, "HP").unwrap(),
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            for port in [53, 137, 138, 5353, 5355] {
                let _ = probe_datagram(&ctx(port), Side::Client, &data);
            }
            let mut p = response();
            p.extend_from_slice(&data);
            let _ = parse(&p);
            let _ = parse_datagram(&data);
        }
    }
}
