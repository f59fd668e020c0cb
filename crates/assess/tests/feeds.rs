//! Advisory feed reading: the real sample files, hand-written fixtures,
//! hostile input, zip archives and directory walks.

use std::io::Write;
use std::path::{Path, PathBuf};

use sekimori_assess::InputError;
use sekimori_assess::feeds::{FeedEvent, Limits, read_bytes, read_paths, read_paths_with};
use sekimori_assess::model::{
    Affected, Bound, FeedRecord, KevEntry, Source, Status, VersionRange, Vulnerability,
};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories").join(rel)
}

#[derive(Default, Debug)]
struct Out {
    records: Vec<FeedRecord>,
    errors: Vec<InputError>,
    progress: Vec<(u64, u64)>,
}

impl Out {
    fn vulns(&self) -> Vec<&Vulnerability> {
        self.records
            .iter()
            .filter_map(|r| match r {
                FeedRecord::Vulnerability(v) => Some(v),
                _ => None,
            })
            .collect()
    }
    fn vuln(&self, id: &str) -> &Vulnerability {
        self.vulns().into_iter().find(|v| v.id == id).unwrap_or_else(|| panic!("no {id}"))
    }
    fn kev(&self) -> Vec<&KevEntry> {
        self.records
            .iter()
            .filter_map(|r| match r {
                FeedRecord::Kev(k) => Some(k),
                _ => None,
            })
            .collect()
    }
}

fn sink(out: &mut Out) -> impl FnMut(FeedEvent) + '_ {
    |e| match e {
        FeedEvent::Record(r) => out.records.push(r),
        FeedEvent::Error(e) => out.errors.push(e),
        FeedEvent::Progress { done, total } => out.progress.push((done, total)),
    }
}

fn paths(ps: &[PathBuf]) -> Out {
    let mut out = Out::default();
    read_paths(ps, &mut sink(&mut out));
    out
}

fn bytes(name: &str, b: &[u8]) -> Out {
    let mut out = Out::default();
    read_bytes(Path::new(name), b, &mut sink(&mut out));
    out
}

fn bound(v: &str, inclusive: bool) -> Option<Bound> {
    Some(Bound { version: v.to_string(), inclusive })
}

fn fixed_versions(a: &Affected) -> Vec<&str> {
    a.fixes.iter().filter_map(|f| f.fixed_version.as_deref()).collect()
}

// ---------------------------------------------------------------- KEV

#[test]
fn kev_catalogue_reads_all_1404_entries() {
    let out = paths(&[data("known_exploited_vulnerabilities.json")]);
    assert_eq!(out.errors, vec![]);
    let kev = out.kev();
    assert_eq!(kev.len(), 1404);
    assert_eq!(kev.iter().filter(|k| k.known_ransomware).count(), 293);
    let git = kev[0];
    assert_eq!(git.cve, "CVE-2025-48384");
    assert_eq!(git.vendor_project, "Git");
    assert_eq!(git.product, "Git");
    assert_eq!(git.name, "Git Link Following Vulnerability");
    assert_eq!(git.date_added, "2025-08-25");
    assert_eq!(git.due_date, "2025-09-15");
    assert!(!git.known_ransomware);
    assert!(git.cwes.contains(&"CWE-59".to_string()));
    assert!(git.required_action.starts_with("Apply mitigations per vendor instructions"));
    let ivanti = kev.iter().find(|k| k.cve == "CVE-2024-21893").expect("21893 in KEV");
    assert_eq!(ivanti.date_added, "2024-01-31");
}

#[test]
fn kev_corrupted_entry_is_one_error_with_its_path() {
    let text = std::fs::read_to_string(data("known_exploited_vulnerabilities.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["vulnerabilities"][17]["dueDate"] = serde_json::json!(20250915);
    let out = bytes("kev.json", serde_json::to_string_pretty(&doc).unwrap().as_bytes());
    assert_eq!(out.kev().len(), 1403);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    let e = &out.errors[0];
    assert_eq!(e.location, "$.vulnerabilities[17].dueDate");
    assert_eq!(e.file, PathBuf::from("kev.json"));
    assert!(e.message.contains("invalid type: integer `20250915`"), "{}", e.message);
    assert!(e.message.contains("line "), "absolute position: {}", e.message);
    assert!(!out.kev().iter().any(|k| k.cve == "CVE-2025-2776"), "entry 17 skipped");

    // An element that is not an object, and one without cveID.
    doc["vulnerabilities"][17]["dueDate"] = serde_json::json!("2025-09-15");
    doc["vulnerabilities"][3] = serde_json::json!(42);
    doc["vulnerabilities"][5].as_object_mut().unwrap().remove("cveID");
    doc["vulnerabilities"][9]["cwes"] = serde_json::json!("CWE-79");
    let out = bytes("kev.json", serde_json::to_vec(&doc).unwrap().as_slice());
    assert_eq!(out.kev().len(), 1401);
    let locs: Vec<&str> = out.errors.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(
        locs,
        ["$.vulnerabilities[3]", "$.vulnerabilities[5].cveID", "$.vulnerabilities[9].cwes"]
    );
}

// ---------------------------------------------------------------- CVE 5

#[test]
fn cve5_all_samples_parse() {
    let out = paths(&[data("cve5")]);
    assert_eq!(out.errors, vec![]);
    let ids: Vec<&str> = out.vulns().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "CVE-2018-13379",
            "CVE-2018-8863",
            "CVE-2021-34527",
            "CVE-2022-42475",
            "CVE-2023-20198",
            "CVE-2023-27997",
            "CVE-2023-30563",
            "CVE-2023-3466",
            "CVE-2023-39227",
            "CVE-2024-1275",
            "CVE-2024-21762",
            "CVE-2024-21893",
            "CVE-2024-3400",
            "CVE-2024-6387",
            "CVE-2024-6795",
        ]
    );
    assert!(out.vulns().iter().all(|v| v.source == Source::Cve5));
    // CNA + vulnrichment ADP affected entries.
    let counts: Vec<usize> = out.vulns().iter().map(|v| v.affected.len()).collect();
    assert_eq!(counts, [1, 1, 24, 2, 1, 3, 1, 2, 1, 2, 11, 19, 6, 15, 2]);
    assert_eq!(out.progress.first(), Some(&(0, 15)));
    assert_eq!(out.progress.last(), Some(&(15, 15)));
}

#[test]
fn cve5_ivanti_less_than_or_equal_equal_to_version() {
    let out = paths(&[data("cve5/CVE-2024-21893.json")]);
    let v = out.vuln("CVE-2024-21893");
    assert_eq!(v.published.as_deref(), Some("2024-01-31T17:51:35.095Z"));
    assert_eq!(v.modified.as_deref(), Some("2024-08-01T22:35:33.414Z"));
    assert!(v.description.as_deref().unwrap().starts_with("A server-side request forgery"));
    assert_eq!(v.title, None);
    let ics = &v.affected[0];
    assert_eq!((ics.vendor.as_str(), ics.product.as_str()), ("Ivanti", "ICS"));
    assert_eq!(ics.default_status, Status::Unaffected);
    assert_eq!(
        ics.versions,
        vec![
            VersionRange {
                status: Status::Affected,
                exact: None,
                start: bound("9.1R18", true),
                end: bound("9.1R18", true),
                scheme_hint: Some("semver".into()),
                text: "version 9.1R18 lessThanOrEqual 9.1R18".into(),
            },
            VersionRange {
                status: Status::Affected,
                exact: None,
                start: bound("22.6R2", true),
                end: bound("22.6R2", true),
                scheme_hint: Some("semver".into()),
                text: "version 22.6R2 lessThanOrEqual 22.6R2".into(),
            },
        ]
    );
    assert!(ics.fixes.is_empty(), "lessThanOrEqual names no fix");
    assert_eq!(v.affected[1].product, "IPS");
    assert_eq!(v.affected[1].versions[1].end, bound("22.6R1", true));
    // vulnrichment ADP: CPE entries and the KEV reference.
    let adp = &v.affected[2];
    assert_eq!((adp.vendor.as_str(), adp.product.as_str()), ("ivanti", "connect_secure"));
    assert_eq!(adp.cpes, ["cpe:2.3:a:ivanti:connect_secure:9.0:-:*:*:*:*:*:*"]);
    assert_eq!(adp.versions[0].exact.as_deref(), Some("9.0"));
    assert_eq!(adp.default_status, Status::Unknown);
    assert_eq!(v.kev_hint.as_ref().unwrap().date_added.as_deref(), Some("2024-01-31"));
    assert_eq!(v.cvss.len(), 1);
    let c = &v.cvss[0];
    assert_eq!((c.version.as_str(), c.base_score, c.primary), ("3.0", 8.2, true));
    assert_eq!(c.vector.as_deref(), Some("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N"));
}

#[test]
fn cve5_changes_all_and_fixed_versions() {
    let out = paths(&[data("cve5/CVE-2024-3400.json")]);
    let v = out.vuln("CVE-2024-3400");
    assert_eq!(v.cwes, ["CWE-77", "CWE-20"]);
    assert!(v.title.as_deref().unwrap().starts_with("PAN-OS: Arbitrary File Creation"));
    let pan = &v.affected[0];
    assert_eq!(pan.product, "PAN-OS");
    assert_eq!(pan.versions[0].status, Status::Unaffected);
    assert_eq!(pan.versions[0].exact.as_deref(), Some("9.0.0"));
    let r = &pan.versions[4];
    assert_eq!(r.start, bound("10.2.0", true));
    assert_eq!(r.end, bound("10.2.9-h1", false));
    assert_eq!(r.text, "version 10.2.0 lessThan 10.2.9-h1 changes 10.2.9-h1:unaffected");
    assert_eq!(r.scheme_hint.as_deref(), Some("custom"));
    let fixes = fixed_versions(pan);
    assert!(fixes.contains(&"10.2.9-h1") && fixes.contains(&"11.0.4-h1"), "{fixes:?}");
    assert!(pan.fixes.iter().all(|f| f.category == "fixed_version"));
    // `version: All, status: unaffected` → every version, unaffected.
    let cloud = &v.affected[1];
    assert_eq!(cloud.product, "Cloud NGFW");
    assert_eq!(
        cloud.versions,
        vec![VersionRange {
            status: Status::Unaffected,
            exact: None,
            start: None,
            end: None,
            scheme_hint: None,
            text: "version All".into()
        }]
    );
    let primary: Vec<_> = v.cvss.iter().filter(|c| c.primary).collect();
    assert_eq!(primary.len(), 1);
    assert_eq!(primary[0].base_score, 10.0);
    assert!(v.kev_hint.is_some());
}

#[test]
fn cve5_rpm_open_ranges_package_name_and_free_text() {
    let out = paths(&[
        data("cve5/CVE-2024-6387.json"),
        data("cve5/CVE-2018-13379.json"),
        data("cve5/CVE-2023-39227.json"),
        data("cve5/CVE-2024-1275.json"),
    ]);
    assert_eq!(out.errors, vec![]);
    let v = out.vuln("CVE-2024-6387");
    let upstream = &v.affected[0];
    assert_eq!((upstream.vendor.as_str(), upstream.product.as_str()), ("", "OpenSSH"));
    assert_eq!(upstream.versions[0].start, bound("8.5p1", true));
    assert_eq!(upstream.versions[0].end, bound("9.7p1", true));
    let rhel = &v.affected[1];
    assert_eq!(rhel.default_status, Status::Affected);
    assert_eq!(rhel.versions[0].status, Status::Unaffected);
    assert_eq!(rhel.versions[0].start, bound("0:8.7p1-38.el9_4.1", true));
    assert_eq!(rhel.versions[0].end, None);
    assert_eq!(fixed_versions(rhel), ["0:8.7p1-38.el9_4.1"]);
    assert_eq!(rhel.cpes[0], "cpe:/o:redhat:enterprise_linux:9::baseos");

    // Free text kept whole, nothing invented.
    let forti = &out.vuln("CVE-2018-13379").affected[0];
    let text = "FortiOS 6.0.0 to 6.0.4, 5.6.3 to 5.6.7 and 5.4.6 to 5.4.12, FortiProxy 2.0.0, 1.2.0 to 1.2.8, 1.1.0 to 1.1.6, 1.0.0 to 1.0.7";
    assert_eq!(forti.versions[0].exact.as_deref(), Some(text));
    assert_eq!((forti.versions[0].start.as_ref(), forti.versions[0].end.as_ref()), (None, None));
    assert_eq!(forti.versions[0].text, format!("version {text}"));

    // `version 0` → no start; blanks around a bound trimmed, text as written.
    let pacs = &out.vuln("CVE-2023-39227").affected[0];
    assert_eq!(pacs.versions[0].start, None);
    assert_eq!(pacs.versions[0].end, bound("v7.2.8.810", true));
    assert_eq!(pacs.versions[0].text, "version 0 lessThanOrEqual  v7.2.8.810");

    let baxter = out.vuln("CVE-2024-1275");
    assert_eq!(baxter.cvss[0].version, "4.0");
    assert_eq!(baxter.cwes, ["CWE-1394"]);
}

#[test]
fn cve5_free_text_patterns_and_lenient_versions() {
    let rec = r#"{"dataType":"CVE_RECORD","dataVersion":"5.1",
      "cveMetadata":{"cveId":"CVE-2099-0100","state":"PUBLISHED"},
      "containers":{"cna":{"descriptions":[{"lang":"en","value":"x"}],
        "affected":[{"vendor":"V","product":"P","defaultStatus":"unaffected","versions":[
          {"version":"All versions prior to 3.2","status":"affected"},
          {"version":"before v4.1","status":"affected"},
          {"version":"2.8 and prior","status":"affected"},
          {"version":"Versions 1.9 and earlier","status":"affected"},
          {"version":"9.x","status":"affected"},
          {"version":"n/a","status":"affected"},
          {"version":"*","status":"affected"},
          {"version":5,"status":"affected","lessThan":7},
          {"version":"n/a","lessThan":"2.0","status":"affected","versionType":"custom"}
        ]}]}}}"#;
    let out = bytes("rec.json", rec.as_bytes());
    assert_eq!(out.errors, vec![]);
    let vs = &out.vuln("CVE-2099-0100").affected[0].versions;
    let b = |i: usize| (vs[i].exact.as_deref(), vs[i].start.clone(), vs[i].end.clone());
    assert_eq!(b(0), (None, None, bound("3.2", false)));
    assert_eq!(b(1), (None, None, bound("v4.1", false)));
    assert_eq!(b(2), (None, None, bound("2.8", true)));
    assert_eq!(b(3), (None, None, bound("1.9", true)));
    assert_eq!(b(4), (Some("9.x"), None, None));
    assert_eq!(b(5), (Some("n/a"), None, None));
    assert_eq!(b(6), (None, None, None));
    assert_eq!(b(7), (None, bound("5", true), bound("7", false)));
    assert_eq!(b(8), (None, None, bound("2.0", false)));
    assert_eq!(vs[0].text, "version All versions prior to 3.2");
}

#[test]
fn cve5_bad_adp_is_reported_and_cna_kept() {
    let rec = r#"{"dataType":"CVE_RECORD","cveMetadata":{"cveId":"CVE-2099-0101"},
      "containers":{"cna":{"affected":[{"vendor":"V","product":"P","versions":[{"version":"1.0","status":"affected"}]}]},
        "adp":[{"metrics":"not a list"}]}}"#;
    let out = bytes("rec.json", rec.as_bytes());
    assert_eq!(out.vulns().len(), 1);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].location, "$.containers.adp[0]");

    let rec = r#"{"dataType":"CVE_RECORD","cveMetadata":{"cveId":"CVE-2099-0102"},
      "containers":{"cna":{"affected":[{"vendor":"V","product":["not","a","string"]}]}}}"#;
    let out = bytes("rec.json", rec.as_bytes());
    assert_eq!(out.records.len(), 0);
    assert_eq!(out.errors[0].location, "$.containers.cna");
    assert!(out.errors[0].message.contains("line 2"), "{}", out.errors[0].message);

    let rec = r#"{"dataType":"CVE_RECORD","cveMetadata":{"state":"PUBLISHED"},"containers":{}}"#;
    let out = bytes("rec.json", rec.as_bytes());
    assert_eq!(out.errors[0].location, "$.cveMetadata.cveId");
}

#[test]
fn cve5_rejected_record_is_kept_without_products() {
    let rec = r#"{"dataType":"CVE_RECORD","cveMetadata":{"cveId":"CVE-2099-0103","state":"REJECTED"},
      "containers":{"cna":{"rejectedReasons":[{"lang":"en","value":"Duplicate of CVE-2099-0001."}]}}}"#;
    let out = bytes("rec.json", rec.as_bytes());
    let v = out.vuln("CVE-2099-0103");
    assert_eq!(v.description.as_deref(), Some("Duplicate of CVE-2099-0001."));
    assert!(v.affected.is_empty());
}

#[test]
fn cve5_description_is_cut_to_4096_chars_on_a_char_boundary() {
    let long = "脆".repeat(5000);
    let rec = format!(
        r#"{{"dataType":"CVE_RECORD","cveMetadata":{{"cveId":"CVE-2099-0104"}},"containers":{{"cna":{{"title":"{}","descriptions":[{{"lang":"ja","value":"x"}},{{"lang":"en-US","value":"{long}"}}]}}}}}}"#,
        "t".repeat(600)
    );
    let out = bytes("rec.json", rec.as_bytes());
    let v = out.vuln("CVE-2099-0104");
    assert_eq!(v.description.as_deref().unwrap().chars().count(), 4096);
    assert_eq!(v.title.as_deref().unwrap().len(), 512);
}

// ---------------------------------------------------------------- NVD

#[test]
fn nvd_single_objects() {
    let out = paths(&[data("nvd2")]);
    assert_eq!(out.errors, vec![]);
    assert_eq!(out.vulns().len(), 5);
    let v = out.vuln("CVE-2018-13379");
    assert_eq!(v.source, Source::Nvd);
    assert_eq!(v.cwes, ["CWE-22"]);
    assert_eq!(v.published.as_deref(), Some("2019-06-04T21:29:00.233"));
    let kev = v.kev_hint.as_ref().unwrap();
    assert_eq!(kev.date_added.as_deref(), Some("2021-11-03"));
    assert_eq!(kev.due_date.as_deref(), Some("2022-05-03"));
    let best = v.best_cvss().unwrap();
    assert_eq!((best.version.as_str(), best.base_score, best.primary), ("3.1", 9.8, true));
    assert_eq!(v.cvss.len(), 3);
    assert_eq!(v.affected.len(), 5);
    let a = &v.affected[0];
    assert_eq!((a.vendor.as_str(), a.product.as_str()), ("fortinet", "fortiproxy"));
    assert_eq!(a.default_status, Status::Unaffected);
    assert_eq!(a.cpes, ["cpe:2.3:a:fortinet:fortiproxy:*:*:*:*:*:*:*:*"]);
    assert_eq!(a.versions[0].start, None);
    assert_eq!(a.versions[0].end, bound("1.2.9", false));
    assert_eq!(
        a.versions[0].text,
        "cpe:2.3:a:fortinet:fortiproxy:*:*:*:*:*:*:*:* versionEndExcluding 1.2.9"
    );
    assert_eq!(fixed_versions(a), ["1.2.9"]);
    let exact = &v.affected[1];
    assert_eq!(exact.versions[0].exact.as_deref(), Some("2.0.0"));
    assert!(exact.fixes.is_empty());
    let os = &v.affected[2];
    assert_eq!(os.product, "fortios");
    assert_eq!(os.versions[0].start, bound("5.4.6", true));
    assert!(v.affected.iter().all(|a| a.requires_any.is_empty()));

    let awaiting = out.vuln("CVE-2024-1275");
    assert!(awaiting.affected.is_empty() && awaiting.cvss.is_empty());
    assert_eq!(awaiting.cwes, ["CWE-1394"]);
    assert_eq!(out.vuln("CVE-2024-21762").affected.len(), 10);
}

#[test]
fn nvd_response_and_configuration_gives_requires_any() {
    let out = paths(&[data("nvd2/handmade-response-and.json")]);
    assert_eq!(out.errors, vec![]);
    let v = out.vuln("CVE-2099-0001");
    assert_eq!(v.description.as_deref().unwrap().split(':').next(), Some("Hand-written fixture"));
    assert_eq!(v.cwes, ["CWE-287"]);
    assert_eq!(v.affected.len(), 3);
    let fw = &v.affected[0];
    assert_eq!(fw.product, "vitals_monitor_firmware");
    assert_eq!(
        fw.requires_any,
        [
            "cpe:2.3:h:examplemed:vitals_monitor_vm100:-:*:*:*:*:*:*:*",
            "cpe:2.3:h:examplemed:vitals_monitor_vm200:-:*:*:*:*:*:*:*"
        ]
    );
    assert_eq!(fw.versions[0].start, bound("2.0", true));
    assert_eq!(fw.versions[0].end, bound("2.4.1", false));
    // Escaped CPE: `\:` inside vendor and product.
    let gw = &v.affected[1];
    assert_eq!((gw.vendor.as_str(), gw.product.as_str()), ("example:med", "gateway:pro"));
    assert_eq!(gw.versions[0].exact.as_deref(), Some("3.1"));
    assert!(gw.requires_any.is_empty(), "OR configuration: no condition");
    let lite = &v.affected[2];
    assert_eq!(lite.versions[0].end, bound("1.9", true));
    assert!(lite.fixes.is_empty());
    assert!(out.vuln("CVE-2099-0002").affected.is_empty());
}

#[test]
fn nvd_response_bad_element_is_one_error() {
    let doc = r#"{"resultsPerPage":3,"vulnerabilities":[
      {"cve":{"id":"CVE-2099-0201","vulnStatus":"Analyzed"}},
      {"cve":{"id":"CVE-2099-0202","configurations":{"nodes":[]}}},
      {"nocve":1},
      {"cve":{"id":"CVE-2099-0203","vulnStatus":"Analyzed"}}]}"#;
    let out = bytes("page.json", doc.as_bytes());
    let ids: Vec<&str> = out.vulns().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["CVE-2099-0201", "CVE-2099-0203"]);
    let locs: Vec<&str> = out.errors.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(locs, ["$.vulnerabilities[1].cve", "$.vulnerabilities[2].cve"]);
    assert!(out.errors[0].message.contains("(line 3,"), "{}", out.errors[0].message);
}

// ---------------------------------------------------------------- CSAF

#[test]
fn csaf_all_samples_parse() {
    let out = paths(&[data("csaf")]);
    assert_eq!(out.errors, vec![]);
    assert_eq!(out.vulns().len(), 2 + 3 + 5 + 4 + 8);
    assert!(out.vulns().iter().all(|v| v.source == Source::Csaf && v.advisory.is_some()));
    let keys: Vec<String> = out.records.iter().take(2).map(FeedRecord::key).collect();
    assert_eq!(
        keys,
        ["csaf:ICSMA-22-167-01:CVE-2022-26388", "csaf:ICSMA-22-167-01:CVE-2022-26389"]
    );
}

#[test]
fn csaf_hillrom_products_and_ranges() {
    let out = paths(&[data("csaf/icsma-22-167-01.json")]);
    let v = out.vuln("CVE-2022-26388");
    assert_eq!(v.advisory.as_deref(), Some("ICSMA-22-167-01"));
    assert_eq!(v.cwes, ["CWE-259"]);
    assert_eq!((v.cvss[0].version.as_str(), v.cvss[0].base_score), ("3.0", 6.4));
    assert!(v.description.is_some());
    let names: Vec<&str> = v.affected.iter().map(|a| a.product.as_str()).collect();
    assert_eq!(
        names,
        [
            "Welch Allyn ELI 150c/BUR 150c/MLBUR 150c Resting Electrocardiograph",
            "Welch Allyn ELI 250c/BUR 250c Resting Electrocardiograph",
            "Welch Allyn ELI 280/BUR280/MLBUR 280 Resting Electrocardiograph",
            "Welch Allyn ELI 380 Resting Electrocardiograph",
        ]
    );
    let a = &v.affected[0];
    assert_eq!(a.vendor, "Hillrom and ELI, Baxter International Inc.");
    assert_eq!(a.default_status, Status::Unaffected);
    assert_eq!(
        a.versions,
        vec![VersionRange {
            status: Status::Affected,
            exact: None,
            start: None,
            end: bound("2.2.0", true),
            scheme_hint: None,
            text: "<= 2.2.0".into()
        }]
    );
    assert_eq!(v.affected[3].versions[0].end, bound("2.6.0", true));
    // Remediation texts name no version: fixes kept, no fixed_version.
    assert_eq!(a.fixes.len(), 3);
    assert!(a.fixes.iter().all(|f| f.fixed_version.is_none() && f.category == "vendor_fix"));
}

#[test]
fn csaf_fixed_versions_from_remediation_text() {
    let out = paths(&[
        data("csaf/icsma-22-174-01.json"),
        data("csaf/icsma-23-194-01.json"),
        data("csaf/icsma-22-251-01.json"),
        data("csaf/icsma-22-244-01.json"),
    ]);
    assert_eq!(out.errors, vec![]);
    // "update to Version 3.6.7 or later"
    let dcmtk = &out.vuln("CVE-2022-2119").affected[0];
    assert_eq!((dcmtk.vendor.as_str(), dcmtk.product.as_str()), ("OFFIS", "DCMTK"));
    assert_eq!(dcmtk.versions[0].end, bound("3.6.7", false));
    assert_eq!(dcmtk.versions[0].text, "< 3.6.7");
    assert_eq!(fixed_versions(dcmtk), ["3.6.7"]);

    let bd = out.vuln("CVE-2023-30565");
    let find = |p: &str| bd.affected.iter().find(|a| a.product == p).unwrap();
    assert_eq!(find("BD Alaris Systems Manager").versions[0].end, bound("12.3", true));
    assert_eq!(fixed_versions(find("BD Alaris Systems Manager")), ["12.5.1"]);
    assert_eq!(fixed_versions(find("Calculation Services")), ["1.1.1"]);
    // "CQI Reporter version 10.17 and earlier … no longer applies": not a fix.
    let cqi = find("CQI Reporter");
    assert!(cqi.fixes.iter().any(|f| f.category == "vendor_fix"));
    assert!(fixed_versions(cqi).is_empty());
    // Exact version in the tree.
    let editor = out
        .vuln("CVE-2023-30562")
        .affected
        .iter()
        .find(|a| a.versions[0].text == "12.1.3")
        .unwrap();
    assert_eq!(editor.product, "BD Alaris Guardrails Editor");
    assert_eq!(editor.versions[0].exact.as_deref(), Some("12.1.3"));

    // Free text in the tree is kept whole; "WBM version 20D30" is not read as a fix.
    let spectrum = out.vuln("CVE-2022-26390");
    let lvp = &spectrum.affected[1];
    assert_eq!(lvp.product, "Baxter Spectrum IQ LVP");
    assert_eq!(
        lvp.versions[0].exact.as_deref(),
        Some("9.x (with Wireless Battery Modules >= 22D19 | <= v22D28)")
    );
    assert!(spectrum.affected.iter().all(|a| fixed_versions(a).is_empty()));

    // vers:all/* → every version.
    let contec = &out.vuln("CVE-2022-36385").affected[0];
    assert_eq!(contec.vendor, "Contec Health");
    let r = &contec.versions[0];
    assert_eq!((r.exact.as_ref(), r.start.as_ref(), r.end.as_ref()), (None, None, None));
    assert_eq!(r.text, "vers:all/*");
}

fn csaf_doc(vulns: &str, tree_extra: &str) -> String {
    format!(
        r#"{{"document":{{"csaf_version":"2.0","category":"csaf_security_advisory","title":"Test advisory",
          "tracking":{{"id":"TEST-2099-01","initial_release_date":"2099-01-01T00:00:00Z","current_release_date":"2099-02-01T00:00:00Z"}}}},
        "product_tree":{{"branches":[{{"category":"vendor","name":"Acme","branches":[
           {{"category":"product_name","name":"Pump","branches":[
             {{"category":"product_version_range","name":"vers:generic/>=1.0|<2.0","product":{{"name":"Acme Pump 1.x","product_id":"P1",
                "product_identification_helper":{{"cpe":"cpe:2.3:h:acme:pump:*:*:*:*:*:*:*:*"}}}}}},
             {{"category":"product_version","name":"2.0.1","product":{{"name":"Acme Pump 2.0.1","product_id":"P2"}}}},
             {{"category":"product_version_range","name":"<2.3","product":{{"name":"Acme Pump <2.3","product_id":"P3"}}}},
             {{"category":"product_version_range","name":"All versions","product":{{"name":"Acme Pump all","product_id":"P4"}}}}
           ]}}]}}]{tree_extra}}},
        "vulnerabilities":{vulns}}}"#
    )
}

#[test]
fn csaf_statuses_vers_ranges_relationships_and_bad_vulnerabilities() {
    let tree_extra = r#","full_product_names":[{"name":"Acme Gateway OS 5","product_id":"G5","product_identification_helper":{"cpe":"cpe:2.3:o:acme:gateway_os:5:*:*:*:*:*:*:*"}}],
       "relationships":[{"category":"installed_on","product_reference":"P1","relates_to_product_reference":"G5",
         "full_product_name":{"name":"Acme Pump 1.x on Gateway OS 5","product_id":"P1-G5"}}],
       "product_groups":[{"group_id":"GR","product_ids":["P1","P3"]}]"#;
    let vulns = r#"[
      {"cve":"CVE-2099-0301","title":"Hard-coded key","notes":[{"category":"description","text":"A key."}],
       "product_status":{"known_affected":["P1","P1-G5","P9"],"fixed":["P2"],"known_not_affected":["P4"]},
       "remediations":[{"category":"vendor_fix","details":"Users should upgrade to v2.0.1 as soon as possible.","group_ids":["GR"]},
                       {"category":"mitigation","details":"Isolate the pump network.","url":"https://example.invalid/m"}]},
      {"title":"No product status"},
      {"cve":"CVE-2099-0303","product_status":{"known_affected":["P3"]},"scores":[{"cvss_v3":{"baseScore":"high"}}]},
      7,
      {"ids":[{"system_name":"Acme","text":"ACME-SA-1"}],"product_status":{"known_affected":["P3"]}}
    ]"#;
    let out = bytes("adv.json", csaf_doc(vulns, tree_extra).as_bytes());
    let ids: Vec<&str> = out.vulns().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["CVE-2099-0301", "TEST-2099-01#4"]);
    assert_eq!(out.vuln("TEST-2099-01#4").aliases, ["ACME-SA-1"]);
    let locs: Vec<&str> = out.errors.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(
        locs,
        [
            "$.vulnerabilities[0].product_status.known_affected[2]",
            "$.vulnerabilities[1].product_status",
            "$.vulnerabilities[2]",
            "$.vulnerabilities[3]",
        ]
    );
    let v = out.vuln("CVE-2099-0301");
    assert_eq!(v.title.as_deref(), Some("Hard-coded key"));
    assert_eq!(v.description.as_deref(), Some("A key."));
    assert_eq!(v.published.as_deref(), Some("2099-01-01T00:00:00Z"));
    assert_eq!(v.modified.as_deref(), Some("2099-02-01T00:00:00Z"));
    assert_eq!(v.affected.len(), 4);
    let p1 = &v.affected[0];
    assert_eq!((p1.vendor.as_str(), p1.product.as_str()), ("Acme", "Pump"));
    assert_eq!(p1.cpes, ["cpe:2.3:h:acme:pump:*:*:*:*:*:*:*:*"]);
    assert_eq!(p1.versions[0].start, bound("1.0", true));
    assert_eq!(p1.versions[0].end, bound("2.0", false));
    assert_eq!(p1.versions[0].scheme_hint.as_deref(), Some("generic"));
    assert_eq!(p1.versions[0].text, "vers:generic/>=1.0|<2.0");
    assert_eq!(fixed_versions(p1), ["2.0.1"], "group remediation text");
    let rel = &v.affected[1];
    assert_eq!(rel.product, "Pump");
    assert_eq!(rel.requires_any, ["cpe:2.3:o:acme:gateway_os:5:*:*:*:*:*:*:*"]);
    let p2 = &v.affected[2];
    assert_eq!(p2.versions[0].status, Status::Unaffected);
    assert_eq!(p2.versions[0].exact.as_deref(), Some("2.0.1"));
    assert_eq!(fixed_versions(p2), ["2.0.1"]);
    let p4 = &v.affected[3];
    assert_eq!(p4.versions[0].status, Status::Unaffected);
    assert_eq!(p4.versions[0].end, None);
    assert!(p4.fixes.is_empty());
    assert_eq!(v.remediations.len(), 1);
    assert_eq!(v.remediations[0].url.as_deref(), Some("https://example.invalid/m"));
    let p3 = &out.vuln("TEST-2099-01#4").affected[0];
    assert_eq!(p3.versions[0].end, bound("2.3", false));
}

// ---------------------------------------------------------------- OSV, EPSS

#[test]
fn osv_record() {
    let out = paths(&[data("osv")]);
    assert_eq!(out.errors, vec![]);
    let v = out.vuln("CVE-2099-1001");
    assert_eq!(v.source, Source::Osv);
    assert_eq!(v.aliases, ["GHSA-xxxx-yyyy-zzzz", "PYSEC-2099-17"]);
    assert_eq!(v.title.as_deref(), Some("Path traversal in dicomweb-proxy upload handler"));
    assert_eq!(v.cwes, ["CWE-22"]);
    assert_eq!(v.cvss.len(), 1, "v4 vector without a number is left out");
    assert_eq!((v.cvss[0].version.as_str(), v.cvss[0].base_score), ("3.1", 9.8));
    let py = &v.affected[0];
    assert_eq!((py.vendor.as_str(), py.product.as_str()), ("", "dicomweb-proxy"));
    assert_eq!(py.ecosystem.as_deref(), Some("PyPI"));
    assert_eq!(py.purl.as_deref(), Some("pkg:pypi/dicomweb-proxy"));
    assert_eq!(py.default_status, Status::Unaffected);
    assert_eq!(py.versions.len(), 2 + 4);
    assert_eq!(
        (py.versions[0].start.clone(), py.versions[0].end.clone()),
        (None, bound("1.4.2", false))
    );
    assert_eq!(py.versions[0].text, "ECOSYSTEM introduced 0 fixed 1.4.2");
    assert_eq!(py.versions[0].scheme_hint.as_deref(), Some("ECOSYSTEM"));
    assert_eq!(py.versions[1].start, bound("2.0.0", true));
    assert_eq!(py.versions[1].end, bound("2.1.0", true));
    assert_eq!(py.versions[2].exact.as_deref(), Some("1.4.0"));
    assert_eq!(fixed_versions(py), ["1.4.2"]);
    let npm = &v.affected[1];
    assert_eq!(npm.versions[0].start, bound("3.0.0", true));
    assert_eq!(npm.versions[0].end, bound("4.0.0", false));
    assert_eq!(npm.versions[1].scheme_hint.as_deref(), Some("GIT"));
    assert_eq!(fixed_versions(npm), ["9f1c2ab"]);
}

#[test]
fn osv_without_cve_alias_keeps_its_id() {
    let doc = r#"{"id":"GHSA-aaaa-bbbb-cccc","modified":"2025-01-01T00:00:00Z","aliases":[],
      "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H"}],
      "affected":[{"package":{"ecosystem":"Go","name":"example.invalid/x"}}]}"#;
    let out = bytes("osv.json", doc.as_bytes());
    let v = out.vuln("GHSA-aaaa-bbbb-cccc");
    assert!(v.aliases.is_empty());
    assert_eq!(v.cvss[0].base_score, 9.9);
    assert_eq!(v.affected[0].versions[0].text, "no ranges or versions given");
}

#[test]
fn epss_csv() {
    let out = paths(&[data("epss")]);
    let scores: Vec<_> = out
        .records
        .iter()
        .filter_map(|r| match r {
            FeedRecord::Epss(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(scores.len(), 4);
    assert_eq!(scores[0].cve, "CVE-2024-3400");
    assert_eq!(scores[0].score, 0.94321);
    assert_eq!(scores[0].percentile, 0.9995);
    assert_eq!(scores[0].date.as_deref(), Some("2025-11-01T00:00:00+0000"));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].location, "line 6");
    assert!(out.errors[0].message.contains("epss is not a number"));
}

// ---------------------------------------------------------------- hostile input

fn one_error(out: Out) -> InputError {
    assert_eq!(out.records.len(), 0, "{:?}", out.records);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    out.errors.into_iter().next().unwrap()
}

#[test]
fn hostile_deep_nesting_is_an_error_not_a_stack_overflow() {
    // Unclosed and balanced: skipped iteratively by serde_json, one error.
    let deep = "[".repeat(100_000);
    let e = one_error(bytes("deep.json", deep.as_bytes()));
    assert_eq!(e.message, "not valid JSON: EOF while parsing a list");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = one_error(bytes("deep.json", deep.as_bytes()));
    assert!(e.message.starts_with("unknown format"), "{}", e.message);
    let deep_obj = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let e = one_error(bytes("deep2.json", deep_obj.as_bytes()));
    assert!(e.message.starts_with("unknown format"), "{}", e.message);

    // Deep nesting inside a KEV entry: that entry only.
    let kev = format!(
        r#"{{"catalogVersion":"1","vulnerabilities":[{{"cveID":"CVE-1","cwes":{0}0{1}}},{{"cveID":"CVE-2"}}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let out = bytes("kev.json", kev.as_bytes());
    assert_eq!(out.kev().len(), 1);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].location, "$.vulnerabilities[0].cwes");

    // A recursive structure (CSAF branches) nested 100,000 deep hits
    // serde_json's recursion limit: an error, not a stack overflow.
    let branches = format!(
        r#"{{"document":{{"csaf_version":"2.0","tracking":{{"id":"X"}}}},"product_tree":{{"branches":{}[]{}}},"vulnerabilities":[]}}"#,
        r#"[{"category":"vendor","name":"v","branches":"#.repeat(100_000),
        "}]".repeat(100_000)
    );
    let e = one_error(bytes("csaf.json", branches.as_bytes()));
    assert_eq!(e.location, "$.product_tree");
    assert!(e.message.starts_with("recursion limit exceeded"), "{}", e.message);
}

#[test]
fn hostile_files_are_one_clear_error_each() {
    let e = one_error(bytes("empty.json", b""));
    assert_eq!(e.message, "empty file");
    let e = one_error(bytes("blank.json", b" \n\t\n"));
    assert_eq!(e.message, "empty file");

    let e = one_error(bytes("bad.json", b"{\"vulnerabilities\": [1, 2,\n  }"));
    assert_eq!(e.location, "line 2, column 3");
    assert!(e.message.starts_with("not valid JSON"), "{}", e.message);

    let e =
        one_error(bytes("truncated.json", br#"{"catalogVersion":"1","vulnerabilities":[{"cveID""#));
    assert!(e.message.contains("EOF"), "{}", e.message);

    let e = one_error(bytes("latin1.json", b"{\"id\": \"caf\xe9\"}"));
    assert_eq!(e.location, "byte 11");
    assert!(e.message.contains("not UTF-8"), "{}", e.message);

    let e = one_error(bytes("other.json", br#"{"hello": "world"}"#));
    assert_eq!(e.location, "$");
    assert!(e.message.starts_with("unknown format"), "{}", e.message);

    let e = one_error(bytes("array.json", b"[1, 2, 3]"));
    assert!(e.message.starts_with("unknown format"), "{}", e.message);

    let e = one_error(bytes("notes.txt", b"hello, world\n"));
    assert!(e.message.starts_with("unknown format"), "{}", e.message);

    let e = one_error(bytes("bin.json", &[0u8, 159, 146, 150]));
    assert!(e.message.contains("not UTF-8"), "{}", e.message);

    // Wrong types at the top of known formats.
    let e = one_error(bytes("kev.json", br#"{"catalogVersion":"1","vulnerabilities":{"a":1}}"#));
    assert_eq!(e.location, "$.vulnerabilities");
    let e = one_error(bytes(
        "cve.json",
        br#"{"dataType":"CVE_RECORD","cveMetadata":5,"containers":{}}"#,
    ));
    assert_eq!(e.location, "$.cveMetadata");
    let e = one_error(bytes(
        "csaf.json",
        br#"{"document":{"csaf_version":"2.0","tracking":{"id":"X"}},"product_tree":"tree","vulnerabilities":[]}"#,
    ));
    assert_eq!(e.location, "$.product_tree");
    let e = one_error(bytes(
        "csaf.json",
        br#"{"document":{"csaf_version":"2.0"},"vulnerabilities":[]}"#,
    ));
    assert_eq!(e.location, "$.document.tracking.id");

    // A huge string is fine under the limit.
    let big = format!(r#"{{"id":"GHSA-x","modified":"m","details":"{}"}}"#, "x".repeat(10 << 20));
    let out = bytes("big.json", big.as_bytes());
    assert_eq!(out.errors, vec![]);
    assert_eq!(out.vuln("GHSA-x").description.as_deref().unwrap().len(), 4096);
}

#[test]
fn hostile_oversized_file_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.json");
    std::fs::write(
        &p,
        format!(r#"{{"id":"GHSA-x","modified":"m","details":"{}"}}"#, "x".repeat(2000)),
    )
    .unwrap();
    let limits = Limits { max_file_bytes: 1000, ..Limits::default() };
    let mut out = Out::default();
    let n = read_paths_with(std::slice::from_ref(&p), &limits, &mut sink(&mut out));
    assert_eq!(n, 1);
    let e = one_error(out);
    assert_eq!(e.message, "file too large: 2043 bytes (limit 1000 bytes); refused");

    // The default limit (64 MiB) holds for bytes given directly.
    let huge = vec![b' '; (64 << 20) + 1];
    let e = one_error(bytes("huge.json", &huge));
    assert!(e.message.starts_with("file too large: 67108865 bytes"), "{}", e.message);
}

// ---------------------------------------------------------------- zip, directories

fn zip_bytes(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            z.start_file(*name, opts).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn sample(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap()
}

#[test]
fn zip_of_cve_records_with_nested_zip() {
    let inner =
        zip_bytes(&[("cves/2018/13xxx/CVE-2018-13379.json", sample("cve5/CVE-2018-13379.json"))]);
    let outer = zip_bytes(&[
        ("cves/2024/3xxx/CVE-2024-3400.json", sample("cve5/CVE-2024-3400.json")),
        ("cves/2024/21xxx/CVE-2024-21893.json", sample("cve5/CVE-2024-21893.json")),
        ("cves/2024/21xxx/CVE-2024-29999.json", b"{\"dataType\": \"CVE_RECORD\", ".to_vec()),
        ("cves/README.md", b"# not a feed".to_vec()),
        ("cves/delta.zip", inner),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cvelistV5.zip");
    std::fs::write(&p, outer).unwrap();
    let out = paths(std::slice::from_ref(&p));
    let ids: Vec<&str> = out.vulns().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["CVE-2024-3400", "CVE-2024-21893", "CVE-2018-13379"]);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(
        out.errors[0].file,
        PathBuf::from(format!("{}!/cves/2024/21xxx/CVE-2024-29999.json", p.display()))
    );
    assert_eq!(out.progress.first(), Some(&(0, 3)));
    assert_eq!(out.progress.last(), Some(&(4, 4)));
}

#[test]
fn zip_bombs_and_broken_archives_are_refused() {
    let rec = sample("cve5/CVE-2024-3400.json");
    let many: Vec<(String, Vec<u8>)> =
        (0..5).map(|i| (format!("cves/{i}.json"), rec.clone())).collect();
    let refs: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("many.zip");
    std::fs::write(&p, zip_bytes(&refs)).unwrap();

    let run = |limits: Limits| {
        let mut out = Out::default();
        read_paths_with(std::slice::from_ref(&p), &limits, &mut sink(&mut out));
        out
    };
    let out = run(Limits { max_zip_entries: 4, ..Limits::default() });
    let e = one_error(out);
    assert_eq!(e.message, "zip archive has 5 entries (limit 4); refused");

    // Total inflated size: stops after two records.
    let size = rec.len() as u64;
    let out = run(Limits { max_zip_total_bytes: size * 2 + 10, ..Limits::default() });
    assert_eq!(out.vulns().len(), 2);
    assert_eq!(out.errors.len(), 1);
    assert!(out.errors[0].message.starts_with("zip archive inflates to more than"));

    // A highly compressible entry larger than the per-file limit.
    let bomb = zip_bytes(&[("cves/bomb.json", vec![b' '; 4 << 20])]);
    let b = dir.path().join("bomb.zip");
    std::fs::write(&b, bomb).unwrap();
    let mut out = Out::default();
    let limits = Limits { max_file_bytes: 1 << 20, ..Limits::default() };
    read_paths_with(std::slice::from_ref(&b), &limits, &mut sink(&mut out));
    let e = one_error(out);
    assert!(e.message.starts_with("file too large"), "{}", e.message);
    assert!(e.file.to_string_lossy().ends_with("bomb.zip!/cves/bomb.json"));

    // Not a zip at all.
    let fake = dir.path().join("fake.zip");
    std::fs::write(&fake, b"PK not really").unwrap();
    let e = one_error(paths(&[fake]));
    assert!(e.message.starts_with("not a readable zip archive"), "{}", e.message);
}

#[test]
fn directory_walk_is_sorted_skips_hidden_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("feeds");
    std::fs::create_dir_all(root.join("b/sub")).unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("b/sub/x.json"), sample("cve5/CVE-2024-3400.json")).unwrap();
    std::fs::write(root.join("a/z.json"), sample("cve5/CVE-2018-8863.json")).unwrap();
    std::fs::write(root.join("a/y.JSON"), sample("nvd2/CVE-2024-1275.json")).unwrap();
    std::fs::write(root.join("epss.csv"), sample("epss/epss_scores-handmade.csv")).unwrap();
    std::fs::write(root.join(".hidden.json"), b"garbage").unwrap();
    std::fs::write(root.join(".git/config.json"), b"garbage").unwrap();
    std::fs::write(root.join("notes.txt"), b"garbage").unwrap();
    std::fs::write(root.join("README.md"), b"garbage").unwrap();
    // A symlink pointing out of the tree is not followed; one inside is.
    let outside = dir.path().join("outside.json");
    std::fs::write(&outside, b"garbage").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, root.join("link-out.json")).unwrap();
        std::os::unix::fs::symlink(root.join("a/z.json"), root.join("link-in.json")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("loop")).unwrap();
    }

    let out = paths(std::slice::from_ref(&root));
    let locs: Vec<&str> = out.errors.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(locs, ["line 6"], "only the EPSS file's bad line");
    let keys: Vec<String> = out.records.iter().map(FeedRecord::key).collect();
    let mut expected = vec![
        "nvd:CVE-2024-1275",  // a/y.JSON
        "cve5:CVE-2018-8863", // a/z.json
        "cve5:CVE-2024-3400", // b/sub/x.json
        "epss:CVE-2024-3400", // epss.csv
        "epss:CVE-2024-21893",
        "epss:CVE-2023-39227",
        "epss:CVE-2018-13379",
    ];
    if cfg!(unix) {
        expected.push("cve5:CVE-2018-8863"); // link-in.json
    }
    assert_eq!(keys, expected);
    let files = if cfg!(unix) { 5 } else { 4 };
    assert_eq!(out.progress.first(), Some(&(0, files)));
    assert_eq!(out.progress.last(), Some(&(files, files)));

    // A file named directly is tried whatever its extension.
    let named = root.join("notes.txt");
    std::fs::write(&named, sample("cve5/CVE-2024-6795.json")).unwrap();
    let out = paths(&[named, dir.path().join("missing.json")]);
    assert_eq!(out.vulns().len(), 1);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].file, dir.path().join("missing.json"));
}

#[test]
fn whole_sample_tree_reads_without_errors() {
    let out = paths(&[data("")]);
    // Only the handmade EPSS bad line.
    let locs: Vec<&str> = out.errors.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(locs, ["line 6"]);
    assert_eq!(out.kev().len(), 1404);
    assert_eq!(out.vulns().len(), 22 + 15 + 5 + 1);
}
