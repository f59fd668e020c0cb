//! Syslog over UDP: RFC 5424 and RFC 3164 (BSD) messages, and the common
//! vendor variants (Cisco IOS sequence numbers and origin IDs, FortiGate
//! key=value). Only the header is read: PRI, HOSTNAME and APP-NAME (the
//! 3164 TAG); the message text is never kept.

use crate::facts::{App, Fact, FactKey, Subject, Verdict};
use crate::identify::{Ctx, Side};

/// A syslog message's header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Facility × 8 + severity (0..=191).
    pub pri: u8,
    /// 1 for RFC 5424, `None` for BSD-style messages.
    pub version: Option<u8>,
    pub hostname: Option<String>,
    pub app: Option<String>,
    /// A FortiGate's serial number (`devid=`).
    pub serial: Option<String>,
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The PRI at the start of a message and the rest, `None` when malformed.
fn pri(msg: &[u8]) -> Option<(u8, &[u8])> {
    let rest = msg.strip_prefix(b"<")?;
    let end = rest.iter().take(4).position(|c| *c == b'>')?;
    let digits = rest.get(..end)?;
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits.first() == Some(&b'0'))
    {
        return None;
    }
    let n: u16 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let pri = u8::try_from(n).ok().filter(|p| *p <= 191)?;
    Some((pri, rest.get(end + 1..)?))
}

/// A host name as syslog carries it: letters, digits, `-`, `_`, `.`; not
/// an IP address, not the 5424 nil value.
fn hostname(token: &str) -> Option<String> {
    let ok = !token.is_empty()
        && token.len() <= 255
        && token != "-"
        && token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && token.chars().any(|c| c.is_ascii_alphabetic())
        && token.parse::<std::net::IpAddr>().is_err();
    ok.then(|| token.to_owned())
}

/// An app name / tag: up to `[` or `:`, printable, no spaces.
fn app(token: &str) -> Option<String> {
    let t = token.split(['[', ':']).next().unwrap_or_default();
    let ok = !t.is_empty() && t != "-" && t.len() <= 48 && t.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| t.to_owned())
}

/// Parses a syslog message's header; `None` when there is no valid PRI.
pub fn parse(msg: &[u8]) -> Option<Header> {
    let (pri, rest) = pri(msg)?;
    // Only the head is looked at; the text after it is never read into a fact.
    let head = rest.get(..rest.len().min(512)).unwrap_or(rest);
    let text = String::from_utf8_lossy(head);
    let mut h = Header { pri, ..Header::default() };
    let tokens: Vec<&str> = text.split(' ').take(8).collect();
    match tokens.as_slice() {
        // RFC 5424: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID …
        [v, _ts, host, app_name, ..]
            if v.len() <= 2 && v.chars().all(|c| c.is_ascii_digit()) && *v != "0" =>
        {
            h.version = v.parse().ok();
            h.hostname = hostname(host);
            h.app = app(app_name);
        }
        // RFC 3164: "Mmm dd hh:mm:ss HOSTNAME TAG: …" (day space-padded).
        [m, rest @ ..] if MONTHS.contains(m) => {
            let rest: Vec<&str> = rest.iter().copied().filter(|t| !t.is_empty()).collect();
            if let [_day, time, host, tag, ..] = rest.as_slice()
                && time.len() >= 8
                && time.as_bytes().get(2) == Some(&b':')
            {
                if tag.ends_with(':') || tag.contains('[') {
                    h.hostname = hostname(host);
                    h.app = app(tag);
                } else if host.ends_with(':') {
                    // No host name: "Mmm dd hh:mm:ss TAG: …".
                    h.app = app(host);
                }
            }
        }
        // ISO date and time, then the host ("2021-04-18 15:12:38+04:00 HOST …").
        ["", date, _time, host, ..] | [date, _time, host, ..]
            if date.len() == 10
                && date.as_bytes().get(4) == Some(&b'-')
                && date.as_bytes().get(7) == Some(&b'-') =>
        {
            h.hostname = hostname(host);
        }
        // Cisco IOS: "SEQ: [HOST:] *Mmm dd …: %FAC-SEV-MNEMONIC: …".
        [seq, next, ..]
            if seq.ends_with(':')
                && seq.trim_end_matches(':').chars().all(|c| c.is_ascii_digit()) =>
        {
            if let Some(host) = next.strip_suffix(':')
                && !MONTHS.contains(&host)
            {
                h.hostname = hostname(host);
            }
        }
        // FortiGate: key=value pairs.
        [first, ..] if first.starts_with("date=") => {
            h.hostname = kv(&text, "devname").and_then(|v| hostname(&v));
            h.serial = kv(&text, "devid");
        }
        // "TAG[PID]: …" or "TAG: …" with no timestamp.
        [tag, ..] if tag.ends_with(':') => h.app = app(tag),
        _ => {}
    }
    Some(h)
}

/// A quoted or bare `key=value` in a FortiGate message.
fn kv(text: &str, key: &str) -> Option<String> {
    let pat = format!("{key}=");
    let at = text.split(' ').find_map(|t| t.strip_prefix(pat.as_str()))?;
    let v = at.trim_matches('"');
    (!v.is_empty() && v.chars().all(|c| c.is_ascii_graphic())).then(|| v.to_owned())
}

/// Identifies syslog: a valid PRI followed by text, on port 514 or with a
/// recognised header; facts about the sender.
pub fn probe_datagram(ctx: &Ctx, side: Side, payload: &[u8]) -> Verdict {
    let Some(h) = parse(payload) else {
        return Verdict::No;
    };
    let printable =
        payload.iter().skip(1).take(24).all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\t');
    let recognised = h.version.is_some() || h.hostname.is_some() || h.app.is_some();
    if !printable || !(recognised || ctx.either_port(&[514])) {
        return Verdict::No;
    }
    let from = match side {
        Side::Client => Subject::Client,
        Side::Server => Subject::Server,
    };
    let mut facts = Vec::new();
    if let Some(host) = &h.hostname {
        facts.extend(Fact::new(from, FactKey::Hostname, host));
    }
    if let Some(a) = &h.app {
        facts.extend(Fact::new(from, FactKey::SyslogApp, a));
    }
    if let Some(s) = &h.serial {
        facts.extend(Fact::new(from, FactKey::Serial, s));
        if s.starts_with("FG") {
            facts.extend(Fact::new(from, FactKey::Vendor, "Fortinet"));
        }
    }
    Verdict::Yes { app: App::Syslog, facts, more: true }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn hdr(m: &str) -> (Option<String>, Option<String>) {
        let h = parse(m.as_bytes()).unwrap();
        (h.hostname, h.app)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn header_variants() {
        assert_eq!(
            hdr(
                "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed"
            ),
            (s("mymachine.example.com"), s("su"))
        );
        assert_eq!(hdr("<13>Feb  5 17:32:18 10.0.0.99 myapp[12]: hi"), (None, s("myapp")));
        assert_eq!(hdr("<13>Feb  5 17:32:18 host1 myapp[12]: hi"), (s("host1"), s("myapp")));
        assert_eq!(hdr("<30>snmpd[6956]: Connection from UDP"), (None, s("snmpd")));
        assert_eq!(hdr("<187>38: R1: *Sep 22 13:39:11.250: %LINK-3-UPDOWN: x"), (s("R1"), None));
        assert_eq!(hdr("<189>72: Mar  3 19:57:17.371: %LINK-5-CHANGED: x"), (None, None));
        assert_eq!(parse(b"<192>x"), None);
        assert_eq!(parse(b"<01>x"), None);
        assert_eq!(parse(b"<1"), None);
    }

    #[test]
    fn every_prefix_never_panics() {
        let m = b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - failed";
        let ctx = Ctx { client_port: 50000, server_port: 514 };
        for n in 0..m.len() {
            let _ = probe_datagram(&ctx, Side::Client, &m[..n]);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let ctx = Ctx { client_port: 50000, server_port: 514 };
            let _ = probe_datagram(&ctx, Side::Client, &data);
            let mut p = b"<13>".to_vec();
            p.extend_from_slice(&data);
            let _ = probe_datagram(&ctx, Side::Client, &p);
        }
    }
}
