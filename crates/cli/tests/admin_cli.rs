//! The administration CLI as a script would drive it: every input from a
//! flag, file or environment, `--json` output, exit codes (0 ok, 1 a failed
//! check, 2 bad input), and `audit verify` catching tampering that is done
//! behind sekimori's back — on SQLite and PostgreSQL.

mod support;

use std::path::Path;

use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, Executor};
use support::*;

fn run(dir: &Path, b: &Backend, args: &[&str]) -> (i32, Value, String) {
    run_in(dir, b, args, None)
}

fn run_in(dir: &Path, b: &Backend, args: &[&str], stdin: Option<&str>) -> (i32, Value, String) {
    let out = cli(dir, b, args, stdin);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        v,
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

fn db_url(dir: &Path, b: &Backend) -> String {
    match b {
        Backend::Sqlite => format!("sqlite://{}", dir.join("sekimori.db").display()),
        Backend::Postgres(u) => u.clone(),
    }
}

async fn raw(dir: &Path, b: &Backend, sql: &str) -> u64 {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&db_url(dir, b)).await.unwrap();
    let n = c.execute(sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))).await.unwrap().rows_affected();
    c.close().await.unwrap();
    n
}

async fn admin_cli(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), FAST_CONFIG).unwrap();
    let name = b.name();

    // init: creates everything, prints a set-up code, key file is 0600.
    let (code, v, all) = run(&dir, &b, &["init", "--json"]);
    assert_eq!(code, 0, "{name}: {all}");
    assert!(v["setup_code"].as_str().is_some_and(|c| c.len() >= 16), "{name}: {v}");
    assert!(v["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.join("instance.key")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(dir.join("tls/key.pem")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);

    // user add: password from a file, from stdin, from the environment.
    let pwfile = tmp.path().join("pw.txt");
    std::fs::write(&pwfile, "vendor-Pass-phrase-2931\n").unwrap();
    let (code, v, all) = run(
        &dir,
        &b,
        &[
            "user",
            "add",
            "--username",
            "tanaka",
            "--role",
            "vendor",
            "--company",
            "Acme Medical",
            "--password-file",
            pwfile.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{name}: {all}");
    assert_eq!(v["user"]["role"], "vendor");
    assert_eq!(v["user"]["mfa_enrolled"], false);
    let (code, _, all) = run_in(
        &dir,
        &b,
        &[
            "user",
            "add",
            "--username",
            "sato",
            "--role",
            "approver",
            "--department",
            "Clinical Engineering",
            "--password-stdin",
        ],
        Some("approver-Pass-phrase-7730\n"),
    );
    assert_eq!(code, 0, "{name}: {all}");
    // A vendor without a company, a common password, a taken name: exit 2, and the reason named.
    let (code, _, all) = run_in(
        &dir,
        &b,
        &["user", "add", "--username", "x1", "--role", "vendor", "--password-stdin"],
        Some("vendor-Pass-phrase-2931\n"),
    );
    assert_eq!(code, 2, "{name}: {all}");
    assert!(all.contains("company"), "{name}: {all}");
    let (code, _, all) = run_in(
        &dir,
        &b,
        &["user", "add", "--username", "x2", "--role", "auditor", "--password-stdin"],
        Some("password1234\n"),
    );
    assert_eq!(code, 2, "{name}: {all}");
    assert!(all.to_lowercase().contains("common") || all.contains("password"), "{name}: {all}");
    let (code, _, all) = run_in(
        &dir,
        &b,
        &["user", "add", "--username", "tanaka", "--role", "auditor", "--password-stdin"],
        Some("another-Pass-phrase-4411\n"),
    );
    assert_eq!(code, 2, "{name}: {all}");

    // list --json; lock, unlock, reset-mfa.
    let (code, v, _) = run(&dir, &b, &["user", "list", "--json"]);
    assert_eq!(code, 0);
    let names: Vec<&str> =
        v["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["sato", "tanaka"], "{name}");
    let (code, v, _) =
        run(&dir, &b, &["user", "lock", "tanaka", "--reason", "contract ended", "--json"]);
    assert_eq!((code, v["user"]["status"].as_str()), (0, Some("locked")), "{name}");
    let (code, v, _) = run(&dir, &b, &["user", "unlock", "tanaka", "--json"]);
    assert_eq!((code, v["user"]["status"].as_str()), (0, Some("active")), "{name}");
    let (code, v, _) = run(&dir, &b, &["user", "reset-mfa", "tanaka", "--json"]);
    assert_eq!((code, v["user"]["mfa_enrolled"].as_bool()), (0, Some(false)), "{name}");
    let (code, _, all) = run(&dir, &b, &["user", "lock", "nobody"]);
    assert_eq!(code, 2, "{name}: {all}");

    // Zones and assets.
    let (code, _, all) = run(
        &dir,
        &b,
        &["zone", "add", "--name", "nurse-call", "--critical", "--description", "ナースコール"],
    );
    assert_eq!(code, 0, "{name}: {all}");
    let (code, v, all) = run(
        &dir,
        &b,
        &[
            "asset",
            "add",
            "--name",
            "ncs-01",
            "--address",
            "10.20.0.11",
            "--zone",
            "nurse-call",
            "--criticality",
            "life_critical",
            "--port",
            "22/ssh",
            "--port",
            "443/https",
            "--max-session-minutes",
            "120",
            "--vendor-company",
            "Acme Medical",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{name}: {all}");
    assert_eq!(v["asset"]["maintenance_ports"][0]["protocol"], "ssh");
    let (code, _, all) = run(&dir, &b, &["asset", "add", "--name", "bad", "--port", "22"]);
    assert_eq!(code, 2, "{name}: {all}");
    assert!(all.contains("--port"), "{name}: {all}");
    let (code, _, all) = run(&dir, &b, &["asset", "add", "--name", "bad", "--zone", "nowhere"]);
    assert_eq!(code, 2, "{name}: {all}");
    let (code, v, _) = run(&dir, &b, &["asset", "list", "--json"]);
    assert_eq!((code, v["assets"].as_array().unwrap().len()), (0, 1), "{name}");
    let (code, v, _) = run(&dir, &b, &["zone", "list", "--json"]);
    assert_eq!((code, v["zones"][0]["critical"].as_bool()), (0, Some(true)), "{name}");

    // The chain verifies, also exported and verified offline with the public key.
    let (code, v, all) = run(&dir, &b, &["audit", "verify", "--json"]);
    assert_eq!((code, v["ok"].as_bool()), (0, Some(true)), "{name}: {all}");
    let export = tmp.path().join("audit.jsonl");
    let (code, _, all) =
        run(&dir, &b, &["audit", "export", "--format", "jsonl", "-o", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{name}: {all}");
    let pubkey = std::fs::read_to_string(dir.join("instance.pub")).unwrap();
    let (code, v, all) = run(
        &dir,
        &b,
        &[
            "audit",
            "verify",
            "--file",
            export.to_str().unwrap(),
            "--public-key",
            pubkey.trim(),
            "--json",
        ],
    );
    assert_eq!((code, v["ok"].as_bool()), (0, Some(true)), "{name}: {all}");
    // The events are all there, with the console user as actor.
    let text = std::fs::read_to_string(&export).unwrap();
    for kind in [
        "user_created",
        "user_status_changed",
        "account_unlocked",
        "mfa_reset",
        "zone_created",
        "asset_created",
    ] {
        assert!(text.contains(&format!("\"type\":\"{kind}\"")), "{name}: no {kind} in export");
    }
    assert!(text.contains("\"kind\":\"cli\""), "{name}");

    // A record changed behind sekimori's back: verify exits 1 and names it.
    let n = raw(&dir, &b, "UPDATE audit_records SET body = replace(body, 'contract ended', 'contract renewed') WHERE seq IN (SELECT seq FROM audit_records WHERE body LIKE '%contract ended%')").await;
    assert!(n >= 1, "{name}: tamper target not found");
    let (code, v, all) = run(&dir, &b, &["audit", "verify", "--json"]);
    assert_eq!((code, v["ok"].as_bool()), (1, Some(false)), "{name}: {all}");
    assert!(v["first_bad_seq"].as_u64().unwrap() > 0);
    // The human message names the record, in Japanese too.
    let out = cli(&dir, &b, &["--lang", "ja", "audit", "verify"], None);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("#{}", v["first_bad_seq"]))
            || text.contains(&v["first_bad_seq"].to_string()),
        "{name}: {text}"
    );
    assert!(
        text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
        "{name}: not Japanese: {text}"
    );
    // The offline export still verifies: it is the archive of the good state.
    let (code, _, _) = run(
        &dir,
        &b,
        &["audit", "verify", "--file", export.to_str().unwrap(), "--public-key", pubkey.trim()],
    );
    assert_eq!(code, 0);
    // But a tampered export does not.
    let bad = text_replace(&export, "contract ended", "contract renewed");
    let (code, _, all) = run(
        &dir,
        &b,
        &["audit", "verify", "--file", bad.to_str().unwrap(), "--public-key", pubkey.trim()],
    );
    assert_eq!(code, 1, "{name}: {all}");
}

fn text_replace(path: &Path, from: &str, to: &str) -> std::path::PathBuf {
    let out = path.with_extension("tampered.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from));
    std::fs::write(&out, text.replace(from, to)).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_cli_on_every_backend() {
    for b in Backend::all().await {
        admin_cli(b).await;
    }
}

/// A data directory whose key was replaced does not silently sign with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_instance_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let b = Backend::Sqlite;
    assert_eq!(cli(&dir, &b, &["init"], None).status.code(), Some(0));
    std::fs::remove_file(dir.join("instance.key")).unwrap();
    std::fs::remove_file(dir.join("instance.pub")).unwrap();
    let out = cli(&dir, &b, &["user", "list"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another instance"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Bad configuration is a clear error naming the key, exit code 2.
#[test]
fn bad_config_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[authn.throttle]\naccount_lock_after = 500\n")
        .unwrap();
    let out = cli(&dir, &Backend::Sqlite, &["init"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("account_lock_after"), "{err}");
    std::fs::write(dir.join("config.toml"), "lisen = \"0.0.0.0:1\"\n").unwrap();
    let out = cli(&dir, &Backend::Sqlite, &["init"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
}

/// A person at a terminal is asked for the password twice (no echo); a
/// mismatch is refused. `script` gives the command a real pseudo-terminal.
#[test]
fn password_prompt_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), FAST_CONFIG).unwrap();
    let run = |user: &str, input: &str| {
        let cmd =
            format!("{BIN} --data-dir {} user add --username {user} --role auditor", dir.display());
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("SEKIMORI_LANG", "en")
            .env_remove("SEKIMORI_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("script(1) from util-linux");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (code, out) = run("yamada", "prompted-Pass-phrase-881\nprompted-Pass-phrase-881\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Initial password:") && out.contains("Repeat it:"), "{out}");
    let (code, out) = run("kimura", "prompted-Pass-phrase-881\nsomething-else-entirely-9\n");
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("differ"), "{out}");
    let list = cli(&dir, &Backend::Sqlite, &["user", "list", "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v["users"].as_array().unwrap().len(), 1);
}
