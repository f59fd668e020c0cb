//! TLS and DTLS: the record layer, handshake reassembly across records and
//! segments, ClientHello (SNI, ALPN, supported versions, JA4), ServerHello
//! (negotiated version and cipher, JA4S) and, where the handshake is still in
//! clear (TLS ≤ 1.2), the leaf certificate's subject and issuer.
//!
//! Three remote-access products are recognised on top of TLS:
//! - AnyDesk ([`App::AnyDesk`]): its self-signed `CN=AnyDesk Client`
//!   certificate (tcp/7070, 6568, or any port).
//! - FortiClient SSL-VPN ([`App::FortiSslVpn`]): the server presents a
//!   FortiGate certificate (`O=Fortinet`, `OU=FortiGate`; the CN is the
//!   device's serial number), or any `O=Fortinet` certificate on tcp/10443.
//! - Cisco AnyConnect ([`App::AnyConnect`]): its DTLS tunnel speaks Cisco's
//!   pre-standard DTLS, record and hello version `0x0100` (OpenSSL's
//!   `DTLS1_BAD_VER`), which no other client uses. Its TLS control channel
//!   looks like any HTTPS client and is named by the sensor by correlation
//!   (same client and server as the DTLS flow), not here.
//!
//! JA4 follows FoxIO's specification (`technical_details/JA4.md`): GREASE
//! values are ignored everywhere (ciphers, extensions, supported versions,
//! signature algorithms, ALPN), ciphers and extensions are sorted, SNI and
//! ALPN are counted but not hashed, signature algorithms are appended in wire
//! order after `_` (no `_` when there are none), empty lists hash to
//! `000000000000`.

mod ja4;

use std::fmt;

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::{Incomplete, Reader};

pub use ja4::{Transport, ja4, ja4s};

/// Record content types.
const CT_CHANGE_CIPHER_SPEC: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;

/// Handshake message types.
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_HELLO_VERIFY_REQUEST: u8 = 3;
const HS_CERTIFICATE: u8 = 11;
const HS_CERTIFICATE_REQUEST: u8 = 13;
const HS_SERVER_HELLO_DONE: u8 = 14;
const HS_CLIENT_KEY_EXCHANGE: u8 = 16;

/// Extension types.
const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// The largest TLS record payload (2^14 plus the 2048 bytes of expansion
/// RFC 5246 allows for protected records).
const MAX_RECORD: usize = 16384 + 2048;
/// The most handshake bytes reassembled per direction. ClientHellos with
/// post-quantum key shares are about 2 KiB; certificate chains rarely exceed
/// 16 KiB. The sensor's per-flow cap is lower still.
pub const MAX_HANDSHAKE: usize = 64 * 1024;

/// Cisco's pre-standard DTLS version (OpenSSL `DTLS1_BAD_VER`), spoken by
/// AnyConnect's DTLS tunnel.
pub const DTLS_CISCO: u16 = 0x0100;

/// A TLS/DTLS decoding failure, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    /// The input ended inside a record or message.
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// A record header that no TLS implementation sends.
    #[error(
        "not a TLS record at offset {offset}: content type {content_type}, version {version:#06x}, length {length}"
    )]
    BadRecord { offset: usize, content_type: u8, version: u16, length: usize },
    /// A handshake message that is not the one expected.
    #[error("unexpected handshake message type {got} at offset {offset} (expected {expected})")]
    UnexpectedMessage { offset: usize, expected: u8, got: u8 },
    /// A field whose content contradicts its own framing.
    #[error("malformed {field} at offset {offset}")]
    Malformed { field: &'static str, offset: usize },
    /// A handshake message longer than this parser reassembles.
    #[error("handshake message of {length} bytes at offset {offset} exceeds the {max}-byte cap")]
    TooLong { offset: usize, length: usize, max: usize },
    /// A certificate that x509-parser could not decode.
    #[error("undecodable certificate: {reason}")]
    Certificate { reason: String },
}

/// A TLS protocol version as sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u16);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0x0200 | 0x0002 => f.write_str("SSL 2.0"),
            0x0300 => f.write_str("SSL 3.0"),
            0x0301 => f.write_str("TLS 1.0"),
            0x0302 => f.write_str("TLS 1.1"),
            0x0303 => f.write_str("TLS 1.2"),
            0x0304 => f.write_str("TLS 1.3"),
            0xfeff => f.write_str("DTLS 1.0"),
            0xfefd => f.write_str("DTLS 1.2"),
            0xfefc => f.write_str("DTLS 1.3"),
            DTLS_CISCO => f.write_str("DTLS 0x0100 (Cisco pre-standard)"),
            v => write!(f, "{v:#06x}"),
        }
    }
}

/// Whether `v` is a GREASE value (RFC 8701): 0x?a?a with equal bytes.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The fields of a ClientHello this crate uses. Lists keep wire order and
/// GREASE values (the fingerprint functions drop them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` (the real version for TLS ≤ 1.2).
    pub version: u16,
    /// The session ID (AnyConnect's DTLS puts its tunnel session here).
    pub session_id: Vec<u8>,
    pub ciphers: Vec<u16>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// The first host name of the server_name extension.
    pub sni: Option<String>,
    /// ALPN protocol names in wire order.
    pub alpn: Vec<Vec<u8>>,
    /// The supported_versions extension.
    pub supported_versions: Vec<u16>,
    /// The signature_algorithms extension, in wire order.
    pub signature_algorithms: Vec<u16>,
}

impl ClientHello {
    /// Parses a ClientHello body (after the handshake header). `dtls`
    /// expects the DTLS cookie after the session ID.
    pub fn parse(body: &[u8], dtls: bool) -> Result<ClientHello, Error> {
        let mut r = Reader::new(body);
        let version = r.u16_be()?;
        r.skip(32)?;
        let session_id = r.vec_u8()?.to_vec();
        if session_id.len() > 32 {
            return Err(Error::Malformed { field: "session_id", offset: 34 });
        }
        if dtls {
            r.vec_u8()?;
        }
        let at = r.offset();
        let suites = r.vec_u16()?;
        if suites.len() % 2 != 0 {
            return Err(Error::Malformed { field: "cipher_suites", offset: at });
        }
        let ciphers = u16s(suites);
        r.vec_u8()?; // compression methods
        let mut hello = ClientHello { version, session_id, ciphers, ..ClientHello::default() };
        if r.is_empty() {
            return Ok(hello);
        }
        let base = r.offset();
        let exts = r.vec_u16()?;
        walk_extensions(exts, base + 2, |ty, data, offset| {
            hello.extensions.push(ty);
            match ty {
                EXT_SERVER_NAME => hello.sni = parse_sni(data, offset)?,
                EXT_ALPN => hello.alpn = parse_alpn(data, offset)?,
                EXT_SUPPORTED_VERSIONS => {
                    let mut e = Reader::new(data);
                    hello.supported_versions = u16s(e.vec_u8()?);
                }
                EXT_SIGNATURE_ALGORITHMS => {
                    let mut e = Reader::new(data);
                    hello.signature_algorithms = u16s(e.vec_u16()?);
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(hello)
    }

    /// The highest version offered: from supported_versions when present
    /// (GREASE ignored), else `legacy_version`.
    pub fn max_version(&self) -> u16 {
        let v = self.supported_versions.iter().copied().filter(|v| !is_grease(*v));
        // DTLS versions count down (0xfeff < 0xfefd means 1.0 < 1.2).
        let dtls = self.version >= 0xfe00;
        let best = if dtls { v.min() } else { v.max() };
        best.unwrap_or(self.version)
    }
}

/// The fields of a ServerHello this crate uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// `legacy_version`.
    pub version: u16,
    pub session_id: Vec<u8>,
    pub cipher: u16,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// The supported_versions extension (TLS 1.3: the version chosen).
    pub selected_version: Option<u16>,
    /// The ALPN protocol chosen.
    pub alpn: Option<Vec<u8>>,
}

impl ServerHello {
    /// Parses a ServerHello body.
    pub fn parse(body: &[u8]) -> Result<ServerHello, Error> {
        let mut r = Reader::new(body);
        let version = r.u16_be()?;
        r.skip(32)?;
        let session_id = r.vec_u8()?.to_vec();
        let cipher = r.u16_be()?;
        r.u8()?; // compression method
        let mut hello = ServerHello { version, session_id, cipher, ..ServerHello::default() };
        if r.is_empty() {
            return Ok(hello);
        }
        let base = r.offset();
        let exts = r.vec_u16()?;
        walk_extensions(exts, base + 2, |ty, data, offset| {
            hello.extensions.push(ty);
            match ty {
                EXT_SUPPORTED_VERSIONS => {
                    hello.selected_version = Some(Reader::new(data).u16_be()?);
                }
                EXT_ALPN => hello.alpn = parse_alpn(data, offset)?.into_iter().next(),
                _ => {}
            }
            Ok(())
        })?;
        Ok(hello)
    }

    /// The negotiated version.
    pub fn negotiated_version(&self) -> u16 {
        self.selected_version.unwrap_or(self.version)
    }
}

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| {
            u16::from_be_bytes([c.first().copied().unwrap_or(0), c.get(1).copied().unwrap_or(0)])
        })
        .collect()
}

fn walk_extensions(
    exts: &[u8],
    base: usize,
    mut f: impl FnMut(u16, &[u8], usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut r = Reader::new(exts);
    while !r.is_empty() {
        let ty = r
            .u16_be()
            .map_err(|_| Error::Malformed { field: "extensions", offset: base + r.offset() })?;
        let offset = base + r.offset();
        let data = r.vec_u16().map_err(|_| Error::Malformed { field: "extension", offset })?;
        f(ty, data, offset + 2).map_err(|e| match e {
            Error::Incomplete(_) => Error::Malformed { field: "extension", offset },
            e => e,
        })?;
    }
    Ok(())
}

fn parse_sni(data: &[u8], offset: usize) -> Result<Option<String>, Error> {
    let mut r = Reader::new(data);
    let mut list = Reader::new(r.vec_u16()?);
    while !list.is_empty() {
        let ty = list.u8()?;
        let name = list.vec_u16()?;
        if ty == 0 {
            if name.is_empty() {
                return Err(Error::Malformed { field: "server_name", offset });
            }
            return Ok(Some(String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(None)
}

fn parse_alpn(data: &[u8], offset: usize) -> Result<Vec<Vec<u8>>, Error> {
    let mut r = Reader::new(data);
    let mut list = Reader::new(r.vec_u16()?);
    let mut out = Vec::new();
    while !list.is_empty() {
        let p = list.vec_u8().map_err(|_| Error::Malformed { field: "alpn", offset })?;
        out.push(p.to_vec());
    }
    Ok(out)
}

/// A handshake message reassembled from one direction's records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub msg_type: u8,
    pub body: Vec<u8>,
}

/// What one direction of a TLS stream shows in clear.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flight {
    /// Complete handshake messages, in order.
    pub messages: Vec<Handshake>,
    /// A non-handshake record followed (ChangeCipherSpec, alert,
    /// application data): later handshake bytes are encrypted.
    pub ended: bool,
}

/// Reads the records of one direction of a TCP TLS stream and reassembles the
/// handshake messages they carry, across records and segments. Stops at the
/// first record that is not a handshake, at the end of the input (a partial
/// trailing record or message is left out), or at [`MAX_HANDSHAKE`].
///
/// Fails only when the bytes are not TLS records.
pub fn read_flight(stream: &[u8]) -> Result<Flight, Error> {
    let mut r = Reader::new(stream);
    let mut hs: Vec<u8> = Vec::new();
    let mut flight = Flight::default();
    while r.remaining() >= 5 {
        let offset = r.offset();
        let header = r.peek(5)?;
        let [content_type, major, minor, l0, l1] = <[u8; 5]>::try_from(header).unwrap_or([0; 5]);
        let version = u16::from_be_bytes([major, minor]);
        let length = usize::from(u16::from_be_bytes([l0, l1]));
        if !(CT_CHANGE_CIPHER_SPEC..=CT_APPLICATION_DATA).contains(&content_type)
            || major != 3
            || minor > 4
            || length > MAX_RECORD
            || (content_type == CT_HANDSHAKE && length == 0)
        {
            return Err(Error::BadRecord { offset, content_type, version, length });
        }
        if content_type != CT_HANDSHAKE {
            flight.ended = true;
            break;
        }
        r.skip(5)?;
        let Ok(payload) = r.take(length) else {
            // Partial record: what it holds so far still counts.
            let rest = r.rest();
            hs.extend_from_slice(
                rest.get(..MAX_HANDSHAKE.saturating_sub(hs.len())).unwrap_or(rest),
            );
            break;
        };
        if hs.len() + payload.len() > MAX_HANDSHAKE {
            break;
        }
        hs.extend_from_slice(payload);
    }
    let mut m = Reader::new(&hs);
    while let Ok(header) = m.peek(4) {
        let [msg_type, a, b, c] = <[u8; 4]>::try_from(header).unwrap_or([0; 4]);
        let length = usize::try_from(u32::from_be_bytes([0, a, b, c])).unwrap_or(usize::MAX);
        if length > MAX_HANDSHAKE {
            return Err(Error::TooLong { offset: m.offset(), length, max: MAX_HANDSHAKE });
        }
        if m.remaining() < 4 + length {
            break;
        }
        m.skip(4)?;
        let body = m.take(length)?.to_vec();
        flight.messages.push(Handshake { msg_type, body });
    }
    Ok(flight)
}

/// What a leaf certificate says about its holder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject DN as x509-parser renders it (`C=US, ST=…, CN=…`).
    pub subject: String,
    /// The issuer DN.
    pub issuer: String,
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
}

/// A directory string's text: the UTF-8 family as is, and the legacy
/// types older certificates use — TeletexString (read as Latin-1, as
/// browsers do; `CN=*.gstatic.com` in 2012's Google certificate) and
/// BMPString (UTF-16BE).
fn attribute_text(a: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Option<String> {
    use x509_parser::asn1_rs::Tag;
    if let Ok(s) = a.as_str() {
        return Some(s.to_owned());
    }
    let raw = a.as_slice();
    match a.attr_value().tag() {
        Tag::T61String => Some(raw.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units = raw.chunks_exact(2).map(|c| match c {
                [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                _ => 0xfffd,
            });
            Some(char::decode_utf16(units).map(|c| c.unwrap_or('\u{fffd}')).collect())
        }
        _ => None,
    }
}

impl CertInfo {
    /// Decodes a DER certificate.
    pub fn parse(der: &[u8]) -> Result<CertInfo, Error> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::Certificate { reason: e.to_string() })?;
        fn first<'a>(
            mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
        ) -> Option<String> {
            it.find_map(attribute_text)
        }
        let subject = cert.subject();
        Ok(CertInfo {
            subject: subject.to_string(),
            issuer: cert.issuer().to_string(),
            common_name: first(subject.iter_common_name()),
            organization: first(subject.iter_organization()),
            organizational_unit: first(subject.iter_organizational_unit()),
        })
    }

    /// Issued by its own subject, or by a CA of the same organisation: the
    /// pattern of device certificates (self-signed, or from the vendor's
    /// factory CA), where `O=` names the maker.
    fn vendor_issued(&self) -> bool {
        self.subject == self.issuer
            || self.organization.as_ref().is_some_and(|o| self.issuer.contains(&format!("O={o}")))
    }

    /// AnyDesk's self-signed certificate (`CN=AnyDesk Client`, which both
    /// ends of an AnyDesk session present).
    pub fn is_anydesk(&self) -> bool {
        self.common_name.as_deref() == Some("AnyDesk Client")
    }

    /// A Fortinet appliance certificate: `O=Fortinet`, OU the product line
    /// (FortiGate, FortiWiFi, …).
    pub fn is_fortinet(&self) -> bool {
        self.organization.as_deref() == Some("Fortinet")
    }

    /// The FortiGate/FortiWiFi device serial in the CN (`FGT60E…`,
    /// `FWF60E4Q16012050`): upper-case letters and digits, starting with
    /// `F`, 14 to 16 characters.
    pub fn fortinet_serial(&self) -> Option<&str> {
        let cn = self.common_name.as_deref()?;
        let ok = self.is_fortinet()
            && (14..=16).contains(&cn.len())
            && cn.starts_with('F')
            && cn.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        ok.then_some(cn)
    }

    /// Facts about `who` (the server, or a client presenting a certificate).
    pub fn facts(&self, who: Subject, out: &mut Vec<Fact>) {
        out.extend(Fact::new(who, FactKey::CertSubject, &self.subject));
        out.extend(Fact::new(who, FactKey::CertIssuer, &self.issuer));
        if let Some(cn) = &self.common_name {
            out.extend(Fact::new(who, FactKey::CertCommonName, cn));
        }
        if self.is_fortinet() {
            out.extend(Fact::new(who, FactKey::Vendor, "Fortinet"));
            if let Some(ou) =
                self.organizational_unit.as_deref().filter(|ou| ou.starts_with("Forti"))
            {
                out.extend(Fact::new(who, FactKey::Product, ou));
            }
            if let Some(serial) = self.fortinet_serial() {
                out.extend(Fact::new(who, FactKey::Serial, serial));
            }
        } else if let Some(o) =
            self.organization.as_ref().filter(|_| who == Subject::Server && self.vendor_issued())
        {
            // A server's own certificate names the maker of the box; a
            // client certificate names the client software's vendor
            // (Code42's backup agent on a MacBook), not the host's.
            out.extend(Fact::new(who, FactKey::Vendor, o));
        }
    }
}

/// The leaf certificate of a Certificate message (TLS ≤ 1.2 layout).
pub fn leaf_certificate(body: &[u8]) -> Result<Option<CertInfo>, Error> {
    let mut r = Reader::new(body);
    let list_len = usize::try_from(r.u24_be()?).unwrap_or(usize::MAX);
    let mut list = Reader::new(r.take(list_len)?);
    if list.is_empty() {
        return Ok(None);
    }
    let len = usize::try_from(list.u24_be()?).unwrap_or(usize::MAX);
    let der =
        list.take(len).map_err(|_| Error::Malformed { field: "certificate_list", offset: 3 })?;
    CertInfo::parse(der).map(Some)
}

/// Whether the first bytes of a client's stream can still be a TLS
/// ClientHello record (checked byte by byte, so a short prefix decides as
/// early as possible).
fn plausible_client_start(client: &[u8]) -> bool {
    let mut it = client.iter().copied();
    let checks: [&dyn Fn(u8) -> bool; 6] =
        [&|b| b == CT_HANDSHAKE, &|b| b == 3, &|b| b <= 4, &|_| true, &|_| true, &|b| {
            b == HS_CLIENT_HELLO
        }];
    for check in checks {
        match it.next() {
            Some(b) if !check(b) => return false,
            Some(_) => {}
            None => return true,
        }
    }
    // A ClientHello may be split over several small records: any non-empty
    // record length up to the maximum is possible.
    let len = client
        .get(3..5)
        .and_then(|l| <[u8; 2]>::try_from(l).ok())
        .map_or(1, |l| usize::from(u16::from_be_bytes(l)));
    (1..=MAX_RECORD).contains(&len)
}

fn version_fact(subject: Subject, v: u16, out: &mut Vec<Fact>) {
    out.extend(Fact::new(subject, FactKey::TlsVersion, &Version(v).to_string()));
}

/// Facts from a ClientHello.
fn client_hello_facts(hello: &ClientHello, transport: Transport, out: &mut Vec<Fact>) {
    if let Some(sni) = &hello.sni {
        out.extend(Fact::new(Subject::Server, FactKey::TlsSni, sni));
    }
    for p in &hello.alpn {
        out.extend(Fact::from_bytes(Subject::Client, FactKey::TlsAlpn, p));
    }
    version_fact(Subject::Client, hello.max_version(), out);
    out.extend(Fact::new(Subject::Client, FactKey::Ja4, &ja4(hello, transport)));
}

fn server_hello_facts(hello: &ServerHello, transport: Transport, out: &mut Vec<Fact>) {
    version_fact(Subject::Server, hello.negotiated_version(), out);
    if let Some(p) = &hello.alpn {
        out.extend(Fact::from_bytes(Subject::Server, FactKey::TlsAlpn, p));
    }
    out.extend(Fact::new(Subject::Server, FactKey::Ja4s, &ja4s(hello, transport)));
}

/// TCP probe: TLS from the client's first record. `Yes` once the whole
/// ClientHello is in; `more` until the server's clear-text handshake
/// (ServerHello, and Certificate up to TLS 1.2) has been read. The app is
/// [`App::Tls`], refined to [`App::FortiSslVpn`] or [`App::AnyDesk`] once
/// their certificate shows (so the sensor should keep the app of the latest
/// `Yes`).
pub fn probe_stream(ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    if client.is_empty() {
        // A TLS client speaks first.
        return if server.is_empty() { Verdict::NeedMore } else { Verdict::No };
    }
    if !plausible_client_start(client) {
        return Verdict::No;
    }
    let Ok(cflight) = read_flight(client) else { return Verdict::No };
    let Some(first) = cflight.messages.first() else {
        return if cflight.ended { Verdict::No } else { Verdict::NeedMore };
    };
    if first.msg_type != HS_CLIENT_HELLO {
        return Verdict::No;
    }
    let Ok(hello) = ClientHello::parse(&first.body, false) else { return Verdict::No };
    let mut facts = Vec::new();
    client_hello_facts(&hello, Transport::Tcp, &mut facts);
    let mut app = App::Tls;
    let mut more = true;

    if let Ok(sflight) = read_flight(server) {
        let mut cert_requested = false;
        for m in &sflight.messages {
            match m.msg_type {
                HS_SERVER_HELLO => {
                    let Ok(sh) = ServerHello::parse(&m.body) else {
                        more = false;
                        break;
                    };
                    server_hello_facts(&sh, Transport::Tcp, &mut facts);
                    if sh.negotiated_version() >= 0x0304 {
                        more = false; // the rest is encrypted
                    }
                }
                HS_CERTIFICATE => {
                    if let Ok(Some(cert)) = leaf_certificate(&m.body) {
                        cert.facts(Subject::Server, &mut facts);
                        if cert.is_anydesk() {
                            app = App::AnyDesk;
                        } else if cert.is_fortinet()
                            && (cert.organizational_unit.as_deref() == Some("FortiGate")
                                || cert.fortinet_serial().is_some()
                                || ctx.either_port(&[10443]))
                        {
                            app = App::FortiSslVpn;
                        }
                    }
                }
                HS_CERTIFICATE_REQUEST => cert_requested = true,
                HS_SERVER_HELLO_DONE => more = false,
                _ => {}
            }
        }
        if sflight.ended {
            more = false; // resumption, or a server that sent an alert
        }
        // A client certificate (mutual TLS; AnyConnect's machine
        // certificate) comes in the client's second flight.
        if cert_requested {
            more = !cflight.ended
                && !cflight.messages.iter().any(|m| m.msg_type == HS_CLIENT_KEY_EXCHANGE);
            for m in cflight.messages.iter().filter(|m| m.msg_type == HS_CERTIFICATE) {
                if let Ok(Some(cert)) = leaf_certificate(&m.body) {
                    cert.facts(Subject::Client, &mut facts);
                }
            }
        }
    } else {
        more = false; // the server does not answer in TLS
    }
    Verdict::Yes { app, facts, more }
}

/// One DTLS record header and the handshake header it starts with.
struct DtlsHandshake<'a> {
    version: u16,
    msg_type: u8,
    /// The message body, if the record holds it whole (not fragmented).
    body: Option<&'a [u8]>,
}

fn dtls_first(payload: &[u8]) -> Result<(u8, u16, &[u8]), Error> {
    let mut r = Reader::new(payload);
    let content_type = r.u8()?;
    let version = r.u16_be()?;
    r.skip(8)?; // epoch, sequence number
    let length = usize::from(r.u16_be()?);
    let dtls_version = matches!(version, 0xfeff | 0xfefd | 0xfefc | DTLS_CISCO);
    if !(CT_CHANGE_CIPHER_SPEC..=CT_APPLICATION_DATA).contains(&content_type)
        || !dtls_version
        || length > MAX_RECORD
        || length == 0
    {
        return Err(Error::BadRecord { offset: 0, content_type, version, length });
    }
    Ok((content_type, version, r.take(length)?))
}

fn dtls_handshake(version: u16, fragment: &[u8]) -> Result<DtlsHandshake<'_>, Error> {
    let mut r = Reader::new(fragment);
    let msg_type = r.u8()?;
    let length = usize::try_from(r.u24_be()?).unwrap_or(usize::MAX);
    r.skip(2)?; // message_seq
    let frag_offset = r.u24_be()?;
    let frag_len = usize::try_from(r.u24_be()?).unwrap_or(usize::MAX);
    if frag_len > r.remaining()
        || usize::try_from(frag_offset).unwrap_or(usize::MAX) + frag_len > length
    {
        return Err(Error::Malformed { field: "dtls fragment", offset: 13 });
    }
    let body = (frag_offset == 0 && frag_len == length).then(|| r.take(length).ok()).flatten();
    Ok(DtlsHandshake { version, msg_type, body })
}

/// UDP probe: DTLS. A ClientHello (or, mid-flow, any DTLS record) says
/// yes; version `0x0100` names the flow [`App::AnyConnect`]. The
/// ClientHello gives JA4 (`d` prefix), the ServerHello JA4S; `more` ends
/// at the ServerHello or the first application data.
pub fn probe_datagram(_ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let Ok((content_type, version, fragment)) = dtls_first(payload) else { return Verdict::No };
    let app = if version == DTLS_CISCO { App::AnyConnect } else { App::Dtls };
    let mut facts = Vec::new();
    let mut more = true;
    match content_type {
        CT_HANDSHAKE => {
            let Ok(hs) = dtls_handshake(version, fragment) else { return Verdict::No };
            match (side, hs.msg_type) {
                (Side::Client, HS_CLIENT_HELLO) => {
                    if let Some(body) = hs.body {
                        let Ok(hello) = ClientHello::parse(body, true) else { return Verdict::No };
                        if hello.version != hs.version
                            && !matches!(hello.version, 0xfeff | 0xfefd | DTLS_CISCO)
                        {
                            return Verdict::No;
                        }
                        client_hello_facts(&hello, Transport::Dtls, &mut facts);
                    }
                }
                (Side::Server, HS_SERVER_HELLO) => {
                    if let Some(Ok(sh)) = hs.body.map(ServerHello::parse) {
                        server_hello_facts(&sh, Transport::Dtls, &mut facts);
                    }
                    more = false;
                }
                (Side::Server, HS_HELLO_VERIFY_REQUEST) => {}
                // A flow first seen mid-handshake: DTLS, facts unknown.
                _ => {}
            }
        }
        CT_APPLICATION_DATA | CT_ALERT | CT_CHANGE_CIPHER_SPEC => more = false,
        _ => return Verdict::No,
    }
    Verdict::Yes { app, facts, more }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x2a2a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301) && !is_grease(0x0000));
    }

    #[test]
    fn versions_render() {
        assert_eq!(Version(0x0303).to_string(), "TLS 1.2");
        assert_eq!(Version(0xfeff).to_string(), "DTLS 1.0");
        assert_eq!(Version(0x0100).to_string(), "DTLS 0x0100 (Cisco pre-standard)");
        assert_eq!(Version(0x7f1c).to_string(), "0x7f1c");
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x1f]), "00ab1f");
    }

    #[test]
    fn non_tls_first_bytes_are_refused_early() {
        let ctx = Ctx { client_port: 50000, server_port: 443 };
        assert_eq!(probe_stream(&ctx, b"G", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, &[0x16, 0x03], b""), Verdict::NeedMore);
        assert_eq!(probe_stream(&ctx, &[0x16, 0x02], b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, &[0x16, 0x03, 0x01, 0x00, 0x00], b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, &[0x16, 0x03, 0x01, 0x50, 0x00], b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x02], b""), Verdict::No);
        assert_eq!(
            probe_stream(&ctx, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01], b""),
            Verdict::NeedMore
        );
    }
}
