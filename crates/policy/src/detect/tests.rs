#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use sekimori_proto::App;
use sekimori_types::{AlertDraft, AlertKind, AlertSeverity};
use time::OffsetDateTime;
use time::macros::datetime;

use super::{Engine, FlowEvent, Limits};
use crate::{AssetHints, Policy, Transport};

const T0: OffsetDateTime = datetime!(2026-02-14 01:00 UTC);

fn at(s: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(s)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn names(v: &[&str]) -> &'static [String] {
    Box::leak(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>().into_boxed_slice())
}

/// A TCP flow update with a packet each way and 100 bytes each way.
fn ev(flow: u64, src: &str, dst: &str, dport: u16, t: i64) -> FlowEvent<'static> {
    FlowEvent {
        flow,
        src: ip(src),
        dst: ip(dst),
        sport: 40_000 + (flow % 20_000) as u16,
        dport,
        transport: Transport::Tcp,
        app: None,
        bytes_out: 100,
        bytes_in: 100,
        packets_out: 1,
        packets_in: 1,
        first: at(t),
        at: at(t),
        ended: false,
        src_hints: AssetHints::default(),
        dst_hints: AssetHints::default(),
        server_names: &[],
    }
}

fn policy(text: &str) -> Arc<Policy> {
    Arc::new(Policy::parse(text, Path::new("test.toml")).unwrap())
}

fn engine(text: &str) -> Engine {
    Engine::new(policy(text), T0)
}

/// A small hospital; `extra` adds rules and detection settings.
fn hospital(extra: &str) -> String {
    format!(
        r#"
[hospital]
ranges = ["10.0.0.0/8"]

[[zone]]
name = "nurse-call"
critical = true
ranges = ["10.20.0.0/24"]
assets = ["nc-1"]

[[zone]]
name = "office"
ranges = ["10.100.0.0/16"]

[[zone]]
name = "gw"
kind = "gateway"
ranges = ["10.250.0.0/28"]

{extra}
"#
    )
}

/// Every draft has both texts, the Japanese one in Japanese.
fn check_texts(drafts: &[AlertDraft]) {
    for d in drafts {
        assert!(!d.summary.is_empty(), "{d:?}");
        assert!(!d.summary_ja.is_ascii(), "no Japanese: {}", d.summary_ja);
        assert_ne!(d.summary, d.summary_ja);
        assert!(d.dedup_key.starts_with(d.kind.as_str()), "{}", d.dedup_key);
        assert!(d.count >= 1);
        assert!(d.first <= d.last);
    }
}

fn of(drafts: &[AlertDraft], kind: AlertKind) -> Vec<&AlertDraft> {
    drafts.iter().filter(|d| d.kind == kind).collect()
}

#[test]
fn engine_is_send() {
    fn check<T: Send>() {}
    check::<Engine>();
}

#[test]
fn segmentation_violation_once_per_flow_and_again_when_the_app_changes_the_decision() {
    let mut e = engine(&hospital(
        r#"
[[rule]]
from = "office"
to = "internet"
protocols = ["ssh"]
action = "deny"
"#,
    ));
    // Office to the internet on 22, not yet identified: allowed by default.
    let mut a = ev(1, "10.100.0.5", "198.51.100.7", 22, 0);
    e.flow(&a);
    assert!(e.take().is_empty());
    // Identified as SSH in a later event: now denied by the rule.
    a.at = at(1);
    a.app = Some(App::Ssh);
    e.flow(&a);
    a.at = at(2);
    e.flow(&a);
    let d = e.take();
    check_texts(&d);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].kind, AlertKind::SegmentationViolation);
    assert_eq!(d[0].severity, AlertSeverity::Medium);
    assert_eq!(d[0].dedup_key, "segmentation_violation|10.100.0.5|internet|ssh");
    assert!(d[0].evidence.details["rule"].contains("line"), "{:?}", d[0].evidence.details);
    assert!(d[0].summary.contains("\"office\"") && d[0].summary.contains("ssh"));

    // Into the critical zone: denied at once, high.
    e.flow(&ev(2, "10.100.0.5", "10.20.0.9", 8080, 3));
    let d = e.take();
    check_texts(&d);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, AlertSeverity::High);
    assert_eq!(d[0].dedup_key, "segmentation_violation|10.100.0.5|nurse-call|8080/tcp");
    assert!(d[0].summary_ja.contains("ナースコール") || d[0].summary_ja.contains("nurse-call"));

    // Inside one zone: allowed, nothing.
    e.flow(&ev(3, "10.100.0.5", "10.100.0.6", 445, 4));
    assert!(e.take().is_empty());
}

#[test]
fn ten_thousand_repeated_violations_are_one_draft() {
    let mut e = engine(&hospital(""));
    for i in 0..10_000u64 {
        let mut f = ev(i, "10.100.0.5", "10.20.0.9", 2575, (i / 100) as i64);
        f.ended = true;
        e.flow(&f);
    }
    let d = e.take();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].count, 10_000);
    assert_eq!(d[0].evidence.flows.len(), sekimori_types::MAX_EVIDENCE_FLOWS);
    assert_eq!(d[0].first, at(0));
    assert_eq!(d[0].last, at(99));
    assert_eq!(e.stats().raised[&AlertKind::SegmentationViolation], 10_000);
    assert_eq!(e.stats().sizes.flows, 0, "ended flows are forgotten");
    assert!(e.take().is_empty());
}

const EXFIL: &str = r#"
[detections.exfiltration]
threshold = "1 MB"
window = "60s"
"#;

fn bytes_out(flow: u64, src: &str, dst: &str, t: i64, n: u64) -> FlowEvent<'static> {
    let mut f = ev(flow, src, dst, 443, t);
    f.bytes_out = n;
    f.first = at(0);
    f
}

#[test]
fn exfiltration_at_the_threshold_crossing_once_per_crossing() {
    let mut e = engine(&hospital(EXFIL));
    // Exactly the threshold in the window: nothing.
    for t in 0..10 {
        e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", t, 100_000));
    }
    assert!(e.take().is_empty());
    // One byte more: one draft with the window's bytes.
    e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", 10, 1));
    let d = e.take();
    check_texts(&d);
    assert_eq!(d.len(), 1, "{d:#?}");
    let x = &d[0];
    assert_eq!(x.kind, AlertKind::Exfiltration);
    assert_eq!(x.severity, AlertSeverity::High);
    assert_eq!(x.dedup_key, "exfiltration|10.100.0.5");
    assert_eq!(x.evidence.bytes, Some(1_000_001));
    assert_eq!(x.evidence.details["threshold_bytes"], "1000000");
    assert_eq!(x.evidence.details["window_seconds"], "60");
    assert_eq!(x.evidence.details["basis"], "threshold");
    assert!(x.evidence.details["top_destinations"].starts_with("203.0.113.9"));
    assert!(x.summary.contains("1 MB") && x.summary.contains("1 minute"), "{}", x.summary);
    assert_eq!(x.evidence.flows.len(), 1);
    // Still above: no repeat.
    e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", 20, 500_000));
    assert!(e.take().is_empty());
    // The window slides past it: small amounts stay quiet…
    e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", 100, 1000));
    assert!(e.take().is_empty());
    // …until it is crossed again.
    e.flow(&bytes_out(2, "10.100.0.5", "198.51.100.3", 101, 1_000_000));
    let d = e.take();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].evidence.bytes, Some(1_001_000));

    // Internal to internal: not counted.
    e.flow(&bytes_out(3, "10.100.0.6", "10.100.0.7", 200, 5_000_000));
    assert!(e.take().is_empty());
    // An internet client fetching from an internal server: its bytes_in leave.
    let mut f = ev(4, "198.51.100.9", "10.20.0.5", 443, 300);
    f.bytes_in = 2_000_000;
    e.flow(&f);
    let d = e.take();
    let x = of(&d, AlertKind::Exfiltration);
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].dedup_key, "exfiltration|10.20.0.5");
    assert_eq!(x[0].severity, AlertSeverity::Critical, "nurse-call is critical");
}

#[test]
fn exfiltration_far_above_the_baseline() {
    let mut e = engine(&hospital(
        r#"
[detections.exfiltration]
threshold = "10 GB"
window = "60s"
baseline_factor = 10.0
min_baseline = "1 KB"
"#,
    ));
    // 10 kB a minute for five minutes: its baseline.
    for w in 0..5 {
        e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", w * 60, 10_000));
    }
    // A new host's first big window has no baseline to compare with.
    e.flow(&bytes_out(2, "10.100.0.8", "203.0.113.9", 245, 200_000));
    // 60 kB in the window: six times, under ten.
    e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", 250, 50_000));
    assert!(e.take().is_empty());
    // 110 kB: eleven times the baseline.
    e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", 255, 50_000));
    let d = e.take();
    check_texts(&d);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].evidence.details["basis"], "baseline");
    assert_eq!(d[0].evidence.bytes, Some(110_000));
    assert_eq!(d[0].evidence.details["baseline_bytes"], "10000");
    assert!(d[0].summary.contains("times its usual"), "{}", d[0].summary);
    // Above it, no repeat.
    e.flow(&bytes_out(1, "10.100.0.5", "203.0.113.9", 256, 50_000));
    assert!(e.take().is_empty());
}

#[test]
fn unmanaged_remote_access() {
    let p = policy(Policy::sample_text());
    let mut e = Engine::new(p, T0);
    // An internal box speaking IKE to the internet: an unregistered VPN.
    let mut f = ev(1, "10.100.0.7", "198.51.100.1", 500, 0);
    f.transport = Transport::Udp;
    f.app = Some(App::Ike);
    e.flow(&f);
    f.at = at(1);
    e.flow(&f);
    let d = e.take();
    check_texts(&d);
    let r = of(&d, AlertKind::UnmanagedRemoteAccess);
    assert_eq!(r.len(), 1, "{d:#?}");
    assert_eq!(r[0].severity, AlertSeverity::Critical);
    assert_eq!(r[0].dedup_key, "unmanaged_remote_access|10.100.0.7|ike");
    assert_eq!(r[0].count, 1, "one per flow");
    assert_eq!(r[0].evidence.details["identified_by"], "payload");

    // Through the gateway: expected.
    let mut f = ev(2, "10.250.0.2", "10.50.0.3", 3389, 2);
    f.app = Some(App::Rdp);
    e.flow(&f);
    assert!(of(&e.take(), AlertKind::UnmanagedRemoteAccess).is_empty());

    // Desk to desk RDP: high, keyed by the server.
    let mut f = ev(3, "10.100.0.8", "10.100.0.9", 3389, 3);
    f.app = Some(App::Rdp);
    e.flow(&f);
    let d = e.take();
    let r = of(&d, AlertKind::UnmanagedRemoteAccess);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].severity, AlertSeverity::High);
    assert_eq!(r[0].dedup_key, "unmanaged_remote_access|10.100.0.9|rdp");

    // TeamViewer's port, never identified: only once it is a settled session.
    let mut f = ev(4, "10.100.0.10", "203.0.113.20", 5938, 10);
    e.flow(&f);
    f.at = at(12);
    e.flow(&f);
    assert!(of(&e.take(), AlertKind::UnmanagedRemoteAccess).is_empty());
    f.at = at(16);
    e.flow(&f);
    let d = e.take();
    check_texts(&d);
    let r = of(&d, AlertKind::UnmanagedRemoteAccess);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].severity, AlertSeverity::High, "one step lower by port");
    assert!(r[0].summary.contains("port number only"), "{}", r[0].summary);
    assert!(r[0].summary_ja.contains("ポート番号だけ"));
    assert_eq!(r[0].evidence.details["identified_by"], "port");

    // A scan of the port (no answer) is not a session.
    let mut f = ev(5, "10.100.0.11", "203.0.113.21", 5938, 20);
    f.packets_in = 0;
    f.ended = true;
    f.at = at(30);
    e.flow(&f);
    assert!(of(&e.take(), AlertKind::UnmanagedRemoteAccess).is_empty());
}

const LEARN: &str = r#"
[detections.new_activity]
learning = "1h"
"#;

#[test]
fn new_device_talker_and_protocol_only_after_learning() {
    let mut e = engine(&hospital(LEARN));
    // Learning: A talks to B over SMB.
    let mut f = ev(1, "10.100.0.5", "10.100.0.6", 445, 10);
    f.app = Some(App::Smb);
    e.flow(&f);
    assert!(e.take().is_empty());
    // After learning: the same is not new.
    let mut f = ev(2, "10.100.0.5", "10.100.0.6", 445, 4000);
    f.app = Some(App::Smb);
    e.flow(&f);
    assert!(e.take().is_empty());
    // A new device C answers A: new device C, new talker for A.
    e.flow(&ev(3, "10.100.0.5", "10.100.0.7", 8080, 4001));
    // And A reaches another peer, D, which does not answer.
    let mut f = ev(4, "10.100.0.5", "10.100.0.8", 8080, 4002);
    f.packets_in = 0;
    e.flow(&f);
    // A uses SSH for the first time (B answers: B's first SSH too).
    let mut f = ev(5, "10.100.0.5", "10.100.0.6", 22, 4003);
    f.app = Some(App::Ssh);
    e.flow(&f);
    let d = e.take();
    check_texts(&d);
    let dev = of(&d, AlertKind::NewDevice);
    assert_eq!(dev.len(), 1, "{d:#?}");
    assert_eq!(dev[0].dedup_key, "new_device|10.100.0.7");
    let talk = of(&d, AlertKind::NewTalker);
    assert_eq!(talk.len(), 1, "one per host: {talk:#?}");
    assert_eq!(talk[0].dedup_key, "new_talker|10.100.0.5");
    assert_eq!(talk[0].count, 2);
    let peers = &talk[0].evidence.details["peers"];
    assert!(peers.contains("10.100.0.7") && peers.contains("10.100.0.8"), "{peers}");
    let proto = of(&d, AlertKind::NewProtocol);
    let keys: Vec<&str> = proto.iter().map(|d| d.dedup_key.as_str()).collect();
    assert_eq!(keys, ["new_protocol|10.100.0.5", "new_protocol|10.100.0.6"]);
    assert_eq!(proto[0].evidence.details["protocol"], "ssh");
    // The unanswered D is no device; C, new after learning, is still learning itself.
    assert_eq!(e.stats().sizes.devices, 3);
    let mut f = ev(6, "10.100.0.7", "10.100.0.9", 8080, 4010);
    f.packets_in = 0;
    e.flow(&f);
    assert!(of(&e.take(), AlertKind::NewTalker).is_empty());
}

#[test]
fn new_activity_switches() {
    let mut e = engine(&hospital(
        r#"
[detections.new_activity]
learning = "1h"
device = false
talker = false
"#,
    ));
    e.flow(&ev(1, "10.100.0.5", "10.100.0.7", 80, 4000));
    assert!(e.take().is_empty());
    let mut f = ev(2, "10.100.0.5", "10.100.0.7", 80, 4001);
    f.app = Some(App::Http);
    e.flow(&f);
    // 10.100.0.5 was first seen after learning: it is learning itself.
    assert!(e.take().is_empty());
}

const SILENCE: &str = r#"
[[detections.silence]]
name = "nurse-call server"
asset = "nc-1"
window = "2m"
protocols = ["hl7"]

[[detections.silence]]
asset = "nc-never-seen"
window = "2m"

[[detections.silence]]
zone = "office"
window = "5m"
"#;

#[test]
fn silence_alerts_once_and_re_arms() {
    let mut e = engine(&hospital(SILENCE));
    let nc = names(&["NC-1"]);
    let hl7 = |flow, t| {
        let mut f = ev(flow, "10.20.0.11", "10.40.0.2", 2575, t);
        f.app = Some(App::Hl7);
        f.src_hints = AssetHints { names: nc, ..AssetHints::default() };
        f
    };
    for t in 0..=10 {
        e.flow(&hl7(1, t));
    }
    e.take();
    e.tick(at(100));
    e.tick(at(130));
    assert!(of(&e.take(), AlertKind::Silence).is_empty(), "120 s after the last sighting");
    e.tick(at(131));
    let d = e.take();
    check_texts(&d);
    let s = of(&d, AlertKind::Silence);
    assert_eq!(s.len(), 1, "{d:#?}");
    assert_eq!(s[0].severity, AlertSeverity::Critical);
    assert_eq!(s[0].dedup_key, "silence|1|10.20.0.11");
    assert_eq!(s[0].evidence.details["last_seen"], "2026-02-14T01:00:10Z");
    assert_eq!(s[0].evidence.details["window_seconds"], "120");
    assert!(s[0].summary.contains("no hl7 traffic"), "{}", s[0].summary);
    e.tick(at(200));
    assert!(e.take().is_empty(), "no repeat while silent");
    // Other traffic of the asset, by address now (no names): not its usual.
    let mut f = ev(2, "10.20.0.11", "10.0.0.53", 53, 300);
    f.app = Some(App::Dns);
    e.flow(&f);
    e.tick(at(301));
    assert!(of(&e.take(), AlertKind::Silence).is_empty());
    // HL7 again: re-armed, silent again later.
    let mut f = hl7(3, 400);
    f.src_hints = AssetHints::default();
    e.flow(&f);
    e.tick(at(521));
    let d = e.take();
    let s = of(&d, AlertKind::Silence);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].evidence.details["previous_silence_ended"], "2026-02-14T01:06:40Z");
    assert_eq!(s[0].evidence.details["silences"], "2");
}

#[test]
fn silence_of_zone_members() {
    let mut e = engine(&hospital(SILENCE));
    e.flow(&ev(1, "10.100.0.5", "10.100.0.6", 80, 0));
    // A client that only sent SYNs to an office host: the host sent nothing.
    let mut f = ev(2, "10.20.0.30", "10.100.0.7", 80, 0);
    f.packets_in = 0;
    e.flow(&f);
    e.take();
    e.tick(at(301));
    let d = e.take();
    check_texts(&d);
    let mut keys: Vec<&str> =
        of(&d, AlertKind::Silence).iter().map(|d| d.dedup_key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["silence|3|10.100.0.5", "silence|3|10.100.0.6"]);
    assert!(d.iter().all(|d| d.severity == AlertSeverity::High));
}

const LATERAL: &str = r#"
[detections.lateral_movement]
fan_out = 5
window = "60s"
"#;

#[test]
fn lateral_movement_by_port_without_app() {
    let mut e = engine(&hospital(LATERAL));
    let scan = |flow: u64, dst: &str, port: u16, t: i64| {
        let mut f = ev(flow, "10.100.0.66", dst, port, t);
        f.packets_in = 0;
        f.bytes_in = 0;
        f
    };
    for (i, dst) in ["10.100.1.1", "10.100.1.2", "10.100.1.3", "10.20.0.4"].iter().enumerate() {
        e.flow(&scan(i as u64, dst, 445, i as i64));
    }
    // Port 80 is not a lateral-movement port; repeats to a host count once.
    e.flow(&scan(10, "10.100.1.5", 80, 5));
    e.flow(&scan(11, "10.100.1.1", 445, 6));
    assert!(of(&e.take(), AlertKind::LateralMovement).is_empty());
    e.flow(&scan(12, "10.100.1.6", 3389, 7));
    let d = e.take();
    check_texts(&d);
    let l = of(&d, AlertKind::LateralMovement);
    assert_eq!(l.len(), 1, "{d:#?}");
    assert_eq!(l[0].severity, AlertSeverity::High);
    assert_eq!(l[0].dedup_key, "lateral_movement|10.100.0.66");
    assert_eq!(l[0].evidence.details["peer_count"], "5");
    assert!(l[0].evidence.details["peers"].contains("10.100.1.6 rdp? (port 3389)"));
    // More hosts in the same window: no repeat.
    e.flow(&scan(13, "10.100.1.7", 22, 8));
    assert!(of(&e.take(), AlertKind::LateralMovement).is_empty());
    // A minute later, a new sweep: again.
    for i in 0..5u64 {
        e.flow(&scan(20 + i, &format!("10.100.2.{i}"), 5985, 200 + i as i64));
    }
    assert_eq!(of(&e.take(), AlertKind::LateralMovement).len(), 1);
    // Identified SMB on another port counts; identified HTTP on 445 does not.
    let mut e = engine(&hospital(LATERAL));
    for i in 0..5u64 {
        let mut f = scan(i, &format!("10.100.3.{i}"), 8445, i as i64);
        f.app = Some(App::Smb);
        e.flow(&f);
        let mut g = scan(100 + i, &format!("10.100.4.{i}"), 445, i as i64);
        g.src = ip("10.100.0.67");
        g.app = Some(App::Http);
        e.flow(&g);
    }
    let d = e.take();
    let l = of(&d, AlertKind::LateralMovement);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].dedup_key, "lateral_movement|10.100.0.66");
}

#[test]
fn indicators_by_address_range_and_name() {
    let mut p = Policy::parse(&hospital(""), Path::new("test.toml")).unwrap();
    p.indicators
        .read_bytes(
            b"# campaign X\n198.51.100.7\n203.0.113.0/24 c2 range\nevil.example\n",
            Path::new("iocs.txt"),
            T0,
        )
        .unwrap();
    let mut e = Engine::new(Arc::new(p), T0);
    e.flow(&ev(1, "10.100.0.5", "198.51.100.7", 443, 0));
    e.flow(&ev(2, "10.20.0.5", "203.0.113.99", 443, 1));
    let mut f = ev(3, "10.100.0.6", "10.0.0.53", 53, 2);
    f.server_names = names(&["www.Evil.Example."]);
    e.flow(&f);
    f.at = at(3);
    e.flow(&f);
    e.flow(&ev(4, "10.100.0.5", "198.51.100.8", 443, 4));
    let d = e.take();
    check_texts(&d);
    let i = of(&d, AlertKind::IndicatorMatch);
    let keys: Vec<&str> = i.iter().map(|d| d.dedup_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "indicator_match|10.100.0.5|198.51.100.7",
            "indicator_match|10.20.0.5|203.0.113.99",
            "indicator_match|10.100.0.6|www.evil.example."
        ],
        "{d:#?}"
    );
    assert_eq!(i[0].severity, AlertSeverity::High);
    assert_eq!(i[1].severity, AlertSeverity::Critical, "from a critical zone");
    assert_eq!(i[0].evidence.details["source"], "iocs.txt:2");
    assert_eq!(i[1].evidence.details["source"], "iocs.txt:3");
    assert_eq!(i[2].evidence.details["source"], "iocs.txt:4");
    assert_eq!(i[2].count, 1, "names checked once while unchanged");
}

#[test]
fn severity_overrides_apply() {
    let mut e = engine(&hospital(
        r#"
[detections.severity]
segmentation_violation = "low"
"#,
    ));
    e.flow(&ev(1, "10.100.0.5", "10.20.0.9", 2575, 0));
    assert_eq!(e.take()[0].severity, AlertSeverity::Low);
}

#[test]
fn sample_policy_nurse_call_exfiltration_and_modality_violation() {
    let mut e = Engine::new(policy(Policy::sample_text()), T0);
    let nc = names(&["nursecall-srv-01"]);
    // The incident: a nurse-call server sends 60 MB to an external host in a minute.
    for t in 0..60 {
        let mut f = ev(1, "10.20.0.11", "203.0.113.50", 443, t);
        f.app = Some(App::Tls);
        f.first = at(0);
        f.bytes_out = 1_000_000;
        f.src_hints = AssetHints { names: nc, ..AssetHints::default() };
        f.server_names = names(&["files.exfil.example"]);
        e.flow(&f);
    }
    let d = e.take();
    check_texts(&d);
    let x = of(&d, AlertKind::Exfiltration);
    assert_eq!(x.len(), 1, "{d:#?}");
    assert_eq!(x[0].severity, AlertSeverity::Critical);
    assert_eq!(x[0].evidence.bytes, Some(51_000_000));
    assert!(x[0].summary.contains("nursecall-srv-01 (10.20.0.11)"), "{}", x[0].summary);
    assert!(x[0].summary.contains("files.exfil.example"), "{}", x[0].summary);
    assert_eq!(x[0].evidence.assets[0].zone.as_deref(), Some("nurse-call"));
    let s = of(&d, AlertKind::SegmentationViolation);
    assert_eq!(s.len(), 1);
    assert!(s[0].summary.contains("no-nurse-call-to-internet"), "{}", s[0].summary);

    // A modality talking to a nurse-call server: denied (critical, default deny).
    let mut f = ev(2, "10.31.0.5", "10.20.0.11", 2575, 100);
    f.app = Some(App::Hl7);
    e.flow(&f);
    // …while its DICOM to PACS is allowed.
    let mut g = ev(3, "10.31.0.5", "10.30.0.2", 104, 100);
    g.app = Some(App::Dicom);
    e.flow(&g);
    let d = e.take();
    check_texts(&d);
    let s = of(&d, AlertKind::SegmentationViolation);
    assert_eq!(s.len(), 1, "{d:#?}");
    assert_eq!(s[0].dedup_key, "segmentation_violation|10.31.0.5|nurse-call|hl7");
    assert_eq!(s[0].severity, AlertSeverity::High);
    assert!(s[0].summary.contains("\"modalities\"") && s[0].summary.contains("critical"));
}

#[test]
fn stats_count_events_and_drafts() {
    let mut e = engine(&hospital(""));
    e.flow(&ev(1, "10.100.0.5", "10.20.0.9", 2575, 0));
    e.flow(&ev(1, "10.100.0.5", "10.20.0.9", 2575, 1));
    e.tick(at(2));
    e.take();
    let s = e.stats();
    assert_eq!((s.events, s.flows_started, s.ticks), (2, 1, 1));
    assert_eq!(s.drafts[&AlertKind::SegmentationViolation], 1);
    assert_eq!(s.sizes.flows, 1);
}

fn arb_event() -> impl Strategy<Value = (u8, u8, u8, u8, u8, u32, u32, u8, bool, u8)> {
    (
        0u8..40, // flow id
        0u8..12, // src
        0u8..12, // dst
        0u8..8,  // port
        0u8..40, // app (≥ 32: none)
        0u32..3_000_000,
        0u32..3_000_000,
        0u8..5, // seconds forward
        any::<bool>(),
        0u8..4, // names
    )
}

const ADDRS: [&str; 12] = [
    "10.20.0.11",
    "10.20.0.12",
    "10.100.0.5",
    "10.100.0.6",
    "10.250.0.2",
    "10.31.0.5",
    "203.0.113.9",
    "198.51.100.7",
    "10.7.7.7",
    "0.0.0.0",
    "255.255.255.255",
    "fd00:5e:1::5",
];
const PORTS: [u16; 8] = [22, 445, 3389, 443, 500, 2575, 5938, 0];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_streams_never_panic_and_stay_within_caps(events in proptest::collection::vec(arb_event(), 1..400)) {
        let text = format!(
            "{}\n{}",
            Policy::sample_text().replace("learning = \"7d\"", "learning = \"2s\""),
            "[[detections.silence]]\nzone = \"office\"\nwindow = \"3s\"\n"
        );
        let mut p = Policy::parse(&text, Path::new("p.toml")).unwrap();
        p.indicators.read_bytes(b"203.0.113.0/24\nevil.example\n", Path::new("i.txt"), T0).unwrap();
        let limits = Limits {
            flows: 8,
            exfil_sources: 3,
            lateral_sources: 2,
            lateral_peers: 3,
            devices: 4,
            talker_pairs: 6,
            protocol_pairs: 5,
            recent: 2,
            silence_members: 3,
            pending: 5,
        };
        let mut e = Engine::with_limits(Arc::new(p), T0, limits);
        let nm = names(&["nursecall-srv-01", "EVIL.example", ""]);
        let mut t = 0i64;
        for (flow, s, d, port, app, out, inn, dt, ended, n) in events {
            t += i64::from(dt);
            let mut f = ev(u64::from(flow), ADDRS[usize::from(s)], ADDRS[usize::from(d)], PORTS[usize::from(port)], t);
            f.app = App::ALL.get(usize::from(app)).copied();
            f.bytes_out = u64::from(out) * 20;
            f.bytes_in = u64::from(inn);
            f.packets_out = u64::from(out % 3);
            f.packets_in = u64::from(inn % 2);
            f.ended = ended;
            f.transport = if port == 4 { Transport::Udp } else if port == 7 { Transport::Other } else { Transport::Tcp };
            f.first = at(t - i64::from(dt) * 3);
            f.src_hints = AssetHints { names: &nm[..usize::from(n).min(3)], ..AssetHints::default() };
            f.server_names = &nm[1..usize::from(n).clamp(1, 3)];
            e.flow(&f);
            if dt == 4 {
                e.tick(at(t));
            }
            if flow % 7 == 0 {
                let drafts = e.take();
                check_texts(&drafts);
                prop_assert!(drafts.len() <= limits.pending);
            }
            prop_assert!(e.within_limits());
        }
        let s = e.stats();
        prop_assert!(s.sizes.flows <= 8 && s.sizes.devices <= 4 && s.sizes.talker_pairs <= 6);
    }
}

#[test]
fn silence_of_an_address() {
    let policy = hospital(
        "[[detections.silence]]\naddress = \"10.20.0.11\"\nwindow = \"5s\"\nprotocols = [\"hl7\"]\n",
    );
    let mut e = engine(&policy);
    for t in 0..=10 {
        let mut f = ev(1, "10.20.0.11", "10.40.0.2", 2575, t);
        f.app = Some(App::Hl7);
        e.flow(&f);
    }
    e.take();
    e.tick(at(15));
    assert!(of(&e.take(), AlertKind::Silence).is_empty(), "5 s after the last message");
    e.tick(at(16));
    let d = e.take();
    let s = of(&d, AlertKind::Silence);
    assert_eq!(s.len(), 1, "{d:#?}");
    assert_eq!(s[0].dedup_key, "silence|1|10.20.0.11");
}
