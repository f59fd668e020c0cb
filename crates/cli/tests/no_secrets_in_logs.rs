//! Logs never contain passwords, TOTP secrets or codes, recovery codes,
//! set-up codes or session tokens: run the whole login flow with the most
//! verbose logging and grep everything the server wrote for each canary.

mod support;

use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn canaries_never_reach_logs_or_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("config.toml"), FAST_CONFIG).unwrap();
    let mut s = Server::start(&data, Backend::Sqlite, &[("SEKIMORI_LOG", "trace")]);
    let c = s.client();
    let admin = setup_admin(&s, &c).await;

    let canary_pw = "Canary-Password-zq81-Vx";
    let (st, body) = post(
        &c,
        &s.url("/api/v1/users"),
        json!({"username": "auditor1", "role": "auditor", "password": canary_pw}),
        Some(&admin.token),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let user = first_login(&s, &c, "auditor1", canary_pw).await;
    // Wrong passwords and codes are secrets too.
    let wrong_pw = "Wrong-Canary-Password-55";
    post(&c, &s.url("/api/v1/login"), json!({"username": "auditor1", "password": wrong_pw}), None)
        .await;
    let (_, step1) = post(
        &c,
        &s.url("/api/v1/login"),
        json!({"username": "auditor1", "password": canary_pw}),
        None,
    )
    .await;
    let wrong_code = "000000";
    post(
        &c,
        &s.url("/api/v1/login/mfa"),
        json!({"challenge": step1["challenge"], "code": wrong_code}),
        None,
    )
    .await;
    let challenge = step1["challenge"].as_str().unwrap().to_owned();
    let out = s.cli(&["audit", "verify"]);
    assert!(out.status.success());
    s.stop();

    let export = tmp.path().join("audit.jsonl");
    let out =
        cli(&data, &Backend::Sqlite, &["audit", "export", "-o", export.to_str().unwrap()], None);
    assert!(out.status.success());
    let logs = s.logs();
    assert!(logs.contains("login"), "trace logging produced nothing useful:\n{logs}");
    let audit = std::fs::read_to_string(&export).unwrap();
    let db = std::fs::read(data.join("sekimori.db")).unwrap_or_default();
    let db = String::from_utf8_lossy(&db);

    let mut canaries = vec![
        ("admin password", ADMIN_PASSWORD.to_owned()),
        ("user password", canary_pw.to_owned()),
        ("wrong password", wrong_pw.to_owned()),
        ("admin session token", admin.token.clone()),
        ("user session token", user.token.clone()),
        ("login challenge", challenge),
        ("admin TOTP secret", admin.totp_secret.clone()),
        ("user TOTP secret", user.totp_secret.clone()),
        ("set-up code", s.setup_code.clone().unwrap()),
    ];
    for rc in &user.recovery_codes {
        canaries.push(("recovery code", rc.clone()));
    }
    for (what, secret) in &canaries {
        assert!(!logs.contains(secret.as_str()), "{what} appears in the server log");
        assert!(!audit.contains(secret.as_str()), "{what} appears in the audit log");
    }
    // At rest, only hashes: no password, token or recovery code in the
    // database file in clear.
    for (what, secret) in &canaries {
        if what.contains("TOTP secret") {
            continue; // the TOTP secret must be stored to verify codes
        }
        assert!(!db.contains(secret.as_str()), "{what} is stored in clear in the database");
    }
}
