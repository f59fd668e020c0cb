//! Application messages, byte for byte: DHCP, DNS, DICOM upper layer and
//! DIMSE commands, HL7 v2 over MLLP, TLS ClientHello/ServerHello, SMB2
//! NEGOTIATE and READ, SSH identification and KEXINIT, RDP X.224
//! connection request/confirm, IKEv2 IKE_SA_INIT/IKE_AUTH.
//!
//! Every value is synthetic. HL7 carries only an obviously synthetic
//! patient (`TEST^PATIENT`); DICOM datasets carry no patient module.

use crate::rng::Rng;

fn be16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn be32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// Writes a big-endian length of `width` bytes at `at` for what follows
/// `at + width`.
fn patch_len(v: &mut [u8], at: usize, width: usize) {
    let n = v.len() - at - width;
    let bytes = (n as u32).to_be_bytes();
    if let (Some(dst), Some(src)) = (v.get_mut(at..at + width), bytes.get(4 - width..)) {
        dst.copy_from_slice(src);
    }
}

// ---------------------------------------------------------------- DHCP

/// DHCP message types (option 53).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Ack = 5,
}

/// What a DHCP message says.
#[derive(Clone, Debug)]
pub struct Dhcp<'a> {
    pub kind: DhcpType,
    pub xid: u32,
    pub mac: [u8; 6],
    /// `ciaddr` (renewals).
    pub ciaddr: [u8; 4],
    /// `yiaddr` (offers and acks).
    pub yiaddr: [u8; 4],
    pub hostname: &'a str,
    pub vendor_class: &'a str,
    pub requested: Option<[u8; 4]>,
    pub server: [u8; 4],
    pub router: [u8; 4],
    pub broadcast: bool,
}

/// Parameter request list of a Windows client.
const PARAMS: &[u8] = &[1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252];

/// A BOOTP/DHCP message (at least 300 bytes, as BOOTP requires).
pub fn dhcp(m: &Dhcp<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    let op = if matches!(m.kind, DhcpType::Offer | DhcpType::Ack) { 2 } else { 1 };
    out.extend_from_slice(&[op, 1, 6, 0]);
    be32(out, m.xid);
    be16(out, 0);
    be16(out, if m.broadcast { 0x8000 } else { 0 });
    out.extend_from_slice(&m.ciaddr);
    out.extend_from_slice(&m.yiaddr);
    out.extend_from_slice(&[0; 4]); // siaddr
    out.extend_from_slice(&[0; 4]); // giaddr
    out.extend_from_slice(&m.mac);
    out.extend_from_slice(&[0; 10 + 64 + 128]);
    out.extend_from_slice(&[99, 130, 83, 99]);
    out.extend_from_slice(&[53, 1, m.kind as u8]);
    let client = matches!(m.kind, DhcpType::Discover | DhcpType::Request);
    if client {
        out.extend_from_slice(&[61, 7, 1]);
        out.extend_from_slice(&m.mac);
        if let Some(ip) = m.requested {
            out.extend_from_slice(&[50, 4]);
            out.extend_from_slice(&ip);
        }
        if m.kind == DhcpType::Request && m.ciaddr == [0; 4] {
            out.extend_from_slice(&[54, 4]);
            out.extend_from_slice(&m.server);
        }
        out.extend_from_slice(&[12, m.hostname.len() as u8]);
        out.extend_from_slice(m.hostname.as_bytes());
        out.extend_from_slice(&[60, m.vendor_class.len() as u8]);
        out.extend_from_slice(m.vendor_class.as_bytes());
        out.extend_from_slice(&[55, PARAMS.len() as u8]);
        out.extend_from_slice(PARAMS);
    } else {
        out.extend_from_slice(&[54, 4]);
        out.extend_from_slice(&m.server);
        out.extend_from_slice(&[51, 4, 0, 0, 0x0e, 0x10]); // 3600 s
        out.extend_from_slice(&[58, 4, 0, 0, 0x07, 0x08]);
        out.extend_from_slice(&[59, 4, 0, 0, 0x0c, 0x4e]);
        out.extend_from_slice(&[1, 4, 255, 255, 0, 0]);
        out.extend_from_slice(&[3, 4]);
        out.extend_from_slice(&m.router);
        out.extend_from_slice(&[6, 4]);
        out.extend_from_slice(&m.server);
        let domain = b"hosp.example";
        out.extend_from_slice(&[15, domain.len() as u8]);
        out.extend_from_slice(domain);
    }
    out.push(255);
    while out.len() - start < 300 {
        out.push(0);
    }
}

// ----------------------------------------------------------------- DNS

fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(label.as_bytes().get(..label.len().min(63)).unwrap_or(&[]));
    }
    out.push(0);
}

/// A standard query for `name`'s A record.
pub fn dns_query(id: u16, name: &str, out: &mut Vec<u8>) {
    be16(out, id);
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    dns_name(out, name);
    out.extend_from_slice(&[0, 1, 0, 1]);
}

/// The answer to [`dns_query`]: one A record.
pub fn dns_answer(id: u16, name: &str, addr: [u8; 4], ttl: u32, out: &mut Vec<u8>) {
    be16(out, id);
    out.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    dns_name(out, name);
    out.extend_from_slice(&[0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1]);
    be32(out, ttl);
    out.extend_from_slice(&[0, 4]);
    out.extend_from_slice(&addr);
}

// --------------------------------------------------------------- DICOM

/// DICOM UIDs used by the generator.
pub mod uid {
    pub const APP_CONTEXT: &str = "1.2.840.10008.3.1.1.1";
    pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
    pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    pub const VERIFICATION: &str = "1.2.840.10008.1.1";
}

/// An A-ASSOCIATE-RQ or -AC.
#[derive(Clone, Debug)]
pub struct Associate<'a> {
    pub called: &'a str,
    pub calling: &'a str,
    /// Presentation contexts: (id, abstract syntax).
    pub contexts: &'a [(u8, &'a str)],
    pub impl_uid: &'a str,
    pub impl_version: &'a str,
}

fn ae(out: &mut Vec<u8>, title: &str) {
    let mut t = [b' '; 16];
    for (d, s) in t.iter_mut().zip(title.bytes()) {
        *d = s;
    }
    out.extend_from_slice(&t);
}

fn item(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(&[kind, 0, 0, 0]);
    let at = out.len() - 2;
    body(out);
    patch_len(out, at, 2);
}

fn uid_item(out: &mut Vec<u8>, kind: u8, uid: &str) {
    item(out, kind, |o| o.extend_from_slice(uid.as_bytes()));
}

/// A-ASSOCIATE-RQ (`accept` false) or A-ASSOCIATE-AC accepting every
/// context with implicit VR little endian (`accept` true).
pub fn associate(a: &Associate<'_>, accept: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[if accept { 2 } else { 1 }, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    ae(out, a.called);
    ae(out, a.calling);
    out.extend_from_slice(&[0; 32]);
    uid_item(out, 0x10, uid::APP_CONTEXT);
    for &(id, abs) in a.contexts {
        if accept {
            item(out, 0x21, |o| {
                o.extend_from_slice(&[id, 0, 0, 0]);
                uid_item(o, 0x40, uid::IMPLICIT_LE);
            });
        } else {
            item(out, 0x20, |o| {
                o.extend_from_slice(&[id, 0, 0, 0]);
                uid_item(o, 0x30, abs);
                uid_item(o, 0x40, uid::EXPLICIT_LE);
                uid_item(o, 0x40, uid::IMPLICIT_LE);
            });
        }
    }
    item(out, 0x50, |o| {
        item(o, 0x51, |o| be32(o, 16_384));
        uid_item(o, 0x52, a.impl_uid);
        item(o, 0x55, |o| o.extend_from_slice(a.impl_version.as_bytes()));
    });
    patch_len(out, start + 2, 4);
}

/// A-RELEASE-RQ (`reply` false) or A-RELEASE-RP.
pub fn release(reply: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&[if reply { 6 } else { 5 }, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
}

/// One element in implicit VR little endian (value padded to even
/// length: UIDs with NUL, text with a space).
fn element(out: &mut Vec<u8>, group: u16, elem: u16, value: &[u8], pad: u8) {
    le16(out, group);
    le16(out, elem);
    let n = value.len() + value.len() % 2;
    le32(out, n as u32);
    out.extend_from_slice(value);
    if value.len() % 2 == 1 {
        out.push(pad);
    }
}

/// A DIMSE command and its fields.
#[derive(Clone, Copy, Debug)]
pub enum Dimse<'a> {
    EchoRq { msg_id: u16 },
    EchoRsp { msg_id: u16 },
    StoreRq { msg_id: u16, sop_class: &'a str, instance: &'a str },
    StoreRsp { msg_id: u16, sop_class: &'a str, instance: &'a str },
}

/// A P-DATA-TF PDU carrying one complete command PDV.
pub fn pdata_command(pcid: u8, cmd: Dimse<'_>, out: &mut Vec<u8>) {
    let mut c = Vec::with_capacity(160);
    let us = |v: u16| v.to_le_bytes();
    match cmd {
        Dimse::EchoRq { msg_id } => {
            element(&mut c, 0, 0x0002, uid::VERIFICATION.as_bytes(), 0);
            element(&mut c, 0, 0x0100, &us(0x0030), 0);
            element(&mut c, 0, 0x0110, &us(msg_id), 0);
            element(&mut c, 0, 0x0800, &us(0x0101), 0);
        }
        Dimse::EchoRsp { msg_id } => {
            element(&mut c, 0, 0x0002, uid::VERIFICATION.as_bytes(), 0);
            element(&mut c, 0, 0x0100, &us(0x8030), 0);
            element(&mut c, 0, 0x0120, &us(msg_id), 0);
            element(&mut c, 0, 0x0800, &us(0x0101), 0);
            element(&mut c, 0, 0x0900, &us(0), 0);
        }
        Dimse::StoreRq { msg_id, sop_class, instance } => {
            element(&mut c, 0, 0x0002, sop_class.as_bytes(), 0);
            element(&mut c, 0, 0x0100, &us(0x0001), 0);
            element(&mut c, 0, 0x0110, &us(msg_id), 0);
            element(&mut c, 0, 0x0700, &us(0), 0);
            element(&mut c, 0, 0x0800, &us(0x0000), 0);
            element(&mut c, 0, 0x1000, instance.as_bytes(), 0);
        }
        Dimse::StoreRsp { msg_id, sop_class, instance } => {
            element(&mut c, 0, 0x0002, sop_class.as_bytes(), 0);
            element(&mut c, 0, 0x0100, &us(0x8001), 0);
            element(&mut c, 0, 0x0120, &us(msg_id), 0);
            element(&mut c, 0, 0x0800, &us(0x0101), 0);
            element(&mut c, 0, 0x0900, &us(0), 0);
            element(&mut c, 0, 0x1000, instance.as_bytes(), 0);
        }
    }
    let mut cmd_set = Vec::with_capacity(c.len() + 12);
    element(&mut cmd_set, 0, 0x0000, &(c.len() as u32).to_le_bytes(), 0);
    cmd_set.extend_from_slice(&c);
    out.extend_from_slice(&[4, 0]);
    be32(out, (6 + cmd_set.len()) as u32);
    be32(out, (2 + cmd_set.len()) as u32);
    out.extend_from_slice(&[pcid, 0x03]);
    out.extend_from_slice(&cmd_set);
}

/// The start of a synthetic image dataset (implicit VR little endian):
/// SOP class and instance, modality, and the Pixel Data header for
/// `pixels` bytes that follow. No patient module.
pub fn dataset_prefix(sop_class: &str, instance: &str, modality: &str, pixels: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(128);
    element(&mut d, 0x0008, 0x0016, sop_class.as_bytes(), 0);
    element(&mut d, 0x0008, 0x0018, instance.as_bytes(), 0);
    element(&mut d, 0x0008, 0x0060, modality.as_bytes(), b' ');
    le16(&mut d, 0x7fe0);
    le16(&mut d, 0x0010);
    le32(&mut d, pixels);
    d
}

/// A synthetic UID under the UUID-derived root `2.25`.
pub fn synthetic_uid(rng: &mut Rng) -> String {
    format!("2.25.{}{:019}", rng.range(1, 9), rng.below(10_000_000_000_000_000_000))
}

// ---------------------------------------------------------------- HL7

/// One HL7 v2.5 message in MLLP framing: MSH, a synthetic PID
/// (`TEST^PATIENT`), and a message-type-specific segment.
#[allow(clippy::too_many_arguments, reason = "the MSH fields")]
pub fn hl7(
    app: &str,
    facility: &str,
    to_app: &str,
    to_facility: &str,
    when: &str,
    kind: &str,
    control: u32,
    out: &mut Vec<u8>,
) {
    out.push(0x0b);
    let msh = format!(
        "MSH|^~\\&|{app}|{facility}|{to_app}|{to_facility}|{when}||{kind}|SYN{control:08}|P|2.5\r"
    );
    out.extend_from_slice(msh.as_bytes());
    out.extend_from_slice(b"PID|1||SYN000001^^^SYNTH^MR||TEST^PATIENT||19700101|U\r");
    if kind.starts_with("ADT") {
        out.extend_from_slice(b"PV1|1|I|TESTWARD^001^1\r");
    } else {
        out.extend_from_slice(b"OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||F\r");
    }
    out.extend_from_slice(&[0x1c, 0x0d]);
}

/// The acknowledgement of an [`hl7`] message.
pub fn hl7_ack(
    app: &str,
    facility: &str,
    to_app: &str,
    to_facility: &str,
    when: &str,
    control: u32,
    out: &mut Vec<u8>,
) {
    out.push(0x0b);
    let m = format!(
        "MSH|^~\\&|{app}|{facility}|{to_app}|{to_facility}|{when}||ACK|ACK{control:08}|P|2.5\rMSA|AA|SYN{control:08}\r"
    );
    out.extend_from_slice(m.as_bytes());
    out.extend_from_slice(&[0x1c, 0x0d]);
}

// ---------------------------------------------------------------- TLS

/// A TLS record header.
pub fn tls_record_header(kind: u8, len: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&[kind, 3, 3]);
    be16(out, len);
}

fn ext(out: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    be16(out, kind);
    let at = out.len();
    be16(out, 0);
    body(out);
    patch_len(out, at, 2);
}

/// A TLS 1.3 ClientHello (record included) with SNI (if any) and ALPN.
pub fn client_hello(rng: &mut Rng, sni: Option<&str>, alpn: &[&str], out: &mut Vec<u8>) {
    let rec = out.len();
    out.extend_from_slice(&[22, 3, 1, 0, 0, 1, 0, 0, 0, 3, 3]);
    let mut r = [0u8; 64];
    rng.fill(&mut r);
    out.extend_from_slice(&r[..32]);
    out.push(32);
    out.extend_from_slice(&r[32..]);
    const SUITES: &[u16] = &[
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    be16(out, (SUITES.len() * 2) as u16);
    for s in SUITES {
        be16(out, *s);
    }
    out.extend_from_slice(&[1, 0]);
    let exts = out.len();
    be16(out, 0);
    if let Some(name) = sni {
        ext(out, 0, |o| {
            be16(o, (name.len() + 3) as u16);
            o.push(0);
            be16(o, name.len() as u16);
            o.extend_from_slice(name.as_bytes());
        });
    }
    ext(out, 23, |_| {});
    ext(out, 65281, |o| o.push(0));
    ext(out, 10, |o| o.extend_from_slice(&[0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]));
    ext(out, 11, |o| o.extend_from_slice(&[1, 0]));
    ext(out, 35, |_| {});
    if !alpn.is_empty() {
        ext(out, 16, |o| {
            let at = o.len();
            be16(o, 0);
            for p in alpn {
                o.push(p.len() as u8);
                o.extend_from_slice(p.as_bytes());
            }
            patch_len(o, at, 2);
        });
    }
    ext(out, 13, |o| {
        o.extend_from_slice(&[0, 16, 4, 3, 8, 4, 4, 1, 5, 3, 8, 5, 5, 1, 8, 6, 6, 1]);
    });
    ext(out, 51, |o| {
        o.extend_from_slice(&[0, 36, 0, 0x1d, 0, 32]);
        let mut k = [0u8; 32];
        rng.fill(&mut k);
        o.extend_from_slice(&k);
    });
    ext(out, 45, |o| o.extend_from_slice(&[1, 1]));
    ext(out, 43, |o| o.extend_from_slice(&[4, 3, 4, 3, 3]));
    patch_len(out, exts, 2);
    patch_len(out, rec + 6, 3);
    patch_len(out, rec + 3, 2);
}

/// A TLS 1.3 ServerHello, ChangeCipherSpec, and the encrypted rest of the
/// server's handshake (`encrypted` bytes of application data).
pub fn server_hello(rng: &mut Rng, encrypted: u16, out: &mut Vec<u8>) {
    let rec = out.len();
    out.extend_from_slice(&[22, 3, 3, 0, 0, 2, 0, 0, 0, 3, 3]);
    let mut r = [0u8; 64];
    rng.fill(&mut r);
    out.extend_from_slice(&r[..32]);
    out.push(32);
    out.extend_from_slice(&r[32..]);
    out.extend_from_slice(&[0x13, 0x01, 0]);
    let exts = out.len();
    be16(out, 0);
    ext(out, 43, |o| o.extend_from_slice(&[3, 4]));
    ext(out, 51, |o| {
        o.extend_from_slice(&[0, 0x1d, 0, 32]);
        let mut k = [0u8; 32];
        rng.fill(&mut k);
        o.extend_from_slice(&k);
    });
    patch_len(out, exts, 2);
    patch_len(out, rec + 6, 3);
    patch_len(out, rec + 3, 2);
    out.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
    tls_record_header(23, encrypted, out);
    let at = out.len();
    out.resize(at + usize::from(encrypted), 0);
    if let Some(s) = out.get_mut(at..) {
        rng.fill(s);
    }
}

/// The client's ChangeCipherSpec and encrypted Finished.
pub fn client_finished(rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
    tls_record_header(23, 53, out);
    let at = out.len();
    out.resize(at + 53, 0);
    if let Some(s) = out.get_mut(at..) {
        rng.fill(s);
    }
}

// ---------------------------------------------------------------- SMB2

const SMB2_NEGOTIATE: u16 = 0;
const SMB2_READ: u16 = 8;

/// An SMB2 header behind a direct-TCP (NBSS-style) length; the body
/// follows and [`nbss_close`] writes the length.
fn smb2_header(
    out: &mut Vec<u8>,
    cmd: u16,
    msg_id: u64,
    response: bool,
    tree: u32,
    session: u64,
) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&[0xfe, b'S', b'M', b'B']);
    le16(out, 64);
    le16(out, 1); // credit charge
    le32(out, 0); // status
    le16(out, cmd);
    le16(out, if response { 32 } else { 31 });
    le32(out, u32::from(response)); // SMB2_FLAGS_SERVER_TO_REDIR
    le32(out, 0);
    le64(out, msg_id);
    le32(out, 0xfeff);
    le32(out, tree);
    le64(out, session);
    out.extend_from_slice(&[0; 16]);
    at
}

fn nbss_close(out: &mut [u8], at: usize) {
    let n = (out.len() - at - 4) as u32;
    if let Some(s) = out.get_mut(at..at + 4) {
        s.copy_from_slice(&n.to_be_bytes());
        s[0] = 0;
    }
}

/// SMB2 NEGOTIATE request offering 2.0.2 to 3.0.2.
pub fn smb2_negotiate_request(client_guid: [u8; 16], out: &mut Vec<u8>) {
    let at = smb2_header(out, SMB2_NEGOTIATE, 0, false, 0, 0);
    const DIALECTS: [u16; 4] = [0x0202, 0x0210, 0x0300, 0x0302];
    le16(out, 36);
    le16(out, DIALECTS.len() as u16);
    le16(out, 1); // signing enabled
    le16(out, 0);
    le32(out, 0x7f);
    out.extend_from_slice(&client_guid);
    le64(out, 0);
    for d in DIALECTS {
        le16(out, d);
    }
    nbss_close(out, at);
}

/// SPNEGO negTokenInit offering NTLMSSP.
const SPNEGO: [u8; 30] = [
    0x60, 0x1c, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x12, 0x30, 0x10, 0xa0, 0x0e,
    0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
];

/// SMB2 NEGOTIATE response choosing 3.0.2.
pub fn smb2_negotiate_response(server_guid: [u8; 16], filetime: u64, out: &mut Vec<u8>) {
    let at = smb2_header(out, SMB2_NEGOTIATE, 0, true, 0, 0);
    le16(out, 65);
    le16(out, 1);
    le16(out, 0x0302);
    le16(out, 0);
    out.extend_from_slice(&server_guid);
    le32(out, 0x2f);
    le32(out, 8 << 20);
    le32(out, 8 << 20);
    le32(out, 8 << 20);
    le64(out, filetime);
    le64(out, 0);
    le16(out, 0x80);
    le16(out, SPNEGO.len() as u16);
    le32(out, 0);
    out.extend_from_slice(&SPNEGO);
    nbss_close(out, at);
}

/// SMB2 READ request for `len` bytes at `offset`.
#[allow(clippy::too_many_arguments, reason = "the READ request's fields")]
pub fn smb2_read_request(
    msg_id: u64,
    tree: u32,
    session: u64,
    file_id: [u8; 16],
    offset: u64,
    len: u32,
    out: &mut Vec<u8>,
) {
    let at = smb2_header(out, SMB2_READ, msg_id, false, tree, session);
    le16(out, 49);
    out.extend_from_slice(&[0x50, 0]);
    le32(out, len);
    le64(out, offset);
    out.extend_from_slice(&file_id);
    le32(out, 1);
    le32(out, 0);
    le32(out, 0);
    le16(out, 0);
    le16(out, 0);
    out.push(0);
    nbss_close(out, at);
}

/// The headers of an SMB2 READ response carrying `len` data bytes (which
/// follow); the NBSS length counts them.
pub fn smb2_read_response_head(msg_id: u64, tree: u32, session: u64, len: u32, out: &mut Vec<u8>) {
    let at = smb2_header(out, SMB2_READ, msg_id, true, tree, session);
    le16(out, 17);
    out.extend_from_slice(&[0x50, 0]);
    le32(out, len);
    le32(out, 0);
    le32(out, 0);
    let n = (out.len() - at - 4) as u32 + len;
    if let Some(s) = out.get_mut(at..at + 4) {
        s.copy_from_slice(&n.to_be_bytes());
        s[0] = 0;
    }
}

// ----------------------------------------------------------------- SSH

/// An SSH binary packet (unencrypted): padding to a multiple of 8.
fn ssh_packet(payload: &[u8], out: &mut Vec<u8>) {
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    be32(out, (1 + payload.len() + pad) as u32);
    out.push(pad as u8);
    out.extend_from_slice(payload);
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn name_list(out: &mut Vec<u8>, s: &str) {
    be32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

/// SSH_MSG_KEXINIT with OpenSSH-like algorithm lists.
pub fn ssh_kexinit(rng: &mut Rng, server: bool, out: &mut Vec<u8>) {
    let mut p = vec![20u8];
    let mut cookie = [0u8; 16];
    rng.fill(&mut cookie);
    p.extend_from_slice(&cookie);
    let kex = if server {
        "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256"
    } else {
        "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256,ext-info-c"
    };
    name_list(&mut p, kex);
    name_list(&mut p, "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256");
    for _ in 0..2 {
        name_list(
            &mut p,
            "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
        );
    }
    for _ in 0..2 {
        name_list(
            &mut p,
            "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com",
        );
    }
    for _ in 0..2 {
        name_list(&mut p, "none,zlib@openssh.com");
    }
    name_list(&mut p, "");
    name_list(&mut p, "");
    p.extend_from_slice(&[0, 0, 0, 0, 0]);
    ssh_packet(&p, out);
}

/// SSH_MSG_NEWKEYS.
pub fn ssh_newkeys(out: &mut Vec<u8>) {
    ssh_packet(&[21], out);
}

// ----------------------------------------------------------------- RDP

/// TPKT + X.224 Connection Request with an `mstshash` cookie and an RDP
/// negotiation request for TLS and CredSSP.
pub fn rdp_connection_request(user: &str, out: &mut Vec<u8>) {
    let cookie = format!("Cookie: mstshash={user}\r\n");
    let li = 6 + cookie.len() + 8;
    out.extend_from_slice(&[3, 0]);
    be16(out, (4 + 1 + li) as u16);
    out.extend_from_slice(&[li as u8, 0xe0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(cookie.as_bytes());
    out.extend_from_slice(&[1, 0, 8, 0, 3, 0, 0, 0]);
}

/// TPKT + X.224 Connection Confirm selecting TLS.
pub fn rdp_connection_confirm(out: &mut Vec<u8>) {
    out.extend_from_slice(&[3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0]);
    out.extend_from_slice(&[2, 0x1f, 8, 0, 1, 0, 0, 0]);
}

// ----------------------------------------------------------------- IKE

/// FortiGate's vendor ID (its first 12 bytes identify Fortinet; the rest
/// is version and flags).
pub const FORTINET_VID: [u8; 16] = [
    0x82, 0x99, 0x03, 0x17, 0x57, 0xa3, 0x60, 0x82, 0xc6, 0xa6, 0x21, 0xde, 0x00, 0x06, 0x00, 0x00,
];

/// Writes at `at` (2 or 4 bytes) the length of everything from `from`.
fn patch_total(v: &mut [u8], at: usize, width: usize, from: usize) {
    let n = (v.len() - from) as u32;
    if let (Some(dst), Some(src)) = (v.get_mut(at..at + width), n.to_be_bytes().get(4 - width..)) {
        dst.copy_from_slice(src);
    }
}

/// A generic IKE payload: its length counts its 4-byte header.
fn ike_payload(out: &mut Vec<u8>, next: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let from = out.len();
    out.extend_from_slice(&[next, 0, 0, 0]);
    body(out);
    patch_total(out, from + 2, 2, from);
}

/// IKEv2 IKE_SA_INIT request (`spi_r` zero) or response: SA (AES-CBC-256,
/// SHA-256 PRF and integrity, group 19), KE, nonce and Fortinet's vendor
/// ID.
pub fn ike_sa_init(rng: &mut Rng, spi_i: u64, spi_r: u64, response: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&spi_i.to_be_bytes());
    out.extend_from_slice(&spi_r.to_be_bytes());
    out.extend_from_slice(&[33, 0x20, 34, if response { 0x20 } else { 0x08 }, 0, 0, 0, 0]);
    be32(out, 0);
    ike_payload(out, 34, |o| {
        // One proposal, IKE, four transforms.
        let from = o.len();
        o.extend_from_slice(&[0, 0, 0, 0, 1, 1, 0, 4]);
        o.extend_from_slice(&[3, 0, 0, 12, 1, 0, 0, 12, 0x80, 0x0e, 1, 0]);
        o.extend_from_slice(&[3, 0, 0, 8, 2, 0, 0, 5]);
        o.extend_from_slice(&[3, 0, 0, 8, 3, 0, 0, 12]);
        o.extend_from_slice(&[0, 0, 0, 8, 4, 0, 0, 19]);
        patch_total(o, from + 2, 2, from);
    });
    ike_payload(out, 40, |o| {
        o.extend_from_slice(&[0, 19, 0, 0]);
        let mut k = [0u8; 64];
        rng.fill(&mut k);
        o.extend_from_slice(&k);
    });
    ike_payload(out, 43, |o| {
        let mut n = [0u8; 32];
        rng.fill(&mut n);
        o.extend_from_slice(&n);
    });
    ike_payload(out, 0, |o| o.extend_from_slice(&FORTINET_VID));
    patch_total(out, start + 24, 4, start);
}

/// IKEv2 IKE_AUTH (message ID 1): one encrypted payload.
pub fn ike_auth(rng: &mut Rng, spi_i: u64, spi_r: u64, response: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&spi_i.to_be_bytes());
    out.extend_from_slice(&spi_r.to_be_bytes());
    out.extend_from_slice(&[46, 0x20, 35, if response { 0x20 } else { 0x08 }, 0, 0, 0, 1]);
    be32(out, 0);
    ike_payload(out, 35, |o| {
        let mut b = [0u8; 16 + 256 + 16];
        rng.fill(&mut b);
        o.extend_from_slice(&b);
    });
    patch_total(out, start + 24, 4, start);
}

// ---------------------------------------------------------------- OpenVPN

/// OpenVPN's `P_CONTROL_HARD_RESET_CLIENT_V2` over UDP (no `tls-auth`):
/// opcode 7, key 0, the client's session ID, no ACKs, packet ID 0.
pub fn openvpn_client_reset(session: [u8; 8], out: &mut Vec<u8>) {
    out.push(7 << 3);
    out.extend_from_slice(&session);
    out.push(0);
    be32(out, 0);
}

/// The server's `P_CONTROL_HARD_RESET_SERVER_V2`: it ACKs the client's
/// packet 0 and echoes the client's session ID.
pub fn openvpn_server_reset(session: [u8; 8], client_session: [u8; 8], out: &mut Vec<u8>) {
    out.push(8 << 3);
    out.extend_from_slice(&session);
    out.push(1);
    be32(out, 0);
    out.extend_from_slice(&client_session);
    be32(out, 0);
}
