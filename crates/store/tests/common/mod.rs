//! Builders shared by the store's integration tests.
#![allow(dead_code)]

use std::net::IpAddr;

use sekimori_store::AuditCtx;
use sekimori_types::{
    AssetSpec, Criticality, Label, MaintenancePort, NewUser, Role, Username, ZoneSpec,
};

pub fn admin_ctx() -> AuditCtx {
    AuditCtx::cli("root")
}

pub fn web_ctx(source: &str) -> AuditCtx {
    AuditCtx::anonymous(Some("someone".into()), Some(source.parse::<IpAddr>().unwrap()))
}

pub fn new_user(name: &str, role: Role) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        display_name: Label::parse("display_name", &format!("{name} display")).unwrap(),
        role,
        company: (role == Role::Vendor).then(|| Label::parse("company", "Acme Medical").unwrap()),
        department: (role != Role::Vendor)
            .then(|| Label::parse("department", "Clinical Engineering").unwrap()),
    }
}

pub fn asset_spec(name: &str) -> AssetSpec {
    AssetSpec {
        name: Label::parse("name", name).unwrap(),
        addresses: vec!["10.1.2.3".parse().unwrap(), "fd00::5".parse().unwrap()],
        zone: None,
        owner_department: Some(Label::parse("d", "Radiology").unwrap()),
        vendor_company: Some(Label::parse("v", "Acme Medical").unwrap()),
        criticality: Criticality::High,
        maintenance_ports: vec![
            MaintenancePort::parse("22/ssh").unwrap(),
            MaintenancePort::parse("104/dicom").unwrap(),
        ],
        max_session_minutes: 120,
        record_sessions: true,
        approvals_required: 1,
        approver_department: None,
    }
}

pub fn zone_spec(name: &str) -> ZoneSpec {
    ZoneSpec { name: Label::parse("name", name).unwrap(), description: None, critical: false }
}

pub const PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";

use sekimori_audit::AuditEvent;
use sekimori_store::{AuditRepo, Store};

/// Every event in the log, in order.
pub async fn events(s: &Store) -> Vec<AuditEvent> {
    s.audit_records(1, u32::MAX).await.unwrap().iter().map(|r| r.entry().unwrap().event).collect()
}

/// The head's seq (0: empty log).
pub async fn head_seq(s: &Store) -> u64 {
    s.audit_head().await.unwrap().map_or(0, |h| h.seq)
}

/// Asserts the log verifies and returns its record count.
pub async fn assert_verifies(t: &sekimori_test_support::TestStore) -> u64 {
    let report = t
        .store
        .verify_audit(&t.key.public_key())
        .await
        .unwrap()
        .unwrap_or_else(|f| panic!("{:?}: chain does not verify: {f:?}", t.backend()));
    report.records
}
