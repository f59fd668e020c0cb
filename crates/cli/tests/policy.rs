//! `sekimori policy check` and `sekimori policy sample`, the real binary:
//! a valid file exits 0 with a summary, a bad one exits 2 naming every
//! problem's line and key, in Japanese with `--lang ja`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn sekimori() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sekimori"));
    // The language comes from --lang only, whatever the machine's locale.
    c.env_remove("SEKIMORI_LANG")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const BAD: &str = r#"[hospital]
ranges = ["10.0.0.0/8"]

[[zone]]
name = "nurse-call"
critical = true
ranges = ["10.20.0.0/24"]

[[rule]]
from = "nurse-call"
to = "icu"
protocols = ["telnet"]
"#;

#[test]
fn the_sample_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = sekimori().args(["policy", "sample"]).output().unwrap();
    assert!(out.status.success());
    let sample = String::from_utf8(out.stdout).unwrap();
    assert!(sample.contains("[[zone]]") && sample.contains("ナースコール"));
    let file = write(dir.path(), "policy.toml", &sample);

    let out = sekimori().args(["--lang", "en", "policy", "check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(": valid"), "{text}");
    assert!(text.contains("zones: 9 (2 critical; gateway: maintenance-gateway)"), "{text}");
    assert!(text.contains("nurse-call"), "{text}");

    let out = sekimori().args(["policy", "check", "--json"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["zones"].as_array().unwrap().len(), 9);
    assert_eq!(v["gateway_zone"], "maintenance-gateway");
    assert_eq!(v["silence_watches"], 3);
}

#[test]
fn a_bad_file_exits_2_naming_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.toml", BAD);
    let out = sekimori().args(["--lang", "en", "policy", "check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let f = file.display();
    assert!(err.contains(&format!("{f}:11:6: rule[1].to: unknown zone \"icu\"")), "{err}");
    assert!(
        err.contains(&format!("{f}:12:14: rule[1].protocols[1]: unknown protocol \"telnet\"")),
        "{err}"
    );
    assert!(err.contains("2 problems"), "{err}");

    let out = sekimori().args(["policy", "check", "--json"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["line"], 11);
    assert_eq!(v["errors"][0]["key"], "rule[1].to");
    assert_eq!(v["errors"][0]["code"], "unknown_zone");
}

#[test]
fn lang_ja_gives_japanese() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.toml", BAD);
    let out = sekimori().args(["--lang", "ja", "policy", "check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("rule[1].to: ゾーン「icu」は定義されていません"), "{err}");
    assert!(err.contains("問題が 2 件あります"), "{err}");

    let good = write(dir.path(), "good.toml", "[hospital]\nranges = [\"10.0.0.0/8\"]\n");
    let out = sekimori().args(["--lang", "ja", "policy", "check"]).arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains("問題はありません"));

    let out = sekimori().args(["--lang", "ja", "policy", "check", "--help"]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("ポリシーファイル"));
}

#[test]
fn syntax_errors_and_missing_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.toml",
        "[hospital]\nranges = [\"10.0.0.0/8\"]\n[[zone]]\nname = \"x\"\ncritcal = true\n",
    );
    let out = sekimori().args(["--lang", "en", "policy", "check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("{}:5:1: critcal: TOML: unknown field `critcal`", file.display())),
        "{err}"
    );

    let out =
        sekimori().args(["policy", "check"]).arg(dir.path().join("absent.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
