//! The hash chain. Each record commits to its sequence number, time, body
//! (the exact JSON bytes stored) and the previous record's hash, so changing,
//! removing, inserting or reordering any record breaks every later link.

use std::fmt;

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use crate::event::{Actor, AuditEvent};

/// Domain separation for record hashes.
const RECORD_DOMAIN: &[u8] = b"sekimori-audit-record-v1\0";

/// A SHA-256 digest, hex in JSON and text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of the first record.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Lowercase hex, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 hex digits (either case); `None` otherwise.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Hash(out))
    }

    /// From exactly 32 bytes; `None` for any other length.
    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(b).ok().map(Hash)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// What one audit record says: who did what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub event: AuditEvent,
}

impl Entry {
    /// The body bytes as stored and hashed.
    pub fn to_body(&self) -> String {
        // Serialising these plain data types cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A record as persisted. `body` is kept verbatim: verification hashes the
/// stored bytes, never a re-serialisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// 1-based, gap-free.
    pub seq: u64,
    /// Microseconds since the Unix epoch.
    pub ts_micros: i64,
    /// The entry as JSON, exactly as stored and hashed.
    pub body: String,
    /// The previous record's `hash` ([`Hash::GENESIS`] for seq 1).
    pub prev_hash: Hash,
    /// [`record_hash`] over this record's fields.
    pub hash: Hash,
}

impl StoredRecord {
    /// Builds the record that follows `prev` (`Hash::GENESIS` for seq 1).
    pub fn seal(seq: u64, ts_micros: i64, entry: &Entry, prev: Hash) -> StoredRecord {
        let body = entry.to_body();
        let hash = record_hash(seq, ts_micros, &body, &prev);
        StoredRecord { seq, ts_micros, body, prev_hash: prev, hash }
    }

    /// Parses the body back into its entry.
    pub fn entry(&self) -> Result<Entry, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

/// `SHA-256(domain || seq || ts || len(body) || body || prev)`, integers
/// big-endian, so no two distinct inputs share an encoding.
pub fn record_hash(seq: u64, ts_micros: i64, body: &str, prev: &Hash) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(RECORD_DOMAIN);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&ts_micros.to_be_bytes());
    ctx.update(&(body.len() as u64).to_be_bytes());
    ctx.update(body.as_bytes());
    ctx.update(&prev.0);
    let d = ctx.finish();
    Hash::from_slice(d.as_ref()).unwrap_or_default()
}
