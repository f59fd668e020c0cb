//! Building valid chains for the tests.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::num::NonZeroU64;
use std::str::FromStr;

use sekimori_audit::{
    Actor, AuditEvent, Checkpoint, Entry, Hash, InstanceKey, LoginFailure, StoredRecord, Verifier,
    VerifyFailure, VerifyReport,
};
use sekimori_types::UserId;

/// A log as the store would hold it, with the key that signed it.
#[derive(Debug)]
pub struct Fixture {
    pub key: InstanceKey,
    pub interval: u64,
    pub records: Vec<StoredRecord>,
    pub checkpoints: Vec<Checkpoint>,
    pub head: Option<Checkpoint>,
}

pub fn user(n: u64) -> UserId {
    let (hi, lo) = (n >> 48, n & 0xffff_ffff_ffff);
    UserId::from_str(&format!("{hi:08x}-0000-7000-8000-{lo:012x}")).expect("uuid")
}

/// A varied, deterministic entry.
pub fn entry(i: u64) -> Entry {
    let actor = match i % 4 {
        0 => Actor::System,
        1 => Actor::User { id: user(i), username: format!("user{i}") },
        2 => Actor::Anonymous { username: Some(format!("名前\"{i}\\")) },
        _ => Actor::Cli { os_user: "root".into() },
    };
    let event = match i % 3 {
        0 => AuditEvent::LoginFailed {
            username: format!("u{i}"),
            source: Some([10, 0, 0, (i % 250) as u8].into()),
            reason: LoginFailure::BadPassword,
        },
        1 => AuditEvent::ConfigChanged { key: "k".into(), old: None, new: Some(format!("{i}")) },
        _ => AuditEvent::ServerStopped { reason: "シャットダウン".into() },
    };
    Entry { actor, event }
}

pub fn ts(seq: u64) -> i64 {
    1_790_000_000_000_000 + i64::try_from(seq).expect("small") * 1_234_567
}

/// Seals `entries` into a chain, a checkpoint every `interval` records and a
/// head over the last one (none for an empty chain).
pub fn build_with(key: InstanceKey, entries: &[Entry], interval: u64) -> Fixture {
    let mut records: Vec<StoredRecord> = Vec::new();
    let mut checkpoints = Vec::new();
    let mut prev = Hash::GENESIS;
    for (i, e) in entries.iter().enumerate() {
        let seq = i as u64 + 1;
        let rec = StoredRecord::seal(seq, ts(seq), e, prev);
        prev = rec.hash;
        if seq.is_multiple_of(interval) {
            checkpoints.push(key.sign_checkpoint(seq, rec.hash, ts(seq) + 1));
        }
        records.push(rec);
    }
    let head = records.last().map(|r| key.sign_checkpoint(r.seq, r.hash, ts(r.seq) + 2));
    Fixture { key, interval, records, checkpoints, head }
}

pub fn key() -> InstanceKey {
    InstanceKey::generate().expect("key").0
}

pub fn build(n: u64, interval: u64) -> Fixture {
    let entries: Vec<Entry> = (1..=n).map(entry).collect();
    build_with(key(), &entries, interval)
}

impl Fixture {
    pub fn verify(&self) -> Result<VerifyReport, VerifyFailure> {
        let interval = NonZeroU64::new(self.interval).expect("interval");
        let mut v = Verifier::with_interval(
            self.key.public_key(),
            self.checkpoints.clone(),
            self.head.clone(),
            interval,
        );
        for r in &self.records {
            v.push(r)?;
        }
        v.finish()
    }

    /// What an attacker without the key can do: rewrite the chain from
    /// index `from` on so every link and hash is consistent again.
    pub fn rechain_from(&mut self, from: usize) {
        let mut prev = match from.checked_sub(1) {
            Some(i) => self.records[i].hash,
            None => Hash::GENESIS,
        };
        for (i, r) in self.records.iter_mut().enumerate().skip(from) {
            r.seq = i as u64 + 1;
            r.prev_hash = prev;
            r.hash = sekimori_audit::record_hash(r.seq, r.ts_micros, &r.body, &prev);
            prev = r.hash;
        }
    }
}
