//! The analysis end to end on real captures (values cross-checked with
//! tshark), and on records and packets built here.

use std::net::IpAddr;

use sekimori_proto::FactKey;

use super::*;

fn pcap(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps").join(name)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

#[test]
fn dicom_capture_gives_one_identified_flow_and_two_assets() {
    // tshark -q -z conv,tcp: 10.20.5.31:46165 <-> 10.20.1.10:11112,
    // 86 frames / 106503 bytes from the SCU, 21 / 2582 back.
    let a = analyze_file(pcap("gen_dicom_echo_store_find.pcap"), &Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.flows.len(), 1);
    let f = &a.flows[0];
    assert_eq!(
        (f.src, f.sport, f.dst, f.dport),
        (ip("10.20.5.31"), 46165, ip("10.20.1.10"), 11112)
    );
    assert_eq!(f.transport, "tcp");
    assert_eq!((f.packets_out, f.packets_in, f.bytes_out, f.bytes_in), (86, 21, 106_503, 2582));
    assert_eq!(f.tcp_state, Some("closed"));
    assert!(!f.direction_guessed);
    assert_eq!(f.first.rfc3339(), "2026-11-22T11:11:44.869975Z");
    assert_eq!(f.last.rfc3339(), "2026-11-22T11:11:45.036451Z");
    // Identification is the DICOM module's; whatever it says must reach the
    // flow and the assets.
    if f.app == Some(App::Dicom) {
        let calling = f.facts.iter().find(|x| x.key == FactKey::DicomCallingAe);
        assert_eq!(calling.map(|x| x.value.as_str()), Some("CT_SCANNER_01"));
        let pacs = a.assets.iter().find(|x| x.ip == Some(ip("10.20.1.10")));
        assert_eq!(pacs.map(|p| p.role), Some(Some("pacs-or-modality")));
    }
    assert_eq!(a.assets.len(), 2);
    assert_eq!(a.stats.packets, 107);
    assert_eq!(a.stats.table.created, 1);
    // The JSON has exactly the contract's top-level keys.
    let v = serde_json::to_value(&a).unwrap_or_default();
    let keys: Vec<&String> = v.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["alerts", "assets", "flows"]);
    let text = serde_json::to_string(&a).unwrap_or_default();
    assert!(
        text.starts_with(r#"{"flows":[{"src":"10.20.5.31","dst":"10.20.1.10","sport":46165"#),
        "{text}"
    );
    assert_eq!(v["flows"][0]["bytes_out"], 106_503);
    assert_eq!(v["flows"][0]["first"], "2026-11-22T11:11:44.869975Z");
}

#[test]
fn conversations_add_up_to_the_flows() {
    let a = analyze_file(pcap("gen_dicom_echo_store_find.pcap"), &Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    // All 107 packets fall in one minute (tshark: epoch 1795345904..905).
    assert_eq!(a.conversations.len(), 1);
    let c = &a.conversations[0];
    assert_eq!(
        c.client_asset,
        a.assets
            .iter()
            .find(|x| x.ip == Some(ip("10.20.5.31")))
            .map(|x| x.id.clone())
            .unwrap_or_default()
    );
    assert_eq!(
        (
            c.counts.packets_out,
            c.counts.packets_in,
            c.counts.bytes_out,
            c.counts.bytes_in,
            c.counts.flows
        ),
        (86, 21, 106_503, 2582, 1)
    );
    assert_eq!(c.start.rfc3339(), "2026-11-22T11:11:00.000000Z");
}

#[test]
fn conversations_split_a_flow_at_bucket_boundaries() {
    let opts = Options { conversation_bucket: Duration::from_secs(1), ..Options::default() };
    let a =
        analyze_file(pcap("ndpi_ssdp_m_search_ua.pcap"), &opts).unwrap_or_else(|e| panic!("{e}"));
    // tshark: 4 frames of 216 bytes, at +0, +1, +2, +3 s: one flow, four buckets.
    assert_eq!(a.flows.len(), 1);
    assert_eq!(a.conversations.len(), 4, "{:#?}", a.conversations);
    assert!(a.conversations.iter().all(|c| c.counts.packets_out == 1 && c.counts.bytes_out == 216));
    assert_eq!(a.conversations.iter().map(|c| c.counts.flows).sum::<u64>(), 1);
    assert_eq!(
        a.conversations[0].service.to_string(),
        a.flows[0].app.map_or("udp/1900".into(), |x| x.to_string())
    );
}

#[test]
fn a_truncated_capture_keeps_what_was_read_and_names_the_offset() {
    let whole = std::fs::read(pcap("gen_dicom_echo_store_find.pcap")).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, whole.get(..50_000).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let out = analyze_files(&[cut.as_path()], &Options::default());
    let Some(Error::Capture(e)) = &out.error else { panic!("no error: {:?}", out.error) };
    // Record 47 starts at byte 48555 and needs 1514 bytes; the file ends first.
    assert_eq!(e.offset, 48_555, "{e}");
    assert_eq!(e.file, cut);
    // The 46 records before it are in the result (tshark -c 46: 38 frames /
    // 46745 bytes from the SCU, 8 / 1050 back).
    let f = &out.analysis.flows[0];
    assert_eq!((f.packets_out, f.packets_in, f.bytes_out, f.bytes_in), (38, 8, 46_745, 1050));
    assert_eq!(out.analysis.stats.packets, 46);
}

#[test]
fn several_files_are_one_analysis() {
    let files = [pcap("gen_hl7_mllp_adt_oru.pcap"), pcap("gen_dicom_echo_store_find.pcap")];
    let out = analyze_files(&files, &Options::default());
    assert!(out.error.is_none(), "{:?}", out.error);
    let a = out.analysis;
    assert_eq!(a.stats.files, 2);
    assert_eq!(a.flows.len(), 3);
    // Sorted by first packet time.
    assert!(a.flows.windows(2).all(|w| w[0].first <= w[1].first));
    assert_eq!(a.assets.len(), 4);
    let ips: Vec<Option<IpAddr>> = a.assets.iter().map(|x| x.ip).collect();
    let mut sorted = ips.clone();
    sorted.sort();
    assert_eq!(ips, sorted, "assets by IP");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let out = analyze_files(&[pcap("no-such.pcap")], &Options::default());
    let Some(Error::Capture(e)) = out.error else { panic!("no error") };
    assert!(e.to_string().contains("no-such.pcap"), "{e}");
    assert!(out.analysis.flows.is_empty());
}

#[test]
fn identification_can_be_off() {
    let opts = Options { identify: false, ..Options::default() };
    let a =
        analyze_file(pcap("gen_hl7_mllp_adt_oru.pcap"), &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.flows.len(), 2);
    assert!(a.flows.iter().all(|f| f.app.is_none() && f.facts.is_empty()));
    assert!(a.flows.iter().all(|f| f.port_hint == Some("hl7")));
}

#[test]
fn esp_is_named_by_its_protocol() {
    let a = analyze_file(pcap("arkime_ikev1.pcap"), &Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let esp: Vec<&FlowRecord> = a.flows.iter().filter(|f| f.transport == "esp").collect();
    assert_eq!(esp.len(), 1);
    assert_eq!(esp[0].app, Some(App::Esp));
    // tshark -Y esp: 148 packets each way between 2003:51:6012::2 and ::4.
    assert_eq!((esp[0].packets_out, esp[0].packets_in), (148, 148));
}

#[test]
fn external_flow_records_join_the_analysis() {
    let mut an = Analyzer::new(&Options::default());
    an.external_flow(&ExternalFlow {
        source: sekimori_capture::FlowSource::ZeekConn,
        id: Some("CHhAvVGS1DHFjwGM9".into()),
        src: ip("10.20.7.44"),
        dst: ip("10.20.1.20"),
        sport: 33361,
        dport: 2575,
        protocol: 6,
        packets_out: 8,
        packets_in: 5,
        bytes_out: 600,
        bytes_in: 300,
        first: sekimori_capture::Timestamp::from_secs_nanos(1_700_000_000, 0),
        last: sekimori_capture::Timestamp::from_secs_nanos(1_700_000_001, 0),
        app_hint: None,
        src_mac: None,
        dst_mac: None,
    });
    let a = an.finish();
    assert_eq!(a.flows.len(), 1);
    assert_eq!(a.flows[0].end, EndReason::Imported);
    assert_eq!(a.flows[0].port_hint, Some("hl7"));
    assert_eq!(a.assets.len(), 2);
    assert_eq!(a.conversations.len(), 1);
    assert_eq!(a.conversations[0].counts.bytes_out, 600);
    assert_eq!(a.stats.imported_flows, 1);
}

#[test]
fn a_zeek_conn_log_is_read_as_flow_records() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let log = dir.path().join("conn.log");
    let text = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\n\
        #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tcount\tcount\tcount\tcount\n\
        1700000000.000000\tC1\t10.20.5.31\t46165\t10.20.1.10\t104\ttcp\t-\t1.5\t100\t200\tSF\t5\t360\t4\t412\n\
        1700000001.000000\tC2\t10.20.5.31\t53000\t10.20.0.53\t53\tudp\tdns\t0.01\t30\t60\tSF\t1\t58\t1\t88\n";
    std::fs::write(&log, text).unwrap_or_else(|e| panic!("{e}"));
    let a = analyze_file(&log, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.flows.len(), 2);
    let f = &a.flows[0];
    assert_eq!(
        (f.src, f.dport, f.packets_out, f.bytes_out, f.bytes_in),
        (ip("10.20.5.31"), 104, 5, 360, 412)
    );
    assert_eq!(f.port_hint, Some("dicom"));
    assert_eq!(a.flows[1].port_hint, Some("dns"));
    assert_eq!(a.stats.imported_flows, 2);
    assert_eq!(a.assets.len(), 3);
}

#[test]
fn a_bad_conn_log_line_is_named() {
    // Zeek's own baseline masks timestamps ("XXXXXXXXXX.XXXXXX"): line 10's
    // ts is not a time.
    let log = pcap("../flows/zeek_baseline_conn.log");
    let out = analyze_files(&[log], &Options::default());
    let Some(Error::ConnLog(e)) = &out.error else { panic!("{:?}", out.error) };
    assert_eq!((e.line, e.field), (10, Some("ts")), "{e}");
}

#[test]
fn a_file_that_is_neither_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "hello, this is not a capture\n").unwrap_or_else(|e| panic!("{e}"));
    let out = analyze_files(&[junk], &Options::default());
    let Some(Error::Capture(e)) = &out.error else { panic!("{:?}", out.error) };
    assert!(matches!(e.what, Problem::BadMagic(_)), "{e}");
}

#[test]
fn ipfix_export_datagrams_in_a_capture_become_flows() {
    // tshark -d udp.port==4739,cflow: two IPFIX messages from softflowd
    // holding 24 + 8 data records (templates 1024/1025, times as uptime
    // plus the System Init Time 1795345956.603 its options record gives).
    let a = analyze_file(pcap("gen_ipfix_softflowd_export.pcap"), &Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let exported: Vec<&FlowRecord> = a.flows.iter().filter(|f| f.source == "ipfix").collect();
    assert_eq!(exported.len(), 32);
    assert_eq!(a.stats.imported_flows, 32);
    assert_eq!(a.stats.export_errors, 0);
    // The export datagrams themselves are one observed flow.
    let observed: Vec<&FlowRecord> = a.flows.iter().filter(|f| f.source == "packets").collect();
    assert_eq!(observed.len(), 1);
    assert_eq!(observed[0].app, Some(App::Ipfix));
    assert!(exported.iter().all(|f| f.end == EndReason::Imported && f.app.is_none()));

    let find = |sport: u16, dport: u16| {
        exported
            .iter()
            .find(|f| f.sport == sport && f.dport == dport)
            .unwrap_or_else(|| panic!("no record {sport} -> {dport}"))
    };
    let init_ms = 1_795_345_956_603u64;
    let f = find(60201, 443);
    assert_eq!((f.src, f.dst, f.transport), (ip("192.168.75.18"), ip("166.161.181.18"), "udp"));
    assert_eq!((f.packets_out, f.bytes_out, f.packets_in, f.bytes_in), (10, 3195, 0, 0));
    assert_eq!(f.first.0, (init_ms + 4_245_402_683) * 1_000_000);
    assert_eq!(f.last.0, (init_ms + 4_245_402_990) * 1_000_000);
    let f = find(35732, 5938);
    assert_eq!((f.transport, f.packets_out, f.bytes_out), ("tcp", 129, 66_191));
    assert_eq!(f.port_hint, Some("teamviewer"));
    let f = find(35033, 2575);
    assert_eq!((f.src, f.dst), (ip("10.20.7.44"), ip("10.20.1.20")));
    assert_eq!((f.transport, f.packets_out, f.bytes_out), ("tcp", 6, 509));
    assert_eq!(f.port_hint, Some("hl7"));
    // Their endpoints are in the inventory.
    assert!(a.assets.iter().any(|x| x.ip == Some(ip("10.20.7.44"))));
    let v = serde_json::to_value(&a).unwrap_or_default();
    let sources: std::collections::BTreeSet<&str> = v["flows"]
        .as_array()
        .map(|fs| fs.iter().filter_map(|f| f["source"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(sources, ["ipfix", "packets"].into());
}

#[test]
fn netflow_v9_without_templates_yields_no_records() {
    // The nDPI capture never carries a template: 23 data sets are counted
    // by the decoder, no record can be read.
    let a = analyze_file(pcap("ndpi_netflowv9.pcap"), &Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.flows.len(), 1);
    assert_eq!(a.flows[0].app, Some(App::NetflowV9));
    assert_eq!(a.stats.imported_flows, 0);
}

#[test]
fn progress_reports_every_byte_once_and_each_flow_ending() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    // (bytes out, bytes in, updates, ended) per flow id; ticks.
    type Seen = (HashMap<u64, (u64, u64, u32, bool)>, Vec<Timestamp>);
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let sink = {
        let seen = Arc::clone(&seen);
        Box::new(move |p: Progress<'_>| {
            let mut s = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match p {
                Progress::Flow(u) => {
                    let e = s.0.entry(u.id).or_default();
                    assert!(!e.3, "an update after the flow ended");
                    *e = (e.0 + u.bytes_out, e.1 + u.bytes_in, e.2 + 1, u.ended);
                }
                Progress::Tick(t) => s.1.push(t),
            }
        })
    };
    let out = analyze_files_with_progress(
        &[pcap("gen_dicom_echo_store_find.pcap"), pcap("zeek_smb2.pcap")],
        &Options::default(),
        sink,
    );
    assert!(out.error.is_none());
    let flows = out.analysis.flows;
    let s = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!(s.0.len(), flows.len(), "one id per flow record");
    let total = |f: &[FlowRecord]| {
        f.iter().map(|r| (r.bytes_out, r.bytes_in)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    let reported = s.0.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    assert_eq!(reported, total(&flows), "every byte reported once, in its direction");
    assert!(s.0.values().all(|v| v.3), "every flow's last update says it ended");
    assert!(s.0.values().any(|v| v.2 > 1), "a long flow reports while it runs");
    assert!(!s.1.is_empty(), "time ticks");
    assert!(
        s.1.windows(2).all(|w| w[0] <= w[1] || w[1].plus(std::time::Duration::from_secs(2)) < w[0])
    );
}
