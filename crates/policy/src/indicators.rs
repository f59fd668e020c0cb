//! Indicator lists: addresses, ranges and domain names known to be bad,
//! each remembered with where it came from ([`IndicatorSource`]).
//!
//! Two formats, told apart by content (a file whose first non-blank byte is
//! `{` or `[` is JSON):
//!
//! - **Plain lists**: one indicator per line; `#` starts a comment (at the
//!   start of a line or after a space); blank lines are skipped. The first
//!   word of a line (words end at a space, tab, `,` or `;`) is the
//!   indicator: an IPv4/IPv6 address, a CIDR range (host bits are cleared:
//!   lists are written loosely) or a domain name (`*.` prefix and a
//!   trailing dot dropped; defanged `[.]` accepted). A line that is none of
//!   these is reported with its file and line and skipped; the rest of the
//!   file is kept.
//! - **STIX 2.1** JSON: a bundle (`"type": "bundle"`), a single object, or
//!   an array of objects. `indicator` objects with `pattern_type` `stix`
//!   (or none, as in STIX 2.0) and a pattern of the subset [`crate::stix`]
//!   reads; other patterns are skipped and counted. `revoked: true`
//!   indicators, those whose `valid_until` is not after *now*, and those
//!   whose `valid_from` is after *now* are skipped and counted. Plain
//!   `ipv4-addr`, `ipv6-addr` and `domain-name` objects are indicators
//!   too. Other objects are ignored (counted). serde_json refuses nesting
//!   deeper than 128 levels; problems name the JSON path
//!   (`objects[3].pattern`).
//!
//! Matching: [`Indicators::match_ip`] finds the most specific range or
//! address containing an address; [`Indicators::match_name`] matches a name
//! and its subdomains (`evil.example` matches `a.b.evil.example`),
//! case-insensitively, ignoring a trailing dot. When two entries name the
//! same value, the first read is kept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ErrorKind, PolicyError, Pos};
use crate::net::{Cidr, PrefixTable};
use crate::stix::{self, PatternError, PatternValue};

/// Largest indicator file read.
pub const MAX_INDICATOR_FILE_BYTES: u64 = 32 << 20;
/// Most indicators over all files.
pub const MAX_INDICATORS: usize = 1_000_000;
/// Most problems kept per file (the rest are counted).
pub const MAX_PROBLEMS: usize = 1000;

/// Where an indicator came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorSource {
    pub file: Arc<Path>,
    /// 1-based line in a plain list; 0 in STIX.
    pub line: u32,
    /// The STIX object's `id`.
    pub stix_id: Option<String>,
    /// The STIX indicator's `name`.
    pub name: Option<String>,
}

impl std::fmt::Display for IndicatorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(id) = &self.stix_id {
            write!(f, " {id}")?;
        }
        if let Some(n) = &self.name {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// What one file added and skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Values added (addresses, ranges, names; duplicates included).
    pub added: usize,
    /// STIX indicators whose pattern is outside the subset or whose
    /// `pattern_type` is not `stix`.
    pub unsupported: usize,
    pub revoked: usize,
    pub expired: usize,
    pub not_yet_valid: usize,
    /// STIX objects that are not indicators (relationships, identities, …).
    pub other_objects: usize,
    /// Bad lines and objects, skipped (at most [`MAX_PROBLEMS`]).
    pub problems: Vec<PolicyError>,
    /// Problems beyond those kept.
    pub more_problems: usize,
}

impl LoadReport {
    fn problem(&mut self, e: PolicyError) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(e);
        } else {
            self.more_problems += 1;
        }
    }
}

/// Sets of bad addresses, ranges and domain names.
#[derive(Debug, Clone, Default)]
pub struct Indicators {
    ips: Vec<(Cidr, u32)>,
    table: PrefixTable<u32>,
    names: HashMap<String, u32>,
    sources: Vec<IndicatorSource>,
    files: Vec<Arc<Path>>,
}

impl Indicators {
    pub fn new() -> Indicators {
        Indicators::default()
    }

    /// Reads one file (format by content), judging STIX validity at `now`.
    /// An unreadable, oversized or unparsable file is an error; bad lines
    /// and objects are in the report.
    pub fn read_file(
        &mut self,
        path: &Path,
        now: OffsetDateTime,
    ) -> Result<LoadReport, Box<PolicyError>> {
        let data = crate::compile::read_bytes_capped(path, MAX_INDICATOR_FILE_BYTES)
            .map_err(|kind| Box::new(PolicyError::new(path, Pos::UNKNOWN, "", kind)))?;
        self.read_bytes(&data, path, now)
    }

    /// [`Indicators::read_file`] of bytes already read; `file` names them.
    pub fn read_bytes(
        &mut self,
        data: &[u8],
        file: &Path,
        now: OffsetDateTime,
    ) -> Result<LoadReport, Box<PolicyError>> {
        if data.len() as u64 > MAX_INDICATOR_FILE_BYTES {
            return Err(Box::new(PolicyError::new(
                file,
                Pos::UNKNOWN,
                "",
                ErrorKind::TooLarge { size: data.len() as u64, limit: MAX_INDICATOR_FILE_BYTES },
            )));
        }
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let file: Arc<Path> = Arc::from(file);
        self.files.push(file.clone());
        let mut report = LoadReport::default();
        let first = data.iter().find(|b| !b.is_ascii_whitespace());
        let result = if matches!(first, Some(b'{' | b'[')) {
            self.read_json(data, &file, now, &mut report)
        } else {
            self.read_list(data, &file, &mut report);
            Ok(())
        };
        self.table = PrefixTable::build(self.ips.iter().copied());
        result.map(|()| report)
    }

    fn full(&self) -> bool {
        self.ips.len() + self.names.len() >= MAX_INDICATORS
    }

    fn add(
        &mut self,
        values: Vec<PatternValue>,
        source: IndicatorSource,
        report: &mut LoadReport,
    ) -> bool {
        if self.full() {
            return false;
        }
        let id = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        self.sources.push(source);
        for v in values {
            match v {
                PatternValue::Ip(c) => self.ips.push((c, id)),
                PatternValue::Domain(d) => {
                    self.names.entry(d).or_insert(id);
                }
            }
            report.added += 1;
        }
        true
    }

    fn read_list(&mut self, data: &[u8], file: &Arc<Path>, report: &mut LoadReport) {
        let text = String::from_utf8_lossy(data);
        for (i, line) in text.lines().enumerate() {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let line = strip_comment(line).trim();
            if line.is_empty() {
                continue;
            }
            let word = line.split([' ', '\t', ',', ';']).next().unwrap_or("");
            let word = word.replace("[.]", ".").replace("(.)", ".");
            let value = match Cidr::parse(&word, false) {
                Ok(c) => PatternValue::Ip(c),
                Err(_) => match stix::domain(&word) {
                    Some(d) => PatternValue::Domain(d),
                    None => {
                        report.problem(PolicyError::new(
                            file,
                            Pos::line(n),
                            "",
                            ErrorKind::BadIndicator { value: word.chars().take(100).collect() },
                        ));
                        continue;
                    }
                },
            };
            let source = IndicatorSource { file: file.clone(), line: n, stix_id: None, name: None };
            if !self.add(vec![value], source, report) {
                report.problem(PolicyError::new(
                    file,
                    Pos::line(n),
                    "",
                    ErrorKind::TooMany { what: "indicators", limit: MAX_INDICATORS },
                ));
                return;
            }
        }
    }

    fn read_json(
        &mut self,
        data: &[u8],
        file: &Arc<Path>,
        now: OffsetDateTime,
        report: &mut LoadReport,
    ) -> Result<(), Box<PolicyError>> {
        let v: Value = serde_json::from_slice(data).map_err(|e| {
            let pos = Pos {
                line: u32::try_from(e.line()).unwrap_or(u32::MAX),
                column: u32::try_from(e.column()).unwrap_or(u32::MAX),
            };
            Box::new(PolicyError::new(file, pos, "", ErrorKind::Json { message: e.to_string() }))
        })?;
        match &v {
            Value::Array(items) => {
                for (i, o) in items.iter().enumerate() {
                    self.stix_object(o, &format!("[{i}]"), file, now, report);
                }
            }
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("bundle") => {
                let Some(items) = o.get("objects").and_then(Value::as_array) else {
                    return Err(Box::new(PolicyError::new(
                        file,
                        Pos::UNKNOWN,
                        "objects",
                        ErrorKind::BadStix { reason: "a bundle without an objects array".into() },
                    )));
                };
                for (i, o) in items.iter().enumerate() {
                    self.stix_object(o, &format!("objects[{i}]"), file, now, report);
                }
            }
            Value::Object(_) => self.stix_object(&v, "", file, now, report),
            // Only objects and arrays start with `{` or `[`.
            _ => {}
        }
        Ok(())
    }

    fn stix_object(
        &mut self,
        o: &Value,
        path: &str,
        file: &Arc<Path>,
        now: OffsetDateTime,
        report: &mut LoadReport,
    ) {
        let key = |field: &str| {
            if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
        };
        let bad = |report: &mut LoadReport, k: String, reason: &str| {
            report.problem(PolicyError::new(
                file,
                Pos::UNKNOWN,
                k,
                ErrorKind::BadStix { reason: reason.to_owned() },
            ));
        };
        let Some(obj) = o.as_object() else {
            bad(report, path.to_owned(), "not an object");
            return;
        };
        let Some(ty) = obj.get("type").and_then(Value::as_str) else {
            bad(report, key("type"), "no type");
            return;
        };
        let id =
            obj.get("id").and_then(Value::as_str).map(|s| s.chars().take(256).collect::<String>());
        let time = |report: &mut LoadReport, field: &str| -> Result<Option<OffsetDateTime>, ()> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => match OffsetDateTime::parse(s, &Rfc3339) {
                    Ok(t) => Ok(Some(t)),
                    Err(_) => {
                        report.problem(PolicyError::new(
                            file,
                            Pos::UNKNOWN,
                            key(field),
                            ErrorKind::BadTimestamp { value: s.chars().take(64).collect() },
                        ));
                        Err(())
                    }
                },
                Some(_) => {
                    bad(report, key(field), "not a string");
                    Err(())
                }
            }
        };
        match ty {
            "indicator" => {
                if obj.get("revoked").and_then(Value::as_bool) == Some(true) {
                    report.revoked += 1;
                    return;
                }
                let (Ok(until), Ok(from)) =
                    (time(report, "valid_until"), time(report, "valid_from"))
                else {
                    return;
                };
                if until.is_some_and(|t| t <= now) {
                    report.expired += 1;
                    return;
                }
                if from.is_some_and(|t| t > now) {
                    report.not_yet_valid += 1;
                    return;
                }
                match obj.get("pattern_type") {
                    None => {}
                    Some(Value::String(s)) if s == "stix" => {}
                    Some(_) => {
                        report.unsupported += 1;
                        return;
                    }
                }
                let Some(pattern) = obj.get("pattern").and_then(Value::as_str) else {
                    bad(report, key("pattern"), "an indicator without a pattern");
                    return;
                };
                match stix::parse_pattern(pattern) {
                    Ok(values) => {
                        let name = obj
                            .get("name")
                            .and_then(Value::as_str)
                            .map(|s| s.chars().take(256).collect());
                        let source =
                            IndicatorSource { file: file.clone(), line: 0, stix_id: id, name };
                        if !self.add(values, source, report) {
                            report.problem(PolicyError::new(
                                file,
                                Pos::UNKNOWN,
                                path,
                                ErrorKind::TooMany { what: "indicators", limit: MAX_INDICATORS },
                            ));
                        }
                    }
                    Err(PatternError::Unsupported(_)) => report.unsupported += 1,
                    Err(e) => bad(report, key("pattern"), &e.to_string()),
                }
            }
            "ipv4-addr" | "ipv6-addr" | "domain-name" => {
                let Some(value) = obj.get("value").and_then(Value::as_str) else {
                    bad(report, key("value"), "no value");
                    return;
                };
                let parsed = if ty == "domain-name" {
                    stix::domain(value).map(PatternValue::Domain)
                } else {
                    Cidr::parse(value, false)
                        .ok()
                        .filter(|c| c.addr().is_ipv4() == (ty == "ipv4-addr"))
                        .map(PatternValue::Ip)
                };
                match parsed {
                    Some(v) => {
                        let source = IndicatorSource {
                            file: file.clone(),
                            line: 0,
                            stix_id: id,
                            name: None,
                        };
                        if !self.add(vec![v], source, report) {
                            report.problem(PolicyError::new(
                                file,
                                Pos::UNKNOWN,
                                path,
                                ErrorKind::TooMany { what: "indicators", limit: MAX_INDICATORS },
                            ));
                        }
                    }
                    None => report.problem(PolicyError::new(
                        file,
                        Pos::UNKNOWN,
                        key("value"),
                        ErrorKind::BadIndicator { value: value.chars().take(100).collect() },
                    )),
                }
            }
            _ => report.other_objects += 1,
        }
    }

    /// The indicator whose address or most specific range contains `ip`.
    pub fn match_ip(&self, ip: IpAddr) -> Option<&IndicatorSource> {
        let id = self.table.get(ip)?;
        self.sources.get(usize::try_from(id).ok()?)
    }

    /// The indicator naming `name` or a parent domain of it.
    pub fn match_name(&self, name: &str) -> Option<&IndicatorSource> {
        if self.names.is_empty() {
            return None;
        }
        let n = name.trim();
        let n = n.strip_suffix('.').unwrap_or(n).to_ascii_lowercase();
        let mut rest = n.as_str();
        loop {
            if let Some(id) = self.names.get(rest) {
                return self.sources.get(usize::try_from(*id).ok()?);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    /// Addresses and ranges held.
    pub fn ip_count(&self) -> usize {
        self.ips.len()
    }
    /// Distinct domain names held.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }
    pub fn len(&self) -> usize {
        self.ip_count() + self.name_count()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The files read, in order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| &**f)
    }
}

fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('#') {
        return "";
    }
    for (i, _) in line.match_indices('#') {
        if line.get(..i).is_some_and(|b| b.ends_with([' ', '\t'])) {
            return line.get(..i).unwrap_or("");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-20 00:00 UTC);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_list() {
        let text = "# C2 servers\n198.51.100.7\n\n203.0.113.0/24   # a range\n2001:db8:bad::/48\n\
                    Evil.Example.\nnot an indicator?\nhxxp://x.example/path\nfoo[.]example\n*.wild.example\n10.1.2.3/16\n";
        let mut ind = Indicators::new();
        let r = ind.read_bytes(text.as_bytes(), Path::new("iocs.txt"), NOW).unwrap();
        assert_eq!(r.added, 7);
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
        assert_eq!(r.problems[0].line, 7);
        assert_eq!(
            r.problems[0].to_string(),
            "iocs.txt:7:1: \"not\" is not an IP address, CIDR range or domain name"
        );
        assert_eq!(r.problems[1].line, 8);
        assert_eq!(ind.match_ip(ip("198.51.100.7")).unwrap().line, 2);
        assert_eq!(ind.match_ip(ip("203.0.113.99")).unwrap().line, 4);
        assert_eq!(ind.match_ip(ip("2001:db8:bad::5")).unwrap().line, 5);
        assert_eq!(ind.match_ip(ip("10.1.200.1")).unwrap().line, 11);
        assert!(ind.match_ip(ip("198.51.100.8")).is_none());
        assert_eq!(ind.match_name("evil.example").unwrap().line, 6);
        assert_eq!(ind.match_name("A.B.EVIL.example.").unwrap().line, 6);
        assert!(ind.match_name("notevil.example").is_none());
        assert!(ind.match_name("example").is_none());
        assert_eq!(ind.match_name("foo.example").unwrap().line, 9);
        assert_eq!(ind.match_name("x.wild.example").unwrap().line, 10);
        assert_eq!(ind.ip_count(), 4);
        assert_eq!(ind.name_count(), 3);
    }

    #[test]
    fn most_specific_range_names_the_source() {
        let mut ind = Indicators::new();
        ind.read_bytes(b"203.0.113.0/24\n", Path::new("a.txt"), NOW).unwrap();
        ind.read_bytes(b"203.0.113.7\n203.0.113.0/24\n", Path::new("b.txt"), NOW).unwrap();
        assert_eq!(&*ind.match_ip(ip("203.0.113.7")).unwrap().file, Path::new("b.txt"));
        // The same range twice: the first file read keeps it.
        assert_eq!(&*ind.match_ip(ip("203.0.113.8")).unwrap().file, Path::new("a.txt"));
    }

    #[test]
    fn stix_bundle() {
        let bundle = serde_json::json!({
            "type": "bundle",
            "id": "bundle--1",
            "objects": [
                {"type": "indicator", "id": "indicator--a", "name": "C2", "pattern_type": "stix",
                 "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'evil.example']",
                 "valid_from": "2026-01-01T00:00:00Z"},
                {"type": "indicator", "id": "indicator--b", "pattern_type": "stix", "revoked": true,
                 "pattern": "[ipv4-addr:value = '192.0.2.1']"},
                {"type": "indicator", "id": "indicator--c", "pattern_type": "stix",
                 "valid_until": "2026-06-01T00:00:00Z", "pattern": "[ipv4-addr:value = '192.0.2.2']"},
                {"type": "indicator", "id": "indicator--d", "pattern_type": "stix",
                 "valid_from": "2027-01-01T00:00:00Z", "pattern": "[ipv4-addr:value = '192.0.2.3']"},
                {"type": "indicator", "id": "indicator--e", "pattern_type": "sigma", "pattern": "title: x"},
                {"type": "indicator", "id": "indicator--f", "pattern_type": "stix",
                 "pattern": "[file:hashes.MD5 = 'abc']"},
                {"type": "indicator", "id": "indicator--g", "pattern_type": "stix",
                 "pattern": "[ipv4-addr:value = 'nonsense']"},
                {"type": "indicator", "id": "indicator--h", "pattern_type": "stix",
                 "valid_until": "yesterday", "pattern": "[ipv4-addr:value = '192.0.2.4']"},
                {"type": "ipv6-addr", "id": "ipv6-addr--i", "value": "2001:db8::66"},
                {"type": "domain-name", "id": "domain-name--j", "value": "bad.example"},
                {"type": "relationship", "id": "relationship--k"},
                "junk"
            ]
        });
        let mut ind = Indicators::new();
        let r =
            ind.read_bytes(bundle.to_string().as_bytes(), Path::new("bundle.json"), NOW).unwrap();
        assert_eq!(r.added, 4);
        assert_eq!(
            (r.revoked, r.expired, r.not_yet_valid, r.unsupported, r.other_objects),
            (1, 1, 1, 2, 1)
        );
        let keys: Vec<&str> = r.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["objects[6].pattern", "objects[7].valid_until", "objects[11]"]);
        let s = ind.match_ip(ip("198.51.100.7")).unwrap();
        assert_eq!(s.stix_id.as_deref(), Some("indicator--a"));
        assert_eq!(s.name.as_deref(), Some("C2"));
        assert_eq!(
            ind.match_name("www.evil.example").unwrap().stix_id.as_deref(),
            Some("indicator--a")
        );
        assert_eq!(
            ind.match_ip(ip("2001:db8::66")).unwrap().stix_id.as_deref(),
            Some("ipv6-addr--i")
        );
        assert!(ind.match_name("bad.example").is_some());
        for gone in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
            assert!(ind.match_ip(ip(gone)).is_none(), "{gone}");
        }
    }

    #[test]
    fn single_object_and_array() {
        let mut ind = Indicators::new();
        let one = br#"{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '192.0.2.9']"}"#;
        assert_eq!(ind.read_bytes(one, Path::new("one.json"), NOW).unwrap().added, 1);
        let arr = br#"[{"type":"ipv4-addr","value":"192.0.2.10"}]"#;
        assert_eq!(ind.read_bytes(arr, Path::new("arr.json"), NOW).unwrap().added, 1);
        assert_eq!(ind.len(), 2);
    }

    #[test]
    fn bad_json_is_an_error_with_position() {
        let mut ind = Indicators::new();
        let e = ind
            .read_bytes(b"{\n  \"type\": \"bundle\",\n  oops\n}", Path::new("b.json"), NOW)
            .unwrap_err();
        assert_eq!((e.line, e.code()), (3, "json"));
        let deep = "[".repeat(10_000);
        let e = ind.read_bytes(deep.as_bytes(), Path::new("deep.json"), NOW).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
        let e = ind.read_bytes(br#"{"type":"bundle"}"#, Path::new("b.json"), NOW).unwrap_err();
        assert_eq!(e.code(), "bad_stix");
    }
}
