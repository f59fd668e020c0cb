//! CVE JSON 5 records (cvelistV5, CISA vulnrichment): one file, one
//! [`Vulnerability`] with `source: cve5`.
//!
//! # Mapping
//!
//! * `id` ← `cveMetadata.cveId` (required); `published` ← `datePublished`,
//!   `modified` ← `dateUpdated`.
//! * `title` ← `containers.cna.title` (≤ 512 chars); `description` ← the
//!   first `descriptions[]` entry whose `lang` starts with `en` (else the
//!   first), cut to 4,096 chars on a char boundary. A `REJECTED` record has
//!   no CNA data: it is still emitted (so a re-import replaces the old one),
//!   with `rejectedReasons` as description and no `affected`.
//! * `cvss` ← `cna.metrics[]` `cvssV4_0`, `cvssV3_1`, `cvssV3_0`, `cvssV2_0`
//!   (`primary: true`) and each `adp[].metrics[]` (`primary: false`);
//!   entries without a numeric `baseScore` are skipped. The version is the
//!   object's `version`, else the one its key names.
//! * `kev_hint` ← an ADP `metrics[].other` with `type: "kev"`
//!   (`content.dateAdded`; vulnrichment has no due date).
//! * `cwes` ← `problemTypes[].descriptions[].cweId` (or a description
//!   starting `CWE-`), CNA then ADP, without duplicates.
//! * `affected` ← `cna.affected[]` then every `adp[].affected[]` (the
//!   vulnrichment CPE entries), one [`Affected`] each: `vendor` (empty when
//!   absent), `product` (else `packageName`), `cpes`, `default_status` ←
//!   `defaultStatus` (absent: unknown).
//!
//! # Versions
//!
//! Each `versions[]` entry → one [`VersionRange`] with `status` ←
//! `status`, `scheme_hint` ← `versionType`, and `text` = the entry as
//! written, e.g. `version 9.1R18 lessThanOrEqual 9.1R18` or
//! `version 10.2.0 lessThan 10.2.9-h1 changes 10.2.9-h1:unaffected`.
//! Bounds are trimmed of surrounding blanks but otherwise kept as written.
//!
//! * `version` + `lessThan` X → `start` = `version` inclusive, `end` = X
//!   exclusive; `lessThanOrEqual` X → `end` = X inclusive. No `start` when
//!   `version` is `0`, `*`, `0.0`, `n/a` or empty. `lessThan`/`lessThanOrEqual`
//!   `*` → no `end` (open above: `version 0:8.7p1-38.el9_4.1 lessThan *`).
//! * **`version` equal to its `lessThanOrEqual`** (Ivanti's
//!   `version 9.1R18 lessThanOrEqual 9.1R18`) is kept as written: `start` =
//!   `end` = X, both inclusive. Read literally it is one version; CNAs write
//!   it to mean "up to X". The matcher reads it that way on X's release line
//!   and says so in the finding (medium confidence), and answers "possibly
//!   affected" for older lines the record does not state.
//! * `version` equal to its `lessThan` (literally no version at all) is
//!   mapped to **no `start`**, `end` = X exclusive: "before X".
//! * No `lessThan*`: `*`, `all`, `All` or `0` → every version (no `exact`,
//!   no bounds); the free-text patterns of `free_text_bounds` in the parent
//!   module (`prior to X` / `before X` → end exclusive, `X and prior` /
//!   `X and earlier` → end inclusive); anything else is `exact` as written
//!   (`9.x`, `n/a`, `FortiOS 6.0.0 to 6.0.4, …` — nothing invented).
//!
//! # Fixes
//!
//! [`Affected::fixes`] gets a [`Remediation`] with `category:
//! "fixed_version"` for: a `changes[]` item `{at: X, status: unaffected}`;
//! the `lessThan` X of an `affected` entry (X ≠ `*`); and the `version` X of
//! an `unaffected` entry open above (`version X lessThan *`, the Red Hat
//! style) — each fixed version once per product.

use serde::Deserialize;

use super::CvssJson;
use serde_json::value::RawValue;

use super::{Ctx, FeedEvent, Top, lenient, non_empty, push_unique, status_of};
use crate::model::{
    Affected, Bound, Cvss, FeedRecord, KevHint, Remediation, Source, Status, VersionRange,
    Vulnerability,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    #[serde(rename = "cveId")]
    cve_id: Option<String>,
    state: Option<String>,
    #[serde(rename = "datePublished")]
    date_published: Option<String>,
    #[serde(rename = "dateUpdated")]
    date_updated: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Containers<'a> {
    #[serde(borrow)]
    cna: Option<&'a RawValue>,
    #[serde(borrow)]
    adp: Vec<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Container {
    title: Option<String>,
    descriptions: Vec<Description>,
    #[serde(rename = "rejectedReasons")]
    rejected_reasons: Vec<Description>,
    metrics: Vec<Metric>,
    affected: Vec<AffectedEntry>,
    #[serde(rename = "problemTypes")]
    problem_types: Vec<ProblemType>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Description {
    lang: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metric {
    #[serde(rename = "cvssV4_0")]
    v4_0: Option<CvssJson>,
    #[serde(rename = "cvssV3_1")]
    v3_1: Option<CvssJson>,
    #[serde(rename = "cvssV3_0")]
    v3_0: Option<CvssJson>,
    #[serde(rename = "cvssV2_0")]
    v2_0: Option<CvssJson>,
    other: Option<Other>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Other {
    #[serde(rename = "type")]
    kind: Option<String>,
    content: Option<KevContent>,
}

/// `other.content`: only the KEV shape is read; any other object parses to
/// nothing (fields are all optional, unknown ones ignored).
#[derive(Deserialize, Default)]
#[serde(default)]
struct KevContent {
    #[serde(rename = "dateAdded", deserialize_with = "lenient::text")]
    date_added: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProblemType {
    descriptions: Vec<ProblemDescription>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProblemDescription {
    #[serde(rename = "cweId")]
    cwe_id: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AffectedEntry {
    vendor: Option<String>,
    product: Option<String>,
    #[serde(rename = "packageName")]
    package_name: Option<String>,
    cpes: Vec<String>,
    #[serde(rename = "defaultStatus")]
    default_status: Option<String>,
    versions: Vec<VersionEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VersionEntry {
    #[serde(deserialize_with = "lenient::text")]
    version: Option<String>,
    status: Option<String>,
    #[serde(rename = "versionType")]
    version_type: Option<String>,
    #[serde(rename = "lessThan", deserialize_with = "lenient::text")]
    less_than: Option<String>,
    #[serde(rename = "lessThanOrEqual", deserialize_with = "lenient::text")]
    less_than_or_equal: Option<String>,
    changes: Vec<Change>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Change {
    #[serde(deserialize_with = "lenient::text")]
    at: Option<String>,
    status: Option<String>,
}

pub(crate) fn read(ctx: &Ctx<'_>, top: &Top<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    match record(ctx, top, sink) {
        Ok(v) => sink(FeedEvent::Record(FeedRecord::Vulnerability(v))),
        Err(e) => sink(FeedEvent::Error(e)),
    }
}

fn record<'a>(
    ctx: &Ctx<'a>,
    top: &Top<'a>,
    sink: &mut dyn FnMut(FeedEvent),
) -> Result<Vulnerability, crate::InputError> {
    let meta: Metadata = match top.cve_metadata {
        Some(raw) => ctx.parse(raw, "$.cveMetadata")?,
        None => return Err(ctx.error("$.cveMetadata", "missing cveMetadata")),
    };
    let id = meta.cve_id.as_deref().map(str::trim).unwrap_or("");
    if id.is_empty() {
        return Err(ctx.error("$.cveMetadata.cveId", "missing cveId"));
    }
    let containers: Containers<'a> = match top.containers {
        Some(raw) => ctx.parse(raw, "$.containers")?,
        None => Containers::default(),
    };
    let cna: Container = match containers.cna {
        Some(raw) => ctx.parse(raw, "$.containers.cna")?,
        None => Container::default(),
    };
    let mut v = Vulnerability {
        id: id.to_string(),
        aliases: Vec::new(),
        source: Source::Cve5,
        advisory: None,
        title: non_empty(cna.title.as_deref(), 512),
        description: english(&cna.descriptions),
        published: meta.date_published,
        modified: meta.date_updated,
        cvss: Vec::new(),
        cwes: Vec::new(),
        affected: Vec::new(),
        remediations: Vec::new(),
        kev_hint: None,
    };
    if meta.state.as_deref() == Some("REJECTED") && v.description.is_none() {
        v.description = english(&cna.rejected_reasons);
    }
    add_container(&mut v, &cna, true);
    for (i, raw) in containers.adp.iter().enumerate() {
        match ctx.parse::<Container>(raw, &format!("$.containers.adp[{i}]")) {
            Ok(adp) => add_container(&mut v, &adp, false),
            // Enrichment only: report it, keep the CNA's record.
            Err(e) => sink(FeedEvent::Error(e)),
        }
    }
    Ok(v)
}

/// The English description (`lang` starting `en`), else the first, cut to
/// 4,096 chars.
pub(crate) fn english(ds: &[Description]) -> Option<String> {
    let pick = ds
        .iter()
        .find(|d| d.lang.as_deref().is_some_and(|l| l.to_ascii_lowercase().starts_with("en")))
        .or_else(|| ds.first())?;
    non_empty(pick.value.as_deref(), 4096)
}

fn add_container(v: &mut Vulnerability, c: &Container, primary: bool) {
    for m in &c.metrics {
        for (obj, version) in
            [(&m.v4_0, "4.0"), (&m.v3_1, "3.1"), (&m.v3_0, "3.0"), (&m.v2_0, "2.0")]
        {
            if let Some(o) = obj
                && let Some(score) = o.base_score.filter(|s| s.is_finite())
            {
                v.cvss.push(Cvss {
                    version: o.version.clone().unwrap_or_else(|| version.to_string()),
                    base_score: score,
                    vector: o.vector.clone(),
                    primary,
                });
            }
        }
        if let Some(other) = &m.other
            && other.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("kev"))
        {
            let date_added = other.content.as_ref().and_then(|c| c.date_added.clone());
            v.kev_hint = Some(KevHint { date_added, due_date: None });
        }
    }
    for pt in &c.problem_types {
        for d in &pt.descriptions {
            let cwe = d.cwe_id.clone().or_else(|| {
                d.description.as_deref().filter(|s| s.starts_with("CWE-")).map(|s| {
                    s.split(|c: char| c == ':' || c.is_whitespace()).next().unwrap_or(s).to_string()
                })
            });
            if let Some(cwe) = cwe {
                push_unique(&mut v.cwes, cwe.trim().to_string());
            }
        }
    }
    for a in &c.affected {
        v.affected.push(affected(a));
    }
}

fn affected(a: &AffectedEntry) -> Affected {
    let mut out = Affected {
        vendor: a.vendor.clone().unwrap_or_default(),
        product: a.product.clone().or_else(|| a.package_name.clone()).unwrap_or_default(),
        cpes: a.cpes.clone(),
        purl: None,
        ecosystem: None,
        versions: Vec::with_capacity(a.versions.len()),
        default_status: status_of(a.default_status.as_deref()),
        requires_any: Vec::new(),
        fixes: Vec::new(),
    };
    for ve in &a.versions {
        let (range, fixed) = version_range(ve);
        out.versions.push(range);
        for f in fixed {
            let fix = Remediation {
                category: "fixed_version".to_string(),
                fixed_version: Some(f),
                details: None,
                url: None,
            };
            push_unique(&mut out.fixes, fix);
        }
    }
    out
}

fn no_start(v: &str) -> bool {
    matches!(v, "" | "0" | "*" | "0.0" | "n/a" | "N/A")
}

fn render(ve: &VersionEntry) -> String {
    let mut t = format!("version {}", ve.version.as_deref().unwrap_or(""));
    if let Some(l) = &ve.less_than {
        t.push_str(" lessThan ");
        t.push_str(l);
    }
    if let Some(l) = &ve.less_than_or_equal {
        t.push_str(" lessThanOrEqual ");
        t.push_str(l);
    }
    if !ve.changes.is_empty() {
        t.push_str(" changes");
        for c in &ve.changes {
            t.push(' ');
            t.push_str(c.at.as_deref().unwrap_or(""));
            t.push(':');
            t.push_str(c.status.as_deref().unwrap_or(""));
        }
    }
    t
}

/// One `versions[]` entry → its range and the fixed versions it implies.
fn version_range(ve: &VersionEntry) -> (VersionRange, Vec<String>) {
    let status = status_of(ve.status.as_deref());
    let text = render(ve);
    let version = ve.version.as_deref().unwrap_or("").trim();
    let scheme_hint = ve.version_type.clone();
    let mut fixed = Vec::new();
    let upper = ve
        .less_than
        .as_deref()
        .map(|l| (l.trim(), false))
        .or_else(|| ve.less_than_or_equal.as_deref().map(|l| (l.trim(), true)));
    let range = match upper {
        Some((upper, inclusive)) => {
            let end = if upper == "*" || upper.is_empty() {
                None
            } else {
                Some(Bound { version: upper.to_string(), inclusive })
            };
            let start = if no_start(version) || (version == upper && !inclusive) {
                None
            } else {
                Some(Bound { version: version.to_string(), inclusive: true })
            };
            if status == Status::Affected
                && !inclusive
                && let Some(e) = &end
            {
                fixed.push(e.version.clone());
            }
            if status == Status::Unaffected
                && end.is_none()
                && let Some(s) = &start
            {
                fixed.push(s.version.clone());
            }
            VersionRange { status, exact: None, start, end, scheme_hint, text }
        }
        None => {
            if matches!(version.to_ascii_lowercase().as_str(), "*" | "all" | "0") {
                VersionRange { status, exact: None, start: None, end: None, scheme_hint, text }
            } else {
                let mut r = super::free_text_range(version, status, scheme_hint);
                r.text = text;
                r
            }
        }
    };
    for c in &ve.changes {
        if status_of(c.status.as_deref()) == Status::Unaffected
            && let Some(at) = c.at.as_deref().map(str::trim).filter(|s| !s.is_empty())
        {
            push_unique(&mut fixed, at.to_string());
        }
    }
    (range, fixed)
}
