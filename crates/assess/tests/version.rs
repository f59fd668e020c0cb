//! Version schemes: ordered tables of real versions per scheme, detection,
//! release lines, and property tests that each order is total and that no
//! input panics.

use std::cmp::Ordering;

use proptest::prelude::*;
use sekimori_assess::version::{Scheme, Version, compare, detect, same_line};

/// Every adjacent pair of `ascending` is strictly increasing under `scheme`,
/// and so is every other pair (the table is sorted, not just its neighbours).
fn assert_ascending(scheme: Scheme, ascending: &[&str]) {
    for (i, a) in ascending.iter().enumerate() {
        for (j, b) in ascending.iter().enumerate() {
            let got = compare(scheme, a, b).unwrap_or_else(|e| panic!("{scheme}: {a} vs {b}: {e}"));
            assert_eq!(got, i.cmp(&j), "{scheme}: {a} vs {b}");
        }
    }
}

fn assert_equal(scheme: Scheme, a: &str, b: &str) {
    assert_eq!(compare(scheme, a, b), Ok(Ordering::Equal), "{scheme}: {a} vs {b}");
}

fn assert_incomparable(scheme: Scheme, a: &str, b: &str) {
    let err = compare(scheme, a, b).expect_err(&format!("{scheme}: {a} vs {b} compared"));
    assert!(!err.reason.is_empty());
}

#[test]
fn semver_precedence_from_the_spec() {
    assert_ascending(
        Scheme::Semver,
        &[
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
            "10.0.0",
        ],
    );
    assert_equal(Scheme::Semver, "1.0.0+20130313144700", "1.0.0+exp.sha.5114f85");
    assert_equal(Scheme::Semver, "v1.2.3", " 1.2.3 ");
    for bad in ["1.2", "1.2.3.4", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b", "latest"]
    {
        assert_incomparable(Scheme::Semver, bad, "1.2.3");
    }
}

#[test]
fn dotted_orders_suffixes_around_the_release() {
    assert_ascending(
        Scheme::Dotted,
        &[
            "2.0",
            "2.2.0-beta1",
            "2.2.0rc1",
            "2.2.0",
            "2.2.0-1",
            "2.2.0a",
            "2.2.0p1",
            "2.2.1",
            "4.3",
            "8.5.1",
            "8.5.1 build 123",
            "8.5.1 build 124",
            "8.5.2",
            "9.7p1",
            "9.8",
            "9.8p1",
            "9.8p2",
            "9.9",
            "9.10",
        ],
    );
    // OpenSSL letter releases.
    assert_ascending(Scheme::Dotted, &["1.0.2", "1.0.2a", "1.0.2k", "1.0.2zd", "1.1.0"]);
    assert_equal(Scheme::Dotted, "4.3", "4.3.0");
    assert_equal(Scheme::Dotted, "9.8P1", "v9.8p1");
    assert_equal(Scheme::Dotted, "2.0-RC1", "2.0rc1");
    for bad in ["", "latest", "beta", "1.0 (ubuntu)", "1.0/2"] {
        assert_incomparable(Scheme::Dotted, bad, "1.0");
    }
}

#[test]
fn ivanti_trains() {
    assert_ascending(
        Scheme::Ivanti,
        &[
            "9.1R3",
            "9.1R11.4",
            "9.1R18",
            "9.1R18.2",
            "9.1R19",
            "22.1R1",
            "22.6R2",
            "22.7R1.1",
            "22.7R1.1b",
            "22.7R1.2",
            "22.7R2",
            "22.7R2.1 build 1485",
            "22.7R2.3",
            "22.7R2.4",
        ],
    );
    assert_equal(Scheme::Ivanti, "9.1r18", "9.1R18.0");
    assert_equal(Scheme::Ivanti, "22.7R2.1 (build 1485)", "22.7R2.1 Build1485");
    assert_incomparable(Scheme::Ivanti, "22.7R2", "latest");
    assert_incomparable(Scheme::Ivanti, "22.7", "22.7R2");
    assert_incomparable(Scheme::Ivanti, "22.7R2 hotfix", "22.7R2");
}

#[test]
fn fortios_releases_and_builds() {
    assert_ascending(
        Scheme::FortiOs,
        &[
            "6.4.15",
            "7.0.12",
            "7.0.13",
            "7.0.14",
            "7.2.0",
            "7.2.4",
            "v7.2.4,build1396",
            "7.2.4 build1397",
            "7.2.5",
            "7.4.2",
        ],
    );
    assert_equal(Scheme::FortiOs, "v7.2.4,build1396", "7.2.4 build 1396");
    assert_equal(Scheme::FortiOs, "7.2.4-build1396", "7.2.4 (build 1396)");
    assert_incomparable(Scheme::FortiOs, "7.2", "7.2.4");
    assert_incomparable(Scheme::FortiOs, "7.2.4.1", "7.2.4");
}

#[test]
fn panos_hotfixes() {
    assert_ascending(
        Scheme::PanOs,
        &[
            "9.1.17",
            "10.1.14-h2",
            "10.2.9",
            "10.2.9-h1",
            "10.2.9-h2",
            "10.2.9-h12",
            "10.2.10",
            "11.0.4-h1",
            "11.1.2-h3",
        ],
    );
    assert_equal(Scheme::PanOs, "10.2.9-H1", "v10.2.9-h1");
    assert_incomparable(Scheme::PanOs, "10.2.9-h1.xfr", "10.2.9");
    assert_incomparable(Scheme::PanOs, "11.1.0-c1", "11.1.0");
    assert_incomparable(Scheme::PanOs, "10.2", "10.2.9");
}

#[test]
fn citrix_builds() {
    assert_ascending(
        Scheme::Citrix,
        &[
            "12.1-55.302",
            "13.0-92.21",
            "13.1-37.176",
            "13.1-49.15",
            "13.1-50.1",
            "13.1-51.15",
            "14.1-4.42",
            "14.1-12.35",
        ],
    );
    assert_equal(Scheme::Citrix, "13.1 Build 49.15", "13.1-49.15");
    assert_equal(Scheme::Citrix, "13.1-49", "13.1-49.0");
    assert_incomparable(Scheme::Citrix, "13.1", "13.1-49.15");
    assert_incomparable(Scheme::Citrix, "13.1-49.15.FIPS", "13.1-49.15");
}

#[test]
fn windows_builds() {
    assert_ascending(
        Scheme::Windows,
        &[
            "6.1.7601.24544",
            "6.3.9600",
            "10.0.14393.6614",
            "10.0.17763",
            "10.0.17763.5329",
            "10.0.19045.3803",
            "10.0.19045.4046",
            "10.0.22631.3007",
        ],
    );
    assert_equal(Scheme::Windows, "10.0.17763", "10.0.17763.0");
    assert_equal(Scheme::Windows, "19045.3803", "10.0.19045.3803");
    assert_equal(Scheme::Windows, "22631", "10.0.22631.0");
    assert_incomparable(Scheme::Windows, "10.0.19045.3803.1", "10.0.19045.3803");
    assert_incomparable(Scheme::Windows, "Windows 10", "10.0.19045.3803");
}

#[test]
fn dates() {
    assert_ascending(
        Scheme::Date,
        &["1999-12-31", "2024-01-15", "20240116", "2024.02.29", "2024/12/01"],
    );
    assert_equal(Scheme::Date, "2024-01-15", "20240115");
    assert_equal(Scheme::Date, "2024.01.15", "2024-1-15");
    for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "2024-01", "v2024-01-15"] {
        assert_incomparable(Scheme::Date, bad, "2024-01-15");
    }
    // US order, as CVE-2024-6795 writes its fix date (`lessThan 8/30/2024`),
    // only where the day shows the order; `8/3/2024` is either.
    assert_equal(Scheme::Date, "8/30/2024", "2024-08-30");
    assert_ascending(Scheme::Date, &["8/29/2024", "2024-08-30", "12/31/2024"]);
    assert_equal(Scheme::Date, "7/7/2024", "2024-07-07");
    assert_incomparable(Scheme::Date, "8/3/2024", "2024-08-03");
}

#[test]
fn incomparable_names_the_text_and_scheme() {
    let err = compare(Scheme::Ivanti, "22.7R2", "latest").unwrap_err();
    assert!(err.reason.contains("\"latest\""), "{}", err.reason);
    assert!(err.reason.contains("ivanti"), "{}", err.reason);
    let long = "9".repeat(1000);
    assert!(compare(Scheme::Dotted, &long, "1").is_err());
    assert!(compare(Scheme::Dotted, "99999999999999999999999", "1").is_err());
}

#[test]
fn detect_by_shape() {
    let cases = [
        ("22.7R2.3", Some(Scheme::Ivanti)),
        ("9.1r18", Some(Scheme::Ivanti)),
        ("13.1-49.15", Some(Scheme::Citrix)),
        ("10.2.9-h1", Some(Scheme::PanOs)),
        ("2024-01-15", Some(Scheme::Date)),
        ("20240115", Some(Scheme::Date)),
        ("10.0.19045.3803", Some(Scheme::Windows)),
        ("6.1.7601.24544", Some(Scheme::Windows)),
        ("v7.2.4,build1396", Some(Scheme::FortiOs)),
        ("1.2.3-rc.1", Some(Scheme::Semver)),
        ("1.2.3", Some(Scheme::Dotted)),
        ("9.8p1", Some(Scheme::Dotted)),
        ("10.2.9", Some(Scheme::Dotted)),
        ("20241301", Some(Scheme::Dotted)),
        ("latest", None),
        ("", None),
        ("1.0 (ubuntu)", None),
    ];
    for (text, want) in cases {
        assert_eq!(detect(text), want, "{text}");
    }
}

#[test]
fn release_lines() {
    assert!(same_line(Scheme::Ivanti, "9.1R18", "9.1R3"));
    assert!(!same_line(Scheme::Ivanti, "9.1R18", "22.7R2"));
    assert!(same_line(Scheme::FortiOs, "7.0.12", "7.0.1"));
    assert!(!same_line(Scheme::FortiOs, "7.0.12", "7.2.1"));
    assert!(same_line(Scheme::Citrix, "13.1-49.15", "13.1-37.1"));
    assert!(!same_line(Scheme::Citrix, "13.1-49.15", "14.1-4.42"));
    assert!(same_line(Scheme::PanOs, "10.2.9-h1", "10.2.3"));
    assert!(same_line(Scheme::Dotted, "7", "7.0.3"));
    assert!(same_line(Scheme::Semver, "1.2.3-rc.1", "1.2.9"));
    assert!(same_line(Scheme::Windows, "10.0.19045.3803", "19045.4046"));
    assert!(!same_line(Scheme::Windows, "10.0.19045.3803", "10.0.22631.3007"));
    assert!(same_line(Scheme::Date, "2024-01-15", "20240131"));
    assert!(!same_line(Scheme::Ivanti, "9.1R18", "latest"));
}

#[test]
fn scheme_names_round_trip() {
    for scheme in Scheme::ALL {
        assert_eq!(Scheme::from_name(scheme.as_str()), Some(scheme));
        let json = serde_json::to_string(&scheme).unwrap();
        assert_eq!(json, format!("\"{}\"", scheme.as_str()));
    }
    assert_eq!(Scheme::from_name("PAN_OS"), Some(Scheme::PanOs));
    assert_eq!(Scheme::from_name("junos"), None);
}

// ---- properties --------------------------------------------------------------

/// `compare` is a total order on `a`, `b`, `c`, and agrees with `Version`'s
/// `Ord` and `Eq`.
fn check_total_order(scheme: Scheme, a: &str, b: &str, c: &str) -> Result<(), TestCaseError> {
    let cmp = |x: &str, y: &str| compare(scheme, x, y);
    for x in [a, b, c] {
        prop_assert_eq!(cmp(x, x), Ok(Ordering::Equal), "{} not equal to itself", x);
    }
    let ab = cmp(a, b).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let bc = cmp(b, c).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let ac = cmp(a, c).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(cmp(b, a), Ok(ab.reverse()), "antisymmetry {} {}", a, b);
    if ab.is_le() && bc.is_le() {
        prop_assert!(ac.is_le(), "transitivity {} <= {} <= {} but {:?}", a, b, c, ac);
    }
    if ab.is_ge() && bc.is_ge() {
        prop_assert!(ac.is_ge(), "transitivity {} >= {} >= {} but {:?}", a, b, c, ac);
    }
    let (va, vb) = (Version::parse(scheme, a).unwrap(), Version::parse(scheme, b).unwrap());
    prop_assert_eq!(va.cmp(&vb), ab);
    prop_assert_eq!(va == vb, ab.is_eq());
    prop_assert_eq!(va.scheme(), scheme);
    Ok(())
}

fn num() -> impl Strategy<Value = u64> {
    prop_oneof![0..4u64, 0..30u64, Just(u64::MAX)]
}

fn upper_or_lower(s: &'static str) -> impl Strategy<Value = String> {
    any::<bool>().prop_map(move |up| if up { s.to_uppercase() } else { s.to_owned() })
}

fn semver() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        Just("alpha".to_owned()),
        Just("beta".to_owned()),
        Just("rc".to_owned()),
        Just("RC".to_owned()),
        Just("x-1".to_owned()),
        (0..12u64).prop_map(|n| n.to_string()),
    ];
    (
        num(),
        num(),
        num(),
        prop::collection::vec(id, 0..4),
        prop::option::of("[0-9a-zA-Z]{1,4}"),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, pre, build, v)| {
            let mut s = format!("{}{a}.{b}.{c}", if v { "v" } else { "" });
            if !pre.is_empty() {
                s = format!("{s}-{}", pre.join("."));
            }
            if let Some(build) = build {
                s = format!("{s}+{build}");
            }
            s
        })
}

fn dotted() -> impl Strategy<Value = String> {
    let suffix = prop_oneof![
        Just(String::new()),
        (
            prop_oneof![
                Just("p"),
                Just("a"),
                Just("k"),
                Just("rc"),
                Just("-beta"),
                Just("-alpha."),
                Just(" build "),
                Just("-"),
                Just("."),
                Just("_dev"),
                Just("pre"),
                Just("preview"),
            ],
            prop::option::of(0..5u64)
        )
            .prop_map(|(w, n)| format!("{w}{}", n.map(|n| n.to_string()).unwrap_or_default())),
    ];
    (prop::collection::vec(num(), 1..5), suffix, suffix_again())
        .prop_map(|(release, s1, s2)| {
            let release: Vec<String> = release.iter().map(u64::to_string).collect();
            format!("{}{s1}{s2}", release.join("."))
        })
        .prop_filter("a bare trailing separator is fine but keep inputs varied", |s| !s.is_empty())
}

fn suffix_again() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".to_owned()),
        Just("-1".to_owned()),
        Just("rc2".to_owned())
    ]
}

fn ivanti() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(9u64), Just(22u64), num()],
        0..8u64,
        upper_or_lower("r"),
        prop::collection::vec(num(), 1..4),
        prop::option::of(prop_oneof![Just("a"), Just("b"), Just("B")]),
        prop::option::of((
            prop_oneof![Just(" build "), Just(" (build "), Just("build")],
            0..2000u64,
        )),
    )
        .prop_map(|(major, minor, r, release, respin, build)| {
            let release: Vec<String> = release.iter().map(u64::to_string).collect();
            let mut s = format!("{major}.{minor}{r}{}{}", release.join("."), respin.unwrap_or(""));
            if let Some((word, n)) = build {
                let close = if word.contains('(') { ")" } else { "" };
                s = format!("{s}{word}{n}{close}");
            }
            s
        })
}

fn fortios() -> impl Strategy<Value = String> {
    (
        num(),
        num(),
        num(),
        prop::option::of((
            prop_oneof![Just(",build"), Just(" build"), Just(" build "), Just("-build")],
            0..3000u64,
        )),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, build, v)| {
            let mut s = format!("{}{a}.{b}.{c}", if v { "v" } else { "" });
            if let Some((word, n)) = build {
                s = format!("{s}{word}{n}");
            }
            s
        })
}

fn panos() -> impl Strategy<Value = String> {
    (num(), num(), num(), prop::option::of((upper_or_lower("h"), num()))).prop_map(
        |(a, b, c, h)| match h {
            Some((h, n)) => format!("{a}.{b}.{c}-{h}{n}"),
            None => format!("{a}.{b}.{c}"),
        },
    )
}

fn citrix() -> impl Strategy<Value = String> {
    (num(), num(), num(), prop::option::of(num()), any::<bool>()).prop_map(|(a, b, c, d, word)| {
        let sep = if word { " Build " } else { "-" };
        match d {
            Some(d) => format!("{a}.{b}{sep}{c}.{d}"),
            None => format!("{a}.{b}{sep}{c}"),
        }
    })
}

fn windows() -> impl Strategy<Value = String> {
    let full = prop::collection::vec(prop_oneof![num(), 7000..30000u64], 1..5).prop_map(|v| {
        let v: Vec<String> = v.iter().map(u64::to_string).collect();
        v.join(".")
    });
    let short = (10240..30000u64, prop::option::of(num())).prop_map(|(b, r)| match r {
        Some(r) => format!("{b}.{r}"),
        None => b.to_string(),
    });
    prop_oneof![full, short]
}

fn date() -> impl Strategy<Value = String> {
    (1990..2100u16, 1..=12u8, 1..=28u8, 0..4usize).prop_map(|(y, m, d, form)| match form {
        0 => format!("{y:04}-{m:02}-{d:02}"),
        1 => format!("{y:04}{m:02}{d:02}"),
        2 => format!("{y:04}.{m}.{d}"),
        _ => format!("{y:04}/{m:02}/{d}"),
    })
}

/// Text shaped like versions, to reach deep into the parsers.
fn versionish() -> impl Strategy<Value = String> {
    "[0-9vVrRhHbuild.,\\-_+~() /:]{0,24}"
}

macro_rules! total_order_props {
    ($($name:ident: $scheme:expr, $strategy:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $name(a in $strategy, b in $strategy, c in $strategy) {
                    check_total_order($scheme, &a, &b, &c)?;
                }
            )*
        }
    };
}

total_order_props! {
    semver_is_a_total_order: Scheme::Semver, semver();
    dotted_is_a_total_order: Scheme::Dotted, dotted();
    ivanti_is_a_total_order: Scheme::Ivanti, ivanti();
    fortios_is_a_total_order: Scheme::FortiOs, fortios();
    panos_is_a_total_order: Scheme::PanOs, panos();
    citrix_is_a_total_order: Scheme::Citrix, citrix();
    windows_is_a_total_order: Scheme::Windows, windows();
    date_is_a_total_order: Scheme::Date, date();
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(a in any::<String>(), b in versionish()) {
        for scheme in Scheme::ALL {
            let _ = compare(scheme, &a, &b);
            let _ = compare(scheme, &b, &a);
            let _ = same_line(scheme, &a, &b);
        }
        let _ = detect(&a);
        let _ = detect(&b);
    }

    #[test]
    fn detected_schemes_parse(text in versionish()) {
        if let Some(scheme) = detect(&text) {
            prop_assert!(Version::parse(scheme, &text).is_ok(), "{} detected as {}", text, scheme);
        }
    }

    #[test]
    fn any_two_parsed_versions_order_consistently(a in versionish(), b in versionish()) {
        for scheme in Scheme::ALL {
            if let (Ok(x), Ok(y)) = (Version::parse(scheme, &a), Version::parse(scheme, &b)) {
                prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
                prop_assert_eq!(x == y, x.cmp(&y).is_eq());
            }
        }
    }
}
