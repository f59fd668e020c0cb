//! `sekimori alert list|show|ack|close`: the alerts in the store, handled
//! at the server's console as `cli:<os user>` (audited like the API).

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use serde_json::json;

use sekimori_store::{AlertFilter, AlertRepo};
use sekimori_types::{Alert, AlertId, InvalidValue, Lang, Localized};

use super::{cli_ctx, open};
use crate::args::{AlertCmd, Cli};
use crate::output::{json, say};

fn parsed<T: std::str::FromStr<Err = InvalidValue>>(
    flag: &str,
    s: Option<&str>,
    lang: Lang,
) -> Result<Option<T>> {
    s.map(str::parse)
        .transpose()
        .map_err(|e: InvalidValue| anyhow!("--{flag}: {}", e.localized(lang)))
}

fn alert_id(s: &str, lang: Lang) -> Result<AlertId> {
    s.parse().map_err(|e: InvalidValue| anyhow!("{}", e.localized(lang)))
}

/// One line per alert: severity, state, kind, count, last seen, summary.
fn line(a: &Alert, lang: Lang) -> String {
    format!(
        "{}  {:<8} {:<12} {:<24} ×{:<5} {}  {}",
        a.id,
        a.severity.localized(lang),
        a.state.localized(lang),
        a.kind.as_str(),
        a.count,
        sekimori_types::rfc3339(a.last),
        lang.pick(&a.summary_ja, &a.summary),
    )
}

fn details(a: &Alert, lang: Lang) {
    println!("{}", line(a, lang));
    println!("  {}: {}", lang.pick("種別", "kind"), a.kind.localized(lang));
    println!(
        "  {}: {} … {}",
        lang.pick("期間", "span"),
        sekimori_types::rfc3339(a.first),
        sekimori_types::rfc3339(a.last)
    );
    if let Some(b) = a.evidence.bytes {
        println!("  {}: {b}", lang.pick("バイト数", "bytes"));
    }
    for asset in &a.evidence.assets {
        println!(
            "  {}: {} {} {}",
            lang.pick("機器", "asset"),
            asset.ip,
            asset.name.as_deref().unwrap_or("-"),
            asset.zone.as_deref().map(|z| format!("[{z}]")).unwrap_or_default()
        );
    }
    for f in &a.evidence.flows {
        println!(
            "  {}: {}:{} → {}:{} {} {} ↑{} ↓{}",
            lang.pick("通信", "flow"),
            f.src,
            f.sport,
            f.dst,
            f.dport,
            f.transport,
            f.app.as_deref().unwrap_or("-"),
            f.bytes_out,
            f.bytes_in
        );
    }
    for (k, v) in &a.evidence.details {
        println!("  {k}: {v}");
    }
    if let Some(c) = &a.comment {
        println!(
            "  {}: {} ({})",
            lang.pick("コメント", "comment"),
            c,
            a.handled_by.as_deref().unwrap_or("-")
        );
    }
}

pub async fn alert(cli: &Cli, cmd: &AlertCmd, lang: Lang) -> Result<ExitCode> {
    let (inst, _) = open(cli).await?;
    let ctx = cli_ctx();
    let result: Result<()> = async {
        match cmd {
            AlertCmd::List { state, kind, severity, limit, json: as_json } => {
                if !(1..=1000).contains(limit) {
                    return Err(anyhow!(
                        "--limit: {}",
                        lang.pick("1〜1000にしてください", "must be 1 to 1000")
                    ));
                }
                let filter = AlertFilter {
                    state: parsed("state", state.as_deref(), lang)?,
                    kind: parsed("kind", kind.as_deref(), lang)?,
                    min_severity: parsed("severity", severity.as_deref(), lang)?,
                    updated_since: None,
                    limit: *limit,
                };
                let alerts = inst.store.list_alerts(&filter).await?;
                if *as_json {
                    json(&json!({ "alerts": alerts }));
                } else if alerts.is_empty() {
                    say(lang, "アラートはありません。", "No alerts.");
                } else {
                    for a in &alerts {
                        println!("{}", line(a, lang));
                    }
                }
            }
            AlertCmd::Show { id, json: as_json } => {
                let a = inst.store.alert(alert_id(id, lang)?).await?;
                if *as_json {
                    json(&json!({ "alert": a }));
                } else {
                    details(&a, lang);
                }
            }
            AlertCmd::Ack { id, comment, json: as_json } => {
                let a = inst.store.acknowledge_alert(&ctx, alert_id(id, lang)?, comment).await?;
                if *as_json {
                    json(&json!({ "alert": a }));
                } else {
                    say(
                        lang,
                        &format!("アラート {} を確認済みにしました。", a.id),
                        &format!("Acknowledged alert {}.", a.id),
                    );
                }
            }
            AlertCmd::Close { id, comment, json: as_json } => {
                let a = inst.store.close_alert(&ctx, alert_id(id, lang)?, comment).await?;
                if *as_json {
                    json(&json!({ "alert": a }));
                } else {
                    say(
                        lang,
                        &format!("アラート {} を完了にしました。", a.id),
                        &format!("Closed alert {}.", a.id),
                    );
                }
            }
        }
        Ok(())
    }
    .await;
    inst.store.close().await;
    result.map(|()| ExitCode::SUCCESS)
}
