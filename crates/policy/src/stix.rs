//! The subset of STIX 2.1 patterning that names addresses and domains:
//!
//! ```text
//! pattern     = observation *( "OR" observation )
//! observation = "[" comparison *( "OR" comparison ) "]"
//! comparison  = object ":value" ( "=" / "ISSUBSET" ) string
//! object      = "ipv4-addr" / "ipv6-addr" / "domain-name"
//! string      = "'" *( char / "\'" / "\\" ) "'"
//! ```
//!
//! Values may be addresses or CIDR ranges (`'203.0.113.0/24'`). Anything
//! else — `AND`, other object types or properties, qualifiers (`WITHIN`,
//! `REPEATS`, `START … STOP`), other operators, parentheses — is
//! [`PatternError::Unsupported`]: the caller skips that indicator and
//! counts it. Never panics; at most [`MAX_PATTERN`] bytes and
//! [`MAX_VALUES`] values.

use std::fmt;

use crate::net::Cidr;

/// Longest pattern read.
pub const MAX_PATTERN: usize = 64 * 1024;
/// Most values in one pattern.
pub const MAX_VALUES: usize = 10_000;

/// One value a pattern names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternValue {
    /// An address (as a /32 or /128) or a range.
    Ip(Cidr),
    /// A domain name, lowercase, no trailing dot.
    Domain(String),
}

/// Why a pattern was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// Valid STIX, perhaps, but outside the subset (skip and count).
    Unsupported(&'static str),
    /// Not even a pattern of the subset's shape: the byte offset and why.
    Syntax {
        offset: usize,
        reason: &'static str,
    },
    /// An address or domain value that is not one.
    BadValue(String),
    TooLong,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Unsupported(what) => write!(f, "unsupported pattern ({what})"),
            PatternError::Syntax { offset, reason } => {
                write!(f, "pattern syntax at byte {offset}: {reason}")
            }
            PatternError::BadValue(v) => write!(f, "bad value {v:?}"),
            PatternError::TooLong => write!(f, "pattern too long"),
        }
    }
}

/// Parses a pattern of the subset into the values it names.
pub fn parse_pattern(pattern: &str) -> Result<Vec<PatternValue>, PatternError> {
    if pattern.len() > MAX_PATTERN {
        return Err(PatternError::TooLong);
    }
    let mut p = Parser { s: pattern.as_bytes(), i: 0 };
    let mut out = Vec::new();
    loop {
        p.ws();
        match p.peek() {
            Some(b'[') => p.i += 1,
            Some(b'(') => return Err(PatternError::Unsupported("parentheses")),
            _ => return Err(p.syntax("expected '['")),
        }
        loop {
            p.ws();
            let object = p.word();
            let ty = match object {
                "ipv4-addr" => Ty::V4,
                "ipv6-addr" => Ty::V6,
                "domain-name" => Ty::Domain,
                "" => return Err(p.syntax("expected an object type")),
                _ => return Err(PatternError::Unsupported("object type")),
            };
            if p.peek() != Some(b':') {
                return Err(p.syntax("expected ':'"));
            }
            p.i += 1;
            let prop = p.word();
            if prop != "value" {
                return Err(PatternError::Unsupported("property other than value"));
            }
            p.ws();
            let subset = if p.peek() == Some(b'=') {
                p.i += 1;
                false
            } else {
                match p.word() {
                    "ISSUBSET" => true,
                    "" => return Err(p.syntax("expected an operator")),
                    _ => return Err(PatternError::Unsupported("operator")),
                }
            };
            if subset && ty == Ty::Domain {
                return Err(PatternError::Unsupported("ISSUBSET on a domain"));
            }
            p.ws();
            let value = p.string()?;
            out.push(value_of(ty, &value)?);
            if out.len() > MAX_VALUES {
                return Err(PatternError::TooLong);
            }
            p.ws();
            match p.peek() {
                Some(b']') => {
                    p.i += 1;
                    break;
                }
                _ => match p.word() {
                    "OR" => continue,
                    "AND" => return Err(PatternError::Unsupported("AND")),
                    _ => return Err(p.syntax("expected ']' or OR")),
                },
            }
        }
        p.ws();
        if p.peek().is_none() {
            return Ok(out);
        }
        match p.word() {
            "OR" => continue,
            "AND" | "FOLLOWEDBY" => return Err(PatternError::Unsupported("AND")),
            "WITHIN" | "REPEATS" | "START" => return Err(PatternError::Unsupported("qualifier")),
            _ => return Err(p.syntax("expected OR or the end")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    V4,
    V6,
    Domain,
}

fn value_of(ty: Ty, v: &str) -> Result<PatternValue, PatternError> {
    match ty {
        Ty::V4 | Ty::V6 => {
            let c = Cidr::parse(v, false).map_err(|_| PatternError::BadValue(v.to_owned()))?;
            if c.addr().is_ipv4() != (ty == Ty::V4) {
                return Err(PatternError::BadValue(v.to_owned()));
            }
            Ok(PatternValue::Ip(c))
        }
        Ty::Domain => {
            domain(v).map(PatternValue::Domain).ok_or_else(|| PatternError::BadValue(v.to_owned()))
        }
    }
}

/// A domain name as indicators hold it: lowercase, no trailing dot, at
/// least two labels of letters, digits, `-` and `_`, each 1–63 characters,
/// at most 253 in all. A leading `*.` is dropped (subdomains match anyway).
pub fn domain(v: &str) -> Option<String> {
    let v = v.trim();
    let v = v.strip_prefix("*.").unwrap_or(v);
    let v = v.strip_suffix('.').unwrap_or(v);
    if v.is_empty() || v.len() > 253 || !v.contains('.') {
        return None;
    }
    for label in v.split('.') {
        if label.is_empty()
            || label.len() > 63
            || !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
    }
    // Not an address written as a name: the last label has a letter.
    if !v.rsplit('.').next().is_some_and(|l| l.bytes().any(|b| b.is_ascii_alphabetic())) {
        return None;
    }
    Some(v.to_ascii_lowercase())
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    /// Letters, digits, `-`, `_` (an object type, a property, a keyword).
    fn word(&mut self) -> &str {
        self.ws();
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            self.i += 1;
        }
        self.s.get(start..self.i).and_then(|w| std::str::from_utf8(w).ok()).unwrap_or("")
    }
    fn string(&mut self) -> Result<String, PatternError> {
        if self.peek() != Some(b'\'') {
            return Err(match self.peek() {
                Some(b'h' | b'b' | b't') => PatternError::Unsupported("non-string constant"),
                _ => self.syntax("expected a quoted string"),
            });
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.syntax("unterminated string")),
                Some(b'\'') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'\'' | b'\\')) => out.push(c),
                        _ => return Err(self.syntax("bad escape")),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.syntax("not UTF-8"))
    }
    fn syntax(&self, reason: &'static str) -> PatternError {
        PatternError::Syntax { offset: self.i, reason }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> PatternValue {
        PatternValue::Ip(Cidr::parse(s, true).unwrap())
    }

    #[test]
    fn forms_of_the_subset() {
        assert_eq!(
            parse_pattern("[ipv4-addr:value = '198.51.100.7']").unwrap(),
            vec![ip("198.51.100.7")]
        );
        assert_eq!(
            parse_pattern("[ipv6-addr:value = '2001:db8::1']").unwrap(),
            vec![ip("2001:db8::1")]
        );
        assert_eq!(
            parse_pattern("[domain-name:value = 'Evil.Example.']").unwrap(),
            vec![PatternValue::Domain("evil.example".into())]
        );
        assert_eq!(
            parse_pattern("[ipv4-addr:value = '203.0.113.0/24' OR domain-name:value='a.example']")
                .unwrap(),
            vec![ip("203.0.113.0/24"), PatternValue::Domain("a.example".into())]
        );
        assert_eq!(
            parse_pattern(
                "  [ipv4-addr:value = '192.0.2.1'] OR [ipv4-addr:value ISSUBSET '192.0.2.0/25']  "
            )
            .unwrap(),
            vec![ip("192.0.2.1"), ip("192.0.2.0/25")]
        );
        assert_eq!(
            parse_pattern(r"[domain-name:value = 'it\'s.example']"),
            Err(PatternError::BadValue("it's.example".into()))
        );
    }

    #[test]
    fn outside_the_subset_is_unsupported() {
        let u = |p: &str| matches!(parse_pattern(p), Err(PatternError::Unsupported(_)));
        assert!(u("[file:hashes.'SHA-256' = 'abc']"));
        assert!(u("[ipv4-addr:value = '192.0.2.1' AND ipv4-addr:value = '192.0.2.2']"));
        assert!(u("[ipv4-addr:value = '192.0.2.1'] AND [ipv4-addr:value = '192.0.2.2']"));
        assert!(u("[ipv4-addr:value = '192.0.2.1'] WITHIN 5 SECONDS"));
        assert!(u("[url:value = 'http://x']"));
        assert!(
            u("[ipv4-addr:value != '192.0.2.1']")
                || matches!(
                    parse_pattern("[ipv4-addr:value != '192.0.2.1']"),
                    Err(PatternError::Syntax { .. })
                )
        );
        assert!(u("([ipv4-addr:value = '192.0.2.1'])"));
        assert!(u("[ipv4-addr:value LIKE '192.0.2.%']"));
        assert!(u("[domain-name:resolves_to_refs[*].value = '192.0.2.1']"));
    }

    #[test]
    fn malformed_is_an_error() {
        for p in [
            "",
            "[",
            "[ipv4-addr",
            "[ipv4-addr:value = '1.2.3.4'",
            "[ipv4-addr:value = 1]",
            "[ipv4-addr:value = '1.2.3.4'] junk",
            "[ipv4-addr:value = '2001:db8::1']",
            "[ipv4-addr:value = 'x\\q']",
        ] {
            assert!(parse_pattern(p).is_err(), "{p}");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(domain("*.Evil.example."), Some("evil.example".into()));
        assert_eq!(domain("localhost"), None);
        assert_eq!(domain("1.2.3.4"), None);
        assert_eq!(domain("a..b"), None);
        assert_eq!(domain("ex ample.com"), None);
        assert_eq!(domain("xn--bcher-kva.example"), Some("xn--bcher-kva.example".into()));
    }

    fn value_strategy() -> impl Strategy<Value = (String, PatternValue)> {
        prop_oneof![
            (any::<u32>(), 0u8..=32).prop_map(|(a, l)| {
                let c = Cidr::containing(std::net::IpAddr::V4(a.into()), l).unwrap();
                (format!("ipv4-addr:value = '{c}'"), PatternValue::Ip(c))
            }),
            (any::<u128>(), 0u8..=128).prop_map(|(a, l)| {
                let c = Cidr::containing(std::net::IpAddr::V6(a.into()), l).unwrap();
                (format!("ipv6-addr:value = '{c}'"), PatternValue::Ip(c))
            }),
            "[a-z][a-z0-9-]{0,10}\\.[a-z]{2,6}"
                .prop_map(|d| (format!("domain-name:value = '{d}'"), PatternValue::Domain(d))),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = parse_pattern(&s);
        }

        #[test]
        fn never_panics_near_the_grammar(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("["), Just("]"), Just(" OR "), Just(" AND "), Just("ipv4-addr"), Just("domain-name"),
                    Just(":value"), Just(" = "), Just("'"), Just("\\"), Just("1.2.3.4"), Just("/"), Just("x.example"),
                ],
                0..16,
            )
        ) {
            let _ = parse_pattern(&parts.concat());
        }

        /// Generated patterns (OR inside and between observations) give
        /// back exactly their values, in order.
        #[test]
        fn generated_patterns_round_trip(
            obs in proptest::collection::vec(proptest::collection::vec(value_strategy(), 1..4), 1..4)
        ) {
            let mut want = Vec::new();
            let text = obs
                .iter()
                .map(|o| {
                    let inner: Vec<String> = o.iter().map(|(t, v)| { want.push(v.clone()); t.clone() }).collect();
                    format!("[{}]", inner.join(" OR "))
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            prop_assert_eq!(parse_pattern(&text).unwrap(), want);
        }
    }
}
