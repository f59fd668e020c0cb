//! Zeek `conn.log` records, from the TSV log format (with its `#fields`,
//! `#types`, `#separator`, `#unset_field` and `#empty_field` headers) or
//! JSON lines (`ts` as epoch seconds or ISO 8601), detected from the first
//! line.
//!
//! [`ConnReader`] yields one `Result` per data line: a malformed line is an
//! error naming its line number and field, and the lines after it are still
//! read. Lines are capped at [`MAX_LINE`] bytes; memory does not grow with
//! the file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use thiserror::Error;

use crate::{ExternalFlow, FlowSource, Timestamp};

/// The longest line read; longer ones are errors (and skipped).
pub const MAX_LINE: usize = 64 * 1024;

/// One connection as Zeek logged it. Counters Zeek left unset are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRecord {
    /// When the connection's first packet was seen.
    pub ts: Timestamp,
    pub uid: String,
    pub orig_h: IpAddr,
    pub orig_p: u16,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    /// `tcp`, `udp`, `icmp` or `unknown_transport`.
    pub proto: String,
    /// The IP protocol number (`ip_proto`, or derived from `proto`).
    pub ip_proto: u8,
    /// Zeek's application protocol(s), e.g. `dns` or `ssl,http`.
    pub service: Option<String>,
    /// Nanoseconds.
    pub duration: Option<i64>,
    pub orig_bytes: Option<u64>,
    pub resp_bytes: Option<u64>,
    pub conn_state: Option<String>,
    pub orig_pkts: Option<u64>,
    pub resp_pkts: Option<u64>,
    pub orig_ip_bytes: Option<u64>,
    pub resp_ip_bytes: Option<u64>,
    pub orig_l2_addr: Option<[u8; 6]>,
    pub resp_l2_addr: Option<[u8; 6]>,
}

impl From<&ConnRecord> for ExternalFlow {
    fn from(c: &ConnRecord) -> ExternalFlow {
        ExternalFlow {
            source: FlowSource::ZeekConn,
            id: Some(c.uid.clone()),
            src: c.orig_h,
            dst: c.resp_h,
            sport: c.orig_p,
            dport: c.resp_p,
            protocol: c.ip_proto,
            packets_out: c.orig_pkts.unwrap_or(0),
            packets_in: c.resp_pkts.unwrap_or(0),
            bytes_out: c.orig_ip_bytes.or(c.orig_bytes).unwrap_or(0),
            bytes_in: c.resp_ip_bytes.or(c.resp_bytes).unwrap_or(0),
            first: c.ts,
            last: c.ts.add_nanos(c.duration.unwrap_or(0)),
            app_hint: c.service.clone(),
            src_mac: c.orig_l2_addr,
            dst_mac: c.resp_l2_addr,
        }
    }
}

/// A line of a conn.log that could not be read.
#[derive(Debug, Error)]
#[error("{}: line {line}{}: {what}", file.display(), field.map(|f| format!(", field {f}")).unwrap_or_default())]
pub struct ZeekError {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<&'static str>,
    pub what: ZeekProblem,
}

/// What was wrong with a line.
#[derive(Debug, Error)]
pub enum ZeekProblem {
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("data line before the #fields header")]
    NoFieldsHeader,
    #[error("the #fields header lacks this required field")]
    MissingColumn,
    #[error("{got} fields where the header names {want}")]
    FieldCount { got: usize, want: usize },
    #[error("required field is unset")]
    Unset,
    #[error("invalid value {0:?}")]
    Invalid(String),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("not valid UTF-8")]
    Utf8,
}

/// The TSV header state.
#[derive(Debug, Default)]
struct Tsv {
    sep: Vec<u8>,
    unset: Vec<u8>,
    empty: Vec<u8>,
    /// Column of each known field.
    cols: Option<Columns>,
    count: usize,
}

/// Where each field we read is in a TSV line.
#[derive(Debug, Default, Clone)]
struct Columns {
    idx: [Option<usize>; FIELDS.len()],
}

/// The fields read, in the order of [`Columns::idx`].
const FIELDS: [&str; 19] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "orig_l2_addr",
    "resp_l2_addr",
    "ip_proto",
];
const REQUIRED: usize = 7;

#[derive(Debug)]
enum Mode {
    Unknown,
    Tsv(Box<Tsv>),
    Json,
}

/// Reads conn.log records line by line.
#[derive(Debug)]
pub struct ConnReader<R> {
    file: PathBuf,
    src: R,
    line: u64,
    mode: Mode,
    buf: Vec<u8>,
    done: bool,
}

impl ConnReader<BufReader<File>> {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ZeekError> {
        let path = path.as_ref();
        let f = File::open(path).map_err(|e| ZeekError {
            file: path.to_path_buf(),
            line: 0,
            field: None,
            what: ZeekProblem::Io(e),
        })?;
        Ok(ConnReader::new(path, BufReader::with_capacity(256 * 1024, f)))
    }
}

impl<R: BufRead> ConnReader<R> {
    /// Reads from `src`; `name` is the file named in errors.
    pub fn new(name: impl AsRef<Path>, src: R) -> Self {
        ConnReader {
            file: name.as_ref().to_path_buf(),
            src,
            line: 0,
            mode: Mode::Unknown,
            buf: Vec::new(),
            done: false,
        }
    }

    fn err(&self, field: Option<&'static str>, what: ZeekProblem) -> ZeekError {
        ZeekError { file: self.file.clone(), line: self.line, field, what }
    }

    /// The next line into `self.buf` (without the newline); `Ok(false)` at
    /// the end.
    fn read_line(&mut self) -> Result<bool, ZeekError> {
        self.buf.clear();
        let n = (&mut self.src)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ZeekError {
                file: self.file.clone(),
                line: self.line + 1,
                field: None,
                what: e.into(),
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        } else if self.buf.len() > MAX_LINE {
            // Skip the rest of the over-long line, in bounded reads.
            loop {
                let mut rest = Vec::new();
                let k = (&mut self.src)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut rest)
                    .map_err(|e| self.err(None, e.into()))?;
                if k == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            self.buf.clear();
            return Err(self.err(None, ZeekProblem::LineTooLong(MAX_LINE)));
        }
        Ok(true)
    }

    /// The next record, `None` at the end of the input.
    pub fn next_record(&mut self) -> Option<Result<ConnRecord, ZeekError>> {
        loop {
            if self.done {
                return None;
            }
            match self.read_line() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    if matches!(e.what, ZeekProblem::Io(_)) {
                        self.done = true;
                    }
                    return Some(Err(e));
                }
            }
            if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if matches!(self.mode, Mode::Unknown) {
                self.mode = if self.buf.first() == Some(&b'{') {
                    Mode::Json
                } else {
                    Mode::Tsv(Box::new(Tsv {
                        sep: b"\t".to_vec(),
                        unset: b"-".to_vec(),
                        empty: b"(empty)".to_vec(),
                        ..Tsv::default()
                    }))
                };
            }
            let line = std::mem::take(&mut self.buf);
            let out = match &mut self.mode {
                Mode::Json => Some(self.json(&line)),
                Mode::Tsv(_) if line.first() == Some(&b'#') => {
                    self.header(&line);
                    None
                }
                Mode::Tsv(_) => Some(self.tsv(&line)),
                Mode::Unknown => None,
            };
            self.buf = line;
            if let Some(r) = out {
                return Some(r);
            }
        }
    }

    /// A `#` header line.
    fn header(&mut self, line: &[u8]) {
        let Mode::Tsv(t) = &mut self.mode else { return };
        if let Some(v) = line.strip_prefix(b"#separator ") {
            t.sep = unescape(v);
            return;
        }
        let mut parts = split(line, &t.sep);
        let key = parts.next().unwrap_or_default();
        let vals: Vec<&[u8]> = parts.collect();
        match key {
            b"#unset_field" => t.unset = vals.first().map(|v| v.to_vec()).unwrap_or_default(),
            b"#empty_field" => t.empty = vals.first().map(|v| v.to_vec()).unwrap_or_default(),
            b"#fields" => {
                let mut cols = Columns::default();
                for (i, name) in vals.iter().enumerate() {
                    if let Some(k) = FIELDS.iter().position(|f| f.as_bytes() == *name)
                        && let Some(slot) = cols.idx.get_mut(k)
                    {
                        *slot = Some(i);
                    }
                }
                t.count = vals.len();
                t.cols = Some(cols);
            }
            _ => {}
        }
    }

    fn tsv(&self, line: &[u8]) -> Result<ConnRecord, ZeekError> {
        let Mode::Tsv(t) = &self.mode else {
            return Err(self.err(None, ZeekProblem::NoFieldsHeader));
        };
        let Some(cols) = &t.cols else { return Err(self.err(None, ZeekProblem::NoFieldsHeader)) };
        for (k, name) in FIELDS.iter().enumerate().take(REQUIRED) {
            if cols.idx.get(k).copied().flatten().is_none() {
                return Err(self.err(Some(name), ZeekProblem::MissingColumn));
            }
        }
        // At most 64 columns are looked at; more are counted only.
        let mut vals: [&[u8]; 64] = [&[]; 64];
        let mut got = 0;
        for v in split(line, &t.sep) {
            if let Some(slot) = vals.get_mut(got) {
                *slot = v;
            }
            got += 1;
        }
        if got != t.count {
            return Err(self.err(None, ZeekProblem::FieldCount { got, want: t.count }));
        }
        let get = |k: usize| -> Option<&[u8]> {
            let v = *vals.get(cols.idx.get(k).copied().flatten()?)?;
            if v == t.unset.as_slice() { None } else { Some(v) }
        };
        let s = |k: usize| -> Result<Option<String>, ZeekError> {
            match get(k) {
                None => Ok(None),
                Some(v) if v == t.empty.as_slice() => Ok(Some(String::new())),
                Some(v) => String::from_utf8(unescape(v))
                    .map(Some)
                    .map_err(|_| self.err(FIELDS.get(k).copied(), ZeekProblem::Utf8)),
            }
        };
        let raw = |k: usize| -> Result<Option<&str>, ZeekError> {
            get(k)
                .map(|v| {
                    std::str::from_utf8(v)
                        .map_err(|_| self.err(FIELDS.get(k).copied(), ZeekProblem::Utf8))
                })
                .transpose()
        };
        self.build(|k| raw(k).map(|o| o.map(Field::Str)), s)
    }

    fn json(&self, line: &[u8]) -> Result<ConnRecord, ZeekError> {
        let obj: Map<String, Value> = serde_json::from_slice(line)
            .map_err(|e| self.err(None, ZeekProblem::Json(e.to_string())))?;
        let get =
            |k: usize| -> Option<&Value> { obj.get(*FIELDS.get(k)?).filter(|v| !v.is_null()) };
        let raw = |k: usize| -> Result<Option<Field<'_>>, ZeekError> {
            Ok(match get(k) {
                None => None,
                Some(Value::String(s)) => Some(Field::Str(s)),
                Some(Value::Number(n)) => Some(Field::Num(n)),
                Some(Value::Array(a)) => {
                    Some(Field::Str(a.first().and_then(Value::as_str).unwrap_or("")))
                }
                Some(other) => {
                    return Err(
                        self.err(FIELDS.get(k).copied(), ZeekProblem::Invalid(other.to_string()))
                    );
                }
            })
        };
        let s = |k: usize| -> Result<Option<String>, ZeekError> {
            Ok(match get(k) {
                None => None,
                Some(Value::String(s)) => Some(s.clone()),
                // Zeek logs sets as arrays in JSON.
                Some(Value::Array(a)) => {
                    Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                }
                Some(other) => Some(other.to_string()),
            })
        };
        self.build(raw, s)
    }

    /// A record from its fields, each read by `raw` (text or JSON number)
    /// or `s` (a string).
    fn build<'v>(
        &self,
        raw: impl Fn(usize) -> Result<Option<Field<'v>>, ZeekError>,
        s: impl Fn(usize) -> Result<Option<String>, ZeekError>,
    ) -> Result<ConnRecord, ZeekError> {
        let name = |k: usize| FIELDS.get(k).copied();
        let bad = |k: usize, f: &Field<'_>| self.err(name(k), ZeekProblem::Invalid(f.text()));
        let need = |k: usize| -> Result<Field<'v>, ZeekError> {
            raw(k)?.ok_or_else(|| self.err(name(k), ZeekProblem::Unset))
        };
        let ts = need(0)?;
        let ts = parse_time(&ts).ok_or_else(|| bad(0, &ts))?;
        let uid = s(1)?.ok_or_else(|| self.err(name(1), ZeekProblem::Unset))?;
        let addr = |k: usize| -> Result<IpAddr, ZeekError> {
            let f = need(k)?;
            f.str().and_then(|v| v.parse().ok()).ok_or_else(|| bad(k, &f))
        };
        let count = |k: usize| -> Result<Option<u64>, ZeekError> {
            raw(k)?.map(|f| f.u64().ok_or_else(|| bad(k, &f))).transpose()
        };
        let port = |k: usize| -> Result<u16, ZeekError> {
            let f = need(k)?;
            f.u64().and_then(|v| u16::try_from(v).ok()).ok_or_else(|| bad(k, &f))
        };
        let mac = |k: usize| -> Result<Option<[u8; 6]>, ZeekError> {
            raw(k)?.map(|f| f.str().and_then(parse_mac).ok_or_else(|| bad(k, &f))).transpose()
        };
        let orig_h = addr(2)?;
        let orig_p = port(3)?;
        let resp_h = addr(4)?;
        let resp_p = port(5)?;
        let proto = s(6)?.ok_or_else(|| self.err(name(6), ZeekProblem::Unset))?;
        let ip_proto = match count(18)? {
            Some(p) => u8::try_from(p)
                .map_err(|_| self.err(name(18), ZeekProblem::Invalid(p.to_string())))?,
            None => match proto.as_str() {
                "tcp" => 6,
                "udp" => 17,
                "icmp" if orig_h.is_ipv6() => 58,
                "icmp" => 1,
                _ => 0,
            },
        };
        let duration =
            raw(8)?.map(|f| parse_time(&f).map(|t| t.0).ok_or_else(|| bad(8, &f))).transpose()?;
        Ok(ConnRecord {
            ts,
            uid,
            orig_h,
            orig_p,
            resp_h,
            resp_p,
            proto,
            ip_proto,
            service: s(7)?,
            duration,
            orig_bytes: count(9)?,
            resp_bytes: count(10)?,
            conn_state: s(11)?,
            orig_pkts: count(12)?,
            orig_ip_bytes: count(13)?,
            resp_pkts: count(14)?,
            resp_ip_bytes: count(15)?,
            orig_l2_addr: mac(16)?,
            resp_l2_addr: mac(17)?,
        })
    }
}

impl<R: BufRead> Iterator for ConnReader<R> {
    type Item = Result<ConnRecord, ZeekError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

/// A field's value: TSV text, or a JSON string or number.
#[derive(Clone, Copy, Debug)]
enum Field<'a> {
    Str(&'a str),
    Num(&'a serde_json::Number),
}

impl Field<'_> {
    fn str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            Field::Num(_) => None,
        }
    }

    fn u64(&self) -> Option<u64> {
        match self {
            Field::Str(s) => s.parse().ok(),
            Field::Num(n) => n.as_u64(),
        }
    }

    fn text(&self) -> String {
        match self {
            Field::Str(s) => s.chars().take(64).collect(),
            Field::Num(n) => n.to_string(),
        }
    }
}

/// Epoch seconds with a fraction (`1300475167.096535`, as text or a JSON
/// number), or ISO 8601 / RFC 3339 (`2011-03-18T19:06:07.096535Z`).
fn parse_time(f: &Field<'_>) -> Option<Timestamp> {
    match f {
        Field::Num(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Some(Timestamp::from_secs_nanos(i, 0)),
            // Through the decimal text: exact to the digits given.
            (None, Some(_)) => parse_decimal_secs(&n.to_string()),
            _ => None,
        },
        Field::Str(s) => parse_decimal_secs(s).or_else(|| parse_iso(s)),
    }
}

fn parse_decimal_secs(s: &str) -> Option<Timestamp> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
    }
    let t = Timestamp::from_secs_nanos(secs, nanos);
    Some(if neg { Timestamp(-t.0) } else { t })
}

fn parse_iso(s: &str) -> Option<Timestamp> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .or_else(|_| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Iso8601::DEFAULT)
        })
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok().map(Timestamp)
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Splits on a (possibly multi-byte) separator.
fn split<'a>(line: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let r = rest?;
        if sep.is_empty() {
            rest = None;
            return Some(r);
        }
        match r.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = r.get(i + sep.len()..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Zeek's `\xHH` escapes decoded.
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b == b'\\'
            && v.get(i + 1) == Some(&b'x')
            && let Some(h) = v.get(i + 2..i + 4)
            && let Some(x) =
                std::str::from_utf8(h).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(x);
            i += 4;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Opens and reads a whole conn.log: the records, and the errors of the
/// lines that could not be read.
pub fn read_conn_log(
    path: impl AsRef<Path>,
) -> Result<(Vec<ConnRecord>, Vec<ZeekError>), ZeekError> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for r in ConnReader::open(path)? {
        match r {
            Ok(c) => ok.push(c),
            Err(e) => bad.push(e),
        }
    }
    Ok((ok, bad))
}
