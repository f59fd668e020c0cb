//! Fuzzing entry points of the assessment's readers: advisory feeds,
//! inventory files, CPE names and version schemes. Not part of `lib.rs`
//! (whose entry points the sensor's test replays); the targets
//! `fuzz_targets/{advisory_feed,inventory_file,cpe_name,version_order}.rs`
//! and `crates/assess/tests/fuzz_corpus.rs` include this file by path.
//!
//! `cpe_name` and `version_order` also check properties, so the fuzzer
//! hunts for wrong answers as well as panics: a CPE formats back to itself,
//! and every scheme's order is antisymmetric and transitive.

use std::cmp::Ordering;
use std::path::Path;

use sekimori_assess::cpe::Cpe;
use sekimori_assess::feeds;
use sekimori_assess::inventory;
use sekimori_assess::version::{self, Scheme};

/// `feeds::read_bytes` of one file (format detected from content).
pub fn advisory_feed(data: &[u8]) {
    let mut records = 0usize;
    feeds::read_bytes(Path::new("fuzz.json"), data, &mut |_| records += 1);
}

/// `inventory::read_bytes` of one file (ledger CSV, SBOM, MDS2, sensor JSON).
pub fn inventory_file(data: &[u8]) {
    let _ = inventory::read_bytes(Path::new("fuzz"), data);
}

/// Two lines: a CPE pattern and a target. Both parse or fail cleanly; a
/// parsed name formats back to the same name (when the formatted form is
/// within the length cap); matching never panics.
pub fn cpe_name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(2, '\n');
    let a = lines.next().unwrap_or_default();
    let b = lines.next().unwrap_or_default();
    let pa = Cpe::parse(a);
    let pb = Cpe::parse(b);
    for p in [&pa, &pb].into_iter().flatten() {
        // Escaping may lengthen a lenient name past the cap (fuzz
        // crash-b5a567df); within it, the name must come back unchanged.
        let formatted = p.to_formatted_string();
        if formatted.len() <= sekimori_assess::cpe::MAX_LEN {
            let again = Cpe::parse(&formatted);
            assert_eq!(again.as_ref(), Ok(p), "{p} does not format back to itself");
        }
    }
    if let (Ok(pa), Ok(pb)) = (&pa, &pb) {
        let _ = pa.matches(pb);
    }
}

/// Byte 0 picks the scheme; the rest is three versions separated by
/// newlines. The order must be antisymmetric, reflexive and transitive
/// wherever the three compare.
pub fn version_order(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Some(&scheme) = Scheme::ALL.get(usize::from(pick) % Scheme::ALL.len()) else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut parts = text.splitn(3, '\n');
    let (a, b, c) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let _ = version::detect(a);
    let _ = version::same_line(scheme, a, b);
    let ab = version::compare(scheme, a, b);
    let ba = version::compare(scheme, b, a);
    match (&ab, &ba) {
        (Ok(x), Ok(y)) => assert_eq!(*x, y.reverse(), "{scheme:?}: {a:?} vs {b:?}"),
        (Err(_), Err(_)) => {}
        _ => panic!("{scheme:?}: {a:?} vs {b:?} compares one way only"),
    }
    if let Ok(o) = version::compare(scheme, a, a) {
        assert_eq!(o, Ordering::Equal, "{scheme:?}: {a:?} is not equal to itself");
    }
    if let (Ok(ab), Ok(bc), Ok(ac)) =
        (ab, version::compare(scheme, b, c), version::compare(scheme, a, c))
        && ab != Ordering::Greater
        && bc != Ordering::Greater
    {
        assert_ne!(ac, Ordering::Greater, "{scheme:?}: {a:?} <= {b:?} <= {c:?} but {a:?} > {c:?}");
    }
}

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// Every entry point, by corpus directory name.
pub const TARGETS: &[(&str, Entry)] = &[
    ("advisory_feed", advisory_feed),
    ("inventory_file", inventory_file),
    ("cpe_name", cpe_name),
    ("version_order", version_order),
];
