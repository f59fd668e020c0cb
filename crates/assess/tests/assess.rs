//! Acceptance: the shared advisory files (CVE 5, NVD, CSAF, KEV) against an
//! inventory fixture with, for each product, an affected version and the
//! first version that is not (`testdata/assess/ledger.csv`). Every expected
//! finding is produced and no other; the expected list is written here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sekimori_assess::aliases::Aliases;
use sekimori_assess::feeds::{self, FeedEvent};
use sekimori_assess::inventory;
use sekimori_assess::matching::{
    Confidence, FeedSet, Finding, MatchOptions, MatchStatus, MatchedBy, Matcher,
};
use sekimori_assess::priority;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

fn feeds() -> FeedSet {
    let mut set = FeedSet::default();
    let mut errors = Vec::new();
    let paths = [
        testdata("advisories/cve5"),
        testdata("advisories/nvd2"),
        testdata("advisories/csaf"),
        testdata("advisories/known_exploited_vulnerabilities.json"),
    ];
    feeds::read_paths(&paths, &mut |e| match e {
        FeedEvent::Record(r) => set.add(r),
        FeedEvent::Error(e) => errors.push(e),
        FeedEvent::Progress { .. } => {}
    });
    assert!(errors.is_empty(), "{errors:?}");
    set
}

fn run(options: MatchOptions) -> Vec<Finding> {
    let inv = inventory::read_path(&testdata("assess/ledger.csv")).unwrap();
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    assert_eq!(inv.items.len(), 33);
    let feeds = feeds();
    let aliases = Aliases::bundled();
    let mut found = Matcher::new(&feeds, &aliases).run(&inv.items, options);
    priority::rank(&mut found);
    found
}

fn all() -> Vec<Finding> {
    run(MatchOptions { include_not_affected: true, ..MatchOptions::default() })
}

use Confidence::{High as H, Low as L, Medium as M};
use MatchStatus::{Affected as A, NotAffected as N, PossiblyAffected as P};

/// (asset, CVE, status, confidence) of every finding from a record with
/// version data.
const EXPECTED: &[(&str, &str, MatchStatus, Confidence)] = &[
    ("adc-1", "CVE-2023-3466", A, H),
    ("adc-2", "CVE-2023-3466", N, M),
    ("core-sw-1", "CVE-2023-20198", A, H),
    ("core-sw-2", "CVE-2023-20198", N, M),
    ("dicom-router-1", "CVE-2022-2119", A, H),
    ("dicom-router-1", "CVE-2022-2120", A, H),
    ("dicom-router-1", "CVE-2022-2121", A, H),
    ("dicom-router-2", "CVE-2022-2119", N, H),
    ("dicom-router-2", "CVE-2022-2120", N, H),
    ("dicom-router-2", "CVE-2022-2121", N, H),
    ("ecg-1", "CVE-2022-26388", A, M),
    ("ecg-1", "CVE-2022-26389", A, M),
    ("ecg-2", "CVE-2022-26388", N, M),
    ("ecg-2", "CVE-2022-26389", N, M),
    ("ehr-db-1", "CVE-2021-34527", A, H),
    ("ehr-db-2", "CVE-2021-34527", N, M),
    ("ics-1", "CVE-2024-21893", A, H),
    ("ics-2", "CVE-2024-21893", A, M),
    ("ics-3", "CVE-2024-21893", N, H),
    ("icu-monitor-1", "CVE-2022-3027", A, H),
    ("icu-monitor-1", "CVE-2022-36385", A, H),
    ("icu-monitor-1", "CVE-2022-38069", A, H),
    ("icu-monitor-1", "CVE-2022-38100", A, H),
    ("icu-monitor-1", "CVE-2022-38453", A, H),
    ("nurse-call-remote", "CVE-2018-8863", A, H),
    ("nurse-call-remote-2", "CVE-2018-8863", N, H),
    ("old-fw", "CVE-2018-13379", A, H),
    ("old-fw", "CVE-2022-42475", A, H),
    ("old-fw", "CVE-2023-27997", A, H),
    ("old-fw", "CVE-2024-21762", A, H),
    ("pa-fw-1", "CVE-2024-3400", A, H),
    ("pa-fw-2", "CVE-2024-3400", N, H),
    ("pacs-ssh-new", "CVE-2024-6387", N, M),
    ("pacs-ssh-old", "CVE-2024-6387", A, M),
    ("pacs-viewer-1", "CVE-2023-39227", A, H),
    ("pacs-viewer-2", "CVE-2023-39227", N, H),
    ("portal-1", "CVE-2024-6795", N, H),
    ("portal-old", "CVE-2024-6795", A, H),
    ("pump-server-1", "CVE-2018-1285", A, H),
    ("pump-server-1", "CVE-2023-30559", A, H),
    ("pump-server-1", "CVE-2023-30560", A, H),
    ("pump-server-1", "CVE-2023-30561", A, H),
    ("pump-server-1", "CVE-2023-30562", A, H),
    ("pump-server-1", "CVE-2023-30563", A, H),
    ("pump-server-1", "CVE-2023-30564", A, H),
    ("pump-server-1", "CVE-2023-30565", A, H),
    ("pump-server-2", "CVE-2018-1285", N, H),
    ("pump-server-2", "CVE-2023-30559", N, H),
    ("pump-server-2", "CVE-2023-30560", N, H),
    ("pump-server-2", "CVE-2023-30561", N, H),
    ("pump-server-2", "CVE-2023-30562", N, H),
    ("pump-server-2", "CVE-2023-30563", N, H),
    ("pump-server-2", "CVE-2023-30564", N, H),
    ("pump-server-2", "CVE-2023-30565", N, H),
    ("unknown-version-fw", "CVE-2018-13379", P, L),
    ("unknown-version-fw", "CVE-2022-42475", P, L),
    ("unknown-version-fw", "CVE-2023-27997", P, L),
    ("unknown-version-fw", "CVE-2024-21762", P, L),
    ("vitals-1", "CVE-2024-1275", A, H),
    ("vitals-2", "CVE-2024-1275", N, H),
    ("vpn-gw-1", "CVE-2018-13379", N, H),
    ("vpn-gw-1", "CVE-2022-42475", N, H),
    ("vpn-gw-1", "CVE-2023-27997", N, H),
    ("vpn-gw-1", "CVE-2024-21762", A, H),
    ("vpn-gw-2", "CVE-2018-13379", N, H),
    ("vpn-gw-2", "CVE-2022-42475", N, H),
    ("vpn-gw-2", "CVE-2023-27997", N, H),
    ("vpn-gw-2", "CVE-2024-21762", N, H),
];

/// KEV entries whose CVE has no imported record: matched by the catalogue's
/// vendor/product alone, always "possibly affected", low confidence.
const EXPECTED_KEV_ONLY: &[(&str, &[&str])] = &[
    (
        "adc-1",
        &[
            "CVE-2019-12989",
            "CVE-2019-12991",
            "CVE-2019-19781",
            "CVE-2020-8193",
            "CVE-2020-8195",
            "CVE-2020-8196",
            "CVE-2022-27518",
            "CVE-2023-3519",
            "CVE-2023-4966",
            "CVE-2023-6548",
            "CVE-2023-6549",
            "CVE-2025-5777",
            "CVE-2025-6543",
        ],
    ),
    (
        "adc-2",
        &[
            "CVE-2019-12989",
            "CVE-2019-12991",
            "CVE-2019-19781",
            "CVE-2020-8193",
            "CVE-2020-8195",
            "CVE-2020-8196",
            "CVE-2022-27518",
            "CVE-2023-3519",
            "CVE-2023-4966",
            "CVE-2023-6548",
            "CVE-2023-6549",
            "CVE-2025-5777",
            "CVE-2025-6543",
        ],
    ),
    (
        "core-sw-1",
        &[
            "CVE-2016-6415",
            "CVE-2017-12237",
            "CVE-2017-12240",
            "CVE-2017-12319",
            "CVE-2017-3881",
            "CVE-2017-6627",
            "CVE-2017-6663",
            "CVE-2017-6736",
            "CVE-2017-6737",
            "CVE-2017-6738",
            "CVE-2017-6739",
            "CVE-2017-6740",
            "CVE-2017-6742",
            "CVE-2017-6743",
            "CVE-2018-0151",
            "CVE-2018-0156",
            "CVE-2018-0158",
            "CVE-2018-0159",
            "CVE-2018-0167",
            "CVE-2018-0171",
            "CVE-2018-0172",
            "CVE-2018-0173",
            "CVE-2018-0174",
            "CVE-2018-0175",
            "CVE-2023-20109",
        ],
    ),
    (
        "core-sw-2",
        &[
            "CVE-2016-6415",
            "CVE-2017-12237",
            "CVE-2017-12240",
            "CVE-2017-12319",
            "CVE-2017-3881",
            "CVE-2017-6627",
            "CVE-2017-6663",
            "CVE-2017-6736",
            "CVE-2017-6737",
            "CVE-2017-6738",
            "CVE-2017-6739",
            "CVE-2017-6740",
            "CVE-2017-6742",
            "CVE-2017-6743",
            "CVE-2018-0151",
            "CVE-2018-0156",
            "CVE-2018-0158",
            "CVE-2018-0159",
            "CVE-2018-0167",
            "CVE-2018-0171",
            "CVE-2018-0172",
            "CVE-2018-0173",
            "CVE-2018-0174",
            "CVE-2018-0175",
            "CVE-2023-20109",
        ],
    ),
    (
        "ics-1",
        &[
            "CVE-2019-11510",
            "CVE-2019-11539",
            "CVE-2020-8218",
            "CVE-2020-8243",
            "CVE-2020-8260",
            "CVE-2021-22893",
            "CVE-2021-22894",
            "CVE-2021-22899",
            "CVE-2021-22900",
            "CVE-2023-46805",
            "CVE-2024-21887",
            "CVE-2025-0282",
            "CVE-2025-22457",
        ],
    ),
    (
        "ics-2",
        &[
            "CVE-2019-11510",
            "CVE-2019-11539",
            "CVE-2020-8218",
            "CVE-2020-8243",
            "CVE-2020-8260",
            "CVE-2021-22893",
            "CVE-2021-22894",
            "CVE-2021-22899",
            "CVE-2021-22900",
            "CVE-2023-46805",
            "CVE-2024-21887",
            "CVE-2025-0282",
            "CVE-2025-22457",
        ],
    ),
    (
        "ics-3",
        &[
            "CVE-2019-11510",
            "CVE-2019-11539",
            "CVE-2020-8218",
            "CVE-2020-8243",
            "CVE-2020-8260",
            "CVE-2021-22893",
            "CVE-2021-22894",
            "CVE-2021-22899",
            "CVE-2021-22900",
            "CVE-2023-46805",
            "CVE-2024-21887",
            "CVE-2025-0282",
            "CVE-2025-22457",
        ],
    ),
    (
        "old-fw",
        &[
            "CVE-2018-13374",
            "CVE-2018-13382",
            "CVE-2018-13383",
            "CVE-2019-5591",
            "CVE-2019-6693",
            "CVE-2020-12812",
            "CVE-2021-44168",
            "CVE-2022-41328",
            "CVE-2024-55591",
            "CVE-2025-24472",
        ],
    ),
    (
        "pa-fw-1",
        &[
            "CVE-2017-15944",
            "CVE-2019-1579",
            "CVE-2020-2021",
            "CVE-2022-0028",
            "CVE-2024-0012",
            "CVE-2024-3393",
            "CVE-2024-9474",
            "CVE-2025-0108",
            "CVE-2025-0111",
        ],
    ),
    (
        "pa-fw-2",
        &[
            "CVE-2017-15944",
            "CVE-2019-1579",
            "CVE-2020-2021",
            "CVE-2022-0028",
            "CVE-2024-0012",
            "CVE-2024-3393",
            "CVE-2024-9474",
            "CVE-2025-0108",
            "CVE-2025-0111",
        ],
    ),
    (
        "unknown-version-fw",
        &[
            "CVE-2018-13374",
            "CVE-2018-13382",
            "CVE-2018-13383",
            "CVE-2019-5591",
            "CVE-2019-6693",
            "CVE-2020-12812",
            "CVE-2021-44168",
            "CVE-2022-41328",
            "CVE-2024-55591",
            "CVE-2025-24472",
        ],
    ),
    (
        "vpn-gw-1",
        &[
            "CVE-2018-13374",
            "CVE-2018-13382",
            "CVE-2018-13383",
            "CVE-2019-5591",
            "CVE-2019-6693",
            "CVE-2020-12812",
            "CVE-2021-44168",
            "CVE-2022-41328",
            "CVE-2024-55591",
            "CVE-2025-24472",
        ],
    ),
    (
        "vpn-gw-2",
        &[
            "CVE-2018-13374",
            "CVE-2018-13382",
            "CVE-2018-13383",
            "CVE-2019-5591",
            "CVE-2019-6693",
            "CVE-2020-12812",
            "CVE-2021-44168",
            "CVE-2022-41328",
            "CVE-2024-55591",
            "CVE-2025-24472",
        ],
    ),
];

#[test]
fn every_expected_finding_and_no_other() {
    let found = all();
    let got: BTreeSet<(String, String, MatchStatus, Confidence)> = found
        .iter()
        .filter(|f| f.matched_by != MatchedBy::KevProduct)
        .map(|f| (f.asset.clone(), f.cve.clone(), f.status, f.confidence))
        .collect();
    let want: BTreeSet<(String, String, MatchStatus, Confidence)> =
        EXPECTED.iter().map(|(a, c, s, k)| ((*a).to_owned(), (*c).to_owned(), *s, *k)).collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let unexpected: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing {missing:#?}\nunexpected {unexpected:#?}"
    );

    let kev_got: BTreeSet<(String, String)> = found
        .iter()
        .filter(|f| f.matched_by == MatchedBy::KevProduct)
        .inspect(|f| {
            assert_eq!((f.status, f.confidence), (P, L), "{} {}", f.asset, f.cve);
            assert!(f.known_exploited);
        })
        .map(|f| (f.asset.clone(), f.cve.clone()))
        .collect();
    let kev_want: BTreeSet<(String, String)> = EXPECTED_KEV_ONLY
        .iter()
        .flat_map(|(a, cves)| cves.iter().map(|c| ((*a).to_owned(), (*c).to_owned())))
        .collect();
    assert_eq!(kev_got, kev_want);
}

#[test]
fn default_run_leaves_out_not_affected() {
    let found = run(MatchOptions::default());
    assert!(found.iter().all(|f| f.status != N));
    let with_all = all();
    assert_eq!(found.len(), with_all.iter().filter(|f| f.status != N).count());
}

#[test]
fn the_index_and_the_linear_scan_agree() {
    let indexed = all();
    let linear = run(MatchOptions { include_not_affected: true, linear_scan: true });
    let key = |f: &Finding| {
        (f.priority, f.asset.clone(), f.cve.clone(), f.status, f.confidence, f.why.clone())
    };
    assert_eq!(
        indexed.iter().map(key).collect::<Vec<_>>(),
        linear.iter().map(key).collect::<Vec<_>>()
    );
}

fn finding<'a>(found: &'a [Finding], asset: &str, cve: &str) -> &'a Finding {
    found
        .iter()
        .find(|f| f.asset == asset && f.cve == cve)
        .unwrap_or_else(|| panic!("no finding {asset} {cve}"))
}

#[test]
fn a_vpn_appliance_with_a_kev_entry_is_at_the_top() {
    let found = all();
    let first = &found[0];
    assert_eq!(first.priority, 1);
    assert!(first.known_exploited && first.remote_path && first.status == A, "{first:#?}");
    // Every affected KEV finding on a remote-access device ranks above every
    // other finding.
    let top_tier = found
        .iter()
        .take_while(|f| f.known_exploited && (f.remote_path || f.internet_facing) && f.status == A)
        .count();
    assert!(top_tier >= 8, "{top_tier}");
    let later = &found[top_tier..];
    assert!(!later.iter().any(|f| f.known_exploited && f.remote_path && f.status == A));
    // The FortiGate of the incident's kind, on FortiOS 7.0.13, is in that tier.
    let gw = finding(&found, "vpn-gw-1", "CVE-2024-21762");
    assert!(gw.priority as usize <= top_tier);
    assert!(gw.ransomware || gw.known_exploited);
    assert_eq!(gw.fix.as_deref(), Some("fixed in 7.0.14"));
    // Not affected findings come last.
    let first_not = found.iter().position(|f| f.status == N).unwrap();
    assert!(found[first_not..].iter().all(|f| f.status == N));
}

#[test]
fn why_names_the_identity_the_range_and_the_version() {
    let found = all();
    let f = finding(&found, "vpn-gw-1", "CVE-2024-21762");
    assert!(f.why.contains("version 7.0.13"), "{}", f.why);
    assert!(f.why.contains("7.0.0") && f.why.contains("7.0.13"), "{}", f.why);
    assert!(f.why_ja.contains("バージョン 7.0.13"), "{}", f.why_ja);

    // Drifting names: a ledger row saying "Pulse Secure / Pulse Connect
    // Secure" meets Ivanti's "ICS".
    let ics = finding(&found, "ics-1", "CVE-2024-21893");
    assert_eq!((ics.status, ics.confidence, ics.matched_by), (A, H, MatchedBy::Name));
    assert!(ics.why.contains("Ivanti ICS"), "{}", ics.why);

    // `version 22.6R2 lessThanOrEqual 22.6R2` read as "up to 22.6R2", said so.
    let quirk = finding(&found, "ics-2", "CVE-2024-21893");
    assert_eq!((quirk.status, quirk.confidence), (A, M));
    assert!(quirk.why.contains("read as"), "{}", quirk.why);

    // Citrix `version 13.1 lessThan 49.13` is 13.1 builds before 13.1-49.13.
    let adc = finding(&found, "adc-1", "CVE-2023-3466");
    assert_eq!((adc.status, adc.confidence), (A, H));
    assert_eq!(adc.fix.as_deref(), Some("fixed in 13.1-49.13"));

    // No version in the ledger: possibly affected, and why.
    let unknown = finding(&found, "unknown-version-fw", "CVE-2024-21762");
    assert_eq!((unknown.status, unknown.confidence), (P, L));
    assert!(unknown.why.contains("no version"), "{}", unknown.why);

    // CSAF product names by name words, medium confidence; the fixed
    // version comes from the remediation text.
    let dcmtk = finding(&found, "dicom-router-1", "CVE-2022-2119");
    assert_eq!(dcmtk.fix.as_deref(), Some("fixed in 3.6.7"));
    let ecg = finding(&found, "ecg-1", "CVE-2022-26388");
    assert_eq!(ecg.matched_by, MatchedBy::NameWords);

    // An advisory naming no vendor (OpenSSH by package name).
    let ssh = finding(&found, "pacs-ssh-old", "CVE-2024-6387");
    assert_eq!((ssh.status, ssh.matched_by), (A, MatchedBy::ProductOnly));

    // Sources that agree are listed together.
    let old = finding(&found, "old-fw", "CVE-2018-13379");
    assert!(old.sources.contains(&"nvd".to_owned()), "{:?}", old.sources);
}

#[test]
fn nothing_matches_a_product_no_advisory_names() {
    let found = all();
    assert!(!found.iter().any(|f| f.asset == "printer-1"));
}

/// Many items are matched on several threads; the findings are the same,
/// in the same order, as matching the items one by one.
#[test]
fn a_large_inventory_matched_on_every_core_gives_the_one_thread_findings() {
    let inv = inventory::read_path(&testdata("assess/ledger.csv")).unwrap();
    // 33 × 40 = 1,320 items: past the threshold for more than one thread.
    // Each copy named apart, so findings out of order would show.
    let items: Vec<_> = (0..40)
        .flat_map(|k| {
            inv.items.iter().cloned().map(move |mut i| {
                i.name = format!("{}-{k}", i.name);
                i.id = format!("{}-{k}", i.id);
                i
            })
        })
        .collect();
    let feeds = feeds();
    let aliases = Aliases::bundled();
    let matcher = Matcher::new(&feeds, &aliases);
    let options = MatchOptions { include_not_affected: true, ..MatchOptions::default() };
    let together = matcher.run(&items, options);
    let one_by_one: Vec<Finding> =
        items.iter().flat_map(|i| matcher.run(std::slice::from_ref(i), options)).collect();
    assert_eq!(together.len(), one_by_one.len());
    let json = |f: &[Finding]| serde_json::to_string(f).unwrap();
    assert!(json(&together) == json(&one_by_one), "the findings differ");
}
