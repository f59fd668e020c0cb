//! SSDP (UPnP discovery, udp/1900): M-SEARCH, NOTIFY and search responses.
//! The sender's SERVER header (description, and product/version from its
//! `product/version` token after `UPnP/x.y`), USER-AGENT, LOCATION, and
//! the UPnP device type it announces.

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::http::{Head, Parsed, parse_request, parse_response};
use crate::identify::{Ctx, Side};

/// Which SSDP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Search,
    Notify,
    Response,
}

/// Parses an SSDP datagram into its kind and head, `None` when it is not
/// SSDP (a response must carry ST or USN).
pub fn parse(payload: &[u8]) -> Option<(Kind, Head<'_>)> {
    if payload.starts_with(b"HTTP/1.") {
        let Parsed::Head(h) = parse_response(payload) else {
            return None;
        };
        let ssdp = h.header("usn").is_some() || h.header("st").is_some();
        return ssdp.then_some((Kind::Response, h));
    }
    let Parsed::Head(h) = parse_request(payload) else {
        return None;
    };
    let kind = match (h.start[0], h.start[1]) {
        (b"M-SEARCH", b"*") => Kind::Search,
        (b"NOTIFY", b"*") => Kind::Notify,
        _ => return None,
    };
    Some((kind, h))
}

/// `product/version` after the `UPnP/x.y` token of a SERVER header
/// ("Roku UPnP/1.0 Roku/9.1.0" → ("Roku", "9.1.0")).
pub fn server_product(server: &str) -> Option<(&str, &str)> {
    let mut tokens =
        server.split_whitespace().skip_while(|t| !t.to_ascii_lowercase().starts_with("upnp/"));
    tokens.next()?;
    let (product, version) = tokens.next()?.split_once('/')?;
    (!product.is_empty() && !version.is_empty()).then_some((product, version))
}

/// Identifies SSDP; facts about the sender.
pub fn probe_datagram(_ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let Some((kind, h)) = parse(payload) else {
        return Verdict::No;
    };
    let from = match side {
        Side::Client => Subject::Client,
        Side::Server => Subject::Server,
    };
    let mut facts = Vec::new();
    let text = |name: &str| h.header(name).map(|v| String::from_utf8_lossy(v).into_owned());
    if let Some(ua) = text("user-agent") {
        facts.extend(Fact::new(from, FactKey::UserAgent, &ua));
    }
    if kind != Kind::Search {
        if let Some(server) = text("server") {
            facts.extend(Fact::new(from, FactKey::Description, &server));
            if let Some((product, version)) = server_product(&server) {
                facts.extend(Fact::new(from, FactKey::Product, product));
                facts.extend(Fact::new(from, FactKey::Version, version));
            }
        }
        if let Some(loc) = text("location") {
            facts.extend(Fact::new(from, FactKey::SsdpLocation, &loc));
        }
        let nt = if kind == Kind::Notify { text("nt") } else { text("st") };
        if let Some(device) = nt.filter(|t| t.contains(":device:")) {
            facts.extend(Fact::new(from, FactKey::Description, &format!("UPnP {device}")));
        }
    }
    Verdict::Yes { app: App::Ssdp, facts, more: true }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn ctx() -> Ctx {
        Ctx { client_port: 1900, server_port: 1900 }
    }

    #[test]
    fn notify_with_device_type() {
        let p = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nNTS: ssdp:alive\r\nSERVER: Linux/3.14 UPnP/1.0 MiniUPnPd/2.1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n";
        let Verdict::Yes { facts, .. } = probe_datagram(&ctx(), Side::Client, p) else { panic!() };
        let values: Vec<&str> = facts.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(
            values,
            vec![
                "Linux/3.14 UPnP/1.0 MiniUPnPd/2.1",
                "MiniUPnPd",
                "2.1",
                "http://192.168.1.1:5000/rootDesc.xml",
                "UPnP urn:schemas-upnp-org:device:InternetGatewayDevice:1",
            ]
        );
        for n in 0..p.len() {
            let _ = probe_datagram(&ctx(), Side::Client, &p[..n]);
        }
    }

    #[test]
    fn plain_http_is_not_ssdp() {
        assert_eq!(
            probe_datagram(&ctx(), Side::Client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Verdict::No
        );
        assert_eq!(
            probe_datagram(&ctx(), Side::Client, b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"),
            Verdict::No
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = probe_datagram(&ctx(), Side::Client, &data);
            let mut p = b"NOTIFY * HTTP/1.1\r\nSERVER: ".to_vec();
            p.extend_from_slice(&data);
            let _ = probe_datagram(&ctx(), Side::Client, &p);
        }
    }
}
