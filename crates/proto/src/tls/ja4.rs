//! JA4 (client) and JA4S (server) fingerprints, per FoxIO's specification.

use sha2::{Digest, Sha256};

use super::{ClientHello, EXT_ALPN, EXT_SERVER_NAME, ServerHello, hex, is_grease};

/// The transport a hello travelled over: the fingerprint's first letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TLS over TCP (`t`).
    Tcp,
    /// QUIC (`q`).
    Quic,
    /// DTLS over UDP (`d`).
    Dtls,
}

impl Transport {
    fn letter(self) -> char {
        match self {
            Transport::Tcp => 't',
            Transport::Quic => 'q',
            Transport::Dtls => 'd',
        }
    }
}

/// The two-character version code.
fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 | 0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of the first ALPN value; its hex form's first
/// and last characters when either byte is not alphanumeric; `00` without
/// ALPN.
fn alpn_code(first: Option<&[u8]>) -> String {
    let Some(p) = first else { return "00".to_owned() };
    let (Some(&a), Some(&z)) = (p.first(), p.last()) else { return "00".to_owned() };
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        [char::from(a), char::from(z)].iter().collect()
    } else {
        let h = hex(p);
        let mut c = h.chars();
        [c.next().unwrap_or('0'), c.next_back().unwrap_or('0')].iter().collect()
    }
}

/// The first 12 hex digits of SHA-256 of `s`; `000000000000` for an empty
/// list.
fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    let digest = Sha256::digest(s.as_bytes());
    let mut h = hex(digest.as_slice());
    h.truncate(12);
    h
}

fn join_hex(v: &[u16]) -> String {
    v.iter().map(|x| format!("{x:04x}")).collect::<Vec<_>>().join(",")
}

/// The raw (unhashed) JA4 parts: `(a, b, c)`.
pub(crate) fn ja4_parts(hello: &ClientHello, transport: Transport) -> (String, String, String) {
    let mut ciphers: Vec<u16> = hello.ciphers.iter().copied().filter(|c| !is_grease(*c)).collect();
    let exts: Vec<u16> = hello.extensions.iter().copied().filter(|e| !is_grease(*e)).collect();
    let sni = if exts.contains(&EXT_SERVER_NAME) { 'd' } else { 'i' };
    let alpn = hello.alpn.iter().map(Vec::as_slice).find(|p| {
        // A two-byte GREASE ALPN value is skipped like every other GREASE.
        !<[u8; 2]>::try_from(*p).is_ok_and(|b| is_grease(u16::from_be_bytes(b)))
    });
    let a = format!(
        "{}{}{}{:02}{:02}{}",
        transport.letter(),
        version_code(hello.max_version()),
        sni,
        ciphers.len().min(99),
        exts.len().min(99),
        alpn_code(alpn),
    );
    ciphers.sort_unstable();
    let mut hashed: Vec<u16> =
        exts.into_iter().filter(|e| *e != EXT_SERVER_NAME && *e != EXT_ALPN).collect();
    hashed.sort_unstable();
    let sigs: Vec<u16> =
        hello.signature_algorithms.iter().copied().filter(|s| !is_grease(*s)).collect();
    let mut c = join_hex(&hashed);
    if !sigs.is_empty() {
        c.push('_');
        c.push_str(&join_hex(&sigs));
    }
    (a, join_hex(&ciphers), c)
}

/// The JA4 fingerprint of a ClientHello (`t13d1516h2_8daaf6152771_e5627efa2ab1`).
pub fn ja4(hello: &ClientHello, transport: Transport) -> String {
    let (a, b, c) = ja4_parts(hello, transport);
    // No extensions to hash: zeros, whatever the signature algorithms.
    let c_hash = if hashed_list_empty(&c) { hash12("") } else { hash12(&c) };
    format!("{a}_{}_{c_hash}", hash12(&b))
}

/// Whether the extension part of `c` (before `_`) is empty.
fn hashed_list_empty(c: &str) -> bool {
    c.split('_').next().is_none_or(str::is_empty)
}

/// The JA4S fingerprint of a ServerHello (`t120400_c030_4e8089b08790`).
pub fn ja4s(hello: &ServerHello, transport: Transport) -> String {
    let alpn = alpn_code(hello.alpn.as_deref());
    format!(
        "{}{}{:02}{}_{:04x}_{}",
        transport.letter(),
        version_code(hello.negotiated_version()),
        hello.extensions.len().min(99),
        alpn,
        hello.cipher,
        hash12(&join_hex(&hello.extensions)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in FoxIO's reference implementation's tests.
    #[test]
    fn foxio_reference_example() {
        let hello = ClientHello {
            version: 0x0303,
            supported_versions: vec![0x0304, 0x0303],
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
                0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
            ],
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            ..ClientHello::default()
        };
        assert_eq!(ja4(&hello, Transport::Tcp), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        // GREASE anywhere changes nothing.
        let mut greased = hello.clone();
        greased.ciphers.insert(0, 0x2a2a);
        greased.extensions.insert(3, 0x3a3a);
        greased.supported_versions.insert(0, 0x4a4a);
        greased.signature_algorithms.insert(0, 0x5a5a);
        assert_eq!(ja4(&greased, Transport::Tcp), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn foxio_ja4s_example() {
        let hello = ServerHello {
            version: 0x0303,
            cipher: 0xc030,
            extensions: vec![0x0005, 0x0017, 0xff01, 0x0000],
            ..ServerHello::default()
        };
        assert_eq!(ja4s(&hello, Transport::Tcp), "t120400_c030_4e8089b08790");
    }

    #[test]
    fn alpn_codes() {
        assert_eq!(alpn_code(None), "00");
        assert_eq!(alpn_code(Some(b"")), "00");
        assert_eq!(alpn_code(Some(b"h2")), "h2");
        assert_eq!(alpn_code(Some(b"spdy/3.1")), "s1");
        assert_eq!(alpn_code(Some(b"h")), "hh");
        assert_eq!(alpn_code(Some(&[0xab, 0xcd])), "ad");
        assert_eq!(alpn_code(Some(&[b'x', 0xcd])), "7d");
    }

    #[test]
    fn empty_lists_hash_to_zeros() {
        let hello = ClientHello { version: 0x0301, ..ClientHello::default() };
        assert_eq!(ja4(&hello, Transport::Tcp), "t10i000000_000000000000_000000000000");
    }
}
