//! Streaming verification of the chain against the signed checkpoints.
//!
//! The store feeds records in `seq` order from a cursor to
//! [`Verifier::push`], then calls [`Verifier::finish`]; memory is bounded by
//! the number of checkpoints, not records. The first failure in sequence
//! order is reported, naming the first bad record: a modified record `k`
//! fails at `k`, a deleted record `k` at `k`, records cut off the end at the
//! first missing one.
//!
//! Checks, per record `k` in order: `seq == k`, `prev_hash` equals record
//! `k-1`'s hash, `hash` equals [`record_hash`] over the stored fields, the
//! body has the shape of an [`Entry`](crate::Entry) (an object with a tagged
//! `actor` and `event`; event types this build does not know are accepted so
//! logs written by a newer version still verify), every checkpoint at `k` is
//! validly signed and names `k`'s hash, and a periodic checkpoint exists when
//! `k` is a multiple of the interval. At the end: no checkpoint beyond the last
//! record, and a validly signed head naming exactly the last record.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use sekimori_types::{Lang, Localized};

use crate::chain::{Hash, StoredRecord, record_hash};
use crate::checkpoint::{CHECKPOINT_INTERVAL, Checkpoint, PublicKey};

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Number of records checked.
    pub records: u64,
    /// Seq of the first record (1), or 0 for an empty log.
    pub first_seq: u64,
    /// Seq of the last record, or 0 for an empty log.
    pub last_seq: u64,
    /// Periodic checkpoints whose signature and hash were checked (the head
    /// is not counted).
    pub checkpoints_checked: u64,
    /// The signed head, `(seq, hash)`, when there was one.
    pub head: Option<(u64, Hash)>,
}

/// Verification failed at `seq`. See [`FailureKind`] for what `seq` names in
/// each case; usually the first bad record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct VerifyFailure {
    /// The first bad record (or, for a bad signature, the checkpoint's seq).
    pub seq: u64,
    /// What is wrong there.
    #[serde(flatten)]
    pub kind: FailureKind,
}

/// What is wrong, as facts. The doc of each variant says what
/// [`VerifyFailure::seq`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// Record `expected` is missing: the next record has a higher seq
    /// (deletion). `seq` = `expected`.
    SeqGap {
        /// The seq that should come next.
        expected: u64,
        /// The seq that came instead.
        found: u64,
    },
    /// A record with a seq at or below one already seen came where
    /// `expected` should (insertion, duplicate, reordering). `seq` =
    /// `expected`.
    SeqNotIncreasing {
        /// The seq that should come next.
        expected: u64,
        /// The seq that came instead.
        found: u64,
    },
    /// The record's `prev_hash` is not the previous record's hash. `seq` =
    /// this record.
    PrevHashMismatch {
        /// The previous record's hash (zeros for record 1).
        expected: Hash,
        /// The stored `prev_hash`.
        found: Hash,
    },
    /// The stored hash is not the hash of the stored fields (the record
    /// was modified). `seq` = this record.
    HashMismatch {
        /// The stored `hash`.
        stored: Hash,
        /// [`record_hash`] over the stored fields.
        computed: Hash,
    },
    /// The body (correctly hashed) is not an audit entry. `seq` = this
    /// record.
    BodyUnparseable,
    /// A checkpoint's signature is not the instance key's (tampered, or
    /// signed by another key). `seq` = the checkpoint's seq.
    CheckpointSignatureInvalid {
        /// Whether it is the head checkpoint.
        head: bool,
    },
    /// A validly signed checkpoint names another hash for this record.
    /// `seq` = the record.
    CheckpointMismatch {
        /// The hash the checkpoint signed.
        checkpoint_hash: Hash,
        /// The record's hash.
        record_hash: Hash,
    },
    /// A validly signed checkpoint (periodic or head) names a record after
    /// the last one: records were cut off the end. `seq` = the first missing
    /// record, `last_seq + 1`.
    CheckpointBeyondEnd {
        /// The seq the checkpoint covers.
        checkpoint_seq: u64,
        /// The last record present (0: none).
        last_seq: u64,
    },
    /// There are records but no head checkpoint. `seq` = the last record.
    HeadMissing,
    /// The validly signed head names another hash for the record at its
    /// seq (normally the last). `seq` = the head's seq.
    HeadMismatch {
        /// The hash the head signed.
        head_hash: Hash,
        /// The last record's hash.
        record_hash: Hash,
    },
    /// Records follow the validly signed head (appended without a
    /// signature). `seq` = `head_seq + 1`.
    RecordsAfterHead {
        /// The seq the head covers.
        head_seq: u64,
        /// The last record present.
        last_seq: u64,
    },
    /// No periodic checkpoint exists for a record whose seq is a multiple
    /// of `interval` (the checkpoint was deleted). `seq` = that record.
    MissingCheckpoint {
        /// The periodic checkpoint interval.
        interval: u64,
    },
}

impl FailureKind {
    /// A stable machine code (snake_case), as in JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            FailureKind::SeqGap { .. } => "seq_gap",
            FailureKind::SeqNotIncreasing { .. } => "seq_not_increasing",
            FailureKind::PrevHashMismatch { .. } => "prev_hash_mismatch",
            FailureKind::HashMismatch { .. } => "hash_mismatch",
            FailureKind::BodyUnparseable => "body_unparseable",
            FailureKind::CheckpointSignatureInvalid { .. } => "checkpoint_signature_invalid",
            FailureKind::CheckpointMismatch { .. } => "checkpoint_mismatch",
            FailureKind::CheckpointBeyondEnd { .. } => "checkpoint_beyond_end",
            FailureKind::HeadMissing => "head_missing",
            FailureKind::HeadMismatch { .. } => "head_mismatch",
            FailureKind::RecordsAfterHead { .. } => "records_after_head",
            FailureKind::MissingCheckpoint { .. } => "missing_checkpoint",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.localized(Lang::En))
    }
}

impl Localized for VerifyFailure {
    fn localized(&self, lang: Lang) -> String {
        let seq = self.seq;
        let ja = lang == Lang::Ja;
        match &self.kind {
            FailureKind::SeqGap { expected, found } => {
                if ja {
                    format!(
                        "監査記録 #{expected} がありません（次は #{found}）。削除された可能性があります"
                    )
                } else {
                    format!(
                        "audit record #{expected} is missing (#{found} comes next): records were deleted"
                    )
                }
            }
            FailureKind::SeqNotIncreasing { expected, found } => {
                if ja {
                    format!(
                        "監査記録 #{expected} の位置に #{found} があります。挿入・重複・並べ替えの可能性があります"
                    )
                } else {
                    format!(
                        "audit record #{found} appears where #{expected} belongs: records were inserted, duplicated or reordered"
                    )
                }
            }
            FailureKind::PrevHashMismatch { expected, found } => {
                if ja {
                    format!(
                        "監査記録 #{seq} が直前の記録とつながっていません（prev_hash {found}、期待値 {expected}）（改ざんの可能性）"
                    )
                } else {
                    format!(
                        "audit record #{seq} does not link to the previous record (prev_hash {found}, expected {expected}): possible tampering"
                    )
                }
            }
            FailureKind::HashMismatch { stored, computed } => {
                if ja {
                    format!(
                        "監査記録 #{seq} のハッシュが一致しません（保存値 {stored}、計算値 {computed}）（改ざんの可能性）"
                    )
                } else {
                    format!(
                        "audit record #{seq}: hash does not match its contents (stored {stored}, computed {computed}): possible tampering"
                    )
                }
            }
            FailureKind::BodyUnparseable => {
                if ja {
                    format!("監査記録 #{seq} の本文を監査エントリとして解析できません")
                } else {
                    format!("audit record #{seq}: body is not an audit entry")
                }
            }
            FailureKind::CheckpointSignatureInvalid { head } => match (ja, head) {
                (true, true) => format!(
                    "記録 #{seq} の署名済みヘッドの署名が無効です（改ざん、または別のインスタンスの鍵）"
                ),
                (true, false) => format!(
                    "記録 #{seq} のチェックポイントの署名が無効です（改ざん、または別のインスタンスの鍵）"
                ),
                (false, true) => format!(
                    "head checkpoint for record #{seq}: signature is invalid (tampered, or another instance's key)"
                ),
                (false, false) => format!(
                    "checkpoint for record #{seq}: signature is invalid (tampered, or another instance's key)"
                ),
            },
            FailureKind::CheckpointMismatch { checkpoint_hash, record_hash } => {
                if ja {
                    format!(
                        "監査記録 #{seq} が署名済みチェックポイントと一致しません（チェックポイント {checkpoint_hash}、記録 {record_hash}）（改ざんの可能性）"
                    )
                } else {
                    format!(
                        "audit record #{seq} does not match its signed checkpoint (checkpoint {checkpoint_hash}, record {record_hash}): possible tampering"
                    )
                }
            }
            FailureKind::CheckpointBeyondEnd { checkpoint_seq, last_seq } => {
                if ja {
                    format!(
                        "署名済みチェックポイントは記録 #{checkpoint_seq} を指していますが、記録は #{last_seq} で終わっています。末尾の記録 #{seq} 以降が削除された可能性があります"
                    )
                } else {
                    format!(
                        "a signed checkpoint covers record #{checkpoint_seq} but the log ends at #{last_seq}: records from #{seq} on were cut off"
                    )
                }
            }
            FailureKind::HeadMissing => {
                if ja {
                    format!(
                        "最後の監査記録 #{seq} に対する署名済みヘッドがありません（削除の可能性）"
                    )
                } else {
                    format!(
                        "no signed head checkpoint covers the last audit record #{seq}: it was deleted"
                    )
                }
            }
            FailureKind::HeadMismatch { head_hash, record_hash } => {
                if ja {
                    format!(
                        "監査記録 #{seq} が署名済みヘッドと一致しません（ヘッド {head_hash}、記録 {record_hash}）（改ざんの可能性）"
                    )
                } else {
                    format!(
                        "audit record #{seq} does not match the signed head (head {head_hash}, record {record_hash}): possible tampering"
                    )
                }
            }
            FailureKind::RecordsAfterHead { head_seq, last_seq } => {
                if ja {
                    format!(
                        "署名済みヘッド（#{head_seq}）の後に署名のない記録 #{seq}〜#{last_seq} があります（追加の可能性）"
                    )
                } else {
                    format!(
                        "records #{seq}..#{last_seq} follow the signed head (#{head_seq}) unsigned: records were appended"
                    )
                }
            }
            FailureKind::MissingCheckpoint { interval } => {
                if ja {
                    format!(
                        "監査記録 #{seq} のチェックポイントがありません（{interval} 件ごとに必要）（削除の可能性）"
                    )
                } else {
                    format!(
                        "the checkpoint for audit record #{seq} is missing (one is required every {interval} records): it was deleted"
                    )
                }
            }
        }
    }
}

/// The minimal shape every body must have: what [`crate::Entry`] serialises
/// to, without requiring this build to know the event type.
#[derive(Deserialize)]
struct BodyShape<'a> {
    #[serde(borrow)]
    actor: ActorTag<'a>,
    #[serde(borrow)]
    event: EventTag<'a>,
}

#[derive(Deserialize)]
struct ActorTag<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct EventTag<'a> {
    #[serde(borrow, rename = "type")]
    ty: Cow<'a, str>,
}

fn body_has_shape(body: &str) -> bool {
    serde_json::from_str::<BodyShape<'_>>(body)
        .is_ok_and(|b| !b.actor.kind.is_empty() && !b.event.ty.is_empty())
}

/// Checks records pushed in order against the signed checkpoints.
///
/// After the first failure every later call returns that same failure.
#[derive(Debug)]
pub struct Verifier {
    key: PublicKey,
    /// Sorted by seq; `next_cp` is the first not yet matched.
    checkpoints: Vec<Checkpoint>,
    next_cp: usize,
    head: Option<Checkpoint>,
    /// Whether the head was checked against the record at its seq.
    head_checked: bool,
    interval: NonZeroU64,
    last_seq: u64,
    last_hash: Hash,
    records: u64,
    checkpoints_checked: u64,
    /// Whether checkpoints at seq 0 (the empty log) were checked.
    started: bool,
    failed: Option<VerifyFailure>,
}

impl Verifier {
    /// A verifier for a log whose periodic checkpoints are every
    /// [`CHECKPOINT_INTERVAL`] records (what the store writes).
    pub fn new(key: PublicKey, checkpoints: Vec<Checkpoint>, head: Option<Checkpoint>) -> Verifier {
        const DEFAULT: NonZeroU64 = match NonZeroU64::new(CHECKPOINT_INTERVAL) {
            Some(n) => n,
            None => NonZeroU64::MIN,
        };
        Self::with_interval(key, checkpoints, head, DEFAULT)
    }

    /// A verifier requiring a periodic checkpoint every `interval` records
    /// (tests use small intervals). `checkpoints` may come in any order.
    pub fn with_interval(
        key: PublicKey,
        mut checkpoints: Vec<Checkpoint>,
        head: Option<Checkpoint>,
        interval: NonZeroU64,
    ) -> Verifier {
        checkpoints.sort_by_key(|c| c.seq);
        Verifier {
            key,
            checkpoints,
            next_cp: 0,
            head,
            head_checked: false,
            interval,
            last_seq: 0,
            last_hash: Hash::GENESIS,
            records: 0,
            checkpoints_checked: 0,
            started: false,
            failed: None,
        }
    }

    /// Records accepted so far (for progress output).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Checks the next record.
    pub fn push(&mut self, rec: &StoredRecord) -> Result<(), VerifyFailure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        let r = self.step(rec);
        if let Err(f) = &r {
            self.failed = Some(f.clone());
        }
        r
    }

    /// Ends the stream: checks that nothing was cut off the end and that the
    /// head covers exactly the last record.
    pub fn finish(mut self) -> Result<VerifyReport, VerifyFailure> {
        if let Some(f) = self.failed.take() {
            return Err(f);
        }
        self.start()?;
        let last_seq = self.last_seq;
        let first_missing = last_seq.saturating_add(1);
        if let Some(cp) = self.checkpoints.get(self.next_cp) {
            // Sorted, and everything up to `last_seq` was matched: it is beyond the end.
            if !cp.verify(&self.key) {
                return Err(fail(cp.seq, FailureKind::CheckpointSignatureInvalid { head: false }));
            }
            return Err(fail(
                first_missing,
                FailureKind::CheckpointBeyondEnd { checkpoint_seq: cp.seq, last_seq },
            ));
        }
        let head = match &self.head {
            None if self.records == 0 => None,
            None => return Err(fail(last_seq, FailureKind::HeadMissing)),
            // Checked in sequence; anything after it is unsigned.
            Some(h) if self.head_checked => {
                if h.seq < last_seq {
                    return Err(fail(
                        h.seq.saturating_add(1),
                        FailureKind::RecordsAfterHead { head_seq: h.seq, last_seq },
                    ));
                }
                Some((h.seq, h.hash))
            }
            // Never reached: it names a record that is not there.
            Some(h) => {
                if !h.verify(&self.key) {
                    return Err(fail(
                        h.seq,
                        FailureKind::CheckpointSignatureInvalid { head: true },
                    ));
                }
                return Err(fail(
                    first_missing,
                    FailureKind::CheckpointBeyondEnd { checkpoint_seq: h.seq, last_seq },
                ));
            }
        };
        Ok(VerifyReport {
            records: self.records,
            first_seq: u64::from(self.records > 0),
            last_seq,
            checkpoints_checked: self.checkpoints_checked,
            head,
        })
    }

    /// Checks checkpoints over the empty log (seq 0), once.
    fn start(&mut self) -> Result<(), VerifyFailure> {
        if !self.started {
            self.started = true;
            self.checkpoints_at(0, Hash::GENESIS)?;
            self.head_at(0, Hash::GENESIS)?;
        }
        Ok(())
    }

    /// Checks the head if it covers `seq`.
    fn head_at(&mut self, seq: u64, hash: Hash) -> Result<(), VerifyFailure> {
        let Some(h) = self.head.as_ref().filter(|h| h.seq == seq) else {
            return Ok(());
        };
        if !h.verify(&self.key) {
            return Err(fail(seq, FailureKind::CheckpointSignatureInvalid { head: true }));
        }
        if h.hash != hash {
            return Err(fail(
                seq,
                FailureKind::HeadMismatch { head_hash: h.hash, record_hash: hash },
            ));
        }
        self.head_checked = true;
        Ok(())
    }

    fn step(&mut self, rec: &StoredRecord) -> Result<(), VerifyFailure> {
        self.start()?;
        let expected = self.last_seq.checked_add(1).ok_or_else(|| {
            fail(u64::MAX, FailureKind::SeqNotIncreasing { expected: u64::MAX, found: rec.seq })
        })?;
        if rec.seq != expected {
            let found = rec.seq;
            let kind = if found > expected {
                FailureKind::SeqGap { expected, found }
            } else {
                FailureKind::SeqNotIncreasing { expected, found }
            };
            return Err(fail(expected, kind));
        }
        if rec.prev_hash != self.last_hash {
            return Err(fail(
                rec.seq,
                FailureKind::PrevHashMismatch { expected: self.last_hash, found: rec.prev_hash },
            ));
        }
        let computed = record_hash(rec.seq, rec.ts_micros, &rec.body, &rec.prev_hash);
        if computed != rec.hash {
            return Err(fail(rec.seq, FailureKind::HashMismatch { stored: rec.hash, computed }));
        }
        if !body_has_shape(&rec.body) {
            return Err(fail(rec.seq, FailureKind::BodyUnparseable));
        }
        self.last_seq = rec.seq;
        self.last_hash = rec.hash;
        self.records = self.records.saturating_add(1);
        let matched = self.checkpoints_at(rec.seq, rec.hash)?;
        self.head_at(rec.seq, rec.hash)?;
        if matched == 0 && rec.seq % self.interval == 0 {
            return Err(fail(
                rec.seq,
                FailureKind::MissingCheckpoint { interval: self.interval.get() },
            ));
        }
        Ok(())
    }

    /// Checks every checkpoint at `seq` (none can be earlier: seqs are
    /// visited 0, 1, 2, … in turn). Returns how many there were.
    fn checkpoints_at(&mut self, seq: u64, hash: Hash) -> Result<u64, VerifyFailure> {
        let mut matched: u64 = 0;
        while let Some(cp) = self.checkpoints.get(self.next_cp) {
            if cp.seq > seq {
                break;
            }
            if !cp.verify(&self.key) {
                return Err(fail(cp.seq, FailureKind::CheckpointSignatureInvalid { head: false }));
            }
            if cp.hash != hash {
                return Err(fail(
                    seq,
                    FailureKind::CheckpointMismatch { checkpoint_hash: cp.hash, record_hash: hash },
                ));
            }
            self.next_cp = self.next_cp.saturating_add(1);
            self.checkpoints_checked = self.checkpoints_checked.saturating_add(1);
            matched = matched.saturating_add(1);
        }
        Ok(matched)
    }
}

fn fail(seq: u64, kind: FailureKind) -> VerifyFailure {
    VerifyFailure { seq, kind }
}

/// Verifies a whole chain: `records` in seq order, the periodic
/// `checkpoints` (any order) and the `head`, against `key`.
pub fn verify_chain(
    records: impl IntoIterator<Item = StoredRecord>,
    checkpoints: Vec<Checkpoint>,
    head: Option<Checkpoint>,
    key: PublicKey,
) -> Result<VerifyReport, VerifyFailure> {
    let mut v = Verifier::new(key, checkpoints, head);
    for rec in records {
        v.push(&rec)?;
    }
    v.finish()
}
