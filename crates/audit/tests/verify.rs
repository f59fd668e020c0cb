//! One test per `FailureKind`, plus the report of an intact log.

mod common;

use common::{build, build_with, entry, key, ts};
use sekimori_audit::{
    CHECKPOINT_INTERVAL, FailureKind, Hash, StoredRecord, Verifier, VerifyFailure, checkpoint_due,
    record_hash, verify_chain,
};
use sekimori_types::{Lang, Localized};

fn failure(f: &common::Fixture) -> VerifyFailure {
    f.verify().expect_err("verification should fail")
}

#[test]
fn intact_log_verifies_with_report() {
    let f = build(10, 4);
    let r = f.verify().expect("intact");
    assert_eq!((r.records, r.first_seq, r.last_seq, r.checkpoints_checked), (10, 1, 10, 2));
    assert_eq!(r.head, Some((10, f.records[9].hash)));
}

#[test]
fn empty_log_verifies() {
    let k = key();
    let r = verify_chain(Vec::new(), Vec::new(), None, k.public_key()).expect("empty");
    assert_eq!((r.records, r.first_seq, r.last_seq, r.head), (0, 0, 0, None));
    // A head over the empty log (seq 0, genesis hash) is accepted too.
    let genesis = k.sign_checkpoint(0, Hash::GENESIS, 1);
    let r = verify_chain(Vec::new(), Vec::new(), Some(genesis), k.public_key()).expect("genesis");
    assert_eq!(r.head, Some((0, Hash::GENESIS)));
}

#[test]
fn default_interval_is_1024_and_short_logs_need_only_the_head() {
    assert_eq!(CHECKPOINT_INTERVAL, 1024);
    assert!(checkpoint_due(1024) && checkpoint_due(2048));
    assert!(!checkpoint_due(0) && !checkpoint_due(1) && !checkpoint_due(1023));
    let f = build(30, 1024);
    verify_chain(f.records.clone(), Vec::new(), f.head.clone(), f.key.public_key())
        .expect("intact");
}

#[test]
fn default_interval_requires_checkpoint_1024() {
    let f = build(1025, CHECKPOINT_INTERVAL);
    assert_eq!(f.checkpoints.len(), 1);
    let ok =
        verify_chain(f.records.clone(), f.checkpoints.clone(), f.head.clone(), f.key.public_key())
            .expect("intact");
    assert_eq!(ok.checkpoints_checked, 1);
    let e = verify_chain(f.records.clone(), Vec::new(), f.head.clone(), f.key.public_key())
        .expect_err("checkpoint missing");
    assert_eq!(
        e,
        VerifyFailure { seq: 1024, kind: FailureKind::MissingCheckpoint { interval: 1024 } }
    );
}

#[test]
fn seq_gap_names_the_deleted_record() {
    let mut f = build(10, 4);
    f.records.remove(2);
    assert_eq!(
        failure(&f),
        VerifyFailure { seq: 3, kind: FailureKind::SeqGap { expected: 3, found: 4 } }
    );
}

#[test]
fn seq_not_increasing_on_duplicate() {
    let mut f = build(10, 4);
    let dup = f.records[1].clone();
    f.records.insert(2, dup);
    assert_eq!(
        failure(&f),
        VerifyFailure { seq: 3, kind: FailureKind::SeqNotIncreasing { expected: 3, found: 2 } }
    );
}

#[test]
fn prev_hash_mismatch() {
    let mut f = build(10, 4);
    f.records[2].prev_hash.0[0] ^= 1;
    let e = failure(&f);
    assert_eq!(e.seq, 3);
    assert!(matches!(e.kind, FailureKind::PrevHashMismatch { .. }), "{e:?}");
}

#[test]
fn hash_mismatch_on_body_ts_or_hash_change() {
    for tamper in 0..3 {
        let mut f = build(10, 4);
        let r = &mut f.records[6];
        match tamper {
            0 => r.body = r.body.replace("user", "resu"),
            1 => r.ts_micros += 1,
            _ => r.hash.0[31] ^= 0x80,
        }
        let e = failure(&f);
        assert_eq!(e.seq, 7, "{tamper}");
        assert!(matches!(e.kind, FailureKind::HashMismatch { .. }), "{e:?}");
    }
}

fn seal_raw(seq: u64, body: &str, prev: Hash) -> StoredRecord {
    let hash = record_hash(seq, ts(seq), body, &prev);
    StoredRecord { seq, ts_micros: ts(seq), body: body.into(), prev_hash: prev, hash }
}

#[test]
fn body_unparseable_even_when_hashed() {
    let k = key();
    let first = StoredRecord::seal(1, ts(1), &entry(1), Hash::GENESIS);
    let bad = seal_raw(2, "not json", first.hash);
    let head = k.sign_checkpoint(2, bad.hash, 0);
    let e =
        verify_chain([first, bad], Vec::new(), Some(head), k.public_key()).expect_err("bad body");
    assert_eq!(e, VerifyFailure { seq: 2, kind: FailureKind::BodyUnparseable });
}

#[test]
fn unknown_event_types_from_newer_versions_verify() {
    let k = key();
    let rec = seal_raw(
        1,
        r#"{"actor":{"kind":"robot"},"event":{"type":"future_event","x":1}}"#,
        Hash::GENESIS,
    );
    let head = k.sign_checkpoint(1, rec.hash, 0);
    verify_chain([rec], Vec::new(), Some(head), k.public_key()).expect("forward compatible");
}

#[test]
fn checkpoint_signature_invalid() {
    let mut f = build(10, 4);
    f.checkpoints[1].signature[5] ^= 1;
    assert_eq!(
        failure(&f),
        VerifyFailure { seq: 8, kind: FailureKind::CheckpointSignatureInvalid { head: false } }
    );
}

#[test]
fn head_signature_invalid() {
    let mut f = build(10, 4);
    if let Some(h) = &mut f.head {
        h.ts_micros += 1;
    }
    assert_eq!(
        failure(&f),
        VerifyFailure { seq: 10, kind: FailureKind::CheckpointSignatureInvalid { head: true } }
    );
}

#[test]
fn another_instance_key_fails_at_first_checkpoint() {
    let mut f = build(10, 4);
    f.key = key();
    assert_eq!(
        failure(&f),
        VerifyFailure { seq: 4, kind: FailureKind::CheckpointSignatureInvalid { head: false } }
    );
}

#[test]
fn checkpoint_mismatch_after_rechaining() {
    let mut f = build(10, 4);
    f.records[2].body = f.records[2].body.replace("user", "resu");
    f.rechain_from(2);
    let e = failure(&f);
    assert_eq!(e.seq, 4);
    assert!(matches!(e.kind, FailureKind::CheckpointMismatch { .. }), "{e:?}");
}

#[test]
fn checkpoint_beyond_end_when_the_tail_is_cut() {
    let mut f = build(10, 4);
    f.records.pop();
    assert_eq!(
        failure(&f),
        VerifyFailure {
            seq: 10,
            kind: FailureKind::CheckpointBeyondEnd { checkpoint_seq: 10, last_seq: 9 }
        }
    );
    f.records.truncate(6);
    assert_eq!(
        failure(&f),
        VerifyFailure {
            seq: 7,
            kind: FailureKind::CheckpointBeyondEnd { checkpoint_seq: 8, last_seq: 6 }
        }
    );
    f.records.clear();
    assert_eq!(
        failure(&f),
        VerifyFailure {
            seq: 1,
            kind: FailureKind::CheckpointBeyondEnd { checkpoint_seq: 4, last_seq: 0 }
        }
    );
}

#[test]
fn head_missing() {
    let mut f = build(10, 4);
    f.head = None;
    assert_eq!(failure(&f), VerifyFailure { seq: 10, kind: FailureKind::HeadMissing });
}

#[test]
fn head_mismatch_after_rewriting_the_last_record() {
    let mut f = build(10, 4);
    f.records[9].ts_micros += 1;
    f.rechain_from(9);
    let e = failure(&f);
    assert_eq!(e.seq, 10);
    assert!(matches!(e.kind, FailureKind::HeadMismatch { .. }), "{e:?}");
}

#[test]
fn records_after_head() {
    let mut f = build(10, 4);
    let next = StoredRecord::seal(11, ts(11), &entry(11), f.records[9].hash);
    f.records.push(next);
    assert_eq!(
        failure(&f),
        VerifyFailure {
            seq: 11,
            kind: FailureKind::RecordsAfterHead { head_seq: 10, last_seq: 11 }
        }
    );
}

#[test]
fn missing_checkpoint() {
    let mut f = build(10, 4);
    f.checkpoints.remove(1);
    assert_eq!(
        failure(&f),
        VerifyFailure { seq: 8, kind: FailureKind::MissingCheckpoint { interval: 4 } }
    );
}

#[test]
fn checkpoints_may_come_in_any_order() {
    let mut f = build(20, 3);
    f.checkpoints.reverse();
    f.verify().expect("order does not matter");
}

#[test]
fn verifier_stays_failed() {
    let mut f = build(5, 4);
    f.records[1].hash.0[0] ^= 1;
    let mut v = Verifier::new(f.key.public_key(), f.checkpoints.clone(), f.head.clone());
    v.push(&f.records[0]).expect("first is fine");
    let e = v.push(&f.records[1]).expect_err("second is bad");
    assert_eq!(v.records(), 1);
    assert_eq!(v.push(&f.records[2]), Err(e.clone()));
    assert_eq!(v.finish(), Err(e));
}

#[test]
fn messages_in_both_languages_and_json() {
    let e = VerifyFailure {
        seq: 42,
        kind: FailureKind::HashMismatch { stored: Hash([1; 32]), computed: Hash([2; 32]) },
    };
    let ja = e.localized(Lang::Ja);
    assert!(ja.starts_with("監査記録 #42 のハッシュが一致しません"), "{ja}");
    assert!(ja.contains("改ざんの可能性"), "{ja}");
    assert!(e.to_string().starts_with("audit record #42: hash does not match"), "{e}");
    assert_eq!(e.to_string(), e.localized(Lang::En));
    let json = serde_json::to_value(&e).expect("json");
    assert_eq!(json["seq"], 42);
    assert_eq!(json["code"], "hash_mismatch");
    assert_eq!(json["stored"], Hash([1; 32]).to_hex());
}

#[test]
fn every_kind_has_a_message() {
    let h = Hash([3; 32]);
    let kinds = [
        FailureKind::SeqGap { expected: 1, found: 2 },
        FailureKind::SeqNotIncreasing { expected: 2, found: 1 },
        FailureKind::PrevHashMismatch { expected: h, found: h },
        FailureKind::HashMismatch { stored: h, computed: h },
        FailureKind::BodyUnparseable,
        FailureKind::CheckpointSignatureInvalid { head: true },
        FailureKind::CheckpointSignatureInvalid { head: false },
        FailureKind::CheckpointMismatch { checkpoint_hash: h, record_hash: h },
        FailureKind::CheckpointBeyondEnd { checkpoint_seq: 9, last_seq: 3 },
        FailureKind::HeadMissing,
        FailureKind::HeadMismatch { head_hash: h, record_hash: h },
        FailureKind::RecordsAfterHead { head_seq: 3, last_seq: 9 },
        FailureKind::MissingCheckpoint { interval: 4 },
    ];
    for kind in kinds {
        let e = VerifyFailure { seq: 4, kind };
        let (ja, en) = (e.localized(Lang::Ja), e.localized(Lang::En));
        assert!(ja.contains('#') && en.contains('#'), "{ja} / {en}");
        assert!(!ja.is_ascii() && en.is_ascii(), "{ja} / {en}");
        assert!(!e.kind.code().is_empty());
    }
}

#[test]
fn intact_logs_of_every_length_verify() {
    let entries: Vec<_> = (1..=20).map(entry).collect();
    for n in 0..=entries.len() {
        let f = build_with(key(), &entries[..n], 3);
        f.verify().unwrap_or_else(|e| panic!("{n}: {e}"));
    }
}

/// Found by the tamper property test: a forged record inserted just before
/// the head makes the chain one longer, so the new last record needs a
/// periodic checkpoint; the head mismatch comes first in sequence order.
#[test]
fn head_mismatch_reported_before_a_later_missing_checkpoint() {
    let mut f = build(9, 10);
    let forged = StoredRecord::seal(9, ts(9), &entry(99), f.records[7].hash);
    f.records.insert(8, forged);
    f.rechain_from(9);
    let e = failure(&f);
    assert_eq!(e.seq, 9);
    assert!(matches!(e.kind, FailureKind::HeadMismatch { .. }), "{e:?}");
}
