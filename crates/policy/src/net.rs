//! Address ranges and the longest-prefix lookup table behind
//! [`Policy::zone_of`](crate::Policy::zone_of) and
//! [`Indicators::match_ip`](crate::Indicators::match_ip).
//!
//! A [`PrefixTable`] flattens a set of nested-or-disjoint prefixes into
//! sorted, non-overlapping intervals, each carrying the value of the most
//! specific prefix that covers it; a lookup is one binary search per address
//! family (about log2 of the number of prefixes comparisons).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::CidrProblem;

/// An IPv4 or IPv6 prefix with no bits set after its length. IPv4 is kept
/// apart from IPv6 (an IPv4-mapped IPv6 address is looked up as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// A prefix; `None` when `len` is too long or bits are set after it.
    pub fn new(addr: IpAddr, len: u8) -> Option<Cidr> {
        let c = Cidr { addr: canonical(addr), len };
        let max = c.max_len();
        if len > max {
            return None;
        }
        let (start, _) = c.bounds();
        (start == bits(c.addr)).then_some(c)
    }

    /// The prefix of `len` bits that contains `addr` (host bits cleared).
    pub fn containing(addr: IpAddr, len: u8) -> Option<Cidr> {
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return None;
        }
        let start = bits(addr) & mask(len, max);
        Some(Cidr { addr: from_bits(start, addr.is_ipv4()), len })
    }

    /// Parses `a.b.c.d`, `a.b.c.d/n`, `x:y::z`, `x:y::/n` (a bare address is
    /// a /32 or /128). Bits set after the prefix are refused when `strict`,
    /// cleared otherwise.
    pub fn parse(s: &str, strict: bool) -> Result<Cidr, CidrProblem> {
        let s = s.trim();
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(a).map_err(|_| CidrProblem::NotAnAddress)?;
        let max = if canonical(addr).is_ipv4() && addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => {
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrProblem::BadPrefixLength);
                }
                l.parse::<u8>().map_err(|_| CidrProblem::BadPrefixLength)?
            }
        };
        if len > max {
            return Err(CidrProblem::BadPrefixLength);
        }
        // An IPv4-mapped IPv6 prefix of at least /96 is the IPv4 prefix.
        let (addr, len) = match addr {
            IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), len - 96),
                None => (addr, len),
            },
            _ => (addr, len),
        };
        if strict {
            Cidr::new(addr, len).ok_or(CidrProblem::HostBitsSet)
        } else {
            Cidr::containing(addr, len).ok_or(CidrProblem::BadPrefixLength)
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    fn max_len(&self) -> u8 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }
    /// A single address (/32 or /128).
    pub fn is_host(&self) -> bool {
        self.len == self.max_len()
    }
    /// First and last address, as integers of the family.
    fn bounds(&self) -> (u128, u128) {
        let max = self.max_len();
        let m = mask(self.len, max);
        let start = bits(self.addr) & m;
        let span = if max == 32 { !m & u128::from(u32::MAX) } else { !m };
        (start, start | span)
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let (s, e) = self.bounds();
        let b = bits(ip);
        s <= b && b <= e
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4; everything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        IpAddr::V4(_) => ip,
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(b: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(b).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(b))
    }
}

/// The network mask of `len` bits in a `max`-bit family, as a u128.
fn mask(len: u8, max: u8) -> u128 {
    let len = u32::from(len.min(max));
    let max = u32::from(max);
    if len == 0 {
        return 0;
    }
    let all: u128 = if max == 32 { u128::from(u32::MAX) } else { u128::MAX };
    let host = max - len;
    if host == 0 { all } else { all & !((1u128 << host) - 1) }
}

/// Longest-prefix match over a fixed set of prefixes.
#[derive(Debug, Clone)]
pub struct PrefixTable<V> {
    v4: Vec<(u128, Option<V>)>,
    v6: Vec<(u128, Option<V>)>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        PrefixTable { v4: Vec::new(), v6: Vec::new() }
    }
}

impl<V: Copy + PartialEq> PrefixTable<V> {
    /// Builds the table. When the same prefix appears more than once, the
    /// first entry wins (callers that must refuse duplicates check first).
    pub fn build(entries: impl IntoIterator<Item = (Cidr, V)>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (c, v) in entries {
            let (s, e) = c.bounds();
            if c.addr.is_ipv4() { v4.push((s, e, v)) } else { v6.push((s, e, v)) }
        }
        PrefixTable { v4: flatten(v4), v6: flatten(v6) }
    }

    /// The value of the longest prefix containing `ip`.
    pub fn get(&self, ip: IpAddr) -> Option<V> {
        let ip = canonical(ip);
        let (table, b) = match ip {
            IpAddr::V4(_) => (&self.v4, bits(ip)),
            IpAddr::V6(_) => (&self.v6, bits(ip)),
        };
        let i = table.partition_point(|(start, _)| *start <= b);
        table.get(i.checked_sub(1)?).and_then(|(_, v)| *v)
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Nested-or-disjoint prefixes (`start`, `end`, value) → sorted interval
/// starts, each interval carrying the innermost prefix's value (or none).
fn flatten<V: Copy + PartialEq>(mut p: Vec<(u128, u128, V)>) -> Vec<(u128, Option<V>)> {
    // Outer prefixes first at equal starts; equal prefixes keep input order
    // (stable sort), and the later duplicates are dropped.
    p.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    p.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
    let mut out: Vec<(u128, Option<V>)> = Vec::with_capacity(p.len() * 2 + 1);
    let mut stack: Vec<(u128, V)> = Vec::new();
    let emit = |out: &mut Vec<(u128, Option<V>)>, start: u128, v: Option<V>| {
        if let Some(last) = out.last_mut()
            && last.0 == start
        {
            last.1 = v;
        } else {
            out.push((start, v));
        }
    };
    for (start, end, v) in p {
        while let Some(&(top_end, _)) = stack.last() {
            if top_end >= start {
                break;
            }
            stack.pop();
            if let Some(next) = top_end.checked_add(1) {
                emit(&mut out, next, stack.last().map(|(_, v)| *v));
            }
        }
        stack.push((end, v));
        emit(&mut out, start, Some(v));
    }
    while let Some((top_end, _)) = stack.pop() {
        if let Some(next) = top_end.checked_add(1) {
            emit(&mut out, next, stack.last().map(|(_, v)| *v));
        }
    }
    // Adjacent intervals with the same value are one.
    out.dedup_by(|later, first| later.1 == first.1);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s, true).unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_forms() {
        assert_eq!(c("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(c("10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(c("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(c("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("10.1.2.3/16", true), Err(CidrProblem::HostBitsSet));
        assert_eq!(Cidr::parse("10.1.2.3/16", false).unwrap().to_string(), "10.1.0.0/16");
        assert_eq!(Cidr::parse("10.0.0.0/33", true), Err(CidrProblem::BadPrefixLength));
        assert_eq!(Cidr::parse("10.0.0.0/", true), Err(CidrProblem::BadPrefixLength));
        assert_eq!(Cidr::parse("10.0.0.0/+8", true), Err(CidrProblem::BadPrefixLength));
        assert_eq!(Cidr::parse("ten/8", true), Err(CidrProblem::NotAnAddress));
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(c("::/0").to_string(), "::/0");
    }

    #[test]
    fn longest_prefix_wins() {
        let t = PrefixTable::build([
            (c("10.0.0.0/8"), 1),
            (c("10.1.0.0/16"), 2),
            (c("10.1.2.0/24"), 3),
            (c("10.1.2.7"), 4),
            (c("10.2.0.0/16"), 5),
            (c("2001:db8::/32"), 6),
            (c("::/0"), 7),
        ]);
        assert_eq!(t.get(ip("10.9.9.9")), Some(1));
        assert_eq!(t.get(ip("10.1.9.9")), Some(2));
        assert_eq!(t.get(ip("10.1.2.6")), Some(3));
        assert_eq!(t.get(ip("10.1.2.7")), Some(4));
        assert_eq!(t.get(ip("10.1.2.8")), Some(3));
        assert_eq!(t.get(ip("10.1.3.0")), Some(2));
        assert_eq!(t.get(ip("10.2.255.255")), Some(5));
        assert_eq!(t.get(ip("10.3.0.0")), Some(1));
        assert_eq!(t.get(ip("11.0.0.0")), None);
        assert_eq!(t.get(ip("9.255.255.255")), None);
        assert_eq!(t.get(ip("::ffff:10.1.2.7")), Some(4));
        assert_eq!(t.get(ip("2001:db8::1")), Some(6));
        assert_eq!(t.get(ip("2001:db9::1")), Some(7));
        assert_eq!(t.get(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), Some(7));
    }

    #[test]
    fn whole_space_and_edges() {
        let t = PrefixTable::build([(c("0.0.0.0/0"), 1), (c("255.255.255.255"), 2)]);
        assert_eq!(t.get(ip("0.0.0.0")), Some(1));
        assert_eq!(t.get(ip("255.255.255.254")), Some(1));
        assert_eq!(t.get(ip("255.255.255.255")), Some(2));
        assert_eq!(t.get(ip("::1")), None);
    }

    proptest! {
        /// The table agrees with a linear longest-prefix search.
        #[test]
        fn table_matches_linear_search(
            prefixes in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..60),
        ) {
            let cidrs: Vec<(Cidr, usize)> = prefixes
                .iter()
                .enumerate()
                .map(|(i, (a, l))| (Cidr::containing(IpAddr::V4(Ipv4Addr::from(*a)), *l).unwrap(), i))
                .collect();
            let t = PrefixTable::build(cidrs.clone());
            // Probe near the prefixes' edges too.
            let mut all: Vec<u32> = probes;
            for (cidr, _) in &cidrs {
                let (s, e) = cidr.bounds();
                for b in [s, e, s.saturating_sub(1), e + 1] {
                    if let Ok(v) = u32::try_from(b) { all.push(v) }
                }
            }
            for p in all {
                let a = IpAddr::V4(Ipv4Addr::from(p));
                let want = cidrs
                    .iter()
                    .filter(|(cidr, _)| cidr.contains(a))
                    // Longest, then first listed.
                    .min_by(|x, y| y.0.prefix_len().cmp(&x.0.prefix_len()).then(x.1.cmp(&y.1)))
                    .map(|(_, v)| *v);
                prop_assert_eq!(t.get(a), want, "probe {}", a);
            }
        }
    }
}
