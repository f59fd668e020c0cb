//! The fuzz corpora (`fuzz/corpus/<target>/`) replayed through the fuzz
//! entry points (`fuzz/src/lib.rs`, included here), so every seed and every
//! input a fuzzing run kept is exercised by the normal test suite, without
//! a fuzzer. Regression tests for what fuzzing found are named after it.
//!
//! `write_seed_corpora` (ignored) regenerates the seeds from the shared
//! captures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../../../fuzz/src/lib.rs"]
mod entry;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sekimori_proto::Verdict;
use sekimori_proto::identify::{Ctx, DATAGRAM, STREAM, Side};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn corpus_files(target: &str) -> Vec<PathBuf> {
    replay::corpus(env!("CARGO_MANIFEST_DIR"), target)
}

#[test]
fn every_corpus_file_replays_through_its_entry_point() {
    let total = replay::replay_all(env!("CARGO_MANIFEST_DIR"), entry::TARGETS, 1, 512);
    assert!(total >= 200, "{total} corpus files");
}

#[test]
fn every_entry_point_has_its_one_line_fuzz_target() {
    for (name, _) in entry::TARGETS {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.contains(&format!("sekimori_fuzz::{name}(data)")), "{}", path.display());
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name} not in fuzz/Cargo.toml");
    }
}

/// The seeds must steer each table entry: every STREAM and DATAGRAM probe
/// that has a capture says yes to at least one of its seeds.
#[test]
fn stream_and_datagram_seeds_reach_their_probes() {
    let mut stream_yes = BTreeMap::new();
    for f in corpus_files("probe_stream") {
        let d = std::fs::read(&f).unwrap();
        let [pick, hi, lo, rest @ ..] = &d[..] else { continue };
        let i = usize::from(*pick) % STREAM.len();
        let split = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (c, s) = rest.split_at(split);
        let ctx = Ctx { client_port: 50_000, server_port: STREAM[i].ports[0] };
        if matches!((STREAM[i].probe)(&ctx, c, s), Verdict::Yes { .. }) {
            *stream_yes.entry(STREAM[i].name).or_insert(0) += 1;
        }
    }
    // AnyDesk has no TCP capture among the shared ones.
    for p in STREAM.iter().filter(|p| p.name != "anydesk") {
        assert!(stream_yes.contains_key(p.name), "no probe_stream seed for {}", p.name);
    }
    let mut dgram_yes = BTreeMap::new();
    for f in corpus_files("probe_datagram") {
        let d = std::fs::read(&f).unwrap();
        let [pick, side, payload @ ..] = &d[..] else { continue };
        let i = usize::from(*pick) % DATAGRAM.len();
        let side = if side & 1 == 0 { Side::Client } else { Side::Server };
        let ctx = Ctx { client_port: 50_000, server_port: DATAGRAM[i].ports[0] };
        if matches!((DATAGRAM[i].probe)(&ctx, side, payload), Verdict::Yes { .. }) {
            *dgram_yes.entry(DATAGRAM[i].name).or_insert(0) += 1;
        }
    }
    for p in DATAGRAM.iter().filter(|p| !matches!(p.name, "anydesk" | "snmp")) {
        assert!(dgram_yes.contains_key(p.name), "no probe_datagram seed for {}", p.name);
    }
}

// ---- seed generation ----

const MAX_SIDE: usize = 4096;
const PER_PROBE_PER_CAPTURE: usize = 2;

fn captures() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    v.sort();
    v
}

/// The first DICOM PDU of a stream (the association request or answer),
/// never the P-DATA after it.
fn first_dicom_pdu(b: &[u8]) -> &[u8] {
    if b.len() < 6 {
        return b;
    }
    let len = u32::from_be_bytes([b[2], b[3], b[4], b[5]]) as usize;
    &b[..(6 + len).min(b.len())]
}

/// The first HL7 message cut to its MSH segment and closed again (MLLP
/// start byte, MSH, CR, end block): never the segments after MSH.
fn msh_only(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|&c| c == b'\r').unwrap_or(b.len());
    let mut m = b[..end].to_vec();
    m.extend_from_slice(b"\r\x1c\r");
    m
}

struct Seeds {
    root: PathBuf,
    bytes: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, data: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
        self.bytes += data.len();
    }
}

#[test]
#[ignore = "writes fuzz/corpus seeds from the shared captures; run by hand"]
fn write_seed_corpora() {
    let mut out = Seeds { root: fuzz_dir().join("corpus"), bytes: 0 };
    for cap in captures() {
        let stem = cap.split('.').next().unwrap().to_owned();
        // Frames: the first few of each capture, and the same IP packets
        // under the other link types' headers.
        // No HL7 past MSH and no DICOM past the association, even
        // synthetic: the generated captures give only their handshakes.
        let synthetic = cap.starts_with("gen_hl7") || cap.starts_with("gen_dicom");
        let frames = support::frames(&cap);
        let keep = if synthetic { 3 } else { 6 };
        for (i, f) in frames.iter().take(keep).enumerate() {
            let data = &f.data[..f.data.len().min(2048)];
            out.put("packet_ethernet", &format!("{stem}-{i}"), data);
            if i < 2 && data.len() > 14 {
                let et = [data[12], data[13]];
                let ip = &data[14..];
                if et == [0x08, 0x00] || et == [0x86, 0xdd] {
                    out.put("packet_raw_ip", &format!("{stem}-{i}"), ip);
                    let mut sll = vec![0, 0, 0, 1, 0, 6];
                    sll.extend_from_slice(&data[6..12]);
                    sll.extend_from_slice(&[0, 0]);
                    sll.extend_from_slice(&et);
                    sll.extend_from_slice(ip);
                    out.put("packet_linux_sll", &format!("{stem}-{i}"), &sll);
                    let mut sll2 = et.to_vec();
                    sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
                    sll2.extend_from_slice(&data[6..12]);
                    sll2.extend_from_slice(&[0, 0]);
                    sll2.extend_from_slice(ip);
                    out.put("packet_linux_sll2", &format!("{stem}-{i}"), &sll2);
                    let family: u32 = if et == [0x08, 0x00] { 2 } else { 30 };
                    let mut null = family.to_le_bytes().to_vec();
                    null.extend_from_slice(ip);
                    out.put("packet_null", &format!("{stem}-{i}"), &null);
                }
            }
        }
        // TCP streams: one seed per probe that says yes, a few per capture.
        let mut count: BTreeMap<usize, usize> = BTreeMap::new();
        for s in support::tcp_streams(&cap) {
            let (mut c, mut sv) = (
                s.to_server[..s.to_server.len().min(MAX_SIDE)].to_vec(),
                s.to_client[..s.to_client.len().min(MAX_SIDE)].to_vec(),
            );
            let ctx = Ctx { client_port: s.client.1, server_port: s.server.1 };
            for (i, p) in STREAM.iter().enumerate() {
                if !matches!((p.probe)(&ctx, &c, &sv), Verdict::Yes { .. }) {
                    continue;
                }
                let n = count.entry(i).or_default();
                if *n >= PER_PROBE_PER_CAPTURE {
                    continue;
                }
                *n += 1;
                match p.name {
                    "dicom" => {
                        c = first_dicom_pdu(&c).to_vec();
                        sv = first_dicom_pdu(&sv).to_vec();
                        out.put("dicom_associate", &format!("{stem}-rq"), &c);
                        out.put("dicom_associate", &format!("{stem}-ac"), &sv);
                    }
                    "hl7" => {
                        c = msh_only(&c);
                        sv = msh_only(&sv);
                        out.put("hl7_msh", &format!("{stem}-{n}-c"), &c);
                        out.put("hl7_msh", &format!("{stem}-{n}-s"), &sv);
                    }
                    "tls" if c.len() > 9 && c[0] == 0x16 && c[5] == 1 => {
                        let len = u32::from_be_bytes([0, c[6], c[7], c[8]]) as usize;
                        let body = &c[9..(9 + len).min(c.len())];
                        out.put("tls_client_hello", &format!("{stem}-{n}"), body);
                    }
                    _ => {}
                }
                let mut seed = vec![u8::try_from(i).unwrap()];
                seed.extend_from_slice(&u16::try_from(c.len()).unwrap().to_be_bytes());
                seed.extend_from_slice(&c);
                seed.extend_from_slice(&sv);
                out.put("probe_stream", &format!("{stem}-{}-{n}", p.name), &seed);
            }
        }
        // UDP datagrams.
        let mut count: BTreeMap<usize, usize> = BTreeMap::new();
        let mut exports = Vec::new();
        for d in support::udp_datagrams(&cap) {
            let ctx = Ctx { client_port: d.sport(), server_port: d.dport() };
            let side = if d.sport() < d.dport() { Side::Server } else { Side::Client };
            for (i, p) in DATAGRAM.iter().enumerate() {
                if !matches!((p.probe)(&ctx, side, &d.payload), Verdict::Yes { .. }) {
                    continue;
                }
                if p.name == "netflow" {
                    exports
                        .extend_from_slice(&u16::try_from(d.payload.len()).unwrap().to_be_bytes());
                    exports.extend_from_slice(&d.payload);
                }
                let n = count.entry(i).or_default();
                if *n >= 2 * PER_PROBE_PER_CAPTURE {
                    continue;
                }
                *n += 1;
                let mut seed = vec![u8::try_from(i).unwrap(), u8::from(side == Side::Server)];
                seed.extend_from_slice(&d.payload[..d.payload.len().min(MAX_SIDE)]);
                out.put("probe_datagram", &format!("{stem}-{}-{n}", p.name), &seed);
            }
        }
        if !exports.is_empty() {
            out.put("netflow_decoder", &stem, &exports);
        }
        // Link-layer PDUs.
        for (i, (_, kind, pdu)) in support::link_pdus(&cap).iter().enumerate() {
            let pick = u8::from(*kind == "cdp");
            let mut seed = vec![pick];
            seed.extend_from_slice(pdu);
            out.put("probe_frame", &format!("{stem}-{i}"), &seed);
        }
        // Small capture files whole; the start of the others.
        if !synthetic {
            let file = std::fs::read(support::path(&cap)).unwrap();
            out.put("capture_file", &stem, &file[..file.len().min(16 * 1024)]);
        }
    }
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/flows");
    let conn = std::fs::read(flows.join("zeek_baseline_conn.log")).unwrap();
    out.put("zeek_conn", "zeek_baseline_conn", &conn);
    out.put(
        "zeek_conn",
        "json_lines",
        br#"{"ts":1700000000.5,"uid":"C1","id.orig_h":"10.20.5.31","id.orig_p":46165,"id.resp_h":"10.20.1.10","id.resp_p":104,"proto":"tcp","service":"dicom","duration":1.5,"orig_bytes":100,"resp_bytes":200,"conn_state":"SF","orig_pkts":5,"orig_ip_bytes":360,"resp_pkts":4,"resp_ip_bytes":412}
"#,
    );
    assert!(out.bytes < 2 * 1024 * 1024, "{} bytes of seeds", out.bytes);
    for entry in walk(&out.root) {
        let data = std::fs::read(&entry).unwrap();
        let has = |pat: &[u8]| data.windows(pat.len()).any(|w| w == pat);
        assert!(!has(b"PID|") && !has(b"OBX|"), "{}: HL7 past MSH", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
