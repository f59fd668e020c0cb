//! CSAF 2.0 advisories (e.g. CISA ICSMA): each `vulnerabilities[]` element →
//! one [`Vulnerability`] with `source: csaf` and `advisory` ←
//! `document.tracking.id`.
//!
//! # Mapping
//!
//! * `id` ← `cve`, else `<tracking id>#<index>`; `aliases` ← `ids[].text`.
//! * `title` ← the vulnerability's `title`, else `document.title` (≤ 512
//!   chars); `description` ← the first note of category `description` or
//!   `summary` (≤ 4,096 chars); `published` ← `release_date`, else
//!   `document.tracking.initial_release_date`; `modified` ←
//!   `document.tracking.current_release_date`.
//! * `cvss` ← `scores[].cvss_v3` and `scores[].cvss_v2` (`version`,
//!   `baseScore`, `vectorString`), `primary: true` (the advisory's author
//!   scored it); `cwes` ← `cwe.id`.
//! * A vulnerability without `product_status` names nothing it affects: it
//!   is an error at `$.vulnerabilities[i].product_status` (the others are
//!   kept), as is an element that is not an object or has a wrong type. A
//!   product ID not defined in the product tree is an error at its path;
//!   the record is kept without that product.
//!
//! # Products
//!
//! The product tree is walked: nested `branches` give `vendor` →
//! `product_name` (or `product_family` when there is no product name) →
//! `product_version` / `product_version_range`; the `product` at a leaf
//! gives the ID, its `product_identification_helper` the `cpe` / `purl`.
//! `full_product_names` give products with the full name as `product` and no
//! version; `relationships` give a new ID carrying the referenced product's
//! vendor, name and versions, with the `relates_to_product_reference`'s CPE
//! (else its full name) in [`Affected::requires_any`].
//!
//! `Affected.product` is the `product_name` branch (`DCMTK`), not the
//! generated full product name (`DCMTK: All versions prior to 3.6.7`), so it
//! joins with the inventory; `vendor` the vendor branch as written.
//!
//! `product_status`: `known_affected`, `first_affected`, `last_affected` →
//! [`Affected`] with versions of status `affected`; `fixed`, `first_fixed`,
//! `known_not_affected` → status `unaffected` (`fixed`/`first_fixed` also add
//! a `fixed_version` fix when the version is one version, or a range with
//! only a lower bound); `under_investigation` → status `unknown`. Every
//! entry has `default_status: unaffected`; a product with no version in the
//! tree gets one statement covering every version.
//!
//! # Version texts
//!
//! `text` is always the branch name as written. Parsed:
//!
//! * `vers:all/*`, `*`, `All versions` → every version;
//! * `vers:<scheme>/<constraints>` (scheme → `scheme_hint`) and bare
//!   comparator lists (`<= 2.2.0`, `<2.3`, `>=1.0|<2.0`): `>=`/`>` open a
//!   range, `<=`/`<` close it (`end` inclusive/exclusive), `=`/bare
//!   versions are `exact`; several ranges give several statements;
//! * the free-text patterns `prior to X` / `X and prior` (see the parent
//!   module);
//! * anything else (`9.x model 35700BAX3`, `8.x (Wireless Battery Modules …)`)
//!   is kept whole as `exact`.
//!
//! # Remediations
//!
//! `remediations[]` → [`Remediation`] (`category`, `details` ≤ 1,024 chars,
//! `url`) added to the `fixes` of each product in `product_ids` (and of the
//! products of `group_ids`); one with no products goes to
//! [`Vulnerability::remediations`]. For `vendor_fix` remediations,
//! `fixed_version` is read from the details **conservatively**: only a
//! version token (starts with a digit after an optional `v`, contains a `.`)
//! right after `version`/`v`, or after `update to`, `upgrade to`,
//! `fixed in`, `patched in`; not when followed by `and earlier`/`and prior`/
//! `or earlier`/… nor when preceded by `prior to`/`before`/`up to`. So
//! "update to Version 3.6.7 or later" → `3.6.7`, "Software version 12.5.1 -
//! Remediates …" → `12.5.1`, "CQI Reporter version 10.17 and earlier" → none,
//! "WBM version 20D30" → none (no dot).

use std::collections::HashMap;

use serde::Deserialize;

use super::CvssJson;

use super::{Ctx, FeedEvent, Top, cut, free_text_bounds, lenient, non_empty, push_unique};
use crate::model::{
    Affected, Bound, Cvss, FeedRecord, Remediation, Source, Status, VersionRange, Vulnerability,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Document {
    title: Option<String>,
    tracking: Tracking,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Tracking {
    id: Option<String>,
    initial_release_date: Option<String>,
    current_release_date: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProductTree {
    branches: Vec<Branch>,
    full_product_names: Vec<FullProductName>,
    relationships: Vec<Relationship>,
    product_groups: Vec<ProductGroup>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Branch {
    category: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    name: Option<String>,
    branches: Vec<Branch>,
    product: Option<FullProductName>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct FullProductName {
    name: Option<String>,
    product_id: Option<String>,
    product_identification_helper: Option<Helper>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Helper {
    cpe: Option<String>,
    purl: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Relationship {
    product_reference: Option<String>,
    relates_to_product_reference: Option<String>,
    full_product_name: Option<FullProductName>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProductGroup {
    group_id: Option<String>,
    product_ids: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Vuln {
    cve: Option<String>,
    title: Option<String>,
    ids: Vec<IdEntry>,
    cwe: Option<Cwe>,
    notes: Vec<Note>,
    scores: Vec<Score>,
    product_status: Option<ProductStatus>,
    remediations: Vec<Rem>,
    release_date: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IdEntry {
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Cwe {
    id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Note {
    category: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Score {
    cvss_v3: Option<CvssJson>,
    cvss_v2: Option<CvssJson>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProductStatus {
    known_affected: Vec<String>,
    first_affected: Vec<String>,
    last_affected: Vec<String>,
    fixed: Vec<String>,
    first_fixed: Vec<String>,
    known_not_affected: Vec<String>,
    under_investigation: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Rem {
    category: Option<String>,
    details: Option<String>,
    url: Option<String>,
    product_ids: Vec<String>,
    group_ids: Vec<String>,
}

/// What the product tree says about one product ID.
#[derive(Debug, Clone, Default)]
struct ProductInfo {
    vendor: String,
    product: String,
    /// Version text and whether it came from `product_version_range`.
    version: Option<String>,
    cpe: Option<String>,
    purl: Option<String>,
    requires: Vec<String>,
}

pub(crate) fn read(ctx: &Ctx<'_>, top: &Top<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    let doc: Document = match top.document.map(|d| ctx.parse(d, "$.document")) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return sink(FeedEvent::Error(e)),
        None => Document::default(),
    };
    let Some(tracking_id) = non_empty(doc.tracking.id.as_deref(), 256) else {
        return sink(FeedEvent::Error(ctx.error("$.document.tracking.id", "missing tracking id")));
    };
    let tree: ProductTree = match top.product_tree.map(|t| ctx.parse(t, "$.product_tree")) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return sink(FeedEvent::Error(e)),
        None => ProductTree::default(),
    };
    let products = products(&tree);
    let groups: HashMap<&str, &[String]> = tree
        .product_groups
        .iter()
        .filter_map(|g| Some((g.group_id.as_deref()?, g.product_ids.as_slice())))
        .collect();
    let Some(raw) = top.vulnerabilities else { return };
    let elements = match ctx.elements(raw, "$.vulnerabilities") {
        Ok(e) => e,
        Err(e) => return sink(FeedEvent::Error(e)),
    };
    for (i, el) in elements.into_iter().enumerate() {
        let path = format!("$.vulnerabilities[{i}]");
        let vuln: Vuln = match ctx.parse(el, &path) {
            Ok(v) => v,
            Err(e) => {
                sink(FeedEvent::Error(e));
                continue;
            }
        };
        let mut errors = Vec::new();
        match vulnerability(ctx, &doc, &tracking_id, &products, &groups, vuln, i, &mut errors) {
            Ok(v) => sink(FeedEvent::Record(FeedRecord::Vulnerability(v))),
            Err(e) => sink(FeedEvent::Error(e)),
        }
        for e in errors {
            sink(FeedEvent::Error(e));
        }
    }
}

fn products(tree: &ProductTree) -> HashMap<String, ProductInfo> {
    let mut out = HashMap::new();
    for b in &tree.branches {
        walk(b, &ProductInfo::default(), &mut out);
    }
    for f in &tree.full_product_names {
        if let Some(id) = &f.product_id {
            let mut info =
                ProductInfo { product: f.name.clone().unwrap_or_default(), ..Default::default() };
            helper(&mut info, f);
            out.entry(id.clone()).or_insert(info);
        }
    }
    for r in &tree.relationships {
        let Some(fpn) = &r.full_product_name else { continue };
        let Some(id) = &fpn.product_id else { continue };
        let base = r.product_reference.as_ref().and_then(|p| out.get(p)).cloned();
        let mut info = base.unwrap_or_else(|| ProductInfo {
            product: fpn.name.clone().unwrap_or_default(),
            ..Default::default()
        });
        if let Some(rel) = &r.relates_to_product_reference {
            let req = out
                .get(rel)
                .map(|p| p.cpe.clone().unwrap_or_else(|| p.product.clone()))
                .unwrap_or_else(|| rel.clone());
            push_unique(&mut info.requires, req);
        }
        if fpn.product_identification_helper.is_some() {
            helper(&mut info, fpn);
        }
        out.entry(id.clone()).or_insert(info);
    }
    out
}

fn helper(info: &mut ProductInfo, f: &FullProductName) {
    if let Some(h) = &f.product_identification_helper {
        if h.cpe.is_some() {
            info.cpe.clone_from(&h.cpe);
        }
        if h.purl.is_some() {
            info.purl.clone_from(&h.purl);
        }
    }
}

fn walk(b: &Branch, ctx: &ProductInfo, out: &mut HashMap<String, ProductInfo>) {
    let mut info = ctx.clone();
    let name = b.name.clone().unwrap_or_default();
    match b.category.as_deref().unwrap_or("") {
        "vendor" => info.vendor = name,
        "product_name" => info.product = name,
        "product_family" if info.product.is_empty() => info.product = name,
        "product_version" | "product_version_range" => info.version = Some(name),
        _ => {}
    }
    if let Some(p) = &b.product
        && let Some(id) = &p.product_id
    {
        let mut leaf = info.clone();
        if leaf.product.is_empty() {
            leaf.product = p.name.clone().unwrap_or_default();
        }
        helper(&mut leaf, p);
        out.entry(id.clone()).or_insert(leaf);
    }
    for c in &b.branches {
        walk(c, &info, out);
    }
}

#[allow(clippy::too_many_arguments)]
fn vulnerability(
    ctx: &Ctx<'_>,
    doc: &Document,
    tracking_id: &str,
    products: &HashMap<String, ProductInfo>,
    groups: &HashMap<&str, &[String]>,
    vuln: Vuln,
    index: usize,
    errors: &mut Vec<crate::InputError>,
) -> Result<Vulnerability, crate::InputError> {
    let path = format!("$.vulnerabilities[{index}]");
    let Some(status) = &vuln.product_status else {
        return Err(ctx.error(format!("{path}.product_status"), "missing product_status"));
    };
    let id = non_empty(vuln.cve.as_deref(), 64).unwrap_or_else(|| format!("{tracking_id}#{index}"));
    let mut v = Vulnerability {
        id,
        aliases: Vec::new(),
        source: Source::Csaf,
        advisory: Some(tracking_id.to_string()),
        title: non_empty(vuln.title.as_deref(), 512)
            .or_else(|| non_empty(doc.title.as_deref(), 512)),
        description: vuln
            .notes
            .iter()
            .find(|n| matches!(n.category.as_deref(), Some("description" | "summary")))
            .and_then(|n| non_empty(n.text.as_deref(), 4096)),
        published: vuln.release_date.clone().or_else(|| doc.tracking.initial_release_date.clone()),
        modified: doc.tracking.current_release_date.clone(),
        cvss: Vec::new(),
        cwes: Vec::new(),
        affected: Vec::new(),
        remediations: Vec::new(),
        kev_hint: None,
    };
    for idl in &vuln.ids {
        if let Some(t) = non_empty(idl.text.as_deref(), 256)
            && t != v.id
        {
            push_unique(&mut v.aliases, t);
        }
    }
    for s in &vuln.scores {
        for (obj, default_version) in [(&s.cvss_v3, "3.1"), (&s.cvss_v2, "2.0")] {
            let Some(o) = obj else { continue };
            let Some(score) = o.base_score.filter(|s| s.is_finite()) else { continue };
            v.cvss.push(Cvss {
                version: o.version.clone().unwrap_or_else(|| default_version.to_string()),
                base_score: score,
                vector: o.vector.clone(),
                primary: true,
            });
        }
    }
    if let Some(cwe) = vuln.cwe.as_ref().and_then(|c| non_empty(c.id.as_deref(), 64)) {
        v.cwes.push(cwe);
    }
    // product ID → indices of its Affected entries.
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    let lists: [(&str, &Vec<String>, Status, bool); 7] = [
        ("known_affected", &status.known_affected, Status::Affected, false),
        ("first_affected", &status.first_affected, Status::Affected, false),
        ("last_affected", &status.last_affected, Status::Affected, false),
        ("fixed", &status.fixed, Status::Unaffected, true),
        ("first_fixed", &status.first_fixed, Status::Unaffected, true),
        ("known_not_affected", &status.known_not_affected, Status::Unaffected, false),
        ("under_investigation", &status.under_investigation, Status::Unknown, false),
    ];
    for (list_name, ids, st, is_fix) in lists {
        for (j, pid) in ids.iter().enumerate() {
            let Some(info) = products.get(pid) else {
                errors.push(ctx.error(
                    format!("{path}.product_status.{list_name}[{j}]"),
                    format!("product ID {pid:?} is not in the product tree"),
                ));
                continue;
            };
            by_id.entry(pid.as_str()).or_default().push(v.affected.len());
            v.affected.push(affected(info, st, is_fix));
        }
    }
    for r in &vuln.remediations {
        let category = r.category.clone().unwrap_or_else(|| "vendor_fix".to_string());
        let fixed_version = if category == "vendor_fix" {
            r.details.as_deref().and_then(fixed_version_in)
        } else {
            None
        };
        let rem = Remediation {
            category,
            fixed_version,
            details: non_empty(r.details.as_deref(), 1024),
            url: r.url.clone(),
        };
        let mut targets: Vec<&str> = r.product_ids.iter().map(String::as_str).collect();
        for g in &r.group_ids {
            if let Some(ids) = groups.get(g.as_str()) {
                targets.extend(ids.iter().map(String::as_str));
            }
        }
        if targets.is_empty() {
            push_unique(&mut v.remediations, rem);
            continue;
        }
        for t in targets {
            for &k in by_id.get(t).map(Vec::as_slice).unwrap_or(&[]) {
                push_unique(&mut v.affected[k].fixes, rem.clone());
            }
        }
    }
    Ok(v)
}

fn affected(info: &ProductInfo, status: Status, is_fix: bool) -> Affected {
    let versions = match &info.version {
        Some(text) => ranges(text, status),
        None => vec![VersionRange {
            status,
            exact: None,
            start: None,
            end: None,
            scheme_hint: None,
            text: "all versions".to_string(),
        }],
    };
    let mut fixes = Vec::new();
    if is_fix {
        let fixed = versions.iter().find_map(|r| match (&r.exact, &r.start, &r.end) {
            (Some(x), None, None) => Some(x.clone()),
            (None, Some(s), None) if s.inclusive => Some(s.version.clone()),
            _ => None,
        });
        if let Some(f) = fixed {
            fixes.push(Remediation {
                category: "fixed_version".to_string(),
                fixed_version: Some(f),
                details: None,
                url: None,
            });
        }
    }
    Affected {
        vendor: info.vendor.clone(),
        product: info.product.clone(),
        cpes: info.cpe.iter().cloned().collect(),
        purl: info.purl.clone(),
        ecosystem: None,
        versions,
        default_status: Status::Unaffected,
        requires_any: info.requires.clone(),
        fixes,
    }
}

/// A CSAF version text → statements (see the module doc).
pub(crate) fn ranges(text: &str, status: Status) -> Vec<VersionRange> {
    let t = text.trim();
    let mk =
        |exact: Option<String>, start: Option<Bound>, end: Option<Bound>, hint: Option<String>| {
            VersionRange { status, exact, start, end, scheme_hint: hint, text: text.to_string() }
        };
    if let Some((start, end)) = free_text_bounds(t) {
        return vec![mk(None, start, end, None)];
    }
    let (hint, constraints) = match t.strip_prefix("vers:") {
        Some(rest) => match rest.split_once('/') {
            Some((scheme, c)) => (Some(scheme.to_string()), c),
            None => (None, ""),
        },
        None => (None, t),
    };
    let mut parsed = Vec::new();
    let mut ok = !constraints.trim().is_empty();
    for piece in constraints.split(['|', ',']) {
        let p = piece.trim();
        let (op, ver) = ["<=", ">=", "!=", "<", ">", "="]
            .iter()
            .find_map(|op| p.strip_prefix(op).map(|v| (*op, v.trim())))
            .unwrap_or(("=", p));
        // A bare version is only accepted inside `vers:`.
        let bare_ok = hint.is_some() || op != "=" || p.starts_with('=');
        if op == "!=" || !version_like(ver) || !bare_ok {
            ok = false;
            break;
        }
        parsed.push((op, ver.to_string()));
    }
    if !ok {
        return vec![mk(Some(t.to_string()), None, None, hint)];
    }
    let mut out = Vec::new();
    let mut pending: Option<Bound> = None;
    for (op, ver) in parsed {
        match op {
            ">=" | ">" => {
                if let Some(s) = pending.take() {
                    out.push(mk(None, Some(s), None, hint.clone()));
                }
                pending = Some(Bound { version: ver, inclusive: op == ">=" });
            }
            "<=" | "<" => {
                let end = Bound { version: ver, inclusive: op == "<=" };
                out.push(mk(None, pending.take(), Some(end), hint.clone()));
            }
            _ => out.push(mk(Some(ver), None, None, hint.clone())),
        }
    }
    if let Some(s) = pending {
        out.push(mk(None, Some(s), None, hint));
    }
    out
}

fn version_like(v: &str) -> bool {
    !v.is_empty()
        && !v.chars().any(char::is_whitespace)
        && v.chars().any(|c| c.is_ascii_digit())
        && !v.contains(['(', ')'])
}

/// A fixed version named in remediation text (see the module doc), without
/// a leading `v`.
pub(crate) fn fixed_version_in(details: &str) -> Option<String> {
    let words: Vec<&str> = details.split_whitespace().collect();
    let lower: Vec<String> = words
        .iter()
        .map(|w| w.trim_matches(|c: char| ",.;:()".contains(c)).to_ascii_lowercase())
        .collect();
    let at = |i: usize| lower.get(i).map(String::as_str).unwrap_or("");
    for i in 0..words.len() {
        // Candidate token index, if a trigger is here.
        let mut cand = None;
        let w = at(i);
        if w == "version" || w == "v" {
            cand = Some(i + 1);
        } else if (w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))
            && matches!(at(i.wrapping_sub(1)), "to" | "in")
        {
            cand = Some(i);
        } else if matches!(
            (at(i), at(i + 1)),
            ("update" | "upgrade" | "updated" | "upgraded", "to")
                | ("fixed" | "patched" | "remediated", "in")
        ) && !matches!(at(i + 2), "version" | "v")
        {
            cand = Some(i + 2);
        }
        let Some(c) = cand else { continue };
        let Some(raw) = words.get(c) else { continue };
        let tok = raw.trim_start_matches('(').trim_end_matches(|ch: char| ",.;:)".contains(ch));
        let tok = tok.strip_prefix(['v', 'V']).unwrap_or(tok);
        let well_formed = tok.starts_with(|ch: char| ch.is_ascii_digit())
            && tok.contains('.')
            && tok.chars().all(|ch| ch.is_ascii_alphanumeric() || "._-+".contains(ch));
        if !well_formed {
            continue;
        }
        let after = format!("{} {}", at(c + 1), at(c + 2));
        let limiting = [
            "and earlier",
            "and prior",
            "or earlier",
            "and older",
            "and below",
            "or prior",
            "and lower",
            "or lower",
        ];
        if limiting.iter().any(|l| after.starts_with(l)) {
            continue;
        }
        let before = format!("{} {}", at(i.wrapping_sub(2)), at(i.wrapping_sub(1)));
        if ["prior to", "up to", "earlier than"].iter().any(|b| before.ends_with(b))
            || matches!(at(i.wrapping_sub(1)), "before" | "through")
        {
            continue;
        }
        return Some(cut(tok, 64));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::fixed_version_in;

    #[test]
    fn fixed_version_phrases() {
        let f = |s: &str| fixed_version_in(s);
        assert_eq!(f("Users should update to version 2.3.1 or later."), Some("2.3.1".into()));
        assert_eq!(f("Version 3.0.5"), Some("3.0.5".into()));
        assert_eq!(f("This issue is fixed in v1.2."), Some("1.2".into()));
        assert_eq!(f("Upgrade to 4.10.2-h3 (released May 2024)"), Some("4.10.2-h3".into()));
        assert_eq!(
            f("OFFIS recommends all users update to Version 3.6.7 or later."),
            Some("3.6.7".into())
        );
        // Not fixes.
        assert_eq!(f("CQI Reporter version 10.17 and earlier is affected."), None);
        assert_eq!(f("All versions prior to version 3.2 are affected."), None);
        assert_eq!(f("included in WBM version 20D30"), None);
        assert_eq!(f("Update to the latest version."), None);
        assert_eq!(f("Contact the vendor."), None);
    }
}
