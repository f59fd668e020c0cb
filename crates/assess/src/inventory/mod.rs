//! Inventory inputs: what the hospital has, from whatever it can hand over.
//!
//! [`read_path`] / [`read_bytes`] detect the format by content (never by the
//! file name) and hand the bytes to one reader per format:
//!
//! | format | recognised by | module doc |
//! | --- | --- | --- |
//! | hospital asset ledger (CSV/TSV, UTF-8 with or without BOM, Shift_JIS/CP932, UTF-16 with BOM) | text whose header row names a name, product or model column | `ledger` |
//! | CycloneDX JSON 1.2–1.6 | `"bomFormat": "CycloneDX"` | `cyclonedx` |
//! | SPDX 2.x JSON | `"spdxVersion": "SPDX-2.…"` | `spdx` |
//! | MDS2 (2019) key answers, CSV or JSON | CSV header `question_id, answer[, note]`; JSON `{"answers": {…}}` | `mds2` |
//! | sensor output (`sekimori analyze --format json`) | JSON `{"assets": […]}` or a bare array | `observed` |
//!
//! Errors come in two kinds. A file that cannot be read at all (too big,
//! not a format above, malformed JSON, an unsupported spec version, a ledger
//! without a name column) is the `Err` of the read. A bad row or record is
//! one [`InputError`] in [`Inventory::errors`] naming the file and the CSV
//! line (`line 12, column バージョン`) or JSON path
//! (`$.components[3].version`); everything else is kept.
//!
//! Every item's `source` is `<format>:<file>` with format one of `ledger`,
//! `cyclonedx`, `spdx`, `mds2`, `sensor`.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::InputError;

mod cyclonedx;
mod ledger;
mod mds2;
mod observed;
mod spdx;

/// The largest inventory file read: 64 MiB. A bigger one is refused whole.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The longest CSV field kept: 64 KiB. A row with a longer one is an error.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The formats accepted, as listed in the unknown-format error.
pub const ACCEPTED_FORMATS: &str = "hospital asset ledger CSV/TSV (Japanese or English headers), \
     CycloneDX JSON 1.2-1.6, SPDX 2.x JSON, MDS2 answers (CSV question_id,answer[,note] or JSON \
     {\"device\":…,\"answers\":…}), sekimori analyze JSON ({\"assets\":[…]} or an array of assets)";

/// One thing the hospital has: a device from the ledger or the sensor, or a
/// software component of one (from an SBOM).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Stable ID within the input (ledger: its asset-number column, else
    /// `ledger:<line>`; SBOM: `bom-ref`/SPDXID; MDS2: `mds2:<DOC-4>`;
    /// sensor: asset ID).
    pub id: String,
    /// Human name (機器名 / name / component name).
    pub name: String,
    /// Manufacturer / vendor as written.
    pub vendor: Option<String>,
    /// Product as written.
    pub product: Option<String>,
    /// Model number (型番) as written.
    pub model: Option<String>,
    /// Version as written.
    pub version: Option<String>,
    /// CPE 2.3 name when the input gives one.
    pub cpe: Option<String>,
    /// Package URL when the input gives one.
    pub purl: Option<String>,
    /// Addresses.
    pub ips: Vec<String>,
    /// MAC address, lower-case colon form (`00:1b:21:0a:bc:de`).
    pub mac: Option<String>,
    /// Location (設置場所).
    pub location: Option<String>,
    /// Department (管理部署).
    pub department: Option<String>,
    /// Role (`vpn_gateway`, `pacs`, `nurse_call`, …) when known.
    pub role: Option<String>,
    /// Reachable from the internet (ledger column or evidence).
    pub internet_facing: Option<bool>,
    /// Offers or takes remote maintenance / remote access (MDS2 remote
    /// service, a VPN appliance).
    pub remote_access: Option<bool>,
    /// MFA on that remote access (MDS2).
    pub mfa: Option<bool>,
    /// Network ports it listens on (MDS2, ledger).
    pub ports: Vec<u16>,
    /// The device this component belongs to (SBOM components: the
    /// metadata component / described package).
    pub parent: Option<String>,
    /// Which file and format it came from: `<format>:<file>`.
    pub source: String,
    /// The SBOM's component type as written, lower case (CycloneDX `type`:
    /// `device`, `firmware`, `application`, `library`, `operating-system`…;
    /// SPDX `primaryPackagePurpose`, `_` written `-`).
    #[serde(default)]
    pub component_type: Option<String>,
}

/// What one read produced: the items, and the rows/records that were skipped.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Items read.
    pub items: Vec<InventoryItem>,
    /// Rows or records skipped (or fields dropped), with where and why.
    pub errors: Vec<InputError>,
}

/// Read one inventory file, detecting its format (CSV ledger, CycloneDX
/// JSON, SPDX JSON, MDS2 CSV/JSON, sensor inventory JSON). A file that is
/// none of these, or unreadable, is an error; a bad row is in `errors`.
pub fn read_path(path: &Path) -> Result<Inventory, InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(path, "", format!("cannot open: {e}")))?;
    if let Ok(meta) = file.metadata()
        && meta.len() > MAX_FILE_BYTES
    {
        return Err(too_big(path, meta.len()));
    }
    let mut bytes = Vec::new();
    // Read one byte past the cap so a file that grew meanwhile is caught.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::new(path, "", format!("cannot read: {e}")))?;
    read_bytes(path, &bytes)
}

/// Read one inventory file's bytes (`name` is used in errors and `source`),
/// detecting the format as [`read_path`] does.
pub fn read_bytes(name: &Path, bytes: &[u8]) -> Result<Inventory, InputError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(name, bytes.len() as u64));
    }
    let text = decode(name, bytes)?;
    let body = text.trim_start_matches(|c: char| c.is_whitespace());
    if body.is_empty() {
        return Err(InputError::new(
            name,
            "",
            format!("empty file; accepted formats: {ACCEPTED_FORMATS}"),
        ));
    }
    if body.starts_with('{') || body.starts_with('[') {
        return read_json(name, body);
    }
    if body.contains('\0') {
        return Err(unknown_format(name, "binary data"));
    }
    // Excel writes CRLF; the csv crate's line numbers lag behind on CRLF
    // (and a CR inside a quoted cell is noise), so CSV is read with LF.
    let csv_text = if text.contains('\r') { text.replace("\r\n", "\n") } else { text };
    if mds2::is_mds2_csv(&csv_text) {
        return mds2::read_csv(name, &csv_text);
    }
    ledger::read(name, &csv_text)
}

fn too_big(name: &Path, len: u64) -> InputError {
    InputError::new(
        name,
        "",
        format!(
            "file is {len} bytes ({:.1} MiB); the limit for an inventory file is {MAX_FILE_BYTES} bytes (64 MiB)",
            len as f64 / (1024.0 * 1024.0)
        ),
    )
}

fn unknown_format(name: &Path, what: &str) -> InputError {
    InputError::new(
        name,
        "",
        format!("unknown inventory format ({what}); accepted formats: {ACCEPTED_FORMATS}"),
    )
}

/// Bytes to text: UTF-8 (BOM dropped), UTF-16 with a BOM (Excel's
/// "Unicode text"), else Shift_JIS/CP932 (Japanese Excel's CSV default).
fn decode(name: &Path, bytes: &[u8]) -> Result<String, InputError> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            return Err(InputError::new(
                name,
                "",
                format!(
                    "file starts with a {} byte-order mark but is not valid {}",
                    enc.name(),
                    enc.name()
                ),
            ));
        }
        return Ok(text.into_owned());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_owned());
    }
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
    if had_errors {
        let at = std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
        return Err(InputError::new(
            name,
            format!("byte {at}"),
            format!(
                "text is neither UTF-8 nor Shift_JIS (CP932); save the file as UTF-8 CSV. Accepted formats: {ACCEPTED_FORMATS}"
            ),
        ));
    }
    Ok(text.into_owned())
}

fn read_json(name: &Path, body: &str) -> Result<Inventory, InputError> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        InputError::new(
            name,
            format!("line {}, column {}", e.line(), e.column()),
            format!("malformed JSON: {e}"),
        )
    })?;
    match &value {
        Value::Array(_) => observed::read(name, &value),
        Value::Object(obj) => {
            if obj.contains_key("bomFormat") {
                match obj.get("bomFormat") {
                    Some(Value::String(s)) if s == "CycloneDX" => cyclonedx::read(name, obj),
                    other => Err(InputError::new(
                        name,
                        "$.bomFormat",
                        format!("bomFormat is {}, expected \"CycloneDX\"", short(other)),
                    )),
                }
            } else if obj.contains_key("spdxVersion") {
                spdx::read(name, obj)
            } else if obj.contains_key("answers") {
                mds2::read_json(name, obj)
            } else if obj.contains_key("assets") {
                observed::read(name, &value)
            } else {
                let keys: Vec<&str> = obj.keys().map(String::as_str).take(12).collect();
                Err(unknown_format(name, &format!("JSON object with keys {keys:?}")))
            }
        }
        _ => Err(unknown_format(name, "JSON that is not an object or array")),
    }
}

/// A JSON value's type, for error messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value shortened for an error message.
fn short(v: Option<&Value>) -> String {
    match v {
        None => "missing".into(),
        Some(Value::String(s)) => format!("{:?}", truncate(s, 40)),
        Some(v) => type_name(v).into(),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Walks JSON records, collecting per-field errors with their JSON path.
struct Json<'a> {
    file: &'a Path,
    errors: Vec<InputError>,
}

impl<'a> Json<'a> {
    fn new(file: &'a Path) -> Self {
        Self { file, errors: Vec::new() }
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(InputError::new(self.file, path, message));
    }

    /// `obj[key]` as a trimmed non-empty string; a wrong type is an error
    /// at `path.key` and counts as absent.
    fn str(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        match obj.get(key)? {
            Value::Null => None,
            Value::String(s) => non_empty(s),
            other => {
                self.error(
                    &format!("{path}.{key}"),
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `obj[key]` as an object; a wrong type is an error.
    fn obj<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Map<String, Value>> {
        match obj.get(key)? {
            Value::Null => None,
            Value::Object(o) => Some(o),
            other => {
                self.error(
                    &format!("{path}.{key}"),
                    format!("expected an object, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `obj[key]` as an array; a wrong type is an error.
    fn arr<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v [Value]> {
        match obj.get(key)? {
            Value::Null => None,
            Value::Array(a) => Some(a),
            other => {
                self.error(
                    &format!("{path}.{key}"),
                    format!("expected an array, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An array of strings; wrong elements are errors and skipped.
    fn strs(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Vec<String> {
        let Some(arr) = self.arr(obj, path, key) else { return Vec::new() };
        let mut out = Vec::new();
        for (i, v) in arr.iter().enumerate() {
            match v {
                Value::String(s) => out.extend(non_empty(s)),
                other => self.error(
                    &format!("{path}.{key}[{i}]"),
                    format!("expected a string, found {}", type_name(other)),
                ),
            }
        }
        out
    }
}

/// `s` trimmed, or `None` when that is empty.
fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// A MAC address in any common form (`00-1B-21-0A-BC-DE`, `001b.210a.bcde`,
/// `001B210ABCDE`) as lower-case colon form.
fn normalise_mac(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-' | '.' | ' ')).collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &lower[2 * i..2 * i + 2]).collect();
    Some(pairs.join(":"))
}

/// `file` as written in `source`.
fn source(kind: &str, file: &Path) -> String {
    format!("{kind}:{}", file.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(normalise_mac("00-1B-21-0A-BC-DE").as_deref(), Some("00:1b:21:0a:bc:de"));
        assert_eq!(normalise_mac("001b.210a.bcde").as_deref(), Some("00:1b:21:0a:bc:de"));
        assert_eq!(normalise_mac("001B210ABCDE").as_deref(), Some("00:1b:21:0a:bc:de"));
        assert_eq!(normalise_mac("00:1b:21:0a:bc"), None);
        assert_eq!(normalise_mac("zz:1b:21:0a:bc:de"), None);
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("機器名称", 2), "機器");
        assert_eq!(truncate("ab", 5), "ab");
    }
}
