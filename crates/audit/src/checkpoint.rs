//! Signed checkpoints: the instance's Ed25519 key signs `(seq, hash, time)` of
//! a record, so a verifier holding only the public key can tell that the chain
//! up to that record is the one this instance wrote, and that nothing after a
//! checkpoint's record was cut off the end.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::chain::Hash;

const CHECKPOINT_DOMAIN: &[u8] = b"sekimori-audit-checkpoint-v1\0";

/// A periodic checkpoint is signed over every record whose `seq` is a
/// multiple of this, in the same transaction as the record. Part of the log
/// format: verification of existing logs depends on it, so it never changes.
pub const CHECKPOINT_INTERVAL: u64 = 1024;

/// Whether record `seq` needs a periodic checkpoint (`seq` a non-zero
/// multiple of [`CHECKPOINT_INTERVAL`]).
pub fn checkpoint_due(seq: u64) -> bool {
    seq != 0 && seq.is_multiple_of(CHECKPOINT_INTERVAL)
}

/// The instance's signing key. The PKCS#8 document lives in the data
/// directory (mode 0600); it is never logged.
pub struct InstanceKey {
    pair: Ed25519KeyPair,
}

impl fmt::Debug for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceKey").field("public", &self.public_key()).finish_non_exhaustive()
    }
}

impl InstanceKey {
    /// A new random key and its PKCS#8 v2 document, to be written to disk.
    pub fn generate() -> Result<(InstanceKey, Vec<u8>), AuditError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| AuditError::Key("generation failed"))?;
        let bytes = doc.as_ref().to_vec();
        Ok((Self::from_pkcs8(&bytes)?, bytes))
    }

    /// Loads a PKCS#8 (v1 or v2) Ed25519 document.
    pub fn from_pkcs8(der: &[u8]) -> Result<InstanceKey, AuditError> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(der))
            .map_err(|_| AuditError::Key("not an Ed25519 PKCS#8 document"))?;
        Ok(Self { pair })
    }

    /// The public half, to export and to verify with.
    pub fn public_key(&self) -> PublicKey {
        let mut k = [0u8; 32];
        let pk = self.pair.public_key().as_ref();
        if pk.len() == 32 {
            k.copy_from_slice(pk);
        }
        PublicKey(k)
    }

    /// Signs "record `seq` has hash `hash`", made at `ts_micros`.
    pub fn sign_checkpoint(&self, seq: u64, hash: Hash, ts_micros: i64) -> Checkpoint {
        let sig = self.pair.sign(&checkpoint_message(seq, &hash, ts_micros));
        Checkpoint { seq, hash, ts_micros, signature: sig.as_ref().to_vec() }
    }
}

/// An Ed25519 public key (32 bytes, hex in text).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Lowercase hex, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits, surrounding whitespace ignored; `None` otherwise.
    pub fn from_hex(s: &str) -> Option<PublicKey> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(PublicKey(out))
    }

    /// Checks `sig` over `msg`.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0).verify(msg, sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A signed statement "record `seq` has hash `hash`", made at `ts_micros`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The record this checkpoint covers (0 with [`Hash::GENESIS`]: the
    /// empty log).
    pub seq: u64,
    /// That record's hash.
    pub hash: Hash,
    /// When it was signed, microseconds since the Unix epoch.
    pub ts_micros: i64,
    /// Ed25519 signature over the domain, `seq`, `ts_micros` and `hash`.
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// Whether the signature is the instance key's over this checkpoint.
    pub fn verify(&self, key: &PublicKey) -> bool {
        key.verify(&checkpoint_message(self.seq, &self.hash, self.ts_micros), &self.signature)
    }
}

fn checkpoint_message(seq: u64, hash: &Hash, ts_micros: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len().saturating_add(48));
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&ts_micros.to_be_bytes());
    m.extend_from_slice(&hash.0);
    m
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
