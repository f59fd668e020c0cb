//! The policy file end to end: the sample's decisions, zone membership
//! precedence, flow evaluation, every error reported with its place, the
//! detection settings and their defaults, indicator files named by a policy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use sekimori_policy::{
    Action, AssetHints, DenyReason, FlowDecision, Policy, PolicyErrors, SilenceTarget, Transport,
    ZoneKind, ZoneRef,
};
use sekimori_proto::App;
use sekimori_types::{AlertKind, AlertSeverity, Lang};
use time::macros::datetime;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn parse(text: &str) -> Policy {
    Policy::parse(text, Path::new("p.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> PolicyErrors {
    match Policy::parse(text, Path::new("p.toml")) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn zone(p: &Policy, name: &str) -> ZoneRef {
    p.zone_by_name(name).unwrap_or_else(|| panic!("no zone {name}"))
}

fn none() -> AssetHints<'static> {
    AssetHints::default()
}

// ---------------------------------------------------------------- sample

#[test]
fn the_sample_policy_decides_as_its_comments_say() {
    let p = Policy::parse(Policy::sample_text(), Path::new("hospital-sample.toml")).unwrap();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    let at = |a: &str| p.zone_of(ip(a), &none());
    let (nurse, modality, pacs, office, ehr) =
        (at("10.20.0.5"), at("10.31.1.20"), at("10.30.0.10"), at("10.100.3.4"), at("10.40.0.2"));
    assert_eq!(p.zone(nurse).name, "nurse-call");
    assert_eq!(p.zone(modality).name, "modalities");
    let internet = p.zone_of(ip("203.0.113.50"), &none());
    assert_eq!(internet, ZoneRef::INTERNET);

    // The incident: a nurse-call server sending to the internet.
    let d = p.check_flow(nurse, internet, Some(App::Tls), Transport::Tcp, 443);
    assert!(!d.is_allowed());
    assert_eq!(
        d.describe(&p, Lang::En),
        format!(
            "denied by rule \"no-nurse-call-to-internet\" (line {})",
            p.rule(d.rule().unwrap()).line
        )
    );
    // Modality → PACS on DICOM: allowed; unidentified on 104: allowed by port.
    assert!(p.check_flow(modality, pacs, Some(App::Dicom), Transport::Tcp, 104).is_allowed());
    assert!(p.check_flow(modality, pacs, None, Transport::Tcp, 11112).is_allowed());
    // SMB from a modality to PACS: no rule, imaging is default deny.
    assert_eq!(
        p.check_flow(modality, pacs, Some(App::Smb), Transport::Tcp, 445),
        FlowDecision::Denied { reason: DenyReason::ZoneDefaultDeny(pacs) }
    );
    // Office → nurse-call: critical default deny.
    let d = p.check_flow(office, nurse, Some(App::Rdp), Transport::Tcp, 3389);
    assert_eq!(d, FlowDecision::Denied { reason: DenyReason::CriticalDefaultDeny(nurse) });
    assert!(d.describe(&p, Lang::Ja).contains("重要ゾーン"));
    // HL7 from the EHR to nurse-call: allowed.
    assert!(p.check_flow(ehr, nurse, Some(App::Hl7), Transport::Tcp, 2575).is_allowed());
    // Office → EHR over HTTPS: allowed; office → internet: allowed by default.
    assert!(p.check_flow(office, ehr, Some(App::Tls), Transport::Tcp, 443).is_allowed());
    assert_eq!(
        p.check_flow(office, internet, Some(App::Tls), Transport::Tcp, 443),
        FlowDecision::Allowed { rule: None }
    );
    // The vendor path: internet → gateway :443 → a device's SSH.
    let gw = p.gateway_zone().unwrap();
    assert_eq!(p.zone(gw).name, "maintenance-gateway");
    assert_eq!(p.zone(gw).kind, ZoneKind::Gateway);
    assert!(p.check_flow(internet, gw, None, Transport::Tcp, 443).is_allowed());
    assert!(!p.check_flow(internet, gw, None, Transport::Tcp, 22).is_allowed());
    let pump = at("10.50.3.3");
    assert!(p.check_flow(gw, pump, Some(App::Ssh), Transport::Tcp, 22).is_allowed());
    assert!(!p.check_flow(internet, pump, Some(App::Ssh), Transport::Tcp, 22).is_allowed());
    // A nurse-call server known by name, wherever its address is inside.
    let names = vec!["NurseCall-Srv-02.".to_owned()];
    let hints = AssetHints { names: &names, ..AssetHints::default() };
    assert_eq!(p.zone_of(ip("10.100.9.9"), &hints), nurse);
    // Detections.
    let d = p.detections();
    assert_eq!(d.exfiltration.threshold_bytes, 50_000_000);
    assert_eq!(d.exfiltration.window, Duration::from_secs(300));
    assert_eq!(d.new_activity.learning, Duration::from_secs(7 * 86_400));
    assert_eq!(d.silence.len(), 3);
    assert_eq!(d.silence[0].target, SilenceTarget::Asset("nursecall-srv-01".into()));
    assert_eq!(d.silence[0].protocols, vec![App::Hl7]);
    assert!(d.remote_access.is_expected(gw, pump));
    assert!(!d.remote_access.is_expected(office, internet));
    assert_eq!(d.severity(AlertKind::Silence, AlertSeverity::High), AlertSeverity::Critical);
    assert_eq!(d.severity(AlertKind::NewDevice, AlertSeverity::Low), AlertSeverity::Low);
}

// ---------------------------------------------------------------- zones

const ZONES: &str = r#"
[hospital]
ranges = ["10.0.0.0/8", "2001:db8::/32"]

[[zone]]
name = "wide"
ranges = ["10.1.0.0/16"]

[[zone]]
name = "narrow"
ranges = ["10.1.2.0/24", "2001:db8:1::/48"]

[[zone]]
name = "host"
ranges = ["10.1.2.3"]

[[zone]]
name = "by-name"
assets = ["pacs-01.hospital.local"]

[[zone]]
name = "by-tag"
tags = ["Lab"]

[[zone]]
name = "by-role"
roles = ["pacs-or-modality"]

[[zone]]
name = "cloud"
description = "a vendor's cloud PACS"
ranges = ["198.51.100.0/28"]
"#;

#[test]
fn membership_precedence_name_tag_role_range() {
    let p = parse(ZONES);
    let names = vec!["other".to_owned(), "PACS-01.hospital.local.".to_owned()];
    let tags = vec!["lab".to_owned()];
    let all = AssetHints { names: &names, role: Some("pacs-or-modality"), tags: &tags };
    let a = ip("10.1.2.3");
    assert_eq!(p.zone_of(a, &all), zone(&p, "by-name"));
    assert_eq!(p.zone_of(a, &AssetHints { names: &[], ..all }), zone(&p, "by-tag"));
    assert_eq!(p.zone_of(a, &AssetHints { names: &[], tags: &[], ..all }), zone(&p, "by-role"));
    assert_eq!(p.zone_of(a, &none()), zone(&p, "host"));
    assert_eq!(p.zone_of(ip("10.1.2.4"), &none()), zone(&p, "narrow"));
    assert_eq!(p.zone_of(ip("10.1.3.4"), &none()), zone(&p, "wide"));
    assert_eq!(p.zone_of(ip("10.9.9.9"), &none()), ZoneRef::INTERNAL);
    assert_eq!(p.zone_of(ip("::ffff:10.1.2.3"), &none()), zone(&p, "host"));
    assert_eq!(p.zone_of(ip("2001:db8:1::5"), &none()), zone(&p, "narrow"));
    assert_eq!(p.zone_of(ip("2001:db8:2::5"), &none()), ZoneRef::INTERNAL);
    assert_eq!(p.zone_of(ip("8.8.8.8"), &none()), ZoneRef::INTERNET);
    // Names do not pull an outside address into a zone; zone ranges outside
    // the hospital do count.
    assert_eq!(p.zone_of(ip("8.8.8.8"), &all), ZoneRef::INTERNET);
    assert_eq!(p.zone_of(ip("198.51.100.3"), &all), zone(&p, "cloud"));
    assert!(!p.is_internal(ip("198.51.100.3")));
    assert!(p.is_internal(ip("10.200.0.1")));
    assert_eq!(p.zone(ZoneRef::INTERNET).name, "internet");
    assert_eq!(p.zone(ZoneRef::INTERNAL).name, "internal");
    assert_eq!(p.zone(zone(&p, "cloud")).description_in(Lang::Ja), Some("a vendor's cloud PACS"));
}

// ---------------------------------------------------------------- flows

const FLOWS: &str = r#"
[hospital]
ranges = ["10.0.0.0/8"]

[[zone]]
name = "a"
ranges = ["10.1.0.0/16"]

[[zone]]
name = "b"
ranges = ["10.2.0.0/16"]

[[zone]]
name = "crit"
critical = true
internal = "deny"
ranges = ["10.3.0.0/16"]

[[zone]]
name = "closed"
default = "deny"
ranges = ["10.4.0.0/16"]

[[rule]]
name = "first"
from = "a"
to = "b"
protocols = ["ssh"]
action = "deny"

[[rule]]
from = "a"
to = "b"
protocols = ["ssh", "dicom"]
ports = [22, "104/tcp", "5000-5010/udp"]

[[rule]]
name = "into-crit"
from = "any"
to = "crit"
ports = ["2575/tcp"]

[[rule]]
name = "crit-internal-ntp"
from = "crit"
to = "crit"
ports = ["123/udp"]

[[rule]]
name = "anything-to-closed-from-b"
from = "b"
to = "closed"
"#;

#[test]
fn first_matching_rule_decides_then_zone_defaults() {
    let p = parse(FLOWS);
    let (a, b, crit, closed) = (zone(&p, "a"), zone(&p, "b"), zone(&p, "crit"), zone(&p, "closed"));
    let r = |i: usize| p.rules().nth(i).unwrap().0;
    // File order: the deny rule for SSH comes first.
    assert_eq!(
        p.check_flow(a, b, Some(App::Ssh), Transport::Tcp, 22),
        FlowDecision::Denied { reason: DenyReason::Rule(r(0)) }
    );
    // Protocols or ports: DICOM anywhere, anything on 104/tcp or 5000-5010/udp.
    assert_eq!(
        p.check_flow(a, b, Some(App::Dicom), Transport::Tcp, 4242),
        FlowDecision::Allowed { rule: Some(r(1)) }
    );
    assert_eq!(
        p.check_flow(a, b, Some(App::Http), Transport::Tcp, 104),
        FlowDecision::Allowed { rule: Some(r(1)) }
    );
    assert!(p.check_flow(a, b, None, Transport::Udp, 5005).is_allowed());
    // 104 is TCP only; 22 without transport is TCP or UDP.
    assert_eq!(
        p.check_flow(a, b, None, Transport::Udp, 104),
        FlowDecision::Allowed { rule: None },
        "no rule: a and b are default allow"
    );
    assert_eq!(
        p.check_flow(a, b, None, Transport::Udp, 22),
        FlowDecision::Allowed { rule: Some(r(1)) }
    );
    assert_eq!(p.check_flow(a, b, None, Transport::Other, 0), FlowDecision::Allowed { rule: None });
    // The rule's from/to are directional.
    assert_eq!(
        p.check_flow(b, a, Some(App::Ssh), Transport::Tcp, 22),
        FlowDecision::Allowed { rule: None }
    );
    // Critical zone: in only by rule (from any, the internet included).
    assert_eq!(
        p.check_flow(a, crit, None, Transport::Tcp, 2575),
        FlowDecision::Allowed { rule: Some(r(2)) }
    );
    assert_eq!(
        p.check_flow(ZoneRef::INTERNET, crit, Some(App::Hl7), Transport::Tcp, 2575),
        FlowDecision::Allowed { rule: Some(r(2)) }
    );
    assert_eq!(
        p.check_flow(a, crit, Some(App::Hl7), Transport::Tcp, 2576),
        FlowDecision::Denied { reason: DenyReason::CriticalDefaultDeny(crit) }
    );
    // ... out only by rule.
    assert_eq!(
        p.check_flow(crit, a, None, Transport::Tcp, 80),
        FlowDecision::Denied { reason: DenyReason::CriticalDefaultDeny(crit) }
    );
    // Entering a critical zone from a default-deny zone names the critical one.
    assert_eq!(
        p.check_flow(closed, crit, None, Transport::Tcp, 80),
        FlowDecision::Denied { reason: DenyReason::CriticalDefaultDeny(crit) }
    );
    // Inside the critical zone: internal = "deny", except the NTP rule.
    assert_eq!(
        p.check_flow(crit, crit, None, Transport::Tcp, 445),
        FlowDecision::Denied { reason: DenyReason::InternalDeny(crit) }
    );
    assert!(p.check_flow(crit, crit, None, Transport::Udp, 123).is_allowed());
    // Inside an ordinary zone: allowed.
    assert_eq!(
        p.check_flow(a, a, Some(App::Smb), Transport::Tcp, 445),
        FlowDecision::Allowed { rule: None }
    );
    // default = "deny": both directions, unless a rule allows.
    assert_eq!(
        p.check_flow(a, closed, None, Transport::Tcp, 80),
        FlowDecision::Denied { reason: DenyReason::ZoneDefaultDeny(closed) }
    );
    assert_eq!(
        p.check_flow(closed, a, None, Transport::Tcp, 80),
        FlowDecision::Denied { reason: DenyReason::ZoneDefaultDeny(closed) }
    );
    assert!(p.check_flow(b, closed, Some(App::Smb), Transport::Tcp, 445).is_allowed());
    // Built-ins are default allow.
    assert!(
        p.check_flow(ZoneRef::INTERNAL, ZoneRef::INTERNET, None, Transport::Tcp, 80).is_allowed()
    );
}

#[test]
fn decisions_describe_themselves_in_both_languages() {
    let p = parse(FLOWS);
    let (a, b, crit) = (zone(&p, "a"), zone(&p, "b"), zone(&p, "crit"));
    let d = p.check_flow(a, b, Some(App::Ssh), Transport::Tcp, 22);
    assert_eq!(d.describe(&p, Lang::En), "denied by rule \"first\" (line 24)");
    assert_eq!(d.describe(&p, Lang::Ja), "ルール「first」（24 行目）により拒否");
    let d = p.check_flow(a, b, Some(App::Dicom), Transport::Tcp, 104);
    assert_eq!(d.describe(&p, Lang::En), "allowed by the rule on line 31");
    assert_eq!(d.describe(&p, Lang::Ja), "31 行目のルールにより許可");
    let d = p.check_flow(crit, crit, None, Transport::Tcp, 445);
    assert!(d.describe(&p, Lang::En).contains("inside zone \"crit\""));
}

#[test]
fn protocol_names_and_aliases() {
    let p = parse(
        "[hospital]\nranges=[\"10.0.0.0/8\"]\n[[zone]]\nname=\"x\"\nranges=[\"10.1.0.0/16\"]\n\
         [[rule]]\nfrom=\"x\"\nto=\"internet\"\nprotocols=[\"https\", \"MLLP\", \"netbios-dgm\"]\n",
    );
    let rule = p.rules().next().unwrap().1;
    assert_eq!(rule.protocols, vec![App::Tls, App::Hl7, App::NetbiosDgm]);
    assert_eq!(rule.action, Action::Allow);
}

// ---------------------------------------------------------------- errors

#[test]
fn every_semantic_problem_is_reported_with_line_and_key() {
    let text = r#"[hospital]
ranges = ["10.0.0.0/8", "10.0.0.1/8"]

[[zone]]
name = "office"
ranges = ["10.1.0.0/16"]

[[zone]]
name = "office"
ranges = ["10.1.0.0/16"]

[[zone]]
name = "internet"

[[zone]]
name = "Bad_Name"
critical = true
default = "allow"
ranges = ["10.300.0.0/16"]
roles = ["pacs"]

[[rule]]
from = "office"
to = "icu"
protocols = ["dicom", "telnet"]
ports = ["104/sctp", 0, "10-5", 70000]

[detections.exfiltration]
threshold = "50 MiBs"
window = "0s"
baseline_factor = 0.5

[detections.lateral_movement]
fan_out = 1
window = "1 fortnight"

[[detections.silence]]
window = "2m"

[[detections.silence]]
asset = "nc-1"
zone = "office"

[[detections.silence]]
zone = "internet"

[detections.severity]
exfiltration = "severe"
made_up = "high"
"#;
    let e = errors(text);
    let got: Vec<(u32, String, &str)> =
        e.iter().map(|e| (e.line, e.key.clone(), e.code())).collect();
    let want: Vec<(u32, &str, &str)> = vec![
        (2, "hospital.ranges[2]", "bad_cidr"),
        (9, "zone[2].name", "duplicate_zone"),
        (10, "zone[2].ranges[1]", "range_in_two_zones"),
        (13, "zone[3].name", "reserved_zone_name"),
        (16, "zone[4].name", "bad_zone_name"),
        (18, "zone[4].default", "critical_default_allow"),
        (19, "zone[4].ranges[1]", "bad_cidr"),
        (20, "zone[4].roles[1]", "unknown_role"),
        (24, "rule[1].to", "unknown_zone"),
        (25, "rule[1].protocols[2]", "unknown_protocol"),
        (26, "rule[1].ports[1]", "bad_port"),
        (26, "rule[1].ports[2]", "bad_port"),
        (26, "rule[1].ports[3]", "bad_port"),
        (26, "rule[1].ports[4]", "bad_port"),
        (29, "detections.exfiltration.threshold", "bad_size"),
        (30, "detections.exfiltration.window", "zero"),
        (31, "detections.exfiltration.baseline_factor", "out_of_range"),
        (34, "detections.lateral_movement.fan_out", "out_of_range"),
        (35, "detections.lateral_movement.window", "bad_duration"),
        (37, "detections.silence[1]", "silence_names_nothing"),
        (40, "detections.silence[2]", "silence_names_several"),
        (45, "detections.silence[3].zone", "silence_builtin_zone"),
        (48, "detections.severity.exfiltration", "unknown_severity"),
        (49, "detections.severity.made_up", "unknown_alert_kind"),
    ];
    let got_ref: Vec<(u32, &str, &str)> =
        got.iter().map(|(l, k, c)| (*l, k.as_str(), *c)).collect();
    assert_eq!(got_ref, want, "{e}");
    // Columns point at the value; messages read in both languages.
    let first = &e.0[0];
    assert_eq!((first.line, first.column), (2, 25));
    assert_eq!(
        first.line_in(Lang::En),
        "p.toml:2:25: hospital.ranges[2]: \"10.0.0.1/8\" is not an address or CIDR range (bits set after the prefix length)"
    );
    assert!(
        first.line_in(Lang::Ja).contains("プレフィックス長より後ろのビット"),
        "{}",
        first.line_in(Lang::Ja)
    );
    let dup = e.iter().find(|e| e.code() == "duplicate_zone").unwrap();
    assert_eq!(
        dup.line_in(Lang::En),
        "p.toml:9:8: zone[2].name: zone \"office\" is already defined on line 5"
    );
    assert_eq!(
        dup.line_in(Lang::Ja),
        "p.toml:9:8: zone[2].name: ゾーン「office」は 5 行目で定義済みです"
    );
}

#[test]
fn syntax_and_unknown_keys_name_line_column_and_key() {
    let e =
        errors("[hospital]\nranges = [\"10.0.0.0/8\"]\n\n[[zone]]\nname = \"x\"\ncritcal = true\n");
    assert_eq!(e.len(), 1);
    let e = &e.0[0];
    assert_eq!((e.line, e.column, e.key.as_str(), e.code()), (6, 1, "critcal", "syntax"));
    assert!(e.to_string().contains("unknown field `critcal`"), "{e}");
    assert!(e.line_in(Lang::Ja).contains("TOML の書式の誤り"));

    let e = errors("[hospital]\nranges = [\"10.0.0.0/8\"\n");
    assert_eq!(e.0[0].code(), "syntax");
    assert!(e.0[0].line >= 2, "{e}");

    let e = errors(
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n[[zone]]\nname = \"x\"\ncritical = \"yes\"\n",
    );
    assert_eq!((e.0[0].line, e.0[0].key.as_str()), (5, "critical"));

    let e = errors("[[zone]]\nname = \"x\"\nranges = [\"10.0.0.0/8\"]\n");
    assert_eq!(e.0[0].code(), "missing_hospital");
    let e = errors("[hospital]\nranges = []\n");
    assert_eq!(e.0[0].code(), "no_ranges");
}

#[test]
fn two_gateways_and_claims_in_two_zones_are_errors() {
    let e = errors(
        r#"[hospital]
ranges = ["10.0.0.0/8"]
[[zone]]
name = "gw"
kind = "gateway"
assets = ["a"]
tags = ["t"]
roles = ["vpn-gateway"]
[[zone]]
name = "gw2"
kind = "gateway"
assets = ["A."]
tags = ["T"]
roles = ["vpn-gateway"]
"#,
    );
    let codes: Vec<&str> = e.iter().map(|e| e.code()).collect();
    assert_eq!(codes, ["two_gateways", "claimed_twice", "claimed_twice", "claimed_twice"], "{e}");
    assert!(e.0[1].to_string().contains("asset \"a\" is also listed in zone \"gw\""), "{e}");
}

#[test]
fn a_zone_that_matches_nothing_is_a_warning() {
    let p = parse("[hospital]\nranges = [\"10.0.0.0/8\"]\n[[zone]]\nname = \"empty\"\n");
    assert_eq!(p.warnings().len(), 1);
    assert_eq!(p.warnings()[0].code(), "empty_zone");
    assert_eq!(p.warnings()[0].line, 4);
}

#[test]
fn size_caps() {
    let big = format!("[hospital]\nranges = [\"10.0.0.0/8\"]\n#{}\n", "x".repeat(1 << 20));
    assert_eq!(errors(&big).0[0].code(), "too_large");
    let mut many = String::from("[hospital]\nranges = [\"10.0.0.0/8\"]\n");
    for i in 0..300 {
        many.push_str(&format!(
            "[[zone]]\nname = \"z{i}\"\nranges = [\"10.{}.{}.0/24\"]\n",
            i / 256,
            i % 256
        ));
    }
    let e = errors(&many);
    assert_eq!(e.0[0].code(), "too_many", "{e}");
}

// ---------------------------------------------------------------- detections

#[test]
fn detection_defaults_when_absent() {
    let p = parse(
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n[[zone]]\nname = \"gw\"\nkind = \"gateway\"\nranges = [\"10.9.0.0/24\"]\n",
    );
    let d = p.detections();
    assert!(d.segmentation.enabled);
    assert!(d.exfiltration.enabled);
    assert_eq!(d.exfiltration.threshold_bytes, 50_000_000);
    assert_eq!(d.exfiltration.min_baseline_bytes, 1_000_000);
    assert_eq!(d.exfiltration.baseline_factor, 10.0);
    assert_eq!(d.lateral_movement.fan_out, 10);
    assert_eq!(d.lateral_movement.window, Duration::from_secs(60));
    assert_eq!(d.lateral_movement.protocols, vec![App::Smb, App::Rdp, App::Ssh]);
    let gw = zone(&p, "gw");
    assert_eq!(d.remote_access.allowed_from, vec![gw]);
    assert_eq!(d.remote_access.allowed_to, vec![gw]);
    assert!(d.new_activity.device && d.new_activity.talker && d.new_activity.protocol);
    assert_eq!(d.new_activity.learning, Duration::from_secs(86_400));
    assert!(d.silence.is_empty());
    assert!(d.indicators.enabled && d.indicators.files.is_empty());
    assert!(d.severity.is_empty());
}

#[test]
fn detection_settings_are_read() {
    let p = parse(
        r#"[hospital]
ranges = ["10.0.0.0/8"]
[[zone]]
name = "nc"
critical = true
ranges = ["10.2.0.0/24"]
[detections.segmentation]
enabled = false
[detections.exfiltration]
threshold = "2 GiB"
window = "1h"
baseline_factor = 4
min_baseline = "512 KiB"
[detections.lateral_movement]
enabled = false
fan_out = 25
protocols = ["smb"]
[detections.remote_access]
allowed_from = "nc"
allowed_to = ["nc", "internal"]
[detections.new_activity]
device = false
learning = "0s"
[[detections.silence]]
address = "10.2.0.10"
[[detections.silence]]
zone = "nc"
window = "30s"
protocols = ["hl7", "http"]
"#,
    );
    let d = p.detections();
    let nc = zone(&p, "nc");
    assert!(!d.segmentation.enabled);
    assert_eq!(d.exfiltration.threshold_bytes, 2 << 30);
    assert_eq!(d.exfiltration.window, Duration::from_secs(3600));
    assert_eq!(d.exfiltration.baseline_factor, 4.0);
    assert_eq!(d.exfiltration.min_baseline_bytes, 512 << 10);
    assert!(!d.lateral_movement.enabled);
    assert_eq!(d.lateral_movement.fan_out, 25);
    assert_eq!(d.lateral_movement.protocols, vec![App::Smb]);
    assert_eq!(d.remote_access.allowed_from, vec![nc]);
    assert_eq!(d.remote_access.allowed_to, vec![nc, ZoneRef::INTERNAL]);
    assert!(!d.new_activity.device && d.new_activity.talker);
    assert_eq!(d.new_activity.learning, Duration::ZERO);
    assert_eq!(d.silence[0].target, SilenceTarget::Address(ip("10.2.0.10")));
    assert_eq!(d.silence[0].window, Duration::from_secs(120));
    assert!(d.silence[0].protocols.is_empty());
    assert_eq!(d.silence[1].target, SilenceTarget::Zone(nc));
    assert_eq!(d.silence[1].window, Duration::from_secs(30));
    assert_eq!(d.silence[1].pos.line, 26);
}

// ---------------------------------------------------------------- indicators

#[test]
fn load_reads_indicator_files_next_to_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("iocs.txt"), "198.51.100.7\nevil.example\nnot valid!\n")
        .unwrap();
    std::fs::write(
        dir.path().join("bundle.json"),
        r#"{"type":"bundle","id":"bundle--1","objects":[
            {"type":"indicator","id":"indicator--1","name":"C2 node","pattern_type":"stix",
             "pattern":"[ipv4-addr:value = '203.0.113.0/24']","valid_until":"2030-01-01T00:00:00Z"}]}"#,
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n[detections.indicators]\nfiles = [\"iocs.txt\", \"bundle.json\"]\n",
    )
    .unwrap();
    let p = Policy::load_at(&policy, datetime!(2026-11-20 00:00 UTC)).unwrap();
    let ind = p.indicators();
    assert_eq!((ind.ip_count(), ind.name_count()), (2, 1));
    assert_eq!(ind.match_ip(ip("198.51.100.7")).unwrap().line, 1);
    let s = ind.match_ip(ip("203.0.113.9")).unwrap();
    assert_eq!((s.stix_id.as_deref(), s.name.as_deref()), (Some("indicator--1"), Some("C2 node")));
    assert!(ind.match_name("cdn.EVIL.example").is_some());
    // The bad line is a warning naming its file and line.
    assert_eq!(p.warnings().len(), 1);
    assert!(p.warnings()[0].to_string().contains("iocs.txt:3:1"), "{}", p.warnings()[0]);
    // After its valid_until, the STIX indicator is gone.
    let later = Policy::load_at(&policy, datetime!(2031-01-01 00:00 UTC)).unwrap();
    assert!(later.indicators().match_ip(ip("203.0.113.9")).is_none());
    // parse() reads no indicator file.
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(Policy::parse(&text, &policy).unwrap().indicators().is_empty());
}

#[test]
fn a_missing_indicator_file_is_reported_where_the_policy_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n[detections.indicators]\nfiles = [\n  \"missing.txt\",\n]\n",
    )
    .unwrap();
    let e = Policy::load(&policy).unwrap_err();
    assert_eq!(e.len(), 1);
    let e = &e.0[0];
    assert_eq!((e.line, e.column, e.code()), (5, 3, "io"));
    assert_eq!(e.file, policy);
    assert!(e.key.contains("missing.txt"));
}

#[test]
fn load_refuses_a_file_over_the_cap_before_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("big.toml");
    std::fs::write(&policy, vec![b'#'; (1 << 20) + 1]).unwrap();
    let e = Policy::load(&policy).unwrap_err();
    assert_eq!(e.0[0].code(), "too_large");
    let e = Policy::load(&dir.path().join("absent.toml")).unwrap_err();
    assert_eq!(e.0[0].code(), "io");
}

#[test]
fn any_with_an_unknown_zone_is_still_an_error() {
    let e = errors(
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n[[rule]]\nfrom = [\"any\", \"icu\"]\nto = \"internet\"\n",
    );
    assert_eq!(
        (e.0[0].line, e.0[0].key.as_str(), e.0[0].code()),
        (4, "rule[1].from", "unknown_zone")
    );
}
