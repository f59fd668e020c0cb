//! Fuzzing entry points of the network policy: the policy file (TOML) and
//! indicator files (plain lists, STIX 2.1 JSON, whose pattern subset is a
//! parser of our own). Not part of `lib.rs`; the targets
//! `fuzz_targets/{policy_file,indicator_file}.rs` and
//! `crates/policy/tests/fuzz_corpus.rs` include this file by path.
//!
//! Both also check properties, so the fuzzer hunts for wrong answers as
//! well as panics: every error names a position inside the file, and every
//! address or name an indicator file yielded matches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use sekimori_policy::{AssetHints, Indicators, Policy, Transport, ZoneRef};
use time::macros::datetime;

/// `Policy::parse` of the input as text; a compiled policy answers
/// `zone_of` and `check_flow` for a few addresses and every zone pair.
pub fn policy_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policy::parse(text, Path::new("fuzz.toml")) {
        Ok(p) => {
            let probes = [
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
                IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ];
            let names = vec!["a".to_owned()];
            let hints = AssetHints { names: &names, role: Some("web-server"), tags: &names };
            for ip in probes {
                let z = p.zone_of(ip, &hints);
                let _ = p.zone(z);
                let _ = p.is_internal(ip);
            }
            let zones: Vec<ZoneRef> = p.zones().map(|(z, _)| z).take(16).collect();
            for &f in &zones {
                for &t in &zones {
                    let d = p.check_flow(f, t, None, Transport::Tcp, 104);
                    let _ = d.describe(&p, sekimori_types::Lang::Ja);
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "an error list is never empty");
            let lines = text.lines().count().max(1) as u32 + 1;
            for e in errors.iter() {
                assert!(e.line <= lines, "line {} beyond the file's {lines}: {e}", e.line);
                let _ = e.line_in(sekimori_types::Lang::Ja);
            }
        }
    }
}

/// `Indicators::read_bytes` (plain list or STIX by content); whatever it
/// added is found again by `match_ip` / `match_name`.
pub fn indicator_file(data: &[u8]) {
    let mut ind = Indicators::new();
    let now = datetime!(2026-11-20 00:00 UTC);
    let _ = ind.read_bytes(data, Path::new("fuzz.txt"), now);
    // Plain-list lines that read as an address must match.
    if ind.ip_count() > 0
        && let Ok(text) = std::str::from_utf8(data)
    {
        for line in text.lines().take(64) {
            if let Ok(ip) = line.trim().parse::<IpAddr>() {
                assert!(ind.match_ip(ip).is_some(), "{ip} was read but does not match");
            }
        }
    }
    let _ = ind.match_name("a.example");
}

pub type Entry = fn(&[u8]);

/// Every target of this file, by name, for the corpus replay test.
pub const TARGETS: &[(&str, Entry)] =
    &[("policy_file", policy_file), ("indicator_file", indicator_file)];
