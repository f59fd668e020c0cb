//! The report as CSV: one row per finding, in priority order.
//!
//! Columns, in this order (header row uses these names):
//!
//! | column | content |
//! |---|---|
//! | `priority` | rank, 1 first |
//! | `asset` | asset name |
//! | `asset_id` | inventory ID |
//! | `ips` | addresses, `; `-separated |
//! | `vendor`, `product`, `version` | as the inventory writes them |
//! | `cve` | vulnerability ID |
//! | `status` | `affected`, `possibly_affected`, `not_affected` |
//! | `confidence` | `high`, `medium`, `low` |
//! | `known_exploited`, `ransomware` | `true` / `false` |
//! | `kev_due_date` | KEV due date |
//! | `severity` | `critical` … `unknown` |
//! | `cvss`, `epss` | numbers, empty when unknown |
//! | `fix` | fixed version or vendor text |
//! | `why`, `why_ja` | why it matched, English and Japanese |
//! | `sources` | records that said so, `; `-separated |
//!
//! Encoding: UTF-8 **with a byte-order mark** (`EF BB BF`) — without it
//! Japanese Excel reads the file as Shift_JIS and garbles every Japanese
//! cell. Quoting follows RFC 4180 (fields with `,`, `"` or line breaks are
//! quoted, `"` doubled; records end in CRLF).
//!
//! Formula injection: a cell beginning with `=`, `+`, `-`, `@`, tab or
//! carriage return is prefixed with `'` (OWASP "CSV Injection"), so a
//! hostile asset name such as `=HYPERLINK(…)` is shown as text, not run.
//! This applies to every column; numbers never start with those characters.

use std::io;

use super::Report;
use crate::matching::Finding;

/// The header row.
pub const COLUMNS: [&str; 20] = [
    "priority",
    "asset",
    "asset_id",
    "ips",
    "vendor",
    "product",
    "version",
    "cve",
    "status",
    "confidence",
    "known_exploited",
    "ransomware",
    "kev_due_date",
    "severity",
    "cvss",
    "epss",
    "fix",
    "why",
    "why_ja",
    "sources",
];

/// The UTF-8 byte-order mark written first.
pub const BOM: &str = "\u{feff}";

/// `cell`, defused against spreadsheet formula injection: a leading `=`,
/// `+`, `-`, `@`, tab or carriage return gets a `'` in front.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn row(f: &Finding) -> [String; 20] {
    let a = &f.asset_ref;
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let num = |o: Option<f32>| o.map(|v| v.to_string()).unwrap_or_default();
    [
        f.priority.to_string(),
        f.asset.clone(),
        a.id.clone(),
        a.ips.join("; "),
        opt(&a.vendor),
        opt(&a.product),
        opt(&a.version),
        f.cve.clone(),
        f.status.as_str().to_owned(),
        f.confidence.as_str().to_owned(),
        f.known_exploited.to_string(),
        f.ransomware.to_string(),
        opt(&f.kev_due_date),
        f.severity.as_str().to_owned(),
        num(f.cvss),
        num(f.epss),
        opt(&f.fix),
        f.why.clone(),
        f.why_ja.clone(),
        f.sources.join("; "),
    ]
}

/// Write the report's rows (BOM, header, one row per finding) to `out`.
pub fn write<W: io::Write>(report: &Report, mut out: W) -> ::csv::Result<()> {
    out.write_all(BOM.as_bytes())?;
    let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(out);
    w.write_record(COLUMNS)?;
    for f in &report.findings {
        w.write_record(row(f).iter().map(|c| defuse(c).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}

/// The report as CSV text (starting with the BOM).
pub fn render(report: &Report) -> String {
    let mut buf = Vec::new();
    // Writing to memory cannot fail, and every cell is UTF-8.
    if write(report, &mut buf).is_err() {
        buf.clear();
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::defuse;

    #[test]
    fn formula_cells_are_defused() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(defuse(bad), format!("'{bad}"));
        }
        for good in ["vpn-gw-1", "7.0.12", "", "'already", "１"] {
            assert_eq!(defuse(good), good);
        }
    }
}
