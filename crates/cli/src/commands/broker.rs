//! `sekimori login|logout|request|session`: the access broker from the
//! command line, over the server's API with the saved login.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use sekimori_gateway::client::{Pin, normalise_fingerprint};
use sekimori_types::Lang;

use super::remote::{
    Api, Profile, known_fingerprint, load_or_create_key, load_profile, remember_fingerprint,
    remove_profile, save_profile,
};
use super::{PasswordKind, read_password};
use crate::args::{JsonFlag, LoginArgs, RequestCmd, SessionCmd};
use crate::output::{json, say};

fn read_code(given: &Option<String>, lang: Lang) -> Result<String> {
    if let Some(c) = given {
        return Ok(c.trim().to_owned());
    }
    if std::io::stdin().is_terminal() {
        eprint!("{}", lang.pick("認証アプリの確認コード: ", "Authenticator code: "));
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the code")?;
        return Ok(line.trim().to_owned());
    }
    bail!("give the authenticator code with --totp-code")
}

/// `sekimori login`.
pub async fn login(a: &LoginArgs, lang: Lang) -> Result<ExitCode> {
    let given = match &a.server_fingerprint {
        Some(f) => Some(normalise_fingerprint(f).ok_or_else(|| {
            anyhow!(
                "--server-fingerprint: {}",
                lang.pick(
                    "SHA-256 フィンガープリント(16進 64 桁)ではありません",
                    "not a SHA-256 fingerprint (64 hex digits)"
                )
            )
        })?),
        None => None,
    };
    let pinned = known_fingerprint(&a.server)?;
    let pin = match (&given, &pinned) {
        (Some(g), _) => Pin::Fingerprint(g.clone()),
        (None, Some(p)) => Pin::Fingerprint(p.clone()),
        (None, None) => Pin::FirstUse,
    };
    let (mut api, presented) = Api::connect(&a.server, &pin, lang).await?;
    if pin == Pin::FirstUse {
        eprintln!(
            "{} {}\n  {presented}",
            a.server,
            lang.pick(
                "に初めて接続しました。証明書のフィンガープリントを記録します(次回から一致しなければ接続しません)。サーバー管理者が示す値と同じか確認してください:",
                "is new to this machine. Pinning its certificate (later connections stop if it changes). Check that it matches what the server's administrator gave you:"
            )
        );
    }
    let username = match (&a.user, load_profile().ok()) {
        (Some(u), _) => u.clone(),
        (None, Some(p)) if p.server == a.server => p.username,
        _ => bail!("--user: {}", lang.pick("ユーザー名を指定してください", "give your user name")),
    };
    let password =
        read_password(a.password_file.as_deref(), a.password_stdin, PasswordKind::Login, lang)?;
    let first = api
        .call(
            "POST",
            "/login",
            Some(&json!({"username": username, "password": password.expose_secret()})),
        )
        .await?;
    let challenge = first["challenge"].as_str().unwrap_or_default().to_owned();
    if first["status"] == "mfa_enrolment_required" {
        bail!(
            "{}",
            lang.pick(
                "認証アプリがまだ登録されていません。先に Web コンソールでログインして登録してください",
                "your authenticator app is not enrolled yet: log in once in the web console to enrol it"
            )
        );
    }
    let code = read_code(&a.totp_code, lang)?;
    let done = api
        .call("POST", "/login/mfa", Some(&json!({"challenge": challenge, "code": code})))
        .await?;
    let token = done["token"]
        .as_str()
        .ok_or_else(|| anyhow!("the server sent no session token"))?
        .to_owned();
    api.set_token(token.clone());
    let key = load_or_create_key()?;
    let cred = api
        .call(
            "POST",
            "/tunnel-credentials",
            Some(&json!({"public_key": hex::encode(key.public_key())})),
        )
        .await?;
    let credential = cred["credential"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("the server sent no credential"))?;
    let expires = cred["credential"]["expires_at"].as_str().unwrap_or_default().to_owned();
    remember_fingerprint(&a.server, &presented)?;
    save_profile(&Profile {
        server: a.server.clone(),
        fingerprint: presented.clone(),
        username: username.clone(),
        token,
        credential,
        credential_expires_at: expires.clone(),
    })?;
    if a.json {
        json(
            &json!({"server": a.server, "user": username, "fingerprint": presented, "credential": credential, "expires_at": expires}),
        );
    } else {
        say(lang, "ログインしました。", "Logged in.");
        println!("  {}: {expires}", lang.pick("資格情報の有効期限", "credential expires at"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `sekimori logout`.
pub async fn logout(a: &JsonFlag, lang: Lang) -> Result<ExitCode> {
    let p = load_profile()?;
    let ended = match Api::from_profile(&p, lang).await {
        Ok(mut api) => api.call("POST", "/logout", None).await.is_ok(),
        Err(_) => false,
    };
    remove_profile()?;
    if a.json {
        json(&json!({"logged_out": true, "server_session_ended": ended}));
    } else {
        say(lang, "ログアウトしました。", "Logged out.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `90`, `90m`, `2h`, `1h30m` → minutes.
fn parse_duration(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Ok(m) = s.parse::<u32>() {
        return Some(m);
    }
    let (mut total, mut num) = (0u32, String::new());
    for c in s.chars() {
        match c {
            '0'..='9' => num.push(c),
            'h' | 'm' => {
                let n: u32 = num.parse().ok()?;
                total = total.checked_add(if c == 'h' { n.checked_mul(60)? } else { n })?;
                num.clear();
            }
            _ => return None,
        }
    }
    (num.is_empty() && total > 0).then_some(total)
}

fn print_requests(lang: Lang, rs: &[Value]) {
    println!(
        "{:<36} {:<10} {:<20} {:<10} {:<12} {}",
        "ID",
        lang.pick("状態", "STATUS"),
        lang.pick("機器", "ASSET"),
        lang.pick("ポート", "PORTS"),
        lang.pick("申請者", "REQUESTER"),
        lang.pick("時間枠の終了", "WINDOW END")
    );
    for r in rs {
        let ports: Vec<String> = r["ports"]
            .as_array()
            .map(|a| a.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default();
        println!(
            "{:<36} {:<10} {:<20} {:<10} {:<12} {}",
            r["id"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            r["asset_name"].as_str().unwrap_or(""),
            ports.join(","),
            r["requester_username"].as_str().unwrap_or(""),
            r["window_end"].as_str().unwrap_or("-"),
        );
    }
}

fn print_request(lang: Lang, r: &Value, json_out: bool) {
    if json_out {
        json(r);
    } else {
        print_requests(lang, std::slice::from_ref(r));
        if let Some(reason) = r["reason"].as_str() {
            println!("  {}: {reason}", lang.pick("理由", "reason"));
        }
        let approvals = r["approvals"].as_array().map_or(0, Vec::len);
        println!(
            "  {}: {approvals}/{}",
            lang.pick("承認", "approvals"),
            r["approvals_required"].as_u64().unwrap_or(1)
        );
    }
}

/// Finds an asset's ID from its name (or takes an ID as it is).
async fn asset_id(api: &mut Api, asset: &str, lang: Lang) -> Result<String> {
    if asset.parse::<sekimori_types::AssetId>().is_ok() {
        return Ok(asset.to_owned());
    }
    let list = api.call("GET", "/assets", None).await?;
    let lower = asset.to_lowercase();
    list["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["name"].as_str().is_some_and(|n| n.to_lowercase() == lower))
        .and_then(|a| a["id"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            anyhow!(
                "--asset {asset}: {}",
                lang.pick(
                    "申請できる機器の中にありません",
                    "no such device among those you may request"
                )
            )
        })
}

/// `sekimori request …`.
pub async fn request(cmd: &RequestCmd, lang: Lang) -> Result<ExitCode> {
    let profile = load_profile()?;
    let mut api = Api::from_profile(&profile, lang).await?;
    match cmd {
        RequestCmd::Create(a) => {
            let minutes = parse_duration(&a.duration).ok_or_else(|| {
                anyhow!(
                    "--duration {}: {}",
                    a.duration,
                    lang.pick(
                        "分数、または 90m・2h の形で指定してください",
                        "give minutes, or a value like 90m or 2h"
                    )
                )
            })?;
            let start = match a.start.as_deref() {
                None => None,
                Some("now") => Some(sekimori_types::rfc3339(time::OffsetDateTime::now_utc())),
                Some(s) => {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| {
                            anyhow!(
                                "--start {s}: not an RFC 3339 time (e.g. 2026-11-23T09:00:00+09:00)"
                            )
                        })?;
                    Some(s.to_owned())
                }
            };
            let asset = asset_id(&mut api, &a.asset, lang).await?;
            let body = json!({"asset": asset, "ports": a.ports, "reason": a.reason, "start": start, "duration_minutes": minutes});
            let r = api.call("POST", "/requests", Some(&body)).await?;
            if !a.json {
                say(
                    lang,
                    "アクセスを申請しました。承認を待っています。",
                    "Access requested; waiting for approval.",
                );
            }
            print_request(lang, &r["request"], a.json);
        }
        RequestCmd::List(a) => {
            let mut q = Vec::new();
            if let Some(s) = &a.state {
                q.push(format!("state={s}"));
            }
            if a.mine {
                q.push("mine=true".into());
            }
            let path = if q.is_empty() {
                "/requests".to_owned()
            } else {
                format!("/requests?{}", q.join("&"))
            };
            let v = api.call("GET", &path, None).await?;
            if a.json {
                json(&v["requests"]);
            } else {
                print_requests(lang, v["requests"].as_array().map_or(&[][..], Vec::as_slice));
            }
        }
        RequestCmd::Show(a) => {
            let v = api.call("GET", &format!("/requests/{}", a.id), None).await?;
            print_request(lang, &v["request"], a.json);
        }
        RequestCmd::Approve(a) => {
            // Approving needs a second factor proven just now.
            let me = api.call("GET", "/me", None).await?;
            if me["session"]["mfa_fresh"] != Value::Bool(true) {
                let code = read_code(&a.totp_code, lang)?;
                api.call("POST", "/me/step-up", Some(&json!({"code": code}))).await?;
            }
            let v = api.call("POST", &format!("/requests/{}/approve", a.id), None).await?;
            if !a.json {
                if v["request"]["state"] == "approved" {
                    say(lang, "承認しました。", "Approved.");
                } else {
                    say(
                        lang,
                        "承認を記録しました。もう一人の承認が必要です。",
                        "Approval recorded; a second approver is needed.",
                    );
                }
            }
            print_request(lang, &v["request"], a.json);
        }
        RequestCmd::Deny(a) | RequestCmd::Revoke(a) => {
            let verb = if matches!(cmd, RequestCmd::Deny(_)) { "deny" } else { "revoke" };
            let body = json!({"note": a.note});
            let v = api.call("POST", &format!("/requests/{}/{verb}", a.id), Some(&body)).await?;
            if !a.json {
                if verb == "deny" {
                    say(lang, "却下しました。", "Denied.");
                } else {
                    say(
                        lang,
                        "取り消しました。接続中のセッションは切断されました。",
                        "Revoked; live connections were closed.",
                    );
                }
            }
            print_request(lang, &v["request"], a.json);
        }
        RequestCmd::Cancel(a) => {
            let v = api.call("POST", &format!("/requests/{}/cancel", a.id), None).await?;
            if !a.json {
                say(lang, "申請を取り下げました。", "Request cancelled.");
            }
            print_request(lang, &v["request"], a.json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_sessions(lang: Lang, ss: &[Value]) {
    println!(
        "{:<36} {:<6} {:<12} {:<20} {:>6} {:>12} {:>12} {}",
        "ID",
        lang.pick("接続中", "LIVE"),
        lang.pick("利用者", "USER"),
        lang.pick("機器", "ASSET"),
        lang.pick("ポート", "PORT"),
        lang.pick("送信", "BYTES UP"),
        lang.pick("受信", "BYTES DOWN"),
        lang.pick("終了理由", "CLOSED BY")
    );
    for s in ss {
        println!(
            "{:<36} {:<6} {:<12} {:<20} {:>6} {:>12} {:>12} {}",
            s["id"].as_str().unwrap_or(""),
            if s["live"] == Value::Bool(true) { "yes" } else { "no" },
            s["username"].as_str().unwrap_or(""),
            s["asset_name"].as_str().unwrap_or(""),
            s["port"],
            s["bytes_up"],
            s["bytes_down"],
            s["close_reason"].as_str().unwrap_or("-"),
        );
    }
}

/// `sekimori session …`.
pub async fn session(cmd: &SessionCmd, lang: Lang) -> Result<ExitCode> {
    let profile = load_profile()?;
    let mut api = Api::from_profile(&profile, lang).await?;
    match cmd {
        SessionCmd::List(a) => {
            let mut q = Vec::new();
            if a.live {
                q.push("live=true".to_owned());
            }
            if let Some(r) = &a.request {
                q.push(format!("request={r}"));
            }
            let path = if q.is_empty() {
                "/tunnel-sessions".to_owned()
            } else {
                format!("/tunnel-sessions?{}", q.join("&"))
            };
            let v = api.call("GET", &path, None).await?;
            if a.json {
                json(&v["sessions"]);
            } else {
                print_sessions(lang, v["sessions"].as_array().map_or(&[][..], Vec::as_slice));
            }
        }
        SessionCmd::Kill(a) => {
            let v = api.call("POST", &format!("/tunnel-sessions/{}/kill", a.id), None).await?;
            if a.json {
                json(&v);
            } else {
                say(lang, "切断しました。", "Closed.");
            }
        }
        SessionCmd::Export(a) => {
            let (status, bytes) =
                api.call_raw("GET", &format!("/tunnel-sessions/{}/pcap", a.id), None).await?;
            if !(200..300).contains(&status) {
                return Err(super::remote::failure(status, &bytes).into());
            }
            super::remote::write_private(&a.pcap, &bytes)?;
            say(lang, "pcap ファイルに書き出しました。", "Wrote the pcap file.");
            println!("  {} ({} bytes)", a.pcap.display(), bytes.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("90m"), Some(90));
        assert_eq!(parse_duration("2h"), Some(120));
        assert_eq!(parse_duration("1h30m"), Some(90));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("99999999h"), None);
    }
}
