//! What the sensor saw: the JSON of `sekimori analyze FILE --format json`
//! (`{"flows": […], "assets": […], "alerts": […]}`), or a bare array of
//! its assets. Only `assets` is read.
//!
//! | item field | asset field |
//! | --- | --- |
//! | `id` | `id` (`mac:…` / `ip:…`), else `sensor:<index>` |
//! | `name` | first of `names`, else `ip`, else `mac`, else the ID |
//! | `ips` | `ips`, else `ip` |
//! | `mac` | `mac`, in lower-case colon form |
//! | `vendor`, `product`, `version`, `role` | the same names |
//!
//! `mac_vendor` (the network card's IEEE registrant) is not the device's
//! vendor and is not read. A field of the wrong type is an error at its
//! path (`$.assets[4].vendor`) and left out; an asset that is not an object
//! is an error and skipped.

use std::path::Path;

use serde_json::Value;

use super::{Inventory, InventoryItem, Json, normalise_mac, source, type_name};
use crate::InputError;

pub(super) fn read(file: &Path, doc: &Value) -> Result<Inventory, InputError> {
    let (assets, base) = match doc {
        Value::Array(a) => (a.as_slice(), "$".to_owned()),
        Value::Object(o) => match o.get("assets") {
            Some(Value::Array(a)) => (a.as_slice(), "$.assets".to_owned()),
            other => {
                return Err(InputError::new(
                    file,
                    "$.assets",
                    format!("assets is {}, expected an array", other.map_or("missing", type_name)),
                ));
            }
        },
        _ => return Err(InputError::new(file, "$", "expected an object with assets or an array")),
    };
    let mut j = Json::new(file);
    let src = source("sensor", file);
    let mut items = Vec::new();
    for (i, v) in assets.iter().enumerate() {
        let p = format!("{base}[{i}]");
        let Value::Object(a) = v else {
            j.error(&p, format!("expected an asset object, found {}", type_name(v)));
            continue;
        };
        let id = j.str(a, &p, "id").unwrap_or_else(|| format!("sensor:{i}"));
        let ip = j.str(a, &p, "ip");
        let mut ips = j.strs(a, &p, "ips");
        if ips.is_empty() {
            ips.extend(ip.clone());
        }
        let mac = j.str(a, &p, "mac").and_then(|m| {
            let n = normalise_mac(&m);
            if n.is_none() {
                j.error(&format!("{p}.mac"), format!("not a MAC address: {m:?}"));
            }
            n
        });
        let names = j.strs(a, &p, "names");
        let name = names
            .into_iter()
            .next()
            .or_else(|| ip.clone())
            .or_else(|| mac.clone())
            .unwrap_or_else(|| id.clone());
        items.push(InventoryItem {
            name,
            vendor: j.str(a, &p, "vendor"),
            product: j.str(a, &p, "product"),
            version: j.str(a, &p, "version"),
            role: j.str(a, &p, "role"),
            id,
            ips,
            mac,
            source: src.clone(),
            ..InventoryItem::default()
        });
    }
    Ok(Inventory { items, errors: j.errors })
}
