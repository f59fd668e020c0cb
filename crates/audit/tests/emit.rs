//! `log_appended` writes one line with safe fields only.

mod common;

use std::sync::{Arc, Mutex};

use sekimori_audit::{Actor, AuditEvent, Entry, Hash, LoginFailure, StoredRecord, log_appended};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects every event's fields as `name=value` text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut f);
        self.0.lock().expect("lock").push(f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn appended_line_has_seq_kind_and_no_typed_username() {
    let canary = "hunter2-CANARY-password";
    let cases = [
        Entry {
            actor: Actor::Anonymous { username: Some(canary.into()) },
            event: AuditEvent::LoginFailed {
                username: canary.into(),
                source: None,
                reason: LoginFailure::UnknownUser,
            },
        },
        Entry {
            actor: Actor::User { id: common::user(7), username: canary.into() },
            event: AuditEvent::PasswordChanged { user: common::user(7) },
        },
    ];
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        for (i, e) in cases.iter().enumerate() {
            let rec = StoredRecord::seal(i as u64 + 41, 0, e, Hash::GENESIS);
            log_appended(&rec, e);
        }
    });
    let lines = capture.0.lock().expect("lock").clone();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert!(!l.contains(canary), "{l}");
        assert!(l.starts_with("INFO "), "{l}");
        assert!(l.contains("message=\"Audit record appended.\""), "{l}");
        assert!(l.contains("audit_hash="), "{l}");
    }
    assert!(
        lines[0].contains("audit_seq=41 ") && lines[0].contains("event=\"login_failed\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("actor=\"anonymous\"") && !lines[0].contains("actor_user"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("actor=\"user\""), "{}", lines[1]);
    assert!(lines[1].contains(&format!("actor_user={}", common::user(7))), "{}", lines[1]);
}
