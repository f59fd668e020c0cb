//! Zeek conn.log: the shared baseline log (TSV), JSON lines with both
//! timestamp forms, and malformed lines that are reported and skipped.

use std::io::Cursor;
use std::net::IpAddr;
use std::path::Path;

use sekimori_capture::zeek::{ConnReader, ZeekProblem, read_conn_log};
use sekimori_capture::{ExternalFlow, FlowSource, Timestamp};

fn baseline() -> String {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/flows/zeek_baseline_conn.log");
    std::fs::read_to_string(p).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn baseline_log_with_canonified_timestamps_reports_every_line() {
    // btest replaced every ts by XXXXXXXXXX.XXXXXX: each data line (10 to
    // 73) is an error naming the line and the ts field.
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/flows/zeek_baseline_conn.log");
    let (ok, bad) = read_conn_log(&p).unwrap();
    assert!(ok.is_empty());
    assert_eq!(bad.len(), 64);
    assert_eq!(bad.first().map(|e| (e.line, e.field)), Some((10, Some("ts"))));
    assert_eq!(bad.last().map(|e| (e.line, e.field)), Some((73, Some("ts"))));
    let e = bad.first().unwrap();
    assert!(matches!(&e.what, ZeekProblem::Invalid(v) if v == "XXXXXXXXXX.XXXXXX"));
    assert!(
        e.to_string().ends_with(
            "zeek_baseline_conn.log: line 10, field ts: invalid value \"XXXXXXXXXX.XXXXXX\""
        ),
        "{e}"
    );
}

#[test]
fn baseline_log_records() {
    let text = baseline().replace("XXXXXXXXXX.XXXXXX", "1300475167.096535");
    let recs: Vec<_> =
        ConnReader::new("conn.log", Cursor::new(text)).collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 64);
    let count = |p: &str| recs.iter().filter(|r| r.proto == p).count();
    assert_eq!((count("tcp"), count("udp"), count("unknown_transport")), (16, 16, 32));
    let proto = |n: u8| recs.iter().filter(|r| r.ip_proto == n).count();
    assert_eq!((proto(6), proto(17), proto(99), proto(132)), (16, 16, 16, 16));
    assert_eq!(recs.iter().map(|r| r.orig_pkts.unwrap()).sum::<u64>(), 128);
    assert_eq!(recs.iter().map(|r| r.orig_ip_bytes.unwrap()).sum::<u64>(), 5120);

    let first = recs.first().unwrap();
    assert_eq!(first.ts, Timestamp(1_300_475_167_096_535_000));
    assert_eq!(first.uid, "C7fIlMZDuRiqjpYbb");
    assert_eq!(
        (first.orig_h, first.orig_p, first.resp_h, first.resp_p),
        (ip("1.1.1.6"), 57005, ip("2.2.2.2"), 48879)
    );
    assert_eq!(first.service, None);
    assert_eq!(first.duration, Some(1_018_000));
    assert_eq!((first.orig_bytes, first.resp_bytes), (Some(0), Some(0)));
    assert_eq!(first.conn_state.as_deref(), Some("S0"));
    assert_eq!((first.orig_pkts, first.resp_pkts), (Some(2), Some(0)));

    let last = recs.last().unwrap();
    assert_eq!(last.uid, "CtEfXf4f39NRDu1Dr4");
    assert_eq!((last.orig_h, last.resp_h, last.ip_proto), (ip("1234::51"), ip("5678::"), 99));
    assert_eq!(last.conn_state.as_deref(), Some("OTH"));

    let flow = ExternalFlow::from(first);
    assert_eq!(
        flow,
        ExternalFlow {
            source: FlowSource::ZeekConn,
            id: Some("C7fIlMZDuRiqjpYbb".into()),
            src: ip("1.1.1.6"),
            dst: ip("2.2.2.2"),
            sport: 57005,
            dport: 48879,
            protocol: 6,
            packets_out: 2,
            packets_in: 0,
            bytes_out: 80,
            bytes_in: 0,
            first: Timestamp(1_300_475_167_096_535_000),
            last: Timestamp(1_300_475_167_097_553_000),
            app_hint: None,
            src_mac: None,
            dst_mac: None,
        }
    );
}

#[test]
fn json_lines_with_float_and_iso_timestamps() {
    let text = concat!(
        r#"{"ts":1591367999.305988,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76","id.orig_p":36844,"id.resp_h":"192.168.4.1","id.resp_p":53,"proto":"udp","service":"dns","duration":0.06685185432434082,"orig_bytes":62,"resp_bytes":141,"conn_state":"SF","missed_bytes":0,"history":"Dd","orig_pkts":2,"orig_ip_bytes":118,"resp_pkts":2,"resp_ip_bytes":197,"orig_l2_addr":"00:0c:29:aa:bb:cc","resp_l2_addr":"fc:ec:da:49:e0:10"}"#,
        "\n\n",
        r#"{"ts":"2020-06-05T14:39:59.305988Z","uid":"C2","id.orig_h":"fe80::1","id.orig_p":135,"id.resp_h":"ff02::1","id.resp_p":136,"proto":"icmp","conn_state":"OTH"}"#,
        "\n",
    );
    let recs: Vec<_> =
        ConnReader::new("conn.json", Cursor::new(text)).collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 2);
    let a = &recs[0];
    assert_eq!(a.ts, Timestamp(1_591_367_999_305_988_000));
    assert_eq!(a.service.as_deref(), Some("dns"));
    assert_eq!(a.duration, Some(66_851_854));
    assert_eq!((a.orig_ip_bytes, a.resp_ip_bytes, a.ip_proto), (Some(118), Some(197), 17));
    assert_eq!(a.orig_l2_addr, Some([0x00, 0x0c, 0x29, 0xaa, 0xbb, 0xcc]));
    assert_eq!(a.resp_l2_addr, Some([0xfc, 0xec, 0xda, 0x49, 0xe0, 0x10]));
    let b = &recs[1];
    assert_eq!(b.ts, Timestamp(1_591_367_999_305_988_000));
    assert_eq!((b.ip_proto, b.orig_pkts, b.duration), (58, None, None));
}

#[test]
fn malformed_lines_are_errors_and_the_rest_is_kept() {
    let text = baseline().replace("XXXXXXXXXX.XXXXXX", "1300475167.096535");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Line 11: a port that is not a number; line 12: a field missing.
    lines[10] = lines[10].replace("\t57005\t", "\tfoo\t");
    lines[11] = lines[11].rsplit_once('\t').unwrap().0.to_owned();
    let mut r = ConnReader::new("conn.log", Cursor::new(lines.join("\n")));
    assert!(r.next().unwrap().is_ok());
    let e = r.next().unwrap().unwrap_err();
    assert_eq!((e.line, e.field), (11, Some("id.orig_p")));
    let e = r.next().unwrap().unwrap_err();
    assert_eq!(e.line, 12);
    assert!(matches!(e.what, ZeekProblem::FieldCount { got: 21, want: 22 }), "{e}");
    assert_eq!(r.filter(Result::is_ok).count(), 61);

    // JSON: a bad address and broken JSON, each one line.
    let text = "{\"ts\":1,\"uid\":\"C1\",\"id.orig_h\":\"1.2.3\",\"id.orig_p\":1,\"id.resp_h\":\"1.2.3.4\",\"id.resp_p\":2,\"proto\":\"tcp\"}\n{not json\n";
    let errs: Vec<_> =
        ConnReader::new("c.json", Cursor::new(text)).map(|r| r.unwrap_err()).collect();
    assert_eq!(errs.len(), 2);
    assert_eq!((errs[0].line, errs[0].field), (1, Some("id.orig_h")));
    assert!(matches!(errs[1].what, ZeekProblem::Json(_)));
    assert_eq!(errs[1].line, 2);

    // A data line before #fields.
    let e = ConnReader::new("c.log", Cursor::new("a\tb\n")).next().unwrap().unwrap_err();
    assert!(matches!(e.what, ZeekProblem::NoFieldsHeader));
}

#[test]
fn over_long_lines_are_skipped() {
    let mut text = String::from("{\"ts\":");
    text.push_str(&"1".repeat(100_000));
    text.push_str("}\n");
    text.push_str(r#"{"ts":2,"uid":"C","id.orig_h":"1.1.1.1","id.orig_p":1,"id.resp_h":"2.2.2.2","id.resp_p":2,"proto":"udp"}"#);
    let got: Vec<_> = ConnReader::new("long.json", Cursor::new(text)).collect();
    assert_eq!(got.len(), 2);
    assert!(matches!(got[0].as_ref().unwrap_err().what, ZeekProblem::LineTooLong(_)));
    assert_eq!(got[1].as_ref().unwrap().ts, Timestamp(2_000_000_000));
}
