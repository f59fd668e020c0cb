//! `sekimori analyze --policy`: the real binary, real captures, the shipped
//! sample policy and small policies written here. Alerts keep the contract
//! (`kind`, `severity`, `summary`, `evidence`), say it in Japanese too, and
//! `--fail-on` sets the exit code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn sekimori() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sekimori"));
    c.env_remove("SEKIMORI_LANG").env("LANG", "C.UTF-8").env_remove("LC_ALL");
    c
}

fn pcap(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps").join(name)
}

fn sample(dir: &Path) -> PathBuf {
    let out = sekimori().args(["policy", "sample"]).output().unwrap();
    assert!(out.status.success());
    let p = dir.join("policy.toml");
    std::fs::write(&p, out.stdout).unwrap();
    p
}

fn run(policy: &Path, capture: &Path, extra: &[&str]) -> (Option<i32>, Vec<Value>) {
    let out = sekimori()
        .arg("analyze")
        .arg("--policy")
        .arg(policy)
        .arg(capture)
        .args(extra)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), v["alerts"].as_array().unwrap().clone())
}

#[test]
fn an_openvpn_client_outside_the_broker_is_unmanaged_remote_access() {
    let dir = tempfile::tempdir().unwrap();
    let policy = sample(dir.path());
    let (code, all) = run(&policy, &pcap("ndpi_openvpn.pcap"), &[]);
    assert_eq!(code, Some(0));
    // The file joins captures from 1970 to 2024: once the sample policy's
    // seven learning days are over, the later captures' hosts are new
    // devices. Everything else is the VPN.
    let (alerts, others): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|a| a["kind"] == "unmanaged_remote_access");
    assert!(!alerts.is_empty());
    assert!(others.iter().all(|a| a["kind"] == "new_device"), "{others:#?}");
    assert!(
        others.iter().all(|a| a["first"].as_str().unwrap() > "1970-01-08"),
        "no new device inside the learning week: {others:#?}"
    );
    for a in &alerts {
        for field in ["kind", "severity", "summary", "summary_ja", "evidence", "first", "count"] {
            assert!(!a[field].is_null(), "{field} missing: {a}");
        }
        assert_eq!(a["kind"], "unmanaged_remote_access", "{a}");
        assert!(a["summary"].as_str().unwrap().contains("openvpn"), "{a}");
        assert!(!a["summary_ja"].as_str().unwrap().is_ascii(), "{a}");
        let zones: Vec<&str> = a["evidence"]["assets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x["zone"].as_str())
            .collect();
        // A VPN to the internet crosses the boundary: critical; inside, high.
        let expected = if zones.contains(&"internet") { "critical" } else { "high" };
        assert_eq!(a["severity"], expected, "{a}");
        assert!(!a["evidence"]["flows"].as_array().unwrap().is_empty(), "{a}");
    }
    let office: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["summary"].as_str().unwrap().contains("(zone \"office\")"))
        .collect();
    assert!(!office.is_empty(), "an office PC's VPN to the internet");
    // One alert per inside endpoint and application, not one per flow.
    let keys: std::collections::BTreeSet<&str> =
        alerts.iter().map(|a| a["dedup_key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), alerts.len());

    let (code, _) = alerts_with(&policy, "ndpi_openvpn.pcap", &["--fail-on", "critical"]);
    assert_eq!(code, Some(1), "--fail-on critical with critical alerts");
}

/// `sekimori --data-dir DATA ARGS…`, which must succeed: its JSON output
/// (`Null` when it printed none).
fn in_data_dir(data: &Path, args: &[&str]) -> Value {
    let out = sekimori()
        .env_remove("SEKIMORI_DATABASE_URL")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
}

fn alerts_with(policy: &Path, capture: &str, extra: &[&str]) -> (Option<i32>, Vec<Value>) {
    run(policy, &pcap(capture), extra)
}

/// The DICOM capture's store of 106,503 bytes from 10.20.5.31 to
/// 10.20.1.10, with only the modality's /24 inside the hospital: the upload
/// leaves the hospital. Above a 50 KB threshold it is exfiltration; under a
/// 200 KB one it is not.
#[test]
fn an_upload_above_the_threshold_is_exfiltration_and_below_it_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let policy = |threshold: &str| {
        let p = dir.path().join(format!("p-{threshold}.toml").replace(' ', ""));
        std::fs::write(
            &p,
            format!(
                "[hospital]\nranges = [\"10.20.5.0/24\"]\n\n[[zone]]\nname = \"imaging\"\n\
                 ranges = [\"10.20.5.0/24\"]\ncritical = true\n\n[[rule]]\nfrom = \"imaging\"\n\
                 to = \"internet\"\nprotocols = [\"dicom\"]\n\n\
                 [detections.exfiltration]\nthreshold = \"{threshold}\"\nwindow = \"5m\"\n"
            ),
        )
        .unwrap();
        p
    };
    let (code, alerts) =
        run(&policy("50 KB"), &pcap("gen_dicom_echo_store_find.pcap"), &["--fail-on", "high"]);
    let exfil: Vec<&Value> = alerts.iter().filter(|a| a["kind"] == "exfiltration").collect();
    assert_eq!(exfil.len(), 1, "{alerts:?}");
    let a = exfil[0];
    assert_eq!(a["severity"], "critical", "from a critical zone: {a}");
    assert!(a["evidence"]["bytes"].as_u64().unwrap() > 50_000, "{a}");
    assert!(a["summary"].as_str().unwrap().contains("10.20.1.10"), "{a}");
    assert_eq!(code, Some(1), "--fail-on high");
    // The rule allows DICOM to the internet: no segmentation alert.
    assert!(alerts.iter().all(|a| a["kind"] != "segmentation_violation"), "{alerts:?}");

    let (code, alerts) = run(&policy("200 KB"), &pcap("gen_dicom_echo_store_find.pcap"), &[]);
    assert!(alerts.iter().all(|a| a["kind"] != "exfiltration"), "{alerts:?}");
    assert_eq!(code, Some(0));
}

#[test]
fn a_flow_the_policy_denies_is_a_segmentation_violation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    // The PACS is critical and nothing may reach it.
    std::fs::write(
        &p,
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n\n[[zone]]\nname = \"pacs\"\n\
         ranges = [\"10.20.1.0/24\"]\ncritical = true\n\n[[zone]]\nname = \"modalities\"\n\
         ranges = [\"10.20.5.0/24\"]\n",
    )
    .unwrap();
    let (_, alerts) = run(&p, &pcap("gen_dicom_echo_store_find.pcap"), &[]);
    let seg: Vec<&Value> =
        alerts.iter().filter(|a| a["kind"] == "segmentation_violation").collect();
    assert_eq!(seg.len(), 1, "{alerts:?}");
    assert_eq!(seg[0]["severity"], "high");
    let s = seg[0]["summary"].as_str().unwrap();
    assert!(s.contains("modalities") && s.contains("pacs"), "{s}");
}

#[test]
fn a_bad_policy_is_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[hospital]\nranges = [\"10.0.0.0/33\"]\n").unwrap();
    let out = sekimori()
        .args(["analyze", "--policy"])
        .arg(&p)
        .arg(pcap("gen_dicom_echo_store_find.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:2:"), "{err}");
    assert!(out.stdout.is_empty(), "no analysis on a bad policy");
}

/// A capture replayed into the store: its alerts are stored (and listed
/// by `sekimori alert list`), and a second replay aggregates into them.
#[test]
fn analyze_store_keeps_the_alerts_and_a_replay_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let policy = sample(dir.path());
    let data = dir.path().join("data");
    let run = |args: &[&str]| in_data_dir(&data, args);
    let capture = pcap("ndpi_ipsec_isakmp_esp.pcap");
    let args =
        ["analyze", capture.to_str().unwrap(), "--store", "--policy", policy.to_str().unwrap()];
    let first = run(&args);
    let new = first["alerts"]["new"].as_u64().unwrap();
    assert!(new >= 1, "{first}");
    let second = run(&args);
    assert_eq!(second["alerts"]["new"], 0, "a replay aggregates: {second}");
    let listed = run(&["alert", "list", "--json"]);
    let alerts = listed["alerts"].as_array().unwrap();
    assert_eq!(alerts.len() as u64, new);
    let ike = alerts.iter().find(|a| a["kind"] == "unmanaged_remote_access").unwrap();
    assert!(ike["count"].as_u64().unwrap() >= 2, "{ike}");
}

/// A nurse-call server's HL7 feed for ten seconds, then nothing from it,
/// while another host's traffic moves packet time on to 30 s.
fn hl7_then_quiet(path: &Path) {
    use sekimori_lab::msgs;
    use sekimori_lab::wire::{Frame, L3, PcapWriter, SYN_OPTIONS, flags};
    let t0: u64 = 1_793_606_400_000_000_000;
    let sec = 1_000_000_000u64;
    let nc = L3 {
        src_mac: [2, 0, 0, 0, 0, 0x10],
        dst_mac: [2, 0, 0, 0, 0, 0x11],
        src: [10, 20, 0, 10],
        dst: [10, 20, 0, 11],
        ttl: 64,
    };
    let back = L3 { src_mac: nc.dst_mac, dst_mac: nc.src_mac, src: nc.dst, dst: nc.src, ttl: 64 };
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut f = Frame::new();
    let ports = (40_000, 2575);
    let (mut cs, mut ss) = (1000u32, 5000u32);
    f.tcp(&nc, 1, ports, cs, 0, flags::SYN, 64_240, &SYN_OPTIONS);
    w.record(t0, f.finish()).unwrap();
    f.tcp(&back, 1, (ports.1, ports.0), ss, cs + 1, flags::SYN | flags::ACK, 64_240, &SYN_OPTIONS);
    w.record(t0 + 1000, f.finish()).unwrap();
    cs += 1;
    ss += 1;
    for i in 0..10u32 {
        let t = t0 + u64::from(i) * sec + 2000;
        let mut m = Vec::new();
        msgs::hl7("NURSECALL", "WARD5", "STATION", "WARD5", "20261102080000", "ORU^R01", i, &mut m);
        f.tcp(&nc, 2 + i as u16, ports, cs, ss, flags::ACK | flags::PSH, 64_240, &[])
            .extend_from_slice(&m);
        w.record(t, f.finish()).unwrap();
        cs += m.len() as u32;
        let mut a = Vec::new();
        msgs::hl7_ack("STATION", "WARD5", "NURSECALL", "WARD5", "20261102080000", i, &mut a);
        f.tcp(
            &back,
            2 + i as u16,
            (ports.1, ports.0),
            ss,
            cs,
            flags::ACK | flags::PSH,
            64_240,
            &[],
        )
        .extend_from_slice(&a);
        w.record(t + 1000, f.finish()).unwrap();
        ss += a.len() as u32;
    }
    time_moves_on(&mut w, &mut f, t0, 10..=30);
    w.finish().unwrap();
}

/// Someone else's DNS query once a second at `secs` after `t0`, so packet
/// time moves on and the flows before are reported.
fn time_moves_on(
    w: &mut sekimori_lab::wire::PcapWriter<std::fs::File>,
    f: &mut sekimori_lab::wire::Frame,
    t0: u64,
    secs: std::ops::RangeInclusive<u64>,
) {
    let pc = sekimori_lab::wire::L3 {
        src_mac: [2, 0, 0, 0, 0, 0x50],
        dst_mac: [2, 0, 0, 0, 0, 0x53],
        src: [10, 100, 0, 50],
        dst: [10, 0, 0, 53],
        ttl: 64,
    };
    for s in secs {
        let mut q = Vec::new();
        sekimori_lab::msgs::dns_query(s as u16, "ehr.hospital.example", &mut q);
        f.udp(&pc, s as u16, 50_000 + s as u16, 53).extend_from_slice(&q);
        w.record(t0 + s * 1_000_000_000, f.finish()).unwrap();
    }
}

/// Regression: the sensor's flow updates carry bytes, not packets, and the
/// detections were handed zero packets, so no watched asset ever counted
/// as having sent anything and a silent nurse-call server was never
/// reported (found by `sekimori lab incident`).
#[test]
fn a_watched_server_that_stops_its_hl7_feed_is_reported_silent() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("hl7.pcap");
    hl7_then_quiet(&capture);
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n\n[[detections.silence]]\naddress = \"10.20.0.10\"\n\
         window = \"5s\"\nprotocols = [\"hl7\"]\n\n[detections.new_activity]\ndevice = false\n\
         talker = false\nprotocol = false\n",
    )
    .unwrap();
    let (code, alerts) = run(&policy, &capture, &[]);
    assert_eq!(code, Some(0));
    let silent: Vec<&Value> = alerts.iter().filter(|a| a["kind"] == "silence").collect();
    assert_eq!(silent.len(), 1, "{alerts:#?}");
    assert_eq!(silent[0]["dedup_key"], "silence|1|10.20.0.10");
    assert!(silent[0]["summary"].as_str().unwrap().contains("no hl7 traffic"), "{}", silent[0]);
    assert_eq!(silent[0]["evidence"]["details"]["last_seen"], "2026-11-02T08:00:09.000003Z");
}

/// A DHCP renewal that names 10.0.5.7 `nursecall-srv-01`, then, two
/// seconds later, an upload from 10.0.5.7 to the internet in a flow that
/// names nobody.
fn named_by_dhcp_then_upload(path: &Path) {
    use sekimori_lab::msgs::{self, Dhcp, DhcpType};
    use sekimori_lab::wire::{Frame, L3, PcapWriter, SYN_OPTIONS, flags};
    let t0: u64 = 1_793_606_400_000_000_000;
    let sec = 1_000_000_000u64;
    let mac = [2, 0, 0, 0, 5, 7];
    let host = L3 {
        src_mac: mac,
        dst_mac: [2, 0, 0, 0, 0, 1],
        src: [10, 0, 5, 7],
        dst: [10, 0, 0, 1],
        ttl: 64,
    };
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut f = Frame::new();
    let mut m = Vec::new();
    msgs::dhcp(
        &Dhcp {
            kind: DhcpType::Request,
            xid: 0x5eed,
            mac,
            ciaddr: host.src,
            yiaddr: [0; 4],
            hostname: "nursecall-srv-01",
            vendor_class: "MSFT 5.0",
            requested: None,
            server: host.dst,
            router: host.dst,
            broadcast: false,
        },
        &mut m,
    );
    f.udp(&host, 1, 68, 67).extend_from_slice(&m);
    w.record(t0, f.finish()).unwrap();
    let out = L3 { dst: [203, 0, 113, 9], ..host };
    let back =
        L3 { src_mac: out.dst_mac, dst_mac: out.src_mac, src: out.dst, dst: out.src, ttl: 64 };
    let ports = (50_000, 443);
    let t = t0 + 2 * sec;
    f.tcp(&out, 2, ports, 100, 0, flags::SYN, 64_240, &SYN_OPTIONS);
    w.record(t, f.finish()).unwrap();
    f.tcp(&back, 2, (443, 50_000), 900, 101, flags::SYN | flags::ACK, 64_240, &SYN_OPTIONS);
    w.record(t + 1000, f.finish()).unwrap();
    f.tcp(&out, 3, ports, 101, 901, flags::ACK | flags::PSH, 64_240, &[])
        .extend_from_slice(&[0x55; 1200]);
    w.record(t + 2000, f.finish()).unwrap();
    time_moves_on(&mut w, &mut f, t0, 3..=6);
    w.finish().unwrap();
}

/// A policy whose critical nurse-call zone is the one asset `name`, denied
/// the internet (first sightings off).
fn nurse_call_zone_of(dir: &Path, name: &str) -> PathBuf {
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[hospital]\nranges = [\"10.0.0.0/8\"]\n\n[[zone]]\nname = \"nurse-call\"\n\
             critical = true\nassets = [\"{name}\"]\n\n[[rule]]\n\
             name = \"no-nurse-call-to-internet\"\nfrom = \"nurse-call\"\nto = \"internet\"\n\
             action = \"deny\"\n\n[detections.new_activity]\ndevice = false\ntalker = false\n\
             protocol = false\n"
        ),
    )
    .unwrap();
    policy
}

/// A zone made of asset names holds a host that a later flow does not
/// name: the detector remembers what earlier flows (here DHCP) said.
#[test]
fn a_zone_by_asset_name_holds_the_host_in_flows_that_do_not_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("named.pcap");
    named_by_dhcp_then_upload(&capture);
    let policy = nurse_call_zone_of(dir.path(), "nursecall-srv-01");
    let (_, alerts) = run(&policy, &capture, &[]);
    let denied: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["kind"] == "segmentation_violation")
        .filter(|a| a["summary"].as_str().unwrap().contains("203.0.113.9"))
        .collect();
    assert_eq!(denied.len(), 1, "{alerts:#?}");
    assert!(
        denied[0]["summary"].as_str().unwrap().contains("zone \"nurse-call\""),
        "{}",
        denied[0]
    );
}

/// With a store, the registered devices' names zone their addresses: the
/// same upload, from an address registered as `ward5-nursecall` (a name no
/// packet carries), is denied as the nurse-call zone's.
#[test]
fn a_registered_device_name_zones_its_address_in_analyze_store() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("named.pcap");
    named_by_dhcp_then_upload(&capture);
    let policy = nurse_call_zone_of(dir.path(), "ward5-nursecall");
    let data = dir.path().join("data");
    let run = |args: &[&str]| in_data_dir(&data, args);
    run(&["asset", "add", "--name", "ward5-nursecall", "--address", "10.0.5.7", "--json"]);
    let (c, p) = (capture.to_str().unwrap(), policy.to_str().unwrap());
    run(&["analyze", c, "--store", "--policy", p]);
    let listed = run(&["alert", "list", "--json"]);
    let denied: Vec<&Value> = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "segmentation_violation")
        .filter(|a| a["summary"].as_str().unwrap().contains("203.0.113.9"))
        .collect();
    assert_eq!(denied.len(), 1, "{listed:#}");
    let summary = denied[0]["summary"].as_str().unwrap();
    assert!(summary.contains("ward5-nursecall (10.0.5.7) in zone \"nurse-call\""), "{summary}");
}
