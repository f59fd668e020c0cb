//! How alert texts name things: assets, sizes, durations, times, traffic.

use std::net::IpAddr;
use std::time::Duration;

use sekimori_proto::App;
use sekimori_types::{EvidenceAsset, EvidenceFlow};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::FlowEvent;
use crate::{Policy, Transport, ZoneRef};

/// Bytes for people, in decimal units with one decimal: `52.4 MB`.
pub(crate) fn bytes(b: u64) -> String {
    const UNITS: [(u64, &str); 4] =
        [(1_000_000_000_000, "TB"), (1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "KB")];
    for (m, u) in UNITS {
        if b >= m {
            let whole = b / m;
            let tenth = (b % m) / (m / 10);
            return if tenth == 0 {
                format!("{whole} {u}")
            } else {
                format!("{whole}.{tenth} {u}")
            };
        }
    }
    format!("{b} B")
}

/// A duration in English: `5 minutes`, `90 seconds`, `2 hours`.
pub(crate) fn dur_en(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = split_duration(s);
    let unit = match unit {
        Unit::Day => "day",
        Unit::Hour => "hour",
        Unit::Minute => "minute",
        Unit::Second => "second",
    };
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// A duration in Japanese: `5分`, `90秒`, `2時間`.
pub(crate) fn dur_ja(d: Duration) -> String {
    let (n, unit) = split_duration(d.as_secs());
    let unit = match unit {
        Unit::Day => "日",
        Unit::Hour => "時間",
        Unit::Minute => "分",
        Unit::Second => "秒",
    };
    format!("{n}{unit}")
}

enum Unit {
    Day,
    Hour,
    Minute,
    Second,
}

fn split_duration(s: u64) -> (u64, Unit) {
    if s >= 86_400 && s.is_multiple_of(86_400) {
        (s / 86_400, Unit::Day)
    } else if s >= 3_600 && s.is_multiple_of(3_600) {
        (s / 3_600, Unit::Hour)
    } else if s >= 60 && s.is_multiple_of(60) {
        (s / 60, Unit::Minute)
    } else {
        (s, Unit::Second)
    }
}

/// RFC 3339, as the rest of the alert JSON writes times.
pub(crate) fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// `nursecall-srv-01 (10.20.0.5)` when a name is known, else `10.20.0.5`.
pub(crate) fn label(ip: IpAddr, names: &[String]) -> String {
    match first_name(names) {
        Some(n) => format!("{n} ({ip})"),
        None => ip.to_string(),
    }
}

pub(crate) fn first_name(names: &[String]) -> Option<&str> {
    names.iter().map(|n| n.trim()).find(|n| !n.is_empty())
}

pub(crate) fn transport(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
        Transport::Other => "other",
    }
}

/// The application if identified, else the server port: `hl7`, `port 8080/tcp`.
pub(crate) fn app_or_port_en(app: Option<App>, t: Transport, port: u16) -> String {
    match app {
        Some(a) => a.as_str().to_owned(),
        None if t == Transport::Other => "an unidentified protocol".to_owned(),
        None => format!("port {port}/{}", transport(t)),
    }
}

pub(crate) fn app_or_port_ja(app: Option<App>, t: Transport, port: u16) -> String {
    match app {
        Some(a) => a.as_str().to_owned(),
        None if t == Transport::Other => "未識別のプロトコル".to_owned(),
        None => format!("ポート {port}/{}", transport(t)),
    }
}

/// The stable form used in dedup keys: `hl7`, `8080/tcp`.
pub(crate) fn app_or_port_key(app: Option<App>, t: Transport, port: u16) -> String {
    match app {
        Some(a) => a.as_str().to_owned(),
        None => format!("{port}/{}", transport(t)),
    }
}

pub(crate) fn zone_name(policy: &Policy, z: ZoneRef) -> &str {
    &policy.zone(z).name
}

pub(crate) fn asset(policy: &Policy, ip: IpAddr, names: &[String], z: ZoneRef) -> EvidenceAsset {
    EvidenceAsset {
        ip,
        name: first_name(names).map(str::to_owned),
        zone: Some(zone_name(policy, z).to_owned()),
    }
}

/// The flow of `ev` with its byte totals so far.
pub(crate) fn flow(ev: &FlowEvent<'_>, bytes_out: u64, bytes_in: u64) -> EvidenceFlow {
    EvidenceFlow {
        src: ev.src,
        dst: ev.dst,
        sport: ev.sport,
        dport: ev.dport,
        transport: transport(ev.transport).to_owned(),
        app: ev.app.map(|a| a.as_str().to_owned()),
        bytes_out,
        bytes_in,
        first: ev.first,
        last: ev.at,
    }
}

/// A list for a sentence: `a, b, c` and `… (12 in all)` past `max`.
pub(crate) fn list(items: &[String], total: u64, max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if total > shown.len() as u64 {
        s.push_str(&format!(", … ({total})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(50_000_000), "50 MB");
        assert_eq!(bytes(52_428_800), "52.4 MB");
        assert_eq!(bytes(1_500), "1.5 KB");
        assert_eq!(bytes(u64::MAX), "18446744 TB");
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(dur_en(Duration::from_secs(300)), "5 minutes");
        assert_eq!(dur_en(Duration::from_secs(60)), "1 minute");
        assert_eq!(dur_en(Duration::from_secs(90)), "90 seconds");
        assert_eq!(dur_ja(Duration::from_secs(120)), "2分");
        assert_eq!(dur_ja(Duration::from_secs(86_400 * 7)), "7日");
    }
}
