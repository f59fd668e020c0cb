//! JSON Lines export, for SIEM/archive and for verification offline.
//!
//! ```text
//! {"public_key":"<64 hex>"}
//! {"seq":1,"time":"2026-11-02T09:14:03.123456Z","prev_hash":"…","hash":"…","body":"<stored body>","actor":{…},"event":{…}}
//! …
//! {"checkpoint":{"seq":1024,"hash":"…","ts_micros":…,"signature":"…"}}
//! …
//! {"head":{"seq":…,"hash":"…","ts_micros":…,"signature":"…"}}
//! ```
//!
//! `body` is the exact stored string, which is what the hashes cover;
//! `actor` and `event` are copied verbatim out of it for readers, and the
//! reader rejects a line where they differ from the body, so what a SIEM reads
//! is what was verified. `time` is RFC 3339 in UTC with exactly six fraction
//! digits (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, the only form read back) and is the
//! hashed `ts_micros`; a timestamp outside years 0–9999
//! (only a damaged record has one) is written as `"ts_micros":<integer>`
//! instead. Every line ends with `\n`; a missing one means truncation.
//!
//! The public key line is informational: verify against the key you already
//! trust, never the one in the file ([`ExportedLog::verify`]).

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use sekimori_types::{Lang, Localized};

use crate::chain::{Hash, StoredRecord};
use crate::checkpoint::{Checkpoint, PublicKey};
use crate::verify::{Verifier, VerifyFailure, VerifyReport};

/// The longest line [`JsonlReader`] accepts, newline excluded (1 MiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;

const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// RFC 3339 with microseconds, or `None` outside years 0–9999.
fn format_time(ts_micros: i64) -> Option<String> {
    let t =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_micros).checked_mul(1000)?).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    t.format(TIME_FORMAT).ok()
}

/// Parses exactly the form [`format_time`] writes (one text per instant).
fn parse_time(s: &str) -> Result<i64, ExportErrorKind> {
    let t = PrimitiveDateTime::parse(s, TIME_FORMAT)
        .map_err(|_| ExportErrorKind::BadTime { reason: "not_rfc3339_utc_micros" })?
        .assume_utc();
    i64::try_from(t.unix_timestamp_nanos() / 1000)
        .map_err(|_| ExportErrorKind::BadTime { reason: "out_of_range" })
}

/// `actor` and `event` of a body, as their exact text.
#[derive(Deserialize)]
struct BodyParts<'a> {
    #[serde(borrow)]
    actor: &'a RawValue,
    #[serde(borrow)]
    event: &'a RawValue,
}

fn body_parts(body: &str) -> Option<BodyParts<'_>> {
    serde_json::from_str(body).ok()
}

#[derive(Serialize)]
struct KeyLineOut {
    public_key: String,
}

#[derive(Serialize)]
struct RecordLineOut<'a> {
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts_micros: Option<i64>,
    prev_hash: &'a Hash,
    hash: &'a Hash,
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct CheckpointLineOut<'a> {
    checkpoint: &'a Checkpoint,
}

#[derive(Serialize)]
struct HeadLineOut<'a> {
    head: &'a Checkpoint,
}

/// Writes an export line by line, so the store can stream records from a
/// cursor. Order: [`new`](Self::new) writes the key line, then records,
/// checkpoints, and the head last.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    w: W,
    records: u64,
}

impl<W: Write> JsonlWriter<W> {
    /// Starts an export with the public key line.
    pub fn new(w: W, key: &PublicKey) -> io::Result<Self> {
        let mut this = JsonlWriter { w, records: 0 };
        this.line(&KeyLineOut { public_key: key.to_hex() })?;
        Ok(this)
    }

    fn line(&mut self, v: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, v).map_err(io::Error::other)?;
        self.w.write_all(b"\n")
    }

    /// Writes one record line.
    pub fn record(&mut self, rec: &StoredRecord) -> io::Result<()> {
        let time = format_time(rec.ts_micros);
        let ts_micros = if time.is_none() { Some(rec.ts_micros) } else { None };
        let parts = body_parts(&rec.body);
        self.line(&RecordLineOut {
            seq: rec.seq,
            time,
            ts_micros,
            prev_hash: &rec.prev_hash,
            hash: &rec.hash,
            body: &rec.body,
            actor: parts.as_ref().map(|p| p.actor),
            event: parts.as_ref().map(|p| p.event),
        })?;
        self.records = self.records.saturating_add(1);
        Ok(())
    }

    /// Writes one periodic checkpoint line.
    pub fn checkpoint(&mut self, cp: &Checkpoint) -> io::Result<()> {
        self.line(&CheckpointLineOut { checkpoint: cp })
    }

    /// Writes the head line (last).
    pub fn head(&mut self, head: &Checkpoint) -> io::Result<()> {
        self.line(&HeadLineOut { head })
    }

    /// Flushes; returns the number of record lines written.
    pub fn finish(mut self) -> io::Result<u64> {
        self.w.flush()?;
        Ok(self.records)
    }
}

/// Writes a whole export; returns the number of records written.
pub fn write_jsonl(
    w: &mut impl Write,
    key: &PublicKey,
    records: impl IntoIterator<Item = StoredRecord>,
    checkpoints: &[Checkpoint],
    head: Option<&Checkpoint>,
) -> io::Result<u64> {
    let mut out = JsonlWriter::new(w, key)?;
    for rec in records {
        out.record(&rec)?;
    }
    for cp in checkpoints {
        out.checkpoint(cp)?;
    }
    if let Some(h) = head {
        out.head(h)?;
    }
    out.finish()
}

/// An export line could not be read. `line` is 1-based.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ExportError {
    /// The line at fault (for I/O errors: the line being read).
    pub line: u64,
    /// What was wrong with it.
    #[source]
    pub kind: ExportErrorKind,
}

/// What was wrong with an export line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportErrorKind {
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[source] io::Error),
    /// Longer than `limit` bytes.
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The cap, [`MAX_LINE_BYTES`].
        limit: usize,
    },
    /// The last line has no newline: the file was cut short.
    #[error("line is truncated (no newline at end of file)")]
    Truncated,
    /// Not valid JSON, a field of the wrong type, bad hex, an unknown field.
    #[error("invalid JSON at column {column}: {reason}")]
    Json {
        /// 1-based column within the line.
        column: usize,
        /// The parser's explanation.
        reason: String,
    },
    /// The first line is not `{"public_key":…}`.
    #[error("the first line must be the public key")]
    MissingPublicKey,
    /// The public key is not 64 hex digits.
    #[error("public key is not 64 hex digits")]
    BadPublicKey,
    /// A second public key line.
    #[error("a second public key line")]
    UnexpectedPublicKey,
    /// A second head line.
    #[error("a second head line")]
    DuplicateHead,
    /// A line that is none of key, record, checkpoint or head, or mixes them.
    #[error("not a key, record, checkpoint or head line")]
    UnknownLine,
    /// A record line without a required field.
    #[error("record line without `{0}`")]
    MissingField(&'static str),
    /// `time` is unusable, or both/neither of `time` and `ts_micros` given.
    #[error("bad time: {reason}")]
    BadTime {
        /// A machine code: `not_rfc3339_utc_micros` (not exactly
        /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`), `out_of_range`, `missing`,
        /// `both_time_and_ts_micros`.
        reason: &'static str,
    },
    /// `actor` or `event` differs from what the body says.
    #[error("`{field}` does not match the record body")]
    ParsedMismatch {
        /// `actor` or `event`.
        field: &'static str,
    },
}

impl Localized for ExportError {
    fn localized(&self, lang: Lang) -> String {
        let line = self.line;
        if lang == Lang::En {
            return self.to_string();
        }
        let what = match &self.kind {
            ExportErrorKind::Io(e) => format!("読み込みに失敗しました（{e}）"),
            ExportErrorKind::LineTooLong { limit } => format!("行が {limit} バイトを超えています"),
            ExportErrorKind::Truncated => {
                "行が途中で切れています（ファイル末尾に改行がありません）".to_owned()
            }
            ExportErrorKind::Json { column, reason } => {
                format!("{column} 文字目で JSON が不正です（{reason}）")
            }
            ExportErrorKind::MissingPublicKey => {
                "1 行目は公開鍵の行でなければなりません".to_owned()
            }
            ExportErrorKind::BadPublicKey => "公開鍵が 64 桁の 16 進数ではありません".to_owned(),
            ExportErrorKind::UnexpectedPublicKey => "公開鍵の行が 2 つあります".to_owned(),
            ExportErrorKind::DuplicateHead => "ヘッドの行が 2 つあります".to_owned(),
            ExportErrorKind::UnknownLine => {
                "鍵・記録・チェックポイント・ヘッドのいずれの行でもありません".to_owned()
            }
            ExportErrorKind::MissingField(f) => format!("記録の行に `{f}` がありません"),
            ExportErrorKind::BadTime { reason } => format!("時刻が不正です（{reason}）"),
            ExportErrorKind::ParsedMismatch { field } => {
                format!("`{field}` が記録の本文と一致しません")
            }
        };
        format!("エクスポートファイルの {line} 行目: {what}")
    }
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportItem {
    /// The instance's public key (first line).
    PublicKey(PublicKey),
    /// A record.
    Record(StoredRecord),
    /// A periodic checkpoint.
    Checkpoint(Checkpoint),
    /// The head checkpoint.
    Head(Checkpoint),
}

/// Every field any line may have; which ones are present says the line's kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn {
    public_key: Option<String>,
    checkpoint: Option<Checkpoint>,
    head: Option<Checkpoint>,
    seq: Option<u64>,
    time: Option<String>,
    ts_micros: Option<i64>,
    prev_hash: Option<Hash>,
    hash: Option<Hash>,
    body: Option<String>,
    actor: Option<Box<RawValue>>,
    event: Option<Box<RawValue>>,
}

impl LineIn {
    fn has_record_fields(&self) -> bool {
        self.seq.is_some()
            || self.time.is_some()
            || self.ts_micros.is_some()
            || self.prev_hash.is_some()
            || self.hash.is_some()
            || self.body.is_some()
            || self.actor.is_some()
            || self.event.is_some()
    }

    fn into_item(self) -> Result<ExportItem, ExportErrorKind> {
        let kinds = [
            self.public_key.is_some(),
            self.checkpoint.is_some(),
            self.head.is_some(),
            self.has_record_fields(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(ExportErrorKind::UnknownLine);
        }
        if let Some(k) = self.public_key {
            return PublicKey::from_hex(&k)
                .map(ExportItem::PublicKey)
                .ok_or(ExportErrorKind::BadPublicKey);
        }
        if let Some(cp) = self.checkpoint {
            return Ok(ExportItem::Checkpoint(cp));
        }
        if let Some(h) = self.head {
            return Ok(ExportItem::Head(h));
        }
        let seq = self.seq.ok_or(ExportErrorKind::MissingField("seq"))?;
        let prev_hash = self.prev_hash.ok_or(ExportErrorKind::MissingField("prev_hash"))?;
        let hash = self.hash.ok_or(ExportErrorKind::MissingField("hash"))?;
        let body = self.body.ok_or(ExportErrorKind::MissingField("body"))?;
        let ts_micros = match (self.time, self.ts_micros) {
            (Some(t), None) => parse_time(&t)?,
            (None, Some(ts)) => ts,
            (None, None) => return Err(ExportErrorKind::BadTime { reason: "missing" }),
            (Some(_), Some(_)) => {
                return Err(ExportErrorKind::BadTime { reason: "both_time_and_ts_micros" });
            }
        };
        let parts = body_parts(&body);
        fn raw(v: &Option<Box<RawValue>>) -> Option<&str> {
            v.as_deref().map(RawValue::get)
        }
        if raw(&self.actor) != parts.as_ref().map(|p| p.actor.get()) {
            return Err(ExportErrorKind::ParsedMismatch { field: "actor" });
        }
        if raw(&self.event) != parts.as_ref().map(|p| p.event.get()) {
            return Err(ExportErrorKind::ParsedMismatch { field: "event" });
        }
        Ok(ExportItem::Record(StoredRecord { seq, ts_micros, body, prev_hash, hash }))
    }
}

fn json_error(e: &serde_json::Error) -> ExportErrorKind {
    let text = e.to_string();
    // The parser's position is "line 1" of the one-line input; keep the column.
    let reason = match text.rsplit_once(" at line ") {
        Some((r, _)) => r.to_owned(),
        None => text,
    };
    ExportErrorKind::Json { column: e.column(), reason }
}

/// Reads an export line by line, in constant memory. Checks each line on its
/// own (and that the key comes first, once, and the head at most once); the
/// chain itself is for a [`Verifier`]. Stops after the first error.
#[derive(Debug)]
pub struct JsonlReader<R> {
    r: R,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    seen_head: bool,
}

impl<R: BufRead> JsonlReader<R> {
    /// Reads from `r`.
    pub fn new(r: R) -> Self {
        JsonlReader { r, line: 0, buf: Vec::new(), done: false, seen_head: false }
    }

    /// The number of lines read so far.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next line's item, or `None` at the end of the input.
    pub fn next_item(&mut self) -> Result<Option<ExportItem>, ExportError> {
        if self.done {
            return Ok(None);
        }
        let r = self.read_item();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    fn read_item(&mut self) -> Result<Option<ExportItem>, ExportError> {
        let line = self.line.saturating_add(1);
        let err = |kind| ExportError { line, kind };
        self.buf.clear();
        let cap = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX).saturating_add(1);
        let n = (&mut self.r)
            .take(cap)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| err(ExportErrorKind::Io(e)))?;
        if n == 0 {
            if self.line == 0 {
                return Err(err(ExportErrorKind::MissingPublicKey));
            }
            return Ok(None);
        }
        self.line = line;
        if self.buf.last() != Some(&b'\n') {
            return Err(err(if self.buf.len() > MAX_LINE_BYTES {
                ExportErrorKind::LineTooLong { limit: MAX_LINE_BYTES }
            } else {
                ExportErrorKind::Truncated
            }));
        }
        let parsed: LineIn = serde_json::from_slice(&self.buf).map_err(|e| err(json_error(&e)))?;
        let item = parsed.into_item().map_err(err)?;
        match (&item, line) {
            (ExportItem::PublicKey(_), 1) => {}
            (_, 1) => return Err(err(ExportErrorKind::MissingPublicKey)),
            (ExportItem::PublicKey(_), _) => return Err(err(ExportErrorKind::UnexpectedPublicKey)),
            (ExportItem::Head(_), _) if self.seen_head => {
                return Err(err(ExportErrorKind::DuplicateHead));
            }
            (ExportItem::Head(_), _) => self.seen_head = true,
            _ => {}
        }
        Ok(Some(item))
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<ExportItem, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

/// A whole export in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedLog {
    /// The key the file claims; informational (verify against a trusted key).
    pub public_key: PublicKey,
    /// Records in file order.
    pub records: Vec<StoredRecord>,
    /// Periodic checkpoints in file order.
    pub checkpoints: Vec<Checkpoint>,
    /// The head, if the file has one.
    pub head: Option<Checkpoint>,
}

impl ExportedLog {
    /// Verifies the records against the checkpoints and head with `key`,
    /// the key the caller trusts (not [`Self::public_key`]).
    pub fn verify(self, key: &PublicKey) -> Result<VerifyReport, VerifyFailure> {
        let mut v = Verifier::new(*key, self.checkpoints, self.head);
        for rec in &self.records {
            v.push(rec)?;
        }
        v.finish()
    }
}

/// Reads a whole export into memory (one record per line: for very large
/// exports, use [`JsonlReader`] twice, collecting checkpoints first).
pub fn read_jsonl(r: impl BufRead) -> Result<ExportedLog, ExportError> {
    let mut rd = JsonlReader::new(r);
    let public_key = match rd.next_item()? {
        Some(ExportItem::PublicKey(k)) => k,
        _ => return Err(ExportError { line: 1, kind: ExportErrorKind::MissingPublicKey }),
    };
    let mut log =
        ExportedLog { public_key, records: Vec::new(), checkpoints: Vec::new(), head: None };
    while let Some(item) = rd.next_item()? {
        match item {
            ExportItem::Record(r) => log.records.push(r),
            ExportItem::Checkpoint(c) => log.checkpoints.push(c),
            ExportItem::Head(h) => log.head = Some(h),
            // The reader rejects a second key line.
            ExportItem::PublicKey(_) => {}
        }
    }
    Ok(log)
}
