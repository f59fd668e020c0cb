//! The hospital's asset ledger (機器台帳): a CSV written by hand in Excel.
//!
//! Encoding: UTF-8 with or without BOM, UTF-16 with BOM ("Unicode text"),
//! or Shift_JIS/CP932 (Japanese Excel's "CSV"), decided before this module
//! sees the text. Separator: comma or tab, whichever the header row has more
//! of (outside quotes). The first non-empty line is the header row.
//!
//! Columns are matched by header name. A header is compared after folding
//! full-width letters and digits to ASCII, lower-casing, and dropping
//! spaces (ASCII and full-width), `_`, `-` and `・`: so `IP アドレス`,
//! `ＩＰアドレス` and `ipアドレス` are one column, as are `Asset_ID` and
//! `asset id`. Unknown columns are ignored; when two columns map to one
//! field the leftmost wins.
//!
//! | field | headers |
//! | --- | --- |
//! | `name` | 機器名, 機器名称, 名称, name, asset, asset name, device name |
//! | `vendor` | メーカー, メーカー名, 製造元, ベンダー, vendor, manufacturer, maker |
//! | `product` | 製品名, product, product name |
//! | `model` | 型番, 型式, model, model number |
//! | `version` | バージョン, ソフトウェアバージョン, ファームウェアバージョン, version, firmware, firmware version, software version |
//! | `location` | 設置場所, 場所, location |
//! | `department` | 管理部署, 部署, department |
//! | `ips` | IPアドレス, IP, IP address |
//! | `mac` | MACアドレス, MAC, MAC address |
//! | `id` | 資産番号, 管理番号, asset_id, id |
//! | `cpe` | CPE |
//! | `role` | 役割, 用途, role |
//! | `internet_facing` | インターネット接続, internet_facing |
//! | `remote_access` | リモート保守, remote_access, remote maintenance |
//! | `mfa` | 多要素認証, MFA |
//! | `ports` | ポート, port, ports |
//!
//! A file with none of the name, product and model columns is refused,
//! with the headers it has and the ones accepted.
//!
//! Cells:
//! * booleans: はい/あり/有/○/〇/◯/yes/y/true/1 and いいえ/なし/無/×/✕/no/n/false/0
//!   (full-width forms too); empty, `-`, `不明`, `unknown`, `n/a` are "not
//!   known" without an error; anything else keeps the row, leaves the field
//!   unknown and records an error `line N, column <header>`.
//! * `ips`, `ports`: several separated by `;`, `,` (inside quotes),
//!   spaces or `、`. An IP may carry a `/prefix` (dropped); a port may carry
//!   `/tcp` or `/udp` (dropped). A bad entry is a cell error; the others
//!   are kept.
//! * `mac`: any of `00-1B-21-0A-BC-DE`, `001b.210a.bcde`, `001B210ABCDE`,
//!   written `00:1b:21:0a:bc:de`; a bad one is a cell error.
//!
//! Rows: empty rows are skipped. A row with a field count other than the
//! header's (trailing empty cells excepted), a field over
//! `MAX_FIELD_BYTES` (64 KiB), or neither a name nor a
//! product nor a model is one error `line N` and skipped. The name defaults
//! to the product; the product defaults to the model. The ID is the asset
//! number, else `ledger:<line>`.

use std::net::IpAddr;
use std::path::Path;

use super::{Inventory, InventoryItem, MAX_FIELD_BYTES, non_empty, normalise_mac, source};
use crate::InputError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Name,
    Vendor,
    Product,
    Model,
    Version,
    Location,
    Department,
    Ips,
    Mac,
    Id,
    Cpe,
    Role,
    InternetFacing,
    RemoteAccess,
    Mfa,
    Ports,
}

/// Accepted headers, as written in the module doc; compared folded.
const COLUMNS: &[(Field, &[&str])] = &[
    (Field::Name, &["機器名", "機器名称", "名称", "name", "asset", "asset name", "device name"]),
    (
        Field::Vendor,
        &["メーカー", "メーカー名", "製造元", "ベンダー", "vendor", "manufacturer", "maker"],
    ),
    (Field::Product, &["製品名", "product", "product name"]),
    (Field::Model, &["型番", "型式", "model", "model number"]),
    (
        Field::Version,
        &[
            "バージョン",
            "ソフトウェアバージョン",
            "ファームウェアバージョン",
            "version",
            "firmware",
            "firmware version",
            "software version",
        ],
    ),
    (Field::Location, &["設置場所", "場所", "location"]),
    (Field::Department, &["管理部署", "部署", "department"]),
    (Field::Ips, &["IPアドレス", "IP", "IP address"]),
    (Field::Mac, &["MACアドレス", "MAC", "MAC address"]),
    (Field::Id, &["資産番号", "管理番号", "asset_id", "id"]),
    (Field::Cpe, &["CPE"]),
    (Field::Role, &["役割", "用途", "role"]),
    (Field::InternetFacing, &["インターネット接続", "internet_facing"]),
    (Field::RemoteAccess, &["リモート保守", "remote_access", "remote maintenance"]),
    (Field::Mfa, &["多要素認証", "MFA"]),
    (Field::Ports, &["ポート", "port", "ports"]),
];

/// Full-width ASCII to ASCII, lower case, without spaces, `_`, `-`, `・`.
pub(super) fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '・'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn field_of(header: &str) -> Option<Field> {
    let h = fold(header);
    COLUMNS.iter().find(|(_, names)| names.iter().any(|n| fold(n) == h)).map(|(f, _)| *f)
}

/// Comma or tab: whichever the first line has more of outside quotes.
pub(super) fn delimiter(text: &str) -> u8 {
    let line = text.lines().next().unwrap_or("");
    let (mut tabs, mut commas, mut quoted) = (0, 0, false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '\t' if !quoted => tabs += 1,
            ',' if !quoted => commas += 1,
            _ => {}
        }
    }
    if tabs > commas { b'\t' } else { b',' }
}

/// Read a ledger from decoded text.
pub(super) fn read(file: &Path, text: &str) -> Result<Inventory, InputError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter(text))
        .from_reader(text.as_bytes());
    let mut records = rdr.records();

    // The header: the first row with a non-empty cell.
    let header = loop {
        match records.next() {
            None => return Err(InputError::new(file, "", "no header row: the file has no rows")),
            Some(Err(e)) => return Err(csv_error(file, &e)),
            Some(Ok(r)) if r.iter().all(|c| c.trim().is_empty()) => continue,
            Some(Ok(r)) => break r,
        }
    };
    let headers: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
    let mut columns: Vec<Option<Field>> = Vec::with_capacity(headers.len());
    for h in &headers {
        let f = field_of(h).filter(|f| !columns.contains(&Some(*f)));
        columns.push(f);
    }
    if !columns.iter().any(|c| matches!(c, Some(Field::Name | Field::Product | Field::Model))) {
        let accepted: Vec<&str> = COLUMNS
            .iter()
            .filter(|(f, _)| matches!(f, Field::Name | Field::Product | Field::Model))
            .flat_map(|(_, n)| n.iter().copied())
            .collect();
        return Err(InputError::new(
            file,
            format!("line {}", header.position().map_or(1, |p| p.line())),
            format!(
                "not an inventory ledger: no name, product or model column; headers found: {}; \
                 accepted for the name: {} (all columns are listed in the documentation). \
                 Accepted formats: {}",
                if headers.is_empty() { "(none)".into() } else { headers.join(", ") },
                accepted.join(", "),
                super::ACCEPTED_FORMATS
            ),
        ));
    }

    let mut inv = Inventory::default();
    let src = source("ledger", file);
    for rec in records {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                inv.errors.push(csv_error(file, &e));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if let Some(i) = rec.iter().position(|c| c.len() > MAX_FIELD_BYTES) {
            let col = headers.get(i).map_or("?", String::as_str);
            inv.errors.push(InputError::new(
                file,
                format!("line {line}, column {col}"),
                format!(
                    "field is {} bytes, over the {MAX_FIELD_BYTES}-byte limit; row skipped",
                    rec.get(i).map_or(0, str::len)
                ),
            ));
            continue;
        }
        let extra_filled = rec.iter().skip(headers.len()).any(|c| !c.trim().is_empty());
        if rec.len() < headers.len() || extra_filled {
            inv.errors.push(InputError::new(
                file,
                format!("line {line}"),
                format!(
                    "row has {} fields, the header has {}; row skipped",
                    rec.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        let mut row = Row { file, line, errors: &mut inv.errors, item: InventoryItem::default() };
        for ((cell, field), header) in rec.iter().zip(&columns).zip(&headers) {
            if let Some(field) = field {
                row.cell(*field, header, cell);
            }
        }
        let mut item = row.item;
        if item.product.is_none() {
            item.product.clone_from(&item.model);
        }
        if item.name.is_empty() {
            match &item.product {
                Some(p) => item.name.clone_from(p),
                None => {
                    inv.errors.push(InputError::new(
                        file,
                        format!("line {line}"),
                        "row has no name, product or model; row skipped",
                    ));
                    continue;
                }
            }
        }
        if item.id.is_empty() {
            item.id = format!("ledger:{line}");
        }
        item.source.clone_from(&src);
        inv.items.push(item);
    }
    Ok(inv)
}

fn csv_error(file: &Path, e: &csv::Error) -> InputError {
    let loc = e.position().map_or_else(String::new, |p| format!("line {}", p.line()));
    InputError::new(file, loc, format!("unreadable CSV row: {e}"))
}

struct Row<'a> {
    file: &'a Path,
    line: u64,
    errors: &'a mut Vec<InputError>,
    item: InventoryItem,
}

impl Row<'_> {
    fn error(&mut self, header: &str, message: String) {
        self.errors.push(InputError::new(
            self.file,
            format!("line {}, column {header}", self.line),
            message,
        ));
    }

    fn cell(&mut self, field: Field, header: &str, cell: &str) {
        let Some(v) = non_empty(cell) else { return };
        let it = &mut self.item;
        match field {
            Field::Name => it.name = v,
            Field::Vendor => it.vendor = Some(v),
            Field::Product => it.product = Some(v),
            Field::Model => it.model = Some(v),
            Field::Version => it.version = Some(v),
            Field::Location => it.location = Some(v),
            Field::Department => it.department = Some(v),
            Field::Id => it.id = v,
            Field::Cpe => it.cpe = Some(v),
            Field::Role => it.role = Some(v),
            Field::Mac => match normalise_mac(&fold(&v)) {
                Some(m) => it.mac = Some(m),
                None => self.error(header, format!("not a MAC address: {v:?}")),
            },
            Field::InternetFacing | Field::RemoteAccess | Field::Mfa => match parse_bool(&v) {
                Ok(b) => match field {
                    Field::InternetFacing => it.internet_facing = b,
                    Field::RemoteAccess => it.remote_access = b,
                    _ => it.mfa = b,
                },
                Err(()) => self.error(
                    header,
                    format!(
                        "not a yes/no value: {v:?} (accepted: はい/いいえ, あり/なし, 有/無, ○/×, yes/no, true/false, 1/0); left unknown"
                    ),
                ),
            },
            Field::Ips => {
                for part in split_list(&v) {
                    match parse_ip(part) {
                        Some(ip) => self.item.ips.push(ip),
                        None => self.error(header, format!("not an IP address: {part:?}")),
                    }
                }
            }
            Field::Ports => {
                for part in split_list(&v) {
                    match parse_port(part) {
                        Some(p) => {
                            if !self.item.ports.contains(&p) {
                                self.item.ports.push(p);
                            }
                        }
                        None => self.error(header, format!("not a port number: {part:?}")),
                    }
                }
            }
        }
    }
}

/// A yes/no cell: `Ok(None)` for "not known", `Err` for anything else.
fn parse_bool(v: &str) -> Result<Option<bool>, ()> {
    let f = fold(v);
    match f.as_str() {
        "はい" | "あり" | "有" | "有り" | "○" | "〇" | "◯" | "yes" | "y" | "true" | "1" => {
            Ok(Some(true))
        }
        "いいえ" | "なし" | "無" | "無し" | "×" | "✕" | "✗" | "no" | "n" | "false" | "0" => {
            Ok(Some(false))
        }
        "" | "不明" | "unknown" | "n/a" | "na" | "?" | "？" | "ー" | "―" => Ok(None),
        _ => Err(()),
    }
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| matches!(c, ';' | ',' | '、' | '，' | '；') || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn parse_ip(s: &str) -> Option<String> {
    let s = fold(s);
    let addr = s.split('/').next().unwrap_or("");
    addr.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

fn parse_port(s: &str) -> Option<u16> {
    let s = fold(s);
    let n = s.strip_suffix("/tcp").or_else(|| s.strip_suffix("/udp")).unwrap_or(&s);
    n.parse::<u16>().ok().filter(|p| *p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_fold() {
        assert_eq!(field_of("ＩＰ アドレス"), Some(Field::Ips));
        assert_eq!(field_of(" Asset_ID "), Some(Field::Id));
        assert_eq!(field_of("Remote Maintenance"), Some(Field::RemoteAccess));
        assert_eq!(field_of("備考"), None);
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("はい"), Ok(Some(true)));
        assert_eq!(parse_bool("×"), Ok(Some(false)));
        assert_eq!(parse_bool("ＹＥＳ"), Ok(Some(true)));
        assert_eq!(parse_bool("不明"), Ok(None));
        assert_eq!(parse_bool("たぶん"), Err(()));
    }

    #[test]
    fn lists() {
        let v: Vec<&str> = split_list("10.0.0.1; 10.0.0.2、10.0.0.3 10.0.0.4").collect();
        assert_eq!(v.len(), 4);
        assert_eq!(parse_port("443/tcp"), Some(443));
        assert_eq!(parse_port("６５５３５"), Some(65535));
        assert_eq!(parse_port("70000"), None);
        assert_eq!(parse_ip("10.0.0.1/24").as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn tab_or_comma() {
        assert_eq!(delimiter("a\tb\tc\n"), b'\t');
        assert_eq!(delimiter("\"a\tb\",c\n"), b',');
    }
}
