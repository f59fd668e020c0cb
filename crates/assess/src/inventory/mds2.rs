//! MDS2 answers: the Manufacturer Disclosure Statement for Medical Device
//! Security (the 2019 form, ANSI/NEMA HN 1-2019), reduced to its key
//! answers. One file describes one device and gives one item, whose
//! `source` is `mds2:<file>`.
//!
//! Two shapes are read (the form itself is a spreadsheet; export or copy
//! its ID and answer columns):
//!
//! * CSV (comma or tab) with the header `question_id, answer` and an
//!   optional `note` column: one row per question.
//! * JSON: `{"device": {"manufacturer": "…", "model": "…", "version": "…",
//!   "name": "…", "ports": [104, 443]}, "answers": {"DOC-1": "…", "RMOT-1":
//!   "Yes", …}}`; `device` and each of its fields are optional, an answer is
//!   a string or a boolean. `device` fields win over the answers.
//!
//! The questions read, with their text in the 2019 form:
//!
//! | ID | question (2019 form) | item field |
//! | --- | --- | --- |
//! | DOC-1 | Manufacturer Name | `vendor` |
//! | DOC-2 | Device Description | `name` |
//! | DOC-3 | Device Model | `model` and `product` |
//! | DOC-4 | Document ID | `id` = `mds2:<DOC-4>` (else `mds2:<model>`) |
//! | RMOT-1 | Does the device permit remote service connections for device analysis or repair? | `remote_access` |
//! | RMOT-2 | Does the device permit or use remote service connections for predictive maintenance data? | `remote_access` |
//! | RMOT-3 | Does the device have any other remotely accessible functionality (e.g. software updates, remote training)? | `remote_access` |
//! | PAUT-8 | Does the device support multi-factor authentication? | `mfa` |
//! | CONN-2 | Does the manufacturer provide a list of network ports and protocols that are used or may be used on the device? | `ports`, when its note (or the text after `Yes,`) is a list of ports and nothing else |
//!
//! `remote_access` is true when any of RMOT-1, RMOT-2, RMOT-3 is Yes, false
//! when RMOT-1 is No and none is Yes, unknown otherwise. RMOT-1.1 (owner can
//! initiate sessions) and RMOT-1.2 (indicator of an active session) have no
//! item field and are not read. `mfa` says what the device supports, which
//! is the nearest the form comes to "MFA on remote access". The form has no
//! software-version question and no port list of its own: two extra IDs,
//! `VERSION` and `PORTS`, carry them in CSV (as `device.version` and
//! `device.ports` do in JSON).
//!
//! Answers are read by their first word: `Yes…` is yes, `No…` is no,
//! `N/A…` or empty is unknown (the form's answers often go on:
//! `Yes, Optional`, `No: No default accounts`). Any other answer to a yes/no
//! question above is an error naming the question, and left unknown.
//!
//! A file naming neither a manufacturer nor a model is refused.

use std::path::Path;

use serde_json::{Map, Value};

use super::{Inventory, InventoryItem, MAX_FIELD_BYTES, non_empty, source, type_name};
use crate::InputError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Manufacturer,
    Description,
    Model,
    DocumentId,
    Remote,
    Mfa,
    PortList,
    Version,
    Ports,
}

/// The questions read: ID, what it feeds, the 2019 form's text. Kept as a
/// table so an ID is easy to correct.
const QUESTIONS: &[(&str, Key, &str)] = &[
    ("DOC-1", Key::Manufacturer, "Manufacturer Name"),
    ("DOC-2", Key::Description, "Device Description"),
    ("DOC-3", Key::Model, "Device Model"),
    ("DOC-4", Key::DocumentId, "Document ID"),
    (
        "RMOT-1",
        Key::Remote,
        "Does the device permit remote service connections for device analysis or repair?",
    ),
    (
        "RMOT-2",
        Key::Remote,
        "Does the device permit or use remote service connections for predictive maintenance data?",
    ),
    (
        "RMOT-3",
        Key::Remote,
        "Does the device have any other remotely accessible functionality (e.g. software updates, remote training)?",
    ),
    ("PAUT-8", Key::Mfa, "Does the device support multi-factor authentication?"),
    (
        "CONN-2",
        Key::PortList,
        "Does the manufacturer provide a list of network ports and protocols that are used or may be used on the device?",
    ),
    ("VERSION", Key::Version, "(sekimori extension) device software version"),
    ("PORTS", Key::Ports, "(sekimori extension) network ports the device listens on"),
];

fn key_of(id: &str) -> Option<(Key, &'static str, &'static str)> {
    let id = id.trim();
    QUESTIONS.iter().find(|(q, _, _)| q.eq_ignore_ascii_case(id)).map(|(q, k, t)| (*k, *q, *t))
}

/// One answer: which question, the answer, the note, where it was.
struct Answer {
    key: Key,
    id: &'static str,
    text: &'static str,
    answer: String,
    note: Option<String>,
    location: String,
}

/// Does this CSV text start with a `question_id, answer` header?
pub(super) fn is_mds2_csv(text: &str) -> bool {
    let Some(line) = text.lines().find(|l| !l.trim().is_empty()) else { return false };
    let cells: Vec<String> =
        line.split([',', '\t']).map(|c| super::ledger::fold(c.trim().trim_matches('"'))).collect();
    cells.first().is_some_and(|c| c == "questionid") && cells.iter().any(|c| c == "answer")
}

pub(super) fn read_csv(file: &Path, text: &str) -> Result<Inventory, InputError> {
    let delim = super::ledger::delimiter(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_reader(text.as_bytes());
    let mut errors = Vec::new();
    let mut answers = Vec::new();
    let mut cols: Option<(usize, usize, Option<usize>, usize)> = None;
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let loc = e.position().map_or_else(String::new, |p| format!("line {}", p.line()));
                errors.push(InputError::new(file, loc, format!("unreadable CSV row: {e}")));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let Some((qi, ai, ni, width)) = cols else {
            let folded: Vec<String> = rec.iter().map(super::ledger::fold).collect();
            let find = |n: &str| folded.iter().position(|c| c == n);
            match (find("questionid"), find("answer")) {
                (Some(q), Some(a)) => cols = Some((q, a, find("note"), rec.len())),
                _ => {
                    return Err(InputError::new(
                        file,
                        format!("line {line}"),
                        "MDS2 CSV needs the header question_id, answer[, note]",
                    ));
                }
            }
            continue;
        };
        if rec.iter().any(|c| c.len() > MAX_FIELD_BYTES) {
            errors.push(InputError::new(
                file,
                format!("line {line}"),
                format!("a field is over the {MAX_FIELD_BYTES}-byte limit; row skipped"),
            ));
            continue;
        }
        let extra = rec.iter().skip(width).any(|c| !c.trim().is_empty());
        if rec.len() < width.min(ai.max(qi) + 1) || extra {
            errors.push(InputError::new(
                file,
                format!("line {line}"),
                format!("row has {} fields, the header has {width}; row skipped", rec.len()),
            ));
            continue;
        }
        let id = rec.get(qi).unwrap_or("");
        let Some((key, id, text)) = key_of(id) else { continue };
        answers.push(Answer {
            key,
            id,
            text,
            answer: rec.get(ai).unwrap_or("").trim().to_owned(),
            note: ni.and_then(|n| rec.get(n)).and_then(non_empty),
            location: format!("line {line}, column answer"),
        });
    }
    build(file, answers, Device::default(), errors)
}

pub(super) fn read_json(file: &Path, doc: &Map<String, Value>) -> Result<Inventory, InputError> {
    let mut j = super::Json::new(file);
    let Some(Value::Object(ans)) = doc.get("answers") else {
        return Err(InputError::new(
            file,
            "$.answers",
            format!(
                "answers is {}, expected an object of question ID to answer",
                doc.get("answers").map_or("missing", type_name)
            ),
        ));
    };
    let mut device = Device::default();
    if let Some(dev) = j.obj(doc, "$", "device") {
        device.manufacturer = j.str(dev, "$.device", "manufacturer");
        device.model = j.str(dev, "$.device", "model");
        device.version = j.str(dev, "$.device", "version");
        device.name = j.str(dev, "$.device", "name");
        if let Some(ports) = j.arr(dev, "$.device", "ports") {
            for (i, p) in ports.iter().enumerate() {
                match p.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| *n != 0) {
                    Some(n) => device.ports.push(n),
                    None => {
                        j.error(&format!("$.device.ports[{i}]"), "expected a port number 1-65535")
                    }
                }
            }
        }
    }
    let mut answers = Vec::new();
    for (qid, v) in ans {
        let Some((key, id, text)) = key_of(qid) else { continue };
        let location = format!("$.answers[{qid:?}]");
        let answer = match v {
            Value::String(s) => s.trim().to_owned(),
            Value::Bool(b) => if *b { "Yes" } else { "No" }.to_owned(),
            Value::Null => String::new(),
            other => {
                j.error(&location, format!("expected a string answer, found {}", type_name(other)));
                continue;
            }
        };
        answers.push(Answer { key, id, text, answer, note: None, location });
    }
    build(file, answers, device, j.errors)
}

#[derive(Default)]
struct Device {
    manufacturer: Option<String>,
    model: Option<String>,
    version: Option<String>,
    name: Option<String>,
    ports: Vec<u16>,
}

/// Yes / No / unknown from an answer's first word; `Err` for anything else.
fn yes_no(answer: &str) -> Result<Option<bool>, ()> {
    let a = answer.trim().to_ascii_lowercase();
    let word: String = a.chars().take_while(|c| c.is_ascii_alphabetic() || *c == '/').collect();
    match word.as_str() {
        "" if a.is_empty() => Ok(None),
        "yes" | "y" | "true" => Ok(Some(true)),
        "no" | "n" | "false" => Ok(Some(false)),
        "n/a" | "na" => Ok(None),
        _ => Err(()),
    }
}

/// A text that is a list of ports and nothing else.
fn port_list(s: &str) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    for tok in
        s.split(|c: char| matches!(c, ',' | ';') || c.is_whitespace()).filter(|t| !t.is_empty())
    {
        let t = tok.to_ascii_lowercase();
        let n = t.strip_suffix("/tcp").or_else(|| t.strip_suffix("/udp")).unwrap_or(&t);
        let p = n.parse::<u16>().ok().filter(|p| *p != 0)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn build(
    file: &Path,
    answers: Vec<Answer>,
    device: Device,
    mut errors: Vec<InputError>,
) -> Result<Inventory, InputError> {
    let mut item = InventoryItem { source: source("mds2", file), ..InventoryItem::default() };
    let (mut manufacturer, mut description, mut model, mut doc_id, mut version) =
        (None, None, None, None, None);
    let (mut remote_yes, mut rmot1_no, mut ports) = (false, false, device.ports);
    for a in answers {
        let text = || non_empty(&a.answer);
        match a.key {
            Key::Manufacturer => manufacturer = manufacturer.or_else(text),
            Key::Description => description = description.or_else(text),
            Key::Model => model = model.or_else(text),
            Key::DocumentId => doc_id = doc_id.or_else(text),
            Key::Version => version = version.or_else(text),
            Key::Ports => match port_list(&a.answer) {
                Some(p) => {
                    ports.extend(p.into_iter().filter(|p| !ports.contains(p)).collect::<Vec<_>>())
                }
                None if a.answer.trim().is_empty() => {}
                None => errors.push(InputError::new(
                    file,
                    a.location,
                    format!("{}: not a list of port numbers: {:?}", a.id, a.answer),
                )),
            },
            Key::Remote | Key::Mfa | Key::PortList => {
                let v = match yes_no(&a.answer) {
                    Ok(v) => v,
                    Err(()) => {
                        errors.push(InputError::new(
                            file,
                            a.location,
                            format!(
                                "{} ({}): answer {:?} is not Yes, No or N/A; left unknown",
                                a.id, a.text, a.answer
                            ),
                        ));
                        continue;
                    }
                };
                match a.key {
                    Key::Remote => {
                        remote_yes |= v == Some(true);
                        rmot1_no |= a.id == "RMOT-1" && v == Some(false);
                    }
                    Key::Mfa => item.mfa = v,
                    _ => {
                        // CONN-2: ports from the note, or the text after "Yes,".
                        let listed = a.note.as_deref().and_then(port_list).or_else(|| {
                            let rest =
                                a.answer.trim().get(3..)?.trim_start_matches([',', ':', ';', ' ']);
                            port_list(rest)
                        });
                        if v == Some(true)
                            && let Some(p) = listed
                        {
                            ports.extend(
                                p.into_iter().filter(|p| !ports.contains(p)).collect::<Vec<_>>(),
                            );
                        }
                    }
                }
            }
        }
    }
    item.remote_access = if remote_yes {
        Some(true)
    } else if rmot1_no {
        Some(false)
    } else {
        None
    };
    item.vendor = device.manufacturer.or(manufacturer);
    item.model = device.model.or(model);
    item.product.clone_from(&item.model);
    item.version = device.version.or(version);
    if item.vendor.is_none() && item.model.is_none() {
        return Err(InputError::new(
            file,
            "",
            "MDS2 answers name neither a manufacturer (DOC-1 / device.manufacturer) nor a model (DOC-3 / device.model)",
        ));
    }
    item.name = device
        .name
        .or(description)
        .or_else(|| item.model.clone())
        .or_else(|| item.vendor.clone())
        .unwrap_or_default();
    item.id = match (doc_id, &item.model) {
        (Some(d), _) => format!("mds2:{d}"),
        (None, Some(m)) => format!("mds2:{m}"),
        (None, None) => "mds2".into(),
    };
    item.ports = ports;
    Ok(Inventory { items: vec![item], errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(yes_no("Yes, Optional"), Ok(Some(true)));
        assert_eq!(yes_no("No: No default accounts"), Ok(Some(false)));
        assert_eq!(yes_no("N/A"), Ok(None));
        assert_eq!(yes_no(""), Ok(None));
        assert_eq!(yes_no("Nothing"), Err(()));
        assert_eq!(yes_no("See note"), Err(()));
    }

    #[test]
    fn ports() {
        assert_eq!(port_list("104/tcp, 443/tcp 2762"), Some(vec![104, 443, 2762]));
        assert_eq!(port_list("see IFU section 3"), None);
    }
}
