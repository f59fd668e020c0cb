//! The generator's output read back: by our capture reader and sensor
//! (every protocol identified, with the AE titles, HL7 applications and
//! hostnames the simulated hospital uses), by tshark (no warnings, no TCP
//! analysis problems), and the same bytes for the same seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sekimori_lab::{Config, write_file};
use sekimori_proto::{App, FactKey};
use sekimori_sensor::{Options, analyze_file};

/// A small capture: 20 hosts, one minute, at most 3 MB (a few thousand
/// packets).
fn small(seed: u64) -> Config {
    Config {
        hosts: 20,
        duration: Duration::from_secs(60),
        seed,
        max_bytes: Some(3_000_000),
        ..Config::default()
    }
}

fn generate(dir: &Path, seed: u64) -> std::path::PathBuf {
    let p = dir.join(format!("synth-{seed}.pcap"));
    let s = write_file(&p, &small(seed)).unwrap();
    assert!(s.packets > 1000 && s.packets < 10_000, "{s:?}");
    assert_eq!(std::fs::metadata(&p).unwrap().len(), s.bytes);
    p
}

#[test]
fn every_packet_reads_back_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let p = generate(dir.path(), 1);
    let mut f = sekimori_capture::CaptureFile::open(&p).unwrap();
    let (mut n, mut last) = (0u64, 0i64);
    while let Some(pkt) = f.next_packet().unwrap() {
        assert_eq!(pkt.caplen, pkt.origlen);
        assert!(pkt.ts.as_nanos() >= last, "time goes forward");
        last = pkt.ts.as_nanos();
        let d = sekimori_proto::packet::decode(pkt.link, pkt.data).unwrap();
        assert!(matches!(d.l3, sekimori_proto::packet::Layer3::Ip { ip, .. } if !ip.truncated));
        n += 1;
    }
    assert!(n > 1000);
}

#[test]
fn the_sensor_identifies_every_protocol_and_its_identities() {
    let dir = tempfile::tempdir().unwrap();
    let p = generate(dir.path(), 1);
    if let Ok(keep) = std::env::var("SEKIMORI_LAB_KEEP") {
        std::fs::copy(&p, keep).unwrap();
    }
    let a = analyze_file(&p, &Options::default()).unwrap();
    assert_eq!(a.stats.undecodable, 0);
    let apps: BTreeSet<&str> = a.flows.iter().filter_map(|f| f.app).map(App::as_str).collect();
    for want in ["dicom", "hl7", "dhcp", "dns", "tls", "smb", "ssh", "rdp", "ike", "esp"] {
        assert!(apps.contains(want), "{want} not identified; got {apps:?}");
    }
    let facts = |k: FactKey| -> BTreeSet<String> {
        a.flows
            .iter()
            .flat_map(|f| f.facts.iter())
            .filter(|x| x.key == k)
            .map(|x| x.value.clone())
            .collect()
    };
    // 20 hosts: modalities CT_SCANNER_01 and US_ER_01, feeds MONITOR_GW
    // (ICU3) and LAB_SYS (LAB), workstations ws-0001..ws-0008.
    assert!(
        facts(FactKey::DicomCallingAe).contains("CT_SCANNER_01"),
        "{:?}",
        facts(FactKey::DicomCallingAe)
    );
    assert_eq!(facts(FactKey::DicomCalledAe), BTreeSet::from(["PACS_MAIN".to_owned()]));
    assert!(
        facts(FactKey::Hl7SendingApp).contains("MONITOR_GW"),
        "{:?}",
        facts(FactKey::Hl7SendingApp)
    );
    assert!(facts(FactKey::Hl7SendingFacility).contains("ICU3"));
    assert!(facts(FactKey::Hl7ReceivingApp).contains("HIS_ENGINE"));
    assert!(
        facts(FactKey::TlsSni).iter().any(|s| s.ends_with(".microsoft.com")
            || s.ends_with(".com")
            || s.ends_with(".example"))
    );
    assert!(
        facts(FactKey::RdpCookie).iter().any(|s| s.starts_with("user")),
        "{:?}",
        facts(FactKey::RdpCookie)
    );
    assert!(
        facts(FactKey::SshServer).iter().any(|s| s.contains("OpenSSH_9.2p1")),
        "{:?}",
        facts(FactKey::SshServer)
    );
    assert!(
        facts(FactKey::SmbDialect).iter().any(|s| s.contains("3.0.2")),
        "{:?}",
        facts(FactKey::SmbDialect)
    );
    assert!(
        facts(FactKey::IkeVendorId).iter().any(|s| s.contains("Fortinet") || s.contains("Forti")),
        "{:?}",
        facts(FactKey::IkeVendorId)
    );
    assert!(facts(FactKey::DhcpVendorClass).contains("MSFT 5.0"));
    // Hostnames from DHCP reach the assets. Every unconfigured client
    // broadcasts from 0.0.0.0:68 to 255.255.255.255:67, so all DISCOVERs
    // and REQUESTs share one flow: the sensor reads every datagram of a
    // DHCP flow (not only the first 8 per side, as on other UDP flows), so
    // every client that booted is named (regression: only the first four
    // were).
    let names: BTreeSet<&str> =
        a.assets.iter().flat_map(|x| x.names.iter()).map(String::as_str).collect();
    let dhcp_clients = [
        "ct-scanner-01",
        "lab-sys-01",
        "monitor-gw-01",
        "us-er-01",
        "ws-0001",
        "ws-0002",
        "ws-0003",
        "ws-0004",
        "ws-0005",
        "ws-0006",
        "ws-0007",
        "ws-0008",
    ];
    for want in dhcp_clients {
        assert!(names.contains(want), "{want} not among {names:?}");
    }
    // The broadcast DHCP flow holds more than 64 facts (deduplicated by
    // hash past that): still no fact twice.
    let most = a.flows.iter().max_by_key(|f| f.facts.len()).unwrap();
    assert!(most.facts.len() > 64, "{}", most.facts.len());
    for f in &a.flows {
        let distinct: std::collections::HashSet<_> = f.facts.iter().collect();
        assert_eq!(distinct.len(), f.facts.len(), "duplicate facts on a flow");
    }
    let host = |ip: &str| a.assets.iter().find(|x| x.ip == Some(ip.parse().unwrap())).unwrap();
    assert!(host("10.20.10.3").names.iter().any(|n| n == "ws-0002"));
    assert!(host("10.20.5.11").names.iter().any(|n| n == "us-er-01"));
    // The PACS is named by its AE title.
    let pacs = a.assets.iter().find(|x| x.ip == Some("10.20.1.10".parse().unwrap())).unwrap();
    assert!(pacs.names.iter().any(|n| n == "PACS_MAIN"), "{:?}", pacs.names);
    // Nothing from PID reaches the output.
    let json = serde_json::to_string(&a).unwrap();
    assert!(!json.contains("TEST^PATIENT") && !json.contains("PATIENT"));
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::fs::read(generate(dir.path(), 7)).unwrap();
    let b = std::fs::read(
        write_file(dir.path().join("again.pcap"), &small(7))
            .map(|_| dir.path().join("again.pcap"))
            .unwrap(),
    )
    .unwrap();
    assert!(a == b, "seed 7 twice gave different files");
    let c = std::fs::read(generate(dir.path(), 8)).unwrap();
    assert!(a != c);
}

#[test]
fn size_limit_stops_the_file_and_rates_scale_with_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cap.pcap");
    let cfg = Config { max_bytes: Some(1_000_000), ..small(3) };
    let s = write_file(&p, &cfg).unwrap();
    // Stops at the first packet that reaches the limit.
    assert!(s.bytes >= 1_000_000 && s.bytes < 1_000_000 + 1600, "{s:?}");
    // Without a limit, more hosts over the same time make more sessions.
    let few = Config { hosts: 20, duration: Duration::from_secs(20), max_bytes: None, ..small(3) };
    let many = Config { hosts: 80, ..few.clone() };
    let s_few = sekimori_lab::generate(&few, std::io::sink()).unwrap();
    let s_many = sekimori_lab::generate(&many, std::io::sink()).unwrap();
    assert!(s_many.sessions > 2 * s_few.sessions, "{s_few:?} {s_many:?}");
}

fn tshark_present() -> bool {
    Command::new("tshark").arg("-v").output().is_ok_and(|o| o.status.success())
}

#[test]
fn tshark_reads_it_without_warnings_or_tcp_problems() {
    if !tshark_present() {
        eprintln!("tshark is not installed: skipped (CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = generate(dir.path(), 1);
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&p)
        .args(["-q", "-z", "io,stat,0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Running tshark as root makes it say so; nothing else may be said.
    let warnings: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Running as user"))
        .map(str::to_owned)
        .collect();
    assert!(warnings.is_empty(), "tshark warned: {warnings:?}");
    // TCP analysis: no retransmission, out-of-order, lost segment,
    // duplicate ACK, zero window, window full or reused ports.
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&p)
        .args([
            "-Y",
            "tcp.analysis.flags",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.message",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.trim().is_empty(),
        "tshark's TCP analysis flags: {}",
        text.lines().take(10).collect::<Vec<_>>().join("\n")
    );
    // Malformed packets or dissector errors anywhere.
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&p)
        .args(["-Y", "_ws.malformed || _ws.expert.severity >= 8388608"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.trim().is_empty(),
        "malformed/error: {}",
        text.lines().take(10).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_sensor_gives_the_same_output_with_one_two_and_three_workers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("par.pcap");
    let cfg = Config { hosts: 60, max_bytes: Some(8_000_000), ..small(5) };
    write_file(&p, &cfg).unwrap();
    let files = [p];
    let one = sekimori_sensor::analyze_files(&files, &Options::default());
    let json = |o: &sekimori_sensor::Outcome| serde_json::to_string(&o.analysis).unwrap();
    assert!(one.analysis.flows.len() > 100);
    for threads in [2, 3] {
        let many =
            sekimori_sensor::analyze_files(&files, &Options { threads, ..Options::default() });
        assert!(json(&one) == json(&many), "{threads} threads differ");
        assert_eq!(one.analysis.conversations, many.analysis.conversations);
    }
}
