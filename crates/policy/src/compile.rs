//! Raw file → [`Policy`]: every check, every problem collected.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use sekimori_proto::App;
use sekimori_types::{AlertKind, AlertSeverity};

use crate::detections::{
    DetectionConfig, ExfiltrationConfig, IndicatorConfig, IndicatorFile, LateralMovementConfig,
    NewActivityConfig, RemoteAccessConfig, SegmentationConfig, SilenceTarget, SilenceWatch,
};
use crate::error::{ErrorKind, LineIndex, PolicyError, PolicyErrors, Pos};
use crate::net::{Cidr, PrefixTable};
use crate::raw::{PortValue, RawAction, RawDetections, RawPolicy, S, ZoneList};
use crate::units::{parse_duration, parse_size};
use crate::{
    Action, Indicators, MAX_INDICATOR_FILES, MAX_LIST, MAX_RANGES, MAX_RULES, MAX_SILENCE,
    MAX_ZONES, Policy, PortRange, RuleInfo, RuleRef, Transport, ZoneInfo, ZoneKind, ZoneRef,
    ZoneSet, app_bit, normalize_name,
};

/// The role guesses of the sensor's inventory (`sekimori-sensor`,
/// `inventory.rs` module doc). A role not in this list is refused, so a
/// typo does not leave a zone empty; add new roles here with the sensor's.
pub const ROLES: &[&str] = &[
    "pacs-or-modality",
    "modality-or-workstation",
    "hl7-interface",
    "vpn-gateway",
    "building-automation",
    "dhcp-server",
    "dns-server",
    "syslog-collector",
    "flow-collector",
    "flow-exporter",
    "network-device",
    "managed-host",
    "file-server",
    "remote-access-client",
    "web-server",
];

/// Names people write for an application that the sensor calls otherwise.
const APP_ALIASES: &[(&str, App)] = &[("https", App::Tls), ("mllp", App::Hl7)];

/// Longest description, name or comment.
const MAX_TEXT: usize = 1024;

pub(crate) static INTERNET_INFO: LazyLock<ZoneInfo> = LazyLock::new(|| builtin("internet"));
pub(crate) static NO_RULE: LazyLock<RuleInfo> = LazyLock::new(|| RuleInfo {
    name: None,
    comment: None,
    line: 0,
    action: Action::Deny,
    from: ZoneSet::Zones(Vec::new()),
    to: ZoneSet::Zones(Vec::new()),
    protocols: Vec::new(),
    ports: Vec::new(),
    apps: 0,
});

fn builtin(name: &str) -> ZoneInfo {
    let internet = name == "internet";
    ZoneInfo {
        name: name.to_owned(),
        description: Some(
            if internet {
                "Every address outside the hospital's ranges"
            } else {
                "Inside the hospital's ranges, in no zone"
            }
            .to_owned(),
        ),
        description_ja: Some(
            if internet {
                "病院のアドレス範囲の外のすべて"
            } else {
                "病院の範囲内でどのゾーンにも属さない"
            }
            .to_owned(),
        ),
        critical: false,
        kind: if internet { ZoneKind::Internet } else { ZoneKind::Internal },
        default: Action::Allow,
        internal: Action::Allow,
        ranges: Vec::new(),
        assets: Vec::new(),
        roles: Vec::new(),
        tags: Vec::new(),
        line: 0,
    }
}

/// Reads at most `limit` bytes of UTF-8 text.
pub(crate) fn read_capped(path: &Path, limit: u64) -> Result<String, ErrorKind> {
    let bytes = read_bytes_capped(path, limit)?;
    String::from_utf8(bytes).map_err(|_| ErrorKind::NotUtf8)
}

pub(crate) fn read_bytes_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ErrorKind> {
    let io = |e: std::io::Error| ErrorKind::Io { reason: e.to_string() };
    let f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ErrorKind::Io { reason: "not a regular file".into() });
    }
    if meta.len() > limit {
        return Err(ErrorKind::TooLarge { size: meta.len(), limit });
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.take(limit + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(ErrorKind::TooLarge { size: buf.len() as u64, limit });
    }
    Ok(buf)
}

/// Collects problems with their positions.
struct Ctx<'a> {
    file: &'a Path,
    lines: LineIndex<'a>,
    errors: Vec<PolicyError>,
    warnings: Vec<PolicyError>,
}

impl Ctx<'_> {
    fn pos(&self, span: &Range<usize>) -> Pos {
        self.lines.pos(span.start)
    }
    fn err(&mut self, span: Range<usize>, key: impl Into<String>, kind: ErrorKind) {
        let pos = self.pos(&span);
        self.errors.push(PolicyError::new(self.file, pos, key, kind));
    }
    fn warn(&mut self, span: Range<usize>, key: impl Into<String>, kind: ErrorKind) {
        let pos = self.pos(&span);
        self.warnings.push(PolicyError::new(self.file, pos, key, kind));
    }
    fn text(&mut self, s: &S<String>, key: &str) -> Option<String> {
        let v = s.get_ref();
        if v.chars().count() > MAX_TEXT {
            self.err(s.span(), key, ErrorKind::TooLong { limit: MAX_TEXT });
            return None;
        }
        Some(v.clone())
    }
    /// Reports a list over `limit` and gives the part to look at.
    fn capped<'l, T>(
        &mut self,
        list: &'l [T],
        limit: usize,
        what: &'static str,
        span: Range<usize>,
        key: &str,
    ) -> &'l [T] {
        if list.len() > limit {
            self.err(span, key, ErrorKind::TooMany { what, limit });
            list.get(..limit).unwrap_or(list)
        } else {
            list
        }
    }
}

/// The key of the line an offset is on (`name = …` → `name`, `[[zone]]` →
/// `zone`), for syntax errors, whose messages do not carry one.
fn key_at(text: &str, offset: usize) -> String {
    let start = text.get(..offset.min(text.len())).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
    let line = text.get(start..).and_then(|t| t.lines().next()).unwrap_or("").trim();
    if let Some(h) = line.strip_prefix('[') {
        let h = h.trim_start_matches('[');
        let end = h.find(']').unwrap_or(h.len());
        return h.get(..end).unwrap_or("").trim().chars().take(64).collect();
    }
    match line.split_once('=') {
        Some((k, _)) => {
            let k = k.trim();
            if !k.is_empty()
                && k.len() <= 64
                && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
            {
                k.to_owned()
            } else {
                String::new()
            }
        }
        None => String::new(),
    }
}

pub(crate) fn compile(text: &str, file: &Path) -> Result<Policy, PolicyErrors> {
    let one =
        |pos: Pos, key: String, kind| PolicyErrors(vec![PolicyError::new(file, pos, key, kind)]);
    if text.len() as u64 > crate::MAX_FILE_BYTES {
        return Err(one(
            Pos::UNKNOWN,
            String::new(),
            ErrorKind::TooLarge { size: text.len() as u64, limit: crate::MAX_FILE_BYTES },
        ));
    }
    let lines = LineIndex::new(text);
    let raw: RawPolicy = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let (pos, key) = match e.span() {
                Some(s) => (lines.pos(s.start), key_at(text, s.start)),
                None => (Pos::UNKNOWN, String::new()),
            };
            return Err(one(
                pos,
                key,
                ErrorKind::Syntax { message: e.message().trim().to_owned() },
            ));
        }
    };
    let mut cx = Ctx { file, lines, errors: Vec::new(), warnings: Vec::new() };
    let policy = build(&mut cx, raw);
    if cx.errors.is_empty() {
        let mut policy = policy;
        policy.warnings = cx.warnings;
        Ok(policy)
    } else {
        let mut errors = cx.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        Err(PolicyErrors(errors))
    }
}

fn valid_zone_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(u8::is_ascii_lowercase)
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !n.ends_with('-')
}

fn build(cx: &mut Ctx<'_>, raw: RawPolicy) -> Policy {
    let mut range_count = 0usize;

    // [hospital]
    let mut hospital_ranges = Vec::new();
    let mut hospital_name = None;
    match &raw.hospital {
        None => cx.err(0..0, "hospital", ErrorKind::MissingHospital),
        Some(h) => {
            let span = h.span();
            let h = h.get_ref();
            hospital_name = h.name.as_ref().and_then(|n| cx.text(n, "hospital.name"));
            if h.ranges.is_empty() {
                cx.err(span.clone(), "hospital.ranges", ErrorKind::NoRanges);
            }
            let list = cx.capped(&h.ranges, MAX_LIST, "ranges", span, "hospital.ranges");
            for (i, r) in list.iter().enumerate() {
                let key = format!("hospital.ranges[{}]", i + 1);
                if let Some(c) = cidr(cx, r, &key) {
                    hospital_ranges.push(c);
                }
            }
            range_count += list.len();
        }
    }

    // [[zone]]
    let mut zones = vec![builtin("internet"), builtin("internal")];
    let mut by_name: HashMap<String, ZoneRef> = HashMap::new();
    by_name.insert("internet".into(), ZoneRef::INTERNET);
    by_name.insert("internal".into(), ZoneRef::INTERNAL);
    let mut first_line: HashMap<String, u32> = HashMap::new();
    let mut range_owner: HashMap<Cidr, (ZoneRef, String)> = HashMap::new();
    let mut by_asset: HashMap<String, ZoneRef> = HashMap::new();
    let mut by_tag: HashMap<String, ZoneRef> = HashMap::new();
    let mut by_role: HashMap<String, ZoneRef> = HashMap::new();
    let mut range_entries: Vec<(Cidr, ZoneRef)> = Vec::new();
    let mut gateway: Option<ZoneRef> = None;
    let zone_list = match raw.zone.first() {
        Some(z) if raw.zone.len() > MAX_ZONES => {
            cx.err(z.span(), "zone", ErrorKind::TooMany { what: "zones", limit: MAX_ZONES });
            raw.zone.get(..MAX_ZONES).unwrap_or(&[])
        }
        _ => &raw.zone[..],
    };
    for (i, zs) in zone_list.iter().enumerate() {
        let k = format!("zone[{}]", i + 1);
        let z = zs.get_ref();
        let name = z.name.get_ref().clone();
        let name_span = z.name.span();
        let line = cx.pos(&name_span).line;
        let zref = ZoneRef(u16::try_from(zones.len()).unwrap_or(u16::MAX));
        if matches!(name.as_str(), "internet" | "internal" | "any") {
            cx.err(
                name_span.clone(),
                format!("{k}.name"),
                ErrorKind::ReservedZoneName { name: name.clone() },
            );
        } else if !valid_zone_name(&name) {
            cx.err(
                name_span.clone(),
                format!("{k}.name"),
                ErrorKind::BadZoneName { value: name.clone() },
            );
        } else if let Some(first) = first_line.get(&name) {
            cx.err(
                name_span.clone(),
                format!("{k}.name"),
                ErrorKind::DuplicateZone { name: name.clone(), first_line: *first },
            );
        } else {
            first_line.insert(name.clone(), line);
            by_name.insert(name.clone(), zref);
        }
        let description =
            z.description.as_ref().and_then(|d| cx.text(d, &format!("{k}.description")));
        let description_ja =
            z.description_ja.as_ref().and_then(|d| cx.text(d, &format!("{k}.description_ja")));
        let default = match &z.default {
            Some(d) if *d.get_ref() == RawAction::Allow && z.critical => {
                cx.err(d.span(), format!("{k}.default"), ErrorKind::CriticalDefaultAllow);
                Action::Deny
            }
            Some(d) => action(*d.get_ref()),
            None if z.critical => Action::Deny,
            None => Action::Allow,
        };
        let internal = z.internal.as_ref().map_or(Action::Allow, |a| action(*a.get_ref()));
        let kind = match &z.kind {
            Some(kd) => {
                if let Some(g) = gateway {
                    let gname =
                        zones.get(usize::from(g.0)).map(|z| z.name.clone()).unwrap_or_default();
                    cx.err(kd.span(), format!("{k}.kind"), ErrorKind::TwoGateways { name: gname });
                } else {
                    gateway = Some(zref);
                }
                ZoneKind::Gateway
            }
            None => ZoneKind::Normal,
        };

        let mut ranges = Vec::new();
        let list =
            cx.capped(&z.ranges, MAX_LIST, "ranges", name_span.clone(), &format!("{k}.ranges"));
        range_count += list.len();
        for (j, r) in list.iter().enumerate() {
            let key = format!("{k}.ranges[{}]", j + 1);
            let Some(c) = cidr(cx, r, &key) else { continue };
            match range_owner.get(&c) {
                Some((owner, _)) if *owner == zref => {} // twice in one zone: harmless
                Some((_, other)) => {
                    cx.err(
                        r.span(),
                        key,
                        ErrorKind::RangeInTwoZones { range: c.to_string(), other: other.clone() },
                    );
                }
                None => {
                    range_owner.insert(c, (zref, name.clone()));
                    range_entries.push((c, zref));
                    ranges.push(c);
                }
            }
        }

        let claim = |cx: &mut Ctx<'_>,
                     map: &mut HashMap<String, ZoneRef>,
                     list: &[S<String>],
                     what: &'static str,
                     field: &str,
                     norm: &dyn Fn(&str) -> String,
                     check: &dyn Fn(&str) -> Option<ErrorKind>|
         -> Vec<String> {
            let mut out = Vec::new();
            let list =
                cx.capped(list, MAX_LIST, "entries", name_span.clone(), &format!("{k}.{field}"));
            for (j, v) in list.iter().enumerate() {
                let key = format!("{k}.{field}[{}]", j + 1);
                let n = norm(v.get_ref());
                if n.is_empty() || n.len() > 253 {
                    cx.err(v.span(), key, ErrorKind::TooLong { limit: 253 });
                    continue;
                }
                if let Some(kind) = check(&n) {
                    cx.err(v.span(), key, kind);
                    continue;
                }
                match map.get(&n) {
                    Some(other) if *other == zref => {}
                    Some(other) => {
                        let other = zones
                            .get(usize::from(other.0))
                            .map(|z| z.name.clone())
                            .unwrap_or_default();
                        cx.err(v.span(), key, ErrorKind::ClaimedTwice { what, value: n, other });
                    }
                    None => {
                        map.insert(n.clone(), zref);
                        out.push(n);
                    }
                }
            }
            out
        };
        let no_check = |_: &str| None;
        let assets = claim(
            cx,
            &mut by_asset,
            &z.assets,
            "asset",
            "assets",
            &|s| normalize_name(s).into_owned(),
            &no_check,
        );
        let tags = claim(
            cx,
            &mut by_tag,
            &z.tags,
            "tag",
            "tags",
            &|s| s.trim().to_ascii_lowercase(),
            &no_check,
        );
        let roles =
            claim(cx, &mut by_role, &z.roles, "role", "roles", &|s| s.trim().to_owned(), &|r| {
                (!ROLES.contains(&r)).then(|| ErrorKind::UnknownRole {
                    value: r.to_owned(),
                    known: ROLES.join(", "),
                })
            });
        if z.ranges.is_empty() && z.assets.is_empty() && z.roles.is_empty() && z.tags.is_empty() {
            cx.warn(name_span.clone(), k.clone(), ErrorKind::EmptyZone);
        }
        zones.push(ZoneInfo {
            name,
            description,
            description_ja,
            critical: z.critical,
            kind,
            default,
            internal,
            ranges,
            assets,
            roles,
            tags,
            line,
        });
    }
    if range_count > MAX_RANGES {
        cx.err(0..0, "ranges", ErrorKind::TooMany { what: "ranges", limit: MAX_RANGES });
    }

    // [[rule]]
    let mut rules = Vec::new();
    let rule_list = match raw.rule.first() {
        Some(r) if raw.rule.len() > MAX_RULES => {
            cx.err(r.span(), "rule", ErrorKind::TooMany { what: "rules", limit: MAX_RULES });
            raw.rule.get(..MAX_RULES).unwrap_or(&[])
        }
        _ => &raw.rule[..],
    };
    for (i, rs) in rule_list.iter().enumerate() {
        let k = format!("rule[{}]", i + 1);
        let r = rs.get_ref();
        let line = cx.pos(&rs.span()).line;
        let from = zone_set(cx, &by_name, &r.from, &format!("{k}.from"));
        let to = zone_set(cx, &by_name, &r.to, &format!("{k}.to"));
        let protocols = apps(cx, &r.protocols, &format!("{k}.protocols"), r.from.span());
        let mut ports = Vec::new();
        let plist = cx.capped(&r.ports, MAX_LIST, "entries", r.from.span(), &format!("{k}.ports"));
        for (j, p) in plist.iter().enumerate() {
            match port(p.get_ref()) {
                Some(pr) => ports.push(pr),
                None => {
                    let value = match p.get_ref() {
                        PortValue::Number(n) => n.to_string(),
                        PortValue::Text(t) => t.clone(),
                    };
                    cx.err(p.span(), format!("{k}.ports[{}]", j + 1), ErrorKind::BadPort { value });
                }
            }
        }
        let name = r.name.as_ref().and_then(|n| cx.text(n, &format!("{k}.name")));
        let comment = r.comment.as_ref().and_then(|n| cx.text(n, &format!("{k}.comment")));
        let apps_mask = protocols.iter().fold(0u64, |m, a| m | app_bit(*a));
        rules.push(RuleInfo {
            name,
            comment,
            line,
            action: r.action.as_ref().map_or(Action::Allow, |a| action(*a.get_ref())),
            from,
            to,
            protocols,
            ports,
            apps: apps_mask,
        });
    }

    let detections = detections(cx, raw.detections.unwrap_or_default(), &by_name, gateway);

    let mut rules_from: Vec<Vec<RuleRef>> = vec![Vec::new(); zones.len()];
    for (i, r) in rules.iter().enumerate() {
        let rr = RuleRef(u32::try_from(i).unwrap_or(u32::MAX));
        for (z, list) in rules_from.iter_mut().enumerate() {
            if r.from.contains(ZoneRef(u16::try_from(z).unwrap_or(u16::MAX))) {
                list.push(rr);
            }
        }
    }

    Policy {
        file: cx.file.to_path_buf(),
        hospital_name,
        internal: PrefixTable::build(hospital_ranges.iter().map(|c| (*c, true))),
        hospital_ranges,
        zones,
        by_range: PrefixTable::build(range_entries),
        by_name,
        by_asset,
        by_tag,
        by_role,
        rules,
        rules_from,
        gateway,
        detections,
        indicators: Indicators::default(),
        warnings: Vec::new(),
    }
}

fn action(a: RawAction) -> Action {
    match a {
        RawAction::Allow => Action::Allow,
        RawAction::Deny => Action::Deny,
    }
}

fn cidr(cx: &mut Ctx<'_>, r: &S<String>, key: &str) -> Option<Cidr> {
    match Cidr::parse(r.get_ref(), true) {
        Ok(c) => Some(c),
        Err(reason) => {
            cx.err(r.span(), key, ErrorKind::BadCidr { value: r.get_ref().clone(), reason });
            None
        }
    }
}

fn zone_set(
    cx: &mut Ctx<'_>,
    by_name: &HashMap<String, ZoneRef>,
    list: &S<ZoneList>,
    key: &str,
) -> ZoneSet {
    let names = &list.get_ref().0;
    if names.is_empty() {
        cx.err(list.span(), key, ErrorKind::EmptyZoneList);
        return ZoneSet::Zones(Vec::new());
    }
    let any = names.iter().any(|n| n == "any");
    let mut out = Vec::new();
    for n in names.iter().filter(|n| *n != "any") {
        match by_name.get(n) {
            Some(z) => {
                if !out.contains(z) {
                    out.push(*z);
                }
            }
            None => cx.err(list.span(), key, ErrorKind::UnknownZone { name: n.clone() }),
        }
    }
    if any { ZoneSet::Any } else { ZoneSet::Zones(out) }
}

fn known_apps() -> String {
    App::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
}

fn app_named(name: &str) -> Option<App> {
    let n = name.trim().to_ascii_lowercase();
    App::from_name(&n).or_else(|| APP_ALIASES.iter().find(|(a, _)| *a == n).map(|(_, app)| *app))
}

fn apps(cx: &mut Ctx<'_>, list: &[S<String>], key: &str, span: Range<usize>) -> Vec<App> {
    let list = cx.capped(list, MAX_LIST, "entries", span, key);
    let mut out = Vec::new();
    for (j, p) in list.iter().enumerate() {
        match app_named(p.get_ref()) {
            Some(a) => {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            None => cx.err(
                p.span(),
                format!("{key}[{}]", j + 1),
                ErrorKind::UnknownProtocol { value: p.get_ref().clone(), known: known_apps() },
            ),
        }
    }
    out
}

/// `104`, `"104"`, `"104/tcp"`, `"5000-5010/udp"`.
fn port(v: &PortValue) -> Option<PortRange> {
    match v {
        PortValue::Number(n) => {
            let p = u16::try_from(*n).ok().filter(|p| *p > 0)?;
            Some(PortRange { first: p, last: p, transport: None })
        }
        PortValue::Text(t) => {
            let t = t.trim();
            let (nums, transport) = match t.split_once('/') {
                Some((n, tr)) => (
                    n,
                    Some(match tr.trim().to_ascii_lowercase().as_str() {
                        "tcp" => Transport::Tcp,
                        "udp" => Transport::Udp,
                        _ => return None,
                    }),
                ),
                None => (t, None),
            };
            let num = |s: &str| -> Option<u16> {
                let s = s.trim();
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                s.parse::<u16>().ok().filter(|p| *p > 0)
            };
            let (first, last) = match nums.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => {
                    let p = num(nums)?;
                    (p, p)
                }
            };
            (first <= last).then_some(PortRange { first, last, transport })
        }
    }
}

fn duration(
    cx: &mut Ctx<'_>,
    v: &Option<S<String>>,
    key: &str,
    default: Duration,
    allow_zero: bool,
) -> Duration {
    let Some(v) = v else { return default };
    match parse_duration(v.get_ref()) {
        None => {
            cx.err(v.span(), key, ErrorKind::BadDuration { value: v.get_ref().clone() });
            default
        }
        Some(d) if d.is_zero() && !allow_zero => {
            cx.err(v.span(), key, ErrorKind::Zero);
            default
        }
        Some(d) => d,
    }
}

fn size(cx: &mut Ctx<'_>, v: &Option<S<String>>, key: &str, default: u64) -> u64 {
    let Some(v) = v else { return default };
    match parse_size(v.get_ref()) {
        None => {
            cx.err(v.span(), key, ErrorKind::BadSize { value: v.get_ref().clone() });
            default
        }
        Some(0) => {
            cx.err(v.span(), key, ErrorKind::Zero);
            default
        }
        Some(n) => n,
    }
}

fn zone_refs(
    cx: &mut Ctx<'_>,
    by_name: &HashMap<String, ZoneRef>,
    v: &Option<S<ZoneList>>,
    key: &str,
    default: &[ZoneRef],
) -> Vec<ZoneRef> {
    let Some(v) = v else { return default.to_vec() };
    let mut out = Vec::new();
    for n in &v.get_ref().0 {
        match by_name.get(n) {
            Some(z) => out.push(*z),
            None => cx.err(v.span(), key, ErrorKind::UnknownZone { name: n.clone() }),
        }
    }
    out
}

fn detections(
    cx: &mut Ctx<'_>,
    d: RawDetections,
    by_name: &HashMap<String, ZoneRef>,
    gateway: Option<ZoneRef>,
) -> DetectionConfig {
    let mut out = DetectionConfig::default();
    if let Some(s) = d.segmentation {
        out.segmentation = SegmentationConfig { enabled: s.enabled.unwrap_or(true) };
    }
    if let Some(e) = d.exfiltration {
        let def = ExfiltrationConfig::default();
        let k = "detections.exfiltration";
        let baseline_factor = match &e.baseline_factor {
            Some(f) => {
                let v = *f.get_ref();
                if v.is_finite() && (1.0..=10_000.0).contains(&v) {
                    v
                } else {
                    cx.err(
                        f.span(),
                        format!("{k}.baseline_factor"),
                        ErrorKind::OutOfRange {
                            value: v.to_string(),
                            min: "1".into(),
                            max: "10000".into(),
                        },
                    );
                    def.baseline_factor
                }
            }
            None => def.baseline_factor,
        };
        out.exfiltration = ExfiltrationConfig {
            enabled: e.enabled.unwrap_or(true),
            threshold_bytes: size(cx, &e.threshold, &format!("{k}.threshold"), def.threshold_bytes),
            window: duration(cx, &e.window, &format!("{k}.window"), def.window, false),
            baseline_factor,
            min_baseline_bytes: size(
                cx,
                &e.min_baseline,
                &format!("{k}.min_baseline"),
                def.min_baseline_bytes,
            ),
        };
    }
    if let Some(l) = d.lateral_movement {
        let def = LateralMovementConfig::default();
        let k = "detections.lateral_movement";
        let fan_out = match &l.fan_out {
            Some(f) => match u32::try_from(*f.get_ref()).ok().filter(|n| (2..=100_000).contains(n))
            {
                Some(n) => n,
                None => {
                    cx.err(
                        f.span(),
                        format!("{k}.fan_out"),
                        ErrorKind::OutOfRange {
                            value: f.get_ref().to_string(),
                            min: "2".into(),
                            max: "100000".into(),
                        },
                    );
                    def.fan_out
                }
            },
            None => def.fan_out,
        };
        let protocols = match &l.protocols {
            Some(p) => apps(cx, p, &format!("{k}.protocols"), 0..0),
            None => def.protocols.clone(),
        };
        out.lateral_movement = LateralMovementConfig {
            enabled: l.enabled.unwrap_or(true),
            fan_out,
            window: duration(cx, &l.window, &format!("{k}.window"), def.window, false),
            protocols,
        };
    }
    let gw: Vec<ZoneRef> = gateway.into_iter().collect();
    out.remote_access =
        RemoteAccessConfig { enabled: true, allowed_from: gw.clone(), allowed_to: gw.clone() };
    if let Some(r) = d.remote_access {
        let k = "detections.remote_access";
        out.remote_access = RemoteAccessConfig {
            enabled: r.enabled.unwrap_or(true),
            allowed_from: zone_refs(
                cx,
                by_name,
                &r.allowed_from,
                &format!("{k}.allowed_from"),
                &gw,
            ),
            allowed_to: zone_refs(cx, by_name, &r.allowed_to, &format!("{k}.allowed_to"), &gw),
        };
    }
    if let Some(n) = d.new_activity {
        let def = NewActivityConfig::default();
        out.new_activity = NewActivityConfig {
            device: n.device.unwrap_or(def.device),
            talker: n.talker.unwrap_or(def.talker),
            protocol: n.protocol.unwrap_or(def.protocol),
            learning: duration(
                cx,
                &n.learning,
                "detections.new_activity.learning",
                def.learning,
                true,
            ),
        };
    }
    if d.silence.len() > MAX_SILENCE
        && let Some(first) = d.silence.first()
    {
        cx.err(
            first.span(),
            "detections.silence",
            ErrorKind::TooMany { what: "silence watches", limit: MAX_SILENCE },
        );
    }
    for (i, s) in d.silence.iter().take(MAX_SILENCE).enumerate() {
        let k = format!("detections.silence[{}]", i + 1);
        let span = s.span();
        let pos = cx.pos(&span);
        let s = s.get_ref();
        let named = [s.asset.is_some(), s.address.is_some(), s.zone.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        let window =
            duration(cx, &s.window, &format!("{k}.window"), Duration::from_secs(120), false);
        let protocols = apps(cx, &s.protocols, &format!("{k}.protocols"), span.clone());
        let name = s.name.as_ref().and_then(|n| cx.text(n, &format!("{k}.name")));
        if named == 0 {
            cx.err(span, k, ErrorKind::SilenceNamesNothing);
            continue;
        }
        if named > 1 {
            cx.err(span, k, ErrorKind::SilenceNamesSeveral);
            continue;
        }
        let target = if let Some(a) = &s.asset {
            let n = normalize_name(a.get_ref()).into_owned();
            if n.is_empty() || n.len() > 253 {
                cx.err(a.span(), format!("{k}.asset"), ErrorKind::TooLong { limit: 253 });
                continue;
            }
            SilenceTarget::Asset(n)
        } else if let Some(a) = &s.address {
            match a.get_ref().trim().parse::<IpAddr>() {
                Ok(ip) => SilenceTarget::Address(crate::net::canonical(ip)),
                Err(_) => {
                    cx.err(
                        a.span(),
                        format!("{k}.address"),
                        ErrorKind::BadCidr {
                            value: a.get_ref().clone(),
                            reason: crate::CidrProblem::NotAnAddress,
                        },
                    );
                    continue;
                }
            }
        } else if let Some(z) = &s.zone {
            match by_name.get(z.get_ref()) {
                Some(zr) if zr.is_builtin() => {
                    cx.err(
                        z.span(),
                        format!("{k}.zone"),
                        ErrorKind::SilenceBuiltinZone { name: z.get_ref().clone() },
                    );
                    continue;
                }
                Some(zr) => SilenceTarget::Zone(*zr),
                None => {
                    cx.err(
                        z.span(),
                        format!("{k}.zone"),
                        ErrorKind::UnknownZone { name: z.get_ref().clone() },
                    );
                    continue;
                }
            }
        } else {
            continue;
        };
        out.silence.push(SilenceWatch { name, target, window, protocols, pos });
    }
    if let Some(ind) = d.indicators {
        let mut files = Vec::new();
        if ind.files.len() > MAX_INDICATOR_FILES
            && let Some(first) = ind.files.first()
        {
            cx.err(
                first.span(),
                "detections.indicators.files",
                ErrorKind::TooMany { what: "indicator files", limit: MAX_INDICATOR_FILES },
            );
        }
        let dir = cx.file.parent().unwrap_or(Path::new(""));
        for (i, f) in ind.files.iter().take(MAX_INDICATOR_FILES).enumerate() {
            let written = f.get_ref().trim().to_owned();
            if written.is_empty() || written.len() > 4096 {
                cx.err(
                    f.span(),
                    format!("detections.indicators.files[{}]", i + 1),
                    ErrorKind::TooLong { limit: 4096 },
                );
                continue;
            }
            files.push(IndicatorFile { path: dir.join(&written), written, pos: cx.pos(&f.span()) });
        }
        out.indicators = IndicatorConfig { enabled: ind.enabled.unwrap_or(true), files };
    }
    if let Some(sev) = d.severity {
        for (kind, v) in sev {
            let key = format!("detections.severity.{kind}");
            let Ok(k) = kind.parse::<AlertKind>() else {
                cx.err(v.span(), key, ErrorKind::UnknownAlertKind { value: kind.clone() });
                continue;
            };
            match v.get_ref().parse::<AlertSeverity>() {
                Ok(s) => {
                    out.severity.insert(k, s);
                }
                Err(_) => {
                    cx.err(v.span(), key, ErrorKind::UnknownSeverity { value: v.get_ref().clone() })
                }
            }
        }
    }
    out
}
