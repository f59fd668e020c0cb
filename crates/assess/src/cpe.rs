//! CPE 2.3 names: parsing (formatted string and 2.2 URI bindings) and name
//! matching, after NISTIR 7695 (naming) and NISTIR 7696 (matching).
//!
//! ```
//! use sekimori_assess::cpe::Cpe;
//!
//! let criterion = Cpe::parse("cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*")?;
//! let device = Cpe::parse("cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*")?;
//! assert!(criterion.matches(&device));
//! assert_eq!(device.version.as_value(), Some("7.2.4"));
//! # Ok::<(), sekimori_assess::cpe::CpeError>(())
//! ```
//!
//! Values are kept lower-cased (CPE comparison ignores case), with the
//! binding's escapes undone except for the three characters that would
//! otherwise read as wildcards: see [`Component::Value`]. Parsing takes
//! hostile input: it never panics and refuses names longer than
//! [`MAX_LEN`] bytes.

use std::fmt;
use std::str::FromStr;

/// Longest CPE name [`Cpe::parse`] accepts, in bytes.
pub const MAX_LEN: usize = 2048;

/// A parsed CPE 2.3 name: the eleven attributes of a well-formed name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpe {
    /// `a` (application), `o` (operating system) or `h` (hardware), or ANY.
    pub part: Component,
    /// Vendor.
    pub vendor: Component,
    /// Product.
    pub product: Component,
    /// Version. NVD splits some versions over this and
    /// [`update`](Cpe::update); see [`Cpe::version_text`].
    pub version: Component,
    /// Update.
    pub update: Component,
    /// Edition (legacy; CPE 2.3 names use the four extended attributes).
    pub edition: Component,
    /// Language (an RFC 5646 tag).
    pub language: Component,
    /// Software edition.
    pub sw_edition: Component,
    /// Target software.
    pub target_sw: Component,
    /// Target hardware.
    pub target_hw: Component,
    /// Other.
    pub other: Component,
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Component {
    /// ANY (`*` in a formatted string, empty in a URI): every value.
    Any,
    /// NA (`-`): the attribute does not apply.
    Na,
    /// A value, lower-cased and unescaped (`foo:bar`, `1.0`), which may hold
    /// the wildcards `*` (any sequence) or `?` (one character) at its ends.
    /// A literal `*`, `?` or `\` is kept escaped with a backslash (`\*`,
    /// `\?`, `\\`) so it cannot be mistaken for a wildcard; use
    /// [`Component::literal`] for the plain text.
    Value(String),
}

/// Why a CPE string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPE at byte {offset}: {message}")]
pub struct CpeError {
    /// Byte offset in the input.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

impl CpeError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        CpeError { offset, message: message.into() }
    }
}

impl Cpe {
    /// Attribute names, in binding order.
    pub const ATTRIBUTES: [&'static str; 11] = [
        "part",
        "vendor",
        "product",
        "version",
        "update",
        "edition",
        "language",
        "sw_edition",
        "target_sw",
        "target_hw",
        "other",
    ];

    /// Parse `cpe:2.3:…` (formatted string) or `cpe:/…` (2.2 URI).
    ///
    /// Formatted string: exactly 13 components split on unescaped `:`; `\`
    /// escapes the next character; `*` is ANY, `-` is NA; unescaped `*` (one)
    /// or `?` (one or more) may open or close a value. URI: up to seven
    /// components (missing ones are ANY), percent-encoding decoded (`%01` and
    /// `%02` are the `?` and `*` wildcards), a packed edition
    /// (`~edition~sw_edition~target_sw~target_hw~other`) unpacked.
    /// Surrounding whitespace is ignored; the prefix is read in any case.
    pub fn parse(text: &str) -> Result<Cpe, CpeError> {
        if text.len() > MAX_LEN {
            return Err(CpeError::new(MAX_LEN, format!("longer than {MAX_LEN} bytes")));
        }
        let start = text.len() - text.trim_start().len();
        let body = text.trim();
        let has_prefix = |p: &str| body.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        if has_prefix("cpe:2.3:") {
            parse_formatted(body, start)
        } else if has_prefix("cpe:/") {
            parse_uri(body, start)
        } else {
            Err(CpeError::new(start, "expected \"cpe:2.3:\" or \"cpe:/\""))
        }
    }

    /// Whether `self` (a pattern, e.g. an NVD criterion) matches `target`:
    /// every attribute of `self` [matches](Component::matches) the same
    /// attribute of `target`.
    pub fn matches(&self, target: &Cpe) -> bool {
        self.attributes().iter().zip(target.attributes()).all(|((_, p), (_, t))| p.matches(t))
    }

    /// The eleven attributes with their names, in binding order.
    pub fn attributes(&self) -> [(&'static str, &Component); 11] {
        let [a, b, c, d, e, f, g, h, i, j, k] = Cpe::ATTRIBUTES;
        [
            (a, &self.part),
            (b, &self.vendor),
            (c, &self.product),
            (d, &self.version),
            (e, &self.update),
            (f, &self.edition),
            (g, &self.language),
            (h, &self.sw_edition),
            (i, &self.target_sw),
            (j, &self.target_hw),
            (k, &self.other),
        ]
    }

    /// The formatted-string binding (`cpe:2.3:a:foo\:bar:…`), which
    /// [`Cpe::parse`] reads back to an equal name. `.`, `-` and `_` stay
    /// unescaped, as NVD writes them.
    pub fn to_formatted_string(&self) -> String {
        let mut out = String::from("cpe:2.3");
        for (_, c) in self.attributes() {
            out.push(':');
            match c {
                Component::Any => out.push('*'),
                Component::Na => out.push('-'),
                Component::Value(v) => bind_value(v, &mut out),
            }
        }
        out
    }

    /// The version as a product writes it, joining what NVD splits over
    /// version and update: `22.7` + `r2.3` → `22.7R2.3` (Ivanti trains, the
    /// `R` upper-cased) and `9.8` + `p1` → `9.8p1` (OpenSSH portable). Any
    /// other update is left out (`1.0` + `sp1` → `1.0`). `None` when the
    /// version is ANY, NA or holds a wildcard.
    pub fn version_text(&self) -> Option<String> {
        let version = self.version.literal()?;
        let update = self.update.literal();
        let update = update.as_deref().unwrap_or("");
        let digits_from = |s: &str, at: usize| {
            s.get(at..).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        };
        if let Some(train) = update.strip_prefix('r').filter(|_| digits_from(update, 1)) {
            Some(format!("{version}R{train}"))
        } else if update.starts_with('p')
            && update.len() > 1
            && update.bytes().skip(1).all(|b| b.is_ascii_digit())
        {
            Some(format!("{version}{update}"))
        } else {
            Some(version)
        }
    }
}

impl fmt::Display for Cpe {
    /// The formatted-string binding, as [`Cpe::to_formatted_string`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_formatted_string())
    }
}

impl FromStr for Cpe {
    type Err = CpeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cpe::parse(s)
    }
}

impl Component {
    /// The value as stored (see [`Component::Value`]), or `None` for ANY and
    /// NA.
    pub fn as_value(&self) -> Option<&str> {
        match self {
            Component::Value(v) => Some(v),
            Component::Any | Component::Na => None,
        }
    }

    /// The plain text of a value without wildcards (escapes undone), or
    /// `None` for ANY, NA and values holding a wildcard.
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for tok in tokens(self.as_value()?) {
            match tok {
                Tok::Lit(c) => out.push(c),
                Tok::Wild(_) => return None,
            }
        }
        Some(out)
    }

    /// Whether this is a value holding a wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.as_value().is_some_and(|v| tokens(v).any(|t| matches!(t, Tok::Wild(_))))
    }

    /// Whether `self` (a pattern attribute) matches `target`: ANY matches
    /// everything; NA matches only NA; a value matches an equal value, or,
    /// with wildcards, any value they fit (`*` any sequence, `?` exactly one
    /// character, each at the ends only); a value never matches ANY or NA.
    /// The target is read as plain text: its own wildcards match only
    /// themselves.
    pub fn matches(&self, target: &Component) -> bool {
        match (self, target) {
            (Component::Any, _) | (Component::Na, Component::Na) => true,
            (Component::Na, _) | (Component::Value(_), Component::Any | Component::Na) => false,
            (Component::Value(p), Component::Value(t)) => value_matches(p, t),
        }
    }
}

// ---- stored values -----------------------------------------------------------

/// A character of a stored value: literal, or an unescaped wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Wild(char),
}

/// The stored form read back: `\` escapes the next character; unescaped `*`
/// and `?` are wildcards.
fn tokens(stored: &str) -> impl Iterator<Item = Tok> + '_ {
    let mut chars = stored.chars();
    std::iter::from_fn(move || {
        let c = chars.next()?;
        Some(match c {
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            '*' | '?' => Tok::Wild(c),
            c => Tok::Lit(c),
        })
    })
}

/// Append the stored form of `tok`.
fn store(tok: Tok, out: &mut String) {
    match tok {
        Tok::Wild(c) => out.push(c),
        Tok::Lit(c @ ('*' | '?' | '\\')) => {
            out.push('\\');
            out.push(c);
        }
        Tok::Lit(c) => out.push(c.to_ascii_lowercase()),
    }
}

/// Append `stored` in the formatted-string binding.
fn bind_value(stored: &str, out: &mut String) {
    if stored == "-" {
        // A literal hyphen alone would read back as NA.
        out.push_str("\\-");
        return;
    }
    for tok in tokens(stored) {
        match tok {
            Tok::Wild(c) => out.push(c),
            Tok::Lit(c) if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => out.push(c),
            Tok::Lit(c) => {
                out.push('\\');
                out.push(c);
            }
        }
    }
}

/// One end of a value pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// No wildcard: the body touches this end.
    Exact,
    /// `*`: any number of characters.
    Any,
    /// `?` repeated: exactly this many characters.
    Chars(usize),
}

/// Split a stored pattern into leading wildcard, literal body, trailing
/// wildcard. Wildcards away from the ends (only possible in a hand-built
/// [`Component::Value`]) count as literal characters.
fn split_pattern(stored: &str) -> (End, String, End) {
    let toks: Vec<Tok> = tokens(stored).collect();
    let end_of = |run: &[Tok]| -> (End, usize) {
        match run.first() {
            Some(Tok::Wild('*')) => (End::Any, 1),
            _ => {
                let n = run.iter().take_while(|t| **t == Tok::Wild('?')).count();
                (if n == 0 { End::Exact } else { End::Chars(n) }, n)
            }
        }
    };
    let (lead, skip) = end_of(&toks);
    let rest = toks.get(skip..).unwrap_or_default();
    let reversed: Vec<Tok> = rest.iter().rev().copied().collect();
    let (trail, cut) = end_of(&reversed);
    let body = rest.get(..rest.len().saturating_sub(cut)).unwrap_or_default();
    let body = body
        .iter()
        .map(|t| match *t {
            Tok::Lit(c) | Tok::Wild(c) => c,
        })
        .collect();
    (lead, body, trail)
}

/// `text` without its first `n` characters, if it has that many.
fn skip_chars(text: &str, n: usize) -> Option<&str> {
    match text.char_indices().nth(n) {
        Some((i, _)) => text.get(i..),
        None => (text.chars().count() == n).then_some(""),
    }
}

/// `text` without its last `n` characters, if it has that many.
fn cut_chars(text: &str, n: usize) -> Option<&str> {
    if n == 0 {
        return Some(text);
    }
    let (i, _) = text.char_indices().rev().nth(n - 1)?;
    text.get(..i)
}

/// Whether the stored pattern `pattern` matches the stored target `target`.
fn value_matches(pattern: &str, target: &str) -> bool {
    let target: String = tokens(target)
        .map(|t| match t {
            Tok::Lit(c) | Tok::Wild(c) => c,
        })
        .collect();
    let (lead, body, trail) = split_pattern(pattern);
    let trail_fits = |after: &str| match trail {
        End::Exact => after.is_empty(),
        End::Any => true,
        End::Chars(n) => after.chars().count() == n,
    };
    match lead {
        End::Exact | End::Chars(_) => {
            let skip = if let End::Chars(n) = lead { n } else { 0 };
            skip_chars(&target, skip)
                .and_then(|rest| rest.strip_prefix(body.as_str()))
                .is_some_and(trail_fits)
        }
        End::Any => match trail {
            End::Any => target.contains(body.as_str()),
            End::Exact => target.ends_with(body.as_str()),
            End::Chars(n) => cut_chars(&target, n).is_some_and(|t| t.ends_with(body.as_str())),
        },
    }
}

/// A value's characters read from a binding, each with its byte offset in
/// the input, into a [`Component`]: wildcards are allowed only at the ends
/// (one `*`, or one or more `?`).
fn assemble(toks: &[(Tok, usize)], at: usize) -> Result<Component, CpeError> {
    let is_wild = |t: &&(Tok, usize)| matches!(t.0, Tok::Wild(_));
    let lead = toks.iter().take_while(is_wild).count();
    let trail = if lead == toks.len() { 0 } else { toks.iter().rev().take_while(is_wild).count() };
    let check_end = |run: &[(Tok, usize)]| -> Result<(), CpeError> {
        let stars = run.iter().filter(|t| t.0 == Tok::Wild('*')).count();
        match run.first() {
            Some(&(_, off)) if stars > 0 && run.len() > 1 => Err(CpeError::new(
                off,
                "a value may start or end with one '*' or with '?'s, not a mix or several '*'",
            )),
            _ => Ok(()),
        }
    };
    check_end(toks.get(..lead).unwrap_or_default())?;
    check_end(toks.get(toks.len().saturating_sub(trail)..).unwrap_or_default())?;
    let middle = toks.get(lead..toks.len().saturating_sub(trail)).unwrap_or_default();
    if let Some(&(_, off)) = middle.iter().find(|t| matches!(t.0, Tok::Wild(_))) {
        return Err(CpeError::new(
            off,
            "unescaped wildcard inside a value (escape it as \\* or \\?)",
        ));
    }
    match toks {
        [] => return Err(CpeError::new(at, "empty value (write * for ANY)")),
        [(Tok::Wild('*'), _)] => return Ok(Component::Any),
        _ => {}
    }
    let mut out = String::new();
    for &(tok, _) in toks {
        store(tok, &mut out);
    }
    Ok(Component::Value(out))
}

/// The part attribute must be `a`, `o`, `h` or ANY.
fn check_part(part: &Component, at: usize) -> Result<(), CpeError> {
    match part {
        Component::Any => Ok(()),
        Component::Value(v) if matches!(v.as_str(), "a" | "o" | "h") => Ok(()),
        _ => Err(CpeError::new(at, "part must be a, o, h or *")),
    }
}

// ---- formatted string ----------------------------------------------------------

/// Parse `cpe:2.3:…`; `body` is trimmed and starts at `base` in the input.
fn parse_formatted(body: &str, base: usize) -> Result<Cpe, CpeError> {
    const PREFIX: usize = "cpe:2.3:".len();
    let mut values: Vec<(Component, usize)> = Vec::with_capacity(11);
    let mut toks: Vec<(Tok, usize)> = Vec::new();
    let mut start = base + PREFIX;
    let mut chars = body.char_indices().skip(PREFIX);
    while let Some((i, c)) = chars.next() {
        let off = base + i;
        match c {
            ':' => {
                values.push((value_of(&toks, start)?, start));
                if values.len() == 11 {
                    return Err(CpeError::new(off, "more than 13 components"));
                }
                toks.clear();
                start = off + 1;
            }
            '\\' => match chars.next() {
                // Offset of the escaped character, so `\-` is not read as NA.
                Some((j, e)) if e.is_ascii_graphic() => toks.push((Tok::Lit(e), base + j)),
                Some(_) => {
                    return Err(CpeError::new(off + 1, "escaped character is not printable ASCII"));
                }
                None => return Err(CpeError::new(off, "backslash at the end")),
            },
            '*' | '?' => toks.push((Tok::Wild(c), off)),
            c if c.is_ascii_graphic() => toks.push((Tok::Lit(c), off)),
            c => return Err(CpeError::new(off, format!("character {c:?} is not printable ASCII"))),
        }
    }
    values.push((value_of(&toks, start)?, start));
    if values.len() < 11 {
        return Err(CpeError::new(
            base + body.len(),
            format!("expected 13 components, found {}", values.len() + 2),
        ));
    }
    let mut it = values.into_iter().map(|(c, _)| c);
    let mut next = || it.next().unwrap_or(Component::Any);
    let cpe = Cpe {
        part: next(),
        vendor: next(),
        product: next(),
        version: next(),
        update: next(),
        edition: next(),
        language: next(),
        sw_edition: next(),
        target_sw: next(),
        target_hw: next(),
        other: next(),
    };
    check_part(&cpe.part, base + PREFIX)?;
    Ok(cpe)
}

/// A formatted-string value: `*` alone is ANY, `-` alone is NA.
fn value_of(toks: &[(Tok, usize)], at: usize) -> Result<Component, CpeError> {
    match toks {
        [(Tok::Wild('*'), _)] => Ok(Component::Any),
        [(Tok::Lit('-'), off)] if *off == at => Ok(Component::Na),
        _ => assemble(toks, at),
    }
}

// ---- 2.2 URI ---------------------------------------------------------------------

/// Parse `cpe:/…`; `body` is trimmed and starts at `base` in the input.
fn parse_uri(body: &str, base: usize) -> Result<Cpe, CpeError> {
    const PREFIX: usize = "cpe:/".len();
    let rest = body.get(PREFIX..).unwrap_or("");
    let mut fields: Vec<(&str, usize)> = Vec::with_capacity(7);
    let mut start = base + PREFIX;
    for piece in rest.split(':') {
        if fields.len() == 7 {
            return Err(CpeError::new(start - 1, "more than 7 components after cpe:/"));
        }
        fields.push((piece, start));
        start += piece.len() + 1;
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or(("", base + body.len()));
    let value = |i: usize| {
        let (text, at) = field(i);
        uri_value(text, at)
    };
    let (edition_text, edition_at) = field(5);
    let (edition, sw_edition, target_sw, target_hw, other) =
        if let Some(packed) = edition_text.strip_prefix('~') {
            let parts: Vec<&str> = packed.split('~').collect();
            let [ed, sw, tsw, thw, oth] = parts.as_slice() else {
                return Err(CpeError::new(
                    edition_at,
                    format!("a packed edition has 5 '~'-separated fields, found {}", parts.len()),
                ));
            };
            let mut at = edition_at + 1;
            let mut unpack = |s: &str| {
                let v = uri_value(s, at);
                at += s.len() + 1;
                v
            };
            (unpack(ed)?, unpack(sw)?, unpack(tsw)?, unpack(thw)?, unpack(oth)?)
        } else {
            (value(5)?, Component::Any, Component::Any, Component::Any, Component::Any)
        };
    let cpe = Cpe {
        part: value(0)?,
        vendor: value(1)?,
        product: value(2)?,
        version: value(3)?,
        update: value(4)?,
        edition,
        language: value(6)?,
        sw_edition,
        target_sw,
        target_hw,
        other,
    };
    check_part(&cpe.part, base + PREFIX)?;
    Ok(cpe)
}

/// A URI value: empty is ANY, `-` is NA; `%xx` decoded, `%01`/`%02` the
/// `?`/`*` wildcards.
fn uri_value(text: &str, at: usize) -> Result<Component, CpeError> {
    match text {
        "" => return Ok(Component::Any),
        "-" => return Ok(Component::Na),
        _ => {}
    }
    let mut toks = Vec::with_capacity(text.len());
    let mut bytes = text.bytes().enumerate();
    while let Some((i, b)) = bytes.next() {
        let off = at + i;
        let tok = match b {
            b'%' => {
                let hex = |x: Option<(usize, u8)>| x.and_then(|(_, h)| char::from(h).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(bytes.next()), hex(bytes.next())) else {
                    return Err(CpeError::new(off, "'%' not followed by two hex digits"));
                };
                match hi * 16 + lo {
                    0x01 => Tok::Wild('?'),
                    0x02 => Tok::Wild('*'),
                    n => match char::from_u32(n).filter(char::is_ascii_graphic) {
                        Some(c) => Tok::Lit(c),
                        None => {
                            return Err(CpeError::new(
                                off,
                                format!("%{n:02x} is not printable ASCII"),
                            ));
                        }
                    },
                }
            }
            b if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') => {
                Tok::Lit(char::from(b))
            }
            _ => {
                let c = text.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(CpeError::new(off, format!("character {c:?} must be percent-encoded")));
            }
        };
        toks.push((tok, off));
    }
    assemble(&toks, at)
}
