//! CycloneDX JSON SBOMs (`"bomFormat": "CycloneDX"`).
//!
//! `specVersion` 1.4, 1.5 and 1.6 are read fully; 1.2 and 1.3 are read on
//! a best-effort basis (the fields below exist there too) without an error;
//! 2 and later, or a missing or malformed `specVersion`, refuse the file.
//!
//! * `metadata.component` is the device: an item whose ID is its `bom-ref`,
//!   else `metadata`.
//! * Each of `components[]`, recursively through nested `components`, is an
//!   item whose `parent` is the device's ID (every level: the device, not
//!   the enclosing component) and whose ID is its `bom-ref`, else its JSON
//!   path (`$.components[2].components[0]`).
//!
//! | item field | CycloneDX |
//! | --- | --- |
//! | `name`, `product` | `name` |
//! | `version` | `version` |
//! | `vendor` | first of `supplier.name`, `manufacturer.name` (1.6), `publisher`, `author`, `authors[0].name` (1.6), else `group` |
//! | `cpe`, `purl` | `cpe`, `purl` |
//! | `component_type` | `type` |
//!
//! `group` (a Maven group ID or npm scope) is not prefixed to the product:
//! CPE and advisory product names do not carry it. It is the vendor only
//! when nothing else names one.
//!
//! A component without a string `name` is an error at its path and skipped
//! (its nested components are still read); a field of the wrong type is an
//! error at `$.components[3].version` and left out of the item.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Inventory, InventoryItem, Json, short, source};
use crate::InputError;

pub(super) fn read(file: &Path, doc: &Map<String, Value>) -> Result<Inventory, InputError> {
    check_version(file, doc.get("specVersion"))?;
    let mut j = Json::new(file);
    let src = source("cyclonedx", file);
    let mut items = Vec::new();

    let mut device_id = None;
    if let Some(meta) = j.obj(doc, "$", "metadata")
        && let Some(comp) = j.obj(meta, "$.metadata", "component")
        && let Some(item) = component(&mut j, comp, "$.metadata.component", "metadata", None, &src)
    {
        device_id = Some(item.id.clone());
        items.push(item);
    }
    if let Some(comps) = j.arr(doc, "$", "components") {
        walk(&mut j, comps, "$.components", device_id.as_deref(), &src, &mut items);
    }
    Ok(Inventory { items, errors: j.errors })
}

fn check_version(file: &Path, v: Option<&Value>) -> Result<(), InputError> {
    let bad = |msg: String| Err(InputError::new(file, "$.specVersion", msg));
    let Some(Value::String(s)) = v else {
        return bad(format!(
            "specVersion is {}; expected a string such as \"1.6\" (CycloneDX 1.2-1.6 are read)",
            short(v)
        ));
    };
    let mut parts = s.trim().splitn(2, '.');
    let major = parts.next().and_then(|m| m.parse::<u32>().ok());
    let minor = parts.next().and_then(|m| m.parse::<u32>().ok());
    match (major, minor) {
        (Some(1), Some(_)) => Ok(()),
        (Some(m), _) if m >= 2 => {
            bad(format!("CycloneDX specVersion {s:?} is not supported; CycloneDX 1.2-1.6 are read"))
        }
        _ => {
            bad(format!("specVersion {s:?} is not a CycloneDX version; CycloneDX 1.2-1.6 are read"))
        }
    }
}

fn walk(
    j: &mut Json<'_>,
    comps: &[Value],
    path: &str,
    device: Option<&str>,
    src: &str,
    out: &mut Vec<InventoryItem>,
) {
    for (i, v) in comps.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Value::Object(comp) = v else {
            j.error(&p, format!("expected a component object, found {}", super::type_name(v)));
            continue;
        };
        if let Some(item) = component(j, comp, &p, &p, device, src) {
            out.push(item);
        }
        if let Some(children) = j.arr(comp, &p, "components") {
            walk(j, children, &format!("{p}.components"), device, src, out);
        }
    }
}

fn component(
    j: &mut Json<'_>,
    comp: &Map<String, Value>,
    path: &str,
    default_id: &str,
    parent: Option<&str>,
    src: &str,
) -> Option<InventoryItem> {
    let name = match comp.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        other => {
            j.error(
                &format!("{path}.name"),
                format!("component has no name (name is {}); skipped", short(other)),
            );
            return None;
        }
    };
    let id = j.str(comp, path, "bom-ref").unwrap_or_else(|| default_id.to_owned());
    let version = j.str(comp, path, "version");
    let group = j.str(comp, path, "group");
    let vendor = named(j, comp, path, "supplier")
        .or_else(|| named(j, comp, path, "manufacturer"))
        .or_else(|| j.str(comp, path, "publisher"))
        .or_else(|| j.str(comp, path, "author"))
        .or_else(|| first_author(j, comp, path))
        .or(group);
    Some(InventoryItem {
        id,
        product: Some(name.clone()),
        name,
        vendor,
        version,
        cpe: j.str(comp, path, "cpe"),
        purl: j.str(comp, path, "purl"),
        component_type: j.str(comp, path, "type").map(|t| t.to_ascii_lowercase()),
        parent: parent.map(str::to_owned),
        source: src.to_owned(),
        ..InventoryItem::default()
    })
}

/// `comp[key].name` (an organizational entity).
fn named(j: &mut Json<'_>, comp: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
    let o = j.obj(comp, path, key)?;
    j.str(o, &format!("{path}.{key}"), "name")
}

fn first_author(j: &mut Json<'_>, comp: &Map<String, Value>, path: &str) -> Option<String> {
    let authors = j.arr(comp, path, "authors")?;
    match authors.first()? {
        Value::Object(o) => j.str(o, &format!("{path}.authors[0]"), "name"),
        other => {
            j.error(
                &format!("{path}.authors[0]"),
                format!("expected an object, found {}", super::type_name(other)),
            );
            None
        }
    }
}
