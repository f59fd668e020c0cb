//! FIRST EPSS scores (`epss_scores-YYYY-MM-DD.csv`): one [`EpssScore`] per
//! data line.
//!
//! The file may start with comment lines (`#`); the one with
//! `score_date:` gives every score's `date`, as written
//! (`2025-11-01T00:00:00+0000`; `model_version` is not kept). The first
//! other line must be the header `cve,epss,percentile` (case and blanks
//! ignored; recognising it is how the format is detected). Each data line is
//! `CVE,score,percentile` with both numbers in 0–1; a line that is not
//! (wrong field count, not a number, out of range, empty CVE) is one error at
//! `line N` and the others are kept. Blank lines are skipped. A file with
//! the header but no data yields nothing.

use super::{Ctx, FeedEvent};
use crate::model::{EpssScore, FeedRecord};

fn is_header(line: &str) -> bool {
    let cols: Vec<String> = line.split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    cols.len() >= 3 && cols[0] == "cve" && cols[1] == "epss" && cols[2] == "percentile"
}

/// Whether `text` is an EPSS CSV: its first non-comment line is the header.
pub(crate) fn looks_like(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(is_header)
}

pub(crate) fn read(ctx: &Ctx<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    let mut date: Option<String> = None;
    let mut header_seen = false;
    for (n, line) in ctx.doc.lines().enumerate() {
        let lineno = n + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !header_seen {
            if let Some(comment) = line.strip_prefix('#') {
                for part in comment.split(',') {
                    if let Some(d) = part.trim().strip_prefix("score_date:") {
                        date = Some(d.trim().to_string());
                    }
                }
                continue;
            }
            if is_header(line) {
                header_seen = true;
                continue;
            }
            return sink(FeedEvent::Error(
                ctx.error(format!("line {lineno}"), "expected the header `cve,epss,percentile`"),
            ));
        }
        if line.starts_with('#') {
            continue;
        }
        match row(line, &date) {
            Ok(s) => sink(FeedEvent::Record(FeedRecord::Epss(s))),
            Err(msg) => sink(FeedEvent::Error(ctx.error(format!("line {lineno}"), msg))),
        }
    }
}

fn row(line: &str, date: &Option<String>) -> Result<EpssScore, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != 3 {
        return Err(format!("expected 3 fields (cve,epss,percentile), found {}", fields.len()));
    }
    let cve = fields[0].trim_matches('"');
    if cve.is_empty() {
        return Err("empty cve".to_string());
    }
    let num = |name: &str, s: &str| -> Result<f32, String> {
        let v: f32 =
            s.trim_matches('"').parse().map_err(|_| format!("{name} is not a number: {s:?}"))?;
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("{name} out of range 0–1: {s}"));
        }
        Ok(v)
    };
    Ok(EpssScore {
        cve: cve.to_string(),
        score: num("epss", fields[1])?,
        percentile: num("percentile", fields[2])?,
        date: date.clone(),
    })
}
