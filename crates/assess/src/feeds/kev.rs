//! CISA Known Exploited Vulnerabilities catalogue
//! (`known_exploited_vulnerabilities.json`).
//!
//! Mapping, per element of `vulnerabilities` → one [`KevEntry`]:
//!
//! | KEV | `KevEntry` |
//! |---|---|
//! | `cveID` (required, non-empty) | `cve` (trimmed) |
//! | `vendorProject` | `vendor_project` |
//! | `product` | `product` |
//! | `vulnerabilityName` | `name` |
//! | `dateAdded` | `date_added` |
//! | `dueDate` | `due_date` |
//! | `requiredAction` | `required_action` |
//! | `knownRansomwareCampaignUse` | `known_ransomware` = value is `Known` (case-insensitive) |
//! | `cwes` (array of strings) | `cwes` |
//!
//! Missing optional members become empty strings; `shortDescription` and
//! `notes` are not kept. Each member is parsed on its own, so a wrong type is
//! reported at its exact path (`$.vulnerabilities[17].dueDate`) and only
//! that entry is skipped. `vulnerabilities` not being an array is one error
//! for the file.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Ctx, FeedEvent, Top};
use crate::model::{FeedRecord, KevEntry};

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawEntry<'a> {
    #[serde(borrow, rename = "cveID")]
    cve_id: Option<&'a RawValue>,
    #[serde(borrow, rename = "vendorProject")]
    vendor_project: Option<&'a RawValue>,
    #[serde(borrow)]
    product: Option<&'a RawValue>,
    #[serde(borrow, rename = "vulnerabilityName")]
    vulnerability_name: Option<&'a RawValue>,
    #[serde(borrow, rename = "dateAdded")]
    date_added: Option<&'a RawValue>,
    #[serde(borrow, rename = "dueDate")]
    due_date: Option<&'a RawValue>,
    #[serde(borrow, rename = "requiredAction")]
    required_action: Option<&'a RawValue>,
    #[serde(borrow, rename = "knownRansomwareCampaignUse")]
    known_ransomware: Option<&'a RawValue>,
    #[serde(borrow)]
    cwes: Option<&'a RawValue>,
}

pub(crate) fn read(ctx: &Ctx<'_>, top: &Top<'_>, sink: &mut dyn FnMut(FeedEvent)) {
    let Some(raw) = top.vulnerabilities else { return };
    let elements = match ctx.elements(raw, "$.vulnerabilities") {
        Ok(e) => e,
        Err(e) => return sink(FeedEvent::Error(e)),
    };
    for (i, el) in elements.into_iter().enumerate() {
        match entry(ctx, el, i) {
            Ok(k) => sink(FeedEvent::Record(FeedRecord::Kev(k))),
            Err(e) => sink(FeedEvent::Error(e)),
        }
    }
}

fn entry<'a>(ctx: &Ctx<'a>, el: &'a RawValue, i: usize) -> Result<KevEntry, crate::InputError> {
    let path = format!("$.vulnerabilities[{i}]");
    let r: RawEntry<'a> = ctx.parse(el, &path)?;
    let text = |raw: Option<&'a RawValue>, name: &str| -> Result<String, crate::InputError> {
        match raw {
            None => Ok(String::new()),
            Some(v) => {
                let s: Option<String> = ctx.parse(v, &format!("{path}.{name}"))?;
                Ok(s.unwrap_or_default())
            }
        }
    };
    let cve = text(r.cve_id, "cveID")?.trim().to_string();
    if cve.is_empty() {
        return Err(ctx.error(format!("{path}.cveID"), "missing cveID"));
    }
    let cwes: Vec<String> = match r.cwes {
        None => Vec::new(),
        Some(v) => {
            ctx.parse::<Option<Vec<String>>>(v, &format!("{path}.cwes"))?.unwrap_or_default()
        }
    };
    Ok(KevEntry {
        cve,
        vendor_project: text(r.vendor_project, "vendorProject")?,
        product: text(r.product, "product")?,
        name: text(r.vulnerability_name, "vulnerabilityName")?,
        date_added: text(r.date_added, "dateAdded")?,
        due_date: text(r.due_date, "dueDate")?,
        required_action: text(r.required_action, "requiredAction")?,
        known_ransomware: text(r.known_ransomware, "knownRansomwareCampaignUse")?
            .trim()
            .eq_ignore_ascii_case("known"),
        cwes,
    })
}
