//! Tamper-evident audit log: typed events ([`AuditEvent`]), the hash chain
//! that links them ([`StoredRecord`]), checkpoints signed with the instance
//! key ([`Checkpoint`]), streaming verification that names the first bad
//! record ([`Verifier`], [`verify_chain`]), and a JSON Lines export that can
//! be verified offline ([`write_jsonl`], [`read_jsonl`]).
//!
//! This crate does no I/O of its own beyond the `Read`/`Write` it is handed;
//! the store persists records and checkpoints, and the CLI and API feed what
//! the store returns to a [`Verifier`].
//!
//! # What the store must persist
//!
//! - every record, `seq` 1, 2, 3, … without gaps, `prev_hash` of record 1
//!   being [`Hash::GENESIS`];
//! - a **periodic checkpoint** over every record whose `seq` is a multiple of
//!   [`CHECKPOINT_INTERVAL`] ([`checkpoint_due`]), committed in the same
//!   transaction as that record: the verifier requires it
//!   ([`FailureKind::MissingCheckpoint`]), so deleting a checkpoint row is
//!   detected;
//! - a **head checkpoint** over the last record, replaced in the same
//!   transaction as every commit batch: it is what makes cutting records off
//!   the end, or appending forged ones, detectable.
//!
//! An export or verification must read records, checkpoints and head from one
//! snapshot (one read transaction), or a head newer than the records read
//! looks like truncation.
//!
//! What no offline check can detect: rolling the whole log back to an earlier
//! state that was itself validly signed (old records, old head). Shipping
//! heads off the machine (SIEM, syslog) is the defence against that.

#![warn(missing_docs)]
// The verifier and the export reader face hostile input: no panics.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod chain;
mod checkpoint;
mod emit;
mod event;
mod export;
mod verify;

pub use chain::{Entry, Hash, StoredRecord, record_hash};
pub use checkpoint::{CHECKPOINT_INTERVAL, Checkpoint, InstanceKey, PublicKey, checkpoint_due};
pub use emit::log_appended;
pub use event::{Actor, AuditEvent, LoginFailure, SessionEnd};
pub use export::{
    ExportError, ExportErrorKind, ExportItem, ExportedLog, JsonlReader, JsonlWriter,
    MAX_LINE_BYTES, read_jsonl, write_jsonl,
};
pub use verify::{FailureKind, Verifier, VerifyFailure, VerifyReport, verify_chain};

/// Errors of this crate's key handling.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The instance key could not be generated or parsed; the text says which.
    #[error("instance key: {0}")]
    Key(&'static str),
}
