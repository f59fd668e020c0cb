//! JSON Lines export: round trip, offline verification, hostile input.

mod common;

use std::io::Cursor;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use common::{Fixture, build, build_with, entry, key};
use sekimori_audit::{
    ExportErrorKind, ExportItem, FailureKind, JsonlReader, MAX_LINE_BYTES, read_jsonl, write_jsonl,
};
use sekimori_types::{Lang, Localized};

fn export(f: &Fixture) -> Vec<u8> {
    let mut out = Vec::new();
    let n = write_jsonl(
        &mut out,
        &f.key.public_key(),
        f.records.iter().cloned(),
        &f.checkpoints,
        f.head.as_ref(),
    )
    .expect("write");
    assert_eq!(n, f.records.len() as u64);
    out
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec()).expect("utf-8").lines().map(str::to_owned).collect()
}

#[test]
fn round_trip_then_verify_offline() {
    let f = build(37, 5);
    let bytes = export(&f);
    let log = read_jsonl(Cursor::new(&bytes)).expect("read");
    assert_eq!(log.public_key, f.key.public_key());
    assert_eq!(log.records, f.records);
    assert_eq!(log.checkpoints, f.checkpoints);
    assert_eq!(log.head, f.head);
    // The store's default interval would want no checkpoint in 37 records,
    // but the file has some every 5: extra checkpoints are checked too.
    let report = log.verify(&f.key.public_key()).expect("intact");
    assert_eq!((report.records, report.checkpoints_checked), (37, 7));
}

#[test]
fn line_layout() {
    let f = build(3, 2);
    let l = lines(&export(&f));
    assert_eq!(l.len(), 1 + 3 + 1 + 1);
    assert_eq!(l[0], format!(r#"{{"public_key":"{}"}}"#, f.key.public_key().to_hex()));
    let rec: serde_json::Value = serde_json::from_str(&l[2]).expect("json");
    assert!(l[2].starts_with(r#"{"seq":2,"time":""#), "{}", l[2]);
    let at = |k: &str| l[2].find(k).unwrap_or_else(|| panic!("{k}"));
    let order = [at(r#","prev_hash":""#), at(r#","hash":""#), at(r#","body":""#)];
    assert!(order.is_sorted() && order[2] < l[2].rfind(r#","actor":{"#).expect("actor"));
    assert!(l[2].rfind(r#","actor":{"#) < l[2].rfind(r#","event":{"#));
    assert_eq!(rec["seq"], 2);
    assert_eq!(rec["body"], f.records[1].body.as_str());
    assert_eq!(rec["actor"]["kind"], "anonymous");
    assert_eq!(rec["event"]["type"], "server_stopped");
    let time = rec["time"].as_str().expect("time");
    assert_eq!(time, "2026-09-21T14:13:22.469134Z");
    assert!(l[4].starts_with(r#"{"checkpoint":{"seq":2,"#), "{}", l[4]);
    assert!(l[5].starts_with(r#"{"head":{"seq":3,"#), "{}", l[5]);
}

#[test]
fn verify_uses_the_trusted_key_not_the_files() {
    let f = build(5, 2);
    let log = read_jsonl(Cursor::new(export(&f))).expect("read");
    let e = log.verify(&key().public_key()).expect_err("other key");
    assert_eq!(e.seq, 2);
    assert!(matches!(e.kind, FailureKind::CheckpointSignatureInvalid { head: false }), "{e:?}");
}

#[test]
fn a_tampered_log_exports_and_fails_the_same_way() {
    let mut f = build(12, 4);
    f.records[5].body = f.records[5].body.replace("user", "resu");
    f.records[8].ts_micros = i64::MIN; // outside RFC 3339: written as ts_micros
    f.records[9].body = "not json".into();
    let direct = f.verify().expect_err("tampered");
    let bytes = export(&f);
    assert!(lines(&bytes)[9].contains(r#""ts_micros":-9223372036854775808"#));
    assert!(!lines(&bytes)[10].contains(r#""actor""#));
    let log = read_jsonl(Cursor::new(bytes)).expect("read");
    assert_eq!(log.records, f.records);
    let offline = log.verify(&f.key.public_key()).expect_err("tampered");
    assert_eq!(offline, direct);
    assert_eq!(offline.seq, 6);
}

fn err_of(input: &[u8]) -> (u64, ExportErrorKind) {
    let e = match read_jsonl(Cursor::new(input)) {
        Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(input)),
        Err(e) => e,
    };
    assert!(e.to_string().starts_with(&format!("line {}: ", e.line)), "{e}");
    assert!(
        e.localized(Lang::Ja).contains(&format!("{} 行目", e.line)),
        "{}",
        e.localized(Lang::Ja)
    );
    (e.line, e.kind)
}

/// A valid export's lines, to break one of them.
fn valid_lines() -> Vec<String> {
    lines(&export(&build(4, 2)))
}

fn join(l: &[String]) -> Vec<u8> {
    let mut s = l.join("\n");
    s.push('\n');
    s.into_bytes()
}

#[test]
fn hostile_empty_or_keyless() {
    assert!(matches!(err_of(b""), (1, ExportErrorKind::MissingPublicKey)));
    let l = valid_lines();
    assert!(matches!(err_of(&join(&l[1..])), (1, ExportErrorKind::MissingPublicKey)));
    assert!(matches!(err_of(b"{\"public_key\":\"abcd\"}\n"), (1, ExportErrorKind::BadPublicKey)));
    let mut two = l.clone();
    two.insert(3, l[0].clone());
    assert!(matches!(err_of(&join(&two)), (4, ExportErrorKind::UnexpectedPublicKey)));
}

#[test]
fn hostile_truncated_line() {
    let bytes = join(&valid_lines());
    let cut = &bytes[..bytes.len() - 10];
    let n = lines(&bytes).len() as u64;
    assert!(matches!(err_of(cut), (line, ExportErrorKind::Truncated) if line == n));
    assert!(
        matches!(err_of(&bytes[..bytes.len() - 1]), (line, ExportErrorKind::Truncated) if line == n)
    );
}

#[test]
fn hostile_bad_hex() {
    let mut l = valid_lines();
    l[2] = l[2].replacen("\"hash\":\"", "\"hash\":\"zz", 1);
    let (line, kind) = err_of(&join(&l));
    assert_eq!(line, 3);
    assert!(
        matches!(&kind, ExportErrorKind::Json { reason, .. } if reason.contains("hex")),
        "{kind}"
    );
    let mut l = valid_lines();
    l[6] = l[6].replacen("\"signature\":\"", "\"signature\":\"0", 1);
    let (line, kind) = err_of(&join(&l));
    assert_eq!(line, 7);
    assert!(matches!(kind, ExportErrorKind::Json { .. }), "{kind}");
}

#[test]
fn hostile_huge_line() {
    let l = valid_lines();
    let mut bytes = join(&l[..2]);
    bytes.extend(std::iter::repeat_n(b'a', 3 * MAX_LINE_BYTES));
    bytes.push(b'\n');
    let (line, kind) = err_of(&bytes);
    assert_eq!(line, 3);
    assert!(matches!(kind, ExportErrorKind::LineTooLong { limit: MAX_LINE_BYTES }), "{kind}");
    // Exactly at the cap is a (bad JSON) line, not a too-long one.
    let mut bytes = join(&l[..1]);
    bytes.extend(std::iter::repeat_n(b' ', MAX_LINE_BYTES));
    bytes.push(b'\n');
    assert!(matches!(err_of(&bytes), (2, ExportErrorKind::Json { .. })));
}

#[test]
fn hostile_wrong_types_and_fields() {
    let cases: &[(&str, &str)] = &[
        (r#""seq":1,"#, r#""seq":"1","#),
        (r#""seq":1,"#, r#""seq":-1,"#),
        (r#""seq":1,"#, r#""seq":1e3,"#),
        (r#""seq":1,"#, r#""seq":1,"extra":true,"#),
        (r#""seq":1,"#, r#""seq":1,"seq":1,"#),
        (r#""body":""#, r#""body":null,"x":""#),
    ];
    for (from, to) in cases {
        let mut l = valid_lines();
        assert!(l[1].contains(from));
        l[1] = l[1].replacen(from, to, 1);
        let (line, kind) = err_of(&join(&l));
        assert_eq!(line, 2, "{to}");
        assert!(matches!(kind, ExportErrorKind::Json { .. }), "{to}: {kind}");
    }
    for bad in ["[]", "1", "null", "{}", "\"x\"", "{\"checkpoint\":null}"] {
        let mut l = valid_lines();
        l[1] = bad.into();
        let (line, kind) = err_of(&join(&l));
        assert_eq!(line, 2, "{bad}");
        assert!(
            matches!(kind, ExportErrorKind::Json { .. } | ExportErrorKind::UnknownLine),
            "{bad}: {kind}"
        );
    }
    let mut l = valid_lines();
    l[2] = l[2].replacen("{", &format!("{{\"public_key\":\"{}\",", "00".repeat(32)), 1);
    assert!(matches!(err_of(&join(&l)), (3, ExportErrorKind::UnknownLine)));
    let mut bytes = join(&valid_lines()[..2]);
    bytes.extend_from_slice(b"{\"seq\":\xff}\n");
    assert!(matches!(err_of(&bytes), (3, ExportErrorKind::Json { .. })));
}

#[test]
fn hostile_record_fields() {
    let mut l = valid_lines();
    l[1] = l[1].replacen(r#""hash":"#, r#""hashx":"#, 1);
    assert!(matches!(err_of(&join(&l)), (2, ExportErrorKind::Json { .. })));
    let strip = |line: &str, key: &str| -> String {
        let mut v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).expect("json");
        v.remove(key);
        serde_json::to_string(&v).expect("json")
    };
    for (key, want) in
        [("seq", "seq"), ("prev_hash", "prev_hash"), ("hash", "hash"), ("body", "body")]
    {
        let mut l = valid_lines();
        l[1] = strip(&l[1], key);
        assert!(
            matches!(err_of(&join(&l)), (2, ExportErrorKind::MissingField(f)) if f == want),
            "{key}"
        );
    }
    let mut l = valid_lines();
    l[1] = strip(&l[1], "time");
    assert!(matches!(err_of(&join(&l)), (2, ExportErrorKind::BadTime { reason: "missing" })));
    let mut l = valid_lines();
    l[1] = l[1].replacen(r#""prev_hash""#, r#""ts_micros":5,"prev_hash""#, 1);
    assert!(matches!(
        err_of(&join(&l)),
        (2, ExportErrorKind::BadTime { reason: "both_time_and_ts_micros" })
    ));
    // Only the canonical form: 'T', six digits, 'Z'.
    for (from, to) in [("Z\"", "1Z\""), ("T", " "), ("T", "t"), ("Z\"", "+00:00\""), ("Z\"", "\"")]
    {
        let mut l = valid_lines();
        l[1] = l[1].replacen(from, to, 1);
        let (line, kind) = err_of(&join(&l));
        assert_eq!(line, 2);
        assert!(
            matches!(kind, ExportErrorKind::BadTime { reason: "not_rfc3339_utc_micros" }),
            "{to}: {kind}"
        );
    }
}

#[test]
fn hostile_parsed_copies_must_match_the_body() {
    let mut l = valid_lines();
    assert!(l[1].contains(r#","actor":{"kind":"user""#));
    l[1] = l[1].replacen(r#","actor":{"kind":"user""#, r#","actor":{"kind":"system""#, 1);
    assert!(matches!(err_of(&join(&l)), (2, ExportErrorKind::ParsedMismatch { field: "actor" })));
    let mut l = valid_lines();
    l[2] = strip_event(&l[2]);
    assert!(matches!(err_of(&join(&l)), (3, ExportErrorKind::ParsedMismatch { field: "event" })));
}

fn strip_event(line: &str) -> String {
    let i = line.find(r#","event":"#).expect("event");
    format!("{}}}", &line[..i])
}

#[test]
fn hostile_second_head() {
    let mut l = valid_lines();
    let head = l.last().expect("head").clone();
    l.push(head);
    let n = l.len() as u64;
    assert!(matches!(err_of(&join(&l)), (line, ExportErrorKind::DuplicateHead) if line == n));
}

/// Every prefix of an export is rejected or fails verification, except the
/// whole file and the key line alone (an empty log: nothing to disprove).
#[test]
fn every_prefix_is_rejected_or_fails_verification() {
    let f = build(6, 4);
    let bytes = export(&f);
    let first_line = bytes.iter().position(|b| *b == b'\n').expect("newline") + 1;
    for cut in 0..bytes.len() {
        match read_jsonl(Cursor::new(&bytes[..cut])) {
            Err(_) => {}
            Ok(log) if cut == first_line => assert!(log.records.is_empty()),
            Ok(log) => {
                let r = log.verify(&f.key.public_key());
                assert!(r.is_err(), "prefix of {cut} bytes verified: {r:?}");
            }
        }
    }
    read_jsonl(Cursor::new(&bytes)).expect("whole").verify(&f.key.public_key()).expect("intact");
}

#[test]
fn streaming_reader_yields_items_in_order() {
    let f = build(3, 2);
    let items: Vec<_> =
        JsonlReader::new(Cursor::new(export(&f))).collect::<Result<_, _>>().expect("read");
    assert!(matches!(items[0], ExportItem::PublicKey(k) if k == f.key.public_key()));
    assert!(matches!(&items[1], ExportItem::Record(r) if *r == f.records[0]));
    assert!(matches!(&items[4], ExportItem::Checkpoint(c) if *c == f.checkpoints[0]));
    assert!(matches!(&items[5], ExportItem::Head(h) if Some(h) == f.head.as_ref()));
    assert_eq!(items.len(), 6);
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        cases: 64,
        ..ProptestConfig::default()
    })]

    /// Any timestamp survives the round trip (RFC 3339 or the integer form).
    #[test]
    fn any_timestamp_round_trips(stamps in proptest::collection::vec(
        prop_oneof![any::<i64>(), -62_167_219_200_000_000i64..253_402_300_800_000_000],
        1..20,
    )) {
        let entries: Vec<_> = (1..=stamps.len() as u64).map(entry).collect();
        let mut f = build_with(key(), &entries, 3);
        for (r, ts) in f.records.iter_mut().zip(&stamps) {
            r.ts_micros = *ts;
        }
        f.rechain_from(0);
        let log = read_jsonl(Cursor::new(export(&f))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(log.records, f.records);
    }

    /// A flipped byte anywhere in an export never panics the reader, and a
    /// file that still reads either fails verification or says exactly what
    /// the original said.
    #[test]
    fn flipped_export_never_verifies_as_something_else(pos in any::<proptest::sample::Index>(), bit in 0u8..8) {
        let f = build(9, 4);
        let mut bytes = export(&f);
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(log) = read_jsonl(Cursor::new(&bytes)) {
            let same = log.records == f.records && log.checkpoints == f.checkpoints && log.head == f.head;
            let verified = log.verify(&f.key.public_key()).is_ok();
            prop_assert!(same || !verified, "byte {} bit {} changed the log yet it verified", i, bit);
        }
    }

    /// Arbitrary bytes after a valid key line never panic.
    #[test]
    fn arbitrary_input_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = join(&valid_lines()[..1]);
        bytes.extend_from_slice(&tail);
        let _ = read_jsonl(Cursor::new(&bytes));
        let _ = read_jsonl(Cursor::new(&tail));
    }
}
