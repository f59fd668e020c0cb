//! Issue 2 acceptance: flipping any byte of any stored audit record or
//! checkpoint, deleting, inserting (even a forged record with every later
//! hash recomputed) or reordering records makes verification fail, at the
//! first bad record; an untouched log verifies.

mod common;

use std::net::IpAddr;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

use common::{Fixture, build_with, key, ts, user};
use sekimori_audit::{
    Actor, AuditEvent, Entry, FailureKind, Hash, LoginFailure, SessionEnd, StoredRecord,
    VerifyFailure,
};
use sekimori_types::{SessionId, UserStatus};

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        (any::<u64>(), any::<String>())
            .prop_map(|(n, username)| Actor::User { id: user(n), username }),
        any::<String>().prop_map(|os_user| Actor::Cli { os_user }),
        proptest::option::of(any::<String>()).prop_map(|username| Actor::Anonymous { username }),
        Just(Actor::System),
    ]
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from),]
}

fn session(n: u64) -> SessionId {
    SessionId(user(n).0)
}

fn arb_event() -> impl Strategy<Value = AuditEvent> {
    prop_oneof![
        (any::<String>(), any::<String>(), any::<String>()).prop_map(
            |(version, listen, backend)| AuditEvent::ServerStarted { version, listen, backend }
        ),
        (
            any::<String>(),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<String>())
        )
            .prop_map(|(key, old, new)| AuditEvent::ConfigChanged { key, old, new }),
        (any::<u64>(), proptest::option::of(arb_ip())).prop_map(|(n, source)| {
            AuditEvent::LoginSucceeded {
                user: user(n),
                session: session(n),
                source,
                mfa: "totp".into(),
            }
        }),
        (any::<String>(), proptest::option::of(arb_ip())).prop_map(|(username, source)| {
            AuditEvent::LoginFailed { username, source, reason: LoginFailure::BadTotp }
        }),
        (arb_ip(), any::<u32>())
            .prop_map(|(source, failures)| AuditEvent::SourceBlocked { source, failures }),
        any::<u64>().prop_map(|n| AuditEvent::SessionRevoked {
            user: user(n),
            session: session(n),
            reason: SessionEnd::RevokedByAdmin,
        }),
        (any::<u64>(), proptest::collection::vec(any::<String>(), 0..3)).prop_map(
            |(n, changes)| AuditEvent::UserUpdated { user: user(n), username: "u".into(), changes }
        ),
        any::<u64>().prop_map(|n| AuditEvent::UserStatusChanged {
            user: user(n),
            username: format!("u{n}"),
            from: UserStatus::Active,
            to: UserStatus::Locked,
        }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(records, ok)| AuditEvent::AuditVerified { records, ok }),
    ]
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (arb_actor(), arb_event()).prop_map(|(actor, event)| Entry { actor, event })
}

#[derive(Debug, Clone, Copy)]
enum RecField {
    Seq,
    Ts,
    Body,
    PrevHash,
    Hash,
}

#[derive(Debug, Clone, Copy)]
enum CpField {
    Seq,
    Ts,
    Hash,
    Signature,
}

#[derive(Debug, Clone)]
enum Tamper {
    FlipRecord {
        rec: Index,
        field: RecField,
        byte: Index,
        bit: u8,
    },
    Delete(Index),
    Duplicate {
        rec: Index,
        at: Index,
    },
    InsertForged {
        at: Index,
        entry: Entry,
    },
    Swap(Index, Index),
    /// Over the periodic checkpoints followed by the head.
    FlipCheckpoint {
        cp: Index,
        field: CpField,
        byte: Index,
        bit: u8,
    },
    DropCheckpoint(Index),
}

fn arb_tamper() -> impl Strategy<Value = Tamper> {
    let rec_field = prop_oneof![
        Just(RecField::Seq),
        Just(RecField::Ts),
        Just(RecField::Body),
        Just(RecField::PrevHash),
        Just(RecField::Hash)
    ];
    let cp_field = prop_oneof![
        Just(CpField::Seq),
        Just(CpField::Ts),
        Just(CpField::Hash),
        Just(CpField::Signature)
    ];
    prop_oneof![
        (any::<Index>(), rec_field, any::<Index>(), 0u8..8)
            .prop_map(|(rec, field, byte, bit)| Tamper::FlipRecord { rec, field, byte, bit }),
        any::<Index>().prop_map(Tamper::Delete),
        (any::<Index>(), any::<Index>()).prop_map(|(rec, at)| Tamper::Duplicate { rec, at }),
        (any::<Index>(), arb_entry()).prop_map(|(at, entry)| Tamper::InsertForged { at, entry }),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Tamper::Swap(a, b)),
        (any::<Index>(), cp_field, any::<Index>(), 0u8..8)
            .prop_map(|(cp, field, byte, bit)| Tamper::FlipCheckpoint { cp, field, byte, bit }),
        any::<Index>().prop_map(Tamper::DropCheckpoint),
    ]
}

fn flip_u64(v: u64, byte: &Index, bit: u8) -> u64 {
    let mut b = v.to_be_bytes();
    b[byte.index(8)] ^= 1 << bit;
    u64::from_be_bytes(b)
}

fn flip_i64(v: i64, byte: &Index, bit: u8) -> i64 {
    let mut b = v.to_be_bytes();
    b[byte.index(8)] ^= 1 << bit;
    i64::from_be_bytes(b)
}

fn flip_hash(h: &mut Hash, byte: &Index, bit: u8) {
    h.0[byte.index(32)] ^= 1 << bit;
}

/// What the verifier must say: the failing seq, when the tampering pins it.
#[derive(Debug, PartialEq)]
enum Expect {
    /// The untouched log (a body flip that decodes to the same text).
    Intact,
    FailAt(u64),
    FailAnywhere,
}

/// Applies `t`; returns what verification must report.
fn tamper(f: &mut Fixture, t: &Tamper) -> Expect {
    let n = f.records.len();
    let seq_at = |i: usize| i as u64 + 1;
    match t {
        Tamper::FlipRecord { rec, field, byte, bit } => {
            let k = rec.index(n);
            let r = &mut f.records[k];
            match field {
                RecField::Seq => r.seq = flip_u64(r.seq, byte, *bit),
                RecField::Ts => r.ts_micros = flip_i64(r.ts_micros, byte, *bit),
                RecField::PrevHash => flip_hash(&mut r.prev_hash, byte, *bit),
                RecField::Hash => flip_hash(&mut r.hash, byte, *bit),
                RecField::Body => {
                    // The store reads bytes; invalid UTF-8 comes back lossily.
                    let mut bytes = r.body.clone().into_bytes();
                    let i = byte.index(bytes.len());
                    bytes[i] ^= 1 << bit;
                    let body = String::from_utf8_lossy(&bytes).into_owned();
                    if body == r.body {
                        return Expect::Intact;
                    }
                    r.body = body;
                }
            }
            Expect::FailAt(seq_at(k))
        }
        Tamper::Delete(i) => {
            let k = i.index(n);
            f.records.remove(k);
            Expect::FailAt(seq_at(k))
        }
        Tamper::Duplicate { rec, at } => {
            let i = rec.index(n);
            let p = at.index(n + 1);
            let copy = f.records[i].clone();
            f.records.insert(p, copy);
            // The copy is the first bad record, unless it lands right before
            // its original, which then is.
            Expect::FailAt(if p == i { seq_at(i + 1) } else { seq_at(p) })
        }
        Tamper::InsertForged { at, entry } => {
            let p = at.index(n + 1);
            let prev = if p == 0 { Hash::GENESIS } else { f.records[p - 1].hash };
            let forged = StoredRecord::seal(seq_at(p), ts(seq_at(p)), entry, prev);
            f.records.insert(p, forged);
            f.rechain_from(p + 1);
            // Caught at the first signed statement over a rewritten record:
            // a periodic checkpoint at or after the insertion, else the head;
            // an appended record right after the head.
            let first_cp = seq_at(p).div_ceil(f.interval) * f.interval;
            let n = n as u64;
            Expect::FailAt(if p as u64 == n { n + 1 } else { first_cp.min(n) })
        }
        Tamper::Swap(a, b) => {
            let i = a.index(n);
            let mut j = b.index(n);
            if n < 2 {
                return Expect::Intact;
            }
            if i == j {
                j = (i + 1) % n;
            }
            f.records.swap(i, j);
            Expect::FailAt(seq_at(i.min(j)))
        }
        Tamper::FlipCheckpoint { cp, field, byte, bit } => {
            let nc = f.checkpoints.len() + usize::from(f.head.is_some());
            let c = cp.index(nc);
            let target = match f.checkpoints.get_mut(c) {
                Some(cp) => cp,
                None => f.head.as_mut().expect("head"),
            };
            let seq = target.seq;
            match field {
                CpField::Seq => {
                    target.seq = flip_u64(target.seq, byte, *bit);
                    return Expect::FailAnywhere;
                }
                CpField::Ts => target.ts_micros = flip_i64(target.ts_micros, byte, *bit),
                CpField::Hash => flip_hash(&mut target.hash, byte, *bit),
                CpField::Signature => {
                    let len = target.signature.len();
                    target.signature[byte.index(len)] ^= 1 << bit;
                }
            }
            Expect::FailAt(seq)
        }
        Tamper::DropCheckpoint(cp) => {
            let nc = f.checkpoints.len() + usize::from(f.head.is_some());
            let c = cp.index(nc);
            if c < f.checkpoints.len() {
                Expect::FailAt(f.checkpoints.remove(c).seq)
            } else {
                f.head = None;
                Expect::FailAt(n as u64)
            }
        }
    }
}

fn arb_chain() -> impl Strategy<Value = (Vec<Entry>, u64)> {
    (proptest::collection::vec(arb_entry(), 1..200), 1u64..=16)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn issue_2_untouched_log_verifies((entries, interval) in arb_chain()) {
        let f = build_with(key(), &entries, interval);
        let report = f.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(report.records, entries.len() as u64);
        prop_assert_eq!(report.checkpoints_checked, entries.len() as u64 / interval);
    }

    #[test]
    fn issue_2_any_tampering_fails_at_the_first_bad_record(
        (entries, interval) in arb_chain(),
        t in arb_tamper(),
    ) {
        let mut f = build_with(key(), &entries, interval);
        let expect = tamper(&mut f, &t);
        let result = f.verify();
        match expect {
            Expect::Intact => prop_assert!(result.is_ok(), "{:?}", result),
            Expect::FailAnywhere => prop_assert!(result.is_err(), "undetected: {:?}", t),
            Expect::FailAt(seq) => {
                let e: VerifyFailure = match result {
                    Ok(r) => return Err(TestCaseError::fail(format!("undetected: {t:?} → {r:?}"))),
                    Err(e) => e,
                };
                prop_assert_eq!(e.seq, seq, "{:?} → {}", t, e);
                if let Tamper::FlipCheckpoint { field: CpField::Signature | CpField::Hash | CpField::Ts, .. } = t {
                    prop_assert!(
                        matches!(e.kind, FailureKind::CheckpointSignatureInvalid { .. }),
                        "{:?}", e
                    );
                }
            }
        }
    }
}
