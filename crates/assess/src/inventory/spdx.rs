//! SPDX JSON documents (`"spdxVersion": "SPDX-2.3"`).
//!
//! SPDX 2.3 is read fully; 2.2 and earlier 2.x on a best-effort basis
//! without an error; any other `spdxVersion` (SPDX 3 is JSON-LD of another
//! shape) refuses the file.
//!
//! Each of `packages[]` is an item:
//!
//! | item field | SPDX |
//! | --- | --- |
//! | `id` | `SPDXID` (else the JSON path) |
//! | `name`, `product` | `name` |
//! | `version` | `versionInfo` |
//! | `vendor` | `supplier`, else `originator`, without the `Organization: ` / `Person: ` / `Tool: ` prefix and any ` (email)`; `NOASSERTION` is no vendor |
//! | `cpe` | `externalRefs[]` with `referenceType` `cpe23Type` (else `cpe22Type`): `referenceLocator` |
//! | `purl` | `externalRefs[]` with `referenceType` `purl` |
//! | `component_type` | `primaryPackagePurpose`, lower case, `_` as `-` |
//!
//! The package the document describes (`documentDescribes[]`, or a
//! relationship `SPDXRef-DOCUMENT DESCRIBES X`, or `X DESCRIBED_BY
//! SPDXRef-DOCUMENT`) is the device: every other package's `parent` is its
//! SPDXID. When several are described, the first is taken.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Inventory, InventoryItem, Json, short, source, type_name};
use crate::InputError;

pub(super) fn read(file: &Path, doc: &Map<String, Value>) -> Result<Inventory, InputError> {
    match doc.get("spdxVersion") {
        Some(Value::String(s)) if s.trim().starts_with("SPDX-2.") => {}
        other => {
            return Err(InputError::new(
                file,
                "$.spdxVersion",
                format!(
                    "spdxVersion {} is not supported; SPDX 2.x JSON (2.3) is read",
                    short(other)
                ),
            ));
        }
    }
    let mut j = Json::new(file);
    let src = source("spdx", file);
    let described = described(&mut j, doc);

    let mut items = Vec::new();
    if let Some(pkgs) = j.arr(doc, "$", "packages") {
        for (i, v) in pkgs.iter().enumerate() {
            let p = format!("$.packages[{i}]");
            let Value::Object(pkg) = v else {
                j.error(&p, format!("expected a package object, found {}", type_name(v)));
                continue;
            };
            if let Some(item) = package(&mut j, pkg, &p, &src) {
                items.push(item);
            }
        }
    }
    if let Some(dev) = described.filter(|d| items.iter().any(|it| &it.id == d)) {
        for it in &mut items {
            if it.id != dev {
                it.parent = Some(dev.clone());
            }
        }
    }
    Ok(Inventory { items, errors: j.errors })
}

/// The SPDXID of the (first) described package.
fn described(j: &mut Json<'_>, doc: &Map<String, Value>) -> Option<String> {
    if let Some(first) = j.strs(doc, "$", "documentDescribes").into_iter().next() {
        return Some(first);
    }
    let doc_id = j.str(doc, "$", "SPDXID").unwrap_or_else(|| "SPDXRef-DOCUMENT".into());
    let rels = j.arr(doc, "$", "relationships")?;
    for (i, r) in rels.iter().enumerate() {
        let p = format!("$.relationships[{i}]");
        let Value::Object(r) = r else {
            j.error(&p, format!("expected a relationship object, found {}", type_name(r)));
            continue;
        };
        let a = j.str(r, &p, "spdxElementId");
        let kind = j.str(r, &p, "relationshipType");
        let b = j.str(r, &p, "relatedSpdxElement");
        match (a, kind.as_deref(), b) {
            (Some(a), Some("DESCRIBES"), Some(b)) if a == doc_id => return Some(b),
            (Some(a), Some("DESCRIBED_BY"), Some(b)) if b == doc_id => return Some(a),
            _ => {}
        }
    }
    None
}

fn package(
    j: &mut Json<'_>,
    pkg: &Map<String, Value>,
    path: &str,
    src: &str,
) -> Option<InventoryItem> {
    let name = match pkg.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        other => {
            j.error(
                &format!("{path}.name"),
                format!("package has no name (name is {}); skipped", short(other)),
            );
            return None;
        }
    };
    let id = j.str(pkg, path, "SPDXID").unwrap_or_else(|| path.to_owned());
    let vendor = j
        .str(pkg, path, "supplier")
        .and_then(|s| party(&s))
        .or_else(|| j.str(pkg, path, "originator").and_then(|s| party(&s)));
    let (mut cpe23, mut cpe22, mut purl) = (None, None, None);
    if let Some(refs) = j.arr(pkg, path, "externalRefs") {
        for (i, r) in refs.iter().enumerate() {
            let p = format!("{path}.externalRefs[{i}]");
            let Value::Object(r) = r else {
                j.error(&p, format!("expected an object, found {}", type_name(r)));
                continue;
            };
            let kind = j.str(r, &p, "referenceType");
            let loc = j.str(r, &p, "referenceLocator");
            let slot = match kind.as_deref() {
                Some("cpe23Type") => &mut cpe23,
                Some("cpe22Type") => &mut cpe22,
                Some("purl") => &mut purl,
                _ => continue,
            };
            if slot.is_none() {
                *slot = loc;
            }
        }
    }
    Some(InventoryItem {
        id,
        product: Some(name.clone()),
        name,
        vendor,
        version: j.str(pkg, path, "versionInfo"),
        cpe: cpe23.or(cpe22),
        purl,
        component_type: j
            .str(pkg, path, "primaryPackagePurpose")
            .map(|t| t.to_ascii_lowercase().replace('_', "-")),
        source: src.to_owned(),
        ..InventoryItem::default()
    })
}

/// `Organization: Siemens Healthineers (x@y)` → `Siemens Healthineers`.
fn party(s: &str) -> Option<String> {
    if s.trim() == "NOASSERTION" {
        return None;
    }
    let rest = ["Organization:", "Person:", "Tool:"]
        .iter()
        .find_map(|p| s.trim().strip_prefix(p))
        .unwrap_or(s);
    let rest = match rest.rfind(" (") {
        Some(i) if rest.trim_end().ends_with(')') => &rest[..i],
        _ => rest,
    };
    super::non_empty(rest)
}

#[cfg(test)]
mod tests {
    use super::party;

    #[test]
    fn parties() {
        assert_eq!(
            party("Organization: Acme Medical (psirt@acme.example)").as_deref(),
            Some("Acme Medical")
        );
        assert_eq!(party("Person: Jane Doe").as_deref(), Some("Jane Doe"));
        assert_eq!(party("NOASSERTION"), None);
    }
}
