//! `sekimori analyze` end to end: the real binary on every shared capture,
//! its flow counts checked against tshark's conversation tables
//! (`tshark -q -z conv,tcp -z conv,udp`) on the same files.
//!
//! What is compared: for every TCP and UDP conversation (address and port
//! pairs, VLANs ignored, as tshark does), the frames each way must be
//! equal, and so must the bytes. Our `bytes_*` are frame (wire) bytes, the
//! quantity tshark counts. tshark prints bytes of 10 kB and more rounded
//! down to whole kB, so exact byte counts come from its per-frame
//! `frame.len` (for frames with one IP and one transport layer), and the
//! table's rounded figure is checked too. Our flows may split a
//! conversation (idle timeouts, port reuse); they are summed first.
//!
//! Skipped, with the reason printed, only when tshark is not installed
//! (CI installs it).
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sekimori");

fn pcaps() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    assert!(v.len() >= 28, "captures missing from {}", dir.display());
    v
}

fn tshark_present() -> bool {
    Command::new("tshark").arg("-v").output().is_ok_and(|o| o.status.success())
}

/// `ip:port` → (ip, port), IPv6 included (the port is after the last colon).
fn split_endpoint(s: &str) -> (String, u16) {
    let (ip, port) = s.rsplit_once(':').unwrap();
    (ip.to_owned(), port.parse().unwrap())
}

/// A conversation: transport and its two endpoints in sorted order.
type Conv = (String, (String, u16), (String, u16));

/// Per conversation: [frames, bytes] sent by the first endpoint, then by
/// the second.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    frames: [u64; 2],
    bytes: [u64; 2],
}

fn conv(transport: &str, a: (String, u16), b: (String, u16)) -> (Conv, bool) {
    if a <= b {
        ((transport.to_owned(), a, b), false)
    } else {
        ((transport.to_owned(), b, a), true)
    }
}

/// A conversation in tshark's tables: frames each way, and the range the
/// bytes each way must lie in (exact below 10 kB; rounded down to whole kB,
/// MB above).
#[derive(Debug, Default, Clone, Copy)]
struct Table {
    frames: [u64; 2],
    bytes_min: [u64; 2],
    bytes_max: [u64; 2],
}

/// tshark's conversation tables. tshark may list one address/port pair
/// twice (it starts a new TCP conversation where it suspects port reuse);
/// such entries are summed, as our flows are.
fn tshark_conversations(file: &Path) -> BTreeMap<Conv, Table> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-q", "-z", "conv,tcp", "-z", "conv,udp"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark failed on {}", file.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut transport = "";
    let mut convs: BTreeMap<Conv, Table> = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            transport = "tcp";
        } else if line.starts_with("UDP Conversations") {
            transport = "udp";
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 9 || t[1] != "<->" {
            continue;
        }
        let unit = |u: &str| match u {
            "bytes" => 1,
            "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => panic!("unit {other} in {line}"),
        };
        // A <-> B | frames B→A, bytes | frames A→B, bytes | …
        let (a, b) = (split_endpoint(t[0]), split_endpoint(t[2]));
        let b_to_a = (t[3].parse::<u64>().unwrap(), (t[4].parse::<u64>().unwrap(), unit(t[5])));
        let a_to_b = (t[6].parse::<u64>().unwrap(), (t[7].parse::<u64>().unwrap(), unit(t[8])));
        let (key, swapped) = conv(transport, a, b);
        let (first, second) = if swapped { (b_to_a, a_to_b) } else { (a_to_b, b_to_a) };
        let e = convs.entry(key).or_default();
        for (i, (frames, (shown, unit))) in [first, second].into_iter().enumerate() {
            e.frames[i] += frames;
            e.bytes_min[i] += shown * unit;
            e.bytes_max[i] += shown * unit + unit - 1;
        }
    }
    convs
}

/// Exact frame bytes per conversation direction from tshark's per-frame
/// fields, for frames with exactly one IP and one TCP/UDP layer (others —
/// tunnels, ICMP errors quoting a header — are left to the table check).
fn tshark_exact_bytes(file: &Path) -> (BTreeMap<Conv, Counts>, BTreeMap<Conv, u64>) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-Y",
            "(tcp or udp) and not icmp and not icmpv6",
            "-T",
            "fields",
            "-E",
            "separator=/t",
        ])
        .args(["-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport"])
        .args(["-e", "frame.len"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut exact: BTreeMap<Conv, Counts> = BTreeMap::new();
    let mut unsure: BTreeMap<Conv, u64> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 9 {
            continue;
        }
        let all = |x: &str, y: &str| -> Vec<String> {
            x.split(',').chain(y.split(',')).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        };
        let (srcs, dsts) = (all(f[0], f[1]), all(f[2], f[3]));
        let (transport, sp, dp) =
            if f[4].is_empty() { ("udp", f[6], f[7]) } else { ("tcp", f[4], f[5]) };
        let ports: Vec<(&str, &str)> = sp.split(',').zip(dp.split(',')).collect();
        let layered = srcs.len() != 1
            || dsts.len() != 1
            || ports.len() != 1
            || (!f[4].is_empty() && !f[6].is_empty());
        if layered {
            // Count it against whichever conversations it might belong to.
            for s in &srcs {
                for d in &dsts {
                    for (spp, dpp) in &ports {
                        if let (Ok(spn), Ok(dpn)) = (spp.parse(), dpp.parse()) {
                            let (k, _) = conv(transport, (s.clone(), spn), (d.clone(), dpn));
                            *unsure.entry(k).or_default() += 1;
                        }
                    }
                }
            }
            continue;
        }
        let (src, dst) = (srcs[0].clone(), dsts[0].clone());
        let (Ok(spn), Ok(dpn), Ok(len)) = (sp.parse(), dp.parse(), f[8].parse::<u64>()) else {
            continue;
        };
        let (k, swapped) = conv(transport, (src, spn), (dst, dpn));
        let i = usize::from(swapped);
        let c = exact.entry(k).or_default();
        c.frames[i] += 1;
        c.bytes[i] += len;
    }
    (exact, unsure)
}

fn analyze_json(file: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["--lang", "en", "analyze", "--format", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sekimori analyze {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Our flows seen as packets (not those decoded from flow-export records
/// that a capture carries), summed per conversation.
fn our_conversations(v: &Value) -> BTreeMap<Conv, Counts> {
    let mut m: BTreeMap<Conv, Counts> = BTreeMap::new();
    for f in v["flows"].as_array().unwrap() {
        if f["source"].as_str() != Some("packets") {
            continue;
        }
        let transport = f["transport"].as_str().unwrap();
        if transport != "tcp" && transport != "udp" {
            continue;
        }
        let n = |k: &str| f[k].as_u64().unwrap();
        let src = (f["src"].as_str().unwrap().to_owned(), n("sport") as u16);
        let dst = (f["dst"].as_str().unwrap().to_owned(), n("dport") as u16);
        let (k, swapped) = conv(transport, src, dst);
        let (o, i) = if swapped { (1, 0) } else { (0, 1) };
        let c = m.entry(k).or_default();
        c.frames[o] += n("packets_out");
        c.frames[i] += n("packets_in");
        c.bytes[o] += n("bytes_out");
        c.bytes[i] += n("bytes_in");
    }
    m
}

#[test]
fn flow_counts_equal_tshark_conversations_on_every_capture() {
    if !tshark_present() {
        eprintln!("SKIPPED: tshark is not installed (CI installs it); flow counts not compared");
        return;
    }
    let mut compared = 0;
    for file in pcaps() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let ours = our_conversations(&analyze_json(&file));
        let theirs = tshark_conversations(&file);
        let (exact, unsure) = tshark_exact_bytes(&file);
        let our_keys: Vec<&Conv> = ours.keys().collect();
        let their_keys: Vec<&Conv> = theirs.keys().collect();
        assert_eq!(our_keys, their_keys, "{name}: conversations differ");
        for (k, t) in &theirs {
            let o = ours[k];
            assert_eq!(o.frames, t.frames, "{name} {k:?}: frames each way");
            for side in 0..2 {
                assert!(
                    (t.bytes_min[side]..=t.bytes_max[side]).contains(&o.bytes[side]),
                    "{name} {k:?}: bytes side {side}: ours {}, tshark's table {:?}",
                    o.bytes[side],
                    t
                );
            }
            if !unsure.contains_key(k) {
                let e = exact.get(k).copied().unwrap_or_default();
                assert_eq!(e.frames, o.frames, "{name} {k:?}: frames (tshark fields)");
                assert_eq!(e.bytes, o.bytes, "{name} {k:?}: bytes each way (tshark frame.len)");
            }
            compared += 1;
        }
    }
    eprintln!("{compared} conversations compared with tshark");
    assert!(compared > 100, "{compared}");
}

#[test]
fn json_has_the_contract_fields() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pcaps/gen_hl7_mllp_adt_oru.pcap");
    let v = analyze_json(&file);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["alerts", "assets", "flows"]);
    assert_eq!(v["alerts"], serde_json::json!([]));
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2);
    for k in [
        "src",
        "dst",
        "sport",
        "dport",
        "transport",
        "app",
        "packets_out",
        "packets_in",
        "bytes_out",
        "bytes_in",
        "first",
        "last",
        "vlan",
        "tcp_state",
        "facts",
    ] {
        assert!(flows[0].get(k).is_some(), "flow lacks {k}: {}", flows[0]);
    }
    // tshark: 10.20.7.44:33361 -> 10.20.1.20:2575 first frame at
    // 1795346178.040467 (RFC 3339 below), 8 frames / 1013 bytes out.
    assert_eq!(flows[0]["src"], "10.20.7.44");
    assert_eq!(flows[0]["dport"], 2575);
    assert_eq!(flows[0]["packets_out"], 8);
    assert_eq!(flows[0]["bytes_out"], 1013);
    assert_eq!(flows[0]["tcp_state"], "closed");
    let first = flows[0]["first"].as_str().unwrap();
    assert!(
        first.starts_with("2026-11-22T") && first.ends_with('Z') && first.contains('.'),
        "{first}"
    );
    let assets = v["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 2);
    for k in ["ip", "mac", "names", "vendor", "product", "version", "protocols"] {
        assert!(assets[0].get(k).is_some(), "asset lacks {k}: {}", assets[0]);
    }
    assert_eq!(assets[0]["ip"], "10.20.1.20");
    assert_eq!(assets[1]["ip"], "10.20.7.44");
}

#[test]
fn table_format_lists_flows_and_assets_for_people() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pcaps/gen_dicom_echo_store_find.pcap");
    let out = Command::new(BIN)
        .args(["--lang", "en", "analyze", "--format", "table"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Flows (1)\n"), "{text}");
    let row = text.lines().find(|l| l.contains("10.20.5.31:46165")).unwrap_or_default();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cols[2..],
        ["tcp", "10.20.5.31:46165", "10.20.1.10:11112", "dicom", "86/21", "106503/2582", "closed"],
        "{row}"
    );
    assert!(text.contains("Assets (2)"), "{text}");
    assert!(
        text.contains("1 file(s), 107 packets (109085 bytes, 0 undecodable), 1 flows (0 evicted)"),
        "{text}"
    );
    // Columns line up: the header's "server" starts where each row's server does.
    let header = text.lines().nth(1).unwrap();
    assert_eq!(header.find("server"), row.find("10.20.1.10:11112"), "{text}");

    let ja = Command::new(BIN)
        .args(["--lang", "ja", "analyze", "--format", "table"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(ja.stdout).unwrap();
    assert!(text.starts_with("フロー (1)\n") && text.contains("機器 (2)"), "{text}");
}

#[test]
fn a_truncated_capture_prints_what_was_read_and_exits_2_naming_file_and_offset() {
    let whole = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/pcaps/gen_dicom_echo_store_find.pcap"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &whole[..50_000]).unwrap();
    let out = Command::new(BIN).args(["--lang", "en", "analyze"]).arg(&cut).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 46 whole records precede the cut one (at byte 48555): 38 + 8 frames.
    assert_eq!(v["flows"][0]["packets_out"], 38);
    assert_eq!(v["flows"][0]["packets_in"], 8);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&cut.display().to_string()) && err.contains("byte 48555"), "{err}");

    let ja = Command::new(BIN).args(["--lang", "ja", "analyze"]).arg(&cut).output().unwrap();
    assert_eq!(ja.status.code(), Some(2));
    let err = String::from_utf8(ja.stderr).unwrap();
    assert!(err.starts_with("エラー: ") && err.contains("48555 バイト目"), "{err}");

    let missing = Command::new(BIN)
        .args(["--lang", "en", "analyze", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.pcap: cannot read"));
}
