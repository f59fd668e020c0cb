//! IKE (ISAKMP): IKEv1 and IKEv2 headers on udp/500, and on udp/4500 after
//! the four-byte non-ESP marker (RFC 3948); the clear payloads before
//! encryption starts, and above all the **vendor ID payloads**, decoded
//! against a table of known IDs (each entry checked with Wireshark's
//! ISAKMP dissector). A Fortinet, Cisco, Microsoft, strongSwan, Check Point,
//! Juniper or SonicWall vendor ID also names the sender's vendor.
//!
//! The initiator (first sender) is the client, the responder the server
//! (a VPN gateway, usually).

use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};
use crate::reader::{Incomplete, Reader};
use crate::tls::hex;

/// Payload type of a vendor ID: IKEv1 and IKEv2.
const V1_VENDOR_ID: u8 = 13;
const V2_VENDOR_ID: u8 = 43;
/// IKEv2 Encrypted and Authenticated payload, and its fragment form.
const V2_ENCRYPTED: u8 = 46;
const V2_ENCRYPTED_FRAGMENT: u8 = 53;
/// IKEv1 header flag: the payloads are encrypted.
const V1_FLAG_ENCRYPTION: u8 = 0x01;
/// More vendor IDs than any implementation sends.
const MAX_VENDOR_IDS: usize = 32;

/// An IKE decoding failure.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// Version other than 1.0 or 2.0.
    #[error("ISAKMP version {version:#04x} at offset {offset} is neither IKEv1 nor IKEv2")]
    BadVersion { offset: usize, version: u8 },
    /// A header field no implementation sends.
    #[error("bad ISAKMP {field} at offset {offset}")]
    BadHeader { offset: usize, field: &'static str },
    /// A payload that overruns the message or has an impossible length.
    #[error("payload type {payload_type} at offset {offset} has bad length {length}")]
    BadPayload { offset: usize, payload_type: u8, length: usize },
}

/// IKE major version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeVersion {
    V1,
    V2,
}

/// The fixed ISAKMP header and what the clear payloads carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub version: IkeVersion,
    pub initiator_spi: [u8; 8],
    pub responder_spi: [u8; 8],
    /// Exchange type (IKEv1: 2 main mode, 4 aggressive, 32 quick mode, 5
    /// informational; IKEv2: 34 IKE_SA_INIT, 35 IKE_AUTH, 36
    /// CREATE_CHILD_SA, 37 INFORMATIONAL).
    pub exchange: u8,
    pub flags: u8,
    pub message_id: u32,
    /// Payload types in order, up to the first encrypted one.
    pub payloads: Vec<u8>,
    /// Vendor ID payload contents.
    pub vendor_ids: Vec<Vec<u8>>,
    /// The rest is encrypted (IKEv1 E flag, IKEv2 SK payload).
    pub encrypted: bool,
}

impl Message {
    /// IKEv2's I flag, or for IKEv1 (which has none) `None`.
    pub fn from_initiator(&self) -> Option<bool> {
        (self.version == IkeVersion::V2).then_some(self.flags & 0x08 != 0)
    }

    /// The exchange's name.
    pub fn exchange_name(&self) -> Option<&'static str> {
        Some(match (self.version, self.exchange) {
            (IkeVersion::V1, 1) => "Base",
            (IkeVersion::V1, 2) => "Identity Protection (Main Mode)",
            (IkeVersion::V1, 3) => "Authentication Only",
            (IkeVersion::V1, 4) => "Aggressive",
            (IkeVersion::V1, 5) => "Informational",
            (IkeVersion::V1, 6) => "Transaction (Config Mode)",
            (IkeVersion::V1, 32) => "Quick Mode",
            (IkeVersion::V1, 33) => "New Group Mode",
            (IkeVersion::V2, 34) => "IKE_SA_INIT",
            (IkeVersion::V2, 35) => "IKE_AUTH",
            (IkeVersion::V2, 36) => "CREATE_CHILD_SA",
            (IkeVersion::V2, 37) => "INFORMATIONAL",
            (IkeVersion::V2, 38) => "IKE_SESSION_RESUME",
            (IkeVersion::V2, 43) => "IKE_INTERMEDIATE",
            (IkeVersion::V2, 44) => "IKE_FOLLOWUP_KE",
            _ => return None,
        })
    }
}

fn valid_payload_type(version: IkeVersion, t: u8) -> bool {
    match version {
        // RFC 2408/3947 payloads 1–20, private use 128+.
        IkeVersion::V1 => t <= 20 || t >= 128,
        // RFC 7296 and successors: 33–54, private use 128+.
        IkeVersion::V2 => (33..=54).contains(&t) || t >= 128,
    }
}

/// Parses one ISAKMP message (udp/500 payload, or udp/4500 after the
/// non-ESP marker). The header's length must match `msg` (a datagram
/// holds one message).
pub fn parse(msg: &[u8]) -> Result<Message, Error> {
    let mut r = Reader::new(msg);
    let initiator_spi: [u8; 8] = r.array()?;
    let responder_spi: [u8; 8] = r.array()?;
    let mut next = r.u8()?;
    let raw_version = r.u8()?;
    let version = match raw_version {
        0x10 => IkeVersion::V1,
        0x20 => IkeVersion::V2,
        v => return Err(Error::BadVersion { offset: 17, version: v }),
    };
    let exchange = r.u8()?;
    let flags = r.u8()?;
    let message_id = r.u32_be()?;
    let length = usize::try_from(r.u32_be()?).unwrap_or(usize::MAX);
    if initiator_spi == [0; 8] {
        return Err(Error::BadHeader { offset: 0, field: "initiator SPI" });
    }
    let exchange_ok = match version {
        IkeVersion::V1 => {
            (1..=6).contains(&exchange) || (32..=33).contains(&exchange) || exchange >= 240
        }
        IkeVersion::V2 => (34..=44).contains(&exchange) || exchange >= 240,
    };
    if !exchange_ok {
        return Err(Error::BadHeader { offset: 18, field: "exchange type" });
    }
    if length != msg.len() {
        return Err(Error::BadHeader { offset: 24, field: "length" });
    }
    if next != 0 && !valid_payload_type(version, next) {
        return Err(Error::BadHeader { offset: 16, field: "next payload" });
    }
    let mut m = Message {
        version,
        initiator_spi,
        responder_spi,
        exchange,
        flags,
        message_id,
        payloads: Vec::new(),
        vendor_ids: Vec::new(),
        encrypted: false,
    };
    if version == IkeVersion::V1 && flags & V1_FLAG_ENCRYPTION != 0 {
        m.encrypted = true;
        return Ok(m);
    }
    while next != 0 {
        let offset = r.offset();
        let payload_type = next;
        if !valid_payload_type(version, payload_type) {
            return Err(Error::BadPayload { offset, payload_type, length: 0 });
        }
        next = r.u8()?;
        r.u8()?; // reserved / critical bit
        let plen = usize::from(r.u16_be()?);
        let body = plen.checked_sub(4).and_then(|n| r.take(n).ok()).ok_or(Error::BadPayload {
            offset,
            payload_type,
            length: plen,
        })?;
        m.payloads.push(payload_type);
        match payload_type {
            V1_VENDOR_ID if version == IkeVersion::V1 => push_vid(&mut m.vendor_ids, body),
            V2_VENDOR_ID if version == IkeVersion::V2 => push_vid(&mut m.vendor_ids, body),
            V2_ENCRYPTED | V2_ENCRYPTED_FRAGMENT if version == IkeVersion::V2 => {
                m.encrypted = true;
                return Ok(m);
            }
            _ => {}
        }
    }
    if !r.is_empty() {
        return Err(Error::BadHeader { offset: r.offset(), field: "trailing bytes" });
    }
    Ok(m)
}

fn push_vid(vids: &mut Vec<Vec<u8>>, body: &[u8]) {
    if vids.len() < MAX_VENDOR_IDS && !body.is_empty() {
        vids.push(body.to_vec());
    }
}

/// A known vendor ID: its bytes (matched as a prefix when `prefix`), its
/// name, and the vendor it names, if it names one (DPD or NAT-T do not).
struct KnownVid {
    id: &'static str,
    prefix: bool,
    name: &'static str,
    vendor: Option<&'static str>,
}

const fn vid(id: &'static str, name: &'static str) -> KnownVid {
    KnownVid { id, prefix: false, name, vendor: None }
}
const fn vendor_vid(id: &'static str, name: &'static str, vendor: &'static str) -> KnownVid {
    KnownVid { id, prefix: false, name, vendor: Some(vendor) }
}
const fn prefix_vid(
    id: &'static str,
    name: &'static str,
    vendor: Option<&'static str>,
) -> KnownVid {
    KnownVid { id, prefix: true, name, vendor }
}

/// Known vendor IDs (hex). Names follow Wireshark's, which checked each.
static KNOWN_VIDS: &[KnownVid] = &[
    vid("afcad71368a1f1c96b8696fc77570100", "RFC 3706 DPD (Dead Peer Detection)"),
    vid("4a131c81070358455c5728f20e95452f", "RFC 3947 Negotiation of NAT-Traversal in the IKE"),
    vid("c40fee00d5d39ddb1fc762e09b7cfea7", "Testing NAT-T RFC"),
    vid("4485152d18b6bbcd0be8a8469579ddcc", "draft-ietf-ipsec-nat-t-ike-00"),
    vid("16f6ca16e4a4066d83821a0f0aeaa862", "draft-ietf-ipsec-nat-t-ike-01"),
    vid("cd60464335df21f87cfdb2fc68b6a448", "draft-ietf-ipsec-nat-t-ike-02"),
    vid("90cb80913ebb696e086381b5ec427b1f", "draft-ietf-ipsec-nat-t-ike-02\\n"),
    vid("7d9419a65310ca6f2c179d9215529d56", "draft-ietf-ipsec-nat-t-ike-03"),
    vid("9909b64eed937c6573de52ace952fa6b", "draft-ietf-ipsec-nat-t-ike-04"),
    vid("80d0bb3def54565ee84645d4c85ce3ee", "draft-ietf-ipsec-nat-t-ike-05"),
    vid("4d1e0e136deafa34c4f3ea9f02ec7285", "draft-ietf-ipsec-nat-t-ike-06"),
    vid("439b59f8ba676c4c7737ae22eab8f582", "draft-ietf-ipsec-nat-t-ike-07"),
    vid("8f8d83826d246b6fc7a8a6a428c11de8", "draft-ietf-ipsec-nat-t-ike-08"),
    vid("4df37928e9fc4fd1b3262170d515c662", "draft-ietf-ipsec-nat-t-ike"),
    vid("09002689dfd6b712", "XAUTH"),
    vid("4865617274426561745f4e6f74696679", "Heartbeat Notify"),
    vid("e3a5966a76379fe707228231e5ce8652", "IKE CGA Version 1"),
    // Sent by Cisco and by Windows (MS-IKEE) alike: names no vendor.
    prefix_vid("4048b7d56ebce88525e7de7f00d6c2d3", "Cisco Fragmentation", None),
    // Fortinet: 12 fixed bytes, then a version/flags word.
    prefix_vid("8299031757a36082c6a621de", "Fortigate (Fortinet)", Some("Fortinet")),
    vendor_vid("12f5f28c457168a9702d9fe274cc0100", "CISCO-UNITY", "Cisco"),
    prefix_vid("1f07f70eaa6514d3b0fa96542a50", "CISCO-CONCENTRATOR", Some("Cisco")),
    prefix_vid("1e2b516905991c7d7c96fcbfb587e461", "MS NT5 ISAKMPOAKLEY", Some("Microsoft")),
    vendor_vid("fb1de3cdf341b7ea16b7e5be0855f120", "MS-Negotiation Discovery Capable", "Microsoft"),
    vendor_vid("26244d38eddb61b3172a36e3d0cfb819", "Microsoft Vid-Initial-Contact", "Microsoft"),
    vendor_vid("882fe56d6fd20dbc2251613b2ebe5beb", "strongSwan", "strongSwan"),
    // Check Point: 20 fixed bytes, then product and version words.
    prefix_vid("f4ed19e0c114eb516faaac0ee37daf2807b4381f", "Check Point", Some("Check Point")),
    vendor_vid("404bf439522ca3f6", "SonicWALL", "SonicWall"),
    vendor_vid("699369228741c6d4ca094c93e242c9de19e7b7c6", "Netscreen-6", "Juniper"),
    vendor_vid("9b096d9ac3275a7d6fe8b91c583111b09efed1a0", "Netscreen-9", "Juniper"),
    vendor_vid("166f932d55eb64d8e4df4fd37e2313f0d0fd8451", "Netscreen-15", "Juniper"),
    vendor_vid("a35bfd05ca1ac0b3d2f24e9e82bfcbff9c9e52b5", "Netscreen-16", "Juniper"),
    vendor_vid("7003cbc1097dbe9c2600ba6983bc8b35", "KAME/racoon", "KAME"),
];

/// A vendor ID decoded: its name (a known ID's name, the text of a
/// printable one such as Cisco's IKEv2 `FLEXVPN-SUPPORTED`, else hex) and
/// the vendor it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorId {
    pub name: String,
    pub vendor: Option<&'static str>,
}

/// Decodes one vendor ID payload.
pub fn decode_vendor_id(id: &[u8]) -> VendorId {
    let h = hex(id);
    for k in KNOWN_VIDS {
        if h == k.id || (k.prefix && h.starts_with(k.id)) {
            let name = match k.name {
                // Windows' version follows the fixed prefix.
                "MS NT5 ISAKMPOAKLEY" => {
                    match id.get(16..20).and_then(|v| <[u8; 4]>::try_from(v).ok()) {
                        Some(v) => format!("MS NT5 ISAKMPOAKLEY v{}", u32::from_be_bytes(v)),
                        None => k.name.to_owned(),
                    }
                }
                n => n.to_owned(),
            };
            return VendorId { name, vendor: k.vendor };
        }
    }
    let printable = id.len() >= 4 && id.iter().all(|b| (0x20..0x7f).contains(b));
    if printable {
        let text = String::from_utf8_lossy(id).into_owned();
        // Cisco's IKEv2 VIDs are text: CISCO-DELETE-REASON, CISCO-GRE-MODE,
        // CISCO(COPYRIGHT)…, FLEXVPN-SUPPORTED.
        let upper = text.to_ascii_uppercase();
        let vendor =
            (upper.starts_with("CISCO") || upper.starts_with("FLEXVPN")).then_some("Cisco");
        return VendorId { name: text, vendor };
    }
    VendorId { name: h, vendor: None }
}

/// Whether a udp/4500 datagram is ESP in UDP (RFC 3948): a non-zero SPI
/// (values 1–255 are reserved), a sequence number, and room for at least
/// an IV-less minimal packet. IKE on 4500 starts with four zero bytes
/// instead; a NAT keepalive is the single byte 0xff.
pub fn is_nat_t_esp(payload: &[u8]) -> bool {
    let mut r = Reader::new(payload);
    let (Ok(spi), Ok(_seq)) = (r.u32_be(), r.u32_be()) else { return false };
    spi > 255 && r.remaining() >= 4
}

/// Splits a udp/4500 payload: the ISAKMP message after the non-ESP
/// marker, if it has one.
pub fn strip_non_esp_marker(payload: &[u8]) -> Option<&[u8]> {
    payload.strip_prefix(&[0, 0, 0, 0])
}

/// UDP probe: an ISAKMP message on any port (NAT-T's marker accepted when
/// either port is 4500). On a NAT-T flow, ESP in UDP and keepalives are
/// [`App::Ike`] too, without facts. `more` until the exchange turns
/// encrypted.
pub fn probe_datagram(ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let nat_t = ctx.either_port(&[4500]);
    let msg = match strip_non_esp_marker(payload) {
        Some(m) if nat_t => m,
        _ => payload,
    };
    let parsed = match parse(msg) {
        Ok(m) => m,
        Err(_) if nat_t && (payload == [0xff] || is_nat_t_esp(payload)) => {
            // Only after an IKE message has locked the flow does this say
            // much; on its own it is port plus shape.
            return Verdict::Yes { app: App::Ike, facts: Vec::new(), more: true };
        }
        Err(_) => return Verdict::No,
    };
    let who = match parsed.from_initiator() {
        Some(true) => Subject::Client,
        Some(false) => Subject::Server,
        None if side == Side::Client => Subject::Client,
        None => Subject::Server,
    };
    let mut facts = Vec::new();
    let v = if parsed.version == IkeVersion::V1 { "IKEv1" } else { "IKEv2" };
    facts.extend(Fact::new(who, FactKey::IkeVersion, v));
    if let Some(x) = parsed.exchange_name() {
        facts.extend(Fact::new(who, FactKey::IkeExchange, x));
    }
    for id in &parsed.vendor_ids {
        let d = decode_vendor_id(id);
        facts.extend(Fact::new(who, FactKey::IkeVendorId, &d.name));
        if let Some(vendor) = d.vendor {
            facts.extend(Fact::new(who, FactKey::Vendor, vendor));
        }
    }
    Verdict::Yes { app: App::Ike, facts, more: !parsed.encrypted }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .filter_map(|i| s.get(2 * i..2 * i + 2))
            .filter_map(|b| u8::from_str_radix(b, 16).ok())
            .collect()
    }

    #[test]
    fn vendor_ids_decode() {
        let fortinet = decode_vendor_id(&unhex("8299031757a36082c6a621de00000000"));
        assert_eq!(
            (fortinet.name.as_str(), fortinet.vendor),
            ("Fortigate (Fortinet)", Some("Fortinet"))
        );
        let frag = decode_vendor_id(&unhex("4048b7d56ebce88525e7de7f00d6c2d3c0000000"));
        assert_eq!((frag.name.as_str(), frag.vendor), ("Cisco Fragmentation", None));
        let ms = decode_vendor_id(&unhex("1e2b516905991c7d7c96fcbfb587e46100000009"));
        assert_eq!((ms.name.as_str(), ms.vendor), ("MS NT5 ISAKMPOAKLEY v9", Some("Microsoft")));
        let flex = decode_vendor_id(b"FLEXVPN-SUPPORTED");
        assert_eq!((flex.name.as_str(), flex.vendor), ("FLEXVPN-SUPPORTED", Some("Cisco")));
        let unknown = decode_vendor_id(&unhex("a9b9b1034f7e50a2513b47b100bb85a9"));
        assert_eq!(
            (unknown.name.as_str(), unknown.vendor),
            ("a9b9b1034f7e50a2513b47b100bb85a9", None)
        );
    }

    #[test]
    fn esp_in_udp_shape() {
        assert!(is_nat_t_esp(&[0xc0, 0x01, 0x02, 0x03, 0, 0, 0, 1, 1, 2, 3, 4]));
        assert!(!is_nat_t_esp(&[0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]));
        assert!(!is_nat_t_esp(&[0xff]));
    }
}
