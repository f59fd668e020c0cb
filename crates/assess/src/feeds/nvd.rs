//! NVD CVE API 2.0: a single CVE object (`{"id": …, "configurations": …}`),
//! one wrapped (`{"cve": {…}}`), or an API response
//! (`{"resultsPerPage": …, "vulnerabilities": [{"cve": {…}}, …]}`, where a
//! bad element is one error at `$.vulnerabilities[i].cve` and the others are
//! kept). Each CVE → one [`Vulnerability`] with `source: nvd`.
//!
//! # Mapping
//!
//! * `id` ← `id` (required); `description` ← the `descriptions[]` entry with
//!   `lang` `en` (≤ 4,096 chars); `published` ← `published`, `modified` ←
//!   `lastModified`; no title (NVD has none).
//! * `cvss` ← `metrics.cvssMetricV40/V31/V30/V2[].cvssData` (`version`,
//!   `baseScore`, `vectorString`), `primary` ⇔ `type: "Primary"`.
//! * `cwes` ← `weaknesses[].description[].value` starting `CWE-` (NVD's
//!   `NVD-CWE-Other`/`NVD-CWE-noinfo` are dropped), without duplicates.
//! * `kev_hint` ← `cisaExploitAdd` / `cisaActionDue` when either is present.
//!
//! # Configurations
//!
//! Every `cpeMatch` with `vulnerable: true` in a node that is not negated →
//! one [`Affected`]:
//!
//! * `vendor`, `product` ← the CPE's 4th and 5th fields (2.2 URIs
//!   `cpe:/a:v:p:…` too), unescaped (`\:` → `:`) but otherwise as in the CPE
//!   (`connect_secure`, lower case, underscores kept); `cpes` = `[criteria]`;
//!   `default_status: unaffected`.
//! * one [`VersionRange`] with `status: affected` and `text` = the criteria
//!   followed by the bounds as written (`cpe:2.3:o:fortinet:fortios:*:… versionStartIncluding 6.0.0 versionEndExcluding 6.0.18`):
//!   `versionStartIncluding/Excluding` → `start` inclusive/exclusive,
//!   `versionEndIncluding/Excluding` → `end`; with no bounds, `exact` ← the
//!   CPE's version field unless it is `*` or `-` (then: every version).
//! * `fixes` ← a `fixed_version` [`Remediation`] for `versionEndExcluding`
//!   (NVD's "up to, excluding" is the first fixed version).
//! * `requires_any`: in a configuration with `operator: "AND"`, the
//!   criteria of the non-vulnerable `cpeMatch`es of the *other* nodes (not
//!   negated) — "affected only when running on/with one of these".
//!   Negated nodes are ignored (neither affected entries nor conditions).

use serde::Deserialize;

use super::CvssJson;
use serde_json::value::RawValue;

use super::cve5::{Description, english};
use super::{Ctx, FeedEvent, Top, lenient, push_unique};
use crate::model::{
    Affected, Bound, Cvss, FeedRecord, KevHint, Remediation, Source, Status, VersionRange,
    Vulnerability,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct NvdCve {
    id: Option<String>,
    published: Option<String>,
    #[serde(rename = "lastModified")]
    last_modified: Option<String>,
    descriptions: Vec<Description>,
    metrics: Metrics,
    weaknesses: Vec<Weakness>,
    configurations: Vec<Configuration>,
    #[serde(rename = "cisaExploitAdd")]
    cisa_exploit_add: Option<String>,
    #[serde(rename = "cisaActionDue")]
    cisa_action_due: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metrics {
    #[serde(rename = "cvssMetricV40")]
    v40: Vec<Metric>,
    #[serde(rename = "cvssMetricV31")]
    v31: Vec<Metric>,
    #[serde(rename = "cvssMetricV30")]
    v30: Vec<Metric>,
    #[serde(rename = "cvssMetricV2")]
    v2: Vec<Metric>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metric {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "cvssData")]
    data: Option<CvssJson>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Weakness {
    description: Vec<Description2>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Description2 {
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Configuration {
    operator: Option<String>,
    negate: bool,
    nodes: Vec<Node>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Node {
    negate: bool,
    #[serde(rename = "cpeMatch")]
    cpe_match: Vec<CpeMatch>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CpeMatch {
    vulnerable: bool,
    criteria: String,
    #[serde(rename = "versionStartIncluding", deserialize_with = "lenient::text")]
    start_including: Option<String>,
    #[serde(rename = "versionStartExcluding", deserialize_with = "lenient::text")]
    start_excluding: Option<String>,
    #[serde(rename = "versionEndIncluding", deserialize_with = "lenient::text")]
    end_including: Option<String>,
    #[serde(rename = "versionEndExcluding", deserialize_with = "lenient::text")]
    end_excluding: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Wrapped<'a> {
    #[serde(borrow)]
    cve: Option<&'a RawValue>,
}

/// An API response: `vulnerabilities[].cve`.
pub(crate) fn read_response(ctx: &Ctx<'_>, top: &Top<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    let Some(raw) = top.vulnerabilities else { return };
    let elements = match ctx.elements(raw, "$.vulnerabilities") {
        Ok(e) => e,
        Err(e) => return sink(FeedEvent::Error(e)),
    };
    for (i, el) in elements.into_iter().enumerate() {
        let path = format!("$.vulnerabilities[{i}]");
        let result = ctx.parse::<Wrapped<'_>>(el, &path).and_then(|w| match w.cve {
            Some(cve) => record(ctx, cve, &format!("{path}.cve")),
            None => Err(ctx.error(format!("{path}.cve"), "missing cve")),
        });
        emit(result, sink);
    }
}

/// `{"cve": {…}}`.
pub(crate) fn read_wrapped<'a>(ctx: &Ctx<'a>, cve: &'a RawValue, sink: &mut dyn FnMut(FeedEvent)) {
    emit(record(ctx, cve, "$.cve"), sink);
}

/// A single CVE object (the whole file).
pub(crate) fn read_single(ctx: &Ctx<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    let cve: NvdCve = match serde_json::from_str(ctx.doc) {
        Ok(c) => c,
        Err(e) => {
            return sink(FeedEvent::Error(ctx.error(
                "$",
                format!("{} (line {}, column {})", super::strip_position(&e), e.line(), e.column()),
            )));
        }
    };
    emit(convert(ctx, cve, "$"), sink);
}

fn emit(r: Result<Vulnerability, crate::InputError>, sink: &mut dyn FnMut(FeedEvent)) {
    match r {
        Ok(v) => sink(FeedEvent::Record(FeedRecord::Vulnerability(v))),
        Err(e) => sink(FeedEvent::Error(e)),
    }
}

fn record<'a>(
    ctx: &Ctx<'a>,
    raw: &'a RawValue,
    path: &str,
) -> Result<Vulnerability, crate::InputError> {
    let cve: NvdCve = ctx.parse(raw, path)?;
    convert(ctx, cve, path)
}

fn convert(ctx: &Ctx<'_>, cve: NvdCve, path: &str) -> Result<Vulnerability, crate::InputError> {
    let id = cve.id.as_deref().map(str::trim).unwrap_or("");
    if id.is_empty() {
        return Err(ctx.error(format!("{path}.id"), "missing id"));
    }
    let mut v = Vulnerability {
        id: id.to_string(),
        aliases: Vec::new(),
        source: Source::Nvd,
        advisory: None,
        title: None,
        description: english(&cve.descriptions),
        published: cve.published,
        modified: cve.last_modified,
        cvss: Vec::new(),
        cwes: Vec::new(),
        affected: Vec::new(),
        remediations: Vec::new(),
        kev_hint: None,
    };
    let m = &cve.metrics;
    for (list, version) in [(&m.v40, "4.0"), (&m.v31, "3.1"), (&m.v30, "3.0"), (&m.v2, "2.0")] {
        for metric in list {
            let Some(d) = &metric.data else { continue };
            let Some(score) = d.base_score.filter(|s| s.is_finite()) else { continue };
            v.cvss.push(Cvss {
                version: d.version.clone().unwrap_or_else(|| version.to_string()),
                base_score: score,
                vector: d.vector.clone(),
                primary: metric.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("primary")),
            });
        }
    }
    for w in &cve.weaknesses {
        for d in &w.description {
            if let Some(val) = d.value.as_deref().map(str::trim).filter(|s| s.starts_with("CWE-")) {
                push_unique(&mut v.cwes, val.to_string());
            }
        }
    }
    if cve.cisa_exploit_add.is_some() || cve.cisa_action_due.is_some() {
        v.kev_hint =
            Some(KevHint { date_added: cve.cisa_exploit_add, due_date: cve.cisa_action_due });
    }
    for conf in &cve.configurations {
        if conf.negate {
            continue;
        }
        let and = conf.operator.as_deref().is_some_and(|o| o.eq_ignore_ascii_case("and"));
        for (ni, node) in conf.nodes.iter().enumerate() {
            if node.negate {
                continue;
            }
            let requires: Vec<String> = if and {
                let mut r = Vec::new();
                for (nj, other) in conf.nodes.iter().enumerate() {
                    if nj == ni || other.negate {
                        continue;
                    }
                    for m in other.cpe_match.iter().filter(|m| !m.vulnerable) {
                        push_unique(&mut r, m.criteria.clone());
                    }
                }
                r
            } else {
                Vec::new()
            };
            for m in node.cpe_match.iter().filter(|m| m.vulnerable) {
                v.affected.push(affected(m, requires.clone()));
            }
        }
    }
    Ok(v)
}

fn affected(m: &CpeMatch, requires_any: Vec<String>) -> Affected {
    let fields = cpe_fields(&m.criteria);
    let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
    let start = m
        .start_including
        .as_ref()
        .map(|s| Bound { version: s.trim().to_string(), inclusive: true })
        .or_else(|| {
            m.start_excluding
                .as_ref()
                .map(|s| Bound { version: s.trim().to_string(), inclusive: false })
        });
    let end = m
        .end_including
        .as_ref()
        .map(|s| Bound { version: s.trim().to_string(), inclusive: true })
        .or_else(|| {
            m.end_excluding
                .as_ref()
                .map(|s| Bound { version: s.trim().to_string(), inclusive: false })
        });
    let mut text = m.criteria.clone();
    for (name, val) in [
        ("versionStartIncluding", &m.start_including),
        ("versionStartExcluding", &m.start_excluding),
        ("versionEndIncluding", &m.end_including),
        ("versionEndExcluding", &m.end_excluding),
    ] {
        if let Some(val) = val {
            text.push(' ');
            text.push_str(name);
            text.push(' ');
            text.push_str(val);
        }
    }
    let version = field(3);
    let exact = if start.is_none() && end.is_none() && !matches!(version.as_str(), "*" | "-" | "") {
        Some(version)
    } else {
        None
    };
    let fixes = match &m.end_excluding {
        Some(f) => vec![Remediation {
            category: "fixed_version".to_string(),
            fixed_version: Some(f.trim().to_string()),
            details: None,
            url: None,
        }],
        None => Vec::new(),
    };
    Affected {
        vendor: field(1),
        product: field(2),
        cpes: vec![m.criteria.clone()],
        purl: None,
        ecosystem: None,
        versions: vec![VersionRange {
            status: Status::Affected,
            exact,
            start,
            end,
            scheme_hint: None,
            text,
        }],
        default_status: Status::Unaffected,
        requires_any,
        fixes,
    }
}

/// The components of a CPE name after the prefix: `[part, vendor, product,
/// version, …]`, split on unescaped `:` and unescaped (`\x` → `x`). Accepts
/// the 2.3 formatted string (`cpe:2.3:a:…`) and the 2.2 URI (`cpe:/a:…`).
pub(crate) fn cpe_fields(cpe: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = cpe.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ':' => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    if fields.first().is_some_and(|f| f.eq_ignore_ascii_case("cpe")) {
        if fields.get(1).is_some_and(|f| f.starts_with('/')) {
            // cpe:/a:vendor:… — the part is glued to the slash.
            fields.remove(0);
            if let Some(p) = fields.first_mut() {
                *p = p.trim_start_matches('/').to_string();
            }
        } else {
            fields.drain(..fields.len().min(2));
        }
    }
    fields
}
