//! HTTP/1.x: the first request's line and headers (Host, User-Agent) and
//! the first response's status line and Server header.
//!
//! Identified only on a complete request line (`METHOD target HTTP/1.x`);
//! headers are read up to [`MAX_HEAD`] bytes and may arrive split across
//! segments (the probe re-reads the prefix it is given).

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::Ctx;

/// The most bytes of a request or response head read.
pub const MAX_HEAD: usize = 16 * 1024;

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"M-SEARCH",
];

/// A request or response head, as far as it was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head<'a> {
    /// Request: method, target, version; response: version, status, reason.
    pub start: [&'a [u8]; 3],
    /// Header fields in order (name, value), value trimmed.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    /// Whether the blank line ending the head was seen (or the cap hit).
    pub complete: bool,
}

impl<'a> Head<'a> {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| *v)
    }
}

/// What a prefix of a head is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not HTTP.
    No,
    /// A prefix still consistent with a start line.
    NeedMore,
    Head(Head<'a>),
}

fn lines(buf: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    // Each line without its CRLF/LF, and whether it was terminated.
    let mut rest = Some(buf);
    std::iter::from_fn(move || {
        let b = rest?;
        match b.iter().position(|c| *c == b'\n') {
            Some(i) => {
                rest = b.get(i + 1..);
                let line = b.get(..i).unwrap_or_default();
                Some((line.strip_suffix(b"\r").unwrap_or(line), true))
            }
            None => {
                rest = None;
                (!b.is_empty()).then_some((b, false))
            }
        }
    })
}

/// Parses a request head from the start of a client's bytes.
pub fn parse_request(buf: &[u8]) -> Parsed<'_> {
    let buf = buf.get(..MAX_HEAD).unwrap_or(buf);
    // The method, as far as it is there.
    let sp = buf.iter().position(|c| *c == b' ');
    let method = sp.map_or(buf, |i| buf.get(..i).unwrap_or_default());
    let known =
        METHODS.iter().any(|m| if sp.is_some() { *m == method } else { m.starts_with(method) });
    if !known {
        return Parsed::No;
    }
    let mut it = lines(buf);
    let Some((line, true)) = it.next() else {
        // The request line is not complete: still plausible if it has no
        // control characters.
        let line = buf.strip_suffix(b"\r").unwrap_or(buf);
        return if line.iter().all(|c| *c >= 0x20 && *c != 0x7f) {
            Parsed::NeedMore
        } else {
            Parsed::No
        };
    };
    let mut parts = line.splitn(3, |c| *c == b' ');
    let (Some(m), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Parsed::No;
    };
    if !version.starts_with(b"HTTP/1.") || target.is_empty() {
        return Parsed::No;
    }
    Parsed::Head(head([m, target, version], it, buf.len() == MAX_HEAD))
}

/// Parses a response head from the start of a server's bytes.
pub fn parse_response(buf: &[u8]) -> Parsed<'_> {
    let buf = buf.get(..MAX_HEAD).unwrap_or(buf);
    let n = buf.len().min(7);
    if buf.get(..n) != b"HTTP/1.".get(..n) {
        return Parsed::No;
    }
    let mut it = lines(buf);
    let Some((line, true)) = it.next() else {
        return Parsed::NeedMore;
    };
    let mut parts = line.splitn(3, |c| *c == b' ');
    let (Some(version), Some(status)) = (parts.next(), parts.next()) else {
        return Parsed::No;
    };
    if status.len() != 3 || !status.iter().all(u8::is_ascii_digit) {
        return Parsed::No;
    }
    let reason = parts.next().unwrap_or_default();
    Parsed::Head(head([version, status, reason], it, buf.len() == MAX_HEAD))
}

fn head<'a>(
    start: [&'a [u8]; 3],
    lines: impl Iterator<Item = (&'a [u8], bool)>,
    capped: bool,
) -> Head<'a> {
    let mut h = Head { start, headers: Vec::new(), complete: capped };
    for (line, terminated) in lines {
        if !terminated {
            break;
        }
        if line.is_empty() {
            h.complete = true;
            break;
        }
        if let Some(colon) = line.iter().position(|c| *c == b':')
            && h.headers.len() < 100
        {
            let name = line.get(..colon).unwrap_or_default();
            let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
            h.headers.push((name, value));
        }
    }
    h
}

/// Identifies HTTP/1.x on a complete request line; facts: Host (names
/// the server), User-Agent (the client), Server (the server).
pub fn probe_stream(_ctx: &Ctx, client: &[u8], server: &[u8]) -> Verdict {
    let req = match parse_request(client) {
        Parsed::No => return Verdict::No,
        Parsed::NeedMore => return Verdict::NeedMore,
        Parsed::Head(h) => h,
    };
    let mut facts = Vec::new();
    if let Some(host) = req.header("host") {
        facts.extend(Fact::from_bytes(Subject::Server, FactKey::HttpHost, host));
    }
    if let Some(ua) = req.header("user-agent") {
        facts.extend(Fact::from_bytes(Subject::Client, FactKey::HttpUserAgent, ua));
    }
    let resp_done = match parse_response(server) {
        Parsed::Head(resp) => {
            if let Some(s) = resp.header("server") {
                facts.extend(Fact::from_bytes(Subject::Server, FactKey::HttpServer, s));
            }
            resp.complete
        }
        Parsed::No => true,
        Parsed::NeedMore => false,
    };
    Verdict::Yes { app: App::Http, facts, more: !(req.complete && resp_done) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn ctx() -> Ctx {
        Ctx { client_port: 50000, server_port: 80 }
    }

    const REQ: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: pacs.example\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn request_and_response() {
        assert_eq!(
            probe_stream(&ctx(), REQ, RESP),
            Verdict::Yes {
                app: App::Http,
                facts: vec![
                    Fact::new(Subject::Server, FactKey::HttpHost, "pacs.example").unwrap(),
                    Fact::new(Subject::Client, FactKey::HttpUserAgent, "curl/8.5.0").unwrap(),
                    Fact::new(Subject::Server, FactKey::HttpServer, "nginx/1.24.0").unwrap(),
                ],
                more: false,
            }
        );
    }

    #[test]
    fn every_prefix() {
        let line_end = REQ.iter().position(|c| *c == b'\n').unwrap();
        for n in 0..REQ.len() {
            let v = probe_stream(&ctx(), &REQ[..n], b"");
            if n <= line_end {
                assert_eq!(v, Verdict::NeedMore, "prefix {n}");
            } else {
                assert!(matches!(v, Verdict::Yes { more: true, .. }), "prefix {n}");
            }
        }
        for n in 0..RESP.len() {
            let Verdict::Yes { more, .. } = probe_stream(&ctx(), REQ, &RESP[..n]) else { panic!() };
            assert!(more, "prefix {n}");
        }
    }

    #[test]
    fn not_http() {
        assert_eq!(probe_stream(&ctx(), b"GETX / HTTP/1.1\r\n", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx(), b"GET / SSH-2.0\r\n", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx(), b"\x16\x03\x01", b""), Verdict::No);
        assert_eq!(probe_stream(&ctx(), b"GET /\x00", b""), Verdict::No);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(c in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                                       s in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = probe_stream(&ctx(), &c, &s);
            let mut r = REQ.to_vec();
            r.extend_from_slice(&c);
            let _ = probe_stream(&ctx(), &r, &s);
            let mut p = b"HTTP/1.1 200 OK\r\n".to_vec();
            p.extend_from_slice(&s);
            let _ = probe_stream(&ctx(), REQ, &p);
        }
    }
}
