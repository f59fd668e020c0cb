//! `sekimori init` and `sekimori serve`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use tokio::net::TcpListener;

use sekimori_audit::{Actor, AuditEvent};
use sekimori_authn::password::PasswordHasher;
use sekimori_authn::recovery;
use sekimori_gateway::Gateway;
use sekimori_store::{AccessRepo, AuditCtx, AuditRepo, MetaRepo, SessionRepo, Store, UserRepo};
use sekimori_types::{Lang, Localized, SharedClock};
use sekimori_web::api::{self, AppState};
use sekimori_web::server::{self, ServerLimits};
use sekimori_web::tls;

use super::{Instance, open};
use crate::args::{Cli, InitArgs, ServeArgs};
use crate::config::LogFormat;
use crate::output::{json, say};

/// While no admin exists, makes a fresh one-time set-up code (only its hash
/// is stored) and returns it for printing. `None` once set-up is done.
async fn setup_code(inst: &Instance) -> Result<Option<String>> {
    let users = inst.store.list_users().await?;
    if users.iter().any(|u| u.role == sekimori_types::Role::Admin) {
        return Ok(None);
    }
    let (codes, hashes) = recovery::generate(1)?;
    let (Some(code), Some(hash)) = (codes.first(), hashes.first()) else {
        return Ok(None);
    };
    let ctx = AuditCtx { actor: Actor::System, source: None };
    inst.store.set_setup_code(&ctx, hash).await?;
    Ok(Some(code.expose().to_owned()))
}

pub async fn init(cli: &Cli, args: &InitArgs, lang: Lang) -> Result<ExitCode> {
    let (inst, created) = open(cli).await?;
    let code = setup_code(&inst).await?;
    let (cert, _) = inst.dir.read_tls()?;
    let fp = tls::fingerprint(tls::first_cert_der(&cert)?.as_ref());
    if args.json {
        json(&json!({
            "data_dir": inst.dir.root,
            "created": created.dir,
            "fingerprint": fp,
            "public_key": inst.store.public_key().to_hex(),
            "setup_code": code,
        }));
    } else {
        say(
            lang,
            "sekimori のデータディレクトリを準備しました。",
            "The sekimori data directory is ready.",
        );
        println!(
            "  {}: {}",
            lang.pick("データディレクトリ", "data directory"),
            inst.dir.root.display()
        );
        println!("  {}: {fp}", lang.pick("証明書フィンガープリント", "certificate fingerprint"));
        if let Some(code) = code {
            println!(
                "  {}: {code}",
                lang.pick("初期設定コード（1回限り）", "one-time set-up code")
            );
        }
    }
    inst.store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn init_tracing(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEKIMORI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub async fn serve(cli: &Cli, args: &ServeArgs, lang: Lang) -> Result<ExitCode> {
    let (mut inst, _created) = open(cli).await?;
    if let Some(listen) = args.listen {
        inst.config.listen = listen;
    }
    init_tracing(inst.config.log.format, &inst.config.log.level);
    record_config(&inst).await?;

    let (cert, key) = inst.dir.read_tls()?;
    let tls_config =
        tls::server_config(&cert, &key, &tls::ALPN_ALL).context("loading the TLS certificate")?;
    let fp = tls::fingerprint(tls::first_cert_der(&cert)?.as_ref());
    let listener = TcpListener::bind(inst.config.listen)
        .await
        .with_context(|| format!("listening on {}", inst.config.listen))?;
    let bound = listener.local_addr()?;
    inst.config.listen = bound;

    let hasher = Arc::new(PasswordHasher::new(&inst.config.authn.password)?);
    let (gw_cfg, rec_cfg) = inst.config.gateway.split(inst.dir.root.join("recordings"));
    let gateway = Arc::new(
        Gateway::new(inst.store.clone(), inst.clock.clone(), rec_cfg, gw_cfg)
            .context("starting the session recorder")?,
    );
    let interrupted = gateway.close_interrupted().await?;
    if interrupted > 0 {
        tracing::warn!(
            message = "Closed tunnel session records left open by the previous run.",
            count = interrupted
        );
    }
    let rechecks = tokio::spawn(gateway.clone().run_rechecks());
    // Alerts this server raises (attacks on the login) go to the forwarders
    // from one task; what is queued survives a restart.
    let (alert_tx, mut alert_rx) = tokio::sync::mpsc::unbounded_channel::<sekimori_types::Alert>();
    let mut alerting = super::alerting::Alerting::start(
        &inst.config.forward,
        &inst.dir.root.join("forward").join("serve"),
    )
    .await?;
    tokio::spawn(async move {
        while let Some(a) = alert_rx.recv().await {
            alerting.forward(&a).await;
        }
        alerting.shutdown().await;
    });
    let state = AppState {
        store: inst.store.clone(),
        authn: Arc::new(inst.config.authn.clone()),
        hasher,
        clock: inst.clock.clone(),
        totp_issuer: "sekimori".into(),
        gateway: gateway.clone(),
        alerts: Some(alert_tx),
    };
    let app = api::router(state);
    let code = setup_code(&inst).await?;

    let sys = AuditCtx { actor: Actor::System, source: None };
    inst.store
        .append(
            &sys,
            AuditEvent::ServerStarted {
                version: env!("CARGO_PKG_VERSION").into(),
                listen: bound.to_string(),
                backend: inst.store.backend().as_str().to_owned(),
            },
        )
        .await?;

    // The banner goes to stdout for the operator; the set-up code is never logged.
    say(lang, "sekimori を起動しました。", "sekimori is running.");
    println!("  URL: {}", inst.config.url());
    println!("  {}: {bound}", lang.pick("待ち受け", "listening on"));
    println!("  {}: {fp}", lang.pick("証明書フィンガープリント", "certificate fingerprint"));
    println!(
        "  {}: {}",
        lang.pick("データディレクトリ", "data directory"),
        inst.dir.root.display()
    );
    println!("  {}: {}", lang.pick("データベース", "database"), inst.store.backend().as_str());
    if let Some(code) = &code {
        println!("  {}: {code}", lang.pick("初期設定コード（1回限り）", "one-time set-up code"));
        say(
            lang,
            "  このコードで最初の管理者を作成してください（POST /api/v1/setup）。",
            "  Use it once to create the first administrator (POST /api/v1/setup).",
        );
    }
    println!("ready");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(message = "Server started.", listen = %bound, backend = inst.store.backend().as_str());

    let housekeeping = tokio::spawn(housekeeping(inst.store.clone(), inst.clock.clone()));
    tokio::spawn(self_check(inst.store.clone()));

    let reason = Arc::new(std::sync::Mutex::new(String::from("signal")));
    let reason_w = reason.clone();
    let shutdown = async move {
        let which = wait_for_signal().await;
        if let Ok(mut r) = reason_w.lock() {
            *r = which.to_owned();
        }
    };
    server::serve(
        listener,
        tls_config,
        app,
        gateway.clone(),
        ServerLimits::default(),
        shutdown,
        Duration::from_secs(10),
    )
    .await?;

    housekeeping.abort();
    // Close every tunnelled connection and write its record before the
    // stop is audited.
    gateway.shutdown(Duration::from_secs(5)).await;
    rechecks.abort();
    let why = reason.lock().map(|r| r.clone()).unwrap_or_default();
    tracing::info!(message = "Server stopping.", reason = %why);
    inst.store.append(&sys, AuditEvent::ServerStopped { reason: why }).await?;
    inst.store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Audits a change of the effective configuration since the last start:
/// the store keeps a digest of it, and a different digest is appended to
/// the chain as `ConfigChanged` (old and new digests; the file itself holds
/// no secrets, but only digests are recorded all the same).
async fn record_config(inst: &Instance) -> Result<()> {
    let effective = toml::to_string(&inst.config).context("serialising the configuration")?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, effective.as_bytes());
    let digest: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let key = "config.effective.sha256";
    if inst.store.config_get(key).await?.as_deref() != Some(digest.as_str()) {
        let ctx = AuditCtx { actor: Actor::System, source: None };
        inst.store.config_set(&ctx, key, Some(&digest)).await?;
        tracing::info!(message = "Configuration changed since the last start.", sha256 = %digest);
    }
    Ok(())
}

/// Verifies the whole audit chain once after start, in the background, so
/// tampering is reported even when nobody runs `sekimori audit verify`. The
/// outcome is itself audited.
async fn self_check(store: Store) {
    let ctx = AuditCtx { actor: Actor::System, source: None };
    let (records, ok) = match store.verify_audit(&store.public_key()).await {
        Ok(Ok(report)) => {
            tracing::info!(message = "Audit chain verified.", records = report.records);
            (report.records, true)
        }
        Ok(Err(failure)) => {
            tracing::error!(
                message = "AUDIT CHAIN BROKEN: the audit log was changed outside sekimori.",
                first_bad_seq = failure.seq,
                detail = %failure.localized(sekimori_types::Lang::En),
            );
            (failure.seq, false)
        }
        Err(error) => {
            tracing::warn!(message = "Audit self-check could not read the store.", %error);
            return;
        }
    };
    if let Err(error) = store.append(&ctx, AuditEvent::AuditVerified { records, ok }).await {
        tracing::warn!(message = "Could not record the audit self-check.", %error);
    }
}

/// Every ten minutes: forget login challenges that expired and sessions that
/// ended more than a week ago (their start and end stay in the audit log).
/// Every 30 seconds: mark access requests whose window ended as expired (the
/// gateway never depends on this: "active" is computed from the clock).
async fn housekeeping(store: Store, clock: SharedClock) {
    let mut every = tokio::time::interval(Duration::from_secs(30));
    let mut ticks: u64 = 0;
    loop {
        every.tick().await;
        ticks += 1;
        match store.expire_requests(&AuditCtx::system()).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::info!(message = "Access requests expired.", count = ids.len());
            }
            Err(error) => tracing::warn!(message = "Expiring access requests failed.", %error),
            _ => {}
        }
        if ticks % 20 != 1 {
            continue;
        }
        let week_ago = clock.now() - time::Duration::days(7);
        match (store.purge_sessions(week_ago).await, store.purge_challenges().await) {
            (Ok(s), Ok(c)) if s + c > 0 => {
                tracing::info!(
                    message = "Housekeeping.",
                    sessions_purged = s,
                    challenges_purged = c
                );
            }
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(message = "Housekeeping failed.", %error)
            }
            _ => {}
        }
    }
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return "unreachable";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
