//! What can be wrong with a policy file or an indicator file: one
//! [`PolicyError`] per problem, each naming the file, the line and column
//! (1-based; 0 when the position is unknown, e.g. inside a JSON document
//! after it was parsed) and the key (`zone[2].ranges[1]`, `rule[4].to`,
//! `objects[3].pattern`), with a structured [`ErrorKind`] that explains
//! itself in Japanese and English.

use std::fmt;
use std::path::{Path, PathBuf};

use sekimori_types::{Lang, Localized};

/// Every problem found in one load, in file order (syntax errors stop the
/// read, so a file with a syntax error reports that one).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, PolicyError> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// One line per problem, `FILE:LINE:COL: key: message`, in `lang`.
    pub fn lines(&self, lang: Lang) -> Vec<String> {
        self.0.iter().map(|e| e.line_in(lang)).collect()
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl IntoIterator for PolicyErrors {
    type Item = PolicyError;
    type IntoIter = std::vec::IntoIter<PolicyError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// One problem, where it is, and what it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.line_in(Lang::En))]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based; 0 when unknown.
    pub line: u32,
    /// 1-based, in characters; 0 when unknown.
    pub column: u32,
    /// The key the problem is in (`zone[2].ranges[1]`); empty for the file
    /// as a whole.
    pub key: String,
    pub kind: ErrorKind,
}

impl PolicyError {
    pub fn new(file: &Path, pos: Pos, key: impl Into<String>, kind: ErrorKind) -> PolicyError {
        PolicyError {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            key: key.into(),
            kind,
        }
    }

    /// `FILE:LINE:COL: key: message` (position and key left out when unknown).
    pub fn line_in(&self, lang: Lang) -> String {
        let mut s = self.file.display().to_string();
        if self.line > 0 {
            s.push_str(&format!(":{}:{}", self.line, self.column));
        }
        s.push_str(": ");
        if !self.key.is_empty() {
            s.push_str(&self.key);
            s.push_str(": ");
        }
        s.push_str(&self.kind.localized(lang));
        s
    }

    /// The stable machine code of the problem (`unknown_zone`, …).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// A position in a file: 1-based line and column (0 = unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos { line: 0, column: 0 };

    pub fn line(line: u32) -> Pos {
        Pos { line, column: 1 }
    }
}

/// Converts byte offsets into line:column, once per file.
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub(crate) fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

/// What is wrong. Each variant has a stable [`code`](ErrorKind::code) and a
/// message in both languages ([`Localized`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot read the file: {reason}")]
    Io { reason: String },
    #[error("file too large: {size} bytes, at most {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("not UTF-8 text")]
    NotUtf8,
    #[error("TOML: {message}")]
    Syntax { message: String },
    #[error("the [hospital] table with the hospital's address ranges is missing")]
    MissingHospital,
    #[error("at least one range is needed")]
    NoRanges,
    #[error("too many {what}: at most {limit}")]
    TooMany { what: &'static str, limit: usize },
    #[error("value too long: at most {limit} characters")]
    TooLong { limit: usize },
    #[error(
        "{value:?} is not a valid zone name (lowercase letters, digits and dashes, starting with a letter, at most 63)"
    )]
    BadZoneName { value: String },
    #[error("{name:?} is a built-in zone name and cannot be defined")]
    ReservedZoneName { name: String },
    #[error("zone {name:?} is already defined on line {first_line}")]
    DuplicateZone { name: String, first_line: u32 },
    #[error("unknown zone {name:?}")]
    UnknownZone { name: String },
    #[error("{value:?} is not an address or CIDR range ({reason})")]
    BadCidr { value: String, reason: CidrProblem },
    #[error("range {range} is also in zone {other:?}")]
    RangeInTwoZones { range: String, other: String },
    #[error("{what} {value:?} is also listed in zone {other:?}")]
    ClaimedTwice { what: &'static str, value: String, other: String },
    #[error("unknown role {value:?} (one of: {known})")]
    UnknownRole { value: String, known: String },
    #[error("unknown protocol {value:?} (one of: {known})")]
    UnknownProtocol { value: String, known: String },
    #[error("{value:?} is not a port, port/transport or range (104, 2575/tcp, 5000-5010/udp)")]
    BadPort { value: String },
    #[error(
        "a critical zone is always default deny; remove default = \"allow\" or critical = true"
    )]
    CriticalDefaultAllow,
    #[error("zone {name:?} is already the gateway zone (kind = \"gateway\"); there can be one")]
    TwoGateways { name: String },
    #[error("this zone matches nothing: give ranges, assets, roles or tags")]
    EmptyZone,
    #[error("an empty list names no zone")]
    EmptyZoneList,
    #[error("{value:?} is not a size (\"50 MB\", \"512 KiB\"; units B, KB, MB, GB, KiB, MiB, GiB)")]
    BadSize { value: String },
    #[error("{value:?} is not a duration (\"90s\", \"5m\", \"24h\", \"7d\")")]
    BadDuration { value: String },
    #[error("must be more than zero")]
    Zero,
    #[error("{value} is out of range ({min} to {max})")]
    OutOfRange { value: String, min: String, max: String },
    #[error("a silence watch names nothing: give asset, address or zone")]
    SilenceNamesNothing,
    #[error("a silence watch names one thing: give only one of asset, address and zone")]
    SilenceNamesSeveral,
    #[error("the built-in zone {name:?} cannot be watched for silence")]
    SilenceBuiltinZone { name: String },
    #[error("unknown alert kind {value:?}")]
    UnknownAlertKind { value: String },
    #[error("unknown severity {value:?} (low, medium, high, critical)")]
    UnknownSeverity { value: String },
    #[error("{value:?} is not an IP address, CIDR range or domain name")]
    BadIndicator { value: String },
    #[error("JSON: {message}")]
    Json { message: String },
    #[error("not a STIX object: {reason}")]
    BadStix { reason: String },
    #[error("bad timestamp {value:?} (RFC 3339 expected)")]
    BadTimestamp { value: String },
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrProblem {
    NotAnAddress,
    BadPrefixLength,
    /// Bits set after the prefix: `10.1.2.3/16`.
    HostBitsSet,
}

impl fmt::Display for CidrProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CidrProblem::NotAnAddress => "not an IP address",
            CidrProblem::BadPrefixLength => "bad prefix length",
            CidrProblem::HostBitsSet => "bits set after the prefix length",
        })
    }
}

impl CidrProblem {
    fn ja(self) -> &'static str {
        match self {
            CidrProblem::NotAnAddress => "IP アドレスではない",
            CidrProblem::BadPrefixLength => "プレフィックス長が不正",
            CidrProblem::HostBitsSet => "プレフィックス長より後ろのビットが立っている",
        }
    }
}

impl ErrorKind {
    /// A stable machine code (snake_case) for scripts and the API.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Io { .. } => "io",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::NotUtf8 => "not_utf8",
            ErrorKind::Syntax { .. } => "syntax",
            ErrorKind::MissingHospital => "missing_hospital",
            ErrorKind::NoRanges => "no_ranges",
            ErrorKind::TooMany { .. } => "too_many",
            ErrorKind::TooLong { .. } => "too_long",
            ErrorKind::BadZoneName { .. } => "bad_zone_name",
            ErrorKind::ReservedZoneName { .. } => "reserved_zone_name",
            ErrorKind::DuplicateZone { .. } => "duplicate_zone",
            ErrorKind::UnknownZone { .. } => "unknown_zone",
            ErrorKind::BadCidr { .. } => "bad_cidr",
            ErrorKind::RangeInTwoZones { .. } => "range_in_two_zones",
            ErrorKind::ClaimedTwice { .. } => "claimed_twice",
            ErrorKind::UnknownRole { .. } => "unknown_role",
            ErrorKind::UnknownProtocol { .. } => "unknown_protocol",
            ErrorKind::BadPort { .. } => "bad_port",
            ErrorKind::CriticalDefaultAllow => "critical_default_allow",
            ErrorKind::TwoGateways { .. } => "two_gateways",
            ErrorKind::EmptyZone => "empty_zone",
            ErrorKind::EmptyZoneList => "empty_zone_list",
            ErrorKind::BadSize { .. } => "bad_size",
            ErrorKind::BadDuration { .. } => "bad_duration",
            ErrorKind::Zero => "zero",
            ErrorKind::OutOfRange { .. } => "out_of_range",
            ErrorKind::SilenceNamesNothing => "silence_names_nothing",
            ErrorKind::SilenceNamesSeveral => "silence_names_several",
            ErrorKind::SilenceBuiltinZone { .. } => "silence_builtin_zone",
            ErrorKind::UnknownAlertKind { .. } => "unknown_alert_kind",
            ErrorKind::UnknownSeverity { .. } => "unknown_severity",
            ErrorKind::BadIndicator { .. } => "bad_indicator",
            ErrorKind::Json { .. } => "json",
            ErrorKind::BadStix { .. } => "bad_stix",
            ErrorKind::BadTimestamp { .. } => "bad_timestamp",
        }
    }

    fn japanese(&self) -> String {
        match self {
            ErrorKind::Io { reason } => format!("ファイルを読めません：{reason}"),
            ErrorKind::TooLarge { size, limit } => {
                format!("ファイルが大きすぎます：{size} バイト（上限 {limit}）")
            }
            ErrorKind::NotUtf8 => "UTF-8 のテキストではありません".into(),
            ErrorKind::Syntax { message } => format!("TOML の書式の誤り：{message}"),
            ErrorKind::MissingHospital => {
                "病院のアドレス範囲を書く [hospital] テーブルがありません".into()
            }
            ErrorKind::NoRanges => "範囲を1つ以上書いてください".into(),
            ErrorKind::TooMany { what, limit } => {
                format!("{} が多すぎます（上限 {limit}）", what_ja(what))
            }
            ErrorKind::TooLong { limit } => format!("値が長すぎます（上限 {limit} 文字）"),
            ErrorKind::BadZoneName { value } => format!(
                "「{value}」はゾーン名に使えません（英小文字・数字・ハイフン、英字で始まる、63 文字まで）"
            ),
            ErrorKind::ReservedZoneName { name } => {
                format!("「{name}」は組み込みのゾーン名なので定義できません")
            }
            ErrorKind::DuplicateZone { name, first_line } => {
                format!("ゾーン「{name}」は {first_line} 行目で定義済みです")
            }
            ErrorKind::UnknownZone { name } => format!("ゾーン「{name}」は定義されていません"),
            ErrorKind::BadCidr { value, reason } => {
                format!("「{value}」はアドレスまたは CIDR 範囲ではありません（{}）", reason.ja())
            }
            ErrorKind::RangeInTwoZones { range, other } => {
                format!("範囲 {range} はゾーン「{other}」にも含まれています")
            }
            ErrorKind::ClaimedTwice { what, value, other } => {
                format!("{}「{value}」はゾーン「{other}」にも書かれています", what_ja(what))
            }
            ErrorKind::UnknownRole { value, known } => {
                format!("役割「{value}」は不明です（{known} のいずれか）")
            }
            ErrorKind::UnknownProtocol { value, known } => {
                format!("プロトコル「{value}」は不明です（{known} のいずれか）")
            }
            ErrorKind::BadPort { value } => format!(
                "「{value}」はポートではありません（104、2575/tcp、5000-5010/udp のように書く）"
            ),
            ErrorKind::CriticalDefaultAllow => "重要ゾーンは常に既定拒否です。default = \"allow\" か critical = true を削除してください".into(),
            ErrorKind::TwoGateways { name } => format!(
                "ゲートウェイのゾーン（kind = \"gateway\"）は「{name}」で定義済みです（1つだけ）"
            ),
            ErrorKind::EmptyZone => {
                "このゾーンに当てはまるものがありません：ranges・assets・roles・tags のいずれかを書いてください".into()
            }
            ErrorKind::EmptyZoneList => "空のリストではゾーンを指定できません".into(),
            ErrorKind::BadSize { value } => format!(
                "「{value}」は大きさではありません（\"50 MB\"、\"512 KiB\"。単位 B・KB・MB・GB・KiB・MiB・GiB）"
            ),
            ErrorKind::BadDuration { value } => {
                format!("「{value}」は時間ではありません（\"90s\"、\"5m\"、\"24h\"、\"7d\"）")
            }
            ErrorKind::Zero => "0 より大きい値にしてください".into(),
            ErrorKind::OutOfRange { value, min, max } => {
                format!("{value} は範囲外です（{min} から {max}）")
            }
            ErrorKind::SilenceNamesNothing => {
                "沈黙の監視対象がありません：asset・address・zone のいずれかを書いてください".into()
            }
            ErrorKind::SilenceNamesSeveral => {
                "沈黙の監視対象は1つだけ：asset・address・zone のどれか1つを書いてください".into()
            }
            ErrorKind::SilenceBuiltinZone { name } => {
                format!("組み込みゾーン「{name}」は沈黙の監視対象にできません")
            }
            ErrorKind::UnknownAlertKind { value } => format!("アラートの種類「{value}」は不明です"),
            ErrorKind::UnknownSeverity { value } => {
                format!("重大度「{value}」は不明です（low・medium・high・critical）")
            }
            ErrorKind::BadIndicator { value } => {
                format!("「{value}」は IP アドレス・CIDR 範囲・ドメイン名のどれでもありません")
            }
            ErrorKind::Json { message } => format!("JSON の誤り：{message}"),
            ErrorKind::BadStix { reason } => format!("STIX オブジェクトではありません：{reason}"),
            ErrorKind::BadTimestamp { value } => {
                format!("日時「{value}」が不正です（RFC 3339 の形式）")
            }
        }
    }
}

fn what_ja(what: &str) -> &str {
    match what {
        "zones" => "ゾーン",
        "rules" => "ルール",
        "ranges" => "範囲",
        "entries" => "項目",
        "indicators" => "指標",
        "indicator files" => "指標ファイル",
        "silence watches" => "沈黙の監視",
        "asset" => "機器名",
        "tag" => "タグ",
        "role" => "役割",
        other => other,
    }
}

impl Localized for ErrorKind {
    fn localized(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Ja => self.japanese(),
        }
    }
}

impl Localized for PolicyError {
    fn localized(&self, lang: Lang) -> String {
        self.line_in(lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbé = 2\n\nc";
        let idx = LineIndex::new(text);
        assert_eq!(idx.pos(0), Pos { line: 1, column: 1 });
        assert_eq!(idx.pos(6), Pos { line: 2, column: 1 });
        // After the two-byte é: column counts characters.
        assert_eq!(idx.pos(9), Pos { line: 2, column: 3 });
        assert_eq!(idx.pos(text.len() - 1), Pos { line: 4, column: 1 });
        assert_eq!(idx.pos(10_000), Pos { line: 4, column: 2 });
    }

    #[test]
    fn every_kind_speaks_both_languages() {
        let k = ErrorKind::UnknownZone { name: "icu".into() };
        assert_eq!(k.localized(Lang::En), "unknown zone \"icu\"");
        assert!(k.localized(Lang::Ja).contains("定義されていません"));
        let e = PolicyError::new(Path::new("p.toml"), Pos { line: 3, column: 7 }, "rule[1].to", k);
        assert_eq!(e.to_string(), "p.toml:3:7: rule[1].to: unknown zone \"icu\"");
    }
}
