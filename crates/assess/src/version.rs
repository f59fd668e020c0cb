//! Version schemes as code.
//!
//! Advisories and inventories write versions in many ways, and the way
//! decides the order: `9.1R18.2` is an Ivanti train, `10.2.9-h1` a PAN-OS
//! hotfix, `13.1-49.15` a Citrix build. Each [`Scheme`] here has a parser
//! into a structured key and a total order on those keys; [`compare`] orders
//! two strings under one scheme and answers [`Incomparable`] when either
//! string does not parse: "cannot compare" is an honest answer, a guess is
//! not.
//!
//! All parsers take hostile input: they never panic, refuse text longer
//! than [`MAX_LEN`] bytes, refuse numbers that do not fit in a `u64`, and
//! trim surrounding whitespace. Every scheme except [`Scheme::Date`] accepts a
//! leading `v`/`V`. Letters are read case-insensitively except in SemVer
//! pre-release identifiers, which SemVer orders by ASCII.
//!
//! What each scheme accepts, and how it orders, is documented on its
//! variant.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest version text any parser accepts, in bytes.
pub const MAX_LEN: usize = 256;

/// A way of writing versions, each with its own total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Semantic Versioning 2.0.0 (`1.2.3-rc.1+build`), strictly: three
    /// numbers without leading zeros, pre-release identifiers ordered as
    /// SemVer says (numeric below alphanumeric, a pre-release below its
    /// release), build metadata ignored (`1.0.0+a` equals `1.0.0+b`).
    Semver,
    /// Dotted numeric with optional suffixes (`9.8p1`, `2.2.0`, `4.3`,
    /// `1.0.2k`, `2.0rc1`, `8.5.1 build 123`).
    ///
    /// The leading numbers compare numerically, missing ones count as zero
    /// (`4.3` equals `4.3.0`). What follows is split into words and numbers
    /// (separators `.`, `-`, `_`, `+`, `~`, `,` and spaces are dropped) and
    /// compared in turn: the words `dev` < `alpha` < `beta` < `pre`/`preview`
    /// < `rc` mark a pre-release and sort below the bare version; a number
    /// or any other word is a later release and sorts above it
    /// (`2.0rc1` < `2.0` < `2.0-1` < `2.0a` < `2.0p1` < `2.1`). So OpenSSL's
    /// `1.0.2k` and OpenSSH's `9.8p1` read as post-releases, and
    /// `8.5.1 build 123` sits between `8.5.1` and `8.5.2`. Text must start
    /// with a digit; characters other than ASCII letters, digits and the
    /// separators make it incomparable.
    Dotted,
    /// Ivanti/Pulse Secure trains (`22.7R2.3`, `9.1R18`, `9.1R18.2`,
    /// `22.7R1.1b`, `22.7R2.1 build 1485`).
    ///
    /// Train `MAJOR.MINOR`, then `R` (any case) and the release numbers
    /// (missing ones count as zero: `9.1R18` equals `9.1R18.0`), then an
    /// optional letter respin (`22.7R1.1` < `22.7R1.1b` < `22.7R1.2`) and an
    /// optional build (`build 1485`, `(build 1485)`; absent sorts first).
    /// `9.1R18` < `9.1R18.2` < `9.1R19` < `22.1R1`.
    Ivanti,
    /// FortiOS/FortiProxy/FortiGate (`7.0.12`, `v7.2.4`, `7.2.4 build1396`,
    /// `v7.2.4,build1396`): exactly three numbers, then an optional build as
    /// a fourth key (absent sorts before any build of the same release).
    FortiOs,
    /// PAN-OS (`10.2.9-h1`, `11.1.2`): exactly three numbers and an optional
    /// `-hN` hotfix compared numerically (`10.2.9` < `10.2.9-h1` <
    /// `10.2.9-h12` < `10.2.10`). Other suffixes (`-c1`, `.xfr`) have no
    /// known order and make the text incomparable.
    PanOs,
    /// Citrix ADC/NetScaler (`13.1-49.15`, `14.1-12.35`, `13.1 Build 49.15`):
    /// release `MAJOR.MINOR`, then the build (one or two numbers, missing
    /// counts as zero). `13.1-49.15` < `13.1-50.1` < `14.1-4.42`.
    Citrix,
    /// Windows builds (`10.0.19045.3803`, `10.0.17763`, `6.1.7601`): one to
    /// four numbers, missing ones count as zero. A first number of 10240 or
    /// more is a build without its NT version (`19045.3803`, `22631`) and
    /// reads as `10.0.<build>.<revision>`: every build from 10240 on is NT
    /// 10.0. Shorter builds need the full form.
    Windows,
    /// Dates (`2024-01-15`, `20240115`, `2024.01.15`, `2024/01/15`): real
    /// calendar dates only, compared chronologically. No leading `v`.
    Date,
}

impl Scheme {
    /// Every scheme, in declaration order.
    pub const ALL: [Scheme; 8] = [
        Scheme::Semver,
        Scheme::Dotted,
        Scheme::Ivanti,
        Scheme::FortiOs,
        Scheme::PanOs,
        Scheme::Citrix,
        Scheme::Windows,
        Scheme::Date,
    ];

    /// The scheme's stable name, as serialised (`semver`, `forti_os`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Semver => "semver",
            Scheme::Dotted => "dotted",
            Scheme::Ivanti => "ivanti",
            Scheme::FortiOs => "forti_os",
            Scheme::PanOs => "pan_os",
            Scheme::Citrix => "citrix",
            Scheme::Windows => "windows",
            Scheme::Date => "date",
        }
    }

    /// The scheme named `name` (as [`Scheme::as_str`] writes it, any case).
    pub fn from_name(name: &str) -> Option<Scheme> {
        let name = name.trim();
        Scheme::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why two versions cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot compare: {reason}")]
pub struct Incomparable {
    /// Machine-stable reason, English: which text, under which scheme, and
    /// what was wrong with it.
    pub reason: String,
}

/// A version parsed under one [`Scheme`].
///
/// Ordering two versions of the same scheme is that scheme's order; versions
/// of different schemes order by scheme (declaration order), which means
/// nothing but keeps `Ord` total so versions can key a `BTreeMap`. Equality
/// is order-equality: `4.3` and `4.3.0` are equal dotted versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    key: Key,
}

impl Version {
    /// Parse `text` under `scheme`.
    pub fn parse(scheme: Scheme, text: &str) -> Result<Version, Incomparable> {
        parse_key(scheme, text).map(|key| Version { key }).map_err(|why| Incomparable {
            reason: format!("{} is not a {scheme} version: {why}", quote(text)),
        })
    }

    /// The scheme this version was parsed under.
    pub fn scheme(&self) -> Scheme {
        match self.key {
            Key::Semver(_) => Scheme::Semver,
            Key::Dotted(_) => Scheme::Dotted,
            Key::Ivanti(_) => Scheme::Ivanti,
            Key::FortiOs(_) => Scheme::FortiOs,
            Key::PanOs(_) => Scheme::PanOs,
            Key::Citrix(_) => Scheme::Citrix,
            Key::Windows(_) => Scheme::Windows,
            Key::Date(_) => Scheme::Date,
        }
    }

    /// The release line: the first two numbers (`9.1` of `9.1R18`, `7.0` of
    /// `7.0.12`, `13.1` of `13.1-49.15`, year and month of a date). For
    /// Windows, whose first two numbers are `10.0` for a decade of releases,
    /// the line is the NT version and the build (`10.0.19045`): the build is
    /// the feature release.
    fn line(&self) -> (u64, u64, u64) {
        match &self.key {
            Key::Semver(v) => (v.major, v.minor, 0),
            Key::Dotted(v) => {
                let mut it = v.release.iter().copied();
                (it.next().unwrap_or(0), it.next().unwrap_or(0), 0)
            }
            Key::Ivanti(v) => (v.major, v.minor, 0),
            Key::FortiOs(v) => (v.major, v.minor, 0),
            Key::PanOs(v) => (v.major, v.minor, 0),
            Key::Citrix(v) => (v.major, v.minor, 0),
            Key::Windows([major, minor, build, _]) => (*major, *minor, *build),
            Key::Date(v) => (u64::from(v.year), u64::from(v.month), 0),
        }
    }
}

/// Compare `a` and `b` under `scheme`.
///
/// `Err` when either does not parse under `scheme`; the reason names the
/// text and what was wrong.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, Incomparable> {
    Ok(Version::parse(scheme, a)?.cmp(&Version::parse(scheme, b)?))
}

/// The scheme a version string most likely follows, from its shape alone.
///
/// In order: `22.7R2.3` → Ivanti; `13.1-49.15` → Citrix; `10.2.9-h1` →
/// PAN-OS; `2024-01-15`/`20240115` → Date; four numbers with a first of 5, 6
/// or 10 and a third of four or more digits (`10.0.19045.3803`) → Windows;
/// `7.2.4,build1396` → FortiOS; strict SemVer with a pre-release
/// (`1.2.3-rc.1`) → Semver; anything else that parses as dotted → Dotted;
/// otherwise `None`. The guess always parses under the scheme it names.
/// Plain FortiOS and PAN-OS versions (`7.2.4`, `10.2.9`) look dotted, and
/// are: the caller who knows the product should say so.
pub fn detect(text: &str) -> Option<Scheme> {
    let t = text.trim();
    let core = strip_v(t);
    let parses = |s: Scheme| parse_key(s, t).is_ok();
    if parses(Scheme::Ivanti) {
        return Some(Scheme::Ivanti);
    }
    if is_citrix_shape(core) && parses(Scheme::Citrix) {
        return Some(Scheme::Citrix);
    }
    if matches!(parse_key(Scheme::PanOs, t), Ok(Key::PanOs(PanOs { hotfix: Some(_), .. }))) {
        return Some(Scheme::PanOs);
    }
    let date_shape = t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit())
        || t.len() == 10 && t.bytes().filter(|&b| b == b'-').count() == 2;
    if date_shape && parses(Scheme::Date) {
        return Some(Scheme::Date);
    }
    if is_windows_shape(core) && parses(Scheme::Windows) {
        return Some(Scheme::Windows);
    }
    if core.to_ascii_lowercase().contains(",build") && parses(Scheme::FortiOs) {
        return Some(Scheme::FortiOs);
    }
    if matches!(parse_key(Scheme::Semver, t), Ok(Key::Semver(v)) if !v.pre.is_empty()) {
        return Some(Scheme::Semver);
    }
    if parses(Scheme::Dotted) {
        return Some(Scheme::Dotted);
    }
    None
}

/// Whether `a` and `b` are on the same release line (same first two
/// numbers: `9.1R18` and `9.1R3`; `7.0.12` and `7.0.1`; `13.1-49.15` and
/// `13.1-37.1`; for dates, same year and month).
///
/// For [`Scheme::Windows`] the line also includes the build
/// (`10.0.19045.3803` and `10.0.19045.4046`, not `10.0.22631.x`): every
/// current Windows is 10.0, and the build is its feature release.
/// `false` when either does not parse.
pub fn same_line(scheme: Scheme, a: &str, b: &str) -> bool {
    match (Version::parse(scheme, a), Version::parse(scheme, b)) {
        (Ok(a), Ok(b)) => a.line() == b.line(),
        _ => false,
    }
}

/// The structured key of each scheme. Variant order is [`Scheme`] order, so
/// the derived `Ord` compares within a scheme by the inner key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Semver(Semver),
    Dotted(Dotted),
    Ivanti(Ivanti),
    FortiOs(FortiOs),
    PanOs(PanOs),
    Citrix(Citrix),
    Windows([u64; 4]),
    Date(Date),
}

/// Why text did not parse; wrapped into [`Incomparable`] with the text.
type Why = String;

fn parse_key(scheme: Scheme, text: &str) -> Result<Key, Why> {
    if text.len() > MAX_LEN {
        return Err(format!("longer than {MAX_LEN} bytes"));
    }
    let t = text.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    if scheme == Scheme::Date {
        return parse_date(t).map(Key::Date);
    }
    let t = strip_v(t);
    match scheme {
        Scheme::Semver => parse_semver(t).map(Key::Semver),
        Scheme::Dotted => parse_dotted(t).map(Key::Dotted),
        Scheme::Ivanti => parse_ivanti(t).map(Key::Ivanti),
        Scheme::FortiOs => parse_fortios(t).map(Key::FortiOs),
        Scheme::PanOs => parse_panos(t).map(Key::PanOs),
        Scheme::Citrix => parse_citrix(t).map(Key::Citrix),
        Scheme::Windows => parse_windows(t).map(Key::Windows),
        Scheme::Date => parse_date(t).map(Key::Date),
    }
}

/// `text` without one leading `v`/`V` when a digit follows it.
fn strip_v(text: &str) -> &str {
    match text.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => text,
    }
}

/// `text` in quotes for an error message, cut to 64 characters.
fn quote(text: &str) -> String {
    const KEEP: usize = 64;
    if text.chars().count() > KEEP {
        let cut: String = text.chars().take(KEEP).collect();
        format!("{cut:?}…")
    } else {
        format!("{text:?}")
    }
}

/// A cursor over version text. Digits and letters are ASCII, so every byte
/// index it splits at is a character boundary.
#[derive(Debug, Clone, Copy)]
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { rest: text }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The leading run of bytes satisfying `pred`, consumed.
    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let end = self.rest.bytes().position(|b| !pred(b)).unwrap_or(self.rest.len());
        let (head, tail) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
        self.rest = tail;
        head
    }

    /// A number, or an error naming what was there instead.
    fn number(&mut self) -> Result<u64, Why> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(match self.rest.chars().next() {
                Some(c) => format!("expected a number, found {c:?}"),
                None => "expected a number, found the end".into(),
            });
        }
        digits.parse().map_err(|_| format!("number {digits} is too large"))
    }

    /// Consume `c` if it is next.
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Consume `word` (ASCII, any case) if it is next.
    fn eat_word(&mut self, word: &str) -> bool {
        match self.rest.get(..word.len()) {
            Some(head) if head.eq_ignore_ascii_case(word) => {
                self.rest = self.rest.get(word.len()..).unwrap_or("");
                true
            }
            _ => false,
        }
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    /// Numbers separated by `.`: at least one, at most `max`.
    fn dotted_numbers(&mut self, max: usize) -> Result<Vec<u64>, Why> {
        let mut out = vec![self.number()?];
        while self.rest.starts_with('.')
            && self.rest.get(1..).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        {
            if out.len() == max {
                return Err(format!("more than {max} numbers"));
            }
            self.eat('.');
            out.push(self.number()?);
        }
        Ok(out)
    }

    /// Nothing left, or an error naming what was left.
    fn end(&self) -> Result<(), Why> {
        if self.rest.is_empty() { Ok(()) } else { Err(format!("unexpected {}", quote(self.rest))) }
    }
}

/// An optional trailing build: `build1396`, `build 1396`, `(build 1396)`,
/// after an optional `,`, `-` or spaces. `None` when nothing is left.
fn trailing_build(cur: &mut Cursor<'_>) -> Result<Option<u64>, Why> {
    if cur.is_empty() {
        return Ok(None);
    }
    let _ = cur.eat(',') || cur.eat('-');
    cur.skip_spaces();
    let paren = cur.eat('(');
    if !cur.eat_word("build") {
        return Err(format!("unexpected {}, expected a build", quote(cur.rest)));
    }
    cur.skip_spaces();
    let build = cur.number()?;
    if paren && !cur.eat(')') {
        return Err("unclosed '('".into());
    }
    cur.end()?;
    Ok(Some(build))
}

/// Trailing zeros removed, so that derived equality and order treat
/// `4.3` and `4.3.0` alike.
fn trim_zeros(mut v: Vec<u64>) -> Vec<u64> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

// ---- SemVer ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Semver {
    major: u64,
    minor: u64,
    patch: u64,
    /// Empty for a release.
    pre: Vec<PreId>,
}

/// A pre-release identifier; numeric sorts below alphanumeric (SemVer 11.4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum PreId {
    Numeric(u64),
    Alpha(String),
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn semver_number(s: &str, what: &str) -> Result<u64, Why> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {} is not a number", quote(s)));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!("{what} {s} has a leading zero"));
    }
    s.parse().map_err(|_| format!("{what} {s} is too large"))
}

fn semver_ids<'a>(s: &'a str, what: &str) -> Result<Vec<&'a str>, Why> {
    s.split('.')
        .map(|id| {
            if id.is_empty() {
                Err(format!("empty {what} identifier"))
            } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                Err(format!("{what} identifier {} has characters outside [0-9A-Za-z-]", quote(id)))
            } else {
                Ok(id)
            }
        })
        .collect()
}

fn parse_semver(t: &str) -> Result<Semver, Why> {
    let (t, build) = match t.split_once('+') {
        Some((t, build)) => (t, Some(build)),
        None => (t, None),
    };
    if let Some(build) = build {
        semver_ids(build, "build")?;
    }
    let (core, pre) = match t.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (t, None),
    };
    let mut nums = core.split('.');
    let major = semver_number(nums.next().unwrap_or(""), "major")?;
    let minor = semver_number(nums.next().ok_or("missing minor")?, "minor")?;
    let patch = semver_number(nums.next().ok_or("missing patch")?, "patch")?;
    if nums.next().is_some() {
        return Err("more than three numbers".into());
    }
    let pre = match pre {
        None => Vec::new(),
        Some(pre) => semver_ids(pre, "pre-release")?
            .into_iter()
            .map(|id| {
                if id.bytes().all(|b| b.is_ascii_digit()) {
                    semver_number(id, "pre-release identifier").map(PreId::Numeric)
                } else {
                    Ok(PreId::Alpha(id.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Semver { major, minor, patch, pre })
}

// ---- Dotted ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Dotted {
    /// Leading numbers, trailing zeros trimmed.
    release: Vec<u64>,
    /// What follows, never holding [`Tok::End`].
    rest: Vec<Tok>,
}

/// One token after the release numbers. Variant order is the order:
/// pre-release words, then the end of the text, then numbers, then other
/// words. Comparing token lists padded with `End` makes `2.0rc1` < `2.0` <
/// `2.0-1` < `2.0a`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Tok {
    Pre(u8, String),
    End,
    Num(u64),
    Post(String),
}

impl Ord for Dotted {
    fn cmp(&self, other: &Self) -> Ordering {
        self.release.cmp(&other.release).then_with(|| {
            let len = self.rest.len().max(other.rest.len());
            (0..len)
                .map(|i| {
                    let a = self.rest.get(i).unwrap_or(&Tok::End);
                    let b = other.rest.get(i).unwrap_or(&Tok::End);
                    a.cmp(b)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }
}

impl PartialOrd for Dotted {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The rank of a pre-release word, or `None` for any other word.
fn pre_rank(word: &str) -> Option<u8> {
    match word {
        "dev" => Some(0),
        "alpha" => Some(1),
        "beta" => Some(2),
        "pre" | "preview" => Some(3),
        "rc" => Some(4),
        _ => None,
    }
}

fn is_separator(b: u8) -> bool {
    matches!(b, b'.' | b'-' | b'_' | b'+' | b'~' | b',' | b' ' | b'\t')
}

fn parse_dotted(t: &str) -> Result<Dotted, Why> {
    let mut cur = Cursor::new(t);
    let release = trim_zeros(cur.dotted_numbers(usize::MAX)?);
    let mut rest = Vec::new();
    while !cur.is_empty() {
        if !cur.take_while(is_separator).is_empty() {
            continue;
        }
        let word = cur.take_while(|b| b.is_ascii_alphabetic());
        if !word.is_empty() {
            let word = word.to_ascii_lowercase();
            rest.push(match pre_rank(&word) {
                Some(rank) => Tok::Pre(rank, word),
                None => Tok::Post(word),
            });
            continue;
        }
        if cur.rest.starts_with(|c: char| c.is_ascii_digit()) {
            rest.push(Tok::Num(cur.number()?));
            continue;
        }
        let c = cur.rest.chars().next().unwrap_or(' ');
        return Err(format!("unexpected character {c:?}"));
    }
    Ok(Dotted { release, rest })
}

// ---- Ivanti ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ivanti {
    major: u64,
    minor: u64,
    /// The numbers after `R`, trailing zeros trimmed.
    release: Vec<u64>,
    /// A letter respin (`b` of `22.7R1.1b`); absent sorts first.
    respin: Option<String>,
    build: Option<u64>,
}

fn parse_ivanti(t: &str) -> Result<Ivanti, Why> {
    let mut cur = Cursor::new(t);
    let major = cur.number()?;
    if !cur.eat('.') {
        return Err("expected '.' after the major number".into());
    }
    let minor = cur.number()?;
    if !cur.eat_word("r") {
        return Err("expected 'R' after MAJOR.MINOR (as in 22.7R2.3)".into());
    }
    let release = trim_zeros(cur.dotted_numbers(4)?);
    let after_release = cur;
    let mut letters = cur.take_while(|b| b.is_ascii_alphabetic()).to_ascii_lowercase();
    // In `22.7R2build1485` and `22.7R1.1bbuild7`, "build" starts the build.
    if letters.ends_with("build") {
        letters.truncate(letters.len() - "build".len());
        cur = Cursor::new(after_release.rest.get(letters.len()..).unwrap_or(""));
    }
    let respin = Some(letters).filter(|l| !l.is_empty());
    let build = trailing_build(&mut cur)?;
    Ok(Ivanti { major, minor, release, respin, build })
}

// ---- FortiOS ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FortiOs {
    major: u64,
    minor: u64,
    patch: u64,
    build: Option<u64>,
}

fn three_numbers(cur: &mut Cursor<'_>) -> Result<(u64, u64, u64), Why> {
    match cur.dotted_numbers(3)?.as_slice() {
        &[major, minor, patch] => Ok((major, minor, patch)),
        nums => Err(format!("expected three numbers, found {}", nums.len())),
    }
}

fn parse_fortios(t: &str) -> Result<FortiOs, Why> {
    let mut cur = Cursor::new(t);
    let (major, minor, patch) = three_numbers(&mut cur)?;
    let build = trailing_build(&mut cur)?;
    Ok(FortiOs { major, minor, patch, build })
}

// ---- PAN-OS ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PanOs {
    major: u64,
    minor: u64,
    maintenance: u64,
    /// `-hN`; absent sorts first (below `-h0`, which PAN-OS does not ship).
    hotfix: Option<u64>,
}

fn parse_panos(t: &str) -> Result<PanOs, Why> {
    let mut cur = Cursor::new(t);
    let (major, minor, maintenance) = three_numbers(&mut cur)?;
    let hotfix = if cur.is_empty() {
        None
    } else if cur.eat('-') && cur.eat_word("h") {
        Some(cur.number()?)
    } else {
        return Err(format!("unexpected {}, expected -hN", quote(cur.rest)));
    };
    cur.end()?;
    Ok(PanOs { major, minor, maintenance, hotfix })
}

// ---- Citrix ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Citrix {
    major: u64,
    minor: u64,
    build: u64,
    build_minor: u64,
}

/// `MAJOR.MINOR-BUILD.N`, exactly (the shape [`detect`] accepts).
fn is_citrix_shape(t: &str) -> bool {
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let pair = |s: &str| s.split_once('.').is_some_and(|(a, b)| num(a) && num(b));
    t.split_once('-').is_some_and(|(release, build)| pair(release) && pair(build))
}

fn parse_citrix(t: &str) -> Result<Citrix, Why> {
    let mut cur = Cursor::new(t);
    let major = cur.number()?;
    if !cur.eat('.') {
        return Err("expected '.' after the major number".into());
    }
    let minor = cur.number()?;
    if !cur.eat('-') {
        cur.skip_spaces();
        if !cur.eat_word("build") {
            return Err("expected '-' or 'build' after MAJOR.MINOR (as in 13.1-49.15)".into());
        }
        cur.skip_spaces();
    }
    let build = cur.dotted_numbers(2)?;
    cur.end()?;
    let mut build = build.into_iter();
    Ok(Citrix {
        major,
        minor,
        build: build.next().unwrap_or(0),
        build_minor: build.next().unwrap_or(0),
    })
}

// ---- Windows ---------------------------------------------------------------

/// First Windows 10 build; every build from here on is NT 10.0.
const FIRST_NT10_BUILD: u64 = 10240;

/// Four numbers, a first of 5, 6 or 10, a third of four or more digits.
fn is_windows_shape(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && matches!(parts.first(), Some(&("5" | "6" | "10")))
        && parts.get(2).is_some_and(|p| p.len() >= 4)
}

fn parse_windows(t: &str) -> Result<[u64; 4], Why> {
    let mut cur = Cursor::new(t);
    let nums = cur.dotted_numbers(4)?;
    cur.end()?;
    // `dotted_numbers(4)` gave one to four numbers.
    match *nums.as_slice() {
        [build] if build >= FIRST_NT10_BUILD => Ok([10, 0, build, 0]),
        [build, revision] if build >= FIRST_NT10_BUILD => Ok([10, 0, build, revision]),
        _ => {
            let mut key = [0; 4];
            for (slot, n) in key.iter_mut().zip(nums) {
                *slot = n;
            }
            Ok(key)
        }
    }
}

// ---- Date ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn parse_date(t: &str) -> Result<Date, Why> {
    let (y, m, d) = if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        (t.get(..4), t.get(4..6), t.get(6..))
    } else {
        let sep = t.chars().find(|c| !c.is_ascii_digit()).ok_or("expected a date")?;
        if !matches!(sep, '-' | '.' | '/') {
            return Err(format!("unexpected separator {sep:?}"));
        }
        let mut parts = t.split(sep);
        let (a, b, c) = (parts.next(), parts.next(), parts.next());
        if parts.next().is_some() {
            return Err("more than three parts".into());
        }
        // US order with slashes (`8/30/2024`, as CNAs write fix dates) when the
        // year comes last; only when the day shows it (> 12): `8/3/2024`
        // could be either order, so it is not a date we can compare.
        if sep == '/' && c.is_some_and(|y| y.len() == 4) && a.is_some_and(|f| f.len() <= 2) {
            let day: u16 = b.and_then(|d| d.parse().ok()).unwrap_or(0);
            if day <= 12 && a != b {
                return Err(format!("{} could be month/day or day/month", quote(t)));
            }
            (c, a, b)
        } else {
            (a, b, c)
        }
    };
    let field = |s: Option<&str>, what: &str, digits: std::ops::RangeInclusive<usize>| {
        let s = s.ok_or_else(|| format!("missing {what}"))?;
        if !digits.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} {} is not a number of {digits:?} digits", quote(s)));
        }
        s.parse::<u16>().map_err(|_| format!("{what} {s} is not a number"))
    };
    let year = field(y, "year", 4..=4)?;
    let month = u8::try_from(field(m, "month", 1..=2)?).map_err(|_| "month too large")?;
    let day = u8::try_from(field(d, "day", 1..=2)?).map_err(|_| "day too large")?;
    let valid_month = time::Month::try_from(month).map_err(|_| format!("no month {month}"))?;
    time::Date::from_calendar_date(i32::from(year), valid_month, day)
        .map_err(|_| format!("{year:04}-{month:02}-{day:02} is not a calendar date"))?;
    Ok(Date { year, month, day })
}
