//! Human sizes (`"50 MB"`, `"512 KiB"`) and durations (`"90s"`, `"5m"`,
//! `"24h"`, `"7d"`) as policy files write them. A bare number is refused:
//! `threshold = 50` could mean bytes or megabytes, so the unit is required.

use std::time::Duration;

/// Bytes in a size. KB/MB/GB are decimal (10³, 10⁶, 10⁹), KiB/MiB/GiB
/// binary; units are case-insensitive (`mb` = `MB`), a space is optional,
/// fractions are allowed (`"1.5 GB"`). At most 1 PB (10¹⁵), so any sum of a
/// few sizes fits in a `u64`.
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, unit) = split_number(s)?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    scale(num, mult, 1_000_000_000_000_000)
}

/// A duration: an integer or decimal number and one of `s`, `m`, `h`, `d`
/// (also `ms`). At most 366 days.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = split_number(s)?;
    let ms_per: u64 = match unit {
        "ms" => 1,
        "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    scale(num, ms_per, 366 * 86_400_000).map(Duration::from_millis)
}

/// `"1.5 GB"` → ("1.5", "GB"); the number is digits with at most one
/// decimal point, then optional spaces, then the unit.
fn split_number(s: &str) -> Option<(&str, &str)> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let unit = unit.trim_start();
    if num.is_empty() || unit.is_empty() || num.matches('.').count() > 1 || num.len() > 20 {
        return None;
    }
    if num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    Some((num, unit))
}

/// `num` (decimal text) × `mult`, rounded down, if at most `max`.
fn scale(num: &str, mult: u64, max: u64) -> Option<u64> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let int: u64 = int.parse().ok()?;
    let mut total = int.checked_mul(mult)?;
    // Fraction digits, exactly: mult × 0.d1d2… (at most 9 digits), rounded down.
    let frac = frac.get(..frac.len().min(9)).unwrap_or("");
    if !frac.is_empty() {
        let f: u128 = frac.parse().ok()?;
        let scaled = u128::from(mult) * f / 10u128.pow(u32::try_from(frac.len()).ok()?);
        total = total.checked_add(u64::try_from(scaled).ok()?)?;
    }
    (total <= max).then_some(total)
}

/// A size for people: `52428800` → `"50 MiB"`, `50000000` → `"50 MB"`.
pub fn format_size(bytes: u64) -> String {
    for (m, u) in [
        (1u64 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "KB"),
    ] {
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{} {u}", bytes / m);
        }
    }
    format!("{bytes} B")
}

/// A duration for people: `"5m"`, `"24h"`, `"90s"`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (m, u) in [(86_400_000u128, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
        if ms >= m && ms.is_multiple_of(m) {
            return format!("{}{u}", ms / m);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50 MB"), Some(50_000_000));
        assert_eq!(parse_size("50MB"), Some(50_000_000));
        assert_eq!(parse_size("1 MiB"), Some(1_048_576));
        assert_eq!(parse_size("512kib"), Some(524_288));
        assert_eq!(parse_size("1.5 GB"), Some(1_500_000_000));
        assert_eq!(parse_size("0.5 KiB"), Some(512));
        assert_eq!(parse_size("10 B"), Some(10));
        assert_eq!(parse_size("50"), None);
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("5 XB"), None);
        assert_eq!(parse_size("-5 MB"), None);
        assert_eq!(parse_size("1.2.3 MB"), None);
        assert_eq!(parse_size(".5 MB"), None);
        assert_eq!(parse_size("99999999999999999999 GB"), None);
        assert_eq!(parse_size("2000 TB"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("7 d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("60"), None);
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration("400d"), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_size(50_000_000), "50 MB");
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(123), "123 B");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_size(&s);
            let _ = parse_duration(&s);
        }

        #[test]
        fn formatted_sizes_parse_back(n in 0u64..1_000_000_000_000) {
            prop_assert_eq!(parse_size(&format_size(n)), Some(n));
        }
    }
}
