//! SSH: identification strings (RFC 4253 section 4.2, and SSH 1.x), the
//! first binary packet's KEXINIT, and the HASSH / HASSHServer fingerprints
//! (Salesforce's specification: MD5 of `kex;ciphers;macs;compression`, the
//! client-to-server lists for the client and the server-to-client lists for
//! the server).

use md5::{Digest, Md5};
use thiserror::Error;

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::Ctx;
use crate::reader::{Incomplete, Reader};
use crate::tls::hex;

/// RFC 4253: the identification line is at most 255 bytes with CR LF.
const MAX_IDENT: usize = 255;
/// Lines a server may send before its identification (RFC 4253 4.2) that
/// this parser skips.
pub const MAX_PRE_LINES: usize = 16;
/// RFC 4253 6.1: implementations must handle packets of 35000 bytes.
const MAX_PACKET: usize = 35000;
const SSH_MSG_KEXINIT: u8 = 20;

/// An SSH decoding failure.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Error {
    #[error(transparent)]
    Incomplete(#[from] Incomplete),
    /// The first line is not an SSH identification.
    #[error("no SSH identification at offset {offset}")]
    NotSsh { offset: usize },
    /// An identification line longer than 255 bytes.
    #[error("identification line at offset {offset} exceeds {MAX_IDENT} bytes")]
    LineTooLong { offset: usize },
    /// A binary packet length no implementation sends.
    #[error("packet length {length} at offset {offset} is out of range")]
    BadPacketLength { offset: usize, length: usize },
    /// The first binary packet is not KEXINIT.
    #[error("first packet at offset {offset} is message {code}, not KEXINIT")]
    NotKexinit { offset: usize, code: u8 },
    /// A name-list that overruns its packet.
    #[error("malformed KEXINIT name-list {index} at offset {offset}")]
    Malformed { offset: usize, index: usize },
}

/// A parsed identification line: `SSH-<proto>-<software> <comments>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The whole line without CR LF.
    pub line: String,
    /// `2.0`, `1.99`, `1.5`.
    pub proto_version: String,
    /// `OpenSSH_8.2p1`.
    pub software: String,
    /// `Ubuntu-4ubuntu0.1`, if any.
    pub comments: Option<String>,
}

impl Ident {
    /// Product and version from the software field: `OpenSSH_8.2p1` →
    /// (`OpenSSH`, `8.2p1`), `dropbear_2019.78`, `libssh-0.9.6`,
    /// `Cisco-1.25`, `PuTTY_Release_0.76` → (`PuTTY`, `0.76`). The split is
    /// at the first `_` or `-` followed by a digit.
    pub fn product_version(&self) -> Option<(&str, &str)> {
        let b = self.software.as_bytes();
        let i = b.windows(2).position(|w| matches!(w, [b'_' | b'-', d] if d.is_ascii_digit()))?;
        let product = self.software.get(..i)?;
        let version = self.software.get(i + 1..)?;
        let product = product.strip_suffix("_Release").unwrap_or(product);
        (!product.is_empty()).then_some((product, version))
    }

    /// SSH 1 only (not `1.99`, which also speaks 2.0).
    pub fn is_ssh1_only(&self) -> bool {
        self.proto_version.starts_with("1.") && self.proto_version != "1.99"
    }
}

/// What one side of an SSH connection sent: its identification, and where
/// the binary protocol starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banner {
    pub ident: Ident,
    /// Offset of the first byte after the identification line.
    pub end: usize,
}

/// Whether `bytes` could still grow into a line starting with `SSH-`.
fn could_be_ssh(bytes: &[u8]) -> bool {
    let n = bytes.len().min(4);
    bytes.get(..n) == b"SSH-".get(..n)
}

/// Reads the identification line at the start of `bytes`, skipping up to
/// [`MAX_PRE_LINES`] other lines first when `allow_pre_lines` (a server's
/// privilege). `Ok(None)` while the line is incomplete.
pub fn parse_banner(bytes: &[u8], allow_pre_lines: bool) -> Result<Option<Banner>, Error> {
    let mut offset = 0;
    for _ in 0..=MAX_PRE_LINES {
        let rest = bytes.get(offset..).unwrap_or_default();
        if !could_be_ssh(rest) && !allow_pre_lines {
            return Err(Error::NotSsh { offset });
        }
        let window = rest.get(..rest.len().min(MAX_IDENT + 1)).unwrap_or(rest);
        let Some(nl) = window.iter().position(|&b| b == b'\n') else {
            if rest.len() > MAX_IDENT {
                return Err(Error::LineTooLong { offset });
            }
            return Ok(None);
        };
        let line = window.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.starts_with(b"SSH-") {
            if !allow_pre_lines || line.contains(&0) {
                return Err(Error::NotSsh { offset });
            }
            offset += nl + 1;
            continue;
        }
        let text = String::from_utf8_lossy(line).into_owned();
        let body = text.get(4..).unwrap_or_default();
        let Some((proto_version, rest)) = body.split_once('-') else {
            return Err(Error::NotSsh { offset });
        };
        if proto_version.is_empty()
            || !proto_version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(Error::NotSsh { offset });
        }
        let (software, comments) = match rest.split_once(' ') {
            Some((s, c)) => (s.to_owned(), Some(c.to_owned()).filter(|c| !c.is_empty())),
            None => (rest.to_owned(), None),
        };
        let ident = Ident {
            line: text.clone(),
            proto_version: proto_version.to_owned(),
            software,
            comments,
        };
        return Ok(Some(Banner { ident, end: offset + nl + 1 }));
    }
    Err(Error::NotSsh { offset })
}

/// The algorithm lists of a KEXINIT message (each a comma-separated
/// name-list as sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KexInit {
    pub kex: String,
    pub host_key: String,
    pub enc_c2s: String,
    pub enc_s2c: String,
    pub mac_c2s: String,
    pub mac_s2c: String,
    pub comp_c2s: String,
    pub comp_s2c: String,
}

impl KexInit {
    /// Parses the first binary packet at the start of `bytes` (unencrypted,
    /// as it always is). `Ok(None)` while incomplete.
    pub fn parse_packet(bytes: &[u8], base: usize) -> Result<Option<KexInit>, Error> {
        let mut r = Reader::new(bytes);
        let Ok(length) = r.u32_be() else { return Ok(None) };
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if !(16..=MAX_PACKET).contains(&length) {
            return Err(Error::BadPacketLength { offset: base, length });
        }
        let Ok(packet) = r.take(length) else {
            // Reject a wrong message code as soon as it is visible.
            if let Some(&code) = bytes.get(5).filter(|&&c| c != SSH_MSG_KEXINIT) {
                return Err(Error::NotKexinit { offset: base + 5, code });
            }
            return Ok(None);
        };
        let mut p = Reader::new(packet);
        let padding = usize::from(p.u8()?);
        let payload_len = length
            .checked_sub(padding + 1)
            .ok_or(Error::BadPacketLength { offset: base, length })?;
        let mut m = Reader::new(
            p.take(payload_len).map_err(|_| Error::BadPacketLength { offset: base, length })?,
        );
        let code = m.u8()?;
        if code != SSH_MSG_KEXINIT {
            return Err(Error::NotKexinit { offset: base + 5, code });
        }
        m.skip(16).map_err(|_| Error::Malformed { offset: base + 6, index: 0 })?; // cookie
        let mut lists: [String; 8] = Default::default();
        for (index, slot) in lists.iter_mut().enumerate() {
            let at = base + 5 + m.offset();
            let len = m.u32_be().map_err(|_| Error::Malformed { offset: at, index })?;
            let list = m
                .take(usize::try_from(len).unwrap_or(usize::MAX))
                .map_err(|_| Error::Malformed { offset: at, index })?;
            *slot = String::from_utf8_lossy(list).into_owned();
        }
        let [kex, host_key, enc_c2s, enc_s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c] = lists;
        Ok(Some(KexInit { kex, host_key, enc_c2s, enc_s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c }))
    }

    /// HASSH: the client's fingerprint.
    pub fn hassh(&self) -> String {
        md5_hex(&format!("{};{};{};{}", self.kex, self.enc_c2s, self.mac_c2s, self.comp_c2s))
    }

    /// HASSHServer: the server's fingerprint.
    pub fn hassh_server(&self) -> String {
        md5_hex(&format!("{};{};{};{}", self.kex, self.enc_s2c, self.mac_s2c, self.comp_s2c))
    }
}

fn md5_hex(s: &str) -> String {
    hex(Md5::digest(s.as_bytes()).as_slice())
}

/// Everything one side showed: identification and KEXINIT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    pub banner: Banner,
    pub kexinit: Option<KexInit>,
    /// Nothing more to read from this side (KEXINIT read, SSH 1, or bytes
    /// that do not parse).
    pub done: bool,
}

/// Parses one side's bytes (`allow_pre_lines`: a server's lines before its
/// identification are skipped). `Ok(None)` while the identification is
/// incomplete.
pub fn parse_side(bytes: &[u8], allow_pre_lines: bool) -> Result<Option<Side>, Error> {
    let Some(banner) = parse_banner(bytes, allow_pre_lines)? else { return Ok(None) };
    if banner.ident.is_ssh1_only() {
        return Ok(Some(Side { banner, kexinit: None, done: true }));
    }
    let rest = bytes.get(banner.end..).unwrap_or_default();
    let (kexinit, done) = match KexInit::parse_packet(rest, banner.end) {
        Ok(Some(k)) => (Some(k), true),
        Ok(None) => (None, false),
        Err(_) => (None, true),
    };
    Ok(Some(Side { banner, kexinit, done }))
}

fn side_facts(side: &Side, who: Subject, out: &mut Vec<Fact>) {
    let ident = &side.banner.ident;
    let key = if who == Subject::Client { FactKey::SshClient } else { FactKey::SshServer };
    out.extend(Fact::new(who, key, &ident.line));
    let software = match &ident.comments {
        Some(c) => format!("{} {c}", ident.software),
        None => ident.software.clone(),
    };
    out.extend(Fact::new(who, FactKey::Software, &software));
    if let Some((product, version)) = ident.product_version() {
        out.extend(Fact::new(who, FactKey::Product, product));
        out.extend(Fact::new(who, FactKey::Version, version));
    }
    if let Some(k) = &side.kexinit {
        let (key, value) = if who == Subject::Client {
            (FactKey::Hassh, k.hassh())
        } else {
            (FactKey::HasshServer, k.hassh_server())
        };
        out.extend(Fact::new(who, key, &value));
    }
}

/// TCP probe: SSH from either side's identification line (the server
/// usually speaks first; either may). `more` until both KEXINITs (or both
/// SSH 1 identifications) have been read.
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let c = match parse_side(client, false) {
        Ok(c) => c,
        Err(_) => return Verdict::No,
    };
    // Lines before the server's identification (RFC 4253 4.2) are only
    // tolerated once the client has shown SSH: otherwise any line-based
    // server-first protocol would look like SSH still to come.
    let s = match parse_side(server, c.is_some()) {
        Ok(s) => s,
        Err(_) if c.is_some() => None,
        Err(_) => return Verdict::No,
    };
    if c.is_none() && s.is_none() {
        return Verdict::NeedMore;
    }
    let mut facts = Vec::new();
    if let Some(c) = &c {
        side_facts(c, Subject::Client, &mut facts);
    }
    if let Some(s) = &s {
        side_facts(s, Subject::Server, &mut facts);
    }
    let more = !(c.as_ref().is_some_and(|c| c.done) && s.as_ref().is_some_and(|s| s.done));
    Verdict::Yes { app: App::Ssh, facts, more }
}

#[cfg(test)]
#[allow(clippy::panic, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    fn ident(software: &str) -> Ident {
        Ident {
            line: String::new(),
            proto_version: "2.0".into(),
            software: software.into(),
            comments: None,
        }
    }

    #[test]
    fn product_and_version_from_software() {
        assert_eq!(ident("OpenSSH_8.9p1").product_version(), Some(("OpenSSH", "8.9p1")));
        assert_eq!(ident("dropbear_2019.78").product_version(), Some(("dropbear", "2019.78")));
        assert_eq!(ident("libssh-0.9.6").product_version(), Some(("libssh", "0.9.6")));
        assert_eq!(ident("Cisco-1.25").product_version(), Some(("Cisco", "1.25")));
        assert_eq!(ident("PuTTY_Release_0.76").product_version(), Some(("PuTTY", "0.76")));
        assert_eq!(ident("ROSSSH").product_version(), None);
    }

    #[test]
    fn banner_with_pre_lines_on_the_server() {
        let b = parse_banner(b"hello there\r\nSSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n", true);
        let Ok(Some(b)) = b else { panic!("{b:?}") };
        assert_eq!(b.ident.software, "OpenSSH_8.9p1");
        assert_eq!(b.ident.comments.as_deref(), Some("Ubuntu-3"));
        assert_eq!(b.end, 13 + 32);
        assert!(parse_banner(b"hello there\r\n", false).is_err());
        assert_eq!(parse_banner(b"SSH-2.0-Open", false), Ok(None));
        assert!(matches!(parse_banner(&[b'S'; 300], false), Err(Error::NotSsh { .. })));
        let mut long = b"SSH-2.0-".to_vec();
        long.extend_from_slice(&[b'a'; 300]);
        assert!(matches!(parse_banner(&long, false), Err(Error::LineTooLong { .. })));
    }

    #[test]
    fn non_ssh_is_refused() {
        let ctx = Ctx { client_port: 40000, server_port: 22 };
        assert_eq!(probe_stream(&ctx, b"GET /", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx, b"", b"220 smtp ready\r\n"), Verdict::No);
        assert_eq!(probe_stream(&ctx, b"SS", b""), Verdict::NeedMore);
        assert_eq!(probe_stream(&ctx, b"", b""), Verdict::NeedMore);
    }
}
