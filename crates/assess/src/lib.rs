//! Assessment: what the advisories say is vulnerable, what the hospital has,
//! and which of its assets are affected, in what order to act.
//!
//! The pipeline is plain data in, plain data out, no I/O beyond reading the
//! files it is given:
//!
//! * [`feeds`] reads advisory files (CISA KEV, CVE JSON 5, NVD CVE API 2.0,
//!   CSAF 2.0, OSV, EPSS) into the normalised [`model`]: a malformed record is
//!   reported with file and JSON path and skipped; the rest is kept.
//! * [`inventory`] reads the hospital's asset ledger (CSV, Japanese or English
//!   headers), CycloneDX and SPDX SBOMs and MDS2 answers into
//!   [`inventory::InventoryItem`]s; the sensor's observed assets arrive the
//!   same way.
//! * [`version`] compares versions per scheme (semver, dotted, appliance
//!   trains…), answering "cannot compare" honestly; [`cpe`] parses and matches
//!   CPE 2.3 names; [`aliases`] maps drifting vendor/product names to one.
//! * [`matching`] joins the two into [`matching::Finding`]s that say why they
//!   matched and how sure they are; [`priority`] orders them
//!   (known-exploited first).
//! * [`report`] writes JSON, CSV and printable HTML; [`checklist`] answers
//!   the Ministry of Health checklist from evidence.

pub mod aliases;
pub mod checklist;
pub mod cpe;
mod error;
pub mod feeds;
pub mod inventory;
pub mod matching;
pub mod model;
pub mod priority;
pub mod report;
pub mod version;

pub use error::{InputError, InputErrors};
