//! CPE names: parsing both bindings with real NVD names, escaping, errors
//! with offsets, matching, formatting back, and hostile input.

use proptest::prelude::*;
use sekimori_assess::cpe::{Component, Cpe, CpeError};

fn cpe(text: &str) -> Cpe {
    Cpe::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn value(v: &str) -> Component {
    Component::Value(v.to_owned())
}

#[test]
fn fortios_criterion_is_all_any_after_product() {
    let c = cpe("cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*");
    assert_eq!(c.part, value("o"));
    assert_eq!(c.vendor.as_value(), Some("fortinet"));
    assert_eq!(c.product.as_value(), Some("fortios"));
    for (name, attr) in c.attributes().into_iter().skip(3) {
        assert_eq!(attr, &Component::Any, "{name}");
    }
    assert_eq!(c.version_text(), None);
}

#[test]
fn ivanti_version_and_update_join() {
    let c = cpe("cpe:2.3:a:ivanti:connect_secure:22.7:r2.3:*:*:*:*:*:*");
    assert_eq!(c.product.as_value(), Some("connect_secure"));
    assert_eq!(c.version.as_value(), Some("22.7"));
    assert_eq!(c.update.as_value(), Some("r2.3"));
    assert_eq!(c.version_text().as_deref(), Some("22.7R2.3"));
    let c = cpe("cpe:2.3:a:ivanti:connect_secure:9.1:R18.2:*:*:*:*:*:*");
    assert_eq!(c.version_text().as_deref(), Some("9.1R18.2"));
}

#[test]
fn openssh_portable_update_joins() {
    let c = cpe("cpe:2.3:a:openbsd:openssh:9.8:p1:*:*:*:*:*:*");
    assert_eq!(c.version_text().as_deref(), Some("9.8p1"));
    let c = cpe("cpe:2.3:a:microsoft:sql_server:2019:cu18:*:*:*:*:*:*");
    assert_eq!(c.version_text().as_deref(), Some("2019"));
    let c = cpe("cpe:2.3:a:openbsd:openssh:9.8:-:*:*:*:*:*:*");
    assert_eq!(c.version_text().as_deref(), Some("9.8"));
}

#[test]
fn escapes_are_undone_and_kept_on_format() {
    let text = r"cpe:2.3:a:foo\:bar:baz:1.0:*:*:*:*:*:*:*:*";
    // Nine components after the version: one too many.
    let err = Cpe::parse(text).unwrap_err();
    assert_eq!(err.message, "more than 13 components");
    let text = r"cpe:2.3:a:foo\:bar:baz:1.0:*:*:*:*:*:*:*";
    let c = cpe(text);
    assert_eq!(c.vendor.as_value(), Some("foo:bar"));
    assert_eq!(c.product.as_value(), Some("baz"));
    assert_eq!(c.version.as_value(), Some("1.0"));
    assert_eq!(c.to_formatted_string(), text);
    assert_eq!(cpe(&c.to_string()), c);

    let c = cpe(r"cpe:2.3:a:hp:insight_diagnostics:7.4.0.1570:-:*:*:online:win2003:x64:*");
    assert_eq!(c.update, Component::Na);
    assert_eq!(c.target_sw.as_value(), Some("win2003"));
    let c = cpe(r"cpe:2.3:a:acme:big\$money_2010:1\.0:*:*:*:*:*:*:*");
    assert_eq!(c.product.as_value(), Some("big$money_2010"));
    assert_eq!(c.version.as_value(), Some("1.0"));
    assert_eq!(c.to_formatted_string(), r"cpe:2.3:a:acme:big\$money_2010:1.0:*:*:*:*:*:*:*");
}

#[test]
fn values_are_lower_cased() {
    let c = cpe("CPE:2.3:A:Fortinet:FortiOS:7.2.4:*:*:*:*:*:*:*");
    assert_eq!(c, cpe("cpe:2.3:a:fortinet:fortios:7.2.4:*:*:*:*:*:*:*"));
}

#[test]
fn literal_wildcards_and_hyphens_stay_literal() {
    let c = cpe(r"cpe:2.3:a:foo:bar\*:\-:\?:*:*:*:*:*:*");
    assert_eq!(c.product.as_value(), Some(r"bar\*"));
    assert_eq!(c.product.literal().as_deref(), Some("bar*"));
    assert!(!c.product.has_wildcards());
    assert_eq!(c.version, value("-"));
    assert_eq!(c.update.literal().as_deref(), Some("?"));
    assert_eq!(cpe(&c.to_formatted_string()), c);
    // A literal star is not a wildcard when matching.
    assert!(!c.matches(&cpe("cpe:2.3:a:foo:barx:-:?:*:*:*:*:*:*")));
}

#[test]
fn errors_name_the_offset() {
    let short = "cpe:2.3:a:vendor:product:1.0";
    let err = Cpe::parse(short).unwrap_err();
    assert_eq!(err.offset, short.len());
    assert_eq!(err.message, "expected 13 components, found 6");

    let long = "cpe:2.3:a:v:p:1:*:*:*:*:*:*:*:extra";
    let err = Cpe::parse(long).unwrap_err();
    assert_eq!(err.offset, long.rfind(':').unwrap());

    let cases: &[(&str, usize)] = &[
        ("cpe:2.2:a:v:p", 0),
        ("cpe:2.3:x:v:p:1:*:*:*:*:*:*:*", 8),
        ("cpe:2.3:a:v:p:1.*.2:*:*:*:*:*:*:*", 16),
        ("cpe:2.3:a:v:p::*:*:*:*:*:*:*", 14),
        ("cpe:2.3:a:v:p:1 0:*:*:*:*:*:*:*", 15),
        ("cpe:2.3:a:v:p:**1:*:*:*:*:*:*:*", 14),
        ("cpe:2.3:a:v:p:1:*:*:*:*:*:*:x\\", 29),
        ("  cpe:2.3:a:v:p:1:*:*:*:*:*:*:é", 30),
        ("cpe:/a:v:p:1:2:3:4:5", 18),
        ("cpe:/a:v:p%2:1", 10),
        ("cpe:/a:v:p:1:2:~a~b", 15),
        ("cpe:/a:v:p q", 10),
    ];
    for &(text, offset) in cases {
        let err: CpeError = Cpe::parse(text).expect_err(text);
        assert_eq!(err.offset, offset, "{text}: {err}");
    }
}

#[test]
fn uri_binding() {
    let c = cpe("cpe:/a:openbsd:openssh:9.8:p1");
    assert_eq!(c, cpe("cpe:2.3:a:openbsd:openssh:9.8:p1:*:*:*:*:*:*"));
    let c = cpe("cpe:/o:microsoft:windows_10:-");
    assert_eq!(c.version, Component::Na);
    assert_eq!(c.update, Component::Any);
    let c = cpe("cpe:/a:gnu:g%2b%2b:4.8%02");
    assert_eq!(c.product.as_value(), Some("g++"));
    assert_eq!(c.version.as_value(), Some("4.8*"));
    assert!(c.version.has_wildcards());
    let c = cpe("cpe:/a:hp:insight_diagnostics:7.4.0.1570::~~online~win2003~x64~:EN-us");
    assert_eq!(c.edition, Component::Any);
    assert_eq!(c.sw_edition.as_value(), Some("online"));
    assert_eq!(c.target_sw.as_value(), Some("win2003"));
    assert_eq!(c.target_hw.as_value(), Some("x64"));
    assert_eq!(c.other, Component::Any);
    assert_eq!(c.language.as_value(), Some("en-us"));
    assert_eq!(cpe("cpe:/"), cpe("cpe:2.3:*:*:*:*:*:*:*:*:*:*:*"));
}

#[test]
fn matching_rules() {
    let any_fortios = cpe("cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*");
    let device = cpe("cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*");
    assert!(any_fortios.matches(&device));
    assert!(!device.matches(&any_fortios), "a value never matches ANY");
    assert!(!any_fortios.matches(&cpe("cpe:2.3:o:fortinet:fortiproxy:7.2.4:*:*:*:*:*:*:*")));
    assert!(!any_fortios.matches(&cpe("cpe:2.3:a:fortinet:fortios:7.2.4:*:*:*:*:*:*:*")));

    let na = cpe("cpe:2.3:a:openbsd:openssh:9.8:-:*:*:*:*:*:*");
    assert!(na.matches(&na));
    assert!(!na.matches(&cpe("cpe:2.3:a:openbsd:openssh:9.8:p1:*:*:*:*:*:*")));
    assert!(!na.matches(&cpe("cpe:2.3:a:openbsd:openssh:9.8:*:*:*:*:*:*:*")));

    let v = |s: &str| value(s);
    let cases = [
        ("7.2.*", "7.2.4", true),
        ("7.2.*", "7.2.", true),
        ("7.2.*", "7.3.0", false),
        ("*.4", "7.2.4", true),
        ("*2*", "7.2.4", true),
        ("*9*", "7.2.4", false),
        ("7.2.?", "7.2.4", true),
        ("7.2.?", "7.2.14", false),
        ("7.2.??", "7.2.14", true),
        ("?.2.4", "7.2.4", true),
        ("??.2.4", "7.2.4", false),
        ("*.2.?", "17.2.4", true),
        ("*.2.?", "17.2.44", false),
        ("??", "ab", true),
        ("??", "abc", false),
        ("7.2.4", "7.2.4", true),
        ("7.2.4", "7.2.40", false),
        (r"7\*", "7*", true),
        (r"7\*", "70", false),
    ];
    for (pattern, target, want) in cases {
        assert_eq!(v(pattern).matches(&v(target)), want, "{pattern} vs {target}");
    }
    assert!(Component::Any.matches(&Component::Na));
    assert!(Component::Na.matches(&Component::Na));
    assert!(!Component::Na.matches(&v("x")));
    assert!(!v("*x").matches(&Component::Any));
}

#[test]
fn wildcard_patterns_parse_from_nvd_style_names() {
    let pattern = cpe("cpe:2.3:a:ivanti:connect_secure:22.7:r2.*:*:*:*:*:*:*");
    assert!(pattern.matches(&cpe("cpe:2.3:a:ivanti:connect_secure:22.7:r2.3:*:*:*:*:*:*")));
    assert!(!pattern.matches(&cpe("cpe:2.3:a:ivanti:connect_secure:22.7:r1.1:*:*:*:*:*:*")));
    let pattern = cpe("cpe:2.3:a:*ssh:??enssh:*:*:*:*:*:*:*:*");
    assert!(pattern.matches(&cpe("cpe:2.3:a:openssh:openssh:9.8:p1:*:*:*:*:*:*")));
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("-".to_owned()),
        r"[a-z0-9._]{1,6}",
        r"\*?[a-z0-9._]{1,6}\*?",
        r"\?{0,2}[a-z0-9]{1,4}\?{0,2}",
        r"[a-z]{1,3}\\[:*?\\!$~-][a-z]{0,3}",
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), other in r"cpe:(2\.3|/)[a-z0-9:*?%~\\.-]{0,40}") {
        for t in [&text, &other] {
            if let Ok(c) = Cpe::parse(t) {
                let again = Cpe::parse(&c.to_formatted_string());
                prop_assert_eq!(again.as_ref(), Ok(&c));
                let _ = c.version_text();
                prop_assert!(c.matches(&c) || c.attributes().iter().any(|(_, a)| a.has_wildcards()));
            }
        }
    }

    #[test]
    fn generated_names_round_trip_and_match_themselves(parts in prop::collection::vec(component(), 10)) {
        let text = format!("cpe:2.3:a:{}", parts.join(":"));
        let c = Cpe::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(Cpe::parse(&c.to_formatted_string()), Ok(c.clone()));
        if !c.attributes().iter().any(|(_, a)| a.has_wildcards()) {
            prop_assert!(c.matches(&c), "{} does not match itself", text);
        }
        let all_any = Cpe::parse("cpe:2.3:*:*:*:*:*:*:*:*:*:*:*").unwrap();
        prop_assert!(all_any.matches(&c));
    }

    #[test]
    fn matching_values_never_panics(p in r"[*?]{0,2}.{0,6}[*?]{0,2}", t in ".{0,8}") {
        let _ = Component::Value(p.clone()).matches(&Component::Value(t.clone()));
        let _ = Component::Value(p).literal();
        let _ = Component::Value(t).has_wildcards();
    }
}

/// Found by the `cpe_name` fuzz target (crash-b5a567df…): a lenient name
/// (unescaped `#`, `,`, `(`) under the 2,048-byte cap whose formatted form,
/// with every special escaped, is over it. The property holds within the
/// cap: a name formats back to itself whenever its formatted form is a
/// name we accept.
#[test]
fn fuzz_b5a567df_round_trip_within_the_cap() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/cpe_name/crash-b5a567df-round-trip-over-limit"
    ))
    .unwrap();
    let text = String::from_utf8_lossy(&data);
    let mut over = 0;
    for line in text.splitn(2, '\n') {
        if let Ok(p) = Cpe::parse(line) {
            let f = p.to_formatted_string();
            if f.len() > sekimori_assess::cpe::MAX_LEN {
                over += 1;
                assert!(Cpe::parse(&f).is_err());
            } else {
                assert_eq!(Cpe::parse(&f).as_ref(), Ok(&p), "{line:?} → {f:?}");
            }
        }
    }
    assert_eq!(over, 1);
}
