//! Every shared capture read and decoded: packet counts equal the
//! MANIFEST's, and the TCP/UDP packet and payload-byte counts equal
//! tshark's (computed once with `tshark -T fields -e frame.protocols -e
//! tcp.len -e udp.length`, the first transport of each frame, and written
//! here).

use std::path::{Path, PathBuf};

use sekimori_capture::Timestamp;
use sekimori_capture::file::{CaptureFile, Format, Problem};
use sekimori_proto::packet::{Layer3, LinkType, Transport, decode};

fn pcaps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps")
}

/// (file, packets, TCP packets, UDP packets, TCP payload bytes, UDP payload bytes)
const EXPECTED: &[(&str, u64, u64, u64, u64, u64)] = &[
    ("arkime_ikev1.pcap", 309, 0, 13, 0, 2640),
    ("arkime_nbns.pcap", 62, 0, 61, 0, 5945),
    ("arkime_wireshark_dhcp.pcap", 4, 0, 4, 0, 1144),
    ("arkime_wireshark_lldp.pcap", 3, 0, 0, 0, 0),
    ("gen_dicom_echo_store_find.pcap", 107, 107, 0, 102007, 0),
    ("gen_hl7_mllp_adt_oru.pcap", 23, 23, 0, 954, 0),
    ("gen_ipfix_softflowd_export.pcap", 2, 0, 2, 0, 1732),
    ("ndpi_anyconnect_vpn.pcap", 589, 422, 135, 76086, 17237),
    ("ndpi_bacnet.pcap", 23, 0, 23, 0, 398),
    ("ndpi_forticlient.pcap", 2000, 2000, 0, 298759, 0),
    ("ndpi_http_user_agent.pcapng", 115, 115, 0, 68704, 0),
    ("ndpi_ipsec_isakmp_esp.pcap", 834, 0, 834, 0, 416694),
    ("ndpi_netflowv9.pcap", 10, 0, 10, 0, 13468),
    ("ndpi_openvpn.pcap", 706, 336, 370, 32595, 69235),
    ("ndpi_ssdp_m_search_ua.pcap", 4, 0, 4, 0, 696),
    ("ndpi_syslog.pcap", 94, 11, 83, 136, 15511),
    ("ndpi_teamviewer.pcap", 352, 289, 63, 125458, 28998),
    ("ndpi_vnc.pcap", 4551, 4551, 0, 82266, 0),
    ("ndpi_wireguard.pcap", 52, 0, 52, 0, 10556),
    ("sv_dhcp_option60_vendor_class.pcap", 1, 0, 1, 0, 314),
    ("sv_ja4_tls.pcap", 13, 13, 0, 1855, 0),
    ("zeek_cdp_v1.pcap", 1, 0, 0, 0, 0),
    ("zeek_dhcp.pcap", 9, 0, 9, 0, 2594),
    ("zeek_mdns.pcap", 24, 0, 18, 0, 3486),
    ("zeek_rdp_proprietary_encryption.pcap", 542, 542, 0, 104778, 0),
    ("zeek_smb2.pcap", 1178, 1178, 0, 1522131, 0),
    ("zeek_ssh1_ssh2_fingerprints.pcap", 44, 44, 0, 4570, 0),
    ("zeek_tls_conn_with_extensions.pcap", 58, 58, 0, 19311, 0),
];

/// The MANIFEST's `pkts` column, by file name.
fn manifest_counts() -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(pcaps().join("MANIFEST.md")).unwrap();
    text.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cols.get(1)?;
            if !file.contains(".pcap") {
                return None;
            }
            let pkts = cols.get(3)?.replace(',', "").parse().ok()?;
            Some((file.to_string(), pkts))
        })
        .collect()
}

#[test]
fn every_capture_reads_and_decodes_as_tshark_counts() {
    let manifest = manifest_counts();
    assert_eq!(manifest.len(), EXPECTED.len(), "MANIFEST rows");
    let mut on_disk: Vec<String> = std::fs::read_dir(pcaps())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".pcap"))
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, EXPECTED.iter().map(|e| e.0.to_string()).collect::<Vec<_>>());

    for &(name, pkts, tcp, udp, tcp_bytes, udp_bytes) in EXPECTED {
        let manifest_pkts = manifest.iter().find(|(f, _)| f == name).map(|m| m.1);
        assert_eq!(manifest_pkts, Some(pkts), "{name}: MANIFEST");
        let mut f = CaptureFile::open(pcaps().join(name)).unwrap();
        let (mut n, mut t, mut u, mut tb, mut ub) = (0, 0, 0, 0, 0);
        while let Some(p) = f.next_packet().unwrap() {
            n += 1;
            assert_eq!(p.link, LinkType::Ethernet);
            assert_eq!(p.data.len(), p.caplen as usize);
            assert!(p.caplen <= p.origlen, "{name} packet {n}");
            let d = decode(p.link, p.data).unwrap_or_else(|e| panic!("{name} packet {n}: {e}"));
            match d.l3 {
                Layer3::Ip { transport: Transport::Tcp { payload, .. }, .. } => {
                    t += 1;
                    tb += payload.len() as u64;
                }
                Layer3::Ip { transport: Transport::Udp { payload, .. }, .. } => {
                    u += 1;
                    ub += payload.len() as u64;
                }
                _ => {}
            }
        }
        assert_eq!((n, t, u, tb, ub), (pkts, tcp, udp, tcp_bytes, udp_bytes), "{name}");
        // The end stays the end.
        assert!(f.next_packet().unwrap().is_none());
    }
}

#[test]
fn timestamps_and_lengths_match_tshark() {
    // tshark -c 1 -T fields -e frame.time_epoch -e frame.cap_len -e frame.len
    let cases = [
        ("gen_hl7_mllp_adt_oru.pcap", Timestamp(1_795_345_913_308_093_000), 74, 74),
        ("ndpi_bacnet.pcap", Timestamp(1_680_268_949_991_615_000), 60, 60),
        ("ndpi_openvpn.pcap", Timestamp(62_262_978_000), 56, 56),
    ];
    for (name, ts, caplen, origlen) in cases {
        let mut f = CaptureFile::open(pcaps().join(name)).unwrap();
        let p = f.next_packet().unwrap().unwrap();
        assert_eq!((p.ts, p.caplen, p.origlen), (ts, caplen, origlen), "{name}");
    }
    let f = CaptureFile::open(pcaps().join("gen_hl7_mllp_adt_oru.pcap")).unwrap();
    assert_eq!(f.format(), Format::Pcap { big_endian: false, nanos: false });
    let f = CaptureFile::open(pcaps().join("ndpi_bacnet.pcap")).unwrap();
    assert_eq!(f.format(), Format::PcapNg);
}

fn copy_truncated(name: &str, len: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(pcaps().join(name)).unwrap();
    let path = dir.path().join(format!("cut_{name}"));
    std::fs::write(&path, bytes.get(..len).unwrap()).unwrap();
    (dir, path)
}

#[test]
fn truncated_pcap_yields_complete_packets_then_the_offset() {
    // Record offsets in gen_hl7_mllp_adt_oru.pcap: 24, 114, 204, 286, 556,
    // 638, …; record 5 (at 556) has 66 bytes of data.
    // Cut inside record 5's data.
    let (_d, path) = copy_truncated("gen_hl7_mllp_adt_oru.pcap", 556 + 16 + 10);
    let mut f = CaptureFile::open(&path).unwrap();
    for _ in 0..4 {
        assert!(f.next_packet().unwrap().is_some());
    }
    let e = f.next_packet().unwrap_err();
    assert_eq!(e.offset, 556);
    assert_eq!(e.file, path);
    assert!(matches!(e.what, Problem::TruncatedPacket { have: 10, need: 66 }), "{e}");
    assert!(
        e.to_string().contains("byte 556: file ends 10 bytes into 66 bytes of packet data"),
        "{e}"
    );
    assert!(f.next_packet().unwrap().is_none());

    // Cut inside record 5's header.
    let (_d, path) = copy_truncated("gen_hl7_mllp_adt_oru.pcap", 556 + 7);
    let mut f = CaptureFile::open(&path).unwrap();
    for _ in 0..4 {
        assert!(f.next_packet().unwrap().is_some());
    }
    let e = f.next_packet().unwrap_err();
    assert_eq!(e.offset, 556);
    assert!(matches!(e.what, Problem::TruncatedRecordHeader { have: 7, need: 16 }), "{e}");

    // Cut inside the file header.
    let (_d, path) = copy_truncated("gen_hl7_mllp_adt_oru.pcap", 20);
    let e = CaptureFile::open(&path).unwrap_err();
    assert!(matches!(e.what, Problem::TruncatedFileHeader { have: 20, need: 24 }), "{e}");
}

#[test]
fn truncated_pcapng_yields_complete_packets_then_the_offset() {
    // ndpi_bacnet.pcap (pcapng): SHB at 0 (120 bytes), IDB at 120 (20),
    // EPBs of 92 bytes at 140, 232, 324, …
    let (_d, path) = copy_truncated("ndpi_bacnet.pcap", 324 + 50);
    let mut f = CaptureFile::open(&path).unwrap();
    assert!(f.next_packet().unwrap().is_some());
    assert!(f.next_packet().unwrap().is_some());
    let e = f.next_packet().unwrap_err();
    assert_eq!(e.offset, 324);
    assert!(matches!(e.what, Problem::TruncatedBlock { have: 50, need: 92 }), "{e}");
    assert!(f.next_packet().unwrap().is_none());
}

#[test]
fn not_a_capture_is_bad_magic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pcap");
    std::fs::write(&path, b"GET / HTTP/1.1\r\n\r\n....................").unwrap();
    let e = CaptureFile::open(&path).unwrap_err();
    assert_eq!(e.offset, 0);
    assert!(matches!(e.what, Problem::BadMagic(0x4745_5420)), "{e}");
    let e = CaptureFile::open(dir.path().join("missing.pcap")).unwrap_err();
    assert!(matches!(e.what, Problem::Io(_)));
}
