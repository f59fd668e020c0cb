use std::fmt;
use std::path::PathBuf;

/// One input record that could not be read: which file, where in it, and
/// what was wrong. Reading goes on past it; the caller prints the list and
/// the counts of what was kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{}: {location}: {message}", file.display())]
pub struct InputError {
    /// The file (for an entry inside a zip archive: `archive.zip!/path/in/zip`).
    pub file: PathBuf,
    /// A JSON path (`$.vulnerabilities[3].cve.configurations`), a CSV line
    /// (`line 12, column バージョン`) or a byte offset, whichever the format has.
    pub location: String,
    /// What was wrong, in English (machine-stable wording).
    pub message: String,
    /// The same in Japanese: our own phrases translated (a table here),
    /// the details a parser gives (a serde message, an OS error) kept as
    /// they are.
    pub message_ja: String,
}

impl InputError {
    /// An error at `location` in `file`.
    pub fn new(
        file: impl Into<PathBuf>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let message_ja = japanese(&message);
        Self { file: file.into(), location: location.into(), message, message_ja }
    }

    /// `file: location: message`, in Japanese when `ja`.
    pub fn display_in(&self, ja: bool) -> String {
        if ja {
            format!("{}: {}: {}", self.file.display(), location_ja(&self.location), self.message_ja)
        } else {
            self.to_string()
        }
    }
}

/// Phrases our readers write, in English and Japanese: a message starting
/// with the first reads as the second followed by the rest. Longest first
/// where one begins another.
const PHRASES: &[(&str, &str)] = &[
    (
        "unknown format: neither JSON nor an EPSS CSV",
        "形式が不明です：JSON でも EPSS の CSV でもありません",
    ),
    (
        "unknown format: a JSON array at the top level; every known feed is an object",
        "形式が不明です：最上位が JSON の配列です（対応する脆弱性情報はすべてオブジェクトです）",
    ),
    (
        "unknown format: JSON, but not a KEV catalogue, CVE 5 record, NVD 2.0 CVE, CSAF 2.0 document or OSV record",
        "形式が不明です：JSON ですが、KEV・CVE 5・NVD 2.0・CSAF 2.0・OSV のいずれでもありません",
    ),
    ("unknown inventory format", "資産情報の形式が不明です"),
    (
        "zip archive nested more than one level deep; not read",
        "2段以上入れ子になった zip は読みません",
    ),
    ("zip archive inflates to more than", "zip の展開後の大きさが上限を超えます："),
    ("zip archive has", "zip の項目数が上限を超えます："),
    ("not a readable zip archive", "zip として読めません"),
    ("cannot inflate zip entry", "zip の項目を展開できません"),
    ("cannot read zip entry", "zip の項目を読めません"),
    ("cannot read", "読めません"),
    ("cannot open", "開けません"),
    ("file too large", "ファイルが大きすぎます"),
    ("empty file", "空のファイルです"),
    ("not UTF-8", "UTF-8 ではありません"),
    ("not valid JSON", "JSON として正しくありません"),
    ("malformed JSON", "JSON の形式が正しくありません"),
    ("unreadable CSV row", "CSV の行を読めません"),
    ("no header row", "見出し行がありません"),
    ("row has no name, product or model", "機器名・製品名・型番のいずれもない行です"),
    ("row has", "列の数が見出しと合いません："),
    ("a field is over the", "値が長すぎます："),
    ("MDS2 CSV needs the header", "MDS2 の CSV には見出しが必要です："),
    (
        "MDS2 answers name neither a manufacturer",
        "MDS2 の回答にメーカー（DOC-1）も型番（DOC-3）もありません",
    ),
    ("expected the header", "見出しが違います："),
    ("missing", "必要な項目がありません："),
    ("invalid type", "値の型が違います："),
    ("invalid value", "値が正しくありません："),
    ("invalid length", "長さが正しくありません："),
    ("unknown variant", "想定外の値です："),
    ("unknown field", "想定外の項目です："),
    ("recursion limit exceeded", "入れ子が深すぎます"),
    ("EOF while parsing", "途中で終わっています"),
    ("expected", "想定外の内容です："),
];

/// What happened to the rest, at a message's end.
const ENDINGS: &[(&str, &str)] = &[
    ("; row skipped", "（この行は読み飛ばしました）"),
    ("; refused", "（読み込みませんでした）"),
    ("; not read", "（読み込みませんでした）"),
    ("; left unknown", "（不明として扱います）"),
];

/// The Japanese of one of our messages (see [`PHRASES`]); a message we do
/// not know reads as "読み取れない内容です" with the English kept.
pub fn japanese(en: &str) -> String {
    let (body, ending) =
        ENDINGS.iter().find_map(|(e, j)| en.strip_suffix(e).map(|b| (b, *j))).unwrap_or((en, ""));
    let translated = PHRASES.iter().find_map(|(e, j)| {
        body.strip_prefix(e).map(|rest| {
            let rest = rest.trim_start_matches([':', ' ', ';', ',']).trim();
            if rest.is_empty() { (*j).to_owned() } else { format!("{j}（{rest}）") }
        })
    });
    match translated {
        Some(t) => format!("{t}{ending}"),
        None => format!("読み取れない内容です（{body}）{ending}"),
    }
}

/// A location in Japanese: `line 12, column バージョン` → `12 行目、列 バージョン`;
/// JSON paths stay as they are.
pub fn location_ja(loc: &str) -> String {
    loc.split(", ")
        .map(|part| {
            if let Some(n) = part.strip_prefix("line ") {
                format!("{n} 行目")
            } else if let Some(c) = part.strip_prefix("column ") {
                format!("列 {c}")
            } else if let Some(n) = part.strip_prefix("byte ") {
                format!("{n} バイト目")
            } else if let Some(n) = part.strip_prefix("entry ") {
                format!("項目 {n}")
            } else {
                match part {
                    "file" => "ファイル".to_owned(),
                    "directory" => "ディレクトリ".to_owned(),
                    other => other.to_owned(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// The errors of one read, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_messages_read_in_japanese() {
        for (en, ja) in [
            (
                "cannot read: No such file or directory (os error 2)",
                "読めません（No such file or directory (os error 2)）",
            ),
            (
                "file too large: 9 bytes (limit 8 bytes); refused",
                "ファイルが大きすぎます（9 bytes (limit 8 bytes)）（読み込みませんでした）",
            ),
            (
                "row has 3 fields, the header has 5; row skipped",
                "列の数が見出しと合いません：（3 fields, the header has 5）（この行は読み飛ばしました）",
            ),
            ("empty file", "空のファイルです"),
            (
                "invalid type: string \"x\", expected u64",
                "値の型が違います：（string \"x\", expected u64）",
            ),
        ] {
            assert_eq!(japanese(en), ja, "{en}");
        }
        assert!(japanese("something new").starts_with("読み取れない内容です"));
        assert_eq!(location_ja("line 12, column バージョン"), "12 行目、列 バージョン");
        assert_eq!(location_ja("$.vulnerabilities[3]"), "$.vulnerabilities[3]");
        let e = InputError::new("a.csv", "line 2", "empty file");
        assert_eq!(e.display_in(true), "a.csv: 2 行目: 空のファイルです");
        assert_eq!(e.display_in(false), "a.csv: line 2: empty file");
    }
}
