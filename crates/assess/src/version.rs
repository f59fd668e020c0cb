//! Version schemes as code. OWNED BY THE VERSION HELPER — this file is a
//! placeholder with the agreed public API; replace the bodies.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A way of writing versions, each with its own total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Semantic Versioning 2.0.0 (`1.2.3-rc.1+build`).
    Semver,
    /// Dotted numeric with optional suffixes (`9.8p1`, `2.2.0`, `4.3`).
    Dotted,
    /// Ivanti/Pulse Secure trains (`22.7R2.3`, `9.1R18`, `9.1R18.2`, `22.7R1.1b`).
    Ivanti,
    /// FortiOS/FortiProxy (`7.0.12`, `v7.2.4,build1396`).
    FortiOs,
    /// PAN-OS (`10.2.9-h1`, `11.1.2`).
    PanOs,
    /// Citrix ADC/NetScaler (`13.1-49.15`, `14.1-12.35`).
    Citrix,
    /// Windows builds (`10.0.19045.3803`, `10.0.17763`).
    Windows,
    /// Dates (`2024-01-15`, `20240115`).
    Date,
}

/// Why two versions cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomparable {
    /// Machine-stable reason, English.
    pub reason: String,
}

/// Compare `a` and `b` under `scheme`.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, Incomparable> {
    let _ = (scheme, a, b);
    Err(Incomparable { reason: "placeholder".into() })
}

/// The scheme a version string most likely follows, from its shape alone.
pub fn detect(text: &str) -> Option<Scheme> {
    let _ = text;
    None
}

/// Whether `a` and `b` are on the same release line (same first two
/// numbers: `9.1R18` and `9.1R3`; `7.0.12` and `7.0.1`; `13.1-49.15` and `13.1-37.1`).
pub fn same_line(scheme: Scheme, a: &str, b: &str) -> bool {
    let _ = (scheme, a, b);
    false
}
