//! The report as JSON.
//!
//! ```text
//! {
//!   "generated_at": "2026-03-01T09:00:00+09:00",
//!   "inventory": {"items_read": …, "sources": […]},
//!   "feeds": {"sources": [{"source", "vulnerabilities", "kev_entries", "epss_scores"}…]},
//!   "summary": {"assets_assessed", "findings", "by_status": {…}, "assets_with_findings",
//!               "known_exploited", "ransomware", "exposed", "by_severity": {…}},
//!   "findings": [ every field of a Finding: "asset", "asset_ref", "cve", … "why", … ]
//! }
//! ```
//!
//! Keys come in declaration order (serde derive), so the same report gives
//! the same bytes. Each finding carries at least `asset`, `cve`,
//! `known_exploited`, `severity` and `why` (the design contract).

use serde::Serialize;

use super::{FeedSummary, InventorySummary, Report, Summary};
use crate::matching::Finding;

#[derive(Serialize)]
struct Doc<'a> {
    generated_at: &'a str,
    inventory: &'a InventorySummary,
    feeds: &'a FeedSummary,
    summary: Summary,
    findings: &'a [Finding],
}

/// The report as pretty-printed JSON (two-space indent, trailing newline).
pub fn render(report: &Report) -> String {
    let mut out = Vec::new();
    // Writing to memory cannot fail.
    let _ = write(report, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`render`], streamed to `w` (a large report is never held whole in
/// memory); only `w`'s own errors are returned.
pub fn write<W: std::io::Write>(report: &Report, mut w: W) -> std::io::Result<()> {
    let doc = Doc {
        generated_at: &report.generated_at,
        inventory: &report.inventory,
        feeds: &report.feeds,
        summary: Summary::of(report),
        findings: &report.findings,
    };
    // Serializing plain structs of strings and numbers cannot fail but
    // for the writer; a non-finite float becomes `null`.
    serde_json::to_writer_pretty(&mut w, &doc).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}
