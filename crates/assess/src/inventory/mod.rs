//! Inventory inputs. OWNED BY THE INVENTORY HELPER — placeholder with the
//! agreed public API.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::InputError;

/// One thing the hospital has: a device from the ledger or the sensor, or a
/// software component of one (from an SBOM).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Stable ID within the input (ledger: `ledger:<file>:<line>` or its
    /// asset-number column; SBOM: `bom-ref`/SPDXID; sensor: asset ID).
    pub id: String,
    /// Human name (機器名 / name / component name).
    pub name: String,
    /// Manufacturer / vendor as written.
    pub vendor: Option<String>,
    /// Product as written.
    pub product: Option<String>,
    /// Model number (型番) as written.
    pub model: Option<String>,
    /// Version as written.
    pub version: Option<String>,
    /// CPE 2.3 name when the input gives one.
    pub cpe: Option<String>,
    /// Package URL when the input gives one.
    pub purl: Option<String>,
    /// Addresses.
    pub ips: Vec<String>,
    /// MAC address.
    pub mac: Option<String>,
    /// Location (設置場所).
    pub location: Option<String>,
    /// Department (管理部署).
    pub department: Option<String>,
    /// Role (`vpn_gateway`, `pacs`, `nurse_call`, …) when known.
    pub role: Option<String>,
    /// Reachable from the internet (ledger column or evidence).
    pub internet_facing: Option<bool>,
    /// Offers or takes remote maintenance / remote access (MDS2 remote
    /// service, a VPN appliance).
    pub remote_access: Option<bool>,
    /// MFA on that remote access (MDS2).
    pub mfa: Option<bool>,
    /// Network ports it listens on (MDS2, ledger).
    pub ports: Vec<u16>,
    /// The device this component belongs to (SBOM components: the
    /// metadata component / described package).
    pub parent: Option<String>,
    /// Which file and format it came from.
    pub source: String,
}

/// What one read produced: the items, and the rows/records that were skipped.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Items read.
    pub items: Vec<InventoryItem>,
    /// Rows or records skipped, with where and why.
    pub errors: Vec<InputError>,
}

/// Read one inventory file, detecting its format (CSV ledger, CycloneDX
/// JSON, SPDX JSON, MDS2 CSV/JSON, sensor inventory JSON). A file that is
/// none of these, or unreadable, is an error; a bad row is in `errors`.
pub fn read_path(path: &Path) -> Result<Inventory, InputError> {
    Err(InputError::new(path, "", "placeholder"))
}
