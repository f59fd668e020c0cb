//! The wire forms: exact lines for fixed alerts (insta snapshots), hostile
//! text, caps, and every line parsed back.

mod common;

use common::{AT, alert, parse_5424};
use sekimori_forward::Facility;
use sekimori_forward::format::{
    MessageSettings, NotAFrame, cef, cef_message, octet_counted, rfc5424, sanitize_hostname,
    take_octet_counted, timestamp, webhook_body,
};
use sekimori_types::{AlertKind, AlertSeverity, Evidence};
use time::macros::datetime;

fn settings(max_bytes: usize) -> MessageSettings {
    MessageSettings { facility: Facility::Local4, hostname: "sekimori-1".into(), max_bytes }
}

#[test]
fn rfc5424_line_for_a_fixed_alert() {
    let line = rfc5424(&alert(3), AT, &settings(8192));
    insta::assert_snapshot!("rfc5424_exfiltration", line);
    let m = parse_5424(&line).unwrap();
    assert_eq!(m.pri, 163, "local4 (20) * 8 + error (3)");
    assert_eq!(m.timestamp, "2026-11-05T01:10:00.250000Z");
    assert_eq!(m.sd[0].0, "sekimori@32473");
    assert_eq!(m.param("summary_ja"), Some("アラート 3：10.1.2.3 が 203.0.113.9 へ 1.2 GB を送信"));
    assert_eq!(m.param("d_threshold_bytes"), Some("500000000"));
    assert!(!m.bom, "an ASCII summary needs no BOM");
}

#[test]
fn rfc5424_line_without_evidence_and_a_japanese_summary() {
    let mut a = alert(1);
    a.kind = AlertKind::NewDevice;
    a.severity = AlertSeverity::Low;
    a.evidence = Evidence::default();
    a.summary = "新しい機器 ct-scanner-2".into();
    let s = MessageSettings { facility: Facility::Local7, hostname: "h".into(), max_bytes: 8192 };
    let line = rfc5424(&a, datetime!(2026-11-05 10:10:00 +9), &s);
    insta::assert_snapshot!("rfc5424_new_device_japanese", line);
    let m = parse_5424(&line).unwrap();
    assert_eq!(m.pri, 23 * 8 + 5);
    assert_eq!(m.timestamp, "2026-11-05T01:10:00Z", "UTC, no fraction when zero");
    assert!(m.bom);
    assert_eq!(m.msg, "新しい機器 ct-scanner-2");
}

#[test]
fn cef_line_for_a_fixed_alert() {
    let line = cef_message(&alert(3), AT, &settings(8192));
    insta::assert_snapshot!("cef_exfiltration", line);
    let m = parse_5424(&line).unwrap();
    assert!(m.sd.is_empty());
    assert!(m.msg.starts_with("CEF:0|sekimori|sekimori|"));
}

#[test]
fn webhook_body_for_a_fixed_alert() {
    let body = webhook_body(&alert(3), AT, "sekimori-1", 65536);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    insta::assert_snapshot!("webhook_exfiltration", serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn hostile_summaries_are_escaped_in_structured_data_and_flattened_in_msg() {
    let mut a = alert(1);
    a.summary = "a\"b]c\\d\ne\0f|g=h\u{2028}i".into();
    a.summary_ja = "引用\"]\\改行\n終".into();
    a.evidence.details.clear();
    a.evidence.detail("weird key=\"]", "v]\"\\");
    let line = rfc5424(&a, AT, &settings(8192));
    assert!(line.contains(r#" summary_ja="引用\"\]\\改行 終""#), "{line}");
    assert!(line.contains(r#" d_weird_key___="v\]\"\\""#), "{line}");
    assert!(line.ends_with(" a\"b]c\\d e f|g=h i"), "{line}");
    let m = parse_5424(&line).unwrap();
    assert_eq!(m.param("summary_ja"), Some("引用\"]\\改行 終"));
    assert_eq!(m.msg, "a\"b]c\\d e f|g=h i");
}

#[test]
fn cef_escapes_pipes_backslashes_equals_and_newlines() {
    let mut a = alert(1);
    a.summary = "name | with \\ and = and\nnewline".into();
    a.summary_ja = "値 = a|b \\ c\r\nd".into();
    a.evidence.details.clear();
    a.evidence.detail("rule", "x=y");
    let line = cef(&a, AT, 8192);
    let fields: Vec<&str> = split_unescaped_pipes(&line);
    assert_eq!(fields.len(), 8, "{line}");
    assert_eq!(fields[5], r"name \| with \\ and = and newline");
    assert!(line.contains(r" cs2Label=summary_ja cs2=値 \= a|b \\ c\r\nd"), "{line}");
    assert!(line.contains(r" cs3Label=details cs3=rule\=x\=y"), "{line}");
    assert!(!line.contains('\n') && !line.contains('\r'));
}

fn split_unescaped_pipes(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' if out.len() < 7 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[test]
fn long_text_is_cut_within_the_cap_at_character_boundaries() {
    let mut a = alert(1);
    a.summary = "流出".repeat(20_000) + "\"]";
    a.summary_ja = "\"".repeat(30_000);
    for i in 0..200 {
        a.evidence.detail(&format!("key{i}"), "value ".repeat(20));
    }
    for cap in [1024, 1500, 2048, 4096, 8191, 8192, 65_000] {
        let line = rfc5424(&a, AT, &settings(cap));
        assert!(line.len() <= cap, "{} > {cap}", line.len());
        assert!(line.len() + 16 > cap, "the cap is used: {} of {cap}", line.len());
        let m = parse_5424(&line).unwrap_or_else(|e| panic!("cap {cap}: {e}"));
        assert_eq!(m.param("truncated"), Some("true"));
        assert!(m.msg.starts_with("流出") && m.msg.ends_with('…'));
        assert!(m.param("summary_ja").unwrap().ends_with('…'));
        assert_eq!(m.param("id"), Some(a.id.to_string().as_str()), "identity always kept");
        assert_eq!(m.param("bytes"), Some("1200000000"));

        let c = cef_message(&a, AT, &settings(cap));
        assert!(c.len() <= cap, "cef {} > {cap}", c.len());
        let m = parse_5424(&c).unwrap();
        assert!(m.msg.contains(&format!("externalId={}", a.id)), "{c}");
    }
    // A short alert is not marked.
    let m = parse_5424(&rfc5424(&alert(1), AT, &settings(1024))).unwrap();
    assert_eq!(m.param("truncated"), None);
}

#[test]
fn details_go_first_when_space_is_short() {
    let mut a = alert(1);
    a.evidence.detail("big", "z".repeat(2000));
    let line = rfc5424(&a, AT, &settings(1024));
    let m = parse_5424(&line).unwrap();
    assert_eq!(m.param("d_big"), None);
    assert_eq!(m.param("truncated"), Some("true"));
    assert_eq!(m.msg, a.summary, "the summary still fits whole");
}

#[test]
fn webhook_bodies_are_capped_and_stay_json() {
    let mut a = alert(1);
    a.summary = "\0".repeat(100_000);
    a.comment = Some("コメント".repeat(10_000));
    let flow = a.evidence.flows[0].clone();
    for _ in 0..19 {
        a.evidence.push_flow(flow.clone());
    }
    for cap in [1024, 4096, 65_536] {
        let body = webhook_body(&a, AT, "h", cap);
        assert!(body.len() <= cap, "{} > {cap}", body.len());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["alert"]["id"], a.id.to_string());
    }
    let v: serde_json::Value =
        serde_json::from_slice(&webhook_body(&alert(1), AT, "h", 65_536)).unwrap();
    assert_eq!(v["truncated"], false);
    assert_eq!(v["alert"]["evidence"]["flows"].as_array().unwrap().len(), 1);
}

#[test]
fn octet_counting_counts_bytes_not_characters() {
    let mut out = Vec::new();
    octet_counted("日本".as_bytes(), &mut out);
    octet_counted(b"ab", &mut out);
    assert_eq!(out, "6 日本2 ab".as_bytes());
}

#[test]
fn octet_counted_frames_are_read_back_whole_split_anywhere() {
    let mut stream = Vec::new();
    octet_counted("日本".as_bytes(), &mut stream);
    octet_counted(b"ab", &mut stream);
    for cut in 0..=stream.len() {
        let mut buf = stream[..cut].to_vec();
        let mut got = Vec::new();
        while let Some(m) = take_octet_counted(&mut buf).unwrap() {
            got.push(m);
        }
        buf.extend_from_slice(&stream[cut..]);
        while let Some(m) = take_octet_counted(&mut buf).unwrap() {
            got.push(m);
        }
        assert_eq!(got, vec!["日本".as_bytes().to_vec(), b"ab".to_vec()], "cut at {cut}");
        assert!(buf.is_empty());
    }
    assert_eq!(take_octet_counted(&mut b"x1 a".to_vec()), Err(NotAFrame));
    assert_eq!(take_octet_counted(&mut b"99999999999999999999999 a".to_vec()), Err(NotAFrame));
}

#[test]
fn timestamps_and_hostnames_follow_rfc5424() {
    assert_eq!(
        timestamp(datetime!(2026-01-02 03:04:05.123456789 UTC)),
        "2026-01-02T03:04:05.123456Z"
    );
    assert_eq!(timestamp(datetime!(2026-01-02 12:00:00 +9)), "2026-01-02T03:00:00Z");
    assert_eq!(sanitize_hostname("病院 host\n1"), "host1");
    assert_eq!(sanitize_hostname(""), "-");
    assert_eq!(sanitize_hostname(&"h".repeat(300)).len(), 255);
}
