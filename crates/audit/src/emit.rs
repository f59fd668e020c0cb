//! The log line for an appended record (vector style: one function per
//! event, called in one place). The store calls [`log_appended`] after the
//! record's transaction commits.
//!
//! Only the sequence number, hash, event type and actor kind (and the user
//! ID, not the name) are logged: a username field can hold a mistyped
//! password, and the operational log is kept less carefully than the chain.

use crate::chain::{Entry, StoredRecord};
use crate::event::Actor;

/// Writes one `info` line: `audit_seq`, `audit_hash`, `event` (the type tag),
/// `actor` (its kind) and `actor_user` (the user ID, when a user acted).
pub fn log_appended(rec: &StoredRecord, entry: &Entry) {
    let actor_user = match &entry.actor {
        Actor::User { id, .. } => Some(tracing::field::display(id)),
        Actor::Cli { .. } | Actor::Anonymous { .. } | Actor::System => None,
    };
    tracing::info!(
        message = "Audit record appended.",
        audit_seq = rec.seq,
        audit_hash = %rec.hash,
        event = entry.event.kind(),
        actor = entry.actor.kind(),
        actor_user,
    );
}
