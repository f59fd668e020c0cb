//! `sekimori feeds import|status`, `sekimori assess` and `sekimori
//! checklist` end to end: the real binary, the shared advisory files, the
//! fixture ledger, a fresh data directory on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::*;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assess/testdata").join(rel)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `sekimori` with no data directory at all (files only).
fn files_only(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("SEKIMORI_DATABASE_URL")
        .env_remove("SEKIMORI_DATA_DIR")
        .env("SEKIMORI_LANG", "en")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "assess on files alone created a data directory"
    );
    out
}

#[tokio::test]
async fn import_is_idempotent_audited_and_feeds_the_assessment() {
    let ledger = testdata("assess/ledger.csv");
    let advisories = testdata("advisories");
    for backend in Backend::all().await {
        let name = backend.name();
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");

        let first =
            json(&cli(&data, &backend, &["feeds", "import", "--json", s(&advisories)], None));
        assert_eq!(first["vulnerabilities"], 43, "{name}: {first}");
        assert_eq!(first["kev"], 1404, "{name}");
        assert_eq!(first["added"], 1451, "{name}");
        // The hand-made EPSS file has one bad line on purpose: reported with
        // file and line, skipped, the rest kept.
        assert_eq!(first["skipped"], 1, "{name}");
        let err = &first["errors"][0];
        assert!(err["file"].as_str().unwrap().ends_with("epss_scores-handmade.csv"), "{err}");
        assert_eq!(err["location"], "line 6", "{name}");

        let again =
            json(&cli(&data, &backend, &["feeds", "import", "--json", s(&advisories)], None));
        assert_eq!(
            (&again["added"], &again["updated"], &again["unchanged"]),
            (&Value::from(0), &Value::from(0), &Value::from(1451)),
            "{name}: {again}"
        );

        let status = json(&cli(&data, &backend, &["feeds", "status", "--json"], None));
        assert_eq!(status["records"]["kev"], 1404, "{name}");
        assert_eq!(status["records"]["vulnerability"], 43, "{name}");

        // The import is in the audit chain, and the chain verifies.
        let export = cli(&data, &backend, &["audit", "export"], None);
        let text = String::from_utf8_lossy(&export.stdout);
        assert_eq!(text.matches("\"feeds_imported\"").count(), 2, "{name}");
        let verify = cli(&data, &backend, &["audit", "verify"], None);
        assert!(verify.status.success(), "{name}");

        // Same findings (not-affected ones too, every field) from the
        // records the store selects for this inventory as from reading the
        // whole store, from the files, and from a store whose filings were
        // made with another alias table (read whole).
        let stored_args = ["assess", "--inventory", s(&ledger), "--all", "--format", "json"];
        let stored = json(&cli(&data, &backend, &stored_args, None));
        let whole =
            json(&cli(&data, &backend, &[&stored_args[..], &["--linear-scan"]].concat(), None));
        let site_aliases = root.path().join("site-aliases.toml");
        std::fs::write(&site_aliases, "[[vendor]]\nid = \"acme\"\nnames = [\"Acme Corp\"]\n")
            .unwrap();
        let refiled = json(&cli(
            &data,
            &backend,
            &[&stored_args[..], &["--aliases", s(&site_aliases)]].concat(),
            None,
        ));
        let direct = json(&files_only(&[
            "assess",
            "--inventory",
            s(&ledger),
            "--feeds",
            s(&advisories),
            "--all",
            "--format",
            "json",
        ]));
        let findings = |v: &Value| v["findings"].as_array().unwrap().clone();
        assert!(findings(&stored).len() > 40, "{name}");
        assert_eq!(findings(&stored), findings(&whole), "{name}: selected vs whole store");
        assert_eq!(findings(&stored), findings(&refiled), "{name}: records read whole");
        assert_eq!(findings(&stored), findings(&direct), "{name}: store vs files");
        // The report counts what the store holds, not what was read.
        assert_eq!(stored["feeds"], whole["feeds"], "{name}");
        assert_eq!(stored["feeds"], direct["feeds"], "{name}");

        // The checklist from the store's evidence and the ledger.
        let list = json(&cli(
            &data,
            &backend,
            &["checklist", "--inventory", s(&ledger), "--format", "json"],
            None,
        ));
        let answers = list["checklist"].as_array().unwrap();
        let patch = answers
            .iter()
            .find(|a| a["evidence_en"].as_str().unwrap().contains("unpatched"))
            .unwrap();
        assert_eq!(patch["answer"], "no", "{name}: known-exploited findings are unpatched");
        let audit = answers
            .iter()
            .find(|a| a["evidence_en"].as_str().unwrap().contains("chain verified"))
            .unwrap();
        assert_ne!(audit["answer"], "no", "{name}");
        let c = &list["counts"];
        assert_eq!(
            c["yes"].as_u64().unwrap() + c["no"].as_u64().unwrap() + c["review"].as_u64().unwrap(),
            answers.len() as u64
        );
        let html = cli(
            &data,
            &backend,
            &["checklist", "--inventory", s(&ledger), "--format", "html"],
            None,
        );
        assert!(html.status.success());
        assert!(String::from_utf8_lossy(&html.stdout).contains("<html"));
    }
}

#[test]
fn assess_from_files_keeps_the_contract_and_exit_codes() {
    let ledger = testdata("assess/ledger.csv");
    let advisories = testdata("advisories");
    let out = files_only(&[
        "assess",
        "--inventory",
        s(&ledger),
        "--feeds",
        s(&advisories),
        "--format",
        "json",
    ]);
    let v = json(&out);
    let findings = v["findings"].as_array().unwrap();
    for f in findings {
        for field in ["asset", "cve", "known_exploited", "severity", "why"] {
            assert!(!f[field].is_null(), "{field} missing in {f}");
        }
    }
    // design.md contract: ranked, a VPN appliance with a KEV entry first.
    assert_eq!(findings[0]["priority"], 1);
    assert_eq!(findings[0]["known_exploited"], true);
    assert_eq!(findings[0]["remote_path"], true);
    assert!(findings.iter().all(|f| f["status"] != "not_affected"));

    // --fail-on: 1 when a finding reaches it, 0 when none does.
    let fail = files_only(&[
        "assess",
        "--inventory",
        s(&ledger),
        "--feeds",
        s(&advisories),
        "--fail-on",
        "known-exploited",
    ]);
    assert_eq!(fail.status.code(), Some(1));
    let clean = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        clean.path(),
        "機器名,メーカー,製品名,バージョン\nprinter-1,ACME,Office Printer X,1.0\n",
    )
    .unwrap();
    let ok = files_only(&[
        "assess",
        "--inventory",
        s(clean.path()),
        "--feeds",
        s(&advisories),
        "--fail-on",
        "high",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));

    // CSV with a BOM for Excel, and printable HTML.
    let csv = files_only(&[
        "assess",
        "--inventory",
        s(&ledger),
        "--feeds",
        s(&advisories),
        "--format",
        "csv",
    ]);
    assert!(csv.status.success());
    assert!(csv.stdout.starts_with(b"\xEF\xBB\xBFpriority,asset,"));
    let html = files_only(&[
        "assess",
        "--inventory",
        s(&ledger),
        "--feeds",
        s(&advisories),
        "--format",
        "html",
        "--lang",
        "ja",
    ]);
    assert!(html.status.success());
    let page = String::from_utf8(html.stdout).unwrap();
    assert!(page.contains("<html lang=\"ja\""), "{}", &page[..200.min(page.len())]);
    assert!(page.contains("vpn-gw-1"));
}

#[test]
fn bad_input_is_exit_2_naming_the_file() {
    let advisories = testdata("advisories");
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"\x00\x01\x02 not an inventory at all").unwrap();
    let out = files_only(&["assess", "--inventory", s(junk.path()), "--feeds", s(&advisories)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(s(junk.path())), "{err}");

    let out = files_only(&[
        "assess",
        "--inventory",
        s(&testdata("assess/ledger.csv")),
        "--feeds",
        "/nonexistent/feeds",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/feeds"));

    // A hostile feed file among good ones: reported, the rest used.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deep.json"), "[".repeat(100_000)).unwrap();
    std::fs::copy(
        testdata("advisories/cve5/CVE-2024-21762.json"),
        dir.path().join("CVE-2024-21762.json"),
    )
    .unwrap();
    let out = files_only(&[
        "assess",
        "--inventory",
        s(&testdata("assess/ledger.csv")),
        "--feeds",
        s(dir.path()),
    ]);
    let v = json(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deep.json"), "{err}");
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["cve"] == "CVE-2024-21762"));

    // The same in Japanese: the skipped file's reason is Japanese too.
    let out = files_only(&[
        "--lang",
        "ja",
        "assess",
        "--inventory",
        s(&testdata("assess/ledger.csv")),
        "--feeds",
        s(dir.path()),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("deep.json")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.starts_with("スキップ: "), "{line}");
    assert!(line.contains("行目") && !line.contains("not valid JSON"), "{line}");
    let out = files_only(&[
        "--lang",
        "ja",
        "assess",
        "--inventory",
        s(junk.path()),
        "--feeds",
        s(&advisories),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("資産情報の形式が不明です"), "{err}");
}
