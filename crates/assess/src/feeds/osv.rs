//! OSV records (schema 1.x, e.g. GitHub advisories, PyPI, Go): one file, one
//! [`Vulnerability`] with `source: osv`.
//!
//! # Mapping
//!
//! * `id`: the first `aliases` entry that is a CVE ID (`CVE-…`), so the
//!   record joins with KEV, EPSS, CVE 5 and NVD; then `aliases` = the OSV
//!   `id` followed by the other aliases. Without a CVE alias, `id` is the OSV
//!   ID (`GHSA-…`).
//! * `title` ← `summary` (≤ 512 chars), `description` ← `details`
//!   (≤ 4,096), `published`, `modified` as given.
//! * `cvss` ← `severity[]` (top level, and each `affected[].severity`):
//!   `CVSS_V3` vectors get their base score **computed** (CVSS v3.0/3.1
//!   formula); a plain number as `score` is taken as is; `CVSS_V4`/`CVSS_V2`
//!   vectors and other types without a number are left out (the model has no
//!   score-less CVSS). `primary: false`. `database_specific.severity`
//!   (`HIGH`, `MODERATE`) is not kept.
//! * `cwes` ← `database_specific.cwe_ids` when it is a list of strings.
//! * `affected[]` → one [`Affected`] each: `vendor` empty, `product` ←
//!   `package.name`, `ecosystem` ← `package.ecosystem`, `purl` ←
//!   `package.purl`, `default_status: unaffected`.
//!
//! # Versions
//!
//! Each `ranges[]` (`SEMVER`, `ECOSYSTEM`, `GIT` → `scheme_hint`) is read as
//! its event list: `introduced` X opens a range (X = `0`: no `start`; else
//! `start` inclusive); `fixed` X closes it with `end` exclusive and adds a
//! `fixed_version` X fix; `last_affected` X closes it with `end` inclusive;
//! `limit` X closes it with `end` exclusive (no fix). A range still open at
//! the end has no `end`. All statements have status `affected`; `text` is
//! the event pair as written (`SEMVER introduced 0 fixed 1.2.3`).
//! `versions[]` entries → `exact` statements (`text` = the version). An
//! entry with neither ranges nor versions gets one statement "every
//! version".

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Ctx, FeedEvent, lenient, non_empty, push_unique};
use crate::model::{
    Affected, Bound, Cvss, FeedRecord, Remediation, Source, Status, VersionRange, Vulnerability,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Osv<'a> {
    id: Option<String>,
    aliases: Vec<String>,
    summary: Option<String>,
    details: Option<String>,
    published: Option<String>,
    modified: Option<String>,
    severity: Vec<Severity>,
    affected: Vec<OsvAffected>,
    #[serde(borrow)]
    database_specific: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Severity {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    score: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OsvAffected {
    package: Option<Package>,
    ranges: Vec<Range>,
    #[serde(deserialize_with = "text_list")]
    versions: Vec<String>,
    severity: Vec<Severity>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Package {
    ecosystem: Option<String>,
    name: Option<String>,
    purl: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Range {
    #[serde(rename = "type")]
    kind: Option<String>,
    events: Vec<Event>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Event {
    #[serde(deserialize_with = "lenient::text")]
    introduced: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    fixed: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    last_affected: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    limit: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DbSpecific {
    cwe_ids: Vec<String>,
}

fn text_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct T(#[serde(deserialize_with = "lenient::text")] Option<String>);
    let v: Option<Vec<T>> = Deserialize::deserialize(d)?;
    Ok(v.unwrap_or_default().into_iter().filter_map(|t| t.0).collect())
}

pub(crate) fn read(ctx: &Ctx<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    let osv: Osv<'_> = match serde_json::from_str(ctx.doc) {
        Ok(o) => o,
        Err(e) => {
            return sink(FeedEvent::Error(ctx.error(
                "$",
                format!("{} (line {}, column {})", super::strip_position(&e), e.line(), e.column()),
            )));
        }
    };
    let Some(osv_id) = non_empty(osv.id.as_deref(), 256) else {
        return sink(FeedEvent::Error(ctx.error("$.id", "missing id")));
    };
    let cve = osv.aliases.iter().map(|a| a.trim()).find(|a| a.starts_with("CVE-"));
    let (id, mut aliases) = match cve {
        Some(c) => (c.to_string(), vec![osv_id.clone()]),
        None => (osv_id.clone(), Vec::new()),
    };
    for a in &osv.aliases {
        let a = a.trim();
        if a != id && a != osv_id && !a.is_empty() {
            push_unique(&mut aliases, a.to_string());
        }
    }
    let mut v = Vulnerability {
        id,
        aliases,
        source: Source::Osv,
        advisory: None,
        title: non_empty(osv.summary.as_deref(), 512),
        description: non_empty(osv.details.as_deref(), 4096),
        published: osv.published,
        modified: osv.modified,
        cvss: Vec::new(),
        cwes: Vec::new(),
        affected: Vec::new(),
        remediations: Vec::new(),
        kev_hint: None,
    };
    if let Some(db) = osv.database_specific
        && let Ok(d) = serde_json::from_str::<DbSpecific>(db.get())
    {
        for c in d.cwe_ids {
            push_unique(&mut v.cwes, c);
        }
    }
    for s in osv.severity.iter().chain(osv.affected.iter().flat_map(|a| a.severity.iter())) {
        if let Some(c) = severity(s) {
            push_unique(&mut v.cvss, c);
        }
    }
    for a in &osv.affected {
        v.affected.push(affected(a));
    }
    sink(FeedEvent::Record(FeedRecord::Vulnerability(v)));
}

fn severity(s: &Severity) -> Option<Cvss> {
    let score = s.score.as_deref()?.trim();
    let kind = s.kind.as_deref().unwrap_or("");
    if let Ok(n) = score.parse::<f32>() {
        if !(0.0..=10.0).contains(&n) {
            return None;
        }
        let version = match kind {
            "CVSS_V4" => "4.0",
            "CVSS_V3" => "3.1",
            "CVSS_V2" => "2.0",
            _ => return None,
        };
        return Some(Cvss {
            version: version.to_string(),
            base_score: n,
            vector: None,
            primary: false,
        });
    }
    let version = if score.starts_with("CVSS:3.1/") {
        "3.1"
    } else if score.starts_with("CVSS:3.0/") {
        "3.0"
    } else {
        return None;
    };
    let base = cvss3_base_score(score)?;
    Some(Cvss {
        version: version.to_string(),
        base_score: base,
        vector: Some(score.to_string()),
        primary: false,
    })
}

/// The CVSS v3.x base score of a vector (`CVSS:3.1/AV:N/AC:L/…`), `None`
/// when a base metric is missing or unknown.
pub fn cvss3_base_score(vector: &str) -> Option<f32> {
    let mut m = std::collections::HashMap::new();
    for part in vector.split('/').skip(1) {
        let (k, v) = part.split_once(':')?;
        m.insert(k, v);
    }
    let changed = match *m.get("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match *m.get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match *m.get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (*m.get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match *m.get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |k: &str| -> Option<f64> {
        match *m.get(k)? {
            "H" => Some(0.56),
            "L" => Some(0.22),
            "N" => Some(0.0),
            _ => None,
        }
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact =
        if changed { 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15) } else { 6.42 * iss };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(roundup(raw) as f32)
}

/// CVSS v3.1 "Roundup": the smallest one-decimal number ≥ x.
fn roundup(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

fn affected(a: &OsvAffected) -> Affected {
    let pkg = a.package.as_ref();
    let mut out = Affected {
        vendor: String::new(),
        product: pkg.and_then(|p| p.name.clone()).unwrap_or_default(),
        cpes: Vec::new(),
        purl: pkg.and_then(|p| p.purl.clone()),
        ecosystem: pkg.and_then(|p| p.ecosystem.clone()),
        versions: Vec::new(),
        default_status: Status::Unaffected,
        requires_any: Vec::new(),
        fixes: Vec::new(),
    };
    for r in &a.ranges {
        let hint = r.kind.clone();
        let kind = r.kind.as_deref().unwrap_or("");
        let mut open: Option<(Option<Bound>, String)> = None;
        let mk = |start: Option<Bound>, end: Option<Bound>, text: String| VersionRange {
            status: Status::Affected,
            exact: None,
            start,
            end,
            scheme_hint: hint.clone(),
            text,
        };
        for e in &r.events {
            if let Some(x) = &e.introduced {
                if let Some((s, t)) = open.take() {
                    out.versions.push(mk(s, None, t));
                }
                let x = x.trim();
                let start = (x != "0" && !x.is_empty())
                    .then(|| Bound { version: x.to_string(), inclusive: true });
                open = Some((start, format!("{kind} introduced {x}")));
            }
            let close = [
                (&e.fixed, "fixed", false),
                (&e.last_affected, "last_affected", true),
                (&e.limit, "limit", false),
            ];
            for (val, name, inclusive) in close {
                let Some(x) = val else { continue };
                let x = x.trim().to_string();
                let (start, prefix) = open.take().unwrap_or((None, kind.to_string()));
                let text = format!("{prefix} {name} {x}");
                if name == "fixed" {
                    push_unique(
                        &mut out.fixes,
                        Remediation {
                            category: "fixed_version".to_string(),
                            fixed_version: Some(x.clone()),
                            details: None,
                            url: None,
                        },
                    );
                }
                out.versions.push(mk(start, Some(Bound { version: x, inclusive }), text));
            }
        }
        if let Some((s, t)) = open.take() {
            out.versions.push(mk(s, None, t));
        }
    }
    for ver in &a.versions {
        out.versions.push(VersionRange {
            status: Status::Affected,
            exact: Some(ver.clone()),
            start: None,
            end: None,
            scheme_hint: None,
            text: ver.clone(),
        });
    }
    if out.versions.is_empty() {
        out.versions.push(VersionRange {
            status: Status::Affected,
            exact: None,
            start: None,
            end: None,
            scheme_hint: None,
            text: "no ranges or versions given".to_string(),
        });
    }
    out
}
