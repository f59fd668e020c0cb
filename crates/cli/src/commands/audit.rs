//! `sekimori audit verify|export|public-key`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use sekimori_audit::{AuditEvent, PublicKey};
use sekimori_types::{Lang, Localized};

use futures::StreamExt;
use sekimori_store::AuditRepo;

use super::{cli_ctx, open};
use crate::args::{AuditCmd, Cli};
use crate::output::{json, say};

pub async fn audit(cli: &Cli, cmd: &AuditCmd, lang: Lang) -> Result<ExitCode> {
    match cmd {
        AuditCmd::Verify { file: Some(path), public_key, json: as_json } => {
            let key = match public_key {
                Some(hex) => PublicKey::from_hex(hex)
                    .ok_or_else(|| anyhow!("--public-key: expected 64 hex digits"))?,
                None => {
                    let text = std::fs::read_to_string(
                        crate::instance::DataDir::new(&cli.data_dir).pub_path(),
                    )
                    .context("no --public-key given and no instance.pub in the data directory")?;
                    PublicKey::from_hex(&text)
                        .ok_or_else(|| anyhow!("instance.pub: expected 64 hex digits"))?
                }
            };
            let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let log = sekimori_audit::read_jsonl(BufReader::new(f))
                .with_context(|| path.display().to_string())?;
            let outcome = log.verify(&key);
            Ok(report(outcome, *as_json, lang))
        }
        AuditCmd::Verify { file: None, json: as_json, .. } => {
            let (inst, _) = open(cli).await?;
            let outcome = inst.store.verify_audit(&inst.store.public_key()).await?;
            let ok = outcome.is_ok();
            let records = outcome.as_ref().map_or(0, |r| r.records);
            inst.store.append(&cli_ctx(), AuditEvent::AuditVerified { records, ok }).await?;
            inst.store.close().await;
            Ok(report(outcome, *as_json, lang))
        }
        AuditCmd::Export { output, .. } => {
            let (inst, _) = open(cli).await?;
            let mut sink: Box<dyn Write> = match output {
                Some(p) => Box::new(BufWriter::new(
                    File::create(p).with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(BufWriter::new(std::io::stdout().lock())),
            };
            let snap = inst.store.audit_snapshot().await?;
            let mut w = sekimori_audit::JsonlWriter::new(&mut sink, &inst.store.public_key())?;
            let mut records = snap.records;
            while let Some(rec) = records.next().await {
                w.record(&rec?)?;
            }
            for cp in &snap.checkpoints {
                w.checkpoint(cp)?;
            }
            if let Some(head) = &snap.head {
                w.head(head)?;
            }
            let n = w.finish()?;
            sink.flush()?;
            drop(sink);
            inst.store
                .append(
                    &cli_ctx(),
                    AuditEvent::AuditExported { format: "jsonl".into(), records: n },
                )
                .await?;
            inst.store.close().await;
            if output.is_some() {
                say(
                    lang,
                    &format!("{n} 件の監査記録を書き出しました。"),
                    &format!("Exported {n} audit records."),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::PublicKey => {
            let dir = crate::instance::DataDir::new(&cli.data_dir);
            let key = dir.load_key()?;
            println!("{}", key.public_key());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn report(
    outcome: Result<sekimori_audit::VerifyReport, sekimori_audit::VerifyFailure>,
    as_json: bool,
    lang: Lang,
) -> ExitCode {
    match outcome {
        Ok(r) => {
            if as_json {
                json(&json!({ "ok": true, "report": r }));
            } else {
                say(
                    lang,
                    &format!(
                        "監査ログは完全です：{} 件の記録、{} 個のチェックポイントを検証しました。",
                        r.records, r.checkpoints_checked
                    ),
                    &format!(
                        "The audit log is intact: {} records and {} checkpoints verified.",
                        r.records, r.checkpoints_checked
                    ),
                );
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            if as_json {
                json(
                    &json!({ "ok": false, "first_bad_seq": f.seq, "failure": f.kind, "message": f.localized(lang) }),
                );
            } else {
                say(
                    lang,
                    &format!("監査ログの検証に失敗しました：{}", f.localized(lang)),
                    &format!("Audit log verification FAILED: {}", f.localized(lang)),
                );
            }
            ExitCode::from(1)
        }
    }
}
